// The target pool: reset to the exact baseline, replacement, and no orphans.
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "addfdlab/target_pool.h"
#include "kernel_fixture.h"

namespace addfdlab {
namespace {

TEST(TargetPool, ResetRestoresTheExactBaseline) {
  TargetPool pool(TargetConfig{});
  auto target = pool.Acquire();
  ASSERT_TRUE(target) << target.error().Name();
  Target& t = **target;
  auto baseline = SnapshotFds(t.pid());
  ASSERT_TRUE(baseline);
  const pid_t pid = t.pid();

  // Open, replace and leak: a pipe, /dev/null, an fd injected and never reported, a fd
  // replaced by SETFD, a lowered rlimit and a handler.
  ASSERT_TRUE(t.Call(0, MakeRequest(agent::Command::kPipe, {0})));
  ASSERT_TRUE(t.Call(0, MakeRequest(agent::Command::kOpenDevNull, {O_RDWR})));
  ASSERT_TRUE(t.Broadcast(MakeRequest(agent::Command::kSigaction, {SIGUSR1, 1, 1})));
  UniqueFd memfd(::memfd_create("leak", MFD_CLOEXEC));
  ASSERT_TRUE(t.Start(1, MakeRequest(agent::Command::kTrap)));
  auto notif = RecvNotification(t.listener(), Limits{}.Deadline(Millis(2000)));
  ASSERT_TRUE(notif);
  seccomp_notif_addfd req{};
  req.id = notif->id;
  req.srcfd = static_cast<uint32_t>(memfd.get());
  ASSERT_TRUE(NotifAddFd(t.listener(), req));  // leaked: never named by a reply
  req.flags = uapi::kAddFdSetFd;
  req.newfd = 1;  // replaces the pipe's write end
  ASSERT_TRUE(NotifAddFd(t.listener(), req));
  req.newfd = 200;
  ASSERT_TRUE(NotifAddFd(t.listener(), req));
  seccomp_notif_resp resp{};
  resp.id = notif->id;
  ASSERT_TRUE(NotifSend(t.listener(), resp));
  ASSERT_TRUE(t.Finish(1, Limits{}.Deadline(Millis(2000))));
  ASSERT_TRUE(t.Broadcast(MakeRequest(agent::Command::kSetNofile, {8})));
  auto dirty = SnapshotFds(t.pid());
  ASSERT_TRUE(dirty);
  EXPECT_GE(dirty->fds.size(), baseline->fds.size() + 4);

  pool.Release(std::move(*target));
  EXPECT_EQ(pool.idle(), 1u);
  auto again = pool.Acquire();
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)->pid(), pid) << "the same target is reused";
  EXPECT_EQ(pool.stats().reused, 1u);
  auto clean = SnapshotFds(pid);
  ASSERT_TRUE(clean);
  EXPECT_TRUE(DiffFds(*baseline, *clean).empty()) << DescribeDiff(DiffFds(*baseline, *clean));
  // Handlers and the rlimit are back too: the trapped syscall still works, a new fd is 0.
  auto opened = (*again)->Call(0, MakeRequest(agent::Command::kOpenDevNull, {O_RDONLY}));
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->ret, 0);
  auto nofile = (*again)->Call(1, MakeRequest(agent::Command::kDup, {0, 0, 1000}));
  ASSERT_TRUE(nofile);
  EXPECT_EQ(nofile->ret, 1000) << "RLIMIT_NOFILE back at " << agent::kBaselineNofile;
}

