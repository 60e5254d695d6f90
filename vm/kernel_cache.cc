// The kernel cache: apt-get download into a scratch folder of the cache, the boot files out
// of the .deb (modules are left behind: the guest loads none), then a rename into place.
#include "kernel_cache.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <system_error>

#include "subprocess.h"

namespace addfdlab::vm {
namespace fs = std::filesystem;
namespace {

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}
bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

uint64_t FolderBytes(const fs::path& dir) {
  uint64_t bytes = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) bytes += it->file_size(size_ec);
  }
  return bytes;
}

std::optional<CachedKernel> ReadEntry(const fs::path& dir) {
  std::ifstream in(dir / "package");
  CachedKernel entry;
  if (!in || !std::getline(in, entry.package) || !std::getline(in, entry.version)) {
    return std::nullopt;
  }
  std::error_code ec;
  if (!fs::exists(dir / "vmlinuz", ec)) return std::nullopt;
  entry.dir = dir;
  entry.bytes = FolderBytes(dir);
  entry.last_used = fs::last_write_time(dir / "used", ec);
  if (ec) entry.last_used = fs::last_write_time(dir / "vmlinuz", ec);
  return entry;
}

void Touch(const fs::path& file) { std::ofstream(file, std::ios::trunc) << "\n"; }

}  // namespace

