// The wire protocol between the supervisor and a target's agent tasks, and the fixed
// layout of a target's fd table.
#ifndef ADDFDLAB_AGENT_PROTOCOL_H_
#define ADDFDLAB_AGENT_PROTOCOL_H_

#include <sys/syscall.h>

#include <cstdint>
#include <string>

namespace addfdlab::agent {

// Inputs may name fds in [0, kInputFdLimit). The harness's own fds in a target sit at
// [kHarnessFdBase, kHarnessFdBase + tasks), well above that window.
inline constexpr int kInputFdLimit = 256;
inline constexpr int kHarnessFdBase = 512;
// A target's RLIMIT_NOFILE soft limit at baseline.
inline constexpr uint64_t kBaselineNofile = 1024;
// Tasks per target: the leader (task 0) and up to kMaxCallers tasks sharing its fd table.
inline constexpr int kMaxCallers = 4;
inline constexpr int kMaxTasks = 1 + kMaxCallers;
// The trapped syscall. tuxcall is reserved and has no implementation on x86-64: no libc or
// sanitizer runtime ever makes it, so the filter never catches the harness.
inline constexpr int kTrapSyscall = SYS_tuxcall;
// The second trapped syscall, whose real call has a visible effect (a CONTINUE reply runs
// it: SEND.CONTINUE.RUNS): dup, only when its argument carries kDupTrapTag in its upper 32
// bits. x86-64's dup takes an unsigned int, so the tag is cut away when the syscall runs;
// no libc, agent or sanitizer code passes such an argument.
inline constexpr int kDupTrapSyscall = SYS_dup;
inline constexpr uint32_t kDupTrapTag = 0xadfd0d0bu;
// The argument of a trapped dup of `fd`: the tag above the fd's low 32 bits.
inline constexpr uint64_t DupTrapArg(int64_t fd) {
  return (static_cast<uint64_t>(kDupTrapTag) << 32) | static_cast<uint32_t>(fd);
}

enum class Command : uint32_t {
  kPing = 0,       // reply 0
  kTrap,           // syscall(kTrapSyscall, args[0..5]); reply its return and errno
  kOpenDevNull,    // open("/dev/null", args[0] flags)
  kClose,          // close(args[0])
  kDup,            // fcntl(args[0], F_DUPFD or F_DUPFD_CLOEXEC if args[1], args[2])
  kDup3,           // dup3(args[0], args[1], args[2] flags)
  kPipe,           // pipe2(args[0] flags): values[0], values[1]
  kSocketpair,     // socketpair(AF_UNIX, SOCK_STREAM | args[0]): values[0], values[1]
  kMemfd,          // memfd_create("addfdlab-target", args[0] flags)
  kSetNofile,      // setrlimit(RLIMIT_NOFILE, soft = args[0], hard unchanged)
  kSigaction,      // signal args[0]: args[1] 0 default, 1 handler, 2 ignore; args[2] SA_RESTART
  kOpenFifo,       // open(task args[1]'s FIFO, O_RDONLY | args[0]); blocks until a writer
  kListFds,        // the fd table: entries[] (fd, fd flags), count
  kInstallFilter,  // seccomp(SET_MODE_FILTER, args[0], the notify filter); closes a listener
  kReset,          // back to baseline: close inputs' fds (leader), rlimit, every signal
                   // at its default; with args[0] != 0 the fds only (the caller knows no
                   // handler or limit changed); reply 0
  kSignalCount,    // how many handled signals this task has caught
  kFcntlGetfd,     // fcntl(args[0], F_GETFD)
  // Loops for the benchmarks (bench/): many round trips with one command, so that the
  // control socket is not part of what they time.
  kTrapLoop,    // args[0] times syscall(kTrapSyscall, args[3], args[4], args[5]); after each,
                // close a returned fd (never a harness fd) when args[1] != 0, and
                // close_range(0, args[2] - 1) when args[2] > 0 (args[2] <= kHarnessFdBase).
                // ret: traps made; values[0]: the last return; values[1]: how many returned
                // -1; values[2]: the last errno
  kRecvFdLoop,  // args[0] times: recvmsg one byte with an SCM_RIGHTS fd from socket args[1],
                // close that fd when args[2] != 0, send one byte back. ret: fds received;
                // values[0]: the last one; stops at the first failure (err)
  kDupMany,     // args[1] times fcntl(args[0], args[2] ? F_DUPFD_CLOEXEC : F_DUPFD, 0): fills
                // the lowest free numbers. ret: dups made; stops at the first failure (err)
  // The stress mode's loop (stress.h): args[0] attempts of syscall(kTrapSyscall,
  // StressTrapArg(tag, i), kStressMagic); each return is checked against the reply the
  // supervisor makes for that attempt (StressReplyFor: the value, or an fd holding the file
  // of inode args[2] (ADDFD|SEND) or args[3] (plain ADDFD, then SEND)), a verified fd is
  // closed, and the attempt's StressSlot is written to the memfd at the fd args[4] names.
  // args[1]: the seed; args[4]: StressLoopArg(tag, kinds mask, shm fd). ret: attempts made;
  // values[0]: attempts whose return did not check; values[1]: attempts during which the
  // task caught a signal.
  kStressLoop,
  // KCOV for this task (kcov.h): open kKcovPath, KCOV_INIT_TRACE(args[0] words),
  // KCOV_ENABLE(KCOV_TRACE_PC). ret: the kcov fd, which the supervisor copies
  // (pidfd_getfd: the copy maps the same buffer) and then closes with kClose.
  kKcovEnable,
  kTrapDup,  // syscall(kDupTrapSyscall, DupTrapArg(args[0])); reply its return and errno
  // A new task sharing the table, serving the control socket it gets at kHarnessFdBase +
  // args[0] (the RLIMIT_NOFILE soft limit raised to the hard one while it is made). With
  // args[1] == 0 a process: clone CLONE_FILES, as the callers, with CLONE_PARENT from a task
  // outside the leader's thread group, so that a thread of the leader is every process's
  // parent. Else a thread of the caller's group (pthread_create). ret: its pid (thread id);
  // the supervisor's end of that socket comes with the reply (SCM_RIGHTS) and leaves this
  // table.
  kSpawn,
};

struct Request {
  Command command = Command::kPing;
  uint32_t reserved = 0;
  int64_t args[6] = {};
};

inline constexpr int kMaxListed = 120;

struct FdEntry {
  int32_t fd;
  int32_t fd_flags;
};

struct Reply {
  int64_t ret = 0;
  int32_t err = 0;  // positive errno, 0 on success
  int32_t count = 0;
  int64_t values[kMaxTasks] = {};
  FdEntry entries[kMaxListed] = {};
};

// The stress mode's trap and reply protocol, shared by the agent's kStressLoop and the
// supervisor (stress.h): both derive each attempt's reply kind from the seed.
enum class StressReply : uint8_t {
  kSend = 0,          // NOTIF_SEND val = StressSendValue(attempt)
  kAddFdSend = 1,     // ADDFD SETFD|SEND at StressSetFd(tag): the syscall returns that fd
  kAddFdThenSend = 2  // plain ADDFD (the lowest free fd), then NOTIF_SEND val = that fd
};
inline constexpr unsigned kStressReplyKinds = 3;
// args[1] of every stress trap, so that a foreign notification is recognised.
inline constexpr uint64_t kStressMagic = 0x5354524553530a00ULL;
inline constexpr int kStressSetFdBase = 200;  // ADDFD|SEND's number: base + tag (< 256)
inline constexpr int kStressShmFd = 300;      // where the supervisor installs the slots memfd
inline constexpr int64_t StressSendValue(int64_t attempt) { return 1000000 + attempt; }
inline constexpr int StressSetFd(int tag) { return kStressSetFdBase + tag; }
inline constexpr uint64_t StressTrapArg(int tag, int64_t attempt) {
  return (static_cast<uint64_t>(tag) << 32) | static_cast<uint32_t>(attempt);
}
inline constexpr int64_t StressLoopArg(int tag, unsigned kinds, int shm_fd) {
  return static_cast<int64_t>(static_cast<unsigned>(tag) | (kinds << 8) |
                              (static_cast<unsigned>(shm_fd) << 16));
}
constexpr uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
// The reply kind of attempt `attempt` of task `tag`: one of the kinds in `kinds` (a mask of
// 1 << StressReply), chosen by the seed.
constexpr StressReply StressReplyFor(uint64_t seed, int tag, int64_t attempt, unsigned kinds) {
  unsigned count = 0;
  for (unsigned k = 0; k < kStressReplyKinds; ++k) count += (kinds >> k) & 1u;
  if (count == 0) return StressReply::kSend;
  unsigned pick = static_cast<unsigned>(
      SplitMix64(seed ^ StressTrapArg(tag, attempt) * 0x2545f4914f6cdd1dULL) % count);
  for (unsigned k = 0; k < kStressReplyKinds; ++k) {
    if (((kinds >> k) & 1u) == 0) continue;
    if (pick-- == 0) return static_cast<StressReply>(k);
  }
  return StressReply::kSend;
}
// What the target saw for one attempt, written by kStressLoop into the slots memfd (task
// `tag`'s attempts start at tag * attempts slots).
enum class StressCheck : uint8_t {
  kOk = 0,
  kWrongValue,  // the return is not the reply's value (or the fd number it was to get)
  kDangling,    // an fd return that is not open
  kWrongFile,   // an fd return holding another file than the reply's
  kFailed,      // the syscall returned -1 (err)
};
struct StressSlot {
  int64_t ret = 0;
  int32_t err = 0;
  StressCheck check = StressCheck::kOk;
  uint8_t signalled = 0;  // the task caught a signal during the attempt
  uint8_t done = 0;       // the attempt returned
  uint8_t reserved = 0;
};
static_assert(sizeof(StressSlot) == 16);

// Everything a forked leader needs, prepared before the fork: no allocation after it.
struct AgentConfig {
  int control_fds[kMaxTasks] = {};  // the child ends, at whatever numbers they have
  int callers = 2;
  bool install_filter = true;
  unsigned filter_flags = 0;
  const void* filter_prog = nullptr;  // const sock_fprog*
  char fifo_path[108] = {};
  int parent_pid = 0;
  // When > 0, every task runs SCHED_FIFO at this priority, below the supervisor's threads
  // (deterministic interleavings that other load on the CPU cannot disturb).
  int fifo_priority = 0;
  // Every task runs SCHED_IDLE from the hello on (the executor's idle mode).
  bool sched_idle = false;
  // Clone flags for new namespaces (PidNamespaceAccess()'s, or 0): the leader is then
  // its pid namespace's init, its parent outside it (getppid() is 0).
  unsigned long ns_flags = 0;
};

// Why a task exited before it could serve: its exit code. A leader that sent its hello
// exits only with 0 (the supervisor's socket closed) or by a signal.
enum class LeaderExit : uint8_t {
  kParentGone = 1,   // its parent (the supervisor or spawner; a caller's: the leader) had died
  kTableLayout = 2,  // its fd table could not be laid out (RLIMIT_NOFILE, control sockets)
  kCloneFailed = 3,  // cloning a caller failed
  kHelloFailed = 5,  // sending the hello (and the listener) failed
};

// The exit code (WEXITSTATUS, siginfo's si_status) of a task that died before its hello,
// in words: "exit code 2: its fd table could not be laid out". For the supervisor: the
// agent itself never allocates.
std::string DescribeLeaderExit(int status);

// Runs a target's leader in a freshly forked child; never returns.
[[noreturn]] void RunLeader(const AgentConfig& config);

}  // namespace addfdlab::agent

#endif  // ADDFDLAB_AGENT_PROTOCOL_H_
