#include "addfdlab/kernel_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <fstream>

namespace addfdlab {

std::optional<KernelLogRecord> ParseKernelLogRecord(std::string_view record) {
  const size_t semicolon = record.find(';');
  const size_t comma = record.find(',');
  if (semicolon == std::string_view::npos || comma == std::string_view::npos || comma > semicolon) {
    return std::nullopt;
  }
  int priority = 0;
  const auto [end, ec] = std::from_chars(record.data(), record.data() + comma, priority);
  if (ec != std::errc() || end != record.data() + comma) return std::nullopt;
  std::string_view text = record.substr(semicolon + 1);
  text = text.substr(0, text.find('\n'));  // the " KEY=VALUE" lines are not the message
  return KernelLogRecord{priority & 7, std::string(text)};
}

std::optional<KernelLogWatch> KernelLogWatch::Open(const std::string& path, int max_level) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return std::nullopt;
  // /dev/kmsg: SEEK_END skips what was logged before; a plain file (the tests'): its end.
  if (::lseek(fd.get(), 0, SEEK_END) < 0) return std::nullopt;
  return KernelLogWatch(std::move(fd), max_level);
}

std::string KernelLogWatch::Take() {
  std::string text;
  std::string pending;
  char buffer[8192];
  for (;;) {
    const ssize_t n = ::read(fd_.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EPIPE) continue;  // records overwritten before we read them
    if (n <= 0) break;                      // EAGAIN: nothing more; 0: a file's end
    // /dev/kmsg gives one record a read; a plain file any number of lines.
    pending.append(buffer, static_cast<size_t>(n));
  }
  size_t at = 0;
  while (at < pending.size()) {
    size_t end = pending.find('\n', at);
    if (end == std::string::npos) end = pending.size();
    const std::string_view line(pending.data() + at, end - at);
    at = end + 1;
    if (line.empty() || line.front() == ' ') continue;
    const std::optional<KernelLogRecord> record = ParseKernelLogRecord(line);
    if (record && record->level <= max_level_) text += record->text + "\n";
  }
  return text;
}

std::optional<KernelReportKeeper> KernelReportKeeper::FromEnvironment(size_t limit) {
  const char* dir = std::getenv(kKernelReportsDirVariable);
  if (dir == nullptr || *dir == '\0') return std::nullopt;
  std::optional<KernelLogWatch> watch = KernelLogWatch::Open();
  if (!watch) return std::nullopt;
  return KernelReportKeeper(std::move(*watch), dir, limit);
}

bool KernelReportKeeper::AfterInput(const uint8_t* input, size_t size) {
  const std::string records = watch_.Take();
  if (records.empty()) return false;
  if (kept_ >= limit_) return true;
  const std::string base = dir_ + "/" + std::to_string(::getpid()) + "-" + std::to_string(kept_++);
  std::ofstream(base + ".bin", std::ios::binary)
      .write(reinterpret_cast<const char*>(input), static_cast<std::streamsize>(size));
  // The text last: its presence says the input beside it is whole.
  std::ofstream(base + ".txt") << records;
  return true;
}

}  // namespace addfdlab
