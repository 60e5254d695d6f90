// addfdlab vm: runs an addfdlab subcommand in a QEMU guest on another kernel (a Debian
// kernel package or a bzImage), and manages the cache of kernels (docs/vm.md).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <system_error>
#include <thread>

#include "addfdlab/cells.h"
#include "addfdlab/environment.h"
#include "addfdlab/fuzz_harness.h"
#include "addfdlab/known_deviations.h"
#include "commands.h"
#include "console.h"
#include "guest.h"
#include "initramfs.h"
#include "kernel_cache.h"
#include "matrix.h"
#include "subprocess.h"
#include "vm_runner.h"

extern char** environ;

namespace addfdlab::tools {
namespace {
namespace fs = std::filesystem;

inline constexpr const char* kGuestExit = ADDFDLAB_GUEST_EXIT;
// Ends each command's stdout in a batch: ASCII's record separator, then "<status>\n".
constexpr char kBatchSeparator = '\036';
constexpr uint64_t kMiB = 1024 * 1024;

// vm matrix and vm bisect: the guests' settings are vm run's (`run.kernel` unused).
struct VmMatrixOptions {
  VmRunOptions run;
  std::vector<std::string> kernels;
  bool host = false;
  int jobs = 0;  // 0: the core count
  bool json = false;
  std::string html;
};

struct VmBisectOptions {
  VmRunOptions run;
  std::string repro;
  std::vector<std::string> kernels;
  std::vector<std::string> between;  // two: the first and last package, apt gives the rest
  int runs = 1;
};

struct VmCacheOptions {
  bool list = false;
  bool clean = false;
  bool json = false;
};

// $XDG_CACHE_HOME/addfdlab/vm, else ~/.cache/addfdlab/vm (where scripts/lint_workflows.sh
// keeps its tools too). These are not addfdlab's variables, hence not in environment.h.
fs::path CacheRoot() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    return fs::path(xdg) / "addfdlab" / "vm";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return fs::path(home) / ".cache" / "addfdlab" / "vm";
  }
  return fs::temp_directory_path() / "addfdlab-cache" / "vm";
}

// "NAME=value" of every ADDFDLAB_* variable set here, for the guest's command, which cannot
// inherit them (the internal spawner fd excepted).
std::vector<std::string> AddfdlabVariables() {
  std::vector<std::string> variables;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    if (text.rfind("ADDFDLAB_", 0) == 0 &&
        text.rfind(std::string(kSpawnerFdVariable) + "=", 0) != 0) {
      variables.emplace_back(text);
    }
  }
  return variables;
}

// A command that runs one of VmRunOptions::programs rather than addfdlab.
bool IsGuestProgram(const std::vector<std::string>& command) {
  return !command.empty() && command.front().rfind(kGuestProgramDir, 0) == 0;
}

// `binary` at its own path in the guest without its debug information (a dev build's is ~90%
// of it: the guest unpacks every byte of the archive under TCG), with its libraries.
Result<void> AddStrippedBinary(vm::InitramfsSpec& spec, const fs::path& binary,
                               const fs::path& dir) {
  ADDFDLAB_TRY(spec.AddBinaryWithLibraries(binary));
  const fs::path stripped = dir / (binary.filename().string() + ".stripped");
  if (RunLogged({"objcopy", "--strip-debug", binary.string(), stripped.string()},
                (dir / "objcopy.log").string()) == 0) {
    spec.AddFile(binary, stripped);
  }
  return {};
}

