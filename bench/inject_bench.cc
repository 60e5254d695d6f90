// The inject/ suites of the seccomp methods (one fd into a target, by method, wake-up mode
// and placement) and their reference/raw_loop twins; the other channels and yardsticks are
// in channel_bench.cc. docs/bench.md describes them.
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "addfdlab/fd_table.h"
#include "addfdlab/notifier.h"
#include "bench_common.h"
#include "bench_suites.h"

namespace addfdlab::bench {
namespace {

enum class Method {
  kAddFdThenSend,     // ADDFD, then SEND with the new number: two ioctls
  kAddFdSend,         // ADDFD with SECCOMP_ADDFD_FLAG_SEND: one ioctl
  kSetFdSendReplace,  // ADDFD with SETFD|SEND onto an fd the target holds open
  kNotifContinue,     // no fd: SEND with SECCOMP_USER_NOTIF_FLAG_CONTINUE
  kNotifErrno,        // no fd: SEND with an errno
  kScmRights,         // no seccomp: sendmsg(SCM_RIGHTS) to the target, which receives it
  kPidfdGetfd,        // no seccomp: pidfd_getfd of a target's fd
};

const char* MethodName(Method method) {
  switch (method) {
    case Method::kAddFdThenSend:
      return "addfd_then_send";
    case Method::kAddFdSend:
      return "addfd_send";
    case Method::kSetFdSendReplace:
      return "setfd_send_replace";
    case Method::kNotifContinue:
      return "notif_continue";
    case Method::kNotifErrno:
      return "notif_errno";
    case Method::kScmRights:
      return "scm_rights";
    case Method::kPidfdGetfd:
      return "pidfd_getfd";
  }
  return "?";
}

enum class Wake { kPlain, kSyncWakeUp };
const char* WakeName(Wake wake) { return wake == Wake::kPlain ? "plain" : "sync_wakeup"; }

// The number setfd_send_replace installs onto; the target keeps it open between
// iterations. Raw children also keep every fd at or above it (the verification round's).
constexpr int kReplaceFd = 100;
constexpr int kRawVerifyFd = kReplaceFd + 1;
// What notif_errno answers.
constexpr int kAnswerErrno = EPERM;

constexpr bool InstallsFd(Method method) {
  return method == Method::kAddFdThenSend || method == Method::kAddFdSend ||
         method == Method::kSetFdSendReplace;
}
// What the trapped syscall fails with when no fd is installed. CONTINUE runs tuxcall,
// which has no implementation.
constexpr int ExpectedErrno(Method method) {
  return method == Method::kNotifContinue ? ENOSYS : kAnswerErrno;
}

// The ADDFD request of method M (one that installs an fd) for notification `id`.
template <Method M>
inline seccomp_notif_addfd MethodAddFd(uint64_t id, int srcfd) {
  seccomp_notif_addfd req{};
  req.id = id;
  req.srcfd = static_cast<uint32_t>(srcfd);
  if constexpr (M == Method::kAddFdSend) req.flags = uapi::kAddFdSend;
  if constexpr (M == Method::kSetFdSendReplace) {
    req.flags = uapi::kAddFdSetFd | uapi::kAddFdSend;
    req.newfd = kReplaceFd;
  }
  return req;
}

// The SEND of method M (one that installs no fd) for notification `id`.
template <Method M>
inline seccomp_notif_resp MethodResponse(uint64_t id) {
  seccomp_notif_resp resp{};
  resp.id = id;
  if constexpr (M == Method::kNotifContinue) resp.flags = uapi::kRespContinue;
  if constexpr (M == Method::kNotifErrno) resp.error = -kAnswerErrno;
  return resp;
}

// The supervisor's answer to one notification, through the library's wrappers. The
// verification round and the timed loop run this same code.
template <Method M>
inline Result<RemoteFd> Answer(int listener, uint64_t id, int srcfd) {
  if constexpr (InstallsFd(M)) {
    const auto req = MethodAddFd<M>(id, srcfd);
    auto remote = NotifAddFd(listener, req);
    if constexpr (M == Method::kAddFdThenSend) {
      if (!remote) return remote;
      seccomp_notif_resp resp{};
      resp.id = id;
      resp.val = remote->number;
      ADDFDLAB_TRY(NotifSend(listener, resp));
    }
    return remote;
  } else {
    const auto resp = MethodResponse<M>(id);
    ADDFDLAB_TRY(NotifSend(listener, resp));
    return RemoteFd{-1};
  }
}

// One trap answered outside the clock, the installed fd kept open for kcmp: what the
// timed loop does, verified.
template <Method M>
bool VerifyRound(benchmark::State& state, Target& target, int memfd) {
  const Limits& limits = BenchLimits();
  if (!CheckOk(state, target.Start(0, MakeRequest(agent::Command::kTrapLoop, {1, 0, 0})),
               "start trap")) {
    return false;
  }
  auto notif = RecvNotification(target.listener(), limits.Deadline(limits.op));
  if (!CheckOk(state, notif, "verification RECV")) return false;
  auto answer = Answer<M>(target.listener(), notif->id, memfd);
  if (!CheckOk(state, answer, "verification answer")) return false;
  auto reply = target.Finish(0, limits.Deadline(limits.op));
  if (!CheckOk(state, reply, "verification trap") ||
      !Check(state, reply->ret == 1, "verification: the trap did not return")) {
    return false;
  }
  if constexpr (InstallsFd(M)) {
    if (!Check(state, reply->values[1] == 0 && reply->values[0] == answer->number,
               "verification: the trapped syscall returned " + std::to_string(reply->values[0]) +
                   ", ADDFD installed " + std::to_string(answer->number)) ||
        !Check(state, M != Method::kSetFdSendReplace || answer->number == kReplaceFd,
               "verification: SETFD did not install onto its number") ||
        !Check(state, IsFile(target.pid(), *answer, memfd),
               "verification: kcmp says the installed fd is not the injected file")) {
      return false;
    }
    if (M != Method::kSetFdSendReplace) {
      return CheckOk(state, CallOk(target, MakeRequest(agent::Command::kClose, {answer->number})),
                     "close the verified fd");
    }
    return true;
  } else {
    return Check(
        state, reply->values[1] == 1 && reply->values[2] == ExpectedErrno(M),
        "verification: the trapped syscall did not fail with " + ErrnoName(ExpectedErrno(M)));
  }
}

// inject/<seccomp method>/<wake>/<placement>. The agent traps max_iterations times in one
// command (kTrapLoop) and closes what each trap returned, so an iteration is exactly one
// trap round trip and the method's ioctls. The RECV blocks without a poll() first: the
// watchdog bounds it instead (the raw loop does the same).
template <Method M>
void BM_InjectSeccomp(benchmark::State& state, Wake wake, Placement placement) {
  auto pooled = PooledTarget::Acquire(placement);
  if (!CheckOk(state, pooled, "acquire a target")) return;
  Target& target = **pooled;
  const int listener = target.listener();
  if (!Check(state, listener >= 0, "the target has no listener") ||
      !Check(state, HasAffinity(target.pid(), TargetCpus(placement)),
             std::string("the target is not on the CPUs of ") + PlacementName(placement))) {
    return;
  }
  SupervisorPlacement supervisor(placement);
  if (!Check(state, supervisor.ok(), "the supervisor's affinity")) return;
  UniqueFd memfd = SourceMemfd();
  if (wake == Wake::kSyncWakeUp &&
      !CheckOk(state, NotifSetFlags(listener, uapi::kSyncWakeUp), "SET_FLAGS(SYNC_WAKE_UP)")) {
    return;
  }
  if constexpr (M == Method::kSetFdSendReplace) {
    // The open fd the first round replaces: /dev/null.
    auto opened = CallOk(target, MakeRequest(agent::Command::kOpenDevNull, {O_RDONLY}));
    if (!CheckOk(state, opened, "open /dev/null") ||
        !CheckOk(state,
                 CallOk(target, MakeRequest(agent::Command::kDup3, {opened->ret, kReplaceFd, 0})),
                 "dup3 onto the replaced fd") ||
        !CheckOk(state, CallOk(target, MakeRequest(agent::Command::kClose, {opened->ret})),
                 "close")) {
      return;
    }
  }
  if (!VerifyRound<M>(state, target, memfd.get())) return;

  const auto count = static_cast<int64_t>(state.max_iterations);
  const int64_t close_returned = M == Method::kSetFdSendReplace ? 0 : 1;
  if (!CheckOk(state,
               target.Start(0, MakeRequest(agent::Command::kTrapLoop, {count, close_returned, 0})),
               "start the trap loop")) {
    return;
  }
  {
    Watchdog::Scope watchdog;
    seccomp_notif notif;
    for (auto _ : state) {
      if (!LoopRecv(state, listener, notif)) break;
      auto answer = Answer<M>(listener, notif.id, memfd.get());
      if (!answer) {
        LoopFailed(state, "answer", answer.error());
        break;
      }
      Watchdog::Tick();
    }
  }
  if (state.error_occurred()) return;  // the target is still looping: the pool replaces it

  const Limits& limits = BenchLimits();
  auto reply = target.Finish(0, limits.Deadline(limits.op));
  if (!CheckOk(state, reply, "trap loop") ||
      !Check(state, reply->ret == count, "the trap loop ended early")) {
    return;
  }
  if constexpr (InstallsFd(M)) {
    if (!Check(state, reply->values[1] == 0, "a trap failed in the loop")) return;
  } else {
    if (!Check(state, reply->values[1] == count && reply->values[2] == ExpectedErrno(M),
               "a trap did not fail with " + ErrnoName(ExpectedErrno(M)))) {
      return;
    }
  }
  if constexpr (M == Method::kSetFdSendReplace) {
    if (!Check(state, IsFile(target.pid(), RemoteFd{kReplaceFd}, memfd.get()),
               "kcmp: the replaced fd is not the injected file") ||
        !CheckOk(state, CallOk(target, MakeRequest(agent::Command::kClose, {kReplaceFd})),
                 "close the replaced fd")) {
      return;
    }
  }
  VerifyBaseline(state, target);
}

// The raw loop's answer: raw ioctls, nothing from the library. With kKeep the fd goes to
// a number the child keeps open (the verification round).
template <Method M, bool kKeep = false>
inline bool RawAnswer(int listener, uint64_t id, int srcfd) {
  if constexpr (InstallsFd(M)) {
    auto req = MethodAddFd<M>(id, srcfd);
    if constexpr (kKeep && M != Method::kSetFdSendReplace) {
      req.flags |= uapi::kAddFdSetFd;
      req.newfd = kRawVerifyFd;
    }
    const int fd = ::ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &req);
    if (fd < 0) return false;
    if constexpr (M == Method::kAddFdThenSend) {
      seccomp_notif_resp resp{};
      resp.id = id;
      resp.val = fd;
      return ::ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0;
    }
    return true;
  } else {
    const auto resp = MethodResponse<M>(id);
    return ::ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0;
  }
}

// The raw child's filter: tuxcall notifies, everything else is allowed.
const sock_fprog* RawFilter() {
  static sock_filter insns[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, agent::kTrapSyscall, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  static const sock_fprog prog{static_cast<unsigned short>(std::size(insns)), insns};
  return &prog;
}

// The raw child: installs the filter, hands the listener over and traps forever, closing
// what each trap returned below kReplaceFd (as the agent's kTrapLoop does). It exits on a
// result the method does not give, which the benchmark sees as a dead child.
template <Method M>
[[noreturn]] void RawTrapChild(pid_t parent, const cpu_set_t& cpus, int sock,
                               const sock_fprog* prog) {
  if (!RawChildSetup(parent, cpus, &sock, 1)) ::_exit(1);  // the socket is now fd 3
  if constexpr (M == Method::kSetFdSendReplace) {
    const int fd = ::open("/dev/null", O_RDONLY);
    if (fd < 0 || ::dup3(fd, kReplaceFd, 0) < 0) ::_exit(2);
    ::close(fd);
  }
  ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  const long listener =
      ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, prog);
  if (listener < 0 || !SendFdRaw(3, static_cast<int>(listener))) ::_exit(3);
  ::close(static_cast<int>(listener));
  ::close(3);
  for (;;) {
    const long ret = ::syscall(agent::kTrapSyscall, 0, 0, 0, 0, 0, 0);
    if constexpr (InstallsFd(M)) {
      if (ret < 0) ::_exit(10);
      if (ret < kReplaceFd) ::close(static_cast<int>(ret));
    } else {
      if (ret != -1 || errno != ExpectedErrno(M)) ::_exit(10);
    }
  }
}

// reference/raw_loop/<method>/<wake>/<placement>: the yardstick for the harness's
// overhead. A forked child installs a notify filter and traps in a loop; the timed loop
// is a blocking RECV and the method's ioctls, raw (no library on the path). The deliberate
// exception to "only the library makes seccomp calls".
template <Method M>
void BM_RawLoop(benchmark::State& state, Wake wake, Placement placement) {
  const Limits& limits = BenchLimits();
  UniqueFd memfd = SourceMemfd();
  int pair[2];
  if (!Check(state, ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0,
             "socketpair")) {
    return;
  }
  UniqueFd ours(pair[0]);
  UniqueFd theirs(pair[1]);
  const pid_t parent = ::getpid();
  const cpu_set_t cpus = TargetCpus(placement);
  const sock_fprog* prog = RawFilter();
  const int child_sock = theirs.get();
  auto child = RawChild::Fork(
      [parent, &cpus, child_sock, prog] { RawTrapChild<M>(parent, cpus, child_sock, prog); });
  if (!CheckOk(state, child, "fork the raw child")) return;
  theirs.reset();
  auto listener = RecvFdRaw(ours.get(), limits.Deadline(limits.spawn));
  if (!CheckOk(state, listener, "the raw child's listener") ||
      !Check(state, HasAffinity(child->pid(), cpus),
             std::string("the raw child is not on the CPUs of ") + PlacementName(placement))) {
    return;
  }
  SupervisorPlacement supervisor(placement);
  if (!Check(state, supervisor.ok(), "the supervisor's affinity")) return;
  const int fd = listener->get();
  if (wake == Wake::kSyncWakeUp &&
      !Check(state, ::ioctl(fd, uapi::kIoctlSetFlags, uapi::kSyncWakeUp) == 0,
             "SET_FLAGS(SYNC_WAKE_UP)")) {
    return;
  }
  // The child traps at once: its first notification is pending before the clock starts.
  if (!Check(state, WaitReadable(fd, limits.Deadline(limits.op)), "the raw child did not trap")) {
    return;
  }
  auto before = SnapshotFds(child->pid());
  if (!CheckOk(state, before, "snapshot the raw child")) return;

  {
    Watchdog::Scope watchdog;
    seccomp_notif notif;
    for (auto _ : state) {
      std::memset(&notif, 0, sizeof(notif));
      if (::ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &notif) != 0) {
        LoopFailed(state, "RECV", Errno::Last());
        break;
      }
      if (!RawAnswer<M>(fd, notif.id, memfd.get())) {
        LoopFailed(state, "answer", Errno::Last());
        break;
      }
      Watchdog::Tick();
    }
  }
  if (state.error_occurred()) return;

