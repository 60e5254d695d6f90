// The run's oracles: an op's outcome and a target's fd table, each against the model.
#include "run_oracles.h"

#include <string>

#include "addfdlab/agent_protocol.h"
#include "addfdlab/cells.h"

namespace addfdlab {

void CheckListeners(const Scenario& scenario, const ModelEnv& env,
                    const std::vector<const Target*>& targets, std::vector<Verdict>* verdicts) {
  const Model fresh(scenario, env);
  for (size_t ti = 0; ti < targets.size(); ++ti) {
    const bool want_listener = fresh.ListenerOpen(static_cast<int>(ti));
    const bool has_listener = targets[ti]->listener() >= 0;
    if (want_listener == has_listener) continue;
    Verdict v;
    v.kind = Verdict::Kind::kContract;
    v.cell = Cell("FILTER.FLAGS");
    v.expected = want_listener ? "a listener" : "no listener";
    v.observed =
        has_listener ? "a listener" : "seccomp() -> " + ErrnoName(targets[ti]->filter_errno());
    v.detail = "target " + scenario.targets[ti].name;
    verdicts->push_back(v);
  }
}

void CheckOpOutcome(const Op& op, const Prediction& prediction,
                    const std::optional<Outcome>& observed, int index,
                    std::vector<Verdict>* verdicts) {
  if (!observed) return;
  if (auto v = CheckOutcome(prediction, *observed, index)) verdicts->push_back(*v);
  if (auto v = CheckExpect(op, *observed, index, prediction.cell)) verdicts->push_back(*v);
}

void CheckTargetTable(const std::map<int, ModelFd>& expected,
                      const std::map<int, std::string>& cells,
                      const std::map<int, EmulatedCall>& emulated, const Target& target,
                      const std::vector<KnownFile>& known, int op, std::vector<Verdict>* verdicts) {
  auto snapshot = SnapshotFds(target.pid());
  if (!snapshot) return;
  // The known file the model expects at each fd is tried first (known names: the
  // SourceKind's number, or "L" and the local file's number).
  std::map<int, std::string> likely;
  for (const auto& [fd, model_fd] : expected) {
    if (model_fd.file.kind == ModelFile::Kind::kSource) {
      likely.emplace(fd, std::to_string(model_fd.file.index));
    } else if (model_fd.file.kind == ModelFile::Kind::kLocal) {
      likely.emplace(fd, "L" + std::to_string(model_fd.file.index));
    }
  }
  // The harness's control sockets are left out before kcmp: nothing to identify there.
  const auto is_harness = [&](int fd) {
    return fd >= agent::kHarnessFdBase && fd < agent::kHarnessFdBase + target.tasks();
  };
  std::erase_if(snapshot->fds, [&](const auto& entry) { return is_harness(entry.first); });
  IdentifyFds(*snapshot, known, &likely);
  if (target.listener() < 0) {
    // A closed listener the target was given still lives in its table, and the
    // supervisor has no copy left to kcmp against: the listener is what it describes as.
    for (auto& [fd, info] : snapshot->fds) {
      if (info.known_as.empty() && info.description == "anon_inode:seccomp notify") {
        info.known_as = std::to_string(static_cast<int>(SourceKind::kListener));
      }
    }
  }
  std::map<int, ObservedFd> observed;
  for (const auto& [fd, info] : snapshot->fds) {
    ObservedFd seen;
    seen.cloexec = info.cloexec;
    seen.description = info.description;
    if (!info.known_as.empty()) {
      ModelFile file;
      if (info.known_as[0] == 'L') {
        file = {ModelFile::Kind::kLocal, std::stoi(info.known_as.substr(1))};
      } else {
        file = {ModelFile::Kind::kSource, std::stoi(info.known_as)};
      }
      seen.file = file;
    }
    observed.emplace(fd, seen);
  }
  for (Verdict& v : CompareFdTables(expected, observed, op, cells)) {
    verdicts->push_back(std::move(v));
  }
  for (Verdict& v : CheckEmulatedCloexec(emulated, observed, op)) {
    verdicts->push_back(std::move(v));
  }
}

}  // namespace addfdlab
