// The one registry of contract cells: ID, rule, the kernel function it follows, the feature
// it needs and how it is reached. The model, the contract runner, the fuzz harness and
// docs/contract.md use it; code names a cell through Cell("..."), so a misspelt one does not
// compile. Trace labels that are not contract cells (RECV.OK, SEND.OK, ...) are a separate set.
#ifndef ADDFDLAB_CELLS_H_
#define ADDFDLAB_CELLS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "addfdlab/probe.h"

namespace addfdlab {

// How a cell is reached.
enum class Reach : uint8_t {
  kScenario,     // a deterministic scenario, and the fuzzer
  kNoSchedule,   // no user-space schedule makes it happen deterministically
  kLowNrOpen,    // needs fs.nr_open lowered below RLIMIT_NOFILE (global: a VM guest's own)
  kKernelFault,  // needs kernel fault injection on the fd-install path (a debug kernel)
};

struct CellInfo {
  std::string_view id;
  std::string_view rule;     // the contract, in one line
  std::string_view follows;  // the kernel function whose code decides it
  Feature needs;             // kUserNotification when nothing more
  Reach reach;
};

inline constexpr CellInfo kContractCells[] = {
    {"ADDFD.SIZE.SHORT", "ioctl size below 24: EINVAL", "seccomp_notify_addfd", Feature::kAddFd,
     Reach::kScenario},
    {"ADDFD.SIZE.PAGE", "ioctl size of a page or more: EINVAL", "seccomp_notify_addfd",
     Feature::kAddFd, Reach::kScenario},
    {"ADDFD.SIZE.TAIL_NONZERO", "size above 24 with a non-zero byte past 24: E2BIG",
     "copy_struct_from_user", Feature::kAddFd, Reach::kScenario},
    {"ADDFD.SIZE.TAIL_ZERO", "size above 24 with a zero tail: accepted as 24",
     "copy_struct_from_user", Feature::kAddFd, Reach::kScenario},
    {"ADDFD.FAULT", "an unreadable argument: EFAULT", "copy_struct_from_user", Feature::kAddFd,
     Reach::kScenario},
    {"ADDFD.NEWFD_FLAGS", "newfd_flags other than O_CLOEXEC: EINVAL", "seccomp_notify_addfd",
     Feature::kAddFd, Reach::kScenario},
    {"ADDFD.FLAGS.UNKNOWN", "flags other than SETFD|SEND: EINVAL", "seccomp_notify_addfd",
     Feature::kAddFd, Reach::kScenario},
    {"ADDFD.NEWFD_WITHOUT_SETFD", "newfd non-zero without SETFD: EINVAL", "seccomp_notify_addfd",
     Feature::kAddFd, Reach::kScenario},
    {"ADDFD.SRCFD.BAD", "srcfd not open in the caller: EBADF", "seccomp_notify_addfd (fget)",
     Feature::kAddFd, Reach::kScenario},
    {"ADDFD.SRCFD.OPATH", "an O_PATH srcfd: EBADF (or accepted, where fget takes O_PATH)",
     "seccomp_notify_addfd (fget)", Feature::kAddFd, Reach::kScenario},
    {"ADDFD.LOCK.EINTR", "a signal while waiting for the notifier lock: EINTR, not restarted",
     "seccomp_notify_addfd (mutex_lock_interruptible)", Feature::kAddFd, Reach::kNoSchedule},
    {"ADDFD.ID.UNKNOWN", "an id never issued, or whose target left: ENOENT",
     "seccomp_notify_addfd (find_notification)", Feature::kAddFd, Reach::kScenario},
    {"ADDFD.STATE.INIT", "a notification not yet received: EINPROGRESS", "seccomp_notify_addfd",
     Feature::kAddFd, Reach::kScenario},
    {"ADDFD.STATE.REPLIED", "a reply or ADDFD|SEND already queued: EINPROGRESS",
     "seccomp_notify_addfd", Feature::kAddFd, Reach::kScenario},
    {"ADDFD.SEND.BUSY", "SEND while another ADDFD on the id is queued: EBUSY",
     "seccomp_notify_addfd", Feature::kSend, Reach::kScenario},
    {"ADDFD.ORDER.CHECKS", "several faults at once: the errno of the first failing check",
     "seccomp_notify_addfd", Feature::kAddFd, Reach::kScenario},
    {"ADDFD.ORDER.LIFO", "queued requests are handled newest first, one per wake-up",
     "seccomp_do_user_notification (list_first_entry)", Feature::kAddFd, Reach::kScenario},
    {"ADDFD.OK.LOWEST", "without SETFD: the target's lowest free fd, holding srcfd's file",
     "seccomp_handle_addfd (receive_fd)", Feature::kAddFd, Reach::kScenario},
    {"ADDFD.OK.CLOEXEC", "FD_CLOEXEC set exactly when newfd_flags is O_CLOEXEC",
     "seccomp_handle_addfd (receive_fd, replace_fd)", Feature::kAddFd, Reach::kScenario},
    {"ADDFD.RLIMIT", "no free fd below the target's RLIMIT_NOFILE: EMFILE",
     "seccomp_handle_addfd (get_unused_fd_flags)", Feature::kAddFd, Reach::kScenario},
    {"ADDFD.SETFD.OK", "SETFD: installed at newfd, which the ioctl returns",
     "seccomp_handle_addfd (replace_fd)", Feature::kSetFd, Reach::kScenario},
    {"ADDFD.SETFD.REPLACE", "SETFD onto an open fd closes the old file atomically",
     "replace_fd (do_dup2)", Feature::kSetFd, Reach::kScenario},
    {"ADDFD.SETFD.RLIMIT", "SETFD at or above the target's RLIMIT_NOFILE: EBADF", "replace_fd",
     Feature::kSetFd, Reach::kScenario},
    {"ADDFD.SETFD.NR_OPEN", "SETFD at or above fs.nr_open: EMFILE", "replace_fd (expand_files)",
     Feature::kInjectNrOpen, Reach::kLowNrOpen},
    {"ADDFD.SETFD.RESERVED", "SETFD onto a slot an open() in progress reserved: EBUSY",
     "replace_fd (do_dup2)", Feature::kSetFd, Reach::kScenario},
    {"ADDFD.LSM", "an LSM denies the install: its errno", "receive_fd (security_file_receive)",
     Feature::kInjectLsm, Reach::kKernelFault},
    {"ADDFD.NOMEM", "the fd table cannot grow: ENOMEM", "expand_files", Feature::kInjectNomem,
     Reach::kKernelFault},
    {"ADDFD.SEND.OK", "ADDFD|SEND: the trapped syscall returns the fd",
     "seccomp_handle_addfd (complete_all on send)", Feature::kSend, Reach::kScenario},
    {"ADDFD.SEND.FAIL_STAYS", "ADDFD|SEND failing in the target: error, notification SENT again",
     "seccomp_handle_addfd", Feature::kSend, Reach::kScenario},
    {"ADDFD.INTR.QUEUED", "caller signalled while queued: removed, nothing installed, EINTR",
     "seccomp_notify_addfd (wait_for_completion_interruptible)", Feature::kAddFd, Reach::kScenario},
    {"ADDFD.INTR.HANDLED", "caller signalled after the target handled it: the fd is returned",
     "seccomp_notify_addfd", Feature::kAddFd, Reach::kScenario},
    {"ADDFD.INTR.SEND", "ADDFD|SEND interrupted before the target ran: EINTR, back to SENT",
     "seccomp_notify_addfd", Feature::kSend, Reach::kScenario},
    {"ADDFD.STRANDED", "a reply lands while two ADDFDs are queued: the other gets ESRCH",
     "seccomp_do_user_notification", Feature::kAddFd, Reach::kScenario},
    {"ADDFD.TARGET.KILLED", "target killed: queued requests ESRCH, later ones ENOENT",
     "seccomp_do_user_notification", Feature::kAddFd, Reach::kScenario},
    {"ADDFD.TARGET.SIGNALLED", "target signalled before the reply: notification dropped, fd stays",
     "seccomp_do_user_notification", Feature::kAddFd, Reach::kScenario},
    {"ADDFD.WAIT_KILLABLE", "WAIT_KILLABLE_RECV: a non-fatal signal after RECV is ignored",
     "seccomp_do_user_notification (wait_for_completion_killable)", Feature::kWaitKillableRecv,
     Reach::kScenario},
    {"ADDFD.WAIT_KILLABLE.FAST_REPLY", "WAIT_KILLABLE_RECV: a reply racing a signal lands once",
     "seccomp_do_user_notification", Feature::kWaitKillableRecv, Reach::kScenario},
    {"RECV.NONZERO", "a receive buffer not zeroed: EINVAL", "seccomp_notify_recv",
     Feature::kUserNotification, Reach::kScenario},
    {"RECV.FAULT", "an unwritable buffer: EFAULT, the notification stays receivable",
     "seccomp_notify_recv", Feature::kUserNotification, Reach::kScenario},
    {"RECV.EMPTY", "no users left: ENOENT instead of blocking", "recv_wait_event",
     Feature::kRecvEnoent, Reach::kScenario},
    {"SEND.STATE.INIT", "a reply to a notification not yet received: EINPROGRESS",
     "seccomp_notify_send", Feature::kUserNotification, Reach::kScenario},
    {"SEND.GONE", "a reply to one already answered or whose target left: ENOENT",
     "seccomp_notify_send", Feature::kUserNotification, Reach::kScenario},
    {"SEND.CONTINUE.VAL", "CONTINUE with val or error set: EINVAL", "seccomp_notify_send",
     Feature::kUserNotification, Reach::kScenario},
    {"SEND.CONTINUE.RUNS",
     "CONTINUE runs the trapped syscall: a trapped dup returns a new fd (or its own EBADF)",
     "seccomp_do_user_notification", Feature::kUserNotification, Reach::kScenario},
    {"SEND.FLAGS.UNKNOWN", "an unknown reply flag: EINVAL", "seccomp_notify_send",
     Feature::kUserNotification, Reach::kScenario},
    {"SEND.WHILE_ADDFD_SEND", "a reply while an ADDFD|SEND is queued: EINPROGRESS",
     "seccomp_notify_send", Feature::kSend, Reach::kScenario},
    {"ID_VALID.STATES", "ID_VALID: 0 only while SENT; ENOENT otherwise", "seccomp_notify_id_valid",
     Feature::kUserNotification, Reach::kScenario},
    {"SET_FLAGS.UNKNOWN", "SET_FLAGS with an unknown flag: EINVAL", "seccomp_notify_set_flags",
     Feature::kSyncWakeUp, Reach::kScenario},
    {"LISTENER.CLOSED", "listener closed: pending and later trapped syscalls get ENOSYS",
     "seccomp_notify_detach", Feature::kUserNotification, Reach::kScenario},
    {"FILTER.FLAGS", "invalid filter flag combinations: EINVAL (a second listener: EBUSY)",
     "seccomp_set_mode_filter", Feature::kUserNotification, Reach::kScenario},
    {"FILTER.SPAWN.USER",
     "a task created after the filter inherits it (a new user): its trap reaches the "
     "supervisor's listener",
     "copy_seccomp (get_seccomp_filter)", Feature::kUserNotification, Reach::kScenario},
    {"FILTER.SPAWN.THREAD",
     "a thread created after the filter (`spawn ... thread`) is a user as a process is; a "
     "fatal signal to any thread ends its whole group, and the notifications its threads "
     "wait in",
     "copy_seccomp, complete_signal (zap_other_threads)", Feature::kPidfdThread, Reach::kScenario},
    {"FILTER.TSYNC.THREADS",
     "a filter installed with TSYNC goes on every thread of the caller's group: a thread "
     "created before it traps into it",
     "seccomp_sync_threads", Feature::kPidfdThread, Reach::kScenario},
    {"FILTER.STACKED.NEWEST",
     "a task created after a further filter traps into the newest one (equal actions): "
     "without a listener there, ENOSYS at once",
     "seccomp_run_filters, seccomp_do_user_notification", Feature::kUserNotification,
     Reach::kScenario},
    {"IOCTL.UNKNOWN", "any other ioctl on the listener: EINVAL", "seccomp_notify_ioctl",
     Feature::kUserNotification, Reach::kScenario},
    {"RECV.PID.CHILD_NS",
     "a target in a child pid namespace: RECV reports its pid as the receiver's namespace sees it",
     "seccomp_notify_recv (task_pid_vnr)", Feature::kPidNs, Reach::kScenario},
    {"RECV.PID.SIBLING_NS",
     "a receiver in a pid namespace where the target is not visible: pid 0; ADDFD and SEND "
     "from there work",
     "seccomp_notify_recv (task_pid_vnr)", Feature::kPidNs, Reach::kScenario},
    {"POLL.IN", "a notification not yet received: the listener polls POLLIN", "seccomp_notify_poll",
     Feature::kUserNotification, Reach::kScenario},
    {"POLL.OUT", "a notification received and not answered: the listener polls POLLOUT",
     "seccomp_notify_poll", Feature::kUserNotification, Reach::kScenario},
    {"POLL.HUP", "the filter has no users left: the listener polls POLLHUP",
     "seccomp_notify_poll (seccomp_filter_release)", Feature::kUserNotification, Reach::kScenario},
    {"SEND.ERROR.RESTART",
     "a reply error of 512..516: returned as is, unless a handled signal is pending: then "
     "ERESTARTNOINTR (and ERESTARTSYS under SA_RESTART) restart the syscall, the others but "
     "515 give EINTR",
     "handle_signal (arch/x86/kernel/signal.c), seccomp_do_user_notification",
     Feature::kUserNotification, Reach::kScenario},
    {"RECV.FIFO", "pending notifications are received in the order they were raised",
     "seccomp_do_user_notification (list_add_tail), seccomp_notify_recv",
     Feature::kUserNotification, Reach::kScenario},
    {"WAIT_KILLABLE.PRE_RECV",
     "WAIT_KILLABLE_RECV: a signal before RECV interrupts the wait (handler, EINTR)",
     "seccomp_do_user_notification (wait_for_completion_interruptible while INIT)",
     Feature::kWaitKillableRecv, Reach::kScenario},
    {"WAIT_KILLABLE.FATAL", "WAIT_KILLABLE_RECV: a fatal signal after RECV ends the wait",
     "seccomp_do_user_notification (wait_for_completion_killable)", Feature::kWaitKillableRecv,
     Reach::kScenario},
    {"NOTIF_SIZES",
     "SECCOMP_GET_NOTIF_SIZES: the sizes of seccomp_notif, seccomp_notif_resp, seccomp_data",
     "seccomp_get_notif_sizes", Feature::kUserNotification, Reach::kScenario},
    {"RECV.EMPTY.WAKE", "a RECV asleep when the filter's last user goes wakes with ENOENT",
     "__seccomp_filter_orphan (wake_up_poll), recv_wait_event", Feature::kRecvEnoent,
     Reach::kScenario},
};

// Cells about how a supervisor uses ADDFD (docs/patterns.md), not about the kernel: a
// verdict there is a bug of the scenario's supervisor, never a kernel deviation. They are not
// contract cells (not in kContractCells, not counted by `contract` or the fuzz summary), and
// the fuzz harness does not file them.
inline constexpr CellInfo kPatternCells[] = {
    {"PATTERN.CLOEXEC",
     "an injected fd's FD_CLOEXEC is what the syscall it emulates (addfd emulates=) gives",
     "the emulated syscall's fd allocation (get_unused_fd_flags with its O_CLOEXEC)",
     Feature::kAddFd, Reach::kScenario},
};

// Labels the model gives outcomes that no contract cell decides; shown in traces only.
inline constexpr std::string_view kTraceLabels[] = {
    "RECV.OK",        // a notification received
    "RECV.INTR",      // a sleeping RECV interrupted by a signal
    "RECV.STALE",     // RECV woken by a notification that is gone
    "SEND.OK",        // a reply accepted
    "SEND.CONTINUE",  // CONTINUE: the trapped tuxcall runs (ENOSYS; dup: SEND.CONTINUE.RUNS)
};

namespace cells_internal {
consteval bool Equal(std::string_view a, std::string_view b) { return a == b; }
}  // namespace cells_internal

// A contract cell's ID, checked at compile time: a name not in kContractCells does not compile.
// (The IDs are string literals, so data() is a C string.)
consteval const char* Cell(std::string_view id) {
  for (const CellInfo& info : kContractCells) {
    if (cells_internal::Equal(info.id, id)) return info.id.data();
  }
  throw "not a contract cell";  // NOLINT: evaluated only at compile time, where it is an error
}

// A pattern cell's ID, checked at compile time against kPatternCells.
consteval const char* PatternCell(std::string_view id) {
  for (const CellInfo& info : kPatternCells) {
    if (cells_internal::Equal(info.id, id)) return info.id.data();
  }
  throw "not a pattern cell";  // NOLINT: evaluated only at compile time, where it is an error
}

// True for a kPatternCells ID.
constexpr bool IsPatternCell(std::string_view id) {
  for (const CellInfo& info : kPatternCells) {
    if (info.id == id) return true;
  }
  return false;
}

// A trace label, checked at compile time against kTraceLabels.
consteval const char* TraceLabel(std::string_view id) {
  for (std::string_view label : kTraceLabels) {
    if (cells_internal::Equal(label, id)) return label.data();
  }
  throw "not a trace label";  // NOLINT: evaluated only at compile time, where it is an error
}

// The registry entry of `id`, or nullptr when it is not a contract cell (a trace label, "").
const CellInfo* FindCell(std::string_view id);
inline bool IsContractCell(std::string_view id) { return FindCell(id) != nullptr; }

// Every contract cell's ID, in registry order.
const std::vector<std::string>& ContractCells();

const char* ReachName(Reach reach);

// Why `cell` cannot be reached on this kernel and in this environment, or "" when it can.
// A kLowNrOpen or kKernelFault cell needs its injection feature (kInjectNrOpen, kInjectLsm,
// kInjectNomem: a debug kernel in an addfdlab VM guest) and ADDFD.
std::string CellSkipReason(const CellInfo& cell, const Features& features);
// fs.nr_open of this machine, 0 when unreadable.
uint64_t ReadNrOpen();

}  // namespace addfdlab

#endif  // ADDFDLAB_CELLS_H_
