// A kernel matrix (addfdlab vm matrix): the contract suite's cells, or reproducers, by
// kernel, built from the JSON that `contract --json` and `repro --json` print in each
// guest; every row that differs between kernels is explained by its cell. Also the order
// in which `vm bisect` boots an ordered list of kernels.
#ifndef ADDFDLAB_VM_MATRIX_H_
#define ADDFDLAB_VM_MATRIX_H_

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "addfdlab/known_deviations.h"

namespace addfdlab::vm {

// One kernel's run: what the command printed on stdout and how it ended.
struct KernelRun {
  std::string kernel;   // as asked for ("6.1.0-57", "host")
  int exit = -1;        // the command's exit status; -1 when it did not run to the end
  std::string problem;  // why there is no result ("" when the command ran)
  std::string stdout_text;
  double seconds = 0;  // the run's wall time (boot included)
};

struct MatrixColumn {
  std::string kernel;   // as asked for
  std::string release;  // uname -r in the guest, from the JSON ("" when it did not run)
  std::string problem;  // why the column is empty
  double seconds = 0;
};

struct MatrixRow {
  std::string name;                   // the cell, or the reproducer's file
  std::vector<std::string> statuses;  // PASS, DEVIATES, KNOWN, SKIP, MISSING; "-": no result
  std::vector<std::string> details;   // each column's reason or verdicts
  bool differs = false;               // not every column with a result agrees
  std::string explanation;            // for a row that differs: its cell's rule, feature, fix
};

struct Matrix {
  std::string kind;  // "contract" or "repro"
  std::vector<MatrixColumn> columns;
  std::vector<MatrixRow> rows;
  size_t differing() const;
};

// Cells × kernels from each run's `contract --json`, explained with `known` (the
// repository's known deviations: the fix of a KNOWN row).
Matrix BuildContractMatrix(const std::vector<KernelRun>& runs,
                           const std::vector<KnownDeviation>& known);

// Reproducers × kernels: runs[k][f] is kernel k's `repro --json` run of files[f].
Matrix BuildReproMatrix(const std::vector<std::string>& files,
                        const std::vector<std::vector<KernelRun>>& runs,
                        const std::vector<KnownDeviation>& known);

// A reproducer's verdict from its `repro --json` run: its status and verdict lines. Two runs
// have the same verdict when their keys are equal (bisect's comparison).
struct ReproVerdict {
  std::string status;              // PASS, KNOWN, DEVIATES, SKIP, or "-" (no result)
  std::vector<std::string> lines;  // "KIND:CELL:OP  text", or why there is no result
  std::string key;                 // status and the sorted verdict signatures
};
ReproVerdict ReadReproVerdict(const KernelRun& run);

// The explanation of a row of `cell` whose statuses differ: the registry's rule and the
// kernel function it follows, the feature it needs when a column skips it, the known
// deviation and its fix when a column shows it.
std::string ExplainCell(std::string_view cell, const std::vector<std::string>& statuses,
                        const std::vector<KnownDeviation>& known);

std::string FormatMatrixText(const Matrix& matrix);
nlohmann::json MatrixJson(const Matrix& matrix);
// A static page (no script): the table, differing rows marked, and their explanations.
std::string MatrixHtml(const Matrix& matrix, std::string_view title);
// `text` with &, <, > and " escaped for HTML.
std::string HtmlEscape(std::string_view text);

// Binary search for the first kernel of an ordered list whose verdict differs from the
// first kernel's: both ends first (the evidence of both sides), then halving; one boot per
// probe, so at most 2 + ceil(log2(n - 1)) boots.
class Bisection {
 public:
  explicit Bisection(size_t kernels) : verdicts_(kernels) {}
  // The index to boot next, or nullopt when done.
  std::optional<size_t> Next() const;
  void Record(size_t index, std::string verdict_key);
  // Done: the first index whose verdict differs from index 0's, or nullopt when both ends
  // agree (no change in the list, or an even number of changes).
  std::optional<size_t> FirstChanged() const;
  // The last index known to have index 0's verdict (valid once done with a change).
  size_t LastSame() const { return lo_; }
  size_t boots() const { return boots_; }

 private:
  std::vector<std::optional<std::string>> verdicts_;
  size_t lo_ = 0;
  size_t hi_ = 0;  // 0: not yet set (set to n - 1 once both ends are known)
  size_t boots_ = 0;
};

// Debian kernel package names in version order (their numbers compared as numbers:
// linux-image-6.12.9+deb12 before 6.12.107+deb12, 6.1.0-47 before 6.1.0-57).
bool KernelVersionLess(std::string_view a, std::string_view b);
// The packages of `all` from `first` to `last` (both included; package names, as
// KernelPackageCandidates gives them) in version order, with the same flavour as `first`.
std::vector<std::string> KernelsBetween(std::vector<std::string> all, std::string_view first,
                                        std::string_view last);

}  // namespace addfdlab::vm

#endif  // ADDFDLAB_VM_MATRIX_H_
