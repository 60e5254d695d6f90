// The suites that make no seccomp call: the other ways to move an fd between processes
// (inject/scm_rights, inject/pidfd_getfd) and the yardsticks (reference/syscall,
// reference/pipe_pingpong). docs/bench.md describes them.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "addfdlab/fd_table.h"
#include "addfdlab/notifier.h"
#include "bench_common.h"
#include "bench_suites.h"

namespace addfdlab::bench {
namespace {

// inject/scm_rights/plain/<placement>: sendmsg(SCM_RIGHTS) of one fd to the target, which
// receives it, closes it and acknowledges with one byte (kRecvFdLoop).
void BM_InjectScmRights(benchmark::State& state, Placement placement) {
  const Limits& limits = BenchLimits();
  auto pooled = PooledTarget::Acquire(placement);
  if (!CheckOk(state, pooled, "acquire a target")) return;
  Target& target = **pooled;
  UniqueFd memfd = SourceMemfd();
  // A socketpair made in the target; pidfd_getfd brings one end here.
  auto pair = CallOk(target, MakeRequest(agent::Command::kSocketpair, {0}));
  if (!CheckOk(state, pair, "socketpair in the target")) return;
  const auto theirs = static_cast<int>(pair->values[0]);
  auto ours = SystemNotifier().PidfdGetfd(target.task_pidfd(0),
                                          RemoteFd{static_cast<int>(pair->values[1])});
  if (!CheckOk(state, ours, "pidfd_getfd the socket") ||
      !CheckOk(state, CallOk(target, MakeRequest(agent::Command::kClose, {pair->values[1]})),
               "close")) {
    return;
  }
  const int sock = ours->get();
  char ack = 0;

  // Verification round: the fd received is kept for kcmp.
  if (!CheckOk(state, target.Start(0, MakeRequest(agent::Command::kRecvFdLoop, {1, theirs, 0})),
               "start receiving") ||
      !Check(state, SendFdRaw(sock, memfd.get()), "verification sendmsg") ||
      !Check(state, WaitReadable(sock, limits.Deadline(limits.op)) && ::read(sock, &ack, 1) == 1,
             "verification: no acknowledgement")) {
    return;
  }
  auto reply = target.Finish(0, limits.Deadline(limits.op));
  if (!CheckOk(state, reply, "verification receive") ||
      !Check(state, reply->ret == 1 && reply->err == 0, "verification: nothing received")) {
    return;
  }
  const RemoteFd received{static_cast<int>(reply->values[0])};
  if (!Check(state, IsFile(target.pid(), received, memfd.get()),
             "kcmp: the received fd is not the sent file") ||
      !CheckOk(state, CallOk(target, MakeRequest(agent::Command::kClose, {received.number})),
               "close the received fd")) {
    return;
  }

  const auto count = static_cast<int64_t>(state.max_iterations);
  if (!CheckOk(state, target.Start(0, MakeRequest(agent::Command::kRecvFdLoop, {count, theirs, 1})),
               "start the receive loop")) {
    return;
  }
  const int src = memfd.get();
  {
    Watchdog::Scope watchdog;
    for (auto _ : state) {
      if (!SendFdRaw(sock, src)) {
        LoopFailed(state, "sendmsg", Errno::Last());
        break;
      }
      if (::read(sock, &ack, 1) != 1) {
        LoopFailed(state, "read the acknowledgement", Errno::Last());
        break;
      }
      Watchdog::Tick();
    }
  }
  if (state.error_occurred()) return;
  reply = target.Finish(0, limits.Deadline(limits.op));
  if (!CheckOk(state, reply, "receive loop") ||
      !Check(state, reply->ret == count && reply->err == 0, "the receive loop ended early") ||
      !CheckOk(state, CallOk(target, MakeRequest(agent::Command::kClose, {theirs})), "close")) {
    return;
  }
  VerifyBaseline(state, target);
}

// inject/pidfd_getfd/plain/<placement>: the reverse direction, a copy of a target's fd
// taken with pidfd_getfd (and closed again here). The target does not run.
void BM_InjectPidfdGetfd(benchmark::State& state, Placement placement) {
  auto pooled = PooledTarget::Acquire(placement);
  if (!CheckOk(state, pooled, "acquire a target")) return;
  Target& target = **pooled;
  auto created = CallOk(target, MakeRequest(agent::Command::kMemfd, {0}));
  if (!CheckOk(state, created, "memfd in the target")) return;
  const RemoteFd remote{static_cast<int>(created->ret)};
  NotifierApi& notifier = SystemNotifier();
  const int pidfd = target.task_pidfd(0);
  {
    auto copy = notifier.PidfdGetfd(pidfd, remote);
    if (!CheckOk(state, copy, "verification pidfd_getfd") ||
        !Check(state, IsFile(target.pid(), remote, copy->get()),
               "kcmp: the copy is not the target's file")) {
      return;
    }
  }
  {
    Watchdog::Scope watchdog;
    for (auto _ : state) {
      auto copy = notifier.PidfdGetfd(pidfd, remote);
      if (!copy) {
        LoopFailed(state, "pidfd_getfd", copy.error());
        break;
      }
      Watchdog::Tick();
    }
  }
  if (state.error_occurred()) return;
  if (!CheckOk(state, CallOk(target, MakeRequest(agent::Command::kClose, {remote.number})),
               "close")) {
    return;
  }
  VerifyBaseline(state, target);
}

// reference/syscall: the cheapest round trip into the kernel.
void BM_Syscall(benchmark::State& state) {
  const long expected = ::getppid();
  long ret = 0;
  for (auto _ : state) {
    ret = ::syscall(SYS_getppid);
    benchmark::DoNotOptimize(ret);
  }
  if (!Check(state, ret == expected, "getppid returned another pid")) return;
  MarkVerified(state);
}

// reference/pipe_pingpong/<placement>: one byte to a forked child over one pipe and back
// over another: two wake-ups per iteration, like a trap round trip.
void BM_PipePingPong(benchmark::State& state, Placement placement) {
  int ping[2];
  int pong[2];
  if (!Check(state, ::pipe2(ping, O_CLOEXEC) == 0, "pipe")) return;
  UniqueFd ping_read(ping[0]);
  UniqueFd ping_write(ping[1]);
  if (!Check(state, ::pipe2(pong, O_CLOEXEC) == 0, "pipe")) return;
  UniqueFd pong_read(pong[0]);
  UniqueFd pong_write(pong[1]);
  const pid_t parent = ::getpid();
  const cpu_set_t cpus = TargetCpus(placement);
  const int keep[2] = {ping[0], pong[1]};
  auto child = RawChild::Fork([parent, &cpus, &keep] {
    if (!RawChildSetup(parent, cpus, keep, 2)) ::_exit(1);  // ping at 3, pong at 4
    char byte = 0;
    while (::read(3, &byte, 1) == 1 && ::write(4, &byte, 1) == 1) {
    }
    ::_exit(0);
  });
  if (!CheckOk(state, child, "fork the child")) return;
  ping_read.reset();
  pong_write.reset();
  int64_t wrong = 0;
  uint8_t sent = 0;
  {
    Watchdog::Scope watchdog;
    for (auto _ : state) {
      uint8_t back = 0;
      ++sent;
      if (::write(ping_write.get(), &sent, 1) != 1 || ::read(pong_read.get(), &back, 1) != 1) {
        LoopFailed(state, "ping-pong", Errno::Last());
        break;
      }
      wrong += back != sent;
      Watchdog::Tick();
    }
  }
  if (state.error_occurred()) return;
  if (!Check(state, wrong == 0, "the child echoed other bytes")) return;
  MarkVerified(state);
}

}  // namespace

void RegisterYardsticks(const std::vector<Placement>& placements) {
  benchmark::RegisterBenchmark("reference/syscall", BM_Syscall)->Unit(benchmark::kMicrosecond);
  for (Placement placement : placements) {
    benchmark::RegisterBenchmark(
        (std::string("reference/pipe_pingpong/") + PlacementName(placement)).c_str(),
        BM_PipePingPong, placement)
        ->Unit(benchmark::kMicrosecond);
  }
}

void RegisterOtherChannels(const std::vector<Placement>& placements,
                           std::vector<std::string>& skipped) {
  const Features& features = BenchFeatures();
  if (features.has(Feature::kPidfdGetfd)) {
    for (Placement placement : placements) {
      const std::string tail = std::string("/plain/") + PlacementName(placement);
      benchmark::RegisterBenchmark(("inject/scm_rights" + tail).c_str(), BM_InjectScmRights,
                                   placement)
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark(("inject/pidfd_getfd" + tail).c_str(), BM_InjectPidfdGetfd,
                                   placement)
          ->Unit(benchmark::kMicrosecond);
    }
  } else {
    skipped.push_back("scm_rights, pidfd_getfd: " + features.get(Feature::kPidfdGetfd).evidence);
  }
}

}  // namespace addfdlab::bench
