// The oracles' comparisons; none of them makes a syscall.
#include "addfdlab/oracle.h"

#include <sstream>

#include "addfdlab/cells.h"

namespace addfdlab {
std::string DescribeAllowed(const std::vector<Outcome>& allowed) {
  std::string text;
  for (const Outcome& o : allowed) {
    if (!text.empty()) text += " or ";
    text += DescribeOutcome(o);
  }
  return text;
}

const char* VerdictKindName(Verdict::Kind kind) {
  switch (kind) {
    case Verdict::Kind::kContract:
      return "contract";
    case Verdict::Kind::kExpect:
      return "expect";
    case Verdict::Kind::kLeaked:
      return "leaked-fd";
    case Verdict::Kind::kDangling:
      return "dangling-fd";
    case Verdict::Kind::kWrongFile:
      return "wrong-file";
    case Verdict::Kind::kCloexec:
      return "wrong-cloexec";
    case Verdict::Kind::kHygiene:
      return "hygiene";
    case Verdict::Kind::kHang:
      return "hang";
    case Verdict::Kind::kHarness:
      return "harness";
  }
  return "?";
}

std::string DescribeModelFile(const std::optional<ModelFile>& file) {
  if (!file) return "an unknown file";
  switch (file->kind) {
    case ModelFile::Kind::kSource:
      return std::string("source ") + SourceKindName(static_cast<SourceKind>(file->index));
    case ModelFile::Kind::kLocal:
      return "target file #" + std::to_string(file->index);
    case ModelFile::Kind::kHarness:
      return "harness fd";
  }
  return "?";
}

std::string Verdict::Signature(const Scenario& scenario) const {
  std::string signature = VerdictKindName(kind);
  signature += ":" + (cell.empty() ? std::string("-") : cell);
  if (op >= 0 && static_cast<size_t>(op) < scenario.ops.size()) {
    signature += ":" + std::string(OpKindName(scenario.ops[static_cast<size_t>(op)].kind));
  } else {
    signature += ":end";
  }
  return signature;
}

std::string Verdict::Describe(const Scenario& scenario) const {
  std::ostringstream out;
  out << VerdictKindName(kind);
  if (!cell.empty()) out << " [" << cell << "]";
  if (op >= 0 && static_cast<size_t>(op) < scenario.ops.size()) {
    out << " at op " << op + 1 << " (" << OpKindName(scenario.ops[static_cast<size_t>(op)].kind)
        << ")";
  } else if (op < 0) {
    out << " at the end";
  }
  if (fd >= 0) out << " fd " << fd;
  if (!expected.empty() || !observed.empty()) {
    out << ": expected " << expected << ", observed " << observed;
  }
  if (!detail.empty()) out << " (" << detail << ")";
  return out.str();
}

std::vector<Verdict> CompareFdTables(const std::map<int, ModelFd>& expected,
                                     const std::map<int, ObservedFd>& observed, int op,
                                     const std::map<int, std::string>& cells) {
  std::vector<Verdict> verdicts;
  const auto make = [op, &cells](Verdict::Kind kind, int fd, std::string want, std::string got) {
    Verdict v;
    v.kind = kind;
    v.op = op;
    if (const auto it = cells.find(fd); it != cells.end()) v.cell = it->second;
    v.fd = fd;
    v.expected = std::move(want);
    v.observed = std::move(got);
    return v;
  };
  for (const auto& [fd, want] : expected) {
    auto it = observed.find(fd);
    if (it == observed.end()) {
      verdicts.push_back(
          make(Verdict::Kind::kDangling, fd, DescribeModelFile(want.file), "closed"));
      continue;
    }
    const ObservedFd& got = it->second;
    if (!got.file || *got.file != want.file) {
      verdicts.push_back(make(Verdict::Kind::kWrongFile, fd, DescribeModelFile(want.file),
                              DescribeModelFile(got.file) + " " + got.description));
    } else if (got.cloexec != want.cloexec) {
      verdicts.push_back(make(Verdict::Kind::kCloexec, fd, want.cloexec ? "cloexec" : "no cloexec",
                              got.cloexec ? "cloexec" : "no cloexec"));
    }
  }
  for (const auto& [fd, got] : observed) {
    if (expected.count(fd) == 0) {
      verdicts.push_back(make(Verdict::Kind::kLeaked, fd, "closed",
                              DescribeModelFile(got.file) + " " + got.description));
    }
  }
  return verdicts;
}

std::vector<Verdict> CheckEmulatedCloexec(const std::map<int, EmulatedCall>& emulated,
                                          const std::map<int, ObservedFd>& observed, int op) {
  std::vector<Verdict> verdicts;
  for (const auto& [fd, call] : emulated) {
    const auto it = observed.find(fd);
    if (it == observed.end() || call == EmulatedCall::kNone) continue;
    const bool want = EmulatedCloexec(call);
    if (it->second.cloexec == want) continue;
    const std::string name = kEmulatedCallNames[static_cast<size_t>(call)];
    Verdict v;
    v.kind = Verdict::Kind::kCloexec;
    v.op = op;
    v.cell = PatternCell("PATTERN.CLOEXEC");
    v.fd = fd;
    v.expected = std::string(want ? "cloexec" : "no cloexec") + ", as " + name + " makes it";
    v.observed = it->second.cloexec ? "cloexec" : "no cloexec";
    v.detail = "the injection emulates " + name + "; its newfd_flags " +
               (it->second.cloexec ? "set O_CLOEXEC" : "left out O_CLOEXEC");
    verdicts.push_back(std::move(v));
  }
  return verdicts;
}

std::optional<Verdict> CheckOutcome(const Prediction& prediction, const Outcome& observed, int op) {
  if (prediction.allowed.empty()) return std::nullopt;
  for (const Outcome& allowed : prediction.allowed) {
    if (allowed == observed) return std::nullopt;
  }
  Verdict v;
  v.kind = Verdict::Kind::kContract;
  v.op = op;
  v.cell = prediction.cell;
  v.expected = DescribeAllowed(prediction.allowed);
  v.observed = DescribeOutcome(observed);
  return v;
}

std::optional<Verdict> CheckExpect(const Op& op, const Outcome& observed, int index,
                                   const std::string& cell) {
  if (!op.expect.present) return std::nullopt;
  const Outcome& want = op.expect.outcome;
  const bool holds = op.expect.any_value ? observed.kind == Outcome::Kind::kOk : want == observed;
  if (holds) return std::nullopt;
  Verdict v;
  v.kind = Verdict::Kind::kExpect;
  v.op = index;
  v.cell = cell;
  v.expected = op.expect.any_value ? "ok" : DescribeOutcome(want);
  v.observed = DescribeOutcome(observed);
  return v;
}

}  // namespace addfdlab
