// The injection lab: the fault thread, the hooks that apply a plan at its point, and one
// injection run under one fault, from the target's layout to the residue it leaves.
#include "faults/injection_lab.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>

#include "addfdlab/agent_protocol.h"
#include "addfdlab/limits.h"
#include "addfdlab/supervisor.h"

namespace addfdlab::faults {
namespace {

constexpr int kInjectPriority = 60;
constexpr int kFaultPriority = 50;
constexpr int kTrappedTask = 1;
constexpr int kTargetSignal = SIGUSR1;

// Gives the target the spec's layout, each number its own /dev/null, and for kSignalTarget
// the trapped task's handler; OK or what failed (EIO: a command failed in the target).
Result<void> PrepareTarget(const RunSpec& spec, Target& t) {
  for (int n : spec.layout) {
    auto opened = t.Call(0, MakeRequest(agent::Command::kOpenDevNull, {O_RDONLY}));
    if (!opened || opened->ret < 0) return Error(Errno(EIO), "layout: open failed");
    if (opened->ret != n) {
      auto dup = t.Call(0, MakeRequest(agent::Command::kDup3, {opened->ret, n, 0}));
      auto close = t.Call(0, MakeRequest(agent::Command::kClose, {opened->ret}));
      if (!dup || dup->ret != n || !close) return Error(Errno(EIO), "layout: dup3 failed");
    }
  }
  if (spec.fault.kind == FaultKind::kSignalTarget) {
    auto handled =
        t.Call(kTrappedTask, MakeRequest(agent::Command::kSigaction, {kTargetSignal, 1, 0}));
    if (!handled || handled->ret != 0) {
      return Error(Errno(EIO), "cannot install the target's handler");
    }
  }
  return {};
}

// The k files to inject, and where: the spec's numbers, or for fixed-numbers without them,
// free numbers well above what the target uses, chosen from its table.
rollback::InjectionRequest MakeInjectionRequest(const RunSpec& spec,
                                                const std::vector<UniqueFd>& files,
                                                const rollback::TableBefore& before) {
  rollback::InjectionRequest request;
  request.cloexec = spec.cloexec;
  for (int i = 0; i < spec.k; ++i) request.files.push_back(files[static_cast<size_t>(i)].get());
  request.numbers = spec.numbers;
  if (spec.strategy == rollback::Strategy::kFixedNumbers && request.numbers.empty()) {
    int next = 100;
    for (int i = 0; i < spec.k; ++i, ++next) {
      while (before.snapshot.fds.count(next) != 0) ++next;
      request.numbers.push_back(next);
    }
  }
  return request;
}

// The trapped syscall's return (the reply, the listener's close, or the target's death),
// then the residue in the table and whether the strategy kept its guarantee.
void Judge(const RunSpec& spec, Target& t, uint64_t id, const rollback::TableBefore& before,
           const rollback::InjectionRequest& request, const Limits& limits, RunReport& report) {
  auto returned = t.Finish(kTrappedTask, limits.Deadline(limits.op));
  if (!returned && returned.error().value() == ETIMEDOUT && t.listener() >= 0) {
    report.target_left_blocked = true;
    seccomp_notif_resp resp{};
    resp.id = id;
    resp.error = -EIO;
    (void)NotifSend(t.listener(), resp);  // ENOENT once the target left it
    returned = t.Finish(kTrappedTask, limits.Deadline(limits.op));
  }
  if (returned) {
    report.trap_return = returned->ret >= 0 ? returned->ret : -returned->err;
  }
  report.facts.target_alive = t.Alive();
  report.residue = rollback::CheckResidue(t, before, report.journal, request, report.trap_return);
  const Result<void> kept =
      rollback::CheckGuarantee(spec.strategy, report.journal, report.residue, report.facts, spec.k);
  if (!kept) report.broken = kept.error().message();
  if (report.target_left_blocked && report.broken.empty()) {
    report.broken = "left the target blocked in the notification";
  }
}

}  // namespace

// Acts on the injecting thread's behalf when it sleeps inside an ioctl: SCHED_FIFO below
// the injecting thread and above the target on the same CPU, it runs exactly then.
struct InjectionLab::FaultThread {
  explicit FaultThread(int cpu, bool fifo) : event(::eventfd(0, EFD_CLOEXEC)) {
    thread = std::thread([this, cpu, fifo] {
      SetScheduling(cpu, fifo ? SCHED_FIFO : SCHED_OTHER, kFaultPriority);
      ready = true;
      for (;;) {
        uint64_t value = 0;
        if (::read(event, &value, sizeof(value)) != sizeof(value)) continue;
        std::lock_guard<std::mutex> lock(mutex);
        if (stop) return;
        if (!action) continue;
        // Without SCHED_FIFO it may get here first: wait for the sleep it is meant for.
        for (int i = 0; i < 2000 && armed.load(); ++i) {
          const char state = TaskState(::getpid(), victim);
          if (state == 'S' || state == 'D') break;
          ::usleep(5);
        }
        if (!armed.exchange(false)) continue;
        action();
        fired = true;
      }
    });
    // Armed before it has its priority, it could lose the CPU to the target.
    while (!ready.load()) std::this_thread::yield();
  }
  ~FaultThread() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop = true;
    }
    const uint64_t one = 1;
    ::write(event, &one, sizeof(one));
    thread.join();
    ::close(event);
  }
  void Arm(pid_t tid, std::function<void()> what) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      victim = tid;
      action = std::move(what);
      fired = false;
      armed = true;
    }
    const uint64_t one = 1;
    ::write(event, &one, sizeof(one));
  }
  // True when the action ran (while the ioctl slept); else it never will.
  bool Disarm() {
    if (armed.exchange(false)) return false;
    std::lock_guard<std::mutex> lock(mutex);  // it may be running the action right now
    return fired;
  }

  int event;
  std::thread thread;
  std::mutex mutex;
  std::atomic<bool> armed{false};
  std::atomic<bool> ready{false};
  std::function<void()> action;
  pid_t victim = 0;
  bool fired = false;
  bool stop = false;
};

