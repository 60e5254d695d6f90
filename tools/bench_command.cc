// addfdlab bench: runs the Google Benchmark suites of the release build (building it when
// needed) into a new report folder and renders its HTML report; or compares two runs with
// the U test of Google Benchmark's compare.py.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

#include "addfdlab/limits.h"
#include "addfdlab/probe.h"
#include "bench_compare.h"
#include "bench_json.h"
#include "commands.h"
#include "subprocess.h"
#include "u_test.h"

namespace addfdlab::tools {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

// The defaults: nine repetitions (the fewest compare.py calls reliable for its U test) of
// at least 0.1 s each. A supervisor that mostly sleeps stops at Google Benchmark's cap of
// 5 x min time of wall-clock time, so one pass of every suite takes 300-400 s per second
// of min time on a 2-CPU VM: the full run about 5 minutes, --quick (3 x 0.01 s) under one.
constexpr int kRepetitions = 9;
constexpr int kQuickRepetitions = 3;
constexpr double kMinTime = 0.1;
constexpr double kQuickMinTime = 0.01;
// One suite past this is stopped (scaled by ADDFDLAB_TIME_SCALE).
constexpr std::chrono::minutes kSuiteDeadline{30};
constexpr std::chrono::minutes kQuickSuiteDeadline{5};

struct BenchOptions {
  bool quick = false;
  std::string filter;
  std::string out = "report";
  int repetitions = 0;    // 0: kRepetitions, or kQuickRepetitions with --quick
  double min_time = 0.0;  // 0: kMinTime, or kQuickMinTime with --quick
  std::string build_dir;  // empty: the release preset, built when needed
  std::vector<std::string> from;
  std::vector<std::string> compare;
  bool json = false;
};

// The first line a command prints, or "" (it must finish within a few seconds).
std::string FirstLine(const std::vector<std::string>& argv) {
  const std::string out = Capture(argv, std::chrono::seconds(10));
  return out.substr(0, out.find('\n'));
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "";
}

std::string LocalTime(const char* format) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), format, &tm);
  return buf;
}

// Python with Debian's modules: /usr/bin/python3 rather than whatever PATH finds first.
std::string Python() {
  return ::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

// A new folder under `out` named by the time; an earlier run's is never reused. A
// failure's message says it all.
Result<fs::path> NewRunDir(const fs::path& out) {
  std::error_code ec;
  fs::create_directories(out, ec);
  if (!fs::is_directory(out, ec)) {
    return Error(Errno(ec ? ec.value() : ENOTDIR),
                 "cannot create the report folder " + out.string() +
                     (ec ? ": " + ec.message() : ": not a folder"));
  }
  const std::string stamp = LocalTime("%Y%m%d-%H%M%S");
  for (int n = 1; n < 100; ++n) {
    const fs::path dir = out / (n == 1 ? stamp : stamp + "-" + std::to_string(n));
    if (fs::create_directory(dir, ec)) return dir;
    if (ec) break;
  }
  return Error(Errno(ec ? ec.value() : EEXIST),
               "cannot create a new folder in " + out.string() + (ec ? ": " + ec.message() : ""));
}

// Builds the release preset's suites (configuring it first when it never was); false on
// failure.
bool EnsureRelease(const fs::path& source, const fs::path& log) {
  std::cerr << "addfdlab bench: building the release preset (log " << log.string() << ")\n";
  if (RunLogged({(source / "scripts/deps.sh").string(), "build", "bench"}, log.string()) != 0) {
    return false;
  }
  if (!fs::exists(source / "build/release/CMakeCache.txt") &&
      RunLogged({"cmake", "-S", source.string(), "--preset", "release"}, log.string()) != 0) {
    return false;
  }
  // Ninja's per-folder target: every suite in bench/, and only what they need.
  return RunLogged(
             {"cmake", "--build", (source / "build/release").string(), "--target", "bench/all"},
             log.string()) == 0;
}

// Every bench binary in `dir` (the *_bench glob), so new suites are picked up.
std::vector<fs::path> FindSuites(const fs::path& dir) {
  std::vector<fs::path> suites;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 6 && name.compare(name.size() - 6, 6, "_bench") == 0 &&
        e.is_regular_file(ec) && ::access(e.path().c_str(), X_OK) == 0) {
      suites.push_back(e.path());
    }
  }
  std::sort(suites.begin(), suites.end());
  return suites;
}