// The initramfs: busybox, init, the static programs of options.programs, and, unless every
// command is one of those, this very binary with its libraries, the corpus, and every file or
// folder the command's arguments name (at their own paths; the guest runs in this folder, so
// relative names work too).
Result<uint64_t> BuildInitramfs(const VmRunOptions& options, double scale, const fs::path& out) {
  vm::InitramfsSpec spec;
  std::error_code ec;
  const fs::path init = fs::path(kSourceDir) / "vm" / "init.sh";
  if (!fs::is_regular_file(init, ec)) return Error(Errno(ENOENT), "missing " + init.string());
  spec.AddFile("/init", init);
  if (!fs::is_regular_file("/bin/busybox", ec)) {
    return Error(Errno(ENOENT), "no /bin/busybox (scripts/deps.sh vm installs busybox-static)");
  }
  ADDFDLAB_TRY(spec.AddBinaryWithLibraries("/bin/busybox"));
  spec.AddFile("/vm/guest-exit", kGuestExit);
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return Error(Errno(ec.value()), "cannot find this binary");
  std::vector<std::vector<std::string>> commands = {options.command};
  commands.insert(commands.end(), options.more.begin(), options.more.end());
  // A static program runs as it is; a guest that runs only such programs carries nothing
  // else (a C reproducer "with nothing else installed").
  const bool addfdlab = std::any_of(commands.begin(), commands.end(),
                                    [](const auto& command) { return !IsGuestProgram(command); });
  for (const auto& [guest, host] : options.programs) spec.AddFile(guest, host);
  for (const char* folder : {"/proc", "/sys", "/dev", "/tmp", "/root"}) spec.AddFolder(folder);
  const uint64_t limit = options.files_limit_mb * kMiB;
  const fs::path cwd = fs::current_path(ec);
  spec.AddFolder(cwd);
  bool within = true;
  if (addfdlab) {
    ADDFDLAB_TRY(AddStrippedBinary(spec, self, out.parent_path()));
    within = spec.AddHostTree(fs::path(kSourceDir) / "corpus", limit);
    if (fs::is_directory(cwd / "corpus", ec))
      within = within && spec.AddHostTree(cwd / "corpus", limit);
  }
  for (const std::vector<std::string>& command : commands) {
    if (IsGuestProgram(command)) continue;
    for (const std::string& arg : command) {
      // An argument, or an --option=value's value, that names something here.
      for (const std::string& candidate :
           {arg, arg.find('=') != std::string::npos ? arg.substr(arg.find('=') + 1) : ""}) {
        if (candidate.empty() || candidate.front() == '-') continue;
        if (fs::exists(candidate, ec)) within = within && spec.AddHostTree(candidate, limit);
      }
    }
  }
  for (const fs::path& binary : options.binaries) {
    ADDFDLAB_TRY(AddStrippedBinary(spec, binary, out.parent_path()));
  }
  for (const auto& [guest, host] : options.trees) {
    within = within && spec.AddHostTreeAt(guest, host, limit);
  }
  if (!within) {
    return Error::Invalid("the files the command names exceed --files-limit (" +
                          std::to_string(options.files_limit_mb) + " MiB)");
  }
  std::string run = "export PATH=/bin HOME=/root";
  std::vector<std::string> variables = AddfdlabVariables();
  for (const std::string& variable : variables) {
    if (variable.rfind("ADDFDLAB_TIME_SCALE=", 0) != 0) run += " " + vm::ShellQuote(variable);
  }
  // A C reproducer's deadlines scale as addfdlab's (docs/reproducers.md).
  run += " ADDFDLAB_TIME_SCALE=" + std::to_string(scale) +
         " REPRO_TIME_SCALE=" + std::to_string(scale) + "\n";
  run += "cd " + vm::ShellQuote(cwd.string()) + " || exit 2\n";
  if (!options.programs.empty()) {
    // A C reproducer checks the RLIMIT_NOFILE hard limit and fs.nr_open it was generated for
    // (here) and skips elsewhere: the guest's own are set to this machine's.
    struct rlimit nofile {};
    if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
      const std::string soft = std::to_string(nofile.rlim_cur);
      if (const uint64_t nr_open = ReadNrOpen(); nr_open > 0) {
        run += "echo " + std::to_string(nr_open) + " >/proc/sys/fs/nr_open\n";
      }
      run += "ulimit -Sn " + soft + " 2>/dev/null; ulimit -Hn " + std::to_string(nofile.rlim_max) +
             "; ulimit -Sn " + soft + "\n";
    }
  }
  const auto command_line = [&](const std::vector<std::string>& command) {
    std::string line = IsGuestProgram(command) ? "" : vm::ShellQuote(self.string()) + " ";
    for (size_t i = 0; i < command.size(); ++i) {
      line += (i == 0 ? "" : " ") + vm::ShellQuote(command[i]);
    }
    return line;
  };
  // The files that come back: a tar on the fourth port, whatever the status.
  std::string back;
  for (const std::string& path : options.bring_back) {
    back += " " + vm::ShellQuote(fs::path(path).relative_path().string());
  }
  if (!back.empty()) back = "tar -cf /dev/ttyS3 -C /" + back + " 2>/dev/null\n";
  if (options.more.empty() && back.empty()) {
    run += "exec " + command_line(options.command);
  } else if (options.more.empty()) {
    run += command_line(options.command) + "\nstatus=$?\n" + back + "exit $status";
  } else {
    for (const std::vector<std::string>& command : commands) {
      run += command_line(command) + "; printf '\\036%d\\n' $?\n";
    }
    run += back + "exit 0";
  }
  spec.AddText("/vm/run.sh", run + "\n", 0755);
  return spec.Write(out);
}

// --time N in the command: the guest needs that much longer.
double CommandSeconds(const std::vector<std::string>& command) {
  for (size_t i = 0; i + 1 < command.size(); ++i) {
    if (command[i] == "--time") return std::atof(command[i + 1].c_str());
  }
  for (const std::string& arg : command) {
    if (arg.rfind("--time=", 0) == 0) return std::atof(arg.c_str() + 7);
  }
  return 0;
}

// A kernel splat is a finding: the console is filed under --findings with the command.
void FileSplat(const VmRunOptions& options, const Kernel& kernel, const vm::GuestRun& run,
               const fs::path& run_dir) {
  const vm::KernelTrouble& first = run.trouble.front();
  std::string kind = first.kind;
  for (char& c : kind) {
    if (c == ' ') c = '-';
  }
  // The run folder's name already says "<UTC time>-<kernel>".
  const fs::path dir =
      fs::path(options.findings) / ("vm-" + kind + "-" + run_dir.filename().string());
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::ofstream(dir / "console.log") << run.console;
  std::ofstream command(dir / "command.txt");
  command << "addfdlab vm run --kernel " << kernel.label << " --";
  for (const std::string& arg : options.command) command << " " << vm::ShellQuote(arg);
  command << "\n";
  std::cerr << "vm " << kernel.label << ": kernel trouble on the console (" << run.trouble.size()
            << " report" << (run.trouble.size() == 1 ? "" : "s") << "), filed in " << dir.string()
            << "\n";
  for (const vm::KernelTrouble& trouble : run.trouble) {
    std::cerr << "--- " << trouble.kind << " at console line " << trouble.line << ": "
              << trouble.title << "\n"
              << trouble.excerpt;
  }
}

