// The reference model: a pure state machine (no syscalls) of the seccomp notifier and
// the target's fd table, implementing every cell of the ADDFD contract. For each op it
// predicts the outcomes the contract allows and the cell that decides them; the executor
// then tells it what the kernel did, so that the model follows the kernel where the
// contract allows several answers.
#ifndef ADDFDLAB_MODEL_H_
#define ADDFDLAB_MODEL_H_

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "addfdlab/cells.h"
#include "addfdlab/result.h"
#include "addfdlab/scenario.h"

namespace addfdlab {

// The kernel features the model is parameterised by (from the probe) and the
// environment it cannot see.
struct ModelEnv {
  bool addfd = true;
  bool setfd = true;
  bool send = true;
  bool wait_killable_recv = true;
  bool sync_wake_up = true;
  bool recv_enoent = true;
  uint64_t nofile_hard = 1u << 20;  // the targets' RLIMIT_NOFILE hard limit
  uint64_t nr_open = 1u << 20;      // fs.nr_open
  int harness_fd_base = 512;        // agent::kHarnessFdBase
  // Which kernel injections an ADDFD may ask for (Op::inject; kernel_inject.h); an op
  // asking for another is outside the domain (skipped).
  bool inject_lsm = true;
  bool inject_nomem = true;
  bool inject_nr_open = true;
  // New pid namespaces can be made (Feature::kPidNs); without, the ops of a target or a
  // supervisor process that needs one are skipped.
  bool pid_ns = true;
  // Thread tasks can be followed (Feature::kPidfdThread, 6.9); without, a `spawn ...
  // thread` is skipped.
  bool pidfd_thread = true;
  // Known deviations the model follows instead of the contract, so that a fuzzer on such
  // a kernel is not stopped by their consequences (the contract suite keeps them off).
  // ADDFD.INTR.SEND before the fix: an interrupted ADDFD|SEND leaves the notification
  // REPLIED, and the target returns 0 with no fd.
  bool quirk_intr_send_stays_replied = false;
  // A test seam (ADDFDLAB_MUTATE_CELL on a cell whose rule shapes other cells' outcomes,
  // SetModelMutant): the model breaks that rule, a planted bug for measuring a campaign.
  enum class Mutant : uint8_t {
    kNone,
    kFifoOrder,  // ADDFD.ORDER.LIFO: queued requests handled oldest first
    kLastCheck,  // ADDFD.ORDER.CHECKS: the last failing check's errno, not the first's
  };
  Mutant mutant = Mutant::kNone;
  friend bool operator==(const ModelEnv&, const ModelEnv&) = default;
};

// Turns on the quirk a known-deviations entry names ("intr_send_stays_replied"); false
// when there is no quirk of that name.
bool SetModelQuirk(ModelEnv* env, std::string_view name);
// Plants the mutant of a cell whose rule is a mechanism (ModelEnv::Mutant); false when the
// cell has none (ExecutorOptions::mutate_cell then alters that cell's predictions instead).
bool SetModelMutant(ModelEnv* env, std::string_view cell);

// A file's identity in the model: a supervisor source, or a file the target made.
struct ModelFile {
  enum class Kind : uint8_t { kSource, kLocal, kHarness };
  Kind kind = Kind::kLocal;
  int index = 0;  // SourceKind, or the local file's creation number, or the task
  friend auto operator<=>(const ModelFile&, const ModelFile&) = default;
};

struct ModelFd {
  ModelFile file;
  bool cloexec = false;
  friend bool operator==(const ModelFd&, const ModelFd&) = default;
};

// What the model allows for one op.
struct Prediction {
  std::vector<Outcome> allowed;  // empty: the op has no outcome to check
  std::string cell;              // the contract cell that decides it
  bool skip = false;             // the executor must not issue the op (outside the domain)
  std::string skip_reason;
  friend bool operator==(const Prediction&, const Prediction&) = default;
};

// Completed asynchronous work, reported at quiescence points.
struct AsyncResult {
  Outcome outcome;
  std::string cell;
  friend bool operator==(const AsyncResult&, const AsyncResult&) = default;
};

class Model {
 public:
  Model(const Scenario& scenario, const ModelEnv& env);

