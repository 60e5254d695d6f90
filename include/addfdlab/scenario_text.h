// The .scn text format of scenarios: a line-based parser with precise errors and a
// printer such that ParseScenario(PrintScenario(s)) == s. See docs/scenario.md.
#ifndef ADDFDLAB_SCENARIO_TEXT_H_
#define ADDFDLAB_SCENARIO_TEXT_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "addfdlab/scenario.h"

namespace addfdlab {

// Where and why a .scn text does not parse. Line and column are 1-based; the column is
// the byte offset of the offending token (or of the end of the line when one is missing).
struct ParseError {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
  // "file:line:col: message" ("<input>" when `file` is empty).
  std::string ToString() const;
};

// Parses a .scn text. Returns a scenario for which ValidateScenario() succeeds, or nullopt
// with `*error` (when not null) set to the first problem. Total: any bytes (NULs, huge
// numbers, very long lines) either parse or produce an error; it never throws.
std::optional<Scenario> ParseScenario(std::string_view text, std::string_view file,
                                      ParseError* error);

// Prints a scenario as .scn text: cells, then targets, then one line per op, each field
// that differs from its kind's default in the grammar's order. For a valid scenario,
// ParseScenario(PrintScenario(s)) == s. Invalid scenarios print without crashing.
std::string PrintScenario(const Scenario& scenario);

// Op `index`'s line of PrintScenario(scenario), without its newline: what a trace shows for
// the op. "" when there is no such op.
std::string PrintOp(const Scenario& scenario, size_t index);

}  // namespace addfdlab

#endif  // ADDFDLAB_SCENARIO_TEXT_H_
