#include "fhir/search/search.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fhir/resource/resource.h"

namespace carebridge::fhir {
namespace {

constexpr std::int64_t kMsPerSecond = 1000;
constexpr std::int64_t kMsPerMinute = 60 * kMsPerSecond;
constexpr std::int64_t kMsPerHour = 60 * kMsPerMinute;
constexpr std::int64_t kMsPerDay = 24 * kMsPerHour;
constexpr std::int64_t kOpenLow = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kOpenHigh = std::numeric_limits<std::int64_t>::max();

// ---------------------------------------------------------------------------------------------
// Dates

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }

// Reads exactly `n` digits at `pos`; advances `pos` on success.
bool ReadDigits(std::string_view text, std::size_t& pos, std::size_t n, int& out) {
  if (text.size() - pos < n) {
    return false;
  }
  int value = 0;
  for (std::size_t i = 0; i < n; ++i) {
    char c = text[pos + i];
    if (!IsDigit(c)) {
      return false;
    }
    value = value * 10 + (c - '0');
  }
  pos += n;
  out = value;
  return true;
}

bool ReadChar(std::string_view text, std::size_t& pos, char c) {
  if (pos < text.size() && text[pos] == c) {
    ++pos;
    return true;
  }
  return false;
}

bool IsLeapYear(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil): pure
// arithmetic, so no dependence on the process's time zone or locale.
std::int64_t DaysFromCivil(std::int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// ---------------------------------------------------------------------------------------------
// Index extraction

// Elements whose name is a FHIR choice type ("effective" stands for effectiveDateTime,
// effectivePeriod...). Only the names our parameter paths use.
bool IsChoiceSegment(std::string_view segment) {
  return segment == "effective" || segment == "occurrence" || segment == "onset" ||
         segment == "start" || segment == "due";
}

bool SegmentMatches(std::string_view key, std::string_view segment) {
  if (key == segment) {
    return true;
  }
  return IsChoiceSegment(segment) && key.size() > segment.size() && key.starts_with(segment) &&
         IsUpper(key[segment.size()]);
}

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> segments;
  while (true) {
    std::size_t dot = path.find('.');
    segments.push_back(path.substr(0, dot));
    if (dot == std::string_view::npos) {
      break;
    }
    path.remove_prefix(dot + 1);
  }
  return segments;
}

// Calls `visit` on every value reached by `segments` below `node`; arrays fan out. FHIR has no
// arrays of arrays, so a nested array is not descended, which also bounds the recursion by the
// path length rather than by the document's depth.
template <typename Visit>
void Walk(const json::Value& node, std::span<const std::string_view> segments, Visit&& visit) {
  if (node.is_array()) {
    for (const json::Value& item : node.items()) {
      if (!item.is_array()) {
        Walk(item, segments, visit);
      }
    }
    return;
  }
  if (segments.empty()) {
    visit(node);
    return;
  }
  if (!node.is_object()) {
    return;
  }
  for (const json::Member& member : node.members()) {
    if (SegmentMatches(member.key, segments.front())) {
      Walk(member.value, segments.subspan(1), visit);
    }
  }
}

std::string NormalizeString(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (IsUpper(c)) {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

// ContactPoint.system codes; an Identifier.system is a URI and never one of these.
bool IsContactPointSystem(std::string_view s) {
  return s == "phone" || s == "fax" || s == "email" || s == "pager" || s == "url" || s == "sms" ||
         s == "other";
}

class RowSink {
 public:
  RowSink(const SearchParamDef& def, std::vector<IndexEntry>& rows)
      : def_(def), rows_(rows), first_(rows.size()) {}

  void Add(std::string system, std::string value, std::int64_t low = 0, std::int64_t high = 0) {
    IndexEntry entry{std::string(def_.name), def_.type, std::move(system),
                     std::move(value),       low,       high};
    // Duplicates only ever come from the same parameter, so only its rows are compared.
    if (std::find(rows_.begin() + static_cast<std::ptrdiff_t>(first_), rows_.end(), entry) ==
        rows_.end()) {
      rows_.push_back(std::move(entry));
    }
  }

 private:
  const SearchParamDef& def_;
  std::vector<IndexEntry>& rows_;
  std::size_t first_;
};

void ExtractToken(const json::Value& v, RowSink& sink) {
  if (v.is_string()) {
    if (!v.text().empty()) {
      sink.Add("", v.text());
    }
    return;
  }
  if (v.is_bool()) {
    sink.Add("", v.as_bool() ? "true" : "false");
    return;
  }
  if (!v.is_object()) {
    return;
  }
  if (const json::Value* coding = v.Find("coding"); coding != nullptr) {  // CodeableConcept
    if (coding->is_array()) {
      for (const json::Value& c : coding->items()) {
        if (c.is_object() && !c.StringAt("code").empty()) {
          sink.Add(std::string(c.StringAt("system")), std::string(c.StringAt("code")));
        }
      }
    }
    return;
  }
  const json::Value* value = v.Find("value");
  if (value != nullptr && !value->is_string()) {
    return;  // a Quantity: not indexed as a token
  }
  if (value != nullptr) {  // Identifier or ContactPoint
    if (value->text().empty()) {
      return;
    }
    std::string_view system = v.StringAt("system");
    sink.Add(IsContactPointSystem(system) ? "" : std::string(system), value->text());
    return;
  }
  if (!v.StringAt("code").empty()) {  // Coding
    sink.Add(std::string(v.StringAt("system")), std::string(v.StringAt("code")));
  }
}

struct ParsedReference {
  std::string type;  // empty when the text does not name one
  std::string id;
};

// "Type/id" or "Type/id/_history/vid", relative or at the end of an absolute URL.
std::optional<ParsedReference> SplitTypeAndId(std::string_view text) {
  if (std::size_t h = text.find("/_history/"); h != std::string_view::npos) {
    text = text.substr(0, h);
  }
  std::size_t slash = text.rfind('/');
  if (slash == std::string_view::npos || slash == 0) {
    return std::nullopt;
  }
  std::string_view id = text.substr(slash + 1);
  std::string_view rest = text.substr(0, slash);
  std::size_t prev = rest.rfind('/');
  std::string_view type = prev == std::string_view::npos ? rest : rest.substr(prev + 1);
  if (!IsR4ResourceType(type) || !IsValidId(id)) {
    return std::nullopt;
  }
  return ParsedReference{std::string(type), std::string(id)};
}

bool IsAbsolute(std::string_view text) {
  return text.starts_with("urn:") || text.find("://") != std::string_view::npos;
}

// (system, value) of a Reference.reference: a relative "Type/id[/_history/v]" is (Type, id),
// anything else ("#x", "urn:...", an absolute URL) ("", the text). nullopt when empty or when
// `target` is set and the reference is not of that type (`declared_type` is Reference.type).
std::optional<std::pair<std::string, std::string>> ReferenceRow(std::string_view text,
                                                                std::string_view target,
                                                                std::string_view declared_type) {
  if (text.empty()) {
    return std::nullopt;  // a logical reference (identifier only) or display only
  }
  const bool absolute = IsAbsolute(text);
  std::optional<ParsedReference> parsed;
  if (!text.starts_with("#") && !text.starts_with("urn:")) {
    parsed = SplitTypeAndId(text);
  }
  if (!target.empty()) {
    // Contained and urn references say nothing of their type; Reference.type may.
    std::string_view type = parsed ? std::string_view(parsed->type) : declared_type;
    if (type != target) {
      return std::nullopt;
    }
  }
  if (parsed && !absolute) {
    return std::pair(std::move(parsed->type), std::move(parsed->id));
  }
  return std::pair(std::string(), std::string(text));
}

void ExtractReference(const json::Value& v, std::string_view target, RowSink& sink) {
  if (v.is_string()) {
    // A canonical (QuestionnaireResponse.questionnaire): indexed whole, and also without its
    // "|version" so that a search by the bare URL finds every version.
    const std::string& text = v.text();
    if (text.empty()) {
      return;
    }
    sink.Add("", text);
    if (std::size_t bar = text.rfind('|'); bar != std::string::npos && bar > 0) {
      sink.Add("", text.substr(0, bar));
    }
    return;
  }
  if (!v.is_object()) {
    return;
  }
  if (auto row = ReferenceRow(v.StringAt("reference"), target, v.StringAt("type"))) {
    sink.Add(std::move(row->first), std::move(row->second));
  }
}

void ExtractDate(const json::Value& v, RowSink& sink) {
  if (v.is_string()) {
    if (auto range = DateRange(v.text())) {
      sink.Add("", v.text(), range->first, range->second);
    }
    return;
  }
  if (!v.is_object()) {
    return;
  }
  // A Period; other complex values of a choice (Timing, Age, Range) are not indexed.
  const json::Value* start = v.Find("start");
  const json::Value* end = v.Find("end");
  if (start == nullptr && end == nullptr) {
    return;
  }
  std::int64_t low = kOpenLow;
  std::int64_t high = kOpenHigh;
  if (start != nullptr) {
    auto range = start->is_string() ? DateRange(start->text()) : std::nullopt;
    if (!range) {
      return;
    }
    low = range->first;
  }
  if (end != nullptr) {
    auto range = end->is_string() ? DateRange(end->text()) : std::nullopt;
    if (!range) {
      return;
    }
    high = range->second;
  }
  if (low >= high) {
    return;  // an inverted period matches nothing sensible; validation reports it
  }
  std::string value(start != nullptr ? start->text() : std::string());
  value += '/';
  if (end != nullptr) {
    value += end->text();
  }
  sink.Add("", std::move(value), low, high);
}

void ExtractString(const json::Value& v, RowSink& sink) {
  if (v.is_string()) {
    if (!v.text().empty()) {
      sink.Add("", NormalizeString(v.text()));
    }
    return;
  }
  if (!v.is_object()) {
    return;
  }
  // HumanName; Address and other complex strings are not indexed.
  for (std::string_view part : {"family", "given", "text"}) {
    const json::Value* p = v.Find(part);
    if (p == nullptr) {
      continue;
    }
    if (p->is_string()) {
      ExtractString(*p, sink);
    } else if (p->is_array()) {
      for (const json::Value& item : p->items()) {
        if (item.is_string()) {
          ExtractString(item, sink);
        }
      }
    }
  }
}

void ExtractValue(const SearchParamDef& def, const json::Value& v, RowSink& sink) {
  switch (def.type) {
    case ParamType::kToken:
      ExtractToken(v, sink);
      break;
    case ParamType::kReference:
      ExtractReference(v, def.target_type, sink);
      break;
    case ParamType::kDate:
      ExtractDate(v, sink);
      break;
    case ParamType::kString:
      ExtractString(v, sink);
      break;
    case ParamType::kUri:
      if (v.is_string() && !v.text().empty()) {
        sink.Add("", v.text());
      }
      break;
    case ParamType::kNumber:
      if (v.is_number()) {
        sink.Add("", v.text());
      }
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Query parsing

// Splits on `delim` where it is not escaped by a backslash; pieces keep their escapes.
std::vector<std::string_view> SplitUnescaped(std::string_view text, char delim) {
  std::vector<std::string_view> pieces;
  std::size_t begin = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;  // skip the escaped character
    } else if (text[i] == delim) {
      pieces.push_back(text.substr(begin, i - begin));
      begin = i + 1;
    }
  }
  pieces.push_back(text.substr(begin));
  return pieces;
}

std::size_t FindUnescaped(std::string_view text, char c) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
    } else if (text[i] == c) {
      return i;
    }
  }
  return std::string_view::npos;
}

