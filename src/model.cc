// The reference model. Each function names the kernel code it follows (kernel/seccomp.c
// and fs/file.c, Linux 6.12) and the contract cells it decides.
#include "addfdlab/model.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace addfdlab {
namespace {

constexpr uint32_t kKnownAddFdFlags = uapi::kAddFdSetFd | uapi::kAddFdSend;
constexpr uint32_t kFilterMask = 0x3f;  // SECCOMP_FILTER_FLAG_MASK (TSYNC..WAIT_KILLABLE_RECV)
constexpr int kPageSize = 4096;
constexpr long kMaxSyscallErrno = 4095;

// Signals whose default action is to stop, or to do nothing.
bool StopsByDefault(int sig) { return sig >= 19 && sig <= 22; }  // STOP TSTP TTIN TTOU
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

Prediction Skip(std::string reason) {
  Prediction p;
  p.skip = true;
  p.skip_reason = std::move(reason);
  return p;
}

// The agent passes fd arguments as C ints: a wider literal is what its low 32 bits say.
int AsInt(int64_t value) { return static_cast<int>(static_cast<uint32_t>(value)); }

// How the agent's syscall() wrapper reports a raw return value.
Outcome SyscallReturn(int64_t raw) {
  if (raw < 0 && raw >= -kMaxSyscallErrno) return Outcome::Error(static_cast<int>(-raw));
  return Outcome::Ok(raw);
}

}  // namespace

void Model::Reached(const char* cell) {
  if (std::find(reached_.begin(), reached_.end(), cell) == reached_.end()) reached_.push_back(cell);
}

std::vector<std::string> Model::TakeReached() { return std::exchange(reached_, {}); }

bool SetModelQuirk(ModelEnv* env, std::string_view name) {
  if (name == "intr_send_stays_replied") {
    env->quirk_intr_send_stays_replied = true;
    return true;
  }
  return false;
}

Model::Model(const Scenario& scenario, const ModelEnv& env) : scenario_(scenario), env_(env) {
  for (const TargetDecl& decl : scenario_.targets) {
    TargetState target;
    target.decl = decl;
    target.tasks.resize(static_cast<size_t>(1 + decl.callers));
    for (int t = 0; t <= decl.callers; ++t) {
      target.fds[env_.harness_fd_base + t] = ModelFd{ModelFile{ModelFile::Kind::kHarness, t}, true};
    }
    // FILTER.FLAGS, as the leader's seccomp() answers (kernel/seccomp.c,
    // seccomp_set_mode_filter).
    const uint32_t flags = decl.filter_flags;
    if ((flags & ~kFilterMask) != 0 ||
        ((flags & uapi::kFilterWaitKillableRecv) != 0 && !env_.wait_killable_recv)) {
      target.filter_errno = EINVAL;
    } else if ((flags & uapi::kFilterTsync) && (flags & uapi::kFilterNewListener) &&
               !(flags & uapi::kFilterTsyncEsrch)) {
      target.filter_errno = EINVAL;
    } else if ((flags & uapi::kFilterWaitKillableRecv) && !(flags & uapi::kFilterNewListener)) {
      target.filter_errno = EINVAL;
    }
    target.listener = target.filter_errno == 0 && (flags & uapi::kFilterNewListener) != 0;
    targets_.push_back(std::move(target));
  }
  notifs_.resize(scenario_.notifs.size());
  // One slot per named thread, and the last for the main thread's own ops.
  threads_.resize(scenario_.threads.size() + 1);
}

int Model::LowestFree(const TargetState& target) const {
  int fd = 0;
  for (;; ++fd) {
    if (static_cast<uint64_t>(fd) >= target.nofile) return -1;
    if (target.fds.count(fd) == 0 && !SlotReserved(target, fd)) return fd;
  }
}

bool Model::SlotReserved(const TargetState& target, int fd) const {
  for (const Task& task : target.tasks) {
    if (task.alive && task.reserving && task.reserved_slot == fd) return true;
  }
  return false;
}

int64_t Model::ResolveFd(const FdRef& ref) const {
  if (ref.name < 0) return ref.literal;
  auto it = fd_names_.find(ref.name);
  return it == fd_names_.end() ? -1 : it->second;
}

