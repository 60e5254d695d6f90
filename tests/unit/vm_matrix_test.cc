// vm matrix and vm bisect without QEMU: the table from each kernel's JSON, the explanation
// of a row that differs, the reproducer's verdict, the bisection's boot order, and the
// version order of Debian kernel packages.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "matrix.h"

namespace addfdlab::vm {
namespace {

KernelRun ContractRun(const std::string& kernel, const std::string& release,
                      const std::vector<std::pair<std::string, std::string>>& cells) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& [cell, status] : cells) {
    rows.push_back({{"cell", cell}, {"status", status}, {"reason", status + " here"}});
  }
  return {kernel, 0, "", nlohmann::json{{"kernel", release}, {"cells", rows}}.dump(), 1.0};
}

std::vector<KnownDeviation> Known() {
  KnownDeviation intr;
  intr.id = "addfd-intr-send-stays-replied";
  intr.cell = "ADDFD.INTR.SEND";
  intr.signatures = {"expect:ADDFD.INTR.SEND:*"};
  intr.fix.summary = "seccomp: restore knotif->state";
  intr.fix.release = "6.12.117 stable";
  return {intr};
}

TEST(VmMatrix, ContractRowsDifferOnlyWhereKernelsDisagree) {
  const std::vector<KernelRun> runs = {
      ContractRun("6.1.0-57", "6.1.0-57-cloud-amd64",
                  {{"ADDFD.SIZE.SHORT", "PASS"},
                   {"SET_FLAGS.UNKNOWN", "SKIP"},
                   {"ADDFD.INTR.SEND", "KNOWN"}}),
      ContractRun("6.12.118", "6.12.118+deb12-cloud-amd64",
                  {{"ADDFD.SIZE.SHORT", "PASS"},
                   {"SET_FLAGS.UNKNOWN", "PASS"},
                   {"ADDFD.INTR.SEND", "PASS"}}),
      {"6.12.107", 1, "hung", "", 3.0},
  };
  const Matrix matrix = BuildContractMatrix(runs, Known());
  ASSERT_EQ(matrix.columns.size(), 3u);
  EXPECT_EQ(matrix.columns[1].release, "6.12.118+deb12-cloud-amd64");
  EXPECT_EQ(matrix.columns[2].problem, "hung");
  ASSERT_EQ(matrix.rows.size(), 3u);
  EXPECT_FALSE(matrix.rows[0].differs);
  EXPECT_EQ(matrix.rows[0].statuses, (std::vector<std::string>{"PASS", "PASS", "-"}));
  EXPECT_TRUE(matrix.rows[1].differs);
  // The registry's feature for a SKIP, the known-deviations fix for a KNOWN.
  EXPECT_NE(matrix.rows[1].explanation.find("needs"), std::string::npos)
      << matrix.rows[1].explanation;
  EXPECT_TRUE(matrix.rows[2].differs);
  EXPECT_NE(matrix.rows[2].explanation.find("addfd-intr-send-stays-replied"), std::string::npos);
  EXPECT_NE(matrix.rows[2].explanation.find("6.12.117"), std::string::npos)
      << matrix.rows[2].explanation;
  EXPECT_EQ(matrix.differing(), 2u);

  const std::string text = FormatMatrixText(matrix);
  EXPECT_NE(text.find("ADDFD.INTR.SEND"), std::string::npos);
  EXPECT_NE(text.find("no result from 6.12.107: hung"), std::string::npos);
  const nlohmann::json json = MatrixJson(matrix);
  EXPECT_EQ(json["rows"][2]["statuses"]["6.1.0-57"], "KNOWN");
  EXPECT_EQ(json["differing"], 2);
  const std::string html = MatrixHtml(matrix, "vm matrix <contract>");
  EXPECT_NE(html.find("&lt;contract&gt;"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("<td class='KNOWN'"), std::string::npos);
}

KernelRun ReproRun(const std::string& kernel, const std::vector<std::string>& signatures,
                   bool known) {
  nlohmann::json verdicts = nlohmann::json::array();
  for (const std::string& s : signatures) verdicts.push_back({{"signature", s}, {"text", "t"}});
  nlohmann::json doc = {{"kernel", kernel}, {"verdicts", verdicts}, {"runs", 1}};
  if (known) doc["known_deviation"] = {{"id", "addfd-intr-send-stays-replied"}};
  return {kernel, 0, "", doc.dump(), 1.0};
}

TEST(VmMatrix, ReproVerdictsAndTheirCells) {
  const KernelRun old_run = ReproRun("6.12.107", {"expect:ADDFD.INTR.SEND:6"}, true);
  const KernelRun new_run = ReproRun("6.12.118", {}, false);
  const ReproVerdict old_verdict = ReadReproVerdict(old_run);
  EXPECT_EQ(old_verdict.status, "KNOWN");
  EXPECT_EQ(old_verdict.key, "KNOWN expect:ADDFD.INTR.SEND:6");
  EXPECT_EQ(ReadReproVerdict(new_run).status, "PASS");
  EXPECT_EQ(ReadReproVerdict({"x", 2, "", "not json", 1}).status, "-");
  EXPECT_EQ(ReadReproVerdict(ReproRun("y", {"expect:ADDFD.RLIMIT:3"}, false)).status, "DEVIATES");

  const Matrix matrix = BuildReproMatrix({"addfd_intr_send.scn"}, {{old_run}, {new_run}}, Known());
  ASSERT_EQ(matrix.rows.size(), 1u);
  EXPECT_TRUE(matrix.rows[0].differs);
  EXPECT_NE(matrix.rows[0].explanation.find("ADDFD.INTR.SEND"), std::string::npos);
  EXPECT_NE(matrix.rows[0].explanation.find("6.12.117"), std::string::npos);
}

// Boots a list whose verdict changes at `change` (n when it never does); the boots taken.
std::pair<std::optional<size_t>, size_t> Bisect(size_t n, size_t change) {
  Bisection bisection(n);
  std::vector<size_t> booted;
  while (const std::optional<size_t> next = bisection.Next()) {
    EXPECT_EQ(std::count(booted.begin(), booted.end(), *next), 0) << "booted twice: " << *next;
    booted.push_back(*next);
    bisection.Record(*next, *next < change ? "old" : "new");
  }
  return {bisection.FirstChanged(), bisection.boots()};
}

TEST(VmBisect, BothEndsFirstThenHalving) {
  Bisection bisection(6);
  EXPECT_EQ(bisection.Next(), 0u);
  bisection.Record(0, "old");
  EXPECT_EQ(bisection.Next(), 5u);
  bisection.Record(5, "new");
  EXPECT_EQ(bisection.Next(), 2u);
  for (size_t n = 2; n <= 40; ++n) {
    size_t bound = 2;
    while ((size_t{1} << (bound - 2)) < n - 1) ++bound;
    for (size_t change = 1; change < n; ++change) {
      const auto [first, boots] = Bisect(n, change);
      EXPECT_EQ(first, change) << n;
      EXPECT_LE(boots, bound) << n << " " << change;
    }
    const auto [none, boots] = Bisect(n, n);
    EXPECT_FALSE(none.has_value());
    EXPECT_EQ(boots, 2u);
  }
  EXPECT_EQ(Bisect(1, 1).second, 1u);
}

TEST(VmBisect, KernelPackagesInVersionOrder) {
  EXPECT_TRUE(KernelVersionLess("linux-image-6.12.9+deb12-cloud-amd64-unsigned",
                                "linux-image-6.12.107+deb12-cloud-amd64-unsigned"));
  EXPECT_TRUE(KernelVersionLess("linux-image-6.1.0-47-cloud-amd64-unsigned",
                                "linux-image-6.1.0-57-cloud-amd64-unsigned"));
  EXPECT_TRUE(KernelVersionLess("linux-image-6.1.0-57-cloud-amd64-unsigned",
                                "linux-image-6.12.107+deb12-cloud-amd64-unsigned"));
  const std::vector<std::string> all = {
      "linux-image-6.12.118+deb12-cloud-amd64-unsigned",
      "linux-image-6.12.111+deb12-amd64-unsigned",
      "linux-image-6.12.111+deb12-cloud-amd64-unsigned",
      "linux-image-6.12.107+deb12-cloud-amd64-unsigned",
      "linux-image-6.12.115+deb12-rt-amd64-unsigned",
      "linux-image-6.12.115+deb12-cloud-amd64-unsigned",
      "linux-image-6.1.0-57-cloud-amd64-unsigned",
  };
  EXPECT_EQ(KernelsBetween(all, "linux-image-6.12.107+deb12-cloud-amd64-unsigned",
                           "linux-image-6.12.115+deb12-cloud-amd64-unsigned"),
            (std::vector<std::string>{"linux-image-6.12.107+deb12-cloud-amd64-unsigned",
                                      "linux-image-6.12.111+deb12-cloud-amd64-unsigned",
                                      "linux-image-6.12.115+deb12-cloud-amd64-unsigned"}));
}

}  // namespace
}  // namespace addfdlab::vm
