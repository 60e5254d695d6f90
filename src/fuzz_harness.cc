// The kernel fuzz targets' shared harness.
#include "addfdlab/fuzz_harness.h"

#include <cstdio>
#include <cstdlib>
#include <functional>

#include "addfdlab/model.h"

namespace addfdlab {

std::string KnownDeviationsPath() {
  if (const char* path = std::getenv("ADDFDLAB_KNOWN_DEVIATIONS")) return path;
  return ADDFDLAB_SOURCE_DIR "/corpus/contract/known-deviations.json";
}

namespace {

std::vector<KnownDeviation> LoadKnown() {
  std::string error;
  auto known = LoadKnownDeviations(KnownDeviationsPath(), &error);
  return known ? *known : std::vector<KnownDeviation>{};
}

// The model follows the known deviations of this kernel, so their consequences further on
// in a fuzz input are not findings either.
ExecutorOptions OptionsFor(const std::vector<KnownDeviation>& known) {
  ExecutorOptions options;
  options.features = ProbeFeatures();
  for (const KnownDeviation& d : known) {
    if (d.Matches(options.features->release)) options.quirks.push_back(d.cell);
  }
  return options;
}

}  // namespace

FuzzHarness::FuzzHarness(uint8_t* counters, size_t counter_count)
    : known_(LoadKnown()),
      executor_(OptionsFor(known_)),
      counters_(counters),
      counter_count_(counter_count) {
  // The supervisor's own counts at the start, compared when the harness goes (at exit).
  if (auto hygiene = executor_.HarnessHygiene()) start_hygiene_ = *hygiene;
  const char* cells_file = std::getenv("ADDFDLAB_CELLS_FILE");
  if (cells_file != nullptr) cells_file_ = cells_file;
  executor_.observe = [this](const Observation& seen) {
    if (!seen.cell.empty() && cells_reached_.insert(seen.cell).second && !cells_file_.empty()) {
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
  if (!start_hygiene_) return;
  auto end = executor_.HarnessHygiene();
  if (!end) return;
  // One line on stderr, which `addfdlab fuzz` sums up over its jobs.
  const std::string change = DescribeHygieneChange(*start_hygiene_, *end);
  std::fprintf(stderr, "addfdlab harness hygiene: %zu fds, %d threads, %zu children; %s\n",
               end->fds.size(), end->threads, end->children.size(),
               change.empty() ? "the same as at the start" : change.c_str());
}

std::vector<Verdict> FuzzHarness::Findings(const RunResult& result) const {
  std::vector<Verdict> findings;
  for (const Verdict& v : result.verdicts) {
    // Expect clauses are a hand-written scenario's own claims; a mutated one keeps them
    // while its ops change, so only the model's oracles speak for fuzz inputs.
    if (v.kind == Verdict::Kind::kExpect) continue;
    bool known = false;
    for (const KnownDeviation& d : known_) {
      known |= d.cell == v.cell && d.Matches(executor_.features().release);
    }
    if (!known) findings.push_back(v);
  }
  return findings;
}

std::vector<Verdict> FuzzHarness::Run(const Scenario& scenario) {
  std::vector<Verdict> findings = Findings(executor_.Run(scenario));
  if (findings.empty()) return findings;
  // A verdict is a finding only once it reproduces: twice more, the same signature.
  const std::string signature = findings.front().Signature(scenario);
  for (int again = 0; again < 2; ++again) {
    const std::vector<Verdict> retry = Findings(executor_.Run(scenario));
    if (retry.empty() || retry.front().Signature(scenario) != signature) {
      ++unreproduced_;
      return {};
    }
  }
  return findings;
}

size_t FuzzHarness::cells_applicable() const {
  size_t count = 0;
  for (const std::string& cell : ContractCells()) {
    if (CellSkipReason(cell, executor_.features()).empty()) ++count;
  }
  return count;
}

}  // namespace addfdlab
