// The scenario mutator's templates: short op sequences that build the interleavings the
// contract's cells need (docs/contract.md), each on one target with fresh names, with the
// variants that tell the cells apart drawn at random. corpus/contract/*.scn holds a
// hand-written instance of each.
#include <fcntl.h>
#include <signal.h>

#include <cerrno>

#include "addfdlab/uapi.h"
#include "mutator_internal.h"

namespace addfdlab::mutator_internal {
namespace {

// Appends one template's ops.
class Shape {
 public:
  Shape(Rng& rng, Draft& draft, const Facts& facts, int target)
      : rng_(rng), draft_(draft), facts_(facts), target_(target) {
    if (static_cast<size_t>(target) < facts.targets.size()) {
      free_tasks_ = facts.targets[static_cast<size_t>(target)].free_tasks;
      t_ = facts.targets[static_cast<size_t>(target)];
    }
    // The tasks at the position: the declared callers and those spawned before it.
    tasks_ = t_.callers + 1;
    declared_ = Decl().callers;
    t_.callers = Decl().callers;
  }

  std::vector<Op> Take() { return std::move(ops_); }
  Rng& rng() { return rng_; }
  const TargetFacts& target() const { return t_; }
  // An fd number for this target by slot class (PickFd).
  FdRef Fd() { return PickFd(rng_, facts_, target_); }
  TargetDecl& Decl() { return draft_.targets[static_cast<size_t>(target_)]; }

  // A calling task no op of this template used yet and free where the template starts; a
  // new one (more callers) when there is none, and any caller as the last resort.
  int Caller() {
    if (!free_tasks_.empty()) {
      const size_t i = rng_.Below(free_tasks_.size());
      const int task = free_tasks_[i];
      free_tasks_.erase(free_tasks_.begin() + static_cast<std::ptrdiff_t>(i));
      return task;
    }
    if (Decl().callers < kMaxCallers) {
      t_.callers = ++Decl().callers;
      return t_.callers;
    }
    return rng_.Int(1, kMaxCallers);
  }
  // A supervisor thread for this template: a new one while there are fewer than four, an
  // idle one otherwise.
  int Thread() {
    if (facts_.threads.size() + threads_ < static_cast<size_t>(kMaxThreads) ||
        facts_.idle_threads.empty()) {
      ++threads_;
      return draft_.NewLabel();
    }
    return rng_.Pick(facts_.idle_threads);
  }
  // Where thread `label` runs (Scenario::places).
  void Place(int label, ThreadPlace place) { draft_.places[label] = place; }

