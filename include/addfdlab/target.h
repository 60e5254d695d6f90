// A target: a forked agent process (the leader) and caller tasks sharing its fd table,
// all under one seccomp notifier filter whose listener the supervisor holds.
#ifndef ADDFDLAB_TARGET_H_
#define ADDFDLAB_TARGET_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "addfdlab/agent_protocol.h"
#include "addfdlab/kcov.h"
#include "addfdlab/limits.h"
#include "addfdlab/notifier.h"
#include "addfdlab/result.h"
#include "addfdlab/supervisor.h"
#include "addfdlab/unique_fd.h"

namespace addfdlab {

struct TargetConfig {
  // seccomp() filter flags; NEW_LISTENER for a listener. Bad combinations are allowed:
  // the leader then reports the errno and has no listener.
  unsigned filter_flags = uapi::kFilterNewListener;
  bool install_filter = true;
  // Caller tasks besides the leader (at most agent::kMaxCallers).
  int callers = 2;
  // When > 0 every task runs SCHED_FIFO at this priority (the executor's deterministic
  // mode); 0 keeps the forking thread's policy.
  int fifo_priority = 0;
  // Every task runs SCHED_IDLE (the executor's idle mode): on a CPU shared with the
  // supervisor, it runs only while every supervisor thread sleeps.
  bool sched_idle = false;
  // Its tasks live in a new pid namespace (PidNamespaceAccess(); none when it has no
  // flags): task_pid() is still each task's pid in ours.
  bool pid_ns = false;
  Limits limits;
};

class Target {
 public:
  // Forks a target (through the spawner, spawner.h). Its leader dies with its parent
  // (PR_SET_PDEATHSIG), and the spawner exits with this process, so a killed supervisor
  // leaves nothing behind. A failure's message says which step failed ("no hello from
  // the leader: it exited with exit code 2: ...").
  static Result<std::unique_ptr<Target>> Spawn(const TargetConfig& config);
  // Spawn in two halves, so that a target can start while the supervisor does other work
  // (TargetPool's spawn-ahead): Launch forks the leader and returns at once; AwaitHello
  // waits for its hello (the listener, the callers' pids) and its first ping.
  static Result<std::unique_ptr<Target>> Launch(const TargetConfig& config);
  Result<void> AwaitHello();

  Target(const Target&) = delete;
  Target& operator=(const Target&) = delete;
  // Kills and reaps every task.
  ~Target();

  const TargetConfig& config() const { return config_; }
  pid_t pid() const { return pids_[0]; }
  int tasks() const { return static_cast<int>(pids_.size()); }
  pid_t task_pid(int task) const { return pids_[static_cast<size_t>(task)]; }
  int task_pidfd(int task) const { return pidfds_[static_cast<size_t>(task)].get(); }
  // The task's scheduler state letter ('S', 'D', 'Z', ...), or 0 once it is reaped.
  char TaskState(int task) const;
  // The task's time on a CPU, waiting for one, and how many times it was put on one (all
  // 0 once it is reaped): the executor's evidence that a task ran, or did not, between two
  // points.
  TaskRunStats RunStats(int task) const;
  // The listener, or -1 when the filter had no NEW_LISTENER or failed to install.
  int listener() const { return listener_.get(); }
  // What seccomp() answered in the leader (0 or the errno).
  int filter_errno() const { return filter_errno_; }
  // Closes the listener (LISTENER.CLOSED); the target can no longer be reused. Its number
  // stays taken by /dev/null while the target lives, so that a supervisor ioctl restarted
  // on it (SA_RESTART) fails the same way every time (ENOTTY).
  void CloseListener();
  // The FIFO whose open() blocks caller `task` with a reserved fd slot (one per task: a
  // writer releases every open blocked on its FIFO).
  std::string fifo_path(int task) const { return fifo_path_ + "-" + std::to_string(task); }

  // Sends a command to a task without waiting for the reply.
  Result<void> Start(int task, const agent::Request& req);
  // True while a started command has not been finished.
  bool busy(int task) const { return busy_[static_cast<size_t>(task)]; }
  // True when the task's reply is ready to read.
  bool ReplyReady(int task) const;
  // Waits for a started command's reply until `deadline`; ETIMEDOUT when it does not come,
  // EPIPE when the task died.
  Result<agent::Reply> Finish(int task, Clock::time_point deadline);
  // Start + Finish with the command deadline.
  Result<agent::Reply> Call(int task, const agent::Request& req);
  // The same command on every task (signal handlers and rlimits are per task).
  Result<void> Broadcast(const agent::Request& req);

