// The contract suite: runs every scenario of corpus/contract/ (each names its cells) and
// reports a conformance row per contract cell, against a list of known deviations.
#ifndef ADDFDLAB_CONTRACT_H_
#define ADDFDLAB_CONTRACT_H_

#include <optional>
#include <string>
#include <vector>

#include "addfdlab/executor.h"
#include "addfdlab/probe.h"

namespace addfdlab {

// A deviation accepted on some kernels: listed in the repository with its evidence.
struct KnownDeviation {
  std::string cell;
  std::vector<std::string> kernels;  // release patterns (fnmatch) where it was seen
  std::string evidence;
  std::string fix;  // the upstream fix, when known
  bool Matches(const std::string& release) const;
};

// Parses the known-deviations JSON; on error returns nullopt and a message naming the file.
std::optional<std::vector<KnownDeviation>> LoadKnownDeviations(const std::string& path,
                                                               std::string* error);

struct CellRow {
  enum class Status : uint8_t {
    kPass,      // every scenario with the cell ran clean
    kDeviates,  // a scenario with the cell got a verdict, and no listing accepts it
    kKnown,     // it deviates, as a known-deviations entry for this kernel says
    kStale,     // listed for this kernel, but it no longer deviates
    kSkip,      // a feature or an environment it needs is absent
    kMissing,   // no scenario carries the cell
  };
  std::string cell;
  Status status = Status::kMissing;
  std::string expected;
  std::string observed;
  std::string reason;    // why it skips, or the verdict, or the listing's evidence
  std::string scenario;  // the file that decided the row
};

const char* CellStatusName(CellRow::Status status);

struct ContractReport {
  std::string kernel;
  std::vector<CellRow> rows;  // one per ContractCells() entry, in that order
  double seconds = 0;
  bool deterministic = false;
  // False when a row deviates without a listing, a listing is stale, or a cell has no
  // scenario.
  bool ok() const;
};

// Why `cell` cannot run here, or "" when it can.
std::string CellSkipReason(const std::string& cell, const Features& features);

// Runs every .scn under `dir`.
ContractReport RunContract(const std::string& dir, const std::vector<KnownDeviation>& known,
                           Executor& executor, std::string* error);

}  // namespace addfdlab

#endif  // ADDFDLAB_CONTRACT_H_
