// Errno and Result<T>: addfdlab's one error currency (a std::expected-shaped type;
// libstdc++ 12 has no usable std::expected under C++20).
#ifndef ADDFDLAB_RESULT_H_
#define ADDFDLAB_RESULT_H_

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace addfdlab {

// A positive errno value, read right after the failing call.
class Errno {
 public:
  constexpr explicit Errno(int value) : value_(value) {}
  // The current errno. Call it before anything else can clobber errno.
  static Errno Last() { return Errno(errno); }
  constexpr int value() const { return value_; }
  // "EBADF", "EINVAL", ...; "E<number>" for values without a name.
  std::string Name() const;
  // strerror-like text.
  std::string Message() const;
  friend constexpr bool operator==(Errno, Errno) = default;

 private:
  int value_;
};

// The symbolic name of an errno value ("ENOENT"), or "E<n>".
std::string ErrnoName(int value);
// Parses "ENOENT" (or a decimal number) back; 0 when unknown.
int ErrnoFromName(const std::string& name);

// A value or an Errno. Shaped like std::expected<T, Errno>.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  Result(Errno error) : state_(std::in_place_index<1>, error) {}         // NOLINT

  bool has_value() const { return state_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  Errno error() const { return std::get<1>(state_); }
  T value_or(T fallback) const& { return has_value() ? value() : fallback; }

 private:
  std::variant<T, Errno> state_;
};

// Success without a value, or an Errno.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Errno error) : error_(error), ok_(false) {}  // NOLINT

  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  Errno error() const { return error_; }

 private:
  Errno error_{0};
  bool ok_ = true;
};

// Propagates the error of a Result expression from the enclosing function.
#define ADDFDLAB_TRY(expr)                 \
  do {                                     \
    auto addfdlab_try_result_ = (expr);    \
    if (!addfdlab_try_result_) {           \
      return addfdlab_try_result_.error(); \
    }                                      \
  } while (false)

}  // namespace addfdlab

#endif  // ADDFDLAB_RESULT_H_
