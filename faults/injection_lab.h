// The injection lab: runs one injection under one fault plan on one CPU, the injecting thread
// SCHED_FIFO above the fault thread above the target, and measures what it leaves behind.
#ifndef ADDFDLAB_FAULTS_INJECTION_LAB_H_
#define ADDFDLAB_FAULTS_INJECTION_LAB_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "addfdlab/notifier.h"
#include "addfdlab/rollback.h"
#include "addfdlab/target_pool.h"
#include "faults/run_spec.h"

namespace addfdlab::faults {

struct RunReport {
  rollback::Journal journal;
  rollback::Residue residue;
  rollback::RunFacts facts;
  std::optional<int64_t> trap_return;  // the trapped syscall's return (or -errno)
  bool fault_fired = false;
  std::string fault_note;     // where the fault actually landed
  std::string broken;         // CheckGuarantee()'s message: "" when the strategy kept its word
  std::string harness_error;  // the run could not be made (not a verdict on the strategy)
  bool target_left_blocked = false;  // the strategy never answered; the harness did
  std::string Format(const RunSpec& spec) const;
};

// Runs injections: a pool of one-caller targets, k files to inject, the fault thread.
class InjectionLab {
 public:
  // Pins to `cpu` (-1: $ADDFDLAB_CPU, else chosen by pid).
  explicit InjectionLab(int cpu = -1);
  ~InjectionLab();
  InjectionLab(const InjectionLab&) = delete;
  InjectionLab& operator=(const InjectionLab&) = delete;

  // OK when the spec can run; else EINVAL with why not (for input validation).
  static Result<void> Validate(const RunSpec& spec);
  RunReport Run(const RunSpec& spec);
  // False when SCHED_FIFO was refused: `during` faults then land where they may.
  bool deterministic() const { return deterministic_; }
  // Harness fds and children, for hygiene checks.
  std::vector<int> OwnedFds() const;

 private:
  struct FaultThread;
  class Hooks;

  // kKillSupervisor: injects from a forked child that holds the only listener, so that the
  // fault can kill it; OK or what failed.
  Result<void> InjectFromChild(const RunSpec& spec, Target& t, FailNthNotifier& seam,
                               rollback::InjectionContext& ctx,
                               const rollback::InjectionRequest& request, RunReport& report);
  // Every other fault: injects on a thread of this process, the fault thread standing by.
  void InjectOnThread(const RunSpec& spec, Target& t, FailNthNotifier& seam,
                      rollback::InjectionContext& ctx, const rollback::InjectionRequest& request,
                      RunReport& report);

  int cpu_ = 0;
  bool deterministic_ = false;
  TargetPool pool_;
  std::vector<UniqueFd> files_;
  std::unique_ptr<FaultThread> fault_thread_;
};

}  // namespace addfdlab::faults

#endif  // ADDFDLAB_FAULTS_INJECTION_LAB_H_
