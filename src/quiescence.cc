// Quiescence points on the kernel side. On the targets' CPU every supervisor thread is
// SCHED_FIFO over SCHED_OTHER targets (fifo mode), or SCHED_OTHER over SCHED_IDLE targets
// and never asleep between two points (idle mode), so targets run only where a
// quiescence point (or an op that sleeps in the kernel) lets them. Free scheduling
// chooses nothing; in every mode the schedule check says whether a run kept to it.
#include "quiescence.h"

#include <unistd.h>

#include <algorithm>

namespace addfdlab {

std::vector<std::pair<uint64_t, uint64_t>> Quiescence::TargetRuns() const {
  std::vector<std::pair<uint64_t, uint64_t>> runs;
  for (const Target* target : targets_) {
    for (int k = 0; k < target->tasks(); ++k) {
      const TaskRunStats stats = target->RunStats(k);
      runs.emplace_back(stats.run_ns, stats.switches);
    }
  }
  return runs;
}

uint64_t Quiescence::TargetsRanSince(
    const std::vector<std::pair<uint64_t, uint64_t>>& before) const {
  const std::vector<std::pair<uint64_t, uint64_t>> now = TargetRuns();
  uint64_t ran = 0;
  for (size_t i = 0; i < now.size() && i < before.size(); ++i) {
    // A reaped task reads 0.
    if (now[i].first > before[i].first) ran += now[i].first - before[i].first;
  }
  return ran;
}

void Quiescence::CheckSchedule() {
  // Run time as well as switches: a task that went to sleep on another CPU (free
  // scheduling) may be woken before it is off that CPU, and run on without a switch.
  if (checking_ && !runs_at_quiet_.empty() && !targets_may_run_ && TargetRuns() != runs_at_quiet_) {
    schedule_broken_ = true;
  }
}

Verdict Quiescence::Hang(int op, const std::string& what) const {
  Verdict v;
  v.kind = Verdict::Kind::kHang;
  v.op = op;
  v.detail = unsettled_.empty() ? what : what + "; tasks: " + unsettled_;
  return v;
}

bool Quiescence::Quiesce() {
  // Between two quiescence points a supervisor thread can always run on the targets' CPU,
  // so a target that was put on a CPU meanwhile ran where the schedule forbids it. The
  // kernel does that: in the fifo mode it keeps 50 ms of every second for SCHED_OTHER
  // tasks (sched_rt_runtime_us = 950000: real-time throttling, and since 6.12 the fair
  // deadline server), and while that share is due a woken target preempts a SCHED_FIFO
  // thread; in the idle mode the fair scheduler gives a SCHED_IDLE task a small share at a
  // tick; in the free mode targets run on another CPU at once. What the target did then
  // may differ from the model's schedule: the run does not count (Executor::Run). The
  // counts come from /proc, read while the targets sleep or wait for a CPU, so they are
  // exact.
  CheckSchedule();
  if (guard_ != nullptr) guard_->Disarm();
  if (!WaitQuiet()) return false;
  runs_at_quiet_ = TargetRuns();
  targets_may_run_ = false;
  if (guard_ != nullptr && checking_) guard_->Arm();
  return true;
}

bool Quiescence::WaitQuiet() {
  // A dying process may take long to tear down (a large address space copied from a
  // sanitized supervisor): give deaths the reaping budget.
  bool dying = false;
  for (size_t ti = 0; ti < targets_.size(); ++ti) {
    for (int k = 0; k < targets_[ti]->tasks(); ++k) {
      dying |= !model_.TaskAlive(static_cast<int>(ti), k);
    }
  }
  const Millis budget = dying ? limits_.reap : limits_.op;
  auto deadline = limits_.Deadline(budget);
  if (Settled()) return true;
  // SCHED_IDLE targets on a CPU that other processes keep busy get a small share of it:
  // there a hang is the budget in target CPU time (or 4 times it in all), not in ours.
  const auto longest = limits_.Deadline(budget * 4);
  const auto runs_before = mode_ == SchedMode::kIdle ? TargetRuns() : decltype(TargetRuns()){};
  const auto budget_ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(budget * limits_.scale).count());
  // Pinned to one CPU, the targets have run out of work when the idle thread runs. Other
  // processes on that CPU keep it from running although the targets sleep, so the waits
  // start short and grow (0.1 ms to 3.2 ms, 6.3 ms in all). Work elsewhere (a dying task's
  // teardown) may still be on its way: then fall back to polling.
  if (idle_ != nullptr) {
    auto wait = std::chrono::microseconds(100);
    for (int round = 0; round < 6; ++round, wait *= 2) {
      idle_->WaitIdle(std::min(deadline, Clock::now() + wait));
      if (Settled()) return true;
    }
  }
  // Short sleeps first (most ops settle within microseconds), then longer ones, so that a
  // dying task's exit, which may need other tasks on this CPU, is not starved by polling.
  useconds_t pause = 10;
  for (;;) {
    if (Settled()) return true;
    if (Clock::now() > deadline && mode_ == SchedMode::kIdle && Clock::now() < longest &&
        TargetsRanSince(runs_before) < budget_ns) {
      deadline = std::min(longest, Clock::now() + budget / 10);
    }
    if (Clock::now() > deadline) {
      // What was still awake goes into the hang verdict.
      unsettled_.clear();
      for (size_t ti = 0; ti < targets_.size(); ++ti) {
        const Target& t = *targets_[ti];
        for (int k = 0; k < t.tasks(); ++k) {
          const char state = t.TaskState(k);
          unsettled_ += (unsettled_.empty() ? "" : ", ") + scenario_.targets[ti].name + "." +
                        std::to_string(k) + " " + (state != 0 ? std::string(1, state) : "gone");
        }
      }
      return false;
    }
    ::usleep(pause);
    pause = std::min<useconds_t>(pause * 2, 2000);
  }
}

bool Quiescence::ThreadsAsleep() const {
  for (const SupervisorThread* thread : threads_) {
    if (thread->busy() && !thread->AsleepInIoctl()) return false;
  }
  return true;
}

bool Quiescence::Settled() {
  // Without SCHED_FIFO our threads may still be on their way into or out of the kernel,
  // and the targets' states and theirs are read one after another, not at once: a thread
  // read before the targets may have woken them just before (an ADDFD wakes its target,
  // then sleeps until the fd is in), and one read after them may have been woken by a
  // target that went back to sleep. Threads, targets, threads: when a thread sleeps in
  // its ioctl at both ends, what it woke was awake or done in between.
  const bool poll_threads = mode_ != SchedMode::kFifo;
  if (poll_threads && !ThreadsAsleep()) return false;
  for (size_t ti = 0; ti < targets_.size(); ++ti) {
    Target& t = *targets_[ti];
    for (int k = 0; k < t.tasks(); ++k) {
      const char state = t.TaskState(k);
      if (state == 0) continue;
      if (state == 'Z' || state == 'X') {
        t.ReapExited();
        return false;
      }
      // A killable notification wait sleeps in 'D'; anything else in 'D' (an RCU grace
      // period while the fd table grows, a lock) is still on its way.
      if (state == 'D' && !model_.KillableWait(static_cast<int>(ti), k)) return false;
      if (state != 'S' && state != 'D') return false;
    }
  }
  return !poll_threads || ThreadsAsleep();
}

}  // namespace addfdlab
