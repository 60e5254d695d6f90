// The contract suite: runs every scenario of corpus/contract/ (each names its cells) and
// reports a conformance row per contract cell; deviations that a known-deviations entry
// explains (by cell and verdict signature) are KNOWN, not failures.
#ifndef ADDFDLAB_CONTRACT_H_
#define ADDFDLAB_CONTRACT_H_

#include <optional>
#include <string>
#include <vector>

#include "addfdlab/cells.h"
#include "addfdlab/executor.h"
#include "addfdlab/known_deviations.h"
#include "addfdlab/probe.h"
#include "addfdlab/result.h"

namespace addfdlab {

struct CellRow {
  enum class Status : uint8_t {
    kPass,      // every scenario with the cell ran clean
    kDeviates,  // a scenario with the cell got a verdict that no known deviation explains
    kKnown,     // it deviates, and a known-deviations entry explains the verdicts
    kSkip,      // a feature or an environment it needs is absent, or its scenario could
                // not be run to its schedule here
    kMissing,   // no scenario carries the cell
  };
  std::string cell;
  Status status = Status::kMissing;
  std::string expected;
  std::string observed;
  std::string reason;    // why it skips, or the verdict, or the known deviation and its fix
  std::string scenario;  // the file that decided the row
  std::string known;     // the id of the known deviation that explains it (kKnown)
  std::string trace;     // the deviating run's trace and verdicts (kDeviates, kKnown)
};

// What became of each known deviation on this kernel.
struct KnownStatus {
  enum class State : uint8_t {
    kShows,     // a scenario reproduced it: this kernel has the bug
    kFixed,     // its cell passed: this kernel does not have it
    kUntested,  // its cell was skipped, or deviated otherwise
  };
  const KnownDeviation* deviation = nullptr;
  State state = State::kUntested;
};

const char* KnownStateName(KnownStatus::State state);

const char* CellStatusName(CellRow::Status status);

struct ContractReport {
  std::string kernel;
  std::vector<CellRow> rows;       // one per ContractCells() entry, in that order
  std::vector<KnownStatus> known;  // one per known deviation, in the list's order
  double seconds = 0;
  Scheduling scheduling;  // how the runs were scheduled, and why
  // False when a row deviates with no known deviation explaining it, or a cell has no
  // scenario.
  bool ok() const;
};

// Runs every .scn under `dir`. `known` must outlive the report. A failure (the folder
// cannot be read, a scenario does not parse or names an unknown cell) has a message that
// names the file and says it all.
Result<ContractReport> RunContract(const std::string& dir, const std::vector<KnownDeviation>& known,
                                   Executor& executor);

}  // namespace addfdlab

#endif  // ADDFDLAB_CONTRACT_H_