std::optional<int> Model::FdName(int name) const {
  auto it = fd_names_.find(name);
  if (it == fd_names_.end()) return std::nullopt;
  return it->second;
}

void Model::BindFdName(int name, int number) {
  if (name >= 0) fd_names_[name] = number;
}

ModelFile Model::LocalFile() { return ModelFile{ModelFile::Kind::kLocal, next_local_++}; }

int64_t Model::Seq(int notif) const {
  if (notif < 0 || static_cast<size_t>(notif) >= notifs_.size()) return -1;
  return notifs_[static_cast<size_t>(notif)].seq;
}

int64_t Model::OpSeq(const Op& op) const {
  const int64_t seq = Seq(op.notif);
  return seq < 0 ? seq : seq + op.id_delta;
}

const Model::Notif* Model::FindBySeq(int target, int64_t seq) const {
  for (const Notif& n : notifs_) {
    if (n.target == target && n.seq == seq &&
        (n.state == NotifState::kInit || n.state == NotifState::kSent ||
         n.state == NotifState::kReplied)) {
      return &n;
    }
  }
  return nullptr;
}

Model::Notif* Model::FindBySeq(int target, int64_t seq) {
  return const_cast<Notif*>(std::as_const(*this).FindBySeq(target, seq));
}

std::string Model::CellFor(const Notif* notif, std::string cell) const {
  if (notif != nullptr && notif->send_interrupted) return Cell("ADDFD.INTR.SEND");
  return cell;
}

bool Model::TargetAlive(int target) const { return targets_[static_cast<size_t>(target)].alive; }

HandlerKind Model::HandlerOf(const TargetState& target, int signal) {
  auto it = target.handlers.find(signal);
  return it == target.handlers.end() ? HandlerKind::kDefault : it->second;
}

bool Model::TaskAlive(int target, int task) const {
  const TargetState& t = targets_[static_cast<size_t>(target)];
  return t.alive && t.tasks[static_cast<size_t>(task)].alive;
}

bool Model::KillableWait(int target, int task) const {
  const TargetState& t = targets_[static_cast<size_t>(target)];
  const int notif = NotifOfTask(target, task);
  return notif >= 0 && env_.wait_killable_recv &&
         (t.decl.filter_flags & uapi::kFilterWaitKillableRecv) != 0 &&
         notifs_[static_cast<size_t>(notif)].state >= NotifState::kSent;
}

int64_t Model::NextSeq(int target) const { return targets_[static_cast<size_t>(target)].next_seq; }

bool Model::ListenerOpen(int target) const {
  const TargetState& t = targets_[static_cast<size_t>(target)];
  return t.listener && !t.listener_closing;
}

int Model::NotifOfTask(int target, int task) const {
  const TargetState& t = targets_[static_cast<size_t>(target)];
  if (task < 0 || static_cast<size_t>(task) >= t.tasks.size()) return -1;
  return t.tasks[static_cast<size_t>(task)].notif;
}

std::map<int, ModelFd> Model::FdTable(int target) const {
  std::map<int, ModelFd> table;
  for (const auto& [fd, entry] : targets_[static_cast<size_t>(target)].fds) {
    if (entry.file.kind != ModelFile::Kind::kHarness) table.emplace(fd, entry);
  }
  return table;
}

std::optional<AsyncResult> Model::ThreadResult(int thread) const {
  return threads_[static_cast<size_t>(thread)].result;
}

std::optional<AsyncResult> Model::TrapResult(int notif) const {
  return notifs_[static_cast<size_t>(notif)].returned;
}

bool Model::TrapPending(int notif) const {
  const Notif& n = notifs_[static_cast<size_t>(notif)];
  if (n.returned || n.target < 0) return false;
  const TargetState& t = targets_[static_cast<size_t>(n.target)];
  const Task& task = t.tasks[static_cast<size_t>(n.task)];
  return task.alive && task.notif == static_cast<int>(&n - notifs_.data());
}

size_t Model::QueuedRequests(int notif) const {
  if (notif < 0 || static_cast<size_t>(notif) >= notifs_.size()) return 0;
  return notifs_[static_cast<size_t>(notif)].addfds.size();
}

