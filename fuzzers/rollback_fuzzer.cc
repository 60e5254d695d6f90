// Fuzzes multi-fd injection under faults: the strategy, k, the target's fd layout, the
// numbers to install at and the fault plan (faults/run_spec.h, faults/injection_lab.h). Every
// strategy must keep its documented guarantee and its journal must match the target's table; a run
// that breaks either traps. $ADDFDLAB_ROLLBACK_MUTANT=1 adds the test-only broken strategy.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "addfdlab/environment.h"
#include "addfdlab/fd_table.h"
#include "faults/injection_lab.h"
#include "faults/run_spec.h"

namespace {

bool MutantAllowed() { return addfdlab::ReadEnvironment().rollback_mutant; }

// The supervisor's own fds must not grow with the runs (the lab's are its own).
void CheckHygiene(const addfdlab::faults::InjectionLab& lab, uint64_t runs) {
  static size_t baseline = 0;
  if (runs % 512 != 1) return;
  auto hygiene = addfdlab::SnapshotHygiene(::getpid());
  if (!hygiene) return;
  std::set<int> fds = hygiene->fds;
  for (int fd : lab.OwnedFds()) fds.erase(fd);
  if (baseline == 0) baseline = fds.size();
  if (fds.size() > baseline + 8) {
    std::fprintf(stderr, "rollback_fuzzer: the supervisor holds %zu fds, %zu at the start\n",
                 fds.size(), baseline);
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static addfdlab::faults::InjectionLab lab;
  static const bool mutant = MutantAllowed();
  static uint64_t runs = 0;
  const auto spec = addfdlab::faults::DecodeRunSpec(data, size, mutant);
  if (!spec) return -1;
  const addfdlab::faults::RunReport report = lab.Run(*spec);
  CheckHygiene(lab, ++runs);
  if (!report.harness_error.empty()) return 0;  // not a verdict on the strategy
  if (report.broken.empty()) return 0;
  std::fprintf(stderr, "rollback_fuzzer: guarantee broken\n%s\n", report.Format(*spec).c_str());
  __builtin_trap();
}
