// Supervisor threads and deterministic scheduling. Ops run on supervisor threads so that
// several requests can be in the kernel at once; on one CPU, with SCHED_FIFO supervisor
// threads or SCHED_IDLE targets, the interleaving is chosen, not hoped for
// (docs/architecture.md, "Determinism").
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

#include "addfdlab/environment.h"
#include "addfdlab/limits.h"
#include "addfdlab/probe.h"
#include "addfdlab/result.h"
#include "addfdlab/scenario.h"
#include "addfdlab/unique_fd.h"

namespace addfdlab {

// Signals that interrupt a supervisor thread: one handler installed without SA_RESTART,
// one with. Real-time signals nothing else here uses.
int InterruptSignal(bool restart);
// Installs the handlers of both (they only note the signal); idempotent.
void InstallInterruptHandlers();

// Pins the calling thread to `cpu` (unless it is -1) and gives it `policy` (SCHED_FIFO
// with `priority`, SCHED_OTHER or SCHED_IDLE); false when the kernel refuses. A
// SCHED_FIFO thread resets its children to SCHED_OTHER (SCHED_RESET_ON_FORK).
bool SetScheduling(int cpu, int policy, int priority);

// The executor's SCHED_FIFO priorities: its first named thread takes kFifoTop (or the
// highest priority allowed below it), the others the ones below, then its op thread and its
// main thread: kFifoLevels distinct priorities.
inline constexpr int kFifoTop = 60;
inline constexpr int kFifoLevels = kMaxThreads + 2;

// What SCHED_FIFO this process may use: the highest priority at most kFifoTop its threads
// may take (CAP_SYS_NICE: any; else up to RLIMIT_RTPRIO's soft limit), 0 for none, and
// the kernel's answer in words. Tried on a short-lived thread: no thread's policy changes.
struct FifoAccess {
  int top = 0;
  std::string evidence;
};
FifoAccess ProbeFifo();

// How runs are scheduled here: the mode, the CPUs, the top SCHED_FIFO priority (kFifo),
// and why not a stronger mode.
struct Scheduling {
  SchedMode mode = SchedMode::kFree;
  int cpu = -1;         // the targets' and the executor's main thread's (kFifo, kIdle)
  int thread_cpu = -1;  // the supervisor threads': `cpu`, or in kIdle another one if allowed
  int fifo_top = 0;
  std::string why;
};
// "fifo", "idle", "free".
const char* SchedModeName(SchedMode mode);
// One line: the mode, what it does, and why it is the one.
std::string DescribeScheduling(const Scheduling& scheduling);
// The strongest mode up to `limit` ($ADDFDLAB_SCHED) on `cpu`: kFifo when the probe found
// SCHED_FIFO (Feature::kSchedFifo) and ProbeFifo() gives kFifoLevels priorities; else kIdle
// when a thread can be pinned to `cpu`, take SCHED_IDLE and read its /proc schedstat (the
// schedule check's evidence), with the supervisor threads on another allowed CPU when
// there is one; else kFree.
Scheduling ChooseScheduling(SchedMode limit, const Features& features, int cpu);

// The CPUs the calling thread may run on (its affinity), ascending; {0} when unknown.
std::vector<int> AllowedCpus();
// The one choice of a CPU for a supervisor and its targets: `asked` when >= 0, else
// $ADDFDLAB_CPU (one of AllowedCpus() when it is not allowed), else one of AllowedCpus()
// chosen by pid, so that parallel fuzzing jobs spread over the CPUs.
int ChooseCpu(int asked);
// A CPU claimed for this process: where ChooseCpu would choose by pid, the first allowed
// CPU from that one on that no other process holds (flock(LOCK_EX | LOCK_NB) on
// /tmp/addfdlab-cpu-N.lock, held while `lock` is open), so that parallel fuzzing jobs never
// share one; ChooseCpu's choice when every CPU is held or `asked` or $ADDFDLAB_CPU chose.
struct CpuClaim {
  int cpu = 0;
  UniqueFd lock;  // invalid when nothing is held
};
CpuClaim ClaimCpu(int asked);

// One supervisor thread, running one job at a time.
class SupervisorThread {
 public:
  // Starts the thread: pinned to `cpu` with SCHED_FIFO `priority` (kFifo), pinned to
  // `cpu` as SCHED_OTHER (kIdle: best another CPU than the targets'), or neither (kFree).
  SupervisorThread(int cpu, SchedMode mode, int priority);
  ~SupervisorThread();
  SupervisorThread(const SupervisorThread&) = delete;
  SupervisorThread& operator=(const SupervisorThread&) = delete;