  Op& Add(OpKind kind) {
    Op op;
    op.kind = kind;
    op.target = target_;
    ops_.push_back(op);
    return ops_.back();
  }
  // `spawn T.parent`: returns the new task's index (the tasks at the position, and the
  // callers and spawns this template added).
  int Spawn(int parent, SpawnAs as = SpawnAs::kProcess) {
    Op& op = Add(OpKind::kSpawn);
    op.task = parent;
    op.spawn_as = as;
    return tasks_ + (Decl().callers - declared_) + spawned_++;
  }
  int Trap(int task) {
    Op& op = Add(OpKind::kTrap);
    op.task = task;
    op.notif = draft_.NewLabel();
    return op.notif;
  }
  // A trapped dup of `fd` (which CONTINUE runs).
  int TrapDup(int task, FdRef fd) {
    const int notif = Trap(task);
    ops_.back().call = TrapCall::kDup;
    ops_.back().fd = fd;
    return notif;
  }
  void Recv(int thread = -1, BufferKind buffer = BufferKind::kZeroed) {
    Op& op = Add(OpKind::kRecv);
    op.thread = thread;
    op.buffer = buffer;
  }
  // A plain ADDFD that succeeds where the notification is SENT.
  Op& AddFd(int notif, int thread = -1) {
    Op& op = Add(OpKind::kAddFd);
    op.notif = notif;
    op.thread = thread;
    op.src = PickSource(rng_, true);
    if (rng_.OneIn(3)) op.newfd_flags = O_CLOEXEC;
    return op;
  }
  Op& SetFd(int notif, FdRef newfd) {
    Op& op = AddFd(notif);
    op.flags = uapi::kAddFdSetFd;
    op.fd = newfd;
    return op;
  }
  Op& Send(int notif, int64_t val = 0) {
    Op& op = Add(OpKind::kSend);
    op.notif = notif;
    op.fd.literal = val;
    return op;
  }
  void Returned(int notif) { Add(OpKind::kReturned).notif = notif; }
  void IdValid(int notif) {
    Op& op = Add(OpKind::kIdValid);
    op.notif = notif;
    op.legacy = rng_.OneIn(3);
  }
  void Wait(int thread) { Add(OpKind::kWait).thread = thread; }
  void SignalThread(int thread, bool restart) {
    Op& op = Add(OpKind::kSignalThread);
    op.thread = thread;
    op.restart = restart;
  }
  void Signal(int task, int signal) {
    Op& op = Add(OpKind::kSignalTask);
    op.task = task;
    op.signal = signal;
  }
  void Handler(int signal, HandlerKind handler) {
    Op& op = Add(OpKind::kHandler);
    op.signal = signal;
    op.handler = handler;
  }
  int Open() {
    Op& op = Add(OpKind::kOpen);
    op.file = rng_.OneIn(2) ? FileKind::kDevNull : FileKind::kMemfd;
    op.bind = draft_.NewLabel();
    return op.bind;
  }
  int Reserve(int task) {
    Op& op = Add(OpKind::kReserve);
    op.task = task;
    op.bind = draft_.NewLabel();
    return op.bind;
  }
  void Release(int task) { Add(OpKind::kRelease).task = task; }
  void Settle() { Add(OpKind::kSettle); }
  // A trap on a free caller, received: the notification, SENT.
  int Received() {
    const int notif = Trap(Caller());
    Recv();
    return notif;
  }
  // The end of most shapes: the trapped syscall returns (after a reply, when `reply`), and
  // now and then everything settles and the fd tables are checked.
  void Finish(int notif, bool reply) {
    if (reply) Reply(notif);
    Returned(notif);
    if (rng_.OneIn(2)) Settle();
  }
  int NewLabel() { return draft_.NewLabel(); }

  // The reply that ends a notification's wait, one of its kinds.
  void Reply(int notif, int64_t val = 0) {
    switch (rng_.Weighted({4, 2, 3, 1, 1})) {
      case 0:
        Send(notif, val);
        break;
      case 1:
        Send(notif).error = rng_.Pick({ENOSYS, EPERM, EACCES});
        break;
      case 2:
        AddFd(notif).flags = uapi::kAddFdSend;
        break;
      case 3:  // SEND.CONTINUE.VAL, then the real syscall
        Send(notif, 1).flags = uapi::kRespContinue;
        Send(notif).flags = uapi::kRespContinue;
        break;
      default:  // SEND.FLAGS.UNKNOWN, then a reply
        Send(notif).flags = PickSendFlags(rng_) | 2;
        Send(notif, val);
        break;
    }
  }

