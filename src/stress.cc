// The stress mode: one target whose tasks trap in a loop, supervisor threads that RECV and
// reply on several CPUs, a thread that signals the tasks or the supervisor threads
// periodically, and the accounting that joins both sides attempt by attempt.
#include "addfdlab/stress.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "addfdlab/agent_protocol.h"
#include "addfdlab/cells.h"
#include "addfdlab/environment.h"
#include "addfdlab/fd_table.h"
#include "addfdlab/notifier.h"
#include "addfdlab/supervisor.h"
#include "addfdlab/target.h"
#include "addfdlab/uapi.h"

namespace addfdlab {
namespace {

using agent::StressCheck;
using agent::StressReply;
using agent::StressSlot;

// The periodic signal (SA_RESTART, counted by the thread that catches it) and the one that
// takes a supervisor thread out of a sleeping RECV at the end (no SA_RESTART). Real-time
// signals that supervisor.h's interrupt signals (SIGRTMIN+4, +5) leave free.
int TickSignal() { return SIGRTMIN + 6; }
int StopSignal() { return SIGRTMIN + 7; }
// The target tasks' signal: SA_RESTART, counted by the agent.
constexpr int kTargetSignal = SIGUSR1;

thread_local volatile sig_atomic_t t_ticks = 0;
void CountTick(int) { t_ticks = t_ticks + 1; }
void IgnoreStop(int) {}

const char* ReplyName(StressReply kind) {
  switch (kind) {
    case StressReply::kSend:
      return "send";
    case StressReply::kAddFdSend:
      return "addfd_send";
    case StressReply::kAddFdThenSend:
      return "addfd_then_send";
  }
  return "-";
}

const char* CheckKind(StressCheck check) {
  switch (check) {
    case StressCheck::kOk:
      return "ok";
    case StressCheck::kWrongValue:
      return "wrong-value";
    case StressCheck::kDangling:
      return "dangling-fd";
    case StressCheck::kWrongFile:
      return "wrong-file";
    case StressCheck::kFailed:
      return "failed";
  }
  return "failed";
}

pid_t Gettid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// One reply the supervisor made (or tried): what it believes the target gets.
struct Event {
  int tag = 0;
  int64_t attempt = 0;
  uint64_t id = 0;
  StressReply kind = StressReply::kSend;
  int err = 0;              // 0: the kernel accepted the reply
  const char* failed = "";  // the ioctl that failed
  int64_t value = -1;       // the syscall's return the supervisor believes it gave
  uint32_t addfd_eintr = 0;
  int state_after_eintr = 0;  // ID_VALID's errno after an EINTR'd ADDFD (0: still SENT)
  bool signalled = false;     // the thread caught the periodic signal during the reply
};

enum class Call : int { kIdle = 0, kRecv, kAddFd, kSend, kIdValid };
const char* CallName(int call) {
  static constexpr const char* kNames[] = {"idle", "recv", "addfd", "send", "id_valid"};
  return call >= 0 && call <= 4 ? kNames[call] : "?";
}

// A supervisor thread: its events and counters are its own until it is joined.
struct Worker {
  std::thread thread;
  std::atomic<pid_t> tid{0};
  std::atomic<bool> done{false};
  std::atomic<int> call{0};
  std::atomic<uint64_t> trap_arg{0};
  std::atomic<int64_t> since_ns{0};
  std::vector<Event> events;
  uint64_t recv_stale = 0;
  uint64_t addfd_eintr = 0;
  uint64_t send_eintr = 0;
  uint64_t id_valid_eintr = 0;
  uint64_t addfd_send_signalled = 0;
  std::vector<std::string> harness;  // what the harness could not do
};

struct Shared {
  int listener = -1;
  int src_addfd_send = -1;
  int src_addfd = -1;
  int tasks = 0;
  int64_t per_task = 0;
  uint64_t seed = 0;
  unsigned kinds = 0;
  StressPlant plant = StressPlant::kNone;
  Millis op_budget{500};
  double scale = 1;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> progress{0};  // RECVs answered or stale: the watchdog's heartbeat
  std::atomic<uint64_t> replies{0};   // accepted replies, for the value plant
  std::atomic<int> leaks_planted{0};
  std::atomic<uint64_t> last_id{0};  // the newest id received, for the hammers
};

void Enter(Worker& w, Call call) {
  w.since_ns.store(NowNs(), std::memory_order_relaxed);
  w.call.store(static_cast<int>(call), std::memory_order_relaxed);
}

// ID_VALID until it answers something else than EINTR (the same mutex: ADDFD.LOCK.EINTR's
// lock), a bounded number of times.
int IdValidErrno(const Shared& s, Worker& w, uint64_t id) {
  Enter(w, Call::kIdValid);
  for (int tries = 0; tries < 10000; ++tries) {
    const Result<void> r = NotifIdValid(s.listener, id);
    if (r) return 0;
    if (r.error().value() != EINTR) return r.error().value();
    ++w.id_valid_eintr;
  }
  return EINTR;
}

// ADDFD, retried after EINTR: under an SA_RESTART handler the completion wait restarts by
// itself, so an EINTR comes from mutex_lock_interruptible (ADDFD.LOCK.EINTR), which never
// got as far as the notification: it must still be SENT.
Result<RemoteFd> AddFdRetry(const Shared& s, Worker& w, const seccomp_notif_addfd& req, Event& e) {
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(s.op_budget * s.scale);
  for (;;) {
    Enter(w, Call::kAddFd);
    Result<RemoteFd> r = NotifAddFd(s.listener, req);
    if (r || r.error().value() != EINTR || Clock::now() > deadline) return r;
    ++e.addfd_eintr;
    ++w.addfd_eintr;
    const int state = IdValidErrno(s, w, req.id);
    if (state != 0 && e.state_after_eintr == 0) e.state_after_eintr = state;
  }
}

Result<void> SendRetry(const Shared& s, Worker& w, const seccomp_notif_resp& resp) {
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(s.op_budget * s.scale);
  for (;;) {
    Enter(w, Call::kSend);
    Result<void> r = NotifSend(s.listener, resp);
    if (r || r.error().value() != EINTR || Clock::now() > deadline) return r;
    ++w.send_eintr;
  }
}

void Fail(Event& e, const char* call, const Error& error) {
  e.err = error.value();
  e.failed = call;
  e.value = -1;
}

void Reply(Shared& s, Worker& w, const seccomp_notif& n) {
  Event e;
  e.id = n.id;
  e.tag = static_cast<int>(n.data.args[0] >> 32);
  e.attempt = static_cast<int64_t>(n.data.args[0] & 0xffffffffu);
  if (n.data.nr != agent::kTrapSyscall || n.data.args[1] != agent::kStressMagic ||
      e.tag >= s.tasks || e.attempt >= s.per_task) {
    char what[160];
    std::snprintf(what, sizeof(what),
                  "a notification the stress loop did not make: nr %d, args %#llx %#llx", n.data.nr,
                  static_cast<unsigned long long>(n.data.args[0]),
                  static_cast<unsigned long long>(n.data.args[1]));
    w.harness.emplace_back(what);
    seccomp_notif_resp resp{};
    resp.id = n.id;
    resp.error = -ENOSYS;
    (void)SendRetry(s, w, resp);
    return;
  }
  w.trap_arg.store(n.data.args[0], std::memory_order_relaxed);
  if (s.plant == StressPlant::kHang && e.tag == 0 && e.attempt == 5) return;  // never answered
  e.kind = agent::StressReplyFor(s.seed, e.tag, e.attempt, s.kinds);
  if (s.plant == StressPlant::kLeak && e.attempt % 64 == 3 &&
      s.leaks_planted.fetch_add(1, std::memory_order_relaxed) < 4) {
    // The planted bug: an fd installed that no reply or record accounts for.
    seccomp_notif_addfd extra{};
    extra.id = n.id;
    extra.srcfd = static_cast<uint32_t>(s.src_addfd);
    (void)NotifAddFd(s.listener, extra);
  }
  const sig_atomic_t ticks = t_ticks;
  switch (e.kind) {
    case StressReply::kSend: {
      seccomp_notif_resp resp{};
      resp.id = n.id;
      resp.val = agent::StressSendValue(e.attempt);
      const Result<void> r = SendRetry(s, w, resp);
      if (r) {
        e.value = resp.val;
      } else {
        Fail(e, "send", r.error());
      }
      break;
    }
    case StressReply::kAddFdSend: {
      seccomp_notif_addfd req{};
      req.id = n.id;
      req.flags = uapi::kAddFdSetFd | uapi::kAddFdSend;
      req.srcfd = static_cast<uint32_t>(s.src_addfd_send);
      req.newfd = static_cast<uint32_t>(agent::StressSetFd(e.tag));
      const Result<RemoteFd> r = AddFdRetry(s, w, req, e);
      if (r) {
        e.value = r->number;
      } else {
        Fail(e, "addfd", r.error());
      }
      break;
    }
    case StressReply::kAddFdThenSend: {
      seccomp_notif_addfd req{};
      req.id = n.id;
      req.srcfd = static_cast<uint32_t>(s.src_addfd);
      const Result<RemoteFd> r = AddFdRetry(s, w, req, e);
      if (!r) {
        Fail(e, "addfd", r.error());
        break;
      }
      seccomp_notif_resp resp{};
      resp.id = n.id;
      resp.val = r->number;
      const Result<void> sent = SendRetry(s, w, resp);
      if (sent) {
        e.value = r->number;
      } else {
        Fail(e, "send", sent.error());
      }
      break;
    }
  }
  e.signalled = t_ticks != ticks;
  if (e.signalled && e.kind == StressReply::kAddFdSend) ++w.addfd_send_signalled;
  if (e.err == 0 && s.plant == StressPlant::kValue &&
      s.replies.fetch_add(1, std::memory_order_relaxed) % 50 == 49) {
    e.value += 1;  // the planted bug: the record says another fd than the kernel gave
  }
  w.events.push_back(e);
  if (s.plant == StressPlant::kDuplicate && e.err == 0 &&
      s.replies.fetch_add(1, std::memory_order_relaxed) % 100 == 99) {
    w.events.push_back(e);  // the planted bug: one notification recorded as two
  }
}

void Work(Shared& s, Worker& w) {
  w.tid.store(Gettid());
  while (!s.stop.load(std::memory_order_relaxed)) {
    Enter(w, Call::kIdle);
    pollfd p{s.listener, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0 || (p.revents & POLLIN) == 0) continue;
    Enter(w, Call::kRecv);
    seccomp_notif n{};
    const Result<void> r = NotifRecv(s.listener, &n);
    if (!r) {
      // ENOENT: the notification was gone by then (the task was signalled while it was
      // still INIT: RECV.STALE); EINTR: the stop signal.
      if (r.error().value() == ENOENT) {
        ++w.recv_stale;
        s.progress.fetch_add(1, std::memory_order_relaxed);
      } else if (r.error().value() != EINTR) {
        w.harness.push_back("RECV: " + r.error().ToString());
      }
      continue;
    }
    s.last_id.store(n.id, std::memory_order_relaxed);
    Reply(s, w, n);
    s.progress.fetch_add(1, std::memory_order_relaxed);
  }
  Enter(w, Call::kIdle);
  w.done.store(true);
}

// A hammer: ID_VALID on the newest id, over and over, so that the notifier lock is often
// held when an ADDFD wants it (seccomp_notify_id_valid takes it interruptibly too).
void Hammer(Shared& s, Worker& w) {
  w.tid.store(Gettid());
  while (!s.stop.load(std::memory_order_relaxed)) {
    Enter(w, Call::kIdValid);
    const Result<void> r = NotifIdValid(s.listener, s.last_id.load(std::memory_order_relaxed));
    if (!r && r.error().value() == EINTR) ++w.id_valid_eintr;
  }
  Enter(w, Call::kIdle);
  w.done.store(true);
}

// Restores a signal's previous action when it goes.
class SignalAction {
 public:
  SignalAction(int sig, void (*handler)(int), bool restart) : sig_(sig) {
    struct sigaction act {};
    act.sa_handler = handler;
    act.sa_flags = restart ? SA_RESTART : 0;
    sigemptyset(&act.sa_mask);
    ::sigaction(sig_, &act, &old_);
  }
  ~SignalAction() { ::sigaction(sig_, &old_, nullptr); }
  SignalAction(const SignalAction&) = delete;
  SignalAction& operator=(const SignalAction&) = delete;

