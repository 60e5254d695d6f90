// The run profile: phase times, their text and their one-line form.
#include "addfdlab/run_profile.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace addfdlab {
namespace {

constexpr std::string_view kPhaseNames[kPhaseCount] = {
    "acquire", "ops", "quiesce", "tables", "model", "release", "hygiene", "backoff", "other",
};

}  // namespace

std::string_view PhaseName(Phase phase) { return kPhaseNames[static_cast<size_t>(phase)]; }

uint64_t RunProfile::total_ns() const {
  uint64_t total = 0;
  for (uint64_t n : ns) total += n;
  return total;
}

void RunProfile::Add(const RunProfile& other) {
  for (size_t i = 0; i < ns.size(); ++i) ns[i] += other.ns[i];
  runs += other.runs;
  attempts += other.attempts;
  ops += other.ops;
  notifier_ioctls += other.notifier_ioctls;
  faults += other.faults;
  fault_errors += other.fault_errors;
}

std::string RunProfile::Format() const {
  std::ostringstream out;
  const double per_run = runs == 0 ? 0 : 1.0 / static_cast<double>(runs);
  const uint64_t total = total_ns();
  char line[160];
  std::snprintf(line, sizeof(line), "%-8s %12s %7s\n", "phase", "us per run", "share");
  out << line;
  for (int i = 0; i < kPhaseCount; ++i) {
    const double share = total == 0 ? 0
                                    : 100.0 * static_cast<double>(ns[static_cast<size_t>(i)]) /
                                          static_cast<double>(total);
    std::snprintf(line, sizeof(line), "%-8s %12.1f %6.1f%%\n",
                  std::string(PhaseName(static_cast<Phase>(i))).c_str(),
                  static_cast<double>(ns[static_cast<size_t>(i)]) * per_run / 1000, share);
    out << line;
  }
  std::snprintf(line, sizeof(line), "%-8s %12.1f\n", "total",
                static_cast<double>(total) * per_run / 1000);
  out << line;
  std::snprintf(line, sizeof(line),
                "runs %" PRIu64 " (%" PRIu64
                " attempts), %.1f runs/s; per run %.2f ops, %.2f "
                "notifier ioctls by ops\n",
                runs, attempts,
                total == 0 ? 0 : 1e9 * static_cast<double>(runs) / static_cast<double>(total),
                static_cast<double>(ops) * per_run, static_cast<double>(notifier_ioctls) * per_run);
  out << line;
  if (faults > 0) {
    std::snprintf(line, sizeof(line),
                  "kernel faults injected: %" PRIu64 " ioctls armed one, %" PRIu64
                  " of them answered with an error\n",
                  faults, fault_errors);
    out << line;
  }
  return out.str();
}

std::string RunProfile::Line() const {
  std::ostringstream out;
  out << "runs=" << runs << " attempts=" << attempts << " ops=" << ops
      << " ioctls=" << notifier_ioctls << " faults=" << faults << " fault_errors=" << fault_errors;
  for (int i = 0; i < kPhaseCount; ++i) {
    out << " " << PhaseName(static_cast<Phase>(i)) << "_ns=" << ns[static_cast<size_t>(i)];
  }
  return out.str();
}

std::optional<RunProfile> RunProfile::ParseLine(std::string_view line) {
  RunProfile profile;
  bool any = false;
  std::istringstream in{std::string(line)};
  for (std::string word; in >> word;) {
    const size_t eq = word.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = word.substr(0, eq);
    char* end = nullptr;
    const uint64_t value = std::strtoull(word.c_str() + eq + 1, &end, 10);
    if (end == nullptr || *end != '\0') return std::nullopt;
    any = true;
    if (key == "runs") {
      profile.runs = value;
    } else if (key == "attempts") {
      profile.attempts = value;
    } else if (key == "ops") {
      profile.ops = value;
    } else if (key == "ioctls") {
      profile.notifier_ioctls = value;
    } else if (key == "faults") {
      profile.faults = value;
    } else if (key == "fault_errors") {
      profile.fault_errors = value;
    } else {
      for (int i = 0; i < kPhaseCount; ++i) {
        if (key == std::string(PhaseName(static_cast<Phase>(i))) + "_ns") {
          profile.ns[static_cast<size_t>(i)] = value;
        }
      }
    }
  }
  if (!any) return std::nullopt;
  return profile;
}

PhaseClock::PhaseClock(RunProfile* profile) : profile_(profile), since_(Clock::now()) {}

Phase PhaseClock::Switch(Phase phase) {
  const Clock::time_point now = Clock::now();
  if (running_) {
    profile_->ns[static_cast<size_t>(current_)] += static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - since_).count());
  }
  since_ = now;
  running_ = true;
  const Phase previous = current_;
  current_ = phase;
  return previous;
}

void PhaseClock::Stop() {
  Switch(current_);
  running_ = false;
}

}  // namespace addfdlab
