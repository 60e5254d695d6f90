// The oracles are not blind: a model made wrong on one cell makes the kernel run report a
// deviation on exactly that cell, and a target changed behind the model's back makes the
// fd-table oracle report that fd. And the executor's own bookkeeping stays clean.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>

#include "addfdlab/executor.h"
#include "addfdlab/scenario_text.h"
#include "addfdlab/target.h"
#include "addfdlab/unique_fd.h"

namespace addfdlab {
namespace {

const std::string kContractDir = ADDFDLAB_SOURCE_DIR "/corpus/contract";

std::optional<Scenario> LoadCell(const std::string& cell) {
  for (const auto& entry : std::filesystem::directory_iterator(kContractDir)) {
    if (entry.path().extension() != ".scn") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    ParseError error;
    auto scenario = ParseScenario(text.str(), entry.path().string(), &error);
    if (!scenario) continue;
    for (const std::string& c : scenario->cells) {
      if (c == cell) return scenario;
    }
  }
  return std::nullopt;
}

Executor& Shared() {
  static Executor executor;
  return executor;
}

// A run that kept to the model's schedule: one in which a target ran out of turn in every
// attempt (RunResult::deterministic false, rare outside the free mode) says nothing, and
// the scenario runs again, up to five times.
RunResult RunToSchedule(Executor& executor, const Scenario& scenario) {
  RunResult result;
  for (int run = 0; run < 5; ++run) {
    result = executor.Run(scenario);
    if (result.deterministic) break;
  }
  EXPECT_TRUE(result.deterministic)
      << "five runs broke their schedule (" << DescribeScheduling(executor.scheduling()) << ")";
  return result;
}

class MutatedModel : public ::testing::TestWithParam<std::string> {};

// A cell's name as a test name: ADDFD.SIZE.SHORT -> ADDFD_SIZE_SHORT.
std::string CellTestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& c : name) {
    if (c == '.') c = '_';
  }
  return name;
}

// Runs the scenario that carries `cell`: clean with the honest model, caught with the model
// made wrong there (ExecutorOptions::mutate_cell), by contract verdicts only, each on `cell`
// itself when `on_that_cell`.
void ExpectPlantedBugCaught(const std::string& cell, bool on_that_cell) {
  auto scenario = LoadCell(cell);
  ASSERT_TRUE(scenario) << "no scenario carries " << cell;
  const RunResult honest = RunToSchedule(Shared(), *scenario);
  ASSERT_TRUE(honest.clean()) << honest.Format(*scenario);
  ExecutorOptions options;
  options.features = Shared().features();
  options.mutate_cell = cell;
  Executor mutated(options);
  const RunResult result = RunToSchedule(mutated, *scenario);
  ASSERT_FALSE(result.clean()) << cell << ": the oracle did not notice\n"
                               << result.Format(*scenario);
  for (const Verdict& v : result.verdicts) {
    EXPECT_EQ(v.kind, Verdict::Kind::kContract) << v.Describe(*scenario);
    if (on_that_cell) {
      EXPECT_EQ(v.cell, cell) << v.Describe(*scenario);
    }
  }
}

// A wrong prediction of a cell's outcome is caught on that cell and nowhere else.
TEST_P(MutatedModel, DeviationNamesExactlyThatCell) { ExpectPlantedBugCaught(GetParam(), true); }

// A mechanism's mutant (SetModelMutant) breaks a rule that other cells' outcomes show: the
// oracle catches it on its own scenario, under whichever cell decides the outcome.
class MechanismMutant : public ::testing::TestWithParam<std::string> {};

TEST_P(MechanismMutant, TheCellsScenarioDeviates) { ExpectPlantedBugCaught(GetParam(), false); }

INSTANTIATE_TEST_SUITE_P(Cells, MechanismMutant,
                         ::testing::Values("ADDFD.ORDER.LIFO", "ADDFD.ORDER.CHECKS"), CellTestName);

