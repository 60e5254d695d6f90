// The Mann-Whitney U test as Google Benchmark's tools/compare.py runs it (scipy's
// mannwhitneyu, two-sided, method "auto"): are two sets of repetitions from one distribution?
#ifndef ADDFDLAB_TOOLS_U_TEST_H_
#define ADDFDLAB_TOOLS_U_TEST_H_

#include <cstddef>
#include <vector>

namespace addfdlab::tools {

// compare.py runs no test below this many repetitions on either side, and calls the
// result unreliable below kUTestOptimalRepetitions.
inline constexpr std::size_t kUTestMinRepetitions = 2;
inline constexpr std::size_t kUTestOptimalRepetitions = 9;

// The two-sided p-value of the U test between `a` and `b` (both non-empty). Exact when
// either sample has at most 8 values (the other at most 200) and no value is tied;
// otherwise the normal approximation with tie and continuity corrections. The same
// choices as scipy >= 1.7 makes.
double MannWhitneyTwoSidedP(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace addfdlab::tools

#endif  // ADDFDLAB_TOOLS_U_TEST_H_
