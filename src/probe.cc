// Feature probes: each asks the kernel a question whose answer differs between kernels
// that have a feature and kernels that do not.
#include "addfdlab/probe.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "addfdlab/environment.h"
#include "addfdlab/kernel_inject.h"
#include "addfdlab/namespaces.h"
#include "addfdlab/notifier.h"
#include "addfdlab/supervisor.h"
#include "addfdlab/target.h"
#include "addfdlab/uapi.h"

namespace addfdlab {
namespace {

constexpr uint64_t kBogusId = 0x7ead'beef'0000'0001ULL;

void Set(Features& features, Feature feature, bool available, std::string evidence) {
  FeatureProbe& probe = features.get(feature);
  probe.available = available;
  probe.evidence = std::move(evidence);
}

std::string Answer(const Result<RemoteFd>& result) {
  return result ? "returned " + std::to_string(result->number) : result.error().Name();
}

// ADDFD on a bogus id: a known request answers ENOENT (no such notification); an unknown
// flag or ioctl answers EINVAL first.
void ProbeAddFd(Features& features, int listener) {
  UniqueFd src(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  seccomp_notif_addfd req{};
  req.id = kBogusId;
  req.srcfd = static_cast<uint32_t>(src.get());
  auto plain = NotifAddFd(listener, req);
  const bool addfd = !plain && plain.error().value() == ENOENT;
  Set(features, Feature::kAddFd, addfd, "ADDFD(bogus id) -> " + Answer(plain));

  req.flags = uapi::kAddFdSetFd;
  auto setfd = NotifAddFd(listener, req);
  Set(features, Feature::kSetFd, addfd && !setfd && setfd.error().value() == ENOENT,
      "ADDFD(SETFD, bogus id) -> " + Answer(setfd));

  req.flags = uapi::kAddFdSend;
  auto send = NotifAddFd(listener, req);
  Set(features, Feature::kSend, addfd && !send && send.error().value() == ENOENT,
      "ADDFD(SEND, bogus id) -> " + Answer(send));

  // The srcfd is looked up before the id: EBADF rejects O_PATH, ENOENT accepts it.
  UniqueFd opath(::open("/", O_PATH | O_CLOEXEC));
  req.flags = 0;
  req.srcfd = static_cast<uint32_t>(opath.get());
  auto with_opath = NotifAddFd(listener, req);
  Set(features, Feature::kOpathSrcfd, addfd && !with_opath && with_opath.error().value() == ENOENT,
      "ADDFD(O_PATH srcfd, bogus id) -> " + Answer(with_opath));
}

void ProbeSyncWakeUp(Features& features, int listener) {
  auto set = NotifSetFlags(listener, uapi::kSyncWakeUp);
  Set(features, Feature::kSyncWakeUp, set.has_value(),
      std::string("SET_FLAGS(SYNC_WAKE_UP) -> ") + (set ? "0" : set.error().Name()));
}

// A filter flag is known when seccomp() gets as far as reading the (NULL) program: EFAULT.
// Nothing can be installed from a NULL program.
void ProbeWaitKillable(Features& features) {
  auto result =
      SeccompSetModeFilter(uapi::kFilterWaitKillableRecv | uapi::kFilterNewListener, nullptr);
  const bool known = !result && result.error().value() == EFAULT;
  Set(features, Feature::kWaitKillableRecv, known,
      std::string("seccomp(WAIT_KILLABLE_RECV|NEW_LISTENER, NULL) -> ") +
          (result ? "0" : result.error().Name()));
}

// Once its only target is dead, RECV either answers ENOENT (6.11+) or blocks. The RECV
// runs in a forked child so that a blocking kernel costs one short wait, not a hang.
void ProbeRecvEnoent(Features& features) {
  TargetConfig config;
  config.callers = 0;
  auto target = Target::Spawn(config);
  if (!target || (*target)->listener() < 0) {
    Set(features, Feature::kRecvEnoent, false, "no listener to probe with");
    return;
  }
  const int listener = ::dup((*target)->listener());
  (*target)->Kill();
  const pid_t child = ::fork();
  if (child == 0) {
    seccomp_notif notif{};
    auto recv = NotifRecv(listener, &notif);
    ::_exit(!recv && recv.error().value() == ENOENT ? 0 : 1);
  }
  ::close(listener);
  int status = 0;
  bool exited = false;
  for (int i = 0; i < 50 && !exited; ++i) {
    exited = ::waitpid(child, &status, WNOHANG) == child;
    if (!exited) ::usleep(4000);
  }
  if (!exited) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
    Set(features, Feature::kRecvEnoent, false, "RECV with no users left blocks");
    return;
  }
  const bool enoent = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  Set(features, Feature::kRecvEnoent, enoent,
      enoent ? "RECV with no users left -> ENOENT" : "RECV with no users left -> another error");
}

void ProbeProcessTools(Features& features) {
  UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const pid_t self = ::getpid();
  const long same = ::syscall(SYS_kcmp, self, self, 0 /*KCMP_FILE*/, null.get(), null.get());
  Set(features, Feature::kKcmp, same == 0,
      same == 0 ? "kcmp(KCMP_FILE) on one file -> 0" : "kcmp -> " + Errno::Last().Name());

  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, self, 0)));
  auto copy = pidfd ? SystemNotifier().PidfdGetfd(pidfd.get(), RemoteFd{null.get()})
                    : Result<UniqueFd>(Errno::Last());
  Set(features, Feature::kPidfdGetfd, copy.has_value(),
      copy ? "pidfd_getfd(self) -> a copy" : "pidfd_getfd -> " + copy.error().Name());

  UniqueFd thread(static_cast<int>(::syscall(SYS_pidfd_open, ::gettid(), uapi::kPidfdThread)));
  const bool signals = thread && ::syscall(SYS_pidfd_send_signal, thread.get(), 0, nullptr,
                                           uapi::kPidfdSignalThread) == 0;
  Set(features, Feature::kPidfdThread, signals,
      !thread   ? "pidfd_open(PIDFD_THREAD) -> " + Errno::Last().Name()
      : signals ? "pidfd_open(PIDFD_THREAD), pidfd_send_signal(PIDFD_SIGNAL_THREAD) -> 0"
                : "pidfd_send_signal(PIDFD_SIGNAL_THREAD) -> " + Errno::Last().Name());

  const std::string fail_nth = "/proc/self/task/" + std::to_string(::gettid()) + "/fail-nth";
  const bool has_fail_nth = ::access(fail_nth.c_str(), F_OK) == 0;
  Set(features, Feature::kFailNth, has_fail_nth,
      has_fail_nth ? "fail-nth present" : "no fail-nth (no CONFIG_FAULT_INJECTION)");
}

