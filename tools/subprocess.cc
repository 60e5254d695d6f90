// Child processes: posix_spawn with redirections, waits bounded by a pidfd poll.
#include "subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

extern char** environ;

namespace addfdlab::tools {
namespace {

volatile sig_atomic_t g_interrupted = 0;
void OnInterrupt(int) { g_interrupted = 1; }

// The fds a child's outputs go to, owned here until the spawn is done.
struct Redirections {
  UniqueFd log;
  UniqueFd null;
  UniqueFd pipe_read;
  UniqueFd pipe_write;
};

// The fd `output` names (opening what it needs), or -1 to leave the stream alone; false
// when a file or pipe cannot be opened.
bool Target(Output output, const SpawnOptions& options, Redirections& r, int* fd) {
  *fd = -1;
  switch (output) {
    case Output::kInherit:
      return true;
    case Output::kStderr:
      *fd = 2;
      return true;
    case Output::kNull:
      if (!r.null) r.null.reset(::open("/dev/null", O_WRONLY | O_CLOEXEC));
      *fd = r.null.get();
      return r.null.valid();
    case Output::kPipe:
      if (!r.pipe_write) {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) return false;
        r.pipe_read.reset(fds[0]);
        r.pipe_write.reset(fds[1]);
      }
      *fd = r.pipe_write.get();
      return true;
    case Output::kLog:
      if (!r.log) {
        r.log.reset(::open(options.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
      }
      *fd = r.log.get();
      return r.log.valid();
  }
  return false;
}

}  // namespace

InterruptScope::InterruptScope() {
  struct sigaction act {};
  act.sa_handler = OnInterrupt;
  ::sigaction(SIGINT, &act, nullptr);
  ::sigaction(SIGTERM, &act, nullptr);
}

InterruptScope::~InterruptScope() {
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
}

bool Interrupted() { return g_interrupted != 0; }

int ExitStatus::code() const {
  if (!started || timed_out || !WIFEXITED(wait_status)) return -1;
  return WEXITSTATUS(wait_status);
}

std::string ExitStatus::Problem() const {
  if (!started) return "could not start";
  if (timed_out) return "stopped after its deadline";
  if (WIFSIGNALED(wait_status)) return std::string("killed by ") + strsignal(WTERMSIG(wait_status));
  if (WEXITSTATUS(wait_status) != 0)
    return "exit status " + std::to_string(WEXITSTATUS(wait_status));
  return "";
}

std::optional<Subprocess> Subprocess::Spawn(const std::vector<std::string>& argv,
                                            const SpawnOptions& options) {
  if (argv.empty()) return std::nullopt;
  Redirections r;
  int out_fd = -1;
  int err_fd = -1;
  if (!Target(options.stdout_to, options, r, &out_fd) ||
      !Target(options.stderr_to, options, r, &err_fd)) {
    return std::nullopt;
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (out_fd >= 0) posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  if (err_fd >= 0) posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  if (options.own_process_group) {
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
  }
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return std::nullopt;
  Subprocess child(pid, options.own_process_group, options.forward_interrupt);
  child.output_ = std::move(r.pipe_read);
  return child;
}

void Subprocess::Signal(int signal) const { ::kill(group_ ? -pid_ : pid_, signal); }

bool Subprocess::ForwardInterrupt() {
  if (Interrupted() && !forwarded_) {
    // A group leader's whole group: libFuzzer's fork mode runs its jobs through system(),
    // which ignores SIGINT in the parent while they run.
    Signal(SIGINT);
    forwarded_ = true;
  }
  return forwarded_;
}

ExitStatus Subprocess::Wait(Clock::time_point deadline) {
  const UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
  bool late = false;
  for (;;) {
    int status = 0;
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_ || (done < 0 && errno != EINTR)) {
      return ExitStatus{true, late, status};
    }
    if (forward_) ForwardInterrupt();
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      if (!late) {
        Signal(SIGTERM);
        late = true;
        deadline = Clock::now() + std::chrono::seconds(5);
      } else {
        Signal(SIGKILL);
      }
    }
    const int timeout = static_cast<int>(std::clamp<long>(left.count(), 0, 200));
    if (pidfd) {
      struct pollfd pfd {
        pidfd.get(), POLLIN, 0
      };
      ::poll(&pfd, 1, timeout);
    } else {
      // No pidfd (before Linux 5.3): look again in a moment.
      ::poll(nullptr, 0, std::min(timeout, 50));
    }
  }
}

std::optional<ExitStatus> Subprocess::Poll(std::chrono::milliseconds up_to) {
  const UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
  if (pidfd) {
    struct pollfd pfd {
      pidfd.get(), POLLIN, 0
    };
    ::poll(&pfd, 1, static_cast<int>(up_to.count()));
  } else {
    ::poll(nullptr, 0, static_cast<int>(std::min<long>(up_to.count(), 50)));
  }
  int status = 0;
  const pid_t done = ::waitpid(pid_, &status, WNOHANG);
  if (done == pid_ || (done < 0 && errno != EINTR && errno != EAGAIN)) {
    return ExitStatus{true, false, status};
  }
  return std::nullopt;
}

int RunLogged(const std::vector<std::string>& argv, const std::string& log) {
  SpawnOptions options;
  options.stdout_to = options.stderr_to = Output::kLog;
  options.log = log;
  std::optional<Subprocess> child = Subprocess::Spawn(argv, options);
  if (!child) return -1;
  return child->Wait().code();
}

std::string Capture(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  SpawnOptions options;
  options.stdout_to = Output::kPipe;
  options.stderr_to = Output::kNull;
  std::optional<Subprocess> child = Subprocess::Spawn(argv, options);
  if (!child) return "";
  const auto deadline = Subprocess::Clock::now() + timeout;
  std::string out;
  char buf[512];
  for (;;) {
    struct pollfd pfd {
      child->output().get(), POLLIN, 0
    };
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Subprocess::Clock::now())
            .count();
    if (left <= 0 || ::poll(&pfd, 1, static_cast<int>(left)) <= 0) break;
    const ssize_t n = ::read(child->output().get(), buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  child->CloseOutput();
  child->Wait(Subprocess::Clock::now() + std::chrono::seconds(1));
  return out;
}

}  // namespace addfdlab::tools