// Google Benchmark's --benchmark_context splits on ',' and '='.
std::string ContextValue(std::string text) {
  std::replace(text.begin(), text.end(), ',', ';');
  std::replace(text.begin(), text.end(), '=', ':');
  return text;
}

std::string FormatSeconds(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", seconds);
  return buf;
}

// Failed benchmarks and failed self-checks (`verified` below 1) in a run's JSON.
std::vector<std::string> Problems(const BenchRun& run) {
  std::vector<std::string> problems;
  for (const BenchSamples& s : GroupSamples(run.entries)) {
    if (!s.error.empty()) {
      problems.push_back(s.name + ": " + s.error);
    } else if (s.verified && *s.verified != 1.0) {
      problems.push_back(s.name + ": self-check failed (verified=" + FormatSeconds(*s.verified) +
                         ")");
    }
  }
  return problems;
}

// Runs scripts/bench_report.py over the run folder; it also rewrites the runs' index.
int Render(const fs::path& source, const fs::path& run_dir, const fs::path& out) {
  std::optional<Subprocess> child =
      Subprocess::Spawn({Python(), (source / "scripts/bench_report.py").string(), run_dir.string(),
                         "--index", out.string()},
                        {});
  if (!child) return -1;
  return child->Wait(SteadyClock::now() + std::chrono::minutes(5)).code();
}

std::string CommandLine(const BenchOptions& o) {
  std::string line = "addfdlab bench";
  if (o.quick) line += " --quick";
  if (o.repetitions > 0) line += " --repetitions " + std::to_string(o.repetitions);
  if (o.min_time > 0) line += " --min-time " + FormatSeconds(o.min_time);
  if (!o.filter.empty()) line += " --filter '" + o.filter + "'";
  if (!o.build_dir.empty()) line += " --build-dir " + o.build_dir;
  for (const std::string& f : o.from) line += " --from " + f;
  if (o.out != "report") line += " --out " + o.out;
  return line;
}

// --from: the suites' JSON files (or folders of them) copied into raw/; the machine and
// kernel are what the files say.
nlohmann::json CopyGivenRuns(const BenchOptions& options, const std::vector<BenchRun>& given,
                             const fs::path& raw, nlohmann::json& meta) {
  meta["mode"] = "from";
  meta["kernel"] = nullptr;
  meta["cpu_model"] = nullptr;
  const nlohmann::json& context = given.front().context;
  if (context.is_object()) {
    if (context.contains("addfdlab_kernel")) meta["kernel"] = context["addfdlab_kernel"];
    if (context.contains("addfdlab_cpu")) meta["cpu_model"] = context["addfdlab_cpu"];
    if (context.contains("num_cpus")) meta["cores"] = context["num_cpus"];
  }
  nlohmann::json suites = nlohmann::json::array();
  std::map<std::string, int> seen;
  for (const std::string& file : options.from) {
    std::vector<fs::path> files;
    std::error_code ec;
    if (fs::is_directory(file, ec)) {
      const fs::path dir =
          fs::is_directory(fs::path(file) / "raw") ? fs::path(file) / "raw" : fs::path(file);
      for (const auto& e : fs::directory_iterator(dir, ec)) {
        if (e.path().extension() == ".json" && e.path().filename() != "meta.json") {
          files.push_back(e.path());
        }
      }
      std::sort(files.begin(), files.end());
    } else {
      files.push_back(file);
    }
    for (const fs::path& f : files) {
      std::string name = f.stem().string();
      if (++seen[name] > 1) name += "-" + std::to_string(seen[name]);
      fs::copy_file(f, raw / (name + ".json"), ec);
      suites.push_back({{"name", name},
                        {"json", "raw/" + name + ".json"},
                        {"source", fs::absolute(f).string()},
                        {"status", "ok"}});
    }
  }
  return suites;
}

