// Kernel fault injection for one ADDFD (Op::inject): fail_function, failslab and the
// handling task's fail-nth, or a lowered fs.nr_open, armed before the ioctl and undone after.
// Only a debug kernel has the first two; only an addfdlab VM guest may change its sysctls.
#ifndef ADDFDLAB_KERNEL_INJECT_H_
#define ADDFDLAB_KERNEL_INJECT_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "addfdlab/probe.h"
#include "addfdlab/result.h"
#include "addfdlab/scenario.h"

namespace addfdlab {

// Sets kInjectLsm, kInjectNomem and kInjectNrOpen, each by trying what it needs (opening the
// files it writes for writing), never by the kernel's version. Where security_file_receive is
// injectable it puts it on fail_function's list, once: registering it is too slow for an op.
void ProbeKernelInjection(Features& features);

// One armed injection; destroying it undoes it (the task's fail-nth back to 0, failslab's
// knob and fs.nr_open as they were; fail_function's list stays as the probe left it).
class KernelInjection {
 public:
  // Arms `kind` for the next fd install of task `tid` (lsm, nomem) or globally (nr_open,
  // refused outside an addfdlab VM guest). kNone arms nothing.
  static Result<KernelInjection> Arm(InjectKind kind, pid_t tid, uint32_t newfd);

  KernelInjection(KernelInjection&& other) noexcept { *this = std::move(other); }
  KernelInjection& operator=(KernelInjection&& other) noexcept;
  KernelInjection(const KernelInjection&) = delete;
  KernelInjection& operator=(const KernelInjection&) = delete;
  ~KernelInjection() { Undo(); }

 private:
  KernelInjection() = default;
  void Undo();

  InjectKind kind_ = InjectKind::kNone;
  pid_t tid_ = -1;
  std::string restore_;  // kNomem: failslab's ignore-gfp-wait; kNrOpen: fs.nr_open
};

}  // namespace addfdlab

#endif  // ADDFDLAB_KERNEL_INJECT_H_
