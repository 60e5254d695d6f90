// The spawner: target leaders forked from a small re-executed copy of this program.
#include "addfdlab/spawner.h"

#include <linux/filter.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "addfdlab/environment.h"
#include "addfdlab/namespaces.h"
#include "addfdlab/scm_rights.h"

extern char** environ;

namespace addfdlab {
namespace {

constexpr int kMaxFilter = 256;

struct SpawnRequest {
  agent::AgentConfig config;  // control_fds, filter_prog and parent_pid are the spawner's
  cpu_set_t cpus;             // the requesting thread's affinity, which the leader takes
  uint16_t filter_len = 0;
  sock_filter filter[kMaxFilter];
};

struct SpawnReply {
  int err = 0;
  pid_t pid = -1;
};

static_assert(agent::kMaxTasks <= kMaxScmFds, "one message carries every task's control fd");

// SendWithFds, retried on EINTR: true when all `size` bytes went.
bool SendRetrying(int sock, const void* bytes, size_t size, const int* fds, int count) {
  ssize_t n;
  do {
    n = SendWithFds(sock, bytes, size, fds, count);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(size);
}

// Receives one message of exactly `size` bytes, retried on EINTR; the fds attached go to
// `fds` (at most agent::kMaxTasks; *count of them). EPIPE: the peer is gone; EPROTO: a
// message of another size.
Result<void> RecvRetrying(int sock, void* bytes, size_t size, int* fds, int* count) {
  ssize_t n;
  do {
    n = RecvWithFds(sock, bytes, size, fds, agent::kMaxTasks, count, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Errno::Last();
  if (n == 0) return Errno(EPIPE);
  if (n != static_cast<ssize_t>(size)) return Errno(EPROTO);
  return {};
}

// True when a socket call failed because the other end is gone.
bool PeerGone(const Error& error) { return error == Errno(EPIPE) || error == Errno(ECONNRESET); }

[[noreturn]] void ServeSpawner(int sock) {
  // Leaders, and callers orphaned by their leader's death, are reaped as they exit.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  ::signal(SIGCHLD, SIG_IGN);
  static SpawnRequest req;
  static sock_fprog prog;
  for (;;) {
    int fds[agent::kMaxTasks];
    int count = 0;
    const Result<void> received = RecvRetrying(sock, &req, sizeof(req), fds, &count);
    if (!received && PeerGone(received.error())) ::_exit(0);  // the supervisor is gone
    SpawnReply reply;
    const int tasks = 1 + req.config.callers;
    if (!received || count != tasks || req.filter_len > kMaxFilter) {
      reply.err = received ? EPROTO : received.error().value();
    } else {
      agent::AgentConfig config = req.config;
      for (int t = 0; t < tasks; ++t) config.control_fds[t] = fds[t];
      prog.len = req.filter_len;
      prog.filter = req.filter;
      config.filter_prog = &prog;
      config.parent_pid = ::getpid();
      // A raw clone, as the leader makes its callers: the single-threaded spawner holds no
      // lock, and fork()'s handlers (the sanitizers' lock-everything) cost more than the copy.
      const pid_t pid = CloneProcess(config.ns_flags);
      if (pid == 0) {
        ::close(sock);
        ::sched_setaffinity(0, sizeof(req.cpus), &req.cpus);
        agent::RunLeader(config);
      }
      reply.err = pid < 0 ? errno : 0;
      reply.pid = pid;
    }
    for (int i = 0; i < count; ++i) ::close(fds[i]);
    const int pidfd =
        reply.pid > 0 ? static_cast<int>(::syscall(SYS_pidfd_open, reply.pid, 0)) : -1;
    if (reply.pid > 0 && pidfd < 0) reply.err = errno;
    SendRetrying(sock, &reply, sizeof(reply), &pidfd, pidfd >= 0 ? 1 : 0);
    if (pidfd >= 0) ::close(pidfd);
  }
}

// This executable, started as the spawner, serves before main() runs.
__attribute__((constructor)) void RunSpawnerIfAsked() {
  const int sock = TakeSpawnerFd();
  if (sock >= 0) ServeSpawner(sock);
}

class Spawner {
 public:
  Result<SpawnedLeader> Spawn(const agent::AgentConfig& config, const std::vector<int>& fds) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!sock_ && !Start()) break;
      auto leader = Ask(config, fds);
      if (leader || !PeerGone(leader.error())) return leader;
      Stop();  // it died (killed with the thread that started it?): start another
    }
    return Fork(config);
  }

  pid_t pid() {
    std::lock_guard<std::mutex> lock(mutex_);
    return pid_;
  }
  int fd() {
    std::lock_guard<std::mutex> lock(mutex_);
    return sock_.get();
  }

 private:
  bool Start() {
    if (disabled_ || ReadEnvironment().no_spawner) return false;
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
      disabled_ = true;
      return false;
    }
    UniqueFd mine(pair[0]);
    UniqueFd theirs(pair[1]);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
    env_strings.push_back(std::string(kSpawnerFdVariable) + "=" + std::to_string(theirs.get()));
    std::vector<char*> env;
    for (std::string& s : env_strings) env.push_back(s.data());
    env.push_back(nullptr);
    char name[] = "addfdlab-spawner";
    char* argv[] = {name, nullptr};
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    // dup2 onto itself clears FD_CLOEXEC in the child only.
    ::posix_spawn_file_actions_adddup2(&actions, theirs.get(), theirs.get());
    pid_t pid = -1;
    const int err = ::posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv, env.data());
    ::posix_spawn_file_actions_destroy(&actions);
    if (err != 0) {
      disabled_ = true;
      return false;
    }
    pid_ = pid;
    sock_ = std::move(mine);
    return true;
  }

