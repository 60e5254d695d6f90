// The .scn lexer: a text as numbered lines, each line as tokens with their columns, and
// the first parse error at a line and column.
#ifndef ADDFDLAB_SRC_SCENARIO_LEXER_H_
#define ADDFDLAB_SRC_SCENARIO_LEXER_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "addfdlab/scenario_text.h"

namespace addfdlab::scenario_text {

struct Token {
  std::string_view text;
  int column = 0;  // 1-based byte offset in its line
};

// The 1-based column of byte `offset` of a line, saturated at INT_MAX.
int ColumnOf(size_t offset);
// The column `offset` bytes into a token at `column`, saturated.
int Advance(int column, size_t offset);
// A token quoted for a message: printable ASCII as is, other bytes as \xNN, long ones cut.
std::string Quote(std::string_view text);

// Splits one line into `tokens` (cleared first): runs of bytes other than space, tab, CR
// and '#', which starts a comment to the end of the line.
void Tokenize(std::string_view line, std::vector<Token>* tokens);

// The lines of a text, numbered from 1 (saturated at INT_MAX); the last has no '\n'.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {}
  // The next line without its '\n'; false after the last one.
  bool Next(std::string_view* line);
  // The number of the line Next() returned last.
  int line() const { return line_; }

 private:
  std::string_view text_;
  size_t start_ = 0;
  int line_ = 0;
  bool done_ = false;
};

// Where a parse fails: fills the caller's ParseError (when there is one) with the file,
// the current line and a column.
class Diagnostics {
 public:
  Diagnostics(std::string_view file, ParseError* error) : file_(file), error_(error) {}
  void set_line(int line) { line_ = line; }
  // Records `message` at `column` of the current line. Always false: `return Fail(...)`.
  bool Fail(int column, std::string message);
  bool FailAt(const Token& token, std::string message) {
    return Fail(token.column, std::move(message));
  }

 private:
  std::string_view file_;
  ParseError* error_;
  int line_ = 0;
};

}  // namespace addfdlab::scenario_text

#endif  // ADDFDLAB_SRC_SCENARIO_LEXER_H_
