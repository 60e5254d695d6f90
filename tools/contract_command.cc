// addfdlab contract: the conformance table of the running kernel against the contract.
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "addfdlab/contract.h"
#include "commands.h"

namespace addfdlab::tools {
namespace {

struct ContractOptions {
  std::string dir = "corpus/contract";
  std::string known;
  bool json = false;
  std::string mutate_cell;  // test seam: the model is made wrong on this cell
};

// Where to look when the kernel deviates in a way no known deviation explains.
void ExplainNewDeviations(const ContractReport& report, const std::string& dir) {
  std::string cells;
  for (const CellRow& row : report.rows) {
    if (row.status != CellRow::Status::kDeviates) continue;
    cells += "  " + row.cell + ": " + row.reason + "\n    replay: addfdlab repro " + dir + "/" +
             row.scenario + " --runs 20\n";
    std::istringstream trace(row.trace);
    for (std::string line; std::getline(trace, line);) cells += "      " + line + "\n";
  }
  if (cells.empty()) return;
  std::cerr << "\naddfdlab contract: the kernel (" << report.kernel
            << ") deviates from the contract where no known deviation explains it:\n"
            << cells
            << "This is the running kernel's behaviour, not a failure of addfdlab: confirm it\n"
               "against the kernel source and file it as docs/triage.md says (then list it in\n"
               "known-deviations.json, so that it counts as KNOWN on every kernel that shows "
               "it).\n";
}

nlohmann::json ReportJson(const ContractReport& report) {
  nlohmann::json rows = nlohmann::json::array();
  for (const CellRow& row : report.rows) {
    rows.push_back({{"cell", row.cell},
                    {"status", CellStatusName(row.status)},
                    {"expected", row.expected},
                    {"observed", row.observed},
                    {"reason", row.reason},
                    {"scenario", row.scenario},
                    {"known", row.known},
                    {"trace", row.trace}});
  }
  nlohmann::json known = nlohmann::json::array();
  for (const KnownStatus& k : report.known) {
    known.push_back({{"id", k.deviation->id},
                     {"cell", k.deviation->cell},
                     {"state", KnownStateName(k.state)},
                     {"fix", k.deviation->FixText()}});
  }
  return {{"kernel", report.kernel},
          {"deterministic", report.scheduling.mode != SchedMode::kFree},
          {"scheduling",
           {{"mode", SchedModeName(report.scheduling.mode)}, {"why", report.scheduling.why}}},
          {"seconds", report.seconds},
          {"ok", report.ok()},
          {"cells", rows},
          {"known_deviations", known}};
}

void PrintTable(const ContractReport& report) {
  std::printf("kernel %s, scheduling %s\n\n", report.kernel.c_str(),
              DescribeScheduling(report.scheduling).c_str());
  std::printf("%-32s %-9s %-14s %-14s %s\n", "cell", "status", "expected", "observed",
              "scenario / reason");
  int counts[5] = {};
  for (const CellRow& row : report.rows) {
    ++counts[static_cast<int>(row.status)];
    std::string note = row.scenario;
    if (!row.reason.empty()) note += (note.empty() ? "" : ": ") + row.reason;
    std::printf("%-32s %-9s %-14s %-14s %s\n", row.cell.c_str(), CellStatusName(row.status),
                row.expected.c_str(), row.observed.c_str(), note.c_str());
  }
  if (!report.known.empty()) std::printf("\nknown kernel bugs, matched by behaviour:\n");
  for (const KnownStatus& k : report.known) {
    const char* state = k.state == KnownStatus::State::kShows   ? "shows on this kernel"
                        : k.state == KnownStatus::State::kFixed ? "fixed on this kernel"
                                                                : "not tested here";
    std::printf("  %-32s %-22s %s; fix: %s\n", k.deviation->id.c_str(), state,
                k.deviation->cell.c_str(), k.deviation->FixText().c_str());
  }
  std::printf(
      "\n%zu cells: %d pass, %d known deviations, %d skip, %d deviate, %d missing; %.2f s\n",
      report.rows.size(), counts[0], counts[2], counts[3], counts[1], counts[4], report.seconds);
}

int RunContractCommand(const ContractOptions& options) {
  const std::string known_path =
      options.known.empty() ? options.dir + "/known-deviations.json" : options.known;
  auto known = LoadKnownDeviations(known_path);
  if (!known) {
    std::cerr << "addfdlab contract: " << known.error().message() << "\n";
    return kExitUsage;
  }
  ExecutorOptions executor_options;
  executor_options.mutate_cell = options.mutate_cell;
  Executor executor(executor_options);
  if (!executor.features().has(Feature::kUserNotification)) {
    std::cerr << "addfdlab: this kernel has no seccomp user notification; nothing to run\n";
    return 1;
  }
  const Result<ContractReport> ran = RunContract(options.dir, *known, executor);
  if (!ran) {
    std::cerr << "addfdlab contract: " << ran.error().message() << "\n";
    return kExitUsage;
  }
  const ContractReport& report = *ran;
  if (options.json) {
    std::cout << ReportJson(report).dump(2) << "\n";
  } else {
    PrintTable(report);
  }
  ExplainNewDeviations(report, options.dir);
  return report.ok() ? 0 : 1;
}

}  // namespace

void AddContractCommand(CLI::App& app, Runner& run) {
  auto options = std::make_shared<ContractOptions>();
  CLI::App* cmd = app.add_subcommand(
      "contract", "Run every contract cell's scenarios and print a conformance table");
  cmd->add_option("dir", options->dir, "Folder of contract .scn files")
      ->capture_default_str()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--known", options->known,
                  "Known-deviations JSON (default: DIR/known-deviations.json)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--json", options->json, "Print JSON");
  // Test seam (not in --help): predictions of this cell are altered (or its mechanism
  // broken: SetModelMutant), so the suite sees a deviation no known entry explains, on any
  // kernel.
  cmd->add_option("--mutate-cell", options->mutate_cell)
      ->group("")
      ->check([](const std::string& cell) {
        return IsContractCell(cell) ? std::string() : "not a contract cell: " + cell;
      });
  cmd->callback([&run, options] { run = [options] { return RunContractCommand(*options); }; });
}

}  // namespace addfdlab::tools
