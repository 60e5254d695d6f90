// The oracles on synthetic tables and outcomes: each verdict kind, with its fd and its
// expected/observed text, so that an oracle that stops producing one fails here.
#include "addfdlab/oracle.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <map>

#include "addfdlab/scenario_text.h"

namespace addfdlab {
namespace {

constexpr ModelFile kMemfd{ModelFile::Kind::kSource, static_cast<int>(SourceKind::kMemfd)};
constexpr ModelFile kPipeRead{ModelFile::Kind::kSource, static_cast<int>(SourceKind::kPipeRead)};
constexpr ModelFile kLocal0{ModelFile::Kind::kLocal, 0};

ObservedFd Seen(std::optional<ModelFile> file, bool cloexec, std::string description) {
  ObservedFd fd;
  fd.file = file;
  fd.cloexec = cloexec;
  fd.description = std::move(description);
  return fd;
}

// A verdict as "kind fd op: expected | observed", to compare whole verdicts in one line.
std::string Brief(const Verdict& v) {
  return std::string(VerdictKindName(v.kind)) + " fd " + std::to_string(v.fd) + " op " +
         std::to_string(v.op) + ": " + v.expected + " | " + v.observed;
}

std::vector<std::string> Briefs(const std::vector<Verdict>& verdicts) {
  std::vector<std::string> out;
  for (const Verdict& v : verdicts) out.push_back(Brief(v));
  return out;
}

TEST(CompareFdTables, SameTablesHaveNoVerdict) {
  const std::map<int, ModelFd> expected = {{0, {kMemfd, false}}, {3, {kLocal0, true}}};
  const std::map<int, ObservedFd> observed = {{0, Seen(kMemfd, false, "/memfd:x")},
                                              {3, Seen(kLocal0, true, "/dev/null")}};
  EXPECT_TRUE(CompareFdTables(expected, observed, 2).empty());
  EXPECT_TRUE(CompareFdTables({}, {}, -1).empty());
}

TEST(CompareFdTables, AnFdTheModelDoesNotHaveIsLeaked) {
  const std::map<int, ModelFd> expected = {{0, {kMemfd, false}}};
  const std::map<int, ObservedFd> observed = {{0, Seen(kMemfd, false, "/memfd:x")},
                                              {7, Seen(std::nullopt, true, "/dev/null")}};
  const std::vector<Verdict> verdicts = CompareFdTables(expected, observed, 4);
  ASSERT_EQ(verdicts.size(), 1u);
  const Verdict& v = verdicts[0];
  EXPECT_EQ(v.kind, Verdict::Kind::kLeaked);
  EXPECT_STREQ(VerdictKindName(v.kind), "leaked-fd");
  EXPECT_EQ(v.fd, 7);
  EXPECT_EQ(v.op, 4);
  EXPECT_EQ(v.cell, "");
  EXPECT_EQ(v.expected, "closed");
  EXPECT_EQ(v.observed, "an unknown file /dev/null");
}

// Each verdict carries the cell the model names for its number (what installed it there),
// so that a known deviation is matched in the table too; numbers without one name none.
TEST(CompareFdTables, VerdictsCarryTheirNumbersCell) {
  const std::map<int, ModelFd> expected = {{0, {kMemfd, false}}, {3, {kLocal0, false}}};
  const std::map<int, ObservedFd> observed = {{5, Seen(kMemfd, false, "/memfd:x")}};
  const std::vector<Verdict> verdicts =
      CompareFdTables(expected, observed, 2, {{0, "ADDFD.INTR.SEND"}, {5, "ADDFD.OK.LOWEST"}});
  ASSERT_EQ(verdicts.size(), 3u);
  EXPECT_EQ(verdicts[0].kind, Verdict::Kind::kDangling);
  EXPECT_EQ(verdicts[0].cell, "ADDFD.INTR.SEND");
  EXPECT_EQ(verdicts[1].fd, 3);
  EXPECT_EQ(verdicts[1].cell, "");
  EXPECT_EQ(verdicts[2].kind, Verdict::Kind::kLeaked);
  EXPECT_EQ(verdicts[2].cell, "ADDFD.OK.LOWEST");
}

TEST(CompareFdTables, AKnownFileThatLeakedIsNamed) {
  const std::map<int, ObservedFd> observed = {{5, Seen(kPipeRead, false, "pipe:[1]")}};
  const std::vector<Verdict> verdicts = CompareFdTables({}, observed, -1);
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(Brief(verdicts[0]), "leaked-fd fd 5 op -1: closed | source pipe_r pipe:[1]");
}

TEST(CompareFdTables, AnFdTheModelHasButTheTargetClosedIsDangling) {
  const std::map<int, ModelFd> expected = {{0, {kMemfd, false}}, {4, {kLocal0, false}}};
  const std::map<int, ObservedFd> observed = {{0, Seen(kMemfd, false, "/memfd:x")}};
  const std::vector<Verdict> verdicts = CompareFdTables(expected, observed, 1);
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].kind, Verdict::Kind::kDangling);
  EXPECT_EQ(Brief(verdicts[0]), "dangling-fd fd 4 op 1: target file #0 | closed");
}

