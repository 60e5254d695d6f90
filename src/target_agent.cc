// The target agent: what a forked target runs. It allocates nothing after the fork and
// makes only plain syscalls, so it is safe in a child of a multithreaded, sanitized
// supervisor; the one exception is `spawn ... thread`, whose pthread_create allocates (the
// thread's stack and TLS): the spawner's single-threaded leaders make that safe.
#include <fcntl.h>
#include <linux/kcov.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "addfdlab/agent_protocol.h"
#include "addfdlab/kcov.h"
#include "addfdlab/scm_rights.h"

namespace addfdlab::agent {
namespace {

// Per task: a task is a process (CLONE_FILES, not CLONE_VM) or a thread (`spawn ... thread`,
// pthread_create: its own TLS).
thread_local volatile sig_atomic_t g_caught = 0;
thread_local bool g_leader = true;
thread_local bool g_leader_group = true;  // a thread of the leader's thread group
thread_local int g_pass_fd = -1;          // an fd the reply carries (kSpawn), then closed
// Per target: the same in every task.
int g_tasks = 1;
pid_t g_leader_pid = 0;  // as the leader's pid namespace sees it: what getppid() says
const AgentConfig* g_config = nullptr;

void CountSignal(int) { g_caught = g_caught + 1; }

[[noreturn]] void Exit(LeaderExit why) { ::_exit(static_cast<int>(why)); }

// libc reports failure as -1 and errno; any other value, negative ones too (a trapped
// syscall answered with an error outside [-4095, -1]), is the syscall's return.
void Fill(Reply& reply, long ret) {
  reply.ret = ret;
  reply.err = ret == -1 ? errno : 0;
}

int CloseRange(unsigned first, unsigned last) {
  if (first > last) return 0;
  return static_cast<int>(::syscall(SYS_close_range, first, last, 0));
}

void ListFds(Reply& reply) {
  reply.count = 0;
  for (int fd = 0; fd < kHarnessFdBase + kMaxTasks && reply.count < kMaxListed; ++fd) {
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0) continue;
    reply.entries[reply.count++] = FdEntry{fd, flags};
  }
  reply.ret = reply.count;
}

// Every signal at its default and unblocked, but SIGCHLD ignored (callers are reaped by
// the kernel): the supervisor's handlers (libFuzzer's SIGUSR1/SIGUSR2, the sanitizers')
// must not leak into a target, nor one run's handlers into the next.
void ResetSignals() {
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction act {};
    act.sa_handler = sig == SIGCHLD ? SIG_IGN : SIG_DFL;
    ::sigaction(sig, &act, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

void Reset(bool table_only, Reply& reply) {
  g_caught = 0;
  if (!table_only) {
    // 64 sigactions: only where a run changed a handler or a limit (Target::tasks_dirty).
    ResetSignals();
    struct rlimit limit {};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = kBaselineNofile;
    if (::setrlimit(RLIMIT_NOFILE, &limit) < 0) return Fill(reply, -1);
  }
  if (g_leader) {
    // The table is shared: the leader alone clears what inputs opened.
    if (CloseRange(0, kHarnessFdBase - 1) < 0 ||
        CloseRange(static_cast<unsigned>(kHarnessFdBase + g_tasks), ~0U) < 0) {
      return Fill(reply, -1);
    }
  }
  Fill(reply, 0);
}

bool IsHarnessFd(long fd) { return fd >= kHarnessFdBase && fd < kHarnessFdBase + g_tasks; }

void TrapLoop(const int64_t* a, Reply& reply) {
  int64_t failed = 0;
  long ret = 0;
  int64_t done = 0;
  const bool close_returned = a[1] != 0;
  const unsigned close_below =
      a[2] <= 0 ? 0u : static_cast<unsigned>(a[2] > kHarnessFdBase ? kHarnessFdBase : a[2]);
  for (; done < a[0]; ++done) {
    ret = ::syscall(kTrapSyscall, a[3], a[4], a[5], 0, 0, 0);
    if (ret == -1) {
      ++failed;
      reply.values[2] = errno;
    } else if (close_returned && ret >= 0 && !IsHarnessFd(ret)) {
      ::close(static_cast<int>(ret));
    }
    if (close_below > 0) CloseRange(0, close_below - 1);
  }
  reply.ret = done;
  reply.values[0] = ret;
  reply.values[1] = failed;
}

void RecvFdLoop(const int64_t* a, Reply& reply) {
  const int sock = static_cast<int>(a[1]);
  int64_t done = 0;
  int last = -1;
  for (; done < a[0]; ++done) {
    char byte = 0;
    int fd = -1;
    int count = 0;
    const ssize_t n = RecvWithFds(sock, &byte, 1, &fd, 1, &count, 0);
    if (n != 1) {
      if (n == 0) errno = EPIPE;
      break;
    }
    if (count == 0) {
      errno = EBADMSG;
      break;
    }
    last = fd;
    if (a[2] != 0 && !IsHarnessFd(last)) ::close(last);
    if (::send(sock, &byte, 1, MSG_NOSIGNAL) != 1) break;
  }
  reply.ret = done;
  reply.err = done == a[0] ? 0 : errno;
  reply.values[0] = last;
}

// KCOV_ENABLE binds the buffer to its caller, so each task enables its own; the fd goes
// back to the supervisor, whose copy maps the same buffer.
void KcovEnable(const int64_t* a, Reply& reply) {
  const int fd = ::open(kKcovPath, O_RDWR | O_CLOEXEC);
  if (fd < 0) return Fill(reply, -1);
  if (::ioctl(fd, KCOV_INIT_TRACE, static_cast<unsigned long>(a[0])) != 0 ||
      ::ioctl(fd, KCOV_ENABLE, KCOV_TRACE_PC) != 0) {
    const int err = errno;
    ::close(fd);
    errno = err;
    return Fill(reply, -1);
  }
  Fill(reply, fd);
}

[[noreturn]] void Serve(int control);
bool TieToParent(pid_t parent);

struct ThreadStart {
  int control = -1;
  bool leader_group = false;
  pid_t tid = 0;
  sem_t ready;
};

void* ServeThread(void* arg) {
  auto* start = static_cast<ThreadStart*>(arg);
  const int control = start->control;
  g_leader = false;
  g_leader_group = start->leader_group;
  start->tid = static_cast<pid_t>(::syscall(SYS_gettid));
  ::sem_post(&start->ready);  // `start` is the spawning task's: gone after this
  Serve(control);
}

// A thread of this task's group serving `control`: its id, or -1 with errno.
long SpawnThread(int control) {
  ThreadStart start;
  start.control = control;
  start.leader_group = g_leader_group;
  if (::sem_init(&start.ready, 0, 0) < 0) return -1;
  pthread_attr_t attr;
  ::pthread_attr_init(&attr);
  ::pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  const int err = ::pthread_create(&thread, &attr, ServeThread, &start);
  ::pthread_attr_destroy(&attr);
  if (err != 0) {
    ::sem_destroy(&start.ready);
    errno = err;
    return -1;
  }
  while (::sem_wait(&start.ready) < 0 && errno == EINTR) {
  }
  ::sem_destroy(&start.ready);
  return start.tid;
}

void Spawn(const int64_t* a, Reply& reply) {
  const long index = a[0];
  const bool thread = a[1] != 0;
  if (index < 1 || index >= kMaxTasks) {
    errno = EINVAL;
    return Fill(reply, -1);
  }
  const int control = kHarnessFdBase + static_cast<int>(index);
  // The harness number may lie above a limit the scenario lowered.
  struct rlimit saved {};
  ::getrlimit(RLIMIT_NOFILE, &saved);
  struct rlimit raised = saved;
  raised.rlim_cur = saved.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &raised);
  int pair[2] = {-1, -1};
  long ret = ::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair);
  if (ret == 0) {
    ret = ::dup3(pair[1], control, O_CLOEXEC) < 0 ? -1 : 0;
    const int err = errno;
    ::close(pair[1]);
    errno = err;
  }
  const int err = errno;
  ::setrlimit(RLIMIT_NOFILE, &saved);
  errno = err;
  const bool made = ret == 0;  // the control socket is at its number
  if (made && thread) {
    ret = SpawnThread(control);
  } else if (made) {
    const unsigned long flags = CLONE_FILES | SIGCHLD | (g_leader_group ? 0UL : CLONE_PARENT);
    ret = ::syscall(SYS_clone, flags, 0, 0, 0, 0);
    if (ret == 0) {
      g_leader = false;
      g_leader_group = false;
      g_caught = 0;
      if (!TieToParent(g_leader_pid)) Exit(LeaderExit::kParentGone);
      Serve(control);
    }
  }
  if (made && ret < 0) {
    const int clone_err = errno;
    ::close(control);
    errno = clone_err;
  }
  if (ret < 0 && pair[0] >= 0) {
    const int fail = errno;
    ::close(pair[0]);
    errno = fail;
  }
  Fill(reply, ret);
  if (ret > 0) g_pass_fd = pair[0];
}

void DupMany(const int64_t* a, Reply& reply) {
  int64_t done = 0;
  const int command = a[2] != 0 ? F_DUPFD_CLOEXEC : F_DUPFD;
  for (; done < a[1]; ++done) {
    if (::fcntl(static_cast<int>(a[0]), command, 0) < 0) break;
  }
  reply.ret = done;
  reply.err = done == a[1] ? 0 : errno;
}

StressCheck CheckStressFd(long ret, int64_t ino) {
  struct stat st {};
  if (::fstat(static_cast<int>(ret), &st) < 0) return StressCheck::kDangling;
  if (static_cast<int64_t>(st.st_ino) != ino) return StressCheck::kWrongFile;
  ::close(static_cast<int>(ret));
  return StressCheck::kOk;
}

// One attempt's return against the reply StressReplyFor says the supervisor makes. A
// verified fd is closed; one that does not check is left where it is (it may be another
// task's: the table is shared).
StressCheck CheckStressReturn(StressReply kind, long ret, int tag, int64_t attempt,
                              const int64_t* a) {
  if (ret == -1) return StressCheck::kFailed;
  switch (kind) {
    case StressReply::kSend:
      return ret == StressSendValue(attempt) ? StressCheck::kOk : StressCheck::kWrongValue;
    case StressReply::kAddFdSend:
      if (ret != StressSetFd(tag)) return StressCheck::kWrongValue;
      return CheckStressFd(ret, a[2]);
    case StressReply::kAddFdThenSend:
      if (ret < 0 || ret >= kInputFdLimit) return StressCheck::kWrongValue;
      return CheckStressFd(ret, a[3]);
  }
  return StressCheck::kWrongValue;
}

void StressLoop(const int64_t* a, Reply& reply) {
  const int64_t attempts = a[0] < 0 ? 0 : a[0];
  const auto seed = static_cast<uint64_t>(a[1]);
  const int tag = static_cast<int>(a[4] & 0xff);
  const auto kinds = static_cast<unsigned>((a[4] >> 8) & 0xff);
  const int shm = static_cast<int>((a[4] >> 16) & 0xffff);
  const size_t bytes =
      static_cast<size_t>(tag + 1) * static_cast<size_t>(attempts) * sizeof(StressSlot);
  void* map =
      bytes == 0 ? MAP_FAILED : ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, shm, 0);
  if (map == MAP_FAILED) return Fill(reply, -1);
  StressSlot* slots =
      static_cast<StressSlot*>(map) + static_cast<size_t>(tag) * static_cast<size_t>(attempts);
  int64_t bad = 0;
  int64_t signalled = 0;
  int64_t done = 0;
  for (; done < attempts; ++done) {
    const sig_atomic_t caught = g_caught;
    const long ret = ::syscall(kTrapSyscall, StressTrapArg(tag, done), kStressMagic, 0, 0, 0, 0);
    StressSlot& slot = slots[static_cast<size_t>(done)];
    slot.err = ret == -1 ? errno : 0;
    slot.ret = ret;
    slot.signalled = g_caught != caught ? 1 : 0;
    slot.check = CheckStressReturn(StressReplyFor(seed, tag, done, kinds), ret, tag, done, a);
    slot.done = 1;
    bad += slot.check != StressCheck::kOk ? 1 : 0;
    signalled += slot.signalled;
  }
  ::munmap(map, bytes);
  reply.ret = done;
  reply.values[0] = bad;
  reply.values[1] = signalled;
}

