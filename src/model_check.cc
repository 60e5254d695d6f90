// The model's invariants: Model::CheckState and Model::CheckTransition (here, next to
// the checks that use them, so that model.cc stays the kernel's semantics only), and the
// driver that runs a scenario on the model alone.
#include "addfdlab/model_check.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "addfdlab/model.h"
#include "addfdlab/scenario_codec.h"

namespace addfdlab {

// ---------------------------------------------------------------------------------------
// One state, and two states of one run.

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
  if (t.tasks.size() != static_cast<size_t>(1 + t.decl.callers)) {
    return TargetSays(ti, "task count differs from its declaration");
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
  if (t.listener_closing && !ThreadInListenerIoctl(static_cast<int>(ti))) {
    return TargetSays(ti, "listener closing with no ioctl in progress (not detached)");
  }
  if (t.requests < 0) return TargetSays(ti, "negative RECV count");
  if (!t.alive) return {};
  for (int k = 0; k < static_cast<int>(t.tasks.size()); ++k) {
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
    now.notifs.push_back({static_cast<uint8_t>(n.state), n.target, n.task, n.seq, n.done,
                          n.addfds.size(),
                          n.returned ? std::optional<Outcome>(n.returned->outcome) : std::nullopt});
  }
  now.targets.reserve(targets_.size());
  for (const TargetState& t : targets_) {
    uint64_t alive = 0;
    for (size_t k = 0; k < t.tasks.size() && k < 64; ++k) {
      if (t.tasks[k].alive) alive |= uint64_t{1} << k;
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
          a.done != b.done || a.queued != b.queued || a.returned != b.returned) {
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

// ---------------------------------------------------------------------------------------
// The driver.

namespace {

struct CheckEnv {
  const char* name;
  ModelEnv env;
};

std::vector<CheckEnv> CheckEnvs() {
  ModelEnv quirk;
  quirk.quirk_intr_send_stays_replied = true;
  quirk.nofile_hard = 4096;
  quirk.nr_open = 2048;  // ADDFD.SETFD.NR_OPEN is reachable
  ModelEnv old;
  old.send = false;
  old.wait_killable_recv = false;
  old.sync_wake_up = false;
  old.recv_enoent = false;
  return {{"every feature", ModelEnv{}}, {"INTR.SEND quirk", quirk}, {"old kernel", old}};
}

bool WellFormed(const Outcome& o) {
  switch (o.kind) {
    case Outcome::Kind::kOk:
      return o.err == 0;
    case Outcome::Kind::kError:
      return o.value == 0 && o.err >= 1 && o.err <= kMaxErrno;
    case Outcome::Kind::kBlocked:
      return o.value == 0 && o.err == 0;
  }
  return false;
}

std::string Describe(const Prediction& p) {
  if (p.skip) return "skip (" + p.skip_reason + ")";
  std::string text = "{";
  for (size_t i = 0; i < p.allowed.size(); ++i) {
    text += (i > 0 ? ", " : "") + DescribeOutcome(p.allowed[i]);
  }
  return text + "} " + p.cell;
}

// The scenario as the kernel gets it: fd literals and ioctl arguments at the width the
// executor and the target's agent pass them (newfd a __u32, close/dup/dup3 C ints, the
// ADDFD size the ioctl number's 14 bits, an ioctl number 32 bits).
Scenario KernelView(Scenario scenario) {
  const auto as_int = [](int64_t v) { return static_cast<int64_t>(static_cast<int32_t>(v)); };
  const auto as_u32 = [](int64_t v) { return static_cast<int64_t>(static_cast<uint32_t>(v)); };
  for (Op& op : scenario.ops) {
    switch (op.kind) {
      case OpKind::kAddFd:
        if (op.fd.name < 0) op.fd.literal = as_u32(op.fd.literal);
        op.size = uapi::IoctlSize(op.size);
        break;
      case OpKind::kClose:
      case OpKind::kDup:
      case OpKind::kDup2:
        if (op.fd.name < 0) op.fd.literal = as_int(op.fd.literal);
        if (op.fd2.name < 0) op.fd2.literal = as_int(op.fd2.literal);
        if (op.kind == OpKind::kDup) op.value = as_int(op.value);
        break;
      case OpKind::kIoctl:
        op.value = as_u32(op.value);
        break;
      default:
        break;
    }
  }
  return scenario;
}

enum class Pick { kFirst, kLast };

enum class Mode {
  kSteps,   // after every step: CheckState, CheckTransition, fd names, the prediction
  kStates,  // each state and prediction on its own
  kTwice,   // Predict and Quiesce called twice each time: if either changes what it should
            // not, the run parts from a kSteps run's
  kCopies,  // a copy at every op, to say which one did (once kTwice parted)
  kPlain,   // only records
};

// What one run saw: a prediction per op, and the model at the end.
struct RunLog {
  std::vector<Prediction> predictions;
  std::optional<Model> final_model;
  bool choices = false;  // some op allowed more than one outcome
};

using FdNames = std::array<std::optional<int>, kMaxFdNames>;

class Run {
 public:
  Run(const Scenario& scenario, const CheckEnv& env, Pick pick, Mode mode)
      : scenario_(scenario), env_(env), pick_(pick), mode_(mode), model_(scenario, env.env) {}

  // Drives the model as Executor::RunState::Go does: OK, or the first violation.
  Result<void> Go(RunLog* log) {
    if (mode_ == Mode::kSteps || mode_ == Mode::kStates) {
      if (auto p = model_.CheckState(); !p) return At(-1, "initially: " + p.error().message());
    }
    log->predictions.reserve(scenario_.ops.size());
    for (size_t i = 0; i < scenario_.ops.size(); ++i) {
      const int index = static_cast<int>(i);
      const Op& op = scenario_.ops[i];
      // Model::Begin's rule (quiesce where Quiesces, then predict), with each mode's checks
      // around the quiescence point; Apply below is Model::Step.
      if (model_.Quiesces(index)) {
        if (auto p = Quiesce(); !p) return At(index, "quiescing before it: " + p.error().message());
      }
      std::optional<Model::Lifecycle> life;
      FdNames names;
      if (mode_ == Mode::kSteps) {
        life = model_.LifecycleNow();
        names = Names();
      }
      std::optional<Model> before;
      if (mode_ == Mode::kCopies) before.emplace(model_);
      if (mode_ == Mode::kTwice) (void)model_.Predict(index);
      log->predictions.push_back(model_.Predict(index));
      const Prediction& p = log->predictions.back();
      if (before && !(model_ == *before)) return At(index, "Predict changed the model");
      if (mode_ == Mode::kSteps || mode_ == Mode::kStates) {
        if (const char* problem = CheckPrediction(op, p)) {
          return At(index, problem + (": " + Describe(p)));
        }
      }
      if (p.skip) continue;
      log->choices |= std::any_of(p.allowed.begin(), p.allowed.end(),
                                  [&](const Outcome& o) { return !(o == p.allowed.front()); });
      const Outcome seen = Apply(index, p);
      if (mode_ == Mode::kStates) {
        if (auto state = model_.CheckState(); !state) return At(index, state.error().message());
      }
      if (mode_ != Mode::kSteps) continue;
      // `wait` and `returned` are predicted on a copy that quiesces: Apply quiesces too.
      if (op.kind == OpKind::kWait || op.kind == OpKind::kReturned) {
        const auto result =
            op.kind == OpKind::kWait ? model_.ThreadResult(op.thread) : model_.TrapResult(op.notif);
        if ((result ? result->outcome : Outcome::Blocked()) != seen) {
          return At(index, "Predict said " + DescribeOutcome(seen) + ", Apply got " +
                               (result ? DescribeOutcome(result->outcome) : "nothing"));
        }
      }
      const bool targets_ran =
          model_.Quiesces(index) ||
          (op.thread < 0 && (op.kind == OpKind::kAddFd || op.kind == OpKind::kRecv));
      if (auto after = AfterStep(*life, names, &op, targets_ran); !after) {
        return At(index, after.error().message());
      }
    }
    if (auto p = Quiesce(); !p) return At(-1, "quiescing at the end: " + p.error().message());
    log->final_model = model_;
    return {};
  }

 private:
  // The kernel's answer: the first or the last outcome allowed, as the executor reports it.
  Outcome Apply(int index, const Prediction& p) {
    const Outcome seen = p.allowed.empty()       ? Outcome::Ok(0)
                         : pick_ == Pick::kFirst ? p.allowed.front()
                                                 : p.allowed.back();
    model_.Step(index, seen);
    return seen;
  }

  Result<void> Quiesce() {
    switch (mode_) {
      case Mode::kSteps: {
        const Model::Lifecycle life = model_.LifecycleNow();
        const FdNames names = Names();
        model_.Quiesce();
        return AfterStep(life, names, nullptr, true);
      }
      case Mode::kStates:
        model_.Quiesce();
        return model_.CheckState();
      case Mode::kTwice:
        model_.Quiesce();
        model_.Quiesce();
        return {};
      case Mode::kCopies: {
        model_.Quiesce();
        Model again = model_;
        again.Quiesce();
        if (again == model_) return {};
        return Error::Invalid("Quiesce stopped short of a fixed point");
      }
      case Mode::kPlain:
        break;
    }
    model_.Quiesce();
    return {};
  }

  FdNames Names() const {
    FdNames names;
    for (size_t name = 0; name < scenario_.fd_names.size() && name < names.size(); ++name) {
      names[name] = model_.FdName(static_cast<int>(name));
    }
    return names;
  }

  // A violation at op `index` (-1: none): where, then `what`.
  Error At(int index, const std::string& what) const {
    std::string text = std::string(env_.name) + ", " + (pick_ == Pick::kFirst ? "first" : "last") +
                       " allowed outcomes, ";
    if (index < 0) return Error::Invalid(text + what);
    return Error::Invalid(text + "op " + std::to_string(index + 1) + " (" +
                          OpKindName(scenario_.ops[static_cast<size_t>(index)].kind) +
                          "): " + what);
  }

  // What is wrong with a prediction, or nullptr.
  static const char* CheckPrediction(const Op& op, const Prediction& p) {
    if (p.skip) {
      if (p.skip_reason.empty() || !p.allowed.empty()) return "a skip with outcomes or no reason";
      return nullptr;
    }
    if (!p.skip_reason.empty()) return "a skip reason on an op that is not skipped";
    if (OpTraitsOf(op.kind).outcome == p.allowed.empty()) {
      return OpTraitsOf(op.kind).outcome ? "no outcome allowed for an op that has one"
                                         : "outcomes allowed for an op that has none";
    }
    for (const Outcome& o : p.allowed) {
      if (!WellFormed(o)) return "a malformed outcome";
      // The main thread waits for its own ADDFD while the target handles it: never stuck.
      if (op.kind == OpKind::kAddFd && op.thread < 0 && o.kind == Outcome::Kind::kBlocked) {
        return "the main thread's ADDFD is left blocked";
      }
    }
    return nullptr;
  }

  // After a step from `life` and `names`: `op` was applied, or (null) the model quiesced.
  Result<void> AfterStep(const Model::Lifecycle& life, const FdNames& names, const Op* op,
                         bool targets_ran) const {
    ADDFDLAB_TRY(model_.CheckState());
    ADDFDLAB_TRY(model_.CheckTransition(life));
    const FdNames now = Names();
    for (int name = 0; name < static_cast<int>(now.size()); ++name) {
      const std::optional<int>& was = names[static_cast<size_t>(name)];
      const std::optional<int>& is = now[static_cast<size_t>(name)];
      if (was == is) continue;
      if (op != nullptr && (op->bind == name || op->bind2 == name)) continue;
      // Bound when the targets run: an ADDFD's request handled, a FIFO open returned.
      const bool async = std::any_of(scenario_.ops.begin(), scenario_.ops.end(), [&](const Op& o) {
        return o.bind == name && (o.kind == OpKind::kAddFd || o.kind == OpKind::kReserve);
      });
      if (!(async && targets_ran)) {
        return Error::Invalid("fd name " + scenario_.fd_names[static_cast<size_t>(name)] +
                              " changed from " + (was ? std::to_string(*was) : "unbound") + " to " +
                              (is ? std::to_string(*is) : "unbound") + ", though nothing bound it");
      }
    }
    return {};
  }

  const Scenario& scenario_;
  const CheckEnv& env_;
  Pick pick_;
  Mode mode_;
  Model model_;
};

// OK when two runs of the same inputs saw the same; else where they parted.
Result<void> Compare(const Scenario& scenario, const RunLog& a, const RunLog& b) {
  for (size_t i = 0; i < a.predictions.size() && i < b.predictions.size(); ++i) {
    if (a.predictions[i] == b.predictions[i]) continue;
    return Error::Invalid("op " + std::to_string(i + 1) + " (" + OpKindName(scenario.ops[i].kind) +
                          "): " + Describe(a.predictions[i]) + " against " +
                          Describe(b.predictions[i]));
  }
  if (a.predictions.size() != b.predictions.size()) return Error::Invalid("one run stopped early");
  if (!(*a.final_model == *b.final_model)) {
    return Error::Invalid("the models end in different states");
  }
  return {};
}

}  // namespace

Result<void> CheckModelInvariants(const Scenario& scenario) {
  ADDFDLAB_TRY_CONTEXT(ValidateScenario(scenario), "invalid scenario");
  Scenario cellless = scenario;
  cellless.cells.clear();
  const std::vector<uint8_t> bytes = EncodeScenario(cellless);
  if (DecodeScenario(bytes.data(), bytes.size()) != cellless) {
    return Error::Invalid("the scenario does not decode back from its encoding");
  }
  const std::vector<CheckEnv> envs = CheckEnvs();
  for (const CheckEnv& env : envs) {
    // Every check in the first environment; the others change what the model answers, so
    // their states and predictions are checked too.
    const Mode mode = &env == &envs.front() ? Mode::kSteps : Mode::kStates;
    RunLog first;
    ADDFDLAB_TRY(Run(scenario, env, Pick::kFirst, mode).Go(&first));
    if (first.choices) {
      RunLog last;
      ADDFDLAB_TRY(Run(scenario, env, Pick::kLast, mode).Go(&last));
    }
    if (mode != Mode::kSteps) continue;
    // A fresh model, the same inputs, every Predict and Quiesce made twice: the same
    // answers and the same end, or Predict is not pure, Quiesce stops short of a fixed
    // point, or the model is not deterministic.
    RunLog twice;
    (void)Run(scenario, env, Pick::kFirst, Mode::kTwice).Go(&twice);
    if (Result<void> same = Compare(scenario, first, twice); !same) {
      RunLog copies;
      ADDFDLAB_TRY(Run(scenario, env, Pick::kFirst, Mode::kCopies).Go(&copies));
      return Error::Invalid(std::string(env.name) + ": a second run of the same inputs parted at " +
                            same.error().message());
    }
    // The model sees what the kernel sees.
    const Scenario kernel_view = KernelView(scenario);
    if (kernel_view == scenario) continue;
    RunLog view;
    (void)Run(kernel_view, env, Pick::kFirst, Mode::kPlain).Go(&view);
    for (size_t i = 0; i < first.predictions.size(); ++i) {
      if (first.predictions[i] == view.predictions[i]) continue;
      return Error::Invalid(std::string(env.name) + ", op " + std::to_string(i + 1) + " (" +
                            OpKindName(scenario.ops[i].kind) +
                            "): the prediction depends on bits the kernel never sees: " +
                            Describe(first.predictions[i]) + ", but as the kernel gets it " +
                            Describe(view.predictions[i]));
    }
    for (int t = 0; t < static_cast<int>(scenario.targets.size()); ++t) {
      if (first.final_model->FdTable(t) != view.final_model->FdTable(t)) {
        return Error::Invalid(std::string(env.name) + ": target " + std::to_string(t) +
                              " ends with another fd table for bits the kernel never sees");
      }
    }
  }
  return {};
}

}  // namespace addfdlab
