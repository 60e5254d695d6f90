// Target: forks the agent, receives its listener, and talks to its tasks.
#include "addfdlab/target.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "addfdlab/environment.h"
#include "addfdlab/namespaces.h"
#include "addfdlab/scm_rights.h"
#include "addfdlab/spawner.h"
#include "addfdlab/supervisor.h"

namespace addfdlab {
namespace {

const Result<NotifyFilter>& TrapFilter() {
  static const Result<NotifyFilter> filter = [] {
    const int trapped[] = {agent::kTrapSyscall};
    const TaggedSyscall tagged[] = {{agent::kDupTrapSyscall, agent::kDupTrapTag}};
    return NotifyFilter::Build(trapped, 1, tagged, 1);
  }();
  return filter;
}

constexpr char kFifoDirPrefix[] = "addfdlab-fifos-";

}  // namespace

// A process killed, or one that left with _exit() (a forked supervisor), runs no atexit
// handler.
void SweepDeadFifoDirs() {
  namespace fs = std::filesystem;
  std::error_code ec;
  // increment(ec), not ++: a folder that goes while we read must not throw.
  for (fs::directory_iterator it("/tmp", ec), last; !ec && it != last; it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    const std::string name = entry.path().filename().string();
    if (name.rfind(kFifoDirPrefix, 0) != 0) continue;
    char* end = nullptr;
    const long pid = std::strtol(name.c_str() + std::strlen(kFifoDirPrefix), &end, 10);
    struct stat st {};
    if (pid <= 0 || *end != '-' || ::lstat(entry.path().c_str(), &st) != 0 ||
        !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) {
      continue;
    }
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    std::error_code inner;
    for (fs::directory_iterator f(entry.path(), inner), fend; !inner && f != fend;
         f.increment(inner)) {
      if (f->path().filename().string().rfind("fifo-", 0) == 0) ::unlink(f->path().c_str());
    }
    ::rmdir(entry.path().c_str());
  }
}

namespace {

// One folder per process for the targets' FIFOs (a folder per target cost a slow rmdir
// each), named after the process so that a later one can remove it if this one cannot;
// removed at exit once the FIFOs in it are gone.
const std::string& FifoDir() {
  static const std::string dir = [] {
    SweepDeadFifoDirs();
    static pid_t owner = ::getpid();
    std::string path = "/tmp/" + std::string(kFifoDirPrefix) + std::to_string(owner) + "-XXXXXX";
    if (::mkdtemp(path.data()) == nullptr) return std::string();
    static std::string made;
    made = path;
    // Forked children inherit the handler: only the process that made it removes it.
    std::atexit([] {
      if (::getpid() == owner) ::rmdir(made.c_str());
    });
    return made;
  }();
  return dir;
}

Result<UniqueFd> PidfdOpen(pid_t pid, unsigned flags = 0) {
  const long ret = ::syscall(SYS_pidfd_open, pid, flags);
  if (ret < 0) return Errno::Last();
  return UniqueFd(static_cast<int>(ret));
}

// Receives the leader's hello and, when it has one, the listener.
Result<agent::Reply> RecvHello(int control, UniqueFd& listener, Clock::time_point deadline) {
  if (!WaitReadable(control, deadline)) return Errno(ETIMEDOUT);
  agent::Reply hello;
  int fd = -1;
  int count = 0;
  const ssize_t n = RecvWithFds(control, &hello, sizeof(hello), &fd, 1, &count, MSG_CMSG_CLOEXEC);
  if (n < 0) return Errno::Last();
  if (n != static_cast<ssize_t>(sizeof(hello))) return Errno(EPIPE);
  if (count > 0) listener.reset(fd);
  return hello;
}

}  // namespace

int PollTimeout(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left + 1);
}

bool WaitReadable(int fd, Clock::time_point deadline) {
  for (;;) {
    struct pollfd pfd {
      fd, POLLIN, 0
    };
    const int rc = ::poll(&pfd, 1, PollTimeout(deadline));
    if (rc > 0) return true;
    if (rc == 0 || errno != EINTR) return false;
  }
}

