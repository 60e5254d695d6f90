// Scenario names, outcome text and the validator that keeps every scenario canonical.
#include "addfdlab/scenario.h"

#include <set>

#include "addfdlab/result.h"

namespace addfdlab {
namespace {

using op_field::kArg, op_field::kCall, op_field::kSpawnAs, op_field::kBind, op_field::kBind2,
    op_field::kBindOptional, op_field::kBuffer, op_field::kInject, op_field::kCloexec,
    op_field::kEmulates, op_field::kError, op_field::kFd, op_field::kFd2, op_field::kFile,
    op_field::kFlags, op_field::kHandler, op_field::kIdDelta, op_field::kLegacy,
    op_field::kNewfdFlags, op_field::kNotifBind, op_field::kNotifUse, op_field::kRestart,
    op_field::kSignal, op_field::kSize, op_field::kSrc, op_field::kTarget, op_field::kTask,
    op_field::kTaskCaller, op_field::kThreadOn, op_field::kThreadUsed, op_field::kValue;

// The name of the first field that `kind` does not use and `op` sets, or nullptr.
const char* UnusedFieldSet(const Op& op, uint32_t fields) {
  const Op def;
  // Notification kinds carry their trap's target; it is checked with the notification.
  if (!(fields & (kTarget | kNotifUse)) && op.target != def.target) return "target";
  if (!(fields & (kThreadOn | kThreadUsed)) && op.thread != def.thread) return "thread";
  if (!(fields & (kTask | kTaskCaller)) && op.task != def.task) return "task";
  if (!(fields & (kNotifUse | kNotifBind)) && op.notif != def.notif) return "notif";
  if (!(fields & (kBind | kBindOptional)) && op.bind != def.bind) return "bind";
  if (!(fields & kBind2) && op.bind2 != def.bind2) return "bind2";
  if (!(fields & kFd) && op.fd != def.fd) return "fd";
  if (!(fields & kFd2) && op.fd2 != def.fd2) return "fd2";
  if (!(fields & kValue) && op.value != def.value) return "value";
  if (!(fields & kIdDelta) && op.id_delta != def.id_delta) return "id_delta";
  if (!(fields & kFlags) && op.flags != def.flags) return "flags";
  if (!(fields & kNewfdFlags) && op.newfd_flags != def.newfd_flags) return "newfd_flags";
  if (!(fields & kError) && op.error != def.error) return "error";
  if (!(fields & kSize) && op.size != def.size) return "size";
  if (!(fields & kSrc) && op.src != def.src) return "src";
  if (!(fields & kFile) && op.file != def.file) return "file";
  if (!(fields & kBuffer) && op.buffer != def.buffer) return "buffer";
  if (!(fields & kArg) && op.arg != def.arg) return "arg";
  if (!(fields & kInject) && op.inject != def.inject) return "inject";
  if (!(fields & kHandler) && op.handler != def.handler) return "handler";
  if (!(fields & kSignal) && op.signal != def.signal) return "signal";
  if (!(fields & kCloexec) && op.cloexec != def.cloexec) return "cloexec";
  if (!(fields & kLegacy) && op.legacy != def.legacy) return "legacy";
  if (!(fields & kRestart) && op.restart != def.restart) return "restart";
  if (!(fields & kEmulates) && op.emulates != def.emulates) return "emulates";
  if (!(fields & kCall) && op.call != def.call) return "call";
  if (!(fields & kSpawnAs) && op.spawn_as != def.spawn_as) return "spawn_as";
  // A trap names an fd only for dup.
  if (op.kind == OpKind::kTrap && op.call != TrapCall::kDup && op.fd != def.fd) return "fd";
  return nullptr;
}

Result<void> CheckExpect(const Expect& expect) {
  if (!expect.present) {
    if (expect == Expect{}) return {};
    return Error::Invalid("an absent expectation must stay at its defaults");
  }
  const Outcome& outcome = expect.outcome;
  switch (outcome.kind) {
    case Outcome::Kind::kOk:
      if (outcome.err != 0) return Error::Invalid("an expected success carries an errno");
      if (expect.any_value && outcome.value != 0) {
        return Error::Invalid("'expect ok' carries a value");
      }
      return {};
    case Outcome::Kind::kError:
      if (outcome.err < 1 || outcome.err > kMaxErrno) {
        return Error::Invalid("expected errno " + std::to_string(outcome.err) + " is outside 1.." +
                              std::to_string(kMaxErrno));
      }
      if (outcome.value != 0 || expect.any_value) {
        return Error::Invalid("an expected error carries a value");
      }
      return {};
    case Outcome::Kind::kBlocked:
      if (outcome.value != 0 || outcome.err != 0 || expect.any_value) {
        return Error::Invalid("an expected block carries a value");
      }
      return {};
  }
  return Error::Invalid("unknown outcome kind");
}

Result<void> CheckNames(const std::vector<std::string>& names, const char* what) {
  std::set<std::string> seen;
  for (const std::string& name : names) {
    if (!IsScenarioName(name)) {
      return Error::Invalid(std::string("invalid ") + what + " name '" + name + "'");
    }
    if (!seen.insert(name).second) {
      return Error::Invalid(std::string("duplicate ") + what + " name '" + name + "'");
    }
  }
  return {};
}

Error TooMany(const char* what, size_t count, int max) {
  return Error::Invalid("too many " + std::string(what) + " (" + std::to_string(count) + ", max " +
                        std::to_string(max) + ")");
}

// Walks the ops in order, tracking what is bound.
class Validator {
 public:
  explicit Validator(const Scenario& scenario) : s_(scenario) {}

