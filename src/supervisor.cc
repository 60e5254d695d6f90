// Supervisor threads and scheduling.
#include "addfdlab/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "addfdlab/environment.h"
#include "addfdlab/result.h"
#include "addfdlab/unique_fd.h"

namespace addfdlab {
namespace {

void NoteInterrupt(int) {}

}  // namespace

void InstallInterruptHandlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (bool restart : {false, true}) {
      struct sigaction act {};
      act.sa_handler = NoteInterrupt;
      act.sa_flags = restart ? SA_RESTART : 0;
      sigemptyset(&act.sa_mask);
      ::sigaction(InterruptSignal(restart), &act, nullptr);
    }
  });
}

int InterruptSignal(bool restart) { return SIGRTMIN + (restart ? 5 : 4); }

bool SetScheduling(int cpu, int policy, int priority) {
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<size_t>(cpu), &set);
    if (::sched_setaffinity(0, sizeof(set), &set) != 0) return false;
  }
  struct sched_param param {};
  param.sched_priority = policy == SCHED_FIFO ? priority : 0;
  // Targets forked by a real-time thread start as SCHED_OTHER.
  const int flags = policy == SCHED_FIFO ? SCHED_RESET_ON_FORK : 0;
  return ::sched_setscheduler(0, policy | flags, &param) == 0;
}

std::vector<int> AllowedCpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(static_cast<size_t>(cpu), &set)) cpus.push_back(cpu);
    }
  }
  if (cpus.empty()) cpus.push_back(0);
  return cpus;
}

int ChooseCpu(int asked) {
  if (asked >= 0) return asked;
  const std::vector<int> allowed = AllowedCpus();
  const int from_env = ReadEnvironment().cpu;
  if (from_env >= 0) {
    if (std::find(allowed.begin(), allowed.end(), from_env) != allowed.end()) return from_env;
    return allowed[static_cast<size_t>(from_env) % allowed.size()];
  }
  return allowed[static_cast<size_t>(::getpid()) % allowed.size()];
}

char TaskState(pid_t pid, pid_t tid) {
  UniqueFd fd(OpenTaskStat(pid, tid));
  return fd ? TaskStateAt(fd.get()) : 0;
}

namespace {

// /proc/PID/task/TID/NAME, for reading.
int OpenTaskFile(pid_t pid, pid_t tid, const char* name) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/task/%d/%s", pid, tid, name);
  return ::open(path, O_RDONLY | O_CLOEXEC);
}

// A /proc task file through a kept fd, NUL-terminated: it is generated afresh on every read
// from offset 0, and a reaped task reads ESRCH (false).
template <size_t N>
bool ReadTaskFile(int fd, char (&buf)[N]) {
  const ssize_t n = ::pread(fd, buf, N - 1, 0);
  if (n <= 0) return false;
  buf[n] = '\0';
  return true;
}

}  // namespace

int OpenTaskStat(pid_t pid, pid_t tid) { return OpenTaskFile(pid, tid, "stat"); }

char TaskStateAt(int stat_fd) {
  char buf[512];
  if (!ReadTaskFile(stat_fd, buf)) return 0;
  // "pid (comm) S ...": comm may hold spaces and parentheses; the state follows the last ')'.
  const char* paren = std::strrchr(buf, ')');
  return paren != nullptr && paren[1] == ' ' ? paren[2] : 0;
}

int OpenTaskSchedstat(pid_t pid, pid_t tid) { return OpenTaskFile(pid, tid, "schedstat"); }

uint64_t TaskSwitchesAt(int schedstat_fd) {
  char buf[128];
  // "run_ns wait_ns timeslices\n".
  if (!ReadTaskFile(schedstat_fd, buf)) return 0;
  const char* field = buf;
  for (int skip = 0; skip < 2 && field != nullptr; ++skip) {
    field = std::strchr(field, ' ');
    if (field != nullptr) ++field;
  }
  return field != nullptr ? std::strtoull(field, nullptr, 10) : 0;
}

SupervisorThread::SupervisorThread(int cpu, bool fifo, int priority) {
  InstallInterruptHandlers();
  thread_ = std::thread([this, cpu, fifo, priority] { Loop(cpu, fifo, priority); });
  while (tid_.load() == 0) std::this_thread::yield();
  stat_fd_ = OpenTaskStat(::getpid(), tid_.load());
}

