// Multi-fd injection strategies, their rollback, and the residue oracle.
#include "addfdlab/rollback.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <set>

#include "addfdlab/agent_protocol.h"
#include "addfdlab/uapi.h"

namespace addfdlab::rollback {
namespace {

using Action = JournalEntry::Action;

constexpr std::string_view kNames[] = {"naive",         "send-last",
                                       "fixed-numbers", "restore-on-replace",
                                       "cooperative",   "broken-cooperative"};

const char* ActionName(Action action) {
  switch (action) {
    case Action::kInstalled:
      return "installed";
    case Action::kSaved:
      return "saved";
    case Action::kRestored:
      return "restored";
    case Action::kClosedByTarget:
      return "closed-by-target";
    case Action::kReplied:
      return "replied";
    case Action::kFailed:
      return "failed";
    case Action::kUndoFailed:
      return "undo-failed";
  }
  return "?";
}

// One injection: the ioctls go through the hooks, every effect goes into the journal.
class Injection {
 public:
  Injection(Strategy strategy, const InjectionContext& ctx, const InjectionRequest& request)
      : strategy_(strategy), ctx_(ctx), request_(request) {}

  Journal Run() {
    const int k = static_cast<int>(request_.files.size());
    switch (strategy_) {
      case Strategy::kNaive:
      case Strategy::kCooperative:
      case Strategy::kBrokenCooperative:
        for (int i = 0; i < k; ++i) {
          if (!Install(i, -1, false)) return Abort();
        }
        return Reply();
      case Strategy::kSendLast:
        for (int i = 0; i + 1 < k; ++i) {
          if (!Install(i, -1, false)) return Abort();
        }
        if (!Install(k - 1, -1, true)) return Abort();
        Note(Action::kReplied, installed_.back().first);
        journal_.succeeded = journal_.replied = true;
        return journal_;
      case Strategy::kFixedNumbers:
      case Strategy::kRestoreOnReplace:
        if (static_cast<int>(request_.numbers.size()) != k) {
          Note(Action::kFailed, -1, -1, EINVAL);
          return Abort();
        }
        for (int i = 0; i < k; ++i) {
          if (strategy_ == Strategy::kRestoreOnReplace &&
              !Save(request_.numbers[static_cast<size_t>(i)])) {
            return Abort();
          }
          if (!Install(i, request_.numbers[static_cast<size_t>(i)], false)) return Abort();
        }
        return Reply();
    }
    return Abort();
  }

 private:
  void Note(Action action, int number, int file = -1, int err = 0) {
    journal_.entries.push_back({action, number, file, err});
    if (ctx_.on_entry) ctx_.on_entry(journal_.entries.back());
  }

  // One ADDFD through the hooks. In the injection proper an interrupt that asks the
  // supervisor to stop ends it; during rollback it is ignored (the rollback is the stop).
  Result<RemoteFd> AddFd(int fd, int number, bool send, bool cloexec, bool undo) {
    const int index = journal_.ioctls++;
    const bool go_on =
        ctx_.hooks == nullptr || ctx_.hooks->BeforeIoctl(index, NotifierCall::kAddFd);
    if (!go_on && !undo) return Errno(ECANCELED);
    seccomp_notif_addfd req{};
    req.id = ctx_.id;
    req.srcfd = static_cast<uint32_t>(fd);
    req.newfd = number >= 0 ? static_cast<uint32_t>(number) : 0;
    req.newfd_flags = cloexec ? O_CLOEXEC : 0;
    req.flags = (number >= 0 ? uapi::kAddFdSetFd : 0) | (send ? uapi::kAddFdSend : 0);
    auto result = ctx_.api->AddFd(ctx_.listener, req);
    if (ctx_.hooks != nullptr) ctx_.hooks->AfterIoctl(index);
    return result;
  }

  bool Install(int file, int number, bool send) {
    // Fixed numbers retry an interrupted ioctl: SETFD onto the same number replaces.
    const int attempts = strategy_ == Strategy::kFixedNumbers ? 1 + ctx_.retries : 1;
    for (int attempt = 0; attempt < attempts; ++attempt) {
      auto fd =
          AddFd(request_.files[static_cast<size_t>(file)], number, send, request_.cloexec, false);
      if (fd) {
        Note(Action::kInstalled, fd->number, file);
        installed_.push_back({fd->number, file});
        return true;
      }
      if (fd.error().value() != EINTR || attempt + 1 == attempts) {
        Note(Action::kFailed, number, file, fd.error().value());
        return false;
      }
    }
    return false;
  }

