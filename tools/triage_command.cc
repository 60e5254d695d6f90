// addfdlab triage: reads every finding folder, deduplicates them by signature, classifies
// each, replays it here (and on the kernels asked for, in guests), minimizes and writes the
// C reproducer where one is missing, and writes findings/TRIAGE.md (docs/triage.md).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <tuple>

#include "addfdlab/executor.h"
#include "addfdlab/fuzz_harness.h"
#include "addfdlab/known_deviations.h"
#include "addfdlab/minimize.h"
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

inline constexpr const char* kTriageMd = "TRIAGE.md";

struct TriageOptions {
  std::string findings = "findings";
  int runs = 3;
  std::vector<std::string> kernels;
  std::vector<std::string> bisect;          // an ordered list of kernels
  std::vector<std::string> bisect_between;  // two: apt's packages in between
  bool json = false;
  std::string known;  // default KnownDeviationsPath()
  VmRunOptions vm;    // the guests' settings (vm run's); `kernel` and `command` unused
};

// Where a finding folder came from, by what is in it.
enum class Origin { kFuzz, kSplat, kSanitizer };

// One finding folder as read.
struct Folder {
  fs::path path;
  Origin origin = Origin::kFuzz;
  std::string signature;  // "" until known (a folder without repro.scn: after its replay)
  std::optional<Scenario> scenario;  // the minimal reproducer, or the original to minimize
  fs::path reproducer;               // repro.scn ("" until there is one)
  bool minimized_here = false;       // repro.scn written by this triage
  fs::path repro_c;                  // "" when there is none
  bool repro_c_here = false;         // written by this triage
  std::string detail;                // a splat's or sanitizer report's first line
  std::string error;                 // bad input: why, file:line:col for a scenario
  std::string note;                  // what triage could not do, and why
};

struct KernelResult {
  std::string kernel;
  std::string status;  // PASS, KNOWN, DEVIATES, SKIP, "-" (no result), "" (not replayed)
  std::vector<std::string> lines;
  std::string c_status;  // the C reproducer: PASS (0), DEVIATES (1), SKIP (4), "" (none)
  std::string c_detail;  // its failing TAP line, or why it gave nothing
};

// One signature: its folders (the first is the one replayed) and what triage found.
struct Entry {
  std::string signature;
  FindingClass klass = FindingClass::kHarnessBug;
  std::string cell;
  std::vector<size_t> folders;
  const KnownDeviation* known = nullptr;
  int runs = 0, reproduced = 0, unscheduled = 0;
  std::vector<std::string> host_lines;  // the verdicts of the first run that reproduced
  std::vector<KernelResult> kernels;
  std::vector<std::string> affected;
  struct Bisect {
    std::vector<std::string> kernels;
    size_t boots = 0;
    std::string problem;
    std::string first_changed, before, before_status, after_status;
    std::string first_fixed;   // the first changed kernel, when the change is to PASS
    std::string first_broken;  // ... when it is from PASS to a deviation
  };
  std::optional<Bisect> bisect;
};

std::string CellOf(const std::string& signature) {
  const size_t first = signature.find(':');
  const size_t second = signature.find(':', first + 1);
  if (first == std::string::npos || second == std::string::npos) return "";
  const std::string cell = signature.substr(first + 1, second - first - 1);
  return cell == "-" ? "" : cell;
}

// Kernel reports name addresses, pids and line numbers: a splat's signature keeps their shape.
std::string NormalizeTitle(const std::string& title) {
  static const std::regex numbers("0x[0-9a-fA-F]+|[0-9]+");
  return std::regex_replace(title, numbers, "N");
}

