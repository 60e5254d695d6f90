// `addfdlab coverage`'s report: parsing the tools' output, joining it, rendering it.
#include "coverage_report.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "matrix.h"

namespace addfdlab::tools::coverage {

namespace {

std::optional<uint64_t> Hex(std::string_view text) {
  if (text.starts_with("0x")) text.remove_prefix(2);
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    lines.push_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

}  // namespace

std::string CollectionToJson(const Collection& collection) {
  nlohmann::json inputs = nlohmann::json::array();
  for (const InputCoverage& input : collection.inputs) {
    nlohmann::json pcs = nlohmann::json::array();
    for (const KernelPc& pc : input.pcs) pcs.push_back(pc.ToString());
    inputs.push_back({{"file", input.file},
                      {"pcs", pcs},
                      {"runs", input.runs},
                      {"stable", input.stable},
                      {"truncated", input.truncated},
                      {"verdict", input.verdict}});
  }
  return nlohmann::json{
      {"kernel", collection.kernel}, {"kcov", collection.kcov}, {"inputs", inputs}}
      .dump();
}

Result<Collection> ParseCollection(std::string_view json) {
  const nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Error::Invalid("the collection is not a JSON object");
  }
  Collection collection;
  collection.kernel = doc.value("kernel", "");
  collection.kcov = doc.value("kcov", "");
  if (!doc.contains("inputs") || !doc["inputs"].is_array()) {
    return Error::Invalid("the collection has no \"inputs\" array");
  }
  for (const nlohmann::json& entry : doc["inputs"]) {
    if (!entry.is_object()) return Error::Invalid("an input is not an object");
    InputCoverage input;
    input.file = entry.value("file", "");
    input.runs = entry.value("runs", 0);
    input.stable = entry.value("stable", true);
    input.truncated = entry.value("truncated", false);
    input.verdict = entry.value("verdict", "");
    for (const nlohmann::json& pc : entry.value("pcs", nlohmann::json::array())) {
      std::optional<KernelPc> parsed;
      if (pc.is_string()) parsed = KernelPc::Parse(pc.get<std::string>());
      if (!parsed)
        return Error::Invalid(input.file + ": a PC is not function+0xoffset: " + pc.dump());
      input.pcs.push_back(*parsed);
    }
    collection.inputs.push_back(std::move(input));
  }
  return collection;
}

std::vector<uint64_t> ParseObjdumpCoverPoints(std::string_view text) {
  // "ffffffff8127b9c4:\tcall   ffffffff812d5a20 <__sanitizer_cov_trace_pc>": the PC KCOV
  // records is the next instruction's address.
  std::vector<uint64_t> points;
  bool after_call = false;
  for (std::string_view line : Lines(text)) {
    const size_t first = line.find_first_not_of(' ');
    if (first == std::string_view::npos) continue;
    line.remove_prefix(first);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::optional<uint64_t> address = Hex(line.substr(0, colon));
    if (!address) continue;
    if (after_call) points.push_back(*address);
    after_call = line.find("<__sanitizer_cov_trace_pc>") != std::string_view::npos &&
                 line.find("call") != std::string_view::npos;
  }
  return points;
}

std::map<uint64_t, std::vector<SourceFrame>> ParseAddr2line(std::string_view text) {
  // -a -f -i: "0xADDR", then per frame (innermost first) "function" and "file:line" (with
  // " (discriminator N)" at times).
  std::map<uint64_t, std::vector<SourceFrame>> frames;
  std::optional<uint64_t> address;
  std::string function;
  bool want_location = false;
  for (std::string_view line : Lines(text)) {
    if (line.starts_with("0x")) {
      address = Hex(line);
      if (address) frames[*address];
      want_location = false;
      continue;
    }
    if (!address) continue;
    if (!want_location) {
      function = std::string(line);
      want_location = true;
      continue;
    }
    want_location = false;
    std::string_view location = line.substr(0, line.find(" (discriminator"));
    const size_t colon = location.rfind(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view file = location.substr(0, colon);
    int number = 0;
    const std::string_view digits = location.substr(colon + 1);
    std::from_chars(digits.data(), digits.data() + digits.size(), number);
    if (file == "??" || number <= 0) continue;
    frames[*address].push_back({function, std::string(file), number});
  }
  return frames;
}

std::optional<std::pair<int, int>> FindFunctionLines(const std::vector<std::string>& lines,
                                                     std::string_view name) {
  // A definition starts at column 0 (a type, or the name after a type line) and is not a
  // declaration (no ';' before its brace).
  const std::regex start("^[A-Za-z_].*\\b" + std::string(name) + "\\(");
  for (size_t i = 0; i < lines.size(); ++i) {
    if (!std::regex_search(lines[i], start)) continue;
    int depth = 0;
    bool opened = false;
    for (size_t j = i; j < lines.size(); ++j) {
      for (char c : lines[j]) {
        if (c == ';' && !opened && depth == 0) {
          j = lines.size();  // a declaration
          break;
        }
        if (c == '{') {
          ++depth;
          opened = true;
        } else if (c == '}') {
          --depth;
        }
      }
      if (j >= lines.size()) break;
      if (opened && depth == 0)
        return std::pair<int, int>{static_cast<int>(i + 1), static_cast<int>(j + 1)};
    }
  }
  return std::nullopt;
}

const Annotation kAnnotations[] = {
    {"seccomp_notify_addfd", "return ret;",
     "copy_struct_from_user failed: E2BIG (a size past the struct with a non-zero tail) or "
     "EFAULT (ADDFD.SIZE.*)"},
    {"seccomp_notify_addfd", "goto out;",
     "a signal while waiting for notify_lock: another task must hold the lock then"},
    {"seccomp_notify_addfd", "if (list_empty(&kaddfd.list))",
     "the request handled between the signal and the wake-up (ADDFD.INTR.HANDLED): a race "
     "the executor's one-CPU schedule leaves out"},
    {"seccomp_notify_addfd", "ret = kaddfd.ret;",
     "after a signal, the request already handled: the race between the signal and the "
     "target's install (ADDFD.INTR.HANDLED's kernel side), which the one-CPU schedule "
     "leaves out"},
    {"seccomp_handle_addfd", "n->state = SECCOMP_NOTIFY_SENT;",
     "ADDFD|SEND whose install fails: ADDFD.SEND.FAIL (needs EMFILE or an injected fault)"},
    {"alloc_fdtable", "nr > sysctl_nr_open",
     "a table grown past fs.nr_open: ADDFD.SETFD.NR_OPEN inject=nr_open"},
    {"alloc_fdtable", "goto out", "only under memory pressure: ADDFD.NOMEM inject=nomem"},
    {"alloc_fdtable", "kvfree(", "only under memory pressure: ADDFD.NOMEM inject=nomem"},
    {"alloc_fdtable", "kfree(fdt)", "only under memory pressure: ADDFD.NOMEM inject=nomem"},
    {"alloc_fdtable", "return ERR_PTR(-ENOMEM)",
     "only under memory pressure: ADDFD.NOMEM inject=nomem"},
    {"expand_fdtable", "PTR_ERR(new_fdt)", "only under memory pressure: ADDFD.NOMEM inject=nomem"},
    {"expand_fdtable", "",
     "a table that grows: no input installs past the baseline table's "
     "slots without a fault (ADDFD.NOMEM injects one there)"},
    {"alloc_fdtable", "round_down(sysctl_nr_open",
     "a table grown past fs.nr_open: ADDFD.SETFD.NR_OPEN inject=nr_open"},
    {"alloc_fdtable", "",
     "a table that grows: no input installs past the baseline table's slots without a fault"},
    {"fd_install", "FMODE_BACKING", "a backing file (overlayfs): never an fd source here"},
    {"fd_install", "", "the slow path, while another task resizes the same table"},
    {"alloc_fd", "printk", "a corrupted table: never on a sane kernel"},
    {"expand_files", "wait_event(files->resize_wait",
     "another task resizing the same table at the same time"},
    {"expand_files", "resize_in_progress", "another task resizing the same table at the same time"},
    {"fd_install", "resize_in_progress",
     "an install while another task resizes the table (the RCU slow path)"},
    {"receive_fd", "security_file_receive", "the LSM refusing: ADDFD.LSM inject=lsm"},
    {"receive_fd", "put_user(new_fd, ufd)",
     "not on the ADDFD path: ADDFD passes no user pointer (SCM_RIGHTS' receive does)"},
    {"receive_fd", "__receive_sock", "not on the ADDFD path (SCM_RIGHTS' receive)"},
};

std::string_view AnnotationFor(std::string_view function, std::string_view source_line) {
  for (const Annotation& a : kAnnotations) {
    if (a.function == function && source_line.find(a.text) != std::string_view::npos) return a.why;
  }
  return "";
}

size_t FunctionReport::LinesWith(LineState state) const {
  return static_cast<size_t>(std::count_if(
      lines.begin(), lines.end(), [state](const ReportLine& l) { return l.state == state; }));
}

Report BuildReport(const Collection& collection, const KernelImage& image) {
  Report report;
  report.kernel = collection.kernel;
  report.inputs = collection.inputs.size();
  std::set<KernelPc> reached;
  for (const InputCoverage& input : collection.inputs) {
    report.stable_inputs += input.stable ? 1 : 0;
    report.truncated_inputs += input.truncated ? 1 : 0;
    reached.insert(input.pcs.begin(), input.pcs.end());
  }
  report.distinct_pcs = reached.size();
  for (const auto& [point, frames] : image.frames) {
    if (!frames.empty()) report.line_info = true;
  }
  // (file suffix, line) -> whether a point there was reached.
  std::map<std::pair<std::string, int>, bool> line_hit;
  for (const auto& [symbol, points] : image.points) {
    const uint64_t start = image.symbol_start.at(symbol);
    const KcovFunction* f = FindKcovFunction(symbol);
    for (uint64_t point : points) {
      const bool hit = reached.count(KernelPc{symbol, point - start}) != 0;
      auto it = image.frames.find(point);
      if (it == image.frames.end()) continue;
      for (const SourceFrame& frame : it->second) {
        if (f == nullptr || !frame.file.ends_with(f->file)) continue;
        bool& state = line_hit[{std::string(f->file), frame.line}];
        state = state || hit;
      }
    }
  }
  for (size_t i = 0; i < kKcovFunctionCount; ++i) {
    const KcovFunction& f = kKcovFunctions[i];
    FunctionReport fr;
    fr.name = std::string(f.name);
    fr.file = std::string(f.file);
    for (const auto& [symbol, points] : image.points) {
      if (FindKcovFunction(symbol) != &f) continue;
      fr.symbols.push_back(symbol);
      const uint64_t start = image.symbol_start.at(symbol);
      for (uint64_t point : points) {
        ++fr.points;
        const KernelPc pc{symbol, point - start};
        if (reached.count(pc) != 0) {
          ++fr.reached;
        } else {
          fr.unreached_pcs.push_back(pc.ToString());
        }
      }
    }
    auto source = image.sources.find(fr.file);
    if (report.line_info && source != image.sources.end()) {
      if (auto span = FindFunctionLines(source->second, f.name)) {
        for (int n = span->first; n <= span->second; ++n) {
          ReportLine line;
          line.number = n;
          line.text = source->second[static_cast<size_t>(n - 1)];
          auto hit = line_hit.find({fr.file, n});
          if (hit != line_hit.end()) {
            line.state = hit->second ? LineState::kCovered : LineState::kUncovered;
          }
          if (line.state == LineState::kUncovered) {
            line.why = std::string(AnnotationFor(f.name, line.text));
          }
          fr.lines.push_back(std::move(line));
        }
      }
    }
    if (fr.symbols.empty() && fr.lines.empty()) continue;
    report.functions.push_back(std::move(fr));
  }
  return report;
}

std::string RenderText(const Report& report) {
  std::ostringstream out;
  out << "kernel coverage of the notifier and fd-install functions (" << report.kernel << ")\n";
  out << "inputs: " << report.inputs << ", the same PCs in every run: " << report.stable_inputs
      << "/" << report.inputs;
  if (report.truncated_inputs > 0) out << ", trace buffer full: " << report.truncated_inputs;
  out << "\nkernel PCs reached in the addfd path: " << report.distinct_pcs << "\n";
  if (!report.line_info) {
    out << "no line information in this vmlinux: PCs are given as function+offset\n";
  }
  if (report.seconds > 0) out << "time: " << report.seconds << " s\n";
  out << "\n";
  for (const FunctionReport& f : report.functions) {
    out << f.file << " " << f.name << ": PCs " << f.reached << "/" << f.points;
    if (f.symbols.empty()) out << " (inlined)";
    if (!f.lines.empty()) {
      const size_t covered = f.LinesWith(LineState::kCovered);
      out << ", lines " << covered << "/" << covered + f.LinesWith(LineState::kUncovered);
    }
    out << "\n";
    if (!f.lines.empty()) {
      for (const ReportLine& line : f.lines) {
        if (line.state != LineState::kUncovered) continue;
        std::string text = line.text;
        text.erase(0, text.find_first_not_of(" \t"));
        out << "  not reached " << f.file << ":" << line.number << "  " << text;
        if (!line.why.empty()) out << "  -- " << line.why;
        out << "\n";
      }
    } else if (report.line_info == false) {
      for (const std::string& pc : f.unreached_pcs) out << "  not reached " << pc << "\n";
    }
  }
  return out.str();
}

std::string RenderHtml(const Report& report) {
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>addfdlab kernel coverage"
         "</title>\n<style>body{font-family:sans-serif}pre{margin:0}"
         ".c{background:#c8f0c8}.u{background:#f6c0c0}.n{color:#777}"
         "td.w{font-family:sans-serif;font-size:90%;color:#800}"
         "table.src td{padding:0 6px;font-family:monospace;white-space:pre}</style></head><body>\n";
  out << "<h1>Kernel coverage: " << vm::HtmlEscape(report.kernel) << "</h1>\n<p>" << report.inputs
      << " inputs, " << report.stable_inputs << " with the same PCs in every run; "
      << report.distinct_pcs << " kernel PCs reached in the addfd path";
  if (report.seconds > 0) out << "; " << report.seconds << " s";
  out << ".</p>\n";
  if (!report.line_info) {
    out << "<p>No line information in this vmlinux: PCs are given as function+offset.</p>\n";
  }
  out << "<table border=\"1\"><tr><th>file</th><th>function</th><th>PCs reached</th>"
         "<th>lines reached</th></tr>\n";
  for (const FunctionReport& f : report.functions) {
    const size_t covered = f.LinesWith(LineState::kCovered);
    out << "<tr><td>" << f.file << "</td><td><a href=\"#" << f.name << "\">" << f.name
        << "</a></td><td>" << f.reached << "/" << f.points << "</td><td>";
    if (!f.lines.empty()) out << covered << "/" << covered + f.LinesWith(LineState::kUncovered);
    out << "</td></tr>\n";
  }
  out << "</table>\n";
  for (const FunctionReport& f : report.functions) {
    out << "<h2 id=\"" << f.name << "\">" << f.file << ": " << f.name << "</h2>\n";
    if (f.lines.empty()) {
      out << "<p>Not reached:";
      for (const std::string& pc : f.unreached_pcs) out << " " << vm::HtmlEscape(pc);
      out << "</p>\n";
      continue;
    }
    out << "<table class=\"src\">\n";
    for (const ReportLine& line : f.lines) {
      const char* cls = line.state == LineState::kCovered     ? "c"
                        : line.state == LineState::kUncovered ? "u"
                                                              : "n";
      out << "<tr class=\"" << cls << "\"><td>" << line.number << "</td><td>"
          << vm::HtmlEscape(line.text) << "</td><td class=\"w\">" << vm::HtmlEscape(line.why)
          << "</td></tr>\n";
    }
    out << "</table>\n";
  }
  out << "</body></html>\n";
  return out.str();
}

}  // namespace addfdlab::tools::coverage
