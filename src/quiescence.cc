// Quiescence points on the kernel side. Every supervisor thread is SCHED_FIFO on the
// targets' CPU and the targets are SCHED_OTHER, so targets run only where a quiescence
// point (or an op that sleeps in the kernel) lets them.
#include "quiescence.h"

#include <unistd.h>

#include <algorithm>

namespace addfdlab {

std::vector<uint64_t> Quiescence::TargetSwitches() const {
  std::vector<uint64_t> switches;
  for (const Target* target : targets_) {
    for (int k = 0; k < target->tasks(); ++k) {
      switches.push_back(target->TaskSwitches(k));
    }
  }
  return switches;
}

void Quiescence::CheckSchedule() {
  if (deterministic_ && !switches_at_quiet_.empty() && !targets_may_run_ &&
      TargetSwitches() != switches_at_quiet_) {
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
  if (!deterministic_) return WaitQuiet();
  // Between two quiescence points every supervisor thread that can run is SCHED_FIFO on
  // the targets' CPU, so a target that was put on the CPU meanwhile ran where the schedule
  // forbids it. The kernel does that: it keeps 50 ms of every second for SCHED_OTHER
  // tasks (sched_rt_runtime_us = 950000: real-time throttling, and since 6.12 the fair
  // deadline server), and while that share is due a woken target preempts a SCHED_FIFO
  // thread. What the target did then may differ from the model's schedule: the run is
  // repeated (Executor::Run). The switch counts come from /proc, read while the targets
  // sleep or wait for this CPU, so they are exact.
  CheckSchedule();
  if (!WaitQuiet()) return false;
  switches_at_quiet_ = TargetSwitches();
  targets_may_run_ = false;
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
  const auto deadline = limits_.Deadline(dying ? limits_.reap : limits_.op);
  if (Settled()) return true;
  // Pinned to one CPU, the targets have run out of work when the idle thread runs. Work
  // elsewhere (a dying task's teardown) may still be on its way: then fall back to polling.
  if (idle_ != nullptr) {
    for (int round = 0; round < 2; ++round) {
      idle_->WaitIdle(std::min(deadline, Clock::now() + std::chrono::milliseconds(5)));
      if (Settled()) return true;
    }
  }
  // Short sleeps first (most ops settle within microseconds), then longer ones, so that a
  // dying task's exit, which may need other tasks on this CPU, is not starved by polling.
  useconds_t pause = 10;
  for (;;) {
    if (Settled()) return true;
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

bool Quiescence::Settled() {
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
  if (!deterministic_) {
    // Without SCHED_FIFO our threads may still be on their way into the kernel.
    for (const SupervisorThread* thread : threads_) {
      if (thread->busy() && !thread->Sleeping()) return false;
    }
  }
  return true;
}

}  // namespace addfdlab
