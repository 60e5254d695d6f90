// The binary scenario codec. Typed references are bytes taken modulo what exists when
// the op is decoded, so every input decodes to a valid scenario; the bits the kernel
// validates (flags, sizes, ids, errnos) stay raw and full-width.
#include "addfdlab/scenario_codec.h"

#include <iterator>
#include <set>
#include <string>

#include "addfdlab/scenario_text.h"
#include "addfdlab/uapi.h"

namespace addfdlab {
namespace {

constexpr uint8_t kHeaderTwoTargets = 1u << 0;
constexpr uint8_t kHeaderExpects = 1u << 6;
constexpr uint8_t kHeaderNames = 1u << 7;

constexpr uint8_t kFilterWide = 0x80;  // a target's filter byte: a u32 follows

// FdRef selectors (byte % 4).
constexpr uint8_t kFdSmall = 0;     // a byte: 0..255
constexpr uint8_t kFdName = 1;      // a byte: fd name index modulo the names bound
constexpr uint8_t kFdNegative = 2;  // a byte b: -1 - b
constexpr uint8_t kFdWide = 3;      // an i64

// Compact i64: 0x00..0x7f is the value, 0x80..0xfe is -1..-127, 0xff an i64 follows.
constexpr uint8_t kCompactWide = 0xff;

// Words: the u32 fields the kernel validates (ADDFD flags, newfd_flags and size; a send's
// error and flags). Byte 0 is the value a successful call needs (size 24, else 0), so that
// short and mutated inputs reach the kernel's success paths; 1..0xef is the value minus 1;
// 0xf0.. picks a boundary value; 0xff is followed by the full u32.
constexpr uint8_t kWordWide = 0xff;
constexpr uint8_t kWordTable = 0xf0;
constexpr uint32_t kWordValues[] = {0x80000 /*O_CLOEXEC*/,
                                    0x800 /*O_NONBLOCK*/,
                                    0x80800,
                                    0x80000000u,
                                    0xffffffffu,
                                    4095,
                                    4096,
                                    0x3fff,
                                    0x4000,
                                    0x4018 /*24 + 16384: 24 in the ioctl's 14 bits*/};
static_assert(kWordTable + std::size(kWordValues) < kWordWide);

// The expectation byte (byte % 5), when the header says ops carry one.
enum ExpectCode : uint8_t { kNoExpect, kExpectOk, kExpectOkValue, kExpectError, kExpectBlocked };
constexpr int kExpectCodes = 5;

constexpr int kThreadChoices = kMaxThreads + 1;  // main thread, or thread 0..3

std::string DefaultName(const char* prefix, size_t index) { return prefix + std::to_string(index); }

constexpr const char* kTargetPrefix = "t";
constexpr const char* kThreadPrefix = "th";
constexpr const char* kNotifPrefix = "n";
constexpr const char* kFdPrefix = "f";

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  // Past the end every read yields 0 and ok() turns false.
  bool ok() const { return ok_; }
  bool AtEnd() const { return pos_ >= size_; }

  uint8_t Byte() {
    if (pos_ >= size_) {
      ok_ = false;
      return 0;
    }
    return data_[pos_++];
  }
  uint64_t Little(int bytes) {
    uint64_t value = 0;
    for (int i = 0; i < bytes; ++i) value |= static_cast<uint64_t>(Byte()) << (8 * i);
    return value;
  }
  uint32_t U32() { return static_cast<uint32_t>(Little(4)); }
  int64_t I64() { return static_cast<int64_t>(Little(8)); }
  uint32_t Word(uint32_t usual) {
    const uint8_t b = Byte();
    if (b == 0) return usual;
    if (b < kWordTable) return b - 1u;
    if (b == kWordWide) return U32();
    const auto index = static_cast<size_t>(b - kWordTable);
    return index < std::size(kWordValues) ? kWordValues[index] : usual;
  }
  int64_t Compact() {
    const uint8_t b = Byte();
    if (b <= 0x7f) return b;
    if (b == kCompactWide) return I64();
    return -static_cast<int64_t>(b - 0x7f);
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  bool ok_ = true;
};

class Decoder {
 public:
  Decoder(const uint8_t* data, size_t size) : in_(data, size) {}