  // The outcomes op `index` may have, given everything before it.
  Prediction Predict(int index) const;
  // Applies op `index`, which the kernel answered with `observed` (one of the predicted
  // outcomes, or for ops without an outcome anything). Asynchronous ops (on a thread, a
  // trap) record that they started; their results appear at quiescence points.
  void Apply(int index, const Outcome& observed);
  // Lets every target run until it sleeps: queued requests are handled newest first,
  // replies delivered, signals acted on, reservations completed. Called after every op
  // that waits for a target (Quiesces() says which).
  void Quiesce();
  // True when the executor must make the targets quiescent after op `index`.
  bool Quiesces(int index) const;

  // The stepping rule every driver of the model shares (the executor, model_check.cc, the
  // unit tests): Begin(index), then, unless the prediction skips the op, the op itself and
  // Step(index, observed). A driver with targets makes them quiescent before Begin when
  // Quiesces(index).
  // Before op `index`: the quiescence point Quiesces(index) asks for, then Predict(index).
  Prediction Begin(int index);
  // After op `index`, which the kernel answered with `observed`: Apply(index, observed),
  // then, for a `release` that returned an fd, the binding of its name to that number
  // (the reserved slot's number comes from the kernel).
  void Step(int index, const Outcome& observed);

  // The result of a supervisor thread's op once it finished; nullopt while blocked.
  std::optional<AsyncResult> ThreadResult(int thread) const;
  // The return of notification `notif`'s trapped syscall once it returned.
  std::optional<AsyncResult> TrapResult(int notif) const;
  // True when the trap's task is still blocked in the trapped syscall.
  bool TrapPending(int notif) const;
  // ADDFD requests queued on notification `notif` now (0 for an unknown one).
  size_t QueuedRequests(int notif) const;
  // What the fd number an op names (SETFD's newfd, close/dup's fd) holds now.
  enum class SlotClass : uint8_t {
    kNone,         // the op names no number (an ADDFD without SETFD takes the lowest)
    kFree,         // below the limits, nothing there
    kOpen,         // an fd the target uses
    kReserved,     // a slot an open() in progress has reserved
    kHarness,      // one of the agent's own fds
    kAboveRlimit,  // at or above the target's RLIMIT_NOFILE
    kAboveNrOpen,  // at or above fs.nr_open
  };
  SlotClass SlotClassOf(const Op& op) const;

  // The target's fd table as the contract says it is now, without harness fds.
  std::map<int, ModelFd> FdTable(int target) const;
  // For each number an ADDFD request (or a trapped dup a CONTINUE ran) installed, and
  // nothing replaced or closed since, the cell that decided it: what a table verdict at that
  // number is about.
  std::map<int, std::string> FdCells(int target) const;
  // For each number an ADDFD request with `emulates=` installed (and nothing replaced or
  // closed since), the syscall it stands in for: PATTERN.CLOEXEC's input.
  std::map<int, EmulatedCall> FdEmulates(int target) const;
  // The relative id (sequence number on its listener) of a notification's current
  // instance; -1 before its trap.
  int64_t Seq(int notif) const;
  // The notification that has task `task` of `target` blocked right now, or -1.
  int NotifOfTask(int target, int task) const;
  bool TargetAlive(int target) const;
  bool TaskAlive(int target, int task) const;
  // True when the task sleeps killable (TASK_KILLABLE shows as 'D' in /proc): blocked in
  // a notification already received, under WAIT_KILLABLE_RECV.
  bool KillableWait(int target, int task) const;
  // Notifications created on the target's listener so far (each consumes an id).
  int64_t NextSeq(int target) const;
  // Counts on the listener's RECV semaphore that no notification stands behind any more
  // (one raised and gone before a RECV took it: RECV.STALE): the next RECV on it takes one
  // and answers ENOENT at once, in a later run too. Nothing but that RECV takes them back.
  int StaleRequests(int target) const;
  bool ListenerOpen(int target) const;
  // fd name bindings made so far.
  std::optional<int> FdName(int name) const;
  // Sets a binding the model could not know (a reserved slot's number comes from the
  // kernel when the open returns).
  void BindFdName(int name, int number);
  const Scenario& scenario() const { return scenario_; }
  // Contract cells that no prediction names but that the steps since the last call went
  // through (ADDFD.ORDER.LIFO, ADDFD.OK.CLOEXEC, ...), each once; the list is emptied.
  std::vector<std::string> TakeReached();

