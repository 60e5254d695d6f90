// Google Benchmark's reporters with one fix: the cv aggregate of a counter whose mean is 0
// is written as 0, not NaN, so that counters may be 0 in every repetition (rollback's
// leaked and dangling) and the JSON stays JSON.
#ifndef ADDFDLAB_BENCH_REPORTERS_H_
#define ADDFDLAB_BENCH_REPORTERS_H_

#include <cstddef>
#include <string>

namespace addfdlab::bench {

// Where Google Benchmark will write its file: --benchmark_out and --benchmark_out_format
// read as it reads them (the last flag, else $BENCHMARK_OUT and $BENCHMARK_OUT_FORMAT).
struct ReportFlags {
  std::string out;
  std::string out_format = "json";
};
// Call before benchmark::Initialize, which takes the flags out of argv.
ReportFlags ReadReportFlags(int argc, char** argv);

// benchmark::RunSpecifiedBenchmarks() with the reporters it would make (the display
// reporter of --benchmark_format; a JSON file reporter for `flags`, any other file format
// left to Google Benchmark), each passing every run through unchanged except the cv
// aggregate of a counter whose mean aggregate is 0: 1.7.1 computes it as 0/0 and writes
// NaN; it becomes 0, as Google Benchmark does itself from 1.8.4 (google/benchmark#1724).
// Call after benchmark::Initialize.
size_t RunSpecifiedBenchmarks(const ReportFlags& flags);

}  // namespace addfdlab::bench

#endif  // ADDFDLAB_BENCH_REPORTERS_H_
