// Supervisor threads and scheduling.
#include "addfdlab/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/resource.h>
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

FifoAccess ProbeFifo() {
  FifoAccess access;
  std::thread([&access] {
    struct sched_param param {};
    param.sched_priority = kFifoTop;
    if (::sched_setscheduler(0, SCHED_FIFO, &param) == 0) {
      access.top = kFifoTop;
      access.evidence = "sched_setscheduler(SCHED_FIFO, " + std::to_string(kFifoTop) + ") -> 0";
      return;
    }
    access.evidence =
        "sched_setscheduler(SCHED_FIFO, " + std::to_string(kFifoTop) + ") -> " + ErrnoName(errno);
    // Without CAP_SYS_NICE, RLIMIT_RTPRIO's soft limit is the ceiling (sched(7)).
    struct rlimit limit {};
    const rlim_t soft = ::getrlimit(RLIMIT_RTPRIO, &limit) == 0 ? limit.rlim_cur : 0;
    access.evidence += ", RLIMIT_RTPRIO " + std::to_string(soft);
    param.sched_priority = static_cast<int>(std::min<rlim_t>(soft, kFifoTop));
    if (param.sched_priority > 0 && ::sched_setscheduler(0, SCHED_FIFO, &param) == 0) {
      access.top = param.sched_priority;
      access.evidence += ": SCHED_FIFO up to " + std::to_string(access.top);
    }
  }).join();
  return access;
}

const char* SchedModeName(SchedMode mode) {
  switch (mode) {
    case SchedMode::kFifo:
      return "fifo";
    case SchedMode::kIdle:
      return "idle";
    case SchedMode::kFree:
      return "free";
  }
  return "?";
}

std::string DescribeScheduling(const Scheduling& scheduling) {
  std::string what;
  const std::string cpu = "CPU " + std::to_string(scheduling.cpu);
  switch (scheduling.mode) {
    case SchedMode::kFifo:
      what = "SCHED_FIFO supervisor threads over SCHED_OTHER targets on " + cpu;
      break;
    case SchedMode::kIdle:
      what = "SCHED_IDLE targets on " + cpu + " beside a supervisor thread that never leaves it, " +
             (scheduling.thread_cpu != scheduling.cpu
                  ? "its other threads on CPU " + std::to_string(scheduling.thread_cpu)
                  : "its other threads there too (one CPU allowed)");
      break;
    case SchedMode::kFree:
      what = "nothing pinned or prioritised: interleavings are not chosen";
      break;
  }
  return std::string(SchedModeName(scheduling.mode)) + " (" + what + "): " + scheduling.why;
}

Scheduling ChooseScheduling(SchedMode limit, const Features& features, int cpu) {
  Scheduling chosen;
  chosen.cpu = chosen.thread_cpu = cpu;
  std::string no_fifo;
  if (limit < SchedMode::kFifo) {
    no_fifo = "ADDFDLAB_SCHED=" + std::string(SchedModeName(limit));
  } else if (!features.has(Feature::kSchedFifo)) {
    no_fifo = "no SCHED_FIFO (" + features.get(Feature::kSchedFifo).evidence + ")";
  } else if (const FifoAccess access = ProbeFifo(); access.top < kFifoLevels) {
    no_fifo = "no SCHED_FIFO (" + access.evidence + ")";
  } else {
    chosen.mode = SchedMode::kFifo;
    chosen.fifo_top = access.top;
    chosen.why = access.evidence;
    return chosen;
  }
  const auto free = [&chosen](std::string why) {
    chosen.cpu = chosen.thread_cpu = -1;
    chosen.why = std::move(why);
    return chosen;
  };
  if (limit < SchedMode::kIdle) return free(no_fifo);
  // Everything the idle mode needs, tried on a short-lived thread: no privilege, but a
  // container may refuse the CPU or hide /proc.
  std::string refused;
  std::thread([&refused, &chosen, cpu] {
    if (!SetScheduling(cpu, SCHED_IDLE, 0)) {
      refused = "cannot pin to CPU " + std::to_string(cpu) + " as SCHED_IDLE: " + ErrnoName(errno);
      return;
    }
    // The supervisor threads' CPU: the next one this thread may be pinned to (the caller
    // may be pinned already: another executor's).
    const long count = ::sysconf(_SC_NPROCESSORS_CONF);
    for (long i = 1; i < count && chosen.thread_cpu == cpu; ++i) {
      const auto other = static_cast<int>((cpu + i) % count);
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(static_cast<size_t>(other), &set);
      if (::sched_setaffinity(0, sizeof(set), &set) == 0) chosen.thread_cpu = other;
    }
    UniqueFd schedstat(OpenTaskSchedstat(::getpid(), static_cast<pid_t>(::syscall(SYS_gettid))));
    char line[128];
    if (!schedstat || ::pread(schedstat.get(), line, sizeof(line), 0) <= 0) {
      refused = "no /proc/PID/task/TID/schedstat to check runs against their schedule";
    }
  }).join();
  if (!refused.empty()) return free(no_fifo + "; " + refused);
  chosen.mode = SchedMode::kIdle;
  chosen.why =
      no_fifo + (limit < SchedMode::kFifo
                     ? ""
                     : "; CAP_SYS_NICE, or RLIMIT_RTPRIO >= " + std::to_string(kFifoLevels) +
                           ", would give the fifo mode");
  return chosen;
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

CpuClaim ClaimCpu(int asked) {
  CpuClaim claim;
  claim.cpu = ChooseCpu(asked);
  if (asked >= 0 || ReadEnvironment().cpu >= 0) return claim;
  const std::vector<int> allowed = AllowedCpus();
  const size_t first = static_cast<size_t>(::getpid()) % allowed.size();
  for (size_t i = 0; i < allowed.size(); ++i) {
    const int cpu = allowed[(first + i) % allowed.size()];
    char path[64];
    std::snprintf(path, sizeof(path), "/tmp/addfdlab-cpu-%d.lock", cpu);
    // Readable by all: another user's job opens it read-only to take the same lock.
    UniqueFd fd(::open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644));
    if (!fd) fd.reset(::open(path, O_RDONLY | O_CLOEXEC));
    if (!fd) continue;
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
      claim.cpu = cpu;
      claim.lock = std::move(fd);
      return claim;
    }
  }
  return claim;
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

