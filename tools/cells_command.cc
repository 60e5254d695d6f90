// addfdlab cells: the contract cell registry, and which cells this kernel can reach.
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "addfdlab/cells.h"
#include "commands.h"

namespace addfdlab::tools {
namespace {

struct CellsOptions {
  bool json = false;
};

int RunCells(const CellsOptions& options) {
  const Features features = ProbeFeatures();
  nlohmann::json cells = nlohmann::json::array();
  size_t reachable = 0;
  if (!options.json) {
    std::printf("%-32s %-10s %-6s %s\n", "cell", "needs", "here", "rule (kernel function)");
  }
  for (const CellInfo& cell : kContractCells) {
    const std::string skip = CellSkipReason(cell, features);
    if (skip.empty()) ++reachable;
    if (options.json) {
      cells.push_back({{"cell", cell.id},
                       {"rule", cell.rule},
                       {"follows", cell.follows},
                       {"needs", FeatureName(cell.needs)},
                       {"reach", ReachName(cell.reach)},
                       {"reachable", skip.empty()},
                       {"skip_reason", skip}});
      continue;
    }
    std::printf("%-32.*s %-10s %-6s %.*s (%.*s)\n", static_cast<int>(cell.id.size()),
                cell.id.data(), FeatureName(cell.needs), skip.empty() ? "yes" : "no",
                static_cast<int>(cell.rule.size()), cell.rule.data(),
                static_cast<int>(cell.follows.size()), cell.follows.data());
    if (!skip.empty()) std::printf("%-32s   not here: %s\n", "", skip.c_str());
  }
  if (options.json) {
    nlohmann::json labels = nlohmann::json::array();
    for (std::string_view label : kTraceLabels) labels.push_back(label);
    std::cout << nlohmann::json{{"kernel", features.release},
                                {"cells", cells},
                                {"reachable", reachable},
                                {"trace_labels", labels}}
                     .dump(2)
              << "\n";
  } else {
    std::printf(
        "\n%zu contract cells, %zu reachable on this kernel (%s); trace labels, which are "
        "not cells:",
        std::size(kContractCells), reachable, features.release.c_str());
    for (std::string_view label : kTraceLabels) {
      std::printf(" %.*s", static_cast<int>(label.size()), label.data());
    }
    std::printf("\n");
  }
  return 0;
}

}  // namespace

void AddCellsCommand(CLI::App& app, Runner& run) {
  auto options = std::make_shared<CellsOptions>();
  CLI::App* cmd = app.add_subcommand(
      "cells", "List the contract cells, what each needs, and which this kernel can reach");
  cmd->add_flag("--json", options->json, "Print JSON");
  cmd->callback([&run, options] { run = [options] { return RunCells(*options); }; });
}

}  // namespace addfdlab::tools