// Removes the search escapes "\,", "\|", "\$" and "\\".
std::string Unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      ++i;
    }
    out += text[i];
  }
  return out;
}

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

std::optional<Prefix> ParsePrefix(std::string_view p) {
  static constexpr std::pair<std::string_view, Prefix> kPrefixes[] = {
      {"eq", Prefix::kEq}, {"ne", Prefix::kNe}, {"gt", Prefix::kGt},
      {"lt", Prefix::kLt}, {"ge", Prefix::kGe}, {"le", Prefix::kLe},
      {"sa", Prefix::kSa}, {"eb", Prefix::kEb}, {"ap", Prefix::kAp},
  };
  for (const auto& [code, prefix] : kPrefixes) {
    if (code == p) {
      return prefix;
    }
  }
  return std::nullopt;
}

// Takes a comparison prefix off `value` when it starts with one (two lowercase letters before a
// digit). Returns false, with an error in `outcome`, for letters that are no prefix.
bool TakePrefix(std::string_view name, std::string_view& value, SearchValue& out,
                Outcome& outcome) {
  if (value.size() >= 2 && IsLower(value[0]) && IsLower(value[1])) {
    std::optional<Prefix> prefix = ParsePrefix(value.substr(0, 2));
    if (!prefix || value.size() < 3 || !IsDigit(value[2])) {
      outcome.Error(IssueType::kValue, std::string(name),
                    "Search parameter '" + std::string(name) + "': " + Quote(value) +
                        " does not start with a comparison prefix (eq, ne, gt, lt, ge, le, sa, "
                        "eb, ap) or a number");
      return false;
    }
    out.prefix = *prefix;
    value.remove_prefix(2);
  }
  return true;
}