// Applies a plan at its point.
class InjectionLab::Hooks final : public rollback::InjectionHooks {
 public:
  Hooks(const FaultPlan& plan, Target& target, FailNthNotifier& seam, FaultThread* thread,
        RunReport& report)
      : plan_(plan), target_(target), seam_(seam), thread_(thread), report_(report) {}

  bool BeforeIoctl(int index, NotifierCall call) override {
    if (plan_.kind != FaultKind::kNone && plan_.ioctl == index &&
        plan_.kind != FaultKind::kFailGetfd) {
      if (plan_.kind == FaultKind::kFailIoctl) {
        seam_.FailNth(call, 1, Errno(plan_.err));
        Fired("before ioctl " + std::to_string(index));
      } else if (plan_.when == FaultPlan::When::kDuring && thread_ != nullptr) {
        armed_index_ = index;
        thread_->Arm(static_cast<pid_t>(::syscall(SYS_gettid)), [this] { Act(); });
      } else if (plan_.when == FaultPlan::When::kDuring && remote_arm_ >= 0) {
        armed_index_ = index;
        (void)::write(remote_arm_, &index, sizeof(index));
      } else {
        Act();
        Fired("before ioctl " + std::to_string(index));
      }
    }
    return !stop_;
  }

  void AfterIoctl(int index) override {
    if (armed_index_ != index) return;
    armed_index_ = -1;
    if (thread_ == nullptr) {
      Act();  // still alive: the ioctl did not sleep, so the fault comes now
      return;
    }
    if (thread_->Disarm()) {
      Fired("during ioctl " + std::to_string(index));
    } else {
      Act();
      Fired("after ioctl " + std::to_string(index) + ", which did not sleep");
    }
  }

  void set_injecting_tid(pid_t tid) { injecting_tid_ = tid; }
  // In a forked supervisor: `during` faults are armed by writing the ioctl index here.
  void set_remote_arm(int fd) { remote_arm_ = fd; }

 private:
  void Fired(const std::string& where) {
    report_.fault_fired = true;
    report_.fault_note = where;
  }

  // The fault itself; runs on the fault thread (during) or the injecting thread.
  void Act() {
    const pid_t trapped = target_.task_pid(kTrappedTask);
    switch (plan_.kind) {
      case FaultKind::kInterrupt:
        stop_ = true;
        ::syscall(SYS_tgkill, ::getpid(), injecting_tid_, InterruptSignal(false));
        break;
      case FaultKind::kSignal:
        ::syscall(SYS_tgkill, ::getpid(), injecting_tid_, InterruptSignal(false));
        break;
      case FaultKind::kSignalRestart:
        ::syscall(SYS_tgkill, ::getpid(), injecting_tid_, InterruptSignal(true));
        break;
      case FaultKind::kKillSupervisor:
        ::kill(::getpid(), SIGKILL);
        break;
      case FaultKind::kSignalTarget:
        ::syscall(SYS_pidfd_send_signal, target_.task_pidfd(kTrappedTask), kTargetSignal, nullptr,
                  0);
        break;
      case FaultKind::kKillTarget:
        target_.KillTasks();
        break;
      case FaultKind::kSqueezeRlimit: {
        struct rlimit limit {};
        ::prlimit(trapped, RLIMIT_NOFILE, nullptr, &limit);
        limit.rlim_cur = 0;
        ::prlimit(trapped, RLIMIT_NOFILE, &limit, nullptr);
        break;
      }
      case FaultKind::kNone:
      case FaultKind::kFailIoctl:
      case FaultKind::kFailGetfd:
        break;
    }
  }

