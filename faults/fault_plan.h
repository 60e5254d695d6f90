// Supervisor-side faults for multi-fd injection, and the lab that runs one injection under
// one fault and measures what it leaves behind.
//
// A fault plan names a point and a fault. Points count the injection's ioctls (ADDFD and
// SEND, rollback included) from 0: `before:i` acts just before ioctl i is made, `during:i`
// while the injecting thread sleeps inside ioctl i (an ADDFD waiting for the target; an
// ioctl that does not sleep gets the fault right after it returns). Everything runs on one
// CPU with the injecting thread SCHED_FIFO above the fault thread above the target, so a
// plan always hits the same instant.
#ifndef ADDFDLAB_FAULTS_FAULT_PLAN_H_
#define ADDFDLAB_FAULTS_FAULT_PLAN_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "addfdlab/result.h"
#include "addfdlab/rollback.h"
#include "addfdlab/target_pool.h"

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

struct FaultPlan {
  enum class When { kBefore, kDuring };
  FaultKind kind = FaultKind::kNone;
  When when = When::kBefore;
  int ioctl = 0;
  int err = ENOMEM;  // kFailIoctl, kFailGetfd

  // "none", or KIND@before:I / KIND@during:I, with "=ERRNO" for the seam's faults:
  // "signal-target@before:2", "fail-ioctl@before:0=EINTR".
  std::string Format() const;
  // The inverse of Format(); the error says what is wrong at which column.
  static Result<FaultPlan> Parse(std::string_view text, std::string* error);
};

// One injection to run.
struct RunSpec {
  rollback::Strategy strategy = rollback::Strategy::kNaive;
  int k = 1;                 // 1..kMaxFiles
  std::vector<int> layout;   // numbers the target holds before (each its own /dev/null), < 256
  std::vector<int> numbers;  // kRestoreOnReplace: where to install (may be occupied);
                             // kFixedNumbers: empty to let it choose free numbers
  bool cloexec = false;
  FaultPlan fault;
};

inline constexpr int kMaxFiles = 8;

struct RunReport {
  rollback::Journal journal;
  rollback::Residue residue;
  rollback::RunFacts facts;
  std::optional<int64_t> trap_return;  // the trapped syscall's return (or -errno)
  bool fault_fired = false;
  std::string fault_note;            // where the fault actually landed
  std::string broken;                // GuaranteeBroken(): "" when the strategy kept its word
  std::string harness_error;         // the run could not be made (not a verdict on the strategy)
  bool target_left_blocked = false;  // the strategy never answered; the harness did
  std::string Format(const RunSpec& spec) const;
};

// The rollback fuzzer's input: a RunSpec in a dozen bytes. Decoding never fails on
// length (missing bytes read as 0) but yields nullopt for a spec Validate() refuses.
std::vector<uint8_t> EncodeRunSpec(const RunSpec& spec);
std::optional<RunSpec> DecodeRunSpec(const uint8_t* data, size_t size, bool allow_mutant);

// Runs injections: a pool of one-caller targets, k files to inject, the fault thread.
class InjectionLab {
 public:
  // Pins to `cpu` (-1: $ADDFDLAB_CPU, else chosen by pid).
  explicit InjectionLab(int cpu = -1);
  ~InjectionLab();
  InjectionLab(const InjectionLab&) = delete;
  InjectionLab& operator=(const InjectionLab&) = delete;

  // "" when the spec can run; else why not (for input validation).
  static std::string Validate(const RunSpec& spec);
  RunReport Run(const RunSpec& spec);
  // False when SCHED_FIFO was refused: `during` faults then land where they may.
  bool deterministic() const { return deterministic_; }
  // Harness fds and children, for hygiene checks.
  std::vector<int> OwnedFds() const;

 private:
  struct FaultThread;
  class Hooks;

  int cpu_ = 0;
  bool deterministic_ = false;
  TargetPool pool_;
  std::vector<UniqueFd> files_;
  std::unique_ptr<FaultThread> fault_thread_;
};

}  // namespace addfdlab::faults

#endif  // ADDFDLAB_FAULTS_FAULT_PLAN_H_
