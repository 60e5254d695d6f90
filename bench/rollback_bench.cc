// The rollback/ suite: k fds injected by one strategy of rollback.h, interrupted after the
// last install and before the reply, and rolled back; what it costs and what it leaves.
#include <chrono>
#include <string>

#include "addfdlab/rollback.h"
#include "bench_common.h"
#include "bench_suites.h"
#include "faults/fault_plan.h"
#include "faults/injection_lab.h"
#include "faults/run_spec.h"

namespace addfdlab::bench {
namespace {

using rollback::Strategy;

const int kFileCounts[] = {1, 2, 4, 8};

// One lab for every rollback benchmark: its target pool and fault thread live as long as
// the process. It runs on the supervisor's CPU (its constructor pins the calling thread
// there, where it already is), so the other suites' placement stays as it was.
faults::InjectionLab& Lab() {
  static faults::InjectionLab lab(Cpus().supervisor);
  return lab;
}

// How many fds the strategy has installed when the fault comes: all k but send-last's
// last, which goes with the reply (ADDFD|SEND).
int InstalledBeforeReply(Strategy strategy, int k) {
  return strategy == Strategy::kSendLast ? k - 1 : k;
}

// The injection every iteration runs: the layout of `addfdlab rollback-matrix` (3, 4, 5
// held; restore-on-replace installs from 4 up, displacing two of them) and an interrupt
// that asks the supervisor to stop just before the ioctl that would reply: the SEND (ioctl
// k) or send-last's ADDFD|SEND (ioctl k-1). A `before` fault acts on the injecting thread
// itself, so it lands there with or without SCHED_FIFO.
faults::RunSpec AbortSpec(Strategy strategy, int k) {
  faults::RunSpec spec;
  spec.strategy = strategy;
  spec.k = k;
  spec.layout = {3, 4, 5};
  if (strategy == Strategy::kRestoreOnReplace) {
    for (int i = 0; i < k; ++i) spec.numbers.push_back(4 + i);
  }
  spec.fault.kind = faults::FaultKind::kInterrupt;
  spec.fault.when = faults::FaultPlan::When::kBefore;
  spec.fault.ioctl = InstalledBeforeReply(strategy, k);
  return spec;
}

// OK when the run was the one this benchmark measures and the strategy kept its
// guarantee (CheckGuarantee, checked by the lab); else what went wrong. Builds no string
// on success: it runs in the timed loop.
Result<void> CheckRun(const faults::RunSpec& spec, const faults::RunReport& report) {
  if (!report.harness_error.empty()) return Error::Invalid("harness: " + report.harness_error);
  if (!report.broken.empty()) return Error::Invalid("guarantee broken: " + report.Format(spec));
  int installed = 0;
  for (const rollback::JournalEntry& e : report.journal.entries) {
    installed += e.action == rollback::JournalEntry::Action::kInstalled;
  }
  // Aborted where planned, after its installs, and answered the target with EIO.
  if (!report.fault_fired || report.journal.succeeded ||
      installed != InstalledBeforeReply(spec.strategy, spec.k) || !report.trap_return ||
      *report.trap_return != -EIO) {
    return Error::Invalid("the fault did not land before the reply: " + report.Format(spec));
  }
  return {};
}

// rollback/<strategy>/<k>: one iteration is one InjectionLab::Run: a one-caller target
// from the lab's pool, its layout, the table before (snapshot and a pidfd_getfd copy of
// each fd), the trap, the k-fd injection, the interrupt, the strategy's rollback and EIO
// reply, and the residue check (kcmp of every fd). Counters, means per run: `rollback_us`
// (the rollback alone, Journal::rollback_time), `leaked` and `dangling` (the residue).
void BM_Rollback(benchmark::State& state, Strategy strategy, int k) {
  faults::InjectionLab& lab = Lab();
  const faults::RunSpec spec = AbortSpec(strategy, k);
  state.SetLabel(spec.fault.Format());
  double rollback_us = 0;
  double leaked = 0;
  double dangling = 0;
  for (auto _ : state) {
    const faults::RunReport report = lab.Run(spec);
    if (const Result<void> ran = CheckRun(spec, report); !ran) {
      Check(state, false, ran.error().message());
      break;
    }
    rollback_us += std::chrono::duration<double, std::micro>(report.journal.rollback_time).count();
    leaked += static_cast<double>(report.residue.leaked.size());
    dangling += static_cast<double>(report.residue.dangling.size());
  }
  if (state.error_occurred()) return;
  // leaked and dangling are 0 in every repetition where the strategy promises nothing
  // left behind: the reporters (reporters.h) keep their cv aggregate out of NaN.
  state.counters["rollback_us"] =
      benchmark::Counter(rollback_us, benchmark::Counter::kAvgIterations);
  state.counters["leaked"] = benchmark::Counter(leaked, benchmark::Counter::kAvgIterations);
  state.counters["dangling"] = benchmark::Counter(dangling, benchmark::Counter::kAvgIterations);
  MarkVerified(state);
}

}  // namespace

void RegisterRollbackSuites(std::vector<std::string>& skipped) {
  const Features& features = BenchFeatures();
  // The strategies install with ADDFD and SETFD; the residue oracle copies files out with
  // pidfd_getfd and compares them with kcmp.
  for (Feature needed : {Feature::kUserNotification, Feature::kAddFd, Feature::kSetFd,
                         Feature::kPidfdGetfd, Feature::kKcmp}) {
    if (!features.has(needed)) {
      skipped.push_back(std::string("rollback: ") + FeatureName(needed) + ": " +
                        features.get(needed).evidence);
      return;
    }
  }
  for (Strategy strategy : rollback::kStrategies) {
    const std::string name(rollback::StrategyName(strategy));
    if (strategy == Strategy::kSendLast && !features.has(Feature::kSend)) {
      skipped.push_back("rollback/" + name + ": " + features.get(Feature::kSend).evidence);
      continue;
    }
    for (int k : kFileCounts) {
      benchmark::RegisterBenchmark(("rollback/" + name + "/" + std::to_string(k)).c_str(),
                                   BM_Rollback, strategy, k)
          ->Unit(benchmark::kMicrosecond);
    }
  }
}

}  // namespace addfdlab::bench
