// A run spec: one injection for the injection lab (strategy, k, the target's layout, the
// numbers to install at, a fault plan), and its byte codec for the rollback fuzzer.
#ifndef ADDFDLAB_FAULTS_RUN_SPEC_H_
#define ADDFDLAB_FAULTS_RUN_SPEC_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "addfdlab/result.h"
#include "addfdlab/rollback.h"
#include "faults/fault_plan.h"

namespace addfdlab::faults {

// One injection to run.
struct RunSpec {
  rollback::Strategy strategy = rollback::Strategy::kNaive;
  int k = 1;                 // 1..kMaxFiles
  std::vector<int> layout;   // numbers the target holds before (each its own /dev/null), < 256
  std::vector<int> numbers;  // kRestoreOnReplace: where to install (may be occupied);
                             // kFixedNumbers: empty to let it choose free numbers
  bool cloexec = false;
  FaultPlan fault;
};

inline constexpr int kMaxFiles = 8;

// OK when the spec can run; else EINVAL with why not (for input validation).
Result<void> ValidateRunSpec(const RunSpec& spec);

// The rollback fuzzer's input: a RunSpec in a dozen bytes. Decoding never fails on
// length (missing bytes read as 0) but yields nullopt for a spec Validate() refuses.
std::vector<uint8_t> EncodeRunSpec(const RunSpec& spec);
std::optional<RunSpec> DecodeRunSpec(const uint8_t* data, size_t size, bool allow_mutant);

}  // namespace addfdlab::faults

#endif  // ADDFDLAB_FAULTS_RUN_SPEC_H_
