// addfdlab fuzz: a fuzzing campaign. Builds the fuzz or fuzz-fast preset when needed, runs
// libFuzzer (fork mode over --jobs processes) with a scratch corpus, shows one live progress line,
// merges new inputs into the work folder (never into corpus/), then reproduces, minimizes
// and deduplicates every crash into findings/, and prints a summary. With --vm KERNEL the
// campaign runs in a QEMU guest (vm run's machinery) and what it found comes back.
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "addfdlab/cells.h"
#include "addfdlab/environment.h"
#include "addfdlab/executor.h"
#include "addfdlab/fuzz_harness.h"
#include "addfdlab/kernel_log.h"
#include "addfdlab/minimize.h"
#include "addfdlab/run_profile.h"
#include "addfdlab/scenario_codec.h"
#include "addfdlab/scenario_text.h"
#include "commands.h"
#include "console.h"
#include "findings.h"
#include "scenario_file.h"
#include "subprocess.h"
#include "vm_runner.h"

namespace addfdlab::tools {
namespace {

namespace fs = std::filesystem;

struct FuzzOptions {
  std::string target = "addfd_sequence_fuzzer";
  int seconds = 180;
  int jobs = 0;  // 0: the core count
  std::string work = "work/fuzz";
  std::string findings = "findings";
  int repro_runs = 5;
  std::string build = "auto";  // auto, asan or fast (FuzzPreset)
  std::string fuzzer;          // a built target to run as it is (no build): the guest's
  std::string vm;              // --vm KERNEL: the campaign in a guest on that kernel
  int vm_cpus = 2;
  int vm_memory_mb = 1024;
  std::string kernel_feedback = "on";  // on: kernel PCs (KCOV) are libFuzzer coverage
};

// The preset a campaign's jobs run: `fuzz` (ASan+UBSan) or `fuzz-fast` (no sanitizers).
// The kernel-driving target finds kernel deviations through its oracles, not through a
// sanitizer, and runs about twice as many inputs without them (docs/fuzzing.md, "Builds"):
// auto gives it fuzz-fast, and the targets that check addfdlab's own code keep ASan.
std::string FuzzPreset(const FuzzOptions& options) {
  if (options.build == "asan") return "fuzz";
  if (options.build == "fast") return "fuzz-fast";
  return options.target == "addfd_sequence_fuzzer" ? "fuzz-fast" : "fuzz";
}

// Builds `preset`'s target when it is missing or older than the sources. A build folder
// this user cannot write (another user's tree) is used as it is.
bool EnsureFuzzer(const FuzzOptions& options, const fs::path& log, fs::path* binary) {
  if (!options.fuzzer.empty()) {
    *binary = options.fuzzer;
    return fs::exists(*binary);
  }
  const fs::path source = kSourceDir;
  const std::string preset = FuzzPreset(options);
  const std::string& target = options.target;
  const fs::path build = source / "build" / preset;
  *binary = build / "fuzzers" / target;
  if (fs::exists(*binary) && ::access(build.c_str(), W_OK) != 0) {
    std::cerr << "addfdlab fuzz: " << build.string() << " is not writable here: using " << target
              << " as it was built there\n";
    return true;
  }
  std::cerr << "addfdlab fuzz: building " << target << " (" << preset << " preset; log "
            << log.string() << ")\n";
  if (RunLogged({(source / "scripts/deps.sh").string(), "build", "fuzz"}, log.string()) != 0) {
    return false;
  }
  if (!fs::exists(build / "CMakeCache.txt") &&
      RunLogged({"cmake", "-S", source.string(), "--preset", preset}, log.string()) != 0) {
    return false;
  }
  return RunLogged({"cmake", "--build", build.string(), "--target", target}, log.string()) == 0 &&
         fs::exists(*binary);
}

struct Progress {
  long execs = 0;
  long exec_per_sec = 0;  // libFuzzer's figure (in fork mode: its last job's)
  long cov = 0;
  long crashes = 0;
  double seconds = 0;  // fuzzing time, until libFuzzer exited
};

// The jobs libFuzzer runs at once: --jobs, or the core count.
int JobCount(const FuzzOptions& options) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  return options.jobs > 0 ? options.jobs : static_cast<int>(cores);
}

// The contract cells this kernel and harness can reach, without starting an executor.
std::vector<std::string> ReachableCells(const Features& features) {
  std::vector<std::string> cells;
  for (const CellInfo& cell : kContractCells) {
    if (CellSkipReason(cell, features).empty()) cells.emplace_back(cell.id);
  }
  return cells;
}

// The reachable cells not reached, in the registry's order, joined by `separator`; their
// number in `*lacking`.
std::string MissingCells(const std::set<std::string>& reached,
                         const std::vector<std::string>& reachable, const char* separator,
                         size_t* lacking) {
  std::string missing;
  *lacking = 0;
  for (const std::string& cell : reachable) {
    if (reached.count(cell) != 0) continue;
    missing += (missing.empty() ? "" : separator) + cell;
    ++*lacking;
  }
  return missing;
}

// "N/M": the cells reached of the reachable ones; then the missing ones by name when at
// most `names_up_to` are missing, else their count.
std::string DescribeCells(const std::set<std::string>& reached,
                          const std::vector<std::string>& reachable, size_t names_up_to) {
  size_t lacking = 0;
  const std::string missing = MissingCells(reached, reachable, " ", &lacking);
  const size_t count = reachable.size() - lacking;
  std::string text = std::to_string(count) + "/" + std::to_string(reachable.size());
  if (lacking > 0 && lacking <= names_up_to) text += " (missing " + missing + ")";
  if (lacking > names_up_to) text += " (" + std::to_string(lacking) + " missing)";
  return text;
}

// libFuzzer's status lines: "#123\tNEW cov: 10 ft: ... exec/s: 45" and, in fork mode,
// "#123: cov: 10 ft: 20 corp: 3 exec/s 45 oom/timeout/crash: 0/0/1 time: 5s ...".
void ParseStatus(const std::string& line, Progress& p) {
  static const std::regex execs(R"(^#(\d+))");
  static const std::regex cov(R"(cov: (\d+))");
  static const std::regex rate(R"(exec/s:? (\d+))");
  static const std::regex crash(R"(oom/timeout/crash: \d+/\d+/(\d+))");
  std::smatch m;
  if (std::regex_search(line, m, execs)) p.execs = std::stol(m[1]);
  if (std::regex_search(line, m, cov)) p.cov = std::stol(m[1]);
  if (std::regex_search(line, m, rate)) p.exec_per_sec = std::stol(m[1]);
  if (std::regex_search(line, m, crash)) p.crashes = std::stol(m[1]);
}

// The distinct lines of a file the jobs append to (empty when it is missing).
std::set<std::string> DistinctLines(const fs::path& file) {
  std::ifstream in(file);
  std::set<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.insert(line);
  return lines;
}

// The distinct contract cells the jobs wrote into the cells file.
std::set<std::string> CellsIn(const fs::path& file) {
  std::set<std::string> cells = DistinctLines(file);
  std::erase_if(cells, [](const std::string& cell) { return !IsContractCell(cell); });
  return cells;
}

size_t CountFiles(const fs::path& dir, const std::string& prefix = "") {
  size_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().filename().string().rfind(prefix, 0) == 0) ++n;
  }
  return n;
}

