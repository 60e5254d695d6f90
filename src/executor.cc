// The executor. Every op runs the same way on both sides: where the model lets the
// targets run (a quiescence point), the executor sleeps until every target task is
// asleep; everywhere else the targets cannot run: on the supervisor's CPU they are
// SCHED_OTHER under SCHED_FIFO supervisor threads (fifo mode) or SCHED_IDLE under
// SCHED_OTHER ones that never sleep there (idle mode). Targets are not made real-time: a
// dying task waits in the kernel for others on its CPU, and equal FIFO priorities never
// yield.
#include "addfdlab/executor.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>

#include "addfdlab/fd_table.h"
#include "addfdlab/namespaces.h"
#include "addfdlab/notifier.h"
#include "addfdlab/scenario_text.h"
#include "addfdlab/spawner.h"
#include "addfdlab/supervisor.h"
#include "op_dispatch.h"
#include "quiescence.h"
#include "run_oracles.h"
#include "run_targets.h"
#include "run_trace.h"

namespace addfdlab {
namespace {

constexpr uint32_t kClosedSrcfd = 0x7ffffff0;  // above fs.nr_open: never open
constexpr uint32_t kHugeSrcfd = 0x80000000;
constexpr size_t kPage = kArgPageSize;
// SCHED_FIFO priorities below the top one (kFifoTop, or the highest allowed): the named
// threads take the top one minus their index.
constexpr double kIdleDeadlineScale = 10;
constexpr int kMainPriority = 30;
constexpr int kOpThreadPriority = 40;

// The ops that are one notifier ioctl: those that act on the listener (kOpTraits), but for
// its close, which is close(2).
bool IsNotifierIoctl(OpKind kind) {
  return OpTraitsOf(kind).listener && kind != OpKind::kCloseListener;
}

int OpThreadPriority(int top) { return std::min(kOpThreadPriority, top - kMaxThreads); }
int MainPriority(int top) { return std::min(kMainPriority, top - kMaxThreads - 1); }

}  // namespace

ModelEnv EnvFromFeatures(const Features& features) {
  ModelEnv env;
  env.addfd = features.has(Feature::kAddFd);
  env.setfd = features.has(Feature::kSetFd);
  env.send = features.has(Feature::kSend);
  env.wait_killable_recv = features.has(Feature::kWaitKillableRecv);
  env.sync_wake_up = features.has(Feature::kSyncWakeUp);
  env.recv_enoent = features.has(Feature::kRecvEnoent);
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) env.nofile_hard = limit.rlim_max;
  env.harness_fd_base = agent::kHarnessFdBase;
  if (const uint64_t nr_open = ReadNrOpen(); nr_open > 0) env.nr_open = nr_open;
  env.inject_lsm = features.has(Feature::kInjectLsm);
  env.inject_nomem = features.has(Feature::kInjectNomem);
  env.inject_nr_open = features.has(Feature::kInjectNrOpen);
  env.pid_ns = features.has(Feature::kPidNs);
  env.pidfd_thread = features.has(Feature::kPidfdThread);
  return env;
}