TEST(CompareFdTables, AnotherFileAtTheNumberIsWrongFile) {
  const std::map<int, ModelFd> expected = {{2, {kMemfd, true}}};
  // Same cloexec, so that only the file differs.
  const std::map<int, ObservedFd> observed = {{2, Seen(kPipeRead, true, "pipe:[9]")}};
  const std::vector<Verdict> verdicts = CompareFdTables(expected, observed, 3);
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].kind, Verdict::Kind::kWrongFile);
  EXPECT_EQ(Brief(verdicts[0]), "wrong-file fd 2 op 3: source memfd | source pipe_r pipe:[9]");
}

TEST(CompareFdTables, AnUnknownFileAtTheNumberIsWrongFile) {
  const std::map<int, ModelFd> expected = {{2, {kLocal0, false}}};
  const std::map<int, ObservedFd> observed = {{2, Seen(std::nullopt, false, "/dev/zero")}};
  const std::vector<Verdict> verdicts = CompareFdTables(expected, observed, 0);
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(Brief(verdicts[0]), "wrong-file fd 2 op 0: target file #0 | an unknown file /dev/zero");
}

TEST(CompareFdTables, TheRightFileWithAnotherCloexecIsWrongCloexec) {
  const std::map<int, ModelFd> expected = {{6, {kMemfd, false}}, {8, {kLocal0, true}}};
  const std::map<int, ObservedFd> observed = {{6, Seen(kMemfd, true, "/memfd:x")},
                                              {8, Seen(kLocal0, false, "/dev/null")}};
  const std::vector<Verdict> verdicts = CompareFdTables(expected, observed, 5);
  ASSERT_EQ(verdicts.size(), 2u);
  for (const Verdict& v : verdicts) {
    EXPECT_EQ(v.kind, Verdict::Kind::kCloexec);
    EXPECT_STREQ(VerdictKindName(v.kind), "wrong-cloexec");
    EXPECT_EQ(v.op, 5);
  }
  EXPECT_EQ(verdicts[0].fd, 6);
  EXPECT_EQ(verdicts[0].expected, "no cloexec");
  EXPECT_EQ(verdicts[0].observed, "cloexec");
  EXPECT_EQ(verdicts[1].fd, 8);
  EXPECT_EQ(verdicts[1].expected, "cloexec");
  EXPECT_EQ(verdicts[1].observed, "no cloexec");
}

TEST(CompareFdTables, AWrongFileIsNotAlsoReportedForItsCloexec) {
  const std::map<int, ModelFd> expected = {{1, {kMemfd, false}}};
  const std::map<int, ObservedFd> observed = {{1, Seen(kPipeRead, true, "pipe:[9]")}};
  EXPECT_EQ(
      Briefs(CompareFdTables(expected, observed, 0)),
      std::vector<std::string>{"wrong-file fd 1 op 0: source memfd | source pipe_r pipe:[9]"});
}