// How the suites run: repetitions, min time, the deadline of one suite, the context.
struct SuitePlan {
  int repetitions = kRepetitions;
  double min_time = kMinTime;
  SteadyClock::duration budget{};
  std::string context;  // --benchmark_context=...
  std::string filter;
};

// One suite binary into raw/<name>.json: its entry for meta.json's "suites"; `failed` is
// set when it did not exit cleanly.
nlohmann::json RunSuite(const fs::path& binary, const fs::path& raw, const SuitePlan& plan,
                        bool* failed) {
  const std::string name = binary.filename().string();
  const fs::path json = raw / (name + ".json");
  nlohmann::json suite = {{"name", name}, {"json", "raw/" + name + ".json"}};
  std::vector<std::string> argv = {
      binary.string(), "--benchmark_repetitions=" + std::to_string(plan.repetitions),
      "--benchmark_min_time=" + FormatSeconds(plan.min_time), "--benchmark_out=" + json.string(),
      "--benchmark_out_format=json", "--benchmark_display_aggregates_only=true",
      // Repetitions of twins (inject/ and its raw loop)
      // interleaved: drift on a shared machine hits both.
      "--benchmark_enable_random_interleaving=true", plan.context};
  if (!plan.filter.empty()) argv.push_back("--benchmark_filter=" + plan.filter);
  const auto suite_start = SteadyClock::now();
  // The suites' tables go to stderr: stdout carries the summary.
  SpawnOptions spawn;
  spawn.stdout_to = spawn.stderr_to = Output::kStderr;
  spawn.forward_interrupt = true;
  std::optional<Subprocess> child = Subprocess::Spawn(argv, spawn);
  const ExitStatus status = child ? child->Wait(SteadyClock::now() + plan.budget) : ExitStatus{};
  suite["seconds"] = std::chrono::duration<double>(SteadyClock::now() - suite_start).count();
  std::error_code ec;
  const std::string problem = status.Problem();
  std::optional<BenchRun> results;
  if (fs::exists(json, ec)) {
    if (Result<BenchRun> loaded = LoadBenchRun(json.string())) results = std::move(*loaded);
  }
  if (results && results->entries.empty()) results.reset();
  if (!results) fs::remove(json, ec);
  if (!problem.empty()) {
    *failed = true;
    suite["status"] = "failed: " + problem;
    std::cerr << "addfdlab bench: " << name << " " << problem << "\n";
  } else if (!results) {
    suite["status"] = "no benchmark matched";
  } else {
    suite["status"] = "ok";
  }
  if (!results) suite.erase("json");
  return suite;
}

// Every suite of the release build (built first unless --build-dir), on this machine: their
// entries, or nullopt when there is nothing to run (said on stderr).
std::optional<nlohmann::json> RunSuites(const BenchOptions& options, const fs::path& source,
                                        const fs::path& run_dir, const SuitePlan& given_plan,
                                        nlohmann::json& meta, bool* failed) {
  SuitePlan plan = given_plan;
  meta["mode"] = "run";
  meta["quick"] = options.quick;
  meta["repetitions"] = plan.repetitions;
  meta["min_time"] = plan.min_time;
  meta["random_interleaving"] = true;
  meta["filter"] = options.filter;
  const Features features = ProbeFeatures();
  meta["kernel"] = features.release;
  meta["machine"] = features.machine;
  meta["cpu_model"] = CpuModel();
  meta["probe"] = ProbeJson(features);

  const fs::path build =
      options.build_dir.empty() ? source / "build/release" : fs::path(options.build_dir);
  if (options.build_dir.empty() && !EnsureRelease(source, run_dir / "build.log")) {
    std::cerr << "addfdlab bench: could not build the release preset; see "
              << (run_dir / "build.log").string() << "\n";
    return std::nullopt;
  }
  const std::vector<fs::path> binaries = FindSuites(build / "bench");
  if (binaries.empty()) {
    std::cerr << "addfdlab bench: no bench binaries (*_bench) in " << (build / "bench").string()
              << "\n";
    return std::nullopt;
  }
  std::optional<InterruptScope> interrupts(std::in_place);
  plan.budget = std::chrono::duration_cast<SteadyClock::duration>(
      (options.quick ? kQuickSuiteDeadline : kSuiteDeadline) * Limits::FromEnvironment().scale);
  plan.context = "--benchmark_context=addfdlab_kernel=" + ContextValue(features.release) +
                 ",addfdlab_cpu=" + ContextValue(CpuModel());
  nlohmann::json suites = nlohmann::json::array();
  size_t index = 0;
  for (const fs::path& binary : binaries) {
    const std::string name = binary.filename().string();
    if (Interrupted()) {
      suites.push_back(
          {{"name", name}, {"json", "raw/" + name + ".json"}, {"status", "not run (interrupted)"}});
      continue;
    }
    std::cerr << "addfdlab bench: [" << ++index << "/" << binaries.size() << "] " << name << " ("
              << plan.repetitions << " repetitions, min time " << FormatSeconds(plan.min_time)
              << " s)\n";
    suites.push_back(RunSuite(binary, run_dir / "raw", plan, failed));
  }
  interrupts.reset();
  if (Interrupted()) meta["interrupted"] = true;
  return suites;
}

