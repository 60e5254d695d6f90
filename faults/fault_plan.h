// Supervisor-side faults for multi-fd injection: a fault plan names a point and a fault.
//
// Points count the injection's ioctls (ADDFD and SEND, rollback included) from 0:
// `before:i` acts just before ioctl i is made, `during:i` while the injecting thread sleeps
// inside ioctl i (an ADDFD waiting for the target; an ioctl that does not sleep gets the fault
// right after it returns). The injection lab (injection_lab.h) makes a plan hit the same
// instant every time.
#ifndef ADDFDLAB_FAULTS_FAULT_PLAN_H_
#define ADDFDLAB_FAULTS_FAULT_PLAN_H_

#include <cerrno>
#include <string>
#include <string_view>

#include "addfdlab/result.h"

namespace addfdlab::faults {

enum class FaultKind {
  kNone,
  kInterrupt,       // the injecting thread: a handler (no SA_RESTART) that asks it to stop
  kSignal,          // the injecting thread: an unrelated handler without SA_RESTART
  kSignalRestart,   // the injecting thread: an unrelated handler with SA_RESTART
  kKillSupervisor,  // SIGKILL to the supervisor (the injection runs in a forked child)
  kSignalTarget,    // the trapped task: a handler without SA_RESTART
  kKillTarget,      // SIGKILL to every task of the target
  kFailIoctl,       // the seam fails the ioctl with `err` (without making it)
  kFailGetfd,       // the seam fails the next pidfd_getfd with `err`
  kSqueezeRlimit,   // the trapped task's RLIMIT_NOFILE soft limit drops to 0
};

inline constexpr FaultKind kFaultKinds[] = {
    FaultKind::kInterrupt,      FaultKind::kSignal,       FaultKind::kSignalRestart,
    FaultKind::kKillSupervisor, FaultKind::kSignalTarget, FaultKind::kKillTarget,
    FaultKind::kFailIoctl,      FaultKind::kFailGetfd,    FaultKind::kSqueezeRlimit};

std::string_view FaultKindName(FaultKind kind);

// True for the faults the notifier seam makes (kFailIoctl, kFailGetfd): they take an errno.
bool SeamFault(FaultKind kind);

struct FaultPlan {
  enum class When { kBefore, kDuring };
  FaultKind kind = FaultKind::kNone;
  When when = When::kBefore;
  int ioctl = 0;
  int err = ENOMEM;  // kFailIoctl, kFailGetfd

  // "none", or KIND@before:I / KIND@during:I, with "=ERRNO" for the seam's faults:
  // "signal-target@before:2", "fail-ioctl@before:0=EINTR".
  std::string Format() const;
  // The inverse of Format(); a failure's message says what is wrong at which column
  // ("col 8: expected before: or during:").
  static Result<FaultPlan> Parse(std::string_view text);
};

}  // namespace addfdlab::faults

#endif  // ADDFDLAB_FAULTS_FAULT_PLAN_H_
