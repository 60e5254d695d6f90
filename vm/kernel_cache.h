// Debian kernel images for the guest: which package a --kernel argument names, and a cache
// of their bzImages outside the tree (apt-get download, dpkg-deb), bounded in size.
#ifndef ADDFDLAB_VM_KERNEL_CACHE_H_
#define ADDFDLAB_VM_KERNEL_CACHE_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "addfdlab/result.h"

namespace addfdlab::vm {

// The Debian package names a --kernel argument may mean, most likely first: a package name
// as it is; a release with a flavour ("6.1.0-57-cloud-amd64", "6.12.118+deb12-rt-amd64");
// a bare version ("6.1.0-57", "6.12.118") in `flavour` ("cloud-amd64", "amd64",
// "rt-amd64"), with and without bookworm's "+deb12" for 6.12.
std::vector<std::string> KernelPackageCandidates(std::string_view kernel, std::string_view flavour);

// One kernel in the cache: <root>/<package>_<version>/ holding `vmlinuz` and `config`.
struct CachedKernel {
  std::string package;
  std::string version;  // the Debian package version
  std::filesystem::path dir;
  std::filesystem::path image() const { return dir / "vmlinuz"; }
  uint64_t bytes = 0;
  std::filesystem::file_time_type last_used;  // the entry's `used` stamp
};

class KernelCache {
 public:
  // `root` is created when first written; `limit_bytes` bounds the entries' total size.
  KernelCache(std::filesystem::path root, uint64_t limit_bytes)
      : root_(std::move(root)), limit_(limit_bytes) {}

  const std::filesystem::path& root() const { return root_; }

  // Every entry, most recently used first.
  std::vector<CachedKernel> List() const;

  // The cached entry of `package` (any version, the most recently fetched), or nullopt.
  std::optional<CachedKernel> Find(std::string_view package) const;

  // The entry of `package`: the cached one (its stamp touched), else `apt-get download` and
  // `dpkg-deb -x` of its boot files within `timeout`, then entries beyond the size limit are
  // evicted, least recently used first (never this one). `progress` hears each step.
  Result<CachedKernel> Get(std::string_view package, std::chrono::seconds timeout,
                           const std::function<void(std::string_view)>& progress);

  // Removes every entry (and leftovers of interrupted fetches); the number removed.
  Result<size_t> Clean();

 private:
  void Evict(const std::filesystem::path& keep);

  std::filesystem::path root_;
  uint64_t limit_;
};

// Whether apt knows `package`, and its candidate version ("" when it does not).
std::string AptCandidateVersion(std::string_view package);

// `text` quoted for sh: '...' with every ' spelled '\''.
std::string ShellQuote(std::string_view text);

}  // namespace addfdlab::vm

#endif  // ADDFDLAB_VM_KERNEL_CACHE_H_