// vm run: `c_source`, when given, is a C reproducer built here (gcc -static) and run in a
// guest that holds nothing else.
int RunVmRun(VmRunOptions options, const std::string& c_source) {
  InterruptScope interrupt;
  Result<Kernel> kernel = ResolveKernel(options);
  if (!kernel) {
    std::cerr << "addfdlab vm run: " << kernel.error().message() << "\n";
    return kExitUsage;
  }
  if (!c_source.empty()) {
    const fs::path dir =
        fs::absolute(fs::path(options.work) / ("c-" + Stamp() + "-" + std::to_string(::getpid())));
    std::error_code ec;
    fs::create_directories(dir, ec);
    const fs::path binary = dir / "repro";
    if (const Result<void> built = BuildStaticProgram(c_source, binary, dir / "gcc.log"); !built) {
      std::cerr << "addfdlab vm run: " << built.error().message() << "\n";
      return kExitUsage;
    }
    const std::string guest = std::string(kGuestProgramDir) + "repro";
    options.programs.emplace_back(guest, binary);
    options.command = {guest};
  }
  return RunOnKernel(options, *kernel, /*stream=*/true).exit;
}

// The guest command(s) of a matrix: `contract --json`, or one `repro FILE --json` per file.
Result<std::vector<std::vector<std::string>>> MatrixCommands(
    const std::vector<std::string>& command, std::vector<std::string>& files) {
  if (command.empty()) return Error::Invalid("give `-- contract` or `-- repro FILES...`");
  std::vector<std::vector<std::string>> commands;
  if (command.front() == "contract") {
    std::vector<std::string> contract = command;
    contract.push_back("--json");
    commands.push_back(contract);
    return commands;
  }
  if (command.front() != "repro") {
    return Error::Invalid("vm matrix runs `contract` or `repro FILES...`, not " + command.front());
  }
  std::vector<std::string> options;  // passed to every repro (--runs N, --known FILE)
  for (size_t i = 1; i < command.size(); ++i) {
    if (command[i].rfind("--", 0) == 0) {
      options.push_back(command[i]);
      if (command[i].find('=') == std::string::npos && i + 1 < command.size()) {
        options.push_back(command[++i]);
      }
    } else {
      files.push_back(command[i]);
    }
  }
  if (files.empty()) return Error::Invalid("repro needs at least one file");
  for (const std::string& file : files) {
    std::vector<std::string> repro = {"repro", file, "--json"};
    repro.insert(repro.end(), options.begin(), options.end());
    commands.push_back(repro);
  }
  return commands;
}

// Runs `commands` on the host: this binary, each in turn.
std::vector<vm::KernelRun> RunOnHost(const std::vector<std::vector<std::string>>& commands) {
  std::error_code ec;
  const std::string self = fs::read_symlink("/proc/self/exe", ec).string();
  std::vector<vm::KernelRun> runs;
  for (const std::vector<std::string>& command : commands) {
    std::vector<std::string> argv = {self};
    argv.insert(argv.end(), command.begin(), command.end());
    const auto start = std::chrono::steady_clock::now();
    const std::string out = Capture(argv, std::chrono::minutes(10));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    runs.push_back({"host", out.empty() ? -1 : 0, out.empty() ? "no output" : "", out, seconds});
  }
  std::cerr << "vm host: " << commands.front().front() << " done\n";
  return runs;
}

