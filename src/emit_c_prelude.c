/* The fixed runtime of an addfdlab C reproducer (addfdlab repro --emit-c): targets, supervisor
 * threads, quiescence and the checks. libc and raw syscalls only; the scenario's ops follow. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The runtime's functions: a program uses only those its ops need. */
#define RUNTIME static __attribute__((unused))

/* kselftest exit codes. */
#define KSFT_PASS 0
#define KSFT_FAIL 1
#define KSFT_SKIP 4
/* A run in which a target ran outside a quiescence point: repeated. */
#define RUN_OFF_SCHEDULE 3

/* The notifier ABI, spelled out: older headers lack ADDFD and SET_FLAGS. */
struct r_notif_data {
  int nr;
  uint32_t arch;
  uint64_t instruction_pointer;
  uint64_t args[6];
};
struct r_notif {
  uint64_t id;
  uint32_t pid;
  uint32_t flags;
  struct r_notif_data data;
};
struct r_resp {
  uint64_t id;
  int64_t val;
  int32_t error;
  uint32_t flags;
};
struct r_addfd {
  uint64_t id;
  uint32_t flags;
  uint32_t srcfd;
  uint32_t newfd;
  uint32_t newfd_flags;
};
#define R_IOC(dir, nr, size) _IOC(dir, '!', nr, size)
#define R_IOCTL_RECV R_IOC(_IOC_READ | _IOC_WRITE, 0, sizeof(struct r_notif))
#define R_IOCTL_SEND R_IOC(_IOC_READ | _IOC_WRITE, 1, sizeof(struct r_resp))
#define R_IOCTL_ID_VALID R_IOC(_IOC_WRITE, 2, 8)
#define R_IOCTL_ID_VALID_LEGACY R_IOC(_IOC_READ, 2, 8)
#define R_IOCTL_ADDFD(size) R_IOC(_IOC_WRITE, 3, (size))
#define R_IOCTL_SET_FLAGS R_IOC(_IOC_WRITE, 4, 8)
#define R_SET_MODE_FILTER 1
#define R_FILTER_FLAG_NEW_LISTENER (1u << 3)
#define R_FILTER_FLAG_WAIT_KILLABLE_RECV (1u << 5)
#define R_RET_USER_NOTIF 0x7fc00000u
#define R_RET_ALLOW 0x7fff0000u
#define R_ADDFD_FLAG_SETFD (1u << 0)
#define R_ADDFD_FLAG_SEND (1u << 1)
#define R_KCMP_FILE 0
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef __NR_tuxcall
#define __NR_tuxcall 184
#endif
/* The trapped syscall: tuxcall has no implementation on x86-64, libc never makes it. */
#define TRAP_NR __NR_tuxcall
/* The second one: dup, only with DUP_TRAP_TAG in its argument's upper 32 bits (dup takes an
   unsigned int: the tag is cut away when a CONTINUE reply lets it run). */
#define DUP_TRAP_NR __NR_dup
#define DUP_TRAP_TAG 0xadfd0d0bu

/* The target's fd table: inputs below 256, the harness's control sockets at 512 + task. */
#define HARNESS_FD_BASE 512
#define MAX_TASKS 5
#define MAX_TARGETS 2
#define MAX_THREADS 5 /* the named threads, then the one for the main thread's ops */
#define PAGE 4096

enum outcome_kind { OUT_OK, OUT_ERR, OUT_BLOCKED };
struct outcome {
  enum outcome_kind kind;
  int64_t value;
  int err;
};
RUNTIME struct outcome ok_(int64_t v) {
  struct outcome o = {OUT_OK, v, 0};
  return o;
}
RUNTIME struct outcome err_(int e) {
  struct outcome o = {OUT_ERR, 0, e};
  return o;
}
RUNTIME struct outcome blocked_(void) {
  struct outcome o = {OUT_BLOCKED, 0, 0};
  return o;
}

/* ---------------------------------------------------------------- output */

static int g_out = 1;  /* where TAP lines go (a buffer per attempt; see main) */
static int g_test = 0; /* TAP test number */
static int g_passed = 0;
static double g_scale = 1; /* REPRO_TIME_SCALE: every deadline */

RUNTIME void say(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof(buf) - 1) n = (int)sizeof(buf) - 1;
  if (write(g_out, buf, (size_t)n) < 0) return;
}

#define ERRNO_(x) \
  { x, #x }
static const struct {
  int value;
  const char* name;
} kErrnoNames[] = {
    ERRNO_(EPERM),       ERRNO_(ENOENT),     ERRNO_(ESRCH),  ERRNO_(EINTR),  ERRNO_(EIO),
    ERRNO_(E2BIG),       ERRNO_(EBADF),      ERRNO_(EAGAIN), ERRNO_(ENOMEM), ERRNO_(EACCES),
    ERRNO_(EFAULT),      ERRNO_(EBUSY),      ERRNO_(EEXIST), ERRNO_(EINVAL), ERRNO_(ENFILE),
    ERRNO_(EMFILE),      ERRNO_(ENOTTY),     ERRNO_(ENOSPC), ERRNO_(ERANGE), ERRNO_(ENOSYS),
    ERRNO_(EINPROGRESS), ERRNO_(EOPNOTSUPP),
};

RUNTIME const char* errno_name(int e) {
  for (size_t i = 0; i < sizeof(kErrnoNames) / sizeof(kErrnoNames[0]); ++i) {
    if (kErrnoNames[i].value == e) return kErrnoNames[i].name;
  }
  return NULL;
}

RUNTIME void describe(const struct outcome* o, char* buf, size_t size) {
  if (o->kind == OUT_BLOCKED) {
    snprintf(buf, size, "blocked");
  } else if (o->kind == OUT_OK) {
    snprintf(buf, size, "ok %lld", (long long)o->value);
  } else if (errno_name(o->err) != NULL) {
    snprintf(buf, size, "%s", errno_name(o->err));
  } else {
    snprintf(buf, size, "E%d", o->err);
  }
}

RUNTIME int same(const struct outcome* a, const struct outcome* b) {
  if (a->kind != b->kind) return 0;
  if (a->kind == OUT_OK) return a->value == b->value;
  if (a->kind == OUT_ERR) return a->err == b->err;
  return 1;
}

/* Ends the run: a setup that cannot go on says nothing about the kernel. */
RUNTIME void skip_run(const char* why) {
  say("ok %d # SKIP %s\n", ++g_test, why);
  _exit(KSFT_SKIP);
}

/* ---------------------------------------------------------------- time and scheduling */

RUNTIME int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
RUNTIME int64_t deadline_ms(int64_t ms) {
  return now_ns() + (int64_t)((double)ms * g_scale) * 1000000;
}

enum sched_mode { SCHED_MODE_FIFO, SCHED_MODE_IDLE };
static enum sched_mode g_mode;
static int g_cpu = 0;        /* the CPU the targets and the main thread share */
static int g_thread_cpu = 0; /* the supervisor threads' CPU (idle mode: another one) */
#define FIFO_TOP 60

RUNTIME void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof(set), &set);
}

