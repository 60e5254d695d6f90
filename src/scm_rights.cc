// SCM_RIGHTS send and receive. No allocation: the target agent calls these after fork.
#include "addfdlab/scm_rights.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace addfdlab {

ssize_t SendWithFds(int sock, const void* bytes, size_t size, const int* fds, int count) {
  if (count < 0 || count > kMaxScmFds) {
    errno = EINVAL;
    return -1;
  }
  iovec iov{const_cast<void*>(bytes), size};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxScmFds)] = {};
  if (count > 0) {
    const size_t fd_bytes = sizeof(int) * static_cast<size_t>(count);
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(fd_bytes);
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(fd_bytes);
    std::memcpy(CMSG_DATA(cmsg), fds, fd_bytes);
  }
  return ::sendmsg(sock, &msg, MSG_NOSIGNAL);
}

ssize_t RecvWithFds(int sock, void* bytes, size_t size, int* fds, int max_fds, int* count,
                    int flags) {
  *count = 0;
  if (max_fds < 1 || max_fds > kMaxScmFds) {
    errno = EINVAL;
    return -1;
  }
  iovec iov{bytes, size};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxScmFds)] = {};
  msg.msg_control = control;
  // Sized for max_fds exactly: a larger buffer would install fds nobody closes.
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * static_cast<size_t>(max_fds));
  const ssize_t n = ::recvmsg(sock, &msg, flags);
  if (n < 0) return n;
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    auto got = static_cast<int>((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    if (got > max_fds) got = max_fds;
    std::memcpy(fds, CMSG_DATA(cmsg), sizeof(int) * static_cast<size_t>(got));
    *count = got;
  }
  return n;
}

}  // namespace addfdlab
