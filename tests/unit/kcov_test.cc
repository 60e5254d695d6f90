// KCOV's pure parts: kallsyms parsing, the PC filter, function+offset text.
#include "addfdlab/kcov.h"

#include <gtest/gtest.h>

#include <sstream>

namespace addfdlab {
namespace {

constexpr const char* kKallsyms =
    "ffffffff8127a39b t seccomp_notify_release\n"
    "ffffffff8127a3f3 t seccomp_do_user_notification.constprop.0\n"
    "ffffffff8127b84b t find_notification\n"
    "ffffffff8127b9b6 t seccomp_notify_addfd\n"
    "ffffffff8127b9b6 t seccomp_notify_addfd_alias_not_listed\n"
    "ffffffff8127bed9 t seccomp_notify_poll\n"
    "ffffffff8127bf00 d seccomp_data_symbol\n"
    "ffffffff8127c000 T unrelated_function\n"
    "not a line\n"
    "ffffffff814c0bee T receive_fd\n"
    "ffffffff814c1f41 T replace_fd [some_module]\n"
    "ffffffff814c2000 T after_replace_fd\n";

TEST(Kcov, KallsymsRangesEndAtTheNextTextSymbol) {
  std::istringstream in(kKallsyms);
  const std::vector<KernelRange> ranges = ParseKallsyms(in);
  ASSERT_EQ(ranges.size(), 7u);
  EXPECT_EQ(ranges[0].name, "seccomp_notify_release");
  EXPECT_EQ(ranges[1].name, "seccomp_do_user_notification.constprop.0");
  EXPECT_EQ(ranges[1].start, 0xffffffff8127a3f3u);
  EXPECT_EQ(ranges[1].end, 0xffffffff8127b84bu);
  // An alias at the same address does not end a function; a data symbol is not text.
  EXPECT_EQ(ranges[3].name, "seccomp_notify_addfd");
  EXPECT_EQ(ranges[3].end, 0xffffffff8127bed9u);
  EXPECT_EQ(ranges[4].name, "seccomp_notify_poll");
  EXPECT_EQ(ranges[4].end, 0xffffffff8127c000u);
  EXPECT_EQ(ranges[6].name, "replace_fd");
  EXPECT_EQ(ranges[6].end, 0xffffffff814c2000u);
}

TEST(Kcov, HiddenAddressesGiveNothing) {
  std::istringstream in("0000000000000000 t seccomp_notify_addfd\n0000000000000000 t alloc_fd\n");
  EXPECT_TRUE(ParseKallsyms(in).empty());
}

TEST(Kcov, FunctionsByNameWithoutCloneSuffix) {
  ASSERT_NE(FindKcovFunction("seccomp_do_user_notification.constprop.0"), nullptr);
  EXPECT_EQ(FindKcovFunction("expand_files.isra.0")->file, "fs/file.c");
  EXPECT_EQ(FindKcovFunction("seccomp_notify_addfd")->file, "kernel/seccomp.c");
  EXPECT_EQ(FindKcovFunction("seccomp_filter_release"), nullptr);
  EXPECT_EQ(FindKcovFunction("alloc_fd_x"), nullptr);
}

TEST(Kcov, FilterKeepsPcsInsideTheRangesOnce) {
  std::istringstream in(kKallsyms);
  const KcovFilter filter(ParseKallsyms(in));
  const std::vector<uint64_t> pcs = {
      0xffffffff8127b9c0,  // seccomp_notify_addfd+0xa
      0xffffffff8127b9c0,  // again
      0xffffffff8127bed8,  // its last byte
      0xffffffff8127c010,  // unrelated_function
      0xffffffff81000000,  // below every range
      0xffffffff8127bf10,  // seccomp_notify_poll: ends at the next text symbol, past data
      0xffffffff814c2000,  // after_replace_fd: the end is exclusive
  };
  const std::set<uint64_t> kept = filter.Keep(pcs);
  EXPECT_EQ(kept, (std::set<uint64_t>{0xffffffff8127b9c0, 0xffffffff8127bed8, 0xffffffff8127bf10}));
  ASSERT_TRUE(filter.Describe(0xffffffff8127b9c0));
  EXPECT_EQ(filter.Describe(0xffffffff8127b9c0)->ToString(), "seccomp_notify_addfd+0xa");
  EXPECT_FALSE(filter.Describe(0xffffffff8127c010));
}

TEST(Kcov, KernelPcTextRoundTrips) {
  const KernelPc pc{"seccomp_do_user_notification.constprop.0", 0x1a4};
  EXPECT_EQ(pc.ToString(), "seccomp_do_user_notification.constprop.0+0x1a4");
  EXPECT_EQ(KernelPc::Parse(pc.ToString()), pc);
  EXPECT_FALSE(KernelPc::Parse("alloc_fd"));
  EXPECT_FALSE(KernelPc::Parse("+0x10"));
  EXPECT_FALSE(KernelPc::Parse("alloc_fd+0x"));
  EXPECT_FALSE(KernelPc::Parse("alloc_fd+0x1g"));
}

TEST(Kcov, AbsentKcovIsFeatureOff) {
  // Whatever this kernel has, the probe answers and says why.
  std::string evidence;
  const bool available = KcovAvailable(&evidence);
  EXPECT_NE(evidence.find(kKcovPath), std::string::npos) << evidence;
  if (!available) {
    EXPECT_FALSE(KcovArea::Open());
  }
}

}  // namespace
}  // namespace addfdlab
