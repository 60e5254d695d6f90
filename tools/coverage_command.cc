// addfdlab coverage: replays a corpus with KCOV on in a guest of the debug kernel, and maps
// the kernel PCs it reached to the lines of the notifier and fd-install functions
// (docs/coverage.md).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "addfdlab/executor.h"
#include "addfdlab/kcov.h"
#include "commands.h"
#include "coverage_report.h"
#include "scenario_file.h"
#include "subprocess.h"
#include "vm_runner.h"

namespace addfdlab::tools {

namespace {

namespace fs = std::filesystem;

struct CoverageOptions {
  std::vector<std::string> corpus;
  std::string vm;   // the kernel to boot (--vm)
  std::string out;  // the report's folder; default work/coverage/<UTC time>
  int runs = 2;
  bool collect = false;
  double timeout = 0;
  double time_scale = 0;
  std::string work = "work/vm";
  std::string findings = "findings";
};

// The files of the corpus arguments: a folder's regular files (not its JSON, Markdown or
// dictionaries), sorted.
std::vector<std::string> CorpusFiles(const std::vector<std::string>& corpus) {
  std::vector<std::string> files;
  for (const std::string& arg : corpus) {
    std::error_code ec;
    if (!fs::is_directory(arg, ec)) {
      files.push_back(arg);
      continue;
    }
    std::vector<std::string> here;
    for (const auto& entry : fs::directory_iterator(arg, ec)) {
      const std::string ext = entry.path().extension().string();
      if (!entry.is_regular_file() || ext == ".json" || ext == ".md" || ext == ".dict") continue;
      here.push_back(entry.path().string());
    }
    std::sort(here.begin(), here.end());
    files.insert(files.end(), here.begin(), here.end());
  }
  return files;
}

// --collect: every input --runs times with KCOV on; the collection as JSON on stdout.
int RunCollect(const CoverageOptions& options) {
  ExecutorOptions executor_options;
  executor_options.kcov = true;
  Executor executor(executor_options);
  const KcovFilter* filter = executor.kcov_filter();
  if (filter == nullptr) {
    std::cerr << "addfdlab coverage: no kernel coverage here: " << executor.kcov_status()
              << " (a kernel with KCOV and debugfs: --vm debug)\n";
    return 1;
  }
  coverage::Collection collection;
  collection.kernel = executor.features().release;
  collection.kcov = executor.kcov_status();
  for (const std::string& file : CorpusFiles(options.corpus)) {
    auto scenario = LoadScenario(file);
    if (!scenario || !ValidateScenario(*scenario)) {
      std::cerr << "addfdlab coverage: skipped " << file << ": not a valid scenario\n";
      continue;
    }
    coverage::InputCoverage input;
    input.file = file;
    input.runs = options.runs;
    std::vector<uint64_t> first;
    for (int run = 0; run < options.runs; ++run) {
      const RunResult result = executor.Run(*scenario);
      input.truncated |= result.kernel_pcs_truncated;
      if (run == 0) {
        first = result.kernel_pcs;
        input.verdict =
            result.verdicts.empty() ? "clean" : result.verdicts.front().Describe(*scenario);
      } else if (result.kernel_pcs != first) {
        input.stable = false;
      }
    }
    for (uint64_t pc : first) {
      if (auto where = filter->Describe(pc)) input.pcs.push_back(*where);
    }
    collection.inputs.push_back(std::move(input));
  }
  std::cout << coverage::CollectionToJson(collection) << "\n";
  return 0;
}

std::string HexText(uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof(text), "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

std::vector<std::string> ReadLines(const fs::path& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The vmlinux's cover points and their lines, and the sources, from the kernel's build tree
// (`entry`: vmlinux, linux/System.map, linux/<file>).
Result<coverage::KernelImage> ReadImage(const fs::path& entry) {
  const fs::path vmlinux = entry / "vmlinux";
  const fs::path map = entry / "linux" / "System.map";
  std::ifstream symbols(map);
  if (!fs::is_regular_file(vmlinux) || !symbols) {
    return Error::Invalid("--vm: no vmlinux and linux/System.map in " + entry.string() +
                          " (the debug kernel's cache entry has them)");
  }
  coverage::KernelImage image;
  std::vector<std::string> addresses;
  for (const KernelRange& range : ParseKallsyms(symbols)) {
    image.symbol_start[range.name] = range.start;
    std::vector<uint64_t>& points = image.points[range.name];
    points = coverage::ParseObjdumpCoverPoints(
        Capture({"objdump", "-d", "--no-show-raw-insn", "--start-address=" + HexText(range.start),
                 "--stop-address=" + HexText(range.end), vmlinux.string()},
                std::chrono::seconds(120)));
    // A point is a return address: its line is the call's, one byte before.
    for (uint64_t point : points) addresses.push_back(HexText(point - 1));
  }
  if (!addresses.empty()) {
    std::vector<std::string> argv = {"addr2line", "-e", vmlinux.string(), "-a", "-f", "-i"};
    argv.insert(argv.end(), addresses.begin(), addresses.end());
    for (auto& [address, frames] :
         coverage::ParseAddr2line(Capture(argv, std::chrono::seconds(300)))) {
      image.frames[address + 1] = std::move(frames);
    }
  }
  for (size_t i = 0; i < kKcovFunctionCount; ++i) {
    const std::string file(kKcovFunctions[i].file);
    if (image.sources.count(file) == 0) image.sources[file] = ReadLines(entry / "linux" / file);
  }
  return image;
}

int RunCoverage(const CoverageOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  fs::path out = options.out.empty() ? fs::path("work/coverage") / Stamp() : fs::path(options.out);
  std::error_code ec;
  if (fs::exists(out, ec)) {
    std::cerr << "addfdlab coverage: --out " << out.string()
              << " exists: a report is never overwritten (name another folder)\n";
    return kExitUsage;
  }
  VmRunOptions guest;
  guest.kernel = options.vm;
  guest.timeout = options.timeout;
  guest.time_scale = options.time_scale;
  guest.work = options.work;
  guest.findings = options.findings;
  guest.command = {"coverage", "--collect", "--runs", std::to_string(options.runs)};
  guest.command.insert(guest.command.end(), options.corpus.begin(), options.corpus.end());
  Result<Kernel> kernel = ResolveKernel(guest);
  if (!kernel) {
    std::cerr << "addfdlab coverage: " << kernel.error().message() << "\n";
    return kExitUsage;
  }
  Result<coverage::KernelImage> image = ReadImage(kernel->image.parent_path());
  if (!image) {
    std::cerr << "addfdlab coverage: " << image.error().message() << "\n";
    return kExitUsage;
  }
  const GuestOutcome outcome = RunOnKernel(guest, *kernel, /*stream=*/false);
  const Result<std::string> stdout_text = ReadWholeFile((outcome.run_dir / "stdout.txt").string());
  if (outcome.exit != 0 || !stdout_text) {
    std::cerr << "addfdlab coverage: the guest's collection failed (exit " << outcome.exit << ")"
              << (outcome.problem.empty() ? "" : ": " + outcome.problem) << "; its logs are in "
              << outcome.run_dir.string() << "\n";
    return 1;
  }
  Result<coverage::Collection> collection = coverage::ParseCollection(*stdout_text);
  if (!collection) {
    std::cerr << "addfdlab coverage: " << (outcome.run_dir / "stdout.txt").string() << ": "
              << collection.error().message() << "\n";
    return 1;
  }
  coverage::Report report = coverage::BuildReport(*collection, *image);
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  fs::create_directories(out, ec);
  const std::string text = coverage::RenderText(report);
  for (const auto& [name, contents] :
       {std::pair<std::string, std::string>{"report.txt", text},
        {"report.html", coverage::RenderHtml(report)},
        {"collection.json", coverage::CollectionToJson(*collection)}}) {
    if (Result<void> written = WriteNewFile((out / name).string(), contents, false); !written) {
      std::cerr << "addfdlab coverage: " << written.error().message() << "\n";
      return 1;
    }
  }
  std::cout << text << "\nreport: " << (out / "report.txt").string() << ", "
            << (out / "report.html").string() << "\n";
  return 0;
}

}  // namespace

void AddCoverageCommand(CLI::App& app, Runner& run) {
  auto options = std::make_shared<CoverageOptions>();
  CLI::App* cmd = app.add_subcommand(
      "coverage",
      "Replay a corpus with KCOV in a guest (--vm debug) and report the kernel lines of the "
      "notifier and fd-install functions it reaches");
  cmd->add_option("corpus", options->corpus, "Folders of fuzz inputs or .scn files, or files")
      ->required();
  cmd->add_option("--vm", options->vm,
                  "The kernel to boot: debug (the debug kernel, docs/vm.md), or a bzImage path "
                  "whose folder holds vmlinux and linux/System.map (a debug kernel cache entry)");
  cmd->add_option("--out", options->out,
                  "The report's folder, which must not exist (default work/coverage/<UTC time>)");
  cmd->add_option("--runs", options->runs, "Runs of each input (its PCs must be the same in each)")
      ->check(CLI::Range(1, 100));
  cmd->add_option("--timeout", options->timeout,
                  "Seconds for the guest's replay (default vm run's)");
  cmd->add_option("--time-scale", options->time_scale,
                  "How much slower the guest is, as vm run's (default the kernel's: 50 for debug)");
  cmd->add_option("--work", options->work, "The guest's logs, as vm run's --work");
  cmd->add_option("--findings", options->findings, "Where kernel splats are filed, as vm run's");
  cmd->add_flag("--collect", options->collect,
                "Replay here (a kernel with KCOV: what the guest runs) and print the PCs as JSON");
  cmd->callback([&run, options] {
    if (options->collect == !options->vm.empty()) {
      throw CLI::ValidationError("--vm", "give --vm debug (or --collect on a kernel with KCOV)");
    }
    run = [options] { return options->collect ? RunCollect(*options) : RunCoverage(*options); };
  });
}

}  // namespace addfdlab::tools