Limits Limits::FromEnvironment() {
  Limits limits;
  limits.scale = ReadEnvironment().time_scale;
  return limits;
}

agent::Request MakeRequest(agent::Command command, std::initializer_list<int64_t> args) {
  agent::Request req;
  req.command = command;
  size_t i = 0;
  for (int64_t arg : args) {
    if (i < std::size(req.args)) req.args[i++] = arg;
  }
  return req;
}

Result<seccomp_notif> RecvNotification(int listener, Clock::time_point deadline) {
  if (!WaitReadable(listener, deadline)) return Errno(ETIMEDOUT);
  seccomp_notif notif{};
  ADDFDLAB_TRY(NotifRecv(listener, &notif));
  return notif;
}

Result<std::unique_ptr<Target>> Target::Spawn(const TargetConfig& config) {
  auto target = Launch(config);
  if (!target) return target;
  ADDFDLAB_TRY((*target)->AwaitHello());
  return target;
}

Result<std::unique_ptr<Target>> Target::Launch(const TargetConfig& config) {
  if (config.callers < 0 || config.callers > agent::kMaxCallers) {
    return Error::Invalid(std::to_string(config.callers) + " callers (0.." +
                          std::to_string(agent::kMaxCallers) + ")");
  }
  const Result<NotifyFilter>& filter = TrapFilter();
  if (!filter) return filter.error().WithContext("libseccomp could not build the notify filter");
  std::unique_ptr<Target> target(new Target(config));
  const int tasks = 1 + config.callers;

  const std::string& dir = FifoDir();
  if (dir.empty()) return Error(Errno(EACCES), "no folder for the targets' FIFOs (mkdtemp failed)");
  static std::atomic<uint64_t> fifos{0};
  target->fifo_path_ = dir + "/fifo-" + std::to_string(++fifos);
  for (int t = 1; t < tasks; ++t) {
    if (::mkfifo(target->fifo_path(t).c_str(), 0600) < 0) {
      return Error(Errno::Last(), "mkfifo " + target->fifo_path(t));
    }
  }

  agent::AgentConfig agent_config;
  std::vector<UniqueFd> child_ends;
  for (int t = 0; t < tasks; ++t) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
      return Error(Errno::Last(), "socketpair for a control socket");
    }
    target->controls_.emplace_back(pair[0]);
    child_ends.emplace_back(pair[1]);
    agent_config.control_fds[t] = pair[1];
  }
  agent_config.callers = config.callers;
  agent_config.install_filter = config.install_filter;
  agent_config.filter_flags = config.filter_flags;
  agent_config.filter_prog = filter->prog();
  std::snprintf(agent_config.fifo_path, sizeof(agent_config.fifo_path), "%s",
                target->fifo_path_.c_str());
  agent_config.parent_pid = ::getpid();
  agent_config.fifo_priority = config.fifo_priority;
  agent_config.sched_idle = config.sched_idle;
  if (config.pid_ns) agent_config.ns_flags = PidNamespaceAccess().flags;

  std::vector<int> child_fds;
  for (const UniqueFd& fd : child_ends) child_fds.push_back(fd.get());
  auto leader = SpawnLeader(agent_config, child_fds);
  if (!leader) return std::move(leader).error().WithContext("cannot fork the leader");
  child_ends.clear();
  target->pids_.push_back(leader->pid);
  target->busy_.assign(static_cast<size_t>(tasks), false);
  target->pidfds_.push_back(std::move(leader->pidfd));
  target->via_spawner_ = leader->via_spawner;
  return target;
}

