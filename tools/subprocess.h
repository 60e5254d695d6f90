// Child processes for the addfdlab commands that run others (bench, fuzz): spawning with
// redirected output, deadlines, and one Ctrl-C handler whose interrupt reaches the children.
#ifndef ADDFDLAB_TOOLS_SUBPROCESS_H_
#define ADDFDLAB_TOOLS_SUBPROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "addfdlab/unique_fd.h"

namespace addfdlab::tools {

// While one lives, SIGINT and SIGTERM set the command's interrupt flag instead of ending it
// (the handler has no SA_RESTART); on destruction both go back to their default.
class InterruptScope {
 public:
  InterruptScope();
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
};

// True once SIGINT or SIGTERM arrived under an InterruptScope (it stays set).
bool Interrupted();

// Where a child's stdout or stderr goes.
enum class Output {
  kInherit,  // ours
  kStderr,   // our stderr (a child's stdout kept off ours)
  kNull,     // /dev/null
  kPipe,     // a pipe whose read end is Subprocess::output() (one pipe for both streams)
  kLog,      // appended to SpawnOptions::log
};

struct SpawnOptions {
  Output stdout_to = Output::kInherit;
  Output stderr_to = Output::kInherit;
  std::string log;                 // the file kLog appends to
  bool own_process_group = false;  // a new process group led by the child
  bool forward_interrupt = false;  // Wait passes an interrupt on (ForwardInterrupt)
};

// How a child ended.
struct ExitStatus {
  bool started = false;    // false: it could not be started (nothing below applies)
  bool timed_out = false;  // stopped after its deadline (SIGTERM, then SIGKILL)
  int wait_status = 0;     // waitpid's, when it was neither of the above

  // The exit code of a child that exited by itself, or -1.
  int code() const;
  // "" for exit code 0; else why it failed: "could not start", "stopped after its deadline",
  // "killed by <signal>" or "exit status N".
  std::string Problem() const;
};

// One child process, waited for at most once.
class Subprocess {
 public:
  using Clock = std::chrono::steady_clock;

  // Starts argv[0] (searched on PATH) with `options`; nullopt when it cannot be started.
  static std::optional<Subprocess> Spawn(const std::vector<std::string>& argv,
                                         const SpawnOptions& options);

  pid_t pid() const { return pid_; }
  // The read end of the kPipe output; invalid without one.
  const UniqueFd& output() const { return output_; }
  void CloseOutput() { output_.reset(); }

  // Passes a pending interrupt (Interrupted()) on to the child as SIGINT, to its whole
  // group when it leads one, once; true once it has.
  bool ForwardInterrupt();
  bool interrupt_forwarded() const { return forwarded_; }

  // Waits until the child exits, forwarding interrupts when SpawnOptions said so. Past `deadline`
  // it gets SIGTERM and, 5 s later, SIGKILL (its group too when it leads one); then the status says
  // timed_out.
  ExitStatus Wait(Clock::time_point deadline = Clock::time_point::max());

  // Waits at most `up_to` for the child to exit by itself: its status, or nullopt while it
  // runs (nothing is signalled; Wait still may be called afterwards, once it has not ended).
  std::optional<ExitStatus> Poll(std::chrono::milliseconds up_to);

 private:
  Subprocess(pid_t pid, bool group, bool forward) : pid_(pid), group_(group), forward_(forward) {}
  void Signal(int signal) const;

  pid_t pid_ = -1;
  bool group_ = false;
  bool forward_ = false;
  bool forwarded_ = false;
  UniqueFd output_;
};

// Runs argv to completion with both its outputs appended to `log`; its exit code, or -1
// when it could not start or did not exit by itself.
int RunLogged(const std::vector<std::string>& argv, const std::string& log);

// What argv prints on stdout (stderr discarded) within `timeout`; "" when it cannot start.
std::string Capture(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

}  // namespace addfdlab::tools

#endif  // ADDFDLAB_TOOLS_SUBPROCESS_H_
