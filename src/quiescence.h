// Quiescence points on the kernel side: waiting until every target task sleeps, and the
// schedule check (a target that ran between two quiescence points although no op let it).
#ifndef ADDFDLAB_SRC_QUIESCENCE_H_
#define ADDFDLAB_SRC_QUIESCENCE_H_

#include <cstdint>
#include <string>
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
  // `threads`: every supervisor thread (polled when not deterministic); `idle`: the
  // SCHED_IDLE waker (deterministic mode only, else null). `model` says which tasks are
  // dying and which sleep killable; all must outlive this object.
  Quiescence(const Scenario& scenario, const Model& model, const Limits& limits, bool deterministic,
             std::vector<SupervisorThread*> threads, IdleWaker* idle)
      : scenario_(scenario),
        model_(model),
        limits_(limits),
        deterministic_(deterministic),
        threads_(std::move(threads)),
        idle_(idle) {}

  // The run's targets, in the scenario's order (set once they are acquired).
  void SetTargets(std::vector<Target*> targets) { targets_ = std::move(targets); }
  // Waits until every target task is asleep or gone; false at the deadline (unsettled()
  // then says what was awake). In deterministic mode it also checks that no target ran
  // since the previous quiescence point unless an op in between let them (TargetsMayRun()).
  bool Quiesce();
  // An op that lets the targets run: the next schedule check does not count it.
  void TargetsMayRun() { targets_may_run_ = true; }
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
  std::vector<uint64_t> TargetSwitches() const;

  const Scenario& scenario_;
  const Model& model_;
  const Limits& limits_;
  const bool deterministic_;
  const std::vector<SupervisorThread*> threads_;
  IdleWaker* const idle_;
  std::vector<Target*> targets_;
  std::string unsettled_;
  // Every target task's switch count at the last quiescence point (empty: none yet).
  std::vector<uint64_t> switches_at_quiet_;
  bool targets_may_run_ = false;
  bool schedule_broken_ = false;
};

}  // namespace addfdlab

#endif  // ADDFDLAB_SRC_QUIESCENCE_H_