// Reads a folder: its origin, signature, scenario and files. A bad one gets `error`.
Folder ReadFolder(const fs::path& path) {
  Folder folder;
  folder.path = path;
  std::error_code ec;
  const auto has = [&](const char* name) { return fs::is_regular_file(path / name, ec); };
  if (has(kReproC)) folder.repro_c = path / kReproC;
  if (has(kReproScn)) {
    folder.reproducer = path / kReproScn;
    Result<std::string> text = ReadWholeFile(folder.reproducer.string());
    if (!text) {
      folder.error = text.error().message();
      return folder;
    }
    folder.signature = SignatureInHeader(*text);
    Result<Scenario> scenario = LoadScenario(folder.reproducer.string());
    if (!scenario) {
      folder.error = scenario.error().message();
      return folder;
    }
    if (const Result<void> valid = ValidateScenario(*scenario); !valid) {
      folder.error = folder.reproducer.string() + ": invalid scenario: " + valid.error().message();
      return folder;
    }
    folder.scenario = std::move(*scenario);
    return folder;
  }
  // A sanitizer's report in one of the folder's logs.
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    const std::string ext = entry.path().extension().string();
    if (!entry.is_regular_file() || (ext != ".log" && ext != ".txt")) continue;
    if (entry.path().filename() == kConsoleLog) continue;
    Result<std::string> text = ReadWholeFile(entry.path().string());
    if (!text) continue;
    const std::string report = FindSanitizerReport(*text);
    if (report.empty()) continue;
    folder.origin = Origin::kSanitizer;
    folder.detail = report;
    static const std::regex header(R"((ERROR|WARNING): (\w+): ([\w-]+))");
    std::smatch m;
    folder.signature = std::regex_search(report, m, header)
                           ? "sanitizer:" + m[2].str() + ":" + m[3].str()
                           : "sanitizer:runtime-error:" +
                                 NormalizeTitle(report.substr(report.find("runtime error:")));
    folder.note = "not replayed: a sanitizer crash replays with its sanitizer build (" +
                  entry.path().filename().string() + " has the report)";
    return folder;
  }
  for (const char* name : {kOriginalScn, kInputBin}) {
    if (!has(name)) continue;
    Result<Scenario> scenario = LoadScenario((path / name).string());
    if (!scenario) {
      folder.error = scenario.error().message();
      return folder;
    }
    if (const Result<void> valid = ValidateScenario(*scenario); !valid) {
      folder.error = (path / name).string() + ": invalid scenario: " + valid.error().message();
      return folder;
    }
    folder.scenario = std::move(*scenario);  // minimized after its replay names the signature
    return folder;
  }
  if (has(kConsoleLog)) {
    Result<std::string> console = ReadWholeFile((path / kConsoleLog).string());
    if (!console) {
      folder.error = console.error().message();
      return folder;
    }
    const std::vector<vm::KernelTrouble> trouble = vm::FindKernelTrouble(*console);
    if (trouble.empty()) {
      folder.error = (path / kConsoleLog).string() + ": no kernel report on this console";
      return folder;
    }
    folder.origin = Origin::kSplat;
    folder.detail = trouble.front().title;
    std::string kind = trouble.front().kind;
    for (char& c : kind) c = c == ' ' ? '-' : c;
    folder.signature = "splat:" + kind + ":" + NormalizeTitle(trouble.front().title);
    folder.note =
        "not replayed here: a kernel splat replays in its guest (" + std::string(kCommandTxt) + ")";
    return folder;
  }
  folder.error = path.string() + ": not a finding folder (no " + kReproScn + ", " + kOriginalScn +
                 ", " + kInputBin + ", " + kConsoleLog + " or sanitizer log)";
  return folder;
}

// The verdict signatures of a run, once each (expect clauses too: a hand-written finding's).
std::set<std::string> SignaturesOf(const RunResult& result, const Scenario& scenario) {
  std::set<std::string> signatures;
  for (const Verdict& v : result.verdicts) signatures.insert(v.Signature(scenario));
  return signatures;
}

