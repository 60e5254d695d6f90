// Run specs: what may run, and the rollback fuzzer's byte codec.
#include "faults/run_spec.h"

#include <algorithm>
#include <iterator>
#include <set>

#include "addfdlab/agent_protocol.h"

namespace addfdlab::faults {
namespace {

// Every fault kind, kNone included.
constexpr size_t kKindCount = std::size(kFaultKinds) + 1;

}  // namespace

Result<void> ValidateRunSpec(const RunSpec& spec) {
  if (spec.k < 1 || spec.k > kMaxFiles) {
    return Error::Invalid("k must be 1.." + std::to_string(kMaxFiles));
  }
  std::set<int> seen;
  for (int n : spec.layout) {
    if (n < 0 || n >= agent::kInputFdLimit) return Error::Invalid("layout fds must be in [0, 256)");
    if (!seen.insert(n).second) return Error::Invalid("layout fd " + std::to_string(n) + " twice");
  }
  if (spec.strategy == rollback::Strategy::kRestoreOnReplace &&
      static_cast<int>(spec.numbers.size()) != spec.k) {
    return Error::Invalid("restore-on-replace needs k numbers");
  }
  if (!spec.numbers.empty() && static_cast<int>(spec.numbers.size()) != spec.k) {
    return Error::Invalid("numbers: give k of them");
  }
  std::set<int> numbers;
  for (int n : spec.numbers) {
    if (n < 0 || n >= agent::kInputFdLimit) return Error::Invalid("numbers must be in [0, 256)");
    if (!numbers.insert(n).second) return Error::Invalid("number " + std::to_string(n) + " twice");
  }
  if (spec.strategy == rollback::Strategy::kFixedNumbers) {
    for (int n : spec.numbers) {
      if (seen.count(n) != 0) {
        return Error::Invalid("fixed-numbers installs onto free numbers only");
      }
    }
  }
  return {};
}

// Byte layout: strategy, k, fault kind, when, ioctl, errno, cloexec, then the layout as a
// count and numbers, then restore-on-replace's numbers as a count and numbers.
std::vector<uint8_t> EncodeRunSpec(const RunSpec& spec) {
  std::vector<uint8_t> out = {
      static_cast<uint8_t>(spec.strategy),    static_cast<uint8_t>(spec.k - 1),
      static_cast<uint8_t>(spec.fault.kind),  static_cast<uint8_t>(spec.fault.when),
      static_cast<uint8_t>(spec.fault.ioctl), static_cast<uint8_t>(spec.fault.err - 1),
      static_cast<uint8_t>(spec.cloexec),     static_cast<uint8_t>(spec.layout.size())};
  for (int n : spec.layout) out.push_back(static_cast<uint8_t>(n));
  out.push_back(static_cast<uint8_t>(spec.numbers.size()));
  for (int n : spec.numbers) out.push_back(static_cast<uint8_t>(n));
  return out;
}

std::optional<RunSpec> DecodeRunSpec(const uint8_t* data, size_t size, bool allow_mutant) {
  size_t at = 0;
  const auto next = [&]() -> int { return at < size ? data[at++] : 0; };
  RunSpec spec;
  const int strategies =
      static_cast<int>(rollback::Strategy::kBrokenCooperative) + (allow_mutant ? 1 : 0);
  spec.strategy = static_cast<rollback::Strategy>(next() % strategies);
  spec.k = 1 + next() % kMaxFiles;
  spec.fault.kind = static_cast<FaultKind>(static_cast<size_t>(next()) % kKindCount);
  spec.fault.when = next() % 2 == 0 ? FaultPlan::When::kBefore : FaultPlan::When::kDuring;
  spec.fault.ioctl = next() % 24;
  spec.fault.err = 1 + next() % 133;
  spec.cloexec = next() % 2 == 1;
  const int layout = next() % 9;
  std::set<int> used;
  for (int i = 0; i < layout; ++i) {
    const int n = next() % 32;
    if (used.insert(n).second) spec.layout.push_back(n);
  }
  const int numbers = next() % (kMaxFiles + 1);
  std::set<int> chosen;
  for (int i = 0; i < numbers; ++i) {
    const int n = next() % 32;
    if (chosen.insert(n).second) spec.numbers.push_back(n);
  }
  // Only the strategies that install at numbers use them, and they need k of them:
  // fixed-numbers free ones (else it chooses), restore-on-replace any (padded).
  if (spec.strategy == rollback::Strategy::kRestoreOnReplace) {
    spec.numbers.resize(std::min(spec.numbers.size(), static_cast<size_t>(spec.k)));
    for (int n = 0; static_cast<int>(spec.numbers.size()) < spec.k; ++n) {
      if (chosen.insert(n).second) spec.numbers.push_back(n);
    }
  } else if (spec.strategy != rollback::Strategy::kFixedNumbers ||
             static_cast<int>(spec.numbers.size()) != spec.k ||
             std::any_of(spec.numbers.begin(), spec.numbers.end(),
                         [&](int n) { return used.count(n) != 0; })) {
    spec.numbers.clear();
  }
  if (!ValidateRunSpec(spec)) return std::nullopt;
  return spec;
}

}  // namespace addfdlab::faults