Model::SlotClass Model::SlotClassOf(const Op& op) const {
  const bool names_fd = op.kind == OpKind::kClose || op.kind == OpKind::kDup ||
                        op.kind == OpKind::kDup2 ||
                        (op.kind == OpKind::kAddFd && (op.flags & uapi::kAddFdSetFd) != 0);
  if (!names_fd || op.target < 0 || static_cast<size_t>(op.target) >= targets_.size()) {
    return SlotClass::kNone;
  }
  const TargetState& t = targets_[static_cast<size_t>(op.target)];
  const int64_t fd = op.kind == OpKind::kDup2    ? ResolveFd(op.fd2)
                     : op.kind == OpKind::kAddFd ? static_cast<uint32_t>(ResolveFd(op.fd))
                                                 : ResolveFd(op.fd);
  if (fd < 0) return SlotClass::kFree;
  if (static_cast<uint64_t>(fd) >= env_.nr_open) return SlotClass::kAboveNrOpen;
  if (static_cast<uint64_t>(fd) >= t.nofile) return SlotClass::kAboveRlimit;
  if (fd >= env_.harness_fd_base && fd < env_.harness_fd_base + static_cast<int>(t.tasks.size())) {
    return SlotClass::kHarness;
  }
  if (SlotReserved(t, static_cast<int>(fd))) return SlotClass::kReserved;
  return t.fds.count(static_cast<int>(fd)) != 0 ? SlotClass::kOpen : SlotClass::kFree;
}

