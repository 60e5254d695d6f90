// The NotifierApi seam: scripted errors without a kernel.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "addfdlab/notifier.h"

namespace addfdlab {
namespace {

using ::testing::_;
using ::testing::Return;

class MockNotifier : public NotifierApi {
 public:
  MOCK_METHOD(Result<void>, Recv, (int, seccomp_notif*), (override));
  MOCK_METHOD(Result<void>, Send, (int, const seccomp_notif_resp&), (override));
  MOCK_METHOD(Result<void>, IdValid, (int, uint64_t), (override));
  MOCK_METHOD(Result<RemoteFd>, AddFd, (int, const seccomp_notif_addfd&), (override));
  MOCK_METHOD(Result<void>, SetFlags, (int, uint64_t), (override));
  MOCK_METHOD(Result<UniqueFd>, PidfdGetfd, (int, RemoteFd), (override));
  MOCK_METHOD(Result<UniqueFd>, Dup, (int), (override));
};

TEST(FailNthNotifier, FailsExactlyTheNthCallOfItsKind) {
  MockNotifier inner;
  EXPECT_CALL(inner, AddFd(_, _)).Times(3).WillRepeatedly(Return(Result<RemoteFd>(RemoteFd{4})));
  EXPECT_CALL(inner, Send(_, _)).Times(1).WillRepeatedly(Return(Result<void>()));
  FailNthNotifier seam(inner);
  seam.FailNth(NotifierCall::kAddFd, 2, Errno(EINTR));
  seccomp_notif_addfd req{};
  EXPECT_TRUE(seam.AddFd(3, req));
  auto second = seam.AddFd(3, req);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), Errno(EINTR));
  EXPECT_TRUE(seam.AddFd(3, req));
  EXPECT_TRUE(seam.AddFd(3, req));
  EXPECT_TRUE(seam.Send(3, seccomp_notif_resp{}));
  EXPECT_EQ(seam.calls(NotifierCall::kAddFd), 4);
  EXPECT_EQ(seam.calls(NotifierCall::kSend), 1);
  EXPECT_EQ(seam.fired(), 1);
}

TEST(FailNthNotifier, CountsFromThePlanOnward) {
  MockNotifier inner;
  EXPECT_CALL(inner, Dup(_)).WillRepeatedly([](int) { return Result<UniqueFd>(UniqueFd()); });
  FailNthNotifier seam(inner);
  EXPECT_TRUE(seam.Dup(0));
  EXPECT_TRUE(seam.Dup(0));
  seam.FailNth(NotifierCall::kDup, 1, Errno(EMFILE));
  auto failed = seam.Dup(0);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error(), Errno(EMFILE));
  EXPECT_TRUE(seam.Dup(0));
}

TEST(FailNthNotifier, SeveralPlansOnOneCall) {
  MockNotifier inner;
  EXPECT_CALL(inner, PidfdGetfd(_, _)).Times(1).WillOnce([](int, RemoteFd) {
    return Result<UniqueFd>(UniqueFd());
  });
  FailNthNotifier seam(inner);
  seam.FailNth(NotifierCall::kPidfdGetfd, 1, Errno(EPERM));
  seam.FailNth(NotifierCall::kPidfdGetfd, 3, Errno(ESRCH));
  EXPECT_EQ(seam.PidfdGetfd(5, RemoteFd{1}).error(), Errno(EPERM));
  EXPECT_TRUE(seam.PidfdGetfd(5, RemoteFd{1}));
  EXPECT_EQ(seam.PidfdGetfd(5, RemoteFd{1}).error(), Errno(ESRCH));
  EXPECT_EQ(seam.fired(), 2);
}

TEST(NotifierCallName, NamesEveryCall) {
  for (size_t i = 0; i < kNotifierCallCount; ++i) {
    EXPECT_STRNE(NotifierCallName(static_cast<NotifierCall>(i)), "?");
  }
}

}  // namespace
}  // namespace addfdlab