  // Hands the thread a job and returns once the job has finished or is asleep in the
  // kernel (in kFifo the thread preempts us, so that is at once), or at `deadline`
  // (false). In kIdle the caller spins meanwhile, never sleeping or yielding (unless the
  // thread shares its CPU): every time it left the targets' CPU, a SCHED_IDLE target
  // might run.
  bool Start(std::function<Outcome()> job, Clock::time_point deadline);
  // After Interrupt(): waits (as Start does) until the thread has acted on the signal, that
  // is until its job has finished, or it has run since the signal and sleeps again.
  bool AwaitInterrupted(Clock::time_point deadline);
  bool busy() const { return busy_.load(); }
  // Waits for the job's outcome until `deadline`; nullopt when it is still running.
  std::optional<Outcome> Result(Clock::time_point deadline);
  // The outcome, if the job has finished; does not wait.
  std::optional<Outcome> TryResult();
  // Sends InterruptSignal(restart) to the thread.
  void Interrupt(bool restart);
  // True when the thread is asleep in an ioctl: where its job's notifier call sleeps.
  bool AsleepInIoctl() const;
  pid_t tid() const { return tid_.load(); }
  // From now on its jobs make their notifier call in process `pid`, a second supervisor
  // process the job hands it to and waits for: that process's /proc files say where the
  // job sleeps and whether it ran, and Interrupt() signals it. 0: the thread itself again.
  // Only while the thread has no job.
  void Delegate(pid_t pid);

 private:
  void Loop(int cpu, SchedMode mode, int priority);
  // The lock: in kIdle taken spinning, never sleeping.
  std::unique_lock<std::mutex> Lock();
  // Waits until `settled` holds (read under the lock), spinning in kIdle and polling
  // otherwise; false at `deadline`.
  bool AwaitLocked(const std::function<bool()>& settled, Clock::time_point deadline);
  uint64_t RunNs() const;
  // Asleep inside its job (in the kernel), not waiting for the lock after it.
  bool AsleepInJob() const;

  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::function<Outcome()> job_;
  Outcome outcome_;
  std::atomic<bool> busy_{false};
  std::atomic<bool> running_job_{false};
  std::atomic<pid_t> tid_{0};
  SchedMode mode_;
  int cpu_;
  int stat_fd_ = -1;       // its /proc stat file, read by AsleepInIoctl() without syscall_fd_
  int schedstat_fd_ = -1;  // its /proc schedstat file, read by RunNs()
  int syscall_fd_ = -1;    // its /proc syscall file, read by AsleepInIoctl()
  // Delegate()'s process and its files, or 0 and -1.
  pid_t delegate_ = 0;
  int delegate_stat_fd_ = -1;
  int delegate_schedstat_fd_ = -1;
  int delegate_syscall_fd_ = -1;
  uint64_t run_ns_at_interrupt_ = 0;
  bool stop_ = false;
  bool has_job_ = false;
  bool done_ = false;
};

// Keeps SCHED_IDLE tasks off a CPU while armed (the idle mode's targets between two
// quiescence points): a SCHED_OTHER thread pinned there that spins while armed and sleeps
// otherwise. The fair scheduler (EEVDF) picks the eligible task with the earliest virtual
// deadline, and a SCHED_IDLE task's deadline lies hundreds of milliseconds out, but it is
// the only eligible one as soon as a lone supervisor thread has had more than its share
// since the task woke; beside a second one, one of the two is always eligible.
class CpuGuard {
 public:
  explicit CpuGuard(int cpu);
  ~CpuGuard();
  CpuGuard(const CpuGuard&) = delete;
  CpuGuard& operator=(const CpuGuard&) = delete;

  // From now on the thread spins on the CPU; Disarm() lets it sleep again (soon).
  void Arm();
  void Disarm();

 private:
  enum : uint32_t { kSleep, kSpin, kStop };
  std::atomic<uint32_t> state_{kSleep};
  std::thread thread_;
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
// A task's scheduler statistics (/proc/PID/task/TID/schedstat): its time on a CPU, its
// time waiting for one (counted when it gets one), and how many times it was put on one.
// A change of run_ns or switches between two reads means the task ran in between.
struct TaskRunStats {
  uint64_t run_ns = 0;
  uint64_t wait_ns = 0;
  uint64_t switches = 0;
  friend bool operator==(const TaskRunStats&, const TaskRunStats&) = default;
};
// Through a kept fd of that file; all 0 once the task is reaped.
int OpenTaskSchedstat(pid_t pid, pid_t tid);
TaskRunStats TaskRunStatsAt(int schedstat_fd);

}  // namespace addfdlab

#endif  // ADDFDLAB_SUPERVISOR_H_
