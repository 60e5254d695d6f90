// The model's own invariants: Model::CheckState (one state is consistent) and
// Model::CheckTransition (two states of one run are in lifecycle order). Apart from model.cc,
// which holds the kernel's semantics only; model_check.cc runs them on scenarios.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "addfdlab/model.h"

namespace addfdlab {

namespace {

// Messages are built only on failure: the checks run after every step of every fuzz input.
Error TargetSays(size_t ti, const std::string& what) {
  return Error::Invalid("target " + std::to_string(ti) + ": " + what);
}

Error NotifSays(size_t ni, const std::string& what) {
  return Error::Invalid("notification " + std::to_string(ni) + ": " + what);
}

}  // namespace

bool Model::IsLive(NotifState s) {
  return s == NotifState::kInit || s == NotifState::kSent || s == NotifState::kReplied;
}

Result<void> Model::CheckState() const {
  for (size_t ti = 0; ti < targets_.size(); ++ti) {
    ADDFDLAB_TRY(CheckTarget(ti));
    ADDFDLAB_TRY(CheckFdTable(ti));
    ADDFDLAB_TRY(CheckTasks(ti));
    ADDFDLAB_TRY(CheckNotifList(ti));
  }
  uint64_t queued = 0;  // the threads with a request queued, one bit each
  for (size_t ni = 0; ni < notifs_.size(); ++ni) ADDFDLAB_TRY(CheckNotif(ni, &queued));
  return CheckThreads(queued);
}

// Its tasks, liveness and listener, and the harness fds: the control sockets, at their
// numbers, cloexec, never touched.
Result<void> Model::CheckTarget(size_t ti) const {
  const TargetState& t = targets_[ti];
  if (t.tasks.size() !=
      static_cast<size_t>(TasksBefore(scenario_, static_cast<int>(ti), scenario_.ops.size()))) {
    return TargetSays(ti, "task count differs from its declaration and spawns");
  }
  const bool any_alive =
      std::any_of(t.tasks.begin(), t.tasks.end(), [](const Task& k) { return k.alive; });
  if (t.alive != any_alive) {
    return TargetSays(ti, t.alive ? "alive with every task dead" : "dead with a task alive");
  }
  if (!t.alive && !t.fds.empty()) return TargetSays(ti, "dead, with fds in its table");
  if (t.listener_closing && !t.listener) {
    return TargetSays(ti, "closing a listener it does not have");
  }
  if (t.listener_closing && !ThreadInListenerIoctl(static_cast<int>(ti)) &&
      !TableHoldsListener(static_cast<int>(ti))) {
    return TargetSays(ti, "listener closing, no ioctl in progress, no copy (not detached)");
  }
  if (t.requests < 0) return TargetSays(ti, "negative RECV count");
  if (!t.alive) return {};
  for (int k = 0; k < static_cast<int>(t.tasks.size()); ++k) {
    if (!t.tasks[static_cast<size_t>(k)].created) continue;
    const auto it = t.fds.find(env_.harness_fd_base + k);
    if (it == t.fds.end() || it->second.file.kind != ModelFile::Kind::kHarness ||
        it->second.file.index != k || !it->second.cloexec) {
      return TargetSays(
          ti, "harness fd " + std::to_string(env_.harness_fd_base + k) + " replaced or closed");
    }
  }
  return {};
}

// Every fd holds a file that exists, at a number the kernel could have given.
Result<void> Model::CheckFdTable(size_t ti) const {
  const TargetState& t = targets_[ti];
  // Every fd number comes from a check against RLIMIT_NOFILE, which never exceeds the hard
  // limit; the targets start at 1024.
  const uint64_t fd_bound = std::max<uint64_t>(1024, env_.nofile_hard);
  const int harness_end = env_.harness_fd_base + static_cast<int>(t.tasks.size());
  for (const auto& [fd, entry] : t.fds) {
    const char* wrong = nullptr;
    switch (entry.file.kind) {
      case ModelFile::Kind::kHarness:
        if (fd < env_.harness_fd_base || fd >= harness_end ||
            entry.file.index != fd - env_.harness_fd_base) {
          wrong = "a harness file outside its slot";
        }
        break;
      case ModelFile::Kind::kSource:
        if (entry.file.index < 0 || entry.file.index >= kSourceKindCount) {
          wrong = "an unknown source";
        }
        break;
      case ModelFile::Kind::kLocal:
        if (entry.file.index < 0 || entry.file.index >= next_local_) {
          wrong = "a local file never made";
        }
        break;
    }
    if (fd < 0 || static_cast<uint64_t>(fd) >= fd_bound) wrong = "out of range";
    if (wrong != nullptr) return TargetSays(ti, "fd " + std::to_string(fd) + ": " + wrong);
  }
  for (const auto& [fd, cell] : t.fd_cells) {
    if (t.fds.count(fd) == 0)
      return TargetSays(ti, "a cell for fd " + std::to_string(fd) + ", closed");
  }
  for (const auto& [fd, call] : t.fd_emulates) {
    if (t.fd_cells.count(fd) == 0) {
      return TargetSays(ti, "an emulated call for fd " + std::to_string(fd) + ", not injected");
    }
  }
  return {};
}

// Tasks: blocked in at most one thing; a reserved slot stays free until the open returns.
Result<void> Model::CheckTasks(size_t ti) const {
  const TargetState& t = targets_[ti];
  for (size_t k = 0; k < t.tasks.size(); ++k) {
    const Task& task = t.tasks[k];
    const char* wrong = nullptr;
    if (!task.alive) {
      if (task.notif != -1 || task.reserving || task.signal_pending || task.fatal_pending ||
          task.dies_on_delivery) {
        wrong = "dead, yet blocked or with a signal pending";
      }
    } else if (task.reserving && task.notif >= 0) {
      wrong = "blocked in a FIFO open and a notification at once";
    } else if (task.reserving) {
      if (task.reserved_slot < 0 || t.fds.count(task.reserved_slot) != 0) {
        wrong = "its reserved slot is taken";
      }
      for (size_t other = 0; other < k; ++other) {
        const Task& o = t.tasks[other];
        if (o.alive && o.reserving && o.reserved_slot == task.reserved_slot) {
          wrong = "its reserved slot is another task's";
        }
      }
    } else if (task.notif >= 0) {
      if (static_cast<size_t>(task.notif) >= notifs_.size()) {
        wrong = "blocked in an unknown notification";
      } else {
        const Notif& n = notifs_[static_cast<size_t>(task.notif)];
        if (n.target != static_cast<int>(ti) || n.task != static_cast<int>(k) || !IsLive(n.state)) {
          wrong = "blocked in a notification that is not its own live one";
        }
      }
    }
    if (wrong != nullptr) return TargetSays(ti, "task " + std::to_string(k) + ": " + wrong);
  }
  return {};
}

// The notification list holds exactly the target's live notifications, and the RECV count
// covers every INIT one (a stale count only makes RECV answer ENOENT).
Result<void> Model::CheckNotifList(size_t ti) const {
  const TargetState& t = targets_[ti];
  int init = 0;
  for (size_t i = 0; i < t.notif_list.size(); ++i) {
    const int index = t.notif_list[i];
    if (index < 0 || static_cast<size_t>(index) >= notifs_.size() ||
        std::find(t.notif_list.begin(), t.notif_list.begin() + static_cast<ptrdiff_t>(i), index) !=
            t.notif_list.begin() + static_cast<ptrdiff_t>(i)) {
      return TargetSays(ti, "notification list holds a bad or repeated index");
    }
    const Notif& n = notifs_[static_cast<size_t>(index)];
    if (n.target != static_cast<int>(ti) || !IsLive(n.state)) {
      return TargetSays(ti, "notification list holds " + std::to_string(index) +
                                ", not a live notification of this target");
    }
    if (n.state == NotifState::kInit) ++init;
  }
  if (t.requests < init) return TargetSays(ti, "RECV count below the INIT notifications");
  return {};
}

// One notification: its task, id and list entry, and its queued ADDFD requests (each from a
// thread waiting for it; their threads are added to `queued`).
Result<void> Model::CheckNotif(size_t ni, uint64_t* queued) const {
  const Notif& n = notifs_[ni];
  if (n.state == NotifState::kNone) {
    if (n.target != -1 || n.task != -1 || n.seq != -1 || !n.addfds.empty() || n.returned) {
      return NotifSays(ni, "not trapped yet, but has bookkeeping");
    }
    return {};
  }
  if (n.target < 0 || static_cast<size_t>(n.target) >= targets_.size() || n.task < 0 ||
      static_cast<size_t>(n.task) >= targets_[static_cast<size_t>(n.target)].tasks.size()) {
    return NotifSays(ni, "names no task");
  }
  const TargetState& t = targets_[static_cast<size_t>(n.target)];
  if (IsLive(n.state)) {
    if (n.seq < 0 || n.seq >= t.next_seq) return NotifSays(ni, "id outside its listener's");
    const Task& task = t.tasks[static_cast<size_t>(n.task)];
    if (!task.alive || task.notif != static_cast<int>(ni)) {
      return NotifSays(ni, "live, but its task is not blocked in it");
    }
    if (std::find(t.notif_list.begin(), t.notif_list.end(), static_cast<int>(ni)) ==
        t.notif_list.end()) {
      return NotifSays(ni, "live, but missing from its target's list");
    }
  }
  for (size_t other = 0; other < ni; ++other) {
    if (n.seq >= 0 && notifs_[other].seq == n.seq && notifs_[other].target == n.target) {
      return NotifSays(
          ni, "shares id " + std::to_string(n.seq) + " with notification " + std::to_string(other));
    }
  }
  if (n.returned && n.state != NotifState::kGone) return NotifSays(ni, "returned, not GONE");
  if (n.done < 0) return NotifSays(ni, "negative completion count");
  if (n.addfds.empty()) return {};
  if (n.state != NotifState::kSent && n.state != NotifState::kReplied) {
    return NotifSays(ni, "ADDFD requests queued outside SENT and REPLIED");
  }
  // Each queued request was completed once; the task takes one per wake-up.
  if (n.addfds.size() > static_cast<size_t>(n.done)) {
    return NotifSays(ni, "more queued requests than completions");
  }
  const auto sends =
      std::count_if(n.addfds.begin(), n.addfds.end(), [](const Request& r) { return r.send; });
  if (sends > 0 && (n.addfds.size() != 1 || n.state != NotifState::kReplied)) {
    return NotifSays(ni, "a queued ADDFD|SEND that is not alone on a REPLIED notification");
  }
  for (const Request& r : n.addfds) {
    if (r.thread < 0 || static_cast<size_t>(r.thread) >= threads_.size() || r.thread >= 64 ||
        (*queued & (uint64_t{1} << r.thread)) != 0) {
      return NotifSays(ni, "a request from no thread, or a second one from a thread");
    }
    *queued |= uint64_t{1} << r.thread;
    const Thread& thread = threads_[static_cast<size_t>(r.thread)];
    if (!thread.busy || thread.op != OpKind::kAddFd || thread.notif != static_cast<int>(ni)) {
      return NotifSays(
          ni, "a request whose thread " + std::to_string(r.thread) + " is not waiting for it");
    }
  }
  return {};
}

// Busy threads are in an op that can block, on a listener that exists; each thread waiting
// in ADDFD has its request queued (`queued`, one bit a thread).
Result<void> Model::CheckThreads(uint64_t queued) const {
  uint64_t in_addfd = 0;
  for (size_t i = 0; i < threads_.size(); ++i) {
    const Thread& thread = threads_[i];
    if (!thread.busy) continue;
    const char* wrong = nullptr;
    if (i + 1 == threads_.size()) {
      wrong = "the main thread is left in an ioctl";
    } else if (thread.result) {
      wrong = "busy, with a result";
    } else if (thread.target < 0 || static_cast<size_t>(thread.target) >= targets_.size() ||
               !targets_[static_cast<size_t>(thread.target)].listener) {
      wrong = "busy on a listener that is gone";
    } else if (thread.op != OpKind::kAddFd && thread.op != OpKind::kRecv) {
      wrong = "busy in an op that cannot block";
    }
    if (wrong != nullptr) return Error::Invalid("thread " + std::to_string(i) + ": " + wrong);
    if (thread.op == OpKind::kAddFd) in_addfd |= uint64_t{1} << i;
  }
  if (in_addfd != queued) return Error::Invalid("a thread waits in ADDFD with no request queued");
  return {};
}

Model::Lifecycle Model::LifecycleNow() const {
  Lifecycle now;
  now.notifs.reserve(notifs_.size());
  for (const Notif& n : notifs_) {
    now.notifs.push_back(
        {static_cast<uint8_t>(n.state),
         n.target,
         n.task,
         n.seq,
         n.done,
         n.addfds.size(),
         n.returned ? std::optional<Outcome>(n.returned->outcome) : std::nullopt,
         n.raced_return ? std::optional<Outcome>(n.raced_return->outcome) : std::nullopt,
         {}});
  }
  for (size_t k = 0; k < threads_.size(); ++k) {
    const Thread& th = threads_[k];
    if (!th.install_sent || th.notif < 0) continue;
    for (const int fd : RacedNumbers(static_cast<int>(k))) {
      now.notifs[static_cast<size_t>(th.notif)].raced_numbers.push_back(Outcome::Ok(fd));
    }
  }
  now.targets.reserve(targets_.size());
  for (const TargetState& t : targets_) {
    uint64_t alive = 0;
    for (size_t k = 0; k < t.tasks.size() && k < 64; ++k) {
      // A task a later spawn makes counts as alive until then: it may yet be born.
      if (t.tasks[k].alive || !t.tasks[k].created) alive |= uint64_t{1} << k;
    }
    now.targets.push_back({t.alive, t.listener, t.next_seq, alive});
  }
  now.next_local = next_local_;
  now.clock = clock_;
  return now;
}

Result<void> Model::CheckTransition(const Lifecycle& before) const {
  const Lifecycle now = LifecycleNow();
  if (before.notifs.size() != now.notifs.size() || before.targets.size() != now.targets.size()) {
    return Error::Invalid("compared with another scenario's model");
  }
  // Where a notification instance may be after any number of steps.
  const auto reachable = [](NotifState from, NotifState to) {
    switch (from) {
      case NotifState::kNone:
        return true;
      case NotifState::kInit:
        return to != NotifState::kNone;
      case NotifState::kSent:
      case NotifState::kReplied:  // back to SENT: ADDFD.SEND.FAIL_STAYS, ADDFD.INTR.SEND
        return to != NotifState::kNone && to != NotifState::kInit;
      case NotifState::kGone:
        return to == NotifState::kGone;
    }
    return false;
  };
  static constexpr const char* kStateNames[] = {"NONE", "INIT", "SENT", "REPLIED", "GONE"};
  for (size_t ni = 0; ni < now.notifs.size(); ++ni) {
    const Lifecycle::NotifFacts& b = before.notifs[ni];
    const Lifecycle::NotifFacts& a = now.notifs[ni];
    const auto says = [ni](const std::string& what) {
      return Error::Invalid("notification " + std::to_string(ni) + ": " + what);
    };
    const auto from = static_cast<NotifState>(b.state);
    const auto to = static_cast<NotifState>(a.state);
    if (from == NotifState::kGone) {
      if (to != NotifState::kGone || a.seq != b.seq || a.target != b.target || a.task != b.task ||
          a.done != b.done || a.queued != b.queued ||
          (a.returned != b.returned && a.returned != b.raced_return &&
           (!a.returned || std::find(b.raced_numbers.begin(), b.raced_numbers.end(), *a.returned) ==
                               b.raced_numbers.end()))) {
        return says("changed after it was GONE");
      }
      continue;
    }
    if (a.seq != b.seq) {
      // A new instance: the trap, or a restart of the same task's syscall.
      if (a.seq < b.seq) return says("id went back");
      if (b.seq >= 0 && (a.target != b.target || a.task != b.task)) {
        return says("restarted on another task");
      }
      if (to == NotifState::kNone) return says("new instance in NONE");
      continue;
    }
    if (!reachable(from, to)) {
      return says(std::string(kStateNames[b.state]) + " -> " + kStateNames[a.state]);
    }
  }
  for (size_t ti = 0; ti < now.targets.size(); ++ti) {
    const Lifecycle::TargetFacts& b = before.targets[ti];
    const Lifecycle::TargetFacts& a = now.targets[ti];
    const auto says = [ti](const std::string& what) {
      return Error::Invalid("target " + std::to_string(ti) + ": " + what);
    };
    if (!b.alive && a.alive) return says("came back to life");
    if (!b.listener && a.listener) return says("got its listener back");
    if (a.next_seq < b.next_seq) return says("notification ids went back");
    if ((a.tasks_alive & ~b.tasks_alive) != 0) return says("a dead task came back to life");
  }
  if (now.next_local < before.next_local || now.clock < before.clock) {
    return Error::Invalid("a counter went back");
  }
  return {};
}

}  // namespace addfdlab
