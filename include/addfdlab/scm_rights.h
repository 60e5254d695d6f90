// SCM_RIGHTS over a connected AF_UNIX socket: one message with fds attached. Stack only
// and plain syscalls, so a forked child (the target agent) may call these.
#ifndef ADDFDLAB_SCM_RIGHTS_H_
#define ADDFDLAB_SCM_RIGHTS_H_

#include <sys/types.h>

#include <cstddef>

namespace addfdlab {

// The most fds one call sends or receives (the control buffer lives on the stack).
inline constexpr int kMaxScmFds = 16;

// Sends `size` bytes of `bytes` as one message with the `count` fds of `fds` attached
// (count 0: no control message), MSG_NOSIGNAL, one attempt (no EINTR retry). Returns
// what sendmsg returns: the bytes sent, or -1 with errno set (EINVAL: count out of
// 0..kMaxScmFds).
ssize_t SendWithFds(int sock, const void* bytes, size_t size, const int* fds, int count);

// Receives one message of at most `size` bytes into `bytes` with recvmsg `flags`
// (MSG_CMSG_CLOEXEC, ...), one attempt. The control buffer holds `max_fds` (1..kMaxScmFds)
// fds, so the kernel closes any more the peer sent; those received go to `fds`, *count
// of them (0 when none, or on failure). Returns what recvmsg returns: the bytes received
// (0: the peer is gone), or -1 with errno set.
ssize_t RecvWithFds(int sock, void* bytes, size_t size, int* fds, int max_fds, int* count,
                    int flags);

}  // namespace addfdlab

#endif  // ADDFDLAB_SCM_RIGHTS_H_
