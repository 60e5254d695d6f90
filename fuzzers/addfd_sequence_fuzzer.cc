// Decodes a scenario and runs it on the kernel and the model with every oracle. A finding
// (a verdict that is not a known deviation of this kernel) traps, so libFuzzer keeps it.
#include <cstdint>
#include <cstdio>
#include <optional>

#include "addfdlab/environment.h"
#include "addfdlab/fuzz_harness.h"
#include "addfdlab/kernel_log.h"
#include "addfdlab/scenario_codec.h"

// Kernel-state coverage: libFuzzer reads these as extra counters.
__attribute__((section("__libfuzzer_extra_counters"))) static uint8_t g_state_counters[4096];
// Kernel PCs in the notifier and fd-install functions, on a kernel with KCOV (the debug
// kernel): a new one is new coverage.
__attribute__((section("__libfuzzer_extra_counters"))) static uint8_t g_kernel_pc_counters[8192];

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static addfdlab::FuzzHarness harness(
      g_state_counters, sizeof(g_state_counters),
      addfdlab::FuzzHarnessOptions::FromEnvironment(ADDFDLAB_SOURCE_DIR
                                                    "/corpus/contract/known-deviations.json"));
  // In an addfdlab guest: the input is kept when the kernel logs a report while it runs.
  static std::optional<addfdlab::KernelReportKeeper> kernel_reports =
      addfdlab::KernelReportKeeper::FromEnvironment();
  // Without the feedback (`fuzz --kernel-feedback off`) the PCs are still collected and
  // counted, for a campaign to compare with one that has it.
  [[maybe_unused]] static const bool kernel_pcs_counted = [] {
    if (addfdlab::ReadEnvironment().no_kernel_feedback) return false;
    harness.SetKernelPcCounters(g_kernel_pc_counters, sizeof(g_kernel_pc_counters));
    return true;
  }();
  const auto scenario = addfdlab::DecodeScenario(data, size);
  if (!scenario) return -1;
  const auto findings = harness.Run(*scenario);
  if (kernel_reports) kernel_reports->AfterInput(data, size);
  if (findings.empty()) return 0;
  for (const auto& finding : findings) {
    std::fprintf(stderr, "addfd_sequence_fuzzer: %s\n  signature %s\n",
                 finding.Describe(*scenario).c_str(), finding.Signature(*scenario).c_str());
  }
  __builtin_trap();
}
