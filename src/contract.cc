// The contract suite runner.
#include "addfdlab/contract.h"

#include <fnmatch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "addfdlab/model.h"
#include "addfdlab/oracle.h"
#include "addfdlab/scenario_text.h"

namespace addfdlab {
namespace {

// What each cell needs beyond seccomp user notification.
struct Requirement {
  const char* prefix;
  Feature feature;
};
constexpr Requirement kRequirements[] = {
    {"ADDFD.SEND", Feature::kSend},
    {"ADDFD.INTR.SEND", Feature::kSend},
    {"SEND.WHILE_ADDFD_SEND", Feature::kSend},
    {"ADDFD.SETFD", Feature::kSetFd},
    {"ADDFD.WAIT_KILLABLE", Feature::kWaitKillableRecv},
    {"RECV.EMPTY", Feature::kRecvEnoent},
    {"SET_FLAGS", Feature::kSyncWakeUp},
    {"ADDFD.", Feature::kAddFd},
};

uint64_t NrOpen() {
  std::ifstream in("/proc/sys/fs/nr_open");
  uint64_t value = 0;
  in >> value;
  return value;
}

}  // namespace

bool KnownDeviation::Matches(const std::string& release) const {
  return std::any_of(kernels.begin(), kernels.end(), [&](const std::string& pattern) {
    return ::fnmatch(pattern.c_str(), release.c_str(), 0) == 0;
  });
}

std::optional<std::vector<KnownDeviation>> LoadKnownDeviations(const std::string& path,
                                                               std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = path + ": cannot read";
    return std::nullopt;
  }
  nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("deviations") ||
      !doc["deviations"].is_array()) {
    *error = path + ": expected a JSON object with a \"deviations\" array";
    return std::nullopt;
  }
  std::vector<KnownDeviation> out;
  size_t index = 0;
  for (const auto& entry : doc["deviations"]) {
    const std::string where = path + ": deviations[" + std::to_string(index++) + "]";
    if (!entry.is_object() || !entry.contains("cell") || !entry["cell"].is_string() ||
        !entry.contains("kernels") || !entry["kernels"].is_array() || !entry.contains("evidence") ||
        !entry["evidence"].is_string()) {
      *error = where + ": needs \"cell\" (string), \"kernels\" (array) and \"evidence\"";
      return std::nullopt;
    }
    KnownDeviation d;
    d.cell = entry["cell"];
    d.evidence = entry["evidence"];
    if (entry.contains("fix") && entry["fix"].is_string()) d.fix = entry["fix"];
    for (const auto& k : entry["kernels"]) {
      if (!k.is_string()) {
        *error = where + ": kernels must be strings";
        return std::nullopt;
      }
      d.kernels.push_back(k);
    }
    const auto& cells = ContractCells();
    if (std::find(cells.begin(), cells.end(), d.cell) == cells.end()) {
      *error = where + ": unknown cell '" + d.cell + "'";
      return std::nullopt;
    }
    out.push_back(std::move(d));
  }
  return out;
}

const char* CellStatusName(CellRow::Status status) {
  switch (status) {
    case CellRow::Status::kPass:
      return "PASS";
    case CellRow::Status::kDeviates:
      return "DEVIATES";
    case CellRow::Status::kKnown:
      return "KNOWN";
    case CellRow::Status::kStale:
      return "STALE";
    case CellRow::Status::kSkip:
      return "SKIP";
    case CellRow::Status::kMissing:
      return "MISSING";
  }
  return "?";
}

bool ContractReport::ok() const {
  return std::none_of(rows.begin(), rows.end(), [](const CellRow& row) {
    return row.status == CellRow::Status::kDeviates || row.status == CellRow::Status::kStale ||
           row.status == CellRow::Status::kMissing;
  });
}

std::string CellSkipReason(const std::string& cell, const Features& features) {
  if (!features.has(Feature::kUserNotification)) return "no seccomp user notification";
  if (cell == "ADDFD.LOCK.EINTR") {
    return "the notifier lock is held only inside the kernel, for microseconds: no "
           "deterministic schedule reaches it from user space (the fuzzer looks for it)";
  }
  if (cell == "ADDFD.LSM" || cell == "ADDFD.NOMEM") {
    if (!features.has(Feature::kFailNth)) {
      return "needs kernel fault injection on the fd-install path (CONFIG_FAULT_INJECTION, "
             "fail-nth): a debug kernel in a VM";
    }
    return "fail-nth is present, but the fd-install path has no injectable allocation in a "
           "stock kernel";
  }
  if (cell == "ADDFD.SETFD.NR_OPEN") {
    const uint64_t nr_open = NrOpen();
    if (nr_open == 0 || nr_open >= 20000) {
      return "needs fs.nr_open below the targets' RLIMIT_NOFILE; fs.nr_open is global, so "
             "only inside a VM";
    }
  }
  for (const Requirement& r : kRequirements) {
    if (cell.rfind(r.prefix, 0) == 0 && !features.has(r.feature)) {
      return std::string("feature ") + FeatureName(r.feature) +
             " absent: " + features.get(r.feature).evidence;
    }
  }
  return "";
}