RUNTIME int set_policy(int policy, int priority) {
  struct sched_param p;
  memset(&p, 0, sizeof(p));
  p.sched_priority = priority;
  return sched_setscheduler(0, policy | (policy == SCHED_FIFO ? SCHED_RESET_ON_FORK : 0), &p);
}

/* fifo: supervisor threads SCHED_FIFO above SCHED_OTHER targets on one CPU (CAP_SYS_NICE);
 * idle: SCHED_IDLE targets beside a main thread that never sleeps between quiescence points. */
RUNTIME void choose_scheduling(void) {
  cpu_set_t set;
  CPU_ZERO(&set);
  sched_getaffinity(0, sizeof(set), &set);
  const char* want = getenv("REPRO_CPU");
  g_cpu = -1;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &set)) continue;
    if (g_cpu < 0 || (want != NULL && atoi(want) == c)) g_cpu = c;
  }
  g_thread_cpu = g_cpu;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set) && c != g_cpu) {
      g_thread_cpu = c;
      break;
    }
  }
  const char* cap = getenv("REPRO_SCHED");
  g_mode = SCHED_MODE_IDLE;
  if (cap == NULL || strcmp(cap, "idle") != 0) {
    if (set_policy(SCHED_FIFO, FIFO_TOP) == 0) g_mode = SCHED_MODE_FIFO;
    set_policy(SCHED_OTHER, 0);
  }
  if (g_mode == SCHED_MODE_FIFO) g_thread_cpu = g_cpu;
  pin(g_cpu);
}

/* ---------------------------------------------------------------- /proc */

RUNTIME int read_file(const char* path, char* buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, size - 1);
  close(fd);
  if (n < 0) return -1;
  buf[n] = '\0';
  return (int)n;
}

/* The state letter of a task (R, S, D, Z, ...), or 0 when it is gone. */
RUNTIME char task_state(pid_t pid, pid_t tid) {
  char path[64], buf[512];
  snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
  if (read_file(path, buf, sizeof(buf)) < 0) return 0;
  char* paren = strrchr(buf, ')');
  return paren != NULL && paren[1] == ' ' ? paren[2] : 0;
}

RUNTIME uint64_t task_run_ns(pid_t pid, pid_t tid) {
  char path[64], buf[128];
  snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", pid, tid);
  if (read_file(path, buf, sizeof(buf)) < 0) return 0;
  return strtoull(buf, NULL, 10);
}

/* ---------------------------------------------------------------- sources */

/* Files the supervisor holds for injection, by the .scn source name's index. */
enum source_kind {
  SRC_MEMFD,
  SRC_MEMFD2,
  SRC_PIPE_R,
  SRC_PIPE_W,
  SRC_SOCKET,
  SRC_DEVNULL,
  SRC_OPATH,
  SRC_LISTENER,
  SRC_CLOSED,
  SRC_HUGE,
  SRC_COUNT
};
static const char* const kSourceNames[] = {"memfd",   "memfd2", "pipe_r",   "pipe_w", "socket",
                                           "devnull", "opath",  "listener", "closed", "huge"};
static int g_src[SRC_COUNT];
static int g_sock_peer = -1;
static char* g_pages; /* an unmapped page, then a read-only one */

RUNTIME void make_sources(void) {
  int p[2];
  g_src[SRC_MEMFD] = (int)syscall(SYS_memfd_create, "addfdlab-source", MFD_CLOEXEC);
  g_src[SRC_MEMFD2] = (int)syscall(SYS_memfd_create, "addfdlab-source-2", MFD_CLOEXEC);
  g_src[SRC_DEVNULL] = open("/dev/null", O_RDWR | O_CLOEXEC);
  g_src[SRC_OPATH] = open("/", O_PATH | O_CLOEXEC);
  if (pipe2(p, O_CLOEXEC) < 0) skip_run("pipe2 failed");
  g_src[SRC_PIPE_R] = p[0];
  g_src[SRC_PIPE_W] = p[1];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0) skip_run("socketpair failed");
  g_src[SRC_SOCKET] = p[0];
  g_sock_peer = p[1];
  g_src[SRC_LISTENER] = -1;
  g_src[SRC_CLOSED] = 0x7ffffff0; /* above fs.nr_open: never open */
  g_src[SRC_HUGE] = (int)0x80000000u;
  for (int s = 0; s < SRC_LISTENER; ++s) {
    if (g_src[s] < 0) skip_run("cannot make the source files");
  }
  g_pages = mmap(NULL, 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (g_pages == MAP_FAILED || mprotect(g_pages + PAGE, PAGE, PROT_READ) != 0) {
    skip_run("mmap failed");
  }
}

/* ---------------------------------------------------------------- targets */

enum command {
  CMD_TRAP,
  CMD_OPEN_DEVNULL,
  CMD_MEMFD,
  CMD_CLOSE,
  CMD_DUP,
  CMD_DUP3,
  CMD_PIPE,
  CMD_SOCKETPAIR,
  CMD_SIGACTION,
  CMD_OPEN_FIFO,
  CMD_INSTALL_FILTER,
  CMD_TRAP_DUP
};
struct request {
  int32_t command;
  int32_t pad;
  int64_t args[6];
};
struct reply {
  int64_t ret;
  int32_t err;
  int32_t pad;
  int64_t values[2];
};

struct target {
  const char* name;
  uint32_t filter_flags;
  int callers;
  int tasks;
  pid_t pid[MAX_TASKS];
  int ctl[MAX_TASKS];       /* our end of each task's control socket */
  int busy[MAX_TASKS];      /* a command sent, its reply not read */
  int last_trap[MAX_TASKS]; /* the notification of the task's last trap, or -1 */
  int listener;
  int pidfd;
  uint64_t base_id; /* the id of the scenario's first notification on this listener */
  uint64_t runs[MAX_TASKS];
  char fifo[96];     /* task k's FIFO is "<fifo>-k": a reservation blocks in its open */
  int want_listener; /* the model has the filter install give a listener */
  int filter_errno;  /* what the filter install failed with, or 0 */
};
static struct target g_targets[MAX_TARGETS];
static int g_ntargets;

/* The filter every target installs: SECCOMP_RET_USER_NOTIF for the trapped syscall, and for
   dup when the high word of args[0] (little-endian: its second 32-bit word) is the tag. */
static struct sock_filter g_insns[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct r_notif_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 6),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct r_notif_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TRAP_NR, 3, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DUP_TRAP_NR, 0, 3),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct r_notif_data, args[0]) + 4),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DUP_TRAP_TAG, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, R_RET_USER_NOTIF),
    BPF_STMT(BPF_RET | BPF_K, R_RET_ALLOW),
};
static struct sock_fprog g_prog = {sizeof(g_insns) / sizeof(g_insns[0]), g_insns};

static volatile sig_atomic_t g_caught;
static const struct target* g_self; /* in a target: its own description */
RUNTIME void count_signal(int sig) {
  (void)sig;
  g_caught = g_caught + 1;
}

