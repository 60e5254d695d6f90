// Kernel fault injection through /proc and debugfs (Documentation/fault-injection/): a task's
// fail-nth makes its n-th fault site fail; failslab makes kmalloc one of them, fail_function
// a function on the error-injection list (security_file_receive, with the debug kernel's
// patch).
#include "addfdlab/kernel_inject.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string_view>
#include <utility>

#include "addfdlab/environment.h"
#include "addfdlab/unique_fd.h"

namespace addfdlab {
namespace {

constexpr const char* kDebugFs = "/sys/kernel/debug";
constexpr const char* kNrOpen = "/proc/sys/fs/nr_open";
constexpr const char* kLsmFunction = "security_file_receive";
// The initramfs's own file: with ADDFDLAB_VM_GUEST, proof enough that this is the guest.
constexpr const char* kGuestMarker = "/vm/guest-exit";

std::string DebugFs(std::string_view rest) {
  return std::string(kDebugFs) + "/" + std::string(rest);
}

std::string FailNth(pid_t tid) { return "/proc/" + std::to_string(tid) + "/fail-nth"; }

// One write(2) of `text`, as `echo` into a debugfs or proc knob does.
Result<void> WriteKnob(const std::string& path, std::string_view text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_TRUNC));
  if (!fd) return Error(Errno::Last(), "cannot open " + path);
  const ssize_t n = ::write(fd.get(), text.data(), text.size());
  if (n < 0) return Error(Errno::Last(), "cannot write '" + std::string(text) + "' to " + path);
  return {};
}

std::string ReadKnob(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  return text;
}

bool Writable(const std::string& path) {
  return UniqueFd(::open(path.c_str(), O_WRONLY | O_CLOEXEC)).valid();
}

bool Lists(const std::string& path, std::string_view name) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(std::string(name) + "\t", 0) == 0 || line == name) return true;
  }
  return false;
}

// Puts security_file_receive on fail_function's list, once: registering its kprobe patches
// the kernel's text (and removing it waits for RCU), which under TCG on the debug kernel
// outlasts the quiescence the executor waits for, so an ADDFD that did it around its ioctl
// was taken for blocked. Listed, it fails nothing by itself: fail_function's probability
// stays 0, so only a task whose fail-nth counts down to it fails there.
Result<void> ListLsmFunction() {
  if (Lists(DebugFs("fail_function/inject"), kLsmFunction)) return {};
  ADDFDLAB_TRY(WriteKnob(DebugFs("fail_function/inject"), kLsmFunction));
  // retval is an unsigned long: -EACCES in two's complement, in hex.
  char retval[32];
  std::snprintf(retval, sizeof(retval), "%#lx",
                static_cast<unsigned long>(-static_cast<long>(kInjectedLsmErrno)));
  ADDFDLAB_TRY(WriteKnob(DebugFs("fail_function/") + kLsmFunction + "/retval", retval));
  // No stack dump per injection on the console.
  return WriteKnob(DebugFs("fail_function/verbose"), "0");
}

void Set(Features& features, Feature feature, bool available, std::string evidence) {
  features.get(feature) = FeatureProbe{available, std::move(evidence)};
}

}  // namespace

void ProbeKernelInjection(Features& features) {
  const std::string fail_nth = FailNth(::gettid());
  const bool nth = Writable(fail_nth);
  const std::string no_nth = "no writable /proc/TID/fail-nth (CONFIG_FAULT_INJECTION)";
  if (!nth) {
    Set(features, Feature::kInjectLsm, false, no_nth);
    Set(features, Feature::kInjectNomem, false, no_nth);
  } else {
    const bool injectable = Lists(DebugFs("fail_function/injectable"), kLsmFunction);
    // Listed here, before any run, not around each ioctl (ListLsmFunction).
    const Result<void> listed = injectable ? ListLsmFunction() : Result<void>();
    const bool lsm = injectable && listed.has_value();
    Set(features, Feature::kInjectLsm, lsm,
        lsm           ? "fail-nth writable, security_file_receive on fail_function's list"
        : !injectable ? "fail_function/injectable does not list security_file_receive "
                        "(CONFIG_FAIL_FUNCTION, debugfs, and vm/debug-kernel's patch)"
                      : "security_file_receive cannot be put on fail_function's list: " +
                            listed.error().ToString());
    const bool slab = Writable(DebugFs("failslab/ignore-gfp-wait"));
    Set(features, Feature::kInjectNomem, slab,
        slab ? "fail-nth and failslab/ignore-gfp-wait writable"
             : "no writable failslab/ignore-gfp-wait in debugfs (CONFIG_FAILSLAB)");
  }
  const bool guest = ReadEnvironment().vm_guest && ::access(kGuestMarker, X_OK) == 0;
  const bool nr_open = guest && Writable(kNrOpen);
  Set(features, Feature::kInjectNrOpen, nr_open,
      nr_open ? "an addfdlab VM guest with a writable fs.nr_open"
      : guest ? "an addfdlab VM guest, but fs.nr_open is not writable"
              : "not an addfdlab VM guest (ADDFDLAB_VM_GUEST, set by vm/init.sh): fs.nr_open is "
                "global, never changed here");
}