void Execute(const Request& req, Reply& reply) {
  const int64_t* a = req.args;
  const auto i = [&](int k) { return static_cast<int>(a[k]); };
  switch (req.command) {
    case Command::kPing:
      return Fill(reply, 0);
    case Command::kTrap:
      return Fill(reply, ::syscall(kTrapSyscall, a[0], a[1], a[2], a[3], a[4], a[5]));
    case Command::kTrapDup:
      return Fill(reply, ::syscall(kDupTrapSyscall, DupTrapArg(a[0])));
    case Command::kOpenDevNull:
      return Fill(reply, ::open("/dev/null", i(0)));
    case Command::kClose:
      return Fill(reply, ::close(i(0)));
    case Command::kDup:
      return Fill(reply, ::fcntl(i(0), a[1] != 0 ? F_DUPFD_CLOEXEC : F_DUPFD, i(2)));
    case Command::kDup3:
      return Fill(reply, ::dup3(i(0), i(1), i(2)));
    case Command::kPipe: {
      int fds[2] = {-1, -1};
      Fill(reply, ::pipe2(fds, i(0)));
      reply.values[0] = fds[0];
      reply.values[1] = fds[1];
      return;
    }
    case Command::kSocketpair: {
      int fds[2] = {-1, -1};
      Fill(reply, ::socketpair(AF_UNIX, SOCK_STREAM | i(0), 0, fds));
      reply.values[0] = fds[0];
      reply.values[1] = fds[1];
      return;
    }
    case Command::kMemfd:
      return Fill(reply, ::memfd_create("addfdlab-target", static_cast<unsigned>(a[0])));
    case Command::kSetNofile: {
      struct rlimit limit {};
      ::getrlimit(RLIMIT_NOFILE, &limit);
      limit.rlim_cur = static_cast<rlim_t>(a[0]);
      return Fill(reply, ::setrlimit(RLIMIT_NOFILE, &limit));
    }
    case Command::kSigaction: {
      struct sigaction act {};
      act.sa_handler = a[1] == 1 ? CountSignal : a[1] == 2 ? SIG_IGN : SIG_DFL;
      act.sa_flags = a[2] != 0 ? SA_RESTART : 0;
      return Fill(reply, ::sigaction(i(0), &act, nullptr));
    }
    case Command::kOpenFifo: {
      // The task's own FIFO, "<fifo_path>-<args[1]>": a writer on a shared one would let
      // every blocked open return at once.
      char path[sizeof(g_config->fifo_path) + 8];
      size_t n = 0;
      for (; g_config->fifo_path[n] != '\0' && n < sizeof(g_config->fifo_path); ++n) {
        path[n] = g_config->fifo_path[n];
      }
      path[n++] = '-';
      path[n++] = static_cast<char>('0' + static_cast<int>(a[1] % 10));
      path[n] = '\0';
      return Fill(reply, ::open(path, O_RDONLY | i(0)));
    }
    case Command::kListFds:
      return ListFds(reply);
    case Command::kInstallFilter: {
      const long ret = ::syscall(SYS_seccomp, 1 /*SET_MODE_FILTER*/, static_cast<unsigned>(a[0]),
                                 g_config->filter_prog);
      Fill(reply, ret);
      if (ret >= 0 && (static_cast<unsigned long>(a[0]) & SECCOMP_FILTER_FLAG_NEW_LISTENER) != 0) {
        ::close(static_cast<int>(ret));
      }
      return;
    }
    case Command::kReset:
      return Reset(a[0] != 0, reply);
    case Command::kSignalCount:
      return Fill(reply, g_caught);
    case Command::kFcntlGetfd:
      return Fill(reply, ::fcntl(i(0), F_GETFD));
    case Command::kTrapLoop:
      return TrapLoop(a, reply);
    case Command::kRecvFdLoop:
      return RecvFdLoop(a, reply);
    case Command::kDupMany:
      return DupMany(a, reply);
    case Command::kStressLoop:
      return StressLoop(a, reply);
    case Command::kKcovEnable:
      return KcovEnable(a, reply);
    case Command::kSpawn:
      return Spawn(a, reply);
  }
  errno = EINVAL;
  Fill(reply, -1);
}