bool IsDecimal(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && s[i] == '-') {
    ++i;
  }
  std::size_t digits = i;
  while (i < s.size() && IsDigit(s[i])) {
    ++i;
  }
  if (i == digits) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    std::size_t frac = ++i;
    while (i < s.size() && IsDigit(s[i])) {
      ++i;
    }
    if (i == frac) {
      return false;
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      ++i;
    }
    std::size_t exp = i;
    while (i < s.size() && IsDigit(s[i])) {
      ++i;
    }
    if (i == exp) {
      return false;
    }
  }
  return i == s.size();
}

// Non-negative decimal integer; values past INT_MAX come back as INT_MAX + 1.
std::optional<long long> ParseCount(std::string_view s) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), IsDigit)) {
    return std::nullopt;
  }
  if (s.size() > 10) {
    return static_cast<long long>(INT_MAX) + 1;
  }
  long long v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return std::min(v, static_cast<long long>(INT_MAX) + 1);
}

bool IsModifierAllowed(const SearchParamDef& def, std::string_view modifier) {
  if (modifier.empty() || modifier == "missing") {
    return true;
  }
  switch (def.type) {
    case ParamType::kToken:
      return modifier == "not";
    case ParamType::kString:
      return modifier == "exact" || modifier == "contains";
    case ParamType::kReference:
      return IsR4ResourceType(modifier);  // subject:Patient=123
    case ParamType::kDate:
    case ParamType::kUri:
    case ParamType::kNumber:
      return false;
  }
  return false;
}

