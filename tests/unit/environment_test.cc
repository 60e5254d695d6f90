// The environment is read in one place, and the CPU is chosen in one place.
#include "addfdlab/environment.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "addfdlab/executor.h"
#include "addfdlab/limits.h"
#include "addfdlab/scenario_mutator.h"
#include "addfdlab/supervisor.h"

namespace addfdlab {
namespace {

// Sets a variable for one test and puts the old value back.
class ScopedVariable {
 public:
  ScopedVariable(const char* name, const char* value) : name_(name) {
    if (const char* old = ::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedVariable() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(Environment, FlagsAreOnUnlessEmptyOrZero) {
  {
    ScopedVariable off("ADDFDLAB_NO_SPAWNER", "0");
    EXPECT_FALSE(ReadEnvironment().no_spawner);
  }
  {
    ScopedVariable empty("ADDFDLAB_NO_SPAWNER", "");
    EXPECT_FALSE(ReadEnvironment().no_spawner);
  }
  {
    ScopedVariable on("ADDFDLAB_NO_SPAWNER", "yes");
    EXPECT_TRUE(ReadEnvironment().no_spawner);
  }
  ScopedVariable unset("ADDFDLAB_NO_SPAWNER", nullptr);
  EXPECT_FALSE(ReadEnvironment().no_spawner);
}

TEST(Environment, MutateCellPlantsABugInTheExecutorsModel) {
  ScopedVariable planted("ADDFDLAB_MUTATE_CELL", "ADDFD.OK.LOWEST");
  EXPECT_EQ(ReadEnvironment().mutate_cell, "ADDFD.OK.LOWEST");
  EXPECT_EQ(ExecutorOptions().mutate_cell, "ADDFD.OK.LOWEST");
  ScopedVariable unset("ADDFDLAB_MUTATE_CELL", nullptr);
  EXPECT_EQ(ExecutorOptions().mutate_cell, "");
}

TEST(Environment, SchedNamesTheStrongestModeAllowed) {
  {
    ScopedVariable idle("ADDFDLAB_SCHED", "idle");
    EXPECT_EQ(ReadEnvironment().sched, SchedMode::kIdle);
  }
  {
    ScopedVariable free("ADDFDLAB_SCHED", "free");
    EXPECT_EQ(ReadEnvironment().sched, SchedMode::kFree);
  }
  {
    ScopedVariable other("ADDFDLAB_SCHED", "realtime");
    EXPECT_EQ(ReadEnvironment().sched, SchedMode::kFifo);
  }
  ScopedVariable unset("ADDFDLAB_SCHED", nullptr);
  EXPECT_EQ(ReadEnvironment().sched, SchedMode::kFifo);
}

TEST(Environment, NoMutatorTurnsTheStructureOff) {
  {
    ScopedVariable on("ADDFDLAB_NO_MUTATOR", "1");
    EXPECT_TRUE(ReadEnvironment().no_mutator);
    EXPECT_FALSE(MutatorOptions::FromEnvironment().structure);
  }
  ScopedVariable unset("ADDFDLAB_NO_MUTATOR", nullptr);
  EXPECT_TRUE(MutatorOptions::FromEnvironment().structure);
}

TEST(Environment, NumbersThatAreNotNumbersKeepTheDefaults) {
  ScopedVariable scale("ADDFDLAB_TIME_SCALE", "-3");
  ScopedVariable cpu("ADDFDLAB_CPU", "1x");
  const Environment env = ReadEnvironment();
  EXPECT_EQ(env.time_scale, 1.0);
  EXPECT_EQ(env.cpu, -1);
  ScopedVariable scale10("ADDFDLAB_TIME_SCALE", "10");
  EXPECT_EQ(Limits::FromEnvironment().scale, 10.0);
}

TEST(ChooseCpu, AskedThenVariableThenAnAllowedOne) {
  const std::vector<int> allowed = AllowedCpus();
  ASSERT_FALSE(allowed.empty());
  EXPECT_EQ(ChooseCpu(7), 7);
  {
    ScopedVariable cpu("ADDFDLAB_CPU", std::to_string(allowed.back()).c_str());
    EXPECT_EQ(ChooseCpu(-1), allowed.back());
  }
  {
    // A CPU this process may not use maps onto one it may.
    ScopedVariable cpu("ADDFDLAB_CPU", "100000");
    EXPECT_NE(std::find(allowed.begin(), allowed.end(), ChooseCpu(-1)), allowed.end());
  }
  ScopedVariable unset("ADDFDLAB_CPU", nullptr);
  const int chosen = ChooseCpu(-1);
  EXPECT_NE(std::find(allowed.begin(), allowed.end(), chosen), allowed.end());
  EXPECT_EQ(ChooseCpu(-1), chosen) << "the choice is stable within a process";
}

}  // namespace
}  // namespace addfdlab