// A folder without repro.scn: its most frequent signature names it (the fuzz filer's
// rule), then it is minimized for that signature and repro.scn is written beside it.
void MinimizeFolder(Folder& folder, Executor& executor, int runs) {
  std::map<std::string, int> seen;
  for (int run = 0; run < runs; ++run) {
    const RunResult result = executor.Run(*folder.scenario);
    if (!result.deterministic) continue;
    for (const Verdict& v : result.verdicts) {
      if (v.kind != Verdict::Kind::kExpect) ++seen[v.Signature(*folder.scenario)];
    }
  }
  if (seen.empty()) {
    folder.signature = "unreproduced:" + folder.path.filename().string();
    folder.note = "no verdict in " + std::to_string(runs) + " replays here: not minimized";
    return;
  }
  const auto top = std::max_element(
      seen.begin(), seen.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  folder.signature = top->first;
  const std::string signature = folder.signature;
  const auto fails = [&](const Scenario& candidate) {
    for (int again = 0; again < 2; ++again) {
      const RunResult r = executor.Run(candidate);
      if (r.deterministic && SignaturesOf(r, candidate).count(signature) != 0) return true;
    }
    return false;
  };
  const Scenario minimal = MinimizeScenario(*folder.scenario, fails);
  const fs::path out = folder.path / kReproScn;
  const Result<void> written =
      WriteNewFile(out.string(),
                   "# " + signature + "\n# reproduced " + std::to_string(top->second) + "/" +
                       std::to_string(runs) + " on " + executor.features().release +
                       " (minimized by addfdlab triage)\n" + PrintScenario(minimal),
                   false);
  if (!written) {
    folder.note = written.error().message();
    return;
  }
  folder.scenario = minimal;
  folder.reproducer = out;
  folder.minimized_here = true;
}

// repro.c beside repro.scn for a kernel deviation that lacks one (older findings).
void WriteReproC(Folder& folder) {
  if (!folder.repro_c.empty() || !folder.scenario || folder.reproducer.empty()) return;
  const Result<std::string> program = FindingReproC(*folder.scenario, folder.reproducer.string());
  if (!program) {
    folder.note = "no repro.c: " + program.error().message();
    return;
  }
  const fs::path out = folder.path / kReproC;
  if (const Result<void> written = WriteNewFile(out.string(), *program, false); !written) {
    folder.note = written.error().message();
    return;
  }
  folder.repro_c = out;
  folder.repro_c_here = true;
}

// Replays an entry's reproducer here: how often its signature shows, and whether a known
// deviation explains the runs (as `repro` decides it).
void ReplayOnHost(Entry& entry, const Folder& folder, Executor& executor, int runs,
                  const std::vector<KnownDeviation>& known) {
  if (!folder.scenario || folder.reproducer.empty()) return;
  entry.runs = runs;
  for (int run = 0; run < runs; ++run) {
    const RunResult result = executor.Run(*folder.scenario);
    if (!result.deterministic) {
      ++entry.unscheduled;
      continue;
    }
    if (SignaturesOf(result, *folder.scenario).count(entry.signature) == 0) continue;
    ++entry.reproduced;
    if (entry.host_lines.empty()) {
      for (const Verdict& v : result.verdicts) {
        entry.host_lines.push_back(v.Signature(*folder.scenario) + "  " +
                                   v.Describe(*folder.scenario));
      }
    }
    if (entry.known == nullptr)
      entry.known = MatchKnownRun(known, result.verdicts, *folder.scenario);
  }
}

// A C reproducer's exit status as a status.
std::string CStatus(const vm::KernelRun& run) {
  if (run.exit == 0) return "PASS";
  if (run.exit == 1) return "DEVIATES";
  if (run.exit == 4) return "SKIP";
  return "-";
}

// The C program's failing TAP line ("# DEVIATION ..."), or why it gave no verdict.
std::string CDetail(const vm::KernelRun& run) {
  if (!run.problem.empty()) return run.problem;
  std::istringstream lines(run.stdout_text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# DEVIATION", 0) == 0 || line.rfind("# SKIP", 0) == 0) return line;
  }
  return run.exit == 0 || run.exit == 1 || run.exit == 4 ? "" : "exit " + std::to_string(run.exit);
}

// Every entry with a reproducer on every kernel: one boot per kernel (the kernels in
// parallel, as vm matrix), each running `repro FILE --json --runs N` and the static C
// programs.
Result<void> ReplayOnKernels(std::vector<Entry>& entries, const std::vector<Folder>& folders,
                             const TriageOptions& options, const fs::path& scratch) {
  std::vector<Kernel> kernels;
  for (const std::string& name : options.kernels) {
    VmRunOptions one = options.vm;
    one.kernel = name;
    Result<Kernel> kernel = ResolveKernel(one);
    if (!kernel) return std::move(kernel).error();
    kernels.push_back(std::move(*kernel));
  }
  std::vector<std::vector<std::string>> commands;
  VmRunOptions guest = options.vm;
  // By entry: its repro command's index and its C program's (-1: none).
  std::vector<std::pair<int, int>> index(entries.size(), {-1, -1});
  for (size_t e = 0; e < entries.size(); ++e) {
    const Folder& folder = folders[entries[e].folders.front()];
    if (!folder.scenario || folder.reproducer.empty()) continue;
    std::vector<std::string> repro = {"repro", folder.reproducer.string(), "--json", "--runs",
                                      std::to_string(options.runs)};
    if (!options.known.empty()) {
      repro.push_back("--known");
      repro.push_back(options.known);
    }
    index[e].first = static_cast<int>(commands.size());
    commands.push_back(repro);
    if (folder.repro_c.empty()) continue;
    const fs::path binary = scratch / ("repro-" + std::to_string(e));
    if (const Result<void> built = BuildStaticProgram(folder.repro_c, binary, scratch / "gcc.log");
        !built) {
      std::cerr << "addfdlab triage: " << built.error().message() << "\n";
      continue;
    }
    const std::string program = std::string(kGuestProgramDir) + "repro-" + std::to_string(e);
    guest.programs.emplace_back(program, binary);
    index[e].second = static_cast<int>(commands.size());
    commands.push_back({program});
  }
  if (commands.empty()) return {};
  guest.command = commands.front();
  guest.more.assign(commands.begin() + 1, commands.end());
  // Each guest runs every reproducer: the default deadline grows with their number.
  if (guest.timeout <= 0) {
    const double scale = guest.time_scale > 0          ? guest.time_scale
                         : IsDebugKernel(guest.kernel) ? kDebugTimeScale
                                                       : kTcgTimeScale;
    guest.timeout = 30 * scale * static_cast<double>(commands.size());
  }
  std::cerr << "triage: " << commands.size() << " commands on " << kernels.size()
            << " kernels, one boot each\n";
  const std::vector<std::vector<vm::KernelRun>> runs = RunOnKernels(guest, kernels, 0);
  for (size_t e = 0; e < entries.size(); ++e) {
    if (index[e].first < 0) continue;
    for (size_t k = 0; k < kernels.size(); ++k) {
      KernelResult result;
      result.kernel = options.kernels[k];
      const vm::ReproVerdict verdict =
          vm::ReadReproVerdict(runs[k][static_cast<size_t>(index[e].first)]);
      result.status = verdict.status;
      result.lines = verdict.lines;
      if (index[e].second >= 0) {
        const vm::KernelRun& c = runs[k][static_cast<size_t>(index[e].second)];
        result.c_status = CStatus(c);
        result.c_detail = CDetail(c);
      }
      if (result.status == "DEVIATES" || result.status == "KNOWN" ||
          result.c_status == "DEVIATES") {
        entries[e].affected.push_back(result.kernel);
      }
      entries[e].kernels.push_back(std::move(result));
    }
  }
  return {};
}

// --bisect: the first kernel of the ordered list where the reproducer's verdict changes.
void Bisect(Entry& entry, const Folder& folder, const TriageOptions& options,
            const std::vector<std::string>& kernels) {
  Entry::Bisect bisect;
  bisect.kernels = kernels;
  const BisectOutcome outcome = BisectRepro(options.vm, folder.reproducer.string(), options.runs,
                                            kernels, [&](size_t index, const vm::ReproVerdict& v) {
                                              std::cerr << "triage: bisect " << entry.signature
                                                        << ": " << kernels[index] << " " << v.status
                                                        << "\n";
                                            });
  bisect.boots = outcome.boots;
  bisect.problem = outcome.problem;
  if (outcome.problem.empty() && !outcome.changed) {
    bisect.problem = "no change: the first and last kernels give the same verdict";
  }
  if (outcome.problem.empty() && outcome.changed) {
    bisect.first_changed = kernels[*outcome.changed];
    bisect.before = kernels[outcome.last_same];
    bisect.before_status = outcome.verdicts[outcome.last_same]->status;
    bisect.after_status = outcome.verdicts[*outcome.changed]->status;
    const bool before_shows = bisect.before_status == "DEVIATES" || bisect.before_status == "KNOWN";
    const bool after_shows = bisect.after_status == "DEVIATES" || bisect.after_status == "KNOWN";
    if (before_shows && bisect.after_status == "PASS") bisect.first_fixed = bisect.first_changed;
    if (bisect.before_status == "PASS" && after_shows) bisect.first_broken = bisect.first_changed;
  }
  entry.bisect = std::move(bisect);
}

std::string Rate(const Entry& entry) {
  if (entry.runs == 0) return "-";
  std::string rate = std::to_string(entry.reproduced) + "/" + std::to_string(entry.runs);
  if (entry.unscheduled > 0) rate += " (" + std::to_string(entry.unscheduled) + " off schedule)";
  return rate;
}

std::string ClassText(const Entry& entry) {
  std::string text = FindingClassName(entry.klass);
  if (!entry.cell.empty()) text += " (" + entry.cell + ")";
  return text;
}

nlohmann::json EntryJson(const Entry& entry, const std::vector<Folder>& folders) {
  const Folder& first = folders[entry.folders.front()];
  nlohmann::json paths = nlohmann::json::array();
  for (size_t f : entry.folders) paths.push_back(folders[f].path.string());
  nlohmann::json json = {
      {"signature", entry.signature},
      {"class", FindingClassName(entry.klass)},
      {"cell", entry.cell},
      {"folders", paths},
      {"reproducer", first.reproducer.string()},
      {"reproducer_minimized_by_triage", first.minimized_here},
      {"repro_c", first.repro_c.string()},
      {"repro_c_written_by_triage", first.repro_c_here},
      {"host",
       {{"runs", entry.runs},
        {"reproduced", entry.reproduced},
        {"off_schedule", entry.unscheduled},
        {"rate", entry.runs > 0 ? static_cast<double>(entry.reproduced) / entry.runs : 0.0},
        {"verdicts", entry.host_lines}}},
      {"kernels_affected", entry.affected},
  };
  if (!first.detail.empty()) json["detail"] = first.detail;
  if (!first.note.empty()) json["note"] = first.note;
  json["known"] = entry.known == nullptr
                      ? nlohmann::json(nullptr)
                      : nlohmann::json{{"id", entry.known->id}, {"fix", entry.known->FixText()}};
  nlohmann::json kernels = nlohmann::json::array();
  for (const KernelResult& k : entry.kernels) {
    kernels.push_back({{"kernel", k.kernel},
                       {"status", k.status},
                       {"verdicts", k.lines},
                       {"c_status", k.c_status},
                       {"c_detail", k.c_detail}});
  }
  json["kernels"] = kernels;
  if (entry.bisect) {
    const Entry::Bisect& b = *entry.bisect;
    json["bisect"] = {{"kernels", b.kernels},           {"boots", b.boots},
                      {"problem", b.problem},           {"first_changed", b.first_changed},
                      {"last_before", b.before},        {"status_before", b.before_status},
                      {"status_after", b.after_status}, {"first_fixed", b.first_fixed},
                      {"first_broken", b.first_broken}};
  }
  return json;
}

// The next step for a class (docs/triage.md, "Steps").
const char* NextStep(const Entry& entry) {
  switch (entry.klass) {
    case FindingClass::kKnownBug:
      return "a known kernel bug: nothing to file; check the fix reached the kernels it shows on";
    case FindingClass::kKernelDeviation:
      return "confirm with the kernel source (docs/contract.md), then list it in "
             "known-deviations.json and send repro.c upstream (docs/triage.md)";
    case FindingClass::kLeak:
    case FindingClass::kDangling:
      return "read the trace's fd verdicts: the kernel's table or the model's (docs/triage.md, "
             "step 3)";
    case FindingClass::kHang:
      return "an op missed its deadline: replay with ADDFDLAB_TIME_SCALE raised before blaming "
             "the kernel";
    case FindingClass::kKernelSplat:
      return "the kernel's own report: console.log has it; send it upstream with command.txt";
    case FindingClass::kSanitizerCrash:
      return "addfdlab's own memory or UB bug: fix it, then add a regression scenario";
    case FindingClass::kHarnessBug:
      return "addfdlab's own bug: fix it, then add the scenario to corpus/regressions/";
    case FindingClass::kUnreproduced:
      return "no verdict here: replay it with more --runs, or on the kernel it was found on";
  }
  return "";
}

std::string Markdown(const std::vector<Entry>& entries, const std::vector<Folder>& folders,
                     const std::vector<size_t>& bad, const TriageOptions& options,
                     const std::string& release, const std::string& when, double seconds) {
  std::ostringstream md;
  md << "# Triage of " << options.findings << "\n\n";
  md << "Written by `addfdlab triage` at " << when << " in " << std::fixed;
  md.precision(1);
  md << seconds << " s: " << folders.size() << " folders, " << entries.size() << " signatures, "
     << bad.size() << " not triaged. Replays: " << options.runs << " on this host (" << release
     << ")";
  for (const std::string& k : options.kernels) md << ", " << k;
  md << ". Each folder's files are kept as they were; triage only adds `repro.scn` (a finding "
        "without one, minimized) and `repro.c` (a kernel deviation without one).\n\n";
  md << "| signature | class | host | kernels affected | reproducer | C reproducer |\n";
  md << "|---|---|---|---|---|---|\n";
  for (const Entry& e : entries) {
    const Folder& f = folders[e.folders.front()];
    std::string affected;
    if (e.reproduced > 0) affected = "host";
    for (const std::string& k : e.affected) affected += (affected.empty() ? "" : ", ") + k;
    md << "| `" << e.signature << "` | " << ClassText(e) << " | " << Rate(e) << " | "
       << (affected.empty() ? "-" : affected) << " | "
       << (f.reproducer.empty() ? "-" : "`" + f.reproducer.string() + "`") << " | "
       << (f.repro_c.empty() ? "-" : "`" + f.repro_c.string() + "`") << " |\n";
  }
  for (const Entry& e : entries) {
    const Folder& f = folders[e.folders.front()];
    md << "\n## `" << e.signature << "`\n\n";
    md << "- class: " << ClassText(e) << "\n";
    md << "- folders: ";
    for (size_t i = 0; i < e.folders.size(); ++i) {
      md << (i == 0 ? "" : ", ") << "`" << folders[e.folders[i]].path.string() << "`";
    }
    if (e.folders.size() > 1) md << " (" << e.folders.size() - 1 << " duplicate)";
    md << "\n";
    if (!f.detail.empty()) md << "- report: `" << f.detail << "`\n";
    if (!f.reproducer.empty()) {
      md << "- minimal reproducer: `" << f.reproducer.string() << "`"
         << (f.minimized_here ? " (minimized by this triage)" : "") << "\n";
    }
    if (!f.repro_c.empty()) {
      md << "- C reproducer: `" << f.repro_c.string() << "`"
         << (f.repro_c_here ? " (written by this triage)" : "")
         << ": `gcc -O2 -pthread repro.c -o repro && ./repro` (exit 1: the deviation "
            "reproduced; docs/reproducers.md)\n";
    }
    if (e.runs > 0) {
      md << "- host (" << release << "): reproduced " << Rate(e) << "\n";
      for (const std::string& line : e.host_lines) md << "  - `" << line << "`\n";
    }
    if (!f.note.empty()) md << "- note: " << f.note << "\n";
    if (e.known != nullptr) {
      md << "- known bug `" << e.known->id << "`; fix: " << e.known->FixText() << "\n";
    }
    for (const KernelResult& k : e.kernels) {
      md << "- " << k.kernel << ": " << k.status;
      if (!k.c_status.empty()) {
        md << "; repro.c " << k.c_status << (k.c_detail.empty() ? "" : " (" + k.c_detail + ")");
      }
      md << "\n";
      for (const std::string& line : k.lines) md << "  - `" << line << "`\n";
    }
    if (e.bisect) {
      const Entry::Bisect& b = *e.bisect;
      md << "- bisect over " << b.kernels.size() << " kernels, " << b.boots << " boots: ";
      if (!b.problem.empty()) {
        md << b.problem << "\n";
      } else {
        md << "first changed " << b.first_changed << " (" << b.after_status << "; " << b.before
           << " before it: " << b.before_status << ")";
        if (!b.first_fixed.empty()) md << "; first fixed package: " << b.first_fixed;
        if (!b.first_broken.empty()) md << "; first broken package: " << b.first_broken;
        md << "\n";
      }
    }
    md << "- next: " << NextStep(e) << "\n";
  }
  if (!bad.empty()) {
    md << "\n## Not triaged\n\n";
    for (size_t b : bad)
      md << "- `" << folders[b].path.string() << "`: " << folders[b].error << "\n";
  }
  return md.str();
}

// Writes `text` to `path` through a temporary file and rename(2): a reader sees the old
// file or the new one, never half of one.
Result<void> ReplaceAtomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp-" + std::to_string(::getpid());
  ADDFDLAB_TRY(WriteNewFile(tmp.string(), text, true));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const Errno error = Errno::Last();
    std::error_code ec;
    fs::remove(tmp, ec);
    return Error(error, path.string() + ": cannot replace: " + error.Message());
  }
  return {};
}

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

