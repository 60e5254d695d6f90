// Finding folders: classes, signatures and the C reproducer.
#include "findings.h"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "addfdlab/emit_c.h"

namespace addfdlab::tools {
namespace {

// KIND of "KIND:CELL:OP".
std::string_view KindOf(std::string_view signature) {
  return signature.substr(0, signature.find(':'));
}

// CELL of "KIND:CELL:OP" ("" when there is none).
std::string CellOf(std::string_view signature) {
  const size_t first = signature.find(':');
  if (first == std::string_view::npos) return "";
  const size_t second = signature.find(':', first + 1);
  return std::string(signature.substr(
      first + 1, second == std::string_view::npos ? std::string_view::npos : second - first - 1));
}

}  // namespace

const char* FindingClassName(FindingClass c) {
  switch (c) {
    case FindingClass::kKernelDeviation:
      return "kernel deviation";
    case FindingClass::kKnownBug:
      return "known bug";
    case FindingClass::kLeak:
      return "leak";
    case FindingClass::kDangling:
      return "dangling";
    case FindingClass::kHang:
      return "hang";
    case FindingClass::kKernelSplat:
      return "kernel splat";
    case FindingClass::kSanitizerCrash:
      return "sanitizer crash";
    case FindingClass::kHarnessBug:
      return "harness bug";
    case FindingClass::kUnreproduced:
      return "not reproduced";
  }
  return "?";
}

bool IsKernelDeviationSignature(std::string_view signature) {
  const std::string_view kind = KindOf(signature);
  return kind == "contract" || kind == "expect" || kind == "wrong-file" || kind == "wrong-cloexec";
}

FindingClass ClassOfSignature(std::string_view signature) {
  const std::string_view kind = KindOf(signature);
  if (IsKernelDeviationSignature(signature)) return FindingClass::kKernelDeviation;
  if (kind == "leaked-fd") return FindingClass::kLeak;
  if (kind == "dangling-fd") return FindingClass::kDangling;
  if (kind == "hang") return FindingClass::kHang;
  if (kind == "splat") return FindingClass::kKernelSplat;
  if (kind == "sanitizer") return FindingClass::kSanitizerCrash;
  if (kind == "unreproduced") return FindingClass::kUnreproduced;
  return FindingClass::kHarnessBug;  // hygiene, harness, and anything unknown
}

std::string SignatureInHeader(std::string_view text) {
  if (text.rfind("# ", 0) != 0) return "";
  std::string line(text.substr(
      2, text.find('\n') == std::string_view::npos ? std::string_view::npos : text.find('\n') - 2));
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  // KIND:CELL:OP, no spaces: the filer's first line, not a comment of some other scenario.
  const size_t colons = static_cast<size_t>(std::count(line.begin(), line.end(), ':'));
  if (colons != 2 || line.find(' ') != std::string::npos) return "";
  return line;
}

const KnownDeviation* KnownBySignature(const std::vector<KnownDeviation>& known,
                                       std::string_view signature) {
  const std::string cell = CellOf(signature);
  for (const KnownDeviation& d : known) {
    if (d.cell == cell && d.MatchesSignature(std::string(signature))) return &d;
  }
  return nullptr;
}

Result<std::string> FindingReproC(const Scenario& scenario, const std::string& source_name) {
  EmitCOptions emit;
  // Every feature assumed: the program probes the ones its scenario needs, and skips.
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) emit.env.nofile_hard = limit.rlim_max;
  emit.source_name = source_name;
  return EmitC(scenario, emit);
}

std::string SanitizeSignature(std::string_view signature) {
  std::string out;
  for (char c : signature) out += std::isalnum(static_cast<unsigned char>(c)) || c == '.' ? c : '_';
  return out;
}

std::string FindSanitizerReport(std::string_view text) {
  static constexpr std::array<std::string_view, 6> kHeaders = {
      "ERROR: AddressSanitizer",           "ERROR: LeakSanitizer",     "WARNING: ThreadSanitizer",
      "ERROR: UndefinedBehaviorSanitizer", "WARNING: MemorySanitizer", ": runtime error: "};
  for (std::string_view header : kHeaders) {
    const size_t at = text.find(header);
    if (at == std::string_view::npos) continue;
    const size_t begin = text.rfind('\n', at);
    const size_t from = begin == std::string_view::npos ? 0 : begin + 1;
    const size_t end = text.find('\n', at);
    return std::string(text.substr(from, end == std::string_view::npos ? end : end - from));
  }
  return "";
}

}  // namespace addfdlab::tools
