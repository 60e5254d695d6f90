// addfd_bench: every Google Benchmark suite of addfdlab in one binary, one JSON.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>
#include <vector>

#include "addfdlab/probe.h"
#include "bench_common.h"
#include "bench_suites.h"
#include "reporters.h"

int main(int argc, char** argv) {
  using addfdlab::Feature;
  namespace bench = addfdlab::bench;
  // The benchmark thread is the supervisor: pinned to one CPU (any_cpu runs unpin it),
  // SCHED_OTHER (scale/queued raises it to SCHED_FIFO for its runs). Targets and children
  // are placed per placement.
  const bench::CpuPlan& cpus = bench::PlanCpus();
  bench::SetBenchFeatures(addfdlab::ProbeFeatures());
  const addfdlab::Features& features = bench::BenchFeatures();
  bench::Watchdog::Start();

  std::vector<std::string> skipped;
  bench::RegisterInjectSuites(skipped);
  bench::RegisterScaleSuites(skipped);
  bench::RegisterRollbackSuites(skipped);

  benchmark::AddCustomContext("addfdlab_kernel", features.release);
  benchmark::AddCustomContext("addfdlab_supervisor_cpu", std::to_string(cpus.supervisor));
  benchmark::AddCustomContext("addfdlab_other_cpu", std::to_string(cpus.other));
  benchmark::AddCustomContext("addfdlab_any_cpus",
                              bench::DescribeCpus(bench::TargetCpus(bench::Placement::kAnyCpu)));
  benchmark::AddCustomContext("addfdlab_sched_fifo",
                              features.has(Feature::kSchedFifo) ? "yes" : "no");
  benchmark::AddCustomContext("addfdlab_sync_wake_up",
                              features.has(Feature::kSyncWakeUp) ? "yes" : "no");
  std::string not_run;
  for (const std::string& reason : skipped) not_run += (not_run.empty() ? "" : "; ") + reason;
  benchmark::AddCustomContext("addfdlab_not_run", not_run);

  const bench::ReportFlags report_flags = bench::ReadReportFlags(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  for (const std::string& reason : skipped) std::fprintf(stderr, "not run: %s\n", reason.c_str());
  bench::RunSpecifiedBenchmarks(report_flags);
  benchmark::Shutdown();
  return 0;
}
