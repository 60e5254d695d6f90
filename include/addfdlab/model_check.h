// The reference model's own invariants, checked on any scenario with no kernel: what the
// model fuzzer and its replay test run.
#ifndef ADDFDLAB_MODEL_CHECK_H_
#define ADDFDLAB_MODEL_CHECK_H_

#include "addfdlab/result.h"
#include "addfdlab/scenario.h"

namespace addfdlab {

// Runs `scenario` on the model alone, driven as the executor drives it, with each op's
// first allowed outcome standing for the kernel's answer (and, where an op allows several,
// again with its last). Returns OK, or EINVAL with the first violation, naming the
// environment and the op. Checked, in an environment with every feature:
// - the scenario is valid and decodes back from its encoding (what the fuzzers share);
// - a skip has a reason and no outcomes; an op the executor reports an outcome for has a
//   non-empty allowed set, the others an empty one; every outcome is well formed (errno
//   1..4095); the main thread's ADDFD is never left blocked; `wait` and `returned` get
//   what Predict said;
// - after every step (an op, or a quiescence point) Model::CheckState() and
//   Model::CheckTransition() are OK, and fd names change only in the op that binds
//   them or, for an ADDFD's or a reservation's name, when the targets run;
// - a fresh model given the same inputs, with every Predict and Quiesce called twice,
//   predicts the same and ends in the same state: the model is deterministic, Predict
//   changes nothing and Quiesce reaches a fixed point;
// - the model sees only what the kernel sees: the scenario with every fd literal and
//   ioctl argument cut to the width the executor passes on predicts the same.
// Then CheckState() and the predictions again with the ADDFD.INTR.SEND quirk and
// fs.nr_open below the hard limit, and on an old kernel (no SEND, WAIT_KILLABLE_RECV,
// SYNC_WAKE_UP, RECV ENOENT).
Result<void> CheckModelInvariants(const Scenario& scenario);

}  // namespace addfdlab

#endif  // ADDFDLAB_MODEL_CHECK_H_