  // kRestoreOnReplace: a copy of what `number` holds, if anything.
  bool Save(int number) {
    auto copy = ctx_.api->PidfdGetfd(ctx_.target->task_pidfd(ctx_.trapped_task), RemoteFd{number});
    if (copy) {
      // The slot's own close-on-exec flag goes back with it.
      saved_[number] = {std::move(*copy), SlotCloexec(number)};
      Note(Action::kSaved, number);
      return true;
    }
    if (copy.error().value() == EBADF) return true;  // a free slot: nothing to keep
    Note(Action::kFailed, number, -1, copy.error().value());
    return false;
  }

  bool SlotCloexec(int number) const {
    char path[64];
    std::snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d",
                  ctx_.target->task_pid(ctx_.trapped_task), number);
    FILE* in = std::fopen(path, "re");
    if (in == nullptr) return false;
    unsigned flags = 0;
    char line[128];
    while (std::fgets(line, sizeof(line), in) != nullptr) {
      if (std::sscanf(line, "flags: %o", &flags) == 1) break;
    }
    std::fclose(in);
    return (flags & O_CLOEXEC) != 0;
  }

  Result<void> Send(int64_t val, int error, bool undo) {
    const int index = journal_.ioctls++;
    const bool go_on = ctx_.hooks == nullptr || ctx_.hooks->BeforeIoctl(index, NotifierCall::kSend);
    if (!go_on && !undo) return Errno(ECANCELED);
    seccomp_notif_resp resp{};
    resp.id = ctx_.id;
    resp.val = val;
    resp.error = -error;
    auto result = ctx_.api->Send(ctx_.listener, resp);
    if (ctx_.hooks != nullptr) ctx_.hooks->AfterIoctl(index);
    return result;
  }

  Journal Reply() {
    const int64_t last = installed_.empty() ? 0 : installed_.back().first;
    if (auto sent = Send(last, 0, false); !sent) {
      Note(Action::kFailed, -1, -1, sent.error().value());
      return Abort();
    }
    Note(Action::kReplied, static_cast<int>(last));
    journal_.succeeded = journal_.replied = true;
    return journal_;
  }

  Journal Abort() {
    const auto start = std::chrono::steady_clock::now();
    Undo();
    // The target must not stay blocked: answer with an error while the notification lives
    // (ENOENT once it is gone is fine).
    if (auto sent = Send(0, EIO, true); sent) {
      Note(Action::kReplied, -1, -1, EIO);
      journal_.replied = true;
    }
    journal_.rollback_time = std::chrono::steady_clock::now() - start;
    return journal_;
  }

  void Undo() {
    switch (strategy_) {
      case Strategy::kNaive:
      case Strategy::kSendLast:
      case Strategy::kFixedNumbers:
        return;  // nothing in the kernel takes an fd back out of another process
      case Strategy::kRestoreOnReplace:
        for (auto& [number, saved] : saved_) {
          const bool replaced = std::any_of(installed_.begin(), installed_.end(),
                                            [&](const auto& i) { return i.first == number; });
          if (!replaced) continue;
          auto fd = RestoreSlot(number, saved);
          if (fd) {
            Note(Action::kRestored, number);
          } else {
            Note(Action::kUndoFailed, number, -1, fd.error().value());
          }
        }
        return;
      case Strategy::kCooperative:
      case Strategy::kBrokenCooperative: {
        size_t count = installed_.size();
        if (strategy_ == Strategy::kBrokenCooperative && count > 0) --count;  // the mutant
        for (size_t i = 0; i < count; ++i) {
          const int number = installed_[i].first;
          auto reply = ctx_.target->Call(
              0, MakeRequest(agent::Command::kClose, {static_cast<int64_t>(number)}));
          if (reply && reply->ret == 0) {
            Note(Action::kClosedByTarget, number);
          } else {
            Note(Action::kUndoFailed, number, -1, reply ? reply->err : reply.error().value());
          }
        }
        return;
      }
    }
  }

  struct Saved {
    UniqueFd copy;
    bool cloexec = false;
  };

  Result<RemoteFd> RestoreSlot(int number, const Saved& saved) {
    // An interrupted restore is retried: SETFD onto the same number replaces.
    for (int attempt = 0;; ++attempt) {
      auto fd = AddFd(saved.copy.get(), number, false, saved.cloexec, true);
      if (fd || fd.error().value() != EINTR || attempt >= ctx_.retries) return fd;
    }
  }

