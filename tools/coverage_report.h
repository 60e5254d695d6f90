// `addfdlab coverage`'s report: what the guest collected (kernel PCs per input, as
// function+offset), the PCs KCOV can record in each function (objdump), their source lines
// (addr2line), and the text and HTML renderings, per line of the functions that matter.
#ifndef ADDFDLAB_TOOLS_COVERAGE_REPORT_H_
#define ADDFDLAB_TOOLS_COVERAGE_REPORT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "addfdlab/kcov.h"
#include "addfdlab/result.h"

namespace addfdlab::tools::coverage {

// One input as `coverage --collect` replays it: the PCs of its first run, and whether every
// run reached the same set.
struct InputCoverage {
  std::string file;
  std::vector<KernelPc> pcs;
  int runs = 0;
  bool stable = true;
  bool truncated = false;
  std::string verdict;  // "clean", or the first verdict
};
struct Collection {
  std::string kernel;
  std::string kcov;  // "on", or why nothing was collected
  std::vector<InputCoverage> inputs;
};
std::string CollectionToJson(const Collection& collection);
// The inverse; an error naming what is missing.
Result<Collection> ParseCollection(std::string_view json);

// `objdump -d` of a function: the return addresses of its calls to
// __sanitizer_cov_trace_pc, which are the PCs KCOV records.
std::vector<uint64_t> ParseObjdumpCoverPoints(std::string_view text);

// A frame of `addr2line -a -f -i` output: innermost first for each address.
struct SourceFrame {
  std::string function;
  std::string file;
  int line = 0;
  friend bool operator==(const SourceFrame&, const SourceFrame&) = default;
};
// By address (as printed by -a); a "??" file or line 0 is left out.
std::map<uint64_t, std::vector<SourceFrame>> ParseAddr2line(std::string_view text);

// The lines [first, last] (1-based) of function `name`'s definition in C source `lines`:
// from the line naming it with its "(" at the start of a definition to its closing brace.
std::optional<std::pair<int, int>> FindFunctionLines(const std::vector<std::string>& lines,
                                                     std::string_view name);

// Why no input reaches a line: keyed by function and a piece of the line's source text.
struct Annotation {
  std::string_view function;
  std::string_view text;
  std::string_view why;
};
extern const Annotation kAnnotations[];
// The annotation of a line of `function`, or "".
std::string_view AnnotationFor(std::string_view function, std::string_view source_line);

enum class LineState { kNone, kCovered, kUncovered };
struct ReportLine {
  int number = 0;
  std::string text;
  LineState state = LineState::kNone;
  std::string why;  // an annotation, for an uncovered line
};
struct FunctionReport {
  std::string name;  // kKcovFunctions' name
  std::string file;
  std::vector<std::string> symbols;  // the vmlinux symbols holding its code
  size_t points = 0;                 // PCs KCOV can record in those symbols
  size_t reached = 0;
  std::vector<std::string> unreached_pcs;  // function+offset, without line information
  std::vector<ReportLine> lines;           // its source, with line information
  size_t LinesWith(LineState state) const;
};
struct Report {
  std::string kernel;
  size_t inputs = 0;
  size_t stable_inputs = 0;
  size_t truncated_inputs = 0;
  size_t distinct_pcs = 0;  // over every input
  bool line_info = false;
  double seconds = 0;
  std::vector<FunctionReport> functions;
};

// What BuildReport needs about the kernel image: for each symbol (System.map name), its
// address and the return addresses of its cover points; each point's frames (empty without
// line information); each source file's lines by its path under the tree.
struct KernelImage {
  std::map<std::string, uint64_t> symbol_start;
  std::map<std::string, std::vector<uint64_t>> points;
  std::map<uint64_t, std::vector<SourceFrame>> frames;  // by point (its return address)
  std::map<std::string, std::vector<std::string>> sources;
};
Report BuildReport(const Collection& collection, const KernelImage& image);

std::string RenderText(const Report& report);
std::string RenderHtml(const Report& report);

}  // namespace addfdlab::tools::coverage

#endif  // ADDFDLAB_TOOLS_COVERAGE_REPORT_H_
