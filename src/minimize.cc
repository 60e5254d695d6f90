// Greedy op removal over the text form.
#include "addfdlab/minimize.h"

#include <sstream>
#include <string>
#include <vector>

#include "addfdlab/scenario_text.h"

namespace addfdlab {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

bool IsHeader(const std::string& line) {
  return line.empty() || line[0] == '#' || line.rfind("cell ", 0) == 0 ||
         line.rfind("target ", 0) == 0;
}

}  // namespace

Scenario MinimizeScenario(const Scenario& scenario,
                          const std::function<bool(const Scenario&)>& still_fails) {
  Scenario best = scenario;
  for (bool changed = true; changed;) {
    changed = false;
    std::vector<std::string> lines = Lines(PrintScenario(best));
    for (size_t i = lines.size(); i-- > 0;) {
      if (IsHeader(lines[i])) continue;
      std::string candidate;
      for (size_t j = 0; j < lines.size(); ++j) {
        if (j != i) candidate += lines[j] + "\n";
      }
      auto smaller = ParseScenario(candidate, "candidate.scn", nullptr);
      if (!smaller || !ValidateScenario(*smaller) || smaller->ops.empty()) continue;
      if (!still_fails(*smaller)) continue;
      best = *smaller;
      lines = Lines(PrintScenario(best));
      changed = true;
      i = std::min(i, lines.size());
    }
  }
  return best;
}

}  // namespace addfdlab