RUNTIME void fill(struct reply* r, long ret) {
  r->ret = ret;
  r->err = ret == -1 ? errno : 0;
}

RUNTIME void execute(const struct request* q, struct reply* r) {
  const int64_t* a = q->args;
  int fds[2] = {-1, -1};
  switch (q->command) {
    case CMD_TRAP:
      return fill(r, syscall(TRAP_NR, a[0], a[1], a[2], a[3], a[4], a[5]));
    case CMD_TRAP_DUP:
      return fill(r, syscall(DUP_TRAP_NR, ((uint64_t)DUP_TRAP_TAG << 32) | (uint32_t)a[0]));
    case CMD_OPEN_DEVNULL:
      return fill(r, open("/dev/null", (int)a[0]));
    case CMD_MEMFD:
      return fill(r, syscall(SYS_memfd_create, "addfdlab-target", (unsigned)a[0]));
    case CMD_CLOSE:
      return fill(r, close((int)a[0]));
    case CMD_DUP:
      return fill(r, fcntl((int)a[0], a[1] ? F_DUPFD_CLOEXEC : F_DUPFD, (int)a[2]));
    case CMD_DUP3:
      return fill(r, dup3((int)a[0], (int)a[1], (int)a[2]));
    case CMD_PIPE:
      fill(r, pipe2(fds, (int)a[0]));
      r->values[0] = fds[0];
      r->values[1] = fds[1];
      return;
    case CMD_SOCKETPAIR:
      fill(r, socketpair(AF_UNIX, SOCK_STREAM | (int)a[0], 0, fds));
      r->values[0] = fds[0];
      r->values[1] = fds[1];
      return;
    case CMD_INSTALL_FILTER: {
      /* A further filter; a listener it makes is not used. */
      const long ret = syscall(SYS_seccomp, R_SET_MODE_FILTER, (unsigned)a[0], &g_prog);
      fill(r, ret);
      if (ret >= 0 && ((unsigned)a[0] & R_FILTER_FLAG_NEW_LISTENER) != 0) close((int)ret);
      return;
    }
    case CMD_OPEN_FIFO: {
      char path[128];
      snprintf(path, sizeof(path), "%s-%d", g_self->fifo, (int)a[1]);
      return fill(r, open(path, O_RDONLY | (int)a[0]));
    }
    case CMD_SIGACTION: {
      struct sigaction act;
      memset(&act, 0, sizeof(act));
      act.sa_handler = a[1] == 1 ? count_signal : a[1] == 2 ? SIG_IGN : SIG_DFL;
      act.sa_flags = a[2] ? SA_RESTART : 0;
      return fill(r, sigaction((int)a[0], &act, NULL));
    }
  }
  errno = EINVAL;
  fill(r, -1);
}

RUNTIME void serve(int control) {
  for (;;) {
    struct request q;
    ssize_t n = recv(control, &q, sizeof(q), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n != (ssize_t)sizeof(q)) _exit(0);
    struct reply r;
    memset(&r, 0, sizeof(r));
    execute(&q, &r);
    while (send(control, &r, sizeof(r), MSG_NOSIGNAL) < 0) {
      if (errno != EINTR) _exit(0);
    }
  }
}

RUNTIME int send_fd(int sock, const void* data, size_t size, int fd) {
  char control[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {(void*)data, size};
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  memset(control, 0, sizeof(control));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  return (int)sendmsg(sock, &msg, MSG_NOSIGNAL);
}

RUNTIME ssize_t recv_fd(int sock, void* data, size_t size, int* fd) {
  char control[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {data, size};
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  *fd = -1;
  ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  struct cmsghdr* c = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
  if (c != NULL && c->cmsg_type == SCM_RIGHTS) memcpy(fd, CMSG_DATA(c), sizeof(int));
  return n;
}

/* The leader of a target: lays out its table, installs the filter, clones its callers
 * (CLONE_FILES: one table), hands the listener over and serves. */
RUNTIME void run_leader(struct target* t, const int* child_ends, pid_t parent) {
  g_self = t;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);
  struct rlimit lim;
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = 1024;
  if (setrlimit(RLIMIT_NOFILE, &lim) < 0) _exit(2);
  for (int k = 0; k < t->tasks; ++k) {
    if (dup3(child_ends[k], HARNESS_FD_BASE + 16 + k, O_CLOEXEC) < 0) _exit(2);
  }
  syscall(SYS_close_range, 0, HARNESS_FD_BASE + 15, 0);
  for (int k = 0; k < t->tasks; ++k) {
    if (dup3(HARNESS_FD_BASE + 16 + k, HARNESS_FD_BASE + k, O_CLOEXEC) < 0) _exit(2);
  }
  syscall(SYS_close_range, HARNESS_FD_BASE + t->tasks, ~0u, 0);
  const struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction act;
    memset(&act, 0, sizeof(act));
    act.sa_handler = sig == SIGCHLD ? SIG_IGN : SIG_DFL;
    sigaction(sig, &act, NULL);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  struct reply hello;
  memset(&hello, 0, sizeof(hello));
  long listener = syscall(SYS_seccomp, R_SET_MODE_FILTER, t->filter_flags, &g_prog);
  fill(&hello, listener);
  const pid_t leader = getpid();
  pid_t pids[MAX_TASKS] = {leader};
  for (int k = 1; k < t->tasks; ++k) {
    long pid = syscall(SYS_clone, CLONE_FILES | SIGCHLD, 0, 0, 0, 0);
    if (pid < 0) _exit(3);
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != leader) _exit(1);
      serve(HARNESS_FD_BASE + k);
    }
    pids[k] = (pid_t)pid;
  }
  if (g_mode == SCHED_MODE_IDLE) {
    /* Every task SCHED_IDLE before the supervisor hears of them: they run only while the
     * main thread sleeps. */
    struct sched_param idle;
    memset(&idle, 0, sizeof(idle));
    for (int k = 0; k < t->tasks; ++k) sched_setscheduler(pids[k], SCHED_IDLE, &idle);
  }
  int64_t more[MAX_TASKS];
  for (int k = 0; k < MAX_TASKS; ++k) more[k] = k < t->tasks ? pids[k] : 0;
  if (send_fd(HARNESS_FD_BASE, &hello, sizeof(hello), listener >= 0 ? (int)listener : -1) < 0 ||
      send(HARNESS_FD_BASE, more, sizeof(more), MSG_NOSIGNAL) < 0) {
    _exit(5);
  }
  if (listener >= 0) close((int)listener);
  serve(HARNESS_FD_BASE);
}

RUNTIME int wait_readable(int fd, int64_t deadline) {
  for (;;) {
    int64_t left = (deadline - now_ns()) / 1000000;
    if (left < 0) left = 0;
    struct pollfd p = {fd, POLLIN, 0};
    int n = poll(&p, 1, (int)left);
    if (n > 0) return 1;
    if (n == 0) return 0;
    if (errno != EINTR) return 0;
  }
}

