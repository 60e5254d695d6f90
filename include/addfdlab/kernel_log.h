// The kernel's log read as it grows (/dev/kmsg): which input of a fuzz campaign in an
// addfdlab guest was running when the kernel printed a report (KASAN, lockdep, WARNING, a
// hung task). The fuzz target checks after every input and keeps the input with the records.
#ifndef ADDFDLAB_KERNEL_LOG_H_
#define ADDFDLAB_KERNEL_LOG_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "addfdlab/unique_fd.h"

namespace addfdlab {

// ADDFDLAB_KERNEL_REPORTS_DIR: where the fuzz target keeps each input after which the kernel
// logged at warning level or above. `addfdlab fuzz` sets it for its jobs in a guest only
// (ADDFDLAB_VM_GUEST): on a host the log is every process's, not the input's.
inline constexpr const char* kKernelReportsDirVariable = "ADDFDLAB_KERNEL_REPORTS_DIR";

// One /dev/kmsg record ("PRI,SEQ,TS,FLAGS;TEXT\n" and " KEY=VALUE" lines): its level (PRI's
// low three bits, 0 emerg .. 7 debug) and text; nullopt for anything else.
struct KernelLogRecord {
  int level = 7;
  std::string text;
};
std::optional<KernelLogRecord> ParseKernelLogRecord(std::string_view record);

// The records logged since the last Take (the first: since Open), at `max_level` or more
// urgent, one text a line.
class KernelLogWatch {
 public:
  // `path` opened non-blocking at its end; nullopt when it cannot be read.
  static std::optional<KernelLogWatch> Open(const std::string& path = "/dev/kmsg",
                                            int max_level = 4);
  std::string Take();

 private:
  KernelLogWatch(UniqueFd fd, int max_level) : fd_(std::move(fd)), max_level_(max_level) {}
  UniqueFd fd_;
  int max_level_;
};

// The fuzz target's use: after an input, the records it caused are kept with the input as
// DIR/<pid>-<n>.txt and DIR/<pid>-<n>.bin (at most `limit` per process). Active only when
// ADDFDLAB_KERNEL_REPORTS_DIR is set and /dev/kmsg reads.
class KernelReportKeeper {
 public:
  KernelReportKeeper(KernelLogWatch watch, std::string dir, size_t limit)
      : watch_(std::move(watch)), dir_(std::move(dir)), limit_(limit) {}
  static std::optional<KernelReportKeeper> FromEnvironment(size_t limit = 20);
  // True when the kernel logged something while `input` ran (and it was kept).
  bool AfterInput(const uint8_t* input, size_t size);

 private:
  KernelLogWatch watch_;
  std::string dir_;
  size_t limit_;
  size_t kept_ = 0;
};

}  // namespace addfdlab

#endif  // ADDFDLAB_KERNEL_LOG_H_
