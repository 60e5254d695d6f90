// The known-deviations list: loading (every malformed file is a clear error naming the
// file), and matching by cell and verdict signature, never by release.
#include "addfdlab/known_deviations.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "addfdlab/cells.h"
#include "addfdlab/scenario_text.h"

namespace addfdlab {
namespace {

const std::string kRepositoryList = ADDFDLAB_SOURCE_DIR "/corpus/contract/known-deviations.json";

// A folder of this process's own under the test's temporary folder (shared by every user
// and every test process), removed at exit.
const std::string& OwnDir() {
  static const struct Dir {
    std::string path;
    Dir() {
      std::string pattern = ::testing::TempDir() + "addfdlab-known-XXXXXX";
      if (::mkdtemp(pattern.data()) != nullptr) path = pattern + "/";
    }
    ~Dir() {
      std::error_code ec;
      if (!path.empty()) std::filesystem::remove_all(path, ec);
    }
  } dir;
  return dir.path;
}

// A file with `text` in this process's temporary folder.
std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = OwnDir() + name;
  std::ofstream(path) << text;
  return path;
}

std::string LoadError(const std::string& text) {
  const auto known = LoadKnownDeviations(WriteFile("known.json", text));
  EXPECT_FALSE(known) << "accepted: " << text;
  return known ? std::string() : known.error().message();
}

constexpr const char* kEntry =
    R"({"id": "bug", "cell": "ADDFD.INTR.SEND", "signatures": ["contract:ADDFD.INTR.SEND:*"],
        "evidence": "seen", "fix": {"summary": "fixed", "commit": "abc123", "release": "6.19"}})";

std::string List(const std::string& entry) {
  return std::string(R"({"deviations": [)") + entry + "]}";
}

Scenario Parse(const std::string& text) {
  ParseError error;
  auto scenario = ParseScenario(text, "test.scn", &error);
  EXPECT_TRUE(scenario) << error.ToString();
  return scenario.value_or(Scenario{});
}

Verdict ContractVerdict(const std::string& cell, int op) {
  Verdict v;
  v.kind = Verdict::Kind::kContract;
  v.cell = cell;
  v.op = op;
  return v;
}

TEST(KnownDeviations, TheRepositoryListLoads) {
  const auto known = LoadKnownDeviations(kRepositoryList);
  ASSERT_TRUE(known) << known.error().message();
  ASSERT_FALSE(known->empty());
  for (const KnownDeviation& d : *known) {
    EXPECT_TRUE(IsContractCell(d.cell)) << d.id;
    EXPECT_FALSE(d.signatures.empty()) << d.id;
    EXPECT_FALSE(d.fix.summary.empty()) << d.id;
  }
}