int RunVmMatrix(VmMatrixOptions options) {
  const auto start = std::chrono::steady_clock::now();
  InterruptScope interrupt;
  std::vector<std::string> files;
  const Result<std::vector<std::vector<std::string>>> commands =
      MatrixCommands(options.run.command, files);
  if (!commands) {
    std::cerr << "addfdlab vm matrix: " << commands.error().message() << "\n";
    return kExitUsage;
  }
  // The list that explains known rows, as `repro` finds it: read before any guest boots, so
  // that a malformed one is a usage error, not a table without its explanations.
  const Result<std::vector<KnownDeviation>> known =
      LoadKnownDeviations(KnownDeviationsPath(RepositoryKnownDeviations()));
  if (!known) {
    std::cerr << "addfdlab vm matrix: " << known.error().message() << "\n";
    return kExitUsage;
  }
  // Every kernel first (fetches one at a time: apt and the cache are not shared), then
  // the boots in parallel.
  std::vector<Kernel> kernels;
  for (const std::string& name : options.kernels) {
    VmRunOptions one = options.run;
    one.kernel = name;
    Result<Kernel> kernel = ResolveKernel(one);
    if (!kernel) {
      std::cerr << "addfdlab vm matrix: " << kernel.error().message() << "\n";
      return kExitUsage;
    }
    kernels.push_back(std::move(*kernel));
  }
  VmRunOptions guest = options.run;
  guest.command = commands->front();
  guest.more.assign(commands->begin() + 1, commands->end());
  // The host's run while the guests boot: it takes a second or two.
  std::vector<vm::KernelRun> host;
  std::thread host_thread;
  if (options.host) host_thread = std::thread([&] { host = RunOnHost(*commands); });
  std::vector<std::vector<vm::KernelRun>> runs = RunOnKernels(guest, kernels, options.jobs);
  if (host_thread.joinable()) host_thread.join();
  if (options.host) runs.push_back(std::move(host));
  const size_t jobs = std::min<size_t>(
      kernels.size(), options.jobs > 0 ? static_cast<size_t>(options.jobs)
                                       : std::max(1u, std::thread::hardware_concurrency()));

  vm::Matrix matrix;
  if (files.empty()) {
    std::vector<vm::KernelRun> contract;
    for (const std::vector<vm::KernelRun>& kernel : runs) contract.push_back(kernel.front());
    matrix = vm::BuildContractMatrix(contract, *known);
  } else {
    matrix = vm::BuildReproMatrix(files, runs, *known);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (options.json) {
    nlohmann::json json = vm::MatrixJson(matrix);
    json["seconds"] = seconds;
    std::cout << json.dump(2) << "\n";
  } else {
    std::cout << vm::FormatMatrixText(matrix);
    char line[96];
    std::snprintf(line, sizeof(line), "%zu kernels in %.1f s (%zu at a time)\n",
                  matrix.columns.size(), seconds, jobs);
    std::cout << line;
  }
  if (!options.html.empty()) {
    std::ofstream out(options.html);
    out << vm::MatrixHtml(matrix, "addfdlab vm matrix: " + options.run.command.front());
    if (!out) {
      std::cerr << "addfdlab vm matrix: cannot write " << options.html << "\n";
      return kExitUsage;
    }
    std::cerr << "vm matrix: " << options.html << "\n";
  }
  if (Interrupted()) return 1;
  bool complete = true;
  for (const vm::MatrixColumn& column : matrix.columns)
    complete = complete && column.problem.empty();
  for (const vm::MatrixRow& row : matrix.rows) {
    for (const std::string& status : row.statuses) complete = complete && status != "DEVIATES";
  }
  return complete ? 0 : 1;
}

int RunVmBisect(VmBisectOptions options) {
  InterruptScope interrupt;
  if (!options.between.empty()) {
    Result<std::vector<std::string>> between =
        AptKernelsBetween(options.between[0], options.between[1], options.run.flavour);
    if (!between) {
      std::cerr << "addfdlab vm bisect: " << between.error().message() << "\n";
      return kExitUsage;
    }
    options.kernels = std::move(*between);
  }
  std::cerr << "vm bisect: " << options.kernels.size() << " kernels, " << options.kernels.front()
            << " ... " << options.kernels.back() << "\n";
  size_t boot = 0;
  const BisectOutcome outcome =
      BisectRepro(options.run, options.repro, options.runs, options.kernels,
                  [&](size_t index, const vm::ReproVerdict& verdict) {
                    std::cout << "boot " << ++boot << ": " << options.kernels[index] << ": "
                              << verdict.status << "\n";
                    if (verdict.status == "-") std::cout << "  " << verdict.lines.front() << "\n";
                  });
  if (!outcome.problem.empty()) {
    std::cerr << "addfdlab vm bisect: " << outcome.problem << "\n";
    return outcome.unresolved ? kExitUsage : 1;
  }
  const std::vector<std::optional<vm::ReproVerdict>>& verdicts = outcome.verdicts;
  const auto evidence = [&](size_t index) {
    std::cout << "  " << options.kernels[index] << ": " << verdicts[index]->status << "\n";
    for (const std::string& line : verdicts[index]->lines) std::cout << "    " << line << "\n";
  };
  const std::optional<size_t> changed = outcome.changed;
  if (!changed) {
    std::cout << "no change: the first and last kernels give the same verdict (" << outcome.boots
              << " boots)\n";
    evidence(0);
    if (options.kernels.size() > 1) evidence(options.kernels.size() - 1);
    return 1;
  }
  std::cout << "first kernel with the other verdict: " << options.kernels[*changed] << " ("
            << outcome.boots << " boots for " << options.kernels.size() << " kernels)\n";
  evidence(outcome.last_same);
  evidence(*changed);
  return 0;
}

int RunVmCache(const VmCacheOptions& options) {
  vm::KernelCache cache(CacheRoot(), 0);
  if (options.clean) {
    const Result<size_t> removed = cache.Clean();
    if (!removed) {
      std::cerr << "addfdlab vm cache: " << removed.error().ToString() << "\n";
      return 1;
    }
    std::cout << "removed " << *removed << " entries from " << cache.root().string() << "\n";
    return 0;
  }
  const std::vector<vm::CachedKernel> entries = cache.List();
  if (options.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const vm::CachedKernel& entry : entries) {
      list.push_back({{"package", entry.package},
                      {"version", entry.version},
                      {"bytes", entry.bytes},
                      {"image", entry.image().string()}});
    }
    std::cout << nlohmann::json{{"cache", cache.root().string()}, {"kernels", list}}.dump(2)
              << "\n";
    return 0;
  }
  uint64_t total = 0;
  std::cout << "cache: " << cache.root().string() << "\n";
  for (const vm::CachedKernel& entry : entries) {
    char line[256];
    std::snprintf(line, sizeof(line), "%-50s %-20s %7.1f MiB\n", entry.package.c_str(),
                  entry.version.c_str(), static_cast<double>(entry.bytes) / kMiB);
    std::cout << line;
    total += entry.bytes;
  }
  char line[64];
  std::snprintf(line, sizeof(line), "%zu kernel%s, %.1f MiB\n", entries.size(),
                entries.size() == 1 ? "" : "s", static_cast<double>(total) / kMiB);
  std::cout << line;
  return 0;
}

}  // namespace

bool IsDebugKernel(std::string_view kernel) {
  const std::string variant_prefix = std::string(kDebugKernel) + "-";
  return kernel == kDebugKernel ||
         (kernel.size() > variant_prefix.size() && kernel.rfind(variant_prefix, 0) == 0);
}