// Lines in a file (0 when it is missing).
size_t CountLines(const fs::path& file) {
  std::ifstream in(file);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

struct FindingStats {
  int reported = 0;
  int duplicates = 0;
  int unreproduced = 0;
  int schedule_dependent = 0;  // crashes whose every verdict came from a run off its schedule
  int kernel_reports = 0;      // inputs filed for a kernel report (in a guest)
  int kernel_messages = 0;     // inputs after which the kernel logged, but no report
  std::string scheduling;      // the mode the replays ran in, described
  std::vector<std::string> new_dirs;
};

// Reproduces, minimizes and files one crash of addfd_sequence_fuzzer.
void FileFinding(const fs::path& crash, const FuzzOptions& options, FuzzHarness& harness,
                 FindingStats& stats) {
  std::ifstream in(crash, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto scenario = DecodeScenario(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  if (!scenario) return;
  Executor& executor = harness.executor();
  std::map<std::string, int> seen;
  RunResult first;
  bool unscheduled = false;
  for (int run = 0; run < options.repro_runs; ++run) {
    RunResult result = executor.Run(*scenario);
    if (run == 0) first = result;
    // A run in which a target ran out of turn says nothing about the kernel.
    if (!result.deterministic) {
      unscheduled |= !result.clean();
      continue;
    }
    std::set<std::string> once;
    for (const Verdict& v : result.verdicts) {
      if (FuzzHarness::MayBeFinding(v)) once.insert(v.Signature(*scenario));
    }
    for (const std::string& s : once) ++seen[s];
  }
  if (seen.empty()) {
    ++(unscheduled ? stats.schedule_dependent : stats.unreproduced);
    return;
  }
  // The most frequent signature names the finding.
  auto top = std::max_element(seen.begin(), seen.end(),
                              [](const auto& a, const auto& b) { return a.second < b.second; });
  const std::string signature = top->first;
  const int rate = top->second;
  const fs::path dir = fs::path(options.findings) / SanitizeSignature(signature);
  if (fs::exists(dir)) {
    ++stats.duplicates;
    return;
  }
  const auto fails = [&](const Scenario& candidate) {
    for (int again = 0; again < 2; ++again) {
      const RunResult r = executor.Run(candidate);
      if (!r.deterministic) continue;
      for (const Verdict& v : r.verdicts) {
        if (v.Signature(candidate) == signature) return true;
      }
    }
    return false;
  };
  const Scenario minimal = MinimizeScenario(*scenario, fails);
  const RunResult trace = executor.Run(minimal);
  fs::create_directories(dir);
  // Best effort: a finding folder with a file missing still names the finding.
  (void)WriteNewFile((dir / kInputBin).string(), bytes, false);
  (void)WriteNewFile((dir / kOriginalScn).string(), PrintScenario(*scenario), false);
  (void)WriteNewFile((dir / kReproScn).string(),
                     "# " + signature + "\n# reproduced " + std::to_string(rate) + "/" +
                         std::to_string(options.repro_runs) + " on " + executor.features().release +
                         "\n" + PrintScenario(minimal),
                     false);
  (void)WriteNewFile(
      (dir / kTraceTxt).string(),
      trace.Format(minimal) + "\n# first run of the original:\n" + first.Format(*scenario), false);
  // A kernel deviation gets its C reproducer for the kernel's maintainers (docs/triage.md).
  if (IsKernelDeviationSignature(signature)) {
    const std::string scn = (dir / kReproScn).string();
    if (const Result<std::string> program = FindingReproC(minimal, scn)) {
      (void)WriteNewFile((dir / kReproC).string(), *program, false);
    } else {
      std::cerr << "addfdlab fuzz: no repro.c for " << dir.string() << ": "
                << program.error().message() << "\n";
    }
  }
  ++stats.reported;
  stats.new_dirs.push_back(dir.string());
}

// The [libfuzzer] section of fuzzers/<target>.options, which ClusterFuzz reads too, as
// libFuzzer flags; its `dict` names a file beside it. Without a dict there, <target>.dict.
std::vector<std::string> LibFuzzerFlags(const fs::path& fuzzers, const std::string& target) {
  const auto trim = [](std::string text) {
    const size_t begin = text.find_first_not_of(" \t\r");
    const size_t end = text.find_last_not_of(" \t\r");
    return begin == std::string::npos ? std::string() : text.substr(begin, end - begin + 1);
  };
  std::vector<std::string> flags;
  bool has_dict = false;
  std::ifstream in(fuzzers / (target + ".options"));
  bool section = false;
  for (std::string line; std::getline(in, line);) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      section = line == "[libfuzzer]";
      continue;
    }
    const size_t eq = line.find('=');
    if (!section || eq == std::string::npos) continue;
    const std::string key = trim(line.substr(0, eq));
    std::string value = trim(line.substr(eq + 1));
    if (key == "dict") {
      value = (fuzzers / value).string();
      has_dict = true;
    }
    flags.push_back("-" + key + "=" + value);
  }
  const fs::path dict = fuzzers / (target + ".dict");
  if (!has_dict && fs::exists(dict)) flags.push_back("-dict=" + dict.string());
  return flags;
}

// "contract cells reached: N of M", M the cells this kernel and harness can reach, then
// the ones not reached.
void PrintCells(const std::set<std::string>& reached, const FuzzHarness& harness) {
  const std::vector<std::string> reachable = harness.CellsReachable();
  size_t lacking = 0;
  const std::string missing = MissingCells(reached, reachable, ", ", &lacking);
  const size_t count = reachable.size() - lacking;
  std::printf(
      "\ncontract cells reached: %zu of the %zu this kernel (%s) and harness can reach (%zu in "
      "the registry)\n",
      count, reachable.size(), harness.features().release.c_str(), std::size(kContractCells));
  if (!missing.empty()) std::printf("  not reached: %s\n", missing.c_str());
}

// The jobs' run profiles summed up: where a run's time went (docs/fuzzing.md).
void PrintProfile(const fs::path& file) {
  std::ifstream in(file);
  RunProfile total;
  int jobs = 0;
  for (std::string line; std::getline(in, line);) {
    if (auto profile = RunProfile::ParseLine(line)) {
      total.Add(*profile);
      ++jobs;
    }
  }
  if (total.runs == 0) return;
  std::printf("time per run in the jobs' executors (%d job processes):\n%s", jobs,
              total.Format().c_str());
}

// A campaign's folders under --work: its corpus, crashes, this run's scratch folder, its log,
// the cells its jobs reached, the verdicts they dropped as schedule-dependent and their run
// profiles.
struct CampaignPaths {
  fs::path corpus, crashes, scratch, log, cells, dropped, profile, kernel_reports, kernel_pcs;

  explicit CampaignPaths(const FuzzOptions& options) {
    const fs::path work = fs::path(options.work) / options.target;
    corpus = work / "corpus";
    crashes = work / "crashes";
    scratch = work / ("scratch-" + std::to_string(::getpid()));
    log = work / "fuzz.log";
    cells = work / "cells.txt";
    dropped = work / "dropped.txt";
    profile = work / "profile.txt";
    kernel_reports = work / "kernel-reports";
    kernel_pcs = work / "kernel-pcs.txt";
  }
};

// A kernel report's title without what changes from build to build and boot to boot
// ("+0x1a/0x40", addresses, task names in brackets kept), as a folder name's tail.
std::string ReportSlug(const std::string& title) {
  static const std::regex offsets(R"(\+0x[0-9a-f]+/0x[0-9a-f]+|0x[0-9a-f]+|\[[0-9.]+\])");
  return SanitizeSignature(std::regex_replace(title, offsets, ""));
}

// Files every input the jobs kept because the kernel logged while it ran (in a guest):
// findings/kernel-<kind>-<title>/ with the records (kernel-log.txt), input.bin and
// original.scn; the host adds the guest's console.log. Records that are no report (a
// warning-level message the console scanner does not name) are only counted.
void FileKernelReports(const CampaignPaths& paths, const FuzzOptions& options,
                       FindingStats& stats) {
  std::error_code ec;
  std::vector<fs::path> texts;
  for (const auto& e : fs::directory_iterator(paths.kernel_reports, ec)) {
    if (e.path().extension() == ".txt") texts.push_back(e.path());
  }
  std::sort(texts.begin(), texts.end());
  for (const fs::path& text_file : texts) {
    std::ifstream text_in(text_file);
    const std::string text{std::istreambuf_iterator<char>(text_in),
                           std::istreambuf_iterator<char>()};
    const std::vector<vm::KernelTrouble> trouble = vm::FindKernelTrouble(text);
    if (trouble.empty()) {
      ++stats.kernel_messages;
      continue;
    }
    std::string kind = trouble.front().kind;
    std::replace(kind.begin(), kind.end(), ' ', '-');
    const fs::path dir =
        fs::path(options.findings) / ("kernel-" + kind + "-" + ReportSlug(trouble.front().title));
    if (fs::exists(dir)) {
      ++stats.duplicates;
      continue;
    }
    fs::path input = text_file;
    input.replace_extension(".bin");
    std::ifstream in(input, std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    fs::create_directories(dir, ec);
    (void)WriteNewFile((dir / "kernel-log.txt").string(), text, false);
    (void)WriteNewFile((dir / kInputBin).string(), bytes, false);
    if (auto scenario =
            DecodeScenario(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())) {
      (void)WriteNewFile((dir / kOriginalScn).string(),
                         "# kernel " + trouble.front().kind + ": " + trouble.front().title +
                             "\n# logged while this input ran\n" + PrintScenario(*scenario),
                         false);
    }
    ++stats.kernel_reports;
    stats.new_dirs.push_back(dir.string());
  }
}

// The folders exist and the known-deviations list parses (the jobs read it too: a
// malformed list is a usage error here, before anything runs); else the message.
Result<void> Prepare(const FuzzOptions& options, const CampaignPaths& paths) {
  for (const fs::path& dir : {paths.corpus, paths.crashes, paths.scratch,
                              fs::path(options.findings), paths.kernel_reports}) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Error::Invalid("cannot create " + dir.string() + ": " + ec.message());
  }
  if (options.target == "addfd_sequence_fuzzer") {
    Result<std::vector<KnownDeviation>> known =
        LoadKnownDeviations(KnownDeviationsPath(RepositoryKnownDeviations()));
    if (!known) return known.error();
  }
  return {};
}

// libFuzzer's command line: fork mode even for one job (a crash ends that job, not the
// campaign), the target's options, the scratch folder first (libFuzzer writes there, never
// into corpus/), then the corpus and the seeds.
std::vector<std::string> CampaignArgv(const FuzzOptions& options, const CampaignPaths& paths,
                                      const fs::path& binary,
                                      const std::vector<std::string>& flags) {
  const int jobs = JobCount(options);
  std::vector<std::string> argv = {
      binary.string(), "-max_total_time=" + std::to_string(options.seconds),
      "-artifact_prefix=" + paths.crashes.string() + "/", "-print_final_stats=1"};
  argv.push_back("-fork=" + std::to_string(jobs));
  argv.push_back("-ignore_crashes=1");
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.push_back(paths.scratch.string());
  argv.push_back(paths.corpus.string());
  // model_fuzzer reads addfd_sequence_fuzzer's input format and shares its seeds.
  const fs::path seeds =
      fs::path(kSourceDir) / "corpus" /
      (options.target == "model_fuzzer" ? std::string("addfd_sequence_fuzzer") : options.target);
  if (fs::exists(seeds)) argv.push_back(seeds.string());
  return argv;
}

// Reads libFuzzer's output into the log until it exits, with a progress line on stderr
// (every 10 s when stderr is not a terminal): executions, exec/s in all and per job, and
// the contract cells reached of those `reachable` (none for targets that reach none).
Progress Watch(Subprocess& child, const FuzzOptions& options, const CampaignPaths& paths,
               size_t crashes_before, std::chrono::steady_clock::time_point start,
               const std::vector<std::string>& reachable) {
  const int jobs = JobCount(options);
  std::ofstream log_out(paths.log, std::ios::app);
  const bool tty = ::isatty(2) != 0;
  Progress progress;
  std::string pending;
  auto last_line = start;
  for (;;) {
    child.ForwardInterrupt();  // the jobs exit interrupted; libFuzzer stops and exits
    struct pollfd pfd {
      child.output().get(), POLLIN, 0
    };
    const int ready = ::poll(&pfd, 1, 500);
    if (ready > 0) {
      char buf[4096];
      const ssize_t n = ::read(child.output().get(), buf, sizeof(buf));
      if (n <= 0) break;
      log_out.write(buf, n);
      pending.append(buf, static_cast<size_t>(n));
      size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos) {
        ParseStatus(pending.substr(0, nl), progress);
        pending.erase(0, nl + 1);
      }
    }
    const auto now = std::chrono::steady_clock::now();
    const long elapsed = std::chrono::duration_cast<std::chrono::seconds>(now - start).count();
    if (tty || now - last_line > std::chrono::seconds(10)) {
      const long left = std::max(0L, static_cast<long>(options.seconds) - elapsed);
      const double rate =
          elapsed > 0 ? static_cast<double>(progress.execs) / static_cast<double>(elapsed) : 0;
      const std::string cells = reachable.empty()
                                    ? std::to_string(CellsIn(paths.cells).size())
                                    : DescribeCells(CellsIn(paths.cells), reachable, tty ? 0 : 4);
      // Kernel PCs in the addfd path, on a kernel with KCOV: the jobs append each new one.
      const size_t pcs = DistinctLines(paths.kernel_pcs).size();
      const std::string kernel = pcs == 0 ? "" : ", kernel PCs " + std::to_string(pcs);
      std::fprintf(stderr,
                   "%s[%lds, %lds left] %ld execs, %.0f exec/s (%.0f per job), cov %ld, cells "
                   "%s%s, crashes %zu%s",
                   tty ? "\r" : "", elapsed, left, progress.execs, rate, rate / jobs, progress.cov,
                   cells.c_str(), kernel.c_str(),
                   CountFiles(paths.crashes, "crash-") - crashes_before, tty ? "   " : "\n");
      last_line = now;
    }
  }
  if (tty) std::fprintf(stderr, "\n");
  progress.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return progress;
}

