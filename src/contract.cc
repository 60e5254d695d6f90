// The contract suite runner.
#include "addfdlab/contract.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "addfdlab/model.h"
#include "addfdlab/oracle.h"
#include "addfdlab/scenario_text.h"

namespace addfdlab {
namespace {

// Why a scenario's run could not keep to its schedule here, and what would let it.
std::string UnscheduledReason(const Scheduling& scheduling) {
  const std::string fifo =
      "SCHED_FIFO (CAP_SYS_NICE, or RLIMIT_RTPRIO >= " + std::to_string(kFifoLevels) +
      ") would choose it";
  switch (scheduling.mode) {
    case SchedMode::kFifo:
      return "a target ran out of turn in every attempt (real-time throttling: a real-time "
             "neighbour on this CPU); a CPU without one would run it";
    case SchedMode::kIdle:
      return "a target ran out of turn in every attempt (the fair scheduler gave the "
             "SCHED_IDLE targets their share); " +
             fifo;
    case SchedMode::kFree:
      return "its interleaving is not chosen here and a target ran out of turn (free "
             "scheduling: " +
             scheduling.why + "); pinning to one CPU (the idle mode) or " + fifo;
  }
  return "";
}

// Runs a scenario; a deviating run counts only once it reproduces: it runs twice more.
// `flaky` says so when it did not reproduce every time (a run seen once is dropped). A run
// that did not keep to the model's schedule (RunResult::deterministic) says nothing about
// the kernel and does not count either way; when the first run, or two of four repeats, do
// not keep to it, `unscheduled` says why and nothing is returned.
RunResult RunReproduced(Executor& executor, const Scenario& scenario, std::string* flaky,
                        std::string* unscheduled) {
  const auto off_schedule = [&] {
    *unscheduled = "not run to its schedule: " + UnscheduledReason(executor.scheduling());
    return RunResult{};
  };
  RunResult result = executor.Run(scenario);
  if (!result.deterministic) return off_schedule();
  if (result.clean()) return result;
  const std::string signature = result.verdicts.front().Signature(scenario);
  int reproduced = 1;
  int counted = 1;
  for (int again = 0; again < 4 && counted < 3; ++again) {
    const RunResult retry = executor.Run(scenario);
    if (!retry.deterministic) continue;
    ++counted;
    if (!retry.clean() && retry.verdicts.front().Signature(scenario) == signature) ++reproduced;
  }
  if (counted < 3) return off_schedule();
  if (reproduced < 3) {
    *flaky = "did not reproduce (" + std::to_string(reproduced) +
             "/3): " + result.verdicts.front().Describe(scenario);
    if (reproduced == 1) result = RunResult{};
  }
  return result;
}

// The row of a cell whose scenario ran clean: the op the model decided by this cell, or the
// first checked one.
void FillPassRow(const RunResult& result, CellRow& row) {
  row.status = CellRow::Status::kPass;
  for (const TraceEntry& entry : result.trace) {
    if (!entry.observed || entry.prediction.allowed.empty()) continue;
    const bool by_cell = entry.prediction.cell == row.cell;
    if (by_cell || row.expected.empty()) {
      row.expected = DescribeAllowed(entry.prediction.allowed);
      row.observed = DescribeOutcome(*entry.observed);
      if (by_cell) break;
    }
  }
}

}  // namespace

const char* CellStatusName(CellRow::Status status) {
  switch (status) {
    case CellRow::Status::kPass:
      return "PASS";
    case CellRow::Status::kDeviates:
      return "DEVIATES";
    case CellRow::Status::kKnown:
      return "KNOWN";
    case CellRow::Status::kSkip:
      return "SKIP";
    case CellRow::Status::kMissing:
      return "MISSING";
  }
  return "?";
}

const char* KnownStateName(KnownStatus::State state) {
  switch (state) {
    case KnownStatus::State::kShows:
      return "shows";
    case KnownStatus::State::kFixed:
      return "fixed";
    case KnownStatus::State::kUntested:
      return "untested";
  }
  return "?";
}

bool ContractReport::ok() const {
  return std::none_of(rows.begin(), rows.end(), [](const CellRow& row) {
    return row.status == CellRow::Status::kDeviates || row.status == CellRow::Status::kMissing;
  });
}

Result<ContractReport> RunContract(const std::string& dir, const std::vector<KnownDeviation>& known,
                                   Executor& executor) {
  const auto start = std::chrono::steady_clock::now();
  ContractReport report;
  report.kernel = executor.features().release;
  report.scheduling = executor.scheduling();
  std::map<std::string, CellRow> rows;
  for (const std::string& cell : ContractCells()) rows[cell].cell = cell;
  std::map<const KnownDeviation*, bool> shown;

  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".scn") files.push_back(entry.path());
  }
  if (ec) return Error(Errno(ec.value()), dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    ParseError parse_error;
    auto scenario = ParseScenario(text.str(), path.string(), &parse_error);
    if (!scenario) return Error::Invalid(parse_error.ToString());
    std::string skip;
    for (const std::string& cell : scenario->cells) {
      const CellInfo* info = FindCell(cell);
      if (info == nullptr) return Error::Invalid(path.string() + ": unknown cell '" + cell + "'");
      if (skip.empty()) skip = CellSkipReason(*info, executor.features());
    }
    RunResult result;
    std::string flaky;
    if (skip.empty()) result = RunReproduced(executor, *scenario, &flaky, &skip);
    const KnownDeviation* match = MatchKnownRun(known, result.verdicts, *scenario);
    if (match != nullptr && flaky.empty()) shown[match] = true;
    for (const std::string& cell : scenario->cells) {
      CellRow& row = rows[cell];
      // A cell carried by several scenarios keeps its worst row.
      if (row.status == CellRow::Status::kDeviates) continue;
      if (!skip.empty()) {
        if (row.status == CellRow::Status::kMissing) {
          row.status = CellRow::Status::kSkip;
          row.reason = skip;
          row.scenario = path.filename().string();
        }
        continue;
      }
      if (row.status == CellRow::Status::kKnown && result.clean()) continue;
      row.scenario = path.filename().string();
      if (result.clean()) {
        FillPassRow(result, row);
        row.reason = flaky;
        continue;
      }
      const Verdict& v = result.verdicts.front();
      row.expected = v.expected;
      row.observed = v.observed;
      row.trace = result.Format(*scenario);
      if (match != nullptr && flaky.empty()) {
        row.status = CellRow::Status::kKnown;
        row.known = match->id;
        row.reason = "known kernel bug " + match->id + ": " + v.Describe(*scenario) +
                     "; fix: " + match->FixText();
      } else {
        row.status = CellRow::Status::kDeviates;
        row.reason = flaky.empty() ? v.Describe(*scenario) : flaky;
      }
    }
  }
  for (const KnownDeviation& d : known) {
    KnownStatus status{&d, KnownStatus::State::kUntested};
    const CellRow& row = rows[d.cell];
    if (shown.count(&d) != 0) {
      status.state = KnownStatus::State::kShows;
    } else if (row.status == CellRow::Status::kPass) {
      status.state = KnownStatus::State::kFixed;
      rows[d.cell].reason =
          "known kernel bug " + d.id + " does not show: fixed on this kernel (" + d.FixText() + ")";
    }
    report.known.push_back(status);
  }
  for (const std::string& cell : ContractCells()) report.rows.push_back(rows[cell]);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace addfdlab
