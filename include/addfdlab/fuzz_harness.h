// What the kernel-driving fuzz targets share: one executor for the process, the known
// deviations of this kernel, and coverage of the kernel's state (not only of our code).
#ifndef ADDFDLAB_FUZZ_HARNESS_H_
#define ADDFDLAB_FUZZ_HARNESS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "addfdlab/contract.h"
#include "addfdlab/executor.h"

namespace addfdlab {

class FuzzHarness {
 public:
  // `counters` (may be null) is libFuzzer's extra-counters array: each (op kind, state,
  // outcome, queued requests, fd-slot class, cell) tuple the executor observes bumps one
  // counter, so reaching a new contract cell or a new outcome counts as new coverage.
  FuzzHarness(uint8_t* counters, size_t counter_count);
  // Says on stderr whether the supervisor's own fds, threads and children are what they
  // were at the start ("addfdlab harness hygiene: ...").
  ~FuzzHarness();

  // Runs a scenario; returns the verdicts that are findings: known deviations of this
  // kernel and expect clauses left out, and only when the first one reproduces twice more.
  std::vector<Verdict> Run(const Scenario& scenario);
  // Verdicts seen once that did not reproduce (racy; not reported).
  uint64_t unreproduced() const { return unreproduced_; }

  // Contract cells reached so far, and how many apply to this kernel.
  const std::set<std::string>& cells_reached() const { return cells_reached_; }
  size_t cells_applicable() const;
  Executor& executor() { return executor_; }

 private:
  std::vector<KnownDeviation> known_;
  Executor executor_;
  uint8_t* counters_;
  size_t counter_count_;
  std::set<std::string> cells_reached_;
  std::string cells_file_;  // $ADDFDLAB_CELLS_FILE: newly reached cells are appended
  uint64_t unreproduced_ = 0;
  std::optional<ProcessHygiene> start_hygiene_;

  std::vector<Verdict> Findings(const RunResult& result) const;
};

// The known-deviations file: $ADDFDLAB_KNOWN_DEVIATIONS, else the repository's.
std::string KnownDeviationsPath();

}  // namespace addfdlab

#endif  // ADDFDLAB_FUZZ_HARNESS_H_