INSTANTIATE_TEST_SUITE_P(
    Cells, MutatedModel,
    ::testing::Values("ADDFD.SIZE.SHORT", "ADDFD.SIZE.PAGE", "ADDFD.SIZE.TAIL_NONZERO",
                      "ADDFD.FAULT", "ADDFD.NEWFD_FLAGS", "ADDFD.FLAGS.UNKNOWN",
                      "ADDFD.NEWFD_WITHOUT_SETFD", "ADDFD.SRCFD.BAD", "ADDFD.ID.UNKNOWN",
                      "ADDFD.STATE.INIT", "ADDFD.STATE.REPLIED", "ADDFD.SEND.BUSY", "ADDFD.RLIMIT",
                      "ADDFD.SETFD.RLIMIT", "ADDFD.SETFD.RESERVED", "ADDFD.STRANDED",
                      "ADDFD.INTR.QUEUED", "RECV.NONZERO", "RECV.FAULT", "SEND.STATE.INIT",
                      "SEND.CONTINUE.VAL", "SEND.FLAGS.UNKNOWN", "ID_VALID.STATES", "FILTER.FLAGS",
                      "IOCTL.UNKNOWN"),
    CellTestName);

// The fd-table oracle against a live target changed behind the model's back: the test
// has the target's agent open, close or dup an fd between two ops (Executor::after_op),
// and the next settle reports that fd, with the kind the change calls for.
class FdTableOracle : public ::testing::Test {
 protected:
  // Runs `text`; after op `at` (a 0-based index) calls `behind_the_back` on the target.
  RunResult RunChanged(const std::string& text, int at,
                       const std::function<void(Target&)>& behind_the_back) {
    ParseError error;
    auto parsed = ParseScenario(text, "behind_the_back.scn", &error);
    EXPECT_TRUE(parsed) << error.ToString();
    if (!parsed) return RunResult{};
    scenario_ = *parsed;
    ExecutorOptions options;
    options.features = Shared().features();
    Executor executor(options);
    // The same scenario runs clean when nothing is done behind its back.
    const RunResult honest = RunToSchedule(executor, scenario_);
    EXPECT_TRUE(honest.clean()) << honest.Format(scenario_);
    int calls = 0;
    executor.after_op = [&](int op, const std::vector<Target*>& targets) {
      ++calls;
      if (op != at) return;
      EXPECT_EQ(targets.size(), 1u);
      behind_the_back(*targets[0]);
    };
    RunResult result = RunToSchedule(executor, scenario_);
    EXPECT_GT(calls, at);
    return result;
  }

  // The agent's answer to a command on the leader; -1 when it failed.
  static int64_t Agent(Target& target, agent::Command command,
                       std::initializer_list<int64_t> args) {
    auto reply = target.Call(0, MakeRequest(command, args));
    EXPECT_TRUE(reply) << reply.error().Name();
    if (!reply) return -1;
    EXPECT_EQ(reply->err, 0) << ErrnoName(reply->err);
    return reply->err == 0 ? reply->ret : -1;
  }

  // The run's one verdict as "KIND fd N op M: EXPECTED | OBSERVED" (observed cut to
  // `observed_chars` when positive: descriptions end in inode numbers).
  std::string OnlyVerdict(const RunResult& result, size_t observed_chars = 0) {
    EXPECT_EQ(result.verdicts.size(), 1u) << result.Format(scenario_);
    if (result.verdicts.empty()) return "no verdict";
    const Verdict& v = result.verdicts[0];
    const std::string observed =
        observed_chars > 0 ? v.observed.substr(0, observed_chars) : v.observed;
    return std::string(VerdictKindName(v.kind)) + " fd " + std::to_string(v.fd) + " op " +
           std::to_string(v.op) + ": " + v.expected + " | " + observed;
  }

  Scenario scenario_;
};

TEST_F(FdTableOracle, ReportsAnFdOpenedBehindTheModelsBack) {
  int64_t planted = -1;
  const RunResult result = RunChanged("target t\nopen t devnull -> f\nsettle\n", 1, [&](Target& t) {
    planted = Agent(t, agent::Command::kOpenDevNull, {O_RDWR | O_CLOEXEC});
  });
  ASSERT_GE(planted, 0);
  // Not the supervisor's /dev/null source: a file of the target's own, unknown to the model.
  EXPECT_EQ(OnlyVerdict(result), "leaked-fd fd " + std::to_string(planted) +
                                     " op 1: closed | an unknown file /dev/null");
  ASSERT_FALSE(result.verdicts.empty());
  EXPECT_EQ(result.verdicts[0].Signature(scenario_), "leaked-fd:-:settle");
}

