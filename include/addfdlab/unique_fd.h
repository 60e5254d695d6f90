// File descriptors: UniqueFd (ours, closed on destruction) and RemoteFd (a number in
// another process's table, never closed by us).
#ifndef ADDFDLAB_UNIQUE_FD_H_
#define ADDFDLAB_UNIQUE_FD_H_

#include <compare>
#include <utility>

namespace addfdlab {

// An fd number in a target's table, as returned by NOTIF_ADDFD. Not ours: never close it.
struct RemoteFd {
  int number = -1;
  friend constexpr auto operator<=>(RemoteFd, RemoteFd) = default;
};

// An fd this process owns. Move-only; closes on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  // Gives up ownership without closing.
  int release() { return std::exchange(fd_, -1); }
  // Closes the held fd (if any) and takes `fd`.
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

}  // namespace addfdlab

#endif  // ADDFDLAB_UNIQUE_FD_H_
