// addfdlab probe: the kernel's notifier features, probed by behaviour.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "addfdlab/environment.h"
#include "addfdlab/probe.h"
#include "addfdlab/supervisor.h"
#include "commands.h"

namespace addfdlab::tools {
namespace {

struct ProbeOptions {
  bool json = false;
};

int RunProbe(const ProbeOptions& options) {
  const Features features = ProbeFeatures();
  // The mode an executor would run in here ($ADDFDLAB_SCHED, SCHED_FIFO, the CPU).
  const Scheduling scheduling = ChooseScheduling(ReadEnvironment().sched, features, ChooseCpu(-1));
  if (options.json) {
    nlohmann::json out = ProbeJson(features);
    out["scheduling"] = {{"mode", SchedModeName(scheduling.mode)}, {"why", scheduling.why}};
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "kernel " << features.release << " (" << features.machine << ")\n\n";
    for (size_t i = 0; i < kFeatureCount; ++i) {
      const auto feature = static_cast<Feature>(i);
      std::printf("%-20s %-4s %s\n", FeatureName(feature), features.has(feature) ? "yes" : "no",
                  features.get(feature).evidence.c_str());
    }
    std::printf("\nscheduling: %s\n", DescribeScheduling(scheduling).c_str());
  }
  if (!features.has(Feature::kUserNotification)) {
    std::cerr << "addfdlab: this kernel has no seccomp user notification ("
              << features.get(Feature::kUserNotification).evidence
              << "); nothing in addfdlab can run here.\n";
    return 1;
  }
  return 0;
}

}  // namespace

nlohmann::json ProbeJson(const Features& features) {
  nlohmann::json out;
  out["kernel"] = features.release;
  out["machine"] = features.machine;
  for (size_t i = 0; i < kFeatureCount; ++i) {
    const auto feature = static_cast<Feature>(i);
    out["features"][FeatureName(feature)] = {{"available", features.has(feature)},
                                             {"evidence", features.get(feature).evidence}};
  }
  return out;
}

void AddProbeCommand(CLI::App& app, Runner& run) {
  auto options = std::make_shared<ProbeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "probe", "Probe the kernel's notifier features by behaviour (never by version)");
  cmd->add_flag("--json", options->json, "Print JSON instead of a table");
  cmd->callback([&run, options] { run = [options] { return RunProbe(*options); }; });
}

}  // namespace addfdlab::tools
