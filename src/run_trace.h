// The run's record for coverage: what each op reached (Observation) and the contract cells
// the model went through without naming them (Model::TakeReached).
#ifndef ADDFDLAB_SRC_RUN_TRACE_H_
#define ADDFDLAB_SRC_RUN_TRACE_H_

#include <functional>
#include <optional>

#include "addfdlab/executor.h"
#include "addfdlab/model.h"
#include "addfdlab/scenario.h"

namespace addfdlab {

// What op `op` reached: the model's state before it (call after Model::Begin and before
// Model::Step; the op itself does not change the model), the kernel's answer and the cell
// the prediction named. An op without an outcome counts as blocked.
Observation ObserveOp(const Model& model, const Op& op, const Prediction& prediction,
                      const std::optional<Outcome>& observed);

// Passes each cell the model went through since the last call to `observe`, as if `op` had
// named it; the cells are taken from the model even when `observe` is empty.
void ReportReached(Model& model, const Observation& op,
                   const std::function<void(const Observation&)>& observe);

}  // namespace addfdlab

#endif  // ADDFDLAB_SRC_RUN_TRACE_H_
