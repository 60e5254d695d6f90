// The reference model's state, construction and queries. Its functions name the kernel code
// they follow (kernel/seccomp.c, fs/file.c, Linux 6.12) and the contract cells they decide.
#include "addfdlab/model.h"

#include <algorithm>
#include <utility>

#include "model_internal.h"

namespace addfdlab {

void Model::Reached(const char* cell) {
  if (std::find(reached_.begin(), reached_.end(), cell) == reached_.end()) reached_.push_back(cell);
}

std::vector<std::string> Model::TakeReached() { return std::exchange(reached_, {}); }

bool SetModelQuirk(ModelEnv* env, std::string_view name) {
  if (name == "intr_send_stays_replied") {
    env->quirk_intr_send_stays_replied = true;
    return true;
  }
  return false;
}

bool SetModelMutant(ModelEnv* env, std::string_view cell) {
  static constexpr struct {
    std::string_view cell;
    ModelEnv::Mutant mutant;
  } kMutants[] = {
      {"ADDFD.ORDER.LIFO", ModelEnv::Mutant::kFifoOrder},
      {"ADDFD.ORDER.CHECKS", ModelEnv::Mutant::kLastCheck},
  };
  for (const auto& m : kMutants) {
    if (m.cell == cell) {
      env->mutant = m.mutant;
      return true;
    }
  }
  return false;
}

Model::Model(const Scenario& scenario, const ModelEnv& env) : scenario_(scenario), env_(env) {
  for (const TargetDecl& decl : scenario_.targets) {
    TargetState target;
    target.decl = decl;
    // Every task the scenario names: those `spawn` makes are not created yet.
    const int ti = static_cast<int>(targets_.size());
    target.tasks.resize(static_cast<size_t>(TasksBefore(scenario_, ti, scenario_.ops.size())));
    for (size_t t = static_cast<size_t>(1 + decl.callers); t < target.tasks.size(); ++t) {
      target.tasks[t].created = false;
      target.tasks[t].alive = false;
    }
    for (int t = 0; t <= decl.callers; ++t) {
      target.fds[env_.harness_fd_base + t] = ModelFd{ModelFile{ModelFile::Kind::kHarness, t}, true};
    }
    // FILTER.FLAGS, as the leader's seccomp() answers (kernel/seccomp.c,
    // seccomp_set_mode_filter).
    const uint32_t flags = decl.filter_flags;
    target.filter_errno = model_internal::FilterFlagsError(flags, env_);
    target.listener = target.filter_errno == 0 && (flags & uapi::kFilterNewListener) != 0;
    targets_.push_back(std::move(target));
  }
  notifs_.resize(scenario_.notifs.size());
  // One slot per named thread, and the last for the main thread's own ops.
  threads_.resize(scenario_.threads.size() + 1);
}

int Model::LowestFree(const TargetState& target) const {
  int fd = 0;
  for (;; ++fd) {
    if (static_cast<uint64_t>(fd) >= target.nofile) return -1;
    if (target.fds.count(fd) == 0 && !SlotReserved(target, fd)) return fd;
  }
}

bool Model::SlotReserved(const TargetState& target, int fd) const {
  for (const Task& task : target.tasks) {
    if (task.alive && task.reserving && task.reserved_slot == fd) return true;
  }
  return false;
}

const Op& Model::TrapOp(int notif) const {
  for (const Op& op : scenario_.ops) {
    if (op.kind == OpKind::kTrap && op.notif == notif) return op;
  }
  return scenario_.ops.front();  // ValidateScenario guarantees a trap
}

int64_t Model::ResolveFd(const FdRef& ref) const {
  if (ref.name < 0) return ref.literal;
  auto it = fd_names_.find(ref.name);
  return it == fd_names_.end() ? -1 : it->second;
}

std::optional<int> Model::FdName(int name) const {
  auto it = fd_names_.find(name);
  if (it == fd_names_.end()) return std::nullopt;
  return it->second;
}

void Model::BindFdName(int name, int number) {
  if (name >= 0) fd_names_[name] = number;
}

ModelFile Model::LocalFile() { return ModelFile{ModelFile::Kind::kLocal, next_local_++}; }

int64_t Model::Seq(int notif) const {
  if (notif < 0 || static_cast<size_t>(notif) >= notifs_.size()) return -1;
  return notifs_[static_cast<size_t>(notif)].seq;
}

int64_t Model::OpSeq(const Op& op) const {
  const int64_t seq = Seq(op.notif);
  // The kernel's ids wrap (u64): so does the sequence number a delta names.
  return seq < 0 ? seq
                 : static_cast<int64_t>(static_cast<uint64_t>(seq) +
                                        static_cast<uint64_t>(op.id_delta));
}

const Model::Notif* Model::FindBySeq(int target, int64_t seq) const {
  for (const Notif& n : notifs_) {
    if (n.target == target && n.seq == seq &&
        (n.state == NotifState::kInit || n.state == NotifState::kSent ||
         n.state == NotifState::kReplied)) {
      return &n;
    }
  }
  return nullptr;
}

Model::Notif* Model::FindBySeq(int target, int64_t seq) {
  return const_cast<Notif*>(std::as_const(*this).FindBySeq(target, seq));
}

std::string Model::CellFor(const Notif* notif, std::string cell) const {
  if (notif != nullptr && notif->send_interrupted) return Cell("ADDFD.INTR.SEND");
  return cell;
}

bool Model::TargetAlive(int target) const { return targets_[static_cast<size_t>(target)].alive; }

HandlerKind Model::HandlerOf(const TargetState& target, int signal) {
  auto it = target.handlers.find(signal);
  return it == target.handlers.end() ? HandlerKind::kDefault : it->second;
}

int Model::GroupOf(const TargetState& target, int task) {
  const int group = target.tasks[static_cast<size_t>(task)].group;
  return group < 0 ? task : group;
}

bool Model::DiesWith(const TargetState& target, int task, int other) {
  const int group = GroupOf(target, task);
  return group == 0 || GroupOf(target, other) == group;
}

bool Model::TaskAlive(int target, int task) const {
  const TargetState& t = targets_[static_cast<size_t>(target)];
  return t.alive && t.tasks[static_cast<size_t>(task)].alive;
}

bool Model::KillableWait(int target, int task) const {
  const TargetState& t = targets_[static_cast<size_t>(target)];
  const int notif = NotifOfTask(target, task);
  return notif >= 0 && env_.wait_killable_recv &&
         (t.decl.filter_flags & uapi::kFilterWaitKillableRecv) != 0 &&
         notifs_[static_cast<size_t>(notif)].state >= NotifState::kSent;
}

int64_t Model::NextSeq(int target) const { return targets_[static_cast<size_t>(target)].next_seq; }

int Model::StaleRequests(int target) const {
  const TargetState& t = targets_[static_cast<size_t>(target)];
  const auto init = std::count_if(t.notif_list.begin(), t.notif_list.end(), [&](int index) {
    return notifs_[static_cast<size_t>(index)].state == NotifState::kInit;
  });
  return t.requests - static_cast<int>(init);
}

bool Model::ListenerOpen(int target) const {
  const TargetState& t = targets_[static_cast<size_t>(target)];
  return t.listener && !t.listener_closing;
}

int Model::NotifOfTask(int target, int task) const {
  const TargetState& t = targets_[static_cast<size_t>(target)];
  if (task < 0 || static_cast<size_t>(task) >= t.tasks.size()) return -1;
  return t.tasks[static_cast<size_t>(task)].notif;
}

std::map<int, ModelFd> Model::FdTable(int target) const {
  std::map<int, ModelFd> table;
  for (const auto& [fd, entry] : targets_[static_cast<size_t>(target)].fds) {
    if (entry.file.kind != ModelFile::Kind::kHarness) table.emplace(fd, entry);
  }
  return table;
}

std::map<int, std::string> Model::FdCells(int target) const {
  return targets_[static_cast<size_t>(target)].fd_cells;
}

std::map<int, EmulatedCall> Model::FdEmulates(int target) const {
  return targets_[static_cast<size_t>(target)].fd_emulates;
}

std::optional<AsyncResult> Model::ThreadResult(int thread) const {
  return threads_[static_cast<size_t>(thread)].result;
}

std::optional<AsyncResult> Model::TrapResult(int notif) const {
  return notifs_[static_cast<size_t>(notif)].returned;
}

bool Model::TrapPending(int notif) const {
  const Notif& n = notifs_[static_cast<size_t>(notif)];
  if (n.returned || n.target < 0) return false;
  const TargetState& t = targets_[static_cast<size_t>(n.target)];
  const Task& task = t.tasks[static_cast<size_t>(n.task)];
  return task.alive && task.notif == static_cast<int>(&n - notifs_.data());
}

size_t Model::QueuedRequests(int notif) const {
  if (notif < 0 || static_cast<size_t>(notif) >= notifs_.size()) return 0;
  return notifs_[static_cast<size_t>(notif)].addfds.size();
}

Model::SlotClass Model::SlotClassOf(const Op& op) const {
  const bool names_fd = op.kind == OpKind::kClose || op.kind == OpKind::kDup ||
                        op.kind == OpKind::kDup2 ||
                        (op.kind == OpKind::kAddFd && (op.flags & uapi::kAddFdSetFd) != 0) ||
                        (op.kind == OpKind::kTrap && op.call == TrapCall::kDup);
  if (!names_fd || op.target < 0 || static_cast<size_t>(op.target) >= targets_.size()) {
    return SlotClass::kNone;
  }
  const TargetState& t = targets_[static_cast<size_t>(op.target)];
  // ADDFD's newfd and dup's argument are unsigned ints.
  const bool unsigned_fd = op.kind == OpKind::kAddFd || op.kind == OpKind::kTrap;
  const int64_t fd = op.kind == OpKind::kDup2 ? ResolveFd(op.fd2)
                     : unsigned_fd            ? static_cast<uint32_t>(ResolveFd(op.fd))
                                              : ResolveFd(op.fd);
  if (fd < 0) return SlotClass::kFree;
  if (static_cast<uint64_t>(fd) >= env_.nr_open) return SlotClass::kAboveNrOpen;
  if (static_cast<uint64_t>(fd) >= t.nofile) return SlotClass::kAboveRlimit;
  if (fd >= env_.harness_fd_base && fd < env_.harness_fd_base + static_cast<int>(t.tasks.size())) {
    return SlotClass::kHarness;
  }
  if (SlotReserved(t, static_cast<int>(fd))) return SlotClass::kReserved;
  return t.fds.count(static_cast<int>(fd)) != 0 ? SlotClass::kOpen : SlotClass::kFree;
}

bool Model::ThreadInListenerIoctl(int target) const {
  for (const Thread& thread : threads_) {
    if (thread.busy && thread.target == target) return true;
  }
  return false;
}

}  // namespace addfdlab
