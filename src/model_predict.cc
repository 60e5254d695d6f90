// The reference model's predictions: the outcomes the contract allows for each op, and
// the cell that decides them, in the order of the kernel's own checks.
#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "addfdlab/model.h"
#include "model_internal.h"

namespace addfdlab {
namespace {

using model_internal::AsInt;

constexpr uint32_t kKnownAddFdFlags = uapi::kAddFdSetFd | uapi::kAddFdSend;
constexpr int kPageSize = 4096;

// Signals whose default action is to stop.
bool StopsByDefault(int sig) { return sig >= 19 && sig <= 22; }  // STOP TSTP TTIN TTOU

Prediction Skip(std::string reason) {
  Prediction p;
  p.skip = true;
  p.skip_reason = std::move(reason);
  return p;
}

}  // namespace

Prediction Model::Predict(int index) const {
  // The target's ops, `wait`, `returned`, `signal_thread` and `settle` go to PredictTargetOp
  // (the default); a new kind goes where it belongs, then into this count (docs/scenario.md,
  // "Adding an op").
  static_assert(kOpKindCount == 29, "a new OpKind: predict it in Model::Predict");
  const Op& op = scenario_.ops[static_cast<size_t>(index)];
  const OpTraits& traits = OpTraitsOf(op.kind);
  if (std::string why = OutsideEnv(op); !why.empty()) return Skip(std::move(why));
  if (traits.on_thread && op.thread >= 0 && threads_[static_cast<size_t>(op.thread)].busy) {
    return Skip("the supervisor thread is still in its previous op");
  }
  if (traits.listener && !ListenerOpen(op.target)) return Skip("the target has no open listener");
  switch (op.kind) {
    case OpKind::kAddFd:
      return PredictAddFd(op);
    case OpKind::kSend:
      return PredictSend(op);
    case OpKind::kRecv:
      return PredictRecv(op);
    case OpKind::kInstallFilter:
      return PredictFilter(op);
    case OpKind::kIdValid:
    case OpKind::kSetFlags:
    case OpKind::kIoctl:
    case OpKind::kCloseListener:
      return PredictListenerOp(op);
    case OpKind::kPoll:
      return PredictPoll(op);
    case OpKind::kGetNotifSizes: {
      // seccomp_get_notif_sizes: the sizes of the structs this program was built with.
      Prediction p;
      p.cell = Cell("NOTIF_SIZES");
      p.allowed = {Outcome::Ok(uapi::PackNotifSizes(
          sizeof(seccomp_notif), sizeof(seccomp_notif_resp), sizeof(seccomp_data)))};
      return p;
    }
    default:
      return PredictTargetOp(op);
  }
}

std::string Model::OutsideEnv(const Op& op) const {
  bool needs_pid_ns = false;
  for (const TargetDecl& target : scenario_.targets) needs_pid_ns |= target.pid_ns;
  for (ThreadPlace place : scenario_.places) needs_pid_ns |= place == ThreadPlace::kProcessPidNs;
  if (needs_pid_ns && !env_.pid_ns) {
    return "needs a new pid namespace, which cannot be made here (feature pid_ns)";
  }
  if (op.kind == OpKind::kSignalTask && scenario_.targets[static_cast<size_t>(op.target)].pid_ns) {
    // The leader is its namespace's init: a signal it has no handler for is dropped
    // (sig_task_ignored, SIGNAL_UNKILLABLE), which the model does not follow. The flag is
    // its thread group's, so the same holds for every thread of the leader.
    const TargetState& t = targets_[static_cast<size_t>(op.target)];
    const bool leaders_group =
        op.task >= 0 && static_cast<size_t>(op.task) < t.tasks.size() && GroupOf(t, op.task) == 0;
    if (leaders_group) {
      return "a task of the leader's thread group, in a target with its own pid namespace: the "
             "leader is that namespace's init";
    }
  }
  return "";
}

Prediction Model::PredictListenerOp(const Op& op) const {
  Prediction p;
  if (op.kind == OpKind::kIdValid) {
    // ID_VALID.STATES: only SENT is valid.
    const Notif* n = FindBySeq(op.target, OpSeq(op));
    p.cell = CellFor(n, Cell("ID_VALID.STATES"));
    p.allowed = {n != nullptr && n->state == NotifState::kSent ? Outcome::Ok(0)
                                                               : Outcome::Error(ENOENT)};
  } else if (op.kind == OpKind::kSetFlags) {
    p.cell = Cell("SET_FLAGS.UNKNOWN");
    const bool known = env_.sync_wake_up && (static_cast<uint64_t>(op.value) &
                                             ~static_cast<uint64_t>(uapi::kSyncWakeUp)) == 0;
    p.allowed = {known ? Outcome::Ok(0) : Outcome::Error(EINVAL)};
  } else if (op.kind == OpKind::kIoctl) {
    return PredictIoctl(op);
  } else {
    p.cell = Cell("LISTENER.CLOSED");
    p.allowed = {Outcome::Ok(0)};
  }
  return p;
}

// seccomp_notify_poll: EPOLLIN|EPOLLRDNORM while a notification is INIT, EPOLLOUT|EPOLLWRNORM
// while one is SENT (the walk stops once it has both), EPOLLHUP once the filter has no users
// (its last task was released); poll(2) keeps the requested events, POLLERR and POLLHUP
// (do_pollfd). The cell is that of the strongest event the answer holds or lacks.
Prediction Model::PredictPoll(const Op& op) const {
  constexpr uint32_t kIn = 0x1 | 0x40, kOut = 0x4 | 0x100, kErr = 0x8, kHup = 0x10;
  const TargetState& t = targets_[static_cast<size_t>(op.target)];
  uint32_t mask = 0;
  for (int index : t.notif_list) {
    const NotifState state = notifs_[static_cast<size_t>(index)].state;
    if (state == NotifState::kInit) mask |= kIn;
    if (state == NotifState::kSent) mask |= kOut;
    if ((mask & (kIn | kOut)) == (kIn | kOut)) break;
  }
  if (!t.alive) mask |= kHup;
  // The kernel reads pollfd.events as a short.
  const uint32_t events = static_cast<uint16_t>(op.flags);
  Prediction p;
  const bool out = (mask & events & kOut) != 0 || ((events & kOut) != 0 && (events & kIn) == 0);
  p.cell = (mask & kHup) != 0 ? Cell("POLL.HUP") : out ? Cell("POLL.OUT") : Cell("POLL.IN");
  p.allowed = {Outcome::Ok(mask & (events | kErr | kHup))};
  return p;
}

// IOCTL.UNKNOWN. Numbers the kernel dispatches to a real handler (the notifier's own,
// ADDFD's extensible form, or the VFS's generic ioctls) are outside the op.
Prediction Model::PredictIoctl(const Op& op) const {
  Prediction p;
  const auto cmd = static_cast<uint32_t>(op.value);
  const uint32_t ea = cmd & ~((3u << 30) | (0x3fffu << 16));
  const bool notifier = cmd == uapi::kIoctlRecv || cmd == uapi::kIoctlSend ||
                        cmd == uapi::kIoctlIdValid || cmd == uapi::kIoctlIdValidWrongDir ||
                        cmd == uapi::kIoctlSetFlags || ea == (uapi::kIoctlAddFd & 0xffff);
  // do_vfs_ioctl's own: FIOCLEX FIONCLEX FIONBIO FIOASYNC FIOQSIZE, and the 'X'/'f'
  // and 0x94/0x15 families (freeze, clone, fiemap, fsuuid, ...).
  const uint32_t type = (cmd >> 8) & 0xff;
  const bool vfs = cmd == 0x5450 || cmd == 0x5451 || cmd == 0x5421 || cmd == 0x5452 ||
                   cmd == 0x5460 || cmd == 0x541b || type == 'X' || type == 'f' || type == 0x94 ||
                   type == 0x15 || cmd == 2 /*FIBMAP*/ || cmd == 1;
  if (notifier || vfs) {
    p.skip = true;
    p.skip_reason = "ioctl number handled by the notifier or the VFS, not unknown";
    return p;
  }
  p.cell = Cell("IOCTL.UNKNOWN");
  p.allowed = {Outcome::Error(EINVAL)};
  return p;
}

Prediction Model::PredictFilter(const Op& op) const {
  Prediction p;
  p.cell = Cell("FILTER.FLAGS");
  const TargetState& t = targets_[static_cast<size_t>(op.target)];
  if (!t.alive || !t.tasks[0].alive) {
    p.skip = true;
    p.skip_reason = "the target is dead";
    return p;
  }
  const uint32_t flags = op.flags;
  int err = model_internal::FilterFlagsError(flags, env_);
  if (err == 0 && (flags & uapi::kFilterNewListener) && LowestFree(t) < 0) {
    err = EMFILE;  // the listener's fd is allocated before the duplicate check
  } else if (err == 0 && (flags & uapi::kFilterNewListener) && t.listener) {
    err = EBUSY;  // has_duplicate_listener: a filter in the chain still has a notifier
  }
  p.allowed = {err != 0 ? Outcome::Error(err) : Outcome::Ok(0)};
  return p;
}

// The argument checks of seccomp_notify_addfd, before the lock, in the kernel's order
// (ADDFD.ORDER.CHECKS): the errno and its cell, or 0.
int Model::PreQueueError(const Op& op, const char** cell, int* failing) const {
  // The kernel sees the size the ioctl number's 14 size bits hold.
  const uint32_t size = uapi::IoctlSize(op.size);
  uint32_t known = kKnownAddFdFlags;
  if (!env_.send) known &= ~uapi::kAddFdSend;
  if (!env_.setfd) known &= ~uapi::kAddFdSetFd;
  struct Check {
    bool fails;
    int err;
    const char* cell;
  };
  const Check checks[] = {
      {!env_.addfd, EINVAL, Cell("IOCTL.UNKNOWN")},
      {size < uapi::kAddFdSizeVer0, EINVAL, Cell("ADDFD.SIZE.SHORT")},
      {size >= static_cast<uint32_t>(kPageSize), EINVAL, Cell("ADDFD.SIZE.PAGE")},
      // copy_struct_from_user: the tail is checked (and read) first, then the struct.
      {op.arg == AddFdArg::kUnreadable, EFAULT, Cell("ADDFD.FAULT")},
      {size > uapi::kAddFdSizeVer0 && op.arg == AddFdArg::kTailNonZero, E2BIG,
       Cell("ADDFD.SIZE.TAIL_NONZERO")},
      {(op.newfd_flags & ~static_cast<uint32_t>(O_CLOEXEC)) != 0, EINVAL,
       Cell("ADDFD.NEWFD_FLAGS")},
      {(op.flags & ~known) != 0, EINVAL, Cell("ADDFD.FLAGS.UNKNOWN")},
      // struct seccomp_notif_addfd holds newfd as a __u32: the kernel sees the low 32 bits.
      {static_cast<uint32_t>(ResolveFd(op.fd)) != 0 && !(op.flags & uapi::kAddFdSetFd), EINVAL,
       Cell("ADDFD.NEWFD_WITHOUT_SETFD")},
      {op.src == SourceKind::kClosed || op.src == SourceKind::kHuge, EBADF,
       Cell("ADDFD.SRCFD.BAD")},
  };
  const Check* first = nullptr;
  int count = 0;
  const bool last = env_.mutant == ModelEnv::Mutant::kLastCheck;  // a planted bug
  for (const Check& check : checks) {
    if (!check.fails) continue;
    if (first == nullptr || last) first = &check;
    ++count;
  }
  if (failing != nullptr) *failing = count;
  if (first == nullptr) return 0;
  if (cell != nullptr) *cell = first->cell;
  return first->err;
}

const char* Model::InjectOutsideDomain(const Op& op) const {
  if (op.inject == InjectKind::kNone) return nullptr;
  switch (op.inject) {
    case InjectKind::kNone:
      return nullptr;
    case InjectKind::kLsm:
      if (!env_.inject_lsm) return "inject=lsm: no fail_function on security_file_receive here";
      break;
    case InjectKind::kNomem:
      if (!env_.inject_nomem) return "inject=nomem: no failslab and fail-nth here";
      // The target returns to user space before the fault is undone: one that did not fire
      // (the table had room) would fail whatever it allocates next.
      if (op.flags & uapi::kAddFdSend) return "inject=nomem with SEND";
      break;
    case InjectKind::kNrOpen:
      if (!env_.inject_nr_open) return "inject=nr_open: only in an addfdlab VM guest";
      break;
  }
  // The fault is armed on the notification's task: it must be waiting in the kernel, where
  // the fault can reach nothing but the install, until the ioctl returns.
  const Notif* n = FindBySeq(op.target, OpSeq(op));
  if (n == nullptr || op.id_delta != 0)
    return "inject= on a notification whose task is not waiting";
  return nullptr;
}

Prediction Model::PredictAddFd(const Op& op) const {
  Prediction p;
  // The executor arms an injection before the ioctl, whatever the kernel then rejects.
  if (const char* why = InjectOutsideDomain(op); why != nullptr) {
    p.skip = true;
    p.skip_reason = why;
    return p;
  }
  const char* check_cell = "";
  if (const int err = PreQueueError(op, &check_cell); err != 0) {
    p.allowed = {Outcome::Error(err)};
    // Several faults at once: the first failing row decides (ADDFD.ORDER.CHECKS).
    p.cell = check_cell;
    return p;
  }
  const TargetState& t = targets_[static_cast<size_t>(op.target)];
  const int64_t newfd = static_cast<uint32_t>(ResolveFd(op.fd));
  if ((op.flags & uapi::kAddFdSetFd) && newfd >= env_.harness_fd_base &&
      newfd < env_.harness_fd_base + static_cast<int>(t.tasks.size())) {
    p.skip = true;
    p.skip_reason = "SETFD onto a harness fd";
    return p;
  }
  // From here on the outcome is decided by the notification and, once queued, by the
  // target. Simulate on a copy: queue it, let the target run, read the result.
  std::vector<Outcome> raced;  // what else the main thread's install may give (RacedOutcomes)
  const auto simulate = [&](bool growth_fails, std::string* cell) {
    Model copy = *this;
    const Outcome started = copy.StartAddFd(op, cell, growth_fails);
    if (op.thread >= 0 || started.kind != Outcome::Kind::kBlocked) return started;
    // The main thread waits for its own request while the targets run.
    copy.Quiesce();
    const Thread& main = copy.threads_.back();
    if (!growth_fails) raced = copy.RacedOutcomes(static_cast<int>(copy.threads_.size()) - 1);
    if (main.result) *cell = main.result->cell;
    return main.result ? main.result->outcome : Outcome::Blocked();
  };
  std::vector<Outcome> allowed;
  std::string cell;
  // ADDFD.SRCFD.OPATH: EBADF today; a queued upstream change accepts O_PATH files.
  if (op.src == SourceKind::kOpath) allowed.push_back(Outcome::Error(EBADF));
  allowed.push_back(simulate(false, &cell));
  allowed.insert(allowed.end(), raced.begin(), raced.end());
  if (op.inject == InjectKind::kNomem) {
    // The fault fires only if the install grows the table (expand_files allocates); the
    // model does not know the table's size, so both are allowed, the failure first, and the
    // cell is NOMEM's.
    std::string failed_cell;
    const Outcome failed = simulate(true, &failed_cell);
    if (std::find(allowed.begin(), allowed.end(), failed) == allowed.end()) {
      allowed.insert(allowed.begin(), failed);
      cell = failed_cell;
    }
  }
  if (op.src == SourceKind::kOpath && cell.empty()) cell = Cell("ADDFD.SRCFD.OPATH");
  p.allowed = allowed;
  p.cell = op.src == SourceKind::kOpath ? Cell("ADDFD.SRCFD.OPATH")
                                        : CellFor(FindBySeq(op.target, OpSeq(op)), cell);
  return p;
}

Prediction Model::PredictSend(const Op& op) const {
  Prediction p;
  // seccomp_notify_send, in order.
  const int64_t val = ResolveFd(op.fd);
  if ((op.flags & ~uapi::kRespContinue) != 0) {
    p.cell = Cell("SEND.FLAGS.UNKNOWN");
    p.allowed = {Outcome::Error(EINVAL)};
  } else if ((op.flags & uapi::kRespContinue) && (op.error != 0 || val != 0)) {
    p.cell = Cell("SEND.CONTINUE.VAL");
    p.allowed = {Outcome::Error(EINVAL)};
  } else if (const Notif* n = FindBySeq(op.target, OpSeq(op)); n == nullptr) {
    p.cell = Cell("SEND.GONE");
    p.allowed = {Outcome::Error(ENOENT)};
  } else if (n->state != NotifState::kSent) {
    // An ADDFD|SEND in the queue has set REPLIED already.
    const bool addfd_send =
        std::any_of(n->addfds.begin(), n->addfds.end(), [](const Request& r) { return r.send; });
    p.cell = n->state == NotifState::kInit ? Cell("SEND.STATE.INIT")
             : addfd_send                  ? Cell("SEND.WHILE_ADDFD_SEND")
                                           : Cell("SEND.GONE");
    p.allowed = {Outcome::Error(EINPROGRESS)};
  } else {
    p.cell = TraceLabel("SEND.OK");
    p.allowed = {Outcome::Ok(0)};
  }
  p.cell = CellFor(FindBySeq(op.target, OpSeq(op)), p.cell);
  return p;
}

Prediction Model::PredictRecv(const Op& op) const {
  Prediction p;
  if (op.buffer == BufferKind::kNonZero) {
    p.cell = Cell("RECV.NONZERO");
    p.allowed = {Outcome::Error(EINVAL)};
    return p;
  }
  if (op.buffer == BufferKind::kUnmapped) {
    p.cell = Cell("RECV.FAULT");
    p.allowed = {Outcome::Error(EFAULT)};
    return p;
  }
  Model copy = *this;
  std::string cell;
  Outcome started = copy.StartRecv(op, &cell);
  if (op.thread < 0 && started.kind == Outcome::Kind::kBlocked) {
    // Asleep in RECV while the targets run: a notification may come; if none does, the
    // executor interrupts it.
    copy.Quiesce();
    const auto& result = copy.threads_.back().result;
    started = result && !copy.threads_.back().busy ? result->outcome : Outcome::Blocked();
    if (result) cell = result->cell;
  }
  p.cell = cell.empty() ? Cell("RECV.EMPTY") : cell;
  p.allowed = {started};
  return p;
}

Prediction Model::PredictTargetOp(const Op& op) const {
  Prediction p;
  const TargetState& t = targets_[static_cast<size_t>(op.target)];
  switch (op.kind) {
    case OpKind::kWait:
    case OpKind::kReturned:
      return PredictCompletion(op);
    case OpKind::kSignalThread:
    case OpKind::kSettle:
    case OpKind::kWork:  // the supervisor's own work: nothing for the kernel to answer
      return p;
    default:
      break;
  }
  // The task the op runs on: its own, or the leader.
  const bool on_task =
      (OpTraitsOf(op.kind).fields & (op_field::kTask | op_field::kTaskCaller)) != 0;
  const int task = on_task ? op.task : 0;
  if (!t.alive || !t.tasks[static_cast<size_t>(task)].alive) {
    p.skip = true;
    p.skip_reason = "the target task is dead";
    return p;
  }
  const Task& tk = t.tasks[static_cast<size_t>(task)];
  if ((op.kind == OpKind::kTrap || op.kind == OpKind::kReserve || op.kind == OpKind::kSpawn) &&
      (tk.notif >= 0 || tk.reserving)) {
    p.skip = true;
    p.skip_reason = "the task is busy";
    return p;
  }
  switch (op.kind) {
    case OpKind::kOpen:
    case OpKind::kDup:
    case OpKind::kPipe:
    case OpKind::kSocketpair:
    case OpKind::kClose:
    case OpKind::kDup2:
      return PredictFdOp(op);
    case OpKind::kNofile:
      p.allowed = {op.value < 0 || static_cast<uint64_t>(op.value) > env_.nofile_hard
                       ? Outcome::Error(EINVAL)
                       : Outcome::Ok(0)};
      return p;
    case OpKind::kHandler:
      return PredictHandler(op);
    case OpKind::kReserve: {
      const int fd = LowestFree(t);
      p.allowed = {fd < 0 ? Outcome::Error(EMFILE) : Outcome::Blocked()};
      return p;
    }
    case OpKind::kRelease: {
      if (!tk.reserving) {
        p.skip = true;
        p.skip_reason = "the task holds no reservation";
        return p;
      }
      Model copy = *this;
      const int index = static_cast<int>(&op - scenario_.ops.data());
      copy.Apply(index, Outcome::Blocked());
      p.allowed = {copy.release_result_};
      return p;
    }
    case OpKind::kTrap:
      return PredictTrap(op);
    case OpKind::kSpawn: {
      if (op.spawn_as == SpawnAs::kThread && !env_.pidfd_thread) {
        p.skip = true;
        p.skip_reason = "no PIDFD_THREAD (6.9): a thread task cannot be followed";
        return p;
      }
      // The agent's clone: the new task takes the scenario's next index.
      const int index = static_cast<int>(&op - scenario_.ops.data());
      p.allowed = {Outcome::Ok(TasksBefore(scenario_, op.target, static_cast<size_t>(index)))};
      p.cell =
          op.spawn_as == SpawnAs::kThread ? Cell("FILTER.SPAWN.THREAD") : Cell("FILTER.SPAWN.USER");
      return p;
    }
    case OpKind::kSignalTask:
      if (StopsByDefault(op.signal) && HandlerOf(t, op.signal) == HandlerKind::kDefault) {
        p.skip = true;
        p.skip_reason = "a stop signal: stopped targets are outside the model";
      }
      return p;
    default:
      return p;
  }
}

// `wait` and `returned`: what a supervisor thread's op or a trap gives once the targets ran.
Prediction Model::PredictCompletion(const Op& op) const {
  Prediction p;
  Model copy = *this;
  copy.Quiesce();
  if (op.kind == OpKind::kWait) {
    const auto result = copy.ThreadResult(op.thread);
    p.allowed = {result ? result->outcome : Outcome::Blocked()};
    for (const Outcome& raced : copy.RacedOutcomes(op.thread)) p.allowed.push_back(raced);
    p.cell = result ? result->cell : "";
    // An ADDFD on a notification whose ADDFD|SEND was interrupted (an SA_RESTART retry
    // of it included): ADDFD.INTR.SEND decides, as for the ops on it (CellFor).
    const Thread& thread = threads_[static_cast<size_t>(op.thread)];
    if (result && !p.cell.empty() && thread.op == OpKind::kAddFd && thread.notif >= 0) {
      p.cell = CellFor(&notifs_[static_cast<size_t>(thread.notif)], p.cell);
    }
    return p;
  }
  const auto result = copy.TrapResult(op.notif);
  p.allowed = {result ? result->outcome : Outcome::Blocked()};
  const Notif& n = copy.notifs_[static_cast<size_t>(op.notif)];
  if (n.raced_return && n.raced_return->outcome != p.allowed[0]) {
    p.allowed.push_back(n.raced_return->outcome);
  }
  // Its ADDFD|SEND's number, when that install raced another (FollowRacedReturn).
  for (size_t k = 0; k < copy.threads_.size(); ++k) {
    const Thread& th = copy.threads_[k];
    if (th.install_sent && th.notif == op.notif && th.result &&
        th.result->outcome == p.allowed[0]) {
      for (const int fd : copy.RacedNumbers(static_cast<int>(k))) {
        p.allowed.push_back(Outcome::Ok(fd));
      }
    }
  }
  p.cell = notifs_[static_cast<size_t>(op.notif)].send_interrupted ? Cell("ADDFD.INTR.SEND")
                                                                   : (result ? result->cell : "");
  return p;
}

// The fd-table ops (fs/file.c): open, pipe and socketpair, close, dup (F_DUPFD) and dup2.
Prediction Model::PredictFdOp(const Op& op) const {
  Prediction p;
  const TargetState& t = targets_[static_cast<size_t>(op.target)];
  const auto touches_harness = [&](int64_t fd) {
    return fd >= env_.harness_fd_base &&
           fd < env_.harness_fd_base + static_cast<int64_t>(t.tasks.size());
  };
  // A new number is the lowest free one: when a number below it was filled by the retry of
  // an interrupted ADDFD|SEND, that cell decides it (on a kernel with its known bug the
  // retry installed nothing, and the number comes out lower).
  const auto after_intr_send = [&](Prediction prediction) {
    const Outcome& first = prediction.allowed[0];
    if (first.kind != Outcome::Kind::kOk && first != Outcome::Error(EMFILE)) return prediction;
    const int64_t bound =
        first.kind == Outcome::Kind::kOk ? first.value : static_cast<int64_t>(t.nofile);
    for (const auto& [fd, cell] : t.fd_cells) {
      if (fd < bound && cell == Cell("ADDFD.INTR.SEND")) prediction.cell = cell;
    }
    return prediction;
  };
  switch (op.kind) {
    case OpKind::kOpen: {
      const int fd = LowestFree(t);
      p.allowed = {fd < 0 ? Outcome::Error(EMFILE) : Outcome::Ok(fd)};
      return after_intr_send(p);
    }
    case OpKind::kDup:
      if (touches_harness(AsInt(ResolveFd(op.fd)))) break;
      return after_intr_send(PredictDup(op));
    case OpKind::kPipe:
    case OpKind::kSocketpair: {
      // Both ends or neither: the second slot is taken after the first.
      TargetState copy = t;
      const int first = LowestFree(copy);
      if (first >= 0) copy.fds[first] = ModelFd{};
      const int second = first >= 0 ? LowestFree(copy) : -1;
      p.allowed = {second < 0 ? Outcome::Error(EMFILE) : Outcome::Ok(first)};
      return after_intr_send(p);
    }
    case OpKind::kClose: {
      const int64_t fd = AsInt(ResolveFd(op.fd));
      if (touches_harness(fd)) break;
      p.allowed = {fd >= 0 && t.fds.count(static_cast<int>(fd)) ? Outcome::Ok(0)
                                                                : Outcome::Error(EBADF)};
      return p;
    }
    case OpKind::kDup2: {
      const int64_t from = AsInt(ResolveFd(op.fd));
      const int64_t to = AsInt(ResolveFd(op.fd2));
      if (touches_harness(from) || touches_harness(to)) break;
      // ksys_dup3's order: from == to is EINVAL, a `to` at/above the limit EBADF, then a
      // bad `from` EBADF, and a reserved `to` EBUSY.
      if (from == to) {
        p.allowed = {Outcome::Error(EINVAL)};
      } else if (static_cast<uint32_t>(to) >= t.nofile) {
        p.allowed = {Outcome::Error(EBADF)};
      } else if (from < 0 || t.fds.count(static_cast<int>(from)) == 0) {
        p.allowed = {Outcome::Error(EBADF)};
      } else if (SlotReserved(t, static_cast<int>(to))) {
        p.allowed = {Outcome::Error(EBUSY)};
      } else {
        p.allowed = {Outcome::Ok(to)};
      }
      return p;
    }
    default:
      return p;
  }
  return Skip("the op names a harness fd");
}

// F_DUPFD: the lowest free slot at or above `min`.
Prediction Model::PredictDup(const Op& op) const {
  Prediction p;
  const TargetState& t = targets_[static_cast<size_t>(op.target)];
  const int64_t fd = AsInt(ResolveFd(op.fd));
  if (fd < 0 || t.fds.count(static_cast<int>(fd)) == 0) {
    p.allowed = {Outcome::Error(EBADF)};
    return p;
  }
  const int64_t min = AsInt(op.value);
  if (min < 0 || static_cast<uint64_t>(min) >= t.nofile) {
    p.allowed = {Outcome::Error(EINVAL)};
    return p;
  }
  for (int64_t slot = min; static_cast<uint64_t>(slot) < t.nofile; ++slot) {
    if (t.fds.count(static_cast<int>(slot)) == 0 && !SlotReserved(t, static_cast<int>(slot))) {
      p.allowed = {Outcome::Ok(slot)};
      return p;
    }
  }
  p.allowed = {Outcome::Error(EMFILE)};
  return p;
}

Prediction Model::PredictHandler(const Op& op) const {
  Prediction p;
  // glibc's sigaction refuses SIGKILL, SIGSTOP, its own 32 and 33, and out-of-range.
  if (op.signal < 1 || op.signal > 64 || op.signal == 9 || op.signal == 19 || op.signal == 32 ||
      op.signal == 33) {
    p.allowed = {Outcome::Error(EINVAL)};
    return p;
  }
  // SIGCHLD stays ignored: that is how the leader's dead callers are reaped.
  if (op.signal == 17) return Skip("SIGCHLD belongs to the harness (callers' reaping)");
  // Each task installs its own handler; a task blocked in a syscall cannot.
  for (const Task& other : targets_[static_cast<size_t>(op.target)].tasks) {
    if (other.alive && (other.notif >= 0 || other.reserving)) {
      p.skip = true;
      p.skip_reason = "a task is blocked: it cannot install a handler now";
      return p;
    }
  }
  p.allowed = {Outcome::Ok(0)};
  return p;
}

Prediction Model::PredictTrap(const Op& op) const {
  Prediction p;
  const TargetState& t = targets_[static_cast<size_t>(op.target)];
  const int dup_fd = AsInt(ResolveFd(op.fd));
  if (op.call == TrapCall::kDup && dup_fd >= env_.harness_fd_base &&
      dup_fd < env_.harness_fd_base + static_cast<int>(t.tasks.size())) {
    // CONTINUE would dup one of the agent's own fds.
    return Skip("the trap's dup names a harness fd");
  }
  p.allowed = {Outcome::Blocked()};
  if (t.tasks[static_cast<size_t>(op.task)].stacked > 0) {
    // seccomp_run_filters: every filter answers USER_NOTIF, and with equal actions the
    // newest matches; seccomp_do_user_notification: it has no listener, ENOSYS at once.
    p.allowed = {Outcome::Error(ENOSYS)};
    p.cell = Cell("FILTER.STACKED.NEWEST");
    return p;
  }
  if (!t.listener && !(op.call == TrapCall::kDup && t.filter_errno != 0)) {
    // No listener (closed and detached, or never): the trapped syscall is answered
    // ENOSYS at once (LISTENER.CLOSED).
    p.allowed = {Outcome::Error(ENOSYS)};
    p.cell = Cell("LISTENER.CLOSED");
    return p;
  }
  // The targets run: a thread asleep in RECV takes the notification, and if that was
  // the last reference to a closed listener, its release answers the trap at once. With
  // no filter at all (it was refused), a dup runs at once.
  Model copy = *this;
  copy.Apply(static_cast<int>(&op - scenario_.ops.data()), Outcome::Blocked());
  if (auto returned = copy.TrapResult(op.notif)) {
    p.allowed = {returned->outcome};
    p.cell = returned->cell;
  }
  return p;
}

}  // namespace addfdlab
