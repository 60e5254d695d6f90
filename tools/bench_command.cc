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
constexpr double kAlpha = 0.05;

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

int RunBench(const BenchOptions& options) {
  const fs::path source = kSourceDir;
  const fs::path out = options.out;
  const auto start = SteadyClock::now();
  const int repetitions = options.repetitions > 0 ? options.repetitions
                          : options.quick         ? kQuickRepetitions
                                                  : kRepetitions;
  const double min_time = options.min_time > 0 ? options.min_time
                          : options.quick      ? kQuickMinTime
                                               : kMinTime;

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
  nlohmann::json suites = nlohmann::json::array();
  bool failed = false;

  if (!options.from.empty()) {
    // A report of runs made elsewhere: the machine and kernel are what the files say.
    meta["mode"] = "from";
    meta["kernel"] = nullptr;
    meta["cpu_model"] = nullptr;
    const nlohmann::json& context = given.front().context;
    if (context.is_object()) {
      if (context.contains("addfdlab_kernel")) meta["kernel"] = context["addfdlab_kernel"];
      if (context.contains("addfdlab_cpu")) meta["cpu_model"] = context["addfdlab_cpu"];
      if (context.contains("num_cpus")) meta["cores"] = context["num_cpus"];
    }
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
  } else {
    meta["mode"] = "run";
    meta["quick"] = options.quick;
    meta["repetitions"] = repetitions;
    meta["min_time"] = min_time;
    meta["random_interleaving"] = true;
    meta["filter"] = options.filter;
    const Features features = ProbeFeatures();
    meta["kernel"] = features.release;
    meta["machine"] = features.machine;
    meta["cpu_model"] = CpuModel();
    meta["probe"] = ProbeJson(features);

    const fs::path build =
        options.build_dir.empty() ? source / "build/release" : fs::path(options.build_dir);
    if (options.build_dir.empty() && !EnsureRelease(source, *run_dir / "build.log")) {
      std::cerr << "addfdlab bench: could not build the release preset; see "
                << (*run_dir / "build.log").string() << "\n";
      return 1;
    }
    const std::vector<fs::path> binaries = FindSuites(build / "bench");
    if (binaries.empty()) {
      std::cerr << "addfdlab bench: no bench binaries (*_bench) in " << (build / "bench").string()
                << "\n";
      return 1;
    }
    std::optional<InterruptScope> interrupts(std::in_place);
    const Limits limits = Limits::FromEnvironment();
    const auto budget = std::chrono::duration_cast<SteadyClock::duration>(
        (options.quick ? kQuickSuiteDeadline : kSuiteDeadline) * limits.scale);
    const std::string context =
        "--benchmark_context=addfdlab_kernel=" + ContextValue(features.release) +
        ",addfdlab_cpu=" + ContextValue(CpuModel());
    size_t index = 0;
    for (const fs::path& binary : binaries) {
      const std::string name = binary.filename().string();
      const fs::path json = raw / (name + ".json");
      nlohmann::json suite = {{"name", name}, {"json", "raw/" + name + ".json"}};
      if (Interrupted()) {
        suite["status"] = "not run (interrupted)";
        suites.push_back(suite);
        continue;
      }
      std::cerr << "addfdlab bench: [" << ++index << "/" << binaries.size() << "] " << name << " ("
                << repetitions << " repetitions, min time " << FormatSeconds(min_time) << " s)\n";
      std::vector<std::string> argv = {
          binary.string(), "--benchmark_repetitions=" + std::to_string(repetitions),
          "--benchmark_min_time=" + FormatSeconds(min_time), "--benchmark_out=" + json.string(),
          "--benchmark_out_format=json", "--benchmark_display_aggregates_only=true",
          // Repetitions of twins (inject/ and its raw loop)
          // interleaved: drift on a shared machine hits both.
          "--benchmark_enable_random_interleaving=true", context};
      if (!options.filter.empty()) argv.push_back("--benchmark_filter=" + options.filter);
      const auto suite_start = SteadyClock::now();
      // The suites' tables go to stderr: stdout carries the summary.
      SpawnOptions spawn;
      spawn.stdout_to = spawn.stderr_to = Output::kStderr;
      spawn.forward_interrupt = true;
      std::optional<Subprocess> child = Subprocess::Spawn(argv, spawn);
      const ExitStatus status = child ? child->Wait(SteadyClock::now() + budget) : ExitStatus{};
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
        failed = true;
        suite["status"] = "failed: " + problem;
        std::cerr << "addfdlab bench: " << name << " " << problem << "\n";
      } else if (!results) {
        suite["status"] = "no benchmark matched";
      } else {
        suite["status"] = "ok";
      }
      if (!results) suite.erase("json");
      suites.push_back(suite);
    }
    interrupts.reset();
    if (Interrupted()) meta["interrupted"] = true;
  }
  meta["suites"] = suites;
  meta["elapsed_seconds"] = std::chrono::duration<double>(SteadyClock::now() - start).count();

  bool any = false;
  for (const nlohmann::json& suite : suites) any = any || suite.contains("json");
  if (!any) {
    std::cerr << "addfdlab bench: no benchmark ran"
              << (options.filter.empty() ? "" : " (none matched --filter '" + options.filter + "')")
              << "; nothing to report\n";
    std::error_code ec;
    fs::remove_all(*run_dir, ec);  // made by this run, and empty of results
    return options.filter.empty() ? 1 : kExitUsage;
  }
  std::ofstream(*run_dir / "meta.json") << meta.dump(2) << "\n";

  // raw/ read once, here: the report renders samples.json, never Google Benchmark's JSON.
  const Result<BenchRun> all = LoadBenchRun(run_dir->string());
  std::ofstream(*run_dir / "samples.json") << SamplesJson(all ? *all : BenchRun{}).dump(1) << "\n";
  const std::vector<std::string> problems = all ? Problems(*all) : std::vector<std::string>{};
  for (const std::string& p : problems) std::cerr << "addfdlab bench: " << p << "\n";

  const int rendered = Render(source, *run_dir, out);
  if (rendered != 0) {
    std::cerr << "addfdlab bench: the report could not be rendered (scripts/bench_report.py "
                 "exit status "
              << rendered << "; it needs python3-matplotlib: scripts/deps.sh bench); the raw JSON "
              << "is in " << raw.string() << "\n";
    return 1;
  }
  const double elapsed = std::chrono::duration<double>(SteadyClock::now() - start).count();
  std::printf("report: %s\nall runs: %s\nraw JSON: %s/\n(%.0f s)\n",
              (*run_dir / "index.html").c_str(), (out / "index.html").c_str(), raw.c_str(),
              elapsed);
  return failed || !problems.empty() || Interrupted() ? 1 : 0;
}

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

int RunCompare(const BenchOptions& options) {
  std::optional<BenchRun> runs[2];
  for (int i = 0; i < 2; ++i) {
    Result<BenchRun> run = LoadBenchRun(options.compare[static_cast<size_t>(i)]);
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
      return options->compare.empty() ? RunBench(*options) : RunCompare(*options);
    };
  });
}

}  // namespace addfdlab::tools
