// The binary scenario codec: round trips, totality on random bytes, truncation, versions.
#include "addfdlab/scenario_codec.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "addfdlab/scenario_text.h"

namespace addfdlab {
namespace {

std::optional<Scenario> Decode(const std::vector<uint8_t>& bytes) {
  return DecodeScenario(bytes.data(), bytes.size());
}

Scenario ParseOrDie(const std::string& text) {
  ParseError error;
  std::optional<Scenario> s = ParseScenario(text, "test.scn", &error);
  EXPECT_TRUE(s.has_value()) << error.ToString();
  return s.value_or(Scenario{});
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

std::vector<Scenario> TestScenarios() {
  std::vector<Scenario> out;
  for (const auto& entry : std::filesystem::directory_iterator(ADDFDLAB_SCN_DIR)) {
    if (entry.path().extension() != ".scn") continue;
    Scenario s = ParseOrDie(ReadFile(entry.path()));
    s.cells.clear();  // cells are text only
    out.push_back(std::move(s));
  }
  return out;
}

// A decoded scenario is valid and round-trips through both forms.
void ExpectDecodedIsSound(const Scenario& s) {
  ASSERT_TRUE(ValidateScenario(s)) << PrintScenario(s);
  EXPECT_TRUE(s.cells.empty());
  const std::string text = PrintScenario(s);
  ParseError error;
  const std::optional<Scenario> parsed = ParseScenario(text, "decoded.scn", &error);
  ASSERT_TRUE(parsed.has_value()) << error.ToString() << "\n" << text;
  EXPECT_EQ(*parsed, s) << text;
  const std::optional<Scenario> again = Decode(EncodeScenario(s));
  ASSERT_TRUE(again.has_value()) << text;
  EXPECT_EQ(*again, s) << text;
}

TEST(ScenarioCodec, RoundTripsTestScenarios) {
  const std::vector<Scenario> scenarios = TestScenarios();
  ASSERT_GE(scenarios.size(), 4u);
  for (const Scenario& s : scenarios) {
    ASSERT_TRUE(ValidateScenario(s));
    const std::optional<Scenario> decoded = Decode(EncodeScenario(s));
    ASSERT_TRUE(decoded.has_value()) << PrintScenario(s);
    EXPECT_EQ(*decoded, s) << PrintScenario(s);
  }
}

TEST(ScenarioCodec, RoundTripsExtremeValues) {
  const Scenario s = ParseOrDie(
      "target t0 filter=0xffffffff callers=4\n"
      "target t1 filter=0x7f callers=0\n"
      "trap t0.4 -> n0\n"
      "on th0: addfd n0-9223372036854775808 flags=0xffffffff newfd=-9223372036854775808 "
      "newfd_flags=0xffffffff size=4294967295 src=huge arg=unreadable -> f0 expect ok\n"
      "on th1: addfd n0+127 newfd=-256 expect ok=-127\n"
      "on th1: addfd n0-127 newfd=255 expect ok=128\n"
      "send n0+128 val=-257 error=-2147483648 flags=4294967295 expect 4095\n"
      "send n0 val=256 error=2147483647 expect EPERM\n"
      "nofile t1 -9223372036854775808\n"
      "dup t0 f0 min=9223372036854775807 -> f1\n"
      "set_flags t0 0xffffffffffffffff\n"
      "ioctl t1 0x8000000000000000\n"
      "handler t1 64 ignore\n"
      "signal t0.0 1 expect blocked\n"
      "returned n0 expect ok=-9223372036854775808\n"
      "wait th1 expect ok=n0\n"
      "signal_thread th0 restart\n");
  ASSERT_TRUE(ValidateScenario(s));
  const std::vector<uint8_t> bytes = EncodeScenario(s);
  EXPECT_EQ(bytes[1] & 0x80, 0);  // default names: no name table
  const std::optional<Scenario> decoded = Decode(bytes);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, s);
}

TEST(ScenarioCodec, PidNamespacesAndPlacesRoundTrip) {
  const Scenario s = ParseOrDie(
      "target t pidns callers=1\n"
      "process a\n"
      "process b pidns\n"
      "trap t.1 -> n\n"
      "on x: recv t\n"
      "on b: send n val=0\n"
      "on a: addfd n\n");
  ASSERT_EQ(s.places.size(), 3u);  // x a thread, b in its own namespace, a a process
  EXPECT_EQ(s.places[0], ThreadPlace::kThread);
  EXPECT_EQ(s.places[1], ThreadPlace::kProcessPidNs);
  EXPECT_EQ(s.places[2], ThreadPlace::kProcess);
  EXPECT_TRUE(s.targets[0].pid_ns);
  ExpectDecodedIsSound(s);
  const std::vector<uint8_t> bytes = EncodeScenario(s);
  EXPECT_EQ(bytes[1] & 0x02, 0x02);  // header bit 1: places follow
  EXPECT_EQ(bytes[3], 0x81);         // callers byte: pidns | 1 caller
}

TEST(ScenarioCodec, PlacesOfThreadsNeverStartedAreDropped) {
  // target t0 (a pid namespace), places {process, process, thread, pidns}, one op on th0.
  const std::vector<uint8_t> bytes = {kCodecVersion, 0x02, 0x08, 0x82, 4, 1, 1, 0, 2,
                                      16 /*recv*/,   1,    0,    0};
  const std::optional<Scenario> s = Decode(bytes);
  ASSERT_TRUE(s.has_value());
  ASSERT_EQ(s->threads.size(), 1u);
  EXPECT_EQ(s->places, std::vector<ThreadPlace>{ThreadPlace::kProcess});
  EXPECT_TRUE(s->targets[0].pid_ns);
  EXPECT_EQ(s->targets[0].callers, 2);
  ExpectDecodedIsSound(*s);
}

TEST(ScenarioCodec, SmallScenarioHasTheDocumentedLayout) {
  const Scenario s = ParseOrDie("target t0\ntrap t0.1 -> n0\nrecv t0\nsettle\n");
  // version, header, filter NEW_LISTENER, callers 2, trap(11) t0 task 1+0 tuxcall, recv(16) main
  // thread, t0, zeroed buffer, settle(25).
  EXPECT_EQ(EncodeScenario(s), (std::vector<uint8_t>{8, 0x00, 8, 2, 11, 0, 0, 0, 16, 0, 0, 0, 25}));
  const Scenario named = ParseOrDie("target t0\ntrap t0.1 -> n\n");
  // The name table: 0 target, 0 thread, 1 notification ("n"), 0 fd names.
  EXPECT_EQ(EncodeScenario(named),
            (std::vector<uint8_t>{8, 0x80, 8, 2, 1, 2, 't', '0', 0, 1, 1, 'n', 0, 11, 0, 0, 0}));
}

std::vector<uint8_t> Cat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const std::vector<uint8_t>& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

// An addfd's fields after its thread and notification bytes, all zero: id delta 0, the
// usual words (flags 0, newfd_flags 0, size 24), memfd source, fd 0, plain argument, no
// emulated call, no injection (the main thread's), no name.
const std::vector<uint8_t> kAddFdZeroTail(11, 0);

TEST(ScenarioCodec, TypedReferencesWrapAndUnusableOpsAreDropped) {
  // trap (11 + 29) with target byte 7 (mod 1 target), task byte 9 (1 + 9 % 2 = 2) and call
  // byte 2 (2 % 2: tuxcall);
  // then an addfd (17) on the main thread and notification byte 200 (mod 1).
  const std::vector<uint8_t> bytes =
      Cat({{8, 0, 8, 2}, {40, 7, 9, 2}, {17, 0, 200}, kAddFdZeroTail, {25}});
  const std::optional<Scenario> s = Decode(bytes);
  ASSERT_TRUE(s.has_value());
  ExpectDecodedIsSound(*s);
  ASSERT_EQ(s->ops.size(), 3u);
  EXPECT_EQ(s->ops[0].kind, OpKind::kTrap);
  EXPECT_EQ(s->ops[0].task, 2);
  EXPECT_EQ(s->ops[1].kind, OpKind::kAddFd);
  EXPECT_EQ(s->ops[1].notif, 0);
  EXPECT_EQ(s->ops[1].size, 24u);  // word 0: the size a successful ADDFD needs
  EXPECT_EQ(s->ops[2].kind, OpKind::kSettle);
  EXPECT_EQ(s->notifs, (std::vector<std::string>{"n0"}));

  // Without a trap first, the addfd has no notification to name: it is dropped, and
  // so are a wait with no thread and a trap on a target without callers.
  const std::optional<Scenario> dropped =
      Decode(Cat({{8, 0, 8, 0}, {17, 0, 200}, kAddFdZeroTail, {23, 0}, {11, 0, 0, 0}, {25}}));
  ASSERT_TRUE(dropped.has_value());
  ExpectDecodedIsSound(*dropped);
  ASSERT_EQ(dropped->ops.size(), 1u);
  EXPECT_EQ(dropped->ops[0].kind, OpKind::kSettle);
}

// addfd_sequence_fuzzer's seeds are the encodings of corpus/contract and corpus/regressions
// (scripts/make_seeds.sh, <folder>_<name>.bin): each seed decodes to its .scn and the .scn
// encodes to the seed byte for byte, so neither direction of the byte format drifts.
TEST(ScenarioCodec, SeedCorpusMatchesItsTextSources) {
  const std::filesystem::path corpus = std::filesystem::path(ADDFDLAB_SOURCE_DIR) / "corpus";
  int seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(corpus / "addfd_sequence_fuzzer")) {
    const std::string stem = entry.path().stem().string();
    SCOPED_TRACE(stem);
    const size_t underscore = stem.find('_');
    ASSERT_NE(underscore, std::string::npos);
    const std::filesystem::path source =
        corpus / stem.substr(0, underscore) / (stem.substr(underscore + 1) + ".scn");
    ASSERT_TRUE(std::filesystem::exists(source)) << source;
    Scenario s = ParseOrDie(ReadFile(source));
    s.cells.clear();
    const std::string seed = ReadFile(entry.path());
    const std::vector<uint8_t> bytes(seed.begin(), seed.end());
    EXPECT_EQ(Decode(bytes), s) << PrintScenario(s);
    EXPECT_EQ(EncodeScenario(s), bytes) << PrintScenario(s);
    ++seeds;
  }
  EXPECT_GE(seeds, 60);
}

// scenario_text_fuzzer's seeds: each .bin is its .scn beside it, in this codec version.
TEST(ScenarioCodec, TextFuzzerSeedsMatchTheirText) {
  const std::filesystem::path corpus =
      std::filesystem::path(ADDFDLAB_SOURCE_DIR) / "corpus" / "scenario_text_fuzzer";
  int seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(corpus)) {
    if (entry.path().extension() != ".bin") continue;
    SCOPED_TRACE(entry.path().filename().string());
    std::filesystem::path source = entry.path();
    Scenario s = ParseOrDie(ReadFile(source.replace_extension(".scn")));
    s.cells.clear();
    const std::string seed = ReadFile(entry.path());
    EXPECT_EQ(Decode(std::vector<uint8_t>(seed.begin(), seed.end())), s) << PrintScenario(s);
    ++seeds;
  }
  EXPECT_GE(seeds, 4);
}