// Files the supervisor holds for injection, made once.
struct Executor::Sources {
  UniqueFd memfd, memfd2, pipe_r, pipe_w, sock_a, sock_b, devnull, opath;
  Result<void> made;  // OK, or the first call that failed, with its errno
  Sources() {
    Make("memfd_create", ::memfd_create("addfdlab-source", MFD_CLOEXEC), memfd);
    Make("memfd_create", ::memfd_create("addfdlab-source-2", MFD_CLOEXEC), memfd2);
    Make("open /dev/null", ::open("/dev/null", O_RDWR | O_CLOEXEC), devnull);
    Make("open / O_PATH", ::open("/", O_PATH | O_CLOEXEC), opath);
    int p[2] = {-1, -1};
    const int piped = ::pipe2(p, O_CLOEXEC);
    Make("pipe2", piped == 0 ? p[0] : -1, pipe_r);
    pipe_w.reset(p[1]);
    const int paired = ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p);
    Make("socketpair", paired == 0 ? p[0] : -1, sock_a);
    if (paired == 0) sock_b.reset(p[1]);
  }
  // Keeps `fd` in `out`; a failure (fd < 0, errno set) is remembered, never ignored.
  void Make(const char* call, int fd, UniqueFd& out) {
    if (fd < 0 && made) made = Error(Errno::Last(), call);
    out.reset(fd);
  }
  // The supervisor's fd for a source; the listener is the target's.
  uint32_t Fd(SourceKind kind, int listener) const {
    switch (kind) {
      case SourceKind::kMemfd:
        return static_cast<uint32_t>(memfd.get());
      case SourceKind::kMemfd2:
        return static_cast<uint32_t>(memfd2.get());
      case SourceKind::kPipeRead:
        return static_cast<uint32_t>(pipe_r.get());
      case SourceKind::kPipeWrite:
        return static_cast<uint32_t>(pipe_w.get());
      case SourceKind::kSocket:
        return static_cast<uint32_t>(sock_a.get());
      case SourceKind::kDevNull:
        return static_cast<uint32_t>(devnull.get());
      case SourceKind::kOpath:
        return static_cast<uint32_t>(opath.get());
      case SourceKind::kListener:
        return static_cast<uint32_t>(listener);
      case SourceKind::kClosed:
        return kClosedSrcfd;
      case SourceKind::kHuge:
        return kHugeSrcfd;
    }
    return kClosedSrcfd;
  }
  std::vector<int> Owned() const {
    return {memfd.get(),  memfd2.get(), pipe_r.get(),  pipe_w.get(),
            sock_a.get(), sock_b.get(), devnull.get(), opath.get()};
  }
};

// Supervisor threads: the named ones and one for the main thread's own ops.
struct Executor::Threads {
  std::vector<std::unique_ptr<SupervisorThread>> named;
  std::unique_ptr<SupervisorThread> op;
  std::unique_ptr<IdleWaker> idle;  // fifo mode only
  std::unique_ptr<CpuGuard> guard;  // idle mode only
  std::vector<SupervisorThread*> Named() const {
    std::vector<SupervisorThread*> all;
    for (const auto& thread : named) all.push_back(thread.get());
    return all;
  }
  // Every thread: the named ones, then the op thread.
  std::vector<SupervisorThread*> All() const {
    std::vector<SupervisorThread*> all = Named();
    all.push_back(op.get());
    return all;
  }
};