// New inputs go into the work corpus; the scratch folder goes.
void MergeCorpus(const CampaignPaths& paths, const fs::path& binary,
                 const std::vector<std::string>& flags) {
  std::cerr << "addfdlab fuzz: merging new inputs into " << paths.corpus.string() << "\n";
  std::vector<std::string> merge = {binary.string(), "-merge=1"};
  merge.insert(merge.end(), flags.begin(), flags.end());
  merge.push_back(paths.corpus.string());
  merge.push_back(paths.scratch.string());
  RunLogged(merge, paths.log.string());
  std::error_code ec;
  fs::remove_all(paths.scratch, ec);
}

// The summary on stdout; the exit code (1 when there is something new to look at).
int Summarize(const FuzzOptions& options, const CampaignPaths& paths, const fs::path& binary,
              const Progress& progress, const FindingStats& stats, size_t crashes_before,
              long elapsed, bool interrupted) {
  const int jobs = JobCount(options);
  const double rate =
      progress.seconds > 0 ? static_cast<double>(progress.execs) / progress.seconds : 0;
  std::printf(
      "%s: %lds%s (%.0fs fuzzing), %ld execs (%.0f exec/s, %.0f per job over %d jobs), coverage "
      "%ld\n",
      options.target.c_str(), elapsed, interrupted ? " (interrupted)" : "", progress.seconds,
      progress.execs, rate, rate / jobs, jobs, progress.cov);
  std::printf(
      "build: %s (%s)\n", FuzzPreset(options).c_str(),
      FuzzPreset(options) == "fuzz" ? "ASan+UBSan" : "no sanitizers; --build asan adds them");
  if (options.target == "addfd_sequence_fuzzer") PrintProfile(paths.profile);
  std::printf("corpus: %zu inputs in %s\n", CountFiles(paths.corpus),
              paths.corpus.string().c_str());
  const size_t crashes = CountFiles(paths.crashes, "crash-");
  std::printf(
      "crashes: %zu new (%zu in %s); findings: %d new, %d already filed, %d did not reproduce\n",
      crashes - crashes_before, crashes, paths.crashes.string().c_str(), stats.reported,
      stats.duplicates, stats.unreproduced);
  if (options.target == "addfd_sequence_fuzzer") {
    // A verdict from a run in which a target ran out of turn is not a finding.
    std::printf("dropped as schedule-dependent: %zu verdicts in the jobs, %d crashes on replay\n",
                CountLines(paths.dropped), stats.schedule_dependent);
    std::printf("scheduling: %s\n", stats.scheduling.c_str());
    // Jobs append each PC new to them: the campaign's are the distinct lines.
    if (const size_t pcs = DistinctLines(paths.kernel_pcs).size(); pcs > 0) {
      std::printf(
          "kernel PCs reached in the addfd path: %zu (%s; %s)\n", pcs,
          paths.kernel_pcs.string().c_str(),
          options.kernel_feedback == "on" ? "libFuzzer coverage" : "counted, not fed to libFuzzer");
    }
  }
  if (ReadEnvironment().vm_guest) {
    std::printf(
        "kernel reports: %d inputs filed, %d more after which the kernel logged no report\n",
        stats.kernel_reports, stats.kernel_messages);
  }
  for (const std::string& dir : stats.new_dirs) std::printf("  new finding: %s\n", dir.c_str());
  // The other targets check our own code (parser, model): each crash is a finding, kept
  // in the crashes folder for `repro`.
  const size_t new_crashes = crashes - crashes_before;
  if (options.target != "addfd_sequence_fuzzer" && new_crashes > 0) {
    std::printf("  %zu new crashes of %s: replay with %s CRASH_FILE\n", new_crashes,
                options.target.c_str(), binary.string().c_str());
  }
  std::printf("log: %s\n", paths.log.string().c_str());
  const bool found = stats.reported > 0 || stats.kernel_reports > 0 ||
                     (options.target != "addfd_sequence_fuzzer" && new_crashes > 0);
  return found ? 1 : 0;
}

