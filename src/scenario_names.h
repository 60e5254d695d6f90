// The names a .scn text binds and refers to: targets, tasks (TARGET.TASK), notifications
// (NAME, NAME+D, NAME-D), fd names and threads, checked against what the scenario declared.
#ifndef ADDFDLAB_SRC_SCENARIO_NAMES_H_
#define ADDFDLAB_SRC_SCENARIO_NAMES_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "addfdlab/scenario.h"
#include "scenario_lexer.h"
#include "scenario_values.h"

namespace addfdlab::scenario_text {

// The index of `name` in `names`, or -1.
int IndexOf(const std::vector<std::string>& names, std::string_view name);

// Binds names into a scenario being parsed and resolves references to them. Each function
// returns false (LookupNotif -1) once it reported the problem to the diagnostics.
class ScenarioNames {
 public:
  ScenarioNames(Scenario& scenario, Diagnostics* diag, ValueReader* values)
      : s_(scenario), diag_(diag), values_(values) {}

  // A valid new name for a `what` ("target", "fd", ...).
  bool CheckNewName(const Token& name, const char* what);
  std::vector<std::string> TargetNames() const;
  bool TargetRef(const Token& token, int* target);
  // TARGET.TASK; a caller task (1..callers, and the tasks `spawn` made) when `caller`,
  // else from 0. For `op` spawn, the target must have room for one more task.
  bool TaskRef(const Token& token, const char* op, bool caller, int* target, int* task);
  // A notification a trap bound; its index, or -1.
  int LookupNotif(const Token& name);
  // NAME, NAME+D or NAME-D: sets the op's notification, its target and its id delta.
  bool NotifRef(const Token& token, bool delta_allowed, Op* op);
  // An fd number, or an fd name an earlier op bound.
  bool FdRefOf(const Token& token, FdRef* ref);
  bool BindFd(const Token& token, int* bind);
  bool ThreadRef(const Token& token, int* thread);
  // Binds a trap's notification to the op's target.
  bool BindNotif(const Token& token, Op* op);

 private:
  bool FailAt(const Token& token, std::string message) {
    return diag_->FailAt(token, std::move(message));
  }

  Scenario& s_;
  Diagnostics* diag_;
  ValueReader* values_;
  std::vector<int> notif_target_;  // the target of each notification
};

}  // namespace addfdlab::scenario_text

#endif  // ADDFDLAB_SRC_SCENARIO_NAMES_H_
