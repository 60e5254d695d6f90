// The subcommands of the addfdlab command: each registers itself on the CLI11 app and
// runs when chosen. Exit codes: 0 clean, 1 a finding or a missing kernel feature, 2 bad
// input or usage.
#ifndef ADDFDLAB_TOOLS_COMMANDS_H_
#define ADDFDLAB_TOOLS_COMMANDS_H_

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "addfdlab/probe.h"

namespace addfdlab::tools {

inline constexpr int kExitUsage = 2;

// The source tree this command was built from (the library does not know it): seeds,
// fuzzer options, the bench sources and the repository's known-deviations file.
inline constexpr const char* kSourceDir = ADDFDLAB_SOURCE_DIR;
inline std::string RepositoryKnownDeviations() {
  return std::string(kSourceDir) + "/corpus/contract/known-deviations.json";
}

// Registers a subcommand; `run` is set to what runs it.
using Runner = std::function<int()>;
void AddProbeCommand(CLI::App& app, Runner& run);
void AddReproCommand(CLI::App& app, Runner& run);
void AddContractCommand(CLI::App& app, Runner& run);
void AddFuzzCommand(CLI::App& app, Runner& run);
void AddScnCommand(CLI::App& app, Runner& run);
void AddBenchCommand(CLI::App& app, Runner& run);
void AddRollbackMatrixCommand(CLI::App& app, Runner& run);
void AddCellsCommand(CLI::App& app, Runner& run);
void AddVmCommand(CLI::App& app, Runner& run);
void AddTriageCommand(CLI::App& app, Runner& run);
void AddStressCommand(CLI::App& app, Runner& run);
void AddCoverageCommand(CLI::App& app, Runner& run);

// `probe --json`'s document: the kernel, the machine, each feature and its evidence.
nlohmann::json ProbeJson(const Features& features);

}  // namespace addfdlab::tools

#endif  // ADDFDLAB_TOOLS_COMMANDS_H_