  void Stop() {
    sock_.reset();
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      siginfo_t info{};
      ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED);
    }
    pid_ = -1;
  }

  Result<SpawnedLeader> Ask(const agent::AgentConfig& config, const std::vector<int>& fds) {
    static SpawnRequest req;  // large: kept off the stack, used under mutex_
    req.config = config;
    ::sched_getaffinity(0, sizeof(req.cpus), &req.cpus);
    const auto* prog = static_cast<const sock_fprog*>(config.filter_prog);
    req.filter_len = 0;
    if (prog != nullptr) {
      if (prog->len > kMaxFilter) return Errno(E2BIG);
      req.filter_len = prog->len;
      std::memcpy(req.filter, prog->filter, sizeof(sock_filter) * prog->len);
    }
    if (!SendRetrying(sock_.get(), &req, sizeof(req), fds.data(), static_cast<int>(fds.size()))) {
      return Errno(errno == 0 ? EPIPE : errno);
    }
    SpawnReply reply;
    int pidfd = -1;
    int count = 0;
    ADDFDLAB_TRY(RecvRetrying(sock_.get(), &reply, sizeof(reply), &pidfd, &count));
    if (reply.err != 0) return Error(Errno(reply.err), "the spawner's clone or pidfd_open failed");
    if (count != 1) return Errno(EPROTO);
    SpawnedLeader leader;
    leader.pid = reply.pid;
    leader.pidfd.reset(pidfd);
    leader.via_spawner = true;
    return leader;
  }

  static Result<SpawnedLeader> Fork(const agent::AgentConfig& config) {
    const pid_t pid = config.ns_flags != 0 ? CloneProcess(config.ns_flags) : ::fork();
    if (pid < 0) return Errno::Last();
    if (pid == 0) agent::RunLeader(config);
    SpawnedLeader leader;
    leader.pid = pid;
    const long pidfd = ::syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) return Errno::Last();
    leader.pidfd.reset(static_cast<int>(pidfd));
    return leader;
  }

  std::mutex mutex_;
  UniqueFd sock_;
  pid_t pid_ = -1;
  bool disabled_ = false;
};

Spawner& TheSpawner() {
  static Spawner* spawner = new Spawner;  // never destroyed: its socket closes at exit
  return *spawner;
}

}  // namespace

Result<SpawnedLeader> SpawnLeader(const agent::AgentConfig& config,
                                  const std::vector<int>& control_fds) {
  return TheSpawner().Spawn(config, control_fds);
}

pid_t SpawnerPid() { return TheSpawner().pid(); }
int SpawnerFd() { return TheSpawner().fd(); }

}  // namespace addfdlab
