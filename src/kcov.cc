// KCOV trace buffers and the filter to the notifier and fd-install functions.
#include "addfdlab/kcov.h"

#include <fcntl.h>
#include <linux/kcov.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

namespace addfdlab {

// Inlined functions (seccomp_handle_addfd, seccomp_notify_recv, __receive_fd, ...) have no
// symbol of their own: their PCs fall in the function they were inlined into, listed here.
const KcovFunction kKcovFunctions[] = {
    {"kernel/seccomp.c", "seccomp_do_user_notification"},
    {"kernel/seccomp.c", "seccomp_handle_addfd"},
    {"kernel/seccomp.c", "seccomp_notify_addfd"},
    {"kernel/seccomp.c", "seccomp_notify_ioctl"},
    {"kernel/seccomp.c", "seccomp_notify_recv"},
    {"kernel/seccomp.c", "seccomp_notify_send"},
    {"kernel/seccomp.c", "seccomp_notify_id_valid"},
    {"kernel/seccomp.c", "seccomp_notify_set_flags"},
    {"kernel/seccomp.c", "find_notification"},
    {"kernel/seccomp.c", "recv_wait_event"},
    {"kernel/seccomp.c", "seccomp_notify_poll"},
    {"kernel/seccomp.c", "seccomp_notify_detach"},
    {"kernel/seccomp.c", "seccomp_notify_release"},
    {"fs/file.c", "alloc_fd"},
    {"fs/file.c", "expand_files"},
    {"fs/file.c", "expand_fdtable"},
    {"fs/file.c", "alloc_fdtable"},
    {"fs/file.c", "fd_install"},
    {"fs/file.c", "put_unused_fd"},
    {"fs/file.c", "__put_unused_fd"},
    {"fs/file.c", "get_unused_fd_flags"},
    {"fs/file.c", "__get_unused_fd_flags"},
    {"fs/file.c", "replace_fd"},
    {"fs/file.c", "do_dup2"},
    {"fs/file.c", "receive_fd"},
    {"fs/file.c", "__receive_fd"},
    {"fs/file.c", "receive_fd_replace"},
};
const size_t kKcovFunctionCount = std::size(kKcovFunctions);

const KcovFunction* FindKcovFunction(std::string_view name) {
  // The compiler's clones keep the name before the first dot (".constprop.0", ".isra.0").
  name = name.substr(0, name.find('.'));
  for (const KcovFunction& f : kKcovFunctions) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

Result<std::unique_ptr<KcovArea>> KcovArea::Open(size_t words) {
  UniqueFd fd(::open(kKcovPath, O_RDWR | O_CLOEXEC));
  if (!fd) return Error(Errno::Last(), std::string("open ") + kKcovPath);
  if (::ioctl(fd.get(), KCOV_INIT_TRACE, words) != 0) {
    return Error(Errno::Last(), "KCOV_INIT_TRACE");
  }
  return Map(std::move(fd), words);
}

Result<std::unique_ptr<KcovArea>> KcovArea::Map(UniqueFd fd, size_t words) {
  void* area =
      ::mmap(nullptr, words * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (area == MAP_FAILED) return Error(Errno::Last(), "mmap kcov");
  return std::unique_ptr<KcovArea>(
      new KcovArea(std::move(fd), static_cast<uint64_t*>(area), words));
}

KcovArea::~KcovArea() { ::munmap(area_, words_ * sizeof(uint64_t)); }

Result<void> KcovArea::EnableHere() {
  if (::ioctl(fd_.get(), KCOV_ENABLE, KCOV_TRACE_PC) != 0) {
    return Error(Errno::Last(), "KCOV_ENABLE");
  }
  return {};
}

void KcovArea::Reset() { __atomic_store_n(&area_[0], 0, __ATOMIC_RELAXED); }

std::vector<uint64_t> KcovArea::Read(bool* truncated) const {
  uint64_t n = __atomic_load_n(&area_[0], __ATOMIC_RELAXED);
  if (truncated != nullptr) *truncated = n >= words_ - 1;
  n = std::min<uint64_t>(n, words_ - 1);
  return std::vector<uint64_t>(area_ + 1, area_ + 1 + n);
}

bool KcovAvailable(std::string* evidence) {
  UniqueFd fd(::open(kKcovPath, O_RDWR | O_CLOEXEC));
  if (evidence != nullptr) {
    *evidence =
        fd ? std::string(kKcovPath) + " opens" : std::string(kKcovPath) + ": " + ErrnoName(errno);
  }
  return fd.valid();
}

std::vector<KernelRange> ParseKallsyms(std::istream& in) {
  struct Symbol {
    uint64_t address;
    std::string name;
  };
  std::vector<Symbol> text;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string address, type, name;
    if (!(fields >> address >> type >> name) || type.size() != 1) continue;
    if (type != "t" && type != "T") continue;
    uint64_t value = 0;
    const auto [end, ec] =
        std::from_chars(address.data(), address.data() + address.size(), value, 16);
    if (ec != std::errc() || end != address.data() + address.size() || value == 0) continue;
    text.push_back({value, std::move(name)});
  }
  std::sort(text.begin(), text.end(), [](const Symbol& a, const Symbol& b) {
    return a.address != b.address ? a.address < b.address : a.name < b.name;
  });
  std::vector<KernelRange> ranges;
  for (size_t i = 0; i < text.size(); ++i) {
    if (FindKcovFunction(text[i].name) == nullptr) continue;
    // The next symbol at a higher address ends it (aliases share an address).
    size_t next = i + 1;
    while (next < text.size() && text[next].address == text[i].address) ++next;
    if (next == text.size()) continue;
    ranges.push_back({text[i].name, text[i].address, text[next].address});
  }
  return ranges;
}

std::string KernelPc::ToString() const {
  std::ostringstream out;
  out << function << "+0x" << std::hex << offset;
  return out.str();
}

std::optional<KernelPc> KernelPc::Parse(std::string_view text) {
  const size_t plus = text.rfind("+0x");
  if (plus == std::string_view::npos || plus == 0) return std::nullopt;
  KernelPc pc;
  pc.function = std::string(text.substr(0, plus));
  const std::string_view hex = text.substr(plus + 3);
  const auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), pc.offset, 16);
  if (hex.empty() || ec != std::errc() || end != hex.data() + hex.size()) return std::nullopt;
  return pc;
}

