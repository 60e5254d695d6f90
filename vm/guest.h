// One QEMU guest run: boots a kernel with an initramfs under TCG, streams the command's
// stdout and stderr (the second and third serial ports) to ours as they arrive, shows a
// progress line, and stops a guest that overruns its boot or command deadline.
#ifndef ADDFDLAB_VM_GUEST_H_
#define ADDFDLAB_VM_GUEST_H_

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "addfdlab/result.h"
#include "console.h"

namespace addfdlab::vm {

// The fourth serial port's file in the run folder: a tar the guest may write to /dev/ttyS3
// (files brought back to the host), empty otherwise.
inline constexpr const char* kBackTar = "back.tar";

struct GuestOptions {
  std::filesystem::path kernel;     // a bzImage
  std::filesystem::path initramfs;  // built by InitramfsSpec, running vm/init.sh
  // Where console.log, stdout.txt, stderr.txt and qemu.log go (created).
  std::filesystem::path run_dir;
  int memory_mb = 1024;
  int cpus = 2;
  std::string kernel_args;  // appended to the guest's command line
  // QEMU's -cpu: "" its default (qemu64, no SSE4 or POPCNT), "max" every feature TCG
  // emulates (a clang/libFuzzer binary built here needs more than qemu64 has).
  std::string cpu_model;
  // From QEMU's start to the console's kRunningMarker, and from there to QEMU's end.
  std::chrono::milliseconds boot_timeout{100'000};
  std::chrono::milliseconds command_timeout{300'000};
  std::string label;            // the progress line's name for the kernel
  std::string command;          // ... and for the command
  bool progress_on_tty = true;  // a live progress line when stderr is a terminal
  // The command's stdout and stderr copied to ours as they arrive; false: only into
  // run_dir's stdout.txt and stderr.txt (several guests at once, a caller that reads them).
  bool stream_output = true;
};

struct GuestRun {
  enum class End {
    kExited,       // the command ran and its status came back
    kNoStatus,     // the guest ended without a status (a panic, an init that died)
    kBootHang,     // no kRunningMarker before boot_timeout: stopped
    kCommandHang,  // the command overran command_timeout: stopped
    kInterrupted,  // Ctrl-C: stopped
    kQemuFailed,   // QEMU could not start or failed (qemu.log says why)
  };
  End end = End::kQemuFailed;
  int status = -1;           // kExited: the command's exit status
  double boot_seconds = -1;  // until kRunningMarker, when it showed
  double seconds = 0;        // QEMU's whole run
  std::string console;       // the whole console
  std::vector<KernelTrouble> trouble;
  std::string qemu_problem;  // kQemuFailed: QEMU's exit and the end of qemu.log
};

// Runs QEMU (-accel tcg -M pc -no-reboot, panic=-1) once. Its stdout and stderr streams
// are copied to ours while it runs. Never longer than boot_timeout + command_timeout.
GuestRun RunGuest(const GuestOptions& options);

// The last `lines` lines of `text`.
std::string Tail(std::string_view text, size_t lines);

}  // namespace addfdlab::vm

#endif  // ADDFDLAB_VM_GUEST_H_
