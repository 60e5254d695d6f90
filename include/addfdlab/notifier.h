// The kernel layer: 1:1 wrappers for seccomp() and the five notifier ioctls, and the
// NotifierApi seam over them. This is the only code that makes these calls.
#ifndef ADDFDLAB_NOTIFIER_H_
#define ADDFDLAB_NOTIFIER_H_

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "addfdlab/result.h"
#include "addfdlab/uapi.h"
#include "addfdlab/unique_fd.h"

namespace addfdlab {

// seccomp(SECCOMP_SET_MODE_FILTER, flags, prog). Any flag bits pass through unchecked.
// Returns the listener (with NEW_LISTENER), or an invalid UniqueFd when the kernel
// returned 0. Async-signal-safe: forked children call it.
Result<UniqueFd> SeccompSetModeFilter(unsigned flags, const sock_fprog* prog);

// seccomp(SECCOMP_GET_NOTIF_SIZES, 0, sizes): the kernel's sizes of the notifier structs.
Result<seccomp_notif_sizes> SeccompGetNotifSizes();
// NOTIF_RECV into `notif`, which the caller zeroes (or not: RECV.NONZERO is a test input).
Result<void> NotifRecv(int listener, seccomp_notif* notif);
// NOTIF_SEND.
Result<void> NotifSend(int listener, const seccomp_notif_resp& resp);
// NOTIF_ID_VALID with the current (_IOW) or the legacy (_IOR) ioctl number.
Result<void> NotifIdValid(int listener, uint64_t id, bool legacy_number = false);
// NOTIF_ADDFD with the struct's own size.
Result<RemoteFd> NotifAddFd(int listener, const seccomp_notif_addfd& req);
// NOTIF_ADDFD with an explicit ioctl size and a raw argument pointer (may be unreadable),
// so the size, E2BIG and EFAULT cells can be driven.
Result<RemoteFd> NotifAddFdRaw(int listener, const void* arg, size_t ioctl_size);
// NOTIF_SET_FLAGS; the flags are passed by value, as the kernel reads them.
Result<void> NotifSetFlags(int listener, uint64_t flags);
// Any ioctl on the listener, for IOCTL.UNKNOWN.
Result<long> NotifIoctlRaw(int listener, unsigned long request, uintptr_t arg);

// Which call of the seam a fault applies to.
enum class NotifierCall {
  kRecv,
  kSend,
  kIdValid,
  kAddFd,
  kSetFlags,
  kPidfdGetfd,
  kDup,
};
inline constexpr size_t kNotifierCallCount = 7;
const char* NotifierCallName(NotifierCall call);

// The seam: the supervisor's notifier calls, as an interface. The system implementation
// forwards to the wrappers above; tests and fault plans substitute or wrap it.
class NotifierApi {
 public:
  virtual ~NotifierApi() = default;
  virtual Result<void> Recv(int listener, seccomp_notif* notif) = 0;
  virtual Result<void> Send(int listener, const seccomp_notif_resp& resp) = 0;
  virtual Result<void> IdValid(int listener, uint64_t id) = 0;
  virtual Result<RemoteFd> AddFd(int listener, const seccomp_notif_addfd& req) = 0;
  virtual Result<void> SetFlags(int listener, uint64_t flags) = 0;
  // pidfd_getfd(pidfd, remote, 0): a copy of a target's file, owned by us.
  virtual Result<UniqueFd> PidfdGetfd(int pidfd, RemoteFd remote) = 0;
  // fcntl(F_DUPFD_CLOEXEC).
  virtual Result<UniqueFd> Dup(int fd) = 0;
};

// The real kernel.
NotifierApi& SystemNotifier();

// Wraps another NotifierApi and fails the Nth call (1-based) of a chosen kind with a
// chosen errno, without making it. Counts every call it forwards.
class FailNthNotifier final : public NotifierApi {
 public:
  explicit FailNthNotifier(NotifierApi& inner) : inner_(inner) {}

  // From now on, the `nth` call of `call` (counting from the calls already made) fails.
  void FailNth(NotifierCall call, int nth, Errno error);
  // How many calls of `call` were made through this seam, failed ones included.
  int calls(NotifierCall call) const { return counts_[static_cast<size_t>(call)]; }
  // How many injected failures fired.
  int fired() const { return fired_; }

  Result<void> Recv(int listener, seccomp_notif* notif) override;
  Result<void> Send(int listener, const seccomp_notif_resp& resp) override;
  Result<void> IdValid(int listener, uint64_t id) override;
  Result<RemoteFd> AddFd(int listener, const seccomp_notif_addfd& req) override;
  Result<void> SetFlags(int listener, uint64_t flags) override;
  Result<UniqueFd> PidfdGetfd(int pidfd, RemoteFd remote) override;
  Result<UniqueFd> Dup(int fd) override;

 private:
  // Counts the call; returns the errno to inject, or 0 to forward it.
  int Next(NotifierCall call);

  struct Plan {
    int at = 0;  // absolute call number that fails
    Errno error{0};
  };
  NotifierApi& inner_;
  std::array<int, kNotifierCallCount> counts_{};
  std::multimap<NotifierCall, Plan> plans_;
  int fired_ = 0;
};

// A syscall the filter sends to the notifier only when the upper 32 bits of its first
// argument are `tag`.
struct TaggedSyscall {
  int nr = 0;
  uint32_t tag = 0;
};

// A BPF program that returns SECCOMP_RET_USER_NOTIF for the given syscall numbers (and the
// tagged ones when tagged) and SECCOMP_RET_ALLOW for everything else (built with libseccomp).
class NotifyFilter {
 public:
  // Builds the program; fails with the libseccomp errno.
  static Result<NotifyFilter> Build(const int* syscalls, size_t count,
                                    const TaggedSyscall* tagged = nullptr, size_t tagged_count = 0);
  const sock_fprog* prog() const { return &prog_; }

  NotifyFilter(NotifyFilter&& other) noexcept;
  NotifyFilter& operator=(NotifyFilter&& other) noexcept;
  NotifyFilter(const NotifyFilter&) = delete;
  NotifyFilter& operator=(const NotifyFilter&) = delete;
  ~NotifyFilter() = default;

 private:
  NotifyFilter() = default;
  std::unique_ptr<sock_filter[]> insns_;
  sock_fprog prog_{};
};

}  // namespace addfdlab

#endif  // ADDFDLAB_NOTIFIER_H_
