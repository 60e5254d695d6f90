// The kernel layer against a real target: listener hand-off, ADDFD then SEND, ADDFD|SEND,
// SETFD replacing an open fd.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "addfdlab/notifier.h"
#include "kernel_fixture.h"

namespace addfdlab {
namespace {

TEST_F(KernelTest, ListenerHandOff) {
  struct stat st {};
  ASSERT_EQ(::fstat(target_->listener(), &st), 0);
  char link[64];
  const std::string path = "/proc/self/fd/" + std::to_string(target_->listener());
  const ssize_t n = ::readlink(path.c_str(), link, sizeof(link) - 1);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(link, static_cast<size_t>(n)), "anon_inode:seccomp notify");
  EXPECT_GE(::fcntl(target_->listener(), F_GETFD) & FD_CLOEXEC, 1) << "listener not cloexec";
  // The target has no copy of the listener: only its control sockets.
  auto snap = SnapshotFds(target_->pid());
  ASSERT_TRUE(snap);
  EXPECT_EQ(snap->fds.size(), static_cast<size_t>(target_->tasks()));
  EXPECT_EQ(snap->fds.begin()->first, agent::kHarnessFdBase);
}

TEST_F(KernelTest, TrappedSyscallCarriesArguments) {
  const seccomp_notif notif = Trap();
  EXPECT_EQ(notif.pid, static_cast<uint32_t>(target_->task_pid(1)));
  EXPECT_EQ(notif.data.nr, agent::kTrapSyscall);
  EXPECT_EQ(notif.data.args[0], 1u);
  EXPECT_EQ(notif.data.args[2], 3u);
  seccomp_notif_resp resp{};
  resp.id = notif.id;
  resp.error = -EPERM;
  ASSERT_TRUE(NotifSend(target_->listener(), resp));
  const agent::Reply reply = Returned();
  EXPECT_EQ(reply.ret, -1);
  EXPECT_EQ(reply.err, EPERM);
}

TEST_F(KernelTest, AddFdThenSend) {
  UniqueFd memfd = Memfd();
  const seccomp_notif notif = Trap();
  seccomp_notif_addfd req{};
  req.id = notif.id;
  req.srcfd = static_cast<uint32_t>(memfd.get());
  auto remote = NotifAddFd(target_->listener(), req);
  ASSERT_TRUE(remote) << remote.error().Name();
  EXPECT_EQ(remote->number, 0) << "ADDFD.OK.LOWEST: the lowest free fd";
  EXPECT_TRUE(SameAs(*remote, memfd.get())) << "kcmp: not the injected file";
  auto flags = target_->Call(0, MakeRequest(agent::Command::kFcntlGetfd, {remote->number}));
  ASSERT_TRUE(flags);
  EXPECT_EQ(flags->ret & FD_CLOEXEC, 0) << "ADDFD.OK.CLOEXEC: no O_CLOEXEC asked";

  seccomp_notif_resp resp{};
  resp.id = notif.id;
  resp.val = remote->number;
  ASSERT_TRUE(NotifSend(target_->listener(), resp));
  const agent::Reply reply = Returned();
  EXPECT_EQ(reply.ret, remote->number);
  EXPECT_EQ(reply.err, 0);
}

TEST_F(KernelTest, AddFdSendInOneStep) {
  UniqueFd memfd = Memfd();
  const seccomp_notif notif = Trap();
  seccomp_notif_addfd req{};
  req.id = notif.id;
  req.flags = uapi::kAddFdSend;
  req.srcfd = static_cast<uint32_t>(memfd.get());
  req.newfd_flags = O_CLOEXEC;
  auto remote = NotifAddFd(target_->listener(), req);
  ASSERT_TRUE(remote) << remote.error().Name();
  const agent::Reply reply = Returned();
  EXPECT_EQ(reply.ret, remote->number) << "ADDFD.SEND.OK";
  EXPECT_TRUE(SameAs(*remote, memfd.get()));
  auto flags = target_->Call(0, MakeRequest(agent::Command::kFcntlGetfd, {remote->number}));
  ASSERT_TRUE(flags);
  EXPECT_EQ(flags->ret & FD_CLOEXEC, FD_CLOEXEC) << "ADDFD.OK.CLOEXEC";
  // The notification is gone: ID_VALID answers ENOENT.
  auto valid = NotifIdValid(target_->listener(), notif.id);
  ASSERT_FALSE(valid);
  EXPECT_EQ(valid.error(), Errno(ENOENT));
}

TEST_F(KernelTest, SetFdReplacesAnOpenFd) {
  auto opened = target_->Call(0, MakeRequest(agent::Command::kOpenDevNull, {O_RDONLY}));
  ASSERT_TRUE(opened);
  ASSERT_EQ(opened->ret, 0);
  auto before = SnapshotFds(target_->pid());
  ASSERT_TRUE(before);
  ASSERT_EQ(before->fds.at(0).description, "/dev/null");

  UniqueFd memfd = Memfd();
  const seccomp_notif notif = Trap();
  seccomp_notif_addfd req{};
  req.id = notif.id;
  req.flags = uapi::kAddFdSetFd | uapi::kAddFdSend;
  req.srcfd = static_cast<uint32_t>(memfd.get());
  req.newfd = 0;
  auto remote = NotifAddFd(target_->listener(), req);
  ASSERT_TRUE(remote) << remote.error().Name();
  EXPECT_EQ(remote->number, 0) << "ADDFD.SETFD.OK";
  EXPECT_EQ(Returned().ret, 0);
  EXPECT_TRUE(SameAs(RemoteFd{0}, memfd.get())) << "ADDFD.SETFD.REPLACE: old file still there";
  auto after = SnapshotFds(target_->pid());
  ASSERT_TRUE(after);
  const FdDiff diff = DiffFds(*before, *after);
  EXPECT_TRUE(diff.added.empty());
  EXPECT_TRUE(diff.removed.empty());
  ASSERT_EQ(diff.changed.size(), 1u) << DescribeDiff(diff);
  EXPECT_EQ(diff.changed[0].fd, 0);
  EXPECT_EQ(diff.changed[0].after.description.rfind("/memfd:test", 0), 0u);
}

TEST_F(KernelTest, SetFdAtOrAboveRlimitIsEbadf) {
  UniqueFd memfd = Memfd();
  ASSERT_TRUE(target_->Broadcast(MakeRequest(agent::Command::kSetNofile, {16})));
  const seccomp_notif notif = Trap();
  seccomp_notif_addfd req{};
  req.id = notif.id;
  req.flags = uapi::kAddFdSetFd;
  req.srcfd = static_cast<uint32_t>(memfd.get());
  req.newfd = 16;
  auto remote = NotifAddFd(target_->listener(), req);
  ASSERT_FALSE(remote);
  EXPECT_EQ(remote.error(), Errno(EBADF)) << "ADDFD.SETFD.RLIMIT";
  seccomp_notif_resp resp{};
  resp.id = notif.id;
  resp.error = -ENOSYS;
  ASSERT_TRUE(NotifSend(target_->listener(), resp));
  EXPECT_EQ(Returned().err, ENOSYS);
}

TEST_F(KernelTest, AddFdSizeAndTailCells) {
  UniqueFd memfd = Memfd();
  const seccomp_notif notif = Trap();
  struct {
    seccomp_notif_addfd req;
    uint64_t tail;
  } big{};
  big.req.id = notif.id;
  big.req.srcfd = static_cast<uint32_t>(memfd.get());
  big.tail = 1;
  auto e2big = NotifAddFdRaw(target_->listener(), &big, sizeof(big));
  ASSERT_FALSE(e2big);
  EXPECT_EQ(e2big.error(), Errno(E2BIG)) << "ADDFD.SIZE.TAIL_NONZERO";
  auto shorter = NotifAddFdRaw(target_->listener(), &big, 16);
  ASSERT_FALSE(shorter);
  EXPECT_EQ(shorter.error(), Errno(EINVAL)) << "ADDFD.SIZE.SHORT";
  big.tail = 0;
  auto zero_tail = NotifAddFdRaw(target_->listener(), &big, sizeof(big));
  ASSERT_TRUE(zero_tail) << "ADDFD.SIZE.TAIL_ZERO: " << zero_tail.error().Name();
  seccomp_notif_resp resp{};
  resp.id = notif.id;
  resp.val = zero_tail->number;
  ASSERT_TRUE(NotifSend(target_->listener(), resp));
  EXPECT_EQ(Returned().ret, zero_tail->number);
}

// SEND.CONTINUE.RUNS: the trapped dup's notification carries the tagged argument, and a
// CONTINUE reply runs it: a new fd for the same file, not close-on-exec.
TEST_F(KernelTest, ContinueRunsATrappedDup) {
  auto opened = target_->Call(0, MakeRequest(agent::Command::kOpenDevNull, {O_CLOEXEC}));
  ASSERT_TRUE(opened);
  ASSERT_EQ(opened->ret, 0);
  ASSERT_TRUE(target_->Start(1, MakeRequest(agent::Command::kTrapDup, {0})));
  auto notif = RecvNotification(target_->listener(), Limits{}.Deadline(Millis(2000)));
  ASSERT_TRUE(notif) << notif.error().Name();
  EXPECT_EQ(notif->data.nr, agent::kDupTrapSyscall);
  EXPECT_EQ(notif->data.args[0], agent::DupTrapArg(0));
  seccomp_notif_resp resp{};
  resp.id = notif->id;
  resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  ASSERT_TRUE(NotifSend(target_->listener(), resp));
  EXPECT_EQ(Returned().ret, 1) << "SEND.CONTINUE.RUNS: dup returns the lowest free fd";
  auto same = SameFile(target_->pid(), 1, target_->pid(), 0);
  ASSERT_TRUE(same);
  EXPECT_TRUE(*same);
  auto flags = target_->Call(0, MakeRequest(agent::Command::kFcntlGetfd, {1}));
  ASSERT_TRUE(flags);
  EXPECT_EQ(flags->ret & FD_CLOEXEC, 0);
}

// The filter traps dup only with the tag in its argument's upper 32 bits: without a listener
// (no NEW_LISTENER) a trapped call fails with ENOSYS, any other dup runs.
TEST(NotifyFilter, TrapsOnlyTheTaggedDup) {
  const int trapped[] = {agent::kTrapSyscall};
  const TaggedSyscall tagged[] = {{agent::kDupTrapSyscall, agent::kDupTrapTag}};
  auto filter = NotifyFilter::Build(trapped, 1, tagged, 1);
  ASSERT_TRUE(filter) << filter.error().Name();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Each failed check exits with its own code.
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(10);
    if (!SeccompSetModeFilter(0, filter->prog())) ::_exit(11);
    const int fd = ::open("/dev/null", O_RDONLY);
    if (fd < 0) ::_exit(12);
    if (::syscall(SYS_dup, fd) < 0) ::_exit(13);
    if (::syscall(SYS_dup, (uint64_t{1} << 32) | static_cast<uint32_t>(fd)) < 0) ::_exit(14);
    if (::syscall(SYS_dup, agent::DupTrapArg(fd)) != -1 || errno != ENOSYS) ::_exit(15);
    if (::syscall(agent::kTrapSyscall, 0) != -1 || errno != ENOSYS) ::_exit(16);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace addfdlab
