// TargetPool: reset and reuse.
#include "addfdlab/target_pool.h"

namespace addfdlab {

Result<bool> AtBaseline(const Target& target) {
  auto snapshot = SnapshotFds(target.pid());
  if (!snapshot) return snapshot.error();
  if (snapshot->fds.size() != static_cast<size_t>(target.tasks())) return false;
  int expected = agent::kHarnessFdBase;
  for (const auto& [fd, info] : snapshot->fds) {
    if (fd != expected++ || !info.cloexec) return false;
  }
  return true;
}

Result<void> ResetTarget(Target& target) {
  for (int t = 0; t < target.tasks(); ++t) {
    if (target.busy(t)) return Errno(EBUSY);
  }
  // The leader's reset clears the shared table; the others only matter when a handler or
  // a limit of theirs changed, and without such a change the leader's handlers and limit
  // are at their baseline too: it clears the table only.
  if (target.tasks_dirty()) {
    ADDFDLAB_TRY(target.Broadcast(MakeRequest(agent::Command::kReset)));
    target.ClearTasksDirty();
  } else {
    auto reply = target.Call(0, MakeRequest(agent::Command::kReset, {1}));
    if (!reply) return reply.error();
    if (reply->err != 0) return Errno(reply->err);
  }
  // SYNC_WAKE_UP is set absolutely: 0 clears it. Kernels without SET_FLAGS have nothing
  // to clear.
  if (target.listener() >= 0) {
    auto cleared = NotifSetFlags(target.listener(), 0);
    if (!cleared && cleared.error().value() != EINVAL) return cleared.error();
  }
  auto baseline = AtBaseline(target);
  if (!baseline) return baseline.error();
  if (!*baseline) return Errno(EEXIST);
  return {};
}

std::vector<int> TargetPool::OwnedFds() const {
  std::vector<int> fds;
  for (const auto& target : idle_) {
    for (int fd : target->OwnedFds()) fds.push_back(fd);
  }
  for (const auto& target : ahead_) {
    for (int fd : target->OwnedFds()) fds.push_back(fd);
  }
  return fds;
}

std::vector<pid_t> TargetPool::IdlePids() const {
  std::vector<pid_t> pids;
  for (const auto& target : idle_) pids.push_back(target->pid());
  for (const auto& target : ahead_) pids.push_back(target->pid());
  return pids;
}

Result<std::unique_ptr<Target>> TargetPool::Acquire() {
  while (!idle_.empty()) {
    std::unique_ptr<Target> target = std::move(idle_.back());
    idle_.pop_back();
    if (target->Alive()) {
      ++stats_.reused;
      return target;
    }
    ++stats_.replaced;
  }
  while (!ahead_.empty()) {
    std::unique_ptr<Target> target = std::move(ahead_.front());
    ahead_.erase(ahead_.begin());
    if (target->AwaitHello()) {
      ++stats_.spawned;
      ++stats_.ahead;
      return target;
    }
    // It failed to start: a fresh one says why, if it fails too.
  }
  auto fresh = Target::Spawn(config_);
  if (fresh) ++stats_.spawned;
  return fresh;
}

void TargetPool::Release(std::unique_ptr<Target> target) {
  if (target == nullptr) return;
  const bool reusable =
      !target->tainted() && target->Alive() &&
      (!config_.install_filter || target->listener() >= 0 || target->filter_errno() != 0) &&
      ResetTarget(*target).has_value();
  if (!reusable) {
    ++stats_.replaced;
    target.reset();  // the destructor kills and reaps it
    if (idle_.empty() && ahead_.size() < kMaxAhead) {
      auto launched = Target::Launch(config_);
      if (launched) ahead_.push_back(std::move(*launched));
    }
    return;
  }
  idle_.push_back(std::move(target));
}

}  // namespace addfdlab
