// Minimization with a scripted runner in place of the executor: ops the verdict does not
// need go, the verdict's signature stays, and only valid scenarios are ever run.
#include "addfdlab/minimize.h"

#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "addfdlab/oracle.h"
#include "addfdlab/scenario_text.h"

namespace addfdlab {
namespace {

// Padded around the three ops that make the finding (trap, recv, addfd of a closed fd).
constexpr const char* kPadded =
    "cell ADDFD.SRCFD.BAD\n"
    "target t\n"
    "\n"
    "open t devnull -> a\n"
    "trap t.1 -> n\n"
    "dup t a -> b\n"
    "recv t\n"
    "nofile t 64\n"
    "addfd n src=closed\n"
    "close t b\n"
    "send n error=ENOSYS\n"
    "returned n\n"
    "settle\n";

Scenario Parse(const std::string& text) {
  ParseError error;
  auto scenario = ParseScenario(text, "test.scn", &error);
  EXPECT_TRUE(scenario) << error.ToString();
  return scenario.value_or(Scenario{});
}

std::vector<OpKind> Kinds(const Scenario& s) {
  std::vector<OpKind> kinds;
  for (const Op& op : s.ops) kinds.push_back(op.kind);
  return kinds;
}

// A stand-in for Executor::Run: a contract verdict on an ADDFD of a closed source that
// follows a RECV; with `send_too`, an ADDFD-less run reports the same cell on the SEND
// instead (another signature: it must not count).
std::optional<Verdict> ScriptedRun(const Scenario& s, bool send_too = false) {
  bool received = false;
  for (size_t i = 0; i < s.ops.size(); ++i) {
    const Op& op = s.ops[i];
    if (op.kind == OpKind::kRecv) received = true;
    if (op.kind == OpKind::kAddFd && op.src == SourceKind::kClosed && received) {
      Verdict v;
      v.kind = Verdict::Kind::kContract;
      v.op = static_cast<int>(i);
      v.cell = "ADDFD.SRCFD.BAD";
      v.expected = "EBADF";
      v.observed = "ok 3";
      return v;
    }
  }
  if (send_too) {
    for (size_t i = 0; i < s.ops.size(); ++i) {
      if (s.ops[i].kind != OpKind::kSend) continue;
      Verdict v;
      v.kind = Verdict::Kind::kContract;
      v.op = static_cast<int>(i);
      v.cell = "ADDFD.SRCFD.BAD";
      return v;
    }
  }
  return std::nullopt;
}

// What tools/fuzz_command.cc passes: the run still has a verdict with the signature.
std::function<bool(const Scenario&)> SameSignature(const std::string& signature, bool send_too,
                                                   int* runs) {
  return [signature, send_too, runs](const Scenario& candidate) {
    ++*runs;
    EXPECT_TRUE(ValidateScenario(candidate)) << PrintScenario(candidate);
    const std::optional<Verdict> v = ScriptedRun(candidate, send_too);
    return v && v->Signature(candidate) == signature;
  };
}

TEST(MinimizeScenario, KeepsOnlyTheOpsTheVerdictNeeds) {
  const Scenario padded = Parse(kPadded);
  const std::optional<Verdict> original = ScriptedRun(padded);
  ASSERT_TRUE(original);
  const std::string signature = original->Signature(padded);
  ASSERT_EQ(signature, "contract:ADDFD.SRCFD.BAD:addfd");

  int runs = 0;
  const Scenario minimal = MinimizeScenario(padded, SameSignature(signature, false, &runs));
  EXPECT_GT(runs, 0);
  EXPECT_EQ(PrintScenario(minimal),
            "cell ADDFD.SRCFD.BAD\n"
            "target t\n"
            "\n"
            "trap t.1 -> n\n"
            "recv t\n"
            "addfd n src=closed\n");
  EXPECT_EQ(Kinds(minimal), (std::vector<OpKind>{OpKind::kTrap, OpKind::kRecv, OpKind::kAddFd}));
  // Headers stay, and the minimal scenario still fails the same way.
  EXPECT_EQ(minimal.cells, padded.cells);
  EXPECT_EQ(minimal.targets, padded.targets);
  const std::optional<Verdict> after = ScriptedRun(minimal);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->Signature(minimal), signature);
  EXPECT_EQ(after->op, 2);
}

TEST(MinimizeScenario, AVerdictWithAnotherSignatureDoesNotCount) {
  // Without the ADDFD the scripted run still reports ADDFD.SRCFD.BAD, but on the SEND:
  // a different finding, so the ADDFD (and the SEND it would fall back to) must stay.
  const Scenario padded = Parse(kPadded);
  const std::string signature = ScriptedRun(padded, true)->Signature(padded);
  int runs = 0;
  const Scenario minimal = MinimizeScenario(padded, SameSignature(signature, true, &runs));
  EXPECT_EQ(Kinds(minimal), (std::vector<OpKind>{OpKind::kTrap, OpKind::kRecv, OpKind::kAddFd}));
  EXPECT_EQ(ScriptedRun(minimal, true)->Signature(minimal), signature);
}

TEST(MinimizeScenario, AMinimalScenarioIsReturnedUnchanged) {
  const Scenario minimal =
      Parse("cell ADDFD.SRCFD.BAD\ntarget t\n\ntrap t.1 -> n\nrecv t\naddfd n src=closed\n");
  int runs = 0;
  const std::string signature = ScriptedRun(minimal)->Signature(minimal);
  EXPECT_EQ(MinimizeScenario(minimal, SameSignature(signature, false, &runs)), minimal);
}

TEST(MinimizeScenario, NothingFailsNothingGoes) {
  const Scenario padded = Parse(kPadded);
  int runs = 0;
  const Scenario same = MinimizeScenario(padded, [&runs](const Scenario&) {
    ++runs;
    return false;
  });
  EXPECT_EQ(same, padded);
  EXPECT_GT(runs, 0);
}

TEST(MinimizeScenario, NeverRunsAnEmptyScenario) {
  // A runner that fails on anything would take every op; the last one stays.
  const Scenario padded = Parse(kPadded);
  std::set<size_t> sizes;
  const Scenario smallest = MinimizeScenario(padded, [&sizes](const Scenario& s) {
    EXPECT_TRUE(ValidateScenario(s));
    sizes.insert(s.ops.size());
    return true;
  });
  EXPECT_EQ(smallest.ops.size(), 1u);
  EXPECT_EQ(sizes.count(0), 0u);
}

}  // namespace
}  // namespace addfdlab