TEST(CompareFdTables, SeveralDifferencesAtOnceOneVerdictPerFd) {
  const std::map<int, ModelFd> expected = {
      {0, {kMemfd, false}},     // as observed
      {1, {kLocal0, false}},    // closed in the target
      {2, {kMemfd, false}},     // holds a pipe
      {3, {kPipeRead, false}},  // cloexec set
  };
  const std::map<int, ObservedFd> observed = {
      {0, Seen(kMemfd, false, "/memfd:x")},
      {2, Seen(kPipeRead, false, "pipe:[9]")},
      {3, Seen(kPipeRead, true, "pipe:[9]")},
      {9, Seen(std::nullopt, false, "socket:[5]")},
  };
  // The model's fds in order, then the fds only the target has.
  EXPECT_EQ(Briefs(CompareFdTables(expected, observed, 7)),
            (std::vector<std::string>{
                "dangling-fd fd 1 op 7: target file #0 | closed",
                "wrong-file fd 2 op 7: source memfd | source pipe_r pipe:[9]",
                "wrong-cloexec fd 3 op 7: no cloexec | cloexec",
                "leaked-fd fd 9 op 7: closed | an unknown file socket:[5]",
            }));
}

TEST(DescribeModelFile, EachKind) {
  EXPECT_EQ(DescribeModelFile(std::nullopt), "an unknown file");
  EXPECT_EQ(DescribeModelFile(kMemfd), "source memfd");
  EXPECT_EQ(DescribeModelFile(ModelFile{ModelFile::Kind::kLocal, 3}), "target file #3");
  EXPECT_EQ(DescribeModelFile(ModelFile{ModelFile::Kind::kHarness, 1}), "harness fd");
}

Prediction Allowing(std::vector<Outcome> allowed, std::string cell) {
  Prediction p;
  p.allowed = std::move(allowed);
  p.cell = std::move(cell);
  return p;
}

TEST(CheckOutcome, AnAllowedOutcomeHasNoVerdict) {
  const Prediction p = Allowing({Outcome::Error(EBADF), Outcome::Ok(3)}, "ADDFD.SRCFD.BAD");
  EXPECT_FALSE(CheckOutcome(p, Outcome::Error(EBADF), 2));
  EXPECT_FALSE(CheckOutcome(p, Outcome::Ok(3), 2));
}

TEST(CheckOutcome, AnotherOutcomeIsAContractVerdictOnTheCell) {
  const Prediction p = Allowing({Outcome::Error(EBADF), Outcome::Ok(3)}, "ADDFD.SRCFD.BAD");
  for (const Outcome& observed : {Outcome::Error(EINVAL), Outcome::Ok(4), Outcome::Blocked()}) {
    const std::optional<Verdict> v = CheckOutcome(p, observed, 2);
    ASSERT_TRUE(v) << DescribeOutcome(observed);
    EXPECT_EQ(v->kind, Verdict::Kind::kContract);
    EXPECT_EQ(v->op, 2);
    EXPECT_EQ(v->cell, "ADDFD.SRCFD.BAD");
    EXPECT_EQ(v->fd, -1);
    EXPECT_EQ(v->expected, "EBADF or ok 3");
    EXPECT_EQ(v->observed, DescribeOutcome(observed));
  }
  EXPECT_EQ(CheckOutcome(p, Outcome::Error(EINVAL), 2)->observed, "EINVAL");
  EXPECT_EQ(CheckOutcome(p, Outcome::Ok(4), 2)->observed, "ok 4");
  EXPECT_EQ(CheckOutcome(p, Outcome::Blocked(), 2)->observed, "blocked");
}

TEST(CheckOutcome, AnEmptyAllowedSetChecksNothing) {
  const Prediction p = Allowing({}, "ADDFD.OK");
  EXPECT_FALSE(CheckOutcome(p, Outcome::Error(EINVAL), 0));
  EXPECT_FALSE(CheckOutcome(p, Outcome::Ok(12), 0));
  EXPECT_FALSE(CheckOutcome(p, Outcome::Blocked(), 0));
}

Op Expecting(bool present, bool any_value, Outcome outcome) {
  Op op;
  op.kind = OpKind::kAddFd;
  op.expect.present = present;
  op.expect.any_value = any_value;
  op.expect.outcome = outcome;
  return op;
}

TEST(CheckExpect, NoClauseChecksNothing) {
  EXPECT_FALSE(CheckExpect(Op{}, Outcome::Error(EINVAL), 0, "ADDFD.OK"));
  EXPECT_FALSE(CheckExpect(Expecting(false, false, Outcome::Ok(3)), Outcome::Error(EBADF), 0, ""));
}

