// addfdlab contract: the conformance table of the running kernel against the contract.
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "addfdlab/contract.h"
#include "commands.h"

namespace addfdlab::tools {
namespace {

struct ContractOptions {
  std::string dir = "corpus/contract";
  std::string known;
  bool json = false;
};

int RunContractCommand(const ContractOptions& options) {
  const std::string known_path =
      options.known.empty() ? options.dir + "/known-deviations.json" : options.known;
  std::string error;
  auto known = LoadKnownDeviations(known_path, &error);
  if (!known) {
    std::cerr << error << "\n";
    return kExitUsage;
  }
  Executor executor;
  if (!executor.features().has(Feature::kUserNotification)) {
    std::cerr << "addfdlab: this kernel has no seccomp user notification; nothing to run\n";
    return 1;
  }
  const ContractReport report = RunContract(options.dir, *known, executor, &error);
  if (!error.empty()) {
    std::cerr << error << "\n";
    return kExitUsage;
  }
  if (options.json) {
    nlohmann::json rows = nlohmann::json::array();
    for (const CellRow& row : report.rows) {
      rows.push_back({{"cell", row.cell},
                      {"status", CellStatusName(row.status)},
                      {"expected", row.expected},
                      {"observed", row.observed},
                      {"reason", row.reason},
                      {"scenario", row.scenario}});
    }
    nlohmann::json out = {{"kernel", report.kernel},
                          {"deterministic", report.deterministic},
                          {"seconds", report.seconds},
                          {"ok", report.ok()},
                          {"cells", rows}};
    std::cout << out.dump(2) << "\n";
  } else {
    std::printf("kernel %s, %s scheduling\n\n", report.kernel.c_str(),
                report.deterministic ? "deterministic" : "free (no SCHED_FIFO)");
    std::printf("%-32s %-9s %-14s %-14s %s\n", "cell", "status", "expected", "observed",
                "scenario / reason");
    int counts[6] = {};
    for (const CellRow& row : report.rows) {
      ++counts[static_cast<int>(row.status)];
      std::string note = row.scenario;
      if (!row.reason.empty()) note += (note.empty() ? "" : ": ") + row.reason;
      std::printf("%-32s %-9s %-14s %-14s %s\n", row.cell.c_str(), CellStatusName(row.status),
                  row.expected.c_str(), row.observed.c_str(), note.c_str());
    }
    std::printf(
        "\n%zu cells: %d pass, %d known deviations, %d skip, %d deviate, %d stale, %d "
        "missing; %.2f s\n",
        report.rows.size(), counts[0], counts[2], counts[4], counts[1], counts[3], counts[5],
        report.seconds);
  }
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
  cmd->callback([&run, options] { run = [options] { return RunContractCommand(*options); }; });
}

}  // namespace addfdlab::tools
