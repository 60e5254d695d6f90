// The scale/ suites: ADDFD|SEND against the target's table size, SETFD onto growing
// numbers, requests queued on one notification, targets served round-robin.
#include <linux/futex.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "addfdlab/notifier.h"
#include "addfdlab/supervisor.h"
#include "bench_common.h"
#include "bench_suites.h"

namespace addfdlab::bench {
namespace {

const int64_t kTableSizes[] = {10, 100, 1000, 10000, 19000};
const int64_t kSetFdNumbers[] = {3, 64, 1024, 8192, 19000};
const int64_t kQueueDepths[] = {1, 2, 4, 8, 16};
const int64_t kTargetCounts[] = {1, 2, 4, 8, 16};

// The hard RLIMIT_NOFILE, which targets inherit (through the spawner) and may raise their
// soft limit to. Nothing machine-wide (fs.nr_open) is changed.
int64_t HardNofile() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  return limit.rlim_max == RLIM_INFINITY ? INT_MAX : static_cast<int64_t>(limit.rlim_max);
}

// Every task's soft RLIMIT_NOFILE to the hard limit (the trapping task's limit is the one
// ADDFD checks).
bool RaiseNofile(benchmark::State& state, Target& target) {
  return CheckOk(state, target.Broadcast(MakeRequest(agent::Command::kSetNofile, {HardNofile()})),
                 "raise RLIMIT_NOFILE");
}

// One trap answered with `req` (ADDFD with SEND) outside the clock, the installed fd
// checked with kcmp and closed. Returns how long the ioctl took, in microseconds (it
// returns once the target has installed the fd), or a negative value on failure.
double VerifyAddFdRound(benchmark::State& state, Target& target, seccomp_notif_addfd req,
                        int expected_fd = -1) {
  const Limits& limits = BenchLimits();
  if (!CheckOk(state, target.Start(0, MakeRequest(agent::Command::kTrapLoop, {1, 0, 0})),
               "start trap")) {
    return -1;
  }
  auto notif = RecvNotification(target.listener(), limits.Deadline(limits.op));
  if (!CheckOk(state, notif, "verification RECV")) return -1;
  req.id = notif->id;
  const auto start = Clock::now();
  auto remote = NotifAddFd(target.listener(), req);
  const auto took = Clock::now() - start;
  if (!CheckOk(state, remote, "verification ADDFD")) return -1;
  auto reply = target.Finish(0, limits.Deadline(limits.op));
  if (!CheckOk(state, reply, "verification trap") ||
      !Check(state, reply->ret == 1 && reply->values[1] == 0 && reply->values[0] == remote->number,
             "verification: the trapped syscall did not return the installed fd") ||
      !Check(state, expected_fd < 0 || remote->number == expected_fd,
             "verification: SETFD installed at " + std::to_string(remote->number)) ||
      !Check(state, IsFile(target.pid(), *remote, static_cast<int>(req.srcfd)),
             "kcmp: the installed fd is not the injected file") ||
      !CheckOk(state, CallOk(target, MakeRequest(agent::Command::kClose, {remote->number})),
               "close the verified fd")) {
    return -1;
  }
  return std::chrono::duration<double, std::micro>(took).count();
}

// The timed loop shared by fdtable and setfd_number: the agent traps max_iterations times
// and closes each returned fd; an iteration is one trap round trip and one ADDFD.
void AddFdLoop(benchmark::State& state, Target& target, seccomp_notif_addfd req) {
  const Limits& limits = BenchLimits();
  const auto count = static_cast<int64_t>(state.max_iterations);
  if (!CheckOk(state, target.Start(0, MakeRequest(agent::Command::kTrapLoop, {count, 1, 0})),
               "start the trap loop")) {
    return;
  }
  const int listener = target.listener();
  {
    Watchdog::Scope watchdog;
    seccomp_notif notif;
    for (auto _ : state) {
      if (!LoopRecv(state, listener, notif)) break;
      req.id = notif.id;
      auto remote = NotifAddFd(listener, req);
      if (!remote) {
        LoopFailed(state, "ADDFD", remote.error());
        break;
      }
      Watchdog::Tick();
    }
  }
  if (state.error_occurred()) return;
  auto reply = target.Finish(0, limits.Deadline(limits.op));
  Check(state, reply.has_value() && reply->ret == count && reply->values[1] == 0,
        "the trap loop did not complete");
}

seccomp_notif_addfd AddFdRequest(uint32_t flags, int srcfd, int newfd = 0) {
  seccomp_notif_addfd req{};
  req.flags = flags;
  req.srcfd = static_cast<uint32_t>(srcfd);
  req.newfd = static_cast<uint32_t>(newfd);
  return req;
}

// scale/fdtable/<N>: ADDFD|SEND into a target holding N open fds (0..N-1, dups of one
// /dev/null, plus its harness fds). The fd lands at the lowest free number, just above
// them, and the target closes it again: each iteration allocates the same number from a
// table N wide. (The kernel starts the search at files->next_fd, which close() lowers to
// the freed number, so N mostly costs cache footprint, not a longer bitmap scan.)
void BM_ScaleFdTable(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto pooled = PooledTarget::Acquire(Placement::kSameCpu);
  if (!CheckOk(state, pooled, "acquire a target")) return;
  pooled->Discard();  // its table grew: fd tables never shrink
  Target& target = **pooled;
  UniqueFd memfd = SourceMemfd();
  if (!RaiseNofile(state, target)) return;
  auto opened = CallOk(target, MakeRequest(agent::Command::kOpenDevNull, {0}));
  if (!CheckOk(state, opened, "open /dev/null")) return;
  auto filled = CallOk(target, MakeRequest(agent::Command::kDupMany, {opened->ret, n - 1, 0}));
  if (!CheckOk(state, filled, "fill the table")) return;
  const auto baseline = CountFds(target.pid());
  if (!CheckOk(state, baseline, "count fds") ||
      !Check(state, *baseline == static_cast<size_t>(n + target.tasks()),
             "the table holds " + std::to_string(*baseline) + " fds")) {
    return;
  }
  const auto req = AddFdRequest(uapi::kAddFdSend, memfd.get());
  if (VerifyAddFdRound(state, target, req) < 0) return;
  AddFdLoop(state, target, req);
  if (state.error_occurred()) return;
  const auto after = CountFds(target.pid());
  if (!Check(state, after.has_value() && *after == *baseline,
             "the target's table did not come back to its N fds")) {
    return;
  }
  MarkVerified(state);
}

// scale/setfd_number/<n>: SETFD|SEND onto number n, which the target closes again after
// each trap. A table never shrinks, so the timed loop measures the steady state: a table
// already grown to hold n. The growth itself (expand_files: a new fd array and bitmaps,
// the old ones copied) happens once per target; counter first_ioctl_us is the ADDFD ioctl
// that grew it, on a target fresh from the pool, and second_ioctl_us the same ioctl again
// on the grown table (one sample each per run: their difference is the growth). A fresh
// target's table is already 1024 wide (its harness fds sit at 512), so n = 3 and 64 do
// not grow it.
void BM_ScaleSetFdNumber(benchmark::State& state) {
  const auto n = static_cast<int>(state.range(0));
  auto pooled = PooledTarget::Acquire(Placement::kSameCpu);
  if (!CheckOk(state, pooled, "acquire a target")) return;
  pooled->Discard();
  Target& target = **pooled;
  UniqueFd memfd = SourceMemfd();
  if (!RaiseNofile(state, target)) return;
  const auto baseline = CountFds(target.pid());
  if (!CheckOk(state, baseline, "count fds")) return;
  const auto req = AddFdRequest(uapi::kAddFdSetFd | uapi::kAddFdSend, memfd.get(), n);
  const double first = VerifyAddFdRound(state, target, req, n);
  if (first < 0) return;
  const double second = VerifyAddFdRound(state, target, req, n);
  if (second < 0) return;
  AddFdLoop(state, target, req);
  if (state.error_occurred()) return;
  const auto after = CountFds(target.pid());
  if (!Check(state, after.has_value() && *after == *baseline,
             "the target's table is not back at its baseline")) {
    return;
  }
  // Both are positive: no zero-valued counter (NaN in a cv aggregate).
  state.counters["first_ioctl_us"] = first;
  state.counters["second_ioctl_us"] = second;
  MarkVerified(state);
}

long Futex(std::atomic<uint32_t>& word, int op, uint32_t value) {
  return ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), op | FUTEX_PRIVATE_FLAG, value,
                   nullptr, nullptr, 0);
}

