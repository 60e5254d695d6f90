// Supervisor threads and deterministic scheduling. Ops run on supervisor threads so that
// several requests can be in the kernel at once; with SCHED_FIFO on one CPU the
// interleaving is chosen, not hoped for (docs/architecture.md, "Determinism").
#ifndef ADDFDLAB_SUPERVISOR_H_
#define ADDFDLAB_SUPERVISOR_H_

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "addfdlab/limits.h"
#include "addfdlab/result.h"
#include "addfdlab/scenario.h"

namespace addfdlab {

// Signals that interrupt a supervisor thread: one handler installed without SA_RESTART,
// one with. Real-time signals nothing else here uses.
int InterruptSignal(bool restart);
// Installs the handlers of both (they only note the signal); idempotent.
void InstallInterruptHandlers();

// Pins the calling thread to `cpu` and gives it `policy` (SCHED_FIFO with `priority`,
// or SCHED_OTHER); false when the kernel refuses. A SCHED_FIFO thread resets its
// children to SCHED_OTHER (SCHED_RESET_ON_FORK).
bool SetScheduling(int cpu, int policy, int priority);

// The CPUs the calling thread may run on (its affinity), ascending; {0} when unknown.
std::vector<int> AllowedCpus();
// The one choice of a CPU for a supervisor and its targets: `asked` when >= 0, else
// $ADDFDLAB_CPU (one of AllowedCpus() when it is not allowed), else one of AllowedCpus()
// chosen by pid, so that parallel fuzzing jobs spread over the CPUs.
int ChooseCpu(int asked);

// One supervisor thread, running one job at a time.
class SupervisorThread {
 public:
  // Starts the thread, pinned to `cpu` with SCHED_FIFO `priority` when `fifo`.
  SupervisorThread(int cpu, bool fifo, int priority);
  ~SupervisorThread();
  SupervisorThread(const SupervisorThread&) = delete;
  SupervisorThread& operator=(const SupervisorThread&) = delete;

  // Hands the thread a job and returns once the job has finished or is asleep in the
  // kernel (in FIFO mode the thread preempts us, so that is at once), or at `deadline`
  // (false).
  bool Start(std::function<Outcome()> job, Clock::time_point deadline);
  bool busy() const { return busy_.load(); }
  // Waits for the job's outcome until `deadline`; nullopt when it is still running.
  std::optional<Outcome> Result(Clock::time_point deadline);
  // The outcome, if the job has finished; does not wait.
  std::optional<Outcome> TryResult();
  // Sends InterruptSignal(restart) to the thread.
  void Interrupt(bool restart);
  // True when the thread is asleep in the kernel (or idle between jobs).
  bool Sleeping() const;
  pid_t tid() const { return tid_.load(); }

 private:
  void Loop(int cpu, bool fifo, int priority);

  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::function<Outcome()> job_;
  Outcome outcome_;
  std::atomic<bool> busy_{false};
  std::atomic<bool> running_job_{false};
  std::atomic<pid_t> tid_{0};
  int stat_fd_ = -1;  // its /proc stat file, read by Sleeping()
  bool stop_ = false;
  bool has_job_ = false;
  bool done_ = false;
};

// Tells when a CPU has run out of work. A SCHED_IDLE thread pinned to the CPU, which the
// scheduler runs only when nothing else there is runnable, wakes the waiter: after an op,
// the targets have gone quiet by then (the waiter still confirms it from /proc). Without
// it, settling means sleeping and polling.
class IdleWaker {
 public:
  explicit IdleWaker(int cpu);
  ~IdleWaker();
  IdleWaker(const IdleWaker&) = delete;
  IdleWaker& operator=(const IdleWaker&) = delete;

  // Blocks until the idle thread has run (true) or `deadline` (false).
  bool WaitIdle(Clock::time_point deadline);
  // The eventfds it holds (harness fds, for hygiene accounting).
  std::vector<int> OwnedFds() const { return {arm_fd_, wake_fd_}; }
  // OK when its thread runs; else why it could not start (its eventfds failed).
  const Result<void>& started() const { return started_; }

 private:
  int arm_fd_ = -1;
  int wake_fd_ = -1;
  Result<void> started_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Reads the scheduler state letter of a task ('R', 'S', 'Z', ...), or 0 when it is gone.
char TaskState(pid_t pid, pid_t tid);
// The same through a kept /proc/PID/task/TID/stat fd, which polling loops reuse: a path
// lookup per poll is costly once /proc holds many dead pids.
int OpenTaskStat(pid_t pid, pid_t tid);
char TaskStateAt(int stat_fd);
// How many times a task has been switched onto a CPU (the third field of
// /proc/PID/task/TID/schedstat), through a kept fd of that file; 0 once it is reaped. A
// change between two reads means the task ran in between.
int OpenTaskSchedstat(pid_t pid, pid_t tid);
uint64_t TaskSwitchesAt(int schedstat_fd);

}  // namespace addfdlab

#endif  // ADDFDLAB_SUPERVISOR_H_