 private:
  Rng& rng_;
  Draft& draft_;
  const Facts& facts_;
  int target_;
  TargetFacts t_;
  std::vector<int> free_tasks_;
  int tasks_ = 1;     // at the position
  int declared_ = 0;  // Decl().callers at the start
  int spawned_ = 0;
  size_t threads_ = 0;
  std::vector<Op> ops_;
};

FdRef Literal(int64_t value) { return FdRef{-1, value}; }
FdRef Name(int label) { return FdRef{label, 0}; }

// One ADDFD aimed at one of the kernel's checks (or at none: it succeeds).
void BoundaryAddFd(Shape& s, int notif) {
  Rng& rng = s.rng();
  Op& op = s.AddFd(notif);
  switch (rng.Below(12)) {
    case 0:  // ADDFD.OK.LOWEST / ADDFD.OK.CLOEXEC
      break;
    case 1:
      op.size = rng.Pick<uint32_t>({0, 16, 23});  // ADDFD.SIZE.SHORT
      break;
    case 2:
      op.size = rng.Pick<uint32_t>({4095, 4096, 0x3fff, 0x4000, 0x4018});  // ADDFD.SIZE.PAGE
      break;
    case 3:
      op.size = rng.Pick<uint32_t>({25, 32, 64});  // ADDFD.SIZE.TAIL_*
      op.arg = rng.OneIn(2) ? AddFdArg::kTailZero : AddFdArg::kTailNonZero;
      break;
    case 4:
      op.arg = AddFdArg::kUnreadable;  // ADDFD.FAULT
      break;
    case 5:
      op.newfd_flags = PickNewfdFlags(rng) | 1;  // ADDFD.NEWFD_FLAGS
      break;
    case 6:
      op.flags = PickAddFdFlags(rng) | (1u << 2);  // ADDFD.FLAGS.UNKNOWN
      break;
    case 7:
      op.fd = Literal(rng.Int(1, 9));  // ADDFD.NEWFD_WITHOUT_SETFD
      break;
    case 8:
      op.src = PickSource(rng, false);  // ADDFD.SRCFD.*
      if (rng.OneIn(2))
        op.src = rng.Pick({SourceKind::kClosed, SourceKind::kHuge, SourceKind::kOpath});
      break;
    case 9:
      op.id_delta = PickIdDelta(rng) | 1;  // ADDFD.ID.UNKNOWN
      break;
    case 10:  // ADDFD.ORDER.CHECKS: several faults, the first check's errno
      op.flags = 1u << 2;
      op.src = SourceKind::kClosed;
      op.size = rng.Pick<uint32_t>({16, 24, 32});
      if (op.size == 32) op.arg = AddFdArg::kTailNonZero;
      if (rng.OneIn(2)) op.newfd_flags = 1;
      if (rng.OneIn(2)) op.id_delta = 1000;
      break;
    default:
      op.flags = uapi::kAddFdSetFd;
      op.fd = Literal(rng.Pick<int64_t>({0, 3, 200, 1000}));
      break;
  }
  if (rng.OneIn(3)) op.bind = s.NewLabel();
}

// One plain call on a notification: ADDFD, SEND or ID_VALID.
void AnyCall(Shape& s, int notif) {
  switch (s.rng().Below(3)) {
    case 0:
      s.AddFd(notif);
      break;
    case 1:
      s.Send(notif, s.rng().Int(0, 3));
      break;
    default:
      s.IdValid(notif);
      break;
  }
}

// kCalls: the single-call checks around one notification's states.
void Calls(Shape& s) {
  Rng& rng = s.rng();
  std::vector<int> opened;
  for (size_t i = rng.Below(3); i > 0; --i) opened.push_back(s.Open());
  const int n = s.Trap(s.Caller());
  if (rng.OneIn(4)) BoundaryAddFd(s, n);          // ADDFD.STATE.INIT
  if (rng.OneIn(5)) s.Send(n, 0);                 // SEND.STATE.INIT
  if (rng.OneIn(5)) s.IdValid(n);                 // ID_VALID.STATES (INIT)
  if (rng.OneIn(4)) s.Recv(-1, PickBuffer(rng));  // RECV.NONZERO / RECV.FAULT
  s.Recv();
  for (size_t i = 1 + rng.Below(3); i > 0; --i) BoundaryAddFd(s, n);
  if (rng.OneIn(3)) s.IdValid(n);
  s.Reply(n, opened.empty() || rng.OneIn(2) ? 0 : 1);
  if (rng.OneIn(3)) AnyCall(s, n);  // a reply is queued: ADDFD.STATE.REPLIED, SEND.GONE
  s.Returned(n);
  if (rng.OneIn(3)) AnyCall(s, n);  // gone: ADDFD.ID.UNKNOWN, SEND.GONE
  if (rng.OneIn(2)) s.Settle();
}

// kInterrupt: ADDFD.INTR.QUEUED / HANDLED / SEND.
void Interrupt(Shape& s) {
  Rng& rng = s.rng();
  const int n = s.Received();
  const int th = s.Thread();
  const bool send = rng.OneIn(2);
  if (send) {
    s.AddFd(n, th).flags = uapi::kAddFdSend;
  } else {
    s.AddFd(n, th);
  }
  if (rng.OneIn(3)) s.Settle();  // the target handles it first: ADDFD.INTR.HANDLED
  s.SignalThread(th, rng.OneIn(2));
  s.Wait(th);
  if (rng.OneIn(2)) s.IdValid(n);
  if (rng.OneIn(2)) s.Settle();
  s.Finish(n, !send || rng.OneIn(2));
}

// kQueued: several requests on one notification, then what meets them.
void Queued(Shape& s) {
  Rng& rng = s.rng();
  const int task = s.Caller();
  const int n = s.Trap(task);
  s.Recv();
  std::vector<int> threads;
  bool send_queued = false;
  for (size_t i = 1 + rng.Below(3); i > 0; --i) {
    threads.push_back(s.Thread());
    Op& op = s.AddFd(n, threads.back());
    if (threads.size() == 1 && rng.OneIn(4)) {
      op.flags = uapi::kAddFdSend;
      send_queued = true;
    }
  }
  switch (rng.Below(9)) {
    case 0:  // the target runs: ADDFD.ORDER.LIFO
      s.Settle();
      break;
    case 1:  // ADDFD.STRANDED, or SEND.WHILE_ADDFD_SEND
    case 2:
      s.Send(n, rng.Int(0, 9));
      break;
    case 3:  // ADDFD.SEND.BUSY
      s.AddFd(n).flags = uapi::kAddFdSend;
      break;
    case 4:
      s.AddFd(n);
      break;
    case 5:  // ADDFD.TARGET.KILLED
      s.Add(OpKind::kKill);
      break;
    case 6:  // ADDFD.TARGET.SIGNALLED (or killed, by default)
      s.Signal(task, PickSignal(rng));
      break;
    case 7:
      s.SignalThread(threads.front(), rng.OneIn(2));
      break;
    default:
      s.Add(OpKind::kCloseListener);
      break;
  }
  // Collected in a random order: a wait is also a point where the target runs.
  for (size_t i = threads.size(); i > 0; --i) {
    const size_t pick = rng.Below(i);
    s.Wait(threads[pick]);
    threads.erase(threads.begin() + static_cast<std::ptrdiff_t>(pick));
  }
  s.Finish(n, !send_queued && rng.OneIn(2));
}

// kTargetDeath: ADDFD.TARGET.KILLED / SIGNALLED, RECV.EMPTY, ADDFD.ID.UNKNOWN after it,
// and the listener's poll events (POLL.HUP once every task is gone).
void TargetDeath(Shape& s) {
  Rng& rng = s.rng();
  const int signal = rng.Pick({SIGUSR1, SIGUSR2, SIGALRM, SIGQUIT, SIGTERM});
  const HandlerKind handler = PickHandler(rng);
  if (handler != HandlerKind::kDefault && s.target().quiet) s.Handler(signal, handler);
  const int task = s.Caller();
  const int n = s.Trap(task);
  s.Recv();
  const int th = rng.OneIn(2) ? s.Thread() : -1;
  Op& addfd = s.AddFd(n, th);
  if (rng.OneIn(4)) addfd.flags = uapi::kAddFdSend;
  switch (rng.Weighted({3, 4, 1})) {
    case 0:
      s.Add(OpKind::kKill);
      break;
    case 1:
      s.Signal(task, signal);
      break;
    default:  // the leader: its callers die with it
      s.Signal(0, rng.OneIn(2) ? signal : SIGTERM);
      break;
  }
  if (th >= 0) s.Wait(th);
  s.Returned(n);
  if (rng.OneIn(3)) s.Add(OpKind::kPoll).flags = PickPollEvents(rng);
  switch (rng.Below(5)) {
    case 0:
      s.AddFd(n);  // ADDFD.ID.UNKNOWN
      break;
    case 1:
      s.IdValid(n);
      break;
    case 2:
      s.Recv();  // RECV.EMPTY, or the restarted syscall's notification
      s.Reply(n, 1);
      s.Returned(n);
      break;
    case 3:
      s.Send(n, 1);
      break;
    default:
      break;
  }
  if (rng.OneIn(2)) s.Settle();
}

// kWaitKillable: ADDFD.WAIT_KILLABLE and its FAST_REPLY; a signal before RECV
// (WAIT_KILLABLE.PRE_RECV), a fatal one after it (WAIT_KILLABLE.FATAL), a reply error in the
// restart range meeting the held-back signal (SEND.ERROR.RESTART).
void WaitKillable(Shape& s) {
  Rng& rng = s.rng();
  s.Decl().filter_flags |= uapi::kFilterNewListener | uapi::kFilterWaitKillableRecv;
  const int handled = rng.Pick({SIGUSR1, SIGUSR2, SIGALRM});
  if (s.target().quiet) {
    s.Handler(handled, rng.OneIn(2) ? HandlerKind::kRestart : HandlerKind::kNoRestart);
  }
  // SIGTERM has no handler here: its default action kills.
  const int signal = rng.OneIn(5) ? SIGTERM : handled;
  const int task = s.Caller();
  const int n = s.Trap(task);
  if (rng.OneIn(4)) {  // acted on before RECV, while the wait is interruptible
    s.Signal(task, signal);
    s.Settle();
  }
  s.Recv();
  s.Signal(task, signal);
  if (rng.OneIn(3)) {
    s.Settle();
    s.Send(n).error = rng.Pick({512, 513, 514, 515, 516});
  } else if (rng.OneIn(2)) {
    s.AddFd(n);
    if (rng.OneIn(2)) s.IdValid(n);
    s.Reply(n);
  } else {
    s.Send(n, rng.Int(0, 9));  // the reply lands before the target re-checks
  }
  s.Returned(n);
  if (rng.OneIn(2)) s.Recv();
  if (rng.OneIn(2)) s.Settle();
}

// kSetFd: SETFD onto every kind of slot.
void SetFd(Shape& s) {
  Rng& rng = s.rng();
  std::vector<int> opened;
  for (size_t i = rng.Below(3); i > 0; --i) opened.push_back(s.Open());
  const int n = s.Received();
  const size_t count = 1 + rng.Below(3);
  bool sent = false;
  for (size_t i = 0; i < count; ++i) {
    FdRef newfd;
    if (!opened.empty() && rng.OneIn(2)) {
      newfd = Name(rng.Pick(opened));  // ADDFD.SETFD.REPLACE
    } else {
      newfd = s.Fd();
    }
    Op& op = s.SetFd(n, newfd);
    if (i + 1 == count && rng.OneIn(3)) {
      op.flags |= uapi::kAddFdSend;  // ADDFD.SEND.OK / FAIL_STAYS
      sent = true;
    }
  }
  s.Finish(n, !sent || rng.OneIn(3));
}

// kReserved: ADDFD.SETFD.RESERVED, then the slot once its open returned.
void Reserved(Shape& s) {
  Rng& rng = s.rng();
  const int holder = s.Caller();
  const int slot = s.target().lowest_free;  // the open() reserves the lowest free number
  const int r = s.Reserve(holder);
  const int n = s.Received();
  s.SetFd(n, Literal(slot));
  if (rng.OneIn(2)) s.AddFd(n);  // the lowest free is past the reserved slot
  if (rng.OneIn(3)) s.SetFd(n, Literal(slot)).flags |= uapi::kAddFdSend;
  s.Release(holder);
  if (rng.OneIn(2)) s.SetFd(n, Name(r));  // now open: ADDFD.SETFD.REPLACE
  s.Finish(n, true);
}

// kRlimit: ADDFD.RLIMIT, ADDFD.SETFD.RLIMIT at the edge, ADDFD.SEND.FAIL_STAYS.
void Rlimit(Shape& s) {
  Rng& rng = s.rng();
  const int64_t free = s.target().lowest_free;
  const int64_t limit = rng.Pick<int64_t>({0, 1, 2, free, free + 1, free + 2, 16, 64});
  s.Add(OpKind::kNofile).value = limit;
  std::vector<int> opened;
  for (size_t i = rng.Below(3); i > 0; --i) opened.push_back(s.Open());
  const int n = s.Received();
  s.AddFd(n);  // EMFILE once the table is full
  s.SetFd(n, Literal(rng.Pick<int64_t>({limit - 1, limit, limit + 1, 0x80000000, 0xffffffff})));
  if (rng.OneIn(2)) {
    s.SetFd(n, Literal(limit)).flags |= uapi::kAddFdSend;
    s.IdValid(n);
  }
  if (!opened.empty() && rng.OneIn(2)) {
    s.Add(OpKind::kClose).fd = Name(opened.front());
    s.AddFd(n);
  }
  s.Finish(n, true);
}

// kReplyNumber: the fd the reply names replaced before (or as) it is sent.
void ReplyNumber(Shape& s) {
  Rng& rng = s.rng();
  const int n = s.Received();
  Op& first = s.AddFd(n);
  const int f = first.bind = s.NewLabel();
  Op& replace = s.SetFd(n, Name(f));
  replace.src = rng.Pick({SourceKind::kMemfd2, SourceKind::kPipeWrite, SourceKind::kSocket});
  if (rng.OneIn(2)) {
    s.Send(n).fd = Name(f);
  } else {
    s.SetFd(n, Name(f)).flags |= uapi::kAddFdSend;
  }
  s.Returned(n);
  s.Settle();
}

// kCloseListener: LISTENER.CLOSED with a notification received, one pending, an ioctl in
// progress on a thread.
void CloseListener(Shape& s) {
  Rng& rng = s.rng();
  const int first_task = s.Caller();
  const int n1 = s.Trap(first_task);
  s.Recv();
  const int n2 = rng.OneIn(2) ? s.Trap(s.Caller()) : -1;
  int th = -1;
  switch (rng.Below(3)) {
    case 0:
      th = s.Thread();
      s.Recv(th);
      break;
    case 1:
      th = s.Thread();
      s.AddFd(n1, th);
      break;
    default:
      break;
  }
  s.Add(OpKind::kCloseListener);
  if (th >= 0) {
    if (rng.OneIn(2)) s.SignalThread(th, rng.OneIn(2));
    s.Wait(th);
  }
  s.Returned(n1);
  if (n2 >= 0) s.Returned(n2);
  if (rng.OneIn(2)) s.Trap(first_task);  // ENOSYS at once
  if (rng.OneIn(2)) s.Settle();
}

// kRecv: RECV.NONZERO, RECV.FAULT, RECV.EMPTY, a RECV on a thread, a restarted syscall,
// RECV.FIFO, and the notifier's struct sizes (NOTIF_SIZES).
void Recv(Shape& s) {
  Rng& rng = s.rng();
  if (rng.OneIn(8)) s.Add(OpKind::kGetNotifSizes).target = 0;
  if (rng.OneIn(4)) {  // two pending: received in the order of their traps
    const int first = s.Trap(s.Caller());
    const int second = s.Trap(s.Caller());
    s.Recv();
    s.Recv();
    s.Reply(second);
    s.Reply(first);
    s.Returned(first);
    s.Returned(second);
    return;
  }
  switch (rng.Below(4)) {
    case 0: {  // a RECV waiting on a thread gets the next trap
      const int th = s.Thread();
      if (rng.OneIn(3)) {
        // RECV.PID.*: the target in its own pid namespace, the thread a second supervisor
        // process, in ours or in a pid namespace of its own.
        s.Decl().pid_ns = true;
        s.Place(th, static_cast<ThreadPlace>(rng.Below(kThreadPlaceCount)));
      }
      s.Recv(th, rng.OneIn(3) ? PickBuffer(rng) : BufferKind::kZeroed);
      const int n = s.Trap(s.Caller());
      s.Wait(th);
      s.Reply(n);
      s.Returned(n);
      break;
    }
    case 1: {
      const int n = s.Trap(s.Caller());
      s.Recv(-1, rng.Pick({BufferKind::kNonZero, BufferKind::kUnmapped, BufferKind::kReadOnly}));
      if (rng.OneIn(2)) s.IdValid(n);
      s.Recv();
      s.Reply(n);
      s.Returned(n);
      break;
    }
    case 2: {  // every user gone
      const int th = rng.OneIn(2) ? s.Thread() : -1;
      if (th >= 0) s.Recv(th);
      const int n = rng.OneIn(2) ? s.Trap(s.Caller()) : -1;
      s.Add(OpKind::kKill);
      if (th >= 0) s.Wait(th);
      s.Recv();
      if (n >= 0) s.Returned(n);
      break;
    }
    default: {  // SA_RESTART: the syscall comes back as a new notification
      const int signal = rng.Pick({SIGUSR1, SIGUSR2, SIGALRM});
      if (s.target().quiet) s.Handler(signal, HandlerKind::kRestart);
      const int task = s.Caller();
      const int n = s.Trap(task);
      if (rng.OneIn(2)) s.Recv();
      s.Signal(task, signal);
      s.Recv();
      s.Reply(n, 5);
      s.Returned(n);
      break;
    }
  }
  if (rng.OneIn(2)) s.Settle();
}

// kListener: the listener's other ioctls and the filter's flags; a task spawned after them
// (FILTER.STACKED.NEWEST after a further filter, FILTER.SPAWN.USER without), a thread
// (FILTER.SPAWN.THREAD), or a thread spawned before a further filter, which TSYNC puts on
// it too (FILTER.TSYNC.THREADS).
void Listener(Shape& s) {
  Rng& rng = s.rng();
  if (rng.OneIn(4)) {
    const bool early = rng.OneIn(3);
    int task = early ? s.Spawn(0, SpawnAs::kThread) : -1;
    if (rng.OneIn(2)) {
      s.Add(OpKind::kInstallFilter).flags = rng.OneIn(2)   ? 0
                                            : rng.OneIn(2) ? uapi::kFilterTsync
                                                           : PickFilterFlags(rng);
    }
    if (!early) task = s.Spawn(0, rng.OneIn(2) ? SpawnAs::kThread : SpawnAs::kProcess);
    const int n = s.Trap(task);
    s.Recv();
    s.Reply(n);
    s.Returned(n);
    return;
  }
  for (size_t i = 1 + rng.Below(3); i > 0; --i) {
    switch (rng.Below(3)) {
      case 0:
        s.Add(OpKind::kSetFlags).value = PickSetFlags(rng);
        break;
      case 1:
        s.Add(OpKind::kIoctl).value = PickIoctl(rng);
        break;
      default:
        s.Add(OpKind::kInstallFilter).flags = PickFilterFlags(rng);
        break;
    }
  }
  if (rng.OneIn(4)) s.Decl().filter_flags = PickFilterFlags(rng);
  if (rng.OneIn(2)) {
    const int n = s.Received();
    s.Reply(n);
    s.Returned(n);
  }
}

// kContinue: a trapped dup of an open fd (or of a number by slot class), RECV, CONTINUE:
// the syscall runs and its new fd is checked at the settle (SEND.CONTINUE.RUNS).
void Continue(Shape& s) {
  Rng& rng = s.rng();
  const FdRef fd = rng.OneIn(3) ? s.Fd() : Name(s.Open());
  const int n = s.TrapDup(s.Caller(), fd);
  s.Recv();
  if (rng.OneIn(4)) s.Send(n, 1).flags = uapi::kRespContinue;  // SEND.CONTINUE.VAL first
  s.Send(n).flags = uapi::kRespContinue;
  s.Returned(n);
  s.Settle();
}

}  // namespace

std::vector<Op> BuildTemplate(Rng& rng, MutationTemplate shape, Draft& draft, const Facts& facts,
                              int target) {
  Shape s(rng, draft, facts, target);
  switch (shape) {
    case MutationTemplate::kCalls:
      Calls(s);
      break;
    case MutationTemplate::kInterrupt:
      Interrupt(s);
      break;
    case MutationTemplate::kQueued:
      Queued(s);
      break;
    case MutationTemplate::kTargetDeath:
      TargetDeath(s);
      break;
    case MutationTemplate::kWaitKillable:
      WaitKillable(s);
      break;
    case MutationTemplate::kSetFd:
      SetFd(s);
      break;
    case MutationTemplate::kReserved:
      Reserved(s);
      break;
    case MutationTemplate::kRlimit:
      Rlimit(s);
      break;
    case MutationTemplate::kReplyNumber:
      ReplyNumber(s);
      break;
    case MutationTemplate::kCloseListener:
      CloseListener(s);
      break;
    case MutationTemplate::kRecv:
      Recv(s);
      break;
    case MutationTemplate::kListener:
      Listener(s);
      break;
    case MutationTemplate::kContinue:
      Continue(s);
      break;
  }
  return s.Take();
}

}  // namespace addfdlab::mutator_internal
