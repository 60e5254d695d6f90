// addfdlab rollback-matrix: every rollback strategy under every fault at every point of its
// injection, for k = 1, 2, 4, 8 files: what each leaves behind and what rolling back costs.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "addfdlab/rollback.h"
#include "commands.h"
#include "faults/fault_plan.h"
#include "faults/injection_lab.h"
#include "faults/run_spec.h"

namespace addfdlab::tools {
namespace {

using faults::FaultKind;
using faults::FaultPlan;
using rollback::Strategy;

struct MatrixOptions {
  std::vector<std::string> strategies;
  std::vector<int> ks = {1, 2, 4, 8};
  std::vector<std::string> faults;
  bool json = false;
  bool points = false;
  std::string seeds;  // write every run's spec here (the rollback fuzzer's seeds)
};

// The target's table before every injection: 3, 4 and 5 in use. restore-on-replace
// installs from 4 up (so its first two numbers displace target fds); fixed-numbers
// chooses free numbers itself.
const std::vector<int> kLayout = {3, 4, 5};

// How many ioctls the injection itself makes (rollback ioctls come after).
int MainIoctls(Strategy strategy, int k) { return strategy == Strategy::kSendLast ? k : k + 1; }

std::vector<FaultPlan> PlansFor(Strategy strategy, int k, FaultKind kind) {
  std::vector<FaultPlan> plans;
  if (kind == FaultKind::kFailGetfd) {
    // Only restore-on-replace copies files out of the target: fail each copy in turn.
    if (strategy != Strategy::kRestoreOnReplace) return plans;
    for (int i = 0; i < std::min(k, 2); ++i) plans.push_back({kind, FaultPlan::When::kBefore, i});
    return plans;
  }
  for (int i = 0; i < MainIoctls(strategy, k); ++i) {
    plans.push_back({kind, FaultPlan::When::kBefore, i});
    if (kind != FaultKind::kFailIoctl) plans.push_back({kind, FaultPlan::When::kDuring, i});
  }
  return plans;
}

// One seed file per run, named after it; an existing file is kept as it is.
void WriteSeed(const std::string& dir, const faults::RunSpec& spec) {
  std::string name = std::string(rollback::StrategyName(spec.strategy)) + "-k" +
                     std::to_string(spec.k) + "-" + spec.fault.Format();
  std::replace_if(
      name.begin(), name.end(), [](char c) { return !std::isalnum(c) && c != '-'; }, '_');
  const std::filesystem::path path = std::filesystem::path(dir) / (name + ".bin");
  if (std::filesystem::exists(path)) return;
  const std::vector<uint8_t> bytes = faults::EncodeRunSpec(spec);
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

struct Cell {
  int runs = 0;
  int max_leaked = 0;
  int max_dangling = 0;
  int broken = 0;
  int harness = 0;
  double rollback_us = 0;  // sum
  int rollbacks = 0;
};

int RunMatrix(const MatrixOptions& options) {
  std::vector<Strategy> strategies;
  for (const std::string& name : options.strategies) {
    const auto s = rollback::ParseStrategy(name);
    if (!s) {
      std::cerr << "addfdlab rollback-matrix: --strategy: unknown strategy '" << name << "'\n";
      return kExitUsage;
    }
    strategies.push_back(*s);
  }
  if (strategies.empty())
    strategies.assign(std::begin(rollback::kStrategies), std::end(rollback::kStrategies));
  std::vector<FaultKind> kinds;
  for (const std::string& name : options.faults) {
    bool found = false;
    for (FaultKind kind : faults::kFaultKinds) {
      if (faults::FaultKindName(kind) == name) {
        kinds.push_back(kind);
        found = true;
      }
    }
    if (!found) {
      std::cerr << "addfdlab rollback-matrix: --fault: unknown fault '" << name << "'\n";
      return kExitUsage;
    }
  }
  if (kinds.empty()) kinds.assign(std::begin(faults::kFaultKinds), std::end(faults::kFaultKinds));
  for (int k : options.ks) {
    if (k < 1 || k > faults::kMaxFiles) {
      std::cerr << "addfdlab rollback-matrix: --k: " << k << " is outside 1.." << faults::kMaxFiles
                << "\n";
      return kExitUsage;
    }
  }

  if (!options.seeds.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.seeds, ec);
    if (ec) {
      std::cerr << "addfdlab rollback-matrix: --seeds: cannot create " << options.seeds << ": "
                << ec.message() << "\n";
      return kExitUsage;
    }
  }
  faults::InjectionLab lab;
  nlohmann::json runs = nlohmann::json::array();
  // (strategy, fault, when) -> k -> cell
  std::map<std::tuple<int, int, int>, std::map<int, Cell>> cells;
  int broken = 0;
  int harness = 0;
  const auto start = std::chrono::steady_clock::now();
  for (Strategy strategy : strategies) {
    for (int k : options.ks) {
      std::vector<FaultPlan> plans = {FaultPlan{}};
      for (FaultKind kind : kinds) {
        for (const FaultPlan& plan : PlansFor(strategy, k, kind)) plans.push_back(plan);
      }
      for (const FaultPlan& plan : plans) {
        faults::RunSpec spec;
        spec.strategy = strategy;
        spec.k = k;
        spec.layout = kLayout;
        if (strategy == Strategy::kRestoreOnReplace) {
          for (int i = 0; i < k; ++i) spec.numbers.push_back(4 + i);
        }
        spec.fault = plan;
        if (!options.seeds.empty()) WriteSeed(options.seeds, spec);
        const faults::RunReport report = lab.Run(spec);
        const int leaked = static_cast<int>(report.residue.leaked.size());
        const int dangling = static_cast<int>(report.residue.dangling.size());
        const double rollback_us =
            std::chrono::duration<double, std::micro>(report.journal.rollback_time).count();
        Cell& cell = cells[{static_cast<int>(strategy), static_cast<int>(plan.kind),
                            static_cast<int>(plan.when)}][k];
        ++cell.runs;
        cell.max_leaked = std::max(cell.max_leaked, leaked);
        cell.max_dangling = std::max(cell.max_dangling, dangling);
        if (!report.journal.succeeded && report.journal.rollback_time.count() > 0) {
          cell.rollback_us += rollback_us;
          ++cell.rollbacks;
        }
        if (!report.harness_error.empty()) {
          ++cell.harness;
          ++harness;
        } else if (!report.broken.empty()) {
          ++cell.broken;
          ++broken;
        }
        nlohmann::json run = {
            {"strategy", rollback::StrategyName(strategy)},
            {"k", k},
            {"fault", plan.Format()},
            {"fired", report.fault_fired},
            {"landed", report.fault_note},
            {"succeeded", report.journal.succeeded},
            {"leaked", report.residue.leaked},
            {"dangling", report.residue.dangling},
            {"target_gone", report.residue.target_gone},
            {"rollback_us", rollback_us},
            {"journal", report.journal.Format()},
            {"guarantee_kept", report.broken.empty() && report.harness_error.empty()},
        };
        if (!report.broken.empty()) run["broken"] = report.broken;
        if (!report.harness_error.empty()) run["harness_error"] = report.harness_error;
        runs.push_back(run);
        if (options.points && !options.json) {
          std::printf("%-18s k=%d %-28s %-9s leaked %d dangling %d%s%s\n",
                      std::string(rollback::StrategyName(strategy)).c_str(), k,
                      plan.Format().c_str(), report.journal.succeeded ? "succeeded" : "aborted",
                      leaked, dangling,
                      report.broken.empty() ? "" : "  BROKEN: ", report.broken.c_str());
        }
      }
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (options.json) {
    nlohmann::json out = {{"deterministic", lab.deterministic()},
                          {"runs", runs},
                          {"broken", broken},
                          {"harness_errors", harness},
                          {"seconds", seconds}};
    for (Strategy strategy : strategies) {
      out["guarantees"][std::string(rollback::StrategyName(strategy))] =
          rollback::StrategyGuarantee(strategy);
    }
    std::cout << out.dump(2) << "\n";
  } else {
    std::printf(
        "\nPer strategy and fault: the worst leaked/dangling count over the fault's "
        "points, for each k; '!' where the guarantee broke; rollback time is the mean "
        "over aborted runs.\n");
    Strategy last = static_cast<Strategy>(-1);
    for (const auto& [key, by_k] : cells) {
      const auto strategy = static_cast<Strategy>(std::get<0>(key));
      if (strategy != last) {
        std::printf("\n%s: %s\n  %-24s", std::string(rollback::StrategyName(strategy)).c_str(),
                    std::string(rollback::StrategyGuarantee(strategy)).c_str(), "fault");
        for (int k : options.ks) std::printf("  k=%-2d L/D  ", k);
        std::printf("  rollback\n");
        last = strategy;
      }
      const auto kind = static_cast<FaultKind>(std::get<1>(key));
      const std::string name = kind == FaultKind::kNone
                                   ? "none"
                                   : std::string(faults::FaultKindName(kind)) +
                                         (std::get<2>(key) == 0 ? "@before" : "@during");
      std::printf("  %-24s", name.c_str());
      double us = 0;
      int n = 0;
      for (int k : options.ks) {
        auto it = by_k.find(k);
        if (it == by_k.end()) {
          std::printf("  %-11s", "-");
          continue;
        }
        const Cell& c = it->second;
        std::printf("  %3d/%-3d%-4s", c.max_leaked, c.max_dangling,
                    c.broken > 0    ? "!"
                    : c.harness > 0 ? "?"
                                    : "");
        us += c.rollback_us;
        n += c.rollbacks;
      }
      if (n > 0) {
        std::printf("  %7.1f us\n", us / n);
      } else {
        std::printf("  %10s\n", "-");
      }
    }
    std::printf("\n%zu runs in %.1f s%s; guarantee broken in %d, harness errors %d\n", runs.size(),
                seconds, lab.deterministic() ? "" : " (no SCHED_FIFO: faults land where they may)",
                broken, harness);
  }
  return broken > 0 ? 1 : 0;
}

}  // namespace

void AddRollbackMatrixCommand(CLI::App& app, Runner& run) {
  auto options = std::make_shared<MatrixOptions>();
  CLI::App* cmd = app.add_subcommand(
      "rollback-matrix",
      "Every rollback strategy x fault point x k: leaked and dangling fds, rollback time");
  std::vector<std::string> names;
  for (Strategy s : rollback::kStrategies) names.emplace_back(rollback::StrategyName(s));
  names.emplace_back(rollback::StrategyName(Strategy::kBrokenCooperative));
  cmd->add_option("--strategy", options->strategies,
                  "Strategies to run (repeatable; default: all but the test-only mutant)")
      ->check(CLI::IsMember(names));
  cmd->add_option("--k", options->ks, "Files per injection (1..8)")->capture_default_str();
  std::vector<std::string> kinds;
  for (FaultKind kind : faults::kFaultKinds) kinds.emplace_back(faults::FaultKindName(kind));
  cmd->add_option("--fault", options->faults, "Fault kinds to run (repeatable; default: all)")
      ->check(CLI::IsMember(kinds));
  cmd->add_flag("--json", options->json, "Every run as JSON");
  cmd->add_flag("--points", options->points, "A line per run, not only the summary");
  cmd->add_option("--seeds", options->seeds,
                  "Also write each run as a rollback_fuzzer input into this folder (existing "
                  "files are kept)");
  cmd->callback([&run, options] { run = [options] { return RunMatrix(*options); }; });
}

}  // namespace addfdlab::tools
