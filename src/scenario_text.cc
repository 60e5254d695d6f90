// The .scn text format: a line parser that reports the first error with its line and
// column, and a printer that prints only what differs from each kind's defaults.
#include "addfdlab/scenario_text.h"

#include <fcntl.h>

#include <climits>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "addfdlab/result.h"

namespace addfdlab {
namespace {

static_assert(O_CLOEXEC == 02000000);

struct FlagName {
  const char* name;
  uint64_t bit;
};

constexpr FlagName kFilterFlagNames[] = {
    {"TSYNC", uapi::kFilterTsync},
    {"LOG", uapi::kFilterLog},
    {"SPEC_ALLOW", uapi::kFilterSpecAllow},
    {"NEW_LISTENER", uapi::kFilterNewListener},
    {"TSYNC_ESRCH", uapi::kFilterTsyncEsrch},
    {"WAIT_KILLABLE_RECV", uapi::kFilterWaitKillableRecv},
};
constexpr FlagName kAddFdFlagNames[] = {{"SETFD", uapi::kAddFdSetFd}, {"SEND", uapi::kAddFdSend}};
constexpr FlagName kNewfdFlagNames[] = {{"O_CLOEXEC", O_CLOEXEC}};
constexpr FlagName kRespFlagNames[] = {{"CONTINUE", uapi::kRespContinue}};
constexpr FlagName kSetFlagsNames[] = {{"SYNC_WAKE_UP", uapi::kSyncWakeUp}};

constexpr const char* kFileNames[] = {"devnull", "memfd"};
constexpr const char* kBufferNames[] = {"zeroed", "nonzero", "unmapped", "readonly"};
constexpr const char* kArgNames[] = {"plain", "tail_zero", "tail_nonzero", "unreadable"};
constexpr const char* kHandlerNames[] = {"default", "restart", "norestart", "ignore"};
constexpr const char* kSourceNames[] = {"memfd",   "memfd2", "pipe_r",   "pipe_w", "socket",
                                        "devnull", "opath",  "listener", "closed", "huge"};
static_assert(std::size(kSourceNames) == kSourceKindCount);

constexpr FlagName kSignalNames[] = {{"SIGUSR1", 10}, {"SIGUSR2", 12}, {"SIGALRM", 14}};

constexpr size_t kQuoteLimit = 40;

// A token quoted for a message: printable ASCII as is, other bytes as \xNN, long ones cut.
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

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

enum class NumberStatus { kOk, kSyntax, kOverflow };

// Decimal or 0x-hex digits, no sign.
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

// The column `offset` bytes into a token at `column`, saturated.
int Advance(int column, size_t offset) {
  const size_t sum = static_cast<size_t>(column) + offset;
  return sum >= static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(sum);
}

bool LooksNumeric(std::string_view text) {
  return !text.empty() && (IsDigit(text[0]) || text[0] == '-');
}

// A printed number: decimal, or hex for bit patterns.
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

struct Token {
  std::string_view text;
  int column = 0;
};

// The options, words and bound names that follow an op's positional arguments.
struct Tail {
  std::vector<std::pair<std::string_view, Token>> options;
  std::vector<std::string_view> words;
  std::vector<Token> binds;

  const Token* Get(std::string_view key) const {
    for (const auto& [name, value] : options) {
      if (name == key) return &value;
    }
    return nullptr;
  }
  bool Has(std::string_view word) const {
    for (std::string_view seen : words) {
      if (seen == word) return true;
    }
    return false;
  }
};

bool Contains(std::initializer_list<std::string_view> list, std::string_view word) {
  for (std::string_view item : list) {
    if (item == word) return true;
  }
  return false;
}

int IndexOf(const std::vector<std::string>& names, std::string_view name) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<int>(i);
  }
  return -1;
}

class Parser {
 public:
  Parser(std::string_view file, ParseError* error) : file_(file), error_(error) {}

  std::optional<Scenario> Run(std::string_view text) {
    size_t start = 0;
    int line = 1;
    while (true) {
      const size_t end = text.find('\n', start);
      const std::string_view content =
          text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
      line_ = line;
      Tokenize(content);
      if (!tokens_.empty() && !ParseLine()) return std::nullopt;
      if (end == std::string_view::npos) {
        end_column_ = Column(content.size());
        break;
      }
      start = end + 1;
      if (line < INT_MAX) ++line;
    }
    if (s_.targets.empty()) {
      tokens_.clear();
      Fail(end_column_, "no target declared (a scenario needs a 'target NAME' line)");
      return std::nullopt;
    }
    return std::move(s_);
  }

 private:
  static int Column(size_t offset) {
    return offset >= static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(offset + 1);
  }

  void Tokenize(std::string_view content) {
    tokens_.clear();
    pos_ = 0;
    size_t i = 0;
    while (i < content.size()) {
      const char c = content[i];
      if (c == '#') break;
      if (c == ' ' || c == '\t' || c == '\r') {
        ++i;
        continue;
      }
      const size_t begin = i;
      while (i < content.size() && content[i] != ' ' && content[i] != '\t' && content[i] != '\r' &&
             content[i] != '#') {
        ++i;
      }
      tokens_.push_back({content.substr(begin, i - begin), Column(begin)});
    }
  }