std::string_view TypeName(ParamType type) {
  switch (type) {
    case ParamType::kToken:
      return "token";
    case ParamType::kReference:
      return "reference";
    case ParamType::kDate:
      return "date";
    case ParamType::kString:
      return "string";
    case ParamType::kUri:
      return "uri";
    case ParamType::kNumber:
      return "number";
  }
  return "";
}

class QueryParser {
 public:
  QueryParser(std::string_view type, const SearchLimits& limits, Outcome& outcome)
      : type_(type), limits_(limits), outcome_(outcome) {}

  // Parses one value of `def` (already split off its list, escapes still in).
  bool ParseValue(const SearchParamDef& def, std::string_view modifier, std::string_view raw,
                  SearchValue& out) {
    const std::string name(def.name);
    if (modifier == "missing") {
      if (raw != "true" && raw != "false") {
        return Fail(
            IssueType::kValue, name,
            "Search parameter '" + name + ":missing' takes true or false, not " + Quote(raw));
      }
      out.value = std::string(raw);
      return true;
    }
    switch (def.type) {
      case ParamType::kToken:
        return ParseToken(def, raw, out);
      case ParamType::kReference:
        return ParseReference(def, modifier, Unescape(raw), out);
      case ParamType::kDate: {
        std::string_view value = raw;
        if (!TakePrefix(name, value, out, outcome_)) {
          return false;
        }
        auto range = DateRange(value);
        if (!range) {
          return Fail(IssueType::kValue, name,
                      "Search parameter '" + name + "': " + Quote(value) +
                          " is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or "
                          "YYYY-MM-DDThh:mm[:ss[.fff]][Z|+hh:mm])");
        }
        out.value = std::string(value);
        out.low = range->first;
        out.high = range->second;
        return true;
      }
      case ParamType::kString:
        out.value = NormalizeString(Unescape(raw));
        return true;
      case ParamType::kUri:
        out.value = Unescape(raw);
        return true;
      case ParamType::kNumber: {
        std::string_view value = raw;
        if (!TakePrefix(name, value, out, outcome_)) {
          return false;
        }
        if (!IsDecimal(value)) {
          return Fail(IssueType::kValue, name,
                      "Search parameter '" + name + "': " + Quote(value) + " is not a number");
        }
        out.value = std::string(value);
        return true;
      }
    }
    return false;
  }