KcovFilter::KcovFilter(std::vector<KernelRange> ranges) : ranges_(std::move(ranges)) {
  std::sort(ranges_.begin(), ranges_.end(),
            [](const KernelRange& a, const KernelRange& b) { return a.start < b.start; });
}

Result<KcovFilter> KcovFilter::FromKallsyms(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error(Errno::Last(), "open " + path);
  std::vector<KernelRange> ranges = ParseKallsyms(in);
  if (ranges.empty()) {
    return Error(Errno(ENOENT), path +
                                    " lists none of the notifier or fd-install functions "
                                    "(or hides their addresses: kptr_restrict)");
  }
  return KcovFilter(std::move(ranges));
}

const KernelRange* KcovFilter::Find(uint64_t pc) const {
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), pc,
                             [](uint64_t value, const KernelRange& r) { return value < r.start; });
  if (it == ranges_.begin()) return nullptr;
  --it;
  return pc < it->end ? &*it : nullptr;
}

std::set<uint64_t> KcovFilter::Keep(const std::vector<uint64_t>& pcs) const {
  std::set<uint64_t> kept;
  for (uint64_t pc : pcs) {
    if (Find(pc) != nullptr) kept.insert(pc);
  }
  return kept;
}

std::optional<KernelPc> KcovFilter::Describe(uint64_t pc) const {
  const KernelRange* range = Find(pc);
  if (range == nullptr) return std::nullopt;
  return KernelPc{range->name, pc - range->start};
}

}  // namespace addfdlab
