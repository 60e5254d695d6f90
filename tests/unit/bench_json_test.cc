// Reading Google Benchmark JSON for `addfdlab bench`, and the U test of --compare against
// scipy's mannwhitneyu (the values below are scipy 1.10's).
#include "bench_json.h"

#include <gtest/gtest.h>

#include <cmath>

#include "u_test.h"

namespace addfdlab::tools {
namespace {

// The failure's message; "(no error)" when `result` succeeded, which no test expects.
std::string ErrorOf(const Result<BenchRun>& result) {
  return result ? "(no error)" : result.error().message();
}

TEST(UTest, ExactWithoutTies) {
  // scipy's documentation example: mannwhitneyu(males, females) -> p 0.1111.
  EXPECT_NEAR(MannWhitneyTwoSidedP({19, 22, 16, 29, 24}, {20, 11, 17, 12}), 0.1111111111111111,
              1e-12);
  // One side of 8 or fewer values is enough for the exact distribution.
  EXPECT_NEAR(MannWhitneyTwoSidedP({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {3.5, 13, 14}),
              0.232967032967033, 1e-12);
  // Three against three, all apart: the smallest p there is, 2/20.
  EXPECT_NEAR(MannWhitneyTwoSidedP({9.3, 9.4, 9.2}, {12.1, 12.3, 12.0}), 0.1, 1e-12);
}

TEST(UTest, NormalApproximationWithTiesAndLargeSamples) {
  EXPECT_NEAR(MannWhitneyTwoSidedP({1, 2, 2, 3, 4}, {2, 3, 5, 6, 7, 7}), 0.06414661873440437,
              1e-12);
  EXPECT_NEAR(MannWhitneyTwoSidedP({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
                                   {3.5, 13, 14, 15, 16, 17, 18, 19, 20, 21}),
              0.0008688610598347449, 1e-12);
}

TEST(UTest, IdenticalSamplesAreNoChange) {
  EXPECT_DOUBLE_EQ(MannWhitneyTwoSidedP({5, 5, 5}, {5, 5, 5}), 1.0);
  EXPECT_DOUBLE_EQ(MannWhitneyTwoSidedP({1, 2, 3}, {1, 2, 3}), 1.0);
}

constexpr const char* kRun = R"({
  "context": {"date": "2026-11-29T12:00:00+00:00", "addfdlab_kernel": "6.1.0"},
  "benchmarks": [
    {"name": "inject/addfd_send/plain/same_cpu/real_time",
     "run_name": "inject/addfd_send/plain/same_cpu/real_time", "run_type": "iteration",
     "repetitions": 3, "repetition_index": 0, "real_time": 6.0, "time_unit": "us",
     "verified": 1.0},
    {"name": "inject/addfd_send/plain/same_cpu/real_time",
     "run_name": "inject/addfd_send/plain/same_cpu/real_time", "run_type": "iteration",
     "repetitions": 3, "repetition_index": 1, "real_time": 8.0, "time_unit": "us",
     "verified": 1.0},
    {"name": "inject/addfd_send/plain/same_cpu/real_time",
     "run_name": "inject/addfd_send/plain/same_cpu/real_time", "run_type": "iteration",
     "repetitions": 3, "repetition_index": 2, "real_time": 7.0, "time_unit": "us",
     "verified": 0.0},
    {"name": "inject/addfd_send/plain/same_cpu/real_time_cv",
     "run_name": "inject/addfd_send/plain/same_cpu/real_time", "run_type": "aggregate",
     "aggregate_name": "cv", "real_time": 0.1, "time_unit": "us", "leaked": NaN},
    {"name": "scale/fdtable/16/min_time:0.010/real_time",
     "run_name": "scale/fdtable/16/min_time:0.010/real_time", "run_type": "aggregate",
     "aggregate_name": "median", "real_time": 1.5, "time_unit": "ms"},
    {"name": "rollback/close_each/4", "run_name": "rollback/close_each/4",
     "run_type": "iteration", "error_occurred": true, "error_message": "target died"}
  ]
})";

TEST(BenchJson, ReadsRepetitionsAggregatesAndNaN) {
  const Result<BenchRun> run = ParseBenchJson(kRun);
  ASSERT_TRUE(run) << run.error().message();
  EXPECT_EQ(run->context["addfdlab_kernel"], "6.1.0");
  ASSERT_EQ(run->entries.size(), 6u);
  EXPECT_TRUE(std::isnan(run->entries[3].counters.at("leaked")));

  const std::vector<BenchSamples> groups = GroupSamples(run->entries);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0].name, "inject/addfd_send/plain/same_cpu");
  EXPECT_EQ(groups[0].real_ns, (std::vector<double>{6000, 8000, 7000}));
  EXPECT_DOUBLE_EQ(*groups[0].Median(), 7000);
  EXPECT_EQ(groups[0].verified, 0.0);  // one repetition failed its self-check
  // Without repetitions, the file's median aggregate; the name loses the appended parts.
  EXPECT_EQ(groups[1].name, "scale/fdtable/16");
  EXPECT_TRUE(groups[1].real_ns.empty());
  EXPECT_DOUBLE_EQ(*groups[1].Median(), 1.5e6);
  EXPECT_EQ(groups[2].error, "target died");
}

TEST(BenchJson, SyntaxErrorsGiveTheOriginalLineAndColumn) {
  // The NaN before the error is rewritten to null (one character longer) for the parser;
  // the column still counts the original text.
  std::string error = ErrorOf(ParseBenchJson("{\"benchmarks\": [\n  {\"a\": NaN, \"b\": x}]}"));
  EXPECT_EQ(error.substr(0, error.find(':', error.find(':') + 1)), "2:19") << error;
  error = ErrorOf(ParseBenchJson(""));
  EXPECT_EQ(error.rfind("1:1: not JSON", 0), 0u) << error;
}

TEST(BenchJson, RejectsWhatIsNotGoogleBenchmarkJson) {
  EXPECT_EQ(ErrorOf(ParseBenchJson("[1, 2]")),
            "not Google Benchmark JSON: the top level is not an object");
  EXPECT_EQ(ErrorOf(ParseBenchJson(R"({"benchmarks": {}})")),
            "not Google Benchmark JSON: no \"benchmarks\" array");
  EXPECT_EQ(ErrorOf(ParseBenchJson(R"({"benchmarks": [{"real_time": 1}]})")),
            "not Google Benchmark JSON: benchmarks[0] has no \"name\"");
  const std::string error = ErrorOf(ParseBenchJson(R"({"benchmarks": [{"name": "a", "real_time": 1,
      "time_unit": "fortnights"}]})"));
  EXPECT_NE(error.find("time_unit \"fortnights\""), std::string::npos) << error;
}

TEST(BenchJson, LoadNamesTheFile) {
  const Result<BenchRun> run = LoadBenchRun("/nonexistent/run.json");
  ASSERT_FALSE(run);
  EXPECT_EQ(run.error().message(), "/nonexistent/run.json: no such file");
  EXPECT_EQ(run.error(), Errno(ENOENT));
}

TEST(BenchJson, FormatDuration) {
  EXPECT_EQ(FormatDuration(85), "85.00 ns");
  EXPECT_EQ(FormatDuration(10020), "10.02 us");
  EXPECT_EQ(FormatDuration(1.5e6), "1.50 ms");
  EXPECT_EQ(FormatDuration(250e9), "250.0 s");
}

}  // namespace
}  // namespace addfdlab::tools
