// What the benchmark suites share: CPU placement, pooled targets, a watchdog that bounds
// the blocking calls of a timed loop, forked raw children, and verification helpers.
#ifndef ADDFDLAB_BENCH_BENCH_COMMON_H_
#define ADDFDLAB_BENCH_BENCH_COMMON_H_

#include <benchmark/benchmark.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "addfdlab/limits.h"
#include "addfdlab/probe.h"
#include "addfdlab/result.h"
#include "addfdlab/target.h"
#include "addfdlab/target_pool.h"
#include "addfdlab/unique_fd.h"

namespace addfdlab::bench {

// Where a target runs relative to the supervisor (the benchmark thread, always pinned to
// its CPU): pinned to the same CPU, pinned to another one, or allowed on every CPU.
enum class Placement { kSameCpu, kCrossCpu, kAnyCpu };
// "same_cpu", "cross_cpu", "any_cpu": the last component of the suites' names.
const char* PlacementName(Placement placement);

struct CpuPlan {
  int supervisor = 0;  // the benchmark thread's CPU
  int other = -1;      // a second CPU for cross_cpu targets; -1 when there is none
  cpu_set_t all{};     // the process's affinity at start: where any_cpu targets may run
};
// Chooses the CPUs from the calling thread's affinity (the last allowed CPU for the
// supervisor, another allowed one for cross-CPU targets) and pins the calling thread to
// the supervisor CPU. Call once, from main, before any target exists.
const CpuPlan& PlanCpus();
// The plan PlanCpus() made.
const CpuPlan& Cpus();
// The CPUs a target with this placement may run on; empty when the placement cannot run
// here (cross_cpu and any_cpu need two CPUs).
cpu_set_t TargetCpus(Placement placement);
// "0", "0,1": the CPUs of a set, for messages and context keys.
std::string DescribeCpus(const cpu_set_t& cpus);
// sched_setaffinity of the calling thread to one CPU, or to a set. Async-signal-safe.
bool PinTo(int cpu);
bool PinTo(const cpu_set_t& cpus);
// The affinity of thread or process `tid` is exactly `cpus`.
bool HasAffinity(pid_t tid, const cpu_set_t& cpus);

// The benchmark thread's CPUs while alive: every CPU of the plan for any_cpu (where the
// supervisor is not pinned either, so that SYNC_WAKE_UP can bring it to the target's CPU
// as well as the target to its), its own CPU otherwise. Pins it back to its CPU on
// destruction. Make it after PooledTarget::Acquire, which pins it back too.
class SupervisorPlacement {
 public:
  explicit SupervisorPlacement(Placement placement);
  ~SupervisorPlacement();
  SupervisorPlacement(const SupervisorPlacement&) = delete;
  SupervisorPlacement& operator=(const SupervisorPlacement&) = delete;
  // False when the affinity could not be set.
  bool ok() const { return ok_; }

 private:
  bool ok_ = true;
};

// The features the benchmarks were registered for (ProbeFeatures, once, from main).
const Features& BenchFeatures();
void SetBenchFeatures(Features features);

// A single-task target (the leader makes the trapped syscalls, callers = 0) from a pool
// per placement, pinned by inheritance: the spawner forks a leader with its requester's
// affinity. Back to the pool on destruction: reset to the baseline (which also clears the
// listener's flags), or replaced when it is busy, dead or discarded.
class PooledTarget {
 public:
  static Result<PooledTarget> Acquire(Placement placement);

  PooledTarget(PooledTarget&&) noexcept = default;
  PooledTarget& operator=(PooledTarget&&) noexcept = default;
  PooledTarget(const PooledTarget&) = delete;
  PooledTarget& operator=(const PooledTarget&) = delete;
  ~PooledTarget();

  Target& operator*() const { return *target_; }
  Target* operator->() const { return target_.get(); }
  // Not reused: its table grew beyond what a reset undoes (fd tables never shrink).
  void Discard() { target_->Taint(); }