Executor::Executor(ExecutorOptions options) : options_(std::move(options)) {
  features_ = options_.features ? *options_.features : ProbeFeatures();
  env_ = EnvFromFeatures(features_);
  for (const std::string& quirk : options_.quirks) SetModelQuirk(&env_, quirk);
  if (!options_.mutate_cell.empty()) SetModelMutant(&env_, options_.mutate_cell);
  // Parallel fuzzing jobs each claim a CPU of their own (two on one CPU run at half speed).
  CpuClaim claim = ClaimCpu(options_.cpu);
  cpu_ = claim.cpu;
  cpu_lock_ = std::move(claim.lock);
  scheduling_ = ChooseScheduling(options_.sched, features_, cpu_);
  // Targets take the spawning thread's CPU: this one's.
  if (scheduling_.mode != SchedMode::kFree && !SetScheduling(cpu_, SCHED_OTHER, 0)) {
    scheduling_.why = "cannot pin to CPU " + std::to_string(cpu_) + ": " + ErrnoName(errno);
    scheduling_.mode = SchedMode::kFree;
    scheduling_.cpu = scheduling_.thread_cpu = -1;
  }
  const SchedMode mode = scheduling_.mode;
  const int top = scheduling_.fifo_top;
  // A SCHED_IDLE target gets a CPU that other processes keep busy only once their virtual
  // deadlines pass its own, hundreds of milliseconds out: a wake-up under two busy
  // SCHED_OTHER tasks can take a second. Every deadline is kIdleDeadlineScale times longer.
  if (mode == SchedMode::kIdle) options_.limits.scale *= kIdleDeadlineScale;
  // Orphaned callers (their leader killed by a signal) come back to us to be reaped.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  sources_ = std::make_unique<Sources>();
  threads_ = std::make_unique<Threads>();
  // In the idle mode the threads run beside the targets' CPU, where the main thread stays.
  const int thread_cpu = scheduling_.thread_cpu;
  for (int i = 0; i < kMaxThreads; ++i) {
    threads_->named.push_back(std::make_unique<SupervisorThread>(thread_cpu, mode, top - i));
  }
  threads_->op = std::make_unique<SupervisorThread>(thread_cpu, mode, OpThreadPriority(top));
  // Targets are SCHED_OTHER there, as the waker's SCHED_IDLE is below them; in the idle
  // mode they share its class.
  if (mode == SchedMode::kFifo) threads_->idle = std::make_unique<IdleWaker>(cpu_);
  if (mode == SchedMode::kIdle) threads_->guard = std::make_unique<CpuGuard>(cpu_);
  setup_ = sources_->made;
  if (setup_ && threads_->idle) setup_ = threads_->idle->started();
  if (options_.kcov) SetUpKcov();
  pages_ = ::mmap(nullptr, 2 * kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (pages_ == MAP_FAILED) {
    if (setup_) setup_ = Error(Errno::Last(), "mmap");
    pages_ = nullptr;
  } else if (::mprotect(static_cast<char*>(pages_) + kPage, kPage, PROT_READ) != 0) {
    if (setup_) setup_ = Error(Errno::Last(), "mprotect");
  }
}

Executor::~Executor() {
  pools_.clear();
  threads_.reset();
  if (pages_ != nullptr) ::munmap(pages_, 2 * kPage);
}

void Executor::SetUpKcov() {
  if (!KcovAvailable(&kcov_status_)) return;
  auto filter = KcovFilter::FromKallsyms();
  if (!filter) {
    kcov_status_ = filter.error().ToString();
    return;
  }
  for (SupervisorThread* thread : threads_->All()) {
    // KCOV_ENABLE binds the buffer to the thread that calls it.
    Result<std::unique_ptr<KcovArea>> area = Error(Errno(EINVAL), "kcov thread did not run");
    const Clock::time_point deadline = options_.limits.Deadline(options_.limits.command);
    if (!thread->Start(
            [&area] {
              area = KcovArea::Open();
              if (area) {
                if (Result<void> on = (*area)->EnableHere(); !on) area = on.error();
              }
              return Outcome::Ok(0);
            },
            deadline) ||
        !thread->Result(deadline)) {
      kcov_status_ = "a supervisor thread did not enable kcov in time";
      kcov_threads_.clear();
      return;
    }
    if (!area) {
      kcov_status_ = area.error().ToString();
      kcov_threads_.clear();
      return;
    }
    kcov_threads_.push_back(std::move(*area));
  }
  kcov_filter_ = std::move(*filter);
  kcov_status_ = "on";
}

void Executor::KcovBegin(const std::vector<Target*>& targets) {
  if (!kcov_filter_) return;
  for (Target* target : targets) {
    if (target == nullptr) continue;
    for (int task = 0; task < target->tasks(); ++task) {
      // A task that cannot enable (it died) is simply not traced.
      if (auto area = target->Kcov(task)) (*area)->Reset();
    }
  }
  for (const auto& area : kcov_threads_) area->Reset();
}

void Executor::KcovEnd(const std::vector<Target*>& targets, RunResult* result) const {
  if (!kcov_filter_) return;
  std::set<uint64_t> pcs;
  auto add = [&](const KcovArea& area) {
    bool truncated = false;
    pcs.merge(kcov_filter_->Keep(area.Read(&truncated)));
    result->kernel_pcs_truncated |= truncated;
  };
  for (const auto& area : kcov_threads_) add(*area);
  for (Target* target : targets) {
    if (target == nullptr) continue;
    for (const auto& area : target->kcov_areas()) {
      if (area) add(*area);
    }
  }
  result->kernel_pcs.assign(pcs.begin(), pcs.end());
}

TargetPool& Executor::PoolFor(const TargetDecl& decl) {
  // Without pid namespaces the model skips the target's ops: it runs in ours.
  const bool pid_ns = decl.pid_ns && env_.pid_ns;
  const PoolKey key{decl.filter_flags, decl.callers, pid_ns};
  pool_used_[key] = ++pool_clock_;
  auto& pool = pools_[key];
  if (!pool) {
    TargetConfig config;
    config.filter_flags = decl.filter_flags;
    config.callers = decl.callers;
    config.pid_ns = pid_ns;
    config.fifo_priority = 0;  // SCHED_OTHER: see SetScheduling's SCHED_RESET_ON_FORK
    config.sched_idle = scheduling_.mode == SchedMode::kIdle;
    config.limits = options_.limits;
    pool = std::make_unique<TargetPool>(config);
  }
  return *pool;
}

void Executor::TrimPools() {
  size_t idle = 0;
  for (const auto& [key, pool] : pools_) idle += pool->idle();
  while (idle > kMaxIdleTargets) {
    // The pool used longest ago goes, with its targets; its counts stay in the totals.
    auto oldest = pools_.end();
    for (auto it = pools_.begin(); it != pools_.end(); ++it) {
      if (it->second->idle() > 0 &&
          (oldest == pools_.end() || pool_used_[it->first] < pool_used_[oldest->first])) {
        oldest = it;
      }
    }
    if (oldest == pools_.end()) return;
    idle -= oldest->second->idle();
    retired_.spawned += oldest->second->stats().spawned;
    retired_.reused += oldest->second->stats().reused;
    retired_.replaced += oldest->second->stats().replaced;
    retired_.ahead += oldest->second->stats().ahead;
    pool_used_.erase(oldest->first);
    pools_.erase(oldest);
  }
}

Result<ProcessHygiene> Executor::HarnessHygiene() const {
  auto hygiene = SnapshotHygiene(::getpid());
  if (!hygiene) return hygiene.error();
  for (int fd : OwnedFds()) hygiene->fds.erase(fd);
  for (pid_t pid : OwnedChildren()) hygiene->children.erase(pid);
  return hygiene;
}

PoolStats Executor::pool_stats() const {
  PoolStats total = retired_;
  for (const auto& [key, pool] : pools_) {
    total.spawned += pool->stats().spawned;
    total.reused += pool->stats().reused;
    total.replaced += pool->stats().replaced;
    total.ahead += pool->stats().ahead;
  }
  return total;
}

std::vector<int> Executor::OwnedFds() const {
  std::vector<int> fds = sources_->Owned();
  if (cpu_lock_) fds.push_back(cpu_lock_.get());
  for (const auto& area : kcov_threads_) fds.push_back(area->fd());
  for (const auto& [key, pool] : pools_) {
    for (int fd : pool->OwnedFds()) fds.push_back(fd);
  }
  if (const int spawner = SpawnerFd(); spawner >= 0) fds.push_back(spawner);
  return fds;
}

std::vector<pid_t> Executor::OwnedChildren() const {
  std::vector<pid_t> pids;
  for (const auto& [key, pool] : pools_) {
    for (pid_t pid : pool->IdlePids()) pids.push_back(pid);
  }
  if (const pid_t spawner = SpawnerPid(); spawner > 0) pids.push_back(spawner);
  return pids;
}

// One run: the targets it acquired, its model, and what it has seen.
class Executor::RunState {
 public:
  RunState(Executor& executor, const Scenario& scenario)
      : ex_(executor),
        scenario_(scenario),
        model_(scenario, executor.env_),
        quiet_(scenario, model_, executor.options_.limits, executor.scheduling_.mode,
               executor.threads_->All(), executor.threads_->idle.get(),
               executor.threads_->guard.get()) {}

  RunResult Go();
  // True when a target ran where the schedule forbids it (between two quiescence points,
  // with no op in between that lets targets run): the run does not count.
  bool schedule_broken() const { return quiet_.schedule_broken(); }

 private:
  void Release() {
    // A run off its schedule went wrong: its targets are replaced (ReleaseTargets).
    ReleaseTargets(slots_, model_, result_.verdicts.empty() && !schedule_broken());
    ex_.TrimPools();
  }
  // A quiescence point, and an op that lets the targets run (Quiescence).
  bool Quiesce() {
    PhaseScope phase(ex_.clock_, Phase::kQuiesce);
    return quiet_.Quiesce();
  }
  void TargetsMayRun() { quiet_.TargetsMayRun(); }
  void TakeLocalCopies(const Op& op, const Outcome& observed);
  void CheckTables(int op);
  void AddVerdict(Verdict verdict) { result_.verdicts.push_back(std::move(verdict)); }
  // One op of Go(): quiesce, predict, execute, check, record, step. Stops the run (adds
  // a verdict) where the op breaks the contract or the harness cannot go on.
  void RunOp(int index, std::string text);
  // Test-only (ExecutorOptions::mutate_cell): a prediction of that cell made wrong.
  void MutatePrediction(Prediction& prediction) const;
  void AfterOp(int index);
  void Finish();
  void Hang(int op, const std::string& what) { AddVerdict(quiet_.Hang(op, what)); }
  // The second supervisor processes of the threads whose place is one, each thread
  // delegating its calls to its own; false (a harness verdict) when one cannot start.
  bool StartProcesses();
  // Ends them, after the hygiene oracle's look at what each still holds.
  void StopProcesses();
  OpDispatch::Inputs DispatchInputs() {
    Executor& ex = ex_;
    return {scenario_,
            model_,
            slots_,
            quiet_,
            ex.threads_->Named(),
            processes_,
            *ex.threads_->op,
            [&ex](SourceKind kind, int listener) { return ex.sources_->Fd(kind, listener); },
            static_cast<char*>(ex.pages_),
            ex.options_.limits,
            result_.verdicts};
  }

  Executor& ex_;
  const Scenario& scenario_;
  Model model_;
  Quiescence quiet_;
  std::vector<TargetSlot> slots_;
  RunResult result_;
  std::vector<std::unique_ptr<SupervisorProcess>> processes_;  // by thread (Scenario::places)
  OpDispatch dispatch_{DispatchInputs()};
  std::vector<UniqueFd> local_copies_;
};

// Copies of the files a target op made, in the model's order, for kcmp identity checks.
void Executor::RunState::TakeLocalCopies(const Op& op, const Outcome& observed) {
  if (observed.kind != Outcome::Kind::kOk) return;
  std::vector<int> made;
  if (op.kind == OpKind::kOpen || op.kind == OpKind::kRelease) {
    made.push_back(static_cast<int>(observed.value));
  } else if (op.kind == OpKind::kPipe || op.kind == OpKind::kSocketpair) {
    made = {static_cast<int>(observed.value), dispatch_.pair_second()};
  }
  Target& t = *slots_[static_cast<size_t>(op.target)].target;
  for (int fd : made) {
    auto copy = SystemNotifier().PidfdGetfd(t.task_pidfd(0), RemoteFd{fd});
    local_copies_.push_back(copy ? std::move(*copy) : UniqueFd());
  }
}

// The fd-table oracle: every alive target's table against the model's.
void Executor::RunState::CheckTables(int op) {
  PhaseScope phase(ex_.clock_, Phase::kTables);
  for (size_t ti = 0; ti < slots_.size(); ++ti) {
    if (!model_.TargetAlive(static_cast<int>(ti))) continue;
    const Target& t = *slots_[ti].target;
    std::vector<KnownFile> known;
    for (int kind = 0; kind < kSourceKindCount; ++kind) {
      const auto source = static_cast<SourceKind>(kind);
      if (source == SourceKind::kClosed || source == SourceKind::kHuge) continue;
      const auto fd = static_cast<int>(ex_.sources_->Fd(source, t.listener()));
      if (fd >= 0) known.push_back({std::to_string(kind), fd});
    }
    for (size_t i = 0; i < local_copies_.size(); ++i) {
      if (local_copies_[i]) known.push_back({"L" + std::to_string(i), local_copies_[i].get()});
    }
    CheckTargetTable(model_.FdTable(static_cast<int>(ti)), model_.FdCells(static_cast<int>(ti)),
                     model_.FdEmulates(static_cast<int>(ti)), t, known, op, &result_.verdicts);
  }
}

bool Executor::RunState::StartProcesses() {
  processes_.resize(scenario_.threads.size());
  for (size_t i = 0; i < scenario_.places.size(); ++i) {
    const ThreadPlace place = scenario_.places[i];
    if (place == ThreadPlace::kThread) continue;
    const unsigned long flags =
        place == ThreadPlace::kProcessPidNs ? PidNamespaceAccess().flags : 0;
    if (place == ThreadPlace::kProcessPidNs && flags == 0) continue;  // the model skips its ops
    const Scheduling& sched = ex_.scheduling_;
    auto process = SupervisorProcess::Start(flags, sched.thread_cpu, sched.mode,
                                            sched.fifo_top - static_cast<int>(i),
                                            static_cast<char*>(ex_.pages_));
    if (!process) {
      Verdict v;
      v.kind = Verdict::Kind::kHarness;
      v.detail = "supervisor process " + scenario_.threads[i] + ": " + process.error().ToString();
      AddVerdict(v);
      return false;
    }
    processes_[i] = std::move(*process);
    ex_.threads_->named[i]->Delegate(processes_[i]->pid());
  }
  return true;
}

void Executor::RunState::StopProcesses() {
  for (size_t i = 0; i < processes_.size(); ++i) {
    if (!processes_[i]) continue;
    if (const std::string held = processes_[i]->LeakedFds(); !held.empty()) {
      Verdict v;
      v.kind = Verdict::Kind::kHygiene;
      v.detail = "supervisor process " + scenario_.threads[i] + " still holds fds " + held;
      AddVerdict(v);
    }
    ex_.threads_->named[i]->Delegate(0);
    processes_[i].reset();
  }
}

RunResult Executor::RunState::Go() {
  result_.deterministic = true;  // until Executor::Run finds the schedule broken
  if (const Result<void> valid = ValidateScenario(scenario_); !valid) {
    Verdict v;
    v.kind = Verdict::Kind::kHarness;
    v.detail = "invalid scenario: " + valid.error().message();
    AddVerdict(v);
    return result_;
  }
  bool acquired = false;
  {
    PhaseScope phase(ex_.clock_, Phase::kAcquire);
    acquired = AcquireTargets(
        scenario_, [this](const TargetDecl& decl) -> TargetPool& { return ex_.PoolFor(decl); },
        ex_.options_.limits, &slots_, &result_.verdicts);
  }
  if (!acquired) {
    PhaseScope phase(ex_.clock_, Phase::kRelease);
    Release();
    return result_;
  }
  std::vector<Target*> targets;
  for (TargetSlot& slot : slots_) targets.push_back(slot.target.get());
  ex_.KcovBegin(targets);
  quiet_.SetTargets(targets);
  if (!StartProcesses()) {
    StopProcesses();
    PhaseScope phase(ex_.clock_, Phase::kRelease);
    Release();
    return result_;
  }
  {
    PhaseScope phase(ex_.clock_, Phase::kModel);
    CheckListeners(scenario_, ex_.env_, {targets.begin(), targets.end()}, &result_.verdicts);
  }
  const bool fifo = ex_.scheduling_.mode == SchedMode::kFifo;
  if (fifo) SetScheduling(-1, SCHED_FIFO, MainPriority(ex_.scheduling_.fifo_top));
  for (size_t i = 0; i < scenario_.ops.size() && result_.verdicts.empty(); ++i) {
    RunOp(static_cast<int>(i), PrintOp(scenario_, i));
  }
  // A verdict may come from a target that ran out of turn (an ADDFD handled before the
  // main thread went on): the run stops there, before the next quiescence point.
  quiet_.CheckSchedule();
  if (result_.verdicts.empty()) Finish();
  ex_.KcovEnd(targets, &result_);
  quiet_.EndRun();
  if (fifo) SetScheduling(-1, SCHED_OTHER, 0);
  PhaseScope phase(ex_.clock_, Phase::kRelease);
  DrainTargets(slots_, ex_.threads_->Named(), dispatch_.received(), quiet_, ex_.options_.limits);
  StopProcesses();
  local_copies_.clear();
  Release();
  return result_;
}

void Executor::RunState::RunOp(int index, std::string text) {
  const Op& op = scenario_.ops[static_cast<size_t>(index)];
  if (model_.Quiesces(index) && !Quiesce()) {
    Hang(index, "targets did not go quiet before the op");
    return;
  }
  TraceEntry entry;
  entry.op = index;
  entry.text = std::move(text);
  {
    PhaseScope phase(ex_.clock_, Phase::kModel);
    entry.prediction = model_.Begin(index);
  }
  MutatePrediction(entry.prediction);
  if (entry.prediction.skip) {
    entry.note = "skipped: " + entry.prediction.skip_reason;
    result_.trace.push_back(std::move(entry));
    return;
  }
  ++ex_.profile_.ops;
  if (IsNotifierIoctl(op.kind)) ++ex_.profile_.notifier_ioctls;
  std::optional<Outcome> observed;
  {
    PhaseScope phase(ex_.clock_, Phase::kOps);
    observed = dispatch_.Execute(index, op);
  }
  if (op.inject != InjectKind::kNone) {
    ++ex_.profile_.faults;
    if (observed && observed->kind == Outcome::Kind::kError) ++ex_.profile_.fault_errors;
  }
  if (!result_.verdicts.empty()) {
    result_.trace.push_back(std::move(entry));
    return;
  }
  entry.observed = observed;
  const Outcome seen = observed.value_or(Outcome::Ok(0));
  {
    PhaseScope phase(ex_.clock_, Phase::kModel);
    CheckOpOutcome(op, entry.prediction, observed, index, &result_.verdicts);
    const Observation seen_op = ObserveOp(model_, op, entry.prediction, observed);
    if (ex_.observe) ex_.observe(seen_op);
    model_.Step(index, seen);
    ReportReached(model_, seen_op, ex_.observe);
  }
  {
    PhaseScope phase(ex_.clock_, Phase::kTables);
    TakeLocalCopies(op, seen);
  }
  if (model_.Quiesces(index) && result_.verdicts.empty() && !Quiesce()) {
    Hang(index, "targets did not go quiet after the op");
  }
  if (ex_.after_op && result_.verdicts.empty()) AfterOp(index);
  if (op.kind == OpKind::kSettle && result_.verdicts.empty()) CheckTables(index);
  result_.trace.push_back(std::move(entry));
}

void Executor::RunState::MutatePrediction(Prediction& prediction) const {
  // A mechanism's mutant is planted in the model itself (SetModelMutant).
  if (ex_.options_.mutate_cell.empty() || prediction.cell != ex_.options_.mutate_cell ||
      ex_.env_.mutant != ModelEnv::Mutant::kNone) {
    return;
  }
  for (Outcome& o : prediction.allowed) {
    o = o.kind == Outcome::Kind::kError ? Outcome::Error(o.err == EINVAL ? EBADF : EINVAL)
                                        : Outcome::Error(EPERM);
  }
}

void Executor::RunState::AfterOp(int index) {
  TargetsMayRun();  // the hook may have a target's agent run a command
  std::vector<Target*> targets;
  for (TargetSlot& ts : slots_) targets.push_back(ts.target.get());
  ex_.after_op(index, targets);
}

// The end of a run without a verdict: the last quiescence point and the fd-table oracle.
void Executor::RunState::Finish() {
  if (!Quiesce()) {
    Hang(-1, "targets did not go quiet at the end");
    return;
  }
  {
    PhaseScope phase(ex_.clock_, Phase::kModel);
    model_.Quiesce();
    ReportReached(model_, Observation{OpKind::kSettle, 0, 0, 0, Model::SlotClass::kNone, ""},
                  ex_.observe);
  }
  CheckTables(-1);
}

RunResult Executor::Run(const Scenario& scenario) {
  if (!setup_) {
    // The harness could not make what every run needs: nothing is said about the kernel.
    RunResult result;
    Verdict v;
    v.kind = Verdict::Kind::kHarness;
    v.detail = "executor setup failed: " + setup_.error().ToString();
    result.verdicts.push_back(v);
    return result;
  }
  ++profile_.runs;
  PhaseClock clock(&profile_);
  clock_ = &clock;
  std::optional<ProcessHygiene> before;
  if (options_.hygiene) {
    PhaseScope phase(clock_, Phase::kHygiene);
    auto snapshot = SnapshotHygiene(::getpid());
    if (snapshot) before = *snapshot;
  }
  RunResult result;
  for (int attempt = 0;; ++attempt) {
    ++profile_.attempts;
    RunState state(*this, scenario);
    result = state.Go();
    if (!state.schedule_broken()) break;
    // Free scheduling chooses nothing: a repeat would break the same way.
    if (scheduling_.mode == SchedMode::kFree) {
      result.deterministic = false;
      break;
    }
    ++schedule_reruns_;
    const bool fifo = scheduling_.mode == SchedMode::kFifo;
    if (attempt == (fifo ? kScheduleAttempts : kIdleScheduleAttempts) - 1) {
      // Still not the schedule the model assumed: say so rather than vouch for the run.
      result.deterministic = false;
      break;
    }
    // fifo: the SCHED_OTHER share of this second is being served; step aside (the main
    // thread is SCHED_OTHER between runs) so that the next attempt starts after it. idle:
    // a SCHED_IDLE target runs out of turn when it is owed much CPU time (its lag, grown
    // while other processes kept the CPU from it); each attempt's quiescence points pay
    // some of it, and a short pause lets a burst of other work pass.
    PhaseScope phase(clock_, Phase::kBackoff);
    ::usleep(static_cast<useconds_t>((fifo ? kScheduleBackoff : kIdleScheduleBackoff).count()
                                     << attempt));
  }
  if (before) {
    PhaseScope phase(clock_, Phase::kHygiene);
    auto after = SnapshotHygiene(::getpid());
    if (after) {
      // Fds and children of pooled targets come and go with the pool.
      ProcessHygiene b = *before;
      ProcessHygiene a = *after;
      for (int fd : OwnedFds()) {
        b.fds.erase(fd);
        a.fds.erase(fd);
      }
      for (pid_t pid : OwnedChildren()) {
        b.children.erase(pid);
        a.children.erase(pid);
      }
      // Children that were pooled before and were replaced are gone, not leaked.
      std::set<int> gone;
      for (int fd : b.fds) {
        if (a.fds.count(fd) == 0) gone.insert(fd);
      }
      for (int fd : gone) b.fds.erase(fd);
      if (const std::string change = DescribeHygieneChange(b, a); !change.empty()) {
        Verdict v;
        v.kind = Verdict::Kind::kHygiene;
        v.detail = change;
        result.verdicts.push_back(v);
      }
    }
  }
  clock.Stop();
  clock_ = nullptr;
  return result;
}

std::string RunResult::Format(const Scenario& scenario) const {
  std::ostringstream out;
  for (const TraceEntry& entry : trace) {
    out << (entry.op + 1) << "\t" << entry.text;
    if (entry.observed) out << "\t-> " << DescribeOutcome(*entry.observed);
    if (!entry.prediction.allowed.empty()) {
      out << "\t(model:";
      for (const Outcome& o : entry.prediction.allowed) out << " " << DescribeOutcome(o);
      if (!entry.prediction.cell.empty()) out << " " << entry.prediction.cell;
      out << ")";
    }
    if (!entry.note.empty()) out << "\t" << entry.note;
    out << "\n";
  }
  if (verdicts.empty()) {
    out << "verdict: clean\n";
  } else {
    for (const Verdict& v : verdicts) out << "verdict: " << v.Describe(scenario) << "\n";
  }
  return out.str();
}

}  // namespace addfdlab
