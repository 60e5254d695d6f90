// Reading scenarios from files: `.scn` text, or the fuzzers' binary form.
#ifndef ADDFDLAB_TOOLS_SCENARIO_FILE_H_
#define ADDFDLAB_TOOLS_SCENARIO_FILE_H_

#include <optional>
#include <string>

#include "addfdlab/scenario.h"

namespace addfdlab::tools {

// Loads `path`: text when it ends in .scn, binary otherwise. On failure returns nullopt
// and sets `error` to a message naming the file (file:line:col for text).
std::optional<Scenario> LoadScenario(const std::string& path, std::string* error);

// Writes `contents` to `path` unless it exists (and `force` is false); false with `error`.
bool WriteNewFile(const std::string& path, const std::string& contents, bool force,
                  std::string* error);

}  // namespace addfdlab::tools

#endif  // ADDFDLAB_TOOLS_SCENARIO_FILE_H_
