// The C reproducer generator. It steps the model through the scenario exactly as the
// executor does (Begin, the op, Step; quiescence points where Quiesces says), and writes
// what each step needs as constants: ids, fd numbers, the allowed outcomes, the fd tables.
#include "addfdlab/emit_c.h"

#include <sstream>

#include "addfdlab/scenario_text.h"
#include "emit_c_prelude.h"

namespace addfdlab {
namespace {

constexpr uint32_t kAddFdSetFd = 1u << 0;  // SECCOMP_ADDFD_FLAG_SETFD
constexpr uint32_t kAddFdSend = 1u << 1;   // SECCOMP_ADDFD_FLAG_SEND

// A C string literal.
std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// The text in a C comment.
std::string Comment(std::string_view text) {
  std::string out(text);
  for (size_t at = out.find("*/"); at != std::string::npos; at = out.find("*/")) out[at + 1] = '_';
  return out;
}

// An errno by its name where libc has it, else its number.
std::string ErrnoC(int err) {
  const std::string name = ErrnoName(err);
  return name.size() > 1 && name[0] == 'E' && name.find_first_of("0123456789") == std::string::npos
             ? name
             : std::to_string(err);
}

// The runtime's name of a source: SRC_MEMFD, SRC_PIPE_R, ...
std::string SourceC(int source) {
  std::string name = "SRC_";
  for (const char* c = kSourceKindNames[source]; *c != '\0'; ++c) {
    name += static_cast<char>(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
  }
  return name;
}

std::string OutcomeC(const Outcome& o) {
  switch (o.kind) {
    case Outcome::Kind::kOk:
      return "{OUT_OK, " + std::to_string(o.value) + ", 0}";
    case Outcome::Kind::kError:
      return "{OUT_ERR, 0, " + ErrnoC(o.err) + "}";
    case Outcome::Kind::kBlocked:
      return "{OUT_BLOCKED, 0, 0}";
  }
  return "{OUT_BLOCKED, 0, 0}";
}

// Which op kinds the program can run: every one but `spawn` (its prelude has no new task's
// control socket to pass). A new OpKind needs a decision here (-Wswitch): false refuses
// scenarios that use it, naming the op, until EmitBody runs it.
bool Supported(OpKind kind) {
  switch (kind) {
    case OpKind::kOpen:
    case OpKind::kPipe:
    case OpKind::kSocketpair:
    case OpKind::kClose:
    case OpKind::kDup:
    case OpKind::kDup2:
    case OpKind::kNofile:
    case OpKind::kHandler:
    case OpKind::kInstallFilter:
    case OpKind::kReserve:
    case OpKind::kRelease:
    case OpKind::kTrap:
    case OpKind::kReturned:
    case OpKind::kSignalTask:
    case OpKind::kKill:
    case OpKind::kRecv:
    case OpKind::kAddFd:
    case OpKind::kSend:
    case OpKind::kIdValid:
    case OpKind::kSetFlags:
    case OpKind::kIoctl:
    case OpKind::kCloseListener:
    case OpKind::kWait:
    case OpKind::kSignalThread:
    case OpKind::kSettle:
    case OpKind::kWork:
    case OpKind::kPoll:
    case OpKind::kGetNotifSizes:
      return true;
    case OpKind::kSpawn:
      return false;
  }
  return false;
}

class Emitter {
 public:
  Emitter(const Scenario& scenario, const EmitCOptions& options)
      : s_(scenario), options_(options), model_(scenario, options.env) {}

  Result<std::string> Run();

 private:
  // The killable mask of every target, as a C initializer: bit k when task k may sleep in
  // 'D' (a killable notification wait) at this point of the model.
  std::string Killable() const;
  int64_t Resolve(const FdRef& ref) const { return ref.name < 0 ? ref.literal : Fd(ref.name); }
  int64_t Fd(int name) const { return model_.FdName(name).value_or(-1); }
  // The RECV mapping tables of target `t` now: each notification's relative id and task.
  std::string RecvMap(int t) const;
  std::string MapRecv(int t) const;
  std::string Job(const Op& op) const;
  void EmitOp(int index);
  void EmitBody(int index, const Op& op, const Prediction& prediction, const Outcome& path,
                std::ostream& out);
  void EmitTables(std::ostream& out) const;
  void EmitSetup(std::ostream& out) const;

  const Scenario& s_;
  const EmitCOptions& options_;
  Model model_;
  std::ostringstream ops_;
  std::vector<int> thread_op_;  // per named thread: the op it last started, or -1
  std::vector<bool> listener_closed_;
};

std::string Emitter::Killable() const {
  std::string out = "{";
  for (size_t t = 0; t < s_.targets.size(); ++t) {
    unsigned mask = 0;
    for (int k = 0; k <= s_.targets[t].callers; ++k) {
      if (model_.KillableWait(static_cast<int>(t), k)) mask |= 1u << k;
    }
    out += (t ? ", " : "") + std::to_string(mask) + "u";
  }
  return out + "}";
}

std::string Emitter::RecvMap(int t) const {
  std::string seqs = "{", tasks = "{", blocked_in = "{";
  for (size_t n = 0; n < s_.notifs.size(); ++n) {
    int task = 0;
    int target = -1;
    for (const Op& op : s_.ops) {
      if (op.kind == OpKind::kTrap && op.notif == static_cast<int>(n)) {
        task = op.task;
        target = op.target;
      }
    }
    const int64_t seq = target == t ? model_.Seq(static_cast<int>(n)) : -1;
    seqs += (n ? ", " : "") + std::to_string(seq);
    tasks += (n ? ", " : "") + std::to_string(task);
  }
  if (s_.notifs.empty()) seqs += "-1", tasks += "0";
  for (int k = 0; k <= s_.targets[static_cast<size_t>(t)].callers; ++k) {
    blocked_in += (k ? ", " : "") + std::to_string(model_.NotifOfTask(t, k));
  }
  return "static const int64_t seqs[] = " + seqs + "};\n  static const int tasks[] = " + tasks +
         "};\n  static const int blocked_in[] = " + blocked_in + "};\n";
}

// The call that maps a RECV's answer in `r` to the notification's index.
std::string Emitter::MapRecv(int t) const {
  return "map_recv(&g_targets[" + std::to_string(t) + "], &r, seqs, tasks, " +
         std::to_string(s_.notifs.size()) + ", " + std::to_string(model_.NextSeq(t)) +
         ", blocked_in)";
}

std::string Emitter::Job(const Op& op) const {
  std::ostringstream j;
  j << "  struct job j;\n  memset(&j, 0, sizeof(j));\n  j.listener = t->listener;\n";
  const auto id = [&] {
    return "kernel_id(t, " + std::to_string(model_.Seq(op.notif)) + ", " +
           std::to_string(op.id_delta) + ")";
  };
  switch (op.kind) {
    case OpKind::kRecv:
      j << "  j.kind = JOB_RECV;\n  j.buffer = " << static_cast<int>(op.buffer) << ";\n";
      break;
    case OpKind::kAddFd:
      j << "  j.kind = JOB_ADDFD;\n  j.addfd.id = " << id() << ";\n  j.addfd.flags = 0x" << std::hex
        << op.flags << std::dec << "u;\n  j.addfd.srcfd = (uint32_t)"
        << (op.src == SourceKind::kListener ? std::string("t->listener")
                                            : "g_src[" + SourceC(static_cast<int>(op.src)) + "]")
        << ";\n  j.addfd.newfd = (uint32_t)" << Resolve(op.fd) << "LL;\n  j.addfd.newfd_flags = 0x"
        << std::hex << op.newfd_flags << std::dec << "u;\n  j.size = " << uapi::IoctlSize(op.size)
        << ";\n  j.arg = " << static_cast<int>(op.arg) << ";\n";
      break;
    case OpKind::kSend:
      j << "  j.kind = JOB_SEND;\n  j.resp.id = " << id() << ";\n  j.resp.val = " << Resolve(op.fd)
        << "LL;\n  j.resp.error = " << SentError(op) << ";\n  j.resp.flags = 0x" << std::hex
        << op.flags << std::dec << "u;\n";
      break;
    case OpKind::kIdValid:
      j << "  j.kind = JOB_ID_VALID;\n  j.value = " << id() << ";\n  j.legacy = " << op.legacy
        << ";\n";
      break;
    case OpKind::kSetFlags:
      j << "  j.kind = JOB_SET_FLAGS;\n  j.value = " << static_cast<uint64_t>(op.value) << "ull;\n";
      break;
    case OpKind::kIoctl:
      j << "  j.kind = JOB_IOCTL;\n  j.value = 0x" << std::hex << static_cast<uint64_t>(op.value)
        << std::dec << "ull;\n";
      break;
    default:
      break;
  }
  return j.str();
}

// The op's own code: `seen` gets the kernel's outcome (as the model describes it).
void Emitter::EmitBody(int index, const Op& op, const Prediction& prediction, const Outcome& path,
                       std::ostream& out) {
  (void)prediction;
  (void)path;
  // The op's target, as `t` in the program.
  const std::string t = "t";
  switch (op.kind) {
    case OpKind::kReturned:
    case OpKind::kWait:
    case OpKind::kSignalThread:
    case OpKind::kSettle:
    case OpKind::kWork:
    case OpKind::kGetNotifSizes:
      break;
    default:
      out << "  struct target* t = &g_targets[" << op.target << "];\n";
      break;
  }
  switch (op.kind) {
    case OpKind::kOpen:
      if (op.file == FileKind::kMemfd) {
        out << "  seen = t_call(" << t << ", 0, CMD_MEMFD, " << (op.cloexec ? "MFD_CLOEXEC" : "0")
            << ", 0, 0, NULL);\n";
      } else {
        out << "  seen = t_call(" << t << ", 0, CMD_OPEN_DEVNULL, O_RDWR"
            << (op.cloexec ? " | O_CLOEXEC" : "") << ", 0, 0, NULL);\n";
      }
      out << "  if (seen.kind == OUT_OK) take_local_copy(" << t << ", seen.value);\n";
      break;
    case OpKind::kPipe:
    case OpKind::kSocketpair:
      out << "  struct reply r;\n  seen = t_call(" << t << ", 0, "
          << (op.kind == OpKind::kPipe ? "CMD_PIPE" : "CMD_SOCKETPAIR") << ", "
          << (op.cloexec ? "O_CLOEXEC" : "0") << ", 0, 0, &r);\n"
          << "  if (seen.kind == OUT_OK) {\n    seen = ok_(r.values[0]);\n"
          << "    take_local_copy(" << t << ", r.values[0]);\n    take_local_copy(" << t
          << ", r.values[1]);\n  }\n";
      break;
    case OpKind::kClose:
      out << "  seen = t_call(" << t << ", 0, CMD_CLOSE, " << Resolve(op.fd) << ", 0, 0, NULL);\n";
      break;
    case OpKind::kDup:
      out << "  seen = t_call(" << t << ", 0, CMD_DUP, " << Resolve(op.fd) << ", "
          << (op.cloexec ? 1 : 0) << ", " << op.value << ", NULL);\n";
      break;
    case OpKind::kDup2:
      out << "  seen = t_call(" << t << ", 0, CMD_DUP3, " << Resolve(op.fd) << ", "
          << Resolve(op.fd2) << ", " << (op.cloexec ? "O_CLOEXEC" : "0") << ", NULL);\n";
      break;
    case OpKind::kNofile: {
      // prlimit from here: a task blocked in a syscall cannot take a command.
      if (op.value < 0) {
        out << "  seen = err_(EINVAL);\n";
        break;
      }
      out << "  seen = ok_(0);\n";
      for (int k = 0; k <= s_.targets[static_cast<size_t>(op.target)].callers; ++k) {
        if (!model_.TaskAlive(op.target, k)) continue;
        out << "  {\n    struct rlimit lim;\n    if (prlimit(t->pid[" << k
            << "], RLIMIT_NOFILE, NULL, &lim) == 0) {\n      lim.rlim_cur = " << op.value
            << "ull;\n      if (prlimit(t->pid[" << k
            << "], RLIMIT_NOFILE, &lim, NULL) != 0 && seen.kind == OUT_OK) seen = err_(errno);\n"
            << "    }\n  }\n";
      }
      break;
    }
    case OpKind::kHandler: {
      const int action = op.handler == HandlerKind::kDefault  ? 0
                         : op.handler == HandlerKind::kIgnore ? 2
                                                              : 1;
      const int restart = op.handler == HandlerKind::kRestart ? 1 : 0;
      out << "  seen = ok_(0);\n";
      for (int k = 0; k <= s_.targets[static_cast<size_t>(op.target)].callers; ++k) {
        if (!model_.TaskAlive(op.target, k)) continue;
        out << "  if (seen.kind == OUT_OK) {\n    free_task(" << t << ", " << k
            << ");\n    seen = t_call(" << t << ", " << k << ", CMD_SIGACTION, " << op.signal
            << ", " << action << ", " << restart << ", NULL);\n  }\n";
      }
      break;
    }
    case OpKind::kTrap:
      out << "  free_task(t, " << op.task << ");\n  t->last_trap[" << op.task << "] = " << op.notif
          << ";\n  if (!t_send(" << t << ", " << op.task << ", "
          << (op.call == TrapCall::kDup ? "CMD_TRAP_DUP, " + std::to_string(Resolve(op.fd))
                                        : "CMD_TRAP, " + std::to_string(op.notif))
          << ", 0, 0)) hang(\"the trap's task is still busy\");\n"
          << "  if (!quiesce(during, 10000)) hang(\"targets did not go quiet\");\n"
          << "  seen = read_trap_return(" << t << ", " << op.task << ", " << op.notif << ");\n";
      break;
    case OpKind::kReturned: {
      const Op* trap = nullptr;
      for (const Op& o : s_.ops) {
        if (o.kind == OpKind::kTrap && o.notif == op.notif) trap = &o;
      }
      const std::string tt = "&g_targets[" + std::to_string(trap->target) + "]";
      out << "  if (!g_returned_known[" << op.notif << "] && (" << tt << ")->last_trap["
          << trap->task << "] != " << op.notif << ") {\n    seen = blocked_();\n  } else {\n"
          << "    seen = read_trap_return(" << tt << ", " << trap->task << ", " << op.notif
          << ");\n  }\n";
      break;
    }
    case OpKind::kSignalTask:
      out << "  kill(t->pid[" << op.task << "], " << op.signal << ");\n";
      break;
    case OpKind::kSpawn:  // refused before any code is written (Supported)
      break;
    case OpKind::kKill:
      // Callers first, so that the leader (which ignores SIGCHLD) has them reaped at once.
      out << "  for (int k = t->tasks - 1; k >= 0; --k) kill((" << t << ")->pid[k], SIGKILL);\n";
      break;
    case OpKind::kRecv:
    case OpKind::kAddFd:
    case OpKind::kSend:
    case OpKind::kIdValid:
    case OpKind::kSetFlags:
    case OpKind::kIoctl: {
      out << Job(op);
      const bool recv = op.kind == OpKind::kRecv;
      if (recv) out << "  " << RecvMap(op.target);
      out << "  struct job r;\n  memset(&r, 0, sizeof(r));\n";
      if (op.thread >= 0) {
        thread_op_[static_cast<size_t>(op.thread)] = index;
        // Asynchronous: its start is the outcome; `wait` reads the rest.
        out << "  struct sup_thread* th = &g_threads[" << op.thread << "];\n"
            << "  if (!thread_start(th, &j)) hang(\"the op did not start\");\n"
            << "  if (!thread_try(th, &r)) {\n    seen = blocked_();\n  } else {\n    seen = "
            << (recv ? MapRecv(op.target) : std::string("r.out")) << ";\n  }\n";
      } else {
        out << "  seen = main_op(&j, during, &r);\n";
        if (recv) {
          out << "  if (seen.kind == OUT_OK) seen = " << MapRecv(op.target) << ";\n";
        }
      }
      break;
    }
    case OpKind::kCloseListener:
      out << "  close_listener(" << t << ");\n  seen = ok_(0);\n";
      break;
    case OpKind::kWait: {
      const int started = thread_op_[static_cast<size_t>(op.thread)];
      if (started < 0) {
        // A thread whose op was skipped in this run has nothing to wait for.
        out << "  seen = blocked_();\n";
        break;
      }
      const Op& first = s_.ops[static_cast<size_t>(started)];
      out << "  struct job r;\n";
      if (first.kind == OpKind::kRecv) out << "  " << RecvMap(first.target);
      out << "  if (!thread_try(&g_threads[" << op.thread << "], &r)) {\n    seen = blocked_();\n"
          << "  } else {\n    seen = "
          << (first.kind == OpKind::kRecv ? MapRecv(first.target) : std::string("r.out"))
          << ";\n  }\n";
      break;
    }
    case OpKind::kSignalThread: {
      if (thread_op_[static_cast<size_t>(op.thread)] < 0) break;
      out << "  struct sup_thread* th = &g_threads[" << op.thread << "];\n"
          << "  if (th->busy) {\n    thread_interrupt(th, " << op.restart << ");\n"
          << "    (void)await_thread(th, interrupted, deadline_ms(5000));\n  }\n";
      break;
    }
    case OpKind::kReserve:
      out << "  seen = reserve(t, " << op.task << ", during);\n";
      break;
    case OpKind::kRelease:
      out << "  seen = release(t, " << op.task << ", during);\n"
          << "  if (seen.kind == OUT_OK) take_local_copy(t, seen.value);\n";
      break;
    case OpKind::kInstallFilter:
      out << "  seen = t_call(t, 0, CMD_INSTALL_FILTER, 0x" << std::hex << op.flags << std::dec
          << ", 0, 0, NULL);\n";
      break;
    case OpKind::kSettle:
      break;
    case OpKind::kWork:
      out << "  /* the supervisor's own work: no syscall; the targets run meanwhile */\n";
      break;
    case OpKind::kGetNotifSizes:
      // struct seccomp_notif_sizes: three __u16.
      out << "  uint16_t sz[3] = {0, 0, 0};\n"
          << "  seen = syscall(SYS_seccomp, 3 /* GET_NOTIF_SIZES */, 0, sz) < 0\n"
          << "             ? err_(errno)\n"
          << "             : ok_((int64_t)sz[0] | ((int64_t)sz[1] << 16) |\n"
          << "                   ((int64_t)sz[2] << 32));\n";
      break;
    case OpKind::kPoll:
      out << "  struct pollfd pfd = {t->listener, (short)0x" << std::hex << (op.flags & 0xffff)
          << std::dec << ", 0};\n"
          << "  seen = poll(&pfd, 1, 0) < 0 ? err_(errno) : ok_((uint16_t)pfd.revents);\n";
      break;
  }
}

// The fd tables the model has now, checked against every alive target.
void Emitter::EmitTables(std::ostream& out) const {
  for (size_t t = 0; t < s_.targets.size(); ++t) {
    if (!model_.TargetAlive(static_cast<int>(t))) continue;
    const auto table = model_.FdTable(static_cast<int>(t));
    out << "  {\n    /* " << Comment(s_.targets[t].name) << ":";
    for (const auto& [fd, entry] : table) {
      out << " " << fd << "="
          << (entry.file.kind == ModelFile::Kind::kSource ? kSourceKindNames[entry.file.index]
                                                          : "L" + std::to_string(entry.file.index))
          << (entry.cloexec ? "(cloexec)" : "");
    }
    if (table.empty()) out << " empty";
    out << " */\n    static const struct want_fd want[] = {";
    const char* sep = "";
    for (const auto& [fd, entry] : table) {
      const bool local = entry.file.kind == ModelFile::Kind::kLocal;
      out << sep << "{" << fd << ", " << (local ? 1 : 0) << ", "
          << (local ? std::to_string(entry.file.index) : SourceC(entry.file.index)) << ", "
          << (entry.cloexec ? 1 : 0) << "}";
      sep = ", ";
    }
    if (table.empty()) out << "{-1, 0, 0, 0}";
    out << "};\n    check_table(&g_targets[" << t << "], want, " << table.size() << ");\n  }\n";
  }
}

void Emitter::EmitOp(int index) {
  const Op& op = s_.ops[static_cast<size_t>(index)];
  const std::string text = PrintOp(s_, static_cast<size_t>(index));
  const OpTraits& traits = OpTraitsOf(op.kind);
  const bool quiesce_before = model_.Quiesces(index);
  const std::string before = Killable();
  const Prediction prediction = model_.Begin(index);
  std::ostringstream& out = ops_;
  out << "/* op " << index + 1 << ": " << Comment(text) << " */\n"
      << "static void op_" << index + 1 << "(void) {\n"
      << "  g_op = " << index + 1 << ";\n  g_op_text = " << Quote(text)
      << ";\n  g_cell = " << Quote(prediction.cell) << ";\n";
  if (prediction.skip) {
    out << "  say(\"ok %d op %d: %s # SKIP the model skips it: %s\\n\", ++g_test, g_op, g_op_text, "
        << Quote(prediction.skip_reason) << ");\n  ++g_passed;\n}\n\n";
    return;
  }
  // The outcome the model goes on with: the only one allowed, or the expect clause's, or
  // the first; the program stops (skips) where the kernel takes another allowed one.
  Outcome path = prediction.allowed.empty() ? Outcome::Ok(0) : prediction.allowed.front();
  bool ambiguous = prediction.allowed.size() > 1;
  if (ambiguous && op.expect.present && !op.expect.any_value) {
    for (const Outcome& o : prediction.allowed) {
      if (o == op.expect.outcome) path = o;
    }
  }
  const std::string during = Killable();
  if (quiesce_before) {
    out << "  static const unsigned before[] = " << before << ";\n"
        << "  if (!quiesce(before, 10000)) hang(\"targets did not go quiet before the op\");\n";
  }
  // The killable masks while the op runs: a trap, and a main-thread ioctl that sleeps, wait
  // for the targets.
  const bool waits =
      op.kind == OpKind::kTrap || op.kind == OpKind::kReserve || op.kind == OpKind::kRelease ||
      (OpTraitsOf(op.kind).side == OpSide::kSupervisor && OpTraitsOf(op.kind).on_thread &&
       op.thread < 0) ||
      op.kind == OpKind::kIdValid || op.kind == OpKind::kSetFlags || op.kind == OpKind::kIoctl;
  if (waits) out << "  static const unsigned during[] = " << during << ";\n";
  if (model_.Quiesces(index)) out << "  g_may_run = 1; /* the op lets the targets run */\n";
  out << "  struct outcome seen = ok_(0);\n";
  EmitBody(index, op, prediction, path, out);
  if (traits.outcome) {
    out << "  static const struct outcome allowed[] = {";
    for (size_t i = 0; i < prediction.allowed.size(); ++i) {
      out << (i ? ", " : "") << OutcomeC(prediction.allowed[i]);
    }
    if (prediction.allowed.empty()) out << "{OUT_OK, 0, 0}";
    out << "};\n";
    std::string expect = "NULL";
    if (op.expect.present && !op.expect.any_value) {
      out << "  static const struct outcome expect = " << OutcomeC(op.expect.outcome) << ";\n";
      expect = "&expect";
    }
    std::string path_arg = "NULL";
    if (ambiguous) {
      out << "  static const struct outcome path = " << OutcomeC(path) << ";\n";
      path_arg = "&path";
    }
    out << "  check_outcome(&seen, allowed, " << prediction.allowed.size() << ", " << expect << ", "
        << (op.expect.present && op.expect.any_value ? 1 : 0) << ", " << path_arg << ");\n";
  } else {
    out << "  (void)seen;\n";
  }
  model_.Step(index, path);
  if (model_.Quiesces(index)) {
    out << "  static const unsigned after[] = " << Killable() << ";\n"
        << "  if (!quiesce(after, 10000)) hang(\"targets did not go quiet after the op\");\n";
  }
  if (op.kind == OpKind::kSettle) EmitTables(out);
  if (!traits.outcome) out << "  pass_op();\n";
  out << "}\n\n";
}

void Emitter::EmitSetup(std::ostream& out) const {
  const uint32_t killable_listener = uapi::kFilterNewListener | uapi::kFilterWaitKillableRecv;
  bool setfd = false, send = false, sync = false, limits = false, locals = false;
  bool killable = false;
  for (const TargetDecl& decl : s_.targets) {
    killable |= (decl.filter_flags & killable_listener) == killable_listener;
  }
  for (const Op& op : s_.ops) {
    killable |=
        op.kind == OpKind::kInstallFilter && (op.flags & killable_listener) == killable_listener;
    if (op.kind == OpKind::kAddFd) {
      setfd |= (op.flags & kAddFdSetFd) != 0;
      send |= (op.flags & kAddFdSend) != 0;
    }
    sync |= op.kind == OpKind::kSetFlags && (op.value & 1) != 0;
    limits |= op.kind == OpKind::kNofile || (op.kind == OpKind::kAddFd && op.flags != 0);
    locals |=
        op.kind == OpKind::kOpen || op.kind == OpKind::kPipe || op.kind == OpKind::kSocketpair;
  }
  out << "static void setup(void) {\n  make_sources();\n  need_kcmp();\n";
  if (locals) out << "  need_pidfd_getfd();\n";
  if (limits) {
    out << "  need_limits(" << options_.env.nofile_hard << "ull, " << options_.env.nr_open
        << "ull);\n";
  }
  if (sync) out << "  need_sync_wake_up();\n";
  if (killable) out << "  need_wait_killable_recv();\n";
  out << "  g_ntargets = " << s_.targets.size() << ";\n";
  // Whether each target's filter install gives a listener, as the executor's FILTER.FLAGS
  // check has it: from the model before any op.
  const Model fresh(s_, options_.env);
  for (size_t t = 0; t < s_.targets.size(); ++t) {
    const TargetDecl& decl = s_.targets[t];
    out << "  g_targets[" << t << "].want_listener = " << fresh.ListenerOpen(static_cast<int>(t))
        << ";\n";
    out << "  g_targets[" << t << "].name = " << Quote(decl.name) << ";\n  g_targets[" << t
        << "].filter_flags = 0x" << std::hex << decl.filter_flags << std::dec << "u;\n  g_targets["
        << t << "].callers = " << decl.callers << ";\n  start_target(&g_targets[" << t << "]);\n"
        << "  calibrate(&g_targets[" << t << "]);\n";
  }
  out << "  check_listeners();\n";
  // Probed on the first target with a listener and a caller: ids are calibrated there.
  for (size_t t = 0; t < s_.targets.size(); ++t) {
    if (!fresh.ListenerOpen(static_cast<int>(t)) || s_.targets[t].callers == 0) continue;
    const std::string target = "&g_targets[" + std::to_string(t) + "]";
    out << "  need_addfd_flags(" << target << ", 0, \"SECCOMP_IOCTL_NOTIF_ADDFD (5.9)\");\n";
    if (setfd) {
      out << "  need_addfd_flags(" << target
          << ", R_ADDFD_FLAG_SETFD, \"SECCOMP_ADDFD_FLAG_SETFD (5.9)\");\n";
    }
    if (send) {
      out << "  need_addfd_flags(" << target
          << ", R_ADDFD_FLAG_SEND, \"SECCOMP_ADDFD_FLAG_SEND (5.14)\");\n";
    }
    break;
  }
  out << "  g_nthreads = " << s_.threads.size() + 1 << ";\n  start_threads();\n"
      << "  /* From here the targets run only at quiescence points, or while an op sleeps. */\n"
      << "  if (g_mode == SCHED_MODE_FIFO) set_policy(SCHED_FIFO, 30);\n}\n\n";
}

Result<std::string> Emitter::Run() {
  if (Result<void> valid = ValidateScenario(s_); !valid) return valid.error();
  for (const TargetDecl& target : s_.targets) {
    if (target.pid_ns) {
      return Error::Invalid("target " + target.name +
                            ": pidns (a target in its own pid namespace) is not supported by "
                            "the C generator yet; no program written");
    }
  }
  if (!s_.places.empty()) {
    return Error::Invalid(
        "a `process` thread (a second supervisor process) is not supported by "
        "the C generator yet; no program written");
  }
  for (size_t i = 0; i < s_.ops.size(); ++i) {
    const Op& op = s_.ops[i];
    if (!Supported(op.kind)) {
      return Error::Invalid("op " + std::to_string(i + 1) + " (`" + PrintOp(s_, i) + "`): '" +
                            OpKindName(op.kind) +
                            "' is not supported by the C generator yet; no program written");
    }
    // PATTERN.CLOEXEC is the executor's check of the supervisor, not of the kernel: the
    // program would pass where the executor reports it, so it is refused, not dropped.
    if (op.emulates != EmulatedCall::kNone) {
      return Error::Invalid("op " + std::to_string(i + 1) + " (`" + PrintOp(s_, i) +
                            "`): the C generator does not carry the PATTERN.CLOEXEC check of "
                            "'emulates='; no program written");
    }
    if (op.inject != InjectKind::kNone) {
      return Error::Invalid("op " + std::to_string(i + 1) + " (`" + PrintOp(s_, i) +
                            "`): inject= (kernel fault injection in a debug kernel) is not "
                            "supported by the C generator yet; no program written");
    }
  }
  thread_op_.assign(s_.threads.size(), -1);
  for (size_t i = 0; i < s_.ops.size(); ++i) EmitOp(static_cast<int>(i));
  // The end of the run: the last quiescence point and the fd-table oracle.
  ops_ << "/* The end: the last quiescence point, then every fd table. */\n"
       << "static void op_end(void) {\n  g_op = 0; /* as the executor numbers the end */\n"
       << "  g_op_text = \"(end)\";\n  g_cell = \"\";\n  static const unsigned end[] = "
       << Killable() << ";\n"
       << "  if (!quiesce(end, 10000)) hang(\"targets did not go quiet at the end\");\n";
  model_.Quiesce();
  EmitTables(ops_);
  ops_ << "  pass_op();\n}\n\n";

  std::ostringstream out;
  std::string cells;
  for (const std::string& cell : s_.cells) cells += (cells.empty() ? "" : " ") + cell;
  if (cells.empty()) cells = "-";
  out << "/* An addfdlab C reproducer, generated by `addfdlab repro --emit-c` from "
      << Comment(options_.source_name) << ".\n"
      << " * Cells: " << Comment(cells) << ". The scenario:\n *\n";
  std::istringstream printed(PrintScenario(s_));
  for (std::string line; std::getline(printed, line);) out << " *   " << Comment(line) << "\n";
  out << " *\n * Build: gcc -Wall -O2 -pthread repro.c -o repro. Run as root for the fifo\n"
      << " * scheduling mode (else idle). TAP on stdout; exit 0: the kernel conforms,\n"
      << " * 1: a deviation reproduced, 4: skipped (a missing feature). */\n";
  out << kEmitCPrelude;
  out << "\n/* ---------------------------------------------------------------- the scenario "
         "*/\n\n";
  EmitSetup(out);
  out << ops_.str();
  out << "static void run_ops(void) {\n";
  for (size_t i = 0; i < s_.ops.size(); ++i) out << "  op_" << i + 1 << "();\n";
  out << "  op_end();\n}\n\n";
  out << "int main(void) {\n  return repro_main(" << Quote(options_.source_name) << ", "
      << Quote(cells) << ", " << s_.ops.size() + 1 << ");\n}\n";
  return out.str();
}

}  // namespace

Result<std::string> EmitC(const Scenario& scenario, const EmitCOptions& options) {
  Emitter emitter(scenario, options);
  return emitter.Run();
}

}  // namespace addfdlab