bool Model::ThreadInListenerIoctl(int target) const {
  for (const Thread& thread : threads_) {
    if (thread.busy && thread.target == target) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------
// Predictions.

Prediction Model::Predict(int index) const {
  const Op& op = scenario_.ops[static_cast<size_t>(index)];
  const bool on_thread =
      op.kind == OpKind::kRecv || op.kind == OpKind::kAddFd || op.kind == OpKind::kSend;
  if (on_thread && op.thread >= 0 && threads_[static_cast<size_t>(op.thread)].busy) {
    return Skip("the supervisor thread is still in its previous op");
  }
  const bool on_listener = on_thread || op.kind == OpKind::kIdValid ||
                           op.kind == OpKind::kSetFlags || op.kind == OpKind::kIoctl ||
                           op.kind == OpKind::kCloseListener;
  if (on_listener && !ListenerOpen(op.target)) return Skip("the target has no open listener");
  switch (op.kind) {
    case OpKind::kAddFd:
      return PredictAddFd(op);
    case OpKind::kSend:
      return PredictSend(op);
    case OpKind::kRecv:
      return PredictRecv(op);
    case OpKind::kInstallFilter:
      return PredictFilter(op);
    default:
      break;
  }
  if (op.kind == OpKind::kIdValid || op.kind == OpKind::kSetFlags || op.kind == OpKind::kIoctl ||
      op.kind == OpKind::kCloseListener) {
    Prediction p;
    const TargetState& t = targets_[static_cast<size_t>(op.target)];
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
      // IOCTL.UNKNOWN. Numbers the kernel dispatches to a real handler (the notifier's
      // own, ADDFD's extensible form, or the VFS's generic ioctls) are outside the op.
      const auto cmd = static_cast<uint32_t>(op.value);
      const uint32_t ea = cmd & ~((3u << 30) | (0x3fffu << 16));
      const bool notifier = cmd == uapi::kIoctlRecv || cmd == uapi::kIoctlSend ||
                            cmd == uapi::kIoctlIdValid || cmd == uapi::kIoctlIdValidWrongDir ||
                            cmd == uapi::kIoctlSetFlags || ea == (uapi::kIoctlAddFd & 0xffff);
      // do_vfs_ioctl's own: FIOCLEX FIONCLEX FIONBIO FIOASYNC FIOQSIZE, and the 'X'/'f'
      // and 0x94/0x15 families (freeze, clone, fiemap, fsuuid, ...).
      const uint32_t type = (cmd >> 8) & 0xff;
      const bool vfs = cmd == 0x5450 || cmd == 0x5451 || cmd == 0x5421 || cmd == 0x5452 ||
                       cmd == 0x5460 || cmd == 0x541b || type == 'X' || type == 'f' ||
                       type == 0x94 || type == 0x15 || cmd == 2 /*FIBMAP*/ || cmd == 1;
      if (notifier || vfs) {
        p.skip = true;
        p.skip_reason = "ioctl number handled by the notifier or the VFS, not unknown";
        return p;
      }
      p.cell = Cell("IOCTL.UNKNOWN");
      p.allowed = {Outcome::Error(EINVAL)};
    } else {
      p.cell = Cell("LISTENER.CLOSED");
      p.allowed = {Outcome::Ok(0)};
    }
    (void)t;
    return p;
  }
  return PredictTargetOp(op);
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
  int err = 0;
  if ((flags & ~kFilterMask) != 0 ||
      ((flags & uapi::kFilterWaitKillableRecv) != 0 && !env_.wait_killable_recv)) {
    err = EINVAL;
  } else if ((flags & uapi::kFilterTsync) && (flags & uapi::kFilterNewListener) &&
             !(flags & uapi::kFilterTsyncEsrch)) {
    err = EINVAL;
  } else if ((flags & uapi::kFilterWaitKillableRecv) && !(flags & uapi::kFilterNewListener)) {
    err = EINVAL;
  } else if ((flags & uapi::kFilterNewListener) && LowestFree(t) < 0) {
    err = EMFILE;  // the listener's fd is allocated before the duplicate check
  } else if ((flags & uapi::kFilterNewListener) && t.listener) {
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
  for (const Check& check : checks) {
    if (!check.fails) continue;
    if (first == nullptr) first = &check;
    ++count;
  }
  if (failing != nullptr) *failing = count;
  if (first == nullptr) return 0;
  if (cell != nullptr) *cell = first->cell;
  return first->err;
}

Prediction Model::PredictAddFd(const Op& op) const {
  Prediction p;
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
  Model copy = *this;
  std::vector<Outcome> allowed;
  std::string cell;
  // ADDFD.SRCFD.OPATH: EBADF today; a queued upstream change accepts O_PATH files.
  if (op.src == SourceKind::kOpath) allowed.push_back(Outcome::Error(EBADF));
  const Outcome started = copy.StartAddFd(op, &cell);
  if (op.thread >= 0 || started.kind != Outcome::Kind::kBlocked) {
    allowed.push_back(started);
  } else {
    // The main thread waits for its own request while the targets run.
    copy.Quiesce();
    const auto& result = copy.threads_.back().result;
    allowed.push_back(result ? result->outcome : Outcome::Blocked());
    if (result) cell = result->cell;
  }
  if (op.src == SourceKind::kOpath && cell.empty()) cell = Cell("ADDFD.SRCFD.OPATH");
  p.allowed = allowed;
  p.cell = op.src == SourceKind::kOpath ? Cell("ADDFD.SRCFD.OPATH")
                                        : CellFor(FindBySeq(op.target, OpSeq(op)), cell);
  return p;
}

// The part of seccomp_notify_addfd after the argument checks: the lock, the lookup, the
// state checks, and queueing. Returns the immediate error, or kBlocked once queued.
Outcome Model::StartAddFd(const Op& op, std::string* cell) {
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
  request.setfd = (op.flags & uapi::kAddFdSetFd) != 0;
  request.send = (op.flags & uapi::kAddFdSend) != 0;
  request.newfd = static_cast<uint32_t>(ResolveFd(op.fd));
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

// seccomp_notify_recv after the buffer check: recv_wait_event, then the first INIT.
Outcome Model::TakeNotification(int target, BufferKind buffer, std::string* cell) {
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
    *cell = TraceLabel("RECV.OK");
    return Outcome::Ok(index);
  }
  *cell = no_users ? Cell("RECV.EMPTY") : TraceLabel("RECV.STALE");
  return Outcome::Error(ENOENT);
}

Outcome Model::StartRecv(const Op& op, std::string* cell) {
  const Outcome taken = TakeNotification(op.target, op.buffer, cell);
  if (taken.kind == Outcome::Kind::kBlocked) {
    const int slot = op.thread >= 0 ? op.thread : static_cast<int>(threads_.size()) - 1;
    Thread& thread = threads_[static_cast<size_t>(slot)];
    thread.busy = true;
    thread.op = OpKind::kRecv;
    thread.target = op.target;
    thread.result.reset();
    thread.pending = op;
  }
  return taken;
}

Prediction Model::PredictTargetOp(const Op& op) const {
  Prediction p;
  const TargetState& t = targets_[static_cast<size_t>(op.target)];
  switch (op.kind) {
    case OpKind::kWait: {
      const Thread& thread = threads_[static_cast<size_t>(op.thread)];
      Model copy = *this;
      copy.Quiesce();
      const auto result = copy.ThreadResult(op.thread);
      p.allowed = {result ? result->outcome : Outcome::Blocked()};
      p.cell = result ? result->cell : "";
      (void)thread;
      return p;
    }
    case OpKind::kReturned: {
      Model copy = *this;
      copy.Quiesce();
      const auto result = copy.TrapResult(op.notif);
      p.allowed = {result ? result->outcome : Outcome::Blocked()};
      p.cell = notifs_[static_cast<size_t>(op.notif)].send_interrupted
                   ? Cell("ADDFD.INTR.SEND")
                   : (result ? result->cell : "");
      return p;
    }
    case OpKind::kSignalThread:
    case OpKind::kSettle:
      return p;
    default:
      break;
  }
  const int task = (op.kind == OpKind::kTrap || op.kind == OpKind::kReserve ||
                    op.kind == OpKind::kRelease || op.kind == OpKind::kSignalTask)
                       ? op.task
                       : 0;
  if (!t.alive || !t.tasks[static_cast<size_t>(task)].alive) {
    p.skip = true;
    p.skip_reason = "the target task is dead";
    return p;
  }
  const Task& tk = t.tasks[static_cast<size_t>(task)];
  if ((op.kind == OpKind::kTrap || op.kind == OpKind::kReserve) &&
      (tk.notif >= 0 || tk.reserving)) {
    p.skip = true;
    p.skip_reason = "the task is busy";
    return p;
  }
  const auto touches_harness = [&](int64_t fd) {
    return fd >= env_.harness_fd_base &&
           fd < env_.harness_fd_base + static_cast<int64_t>(t.tasks.size());
  };
  switch (op.kind) {
    case OpKind::kOpen:
    case OpKind::kDup: {
      if (op.kind == OpKind::kDup) {
        const int64_t fd = AsInt(ResolveFd(op.fd));
        if (touches_harness(fd)) break;
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
          if (t.fds.count(static_cast<int>(slot)) == 0 &&
              !SlotReserved(t, static_cast<int>(slot))) {
            p.allowed = {Outcome::Ok(slot)};
            return p;
          }
        }
        p.allowed = {Outcome::Error(EMFILE)};
        return p;
      }
      const int fd = LowestFree(t);
      p.allowed = {fd < 0 ? Outcome::Error(EMFILE) : Outcome::Ok(fd)};
      return p;
    }
    case OpKind::kPipe:
    case OpKind::kSocketpair: {
      // Both ends or neither: the second slot is taken after the first.
      TargetState copy = t;
      const int first = LowestFree(copy);
      if (first >= 0) copy.fds[first] = ModelFd{};
      const int second = first >= 0 ? LowestFree(copy) : -1;
      p.allowed = {second < 0 ? Outcome::Error(EMFILE) : Outcome::Ok(first)};
      return p;
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
    case OpKind::kNofile:
      p.allowed = {op.value < 0 || static_cast<uint64_t>(op.value) > env_.nofile_hard
                       ? Outcome::Error(EINVAL)
                       : Outcome::Ok(0)};
      return p;
    case OpKind::kHandler:
      // glibc's sigaction refuses SIGKILL, SIGSTOP, its own 32 and 33, and out-of-range.
      if (op.signal < 1 || op.signal > 64 || op.signal == 9 || op.signal == 19 || op.signal == 32 ||
          op.signal == 33) {
        p.allowed = {Outcome::Error(EINVAL)};
        return p;
      }
      // SIGCHLD stays ignored: that is how the leader's dead callers are reaped.
      if (op.signal == 17) return Skip("SIGCHLD belongs to the harness (callers' reaping)");
      // Each task installs its own handler; a task blocked in a syscall cannot.
      for (const Task& other : t.tasks) {
        if (other.alive && (other.notif >= 0 || other.reserving)) {
          p.skip = true;
          p.skip_reason = "a task is blocked: it cannot install a handler now";
          return p;
        }
      }
      p.allowed = {Outcome::Ok(0)};
      return p;
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
    case OpKind::kTrap: {
      p.allowed = {Outcome::Blocked()};
      if (!t.listener) {
        // No listener (closed and detached, or never): the trapped syscall is answered
        // ENOSYS at once (LISTENER.CLOSED).
        p.allowed = {Outcome::Error(ENOSYS)};
        p.cell = Cell("LISTENER.CLOSED");
        return p;
      }
      // The targets run: a thread asleep in RECV takes the notification, and if that was
      // the last reference to a closed listener, its release answers the trap at once.
      Model copy = *this;
      copy.Apply(static_cast<int>(&op - scenario_.ops.data()), Outcome::Blocked());
      if (auto returned = copy.TrapResult(op.notif)) {
        p.allowed = {returned->outcome};
        p.cell = returned->cell;
      }
      return p;
    }
    case OpKind::kSignalTask:
      if (StopsByDefault(op.signal) && HandlerOf(t, op.signal) == HandlerKind::kDefault) {
        p.skip = true;
        p.skip_reason = "a stop signal: stopped targets are outside the model";
      }
      return p;
    case OpKind::kKill:
      return p;
    default:
      return p;
  }
  p.skip = true;
  p.skip_reason = "the op names a harness fd";
  return p;
}

// ---------------------------------------------------------------------------------------
// Applying ops.

bool Model::Quiesces(int index) const {
  const Op& op = scenario_.ops[static_cast<size_t>(index)];
  switch (op.kind) {
    case OpKind::kAddFd:
    case OpKind::kSend:
    case OpKind::kRecv:
    case OpKind::kIdValid:
    case OpKind::kSetFlags:
    case OpKind::kIoctl:
    case OpKind::kSignalThread:
    case OpKind::kSignalTask:
      return false;
    default:
      return true;
  }
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

void Model::Apply(int index, const Outcome& observed) {
  const Op& op = scenario_.ops[static_cast<size_t>(index)];
  switch (op.kind) {
    case OpKind::kAddFd: {
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
      // The main thread waits for its own request: the targets ran and handled it.
      if (Started(op, StartAddFd(op, &cell), cell) && op.thread < 0) threads_.back().busy = false;
      return;
    }
    case OpKind::kSend:
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
      return;
    case OpKind::kRecv: {
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
      return;
    }
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
      if (!ThreadInListenerIoctl(op.target)) Detach(op.target);
      Quiesce();
      return;
    }
    case OpKind::kInstallFilter:
      return;
    case OpKind::kSignalThread: {
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
      return;
    }
    case OpKind::kWait:
    case OpKind::kReturned:
    case OpKind::kSettle:
      Quiesce();
      return;
    default:
      ApplyTargetOp(op, observed);
      return;
  }
}

void Model::ApplyTargetOp(const Op& op, const Outcome& observed) {
  TargetState& t = targets_[static_cast<size_t>(op.target)];
  const auto bind = [this](int name, int64_t fd) {
    if (name >= 0) fd_names_[name] = static_cast<int>(fd);
  };
  switch (op.kind) {
    case OpKind::kOpen:
      if (observed.kind == Outcome::Kind::kOk) {
        t.fds[static_cast<int>(observed.value)] = ModelFd{LocalFile(), op.cloexec};
        bind(op.bind, observed.value);
      }
      break;
    case OpKind::kPipe:
    case OpKind::kSocketpair:
      if (observed.kind == Outcome::Kind::kOk) {
        const int first = LowestFree(t);
        t.fds[first] = ModelFd{LocalFile(), op.cloexec};
        const int second = LowestFree(t);
        t.fds[second] = ModelFd{LocalFile(), op.cloexec};
        bind(op.bind, first);
        bind(op.bind2, second);
      }
      break;
    case OpKind::kClose:
      if (observed.kind == Outcome::Kind::kOk) t.fds.erase(AsInt(ResolveFd(op.fd)));
      break;
    case OpKind::kDup:
      if (observed.kind == Outcome::Kind::kOk) {
        ModelFd copy = t.fds[AsInt(ResolveFd(op.fd))];
        copy.cloexec = op.cloexec;
        t.fds[static_cast<int>(observed.value)] = copy;
        bind(op.bind, observed.value);
      }
      break;
    case OpKind::kDup2:
      if (observed.kind == Outcome::Kind::kOk) {
        ModelFd copy = t.fds[AsInt(ResolveFd(op.fd))];
        copy.cloexec = op.cloexec;
        t.fds[AsInt(ResolveFd(op.fd2))] = copy;
      }
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
      if (!t.listener) {
        // LISTENER.CLOSED: no notifier left; the syscall fails with ENOSYS at once.
        notifs_[static_cast<size_t>(op.notif)].target = op.target;
        notifs_[static_cast<size_t>(op.notif)].task = op.task;
        notifs_[static_cast<size_t>(op.notif)].state = NotifState::kGone;
        notifs_[static_cast<size_t>(op.notif)].returned =
            AsyncResult{Outcome::Error(ENOSYS), Cell("LISTENER.CLOSED")};
        break;
      }
      CreateNotification(op.target, op.task, op.notif);
      break;
    }
    case OpKind::kSignalTask: {
      Task& task = t.tasks[static_cast<size_t>(op.task)];
      if (!task.alive) break;
      const HandlerKind handler = HandlerOf(t, op.signal);
      if (handler == HandlerKind::kIgnore) break;  // dropped when sent
      if (handler == HandlerKind::kDefault && IgnoredByDefault(op.signal)) break;
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
        }
      } else if (task.signal_pending &&
                 HandlerOf(t, task.pending_signal) == HandlerKind::kDefault) {
        // A signal that kills on delivery (one that dumps core) is already pending: it
        // stays the one the task acts on, and the task dies.
        task.dies_on_delivery = true;
      } else {
        task.signal_pending = true;
        task.pending_signal = op.signal;
      }
      if (task.wake_order == 0) task.wake_order = ++clock_;
      return;  // acted on when the task runs
    }
    case OpKind::kKill:
      KillTarget(op.target);
      break;
    default:
      break;
  }
  Quiesce();
}

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
    const Outcome taken = TakeNotification(target, thread.pending.buffer, &cell);
    if (taken.kind == Outcome::Kind::kBlocked) {
      thread.busy = true;
      return;
    }
    FinishThread(best, taken, cell);
  }
}