TEST(ScenarioCodec, WrongVersionAndShortHeadersAreRejected) {
  EXPECT_FALSE(DecodeScenario(nullptr, 0).has_value());
  EXPECT_FALSE(Decode({}).has_value());
  EXPECT_FALSE(Decode({0, 0, 8, 2}).has_value());
  EXPECT_FALSE(Decode({6, 0, 8, 2}).has_value());  // version 6: no spawn
  EXPECT_FALSE(Decode({4, 0, 8, 2}).has_value());  // version 4: no poll, no pidns, no places
  EXPECT_FALSE(Decode({5, 0, 8, 2}).has_value());  // version 5: no trap call byte
  EXPECT_FALSE(Decode({3, 0, 8, 2}).has_value());  // version 3: no addfd inject byte
  EXPECT_FALSE(Decode({2, 0, 8, 2}).has_value());  // version 2: no work op, no emulates byte
  EXPECT_FALSE(Decode({1, 0, 8, 2}).has_value());  // version 1: the old words
  EXPECT_FALSE(Decode({0xff, 0, 8, 2}).has_value());
  EXPECT_FALSE(Decode({6}).has_value());
  EXPECT_FALSE(Decode({8, 0}).has_value());
  EXPECT_FALSE(Decode({8, 0, 8}).has_value());
  EXPECT_FALSE(Decode({8, 0, 0x80, 0, 0, 0}).has_value());  // wide filter cut short
  EXPECT_FALSE(Decode({8, 1, 8, 2, 8}).has_value());        // second target cut short
  const std::optional<Scenario> empty = Decode({8, 0, 8, 2});
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->ops.empty());
  ExpectDecodedIsSound(*empty);
  // Every version byte but kCodecVersion is rejected, whatever follows.
  std::vector<uint8_t> bytes = EncodeScenario(TestScenarios().front());
  for (int version = 0; version < 256; ++version) {
    bytes[0] = static_cast<uint8_t>(version);
    EXPECT_EQ(Decode(bytes).has_value(), version == kCodecVersion) << version;
  }
}

