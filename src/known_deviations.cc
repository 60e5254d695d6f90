// Loading and matching the known-deviations list.
#include "addfdlab/known_deviations.h"

#include <fnmatch.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "addfdlab/cells.h"
#include "addfdlab/json_errors.h"
#include "addfdlab/model.h"

namespace addfdlab {
namespace {

using Json = nlohmann::json;

// The entry fields, and whether each is required.
struct Field {
  const char* name;
  bool required;
};
constexpr Field kFields[] = {
    {"id", true},  {"cell", true},     {"signatures", true},   {"evidence", true},
    {"fix", true}, {"seen_on", false}, {"model_quirk", false},
};

bool StringList(const Json& value, std::vector<std::string>* out) {
  if (!value.is_array()) return false;
  for (const Json& item : value) {
    if (!item.is_string() || item.get<std::string>().empty()) return false;
    out->push_back(item.get<std::string>());
  }
  return true;
}

// One entry: OK when it is well formed, else what is wrong with it.
Result<void> ParseEntry(const Json& entry, KnownDeviation* d) {
  if (!entry.is_object()) return Error::Invalid("expected an object");
  for (const auto& [key, value] : entry.items()) {
    const bool known = std::any_of(std::begin(kFields), std::end(kFields),
                                   [&](const Field& f) { return key == f.name; });
    if (!known) return Error::Invalid("unknown field \"" + key + "\"");
  }
  for (const Field& f : kFields) {
    if (f.required && !entry.contains(f.name)) {
      return Error::Invalid(std::string("missing \"") + f.name + "\"");
    }
  }
  for (const char* name : {"id", "cell", "evidence"}) {
    if (!entry[name].is_string() || entry[name].get<std::string>().empty()) {
      return Error::Invalid(std::string("\"") + name + "\" must be a non-empty string");
    }
  }
  d->id = entry["id"];
  d->cell = entry["cell"];
  d->evidence = entry["evidence"];
  if (!IsContractCell(d->cell)) return Error::Invalid("unknown cell \"" + d->cell + "\"");
  if (!StringList(entry["signatures"], &d->signatures) || d->signatures.empty()) {
    return Error::Invalid("\"signatures\" must be a non-empty array of strings");
  }
  for (const std::string& s : d->signatures) {
    // kind:cell:op; the cell part must be this entry's, so an entry cannot hide another cell.
    const size_t first = s.find(':');
    const size_t second = first == std::string::npos ? first : s.find(':', first + 1);
    if (second == std::string::npos || s.substr(first + 1, second - first - 1) != d->cell) {
      return Error::Invalid("signature \"" + s + "\" is not KIND:" + d->cell + ":OP");
    }
  }
  const Json& fix = entry["fix"];
  if (!fix.is_object() || !fix.contains("summary") || !fix["summary"].is_string()) {
    return Error::Invalid(
        "\"fix\" must be an object with a \"summary\" (and \"commit\", \"release\" when known)");
  }
  for (const auto& [key, value] : fix.items()) {
    if ((key != "summary" && key != "commit" && key != "release") || !value.is_string()) {
      return Error::Invalid("\"fix\": unknown or non-string field \"" + key + "\"");
    }
  }
  d->fix.summary = fix["summary"];
  d->fix.commit = fix.value("commit", "");
  d->fix.release = fix.value("release", "");
  if (entry.contains("seen_on") && !StringList(entry["seen_on"], &d->seen_on)) {
    return Error::Invalid("\"seen_on\" must be an array of strings");
  }
  if (entry.contains("model_quirk")) {
    if (!entry["model_quirk"].is_string()) {
      return Error::Invalid("\"model_quirk\" must be a string");
    }
    d->model_quirk = entry["model_quirk"];
    ModelEnv probe;
    if (!SetModelQuirk(&probe, d->model_quirk)) {
      return Error::Invalid("unknown model_quirk \"" + d->model_quirk + "\"");
    }
  }
  return {};
}

}  // namespace

bool KnownDeviation::MatchesSignature(const std::string& signature) const {
  return std::any_of(signatures.begin(), signatures.end(), [&](const std::string& pattern) {
    return ::fnmatch(pattern.c_str(), signature.c_str(), 0) == 0;
  });
}

std::string KnownDeviation::FixText() const {
  std::string text = fix.summary.empty() ? "not known" : fix.summary;
  std::string where = fix.commit.empty() ? "" : "commit " + fix.commit;
  if (!fix.release.empty()) where += (where.empty() ? "" : ", ") + std::string("in ") + fix.release;
  if (!where.empty()) text += " (" + where + ")";
  return text;
}

Result<std::vector<KnownDeviation>> LoadKnownDeviations(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error(Errno::Last(), path + ": cannot read");
  std::stringstream text;
  text << in.rdbuf();
  Json doc;
  const std::string content = text.str();
  try {
    doc = Json::parse(content);
  } catch (const Json::parse_error& e) {
    return Error::Invalid(path + ":" +
                          JsonSyntaxError(content, e.byte == 0 ? 0 : e.byte - 1, e.what()));
  }
  if (!doc.is_object() || !doc.contains("deviations") || !doc["deviations"].is_array()) {
    return Error::Invalid(path + ": expected a JSON object with a \"deviations\" array");
  }
  std::vector<KnownDeviation> out;
  for (size_t i = 0; i < doc["deviations"].size(); ++i) {
    const auto where = [&] { return path + ": deviations[" + std::to_string(i) + "]"; };
    KnownDeviation d;
    ADDFDLAB_TRY_CONTEXT(ParseEntry(doc["deviations"][i], &d), where());
    for (const KnownDeviation& other : out) {
      if (other.id == d.id) return Error::Invalid(where() + ": id \"" + d.id + "\" is used twice");
    }
    out.push_back(std::move(d));
  }
  return out;
}

const KnownDeviation* MatchKnownDeviation(const std::vector<KnownDeviation>& known,
                                          const Verdict& verdict, const Scenario& scenario) {
  if (verdict.cell.empty()) return nullptr;
  const std::string signature = verdict.Signature(scenario);
  for (const KnownDeviation& d : known) {
    if (d.cell == verdict.cell && d.MatchesSignature(signature)) return &d;
  }
  return nullptr;
}

const KnownDeviation* MatchKnownRun(const std::vector<KnownDeviation>& known,
                                    const std::vector<Verdict>& verdicts,
                                    const Scenario& scenario) {
  const KnownDeviation* match = nullptr;
  for (const Verdict& v : verdicts) {
    const KnownDeviation* d = MatchKnownDeviation(known, v, scenario);
    if (d == nullptr) return nullptr;
    if (match == nullptr) match = d;
  }
  return match;
}

}  // namespace addfdlab