// The steps: prepare the folders, build the target, run libFuzzer while showing progress,
// merge, file the findings, summarize.
int RunFuzz(const FuzzOptions& options) {
  const CampaignPaths paths(options);
  if (Result<void> ready = Prepare(options, paths); !ready) {
    std::cerr << "addfdlab fuzz: " << ready.error().message() << "\n";
    return kExitUsage;
  }
  fs::path binary;
  if (!EnsureFuzzer(options, paths.log, &binary)) {
    std::cerr << "addfdlab fuzz: could not build " << options.target << "; see "
              << paths.log.string() << "\n";
    return 1;
  }
  const std::vector<std::string> flags =
      LibFuzzerFlags(fs::path(kSourceDir) / "fuzzers", options.target);
  const std::vector<std::string> argv = CampaignArgv(options, paths, binary, flags);
  const size_t crashes_before = CountFiles(paths.crashes, "crash-");

  // The cells this campaign reaches (the jobs append to it): it starts empty.
  std::ofstream(paths.cells, std::ios::trunc).close();
  ::setenv("ADDFDLAB_CELLS_FILE", paths.cells.c_str(), 1);
  // Kernel PCs collected but not fed to libFuzzer (--kernel-feedback off).
  if (options.kernel_feedback == "off") ::setenv("ADDFDLAB_NO_KERNEL_FEEDBACK", "1", 1);
  // The verdicts its jobs drop because their runs did not keep to the schedule.
  std::ofstream(paths.dropped, std::ios::trunc).close();
  ::setenv("ADDFDLAB_DROPPED_FILE", paths.dropped.c_str(), 1);
  // The kernel PCs the jobs reach (a kernel with KCOV), one function+offset a line.
  std::ofstream(paths.kernel_pcs, std::ios::trunc).close();
  ::setenv("ADDFDLAB_KERNEL_PCS_FILE", paths.kernel_pcs.c_str(), 1);
  // The jobs' run profiles, one line each (RunProfile::Line).
  std::ofstream(paths.profile, std::ios::trunc).close();
  ::setenv("ADDFDLAB_PROFILE_FILE", paths.profile.c_str(), 1);
  // In an addfdlab guest the kernel's log is the campaign's own: each job keeps the input
  // that was running when the kernel reported trouble (kernel_log.h).
  if (ReadEnvironment().vm_guest)
    ::setenv(kKernelReportsDirVariable, paths.kernel_reports.c_str(), 1);
  const InterruptScope interrupts;
  // libFuzzer in a process group of its own: in fork mode its parent runs the jobs through
  // system(), which ignores SIGINT while they run, so an interrupt goes to the whole group
  // (each job exits "interrupted", and the parent then stops the campaign).
  SpawnOptions spawn;
  spawn.stdout_to = spawn.stderr_to = Output::kPipe;  // one pipe: the progress line and the log
  spawn.own_process_group = true;
  spawn.forward_interrupt = true;
  std::optional<Subprocess> child = Subprocess::Spawn(argv, spawn);
  if (!child) {
    std::cerr << "addfdlab fuzz: cannot start " << binary.string() << "\n";
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();
  const std::vector<std::string> reachable = options.target == "addfd_sequence_fuzzer"
                                                 ? ReachableCells(ProbeFeatures())
                                                 : std::vector<std::string>{};
  const Progress progress = Watch(*child, options, paths, crashes_before, start, reachable);
  child->CloseOutput();
  // A target that died before its first input (a library or an instruction the machine
  // lacks) says nothing on its own.
  if (const ExitStatus status = child->Wait(); progress.execs == 0 && status.code() != 0) {
    std::cerr << "addfdlab fuzz: " << binary.string() << ": " << status.Problem()
              << " before its first input\n";
  }
  MergeCorpus(paths, binary, flags);

  FindingStats stats;
  if (options.target == "addfd_sequence_fuzzer") {
    FuzzHarnessOptions harness_options =
        FuzzHarnessOptions::FromEnvironment(RepositoryKnownDeviations());
    harness_options.dropped_file.clear();  // the jobs' drops only
    FuzzHarness harness(nullptr, 0, harness_options);
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(paths.crashes, ec)) {
      if (e.path().filename().string().rfind("crash-", 0) != 0) continue;
      FileFinding(e.path(), options, harness, stats);
    }
    FileKernelReports(paths, options, stats);
    PrintCells(CellsIn(paths.cells), harness);
    stats.scheduling = DescribeScheduling(harness.executor().scheduling());
  }
  const long elapsed =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start)
          .count();
  return Summarize(options, paths, binary, progress, stats, crashes_before, elapsed,
                   child->interrupt_forwarded());
}