TEST(ScenarioCodec, BadNameTablesAreRejected) {
  // A name that is not an identifier.
  EXPECT_FALSE(Decode({8, 0x80, 8, 2, 1, 1, '9', 0, 0, 0}).has_value());
  // An empty name, a table longer than the limit, a cut-short table.
  EXPECT_FALSE(Decode({8, 0x80, 8, 2, 1, 0, 0, 0, 0}).has_value());
  EXPECT_FALSE(Decode({8, 0x80, 8, 2, 3, 1, 'a', 1, 'b', 1, 'c', 0, 0, 0}).has_value());
  EXPECT_FALSE(Decode({8, 0x80, 8, 2, 0, 0, 0, 1, 5, 'a'}).has_value());
  // The table names fd 0 "f1"; a pipe binds two fds, and fd 1's default name is "f1" too.
  EXPECT_FALSE(Decode({8, 0x80, 8, 2, 0, 0, 0, 1, 2, 'f', '1', 1, 0, 0}).has_value());
  // Unused table entries are ignored.
  const std::optional<Scenario> s = Decode({8, 0x80, 8, 2, 1, 1, 'x', 0, 1, 1, 'n', 0, 25});
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->targets[0].name, "x");
  EXPECT_TRUE(s->notifs.empty());
  ExpectDecodedIsSound(*s);
}

