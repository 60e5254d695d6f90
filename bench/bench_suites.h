// The suites of addfd_bench, registered at run time (names depend on the probed kernel
// features and the CPUs). docs/bench.md lists them.
#ifndef ADDFDLAB_BENCH_BENCH_SUITES_H_
#define ADDFDLAB_BENCH_BENCH_SUITES_H_

#include <string>
#include <vector>

#include "bench_common.h"

namespace addfdlab::bench {

// inject/... and reference/...; appends to `skipped` what this machine cannot run, and why.
void RegisterInjectSuites(std::vector<std::string>& skipped);
// The suites without seccomp, for RegisterInjectSuites' placements: reference/syscall and
// reference/pipe_pingpong/<placement>; inject/scm_rights and inject/pidfd_getfd (appending
// to `skipped` when pidfd_getfd is missing).
void RegisterYardsticks(const std::vector<Placement>& placements);
void RegisterOtherChannels(const std::vector<Placement>& placements,
                           std::vector<std::string>& skipped);
// scale/...
void RegisterScaleSuites(std::vector<std::string>& skipped);
// rollback/...
void RegisterRollbackSuites(std::vector<std::string>& skipped);

}  // namespace addfdlab::bench

#endif  // ADDFDLAB_BENCH_BENCH_SUITES_H_
