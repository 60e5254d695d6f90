// The cell registry's queries.
#include "addfdlab/cells.h"

#include <fstream>

namespace addfdlab {

const CellInfo* FindCell(std::string_view id) {
  for (const CellInfo& info : kContractCells) {
    if (info.id == id) return &info;
  }
  return nullptr;
}

const std::vector<std::string>& ContractCells() {
  static const std::vector<std::string> cells = [] {
    std::vector<std::string> out;
    for (const CellInfo& info : kContractCells) out.emplace_back(info.id);
    return out;
  }();
  return cells;
}

const char* ReachName(Reach reach) {
  switch (reach) {
    case Reach::kScenario:
      return "scenario";
    case Reach::kNoSchedule:
      return "no deterministic schedule";
    case Reach::kLowNrOpen:
      return "VM with a lowered fs.nr_open";
    case Reach::kKernelFault:
      return "kernel fault injection";
  }
  return "?";
}

uint64_t ReadNrOpen() {
  std::ifstream in("/proc/sys/fs/nr_open");
  uint64_t value = 0;
  in >> value;
  return value;
}

std::string CellSkipReason(const CellInfo& cell, const Features& features, uint64_t nr_open) {
  if (!features.has(Feature::kUserNotification)) return "no seccomp user notification";
  switch (cell.reach) {
    case Reach::kScenario:
      break;
    case Reach::kNoSchedule:
      return "the notifier lock is held only inside the kernel, for microseconds: no "
             "deterministic schedule reaches it from user space";
    case Reach::kKernelFault:
      if (!features.has(Feature::kFailNth)) {
        return "needs kernel fault injection on the fd-install path (CONFIG_FAULT_INJECTION, "
               "fail-nth): a debug kernel in a VM";
      }
      return "fail-nth is present, but the fd-install path has no injectable allocation in a "
             "stock kernel";
    case Reach::kLowNrOpen:
      // The targets' RLIMIT_NOFILE may be raised up to fs.nr_open, and SETFD above it must
      // hit fs.nr_open first: only a small nr_open (a VM's own) makes that reachable.
      if (nr_open == 0 || nr_open >= 20000) {
        return "needs fs.nr_open below the targets' RLIMIT_NOFILE; fs.nr_open is global, so "
               "only inside a VM";
      }
      break;
  }
  if (!features.has(cell.needs)) {
    return std::string("feature ") + FeatureName(cell.needs) +
           " absent: " + features.get(cell.needs).evidence;
  }
  return "";
}

}  // namespace addfdlab
