// Pid namespaces probed by behaviour, and pids read across them from /proc.
#include "addfdlab/namespaces.h"

#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "addfdlab/fd_table.h"

namespace addfdlab {

pid_t CloneProcess(unsigned long flags) {
  return static_cast<pid_t>(::syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0));
}

namespace {

// Clones a child with `flags` that exits 0 when it is pid 1 of a new namespace: "" when it
// did, else what went wrong.
std::string TryPidNs(unsigned long flags) {
  const pid_t pid = CloneProcess(flags);
  if (pid == 0) ::_exit(::syscall(SYS_getpid) == 1 ? 0 : 1);
  if (pid < 0) return "clone -> " + ErrnoName(errno);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  return "the child was not its namespace's pid 1";
}

}  // namespace

const PidNsAccess& PidNamespaceAccess() {
  static const PidNsAccess access = [] {
    PidNsAccess out;
    const std::string alone = TryPidNs(CLONE_NEWPID);
    if (alone.empty()) {
      out.flags = CLONE_NEWPID;
      out.evidence = "clone(CLONE_NEWPID) -> a child that is pid 1";
      return out;
    }
    const std::string with_user = TryPidNs(CLONE_NEWUSER | CLONE_NEWPID);
    if (with_user.empty()) {
      out.flags = CLONE_NEWUSER | CLONE_NEWPID;
      out.evidence = "clone(CLONE_NEWPID): " + alone +
                     "; clone(CLONE_NEWUSER|CLONE_NEWPID) -> a child that is pid 1";
      return out;
    }
    out.evidence =
        "clone(CLONE_NEWPID): " + alone + "; clone(CLONE_NEWUSER|CLONE_NEWPID): " + with_user;
    return out;
  }();
  return access;
}

namespace {

// The innermost pid of an NSpid: line of /proc/.../status, or 0.
pid_t InnermostPid(const std::string& status_path) {
  std::ifstream status(status_path);
  std::string line;
  while (std::getline(status, line)) {
    if (!line.starts_with("NSpid:")) continue;
    std::istringstream fields(line.substr(6));
    pid_t last = 0;
    for (pid_t pid = 0; fields >> pid;) last = pid;
    return last;
  }
  return 0;
}

}  // namespace

Result<pid_t> OuterPid(pid_t parent, pid_t inner) {
  auto tids = ListProcNumbers("/proc/" + std::to_string(parent) + "/task");
  if (!tids) return std::move(tids).error().WithContext("the threads of " + std::to_string(parent));
  for (const pid_t child : ChildrenOfThreads(parent, *tids)) {
    if (InnermostPid("/proc/" + std::to_string(child) + "/status") == inner) return child;
  }
  return Error(Errno(ESRCH), "no child of " + std::to_string(parent) + " is pid " +
                                 std::to_string(inner) + " in its namespace");
}

Result<pid_t> OuterTid(pid_t member, pid_t inner) {
  const std::string task = "/proc/" + std::to_string(member) + "/task/";
  auto tids = ListProcNumbers(task);
  if (!tids) return std::move(tids).error().WithContext("the threads of " + std::to_string(member));
  for (const pid_t tid : *tids) {
    if (InnermostPid(task + std::to_string(tid) + "/status") == inner) return tid;
  }
  return Error(Errno(ESRCH), "no thread of " + std::to_string(member) + " is " +
                                 std::to_string(inner) + " in its namespace");
}

}  // namespace addfdlab
