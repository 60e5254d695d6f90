// Structure-aware mutation of scenarios for the fuzzers that read the binary codec: whole ops
// inserted, deleted, duplicated, swapped, moved and spliced between inputs, fields moved to
// the kernel's boundaries, and op templates that build the interleavings the contract's
// cells need. See docs/fuzzing.md.
#ifndef ADDFDLAB_SCENARIO_MUTATOR_H_
#define ADDFDLAB_SCENARIO_MUTATOR_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "addfdlab/scenario.h"

namespace addfdlab {

// What a structural mutation did (for tests and statistics).
enum class Mutation : uint8_t {
  kTemplate,   // a multi-op shape inserted (MutationTemplate below)
  kInsertOp,   // one op of a random kind, its fields near the boundaries
  kDelete,     // one to three consecutive ops removed
  kDuplicate,  // a run of ops copied elsewhere, with fresh names for what it binds
  kSwap,       // two ops exchanged
  kMove,       // one op moved elsewhere
  kField,      // one field of one op set towards a boundary
  kTarget,     // a target's filter flags or callers changed, or a second target added
};
inline constexpr int kMutationCount = 8;

// The shapes a kTemplate mutation builds, each on one target with fresh names.
enum class MutationTemplate : uint8_t {
  kCalls,          // trap, RECV, boundary ADDFDs and a reply, calls before/after the states
  kInterrupt,      // ADDFD (or ADDFD|SEND) on a thread, then signal_thread (restart or not)
  kQueued,         // ADDFDs of several threads queued on one notification, then a reply,
                   // an ADDFD|SEND, a SEND, a kill, or the targets let run (LIFO)
  kTargetDeath,    // an ADDFD queued or done, then the target killed or signalled
  kWaitKillable,   // WAIT_KILLABLE_RECV, a signal after RECV, then ADDFD or a fast reply
  kSetFd,          // SETFD onto an open, free, harness, rlimit-edge or huge number
  kReserved,       // SETFD onto a slot a FIFO open() holds, then after its release
  kRlimit,         // RLIMIT_NOFILE lowered, the table filled, ADDFD and SETFD at the edge
  kReplyNumber,    // SETFD onto the number the reply will return
  kCloseListener,  // the listener closed with requests and RECVs pending
  kRecv,           // RECV into the buffer variants, RECV on a thread, RECV once all died
  kListener,       // SET_FLAGS, unknown ioctls, a further filter
  kContinue,       // a trapped dup, RECV, CONTINUE: the real syscall runs
};
inline constexpr int kMutationTemplateCount = 13;

// The mutator's settings; the fuzzers take them from the environment.
struct MutatorOptions {
  // Off ($ADDFDLAB_NO_MUTATOR=1): every mutation is libFuzzer's own byte mutation and
  // there is no structural crossover, as before the mutator existed.
  bool structure = true;
  // One mutation in this many is libFuzzer's byte mutation (the rest are structural).
  int bytes_one_in = 4;
  static MutatorOptions FromEnvironment();
};

// One structural mutation of a valid scenario, deterministic for `seed`. The result is
// valid and canonical: ValidateScenario() accepts it, it decodes back from its encoding,
// and it has no cells, no expect clauses (the fuzz harness ignores them, and a stale one
// would end a run at its op) and only default names. `applied`, when not null, says which
// mutation it was.
Scenario MutateScenario(const Scenario& scenario, uint64_t seed, Mutation* applied = nullptr);

// Inserts one template into `scenario` (at the end, at the start or in between, on one of
// its targets or on a second target it adds). Same guarantees as MutateScenario.
Scenario InsertTemplate(const Scenario& scenario, MutationTemplate shape, uint64_t seed);

// Splices ops of two valid scenarios: a prefix of `a` and a suffix of `b`, or a run of `b`'s
// ops inserted into `a`; `b`'s notifications, fd names and threads are renamed apart from
// `a`'s, and a reference that lost what it named is taken to what exists (or the op goes).
// Same guarantees as MutateScenario.
Scenario CrossOverScenarios(const Scenario& a, const Scenario& b, uint64_t seed);

// EncodeScenario(scenario) with ops dropped from the end until it fits in `max_size` bytes;
// empty when not even the scenario without ops fits.
std::vector<uint8_t> EncodeWithin(const Scenario& scenario, size_t max_size);

// libFuzzer's byte mutator (LLVMFuzzerMutate): mutates data[0, size) in place within
// max_size bytes and returns the new size.
using ByteMutator = size_t (*)(uint8_t* data, size_t size, size_t max_size);

// LLVMFuzzerCustomMutator: with `options.structure` off, for one call in
// `options.bytes_one_in`, and whenever the input does not decode, `bytes` mutates it;
// otherwise a structural mutation (MutateScenario) is encoded into data[0, max_size).
// Returns the new size.
size_t MutateInput(uint8_t* data, size_t size, size_t max_size, unsigned int seed,
                   const MutatorOptions& options, ByteMutator bytes);

// LLVMFuzzerCustomCrossOver: CrossOverScenarios of the two inputs written to `out`; 0 (libFuzzer
// then picks another mutation) when the structure is off, when an input does not decode, and
// for about half of the calls, so that crossover stays a third of all mutations.
size_t CrossOverInputs(const uint8_t* data1, size_t size1, const uint8_t* data2, size_t size2,
                       uint8_t* out, size_t max_out_size, unsigned int seed,
                       const MutatorOptions& options);

}  // namespace addfdlab

#endif  // ADDFDLAB_SCENARIO_MUTATOR_H_
