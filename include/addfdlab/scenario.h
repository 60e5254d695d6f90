// Scenarios: a typed list of ops between a supervisor and its targets. One type for the
// fuzzers' byte decoder, the .scn text format and code; see docs/scenario.md.
#ifndef ADDFDLAB_SCENARIO_H_
#define ADDFDLAB_SCENARIO_H_

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "addfdlab/result.h"
#include "addfdlab/uapi.h"

namespace addfdlab {

// Limits that keep every scenario small and every name resolvable.
inline constexpr int kMaxTargets = 2;
inline constexpr int kMaxThreads = 4;
inline constexpr int kMaxNotifs = 16;
inline constexpr int kMaxFdNames = 32;
inline constexpr int kMaxOps = 64;
inline constexpr int kMaxCallers = 4;      // TargetDecl::callers is 0..kMaxCallers
inline constexpr int kMaxNameLength = 64;  // names and cell IDs
inline constexpr int kMaxSignal = 64;      // Op::signal is 1..kMaxSignal
inline constexpr int kMaxErrno = 4095;     // an expected errno is 1..kMaxErrno

// What an op's kernel call produced.
struct Outcome {
  enum class Kind : uint8_t {
    kOk,       // returned `value` (an fd, 0, or for recv the index of the notification)
    kError,    // failed with errno `err` (positive)
    kBlocked,  // still blocked when the target was quiescent (a recv with nothing to get,
               // or a trapped syscall that was never answered)
  };
  Kind kind = Kind::kOk;
  int64_t value = 0;
  int err = 0;

