// The driver that runs a scenario on the model alone and checks its invariants
// (model_invariants.cc) after every step, for model_fuzzer.
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
      case OpKind::kTrap:  // dup's argument is an unsigned int (the tag above it is cut)
        if (op.fd.name < 0) op.fd.literal = as_u32(op.fd.literal);
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
      case OpKind::kPoll:  // pollfd.events is a short
        op.flags = static_cast<uint16_t>(op.flags);
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