TEST(TargetPool, ReplacesADeadTarget) {
  TargetPool pool(TargetConfig{});
  auto target = pool.Acquire();
  ASSERT_TRUE(target);
  const pid_t pid = (*target)->pid();
  ASSERT_TRUE((*target)->Signal(0, SIGKILL));
  pool.Release(std::move(*target));
  EXPECT_EQ(pool.idle(), 0u);
  EXPECT_EQ(pool.stats().replaced, 1u);
  // Its replacement was launched at once (spawn-ahead): its leader is the pool's, and its
  // supervisor-side fds are counted as the pool's for the hygiene oracle.
  ASSERT_EQ(pool.IdlePids().size(), 1u);
  const pid_t ahead = pool.IdlePids().front();
  EXPECT_NE(ahead, pid);
  EXPECT_FALSE(pool.OwnedFds().empty());
  auto fresh = pool.Acquire();
  ASSERT_TRUE(fresh);
  EXPECT_EQ((*fresh)->pid(), ahead);
  EXPECT_TRUE((*fresh)->Alive());
  EXPECT_EQ(pool.stats().spawned, 2u);
  EXPECT_EQ(pool.stats().ahead, 1u);
  EXPECT_TRUE(pool.IdlePids().empty());
  // It is at its baseline like any fresh target, and serves a call.
  auto baseline = AtBaseline(**fresh);
  ASSERT_TRUE(baseline);
  EXPECT_TRUE(*baseline);
  EXPECT_TRUE((*fresh)->Call(0, MakeRequest(agent::Command::kPing)));
}

TEST(TargetPool, ABusyTargetIsNotReused) {
  TargetPool pool(TargetConfig{});
  auto target = pool.Acquire();
  ASSERT_TRUE(target);
  ASSERT_TRUE((*target)->Start(1, MakeRequest(agent::Command::kTrap)));
  pool.Release(std::move(*target));
  EXPECT_EQ(pool.idle(), 0u);
}

// A supervisor killed with SIGKILL leaves no target task behind.
TEST(Target, NothingSurvivesAKilledSupervisor) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  const pid_t supervisor = ::fork();
  ASSERT_GE(supervisor, 0);
  if (supervisor == 0) {
    auto target = Target::Spawn(TargetConfig{});
    if (!target) ::_exit(3);
    pid_t pids[agent::kMaxTasks] = {};
    for (int t = 0; t < (*target)->tasks(); ++t) pids[t] = (*target)->task_pid(t);
    if (::write(pipe_fds[1], pids, sizeof(pids)) != sizeof(pids)) ::_exit(4);
    ::pause();
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  pid_t pids[agent::kMaxTasks] = {};
  ASSERT_EQ(::read(pipe_fds[0], pids, sizeof(pids)), static_cast<ssize_t>(sizeof(pids)));
  ::close(pipe_fds[0]);
  std::vector<UniqueFd> pidfds;
  for (pid_t pid : pids) {
    if (pid <= 0) continue;
    pidfds.emplace_back(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    ASSERT_TRUE(pidfds.back().valid());
  }
  ASSERT_GE(pidfds.size(), 3u);
  ASSERT_EQ(::kill(supervisor, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(supervisor, &status, 0), supervisor);
  for (const UniqueFd& pidfd : pidfds) {
    struct pollfd pfd {
      pidfd.get(), POLLIN, 0
    };
    EXPECT_EQ(::poll(&pfd, 1, 2000), 1) << "a target task outlived its supervisor";
  }
}

// A supervisor killed (or gone with _exit) leaves its FIFO folder; the next one removes
// it, and leaves alone the folders of processes that still run.
TEST(Target, FifoFoldersOfDeadProcessesAreSwept) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  const std::string dead = "/tmp/addfdlab-fifos-" + std::to_string(child) + "-sweeptest";
  const std::string alive = "/tmp/addfdlab-fifos-" + std::to_string(::getpid()) + "-sweeptest";
  for (const std::string& dir : {dead, alive}) {
    ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0) << dir;
    ASSERT_EQ(::mkfifo((dir + "/fifo-1-1").c_str(), 0600), 0) << dir;
  }
  SweepDeadFifoDirs();
  struct stat st {};
  EXPECT_NE(::stat(dead.c_str(), &st), 0) << dead << " is still there";
  EXPECT_EQ(::stat(alive.c_str(), &st), 0) << alive << " was removed while its process runs";
  ::unlink((alive + "/fifo-1-1").c_str());
  ::rmdir(alive.c_str());
  ::unlink((dead + "/fifo-1-1").c_str());
  ::rmdir(dead.c_str());
}

}  // namespace
}  // namespace addfdlab
