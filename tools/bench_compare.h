// addfdlab bench --compare: two runs' benchmarks side by side, with the U test of Google
// Benchmark's compare.py.
#ifndef ADDFDLAB_TOOLS_BENCH_COMPARE_H_
#define ADDFDLAB_TOOLS_BENCH_COMPARE_H_

#include <string>
#include <vector>

namespace addfdlab::tools {

struct BenchCompareOptions {
  std::vector<std::string> files;  // the two runs: raw JSON files or run folders
  std::string filter;              // a regex on benchmark names ("" for all)
  bool json = false;               // JSON on stdout instead of the table
};

// Prints one row per benchmark; exit code 0, or kExitUsage for input that is not two
// Google Benchmark runs (said on stderr).
int RunBenchCompare(const BenchCompareOptions& options);

}  // namespace addfdlab::tools

#endif  // ADDFDLAB_TOOLS_BENCH_COMPARE_H_
