// addfdlab probe on the running kernel: features answer consistently.
#include "addfdlab/probe.h"

#include <gtest/gtest.h>

namespace addfdlab {
namespace {

TEST(Probe, EveryFeatureHasEvidence) {
  const Features features = ProbeFeatures();
  EXPECT_FALSE(features.release.empty());
  for (size_t i = 0; i < kFeatureCount; ++i) {
    EXPECT_FALSE(features.probes[i].evidence.empty()) << FeatureName(static_cast<Feature>(i));
  }
}

TEST(Probe, FeaturesImplyTheirPrerequisites) {
  const Features f = ProbeFeatures();
  if (!f.has(Feature::kUserNotification)) GTEST_SKIP() << "no user notification here";
  if (f.has(Feature::kSend) || f.has(Feature::kSetFd)) {
    EXPECT_TRUE(f.has(Feature::kAddFd));
  }
  if (f.has(Feature::kRecvEnoent)) {
    EXPECT_TRUE(f.has(Feature::kWaitKillableRecv));
  }
  if (f.has(Feature::kSyncWakeUp)) {
    EXPECT_TRUE(f.has(Feature::kSend));
  }
}

}  // namespace
}  // namespace addfdlab
