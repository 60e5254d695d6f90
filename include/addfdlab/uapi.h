// The seccomp user-notifier ABI (x86-64), spelled out so that builds against older
// kernel headers (bookworm's are 6.1) still see every ioctl and flag.
#ifndef ADDFDLAB_UAPI_H_
#define ADDFDLAB_UAPI_H_

#include <linux/ioctl.h>
#include <linux/seccomp.h>

#include <cstddef>
#include <cstdint>

namespace addfdlab::uapi {

inline constexpr unsigned kSetModeFilter = 1;  // SECCOMP_SET_MODE_FILTER
inline constexpr unsigned kGetNotifSizes = 3;  // SECCOMP_GET_NOTIF_SIZES
// SECCOMP_GET_NOTIF_SIZES's three sizes as one value (the get_notif_sizes op's outcome):
// seccomp_notif in bits 0..15, seccomp_notif_resp in 16..31, seccomp_data in 32..47.
constexpr int64_t PackNotifSizes(uint16_t notif, uint16_t resp, uint16_t data) {
  return static_cast<int64_t>(notif) | (static_cast<int64_t>(resp) << 16) |
         (static_cast<int64_t>(data) << 32);
}

// Filter flags (seccomp(2)).
inline constexpr unsigned kFilterTsync = 1u << 0;
inline constexpr unsigned kFilterLog = 1u << 1;
inline constexpr unsigned kFilterSpecAllow = 1u << 2;
inline constexpr unsigned kFilterNewListener = 1u << 3;
inline constexpr unsigned kFilterTsyncEsrch = 1u << 4;
inline constexpr unsigned kFilterWaitKillableRecv = 1u << 5;

// seccomp_notif_addfd.flags
inline constexpr uint32_t kAddFdSetFd = 1u << 0;  // SECCOMP_ADDFD_FLAG_SETFD
inline constexpr uint32_t kAddFdSend = 1u << 1;   // SECCOMP_ADDFD_FLAG_SEND
// seccomp_notif_resp.flags
inline constexpr uint32_t kRespContinue = 1u << 0;  // SECCOMP_USER_NOTIF_FLAG_CONTINUE
// NOTIF_SET_FLAGS argument
inline constexpr uint64_t kSyncWakeUp = 1u << 0;  // SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP

// pidfds of one thread (6.9), for the thread tasks `spawn ... thread` makes.
inline constexpr unsigned kPidfdThread = 0200;     // PIDFD_THREAD (O_EXCL): pidfd_open
inline constexpr unsigned kPidfdSignalThread = 1;  // PIDFD_SIGNAL_THREAD: pidfd_send_signal

inline constexpr size_t kAddFdSizeVer0 = 24;  // SECCOMP_NOTIF_ADDFD_SIZE_VER0
inline constexpr size_t kNotifSize = 80;
inline constexpr size_t kRespSize = 24;

constexpr unsigned long NotifIoctl(unsigned dir, unsigned nr, size_t size) {
  return _IOC(dir, '!', nr, size);
}

inline constexpr unsigned long kIoctlRecv = NotifIoctl(_IOC_READ | _IOC_WRITE, 0, kNotifSize);
inline constexpr unsigned long kIoctlSend = NotifIoctl(_IOC_READ | _IOC_WRITE, 1, kRespSize);
inline constexpr unsigned long kIoctlIdValid = NotifIoctl(_IOC_WRITE, 2, 8);
// The first ID_VALID number, _IOR by mistake; kernels still accept it.
inline constexpr unsigned long kIoctlIdValidWrongDir = NotifIoctl(_IOC_READ, 2, 8);
inline constexpr unsigned long kIoctlSetFlags = NotifIoctl(_IOC_WRITE, 4, 8);
// The ioctl number holds 14 bits of size: a larger size is what those bits say.
inline constexpr uint32_t kIocSizeMask = (1u << _IOC_SIZEBITS) - 1;
constexpr uint32_t IoctlSize(size_t size) { return static_cast<uint32_t>(size) & kIocSizeMask; }
// NOTIF_ADDFD with an explicit argument size (the size bits are what the kernel reads).
constexpr unsigned long IoctlAddFd(size_t size) {
  return NotifIoctl(_IOC_WRITE, 3, IoctlSize(size));
}
inline constexpr unsigned long kIoctlAddFd = IoctlAddFd(kAddFdSizeVer0);

static_assert(kIoctlRecv == 0xc0502100UL);
static_assert(kIoctlSend == 0xc0182101UL);
static_assert(kIoctlIdValid == 0x40082102UL);
static_assert(kIoctlIdValidWrongDir == 0x80082102UL);
static_assert(kIoctlAddFd == 0x40182103UL);
static_assert(kIoctlSetFlags == 0x40082104UL);
static_assert(sizeof(seccomp_notif) == kNotifSize);
static_assert(sizeof(seccomp_notif_resp) == kRespSize);
static_assert(sizeof(seccomp_notif_addfd) == kAddFdSizeVer0);

}  // namespace addfdlab::uapi

#endif  // ADDFDLAB_UAPI_H_
