// The scenario mutator: drafts (labels instead of indices, so that ops can move), their
// canonical numbering, what the model says at a position, and the mutations and crossover
// built on them. Every output goes through the codec, whose decoder yields only valid,
// canonical scenarios.
#include "addfdlab/scenario_mutator.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>

#include "addfdlab/agent_protocol.h"
#include "addfdlab/environment.h"
#include "addfdlab/model.h"
#include "addfdlab/scenario_codec.h"
#include "mutator_internal.h"

namespace addfdlab {

namespace mutator_internal {

size_t Rng::Weighted(std::initializer_list<int> weights) {
  int total = 0;
  for (int w : weights) total += w;
  int r = static_cast<int>(Below(static_cast<size_t>(total)));
  size_t index = 0;
  for (int w : weights) {
    if (r < w) return index;
    r -= w;
    ++index;
  }
  return weights.size() - 1;
}

void Draft::Insert(size_t position, const std::vector<Op>& inserted, int tag) {
  position = std::min(position, ops.size());
  ops.insert(ops.begin() + static_cast<std::ptrdiff_t>(position), inserted.begin(), inserted.end());
  tags.insert(tags.begin() + static_cast<std::ptrdiff_t>(position), inserted.size(), tag);
}

void Draft::Erase(size_t begin, size_t end) {
  end = std::min(end, ops.size());
  if (begin >= end) return;
  ops.erase(ops.begin() + static_cast<std::ptrdiff_t>(begin),
            ops.begin() + static_cast<std::ptrdiff_t>(end));
  tags.erase(tags.begin() + static_cast<std::ptrdiff_t>(begin),
             tags.begin() + static_cast<std::ptrdiff_t>(end));
}

Draft Lift(const Scenario& scenario, int offset) {
  Draft draft;
  draft.targets = scenario.targets;
  const auto shift = [offset](int& label) {
    if (label >= 0) label += offset;
  };
  for (Op op : scenario.ops) {
    shift(op.notif);
    shift(op.bind);
    shift(op.bind2);
    shift(op.fd.name);
    shift(op.fd2.name);
    shift(op.thread);
    op.expect = Expect{};
    draft.ops.push_back(op);
  }
  for (size_t i = 0; i < scenario.places.size(); ++i) {
    draft.places[static_cast<int>(i) + offset] = scenario.places[i];
  }
  draft.tags.assign(draft.ops.size(), 0);
  const size_t most = std::max(
      {scenario.notifs.size(), scenario.fd_names.size(), scenario.threads.size(), size_t{1}});
  draft.next_label = offset + static_cast<int>(most);
  return draft;
}

namespace {

bool UsesNotif(OpKind kind) {
  return kind == OpKind::kReturned || kind == OpKind::kAddFd || kind == OpKind::kSend ||
         kind == OpKind::kIdValid || kind == OpKind::kWork;
}
bool StartsOnThread(OpKind kind) {
  return kind == OpKind::kRecv || kind == OpKind::kAddFd || kind == OpKind::kSend;
}
bool UsesThread(OpKind kind) { return kind == OpKind::kWait || kind == OpKind::kSignalThread; }
bool UsesFd(OpKind kind) {
  return kind == OpKind::kClose || kind == OpKind::kDup || kind == OpKind::kDup2 ||
         kind == OpKind::kAddFd || kind == OpKind::kSend || kind == OpKind::kTrap;
}
bool UsesTarget(OpKind kind) {
  return !UsesNotif(kind) && !UsesThread(kind) && kind != OpKind::kSettle &&
         kind != OpKind::kGetNotifSizes;
}
int FdBinds(const Op& op) {
  switch (op.kind) {
    case OpKind::kOpen:
    case OpKind::kDup:
    case OpKind::kReserve:
      return 1;
    case OpKind::kPipe:
    case OpKind::kSocketpair:
      return 2;
    case OpKind::kAddFd:
      return op.bind >= 0 ? 1 : 0;
    default:
      return 0;
  }
}
int Mod(int value, int n) { return n <= 0 ? 0 : ((value % n) + n) % n; }

}  // namespace

Lowered Lower(const Draft& draft) {
  Lowered out;
  Scenario& s = out.scenario;
  s.targets = draft.targets;
  if (s.targets.empty()) s.targets.emplace_back();
  if (s.targets.size() > static_cast<size_t>(kMaxTargets)) s.targets.resize(kMaxTargets);
  for (size_t i = 0; i < s.targets.size(); ++i) {
    s.targets[i].name = "t" + std::to_string(i);
    s.targets[i].callers = std::clamp(s.targets[i].callers, 0, kMaxCallers);
  }
  const int target_count = static_cast<int>(s.targets.size());
  std::vector<int> tasks;  // per target: its callers, then the tasks spawned so far
  for (const TargetDecl& decl : s.targets) tasks.push_back(1 + decl.callers);
  std::vector<int> notif_targets;  // per notification index
  int fd_count = 0;
  int thread_count = 0;
  for (size_t i = 0; i < draft.ops.size() && s.ops.size() < static_cast<size_t>(kMaxOps); ++i) {
    Op op = draft.ops[i];
    op.expect = Expect{};
    if (UsesTarget(op.kind)) op.target = Mod(op.target, target_count);
    if (UsesNotif(op.kind)) {
      const auto it = out.notifs.find(op.notif);
      if (it != out.notifs.end()) {
        op.notif = it->second;
      } else if (!notif_targets.empty()) {
        op.notif = static_cast<int>(notif_targets.size()) - 1;
      } else {
        continue;
      }
      op.target = notif_targets[static_cast<size_t>(op.notif)];
    }
    const int target_tasks = UsesTarget(op.kind) ? tasks[static_cast<size_t>(op.target)] : 1;
    if (op.kind == OpKind::kTrap || op.kind == OpKind::kReserve) {
      const int callers = target_tasks - 1;
      if (callers == 0) continue;
      op.task = 1 + Mod(op.task - 1, callers);
    } else if (op.kind == OpKind::kRelease || op.kind == OpKind::kSignalTask ||
               op.kind == OpKind::kSpawn) {
      if (op.kind == OpKind::kSpawn && target_tasks >= kMaxTasks) continue;
      op.task = Mod(op.task, target_tasks);
    }
    if (op.kind == OpKind::kTrap && notif_targets.size() >= static_cast<size_t>(kMaxNotifs)) {
      continue;
    }
    int new_thread_label = -1;
    if (StartsOnThread(op.kind) && op.thread >= 0) {
      const auto it = out.threads.find(op.thread);
      if (it != out.threads.end()) {
        op.thread = it->second;
      } else if (thread_count < kMaxThreads) {
        new_thread_label = op.thread;
        op.thread = thread_count;
      } else {
        // No thread left to start: the label joins an existing one.
        out.threads[op.thread] = Mod(op.thread, kMaxThreads);
        op.thread = Mod(op.thread, kMaxThreads);
      }
    }
    if (UsesThread(op.kind)) {
      const auto it = out.threads.find(op.thread);
      if (it == out.threads.end()) continue;
      op.thread = it->second;
    }
    for (FdRef* ref : {&op.fd, &op.fd2}) {
      const bool used = ref == &op.fd ? UsesFd(op.kind) : op.kind == OpKind::kDup2;
      if (!used || ref->name < 0) continue;
      const auto it = out.fds.find(ref->name);
      if (it != out.fds.end()) {
        ref->name = it->second;
        ref->literal = 0;
      } else {
        *ref = FdRef{};
      }
    }
    const int binds = FdBinds(op);
    if (fd_count + binds > kMaxFdNames) {
      if (op.kind != OpKind::kAddFd) continue;
      op.bind = -1;
    }
    // Kept: bind what it binds (references came first: `dup f0 -> f1` reads f0).
    if (new_thread_label >= 0) {
      out.threads[new_thread_label] = thread_count++;
    }
    if (op.kind == OpKind::kTrap) {
      out.notifs[op.notif] = static_cast<int>(notif_targets.size());
      op.notif = static_cast<int>(notif_targets.size());
      notif_targets.push_back(op.target);
    }
    if (FdBinds(op) >= 1) {
      out.fds[op.bind] = fd_count;
      op.bind = fd_count++;
    }
    if (FdBinds(op) >= 2) {
      out.fds[op.bind2] = fd_count;
      op.bind2 = fd_count++;
    }
    if (op.kind == OpKind::kSpawn) ++tasks[static_cast<size_t>(op.target)];
    s.ops.push_back(op);
    out.origin.push_back(i);
  }
  for (int i = 0; i < thread_count; ++i) s.threads.push_back("th" + std::to_string(i));
  // A label that joined another thread leaves its place to the one it joined.
  for (const auto& [label, index] : out.threads) {
    const auto place = draft.places.find(label);
    if (place == draft.places.end() || place->second == ThreadPlace::kThread) continue;
    if (s.places.size() <= static_cast<size_t>(index)) {
      s.places.resize(static_cast<size_t>(index) + 1, ThreadPlace::kThread);
    }
    if (s.places[static_cast<size_t>(index)] == ThreadPlace::kThread) {
      s.places[static_cast<size_t>(index)] = place->second;
    }
  }
  while (!s.places.empty() && s.places.back() == ThreadPlace::kThread) s.places.pop_back();
  for (size_t i = 0; i < notif_targets.size(); ++i) s.notifs.push_back("n" + std::to_string(i));
  for (int i = 0; i < fd_count; ++i) s.fd_names.push_back("f" + std::to_string(i));
  return out;
}

namespace {

// The one place that reads ValidateScenario's answer.
bool Valid(const Scenario& scenario) { return ValidateScenario(scenario).has_value(); }

// The codec's canonical form of a lowered scenario: every field a kind does not use back at
// its default, every value where the decoder would put it. nullopt when ops went missing
// (Lower and the decoder disagree about an op; never expected).
std::optional<Scenario> Canonical(const Scenario& lowered) {
  const std::vector<uint8_t> bytes = EncodeScenario(lowered);
  std::optional<Scenario> decoded = DecodeScenario(bytes.data(), bytes.size());
  if (!decoded || decoded->ops.size() != lowered.ops.size() || !Valid(*decoded)) {
    return std::nullopt;
  }
  return decoded;
}

// The input itself in canonical form (no cells, expectations or names): what a mutation
// that went wrong returns.
Scenario Plain(const Scenario& scenario) {
  if (auto canonical = Canonical(Lower(Lift(scenario)).scenario)) return *std::move(canonical);
  Scenario empty;
  empty.targets.emplace_back();
  empty.targets.back().name = "t0";
  return empty;
}

Scenario Finish(const Draft& draft, const Scenario& fallback) {
  if (auto canonical = Canonical(Lower(draft).scenario)) return *std::move(canonical);
  return Plain(fallback);
}

Outcome FirstOutcome(const Prediction& p) {
  return p.allowed.empty() ? Outcome::Ok(0) : p.allowed.front();
}

}  // namespace

std::vector<Prediction> Predictions(const Scenario& scenario) {
  Model model(scenario, ModelEnv{});
  std::vector<Prediction> predictions;
  predictions.reserve(scenario.ops.size());
  for (size_t i = 0; i < scenario.ops.size(); ++i) {
    predictions.push_back(model.Begin(static_cast<int>(i)));
    if (!predictions.back().skip) model.Step(static_cast<int>(i), FirstOutcome(predictions.back()));
  }
  return predictions;
}

Facts FactsAt(const Draft& draft, size_t position) {
  Draft prefix;
  prefix.targets = draft.targets;
  prefix.ops.assign(draft.ops.begin(), draft.ops.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                               position, draft.ops.size())));
  const Lowered lowered = Lower(prefix);
  Facts facts;
  const std::optional<Scenario> scenario = Canonical(lowered.scenario);
  const Scenario& s = scenario ? *scenario : lowered.scenario;
  Model model(s, ModelEnv{});
  // Who holds a reservation: the model keeps it to itself; ops say it well enough.
  std::set<std::pair<int, int>> reserving;
  for (size_t i = 0; scenario && i < s.ops.size(); ++i) {
    const Op& op = s.ops[i];
    const Prediction p = model.Begin(static_cast<int>(i));
    if (p.skip) continue;
    model.Step(static_cast<int>(i), FirstOutcome(p));
    if (op.kind == OpKind::kReserve && FirstOutcome(p).kind == Outcome::Kind::kBlocked) {
      reserving.insert({op.target, op.task});
    } else if (op.kind == OpKind::kRelease) {
      reserving.erase({op.target, op.task});
    } else if (op.kind == OpKind::kKill) {
      std::erase_if(reserving, [&](const auto& r) { return r.first == op.target; });
    }
  }
  for (size_t t = 0; t < s.targets.size(); ++t) {
    const int target = static_cast<int>(t);
    TargetFacts tf;
    tf.alive = model.TargetAlive(target);
    tf.listener = model.ListenerOpen(target);
    // The declared callers and the tasks the ops before the position spawned.
    tf.callers = TasksBefore(s, target, s.ops.size()) - 1;
    for (int task = 0; task <= tf.callers; ++task) {
      const bool blocked = model.NotifOfTask(target, task) >= 0 || reserving.count({target, task});
      if (blocked && model.TaskAlive(target, task)) tf.quiet = false;
      if (task >= 1 && !blocked && model.TaskAlive(target, task)) tf.free_tasks.push_back(task);
    }
    for (const auto& [fd, entry] : model.FdTable(target)) {
      if (fd < agent::kHarnessFdBase) tf.open_fds.push_back(fd);
    }
    Op probe;
    probe.kind = OpKind::kAddFd;
    probe.target = target;
    probe.flags = uapi::kAddFdSetFd;
    const auto slot = [&](int64_t fd) {
      probe.fd.literal = fd;
      return model.SlotClassOf(probe);
    };
    for (int fd = 0; fd < 64; ++fd) {
      if (slot(fd) == Model::SlotClass::kReserved) tf.reserved.push_back(fd);
    }
    // RLIMIT_NOFILE: the first number at or above it (the classes are ordered by it).
    int64_t low = 0;
    int64_t high = int64_t{1} << 21;
    while (low < high) {
      const int64_t mid = (low + high) / 2;
      const Model::SlotClass c = slot(mid);
      if (c == Model::SlotClass::kAboveRlimit || c == Model::SlotClass::kAboveNrOpen) {
        high = mid;
      } else {
        low = mid + 1;
      }
    }
    tf.nofile = low;
    tf.lowest_free = 0;
    while (std::count(tf.open_fds.begin(), tf.open_fds.end(), tf.lowest_free) ||
           std::count(tf.reserved.begin(), tf.reserved.end(), tf.lowest_free)) {
      ++tf.lowest_free;
    }
    facts.targets.push_back(std::move(tf));
  }
  for (const auto& [label, index] : lowered.notifs) {
    facts.notifs.push_back(label);
    if (scenario && model.TrapPending(index)) facts.live_notifs.push_back(label);
  }
  for (const auto& [label, index] : lowered.fds) facts.fds.push_back(label);
  for (const auto& [label, index] : lowered.threads) {
    facts.threads.push_back(label);
    if (model.ThreadResult(index).has_value()) facts.idle_threads.push_back(label);
  }
  return facts;
}

