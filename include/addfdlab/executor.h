// The executor: runs a scenario on the kernel (pooled targets, supervisor threads) and on
// the model side by side, and applies the oracles after every op.
#ifndef ADDFDLAB_EXECUTOR_H_
#define ADDFDLAB_EXECUTOR_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "addfdlab/environment.h"
#include "addfdlab/limits.h"
#include "addfdlab/model.h"
#include "addfdlab/oracle.h"
#include "addfdlab/probe.h"
#include "addfdlab/result.h"
#include "addfdlab/scenario.h"
#include "addfdlab/target_pool.h"

namespace addfdlab {

struct ExecutorOptions {
  Limits limits = Limits::FromEnvironment();
  // The CPU the supervisor and its targets share in deterministic mode; -1: ChooseCpu's
  // ($ADDFDLAB_CPU, else one chosen by pid: parallel fuzzing jobs spread over the CPUs).
  int cpu = -1;
  // Pin to one CPU with SCHED_FIFO supervisor threads above the targets, when allowed
  // (not with $ADDFDLAB_NO_FIFO).
  bool deterministic = !ReadEnvironment().no_fifo;
  // Probed when absent.
  std::optional<Features> features;
  // Check the supervisor's own fds, threads and children around every run.
  bool hygiene = true;
  // Test-only: predictions whose cell is this one are altered (the oracle must notice).
  std::string mutate_cell;
  // Known deviations the model follows (SetModelQuirk names); unknown names are ignored.
  std::vector<std::string> quirks;
};

struct TraceEntry {
  int op = -1;
  std::string text;       // the op, as the .scn printer writes it
  Prediction prediction;  // what the model allowed
  std::optional<Outcome> observed;
  std::string note;
};

struct RunResult {
  std::vector<TraceEntry> trace;
  std::vector<Verdict> verdicts;
  // True when the run followed the chosen schedule: SCHED_FIFO was available, and no
  // target ran between quiescence points in the run that counted (Executor::Run).
  bool deterministic = false;
  bool clean() const { return verdicts.empty(); }
  // The trace, one op a line, then the verdicts.
  std::string Format(const Scenario& scenario) const;
};

// Which op kinds (by OpKind), states and outcomes a run reached: the executor's view of
// the kernel's state space, for coverage feedback.
struct Observation {
  OpKind kind;
  uint8_t state;          // the notification's state class before the op
  int err;                // 0 on success, -1 for blocked
  uint8_t queued;         // ADDFD requests queued on its notification before the op (at most 3)
  Model::SlotClass slot;  // what the fd number the op names held before it
  std::string cell;
};

class Executor {
 public:
  explicit Executor(ExecutorOptions options = {});
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Runs a valid scenario (ValidateScenario() succeeds). When the executor could not make its
  // sources (memfd_create, pipe2, ...) or argument pages, the result is one harness verdict.
  // In deterministic mode a run in which a target ran between two quiescence points (the
  // kernel put a SCHED_OTHER task ahead of SCHED_FIFO ones: real-time throttling) does not
  // count: it is repeated, after a pause, up to kScheduleAttempts times in all; the last one
  // counts, with deterministic = false.
  RunResult Run(const Scenario& scenario);
  static constexpr int kScheduleAttempts = 4;
  static constexpr std::chrono::microseconds kScheduleBackoff{20000};  // doubled each time
  // Runs repeated so far because a target ran outside a quiescence point.
  uint64_t schedule_reruns() const { return schedule_reruns_; }
  // OK, or what failed while setting the executor up (the call, with its errno).
  const Result<void>& setup() const { return setup_; }

  const Features& features() const { return features_; }
  const ModelEnv& env() const { return env_; }
  // From the next run on, the model follows a known deviation this kernel showed
  // (SetModelQuirk); false when there is no quirk of that name.
  bool FollowQuirk(std::string_view name) { return SetModelQuirk(&env_, name); }
  bool deterministic() const { return deterministic_; }
  // Called once per op with what the run reached (fuzzers turn it into coverage).
  std::function<void(const Observation&)> observe;
  // Test-only: called after each op the run carried out (after its quiescence point, for
  // an op that has one) and before a settle's fd-table oracle, with the op's index and the
  // run's targets in the scenario's order. A test changes a target there behind the model's back
  // (its agent opens or closes an fd) to see that the oracles notice. Not called once a verdict
  // stops the run.
  std::function<void(int op, const std::vector<Target*>& targets)> after_op;
  // Targets forked, reused and replaced so far.
  PoolStats pool_stats() const;
  // This process's fds, threads and children, without what the executor holds on purpose
  // (pooled targets, the spawner, its sources): what must not grow over a campaign.
  Result<ProcessHygiene> HarnessHygiene() const;

 private:
  class RunState;
  friend class RunState;

  TargetPool& PoolFor(const TargetDecl& decl);
  // Inputs declare targets with any filter flags and caller count: each combination has its
  // pool, and at most kMaxIdleTargets idle targets are kept over all of them (the pools
  // used longest ago go first).
  void TrimPools();
  static constexpr size_t kMaxIdleTargets = 8;
  std::vector<int> OwnedFds() const;
  std::vector<pid_t> OwnedChildren() const;

  ExecutorOptions options_;
  Features features_;
  ModelEnv env_;
  bool deterministic_ = false;
  uint64_t schedule_reruns_ = 0;
  int cpu_ = -1;
  std::map<std::pair<uint32_t, int>, std::unique_ptr<TargetPool>> pools_;
  std::map<std::pair<uint32_t, int>, uint64_t> pool_used_;  // when each was last acquired from
  uint64_t pool_clock_ = 0;
  PoolStats retired_;  // counts of the pools trimmed away
  struct Sources;
  std::unique_ptr<Sources> sources_;
  struct Threads;
  std::unique_ptr<Threads> threads_;
  // Two pages: unreadable (PROT_NONE), and zeroed read-only: arguments the kernel cannot
  // read, or cannot write back to.
  void* pages_ = nullptr;
  // The first call that failed while making the sources or pages: every run is then a
  // harness verdict that says so, never a verdict about the kernel.
  Result<void> setup_;
};

// ModelEnv from probed features and this process's limits.
ModelEnv EnvFromFeatures(const Features& features);

}  // namespace addfdlab

#endif  // ADDFDLAB_EXECUTOR_H_
