#include "gateway/consent/data_item.h"

#include <array>
#include <charconv>
#include <utility>

#include "fhir/json/json.h"
#include "fhir/resource/resource.h"
#include "fhir/search/search.h"

namespace carebridge::consent {
namespace {

using fhir::json::Value;

void AddCoding(const Value& coding, std::vector<CodeRef>& out) {
  if (!coding.is_object()) {
    return;
  }
  std::string_view code = coding.StringAt("code");
  if (!code.empty()) {
    out.push_back({coding.StringAt("system"), code});
  }
}

// A CodeableConcept, a Coding, or an array of either.
void AddConcepts(const Value* v, std::vector<CodeRef>& out) {
  if (v == nullptr) {
    return;
  }
  if (v->is_array()) {
    for (const Value& item : v->items()) {
      AddConcepts(&item, out);
    }
    return;
  }
  if (!v->is_object()) {
    return;
  }
  if (const Value* codings = v->Find("coding"); codings != nullptr && codings->is_array()) {
    for (const Value& coding : codings->items()) {
      AddCoding(coding, out);
    }
    return;
  }
  AddCoding(*v, out);  // a bare Coding (valueCoding, Encounter.class)
}

// QuestionnaireResponse items nest (item.item, item.answer.item); walked with an explicit stack
// so a deep document cannot exhaust ours.
void AddAnswers(const Value& resource, std::vector<CodeRef>& out) {
  std::vector<const Value*> stack;
  if (const Value* items = resource.Find("item"); items != nullptr) {
    stack.push_back(items);
  }
  while (!stack.empty()) {
    const Value* items = stack.back();
    stack.pop_back();
    if (!items->is_array()) {
      continue;
    }
    for (const Value& item : items->items()) {
      if (!item.is_object()) {
        continue;
      }
      if (const Value* nested = item.Find("item"); nested != nullptr) {
        stack.push_back(nested);
      }
      const Value* answers = item.Find("answer");
      if (answers == nullptr || !answers->is_array()) {
        continue;
      }
      for (const Value& answer : answers->items()) {
        if (!answer.is_object()) {
          continue;
        }
        AddConcepts(answer.Find("valueCoding"), out);
        if (const Value* nested = answer.Find("item"); nested != nullptr) {
          stack.push_back(nested);
        }
      }
    }
  }
}

void AddCodes(const Value& resource, std::vector<CodeRef>& out) {
  static constexpr std::array<std::string_view, 8> kConcepts = {"code",
                                                                "category",
                                                                "type",
                                                                "class",
                                                                "reasonCode",
                                                                "description",
                                                                "valueCodeableConcept",
                                                                "valueCoding"};
  for (std::string_view name : kConcepts) {
    const Value* v = resource.Find(name);
    if (v != nullptr && !v->is_string()) {  // Goal.description is a concept, others are text
      AddConcepts(v, out);
    }
  }
  if (const Value* components = resource.Find("component");
      components != nullptr && components->is_array()) {
    for (const Value& c : components->items()) {
      if (c.is_object()) {
        AddConcepts(c.Find("code"), out);
        AddConcepts(c.Find("valueCodeableConcept"), out);
      }
    }
  }
  if (const Value* activities = resource.Find("activity");
      activities != nullptr && activities->is_array()) {
    for (const Value& a : activities->items()) {
      const Value* detail = a.is_object() ? a.Find("detail") : nullptr;
      if (detail != nullptr && detail->is_object()) {
        AddConcepts(detail->Find("code"), out);
      }
    }
  }
  AddAnswers(resource, out);
}

void AddReference(const Value* ref, std::vector<std::string_view>& out) {
  if (ref == nullptr || !ref->is_object()) {
    return;
  }
  std::string_view text = ref->StringAt("reference");
  if (!text.empty() && text.front() != '#') {
    out.push_back(text);
  }
}

void AddAuthors(const Value& resource, std::vector<std::string_view>& out) {
  static constexpr std::array<std::string_view, 8> kAuthors = {
      "author",    "recorder",    "asserter",          "requester",
      "performer", "contributor", "informationSource", "expressedBy"};
  for (std::string_view name : kAuthors) {
    const Value* v = resource.Find(name);
    if (v == nullptr) {
      continue;
    }
    if (!v->is_array()) {
      AddReference(v, out);
      continue;
    }
    for (const Value& entry : v->items()) {
      if (!entry.is_object()) {
        continue;
      }
      if (const Value* actor = entry.Find("actor"); actor != nullptr) {
        AddReference(actor, out);  // Procedure.performer[].actor and the like
      } else {
        AddReference(&entry, out);
      }
    }
  }
}

// Every Reference.reference in the tree, in document order, without recursion.
void AddAllReferences(const Value& resource, std::vector<std::string_view>& out) {
  std::vector<const Value*> stack = {&resource};
  auto push = [&stack](const Value& v) {
    if (v.is_array() || v.is_object()) {
      stack.push_back(&v);
    }
  };
  while (!stack.empty()) {
    const Value* v = stack.back();
    stack.pop_back();
    if (v->is_array()) {
      for (auto it = v->items().rbegin(); it != v->items().rend(); ++it) {
        push(*it);
      }
      continue;
    }
    std::string_view text = v->StringAt("reference");
    if (!text.empty() && text.front() != '#') {
      out.push_back(text);
    }
    for (auto it = v->members().rbegin(); it != v->members().rend(); ++it) {
      push(it->value);
    }
  }
}

std::optional<DateSpan> DateAt(const Value* v) {
  if (v == nullptr || !v->is_string()) {
    return std::nullopt;
  }
  if (auto range = fhir::DateRange(v->text())) {
    return DateSpan{range->first, range->second};
  }
  return std::nullopt;
}

// "name" for a date element, or "name.start" for a Period's start.
std::optional<DateSpan> DateOf(const Value& resource, std::string_view path) {
  const std::size_t dot = path.find('.');
  if (dot == std::string_view::npos) {
    return DateAt(resource.Find(path));
  }
  const Value* outer = resource.Find(path.substr(0, dot));
  if (outer == nullptr || !outer->is_object()) {
    return std::nullopt;
  }
  return DateAt(outer->Find(path.substr(dot + 1)));
}

struct DatePaths {
  std::string_view type;
  std::array<std::string_view, 4> paths;
};

constexpr std::array<DatePaths, 15> kDatePaths = {{
    {"Observation", {"effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "issued"}},
    {"DiagnosticReport", {"effectiveDateTime", "effectivePeriod.start", "issued"}},
    {"Condition", {"onsetDateTime", "onsetPeriod.start", "recordedDate"}},
    {"AllergyIntolerance", {"onsetDateTime", "onsetPeriod.start", "recordedDate"}},
    {"CarePlan", {"period.start", "created"}},
    {"ServiceRequest", {"occurrenceDateTime", "occurrencePeriod.start", "authoredOn"}},
    {"Task", {"executionPeriod.start", "authoredOn"}},
    {"QuestionnaireResponse", {"authored"}},
    {"Goal", {"startDate", "statusDate"}},
    {"Consent", {"dateTime"}},
    {"Encounter", {"period.start"}},
    {"Procedure", {"performedDateTime", "performedPeriod.start"}},
    {"MedicationRequest", {"authoredOn"}},
    {"DocumentReference", {"date"}},
    {"Immunization", {"occurrenceDateTime", "recorded"}},
}};

// ClinicalDate without its fallback to meta.lastUpdated.
std::optional<DateSpan> DateOfRecord(std::string_view type, const Value& resource) {
  for (const DatePaths& entry : kDatePaths) {
    if (entry.type != type) {
      continue;
    }
    for (std::string_view path : entry.paths) {
      if (path.empty()) {
        break;
      }
      if (auto date = DateOf(resource, path)) {
        return date;
      }
    }
    break;
  }
  return std::nullopt;
}

// Data with no clinical date is placed by when it was last written.
std::optional<DateSpan> LastUpdatedDate(const Value& resource) {
  const Value* meta = resource.Find("meta");
  if (meta != nullptr && meta->is_object()) {
    return DateAt(meta->Find("lastUpdated"));
  }
  return std::nullopt;
}

}  // namespace

std::optional<DateSpan> ClinicalDate(std::string_view type, const Value& resource) {
  if (auto date = DateOfRecord(type, resource)) {
    return date;
  }
  return LastUpdatedDate(resource);
}

std::string_view RelativeReference(std::string_view reference) {
  if (const std::size_t history = reference.find("/_history/"); history != std::string_view::npos) {
    reference = reference.substr(0, history);
  }
  if (reference.find("://") == std::string_view::npos) {
    return reference;
  }
  // An absolute URL: keep its last two segments, [base]/Type/id.
  const std::size_t last = reference.rfind('/');
  if (last == std::string_view::npos || last == 0) {
    return reference;
  }
  const std::size_t before = reference.rfind('/', last - 1);
  return before == std::string_view::npos ? reference : reference.substr(before + 1);
}

DataItem DataItem::FromResource(const Value& resource) {
  DataItem item;
  item.type = resource.StringAt("resourceType");
  item.id = resource.StringAt("id");
  item.patient_id = fhir::PatientIdOf(item.type, resource);
  AddCodes(resource, item.codes);
  if (const Value* contained = resource.Find("contained");
      contained != nullptr && contained->is_array()) {
    for (const Value& inner : contained->items()) {
      if (inner.is_object()) {
        AddCodes(inner, item.codes);
        if (const Value* meta = inner.Find("meta"); meta != nullptr && meta->is_object()) {
          AddConcepts(meta->Find("security"), item.security);  // its labels travel with it
        }
      }
    }
  }
  if (const Value* meta = resource.Find("meta"); meta != nullptr && meta->is_object()) {
    AddConcepts(meta->Find("security"), item.security);
  }
  item.date = DateOfRecord(item.type, resource);
  if (!item.date) {
    item.date = LastUpdatedDate(resource);
    item.dated_by_last_updated = item.date.has_value();
  }
  AddAuthors(resource, item.authors);
  AddAllReferences(resource, item.references);
  return item;
}

namespace {

constexpr std::string_view kCodesKey = "codes";
constexpr std::string_view kSecurityKey = "security";
constexpr std::string_view kDateKey = "date";
constexpr std::string_view kAuthorsKey = "authors";
constexpr std::string_view kReferencesKey = "references";

void WriteCodes(fhir::json::TextWriter& w, std::string_view key,
                const std::vector<CodeRef>& codes) {
  w.Key(key).BeginArray();
  for (const CodeRef& c : codes) {
    w.BeginArray().String(c.system).String(c.code).EndArray();
  }
  w.EndArray();
}

void WriteStrings(fhir::json::TextWriter& w, std::string_view key,
                  const std::vector<std::string_view>& texts) {
  w.Key(key).BeginArray();
  for (std::string_view t : texts) {
    w.String(t);
  }
  w.EndArray();
}

bool ReadCodes(const Value* v, std::vector<CodeRef>& out) {
  if (v == nullptr || !v->is_array()) {
    return false;
  }
  for (const Value& pair : v->items()) {
    if (!pair.is_array() || pair.items().size() != 2 || !pair.items()[0].is_string() ||
        !pair.items()[1].is_string()) {
      return false;
    }
    out.push_back({pair.items()[0].text(), pair.items()[1].text()});
  }
  return true;
}

bool ReadStrings(const Value* v, std::vector<std::string_view>& out) {
  if (v == nullptr || !v->is_array()) {
    return false;
  }
  for (const Value& text : v->items()) {
    if (!text.is_string()) {
      return false;
    }
    out.push_back(text.text());
  }
  return true;
}

std::optional<std::int64_t> ReadInteger(const Value& v) {
  std::int64_t out = 0;
  const std::string& t = v.text();
  if (!v.is_string() ||
      std::from_chars(t.data(), t.data() + t.size(), out).ptr != t.data() + t.size()) {
    return std::nullopt;
  }
  return out;
}

}  // namespace

std::string DataItem::Facts() const {
  std::string out;
  fhir::json::TextWriter w(out);
  w.BeginObject();
  WriteCodes(w, kCodesKey, codes);
  WriteCodes(w, kSecurityKey, security);
  // A date taken from meta.lastUpdated is left out: the store stamps a new one on each version,
  // and FromFacts takes it from there.
  if (date && !dated_by_last_updated) {
    // Strings: the writer composes text, and the reader needs no number parsing.
    w.Key(kDateKey)
        .BeginArray()
        .String(std::to_string(date->low))
        .String(std::to_string(date->high))
        .EndArray();
  }
  WriteStrings(w, kAuthorsKey, authors);
  WriteStrings(w, kReferencesKey, references);
  w.EndObject();
  return out;
}

std::optional<DataItem> DataItem::FromFacts(std::string_view type, std::string_view id,
                                            std::optional<std::string> patient_id,
                                            std::string_view last_updated, const Value& facts) {
  DataItem item;
  item.type = type;
  item.id = id;
  item.patient_id = std::move(patient_id);
  if (!facts.is_object() || !ReadCodes(facts.Find(kCodesKey), item.codes) ||
      !ReadCodes(facts.Find(kSecurityKey), item.security) ||
      !ReadStrings(facts.Find(kAuthorsKey), item.authors) ||
      !ReadStrings(facts.Find(kReferencesKey), item.references)) {
    return std::nullopt;
  }
  if (const Value* date = facts.Find(kDateKey)) {
    if (!date->is_array() || date->items().size() != 2) {
      return std::nullopt;
    }
    auto low = ReadInteger(date->items()[0]);
    auto high = ReadInteger(date->items()[1]);
    if (!low || !high) {
      return std::nullopt;
    }
    item.date = DateSpan{*low, *high};
  } else if (auto range = fhir::DateRange(last_updated)) {
    item.date = DateSpan{range->first, range->second};
    item.dated_by_last_updated = true;
  }
  return item;
}

bool DataItem::Is(std::string_view reference) const {
  reference = RelativeReference(reference);
  return !type.empty() && !id.empty() && reference.size() == type.size() + 1 + id.size() &&
         reference.starts_with(type) && reference[type.size()] == '/' && reference.ends_with(id);
}

}  // namespace carebridge::consent