void Model::FinishThread(int thread, const Outcome& outcome, const std::string& cell) {
  Thread& t = threads_[static_cast<size_t>(thread)];
  t.busy = false;
  t.result = AsyncResult{outcome, cell};
  // `addfd ... -> F` names the fd the request installed. The request is done: a later op
  // of this thread that finishes at once (a send, a recv with one waiting) binds nothing.
  if (t.pending.kind == OpKind::kAddFd && t.pending.bind >= 0 &&
      outcome.kind == Outcome::Kind::kOk) {
    fd_names_[t.pending.bind] = static_cast<int>(outcome.value);
  }
  t.pending = Op{};
  TargetState& target = targets_[static_cast<size_t>(t.target)];
  if (target.listener_closing && target.listener && !ThreadInListenerIoctl(t.target)) {
    Detach(t.target);
  }
}

// seccomp_handle_addfd, with receive_fd / receive_fd_replace (fs/file.c).
void Model::HandleRequest(Notif& n, Request request) {
  TargetState& t = targets_[static_cast<size_t>(n.target)];
  Outcome result;
  std::string cell;
  if (!request.setfd) {
    const int fd = LowestFree(t);
    if (fd < 0) {
      result = Outcome::Error(EMFILE);
      cell = Cell("ADDFD.RLIMIT");
    } else {
      t.fds[fd] = ModelFd{request.file, request.cloexec};
      result = Outcome::Ok(fd);
      cell = Cell("ADDFD.OK.LOWEST");
    }
  } else if (static_cast<uint64_t>(request.newfd) >= t.nofile) {
    result = Outcome::Error(EBADF);
    cell = Cell("ADDFD.SETFD.RLIMIT");
  } else if (static_cast<uint64_t>(request.newfd) >= env_.nr_open) {
    result = Outcome::Error(EMFILE);
    cell = Cell("ADDFD.SETFD.NR_OPEN");
  } else if (SlotReserved(t, static_cast<int>(request.newfd))) {
    result = Outcome::Error(EBUSY);
    cell = Cell("ADDFD.SETFD.RESERVED");
  } else {
    const int fd = static_cast<int>(request.newfd);
    cell = t.fds.count(fd) ? Cell("ADDFD.SETFD.REPLACE") : Cell("ADDFD.SETFD.OK");
    t.fds[fd] = ModelFd{request.file, request.cloexec};
    result = Outcome::Ok(fd);
  }
  // The fd-table oracle checks the installed fd's FD_CLOEXEC at the next settle point.
  if (result.kind == Outcome::Kind::kOk) Reached(Cell("ADDFD.OK.CLOEXEC"));
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
  FinishThread(request.thread, result, cell);
}

