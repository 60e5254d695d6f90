// The run profile's one-line form reads back, and phases nest.
#include "addfdlab/run_profile.h"

#include <gtest/gtest.h>

namespace addfdlab {
namespace {

TEST(RunProfile, LineReadsBack) {
  RunProfile profile;
  profile.runs = 3;
  profile.attempts = 4;
  profile.ops = 20;
  profile.notifier_ioctls = 7;
  profile.faults = 2;
  profile.fault_errors = 1;
  for (int i = 0; i < kPhaseCount; ++i)
    profile.ns[static_cast<size_t>(i)] = 1000u * static_cast<uint64_t>(i + 1);
  const auto back = RunProfile::ParseLine(profile.Line());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->Line(), profile.Line());
  RunProfile sum = *back;
  sum.Add(profile);
  EXPECT_EQ(sum.runs, 6u);
  EXPECT_EQ(sum.faults, 4u);
  EXPECT_EQ(sum.fault_errors, 2u);
  EXPECT_NE(sum.Format().find("kernel faults injected: 4 ioctls armed one, 2 of them"),
            std::string::npos);
  EXPECT_EQ(RunProfile{}.Format().find("kernel faults"), std::string::npos);
  EXPECT_EQ(sum.total_ns(), 2 * profile.total_ns());
  EXPECT_FALSE(RunProfile::ParseLine("addfdlab harness hygiene: 17 fds").has_value());
  EXPECT_FALSE(RunProfile::ParseLine("runs=x").has_value());
}

TEST(RunProfile, InnerPhaseIsChargedAlone) {
  RunProfile profile;
  PhaseClock clock(&profile);
  {
    PhaseScope outer(&clock, Phase::kRelease);
    PhaseScope inner(&clock, Phase::kQuiesce);
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2);
    while (std::chrono::steady_clock::now() < until) {
    }
  }
  clock.Stop();
  EXPECT_GE(profile.ns[static_cast<size_t>(Phase::kQuiesce)], 2'000'000u);
  EXPECT_LT(profile.ns[static_cast<size_t>(Phase::kRelease)],
            profile.ns[static_cast<size_t>(Phase::kQuiesce)]);
}

}  // namespace
}  // namespace addfdlab
