// Fuzzes the scenario text parser and the binary decoder: whatever parses or decodes must
// be valid and round-trip exactly through both forms.
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "addfdlab/scenario_codec.h"
#include "addfdlab/scenario_text.h"

namespace {

// A broken round trip is a finding: print why and trap so that libFuzzer keeps the input.
void RequireRoundTrip(const addfdlab::Scenario& scenario, const char* form) {
  const addfdlab::Result<void> checked = addfdlab::CheckRoundTrip(scenario);
  if (checked) return;
  std::fprintf(stderr, "scenario_text_fuzzer: %s input: %s\n", form,
               checked.error().message().c_str());
  __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = addfdlab::ParseScenario(text, "input.scn", nullptr);
  if (parsed) RequireRoundTrip(*parsed, "text");
  const auto decoded = addfdlab::DecodeScenario(data, size);
  if (decoded) RequireRoundTrip(*decoded, "binary");
  // Inputs that neither parse nor decode stay in the corpus (no -1): the parser's error
  // paths are under test too, and a half-valid text is the way to a valid one.
  return 0;
}
