// The .scn text format: every op kind, the printer, precise errors, and round trips.
#include "addfdlab/scenario_text.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <climits>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "addfdlab/scenario_codec.h"

namespace addfdlab {
namespace {

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Why ValidateScenario rejects `scenario` (its message, always EINVAL); "(valid)" when it
// accepts it.
std::string Rejection(const Scenario& scenario) {
  const Result<void> valid = ValidateScenario(scenario);
  if (valid) return "(valid)";
  EXPECT_EQ(valid.error(), Errno(EINVAL));
  return valid.error().message();
}

Scenario MustParse(std::string_view text) {
  ParseError error;
  std::optional<Scenario> scenario = ParseScenario(text, "test.scn", &error);
  EXPECT_TRUE(scenario.has_value()) << error.ToString();
  return scenario.value_or(Scenario{});
}

// parse(print(s)) == s, and the printed form is a fixed point.
void ExpectRoundTrip(const Scenario& scenario) {
  ASSERT_TRUE(ValidateScenario(scenario));
  const std::string printed = PrintScenario(scenario);
  ParseError error;
  std::optional<Scenario> again = ParseScenario(printed, "printed.scn", &error);
  ASSERT_TRUE(again.has_value()) << error.ToString() << "\n" << printed;
  EXPECT_EQ(*again, scenario) << printed;
  EXPECT_EQ(PrintScenario(*again), printed);
  // PrintOp(s, i) is the printed text's line of op i (its last lines are the ops').
  std::vector<std::string> lines;
  std::istringstream in(printed);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_GE(lines.size(), scenario.ops.size());
  const size_t first = lines.size() - scenario.ops.size();
  for (size_t i = 0; i < scenario.ops.size(); ++i) {
    EXPECT_EQ(PrintOp(scenario, i), lines[first + i]) << i;
  }
  EXPECT_EQ(PrintOp(scenario, scenario.ops.size()), "");
}

TEST(ScenarioText, ParsesEveryOpKind) {
  const Scenario s = MustParse(ReadFile(std::filesystem::path(ADDFDLAB_SCN_DIR) / "every_op.scn"));
  ASSERT_TRUE(ValidateScenario(s));
  EXPECT_EQ(s.cells, (std::vector<std::string>{"ADDFD.SETFD.RLIMIT", "RECV.NONZERO"}));
  ASSERT_EQ(s.targets.size(), 2u);
  EXPECT_EQ(s.targets[0], (TargetDecl{"t0", uapi::kFilterNewListener, 2}));
  EXPECT_EQ(s.targets[1],
            (TargetDecl{"t1", uapi::kFilterNewListener | uapi::kFilterWaitKillableRecv, 3}));
  EXPECT_EQ(s.threads, (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(s.notifs, (std::vector<std::string>{"n0", "d", "n1"}));
  EXPECT_EQ(s.fd_names, (std::vector<std::string>{"m", "r", "w", "s1", "s2", "r2", "slot", "got"}));
  const Op& dup_trap = s.ops[s.ops.size() - 3];  // before the spawn and its task's trap
  EXPECT_EQ(dup_trap.call, TrapCall::kDup);
  EXPECT_EQ(dup_trap.fd, (FdRef{0, 0}));
  std::vector<bool> seen(kOpKindCount);
  for (const Op& op : s.ops) seen[static_cast<size_t>(op.kind)] = true;
  for (int kind = 0; kind < kOpKindCount; ++kind) {
    EXPECT_TRUE(seen[static_cast<size_t>(kind)]) << OpKindName(static_cast<OpKind>(kind));
  }

  Op open;
  open.kind = OpKind::kOpen;
  open.file = FileKind::kMemfd;
  open.cloexec = true;
  open.bind = 0;
  EXPECT_EQ(s.ops[0], open);

  Op pipe;
  pipe.kind = OpKind::kPipe;
  pipe.bind = 1;
  pipe.bind2 = 2;
  EXPECT_EQ(s.ops[1], pipe);

  Op socketpair;
  socketpair.kind = OpKind::kSocketpair;
  socketpair.target = 1;
  socketpair.cloexec = true;
  socketpair.bind = 3;
  socketpair.bind2 = 4;
  EXPECT_EQ(s.ops[2], socketpair);

  Op close;
  close.kind = OpKind::kClose;
  close.fd.name = 2;
  EXPECT_EQ(s.ops[3], close);

  Op dup;
  dup.kind = OpKind::kDup;
  dup.fd.name = 1;
  dup.value = 100;
  dup.cloexec = true;
  dup.bind = 5;
  EXPECT_EQ(s.ops[4], dup);

  Op dup2;
  dup2.kind = OpKind::kDup2;
  dup2.fd.name = 1;
  dup2.fd2.literal = 200;
  dup2.cloexec = true;
  EXPECT_EQ(s.ops[5], dup2);

  Op nofile;
  nofile.kind = OpKind::kNofile;
  nofile.value = 64;
  EXPECT_EQ(s.ops[6], nofile);

  Op handler;
  handler.kind = OpKind::kHandler;
  handler.signal = 10;
  handler.handler = HandlerKind::kRestart;
  EXPECT_EQ(s.ops[7], handler);

  Op reserve;
  reserve.kind = OpKind::kReserve;
  reserve.task = 1;
  reserve.bind = 6;
  EXPECT_EQ(s.ops[8], reserve);

  Op release;
  release.kind = OpKind::kRelease;
  EXPECT_EQ(s.ops[9], release);

  Op recv;
  recv.kind = OpKind::kRecv;
  recv.thread = 0;
  recv.buffer = BufferKind::kNonZero;
  EXPECT_EQ(s.ops[10], recv);

  Op trap;
  trap.kind = OpKind::kTrap;
  trap.task = 2;
  trap.notif = 0;
  EXPECT_EQ(s.ops[11], trap);

  Op wait;
  wait.kind = OpKind::kWait;
  wait.thread = 0;
  wait.expect = {true, false, Outcome::Ok(0)};
  EXPECT_EQ(s.ops[12], wait);

  Op addfd;
  addfd.kind = OpKind::kAddFd;
  addfd.thread = 0;
  addfd.notif = 0;
  addfd.flags = uapi::kAddFdSetFd | uapi::kAddFdSend;
  addfd.src = SourceKind::kPipeRead;
  addfd.fd.name = 6;
  addfd.newfd_flags = 02000000;
  addfd.size = 32;
  addfd.arg = AddFdArg::kTailZero;
  addfd.emulates = EmulatedCall::kPipe2Cloexec;
  addfd.bind = 7;
  addfd.expect = {true, true, Outcome::Ok()};
  EXPECT_EQ(s.ops[13], addfd);

  Op send;
  send.kind = OpKind::kSend;
  send.notif = 0;
  send.id_delta = 1;
  send.fd.literal = 3;
  send.error = EPERM;
  send.flags = uapi::kRespContinue;
  send.expect = {true, false, Outcome::Error(EINVAL)};
  EXPECT_EQ(s.ops[14], send);

  Op id_valid;
  id_valid.kind = OpKind::kIdValid;
  id_valid.notif = 0;
  id_valid.id_delta = -1;
  id_valid.legacy = true;
  id_valid.expect = {true, false, Outcome::Error(ENOENT)};
  EXPECT_EQ(s.ops[15], id_valid);

  Op returned;
  returned.kind = OpKind::kReturned;
  returned.notif = 0;
  returned.expect = {true, false, Outcome::Ok(5)};
  EXPECT_EQ(s.ops[16], returned);

  Op signal;
  signal.kind = OpKind::kSignalTask;
  signal.signal = 12;
  EXPECT_EQ(s.ops[17], signal);

  Op set_flags;
  set_flags.kind = OpKind::kSetFlags;
  set_flags.value = 1;
  EXPECT_EQ(s.ops[18], set_flags);

  Op ioctl;
  ioctl.kind = OpKind::kIoctl;
  ioctl.value = 0xc0502100;
  ioctl.expect = {true, false, Outcome::Blocked()};
  EXPECT_EQ(s.ops[19], ioctl);

  Op signal_thread;
  signal_thread.kind = OpKind::kSignalThread;
  signal_thread.thread = 1;
  signal_thread.restart = true;
  EXPECT_EQ(s.ops[21], signal_thread);

  Op install;
  install.kind = OpKind::kInstallFilter;
  install.target = 1;
  install.flags = uapi::kFilterTsync | 0x100;
  EXPECT_EQ(s.ops[23], install);

  EXPECT_EQ(s.ops[24].kind, OpKind::kCloseListener);
  EXPECT_EQ(s.ops[25].kind, OpKind::kKill);
  EXPECT_EQ(s.ops[26], Op{});  // settle

  Op work;
  work.kind = OpKind::kWork;
  work.notif = 0;
  EXPECT_EQ(s.ops[27], work);

  Op poll;
  poll.kind = OpKind::kPoll;
  poll.flags = 0x1 | 0x4 | 0x8000;
  poll.expect = {true, false, Outcome::Ok(1)};
  EXPECT_EQ(s.ops[28], poll);
  EXPECT_EQ(
      PrintScenario(s).find("poll t0 POLLIN|POLLOUT|0x8000 expect ok=1\n") == std::string::npos,
      false);

  Op sizes;
  sizes.kind = OpKind::kGetNotifSizes;
  sizes.expect = {true, false, Outcome::Ok(uapi::PackNotifSizes(80, 24, 64))};
  EXPECT_EQ(s.ops[29], sizes);

  // The first spawn on t0 (2 callers) makes task 3, which a trap may then name.
  Op spawn;
  spawn.kind = OpKind::kSpawn;
  spawn.task = 1;
  spawn.expect = {true, false, Outcome::Ok(3)};
  EXPECT_EQ(s.ops[31], spawn);
  EXPECT_EQ(s.ops[32].task, 3);
  EXPECT_NE(PrintScenario(s).find("spawn t0.1 expect ok=3\ntrap t0.3 -> n1\n"), std::string::npos);
  ExpectRoundTrip(s);
}

// Task numbers grow with each spawn; a target has at most kMaxTasks tasks.
TEST(ScenarioText, SpawnedTasksAreNumberedInOrder) {
  const Scenario s = MustParse(
      "target a callers=0\ntarget b callers=1\nspawn a.0\nspawn b.1\nspawn a.1\n"
      "trap a.2 -> n\nsignal b.2 SIGUSR1\nreserve a.1 -> f\n");
  EXPECT_EQ(TasksBefore(s, 0, s.ops.size()), 3);
  EXPECT_EQ(TasksBefore(s, 1, s.ops.size()), 3);
  EXPECT_EQ(TasksBefore(s, 0, 1), 2);
  ExpectRoundTrip(s);
  ParseError error;
  EXPECT_FALSE(ParseScenario("target t callers=0\ntrap t.1 -> n\n", "f", &error));
  EXPECT_EQ(error.ToString(), "f:2:8: target 't' has no calling tasks (callers=0)");
  EXPECT_FALSE(ParseScenario("target t callers=1\nspawn t.0\ntrap t.3 -> n\n", "f", &error));
  EXPECT_EQ(error.ToString(), "f:3:8: task 3 out of range for target 't' (1..2)");
  EXPECT_FALSE(ParseScenario("target t callers=4\nspawn t.0\n", "f", &error));
  EXPECT_EQ(error.ToString(), "f:2:9: target 't' has 5 tasks already (at most 5)");
  EXPECT_FALSE(ParseScenario("target t callers=2\nspawn t.1\nspawn t.3\nspawn t.0\n", "f", &error));
  EXPECT_EQ(error.ToString(), "f:4:9: target 't' has 5 tasks already (at most 5)");
  // The validator counts the same way.
  Scenario bad = MustParse("target t callers=1\nspawn t.0\ntrap t.2 -> n\n");
  bad.ops[0].kind = OpKind::kSettle;
  bad.ops[0].task = 1;
  EXPECT_FALSE(ValidateScenario(bad));
}

TEST(ScenarioText, PrintsCanonicalForm) {
  const Scenario s = MustParse(
      "target t0 callers=1   # comment\n"
      "\n"
      "  trap\tt0.1 -> n   \n"
      "recv t0 expect ok=0\n"
      "addfd n-2 newfd=-1 size=0x20 flags=0x8|SEND -> f expect E2BIG\n"
      "cell FOO.BAR\n"
      "send n error=-4 val=0x7fffffffffffffff flags=0\n"
      "set_flags t0 0xffffffffffffffff\n"
      "ioctl t0 -1\n"
      "handler t0 33 ignore\n"
      "install_filter t0 0\n"
      "target t1 filter=0\n"
      "kill t1 expect 4095\n"
      "id_valid n+0\n");
  EXPECT_EQ(PrintScenario(s),
            "cell FOO.BAR\n"
            "target t0 callers=1\n"
            "target t1 filter=0\n"
            "\n"
            "trap t0.1 -> n\n"
            "recv t0 expect ok=n\n"
            "addfd n-2 flags=SEND|0x8 newfd=-1 size=32 -> f expect E2BIG\n"
            "send n val=9223372036854775807 error=-4\n"
            "set_flags t0 SYNC_WAKE_UP|0xfffffffffffffffe\n"
            "ioctl t0 0xffffffffffffffff\n"
            "handler t0 33 ignore\n"
            "install_filter t0 0\n"
            "kill t1 expect 4095\n"
            "id_valid n\n");
  ExpectRoundTrip(s);
}

TEST(ScenarioText, ExtremeValuesRoundTrip) {
  const Scenario s = MustParse(
      "target t0 filter=0xffffffff callers=4\n"
      "trap t0.4 -> n\n"
      "addfd n-9223372036854775808 flags=0xffffffff newfd=-9223372036854775808 "
      "newfd_flags=0xffffffff size=4294967295\n"
      "addfd n+9223372036854775807 src=huge arg=unreadable\n"
      "send n error=-2147483648 flags=4294967295\n"
      "send n error=2147483647\n"
      "nofile t0 -9223372036854775808\n"
      "dup t0 0 min=9223372036854775807 -> d\n"
      "returned n expect ok=-9223372036854775808\n");
  EXPECT_EQ(s.ops[1].id_delta, INT64_MIN);
  EXPECT_EQ(s.ops[1].fd.literal, INT64_MIN);
  EXPECT_EQ(s.ops[2].id_delta, INT64_MAX);
  EXPECT_EQ(s.ops[3].error, INT32_MIN);
  EXPECT_EQ(s.ops[4].error, INT32_MAX);
  ExpectRoundTrip(s);
}

TEST(ScenarioText, EveryErrnoRoundTrips) {
  for (int err = 1; err <= kMaxErrno; ++err) {
    Scenario s;
    s.targets.push_back({"t0"});
    s.notifs.push_back("n");
    Op trap;
    trap.kind = OpKind::kTrap;
    trap.notif = 0;
    Op send;
    send.kind = OpKind::kSend;
    send.notif = 0;
    send.error = err;
    send.expect = {true, false, Outcome::Error(err)};
    s.ops = {trap, send};
    ExpectRoundTrip(s);
  }
}

TEST(ScenarioText, TestScenarioFilesRoundTrip) {
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(ADDFDLAB_SCN_DIR)) {
    if (entry.path().extension() != ".scn") continue;
    SCOPED_TRACE(entry.path().string());
    ExpectRoundTrip(MustParse(ReadFile(entry.path())));
    ++files;
  }
  EXPECT_GE(files, 4);
}

struct BadInput {
  const char* text;
  int line;
  int column;
  const char* message;  // a substring of the message
};

class ScenarioTextErrors : public ::testing::TestWithParam<BadInput> {};

TEST_P(ScenarioTextErrors, ReportLineColumnAndMessage) {
  const BadInput& bad = GetParam();
  ParseError error;
  const std::optional<Scenario> s = ParseScenario(bad.text, "bad.scn", &error);
  ASSERT_FALSE(s.has_value()) << PrintScenario(*s);
  EXPECT_EQ(error.file, "bad.scn");
  EXPECT_EQ(error.line, bad.line) << error.ToString();
  EXPECT_EQ(error.column, bad.column) << error.ToString();
  EXPECT_NE(error.message.find(bad.message), std::string::npos) << error.ToString();
  EXPECT_EQ(error.ToString().rfind(
                "bad.scn:" + std::to_string(bad.line) + ":" + std::to_string(bad.column) + ": ", 0),
            0u);
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, ScenarioTextErrors,
    ::testing::Values(
        BadInput{"target t0\nopen t0 memfx -> f\n", 2, 9, "unknown file 'memfx' (devnull, memfd)"},
        BadInput{"target t0\ntrap t0.1 -> n\naddfd n src=memfx\n", 3, 13,
                 "unknown source 'memfx' (memfd, memfd2, pipe_r, pipe_w, socket, devnull, opath, "
                 "listener, closed, huge)"},
        BadInput{"target t0\ntrap t0.1 -> n1\naddfd n2\n", 3, 7,
                 "notification 'n2' used before a trap binds it"},
        BadInput{"target t0\nopen t0 memfd f\n", 2, 15, "expected '->' and a name, got 'f'"},
        BadInput{"target t0\nopen t0 memfd\n", 2, 14, "expected '->' and a name"},
        BadInput{"target t0\nopen t0 memfd ->\n", 2, 17, "expected '->' and a name"},
        BadInput{"target t0\npipe t0 -> a\n", 2, 13, "expected '->' and two names"},
        BadInput{"open t0 memfd -> f\ntarget t0\n", 1, 6, "unknown target 't0'"},
        BadInput{"target t0\nclose t0 f9\n", 2, 10, "fd name 'f9' used before an op binds it"},
        BadInput{"target t0\ntrap t0.0 -> n\n", 2, 9, "trap needs a calling task"},
        BadInput{"target t0 callers=1\nsignal t0.2 SIGUSR1\n", 2, 11, "task 2 out of range"},
        BadInput{"target t0 callers=0\nreserve t0.1 -> f\n", 2, 12, "has no calling tasks"},
        BadInput{"target t0\nwait A\n", 2, 6, "thread 'A' has no op started on it"},
        BadInput{"target t0\ntrap t0.1 -> n\naddfd n flags=SETFD|BOGUS\n", 3, 21,
                 "unknown flag 'BOGUS' (SETFD, SEND, or a number)"},
        BadInput{"target t0\ntrap t0.1 -> n\naddfd n flags=SETFD||SEND\n", 3, 21, "empty flag"},
        BadInput{"target t0\nnofile t0 99999999999999999999\n", 2, 11, "out of range"},
        BadInput{"target t0\nnofile t0 12ab\n", 2, 11, "expected a number for the limit"},
        BadInput{"target t0\nrecv t0 buffer=zeroed buffer=nonzero\n", 2, 23,
                 "duplicate option 'buffer'"},
        BadInput{"target t0\nrecv t0 bufer=zeroed\n", 2, 9, "unknown option 'bufer' for recv"},
        BadInput{"target t0\nopen t0 devnull -> f\nopen t0 memfd -> f\n", 3, 18,
                 "fd name 'f' already bound"},
        BadInput{"target t0\ntrap t0.1 -> n\ntrap t0.2 -> n\n", 3, 14,
                 "notification 'n' already bound"},
        BadInput{"target t0\ntarget t0\n", 2, 8, "target 't0' already declared"},
        BadInput{"target t0\ntarget t1\ntarget t2\n", 3, 1, "too many targets (max 2)"},
        BadInput{"target t0 callers=5\n", 1, 19, "callers '5' out of range 0..4"},
        BadInput{"target t0 expect ok\n", 1, 11, "takes no expect clause"},
        BadInput{"target t0\nfrobnicate t0\n", 2, 1, "unknown op 'frobnicate'"},
        BadInput{"target t0\nsettle expect EBOGUS\n", 2, 15, "unknown outcome 'EBOGUS'"},
        BadInput{"target t0\nsettle expect 4096\n", 2, 15, "out of range 1..4095"},
        BadInput{"target t0\nopen t0 memfd -> f expect\n", 2, 26, "expected an outcome"},
        BadInput{"target t0\nsettle expect ok extra\n", 2, 18, "unexpected 'extra'"},
        BadInput{"", 1, 1, "no target declared"},
        BadInput{"# only a comment\n", 2, 1, "no target declared"},
        BadInput{"target t0\non A: kill t0\n", 2, 1, "'on THREAD:' applies only to"},
        BadInput{"target t0\non A recv t0\n", 2, 4, "expected 'on THREAD:'"},
        BadInput{"target t0\ncell addfd.lower\n", 2, 6, "invalid cell ID 'addfd.lower'"},
        BadInput{"target t0\ntrap t0.1 -> n\nreturned n+1\n", 3, 11, "returned takes no id delta"},
        BadInput{"target t0\ntrap t0.1 -> n\nid_valid n+x\n", 3, 11, "expected a number after '+'"},
        BadInput{"target t0\nset_flags t0 0x1ffffffffffffffff\n", 2, 14, "out of range"},
        BadInput{"target t0\nhandler t0 SIGINT default\n", 2, 12, "unknown signal 'SIGINT'"},
        BadInput{"target t0\nhandler t0 65 default\n", 2, 12, "signal '65' out of range 1..64"},
        BadInput{"target t0\nhandler t0 SIGUSR1 sometimes\n", 2, 20, "unknown handler"},
        BadInput{"target t0\nopen t0 memfd -> 9f\n", 2, 18, "invalid fd name '9f'"},
        BadInput{"target t0\ntrap t0.1 -> n\nsend n error=ENOTANERRNO\n", 3, 14,
                 "unknown errno 'ENOTANERRNO'"},
        BadInput{"target t0\ntrap t0.1 -> n\nsend n error=4294967296\n", 3, 14,
                 "error '4294967296' out of range"},
        BadInput{"target t0\ntrap t0.1 -> n\naddfd n size=\n", 3, 14, "needs a value"},
        BadInput{"target t0\ntrap t0.1 -> n\nrecv t0 expect ok=m\n", 3, 19,
                 "notification 'm' used before a trap binds it"},
        BadInput{"target t0\nkill t0 -> f\n", 2, 9, "kill binds no name"},
        BadInput{"target t0\nsettle now\n", 2, 8, "unexpected 'now'"},
        BadInput{"target t0\nsettle\r\nsettle x\n", 3, 8, "unexpected 'x'"},
        BadInput{"target t0\ntarget t1\nsettle\nwait\n", 4, 5, "expected a thread name"},
        BadInput{"target t0\ntrap t0.1 -> n\naddfd n emulates=open(O_NONBLOCK)\n", 3, 18,
                 "unknown emulated call 'open(O_NONBLOCK)' (none, open, open(O_CLOEXEC),"},
        BadInput{"target t0\ntrap t0.1 -> n\nwork n+1\n", 3, 7, "work takes no id delta"},
        BadInput{"target t0\nwork\n", 2, 5, "expected a notification name"}));

TEST(ScenarioText, LimitsAreEnforced) {
  std::string ops = "target t0\n";
  for (int i = 0; i < kMaxOps; ++i) ops += "settle\n";
  EXPECT_TRUE(ParseScenario(ops, "", nullptr).has_value());
  ParseError error;
  EXPECT_FALSE(ParseScenario(ops + "settle\n", "", &error).has_value());
  EXPECT_EQ(error.ToString(), "<input>:66:1: too many ops (max 64)");

  std::string threads = "target t0\n";
  for (int i = 0; i < kMaxThreads + 1; ++i) threads += "on w" + std::to_string(i) + ": recv t0\n";
  EXPECT_FALSE(ParseScenario(threads, "f", &error).has_value());
  EXPECT_EQ(error.ToString(), "f:6:4: too many threads (max 4)");

  std::string notifs = "target t0\n";
  for (int i = 0; i < kMaxNotifs + 1; ++i) notifs += "trap t0.1 -> n" + std::to_string(i) + "\n";
  EXPECT_FALSE(ParseScenario(notifs, "f", &error).has_value());
  EXPECT_EQ(error.ToString(), "f:18:14: too many notifications (max 16)");

  std::string fds = "target t0\n";
  for (int i = 0; i < kMaxFdNames / 2 + 1; ++i) {
    fds += "pipe t0 -> a" + std::to_string(i) + " b" + std::to_string(i) + "\n";
  }
  EXPECT_FALSE(ParseScenario(fds, "f", &error).has_value());
  EXPECT_EQ(error.line, 18);
  EXPECT_EQ(error.message, "too many fd names (max 32)");

  EXPECT_FALSE(ParseScenario("target " + std::string(kMaxNameLength + 1, 'a'), "f", &error));
  EXPECT_NE(error.message.find("invalid target name 'aaaa"), std::string::npos);
  EXPECT_NE(error.message.find("...'"), std::string::npos);  // long tokens are cut
}

TEST(ScenarioText, HostileBytesFailCleanly) {
  ParseError error;
  const std::string nul("target t0\nsettle\0\n", 18);
  EXPECT_FALSE(ParseScenario(nul, "x", &error).has_value());
  EXPECT_EQ(error.ToString(),
            "x:2:1: unknown op 'settle\\x00' (cell, target, open, pipe, "
            "socketpair, close, dup, dup2, nofile, handler, install_filter, "
            "reserve, release, trap, returned, signal, kill, spawn, recv, addfd, send, "
            "id_valid, set_flags, ioctl, close_listener, wait, signal_thread, "
            "settle, work, poll, get_notif_sizes)");

  const std::string long_line = "target t0\nnofile t0 " + std::string(1 << 20, '9') + "\n";
  EXPECT_FALSE(ParseScenario(long_line, "x", &error).has_value());
  EXPECT_EQ(error.line, 2);
  EXPECT_EQ(error.column, 11);

  std::string all_bytes;
  for (int c = 0; c < 256; ++c) all_bytes += static_cast<char>(c);
  EXPECT_FALSE(ParseScenario(all_bytes, "x", &error).has_value());
  EXPECT_FALSE(ParseScenario("target t0\n" + all_bytes, "x", &error).has_value());
  EXPECT_FALSE(ParseScenario("target t0\nsettle expect ok=-", "x", &error).has_value());
  EXPECT_FALSE(ParseScenario("target t0\nsettle expect ok=0x", "x", &error).has_value());
  EXPECT_FALSE(ParseScenario("target t0\ntrap t0.-1 -> n", "x", &error).has_value());
  EXPECT_FALSE(ParseScenario("target t0\ntrap t0. -> n", "x", &error).has_value());
  EXPECT_FALSE(ParseScenario("target t0\non : recv t0", "x", &error).has_value());
  EXPECT_FALSE(ParseScenario("target t0\non", "x", &error).has_value());
  EXPECT_FALSE(ParseScenario("target t0\non A:", "x", &error).has_value());
  EXPECT_FALSE(ParseScenario("target t0\ndup t0 1 min= -> f", "x", &error).has_value());
  // No error out-parameter is fine too.
  EXPECT_FALSE(ParseScenario(all_bytes, "x", nullptr).has_value());
}

TEST(ScenarioText, OnPrefixAcceptsSeparateColonAndDeclaresThreadsInOrder) {
  const Scenario s = MustParse(
      "target t0\n"
      "on b : recv t0\n"
      "on a: recv t0\n"
      "on b: recv t0\n"
      "wait a\n");
  EXPECT_EQ(s.threads, (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(s.ops[2].thread, 0);
  EXPECT_EQ(s.ops[3].thread, 1);
  ExpectRoundTrip(s);
}

TEST(ScenarioText, ProcessLinesNeedAThreadStartedOnThem) {
  ParseError error;
  EXPECT_FALSE(ParseScenario("target t\nprocess p\nsettle\n", "x.scn", &error).has_value());
  EXPECT_EQ(error.ToString(), "x.scn:4:1: process 'p' has no op started on it");
  EXPECT_FALSE(
      ParseScenario("target t\nprocess p\nprocess p pidns\n", "x.scn", &error).has_value());
  EXPECT_EQ(error.ToString(), "x.scn:3:9: thread 'p' already declared");
  EXPECT_FALSE(ParseScenario("target t\nprocess p netns\n", "x.scn", &error).has_value());
  EXPECT_EQ(error.line, 2);
  const auto s = ParseScenario("target t pidns\nprocess p pidns\non p: recv t\n", "x.scn", &error);
  ASSERT_TRUE(s.has_value()) << error.ToString();
  EXPECT_EQ(PrintScenario(*s), "target t pidns\nprocess p pidns\n\non p: recv t\n");
}

TEST(ScenarioValidate, PlacesAreCanonical) {
  Scenario s;
  s.targets.emplace_back();
  s.targets[0].name = "t";
  s.threads = {"a"};
  Op recv;
  recv.kind = OpKind::kRecv;
  recv.thread = 0;
  s.ops = {recv};
  s.places = {ThreadPlace::kThread};
  EXPECT_FALSE(ValidateScenario(s));  // a trailing thread's place
  s.places = {ThreadPlace::kProcess, ThreadPlace::kProcess};
  EXPECT_FALSE(ValidateScenario(s));  // more places than threads
  s.places = {ThreadPlace::kProcessPidNs};
  EXPECT_TRUE(ValidateScenario(s));
}

TEST(ScenarioText, KeywordsCanBeNames) {
  // Names live in their own namespaces, and positions decide what a word is.
  const Scenario s = MustParse(
      "target expect\n"
      "pipe expect cloexec -> cloexec expect expect ok\n"
      "dup2 expect cloexec expect cloexec\n"
      "trap expect.1 -> legacy\n"
      "id_valid legacy legacy\n"
      "on on: recv expect\n");
  EXPECT_TRUE(s.ops[0].cloexec);
  EXPECT_EQ(s.fd_names, (std::vector<std::string>{"cloexec", "expect"}));
  EXPECT_TRUE(s.ops[1].cloexec);
  EXPECT_TRUE(s.ops[3].legacy);
  ExpectRoundTrip(s);
}

TEST(ScenarioValidate, RejectsWhatThePrinterCannotRepresent) {
  Scenario s = MustParse("target t0\ntrap t0.1 -> n\naddfd n -> f\nclose t0 f\n");
  ASSERT_TRUE(ValidateScenario(s));
  Scenario bad = s;
  bad.ops[2].flags = 1;
  EXPECT_EQ(Rejection(bad),
            "op 3 (close): field 'flags' is not used by this op and must stay at its default");
  bad = s;
  bad.ops[1].target = 1;
  EXPECT_FALSE(ValidateScenario(bad));
  bad = s;
  bad.ops[0].task = 3;
  EXPECT_EQ(Rejection(bad), "op 1 (trap): task 3 out of range 1..2");
  bad = s;
  bad.ops[0].fd.literal = 3;  // a tuxcall trap carries no fd
  EXPECT_EQ(Rejection(bad),
            "op 1 (trap): field 'fd' is not used by this op and must stay at its default");
  bad = s;
  bad.ops[2].call = TrapCall::kDup;
  EXPECT_EQ(Rejection(bad),
            "op 3 (close): field 'call' is not used by this op and must stay at its default");
  bad = s;
  bad.fd_names.push_back("g");
  EXPECT_EQ(Rejection(bad), "fd name 'g' is never bound");
  bad = s;
  bad.ops[2].fd = {0, 5};
  EXPECT_EQ(Rejection(bad), "op 3 (close): an fd name reference carries a literal");
  bad = s;
  bad.notifs[0] = "9";
  EXPECT_EQ(Rejection(bad), "invalid notification name '9'");
  bad = s;
  bad.ops[1].expect = {true, false, Outcome::Error(0)};
  EXPECT_FALSE(ValidateScenario(bad));
  bad = s;
  std::swap(bad.ops[1], bad.ops[2]);
  EXPECT_FALSE(ValidateScenario(bad));
  bad = s;
  bad.targets.clear();
  EXPECT_EQ(Rejection(bad), "no target declared");
  bad = s;
  bad.ops[0].kind = static_cast<OpKind>(kOpKindCount);
  EXPECT_FALSE(ValidateScenario(bad));
  EXPECT_FALSE(PrintScenario(bad).empty());  // an invalid scenario still prints
}

// The text round trip, and the ops come back from the binary form.
void ExpectTextAndCodecRoundTrip(const Scenario& s) {
  ExpectRoundTrip(s);
  const std::vector<uint8_t> bytes = EncodeScenario(s);
  const std::optional<Scenario> decoded = DecodeScenario(bytes.data(), bytes.size());
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->ops, s.ops);
}

// inject= on addfd: parsed, printed and encoded; only the main thread may inject.
TEST(ScenarioText, AddFdInjectRoundTripsOnTheMainThreadOnly) {
  const Scenario s = MustParse(
      "target t0\ntrap t0.1 -> n\naddfd n inject=lsm expect EACCES\n"
      "addfd n flags=SETFD newfd=4001 inject=nomem\naddfd n flags=SETFD newfd=99 "
      "inject=nr_open\n");
  ASSERT_EQ(s.ops.size(), 4u);
  EXPECT_EQ(s.ops[1].inject, InjectKind::kLsm);
  EXPECT_EQ(s.ops[2].inject, InjectKind::kNomem);
  EXPECT_EQ(s.ops[3].inject, InjectKind::kNrOpen);
  EXPECT_EQ(PrintOp(s, 1), "addfd n inject=lsm expect EACCES");
  ExpectTextAndCodecRoundTrip(s);

  ParseError error;
  EXPECT_FALSE(ParseScenario("target t0\ntrap t0.1 -> n\naddfd n inject=oom\n", "bad.scn", &error));
  EXPECT_NE(error.message.find("unknown injection 'oom' (none, lsm, nomem, nr_open)"),
            std::string::npos)
      << error.ToString();
  Scenario on_thread = MustParse("target t0\ntrap t0.1 -> n\non th: addfd n\nwait th\n");
  ASSERT_TRUE(ValidateScenario(on_thread));
  on_thread.ops[1].inject = InjectKind::kLsm;
  EXPECT_EQ(Rejection(on_thread),
            "op 2 (addfd): inject= on a supervisor thread: only the main thread may inject");
  Scenario close = MustParse("target t0\nopen t0 devnull -> f\nclose t0 f\n");
  close.ops[1].inject = InjectKind::kNomem;
  EXPECT_EQ(Rejection(close),
            "op 2 (close): field 'inject' is not used by this op and must stay at its default");
}

// trap ... dup=FD: a trapped dup (TrapCall::kDup) of a literal or a name; parsed, printed and
// encoded (RejectsWhatThePrinterCannotRepresent: a tuxcall trap carries no fd).
TEST(ScenarioText, TrapDupRoundTrips) {
  const Scenario s = MustParse(
      "target t0\nopen t0 memfd -> f\ntrap t0.1 dup=f -> n\ntrap t0.2 dup=-1 -> m\n"
      "recv t0\nsend n flags=CONTINUE\nreturned n expect ok=1\n");
  ASSERT_EQ(s.ops.size(), 6u);
  EXPECT_EQ(s.ops[1].call, TrapCall::kDup);
  EXPECT_EQ(s.ops[1].fd, (FdRef{0, 0}));
  EXPECT_EQ(s.ops[2].call, TrapCall::kDup);
  EXPECT_EQ(s.ops[2].fd, (FdRef{-1, -1}));
  EXPECT_EQ(PrintOp(s, 1), "trap t0.1 dup=f -> n");
  EXPECT_EQ(PrintOp(s, 2), "trap t0.2 dup=-1 -> m");
  ExpectTextAndCodecRoundTrip(s);

  ParseError error;
  EXPECT_FALSE(ParseScenario("target t0\ntrap t0.1 dup=g -> n\n", "bad.scn", &error));
  EXPECT_EQ(error.ToString(), "bad.scn:2:15: fd name 'g' used before an op binds it");
}

TEST(ScenarioNames, KindsAndOutcomes) {
  EXPECT_STREQ(OpKindName(OpKind::kAddFd), "addfd");
  EXPECT_STREQ(OpKindName(OpKind::kSignalThread), "signal_thread");
  EXPECT_STREQ(SourceKindName(SourceKind::kPipeRead), "pipe_r");
  EXPECT_STREQ(SourceKindName(SourceKind::kHuge), "huge");
  EXPECT_EQ(DescribeOutcome(Outcome::Ok()), "ok");
  EXPECT_EQ(DescribeOutcome(Outcome::Ok(3)), "ok 3");
  EXPECT_EQ(DescribeOutcome(Outcome::Error(EBADF)), "EBADF");
  EXPECT_EQ(DescribeOutcome(Outcome::Blocked()), "blocked");
}

}  // namespace
}  // namespace addfdlab