  // Consistency checks for the model fuzzer (model_check.h; defined in model_check.cc).
  // OK when the state is consistent (fd tables with their harness fds intact, tasks,
  // notifications and their queues, the RECV count, supervisor threads); else EINVAL with
  // what is not.
  Result<void> CheckState() const;
  // Where each notification and target is in its lifecycle: cheap enough to take at every
  // step, for CheckTransition.
  struct Lifecycle {
    struct NotifFacts {
      uint8_t state = 0;  // NotifState
      int target = -1;
      int task = -1;
      int64_t seq = -1;
      int done = 0;
      size_t queued = 0;
      std::optional<Outcome> returned;
      std::optional<Outcome> raced_return;
      // The numbers its ADDFD|SEND's raced install may still turn out to be (RacedNumbers).
      std::vector<Outcome> raced_numbers;
    };
    struct TargetFacts {
      bool alive = false;
      bool listener = false;
      int64_t next_seq = 0;
      uint64_t tasks_alive = 0;  // one bit per task (alive, or not spawned yet)
    };
    std::vector<NotifFacts> notifs;
    std::vector<TargetFacts> targets;
    int next_local = 0;
    int64_t clock = 0;
  };
  Lifecycle LifecycleNow() const;
  // OK when every notification and target got here from `before` (taken from this model
  // some steps earlier) along the model's lifecycle: NONE -> INIT -> SENT <-> REPLIED ->
  // GONE (a restart is a new instance with a larger id); a GONE one, a dead task or
  // target, a closed listener and a trap's return never change again; else EINVAL with
  // what did.
  Result<void> CheckTransition(const Lifecycle& before) const;
  // Every member equal: the same scenario in the same state.
  friend bool operator==(const Model&, const Model&) = default;

 private:
  enum class NotifState : uint8_t { kNone, kInit, kSent, kReplied, kGone };
  static bool IsLive(NotifState s);  // INIT, SENT or REPLIED
  // CheckState's parts: one target's tasks, liveness, listener and harness fds; its fd
  // table; its tasks; its notification list; one notification (adding the threads whose
  // requests it queues to `queued`); the supervisor threads against `queued`.
  Result<void> CheckTarget(size_t ti) const;
  Result<void> CheckFdTable(size_t ti) const;
  Result<void> CheckTasks(size_t ti) const;
  Result<void> CheckNotifList(size_t ti) const;
  Result<void> CheckNotif(size_t ni, uint64_t* queued) const;
  Result<void> CheckThreads(uint64_t queued) const;