  Result<void> Run() {
    if (s_.targets.empty()) return Error::Invalid("no target declared");
    if (s_.targets.size() > kMaxTargets) return TooMany("targets", s_.targets.size(), kMaxTargets);
    if (s_.threads.size() > kMaxThreads) return TooMany("threads", s_.threads.size(), kMaxThreads);
    if (s_.notifs.size() > kMaxNotifs)
      return TooMany("notifications", s_.notifs.size(), kMaxNotifs);
    if (s_.fd_names.size() > kMaxFdNames) {
      return TooMany("fd names", s_.fd_names.size(), kMaxFdNames);
    }
    if (s_.ops.size() > kMaxOps) return TooMany("ops", s_.ops.size(), kMaxOps);
    for (const std::string& cell : s_.cells) {
      if (!IsCellId(cell)) return Error::Invalid("invalid cell ID '" + cell + "'");
    }
    std::set<std::string> target_names;
    for (const TargetDecl& target : s_.targets) {
      if (!IsScenarioName(target.name)) {
        return Error::Invalid("invalid target name '" + target.name + "'");
      }
      if (!target_names.insert(target.name).second) {
        return Error::Invalid("duplicate target name '" + target.name + "'");
      }
      if (target.callers < 0 || target.callers > kMaxCallers) {
        return Error::Invalid("target '" + target.name + "' has " + std::to_string(target.callers) +
                              " callers (0.." + std::to_string(kMaxCallers) + ")");
      }
    }
    if (s_.places.size() > s_.threads.size()) {
      return Error::Invalid("a place for thread " + std::to_string(s_.places.size() - 1) + ", of " +
                            std::to_string(s_.threads.size()) + " threads");
    }
    for (ThreadPlace place : s_.places) {
      if (static_cast<int>(place) >= kThreadPlaceCount) return Error::Invalid("unknown place");
    }
    if (!s_.places.empty() && s_.places.back() == ThreadPlace::kThread) {
      return Error::Invalid("the places end with a thread's (not canonical)");
    }
    for (auto [names, what] :
         {std::pair{&s_.threads, "thread"}, std::pair{&s_.notifs, "notification"},
          std::pair{&s_.fd_names, "fd"}}) {
      ADDFDLAB_TRY(CheckNames(*names, what));
    }
    for (size_t i = 0; i < s_.ops.size(); ++i) {
      index_ = i;
      Result<void> checked = CheckOp(s_.ops[i]);
      if (!checked) {
        const auto kind = static_cast<int>(s_.ops[i].kind);
        const char* name = kind < kOpKindCount ? OpKindName(s_.ops[i].kind) : "?";
        return std::move(checked).error().WithContext("op " + std::to_string(i + 1) + " (" + name +
                                                      ")");
      }
    }
    if (threads_ != s_.threads.size()) {
      return Error::Invalid("thread '" + s_.threads[threads_] + "' is never used");
    }
    if (notifs_.size() != s_.notifs.size()) {
      return Error::Invalid("notification '" + s_.notifs[notifs_.size()] + "' is never bound");
    }
    if (fds_ != s_.fd_names.size()) {
      return Error::Invalid("fd name '" + s_.fd_names[fds_] + "' is never bound");
    }
    return {};
  }

