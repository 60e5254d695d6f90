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

std::string CellSkipReason(const CellInfo& cell, const Features& features) {
  if (!features.has(Feature::kUserNotification)) return "no seccomp user notification";
  switch (cell.reach) {
    case Reach::kScenario:
      break;
    case Reach::kNoSchedule:
      return "the notifier lock is held only inside the kernel, for microseconds: no "
             "deterministic schedule reaches it from user space";
    case Reach::kKernelFault:
      if (!features.has(cell.needs)) {
        return "needs kernel fault injection on the fd-install path (" +
               std::string(FeatureName(cell.needs)) + ": " + features.get(cell.needs).evidence +
               "): the debug kernel, `addfdlab vm run --kernel debug`";
      }
      break;
    case Reach::kLowNrOpen:
      // setrlimit refuses a hard RLIMIT_NOFILE above fs.nr_open, so SETFD meets fs.nr_open
      // before the rlimit only once fs.nr_open is lowered after the rlimit was raised: a
      // global change, made only in an addfdlab VM guest (inject=nr_open).
      if (!features.has(cell.needs)) {
        return "needs fs.nr_open lowered below RLIMIT_NOFILE, a global sysctl changed only in "
               "an addfdlab VM guest (" +
               features.get(cell.needs).evidence + ")";
      }
      break;
  }
  if (cell.reach == Reach::kKernelFault || cell.reach == Reach::kLowNrOpen) {
    const Feature ioctl = cell.reach == Reach::kLowNrOpen ? Feature::kSetFd : Feature::kAddFd;
    if (!features.has(ioctl)) {
      return std::string("feature ") + FeatureName(ioctl) +
             " absent: " + features.get(ioctl).evidence;
    }
  }
  if (!features.has(cell.needs)) {
    return std::string("feature ") + FeatureName(cell.needs) +
           " absent: " + features.get(cell.needs).evidence;
  }
  return "";
}

}  // namespace addfdlab