  struct Request {
    int thread = -1;  // supervisor thread waiting on it (-1: the main thread)
    ModelFile file;
    bool cloexec = false;
    bool setfd = false;
    bool send = false;
    uint32_t newfd = 0;
    EmulatedCall emulates = EmulatedCall::kNone;
    InjectKind inject = InjectKind::kNone;
    bool growth_fails = false;  // inject=nomem, and the kernel said ENOMEM: the table's
                                // growth (when the install needs one) fails
    int64_t order = 0;
    friend bool operator==(const Request&, const Request&) = default;
  };
  struct Notif {
    int target = -1;
    int task = -1;
    int64_t seq = -1;
    NotifState state = NotifState::kNone;
    std::deque<Request> addfds;  // front = newest
    int done = 0;                // the completion's count
    int64_t reply_val = 0;
    int32_t reply_error = 0;
    bool reply_continue = false;
    std::optional<AsyncResult> returned;
    bool restarted = false;
    // An ADDFD|SEND on it was interrupted and put it back to SENT (ADDFD.INTR.SEND):
    // what follows depends on that reset, and its predictions name that cell.
    bool send_interrupted = false;
    // Its reply and its leader's fatal signal raced (both tasks runnable; the executor
    // cannot order them): the return had the other task run first (the reply, or none
    // when the leader's death, PR_SET_PDEATHSIG, came first). `returned` may follow it.
    std::optional<AsyncResult> raced_return;
    friend bool operator==(const Notif&, const Notif&) = default;
  };
  struct Task {
    bool alive = true;
    int notif = -1;  // the notification it is blocked in
    bool signal_pending = false;
    int pending_signal = 0;
    bool fatal_pending = false;     // SIGKILL, or a signal whose default action kills
    bool dies_on_delivery = false;  // a terminating signal that was not made fatal when sent
    bool reserving = false;
    int reserved_slot = -1;
    bool released = false;
    int reserve_bind = -1;
    int64_t wake_order = 0;  // when it was woken, for the order targets run in
    // False for a task a later `spawn` makes (not alive until then; a skipped spawn's
    // never is).
    bool created = true;
    // Filters above the target's notify filter in its stack: `install_filter`s on the
    // leader, and a spawned task's parent's at the spawn. A trap runs the newest, which has
    // no listener (FILTER.STACKED.NEWEST).
    int stacked = 0;
    // The task at the head of its thread group when it is a thread (`spawn ... thread`),
    // else -1: it is a process. A fatal signal ends the whole group (GroupOf).
    int group = -1;
    friend bool operator==(const Task&, const Task&) = default;
  };
  struct TargetState {
    TargetDecl decl;
    bool alive = true;
    bool listener = false;  // the filter has a notifier: its listener file is open
    // The supervisor closed its listener fd, but the file lives on: a thread's ioctl holds
    // it, or the target's table holds a copy (ADDFD src=listener) until its last close.
    bool listener_closing = false;
    int filter_errno = 0;
    uint64_t nofile = 1024;
    bool sync_wake_up = false;
    int requests = 0;  // the RECV semaphore
    int64_t next_seq = 0;
    std::map<int, HandlerKind> handlers;
    std::map<int, ModelFd> fds;               // including harness fds
    std::map<int, std::string> fd_cells;      // FdCells
    std::set<int> freed_in_quiesce;           // reserved slots freed in this Quiesce()
    std::vector<int> installed_in_quiesce;    // threads whose ADDFD took the lowest number in it
    std::map<int, EmulatedCall> fd_emulates;  // FdEmulates
    std::vector<Task> tasks;
    std::vector<int> notif_list;  // notification list order (indices of live instances)
    // Number `fd` holds nothing: no file, and no cell or emulated call for it.
    void CloseFd(int fd) {
      fds.erase(fd);
      fd_cells.erase(fd);
      fd_emulates.erase(fd);
    }
    friend bool operator==(const TargetState&, const TargetState&) = default;
  };
  struct Thread {
    bool busy = false;
    OpKind op = OpKind::kSettle;
    int target = 0;
    int notif = -1;
    std::optional<AsyncResult> result;
    // Its ADDFD installed at the lowest free number while another task of the target freed
    // a reserved slot, or was about to, in the same quiescence (it died or was interrupted
    // holding it): both tasks runnable, the executor cannot order them, and the kernel may
    // have installed at this number instead. `result` and the table may follow it.
    int raced_fd = -1;
    // Where raced_fd stands for an install the model failed (EMFILE): what it would hold.
    std::optional<ModelFd> raced_file;
    // Its SETFD installed at a number whose reservation another task of the target freed in
    // the same quiescence: the kernel may have run the install first, while the slot was
    // still reserved (EBUSY, ADDFD.SETFD.RESERVED). The result and the table may follow it.
    bool raced_busy = false;
    // Its ADDFD took the lowest free number in the same quiescence as these threads' ADDFDs
    // for other tasks of the target: the tasks were runnable together, and the kernel may
    // have handed the numbers out in the other order. Their results, their replies and the
    // table may follow the kernel's order (RotateInstalls). Emptied once a result is seen.
    std::vector<int> swap_with;
    bool install_sent = false;  // that ADDFD was ADDFD|SEND: its number is the reply too
    int install_bind = -1;      // the fd name that ADDFD binds
    Op pending;                 // the op it runs
    friend bool operator==(const Thread&, const Thread&) = default;
  };

