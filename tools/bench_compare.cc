// addfdlab bench --compare: the rows, the U test and the table or JSON.
#include "bench_compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "bench_json.h"
#include "commands.h"
#include "u_test.h"

namespace addfdlab::tools {
namespace {

// The U test's significance level, as compare.py's.
constexpr double kAlpha = 0.05;

// --compare: one row per benchmark.
struct CompareRow {
  std::string name;
  std::optional<double> median_a, median_b;
  size_t repetitions_a = 0, repetitions_b = 0;
  std::optional<double> p_value;
  std::string verdict;
  bool unreliable = false;  // a U test over fewer than kUTestOptimalRepetitions
};

std::string Describe(const BenchRun& run) {
  std::string text = run.path;
  const nlohmann::json& c = run.context;
  if (!c.is_object()) return text;
  std::vector<std::string> parts;
  if (c.contains("addfdlab_kernel") && c["addfdlab_kernel"].is_string()) {
    parts.push_back("kernel " + c["addfdlab_kernel"].get<std::string>());
  }
  if (c.contains("host_name") && c["host_name"].is_string()) {
    parts.push_back("host " + c["host_name"].get<std::string>());
  }
  if (c.contains("date") && c["date"].is_string()) parts.push_back(c["date"].get<std::string>());
  for (size_t i = 0; i < parts.size(); ++i) text += (i == 0 ? " (" : ", ") + parts[i];
  return parts.empty() ? text : text + ")";
}

}  // namespace

int RunBenchCompare(const BenchCompareOptions& options) {
  std::optional<BenchRun> runs[2];
  for (int i = 0; i < 2; ++i) {
    Result<BenchRun> run = LoadBenchRun(options.files[static_cast<size_t>(i)]);
    if (!run) {
      std::cerr << "addfdlab bench: " << run.error().message() << "\n";
      return kExitUsage;
    }
    runs[i] = std::move(*run);
  }
  const std::optional<std::regex> filter =
      options.filter.empty()
          ? std::nullopt
          : std::optional<std::regex>(std::regex(options.filter, std::regex::extended));
  const std::vector<BenchSamples> a = GroupSamples(runs[0]->entries);
  const std::vector<BenchSamples> b = GroupSamples(runs[1]->entries);
  std::map<std::string, const BenchSamples*> by_name_b;
  for (const BenchSamples& s : b) by_name_b[s.name] = &s;
  std::map<std::string, bool> in_a;
  for (const BenchSamples& s : a) in_a[s.name] = true;

  std::vector<CompareRow> rows;
  const auto add = [&](const BenchSamples* sa, const BenchSamples* sb) {
    CompareRow row;
    row.name = sa ? sa->name : sb->name;
    if (filter && !std::regex_search(row.name, *filter)) return;
    if (sa) {
      row.median_a = sa->Median();
      row.repetitions_a = sa->real_ns.size();
    }
    if (sb) {
      row.median_b = sb->Median();
      row.repetitions_b = sb->real_ns.size();
    }
    if (!sb) {
      row.verdict = "only in A";
    } else if (!sa) {
      row.verdict = "only in B";
    } else if (!sa->error.empty()) {
      row.verdict = "error in A: " + sa->error;
    } else if (!sb->error.empty()) {
      row.verdict = "error in B: " + sb->error;
    } else if (std::min(row.repetitions_a, row.repetitions_b) < kUTestMinRepetitions) {
      row.verdict = "too few repetitions (" + std::to_string(row.repetitions_a) + " vs " +
                    std::to_string(row.repetitions_b) + ")";
    } else {
      row.p_value = MannWhitneyTwoSidedP(sa->real_ns, sb->real_ns);
      row.unreliable = std::min(row.repetitions_a, row.repetitions_b) < kUTestOptimalRepetitions;
      if (*row.p_value >= kAlpha || !row.median_a || !row.median_b) {
        row.verdict = "no significant change";
      } else {
        row.verdict = *row.median_b > *row.median_a ? "slower" : "faster";
      }
    }
    rows.push_back(row);
  };
  for (const BenchSamples& s : a) {
    auto it = by_name_b.find(s.name);
    add(&s, it == by_name_b.end() ? nullptr : it->second);
  }
  for (const BenchSamples& s : b) {
    if (!in_a.count(s.name)) add(nullptr, &s);
  }
  // By name: with random interleaving the files' order is no order at all.
  std::sort(rows.begin(), rows.end(),
            [](const CompareRow& x, const CompareRow& y) { return x.name < y.name; });
  const auto change = [](const CompareRow& r) -> std::optional<double> {
    if (!r.median_a || !r.median_b || *r.median_a == 0.0) return std::nullopt;
    return (*r.median_b - *r.median_a) / *r.median_a * 100.0;
  };
  std::map<std::string, int> tally;
  for (const CompareRow& r : rows) {
    const std::string v = r.verdict.rfind("too few", 0) == 0 ? "too few repetitions"
                          : r.verdict.rfind("error", 0) == 0 ? "errors"
                                                             : r.verdict;
    ++tally[v];
  }

  if (options.json) {
    nlohmann::json out;
    for (int i = 0; i < 2; ++i) {
      nlohmann::json side = {{"path", runs[i]->path}};
      const nlohmann::json& c = runs[i]->context;
      for (const char* key : {"addfdlab_kernel", "host_name", "date", "executable"}) {
        if (c.is_object() && c.contains(key)) side[key] = c[key];
      }
      out[i == 0 ? "a" : "b"] = side;
    }
    out["alpha"] = kAlpha;
    out["test"] = "Mann-Whitney U, two-sided, over the repetitions' real time";
    out["benchmarks"] = nlohmann::json::array();
    const auto opt = [](std::optional<double> v) {
      return v ? nlohmann::json(*v) : nlohmann::json();
    };
    for (const CompareRow& r : rows) {
      out["benchmarks"].push_back({{"name", r.name},
                                   {"median_a_ns", opt(r.median_a)},
                                   {"median_b_ns", opt(r.median_b)},
                                   {"change_percent", opt(change(r))},
                                   {"p_value", opt(r.p_value)},
                                   {"repetitions_a", r.repetitions_a},
                                   {"repetitions_b", r.repetitions_b},
                                   {"reliable", r.p_value && !r.unreliable},
                                   {"verdict", r.verdict}});
    }
    out["summary"] = tally;
    std::cout << out.dump(2) << "\n";
    return 0;
  }

  std::printf("A: %s\nB: %s\n", Describe(*runs[0]).c_str(), Describe(*runs[1]).c_str());
  std::printf(
      "Medians of the repetitions' real time; p: Mann-Whitney U test, two-sided (as Google "
      "Benchmark's compare.py); a change counts when p < %.2f.\n\n",
      kAlpha);
  size_t width = std::string("benchmark").size();
  for (const CompareRow& r : rows) width = std::max(width, r.name.size());
  const int w = static_cast<int>(width);
  std::printf("%-*s  %12s  %12s  %8s  %8s  %s\n", w, "benchmark", "median A", "median B", "change",
              "p", "verdict");
  std::printf("%s\n", std::string(width + 64, '-').c_str());
  bool footnote = false;
  for (const CompareRow& r : rows) {
    const auto duration = [](std::optional<double> v) {
      return v ? FormatDuration(*v) : std::string("-");
    };
    char delta[32] = "-";
    if (auto c = change(r)) std::snprintf(delta, sizeof(delta), "%+.1f%%", *c);
    char p[32] = "-";
    if (r.p_value) {
      std::snprintf(p, sizeof(p), "%.4f%s", *r.p_value, r.unreliable ? "*" : "");
      footnote = footnote || r.unreliable;
    }
    std::printf("%-*s  %12s  %12s  %8s  %8s  %s\n", w, r.name.c_str(), duration(r.median_a).c_str(),
                duration(r.median_b).c_str(), delta, p, r.verdict.c_str());
  }
  if (footnote) {
    std::printf(
        "\n* fewer than %zu repetitions on a side: compare.py calls such a U test "
        "unreliable.\n",
        kUTestOptimalRepetitions);
  }
  std::string summary;
  for (const auto& [verdict, count] : tally) {
    summary += (summary.empty() ? "" : ", ") + std::to_string(count) + " " + verdict;
  }
  std::printf("\n%zu benchmarks: %s\n", rows.size(),
              rows.empty() ? "none in either run" : summary.c_str());
  return 0;
}

}  // namespace addfdlab::tools