  std::optional<Scenario> Run() {
    if (in_.Byte() != kCodecVersion || !in_.ok()) return std::nullopt;
    const uint8_t header = in_.Byte();
    const size_t targets = (header & kHeaderTwoTargets) ? 2 : 1;
    expects_ = (header & kHeaderExpects) != 0;
    for (size_t i = 0; i < targets; ++i) {
      TargetDecl target;
      const uint8_t filter = in_.Byte();
      target.filter_flags = (filter & kFilterWide) ? in_.U32() : filter;
      target.callers = in_.Byte() % (kMaxCallers + 1);
      s_.targets.push_back(std::move(target));
    }
    if ((header & kHeaderNames) && !ReadNames()) return std::nullopt;
    if (!in_.ok()) return std::nullopt;
    while (!in_.AtEnd() && s_.ops.size() < kMaxOps) {
      if (!DecodeOp()) break;
    }
    if (!ApplyNames(table_targets_, kTargetPrefix, s_.targets.size(), nullptr)) return std::nullopt;
    for (size_t i = 0; i < s_.targets.size(); ++i) s_.targets[i].name = target_names_[i];
    if (!ApplyNames(table_threads_, kThreadPrefix, threads_, &s_.threads) ||
        !ApplyNames(table_notifs_, kNotifPrefix, notif_target_.size(), &s_.notifs) ||
        !ApplyNames(table_fds_, kFdPrefix, fds_, &s_.fd_names)) {
      return std::nullopt;
    }
    return std::move(s_);
  }

 private:
  bool ReadNameList(size_t max, std::vector<std::string>* out) {
    const size_t count = in_.Byte();
    if (count > max) return false;
    for (size_t i = 0; i < count; ++i) {
      const size_t length = in_.Byte();
      std::string name;
      for (size_t j = 0; j < length; ++j) name += static_cast<char>(in_.Byte());
      if (!in_.ok() || !IsScenarioName(name)) return false;
      out->push_back(std::move(name));
    }
    return in_.ok();
  }

  bool ReadNames() {
    return ReadNameList(kMaxTargets, &table_targets_) &&
           ReadNameList(kMaxThreads, &table_threads_) && ReadNameList(kMaxNotifs, &table_notifs_) &&
           ReadNameList(kMaxFdNames, &table_fds_);
  }

  // The first names come from the table, the rest are defaults; they must be distinct.
  bool ApplyNames(const std::vector<std::string>& table, const char* prefix, size_t count,
                  std::vector<std::string>* out) {
    std::vector<std::string> names;
    std::set<std::string> seen;
    for (size_t i = 0; i < count; ++i) {
      names.push_back(i < table.size() ? table[i] : DefaultName(prefix, i));
      if (!seen.insert(names.back()).second) return false;
    }
    if (out != nullptr) {
      *out = std::move(names);
    } else {
      target_names_ = std::move(names);
    }
    return true;
  }

  int Target() { return in_.Byte() % static_cast<int>(s_.targets.size()); }

  int Callers(int target) const { return s_.targets[static_cast<size_t>(target)].callers; }

  // 0..callers; with `caller`, 1..callers or -1 when the target has no callers.
  int Task(int target, bool caller) {
    const int callers = Callers(target);
    const uint8_t b = in_.Byte();
    if (!caller) return b % (callers + 1);
    return callers == 0 ? -1 : 1 + b % callers;
  }

  // An earlier trap's notification, or -1 when there is none.
  int Notif() {
    const uint8_t b = in_.Byte();
    if (notif_target_.empty()) return -1;
    return static_cast<int>(b % notif_target_.size());
  }

