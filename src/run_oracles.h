// The run's oracles, on what the executor passes in: an op's outcome against the model's
// prediction and the op's expect clause, and a target's fd table against the model's.
#ifndef ADDFDLAB_SRC_RUN_ORACLES_H_
#define ADDFDLAB_SRC_RUN_ORACLES_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "addfdlab/fd_table.h"
#include "addfdlab/model.h"
#include "addfdlab/oracle.h"
#include "addfdlab/scenario.h"
#include "addfdlab/target.h"

namespace addfdlab {

// Appends a FILTER.FLAGS verdict to `verdicts` for each target (in the scenario's order)
// whose filter gave it a listener where the model says none, or none where it says one.
void CheckListeners(const Scenario& scenario, const ModelEnv& env,
                    const std::vector<const Target*>& targets, std::vector<Verdict>* verdicts);

// Appends to `verdicts` what op `index`'s outcome breaks: the contract (an outcome the
// prediction does not allow), then the op's expect clause. An op without an outcome
// (`observed` empty) breaks neither.
void CheckOpOutcome(const Op& op, const Prediction& prediction,
                    const std::optional<Outcome>& observed, int index,
                    std::vector<Verdict>* verdicts);

// Appends to `verdicts` how the table of `target`, a living target, differs from
// `expected` (the model's table), at op `op` (-1: the end). `known` names the files a
// table entry may be (the supervisor's sources by SourceKind number, the local copies as
// "L<i>"); harness fds are not compared. A target whose table cannot be read is gone:
// the model disagrees elsewhere. Each verdict names the cell `cells` gives its number.
// `emulated` (Model::FdEmulates) adds the PATTERN.CLOEXEC check of those numbers.
void CheckTargetTable(const std::map<int, ModelFd>& expected,
                      const std::map<int, std::string>& cells,
                      const std::map<int, EmulatedCall>& emulated, const Target& target,
                      const std::vector<KnownFile>& known, int op, std::vector<Verdict>* verdicts);

}  // namespace addfdlab

#endif  // ADDFDLAB_SRC_RUN_ORACLES_H_
