// Multi-fd injection into one notification, and rolling it back. The patch that added
// ADDFD named the gap: a supervisor interrupted half-way through installing several fds
// leaves the target with leaked or dangling fds, and the kernel has no way to take an fd
// back out of another process. Each strategy here narrows that gap in its own way and says
// what it guarantees (docs/rollback.md); a journal records what it installed and undid, and
// the residue oracle holds the target's table against both.
#ifndef ADDFDLAB_ROLLBACK_H_
#define ADDFDLAB_ROLLBACK_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "addfdlab/fd_table.h"
#include "addfdlab/notifier.h"
#include "addfdlab/result.h"
#include "addfdlab/target.h"

namespace addfdlab::rollback {

enum class Strategy {
  // ADDFD each file, then SEND: an abort leaves every installed fd behind.
  kNaive,
  // ADDFD k-1 files, then ADDFD|SEND the last: the reply is atomic with the last fd.
  kSendLast,
  // SETFD onto free numbers the supervisor chose: a retry after an interrupted ioctl
  // replaces instead of adding, and residue stays on those numbers.
  kFixedNumbers,
  // SETFD onto the numbers the syscall names (dup2-like), keeping a pidfd_getfd copy of
  // each displaced file; an abort puts the displaced files back.
  kRestoreOnReplace,
  // ADDFD each file; an abort asks the target's agent to close what was installed.
  kCooperative,
  // Test-only mutant of kCooperative that forgets the last fd: the oracle must catch it.
  kBrokenCooperative,
};

inline constexpr Strategy kStrategies[] = {Strategy::kNaive, Strategy::kSendLast,
                                           Strategy::kFixedNumbers, Strategy::kRestoreOnReplace,
                                           Strategy::kCooperative};

std::string_view StrategyName(Strategy strategy);
std::optional<Strategy> ParseStrategy(std::string_view name);
// The guarantee, in one sentence (the oracle's rule for it is CheckGuarantee()).
std::string_view StrategyGuarantee(Strategy strategy);

// What the trapped syscall asks for: k files, installed at `numbers` when the strategy
// installs at chosen numbers (kFixedNumbers picks its own when empty; kRestoreOnReplace
// needs them).
struct InjectionRequest {
  std::vector<int> files;  // supervisor fds, in order
  std::vector<int> numbers;
  bool cloexec = false;
};

struct JournalEntry {
  enum class Action {
    kInstalled,       // file `file` now at `number`
    kSaved,           // a copy of what `number` held was taken (pidfd_getfd)
    kRestored,        // the saved file is back at `number`
    kClosedByTarget,  // the target's agent closed `number`
    kReplied,         // the notification was answered (value in `number`, or error `err`)
    kFailed,          // an injection step failed with `err`
    kUndoFailed,      // a rollback step for `number` failed with `err`
  };
  Action action;
  int number = -1;
  int file = -1;  // index into InjectionRequest::files
  int err = 0;
};

struct Journal {
  std::vector<JournalEntry> entries;
  bool succeeded = false;  // every file installed and the success reply sent
  bool replied = false;    // the notification was answered at all
  int ioctls = 0;          // ioctls made (ADDFD and SEND)
  std::chrono::nanoseconds rollback_time{0};
  std::string Format() const;
};

// Where faults plug in: called around every ioctl of an injection, numbered from 0.
class InjectionHooks {
 public:
  virtual ~InjectionHooks() = default;
  // Before ioctl `index` (an ADDFD or a SEND, `call`); false when the supervisor was told
  // to stop (an interrupt whose handler asks the injection to abort).
  virtual bool BeforeIoctl(int index, NotifierCall call) = 0;
  virtual void AfterIoctl(int index) = 0;
};

struct InjectionContext {
  NotifierApi* api = nullptr;
  int listener = -1;
  uint64_t id = 0;           // the notification
  Target* target = nullptr;  // for pidfd_getfd and the cooperative agent
  int trapped_task = 1;      // the task blocked in the notification
  InjectionHooks* hooks = nullptr;
  int retries = 3;  // kFixedNumbers: attempts per ioctl after EINTR
  // Called with every journal entry as it is made (a supervisor that may be killed sends
  // its journal out as it goes).
  std::function<void(const JournalEntry&)> on_entry;
};

// Installs request.files into the notification's task with `strategy`; on failure rolls
// back what the strategy can and answers the notification with EIO when it still can.
Journal Inject(Strategy strategy, const InjectionContext& ctx, const InjectionRequest& request);

// What the target holds after an injection, against its table before.
struct Residue {
  std::vector<int> leaked;       // fds neither there before nor part of a successful result
  std::vector<int> dangling;     // fds the target had that are closed or hold another file
                                 // (outside a successful result), and a reply-named number
                                 // that does not hold the injected file
  std::vector<int> unjournaled;  // new fds the journal does not mention
  std::vector<std::string> journal_errors;  // claims the table contradicts
  bool target_gone = false;                 // nothing to compare: the table died with it
  std::string Format() const;
};

// The before side: the table and a copy of every file in it (pidfd_getfd), for kcmp.
struct TableBefore {
  FdSnapshot snapshot;
  std::map<int, UniqueFd> copies;
};
Result<TableBefore> TakeTableBefore(const Target& target);

// Compares the target's table now with `before`. `trap_return` is what the trapped
// syscall returned (a reply value names an fd when the injection succeeded).
Residue CheckResidue(const Target& target, const TableBefore& before, const Journal& journal,
                     const InjectionRequest& request, std::optional<int64_t> trap_return);

// Facts about the run that a guarantee depends on.
struct RunFacts {
  bool target_alive = true;
  bool notification_survived = true;  // no target signal or death, no listener close
  bool supervisor_survived = true;
  bool syscalls_failed = false;  // the seam failed a supervisor syscall
  bool rlimit_squeezed = false;  // the target could take no more fds
};

// OK when `residue` is what `strategy` promises under `facts`; else EINVAL with what it
// broke.
Result<void> CheckGuarantee(Strategy strategy, const Journal& journal, const Residue& residue,
                            const RunFacts& facts, int k);

}  // namespace addfdlab::rollback

#endif  // ADDFDLAB_ROLLBACK_H_