  bool Fail(int column, std::string message) {
    if (error_ != nullptr) {
      error_->file = std::string(file_);
      error_->line = line_;
      error_->column = column;
      error_->message = std::move(message);
    }
    return false;
  }
  bool FailAt(const Token& token, std::string message) {
    return Fail(token.column, std::move(message));
  }
  // The column just past the last token, where a missing one would go.
  int EndColumn() const {
    if (tokens_.empty()) return 1;
    const Token& last = tokens_.back();
    return Advance(last.column, last.text.size());
  }
  // The column of the current token, or of the end of the line.
  int HereColumn() const { return pos_ < tokens_.size() ? tokens_[pos_].column : EndColumn(); }

  bool Next(const std::string& what, Token* out) {
    if (pos_ >= tokens_.size()) return Fail(EndColumn(), "expected " + what);
    *out = tokens_[pos_++];
    return true;
  }

  bool ParseLine() {
    const std::string_view head = tokens_[0].text;
    if (head == "cell") return ParseCell();
    if (head == "target") return ParseTarget();
    return ParseOp();
  }

  bool ParseCell() {
    pos_ = 1;
    Token id;
    if (!Next("a cell ID such as ADDFD.SETFD.RLIMIT", &id)) return false;
    if (!IsCellId(id.text)) {
      return FailAt(id, "invalid cell ID " + Quote(id.text) + " ([A-Z0-9_.]+, at most " +
                            std::to_string(kMaxNameLength) + " characters)");
    }
    if (pos_ < tokens_.size()) {
      return FailAt(tokens_[pos_],
                    "unexpected " + Quote(tokens_[pos_].text) + " after the cell ID");
    }
    s_.cells.emplace_back(id.text);
    return true;
  }

  bool ParseTarget() {
    pos_ = 1;
    Token name;
    if (!Next("a target name", &name)) return false;
    if (!CheckNewName(name, "target")) return false;
    if (IndexOf(TargetNames(), name.text) >= 0) {
      return FailAt(name, "target " + Quote(name.text) + " already declared");
    }
    if (s_.targets.size() >= kMaxTargets) {
      return FailAt(tokens_[0], "too many targets (max " + std::to_string(kMaxTargets) + ")");
    }
    Tail tail;
    if (!ParseTail("target", {"filter", "callers"}, {}, 0, 0, false, &tail, nullptr)) return false;
    TargetDecl decl;
    decl.name = std::string(name.text);
    if (const Token* filter = tail.Get("filter")) {
      uint64_t flags = 0;
      if (!ParseFlagSet(*filter, kFilterFlagNames, UINT32_MAX, &flags)) return false;
      decl.filter_flags = static_cast<uint32_t>(flags);
    }
    if (const Token* callers = tail.Get("callers")) {
      int64_t value = 0;
      if (!ParseRange(*callers, 0, kMaxCallers, "callers", &value)) return false;
      decl.callers = static_cast<int>(value);
    }
    s_.targets.push_back(std::move(decl));
    return true;
  }

  std::vector<std::string> TargetNames() const {
    std::vector<std::string> names;
    for (const TargetDecl& target : s_.targets) names.push_back(target.name);
    return names;
  }

  bool CheckNewName(const Token& name, const char* what) {
    if (!IsScenarioName(name.text)) {
      return FailAt(name, std::string("invalid ") + what + " name " + Quote(name.text) +
                              " ([A-Za-z_][A-Za-z0-9_]*, at most " +
                              std::to_string(kMaxNameLength) + " characters)");
    }
    return true;
  }

  // Options (key=value in any order, no duplicates), bare words, `-> NAME...` with
  // binds_min..binds_max names, and an expect clause, up to the end of the line.
  bool ParseTail(std::string_view what, std::initializer_list<std::string_view> keys,
                 std::initializer_list<std::string_view> words, int binds_min, int binds_max,
                 bool allow_expect, Tail* tail, Op* op) {
    while (pos_ < tokens_.size()) {
      const Token& token = tokens_[pos_];
      if (token.text == "->" || token.text == "expect") break;
      const size_t eq = token.text.find('=');
      if (eq != std::string_view::npos) {
        const std::string_view key = token.text.substr(0, eq);
        if (!Contains(keys, key)) {
          if (keys.size() == 0) {
            return FailAt(token, std::string(what) + " takes no options, got " + Quote(token.text));
          }
          return FailAt(token, "unknown option " + Quote(key) + " for " + std::string(what) + " (" +
                                   KeyList(keys) + ")");
        }
        if (tail->Get(key) != nullptr) return FailAt(token, "duplicate option " + Quote(key));
        const Token value{token.text.substr(eq + 1), Advance(token.column, eq + 1)};
        if (value.text.empty()) return FailAt(value, "option " + Quote(key) + " needs a value");
        tail->options.emplace_back(key, value);
      } else if (Contains(words, token.text)) {
        if (tail->Has(token.text)) return FailAt(token, "duplicate " + Quote(token.text));
        tail->words.push_back(token.text);
      } else if (binds_min > 0) {
        return FailAt(token, std::string(BindMessage(binds_min)) + ", got " + Quote(token.text));
      } else {
        std::string message = "unexpected " + Quote(token.text);
        if (keys.size() + words.size() > 0) {
          message += " (" + std::string(what) + " takes " + KeyList(keys);
          for (std::string_view word : words) {
            if (message.back() != ' ') message += ", ";
            message += word;
          }
          message += ")";
        }
        return FailAt(token, message);
      }
      ++pos_;
    }
    if (pos_ < tokens_.size() && tokens_[pos_].text == "->") {
      if (binds_max == 0) {
        return FailAt(tokens_[pos_], std::string(what) + " binds no name");
      }
      ++pos_;
      // Exactly binds_max names follow '->', whatever they spell: 'expect' is a valid name.
      for (int i = 0; i < binds_max; ++i) {
        if (pos_ >= tokens_.size()) return Fail(EndColumn(), BindMessage(binds_max));
        tail->binds.push_back(tokens_[pos_++]);
      }
    } else if (binds_min > 0) {
      return Fail(HereColumn(), BindMessage(binds_min));
    }
    if (pos_ < tokens_.size() && tokens_[pos_].text == "expect") {
      if (!allow_expect) {
        return FailAt(tokens_[pos_],
                      std::string("a '") + std::string(what) + "' line takes no expect clause");
      }
      ++pos_;
      if (!ParseExpect(op)) return false;
    }
    if (pos_ < tokens_.size()) {
      return FailAt(tokens_[pos_],
                    "unexpected " + Quote(tokens_[pos_].text) + " at the end of the line");
    }
    return true;
  }

