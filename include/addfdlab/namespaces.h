// New pid namespaces, for targets (TargetDecl::pid_ns) and second supervisor processes
// (ThreadPlace::kProcessPidNs): which clone flags make one here, probed by behaviour.
#ifndef ADDFDLAB_NAMESPACES_H_
#define ADDFDLAB_NAMESPACES_H_

#include <sys/types.h>

#include <string>

#include "addfdlab/result.h"

namespace addfdlab {

// The clone flags that give a child a pid namespace of its own here: CLONE_NEWPID (with
// CAP_SYS_ADMIN), else CLONE_NEWUSER | CLONE_NEWPID (an unprivileged user, where user
// namespaces are allowed), else 0; and what the kernel answered, in words. Probed once per
// process, by cloning a child that checks it is its namespace's pid 1.
struct PidNsAccess {
  unsigned long flags = 0;
  std::string evidence;
};
const PidNsAccess& PidNamespaceAccess();

// A raw clone(flags | SIGCHLD) with fork semantics: the child's pid in the caller's
// namespace, 0 in the child, -1 with errno. The child of a threaded process may make plain
// syscalls only.
pid_t CloneProcess(unsigned long flags);

// The pid, in this process's namespace, of the child of `parent` (of any of its threads)
// whose pid in its own (innermost) namespace is `inner`: from /proc's children and NSpid
// lists.
Result<pid_t> OuterPid(pid_t parent, pid_t inner);
// The thread id, in this process's namespace, of the thread in `member`'s thread group
// whose id in its own namespace is `inner`.
Result<pid_t> OuterTid(pid_t member, pid_t inner);

}  // namespace addfdlab

#endif  // ADDFDLAB_NAMESPACES_H_
