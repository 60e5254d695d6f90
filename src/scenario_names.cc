// .scn names: bindings and references, each checked against the scenario so far.
#include "scenario_names.h"

#include <climits>
#include <cstdint>

namespace addfdlab::scenario_text {

int IndexOf(const std::vector<std::string>& names, std::string_view name) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<int>(i);
  }
  return -1;
}

std::vector<std::string> ScenarioNames::TargetNames() const {
  std::vector<std::string> names;
  for (const TargetDecl& target : s_.targets) names.push_back(target.name);
  return names;
}

bool ScenarioNames::CheckNewName(const Token& name, const char* what) {
  if (!IsScenarioName(name.text)) {
    return FailAt(name, std::string("invalid ") + what + " name " + Quote(name.text) +
                            " ([A-Za-z_][A-Za-z0-9_]*, at most " + std::to_string(kMaxNameLength) +
                            " characters)");
  }
  return true;
}

bool ScenarioNames::TargetRef(const Token& token, int* target) {
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

bool ScenarioNames::TaskRef(const Token& token, const char* op, bool caller, int* target,
                            int* task) {
  const size_t dot = token.text.find('.');
  if (dot == std::string_view::npos) {
    return FailAt(token, "expected TARGET.TASK (such as t0.1), got " + Quote(token.text));
  }
  if (!TargetRef({token.text.substr(0, dot), token.column}, target)) return false;
  const Token k{token.text.substr(dot + 1), Advance(token.column, dot + 1)};
  // The callers and the tasks `spawn` made so far.
  const int callers = TasksBefore(s_, *target, s_.ops.size()) - 1;
  if (k.text.empty()) return FailAt(token, "expected a task number after " + Quote(token.text));
  int64_t value = 0;
  if (!values_->ParseInt64(k, "the task", &value)) return false;
  const std::string target_name = Quote(s_.targets[static_cast<size_t>(*target)].name);
  if (caller && value == 0) {
    return FailAt(k, std::string(op) + " needs a calling task (1.." + std::to_string(callers) +
                         "); task 0 is the leader");
  }
  if (caller && callers == 0) {
    return FailAt(k, "target " + target_name + " has no calling tasks (callers=0)");
  }
  if (std::string_view(op) == "spawn" && callers + 1 >= kMaxTasks) {
    return FailAt(k, "target " + target_name + " has " + std::to_string(callers + 1) +
                         " tasks already (at most " + std::to_string(kMaxTasks) + ")");
  }
  if (value < (caller ? 1 : 0) || value > callers) {
    return FailAt(k, "task " + std::to_string(value) + " out of range for target " + target_name +
                         " (" + (caller ? "1" : "0") + ".." + std::to_string(callers) + ")");
  }
  *task = static_cast<int>(value);
  return true;
}

int ScenarioNames::LookupNotif(const Token& name) {
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

bool ScenarioNames::NotifRef(const Token& token, bool delta_allowed, Op* op) {
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

bool ScenarioNames::FdRefOf(const Token& token, FdRef* ref) {
  if (LooksNumeric(token.text)) return values_->ParseInt64(token, "the fd", &ref->literal);
  if (!IsScenarioName(token.text)) {
    return FailAt(token, "expected an fd number or fd name, got " + Quote(token.text));
  }
  ref->name = IndexOf(s_.fd_names, token.text);
  if (ref->name < 0) {
    return FailAt(token, "fd name " + Quote(token.text) + " used before an op binds it");
  }
  return true;
}

bool ScenarioNames::BindFd(const Token& token, int* bind) {
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

bool ScenarioNames::ThreadRef(const Token& token, int* thread) {
  if (!IsScenarioName(token.text)) {
    return FailAt(token, "expected a thread name, got " + Quote(token.text));
  }
  *thread = IndexOf(s_.threads, token.text);
  if (*thread < 0) {
    return FailAt(token, "thread " + Quote(token.text) + " has no op started on it");
  }
  return true;
}

bool ScenarioNames::BindNotif(const Token& token, Op* op) {
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

}  // namespace addfdlab::scenario_text