RUNTIME void start_target(struct target* t) {
  int ours[MAX_TASKS], theirs[MAX_TASKS];
  t->tasks = 1 + t->callers;
  for (int k = 0; k < t->tasks; ++k) {
    int p[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) < 0) skip_run("socketpair");
    ours[k] = p[0];
    theirs[k] = p[1];
  }
  /* The FIFOs reservations open, one per caller: a writer on a shared one would let every
   * blocked open return at once. */
  static int made;
  snprintf(t->fifo, sizeof(t->fifo), "/tmp/addfdlab-repro-%d-%d", getpid(), ++made);
  for (int k = 1; k < t->tasks; ++k) {
    char path[128];
    snprintf(path, sizeof(path), "%s-%d", t->fifo, k);
    unlink(path);
    if (mkfifo(path, 0600) < 0) skip_run("mkfifo failed");
  }
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) skip_run("fork failed");
  if (pid == 0) run_leader(t, theirs, parent);
  for (int k = 0; k < t->tasks; ++k) {
    close(theirs[k]);
    t->ctl[k] = ours[k];
    t->busy[k] = 0;
    t->last_trap[k] = -1;
  }
  struct reply hello;
  int listener = -1;
  int64_t pids[MAX_TASKS];
  if (!wait_readable(t->ctl[0], deadline_ms(10000)) ||
      recv_fd(t->ctl[0], &hello, sizeof(hello), &listener) != (ssize_t)sizeof(hello) ||
      !wait_readable(t->ctl[0], deadline_ms(10000)) ||
      recv(t->ctl[0], pids, sizeof(pids), 0) != (ssize_t)sizeof(pids)) {
    skip_run("a target did not start");
  }
  t->filter_errno = hello.err; /* check_listeners() compares it with the model's */
  for (int k = 0; k < t->tasks; ++k) t->pid[k] = (pid_t)pids[k];
  /* Above the numbers inputs name. */
  const int high = listener >= 0 ? fcntl(listener, F_DUPFD_CLOEXEC, 600) : -1;
  if (high >= 0) {
    close(listener);
    listener = high;
  }
  t->listener = listener;
  t->pidfd = (int)syscall(SYS_pidfd_open, t->pid[0], 0);
}

RUNTIME int t_send(struct target* t, int k, enum command c, int64_t a0, int64_t a1, int64_t a2) {
  struct request q;
  memset(&q, 0, sizeof(q));
  q.command = c;
  q.args[0] = a0;
  q.args[1] = a1;
  q.args[2] = a2;
  if (send(t->ctl[k], &q, sizeof(q), MSG_NOSIGNAL) != (ssize_t)sizeof(q)) return 0;
  t->busy[k] = 1;
  return 1;
}

RUNTIME int t_ready(struct target* t, int k) {
  struct pollfd p = {t->ctl[k], POLLIN, 0};
  return t->busy[k] && poll(&p, 1, 0) > 0;
}