int RunTriage(TriageOptions options) {
  const auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  if (!fs::is_directory(options.findings, ec)) {
    std::cerr << "addfdlab triage: " << options.findings << ": no such folder\n";
    return kExitUsage;
  }
  const std::string known_path =
      options.known.empty() ? KnownDeviationsPath(RepositoryKnownDeviations()) : options.known;
  Result<std::vector<KnownDeviation>> known = LoadKnownDeviations(known_path);
  if (!known) {
    std::cerr << "addfdlab triage: " << known.error().message() << "\n";
    return kExitUsage;
  }
  std::vector<std::string> bisect_kernels = options.bisect;
  if (!options.bisect_between.empty()) {
    Result<std::vector<std::string>> between =
        AptKernelsBetween(options.bisect_between[0], options.bisect_between[1], options.vm.flavour);
    if (!between) {
      std::cerr << "addfdlab triage: " << between.error().message() << "\n";
      return kExitUsage;
    }
    bisect_kernels = std::move(*between);
  }
  InterruptScope interrupt;

  std::vector<fs::path> paths;
  for (const auto& entry : fs::directory_iterator(options.findings, ec)) {
    if (entry.is_directory()) paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<Folder> folders;
  for (const fs::path& path : paths) folders.push_back(ReadFolder(path));

  Executor executor;
  std::vector<size_t> bad;
  std::vector<Entry> entries;
  std::map<std::string, size_t> by_signature;
  for (size_t f = 0; f < folders.size(); ++f) {
    Folder& folder = folders[f];
    if (!folder.error.empty()) {
      std::cerr << "addfdlab triage: " << folder.error << "\n";
      bad.push_back(f);
      continue;
    }
    if (folder.reproducer.empty() && folder.scenario) {
      std::cerr << "triage: " << folder.path.string() << ": no repro.scn, minimizing\n";
      MinimizeFolder(folder, executor, options.runs);
    }
    if (folder.signature.empty() && folder.scenario) {
      // A repro.scn without the filer's header: its replay names it.
      for (int run = 0; run < options.runs && folder.signature.empty(); ++run) {
        const RunResult result = executor.Run(*folder.scenario);
        if (result.deterministic && !result.clean()) {
          folder.signature = result.verdicts.front().Signature(*folder.scenario);
        }
      }
      if (folder.signature.empty()) {
        folder.signature = "unreproduced:" + folder.path.filename().string();
      }
    }
    const auto [it, fresh] = by_signature.emplace(folder.signature, entries.size());
    if (!fresh) {
      entries[it->second].folders.push_back(f);
      continue;
    }
    Entry entry;
    entry.signature = folder.signature;
    entry.folders.push_back(f);
    entry.cell = CellOf(folder.signature);
    entries.push_back(std::move(entry));
  }

  for (Entry& entry : entries) {
    if (Interrupted()) break;
    Folder& folder = folders[entry.folders.front()];
    entry.known = KnownBySignature(*known, entry.signature);
    if (!folder.reproducer.empty()) {
      std::cerr << "triage: " << entry.signature << ": replaying " << options.runs << "x here\n";
    }
    ReplayOnHost(entry, folder, executor, options.runs, *known);
    if (folder.origin == Origin::kSplat) {
      entry.klass = FindingClass::kKernelSplat;
      entry.cell.clear();
    } else if (folder.origin == Origin::kSanitizer) {
      entry.klass = FindingClass::kSanitizerCrash;
      entry.cell.clear();
    } else if (entry.known != nullptr) {
      entry.klass = FindingClass::kKnownBug;
    } else {
      entry.klass = ClassOfSignature(entry.signature);
    }
    if (entry.klass == FindingClass::kKernelDeviation || entry.klass == FindingClass::kKnownBug) {
      WriteReproC(folder);
    }
  }

  // New kernel deviations first, known bugs last; by signature (unique) within a class.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.klass, a.signature) < std::tie(b.klass, b.signature);
  });

  if (!options.kernels.empty() && !Interrupted()) {
    const fs::path scratch =
        fs::absolute(fs::path(options.vm.work) / ("triage-" + std::to_string(::getpid())));
    fs::create_directories(scratch, ec);
    if (const Result<void> replayed = ReplayOnKernels(entries, folders, options, scratch);
        !replayed) {
      std::cerr << "addfdlab triage: " << replayed.error().message() << "\n";
      return kExitUsage;
    }
  }
  if (!bisect_kernels.empty()) {
    for (Entry& entry : entries) {
      const Folder& folder = folders[entry.folders.front()];
      if (Interrupted()) break;
      if ((entry.klass != FindingClass::kKernelDeviation &&
           entry.klass != FindingClass::kKnownBug) ||
          folder.reproducer.empty()) {
        continue;
      }
      Bisect(entry, folder, options, bisect_kernels);
    }
  }

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string when = UtcNow();
  const std::string release = executor.features().release;
  const fs::path md = fs::path(options.findings) / kTriageMd;
  if (const Result<void> written =
          ReplaceAtomically(md, Markdown(entries, folders, bad, options, release, when, seconds));
      !written) {
    std::cerr << "addfdlab triage: " << written.error().message() << "\n";
    return kExitUsage;
  }
  if (options.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const Entry& entry : entries) list.push_back(EntryJson(entry, folders));
    nlohmann::json bad_list = nlohmann::json::array();
    for (size_t b : bad) {
      bad_list.push_back({{"folder", folders[b].path.string()}, {"error", folders[b].error}});
    }
    const nlohmann::json out = {
        {"findings", options.findings},
        {"written", when},
        {"seconds", seconds},
        {"host", {{"release", release}, {"scheduling", SchedModeName(executor.scheduling().mode)}}},
        {"runs", options.runs},
        {"kernels", options.kernels},
        {"folders", folders.size()},
        {"entries", list},
        {"bad", bad_list},
        {"triage_md", md.string()}};
    std::cout << out.dump(2) << "\n";
  } else {
    for (const Entry& entry : entries) {
      std::printf("%-50s %-36s host %s\n", entry.signature.c_str(), ClassText(entry).c_str(),
                  Rate(entry).c_str());
    }
    std::printf("%zu folders, %zu signatures, %zu not triaged, %.1f s; wrote %s\n", folders.size(),
                entries.size(), bad.size(), seconds, md.c_str());
  }
  if (Interrupted()) return 1;
  if (!bad.empty()) return kExitUsage;
  for (const Entry& entry : entries) {
    if (entry.klass != FindingClass::kKnownBug) return 1;
  }
  return 0;
}

}  // namespace