  // Task `task` clones a new task sharing the table (agent::Command::kSpawn) as task
  // `index` (>= tasks(); indices in between, of spawns a run skipped, stay empty: no pid,
  // no pidfd, no control socket): a process, or with `thread` a thread of `task`'s thread
  // group (its pidfd a PIDFD_THREAD one: Feature::kPidfdThread). The target is tainted: it
  // is not reused. Returns `index`.
  Result<int> SpawnTask(int task, int index, bool thread);

  // True when the leader and every task still run.
  bool Alive() const;
  // pidfd_send_signal to one task: to the process, or once the target has a thread task,
  // to the thread the task is (PIDFD_SIGNAL_THREAD), as the model follows it.
  Result<void> Signal(int task, int sig);
  // SIGKILLs every task and reaps the leader; closes the listener. Idempotent.
  void Kill();
  // SIGKILLs every task, callers first, and keeps the listener (a scenario's `kill`).
  void KillTasks();
  // Reaps what can be reaped among exited tasks; true when every task has exited and
  // none is left to reap.
  bool ReapExited();
  // The id the listener will give its next notification, when known.
  std::optional<uint64_t> next_notif_id() const { return next_notif_id_; }
  void set_next_notif_id(std::optional<uint64_t> id) { next_notif_id_ = id; }

  // The task's KCOV buffer (kcov.h), enabled by the task itself on first use
  // (agent::Command::kKcovEnable) and kept while the target lives.
  Result<KcovArea*> Kcov(int task);
  // The buffers enabled so far (null where none).
  const std::vector<std::unique_ptr<KcovArea>>& kcov_areas() const { return kcov_; }

  // The supervisor-side fds this target owns (listener, pidfds, control sockets, kcov).
  std::vector<int> OwnedFds() const;

  // True once any task's signal handlers or limits may differ from the leader's: a reset
  // must then visit every task, not only the leader.
  bool tasks_dirty() const { return tasks_dirty_; }
  void MarkTasksDirty() { tasks_dirty_ = true; }
  void ClearTasksDirty() { tasks_dirty_ = false; }

  // Marks the target as changed beyond what a reset undoes (a second filter, ...).
  void Taint() { tainted_ = true; }
  bool tainted() const { return tainted_; }

 private:
  explicit Target(const TargetConfig& config) : config_(config) {}

  TargetConfig config_;
  std::vector<pid_t> pids_;
  std::vector<UniqueFd> pidfds_;
  std::vector<UniqueFd> controls_;
  mutable std::vector<UniqueFd> stat_fds_;       // opened on first TaskState(), by task
  mutable std::vector<UniqueFd> schedstat_fds_;  // opened on first RunStats(), by task
  std::vector<bool> busy_;
  std::vector<std::unique_ptr<KcovArea>> kcov_;  // by task, once enabled
  UniqueFd listener_;
  UniqueFd closed_listener_;  // /dev/null at the closed listener's number
  int filter_errno_ = 0;
  bool via_spawner_ = false;  // the spawner forked the leader and reaps it
  std::string fifo_path_;
  std::optional<uint64_t> next_notif_id_;
  bool killed_ = false;
  bool tainted_ = false;
  bool tasks_dirty_ = false;
  bool threaded_ = false;  // a task is a thread of another's group
};

// Builds a request for an agent task.
agent::Request MakeRequest(agent::Command command, std::initializer_list<int64_t> args = {});

// Polls the listener until a notification is pending (or the deadline passes: ETIMEDOUT),
// then receives it into a zeroed buffer.
Result<seccomp_notif> RecvNotification(int listener, Clock::time_point deadline);

// Removes the targets' FIFO folders (/tmp/addfdlab-fifos-<pid>-*) that this user's
// processes left when they were killed or left with _exit(): those whose pid is gone. The
// first target a process spawns runs it.
void SweepDeadFifoDirs();

}  // namespace addfdlab

#endif  // ADDFDLAB_TARGET_H_