[[noreturn]] void Serve(int control) {
  for (;;) {
    Request req;
    const ssize_t n = ::recv(control, &req, sizeof(req), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof(req))) ::_exit(0);  // supervisor gone
    Reply reply;
    Execute(req, reply);
    const int pass = g_pass_fd;
    g_pass_fd = -1;
    while (SendWithFds(control, &reply, sizeof(reply), &pass, pass >= 0 ? 1 : 0) < 0) {
      if (errno != EINTR) ::_exit(0);
    }
    if (pass >= 0) ::close(pass);
  }
}

// Dies with `parent`; returns false when the parent is already gone.
// A pid namespace's init sees no parent (getppid() is 0): `parent` is then 0.
bool TieToParent(pid_t parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  return ::getppid() == parent;
}

// Moves the control sockets to kHarnessFdBase + i and closes everything else.
bool LayOutTable(const AgentConfig& config, int tasks) {
  struct rlimit limit {};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_max < kBaselineNofile) return false;
  limit.rlim_cur = kBaselineNofile;
  if (::setrlimit(RLIMIT_NOFILE, &limit) < 0) return false;
  int tmp[kMaxTasks];
  for (int t = 0; t < tasks; ++t) {
    // F_DUPFD returns the lowest free number above the floor, so tmp[] increases.
    tmp[t] = ::fcntl(config.control_fds[t], F_DUPFD, kHarnessFdBase + kMaxTasks);
    if (tmp[t] < 0) return false;
  }
  unsigned next = 0;
  for (int t = 0; t < tasks; ++t) {
    if (tmp[t] > 0 && CloseRange(next, static_cast<unsigned>(tmp[t] - 1)) < 0) return false;
    next = static_cast<unsigned>(tmp[t] + 1);
  }
  if (CloseRange(next, ~0U) < 0) return false;
  for (int t = 0; t < tasks; ++t) {
    if (::dup3(tmp[t], kHarnessFdBase + t, O_CLOEXEC) < 0) return false;
    ::close(tmp[t]);
  }
  return true;
}