TEST(CheckExpect, AnExactClauseHoldsOnlyForThatOutcome) {
  const Op op = Expecting(true, false, Outcome::Error(EBUSY));
  EXPECT_FALSE(CheckExpect(op, Outcome::Error(EBUSY), 3, "ADDFD.SEND.BUSY"));
  const std::optional<Verdict> v = CheckExpect(op, Outcome::Ok(5), 3, "ADDFD.SEND.BUSY");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->kind, Verdict::Kind::kExpect);
  EXPECT_STREQ(VerdictKindName(v->kind), "expect");
  EXPECT_EQ(v->op, 3);
  EXPECT_EQ(v->cell, "ADDFD.SEND.BUSY");
  EXPECT_EQ(v->expected, "EBUSY");
  EXPECT_EQ(v->observed, "ok 5");
  // ok=4 is not ok=5.
  const std::optional<Verdict> other =
      CheckExpect(Expecting(true, false, Outcome::Ok(4)), Outcome::Ok(5), 1, "ADDFD.OK");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->expected, "ok 4");
  EXPECT_EQ(other->observed, "ok 5");
}

TEST(CheckExpect, ExpectOkTakesAnyValueButNoError) {
  const Op op = Expecting(true, true, Outcome::Ok(0));
  EXPECT_FALSE(CheckExpect(op, Outcome::Ok(0), 0, "ADDFD.OK"));
  EXPECT_FALSE(CheckExpect(op, Outcome::Ok(17), 0, "ADDFD.OK"));
  const std::optional<Verdict> v = CheckExpect(op, Outcome::Error(EMFILE), 6, "ADDFD.RLIMIT");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->kind, Verdict::Kind::kExpect);
  EXPECT_EQ(v->op, 6);
  EXPECT_EQ(v->cell, "ADDFD.RLIMIT");
  EXPECT_EQ(v->expected, "ok");
  EXPECT_EQ(v->observed, "EMFILE");
  EXPECT_TRUE(CheckExpect(op, Outcome::Blocked(), 6, "ADDFD.RLIMIT"));
}

Scenario TwoOps() {
  Scenario s;
  s.targets.push_back(TargetDecl{"t"});
  Op trap;
  trap.kind = OpKind::kTrap;
  Op addfd;
  addfd.kind = OpKind::kAddFd;
  s.ops = {trap, addfd};
  return s;
}

Verdict Make(Verdict::Kind kind, int op, std::string cell, int fd = -1) {
  Verdict v;
  v.kind = kind;
  v.op = op;
  v.cell = std::move(cell);
  v.fd = fd;
  return v;
}

TEST(VerdictSignature, KindCellAndOpKind) {
  const Scenario s = TwoOps();
  EXPECT_EQ(Make(Verdict::Kind::kContract, 1, "ADDFD.SRCFD.BAD").Signature(s),
            "contract:ADDFD.SRCFD.BAD:addfd");
  EXPECT_EQ(Make(Verdict::Kind::kHang, 0, "").Signature(s), "hang:-:trap");
}

TEST(VerdictSignature, EndAndOutOfRangeOpsAreTheEnd) {
  const Scenario s = TwoOps();
  EXPECT_EQ(Make(Verdict::Kind::kLeaked, -1, "").Signature(s), "leaked-fd:-:end");
  EXPECT_EQ(Make(Verdict::Kind::kDangling, 2, "").Signature(s), "dangling-fd:-:end");
  EXPECT_EQ(Make(Verdict::Kind::kCloexec, 99, "X.Y").Signature(s), "wrong-cloexec:X.Y:end");
}

TEST(VerdictSignature, IgnoresFdOpIndexAndText) {
  const Scenario s = TwoOps();
  Verdict a = Make(Verdict::Kind::kWrongFile, -1, "", 3);
  a.expected = "source memfd";
  Verdict b = Make(Verdict::Kind::kWrongFile, 5, "", 4);
  b.observed = "x";
  EXPECT_EQ(a.Signature(s), b.Signature(s));
}

TEST(VerdictDescribe, OpInRange) {
  const Scenario s = TwoOps();
  Verdict v = Make(Verdict::Kind::kContract, 1, "ADDFD.SRCFD.BAD");
  v.expected = "EBADF";
  v.observed = "ok 3";
  EXPECT_EQ(v.Describe(s),
            "contract [ADDFD.SRCFD.BAD] at op 2 (addfd): expected EBADF, observed ok 3");
  v.detail = "why";
  EXPECT_EQ(v.Describe(s),
            "contract [ADDFD.SRCFD.BAD] at op 2 (addfd): expected EBADF, observed ok 3 (why)");
}

