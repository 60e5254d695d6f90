// The binary form of scenarios that fuzzers mutate: versioned, and decoded totally,
// purely and deterministically into valid scenarios. See docs/scenario.md for the layout.
#ifndef ADDFDLAB_SCENARIO_CODEC_H_
#define ADDFDLAB_SCENARIO_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "addfdlab/result.h"
#include "addfdlab/scenario.h"

namespace addfdlab {

// 2: the validated u32 fields became words (1 byte for the usual values).
// 3: the `work` op (opcodes % 26) and addfd's `emulates` byte.
// 4: addfd's `inject` byte.
// 5: the `poll` and `get_notif_sizes` ops (opcodes % 28); a target's pid namespace (bit 7
//    of its callers byte) and the threads' places (header bit 1: a count byte, then a byte
//    per thread).
// 6: a trap's call byte (tuxcall or dup), then for dup its fd.
// 7: the `spawn` op (opcodes % 29; spawn is opcode 15, before recv); task bytes count the
//    tasks spawned so far.
// 8: spawn's kind byte (a process or a thread).
inline constexpr uint8_t kCodecVersion = 8;

// Decodes any byte string: nullopt when the version byte or the header is wrong or a
// name table entry is unusable, otherwise a scenario for which ValidateScenario() succeeds.
// Typed references (target, task, notification, fd name, thread, source) are taken
// modulo what exists at that point; an op that cannot be made valid (a notification
// reference before any trap, a 17th trap) is dropped. A truncated op ends the scenario at
// the last complete op. Cells are not encoded: the result has none.
std::optional<Scenario> DecodeScenario(const uint8_t* data, size_t size);

// Encodes a valid scenario so that DecodeScenario(EncodeScenario(s)) == s once s's cells
// are cleared. Names that differ from the decoder's defaults (t0, th0, n0, f0, ...) go
// into a name table. An invalid scenario encodes to some bytes without crashing.
std::vector<uint8_t> EncodeScenario(const Scenario& scenario);

// The scenario fuzzers' oracle: OK when `scenario` is valid, parses back from its printed
// text, and (cells left out) decodes back from its encoding; otherwise EINVAL with what
// failed.
Result<void> CheckRoundTrip(const Scenario& scenario);

}  // namespace addfdlab

#endif  // ADDFDLAB_SCENARIO_CODEC_H_
