// newc cpio ("070701"): a 110-byte ASCII header, the name, the data, each padded to 4 bytes;
// the archive ends with "TRAILER!!!" (the kernel's init/initramfs.c reads exactly this).
#include "initramfs.h"

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <system_error>

#include "subprocess.h"

namespace addfdlab::vm {
namespace fs = std::filesystem;
namespace {

void Pad(std::ofstream& out, uint64_t written) {
  static constexpr char kZeros[4] = {};
  out.write(kZeros, static_cast<std::streamsize>((4 - written % 4) % 4));
}

void Header(std::ofstream& out, uint32_t ino, uint32_t mode, uint64_t size,
            const std::string& name) {
  char header[111];
  std::snprintf(header, sizeof(header),
                "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ino, mode, 0U, 0U, 1U,
                0U, static_cast<uint32_t>(size), 0U, 0U, 0U, 0U,
                static_cast<uint32_t>(name.size() + 1), 0U);
  out.write(header, 110);
  out.write(name.c_str(), static_cast<std::streamsize>(name.size() + 1));
  Pad(out, 110 + name.size() + 1);
}

}  // namespace

void InitramfsSpec::AddFile(const fs::path& guest, const fs::path& host) {
  std::error_code ec;
  const fs::perms perms = fs::status(host, ec).permissions();
  entries_[guest.lexically_normal().string()] =
      Entry{host, "", S_IFREG | (static_cast<uint32_t>(perms) & 07777)};
}

bool InitramfsSpec::AddHostTreeAt(const fs::path& guest, const fs::path& host, uint64_t max_bytes) {
  std::error_code ec;
  const fs::path root = fs::absolute(host, ec).lexically_normal();
  const fs::path guest_root = fs::absolute(guest, ec).lexically_normal();
  if (fs::is_regular_file(root, ec)) {
    tree_bytes_ += fs::file_size(root, ec);
    AddFile(guest_root, root);
    return tree_bytes_ <= max_bytes;
  }
  AddFolder(guest_root);
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    std::error_code entry_ec;
    const fs::path at = guest_root / it->path().lexically_relative(root);
    if (it->is_directory(entry_ec)) {
      AddFolder(at);
    } else if (it->is_regular_file(entry_ec)) {
      tree_bytes_ += it->file_size(entry_ec);
      if (tree_bytes_ > max_bytes) return false;
      AddFile(at, it->path());
    }
  }
  return true;
}

void InitramfsSpec::AddText(const fs::path& guest, std::string text, uint32_t mode) {
  entries_[guest.lexically_normal().string()] = Entry{{}, std::move(text), S_IFREG | mode};
}

void InitramfsSpec::AddFolder(const fs::path& guest) {
  entries_[guest.lexically_normal().string()] = Entry{{}, "", S_IFDIR | 0755};
}

Result<void> InitramfsSpec::AddBinaryWithLibraries(const fs::path& host) {
  Result<std::vector<fs::path>> libraries = SharedLibraries(host);
  if (!libraries) return std::move(libraries).error().WithContext("ldd " + host.string());
  AddHostFile(host);
  for (const fs::path& library : *libraries) AddHostFile(library);
  return {};
}

Result<uint64_t> InitramfsSpec::Write(const fs::path& out_path) const {
  // Every parent folder of every entry, then the entries; std::map keeps parents first.
  std::map<std::string, Entry> all = entries_;
  for (const auto& [guest, entry] : entries_) {
    for (fs::path parent = fs::path(guest).parent_path();
         !parent.empty() && parent != parent.root_path(); parent = parent.parent_path()) {
      all.try_emplace(parent.string(), Entry{{}, "", S_IFDIR | 0755});
    }
  }
  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  if (!out) return Error(Errno(EACCES), "cannot write " + out_path.string());
  uint32_t ino = 1;
  for (const auto& [guest, entry] : all) {
    const std::string name = fs::path(guest).relative_path().string();
    if (name.empty()) continue;
    if ((entry.mode & S_IFMT) == S_IFDIR) {
      Header(out, ino++, entry.mode, 0, name);
      continue;
    }
    std::string data = entry.text;
    if (!entry.host.empty()) {
      std::ifstream in(entry.host, std::ios::binary);
      if (!in) return Error(Errno(ENOENT), "cannot read " + entry.host.string());
      data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    Header(out, ino++, entry.mode, data.size(), name);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    Pad(out, data.size());
  }
  Header(out, 0, 0, 0, "TRAILER!!!");
  out.flush();
  if (!out) return Error(Errno(EIO), "cannot write " + out_path.string());
  return static_cast<uint64_t>(out.tellp());
}

Result<std::vector<fs::path>> SharedLibraries(const fs::path& binary) {
  // ldd prints "libx.so.1 => /lib/.../libx.so.1 (0x...)", "/lib64/ld-linux-x86-64.so.2
  // (0x...)", "linux-vdso.so.1 (0x...)" (no file), or "not a dynamic executable" (stderr).
  const std::string out = tools::Capture({"ldd", binary.string()}, std::chrono::seconds(30));
  std::vector<fs::path> libraries;
  for (size_t at = 0; at < out.size();) {
    const size_t end = std::min(out.find('\n', at), out.size());
    std::string line = out.substr(at, end - at);
    at = end + 1;
    if (line.find("not found") != std::string::npos) {
      return Error(Errno(ENOENT), "a library is missing: " + line);
    }
    const size_t arrow = line.find("=> ");
    std::string path = arrow == std::string::npos ? line : line.substr(arrow + 3);
    const size_t first = path.find_first_not_of(" \t");
    if (first == std::string::npos) continue;
    path = path.substr(first);
    path = path.substr(0, path.find(" ("));
    if (!path.empty() && path.front() == '/') libraries.emplace_back(path);
  }
  return libraries;
}

}  // namespace addfdlab::vm
