// Reading scenarios from files.
#include "scenario_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "addfdlab/scenario_codec.h"
#include "addfdlab/scenario_text.h"

namespace addfdlab::tools {

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const Errno error = Errno::Last();
    return Error(error, path + ": cannot read: " + error.Message());
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

Result<Scenario> LoadScenario(const std::string& path) {
  Result<std::string> data = ReadWholeFile(path);
  if (!data) return std::move(data).error();
  const bool text = path.size() >= 4 && path.compare(path.size() - 4, 4, ".scn") == 0;
  if (text) {
    ParseError parse_error;
    std::optional<Scenario> scenario = ParseScenario(*data, path, &parse_error);
    if (!scenario) return Error::Invalid(parse_error.ToString());
    return std::move(*scenario);
  }
  std::optional<Scenario> scenario =
      DecodeScenario(reinterpret_cast<const uint8_t*>(data->data()), data->size());
  if (!scenario) {
    return Error::Invalid(path + ": not a scenario in the binary form (version " +
                          std::to_string(static_cast<int>(kCodecVersion)) + ")");
  }
  return std::move(*scenario);
}

Result<void> WriteNewFile(const std::string& path, const std::string& contents, bool force) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) {
    const Errno error = Errno::Last();
    return Error(error,
                 path + (error == Errno(EEXIST) ? ": exists (not overwritten; --force to replace)"
                                                : ": cannot write: " + error.Message()));
  }
  size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n <= 0) {
      const Errno error = Errno::Last();
      ::close(fd);
      return Error(error, path + ": write failed: " + error.Message());
    }
    written += static_cast<size_t>(n);
  }
  ::close(fd);
  return {};
}

}  // namespace addfdlab::tools