  const FaultPlan& plan_;
  Target& target_;
  FailNthNotifier& seam_;
  FaultThread* thread_;
  RunReport& report_;
  int armed_index_ = -1;
  int remote_arm_ = -1;
  pid_t injecting_tid_ = 0;
  std::atomic<bool> stop_{false};
};

InjectionLab::InjectionLab(int cpu)
    : pool_([] {
        TargetConfig config;
        config.callers = 1;
        return config;
      }()) {
  cpu_ = ChooseCpu(cpu);
  InstallInterruptHandlers();
  // The targets take the spawning thread's CPU: everything shares one.
  SetScheduling(cpu_, SCHED_OTHER, 0);
  // Probe SCHED_FIFO on a short-lived thread: the lab's own thread keeps its policy.
  std::thread([this] { deterministic_ = SetScheduling(cpu_, SCHED_FIFO, kFaultPriority); }).join();
  fault_thread_ = std::make_unique<FaultThread>(cpu_, deterministic_);
  for (int i = 0; i < kMaxFiles; ++i) {
    files_.emplace_back(
        static_cast<int>(::syscall(SYS_memfd_create, "addfdlab-inject", MFD_CLOEXEC)));
  }
}

InjectionLab::~InjectionLab() = default;

std::vector<int> InjectionLab::OwnedFds() const {
  std::vector<int> fds = pool_.OwnedFds();
  for (const UniqueFd& fd : files_) fds.push_back(fd.get());
  fds.push_back(fault_thread_->event);
  return fds;
}

std::string RunReport::Format(const RunSpec& spec) const {
  std::string out = std::string(rollback::StrategyName(spec.strategy)) +
                    " k=" + std::to_string(spec.k) + " fault " + spec.fault.Format();
  if (!fault_note.empty()) out += " (" + fault_note + ")";
  out += "\n  journal: " + journal.Format();
  out += "\n  trap returned: " + (trap_return ? std::to_string(*trap_return) : "nothing");
  out += "\n  residue: " + residue.Format();
  if (target_left_blocked) out += "\n  the strategy never answered: the harness did";
  if (!harness_error.empty()) out += "\n  harness: " + harness_error;
  out += "\n  guarantee: " + (broken.empty() ? std::string("kept") : "BROKEN: " + broken);
  return out;
}

Result<void> InjectionLab::Validate(const RunSpec& spec) { return ValidateRunSpec(spec); }

RunReport InjectionLab::Run(const RunSpec& spec) {
  RunReport report;
  if (const Result<void> valid = Validate(spec); !valid) {
    report.harness_error = valid.error().message();
    return report;
  }
  auto acquired = pool_.Acquire();
  if (!acquired) {
    report.harness_error = "no target: " + acquired.error().ToString();
    return report;
  }
  std::unique_ptr<Target> target = std::move(*acquired);
  Target& t = *target;
  const auto harness = [&](const std::string& what) {
    report.harness_error = what;
    t.Taint();
    pool_.Release(std::move(target));
    return report;
  };
  if (const Result<void> prepared = PrepareTarget(spec, t); !prepared) {
    return harness(prepared.error().message());
  }
  auto before = rollback::TakeTableBefore(t);
  if (!before) return harness("cannot read the table before: " + before.error().Name());
  const rollback::InjectionRequest request = MakeInjectionRequest(spec, files_, *before);

  if (!t.Start(kTrappedTask, MakeRequest(agent::Command::kTrap))) return harness("trap failed");
  const Limits limits = Limits::FromEnvironment();
  auto notif = RecvNotification(t.listener(), limits.Deadline(limits.op));
  if (!notif) return harness("no notification: " + notif.error().Name());

  FailNthNotifier seam(SystemNotifier());
  if (spec.fault.kind == FaultKind::kFailGetfd) {
    seam.FailNth(NotifierCall::kPidfdGetfd, spec.fault.ioctl + 1, Errno(spec.fault.err));
  }
  rollback::InjectionContext ctx;
  ctx.api = &seam;
  ctx.listener = t.listener();
  ctx.id = notif->id;
  ctx.target = &t;
  ctx.trapped_task = kTrappedTask;
  if (spec.fault.kind == FaultKind::kKillSupervisor) {
    const Result<void> injected = InjectFromChild(spec, t, seam, ctx, request, report);
    if (!injected) return harness(injected.error().message());
  } else {
    InjectOnThread(spec, t, seam, ctx, request, report);
  }

  Judge(spec, t, notif->id, *before, request, limits, report);
  if (spec.fault.kind == FaultKind::kSqueezeRlimit || !t.Alive()) t.Taint();
  pool_.Release(std::move(target));
  return report;
}