  bool ParseToken(const SearchParamDef& def, std::string_view raw, SearchValue& out) {
    const std::string name(def.name);
    std::size_t bar = FindUnescaped(raw, '|');
    if (bar == std::string_view::npos) {
      out.value = Unescape(raw);
    } else {
      out.system = Unescape(raw.substr(0, bar));
      out.value = Unescape(raw.substr(bar + 1));
      if (out.system->empty() && out.value.empty()) {
        return Fail(IssueType::kValue, name,
                    "Search parameter '" + name + "': '|' names neither a system nor a code");
      }
    }
    if (def.name == "_id") {
      if (out.system.has_value() || !IsValidId(out.value)) {
        return Fail(IssueType::kValue, name,
                    "Search parameter '_id': " + Quote(raw) + " is not a resource id");
      }
    }
    return true;
  }

  bool ParseReference(const SearchParamDef& def, std::string_view modifier,
                      const std::string& value, SearchValue& out) {
    const std::string name(def.name);
    if (!modifier.empty() && !def.target_type.empty() && modifier != def.target_type) {
      return Fail(IssueType::kValue, name,
                  "Search parameter '" + name + "' refers to " + std::string(def.target_type) +
                      " only, not " + std::string(modifier));
    }
    if (IsAbsolute(value)) {
      out.value = value;
      return true;
    }
    std::string_view text = value;
    if (std::size_t h = text.find("/_history/"); h != std::string_view::npos) {
      text = text.substr(0, h);
    }
    if (std::size_t slash = text.find('/'); slash != std::string_view::npos) {
      std::string_view type = text.substr(0, slash);
      std::string_view id = text.substr(slash + 1);
      if (!IsR4ResourceType(type)) {
        return Fail(IssueType::kValue, name,
                    "Search parameter '" + name + "': " + Quote(value) +
                        " is not a reference: " + Quote(type) + " is not a FHIR resource type");
      }
      if (!IsValidId(id)) {
        return Fail(IssueType::kValue, name,
                    "Search parameter '" + name + "': " + Quote(value) +
                        " is not a reference: " + Quote(id) + " is not a resource id");
      }
      std::string_view expected = !modifier.empty() ? modifier : def.target_type;
      if (!expected.empty() && type != expected) {
        return Fail(IssueType::kValue, name,
                    "Search parameter '" + name + "': " + Quote(value) + " is not a " +
                        std::string(expected));
      }
      out.system = std::string(type);
      out.value = std::string(id);
      return true;
    }
    if (!IsValidId(text)) {
      return Fail(IssueType::kValue, name,
                  "Search parameter '" + name + "': " + Quote(value) +
                      " is neither an id, Type/id nor an absolute URL");
    }
    out.value = std::string(text);
    if (!modifier.empty()) {
      out.system = std::string(modifier);
    } else if (!def.target_type.empty()) {
      out.system = std::string(def.target_type);
    }
    return true;
  }

