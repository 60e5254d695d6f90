// .scn values: numbers, flag sets, errnos, signals and enum values (by the names in
// scenario.h), read from tokens and printed back.
#ifndef ADDFDLAB_SRC_SCENARIO_VALUES_H_
#define ADDFDLAB_SRC_SCENARIO_VALUES_H_

#include <fcntl.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "addfdlab/scenario.h"
#include "scenario_lexer.h"

namespace addfdlab::scenario_text {

static_assert(O_CLOEXEC == 02000000);

struct FlagName {
  const char* name;
  uint64_t bit;
};

inline constexpr FlagName kFilterFlagNames[] = {
    {"TSYNC", uapi::kFilterTsync},
    {"LOG", uapi::kFilterLog},
    {"SPEC_ALLOW", uapi::kFilterSpecAllow},
    {"NEW_LISTENER", uapi::kFilterNewListener},
    {"TSYNC_ESRCH", uapi::kFilterTsyncEsrch},
    {"WAIT_KILLABLE_RECV", uapi::kFilterWaitKillableRecv},
};
inline constexpr FlagName kAddFdFlagNames[] = {{"SETFD", uapi::kAddFdSetFd},
                                               {"SEND", uapi::kAddFdSend}};
inline constexpr FlagName kNewfdFlagNames[] = {{"O_CLOEXEC", O_CLOEXEC}};
inline constexpr FlagName kRespFlagNames[] = {{"CONTINUE", uapi::kRespContinue}};
inline constexpr FlagName kSetFlagsNames[] = {{"SYNC_WAKE_UP", uapi::kSyncWakeUp}};
// poll(2) events and revents (<poll.h>'s values on x86-64).
inline constexpr FlagName kPollEventNames[] = {
    {"POLLIN", 0x1},       {"POLLPRI", 0x2},      {"POLLOUT", 0x4},     {"POLLERR", 0x8},
    {"POLLHUP", 0x10},     {"POLLNVAL", 0x20},    {"POLLRDNORM", 0x40}, {"POLLRDBAND", 0x80},
    {"POLLWRNORM", 0x100}, {"POLLWRBAND", 0x200},
};

inline constexpr FlagName kSignalNames[] = {{"SIGUSR1", 10}, {"SIGUSR2", 12}, {"SIGALRM", 14}};

// "a, b, c".
std::string List(std::span<const char* const> names);
std::string List(std::span<const FlagName> names);
// The index of `word` in `names`, or -1.
int Find(std::span<const char* const> names, std::string_view word);

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
// A token that can only be a number (a digit or a minus sign first).
bool LooksNumeric(std::string_view text);

enum class NumberStatus { kOk, kSyntax, kOverflow };

// Decimal or 0x-hex digits, no sign.
NumberStatus ParseMagnitude(std::string_view text, uint64_t* out);

// A printed number: decimal, or hex for bit patterns.
std::string Hex(uint64_t value);
// The flags' names joined by '|', unknown bits as one hex number; "0" for none.
std::string Flags(uint64_t value, std::span<const FlagName> names);
// An errno's name when it has one, else its number.
std::string ErrnoText(int64_t err);
// A signal's name (kSignalNames) or its number.
std::string SignalText(int signal);

// Reads values from tokens. Each function returns false once it reported what is wrong
// with its token to the diagnostics.
class ValueReader {
 public:
  explicit ValueReader(Diagnostics* diag) : diag_(diag) {}

  bool ParseInt64(const Token& token, const char* what, int64_t* out);
  bool ParseRange(const Token& token, int64_t lo, int64_t hi, const char* what, int64_t* out);
  // A 64-bit pattern: 0..0xffffffffffffffff, or a negative int64 (two's complement).
  bool ParseBits64(const Token& token, const char* what, int64_t* out);
  // NAME|NAME|number, each number at most `max`.
  bool ParseFlagSet(const Token& token, std::span<const FlagName> names, uint64_t max,
                    uint64_t* out);
  // An errno name, or any int32 number.
  bool ParseErrnoField(const Token& token, int32_t* out);
  bool ParseSignal(const Token& token, int* out);
  // One of `names`, as the enum value of its index.
  template <typename Enum>
  bool ParseEnum(const Token& token, std::span<const char* const> names, const char* what,
                 Enum* out) {
    const int index = Find(names, token.text);
    if (index < 0) {
      return FailAt(token, std::string("unknown ") + what + " " + Quote(token.text) + " (" +
                               List(names) + ")");
    }
    *out = static_cast<Enum>(index);
    return true;
  }

 private:
  bool FailAt(const Token& token, std::string message) {
    return diag_->FailAt(token, std::move(message));
  }

  Diagnostics* diag_;
};

}  // namespace addfdlab::scenario_text

#endif  // ADDFDLAB_SRC_SCENARIO_VALUES_H_
