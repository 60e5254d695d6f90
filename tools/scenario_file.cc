// Reading scenarios from files.
#include "scenario_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "addfdlab/scenario_codec.h"
#include "addfdlab/scenario_text.h"

namespace addfdlab::tools {

std::optional<Scenario> LoadScenario(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = path + ": cannot read: " + std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string data = buffer.str();
  const bool text = path.size() >= 4 && path.compare(path.size() - 4, 4, ".scn") == 0;
  if (text) {
    ParseError parse_error;
    auto scenario = ParseScenario(data, path, &parse_error);
    if (!scenario) *error = parse_error.ToString();
    return scenario;
  }
  auto scenario = DecodeScenario(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  if (!scenario) {
    *error = path + ": not a scenario in the binary form (version " +
             std::to_string(static_cast<int>(kCodecVersion)) + ")";
  }
  return scenario;
}

bool WriteNewFile(const std::string& path, const std::string& contents, bool force,
                  std::string* error) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) {
    *error = path + (errno == EEXIST ? ": exists (not overwritten; --force to replace)"
                                     : std::string(": cannot write: ") + std::strerror(errno));
    return false;
  }
  size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n <= 0) {
      *error = path + ": write failed: " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    written += static_cast<size_t>(n);
  }
  ::close(fd);
  return true;
}

}  // namespace addfdlab::tools
