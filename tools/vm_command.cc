// addfdlab vm: runs an addfdlab subcommand in a QEMU guest on another kernel (a Debian
// kernel package or a bzImage), and manages the cache of kernels (docs/vm.md).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <system_error>

#include "addfdlab/environment.h"
#include "commands.h"
#include "console.h"
#include "guest.h"
#include "initramfs.h"
#include "kernel_cache.h"
#include "subprocess.h"

extern char** environ;

namespace addfdlab::tools {
namespace {
namespace fs = std::filesystem;

inline constexpr const char* kGuestExit = ADDFDLAB_GUEST_EXIT;
constexpr uint64_t kMiB = 1024 * 1024;

struct VmRunOptions {
  std::string kernel;
  std::string flavour = "cloud-amd64";
  std::vector<std::string> command;
  double time_scale = 10;   // TCG against the host; times ADDFDLAB_TIME_SCALE here
  double timeout = 0;       // seconds for the command in the guest; 0: 30 s scaled, + --time
  double boot_timeout = 0;  // seconds from QEMU's start to the command; 0: 10 s scaled
  int memory_mb = 1024;
  int cpus = 2;
  std::string kernel_args;
  std::string work = "work/vm";
  std::string findings = "findings";
  uint64_t cache_limit_mb = 1024;
  uint64_t files_limit_mb = 256;
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

std::string Stamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y%m%d-%H%M%S", &tm);
  return text;
}

// A kernel ready to boot: its image and the name the progress line and logs give it.
struct Kernel {
  fs::path image;
  std::string label;
};

// --kernel: a bzImage path, or a Debian package (fetched into the cache when missing).
Result<Kernel> ResolveKernel(const VmRunOptions& options) {
  std::error_code ec;
  if (options.kernel.find('/') != std::string::npos || fs::is_regular_file(options.kernel, ec)) {
    if (!fs::is_regular_file(options.kernel, ec)) {
      return Error::Invalid("--kernel " + options.kernel + ": no such file");
    }
    return Kernel{fs::absolute(options.kernel), fs::path(options.kernel).filename().string()};
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

// The initramfs: busybox, init, this very binary with its libraries, the corpus, and every
// file or folder the command's arguments name (at their own paths; the guest runs in this
// folder, so relative names work too).
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
  ADDFDLAB_TRY(spec.AddBinaryWithLibraries(self));
  // Without its debug information (a dev build's is ~90% of it): the guest unpacks every
  // byte of the archive under TCG.
  const fs::path stripped = out.parent_path() / "addfdlab.stripped";
  if (RunLogged({"objcopy", "--strip-debug", self.string(), stripped.string()},
                (out.parent_path() / "objcopy.log").string()) == 0) {
    spec.AddFile(self, stripped);
  }
  for (const char* folder : {"/proc", "/sys", "/dev", "/tmp", "/root"}) spec.AddFolder(folder);
  const uint64_t limit = options.files_limit_mb * kMiB;
  const fs::path cwd = fs::current_path(ec);
  spec.AddFolder(cwd);
  bool within = spec.AddHostTree(fs::path(kSourceDir) / "corpus", limit);
  if (fs::is_directory(cwd / "corpus", ec))
    within = within && spec.AddHostTree(cwd / "corpus", limit);
  for (const std::string& arg : options.command) {
    // An argument, or an --option=value's value, that names something here.
    for (const std::string& candidate :
         {arg, arg.find('=') != std::string::npos ? arg.substr(arg.find('=') + 1) : ""}) {
      if (candidate.empty() || candidate.front() == '-') continue;
      if (fs::exists(candidate, ec)) within = within && spec.AddHostTree(candidate, limit);
    }
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
  run += " ADDFDLAB_TIME_SCALE=" + std::to_string(scale) + "\n";
  run += "cd " + vm::ShellQuote(cwd.string()) + " || exit 2\nexec " + vm::ShellQuote(self.string());
  for (const std::string& arg : options.command) run += " " + vm::ShellQuote(arg);
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

int RunVmRun(const VmRunOptions& options) {
  const double scale = options.time_scale * ReadEnvironment().time_scale;
  InterruptScope interrupt;
  Result<Kernel> kernel = ResolveKernel(options);
  if (!kernel) {
    std::cerr << "addfdlab vm run: " << kernel.error().message() << "\n";
    return kExitUsage;
  }
  std::string label = kernel->label;
  for (char& c : label) {
    if (c == '/' || c == ' ') c = '_';
  }
  const fs::path run_dir = fs::absolute(fs::path(options.work) / (Stamp() + "-" + label));
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  if (ec) {
    std::cerr << "addfdlab vm run: cannot create " << run_dir.string() << "\n";
    return kExitUsage;
  }
  const fs::path initramfs = run_dir / "initramfs.cpio";
  const Result<uint64_t> size = BuildInitramfs(options, scale, initramfs);
  if (!size) {
    std::cerr << "addfdlab vm run: initramfs: " << size.error().ToString() << "\n";
    return kExitUsage;
  }
  vm::GuestOptions guest;
  guest.kernel = kernel->image;
  guest.initramfs = initramfs;
  guest.run_dir = run_dir;
  guest.memory_mb = options.memory_mb;
  guest.cpus = options.cpus;
  guest.kernel_args = options.kernel_args;
  const auto seconds = [](double s) {
    return std::chrono::milliseconds(static_cast<int64_t>(s * 1000));
  };
  guest.boot_timeout = seconds(options.boot_timeout > 0 ? options.boot_timeout : 10 * scale);
  guest.command_timeout =
      seconds(options.timeout > 0 ? options.timeout : 30 * scale + CommandSeconds(options.command));
  guest.label = kernel->label;
  guest.command = options.command.front();
  const vm::GuestRun run = vm::RunGuest(guest);
  // Rebuilt every run in well under a second; the logs stay.
  fs::remove(initramfs, ec);
  fs::remove(run_dir / "addfdlab.stripped", ec);

  int exit = 1;
  const std::string where = "vm " + kernel->label + ": ";
  switch (run.end) {
    case vm::GuestRun::End::kExited:
      exit = run.status;
      break;
    case vm::GuestRun::End::kNoStatus:
      std::cerr << where << "the guest ended without an exit status (a panic, or init died)";
      // A splat is printed below in full; otherwise the console's end says what happened.
      if (run.trouble.empty()) {
        std::cerr << "; the console's end:\n" << vm::Tail(run.console, 30);
      } else {
        std::cerr << "\n";
      }
      break;
    case vm::GuestRun::End::kBootHang:
      std::cerr << where << "hung: the guest did not start the command within "
                << guest.boot_timeout.count() / 1000 << " s and was stopped; the console's end:\n"
                << vm::Tail(run.console, 30);
      break;
    case vm::GuestRun::End::kCommandHang:
      std::cerr << where << "hung: " << guest.command << " did not finish within "
                << guest.command_timeout.count() / 1000
                << " s and the guest was stopped; the console's end:\n"
                << vm::Tail(run.console, 30);
      break;
    case vm::GuestRun::End::kInterrupted:
      std::cerr << where << "interrupted; the guest was stopped\n";
      break;
    case vm::GuestRun::End::kQemuFailed:
      std::cerr << where << run.qemu_problem << "\n";
      exit = kExitUsage;
      break;
  }
  if (!run.trouble.empty()) {
    FileSplat(options, *kernel, run, run_dir);
    if (exit == 0) exit = 1;
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
  return exit;
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
                   "name) or a bzImage path")
      ->required();
  run_cmd->add_option("--flavour", options->flavour, "Debian kernel flavour for a bare version")
      ->capture_default_str();
  run_cmd
      ->add_option("--time-scale", options->time_scale,
                   "Guest slowness against the host: scales every deadline and is the "
                   "guest's ADDFDLAB_TIME_SCALE (times this one's)")
      ->capture_default_str()
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
  run_cmd->add_option("command", options->command, "The addfdlab subcommand and its arguments")
      ->required();
  run_cmd->callback([&run, options] { run = [options] { return RunVmRun(*options); }; });

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
