// The stress mode: races one CPU cannot schedule (ADDFD.WAIT_KILLABLE.FAST_REPLY,
// ADDFD.LOCK.EINTR, and ADDFD.INTR.SEND on the way), hunted on several CPUs with periodic
// signals over thousands of trap -> RECV -> reply rounds, and an oracle that accounts for
// every attempt, notification, reply and fd (docs/stress.md).
#ifndef ADDFDLAB_STRESS_H_
#define ADDFDLAB_STRESS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "addfdlab/contract.h"
#include "addfdlab/known_deviations.h"
#include "addfdlab/limits.h"
#include "addfdlab/probe.h"
#include "addfdlab/result.h"

namespace addfdlab {

// Which race the periodic signal hunts.
enum class StressRace : uint8_t {
  kFastReply,  // SA_RESTART signals to the target's trapping tasks, on a WAIT_KILLABLE_RECV
               // filter: ADDFD.WAIT_KILLABLE.FAST_REPLY, ADDFD.WAIT_KILLABLE
  kLockEintr,  // SA_RESTART signals to the supervisor threads: ADDFD.LOCK.EINTR (the only
               // EINTR an ADDFD can then return), ADDFD.INTR.SEND (restarted transparently)
  kAll,        // both at once
};
const char* StressRaceName(StressRace race);
// "fast-reply", "lock-eintr", "all"; false for another name.
bool ParseStressRace(const std::string& name, StressRace* race);

// A bug planted in the supervisor's accounting (ADDFDLAB_STRESS_PLANT), to show that the
// oracle catches one: the tests run it and must see a finding.
enum class StressPlant : uint8_t {
  kNone,
  kValue,      // every 50th ADDFD|SEND is recorded with fd + 1: the target's view differs
  kLeak,       // every 64th round, up to 4 times, an extra ADDFD nobody accounts for
  kHang,       // task 0's attempt 5 is received and never answered: the watchdog must report it
  kDuplicate,  // every 100th reply is recorded twice, as if its attempt had been notified
               // again and answered again (what a kernel without the fast-reply fix shows)
};
// From ADDFDLAB_STRESS_PLANT: "value", "leak", "hang", "duplicate"; kNone otherwise.
StressPlant StressPlantFromEnvironment();

struct StressOptions {
  StressRace race = StressRace::kAll;
  int rounds = 2000;  // trapped syscall attempts in all, split over the tasks
  int tasks = 2;      // trapping tasks in the target (1 .. agent::kMaxTasks)
  int threads = 2;    // supervisor threads, each RECV then reply (1 .. 16)
  int hammers = 0;    // more threads that only call ID_VALID, contending for the notifier lock
                      // (0 .. 16)
  int cpus = 0;       // CPUs to run on, the first ones allowed (0: all allowed)
  int signal_period_us = 200;  // one signal to each victim per period (0: none)
  uint64_t seed = 1;           // chooses each attempt's reply kind
  double time_limit_s = 0;     // stop the attempts after this long (0: none)
  StressPlant plant = StressPlant::kNone;
  std::vector<KnownDeviation> known;  // deviations matched by cell and signature
  Limits limits = Limits::FromEnvironment();
};

// One oracle finding, with how often it happened.
struct StressFinding {
  std::string kind;     // "duplicate", "answered-twice", "contract", "wrong-value",
                        // "dangling-fd", "wrong-file", "failed", "unnotified",
                        // "leaked-fd", "state-after-eintr", "hang", "hygiene", "harness"
  std::string cell;     // the contract cell it breaks ("" when none can be named)
  std::string reply;    // the reply kind: "send", "addfd_send", "addfd_then_send", "-"
  uint64_t count = 0;   // rounds (or fds) it happened in
  std::string example;  // the first one, in words
  std::string known;    // the known deviation that explains it, "" when new
  // "KIND:CELL:REPLY", matched against the known-deviations list.
  std::string Signature() const;
};

// One contract cell the stress mode reaches.
struct StressCellRow {
  // The contract suite's verdicts (CellStatusName prints them); never kMissing here.
  using Status = CellRow::Status;
  std::string cell;
  Status status = Status::kSkip;
  uint64_t reached = 0;  // rounds with evidence that the cell's situation happened
  std::string evidence;  // what counts as reached
  uint64_t deviations = 0;
  std::string reason;  // why SKIP, or what deviated, or the known deviation and its fix
};

struct StressCounts {
  uint64_t attempts = 0;       // syscall attempts the target tasks made (and returned)
  uint64_t notifications = 0;  // notifications the supervisor received
  uint64_t id_gaps = 0;        // notification ids never received (dropped while INIT)
  uint64_t recv_stale = 0;     // RECVs that answered ENOENT (RECV.STALE)
  uint64_t replies_ok = 0;     // replies the kernel accepted, by any kind
  uint64_t send_ok = 0;
  uint64_t addfd_send_ok = 0;
  uint64_t addfd_then_send_ok = 0;
  uint64_t addfd_eintr = 0;           // ADDFDs that returned EINTR (ADDFD.LOCK.EINTR)
  uint64_t send_eintr = 0;            // NOTIF_SENDs that returned EINTR (the same mutex)
  uint64_t id_valid_eintr = 0;        // NOTIF_ID_VALIDs that returned EINTR
  uint64_t addfd_send_signalled = 0;  // ADDFD|SENDs during which the thread caught a signal
  uint64_t target_signals = 0;        // signals sent to the target's tasks
  uint64_t supervisor_signals = 0;    // signals sent to the supervisor threads
  uint64_t signalled_attempts = 0;    // attempts during which the task caught a signal
  uint64_t leaked_fds = 0;            // input-window fds left in the target at the end
};

struct StressReport {
  std::string kernel;
  int cpus = 0;
  std::string cpu_note;  // why the races may be out of reach ("" when several CPUs)
  StressOptions options;
  unsigned kinds = 0;  // the reply kinds used (mask of 1 << agent::StressReply)
  bool wait_killable = false;
  StressCounts counts;
  std::vector<StressCellRow> rows;
  std::vector<StressFinding> findings;
  double seconds = 0;
  bool hung = false;
  std::string hang_dump;  // the state at the hang: tasks, threads, attempts
  std::string hygiene;    // what the supervisor leaked, "" when nothing

  double RoundsPerSecond() const {
    return seconds > 0 ? static_cast<double>(counts.attempts) / seconds : 0;
  }
  // No finding that no known deviation explains.
  bool ok() const;
};

// Runs the stress mode. An error only when it cannot run (a missing feature, a target that
// does not spawn): what the kernel does is in the report.
Result<StressReport> RunStress(const StressOptions& options, const Features& features);

}  // namespace addfdlab

#endif  // ADDFDLAB_STRESS_H_