// meta.json and samples.json (raw/ read once, here: the report renders samples.json, never
// Google Benchmark's JSON), then the page; the exit code.
int WriteReport(const fs::path& source, const fs::path& run_dir, const fs::path& out,
                const nlohmann::json& meta, bool failed, SteadyClock::time_point start) {
  std::ofstream(run_dir / "meta.json") << meta.dump(2) << "\n";
  const Result<BenchRun> all = LoadBenchRun(run_dir.string());
  std::ofstream(run_dir / "samples.json") << SamplesJson(all ? *all : BenchRun{}).dump(1) << "\n";
  const std::vector<std::string> problems = all ? Problems(*all) : std::vector<std::string>{};
  for (const std::string& p : problems) std::cerr << "addfdlab bench: " << p << "\n";

  const fs::path raw = run_dir / "raw";
  const int rendered = Render(source, run_dir, out);
  if (rendered != 0) {
    std::cerr << "addfdlab bench: the report could not be rendered (scripts/bench_report.py "
                 "exit status "
              << rendered << "; it needs python3-matplotlib: scripts/deps.sh bench); the raw JSON "
              << "is in " << raw.string() << "\n";
    return 1;
  }
  const double elapsed = std::chrono::duration<double>(SteadyClock::now() - start).count();
  std::printf("report: %s\nall runs: %s\nraw JSON: %s/\n(%.0f s)\n",
              (run_dir / "index.html").c_str(), (out / "index.html").c_str(), raw.c_str(), elapsed);
  return failed || !problems.empty() || Interrupted() ? 1 : 0;
}

// The steps: check --from's files, make the run folder, fill raw/ (copied or run), then
// write the report.
int RunBench(const BenchOptions& options) {
  const fs::path source = kSourceDir;
  const fs::path out = options.out;
  const auto start = SteadyClock::now();
  SuitePlan plan;
  plan.repetitions = options.repetitions > 0 ? options.repetitions
                     : options.quick         ? kQuickRepetitions
                                             : kRepetitions;
  plan.min_time = options.min_time > 0 ? options.min_time
                  : options.quick      ? kQuickMinTime
                                       : kMinTime;
  plan.filter = options.filter;

  // --from: check every file before making anything.
  std::vector<BenchRun> given;
  for (const std::string& file : options.from) {
    Result<BenchRun> run = LoadBenchRun(file);
    if (!run) {
      std::cerr << "addfdlab bench: " << run.error().message() << "\n";
      return kExitUsage;
    }
    given.push_back(std::move(*run));
  }
  const Result<fs::path> run_dir = NewRunDir(out);
  if (!run_dir) {
    std::cerr << "addfdlab bench: " << run_dir.error().message() << "\n";
    return kExitUsage;
  }
  const fs::path raw = *run_dir / "raw";
  fs::create_directories(raw);

  nlohmann::json meta;
  meta["date"] = LocalTime("%Y-%m-%dT%H:%M:%S%z");
  meta["command"] = CommandLine(options);
  meta["cores"] = std::thread::hardware_concurrency();
  const std::string commit =
      FirstLine({"git", "-C", source.string(), "describe", "--always", "--dirty"});
  meta["commit"] = commit.empty() ? nlohmann::json() : nlohmann::json(commit);
  bool failed = false;
  std::optional<nlohmann::json> suites;
  if (!options.from.empty()) {
    suites = CopyGivenRuns(options, given, raw, meta);
  } else {
    suites = RunSuites(options, source, *run_dir, plan, meta, &failed);
    if (!suites) return 1;
  }
  meta["suites"] = *suites;
  meta["elapsed_seconds"] = std::chrono::duration<double>(SteadyClock::now() - start).count();

  bool any = false;
  for (const nlohmann::json& suite : *suites) any = any || suite.contains("json");
  if (!any) {
    std::cerr << "addfdlab bench: no benchmark ran"
              << (options.filter.empty() ? "" : " (none matched --filter '" + options.filter + "')")
              << "; nothing to report\n";
    std::error_code ec;
    fs::remove_all(*run_dir, ec);  // made by this run, and empty of results
    return options.filter.empty() ? 1 : kExitUsage;
  }
  return WriteReport(source, *run_dir, out, meta, failed, start);
}

}  // namespace

