// Kernel coverage of the notifier and fd-install paths through KCOV (the debug kernel,
// docs/coverage.md): per-task trace buffers, the kernel functions that matter and the
// filter that keeps only their PCs.
#ifndef ADDFDLAB_KCOV_H_
#define ADDFDLAB_KCOV_H_

#include <cstddef>
#include <cstdint>
#include <istream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "addfdlab/result.h"
#include "addfdlab/unique_fd.h"

namespace addfdlab {

inline constexpr const char* kKcovPath = "/sys/kernel/debug/kcov";
// Words of one trace buffer (the first holds the count): a run's target task makes many
// syscalls of its own (the agent's control socket), all traced before the filter.
inline constexpr size_t kKcovWords = size_t{1} << 18;

// A kernel function whose PCs count, and its source file.
struct KcovFunction {
  std::string_view file;
  std::string_view name;
};
// The one list of them: kernel/seccomp.c's notifier and ADDFD functions, fs/file.c's
// fd-allocation and install functions.
extern const KcovFunction kKcovFunctions[];
extern const size_t kKcovFunctionCount;
// The entry of kKcovFunctions named `name` (a kallsyms suffix such as ".isra.0" left out),
// or null.
const KcovFunction* FindKcovFunction(std::string_view name);

// One trace buffer: a kcov fd with KCOV_INIT_TRACE done, mapped here. Enabled by exactly
// one task (KCOV_ENABLE binds the buffer to its caller); any process holding the fd maps
// the same pages, so the supervisor reads what a target task traced.
class KcovArea {
 public:
  // Opens kKcovPath, KCOV_INIT_TRACE(words), maps it. Does not enable.
  static Result<std::unique_ptr<KcovArea>> Open(size_t words = kKcovWords);
  // Maps `fd`, on which another task did KCOV_INIT_TRACE(words) (pidfd_getfd's copy).
  static Result<std::unique_ptr<KcovArea>> Map(UniqueFd fd, size_t words);
  ~KcovArea();
  KcovArea(const KcovArea&) = delete;
  KcovArea& operator=(const KcovArea&) = delete;

  // KCOV_ENABLE(KCOV_TRACE_PC) for the calling thread.
  Result<void> EnableHere();
  // Forgets what was traced so far.
  void Reset();
  // The PCs traced since Reset(), in order (repeats included); `truncated` is set when the
  // buffer filled up.
  std::vector<uint64_t> Read(bool* truncated = nullptr) const;
  int fd() const { return fd_.get(); }

 private:
  KcovArea(UniqueFd fd, uint64_t* area, size_t words)
      : fd_(std::move(fd)), area_(area), words_(words) {}
  UniqueFd fd_;
  uint64_t* area_;
  size_t words_;
};

// True when kKcovPath opens (the kernel has KCOV and debugfs is mounted): the probe by
// behaviour; the evidence in words goes to `evidence` when given.
bool KcovAvailable(std::string* evidence = nullptr);

// A kernel function's text: [start, end) at run time.
struct KernelRange {
  std::string name;  // as kallsyms names it ("alloc_fd", "expand_files.isra.0")
  uint64_t start = 0;
  uint64_t end = 0;
};

// The ranges of the kKcovFunctions found in a /proc/kallsyms text ("ADDR TYPE NAME
// [module]" lines; text symbols only): each ends where the next text symbol starts.
// Lines that do not parse are skipped; all-zero addresses (kptr_restrict) give nothing.
std::vector<KernelRange> ParseKallsyms(std::istream& in);

// A PC as function and offset: stable across boots (KASLR) and mapped to lines on the
// host with the vmlinux's symbols.
struct KernelPc {
  std::string function;
  uint64_t offset = 0;
  friend auto operator<=>(const KernelPc&, const KernelPc&) = default;
  // "seccomp_notify_addfd+0x1a4".
  std::string ToString() const;
  // The inverse of ToString(); nullopt for anything else.
  static std::optional<KernelPc> Parse(std::string_view text);
};

// Keeps the PCs inside the ranges. Interrupts never reach a task's trace (KCOV records
// only the task's own context), and whatever else the task ran (its agent's socket, /proc
// reads, the scheduler) lies outside them.
class KcovFilter {
 public:
  explicit KcovFilter(std::vector<KernelRange> ranges);
  // Reads /proc/kallsyms; an error when it does not open or lists none of the functions.
  static Result<KcovFilter> FromKallsyms(const std::string& path = "/proc/kallsyms");
  // The distinct PCs of `pcs` inside a range.
  std::set<uint64_t> Keep(const std::vector<uint64_t>& pcs) const;
  // `pc` as function+offset; nullopt outside every range.
  std::optional<KernelPc> Describe(uint64_t pc) const;
  const std::vector<KernelRange>& ranges() const { return ranges_; }

 private:
  std::vector<KernelRange> ranges_;  // sorted by start
  const KernelRange* Find(uint64_t pc) const;
};

}  // namespace addfdlab

#endif  // ADDFDLAB_KCOV_H_
