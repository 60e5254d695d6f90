// The reference model's ops: each op the kernel answered changes the model's state, and
// ADDFD and RECV start in the kernel's order up to the point where they wait.
#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <type_traits>
#include <utility>
#include <vector>

#include "addfdlab/model.h"
#include "model_internal.h"

namespace addfdlab {
namespace {

using model_internal::AsInt;

// Signals whose default action is to do nothing.
// 32 and 33 are glibc's own (SIGCANCEL, SIGSETXID): its handlers stay, and do nothing here.
bool IgnoredByDefault(int sig) {
  return sig == 17 || sig == 18 || sig == 23 || sig == 28 || sig == 32 || sig == 33;
}

// Signals whose default action dumps core (SIG_KERNEL_COREDUMP_MASK): complete_signal does
// not make them fatal when sent, so they do not wake a killable wait; they kill on delivery.
bool DumpsCoreByDefault(int sig) {
  return sig == 3 || sig == 4 || sig == 5 || sig == 6 || sig == 7 || sig == 8 || sig == 11 ||
         sig == 24 || sig == 25 || sig == 31;
}

}  // namespace

bool Model::Quiesces(int index) const {
  return OpTraitsOf(scenario_.ops[static_cast<size_t>(index)].kind).quiesces;
}

// After an op started in the kernel: a thread's op that failed at once is finished; one
// that sleeps stays busy, and on the main thread the targets run. True when it slept.
bool Model::Started(const Op& op, const Outcome& started, const std::string& cell) {
  if (started.kind != Outcome::Kind::kBlocked) {
    if (op.thread >= 0) FinishThread(op.thread, started, cell);
    return false;
  }
  if (op.thread < 0) Quiesce();
  return true;
}

Prediction Model::Begin(int index) {
  if (Quiesces(index)) Quiesce();
  return Predict(index);
}

void Model::Step(int index, const Outcome& observed) {
  Apply(index, observed);
  const Op& op = scenario_.ops[static_cast<size_t>(index)];
  if (op.kind == OpKind::kRelease && observed.kind == Outcome::Kind::kOk && op.bind >= 0) {
    BindFdName(op.bind, static_cast<int>(observed.value));
  }
}

void Model::Apply(int index, const Outcome& observed) {
  // The target's own ops go to ApplyTargetOp (the default); a new kind goes where it
  // belongs, then into this count (docs/scenario.md, "Adding an op").
  static_assert(kOpKindCount == 29, "a new OpKind: apply it in Model::Apply");
  const Op& op = scenario_.ops[static_cast<size_t>(index)];
  switch (op.kind) {
    case OpKind::kAddFd:
      ApplyAddFd(op, observed);
      return;
    case OpKind::kSend:
      ApplySend(op, observed);
      return;
    case OpKind::kRecv:
      ApplyRecv(op, observed);
      return;
    case OpKind::kIdValid:
    case OpKind::kSetFlags:
    case OpKind::kIoctl:
      if (op.kind == OpKind::kSetFlags && observed == Outcome::Ok(0)) {
        targets_[static_cast<size_t>(op.target)].sync_wake_up = (op.value & 1) != 0;
      }
      return;
    case OpKind::kCloseListener: {
      TargetState& t = targets_[static_cast<size_t>(op.target)];
      if (!t.listener) return;
      t.listener_closing = true;
      DetachIfUnreferenced(op.target);
      Quiesce();
      return;
    }
    case OpKind::kInstallFilter: {
      // On the leader: the tasks it spawns from now on trap into this filter.
      if (observed.kind != Outcome::Kind::kOk) return;
      TargetState& t = targets_[static_cast<size_t>(op.target)];
      const int stacked = ++t.tasks[0].stacked;
      if ((op.flags & uapi::kFilterTsync) == 0) return;
      // seccomp_sync_threads: every thread of the leader's group takes the leader's stack
      // (each has an ancestor of it: only the leader installs filters).
      for (size_t k = 1; k < t.tasks.size(); ++k) {
        Task& mate = t.tasks[k];
        if (!mate.created || !mate.alive || GroupOf(t, static_cast<int>(k)) != 0) continue;
        mate.stacked = stacked;
        Reached(Cell("FILTER.TSYNC.THREADS"));
      }
      return;
    }
    case OpKind::kGetNotifSizes:
      return;
    case OpKind::kSignalThread:
      SignalThread(op);
      return;
    case OpKind::kReturned: {
      Quiesce();
      // The kernel ran the task before its leader's death: follow it (raced_return).
      Notif& n = notifs_[static_cast<size_t>(op.notif)];
      if (n.raced_return && observed == n.raced_return->outcome) {
        n.returned = n.raced_return;
      }
      FollowRacedReturn(op.notif, observed);
      return;
    }
    case OpKind::kWait:
      Quiesce();
      FollowRacedInstall(op.thread, observed);
      return;
    case OpKind::kSettle:
    case OpKind::kWork:  // while the supervisor works, the targets run
    case OpKind::kPoll:  // poll changes nothing; the targets run after it
      Quiesce();
      return;
    default:
      ApplyTargetOp(op, observed);
      return;
  }
}

void Model::ApplyAddFd(const Op& op, const Outcome& observed) {
  if (!ListenerOpen(op.target)) return;
  // An O_PATH srcfd the kernel rejected never got past fget().
  if (op.src == SourceKind::kOpath && observed == Outcome::Error(EBADF)) {
    if (op.thread >= 0) FinishThread(op.thread, observed, Cell("ADDFD.SRCFD.OPATH"));
    return;
  }
  const char* check_cell = "";
  int failing = 0;
  if (PreQueueError(op, &check_cell, &failing) != 0) {
    if (failing > 1) Reached(Cell("ADDFD.ORDER.CHECKS"));
    if (op.thread >= 0) FinishThread(op.thread, observed, "");
    return;
  }
  if (uapi::IoctlSize(op.size) > uapi::kAddFdSizeVer0) Reached(Cell("ADDFD.SIZE.TAIL_ZERO"));
  std::string cell;
  // inject=nomem allows ENOMEM or the install (the table had room): follow the kernel.
  const bool growth_fails = observed == Outcome::Error(ENOMEM);
  // The main thread waits for its own request: the targets ran and handled it.
  if (Started(op, StartAddFd(op, &cell, growth_fails), cell) && op.thread < 0) {
    threads_.back().busy = false;
    FollowRacedInstall(static_cast<int>(threads_.size()) - 1, observed);
  }
}

void Model::FollowRacedInstall(int thread, const Outcome& observed) {
  Thread& th = threads_[static_cast<size_t>(thread)];
  if (th.result && th.raced_busy && observed == Outcome::Error(EBUSY) &&
      th.result->outcome.kind == Outcome::Kind::kOk) {
    RefuseRacedSetfd(thread);
  } else if (th.result && observed.kind == Outcome::Kind::kOk && th.result->outcome != observed) {
    const int to = static_cast<int>(observed.value);
    const auto raced = std::find_if(th.swap_with.begin(), th.swap_with.end(), [&](int other) {
      const auto& result = threads_[static_cast<size_t>(other)].result;
      return result && result->outcome == observed;
    });
    if (raced != th.swap_with.end()) {
      RotateInstalls(thread, to);
    } else if (to == th.raced_fd) {
      MoveInstall(thread, to);
    }
  }
  ForgetRaces(thread);
}

namespace {

// Moves the table's entries at each key of `moves` to its value, all at once (a swap too).
// `Target` is Model::TargetState.
template <typename Target>
void RenumberSlots(Target& t, const std::map<int, int>& moves) {
  const auto renumber = [&](auto& map) {
    std::vector<typename std::remove_reference_t<decltype(map)>::node_type> nodes;
    for (const auto& [from, to] : moves) {
      auto node = map.extract(from);
      if (!node) continue;
      node.key() = to;
      nodes.push_back(std::move(node));
    }
    for (auto& node : nodes) map.insert(std::move(node));
  };
  renumber(t.fds);
  renumber(t.fd_cells);
  renumber(t.fd_emulates);
}

}  // namespace

void Model::MoveInstall(int thread, int to) {
  Thread& th = threads_[static_cast<size_t>(thread)];
  TargetState& t = targets_[static_cast<size_t>(th.target)];
  const bool installed = th.result->outcome.kind == Outcome::Kind::kOk;
  const int from = installed ? static_cast<int>(th.result->outcome.value) : -1;
  if (!installed && !th.raced_file) return;
  // A dead target's table went with it: only the result and the reply follow.
  if (t.alive) {
    if (t.fds.count(to) != 0 || (installed && t.fds.count(from) == 0)) return;  // filled since
    if (installed) {
      RenumberSlots(t, {{from, to}});
    } else {
      // The model failed it (EMFILE); the kernel installed it in the slot freed first.
      t.fds[to] = *th.raced_file;
      t.fd_cells[to] = CellFor(&notifs_[static_cast<size_t>(th.notif)], Cell("ADDFD.OK.LOWEST"));
      t.fd_emulates.erase(to);
    }
  }
  if (installed) RenumberReply(thread, from, to);
  if (th.install_bind >= 0) fd_names_[th.install_bind] = to;
  th.result->outcome = Outcome::Ok(to);
}

void Model::RotateInstalls(int thread, int to) {
  Thread& th = threads_[static_cast<size_t>(thread)];
  TargetState& t = targets_[static_cast<size_t>(th.target)];
  const int from = static_cast<int>(th.result->outcome.value);
  // The slots in between, each with the install that holds it, and this one's own.
  std::map<int, int> holders{{from, thread}};
  for (const int other : th.swap_with) {
    const auto& result = threads_[static_cast<size_t>(other)].result;
    if (!result || result->outcome.kind != Outcome::Kind::kOk) continue;
    const int slot = static_cast<int>(result->outcome.value);
    if (slot >= std::min(from, to) && slot <= std::max(from, to)) holders[slot] = other;
  }
  std::vector<int> slots;
  for (const auto& entry : holders) slots.push_back(entry.first);
  // Earlier than the model ran it (to < from): the others move up a place; later: down.
  const int step = to < from ? 1 : -1;
  std::map<int, int> moves;
  for (size_t i = 0; i < slots.size(); ++i) {
    const int slot = slots[i];
    moves[slot] = slot == from ? to : slots[i + static_cast<size_t>(step)];
  }
  RenumberSlots(t, moves);
  for (const auto& [old_slot, new_slot] : moves) {
    Thread& mover = threads_[static_cast<size_t>(holders[old_slot])];
    RenumberReply(holders[old_slot], old_slot, new_slot);
    if (mover.install_bind >= 0) fd_names_[mover.install_bind] = new_slot;
    mover.result->outcome = Outcome::Ok(new_slot);
  }
}

void Model::RenumberReply(int thread, int from, int to) {
  const Thread& th = threads_[static_cast<size_t>(thread)];
  if (!th.install_sent || th.notif < 0) return;
  Notif& n = notifs_[static_cast<size_t>(th.notif)];
  if (n.reply_error == 0 && !n.reply_continue && n.reply_val == from) n.reply_val = to;
  if (n.returned && n.returned->outcome == Outcome::Ok(from)) n.returned->outcome = Outcome::Ok(to);
}

void Model::FollowRacedReturn(int notif, const Outcome& observed) {
  for (size_t k = 0; k < threads_.size(); ++k) {
    const Thread& th = threads_[k];
    if (th.install_sent && th.notif == notif && th.result &&
        th.result->outcome.kind == Outcome::Kind::kOk) {
      FollowRacedInstall(static_cast<int>(k), observed);
    }
  }
}

void Model::RefuseRacedSetfd(int thread) {
  Thread& th = threads_[static_cast<size_t>(thread)];
  TargetState& t = targets_[static_cast<size_t>(th.target)];
  const int fd = static_cast<int>(th.result->outcome.value);
  // A dead target's table went with it: only the result follows.
  if (t.alive) t.CloseFd(fd);
  if (th.install_bind >= 0) fd_names_.erase(th.install_bind);
  const Notif* n = th.notif >= 0 ? &notifs_[static_cast<size_t>(th.notif)] : nullptr;
  th.result = AsyncResult{Outcome::Error(EBUSY), CellFor(n, Cell("ADDFD.SETFD.RESERVED"))};
}

std::vector<Outcome> Model::RacedOutcomes(int thread) const {
  std::vector<Outcome> outcomes;
  for (const int fd : RacedNumbers(thread)) outcomes.push_back(Outcome::Ok(fd));
  if (threads_[static_cast<size_t>(thread)].raced_busy) outcomes.push_back(Outcome::Error(EBUSY));
  return outcomes;
}

std::vector<int> Model::RacedNumbers(int thread) const {
  const Thread& th = threads_[static_cast<size_t>(thread)];
  std::vector<int> numbers;
  if (th.raced_fd >= 0) numbers.push_back(th.raced_fd);
  for (const int other : th.swap_with) {
    const auto& result = threads_[static_cast<size_t>(other)].result;
    if (result && result->outcome.kind == Outcome::Kind::kOk) {
      numbers.push_back(static_cast<int>(result->outcome.value));
    }
  }
  return numbers;
}

void Model::ForgetRaces(int thread) {
  Thread& th = threads_[static_cast<size_t>(thread)];
  for (const int other : th.swap_with) {
    auto& links = threads_[static_cast<size_t>(other)].swap_with;
    links.erase(std::remove(links.begin(), links.end(), thread), links.end());
  }
  th.swap_with.clear();
  th.raced_fd = -1;
  th.raced_file.reset();
  th.raced_busy = false;
}

void Model::ApplySend(const Op& op, const Outcome& observed) {
  if (observed == Outcome::Ok(0)) {
    Notif* n = FindBySeq(op.target, OpSeq(op));
    if (n == nullptr) return;
    n->state = NotifState::kReplied;
    n->reply_val = ResolveFd(op.fd);
    n->reply_error = SentError(op);
    n->reply_continue = (op.flags & uapi::kRespContinue) != 0;
    ++n->done;
    Task& task = targets_[static_cast<size_t>(n->target)].tasks[static_cast<size_t>(n->task)];
    if (task.wake_order == 0) task.wake_order = ++clock_;
  }
  if (op.thread >= 0) {
    FinishThread(op.thread, observed, TraceLabel("SEND.OK"));
  }
}

void Model::ApplyRecv(const Op& op, const Outcome& observed) {
  if (!ListenerOpen(op.target)) return;
  if (op.buffer == BufferKind::kNonZero || op.buffer == BufferKind::kUnmapped) {
    if (op.thread >= 0) FinishThread(op.thread, observed, Cell("RECV.NONZERO"));
    return;
  }
  std::string cell;
  if (Started(op, StartRecv(op, &cell), cell) && op.thread < 0) {
    // Still blocked after the target went quiet: the executor interrupts it.
    Thread& main = threads_.back();
    if (main.busy) {
      main.busy = false;
      main.result = AsyncResult{Outcome::Blocked(), Cell("RECV.EMPTY")};
    }
  }
}

// A signal to a supervisor thread asleep in ADDFD or RECV.
void Model::SignalThread(const Op& op) {
  Thread& thread = threads_[static_cast<size_t>(op.thread)];
  if (!thread.busy) {
    // The target handled the request first: the ioctl returns the fd anyway.
    if (thread.op == OpKind::kAddFd && thread.result &&
        thread.result->outcome.kind == Outcome::Kind::kOk) {
      Reached(Cell("ADDFD.INTR.HANDLED"));
    }
    return;
  }
  if (thread.op == OpKind::kAddFd) {
    // ADDFD.INTR.QUEUED / ADDFD.INTR.SEND: the request is still queued (a handled one
    // would have finished the thread): remove it; SEND goes back to SENT.
    Notif& n = notifs_[static_cast<size_t>(thread.notif)];
    for (auto it = n.addfds.begin(); it != n.addfds.end(); ++it) {
      if (it->thread == op.thread) {
        const bool send = it->send;
        n.addfds.erase(it);
        if (send) {
          if (!env_.quirk_intr_send_stays_replied) n.state = NotifState::kSent;
          n.send_interrupted = true;
        }
        break;
      }
    }
    thread.busy = false;
    if (op.restart) {
      // SA_RESTART: the ioctl starts again from its first check.
      std::string cell;
      const Outcome again = StartAddFd(thread.pending, &cell);
      if (again.kind != Outcome::Kind::kBlocked) FinishThread(op.thread, again, cell);
    } else {
      const bool send = (thread.pending.flags & uapi::kAddFdSend) != 0;
      FinishThread(op.thread, Outcome::Error(EINTR),
                   send ? Cell("ADDFD.INTR.SEND") : Cell("ADDFD.INTR.QUEUED"));
    }
  } else if (thread.op == OpKind::kRecv) {
    // recv_wait_event returns -ERESTARTSYS: restarted, or EINTR. A restart after the
    // listener was closed looks the fd up again and finds the executor's placeholder
    // (/dev/null, Target::CloseListener): ENOTTY, and the last reference goes.
    if (!op.restart) {
      thread.busy = false;
      FinishThread(op.thread, Outcome::Error(EINTR), TraceLabel("RECV.INTR"));
    } else if (targets_[static_cast<size_t>(thread.target)].listener_closing) {
      thread.busy = false;
      FinishThread(op.thread, Outcome::Error(ENOTTY), Cell("LISTENER.CLOSED"));
    }
  }
}

void Model::ApplyTargetOp(const Op& op, const Outcome& observed) {
  TargetState& t = targets_[static_cast<size_t>(op.target)];
  switch (op.kind) {
    case OpKind::kOpen:
    case OpKind::kPipe:
    case OpKind::kSocketpair:
    case OpKind::kClose:
    case OpKind::kDup:
    case OpKind::kDup2:
      ApplyFdOp(op, observed);
      break;
    case OpKind::kNofile:
      if (observed.kind == Outcome::Kind::kOk) t.nofile = static_cast<uint64_t>(op.value);
      break;
    case OpKind::kHandler:
      // A refused sigaction (SIGKILL, SIGSTOP, ...) changes nothing.
      if (observed.kind == Outcome::Kind::kOk) t.handlers[op.signal] = op.handler;
      break;
    case OpKind::kReserve: {
      Task& task = t.tasks[static_cast<size_t>(op.task)];
      const int fd = LowestFree(t);
      if (fd >= 0) {
        task.reserving = true;
        task.reserved_slot = fd;
        task.released = false;
        task.reserve_bind = op.bind;
      }
      break;
    }
    case OpKind::kSpawn: {
      // A new user of the filter stack its parent has (copy_seccomp), and a control socket
      // in the shared table.
      if (observed.kind != Outcome::Kind::kOk) break;
      const auto index = static_cast<size_t>(observed.value);
      if (index >= t.tasks.size()) break;
      Task spawned;
      spawned.stacked = t.tasks[static_cast<size_t>(op.task)].stacked;
      if (op.spawn_as == SpawnAs::kThread) spawned.group = GroupOf(t, op.task);
      t.tasks[index] = spawned;
      const int fd = env_.harness_fd_base + static_cast<int>(index);
      t.fds[fd] = ModelFd{ModelFile{ModelFile::Kind::kHarness, static_cast<int>(index)}, true};
      break;
    }
    case OpKind::kRelease: {
      Task& task = t.tasks[static_cast<size_t>(op.task)];
      task.released = true;
      if (task.wake_order == 0) task.wake_order = ++clock_;
      Quiesce();
      break;
    }
    case OpKind::kTrap: {
      Task& task = t.tasks[static_cast<size_t>(op.task)];
      if (!task.alive) break;
      if (task.stacked > 0 || !t.listener) {
        // No notification: the syscall returns at once.
        Notif& n = notifs_[static_cast<size_t>(op.notif)];
        n.target = op.target;
        n.task = op.task;
        n.state = NotifState::kGone;
        if (task.stacked > 0) {
          // FILTER.STACKED.NEWEST: the newest filter matches, and it has no listener.
          n.returned = AsyncResult{Outcome::Error(ENOSYS), Cell("FILTER.STACKED.NEWEST")};
        } else if (op.call == TrapCall::kDup && t.filter_errno != 0) {
          // The target's filter was refused (FILTER.FLAGS): nothing traps a dup, it runs.
          n.returned = AsyncResult{RunDup(t, ResolveFd(op.fd)), Cell("FILTER.FLAGS")};
        } else {
          // LISTENER.CLOSED: no notifier left, ENOSYS (tuxcall's own answer is ENOSYS too).
          n.returned = AsyncResult{Outcome::Error(ENOSYS), Cell("LISTENER.CLOSED")};
        }
        break;
      }
      CreateNotification(op.target, op.task, op.notif);
      break;
    }
    case OpKind::kSignalTask:
      // Acted on when the task runs. Not a quiescence point (Quiesces): a signal that is
      // dropped (ignored, or its task dead) lets nothing else run either.
      SignalTask(op);
      return;
    case OpKind::kKill:
      KillTarget(op.target);
      break;
    default:
      break;
  }
  Quiesce();
}

void Model::ApplyFdOp(const Op& op, const Outcome& observed) {
  if (observed.kind != Outcome::Kind::kOk) return;
  TargetState& t = targets_[static_cast<size_t>(op.target)];
  const auto bind = [this](int name, int64_t fd) {
    if (name >= 0) fd_names_[name] = static_cast<int>(fd);
  };
  // The target's own ops decide what a number holds from now on: no ADDFD cell names it.
  const auto set = [&t](int fd, const ModelFd& entry) {
    t.fds[fd] = entry;
    t.fd_cells.erase(fd);
    t.fd_emulates.erase(fd);
  };
  switch (op.kind) {
    case OpKind::kOpen:
      set(static_cast<int>(observed.value), ModelFd{LocalFile(), op.cloexec});
      bind(op.bind, observed.value);
      break;
    case OpKind::kPipe:
    case OpKind::kSocketpair: {
      const int first = LowestFree(t);
      set(first, ModelFd{LocalFile(), op.cloexec});
      const int second = LowestFree(t);
      set(second, ModelFd{LocalFile(), op.cloexec});
      bind(op.bind, first);
      bind(op.bind2, second);
      break;
    }
    case OpKind::kClose:
      t.CloseFd(AsInt(ResolveFd(op.fd)));
      break;
    case OpKind::kDup: {
      ModelFd copy = t.fds[AsInt(ResolveFd(op.fd))];
      copy.cloexec = op.cloexec;
      set(static_cast<int>(observed.value), copy);
      bind(op.bind, observed.value);
      break;
    }
    case OpKind::kDup2: {
      ModelFd copy = t.fds[AsInt(ResolveFd(op.fd))];
      copy.cloexec = op.cloexec;
      set(AsInt(ResolveFd(op.fd2)), copy);
      break;
    }
    default:
      break;
  }
  // A close or dup2 may have dropped the last copy of a closed listener.
  DetachIfUnreferenced(op.target);
}

// A signal sent to a target task (complete_signal); true when it is pending, to be acted on
// when the task runs, false when it was dropped.
bool Model::SignalTask(const Op& op) {
  TargetState& t = targets_[static_cast<size_t>(op.target)];
  Task& task = t.tasks[static_cast<size_t>(op.task)];
  if (!task.alive) return false;
  const HandlerKind handler = HandlerOf(t, op.signal);
  if (handler == HandlerKind::kIgnore) return false;  // dropped when sent
  if (handler == HandlerKind::kDefault && IgnoredByDefault(op.signal)) return false;
  if (handler == HandlerKind::kDefault) {
    // A terminating signal is made fatal when sent (complete_signal) only if the task
    // wants it then: not with another signal already pending (wants_signal), and not
    // one that dumps core. Otherwise it kills only when delivered, once the task leaves
    // its wait (which a killable wait does not do for it).
    if (task.signal_pending) {
      task.dies_on_delivery = true;
    } else if (DumpsCoreByDefault(op.signal)) {
      task.signal_pending = true;
      task.pending_signal = op.signal;
    } else {
      task.fatal_pending = true;
      if (task.wake_order == 0) task.wake_order = ++clock_;
      // complete_signal: fatal to the whole thread group at once.
      for (size_t k = 0; k < t.tasks.size(); ++k) {
        Task& mate = t.tasks[k];
        if (!mate.alive || GroupOf(t, static_cast<int>(k)) != GroupOf(t, op.task)) continue;
        if (!mate.fatal_pending) Reached(Cell("FILTER.SPAWN.THREAD"));
        mate.fatal_pending = true;
        if (mate.wake_order == 0) mate.wake_order = ++clock_;
      }
    }
  } else if (task.signal_pending && HandlerOf(t, task.pending_signal) == HandlerKind::kDefault) {
    // A signal that kills on delivery (one that dumps core) is already pending: it
    // stays the one the task acts on, and the task dies.
    task.dies_on_delivery = true;
  } else {
    task.signal_pending = true;
    task.pending_signal = op.signal;
  }
  if (task.wake_order == 0) task.wake_order = ++clock_;
  return true;
}

// The part of seccomp_notify_addfd after the argument checks: the lock, the lookup, the
// state checks, and queueing. Returns the immediate error, or kBlocked once queued.
Outcome Model::StartAddFd(const Op& op, std::string* cell, bool growth_fails) {
  const int slot = op.thread >= 0 ? op.thread : static_cast<int>(threads_.size()) - 1;
  Notif* n = FindBySeq(op.target, OpSeq(op));
  if (n == nullptr) {
    *cell = Cell("ADDFD.ID.UNKNOWN");
    return Outcome::Error(ENOENT);
  }
  if (n->state != NotifState::kSent) {
    *cell = n->state == NotifState::kInit ? Cell("ADDFD.STATE.INIT") : Cell("ADDFD.STATE.REPLIED");
    return Outcome::Error(EINPROGRESS);
  }
  if ((op.flags & uapi::kAddFdSend) && !n->addfds.empty()) {
    *cell = Cell("ADDFD.SEND.BUSY");
    return Outcome::Error(EBUSY);
  }
  if (op.flags & uapi::kAddFdSend) n->state = NotifState::kReplied;
  Request request;
  request.thread = slot;
  request.file = op.src == SourceKind::kListener
                     ? ModelFile{ModelFile::Kind::kSource, static_cast<int>(SourceKind::kListener)}
                     : ModelFile{ModelFile::Kind::kSource, static_cast<int>(op.src)};
  request.cloexec = (op.newfd_flags & static_cast<uint32_t>(O_CLOEXEC)) != 0;
  request.emulates = op.emulates;
  request.setfd = (op.flags & uapi::kAddFdSetFd) != 0;
  request.send = (op.flags & uapi::kAddFdSend) != 0;
  request.newfd = static_cast<uint32_t>(ResolveFd(op.fd));
  request.inject = op.inject;
  request.growth_fails = growth_fails && op.inject == InjectKind::kNomem;
  request.order = ++clock_;
  n->addfds.push_front(request);
  ++n->done;
  TargetState& t = targets_[static_cast<size_t>(n->target)];
  Task& task = t.tasks[static_cast<size_t>(n->task)];
  if (task.wake_order == 0) task.wake_order = ++clock_;
  Thread& thread = threads_[static_cast<size_t>(slot)];
  thread.busy = true;
  thread.op = OpKind::kAddFd;
  thread.target = op.target;
  thread.notif = static_cast<int>(n - notifs_.data());
  thread.result.reset();
  thread.pending = op;
  *cell = Cell("ADDFD.OK.LOWEST");
  return Outcome::Blocked();
}

// seccomp_notify_recv after the buffer check: recv_wait_event, then the first INIT.
const char* Model::RecvCell(int target, int thread) const {
  // seccomp_notify_recv: unotif.pid = task_pid_vnr(knotif->task), the pid in the receiver's
  // namespace, 0 where the task is not visible. The executor checks the pid it received.
  if (PlaceOf(scenario_, thread) == ThreadPlace::kProcessPidNs) return Cell("RECV.PID.SIBLING_NS");
  if (scenario_.targets[static_cast<size_t>(target)].pid_ns) return Cell("RECV.PID.CHILD_NS");
  return TraceLabel("RECV.OK");
}

Outcome Model::TakeNotification(int target, int thread, BufferKind buffer, std::string* cell) {
  TargetState& t = targets_[static_cast<size_t>(target)];
  const bool no_users = !t.alive;
  if (!(no_users && env_.recv_enoent)) {
    if (t.requests > 0) {
      --t.requests;
    } else {
      return Outcome::Blocked();
    }
  }
  for (int index : t.notif_list) {
    Notif& n = notifs_[static_cast<size_t>(index)];
    if (n.state != NotifState::kInit) continue;
    if (buffer == BufferKind::kReadOnly) {
      // RECV.FAULT: copy_to_user fails; the notification goes back to INIT.
      ++t.requests;
      *cell = Cell("RECV.FAULT");
      return Outcome::Error(EFAULT);
    }
    n.state = NotifState::kSent;
    *cell = RecvCell(target, thread);
    // Taken before a later one that also waits: the list is in the order of the traps.
    if (std::any_of(t.notif_list.begin(), t.notif_list.end(), [&](int other) {
          return other != index && notifs_[static_cast<size_t>(other)].state == NotifState::kInit;
        })) {
      Reached(Cell("RECV.FIFO"));
    }
    return Outcome::Ok(index);
  }
  *cell = no_users ? Cell("RECV.EMPTY") : TraceLabel("RECV.STALE");
  return Outcome::Error(ENOENT);
}

Outcome Model::StartRecv(const Op& op, std::string* cell) {
  const int slot = op.thread >= 0 ? op.thread : static_cast<int>(threads_.size()) - 1;
  const Outcome taken = TakeNotification(op.target, slot, op.buffer, cell);
  if (taken.kind == Outcome::Kind::kBlocked) {
    Thread& thread = threads_[static_cast<size_t>(slot)];
    thread.busy = true;
    thread.op = OpKind::kRecv;
    thread.target = op.target;
    thread.result.reset();
    thread.pending = op;
  }
  return taken;
}

void Model::FinishThread(int thread, const Outcome& outcome, const std::string& cell) {
  Thread& t = threads_[static_cast<size_t>(thread)];
  t.busy = false;
  t.result = AsyncResult{outcome, cell};
  ForgetRaces(thread);
  // `addfd ... -> F` names the fd the request installed. The request is done: a later op
  // of this thread that finishes at once (a send, a recv with one waiting) binds nothing.
  if (t.pending.kind == OpKind::kAddFd && t.pending.bind >= 0 &&
      outcome.kind == Outcome::Kind::kOk) {
    fd_names_[t.pending.bind] = static_cast<int>(outcome.value);
  }
  t.pending = Op{};
  DetachIfUnreferenced(t.target);
}

}  // namespace addfdlab
