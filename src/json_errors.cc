// JSON syntax errors with their line and column.
#include "addfdlab/json_errors.h"

#include <algorithm>
#include <regex>

namespace addfdlab {

std::string LineColumn(std::string_view text, size_t index) {
  index = std::min(index, text.size());
  size_t line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < index; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return std::to_string(line) + ":" + std::to_string(index - line_start + 1);
}

std::string JsonErrorMessage(std::string_view what, bool keep_last_read) {
  static const std::regex kPrefix(
      R"(^\[json\.exception\.[a-z_.0-9]+\] (parse error )?(at line \d+, column \d+: )?)");
  std::string message = std::regex_replace(std::string(what), kPrefix, "");
  if (!keep_last_read) message = message.substr(0, message.find("; last read:"));
  return message;
}

std::string JsonSyntaxError(std::string_view text, size_t index, std::string_view what,
                            bool keep_last_read) {
  return LineColumn(text, index) + ": not JSON: " + JsonErrorMessage(what, keep_last_read);
}

}  // namespace addfdlab