 private:
  int sig_;
  struct sigaction old_ {};
};

// Restores the calling thread's CPU affinity when it goes.
class AffinityScope {
 public:
  explicit AffinityScope(const std::vector<int>& cpus) {
    saved_ = ::sched_getaffinity(0, sizeof(old_), &old_) == 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu : cpus) CPU_SET(static_cast<size_t>(cpu), &set);
    ::sched_setaffinity(0, sizeof(set), &set);
  }
  ~AffinityScope() {
    if (saved_) ::sched_setaffinity(0, sizeof(old_), &old_);
  }
  AffinityScope(const AffinityScope&) = delete;
  AffinityScope& operator=(const AffinityScope&) = delete;

 private:
  cpu_set_t old_{};
  bool saved_ = false;
};

std::string ReadLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

Result<UniqueFd> Memfd(const char* name, size_t size) {
  UniqueFd fd(static_cast<int>(::syscall(SYS_memfd_create, name, MFD_CLOEXEC)));
  if (!fd) return Error(Errno::Last(), std::string("memfd_create ") + name);
  if (size > 0 && ::ftruncate(fd.get(), static_cast<off_t>(size)) < 0) {
    return Error(Errno::Last(), std::string("ftruncate ") + name);
  }
  return fd;
}

Result<int64_t> Inode(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) < 0) return Errno::Last();
  return static_cast<int64_t>(st.st_ino);
}