void SendHello(int control, const Reply& hello, int listener) {
  if (SendWithFds(control, &hello, sizeof(hello), &listener, listener >= 0 ? 1 : 0) < 0) {
    Exit(LeaderExit::kHelloFailed);
  }
}

}  // namespace

std::string DescribeLeaderExit(int status) {
  static constexpr struct {
    LeaderExit code;
    const char* why;
  } kReasons[] = {
      {LeaderExit::kParentGone, "its parent had died"},
      {LeaderExit::kTableLayout, "its fd table could not be laid out"},
      {LeaderExit::kCloneFailed, "cloning a caller failed"},
      {LeaderExit::kHelloFailed, "sending its hello failed"},
  };
  const char* why = "not an exit code the agent uses";
  for (const auto& reason : kReasons) {
    if (static_cast<int>(reason.code) == status) why = reason.why;
  }
  return "exit code " + std::to_string(status) + ": " + why;
}

void RunLeader(const AgentConfig& config) {
  g_config = &config;
  g_tasks = 1 + config.callers;
  if (!TieToParent(config.ns_flags != 0 ? 0 : config.parent_pid)) Exit(LeaderExit::kParentGone);
  if (config.fifo_priority > 0) {
    // The supervisor's threads are SCHED_FIFO above us on the same CPU: the target runs
    // exactly when every one of them sleeps, and tasks woken in turn run in that order.
    // Callers inherit the policy.
    struct sched_param param {};
    param.sched_priority = config.fifo_priority;
    ::sched_setscheduler(0, SCHED_FIFO, &param);
  }
  if (!LayOutTable(config, g_tasks)) Exit(LeaderExit::kTableLayout);
  // Signals that dump core kill targets all the time: no core files in the caller's folder.
  const struct rlimit no_core {};
  ::setrlimit(RLIMIT_CORE, &no_core);
  ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);

  ResetSignals();

  Reply hello;
  int listener = -1;
  if (config.install_filter) {
    const long ret =
        ::syscall(SYS_seccomp, 1 /*SET_MODE_FILTER*/, config.filter_flags, config.filter_prog);
    Fill(hello, ret);
    // The table is empty below the harness fds: the listener is usually fd 0.
    if (ret >= 0 && (config.filter_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) != 0) {
      listener = static_cast<int>(ret);
    }
  }
  // Callers are cloned after the filter so that they inherit it, and share the table.
  const pid_t leader = ::getpid();
  g_leader_pid = leader;
  for (int t = 1; t < g_tasks; ++t) {
    const long pid = ::syscall(SYS_clone, CLONE_FILES | SIGCHLD, 0, 0, 0, 0);
    if (pid < 0) Exit(LeaderExit::kCloneFailed);
    if (pid == 0) {
      g_leader = false;
      g_leader_group = false;
      if (!TieToParent(leader)) Exit(LeaderExit::kParentGone);
      Serve(kHarnessFdBase + t);
    }
    hello.values[t] = pid;
  }
  hello.values[0] = leader;
  hello.count = g_tasks;
  if (config.sched_idle) {
    // Set up as SCHED_OTHER (a SCHED_IDLE task on a busy CPU starves), then every task
    // SCHED_IDLE before the supervisor hears of them: they run only while it sleeps.
    const struct sched_param idle {};
    for (int t = 0; t < g_tasks; ++t) {
      ::sched_setscheduler(static_cast<pid_t>(hello.values[t]), SCHED_IDLE, &idle);
    }
  }
  SendHello(kHarnessFdBase, hello, listener);
  if (listener >= 0) ::close(listener);
  Serve(kHarnessFdBase);
}

}  // namespace addfdlab::agent
