// Kernel trouble on a guest console. The patterns are the kernel's own report headers
// (lib/bug.c, mm/kasan/report.c, kernel/locking/lockdep.c, kernel/hung_task.c, ...).
#include "console.h"

#include <array>
#include <utility>

namespace addfdlab::vm {
namespace {

constexpr size_t kMaxExcerptLines = 60;

// Most specific first: a KASAN report also says "BUG:".
constexpr std::array<std::pair<std::string_view, std::string_view>, 22> kPatterns{{
    {"BUG: KASAN:", "KASAN"},
    {"UBSAN:", "UBSAN"},
    {"BUG: KFENCE:", "KFENCE"},
    {"WARNING: possible circular locking dependency", "lockdep"},
    {"WARNING: possible recursive locking", "lockdep"},
    {"WARNING: inconsistent lock state", "lockdep"},
    {"WARNING: suspicious RCU usage", "lockdep"},
    {"WARNING: bad unlock balance", "lockdep"},
    {"WARNING: lock held when returning to user space", "lockdep"},
    {"DEBUG_LOCKS_WARN_ON", "lockdep"},
    {"blocked for more than", "hung task"},
    {"BUG: soft lockup", "soft lockup"},
    {"rcu_sched self-detected stall", "RCU stall"},
    {"rcu: INFO: rcu_preempt detected stalls", "RCU stall"},
    {"rcu: INFO: rcu_sched detected stalls", "RCU stall"},
    {"general protection fault", "general protection fault"},
    {"kernel BUG at", "BUG"},
    {"BUG:", "BUG"},
    {"WARNING:", "WARNING"},
    {"Oops:", "Oops"},
    {"Kernel panic", "panic"},
    {"unable to handle kernel", "Oops"},
}};

// The line without its "[   12.345678] " prefix.
std::string_view StripTimestamp(std::string_view line) {
  if (!line.empty() && line.front() == '[') {
    const size_t close = line.find("] ");
    if (close != std::string_view::npos && close < 20) return line.substr(close + 2);
  }
  return line;
}

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

// The kind of report `line` starts, or "".
std::string_view KindOf(std::string_view line) {
  const std::string_view text = StripTimestamp(line);
  for (const auto& [pattern, name] : kPatterns) {
    if (text.find(pattern) != std::string_view::npos) return name;
  }
  return {};
}

}  // namespace

std::vector<KernelTrouble> FindKernelTrouble(std::string_view console) {
  const std::vector<std::string_view> lines = SplitLines(console);
  std::vector<KernelTrouble> found;
  for (size_t i = 0; i < lines.size();) {
    const std::string_view kind = KindOf(lines[i]);
    if (kind.empty()) {
      ++i;
      continue;
    }
    KernelTrouble trouble{std::string(kind), std::string(StripTimestamp(lines[i])), i + 1, ""};
    // A report runs to its "---[ end" line, or up to the next report's first line.
    size_t j = i;
    for (; j < lines.size() && j < i + kMaxExcerptLines; ++j) {
      if (j > i && !KindOf(lines[j]).empty()) break;
      trouble.excerpt.append(lines[j]).push_back('\n');
      if (j > i && lines[j].find("---[ end") != std::string_view::npos) {
        ++j;
        break;
      }
    }
    found.push_back(std::move(trouble));
    i = j;
  }
  return found;
}

QemuExit DecodeQemuExit(int qemu_code) {
  if (qemu_code == 0) return {QemuExit::Kind::kPoweredOff, -1};
  if (qemu_code > 0 && (qemu_code & 1) != 0) return {QemuExit::Kind::kStatus, qemu_code >> 1};
  return {QemuExit::Kind::kFailed, -1};
}

}  // namespace addfdlab::vm