  // -1 (the main thread), a started thread, or the next thread (started by this op).
  int ThreadOn() {
    const int choice = in_.Byte() % kThreadChoices;
    if (choice == 0) return -1;
    const size_t index = static_cast<size_t>(choice - 1);
    return static_cast<int>(index < threads_ ? index : threads_);
  }

  // A started thread, or -1 when there is none.
  int ThreadUsed() {
    const uint8_t b = in_.Byte();
    if (threads_ == 0) return -1;
    return static_cast<int>(b % threads_);
  }

  FdRef Fd() {
    FdRef ref;
    switch (in_.Byte() % 4) {
      case kFdSmall:
        ref.literal = in_.Byte();
        break;
      case kFdName: {
        const uint8_t b = in_.Byte();
        if (fds_ == 0) {
          ref.literal = b;
        } else {
          ref.name = static_cast<int>(b % fds_);
        }
        break;
      }
      case kFdNegative:
        ref.literal = -1 - static_cast<int64_t>(in_.Byte());
        break;
      default:
        ref.literal = in_.I64();
        break;
    }
    return ref;
  }

  void ReadExpect(Expect* expect) {
    switch (in_.Byte() % kExpectCodes) {
      case kNoExpect:
        break;
      case kExpectOk:
        expect->present = true;
        expect->any_value = true;
        break;
      case kExpectOkValue:
        expect->present = true;
        expect->outcome = Outcome::Ok(in_.Compact());
        break;
      case kExpectError:
        expect->present = true;
        expect->outcome = Outcome::Error(1 + static_cast<int>(in_.Little(2) % kMaxErrno));
        break;
      default:
        expect->present = true;
        expect->outcome = Outcome::Blocked();
        break;
    }
  }

