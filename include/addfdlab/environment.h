// addfdlab's environment variables, read in one place. Options structs take their defaults
// from ReadEnvironment(); nothing else in the library calls getenv().
#ifndef ADDFDLAB_ENVIRONMENT_H_
#define ADDFDLAB_ENVIRONMENT_H_

#include <cstdint>
#include <string>

namespace addfdlab {

// How the executor schedules a run, weakest first (ChooseScheduling in supervisor.h;
// docs/architecture.md, "Determinism").
enum class SchedMode : uint8_t {
  kFree,  // nothing pinned or prioritised: runs are only checked against their schedule
  kIdle,  // one CPU, targets SCHED_IDLE under SCHED_OTHER supervisor threads (no privilege)
  kFifo,  // one CPU, supervisor threads SCHED_FIFO above SCHED_OTHER targets
};

struct Environment {
  // ADDFDLAB_TIME_SCALE: multiplies every deadline (Limits); a TCG guest wants ~10. Values
  // that are not a positive number leave 1.
  double time_scale = 1.0;
  // ADDFDLAB_CPU: the CPU a supervisor and its targets share (ChooseCpu in supervisor.h);
  // -1 when unset or not a number >= 0.
  int cpu = -1;
  // ADDFDLAB_SCHED=fifo|idle|free: the strongest scheduling mode the executor may use
  // (fifo, the default, when allowed); other values leave the default.
  SchedMode sched = SchedMode::kFifo;
  // ADDFDLAB_NO_SPAWNER=1: targets fork from the supervisor, not from the spawner process.
  bool no_spawner = false;
  // ADDFDLAB_NO_MUTATOR=1: the scenario fuzzers mutate bytes only (libFuzzer's own
  // mutations and crossover), without the structure-aware mutator (scenario_mutator.h).
  bool no_mutator = false;
  // ADDFDLAB_NO_KERNEL_FEEDBACK=1: the kernel fuzz target still collects kernel PCs (KCOV)
  // and counts them, but does not feed them to libFuzzer (`fuzz --kernel-feedback off`: a
  // campaign without the feedback, to compare with one that has it).
  bool no_kernel_feedback = false;
  // ADDFDLAB_ROLLBACK_MUTANT=1: rollback_fuzzer also runs the test-only broken strategy.
  bool rollback_mutant = false;
  // ADDFDLAB_VM_GUEST=1: set only by vm/init.sh, PID 1 of an `addfdlab vm` guest: the
  // guest's sysctls are its own to change (kernel_inject.h, inject=nr_open).
  bool vm_guest = false;
  // ADDFDLAB_FAKE_RELEASE: the kernel release reports name (a test seam; nothing is decided
  // by the release).
  std::string fake_release;
  // ADDFDLAB_KNOWN_DEVIATIONS: the known-deviations file to use.
  std::string known_deviations;
  // ADDFDLAB_CELLS_FILE: the fuzz harness appends each contract cell it reaches first.
  std::string cells_file;
  // ADDFDLAB_KERNEL_PCS_FILE: the fuzz harness appends each kernel PC (function+offset) it
  // reaches first in the notifier and fd-install functions (a kernel with KCOV).
  std::string kernel_pcs_file;
  // ADDFDLAB_DROPPED_FILE: the fuzz harness appends the signature of each verdict it drops
  // because its run did not keep to the model's schedule.
  std::string dropped_file;
  // ADDFDLAB_MUTATE_CELL: a test seam, the model made wrong on that contract cell
  // (ExecutorOptions::mutate_cell): how fast a campaign finds a planted bug there.
  std::string mutate_cell;
  // ADDFDLAB_PROFILE_FILE: the fuzz harness appends its executor's run profile
  // (RunProfile::Line) when it goes, one line per fuzzing job.
  std::string profile_file;
  // ADDFDLAB_STRESS_PLANT=value|leak|hang|duplicate: a test seam, a bug planted in the stress
  // mode's supervisor (StressPlant in stress.h), which its oracle must catch.
  std::string stress_plant;
};

// Reads the variables now (cheap; not cached, so a test's setenv() is seen). A flag is on
// when its value is non-empty and not "0".
Environment ReadEnvironment();

// The spawner protocol's variable (internal: set by the supervisor for the spawner process
// it starts): its socket, or -1. Unsets it, so that the spawner's children do not see it.
int TakeSpawnerFd();
// The variable's name, for the side that sets it.
inline constexpr const char* kSpawnerFdVariable = "ADDFDLAB_SPAWNER_FD";

}  // namespace addfdlab

#endif  // ADDFDLAB_ENVIRONMENT_H_
