// `addfdlab coverage`'s report on fixtures: objdump and addr2line output, function
// extents in C source, the collection's JSON, and both renderings.
#include "coverage_report.h"

#include <gtest/gtest.h>

namespace addfdlab::tools::coverage {
namespace {

constexpr const char* kObjdump = R"(
vmlinux:     file format elf64-x86-64

Disassembly of section .text:

ffffffff8127b9b6 <seccomp_notify_addfd>:
ffffffff8127b9b6:	push   %rbp
ffffffff8127b9b7:	call   ffffffff812d5a20 <__sanitizer_cov_trace_pc>
ffffffff8127b9bc:	mov    %rsp,%rbp
ffffffff8127b9bf:	call   ffffffff81300000 <copy_struct_from_user>
ffffffff8127b9c4:	call   ffffffff812d5a20 <__sanitizer_cov_trace_pc>
ffffffff8127b9c9:	ret
)";

TEST(CoverageReport, CoverPointsAreTheCallsReturnAddresses) {
  EXPECT_EQ(ParseObjdumpCoverPoints(kObjdump),
            (std::vector<uint64_t>{0xffffffff8127b9bc, 0xffffffff8127b9c9}));
  EXPECT_TRUE(ParseObjdumpCoverPoints("").empty());
}

constexpr const char* kAddr2line =
    "0xffffffff8127b9bb\n"
    "list_empty\n"
    "/build/linux/include/linux/list.h:373\n"
    "seccomp_notify_addfd\n"
    "/build/linux/kernel/seccomp.c:5 (discriminator 2)\n"
    "0xffffffff8127b9c8\n"
    "seccomp_notify_addfd\n"
    "/build/linux/kernel/seccomp.c:7\n"
    "0xffffffff8127ba00\n"
    "??\n"
    "??:0\n";

TEST(CoverageReport, Addr2lineFramesInnermostFirst) {
  const auto frames = ParseAddr2line(kAddr2line);
  ASSERT_EQ(frames.size(), 3u);
  const auto& first = frames.at(0xffffffff8127b9bb);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0], (SourceFrame{"list_empty", "/build/linux/include/linux/list.h", 373}));
  EXPECT_EQ(first[1], (SourceFrame{"seccomp_notify_addfd", "/build/linux/kernel/seccomp.c", 5}));
  EXPECT_EQ(frames.at(0xffffffff8127b9c8).size(), 1u);
  EXPECT_TRUE(frames.at(0xffffffff8127ba00).empty());  // no line information
}

const std::vector<std::string> kSource = {
    "static long seccomp_notify_addfd(struct seccomp_filter *filter);",  // 1: a declaration
    "",                                                                  // 2
    "static long seccomp_notify_addfd(struct seccomp_filter *filter,",   // 3
    "\t\t\t\t unsigned int size)",                                       // 4
    "{",                                                                 // 5
    "\tif (size < 8) {",                                                 // 6
    "\t\treturn ret;",                                                   // 7
    "\t}",                                                               // 8
    "\treturn 0;",                                                       // 9
    "}",                                                                 // 10
    "int alloc_fd(void) { return 0; }",                                  // 11
};

TEST(CoverageReport, FunctionExtentsSkipDeclarations) {
  EXPECT_EQ(FindFunctionLines(kSource, "seccomp_notify_addfd"), (std::pair<int, int>{3, 10}));
  EXPECT_EQ(FindFunctionLines(kSource, "alloc_fd"), (std::pair<int, int>{11, 11}));
  EXPECT_FALSE(FindFunctionLines(kSource, "fd_install"));
}

TEST(CoverageReport, CollectionJsonRoundTrips) {
  Collection c;
  c.kernel = "6.12.57";
  c.kcov = "on";
  c.inputs.push_back({"corpus/contract/a.scn", {{"alloc_fd", 0x10}}, 2, false, true, "clean"});
  auto parsed = ParseCollection(CollectionToJson(c));
  ASSERT_TRUE(parsed) << parsed.error().message();
  ASSERT_EQ(parsed->inputs.size(), 1u);
  EXPECT_EQ(parsed->inputs[0].pcs, (std::vector<KernelPc>{{"alloc_fd", 0x10}}));
  EXPECT_FALSE(parsed->inputs[0].stable);
  EXPECT_TRUE(parsed->inputs[0].truncated);
  EXPECT_FALSE(ParseCollection("[]"));
  EXPECT_FALSE(ParseCollection(R"({"inputs": [{"file": "x", "pcs": ["alloc_fd"]}]})"));
}