  static const char* BindMessage(int binds) {
    return binds >= 2 ? "expected '->' and two names" : "expected '->' and a name";
  }

  static std::string KeyList(std::initializer_list<std::string_view> keys) {
    std::string out;
    for (std::string_view key : keys) {
      if (!out.empty()) out += ", ";
      out += std::string(key) + "=";
    }
    return out;
  }

  bool ParseExpect(Op* op) {
    Token outcome;
    if (!Next("an outcome after 'expect' (ok, ok=VALUE, blocked or an errno)", &outcome)) {
      return false;
    }
    Expect& expect = op->expect;
    expect.present = true;
    if (outcome.text == "blocked") {
      expect.outcome = Outcome::Blocked();
      return true;
    }
    if (outcome.text == "ok") {
      expect.any_value = true;
      expect.outcome = Outcome::Ok();
      return true;
    }
    if (outcome.text.starts_with("ok=")) {
      const Token value{outcome.text.substr(3), Advance(outcome.column, 3)};
      if (value.text.empty()) return FailAt(outcome, "expected a value after 'ok='");
      // A recv answers with the index of the notification it received.
      const bool notif_value = op->kind == OpKind::kRecv || op->kind == OpKind::kWait;
      if (notif_value && !LooksNumeric(value.text)) {
        const int notif = LookupNotif(value);
        if (notif < 0) return false;
        expect.outcome = Outcome::Ok(notif);
        return true;
      }
      int64_t number = 0;
      if (!ParseInt64(value, "the expected value", &number)) return false;
      expect.outcome = Outcome::Ok(number);
      return true;
    }
    int err = 0;
    if (IsScenarioName(outcome.text)) {
      err = ErrnoFromName(std::string(outcome.text));
      if (err == 0) {
        return FailAt(outcome, "unknown outcome " + Quote(outcome.text) +
                                   " (ok, ok=VALUE, blocked, or an errno such as EBADF)");
      }
    } else {
      int64_t number = 0;
      if (!LooksNumeric(outcome.text)) {
        return FailAt(outcome, "unknown outcome " + Quote(outcome.text) +
                                   " (ok, ok=VALUE, blocked, or an errno such as EBADF)");
      }
      if (!ParseRange(outcome, 1, kMaxErrno, "an errno", &number)) return false;
      err = static_cast<int>(number);
    }
    expect.outcome = Outcome::Error(err);
    return true;
  }

