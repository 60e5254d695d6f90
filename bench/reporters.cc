// Google Benchmark's reporters behind a filter that writes a cv of 0 for a counter whose
// mean is 0.
#include "reporters.h"

#include <benchmark/benchmark.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

namespace addfdlab::bench {
namespace {

using benchmark::BenchmarkReporter;

// Forwards everything to `inner`, writing to the streams Google Benchmark gave this one.
class ZeroMeanCvReporter final : public BenchmarkReporter {
 public:
  explicit ZeroMeanCvReporter(std::unique_ptr<BenchmarkReporter> inner)
      : inner_(std::move(inner)) {}

  bool ReportContext(const Context& context) override {
    // Set by now: RunSpecifiedBenchmarks sets a file reporter's streams before it starts.
    inner_->SetOutputStream(&GetOutputStream());
    inner_->SetErrorStream(&GetErrorStream());
    return inner_->ReportContext(context);
  }

  void ReportRuns(const std::vector<Run>& runs) override {
    std::vector<Run> fixed = runs;
    // A benchmark's aggregates come in one call: find its mean next to its cv.
    const Run* mean = nullptr;
    for (const Run& run : runs) {
      if (run.run_type == Run::RT_Aggregate && run.aggregate_name == "mean") mean = &run;
    }
    for (Run& run : fixed) {
      if (mean == nullptr || run.run_type != Run::RT_Aggregate || run.aggregate_name != "cv" ||
          run.run_name.str() != mean->run_name.str()) {
        continue;
      }
      for (auto& [name, counter] : run.counters) {
        const auto in_mean = mean->counters.find(name);
        if (in_mean != mean->counters.end() && in_mean->second.value == 0) counter.value = 0;
      }
    }
    inner_->ReportRuns(fixed);
  }

  void Finalize() override { inner_->Finalize(); }

 private:
  std::unique_ptr<BenchmarkReporter> inner_;
};

// Google Benchmark's rule: "--NAME=VALUE", the last one wins; else $NAME in capitals.
std::string FlagValue(int argc, char** argv, const char* name, const char* fallback) {
  const std::string prefix = std::string("--") + name + "=";
  const char* value = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) value = argv[i] + prefix.size();
  }
  if (value != nullptr) return value;
  std::string env = name;
  for (char& c : env) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const char* from_env = std::getenv(env.c_str());
  return from_env != nullptr ? from_env : fallback;
}

}  // namespace

ReportFlags ReadReportFlags(int argc, char** argv) {
  ReportFlags flags;
  flags.out = FlagValue(argc, argv, "benchmark_out", "");
  flags.out_format = FlagValue(argc, argv, "benchmark_out_format", "json");
  return flags;
}

size_t RunSpecifiedBenchmarks(const ReportFlags& flags) {
  // The reporter --benchmark_format asks for (ours to delete, as RunSpecifiedBenchmarks
  // would).
  ZeroMeanCvReporter display(
      std::unique_ptr<BenchmarkReporter>(benchmark::CreateDefaultDisplayReporter()));
  // A file reporter may only be given with --benchmark_out; CSV and console files keep
  // Google Benchmark's own.
  std::unique_ptr<ZeroMeanCvReporter> file;
  if (!flags.out.empty() && flags.out_format == "json") {
    file = std::make_unique<ZeroMeanCvReporter>(std::make_unique<benchmark::JSONReporter>());
  }
  return benchmark::RunSpecifiedBenchmarks(&display, file.get());
}

}  // namespace addfdlab::bench
