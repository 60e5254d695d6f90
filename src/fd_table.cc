// The fd-table inspector, over /proc and kcmp.
#include "addfdlab/fd_table.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "addfdlab/unique_fd.h"

namespace addfdlab {
namespace {

// The "flags:" line of /proc/PID/fdinfo/N, read with plain syscalls (a stream per fd cost
// more than the reads, under ASan most). It is the second line: "pos:", "flags:", ...
bool ReadFdInfo(const std::string& path, FdInfo& info) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  char buf[256];
  const ssize_t n = ::read(fd.get(), buf, sizeof(buf) - 1);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char* line = buf;
  while (line != nullptr && std::strncmp(line, "flags:", 6) != 0) {
    line = std::strchr(line, '\n');
    if (line != nullptr) ++line;
  }
  if (line == nullptr) return false;
  const unsigned flags = static_cast<unsigned>(std::strtoul(line + 6, nullptr, 8));
  info.cloexec = (flags & O_CLOEXEC) != 0;
  info.open_flags = flags & ~static_cast<unsigned>(O_CLOEXEC);
  return true;
}

}  // namespace

Result<FdSnapshot> SnapshotFds(pid_t pid) {
  const std::string base = "/proc/" + std::to_string(pid);
  auto numbers = ListProcNumbers(base + "/fd");
  if (!numbers) return numbers.error();
  FdSnapshot snapshot;
  snapshot.pid = pid;
  for (int fd : *numbers) {
    FdInfo info;
    info.fd = fd;
    const std::string link = base + "/fd/" + std::to_string(fd);
    if (!ReadFdInfo(base + "/fdinfo/" + std::to_string(fd), info)) continue;
    struct stat st {};
    if (::stat(link.c_str(), &st) == 0) {
      info.dev = st.st_dev;
      info.ino = st.st_ino;
    }
    char target[512];
    const ssize_t n = ::readlink(link.c_str(), target, sizeof(target) - 1);
    if (n < 0) continue;
    info.description.assign(target, static_cast<size_t>(n));
    snapshot.fds.emplace(fd, std::move(info));
  }
  return snapshot;
}

Result<bool> SameFile(pid_t pid_a, int fd_a, pid_t pid_b, int fd_b) {
  const long ret = ::syscall(SYS_kcmp, pid_a, pid_b, KCMP_FILE, fd_a, fd_b);
  if (ret < 0) return Errno::Last();
  return ret == 0;
}

void IdentifyFds(FdSnapshot& snapshot, const std::vector<KnownFile>& known,
                 const std::map<int, std::string>* likely) {
  const pid_t self = ::getpid();
  for (auto& [fd, info] : snapshot.fds) {
    if (likely != nullptr) {
      if (auto it = likely->find(fd); it != likely->end()) {
        const auto file = std::find_if(known.begin(), known.end(),
                                       [&](const KnownFile& k) { return k.name == it->second; });
        if (file != known.end()) {
          auto same = SameFile(snapshot.pid, fd, self, file->fd);
          if (same && *same) {
            info.known_as = file->name;
            continue;
          }
        }
      }
    }
    for (const KnownFile& file : known) {
      auto same = SameFile(snapshot.pid, fd, self, file.fd);
      if (same && *same) {
        info.known_as = file.name;
        break;
      }
    }
  }
}

FdDiff DiffFds(const FdSnapshot& before, const FdSnapshot& after) {
  FdDiff diff;
  for (const auto& [fd, info] : before.fds) {
    auto it = after.fds.find(fd);
    if (it == after.fds.end()) {
      diff.removed.push_back(info);
    } else if (!info.LooksSame(it->second) || info.known_as != it->second.known_as) {
      diff.changed.push_back(FdChange{fd, info, it->second});
    }
  }
  for (const auto& [fd, info] : after.fds) {
    if (before.fds.count(fd) == 0) diff.added.push_back(info);
  }
  return diff;
}

std::string DescribeFd(const FdInfo& info) {
  std::string text = std::to_string(info.fd) + " " + info.description;
  if (!info.known_as.empty()) text += " (" + info.known_as + ")";
  if (info.cloexec) text += " cloexec";
  return text;
}

std::string DescribeDiff(const FdDiff& diff) {
  std::ostringstream out;
  for (const FdInfo& info : diff.added) out << "+" << DescribeFd(info) << "\n";
  for (const FdInfo& info : diff.removed) out << "-" << DescribeFd(info) << "\n";
  for (const FdChange& change : diff.changed) {
    out << "~" << DescribeFd(change.before) << " -> " << DescribeFd(change.after) << "\n";
  }
  return out.str();
}

Result<std::vector<int>> ListProcNumbers(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return Errno::Last();
  std::vector<int> numbers;
  const int own = ::dirfd(dir);  // listing /proc/self/fd shows the listing's own fd
  while (struct dirent* entry = ::readdir(dir)) {
    char* end = nullptr;
    const long value = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0') continue;
    if (value == own && path.rfind("/proc/" + std::to_string(::getpid()) + "/fd", 0) == 0) {
      continue;
    }
    numbers.push_back(static_cast<int>(value));
  }
  ::closedir(dir);
  return numbers;
}

Result<ProcessHygiene> SnapshotHygiene(pid_t pid) {
  const std::string base = "/proc/" + std::to_string(pid);
  ProcessHygiene hygiene;
  auto fds = ListProcNumbers(base + "/fd");
  if (!fds) return fds.error();
  hygiene.fds.insert(fds->begin(), fds->end());
  auto tasks = ListProcNumbers(base + "/task");
  if (!tasks) return tasks.error();
  hygiene.threads = static_cast<int>(tasks->size());
  hygiene.children = ChildrenOfThreads(pid, *tasks);
  return hygiene;
}

std::set<pid_t> ChildrenOfThreads(pid_t pid, const std::vector<int>& tids) {
  std::set<pid_t> children;
  // /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN), read with plain syscalls (the
  // hygiene oracle runs this twice a run: a stream per thread cost more than the reads,
  // under ASan most).
  for (int tid : tids) {
    char path[64];
    std::snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, tid);
    const UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
    if (!fd) continue;
    std::string text;
    char buf[512];
    for (ssize_t n; (n = ::read(fd.get(), buf, sizeof(buf))) > 0;) {
      text.append(buf, static_cast<size_t>(n));
    }
    const char* p = text.c_str();
    for (char* end = nullptr;; p = end) {
      const long child = std::strtol(p, &end, 10);
      if (end == p) break;
      children.insert(static_cast<pid_t>(child));
    }
  }
  return children;
}

std::string DescribeHygieneChange(const ProcessHygiene& before, const ProcessHygiene& after) {
  std::ostringstream out;
  for (int fd : after.fds) {
    if (before.fds.count(fd) != 0) continue;
    char link[256] = {};
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    const ssize_t n = ::readlink(path.c_str(), link, sizeof(link) - 1);
    out << "leaked supervisor fd " << fd << (n > 0 ? std::string(" ") + link : "") << "\n";
  }
  if (after.threads != before.threads) {
    out << "threads " << before.threads << " -> " << after.threads << "\n";
  }
  for (pid_t child : after.children) {
    if (before.children.count(child) == 0) out << "leftover child " << child << "\n";
  }
  return out.str();
}

}  // namespace addfdlab