Result<void> InjectionLab::InjectFromChild(const RunSpec& spec, Target& t, FailNthNotifier& seam,
                                           rollback::InjectionContext& ctx,
                                           const rollback::InjectionRequest& request,
                                           RunReport& report) {
  // The supervisor is a forked child holding the only listener; its journal comes out
  // through a pipe, entry by entry, so that a kill loses none of it.
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Error(Errno::Last(), "pipe failed");
  UniqueFd journal_in(pipe_fds[0]);
  UniqueFd journal_out(pipe_fds[1]);
  // A `during` kill comes from here: the child says which ioctl it is about to make, and
  // this thread, SCHED_FIFO below the child's and above the target's, runs exactly when
  // the child sleeps in it. (No thread in the child: sanitizers refuse threads started
  // after a fork of a threaded process.)
  int arm_fds[2];
  if (::pipe2(arm_fds, O_CLOEXEC) != 0) return Error(Errno::Last(), "pipe failed");
  UniqueFd arm_in(arm_fds[0]);
  UniqueFd arm_out(arm_fds[1]);
  // SCHED_FIFO before the fork: the child cannot start injecting before this thread
  // waits for it at its priority.
  if (deterministic_) SetScheduling(cpu_, SCHED_FIFO, kFaultPriority);
  const pid_t child = ::fork();
  if (child < 0) {
    const Errno error = Errno::Last();
    if (deterministic_) SetScheduling(cpu_, SCHED_OTHER, 0);
    return Error(error, "fork failed");
  }
  if (child == 0) {
    journal_in.reset();
    arm_in.reset();
    SetScheduling(cpu_, deterministic_ ? SCHED_FIFO : SCHED_OTHER, kInjectPriority);
    Hooks hooks(spec.fault, t, seam, nullptr, report);
    hooks.set_injecting_tid(static_cast<pid_t>(::syscall(SYS_gettid)));
    hooks.set_remote_arm(arm_out.get());
    ctx.hooks = &hooks;
    const int out = journal_out.get();
    ctx.on_entry = [out](const rollback::JournalEntry& e) { (void)::write(out, &e, sizeof(e)); };
    rollback::Inject(spec.strategy, ctx, request);
    ::_exit(0);
  }
  journal_out.reset();
  arm_out.reset();
  t.CloseListener();  // the child's copy is now the only one
  int armed = -1;
  while (::read(arm_in.get(), &armed, sizeof(armed)) == sizeof(armed)) {
    const char state = TaskState(child, child);
    if (state == 'S' || state == 'D') {
      ::kill(child, SIGKILL);
      report.fault_note = "during ioctl " + std::to_string(armed);
    }
  }
  if (deterministic_) SetScheduling(cpu_, SCHED_OTHER, 0);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  rollback::JournalEntry e;
  while (::read(journal_in.get(), &e, sizeof(e)) == sizeof(e)) {
    report.journal.entries.push_back(e);
    if (e.action == rollback::JournalEntry::Action::kReplied) {
      report.journal.replied = true;
      report.journal.succeeded = e.err == 0;
    }
  }
  report.fault_fired = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  if (report.fault_note.empty()) {
    report.fault_note =
        !report.fault_fired ? "the supervisor finished first"
        : spec.fault.when == FaultPlan::When::kBefore
            ? "before ioctl " + std::to_string(spec.fault.ioctl)
            : "after ioctl " + std::to_string(spec.fault.ioctl) + ", which did not sleep";
  }
  report.facts.supervisor_survived = !report.fault_fired;
  report.facts.notification_survived = !report.fault_fired;
  return {};
}

void InjectionLab::InjectOnThread(const RunSpec& spec, Target& t, FailNthNotifier& seam,
                                  rollback::InjectionContext& ctx,
                                  const rollback::InjectionRequest& request, RunReport& report) {
  Hooks hooks(spec.fault, t, seam, fault_thread_.get(), report);
  ctx.hooks = &hooks;
  std::thread injector([&] {
    SetScheduling(cpu_, deterministic_ ? SCHED_FIFO : SCHED_OTHER, kInjectPriority);
    hooks.set_injecting_tid(static_cast<pid_t>(::syscall(SYS_gettid)));
    report.journal = rollback::Inject(spec.strategy, ctx, request);
  });
  injector.join();
  if (report.fault_fired) {
    const FaultKind kind = spec.fault.kind;
    report.facts.notification_survived =
        kind != FaultKind::kSignalTarget && kind != FaultKind::kKillTarget;
    report.facts.syscalls_failed = SeamFault(kind);
    report.facts.rlimit_squeezed = kind == FaultKind::kSqueezeRlimit;
  }
}

}  // namespace addfdlab::faults
