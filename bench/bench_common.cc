// The benchmark suites' shared pieces.
#include "bench_common.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <array>
#include <cstring>
#include <optional>
#include <thread>

#include "addfdlab/fd_table.h"
#include "addfdlab/notifier.h"
#include "addfdlab/scm_rights.h"
#include "addfdlab/supervisor.h"

namespace addfdlab::bench {
namespace {

CpuPlan g_cpus;
std::optional<Features> g_features;
pid_t g_bench_tid = 0;
std::atomic<bool> g_armed{false};

void IgnoreInterrupt(int) {}

TargetPool& Pool(Placement placement) {
  static std::array<std::unique_ptr<TargetPool>, 3> pools;
  auto& pool = pools[static_cast<size_t>(placement)];
  if (pool == nullptr) {
    TargetConfig config;
    config.callers = 0;
    config.limits = BenchLimits();
    pool = std::make_unique<TargetPool>(config);
  }
  return *pool;
}

}  // namespace

const char* PlacementName(Placement placement) {
  switch (placement) {
    case Placement::kSameCpu:
      return "same_cpu";
    case Placement::kCrossCpu:
      return "cross_cpu";
    case Placement::kAnyCpu:
      return "any_cpu";
  }
  return "?";
}

bool PinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<size_t>(cpu), &set);
  return PinTo(set);
}

bool PinTo(const cpu_set_t& cpus) { return ::sched_setaffinity(0, sizeof(cpus), &cpus) == 0; }

bool HasAffinity(pid_t tid, const cpu_set_t& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  return ::sched_getaffinity(tid, sizeof(set), &set) == 0 && CPU_EQUAL(&set, &cpus);
}

std::string DescribeCpus(const cpu_set_t& cpus) {
  std::string out;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(static_cast<size_t>(cpu), &cpus)) continue;
    out += (out.empty() ? "" : ",") + std::to_string(cpu);
  }
  return out;
}

const CpuPlan& PlanCpus() {
  const std::vector<int> allowed = AllowedCpus();
  g_cpus.supervisor = allowed.back();
  g_cpus.other = allowed.size() > 1 ? allowed.front() : -1;
  CPU_ZERO(&g_cpus.all);
  for (int cpu : allowed) CPU_SET(static_cast<size_t>(cpu), &g_cpus.all);
  PinTo(g_cpus.supervisor);
  return g_cpus;
}

const CpuPlan& Cpus() { return g_cpus; }

cpu_set_t TargetCpus(Placement placement) {
  cpu_set_t set;
  CPU_ZERO(&set);
  switch (placement) {
    case Placement::kSameCpu:
      CPU_SET(static_cast<size_t>(g_cpus.supervisor), &set);
      break;
    case Placement::kCrossCpu:
      if (g_cpus.other >= 0) CPU_SET(static_cast<size_t>(g_cpus.other), &set);
      break;
    case Placement::kAnyCpu:
      // On one CPU any_cpu would be same_cpu again.
      if (g_cpus.other >= 0) set = g_cpus.all;
      break;
  }
  return set;
}

SupervisorPlacement::SupervisorPlacement(Placement placement) {
  ok_ = placement == Placement::kAnyCpu ? PinTo(TargetCpus(placement)) : PinTo(g_cpus.supervisor);
}

SupervisorPlacement::~SupervisorPlacement() { PinTo(g_cpus.supervisor); }

const Features& BenchFeatures() {
  static const Features none;
  return g_features ? *g_features : none;
}

void SetBenchFeatures(Features features) { g_features = std::move(features); }

const Limits& BenchLimits() {
  static const Limits limits = Limits::FromEnvironment();
  return limits;
}

Result<PooledTarget> PooledTarget::Acquire(Placement placement) {
  const cpu_set_t cpus = TargetCpus(placement);
  if (CPU_COUNT(&cpus) == 0) return Errno(ENODEV);
  // A fresh target takes the affinity of the thread that asks for it.
  if (!PinTo(cpus)) return Errno::Last();
  auto target = Pool(placement).Acquire();
  PinTo(g_cpus.supervisor);
  if (!target) return target.error();
  return PooledTarget(placement, std::move(*target));
}

PooledTarget::~PooledTarget() {
  if (target_ != nullptr) Pool(placement_).Release(std::move(target_));
}

Result<agent::Reply> CallOk(Target& target, const agent::Request& req) {
  auto reply = target.Call(0, req);
  if (!reply) return reply.error();
  if (reply->err != 0) return Errno(reply->err);
  return reply;
}

std::atomic<uint64_t> Watchdog::ticks_{0};
std::atomic<bool> Watchdog::fired_{false};