  static Outcome Ok(int64_t value = 0) { return {Kind::kOk, value, 0}; }
  static Outcome Error(int err) { return {Kind::kError, 0, err}; }
  static Outcome Blocked() { return {Kind::kBlocked, 0, 0}; }
  friend bool operator==(const Outcome&, const Outcome&) = default;
};

// The kinds of op. What each is (side, thread, outcome, quiescence, fields) is its row in
// kOpTraits below; docs/scenario.md, "Adding an op", lists what a new kind needs.
enum class OpKind : uint8_t {
  // Target side: each runs in the target (through its agent, or on its processes).
  kOpen,           // open a file in the target: `file` (kDevNull or kMemfd); binds `bind`
  kPipe,           // pipe2 in the target; binds `bind` (read end) and `bind2` (write end)
  kSocketpair,     // socketpair in the target; binds `bind` and `bind2`
  kClose,          // close(fd)
  kDup,            // fcntl(fd, F_DUPFD[_CLOEXEC], value); binds `bind`
  kDup2,           // dup3(fd, fd2, cloexec ? O_CLOEXEC : 0)
  kNofile,         // RLIMIT_NOFILE soft limit = value, on every task
  kHandler,        // signal handler for `signal` on every task: `handler`
  kInstallFilter,  // a further seccomp filter with `flags` (FILTER.FLAGS); the target is
                   // not reused afterwards
  kReserve,        // task `task` opens the target's FIFO and blocks holding a reserved fd
                   // slot; the slot is bound to `bind` once the open returns
  kRelease,        // lets task `task`'s FIFO open return (the supervisor opens the writer)
  kTrap,           // task `task` makes the trapped syscall (`call`: tuxcall, or dup(fd) with
                   // a tagged argument); `notif` names the notification
  kReturned,       // the trapped syscall of `notif` returns: its value or errno
  kSignalTask,     // non-fatal `signal` to task `task`
  kKill,           // SIGKILL every task of the target
  kSpawn,          // task `task` clones a new task sharing the fd table (CLONE_FILES), a
                   // process or (`spawn_as`) a thread of its own thread group: the target's
                   // next task index, with the filters `task` has (FILTER.STACKED.*)
  // Supervisor side: notifier ioctls on the target's listener. With `thread` >= 0 the op
  // starts on that supervisor thread and the scenario goes on once it blocked or finished.
  kRecv,           // NOTIF_RECV with `buffer`
  kAddFd,          // NOTIF_ADDFD on `notif` (or a raw id); every field raw
  kSend,           // NOTIF_SEND on `notif`: val `fd` (a literal or an fd name), error, flags
  kIdValid,        // NOTIF_ID_VALID on `notif`; `legacy` uses the old _IOR number
  kSetFlags,       // NOTIF_SET_FLAGS(value)
  kIoctl,          // any ioctl number `value` on the listener (IOCTL.UNKNOWN)
  kCloseListener,  // the supervisor closes the listener
  kWait,           // waits for `thread`'s op: its outcome (a quiescence point)
  kSignalThread,   // signals supervisor `thread`, with or without SA_RESTART (`restart`)
  kSettle,         // a quiescence point, then the fd-table oracle against the model
  kWork,           // the supervisor's own work between ADDFD and its reply (a marker for
                   // `notif`): no syscall, a quiescence point, shown in the trace
  // Added at the end, so that older kinds keep their numbers in the enum and the tables.
  kPoll,           // poll(2) on the target's listener with events `flags`, timeout 0: revents
  kGetNotifSizes,  // seccomp(SECCOMP_GET_NOTIF_SIZES) in the supervisor: the three sizes
                   // (uapi::PackNotifSizes)
};
inline constexpr int kOpKindCount = 29;
static_assert(static_cast<int>(OpKind::kGetNotifSizes) + 1 == kOpKindCount);

// Which side runs an op.
enum class OpSide : uint8_t {
  kTarget,      // a target: a task's syscall through its agent, or a change to its processes
  kSupervisor,  // the supervisor: a listener ioctl, its threads, or a check
};

// The Op fields an op kind uses, as bits of OpTraits::fields. Every other field stays at its
// default (ValidateScenario), so that parse(print(s)) == s compares whole ops.
namespace op_field {
inline constexpr uint32_t kTarget = 1u << 0;        // notification kinds carry their trap's
inline constexpr uint32_t kThreadOn = 1u << 1;      // -1, or a thread started here or earlier
inline constexpr uint32_t kThreadUsed = 1u << 2;    // a thread an earlier op started on
inline constexpr uint32_t kTask = 1u << 3;          // 0..callers
inline constexpr uint32_t kTaskCaller = 1u << 4;    // 1..callers
inline constexpr uint32_t kNotifUse = 1u << 5;      // a notification an earlier trap bound
inline constexpr uint32_t kNotifBind = 1u << 6;     // binds the next notification
inline constexpr uint32_t kBind = 1u << 7;          // binds the next fd name
inline constexpr uint32_t kBind2 = 1u << 8;         // binds the fd name after that
inline constexpr uint32_t kBindOptional = 1u << 9;  // -1 or binds the next fd name
inline constexpr uint32_t kFd = 1u << 10;
inline constexpr uint32_t kFd2 = 1u << 11;
inline constexpr uint32_t kValue = 1u << 12;
inline constexpr uint32_t kIdDelta = 1u << 13;
inline constexpr uint32_t kFlags = 1u << 14;
inline constexpr uint32_t kNewfdFlags = 1u << 15;
inline constexpr uint32_t kError = 1u << 16;
inline constexpr uint32_t kSize = 1u << 17;
inline constexpr uint32_t kSrc = 1u << 18;
inline constexpr uint32_t kFile = 1u << 19;
inline constexpr uint32_t kBuffer = 1u << 20;
inline constexpr uint32_t kArg = 1u << 21;
inline constexpr uint32_t kHandler = 1u << 22;
inline constexpr uint32_t kSignal = 1u << 23;
inline constexpr uint32_t kCloexec = 1u << 24;
inline constexpr uint32_t kLegacy = 1u << 25;
inline constexpr uint32_t kRestart = 1u << 26;
inline constexpr uint32_t kEmulates = 1u << 27;
inline constexpr uint32_t kInject = 1u << 28;
inline constexpr uint32_t kCall = 1u << 29;     // trap: which syscall; kFd is its fd for dup
inline constexpr uint32_t kSpawnAs = 1u << 30;  // spawn: a process or a thread
}  // namespace op_field

// What the code needs to know about an op kind without a switch of its own. Per-op work
// (parsing, printing, the codec, the model, the executor) stays in exhaustive switches; see
// docs/scenario.md, "Adding an op".
struct OpTraits {
  OpKind kind;
  const char* name;  // the .scn keyword, also the op's name in traces and verdicts
  OpSide side;
  bool on_thread = false;  // may start on a supervisor thread (`on TH:`, Op::thread)
  bool listener = false;   // acts on the target's listener: skipped once it is closed
  bool outcome = false;    // has an outcome: the executor reports the kernel's answer and
                           // the oracle checks it against the model's prediction
  bool quiesces = false;   // a quiescence point: the targets run until quiescent before the
                           // op, and again after it
  uint32_t fields = 0;     // the op_field bits of the Op fields it uses
};

// One row per OpKind, in enum order.
inline constexpr OpTraits kOpTraits[] = {
    {.kind = OpKind::kOpen,
     .name = "open",
     .side = OpSide::kTarget,
     .outcome = true,
     .quiesces = true,
     .fields = op_field::kTarget | op_field::kFile | op_field::kCloexec | op_field::kBind},
    {.kind = OpKind::kPipe,
     .name = "pipe",
     .side = OpSide::kTarget,
     .outcome = true,
     .quiesces = true,
     .fields = op_field::kTarget | op_field::kCloexec | op_field::kBind | op_field::kBind2},
    {.kind = OpKind::kSocketpair,
     .name = "socketpair",
     .side = OpSide::kTarget,
     .outcome = true,
     .quiesces = true,
     .fields = op_field::kTarget | op_field::kCloexec | op_field::kBind | op_field::kBind2},
    {.kind = OpKind::kClose,
     .name = "close",
     .side = OpSide::kTarget,
     .outcome = true,
     .quiesces = true,
     .fields = op_field::kTarget | op_field::kFd},
    {.kind = OpKind::kDup,
     .name = "dup",
     .side = OpSide::kTarget,
     .outcome = true,
     .quiesces = true,
     .fields = op_field::kTarget | op_field::kFd | op_field::kValue | op_field::kCloexec |
               op_field::kBind},
    {.kind = OpKind::kDup2,
     .name = "dup2",
     .side = OpSide::kTarget,
     .outcome = true,
     .quiesces = true,
     .fields = op_field::kTarget | op_field::kFd | op_field::kFd2 | op_field::kCloexec},
    {.kind = OpKind::kNofile,
     .name = "nofile",
     .side = OpSide::kTarget,
     .outcome = true,
     .quiesces = true,
     .fields = op_field::kTarget | op_field::kValue},
    {.kind = OpKind::kHandler,
     .name = "handler",
     .side = OpSide::kTarget,
     .outcome = true,
     .quiesces = true,
     .fields = op_field::kTarget | op_field::kSignal | op_field::kHandler},
    {.kind = OpKind::kInstallFilter,
     .name = "install_filter",
     .side = OpSide::kTarget,
     .outcome = true,
     .quiesces = true,
     .fields = op_field::kTarget | op_field::kFlags},
    {.kind = OpKind::kReserve,
     .name = "reserve",
     .side = OpSide::kTarget,
     .outcome = true,
     .quiesces = true,
     .fields = op_field::kTarget | op_field::kTaskCaller | op_field::kBind},
    {.kind = OpKind::kRelease,
     .name = "release",
     .side = OpSide::kTarget,
     .outcome = true,
     .quiesces = true,
     .fields = op_field::kTarget | op_field::kTask},
    {.kind = OpKind::kTrap,
     .name = "trap",
     .side = OpSide::kTarget,
     .outcome = true,
     .quiesces = true,
     .fields = op_field::kTarget | op_field::kTaskCaller | op_field::kNotifBind | op_field::kCall |
               op_field::kFd},
    {.kind = OpKind::kReturned,
     .name = "returned",
     .side = OpSide::kTarget,
     .outcome = true,
     .quiesces = true,
     .fields = op_field::kNotifUse},
    {.kind = OpKind::kSignalTask,
     .name = "signal",
     .side = OpSide::kTarget,
     .fields = op_field::kTarget | op_field::kTask | op_field::kSignal},
    {.kind = OpKind::kKill,
     .name = "kill",
     .side = OpSide::kTarget,
     .quiesces = true,
     .fields = op_field::kTarget},
    {.kind = OpKind::kSpawn,
     .name = "spawn",
     .side = OpSide::kTarget,
     .outcome = true,
     .quiesces = true,
     .fields = op_field::kTarget | op_field::kTask | op_field::kSpawnAs},
    {.kind = OpKind::kRecv,
     .name = "recv",
     .side = OpSide::kSupervisor,
     .on_thread = true,
     .listener = true,
     .outcome = true,
     .fields = op_field::kTarget | op_field::kThreadOn | op_field::kBuffer},
    {.kind = OpKind::kAddFd,
     .name = "addfd",
     .side = OpSide::kSupervisor,
     .on_thread = true,
     .listener = true,
     .outcome = true,
     .fields = op_field::kNotifUse | op_field::kThreadOn | op_field::kIdDelta | op_field::kFlags |
               op_field::kSrc | op_field::kFd | op_field::kNewfdFlags | op_field::kSize |
               op_field::kArg | op_field::kInject | op_field::kBindOptional | op_field::kEmulates},
    {.kind = OpKind::kSend,
     .name = "send",
     .side = OpSide::kSupervisor,
     .on_thread = true,
     .listener = true,
     .outcome = true,
     .fields = op_field::kNotifUse | op_field::kThreadOn | op_field::kIdDelta | op_field::kFd |
               op_field::kError | op_field::kFlags},
    {.kind = OpKind::kIdValid,
     .name = "id_valid",
     .side = OpSide::kSupervisor,
     .listener = true,
     .outcome = true,
     .fields = op_field::kNotifUse | op_field::kIdDelta | op_field::kLegacy},
    {.kind = OpKind::kSetFlags,
     .name = "set_flags",
     .side = OpSide::kSupervisor,
     .listener = true,
     .outcome = true,
     .fields = op_field::kTarget | op_field::kValue},
    {.kind = OpKind::kIoctl,
     .name = "ioctl",
     .side = OpSide::kSupervisor,
     .listener = true,
     .outcome = true,
     .fields = op_field::kTarget | op_field::kValue},
    {.kind = OpKind::kCloseListener,
     .name = "close_listener",
     .side = OpSide::kSupervisor,
     .listener = true,
     .outcome = true,
     .quiesces = true,
     .fields = op_field::kTarget},
    {.kind = OpKind::kWait,
     .name = "wait",
     .side = OpSide::kSupervisor,
     .outcome = true,
     .quiesces = true,
     .fields = op_field::kThreadUsed},
    {.kind = OpKind::kSignalThread,
     .name = "signal_thread",
     .side = OpSide::kSupervisor,
     .fields = op_field::kThreadUsed | op_field::kRestart},
    {.kind = OpKind::kSettle, .name = "settle", .side = OpSide::kSupervisor, .quiesces = true},
    {.kind = OpKind::kWork,
     .name = "work",
     .side = OpSide::kSupervisor,
     .quiesces = true,
     .fields = op_field::kNotifUse},
    {.kind = OpKind::kPoll,
     .name = "poll",
     .side = OpSide::kSupervisor,
     .listener = true,
     .outcome = true,
     .quiesces = true,
     .fields = op_field::kTarget | op_field::kFlags},
    {.kind = OpKind::kGetNotifSizes,
     .name = "get_notif_sizes",
     .side = OpSide::kSupervisor,
     .outcome = true},
};
static_assert(std::size(kOpTraits) == kOpKindCount);

constexpr bool OpTraitsInEnumOrder() {
  for (size_t i = 0; i < std::size(kOpTraits); ++i) {
    if (kOpTraits[i].kind != static_cast<OpKind>(i)) return false;
  }
  return true;
}
static_assert(OpTraitsInEnumOrder(), "kOpTraits has one row per OpKind, in enum order");

// The row of a valid OpKind (ValidateScenario checks the kinds of a scenario's ops).
constexpr const OpTraits& OpTraitsOf(OpKind kind) { return kOpTraits[static_cast<size_t>(kind)]; }

// A file the supervisor holds and can inject.
enum class SourceKind : uint8_t {
  kMemfd,      // a memfd
  kMemfd2,     // a second, distinct memfd
  kPipeRead,   // a pipe's read end
  kPipeWrite,  // its write end
  kSocket,     // one end of a socketpair
  kDevNull,    // /dev/null
  kOpath,      // an O_PATH file (ADDFD.SRCFD.OPATH)
  kListener,   // the target's own listener
  kClosed,     // a number that is not open in the supervisor (ADDFD.SRCFD.BAD)
  kHuge,       // 0x80000000 (ADDFD.SRCFD.BAD with a number >= 2^31)
};
inline constexpr int kSourceKindCount = 10;

// Files a target can open on its own (kOpen).
enum class FileKind : uint8_t { kDevNull, kMemfd };
inline constexpr int kFileKindCount = 2;

// The NOTIF_RECV buffer.
enum class BufferKind : uint8_t {
  kZeroed,    // a zeroed, writable buffer
  kNonZero,   // a byte set (RECV.NONZERO)
  kUnmapped,  // unreadable (EFAULT before anything)
  kReadOnly,  // zeroed but not writable (RECV.FAULT: the notification stays receivable)
};
inline constexpr int kBufferKindCount = 4;

// The bytes of the NOTIF_ADDFD argument past the struct, and its readability.
enum class AddFdArg : uint8_t {
  kPlain,        // the struct, readable
  kTailZero,     // size > 24, tail zero
  kTailNonZero,  // size > 24, a tail byte set
  kUnreadable,   // the argument is unreadable (ADDFD.FAULT)
};
inline constexpr int kAddFdArgCount = 4;

// A kernel fault injected for one ADDFD on the main thread (Op::inject): armed before the
// ioctl, undone when it returns. Each needs its probed feature (a debug kernel in a VM).
enum class InjectKind : uint8_t {
  kNone,
  kLsm,     // security_file_receive fails with EACCES (fail_function + the task's fail-nth)
  kNomem,   // the handling task's next slab allocation fails (failslab + fail-nth): the fd
            // table's growth in expand_files, when the install needs one
  kNrOpen,  // fs.nr_open lowered to max(newfd, 64), the VM guest's own sysctl
};
inline constexpr int kInjectKindCount = 4;
// The errno inject=lsm makes security_file_receive return.
inline constexpr int kInjectedLsmErrno = EACCES;
// fs.nr_open while an inject=nr_open ADDFD runs: newfd itself (SETFD at newfd then meets
// expand_files' `nr >= sysctl_nr_open`), within the sysctl's bounds: BITS_PER_LONG, and
// INT_MAX rounded down to a multiple of it.
inline constexpr uint64_t InjectedNrOpen(uint32_t newfd) {
  constexpr uint32_t kMin = 64, kMax = 0x7fffffc0;
  return newfd < kMin ? kMin : newfd > kMax ? kMax : newfd;
}

// The syscall a trap makes. tuxcall has no implementation: its own result is ENOSYS, so a
// CONTINUE reply cannot be seen to run it. dup(fd), trapped only with a tag in its argument's
// upper 32 bits (agent::kDupTrapTag), makes a new fd when it runs (SEND.CONTINUE.RUNS).
enum class TrapCall : uint8_t { kTuxcall, kDup };
inline constexpr int kTrapCallCount = 2;

// What `spawn` makes: a process (clone with CLONE_FILES), or a thread in the spawning task's
// thread group (pthread_create: shared signal handlers, a fatal signal kills the group).
enum class SpawnAs : uint8_t { kProcess, kThread };
inline constexpr int kSpawnAsCount = 2;

enum class HandlerKind : uint8_t { kDefault, kRestart, kNoRestart, kIgnore };
inline constexpr int kHandlerKindCount = 4;

// The syscall, with its close-on-exec flag, whose fd an ADDFD stands in for (`emulates=`):
// the fd the trapped call would have made is close-on-exec exactly when
// EmulatedCloexec(call) says so (PATTERN.CLOEXEC, docs/patterns.md). The flag is the one the
// trapped call passed, which a supervisor reads from its arguments; the scenario states it.
enum class EmulatedCall : uint8_t {
  kNone,                // not stated: no check
  kOpen,                // open/openat without O_CLOEXEC
  kOpenCloexec,         // open/openat with O_CLOEXEC
  kSocket,              // socket without SOCK_CLOEXEC
  kSocketCloexec,       // socket(..., type | SOCK_CLOEXEC, ...)
  kAccept,              // accept: never close-on-exec
  kAccept4,             // accept4 without SOCK_CLOEXEC
  kAccept4Cloexec,      // accept4(..., SOCK_CLOEXEC)
  kPipe2,               // pipe2 without O_CLOEXEC
  kPipe2Cloexec,        // pipe2(..., O_CLOEXEC)
  kEventfd,             // eventfd without EFD_CLOEXEC
  kEventfdCloexec,      // eventfd(..., EFD_CLOEXEC)
  kMemfdCreate,         // memfd_create without MFD_CLOEXEC
  kMemfdCreateCloexec,  // memfd_create(..., MFD_CLOEXEC)
  kRecvmsg,             // SCM_RIGHTS received without MSG_CMSG_CLOEXEC
  kRecvmsgCloexec,      // recvmsg(..., MSG_CMSG_CLOEXEC)
  kBpf,                 // bpf(): map, prog, link and BTF fds are always O_CLOEXEC
  kPidfdOpen,           // pidfd_open: always O_CLOEXEC
};
inline constexpr int kEmulatedCallCount = 18;

// The names of the enums' values in the text format and traces, by value.
inline constexpr const char* kSourceKindNames[] = {
    "memfd",   "memfd2", "pipe_r",   "pipe_w", "socket",
    "devnull", "opath",  "listener", "closed", "huge",
};
inline constexpr const char* kFileKindNames[] = {"devnull", "memfd"};
inline constexpr const char* kBufferKindNames[] = {"zeroed", "nonzero", "unmapped", "readonly"};
inline constexpr const char* kAddFdArgNames[] = {"plain", "tail_zero", "tail_nonzero",
                                                 "unreadable"};
inline constexpr const char* kHandlerKindNames[] = {"default", "restart", "norestart", "ignore"};
inline constexpr const char* kTrapCallNames[] = {"tuxcall", "dup"};
inline constexpr const char* kSpawnAsNames[] = {"process", "thread"};
inline constexpr const char* kEmulatedCallNames[] = {
    "none",
    "open",
    "open(O_CLOEXEC)",
    "socket",
    "socket(SOCK_CLOEXEC)",
    "accept",
    "accept4",
    "accept4(SOCK_CLOEXEC)",
    "pipe2",
    "pipe2(O_CLOEXEC)",
    "eventfd",
    "eventfd(EFD_CLOEXEC)",
    "memfd_create",
    "memfd_create(MFD_CLOEXEC)",
    "recvmsg",
    "recvmsg(MSG_CMSG_CLOEXEC)",
    "bpf",
    "pidfd_open",
};
static_assert(std::size(kSourceKindNames) == kSourceKindCount &&
              static_cast<int>(SourceKind::kHuge) + 1 == kSourceKindCount);
static_assert(std::size(kFileKindNames) == kFileKindCount &&
              static_cast<int>(FileKind::kMemfd) + 1 == kFileKindCount);
static_assert(std::size(kBufferKindNames) == kBufferKindCount &&
              static_cast<int>(BufferKind::kReadOnly) + 1 == kBufferKindCount);
static_assert(std::size(kAddFdArgNames) == kAddFdArgCount &&
              static_cast<int>(AddFdArg::kUnreadable) + 1 == kAddFdArgCount);
inline constexpr const char* kInjectKindNames[] = {"none", "lsm", "nomem", "nr_open"};
static_assert(std::size(kInjectKindNames) == kInjectKindCount &&
              static_cast<int>(InjectKind::kNrOpen) + 1 == kInjectKindCount);
static_assert(std::size(kTrapCallNames) == kTrapCallCount &&
              static_cast<int>(TrapCall::kDup) + 1 == kTrapCallCount);
static_assert(std::size(kSpawnAsNames) == kSpawnAsCount &&
              static_cast<int>(SpawnAs::kThread) + 1 == kSpawnAsCount);
static_assert(std::size(kHandlerKindNames) == kHandlerKindCount &&
              static_cast<int>(HandlerKind::kIgnore) + 1 == kHandlerKindCount);
static_assert(std::size(kEmulatedCallNames) == kEmulatedCallCount &&
              static_cast<int>(EmulatedCall::kPidfdOpen) + 1 == kEmulatedCallCount);

// Whether the fd `call` makes is close-on-exec: its flag, or always for bpf and pidfd_open.
constexpr bool EmulatedCloexec(EmulatedCall call) {
  switch (call) {
    case EmulatedCall::kOpenCloexec:
    case EmulatedCall::kSocketCloexec:
    case EmulatedCall::kAccept4Cloexec:
    case EmulatedCall::kPipe2Cloexec:
    case EmulatedCall::kEventfdCloexec:
    case EmulatedCall::kMemfdCreateCloexec:
    case EmulatedCall::kRecvmsgCloexec:
    case EmulatedCall::kBpf:
    case EmulatedCall::kPidfdOpen:
      return true;
    case EmulatedCall::kNone:
    case EmulatedCall::kOpen:
    case EmulatedCall::kSocket:
    case EmulatedCall::kAccept:
    case EmulatedCall::kAccept4:
    case EmulatedCall::kPipe2:
    case EmulatedCall::kEventfd:
    case EmulatedCall::kMemfdCreate:
    case EmulatedCall::kRecvmsg:
      return false;
  }
  return false;
}

// An fd number in a target, or a value: a literal or a name bound by an earlier op.
struct FdRef {
  int name = -1;        // index into Scenario::fd_names, or -1 for the literal
  int64_t literal = 0;  // used when name < 0
  friend bool operator==(const FdRef&, const FdRef&) = default;
};

// What a hand-written op expects. Absent: the model decides alone.
struct Expect {
  bool present = false;
  bool any_value = false;  // "expect ok": any successful value
  Outcome outcome;
  friend bool operator==(const Expect&, const Expect&) = default;
};

// One op. A flat record: each kind uses the fields its comment names, the rest stay at
// their defaults (so that parse(print(s)) == s compares whole ops).
struct Op {
  OpKind kind = OpKind::kSettle;
  int target = 0;   // index into Scenario::targets
  int thread = -1;  // supervisor thread, -1 for the main thread
  int task = 1;     // target task: 0 the leader, 1.. callers, then the tasks `spawn` made
  int notif = -1;   // index into Scenario::notifs
  int bind = -1;    // fd name bound by this op
  int bind2 = -1;
  FdRef fd;              // close/dup/dup2 source; addfd newfd; send val; trap's dup fd
  FdRef fd2;             // dup2 target
  int64_t value = 0;     // dup minimum, nofile, set_flags, ioctl number
  int64_t id_delta = 0;  // the id used is notif's id + id_delta (ADDFD.ID.UNKNOWN, ...)
  uint32_t flags = 0;    // addfd flags, send resp flags, filter flags, poll events
  uint32_t newfd_flags = 0;
  int32_t error = 0;  // send: the error to answer (positive errno; sent negated)
  uint32_t size = static_cast<uint32_t>(uapi::kAddFdSizeVer0);  // addfd ioctl size
  SourceKind src = SourceKind::kMemfd;
  FileKind file = FileKind::kDevNull;
  BufferKind buffer = BufferKind::kZeroed;
  AddFdArg arg = AddFdArg::kPlain;
  InjectKind inject = InjectKind::kNone;  // addfd on the main thread only
  HandlerKind handler = HandlerKind::kDefault;
  EmulatedCall emulates = EmulatedCall::kNone;  // addfd: the syscall the injection stands in for
  TrapCall call = TrapCall::kTuxcall;           // trap: the syscall it makes
  SpawnAs spawn_as = SpawnAs::kProcess;         // spawn: what it makes
  int signal = 10;                              // SIGUSR1
  bool cloexec = false;
  bool legacy = false;
  bool restart = false;
  Expect expect;
  friend bool operator==(const Op&, const Op&) = default;
};

struct TargetDecl {
  std::string name;
  uint32_t filter_flags = uapi::kFilterNewListener;
  int callers = 2;
  // The target's tasks live in a pid namespace of their own, a child of the supervisor's
  // (with a user namespace of their own when the supervisor lacks CAP_SYS_ADMIN): the
  // leader is its init, and RECV reports a task's pid as the receiver's namespace sees it.
  bool pid_ns = false;
  friend bool operator==(const TargetDecl&, const TargetDecl&) = default;
};

// Where a supervisor thread's ops run (`process TH [pidns]` in the text).
enum class ThreadPlace : uint8_t {
  kThread,        // a thread of the supervisor process
  kProcess,       // a second supervisor process, handed the listener over SCM_RIGHTS
  kProcessPidNs,  // the same, in a new pid namespace: the targets' tasks are not visible
};
inline constexpr int kThreadPlaceCount = 3;
struct Scenario {
  std::vector<std::string> cells;  // contract cells this scenario is about
  std::vector<TargetDecl> targets;
  std::vector<std::string> threads;  // supervisor thread names
  // Where each thread runs, by thread index; threads past its end, and it ends with no
  // kThread (the canonical form), are threads of the supervisor process.
  std::vector<ThreadPlace> places;
  std::vector<std::string> notifs;    // notification names (each bound by one trap)
  std::vector<std::string> fd_names;  // names of fd numbers bound by ops
  std::vector<Op> ops;
  friend bool operator==(const Scenario&, const Scenario&) = default;
};

// The error a `send` op puts in seccomp_notif_resp: its errno negated (INT32_MIN wraps).
inline int32_t SentError(const Op& op) {
  return static_cast<int32_t>(0u - static_cast<uint32_t>(op.error));
}

// The tasks target `target` has before op `before`: the leader, its callers and a task per
// `spawn` on it in ops [0, before). At most kMaxTasks (a `spawn` beyond that is invalid).
inline constexpr int kMaxTasks = 1 + kMaxCallers;
inline int TasksBefore(const Scenario& scenario, int target, size_t before) {
  int tasks = 1 + scenario.targets[static_cast<size_t>(target)].callers;
  for (size_t i = 0; i < before && i < scenario.ops.size(); ++i) {
    const Op& op = scenario.ops[i];
    tasks += op.kind == OpKind::kSpawn && op.target == target ? 1 : 0;
  }
  return tasks;
}

// Where thread `thread` of `scenario` runs (kThread for -1, the main thread).
inline ThreadPlace PlaceOf(const Scenario& scenario, int thread) {
  if (thread < 0 || static_cast<size_t>(thread) >= scenario.places.size()) {
    return ThreadPlace::kThread;
  }
  return scenario.places[static_cast<size_t>(thread)];
}
// Names used by the text format and traces (kOpTraits, kSourceKindNames); "unknown" for a
// value outside the enum.
const char* OpKindName(OpKind kind);
const char* SourceKindName(SourceKind kind);
// "EBADF", "ok 3", "blocked".
std::string DescribeOutcome(const Outcome& outcome);
// For GoogleTest's messages.
void PrintTo(const Outcome& outcome, std::ostream* out);

// A target, thread, notification or fd name: [A-Za-z_][A-Za-z0-9_]*, at most
// kMaxNameLength characters.
bool IsScenarioName(std::string_view name);
// A contract cell ID such as ADDFD.SETFD.RLIMIT: [A-Z0-9_.]+, at most kMaxNameLength
// characters.
bool IsCellId(std::string_view id);

// Checks the references of a scenario (indices in range, names bound before use, limits):
// OK, or EINVAL with what is wrong ("op 3 (close): ..."). Parsers and decoders only produce valid
// scenarios. Valid also means canonical, so that the text and binary forms round-trip exactly: at
// least one target; fields an op's kind does not use stay at their defaults; threads,
// notifications and fd names are numbered in the order ops first use or bind them, and
// every one of them is used; names are unique within their kind.
Result<void> ValidateScenario(const Scenario& scenario);

}  // namespace addfdlab

#endif  // ADDFDLAB_SCENARIO_H_
