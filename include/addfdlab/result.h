// Errno, Error and Result<T>: addfdlab's one error currency (a std::expected-shaped type;
// libstdc++ 12 has no usable std::expected under C++20).
#ifndef ADDFDLAB_RESULT_H_
#define ADDFDLAB_RESULT_H_

#include <cerrno>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
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

// An Errno with context, shaped like a status: code() is the errno the failure was read as,
// message() says what failed in words ("" when the errno says it all). Every layer returns
// it (in a Result); nothing is decoded from a bare number. Building one allocates only for
// a message, so success paths, which build none, stay cheap.
class Error {
 public:
  Error(Errno code) : code_(code) {}  // NOLINT: every Errno is an Error without context
  Error(Errno code, std::string message) : code_(code), message_(std::move(message)) {}
  // EINVAL with `message`: the input (a file, a scenario, an option) is wrong, and the
  // message says how.
  static Error Invalid(std::string message) { return Error(Errno(EINVAL), std::move(message)); }

  Errno code() const { return code_; }
  // What failed, in words. A loader's or parser's message names the file and says it all
  // ("known.json:3:12: not JSON: ..."): the CLI prints it as it is; other errors print
  // ToString().
  const std::string& message() const { return message_; }
  // The code's value and name, so that call sites can test and print it as an Errno.
  int value() const { return code_.value(); }
  std::string Name() const { return code_.Name(); }

  // "MESSAGE (ENAME: errno text)", or "ENAME: errno text" without a message: e.g.
  // "no hello from the leader (ETIMEDOUT: Connection timed out)".
  std::string ToString() const;
  // The same error, its message prefixed with what the caller was doing:
  // "CONTEXT: MESSAGE", or "CONTEXT" alone when there was no message.
  Error WithContext(std::string_view context) const&;
  Error WithContext(std::string_view context) &&;

  friend bool operator==(const Error& error, Errno code) { return error.code_ == code; }

 private:
  Errno code_;
  std::string message_;
};

// For GoogleTest: prints ToString().
void PrintTo(const Error& error, std::ostream* out);

// A value or an Error. Shaped like std::expected<T, Error>.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}      // NOLINT
  Result(Errno error) : state_(std::in_place_index<1>, error) {}             // NOLINT
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool has_value() const { return state_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(state_); }
  Error error() && { return std::get<1>(std::move(state_)); }
  T value_or(T fallback) const& { return has_value() ? value() : fallback; }

 private:
  std::variant<T, Error> state_;
};

// Success without a value, or an Error: what a check returns (OK, or what is wrong).
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Errno error) : error_(error) {}             // NOLINT
  Result(Error error) : error_(std::move(error)) {}  // NOLINT

  bool has_value() const { return !error_.has_value(); }
  explicit operator bool() const { return has_value(); }
  const Error& error() const& { return *error_; }
  Error error() && { return std::move(*error_); }

 private:
  std::optional<Error> error_;
};

// Propagates the error of a Result expression from the enclosing function.
#define ADDFDLAB_TRY(expr)                            \
  do {                                                \
    auto addfdlab_try_result_ = (expr);               \
    if (!addfdlab_try_result_) {                      \
      return std::move(addfdlab_try_result_).error(); \
    }                                                 \
  } while (false)

// The same, with `context` (a string; evaluated only on failure) prefixed to the error's
// message: Error::WithContext.
#define ADDFDLAB_TRY_CONTEXT(expr, context)                                \
  do {                                                                     \
    auto addfdlab_try_result_ = (expr);                                    \
    if (!addfdlab_try_result_) {                                           \
      return std::move(addfdlab_try_result_).error().WithContext(context); \
    }                                                                      \
  } while (false)

}  // namespace addfdlab

#endif  // ADDFDLAB_RESULT_H_
