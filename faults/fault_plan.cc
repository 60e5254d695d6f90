// Fault plans: their names, and the KIND@before:I / KIND@during:I text.
#include "faults/fault_plan.h"

#include <cstdlib>
#include <iterator>

namespace addfdlab::faults {
namespace {

constexpr std::string_view kKindNames[] = {
    "none",          "interrupt",   "signal",     "signal-restart", "kill-supervisor",
    "signal-target", "kill-target", "fail-ioctl", "fail-getfd",     "squeeze-rlimit"};
static_assert(std::size(kKindNames) == std::size(kFaultKinds) + 1);

int ParseErrno(std::string_view name) {
  for (int e = 1; e < 134; ++e) {
    if (Errno(e).Name() == name) return e;
  }
  return 0;
}

}  // namespace

std::string_view FaultKindName(FaultKind kind) { return kKindNames[static_cast<size_t>(kind)]; }

bool SeamFault(FaultKind kind) {
  return kind == FaultKind::kFailIoctl || kind == FaultKind::kFailGetfd;
}

std::string FaultPlan::Format() const {
  if (kind == FaultKind::kNone) return "none";
  std::string out = std::string(FaultKindName(kind)) +
                    (when == When::kBefore ? "@before:" : "@during:") + std::to_string(ioctl);
  if (SeamFault(kind)) out += "=" + Errno(err).Name();
  return out;
}

Result<FaultPlan> FaultPlan::Parse(std::string_view text) {
  FaultPlan plan;
  const auto fail = [](size_t col, const std::string& what) {
    return Error::Invalid("col " + std::to_string(col + 1) + ": " + what);
  };
  if (text == "none") return plan;
  const size_t at = text.find('@');
  if (at == std::string_view::npos) return fail(0, "expected KIND@before:I or KIND@during:I");
  const std::string_view kind = text.substr(0, at);
  bool found = false;
  for (size_t i = 1; i < std::size(kKindNames); ++i) {
    if (kKindNames[i] == kind) {
      plan.kind = static_cast<FaultKind>(i);
      found = true;
    }
  }
  if (!found) return fail(0, "unknown fault '" + std::string(kind) + "'");
  std::string_view rest = text.substr(at + 1);
  size_t col = at + 1;
  if (rest.rfind("before:", 0) == 0) {
    plan.when = When::kBefore;
    rest.remove_prefix(7);
    col += 7;
  } else if (rest.rfind("during:", 0) == 0) {
    plan.when = When::kDuring;
    rest.remove_prefix(7);
    col += 7;
  } else {
    return fail(col, "expected before: or during:");
  }
  const size_t eq = rest.find('=');
  const std::string number(rest.substr(0, eq));
  char* end = nullptr;
  const long index = std::strtol(number.c_str(), &end, 10);
  if (number.empty() || *end != '\0' || index < 0 || index > 1000) {
    return fail(col, "expected an ioctl index 0..1000");
  }
  plan.ioctl = static_cast<int>(index);
  if (eq != std::string_view::npos) {
    if (!SeamFault(plan.kind)) return fail(col + eq, "only fail-ioctl and fail-getfd take =ERRNO");
    plan.err = ParseErrno(rest.substr(eq + 1));
    if (plan.err == 0) return fail(col + eq + 1, "unknown errno name");
  }
  return plan;
}

}  // namespace addfdlab::faults