KernelImage Image(bool line_info) {
  KernelImage image;
  image.symbol_start["seccomp_notify_addfd"] = 0xffffffff8127b9b6;
  image.points["seccomp_notify_addfd"] = {0xffffffff8127b9bc, 0xffffffff8127b9c9};
  if (line_info) {
    for (const auto& [address, frames] : ParseAddr2line(kAddr2line)) {
      image.frames[address + 1] = frames;
    }
  }
  image.sources["kernel/seccomp.c"] = kSource;
  return image;
}

Collection Reached() {
  Collection c;
  c.kernel = "6.12.57";
  // seccomp_notify_addfd+0x6: the first point (line 5); the second (line 7) is not reached.
  c.inputs.push_back({"a.scn", {{"seccomp_notify_addfd", 0x6}}, 2, true, false, "clean"});
  c.inputs.push_back({"b.scn", {{"seccomp_notify_addfd", 0x6}}, 2, false, false, "clean"});
  return c;
}

TEST(CoverageReport, LinesCoveredUncoveredAndWhy) {
  const Report report = BuildReport(Reached(), Image(true));
  EXPECT_TRUE(report.line_info);
  EXPECT_EQ(report.inputs, 2u);
  EXPECT_EQ(report.stable_inputs, 1u);
  EXPECT_EQ(report.distinct_pcs, 1u);
  ASSERT_EQ(report.functions.size(), 1u);
  const FunctionReport& f = report.functions[0];
  EXPECT_EQ(f.points, 2u);
  EXPECT_EQ(f.reached, 1u);
  ASSERT_EQ(f.lines.size(), 8u);  // lines 3 to 10
  EXPECT_EQ(f.lines[2].number, 5);
  EXPECT_EQ(f.lines[2].state, LineState::kCovered);
  EXPECT_EQ(f.lines[4].number, 7);
  EXPECT_EQ(f.lines[4].state, LineState::kUncovered);
  EXPECT_NE(f.lines[4].why.find("copy_struct_from_user"), std::string::npos);  // annotated
  EXPECT_EQ(f.lines[6].state, LineState::kNone);

  const std::string text = RenderText(report);
  EXPECT_NE(text.find("kernel PCs reached in the addfd path: 1"), std::string::npos) << text;
  EXPECT_NE(text.find("seccomp_notify_addfd: PCs 1/2, lines 1/2"), std::string::npos) << text;
  EXPECT_NE(text.find("not reached kernel/seccomp.c:7"), std::string::npos) << text;
  const std::string html = RenderHtml(report);
  EXPECT_NE(html.find("<tr class=\"c\"><td>5</td>"), std::string::npos) << html;
  EXPECT_NE(html.find("<tr class=\"u\"><td>7</td>"), std::string::npos) << html;
  EXPECT_NE(html.find("1 with the same PCs in every run"), std::string::npos);
}

TEST(CoverageReport, WithoutLineInformationPcsAsFunctionOffset) {
  const Report report = BuildReport(Reached(), Image(false));
  EXPECT_FALSE(report.line_info);
  ASSERT_EQ(report.functions.size(), 1u);
  EXPECT_TRUE(report.functions[0].lines.empty());
  EXPECT_EQ(report.functions[0].unreached_pcs,
            (std::vector<std::string>{"seccomp_notify_addfd+0x13"}));
  const std::string text = RenderText(report);
  EXPECT_NE(text.find("no line information"), std::string::npos) << text;
  EXPECT_NE(text.find("not reached seccomp_notify_addfd+0x13"), std::string::npos) << text;
}

TEST(CoverageReport, AnnotationsMatchByFunctionAndText) {
  EXPECT_NE(AnnotationFor("alloc_fdtable", "\t\tgoto out;").find("ADDFD.NOMEM"), std::string::npos);
  EXPECT_EQ(AnnotationFor("seccomp_notify_poll", "\t\tgoto out;"), "");
  // An empty text is the function's default, after its specific entries.
  EXPECT_NE(AnnotationFor("fd_install", "\tsmp_rmb();").find("slow path"), std::string::npos);
}

}  // namespace
}  // namespace addfdlab::tools::coverage
