// Kernel features, probed by behaviour (never by version).
#ifndef ADDFDLAB_PROBE_H_
#define ADDFDLAB_PROBE_H_

#include <array>
#include <cstddef>
#include <string>

namespace addfdlab {

enum class Feature {
  kUserNotification,  // a filter with NEW_LISTENER hands out a listener (5.0)
  kAddFd,             // NOTIF_ADDFD is known (5.9)
  kSetFd,             // SECCOMP_ADDFD_FLAG_SETFD is accepted (5.9)
  kSend,              // SECCOMP_ADDFD_FLAG_SEND is accepted (5.14)
  kWaitKillableRecv,  // SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is known (5.19)
  kSyncWakeUp,        // NOTIF_SET_FLAGS takes SYNC_WAKE_UP (6.6)
  kRecvEnoent,        // RECV answers ENOENT once no users are left (6.11)
  kOpathSrcfd,        // an O_PATH srcfd is accepted by ADDFD
  kKcmp,              // kcmp(KCMP_FILE) works
  kPidfdGetfd,        // pidfd_getfd works
  kFailNth,           // /proc/self/task/TID/fail-nth exists (CONFIG_FAULT_INJECTION)
  kSchedFifo,         // SCHED_FIFO at the executor's priorities: the fifo scheduling mode
  kInVm,              // running under a hypervisor
  // Kernel fault injection for one ADDFD (kernel_inject.h): a debug kernel in a VM.
  kInjectLsm,     // fail-nth writable, fail_function offers security_file_receive
  kInjectNomem,   // fail-nth writable, failslab's debugfs knobs writable
  kInjectNrOpen,  // an addfdlab VM guest (ADDFDLAB_VM_GUEST from its init) with a writable
                  // fs.nr_open
  kPidNs,         // a child can have a pid namespace of its own (namespaces.h)
  kPidfdThread,   // pidfd_open(PIDFD_THREAD) and pidfd_send_signal(PIDFD_SIGNAL_THREAD)
                  // (6.9): a thread task (`spawn ... thread`) can be followed and signalled
};
inline constexpr size_t kFeatureCount = 18;

// The probe's name for a feature ("addfd", "wait_killable_recv", ...).
const char* FeatureName(Feature feature);

struct FeatureProbe {
  bool available = false;
  std::string evidence;  // what the kernel answered, in words
};

struct Features {
  std::string release;  // uname -r, for reports only
  std::string machine;  // uname -m
  std::array<FeatureProbe, kFeatureCount> probes{};

  bool has(Feature feature) const { return probes[static_cast<size_t>(feature)].available; }
  const FeatureProbe& get(Feature feature) const { return probes[static_cast<size_t>(feature)]; }
  FeatureProbe& get(Feature feature) { return probes[static_cast<size_t>(feature)]; }
};

// Probes every feature. Takes well under a second (it forks a few short-lived targets).
Features ProbeFeatures();

}  // namespace addfdlab

#endif  // ADDFDLAB_PROBE_H_