  // Verification: the child handled the last answer and trapped again (it exits on a
  // result the method does not give), with its table as before; then one more round
  // installs at a number it keeps, for kcmp.
  if (!Check(state, WaitReadable(fd, limits.Deadline(limits.op)) && child->Alive(),
             "the raw child did not trap again (it saw an unexpected result)")) {
    return;
  }
  auto after = SnapshotFds(child->pid());
  if (!CheckOk(state, after, "snapshot the raw child")) return;
  // Nothing added or removed; setfd_send_replace changed the file at kReplaceFd (kcmp
  // below says to which).
  const FdDiff diff = DiffFds(*before, *after);
  const bool replaced_only =
      diff.changed.empty() || (M == Method::kSetFdSendReplace && diff.changed.size() == 1 &&
                               diff.changed[0].fd == kReplaceFd);
  if (!Check(state, diff.added.empty() && diff.removed.empty() && replaced_only,
             "the raw child's table changed: " + DescribeDiff(diff))) {
    return;
  }
  if constexpr (InstallsFd(M)) {
    seccomp_notif notif{};
    if (!Check(state, ::ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &notif) == 0, "verification RECV") ||
        !Check(state, RawAnswer<M, true>(fd, notif.id, memfd.get()), "verification answer") ||
        !Check(state, WaitReadable(fd, limits.Deadline(limits.op)) && child->Alive(),
               "the raw child did not trap again after the verification round")) {
      return;
    }
    const int kept = M == Method::kSetFdSendReplace ? kReplaceFd : kRawVerifyFd;
    if (!Check(state, IsFile(child->pid(), RemoteFd{kept}, memfd.get()),
               "kcmp: the installed fd is not the injected file")) {
      return;
    }
  }
  MarkVerified(state);
}

