// The model on its own (no kernel): every contract scenario's expect clauses hold in the
// model's predictions, and every contract cell is carried by a scenario.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "addfdlab/model.h"
#include "addfdlab/oracle.h"
#include "addfdlab/scenario_text.h"

namespace addfdlab {
namespace {

const std::string kContractDir = ADDFDLAB_SOURCE_DIR "/corpus/contract";

std::vector<std::filesystem::path> ContractFiles() {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(kContractDir)) {
    if (entry.path().extension() == ".scn") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

Scenario Load(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  ParseError error;
  auto scenario = ParseScenario(text.str(), path.string(), &error);
  EXPECT_TRUE(scenario) << error.ToString();
  return scenario.value_or(Scenario{});
}

// Runs a scenario on the model alone, taking its first allowed outcome as what happened.
// Returns the failed expect clauses; `reached` (may be null) gets the contract cells the
// predictions named or the model went through.
std::vector<std::string> RunOnModel(const Scenario& scenario, const ModelEnv& env,
                                    std::set<std::string>* reached = nullptr) {
  Model model(scenario, env);
  std::vector<std::string> failures;
  const auto note = [reached](const std::string& cell) {
    if (reached != nullptr && IsContractCell(cell)) reached->insert(cell);
  };
  for (size_t i = 0; i < scenario.ops.size(); ++i) {
    const int index = static_cast<int>(i);
    const Prediction p = model.Begin(index);
    if (p.skip) {
      failures.push_back("op " + std::to_string(i + 1) + " skipped: " + p.skip_reason);
      continue;
    }
    const Outcome outcome = p.allowed.empty() ? Outcome::Ok(0) : p.allowed.front();
    if (!p.allowed.empty()) {
      if (auto v = CheckExpect(scenario.ops[i], outcome, index, p.cell)) {
        failures.push_back(v->Describe(scenario));
      }
    }
    note(p.cell);
    model.Step(index, outcome);
    for (const std::string& cell : model.TakeReached()) note(cell);
  }
  model.Quiesce();
  for (const std::string& cell : model.TakeReached()) note(cell);
  return failures;
}

class ModelContract : public ::testing::TestWithParam<std::filesystem::path> {};

TEST_P(ModelContract, ExpectClausesHoldInTheModel) {
  const Scenario scenario = Load(GetParam());
  ModelEnv env;
  env.nofile_hard = 20000;
  const auto failures = RunOnModel(scenario, env);
  std::string text;
  for (const auto& f : failures) text += f + "\n";
  EXPECT_TRUE(failures.empty()) << GetParam().filename() << "\n" << text;
}

// The fuzz summary counts a cell as reached when the model names it or goes through it: each
// scenario must reach the cells it carries (those a deterministic scenario can reach), or
// "N of M cells" could never be M.
TEST_P(ModelContract, ReachesTheCellsItCarries) {
  const Scenario scenario = Load(GetParam());
  ModelEnv env;
  env.nofile_hard = 20000;
  std::set<std::string> reached;
  RunOnModel(scenario, env, &reached);
  for (const std::string& cell : scenario.cells) {
    const CellInfo* info = FindCell(cell);
    ASSERT_NE(info, nullptr) << cell;
    // The injected cells too: the model's environment here allows every injection.
    if (info->reach == Reach::kNoSchedule) continue;
    EXPECT_TRUE(reached.count(cell))
        << GetParam().filename() << " carries " << cell << ", which the model never reaches in it";
  }
}

INSTANTIATE_TEST_SUITE_P(Contract, ModelContract, ::testing::ValuesIn(ContractFiles()),
                         [](const auto& param_info) {
                           std::string name = param_info.param.stem().string();
                           for (char& c : name) {
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

TEST(ModelContract, EveryCellHasAScenario) {
  std::set<std::string> carried;
  for (const auto& path : ContractFiles()) {
    for (const std::string& cell : Load(path).cells) carried.insert(cell);
  }
  for (const std::string& cell : ContractCells()) {
    EXPECT_TRUE(carried.count(cell)) << cell << " has no scenario in corpus/contract/";
  }
  for (const std::string& cell : carried) {
    EXPECT_NE(std::find(ContractCells().begin(), ContractCells().end(), cell),
              ContractCells().end())
        << cell << " is not a contract cell";
  }
}

// The model's prediction for each op of a scenario given as text, each op answered with
// its first allowed outcome.
// The model of a scenario given as text, before its first op (of no scenario when the
// text does not parse).
Model ModelOf(const std::string& text, const ModelEnv& env = ModelEnv{}) {
  ParseError error;
  const auto scenario = ParseScenario(text, "inline.scn", &error);
  EXPECT_TRUE(scenario) << error.ToString();
  return Model(scenario.value_or(Scenario{}), env);
}

std::vector<Prediction> Predict(const std::string& text, const ModelEnv& env = ModelEnv{}) {
  Model model = ModelOf(text, env);
  std::vector<Prediction> predictions;
  for (int i = 0; i < static_cast<int>(model.scenario().ops.size()); ++i) {
    predictions.push_back(model.Begin(i));
    const Prediction& p = predictions.back();
    model.Step(i, p.allowed.empty() ? Outcome::Ok(0) : p.allowed.front());
  }
  return predictions;
}

Outcome First(const Prediction& p) { return p.allowed.empty() ? Outcome::Ok(0) : p.allowed[0]; }

// Applies op `i` as the kernel answered `observed`, then holds the model to its invariants
// on the new state and on the step that led there (model_check.h).
::testing::AssertionResult StepChecked(Model& model, int i, const Outcome& observed) {
  const Model::Lifecycle before = model.LifecycleNow();
  model.Step(i, observed);
  if (const Result<void> state = model.CheckState(); !state) {
    return ::testing::AssertionFailure() << "op " << i + 1 << ": " << state.error().ToString();
  }
  if (const Result<void> transition = model.CheckTransition(before); !transition) {
    return ::testing::AssertionFailure() << "op " << i + 1 << ": " << transition.error().ToString();
  }
  return ::testing::AssertionSuccess();
}

// Kernel features change the model's answers: without SEND, ADDFD|SEND is an unknown
// flag; without SYNC_WAKE_UP, SET_FLAGS is unknown; without RECV ENOENT, RECV blocks.
TEST(ModelFeatures, OlderKernels) {
  ModelEnv old;
  old.send = false;
  old.sync_wake_up = false;
  old.recv_enoent = false;
  const std::vector<Prediction> p = Predict(
      "target t\ntrap t.1 -> n1\nrecv t\naddfd n1 flags=SEND\nset_flags t SYNC_WAKE_UP\n"
      "send n1 error=ENOSYS\nreturned n1\nkill t\nrecv t\n",
      old);
  ASSERT_EQ(p.size(), 8u);
  EXPECT_EQ(First(p[2]), Outcome::Error(EINVAL));  // ADDFD.FLAGS.UNKNOWN
  EXPECT_EQ(First(p[3]), Outcome::Error(EINVAL));  // SET_FLAGS.UNKNOWN
  EXPECT_EQ(First(p[5]), Outcome::Error(ENOSYS));
  EXPECT_EQ(First(p[7]), Outcome::Blocked());  // RECV.EMPTY: blocks before 6.11
}

// Without pid namespaces (feature pid_ns) a scenario that needs one is skipped whole, never
// run in the supervisor's namespace; with them, RECV names the RECV.PID.* cell.
TEST(ModelFeatures, PidNamespaces) {
  const std::string text =
      "target t pidns\nprocess p pidns\ntrap t.1 -> n1\non p: recv t\nwait p\n"
      "trap t.2 -> n2\nrecv t\nsignal t.0 SIGUSR1\n";
  ParseError error;
  const std::optional<Scenario> s = ParseScenario(text, "t.scn", &error);
  ASSERT_TRUE(s) << error.ToString();
  ModelEnv none;
  none.pid_ns = false;
  Model without(*s, none);
  for (int i = 0; i < static_cast<int>(s->ops.size()); ++i) {
    const Prediction p = without.Begin(i);
    EXPECT_TRUE(p.skip) << i;
    EXPECT_NE(p.skip_reason.find("pid_ns"), std::string::npos) << p.skip_reason;
  }
  std::set<std::string> reached;
  const std::vector<std::string> failures = RunOnModel(*s, ModelEnv{}, &reached);
  ASSERT_EQ(failures.size(), 1u);  // the signal to the namespace's init
  EXPECT_NE(failures[0].find("init"), std::string::npos) << failures[0];
  EXPECT_EQ(reached.count("RECV.PID.SIBLING_NS"), 1u);
  EXPECT_EQ(reached.count("RECV.PID.CHILD_NS"), 1u);
}

// The planted mechanism bugs (SetModelMutant): each makes its cell's contract scenario fail
// on the model; a cell whose rule is an outcome has none.
TEST(ModelMutants, EachBreaksItsCellsScenario) {
  for (const char* cell : {"ADDFD.ORDER.LIFO", "ADDFD.ORDER.CHECKS"}) {
    ModelEnv env;
    ASSERT_TRUE(SetModelMutant(&env, cell)) << cell;
    EXPECT_NE(env, ModelEnv{}) << cell;
    bool carried = false;
    for (const auto& path : ContractFiles()) {
      const Scenario scenario = Load(path);
      if (std::find(scenario.cells.begin(), scenario.cells.end(), cell) == scenario.cells.end()) {
        continue;
      }
      carried = true;
      EXPECT_TRUE(RunOnModel(scenario, ModelEnv{}).empty()) << path;
      EXPECT_FALSE(RunOnModel(scenario, env).empty()) << cell << " planted nothing in " << path;
    }
    EXPECT_TRUE(carried) << "no contract scenario carries " << cell;
  }
  ModelEnv env;
  EXPECT_FALSE(SetModelMutant(&env, "ADDFD.OK.LOWEST"));
  EXPECT_FALSE(SetModelMutant(&env, "no such cell"));
  EXPECT_EQ(env, ModelEnv{});
}

// A notification gone before any RECV took it (its caller interrupted) leaves a count on the
// RECV semaphore that the next RECV takes (ENOENT at once, RECV.STALE). The executor does
// not reuse a listener with one: a later run's RECV would get that ENOENT.
TEST(ModelChecks, ANotificationGoneBeforeItsRecvLeavesAStaleCount) {
  const auto stale_after = [](const std::string& text) {
    Model model = ModelOf(text);
    for (int i = 0; i < static_cast<int>(model.scenario().ops.size()); ++i) {
      model.Step(i, First(model.Begin(i)));
    }
    model.Quiesce();
    return model.StaleRequests(0);
  };
  EXPECT_EQ(stale_after("target t\nhandler t SIGUSR1 norestart\ntrap t.1 -> n1\n"
                        "signal t.1 SIGUSR1\nsettle\n"),
            1);
  EXPECT_EQ(stale_after("target t\ntrap t.1 -> n1\nsettle\n"), 0);  // pending, not stale
  EXPECT_EQ(stale_after("target t\ntrap t.1 -> n1\nrecv t\nsend n1 val=0\nsettle\n"), 0);
  EXPECT_EQ(stale_after("target t\nhandler t SIGUSR1 norestart\ntrap t.1 -> n1\n"
                        "signal t.1 SIGUSR1\nsettle\nrecv t expect ENOENT\nsettle\n"),
            0);
}

// The check order: several faults at once give the first failing row's errno.
TEST(ModelChecks, FirstFailingRowDecides) {
  const std::vector<Prediction> p = Predict(
      "target t\ntrap t.1 -> n1\nrecv t\n"
      "addfd n1 size=16 arg=unreadable flags=0x8 src=closed\n"
      "addfd n1 arg=unreadable newfd_flags=1\n"
      "addfd n1 newfd_flags=1 flags=0x8\n"
      "addfd n1 flags=0x8 newfd=3\n"
      "addfd n1 newfd=3 src=huge\n"
      "addfd n1+9 src=huge\n");
  const std::vector<std::pair<Outcome, std::string>> want = {
      {Outcome::Error(EINVAL), "ADDFD.SIZE.SHORT"},
      {Outcome::Error(EFAULT), "ADDFD.FAULT"},
      {Outcome::Error(EINVAL), "ADDFD.NEWFD_FLAGS"},
      {Outcome::Error(EINVAL), "ADDFD.FLAGS.UNKNOWN"},
      {Outcome::Error(EINVAL), "ADDFD.NEWFD_WITHOUT_SETFD"},
      {Outcome::Error(EBADF), "ADDFD.SRCFD.BAD"},
  };
  ASSERT_EQ(p.size(), want.size() + 2);
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(p[i + 2].allowed.size(), 1u);
    EXPECT_EQ(p[i + 2].allowed[0], want[i].first) << "op " << i + 3;
    EXPECT_EQ(p[i + 2].cell, want[i].second) << "op " << i + 3;
  }
}

// Ids are u64 and wrap: the extreme deltas name ids no notification has (ADDFD.ID.UNKNOWN),
// without signed overflow in the model (UBSan in the asan preset).
TEST(ModelChecks, ExtremeIdDeltasWrap) {
  const std::vector<Prediction> p = Predict(
      "target t\ntrap t.1 -> n1\nrecv t\naddfd n1+0x7fffffffffffffff\n"
      "addfd n1-0x8000000000000000\nid_valid n1+0x7fffffffffffffff\nsend n1 val=0\n");
  ASSERT_EQ(p.size(), 6u);
  for (size_t i = 2; i <= 4; ++i) {
    ASSERT_EQ(p[i].allowed.size(), 1u) << "op " << i + 1;
    EXPECT_EQ(p[i].allowed[0], Outcome::Error(ENOENT)) << "op " << i + 1;
  }
}

// An ADDFD|SEND restarted after an interrupt (SA_RESTART) is ADDFD.INTR.SEND's business at
// its `wait` too: a kernel that leaves the notification REPLIED answers the retry EINPROGRESS,
// and that verdict must name the known deviation's cell, not ADDFD.SEND.OK.
TEST(ModelChecks, RestartedSendIsIntrSend) {
  const std::string text =
      "target t callers=1\ntrap t.1 -> n1\nrecv t\non T1: addfd n1 flags=SEND\n"
      "signal_thread T1 restart\nwait T1\n";
  for (const bool quirk : {false, true}) {
    ModelEnv env;
    env.quirk_intr_send_stays_replied = quirk;
    const std::vector<Prediction> p = Predict(text, env);
    ASSERT_EQ(p.size(), 5u);
    EXPECT_EQ(p[4].cell, "ADDFD.INTR.SEND") << "quirk " << quirk;
    ASSERT_EQ(p[4].allowed.size(), 1u);
    EXPECT_EQ(p[4].allowed[0], quirk ? Outcome::Error(EINPROGRESS) : Outcome::Ok(0));
  }
}

// The numbers ADDFD requests filled name their request's cell (Model::FdCells), which the
// fd-table oracle's verdicts carry: ADDFD.INTR.SEND's for the retry of an interrupted SEND;
// a target's own op on the number drops it.
TEST(ModelChecks, FdCellsNameTheInstallingRequest) {
  ParseError error;
  const auto scenario = ParseScenario(
      "target t callers=2\ntrap t.1 -> n1\nrecv t\naddfd n1 src=memfd\nsend n1 val=0\n"
      "trap t.2 -> n2\nrecv t\non T1: addfd n2 flags=SEND src=memfd2\n"
      "signal_thread T1 restart\nwait T1\nclose t 0\n",
      "inline.scn", &error);
  ASSERT_TRUE(scenario) << error.ToString();
  Model model(*scenario, ModelEnv{});
  for (int i = 0; i < static_cast<int>(scenario->ops.size()); ++i) {
    const Prediction p = model.Begin(i);
    ASSERT_FALSE(p.skip) << "op " << i + 1 << ": " << p.skip_reason;
    model.Step(i, First(p));
    if (i == 8) {  // wait T1
      EXPECT_EQ(model.FdCells(0),
                (std::map<int, std::string>{{0, "ADDFD.OK.LOWEST"}, {1, "ADDFD.INTR.SEND"}}));
    }
  }
  EXPECT_EQ(model.FdCells(0), (std::map<int, std::string>{{1, "ADDFD.INTR.SEND"}}));
}

// Steps a race's ops up to and including op `at` (0-based), each as the model first predicts
// it, but op `at`: the model must allow exactly `allowed` there, and the kernel answers
// `observed`, the race's other branch.
void StepIntoRace(Model& model, int at, const std::vector<Outcome>& allowed,
                  const Outcome& observed) {
  for (int i = 0; i <= at; ++i) {
    const Prediction p = model.Begin(i);
    ASSERT_FALSE(p.skip) << "op " << i + 1 << ": " << p.skip_reason;
    if (i == at) {
      EXPECT_EQ(p.allowed, allowed);
    }
    ASSERT_TRUE(StepChecked(model, i, i == at ? observed : First(p)));
  }
}

// A reply races the leader's death: the leader (fatal SIGUSR2) and the caller (its reply
// waiting) are both runnable and the executor cannot order them. The caller dies either way
// (PR_SET_PDEATHSIG), but run first it returns the reply: `returned` allows both and the
// model follows the kernel's (false ADDFD.SEND.OK finding, found by the mutator).
TEST(ModelChecks, AReplyRacingTheLeadersDeathMayReturn) {
  ParseError error;
  const auto scenario = ParseScenario(
      "target t callers=1\ntrap t.1 -> n\nrecv t\nsignal t.0 SIGUSR2\n"
      "send n val=6\nreturned n\nreturned n\n",
      "inline.scn", &error);
  ASSERT_TRUE(scenario) << error.ToString();
  Model model(*scenario, ModelEnv{});
  StepIntoRace(model, 4, std::vector<Outcome>{Outcome::Blocked(), Outcome::Ok(6)}, Outcome::Ok(6));
  // Once followed, the return stays what the kernel said.
  EXPECT_EQ(model.Begin(5).allowed, std::vector<Outcome>{Outcome::Ok(6)});
  EXPECT_FALSE(model.TargetAlive(0));
}

// The same race the other way: the caller was woken before its leader (an earlier trap), so
// the model runs it first, but the kernel may kill it through its leader before it returns.
TEST(ModelChecks, AReplyRacingTheLeadersDeathMayNotReturn) {
  ParseError error;
  const auto scenario = ParseScenario(
      "target t callers=1\ntrap t.1 -> n1\nrecv t\nsend n1 val=3\nreturned n1\n"
      "trap t.1 -> n2\nrecv t\nsignal t.0 13\nsend n2 val=6\nreturned n2\nreturned n2\n",
      "inline.scn", &error);
  ASSERT_TRUE(scenario) << error.ToString();
  Model model(*scenario, ModelEnv{});
  StepIntoRace(model, 8, std::vector<Outcome>{Outcome::Ok(6), Outcome::Blocked()},
               Outcome::Blocked());
  EXPECT_EQ(model.Begin(9).allowed.front(), Outcome::Blocked());
}

// A caller dies holding a reserved slot (0) while another installs an ADDFD: both runnable,
// the install takes 0 or 1. The model allows both, and once the kernel said 1 the table
// follows: fd 1 holds the injected file, the next open gets 0.
TEST(ModelChecks, AnInstallRacingAReservationsReleaseMayTakeEitherNumber) {
  ParseError error;
  const auto scenario = ParseScenario(
      "target t callers=2\nreserve t.2 -> f0\ntrap t.1 -> n0\nrecv t\nsignal t.2 SIGUSR1\n"
      "addfd n0 -> f1\nopen t devnull -> f2\n",
      "inline.scn", &error);
  ASSERT_TRUE(scenario) << error.ToString();
  Model model(*scenario, ModelEnv{});
  StepIntoRace(model, 4, std::vector<Outcome>{Outcome::Ok(0), Outcome::Ok(1)}, Outcome::Ok(1));
  EXPECT_EQ(model.FdTable(0).count(1), 1u);
  EXPECT_EQ(model.FdTable(0).count(0), 0u);
  EXPECT_EQ(model.Begin(5).allowed, std::vector<Outcome>{Outcome::Ok(0)});
}

// A SETFD onto the slot a dying task's reservation holds: the reserving task (woken by the
// signal) and the trapped one (woken by the ADDFD) run together, so the install may come
// before the release (EBUSY) or after it (installed). Once the kernel said EBUSY, the slot
// is empty and a later install takes it (a false ADDFD.SETFD.OK finding from a campaign).
TEST(ModelChecks, ASetfdRacingAReservationsReleaseMayFindItReserved) {
  const std::string text =
      "target t\nreserve t.2 -> f0\ntrap t.1 -> n0\nsignal t.2 SIGUSR1\nrecv t\n"
      "addfd n0 flags=SETFD src=memfd\naddfd n0 src=memfd2\n";
  for (const Outcome& observed : {Outcome::Error(EBUSY), Outcome::Ok(0)}) {
    Model model = ModelOf(text);
    StepIntoRace(model, 4, std::vector<Outcome>{Outcome::Ok(0), Outcome::Error(EBUSY)}, observed);
    EXPECT_EQ(model.FdTable(0).count(0), observed.kind == Outcome::Kind::kOk ? 1u : 0u);
    // The next install takes the lowest free number: 0 when the SETFD found it reserved.
    EXPECT_EQ(First(model.Begin(5)), Outcome::Ok(observed.kind == Outcome::Kind::kOk ? 1 : 0));
  }
}

// Two callers' ADDFDs queued before either runs (a supervisor thread's, then the main
// thread's): the executor cannot order the callers, so the main thread's install may take
// either number. Once the kernel said 0, the thread's result, its fd name and the table
// follow: the thread's install is at 1, and closing f0 frees 0.
TEST(ModelChecks, TwoCallersInstallsMayComeInEitherOrder) {
  ParseError error;
  const auto scenario = ParseScenario(
      "target t callers=2\ntrap t.1 -> n0\nrecv t\ntrap t.2 -> n1\nrecv t\n"
      "on A: addfd n1 src=pipe_r -> f1\naddfd n0 src=memfd2 -> f0\nwait A\nclose t f0\n"
      "open t devnull -> f2\n",
      "inline.scn", &error);
  ASSERT_TRUE(scenario) << error.ToString();
  Model model(*scenario, ModelEnv{});
  StepIntoRace(model, 5, std::vector<Outcome>{Outcome::Ok(1), Outcome::Ok(0)}, Outcome::Ok(0));
  EXPECT_EQ(model.Begin(6).allowed, std::vector<Outcome>{Outcome::Ok(1)});
  ASSERT_TRUE(StepChecked(model, 6, Outcome::Ok(1)));
  const auto table = model.FdTable(0);
  ASSERT_EQ(table.count(0), 1u);
  ASSERT_EQ(table.count(1), 1u);
  EXPECT_EQ(table.at(0).file.kind, ModelFile::Kind::kSource);
  EXPECT_EQ(table.at(0).file.index, static_cast<int>(SourceKind::kMemfd2));
  ASSERT_TRUE(StepChecked(model, 7, First(model.Begin(7))));
  EXPECT_EQ(model.Begin(8).allowed, std::vector<Outcome>{Outcome::Ok(0)});
}

// Two requests queued for caller 2 (its task handles the newest first) and one for caller
// 1: the model runs caller 2 first (woken first), but the kernel may run caller 1 first.
// Once it said caller 1's install is 0, caller 2's two move up a place each, in their own
// order: the newest (memfd2) at 1, the older (socket) at 2. Swapping caller 1's with the
// one that held 0 would put them the other way round (a two-job campaign's false
// 'wrong-file ADDFD.OK.LOWEST').
TEST(ModelChecks, AnInstallRunEarlierMovesTheOtherCallersInstallsUpInTheirOrder) {
  ParseError error;
  const auto scenario = ParseScenario(
      "target t callers=2\ntrap t.1 -> n0\nrecv t\ntrap t.2 -> n1\nrecv t\n"
      "on A: addfd n1 src=socket\non B: addfd n1 src=memfd2\naddfd n0\nwait A\nwait B\n",
      "inline.scn", &error);
  ASSERT_TRUE(scenario) << error.ToString();
  Model model(*scenario, ModelEnv{});
  StepIntoRace(model, 6, std::vector<Outcome>{Outcome::Ok(2), Outcome::Ok(0), Outcome::Ok(1)},
               Outcome::Ok(0));
  const auto table = model.FdTable(0);
  ASSERT_EQ(table.count(1), 1u);
  ASSERT_EQ(table.count(2), 1u);
  EXPECT_EQ(table.at(1).file.index, static_cast<int>(SourceKind::kMemfd2));
  EXPECT_EQ(table.at(2).file.index, static_cast<int>(SourceKind::kSocket));
  EXPECT_EQ(model.Begin(7).allowed, std::vector<Outcome>{Outcome::Ok(2)});
  ASSERT_TRUE(StepChecked(model, 7, Outcome::Ok(2)));
  EXPECT_EQ(model.Begin(8).allowed, std::vector<Outcome>{Outcome::Ok(1)});
}

// Two ADDFD|SENDs on supervisor threads for two callers: the order the callers ran in
// decides the numbers, so the values the trapped syscalls return. A return seen first
// fixes both installs, and the other thread's result and return follow.
TEST(ModelChecks, TwoCallersSendsMayComeInEitherOrder) {
  ParseError error;
  const auto scenario = ParseScenario(
      "target t callers=2\ntrap t.1 -> n0\nrecv t\ntrap t.2 -> n1\nrecv t\n"
      "on A: addfd n0 flags=SEND src=devnull\non B: addfd n1 flags=SEND src=memfd2\n"
      "returned n1\nwait A\nreturned n0\n",
      "inline.scn", &error);
  ASSERT_TRUE(scenario) << error.ToString();
  Model model(*scenario, ModelEnv{});
  StepIntoRace(model, 6, std::vector<Outcome>{Outcome::Ok(1), Outcome::Ok(0)}, Outcome::Ok(0));
  EXPECT_EQ(model.Begin(7).allowed, std::vector<Outcome>{Outcome::Ok(1)});
  ASSERT_TRUE(StepChecked(model, 7, Outcome::Ok(1)));
  EXPECT_EQ(model.Begin(8).allowed, std::vector<Outcome>{Outcome::Ok(1)});
}

// A terminating signal to the leader takes the group, and with it a caller holding the
// only free slot reserved, while another caller handles a queued ADDFD: EMFILE if it ran
// first, else the freed slot. The kernel's answer is followed (the table went with the
// group).
TEST(ModelChecks, AGroupDeathMayFreeASlotBeforeAnInstall) {
  ParseError error;
  const auto scenario = ParseScenario(
      "target t callers=2\nreserve t.2 -> f0\nnofile t 1\ntrap t.1 -> n0\nrecv t\n"
      "on A: addfd n0 src=pipe_w\nsignal t.0 15\nwait A\n",
      "inline.scn", &error);
  ASSERT_TRUE(scenario) << error.ToString();
  Model model(*scenario, ModelEnv{});
  StepIntoRace(model, 6, std::vector<Outcome>{Outcome::Error(EMFILE), Outcome::Ok(0)},
               Outcome::Ok(0));
  EXPECT_EQ(model.ThreadResult(0)->outcome, Outcome::Ok(0));
  EXPECT_FALSE(model.TargetAlive(0));
}

// A new number above one the retry of an interrupted ADDFD|SEND filled is ADDFD.INTR.SEND's
// (on a kernel with its bug the retry installed nothing and the number is lower); below it,
// or with nothing interrupted, the prediction names no cell.
TEST(ModelChecks, ANumberAboveAnIntrSendRetryIsItsCell) {
  const std::vector<Prediction> p = Predict(
      "target t callers=1\nopen t devnull -> f0\ntrap t.1 -> n1\nrecv t\n"
      "on T1: addfd n1 flags=SEND src=pipe_r\nsignal_thread T1 restart\n"
      "open t devnull -> f1\ndup t f0 -> f2\nclose t 1\nopen t devnull -> f3\n");
  ASSERT_EQ(p.size(), 9u);
  EXPECT_EQ(First(p[5]), Outcome::Ok(2));
  EXPECT_EQ(p[5].cell, "ADDFD.INTR.SEND");
  EXPECT_EQ(p[6].cell, "ADDFD.INTR.SEND");  // dup: 3
  EXPECT_EQ(First(p[8]), Outcome::Ok(1));
  EXPECT_EQ(p[8].cell, "");
  EXPECT_EQ(Predict("target t\nopen t devnull -> f0\nopen t memfd -> f1\n")[1].cell, "");
}

// A signal is not a quiescence point, not even one that is dropped (SIGCHLD, which the
// targets ignore): two ADDFDs queued around it are still handled newest first.
TEST(ModelChecks, ADroppedSignalLetsNothingRun) {
  const std::vector<Prediction> p = Predict(
      "target t callers=1\ntrap t.1 -> n1\nrecv t\non A: addfd n1\nsignal t.0 17\n"
      "on B: addfd n1 src=memfd2\nwait B\nwait A\n");
  ASSERT_EQ(p.size(), 7u);
  EXPECT_EQ(First(p[5]), Outcome::Ok(0));  // ADDFD.ORDER.LIFO
  EXPECT_EQ(First(p[6]), Outcome::Ok(1));
}

// LISTENER.CLOSED: a copy of the listener in the target's table (ADDFD src=listener) keeps
// its file, and so the notifier, alive after the supervisor's close: traps block and a
// second listener is EBUSY until the last copy goes, then everything answers ENOSYS.
TEST(ModelChecks, ListenerCopyKeepsTheNotifier) {
  const std::vector<Prediction> p = Predict(
      "target t callers=2\ntrap t.1 -> n1\nrecv t\non A: addfd n1 flags=SEND src=listener -> f1\n"
      "wait A\ndup t f1 -> f2\nclose_listener t\ntrap t.2 -> n2\nclose t f1\nreturned n2\n"
      "install_filter t NEW_LISTENER\nclose t f2\nreturned n2\ntrap t.1 -> n3\n"
      "install_filter t NEW_LISTENER\n");
  ASSERT_EQ(p.size(), 14u);
  EXPECT_EQ(First(p[6]), Outcome::Blocked());       // trap n2: the notifier is still there
  EXPECT_EQ(First(p[8]), Outcome::Blocked());       // one copy left
  EXPECT_EQ(First(p[9]), Outcome::Error(EBUSY));    // has_duplicate_listener
  EXPECT_EQ(First(p[11]), Outcome::Error(ENOSYS));  // the last copy's close detached it
  EXPECT_EQ(First(p[12]), Outcome::Error(ENOSYS));  // LISTENER.CLOSED
  EXPECT_EQ(First(p[13]), Outcome::Ok(0));
}

// The target's exit drops its copy: a closed listener whose only other holder was the
// table is released with it, and the model's state stays consistent on the way.
TEST(ModelChecks, TargetExitReleasesItsListenerCopy) {
  ParseError error;
  const auto scenario = ParseScenario(
      "target t callers=1\ntrap t.1 -> n1\nrecv t\naddfd n1 src=listener\nclose_listener t\n"
      "kill t\n",
      "inline.scn", &error);
  ASSERT_TRUE(scenario) << error.ToString();
  Model model(*scenario, ModelEnv{});
  for (int i = 0; i < static_cast<int>(scenario->ops.size()); ++i) {
    const Prediction p = model.Begin(i);
    ASSERT_FALSE(p.skip) << "op " << i + 1 << ": " << p.skip_reason;
    model.Step(i, First(p));
    const Result<void> state = model.CheckState();
    ASSERT_TRUE(state) << "op " << i + 1 << ": " << state.error().ToString();
    // The filter has a notifier until the kill (op 5), through the table's copy after op 4.
    EXPECT_EQ(model.LifecycleNow().targets[0].listener, i < 4) << "op " << i + 1;
  }
}

// Op::inject: each injection's outcome and cell, a skip where the environment cannot make it
// or the task does not wait, and inject=nomem following the kernel's answer.
TEST(ModelInject, OutcomesCellsAndSkips) {
  ParseError error;
  const auto scenario = ParseScenario(
      "target t\nnofile t 4096\ntrap t.1 -> n1\nrecv t\n"
      "addfd n1 flags=SETFD newfd=4001 inject=nomem\n"       // op 4
      "addfd n1 flags=SETFD newfd=4001\n"                    // op 5: REPLACE if op 4 installed
      "addfd n1 inject=lsm\n"                                // op 6
      "addfd n1 flags=SETFD newfd=100 inject=nr_open\n"      // op 7: fs.nr_open = 100
      "addfd n1 flags=SETFD newfd=10 inject=nr_open\n"       // op 8: fs.nr_open = 64
      "addfd n1 flags=SETFD|SEND newfd=3000 inject=nomem\n"  // op 9: skipped, SEND
      "send n1 error=ENOSYS\nreturned n1\n"
      "addfd n1 inject=lsm\n",  // op 12: the task no longer waits
      "inline.scn", &error);
  ASSERT_TRUE(scenario) << error.ToString();
  ModelEnv env;
  env.nofile_hard = 4096;
  for (const Outcome nomem : {Outcome::Error(ENOMEM), Outcome::Ok(4001)}) {
    Model model(*scenario, env);
    std::vector<Prediction> p;
    for (int i = 0; i < static_cast<int>(scenario->ops.size()); ++i) {
      p.push_back(model.Begin(i));
      if (p.back().skip) continue;
      model.Step(i, i == 3 ? nomem : First(p.back()));
      ASSERT_TRUE(model.CheckState()) << "op " << i + 1;
    }
    EXPECT_EQ(p[3].allowed, (std::vector<Outcome>{Outcome::Error(ENOMEM), Outcome::Ok(4001)}));
    EXPECT_EQ(p[3].cell, "ADDFD.NOMEM");
    EXPECT_EQ(p[4].cell,
              nomem.kind == Outcome::Kind::kOk ? "ADDFD.SETFD.REPLACE" : "ADDFD.SETFD.OK");
    EXPECT_EQ(p[5].allowed, std::vector<Outcome>{Outcome::Error(EACCES)});
    EXPECT_EQ(p[5].cell, "ADDFD.LSM");
    EXPECT_EQ(p[6].allowed, std::vector<Outcome>{Outcome::Error(EMFILE)});
    EXPECT_EQ(p[6].cell, "ADDFD.SETFD.NR_OPEN");
    EXPECT_EQ(p[7].allowed, std::vector<Outcome>{Outcome::Ok(10)});
    EXPECT_TRUE(p[8].skip);
    EXPECT_EQ(p[8].skip_reason, "inject=nomem with SEND");
    EXPECT_FALSE(p[9].skip);
    EXPECT_TRUE(p[11].skip);
    EXPECT_EQ(p[11].skip_reason, "inject= on a notification whose task is not waiting");
  }
  static_assert(InjectedNrOpen(10) == 64 && InjectedNrOpen(4000) == 4000 &&
                InjectedNrOpen(0xffffffff) == 0x7fffffc0);
  // Without the features (a stock kernel, the host) the injected ops are skipped.
  ModelEnv stock = env;
  stock.inject_lsm = stock.inject_nomem = stock.inject_nr_open = false;
  Model model(*scenario, stock);
  for (int i = 0; i < 3; ++i) model.Step(i, First(model.Begin(i)));
  const Prediction nomem = model.Begin(3);
  EXPECT_TRUE(nomem.skip);
  EXPECT_EQ(nomem.skip_reason, "inject=nomem: no failslab and fail-nth here");
}

// The executor arms an injection before the ioctl: without the feature, an injecting ADDFD
// the kernel would reject before queueing (a short size) is skipped too, not predicted
// EINVAL (a campaign on the host filed the arming's EPERM as an ADDFD.SIZE.SHORT deviation).
TEST(ModelInject, AnUnavailableInjectionIsSkippedBeforeTheArgumentChecks) {
  ParseError error;
  const auto scenario = ParseScenario(
      "target t\ntrap t.1 -> n1\nrecv t\naddfd n1 size=1 inject=nr_open\n", "inline.scn", &error);
  ASSERT_TRUE(scenario) << error.ToString();
  ModelEnv stock;
  stock.inject_nr_open = false;
  Model model(*scenario, stock);
  for (int i = 0; i < 2; ++i) model.Step(i, First(model.Begin(i)));
  const Prediction p = model.Begin(2);
  EXPECT_TRUE(p.skip);
  EXPECT_EQ(p.skip_reason, "inject=nr_open: only in an addfdlab VM guest");
}

// seccomp_notify_poll: POLLIN while INIT, POLLOUT while SENT, POLLHUP once no task is left,
// each only when asked for (POLLHUP always), and the cell of what the answer is about.
TEST(ModelPoll, EventsFollowTheNotificationStates) {
  const std::vector<Prediction> p = Predict(
      "target t\npoll t POLLIN|POLLOUT\ntrap t.1 -> n1\npoll t POLLIN|POLLOUT\n"
      "poll t POLLOUT\nrecv t\npoll t POLLIN|POLLOUT|POLLWRNORM\ntrap t.2 -> n2\n"
      "poll t POLLIN|POLLOUT\nkill t\npoll t 0\n");
  ASSERT_EQ(p.size(), 10u);
  EXPECT_EQ(First(p[0]), Outcome::Ok(0));
  EXPECT_EQ(p[0].cell, "POLL.IN");
  EXPECT_EQ(First(p[2]), Outcome::Ok(0x1));
  EXPECT_EQ(p[2].cell, "POLL.IN");
  EXPECT_EQ(First(p[3]), Outcome::Ok(0));
  EXPECT_EQ(p[3].cell, "POLL.OUT");
  EXPECT_EQ(First(p[5]), Outcome::Ok(0x104));
  EXPECT_EQ(p[5].cell, "POLL.OUT");
  EXPECT_EQ(First(p[7]), Outcome::Ok(0x5));
  EXPECT_EQ(First(p[9]), Outcome::Ok(0x10));
  EXPECT_EQ(p[9].cell, "POLL.HUP");
}

// A reply error in 512..516 comes back as is, unless a handled signal is pending when the
// task leaves the kernel (held back by WAIT_KILLABLE_RECV): then handle_signal restarts the
// syscall (a new notification) or makes it EINTR.
TEST(ModelChecks, RestartRangeErrorsMeetAPendingSignal) {
  const std::vector<Prediction> p = Predict(
      "target t filter=NEW_LISTENER|WAIT_KILLABLE_RECV callers=3\n"
      "handler t SIGUSR1 restart\nhandler t SIGUSR2 norestart\n"
      "trap t.1 -> a\nrecv t\nsend a error=512\nreturned a\n"                  // 2..5
      "trap t.2 -> b\nrecv t\nsignal t.2 SIGUSR1\nsettle\nsend b error=512\n"  // 6..10
      "settle\nrecv t\n"                                                       // 11, 12
      "trap t.3 -> c\nrecv t\nsignal t.3 SIGUSR2\nsettle\nsend c error=512\nreturned c\n");
  ASSERT_EQ(p.size(), 19u);
  EXPECT_EQ(First(p[5]), Outcome::Error(512));
  EXPECT_EQ(p[5].cell, "SEND.ERROR.RESTART");
  EXPECT_EQ(First(p[12]), Outcome::Ok(1));  // b's restarted syscall, received again
  EXPECT_EQ(First(p[18]), Outcome::Error(EINTR));
  EXPECT_EQ(p[18].cell, "SEND.ERROR.RESTART");
}

TEST(ModelChecks, NotifSizesAreTheStructs) {
  const std::vector<Prediction> p = Predict("target t\nget_notif_sizes\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(First(p[0]), Outcome::Ok(80 | (int64_t{24} << 16) | (int64_t{64} << 32)));
  EXPECT_EQ(p[0].cell, "NOTIF_SIZES");
}

// SEND.CONTINUE.RUNS: CONTINUE runs a trapped dup in the target. It returns the lowest free
// number (reserved slots and RLIMIT_NOFILE respected), a new reference to the fd's file
// without close-on-exec; EBADF for a number with no file; EMFILE at the limit. A value or
// error reply returns that, and the table does not change.
TEST(ModelChecks, ContinueRunsATrappedDup) {
  Model model = ModelOf(
      "target t callers=2\nopen t memfd cloexec -> f\nreserve t.2 -> r\n"
      "trap t.1 dup=f -> n1\nrecv t\nsend n1 flags=CONTINUE\nreturned n1\n");
  ASSERT_EQ(model.scenario().ops.size(), 6u);
  // f is 0, the reservation holds 1: the dup gets 2.
  StepIntoRace(model, 5, std::vector<Outcome>{Outcome::Ok(2)}, Outcome::Ok(2));
  EXPECT_EQ(model.TrapResult(0)->cell, "SEND.CONTINUE.RUNS");
  const std::map<int, ModelFd> table = model.FdTable(0);
  ASSERT_EQ(table.count(2), 1u);
  EXPECT_EQ(table.at(2).file, table.at(0).file);
  EXPECT_TRUE(table.at(0).cloexec);
  EXPECT_FALSE(table.at(2).cloexec);
  EXPECT_EQ(model.FdCells(0).at(2), "SEND.CONTINUE.RUNS");

  const auto last = [](const std::string& text) {
    const std::vector<Prediction> all = Predict(text);
    return all.empty() ? Outcome::Blocked() : First(all.back());
  };
  // No file at the number; the argument's upper bits are cut (1 << 32 is fd 0, open).
  EXPECT_EQ(last("target t\ntrap t.1 dup=7 -> n\nrecv t\nsend n flags=CONTINUE\nreturned n\n"),
            Outcome::Error(EBADF));
  EXPECT_EQ(last("target t\nopen t devnull -> f\ntrap t.1 dup=0x100000000 -> n\nrecv t\n"
                 "send n flags=CONTINUE\nreturned n\n"),
            Outcome::Ok(1));
  // At the limit.
  EXPECT_EQ(last("target t\nopen t devnull -> f\nnofile t 1\ntrap t.1 dup=f -> n\nrecv t\n"
                 "send n flags=CONTINUE\nreturned n\n"),
            Outcome::Error(EMFILE));
  // A value reply: the value, no dup.
  EXPECT_EQ(last("target t\nopen t devnull -> f\ntrap t.1 dup=f -> n\nrecv t\n"
                 "send n val=42\nreturned n\n"),
            Outcome::Ok(42));
  // A target whose filter was refused (an unknown flag) has nothing to trap the dup: it runs
  // at once. Without a listener it is ENOSYS, as tuxcall is.
  EXPECT_EQ(last("target t filter=0x40\nopen t devnull -> f\ntrap t.1 dup=f -> n\n"),
            Outcome::Ok(1));
  EXPECT_EQ(last("target t filter=0\nopen t devnull -> f\ntrap t.1 dup=f -> n\n"),
            Outcome::Error(ENOSYS));
  // The tuxcall trap still returns ENOSYS.
  EXPECT_EQ(last("target t\ntrap t.1 -> n\nrecv t\nsend n flags=CONTINUE\nreturned n\n"),
            Outcome::Error(ENOSYS));
  // A dup of a harness fd is outside the domain.
  const std::vector<Prediction> harness = Predict("target t\ntrap t.1 dup=513 -> n\n");
  ASSERT_EQ(harness.size(), 1u);
  EXPECT_TRUE(harness[0].skip);
}
}  // namespace
}  // namespace addfdlab

namespace addfdlab {
namespace {

// Runs a scenario given as text on the model, each op answered with its first allowed
// outcome and skipped where the model says so, the invariants checked after every step;
// `reached` (may be null) gets the cells the steps went through.
std::vector<Prediction> PredictChecked(const std::string& text,
                                       std::set<std::string>* reached = nullptr) {
  ParseError error;
  const auto scenario = ParseScenario(text, "inline.scn", &error);
  EXPECT_TRUE(scenario) << error.ToString();
  if (!scenario) return {};
  Model model(*scenario, ModelEnv{});
  std::vector<Prediction> predictions;
  for (int i = 0; i < static_cast<int>(scenario->ops.size()); ++i) {
    predictions.push_back(model.Begin(i));
    if (predictions.back().skip) continue;
    EXPECT_TRUE(StepChecked(model, i, First(predictions.back())));
    for (const std::string& cell : model.TakeReached()) {
      if (reached != nullptr) reached->insert(cell);
    }
  }
  return predictions;
}

// FILTER.STACKED.NEWEST: a task spawned from the leader after a further filter traps into
// that filter, which has no listener (ENOSYS at once, no notification, no id taken); one
// spawned from a caller (cloned before the filter) traps into ours; a failed install adds
// nothing to the stack.
TEST(ModelChecks, SpawnedTasksTrapIntoTheNewestFilter) {
  const std::vector<Prediction> p = PredictChecked(
      "target t callers=1\ninstall_filter t 0\nspawn t.0\ntrap t.2 -> lost\nreturned lost\n"
      "spawn t.1\ntrap t.3 -> n\nrecv t\nspawn t.3\ntrap t.4 -> m\n");
  ASSERT_EQ(p.size(), 9u);
  EXPECT_EQ(First(p[0]), Outcome::Ok(0));
  EXPECT_EQ(First(p[1]), Outcome::Ok(2));
  EXPECT_EQ(First(p[2]), Outcome::Error(ENOSYS));
  EXPECT_EQ(p[2].cell, "FILTER.STACKED.NEWEST");
  EXPECT_EQ(First(p[3]), Outcome::Error(ENOSYS));
  EXPECT_EQ(First(p[4]), Outcome::Ok(3));
  EXPECT_EQ(First(p[5]), Outcome::Blocked());
  EXPECT_EQ(First(p[6]), Outcome::Ok(1));  // n, the second notification: lost took no id
  EXPECT_TRUE(p[7].skip);                  // task 3 is blocked in n
  EXPECT_TRUE(p[8].skip);                  // task 4 was never made

  const std::vector<Prediction> busy = PredictChecked(
      "target t callers=0\ninstall_filter t NEW_LISTENER\nspawn t.0\ntrap t.1 -> n\nrecv t\n");
  ASSERT_EQ(busy.size(), 4u);
  EXPECT_EQ(First(busy[0]), Outcome::Error(EBUSY));  // has_duplicate_listener: no new filter
  EXPECT_EQ(First(busy[2]), Outcome::Blocked());
  EXPECT_EQ(First(busy[3]), Outcome::Ok(0));
}

// FILTER.SPAWN.USER: a spawned task is a user of the filter: its notification reaches the
// listener (and the cell is reached), the listener polls POLLHUP only once every task is
// gone, and a spawn the model skips keeps its number.
TEST(ModelChecks, SpawnedTasksAreUsers) {
  std::set<std::string> reached;
  const std::vector<Prediction> p = PredictChecked(
      "target t callers=0\nspawn t.0\ntrap t.1 -> n\nspawn t.1\nspawn t.0\nrecv t\n"
      "signal t.1 SIGALRM\npoll t POLLIN\ntrap t.3 -> m\nkill t\npoll t POLLIN\n",
      &reached);
  ASSERT_EQ(p.size(), 10u);
  EXPECT_EQ(First(p[0]), Outcome::Ok(1));
  EXPECT_EQ(First(p[1]), Outcome::Blocked());
  EXPECT_TRUE(reached.count("FILTER.SPAWN.USER"));
  EXPECT_TRUE(p[2].skip);                  // task 1 is in its trap: task 2 is never made
  EXPECT_EQ(First(p[3]), Outcome::Ok(3));  // the next spawn keeps the scenario's number
  EXPECT_EQ(First(p[6]), Outcome::Ok(0));  // task 1 died with n; tasks 0 and 3 are users
  EXPECT_EQ(First(p[7]), Outcome::Blocked());
  EXPECT_EQ(First(p[9]), Outcome::Ok(16));  // POLLHUP once every task is gone
}

// FILTER.SPAWN.THREAD: a default-action signal to one thread is fatal to its whole group
// at once: the caller that made the thread dies with it, and both notifications go; a
// process spawned from that caller, and the other caller, live on. A thread of the
// leader's group takes every task with it.
TEST(ModelChecks, AThreadsFatalSignalEndsItsGroup) {
  std::set<std::string> reached;
  const std::vector<Prediction> p = PredictChecked(
      "target t callers=2\nspawn t.1 thread\nspawn t.1\ntrap t.3 -> a\ntrap t.1 -> b\n"
      "trap t.4 -> c\nsignal t.3 SIGALRM\nsettle\nrecv t\npoll t POLLIN\n",
      &reached);
  ASSERT_EQ(p.size(), 9u);
  EXPECT_EQ(First(p[0]), Outcome::Ok(3));
  EXPECT_EQ(p[0].cell, "FILTER.SPAWN.THREAD");
  EXPECT_EQ(First(p[1]), Outcome::Ok(4));
  EXPECT_EQ(First(p[7]), Outcome::Ok(2));  // c: a and b went with the group
  EXPECT_EQ(First(p[8]), Outcome::Ok(0));  // the leader, caller 2 and task 4 are users
  EXPECT_TRUE(reached.count("FILTER.SPAWN.THREAD"));

  const std::vector<Prediction> leader = PredictChecked(
      "target t callers=1\nspawn t.0 thread\ntrap t.1 -> a\nsignal t.2 SIGALRM\nsettle\n"
      "poll t POLLIN\n");
  ASSERT_EQ(leader.size(), 5u);
  EXPECT_EQ(First(leader[4]), Outcome::Ok(16));  // the leader's group: every task gone
}

// FILTER.TSYNC.THREADS: a filter installed with TSYNC goes on the leader's threads made
// before it (they trap into it: ENOSYS); without TSYNC they keep their stack; a process
// spawned before it keeps its own either way.
TEST(ModelChecks, TsyncPutsTheFilterOnTheLeadersThreads) {
  std::set<std::string> reached;
  const std::vector<Prediction> p = PredictChecked(
      "target t callers=0\nspawn t.0 thread\nspawn t.0\ninstall_filter t 0\n"
      "trap t.1 -> a\nrecv t\nsend a\nreturned a\ninstall_filter t TSYNC\n"
      "trap t.1 -> lost\ntrap t.2 -> b\n",
      &reached);
  ASSERT_EQ(p.size(), 10u);
  EXPECT_TRUE(reached.count("FILTER.TSYNC.THREADS"));
  EXPECT_EQ(First(p[3]), Outcome::Blocked());  // no TSYNC: the thread keeps ours
  EXPECT_EQ(First(p[7]), Outcome::Ok(0));
  EXPECT_EQ(First(p[8]), Outcome::Error(ENOSYS));
  EXPECT_EQ(First(p[9]), Outcome::Blocked());  // a process: TSYNC does not reach it
}

}  // namespace
}  // namespace addfdlab
