// The C reproducer generator without a kernel: what it writes and what it refuses.
#include "addfdlab/emit_c.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "addfdlab/scenario_text.h"

namespace addfdlab {
namespace {

Scenario MustParse(std::string_view text) {
  ParseError error;
  std::optional<Scenario> scenario = ParseScenario(text, "t.scn", &error);
  EXPECT_TRUE(scenario.has_value()) << error.ToString();
  return scenario.value_or(Scenario{});
}

TEST(EmitC, OneFunctionPerOpWithItsLineAndTheModelsAnswers) {
  const Scenario s = MustParse(
      "cell ADDFD.OK\ntarget t0\ntrap t0.1 -> n\nrecv t0 expect ok=n\n"
      "addfd n src=memfd -> injected expect ok\nsend n val=injected\nreturned n\nsettle\n");
  EmitCOptions options;
  options.source_name = "ok.scn";
  const Result<std::string> program = EmitC(s, options);
  ASSERT_TRUE(program.has_value()) << program.error().message();
  EXPECT_NE(program->find("/* op 3: addfd n -> injected expect ok */"), std::string::npos);
  EXPECT_NE(program->find("static void op_6(void)"), std::string::npos);
  EXPECT_NE(program->find("static void op_end(void)"), std::string::npos);
  // The model's answer to the addfd (fd 0 in an empty table) and the table at the settle.
  EXPECT_NE(program->find("{OUT_OK, 0, 0}"), std::string::npos);
  EXPECT_NE(program->find("/* t0: 0=memfd */"), std::string::npos);
  // Self-contained: no addfdlab, no C++, no libseccomp.
  EXPECT_EQ(program->find("#include \"addfdlab"), std::string::npos);
  EXPECT_EQ(program->find("seccomp.h"), std::string::npos);
  EXPECT_NE(program->find("int main(void)"), std::string::npos);
}

TEST(EmitC, WritesEveryOpKind) {
  std::ifstream in(std::string(ADDFDLAB_SCN_DIR) + "/every_op.scn");
  std::stringstream text;
  text << in.rdbuf();
  Scenario s = MustParse(text.str());
  // emulates= and spawn are refused (EmitC.RefusesEmulates, EmitC.RefusesSpawn); every
  // other op kind is written. every_op.scn ends with its spawn and the trap that needs it.
  for (Op& op : s.ops) op.emulates = EmulatedCall::kNone;
  ASSERT_EQ(s.ops[s.ops.size() - 2].kind, OpKind::kSpawn);
  s.ops.resize(s.ops.size() - 2);
  s.notifs.pop_back();  // the removed trap's
  const Result<std::string> program = EmitC(s, EmitCOptions{});
  ASSERT_TRUE(program.has_value()) << program.error().message();
  EXPECT_NE(program->find("the supervisor's own work: no syscall"), std::string::npos);
  for (size_t i = 0; i < s.ops.size(); ++i) {
    EXPECT_NE(program->find("static void op_" + std::to_string(i + 1) + "(void)"),
              std::string::npos)
        << PrintOp(s, i);
  }
}

// The program checks the kernel, not the supervisor's PATTERN.CLOEXEC: a scenario that asks
// for that check is refused, naming the op, rather than passing where the executor does not.
TEST(EmitC, RefusesEmulates) {
  const Scenario s =
      MustParse("target t\ntrap t.1 -> n\nrecv t\naddfd n flags=SEND emulates=open(O_CLOEXEC)\n");
  const Result<std::string> program = EmitC(s, EmitCOptions{});
  ASSERT_FALSE(program.has_value());
  EXPECT_NE(program.error().message().find("op 3 (`addfd n flags=SEND emulates=open(O_CLOEXEC)`)"),
            std::string::npos)
      << program.error().message();
  EXPECT_NE(program.error().message().find("PATTERN.CLOEXEC"), std::string::npos);
}

// The prelude has no command that makes a task: a scenario with `spawn` is refused, naming
// the op, and no program is written.
TEST(EmitC, RefusesSpawn) {
  const Scenario s = MustParse("target t callers=0\nspawn t.0\ntrap t.1 -> n\n");
  const Result<std::string> program = EmitC(s, EmitCOptions{});
  ASSERT_FALSE(program.has_value());
  EXPECT_NE(program.error().message().find(
                "op 1 (`spawn t.0`): 'spawn' is not supported by the C generator yet"),
            std::string::npos)
      << program.error().message();
}

TEST(EmitC, RefusesAnInvalidScenario) {
  Scenario s = MustParse("target t\ntrap t.1 -> n\nrecv t\n");
  s.ops[1].target = 5;
  const Result<std::string> program = EmitC(s, EmitCOptions{});
  ASSERT_FALSE(program.has_value());
  EXPECT_EQ(program.error().value(), EINVAL);
}

// A trapped dup: the agent's command with the fd's number, and the filter's tag compare.
TEST(EmitC, TrapDupSendsTheFdAndTheFilterMatchesTheTag) {
  const Scenario s = MustParse(
      "target t\nopen t devnull -> f\nopen t devnull -> g\ntrap t.1 dup=g -> n\nrecv t\n"
      "send n flags=CONTINUE\nreturned n expect ok=2\nsettle\n");
  const Result<std::string> program = EmitC(s, EmitCOptions{});
  ASSERT_TRUE(program.has_value()) << program.error().message();
  EXPECT_NE(program->find("CMD_TRAP_DUP, 1, 0, 0"), std::string::npos);
  EXPECT_NE(program->find("offsetof(struct r_notif_data, args[0]) + 4"), std::string::npos);
  EXPECT_NE(program->find("#define DUP_TRAP_TAG 0xadfd0d0bu"), std::string::npos);
  EXPECT_NE(program->find("/* t: 0=L0 1=L1 2=L1 */"), std::string::npos) << *program;
}

}  // namespace
}  // namespace addfdlab
