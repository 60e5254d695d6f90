// The kernel matrix and bisection logic: pure functions over the commands' JSON.
#include "matrix.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <set>

#include "addfdlab/cells.h"
#include "addfdlab/probe.h"

namespace addfdlab::vm {
namespace {

constexpr const char* kNoResult = "-";

std::optional<nlohmann::json> ParseJson(const KernelRun& run) {
  if (!run.problem.empty()) return std::nullopt;
  nlohmann::json doc = nlohmann::json::parse(run.stdout_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
  return doc;
}

std::string Problem(const KernelRun& run) {
  if (!run.problem.empty()) return run.problem;
  return "no JSON on stdout (exit " + std::to_string(run.exit) + ")";
}

// Differs when the columns with a result do not all agree.
bool Differs(const std::vector<std::string>& statuses) {
  std::set<std::string> seen;
  for (const std::string& status : statuses) {
    if (status != kNoResult) seen.insert(status);
  }
  return seen.size() > 1;
}

bool Has(const std::vector<std::string>& statuses, std::string_view status) {
  return std::find(statuses.begin(), statuses.end(), status) != statuses.end();
}

std::string ColumnName(const MatrixColumn& column) {
  if (column.release.empty() || column.release == column.kernel) return column.kernel;
  return column.kernel + " (" + column.release + ")";
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

size_t Matrix::differing() const {
  return static_cast<size_t>(
      std::count_if(rows.begin(), rows.end(), [](const MatrixRow& row) { return row.differs; }));
}

std::string ExplainCell(std::string_view cell, const std::vector<std::string>& statuses,
                        const std::vector<KnownDeviation>& known) {
  std::string text;
  const CellInfo* info = FindCell(cell);
  if (info == nullptr) {
    text = std::string(cell) + ": not a contract cell";
  } else {
    text = std::string(info->rule) + " (" + std::string(info->follows) + ")";
    if (Has(statuses, "SKIP") && info->needs != Feature::kUserNotification) {
      text += "; needs " + std::string(FeatureName(info->needs)) + ", absent where it skips";
    } else if (Has(statuses, "SKIP")) {
      text += "; reached " + std::string(ReachName(info->reach)) + ", not everywhere";
    }
  }
  if (Has(statuses, "KNOWN")) {
    for (const KnownDeviation& deviation : known) {
      if (deviation.cell != cell) continue;
      text += "; known bug " + deviation.id + " where KNOWN, fixed by: " + deviation.FixText();
    }
  }
  if (Has(statuses, "DEVIATES")) text += "; DEVIATES: a deviation no known entry explains";
  return text;
}

Matrix BuildContractMatrix(const std::vector<KernelRun>& runs,
                           const std::vector<KnownDeviation>& known) {
  Matrix matrix;
  matrix.kind = "contract";
  std::vector<std::string> order;  // cells in the first report's order, then any others
  std::vector<std::optional<nlohmann::json>> docs;
  for (const KernelRun& run : runs) {
    MatrixColumn column{run.kernel, "", "", run.seconds};
    std::optional<nlohmann::json> doc = ParseJson(run);
    if (doc && doc->contains("cells")) {
      column.release = doc->value("kernel", "");
      for (const nlohmann::json& cell : (*doc)["cells"]) {
        const std::string id = cell.value("cell", "");
        if (std::find(order.begin(), order.end(), id) == order.end()) order.push_back(id);
      }
    } else {
      column.problem = Problem(run);
      doc.reset();
    }
    matrix.columns.push_back(column);
    docs.push_back(std::move(doc));
  }
  for (const std::string& id : order) {
    MatrixRow row;
    row.name = id;
    for (const std::optional<nlohmann::json>& doc : docs) {
      std::string status = kNoResult, detail;
      if (doc) {
        for (const nlohmann::json& cell : (*doc)["cells"]) {
          if (cell.value("cell", "") != id) continue;
          status = cell.value("status", kNoResult);
          detail = cell.value("reason", "");
        }
      }
      row.statuses.push_back(status);
      row.details.push_back(detail);
    }
    row.differs = Differs(row.statuses);
    if (row.differs) row.explanation = ExplainCell(id, row.statuses, known);
    matrix.rows.push_back(std::move(row));
  }
  return matrix;
}

ReproVerdict ReadReproVerdict(const KernelRun& run) {
  ReproVerdict verdict;
  const std::optional<nlohmann::json> doc = ParseJson(run);
  if (!doc || !doc->contains("verdicts")) {
    verdict.status = kNoResult;
    verdict.lines.push_back(Problem(run));
    verdict.key = kNoResult;
    return verdict;
  }
  std::set<std::string> signatures;
  for (const nlohmann::json& v : (*doc)["verdicts"]) {
    const std::string signature = v.value("signature", "");
    signatures.insert(signature);
    verdict.lines.push_back(signature + "  " + v.value("text", ""));
  }
  const int runs = doc->value("runs", 1);
  if (doc->value("unscheduled_runs", 0) >= runs) {
    verdict.status = "SKIP";  // no run kept to its schedule: the verdicts say nothing
    verdict.lines.push_back("no run kept to its schedule");
  } else if (signatures.empty()) {
    verdict.status = "PASS";
    verdict.lines.push_back("clean: no verdict");
  } else if (doc->contains("known_deviation")) {
    verdict.status = "KNOWN";
    verdict.lines.push_back("known kernel bug " +
                            (*doc)["known_deviation"].value("id", std::string()));
  } else {
    verdict.status = "DEVIATES";
  }
  verdict.key = verdict.status;
  for (const std::string& signature : signatures) verdict.key += " " + signature;
  return verdict;
}

Matrix BuildReproMatrix(const std::vector<std::string>& files,
                        const std::vector<std::vector<KernelRun>>& runs,
                        const std::vector<KnownDeviation>& known) {
  Matrix matrix;
  matrix.kind = "repro";
  for (const std::vector<KernelRun>& kernel : runs) {
    MatrixColumn column;
    if (!kernel.empty()) column.kernel = kernel.front().kernel;
    for (const KernelRun& run : kernel) {
      column.seconds += run.seconds;
      const std::optional<nlohmann::json> doc = ParseJson(run);
      if (doc && column.release.empty()) column.release = doc->value("kernel", "");
      if (!doc && column.problem.empty()) column.problem = Problem(run);
    }
    matrix.columns.push_back(column);
  }
  for (size_t f = 0; f < files.size(); ++f) {
    MatrixRow row;
    row.name = files[f];
    std::set<std::string> keys;
    std::set<std::string> cells;  // the cells the verdicts name (KIND:CELL:OP)
    for (const std::vector<KernelRun>& kernel : runs) {
      const ReproVerdict verdict =
          f < kernel.size() ? ReadReproVerdict(kernel[f]) : ReproVerdict{kNoResult, {}, kNoResult};
      row.statuses.push_back(verdict.status);
      std::string detail;
      for (const std::string& line : verdict.lines) detail += (detail.empty() ? "" : "; ") + line;
      row.details.push_back(detail);
      if (verdict.status != kNoResult) keys.insert(verdict.key);
      for (const std::string& line : verdict.lines) {
        const size_t a = line.find(':');
        const size_t b = a == std::string::npos ? a : line.find(':', a + 1);
        if (b != std::string::npos) cells.insert(line.substr(a + 1, b - a - 1));
      }
    }
    // Same statuses with other verdicts differ too (a deviation that moved).
    row.differs = keys.size() > 1;
    if (row.differs) {
      for (const std::string& cell : cells) {
        if (!IsContractCell(cell)) continue;
        row.explanation += (row.explanation.empty() ? "" : " | ") + cell + ": " +
                           ExplainCell(cell, row.statuses, known);
      }
      if (row.explanation.empty()) row.explanation = "the verdicts differ (no contract cell named)";
    }
    matrix.rows.push_back(std::move(row));
  }
  return matrix;
}

std::string FormatMatrixText(const Matrix& matrix) {
  size_t name_width = 4;
  for (const MatrixRow& row : matrix.rows) name_width = std::max(name_width, row.name.size());
  std::vector<size_t> widths;
  for (const MatrixColumn& column : matrix.columns) {
    widths.push_back(std::max<size_t>(9, ColumnName(column).size()));
  }
  const auto pad = [](std::string text, size_t width) {
    text.resize(std::max(width, text.size()), ' ');
    return text;
  };
  std::string out = pad(matrix.kind == "contract" ? "cell" : "reproducer", name_width);
  for (size_t c = 0; c < matrix.columns.size(); ++c) {
    out += "  " + pad(ColumnName(matrix.columns[c]), widths[c]);
  }
  out += "\n";
  for (const MatrixRow& row : matrix.rows) {
    std::string line = pad(row.name, name_width);
    for (size_t c = 0; c < row.statuses.size(); ++c) {
      line += "  " + pad(row.statuses[c], widths[c]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + (row.differs ? "  *" : "") + "\n";
  }
  out += "\n";
  const size_t differing = matrix.differing();
  out += std::to_string(matrix.rows.size()) + " rows, " + std::to_string(differing) +
         " differ between kernels" + (differing > 0 ? " (*):" : "") + "\n";
  for (const MatrixRow& row : matrix.rows) {
    if (!row.differs) continue;
    out += "  " + row.name + ": " + row.explanation + "\n";
    for (size_t c = 0; c < row.statuses.size(); ++c) {
      if (row.details[c].empty()) continue;
      out +=
          "    " + matrix.columns[c].kernel + " " + row.statuses[c] + ": " + row.details[c] + "\n";
    }
  }
  for (const MatrixColumn& column : matrix.columns) {
    if (!column.problem.empty()) {
      out += "no result from " + column.kernel + ": " + column.problem + "\n";
    }
  }
  return out;
}

nlohmann::json MatrixJson(const Matrix& matrix) {
  nlohmann::json columns = nlohmann::json::array();
  for (const MatrixColumn& column : matrix.columns) {
    nlohmann::json entry = {
        {"kernel", column.kernel}, {"release", column.release}, {"seconds", column.seconds}};
    if (!column.problem.empty()) entry["problem"] = column.problem;
    columns.push_back(entry);
  }
  nlohmann::json rows = nlohmann::json::array();
  for (const MatrixRow& row : matrix.rows) {
    nlohmann::json statuses = nlohmann::json::object();
    nlohmann::json details = nlohmann::json::object();
    for (size_t c = 0; c < row.statuses.size(); ++c) {
      statuses[matrix.columns[c].kernel] = row.statuses[c];
      if (!row.details[c].empty()) details[matrix.columns[c].kernel] = row.details[c];
    }
    nlohmann::json entry = {
        {"name", row.name}, {"statuses", statuses}, {"details", details}, {"differs", row.differs}};
    if (row.differs) entry["explanation"] = row.explanation;
    rows.push_back(entry);
  }
  return {{"kind", matrix.kind},
          {"kernels", columns},
          {"rows", rows},
          {"differing", matrix.differing()}};
}

std::string MatrixHtml(const Matrix& matrix, std::string_view title) {
  // The bench report's look (scripts/bench_report.py), statuses coloured.
  std::string out =
      "<!DOCTYPE html><html><head><meta charset='utf-8'><title>" + HtmlEscape(title) +
      "</title><style>\n"
      "body { font-family: sans-serif; margin: 1.5em auto; max-width: 1220px; color: #111; }\n"
      "h1 { font-size: 1.5em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }\n"
      "table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }\n"
      "th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }\n"
      "tr.flag td.name { background: #fde2e2; }\n"
      "td.PASS { background: #e2f5e2; } td.DEVIATES { background: #f8c0c0; }\n"
      "td.KNOWN { background: #fff4cc; } td.SKIP { color: #777; font-style: italic; }\n"
      ".note { color: #555; } code { background: #eee; padding: 0 0.2em; }\n"
      "</style></head><body>\n<h1>" +
      HtmlEscape(title) + "</h1>\n<table><tr><th>" +
      (matrix.kind == "contract" ? "cell" : "reproducer") + "</th>";
  for (const MatrixColumn& column : matrix.columns) {
    char seconds[32];
    std::snprintf(seconds, sizeof(seconds), "%.1f s", column.seconds);
    out += "<th>" + HtmlEscape(column.kernel) + "<br><span class='note'>" +
           HtmlEscape(column.release) + " " + seconds + "</span></th>";
  }
  out += "</tr>\n";
  for (const MatrixRow& row : matrix.rows) {
    out += std::string(row.differs ? "<tr class='flag'>" : "<tr>") + "<td class='name'><code>" +
           HtmlEscape(row.name) + "</code></td>";
    for (size_t c = 0; c < row.statuses.size(); ++c) {
      out += "<td class='" + HtmlEscape(row.statuses[c]) + "' title='" +
             HtmlEscape(row.details[c]) + "'>" + HtmlEscape(row.statuses[c]) + "</td>";
    }
    out += "</tr>\n";
  }
  out += "</table>\n<h2>Rows that differ between kernels (" + std::to_string(matrix.differing()) +
         ")</h2>\n<ul>\n";
  for (const MatrixRow& row : matrix.rows) {
    if (!row.differs) continue;
    out += "<li><code>" + HtmlEscape(row.name) + "</code>: " + HtmlEscape(row.explanation) + "<ul>";
    for (size_t c = 0; c < row.statuses.size(); ++c) {
      if (row.details[c].empty()) continue;
      out += "<li>" + HtmlEscape(matrix.columns[c].kernel) + " " + HtmlEscape(row.statuses[c]) +
             ": " + HtmlEscape(row.details[c]) + "</li>";
    }
    out += "</ul></li>\n";
  }
  out += "</ul>\n";
  for (const MatrixColumn& column : matrix.columns) {
    if (column.problem.empty()) continue;
    out += "<p class='note'>no result from " + HtmlEscape(column.kernel) + ": " +
           HtmlEscape(column.problem) + "</p>\n";
  }
  return out + "</body></html>\n";
}

std::optional<size_t> Bisection::Next() const {
  const size_t n = verdicts_.size();
  if (n == 0) return std::nullopt;
  if (!verdicts_[0]) return 0;
  if (n == 1) return std::nullopt;
  if (!verdicts_[n - 1]) return n - 1;
  if (*verdicts_[0] == *verdicts_[n - 1]) return std::nullopt;
  if (hi_ - lo_ <= 1) return std::nullopt;
  return lo_ + (hi_ - lo_) / 2;
}

void Bisection::Record(size_t index, std::string verdict_key) {
  const size_t n = verdicts_.size();
  ++boots_;
  const bool same_as_first = verdicts_[0] && *verdicts_[0] == verdict_key;
  verdicts_[index] = std::move(verdict_key);
  if (index == 0 || index == n - 1) {
    lo_ = 0;
    hi_ = n - 1;
    return;
  }
  if (same_as_first) {
    lo_ = index;
  } else {
    hi_ = index;
  }
}

std::optional<size_t> Bisection::FirstChanged() const {
  const size_t n = verdicts_.size();
  if (n < 2 || !verdicts_[0] || !verdicts_[n - 1] || *verdicts_[0] == *verdicts_[n - 1]) {
    return std::nullopt;
  }
  return hi_;
}

namespace {

// The numbers in a package name, in order ("linux-image-6.12.117+deb12-cloud-amd64" →
// 6 12 117 12 64).
std::vector<uint64_t> Numbers(std::string_view text) {
  std::vector<uint64_t> numbers;
  for (size_t i = 0; i < text.size();) {
    if (text[i] < '0' || text[i] > '9') {
      ++i;
      continue;
    }
    uint64_t value = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      value = value * 10 + static_cast<uint64_t>(text[i] - '0');
    }
    numbers.push_back(value);
  }
  return numbers;
}

// The flavour of a package name: what follows its version ("-cloud-amd64-unsigned").
std::string Flavour(std::string_view package) {
  constexpr std::string_view kPrefix = "linux-image-";
  if (package.rfind(kPrefix, 0) == 0) package.remove_prefix(kPrefix.size());
  // The version ends at the first '-' followed by a letter.
  for (size_t i = 0; i + 1 < package.size(); ++i) {
    if (package[i] == '-' && std::isalpha(static_cast<unsigned char>(package[i + 1]))) {
      return std::string(package.substr(i));
    }
  }
  return "";
}

}  // namespace

bool KernelVersionLess(std::string_view a, std::string_view b) {
  const std::vector<uint64_t> x = Numbers(a), y = Numbers(b);
  if (x != y) return x < y;
  return a < b;
}

std::vector<std::string> KernelsBetween(std::vector<std::string> all, std::string_view first,
                                        std::string_view last) {
  const std::string flavour = Flavour(first);
  std::vector<std::string> between;
  for (std::string& package : all) {
    if (Flavour(package) != flavour) continue;
    if (KernelVersionLess(package, first) || KernelVersionLess(last, package)) continue;
    between.push_back(std::move(package));
  }
  std::sort(between.begin(), between.end(), KernelVersionLess);
  between.erase(std::unique(between.begin(), between.end()), between.end());
  return between;
}

}  // namespace addfdlab::vm
