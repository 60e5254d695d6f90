// Quiescence points on the kernel side: waiting until every target task sleeps, and the
// schedule check (a target that ran between two quiescence points although no op let it).
#ifndef ADDFDLAB_SRC_QUIESCENCE_H_
#define ADDFDLAB_SRC_QUIESCENCE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "addfdlab/limits.h"
#include "addfdlab/model.h"
#include "addfdlab/oracle.h"
#include "addfdlab/scenario.h"
#include "addfdlab/supervisor.h"
#include "addfdlab/target.h"

namespace addfdlab {

class Quiescence {
 public:
  // `threads`: every supervisor thread (polled unless `mode` is kFifo); `idle`: the
  // SCHED_IDLE waker (fifo mode only, else null); `guard`: the targets' CPU's guard, armed
  // from each quiescence point until targets may run again (idle mode only, else null).
  // `model` says which tasks are dying and which sleep killable; all must outlive this
  // object.
  Quiescence(const Scenario& scenario, const Model& model, const Limits& limits, SchedMode mode,
             std::vector<SupervisorThread*> threads, IdleWaker* idle, CpuGuard* guard)
      : scenario_(scenario),
        model_(model),
        limits_(limits),
        mode_(mode),
        threads_(std::move(threads)),
        idle_(idle),
        guard_(guard) {}

  // The run's targets, in the scenario's order (set once they are acquired).
  void SetTargets(std::vector<Target*> targets) { targets_ = std::move(targets); }
  // Waits until every target task is asleep or gone; false at the deadline (unsettled()
  // then says what was awake; in the idle mode the deadline counts the targets' CPU time,
  // not the time they wait for a busy CPU). It also checks that no target ran since the
  // previous quiescence point unless an op in between let them (TargetsMayRun()).
  bool Quiesce();
  // An op that lets the targets run: whether they ran before it is checked now, and the
  // next schedule check does not count what they do from here on.
  void TargetsMayRun() {
    CheckSchedule();
    targets_may_run_ = true;
    if (guard_ != nullptr) guard_->Disarm();
  }
  // The run is over (its last quiescence point, or a verdict): no more checks.
  void EndRun() {
    checking_ = false;
    if (guard_ != nullptr) guard_->Disarm();
  }
  // Notes a broken schedule when a target ran since the last quiescence point although
  // no op let it (also at the end of a run that stopped at a verdict).
  void CheckSchedule();
  // True when a target ran where the schedule forbids it: the run does not count.
  bool schedule_broken() const { return schedule_broken_; }
  // Task states when quiescence last timed out ("" when it has not).
  const std::string& unsettled() const { return unsettled_; }
  // A hang verdict at op `op` (-1: the end) saying `what`, with the task states when
  // quiescence last timed out.
  Verdict Hang(int op, const std::string& what) const;

 private:
  bool WaitQuiet();
  bool Settled();
  // True when every busy supervisor thread sleeps in its ioctl.
  bool ThreadsAsleep() const;
  // Every target task's (run time, switches), in order.
  std::vector<std::pair<uint64_t, uint64_t>> TargetRuns() const;
  // The target tasks' time on a CPU since `before` (a TargetRuns()), in all.
  uint64_t TargetsRanSince(const std::vector<std::pair<uint64_t, uint64_t>>& before) const;

  const Scenario& scenario_;
  const Model& model_;
  const Limits& limits_;
  const SchedMode mode_;
  const std::vector<SupervisorThread*> threads_;
  IdleWaker* const idle_;
  CpuGuard* const guard_;
  std::vector<Target*> targets_;
  std::string unsettled_;
  // Every target task's TargetRuns() at the last quiescence point (empty: none yet).
  std::vector<std::pair<uint64_t, uint64_t>> runs_at_quiet_;
  bool targets_may_run_ = false;
  bool checking_ = true;
  bool schedule_broken_ = false;
};

}  // namespace addfdlab

#endif  // ADDFDLAB_SRC_QUIESCENCE_H_
