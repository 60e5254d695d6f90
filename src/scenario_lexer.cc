// The .scn lexer: lines, tokens and their columns, and where a parse fails.
#include "scenario_lexer.h"

#include <climits>
#include <cstdio>

namespace addfdlab::scenario_text {
namespace {

constexpr size_t kQuoteLimit = 40;

}  // namespace

int ColumnOf(size_t offset) {
  return offset >= static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(offset + 1);
}

int Advance(int column, size_t offset) {
  const size_t sum = static_cast<size_t>(column) + offset;
  return sum >= static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(sum);
}

std::string Quote(std::string_view text) {
  std::string out = "'";
  const size_t shown = std::min(text.size(), kQuoteLimit);
  for (size_t i = 0; i < shown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    }
  }
  if (text.size() > shown) out += "...";
  return out + "'";
}

void Tokenize(std::string_view line, std::vector<Token>* tokens) {
  tokens->clear();
  size_t i = 0;
  while (i < line.size()) {
    const char c = line[i];
    if (c == '#') break;
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
      continue;
    }
    const size_t begin = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r' &&
           line[i] != '#') {
      ++i;
    }
    tokens->push_back({line.substr(begin, i - begin), ColumnOf(begin)});
  }
}

bool LineReader::Next(std::string_view* line) {
  if (done_) return false;
  const size_t end = text_.find('\n', start_);
  *line =
      text_.substr(start_, end == std::string_view::npos ? std::string_view::npos : end - start_);
  if (line_ < INT_MAX) ++line_;
  if (end == std::string_view::npos) {
    done_ = true;
  } else {
    start_ = end + 1;
  }
  return true;
}

bool Diagnostics::Fail(int column, std::string message) {
  if (error_ != nullptr) {
    error_->file = std::string(file_);
    error_->line = line_;
    error_->column = column;
    error_->message = std::move(message);
  }
  return false;
}

}  // namespace addfdlab::scenario_text
