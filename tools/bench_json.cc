// Reading Google Benchmark's JSON: NaN-tolerant parsing, positions as line:col, grouping.
#include "bench_json.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "addfdlab/json_errors.h"

namespace addfdlab::tools {
namespace {

namespace fs = std::filesystem;

// A bare token replaced by `null` before parsing: where it was, and how long.
struct Replacement {
  size_t position;  // in the rewritten text
  size_t original_length;
};

// json_reporter.cc prints NaN and Infinity (with an optional minus) as bare words.
std::string ReplaceNonFinite(const std::string& text, std::vector<Replacement>* replaced) {
  static const char* const kWords[] = {"-Infinity", "Infinity", "-NaN", "NaN"};
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    bool matched = false;
    for (const char* word : kWords) {
      const size_t length = std::char_traits<char>::length(word);
      if (text.compare(i, length, word) == 0) {
        replaced->push_back({out.size(), length});
        out += "null";
        i += length - 1;
        matched = true;
        break;
      }
    }
    if (!matched) out += c;
  }
  return out;
}

// nlohmann's byte position (1-based, the last character read) in the rewritten text, as
// the index of that character in the original.
size_t OriginalIndex(const std::string& original, size_t byte,
                     const std::vector<Replacement>& replaced) {
  constexpr size_t kNull = 4;  // strlen("null")
  const size_t rewritten = byte == 0 ? 0 : byte - 1;
  size_t index = rewritten;
  for (const Replacement& r : replaced) {
    if (r.position + kNull <= rewritten) {
      index = index + r.original_length - kNull;
    } else {
      if (r.position <= rewritten) {
        index = index - (rewritten - r.position) +
                std::min(rewritten - r.position, r.original_length - 1);
      }
      break;
    }
  }
  return std::min(index, original.size());
}

// A time unit's nanoseconds and microseconds (both, so that neither is rounded twice).
bool UnitScale(const std::string& unit, double* ns, double* us) {
  if (unit == "ns") {
    *ns = 1.0;
    *us = 1e-3;
  } else if (unit == "us") {
    *ns = 1e3;
    *us = 1.0;
  } else if (unit == "ms") {
    *ns = 1e6;
    *us = 1e3;
  } else if (unit == "s") {
    *ns = 1e9;
    *us = 1e6;
  } else {
    return false;
  }
  return true;
}

nlohmann::json Finite(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json();
}

// Fields every run has; any other number is a user counter.
const std::set<std::string>& NonCounterFields() {
  static const std::set<std::string> fields = {"family_index",
                                               "per_family_instance_index",
                                               "repetitions",
                                               "repetition_index",
                                               "threads",
                                               "iterations",
                                               "real_time",
                                               "cpu_time",
                                               "rms",
                                               "cpu_coefficient",
                                               "real_coefficient"};
  return fields;
}

Result<std::string> ReadFile(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return Error(Errno(ENOENT), path + ": no such file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(Errno::Last(), path + ": cannot read it");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

Result<BenchRun> ParseBenchJson(const std::string& text) {
  std::vector<Replacement> replaced;
  const std::string clean = ReplaceNonFinite(text, &replaced);
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(clean);
  } catch (const nlohmann::json::parse_error& e) {
    // The position in what() counts the rewritten text, so say it again from the original;
    // "last read" quotes the rewritten text (the position says where).
    return Error::Invalid(JsonSyntaxError(text, OriginalIndex(text, e.byte, replaced), e.what(),
                                          /*keep_last_read=*/false));
  }
  const auto fail = [](const std::string& what) {
    return Error::Invalid("not Google Benchmark JSON: " + what);
  };
  if (!doc.is_object()) return fail("the top level is not an object");
  if (!doc.contains("benchmarks") || !doc["benchmarks"].is_array()) {
    return fail("no \"benchmarks\" array");
  }
  BenchRun run;
  if (doc.contains("context")) {
    if (!doc["context"].is_object()) return fail("\"context\" is not an object");
    run.context = doc["context"];
  }
  size_t index = 0;
  for (const nlohmann::json& item : doc["benchmarks"]) {
    const std::string where = "benchmarks[" + std::to_string(index++) + "]";
    if (!item.is_object()) return fail(where + " is not an object");
    if (!item.contains("name") || !item["name"].is_string()) {
      return fail(where + " has no \"name\"");
    }
    BenchEntry entry;
    entry.name = item["name"].get<std::string>();
    const std::string named = where + " (" + entry.name + ")";
    entry.run_name = entry.name;
    if (item.contains("run_name")) {
      if (!item["run_name"].is_string()) return fail(named + ": \"run_name\" is not a string");
      entry.run_name = item["run_name"].get<std::string>();
    }
    if (item.contains("run_type")) {
      if (!item["run_type"].is_string()) return fail(named + ": \"run_type\" is not a string");
      entry.aggregate = item["run_type"].get<std::string>() == "aggregate";
    }
    if (item.contains("aggregate_name") && item["aggregate_name"].is_string()) {
      entry.aggregate_name = item["aggregate_name"].get<std::string>();
    }
    if (item.contains("aggregate_unit") && item["aggregate_unit"].is_string()) {
      entry.aggregate_unit = item["aggregate_unit"].get<std::string>();
    }
    if (item.value("error_occurred", false)) {
      entry.error = item.value("error_message", std::string("error"));
      if (entry.error.empty()) entry.error = "error";
    }
    std::string unit = "ns";
    if (item.contains("time_unit")) {
      if (!item["time_unit"].is_string()) return fail(named + ": \"time_unit\" is not a string");
      unit = item["time_unit"].get<std::string>();
    }
    double scale = 0.0;
    double scale_us = 0.0;
    if (!UnitScale(unit, &scale, &scale_us)) {
      return fail(named + ": time_unit \"" + unit + "\" is not ns, us, ms or s");
    }
    if (!item.contains("real_time") && entry.error.empty()) {
      return fail(named + " has no \"real_time\"");
    }
    if (item.contains("real_time")) {
      const nlohmann::json& real = item["real_time"];
      if (real.is_number()) {
        const bool percentage = entry.aggregate_unit == "percentage";
        entry.real_time_ns = real.get<double>() * (percentage ? 1.0 : scale);
        entry.real_time_us = real.get<double>() * (percentage ? 1.0 : scale_us);
      } else if (!real.is_null()) {
        return fail(named + ": \"real_time\" is not a number");
      }
    }
    for (const auto& [key, value] : item.items()) {
      if (NonCounterFields().count(key) != 0) continue;
      if (value.is_number()) {
        entry.counters[key] = value.get<double>();
      } else if (value.is_null()) {
        entry.counters[key] = std::nan("");
      }
    }
    run.entries.push_back(std::move(entry));
  }
  return run;
}

Result<BenchRun> LoadBenchRun(const std::string& path) {
  std::error_code ec;
  std::vector<std::string> files;
  if (fs::is_directory(path, ec)) {
    const fs::path raw = fs::path(path) / "raw";
    const fs::path dir = fs::is_directory(raw, ec) ? raw : fs::path(path);
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (e.path().extension() == ".json" && e.path().filename() != "meta.json") {
        files.push_back(e.path().string());
      }
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      return Error(Errno(ENOENT), path + ": no Google Benchmark JSON files in this folder");
    }
  } else {
    files.push_back(path);
  }
  BenchRun merged;
  merged.path = path;
  for (const std::string& file : files) {
    Result<std::string> text = ReadFile(file);
    if (!text) return std::move(text).error();
    Result<BenchRun> run = ParseBenchJson(*text);
    if (!run) {
      // A syntax error's message starts with its line:col.
      const std::string& message = run.error().message();
      const bool positioned = message.compare(0, 4, "not ") != 0;
      return Error(run.error().code(), file + (positioned ? ":" : ": ") + message);
    }
    if (merged.context.is_null()) merged.context = run->context;
    const fs::path name = fs::path(file).filename();
    const std::string suite = name.stem().string();
    merged.suites.push_back(
        {suite, name.string(), run->context.is_null() ? nlohmann::json::object() : run->context});
    for (BenchEntry& entry : run->entries) {
      entry.suite = suite;
      merged.entries.push_back(std::move(entry));
    }
  }
  return merged;
}

std::optional<double> BenchSamples::Median() const {
  if (real_ns.empty()) return median_aggregate_ns;
  std::vector<double> sorted = real_ns;
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
}

std::string BenchName(const std::string& run_name) {
  static const std::regex suffix(
      "^(real_time|manual_time|process_time|"
      "(repeats|min_time|min_warmup_time|iterations|threads):.*)$");
  std::string name;
  std::stringstream parts(run_name);
  for (std::string part; std::getline(parts, part, '/');) {
    if (std::regex_match(part, suffix)) continue;
    name += (name.empty() ? "" : "/") + part;
  }
  return name;
}

std::vector<BenchSamples> GroupSamples(const std::vector<BenchEntry>& entries) {
  std::vector<BenchSamples> groups;
  std::map<std::string, size_t> index;
  for (const BenchEntry& entry : entries) {
    const std::string name = BenchName(entry.run_name);
    auto [it, fresh] = index.emplace(name, groups.size());
    if (fresh) groups.emplace_back();
    BenchSamples& group = groups[it->second];
    if (fresh) {
      group.name = name;
      group.run_name = entry.run_name;
      group.suite = entry.suite;
    }
    if (!entry.error.empty()) {
      if (group.error.empty()) group.error = entry.error;
      continue;
    }
    if (entry.aggregate) {
      if (entry.aggregate_name == "median" && entry.real_time_ns) {
        group.median_aggregate_ns = entry.real_time_ns;
      }
      if (!entry.aggregate_name.empty() && entry.real_time_us) {
        group.aggregates[entry.aggregate_name] = *entry.real_time_us;
      }
      continue;
    }
    if (entry.real_time_ns) group.real_ns.push_back(*entry.real_time_ns);
    if (entry.real_time_us) group.real_us.push_back(*entry.real_time_us);
    for (const auto& [key, value] : entry.counters) group.counters[key].push_back(value);
    if (auto v = entry.counters.find("verified"); v != entry.counters.end()) {
      const double value = std::isnan(v->second) ? 0.0 : v->second;
      group.verified = group.verified ? std::min(*group.verified, value) : value;
    }
  }
  return groups;
}

nlohmann::json SamplesJson(const BenchRun& run) {
  nlohmann::json suites = nlohmann::json::array();
  for (const BenchSuite& s : run.suites) {
    suites.push_back({{"name", s.name}, {"file", s.file}, {"context", s.context}});
  }
  nlohmann::json benchmarks = nlohmann::json::array();
  for (const BenchSamples& s : GroupSamples(run.entries)) {
    nlohmann::json real = nlohmann::json::array();
    for (double v : s.real_us) real.push_back(Finite(v));
    nlohmann::json counters = nlohmann::json::object();
    for (const auto& [key, values] : s.counters) {
      nlohmann::json list = nlohmann::json::array();
      for (double v : values) list.push_back(Finite(v));
      counters[key] = list;
    }
    nlohmann::json aggregates = nlohmann::json::object();
    for (const auto& [key, value] : s.aggregates) aggregates[key] = Finite(value);
    benchmarks.push_back({{"name", s.name},
                          {"run_name", s.run_name},
                          {"suite", s.suite},
                          {"real_time", real},
                          {"error", s.error},
                          {"counters", counters},
                          {"aggregates", aggregates}});
  }
  return {{"format", "addfdlab-bench-samples/1"},
          {"unit", "us"},
          {"suites", suites},
          {"benchmarks", benchmarks}};
}

std::string FormatDuration(double ns) {
  const double magnitude = std::fabs(ns);
  const char* unit = "ns";
  double value = ns;
  if (magnitude >= 1e9) {
    unit = "s";
    value = ns / 1e9;
  } else if (magnitude >= 1e6) {
    unit = "ms";
    value = ns / 1e6;
  } else if (magnitude >= 1e3) {
    unit = "us";
    value = ns / 1e3;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), value >= 100 ? "%.1f %s" : "%.2f %s", value, unit);
  return buf;
}

}  // namespace addfdlab::tools
