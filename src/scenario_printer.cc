// The .scn printer: cells, targets, then one line per op with only what differs from its
// kind's defaults, such that ParseScenario(PrintScenario(s)) == s.
#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "addfdlab/scenario_text.h"
#include "scenario_values.h"

namespace addfdlab {
namespace scenario_text {
namespace {

// Prints a scenario; indices out of range print as "?" rather than crash.
class Printer {
 public:
  explicit Printer(const Scenario& scenario)
      : s_(scenario), thread_last_(scenario.threads.size(), OpKind::kSettle) {}

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
      if (target.pid_ns) out_ += " pidns";
      out_ += "\n";
    }
    for (size_t i = 0; i < s_.places.size(); ++i) {
      if (s_.places[i] == ThreadPlace::kThread) continue;
      out_ += "process " + Name(s_.threads, static_cast<int>(i));
      if (s_.places[i] == ThreadPlace::kProcessPidNs) out_ += " pidns";
      out_ += "\n";
    }
    if (!out_.empty() && !s_.ops.empty()) out_ += "\n";
    for (const Op& op : s_.ops) out_ += OpLine(op) + "\n";
    return std::move(out_);
  }

  // Op `index`'s line, after the state the ops before it leave.
  std::string OpLineAt(size_t index) {
    if (index >= s_.ops.size()) return "";
    for (size_t i = 0; i < index; ++i) After(s_.ops[i]);
    return OpLine(s_.ops[index]);
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
  static bool OnThread(const Op& op) {
    return static_cast<int>(op.kind) < kOpKindCount && OpTraitsOf(op.kind).on_thread &&
           op.thread >= 0;
  }

  // An op's line depends on the ops before it (the notifications its trap bound, the op
  // each thread last started), so lines are printed in order: OpLine, then After.
  std::string OpLine(const Op& op) {
    std::string line;
    if (OnThread(op)) line += "on " + Name(s_.threads, op.thread) + ": ";
    line += OpKindName(op.kind);
    line += OpArgs(op);
    if (op.expect.present) line += " expect " + ExpectText(op);
    After(op);
    return line;
  }

  // What an op leaves for the lines after it.
  void After(const Op& op) {
    if (OnThread(op) && static_cast<size_t>(op.thread) < thread_last_.size()) {
      thread_last_[static_cast<size_t>(op.thread)] = op.kind;
    }
    if (op.kind == OpKind::kTrap) ++notifs_bound_;
  }

  // The op's arguments, in the grammar's order.
  std::string OpArgs(const Op& op) const {
    const Op def;
    std::string line;
    const std::string cloexec = op.cloexec ? " cloexec" : "";
    switch (op.kind) {
      case OpKind::kOpen:
        line += " " + TargetName(op.target) + " " + EnumName(kFileKindNames, op.file) + cloexec +
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
                EnumName(kHandlerKindNames, op.handler);
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
      case OpKind::kSpawn:
        line += " " + Task(op);
        if (op.spawn_as == SpawnAs::kThread) line += " thread";
        break;
      case OpKind::kTrap:
        line += " " + Task(op);
        if (op.call == TrapCall::kDup) line += " dup=" + Fd(op.fd);
        line += " -> " + Name(s_.notifs, op.notif);
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
        if (op.buffer != def.buffer) line += " buffer=" + EnumName(kBufferKindNames, op.buffer);
        break;
      case OpKind::kAddFd:
        line += " " + Notif(op);
        if (op.flags != def.flags) line += " flags=" + Flags(op.flags, kAddFdFlagNames);
        if (op.src != def.src) line += " src=" + EnumName(kSourceKindNames, op.src);
        if (op.fd != def.fd) line += " newfd=" + Fd(op.fd);
        if (op.newfd_flags != def.newfd_flags) {
          line += " newfd_flags=" + Flags(op.newfd_flags, kNewfdFlagNames);
        }
        if (op.size != def.size) line += " size=" + std::to_string(op.size);
        if (op.arg != def.arg) line += " arg=" + EnumName(kAddFdArgNames, op.arg);
        if (op.emulates != def.emulates) {
          line += " emulates=" + EnumName(kEmulatedCallNames, op.emulates);
        }
        if (op.inject != def.inject) line += " inject=" + EnumName(kInjectKindNames, op.inject);
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
      case OpKind::kWork:
        line += " " + Notif(op);
        break;
      case OpKind::kPoll:
        line += " " + TargetName(op.target) + " " + Flags(op.flags, kPollEventNames);
        break;
      case OpKind::kGetNotifSizes:
        break;
    }
    return line;
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
}  // namespace scenario_text

std::string PrintScenario(const Scenario& scenario) {
  return scenario_text::Printer(scenario).Run();
}

std::string PrintOp(const Scenario& scenario, size_t index) {
  return scenario_text::Printer(scenario).OpLineAt(index);
}

}  // namespace addfdlab
