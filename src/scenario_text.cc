// The .scn grammar: a parser, line by line, of cells, targets and ops with their options,
// bound names and expect clauses, reporting the first error with its line and column.
#include "addfdlab/scenario_text.h"

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "addfdlab/result.h"
#include "scenario_lexer.h"
#include "scenario_names.h"
#include "scenario_values.h"

namespace addfdlab {
namespace scenario_text {
namespace {

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

// The ops that may start on a supervisor thread: "recv, addfd and send".
std::string OnThreadKinds() {
  std::vector<const char*> names;
  for (const OpTraits& row : kOpTraits) {
    if (row.on_thread) names.push_back(row.name);
  }
  std::string text;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) text += i + 1 == names.size() ? " and " : ", ";
    text += names[i];
  }
  return text;
}

class Parser {
 public:
  Parser(std::string_view file, ParseError* error) : diag_(file, error) {}

  std::optional<Scenario> Run(std::string_view text) {
    LineReader lines(text);
    std::string_view content;
    while (lines.Next(&content)) {
      line_ = lines.line();
      diag_.set_line(line_);
      Tokenize(content, &tokens_);
      pos_ = 0;
      if (!tokens_.empty() && !ParseLine()) return std::nullopt;
      end_column_ = ColumnOf(content.size());
    }
    if (s_.targets.empty()) {
      tokens_.clear();
      Fail(end_column_, "no target declared (a scenario needs a 'target NAME' line)");
      return std::nullopt;
    }
    if (!pending_places_.empty()) {
      tokens_.clear();
      Fail(end_column_,
           "process " + Quote(pending_places_.begin()->first) + " has no op started on it");
      return std::nullopt;
    }
    while (!s_.places.empty() && s_.places.back() == ThreadPlace::kThread) s_.places.pop_back();
    return std::move(s_);
  }

 private:
  bool Fail(int column, std::string message) { return diag_.Fail(column, std::move(message)); }
  bool FailAt(const Token& token, std::string message) {
    return diag_.FailAt(token, std::move(message));
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
    if (head == "process") return ParseProcess();
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
    if (!names_.CheckNewName(name, "target")) return false;
    if (IndexOf(names_.TargetNames(), name.text) >= 0) {
      return FailAt(name, "target " + Quote(name.text) + " already declared");
    }
    if (s_.targets.size() >= kMaxTargets) {
      return FailAt(tokens_[0], "too many targets (max " + std::to_string(kMaxTargets) + ")");
    }
    Tail tail;
    if (!ParseTail("target", {"filter", "callers"}, {"pidns"}, 0, 0, false, &tail, nullptr)) {
      return false;
    }
    TargetDecl decl;
    decl.name = std::string(name.text);
    decl.pid_ns = tail.Has("pidns");
    if (const Token* filter = tail.Get("filter")) {
      uint64_t flags = 0;
      if (!values_.ParseFlagSet(*filter, kFilterFlagNames, UINT32_MAX, &flags)) return false;
      decl.filter_flags = static_cast<uint32_t>(flags);
    }
    if (const Token* callers = tail.Get("callers")) {
      int64_t value = 0;
      if (!values_.ParseRange(*callers, 0, kMaxCallers, "callers", &value)) return false;
      decl.callers = static_cast<int>(value);
    }
    s_.targets.push_back(std::move(decl));
    return true;
  }

