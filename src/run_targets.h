// The run's targets: one slot per target the scenario declares, with what the executor
// knows of its listener's notification ids and of its trapped syscalls' returns.
#ifndef ADDFDLAB_SRC_RUN_TARGETS_H_
#define ADDFDLAB_SRC_RUN_TARGETS_H_

#include <cstdint>
#include <map>
#include <memory>

#include "addfdlab/oracle.h"
#include "addfdlab/target.h"
#include "addfdlab/target_pool.h"

namespace addfdlab {

struct TargetSlot {
  std::unique_ptr<Target> target;
  TargetPool* pool = nullptr;
  uint64_t base_id = 0;             // the kernel id of the listener's notification number 0
  std::map<int, Outcome> returned;  // trapped syscalls whose return was read early
};

}  // namespace addfdlab

#endif  // ADDFDLAB_SRC_RUN_TARGETS_H_