// scale/queued's supervisor threads: on each batch every one issues one ADDFD on the
// notification the benchmark thread received. With SCHED_FIFO (worker k at priority
// 60 - k, the benchmark thread at 30, all on the target's CPU) the target runs only once
// every one of them sleeps in its ioctl: all n requests are queued before it handles one.
class QueueWorkers {
 public:
  QueueWorkers(int count, int listener, int srcfd, bool fifo)
      : listener_(listener), srcfd_(srcfd), results_(static_cast<size_t>(count), 0) {
    for (int k = 0; k < count; ++k) {
      threads_.emplace_back([this, k, fifo] { Loop(k, fifo); });
    }
    // Every worker at its priority before the first batch.
    const auto all = static_cast<uint32_t>(count);
    for (uint32_t now; (now = ready_.load()) != all;) Futex(ready_, FUTEX_WAIT, now);
  }
  ~QueueWorkers() {
    stop_.store(true);
    generation_.fetch_add(1);
    Futex(generation_, FUTEX_WAKE, INT_MAX);
    for (std::thread& thread : threads_) thread.join();
  }
  QueueWorkers(const QueueWorkers&) = delete;
  QueueWorkers& operator=(const QueueWorkers&) = delete;

  // Every worker issues ADDFD on `id`; returns once all have returned, or the errno of
  // the wait (EINTR: the watchdog).
  Result<void> Batch(uint64_t id) {
    id_.store(id, std::memory_order_relaxed);
    remaining_.store(static_cast<uint32_t>(threads_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    Futex(generation_, FUTEX_WAKE, INT_MAX);
    for (uint32_t left; (left = remaining_.load(std::memory_order_acquire)) != 0;) {
      if (Futex(remaining_, FUTEX_WAIT, left) != 0 && errno != EAGAIN) return Errno::Last();
    }
    return {};
  }
  // What each worker's last ADDFD returned: the fd, or -errno.
  const std::vector<int>& results() const { return results_; }

 private:
  void Loop(int k, bool fifo) {
    SetScheduling(Cpus().supervisor, fifo ? SCHED_FIFO : SCHED_OTHER, 60 - k);
    ready_.fetch_add(1);
    Futex(ready_, FUTEX_WAKE, 1);
    uint32_t seen = 0;
    for (;;) {
      uint32_t now;
      while ((now = generation_.load(std::memory_order_acquire)) == seen) {
        Futex(generation_, FUTEX_WAIT, seen);
      }
      seen = now;
      if (stop_.load()) return;
      seccomp_notif_addfd req{};
      req.id = id_.load(std::memory_order_relaxed);
      req.srcfd = static_cast<uint32_t>(srcfd_);
      auto remote = NotifAddFd(listener_, req);
      results_[static_cast<size_t>(k)] = remote ? remote->number : -remote.error().value();
      if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        Futex(remaining_, FUTEX_WAKE, 1);
      }
    }
  }

  const int listener_;
  const int srcfd_;
  std::vector<int> results_;
  std::vector<std::thread> threads_;
  std::atomic<uint64_t> id_{0};
  std::atomic<uint32_t> generation_{0};
  std::atomic<uint32_t> remaining_{0};
  std::atomic<uint32_t> ready_{0};
  std::atomic<bool> stop_{false};
};

// The benchmark thread at SCHED_FIFO 30 while alive (scale/queued), SCHED_OTHER after.
class FifoScope {
 public:
  explicit FifoScope(bool fifo) : fifo_(fifo && SetScheduling(Cpus().supervisor, SCHED_FIFO, 30)) {}
  // True when the thread runs SCHED_FIFO.
  bool active() const { return fifo_; }
  ~FifoScope() {
    if (fifo_) SetScheduling(Cpus().supervisor, SCHED_OTHER, 0);
  }
  FifoScope(const FifoScope&) = delete;
  FifoScope& operator=(const FifoScope&) = delete;