int PickTarget(Rng& rng, const Facts& facts) {
  std::vector<int> usable;
  for (size_t t = 0; t < facts.targets.size(); ++t) {
    if (facts.targets[t].alive && facts.targets[t].listener) usable.push_back(static_cast<int>(t));
  }
  if (!usable.empty() && !rng.OneIn(4)) return rng.Pick(usable);
  return static_cast<int>(rng.Below(facts.targets.size()));
}

namespace {

constexpr size_t kTemplateAttempts = 4;

// Where an insertion goes: mostly at the end, where the shapes grow from.
size_t PickPosition(Rng& rng, const Draft& draft) {
  switch (rng.Weighted({60, 25, 15})) {
    case 0:
      return draft.ops.size();
    case 1:
      return rng.Below(draft.ops.size() + 1);
    default:
      return 0;
  }
}

// Room for `count` more ops: random ops go (Lower takes their references elsewhere).
void MakeRoom(Rng& rng, Draft& draft, size_t count, size_t* position) {
  while (!draft.ops.empty() && draft.ops.size() + count > static_cast<size_t>(kMaxOps)) {
    const size_t victim = rng.Below(draft.ops.size());
    draft.Erase(victim, victim + 1);
    if (victim < *position) --*position;
  }
}

// Shapes that kill their target or change its filter are better off on a target of their own.
bool WantsOwnTarget(MutationTemplate shape) {
  return shape == MutationTemplate::kTargetDeath || shape == MutationTemplate::kWaitKillable ||
         shape == MutationTemplate::kCloseListener || shape == MutationTemplate::kRecv;
}

// True when template instance `tag` made it through whole: every op kept, none skipped by
// the model, and each RECV of the main thread takes one of the template's notifications.
bool TemplateHolds(const Draft& draft, int tag, size_t size) {
  const Lowered lowered = Lower(draft);
  const std::optional<Scenario> s = Canonical(lowered.scenario);
  if (!s) return false;
  const std::vector<Prediction> predictions = Predictions(*s);
  size_t kept = 0;
  std::set<int64_t> own_notifs;
  for (size_t i = 0; i < s->ops.size(); ++i) {
    if (draft.tags[lowered.origin[i]] != tag) continue;
    ++kept;
    const Op& op = s->ops[i];
    const Prediction& p = predictions[i];
    if (p.skip) return false;
    if (op.kind == OpKind::kTrap) own_notifs.insert(op.notif);
    if (op.kind == OpKind::kRecv && op.thread < 0 && !p.allowed.empty() &&
        p.allowed.front().kind == Outcome::Kind::kOk &&
        own_notifs.count(p.allowed.front().value) == 0) {
      return false;
    }
  }
  return kept == size;
}

void ApplyTemplate(Rng& rng, Draft& draft, MutationTemplate shape) {
  // Tags only need to differ within one draft.
  int tag = 1;
  for (const int other : draft.tags) tag = std::max(tag, other + 1);
  std::optional<Draft> fallback;
  for (size_t attempt = 0; attempt < kTemplateAttempts; ++attempt) {
    Draft candidate = draft;
    size_t position = attempt == 0   ? PickPosition(rng, candidate)
                      : attempt == 3 ? 0
                                     : candidate.ops.size();
    const bool own = WantsOwnTarget(shape) ? !rng.OneIn(3) : rng.OneIn(4);
    const bool fresh =
        candidate.targets.size() < static_cast<size_t>(kMaxTargets) && (own || attempt == 2);
    if (fresh) candidate.targets.emplace_back();
    const Facts facts = FactsAt(candidate, position);
    const int target =
        fresh ? static_cast<int>(candidate.targets.size()) - 1 : PickTarget(rng, facts);
    std::vector<Op> ops = BuildTemplate(rng, shape, candidate, facts, target);
    MakeRoom(rng, candidate, ops.size(), &position);
    if (ops.size() > static_cast<size_t>(kMaxOps)) ops.resize(kMaxOps);
    candidate.Insert(position, ops, tag);
    if (TemplateHolds(candidate, tag, ops.size())) {
      draft = std::move(candidate);
      return;
    }
    if (!fallback) fallback = std::move(candidate);
  }
  draft = std::move(*fallback);
}

OpKind RandomKind(Rng& rng) {
  static constexpr OpKind kKinds[] = {
      OpKind::kAddFd,         OpKind::kSend,          OpKind::kRecv,       OpKind::kTrap,
      OpKind::kReturned,      OpKind::kIdValid,       OpKind::kWait,       OpKind::kSignalThread,
      OpKind::kSettle,        OpKind::kKill,          OpKind::kSignalTask, OpKind::kHandler,
      OpKind::kNofile,        OpKind::kOpen,          OpKind::kClose,      OpKind::kDup,
      OpKind::kDup2,          OpKind::kPipe,          OpKind::kSocketpair, OpKind::kReserve,
      OpKind::kRelease,       OpKind::kCloseListener, OpKind::kSetFlags,   OpKind::kIoctl,
      OpKind::kInstallFilter, OpKind::kWork,          OpKind::kPoll,       OpKind::kGetNotifSizes,
      OpKind::kSpawn};
  const size_t index = rng.Weighted(
      {30, 10, 8, 8, 5, 4, 4, 4, 4, 2, 3, 2, 3, 3, 2, 1, 1, 1, 1, 2, 2, 1, 1, 1, 1, 2, 2, 1, 1});
  return kKinds[index];
}

void InsertRandomOp(Rng& rng, Draft& draft) {
  size_t position = PickPosition(rng, draft);
  MakeRoom(rng, draft, 1, &position);
  const Facts facts = FactsAt(draft, position);
  const Op op = RandomOp(rng, draft, facts, RandomKind(rng), PickTarget(rng, facts));
  draft.Insert(position, {op}, 0);
}

// A run of ops copied to another place; what the copy binds gets fresh labels, and the
// copy's own references follow them.
void Duplicate(Rng& rng, Draft& draft) {
  const size_t begin = rng.Below(draft.ops.size());
  const size_t count = std::min<size_t>(1 + rng.Below(4), draft.ops.size() - begin);
  std::vector<Op> copy(draft.ops.begin() + static_cast<std::ptrdiff_t>(begin),
                       draft.ops.begin() + static_cast<std::ptrdiff_t>(begin + count));
  std::map<int, int> notifs, fds, threads;
  const auto rename = [](std::map<int, int>& names, int& label) {
    if (const auto it = names.find(label); label >= 0 && it != names.end()) label = it->second;
  };
  for (Op& op : copy) {
    rename(notifs, op.notif);
    rename(fds, op.fd.name);
    rename(fds, op.fd2.name);
    if (StartsOnThread(op.kind) && op.thread >= 0 && !threads.count(op.thread)) {
      threads[op.thread] = draft.NewLabel();
    }
    rename(threads, op.thread);
    if (op.kind == OpKind::kTrap) op.notif = notifs[op.notif] = draft.NewLabel();
    if (FdBinds(op) >= 1) op.bind = fds[op.bind] = draft.NewLabel();
    if (FdBinds(op) >= 2) op.bind2 = fds[op.bind2] = draft.NewLabel();
  }
  size_t position = rng.Below(draft.ops.size() + 1);
  MakeRoom(rng, draft, copy.size(), &position);
  draft.Insert(position, copy, 0);
}

void MutateTarget(Rng& rng, Draft& draft) {
  if (draft.targets.size() < static_cast<size_t>(kMaxTargets) && rng.OneIn(3)) {
    draft.targets.emplace_back();
    draft.targets.back().callers = rng.Int(0, kMaxCallers);
    return;
  }
  TargetDecl& target = draft.targets[rng.Below(draft.targets.size())];
  if (rng.OneIn(4)) {
    // RECV.PID.*: a target in its own pid namespace, and a thread's ops in a second
    // supervisor process, in one of its own or in ours.
    target.pid_ns = !target.pid_ns;
    std::vector<int> labels;
    for (const Op& op : draft.ops) {
      if (op.thread >= 0) labels.push_back(op.thread);
    }
    if (!labels.empty()) {
      draft.places[labels[rng.Below(labels.size())]] =
          static_cast<ThreadPlace>(rng.Below(kThreadPlaceCount));
    }
  } else if (rng.OneIn(2)) {
    target.callers = rng.Int(0, kMaxCallers);
  } else {
    target.filter_flags = PickFilterFlags(rng);
  }
}

void AnyTemplate(Rng& rng, Draft& draft) {
  ApplyTemplate(rng, draft, static_cast<MutationTemplate>(rng.Below(kMutationTemplateCount)));
}

void DeleteOps(Rng& rng, Draft& draft) {
  const size_t begin = rng.Below(draft.ops.size());
  draft.Erase(begin, begin + 1 + rng.Below(3));
}

// Mostly neighbours: an interleaving is one step away from another.
void SwapOps(Rng& rng, Draft& draft) {
  const size_t n = draft.ops.size();
  const size_t i = rng.Below(n);
  const size_t j = rng.OneIn(2) ? std::min(n - 1, i + 1) : rng.Below(n);
  std::swap(draft.ops[i], draft.ops[j]);
  std::swap(draft.tags[i], draft.tags[j]);
}

void MoveOp(Rng& rng, Draft& draft) {
  const size_t from = rng.Below(draft.ops.size());
  const Op op = draft.ops[from];
  draft.Erase(from, from + 1);
  draft.Insert(rng.Below(draft.ops.size() + 1), {op}, 0);
}

void ChangeField(Rng& rng, Draft& draft) {
  const size_t i = rng.Below(draft.ops.size());
  MutateField(rng, draft.ops[i], FactsAt(draft, i));
}

// One mutation, by the Mutation enumerator's order; an empty draft only grows.
Mutation MutateDraft(Rng& rng, Draft& draft) {
  using Edit = void (*)(Rng&, Draft&);
  static constexpr Edit kEdits[kMutationCount] = {AnyTemplate, InsertRandomOp, DeleteOps,
                                                  Duplicate,   SwapOps,        MoveOp,
                                                  ChangeField, MutateTarget};
  const size_t choice =
      draft.ops.empty() ? rng.Weighted({4, 1}) : rng.Weighted({28, 16, 10, 6, 6, 6, 24, 4});
  kEdits[choice](rng, draft);
  return static_cast<Mutation>(choice);
}

}  // namespace

}  // namespace mutator_internal

