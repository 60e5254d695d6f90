// The kernel layer: seccomp() and the notifier ioctls, 1:1, and the seam over them.
#include "addfdlab/notifier.h"

#include <fcntl.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace addfdlab {

Result<UniqueFd> SeccompSetModeFilter(unsigned flags, const sock_fprog* prog) {
  const long ret = ::syscall(SYS_seccomp, uapi::kSetModeFilter, flags, prog);
  if (ret < 0) return Errno::Last();
  // Without NEW_LISTENER the kernel returns 0, which is not an fd of ours.
  if ((flags & uapi::kFilterNewListener) == 0) return UniqueFd();
  return UniqueFd(static_cast<int>(ret));
}

Result<seccomp_notif_sizes> SeccompGetNotifSizes() {
  seccomp_notif_sizes sizes{};
  if (::syscall(SYS_seccomp, uapi::kGetNotifSizes, 0, &sizes) < 0) return Errno::Last();
  return sizes;
}

Result<void> NotifRecv(int listener, seccomp_notif* notif) {
  if (::ioctl(listener, uapi::kIoctlRecv, notif) < 0) return Errno::Last();
  return {};
}

Result<void> NotifSend(int listener, const seccomp_notif_resp& resp) {
  if (::ioctl(listener, uapi::kIoctlSend, &resp) < 0) return Errno::Last();
  return {};
}

Result<void> NotifIdValid(int listener, uint64_t id, bool legacy_number) {
  const unsigned long request = legacy_number ? uapi::kIoctlIdValidWrongDir : uapi::kIoctlIdValid;
  if (::ioctl(listener, request, &id) < 0) return Errno::Last();
  return {};
}

Result<RemoteFd> NotifAddFd(int listener, const seccomp_notif_addfd& req) {
  const int ret = ::ioctl(listener, uapi::kIoctlAddFd, &req);
  if (ret < 0) return Errno::Last();
  return RemoteFd{ret};
}

Result<RemoteFd> NotifAddFdRaw(int listener, const void* arg, size_t ioctl_size) {
  const int ret = ::ioctl(listener, uapi::IoctlAddFd(ioctl_size), arg);
  if (ret < 0) return Errno::Last();
  return RemoteFd{ret};
}

Result<void> NotifSetFlags(int listener, uint64_t flags) {
  // The kernel takes the flags by value, not through a pointer.
  if (::ioctl(listener, uapi::kIoctlSetFlags, flags) < 0) return Errno::Last();
  return {};
}

Result<long> NotifIoctlRaw(int listener, unsigned long request, uintptr_t arg) {
  const long ret = ::ioctl(listener, request, arg);
  if (ret < 0) return Errno::Last();
  return ret;
}

const char* NotifierCallName(NotifierCall call) {
  switch (call) {
    case NotifierCall::kRecv:
      return "recv";
    case NotifierCall::kSend:
      return "send";
    case NotifierCall::kIdValid:
      return "id_valid";
    case NotifierCall::kAddFd:
      return "addfd";
    case NotifierCall::kSetFlags:
      return "set_flags";
    case NotifierCall::kPidfdGetfd:
      return "pidfd_getfd";
    case NotifierCall::kDup:
      return "dup";
  }
  return "?";
}

namespace {

class SystemNotifierApi final : public NotifierApi {
 public:
  Result<void> Recv(int listener, seccomp_notif* notif) override {
    return NotifRecv(listener, notif);
  }
  Result<void> Send(int listener, const seccomp_notif_resp& resp) override {
    return NotifSend(listener, resp);
  }
  Result<void> IdValid(int listener, uint64_t id) override { return NotifIdValid(listener, id); }
  Result<RemoteFd> AddFd(int listener, const seccomp_notif_addfd& req) override {
    return NotifAddFd(listener, req);
  }
  Result<void> SetFlags(int listener, uint64_t flags) override {
    return NotifSetFlags(listener, flags);
  }
  Result<UniqueFd> PidfdGetfd(int pidfd, RemoteFd remote) override {
    const long ret = ::syscall(SYS_pidfd_getfd, pidfd, remote.number, 0);
    if (ret < 0) return Errno::Last();
    return UniqueFd(static_cast<int>(ret));
  }
  Result<UniqueFd> Dup(int fd) override {
    const int ret = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (ret < 0) return Errno::Last();
    return UniqueFd(ret);
  }
};

}  // namespace

NotifierApi& SystemNotifier() {
  static SystemNotifierApi api;
  return api;
}

