#include "gateway/consent/data_item.h"

#include <array>
#include <utility>

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

}  // namespace

std::optional<DateSpan> ClinicalDate(std::string_view type, const Value& resource) {
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
  // Data with no clinical date is placed by when it was last written.
  const Value* meta = resource.Find("meta");
  if (meta != nullptr && meta->is_object()) {
    return DateAt(meta->Find("lastUpdated"));
  }
  return std::nullopt;
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
  item.date = ClinicalDate(item.type, resource);
  AddAuthors(resource, item.authors);
  AddAllReferences(resource, item.references);
  return item;
}

bool DataItem::Is(std::string_view reference) const {
  reference = RelativeReference(reference);
  return !type.empty() && !id.empty() && reference.size() == type.size() + 1 + id.size() &&
         reference.starts_with(type) && reference[type.size()] == '/' && reference.ends_with(id);
}

}  // namespace carebridge::consent