// spawn (15): the task bytes after it count the tasks it made, and a sixth task's spawn is
// read in full and dropped.
TEST(ScenarioCodec, SpawnedTasksCountInTaskBytes) {
  // callers 0; spawn t0.0 (byte 0 % 1), a process (kind byte 0); trap byte 0: 1 + 0 % 1 =
  // task 1, call byte 0 (tuxcall); spawn byte 3 % 2 = task 1, a thread (kind byte 3 % 2);
  // signal byte 5 % 3 = task 2; then three spawns, the last of them a sixth task.
  const std::optional<Scenario> s =
      Decode({8, 0, 8, 0,  15, 0, 0, 0,  11, 0, 0, 0,  15, 0, 3, 3, 13,
              0, 5, 9, 15, 0,  0, 0, 15, 0,  0, 0, 15, 0,  0, 0, 25});
  ASSERT_TRUE(s.has_value());
  ExpectDecodedIsSound(*s);
  ASSERT_EQ(s->ops.size(), 7u);
  EXPECT_EQ(s->ops[0].kind, OpKind::kSpawn);
  EXPECT_EQ(s->ops[0].task, 0);
  EXPECT_EQ(s->ops[1].kind, OpKind::kTrap);
  EXPECT_EQ(s->ops[1].task, 1);
  EXPECT_EQ(s->ops[0].spawn_as, SpawnAs::kProcess);
  EXPECT_EQ(s->ops[2].task, 1);
  EXPECT_EQ(s->ops[2].spawn_as, SpawnAs::kThread);
  EXPECT_EQ(s->ops[3].kind, OpKind::kSignalTask);
  EXPECT_EQ(s->ops[3].task, 2);
  EXPECT_EQ(TasksBefore(*s, 0, s->ops.size()), 5);
  EXPECT_EQ(s->ops[6].kind, OpKind::kSettle);
}