using mutator_internal::Draft;
using mutator_internal::Rng;

MutatorOptions MutatorOptions::FromEnvironment() {
  MutatorOptions options;
  options.structure = !ReadEnvironment().no_mutator;
  return options;
}

Scenario MutateScenario(const Scenario& scenario, uint64_t seed, Mutation* applied) {
  Rng rng(seed);
  Draft draft = mutator_internal::Lift(scenario);
  Mutation mutation = mutator_internal::MutateDraft(rng, draft);
  // Now and then two at once: some shapes are two edits away from anything useful.
  if (rng.OneIn(4)) mutation = mutator_internal::MutateDraft(rng, draft);
  if (applied != nullptr) *applied = mutation;
  return mutator_internal::Finish(draft, scenario);
}

Scenario InsertTemplate(const Scenario& scenario, MutationTemplate shape, uint64_t seed) {
  Rng rng(seed);
  Draft draft = mutator_internal::Lift(scenario);
  mutator_internal::ApplyTemplate(rng, draft, shape);
  return mutator_internal::Finish(draft, scenario);
}

Scenario CrossOverScenarios(const Scenario& a, const Scenario& b, uint64_t seed) {
  Rng rng(seed);
  Draft left = mutator_internal::Lift(a);
  const Draft right = mutator_internal::Lift(b, left.next_label);
  Draft out;
  out.targets = rng.OneIn(5) ? right.targets : left.targets;
  out.next_label = right.next_label;
  const auto take = [&](const Draft& from, size_t begin, size_t end) {
    out.ops.insert(out.ops.end(), from.ops.begin() + static_cast<std::ptrdiff_t>(begin),
                   from.ops.begin() + static_cast<std::ptrdiff_t>(end));
  };
  const size_t i = rng.Below(left.ops.size() + 1);
  const size_t j = rng.Below(right.ops.size() + 1);
  const size_t k = std::min(right.ops.size(), j + 1 + rng.Below(8));
  switch (rng.Weighted({2, 2, 1})) {
    case 0:  // a prefix of a, a suffix of b
      take(left, 0, i);
      take(right, j, right.ops.size());
      break;
    case 1:  // a run of b inside a
      take(left, 0, i);
      take(right, j, k);
      take(left, i, left.ops.size());
      break;
    default:  // a prefix of a, then a run of b
      take(left, 0, i);
      take(right, j, k);
      break;
  }
  out.tags.assign(out.ops.size(), 0);
  return mutator_internal::Finish(out, a);
}

