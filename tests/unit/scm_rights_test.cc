// SendWithFds / RecvWithFds over a socketpair: bytes, fds, truncation and bad counts.
#include "addfdlab/scm_rights.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "addfdlab/unique_fd.h"

namespace addfdlab {
namespace {

struct Pair {
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0);
    a.reset(fds[0]);
    b.reset(fds[1]);
  }
  UniqueFd a, b;
};

bool SameInode(int x, int y) {
  struct stat sx {};
  struct stat sy {};
  return ::fstat(x, &sx) == 0 && ::fstat(y, &sy) == 0 && sx.st_dev == sy.st_dev &&
         sx.st_ino == sy.st_ino;
}

TEST(ScmRights, SendsBytesAndFds) {
  Pair pair;
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd r(pipe_fds[0]), w(pipe_fds[1]);
  const int sent[2] = {r.get(), w.get()};
  const int value = 42;
  ASSERT_EQ(SendWithFds(pair.a.get(), &value, sizeof(value), sent, 2), 4);

  int got_value = 0;
  int fds[2] = {-1, -1};
  int count = -1;
  ASSERT_EQ(
      RecvWithFds(pair.b.get(), &got_value, sizeof(got_value), fds, 2, &count, MSG_CMSG_CLOEXEC),
      4);
  ASSERT_EQ(count, 2);
  UniqueFd r2(fds[0]), w2(fds[1]);
  EXPECT_EQ(got_value, 42);
  EXPECT_TRUE(SameInode(r.get(), r2.get()));
  EXPECT_TRUE(SameInode(w.get(), w2.get()));
  EXPECT_EQ(::fcntl(r2.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST(ScmRights, NoFds) {
  Pair pair;
  const char byte = 7;
  ASSERT_EQ(SendWithFds(pair.a.get(), &byte, 1, nullptr, 0), 1);
  char got = 0;
  int fd = -1;
  int count = -1;
  ASSERT_EQ(RecvWithFds(pair.b.get(), &got, 1, &fd, 1, &count, 0), 1);
  EXPECT_EQ(count, 0);
  EXPECT_EQ(fd, -1);
  EXPECT_EQ(got, 7);
}

TEST(ScmRights, MoreFdsThanRoomAreDropped) {
  Pair pair;
  const char byte = 0;
  const int sent[2] = {pair.a.get(), pair.a.get()};
  ASSERT_EQ(SendWithFds(pair.a.get(), &byte, 1, sent, 2), 1);
  char got = 0;
  int fd = -1;
  int count = 0;
  ASSERT_EQ(RecvWithFds(pair.b.get(), &got, 1, &fd, 1, &count, MSG_CMSG_CLOEXEC), 1);
  ASSERT_EQ(count, 1);
  UniqueFd kept(fd);
  EXPECT_TRUE(SameInode(kept.get(), pair.a.get()));
}

TEST(ScmRights, PeerGoneAndBadCounts) {
  Pair pair;
  const char byte = 0;
  const int fd = pair.a.get();
  errno = 0;
  EXPECT_EQ(SendWithFds(pair.a.get(), &byte, 1, &fd, kMaxScmFds + 1), -1);
  EXPECT_EQ(errno, EINVAL);
  int count = -1;
  char got = 0;
  int fds[1];
  errno = 0;
  EXPECT_EQ(RecvWithFds(pair.b.get(), &got, 1, fds, 0, &count, 0), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(count, 0);
  pair.a.reset();
  EXPECT_EQ(RecvWithFds(pair.b.get(), &got, 1, fds, 1, &count, 0), 0);
  EXPECT_EQ(count, 0);
}

}  // namespace
}  // namespace addfdlab
