// Google Benchmark's JSON output (--benchmark_out_format=json), read for `addfdlab bench`:
// the one reader of it, for comparisons of two runs and for the normalized samples
// (samples.json) that scripts/bench_report.py renders.
#ifndef ADDFDLAB_TOOLS_BENCH_JSON_H_
#define ADDFDLAB_TOOLS_BENCH_JSON_H_

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "addfdlab/result.h"

namespace addfdlab::tools {

// One element of "benchmarks": a repetition, or an aggregate over the repetitions.
struct BenchEntry {
  std::string name;
  std::string run_name;  // the name without an aggregate's suffix
  bool aggregate = false;
  std::string aggregate_name;              // mean, median, stddev, cv, ...
  std::string aggregate_unit;              // "time" or "percentage" (cv), for an aggregate
  std::optional<double> real_time_ns;      // absent when the file said null or NaN
  std::optional<double> real_time_us;      // the same in microseconds, from the file's unit
  std::string error;                       // error_message, when error_occurred
  std::map<std::string, double> counters;  // user counters; NaN where the file said NaN
  std::string suite;                       // the file's name without .json (LoadBenchRun)
};

// One file's "context", under its suite name.
struct BenchSuite {
  std::string name;  // the file's name without .json
  std::string file;  // the file's name
  nlohmann::json context;
};

// One file, or the files of one report folder merged.
struct BenchRun {
  std::string path;
  nlohmann::json context;          // the first file's "context"
  std::vector<BenchSuite> suites;  // one per file, in the order read (LoadBenchRun)
  std::vector<BenchEntry> entries;
};

// Parses Google Benchmark JSON text. Its writer prints NaN and Infinity (the cv of a
// counter that is zero in every repetition) although JSON has neither; they are read as
// absent values. A failure's message is "line:col: not JSON: ..." for a syntax error, or
// "not Google Benchmark JSON: ..." naming the element that is not Google Benchmark's.
Result<BenchRun> ParseBenchJson(const std::string& text);

// Loads `path`: a JSON file, or a folder (a report's, whose raw/ holds the JSON, or any
// folder of *.json files) whose files are merged. A failure's message names the file and
// says it all.
Result<BenchRun> LoadBenchRun(const std::string& path);

// A benchmark's repetitions, in the order they ran. A repetition or aggregate that failed
// gives only its error.
struct BenchSamples {
  std::string name;
  std::string run_name;                       // the first entry's
  std::string suite;                          // the first entry's
  std::vector<double> real_ns;                // one per repetition
  std::vector<double> real_us;                // the same in microseconds
  std::optional<double> median_aggregate_ns;  // the file's _median, when it has one
  std::string error;                          // the first error_message
  std::optional<double> verified;             // smallest `verified` counter, when present
  // Each user counter's value in every repetition that has it; NaN where the file said
  // null or NaN.
  std::map<std::string, std::vector<double>> counters;
  // The file's aggregates' real time: microseconds, or a fraction for a percentage (cv).
  std::map<std::string, double> aggregates;

  // The median of the repetitions, or the file's _median aggregate without them.
  std::optional<double> Median() const;
};

// A run name without the parts Google Benchmark appends for options set in code
// ("/real_time", "/min_time:0.010", "/repeats:9", "/threads:1", ...): the name
// docs/bench.md gives the benchmark.
std::string BenchName(const std::string& run_name);

// Groups a run's entries by benchmark (BenchName), in first-seen order.
std::vector<BenchSamples> GroupSamples(const std::vector<BenchEntry>& entries);

// The normalized samples of `run` (LoadBenchRun), what scripts/bench_report.py renders:
//   {"format": "addfdlab-bench-samples/1", "unit": "us",
//    "suites": [{"name", "file", "context"}],
//    "benchmarks": [{"name", "run_name", "suite", "real_time": [...], "error",
//                    "counters": {name: [...]}, "aggregates": {name: value}}]}
// Benchmarks in first-seen order; times in microseconds; a non-finite value as null.
nlohmann::json SamplesJson(const BenchRun& run);

// A duration in nanoseconds in the unit that suits it: "85.0 ns", "10.02 us", "1.50 ms".
std::string FormatDuration(double ns);

}  // namespace addfdlab::tools

#endif  // ADDFDLAB_TOOLS_BENCH_JSON_H_
