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
constexpr uint8_t kHeaderPlaces = 1u << 1;
constexpr uint8_t kHeaderExpects = 1u << 6;
constexpr uint8_t kHeaderNames = 1u << 7;

constexpr uint8_t kFilterWide = 0x80;    // a target's filter byte: a u32 follows
constexpr uint8_t kCallersPidNs = 0x80;  // a target's callers byte: TargetDecl::pid_ns

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

// One op's fields in the byte format, in order, for both directions: the Decoder reads each
// into `op` (OpT = Op), the Encoder writes each from it (OpT = const Op). The opcode comes
// before and the expect block after; the Decoder then binds names and drops an op that
// cannot be made valid, from its kind's OpTraits::fields.
template <typename Io, typename OpT>
void CodeOpFields(Io& io, OpT& op) {
  switch (op.kind) {
    case OpKind::kOpen:
      io.Target(op.target);
      io.Choice(op.file, kFileKindCount);
      io.Bit(op.cloexec);
      return;
    case OpKind::kPipe:
    case OpKind::kSocketpair:
      io.Target(op.target);
      io.Bit(op.cloexec);
      return;
    case OpKind::kClose:
      io.Target(op.target);
      io.Fd(op.fd);
      return;
    case OpKind::kDup:
      io.Target(op.target);
      io.Fd(op.fd);
      io.Compact(op.value);
      io.Bit(op.cloexec);
      return;
    case OpKind::kDup2:
      io.Target(op.target);
      io.Fd(op.fd);
      io.Fd(op.fd2);
      io.Bit(op.cloexec);
      return;
    case OpKind::kNofile:
      io.Target(op.target);
      io.Compact(op.value);
      return;
    case OpKind::kHandler:
      io.Target(op.target);
      io.Signal(op.signal);
      io.Choice(op.handler, kHandlerKindCount);
      return;
    case OpKind::kInstallFilter:
      io.Target(op.target);
      io.U32(op.flags);
      return;
    case OpKind::kReserve:
      io.Target(op.target);
      io.CallerTask(op.target, op.task);
      return;
    case OpKind::kTrap:
      io.Target(op.target);
      io.CallerTask(op.target, op.task);
      io.Choice(op.call, kTrapCallCount);
      if (op.call == TrapCall::kDup) io.Fd(op.fd);
      return;
    case OpKind::kRelease:
      io.Target(op.target);
      io.Task(op.target, op.task);
      return;
    case OpKind::kSpawn:
      io.Target(op.target);
      io.Task(op.target, op.task);
      io.Choice(op.spawn_as, kSpawnAsCount);
      return;
    case OpKind::kReturned:
      io.Notif(op.notif);
      return;
    case OpKind::kSignalTask:
      io.Target(op.target);
      io.Task(op.target, op.task);
      io.Signal(op.signal);
      return;
    case OpKind::kKill:
    case OpKind::kCloseListener:
      io.Target(op.target);
      return;
    case OpKind::kRecv:
      io.ThreadOn(op.thread);
      io.Target(op.target);
      io.Choice(op.buffer, kBufferKindCount);
      return;
    case OpKind::kAddFd:
      io.ThreadOn(op.thread);
      io.Notif(op.notif);
      io.Compact(op.id_delta);
      io.Word(op.flags, 0);
      io.Choice(op.src, kSourceKindCount);
      io.Fd(op.fd);
      io.Word(op.newfd_flags, 0);
      io.Word(op.size, uapi::kAddFdSizeVer0);
      io.Choice(op.arg, kAddFdArgCount);
      io.Choice(op.emulates, kEmulatedCallCount);
      // Only the main thread injects (ValidateScenario).
      if (op.thread < 0) io.Choice(op.inject, kInjectKindCount);
      io.OptionalBind(op.bind);
      return;
    case OpKind::kSend:
      io.ThreadOn(op.thread);
      io.Notif(op.notif);
      io.Compact(op.id_delta);
      io.Fd(op.fd);
      io.Word(op.error, 0);
      io.Word(op.flags, 0);
      return;
    case OpKind::kIdValid:
      io.Notif(op.notif);
      io.Compact(op.id_delta);
      io.Bit(op.legacy);
      return;
    case OpKind::kSetFlags:
    case OpKind::kIoctl:
      io.Target(op.target);
      io.I64(op.value);
      return;
    case OpKind::kWait:
      io.ThreadUsed(op.thread);
      return;
    case OpKind::kSignalThread:
      io.ThreadUsed(op.thread);
      io.Bit(op.restart);
      return;
    case OpKind::kSettle:
      return;
    case OpKind::kWork:
      io.Notif(op.notif);
      return;
    case OpKind::kPoll:
      io.Target(op.target);
      io.Word(op.flags, 0);
      return;
    case OpKind::kGetNotifSizes:
      return;
  }
}

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
      const uint8_t callers = in_.Byte();
      target.callers = (callers & ~kCallersPidNs) % (kMaxCallers + 1);
      target.pid_ns = (callers & kCallersPidNs) != 0;
      s_.targets.push_back(std::move(target));
    }
    if ((header & kHeaderNames) && !ReadNames()) return std::nullopt;
    if (header & kHeaderPlaces) {
      const size_t count = in_.Byte() % (kMaxThreads + 1);
      for (size_t i = 0; i < count; ++i) {
        s_.places.push_back(static_cast<ThreadPlace>(in_.Byte() % kThreadPlaceCount));
      }
    }
    if (!in_.ok()) return std::nullopt;
    while (!in_.AtEnd() && s_.ops.size() < kMaxOps) {
      if (!DecodeOp()) break;
    }
    // Places of threads no op started on go, and so do trailing threads' (canonical form).
    if (s_.places.size() > threads_) s_.places.resize(threads_);
    while (!s_.places.empty() && s_.places.back() == ThreadPlace::kThread) s_.places.pop_back();
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

  // The callers and the tasks `spawn` made before the op being read.
  int Callers(int target) const { return TasksBefore(s_, target, s_.ops.size()) - 1; }

  // The fields of CodeOpFields, read. A typed reference is taken modulo what exists.
  template <typename Io, typename OpT>
  friend void CodeOpFields(Io& io, OpT& op);
  void Target(int& target) { target = in_.Byte() % static_cast<int>(s_.targets.size()); }
  template <typename Enum>
  void Choice(Enum& value, int choices) {
    value = static_cast<Enum>(in_.Byte() % choices);
  }
  void Bit(bool& bit) { bit = (in_.Byte() & 1) != 0; }
  void Signal(int& signal) { signal = 1 + in_.Byte() % kMaxSignal; }
  void U32(uint32_t& value) { value = in_.U32(); }
  void I64(int64_t& value) { value = in_.I64(); }
  void Compact(int64_t& value) { value = in_.Compact(); }
  template <typename T>
  void Word(T& value, uint32_t usual) {
    value = static_cast<T>(in_.Word(usual));
  }
  // 0..callers.
  void Task(int target, int& task) { task = in_.Byte() % (Callers(target) + 1); }
  // 1..callers, or -1 when the target has no callers.
  void CallerTask(int target, int& task) {
    const int callers = Callers(target);
    const uint8_t b = in_.Byte();
    task = callers == 0 ? -1 : 1 + b % callers;
  }
  // An earlier trap's notification, or -1 when there is none.
  void Notif(int& notif) {
    const uint8_t b = in_.Byte();
    notif = notif_target_.empty() ? -1 : static_cast<int>(b % notif_target_.size());
  }
  // -1 (the main thread), a started thread, or the next thread (started by this op).
  void ThreadOn(int& thread) {
    const int choice = in_.Byte() % kThreadChoices;
    if (choice == 0) {
      thread = -1;
      return;
    }
    const size_t index = static_cast<size_t>(choice - 1);
    thread = static_cast<int>(index < threads_ ? index : threads_);
  }
  // A started thread, or -1 when there is none.
  void ThreadUsed(int& thread) {
    const uint8_t b = in_.Byte();
    thread = threads_ == 0 ? -1 : static_cast<int>(b % threads_);
  }
  void Fd(FdRef& ref) {
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
  }
  // Whether the op binds the next fd name; DecodeOp binds it. A full fd name table leaves
  // the result unnamed rather than dropping the op.
  void OptionalBind(int& /*bind*/) { optional_bind_ = (in_.Byte() & 1) != 0 && fds_ < kMaxFdNames; }

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
    optional_bind_ = false;
    CodeOpFields(*this, op);
    if (expects_) ReadExpect(&op.expect);
    if (!in_.ok()) return false;
    constexpr uint32_t kRefsAndBinds = op_field::kTaskCaller | op_field::kThreadUsed |
                                       op_field::kNotifUse | op_field::kNotifBind |
                                       op_field::kBind | op_field::kBind2 | op_field::kBindOptional;
    const uint32_t fields = OpTraitsOf(op.kind).fields;
    // A dropped op's bytes are consumed; the op is dropped and its fields reset.
    if (((fields & kRefsAndBinds) != 0 || op.kind == OpKind::kSpawn) && !Admit(fields, op)) {
      return true;
    }
    if (op.thread >= 0 && static_cast<size_t>(op.thread) == threads_) ++threads_;
    s_.ops.push_back(op);
    return true;
  }

  // Binds what the op binds; false for an op that cannot be made valid: a caller task on a
  // target without callers, no thread to wait for, no notification yet, a 17th trap, a 33rd
  // fd name.
  bool Admit(uint32_t fields, Op& op) {
    if ((fields & op_field::kTaskCaller) && op.task < 1) return false;
    if (op.kind == OpKind::kSpawn && Callers(op.target) + 1 >= kMaxTasks) return false;
    if ((fields & op_field::kThreadUsed) && op.thread < 0) return false;
    if (fields & op_field::kNotifUse) {
      if (op.notif < 0) return false;
      op.target = notif_target_[static_cast<size_t>(op.notif)];
    }
    if ((fields & op_field::kNotifBind) && notif_target_.size() >= kMaxNotifs) return false;
    const int binds = ((fields & op_field::kBind) ? 1 : 0) + ((fields & op_field::kBind2) ? 1 : 0) +
                      (optional_bind_ ? 1 : 0);
    if (fds_ + static_cast<size_t>(binds) > kMaxFdNames) return false;
    if (fields & op_field::kNotifBind) {
      op.notif = static_cast<int>(notif_target_.size());
      notif_target_.push_back(op.target);
    }
    if (binds >= 1) op.bind = static_cast<int>(fds_++);
    if (binds >= 2) op.bind2 = static_cast<int>(fds_++);
    return true;
  }

  Reader in_;
  Scenario s_;
  bool expects_ = false;
  size_t threads_ = 0;
  size_t fds_ = 0;
  bool optional_bind_ = false;     // the op being read binds an fd name (OptionalBind)
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
    out_.push_back(static_cast<uint8_t>(
        (targets == 2 ? kHeaderTwoTargets : 0) | (s_.places.empty() ? 0 : kHeaderPlaces) |
        (expects ? kHeaderExpects : 0) | (names ? kHeaderNames : 0)));
    for (size_t i = 0; i < targets; ++i) {
      const TargetDecl target = i < s_.targets.size() ? s_.targets[i] : TargetDecl{};
      if (target.filter_flags < kFilterWide) {
        Byte(target.filter_flags);
      } else {
        Byte(kFilterWide);
        Little(target.filter_flags, 4);
      }
      Byte(target.callers | (target.pid_ns ? kCallersPidNs : 0));
    }
    if (names) {
      NameList(target_names);
      NameList(s_.threads);
      NameList(s_.notifs);
      NameList(s_.fd_names);
    }
    if (!s_.places.empty()) {
      Byte(s_.places.size());
      for (ThreadPlace place : s_.places) Byte(place);
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
  void NameList(const std::vector<std::string>& names) {
    Byte(names.size());
    for (const std::string& name : names) {
      Byte(name.size());
      for (const char c : name) Byte(c);
    }
  }
  void EncodeOp(const Op& op) {
    Byte(op.kind);
    CodeOpFields(*this, op);
  }

  // The fields of CodeOpFields, written: each in the shortest form the Decoder reads back.
  template <typename Io, typename OpT>
  friend void CodeOpFields(Io& io, OpT& op);
  void Target(int target) { Byte(target); }
  template <typename Enum>
  void Choice(Enum value, int /*choices*/) {
    Byte(value);
  }
  void Bit(bool bit) { Byte(bit); }
  void Signal(int signal) { Byte(signal - 1); }
  void U32(uint32_t value) { Little(value, 4); }
  void I64(int64_t value) { Little(static_cast<uint64_t>(value), 8); }
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
  template <typename T>
  void Word(T field, uint32_t usual) {
    const auto value = static_cast<uint32_t>(field);
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
  void Task(int /*target*/, int task) { Byte(task); }
  void CallerTask(int /*target*/, int task) { Byte(task - 1); }
  void Notif(int notif) { Byte(notif); }
  // The decoder starts thread i when i is the next one, so i + 1 serves both cases.
  void ThreadOn(int thread) { Byte(thread < 0 ? 0 : thread + 1); }
  void ThreadUsed(int thread) { Byte(thread); }
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
  void OptionalBind(int bind) { Byte(bind >= 0); }

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

Result<void> CheckRoundTrip(const Scenario& scenario) {
  ADDFDLAB_TRY_CONTEXT(ValidateScenario(scenario), "invalid scenario");
  const std::string text = PrintScenario(scenario);
  ParseError error;
  const std::optional<Scenario> parsed = ParseScenario(text, "printed.scn", &error);
  if (!parsed) {
    return Error::Invalid("printed text does not parse: " + error.ToString() + "\n" + text);
  }
  if (*parsed != scenario) return Error::Invalid("parse(print(s)) != s:\n" + text);
  Scenario without_cells = scenario;
  without_cells.cells.clear();
  const std::vector<uint8_t> bytes = EncodeScenario(without_cells);
  const std::optional<Scenario> decoded = DecodeScenario(bytes.data(), bytes.size());
  if (!decoded) return Error::Invalid("encoding does not decode:\n" + text);
  if (*decoded != without_cells) {
    return Error::Invalid("decode(encode(s)) != s:\n" + text + "decoded as:\n" +
                          PrintScenario(*decoded));
  }
  return {};
}

}  // namespace addfdlab
