// Decodes a scenario (the addfd_sequence_fuzzer's encoding, so both share seeds) and checks
// the reference model's own invariants on it, with no kernel: a violation traps.
#include <cstdint>
#include <cstdio>

#include "addfdlab/model_check.h"
#include "addfdlab/scenario_codec.h"
#include "addfdlab/scenario_text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto scenario = addfdlab::DecodeScenario(data, size);
  if (!scenario) return -1;
  const addfdlab::Result<void> checked = addfdlab::CheckModelInvariants(*scenario);
  if (checked) return 0;
  std::fprintf(stderr, "model_fuzzer: %s\n%s", checked.error().message().c_str(),
               addfdlab::PrintScenario(*scenario).c_str());
  __builtin_trap();
}