/* The reply of task k's command, or blocked when none came by the deadline. */
RUNTIME struct outcome t_finish(struct target* t, int k, int64_t deadline, struct reply* out) {
  struct reply r;
  if (!wait_readable(t->ctl[k], deadline) ||
      recv(t->ctl[k], &r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
    return blocked_();
  }
  t->busy[k] = 0;
  if (out != NULL) *out = r;
  return r.err != 0 ? err_(r.err) : ok_(r.ret);
}

RUNTIME struct outcome t_call(struct target* t, int k, enum command c, int64_t a0, int64_t a1,
                              int64_t a2, struct reply* out) {
  if (!t_send(t, k, c, a0, a1, a2)) return blocked_();
  return t_finish(t, k, deadline_ms(5000), out);
}

/* One throwaway notification tells the listener's next id. */
RUNTIME void calibrate(struct target* t) {
  t->base_id = 0;
  if (t->listener < 0 || t->tasks < 2) return;
  if (!t_send(t, 1, CMD_TRAP, 0, 0, 0)) skip_run("cannot calibrate notification ids");
  if (!wait_readable(t->listener, deadline_ms(5000))) skip_run("cannot calibrate ids");
  struct r_notif n;
  memset(&n, 0, sizeof(n));
  if (ioctl(t->listener, R_IOCTL_RECV, &n) != 0) skip_run("cannot calibrate ids (RECV)");
  struct r_resp resp = {n.id, 0, -ENOSYS, 0};
  if (ioctl(t->listener, R_IOCTL_SEND, &resp) != 0) skip_run("cannot calibrate ids (SEND)");
  t_finish(t, 1, deadline_ms(5000), NULL);
  t->base_id = n.id + 1;
}

/* ---------------------------------------------------------------- supervisor threads */

enum job_kind { JOB_RECV, JOB_ADDFD, JOB_SEND, JOB_ID_VALID, JOB_SET_FLAGS, JOB_IOCTL };
struct job {
  enum job_kind kind;
  int listener;
  int buffer; /* recv: 0 zeroed, 1 nonzero, 2 unmapped, 3 read-only */
  struct r_addfd addfd;
  uint32_t size;
  int arg; /* addfd: 0 plain, 1 tail zero, 2 tail nonzero, 3 unreadable */
  struct r_resp resp;
  uint64_t value;
  int legacy;
  /* results */
  struct outcome out;
  uint64_t recv_id;
  uint32_t recv_pid;
};

struct sup_thread {
  pthread_t thread;
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  volatile pid_t tid;
  int priority;
  int has_job, busy, done, in_job;
  struct job job;
  uint64_t run_ns_at_interrupt;
};
static struct sup_thread g_threads[MAX_THREADS];
static int g_nthreads;

RUNTIME void note_interrupt(int sig) { (void)sig; }
RUNTIME int interrupt_signal(int restart) { return SIGRTMIN + (restart ? 5 : 4); }

RUNTIME struct outcome run_job(struct job* j) {
  long ret = -1;
  switch (j->kind) {
    case JOB_RECV: {
      struct r_notif local;
      memset(&local, 0, sizeof(local));
      struct r_notif* n = &local;
      if (j->buffer == 1) local.pid = 1;
      if (j->buffer == 2) n = (struct r_notif*)g_pages;
      if (j->buffer == 3) n = (struct r_notif*)(g_pages + PAGE);
      ret = ioctl(j->listener, R_IOCTL_RECV, n);
      if (ret < 0) return err_(errno);
      j->recv_id = local.id;
      j->recv_pid = local.pid;
      return ok_(0);
    }
    case JOB_ADDFD: {
      /* The struct, then a tail up to `size` bytes. */
      static __thread char buffer[0x4000] __attribute__((aligned(8)));
      memset(buffer, 0, sizeof(buffer));
      memcpy(buffer, &j->addfd, sizeof(j->addfd));
      if (j->arg == 2 && j->size > sizeof(j->addfd)) buffer[j->size - 1] = 1;
      const char* where = j->arg == 3 ? g_pages : buffer;
      ret = ioctl(j->listener, R_IOCTL_ADDFD(j->size), where);
      break;
    }
    case JOB_SEND:
      ret = ioctl(j->listener, R_IOCTL_SEND, &j->resp);
      break;
    case JOB_ID_VALID:
      ret = ioctl(j->listener, j->legacy ? R_IOCTL_ID_VALID_LEGACY : R_IOCTL_ID_VALID, &j->value);
      break;
    case JOB_SET_FLAGS:
      ret = ioctl(j->listener, R_IOCTL_SET_FLAGS, j->value);
      break;
    case JOB_IOCTL: {
      static __thread char zeroes[PAGE] __attribute__((aligned(8)));
      memset(zeroes, 0, sizeof(zeroes));
      ret = ioctl(j->listener, (unsigned long)(uint32_t)j->value, zeroes);
      break;
    }
  }
  return ret < 0 ? err_(errno) : ok_(ret);
}

RUNTIME void* thread_loop(void* arg) {
  struct sup_thread* th = arg;
  if (g_mode == SCHED_MODE_FIFO) {
    set_policy(SCHED_FIFO, th->priority);
  } else {
    pin(g_thread_cpu);
  }
  th->tid = (pid_t)syscall(SYS_gettid);
  pthread_mutex_lock(&th->mutex);
  for (;;) {
    while (!th->has_job) pthread_cond_wait(&th->cond, &th->mutex);
    th->has_job = 0;
    pthread_mutex_unlock(&th->mutex);
    __atomic_store_n(&th->in_job, 1, __ATOMIC_SEQ_CST);
    struct outcome out = run_job(&th->job);
    __atomic_store_n(&th->in_job, 0, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&th->mutex);
    th->job.out = out;
    th->done = 1;
    th->busy = 0;
  }
  return NULL;
}

RUNTIME void start_threads(void) {
  struct sigaction act;
  memset(&act, 0, sizeof(act));
  act.sa_handler = note_interrupt;
  sigaction(interrupt_signal(0), &act, NULL);
  act.sa_flags = SA_RESTART;
  sigaction(interrupt_signal(1), &act, NULL);
  for (int i = 0; i < g_nthreads; ++i) {
    struct sup_thread* th = &g_threads[i];
    /* The named threads at the top, in turn; the main thread's op thread below them. */
    th->priority = i + 1 < g_nthreads ? FIFO_TOP - i : 40;
    pthread_mutex_init(&th->mutex, NULL);
    pthread_cond_init(&th->cond, NULL);
    if (pthread_create(&th->thread, NULL, thread_loop, th) != 0) skip_run("pthread_create");
    while (__atomic_load_n(&th->tid, __ATOMIC_SEQ_CST) == 0) sched_yield();
  }
}

/* In the idle mode the main thread must not sleep on the targets' CPU between quiescence
 * points (a SCHED_IDLE target would run): it spins for the lock the thread holds for a
 * moment on its own CPU. */
RUNTIME void lock_thread(struct sup_thread* th) {
  if (g_mode == SCHED_MODE_FIFO) {
    pthread_mutex_lock(&th->mutex);
    return;
  }
  while (pthread_mutex_trylock(&th->mutex) != 0) {
  }
}

RUNTIME int thread_sleeping(struct sup_thread* th) {
  char s = task_state(getpid(), th->tid);
  return s == 'S' || s == 'D';
}

/* Waits (never sleeping on the targets' CPU in the idle mode) until `settled`. */
RUNTIME int await_thread(struct sup_thread* th, int (*settled)(struct sup_thread*),
                         int64_t deadline) {
  for (int round = 0;; ++round) {
    lock_thread(th);
    int ok = settled(th);
    pthread_mutex_unlock(&th->mutex);
    if (ok) return 1;
    if (now_ns() > deadline) return 0;
    if (g_mode == SCHED_MODE_FIFO) {
      usleep(20);
    } else if (g_thread_cpu == g_cpu && round < 16) {
      sched_yield();
    }
  }
}

/* Asleep first, then still in the job: once the job is over the thread may sleep again,
 * waiting for the lock the caller holds, but only after it cleared in_job. */
RUNTIME int in_job_asleep(struct sup_thread* th) {
  return thread_sleeping(th) && __atomic_load_n(&th->in_job, __ATOMIC_SEQ_CST);
}
RUNTIME int asleep_in_job(struct sup_thread* th) {
  return th->done || (!th->has_job && in_job_asleep(th));
}
RUNTIME int interrupted(struct sup_thread* th) {
  return th->done ||
         (task_run_ns(getpid(), th->tid) != th->run_ns_at_interrupt && in_job_asleep(th));
}

/* Hands the job to the thread; returns once it finished or sleeps in the kernel. */
RUNTIME int thread_start(struct sup_thread* th, const struct job* j) {
  lock_thread(th);
  th->job = *j;
  th->has_job = 1;
  th->done = 0;
  th->busy = 1;
  pthread_cond_signal(&th->cond);
  pthread_mutex_unlock(&th->mutex);
  return await_thread(th, asleep_in_job, deadline_ms(5000));
}

RUNTIME int thread_try(struct sup_thread* th, struct job* out) {
  lock_thread(th);
  int done = th->done;
  if (done && out != NULL) *out = th->job;
  pthread_mutex_unlock(&th->mutex);
  return done;
}

RUNTIME void thread_interrupt(struct sup_thread* th, int restart) {
  th->run_ns_at_interrupt = task_run_ns(getpid(), th->tid);
  syscall(SYS_tgkill, getpid(), th->tid, interrupt_signal(restart));
}

/* ---------------------------------------------------------------- quiescence */

static int g_may_run = 1;  /* an op since the last quiescence point let the targets run */
static int g_checking = 0; /* runs_at_quiet holds a quiescence point's counts */
static int g_off_schedule = 0;

RUNTIME uint64_t target_runs(struct target* t, int k) { return task_run_ns(t->pid[k], t->pid[k]); }

/* A target ran between two quiescence points with nothing letting it: the interleaving is
 * not the one the model was run with. */
RUNTIME void check_schedule(void) {
  if (!g_checking || g_may_run) return;
  for (int i = 0; i < g_ntargets; ++i) {
    for (int k = 0; k < g_targets[i].tasks; ++k) {
      if (target_runs(&g_targets[i], k) != g_targets[i].runs[k]) g_off_schedule = 1;
    }
  }
}

/* Outside the fifo mode: every busy supervisor thread asleep. */
RUNTIME int threads_asleep(void) {
  for (int i = 0; i < g_nthreads; ++i) {
    if (g_threads[i].busy && !thread_sleeping(&g_threads[i])) return 0;
  }
  return 1;
}

/* killable[i] has bit k set when task k of target i may sleep in 'D' (a killable wait).
 * Threads, targets, threads again (outside the fifo mode): a thread read before the targets
 * may have just woken one, and one read after them may just have been woken by one. */
RUNTIME int settled(const unsigned* killable) {
  int poll_threads = g_mode != SCHED_MODE_FIFO;
  if (poll_threads && !threads_asleep()) return 0;
  for (int i = 0; i < g_ntargets; ++i) {
    struct target* t = &g_targets[i];
    for (int k = 0; k < t->tasks; ++k) {
      char s = task_state(t->pid[k], t->pid[k]);
      if (s == 0) continue;
      if (s == 'Z' || s == 'X') {
        waitpid(t->pid[k], NULL, WNOHANG | __WALL);
        return 0;
      }
      if (s == 'D' && (killable[i] & (1u << k)) == 0) return 0;
      if (s != 'S' && s != 'D') return 0;
    }
  }
  return !poll_threads || threads_asleep();
}

/* A quiescence point: every target task asleep, as the model expects. */
RUNTIME int quiesce(const unsigned* killable, int64_t budget_ms) {
  check_schedule();
  int64_t deadline = deadline_ms(budget_ms);
  useconds_t pause = 10;
  while (!settled(killable)) {
    if (now_ns() > deadline) return 0;
    usleep(pause);
    pause = pause * 2 > 2000 ? 2000 : pause * 2;
  }
  for (int i = 0; i < g_ntargets; ++i) {
    for (int k = 0; k < g_targets[i].tasks; ++k) {
      g_targets[i].runs[k] = target_runs(&g_targets[i], k);
    }
  }
  g_checking = 1;
  g_may_run = 0;
  return 1;
}

/* ---------------------------------------------------------------- checks */

static const char* g_cell = "";
static const char* g_op_text = "";
static int g_op = 0;

/* A deviation: reported once the run is known to have kept to its schedule. */
RUNTIME void deviate(const char* what) {
  check_schedule();
  if (g_off_schedule) _exit(RUN_OFF_SCHEDULE);
  say("not ok %d op %d: %s\n", ++g_test, g_op, g_op_text);
  say("# DEVIATION op %d (%s) cell %s: %s\n", g_op, g_op_text, g_cell[0] ? g_cell : "-", what);
  say("# Totals: pass:%d fail:1 xfail:0 xpass:0 skip:0 error:0\n", g_passed);
  _exit(KSFT_FAIL);
}

RUNTIME void hang(const char* what) {
  check_schedule();
  if (g_off_schedule) _exit(RUN_OFF_SCHEDULE);
  char buf[256];
  snprintf(buf, sizeof(buf), "hang: %s", what);
  deviate(buf);
}

/* The op's outcome against the model's allowed set and the scenario's expect clause.
 * `path` is the outcome the model was run on past this op, when the set has several. */
RUNTIME void check_outcome(const struct outcome* seen, const struct outcome* allowed, int nallowed,
                           const struct outcome* expect, int expect_any_ok,
                           const struct outcome* path) {
  char got[64], want[256] = "";
  describe(seen, got, sizeof(got));
  int in = nallowed == 0;
  for (int i = 0; i < nallowed; ++i) {
    char one[64];
    describe(&allowed[i], one, sizeof(one));
    snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s", i ? " | " : "", one);
    in |= same(seen, &allowed[i]);
  }
  char what[512];
  if (!in) {
    snprintf(what, sizeof(what), "the contract allows %s, the kernel answered %s", want, got);
    deviate(what);
  }
  if (expect_any_ok && seen->kind != OUT_OK) {
    snprintf(what, sizeof(what), "expected ok, the kernel answered %s", got);
    deviate(what);
  }
  if (expect != NULL && !same(seen, expect)) {
    char w[64];
    describe(expect, w, sizeof(w));
    snprintf(what, sizeof(what), "expected %s, the kernel answered %s", w, got);
    deviate(what);
  }
  if (path != NULL && !same(seen, path)) {
    char p[64];
    describe(path, p, sizeof(p));
    say("# op %d: the kernel chose %s of the allowed %s; this program follows %s\n", g_op, got,
        want, p);
    skip_run("the kernel took another allowed outcome than the program's path");
  }
  say("ok %d op %d: %s # %s%s%s\n", ++g_test, g_op, g_op_text, got, g_cell[0] ? " " : "", g_cell);
  ++g_passed;
}

RUNTIME void pass_op(void) {
  say("ok %d op %d: %s\n", ++g_test, g_op, g_op_text);
  ++g_passed;
}

/* A file the supervisor holds: a source, or a copy of a file a target made. */
#define MAX_LOCAL 64
static int g_local[MAX_LOCAL];
static int g_nlocal;

RUNTIME void take_local_copy(struct target* t, int64_t fd) {
  int copy = t->pidfd >= 0 ? (int)syscall(SYS_pidfd_getfd, t->pidfd, (int)fd, 0) : -1;
  if (g_nlocal < MAX_LOCAL) g_local[g_nlocal++] = copy;
}

struct want_fd {
  int fd;
  int local; /* 0: a source; 1: a file a target made */
  int index; /* the source's kind, or the local file's number */
  int cloexec;
};

RUNTIME int fd_cloexec(pid_t pid, int fd) {
  char path[64], buf[512];
  snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
  if (read_file(path, buf, sizeof(buf)) < 0) return -1;
  const char* flags = strstr(buf, "flags:");
  if (flags == NULL) return -1;
  return (strtoul(flags + 6, NULL, 8) & O_CLOEXEC) != 0;
}

/* The fd-table oracle: numbers, identity (kcmp) and close-on-exec against the model. */
#define MAX_OPEN 4096
RUNTIME void check_table(struct target* t, const struct want_fd* want, int nwant) {
  char path[64], what[256];
  static int open_fds[MAX_OPEN];
  int nopen = 0;
  snprintf(path, sizeof(path), "/proc/%d/fd", t->pid[0]);
  DIR* dir = opendir(path);
  if (dir == NULL) return;
  struct dirent* e;
  while ((e = readdir(dir)) != NULL && nopen < MAX_OPEN) {
    if (e->d_name[0] == '.') continue;
    int fd = atoi(e->d_name);
    if (fd >= HARNESS_FD_BASE && fd < HARNESS_FD_BASE + t->tasks) continue;
    open_fds[nopen++] = fd;
  }
  closedir(dir);
  for (int i = 0; i < nwant; ++i) {
    const struct want_fd* w = &want[i];
    int found = 0;
    for (int j = 0; j < nopen; ++j) {
      if (open_fds[j] == w->fd) {
        open_fds[j] = -1;
        found = 1;
      }
    }
    if (!found) {
      snprintf(what, sizeof(what), "%s: fd %d closed, the model has %s%s%d there (dangling)",
               t->name, w->fd, w->local ? "local file L" : "source ", w->local ? "" : "#",
               w->index);
      deviate(what);
    }
    int ours = w->local ? (w->index < g_nlocal ? g_local[w->index] : -1)
                        : (w->index == SRC_LISTENER ? t->listener : g_src[w->index]);
    int same_file = 1; /* no copy could be taken: nothing to compare against */
    if (ours >= 0) {
      same_file = syscall(SYS_kcmp, getpid(), t->pid[0], R_KCMP_FILE, ours, w->fd) == 0;
    } else if (!w->local && w->index == SRC_LISTENER) {
      /* A closed listener: no copy left to compare, it is what it describes as. */
      char link[64], target[128];
      snprintf(link, sizeof(link), "/proc/%d/fd/%d", t->pid[0], w->fd);
      ssize_t n = readlink(link, target, sizeof(target) - 1);
      target[n > 0 ? n : 0] = '\0';
      same_file = strcmp(target, "anon_inode:seccomp notify") == 0;
    }
    if (!same_file) {
      if (w->local) {
        snprintf(what, sizeof(what), "%s: fd %d is not local file L%d (kcmp)", t->name, w->fd,
                 w->index);
      } else {
        snprintf(what, sizeof(what), "%s: fd %d is not the source %s (kcmp)", t->name, w->fd,
                 kSourceNames[w->index]);
      }
      deviate(what);
    }
    if (fd_cloexec(t->pid[0], w->fd) != w->cloexec) {
      snprintf(what, sizeof(what), "%s: fd %d should %sbe close-on-exec", t->name, w->fd,
               w->cloexec ? "" : "not ");
      deviate(what);
    }
  }
  for (int j = 0; j < nopen; ++j) {
    if (open_fds[j] >= 0) {
      snprintf(what, sizeof(what), "%s: fd %d open, the model has it closed (leaked)", t->name,
               open_fds[j]);
      deviate(what);
    }
  }
}

/* ---------------------------------------------------------------- the ops' helpers */

/* The supervisor closes the listener. Its number keeps /dev/null (as the executor's
 * Target::CloseListener does), so that an ioctl restarted on it (a RECV interrupted with
 * SA_RESTART) finds a file that is not a listener (ENOTTY) rather than no file. */
RUNTIME void close_listener(struct target* t) {
  int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null < 0 || dup3(null, t->listener, O_CLOEXEC) < 0) close(t->listener);
  if (null >= 0) close(null);
  t->listener = -1;
}