  // Reads one op; false when the input ran out inside it.
  bool DecodeOp() {
    Op op;
    op.kind = static_cast<OpKind>(in_.Byte() % kOpKindCount);
    bool keep = true;
    int binds = 0;  // fd names this op binds
    switch (op.kind) {
      case OpKind::kOpen:
        op.target = Target();
        op.file = static_cast<FileKind>(in_.Byte() % 2);
        op.cloexec = (in_.Byte() & 1) != 0;
        binds = 1;
        break;
      case OpKind::kPipe:
      case OpKind::kSocketpair:
        op.target = Target();
        op.cloexec = (in_.Byte() & 1) != 0;
        binds = 2;
        break;
      case OpKind::kClose:
        op.target = Target();
        op.fd = Fd();
        break;
      case OpKind::kDup:
        op.target = Target();
        op.fd = Fd();
        op.value = in_.Compact();
        op.cloexec = (in_.Byte() & 1) != 0;
        binds = 1;
        break;
      case OpKind::kDup2:
        op.target = Target();
        op.fd = Fd();
        op.fd2 = Fd();
        op.cloexec = (in_.Byte() & 1) != 0;
        break;
      case OpKind::kNofile:
        op.target = Target();
        op.value = in_.Compact();
        break;
      case OpKind::kHandler:
        op.target = Target();
        op.signal = 1 + in_.Byte() % kMaxSignal;
        op.handler = static_cast<HandlerKind>(in_.Byte() % 4);
        break;
      case OpKind::kInstallFilter:
        op.target = Target();
        op.flags = in_.U32();
        break;
      case OpKind::kReserve:
        op.target = Target();
        op.task = Task(op.target, true);
        keep = op.task >= 1;
        binds = 1;
        break;
      case OpKind::kRelease:
        op.target = Target();
        op.task = Task(op.target, false);
        break;
      case OpKind::kTrap:
        op.target = Target();
        op.task = Task(op.target, true);
        keep = op.task >= 1 && notif_target_.size() < kMaxNotifs;
        break;
      case OpKind::kReturned:
        op.notif = Notif();
        break;
      case OpKind::kSignalTask:
        op.target = Target();
        op.task = Task(op.target, false);
        op.signal = 1 + in_.Byte() % kMaxSignal;
        break;
      case OpKind::kKill:
      case OpKind::kCloseListener:
        op.target = Target();
        break;
      case OpKind::kRecv:
        op.thread = ThreadOn();
        op.target = Target();
        op.buffer = static_cast<BufferKind>(in_.Byte() % 4);
        break;
      case OpKind::kAddFd:
        op.thread = ThreadOn();
        op.notif = Notif();
        op.id_delta = in_.Compact();
        op.flags = in_.Word(0);
        op.src = static_cast<SourceKind>(in_.Byte() % kSourceKindCount);
        op.fd = Fd();
        op.newfd_flags = in_.Word(0);
        op.size = in_.Word(uapi::kAddFdSizeVer0);
        op.arg = static_cast<AddFdArg>(in_.Byte() % 4);
        // A full fd name table leaves the result unnamed rather than dropping the op.
        binds = (in_.Byte() & 1) != 0 && fds_ < kMaxFdNames ? 1 : 0;
        break;
      case OpKind::kSend:
        op.thread = ThreadOn();
        op.notif = Notif();
        op.id_delta = in_.Compact();
        op.fd = Fd();
        op.error = static_cast<int32_t>(in_.Word(0));
        op.flags = in_.Word(0);
        break;
      case OpKind::kIdValid:
        op.notif = Notif();
        op.id_delta = in_.Compact();
        op.legacy = (in_.Byte() & 1) != 0;
        break;
      case OpKind::kSetFlags:
      case OpKind::kIoctl:
        op.target = Target();
        op.value = in_.I64();
        break;
      case OpKind::kWait:
        op.thread = ThreadUsed();
        keep = op.thread >= 0;
        break;
      case OpKind::kSignalThread:
        op.thread = ThreadUsed();
        op.restart = (in_.Byte() & 1) != 0;
        keep = op.thread >= 0;
        break;
      case OpKind::kSettle:
        break;
    }
    if (expects_) ReadExpect(&op.expect);
    if (!in_.ok()) return false;

    const bool uses_notif = op.kind == OpKind::kReturned || op.kind == OpKind::kAddFd ||
                            op.kind == OpKind::kSend || op.kind == OpKind::kIdValid;
    if (uses_notif) {
      keep = keep && op.notif >= 0;
      if (keep) op.target = notif_target_[static_cast<size_t>(op.notif)];
    }
    if (fds_ + static_cast<size_t>(binds) > kMaxFdNames) keep = false;
    if (!keep) {
      // The op's bytes are consumed; the op is dropped and its fields reset.
      return true;
    }
    if (op.kind == OpKind::kTrap) {
      op.notif = static_cast<int>(notif_target_.size());
      notif_target_.push_back(op.target);
    }
    if (binds >= 1) op.bind = static_cast<int>(fds_++);
    if (binds >= 2) op.bind2 = static_cast<int>(fds_++);
    if (op.thread >= 0 && static_cast<size_t>(op.thread) == threads_) ++threads_;
    s_.ops.push_back(op);
    return true;
  }

  Reader in_;
  Scenario s_;
  bool expects_ = false;
  size_t threads_ = 0;
  size_t fds_ = 0;
  std::vector<int> notif_target_;  // the target of each notification
  std::vector<std::string> table_targets_, table_threads_, table_notifs_, table_fds_;
  std::vector<std::string> target_names_;
};

class Encoder {
 public:
  explicit Encoder(const Scenario& scenario) : s_(scenario) {}

