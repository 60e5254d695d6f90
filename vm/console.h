// Reading a guest's console: kernel trouble (oopses, BUG, WARNING, KASAN, lockdep, hung
// tasks, panics) and how QEMU's exit code encodes the guest's exit status.
#ifndef ADDFDLAB_VM_CONSOLE_H_
#define ADDFDLAB_VM_CONSOLE_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace addfdlab::vm {

// One report the kernel printed on its console.
struct KernelTrouble {
  std::string kind;     // "KASAN", "lockdep", "hung task", "BUG", "WARNING", "Oops", "panic", ...
  std::string title;    // its first line, without the timestamp
  size_t line = 0;      // 1-based line of the console where it starts
  std::string excerpt;  // that line and what follows: to its "---[ end" line, the next
                        // report or 60 lines, whichever comes first
};

// Every report in `console`, in order; each line is matched against the most specific
// header first (a "BUG: KASAN:" line is one KASAN report, not also a BUG).
std::vector<KernelTrouble> FindKernelTrouble(std::string_view console);

// The marker vm/init.sh prints on the console once the guest runs the command.
inline constexpr std::string_view kRunningMarker = "addfdlab-vm: running";

// QEMU's exit code with isa-debug-exit: the guest wrote status N, QEMU exited 2N+1.
struct QemuExit {
  enum class Kind {
    kStatus,      // the guest's command exited with `status`
    kPoweredOff,  // QEMU ended without a status (a poweroff, or a panic with -no-reboot)
    kFailed,      // QEMU itself failed (an even code other than 0)
  };
  Kind kind = Kind::kFailed;
  int status = -1;
};
QemuExit DecodeQemuExit(int qemu_code);

}  // namespace addfdlab::vm

#endif  // ADDFDLAB_VM_CONSOLE_H_