Result<KernelInjection> KernelInjection::Arm(InjectKind kind, pid_t tid, uint32_t newfd) {
  KernelInjection armed;
  switch (kind) {
    case InjectKind::kNone:
      return armed;
    case InjectKind::kLsm:
      // Listed by the probe already: only reading the list.
      ADDFDLAB_TRY(ListLsmFunction());
      armed.kind_ = kind;
      break;
    case InjectKind::kNomem: {
      const std::string knob = DebugFs("failslab/ignore-gfp-wait");
      armed.restore_ = ReadKnob(knob);
      // expand_files allocates with GFP_KERNEL_ACCOUNT, which may sleep: failslab skips
      // such allocations unless told not to.
      ADDFDLAB_TRY(WriteKnob(knob, "N"));
      armed.kind_ = kind;
      ADDFDLAB_TRY(WriteKnob(DebugFs("failslab/verbose"), "0"));
      break;
    }
    case InjectKind::kNrOpen: {
      if (!ReadEnvironment().vm_guest || ::access(kGuestMarker, X_OK) != 0) {
        return Error(Errno(EPERM),
                     "inject=nr_open outside an addfdlab VM guest: fs.nr_open is "
                     "global and is never changed here");
      }
      armed.restore_ = ReadKnob(kNrOpen);
      if (armed.restore_.empty()) return Error(Errno(EIO), std::string("cannot read ") + kNrOpen);
      ADDFDLAB_TRY(WriteKnob(kNrOpen, std::to_string(InjectedNrOpen(newfd))));
      armed.kind_ = kind;
      return armed;
    }
  }
  // The first fault site the task passes fails: security_file_receive's (lsm), or the
  // first slab allocation, expand_files' when the table grows (nomem). receive_fd and
  // receive_fd_replace ask security_file_receive first: while it is on fail_function's list
  // it is a fault site too, which nomem lets pass.
  const bool lsm_listed =
      kind == InjectKind::kNomem && Lists(DebugFs("fail_function/inject"), kLsmFunction);
  ADDFDLAB_TRY(WriteKnob(FailNth(tid), lsm_listed ? "2" : "1"));
  armed.tid_ = tid;
  return armed;
}

KernelInjection& KernelInjection::operator=(KernelInjection&& other) noexcept {
  if (this != &other) {
    Undo();
    kind_ = std::exchange(other.kind_, InjectKind::kNone);
    tid_ = std::exchange(other.tid_, -1);
    restore_ = std::move(other.restore_);
  }
  return *this;
}

void KernelInjection::Undo() {
  // A fault that did not fire (nothing allocated) must not linger in the task.
  if (tid_ > 0) (void)WriteKnob(FailNth(tid_), "0");
  switch (kind_) {
    case InjectKind::kNone:
    case InjectKind::kLsm:  // the list stays: fail-nth back to 0 is enough
      break;
    case InjectKind::kNomem:
      if (!restore_.empty()) (void)WriteKnob(DebugFs("failslab/ignore-gfp-wait"), restore_);
      break;
    case InjectKind::kNrOpen:
      (void)WriteKnob(kNrOpen, restore_);
      break;
  }
  kind_ = InjectKind::kNone;
  tid_ = -1;
}

}  // namespace addfdlab