TEST_F(FdTableOracle, ReportsOnlyThePlantedFdNextToAnInjectedOne) {
  // The model accounts for the injected memfd; only the planted fd is reported.
  int64_t planted = -1;
  const RunResult result = RunChanged(
      "target t\ntrap t.1 -> n\nrecv t\naddfd n src=memfd -> got\nsend n val=got\n"
      "returned n\nsettle\n",
      5, [&](Target& t) { planted = Agent(t, agent::Command::kMemfd, {0}); });
  ASSERT_GE(planted, 0);
  const std::string unknown = "an unknown file /memfd:addfdlab-target";
  EXPECT_EQ(OnlyVerdict(result, unknown.size()),
            "leaked-fd fd " + std::to_string(planted) + " op 5: closed | " + unknown);
}

TEST_F(FdTableOracle, ReportsAnFdClosedBehindTheModelsBack) {
  const RunResult result = RunChanged("target t\nopen t devnull -> f\ndup2 t f 40\nsettle\n", 1,
                                      [&](Target& t) { Agent(t, agent::Command::kClose, {40}); });
  EXPECT_EQ(OnlyVerdict(result), "dangling-fd fd 40 op 2: target file #0 | closed");
}

TEST_F(FdTableOracle, ReportsAnFdReplacedBehindTheModelsBack) {
  // fd 40 is the devnull (the target's file #0); the agent puts the memfd (#1) there.
  const RunResult result = RunChanged(
      "target t\nopen t devnull -> f\nopen t memfd -> g\ndup2 t f 40\nsettle\n", 2, [&](Target& t) {
        auto list = t.Call(0, MakeRequest(agent::Command::kListFds));
        ASSERT_TRUE(list);
        // The memfd is the highest input fd below 40.
        int64_t memfd = -1;
        for (int i = 0; i < list->count; ++i) {
          const int fd = list->entries[i].fd;
          if (fd < 40 && fd > memfd) memfd = fd;
        }
        ASSERT_GE(memfd, 0);
        Agent(t, agent::Command::kDup3, {memfd, 40, 0});
      });
  EXPECT_EQ(OnlyVerdict(result, 37),
            "wrong-file fd 40 op 3: target file #0 | target file #1 /memfd:addfdlab-target");
}

TEST_F(FdTableOracle, ReportsACloexecFlippedBehindTheModelsBack) {
  // fd 40 becomes an F_DUPFD_CLOEXEC copy of itself: the same file, now close-on-exec.
  const RunResult result =
      RunChanged("target t\nopen t devnull -> f\ndup2 t f 40\nsettle\n", 1, [&](Target& t) {
        EXPECT_EQ(Agent(t, agent::Command::kDup, {40, 1, 41}), 41);
        Agent(t, agent::Command::kClose, {40});
        EXPECT_EQ(Agent(t, agent::Command::kDup, {41, 1, 40}), 40);
        Agent(t, agent::Command::kClose, {41});
      });
  EXPECT_EQ(OnlyVerdict(result), "wrong-cloexec fd 40 op 2: no cloexec | cloexec");
}

TEST(Executor, RepeatedRunsStayClean) {
  auto scenario = LoadCell("ADDFD.STRANDED");
  ASSERT_TRUE(scenario);
  int to_schedule = 0;
  for (int i = 0; i < 50; ++i) {
    const RunResult result = Shared().Run(*scenario);
    // A run that broke its schedule in every attempt says nothing, but must be rare.
    if (!result.deterministic) continue;
    ++to_schedule;
    ASSERT_TRUE(result.clean()) << "run " << i << "\n" << result.Format(*scenario);
  }
  EXPECT_GE(to_schedule, 45) << DescribeScheduling(Shared().scheduling());
  EXPECT_GE(Shared().pool_stats().reused, 49u);
}

