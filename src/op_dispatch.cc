// Op dispatch: a target op through the target's agent, a supervisor op (an ioctl on the
// listener) on the op thread or a named thread, and the outcome read as the model's.
#include "op_dispatch.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "addfdlab/kernel_inject.h"
#include "addfdlab/notifier.h"

namespace addfdlab {
namespace {

using agent::Command;

Outcome FromReply(const Result<agent::Reply>& reply) {
  if (!reply) return Outcome::Blocked();
  return reply->err != 0 ? Outcome::Error(reply->err) : Outcome::Ok(reply->ret);
}

}  // namespace

int64_t OpDispatch::Resolve(const FdRef& ref) const {
  if (ref.name < 0) return ref.literal;
  return in_.model.FdName(ref.name).value_or(-1);
}

uint64_t OpDispatch::KernelId(const Op& op) const {
  const TargetSlot& slot = in_.slots[static_cast<size_t>(op.target)];
  const int64_t seq = in_.model.Seq(op.notif);
  // A notification whose trap never ran (skipped) names no id at any delta, as in the
  // model: the id before this run's first, which no live notification holds.
  if (seq < 0) return slot.base_id - 1;
  // Ids are u64 and wrap: any delta, INT64_MIN and INT64_MAX included, names an id.
  return slot.base_id + static_cast<uint64_t>(seq) + static_cast<uint64_t>(op.id_delta);
}

Outcome OpDispatch::ReadTrapReturn(TargetSlot& slot, int task, int notif) {
  auto early = slot.returned.find(notif);
  if (early != slot.returned.end()) return early->second;
  Target& t = *slot.target;
  if (!t.busy(task) || !t.ReplyReady(task)) return Outcome::Blocked();
  auto reply = t.Finish(task, OpDeadline());
  if (!reply) return Outcome::Blocked();
  const Outcome outcome = reply->err != 0 ? Outcome::Error(reply->err) : Outcome::Ok(reply->ret);
  slot.returned[notif] = outcome;
  return outcome;
}

// Ops on the target's fd table, which its leader runs.
std::optional<Outcome> OpDispatch::ExecuteFdOp(const Op& op) {
  Target& t = *in_.slots[static_cast<size_t>(op.target)].target;
  switch (op.kind) {
    case OpKind::kOpen: {
      const auto req =
          op.file == FileKind::kMemfd
              ? MakeRequest(Command::kMemfd, {op.cloexec ? MFD_CLOEXEC : 0})
              : MakeRequest(Command::kOpenDevNull, {O_RDWR | (op.cloexec ? O_CLOEXEC : 0)});
      return FromReply(t.Call(0, req));
    }
    case OpKind::kPipe:
    case OpKind::kSocketpair: {
      const Command command = op.kind == OpKind::kPipe ? Command::kPipe : Command::kSocketpair;
      auto reply = t.Call(0, MakeRequest(command, {op.cloexec ? O_CLOEXEC : 0}));
      if (!reply) return Outcome::Blocked();
      if (reply->err != 0) return Outcome::Error(reply->err);
      pair_second_ = static_cast<int>(reply->values[1]);
      return Outcome::Ok(reply->values[0]);
    }
    case OpKind::kClose:
      return FromReply(t.Call(0, MakeRequest(Command::kClose, {Resolve(op.fd)})));
    case OpKind::kDup:
      return FromReply(
          t.Call(0, MakeRequest(Command::kDup, {Resolve(op.fd), op.cloexec ? 1 : 0, op.value})));
    case OpKind::kDup2:
      return FromReply(t.Call(0, MakeRequest(Command::kDup3, {Resolve(op.fd), Resolve(op.fd2),
                                                              op.cloexec ? O_CLOEXEC : 0})));
    default:
      return ExecuteProcessOp(op);
  }
}

// Ops on the target's processes: limits, handlers, filters, new tasks.
std::optional<Outcome> OpDispatch::ExecuteProcessOp(const Op& op) {
  TargetSlot& slot = in_.slots[static_cast<size_t>(op.target)];
  Target& t = *slot.target;
  switch (op.kind) {
    case OpKind::kNofile: {
      // prlimit from here: a task blocked in a syscall cannot take a command.
      if (op.value < 0) return Outcome::Error(EINVAL);
      t.MarkTasksDirty();
      for (int k = 0; k < t.tasks(); ++k) {
        if (!in_.model.TaskAlive(op.target, k)) continue;
        struct rlimit limit {};
        if (::prlimit(t.task_pid(k), RLIMIT_NOFILE, nullptr, &limit) != 0) continue;
        limit.rlim_cur = static_cast<rlim_t>(op.value);
        if (::prlimit(t.task_pid(k), RLIMIT_NOFILE, &limit, nullptr) != 0) {
          return Outcome::Error(errno);
        }
      }
      return Outcome::Ok(0);
    }
    case OpKind::kHandler: {
      const int64_t action = op.handler == HandlerKind::kDefault  ? 0
                             : op.handler == HandlerKind::kIgnore ? 2
                                                                  : 1;
      const int64_t restart = op.handler == HandlerKind::kRestart ? 1 : 0;
      for (int k = 0; k < t.tasks(); ++k) {
        if (!in_.model.TaskAlive(op.target, k)) continue;
        FreeTask(slot, op.target, k);
        auto reply = t.Call(k, MakeRequest(Command::kSigaction, {op.signal, action, restart}));
        if (!reply || reply->err != 0) return FromReply(reply);
      }
      return Outcome::Ok(0);
    }
    case OpKind::kInstallFilter: {
      const Outcome outcome =
          FromReply(t.Call(0, MakeRequest(Command::kInstallFilter, {op.flags})));
      if (outcome.kind != Outcome::Kind::kOk) return outcome;
      t.Taint();  // a second filter stays: this target is not reused
      return Outcome::Ok(0);
    }
    case OpKind::kSpawn: {
      FreeTask(slot, op.target, op.task);
      // The new task's index is the scenario's: spawns the model skipped keep theirs.
      const int index = TasksBefore(in_.scenario, op.target, static_cast<size_t>(index_));
      auto spawned = t.SpawnTask(op.task, index, op.spawn_as == SpawnAs::kThread);
      if (!spawned) return Outcome::Error(spawned.error().code().value());
      return Outcome::Ok(*spawned);
    }
    default:
      return std::nullopt;
  }
}

// Ops on one task (reservations, traps and their returns, signals, kills), else the fd
// table's (ExecuteFdOp), else the processes' (ExecuteProcessOp).
std::optional<Outcome> OpDispatch::ExecuteTargetOp(const Op& op) {
  TargetSlot& slot = in_.slots[static_cast<size_t>(op.target)];
  Target& t = *slot.target;
  switch (op.kind) {
    case OpKind::kReserve: {
      FreeTask(slot, op.target, op.task);
      last_trap_.erase({op.target, op.task});  // its next reply is the open's
      if (!t.Start(op.task, MakeRequest(Command::kOpenFifo, {0, op.task}))) {
        return Outcome::Blocked();
      }
      if (!in_.quiet.Quiesce()) return std::nullopt;
      if (!t.ReplyReady(op.task)) return Outcome::Blocked();
      return FromReply(t.Finish(op.task, OpDeadline()));
    }
    case OpKind::kRelease: {
      // A writer lets the blocked open return. It goes once the open has returned: a writer
      // left open would let a later reservation's open return at once.
      UniqueFd writer(::open(t.fifo_path(op.task).c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
      if (!in_.quiet.Quiesce()) return std::nullopt;
      return FromReply(t.Finish(op.task, OpDeadline()));
    }
    case OpKind::kTrap: {
      FreeTask(slot, op.target, op.task);
      last_trap_[{op.target, op.task}] = op.notif;
      const agent::Request request = op.call == TrapCall::kDup
                                         ? MakeRequest(Command::kTrapDup, {Resolve(op.fd)})
                                         : MakeRequest(Command::kTrap, {op.notif});
      if (!t.Start(op.task, request)) {
        Verdict v;
        v.kind = Verdict::Kind::kHarness;
        v.op = -1;
        v.detail = "the trap's task is still busy";
        in_.verdicts.push_back(v);
        return std::nullopt;
      }
      if (!in_.quiet.Quiesce()) return std::nullopt;
      return ReadTrapReturn(slot, op.task, op.notif);
    }
    case OpKind::kReturned: {
      const Op& trap = TrapOf(op.notif);
      TargetSlot& trap_slot = in_.slots[static_cast<size_t>(trap.target)];
      if (trap_slot.returned.count(op.notif) == 0) {
        // Only the trap the task is in now can be read (a skipped trap never ran).
        auto last = last_trap_.find({trap.target, trap.task});
        if (last == last_trap_.end() || last->second != op.notif) return Outcome::Blocked();
      }
      return ReadTrapReturn(trap_slot, trap.task, op.notif);
    }
    case OpKind::kSignalTask: {
      auto sent = t.Signal(op.task, op.signal);
      (void)sent;  // a task that already exited: nothing to signal
      return std::nullopt;
    }
    case OpKind::kKill:
      t.KillTasks();
      return std::nullopt;
    default:
      return ExecuteFdOp(op);
  }
}

// The task's previous trap may have returned unread: read it so the task is free.
void OpDispatch::FreeTask(TargetSlot& slot, int target, int task) {
  auto last = last_trap_.find({target, task});
  if (last != last_trap_.end() && slot.target->busy(task)) {
    ReadTrapReturn(slot, task, last->second);
  }
  // A reservation a signal ended (EINTR) left its reply behind: the model knows how it
  // ended, the reply goes.
  if (slot.target->busy(task) && slot.target->ReplyReady(task)) {
    (void)slot.target->Finish(task, OpDeadline());
  }
}

const Op& OpDispatch::TrapOf(int notif) const {
  for (const Op& op : in_.scenario.ops) {
    if (op.kind == OpKind::kTrap && op.notif == notif) return op;
  }
  return in_.scenario.ops.front();  // ValidateScenario guarantees a trap
}

std::function<Outcome()> OpDispatch::CallJob(const Op& op, const ThreadCall& call, int listener,
                                             const std::shared_ptr<RecvAnswer>& answer) {
  SupervisorProcess* process =
      op.thread >= 0 && static_cast<size_t>(op.thread) < in_.processes.size()
          ? in_.processes[static_cast<size_t>(op.thread)].get()
          : nullptr;
  // Read once the thread's result is: the result's hand-over orders it.
  if (process != nullptr) {
    return
        [process, call, listener, answer] { return process->Call(call, listener, answer.get()); };
  }
  if (op.inject == InjectKind::kNone) {
    return [call, listener, page = in_.pages, answer] {
      return RunThreadCall(call, listener, page, answer.get());
    };
  }
  // Op::inject arms a fault on the task that handles the request (the model skips the op
  // unless that task waits in its notification): only the main thread injects.
  Target& t = *in_.slots[static_cast<size_t>(op.target)].target;
  return [call, listener, page = in_.pages, answer, inject = op.inject,
          handler = t.task_pid(TrapOf(op.notif).task)] {
    Result<KernelInjection> armed = KernelInjection::Arm(inject, handler, call.addfd.newfd);
    if (!armed) {
      // The probe said it could: a debugfs or /proc write that fails now is the
      // environment's, reported in the outcome (and the verdict) with its errno.
      std::fprintf(stderr, "addfdlab: inject=%s: %s\n", kInjectKindNames[static_cast<int>(inject)],
                   armed.error().ToString().c_str());
      return Outcome::Error(armed.error().value());
    }
    return RunThreadCall(call, listener, page, answer.get());
  };
}

std::function<Outcome()> OpDispatch::SupervisorJob(const Op& op,
                                                   const std::shared_ptr<RecvAnswer>& answer) {
  Target& t = *in_.slots[static_cast<size_t>(op.target)].target;
  const int listener = t.listener();
  ThreadCall call;
  call.kind = op.kind;
  switch (op.kind) {
    case OpKind::kRecv:
      call.buffer = op.buffer;
      return CallJob(op, call, listener, answer);
    case OpKind::kAddFd:
      call.addfd.id = KernelId(op);
      call.addfd.flags = op.flags;
      call.addfd.srcfd = in_.source_fd(op.src, listener);
      call.addfd.newfd = static_cast<uint32_t>(Resolve(op.fd));
      call.addfd.newfd_flags = op.newfd_flags;
      call.size = uapi::IoctlSize(op.size);
      call.arg = op.arg;
      return CallJob(op, call, listener, answer);
    case OpKind::kSend:
      call.resp.id = KernelId(op);
      call.resp.val = Resolve(op.fd);
      call.resp.error = SentError(op);
      call.resp.flags = op.flags;
      return CallJob(op, call, listener, answer);
    case OpKind::kIdValid:
      return [listener, id = KernelId(op), legacy = op.legacy] {
        auto valid = NotifIdValid(listener, id, legacy);
        return valid ? Outcome::Ok(0) : Outcome::Error(valid.error().value());
      };
    case OpKind::kSetFlags:
      return [listener, flags = static_cast<uint64_t>(op.value)] {
        auto set = NotifSetFlags(listener, flags);
        return set ? Outcome::Ok(0) : Outcome::Error(set.error().value());
      };
    case OpKind::kIoctl:
      return [listener, cmd = static_cast<uint32_t>(op.value)] {
        alignas(8) char zeroes[kArgPageSize] = {};
        auto ret = NotifIoctlRaw(listener, cmd, reinterpret_cast<uintptr_t>(zeroes));
        return ret ? Outcome::Ok(*ret) : Outcome::Error(ret.error().value());
      };
    default:
      return [] { return Outcome::Error(ENOSYS); };
  }
}

pid_t OpDispatch::SeenPid(const Op& op, int task) const {
  // seccomp_notify_recv reports task_pid_vnr(): the pid in the receiver's namespace. A
  // process in a pid namespace of its own sees no target task (a target's own namespace is
  // a child of ours, its sibling): 0.
  if (PlaceOf(in_.scenario, op.thread) == ThreadPlace::kProcessPidNs) return 0;
  return in_.slots[static_cast<size_t>(op.target)].target->task_pid(task);
}

// A RECV's raw answer (pid and id) as the model's: the index of the notification, found by
// its id (stable after the notification is gone, unlike the task's current one).
Outcome OpDispatch::MapRecv(const Op& op, const Outcome& raw, const RecvAnswer& answer) {
  if (raw.kind != Outcome::Kind::kOk) return raw;
  const pid_t pid = answer.pid;
  TargetSlot& slot = in_.slots[static_cast<size_t>(op.target)];
  for (int notif = 0; notif < static_cast<int>(in_.scenario.notifs.size()); ++notif) {
    const int64_t seq = in_.model.Seq(notif);
    const Op& trap = TrapOf(notif);
    if (seq < 0 || trap.target != op.target) continue;
    const uint64_t id = slot.base_id + static_cast<uint64_t>(seq);
    if (id != answer.id) continue;
    if (SeenPid(op, trap.task) != pid) break;  // the id of another task's
    // The trapped call as the agent made it: a dup's argument still carries its tag (the
    // kernel cuts it only when the syscall runs).
    const bool dup = trap.call == TrapCall::kDup;
    if (answer.nr != (dup ? agent::kDupTrapSyscall : agent::kTrapSyscall) ||
        (dup && answer.arg0 != agent::DupTrapArg(Resolve(trap.fd)))) {
      return Outcome::Ok(-1);  // not the call the trap made
    }
    received_.insert({op.target, id});
    return Outcome::Ok(notif);
  }
  // An earlier instance of a notification the model has since restarted (the RECV took it
  // before the signal did): the notification of that task whose current id is the nearest
  // at or above it.
  const uint64_t received_seq = answer.id - slot.base_id;
  int nearest = -1;
  for (int notif = 0; notif < static_cast<int>(in_.scenario.notifs.size()); ++notif) {
    const int64_t seq = in_.model.Seq(notif);
    const Op& trap = TrapOf(notif);
    if (seq < 0 || trap.target != op.target || SeenPid(op, trap.task) != pid) continue;
    if (static_cast<uint64_t>(seq) < received_seq) continue;
    if (nearest < 0 || seq < in_.model.Seq(nearest)) nearest = notif;
  }
  if (nearest >= 0) {
    received_.insert({op.target, slot.base_id + received_seq});
    return Outcome::Ok(nearest);
  }
  // A notification created while this op ran: a trapped syscall restarted by a signal
  // (SA_RESTART) whose new instance the model makes only when it applies the op. It has the
  // next id, and belongs to the notification its task is blocked in.
  for (int64_t seq = in_.model.NextSeq(op.target);
       seq < in_.model.NextSeq(op.target) + agent::kMaxTasks; ++seq) {
    const uint64_t id = slot.base_id + static_cast<uint64_t>(seq);
    if (id != answer.id) continue;
    for (int task = 0; task < slot.target->tasks(); ++task) {
      if (SeenPid(op, task) != pid) continue;
      const int notif = in_.model.NotifOfTask(op.target, task);
      if (notif < 0) break;
      received_.insert({op.target, id});
      return Outcome::Ok(notif);
    }
  }
  return Outcome::Ok(-1);  // a notification the model does not know
}

std::optional<Outcome> OpDispatch::ExecuteSupervisorOp(int index, const Op& op) {
  SupervisorThread& thread =
      op.thread >= 0 ? *in_.named[static_cast<size_t>(op.thread)] : in_.op_thread;
  if (thread.busy()) {
    Verdict v;
    v.kind = Verdict::Kind::kHarness;
    v.op = index;
    v.detail = "supervisor thread still busy";
    in_.verdicts.push_back(v);
    return std::nullopt;
  }
  const auto answer = std::make_shared<RecvAnswer>();
  if (!thread.Start(SupervisorJob(op, answer), OpDeadline())) {
    Hang(index, "the op did not start");
    return std::nullopt;
  }
  std::optional<Outcome> outcome = thread.TryResult();
  if (op.thread >= 0) {
    last_thread_op_[op.thread] = {op, answer};
    // Asynchronous: its start is the outcome; `wait` reads the rest.
    if (!outcome) return Outcome::Blocked();
    return op.kind == OpKind::kRecv ? MapRecv(op, *outcome, *answer) : *outcome;
  }
  if (!outcome) {
    // The main thread's op sleeps in the kernel: the targets run.
    in_.quiet.TargetsMayRun();
    if (!in_.quiet.Quiesce()) {
      Hang(index, "targets did not go quiet");
      return std::nullopt;
    }
    outcome = thread.TryResult();
    if (!outcome) {
      // Still asleep with the targets quiet: it would block forever. Interrupt it.
      thread.Interrupt(false);
      if (!thread.Result(OpDeadline())) {
        Hang(index, "the op ignored an interrupt");
        return std::nullopt;
      }
      return Outcome::Blocked();
    }
  }
  return op.kind == OpKind::kRecv ? MapRecv(op, *outcome, *answer) : *outcome;
}

std::optional<Outcome> OpDispatch::Execute(int index, const Op& op) {
  // The target's ops go to ExecuteTargetOp's chain (the default); a new kind goes where it
  // belongs, then into this count (docs/scenario.md, "Adding an op").
  static_assert(kOpKindCount == 29, "a new OpKind: run it in OpDispatch::Execute");
  index_ = index;
  // Target-side ops, and the ops that wait for the targets, let them run.
  if (in_.model.Quiesces(index)) in_.quiet.TargetsMayRun();
  switch (op.kind) {
    case OpKind::kRecv:
    case OpKind::kAddFd:
    case OpKind::kSend:
    case OpKind::kIdValid:
    case OpKind::kSetFlags:
    case OpKind::kIoctl:
      return ExecuteSupervisorOp(index, op);
    case OpKind::kCloseListener:
      in_.slots[static_cast<size_t>(op.target)].target->CloseListener();
      return Outcome::Ok(0);
    case OpKind::kWait: {
      // A thread whose op was skipped in this run has nothing to wait for.
      if (last_thread_op_.count(op.thread) == 0) return Outcome::Blocked();
      SupervisorThread& thread = *in_.named[static_cast<size_t>(op.thread)];
      auto outcome = thread.TryResult();
      if (!outcome) return Outcome::Blocked();
      const auto& [started, answer] = last_thread_op_[op.thread];
      return started.kind == OpKind::kRecv ? MapRecv(started, *outcome, *answer) : *outcome;
    }
    case OpKind::kSignalThread: {
      SupervisorThread& thread = *in_.named[static_cast<size_t>(op.thread)];
      if (last_thread_op_.count(op.thread) == 0 || !thread.busy()) return std::nullopt;
      thread.Interrupt(op.restart);
      // Under SCHED_FIFO it has already acted on it; otherwise let it.
      (void)thread.AwaitInterrupted(OpDeadline());
      return std::nullopt;
    }
    case OpKind::kSettle:
    case OpKind::kWork:  // no syscall: the targets ran (the quiescence point above)
      return std::nullopt;
    case OpKind::kGetNotifSizes: {
      auto sizes = SeccompGetNotifSizes();
      if (!sizes) return Outcome::Error(sizes.error().value());
      return Outcome::Ok(uapi::PackNotifSizes(sizes->seccomp_notif, sizes->seccomp_notif_resp,
                                              sizes->seccomp_data));
    }
    case OpKind::kPoll: {
      // Timeout 0: the answer is the listener's state now, with the targets quiescent.
      pollfd pfd{in_.slots[static_cast<size_t>(op.target)].target->listener(),
                 static_cast<short>(op.flags), 0};
      const int ret = ::poll(&pfd, 1, 0);
      if (ret < 0) return Outcome::Error(errno);
      return Outcome::Ok(static_cast<uint16_t>(pfd.revents));
    }
    default:
      return ExecuteTargetOp(op);
  }
}

}  // namespace addfdlab