template <Method M>
void RegisterSeccompMethod(const std::vector<Wake>& wakes,
                           const std::vector<Placement>& placements) {
  for (Wake wake : wakes) {
    for (Placement placement : placements) {
      const std::string tail =
          std::string(MethodName(M)) + "/" + WakeName(wake) + "/" + PlacementName(placement);
      // Twins side by side: each is measured right next to its yardstick.
      benchmark::RegisterBenchmark(("inject/" + tail).c_str(), BM_InjectSeccomp<M>, wake, placement)
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark(("reference/raw_loop/" + tail).c_str(), BM_RawLoop<M>, wake,
                                   placement)
          ->Unit(benchmark::kMicrosecond);
    }
  }
}

}  // namespace

void RegisterInjectSuites(std::vector<std::string>& skipped) {
  const Features& features = BenchFeatures();
  std::vector<Placement> placements = {Placement::kSameCpu};
  // any_cpu, where SYNC_WAKE_UP can move the woken target to the waker's CPU, for the
  // method that injects in one ioctl and the bare notification only.
  std::vector<Placement> with_any_cpu = placements;
  if (Cpus().other >= 0) {
    placements.push_back(Placement::kCrossCpu);
    with_any_cpu = placements;
    with_any_cpu.push_back(Placement::kAnyCpu);
  } else {
    skipped.push_back("cross_cpu, any_cpu: one CPU available");
  }
  std::vector<Wake> wakes = {Wake::kPlain};
  if (features.has(Feature::kSyncWakeUp)) {
    wakes.push_back(Wake::kSyncWakeUp);
  } else {
    skipped.push_back("sync_wakeup: " + features.get(Feature::kSyncWakeUp).evidence);
  }

  RegisterYardsticks(placements);

  if (features.has(Feature::kUserNotification) && features.has(Feature::kAddFd)) {
    RegisterSeccompMethod<Method::kAddFdThenSend>(wakes, placements);
    if (features.has(Feature::kSend)) {
      RegisterSeccompMethod<Method::kAddFdSend>(wakes, with_any_cpu);
      RegisterSeccompMethod<Method::kSetFdSendReplace>(wakes, placements);
    } else {
      skipped.push_back("addfd_send, setfd_send_replace: " + features.get(Feature::kSend).evidence);
    }
    RegisterSeccompMethod<Method::kNotifContinue>(wakes, with_any_cpu);
    RegisterSeccompMethod<Method::kNotifErrno>(wakes, placements);
  } else {
    skipped.push_back("seccomp methods: no user notification with ADDFD");
  }

  RegisterOtherChannels(placements, skipped);
}

}  // namespace addfdlab::bench