// seccomp_do_user_notification's loop for one task, run until it sleeps.
bool Model::RunTask(int target, int task_index) {
  TargetState& t = targets_[static_cast<size_t>(target)];
  Task& task = t.tasks[static_cast<size_t>(task_index)];
  if (!task.alive) return false;
  bool changed = false;
  if (task.notif < 0) {
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
        task.reserving = false;
        release_result_ = Outcome::Error(EINTR);
        task.released = false;
      }
      changed = true;
    }
    task.wake_order = 0;
    return changed;
  }
  const int notif_index = task.notif;
  Notif& n = notifs_[static_cast<size_t>(notif_index)];
  const bool wait_killable =
      (t.decl.filter_flags & uapi::kFilterWaitKillableRecv) != 0 && env_.wait_killable_recv;
  for (;;) {
    if (n.done > 0) {
      --n.done;
    } else if (task.fatal_pending) {
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
              AsyncResult{Outcome::Error(EINTR), Cell("ADDFD.TARGET.SIGNALLED")};
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
      Request request = n.addfds.front();
      n.addfds.pop_front();
      // Newest first: an older request stays queued for the next wake-up.
      if (!n.addfds.empty()) Reached(Cell("ADDFD.ORDER.LIFO"));
      HandleRequest(n, request);
    }
    if (n.state == NotifState::kReplied) {
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
        n.returned = AsyncResult{Outcome::Error(ENOSYS), TraceLabel("SEND.CONTINUE")};
      } else {
        const int64_t raw = n.reply_error != 0 ? n.reply_error : n.reply_val;
        n.returned = AsyncResult{SyscallReturn(raw), wk_signal && wait_killable
                                                         ? Cell("ADDFD.WAIT_KILLABLE.FAST_REPLY")
                                                         : Cell("ADDFD.SEND.OK")};
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
        }
      }
      return true;
    }
  }
  task.wake_order = 0;
  return changed;
}

bool Model::RunReservation(int target, int task_index) {
  TargetState& t = targets_[static_cast<size_t>(target)];
  Task& task = t.tasks[static_cast<size_t>(task_index)];
  if (!task.released) return false;
  // The FIFO open returns: the reserved slot gets the FIFO's read end.
  t.fds[task.reserved_slot] = ModelFd{LocalFile(), false};
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
  task.reserving = false;
  task.signal_pending = false;
  task.fatal_pending = false;
  task.dies_on_delivery = false;
  if (task_index == 0) {
    // The callers die with the leader (PR_SET_PDEATHSIG).
    for (Task& caller : t.tasks) {
      if (caller.alive && !caller.fatal_pending) {
        caller.fatal_pending = true;
        if (caller.wake_order == 0) caller.wake_order = ++clock_;
      }
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
  if (env_.recv_enoent) {
    for (size_t i = 0; i < threads_.size(); ++i) {
      Thread& thread = threads_[i];
      if (thread.busy && thread.op == OpKind::kRecv && thread.target == target) {
        FinishThread(static_cast<int>(i), Outcome::Error(ENOENT), Cell("RECV.EMPTY"));
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

void Model::Quiesce() {
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
