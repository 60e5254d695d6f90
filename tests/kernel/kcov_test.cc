// ExecutorOptions::kcov on any kernel: without KCOV nothing changes and no PC is
// collected; with it (the debug kernel's guest) an ADDFD run reaches seccomp_notify_addfd
// and receive_fd, the same PCs twice, and the targets' tables stay as the model says.
#include "addfdlab/kcov.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "addfdlab/executor.h"
#include "addfdlab/scenario_text.h"

namespace addfdlab {
namespace {

Scenario LoadContract(const std::string& name) {
  std::ifstream in(std::string(ADDFDLAB_SOURCE_DIR) + "/corpus/contract/" + name);
  std::stringstream text;
  text << in.rdbuf();
  ParseError error;
  auto scenario = ParseScenario(text.str(), name, &error);
  EXPECT_TRUE(scenario) << error.ToString();
  return scenario ? *scenario : Scenario{};
}

TEST(Kcov, ExecutorCollectsOnlyWhereKcovIs) {
  ExecutorOptions options;
  options.kcov = true;
  Executor executor(options);
  const Scenario scenario = LoadContract("addfd_ok_lowest.scn");
  const RunResult first = executor.Run(scenario);
  EXPECT_TRUE(first.clean()) << first.Format(scenario);
  if (!KcovAvailable()) {
    EXPECT_EQ(executor.kcov_filter(), nullptr);
    EXPECT_NE(executor.kcov_status(), "on");
    EXPECT_TRUE(first.kernel_pcs.empty());
    return;
  }
  ASSERT_NE(executor.kcov_filter(), nullptr) << executor.kcov_status();
  std::set<std::string> functions;
  for (uint64_t pc : first.kernel_pcs) {
    auto where = executor.kcov_filter()->Describe(pc);
    ASSERT_TRUE(where);
    functions.insert(where->function.substr(0, where->function.find('.')));
  }
  EXPECT_TRUE(functions.count("seccomp_notify_addfd")) << first.kernel_pcs.size();
  EXPECT_TRUE(functions.count("receive_fd")) << first.kernel_pcs.size();
  const RunResult second = executor.Run(scenario);
  EXPECT_TRUE(second.clean()) << second.Format(scenario);
  EXPECT_EQ(second.kernel_pcs, first.kernel_pcs);
}

}  // namespace
}  // namespace addfdlab
