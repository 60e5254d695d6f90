// The kernel fuzz targets' shared harness.
#include "addfdlab/fuzz_harness.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <utility>

#include "addfdlab/cells.h"
#include "addfdlab/environment.h"
#include "addfdlab/model.h"

namespace addfdlab {

std::string KnownDeviationsPath(const std::string& repository_list) {
  if (std::string path = ReadEnvironment().known_deviations; !path.empty()) return path;
  // Beside the binary: a ClusterFuzzLite build puts the list into $OUT with the targets,
  // and the runner has no source tree.
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const std::filesystem::path beside = exe.parent_path() / "known-deviations.json";
    if (std::filesystem::exists(beside, ec)) return beside.string();
  }
  return repository_list;
}

FuzzHarnessOptions FuzzHarnessOptions::FromEnvironment(const std::string& repository_list) {
  FuzzHarnessOptions options;
  options.known_deviations = KnownDeviationsPath(repository_list);
  options.cells_file = ReadEnvironment().cells_file;
  options.dropped_file = ReadEnvironment().dropped_file;
  options.profile_file = ReadEnvironment().profile_file;
  options.kernel_pcs_file = ReadEnvironment().kernel_pcs_file;
  return options;
}

namespace {

ExecutorOptions HarnessOptions() {
  ExecutorOptions options;
  options.features = ProbeFeatures();
  // Kernel PCs as coverage where the kernel has KCOV; elsewhere nothing changes.
  options.kcov = true;
  return options;
}

}  // namespace

FuzzHarness::FuzzHarness(uint8_t* counters, size_t counter_count, FuzzHarnessOptions options)
    : executor_(HarnessOptions()),
      counters_(counters),
      counter_count_(counter_count),
      cells_file_(std::move(options.cells_file)),
      dropped_file_(std::move(options.dropped_file)),
      profile_file_(std::move(options.profile_file)),
      kernel_pcs_file_(std::move(options.kernel_pcs_file)) {
  const std::string& path = options.known_deviations;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    // No list at all (a target copied without it): every deviation is a finding.
    std::fprintf(stderr, "addfdlab: no known-deviations file at %s: every deviation is a finding\n",
                 path.c_str());
  } else if (auto known = LoadKnownDeviations(path)) {
    known_ = std::move(*known);
  } else {
    known_error_ = std::move(known).error();
    std::fprintf(stderr, "addfdlab: known deviations: %s\n", known_error_->message().c_str());
  }
  if (const std::string& cell = executor_.options().mutate_cell; !cell.empty()) {
    // A planted bug (scripts/planted_bugs.sh): a name that is no cell would plant nothing.
    if (!IsContractCell(cell)) {
      std::fprintf(stderr, "addfdlab: ADDFDLAB_MUTATE_CELL: not a contract cell: %s\n",
                   cell.c_str());
      std::exit(2);
    }
    std::fprintf(stderr, "addfdlab: planted bug: the model is wrong on %s\n", cell.c_str());
  }
  // The supervisor's own counts at the start, compared when the harness goes (at exit).
  if (auto hygiene = executor_.HarnessHygiene()) start_hygiene_ = *hygiene;
  executor_.observe = [this](const Observation& seen) {
    if (IsContractCell(seen.cell) && cells_reached_.insert(seen.cell).second &&
        !cells_file_.empty()) {
      // `addfdlab fuzz` counts the cells its jobs reached from this file.
      if (FILE* out = std::fopen(cells_file_.c_str(), "a")) {
        std::fprintf(out, "%s\n", seen.cell.c_str());
        std::fclose(out);
      }
    }
    if (counters_ == nullptr || counter_count_ == 0) return;
    // One feature per (op kind, notification state, outcome, queued requests, fd-slot
    // class, cell) tuple.
    const size_t key =
        std::hash<std::string>{}(seen.cell) ^ (static_cast<size_t>(seen.kind) << 1) ^
        (static_cast<size_t>(seen.state) << 8) ^ (static_cast<size_t>(seen.err + 1) << 12) ^
        (static_cast<size_t>(seen.queued) << 24) ^ (static_cast<size_t>(seen.slot) << 28);
    uint8_t& counter = counters_[key % counter_count_];
    if (counter != 0xff) ++counter;
  };
}

FuzzHarness::~FuzzHarness() {
  if (!profile_file_.empty() && executor_.profile().runs > 0) {
    if (FILE* out = std::fopen(profile_file_.c_str(), "a")) {
      std::fprintf(out, "%s\n", executor_.profile().Line().c_str());
      std::fclose(out);
    }
  }
  if (start_hygiene_) {
    if (auto end = executor_.HarnessHygiene()) {
      // One line on stderr, which `addfdlab fuzz` sums up over its jobs.
      const std::string change = DescribeHygieneChange(*start_hygiene_, *end);
      std::fprintf(stderr, "addfdlab harness hygiene: %zu fds, %d threads, %zu children; %s\n",
                   end->fds.size(), end->threads, end->children.size(),
                   change.empty() ? "the same as at the start" : change.c_str());
    }
  }
  // The last line: `fuzz --vm debug` carries it back from the guest.
  if (executor_.kcov_filter() != nullptr && executor_.profile().runs > 0) {
    std::fprintf(stderr, "addfdlab kernel coverage: kernel PCs reached in the addfd path: %zu\n",
                 kernel_pcs_.size());
  }
}

