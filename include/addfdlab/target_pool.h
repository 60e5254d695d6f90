// A pool of targets with one filter configuration: targets are reset and reused between
// runs; one that died or cannot be reset is replaced.
#ifndef ADDFDLAB_TARGET_POOL_H_
#define ADDFDLAB_TARGET_POOL_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "addfdlab/fd_table.h"
#include "addfdlab/result.h"
#include "addfdlab/target.h"

namespace addfdlab {

struct PoolStats {
  uint64_t spawned = 0;   // targets forked
  uint64_t reused = 0;    // acquisitions served by a reset target
  uint64_t replaced = 0;  // targets discarded because they died or did not reset
  uint64_t ahead = 0;     // of the spawned, those launched ahead of their Acquire
};

class TargetPool {
 public:
  explicit TargetPool(const TargetConfig& config) : config_(config) {}

  // A target at its baseline: a reused one when available, else the one spawned ahead,
  // else a fresh one.
  Result<std::unique_ptr<Target>> Acquire();
  // Returns a target after a run. It is reset and checked against the baseline; one that
  // died, is tainted or does not come back to the baseline is killed instead, and its
  // replacement is launched at once (spawn-ahead: it starts up while the supervisor goes on,
  // and the next Acquire only waits for its hello).
  void Release(std::unique_ptr<Target> target);

  const TargetConfig& config() const { return config_; }
  // The supervisor-side fds and the leaders' pids of the idle targets and the one
  // spawned ahead.
  std::vector<int> OwnedFds() const;
  std::vector<pid_t> IdlePids() const;
  const PoolStats& stats() const { return stats_; }
  size_t idle() const { return idle_.size(); }

 private:
  TargetConfig config_;
  std::vector<std::unique_ptr<Target>> idle_;
  // Launched, their hellos not awaited yet: as many as a run takes of one pool (two
  // targets of one configuration) at most.
  static constexpr size_t kMaxAhead = 2;
  std::vector<std::unique_ptr<Target>> ahead_;
  PoolStats stats_;
};

// Resets a target to its baseline: closes what inputs opened, restores RLIMIT_NOFILE and
// signal handlers on every task, clears the listener's flags; then checks the table.
Result<void> ResetTarget(Target& target);
// True when the target's table holds exactly the harness's control sockets.
Result<bool> AtBaseline(const Target& target);

}  // namespace addfdlab

#endif  // ADDFDLAB_TARGET_POOL_H_