Result<void> Target::AwaitHello() {
  const int tasks = 1 + config_.callers;
  auto hello =
      RecvHello(controls_[0].get(), listener_, config_.limits.Deadline(config_.limits.spawn));
  if (!hello) {
    // Say why the leader is gone: its exit code names the step (agent::LeaderExit). The
    // spawner reaps its own children: then only its death is known.
    siginfo_t info{};
    if (!via_spawner_) {
      ::waitid(P_PIDFD, static_cast<id_t>(pidfds_[0].get()), &info, WEXITED | WNOHANG);
    }
    std::string why = "no hello from the leader";
    if (info.si_pid != 0 && info.si_code == CLD_EXITED) {
      why += ": it exited with " + agent::DescribeLeaderExit(info.si_status);
    } else if (info.si_pid != 0) {
      why += ": it was killed by signal " + std::to_string(info.si_status);
    }
    return Error(hello.error().code(), std::move(why));
  }
  filter_errno_ = hello->err;
  for (int t = 1; t < tasks; ++t) {
    auto caller = static_cast<pid_t>(hello->values[t]);
    if (config_.pid_ns && PidNamespaceAccess().flags != 0) {
      // The leader counts in its own namespace: the caller's pid in ours.
      auto outer = OuterPid(pids_[0], caller);
      if (!outer) {
        return std::move(outer).error().WithContext("a caller's pid outside its namespace");
      }
      caller = *outer;
    }
    pids_.push_back(caller);
    auto caller_fd = PidfdOpen(caller);
    if (!caller_fd) return std::move(caller_fd).error().WithContext("pidfd_open of a caller");
    pidfds_.push_back(std::move(*caller_fd));
  }
  // The leader closes its copy of the listener after sending it: one round trip makes sure
  // the table is at its baseline when Spawn returns.
  auto ping = Call(0, MakeRequest(agent::Command::kPing));
  if (!ping) return std::move(ping).error().WithContext("no answer to the first ping");
  return {};
}

Target::~Target() {
  Kill();
  if (!fifo_path_.empty()) {
    for (int t = 1; t < tasks(); ++t) ::unlink(fifo_path(t).c_str());
  }
}

Result<int> Target::SpawnTask(int task, int index, bool thread) {
  if (index < tasks() || index >= agent::kMaxTasks) {
    return Error::Invalid("task index " + std::to_string(index) + " to spawn");
  }
  tainted_ = true;  // the new task and its control socket stay: not reused
  if (::mkfifo(fifo_path(index).c_str(), 0600) < 0 && errno != EEXIST) {
    return Error(Errno::Last(), "mkfifo " + fifo_path(index));
  }
  ADDFDLAB_TRY(Start(task, MakeRequest(agent::Command::kSpawn, {index, thread ? 1 : 0})));
  const int control = controls_[static_cast<size_t>(task)].get();
  if (!WaitReadable(control, config_.limits.Deadline(config_.limits.command))) {
    return Errno(ETIMEDOUT);
  }
  agent::Reply reply;
  int fd = -1;
  int count = 0;
  const ssize_t n = RecvWithFds(control, &reply, sizeof(reply), &fd, 1, &count, MSG_CMSG_CLOEXEC);
  if (n < 0) return Errno::Last();
  UniqueFd ours(count > 0 ? fd : -1);
  busy_[static_cast<size_t>(task)] = false;
  if (n != static_cast<ssize_t>(sizeof(reply))) return Errno(EPIPE);
  if (reply.err != 0) return Errno(reply.err);
  if (!ours) return Error(Errno(EPROTO), "no control socket with the spawned task's pid");
  auto pid = static_cast<pid_t>(reply.ret);
  if (config_.pid_ns && PidNamespaceAccess().flags != 0) {
    auto outer = thread ? OuterTid(task_pid(task), pid) : OuterPid(pids_[0], pid);
    if (!outer)
      return std::move(outer).error().WithContext("a spawned task's pid outside its namespace");
    pid = *outer;
  }
  threaded_ = threaded_ || thread;
  auto pidfd = PidfdOpen(pid, thread ? uapi::kPidfdThread : 0);
  if (!pidfd) return std::move(pidfd).error().WithContext("pidfd_open of a spawned task");
  while (tasks() < index) {  // spawns the run skipped
    pids_.push_back(0);
    pidfds_.emplace_back();
    controls_.emplace_back();
    busy_.push_back(false);
  }
  pids_.push_back(pid);
  pidfds_.push_back(std::move(*pidfd));
  controls_.push_back(std::move(ours));
  busy_.push_back(false);
  return index;
}

