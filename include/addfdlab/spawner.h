// Where target leaders are forked. A fork copies the parent's page tables and leaves both
// sides to take copy-on-write faults, so forking from a sanitized supervisor with hundreds
// of megabytes mapped costs milliseconds a target, on fork and again on exit. Leaders are
// forked instead by the spawner: this executable re-executed as a small single-threaded
// helper, which forks a leader per request and hands back its pidfd. It reaps its
// children itself (SIGCHLD ignored, and child subreaper for orphaned callers), and exits
// when the supervisor's end of its socket closes.
#ifndef ADDFDLAB_SPAWNER_H_
#define ADDFDLAB_SPAWNER_H_

#include <sys/types.h>

#include <vector>

#include "addfdlab/agent_protocol.h"
#include "addfdlab/result.h"
#include "addfdlab/unique_fd.h"

namespace addfdlab {

struct SpawnedLeader {
  pid_t pid = -1;
  UniqueFd pidfd;
  // True when the spawner forked it (its parent reaps it; waitid() here fails ECHILD).
  bool via_spawner = false;
};

// Forks a leader running agent::RunLeader(config) with `control_fds` (the child ends of
// the control sockets), through the spawner when it runs; else (it cannot start, or
// $ADDFDLAB_NO_SPAWNER is set) forks it here.
Result<SpawnedLeader> SpawnLeader(const agent::AgentConfig& config,
                                  const std::vector<int>& control_fds);

// The spawner's pid and socket (harness child and fd), or -1 while none runs.
pid_t SpawnerPid();
int SpawnerFd();

}  // namespace addfdlab

#endif  // ADDFDLAB_SPAWNER_H_
