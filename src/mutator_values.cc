// The scenario mutator's field values: each field drawn towards the kernel's boundaries
// (docs/contract.md's checks, in their order), with the value a successful call needs kept
// likely, so that mutated ops still reach the states behind the checks.
#include <fcntl.h>
#include <signal.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <limits>

#include "addfdlab/agent_protocol.h"
#include "addfdlab/uapi.h"
#include "mutator_internal.h"

namespace addfdlab::mutator_internal {
namespace {

constexpr uint32_t kCloexec = O_CLOEXEC;
constexpr int64_t kNrOpenDefault = int64_t{1} << 20;  // fs.nr_open's default

// A label from `labels`, or a fresh one (which Lower() resolves or drops).
int PickLabel(Rng& rng, Draft& draft, const std::vector<int>& labels) {
  return labels.empty() ? draft.NewLabel() : rng.Pick(labels);
}

// A notification: mostly one whose trapped syscall still waits, else any (an answered or
// stale one); -1 when there is none.
int PickNotif(Rng& rng, const Facts& facts) {
  if (!facts.live_notifs.empty() && !rng.OneIn(4)) return rng.Pick(facts.live_notifs);
  return facts.notifs.empty() ? -1 : rng.Pick(facts.notifs);
}

// PickNotif, or a fresh label that Lower() takes to the latest notification (or drops).
int PickNotif(Rng& rng, Draft& draft, const Facts& facts) {
  const int label = PickNotif(rng, facts);
  return label >= 0 ? label : draft.NewLabel();
}

// The main thread, a new thread, or one already started (idle ones first).
int PickThreadOn(Rng& rng, Draft& draft, const Facts& facts) {
  switch (rng.Weighted({5, 3, 2})) {
    case 0:
      return -1;
    case 1:
      return draft.NewLabel();
    default:
      if (!facts.idle_threads.empty()) return rng.Pick(facts.idle_threads);
      return PickLabel(rng, draft, facts.threads);
  }
}

int PickTask(Rng& rng, const TargetFacts& target, bool caller) {
  if (caller && !target.free_tasks.empty() && !rng.OneIn(4)) return rng.Pick(target.free_tasks);
  return rng.Int(caller ? 1 : 0, std::max(1, target.callers));
}

const TargetFacts& FactsOf(const Facts& facts, int target) {
  static const TargetFacts kFresh;
  return target >= 0 && static_cast<size_t>(target) < facts.targets.size()
             ? facts.targets[static_cast<size_t>(target)]
             : kFresh;
}

FdRef Literal(int64_t value) { return FdRef{-1, value}; }

}  // namespace

int64_t PickIdDelta(Rng& rng) {
  if (!rng.OneIn(5)) return 0;
  return rng.Pick<int64_t>({1, -1, 2, -2, 1000, -1000, int64_t{1} << 32, -(int64_t{1} << 32),
                            std::numeric_limits<int64_t>::max(),
                            std::numeric_limits<int64_t>::min()});
}

uint32_t PickAddFdFlags(Rng& rng) {
  // Unknown bits: ADDFD.FLAGS.UNKNOWN.
  const uint32_t unknown = rng.Pick<uint32_t>(
      {1u << 2, 1u << 31, 0xffffffffu, uapi::kAddFdSend | (1u << 2), 1u << rng.Below(32)});
  return rng.PickWeighted<uint32_t>({{0, 30},
                                     {uapi::kAddFdSetFd, 20},
                                     {uapi::kAddFdSend, 15},
                                     {uapi::kAddFdSetFd | uapi::kAddFdSend, 10},
                                     {unknown, 8}});
}

uint32_t PickNewfdFlags(Rng& rng) {
  // Anything but O_CLOEXEC: ADDFD.NEWFD_FLAGS.
  const uint32_t other = rng.Pick<uint32_t>(
      {1, O_NONBLOCK, kCloexec | O_NONBLOCK, 0x80000000u, 0xffffffffu, 1u << rng.Below(32)});
  return rng.PickWeighted<uint32_t>({{0, 12}, {kCloexec, 6}, {other, 3}});
}

InjectKind PickInject(Rng& rng, int thread) {
  // In a guest on the debug kernel each one fails the install on purpose (ADDFD.NOMEM,
  // ADDFD.LSM, ADDFD.SETFD.NR_OPEN); elsewhere the model skips the op.
  if (thread >= 0 || !rng.OneIn(8)) return InjectKind::kNone;
  return static_cast<InjectKind>(1 + rng.Below(kInjectKindCount - 1));
}

uint32_t PickAddFdSize(Rng& rng) {
  if (!rng.OneIn(3)) return static_cast<uint32_t>(uapi::kAddFdSizeVer0);
  // Short, a bigger struct (tail), a page and the ioctl's 14 size bits.
  return rng.Pick<uint32_t>({0, 16, 23, 25, 32, 64, 4095, 4096, 0x3fff, 0x4000, 0x4018});
}

AddFdArg PickArg(Rng& rng) {
  return rng.PickWeighted<AddFdArg>({{AddFdArg::kPlain, 8},
                                     {AddFdArg::kTailZero, 2},
                                     {AddFdArg::kTailNonZero, 2},
                                     {AddFdArg::kUnreadable, 1}});
}

SourceKind PickSource(Rng& rng, bool valid_only) {
  if (valid_only || !rng.OneIn(4)) {
    return rng.Pick({SourceKind::kMemfd, SourceKind::kMemfd2, SourceKind::kPipeRead,
                     SourceKind::kPipeWrite, SourceKind::kSocket, SourceKind::kDevNull});
  }
  return rng.Pick(
      {SourceKind::kOpath, SourceKind::kListener, SourceKind::kClosed, SourceKind::kHuge});
}

uint32_t PickSendFlags(Rng& rng) {
  // Unknown bits: SEND.FLAGS.UNKNOWN.
  const uint32_t unknown =
      rng.Pick<uint32_t>({2, uapi::kRespContinue | 0x80, 0x80000000u, 1u << rng.Below(32)});
  return rng.PickWeighted<uint32_t>({{0, 10}, {uapi::kRespContinue, 3}, {unknown, 2}});
}

int32_t PickSendError(Rng& rng) {
  if (rng.OneIn(2)) return 0;
  // 512..516: the kernel's restart codes (SEND.ERROR.RESTART).
  return rng.Pick<int32_t>({ENOSYS, EPERM, EACCES, EINTR, 1, 4095, 4096, -1,
                            std::numeric_limits<int32_t>::min(), 512, 513, 514, 516});
}

int PickSignal(Rng& rng) {
  // The usual three, a core-dumping one, SIGCHLD (the harness's), a real-time one, the last.
  return rng.Pick({SIGUSR1, SIGUSR1, SIGUSR2, SIGALRM, SIGQUIT, SIGTERM, SIGSEGV, SIGPIPE, SIGCHLD,
                   34, 55, kMaxSignal, rng.Int(1, kMaxSignal)});
}

HandlerKind PickHandler(Rng& rng) {
  return rng.Pick({HandlerKind::kRestart, HandlerKind::kNoRestart, HandlerKind::kNoRestart,
                   HandlerKind::kDefault, HandlerKind::kIgnore});
}

int64_t PickNofile(Rng& rng, const TargetFacts& target) {
  const int64_t free = target.lowest_free;
  return rng.Pick<int64_t>({0, 1, 2, 3, 4, 16, 64, free, free + 1, free + 2, 1024, 20000,
                            kNrOpenDefault, kNrOpenDefault + 1, -1});
}

uint32_t PickFilterFlags(Rng& rng) {
  constexpr uint32_t kListener = uapi::kFilterNewListener;
  return rng.Pick<uint32_t>({kListener, kListener, kListener | uapi::kFilterWaitKillableRecv,
                             uapi::kFilterWaitKillableRecv, uapi::kFilterTsync | kListener,
                             uapi::kFilterTsync | kListener | uapi::kFilterTsyncEsrch,
                             kListener | uapi::kFilterLog, 0, 0x40, 1u << rng.Below(32)});
}

int64_t PickSetFlags(Rng& rng) {
  return rng.Pick<int64_t>({0, 1, 2, 3, 5, int64_t{1} << 32, std::numeric_limits<int64_t>::min()});
}

uint32_t PickPollEvents(Rng& rng) {
  // POLLIN|POLLOUT as the selftests ask, each alone, their NORM twins, none, and any bits.
  return rng.Pick<uint32_t>(
      {0x5, 0x5, 0x1, 0x4, 0x145, 0x40, 0x100, 0, 0x10, static_cast<uint32_t>(rng.Below(0x10000))});
}

int64_t PickIoctl(Rng& rng) {
  // The notifier's own numbers with another size or direction, its next numbers, others'.
  constexpr int64_t kMagic = '!' << 8;
  return rng.Pick<int64_t>({0x12345678, 0x40082105, 0xc0182106, 0x80182103, 0xc0502101, 0x40102103,
                            0x5401 /*TCGETS*/, 0x541b /*FIONREAD*/,
                            0x40000000 | kMagic | rng.Int(5, 255),
                            static_cast<int64_t>(rng.Next())});
}

BufferKind PickBuffer(Rng& rng) {
  return rng.PickWeighted<BufferKind>({{BufferKind::kZeroed, 12},
                                       {BufferKind::kNonZero, 2},
                                       {BufferKind::kUnmapped, 2},
                                       {BufferKind::kReadOnly, 2}});
}

namespace {

// The one field of the kinds that have nothing else to choose: RLIMIT_NOFILE, the filter
// flags, SET_FLAGS' value, the ioctl number. False for the other kinds.
bool PickScalar(Rng& rng, Op& op, const TargetFacts& t) {
  switch (op.kind) {
    case OpKind::kNofile:
      op.value = PickNofile(rng, t);
      return true;
    case OpKind::kInstallFilter:
      op.flags = PickFilterFlags(rng);
      return true;
    case OpKind::kSetFlags:
      op.value = PickSetFlags(rng);
      return true;
    case OpKind::kIoctl:
      op.value = PickIoctl(rng);
      return true;
    case OpKind::kPoll:
      op.flags = PickPollEvents(rng);
      return true;
    default:
      return false;
  }
}

}  // namespace

FdRef PickFd(Rng& rng, const Facts& facts, int target) {
  const TargetFacts& t = FactsOf(facts, target);
  switch (rng.Below(13)) {
    case 0:
      return Literal(rng.Int(0, 2));
    case 1:
      return Literal(t.lowest_free);
    case 2:
      if (!t.open_fds.empty()) return Literal(rng.Pick(t.open_fds));
      return Literal(rng.Int(0, 8));
    case 3:
    case 4:
      if (!facts.fds.empty()) return FdRef{rng.Pick(facts.fds), 0};
      return Literal(rng.Int(0, 8));
    case 5:
      if (!t.reserved.empty()) return Literal(rng.Pick(t.reserved));
      return Literal(t.lowest_free + rng.Int(1, 3));
    case 6:
      return Literal(agent::kHarnessFdBase + rng.Int(0, t.callers));
    case 7:
      return Literal(t.nofile - 1);
    case 8:
      return Literal(t.nofile);
    case 9:
      return Literal(rng.Pick<int64_t>({kNrOpenDefault - 1, kNrOpenDefault, 0x7fffffff, 0x80000000,
                                        0xffffffff, int64_t{1} << 32}));
    case 10:
      return Literal(rng.Pick<int64_t>({-1, -2, -256, std::numeric_limits<int64_t>::min()}));
    case 11:
      return Literal(rng.Int(0, 255));
    default:
      return Literal(rng.Pick<int64_t>({63, 64, 200, 1000, 4000, 8000, 19999}));
  }
}

Op RandomOp(Rng& rng, Draft& draft, const Facts& facts, OpKind kind, int target) {
  Op op;
  op.kind = kind;
  op.target = target;
  const TargetFacts& t = FactsOf(facts, target);
  if (PickScalar(rng, op, t)) return op;
  switch (kind) {
    case OpKind::kOpen:
      op.file = rng.OneIn(2) ? FileKind::kDevNull : FileKind::kMemfd;
      op.cloexec = rng.OneIn(2);
      op.bind = draft.NewLabel();
      break;
    case OpKind::kPipe:
    case OpKind::kSocketpair:
      op.cloexec = rng.OneIn(2);
      op.bind = draft.NewLabel();
      op.bind2 = draft.NewLabel();
      break;
    case OpKind::kClose:
      op.fd = PickFd(rng, facts, target);
      break;
    case OpKind::kDup:
      op.fd = PickFd(rng, facts, target);
      op.value = rng.Pick<int64_t>({0, 0, 3, t.lowest_free, 100, t.nofile - 1, t.nofile, -1});
      op.cloexec = rng.OneIn(2);
      op.bind = draft.NewLabel();
      break;
    case OpKind::kDup2:
      op.fd = PickFd(rng, facts, target);
      op.fd2 = PickFd(rng, facts, target);
      op.cloexec = rng.OneIn(2);
      break;
    case OpKind::kHandler:
      op.signal = PickSignal(rng);
      op.handler = PickHandler(rng);
      break;
    case OpKind::kRelease:
    case OpKind::kSignalTask:
    case OpKind::kSpawn:
      op.task = PickTask(rng, t, rng.OneIn(2));
      if (kind == OpKind::kSignalTask) op.signal = PickSignal(rng);
      if (kind == OpKind::kSpawn && rng.OneIn(2)) op.spawn_as = SpawnAs::kThread;
      break;
    case OpKind::kReserve:
    case OpKind::kTrap:  // each binds what it waits in: an fd name, a notification
      op.task = PickTask(rng, t, true);
      (kind == OpKind::kTrap ? op.notif : op.bind) = draft.NewLabel();
      if (kind == OpKind::kTrap && rng.OneIn(4)) {  // a dup, which CONTINUE runs
        op.call = TrapCall::kDup;
        op.fd = PickFd(rng, facts, target);
      }
      break;
    case OpKind::kReturned:
    case OpKind::kIdValid:
    case OpKind::kWork:
      op.notif = PickNotif(rng, draft, facts);
      if (kind == OpKind::kIdValid) {
        op.id_delta = PickIdDelta(rng);
        op.legacy = rng.OneIn(3);
      }
      break;
    case OpKind::kKill:
    case OpKind::kCloseListener:
    case OpKind::kSettle:
    case OpKind::kGetNotifSizes:
      break;
    case OpKind::kRecv:
      op.thread = PickThreadOn(rng, draft, facts);
      op.buffer = PickBuffer(rng);
      break;
    case OpKind::kAddFd:
      op.thread = PickThreadOn(rng, draft, facts);
      op.notif = PickNotif(rng, draft, facts);
      op.id_delta = PickIdDelta(rng);
      op.flags = PickAddFdFlags(rng);
      op.src = PickSource(rng, false);
      if ((op.flags & uapi::kAddFdSetFd) != 0 || rng.OneIn(6)) op.fd = PickFd(rng, facts, target);
      op.newfd_flags = PickNewfdFlags(rng);
      op.inject = PickInject(rng, op.thread);
      op.size = PickAddFdSize(rng);
      op.arg =
          op.size > uapi::kAddFdSizeVer0 && rng.OneIn(2) ? AddFdArg::kTailNonZero : PickArg(rng);
      if (rng.OneIn(3)) op.bind = draft.NewLabel();
      break;
    case OpKind::kSend:
      op.thread = rng.OneIn(5) ? PickThreadOn(rng, draft, facts) : -1;
      op.notif = PickNotif(rng, draft, facts);
      op.id_delta = PickIdDelta(rng);
      if (rng.OneIn(2)) op.fd = PickFd(rng, facts, target);
      op.error = PickSendError(rng);
      op.flags = PickSendFlags(rng);
      break;
    case OpKind::kWait:
    case OpKind::kSignalThread:
      op.thread = PickLabel(rng, draft, facts.threads);
      op.restart = rng.OneIn(2);
      break;
    default:  // PickScalar's kinds
      break;
  }
  return op;
}

void MutateField(Rng& rng, Op& op, const Facts& facts) {
  const int target = op.target;
  const TargetFacts& t = FactsOf(facts, target);
  if (PickScalar(rng, op, t)) return;  // their only field
  // A field only moves to labels that exist here.
  const auto notif = [&] {
    if (const int label = PickNotif(rng, facts); label >= 0) op.notif = label;
  };
  const auto fd = [&] { op.fd = PickFd(rng, facts, target); };
  const auto id = [&] { op.id_delta = PickIdDelta(rng); };
  const auto signal = [&] { op.signal = PickSignal(rng); };
  const auto other_target = [&] { op.target ^= 1; };
  const auto cloexec = [&] { op.cloexec = !op.cloexec; };
  // The fields of each kind, one of which changes.
  std::vector<std::function<void()>> fields;
  switch (op.kind) {
    case OpKind::kAddFd:
      fields = {
          [&] { op.flags = rng.OneIn(3) ? op.flags ^ (1u << rng.Below(32)) : PickAddFdFlags(rng); },
          [&] {
            fd();
            if (!rng.OneIn(4)) op.flags |= uapi::kAddFdSetFd;
          },
          [&] { op.newfd_flags = PickNewfdFlags(rng); },
          [&] { op.size = PickAddFdSize(rng); },
          [&] { op.arg = PickArg(rng); },
          [&] { op.src = PickSource(rng, false); },
          [&] { op.flags ^= uapi::kAddFdSend; },
          [&] {
            op.thread = op.thread >= 0 || facts.threads.empty() ? -1 : rng.Pick(facts.threads);
            if (op.thread >= 0) op.inject = InjectKind::kNone;
          },
          [&] {
            op.inject = op.inject == InjectKind::kNone
                            ? static_cast<InjectKind>(1 + rng.Below(kInjectKindCount - 1))
                            : InjectKind::kNone;
            if (op.inject != InjectKind::kNone) op.thread = -1;
          },
          [&] { op.bind = -1; },
          [&] { op.emulates = static_cast<EmulatedCall>(rng.Below(kEmulatedCallCount)); },
          id,
          notif};
      break;
    case OpKind::kSend:
      fields = {fd, [&] { op.error = PickSendError(rng); }, [&] { op.flags = PickSendFlags(rng); },
                id, notif};
      break;
    case OpKind::kIdValid:
      fields = {[&] { op.legacy = !op.legacy; }, id, notif};
      break;
    case OpKind::kReturned:
    case OpKind::kWork:
      fields = {notif};
      break;
    case OpKind::kRecv:
      fields = {[&] { op.buffer = PickBuffer(rng); }, other_target};
      break;
    case OpKind::kTrap:
      fields = {[&] { op.task = PickTask(rng, t, true); }, other_target,
                [&] {
                  // tuxcall <-> dup of an fd by slot class
                  op.call = op.call == TrapCall::kDup ? TrapCall::kTuxcall : TrapCall::kDup;
                  op.fd = op.call == TrapCall::kDup ? PickFd(rng, facts, op.target) : FdRef{};
                }};
      break;
    case OpKind::kSpawn:
      fields = {[&] { op.task = PickTask(rng, t, false); }, other_target,
                [&] {
                  op.spawn_as =
                      op.spawn_as == SpawnAs::kThread ? SpawnAs::kProcess : SpawnAs::kThread;
                }};
      break;
    case OpKind::kReserve:
    case OpKind::kRelease:
      fields = {[&] {
                  const bool caller = op.kind == OpKind::kTrap || op.kind == OpKind::kReserve;
                  op.task = PickTask(rng, t, caller);
                },
                other_target};
      break;
    case OpKind::kSignalTask:
      fields = {signal, [&] { op.task = PickTask(rng, t, false); }};
      break;
    case OpKind::kHandler:
      fields = {signal, [&] { op.handler = PickHandler(rng); }};
      break;
    case OpKind::kClose:
      fields = {fd};
      break;
    case OpKind::kDup:
      fields = {fd, cloexec, [&] {
                  op.value = rng.Pick<int64_t>({0, 3, t.lowest_free, t.nofile - 1, t.nofile, -1});
                }};
      break;
    case OpKind::kDup2:
      fields = {fd, cloexec, [&] { op.fd2 = PickFd(rng, facts, target); }};
      break;
    case OpKind::kOpen:
      fields = {cloexec, [&] {
                  op.file = op.file == FileKind::kDevNull ? FileKind::kMemfd : FileKind::kDevNull;
                }};
      break;
    case OpKind::kPipe:
    case OpKind::kSocketpair:
      fields = {cloexec};
      break;
    case OpKind::kSignalThread:
      fields = {[&] { op.restart = !op.restart; }};
      break;
    case OpKind::kWait:
      if (!facts.threads.empty()) fields = {[&] { op.thread = rng.Pick(facts.threads); }};
      break;
    case OpKind::kKill:
    case OpKind::kCloseListener:
      fields = {other_target};
      break;
    default:  // settle, and PickScalar's kinds
      break;
  }
  if (!fields.empty()) fields[rng.Below(fields.size())]();
}

}  // namespace addfdlab::mutator_internal