Result<void> Target::Start(int task, const agent::Request& req) {
  const auto t = static_cast<size_t>(task);
  if (task < 0 || t >= controls_.size() || busy_[t]) return Errno(EBUSY);
  if (::send(controls_[t].get(), &req, sizeof(req), MSG_NOSIGNAL) < 0) return Errno::Last();
  busy_[t] = true;
  if (req.command == agent::Command::kSigaction || req.command == agent::Command::kSetNofile) {
    tasks_dirty_ = true;
  }
  return {};
}

bool Target::ReplyReady(int task) const {
  struct pollfd pfd {
    controls_[static_cast<size_t>(task)].get(), POLLIN, 0
  };
  return ::poll(&pfd, 1, 0) > 0;
}

Result<agent::Reply> Target::Finish(int task, Clock::time_point deadline) {
  const auto t = static_cast<size_t>(task);
  if (task < 0 || t >= controls_.size() || !busy_[t]) return Errno(EINVAL);
  if (!WaitReadable(controls_[t].get(), deadline)) return Errno(ETIMEDOUT);
  agent::Reply reply;
  const ssize_t n = ::recv(controls_[t].get(), &reply, sizeof(reply), 0);
  if (n < 0) return Errno::Last();
  busy_[t] = false;
  if (n != static_cast<ssize_t>(sizeof(reply))) return Errno(EPIPE);
  return reply;
}

Result<agent::Reply> Target::Call(int task, const agent::Request& req) {
  ADDFDLAB_TRY(Start(task, req));
  return Finish(task, config_.limits.Deadline(config_.limits.command));
}

Result<void> Target::Broadcast(const agent::Request& req) {
  for (int t = 0; t < tasks(); ++t) ADDFDLAB_TRY(Start(t, req));
  for (int t = 0; t < tasks(); ++t) {
    auto reply = Finish(t, config_.limits.Deadline(config_.limits.command));
    if (!reply) return reply.error();
    if (reply->err != 0) return Errno(reply->err);
  }
  return {};
}

bool Target::Alive() const {
  if (killed_) return false;
  for (const UniqueFd& pidfd : pidfds_) {
    struct pollfd pfd {
      pidfd.get(), POLLIN, 0
    };
    if (::poll(&pfd, 1, 0) != 0) return false;
  }
  return true;
}

Result<void> Target::Signal(int task, int sig) {
  const unsigned scope = threaded_ ? uapi::kPidfdSignalThread : 0;
  if (::syscall(SYS_pidfd_send_signal, task_pidfd(task), sig, nullptr, scope) < 0) {
    return Errno::Last();
  }
  return {};
}

void Target::Kill() {
  if (killed_ || pidfds_.empty()) return;
  killed_ = true;
  const auto deadline = config_.limits.Deadline(config_.limits.reap);
  // Callers first, while the leader lives to have them reaped (it ignores SIGCHLD);
  // then the leader, our child.
  for (size_t t = 1; t < pidfds_.size(); ++t) {
    ::syscall(SYS_pidfd_send_signal, pidfds_[t].get(), SIGKILL, nullptr, 0);
  }
  for (size_t t = 1; t < pidfds_.size(); ++t) {
    if (pidfds_[t]) WaitReadable(pidfds_[t].get(), deadline);  // none: a skipped spawn
  }
  ::syscall(SYS_pidfd_send_signal, pidfds_[0].get(), SIGKILL, nullptr, 0);
  WaitReadable(pidfds_[0].get(), deadline);
  ReapExited();
  listener_.reset();
  closed_listener_.reset();
  controls_.clear();
  stat_fds_.clear();
  schedstat_fds_.clear();
}

void Target::CloseListener() {
  if (!listener_) return;
  UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null && ::dup3(null.get(), listener_.get(), O_CLOEXEC) >= 0) {
    closed_listener_ = std::move(listener_);  // the number, now holding /dev/null
  } else {
    listener_.reset();
  }
}