 private:
  bool fifo_;
};

// One notification answered by a batch of n ADDFDs and then a SEND of 0.
Result<void> QueuedRound(int listener, uint64_t id, QueueWorkers& workers) {
  ADDFDLAB_TRY(workers.Batch(id));
  for (int result : workers.results()) {
    if (result < 0) return Errno(-result);
  }
  seccomp_notif_resp resp{};
  resp.id = id;
  return NotifSend(listener, resp);
}

// scale/queued/<n>: n ADDFD requests queued on one notification by n supervisor threads
// before the target handles any, then a SEND. The reported time is per request: an
// iteration is one request, and every n-th iteration runs a whole batch (RECV, n queued
// ADDFDs, SEND, the trap round trip), so the batch's cost is spread over its n requests.
// The target closes fds 0..n-1 after each trap.
void BM_ScaleQueued(benchmark::State& state) {
  const auto n = static_cast<int>(state.range(0));
  const Limits& limits = BenchLimits();
  auto pooled = PooledTarget::Acquire(Placement::kSameCpu);
  if (!CheckOk(state, pooled, "acquire a target")) return;
  Target& target = **pooled;
  const int listener = target.listener();
  UniqueFd memfd = SourceMemfd();
  FifoScope fifo_scope(BenchFeatures().has(Feature::kSchedFifo));
  const bool fifo = fifo_scope.active();
  QueueWorkers workers(n, listener, memfd.get(), fifo);
  // On a failure, killing the target returns every queued ADDFD (ESRCH), so the workers
  // can be joined.
  const auto fail = [&] { target.Kill(); };

  // Verification batch: the fds stay for kcmp.
  if (!CheckOk(state, target.Start(0, MakeRequest(agent::Command::kTrapLoop, {1, 0, 0})),
               "start trap")) {
    return fail();
  }
  auto notif = RecvNotification(listener, limits.Deadline(limits.op));
  if (!CheckOk(state, notif, "verification RECV") ||
      !CheckOk(state, QueuedRound(listener, notif->id, workers), "verification batch")) {
    return fail();
  }
  auto reply = target.Finish(0, limits.Deadline(limits.op));
  if (!CheckOk(state, reply, "verification trap")) return fail();
  for (int k = 0; k < n; ++k) {
    const int fd = workers.results()[static_cast<size_t>(k)];
    if (!Check(state, IsFile(target.pid(), RemoteFd{fd}, memfd.get()),
               "kcmp: fd " + std::to_string(fd) + " is not the injected file")) {
      return fail();
    }
    // ADDFD.ORDER.LIFO: the newest request is handled first, so when all n were queued
    // before the target ran, worker k (the k-th to queue) got fd n-1-k.
    if (fifo && !Check(state, fd == n - 1 - k,
                       "worker " + std::to_string(k) + " got fd " + std::to_string(fd) +
                           ": the requests were not all queued before the target ran")) {
      return fail();
    }
    if (!CheckOk(state, CallOk(target, MakeRequest(agent::Command::kClose, {fd})), "close")) {
      return fail();
    }
  }
  if (!fifo) state.SetLabel("no SCHED_FIFO: queue depth not guaranteed");

  const auto iterations = static_cast<int64_t>(state.max_iterations);
  const int64_t batches = (iterations + n - 1) / n;
  if (!CheckOk(state, target.Start(0, MakeRequest(agent::Command::kTrapLoop, {batches, 0, n})),
               "start the trap loop")) {
    return fail();
  }
  {
    Watchdog::Scope watchdog;
    seccomp_notif received;
    int64_t slot = 0;
    for (auto _ : state) {
      if (slot-- != 0) continue;
      slot = n - 1;
      std::memset(&received, 0, sizeof(received));
      auto got = NotifRecv(listener, &received);
      if (!got) {
        LoopFailed(state, "RECV", got.error());
        break;
      }
      auto round = QueuedRound(listener, received.id, workers);
      if (!round) {
        LoopFailed(state, "batch", round.error());
        break;
      }
      Watchdog::Tick();
    }
  }
  if (state.error_occurred()) return fail();
  reply = target.Finish(0, limits.Deadline(limits.op));
  if (!Check(state, reply.has_value() && reply->ret == batches && reply->values[1] == 0,
             "the trap loop did not complete")) {
    return fail();
  }
  VerifyBaseline(state, target);
}

// scale/targets/<n>: one supervisor thread serving n targets round-robin, each trapping in
// a loop, every notification answered with ADDFD|SEND; the time is per notification. All
// run on the supervisor's CPU: while the supervisor answers one target, the others' next
// notifications are already pending.
void BM_ScaleTargets(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  const Limits& limits = BenchLimits();
  UniqueFd memfd = SourceMemfd();
  std::vector<PooledTarget> targets;
  std::vector<int> listeners;
  for (size_t i = 0; i < n; ++i) {
    auto pooled = PooledTarget::Acquire(Placement::kSameCpu);
    if (!CheckOk(state, pooled, "acquire a target")) return;
    targets.push_back(std::move(*pooled));
    listeners.push_back(targets.back()->listener());
  }
  const auto req = AddFdRequest(uapi::kAddFdSend, memfd.get());
  for (PooledTarget& target : targets) {
    if (VerifyAddFdRound(state, *target, req) < 0) return;
  }
  const auto iterations = static_cast<int64_t>(state.max_iterations);
  std::vector<int64_t> counts(n);
  for (size_t i = 0; i < n; ++i) {
    counts[i] = iterations / static_cast<int64_t>(n) +
                (static_cast<int64_t>(i) < iterations % static_cast<int64_t>(n) ? 1 : 0);
    if (counts[i] > 0 &&
        !CheckOk(state,
                 targets[i]->Start(0, MakeRequest(agent::Command::kTrapLoop, {counts[i], 1, 0})),
                 "start a trap loop")) {
      return;
    }
  }
  {
    Watchdog::Scope watchdog;
    seccomp_notif notif;
    seccomp_notif_addfd addfd = req;
    size_t next = 0;
    for (auto _ : state) {
      const int listener = listeners[next];
      if (++next == n) next = 0;
      if (!LoopRecv(state, listener, notif)) break;
      addfd.id = notif.id;
      auto remote = NotifAddFd(listener, addfd);
      if (!remote) {
        LoopFailed(state, "ADDFD", remote.error());
        break;
      }
      Watchdog::Tick();
    }
  }
  if (state.error_occurred()) return;
  for (size_t i = 0; i < n; ++i) {
    if (counts[i] == 0) continue;
    auto reply = targets[i]->Finish(0, limits.Deadline(limits.op));
    if (!Check(state, reply.has_value() && reply->ret == counts[i] && reply->values[1] == 0,
               "a trap loop did not complete")) {
      return;
    }
    auto at_baseline = AtBaseline(*targets[i]);
    if (!Check(state, at_baseline && *at_baseline,
               "a target's table is not back at its baseline")) {
      return;
    }
  }
  MarkVerified(state);
}

}  // namespace