std::string ShellQuote(std::string_view text) {
  std::string quoted = "'";
  for (const char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

std::vector<std::string> KernelPackageCandidates(std::string_view kernel,
                                                 std::string_view flavour) {
  const std::string k(kernel);
  if (StartsWith(k, "linux-image-")) return {k};
  for (const std::string_view known : {"-cloud-amd64", "-rt-amd64", "-amd64"}) {
    if (EndsWith(k, known)) return {"linux-image-" + k + "-unsigned", "linux-image-" + k};
  }
  const std::string f(flavour);
  std::vector<std::string> names{"linux-image-" + k + "-" + f + "-unsigned"};
  // 6.12 on bookworm is a backport: 6.12.118+deb12-cloud-amd64.
  if (k.find('+') == std::string::npos && std::count(k.begin(), k.end(), '.') == 2 &&
      k.find('-') == std::string::npos) {
    names.push_back("linux-image-" + k + "+deb12-" + f + "-unsigned");
  }
  names.push_back("linux-image-" + k + "-" + f);
  return names;
}

std::string AptCandidateVersion(std::string_view package) {
  const std::string out = tools::Capture(
      {"apt-cache", "show", "--no-all-versions", std::string(package)}, std::chrono::seconds(30));
  for (size_t at = 0; at < out.size();) {
    const size_t end = std::min(out.find('\n', at), out.size());
    const std::string_view line(out.data() + at, end - at);
    if (StartsWith(line, "Version: ")) return std::string(line.substr(9));
    at = end + 1;
  }
  return "";
}

std::vector<CachedKernel> KernelCache::List() const {
  std::vector<CachedKernel> entries;
  std::error_code ec;
  for (auto it = fs::directory_iterator(root_, ec); !ec && it != fs::end(it); it.increment(ec)) {
    if (StartsWith(it->path().filename().string(), "tmp-")) continue;
    if (std::optional<CachedKernel> entry = ReadEntry(it->path())) entries.push_back(*entry);
  }
  std::sort(entries.begin(), entries.end(),
            [](const CachedKernel& a, const CachedKernel& b) { return a.last_used > b.last_used; });
  return entries;
}

std::optional<CachedKernel> KernelCache::Find(std::string_view package) const {
  std::optional<CachedKernel> found;
  for (const CachedKernel& entry : List()) {
    if (entry.package == package && (!found || entry.version > found->version)) found = entry;
  }
  return found;
}

Result<CachedKernel> KernelCache::Get(std::string_view package, std::chrono::seconds timeout,
                                      const std::function<void(std::string_view)>& progress) {
  if (std::optional<CachedKernel> cached = Find(package)) {
    Touch(cached->dir / "used");
    return *cached;
  }
  const std::string version = AptCandidateVersion(package);
  if (version.empty()) {
    return Error::Invalid("apt knows no package " + std::string(package) +
                          " (apt-cache search linux-image | grep cloud-amd64-unsigned lists them)");
  }
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) return Error(Errno(ec.value()), "cannot create the cache folder " + root_.string());
  const fs::path scratch = root_ / ("tmp-" + std::to_string(::getpid()));
  fs::remove_all(scratch, ec);
  fs::create_directories(scratch / "x", ec);
  progress("downloading " + std::string(package) + " " + version);
  // apt-get download writes into the current folder; the boot files are all the guest needs.
  const std::string script = "set -e; cd " + ShellQuote(scratch.string()) +
                             "; apt-get download -q " +
                             ShellQuote(std::string(package) + "=" + version) +
                             " >apt.log 2>&1 || { cat apt.log >&2; exit 1; }; dpkg-deb "
                             "--fsys-tarfile ./*.deb | tar -x -C x "
                             "--wildcards './boot/vmlinuz-*' './boot/config-*'";
  tools::SpawnOptions options;
  options.stdout_to = tools::Output::kStderr;
  std::optional<tools::Subprocess> child = tools::Subprocess::Spawn({"sh", "-c", script}, options);
  if (!child) return Error(Errno(ENOENT), "cannot start sh");
  const tools::ExitStatus status = child->Wait(tools::Subprocess::Clock::now() + timeout);
  if (status.code() != 0) {
    fs::remove_all(scratch, ec);
    return Error(Errno(EIO), "fetching " + std::string(package) + ": " + status.Problem());
  }
  const fs::path entry_dir = root_ / (std::string(package) + "_" + version);
  fs::create_directories(scratch / "entry", ec);
  for (auto it = fs::directory_iterator(scratch / "x" / "boot", ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (StartsWith(name, "vmlinuz-")) fs::rename(it->path(), scratch / "entry" / "vmlinuz");
    if (StartsWith(name, "config-")) fs::rename(it->path(), scratch / "entry" / "config");
  }
  if (!fs::exists(scratch / "entry" / "vmlinuz")) {
    fs::remove_all(scratch, ec);
    return Error(Errno(ENOENT), std::string(package) + " holds no /boot/vmlinuz-*");
  }
  std::ofstream(scratch / "entry" / "package") << package << "\n" << version << "\n";
  Touch(scratch / "entry" / "used");
  fs::remove_all(entry_dir, ec);
  fs::rename(scratch / "entry", entry_dir, ec);
  if (ec) return Error(Errno(ec.value()), "cannot move the kernel into " + entry_dir.string());
  fs::remove_all(scratch, ec);
  Evict(entry_dir);
  std::optional<CachedKernel> entry = ReadEntry(entry_dir);
  if (!entry) return Error(Errno(EIO), "the cache entry " + entry_dir.string() + " is unreadable");
  return *entry;
}

void KernelCache::Evict(const fs::path& keep) {
  std::vector<CachedKernel> entries = List();  // most recently used first
  uint64_t total = 0;
  for (const CachedKernel& entry : entries) total += entry.bytes;
  std::error_code ec;
  while (total > limit_ && !entries.empty()) {
    const CachedKernel oldest = entries.back();
    entries.pop_back();
    if (oldest.dir == keep) continue;
    fs::remove_all(oldest.dir, ec);
    total -= oldest.bytes;
  }
}

Result<size_t> KernelCache::Clean() {
  std::error_code ec;
  size_t removed = 0;
  std::vector<fs::path> dirs;
  for (auto it = fs::directory_iterator(root_, ec); !ec && it != fs::end(it); it.increment(ec)) {
    dirs.push_back(it->path());
  }
  for (const fs::path& dir : dirs) {
    std::error_code rm_ec;
    fs::remove_all(dir, rm_ec);
    if (rm_ec) return Error(Errno(rm_ec.value()), "cannot remove " + dir.string());
    ++removed;
  }
  return removed;
}

}  // namespace addfdlab::vm