 private:
  Result<void> CheckOp(const Op& op) {
    if (static_cast<int>(op.kind) >= kOpKindCount) return Error::Invalid("unknown op kind");
    const uint32_t fields = OpTraitsOf(op.kind).fields;
    if (const char* field = UnusedFieldSet(op, fields)) {
      return Error::Invalid(std::string("field '") + field +
                            "' is not used by this op and must stay at its default");
    }
    if ((fields & kTarget) &&
        (op.target < 0 || static_cast<size_t>(op.target) >= s_.targets.size())) {
      return Error::Invalid("target " + std::to_string(op.target) + " out of range");
    }
    if (fields & kNotifUse) {
      if (op.notif < 0 || static_cast<size_t>(op.notif) >= notifs_.size()) {
        return Error::Invalid("notification " + std::to_string(op.notif) +
                              " used before a trap binds it");
      }
      if (op.target != notifs_[static_cast<size_t>(op.notif)]) {
        return Error::Invalid("target " + std::to_string(op.target) +
                              " is not the target of notification '" +
                              s_.notifs[static_cast<size_t>(op.notif)] + "'");
      }
    }
    if (fields & (kTask | kTaskCaller)) {
      const int last = TasksBefore(s_, op.target, index_) - 1;
      const int lowest = (fields & kTaskCaller) ? 1 : 0;
      if (op.task < lowest || op.task > last) {
        return Error::Invalid("task " + std::to_string(op.task) + " out of range " +
                              std::to_string(lowest) + ".." + std::to_string(last));
      }
      if (op.kind == OpKind::kSpawn && last + 1 >= kMaxTasks) {
        return Error::Invalid("a target has at most " + std::to_string(kMaxTasks) + " tasks");
      }
    }
    if (fields & kThreadOn) {
      if (op.thread < -1 || static_cast<size_t>(op.thread + 1) > threads_ + 1) {
        return Error::Invalid("thread " + std::to_string(op.thread) + " used out of order");
      }
      if (static_cast<size_t>(op.thread) == threads_) {
        if (threads_ >= s_.threads.size()) {
          return Error::Invalid("thread " + std::to_string(op.thread) + " out of range");
        }
        ++threads_;
      }
    }
    if ((fields & kThreadUsed) && (op.thread < 0 || static_cast<size_t>(op.thread) >= threads_)) {
      return Error::Invalid("thread " + std::to_string(op.thread) + " has no op started on it");
    }
    if (fields & kFd) {
      ADDFDLAB_TRY(CheckFdRef(op.fd));
    }
    if (fields & kFd2) {
      ADDFDLAB_TRY(CheckFdRef(op.fd2));
    }
    if ((fields & kSrc) && static_cast<int>(op.src) >= kSourceKindCount) {
      return Error::Invalid("unknown source");
    }
    if ((fields & kFile) && static_cast<int>(op.file) > static_cast<int>(FileKind::kMemfd)) {
      return Error::Invalid("unknown file");
    }
    if ((fields & kBuffer) &&
        static_cast<int>(op.buffer) > static_cast<int>(BufferKind::kReadOnly)) {
      return Error::Invalid("unknown buffer");
    }
    if ((fields & kArg) && static_cast<int>(op.arg) > static_cast<int>(AddFdArg::kUnreadable)) {
      return Error::Invalid("unknown addfd argument");
    }
    if ((fields & kInject) && static_cast<int>(op.inject) >= kInjectKindCount) {
      return Error::Invalid("unknown injection");
    }
    // The injection is undone when the ioctl returns: only the main thread waits for that.
    if ((fields & kInject) && op.inject != InjectKind::kNone && op.thread >= 0) {
      return Error::Invalid("inject= on a supervisor thread: only the main thread may inject");
    }
    if ((fields & kHandler) &&
        static_cast<int>(op.handler) > static_cast<int>(HandlerKind::kIgnore)) {
      return Error::Invalid("unknown handler");
    }
    if ((fields & kEmulates) && static_cast<int>(op.emulates) >= kEmulatedCallCount) {
      return Error::Invalid("unknown emulated call");
    }
    if ((fields & kCall) && static_cast<int>(op.call) >= kTrapCallCount) {
      return Error::Invalid("unknown trapped call");
    }
    if ((fields & kSpawnAs) && static_cast<int>(op.spawn_as) >= kSpawnAsCount) {
      return Error::Invalid("unknown spawn kind");
    }
    if ((fields & kSignal) && (op.signal < 1 || op.signal > kMaxSignal)) {
      return Error::Invalid("signal " + std::to_string(op.signal) + " out of range 1.." +
                            std::to_string(kMaxSignal));
    }
    // Bindings come after the references: `dup f0 -> f1` reads f0 before binding f1.
    if (fields & kNotifBind) {
      if (op.notif != static_cast<int>(notifs_.size()) || notifs_.size() >= s_.notifs.size()) {
        return Error::Invalid("trap binds notification " + std::to_string(op.notif) +
                              ", expected " + std::to_string(notifs_.size()));
      }
      notifs_.push_back(op.target);
    }
    if ((fields & kBind) || ((fields & kBindOptional) && op.bind != -1)) {
      ADDFDLAB_TRY(Bind(op.bind));
    }
    if (fields & kBind2) {
      ADDFDLAB_TRY(Bind(op.bind2));
    }
    return CheckExpect(op.expect);
  }