TaskRunStats TaskRunStatsAt(int schedstat_fd) {
  TaskRunStats stats;
  char buf[128];
  // "run_ns wait_ns timeslices\n".
  if (!ReadTaskFile(schedstat_fd, buf)) return stats;
  char* field = buf;
  stats.run_ns = std::strtoull(field, &field, 10);
  stats.wait_ns = std::strtoull(field, &field, 10);
  stats.switches = std::strtoull(field, &field, 10);
  return stats;
}

SupervisorThread::SupervisorThread(int cpu, SchedMode mode, int priority) : mode_(mode), cpu_(cpu) {
  InstallInterruptHandlers();
  thread_ = std::thread([this, cpu, mode, priority] { Loop(cpu, mode, priority); });
  while (tid_.load() == 0) std::this_thread::yield();
  stat_fd_ = OpenTaskStat(::getpid(), tid_.load());
  schedstat_fd_ = OpenTaskSchedstat(::getpid(), tid_.load());
  syscall_fd_ = OpenTaskFile(::getpid(), tid_.load(), "syscall");
}

SupervisorThread::~SupervisorThread() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  Delegate(0);
  if (stat_fd_ >= 0) ::close(stat_fd_);
  if (schedstat_fd_ >= 0) ::close(schedstat_fd_);
  if (syscall_fd_ >= 0) ::close(syscall_fd_);
}