RUNTIME struct sup_thread* op_thread(void) { return &g_threads[g_nthreads - 1]; }

/* The main thread's op on its op thread: once it sleeps in the kernel the targets run; if
 * it still sleeps when they are quiet it would block forever, and is interrupted. */
RUNTIME struct outcome main_op(const struct job* j, const unsigned* killable, struct job* result) {
  struct sup_thread* th = op_thread();
  if (!thread_start(th, j)) hang("the op did not start");
  if (!thread_try(th, result)) {
    g_may_run = 1;
    if (!quiesce(killable, 5000)) hang("targets did not go quiet");
    if (!thread_try(th, result)) {
      thread_interrupt(th, 0);
      int64_t deadline = deadline_ms(5000);
      while (!thread_try(th, NULL)) {
        if (now_ns() > deadline) hang("the op ignored an interrupt");
        usleep(20);
      }
      return blocked_();
    }
  }
  return result->out;
}

/* A RECV's answer as the notification's index: `seqs[i]` is notification i's relative id
 * (-1: none yet), `tasks[i]` its trap's task; `next_seq` the next relative id the model
 * gives, `blocked_in[k]` the notification task k is blocked in (-1: none). */
RUNTIME struct outcome map_recv(struct target* t, const struct job* j, const int64_t* seqs,
                                const int* tasks, int nnotifs, int64_t next_seq,
                                const int* blocked_in) {
  if (j->out.kind != OUT_OK) return j->out;
  const pid_t pid = (pid_t)j->recv_pid;
  for (int i = 0; i < nnotifs; ++i) {
    if (seqs[i] >= 0 && t->base_id + (uint64_t)seqs[i] == j->recv_id && t->pid[tasks[i]] == pid) {
      return ok_(i);
    }
  }
  /* An earlier instance of a notification the model has since restarted (the RECV took it
   * before the signal did): that task's notification whose id is the nearest at or above. */
  const uint64_t received = j->recv_id - t->base_id;
  int nearest = -1;
  for (int i = 0; i < nnotifs; ++i) {
    if (seqs[i] < 0 || t->pid[tasks[i]] != pid || (uint64_t)seqs[i] < received) continue;
    if (nearest < 0 || seqs[i] < seqs[nearest]) nearest = i;
  }
  if (nearest >= 0) return ok_(nearest);
  /* A notification made while the op ran: a trapped syscall restarted by a signal
   * (SA_RESTART), whose new instance the model makes only once it applies the op. */
  for (int64_t seq = next_seq; seq < next_seq + MAX_TASKS; ++seq) {
    if (t->base_id + (uint64_t)seq != j->recv_id) continue;
    for (int k = 0; k < t->tasks; ++k) {
      if (t->pid[k] == pid) return ok_(blocked_in[k]);
    }
  }
  return ok_(-1); /* a notification the model does not know */
}