// SCHED_FIFO at every priority the executor's threads take (supervisor.h, kFifoLevels).
void ProbeSchedFifo(Features& features) {
  const FifoAccess access = ProbeFifo();
  std::string evidence = access.evidence;
  if (access.top > 0 && access.top < kFifoLevels) {
    evidence += " (" + std::to_string(kFifoLevels) + " priorities needed)";
  }
  Set(features, Feature::kSchedFifo, access.top >= kFifoLevels, evidence);
}

void ProbeVm(Features& features) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  bool hypervisor = false;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) == 0 && line.find(" hypervisor") != std::string::npos) {
      hypervisor = true;
      break;
    }
  }
  std::string vendor;
  std::ifstream dmi("/sys/class/dmi/id/sys_vendor");
  std::getline(dmi, vendor);
  std::string evidence = hypervisor ? "cpuid hypervisor flag set" : "no cpuid hypervisor flag";
  if (!vendor.empty()) evidence += ", DMI vendor " + vendor;
  Set(features, Feature::kInVm, hypervisor, evidence);
}

}  // namespace

const char* FeatureName(Feature feature) {
  static constexpr const char* kNames[kFeatureCount] = {
      "user_notification", "addfd",       "setfd",       "send",       "wait_killable_recv",
      "sync_wake_up",      "recv_enoent", "opath_srcfd", "kcmp",       "pidfd_getfd",
      "fail_nth",          "sched_fifo",  "in_vm",       "inject_lsm", "inject_nomem",
      "inject_nr_open",    "pid_ns",      "pidfd_thread"};
  return kNames[static_cast<size_t>(feature)];
}

Features ProbeFeatures() {
  Features features;
  struct utsname uts {};
  if (::uname(&uts) == 0) {
    features.release = uts.release;
    features.machine = uts.machine;
  }
  // Test seam: the release is for reports only (nothing is decided by it), and the tests
  // check that by running the suites under another name.
  if (std::string release = ReadEnvironment().fake_release; !release.empty()) {
    features.release = std::move(release);
  }
  ProbeProcessTools(features);
  ProbeSchedFifo(features);
  ProbeVm(features);
  ProbeKernelInjection(features);
  ProbeWaitKillable(features);
  const PidNsAccess& pid_ns = PidNamespaceAccess();
  Set(features, Feature::kPidNs, pid_ns.flags != 0, pid_ns.evidence);

  TargetConfig config;
  config.callers = 0;
  auto target = Target::Spawn(config);
  if (!target) {
    Set(features, Feature::kUserNotification, false,
        "could not start a target: " + target.error().ToString());
  } else if ((*target)->listener() < 0) {
    Set(features, Feature::kUserNotification, false,
        "seccomp(NEW_LISTENER) -> " + ErrnoName((*target)->filter_errno()));
  } else {
    Set(features, Feature::kUserNotification, true, "seccomp(NEW_LISTENER) -> a listener");
    ProbeAddFd(features, (*target)->listener());
    ProbeSyncWakeUp(features, (*target)->listener());
  }
  if (features.has(Feature::kUserNotification)) {
    ProbeRecvEnoent(features);
  } else {
    for (Feature f : {Feature::kAddFd, Feature::kSetFd, Feature::kSend, Feature::kOpathSrcfd,
                      Feature::kSyncWakeUp, Feature::kRecvEnoent}) {
      Set(features, f, false, "no user notification");
    }
  }
  return features;
}

}  // namespace addfdlab
