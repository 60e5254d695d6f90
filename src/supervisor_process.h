// Second supervisor processes (ThreadPlace::kProcess, kProcessPidNs): a process forked for
// one run that makes the notifier calls of one supervisor thread's ops, on a listener it
// receives with each call over SCM_RIGHTS, as a runtime's helper process would.
#ifndef ADDFDLAB_SRC_SUPERVISOR_PROCESS_H_
#define ADDFDLAB_SRC_SUPERVISOR_PROCESS_H_

#include <linux/seccomp.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "addfdlab/result.h"
#include "addfdlab/scenario.h"
#include "addfdlab/supervisor.h"
#include "addfdlab/unique_fd.h"

namespace addfdlab {

// The argument pages' size: an unreadable page, then a zeroed read-only one.
inline constexpr size_t kArgPageSize = 4096;

// What a RECV received: the pid of the notification's task, its kernel id, and the
// trapped syscall's number and first argument.
struct RecvAnswer {
  pid_t pid = 0;
  uint64_t id = 0;
  int nr = -1;
  uint64_t arg0 = 0;
};

// One notifier call of a thread's op (recv, addfd, send), as plain data: every field raw.
struct ThreadCall {
  OpKind kind = OpKind::kRecv;
  BufferKind buffer = BufferKind::kZeroed;  // recv
  seccomp_notif_addfd addfd{};              // addfd
  uint32_t size = 0;                        // addfd: the ioctl's size bits
  AddFdArg arg = AddFdArg::kPlain;          // addfd
  seccomp_notif_resp resp{};                // send
};

// Makes `call` on `listener`; `pages` are the two argument pages (kArgPageSize each:
// unreadable, then read-only). A RECV's pid and id go to *answer. Plain syscalls only: a
// forked child of a threaded process runs it.
Outcome RunThreadCall(const ThreadCall& call, int listener, char* pages, RecvAnswer* answer);

class SupervisorProcess {
 public:
  // Forks it (with `ns_flags`, PidNamespaceAccess()'s, for a pid namespace of its own),
  // scheduled as the thread it stands for: pinned to `cpu` (unless -1), SCHED_FIFO at
  // `priority` in kFifo. It dies with this process and exits when its socket closes.
  static Result<std::unique_ptr<SupervisorProcess>> Start(unsigned long ns_flags, int cpu,
                                                          SchedMode mode, int priority,
                                                          char* pages);
  // Closes its socket and reaps it (SIGKILL after `limit`).
  ~SupervisorProcess();
  SupervisorProcess(const SupervisorProcess&) = delete;
  SupervisorProcess& operator=(const SupervisorProcess&) = delete;

  // Runs `call` there, sending `listener` and, when an ADDFD's srcfd is ours to send (open
  // here), that fd with it; waits for the outcome. Runs on the thread that delegates to it.
  // A RECV's pid and id go to *answer.
  Outcome Call(ThreadCall call, int listener, RecvAnswer* answer);
  pid_t pid() const { return pid_; }
  // What the process holds besides its socket: "" or the fds, for the hygiene oracle.
  std::string LeakedFds() const;

 private:
  SupervisorProcess() = default;
  pid_t pid_ = -1;
  UniqueFd sock_;
};

}  // namespace addfdlab

#endif  // ADDFDLAB_SRC_SUPERVISOR_PROCESS_H_
