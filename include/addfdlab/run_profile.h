// Where the executor's runs spend their time: wall time per phase, summed over runs, and
// the notifier ioctls the runs' ops made (docs/fuzzing.md, "Reading the profile").
#ifndef ADDFDLAB_RUN_PROFILE_H_
#define ADDFDLAB_RUN_PROFILE_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace addfdlab {

// The phases of a run. Each instant of Executor::Run belongs to exactly one of them: a
// phase entered inside another is charged to the inner one only.
enum class Phase : uint8_t {
  kAcquire,  // taking targets from their pools (spawning, calibrating notification ids)
  kOps,      // carrying out ops: agent round trips, notifier ioctls, supervisor threads
  kQuiesce,  // waiting for the targets to go quiet, and the schedule check
  kTables,   // fd-table snapshots, kcmp identity, pidfd_getfd copies
  kModel,    // the model: predictions, steps, outcome oracles, coverage
  kRelease,  // draining targets back to rest, resetting them and checking their baseline
  kHygiene,  // the supervisor's own fds, threads and children around each run
  kBackoff,  // pauses before repeating a run that did not keep to its schedule
  kOther,    // everything else (trace text, bookkeeping)
};
inline constexpr int kPhaseCount = 9;
std::string_view PhaseName(Phase phase);

struct RunProfile {
  std::array<uint64_t, kPhaseCount> ns{};  // wall time per phase
  uint64_t runs = 0;                       // Executor::Run calls
  uint64_t attempts = 0;                   // runs carried out, repeats included
  uint64_t ops = 0;                        // ops carried out (skipped ones not counted)
  uint64_t notifier_ioctls = 0;            // of those, the notifier ioctls (recv, addfd, ...)
  uint64_t faults = 0;        // of those, ops that armed a kernel fault (addfd inject=)
  uint64_t fault_errors = 0;  // of those, the ioctls the kernel answered with an error

  uint64_t total_ns() const;
  void Add(const RunProfile& other);
  // A table: per phase the time per run and its share, then the counts.
  std::string Format() const;
  // One line, "runs=N attempts=N ops=N ioctls=N faults=N fault_errors=N acquire_ns=N ..."
  // (ns summed over runs),
  // that ParseLine reads back: the fuzz jobs print it, `addfdlab fuzz` sums it up.
  std::string Line() const;
  static std::optional<RunProfile> ParseLine(std::string_view line);
};

// Charges wall time to the phase that is current. Switch() starts a phase and returns
// the one it interrupted; a PhaseScope restores that one when it ends.
class PhaseClock {
 public:
  explicit PhaseClock(RunProfile* profile);
  Phase Switch(Phase phase);
  // Charges the time since the last switch, and stops charging.
  void Stop();

 private:
  using Clock = std::chrono::steady_clock;
  RunProfile* profile_;
  Phase current_ = Phase::kOther;
  Clock::time_point since_;
  bool running_ = true;
};

class PhaseScope {
 public:
  PhaseScope(PhaseClock* clock, Phase phase)
      : clock_(clock), previous_(clock ? clock->Switch(phase) : Phase::kOther) {}
  ~PhaseScope() {
    if (clock_ != nullptr) clock_->Switch(previous_);
  }
  PhaseScope(const PhaseScope&) = delete;
  PhaseScope& operator=(const PhaseScope&) = delete;

 private:
  PhaseClock* clock_;
  Phase previous_;
};

}  // namespace addfdlab

#endif  // ADDFDLAB_RUN_PROFILE_H_