  void ParseCriterion(std::string_view key, std::string_view value, SearchQuery& query) {
    std::string_view name = key;
    std::string_view modifier;
    if (std::size_t colon = key.find(':'); colon != std::string_view::npos) {
      name = key.substr(0, colon);
      modifier = key.substr(colon + 1);
    }
    const SearchParamDef* def = FindParam(type_, name);
    if (def == nullptr) {
      std::string supported;
      for (const SearchParamDef& d : ParamsFor(type_)) {
        supported += supported.empty() ? "" : ", ";
        supported += d.name;
      }
      Fail(IssueType::kNotSupported, std::string(name),
           "Unknown search parameter " + Quote(name) + " for " + std::string(type_) +
               ". Supported: " + supported + "; result parameters: _count, _offset, _sort, " +
               "_summary, _total, _elements, _format, _pretty");
      return;
    }
    if (!IsModifierAllowed(*def, modifier)) {
      Fail(IssueType::kNotSupported, std::string(name),
           "Search parameter " + Quote(name) + " (" + std::string(TypeName(def->type)) +
               ") does not support the modifier " + Quote(modifier));
      return;
    }
    // The spec has empty parameters ignored ("name=" is as if absent).
    if (value.empty()) {
      return;
    }
    std::vector<std::string_view> pieces = SplitUnescaped(value, ',');
    if (pieces.size() > limits_.max_values_per_param) {
      Fail(IssueType::kTooCostly, std::string(name),
           "Search parameter " + Quote(name) + " has " + std::to_string(pieces.size()) +
               " values; at most " + std::to_string(limits_.max_values_per_param) + " are allowed");
      return;
    }
    SearchCriterion criterion;
    criterion.param = std::string(name);
    criterion.type = def->type;
    // A type modifier on a reference is carried in each value's system, not as a modifier.
    if (def->type != ParamType::kReference || modifier == "missing") {
      criterion.modifier = std::string(modifier);
    }
    bool ok = true;
    for (std::string_view piece : pieces) {
      if (piece.empty()) {
        ok = Fail(IssueType::kValue, std::string(name),
                  "Search parameter " + Quote(name) + " has an empty value in " + Quote(value));
        continue;
      }
      SearchValue sv;
      if (ParseValue(*def, modifier, piece, sv)) {
        criterion.any_of.push_back(std::move(sv));
      } else {
        ok = false;
      }
    }
    if (ok) {
      query.all_of.push_back(std::move(criterion));
    }
  }

  void ParseSort(std::string_view value, SearchQuery& query) {
    for (std::string_view item : SplitUnescaped(value, ',')) {
      SortKey key;
      if (item.starts_with('-')) {
        key.descending = true;
        item.remove_prefix(1);
      }
      const SearchParamDef* def = item.empty() ? nullptr : FindParam(type_, item);
      if (def == nullptr) {
        Fail(IssueType::kNotSupported, "_sort",
             "_sort: " + Quote(item) + " is not a search parameter of " + std::string(type_));
        continue;
      }
      if (def->type != ParamType::kDate && def->type != ParamType::kString &&
          def->type != ParamType::kToken) {
        Fail(IssueType::kNotSupported, "_sort",
             "_sort: sorting by the " + std::string(TypeName(def->type)) + " parameter " +
                 Quote(item) + " is not supported");
        continue;
      }
      key.param = std::string(item);
      key.type = def->type;
      query.sort.push_back(std::move(key));
    }
  }