  // ADDFD's checks in the kernel's order, up to the queueing point.
  Prediction PredictAddFd(const Op& op) const;
  // Why an ADDFD's Op::inject cannot be made here or could outlive its op; nullptr when fine.
  const char* InjectOutsideDomain(const Op& op) const;
  Prediction PredictSend(const Op& op) const;
  Prediction PredictRecv(const Op& op) const;
  Prediction PredictTargetOp(const Op& op) const;
  Prediction PredictFilter(const Op& op) const;
  Prediction PredictPoll(const Op& op) const;

  // ADDFD's argument checks: the errno (and its cell), or 0 when it gets to the lookup.
  // `failing` (may be null) gets how many of the checks fail (ADDFD.ORDER.CHECKS when > 1).
  int PreQueueError(const Op& op, const char** cell, int* failing = nullptr) const;
  // ID_VALID, SET_FLAGS, an unknown ioctl, the listener's close.
  Prediction PredictListenerOp(const Op& op) const;
  Prediction PredictIoctl(const Op& op) const;
  // `wait` and `returned`: the result once the targets ran.
  Prediction PredictCompletion(const Op& op) const;
  // open, pipe, socketpair, close, dup, dup2 (skipped when they name a harness fd).
  Prediction PredictFdOp(const Op& op) const;
  Prediction PredictDup(const Op& op) const;
  Prediction PredictHandler(const Op& op) const;
  Prediction PredictTrap(const Op& op) const;

  // The lookup, state checks and queueing; the error, or kBlocked once queued.
  // `growth_fails`: an inject=nomem request whose table growth fails.
  Outcome StartAddFd(const Op& op, std::string* cell, bool growth_fails = false);
  // recv_wait_event and the search for an INIT notification; kBlocked when it would wait.
  // `thread` is the receiving thread's slot in threads_ (the last: the main thread's).
  Outcome TakeNotification(int target, int thread, BufferKind buffer, std::string* cell);
  // The cell of a notification received by the thread in slot `thread`: the pid RECV
  // reports, translated into the receiver's pid namespace (RECV.PID.*), or RECV.OK.
  const char* RecvCell(int target, int thread) const;
  // Why the scenario's ops are outside this environment (it needs a pid namespace that
  // cannot be made here), or "".
  std::string OutsideEnv(const Op& op) const;
  Outcome StartRecv(const Op& op, std::string* cell);
  bool Started(const Op& op, const Outcome& started, const std::string& cell);
  void ApplyTargetOp(const Op& op, const Outcome& observed);
  void ApplyAddFd(const Op& op, const Outcome& observed);
  void ApplySend(const Op& op, const Outcome& observed);
  void ApplyRecv(const Op& op, const Outcome& observed);
  void ApplyFdOp(const Op& op, const Outcome& observed);
  // A signal to a supervisor thread asleep in its ioctl.
  void SignalThread(const Op& op);
  // A signal to a target task; true when it stays pending until the task runs.
  bool SignalTask(const Op& op);

