// What target pooling buys: one run (a trapped syscall answered by ADDFD|SEND, then the
// target back at its baseline) on a reused target against a freshly forked one.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include "addfdlab/supervisor.h"
#include "addfdlab/target_pool.h"
#include "reporters.h"

namespace addfdlab {
namespace {

// One run: trap, inject, reply, wait for the target to return.
bool RunOnce(Target& target, int memfd) {
  if (!target.Start(1, MakeRequest(agent::Command::kTrap))) return false;
  auto notif = RecvNotification(target.listener(), Limits{}.Deadline(Millis(2000)));
  if (!notif) return false;
  seccomp_notif_addfd req{};
  req.id = notif->id;
  req.flags = uapi::kAddFdSend;
  req.srcfd = static_cast<uint32_t>(memfd);
  auto remote = NotifAddFd(target.listener(), req);
  auto reply = target.Finish(1, Limits{}.Deadline(Millis(2000)));
  return remote && reply && reply->ret == remote->number;
}

void BM_RunOnPooledTarget(benchmark::State& state) {
  UniqueFd memfd(::memfd_create("bench", MFD_CLOEXEC));
  TargetPool pool(TargetConfig{});
  for (auto _ : state) {
    auto target = pool.Acquire();
    if (!target || !RunOnce(**target, memfd.get())) {
      state.SkipWithError("run failed");
      break;
    }
    pool.Release(std::move(*target));
  }
  state.counters["spawned"] = static_cast<double>(pool.stats().spawned);
  state.counters["replaced"] = static_cast<double>(pool.stats().replaced);
}
BENCHMARK(BM_RunOnPooledTarget)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_RunOnFreshTarget(benchmark::State& state) {
  UniqueFd memfd(::memfd_create("bench", MFD_CLOEXEC));
  for (auto _ : state) {
    auto target = Target::Spawn(TargetConfig{});
    if (!target || !RunOnce(**target, memfd.get())) {
      state.SkipWithError("run failed");
      break;
    }
  }
}
BENCHMARK(BM_RunOnFreshTarget)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace addfdlab

int main(int argc, char** argv) {
  // Supervisor and targets share one CPU, as in the executor: a wake-up across CPUs costs
  // tens of microseconds in a VM and would swamp both sides.
  addfdlab::SetScheduling(addfdlab::ChooseCpu(-1), SCHED_OTHER, 0);
  // Through addfdlab's reporters, as every suite: `replaced` is 0 in every repetition when
  // no pooled target had to be replaced, and Google Benchmark 1.7.1 writes its cv as NaN.
  const addfdlab::bench::ReportFlags report_flags = addfdlab::bench::ReadReportFlags(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  addfdlab::bench::RunSpecifiedBenchmarks(report_flags);
  benchmark::Shutdown();
  return 0;
}
