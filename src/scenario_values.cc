// .scn values: numbers, flag sets, errnos and signals, read from tokens and printed.
#include "scenario_values.h"

#include <climits>
#include <cstdio>
#include <limits>

#include "addfdlab/result.h"

namespace addfdlab::scenario_text {

std::string List(std::span<const char* const> names) {
  std::string out;
  for (const char* name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

std::string List(std::span<const FlagName> names) {
  std::string out;
  for (const FlagName& flag : names) {
    if (!out.empty()) out += ", ";
    out += flag.name;
  }
  return out;
}

int Find(std::span<const char* const> names, std::string_view word) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (word == names[i]) return static_cast<int>(i);
  }
  return -1;
}

NumberStatus ParseMagnitude(std::string_view text, uint64_t* out) {
  uint64_t base = 10;
  if (text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  if (text.empty()) return NumberStatus::kSyntax;
  uint64_t value = 0;
  bool overflow = false;
  for (const char c : text) {
    uint64_t digit;
    if (IsDigit(c)) {
      digit = static_cast<uint64_t>(c - '0');
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      digit = static_cast<uint64_t>(c - 'a' + 10);
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      digit = static_cast<uint64_t>(c - 'A' + 10);
    } else {
      return NumberStatus::kSyntax;
    }
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / base) overflow = true;
    value = value * base + digit;
  }
  if (overflow) return NumberStatus::kOverflow;
  *out = value;
  return NumberStatus::kOk;
}

bool LooksNumeric(std::string_view text) {
  return !text.empty() && (IsDigit(text[0]) || text[0] == '-');
}

std::string Hex(uint64_t value) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(value));
  return buf;
}

std::string Flags(uint64_t value, std::span<const FlagName> names) {
  if (value == 0) return "0";
  std::string out;
  for (const FlagName& flag : names) {
    if (value & flag.bit) {
      if (!out.empty()) out += '|';
      out += flag.name;
      value &= ~flag.bit;
    }
  }
  if (value != 0) {
    if (!out.empty()) out += '|';
    out += Hex(value);
  }
  return out;
}

std::string ErrnoText(int64_t err) {
  if (err >= 1 && err <= kMaxErrno) {
    const int value = static_cast<int>(err);
    std::string name = ErrnoName(value);
    if (name != "E" + std::to_string(value)) return name;
  }
  return std::to_string(err);
}

std::string SignalText(int signal) {
  for (const FlagName& name : kSignalNames) {
    if (static_cast<uint64_t>(signal) == name.bit) return name.name;
  }
  return std::to_string(signal);
}

bool ValueReader::ParseInt64(const Token& token, const char* what, int64_t* out) {
  std::string_view text = token.text;
  const bool negative = !text.empty() && text[0] == '-';
  if (negative) text.remove_prefix(1);
  uint64_t magnitude = 0;
  const NumberStatus status = ParseMagnitude(text, &magnitude);
  if (status == NumberStatus::kSyntax) {
    return FailAt(token,
                  std::string("expected a number for ") + what + ", got " + Quote(token.text));
  }
  const uint64_t limit = static_cast<uint64_t>(INT64_MAX) + (negative ? 1 : 0);
  if (status == NumberStatus::kOverflow || magnitude > limit) {
    return FailAt(token, "number " + Quote(token.text) + " out of range for " + what);
  }
  *out = negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
  return true;
}

bool ValueReader::ParseRange(const Token& token, int64_t lo, int64_t hi, const char* what,
                             int64_t* out) {
  int64_t value = 0;
  if (!ParseInt64(token, what, &value)) return false;
  if (value < lo || value > hi) {
    return FailAt(token, std::string(what) + " " + Quote(token.text) + " out of range " +
                             std::to_string(lo) + ".." + std::to_string(hi));
  }
  *out = value;
  return true;
}

bool ValueReader::ParseBits64(const Token& token, const char* what, int64_t* out) {
  if (!token.text.empty() && token.text[0] != '-') {
    uint64_t magnitude = 0;
    const NumberStatus status = ParseMagnitude(token.text, &magnitude);
    if (status == NumberStatus::kSyntax) {
      return FailAt(token,
                    std::string("expected a number for ") + what + ", got " + Quote(token.text));
    }
    if (status == NumberStatus::kOverflow) {
      return FailAt(token, "number " + Quote(token.text) + " out of range for " + what);
    }
    *out = static_cast<int64_t>(magnitude);
    return true;
  }
  return ParseInt64(token, what, out);
}

bool ValueReader::ParseFlagSet(const Token& token, std::span<const FlagName> names, uint64_t max,
                               uint64_t* out) {
  uint64_t value = 0;
  size_t start = 0;
  while (true) {
    const size_t bar = token.text.find('|', start);
    const std::string_view part = token.text.substr(
        start, bar == std::string_view::npos ? std::string_view::npos : bar - start);
    const Token piece{part, Advance(token.column, start)};
    if (part.empty()) return FailAt(piece, "empty flag in " + Quote(token.text));
    bool known = false;
    for (const FlagName& flag : names) {
      if (part == flag.name) {
        value |= flag.bit;
        known = true;
      }
    }
    if (!known) {
      uint64_t number = 0;
      if (!IsDigit(part[0])) {
        return FailAt(piece, "unknown flag " + Quote(part) + " (" + List(names) + ", or a number)");
      }
      if (ParseMagnitude(part, &number) != NumberStatus::kOk || number > max) {
        return FailAt(piece, "flag value " + Quote(part) + " out of range (max " + Hex(max) + ")");
      }
      value |= number;
    }
    if (bar == std::string_view::npos) break;
    start = bar + 1;
  }
  *out = value;
  return true;
}

bool ValueReader::ParseErrnoField(const Token& token, int32_t* out) {
  if (IsScenarioName(token.text)) {
    const int err = ErrnoFromName(std::string(token.text));
    if (err == 0) return FailAt(token, "unknown errno " + Quote(token.text));
    *out = err;
    return true;
  }
  int64_t value = 0;
  if (!LooksNumeric(token.text)) {
    return FailAt(token, "expected an errno name or number, got " + Quote(token.text));
  }
  if (!ParseRange(token, INT32_MIN, INT32_MAX, "error", &value)) return false;
  *out = static_cast<int32_t>(value);
  return true;
}

bool ValueReader::ParseSignal(const Token& token, int* out) {
  for (const FlagName& name : kSignalNames) {
    if (token.text == name.name) {
      *out = static_cast<int>(name.bit);
      return true;
    }
  }
  if (!LooksNumeric(token.text)) {
    return FailAt(token, "unknown signal " + Quote(token.text) +
                             " (SIGUSR1, SIGUSR2, SIGALRM, or a number 1.." +
                             std::to_string(kMaxSignal) + ")");
  }
  int64_t value = 0;
  if (!ParseRange(token, 1, kMaxSignal, "signal", &value)) return false;
  *out = static_cast<int>(value);
  return true;
}

}  // namespace addfdlab::scenario_text
