// The reference model's own invariants, checked on any scenario with no kernel: what the
// model fuzzer and its replay test run.
#ifndef ADDFDLAB_MODEL_CHECK_H_
#define ADDFDLAB_MODEL_CHECK_H_

#include <string>

#include "addfdlab/scenario.h"

namespace addfdlab {

// Runs `scenario` on the model alone, driven as the executor drives it, with each op's
// first allowed outcome standing for the kernel's answer (and, where an op allows several,
// again with its last), in three environments: every feature; the ADDFD.INTR.SEND quirk
// with fs.nr_open below the hard limit; an old kernel (no SEND, WAIT_KILLABLE_RECV,
// SYNC_WAKE_UP, RECV ENOENT). Returns "" or the first violation, with the environment and
// the op. Checked:
// - the scenario is valid and decodes back from its encoding (what the fuzzers share);
// - Predict changes nothing; a skip has a reason and no outcomes; an op the executor reports an
// outcome for has a non-empty allowed set, the
//   others an empty one; every outcome is well formed (a positive errno, 1..4095); the main
//   thread's ADDFD is never left blocked; `wait` and `returned` get what Predict said;
// - after every step Model::StateProblem() and Model::TransitionProblem() are empty, and
//   fd names change only in the op that binds them or when the targets run;
// - Quiesce reaches a fixed point (a second Quiesce changes nothing);
// - a fresh model given the same inputs ends in the same state, with the same predictions;
// - the model sees only what the kernel sees: the scenario with every fd literal and
//   ioctl argument cut to the width the executor passes on predicts the same.
std::string ModelInvariantProblem(const Scenario& scenario);

}  // namespace addfdlab

#endif  // ADDFDLAB_MODEL_CHECK_H_
