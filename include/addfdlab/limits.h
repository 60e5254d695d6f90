// Every timeout addfdlab uses, in one place, scaled by one factor for slow VMs.
#ifndef ADDFDLAB_LIMITS_H_
#define ADDFDLAB_LIMITS_H_

#include <chrono>

namespace addfdlab {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

struct Limits {
  // Multiplies every deadline (ADDFDLAB_TIME_SCALE; a TCG guest wants ~10).
  double scale = 1.0;
  Millis spawn{2000};         // fork a target until it has handed over its listener
  Millis command{1000};       // one agent command that is not expected to block
  Millis op{500};             // one scenario op (a hang past this is a finding)
  Millis reap{2000};          // a SIGKILLed process until it is reaped
  Millis blocked_probe{200};  // waiting for a task to block inside a syscall

  Clock::time_point Deadline(Millis budget) const {
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(budget * scale);
  }
  // The defaults, scaled by $ADDFDLAB_TIME_SCALE when it is set.
  static Limits FromEnvironment();
};

// Milliseconds left until `deadline`, at least 0, for poll().
int PollTimeout(Clock::time_point deadline);
// Waits until `fd` is readable (or hung up); false at the deadline or on a poll error.
bool WaitReadable(int fd, Clock::time_point deadline);

}  // namespace addfdlab

#endif  // ADDFDLAB_LIMITS_H_