std::vector<uint8_t> EncodeWithin(const Scenario& scenario, size_t max_size) {
  Scenario cut = scenario;
  std::vector<uint8_t> bytes = EncodeScenario(cut);
  while (bytes.size() > max_size && !cut.ops.empty()) {
    cut.ops.pop_back();
    bytes = EncodeScenario(cut);
  }
  if (bytes.size() > max_size) bytes.clear();
  return bytes;
}

size_t MutateInput(uint8_t* data, size_t size, size_t max_size, unsigned int seed,
                   const MutatorOptions& options, ByteMutator bytes) {
  Rng rng(seed);
  if (!options.structure || rng.OneIn(static_cast<size_t>(std::max(1, options.bytes_one_in)))) {
    return bytes(data, size, max_size);
  }
  const std::optional<Scenario> scenario = DecodeScenario(data, size);
  if (!scenario) return bytes(data, size, max_size);
  const std::vector<uint8_t> out = EncodeWithin(MutateScenario(*scenario, rng.Next()), max_size);
  if (out.empty()) return bytes(data, size, max_size);
  std::memcpy(data, out.data(), out.size());
  return out.size();
}

size_t CrossOverInputs(const uint8_t* data1, size_t size1, const uint8_t* data2, size_t size2,
                       uint8_t* out, size_t max_out_size, unsigned int seed,
                       const MutatorOptions& options) {
  Rng rng(seed);
  // libFuzzer picks between the custom mutator and this one evenly; declining half of the
  // time leaves crossover a third of the mutations.
  if (!options.structure || rng.OneIn(2)) return 0;
  const std::optional<Scenario> a = DecodeScenario(data1, size1);
  const std::optional<Scenario> b = DecodeScenario(data2, size2);
  if (!a || !b) return 0;
  const std::vector<uint8_t> bytes =
      EncodeWithin(CrossOverScenarios(*a, *b, rng.Next()), max_out_size);
  if (bytes.empty()) return 0;
  std::memcpy(out, bytes.data(), bytes.size());
  return bytes.size();
}

}  // namespace addfdlab