RUNTIME uint64_t kernel_id(struct target* t, int64_t seq, int64_t delta) {
  if (seq < 0) return t->base_id - 1;
  return t->base_id + (uint64_t)(seq + delta);
}

/* The trap return of notification `notif` (task k's last trap), read once. */
static int g_returned_known[64];
static struct outcome g_returned[64];

RUNTIME struct outcome read_trap_return(struct target* t, int k, int notif) {
  if (g_returned_known[notif]) return g_returned[notif];
  if (!t->busy[k] || !t_ready(t, k)) return blocked_();
  struct outcome o = t_finish(t, k, deadline_ms(5000), NULL);
  if (o.kind == OUT_BLOCKED) return o;
  g_returned_known[notif] = 1;
  g_returned[notif] = o;
  return o;
}

/* The task's previous trap may have returned unread: read it so the task is free. */
RUNTIME void free_task(struct target* t, int k) {
  if (t->last_trap[k] >= 0 && t->busy[k]) read_trap_return(t, k, t->last_trap[k]);
  if (t->busy[k] && t_ready(t, k)) t_finish(t, k, deadline_ms(5000), NULL);
}

/* Task k opens its FIFO and blocks there holding a reserved fd slot; the open's result,
 * or blocked. */
RUNTIME struct outcome reserve(struct target* t, int k, const unsigned* killable) {
  free_task(t, k);
  t->last_trap[k] = -1; /* its next reply is the open's */
  if (!t_send(t, k, CMD_OPEN_FIFO, 0, k, 0)) return blocked_();
  if (!quiesce(killable, 10000)) hang("targets did not go quiet");
  if (!t_ready(t, k)) return blocked_();
  return t_finish(t, k, deadline_ms(5000), NULL);
}

/* A writer lets task k's blocked open return; it goes once the open has returned (a writer
 * left open would let a later reservation's open return at once). */
RUNTIME struct outcome release(struct target* t, int k, const unsigned* killable) {
  char path[128];
  snprintf(path, sizeof(path), "%s-%d", t->fifo, k);
  int writer = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (!quiesce(killable, 10000)) hang("targets did not go quiet");
  struct outcome o = t_finish(t, k, deadline_ms(5000), NULL);
  if (writer >= 0) close(writer);
  return o;
}

static void setup(void);
static void run_ops(void);

/* One attempt in a child of its own, so that a run that did not keep to its schedule can be
 * repeated from scratch. */