TEST(VerdictDescribe, EndOfRunWithFdAndNoCell) {
  const Scenario s = TwoOps();
  Verdict v = Make(Verdict::Kind::kLeaked, -1, "", 7);
  v.expected = "closed";
  v.observed = "an unknown file /dev/null";
  EXPECT_EQ(v.Describe(s),
            "leaked-fd at the end fd 7: expected closed, observed an unknown file /dev/null");
}

TEST(VerdictDescribe, OutOfRangeOpNamesNoOp) {
  const Scenario s = TwoOps();
  Verdict v = Make(Verdict::Kind::kDangling, 2, "", 1);
  v.expected = "source memfd";
  v.observed = "closed";
  EXPECT_EQ(v.Describe(s), "dangling-fd fd 1: expected source memfd, observed closed");
}

TEST(VerdictDescribe, WithoutExpectedOrObservedOnlyTheDetail) {
  const Scenario s = TwoOps();
  Verdict v = Make(Verdict::Kind::kHang, 0, "");
  EXPECT_EQ(v.Describe(s), "hang at op 1 (trap)");
  v.detail = "targets did not go quiet";
  EXPECT_EQ(v.Describe(s), "hang at op 1 (trap) (targets did not go quiet)");
}

TEST(VerdictKindName, EveryKind) {
  EXPECT_STREQ(VerdictKindName(Verdict::Kind::kContract), "contract");
  EXPECT_STREQ(VerdictKindName(Verdict::Kind::kExpect), "expect");
  EXPECT_STREQ(VerdictKindName(Verdict::Kind::kLeaked), "leaked-fd");
  EXPECT_STREQ(VerdictKindName(Verdict::Kind::kDangling), "dangling-fd");
  EXPECT_STREQ(VerdictKindName(Verdict::Kind::kWrongFile), "wrong-file");
  EXPECT_STREQ(VerdictKindName(Verdict::Kind::kCloexec), "wrong-cloexec");
  EXPECT_STREQ(VerdictKindName(Verdict::Kind::kHygiene), "hygiene");
  EXPECT_STREQ(VerdictKindName(Verdict::Kind::kHang), "hang");
  EXPECT_STREQ(VerdictKindName(Verdict::Kind::kHarness), "harness");
}

// PATTERN.CLOEXEC: an injection standing in for a syscall must leave the fd with the
// close-on-exec flag that syscall would have given.
TEST(CheckEmulatedCloexec, WrongFlagIsFlagged) {
  const std::map<int, EmulatedCall> emulated = {{0, EmulatedCall::kOpenCloexec}};
  const std::map<int, ObservedFd> observed = {{0, Seen(kMemfd, false, "/memfd:x")}};
  const std::vector<Verdict> verdicts = CheckEmulatedCloexec(emulated, observed, 4);
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(Brief(verdicts[0]),
            "wrong-cloexec fd 0 op 4: cloexec, as open(O_CLOEXEC) makes it | no cloexec");
  EXPECT_EQ(verdicts[0].cell, "PATTERN.CLOEXEC");
  EXPECT_TRUE(IsPatternCell(verdicts[0].cell));
  EXPECT_FALSE(IsContractCell(verdicts[0].cell));
}