// --kernel: a bzImage path, or a Debian package (fetched into the cache when missing).
// The debug kernel's (or its variant's) cache entry, built first when it is not there (minutes: the
// script's progress lines go to stderr as they come).
Result<fs::path> DebugKernelEntry(const std::string& variant) {
  const fs::path script = fs::path(kSourceDir) / "vm" / "debug-kernel" / "build.sh";
  std::error_code ec;
  if (!fs::is_regular_file(script, ec)) return Error(Errno(ENOENT), "missing " + script.string());
  std::vector<std::string> build = {"sh", script.string(), "--cache", CacheRoot().string()};
  if (!variant.empty()) {
    if (!fs::is_directory(script.parent_path() / "variants" / variant, ec)) {
      return Error::Invalid("--kernel debug-" + variant + ": no variant " + variant + " in " +
                            (script.parent_path() / "variants").string());
    }
    build.insert(build.end(), {"--variant", variant});
  }
  std::vector<std::string> cached = build;
  cached.push_back("--cached");
  std::string entry = Capture(cached, std::chrono::seconds(60));
  if (entry.empty()) {
    std::cerr << "vm debug: building the debug kernel (first use of this configuration; "
                 "minutes on idle cores, far longer on busy ones: it runs under nice -n 19)\n";
    SpawnOptions spawn;
    spawn.stdout_to = Output::kNull;
    spawn.forward_interrupt = true;
    std::optional<Subprocess> builder = Subprocess::Spawn(build, spawn);
    if (!builder) return Error(Errno(ENOENT), "cannot start sh");
    const ExitStatus status = builder->Wait(Subprocess::Clock::now() + std::chrono::hours(3));
    if (status.code() != 0) {
      return Error(Errno(EIO), "building the debug kernel: " + status.Problem());
    }
    entry = Capture(cached, std::chrono::seconds(60));
  }
  while (!entry.empty() && entry.back() == '\n') entry.pop_back();
  if (entry.empty() || !fs::is_regular_file(fs::path(entry) / "bzImage", ec)) {
    return Error(Errno(EIO), "the debug kernel's cache entry has no bzImage (" + entry + ")");
  }
  return fs::path(entry);
}

std::string Stamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y%m%d-%H%M%S", &tm);
  return text;
}

Result<Kernel> ResolveKernel(const VmRunOptions& options) {
  std::error_code ec;
  if (options.kernel.find('/') != std::string::npos || fs::is_regular_file(options.kernel, ec)) {
    if (!fs::is_regular_file(options.kernel, ec)) {
      return Error::Invalid("--kernel " + options.kernel + ": no such file");
    }
    return Kernel{fs::absolute(options.kernel), fs::path(options.kernel).filename().string()};
  }
  if (IsDebugKernel(options.kernel)) {
    const std::string variant =
        options.kernel == kDebugKernel ? "" : options.kernel.substr(kDebugKernel.size() + 1);
    Result<fs::path> entry = DebugKernelEntry(variant);
    if (!entry) return std::move(entry).error();
    return Kernel{*entry / "bzImage", options.kernel, kDebugTimeScale};
  }
  vm::KernelCache cache(CacheRoot(), options.cache_limit_mb * kMiB);
  const std::vector<std::string> candidates =
      vm::KernelPackageCandidates(options.kernel, options.flavour);
  for (const std::string& package : candidates) {
    if (cache.Find(package) || !vm::AptCandidateVersion(package).empty()) {
      Result<vm::CachedKernel> entry =
          cache.Get(package, std::chrono::seconds(600),
                    [](std::string_view step) { std::cerr << "vm: " << step << "\n"; });
      if (!entry) return std::move(entry).error();
      return Kernel{entry->image(), options.kernel};
    }
  }
  std::string tried;
  for (const std::string& package : candidates) tried += " " + package;
  return Error::Invalid("--kernel " + options.kernel + ": apt knows none of" + tried +
                        " (apt-cache search linux-image | grep cloud-amd64-unsigned lists them)");
}

