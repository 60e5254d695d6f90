// Op dispatch: runs one op on the kernel side (a target op through the target's agent, a
// supervisor op as an ioctl on a supervisor thread) and reads its outcome as the model's.
#ifndef ADDFDLAB_SRC_OP_DISPATCH_H_
#define ADDFDLAB_SRC_OP_DISPATCH_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "addfdlab/limits.h"
#include "addfdlab/model.h"
#include "addfdlab/oracle.h"
#include "addfdlab/scenario.h"
#include "addfdlab/supervisor.h"
#include "quiescence.h"
#include "run_targets.h"
#include "supervisor_process.h"

namespace addfdlab {

class OpDispatch {
 public:
  struct Inputs {
    const Scenario& scenario;
    const Model& model;  // read only: fd names, notification sequence numbers, tasks
    std::vector<TargetSlot>& slots;
    Quiescence& quiet;
    std::vector<SupervisorThread*> named;  // the named threads, by index
    // Each named thread's second supervisor process (Scenario::places), or none.
    const std::vector<std::unique_ptr<SupervisorProcess>>& processes;
    SupervisorThread& op_thread;  // the main thread's own ops
    // The supervisor's fd for a source, given the target's listener.
    std::function<uint32_t(SourceKind, int listener)> source_fd;
    char* pages;  // two kArgPageSize pages: unreadable, then read-only
    const Limits& limits;
    std::vector<Verdict>& verdicts;  // a harness or hang verdict stops the run
  };
  explicit OpDispatch(Inputs in) : in_(std::move(in)) {}

  // Runs op `index` (the model predicted it and did not skip it): its outcome as the
  // model's (a RECV's value is the notification's index, -1 for one the model does not
  // know), or nullopt for an op without one or when it added a verdict.
  std::optional<Outcome> Execute(int index, const Op& op);
  // The second fd of the last pipe or socketpair.
  int pair_second() const { return pair_second_; }
  // Kernel ids handed out by RECV in this run, by target, to answer at the end.
  const std::set<std::pair<int, uint64_t>>& received() const { return received_; }

 private:
  // A target op: ExecuteTargetOp takes task ops and hands the others on to ExecuteFdOp,
  // which hands on to ExecuteProcessOp (nullopt for an op of none of them).
  std::optional<Outcome> ExecuteTargetOp(const Op& op);
  std::optional<Outcome> ExecuteFdOp(const Op& op);
  std::optional<Outcome> ExecuteProcessOp(const Op& op);
  std::optional<Outcome> ExecuteSupervisorOp(int index, const Op& op);
  const Op& TrapOf(int notif) const;
  void FreeTask(TargetSlot& slot, int target, int task);
  std::function<Outcome()> SupervisorJob(const Op& op, const std::shared_ptr<RecvAnswer>& answer);
  Outcome ReadTrapReturn(TargetSlot& slot, int task, int notif);
  Outcome MapRecv(const Op& op, const Outcome& raw, const RecvAnswer& answer);
  // The pid a RECV on `op`'s thread reports for `task`: as that thread's namespace sees it.
  pid_t SeenPid(const Op& op, int task) const;
  // The job of a recv, addfd or send: `call` on the thread or in its process.
  std::function<Outcome()> CallJob(const Op& op, const ThreadCall& call, int listener,
                                   const std::shared_ptr<RecvAnswer>& answer);
  Clock::time_point OpDeadline() const { return in_.limits.Deadline(in_.limits.op); }
  int64_t Resolve(const FdRef& ref) const;
  uint64_t KernelId(const Op& op) const;
  void Hang(int op, const std::string& what) { in_.verdicts.push_back(in_.quiet.Hang(op, what)); }

  Inputs in_;
  // The trap each task made last, to read its return before it takes another.
  std::map<std::pair<int, int>, int> last_trap_;
  int pair_second_ = -1;
  int index_ = -1;  // the op Execute runs
  // The op each named thread runs, and where its RECV answer goes.
  std::map<int, std::pair<Op, std::shared_ptr<RecvAnswer>>> last_thread_op_;
  std::set<std::pair<int, uint64_t>> received_;
};

}  // namespace addfdlab

#endif  // ADDFDLAB_SRC_OP_DISPATCH_H_