char Target::TaskState(int task) const {
  const auto t = static_cast<size_t>(task);
  if (stat_fds_.size() < pids_.size()) stat_fds_.resize(pids_.size());
  if (!stat_fds_[t]) stat_fds_[t].reset(OpenTaskStat(pids_[t], pids_[t]));
  return stat_fds_[t] ? TaskStateAt(stat_fds_[t].get()) : 0;
}

TaskRunStats Target::RunStats(int task) const {
  const auto t = static_cast<size_t>(task);
  if (schedstat_fds_.size() < pids_.size()) schedstat_fds_.resize(pids_.size());
  if (!schedstat_fds_[t]) schedstat_fds_[t].reset(OpenTaskSchedstat(pids_[t], pids_[t]));
  return schedstat_fds_[t] ? TaskRunStatsAt(schedstat_fds_[t].get()) : TaskRunStats{};
}

Result<KcovArea*> Target::Kcov(int task) {
  kcov_.resize(pids_.size());
  auto& area = kcov_[static_cast<size_t>(task)];
  if (area) return area.get();
  const int64_t words = static_cast<int64_t>(kKcovWords);
  auto reply = Call(task, MakeRequest(agent::Command::kKcovEnable, {words}));
  if (!reply) return reply.error();
  if (reply->ret < 0) return Error(Errno(reply->err), "kcov in the target");
  const RemoteFd remote{static_cast<int>(reply->ret)};
  UniqueFd copy(static_cast<int>(::syscall(SYS_pidfd_getfd, task_pidfd(task), remote.number, 0)));
  const Errno copy_err = Errno::Last();
  // Our copy holds the buffer: the target's fd goes, and its table is as it was.
  auto closed = Call(task, MakeRequest(agent::Command::kClose, {remote.number}));
  if (!copy) return Error(copy_err, "pidfd_getfd of the target's kcov fd");
  if (!closed) return closed.error();
  auto mapped = KcovArea::Map(std::move(copy), kKcovWords);
  if (!mapped) return mapped.error();
  area = std::move(*mapped);
  return area.get();
}

std::vector<int> Target::OwnedFds() const {
  std::vector<int> fds;
  if (closed_listener_) fds.push_back(closed_listener_.get());
  for (const UniqueFd& fd : stat_fds_) {
    if (fd) fds.push_back(fd.get());
  }
  for (const UniqueFd& fd : schedstat_fds_) {
    if (fd) fds.push_back(fd.get());
  }
  if (listener_) fds.push_back(listener_.get());
  for (const UniqueFd& fd : pidfds_) {
    if (fd) fds.push_back(fd.get());
  }
  for (const UniqueFd& fd : controls_) {
    if (fd) fds.push_back(fd.get());
  }
  for (const auto& area : kcov_) {
    if (area) fds.push_back(area->fd());
  }
  return fds;
}

void Target::KillTasks() {
  // Callers first, so that the leader (which ignores SIGCHLD) has them reaped at once.
  for (size_t t = pidfds_.size(); t-- > 0;) {
    ::syscall(SYS_pidfd_send_signal, pidfds_[t].get(), SIGKILL, nullptr, 0);
  }
}

bool Target::ReapExited() {
  bool all = true;
  for (size_t t = 0; t < pidfds_.size(); ++t) {
    if (!pidfds_[t]) continue;  // a spawn the run skipped
    struct pollfd pfd {
      pidfds_[t].get(), POLLIN, 0
    };
    if (::poll(&pfd, 1, 0) <= 0) {
      all = false;
      continue;
    }
    // Our child (the leader), or an orphaned caller when we are its subreaper; ECHILD
    // for a caller its leader reaps.
    siginfo_t info{};
    ::waitid(P_PIDFD, static_cast<id_t>(pidfds_[t].get()), &info, WEXITED | WNOHANG);
    // Signal 0 reaches a zombie someone has yet to reap, and fails once it is reaped
    // (cheaper than looking up /proc/PID, which walks the dead pid's dentries).
    if (::syscall(SYS_pidfd_send_signal, pidfds_[t].get(), 0, nullptr, 0) == 0) all = false;
  }
  return all;
}

}  // namespace addfdlab