  void ParseResultParam(std::string_view key, std::string_view value, SearchQuery& query) {
    const std::string name(key);
    if (key == "_count") {
      std::optional<long long> n = ParseCount(value);
      if (!n) {
        Fail(IssueType::kValue, name, "_count must be a non-negative integer, not " + Quote(value));
        return;
      }
      // Over the maximum is not an error: the client gets the largest page we serve.
      query.count = static_cast<int>(std::min<long long>(*n, limits_.max_count));
    } else if (key == "_offset") {
      std::optional<long long> n = ParseCount(value);
      if (!n || *n > INT_MAX) {
        Fail(IssueType::kValue, name,
             "_offset must be an integer from 0 to " + std::to_string(INT_MAX) + ", not " +
                 Quote(value));
        return;
      }
      query.offset = static_cast<int>(*n);
    } else if (key == "_sort") {
      ParseSort(value, query);
    } else if (key == "_summary") {
      if (value == "count") {
        query.total_only = true;
      } else if (value != "false") {
        Fail(IssueType::kNotSupported, name,
             "_summary=" + std::string(value) + " is not supported (only count and false are)");
      }
    }
    // _format, _pretty, _elements and _total are the API layer's or have no effect here.
  }

  bool Fail(IssueType type, std::string expression, std::string message) {
    outcome_.Error(type, std::move(expression), std::move(message));
    return false;
  }

 private:
  std::string_view type_;
  const SearchLimits& limits_;
  Outcome& outcome_;
};

bool IsResultParam(std::string_view key) {
  return key == "_count" || key == "_offset" || key == "_sort" || key == "_summary" ||
         key == "_format" || key == "_pretty" || key == "_elements" || key == "_total";
}

}  // namespace

std::optional<std::pair<std::int64_t, std::int64_t>> DateRange(std::string_view text) {
  std::size_t pos = 0;
  int year = 0;
  int month = 1;
  int day = 1;
  if (!ReadDigits(text, pos, 4, year) || year < 1) {
    return std::nullopt;
  }
  if (pos == text.size()) {
    return std::pair{DaysFromCivil(year, 1, 1) * kMsPerDay,
                     DaysFromCivil(year + 1, 1, 1) * kMsPerDay};
  }
  if (!ReadChar(text, pos, '-') || !ReadDigits(text, pos, 2, month) || month < 1 || month > 12) {
    return std::nullopt;
  }
  if (pos == text.size()) {
    const int next_year = month == 12 ? year + 1 : year;
    const int next_month = month == 12 ? 1 : month + 1;
    return std::pair{DaysFromCivil(year, month, 1) * kMsPerDay,
                     DaysFromCivil(next_year, next_month, 1) * kMsPerDay};
  }
  if (!ReadChar(text, pos, '-') || !ReadDigits(text, pos, 2, day) || day < 1 ||
      day > DaysInMonth(year, month)) {
    return std::nullopt;
  }
  const std::int64_t midnight = DaysFromCivil(year, month, day) * kMsPerDay;
  if (pos == text.size()) {
    return std::pair{midnight, midnight + kMsPerDay};
  }
  int hour = 0;
  int minute = 0;
  if (!ReadChar(text, pos, 'T') || !ReadDigits(text, pos, 2, hour) || hour > 23 ||
      !ReadChar(text, pos, ':') || !ReadDigits(text, pos, 2, minute) || minute > 59) {
    return std::nullopt;
  }
  std::int64_t low = midnight + hour * kMsPerHour + minute * kMsPerMinute;
  std::int64_t width = kMsPerMinute;  // search values may stop at minutes
  if (ReadChar(text, pos, ':')) {
    int second = 0;
    // 60 is a leap second; the FHIR regex allows it and it simply runs into the next minute.
    if (!ReadDigits(text, pos, 2, second) || second > 60) {
      return std::nullopt;
    }
    low += second * kMsPerSecond;
    width = kMsPerSecond;
    if (ReadChar(text, pos, '.')) {
      std::size_t digits = 0;
      std::int64_t ms = 0;
      while (pos < text.size() && IsDigit(text[pos])) {
        if (digits < 3) {
          ms = ms * 10 + (text[pos] - '0');
        }
        ++digits;
        ++pos;
      }
      if (digits == 0) {
        return std::nullopt;
      }
      // ".5" covers 500-599 ms; anything finer than a millisecond is one millisecond wide.
      width = 100;
      for (std::size_t i = 1; i < std::min<std::size_t>(digits, 3); ++i) {
        width /= 10;
      }
      for (std::size_t i = digits; i < 3; ++i) {
        ms *= 10;
      }
      low += ms;
    }
  }
  if (pos < text.size()) {
    if (text[pos] == 'Z') {
      ++pos;
    } else if (text[pos] == '+' || text[pos] == '-') {
      const bool east = text[pos] == '+';
      ++pos;
      int oh = 0;
      int om = 0;
      if (!ReadDigits(text, pos, 2, oh) || !ReadChar(text, pos, ':') ||
          !ReadDigits(text, pos, 2, om) || om > 59 || oh > 14 || (oh == 14 && om != 0)) {
        return std::nullopt;
      }
      // Local time is UTC plus the offset, so UTC is local time minus it.
      const std::int64_t offset = oh * kMsPerHour + om * kMsPerMinute;
      low += east ? -offset : offset;
    } else {
      return std::nullopt;
    }
  }
  if (pos != text.size()) {
    return std::nullopt;
  }
  return std::pair{low, low + width};
}