void RegisterScaleSuites(std::vector<std::string>& skipped) {
  const Features& features = BenchFeatures();
  if (!features.has(Feature::kUserNotification) || !features.has(Feature::kSend)) {
    skipped.push_back("scale/: no user notification with ADDFD|SEND");
    return;
  }
  const int64_t hard = HardNofile();
  auto* fdtable = benchmark::RegisterBenchmark("scale/fdtable", BM_ScaleFdTable);
  for (int64_t n : kTableSizes) {
    // N fds, the harness's, and the one injected.
    if (n + agent::kMaxTasks + 1 < hard) {
      fdtable->Arg(n);
    } else {
      skipped.push_back("scale/fdtable/" + std::to_string(n) + ": hard RLIMIT_NOFILE is " +
                        std::to_string(hard));
    }
  }
  fdtable->Unit(benchmark::kMicrosecond);
  auto* setfd = benchmark::RegisterBenchmark("scale/setfd_number", BM_ScaleSetFdNumber);
  for (int64_t n : kSetFdNumbers) {
    if (n < hard) {
      setfd->Arg(n);
    } else {
      skipped.push_back("scale/setfd_number/" + std::to_string(n) + ": hard RLIMIT_NOFILE is " +
                        std::to_string(hard));
    }
  }
  setfd->Unit(benchmark::kMicrosecond);
  auto* queued = benchmark::RegisterBenchmark("scale/queued", BM_ScaleQueued);
  for (int64_t n : kQueueDepths) queued->Arg(n);
  queued->Unit(benchmark::kMicrosecond);
  auto* targets = benchmark::RegisterBenchmark("scale/targets", BM_ScaleTargets);
  for (int64_t n : kTargetCounts) targets->Arg(n);
  targets->Unit(benchmark::kMicrosecond);
}

}  // namespace addfdlab::bench