// Copies into `to` every file under `from` that `to` lacks at the same relative path; never
// overwrites. The number copied whose name starts with `prefix`.
size_t CopyMissing(const fs::path& from, const fs::path& to, const std::string& prefix = "") {
  size_t copied = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(from, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    std::error_code entry_ec;
    if (!it->is_regular_file(entry_ec)) continue;
    const fs::path target = to / it->path().lexically_relative(from);
    if (fs::exists(target, entry_ec)) continue;
    fs::create_directories(target.parent_path(), entry_ec);
    if (fs::copy_file(it->path(), target, fs::copy_options::skip_existing, entry_ec) &&
        it->path().filename().string().rfind(prefix, 0) == 0) {
      ++copied;
    }
  }
  return copied;
}

// fuzz --vm KERNEL: the target is built here (fuzz-fast or fuzz, as without --vm) and the
// campaign runs in one guest boot (`addfdlab fuzz --fuzzer BINARY` there), the work corpus
// copied in; the guest's work folder comes back over the fourth serial port and its new
// corpus inputs, crashes and finding folders are added here, nothing overwritten. A kernel
// report on the console is filed by vm run (findings/vm-<kind>-*), and the input that was
// running is filed by the guest (findings/kernel-<kind>-*), the console added here.
int RunFuzzInVm(const FuzzOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const CampaignPaths paths(options);
  if (Result<void> ready = Prepare(options, paths); !ready) {
    std::cerr << "addfdlab fuzz: " << ready.error().message() << "\n";
    return kExitUsage;
  }
  std::error_code ec;
  fs::remove_all(paths.scratch, ec);
  fs::path binary;
  if (!EnsureFuzzer(options, paths.log, &binary)) {
    std::cerr << "addfdlab fuzz: could not build " << options.target << "; see "
              << paths.log.string() << "\n";
    return 1;
  }
  binary = fs::absolute(binary);
  VmRunOptions vm;
  vm.kernel = options.vm;
  vm.cpus = options.vm_cpus;
  vm.memory_mb = options.vm_memory_mb;
  vm.findings = options.findings;
  // libFuzzer's runtime uses instructions QEMU's default qemu64 CPU lacks (SIGILL there).
  vm.cpu_model = "max";
  Result<Kernel> kernel = ResolveKernel(vm);
  if (!kernel) {
    std::cerr << "addfdlab fuzz: --vm " << options.vm << ": " << kernel.error().message() << "\n";
    return kExitUsage;
  }
  const std::string guest_work = "/vm/fuzz";
  const int jobs = options.jobs > 0 ? options.jobs : options.vm_cpus;
  vm.command = {"fuzz",
                "--target",
                options.target,
                "--time",
                std::to_string(options.seconds),
                "--jobs",
                std::to_string(jobs),
                "--work",
                guest_work,
                "--findings",
                guest_work + "/findings",
                "--repro-runs",
                std::to_string(options.repro_runs),
                "--build",
                options.build,
                "--kernel-feedback",
                options.kernel_feedback,
                "--fuzzer",
                binary.string()};
  vm.binaries = {binary};
  const fs::path fuzzers = fs::path(kSourceDir) / "fuzzers";  // the options and dictionaries
  vm.trees = {{guest_work + "/" + options.target + "/corpus", fs::absolute(paths.corpus)},
              {fuzzers.string(), fuzzers}};
  vm.bring_back = {guest_work};
  std::cerr << "addfdlab fuzz: " << options.target << " for " << options.seconds << " s in a "
            << kernel->label << " guest (" << CountFiles(paths.corpus) << " corpus inputs in)\n";
  // Ctrl-C stops the guest (QEMU is waited for, never left running); the guest's work does
  // not come back, and nothing here changes.
  const InterruptScope interrupts;
  const GuestOutcome outcome = RunOnKernel(vm, *kernel, /*stream=*/true);
  if (outcome.back.empty()) {
    std::printf("vm: nothing came back from the guest (%s)\n",
                outcome.problem.empty() ? "no files" : outcome.problem.c_str());
    return outcome.exit == 0 ? 1 : outcome.exit;
  }
  const fs::path back = outcome.back / fs::path(guest_work).relative_path();
  const fs::path back_target = back / options.target;
  const size_t corpus = CopyMissing(back_target / "corpus", paths.corpus);
  const size_t crashes = CopyMissing(back_target / "crashes", paths.crashes, "crash-");
  size_t filed = 0;
  size_t already = 0;
  std::vector<std::string> kernel_findings;
  for (const auto& e : fs::directory_iterator(back / "findings", ec)) {
    const fs::path to = fs::path(options.findings) / e.path().filename();
    if (fs::exists(to)) {
      ++already;
      continue;
    }
    fs::copy(e.path(), to, fs::copy_options::recursive, ec);
    ++filed;
    if (e.path().filename().string().rfind("kernel-", 0) == 0) {
      // The whole console beside the records the job kept.
      fs::copy_file(outcome.run_dir / "console.log", to / kConsoleLog, ec);
      kernel_findings.push_back(to.string());
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "vm %s: %.0f s in all; brought back: %zu new corpus inputs into %s, %zu crashes, "
      "%zu finding folders into %s (%zu already there); guest's log %s\n",
      kernel->label.c_str(), seconds, corpus, paths.corpus.string().c_str(), crashes, filed,
      options.findings.c_str(), already, (back_target / "fuzz.log").string().c_str());
  for (const std::string& dir : kernel_findings) {
    std::printf("  kernel report with its input: %s\n", dir.c_str());
  }
  return outcome.exit;
}

}  // namespace