ContractReport RunContract(const std::string& dir, const std::vector<KnownDeviation>& known,
                           Executor& executor, std::string* error) {
  const auto start = std::chrono::steady_clock::now();
  ContractReport report;
  report.kernel = executor.features().release;
  report.deterministic = executor.deterministic();
  std::map<std::string, CellRow> rows;
  for (const std::string& cell : ContractCells()) rows[cell].cell = cell;

  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".scn") files.push_back(entry.path());
  }
  if (ec) {
    *error = dir + ": " + ec.message();
    return report;
  }
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    ParseError parse_error;
    auto scenario = ParseScenario(text.str(), path.string(), &parse_error);
    if (!scenario) {
      *error = parse_error.ToString();
      return report;
    }
    std::string skip;
    for (const std::string& cell : scenario->cells) {
      if (skip.empty()) skip = CellSkipReason(cell, executor.features());
    }
    RunResult result;
    std::string flaky;
    if (skip.empty()) {
      result = executor.Run(*scenario);
      // A finding counts once it reproduces: run a deviating scenario twice more.
      if (!result.clean()) {
        const std::string signature = result.verdicts.front().Signature(*scenario);
        int reproduced = 1;
        for (int again = 0; again < 2; ++again) {
          const RunResult retry = executor.Run(*scenario);
          if (!retry.clean() && retry.verdicts.front().Signature(*scenario) == signature) {
            ++reproduced;
          }
        }
        if (reproduced < 3) {
          flaky = "did not reproduce (" + std::to_string(reproduced) +
                  "/3): " + result.verdicts.front().Describe(*scenario);
          if (reproduced == 1) result = RunResult{};
        }
      }
    }
    for (const std::string& cell : scenario->cells) {
      auto it = rows.find(cell);
      if (it == rows.end()) {
        *error = path.string() + ": unknown cell '" + cell + "'";
        return report;
      }
      CellRow& row = it->second;
      // A cell carried by several scenarios keeps its worst row.
      if (row.status == CellRow::Status::kDeviates) continue;
      row.scenario = path.filename().string();
      if (!skip.empty()) {
        if (row.status == CellRow::Status::kMissing) {
          row.status = CellRow::Status::kSkip;
          row.reason = skip;
        }
        continue;
      }
      if (!result.clean()) {
        const Verdict& v = result.verdicts.front();
        row.status = CellRow::Status::kDeviates;
        row.expected = v.expected;
        row.observed = v.observed;
        row.reason = flaky.empty() ? v.Describe(*scenario) : flaky;
        continue;
      }
      row.status = CellRow::Status::kPass;
      row.reason = flaky;
      // The op the model decided by this cell, or the first checked one.
      for (const TraceEntry& entry : result.trace) {
        if (!entry.observed || entry.prediction.allowed.empty()) continue;
        const bool by_cell = entry.prediction.cell == cell;
        if (by_cell || row.expected.empty()) {
          row.expected = DescribeAllowed(entry.prediction.allowed);
          row.observed = DescribeOutcome(*entry.observed);
          if (by_cell) break;
        }
      }
    }
  }
  for (const std::string& cell : ContractCells()) {
    CellRow& row = rows[cell];
    for (const KnownDeviation& d : known) {
      if (d.cell != cell || !d.Matches(report.kernel)) continue;
      if (row.status == CellRow::Status::kDeviates) {
        row.status = CellRow::Status::kKnown;
        row.reason = "known: " + d.evidence + (d.fix.empty() ? "" : " (fix: " + d.fix + ")");
      } else if (row.status == CellRow::Status::kPass) {
        row.status = CellRow::Status::kStale;
        row.reason = "listed as a known deviation on this kernel, but it no longer deviates";
      }
    }
    report.rows.push_back(row);
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace addfdlab
