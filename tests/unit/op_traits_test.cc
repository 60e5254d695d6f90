// The op traits table (kOpTraits) against what the text format and the codec do with each
// kind: its name is its keyword, `on TH:` takes exactly the on_thread kinds, and the decoder
// sets exactly the fields each kind's mask names.
#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "addfdlab/scenario.h"
#include "addfdlab/scenario_codec.h"
#include "addfdlab/scenario_text.h"

namespace addfdlab {
namespace {

// Scenarios decoded from seeded random bytes (no name tables): between them, every kind.
std::vector<Scenario> RandomScenarios(int inputs) {
  std::vector<Scenario> out;
  std::mt19937 rng(11);
  for (int input = 0; input < inputs; ++input) {
    std::vector<uint8_t> bytes(rng() % 300);
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
    if (!bytes.empty()) bytes[0] = kCodecVersion;
    if (bytes.size() > 1) bytes[1] &= 0x7f;
    std::optional<Scenario> s = DecodeScenario(bytes.data(), bytes.size());
    if (s) out.push_back(std::move(*s));
  }
  return out;
}

// Each op's printed line starts with its kind's name, and the printed text parses back to
// the same kinds.
TEST(OpTraits, NamesAreTheKeywordsOfTheirKinds) {
  std::set<std::string> names;
  for (const OpTraits& row : kOpTraits) {
    EXPECT_TRUE(names.insert(row.name).second) << "duplicate name " << row.name;
    EXPECT_STREQ(OpKindName(row.kind), row.name);
  }
  std::set<OpKind> kinds;
  for (const Scenario& s : RandomScenarios(500)) {
    for (size_t i = 0; i < s.ops.size(); ++i) {
      const OpKind kind = s.ops[i].kind;
      kinds.insert(kind);
      std::string line = PrintOp(s, i);
      if (line.starts_with("on ")) line = line.substr(line.find(": ") + 2);
      const std::string name = OpTraitsOf(kind).name;
      EXPECT_TRUE(line == name || line.starts_with(name + " ")) << line;
    }
    ParseError error;
    const std::optional<Scenario> parsed = ParseScenario(PrintScenario(s), "printed.scn", &error);
    ASSERT_TRUE(parsed.has_value()) << error.ToString();
    ASSERT_EQ(parsed->ops.size(), s.ops.size());
    for (size_t i = 0; i < s.ops.size(); ++i) EXPECT_EQ(parsed->ops[i].kind, s.ops[i].kind);
  }
  EXPECT_EQ(kinds.size(), static_cast<size_t>(kOpKindCount));
}

TEST(OpTraits, OnThreadIsWhatTheParserAccepts) {
  for (const OpTraits& row : kOpTraits) {
    ParseError error;
    const std::string text = std::string("target t0\non th: ") + row.name + "\n";
    EXPECT_FALSE(ParseScenario(text, "on.scn", &error).has_value());  // arguments missing
    const bool refused = error.message.starts_with("'on THREAD:' applies only to");
    EXPECT_EQ(refused, !row.on_thread) << row.name << ": " << error.ToString();
    if (refused) {
      EXPECT_EQ(error.message, "'on THREAD:' applies only to recv, addfd and send");
    }
  }
}

TEST(OpTraits, SidesAndClassesAgree) {
  for (const OpTraits& row : kOpTraits) {
    SCOPED_TRACE(row.name);
    // Target ops come first in OpKind, then the supervisor's.
    EXPECT_EQ(row.side == OpSide::kTarget, row.kind < OpKind::kRecv);
    // A thread's op is a listener ioctl; a listener op is the supervisor's.
    EXPECT_TRUE(!row.on_thread || row.listener);
    EXPECT_TRUE(!row.listener || row.side == OpSide::kSupervisor);
    // Only the ops that run on a thread name one to start on.
    EXPECT_EQ((row.fields & op_field::kThreadOn) != 0, row.on_thread);
  }
}

// One Op member: the op_field bits that let it leave its default, and whether it did.
struct Member {
  const char* name;
  uint32_t bits;
  std::function<bool(const Op&, const Op&)> differs;
};

std::vector<Member> Members() {
  const auto m = [](const char* name, uint32_t bits, auto field) {
    return Member{name, bits, [field](const Op& a, const Op& b) { return a.*field != b.*field; }};
  };
  return {
      // Notification kinds carry their trap's target.
      m("target", op_field::kTarget | op_field::kNotifUse, &Op::target),
      m("thread", op_field::kThreadOn | op_field::kThreadUsed, &Op::thread),
      m("task", op_field::kTask | op_field::kTaskCaller, &Op::task),
      m("notif", op_field::kNotifUse | op_field::kNotifBind, &Op::notif),
      m("bind", op_field::kBind | op_field::kBindOptional, &Op::bind),
      m("bind2", op_field::kBind2, &Op::bind2),
      m("fd", op_field::kFd, &Op::fd),
      m("fd2", op_field::kFd2, &Op::fd2),
      m("value", op_field::kValue, &Op::value),
      m("id_delta", op_field::kIdDelta, &Op::id_delta),
      m("flags", op_field::kFlags, &Op::flags),
      m("newfd_flags", op_field::kNewfdFlags, &Op::newfd_flags),
      m("error", op_field::kError, &Op::error),
      m("size", op_field::kSize, &Op::size),
      m("src", op_field::kSrc, &Op::src),
      m("file", op_field::kFile, &Op::file),
      m("buffer", op_field::kBuffer, &Op::buffer),
      m("arg", op_field::kArg, &Op::arg),
      m("handler", op_field::kHandler, &Op::handler),
      m("signal", op_field::kSignal, &Op::signal),
      m("cloexec", op_field::kCloexec, &Op::cloexec),
      m("legacy", op_field::kLegacy, &Op::legacy),
      m("restart", op_field::kRestart, &Op::restart),
      m("emulates", op_field::kEmulates, &Op::emulates),
      m("inject", op_field::kInject, &Op::inject),
      m("call", op_field::kCall, &Op::call),
      m("spawn_as", op_field::kSpawnAs, &Op::spawn_as),
  };
}

// Random inputs: a decoded op leaves every member its mask does not name at its default,
// and every bit of every kind's mask shows up as a member set by some input, so the masks
// are neither too narrow nor too wide.
TEST(OpTraits, FieldsAreWhatTheDecoderSets) {
  const std::vector<Member> members = Members();
  uint32_t all_bits = 0;
  for (const Member& member : members) all_bits |= member.bits;
  EXPECT_EQ(all_bits, (op_field::kSpawnAs << 1) - 1) << "a field bit without a member";
  const Op def;
  uint32_t seen[kOpKindCount] = {};  // per kind, the bits some decoded op used
  for (const Scenario& s : RandomScenarios(20000)) {
    for (const Op& op : s.ops) {
      const uint32_t fields = OpTraitsOf(op.kind).fields;
      for (const Member& member : members) {
        if (!member.differs(op, def)) continue;
        ASSERT_NE(fields & member.bits, 0u)
            << OpKindName(op.kind) << " sets " << member.name << ", which its mask leaves out";
        seen[static_cast<size_t>(op.kind)] |= fields & member.bits;
      }
    }
  }
  for (const OpTraits& row : kOpTraits) {
    EXPECT_EQ(seen[static_cast<size_t>(row.kind)], row.fields)
        << row.name << ": mask bits no decoded op used: " << std::hex
        << (row.fields & ~seen[static_cast<size_t>(row.kind)]);
  }
}

}  // namespace
}  // namespace addfdlab