  Strategy strategy_;
  const InjectionContext& ctx_;
  const InjectionRequest& request_;
  Journal journal_;
  std::vector<std::pair<int, int>> installed_;  // (number, file), in order
  std::map<int, Saved> saved_;
};

bool Contains(const std::vector<int>& v, int x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

std::string_view StrategyName(Strategy strategy) { return kNames[static_cast<size_t>(strategy)]; }

std::optional<Strategy> ParseStrategy(std::string_view name) {
  for (size_t i = 0; i < std::size(kNames); ++i) {
    if (kNames[i] == name) return static_cast<Strategy>(i);
  }
  return std::nullopt;
}

std::string_view StrategyGuarantee(Strategy strategy) {
  switch (strategy) {
    case Strategy::kNaive:
      return "never replaces a target fd; an abort leaks every fd it installed";
    case Strategy::kSendLast:
      return "never replaces a target fd, the reply is atomic with the last fd; an abort leaks at "
             "most k-1 fds (none for k=1)";
    case Strategy::kFixedNumbers:
      return "never replaces a target fd; an interrupted ioctl is retried in place, so residue "
             "is at most k fds, all on its chosen numbers";
    case Strategy::kRestoreOnReplace:
      return "while the notification lives, an abort puts every displaced target fd back (no "
             "dangling fds); fds installed into free slots leak";
    case Strategy::kCooperative:
    case Strategy::kBrokenCooperative:
      return "while the target lives and the supervisor survives, an abort leaves nothing: the "
             "target's agent closes every installed fd";
  }
  return "";
}

std::string Journal::Format() const {
  std::string out;
  for (const JournalEntry& e : entries) {
    if (!out.empty()) out += ", ";
    out += ActionName(e.action);
    if (e.number >= 0) out += " " + std::to_string(e.number);
    if (e.file >= 0) out += " (file " + std::to_string(e.file) + ")";
    if (e.err != 0) out += std::string(" ") + Errno(e.err).Name();
  }
  return out.empty() ? "(nothing)" : out;
}

Journal Inject(Strategy strategy, const InjectionContext& ctx, const InjectionRequest& request) {
  return Injection(strategy, ctx, request).Run();
}

std::string Residue::Format() const {
  if (target_gone) return "target gone";
  std::string out;
  auto list = [&out](const char* what, const std::vector<int>& fds) {
    if (fds.empty()) return;
    out += out.empty() ? "" : "; ";
    out += what;
    for (int fd : fds) out += " " + std::to_string(fd);
  };
  list("leaked", leaked);
  list("dangling", dangling);
  list("unjournaled", unjournaled);
  for (const std::string& e : journal_errors) out += (out.empty() ? "" : "; ") + e;
  return out.empty() ? "clean" : out;
}

Result<TableBefore> TakeTableBefore(const Target& target) {
  TableBefore before;
  auto snapshot = SnapshotFds(target.pid());
  if (!snapshot) return snapshot.error();
  before.snapshot = std::move(*snapshot);
  for (const auto& [fd, info] : before.snapshot.fds) {
    if (fd >= agent::kHarnessFdBase) continue;
    const long copy =
        ::syscall(SYS_pidfd_getfd, target.task_pidfd(0), fd, 0);  // not the seam: the oracle
    if (copy < 0) return Errno::Last();
    before.copies.emplace(fd, UniqueFd(static_cast<int>(copy)));
  }
  return before;
}

Residue CheckResidue(const Target& target, const TableBefore& before, const Journal& journal,
                     const InjectionRequest& request, std::optional<int64_t> trap_return) {
  Residue residue;
  auto after = SnapshotFds(target.pid());
  if (!after || !target.Alive()) {
    residue.target_gone = true;
    return residue;
  }
  const pid_t pid = target.pid();
  const auto holds = [&](int number, int fd) {
    auto same = SameFile(pid, number, ::getpid(), fd);
    return same && *same;
  };
  // What a successful injection leaves: the last install of each number holds its file.
  std::map<int, int> result;  // number -> file index
  for (const JournalEntry& e : journal.entries) {
    if (e.action == Action::kInstalled) result[e.number] = e.file;
    if (e.action == Action::kClosedByTarget || e.action == Action::kRestored) {
      result.erase(e.number);
    }
  }
  std::set<int> journaled;
  for (const JournalEntry& e : journal.entries) {
    if (e.action == Action::kInstalled) journaled.insert(e.number);
  }
  for (const auto& [fd, info] : after->fds) {
    if (fd >= agent::kHarnessFdBase) continue;
    const auto was = before.snapshot.fds.find(fd);
    const bool new_slot = was == before.snapshot.fds.end();
    const auto installed = result.find(fd);
    const bool holds_injected = installed != result.end() &&
                                holds(fd, request.files[static_cast<size_t>(installed->second)]);
    if (new_slot) {
      // A new fd is the result of a successful injection, or residue. The fd the trapped
      // syscall returned, holding the last file, was delivered with the reply even when the
      // supervisor died before it could journal it (its ADDFD|SEND finished first).
      const bool delivered = trap_return && *trap_return == fd && !request.files.empty() &&
                             holds(fd, request.files.back());
      if (!(journal.succeeded && holds_injected) && !delivered) residue.leaked.push_back(fd);
      if (journaled.count(fd) == 0) residue.unjournaled.push_back(fd);
      continue;
    }
    const bool original =
        holds(fd, before.copies.at(fd).get()) && info.cloexec == was->second.cloexec;
    if (original) continue;
    // A replaced slot is the contract of a successful dup2-like injection.
    if (journal.succeeded && holds_injected && Contains(request.numbers, fd)) continue;
    residue.dangling.push_back(fd);
  }
  for (const auto& [fd, info] : before.snapshot.fds) {
    if (fd < agent::kHarnessFdBase && after->fds.count(fd) == 0) residue.dangling.push_back(fd);
  }
  // The journal's claims: what it says is installed (and not undone) holds its file.
  for (const auto& [number, file] : result) {
    if (after->fds.count(number) == 0 || !holds(number, request.files[static_cast<size_t>(file)])) {
      residue.journal_errors.push_back("journal says fd " + std::to_string(number) +
                                       " holds file " + std::to_string(file) + "; it does not");
    }
  }
  for (const JournalEntry& e : journal.entries) {
    if (e.action == Action::kClosedByTarget && after->fds.count(e.number) != 0 &&
        before.snapshot.fds.count(e.number) == 0) {
      residue.journal_errors.push_back("journal says fd " + std::to_string(e.number) +
                                       " was closed; it is open");
    }
  }
  // The number the reply named holds the last file.
  if (journal.succeeded && trap_return && *trap_return >= 0 && !request.files.empty()) {
    const int named = static_cast<int>(*trap_return);
    if (after->fds.count(named) == 0 || !holds(named, request.files.back())) {
      if (!Contains(residue.dangling, named)) residue.dangling.push_back(named);
    }
  }
  std::sort(residue.leaked.begin(), residue.leaked.end());
  std::sort(residue.dangling.begin(), residue.dangling.end());
  return residue;
}

Result<void> CheckGuarantee(Strategy strategy, const Journal& journal, const Residue& residue,
                            const RunFacts& facts, int k) {
  if (residue.target_gone) return {};
  if (!residue.journal_errors.empty()) {
    return Error::Invalid("the journal is wrong: " + residue.journal_errors[0]);
  }
  // A killed supervisor cannot journal the ioctl it died in: one unjournaled fd may be that
  // request, installed just before the listener closed.
  const size_t in_flight = facts.supervisor_survived ? 0 : 1;
  if (residue.unjournaled.size() > in_flight) {
    return Error::Invalid("fd " + std::to_string(residue.unjournaled.back()) +
                          " appeared unjournaled");
  }
  const bool clean = residue.leaked.empty() && residue.dangling.empty();
  if (journal.succeeded && !clean) return Error::Invalid("succeeded but left " + residue.Format());
  const bool all_survived =
      facts.target_alive && facts.notification_survived && facts.supervisor_survived;
  switch (strategy) {
    case Strategy::kNaive:
      if (!residue.dangling.empty()) {
        return Error::Invalid("replaced a target fd: " + residue.Format());
      }
      return {};
    case Strategy::kSendLast:
      if (!residue.dangling.empty()) {
        return Error::Invalid("replaced a target fd: " + residue.Format());
      }
      if (static_cast<int>(residue.leaked.size()) > std::max(0, k - 1)) {
        return Error::Invalid("leaked more than k-1 fds: " + residue.Format());
      }
      return {};
    case Strategy::kFixedNumbers:
      if (!residue.dangling.empty()) {
        return Error::Invalid("replaced a target fd: " + residue.Format());
      }
      if (static_cast<int>(residue.leaked.size()) > k) {
        return Error::Invalid("leaked more than k fds");
      }
      return {};
    case Strategy::kRestoreOnReplace:
      if (all_survived && !facts.syscalls_failed && !facts.rlimit_squeezed &&
          !residue.dangling.empty()) {
        return Error::Invalid("left a displaced fd while the notification lived: " +
                              residue.Format());
      }
      return {};
    case Strategy::kCooperative:
    case Strategy::kBrokenCooperative:
      if (facts.target_alive && facts.supervisor_survived && !clean) {
        return Error::Invalid("the target survived but holds " + residue.Format());
      }
      return {};
  }
  return {};
}

}  // namespace addfdlab::rollback