void SupervisorThread::Loop(int cpu, SchedMode mode, int priority) {
  if (mode != SchedMode::kFree) {
    SetScheduling(cpu, mode == SchedMode::kFifo ? SCHED_FIFO : SCHED_OTHER, priority);
  }
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

std::unique_lock<std::mutex> SupervisorThread::Lock() {
  std::unique_lock<std::mutex> lock(mutex_, std::defer_lock);
  if (mode_ == SchedMode::kIdle) {
    // The caller must not sleep: the thread holds the lock for a moment, on another CPU.
    while (!lock.try_lock()) {
    }
  } else {
    lock.lock();
  }
  return lock;
}

bool SupervisorThread::Start(std::function<Outcome()> job, Clock::time_point deadline) {
  {
    const std::unique_lock<std::mutex> lock = Lock();
    job_ = std::move(job);
    has_job_ = true;
    done_ = false;
    busy_.store(true);
  }
  cv_.notify_all();
  // Under SCHED_FIFO the thread has already run until it slept or finished; otherwise
  // wait until it has picked up the job and is asleep in the kernel.
  return AwaitLocked([this] { return done_ || (!has_job_ && AsleepInJob()); }, deadline);
}

bool SupervisorThread::AwaitInterrupted(Clock::time_point deadline) {
  // Until it has run: a wake-up queued for another CPU leaves it asleep for a moment.
  return AwaitLocked([this] { return done_ || (RunNs() != run_ns_at_interrupt_ && AsleepInJob()); },
                     deadline);
}

bool SupervisorThread::AsleepInJob() const {
  // Asleep in the job's ioctl first, then still in the job: once the job is over the thread
  // may sleep again, waiting for the lock the caller holds, but only after it said so.
  return AsleepInIoctl() && running_job_.load();
}

bool SupervisorThread::AwaitLocked(const std::function<bool()>& settled,
                                   Clock::time_point deadline) {
  // In the idle mode the thread runs on another CPU when there is one (Executor): this
  // thread spins and stays on the targets' CPU, where the scheduler would otherwise pick a
  // SCHED_IDLE target whenever this thread has had more than its fair share (EEVDF).
  const bool shared_cpu = mode_ == SchedMode::kIdle && ::sched_getcpu() == cpu_;
  // A SCHED_OTHER thread on a CPU other processes keep busy may wait long for it: while
  // it is runnable, the deadline moves on, up to 4 times the budget in all.
  const auto budget = deadline - Clock::now();
  const auto longest = deadline + 3 * budget;
  for (int round = 0;; ++round) {
    {
      const std::unique_lock<std::mutex> lock = Lock();
      if (settled()) return true;
    }
    if (Clock::now() >= deadline) {
      const char state = TaskStateAt(stat_fd_);
      if (mode_ == SchedMode::kFifo || state != 'R' || Clock::now() >= longest) return false;
      deadline = Clock::now() + budget / 10;
    }
    if (mode_ != SchedMode::kIdle) {
      ::usleep(20);
    } else if (shared_cpu && round < 16) {
      ::sched_yield();  // one CPU only: hand it to the thread
    }
  }
}

uint64_t SupervisorThread::RunNs() const {
  const int fd = delegate_ > 0 ? delegate_schedstat_fd_ : schedstat_fd_;
  return fd >= 0 ? TaskRunStatsAt(fd).run_ns : 0;
}

std::optional<Outcome> SupervisorThread::TryResult() {
  const std::unique_lock<std::mutex> lock = Lock();
  if (!done_) return std::nullopt;
  return outcome_;
}

std::optional<Outcome> SupervisorThread::Result(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!cv_.wait_until(lock, deadline, [this] { return done_; })) return std::nullopt;
  return outcome_;
}

void SupervisorThread::Interrupt(bool restart) {
  run_ns_at_interrupt_ = RunNs();
  if (delegate_ > 0) {
    ::syscall(SYS_tgkill, delegate_, delegate_, InterruptSignal(restart));
    return;
  }
  ::syscall(SYS_tgkill, ::getpid(), tid_.load(), InterruptSignal(restart));
}

void SupervisorThread::Delegate(pid_t pid) {
  for (int* fd : {&delegate_stat_fd_, &delegate_schedstat_fd_, &delegate_syscall_fd_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
  delegate_ = pid;
  if (pid <= 0) return;
  delegate_stat_fd_ = OpenTaskStat(pid, pid);
  delegate_schedstat_fd_ = OpenTaskSchedstat(pid, pid);
  delegate_syscall_fd_ = OpenTaskFile(pid, pid, "syscall");
}

bool SupervisorThread::AsleepInIoctl() const {
  // Every job is one notifier ioctl, and a thread asleep anywhere else (a page fault on
  // its stack, the allocator's lock, the job's hand-over) has not reached the kernel's
  // queue yet. /proc's syscall file reads "running" for a running task, and the syscall
  // number, its arguments and registers for one asleep ("-1 ..." outside a syscall).
  const int stat_fd = delegate_ > 0 ? delegate_stat_fd_ : stat_fd_;
  const auto asleep = [&] {
    const char state = stat_fd >= 0 ? TaskStateAt(stat_fd) : TaskState(::getpid(), tid_.load());
    return state == 'S' || state == 'D';
  };
  char buf[256];
  const int syscall_fd = delegate_ > 0 ? delegate_syscall_fd_ : syscall_fd_;
  // No syscall file (a kernel without CONFIG_HAVE_ARCH_TRACEHOOK): the task state alone.
  if (syscall_fd < 0 || !ReadTaskFile(syscall_fd, buf)) return asleep();
  char* end = nullptr;
  const long nr = std::strtol(buf, &end, 10);
  if (end == buf || nr != SYS_ioctl) return false;
  // A woken task whose wake-up is still on its way to an idle CPU (queued for it, with an
  // IPI: TASK_WAKING) reads as asleep in its syscall there, but as 'R' in its stat.
  return asleep();
}

CpuGuard::CpuGuard(int cpu) {
  thread_ = std::thread([this, cpu] {
    SetScheduling(cpu, SCHED_OTHER, 0);
    for (;;) {
      state_.wait(kSleep);
      uint32_t state;
      while ((state = state_.load(std::memory_order_relaxed)) == kSpin) {
      }
      if (state == kStop) return;
    }
  });
}

CpuGuard::~CpuGuard() {
  state_.store(kStop);
  state_.notify_one();
  thread_.join();
}

void CpuGuard::Arm() {
  state_.store(kSpin);
  state_.notify_one();
}

void CpuGuard::Disarm() { state_.store(kSleep); }

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
