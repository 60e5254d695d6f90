// Errno names and messages; Error's text.
#include "addfdlab/result.h"

#include <cstdlib>
#include <cstring>
#include <ostream>

namespace addfdlab {
namespace {
constexpr int kMaxErrno = 134;  // ERFKILL/EHWPOISON region; enough for Linux x86-64.
}  // namespace

std::string ErrnoName(int value) {
  if (value == 0) return "OK";
  const char* name = strerrorname_np(value);
  if (name != nullptr) return name;
  return "E" + std::to_string(value);
}

int ErrnoFromName(const std::string& name) {
  if (name.empty()) return 0;
  for (int value = 1; value <= kMaxErrno; ++value) {
    const char* known = strerrorname_np(value);
    if (known != nullptr && name == known) return value;
  }
  // "E123" or "123".
  const char* digits = name.c_str() + (name[0] == 'E' ? 1 : 0);
  char* end = nullptr;
  const long parsed = std::strtol(digits, &end, 10);
  if (end != digits && *end == '\0' && parsed > 0 && parsed < 4096) {
    return static_cast<int>(parsed);
  }
  return 0;
}

std::string Errno::Name() const { return ErrnoName(value_); }

std::string Errno::Message() const {
  const char* text = strerrordesc_np(value_);
  return text != nullptr ? text : Name();
}

std::string Error::ToString() const {
  std::string code = code_.Name() + ": " + code_.Message();
  return message_.empty() ? code : message_ + " (" + code + ")";
}

Error Error::WithContext(std::string_view context) const& {
  return Error(*this).WithContext(context);
}

Error Error::WithContext(std::string_view context) && {
  std::string text(context);
  if (!message_.empty()) text += ": " + message_;
  message_ = std::move(text);
  return std::move(*this);
}

void PrintTo(const Error& error, std::ostream* out) { *out << error.ToString(); }

}  // namespace addfdlab
