// Kernel fault injection's guards, without a debug kernel: fs.nr_open is never written
// outside an addfdlab VM guest, whatever the environment says.
#include "addfdlab/kernel_inject.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace addfdlab {
namespace {

std::string NrOpen() {
  std::ifstream in("/proc/sys/fs/nr_open");
  std::string text;
  std::getline(in, text);
  return text;
}

// The flag alone is not enough: the initramfs's /vm/guest-exit must be there too. (The probe
// only opens fs.nr_open; KernelInjection::Arm is not tried here, so that a broken guard
// could not lower the host's fs.nr_open even for a moment.)
TEST(KernelInject, NrOpenIsNeverOfferedOutsideAGuest) {
  if (::access("/vm/guest-exit", F_OK) == 0) GTEST_SKIP() << "running in an addfdlab guest";
  const std::string before = NrOpen();
  ASSERT_EQ(::setenv("ADDFDLAB_VM_GUEST", "1", 1), 0);
  Features features;
  ProbeKernelInjection(features);
  EXPECT_FALSE(features.has(Feature::kInjectNrOpen));
  EXPECT_NE(features.get(Feature::kInjectNrOpen).evidence.find("not an addfdlab VM guest"),
            std::string::npos);
  ASSERT_EQ(::unsetenv("ADDFDLAB_VM_GUEST"), 0);
  EXPECT_EQ(NrOpen(), before);
}

TEST(KernelInject, NoneArmsNothing) {
  Result<KernelInjection> armed = KernelInjection::Arm(InjectKind::kNone, ::gettid(), 0);
  EXPECT_TRUE(armed.has_value());
}

TEST(KernelInject, InjectedNrOpenStaysWithinTheSysctlBounds) {
  EXPECT_EQ(InjectedNrOpen(0), 64u);
  EXPECT_EQ(InjectedNrOpen(4000), 4000u);
  EXPECT_EQ(InjectedNrOpen(0xffffffffu), 0x7fffffc0u);
}

}  // namespace
}  // namespace addfdlab