// A run that leaves a count on a listener's RECV semaphore (a notification gone before any
// RECV) does not hand that listener to the next run, whose first RECV would answer ENOENT
// at once instead of blocking: a false RECV.EMPTY finding that no replay reproduced.
TEST(Executor, AStaleRecvCountStaysWithItsRun) {
  ParseError error;
  const auto leaves = ParseScenario(
      "target t\nhandler t SIGUSR1 norestart\ntrap t.1 -> n1\nsignal t.1 SIGUSR1\nsettle\n",
      "leaves.scn", &error);
  ASSERT_TRUE(leaves) << error.ToString();
  const auto blocks = ParseScenario("target t\nrecv t\nsettle\n", "blocks.scn", &error);
  ASSERT_TRUE(blocks) << error.ToString();
  ExecutorOptions options;
  options.features = Shared().features();
  Executor executor(options);
  for (int i = 0; i < 3; ++i) {
    const RunResult first = RunToSchedule(executor, *leaves);
    ASSERT_TRUE(first.clean()) << first.Format(*leaves);
    const RunResult second = RunToSchedule(executor, *blocks);
    ASSERT_TRUE(second.clean()) << "round " << i << "\n" << second.Format(*blocks);
  }
}

// Each scheduling mode this process may use runs the scenarios that need an interleaving
// (a request still queued when the next op runs) without a verdict that counts: fifo and
// idle keep to the schedule, free says when a run did not.
TEST(Executor, EveryModeGivesNoVerdictOffItsSchedule) {
  for (SchedMode mode : {SchedMode::kFifo, SchedMode::kIdle, SchedMode::kFree}) {
    ExecutorOptions options;
    options.features = Shared().features();
    options.sched = mode;
    Executor executor(options);
    if (executor.scheduling().mode != mode) continue;  // fifo without CAP_SYS_NICE
    SCOPED_TRACE(DescribeScheduling(executor.scheduling()));
    for (const char* cell :
         {"ADDFD.STATE.REPLIED", "ADDFD.SEND.BUSY", "ADDFD.ORDER.CHECKS", "ADDFD.ORDER.LIFO",
          "ADDFD.INTR.QUEUED", "ADDFD.INTR.HANDLED", "ADDFD.STRANDED", "SEND.GONE"}) {
      auto scenario = LoadCell(cell);
      ASSERT_TRUE(scenario) << cell;
      int to_schedule = 0;
      for (int i = 0; i < 10; ++i) {
        const RunResult result = executor.Run(*scenario);
        if (!result.deterministic) continue;
        ++to_schedule;
        EXPECT_TRUE(result.clean()) << cell << "\n" << result.Format(*scenario);
      }
      if (mode != SchedMode::kFree) {
        EXPECT_GE(to_schedule, 8) << cell;
      }
    }
  }
}

// An executor that cannot make its sources (no fd left for memfd_create) says so as a
// harness verdict on every run: a failed setup is never blamed on the kernel. (No fork: a
// sanitized, threaded process cannot start threads in a forked child.)
TEST(Executor, AFailedSetupIsAHarnessVerdict) {
  auto scenario = LoadCell("ADDFD.OK.LOWEST");
  ASSERT_TRUE(scenario);
  // With fds, the scenario runs clean; the run also lets every thread the process already
  // has get going first (a sanitizer runtime checking a thread's start wants an fd).
  const RunResult clean = Shared().Run(*scenario);
  ASSERT_TRUE(clean.clean()) << clean.Format(*scenario);
  ExecutorOptions options;
  options.features = Shared().features();
  options.hygiene = false;
  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  // Every fd below a small soft limit in use: the sources' memfd_create fails with EMFILE.
  struct rlimit low = old;
  low.rlim_cur = std::min<rlim_t>(old.rlim_cur, 256);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<UniqueFd> filler;
  for (int fd; (fd = ::dup(0)) >= 0;) filler.emplace_back(fd);
  auto executor = std::make_unique<Executor>(options);
  filler.clear();
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  ASSERT_FALSE(executor->setup());
  EXPECT_EQ(executor->setup().error(), Errno(EMFILE)) << executor->setup().error().ToString();
  EXPECT_EQ(executor->setup().error().message(), "memfd_create");
  const RunResult result = executor->Run(*scenario);
  ASSERT_EQ(result.verdicts.size(), 1u) << result.Format(*scenario);
  EXPECT_EQ(result.verdicts[0].kind, Verdict::Kind::kHarness);
  EXPECT_NE(result.verdicts[0].detail.find("executor setup failed: memfd_create (EMFILE: "),
            std::string::npos)
      << result.verdicts[0].detail;
}

}  // namespace
}  // namespace addfdlab