void Watchdog::Start() {
  g_bench_tid = static_cast<pid_t>(::syscall(SYS_gettid));
  struct sigaction act {};
  act.sa_handler = IgnoreInterrupt;  // no SA_RESTART: the blocked call returns EINTR
  ::sigaction(InterruptSignal(false), &act, nullptr);
  std::thread([] {
    const auto budget =
        std::chrono::duration_cast<Clock::duration>(BenchLimits().op * 4 * BenchLimits().scale);
    uint64_t last = 0;
    auto since = Clock::now();
    bool was_armed = false;
    for (;;) {
      std::this_thread::sleep_for(Millis(500));
      const bool armed = g_armed.load();
      const uint64_t ticks = ticks_.load(std::memory_order_relaxed);
      const auto now = Clock::now();
      if (!armed || !was_armed || ticks != last) {
        was_armed = armed;
        last = ticks;
        since = now;
        continue;
      }
      if (now - since > budget) {
        fired_.store(true);
        ::syscall(SYS_tgkill, ::getpid(), g_bench_tid, InterruptSignal(false));
      }
    }
  }).detach();
}

Watchdog::Scope::Scope() {
  fired_.store(false);
  g_armed.store(true);
}

Watchdog::Scope::~Scope() { g_armed.store(false); }

Result<RawChild> RawChild::Adopt(pid_t pid) {
  const long pidfd = ::syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) {
    const Errno error = Errno::Last();
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return error;
  }
  return RawChild(pid, UniqueFd(static_cast<int>(pidfd)));
}

bool RawChild::Alive() const {
  struct pollfd pfd {
    pidfd_.get(), POLLIN, 0
  };
  return pidfd_ && ::poll(&pfd, 1, 0) == 0;
}

RawChild::~RawChild() {
  if (!pidfd_) return;
  ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  if (WaitReadable(pidfd_.get(), BenchLimits().Deadline(BenchLimits().reap))) {
    siginfo_t info{};
    ::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED);
  }
}

bool RawChildSetup(pid_t parent, const cpu_set_t& cpus, const int* keep, int count) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) return false;
  if (!PinTo(cpus)) return false;
  // Out of the way first (a kept fd may sit at a target number), then into place.
  int moved[4];
  if (count > 4) return false;
  for (int i = 0; i < count; ++i) {
    moved[i] = ::fcntl(keep[i], F_DUPFD, 3 + count);
    if (moved[i] < 0) return false;
  }
  if (::syscall(SYS_close_range, 3U, static_cast<unsigned>(3 + count - 1), 0) != 0) return false;
  for (int i = 0; i < count; ++i) {
    if (::dup3(moved[i], 3 + i, 0) < 0) return false;
  }
  return ::syscall(SYS_close_range, static_cast<unsigned>(3 + count), ~0U, 0) == 0;
}

bool SendFdRaw(int sock, int fd) {
  const char byte = 0;
  return SendWithFds(sock, &byte, 1, &fd, 1) == 1;
}

Result<UniqueFd> RecvFdRaw(int sock, Clock::time_point deadline) {
  if (!WaitReadable(sock, deadline)) return Errno(ETIMEDOUT);
  char byte = 0;
  int fd = -1;
  int count = 0;
  const ssize_t n = RecvWithFds(sock, &byte, 1, &fd, 1, &count, MSG_CMSG_CLOEXEC);
  if (n < 0) return Errno::Last();
  if (n != 1 || count == 0) return Errno(EPIPE);
  return UniqueFd(fd);
}

bool IsFile(pid_t pid, RemoteFd remote, int local) {
  auto same = SameFile(pid, remote.number, ::getpid(), local);
  return same && *same;
}

Result<size_t> CountFds(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/fd";
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return Errno::Last();
  size_t count = 0;
  while (struct dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count;
}

UniqueFd SourceMemfd() { return UniqueFd(::memfd_create("addfdlab-bench", MFD_CLOEXEC)); }

bool Check(benchmark::State& state, bool ok, const std::string& what) {
  if (!ok && !state.error_occurred()) state.SkipWithError(what.c_str());
  return ok;
}

void MarkVerified(benchmark::State& state) {
  if (!state.error_occurred()) state.counters["verified"] = 1;
}

void VerifyBaseline(benchmark::State& state, const Target& target) {
  auto baseline = AtBaseline(target);
  if (!Check(state, baseline && *baseline, "the target's table is not back at its baseline")) {
    return;
  }
  MarkVerified(state);
}

void LoopFailed(benchmark::State& state, const char* what, const Error& error) {
  std::string text = std::string(what) + ": " + error.Name();
  if (Watchdog::Fired()) text += " (watchdog: no progress)";
  Check(state, false, text);
}

bool LoopRecv(benchmark::State& state, int listener, seccomp_notif& notif) {
  std::memset(&notif, 0, sizeof(notif));
  auto received = NotifRecv(listener, &notif);
  if (!received) LoopFailed(state, "RECV", received.error());
  return received.has_value();
}

}  // namespace addfdlab::bench