  // Runs one target task's notification loop; true when anything changed.
  bool RunTask(int target, int task);
  // A woken task outside any notification: its reservation, its pending signal.
  bool RunOutsideNotification(int target, int task);
  // The reply reaches a task blocked in notification `notif`.
  void DeliverReply(int target, int task, int notif, bool wait_killable);
  bool RunReservation(int target, int task);
  // The trapped dup of `fd` runs (a CONTINUE reply): its return; the table gets the new fd.
  Outcome RunDup(TargetState& t, int64_t fd);
  // The trap op that binds notification `notif`.
  const Op& TrapOp(int notif) const;
  void HandleRequest(Notif& notif, Request request);
  void Interrupt(int target, int task, bool fatal);
  void KillTask(int target, int task);
  void KillTarget(int target);
  void TargetExited(int target);
  void Detach(int target);
  // Detaches the target's listener once the supervisor closed it and nothing else holds
  // the file: no thread in a listener ioctl, no fd in the target's table (the file's last
  // reference is what releases it, seccomp_notify_release).
  void DetachIfUnreferenced(int target);
  // True when the target's fd table holds a copy of its listener's file.
  bool TableHoldsListener(int target) const;
  void CreateNotification(int target, int task, int notif_index);
  void DeliverToWaitingRecv(int target);
  void FinishThread(int thread, const Outcome& outcome, const std::string& cell);
  // The handler the target's tasks have for `signal` (kDefault when none was set).
  static HandlerKind HandlerOf(const TargetState& target, int signal);
  // The thread group task `task` belongs to: the index of its head (a process).
  static int GroupOf(const TargetState& target, int task);
  // Task `task` and every other task a fatal signal to it ends: its thread group, and
  // every task when that group is the leader's (PR_SET_PDEATHSIG takes the other processes).
  static bool DiesWith(const TargetState& target, int task, int other);
  // Lowest free fd below the target's limit, or -1 (EMFILE).
  int LowestFree(const TargetState& target) const;
  bool SlotReserved(const TargetState& target, int fd) const;
  // The reserved slots of `target` whose release races a task of it (`except`) running
  // now: freed in this quiescence by a task's death or interruption, or held by a task
  // that a signal will make free it when it runs.
  std::set<int> RacingSlots(int target, int except) const;
  // Quiesce()'s rounds: each runs the runnable tasks in the order they were woken.
  void QuiesceRounds();
  // The other number an install at `fd` could have had, the racing slots taken or free
  // (-1 when none).
  int RacedLowest(const TargetState& target, const std::set<int>& racing, int fd) const;
  // An ADDFD's observed number was its raced one: the file moves there, or it swaps with
  // the install of a thread in its swap_with. Then the thread's races are forgotten.
  void FollowRacedInstall(int thread, const Outcome& observed);
  // A trap's observed return was the number of an install its ADDFD|SEND raced.
  void FollowRacedReturn(int notif, const Outcome& observed);
  // The numbers the kernel may have given thread's ADDFD besides its result: raced_fd and
  // the results of the installs it raced (swap_with).
  std::vector<int> RacedNumbers(int thread) const;
  // The outcomes the kernel may have given it besides its result: those numbers, and EBUSY
  // for a SETFD that raced a reservation's release (raced_busy).
  std::vector<Outcome> RacedOutcomes(int thread) const;
  // Its SETFD failed EBUSY where the model installed it (raced_busy): the file leaves the
  // table, its fd name is unbound, and the result is ADDFD.SETFD.RESERVED's.
  void RefuseRacedSetfd(int thread);
  // The kernel ran `thread`'s install where the model ran the one that took `to` (one of
  // its swap_with): it took `to`, and the other tasks' installs numbered between the two
  // move one place along, each task's own in their order. Their results, their ADDFD|SEND
  // replies, their fd names and the table's entries follow.
  void RotateInstalls(int thread, int to);
  // A thread's races are over (its result was seen, or it starts another op).
  void ForgetRaces(int thread);
  // Its install went to `to` instead (raced_fd): moved there, or made there when the model
  // failed it.
  void MoveInstall(int thread, int to);
  // Its ADDFD|SEND's reply (and the trap's return) said `from`: now `to`.
  void RenumberReply(int thread, int from, int to);
  // The notification an op names, by its id (seq + delta); nullptr when none has it.
  const Notif* FindBySeq(int target, int64_t seq) const;
  Notif* FindBySeq(int target, int64_t seq);
  int64_t OpSeq(const Op& op) const;
  // The cell a prediction about `notif` names: ADDFD.INTR.SEND once an interrupted
  // ADDFD|SEND reset it, else `cell`.
  std::string CellFor(const Notif* notif, std::string cell) const;
  int64_t ResolveFd(const FdRef& ref) const;
  ModelFile LocalFile();
  bool ThreadInListenerIoctl(int target) const;

  // Notes that a step went through `cell` (TakeReached).
  void Reached(const char* cell);

  Scenario scenario_;
  ModelEnv env_;
  std::vector<std::string> reached_;
  std::vector<TargetState> targets_;
  std::vector<Notif> notifs_;
  std::vector<Thread> threads_;
  std::map<int, int> fd_names_;
  int next_local_ = 0;
  Outcome release_result_ = Outcome::Blocked();  // what the last released open returned
  int64_t clock_ = 0;                            // orders wake-ups and requests
};

}  // namespace addfdlab

#endif  // ADDFDLAB_MODEL_H_