RUNTIME int attempt(void) {
  int buf = (int)syscall(SYS_memfd_create, "repro-tap", MFD_CLOEXEC);
  if (buf < 0) return KSFT_SKIP;
  pid_t pid = fork();
  if (pid == 0) {
    g_out = buf;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    setup();
    run_ops();
    check_schedule();
    if (g_off_schedule) _exit(RUN_OFF_SCHEDULE);
    say("# Totals: pass:%d fail:0 xfail:0 xpass:0 skip:0 error:0\n", g_passed);
    _exit(KSFT_PASS);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : KSFT_FAIL;
  /* The run's FIFOs (start_target names them after the run's pid). */
  for (int n = 1; n <= MAX_TARGETS + 1; ++n) {
    for (int k = 1; k < MAX_TASKS; ++k) {
      char path[128];
      snprintf(path, sizeof(path), "/tmp/addfdlab-repro-%d-%d-%d", pid, n, k);
      unlink(path);
    }
  }
  if (!WIFEXITED(status)) {
    say("# the run died of signal %d\n", WTERMSIG(status));
  }
  if (code != RUN_OFF_SCHEDULE) {
    char chunk[4096];
    ssize_t n;
    lseek(buf, 0, SEEK_SET);
    while ((n = read(buf, chunk, sizeof(chunk))) > 0) {
      if (write(1, chunk, (size_t)n) < 0) break;
    }
  }
  close(buf);
  return code;
}

/* ---------------------------------------------------------------- features */

/* ADDFD with these flags on an id no notification has: ENOENT when the kernel knows them,
 * EINVAL when it does not. */
RUNTIME void need_addfd_flags(struct target* t, uint32_t flags, const char* what) {
  struct r_addfd req = {t->base_id + (1u << 30), flags, (uint32_t)g_src[SRC_MEMFD], 0, 0};
  if (flags & R_ADDFD_FLAG_SETFD) req.newfd = 100;
  if (ioctl(t->listener, R_IOCTL_ADDFD(sizeof(req)), &req) == 0 || errno != ENOENT) {
    char why[128];
    snprintf(why, sizeof(why), "the kernel lacks %s", what);
    skip_run(why);
  }
}

RUNTIME void need_sync_wake_up(void) {
  struct target probe;
  memset(&probe, 0, sizeof(probe));
  probe.name = "probe";
  probe.filter_flags = R_FILTER_FLAG_NEW_LISTENER;
  start_target(&probe);
  const int ok = ioctl(probe.listener, R_IOCTL_SET_FLAGS, (uint64_t)1) == 0;
  kill(probe.pid[0], SIGKILL);
  waitpid(probe.pid[0], NULL, 0);
  close(probe.listener);
  if (!ok) skip_run("the kernel lacks SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (6.6)");
}

/* FILTER.FLAGS at the start: each target has a listener exactly where the model has one. */
RUNTIME void check_listeners(void) {
  g_op = 0;
  g_op_text = "(targets)";
  g_cell = "FILTER.FLAGS";
  for (int i = 0; i < g_ntargets; ++i) {
    const struct target* t = &g_targets[i];
    if ((t->listener >= 0) == t->want_listener) continue;
    char what[160];
    const char* name = errno_name(t->filter_errno);
    snprintf(what, sizeof(what), "target %s: expected %s, seccomp(SET_MODE_FILTER, 0x%x) gave %s%s",
             t->name, t->want_listener ? "a listener" : "no listener", t->filter_flags,
             t->listener >= 0 ? "a listener" : "",
             t->listener >= 0 ? ""
             : name           ? name
                              : "an error");
    deviate(what);
  }
}

/* A flag seccomp() knows fails on the NULL program (EFAULT), not on the flags (EINVAL). */
RUNTIME void need_wait_killable_recv(void) {
  if (syscall(SYS_seccomp, R_SET_MODE_FILTER,
              R_FILTER_FLAG_WAIT_KILLABLE_RECV | R_FILTER_FLAG_NEW_LISTENER, NULL) == 0 ||
      errno != EFAULT) {
    skip_run("the kernel lacks SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (5.19)");
  }
}

RUNTIME void need_kcmp(void) {
  if (syscall(SYS_kcmp, getpid(), getpid(), R_KCMP_FILE, g_src[SRC_MEMFD], g_src[SRC_MEMFD]) != 0) {
    skip_run("kcmp is not available (CONFIG_KCMP, or a seccomp profile)");
  }
}

RUNTIME void need_pidfd_getfd(void) {
  int self = (int)syscall(SYS_pidfd_open, getpid(), 0);
  int copy = self >= 0 ? (int)syscall(SYS_pidfd_getfd, self, g_src[SRC_MEMFD], 0) : -1;
  if (copy < 0) skip_run("pidfd_getfd is not available (5.6)");
  close(copy);
  close(self);
}

/* The limits the model was run with. */
RUNTIME void need_limits(uint64_t nofile_hard, uint64_t nr_open) {
  struct rlimit lim;
  char buf[64];
  getrlimit(RLIMIT_NOFILE, &lim);
  if ((uint64_t)lim.rlim_max != nofile_hard) {
    say("# RLIMIT_NOFILE hard limit %llu, the program was generated for %llu\n",
        (unsigned long long)lim.rlim_max, (unsigned long long)nofile_hard);
    skip_run("another RLIMIT_NOFILE hard limit (ulimit -Hn)");
  }
  if (read_file("/proc/sys/fs/nr_open", buf, sizeof(buf)) > 0 &&
      strtoull(buf, NULL, 10) != nr_open) {
    skip_run("another fs.nr_open");
  }
}

RUNTIME int repro_main(const char* name, const char* cells, int tests) {
  const char* scale = getenv("REPRO_TIME_SCALE");
  if (scale != NULL && atof(scale) > 0) g_scale = atof(scale);
  choose_scheduling();
  if (g_mode == SCHED_MODE_IDLE) g_scale *= 10;
  say("TAP version 13\n");
  say("# addfdlab reproducer of %s (cells: %s)\n", name, cells);
  say("# scheduling %s on CPU %d\n",
      g_mode == SCHED_MODE_FIFO ? "fifo (SCHED_FIFO supervisor threads)"
                                : "idle (SCHED_IDLE targets; no SCHED_FIFO here)",
      g_cpu);
  say("1..%d\n", tests);
  /* As the executor: 4 attempts 20 ms apart (doubled each time) in the fifo mode, 8 from
   * 1 ms in the idle mode. */
  const int attempts = g_mode == SCHED_MODE_FIFO ? 4 : 8;
  const useconds_t backoff = g_mode == SCHED_MODE_FIFO ? 20000 : 1000;
  for (int a = 0; a < attempts; ++a) {
    const int code = attempt();
    if (code != RUN_OFF_SCHEDULE) return code;
    say("# attempt %d: a target ran outside a quiescence point; repeated\n", a + 1);
    usleep(backoff << a);
  }
  say("ok 1 # SKIP no attempt kept to its schedule (a busy CPU); its verdicts say nothing\n");
  return KSFT_SKIP;
}
