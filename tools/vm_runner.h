// The guest machinery of `addfdlab vm` for other commands (triage): resolving a kernel,
// booting it with one or more commands (addfdlab subcommands, or static programs placed in
// the initramfs), several kernels at once, and bisecting a reproducer over a list.
#ifndef ADDFDLAB_TOOLS_VM_RUNNER_H_
#define ADDFDLAB_TOOLS_VM_RUNNER_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "addfdlab/result.h"
#include "matrix.h"

namespace addfdlab::tools {

// Guest paths of static programs start with this: a command whose first word does is run as
// it is, any other one as an addfdlab subcommand.
inline constexpr std::string_view kGuestProgramDir = "/vm/bin/";

struct VmRunOptions {
  std::string kernel;
  std::string flavour = "cloud-amd64";
  std::vector<std::string> command;
  // More commands for the same boot, after `command` (vm matrix: one repro per file). Each
  // one's stdout ends with ASCII's record separator and its exit status.
  std::vector<std::vector<std::string>> more;
  // Static programs in the guest: (guest path under kGuestProgramDir, host file). A guest
  // whose every command is one of them carries no addfdlab, no libraries and no corpus.
  std::vector<std::pair<std::string, std::filesystem::path>> programs;
  // More binaries at their own paths, stripped of debug information, with their libraries
  // (fuzz --vm: the fuzz target).
  std::vector<std::filesystem::path> binaries;
  // Host folders (or files) copied into the guest at another path: (guest path, host path).
  std::vector<std::pair<std::string, std::filesystem::path>> trees;
  // Guest paths (absolute) brought back after the command(s), whatever their status: a tar
  // over the fourth serial port, unpacked into the run folder's `back/`.
  std::vector<std::string> bring_back;
  double time_scale = 0;    // against the host, times ADDFDLAB_TIME_SCALE here; 0: the kernel's
  double timeout = 0;       // seconds for the command in the guest; 0: 30 s scaled, + --time
  double boot_timeout = 0;  // seconds from QEMU's start to the command; 0: 10 s scaled
  int memory_mb = 1024;
  int cpus = 2;
  std::string kernel_args;
  std::string cpu_model;  // QEMU's -cpu ("": its default; fuzz --vm: "max")
  std::string work = "work/vm";
  std::string findings = "findings";
  uint64_t cache_limit_mb = 1024;
  uint64_t files_limit_mb = 256;
};

// How much slower than the host a guest runs when --time-scale does not say: TCG alone (a
// notifier round trip ~9 times slower), and TCG with the debug kernel's KASAN and lockdep
// (~48 times).
inline constexpr double kTcgTimeScale = 10;
inline constexpr double kDebugTimeScale = 50;
// --kernel debug: the kernel vm/debug-kernel/build.sh builds into the cache; debug-NAME its
// variant vm/debug-kernel/variants/NAME/ (debug-unfixed: the fast-reply fix reverted).
inline constexpr std::string_view kDebugKernel = "debug";
// "debug" or "debug-NAME": a debug kernel (its time scale), whether or not NAME exists.
bool IsDebugKernel(std::string_view kernel);

// A kernel ready to boot: its image, the name the progress line and logs give it, and its
// guest's slowness against the host.
struct Kernel {
  std::filesystem::path image;
  std::string label;
  double time_scale = kTcgTimeScale;
};

// How a command ran in a guest.
struct GuestOutcome {
  int exit = 1;                   // the command's status, as vm run exits
  std::string problem;            // why the command gave no status ("" when it did)
  std::filesystem::path run_dir;  // its logs, stdout.txt among them
  // VmRunOptions::bring_back's files, unpacked at their guest paths under this folder
  // (run_dir/back); empty when nothing came back.
  std::filesystem::path back;
  double seconds = 0;  // QEMU's whole run
};

// The UTC time as 20261207-124741: the name of a run's folder.
std::string Stamp();

// options.kernel: a bzImage path, `debug` (built on first use), or a Debian package (fetched
// into the cache when missing).
Result<Kernel> ResolveKernel(const VmRunOptions& options);

// Boots `kernel` and runs the command(s). `stream`: the command's output is copied to ours
// while it runs, else only into the run folder. A splat is filed under options.findings.
GuestOutcome RunOnKernel(const VmRunOptions& options, const Kernel& kernel, bool stream);

// A guest's stdout split into each batch command's output and status, or the whole of it as
// one run.
std::vector<vm::KernelRun> ReadRuns(const std::string& kernel, const GuestOutcome& outcome,
                                    size_t commands);

// Boots every kernel with `guest`'s command(s), up to `jobs` at once (0: the core count):
// result[k][c] is kernel k's run of command c.
std::vector<std::vector<vm::KernelRun>> RunOnKernels(const VmRunOptions& guest,
                                                     const std::vector<Kernel>& kernels, int jobs);

// `gcc -static -O2 -pthread SOURCE -o OUT` (a C reproducer for a guest with nothing
// installed); the compiler's output goes to `log`.
Result<void> BuildStaticProgram(const std::filesystem::path& source,
                                const std::filesystem::path& out, const std::filesystem::path& log);

// vm bisect's search: `repro FILE --json [--runs N]` on an ordered list of kernels, both ends
// first, then halving (vm::Bisection).
struct BisectOutcome {
  std::vector<std::optional<vm::ReproVerdict>> verdicts;  // by kernel, those booted
  std::optional<size_t> changed;                          // the first kernel with the other verdict
  size_t last_same = 0;  // the last one before it with the first one's verdict
  size_t boots = 0;
  std::string problem;      // a kernel that could not be resolved or gave no verdict
  bool unresolved = false;  // ... could not be resolved (no such kernel)
};
BisectOutcome BisectRepro(
    VmRunOptions guest, const std::string& repro, int runs, const std::vector<std::string>& kernels,
    const std::function<void(size_t index, const vm::ReproVerdict&)>& on_boot = {});

// The packages apt offers from `first` to `last` (same flavour as `first`), in version order.
Result<std::vector<std::string>> AptKernelsBetween(const std::string& first,
                                                   const std::string& last,
                                                   const std::string& flavour);

}  // namespace addfdlab::tools

#endif  // ADDFDLAB_TOOLS_VM_RUNNER_H_
