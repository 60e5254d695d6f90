// The stress mode's oracle on this kernel: a short run's counts add up (one notification per
// attempt, one accepted reply or a known deviation per attempt, no fd left, no leak in the
// supervisor), and a planted accounting bug is caught.
#include "addfdlab/stress.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "addfdlab/known_deviations.h"
#include "addfdlab/probe.h"

namespace addfdlab {
namespace {

const Features& TheFeatures() {
  static const Features features = ProbeFeatures();
  return features;
}

StressOptions ShortRun() {
  StressOptions options;
  options.rounds = 300;
  options.tasks = 2;
  options.threads = 2;
  options.signal_period_us = 200;
  options.seed = 7;
  auto known = LoadKnownDeviations(std::string(ADDFDLAB_SOURCE_DIR) +
                                   "/corpus/contract/known-deviations.json");
  EXPECT_TRUE(known.has_value());
  if (known) options.known = *known;
  return options;
}

std::string Describe(const StressReport& report) {
  std::string text;
  for (const StressFinding& f : report.findings) {
    text += f.Signature() + " x" + std::to_string(f.count) + " (" +
            (f.known.empty() ? "new" : f.known) + "): " + f.example + "\n";
  }
  return text + report.hang_dump;
}

uint64_t CountOf(const StressReport& report, const std::string& kind) {
  uint64_t n = 0;
  for (const StressFinding& f : report.findings) {
    if (f.kind == kind && f.known.empty()) n += f.count;
  }
  return n;
}

class StressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!TheFeatures().has(Feature::kAddFd)) GTEST_SKIP() << "no ADDFD on this kernel";
  }
};

// Every attempt is notified once and answered once (or its failure is a known deviation of
// this kernel), nothing is left in the target, and the supervisor is as it was.
TEST_F(StressTest, ShortRunCountsAddUp) {
  for (StressRace race : {StressRace::kFastReply, StressRace::kLockEintr, StressRace::kAll}) {
    StressOptions options = ShortRun();
    options.race = race;
    auto report = RunStress(options, TheFeatures());
    ASSERT_TRUE(report.has_value()) << report.error().ToString();
    SCOPED_TRACE(std::string(StressRaceName(race)) + "\n" + Describe(*report));
    EXPECT_FALSE(report->hung);
    EXPECT_EQ(report->counts.attempts, 300u);
    EXPECT_EQ(report->counts.notifications, report->counts.attempts);
    EXPECT_EQ(report->counts.leaked_fds, 0u);
    EXPECT_EQ(report->hygiene, "");
    uint64_t known = 0;
    for (const StressFinding& f : report->findings) {
      if (f.kind != "contract" && !f.known.empty()) known += f.count;
    }
    // Each attempt: an accepted reply, or a return a known kernel bug explains.
    EXPECT_EQ(report->counts.replies_ok + known, report->counts.attempts);
    EXPECT_EQ(report->counts.replies_ok, report->counts.send_ok + report->counts.addfd_send_ok +
                                             report->counts.addfd_then_send_ok);
    EXPECT_TRUE(report->ok());
    for (const StressCellRow& row : report->rows) {
      EXPECT_NE(row.status, StressCellRow::Status::kDeviates) << row.cell << ": " << row.reason;
    }
  }
}

// The planted bugs (ADDFDLAB_STRESS_PLANT): the oracle must catch each, with its count.
TEST_F(StressTest, PlantedValueBugIsCaught) {
  ASSERT_EQ(::setenv("ADDFDLAB_STRESS_PLANT", "value", 1), 0);
  StressOptions options = ShortRun();
  options.plant = StressPlantFromEnvironment();
  ::unsetenv("ADDFDLAB_STRESS_PLANT");
  ASSERT_EQ(options.plant, StressPlant::kValue);
  auto report = RunStress(options, TheFeatures());
  ASSERT_TRUE(report.has_value()) << report.error().ToString();
  SCOPED_TRACE(Describe(*report));
  EXPECT_FALSE(report->ok());
  // Every 50th accepted reply is recorded wrong: each is one wrong-value round.
  EXPECT_EQ(CountOf(*report, "wrong-value"), report->counts.replies_ok / 50);
  EXPECT_GE(CountOf(*report, "wrong-value"), 1u);
}

TEST_F(StressTest, PlantedLeakIsCaught) {
  StressOptions options = ShortRun();
  options.plant = StressPlant::kLeak;
  auto report = RunStress(options, TheFeatures());
  ASSERT_TRUE(report.has_value()) << report.error().ToString();
  SCOPED_TRACE(Describe(*report));
  EXPECT_FALSE(report->ok());
  // Attempts 3, 67 and 131 of each task, at most 4 in all.
  EXPECT_EQ(CountOf(*report, "leaked-fd"), 4u);
  EXPECT_EQ(report->counts.leaked_fds, 4u);
}

}  // namespace
}  // namespace addfdlab