void AddTriageCommand(CLI::App& app, Runner& run) {
  auto options = std::make_shared<TriageOptions>();
  CLI::App* cmd = app.add_subcommand(
      "triage", "Deduplicate, classify, replay and minimize every finding folder; write TRIAGE.md");
  cmd->add_option("findings", options->findings, "The findings folder")->capture_default_str();
  cmd->add_option("--runs", options->runs, "Replays of each finding, here and on each kernel")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--kernels", options->kernels,
                  "Also replay on these kernels in guests (as vm matrix), comma-separated")
      ->delimiter(',');
  CLI::Option* bisect =
      cmd->add_option("--bisect", options->bisect,
                      "Bisect each kernel deviation over these kernels, in order, comma-separated")
          ->delimiter(',');
  cmd->add_option("--bisect-between", options->bisect_between,
                  "Bisect over apt's packages from A to B")
      ->expected(2)
      ->excludes(bisect);
  cmd->add_flag("--json", options->json, "Print the triage as JSON (TRIAGE.md is written too)");
  cmd->add_option("--known", options->known, "Known-deviations JSON (default: as repro)")
      ->check(CLI::ExistingFile);
  VmRunOptions& vm = options->vm;
  cmd->add_option("--flavour", vm.flavour, "Debian kernel flavour for a bare version")
      ->capture_default_str();
  cmd->add_option("--time-scale", vm.time_scale, "Guest slowness against the host")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--timeout", vm.timeout,
                  "Seconds each guest may take (default: 30 x scale a "
                  "command)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--work", vm.work, "Where each guest's logs go")->capture_default_str();
  cmd->add_option("--cache-limit", vm.cache_limit_mb, "Kernel cache size limit in MiB")
      ->capture_default_str();
  cmd->callback([&run, options] {
    // Splats found while replaying are filed with the findings they came from.
    options->vm.findings = options->findings;
    run = [options] { return RunTriage(*options); };
  });
}

}  // namespace addfdlab::tools
