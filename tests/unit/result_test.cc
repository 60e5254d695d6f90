// Errno, Result<T>, UniqueFd and RemoteFd.
#include "addfdlab/result.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "addfdlab/unique_fd.h"

namespace addfdlab {
namespace {

TEST(Errno, NamesRoundTrip) {
  EXPECT_EQ(Errno(EBADF).Name(), "EBADF");
  EXPECT_EQ(ErrnoName(EINPROGRESS), "EINPROGRESS");
  EXPECT_EQ(ErrnoFromName("ESRCH"), ESRCH);
  EXPECT_EQ(ErrnoFromName("E2BIG"), E2BIG);
  EXPECT_EQ(ErrnoFromName("22"), EINVAL);
  EXPECT_EQ(ErrnoFromName("ENOTANERRNO"), 0);
  EXPECT_EQ(ErrnoFromName(""), 0);
  for (int e = 1; e < 134; ++e) {
    if (ErrnoName(e)[0] == 'E' && ErrnoName(e) != "E" + std::to_string(e)) {
      EXPECT_EQ(ErrnoFromName(ErrnoName(e)), e) << ErrnoName(e);
    }
  }
}

TEST(Result, ValueAndError) {
  Result<int> ok = 7;
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 7);
  Result<int> bad = Errno(ENOENT);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), Errno(ENOENT));
  EXPECT_EQ(bad.value_or(3), 3);
  Result<void> done;
  EXPECT_TRUE(done);
  Result<void> failed = Errno(EINTR);
  EXPECT_FALSE(failed);
  EXPECT_EQ(failed.error().value(), EINTR);
}

Result<int> Twice(Result<int> in) {
  ADDFDLAB_TRY(in);
  return *in * 2;
}

TEST(Result, TryPropagates) {
  EXPECT_EQ(*Twice(4), 8);
  EXPECT_EQ(Twice(Errno(EBUSY)).error(), Errno(EBUSY));
}

TEST(UniqueFd, ClosesOnceAndMoves) {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  {
    UniqueFd a(raw);
    UniqueFd b = std::move(a);
    EXPECT_FALSE(a.valid());
    EXPECT_EQ(b.get(), raw);
    EXPECT_GE(::fcntl(raw, F_GETFD), 0);
  }
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST(RemoteFd, ComparesByNumber) {
  EXPECT_EQ(RemoteFd{3}, RemoteFd{3});
  EXPECT_LT(RemoteFd{2}, RemoteFd{3});
}

}  // namespace
}  // namespace addfdlab