SupervisorThread::~SupervisorThread() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (stat_fd_ >= 0) ::close(stat_fd_);
}

void SupervisorThread::Loop(int cpu, bool fifo, int priority) {
  if (cpu >= 0) SetScheduling(cpu, fifo ? SCHED_FIFO : SCHED_OTHER, priority);
  tid_.store(static_cast<pid_t>(::syscall(SYS_gettid)));
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || has_job_; });
    if (stop_) return;
    std::function<Outcome()> job = std::move(job_);
    has_job_ = false;
    lock.unlock();
    running_job_.store(true);
    const Outcome outcome = job();
    running_job_.store(false);
    lock.lock();
    outcome_ = outcome;
    done_ = true;
    busy_.store(false);
    cv_.notify_all();
  }
}

bool SupervisorThread::Start(std::function<Outcome()> job, Clock::time_point deadline) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = std::move(job);
    has_job_ = true;
    done_ = false;
    busy_.store(true);
  }
  cv_.notify_all();
  // Under SCHED_FIFO the thread has already run until it slept or finished; otherwise
  // wait until it has picked up the job and is asleep in the kernel.
  while (Clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (done_) return true;
      if (!has_job_ && running_job_.load() && Sleeping()) return true;
    }
    ::usleep(20);
  }
  return false;
}

std::optional<Outcome> SupervisorThread::TryResult() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!done_) return std::nullopt;
  return outcome_;
}

std::optional<Outcome> SupervisorThread::Result(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!cv_.wait_until(lock, deadline, [this] { return done_; })) return std::nullopt;
  return outcome_;
}

void SupervisorThread::Interrupt(bool restart) {
  ::syscall(SYS_tgkill, ::getpid(), tid_.load(), InterruptSignal(restart));
}

bool SupervisorThread::Sleeping() const {
  const char state = stat_fd_ >= 0 ? TaskStateAt(stat_fd_) : TaskState(::getpid(), tid_.load());
  return state == 'S' || state == 'D';
}

IdleWaker::IdleWaker(int cpu)
    : arm_fd_(::eventfd(0, EFD_CLOEXEC)), wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (arm_fd_ < 0 || wake_fd_ < 0) {
    // No thread without its eventfds: WaitIdle() answers false and the owner says why.
    started_ = Error(Errno::Last(), "eventfd");
    return;
  }
  thread_ = std::thread([this, cpu] {
    SetScheduling(cpu, SCHED_OTHER, 0);
    struct sched_param param {};
    ::sched_setscheduler(0, SCHED_IDLE, &param);
    for (;;) {
      uint64_t armed = 0;
      if (::read(arm_fd_, &armed, sizeof(armed)) != sizeof(armed)) {
        if (stop_.load()) return;
        continue;
      }
      if (stop_.load()) return;
      const uint64_t one = 1;
      ::write(wake_fd_, &one, sizeof(one));
    }
  });
}

IdleWaker::~IdleWaker() {
  stop_.store(true);
  if (thread_.joinable()) {
    const uint64_t one = 1;
    ::write(arm_fd_, &one, sizeof(one));
    thread_.join();
  }
  if (arm_fd_ >= 0) ::close(arm_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

bool IdleWaker::WaitIdle(Clock::time_point deadline) {
  if (!thread_.joinable()) return false;
  uint64_t value = 0;
  ::read(wake_fd_, &value, sizeof(value));  // a stale wake from an earlier wait
  const uint64_t one = 1;
  if (::write(arm_fd_, &one, sizeof(one)) != sizeof(one)) return false;
  struct pollfd pfd {
    wake_fd_, POLLIN, 0
  };
  const auto left = std::max<Clock::duration>(deadline - Clock::now(), Clock::duration::zero());
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(left);
  const struct timespec timeout {
    secs.count(), std::chrono::duration_cast<std::chrono::nanoseconds>(left - secs).count()
  };
  if (::ppoll(&pfd, 1, &timeout, nullptr) <= 0) return false;
  return ::read(wake_fd_, &value, sizeof(value)) == sizeof(value);
}

}  // namespace addfdlab