// Findings by signature, counted; and, per cell, the rounds that deviated (one round may
// show several findings: a refused reply and the return nobody gave).
class Findings {
 public:
  void Add(const std::string& kind, const std::string& cell, const char* reply,
           const std::string& example, uint64_t count = 1, int64_t round = -1) {
    StressFinding f;
    f.kind = kind;
    f.cell = cell;
    f.reply = reply;
    auto [it, fresh] = by_signature_.emplace(f.Signature(), f);
    it->second.count += count;
    if (fresh) it->second.example = example;
    if (round >= 0) {
      rounds_[cell].insert(round);
    } else {
      other_[cell] += count;
    }
  }
  // The rounds (or, for findings of no round, the count) that deviated at `cell`.
  uint64_t Deviated(const std::string& cell) const {
    const auto r = rounds_.find(cell);
    const auto o = other_.find(cell);
    return (r == rounds_.end() ? 0 : r->second.size()) + (o == other_.end() ? 0 : o->second);
  }
  std::vector<StressFinding> Take() {
    std::vector<StressFinding> out;
    for (auto& [signature, finding] : by_signature_) out.push_back(std::move(finding));
    return out;
  }

 private:
  std::map<std::string, StressFinding> by_signature_;
  std::map<std::string, std::set<int64_t>> rounds_;
  std::map<std::string, uint64_t> other_;
};

std::string Attempt(int tag, int64_t attempt) {
  return "attempt " + std::to_string(tag) + "." + std::to_string(attempt);
}

std::string DescribeReturn(const StressSlot& slot) {
  if (slot.ret == -1) return "-1 " + ErrnoName(slot.err);
  return std::to_string(slot.ret);
}

}  // namespace

