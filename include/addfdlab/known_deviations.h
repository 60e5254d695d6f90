// Kernel bugs addfdlab knows, matched by what the kernel does (the cell and the verdict
// signatures a bug produces), never by the release string: distributions backport fixes.
#ifndef ADDFDLAB_KNOWN_DEVIATIONS_H_
#define ADDFDLAB_KNOWN_DEVIATIONS_H_

#include <string>
#include <vector>

#include "addfdlab/oracle.h"
#include "addfdlab/result.h"
#include "addfdlab/scenario.h"

namespace addfdlab {

struct KnownDeviation {
  std::string id;                       // a short name ("addfd-intr-send-stays-replied")
  std::string cell;                     // the contract cell it breaks
  std::vector<std::string> signatures;  // the verdict signatures it produces (fnmatch patterns)
  std::string evidence;                 // what the kernel does, and where it shows
  struct Fix {
    std::string summary;  // what the fix changes, in words
    std::string commit;   // the upstream commit, "" when not known
    std::string release;  // the first release with it, "" when not known
  } fix;
  std::vector<std::string> seen_on;  // kernels it was seen on (information only)
  std::string model_quirk;           // the ModelEnv quirk the fuzz model follows it with ("": none)

  bool MatchesSignature(const std::string& signature) const;
  // "seccomp: ... (commit abc, 6.19)", or "not known".
  std::string FixText() const;
};

// Parses a known-deviations JSON file. A failure's message names the file (file:line:col
// for a syntax error, the entry and field otherwise) and says it all: print it as it is.
Result<std::vector<KnownDeviation>> LoadKnownDeviations(const std::string& path);

// The entry whose cell and signatures explain `verdict`, or nullptr: then it is new.
const KnownDeviation* MatchKnownDeviation(const std::vector<KnownDeviation>& known,
                                          const Verdict& verdict, const Scenario& scenario);

// When every verdict of a run is explained by an entry, the first verdict's; nullptr when
// one of them is new (or the run is clean).
const KnownDeviation* MatchKnownRun(const std::vector<KnownDeviation>& known,
                                    const std::vector<Verdict>& verdicts, const Scenario& scenario);

}  // namespace addfdlab

#endif  // ADDFDLAB_KNOWN_DEVIATIONS_H_
