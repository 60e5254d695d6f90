// The run's targets: one slot per target the scenario declares (its listener's notification
// ids, its trapped syscalls' returns), acquired, drained and released.
#ifndef ADDFDLAB_SRC_RUN_TARGETS_H_
#define ADDFDLAB_SRC_RUN_TARGETS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "addfdlab/limits.h"
#include "addfdlab/model.h"
#include "addfdlab/oracle.h"
#include "addfdlab/scenario.h"
#include "addfdlab/supervisor.h"
#include "addfdlab/target.h"
#include "addfdlab/target_pool.h"
#include "quiescence.h"

namespace addfdlab {

// A target of the run and what the executor knows of it.
struct TargetSlot {
  std::unique_ptr<Target> target;
  TargetPool* pool = nullptr;
  uint64_t base_id = 0;             // the kernel id of the listener's notification number 0
  std::map<int, Outcome> returned;  // trapped syscalls whose return was read early
};

// Acquires a target for each of the scenario's declarations from `pool_for` and calibrates
// its notification ids (carried from the target's previous run, else one throwaway
// notification), appending to `slots`. False, with a harness verdict in `verdicts`, when a
// target cannot start or be calibrated (the slots acquired so far stay, to be released).
bool AcquireTargets(const Scenario& scenario,
                    const std::function<TargetPool&(const TargetDecl&)>& pool_for,
                    const Limits& limits, std::vector<TargetSlot>* slots,
                    std::vector<Verdict>* verdicts);

// Brings every target back to rest: interrupts the `named` threads still busy, answers
// every notification still pending (those `received` by target and kernel id, then any
// unreceived), lets blocked tasks return (quiescence points through `quiet`).
void DrainTargets(std::vector<TargetSlot>& slots, const std::vector<SupervisorThread*>& named,
                  const std::set<std::pair<int, uint64_t>>& received, Quiescence& quiet,
                  const Limits& limits);

// Returns every target to its pool and empties `slots`. A target of a `clean` run that the
// model says is alive carries its next notification id (the model's count) to its next
// run. One of a run that was not clean, or whose listener keeps a stale RECV count
// (Model::StaleRequests), is tainted: the pool replaces it.
void ReleaseTargets(std::vector<TargetSlot>& slots, const Model& model, bool clean);

}  // namespace addfdlab

#endif  // ADDFDLAB_SRC_RUN_TARGETS_H_