void FuzzHarness::NoteKernelPcs(const RunResult& result) {
  const KcovFilter* filter = executor_.kcov_filter();
  if (filter == nullptr) return;
  FILE* out = nullptr;
  for (uint64_t pc : result.kernel_pcs) {
    if (pc_counters_ != nullptr && pc_counter_count_ > 0) {
      uint8_t& counter = pc_counters_[std::hash<uint64_t>{}(pc) % pc_counter_count_];
      if (counter != 0xff) ++counter;
    }
    if (!kernel_pcs_.insert(pc).second || kernel_pcs_file_.empty()) continue;
    if (out == nullptr) out = std::fopen(kernel_pcs_file_.c_str(), "a");
    if (out == nullptr) continue;
    if (auto where = filter->Describe(pc)) std::fprintf(out, "%s\n", where->ToString().c_str());
  }
  if (out != nullptr) std::fclose(out);
}

bool FuzzHarness::MayBeFinding(const Verdict& verdict) {
  return verdict.kind != Verdict::Kind::kExpect && !IsPatternCell(verdict.cell);
}

std::vector<Verdict> FuzzHarness::Findings(const RunResult& result, const Scenario& scenario) {
  std::vector<Verdict> findings;
  for (const Verdict& v : result.verdicts) {
    if (!MayBeFinding(v)) continue;
    if (const KnownDeviation* d = MatchKnownDeviation(known_, v, scenario)) {
      known_seen_.insert(d->id);
      continue;
    }
    findings.push_back(v);
  }
  return findings;
}

bool FuzzHarness::FollowNewQuirks() {
  bool changed = false;
  for (const KnownDeviation& d : known_) {
    if (d.model_quirk.empty() || known_seen_.count(d.id) == 0) continue;
    ModelEnv env = executor_.env();
    if (!SetModelQuirk(&env, d.model_quirk) || env == executor_.env()) continue;
    executor_.FollowQuirk(d.model_quirk);
    std::fprintf(stderr,
                 "addfdlab: this kernel shows known deviation %s (%s); the model follows it "
                 "from now on\n",
                 d.id.c_str(), d.cell.c_str());
    changed = true;
  }
  return changed;
}

void FuzzHarness::DropScheduleDependent(const Verdict& verdict, const Scenario& scenario) {
  ++schedule_dependent_;
  if (dropped_file_.empty()) return;
  if (FILE* out = std::fopen(dropped_file_.c_str(), "a")) {
    std::fprintf(out, "%s\n", verdict.Signature(scenario).c_str());
    std::fclose(out);
  }
}

std::vector<Verdict> FuzzHarness::Run(const Scenario& scenario) {
  if (known_error_) {
    Verdict v;
    v.kind = Verdict::Kind::kHarness;
    v.detail = "known deviations: " + known_error_->message();
    return {v};
  }
  RunResult result = executor_.Run(scenario);
  NoteKernelPcs(result);
  std::vector<Verdict> findings = Findings(result, scenario);
  // A known deviation changes what follows it: once this kernel showed one, the model
  // follows the kernel there, and the input runs again to check the rest of it.
  if (findings.empty() && FollowNewQuirks()) {
    result = executor_.Run(scenario);
    findings = Findings(result, scenario);
  }
  if (findings.empty()) return findings;
  // A run in which a target ran out of turn says nothing about the kernel.
  if (!result.deterministic) {
    DropScheduleDependent(findings.front(), scenario);
    return {};
  }
  // A verdict is a finding only once it reproduces: twice more, the same signature, each
  // time in a run that kept to its schedule.
  const std::string signature = findings.front().Signature(scenario);
  for (int again = 0; again < 2; ++again) {
    const RunResult rerun = executor_.Run(scenario);
    if (!rerun.deterministic) {
      DropScheduleDependent(findings.front(), scenario);
      return {};
    }
    const std::vector<Verdict> retry = Findings(rerun, scenario);
    if (retry.empty() || retry.front().Signature(scenario) != signature) {
      ++unreproduced_;
      return {};
    }
  }
  return findings;
}

std::vector<std::string> FuzzHarness::CellsReachable() const {
  std::vector<std::string> cells;
  for (const CellInfo& cell : kContractCells) {
    if (CellSkipReason(cell, executor_.features()).empty()) cells.emplace_back(cell.id);
  }
  return cells;
}

}  // namespace addfdlab