TEST(KnownDeviations, ReadsEveryField) {
  const auto known =
      LoadKnownDeviations(WriteFile("full.json", List(R"({"id": "bug", "cell": "ADDFD.INTR.SEND",
                         "signatures": ["contract:ADDFD.INTR.SEND:id_valid"], "evidence": "e",
                         "fix": {"summary": "s", "commit": "c", "release": "r"},
                         "seen_on": ["k1", "k2"], "model_quirk": "intr_send_stays_replied"})")));
  ASSERT_TRUE(known) << known.error().message();
  ASSERT_EQ(known->size(), 1u);
  const KnownDeviation& d = known->front();
  EXPECT_EQ(d.id, "bug");
  EXPECT_EQ(d.cell, "ADDFD.INTR.SEND");
  EXPECT_EQ(d.signatures, std::vector<std::string>{"contract:ADDFD.INTR.SEND:id_valid"});
  EXPECT_EQ(d.seen_on, (std::vector<std::string>{"k1", "k2"}));
  EXPECT_EQ(d.model_quirk, "intr_send_stays_replied");
  EXPECT_EQ(d.FixText(), "s (commit c, in r)");
}

TEST(KnownDeviations, ASyntaxErrorNamesFileLineAndColumn) {
  const std::string error = LoadError("{\n  \"deviations\": [\n    {\"id\": ,}\n  ]\n}\n");
  EXPECT_NE(error.find("known.json:3:12: not JSON"), std::string::npos) << error;
}

TEST(KnownDeviations, AMissingFileIsAnError) {
  const auto known = LoadKnownDeviations(OwnDir() + "absent.json");
  ASSERT_FALSE(known);
  EXPECT_NE(known.error().message().find("absent.json: cannot read"), std::string::npos)
      << known.error().message();
}

TEST(KnownDeviations, MalformedEntriesNameTheEntryAndTheField) {
  EXPECT_NE(LoadError(R"({"list": []})").find("\"deviations\" array"), std::string::npos);
  EXPECT_NE(LoadError(List(R"({"id": "x"})")).find("deviations[0]: missing \"cell\""),
            std::string::npos);
  std::string entry = kEntry;
  const auto with = [&](const std::string& from, const std::string& to) {
    std::string e = entry;
    e.replace(e.find(from), from.size(), to);
    return LoadError(List(e));
  };
  EXPECT_NE(with("ADDFD.INTR.SEND\", \"sig", "ADDFD.INTR.SNED\", \"sig")
                .find("unknown cell \"ADDFD.INTR.SNED\""),
            std::string::npos);
  EXPECT_NE(with("contract:ADDFD.INTR.SEND:*", "contract:ADDFD.STRANDED:*")
                .find("is not KIND:ADDFD.INTR.SEND:OP"),
            std::string::npos);
  EXPECT_NE(with("[\"contract:ADDFD.INTR.SEND:*\"]", "[]").find("non-empty array"),
            std::string::npos);
  EXPECT_NE(with("\"evidence\": \"seen\"", "\"evidence\": 3").find("\"evidence\" must be"),
            std::string::npos);
  EXPECT_NE(with("\"summary\": \"fixed\"", "\"text\": \"fixed\"").find("\"fix\" must be"),
            std::string::npos);
  EXPECT_NE(with("\"id\": \"bug\"", "\"id\": \"bug\", \"kernels\": [\"6.1*\"]")
                .find("unknown field \"kernels\""),
            std::string::npos);
  EXPECT_NE(with("\"id\": \"bug\"", "\"id\": \"bug\", \"model_quirk\": \"nope\"")
                .find("unknown model_quirk \"nope\""),
            std::string::npos);
  EXPECT_NE(LoadError(List(std::string(kEntry) + ", " + kEntry)).find("id \"bug\" is used twice"),
            std::string::npos);
}

TEST(KnownDeviations, MatchesByCellAndSignature) {
  const auto known =
      LoadKnownDeviations(WriteFile("match.json", List(R"({"id": "bug", "cell": "ADDFD.INTR.SEND",
                         "signatures": ["contract:ADDFD.INTR.SEND:id_valid",
                                        "expect:ADDFD.INTR.SEND:*"],
                         "evidence": "e", "fix": {"summary": "s"}})")));
  ASSERT_TRUE(known) << known.error().message();
  const Scenario scenario =
      Parse("target t\ntrap t.1 -> n1\nrecv t\nid_valid n1\naddfd n1\nsettle\n");
  // id_valid is op 3 (index 2), addfd op 4.
  EXPECT_EQ(MatchKnownDeviation(*known, ContractVerdict("ADDFD.INTR.SEND", 2), scenario),
            &known->front());
  // The same cell at another op kind is not what the entry describes.
  EXPECT_EQ(MatchKnownDeviation(*known, ContractVerdict("ADDFD.INTR.SEND", 3), scenario), nullptr);
  // Another cell, at the same op kind.
  EXPECT_EQ(MatchKnownDeviation(*known, ContractVerdict("ID_VALID.STATES", 2), scenario), nullptr);
  Verdict expect = ContractVerdict("ADDFD.INTR.SEND", 3);
  expect.kind = Verdict::Kind::kExpect;
  EXPECT_EQ(MatchKnownDeviation(*known, expect, scenario), &known->front());
  // A table verdict without a cell is never a known deviation.
  Verdict leaked;
  leaked.kind = Verdict::Kind::kLeaked;
  leaked.fd = 3;
  EXPECT_EQ(MatchKnownDeviation(*known, leaked, scenario), nullptr);
}

// ADDFD.INTR.SEND's missing fd (the interrupted SEND restarted, the retry refused, the target
// back with 0): the table verdict carries the cell of the request the model installed it
// for (Model::FdCells), and the repository's entry knows it, at a settle and at the end.
TEST(KnownDeviations, TheIntrSendBugIsKnownInTheTable) {
  const auto known = LoadKnownDeviations(kRepositoryList);
  ASSERT_TRUE(known) << known.error().message();
  const Scenario scenario = Parse(
      "target t callers=1\ntrap t.1 -> n1\nrecv t\non T1: addfd n1 flags=SEND\n"
      "signal_thread T1 restart\nsettle\n");
  for (const int op : {5, -1}) {
    Verdict dangling;
    dangling.kind = Verdict::Kind::kDangling;
    dangling.op = op;
    dangling.fd = 0;
    dangling.cell = "ADDFD.INTR.SEND";
    const KnownDeviation* match = MatchKnownDeviation(*known, dangling, scenario);
    ASSERT_NE(match, nullptr) << dangling.Signature(scenario);
    EXPECT_EQ(match->id, "addfd-intr-send-stays-replied");
  }
}

TEST(KnownDeviations, ARunIsKnownOnlyWhenEveryVerdictIs) {
  const auto known = LoadKnownDeviations(WriteFile("run.json", List(kEntry)));
  ASSERT_TRUE(known) << known.error().message();
  const Scenario scenario = Parse("target t\ntrap t.1 -> n1\nrecv t\nid_valid n1\n");
  const Verdict bug = ContractVerdict("ADDFD.INTR.SEND", 2);
  EXPECT_EQ(MatchKnownRun(*known, {}, scenario), nullptr);
  EXPECT_EQ(MatchKnownRun(*known, {bug}, scenario), &known->front());
  Verdict other = ContractVerdict("ID_VALID.STATES", 2);
  EXPECT_EQ(MatchKnownRun(*known, {bug, other}, scenario), nullptr);
}

TEST(CellRegistry, IdsAreUniqueAndApartFromTraceLabels) {
  std::set<std::string_view> ids;
  for (const CellInfo& cell : kContractCells) {
    EXPECT_TRUE(ids.insert(cell.id).second) << cell.id << " twice";
    EXPECT_FALSE(cell.rule.empty()) << cell.id;
    EXPECT_FALSE(cell.follows.empty()) << cell.id;
  }
  for (std::string_view label : kTraceLabels) {
    EXPECT_EQ(ids.count(label), 0u) << label << " is both a cell and a trace label";
    EXPECT_FALSE(IsContractCell(label));
  }
  EXPECT_EQ(ContractCells().size(), std::size(kContractCells));
  static_assert(std::string_view(Cell("ADDFD.STRANDED")) == "ADDFD.STRANDED");
  static_assert(std::string_view(TraceLabel("RECV.OK")) == "RECV.OK");
}

TEST(CellRegistry, SkipReasonsFollowReachAndFeatures) {
  Features all;
  for (FeatureProbe& p : all.probes) p.available = true;
  EXPECT_EQ(CellSkipReason(*FindCell("ADDFD.STRANDED"), all), "");
  EXPECT_NE(CellSkipReason(*FindCell("ADDFD.LOCK.EINTR"), all), "");
  // The injected cells need their injection feature, and the ioctl.
  for (const char* cell : {"ADDFD.NOMEM", "ADDFD.LSM", "ADDFD.SETFD.NR_OPEN"}) {
    EXPECT_EQ(CellSkipReason(*FindCell(cell), all), "") << cell;
  }
  Features stock = all;
  stock.get(Feature::kInjectNomem) = {false, "no writable fail-nth"};
  stock.get(Feature::kInjectLsm) = {false, "no writable fail-nth"};
  stock.get(Feature::kInjectNrOpen) = {false, "not an addfdlab VM guest"};
  EXPECT_NE(CellSkipReason(*FindCell("ADDFD.NOMEM"), stock).find("no writable fail-nth"),
            std::string::npos);
  EXPECT_NE(CellSkipReason(*FindCell("ADDFD.LSM"), stock).find("inject_lsm"), std::string::npos);
  EXPECT_NE(CellSkipReason(*FindCell("ADDFD.SETFD.NR_OPEN"), stock).find("not an addfdlab VM"),
            std::string::npos);
  Features no_setfd = all;
  no_setfd.get(Feature::kSetFd) = {false, "EINVAL"};
  EXPECT_EQ(CellSkipReason(*FindCell("ADDFD.SETFD.NR_OPEN"), no_setfd),
            "feature setfd absent: EINVAL");
  Features old = all;
  old.get(Feature::kSend) = {false, "EINVAL"};
  EXPECT_EQ(CellSkipReason(*FindCell("ADDFD.INTR.SEND"), old), "feature send absent: EINVAL");
  Features none;
  EXPECT_EQ(CellSkipReason(*FindCell("FILTER.FLAGS"), none), "no seccomp user notification");
}

// docs/contract.md is true to the registry: every cell has its place there, and every
// cell-shaped name it writes in backquotes is a cell, a trace label or a pattern of cells.
TEST(CellRegistry, TheContractDocNamesEveryCellAndNoOther) {
  std::ifstream in(ADDFDLAB_SOURCE_DIR "/docs/contract.md");
  ASSERT_TRUE(in);
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  for (const CellInfo& cell : kContractCells) {
    EXPECT_NE(doc.find("`" + std::string(cell.id) + "`"), std::string::npos)
        << cell.id << " is not in docs/contract.md";
  }
  static const std::regex kName(
      "`((ADDFD|RECV|SEND|ID_VALID|SET_FLAGS|LISTENER|FILTER|IOCTL)\\.[A-Z_.]*\\*?)`");
  for (std::sregex_iterator it(doc.begin(), doc.end(), kName), end; it != end; ++it) {
    const std::string name = (*it)[1].str();
    if (name.back() == '*') {
      const std::string prefix = name.substr(0, name.size() - 1);
      const bool any = std::any_of(std::begin(kContractCells), std::end(kContractCells),
                                   [&](const CellInfo& c) { return c.id.starts_with(prefix); });
      EXPECT_TRUE(any) << name << " in docs/contract.md matches no cell";
      continue;
    }
    const bool label =
        std::find(std::begin(kTraceLabels), std::end(kTraceLabels), name) != std::end(kTraceLabels);
    EXPECT_TRUE(IsContractCell(name) || label)
        << name << " in docs/contract.md is neither a cell nor a trace label";
  }
}

}  // namespace
}  // namespace addfdlab