 private:
  PooledTarget(Placement placement, std::unique_ptr<Target> target)
      : placement_(placement), target_(std::move(target)) {}
  Placement placement_;
  std::unique_ptr<Target> target_;
};

// An agent command that must succeed (no transport error, err == 0).
Result<agent::Reply> CallOk(Target& target, const agent::Request& req);

// Bounds the blocking calls of timed loops without a syscall per iteration: a thread
// checks twice a second that the armed loop calls Tick(); after `Limits::op` x 4 without
// progress it sends InterruptSignal(false) (a handler without SA_RESTART) to the
// benchmark thread, again and again until disarmed, so a blocking ioctl, read or futex
// wait returns EINTR.
class Watchdog {
 public:
  // Starts the watch thread for the calling thread. Once, from main.
  static void Start();
  // Progress of the armed loop. Only the benchmark thread calls it: a plain store.
  static void Tick() {
    ticks_.store(ticks_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  // True once it fired during the current arming.
  static bool Fired() { return fired_.load(); }

  // Armed while alive.
  class Scope {
   public:
    Scope();
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
  };

 private:
  static std::atomic<uint64_t> ticks_;
  static std::atomic<bool> fired_;
};

// A process forked from the benchmark process for the raw references. It only makes raw
// syscalls after the fork (the benchmark process has threads). SIGKILLed and reaped on
// destruction.
class RawChild {
 public:
  // Forks; the child runs `body()`, which must not return.
  template <typename Body>
  static Result<RawChild> Fork(Body&& body) {
    const pid_t pid = ::fork();
    if (pid < 0) return Errno::Last();
    if (pid == 0) {
      body();
      ::_exit(127);
    }
    return Adopt(pid);
  }
  RawChild(RawChild&&) noexcept = default;
  RawChild& operator=(RawChild&&) noexcept = default;
  ~RawChild();

  pid_t pid() const { return pid_; }
  // True while it has not exited.
  bool Alive() const;

 private:
  RawChild(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  static Result<RawChild> Adopt(pid_t pid);
  pid_t pid_ = -1;
  UniqueFd pidfd_;
};

// In a forked raw child: dies with `parent`, sets its affinity to `cpus` (TargetCpus of
// its placement), moves the `count` (at most 4) fds of `keep` to 3, 4, ... and closes
// every other fd above 2 (the benchmark process's listeners and sockets). False when a
// step failed. Async-signal-safe.
bool RawChildSetup(pid_t parent, const cpu_set_t& cpus, const int* keep, int count);

// SCM_RIGHTS over a connected AF_UNIX socket: one byte carrying `fd`. Async-signal-safe.
bool SendFdRaw(int sock, int fd);
// Receives one byte with an fd, waiting until `deadline`.
Result<UniqueFd> RecvFdRaw(int sock, Clock::time_point deadline);

// kcmp(KCMP_FILE): `remote` in `pid` is the file `local` of this process.
bool IsFile(pid_t pid, RemoteFd remote, int local);
// The number of open fds of a process (a readdir of /proc/PID/fd: cheap for big tables).
Result<size_t> CountFds(pid_t pid);
// A memfd to inject (cloexec in this process).
UniqueFd SourceMemfd();

// Fails the benchmark (SkipWithError) with `what` unless `ok`; returns `ok`.
bool Check(benchmark::State& state, bool ok, const std::string& what);
template <typename T>
bool CheckOk(benchmark::State& state, const Result<T>& result, const std::string& what) {
  return Check(state, result.has_value(),
               result.has_value() ? what : what + ": " + result.error().Name());
}
// The run verified what it measured: counter verified = 1.
void MarkVerified(benchmark::State& state);
// The end of a run: fails it unless the target's table is back at its baseline (AtBaseline),
// else MarkVerified.
void VerifyBaseline(benchmark::State& state, const Target& target);

// Fails the benchmark for an error inside a timed loop (noting a watchdog that fired).
void LoopFailed(benchmark::State& state, const char* what, const Error& error);
// A timed loop's RECV: zeroes `notif` and receives into it from `listener`. On failure
// fails the benchmark (LoopFailed "RECV") and returns false: the loop breaks.
bool LoopRecv(benchmark::State& state, int listener, seccomp_notif& notif);

// What a benchmark's deadlines are: Limits::FromEnvironment().
const Limits& BenchLimits();

}  // namespace addfdlab::bench

#endif  // ADDFDLAB_BENCH_BENCH_COMMON_H_