  std::vector<uint8_t> Run() {
    out_.push_back(kCodecVersion);
    bool expects = false;
    for (const Op& op : s_.ops) expects = expects || op.expect.present;
    std::vector<std::string> target_names;
    for (const TargetDecl& target : s_.targets) target_names.push_back(target.name);
    const bool names = !IsDefault(target_names, kTargetPrefix) ||
                       !IsDefault(s_.threads, kThreadPrefix) ||
                       !IsDefault(s_.notifs, kNotifPrefix) || !IsDefault(s_.fd_names, kFdPrefix);
    const size_t targets = std::min<size_t>(std::max<size_t>(s_.targets.size(), 1), 2);
    out_.push_back(static_cast<uint8_t>((targets == 2 ? kHeaderTwoTargets : 0) |
                                        (expects ? kHeaderExpects : 0) |
                                        (names ? kHeaderNames : 0)));
    for (size_t i = 0; i < targets; ++i) {
      const TargetDecl target = i < s_.targets.size() ? s_.targets[i] : TargetDecl{};
      if (target.filter_flags < kFilterWide) {
        Byte(target.filter_flags);
      } else {
        Byte(kFilterWide);
        Little(target.filter_flags, 4);
      }
      Byte(target.callers);
    }
    if (names) {
      NameList(target_names);
      NameList(s_.threads);
      NameList(s_.notifs);
      NameList(s_.fd_names);
    }
    for (const Op& op : s_.ops) {
      EncodeOp(op);
      if (expects) EncodeExpect(op.expect);
    }
    return std::move(out_);
  }

 private:
  static bool IsDefault(const std::vector<std::string>& names, const char* prefix) {
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] != DefaultName(prefix, i)) return false;
    }
    return true;
  }

  template <typename T>
  void Byte(T value) {
    out_.push_back(static_cast<uint8_t>(value));
  }
  void Little(uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) out_.push_back(static_cast<uint8_t>(value >> (8 * i)));
  }
  void Word(uint32_t value, uint32_t usual) {
    if (value == usual) {
      Byte(0);
    } else if (value < kWordTable - 1u) {
      Byte(value + 1);
    } else {
      for (size_t i = 0; i < std::size(kWordValues); ++i) {
        if (kWordValues[i] == value) {
          Byte(kWordTable + i);
          return;
        }
      }
      Byte(kWordWide);
      Little(value, 4);
    }
  }
  void Compact(int64_t value) {
    if (value >= 0 && value <= 0x7f) {
      Byte(value);
    } else if (value >= -127 && value < 0) {
      Byte(0x7f - value);
    } else {
      Byte(kCompactWide);
      Little(static_cast<uint64_t>(value), 8);
    }
  }
  void NameList(const std::vector<std::string>& names) {
    Byte(names.size());
    for (const std::string& name : names) {
      Byte(name.size());
      for (const char c : name) Byte(c);
    }
  }
  void Fd(const FdRef& ref) {
    if (ref.name >= 0) {
      Byte(kFdName);
      Byte(ref.name);
    } else if (ref.literal >= 0 && ref.literal <= 0xff) {
      Byte(kFdSmall);
      Byte(ref.literal);
    } else if (ref.literal < 0 && ref.literal >= -256) {
      Byte(kFdNegative);
      Byte(-1 - ref.literal);
    } else {
      Byte(kFdWide);
      Little(static_cast<uint64_t>(ref.literal), 8);
    }
  }
  // The decoder starts thread i when i is the next one, so i + 1 serves both cases.
  void ThreadOn(int thread) { Byte(thread < 0 ? 0 : thread + 1); }

  void EncodeOp(const Op& op) {
    Byte(op.kind);
    switch (op.kind) {
      case OpKind::kOpen:
        Byte(op.target);
        Byte(op.file);
        Byte(op.cloexec);
        break;
      case OpKind::kPipe:
      case OpKind::kSocketpair:
        Byte(op.target);
        Byte(op.cloexec);
        break;
      case OpKind::kClose:
        Byte(op.target);
        Fd(op.fd);
        break;
      case OpKind::kDup:
        Byte(op.target);
        Fd(op.fd);
        Compact(op.value);
        Byte(op.cloexec);
        break;
      case OpKind::kDup2:
        Byte(op.target);
        Fd(op.fd);
        Fd(op.fd2);
        Byte(op.cloexec);
        break;
      case OpKind::kNofile:
        Byte(op.target);
        Compact(op.value);
        break;
      case OpKind::kHandler:
        Byte(op.target);
        Byte(op.signal - 1);
        Byte(op.handler);
        break;
      case OpKind::kInstallFilter:
        Byte(op.target);
        Little(op.flags, 4);
        break;
      case OpKind::kReserve:
      case OpKind::kTrap:
        Byte(op.target);
        Byte(op.task - 1);
        break;
      case OpKind::kRelease:
        Byte(op.target);
        Byte(op.task);
        break;
      case OpKind::kReturned:
        Byte(op.notif);
        break;
      case OpKind::kSignalTask:
        Byte(op.target);
        Byte(op.task);
        Byte(op.signal - 1);
        break;
      case OpKind::kKill:
      case OpKind::kCloseListener:
        Byte(op.target);
        break;
      case OpKind::kRecv:
        ThreadOn(op.thread);
        Byte(op.target);
        Byte(op.buffer);
        break;
      case OpKind::kAddFd:
        ThreadOn(op.thread);
        Byte(op.notif);
        Compact(op.id_delta);
        Word(op.flags, 0);
        Byte(op.src);
        Fd(op.fd);
        Word(op.newfd_flags, 0);
        Word(op.size, uapi::kAddFdSizeVer0);
        Byte(op.arg);
        Byte(op.bind >= 0);
        break;
      case OpKind::kSend:
        ThreadOn(op.thread);
        Byte(op.notif);
        Compact(op.id_delta);
        Fd(op.fd);
        Word(static_cast<uint32_t>(op.error), 0);
        Word(op.flags, 0);
        break;
      case OpKind::kIdValid:
        Byte(op.notif);
        Compact(op.id_delta);
        Byte(op.legacy);
        break;
      case OpKind::kSetFlags:
      case OpKind::kIoctl:
        Byte(op.target);
        Little(static_cast<uint64_t>(op.value), 8);
        break;
      case OpKind::kWait:
        Byte(op.thread);
        break;
      case OpKind::kSignalThread:
        Byte(op.thread);
        Byte(op.restart);
        break;
      case OpKind::kSettle:
        break;
    }
  }

  void EncodeExpect(const Expect& expect) {
    if (!expect.present) {
      Byte(kNoExpect);
      return;
    }
    switch (expect.outcome.kind) {
      case Outcome::Kind::kOk:
        if (expect.any_value) {
          Byte(kExpectOk);
        } else {
          Byte(kExpectOkValue);
          Compact(expect.outcome.value);
        }
        break;
      case Outcome::Kind::kError:
        Byte(kExpectError);
        Little(static_cast<uint64_t>(expect.outcome.err - 1), 2);
        break;
      case Outcome::Kind::kBlocked:
        Byte(kExpectBlocked);
        break;
    }
  }

  const Scenario& s_;
  std::vector<uint8_t> out_;
};

}  // namespace