TEST(ScenarioCodec, TruncationStopsAtTheLastCompleteOp) {
  for (const Scenario& s : TestScenarios()) {
    const std::vector<uint8_t> bytes = EncodeScenario(s);
    size_t last_ops = 0;
    bool decoded_any = false;
    for (size_t length = 0; length <= bytes.size(); ++length) {
      const std::optional<Scenario> prefix = DecodeScenario(bytes.data(), length);
      if (!prefix.has_value()) {
        EXPECT_FALSE(decoded_any) << "a longer prefix decoded, then " << length << " did not";
        continue;
      }
      decoded_any = true;
      ExpectDecodedIsSound(*prefix);
      ASSERT_LE(prefix->ops.size(), s.ops.size());
      EXPECT_GE(prefix->ops.size(), last_ops);
      last_ops = prefix->ops.size();
      for (size_t i = 0; i < prefix->ops.size(); ++i) EXPECT_EQ(prefix->ops[i], s.ops[i]) << i;
      EXPECT_EQ(prefix->targets, s.targets);
    }
    EXPECT_EQ(Decode(bytes), s);
  }
}

TEST(ScenarioCodec, RandomBytesDecodeToValidScenarios) {
  constexpr int kInputs = 2000;
  int decoded = 0;
  size_t ops = 0;
  for (int seed = 0; seed < kInputs; ++seed) {
    std::mt19937 rng(static_cast<uint32_t>(seed));
    std::vector<uint8_t> bytes(rng() % 400);
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
    // Mostly the right version and no name table, so that decoding goes deep.
    if (!bytes.empty() && rng() % 10 != 0) bytes[0] = kCodecVersion;
    if (bytes.size() > 1 && rng() % 4 != 0) bytes[1] &= 0x7f;
    const std::optional<Scenario> s = Decode(bytes);
    if (!s.has_value()) continue;
    SCOPED_TRACE("seed " + std::to_string(seed));
    ++decoded;
    ops += s->ops.size();
    ExpectDecodedIsSound(*s);
    // Decoding is deterministic.
    EXPECT_EQ(Decode(bytes), s);
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(decoded, kInputs / 2);
  EXPECT_GT(ops, static_cast<size_t>(decoded) * 5);  // not just empty scenarios
}

TEST(ScenarioCodec, EncodingAnInvalidScenarioDoesNotCrash) {
  Scenario s;
  Op op;
  op.kind = OpKind::kAddFd;
  op.target = 7;
  op.notif = 99;
  op.thread = 42;
  op.fd.name = 1000;
  op.task = -5;
  s.ops.push_back(op);
  op.kind = static_cast<OpKind>(200);
  s.ops.push_back(op);
  s.targets.resize(5);
  s.fd_names.push_back("");
  const std::vector<uint8_t> bytes = EncodeScenario(s);
  const std::optional<Scenario> decoded = Decode(bytes);
  if (decoded.has_value()) {
    EXPECT_TRUE(ValidateScenario(*decoded));
  }
}

}  // namespace
}  // namespace addfdlab
