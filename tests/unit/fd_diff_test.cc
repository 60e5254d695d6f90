// The inspector's diff, on synthetic snapshots.
#include <gtest/gtest.h>

#include "addfdlab/fd_table.h"

namespace addfdlab {
namespace {

FdInfo Fd(int fd, uint64_t ino, bool cloexec = false, std::string desc = "x") {
  FdInfo info;
  info.fd = fd;
  info.dev = 1;
  info.ino = ino;
  info.cloexec = cloexec;
  info.description = std::move(desc);
  return info;
}

FdSnapshot Snap(std::initializer_list<FdInfo> infos) {
  FdSnapshot snap;
  for (const FdInfo& info : infos) snap.fds[info.fd] = info;
  return snap;
}

TEST(DiffFds, EqualTablesHaveNoDiff) {
  const FdSnapshot a = Snap({Fd(0, 10), Fd(512, 11, true)});
  EXPECT_TRUE(DiffFds(a, a).empty());
  EXPECT_EQ(DescribeDiff(DiffFds(a, a)), "");
}

TEST(DiffFds, AddedRemovedChanged) {
  const FdSnapshot before = Snap({Fd(0, 10), Fd(1, 11), Fd(2, 12)});
  const FdSnapshot after = Snap({Fd(0, 10), Fd(2, 99, false, "pipe:[99]"), Fd(5, 13, true)});
  const FdDiff diff = DiffFds(before, after);
  ASSERT_EQ(diff.added.size(), 1u);
  EXPECT_EQ(diff.added[0].fd, 5);
  ASSERT_EQ(diff.removed.size(), 1u);
  EXPECT_EQ(diff.removed[0].fd, 1);
  ASSERT_EQ(diff.changed.size(), 1u);
  EXPECT_EQ(diff.changed[0].fd, 2);
  EXPECT_EQ(DescribeDiff(diff), "+5 x cloexec\n-1 x\n~2 x -> 2 pipe:[99]\n");
}

TEST(DiffFds, CloexecAloneIsAChange) {
  const FdDiff diff = DiffFds(Snap({Fd(3, 7, false)}), Snap({Fd(3, 7, true)}));
  ASSERT_EQ(diff.changed.size(), 1u);
  EXPECT_FALSE(diff.changed[0].before.cloexec);
  EXPECT_TRUE(diff.changed[0].after.cloexec);
}

TEST(DiffFds, IdentityByKcmpNameIsAChange) {
  FdInfo a = Fd(3, 7);
  a.known_as = "memfd";
  FdInfo b = Fd(3, 7);
  b.known_as = "pipe_r";
  EXPECT_EQ(DiffFds(Snap({a}), Snap({b})).changed.size(), 1u);
}

TEST(Hygiene, DescribesWhatChanged) {
  ProcessHygiene before{{0, 1, 2}, 1, {}};
  ProcessHygiene after{{0, 1, 2, 9}, 2, {1234}};
  EXPECT_EQ(DescribeHygieneChange(before, before), "");
  EXPECT_EQ(DescribeHygieneChange(before, after),
            "leaked supervisor fd 9\nthreads 1 -> 2\nleftover child 1234\n");
}

}  // namespace
}  // namespace addfdlab
