// A finding folder (findings/<signature>/, filed by `addfdlab fuzz` or `vm run`): what is in
// it, its signature and class, and its C reproducer. `addfdlab fuzz` files them and
// `addfdlab triage` reads them (docs/triage.md).
#ifndef ADDFDLAB_TOOLS_FINDINGS_H_
#define ADDFDLAB_TOOLS_FINDINGS_H_

#include <string>
#include <string_view>
#include <vector>

#include "addfdlab/known_deviations.h"
#include "addfdlab/result.h"
#include "addfdlab/scenario.h"

namespace addfdlab::tools {

// The files of a finding folder, by name.
inline constexpr const char* kReproScn = "repro.scn";        // the minimal scenario
inline constexpr const char* kReproC = "repro.c";            // its C reproducer
inline constexpr const char* kTraceTxt = "trace.txt";        // the minimal run's trace
inline constexpr const char* kOriginalScn = "original.scn";  // the fuzzer's input as text
inline constexpr const char* kInputBin = "input.bin";        // ... and as bytes
inline constexpr const char* kConsoleLog = "console.log";    // a guest's console (vm run)
inline constexpr const char* kCommandTxt = "command.txt";    // the vm run command that gave it

// What a finding is, for triage: the verdict kind decides it, a known deviation first. In
// the order triage lists them: what most needs a look first.
enum class FindingClass {
  kKernelDeviation,  // contract, expect, wrong-file, wrong-cloexec: the kernel broke a cell
  kKernelSplat,      // the kernel reported trouble on a guest's console
  kLeak,             // leaked-fd
  kDangling,         // dangling-fd
  kHang,             // an op missed its deadline
  kSanitizerCrash,   // a sanitizer report (ASan, UBSan, LSan, TSan) in the folder's logs
  kHarnessBug,       // hygiene, harness: addfdlab itself
  kUnreproduced,     // no signature: a folder without repro.scn whose replays gave no verdict
  kKnownBug,         // its verdicts are a known deviation's (known-deviations.json)
};
const char* FindingClassName(FindingClass c);

// The class of a verdict signature (`KIND:CELL:OP`), a known deviation aside.
FindingClass ClassOfSignature(std::string_view signature);

// The verdict kinds that say the kernel broke the contract: the findings that get a
// repro.c (issue 15).
bool IsKernelDeviationSignature(std::string_view signature);

// The signature a fuzz-filed repro.scn names on its first line ("# KIND:CELL:OP"), or "".
std::string SignatureInHeader(std::string_view repro_scn_text);

// The entry of `known` that explains `signature` (its cell and pattern), or nullptr.
const KnownDeviation* KnownBySignature(const std::vector<KnownDeviation>& known,
                                       std::string_view signature);

// The C reproducer of a finding's scenario (EmitC with this process's RLIMIT_NOFILE hard
// limit, as `repro --emit-c` writes it), `source_name` in its header.
Result<std::string> FindingReproC(const Scenario& scenario, const std::string& source_name);

// A folder name for a signature: everything but letters, digits and '.' as '_'.
std::string SanitizeSignature(std::string_view signature);

// The first sanitizer report header in `text` ("ERROR: AddressSanitizer: ...",
// "runtime error: ...", "WARNING: ThreadSanitizer: ..."), as its line; "" when none.
std::string FindSanitizerReport(std::string_view text);

}  // namespace addfdlab::tools

#endif  // ADDFDLAB_TOOLS_FINDINGS_H_