void AddFuzzCommand(CLI::App& app, Runner& run) {
  auto options = std::make_shared<FuzzOptions>();
  CLI::App* cmd = app.add_subcommand(
      "fuzz", "Run a fuzzing campaign; reproduce, minimize and file what it finds");
  cmd->add_option("--target", options->target, "Fuzz target")
      ->check(CLI::IsMember(
          {"addfd_sequence_fuzzer", "model_fuzzer", "rollback_fuzzer", "scenario_text_fuzzer"}))
      ->capture_default_str();
  cmd->add_option("--time", options->seconds, "Seconds to fuzz")
      ->check(CLI::Range(1, 7 * 24 * 3600))
      ->capture_default_str();
  cmd->add_option("--jobs", options->jobs, "Parallel jobs (libFuzzer -fork); default: cores")
      ->check(CLI::Range(0, 256));
  cmd->add_option("--work", options->work, "Work folder (corpus, crashes, log)")
      ->capture_default_str();
  cmd->add_option("--findings", options->findings, "Where findings are filed")
      ->capture_default_str();
  cmd->add_option("--repro-runs", options->repro_runs, "Replays per crash before filing")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--build", options->build,
                  "The jobs' build: asan (the fuzz preset, ASan+UBSan), fast (fuzz-fast, no "
                  "sanitizers), or auto (fast for addfd_sequence_fuzzer, asan for the others)")
      ->check(CLI::IsMember({"auto", "asan", "fast"}))
      ->capture_default_str();
  cmd->add_option("--kernel-feedback", options->kernel_feedback,
                  "on: the kernel PCs an input reaches (a kernel with KCOV) are libFuzzer "
                  "coverage; off: they are only counted (to compare campaigns)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  cmd->add_option("--vm", options->vm,
                  "Run the campaign in a QEMU guest on this kernel (as vm run --kernel: debug, "
                  "debug-NAME, a Debian kernel or a bzImage); what it finds comes back here");
  cmd->add_option("--vm-cpus", options->vm_cpus, "The guest's CPUs (--vm)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--vm-memory", options->vm_memory_mb, "The guest's memory in MiB (--vm)")
      ->capture_default_str()
      ->check(CLI::Range(128, 65536));
  cmd->add_option("--fuzzer", options->fuzzer,
                  "A built fuzz target to run as it is, nothing built (what --vm's guest runs)")
      ->check(CLI::ExistingFile);
  cmd->callback([&run, options] {
    run = [options] { return options->vm.empty() ? RunFuzz(*options) : RunFuzzInVm(*options); };
  });
}

}  // namespace addfdlab::tools
