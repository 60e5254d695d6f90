// The Mann-Whitney U test: ranks with ties averaged, then an exact or a normal p-value.
#include "u_test.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace addfdlab::tools {
namespace {

// P(U >= u) under the null hypothesis, for samples of sizes m and n without ties. U's
// distribution is that of a rank sum of min(m, n) values drawn from 1..m+n, shifted; it
// is counted by subset size and sum.
double ExactUpperTail(size_t m, size_t n, double u) {
  const size_t small = std::min(m, n);
  const size_t total = m + n;
  const size_t max_sum = small * total;
  // ways[k][s]: subsets of size k of the ranks seen so far with rank sum s.
  std::vector<std::vector<double>> ways(small + 1, std::vector<double>(max_sum + 1, 0.0));
  ways[0][0] = 1.0;
  for (size_t rank = 1; rank <= total; ++rank) {
    for (size_t k = std::min(small, rank); k >= 1; --k) {
      for (size_t s = max_sum; s >= rank; --s) ways[k][s] += ways[k - 1][s - rank];
    }
  }
  const double offset = static_cast<double>(small * (small + 1) / 2);
  double tail = 0.0;
  double all = 0.0;
  for (size_t s = 0; s <= max_sum; ++s) {
    all += ways[small][s];
    if (static_cast<double>(s) - offset >= u - 1e-9) tail += ways[small][s];
  }
  return tail / all;
}

}  // namespace

double MannWhitneyTwoSidedP(const std::vector<double>& a, const std::vector<double>& b) {
  const size_t m = a.size();
  const size_t n = b.size();
  if (m == 0 || n == 0) return 1.0;
  // Rank the pooled values; tied values share their average rank.
  std::vector<std::pair<double, bool>> pooled;
  for (double v : a) pooled.emplace_back(v, true);
  for (double v : b) pooled.emplace_back(v, false);
  std::sort(pooled.begin(), pooled.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  double rank_sum_a = 0.0;
  double tie_term = 0.0;
  bool ties = false;
  for (size_t i = 0; i < pooled.size();) {
    size_t j = i;
    while (j < pooled.size() && pooled[j].first == pooled[i].first) ++j;
    const double count = static_cast<double>(j - i);
    const double rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (size_t k = i; k < j; ++k) {
      if (pooled[k].second) rank_sum_a += rank;
    }
    if (j - i > 1) ties = true;
    tie_term += count * count * count - count;
    i = j;
  }
  const double dm = static_cast<double>(m);
  const double dn = static_cast<double>(n);
  const double u1 = rank_sum_a - dm * (dm + 1.0) / 2.0;
  const double u = std::max(u1, dm * dn - u1);
  if ((m <= 8 || n <= 8) && !ties && std::max(m, n) <= 200) {
    return std::min(1.0, 2.0 * ExactUpperTail(m, n, u));
  }
  const double total = dm + dn;
  const double sigma =
      std::sqrt(dm * dn / 12.0 * ((total + 1.0) - tie_term / (total * (total - 1.0))));
  if (!(sigma > 0.0)) return 1.0;
  // The continuity correction: U is discrete, so half a step goes to the tail's side.
  const double z = (u - dm * dn / 2.0 - 0.5) / sigma;
  return std::clamp(std::erfc(z / std::sqrt(2.0)), 0.0, 1.0);
}

}  // namespace addfdlab::tools
