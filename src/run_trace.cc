// The run's record for coverage: each op's Observation and the cells the model reached.
#include "run_trace.h"

#include <algorithm>
#include <string>
#include <utility>

namespace addfdlab {
namespace {

uint8_t StateClass(const Model& model, const Op& op) {
  if (op.notif < 0) return 0;
  if (model.TrapPending(op.notif)) return 1;
  return model.TrapResult(op.notif) ? 2 : 3;
}

}  // namespace

Observation ObserveOp(const Model& model, const Op& op, const Prediction& prediction,
                      const std::optional<Outcome>& observed) {
  const int err = !observed || observed->kind == Outcome::Kind::kBlocked ? -1
                  : observed->kind == Outcome::Kind::kError              ? observed->err
                                                                         : 0;
  const auto queued = static_cast<uint8_t>(std::min<size_t>(model.QueuedRequests(op.notif), 3));
  return Observation{op.kind, StateClass(model, op), err,
                     queued,  model.SlotClassOf(op), prediction.cell};
}

void ReportReached(Model& model, const Observation& op,
                   const std::function<void(const Observation&)>& observe) {
  for (std::string& cell : model.TakeReached()) {
    if (!observe) continue;
    Observation reached = op;
    reached.cell = std::move(cell);
    observe(reached);
  }
}

}  // namespace addfdlab