  // Numbers.
  bool ParseInt64(const Token& token, const char* what, int64_t* out) {
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

  bool ParseRange(const Token& token, int64_t lo, int64_t hi, const char* what, int64_t* out) {
    int64_t value = 0;
    if (!ParseInt64(token, what, &value)) return false;
    if (value < lo || value > hi) {
      return FailAt(token, std::string(what) + " " + Quote(token.text) + " out of range " +
                               std::to_string(lo) + ".." + std::to_string(hi));
    }
    *out = value;
    return true;
  }

  // A 64-bit pattern: 0..0xffffffffffffffff, or a negative int64 (two's complement).
  bool ParseBits64(const Token& token, const char* what, int64_t* out) {
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

  bool ParseFlagSet(const Token& token, std::span<const FlagName> names, uint64_t max,
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
          return FailAt(piece,
                        "unknown flag " + Quote(part) + " (" + List(names) + ", or a number)");
        }
        if (ParseMagnitude(part, &number) != NumberStatus::kOk || number > max) {
          return FailAt(piece,
                        "flag value " + Quote(part) + " out of range (max " + Hex(max) + ")");
        }
        value |= number;
      }
      if (bar == std::string_view::npos) break;
      start = bar + 1;
    }
    *out = value;
    return true;
  }

  bool ParseErrnoField(const Token& token, int32_t* out) {
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

  bool ParseSignal(const Token& token, int* out) {
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

  template <typename Enum>
  bool ParseEnum(const Token& token, std::span<const char* const> names, const char* what,
                 Enum* out) {
    const int index = Find(names, token.text);
    if (index < 0) {
      return FailAt(token, std::string("unknown ") + what + " " + Quote(token.text) + " (" +
                               List(names) + ")");
    }
    *out = static_cast<Enum>(index);
    return true;
  }

  // References.
  bool TargetRef(const Token& token, int* target) {
    if (!IsScenarioName(token.text)) {
      return FailAt(token, "expected a target name, got " + Quote(token.text));
    }
    for (size_t i = 0; i < s_.targets.size(); ++i) {
      if (s_.targets[i].name == token.text) {
        *target = static_cast<int>(i);
        return true;
      }
    }
    return FailAt(token, "unknown target " + Quote(token.text) + " (declare it with 'target " +
                             std::string(token.text) + "' before use)");
  }

  // TARGET.TASK; a caller task (1..callers) when `caller`, else 0..callers.
  bool TaskRef(const Token& token, const char* op, bool caller, int* target, int* task) {
    const size_t dot = token.text.find('.');
    if (dot == std::string_view::npos) {
      return FailAt(token, "expected TARGET.TASK (such as t0.1), got " + Quote(token.text));
    }
    if (!TargetRef({token.text.substr(0, dot), token.column}, target)) return false;
    const Token k{token.text.substr(dot + 1), Advance(token.column, dot + 1)};
    const int callers = s_.targets[static_cast<size_t>(*target)].callers;
    if (k.text.empty()) return FailAt(token, "expected a task number after " + Quote(token.text));
    int64_t value = 0;
    if (!ParseInt64(k, "the task", &value)) return false;
    const std::string target_name = Quote(s_.targets[static_cast<size_t>(*target)].name);
    if (caller && value == 0) {
      return FailAt(k, std::string(op) + " needs a calling task (1.." + std::to_string(callers) +
                           "); task 0 is the leader");
    }
    if (caller && callers == 0) {
      return FailAt(k, "target " + target_name + " has no calling tasks (callers=0)");
    }
    if (value < (caller ? 1 : 0) || value > callers) {
      return FailAt(k, "task " + std::to_string(value) + " out of range for target " + target_name +
                           " (" + (caller ? "1" : "0") + ".." + std::to_string(callers) + ")");
    }
    *task = static_cast<int>(value);
    return true;
  }

  int LookupNotif(const Token& name) {
    if (!IsScenarioName(name.text)) {
      FailAt(name, "expected a notification name, got " + Quote(name.text));
      return -1;
    }
    const int index = IndexOf(s_.notifs, name.text);
    if (index < 0) {
      FailAt(name, "notification " + Quote(name.text) + " used before a trap binds it");
    }
    return index;
  }

  // NAME, NAME+D or NAME-D.
  bool NotifRef(const Token& token, bool delta_allowed, Op* op) {
    const size_t sign = token.text.find_first_of("+-");
    const Token name{token.text.substr(0, sign), token.column};
    const int notif = LookupNotif(name);
    if (notif < 0) return false;
    op->notif = notif;
    op->target = notif_target_[static_cast<size_t>(notif)];
    if (sign == std::string_view::npos) return true;
    const Token delta{token.text.substr(sign), Advance(token.column, sign)};
    if (!delta_allowed) {
      return FailAt(delta, std::string(OpKindName(op->kind)) + " takes no id delta");
    }
    uint64_t magnitude = 0;
    const NumberStatus status = ParseMagnitude(delta.text.substr(1), &magnitude);
    if (status == NumberStatus::kSyntax) {
      return FailAt(delta, "expected a number after " + Quote(delta.text.substr(0, 1)) + " in " +
                               Quote(token.text));
    }
    const bool negative = delta.text[0] == '-';
    const uint64_t limit = static_cast<uint64_t>(INT64_MAX) + (negative ? 1 : 0);
    if (status == NumberStatus::kOverflow || magnitude > limit) {
      return FailAt(delta, "id delta " + Quote(delta.text) + " out of range");
    }
    op->id_delta = negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
    return true;
  }

  bool FdRefOf(const Token& token, FdRef* ref) {
    if (LooksNumeric(token.text)) return ParseInt64(token, "the fd", &ref->literal);
    if (!IsScenarioName(token.text)) {
      return FailAt(token, "expected an fd number or fd name, got " + Quote(token.text));
    }
    ref->name = IndexOf(s_.fd_names, token.text);
    if (ref->name < 0) {
      return FailAt(token, "fd name " + Quote(token.text) + " used before an op binds it");
    }
    return true;
  }

  bool BindFd(const Token& token, int* bind) {
    if (!CheckNewName(token, "fd")) return false;
    if (IndexOf(s_.fd_names, token.text) >= 0) {
      return FailAt(token, "fd name " + Quote(token.text) + " already bound");
    }
    if (s_.fd_names.size() >= kMaxFdNames) {
      return FailAt(token, "too many fd names (max " + std::to_string(kMaxFdNames) + ")");
    }
    *bind = static_cast<int>(s_.fd_names.size());
    s_.fd_names.emplace_back(token.text);
    return true;
  }

  bool ThreadRef(const Token& token, int* thread) {
    if (!IsScenarioName(token.text)) {
      return FailAt(token, "expected a thread name, got " + Quote(token.text));
    }
    *thread = IndexOf(s_.threads, token.text);
    if (*thread < 0) {
      return FailAt(token, "thread " + Quote(token.text) + " has no op started on it");
    }
    return true;
  }

  // `on TH:` declares TH on first use.
  bool OnPrefix(int* thread) {
    if (tokens_.size() < 2) return Fail(EndColumn(), "expected a thread name after 'on'");
    Token name = tokens_[1];
    if (name.text.size() > 1 && name.text.back() == ':') {
      name.text.remove_suffix(1);
      pos_ = 2;
    } else if (tokens_.size() > 2 && tokens_[2].text == ":") {
      pos_ = 3;
    } else {
      return FailAt(name, "expected 'on THREAD:', got " + Quote(name.text));
    }
    if (!CheckNewName(name, "thread")) return false;
    *thread = IndexOf(s_.threads, name.text);
    if (*thread >= 0) return true;
    if (s_.threads.size() >= kMaxThreads) {
      return FailAt(name, "too many threads (max " + std::to_string(kMaxThreads) + ")");
    }
    *thread = static_cast<int>(s_.threads.size());
    s_.threads.emplace_back(name.text);
    return true;
  }

  bool ParseOp() {
    Op op;
    int thread = -1;
    if (tokens_[0].text == "on") {
      if (!OnPrefix(&thread)) return false;
    }
    Token keyword;
    if (!Next("an op after the thread", &keyword)) return false;
    int kind = -1;
    for (int i = 0; i < kOpKindCount; ++i) {
      if (keyword.text == OpKindName(static_cast<OpKind>(i))) kind = i;
    }
    if (kind < 0) {
      std::string names = "cell, target";
      for (int i = 0; i < kOpKindCount; ++i) {
        names += std::string(", ") + OpKindName(static_cast<OpKind>(i));
      }
      return FailAt(keyword, "unknown op " + Quote(keyword.text) + " (" + names + ")");
    }
    op.kind = static_cast<OpKind>(kind);
    if (thread >= 0) {
      if (op.kind != OpKind::kRecv && op.kind != OpKind::kAddFd && op.kind != OpKind::kSend) {
        return FailAt(tokens_[0], "'on THREAD:' applies only to recv, addfd and send");
      }
      op.thread = thread;
    }
    if (s_.ops.size() >= kMaxOps) {
      return FailAt(keyword, "too many ops (max " + std::to_string(kMaxOps) + ")");
    }
    if (!ParseOpBody(keyword.text, &op)) return false;
    s_.ops.push_back(op);
    return true;
  }

  bool Target(Op* op) {
    Token token;
    return Next("a target name", &token) && TargetRef(token, &op->target);
  }

  bool ParseOpBody(std::string_view name, Op* op) {
    Tail tail;
    Token token;
    switch (op->kind) {
      case OpKind::kOpen:
        if (!Target(op) || !Next("devnull or memfd", &token) ||
            !ParseEnum(token, kFileNames, "file", &op->file) ||
            !ParseTail(name, {}, {"cloexec"}, 1, 1, true, &tail, op)) {
          return false;
        }
        op->cloexec = tail.Has("cloexec");
        return BindFd(tail.binds[0], &op->bind);
      case OpKind::kPipe:
      case OpKind::kSocketpair:
        if (!Target(op) || !ParseTail(name, {}, {"cloexec"}, 2, 2, true, &tail, op)) return false;
        op->cloexec = tail.Has("cloexec");
        return BindFd(tail.binds[0], &op->bind) && BindFd(tail.binds[1], &op->bind2);
      case OpKind::kClose:
        return Target(op) && Next("an fd number or fd name", &token) && FdRefOf(token, &op->fd) &&
               ParseTail(name, {}, {}, 0, 0, true, &tail, op);
      case OpKind::kDup:
        if (!Target(op) || !Next("an fd number or fd name", &token) || !FdRefOf(token, &op->fd) ||
            !ParseTail(name, {"min"}, {"cloexec"}, 1, 1, true, &tail, op)) {
          return false;
        }
        if (const Token* min = tail.Get("min")) {
          if (!ParseInt64(*min, "min", &op->value)) return false;
        }
        op->cloexec = tail.Has("cloexec");
        return BindFd(tail.binds[0], &op->bind);
      case OpKind::kDup2:
        if (!Target(op) || !Next("an fd number or fd name", &token) || !FdRefOf(token, &op->fd) ||
            !Next("a second fd number or fd name", &token) || !FdRefOf(token, &op->fd2) ||
            !ParseTail(name, {}, {"cloexec"}, 0, 0, true, &tail, op)) {
          return false;
        }
        op->cloexec = tail.Has("cloexec");
        return true;
      case OpKind::kNofile:
        return Target(op) && Next("a limit", &token) &&
               ParseInt64(token, "the limit", &op->value) &&
               ParseTail(name, {}, {}, 0, 0, true, &tail, op);
      case OpKind::kHandler:
        return Target(op) && Next("a signal", &token) && ParseSignal(token, &op->signal) &&
               Next("default, restart, norestart or ignore", &token) &&
               ParseEnum(token, kHandlerNames, "handler", &op->handler) &&
               ParseTail(name, {}, {}, 0, 0, true, &tail, op);
      case OpKind::kInstallFilter: {
        uint64_t flags = 0;
        if (!Target(op) || !Next("filter flags", &token) ||
            !ParseFlagSet(token, kFilterFlagNames, UINT32_MAX, &flags)) {
          return false;
        }
        op->flags = static_cast<uint32_t>(flags);
        return ParseTail(name, {}, {}, 0, 0, true, &tail, op);
      }
      case OpKind::kReserve:
        if (!Next("TARGET.TASK", &token) ||
            !TaskRef(token, "reserve", true, &op->target, &op->task) ||
            !ParseTail(name, {}, {}, 1, 1, true, &tail, op)) {
          return false;
        }
        return BindFd(tail.binds[0], &op->bind);
      case OpKind::kRelease:
        return Next("TARGET.TASK", &token) &&
               TaskRef(token, "release", false, &op->target, &op->task) &&
               ParseTail(name, {}, {}, 0, 0, true, &tail, op);
      case OpKind::kTrap:
        if (!Next("TARGET.TASK", &token) || !TaskRef(token, "trap", true, &op->target, &op->task) ||
            !ParseTail(name, {}, {}, 1, 1, true, &tail, op)) {
          return false;
        }
        return BindNotif(tail.binds[0], op);
      case OpKind::kReturned:
        return Next("a notification name", &token) && NotifRef(token, false, op) &&
               ParseTail(name, {}, {}, 0, 0, true, &tail, op);
      case OpKind::kSignalTask:
        return Next("TARGET.TASK", &token) &&
               TaskRef(token, "signal", false, &op->target, &op->task) &&
               Next("a signal", &token) && ParseSignal(token, &op->signal) &&
               ParseTail(name, {}, {}, 0, 0, true, &tail, op);
      case OpKind::kKill:
      case OpKind::kCloseListener:
        return Target(op) && ParseTail(name, {}, {}, 0, 0, true, &tail, op);
      case OpKind::kRecv:
        if (!Target(op) || !ParseTail(name, {"buffer"}, {}, 0, 0, true, &tail, op)) return false;
        if (const Token* buffer = tail.Get("buffer")) {
          return ParseEnum(*buffer, kBufferNames, "buffer", &op->buffer);
        }
        return true;
      case OpKind::kAddFd:
        return Next("a notification name", &token) && NotifRef(token, true, op) &&
               ParseTail(name, {"flags", "src", "newfd", "newfd_flags", "size", "arg"}, {}, 0, 1,
                         true, &tail, op) &&
               AddFdOptions(tail, op);
      case OpKind::kSend:
        return Next("a notification name", &token) && NotifRef(token, true, op) &&
               ParseTail(name, {"val", "error", "flags"}, {}, 0, 0, true, &tail, op) &&
               SendOptions(tail, op);
      case OpKind::kIdValid:
        if (!Next("a notification name", &token) || !NotifRef(token, true, op) ||
            !ParseTail(name, {}, {"legacy"}, 0, 0, true, &tail, op)) {
          return false;
        }
        op->legacy = tail.Has("legacy");
        return true;
      case OpKind::kSetFlags: {
        uint64_t flags = 0;
        if (!Target(op) || !Next("notifier flags", &token) ||
            !ParseFlagSet(token, kSetFlagsNames, UINT64_MAX, &flags)) {
          return false;
        }
        op->value = static_cast<int64_t>(flags);
        return ParseTail(name, {}, {}, 0, 0, true, &tail, op);
      }
      case OpKind::kIoctl:
        return Target(op) && Next("an ioctl number", &token) &&
               ParseBits64(token, "the ioctl number", &op->value) &&
               ParseTail(name, {}, {}, 0, 0, true, &tail, op);
      case OpKind::kWait:
        return Next("a thread name", &token) && ThreadRef(token, &op->thread) &&
               ParseTail(name, {}, {}, 0, 0, true, &tail, op);
      case OpKind::kSignalThread:
        if (!Next("a thread name", &token) || !ThreadRef(token, &op->thread) ||
            !ParseTail(name, {}, {"restart"}, 0, 0, true, &tail, op)) {
          return false;
        }
        op->restart = tail.Has("restart");
        return true;
      case OpKind::kSettle:
        return ParseTail(name, {}, {}, 0, 0, true, &tail, op);
    }
    return FailAt(tokens_[0], "unknown op");
  }

  bool BindNotif(const Token& token, Op* op) {
    if (!CheckNewName(token, "notification")) return false;
    if (IndexOf(s_.notifs, token.text) >= 0) {
      return FailAt(token, "notification " + Quote(token.text) + " already bound");
    }
    if (s_.notifs.size() >= kMaxNotifs) {
      return FailAt(token, "too many notifications (max " + std::to_string(kMaxNotifs) + ")");
    }
    op->notif = static_cast<int>(s_.notifs.size());
    s_.notifs.emplace_back(token.text);
    notif_target_.push_back(op->target);
    return true;
  }

  bool AddFdOptions(const Tail& tail, Op* op) {
    uint64_t bits = 0;
    if (const Token* flags = tail.Get("flags")) {
      if (!ParseFlagSet(*flags, kAddFdFlagNames, UINT32_MAX, &bits)) return false;
      op->flags = static_cast<uint32_t>(bits);
    }
    if (const Token* src = tail.Get("src")) {
      if (!ParseEnum(*src, kSourceNames, "source", &op->src)) return false;
    }
    if (const Token* newfd = tail.Get("newfd")) {
      if (!FdRefOf(*newfd, &op->fd)) return false;
    }
    if (const Token* newfd_flags = tail.Get("newfd_flags")) {
      if (!ParseFlagSet(*newfd_flags, kNewfdFlagNames, UINT32_MAX, &bits)) return false;
      op->newfd_flags = static_cast<uint32_t>(bits);
    }
    if (const Token* size = tail.Get("size")) {
      int64_t value = 0;
      if (!ParseRange(*size, 0, UINT32_MAX, "size", &value)) return false;
      op->size = static_cast<uint32_t>(value);
    }
    if (const Token* arg = tail.Get("arg")) {
      if (!ParseEnum(*arg, kArgNames, "addfd argument", &op->arg)) return false;
    }
    if (!tail.binds.empty()) return BindFd(tail.binds[0], &op->bind);
    return true;
  }

  bool SendOptions(const Tail& tail, Op* op) {
    if (const Token* val = tail.Get("val")) {
      if (!FdRefOf(*val, &op->fd)) return false;
    }
    if (const Token* error = tail.Get("error")) {
      if (!ParseErrnoField(*error, &op->error)) return false;
    }
    if (const Token* flags = tail.Get("flags")) {
      uint64_t bits = 0;
      if (!ParseFlagSet(*flags, kRespFlagNames, UINT32_MAX, &bits)) return false;
      op->flags = static_cast<uint32_t>(bits);
    }
    return true;
  }

  std::string_view file_;
  ParseError* error_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int line_ = 0;
  int end_column_ = 1;
  Scenario s_;
  std::vector<int> notif_target_;  // the target of each notification
};

// Prints a scenario; indices out of range print as "?" rather than crash.
class Printer {
 public:
  explicit Printer(const Scenario& scenario) : s_(scenario) {}

  std::string Run() {
    for (const std::string& cell : s_.cells) out_ += "cell " + cell + "\n";
    for (const TargetDecl& target : s_.targets) {
      out_ += "target " + target.name;
      if (target.filter_flags != uapi::kFilterNewListener) {
        out_ += " filter=" + Flags(target.filter_flags, kFilterFlagNames);
      }
      if (target.callers != TargetDecl{}.callers) {
        out_ += " callers=" + std::to_string(target.callers);
      }
      out_ += "\n";
    }
    if (!out_.empty() && !s_.ops.empty()) out_ += "\n";
    thread_last_.assign(s_.threads.size(), OpKind::kSettle);
    for (const Op& op : s_.ops) PrintOp(op);
    return std::move(out_);
  }

 private:
  static std::string Name(const std::vector<std::string>& names, int index) {
    if (index < 0 || static_cast<size_t>(index) >= names.size()) return "?";
    return names[static_cast<size_t>(index)];
  }
  std::string TargetName(int index) const {
    if (index < 0 || static_cast<size_t>(index) >= s_.targets.size()) return "?";
    return s_.targets[static_cast<size_t>(index)].name;
  }
  std::string Task(const Op& op) const {
    return TargetName(op.target) + "." + std::to_string(op.task);
  }
  std::string Fd(const FdRef& ref) const {
    return ref.name >= 0 ? Name(s_.fd_names, ref.name) : std::to_string(ref.literal);
  }
  std::string Notif(const Op& op) const {
    std::string out = Name(s_.notifs, op.notif);
    if (op.id_delta > 0) out += "+" + std::to_string(op.id_delta);
    if (op.id_delta < 0) out += "-" + std::to_string(0 - static_cast<uint64_t>(op.id_delta));
    return out;
  }
  template <typename Enum>
  static std::string EnumName(std::span<const char* const> names, Enum value) {
    const auto index = static_cast<size_t>(value);
    return index < names.size() ? names[index] : "?";
  }

  void PrintOp(const Op& op) {
    const Op def;
    std::string line;
    const bool on_thread =
        op.kind == OpKind::kRecv || op.kind == OpKind::kAddFd || op.kind == OpKind::kSend;
    if (on_thread && op.thread >= 0) {
      line += "on " + Name(s_.threads, op.thread) + ": ";
      if (static_cast<size_t>(op.thread) < thread_last_.size()) {
        thread_last_[static_cast<size_t>(op.thread)] = op.kind;
      }
    }
    line += OpKindName(op.kind);
    const std::string cloexec = op.cloexec ? " cloexec" : "";
    switch (op.kind) {
      case OpKind::kOpen:
        line += " " + TargetName(op.target) + " " + EnumName(kFileNames, op.file) + cloexec +
                " -> " + Name(s_.fd_names, op.bind);
        break;
      case OpKind::kPipe:
      case OpKind::kSocketpair:
        line += " " + TargetName(op.target) + cloexec + " -> " + Name(s_.fd_names, op.bind) + " " +
                Name(s_.fd_names, op.bind2);
        break;
      case OpKind::kClose:
        line += " " + TargetName(op.target) + " " + Fd(op.fd);
        break;
      case OpKind::kDup:
        line += " " + TargetName(op.target) + " " + Fd(op.fd);
        if (op.value != def.value) line += " min=" + std::to_string(op.value);
        line += cloexec + " -> " + Name(s_.fd_names, op.bind);
        break;
      case OpKind::kDup2:
        line += " " + TargetName(op.target) + " " + Fd(op.fd) + " " + Fd(op.fd2) + cloexec;
        break;
      case OpKind::kNofile:
        line += " " + TargetName(op.target) + " " + std::to_string(op.value);
        break;
      case OpKind::kHandler:
        line += " " + TargetName(op.target) + " " + SignalText(op.signal) + " " +
                EnumName(kHandlerNames, op.handler);
        break;
      case OpKind::kInstallFilter:
        line += " " + TargetName(op.target) + " " + Flags(op.flags, kFilterFlagNames);
        break;
      case OpKind::kReserve:
        line += " " + Task(op) + " -> " + Name(s_.fd_names, op.bind);
        break;
      case OpKind::kRelease:
        line += " " + Task(op);
        break;
      case OpKind::kTrap:
        line += " " + Task(op) + " -> " + Name(s_.notifs, op.notif);
        break;
      case OpKind::kReturned:
        line += " " + Notif(op);
        break;
      case OpKind::kSignalTask:
        line += " " + Task(op) + " " + SignalText(op.signal);
        break;
      case OpKind::kKill:
      case OpKind::kCloseListener:
        line += " " + TargetName(op.target);
        break;
      case OpKind::kRecv:
        line += " " + TargetName(op.target);
        if (op.buffer != def.buffer) line += " buffer=" + EnumName(kBufferNames, op.buffer);
        break;
      case OpKind::kAddFd:
        line += " " + Notif(op);
        if (op.flags != def.flags) line += " flags=" + Flags(op.flags, kAddFdFlagNames);
        if (op.src != def.src) line += " src=" + EnumName(kSourceNames, op.src);
        if (op.fd != def.fd) line += " newfd=" + Fd(op.fd);
        if (op.newfd_flags != def.newfd_flags) {
          line += " newfd_flags=" + Flags(op.newfd_flags, kNewfdFlagNames);
        }
        if (op.size != def.size) line += " size=" + std::to_string(op.size);
        if (op.arg != def.arg) line += " arg=" + EnumName(kArgNames, op.arg);
        if (op.bind >= 0) line += " -> " + Name(s_.fd_names, op.bind);
        break;
      case OpKind::kSend:
        line += " " + Notif(op);
        if (op.fd != def.fd) line += " val=" + Fd(op.fd);
        if (op.error != def.error) line += " error=" + ErrnoText(op.error);
        if (op.flags != def.flags) line += " flags=" + Flags(op.flags, kRespFlagNames);
        break;
      case OpKind::kIdValid:
        line += " " + Notif(op) + (op.legacy ? " legacy" : "");
        break;
      case OpKind::kSetFlags:
        line += " " + TargetName(op.target) + " " +
                Flags(static_cast<uint64_t>(op.value), kSetFlagsNames);
        break;
      case OpKind::kIoctl:
        line += " " + TargetName(op.target) + " " + Hex(static_cast<uint64_t>(op.value));
        break;
      case OpKind::kWait:
        line += " " + Name(s_.threads, op.thread);
        break;
      case OpKind::kSignalThread:
        line += " " + Name(s_.threads, op.thread) + (op.restart ? " restart" : "");
        break;
      case OpKind::kSettle:
        break;
    }
    if (op.expect.present) line += " expect " + ExpectText(op);
    if (op.kind == OpKind::kTrap) ++notifs_bound_;
    out_ += line + "\n";
  }

  std::string ExpectText(const Op& op) const {
    const Outcome& outcome = op.expect.outcome;
    switch (outcome.kind) {
      case Outcome::Kind::kOk: {
        if (op.expect.any_value) return "ok";
        // A recv's value is the index of the notification it received: print its name.
        bool notif_value = op.kind == OpKind::kRecv;
        if (op.kind == OpKind::kWait && op.thread >= 0 &&
            static_cast<size_t>(op.thread) < thread_last_.size()) {
          notif_value = thread_last_[static_cast<size_t>(op.thread)] == OpKind::kRecv;
        }
        if (notif_value && outcome.value >= 0 &&
            static_cast<uint64_t>(outcome.value) < std::min(notifs_bound_, s_.notifs.size())) {
          return "ok=" + s_.notifs[static_cast<size_t>(outcome.value)];
        }
        return "ok=" + std::to_string(outcome.value);
      }
      case Outcome::Kind::kError:
        return ErrnoText(outcome.err);
      case Outcome::Kind::kBlocked:
        return "blocked";
    }
    return "?";
  }

  const Scenario& s_;
  std::string out_;
  size_t notifs_bound_ = 0;
  std::vector<OpKind> thread_last_;  // the kind of the op last started on each thread
};

}  // namespace

std::string ParseError::ToString() const {
  return (file.empty() ? std::string("<input>") : file) + ":" + std::to_string(line) + ":" +
         std::to_string(column) + ": " + message;
}

std::optional<Scenario> ParseScenario(std::string_view text, std::string_view file,
                                      ParseError* error) {
  return Parser(file, error).Run(text);
}

std::string PrintScenario(const Scenario& scenario) { return Printer(scenario).Run(); }

}  // namespace addfdlab
