// The targets' side of the reference model: each woken task runs the notification loop of
// seccomp_do_user_notification until it sleeps, handles queued requests, and dies.
#include <algorithm>
#include <cerrno>
#include <utility>

#include "addfdlab/model.h"
#include "model_internal.h"

namespace addfdlab {
namespace {

constexpr long kMaxSyscallErrno = 4095;

// How the agent's syscall() wrapper reports a raw return value.
// The kernel's internal restart codes (include/linux/errno.h), which a reply's error may
// carry: ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ENOIOCTLCMD, ERESTART_RESTARTBLOCK.
constexpr int64_t kErestartSys = 512, kErestartNoIntr = 513, kEnoIoctlCmd = 515;
constexpr int64_t kRestartFirst = 512, kRestartLast = 516;
bool IsRestartError(int32_t reply_error) {
  const int64_t err = -static_cast<int64_t>(reply_error);
  return err >= kRestartFirst && err <= kRestartLast;
}

Outcome SyscallReturn(int64_t raw) {
  if (raw < 0 && raw >= -kMaxSyscallErrno) return Outcome::Error(static_cast<int>(-raw));
  return Outcome::Ok(raw);
}

}  // namespace

void Model::CreateNotification(int target, int task, int notif_index) {
  TargetState& t = targets_[static_cast<size_t>(target)];
  Notif& n = notifs_[static_cast<size_t>(notif_index)];
  n = Notif{};
  n.target = target;
  n.task = task;
  n.seq = t.next_seq++;
  n.state = NotifState::kInit;
  t.tasks[static_cast<size_t>(task)].notif = notif_index;
  t.notif_list.push_back(notif_index);
  // A spawned task's trap reached the supervisor's listener: a user of the filter.
  if (task > t.decl.callers) {
    Reached(t.tasks[static_cast<size_t>(task)].group >= 0 ? Cell("FILTER.SPAWN.THREAD")
                                                          : Cell("FILTER.SPAWN.USER"));
  }
  ++t.requests;
  DeliverToWaitingRecv(target);
}

// recv_wait_event wakes every waiter; the highest-priority supervisor thread (the lowest
// index, then the main thread's op) takes the notification.
void Model::DeliverToWaitingRecv(int target) {
  for (;;) {
    int best = -1;
    for (size_t i = 0; i < threads_.size(); ++i) {
      const Thread& thread = threads_[i];
      if (thread.busy && thread.op == OpKind::kRecv && thread.target == target) {
        best = static_cast<int>(i);
        break;
      }
    }
    if (best < 0) return;
    Thread& thread = threads_[static_cast<size_t>(best)];
    std::string cell;
    thread.busy = false;
    const Outcome taken = TakeNotification(target, best, thread.pending.buffer, &cell);
    if (taken.kind == Outcome::Kind::kBlocked) {
      thread.busy = true;
      return;
    }
    FinishThread(best, taken, cell);
  }
}

// seccomp_handle_addfd, with receive_fd / receive_fd_replace (fs/file.c).
void Model::HandleRequest(Notif& n, Request request) {
  TargetState& t = targets_[static_cast<size_t>(n.target)];
  Outcome result;
  std::string cell;
  int raced_fd = -1;
  bool raced_busy = false;
  // fs.nr_open as expand_files sees it: lowered for this request by inject=nr_open.
  const uint64_t nr_open =
      request.inject == InjectKind::kNrOpen ? InjectedNrOpen(request.newfd) : env_.nr_open;
  if (request.inject == InjectKind::kLsm) {
    // receive_fd and receive_fd_replace ask security_file_receive first.
    result = Outcome::Error(kInjectedLsmErrno);
    cell = Cell("ADDFD.LSM");
  } else if (!request.setfd) {
    const int fd = LowestFree(t);
    if (fd < 0 || static_cast<uint64_t>(fd) >= nr_open) {
      // alloc_fd: past the rlimit, or expand_files past fs.nr_open.
      result = Outcome::Error(EMFILE);
      cell = Cell("ADDFD.RLIMIT");
      // A reserved slot another task frees in this quiescence may have come first.
      if (!request.send && fd < 0) {
        const int other = RacedLowest(t, RacingSlots(n.target, n.task), fd);
        if (other >= 0 && static_cast<uint64_t>(other) < nr_open) raced_fd = other;
      }
    } else if (request.growth_fails) {
      result = Outcome::Error(ENOMEM);
      cell = Cell("ADDFD.NOMEM");
    } else {
      const std::set<int> racing = RacingSlots(n.target, n.task);
      if (!racing.empty()) raced_fd = RacedLowest(t, racing, fd);
      t.fds[fd] = ModelFd{request.file, request.cloexec};
      result = Outcome::Ok(fd);
      cell = Cell("ADDFD.OK.LOWEST");
    }
  } else if (static_cast<uint64_t>(request.newfd) >= t.nofile) {
    result = Outcome::Error(EBADF);
    cell = Cell("ADDFD.SETFD.RLIMIT");
  } else if (static_cast<uint64_t>(request.newfd) >= nr_open) {
    result = Outcome::Error(EMFILE);
    cell = Cell("ADDFD.SETFD.NR_OPEN");
  } else if (request.growth_fails) {
    // replace_fd: expand_files before do_dup2's checks.
    result = Outcome::Error(ENOMEM);
    cell = Cell("ADDFD.NOMEM");
  } else if (SlotReserved(t, static_cast<int>(request.newfd))) {
    result = Outcome::Error(EBUSY);
    cell = Cell("ADDFD.SETFD.RESERVED");
  } else {
    const int fd = static_cast<int>(request.newfd);
    cell = t.fds.count(fd) ? Cell("ADDFD.SETFD.REPLACE") : Cell("ADDFD.SETFD.OK");
    t.fds[fd] = ModelFd{request.file, request.cloexec};
    result = Outcome::Ok(fd);
    // The slot's reservation went in this quiescence: the install may have come first.
    raced_busy = !request.send && t.freed_in_quiesce.count(fd) != 0;
  }
  // The fd-table oracle checks the installed fd's FD_CLOEXEC at the next settle point; a
  // verdict there is this request's cell's (ADDFD.INTR.SEND's after an interrupted SEND).
  if (result.kind == Outcome::Kind::kOk) {
    Reached(Cell("ADDFD.OK.CLOEXEC"));
    t.fd_cells[static_cast<int>(result.value)] = CellFor(&n, cell);
    // PATTERN.CLOEXEC: what the injection stands in for, for the table oracle.
    if (request.emulates != EmulatedCall::kNone) {
      t.fd_emulates[static_cast<int>(result.value)] = request.emulates;
    } else {
      t.fd_emulates.erase(static_cast<int>(result.value));
    }
  }
  if (request.send) {
    if (result.kind == Outcome::Kind::kError) {
      n.state = NotifState::kSent;  // ADDFD.SEND.FAIL_STAYS
      cell = Cell("ADDFD.SEND.FAIL_STAYS");
    } else {
      n.reply_val = result.value;
      n.reply_error = 0;
      n.reply_continue = false;
      cell = Cell("ADDFD.SEND.OK");
    }
  }
  Thread& thread = threads_[static_cast<size_t>(request.thread)];
  const int bind = thread.pending.bind;
  FinishThread(request.thread, result, cell);
  thread.raced_fd = raced_fd;
  thread.raced_busy = raced_busy;
  if (raced_fd >= 0 && result.kind == Outcome::Kind::kError) {
    thread.raced_file = ModelFd{request.file, request.cloexec};
  }
  thread.install_sent = request.send;
  thread.install_bind = bind;
  if (result.kind == Outcome::Kind::kOk && !request.setfd) {
    // Other callers' installs in this quiescence: the kernel may have run them first.
    for (const int other : t.installed_in_quiesce) {
      const Thread& o = threads_[static_cast<size_t>(other)];
      if (o.notif < 0 || notifs_[static_cast<size_t>(o.notif)].task == n.task) continue;
      thread.swap_with.push_back(other);
      threads_[static_cast<size_t>(other)].swap_with.push_back(request.thread);
    }
    t.installed_in_quiesce.push_back(request.thread);
  }
}

std::set<int> Model::RacingSlots(int target, int except) const {
  const TargetState& t = targets_[static_cast<size_t>(target)];
  std::set<int> racing = t.freed_in_quiesce;
  for (size_t k = 0; k < t.tasks.size(); ++k) {
    const Task& task = t.tasks[k];
    if (static_cast<int>(k) == except || !task.alive || !task.reserving || task.released) continue;
    // A fatal signal on a task whose death takes this one (its own, its thread group's,
    // or the leader's group's: DiesWith) may free the slot first.
    bool dies = false;
    for (size_t j = 0; j < t.tasks.size(); ++j) {
      const Task& other = t.tasks[j];
      dies = dies || (other.alive && (other.fatal_pending || other.dies_on_delivery) &&
                      DiesWith(t, static_cast<int>(j), static_cast<int>(k)));
    }
    if (dies || task.signal_pending) racing.insert(task.reserved_slot);
  }
  return racing;
}

int Model::RacedLowest(const TargetState& target, const std::set<int>& racing, int fd) const {
  const auto lowest = [&](bool racing_taken) {
    for (int slot = 0; static_cast<uint64_t>(slot) < target.nofile; ++slot) {
      if (racing.count(slot) != 0) {
        if (!racing_taken) return slot;
        continue;
      }
      if (target.fds.count(slot) == 0 && !SlotReserved(target, slot)) return slot;
    }
    return -1;
  };
  for (const bool racing_taken : {true, false}) {
    const int other = lowest(racing_taken);
    if (other >= 0 && other != fd) return other;
  }
  return -1;
}

// seccomp_do_user_notification's loop for one task, run until it sleeps.
bool Model::RunTask(int target, int task_index) {
  TargetState& t = targets_[static_cast<size_t>(target)];
  Task& task = t.tasks[static_cast<size_t>(task_index)];
  if (!task.alive) return false;
  if (task.notif < 0) return RunOutsideNotification(target, task_index);
  bool changed = false;
  const int notif_index = task.notif;
  Notif& n = notifs_[static_cast<size_t>(notif_index)];
  const bool wait_killable =
      (t.decl.filter_flags & uapi::kFilterWaitKillableRecv) != 0 && env_.wait_killable_recv;
  for (;;) {
    if (n.done > 0) {
      --n.done;
    } else if (task.fatal_pending) {
      if (wait_killable && n.state >= NotifState::kSent) Reached(Cell("WAIT_KILLABLE.FATAL"));
      KillTask(target, task_index);
      return true;
    } else if (task.signal_pending && !(wait_killable && n.state >= NotifState::kSent)) {
      const HandlerKind handler = HandlerOf(t, task.pending_signal);
      task.signal_pending = false;
      if (handler == HandlerKind::kDefault || task.dies_on_delivery) {
        KillTask(target, task_index);
      } else {
        Interrupt(target, task_index, false);
        if (handler == HandlerKind::kRestart) {
          // The syscall restarts: a new notification, with the next id.
          CreateNotification(target, task_index, notif_index);
          notifs_[static_cast<size_t>(notif_index)].restarted = true;
        } else {
          notifs_[static_cast<size_t>(notif_index)].returned =
              AsyncResult{Outcome::Error(EINTR), wait_killable ? Cell("WAIT_KILLABLE.PRE_RECV")
                                                               : Cell("ADDFD.TARGET.SIGNALLED")};
        }
      }
      return true;
    } else {
      // A non-fatal signal waits while the killable wait goes on.
      if (task.signal_pending) Reached(Cell("ADDFD.WAIT_KILLABLE"));
      break;  // asleep
    }
    changed = true;
    if (!n.addfds.empty()) {
      const bool fifo = env_.mutant == ModelEnv::Mutant::kFifoOrder;  // a planted bug
      Request request = fifo ? n.addfds.back() : n.addfds.front();
      if (fifo) {
        n.addfds.pop_back();
      } else {
        n.addfds.pop_front();
      }
      // Newest first: an older request stays queued for the next wake-up.
      if (!n.addfds.empty()) Reached(Cell("ADDFD.ORDER.LIFO"));
      HandleRequest(n, request);
    }
    if (n.state == NotifState::kReplied) {
      DeliverReply(target, task_index, notif_index, wait_killable);
      return true;
    }
  }
  task.wake_order = 0;
  return changed;
}

// A woken task that is not in a notification: its reservation completes, a pending signal
// runs its handler or kills it.
bool Model::RunOutsideNotification(int target, int task_index) {
  TargetState& t = targets_[static_cast<size_t>(target)];
  Task& task = t.tasks[static_cast<size_t>(task_index)];
  bool changed = false;
  if (task.fatal_pending) {
    KillTask(target, task_index);
    return true;
  }
  if (task.reserving) changed |= RunReservation(target, task_index);
  if (task.signal_pending) {
    // A signal outside the trapped syscall: the handler runs, or it kills the task.
    const HandlerKind handler = HandlerOf(t, task.pending_signal);
    task.signal_pending = false;
    if (handler == HandlerKind::kDefault || task.dies_on_delivery) {
      KillTask(target, task_index);
    } else if (task.reserving && handler == HandlerKind::kNoRestart) {
      if (!task.released) t.freed_in_quiesce.insert(task.reserved_slot);
      task.reserving = false;
      release_result_ = Outcome::Error(EINTR);
      task.released = false;
    }
    changed = true;
  }
  task.wake_order = 0;
  return changed;
}

// The reply reaches the task: the trapped syscall returns, unless a signal kills the task
// on its way back to user space.
void Model::DeliverReply(int target, int task_index, int notif_index, bool wait_killable) {
  TargetState& t = targets_[static_cast<size_t>(target)];
  Task& task = t.tasks[static_cast<size_t>(task_index)];
  Notif& n = notifs_[static_cast<size_t>(notif_index)];
  // The reply is delivered; requests still queued are stranded (ADDFD.STRANDED).
  while (!n.addfds.empty()) {
    const Request stranded = n.addfds.front();
    n.addfds.pop_front();
    FinishThread(stranded.thread, Outcome::Error(ESRCH), Cell("ADDFD.STRANDED"));
  }
  n.state = NotifState::kGone;
  std::erase(t.notif_list, notif_index);
  task.notif = -1;
  const bool wk_signal = task.signal_pending;
  if (n.reply_continue) {
    // seccomp_do_user_notification returns 0: the syscall runs. tuxcall has none (ENOSYS);
    // a trapped dup makes its new fd (SEND.CONTINUE.RUNS).
    const Op& trap = TrapOp(notif_index);
    n.returned = trap.call == TrapCall::kDup
                     ? AsyncResult{RunDup(t, ResolveFd(trap.fd)), Cell("SEND.CONTINUE.RUNS")}
                     : AsyncResult{Outcome::Error(ENOSYS), TraceLabel("SEND.CONTINUE")};
  } else {
    const int64_t raw = n.reply_error != 0 ? n.reply_error : n.reply_val;
    const char* cell = Cell("ADDFD.SEND.OK");
    if (wk_signal && wait_killable) {
      cell = Cell("ADDFD.WAIT_KILLABLE.FAST_REPLY");
    } else if (IsRestartError(n.reply_error)) {
      cell = Cell("SEND.ERROR.RESTART");
    }
    n.returned = AsyncResult{SyscallReturn(raw), cell};
  }
  // Its leader, or another thread of its group, is about to die too (a fatal signal it has
  // not acted on): the kernel may run that task first, and then this one dies with it
  // before it returns (raced_return).
  for (size_t k = 0; k < t.tasks.size(); ++k) {
    const Task& other = t.tasks[k];
    if (static_cast<int>(k) == task_index || !other.alive ||
        !DiesWith(t, static_cast<int>(k), task_index)) {
      continue;
    }
    if (other.fatal_pending || other.dies_on_delivery ||
        (other.signal_pending && HandlerOf(t, other.pending_signal) == HandlerKind::kDefault)) {
      n.raced_return = AsyncResult{Outcome::Blocked(), n.returned->cell};
    }
  }
  if (task.fatal_pending || task.dies_on_delivery) {
    // It dies on its way back to user space: the return is never reported.
    n.returned = AsyncResult{Outcome::Blocked(), n.returned->cell};
    KillTask(target, task_index);
  } else if (task.signal_pending) {
    // The handler runs after the syscall; a default action still kills.
    const HandlerKind handler = HandlerOf(t, task.pending_signal);
    task.signal_pending = false;
    if (handler == HandlerKind::kDefault) {
      n.returned = AsyncResult{Outcome::Blocked(), n.returned->cell};
      KillTask(target, task_index);
    } else if (!n.reply_continue && IsRestartError(n.reply_error)) {
      // handle_signal (arch/x86/kernel/signal.c) on the way out, the handler about to run:
      // ERESTARTNOINTR, and ERESTARTSYS under SA_RESTART, run the syscall again (a new
      // notification with the next id); ERESTARTSYS without it, ERESTARTNOHAND and
      // ERESTART_RESTARTBLOCK return EINTR; ENOIOCTLCMD (515) is no restart code.
      const int64_t err = -static_cast<int64_t>(n.reply_error);
      if (err == kErestartNoIntr || (err == kErestartSys && handler == HandlerKind::kRestart)) {
        CreateNotification(target, task_index, notif_index);
        notifs_[static_cast<size_t>(notif_index)].restarted = true;
      } else if (err != kEnoIoctlCmd) {
        n.returned = AsyncResult{Outcome::Error(EINTR), Cell("SEND.ERROR.RESTART")};
      }
    }
  }
}

// dup(fd) running in the target (fs/file.c ksys_dup): the argument is an unsigned int;
// a number with no file (or a reserved slot) is EBADF; the new fd is the lowest free one
// below RLIMIT_NOFILE (alloc_fd), not close-on-exec, or EMFILE.
Outcome Model::RunDup(TargetState& t, int64_t fd) {
  const int number = model_internal::AsInt(fd);
  auto source = number < 0 ? t.fds.end() : t.fds.find(number);
  if (source == t.fds.end()) return Outcome::Error(EBADF);
  const int to = LowestFree(t);
  if (to < 0) return Outcome::Error(EMFILE);
  t.fds[to] = ModelFd{source->second.file, false};
  t.fd_cells[to] = Cell("SEND.CONTINUE.RUNS");
  t.fd_emulates.erase(to);
  return Outcome::Ok(to);
}

bool Model::RunReservation(int target, int task_index) {
  TargetState& t = targets_[static_cast<size_t>(target)];
  Task& task = t.tasks[static_cast<size_t>(task_index)];
  if (!task.released) return false;
  // The FIFO open returns: the reserved slot gets the FIFO's read end.
  t.fds[task.reserved_slot] = ModelFd{LocalFile(), false};
  t.fd_cells.erase(task.reserved_slot);
  t.fd_emulates.erase(task.reserved_slot);
  release_result_ = Outcome::Ok(task.reserved_slot);
  if (task.reserve_bind >= 0) fd_names_[task.reserve_bind] = task.reserved_slot;
  task.reserving = false;
  task.released = false;
  task.reserved_slot = -1;
  return true;
}

// The interrupted path of seccomp_do_user_notification.
void Model::Interrupt(int target, int task_index, bool fatal) {
  TargetState& t = targets_[static_cast<size_t>(target)];
  Task& task = t.tasks[static_cast<size_t>(task_index)];
  if (task.notif < 0) return;
  Notif& n = notifs_[static_cast<size_t>(task.notif)];
  while (!n.addfds.empty()) {
    const Request queued = n.addfds.front();
    n.addfds.pop_front();
    FinishThread(queued.thread, Outcome::Error(ESRCH),
                 fatal ? Cell("ADDFD.TARGET.KILLED") : Cell("ADDFD.TARGET.SIGNALLED"));
  }
  n.state = NotifState::kGone;
  std::erase(t.notif_list, task.notif);
  task.notif = -1;
}

// A task exits (a fatal signal acted on).
void Model::KillTask(int target, int task_index) {
  TargetState& t = targets_[static_cast<size_t>(target)];
  Task& task = t.tasks[static_cast<size_t>(task_index)];
  // Its notification goes with it: later requests on the id get ENOENT.
  if (task.notif >= 0) Reached(Cell("ADDFD.TARGET.KILLED"));
  Interrupt(target, task_index, true);
  task.alive = false;
  if (task.reserving && !task.released) t.freed_in_quiesce.insert(task.reserved_slot);
  task.reserving = false;
  task.signal_pending = false;
  task.fatal_pending = false;
  task.dies_on_delivery = false;
  // The callers die with the leader (PR_SET_PDEATHSIG), and a thread group's threads
  // with any of them (do_group_exit). One whose reply was already waiting may have run
  // first, handled the request queued before the reply, and returned (raced_return):
  // what it returned is what it does running now.
  for (size_t k = 0; k < t.tasks.size(); ++k) {
    Task& caller = t.tasks[k];
    if (!DiesWith(t, task_index, static_cast<int>(k))) continue;
    if (caller.alive && caller.notif >= 0 && !caller.fatal_pending && !caller.dies_on_delivery) {
      const int notif_index = caller.notif;
      Notif& n = notifs_[static_cast<size_t>(notif_index)];
      // Woken with work of its own: a reply (and requests) waiting, or a handled signal
      // that interrupts its wait.
      const bool handled_signal =
          caller.signal_pending && HandlerOf(t, caller.pending_signal) != HandlerKind::kDefault;
      if ((n.state == NotifState::kReplied && n.done > 0 && !caller.signal_pending) ||
          handled_signal) {
        Model first = *this;
        first.RunTask(target, static_cast<int>(k));
        n.raced_return = first.notifs_[static_cast<size_t>(notif_index)].returned;
      }
    }
    if (caller.alive && !caller.fatal_pending) {
      caller.fatal_pending = true;
      if (caller.wake_order == 0) caller.wake_order = ++clock_;
    }
  }
  const bool any_alive =
      std::any_of(t.tasks.begin(), t.tasks.end(), [](const Task& other) { return other.alive; });
  if (!any_alive) TargetExited(target);
}

// SIGKILL to every task. Each dies when it next runs; a task woken for a queued request
// handles it first (do_wait_for_common checks the completion before signals), so only
// requests queued after it passed its wait get ESRCH (ADDFD.TARGET.KILLED).
void Model::KillTarget(int target) {
  TargetState& t = targets_[static_cast<size_t>(target)];
  for (Task& task : t.tasks) {
    if (!task.alive) continue;
    task.fatal_pending = true;
    if (task.wake_order == 0) task.wake_order = ++clock_;
  }
}

// The last task of a target exited: its fd table goes, and with no users left a blocked
// RECV wakes with ENOENT (RECV.EMPTY, 6.11+).
void Model::TargetExited(int target) {
  TargetState& t = targets_[static_cast<size_t>(target)];
  t.alive = false;
  t.fds.clear();
  t.fd_cells.clear();
  t.fd_emulates.clear();
  DetachIfUnreferenced(target);
  if (env_.recv_enoent) {
    for (size_t i = 0; i < threads_.size(); ++i) {
      Thread& thread = threads_[i];
      if (thread.busy && thread.op == OpKind::kRecv && thread.target == target) {
        FinishThread(static_cast<int>(i), Outcome::Error(ENOENT), Cell("RECV.EMPTY.WAKE"));
      }
    }
  }
}

// seccomp_notify_detach: every unanswered notification is answered ENOSYS.
void Model::Detach(int target) {
  TargetState& t = targets_[static_cast<size_t>(target)];
  for (int index : t.notif_list) {
    Notif& n = notifs_[static_cast<size_t>(index)];
    if (n.state == NotifState::kReplied) continue;
    n.state = NotifState::kReplied;
    n.reply_error = -ENOSYS;
    n.reply_val = 0;
    n.reply_continue = false;
    ++n.done;
  }
  t.listener = false;
  t.listener_closing = false;
}

void Model::DetachIfUnreferenced(int target) {
  const TargetState& t = targets_[static_cast<size_t>(target)];
  if (t.listener && t.listener_closing && !ThreadInListenerIoctl(target) &&
      !TableHoldsListener(target)) {
    Detach(target);
  }
}

bool Model::TableHoldsListener(int target) const {
  const ModelFile listener{ModelFile::Kind::kSource, static_cast<int>(SourceKind::kListener)};
  const TargetState& t = targets_[static_cast<size_t>(target)];
  return std::any_of(t.fds.begin(), t.fds.end(),
                     [&](const auto& entry) { return entry.second.file == listener; });
}

void Model::Quiesce() {
  const auto forget = [&] {
    for (TargetState& t : targets_) {
      t.freed_in_quiesce.clear();
      t.installed_in_quiesce.clear();
    }
  };
  forget();
  QuiesceRounds();
  forget();
}

void Model::QuiesceRounds() {
  for (int round = 0; round < 1000; ++round) {
    // Tasks run in the order they were woken.
    std::vector<std::pair<int64_t, std::pair<int, int>>> order;
    for (size_t ti = 0; ti < targets_.size(); ++ti) {
      const TargetState& t = targets_[ti];
      for (size_t k = 0; k < t.tasks.size(); ++k) {
        const Task& task = t.tasks[k];
        if (!task.alive) continue;
        const bool runnable =
            task.signal_pending || task.fatal_pending || (task.reserving && task.released) ||
            (task.notif >= 0 && notifs_[static_cast<size_t>(task.notif)].done > 0);
        if (runnable) {
          order.push_back({task.wake_order == 0 ? clock_ + 1 : task.wake_order,
                           {static_cast<int>(ti), static_cast<int>(k)}});
        }
      }
    }
    if (order.empty()) return;
    std::sort(order.begin(), order.end());
    bool changed = false;
    for (const auto& [when, who] : order) changed |= RunTask(who.first, who.second);
    if (!changed) return;
  }
}

}  // namespace addfdlab