  // `process TH [pidns]`: thread TH, once an op starts on it, is a second supervisor
  // process (Scenario::places).
  bool ParseProcess() {
    pos_ = 1;
    Token name;
    if (!Next("a thread name", &name)) return false;
    if (!names_.CheckNewName(name, "thread")) return false;
    if (IndexOf(s_.threads, name.text) >= 0 || pending_places_.count(std::string(name.text)) > 0) {
      return FailAt(name, "thread " + Quote(name.text) + " already declared");
    }
    Tail tail;
    if (!ParseTail("process", {}, {"pidns"}, 0, 0, false, &tail, nullptr)) return false;
    pending_places_[std::string(name.text)] =
        tail.Has("pidns") ? ThreadPlace::kProcessPidNs : ThreadPlace::kProcess;
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
        const int notif = names_.LookupNotif(value);
        if (notif < 0) return false;
        expect.outcome = Outcome::Ok(notif);
        return true;
      }
      int64_t number = 0;
      if (!values_.ParseInt64(value, "the expected value", &number)) return false;
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
      if (!values_.ParseRange(outcome, 1, kMaxErrno, "an errno", &number)) return false;
      err = static_cast<int>(number);
    }
    expect.outcome = Outcome::Error(err);
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
    if (!names_.CheckNewName(name, "thread")) return false;
    *thread = IndexOf(s_.threads, name.text);
    if (*thread >= 0) return true;
    if (s_.threads.size() >= kMaxThreads) {
      return FailAt(name, "too many threads (max " + std::to_string(kMaxThreads) + ")");
    }
    *thread = static_cast<int>(s_.threads.size());
    s_.threads.emplace_back(name.text);
    const auto pending = pending_places_.find(std::string(name.text));
    s_.places.resize(s_.threads.size(), ThreadPlace::kThread);
    if (pending != pending_places_.end()) {
      s_.places.back() = pending->second;
      pending_places_.erase(pending);
    }
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
    const OpTraits* traits = nullptr;
    for (const OpTraits& row : kOpTraits) {
      if (keyword.text == row.name) traits = &row;
    }
    if (traits == nullptr) {
      std::string names = "cell, target";
      for (const OpTraits& row : kOpTraits) names += std::string(", ") + row.name;
      return FailAt(keyword, "unknown op " + Quote(keyword.text) + " (" + names + ")");
    }
    op.kind = traits->kind;
    if (thread >= 0) {
      if (!traits->on_thread) {
        return FailAt(tokens_[0], "'on THREAD:' applies only to " + OnThreadKinds());
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
    return Next("a target name", &token) && names_.TargetRef(token, &op->target);
  }

  bool ParseOpBody(std::string_view name, Op* op) {
    Tail tail;
    Token token;
    switch (op->kind) {
      case OpKind::kOpen:
        return ParseOpen(name, op);
      case OpKind::kPipe:
      case OpKind::kSocketpair:
        if (!Target(op) || !ParseTail(name, {}, {"cloexec"}, 2, 2, true, &tail, op)) return false;
        op->cloexec = tail.Has("cloexec");
        return names_.BindFd(tail.binds[0], &op->bind) && names_.BindFd(tail.binds[1], &op->bind2);
      case OpKind::kClose:
        return Target(op) && Next("an fd number or fd name", &token) &&
               names_.FdRefOf(token, &op->fd) && ParseTail(name, {}, {}, 0, 0, true, &tail, op);
      case OpKind::kDup:
        return ParseDup(name, op);
      case OpKind::kDup2:
        return ParseDup2(name, op);
      case OpKind::kNofile:
        return Target(op) && Next("a limit", &token) &&
               values_.ParseInt64(token, "the limit", &op->value) &&
               ParseTail(name, {}, {}, 0, 0, true, &tail, op);
      case OpKind::kHandler:
        return Target(op) && Next("a signal", &token) && values_.ParseSignal(token, &op->signal) &&
               Next("default, restart, norestart or ignore", &token) &&
               values_.ParseEnum(token, kHandlerKindNames, "handler", &op->handler) &&
               ParseTail(name, {}, {}, 0, 0, true, &tail, op);
      case OpKind::kInstallFilter:
        return ParseFlagsOp(name, op);
      case OpKind::kReserve:
        return ParseTaskBinding(name, op);
      case OpKind::kRelease:
        return Next("TARGET.TASK", &token) &&
               names_.TaskRef(token, OpKindName(op->kind), false, &op->target, &op->task) &&
               ParseTail(name, {}, {}, 0, 0, true, &tail, op);
      case OpKind::kSpawn:
        if (!Next("TARGET.TASK", &token) ||
            !names_.TaskRef(token, "spawn", false, &op->target, &op->task) ||
            !ParseTail(name, {}, {"thread"}, 0, 0, true, &tail, op)) {
          return false;
        }
        op->spawn_as = tail.Has("thread") ? SpawnAs::kThread : SpawnAs::kProcess;
        return true;
      case OpKind::kTrap:
        return ParseTaskBinding(name, op);
      case OpKind::kReturned:
        return Next("a notification name", &token) && names_.NotifRef(token, false, op) &&
               ParseTail(name, {}, {}, 0, 0, true, &tail, op);
      case OpKind::kSignalTask:
        return Next("TARGET.TASK", &token) &&
               names_.TaskRef(token, "signal", false, &op->target, &op->task) &&
               Next("a signal", &token) && values_.ParseSignal(token, &op->signal) &&
               ParseTail(name, {}, {}, 0, 0, true, &tail, op);
      case OpKind::kKill:
      case OpKind::kCloseListener:
        return Target(op) && ParseTail(name, {}, {}, 0, 0, true, &tail, op);
      case OpKind::kRecv:
        return ParseRecv(name, op);
      case OpKind::kAddFd:
        return Next("a notification name", &token) && names_.NotifRef(token, true, op) &&
               ParseTail(
                   name,
                   {"flags", "src", "newfd", "newfd_flags", "size", "arg", "emulates", "inject"},
                   {}, 0, 1, true, &tail, op) &&
               AddFdOptions(tail, op);
      case OpKind::kSend:
        return Next("a notification name", &token) && names_.NotifRef(token, true, op) &&
               ParseTail(name, {"val", "error", "flags"}, {}, 0, 0, true, &tail, op) &&
               SendOptions(tail, op);
      case OpKind::kIdValid:
        return ParseIdValid(name, op);
      case OpKind::kSetFlags:
        return ParseFlagsOp(name, op);
      case OpKind::kIoctl:
        return Target(op) && Next("an ioctl number", &token) &&
               values_.ParseBits64(token, "the ioctl number", &op->value) &&
               ParseTail(name, {}, {}, 0, 0, true, &tail, op);
      case OpKind::kWait:
        return Next("a thread name", &token) && names_.ThreadRef(token, &op->thread) &&
               ParseTail(name, {}, {}, 0, 0, true, &tail, op);
      case OpKind::kSignalThread:
        return ParseSignalThread(name, op);
      case OpKind::kSettle:
        return ParseTail(name, {}, {}, 0, 0, true, &tail, op);
      case OpKind::kWork:
        return Next("a notification name", &token) && names_.NotifRef(token, false, op) &&
               ParseTail(name, {}, {}, 0, 0, true, &tail, op);
      case OpKind::kPoll:
        return ParseFlagsOp(name, op);
      case OpKind::kGetNotifSizes:
        return ParseTail(name, {}, {}, 0, 0, true, &tail, op);
    }
    return FailAt(tokens_[0], "unknown op");
  }

  // install_filter TARGET FLAGS, set_flags TARGET FLAGS and poll TARGET EVENTS.
  bool ParseFlagsOp(std::string_view name, Op* op) {
    Tail tail;
    Token token;
    const bool set_flags = op->kind == OpKind::kSetFlags;
    std::span<const FlagName> names = kFilterFlagNames;
    const char* what = "filter flags";
    if (set_flags) {
      names = kSetFlagsNames;
      what = "notifier flags";
    } else if (op->kind == OpKind::kPoll) {
      names = kPollEventNames;
      what = "poll events";
    }
    uint64_t flags = 0;
    if (!Target(op) || !Next(what, &token) ||
        !values_.ParseFlagSet(token, names, set_flags ? UINT64_MAX : UINT32_MAX, &flags)) {
      return false;
    }
    if (set_flags) {
      op->value = static_cast<int64_t>(flags);
    } else {
      op->flags = static_cast<uint32_t>(flags);
    }
    return ParseTail(name, {}, {}, 0, 0, true, &tail, op);
  }

  // recv TARGET [buffer=KIND].
  bool ParseRecv(std::string_view name, Op* op) {
    Tail tail;
    if (!Target(op) || !ParseTail(name, {"buffer"}, {}, 0, 0, true, &tail, op)) return false;
    if (const Token* buffer = tail.Get("buffer")) {
      return values_.ParseEnum(*buffer, kBufferKindNames, "buffer", &op->buffer);
    }
    return true;
  }

  // open TARGET FILE [cloexec] -> FD.
  bool ParseOpen(std::string_view name, Op* op) {
    Tail tail;
    Token token;
    if (!Target(op) || !Next("devnull or memfd", &token) ||
        !values_.ParseEnum(token, kFileKindNames, "file", &op->file) ||
        !ParseTail(name, {}, {"cloexec"}, 1, 1, true, &tail, op)) {
      return false;
    }
    op->cloexec = tail.Has("cloexec");
    return names_.BindFd(tail.binds[0], &op->bind);
  }

  // dup TARGET FD [min=N] [cloexec] -> FD.
  bool ParseDup(std::string_view name, Op* op) {
    Tail tail;
    Token token;
    if (!Target(op) || !Next("an fd number or fd name", &token) ||
        !names_.FdRefOf(token, &op->fd) ||
        !ParseTail(name, {"min"}, {"cloexec"}, 1, 1, true, &tail, op)) {
      return false;
    }
    if (const Token* min = tail.Get("min")) {
      if (!values_.ParseInt64(*min, "min", &op->value)) return false;
    }
    op->cloexec = tail.Has("cloexec");
    return names_.BindFd(tail.binds[0], &op->bind);
  }

  // dup2 TARGET FD FD [cloexec].
  bool ParseDup2(std::string_view name, Op* op) {
    Tail tail;
    Token token;
    if (!Target(op) || !Next("an fd number or fd name", &token) ||
        !names_.FdRefOf(token, &op->fd) || !Next("a second fd number or fd name", &token) ||
        !names_.FdRefOf(token, &op->fd2) ||
        !ParseTail(name, {}, {"cloexec"}, 0, 0, true, &tail, op)) {
      return false;
    }
    op->cloexec = tail.Has("cloexec");
    return true;
  }

  // reserve TARGET.TASK -> FD and trap TARGET.TASK [dup=FD] -> NOTIF.
  bool ParseTaskBinding(std::string_view name, Op* op) {
    Tail tail;
    Token token;
    const bool trap = op->kind == OpKind::kTrap;
    if (!Next("TARGET.TASK", &token) ||
        !names_.TaskRef(token, trap ? "trap" : "reserve", true, &op->target, &op->task)) {
      return false;
    }
    if (!trap) {
      return ParseTail(name, {}, {}, 1, 1, true, &tail, op) &&
             names_.BindFd(tail.binds[0], &op->bind);
    }
    if (!ParseTail(name, {"dup"}, {}, 1, 1, true, &tail, op)) return false;
    if (const Token* dup = tail.Get("dup")) {
      op->call = TrapCall::kDup;
      if (!names_.FdRefOf(*dup, &op->fd)) return false;
    }
    return names_.BindNotif(tail.binds[0], op);
  }

  // id_valid NOTIF [legacy].
  bool ParseIdValid(std::string_view name, Op* op) {
    Tail tail;
    Token token;
    if (!Next("a notification name", &token) || !names_.NotifRef(token, true, op) ||
        !ParseTail(name, {}, {"legacy"}, 0, 0, true, &tail, op)) {
      return false;
    }
    op->legacy = tail.Has("legacy");
    return true;
  }

  // signal_thread THREAD [restart].
  bool ParseSignalThread(std::string_view name, Op* op) {
    Tail tail;
    Token token;
    if (!Next("a thread name", &token) || !names_.ThreadRef(token, &op->thread) ||
        !ParseTail(name, {}, {"restart"}, 0, 0, true, &tail, op)) {
      return false;
    }
    op->restart = tail.Has("restart");
    return true;
  }

  bool AddFdOptions(const Tail& tail, Op* op) {
    uint64_t bits = 0;
    if (const Token* flags = tail.Get("flags")) {
      if (!values_.ParseFlagSet(*flags, kAddFdFlagNames, UINT32_MAX, &bits)) return false;
      op->flags = static_cast<uint32_t>(bits);
    }
    if (const Token* src = tail.Get("src")) {
      if (!values_.ParseEnum(*src, kSourceKindNames, "source", &op->src)) return false;
    }
    if (const Token* newfd = tail.Get("newfd")) {
      if (!names_.FdRefOf(*newfd, &op->fd)) return false;
    }
    if (const Token* newfd_flags = tail.Get("newfd_flags")) {
      if (!values_.ParseFlagSet(*newfd_flags, kNewfdFlagNames, UINT32_MAX, &bits)) return false;
      op->newfd_flags = static_cast<uint32_t>(bits);
    }
    if (const Token* size = tail.Get("size")) {
      int64_t value = 0;
      if (!values_.ParseRange(*size, 0, UINT32_MAX, "size", &value)) return false;
      op->size = static_cast<uint32_t>(value);
    }
    if (const Token* arg = tail.Get("arg")) {
      if (!values_.ParseEnum(*arg, kAddFdArgNames, "addfd argument", &op->arg)) return false;
    }
    if (const Token* emulates = tail.Get("emulates")) {
      if (!values_.ParseEnum(*emulates, kEmulatedCallNames, "emulated call", &op->emulates)) {
        return false;
      }
    }
    if (const Token* inject = tail.Get("inject")) {
      if (!values_.ParseEnum(*inject, kInjectKindNames, "injection", &op->inject)) return false;
    }
    if (!tail.binds.empty()) return names_.BindFd(tail.binds[0], &op->bind);
    return true;
  }

  bool SendOptions(const Tail& tail, Op* op) {
    if (const Token* val = tail.Get("val")) {
      if (!names_.FdRefOf(*val, &op->fd)) return false;
    }
    if (const Token* error = tail.Get("error")) {
      if (!values_.ParseErrnoField(*error, &op->error)) return false;
    }
    if (const Token* flags = tail.Get("flags")) {
      uint64_t bits = 0;
      if (!values_.ParseFlagSet(*flags, kRespFlagNames, UINT32_MAX, &bits)) return false;
      op->flags = static_cast<uint32_t>(bits);
    }
    return true;
  }

  Diagnostics diag_;
  ValueReader values_{&diag_};
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int line_ = 0;
  int end_column_ = 1;
  Scenario s_;
  // Threads a `process` line declared that no op has started on yet.
  std::map<std::string, ThreadPlace> pending_places_;
  ScenarioNames names_{s_, &diag_, &values_};
};

}  // namespace
}  // namespace scenario_text

std::string ParseError::ToString() const {
  return (file.empty() ? std::string("<input>") : file) + ":" + std::to_string(line) + ":" +
         std::to_string(column) + ": " + message;
}

std::optional<Scenario> ParseScenario(std::string_view text, std::string_view file,
                                      ParseError* error) {
  return scenario_text::Parser(file, error).Run(text);
}

}  // namespace addfdlab