void FailNthNotifier::FailNth(NotifierCall call, int nth, Errno error) {
  plans_.emplace(call, Plan{counts_[static_cast<size_t>(call)] + nth, error});
}

int FailNthNotifier::Next(NotifierCall call) {
  const int number = ++counts_[static_cast<size_t>(call)];
  auto [begin, end] = plans_.equal_range(call);
  for (auto it = begin; it != end; ++it) {
    if (it->second.at == number) {
      const int error = it->second.error.value();
      plans_.erase(it);
      ++fired_;
      return error;
    }
  }
  return 0;
}

Result<void> FailNthNotifier::Recv(int listener, seccomp_notif* notif) {
  if (const int e = Next(NotifierCall::kRecv)) return Errno(e);
  return inner_.Recv(listener, notif);
}

Result<void> FailNthNotifier::Send(int listener, const seccomp_notif_resp& resp) {
  if (const int e = Next(NotifierCall::kSend)) return Errno(e);
  return inner_.Send(listener, resp);
}

Result<void> FailNthNotifier::IdValid(int listener, uint64_t id) {
  if (const int e = Next(NotifierCall::kIdValid)) return Errno(e);
  return inner_.IdValid(listener, id);
}

Result<RemoteFd> FailNthNotifier::AddFd(int listener, const seccomp_notif_addfd& req) {
  if (const int e = Next(NotifierCall::kAddFd)) return Errno(e);
  return inner_.AddFd(listener, req);
}

Result<void> FailNthNotifier::SetFlags(int listener, uint64_t flags) {
  if (const int e = Next(NotifierCall::kSetFlags)) return Errno(e);
  return inner_.SetFlags(listener, flags);
}

Result<UniqueFd> FailNthNotifier::PidfdGetfd(int pidfd, RemoteFd remote) {
  if (const int e = Next(NotifierCall::kPidfdGetfd)) return Errno(e);
  return inner_.PidfdGetfd(pidfd, remote);
}

Result<UniqueFd> FailNthNotifier::Dup(int fd) {
  if (const int e = Next(NotifierCall::kDup)) return Errno(e);
  return inner_.Dup(fd);
}

NotifyFilter::NotifyFilter(NotifyFilter&& other) noexcept
    : insns_(std::move(other.insns_)), prog_(other.prog_) {
  other.prog_ = {};
}

NotifyFilter& NotifyFilter::operator=(NotifyFilter&& other) noexcept {
  insns_ = std::move(other.insns_);
  prog_ = other.prog_;
  other.prog_ = {};
  return *this;
}

Result<NotifyFilter> NotifyFilter::Build(const int* syscalls, size_t count,
                                         const TaggedSyscall* tagged, size_t tagged_count) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) return Errno(ENOMEM);
  struct CtxCloser {
    scmp_filter_ctx ctx;
    ~CtxCloser() { seccomp_release(ctx); }
  } closer{ctx};
  for (size_t i = 0; i < count; ++i) {
    const int rc = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, syscalls[i], 0);
    if (rc < 0) return Errno(-rc);
  }
  for (size_t i = 0; i < tagged_count; ++i) {
    // A 64-bit masked compare: libseccomp checks args[0]'s high word against the tag.
    const int rc = seccomp_rule_add(
        ctx, SCMP_ACT_NOTIFY, tagged[i].nr, 1,
        SCMP_A0_64(SCMP_CMP_MASKED_EQ, 0xffffffff00000000ULL, uint64_t{tagged[i].tag} << 32));
    if (rc < 0) return Errno(-rc);
  }
  // libseccomp 2.5 can only export BPF to an fd.
  UniqueFd mem(::memfd_create("addfdlab-filter", MFD_CLOEXEC));
  if (!mem) return Errno::Last();
  if (const int rc = seccomp_export_bpf(ctx, mem.get()); rc < 0) return Errno(-rc);
  const off_t size = ::lseek(mem.get(), 0, SEEK_END);
  if (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0) {
    return Errno(EINVAL);
  }
  const size_t insn_count = static_cast<size_t>(size) / sizeof(sock_filter);
  NotifyFilter filter;
  filter.insns_ = std::make_unique<sock_filter[]>(insn_count);
  if (::pread(mem.get(), filter.insns_.get(), static_cast<size_t>(size), 0) != size) {
    return Errno(EIO);
  }
  filter.prog_.len = static_cast<unsigned short>(insn_count);
  filter.prog_.filter = filter.insns_.get();
  return filter;
}

}  // namespace addfdlab