void AddBenchCommand(CLI::App& app, Runner& run) {
  auto options = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "bench",
      "Run the benchmark suites (release build) into a new report folder with an HTML report; "
      "or compare two runs");
  CLI::Option* quick =
      cmd->add_flag("--quick", options->quick,
                    "A short run (under a minute): " + std::to_string(kQuickRepetitions) +
                        " repetitions of " + FormatSeconds(kQuickMinTime) + " s");
  const CLI::Validator regex(
      [](std::string& text) {
        try {
          std::regex(text, std::regex::extended);
        } catch (const std::regex_error& e) {
          return std::string("not a regular expression: ") + e.what();
        }
        return std::string();
      },
      "REGEX");
  CLI::Option* filter =
      cmd->add_option("--filter", options->filter,
                      "Only the benchmarks whose name matches (Google Benchmark's "
                      "--benchmark_filter; with --compare, the rows)")
          ->check(regex);
  CLI::Option* out = cmd->add_option("--out", options->out,
                                     "Report folder: each run goes into a new OUT/<time>/, "
                                     "and OUT/index.html lists every run")
                         ->capture_default_str();
  CLI::Option* repetitions =
      cmd->add_option("--repetitions", options->repetitions,
                      "Repetitions per benchmark (default " + std::to_string(kRepetitions) +
                          ", or " + std::to_string(kQuickRepetitions) + " with --quick)")
          ->check(CLI::Range(1, 1000));
  CLI::Option* min_time =
      cmd->add_option("--min-time", options->min_time,
                      "Seconds per repetition (default " + FormatSeconds(kMinTime) + ", or " +
                          FormatSeconds(kQuickMinTime) + " with --quick)")
          ->check(CLI::Range(0.001, 60.0));
  CLI::Option* build_dir = cmd->add_option(
      "--build-dir", options->build_dir,
      "Run the *_bench binaries of DIR/bench instead of building the release preset");
  CLI::Option* from = cmd->add_option("--from", options->from,
                                      "Make a report from existing Google Benchmark JSON files "
                                      "(or report folders) instead of running")
                          ->expected(1, -1);
  CLI::Option* compare =
      cmd->add_option("--compare", options->compare,
                      "Compare two runs (JSON files or report folders): medians, change, U test")
          ->expected(2);
  CLI::Option* json = cmd->add_flag("--json", options->json, "With --compare: print JSON");
  json->needs(compare);
  for (CLI::Option* o : {quick, out, repetitions, min_time, build_dir, from}) compare->excludes(o);
  for (CLI::Option* o : {quick, repetitions, min_time, build_dir, filter}) from->excludes(o);
  cmd->callback([&run, options] {
    run = [options] {
      return options->compare.empty()
                 ? RunBench(*options)
                 : RunBenchCompare({options->compare, options->filter, options->json});
    };
  });
}

}  // namespace addfdlab::tools
