// Errno, Error, Result<T>, UniqueFd and RemoteFd; the leader's exit codes in words.
#include "addfdlab/result.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "addfdlab/agent_protocol.h"
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

TEST(Error, AnErrnoAloneSaysItsNameAndText) {
  const Error error = Errno(ENOENT);
  EXPECT_EQ(error.code(), Errno(ENOENT));
  EXPECT_EQ(error, Errno(ENOENT));
  EXPECT_FALSE(error == Errno(EBADF));
  EXPECT_EQ(error.value(), ENOENT);
  EXPECT_EQ(error.Name(), "ENOENT");
  EXPECT_EQ(error.message(), "");
  EXPECT_EQ(error.ToString(), "ENOENT: No such file or directory");
}

TEST(Error, AMessageComesFirstAndTheErrnoAfter) {
  const Error error(Errno(ETIMEDOUT), "no hello from the leader");
  EXPECT_EQ(error, Errno(ETIMEDOUT));
  EXPECT_EQ(error.message(), "no hello from the leader");
  EXPECT_EQ(error.ToString(), "no hello from the leader (ETIMEDOUT: Connection timed out)");
  const Error invalid = Error::Invalid("op 1 (trap): task 3 out of range 1..2");
  EXPECT_EQ(invalid, Errno(EINVAL));
  EXPECT_EQ(invalid.message(), "op 1 (trap): task 3 out of range 1..2");
}

TEST(Error, ContextIsPrefixedAndKeepsTheCode) {
  const Error bare = Errno(EPIPE);
  EXPECT_EQ(bare.WithContext("cannot fork the leader").message(), "cannot fork the leader");
  const Error inner(Errno(EINVAL), "unknown cell \"X\"");
  const Error outer = inner.WithContext("known.json: deviations[0]");
  EXPECT_EQ(outer, Errno(EINVAL));
  EXPECT_EQ(outer.message(), "known.json: deviations[0]: unknown cell \"X\"");
  EXPECT_EQ(inner.message(), "unknown cell \"X\"");  // a const& WithContext copies
}

Result<int> Checked(int value) {
  if (value < 0) return Error::Invalid("negative: " + std::to_string(value));
  return value;
}

Result<int> Doubled(int value) {
  ADDFDLAB_TRY_CONTEXT(Checked(value), "doubling");
  return value * 2;
}

Result<void> Passed(int value) {
  ADDFDLAB_TRY(Checked(value));
  return {};
}

TEST(Result, CarriesTheMessageThroughTry) {
  EXPECT_EQ(*Doubled(4), 8);
  const Result<int> bad = Doubled(-1);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), Errno(EINVAL));
  EXPECT_EQ(bad.error().message(), "doubling: negative: -1");
  EXPECT_TRUE(Passed(1));
  const Result<void> failed = Passed(-2);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message(), "negative: -2");
  Result<void> moved = Error(Errno(EIO), "read");
  EXPECT_EQ(std::move(moved).error().ToString(), "read (EIO: Input/output error)");
}

TEST(LeaderExit, EveryCodeHasWords) {
  EXPECT_EQ(agent::DescribeLeaderExit(static_cast<int>(agent::LeaderExit::kTableLayout)),
            "exit code 2: its fd table could not be laid out");
  for (const agent::LeaderExit code :
       {agent::LeaderExit::kParentGone, agent::LeaderExit::kTableLayout,
        agent::LeaderExit::kCloneFailed, agent::LeaderExit::kHelloFailed}) {
    const std::string text = agent::DescribeLeaderExit(static_cast<int>(code));
    EXPECT_EQ(text.find("not an exit code"), std::string::npos) << text;
  }
  EXPECT_EQ(agent::DescribeLeaderExit(9), "exit code 9: not an exit code the agent uses");
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
