// The guest's initramfs: an uncompressed newc cpio archive (the kernel unpacks it without a
// decompressor, the fastest under TCG) of busybox, the binaries to run with the shared
// libraries they load, the files they read, and an init.
#ifndef ADDFDLAB_VM_INITRAMFS_H_
#define ADDFDLAB_VM_INITRAMFS_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "addfdlab/result.h"

namespace addfdlab::vm {

// What goes into the archive, by its path in the guest (absolute). Parent folders are
// added as needed.
class InitramfsSpec {
 public:
  // A host file's content at `guest` (a symlink on the host is followed), with its mode.
  void AddFile(const std::filesystem::path& guest, const std::filesystem::path& host);
  // A host file at its own path in the guest.
  void AddHostFile(const std::filesystem::path& host) { AddFile(host, host); }
  // Every regular file under a host folder, at their own paths; false when they would add
  // more than `max_bytes`.
  bool AddHostTree(const std::filesystem::path& host, uint64_t max_bytes) {
    return AddHostTreeAt(host, host, max_bytes);
  }
  // The same, the folder's content under `guest` instead.
  bool AddHostTreeAt(const std::filesystem::path& guest, const std::filesystem::path& host,
                     uint64_t max_bytes);
  // `text` as a file with `mode` (0755 for scripts).
  void AddText(const std::filesystem::path& guest, std::string text, uint32_t mode);
  // An empty folder.
  void AddFolder(const std::filesystem::path& guest);
  // A binary at its own path and every shared library `ldd` names for it, at ldd's paths.
  Result<void> AddBinaryWithLibraries(const std::filesystem::path& host);

  // Writes the archive to `out`; its size in bytes.
  Result<uint64_t> Write(const std::filesystem::path& out) const;

 private:
  struct Entry {
    std::filesystem::path host;  // empty: `text`, or a folder when mode says so
    std::string text;
    uint32_t mode = 0;
  };
  std::map<std::string, Entry> entries_;  // by guest path, so parents sort before children
  uint64_t tree_bytes_ = 0;
};

// The shared libraries `ldd` names for `binary` (the loader too); empty for a static one.
Result<std::vector<std::filesystem::path>> SharedLibraries(const std::filesystem::path& binary);

}  // namespace addfdlab::vm

#endif  // ADDFDLAB_VM_INITRAMFS_H_