std::optional<Scenario> DecodeScenario(const uint8_t* data, size_t size) {
  if (data == nullptr && size != 0) return std::nullopt;
  return Decoder(data, size).Run();
}

std::vector<uint8_t> EncodeScenario(const Scenario& scenario) { return Encoder(scenario).Run(); }

std::string RoundTripProblem(const Scenario& scenario) {
  const std::string invalid = ValidateScenario(scenario);
  if (!invalid.empty()) return "invalid scenario: " + invalid;
  const std::string text = PrintScenario(scenario);
  ParseError error;
  const std::optional<Scenario> parsed = ParseScenario(text, "printed.scn", &error);
  if (!parsed) return "printed text does not parse: " + error.ToString() + "\n" + text;
  if (*parsed != scenario) return "parse(print(s)) != s:\n" + text;
  Scenario without_cells = scenario;
  without_cells.cells.clear();
  const std::vector<uint8_t> bytes = EncodeScenario(without_cells);
  const std::optional<Scenario> decoded = DecodeScenario(bytes.data(), bytes.size());
  if (!decoded) return "encoding does not decode:\n" + text;
  if (*decoded != without_cells) {
    return "decode(encode(s)) != s:\n" + text + "decoded as:\n" + PrintScenario(*decoded);
  }
  return "";
}

}  // namespace addfdlab