// Boots `kernel` and runs the command(s): vm run's work once the kernel is resolved.
// `stream`: the command's output is copied to ours while it runs (vm run), else only into
// the run folder (vm matrix, vm bisect: several guests at once, their JSON read after).
GuestOutcome RunOnKernel(const VmRunOptions& options, const Kernel& kernel, bool stream) {
  const double scale = (options.time_scale > 0 ? options.time_scale : kernel.time_scale) *
                       ReadEnvironment().time_scale;
  GuestOutcome outcome;
  std::string label = kernel.label;
  for (char& c : label) {
    if (c == '/' || c == ' ') c = '_';
  }
  const fs::path run_dir = fs::absolute(fs::path(options.work) / (Stamp() + "-" + label));
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  outcome.run_dir = run_dir;
  if (ec) {
    outcome.problem = "cannot create " + run_dir.string();
    std::cerr << "addfdlab vm run: " << outcome.problem << "\n";
    outcome.exit = kExitUsage;
    return outcome;
  }
  const fs::path initramfs = run_dir / "initramfs.cpio";
  const Result<uint64_t> size = BuildInitramfs(options, scale, initramfs);
  if (!size) {
    outcome.problem = "initramfs: " + size.error().ToString();
    std::cerr << "addfdlab vm run: " << outcome.problem << "\n";
    outcome.exit = kExitUsage;
    return outcome;
  }
  vm::GuestOptions guest;
  guest.kernel = kernel.image;
  guest.initramfs = initramfs;
  guest.run_dir = run_dir;
  guest.memory_mb = options.memory_mb;
  guest.cpus = options.cpus;
  guest.kernel_args = options.kernel_args;
  guest.cpu_model = options.cpu_model;
  const auto seconds = [](double s) {
    return std::chrono::milliseconds(static_cast<int64_t>(s * 1000));
  };
  guest.boot_timeout = seconds(options.boot_timeout > 0 ? options.boot_timeout : 10 * scale);
  guest.command_timeout =
      seconds(options.timeout > 0 ? options.timeout : 30 * scale + CommandSeconds(options.command));
  guest.label = kernel.label;
  guest.command = options.command.front();
  guest.stream_output = stream;
  guest.progress_on_tty = stream;
  const vm::GuestRun run = vm::RunGuest(guest);
  // Rebuilt every run in well under a second; the logs stay.
  fs::remove(initramfs, ec);
  for (const auto& entry : fs::directory_iterator(run_dir, ec)) {
    if (entry.path().extension() == ".stripped") fs::remove(entry.path(), ec);
  }
  const fs::path back_tar = run_dir / vm::kBackTar;
  const uintmax_t back_bytes = fs::file_size(back_tar, ec);
  if (!options.bring_back.empty() && !ec && back_bytes > 0) {
    outcome.back = run_dir / "back";
    fs::create_directories(outcome.back, ec);
    if (RunLogged({"tar", "-xf", back_tar.string(), "-C", outcome.back.string()},
                  (run_dir / "tar.log").string()) != 0) {
      std::cerr << "vm " << kernel.label << ": the files brought back do not unpack (see "
                << (run_dir / "tar.log").string() << ")\n";
    }
  }

  int exit = 1;
  const std::string where = "vm " + kernel.label + ": ";
  switch (run.end) {
    case vm::GuestRun::End::kExited:
      exit = run.status;
      break;
    case vm::GuestRun::End::kNoStatus:
      outcome.problem = "no exit status (a panic, or init died)";
      std::cerr << where << "the guest ended without an exit status (a panic, or init died)";
      // A splat is printed below in full; otherwise the console's end says what happened.
      if (run.trouble.empty()) {
        std::cerr << "; the console's end:\n" << vm::Tail(run.console, 30);
      } else {
        std::cerr << "\n";
      }
      break;
    case vm::GuestRun::End::kBootHang:
      outcome.problem = "hung at boot";
      std::cerr << where << "hung: the guest did not start the command within "
                << guest.boot_timeout.count() / 1000 << " s and was stopped; the console's end:\n"
                << vm::Tail(run.console, 30);
      break;
    case vm::GuestRun::End::kCommandHang:
      outcome.problem = "the command hung";
      std::cerr << where << "hung: " << guest.command << " did not finish within "
                << guest.command_timeout.count() / 1000
                << " s and the guest was stopped; the console's end:\n"
                << vm::Tail(run.console, 30);
      break;
    case vm::GuestRun::End::kInterrupted:
      outcome.problem = "interrupted";
      std::cerr << where << "interrupted; the guest was stopped\n";
      break;
    case vm::GuestRun::End::kQemuFailed:
      std::cerr << where << run.qemu_problem << "\n";
      outcome.problem = "QEMU failed (" + (run_dir / "qemu.log").string() + ")";
      exit = kExitUsage;
      break;
  }
  if (!run.trouble.empty()) {
    FileSplat(options, kernel, run, run_dir);
    if (exit == 0) exit = 1;
    if (outcome.problem.empty()) outcome.problem = "kernel trouble: " + run.trouble.front().kind;
  }
  char summary[160];
  if (run.boot_seconds >= 0) {
    std::snprintf(summary, sizeof(summary), "%.1f s (boot %.1f s), initramfs %.1f MiB", run.seconds,
                  run.boot_seconds, static_cast<double>(*size) / kMiB);
  } else {
    std::snprintf(summary, sizeof(summary),
                  "%.1f s (the command never started), initramfs %.1f MiB", run.seconds,
                  static_cast<double>(*size) / kMiB);
  }
  std::cerr << where << guest.command << " exit " << exit << " in " << summary << "; logs in "
            << run_dir.string() << "\n";
  outcome.exit = exit;
  outcome.seconds = run.seconds;
  return outcome;
}

// A guest's stdout split into each batch command's output (kBatchSeparator, then the
// status), or the whole of it as one run.
std::vector<vm::KernelRun> ReadRuns(const std::string& kernel, const GuestOutcome& outcome,
                                    size_t commands) {
  std::ifstream in(outcome.run_dir / "stdout.txt", std::ios::binary);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::vector<vm::KernelRun> runs;
  if (commands == 1) {
    runs.push_back({kernel, outcome.exit, outcome.problem, text, outcome.seconds});
    return runs;
  }
  size_t at = 0;
  for (size_t i = 0; i < commands; ++i) {
    const size_t end = text.find(kBatchSeparator, at);
    if (end == std::string::npos) {
      runs.push_back({kernel, -1, outcome.problem.empty() ? "no output" : outcome.problem, "",
                      outcome.seconds});
      continue;
    }
    const size_t line_end = text.find('\n', end);
    runs.push_back({kernel, std::atoi(text.c_str() + end + 1), "", text.substr(at, end - at),
                    outcome.seconds / static_cast<double>(commands)});
    at = line_end == std::string::npos ? text.size() : line_end + 1;
  }
  return runs;
}

