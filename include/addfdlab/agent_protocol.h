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
