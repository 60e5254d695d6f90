// Second supervisor processes: a forked child that makes notifier calls on a listener it
// is sent with each one, and answers with their outcome.
#include "supervisor_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "addfdlab/namespaces.h"
#include "addfdlab/notifier.h"
#include "addfdlab/scm_rights.h"

namespace addfdlab {
namespace {

// Where the call's srcfd is: sent with it, the listener it came with, or a number as is.
enum class SrcFd : uint8_t { kLiteral, kSent, kListener };

struct Request {
  ThreadCall call;
  SrcFd src = SrcFd::kLiteral;
};

struct Reply {
  Outcome outcome;
  RecvAnswer answer;
};

// The child: one request at a time until the socket closes. Plain syscalls only.
[[noreturn]] void Serve(int sock, char* pages) {
  for (;;) {
    Request req;
    int fds[2] = {-1, -1};
    int count = 0;
    const ssize_t n = RecvWithFds(sock, &req, sizeof(req), fds, 2, &count, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;  // an interrupt that came too early
    if (n != static_cast<ssize_t>(sizeof(req)) || count < 1) ::_exit(0);
    const int listener = fds[0];
    if (req.src == SrcFd::kSent && count == 2) req.call.addfd.srcfd = static_cast<uint32_t>(fds[1]);
    if (req.src == SrcFd::kListener) req.call.addfd.srcfd = static_cast<uint32_t>(listener);
    Reply reply;
    reply.outcome = RunThreadCall(req.call, listener, pages, &reply.answer);
    for (int i = 0; i < count; ++i) ::close(fds[i]);
    while (::send(sock, &reply, sizeof(reply), MSG_NOSIGNAL) < 0) {
      if (errno != EINTR) ::_exit(0);
    }
  }
}

}  // namespace

Outcome RunThreadCall(const ThreadCall& call, int listener, char* pages, RecvAnswer* answer) {
  switch (call.kind) {
    case OpKind::kRecv: {
      seccomp_notif local{};
      seccomp_notif* notif = &local;
      if (call.buffer == BufferKind::kNonZero) local.pid = 1;
      if (call.buffer == BufferKind::kUnmapped) notif = reinterpret_cast<seccomp_notif*>(pages);
      if (call.buffer == BufferKind::kReadOnly) {
        notif = reinterpret_cast<seccomp_notif*>(pages + kArgPageSize);
      }
      auto recv = NotifRecv(listener, notif);
      if (!recv) return Outcome::Error(recv.error().value());
      *answer = RecvAnswer{static_cast<pid_t>(local.pid), local.id, local.data.nr,
                           static_cast<uint64_t>(local.data.args[0])};
      return Outcome::Ok(0);
    }
    case OpKind::kAddFd: {
      // Built on this stack: several may be in the kernel at once. The struct, then a tail
      // up to `size` bytes (the size bits stop below 16 KiB).
      alignas(8) char buffer[uapi::kIocSizeMask + 1] = {};
      std::memcpy(buffer, &call.addfd, sizeof(call.addfd));
      if (call.arg == AddFdArg::kTailNonZero && call.size > sizeof(call.addfd)) {
        buffer[call.size - 1] = 1;
      }
      const char* where = call.arg == AddFdArg::kUnreadable ? pages : buffer;
      auto fd = NotifAddFdRaw(listener, where, call.size);
      return fd ? Outcome::Ok(fd->number) : Outcome::Error(fd.error().value());
    }
    case OpKind::kSend: {
      auto sent = NotifSend(listener, call.resp);
      return sent ? Outcome::Ok(0) : Outcome::Error(sent.error().value());
    }
    default:
      return Outcome::Error(ENOSYS);
  }
}

Result<std::unique_ptr<SupervisorProcess>> SupervisorProcess::Start(unsigned long ns_flags, int cpu,
                                                                    SchedMode mode, int priority,
                                                                    char* pages) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
    return Error(Errno::Last(), "socketpair for a supervisor process");
  }
  UniqueFd ours(pair[0]);
  UniqueFd theirs(pair[1]);
  const pid_t parent = ::getpid();
  const pid_t pid = CloneProcess(ns_flags);
  if (pid < 0) return Error(Errno::Last(), "clone of a supervisor process");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // A pid namespace's init sees no parent.
    if (::getppid() != (ns_flags != 0 ? 0 : parent)) ::_exit(1);
    const int sock = theirs.get();
    // Nothing of the supervisor's but the socket: what it receives is all it holds.
    if (sock > 0) ::syscall(SYS_close_range, 0u, static_cast<unsigned>(sock - 1), 0u);
    ::syscall(SYS_close_range, static_cast<unsigned>(sock + 1), ~0u, 0u);
    if (cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(static_cast<size_t>(cpu), &set);
      ::sched_setaffinity(0, sizeof(set), &set);
    }
    if (mode == SchedMode::kFifo) {
      struct sched_param param {};
      param.sched_priority = priority;
      ::sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &param);
    }
    Serve(sock, pages);
  }
  std::unique_ptr<SupervisorProcess> process(new SupervisorProcess);
  process->pid_ = pid;
  process->sock_ = std::move(ours);
  return process;
}

SupervisorProcess::~SupervisorProcess() {
  sock_.reset();
  if (pid_ <= 0) return;
  // It exits on its socket's end; one that does not (stuck in an ioctl) is killed.
  for (int i = 0; i < 1000; ++i) {
    int status = 0;
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_ || (done < 0 && errno != EINTR)) return;
    if (i == 200) ::kill(pid_, SIGKILL);
    ::usleep(1000);
  }
}

Outcome SupervisorProcess::Call(ThreadCall call, int listener, RecvAnswer* answer) {
  Request req;
  req.call = call;
  int fds[2] = {listener, -1};
  int count = 1;
  if (call.kind == OpKind::kAddFd) {
    const auto srcfd = static_cast<int>(call.addfd.srcfd);
    if (srcfd == listener) {
      req.src = SrcFd::kListener;
    } else if (srcfd >= 0 && ::fcntl(srcfd, F_GETFD) >= 0) {
      req.src = SrcFd::kSent;
      fds[1] = srcfd;
      count = 2;
    }
  }
  ssize_t n;
  do {
    n = SendWithFds(sock_.get(), &req, sizeof(req), fds, count);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof(req))) return Outcome::Error(EPIPE);
  Reply reply;
  do {
    n = ::recv(sock_.get(), &reply, sizeof(reply), 0);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof(reply))) return Outcome::Error(EPIPE);
  *answer = reply.answer;
  return reply.outcome;
}

std::string SupervisorProcess::LeakedFds() const {
  const std::string dir = "/proc/" + std::to_string(pid_) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return "";
  std::string out;
  int held = 0;
  while (const dirent* entry = ::readdir(d)) {
    if (entry->d_name[0] == '.') continue;
    ++held;
    if (!out.empty()) out += " ";
    out += entry->d_name;
  }
  ::closedir(d);
  return held > 1 ? out : "";
}

}  // namespace addfdlab
