// The fd-table inspector: snapshots of a process's open fds (identity, cloexec, flags,
// description), diffs of two snapshots, and the supervisor's own hygiene.
#ifndef ADDFDLAB_FD_TABLE_H_
#define ADDFDLAB_FD_TABLE_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "addfdlab/result.h"

namespace addfdlab {

struct FdInfo {
  int fd = -1;
  bool cloexec = false;
  unsigned open_flags = 0;  // "flags:" of /proc/PID/fdinfo (octal there), without O_CLOEXEC
  uint64_t dev = 0;         // stat() of /proc/PID/fd/N: the inode behind the file
  uint64_t ino = 0;
  std::string description;  // readlink of /proc/PID/fd/N: "/dev/null", "pipe:[123]", ...
  std::string known_as;     // name of a supervisor-held file kcmp says it is, if any

  // Same inode, cloexec and open flags (not necessarily the same open file description:
  // that takes kcmp).
  bool LooksSame(const FdInfo& other) const {
    return dev == other.dev && ino == other.ino && cloexec == other.cloexec &&
           open_flags == other.open_flags;
  }
};

struct FdSnapshot {
  pid_t pid = 0;
  std::map<int, FdInfo> fds;
};

// Reads /proc/PID/fd and /proc/PID/fdinfo. A fd closed while it is being read is skipped.
Result<FdSnapshot> SnapshotFds(pid_t pid);

// kcmp(KCMP_FILE): true when fd_a of pid_a and fd_b of pid_b are one open file description.
Result<bool> SameFile(pid_t pid_a, int fd_a, pid_t pid_b, int fd_b);

// A file the supervisor holds, by name, to recognise in a target's table.
struct KnownFile {
  std::string name;
  int fd = -1;  // in this process
};
// Sets known_as on every entry that kcmp says is one of `known` (the first in `known`'s
// order). `likely` (may be null) names, per fd, the known file to try first: with known
// files that are distinct open file descriptions, as the executor's are, the answer is the
// same, and an fd that holds what the model expects costs one kcmp instead of one per
// known file.
void IdentifyFds(FdSnapshot& snapshot, const std::vector<KnownFile>& known,
                 const std::map<int, std::string>* likely = nullptr);

struct FdChange {
  int fd = -1;
  FdInfo before;
  FdInfo after;
};

struct FdDiff {
  std::vector<FdInfo> added;      // open after, not before
  std::vector<FdInfo> removed;    // open before, not after
  std::vector<FdChange> changed;  // open in both, another file or other flags
  bool empty() const { return added.empty() && removed.empty() && changed.empty(); }
};

FdDiff DiffFds(const FdSnapshot& before, const FdSnapshot& after);
// One line per difference: "+5 /dev/null cloexec", "-3 pipe:[9]", "~4 ... -> ...".
std::string DescribeDiff(const FdDiff& diff);
std::string DescribeFd(const FdInfo& info);

// The supervisor's own state, for hygiene checks.
struct ProcessHygiene {
  std::set<int> fds;
  int threads = 0;
  std::set<pid_t> children;
};
Result<ProcessHygiene> SnapshotHygiene(pid_t pid);
// Every numeric entry of a /proc directory (/proc/PID/fd, /proc/PID/task).
Result<std::vector<int>> ListProcNumbers(const std::string& path);
// The children of threads `tids` of process `pid` (/proc/PID/task/TID/children): a child's
// parent is the thread that cloned it.
std::set<pid_t> ChildrenOfThreads(pid_t pid, const std::vector<int>& tids);
// What changed between two hygiene snapshots, or "" when nothing did.
std::string DescribeHygieneChange(const ProcessHygiene& before, const ProcessHygiene& after);

}  // namespace addfdlab

#endif  // ADDFDLAB_FD_TABLE_H_