const char* StressRaceName(StressRace race) {
  switch (race) {
    case StressRace::kFastReply:
      return "fast-reply";
    case StressRace::kLockEintr:
      return "lock-eintr";
    case StressRace::kAll:
      return "all";
  }
  return "all";
}

bool ParseStressRace(const std::string& name, StressRace* race) {
  for (StressRace r : {StressRace::kFastReply, StressRace::kLockEintr, StressRace::kAll}) {
    if (name == StressRaceName(r)) {
      *race = r;
      return true;
    }
  }
  return false;
}

StressPlant StressPlantFromEnvironment() {
  const std::string plant = ReadEnvironment().stress_plant;
  if (plant == "value") return StressPlant::kValue;
  if (plant == "leak") return StressPlant::kLeak;
  if (plant == "hang") return StressPlant::kHang;
  if (plant == "duplicate") return StressPlant::kDuplicate;
  return StressPlant::kNone;
}

std::string StressFinding::Signature() const {
  return kind + ":" + (cell.empty() ? "-" : cell) + ":" + reply;
}

bool StressReport::ok() const {
  return std::all_of(findings.begin(), findings.end(),
                     [](const StressFinding& f) { return !f.known.empty(); });
}

Result<StressReport> RunStress(const StressOptions& options, const Features& features) {
  if (!features.has(Feature::kUserNotification) || !features.has(Feature::kAddFd)) {
    return Error(Errno(ENOSYS), "this kernel has no seccomp user notification with ADDFD");
  }
  if (options.rounds < 1 || options.tasks < 1 || options.tasks > agent::kMaxTasks ||
      options.threads < 1 || options.threads > 16 || options.hammers < 0 || options.hammers > 16 ||
      options.signal_period_us < 0) {
    return Error::Invalid("rounds >= 1, tasks 1.." + std::to_string(agent::kMaxTasks) +
                          ", threads 1..16, hammers 0..16, signal period >= 0");
  }
  const auto started = Clock::now();
  StressReport report;
  report.kernel = features.release;
  report.options = options;
  const bool fast = options.race != StressRace::kLockEintr;
  const bool lock = options.race != StressRace::kFastReply;
  report.wait_killable = fast && features.has(Feature::kWaitKillableRecv);
  report.kinds = 1u << static_cast<unsigned>(StressReply::kSend) |
                 1u << static_cast<unsigned>(StressReply::kAddFdThenSend);
  if (features.has(Feature::kSend) && features.has(Feature::kSetFd)) {
    report.kinds |= 1u << static_cast<unsigned>(StressReply::kAddFdSend);
  }

  std::vector<int> cpus = AllowedCpus();
  if (options.cpus > 0 && static_cast<size_t>(options.cpus) < cpus.size()) {
    cpus.resize(static_cast<size_t>(options.cpus));
  }
  AffinityScope affinity(cpus);
  report.cpus = static_cast<int>(cpus.size());
  if (cpus.size() < 2) {
    report.cpu_note =
        "one CPU: a reply lands between a signalled task's wake-up and its relock, and an "
        "ADDFD finds the notifier lock held by a task that is not running, only when that "
        "task is preempted there";
  }

  Shared s;
  s.tasks = options.tasks;
  s.per_task = (options.rounds + options.tasks - 1) / options.tasks;
  s.seed = options.seed;
  s.kinds = report.kinds;
  s.plant = options.plant;
  s.op_budget = options.limits.op;
  s.scale = options.limits.scale;
  const size_t slots = static_cast<size_t>(s.tasks) * static_cast<size_t>(s.per_task);
  auto src_send = Memfd("addfdlab-stress-addfd-send", 0);
  if (!src_send) return src_send.error();
  auto src_plain = Memfd("addfdlab-stress-addfd", 0);
  if (!src_plain) return src_plain.error();
  auto shm = Memfd("addfdlab-stress-slots", slots * sizeof(StressSlot));
  if (!shm) return shm.error();
  const Result<int64_t> ino_send = Inode(src_send->get());
  const Result<int64_t> ino_plain = Inode(src_plain->get());
  if (!ino_send || !ino_plain) return Error(Errno(EIO), "fstat of a memfd failed");
  void* map = ::mmap(nullptr, slots * sizeof(StressSlot), PROT_READ | PROT_WRITE, MAP_SHARED,
                     shm->get(), 0);
  if (map == MAP_FAILED) return Error(Errno::Last(), "mmap of the slots memfd");
  std::unique_ptr<void, std::function<void(void*)>> unmap(
      map, [bytes = slots * sizeof(StressSlot)](void* p) { ::munmap(p, bytes); });
  const auto* slot_table = static_cast<const StressSlot*>(map);
  s.src_addfd_send = src_send->get();
  s.src_addfd = src_plain->get();

  TargetConfig config;
  config.filter_flags =
      uapi::kFilterNewListener | (report.wait_killable ? uapi::kFilterWaitKillableRecv : 0u);
  config.callers = options.tasks - 1;
  config.limits = options.limits;
  auto spawned = Target::Spawn(config);
  if (!spawned) return spawned.error().WithContext("spawning the stress target");
  std::unique_ptr<Target> target = std::move(*spawned);
  if (target->listener() < 0) {
    return Error(Errno(target->filter_errno()), "the stress target has no listener");
  }
  s.listener = target->listener();
  // The supervisor's state with the target (and the spawner) in place: what it must be
  // again once the target is gone, but for the target's own fds and children.
  const Result<ProcessHygiene> hygiene_before = SnapshotHygiene(::getpid());
  const std::vector<int> target_fds = target->OwnedFds();

  const Result<void> handlers =
      target->Broadcast(MakeRequest(agent::Command::kSigaction, {kTargetSignal, 1, 1}));
  if (!handlers) return handlers.error().WithContext("installing the target's handlers");
  {
    // The slots memfd goes into the target through the ioctl under test: one trap,
    // answered with ADDFD SETFD at kStressShmFd, then a plain reply.
    ADDFDLAB_TRY(target->Start(0, MakeRequest(agent::Command::kTrap)));
    const auto deadline = options.limits.Deadline(options.limits.command);
    auto n = RecvNotification(s.listener, deadline);
    if (!n) return n.error().WithContext("receiving the setup trap");
    seccomp_notif_addfd req{};
    req.id = n->id;
    req.flags = uapi::kAddFdSetFd;
    req.srcfd = static_cast<uint32_t>(shm->get());
    req.newfd = agent::kStressShmFd;
    req.newfd_flags = O_CLOEXEC;
    auto installed = NotifAddFd(s.listener, req);
    if (!installed) return installed.error().WithContext("installing the slots memfd");
    seccomp_notif_resp resp{};
    resp.id = n->id;
    ADDFDLAB_TRY_CONTEXT(NotifSend(s.listener, resp), "answering the setup trap");
    auto done = target->Finish(0, deadline);
    if (!done) return done.error().WithContext("the setup trap's return");
  }

  SignalAction tick(TickSignal(), CountTick, true);
  SignalAction stop(StopSignal(), IgnoreStop, false);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < options.threads + options.hammers; ++i) {
    workers.push_back(std::make_unique<Worker>());
    Worker& w = *workers.back();
    if (i < options.threads) {
      w.thread = std::thread([&s, &w] { Work(s, w); });
    } else {
      w.thread = std::thread([&s, &w] { Hammer(s, w); });
    }
  }
  for (auto& w : workers) {
    while (w->tid.load() == 0) std::this_thread::yield();
  }

  for (int t = 0; t < options.tasks; ++t) {
    const Result<void> started_loop = target->Start(
        t, MakeRequest(agent::Command::kStressLoop,
                       {s.per_task, static_cast<int64_t>(options.seed), *ino_send, *ino_plain,
                        agent::StressLoopArg(t, s.kinds, agent::kStressShmFd)}));
    if (!started_loop) {
      s.stop.store(true);
      for (auto& w : workers) w->thread.join();
      return started_loop.error().WithContext("starting task " + std::to_string(t) + "'s loop");
    }
  }

  std::atomic<uint64_t> target_signals{0};
  std::atomic<uint64_t> supervisor_signals{0};
  std::atomic<bool> stop_signals{false};
  std::thread signaller;
  if (options.signal_period_us > 0) {
    signaller = std::thread([&] {
      const pid_t self = ::getpid();
      timespec period{0, static_cast<long>(options.signal_period_us) * 1000};
      period.tv_sec = period.tv_nsec / 1000000000;
      period.tv_nsec %= 1000000000;
      while (!stop_signals.load(std::memory_order_relaxed)) {
        ::clock_nanosleep(CLOCK_MONOTONIC, 0, &period, nullptr);
        if (fast) {
          for (int t = 0; t < options.tasks; ++t) {
            if (target->Signal(t, kTargetSignal)) target_signals.fetch_add(1);
          }
        }
        if (lock) {
          for (auto& w : workers) {
            if (::syscall(SYS_tgkill, self, w->tid.load(), TickSignal()) == 0) {
              supervisor_signals.fetch_add(1);
            }
          }
        }
      }
    });
  }

  // The watchdog: every task's loop must finish, and while one runs, the supervisor must
  // keep receiving. No progress for the stall budget is a hang: the state is dumped.
  const auto stall = std::chrono::duration_cast<Clock::duration>(Millis(3000) * s.scale);
  std::vector<bool> finished(static_cast<size_t>(options.tasks), false);
  std::vector<agent::Reply> replies(static_cast<size_t>(options.tasks));
  int remaining = options.tasks;
  uint64_t last_progress = 0;
  auto last_change = Clock::now();
  std::vector<std::string> loop_errors;
  while (remaining > 0) {
    for (int t = 0; t < options.tasks; ++t) {
      const auto ut = static_cast<size_t>(t);
      if (finished[ut] || !target->ReplyReady(t)) continue;
      auto reply = target->Finish(t, options.limits.Deadline(options.limits.command));
      finished[ut] = true;
      --remaining;
      if (reply) {
        replies[ut] = *reply;
        if (reply->ret != s.per_task) {
          loop_errors.push_back("task " + std::to_string(t) + "'s loop made " +
                                std::to_string(reply->ret) + " of " + std::to_string(s.per_task) +
                                " attempts");
        } else if (reply->err != 0) {
          loop_errors.push_back("task " + std::to_string(t) + "'s loop: " + ErrnoName(reply->err));
        }
      } else {
        loop_errors.push_back("task " + std::to_string(t) + "'s loop: " + reply.error().ToString());
      }
    }
    const uint64_t progress = s.progress.load();
    const auto now = Clock::now();
    if (progress != last_progress) {
      last_progress = progress;
      last_change = now;
    } else if (remaining > 0 && now - last_change > stall) {
      report.hung = true;
      break;
    }
    ::poll(nullptr, 0, 2);
  }

  stop_signals.store(true);
  if (signaller.joinable()) signaller.join();
  if (report.hung) {
    std::ostringstream dump;
    dump << "no notification answered for " << std::chrono::duration_cast<Millis>(stall).count()
         << " ms\n";
    for (int t = 0; t < options.tasks; ++t) {
      int64_t done = 0;
      for (int64_t i = 0; i < s.per_task; ++i) {
        done += slot_table[static_cast<size_t>(t) * static_cast<size_t>(s.per_task) +
                           static_cast<size_t>(i)]
                    .done;
      }
      const pid_t pid = target->task_pid(t);
      const char state = target->TaskState(t);
      dump << "  task " << t << " (pid " << pid << "): state " << (state ? state : '-') << ", "
           << done << " of " << s.per_task << " attempts returned, wchan "
           << ReadLine("/proc/" + std::to_string(pid) + "/wchan") << "\n";
    }
    const int64_t now_ns = NowNs();
    for (size_t i = 0; i < workers.size(); ++i) {
      const Worker& w = *workers[i];
      const uint64_t arg = w.trap_arg.load();
      dump << "  supervisor thread " << i << " (tid " << w.tid.load() << "): state "
           << TaskState(::getpid(), w.tid.load()) << ", in " << CallName(w.call.load()) << " for "
           << (now_ns - w.since_ns.load()) / 1000000 << " ms, last "
           << Attempt(static_cast<int>(arg >> 32), static_cast<int64_t>(arg & 0xffffffffu)) << "\n";
    }
    report.hang_dump = dump.str();
    // A killed target answers what the threads wait for (ESRCH, ENOENT); the listener
    // stays open until the threads are gone.
    target->KillTasks();
  }

  s.stop.store(true);
  const auto join_deadline = options.limits.Deadline(options.limits.reap);
  for (;;) {
    bool all_done = true;
    for (auto& w : workers) {
      if (w->done.load()) continue;
      all_done = false;
      ::syscall(SYS_tgkill, ::getpid(), w->tid.load(), StopSignal());
    }
    if (all_done) break;
    if (Clock::now() > join_deadline) {
      target->KillTasks();
    }
    ::poll(nullptr, 0, 1);
  }
  for (auto& w : workers) w->thread.join();

  // What is left in the target's table: every fd it verified it closed.
  Result<FdSnapshot> table =
      report.hung ? Result<FdSnapshot>(Error(Errno(ESRCH), "the target was killed at the hang"))
                  : SnapshotFds(target->pid());
  target.reset();
  src_send->reset();
  src_plain->reset();
  shm->reset();

  // The join: every attempt against every reply made for it.
  Findings findings;
  StressCounts& c = report.counts;
  c.target_signals = target_signals.load();
  c.supervisor_signals = supervisor_signals.load();
  std::vector<std::vector<const Event*>> by_attempt(slots);
  std::vector<uint64_t> ids;
  for (auto& w : workers) {
    c.recv_stale += w->recv_stale;
    c.addfd_eintr += w->addfd_eintr;
    c.send_eintr += w->send_eintr;
    c.id_valid_eintr += w->id_valid_eintr;
    c.addfd_send_signalled += w->addfd_send_signalled;
    for (const std::string& h : w->harness) findings.Add("harness", "", "-", h);
    for (const Event& e : w->events) {
      by_attempt[static_cast<size_t>(e.tag) * static_cast<size_t>(s.per_task) +
                 static_cast<size_t>(e.attempt)]
          .push_back(&e);
      ids.push_back(e.id);
      ++c.notifications;
    }
  }
  for (const std::string& e : loop_errors) findings.Add("harness", "", "-", e);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  if (!ids.empty()) c.id_gaps = ids.back() - ids.front() + 1 - ids.size();

  const std::string fast_cell = report.wait_killable ? Cell("ADDFD.WAIT_KILLABLE.FAST_REPLY") : "";
  // Attempts whose task caught a signal while the attempt's one notification was pending
  // and never taken back (no id left unreceived since the task's previous notification): the
  // signal came after RECV, where a WAIT_KILLABLE_RECV kernel decides between waiting on
  // (SENT) and, without the fast-reply fix, giving up (REPLIED); or on the way out.
  uint64_t window_exposed = 0;
  const auto unreceived_between = [&ids](uint64_t low, uint64_t high) -> uint64_t {
    if (high <= low + 1) return 0;
    const auto first = std::upper_bound(ids.begin(), ids.end(), low);
    const auto last = std::lower_bound(ids.begin(), ids.end(), high);
    return high - low - 1 - static_cast<uint64_t>(last - first);
  };
  for (int t = 0; t < s.tasks; ++t) {
    uint64_t previous_id = ids.empty() ? 0 : ids.front() - 1;
    for (int64_t i = 0; i < s.per_task; ++i) {
      const size_t k =
          static_cast<size_t>(t) * static_cast<size_t>(s.per_task) + static_cast<size_t>(i);
      const StressSlot& slot = slot_table[k];
      const auto round = static_cast<int64_t>(k);
      const std::vector<const Event*>& events = by_attempt[k];
      // The previous attempt's last notification, then this one's, for the next attempt.
      const uint64_t before_id = previous_id;
      for (const Event* e : events) previous_id = std::max(previous_id, e->id);
      const StressReply kind = agent::StressReplyFor(s.seed, t, i, s.kinds);
      const char* reply = ReplyName(kind);
      const bool fd_reply = kind != StressReply::kSend;
      if (slot.done) ++c.attempts;
      if (slot.signalled) ++c.signalled_attempts;
      const Event* accepted = nullptr;
      int accepted_count = 0;
      for (const Event* e : events) {
        if (e->state_after_eintr != 0) {
          findings.Add("state-after-eintr", Cell("ADDFD.LOCK.EINTR"), reply,
                       Attempt(t, i) + ": after an ADDFD answered EINTR, ID_VALID answered " +
                           ErrnoName(e->state_after_eintr) + " (the notification left SENT)",
                       1, round);
        }
        if (e->err == 0) {
          ++accepted_count;
          if (accepted == nullptr) accepted = e;
          continue;
        }
        // Nothing but this thread had the notification: a reply the kernel refuses is a
        // contract break. An ADDFD|SEND refused with EINPROGRESS or ENOENT after a restart
        // is ADDFD.INTR.SEND's (the interrupted first try left it REPLIED).
        const bool intr_send = e->kind == StressReply::kAddFdSend &&
                               (e->err == EINPROGRESS || e->err == ENOENT) && events.size() == 1;
        findings.Add("contract", intr_send ? Cell("ADDFD.INTR.SEND") : fast_cell, reply,
                     Attempt(t, i) + " (id " + std::to_string(e->id) + "): " + e->failed +
                         " answered " + ErrnoName(e->err) +
                         (e->signalled ? ", the thread caught a signal during it" : ""),
                     1, round);
      }
      if (events.size() > 1) {
        findings.Add("duplicate", fast_cell, reply,
                     Attempt(t, i) + " notified " + std::to_string(events.size()) +
                         " times: one syscall attempt, one notification, broken",
                     1, round);
      }
      if (accepted_count > 1) {
        findings.Add("answered-twice", fast_cell, reply,
                     Attempt(t, i) + ": " + std::to_string(accepted_count) +
                         " replies accepted for one syscall attempt",
                     1, round);
      }
      if (!slot.done) continue;
      if (events.empty()) {
        findings.Add("unnotified", fast_cell, reply,
                     Attempt(t, i) + " returned " + DescribeReturn(slot) +
                         " but no notification for it was received",
                     1, round);
        continue;
      }
      if (accepted == nullptr) {
        // The syscall returned though no reply was accepted: what it returned is nobody's.
        const bool intr_send = kind == StressReply::kAddFdSend && events.size() == 1;
        findings.Add(slot.ret == -1 ? "failed"
                     : fd_reply     ? "dangling-fd"
                                    : "wrong-value",
                     intr_send ? Cell("ADDFD.INTR.SEND") : fast_cell, reply,
                     Attempt(t, i) + " returned " + DescribeReturn(slot) +
                         " though every reply to it was refused",
                     1, round);
        continue;
      }
      if (accepted_count == 1 && events.size() == 1 && slot.signalled &&
          unreceived_between(before_id, events.front()->id) == 0) {
        ++window_exposed;
      }
      if (kind == StressReply::kSend) ++c.send_ok;
      if (kind == StressReply::kAddFdSend) ++c.addfd_send_ok;
      if (kind == StressReply::kAddFdThenSend) ++c.addfd_then_send_ok;
      ++c.replies_ok;
      if (slot.check == StressCheck::kOk && slot.ret == accepted->value) continue;
      const char* what = slot.check == StressCheck::kOk ? "wrong-value" : CheckKind(slot.check);
      const std::string cell = events.size() > 1                     ? fast_cell
                               : kind == StressReply::kAddFdSend     ? Cell("ADDFD.SEND.OK")
                               : kind == StressReply::kAddFdThenSend ? Cell("ADDFD.OK.LOWEST")
                                                                     : fast_cell;
      findings.Add(what, cell, reply,
                   Attempt(t, i) + ": the supervisor's reply gave " +
                       std::to_string(accepted->value) + ", the target's syscall returned " +
                       DescribeReturn(slot) + " (its check: " + CheckKind(slot.check) + ")",
                   1, round);
    }
  }

  if (table) {
    std::string leaked;
    for (const auto& [fd, info] : table->fds) {
      if (fd >= agent::kInputFdLimit) continue;
      ++c.leaked_fds;
      const char* source = static_cast<int64_t>(info.ino) == *ino_send ? "the ADDFD|SEND file"
                           : static_cast<int64_t>(info.ino) == *ino_plain
                               ? "the plain ADDFD file"
                               : info.description.c_str();
      if (leaked.size() < 200) leaked += " " + std::to_string(fd) + " (" + source + ")";
    }
    // Every fd a task verified it closed, and it leaves the others where they are, so an
    // fd left is one that no accepted reply accounts for (or one a finding above names).
    if (c.leaked_fds > 0) {
      findings.Add("leaked-fd", "", "-",
                   std::to_string(c.leaked_fds) +
                       " fds left in the target's input window at the end:" + leaked,
                   c.leaked_fds);
    }
  } else if (!report.hung) {
    findings.Add("harness", "", "-", "reading the target's table: " + table.error().ToString());
  }

  if (report.hung) findings.Add("hang", "", "-", report.hang_dump);

  if (hygiene_before) {
    const Result<ProcessHygiene> after = SnapshotHygiene(::getpid());
    if (after) {
      ProcessHygiene before = *hygiene_before;
      for (int fd : target_fds) before.fds.erase(fd);
      ProcessHygiene now = *after;
      // The target (and its fds) are gone by design; anything else new is a leak.
      for (pid_t child : hygiene_before->children) {
        if (now.children.count(child) == 0) before.children.erase(child);
      }
      for (int fd : hygiene_before->fds) {
        if (now.fds.count(fd) == 0) before.fds.erase(fd);
      }
      report.hygiene = DescribeHygieneChange(before, now);
      if (!report.hygiene.empty()) findings.Add("hygiene", "", "-", report.hygiene);
    }
  }

  std::map<std::string, uint64_t> deviated;
  for (const char* cell : {Cell("ADDFD.WAIT_KILLABLE.FAST_REPLY"), Cell("ADDFD.WAIT_KILLABLE"),
                           Cell("ADDFD.LOCK.EINTR"), Cell("ADDFD.INTR.SEND"), Cell("ADDFD.SEND.OK"),
                           Cell("ADDFD.OK.LOWEST")}) {
    deviated[cell] = findings.Deviated(cell);
  }
  report.findings = findings.Take();
  for (StressFinding& f : report.findings) {
    for (const KnownDeviation& k : options.known) {
      if (!f.cell.empty() && k.cell == f.cell && k.MatchesSignature(f.Signature())) {
        f.known = k.id;
        break;
      }
    }
  }

  // The cells, with what counts as reaching each.
  struct RowSpec {
    const char* cell;
    bool applies;
    std::string skip;
    uint64_t reached;
    const char* evidence;
  };
  const bool has_send = (s.kinds >> static_cast<unsigned>(StressReply::kAddFdSend)) & 1u;
  const std::string no_killable = !fast
                                      ? "--race lock-eintr does not signal the target"
                                      : "needs wait_killable_recv (absent: " +
                                            features.get(Feature::kWaitKillableRecv).evidence + ")";
  const std::vector<RowSpec> specs = {
      {Cell("ADDFD.WAIT_KILLABLE.FAST_REPLY"), report.wait_killable, no_killable, window_exposed,
       "attempts signalled while their one notification was pending (after RECV, or on the "
       "way out): the window opened; a fixed kernel does not say whether the reply raced in"},
      {Cell("ADDFD.WAIT_KILLABLE"), report.wait_killable, no_killable, window_exposed,
       "the same attempts: signalled after RECV and answered by that notification"},
      {Cell("ADDFD.LOCK.EINTR"), lock, "--race fast-reply does not signal the supervisor",
       c.addfd_eintr, "ADDFDs that answered EINTR (under SA_RESTART only the notifier lock can)"},
      {Cell("ADDFD.INTR.SEND"), lock && has_send,
       !lock ? "--race fast-reply does not signal the supervisor" : "needs send and setfd",
       c.addfd_send_signalled,
       "ADDFD|SENDs during which the thread caught a signal (where in the ioctl is not "
       "observable)"},
      {Cell("ADDFD.SEND.OK"), has_send, "needs send and setfd", c.addfd_send_ok,
       "ADDFD|SEND replies accepted and checked in the target"},
      {Cell("ADDFD.OK.LOWEST"), true, "", c.addfd_then_send_ok,
       "plain ADDFD replies accepted and checked in the target"},
  };
  const uint64_t rounds = c.attempts;
  for (const RowSpec& spec : specs) {
    StressCellRow row;
    row.cell = spec.cell;
    row.reached = spec.reached;
    row.evidence = spec.evidence;
    std::string known;
    bool unknown = false;
    for (const StressFinding& f : report.findings) {
      if (f.cell != spec.cell) continue;
      row.deviations = deviated[spec.cell];
      if (f.known.empty()) {
        unknown = true;
        if (row.reason.empty()) row.reason = f.Signature() + ": " + f.example;
      } else if (known.empty()) {
        known = f.known;
      }
    }
    if (row.deviations > 0) {
      row.status = unknown ? StressCellRow::Status::kDeviates : StressCellRow::Status::kKnown;
      if (!unknown) {
        for (const KnownDeviation& k : options.known) {
          if (k.id == known) row.reason = "known: " + k.id + "; fix: " + k.FixText();
        }
      }
    } else if (!spec.applies) {
      row.status = StressCellRow::Status::kSkip;
      row.reason = spec.skip;
    } else if (spec.reached == 0) {
      row.status = StressCellRow::Status::kSkip;
      row.reason = "not reached in " + std::to_string(rounds) + " rounds on " +
                   std::to_string(report.cpus) + " CPU" + (report.cpus == 1 ? "" : "s");
    } else {
      row.status = StressCellRow::Status::kPass;
    }
    report.rows.push_back(row);
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return report;
}

}  // namespace addfdlab
