// addfdlab repro: replays a scenario and prints its trace and verdict; with --runs, the
// reproduction rate of each verdict and how many runs gave exactly the first run's verdict;
// with --emit-c, the scenario as a standalone C program instead (docs/reproducers.md).
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "addfdlab/executor.h"
#include "addfdlab/fuzz_harness.h"
#include "addfdlab/known_deviations.h"
#include "commands.h"
#include "findings.h"
#include "scenario_file.h"

namespace addfdlab::tools {
namespace {

struct ReproOptions {
  std::vector<std::string> files;  // one, or (with --profile) any number
  std::string file;                // the one replayed without --profile
  int runs = 1;
  bool json = false;
  bool profile = false;
  std::string known;  // known-deviations file; default KnownDeviationsPath()
  bool emit_c = false;
  bool kcov = false;   // print the first run's kernel PCs
  std::string output;  // --emit-c: where the program goes ("" or "-": stdout)
};

// Writes the scenario's C reproducer; nothing runs.
int RunEmitC(const ReproOptions& options, const Scenario& scenario) {
  const Result<std::string> program = FindingReproC(scenario, options.file);
  if (!program) {
    std::cerr << options.file << ": " << program.error().message() << "\n";
    return kExitUsage;
  }
  if (options.output.empty() || options.output == "-") {
    std::cout << *program;
    return 0;
  }
  std::ofstream out(options.output, std::ios::binary | std::ios::trunc);
  out << *program;
  out.close();
  if (!out) {
    std::cerr << "addfdlab repro: cannot write " << options.output << "\n";
    return kExitUsage;
  }
  return 0;
}

// The known-deviations list --known names (default: the repository's), or nullopt after
// saying on stderr why it cannot be read.
std::optional<std::vector<KnownDeviation>> LoadKnown(const ReproOptions& options) {
  const std::string path =
      options.known.empty() ? KnownDeviationsPath(RepositoryKnownDeviations()) : options.known;
  Result<std::vector<KnownDeviation>> known = LoadKnownDeviations(path);
  if (!known) {
    std::cerr << "addfdlab repro: " << known.error().message() << "\n";
    return std::nullopt;
  }
  return std::move(*known);
}

nlohmann::json TraceJson(const RunResult& result, const Scenario& scenario) {
  nlohmann::json ops = nlohmann::json::array();
  for (const TraceEntry& entry : result.trace) {
    nlohmann::json op = {{"op", entry.op + 1}, {"text", entry.text}};
    if (entry.observed) op["observed"] = DescribeOutcome(*entry.observed);
    nlohmann::json allowed = nlohmann::json::array();
    for (const Outcome& o : entry.prediction.allowed) allowed.push_back(DescribeOutcome(o));
    op["allowed"] = allowed;
    if (!entry.prediction.cell.empty()) op["cell"] = entry.prediction.cell;
    if (!entry.note.empty()) op["note"] = entry.note;
    ops.push_back(op);
  }
  nlohmann::json verdicts = nlohmann::json::array();
  for (const Verdict& v : result.verdicts) {
    verdicts.push_back({{"kind", VerdictKindName(v.kind)},
                        {"cell", v.cell},
                        {"op", v.op + 1},
                        {"fd", v.fd},
                        {"expected", v.expected},
                        {"observed", v.observed},
                        {"detail", v.detail},
                        {"signature", v.Signature(scenario)},
                        {"text", v.Describe(scenario)}});
  }
  return {{"trace", ops}, {"verdicts", verdicts}, {"deterministic", result.deterministic}};
}

// --kcov: the first run's kernel PCs as function+offset, or why there are none.
nlohmann::json KernelPcsJson(const Executor& executor, const RunResult& result) {
  nlohmann::json pcs = nlohmann::json::array();
  if (executor.kcov_filter() == nullptr) return {{"kcov", executor.kcov_status()}, {"pcs", pcs}};
  for (uint64_t pc : result.kernel_pcs) {
    if (auto where = executor.kcov_filter()->Describe(pc)) pcs.push_back(where->ToString());
  }
  return {
      {"kcov", executor.kcov_status()}, {"pcs", pcs}, {"truncated", result.kernel_pcs_truncated}};
}

void PrintKernelPcs(const Executor& executor, const RunResult& result) {
  const nlohmann::json pcs = KernelPcsJson(executor, result);
  if (executor.kcov_filter() == nullptr) {
    std::cout << "kernel PCs: none collected (kcov: " << executor.kcov_status() << ")\n";
    return;
  }
  std::cout << "kernel PCs reached in the addfd path: " << pcs["pcs"].size()
            << (result.kernel_pcs_truncated ? " (a trace buffer filled up)" : "") << "\n";
  for (const auto& pc : pcs["pcs"]) std::cout << "  " << pc.get<std::string>() << "\n";
}

// --profile: every file --runs times in one executor, one line per file, then where the
// runs spent their time (docs/fuzzing.md, "Reading the profile").
int RunProfiled(const ReproOptions& options) {
  std::vector<std::pair<std::string, Scenario>> scenarios;
  for (const std::string& file : options.files) {
    auto scenario = LoadScenario(file);
    if (!scenario) {
      std::cerr << scenario.error().message() << "\n";
      return kExitUsage;
    }
    if (const Result<void> valid = ValidateScenario(*scenario); !valid) {
      std::cerr << file << ": invalid scenario: " << valid.error().message() << "\n";
      return kExitUsage;
    }
    scenarios.emplace_back(file, std::move(*scenario));
  }
  const std::optional<std::vector<KnownDeviation>> known = LoadKnown(options);
  if (!known) return kExitUsage;
  Executor executor;
  int new_runs = 0;
  for (const auto& [file, scenario] : scenarios) {
    int clean = 0, known_runs = 0, findings = 0, unscheduled = 0;
    for (int run = 0; run < options.runs; ++run) {
      const RunResult result = executor.Run(scenario);
      if (!result.deterministic) {
        ++unscheduled;
      } else if (result.clean()) {
        ++clean;
      } else if (MatchKnownRun(*known, result.verdicts, scenario) != nullptr) {
        ++known_runs;
      } else {
        ++findings;
      }
    }
    new_runs += findings;
    std::cout << file << ": " << clean << " clean, " << known_runs << " known, " << findings
              << " with a verdict, " << unscheduled << " off schedule\n";
  }
  std::cout << "\n" << executor.profile().Format();
  const PoolStats pools = executor.pool_stats();
  std::cout << "targets: " << pools.spawned << " spawned (" << pools.ahead
            << " of them ahead of their run), " << pools.reused << " reused, " << pools.replaced
            << " replaced\n";
  std::cout << "scheduling " << DescribeScheduling(executor.scheduling()) << "\n";
  return new_runs == 0 ? 0 : 1;
}

int RunRepro(const ReproOptions& options) {
  auto scenario = LoadScenario(options.file);
  if (!scenario) {
    std::cerr << scenario.error().message() << "\n";
    return kExitUsage;
  }
  if (const Result<void> valid = ValidateScenario(*scenario); !valid) {
    std::cerr << options.file << ": invalid scenario: " << valid.error().message() << "\n";
    return kExitUsage;
  }
  if (options.emit_c) return RunEmitC(options, *scenario);
  const std::optional<std::vector<KnownDeviation>> known = LoadKnown(options);
  if (!known) return kExitUsage;
  ExecutorOptions executor_options;
  executor_options.kcov = options.kcov;
  Executor executor(executor_options);
  RunResult first = executor.Run(*scenario);
  // A known kernel bug is not a finding: it is reported with its fix, and exits 0.
  const KnownDeviation* bug = MatchKnownRun(*known, first.verdicts, *scenario);
  std::map<std::string, int> seen;  // verdict signature -> runs it appeared in
  int new_runs = 0;                 // runs with a verdict no known deviation explains
  int unscheduled = 0;  // runs that did not keep to their schedule: their verdicts do not count
  std::set<std::string> first_verdict;
  int same = 0;  // runs whose verdict signatures are exactly the first run's
  const auto count = [&](const RunResult& result) {
    if (!result.deterministic) {
      ++unscheduled;
    } else if (!result.clean() && MatchKnownRun(*known, result.verdicts, *scenario) == nullptr) {
      ++new_runs;
    }
    std::set<std::string> once;
    for (const Verdict& v : result.verdicts) once.insert(v.Signature(*scenario));
    for (const std::string& signature : once) ++seen[signature];
    return once;
  };
  first_verdict = count(first);
  ++same;
  std::string first_differing;  // the first run whose verdict differs, as text
  for (int run = 1; run < options.runs; ++run) {
    const RunResult result = executor.Run(*scenario);
    if (count(result) == first_verdict) {
      ++same;
    } else if (first_differing.empty()) {
      first_differing = "run " + std::to_string(run + 1) + ":";
      for (const Verdict& v : result.verdicts) first_differing += "\n  " + v.Describe(*scenario);
      if (result.verdicts.empty()) first_differing += "\n  clean";
    }
  }

  if (options.json) {
    nlohmann::json out = TraceJson(first, *scenario);
    out["file"] = options.file;
    out["kernel"] = executor.features().release;
    out["runs"] = options.runs;
    nlohmann::json rates = nlohmann::json::object();
    for (const auto& [signature, runs] : seen) {
      rates[signature] = static_cast<double>(runs) / options.runs;
    }
    out["reproduction"] = rates;
    if (bug != nullptr) out["known_deviation"] = {{"id", bug->id}, {"fix", bug->FixText()}};
    if (options.kcov) out["kernel_pcs"] = KernelPcsJson(executor, first);
    out["same_as_first"] = same;
    if (!first_differing.empty()) out["first_differing"] = first_differing;
    out["schedule_reruns"] = executor.schedule_reruns();
    out["unscheduled_runs"] = unscheduled;
    out["scheduling"] = {{"mode", SchedModeName(executor.scheduling().mode)},
                         {"why", executor.scheduling().why}};
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << first.Format(*scenario);
    if (executor.scheduling().mode != SchedMode::kFifo) {
      std::cout << "note: scheduling " << DescribeScheduling(executor.scheduling()) << "\n";
    }
    if (!first.deterministic) {
      std::cout << "note: the run did not keep to its schedule (a target ran out of turn): "
                   "its verdicts say nothing about the kernel\n";
    }
    if (options.runs > 1) {
      for (const auto& [signature, runs] : seen) {
        std::cout << "reproduced " << runs << "/" << options.runs << ": " << signature << "\n";
      }
      std::cout << "same verdict as the first run: " << same << "/" << options.runs << "\n";
      std::cout << "runs repeated because a target ran outside a quiescence point: "
                << executor.schedule_reruns() << "\n";
      std::cout << "runs that never kept to their schedule (their verdicts do not count): "
                << unscheduled << "\n";
      if (!first_differing.empty()) std::cout << "first differing " << first_differing << "\n";
    }
    if (options.kcov) PrintKernelPcs(executor, first);
    if (bug != nullptr) {
      std::cout << "known kernel bug " << bug->id << " (" << bug->cell
                << "), not a finding; fix: " << bug->FixText() << "\n";
    }
  }
  return new_runs == 0 ? 0 : 1;
}

}  // namespace

void AddReproCommand(CLI::App& app, Runner& run) {
  auto options = std::make_shared<ReproOptions>();
  CLI::App* cmd = app.add_subcommand(
      "repro", "Replay a scenario (.scn text or binary) and print its trace and verdict");
  cmd->add_option("file", options->files, "The scenario (with --profile: any number)")->required();
  cmd->add_option("--runs", options->runs, "Replay N times and report each verdict's rate")
      ->check(CLI::Range(1, 100000));
  cmd->add_flag("--json", options->json, "Print JSON");
  cmd->add_flag("--kcov", options->kcov,
                "Also print the kernel PCs the first run reached in the notifier and "
                "fd-install functions (a kernel with KCOV: the debug kernel, docs/coverage.md)");
  cmd->add_flag("--emit-c", options->emit_c,
                "Write the scenario as a standalone C reproducer (TAP; exit 0 conforms, 1 "
                "deviates, 4 skip) instead of running it");
  cmd->add_option("-o,--output", options->output, "--emit-c: the C file (default stdout)");
  cmd->add_flag("--profile", options->profile,
                "Replay every file --runs times and print the time per run in each phase");
  cmd->add_option("--known", options->known,
                  "Known-deviations JSON (default: the repository's "
                  "corpus/contract/known-deviations.json)")
      ->check(CLI::ExistingFile);
  cmd->callback([&run, options] {
    if (options->profile) {
      if (options->json) throw CLI::ValidationError("--profile", "does not print JSON");
      if (options->emit_c) throw CLI::ValidationError("--profile", "not with --emit-c");
      run = [options] { return RunProfiled(*options); };
      return;
    }
    if (options->files.size() != 1) {
      throw CLI::ValidationError("file", "one scenario (several only with --profile)");
    }
    options->file = options->files.front();
    run = [options] { return RunRepro(*options); };
  });
}

}  // namespace addfdlab::tools