TEST(CheckEmulatedCloexec, EachCallsRule) {
  struct Case {
    EmulatedCall call;
    bool cloexec;
  };
  const Case cases[] = {
      {EmulatedCall::kOpen, false},
      {EmulatedCall::kOpenCloexec, true},
      {EmulatedCall::kSocket, false},
      {EmulatedCall::kSocketCloexec, true},
      {EmulatedCall::kAccept, false},
      {EmulatedCall::kAccept4, false},
      {EmulatedCall::kAccept4Cloexec, true},
      {EmulatedCall::kPipe2, false},
      {EmulatedCall::kPipe2Cloexec, true},
      {EmulatedCall::kEventfd, false},
      {EmulatedCall::kEventfdCloexec, true},
      {EmulatedCall::kMemfdCreate, false},
      {EmulatedCall::kMemfdCreateCloexec, true},
      {EmulatedCall::kRecvmsg, false},
      {EmulatedCall::kRecvmsgCloexec, true},
      {EmulatedCall::kBpf, true},
      {EmulatedCall::kPidfdOpen, true},
  };
  ASSERT_EQ(std::size(cases), static_cast<size_t>(kEmulatedCallCount - 1));
  for (const Case& c : cases) {
    const char* name = kEmulatedCallNames[static_cast<size_t>(c.call)];
    EXPECT_EQ(EmulatedCloexec(c.call), c.cloexec) << name;
    const std::map<int, EmulatedCall> emulated = {{3, c.call}};
    EXPECT_TRUE(CheckEmulatedCloexec(emulated, {{3, Seen(kMemfd, c.cloexec, "")}}, 0).empty())
        << name;
    EXPECT_EQ(CheckEmulatedCloexec(emulated, {{3, Seen(kMemfd, !c.cloexec, "")}}, 0).size(), 1u)
        << name;
  }
}

TEST(CheckEmulatedCloexec, UnstatedOrClosedIsNotItsBusiness) {
  EXPECT_TRUE(
      CheckEmulatedCloexec({{0, EmulatedCall::kNone}}, {{0, Seen(kMemfd, true, "")}}, 0).empty());
  EXPECT_TRUE(CheckEmulatedCloexec({{5, EmulatedCall::kBpf}}, {}, 0).empty());
}

// The model carries an injection's emulated call to its fd number, follows the kernel's
// rule for FD_CLOEXEC (newfd_flags), and forgets the call once the number is closed: so a
// correct kernel passes the table oracle while the injection is flagged.
TEST(CheckEmulatedCloexec, ModelCarriesTheCallToTheFd) {
  ParseError error;
  const std::optional<Scenario> s = ParseScenario(
      "target t\n"
      "trap t.1 -> n\n"
      "recv t\n"
      "addfd n flags=SEND emulates=open(O_CLOEXEC)\n"
      "returned n\n"
      "trap t.2 -> m\n"
      "recv t\n"
      "addfd m flags=SEND src=socket newfd_flags=O_CLOEXEC emulates=accept4(SOCK_CLOEXEC)\n"
      "returned m\n"
      "settle\n"
      "close t 0\n"
      "settle\n",
      "x.scn", &error);
  ASSERT_TRUE(s.has_value()) << error.ToString();
  Model model(*s, ModelEnv{});
  const auto run_to = [&](size_t end, size_t begin) {
    for (size_t i = begin; i < end; ++i) {
      const Prediction p = model.Begin(static_cast<int>(i));
      ASSERT_FALSE(p.skip) << i;
      model.Step(static_cast<int>(i), p.allowed.empty() ? Outcome::Ok(0) : p.allowed.front());
    }
  };
  run_to(9, 0);
  EXPECT_EQ(model.FdEmulates(0), (std::map<int, EmulatedCall>{{0, EmulatedCall::kOpenCloexec},
                                                              {1, EmulatedCall::kAccept4Cloexec}}));
  const std::map<int, ModelFd> table = model.FdTable(0);
  std::map<int, ObservedFd> observed;  // what a correct kernel shows
  for (const auto& [fd, entry] : table) observed.emplace(fd, Seen(entry.file, entry.cloexec, ""));
  EXPECT_TRUE(CompareFdTables(table, observed, 9).empty());
  const std::vector<Verdict> verdicts = CheckEmulatedCloexec(model.FdEmulates(0), observed, 9);
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].fd, 0);
  run_to(11, 9);
  EXPECT_EQ(model.FdEmulates(0), (std::map<int, EmulatedCall>{{1, EmulatedCall::kAccept4Cloexec}}));
}

TEST(DescribeAllowed, JoinsWithOr) {
  EXPECT_EQ(DescribeAllowed({}), "");
  EXPECT_EQ(DescribeAllowed({Outcome::Ok(0)}), "ok");
  EXPECT_EQ(DescribeAllowed({Outcome::Error(EBADF), Outcome::Ok(3), Outcome::Blocked()}),
            "EBADF or ok 3 or blocked");
}

}  // namespace
}  // namespace addfdlab
