// The executor: runs a scenario on the kernel (pooled targets, supervisor threads) and on
// the model side by side, and applies the oracles after every op.
#ifndef ADDFDLAB_EXECUTOR_H_
#define ADDFDLAB_EXECUTOR_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "addfdlab/environment.h"
#include "addfdlab/kcov.h"
#include "addfdlab/limits.h"
#include "addfdlab/model.h"
#include "addfdlab/oracle.h"
#include "addfdlab/probe.h"
#include "addfdlab/result.h"
#include "addfdlab/run_profile.h"
#include "addfdlab/scenario.h"
#include "addfdlab/supervisor.h"
#include "addfdlab/target_pool.h"

namespace addfdlab {

struct ExecutorOptions {
  Limits limits = Limits::FromEnvironment();
  // The CPU the supervisor and its targets share (fifo and idle modes); -1: ClaimCpu's
  // ($ADDFDLAB_CPU, else one no other executor holds: parallel fuzzing jobs spread over
  // the CPUs).
  int cpu = -1;
  // The strongest scheduling mode to use where allowed (ChooseScheduling): fifo
  // (SCHED_FIFO supervisor threads), else idle (SCHED_IDLE targets), else free.
  SchedMode sched = ReadEnvironment().sched;
  // Probed when absent.
  std::optional<Features> features;
  // Check the supervisor's own fds, threads and children around every run.
  bool hygiene = true;
  // Test-only: predictions whose cell is this one are altered (the oracle must notice), or
  // for a cell whose rule is a mechanism (ADDFD.ORDER.LIFO, ADDFD.ORDER.CHECKS:
  // SetModelMutant) the model breaks that rule;
  // $ADDFDLAB_MUTATE_CELL for a fuzzing campaign with a planted bug.
  std::string mutate_cell = ReadEnvironment().mutate_cell;
  // Known deviations the model follows (SetModelQuirk names); unknown names are ignored.
  std::vector<std::string> quirks;
  // Collect the kernel PCs each run reaches in the notifier and fd-install functions
  // (kcov.h), where KCOV is there (KcovAvailable): every supervisor thread and every target
  // task traces itself. Absent, nothing else changes.
  bool kcov = false;
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
  // True when the run followed the model's schedule: no target ran between two
  // quiescence points where no op let it, in the attempt that counted (Executor::Run).
  // A run that did not says nothing about the kernel: its verdicts must not count.
  bool deterministic = false;
  // With ExecutorOptions::kcov on a kernel with KCOV: the distinct PCs, in the functions
  // of kKcovFunctions, that the supervisor threads and the target tasks reached from the
  // targets' acquisition to the end of the run, ascending; `kernel_pcs_truncated` when a
  // trace buffer filled up.
  std::vector<uint64_t> kernel_pcs;
  bool kernel_pcs_truncated = false;
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
  // A run in which a target ran between two quiescence points (fifo: the kernel put a
  // SCHED_OTHER task ahead of SCHED_FIFO ones, real-time throttling; idle: the fair
  // scheduler gave a SCHED_IDLE task its share) does not count: in the fifo and idle modes
  // it is repeated, after a pause, up to kScheduleAttempts (kIdleScheduleAttempts) times in
  // all; the last one is returned with deterministic = false (in the free mode at once:
  // nothing would change).
  RunResult Run(const Scenario& scenario);
  static constexpr int kScheduleAttempts = 4;
  static constexpr std::chrono::microseconds kScheduleBackoff{20000};  // doubled each time
  static constexpr int kIdleScheduleAttempts = 8;
  static constexpr std::chrono::microseconds kIdleScheduleBackoff{1000};  // doubled each time
  // Runs repeated so far because a target ran outside a quiescence point.
  uint64_t schedule_reruns() const { return schedule_reruns_; }
  // OK, or what failed while setting the executor up (the call, with its errno).
  const Result<void>& setup() const { return setup_; }

  const Features& features() const { return features_; }
  const ExecutorOptions& options() const { return options_; }
  const ModelEnv& env() const { return env_; }
  // From the next run on, the model follows a known deviation this kernel showed
  // (SetModelQuirk); false when there is no quirk of that name.
  bool FollowQuirk(std::string_view name) { return SetModelQuirk(&env_, name); }
  // How runs are scheduled here, and why (the contract's header, `addfdlab probe`).
  const Scheduling& scheduling() const { return scheduling_; }
  // Called once per op with what the run reached (fuzzers turn it into coverage).
  std::function<void(const Observation&)> observe;
  // Test-only: called after each op the run carried out (after its quiescence point, for
  // an op that has one) and before a settle's fd-table oracle, with the op's index and the
  // run's targets in the scenario's order. A test changes a target there behind the model's back
  // (its agent opens or closes an fd) to see that the oracles notice. Not called once a verdict
  // stops the run.
  std::function<void(int op, const std::vector<Target*>& targets)> after_op;
  // The filter of the kernel PCs runs collect: null when ExecutorOptions::kcov is off or
  // KCOV could not be set up (kcov_status() says why).
  const KcovFilter* kcov_filter() const { return kcov_filter_ ? &*kcov_filter_ : nullptr; }
  // "on", or why runs collect no kernel PCs.
  const std::string& kcov_status() const { return kcov_status_; }
  // Where the runs so far spent their time, phase by phase (docs/fuzzing.md).
  const RunProfile& profile() const { return profile_; }
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
  // Each supervisor thread enables a trace buffer of its own.
  void SetUpKcov();
  // Enables the targets' tasks that have no buffer yet, then empties every buffer.
  void KcovBegin(const std::vector<Target*>& targets);
  // The filtered PCs of every buffer since KcovBegin.
  void KcovEnd(const std::vector<Target*>& targets, RunResult* result) const;

  ExecutorOptions options_;
  Features features_;
  ModelEnv env_;
  Scheduling scheduling_;
  uint64_t schedule_reruns_ = 0;
  RunProfile profile_;
  PhaseClock* clock_ = nullptr;  // the current run's, while Run() runs
  int cpu_ = -1;
  UniqueFd cpu_lock_;  // holds cpu_ against other jobs (ClaimCpu)
  // Pools by filter flags, callers and pid namespace.
  using PoolKey = std::tuple<uint32_t, int, bool>;
  std::map<PoolKey, std::unique_ptr<TargetPool>> pools_;
  std::map<PoolKey, uint64_t> pool_used_;  // when each was last acquired from
  uint64_t pool_clock_ = 0;
  PoolStats retired_;  // counts of the pools trimmed away
  struct Sources;
  std::unique_ptr<Sources> sources_;
  struct Threads;
  std::unique_ptr<Threads> threads_;
  std::optional<KcovFilter> kcov_filter_;
  std::vector<std::unique_ptr<KcovArea>> kcov_threads_;
  std::string kcov_status_ = "off";
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
