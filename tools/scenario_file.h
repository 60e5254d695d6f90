// Reading scenarios from files: `.scn` text, or the fuzzers' binary form.
#ifndef ADDFDLAB_TOOLS_SCENARIO_FILE_H_
#define ADDFDLAB_TOOLS_SCENARIO_FILE_H_

#include <string>

#include "addfdlab/result.h"
#include "addfdlab/scenario.h"

namespace addfdlab::tools {

// Reads `path` whole. A failure's message is "PATH: cannot read: WHY".
Result<std::string> ReadWholeFile(const std::string& path);

// Loads `path`: text when it ends in .scn, binary otherwise. A failure's message names
// the file (file:line:col for text) and says it all: print it as it is.
Result<Scenario> LoadScenario(const std::string& path);

// Writes `contents` to `path` unless it exists (and `force` is false): EEXIST then. A
// failure's message names the file and says it all.
Result<void> WriteNewFile(const std::string& path, const std::string& contents, bool force);

}  // namespace addfdlab::tools

#endif  // ADDFDLAB_TOOLS_SCENARIO_FILE_H_