std::vector<std::vector<vm::KernelRun>> RunOnKernels(const VmRunOptions& guest,
                                                     const std::vector<Kernel>& kernels,
                                                     int jobs_asked) {
  const size_t commands = 1 + guest.more.size();
  std::vector<std::vector<vm::KernelRun>> runs(kernels.size());
  const size_t jobs = std::min<size_t>(
      kernels.size(), jobs_asked > 0 ? static_cast<size_t>(jobs_asked)
                                     : std::max(1u, std::thread::hardware_concurrency()));
  std::atomic<size_t> next{0};
  std::vector<std::thread> workers;
  for (size_t j = 0; j < jobs; ++j) {
    workers.emplace_back([&] {
      for (size_t k = next++; k < kernels.size(); k = next++) {
        if (Interrupted()) {
          runs[k].assign(commands, {kernels[k].label, -1, "interrupted", "", 0});
          continue;
        }
        const GuestOutcome outcome = RunOnKernel(guest, kernels[k], /*stream=*/false);
        runs[k] = ReadRuns(kernels[k].label, outcome, commands);
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  return runs;
}

Result<void> BuildStaticProgram(const fs::path& source, const fs::path& out, const fs::path& log) {
  std::error_code ec;
  if (!fs::is_regular_file(source, ec)) return Error::Invalid(source.string() + ": no such file");
  if (RunLogged({"gcc", "-static", "-O2", "-pthread", source.string(), "-o", out.string()},
                log.string()) != 0 ||
      !fs::is_regular_file(out, ec)) {
    return Error::Invalid("gcc -static " + source.string() + " failed (" + log.string() +
                          "; static linking needs libc6-dev)");
  }
  return {};
}

BisectOutcome BisectRepro(VmRunOptions guest, const std::string& repro, int runs,
                          const std::vector<std::string>& kernels,
                          const std::function<void(size_t, const vm::ReproVerdict&)>& on_boot) {
  guest.command = {"repro", repro, "--json"};
  guest.more.clear();
  if (runs > 1) {
    guest.command.push_back("--runs");
    guest.command.push_back(std::to_string(runs));
  }
  BisectOutcome outcome;
  outcome.verdicts.resize(kernels.size());
  vm::Bisection bisection(kernels.size());
  while (const std::optional<size_t> index = bisection.Next()) {
    guest.kernel = kernels[*index];
    Result<Kernel> kernel = ResolveKernel(guest);
    if (!kernel) {
      outcome.problem = kernel.error().message();
      outcome.unresolved = true;
      return outcome;
    }
    const GuestOutcome run = RunOnKernel(guest, *kernel, /*stream=*/false);
    const vm::ReproVerdict verdict = vm::ReadReproVerdict(ReadRuns(kernel->label, run, 1)[0]);
    ++outcome.boots;
    if (on_boot) on_boot(*index, verdict);
    if (verdict.status == "-") {
      // No verdict is no evidence either way: the search cannot go on past it.
      outcome.problem = "no verdict from " + kernels[*index];
      return outcome;
    }
    outcome.verdicts[*index] = verdict;
    bisection.Record(*index, verdict.key);
  }
  outcome.changed = bisection.FirstChanged();
  outcome.last_same = bisection.LastSame();
  return outcome;
}

// The packages from `first` to `last` that apt offers, in version order.
Result<std::vector<std::string>> AptKernelsBetween(const std::string& first_kernel,
                                                   const std::string& last_kernel,
                                                   const std::string& flavour) {
  const auto package = [&](const std::string& kernel) -> std::string {
    for (const std::string& candidate : vm::KernelPackageCandidates(kernel, flavour)) {
      if (!vm::AptCandidateVersion(candidate).empty()) return candidate;
    }
    return "";
  };
  const std::string first = package(first_kernel);
  const std::string last = package(last_kernel);
  if (first.empty() || last.empty()) {
    return Error::Invalid("apt knows no package for " +
                          (first.empty() ? first_kernel : last_kernel));
  }
  const std::string listing =
      Capture({"apt-cache", "search", "--names-only", "^linux-image-"}, std::chrono::seconds(60));
  std::vector<std::string> all;
  std::istringstream lines(listing);
  for (std::string line; std::getline(lines, line);) all.push_back(line.substr(0, line.find(' ')));
  std::vector<std::string> between = vm::KernelsBetween(all, first, last);
  if (between.size() < 2) return Error::Invalid("apt offers fewer than two kernels in between");
  return between;
}

void AddVmCommand(CLI::App& app, Runner& run) {
  CLI::App* vm = app.add_subcommand(
      "vm", "Run a subcommand in a QEMU guest on another kernel; manage the kernel cache");
  vm->require_subcommand(1);

  auto options = std::make_shared<VmRunOptions>();
  CLI::App* run_cmd = vm->add_subcommand(
      "run", "Run `addfdlab <command...>` in a guest: its output and exit status as here");
  run_cmd
      ->add_option("--kernel", options->kernel,
                   "A Debian kernel (6.1.0-57, 6.12.118, a flavoured release or a package "
                   "name), `debug` (built from linux-source-6.12 on first use), `debug-NAME` "
                   "(its variant vm/debug-kernel/variants/NAME: debug-unfixed) or a bzImage "
                   "path")
      ->required();
  run_cmd->add_option("--flavour", options->flavour, "Debian kernel flavour for a bare version")
      ->capture_default_str();
  run_cmd
      ->add_option("--time-scale", options->time_scale,
                   "Guest slowness against the host: scales every deadline and is the "
                   "guest's ADDFDLAB_TIME_SCALE (times this one's); default 10, 50 for the "
                   "debug kernel")
      ->check(CLI::PositiveNumber);
  run_cmd
      ->add_option("--timeout", options->timeout,
                   "Seconds the command may take in the guest (default 30 x scale, plus "
                   "the command's --time)")
      ->check(CLI::PositiveNumber);
  run_cmd
      ->add_option("--boot-timeout", options->boot_timeout,
                   "Seconds until the guest starts the command (default 10 x scale)")
      ->check(CLI::PositiveNumber);
  run_cmd->add_option("--memory", options->memory_mb, "Guest memory in MiB")
      ->capture_default_str()
      ->check(CLI::Range(128, 65536));
  run_cmd->add_option("--cpus", options->cpus, "Guest CPUs")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  run_cmd->add_option("--kernel-args", options->kernel_args, "Appended to the guest's cmdline");
  run_cmd->add_option("--work", options->work, "Where each run's logs go")->capture_default_str();
  run_cmd->add_option("--findings", options->findings, "Where kernel splats are filed")
      ->capture_default_str();
  run_cmd->add_option("--cache-limit", options->cache_limit_mb, "Kernel cache size limit in MiB")
      ->capture_default_str();
  run_cmd
      ->add_option("--files-limit", options->files_limit_mb,
                   "Size limit in MiB of the files the command names")
      ->capture_default_str();
  auto c_source = std::make_shared<std::string>();
  run_cmd
      ->add_option("--c", *c_source,
                   "A C reproducer (repro --emit-c) instead of a command: built here with "
                   "gcc -static and run alone in the guest (TAP; exit 0, 1 or 4)")
      ->check(CLI::ExistingFile);
  run_cmd->add_option("command", options->command, "The addfdlab subcommand and its arguments");
  run_cmd->callback([&run, options, c_source] {
    if (c_source->empty() == options->command.empty()) {
      throw CLI::ValidationError("command", "give either `-- COMMAND...` or --c FILE");
    }
    run = [options, c_source] { return RunVmRun(*options, *c_source); };
  });

  // The guest options vm matrix and vm bisect share with vm run.
  const auto guest_options = [](CLI::App* cmd, VmRunOptions& o) {
    cmd->add_option("--flavour", o.flavour, "Debian kernel flavour for a bare version")
        ->capture_default_str();
    cmd->add_option("--time-scale", o.time_scale,
                    "Guest slowness against the host (default 10, 50 for the debug kernel)")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--timeout", o.timeout, "Seconds the command may take in each guest")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--boot-timeout", o.boot_timeout, "Seconds until each guest runs it")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--memory", o.memory_mb, "Guest memory in MiB")
        ->capture_default_str()
        ->check(CLI::Range(128, 65536));
    cmd->add_option("--cpus", o.cpus, "Guest CPUs")
        ->capture_default_str()
        ->check(CLI::Range(1, 64));
    cmd->add_option("--work", o.work, "Where each run's logs go")->capture_default_str();
    cmd->add_option("--findings", o.findings, "Where kernel splats are filed")
        ->capture_default_str();
    cmd->add_option("--cache-limit", o.cache_limit_mb, "Kernel cache size limit in MiB")
        ->capture_default_str();
  };

  auto matrix_options = std::make_shared<VmMatrixOptions>();
  CLI::App* matrix_cmd = vm->add_subcommand(
      "matrix",
      "Run `contract` or `repro FILES...` on several kernels: one table, differences "
      "explained by cell");
  matrix_cmd
      ->add_option("--kernels", matrix_options->kernels, "Kernels, comma-separated (as vm run)")
      ->delimiter(',')
      ->required();
  matrix_cmd->add_flag("--host", matrix_options->host, "A column for this machine's kernel too");
  matrix_cmd->add_option("--jobs", matrix_options->jobs, "Guests at once (default: the cores)")
      ->check(CLI::Range(1, 64));
  matrix_cmd->add_flag("--json", matrix_options->json, "Print JSON");
  matrix_cmd->add_option("--html", matrix_options->html, "Also write the table as an HTML page");
  guest_options(matrix_cmd, matrix_options->run);
  matrix_cmd->add_option("command", matrix_options->run.command, "contract | repro FILES...")
      ->required();
  matrix_cmd->callback(
      [&run, matrix_options] { run = [matrix_options] { return RunVmMatrix(*matrix_options); }; });

  auto bisect_options = std::make_shared<VmBisectOptions>();
  CLI::App* bisect_cmd = vm->add_subcommand(
      "bisect", "The first kernel of an ordered list where `repro FILE`'s verdict changes");
  bisect_cmd->add_option("--repro", bisect_options->repro, "The scenario")
      ->required()
      ->check(CLI::ExistingFile);
  CLI::Option* kernels =
      bisect_cmd
          ->add_option("--kernels", bisect_options->kernels, "Kernels in order, comma-separated")
          ->delimiter(',');
  bisect_cmd
      ->add_option("--between", bisect_options->between,
                   "The first and last kernel: apt's packages in between, in version order")
      ->expected(2)
      ->excludes(kernels);
  bisect_cmd->add_option("--runs", bisect_options->runs, "Replays per kernel (repro --runs)")
      ->check(CLI::Range(1, 1000));
  guest_options(bisect_cmd, bisect_options->run);
  bisect_cmd->callback([&run, bisect_options] {
    if (bisect_options->kernels.empty() && bisect_options->between.empty()) {
      throw CLI::ValidationError("--kernels or --between", "one of them is required");
    }
    run = [bisect_options] { return RunVmBisect(*bisect_options); };
  });

  auto cache_options = std::make_shared<VmCacheOptions>();
  CLI::App* cache_cmd = vm->add_subcommand("cache", "List or empty the kernel cache");
  CLI::Option* list = cache_cmd->add_flag("--list", cache_options->list, "List cached kernels");
  cache_cmd->add_flag("--clean", cache_options->clean, "Remove every cached kernel")
      ->excludes(list);
  cache_cmd->add_flag("--json", cache_options->json, "--list as JSON");
  cache_cmd->callback(
      [&run, cache_options] { run = [cache_options] { return RunVmCache(*cache_options); }; });
}

}  // namespace addfdlab::tools
