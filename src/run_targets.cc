// The run's targets: acquired from their pools with calibrated notification ids, drained
// back to rest, and released with the ids the next run starts from.
#include "run_targets.h"

#include <fcntl.h>
#include <poll.h>

#include "addfdlab/notifier.h"
#include "addfdlab/spawner.h"

namespace addfdlab {
namespace {

bool Calibrate(TargetSlot& slot, const Limits& limits) {
  Target& t = *slot.target;
  if (t.next_notif_id()) {
    slot.base_id = *t.next_notif_id();
    return true;
  }
  if (t.listener() < 0) return true;
  // One throwaway notification tells the listener's current id. A caller makes it, or
  // without callers the leader (before the run: a task `spawn` makes may trap in it).
  const int task = t.tasks() >= 2 ? 1 : 0;
  if (!t.Start(task, MakeRequest(agent::Command::kTrap))) return false;
  auto notif = RecvNotification(t.listener(), limits.Deadline(limits.op));
  if (!notif) return false;
  seccomp_notif_resp resp{};
  resp.id = notif->id;
  resp.error = -ENOSYS;
  if (!NotifSend(t.listener(), resp)) return false;
  if (!t.Finish(task, limits.Deadline(limits.op))) return false;
  slot.base_id = notif->id + 1;
  t.set_next_notif_id(slot.base_id);
  return true;
}

}  // namespace

bool AcquireTargets(const Scenario& scenario,
                    const std::function<TargetPool&(const TargetDecl&)>& pool_for,
                    const Limits& limits, std::vector<TargetSlot>* slots,
                    std::vector<Verdict>* verdicts) {
  for (const TargetDecl& decl : scenario.targets) {
    TargetSlot slot;
    slot.pool = &pool_for(decl);
    auto target = slot.pool->Acquire();
    if (!target) {
      Verdict v;
      v.kind = Verdict::Kind::kHarness;
      v.detail = "cannot start a target: " + target.error().ToString();
      verdicts->push_back(v);
      return false;
    }
    slot.target = std::move(*target);
    if (!Calibrate(slot, limits)) {
      Verdict v;
      v.kind = Verdict::Kind::kHarness;
      v.detail = "cannot calibrate notification ids";
      verdicts->push_back(v);
      slots->push_back(std::move(slot));
      return false;
    }
    slots->push_back(std::move(slot));
  }
  return true;
}

// Brings every target back to rest: interrupts blocked supervisor threads, answers every
// notification still pending, lets blocked tasks return.
void DrainTargets(std::vector<TargetSlot>& slots, const std::vector<SupervisorThread*>& named,
                  const std::set<std::pair<int, uint64_t>>& received, Quiescence& quiet,
                  const Limits& limits) {
  std::vector<UniqueFd> fifo_writers;
  quiet.TargetsMayRun();
  for (SupervisorThread* thread : named) {
    if (thread->busy()) {
      thread->Interrupt(false);
      thread->Result(limits.Deadline(limits.op));
    }
  }
  for (int round = 0; round < 3; ++round) {
    bool busy = false;
    for (size_t ti = 0; ti < slots.size(); ++ti) {
      Target& t = *slots[ti].target;
      for (int k = 1; k < t.tasks(); ++k) busy |= t.busy(k);
      if (t.listener() < 0) continue;
      for (const auto& [target, id] : received) {
        if (target != static_cast<int>(ti)) continue;
        seccomp_notif_resp resp{};
        resp.id = id;
        resp.error = -ENOSYS;
        (void)NotifSend(t.listener(), resp);
      }
      // Whatever is still unreceived: receive and answer it.
      for (;;) {
        struct pollfd pfd {
          t.listener(), POLLIN, 0
        };
        if (::poll(&pfd, 1, 0) <= 0 || !(pfd.revents & POLLIN)) break;
        auto notif = RecvNotification(t.listener(), limits.Deadline(limits.op));
        if (!notif) break;
        seccomp_notif_resp resp{};
        resp.id = notif->id;
        resp.error = -ENOSYS;
        (void)NotifSend(t.listener(), resp);
      }
      // Reservations: let their opens return.
      for (int k = 1; k < t.tasks(); ++k) {
        if (!t.busy(k)) continue;
        fifo_writers.emplace_back(
            ::open(t.fifo_path(k).c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
      }
    }
    if (!busy) break;
    quiet.TargetsMayRun();
    quiet.Quiesce();
    for (TargetSlot& slot : slots) {
      Target& t = *slot.target;
      for (int k = 1; k < t.tasks(); ++k) {
        if (t.busy(k) && t.ReplyReady(k)) (void)t.Finish(k, limits.Deadline(limits.op));
      }
    }
  }
  fifo_writers.clear();
}

void ReleaseTargets(std::vector<TargetSlot>& slots, const Model& model, bool clean) {
  for (size_t ti = 0; ti < slots.size(); ++ti) {
    TargetSlot& slot = slots[ti];
    if (!slot.target) continue;
    // The next run starts where this one's ids ended, unless it went wrong.
    const int target = static_cast<int>(ti);
    if (clean && model.TargetAlive(target)) {
      slot.target->set_next_notif_id(slot.base_id + static_cast<uint64_t>(model.NextSeq(target)));
    } else {
      slot.target->set_next_notif_id(std::nullopt);
    }
    // A count left on the listener's RECV semaphore would answer the next run's first RECV
    // with ENOENT, and no reset takes it back: such a listener is not reused. Nor is one
    // after a run that went wrong, whose count and ids the model may not know (off its
    // schedule, a target may have used others; in the idle mode one that ran out of turn
    // was owed much CPU time, its lag kept while it sleeps, and would be again at its next
    // wake-up).
    if (!clean || model.StaleRequests(target) > 0) slot.target->Taint();
    slot.pool->Release(std::move(slot.target));
  }
  slots.clear();
}

}  // namespace addfdlab
