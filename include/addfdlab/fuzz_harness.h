// What the kernel-driving fuzz targets share: one executor for the process, the known
// deviations (matched by behaviour), and coverage of the kernel's state (not only of our
// code).
#ifndef ADDFDLAB_FUZZ_HARNESS_H_
#define ADDFDLAB_FUZZ_HARNESS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "addfdlab/executor.h"
#include "addfdlab/known_deviations.h"

namespace addfdlab {

struct FuzzHarnessOptions {
  // The known-deviations file: without it every deviation is a finding (said once on
  // stderr); a file that cannot be parsed makes every run a harness verdict that says so.
  std::string known_deviations;
  // Each contract cell reached for the first time is appended to this file ("" for none):
  // `addfdlab fuzz` counts its jobs' cells from it.
  std::string cells_file;
  // Each verdict dropped as schedule-dependent is appended to this file, as its signature
  // ("" for none): `addfdlab fuzz` counts them from it.
  std::string dropped_file;
  // The executor's run profile is appended to this file when the harness goes
  // (RunProfile::Line; "" for none): `addfdlab fuzz` sums its jobs' profiles.
  std::string profile_file;
  // Each kernel PC reached for the first time is appended to this file, as function+offset
  // ("" for none): `addfdlab fuzz` counts them.
  std::string kernel_pcs_file;
  // $ADDFDLAB_CELLS_FILE, $ADDFDLAB_DROPPED_FILE, $ADDFDLAB_PROFILE_FILE,
  // $ADDFDLAB_KERNEL_PCS_FILE, and
  // KnownDeviationsPath(repository_list).
  static FuzzHarnessOptions FromEnvironment(const std::string& repository_list);
};

class FuzzHarness {
 public:
  // `counters` (may be null) is libFuzzer's extra-counters array: each (op kind, state,
  // outcome, queued requests, fd-slot class, cell) tuple the executor observes bumps one
  // counter, so reaching a new contract cell or a new outcome counts as new coverage.
  FuzzHarness(uint8_t* counters, size_t counter_count, FuzzHarnessOptions options);
  // Whether a verdict on a fuzz input can be a finding: not an expect clause (a
  // hand-written scenario's own claim, kept by its mutants while their ops change) nor a
  // pattern cell (a seed's emulates= judges its supervisor, not the kernel).
  static bool MayBeFinding(const Verdict& verdict);
  // Says on stderr whether the supervisor's own fds, threads and children are what they
  // were at the start ("addfdlab harness hygiene: ..."), appends the run profile to the
  // profile file, and, with KCOV, ends with "addfdlab kernel coverage: kernel PCs reached
  // in the addfd path: N".
  ~FuzzHarness();

  // libFuzzer's extra counters for kernel PCs: on a kernel with KCOV (the executor collects
  // them: ExecutorOptions::kcov), each PC a run reaches in the notifier and fd-install
  // functions bumps one, so an input reaching a new kernel PC is kept.
  void SetKernelPcCounters(uint8_t* counters, size_t count) {
    pc_counters_ = counters;
    pc_counter_count_ = count;
  }
  // The distinct kernel PCs reached so far (empty without KCOV).
  const std::set<uint64_t>& kernel_pcs() const { return kernel_pcs_; }

  // Runs a scenario; returns the verdicts that are findings: expect clauses and verdicts a
  // known deviation explains left out, and only when the first one reproduces twice more,
  // each time in a run that kept to the model's schedule (RunResult::deterministic; a
  // verdict from a run that did not is dropped as schedule-dependent). A known deviation
  // seen for the first time whose entry names a model quirk makes the model follow this
  // kernel from then on (and the scenario runs again).
  std::vector<Verdict> Run(const Scenario& scenario);
  // Verdicts seen once that did not reproduce (racy; not reported).
  uint64_t unreproduced() const { return unreproduced_; }
  // Verdicts dropped because a run they came from, or a repeat, did not keep to the
  // schedule (a target ran out of turn: real-time throttling, a SCHED_IDLE target's share,
  // free scheduling).
  uint64_t schedule_dependent() const { return schedule_dependent_; }

  // Contract cells reached so far (registry cells only, never trace labels).
  const std::set<std::string>& cells_reached() const { return cells_reached_; }
  // The contract cells this kernel and this harness can reach.
  std::vector<std::string> CellsReachable() const;
  Executor& executor() { return executor_; }
  const Features& features() const { return executor_.features(); }

 private:
  std::vector<KnownDeviation> known_;
  std::optional<Error> known_error_;  // why the known deviations could not be loaded
  Executor executor_;
  uint8_t* counters_;
  size_t counter_count_;
  std::set<std::string> cells_reached_;
  std::string cells_file_;       // newly reached cells are appended
  std::string dropped_file_;     // schedule-dependent verdicts' signatures are appended
  std::string profile_file_;     // the run profile is appended at the end
  std::string kernel_pcs_file_;  // newly reached kernel PCs are appended
  uint8_t* pc_counters_ = nullptr;
  size_t pc_counter_count_ = 0;
  std::set<uint64_t> kernel_pcs_;
  uint64_t unreproduced_ = 0;
  uint64_t schedule_dependent_ = 0;
  std::set<std::string> known_seen_;  // known deviations this kernel showed, by id
  std::optional<ProcessHygiene> start_hygiene_;

  // The verdicts of a run that are findings; notes the known deviations it showed.
  std::vector<Verdict> Findings(const RunResult& result, const Scenario& scenario);
  // Makes the model follow the quirks of the known deviations seen; true when one is new.
  bool FollowNewQuirks();
  // Bumps the kernel-PC counters of a run's PCs and notes the new ones.
  void NoteKernelPcs(const RunResult& result);
  // Counts a finding dropped as schedule-dependent, and appends it to the dropped file.
  void DropScheduleDependent(const Verdict& verdict, const Scenario& scenario);
};

// The known-deviations file: $ADDFDLAB_KNOWN_DEVIATIONS, else known-deviations.json beside
// the running binary (ClusterFuzzLite's $OUT), else `repository_list` (the tools pass the
// source tree's corpus/contract/known-deviations.json: the library does not know it).
std::string KnownDeviationsPath(const std::string& repository_list);

}  // namespace addfdlab

#endif  // ADDFDLAB_FUZZ_HARNESS_H_
