// Shared pieces of the kernel-labelled tests.
#ifndef ADDFDLAB_TESTS_KERNEL_KERNEL_FIXTURE_H_
#define ADDFDLAB_TESTS_KERNEL_KERNEL_FIXTURE_H_

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include "addfdlab/fd_table.h"
#include "addfdlab/target.h"

namespace addfdlab {

class KernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto target = Target::Spawn(TargetConfig{});
    ASSERT_TRUE(target) << target.error().Name();
    target_ = std::move(*target);
    ASSERT_GE(target_->listener(), 0) << "filter: " << ErrnoName(target_->filter_errno());
  }

  // Caller task 1 makes the trapped syscall; returns the received notification.
  seccomp_notif Trap(int task = 1) {
    EXPECT_TRUE(target_->Start(task, MakeRequest(agent::Command::kTrap, {1, 2, 3})));
    auto notif = RecvNotification(target_->listener(), Limits{}.Deadline(Millis(2000)));
    EXPECT_TRUE(notif) << notif.error().Name();
    return notif ? *notif : seccomp_notif{};
  }

  // The trapped syscall's result, once the target returned.
  agent::Reply Returned(int task = 1) {
    auto reply = target_->Finish(task, Limits{}.Deadline(Millis(2000)));
    EXPECT_TRUE(reply) << reply.error().Name();
    return reply ? *reply : agent::Reply{};
  }

  bool SameAs(RemoteFd remote, int local) {
    auto same = SameFile(target_->pid(), remote.number, ::getpid(), local);
    return same && *same;
  }

  static UniqueFd Memfd() { return UniqueFd(::memfd_create("test", MFD_CLOEXEC)); }

  std::unique_ptr<Target> target_;
};

}  // namespace addfdlab

#endif  // ADDFDLAB_TESTS_KERNEL_KERNEL_FIXTURE_H_