  Result<void> CheckFdRef(const FdRef& ref) const {
    if (ref.name == -1) return {};
    if (ref.name < -1 || static_cast<size_t>(ref.name) >= fds_) {
      return Error::Invalid("fd name " + std::to_string(ref.name) + " used before an op binds it");
    }
    if (ref.literal != 0) return Error::Invalid("an fd name reference carries a literal");
    return {};
  }

  Result<void> Bind(int name) {
    if (name != static_cast<int>(fds_) || fds_ >= s_.fd_names.size()) {
      return Error::Invalid("binds fd name " + std::to_string(name) + ", expected " +
                            std::to_string(fds_));
    }
    ++fds_;
    return {};
  }

  const Scenario& s_;
  size_t index_ = 0;         // the op CheckOp checks
  size_t threads_ = 0;       // threads started so far
  size_t fds_ = 0;           // fd names bound so far
  std::vector<int> notifs_;  // the target of each notification bound so far
};

}  // namespace

const char* OpKindName(OpKind kind) {
  const auto index = static_cast<size_t>(kind);
  return index < kOpKindCount ? kOpTraits[index].name : "unknown";
}

const char* SourceKindName(SourceKind kind) {
  const auto index = static_cast<size_t>(kind);
  return index < kSourceKindCount ? kSourceKindNames[index] : "unknown";
}

std::string DescribeOutcome(const Outcome& outcome) {
  switch (outcome.kind) {
    case Outcome::Kind::kOk:
      return outcome.value == 0 ? "ok" : "ok " + std::to_string(outcome.value);
    case Outcome::Kind::kError:
      return ErrnoName(outcome.err);
    case Outcome::Kind::kBlocked:
      return "blocked";
  }
  return "unknown";
}

bool IsScenarioName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

bool IsCellId(std::string_view id) {
  if (id.empty() || id.size() > kMaxNameLength) return false;
  for (const char c : id) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.')) return false;
  }
  return true;
}

Result<void> ValidateScenario(const Scenario& scenario) { return Validator(scenario).Run(); }

void PrintTo(const Outcome& outcome, std::ostream* out) { *out << DescribeOutcome(outcome); }

}  // namespace addfdlab
