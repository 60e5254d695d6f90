// QEMU under a deadline. Its serial ports are files; they are read back as they grow (QEMU
// writes each byte as the guest's UART sends it), so output shows while the guest runs.
#include "guest.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>
#include <system_error>

#include "addfdlab/unique_fd.h"
#include "subprocess.h"

namespace addfdlab::vm {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
namespace {

// A file QEMU appends to, read from where we left off.
class Follower {
 public:
  explicit Follower(fs::path path) : path_(std::move(path)) {}
  // What was appended since the last call.
  std::string Read() {
    if (!fd_) fd_.reset(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    std::string fresh;
    if (!fd_) return fresh;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fd_.get(), buf, sizeof(buf));
      if (n <= 0) break;
      fresh.append(buf, static_cast<size_t>(n));
    }
    return fresh;
  }

 private:
  fs::path path_;
  UniqueFd fd_;
};

void WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The progress line: live on a terminal, otherwise one line per phase.
class Progress {
 public:
  explicit Progress(bool live) : live_(live) {}
  void Show(const std::string& line, bool new_phase) {
    if (live_) {
      WriteAll(2, "\r\033[K" + line);
      shown_ = true;
    } else if (new_phase) {
      WriteAll(2, line + "\n");
    }
  }
  // Before the guest's own output: the live line goes away (it comes back on the next Show).
  void Clear() {
    if (live_ && shown_) WriteAll(2, "\r\033[K");
    shown_ = false;
  }

 private:
  bool live_;
  bool shown_ = false;
};

}  // namespace

std::string Tail(std::string_view text, size_t lines) {
  size_t at = text.size();
  if (at > 0 && text[at - 1] == '\n') --at;
  for (size_t seen = 0; at > 0; --at) {
    if (text[at - 1] == '\n' && ++seen == lines) break;
  }
  return std::string(text.substr(at));
}

GuestRun RunGuest(const GuestOptions& options) {
  GuestRun run;
  std::error_code ec;
  fs::create_directories(options.run_dir, ec);
  const fs::path console = options.run_dir / "console.log";
  const fs::path out = options.run_dir / "stdout.txt";
  const fs::path err = options.run_dir / "stderr.txt";
  // The fourth port: a tar of the guest's files that come back (VmRunOptions::bring_back).
  const fs::path back = options.run_dir / kBackTar;
  for (const fs::path& file : {console, out, err, back}) std::ofstream(file, std::ios::trunc);
  // No soft-lockup watchdog and no RCU stall warnings: under TCG a vCPU is a host thread,
  // and a busy host deschedules it for seconds, which the guest reports as a stall of its
  // own (a false finding; seen at a load average of 10). Hung tasks are still reported.
  const std::string append =
      "console=ttyS0 panic=-1 loglevel=5 rdinit=/init nowatchdog "
      "rcupdate.rcu_cpu_stall_suppress=1 " +
      options.kernel_args;
  std::vector<std::string> argv{"qemu-system-x86_64",
                                "-M",
                                "pc",
                                "-accel",
                                "tcg",
                                "-m",
                                std::to_string(options.memory_mb),
                                "-smp",
                                std::to_string(options.cpus),
                                "-nodefaults",
                                "-display",
                                "none",
                                "-no-reboot",
                                "-kernel",
                                options.kernel.string(),
                                "-initrd",
                                options.initramfs.string(),
                                "-append",
                                append,
                                "-serial",
                                "file:" + console.string(),
                                "-serial",
                                "file:" + out.string(),
                                "-serial",
                                "file:" + err.string(),
                                "-serial",
                                "file:" + back.string(),
                                "-device",
                                "isa-debug-exit,iobase=0xf4,iosize=0x04"};
  if (!options.cpu_model.empty()) argv.insert(argv.begin() + 1, {"-cpu", options.cpu_model});
  tools::SpawnOptions spawn;
  spawn.stdout_to = spawn.stderr_to = tools::Output::kLog;
  spawn.log = (options.run_dir / "qemu.log").string();
  const Clock::time_point start = Clock::now();
  std::optional<tools::Subprocess> qemu = tools::Subprocess::Spawn(argv, spawn);
  if (!qemu) {
    run.qemu_problem = "cannot start qemu-system-x86_64 (scripts/deps.sh vm installs it)";
    return run;
  }
  const bool live = options.progress_on_tty && ::isatty(2) == 1;
  Progress progress(live);
  Follower console_follower(console), out_follower(out), err_follower(err);
  std::optional<Clock::time_point> running_since;
  std::optional<tools::ExitStatus> status;
  bool stopped = false;
  auto pump = [&] {
    run.console += console_follower.Read();
    const std::string o = out_follower.Read();
    const std::string e = err_follower.Read();
    if (!options.stream_output) return;
    if (!o.empty() || !e.empty()) progress.Clear();
    WriteAll(1, o);
    WriteAll(2, e);
  };
  for (int tick = 0;; ++tick) {
    status = qemu->Poll(std::chrono::milliseconds(100));
    pump();
    if (status) break;
    const Clock::time_point now = Clock::now();
    bool new_phase = tick == 0;
    if (!running_since && run.console.find(kRunningMarker) != std::string::npos) {
      running_since = now;
      run.boot_seconds = Seconds(now - start);
      new_phase = true;
    }
    if (tick % 10 == 0 || new_phase) {
      const std::string line =
          running_since ? "vm " + options.label + ": running " + options.command + " (" +
                              std::to_string(static_cast<int>(Seconds(now - *running_since))) +
                              " s, booted in " +
                              std::to_string(static_cast<int>(run.boot_seconds + 0.5)) + " s)"
                        : "vm " + options.label + ": booting (" +
                              std::to_string(static_cast<int>(Seconds(now - start))) + " s)";
      progress.Show(line, new_phase);
    }
    if (tools::Interrupted()) {
      run.end = GuestRun::End::kInterrupted;
    } else if (!running_since && now - start > options.boot_timeout) {
      run.end = GuestRun::End::kBootHang;
    } else if (running_since && now - *running_since > options.command_timeout) {
      run.end = GuestRun::End::kCommandHang;
    } else {
      continue;
    }
    stopped = true;
    status = qemu->Wait(now);  // SIGTERM, then SIGKILL 5 s later
    pump();
    break;
  }
  progress.Clear();
  run.seconds = Seconds(Clock::now() - start);
  // Anything QEMU wrote after its last read.
  run.console = ReadFile(console);
  run.trouble = FindKernelTrouble(run.console);
  if (stopped) return run;
  const QemuExit exit = DecodeQemuExit(status->code());
  switch (exit.kind) {
    case QemuExit::Kind::kStatus:
      run.end = GuestRun::End::kExited;
      run.status = exit.status;
      break;
    case QemuExit::Kind::kPoweredOff:
      run.end = GuestRun::End::kNoStatus;
      break;
    case QemuExit::Kind::kFailed:
      run.end = GuestRun::End::kQemuFailed;
      run.qemu_problem = "qemu-system-x86_64: " + status->Problem() + "\n" +
                         Tail(ReadFile(options.run_dir / "qemu.log"), 10);
      break;
  }
  return run;
}

}  // namespace addfdlab::vm