std::optional<IndexEntry> ReferenceIndexEntry(std::string_view param, std::string_view reference,
                                              std::string_view target_type) {
  auto row = ReferenceRow(reference, target_type, {});
  if (!row) {
    return std::nullopt;
  }
  return IndexEntry{std::string(param), ParamType::kReference, std::move(row->first),
                    std::move(row->second)};
}

std::optional<IndexEntry> DateIndexEntry(std::string_view param, std::string_view date) {
  auto range = DateRange(date);
  if (!range) {
    return std::nullopt;
  }
  return IndexEntry{std::string(param), ParamType::kDate, "",
                    std::string(date),  range->first,     range->second};
}

std::vector<IndexEntry> ExtractIndex(std::string_view type, const json::Value& resource) {
  std::vector<IndexEntry> rows;
  if (!resource.is_object()) {
    return rows;
  }
  for (const SearchParamDef& def : ParamsFor(type)) {
    if (def.name == "_id" || def.name == "_lastUpdated") {
      continue;  // columns of the store
    }
    RowSink sink(def, rows);
    for (std::string_view path : def.paths) {
      std::vector<std::string_view> segments = SplitPath(path);
      Walk(resource, segments, [&](const json::Value& v) { ExtractValue(def, v, sink); });
    }
  }
  return rows;
}

std::optional<SearchQuery> ParseSearchQuery(
    std::string_view type, const std::vector<std::pair<std::string, std::string>>& params,
    const SearchLimits& limits, Outcome& outcome) {
  SearchQuery query;
  query.type = std::string(type);
  query.count = std::clamp(limits.default_count, 0, std::max(limits.max_count, 0));
  if (ParamsFor(type).empty()) {
    outcome.Error(IssueType::kNotSupported, std::string(type),
                  "Searching " + Quote(type) + " is not supported");
    return std::nullopt;
  }
  QueryParser parser(type, limits, outcome);
  std::vector<std::string_view> seen_result_params;
  for (const auto& [key, value] : params) {
    if (key.empty()) {
      parser.Fail(IssueType::kInvalid, "", "A query parameter has no name");
      continue;
    }
    if (IsResultParam(key)) {
      if (std::find(seen_result_params.begin(), seen_result_params.end(), key) !=
          seen_result_params.end()) {
        parser.Fail(IssueType::kInvalid, key, key + " may appear only once");
        continue;
      }
      seen_result_params.push_back(key);
      parser.ParseResultParam(key, value, query);
      continue;
    }
    parser.ParseCriterion(key, value, query);
  }
  if (outcome.HasErrors()) {
    return std::nullopt;
  }
  return query;
}

std::string FormatInstant(std::int64_t epoch_ms) {
  using namespace std::chrono;
  const sys_time<milliseconds> when{milliseconds{epoch_ms}};
  const sys_days day = floor<days>(when);
  const year_month_day ymd{day};
  const hh_mm_ss<milliseconds> tod{when - day};
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(tod.hours().count()),
                static_cast<int>(tod.minutes().count()), static_cast<int>(tod.seconds().count()),
                static_cast<int>(tod.subseconds().count()));
  return buffer;
}

}  // namespace carebridge::fhir
