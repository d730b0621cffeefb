#include "mappings/extract.h"

#include <cstdint>
#include <map>
#include <set>
#include <utility>

namespace carebridge::mappings {
namespace {

namespace json = fhir::json;
using fhir::IssueType;
using json::Value;

constexpr std::string_view kSnomed = "http://snomed.info/sct";
constexpr std::string_view kIcd10 = "http://hl7.org/fhir/sid/icd-10-cm";
constexpr std::string_view kUsCoreCategory =
    "http://hl7.org/fhir/us/core/CodeSystem/us-core-category";
constexpr std::string_view kObservationCategory =
    "http://terminology.hl7.org/CodeSystem/observation-category";
constexpr std::string_view kSdohccProfile =
    "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/";

Value Str(std::string_view text) { return Value::String(std::string(text)); }

Value Coding(std::string_view system, std::string_view code, std::string_view display = {}) {
  Value coding = Value::Object();
  coding.Set("system", Str(system));
  coding.Set("code", Str(code));
  if (!display.empty()) {
    coding.Set("display", Str(display));
  }
  return coding;
}

Value Cc(std::vector<Value> codings, std::string_view text = {}) {
  Value cc = Value::Object();
  Value list = Value::Array();
  for (Value& coding : codings) {
    list.PushBack(std::move(coding));
  }
  if (!list.items().empty()) {
    cc.Set("coding", std::move(list));
  }
  if (!text.empty()) {
    cc.Set("text", Str(text));
  }
  return cc;
}

Value Ref(std::string reference) {
  Value ref = Value::Object();
  ref.Set("reference", Value::String(std::move(reference)));
  return ref;
}

Value Array(std::vector<Value> values) {
  Value list = Value::Array();
  for (Value& v : values) {
    list.PushBack(std::move(v));
  }
  return list;
}

Value Profile(std::string_view name) {
  Value meta = Value::Object();
  meta.Set("profile", Array({Str(std::string(kSdohccProfile) + std::string(name))}));
  return meta;
}

// SDOHCC-CodeSystemTemporaryCodes displays for the domains we use.
std::string_view DomainDisplay(std::string_view code) {
  static const std::map<std::string_view, std::string_view> kDisplays = {
      {"food-insecurity", "Food Insecurity"},
      {"housing-instability", "Housing Instability"},
      {"homelessness", "Homelessness"},
      {"transportation-insecurity", "Transportation Insecurity"},
      {"stress", "Stress"},
      {"intimate-partner-violence", "Intimate Partner Violence"},
      {"material-hardship", "Material Hardship"},
      {"social-connection", "Social Connection"},
      {"employment-status", "Employment Status"},
      {"educational-attainment", "Educational Attainment"},
      {"health-insurance-coverage-status", "Health Insurance Coverage Status"},
      {"veteran-status", "Veteran Status"},
      {"financial-insecurity", "Financial Insecurity"},
  };
  auto it = kDisplays.find(code);
  return it == kDisplays.end() ? std::string_view() : it->second;
}

Value DomainConcept(std::string_view domain) {
  return Cc({Coding(kSdohCategorySystem, domain, DomainDisplay(domain))});
}

Value SdohConcept() { return Cc({Coding(kUsCoreCategory, "sdoh", "SDOH")}); }

// A community service proposed for a need.
struct Service {
  std::string_view code;
  std::string_view display;
  std::string_view snomed;  // empty when no SNOMED CT procedure fits closely enough
  std::string_view snomed_display;
};

const Service* ServiceFor(std::string_view domain) {
  static const std::map<std::string_view, Service> kServices = {
      {"food-insecurity",
       {"food-assistance", "Food assistance", "467771000124109",
        "Assistance with application for food pantry program"}},
      {"housing-instability", {"housing-navigation", "Housing navigation", {}, {}}},
      {"homelessness", {"housing-navigation", "Housing navigation (homelessness)", {}, {}}},
      {"transportation-insecurity",
       {"transportation-assistance", "Transportation assistance", {}, {}}},
      {"intimate-partner-violence",
       {"safety-advocacy", "Intimate partner violence advocacy and safety planning", {}, {}}},
  };
  auto it = kServices.find(domain);
  return it == kServices.end() ? nullptr : &it->second;
}

// A positive PRAPARE finding, coded as the SDOH Clinical Care IG codes its Conditions.
struct Finding {
  std::string_view domain;  // SDOHCC category code; also the key of the derived ids
  std::string_view snomed;
  std::string_view snomed_display;
  std::string_view icd10;
  std::string_view icd10_display;
  std::string_view text;
};

// One answered question of the response.
struct Answered {
  const QuestionnaireItem* def;
  const Value* answers;  // the non-empty answer array
};

void Collect(const Questionnaire& q, const Value* items, std::vector<Answered>& out) {
  if (items == nullptr || !items->is_array()) {
    return;
  }
  for (const Value& item : items->items()) {
    const QuestionnaireItem* def = q.Find(item.StringAt("linkId"));
    if (def == nullptr) {
      continue;
    }
    const Value* answers = item.Find("answer");
    if (answers != nullptr && answers->is_array() && !answers->items().empty()) {
      out.push_back({def, answers});
      for (const Value& answer : answers->items()) {
        Collect(q, answer.Find("item"), out);
      }
    }
    Collect(q, item.Find("item"), out);
  }
}

// The answer's value[x] member.
const json::Member* AnswerValue(const Value& answer) {
  for (const json::Member& m : answer.members()) {
    if (m.key.starts_with("value")) {
      return &m;
    }
  }
  return nullptr;
}

// Sets an Observation (or component) value from an answer. False when the answer's type has no
// Observation value (attachment, reference).
bool SetObservationValue(Value& target, const json::Member& answer) {
  const std::string& key = answer.key;
  if (key == "valueCoding") {
    target.Set("valueCodeableConcept", Cc({answer.value}));
  } else if (key == "valueDecimal") {
    Value quantity = Value::Object();
    quantity.Set("value", answer.value);
    target.Set("valueQuantity", std::move(quantity));
  } else if (key == "valueDate") {
    target.Set("valueDateTime", answer.value);
  } else if (key == "valueUri") {
    target.Set("valueString", answer.value);
  } else if (key == "valueBoolean" || key == "valueInteger" || key == "valueString" ||
             key == "valueDateTime" || key == "valueTime" || key == "valueQuantity") {
    target.Set(key, answer.value);
  } else {
    return false;
  }
  return true;
}

bool HasAnswerCode(const std::vector<Answered>& answered, std::string_view item_code,
                   std::initializer_list<std::string_view> codes) {
  for (const Answered& a : answered) {
    if (a.def->Code() != item_code) {
      continue;
    }
    for (const Value& answer : a.answers->items()) {
      const Value* coding = answer.Find("valueCoding");
      if (coding == nullptr) {
        continue;
      }
      for (std::string_view code : codes) {
        if (coding->StringAt("code") == code) {
          return true;
        }
      }
    }
  }
  return false;
}

class Extractor {
 public:
  Extractor(const Questionnaire& q, const Value& response)
      : q_(q), response_id_(response.StringAt("id")) {
    if (const Value* subject = response.Find("subject")) {
      subject_ = *subject;
    }
    authored_ = std::string(response.StringAt("authored"));
    response_ref_ = "QuestionnaireResponse/" + response_id_;
    Collect(q_, response.Find("item"), answered_);
  }

  std::vector<Value> Run(Instrument instrument) {
    if (instrument == Instrument::kCans) {
      Cans();
    } else {
      Observations(instrument);
      if (instrument == Instrument::kPrapare) {
        PrapareFindings();
      }
    }
    std::vector<Value> out;
    for (auto* list : {&observations_, &conditions_, &goals_, &requests_, &plans_}) {
      for (Value& v : *list) {
        out.push_back(std::move(v));
      }
    }
    return out;
  }

 private:
  Value Base(std::string_view type, std::string id) {
    Value resource = Value::Object();
    resource.Set("resourceType", Str(type));
    resource.Set("id", Value::String(std::move(id)));
    return resource;
  }

  static std::string RefTo(const Value& resource) {
    return std::string(resource.StringAt("resourceType")) + "/" +
           std::string(resource.StringAt("id"));
  }

  // The SDOH domain an item's Observation is categorised under (PRAPARE, by LOINC code).
  static std::string_view PrapareDomain(std::string_view loinc) {
    static const std::map<std::string_view, std::string_view> kDomains = {
        {"71802-3", "housing-instability"},
        {"93033-9", "housing-instability"},
        {"93031-3", "material-hardship"},
        {"93030-5", "transportation-insecurity"},
        {"93038-8", "stress"},
        {"93029-7", "social-connection"},
        {"76501-6", "intimate-partner-violence"},
        {"93026-3", "intimate-partner-violence"},
        {"67875-5", "employment-status"},
        {"82589-3", "educational-attainment"},
        {"76437-3", "health-insurance-coverage-status"},
        {"93034-7", "veteran-status"},
        {"63586-2", "financial-insecurity"},
    };
    auto it = kDomains.find(loinc);
    return it == kDomains.end() ? std::string_view() : it->second;
  }

  // The SDOH domain of a CANS need (by item code), for needs a community service addresses.
  static std::string_view CansDomain(std::string_view item_code) {
    if (item_code == "living-situation" || item_code == "residential-stability") {
      return "housing-instability";
    }
    if (item_code == "food-security") {
      return "food-insecurity";
    }
    if (item_code == "transportation") {
      return "transportation-insecurity";
    }
    return {};
  }

  Value ObservationFor(const Answered& a, std::vector<Value> categories) {
    Value obs = Base("Observation", DerivedId("obs", response_id_, a.def->link_id));
    obs.Set("meta", Profile("SDOHCC-ObservationScreeningResponse"));
    obs.Set("status", Str("final"));
    obs.Set("category", Array(std::move(categories)));
    Value code = Value::Object();
    if (a.def->code.is_array() && !a.def->code.items().empty()) {
      code.Set("coding", a.def->code);
    }
    if (!a.def->text.empty()) {
      code.Set("text", Str(a.def->text));
    }
    obs.Set("code", std::move(code));
    if (!subject_.is_null()) {
      obs.Set("subject", subject_);
    }
    if (!authored_.empty()) {
      obs.Set("effectiveDateTime", Str(authored_));
    }
    const auto& answers = a.answers->items();
    if (answers.size() == 1) {
      if (const json::Member* value = AnswerValue(answers.front())) {
        SetObservationValue(obs, *value);
      }
    } else {
      Value components = Value::Array();
      for (const Value& answer : answers) {
        const json::Member* value = AnswerValue(answer);
        Value component = Value::Object();
        component.Set("code", *obs.Find("code"));
        if (value != nullptr && SetObservationValue(component, *value)) {
          components.PushBack(std::move(component));
        }
      }
      obs.Set("component", std::move(components));
    }
    obs.Set("derivedFrom", Array({Ref(response_ref_)}));
    return obs;
  }

  void Observations(Instrument instrument) {
    for (const Answered& a : answered_) {
      if (a.def->code.items().empty()) {
        continue;  // nothing to code the Observation with
      }
      std::vector<Value> categories = {
          Cc({Coding(kObservationCategory, "social-history", "Social History")}),
          Cc({Coding(kObservationCategory, "survey", "Survey")}),
      };
      if (instrument == Instrument::kPrapare) {
        categories.push_back(SdohConcept());
        if (std::string_view domain = PrapareDomain(a.def->Code()); !domain.empty()) {
          categories.push_back(DomainConcept(domain));
        }
      }
      Value obs = ObservationFor(a, std::move(categories));
      if (obs.Find("valueCodeableConcept") == nullptr && obs.Find("component") == nullptr) {
        bool has_value = false;
        for (const json::Member& m : obs.members()) {
          has_value = has_value || m.key.starts_with("value");
        }
        if (!has_value) {
          continue;  // an attachment or reference: not an Observation value
        }
      }
      observation_by_code_[std::string(a.def->Code())] = RefTo(obs);
      observations_.push_back(std::move(obs));
    }
  }

  Value ConditionBase(std::string_view key, std::vector<Value> categories, Value code) {
    Value cond = Base("Condition", DerivedId("cond", response_id_, key));
    cond.Set("meta", Profile("SDOHCC-Condition"));
    cond.Set("clinicalStatus",
             Cc({Coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active",
                        "Active")}));
    cond.Set("verificationStatus",
             Cc({Coding("http://terminology.hl7.org/CodeSystem/condition-ver-status", "unconfirmed",
                        "Unconfirmed")}));
    cond.Set("category", Array(std::move(categories)));
    cond.Set("code", std::move(code));
    if (!subject_.is_null()) {
      cond.Set("subject", subject_);
    }
    if (!authored_.empty()) {
      cond.Set("recordedDate", Str(authored_));
    }
    return cond;
  }

  // Adds a draft ServiceRequest for `domain` (one per need), or extends the one there is.
  void ProposeReferral(std::string_view domain, const std::string& reason) {
    const Service* service = ServiceFor(domain);
    if (service == nullptr) {
      return;
    }
    const std::string id =
        DerivedId("sr", response_id_, std::string("referral:") + std::string(domain));
    for (Value& existing : requests_) {
      if (existing.StringAt("id") == id) {
        existing.Find("reasonReference")->PushBack(Ref(reason));
        return;
      }
    }
    Value sr = Base("ServiceRequest", id);
    sr.Set("meta", Profile("SDOHCC-ServiceRequest"));
    sr.Set("status", Str("draft"));
    sr.Set("intent", Str("proposal"));
    sr.Set("category", Array({DomainConcept(domain)}));
    std::vector<Value> codings;
    if (!service->snomed.empty()) {
      codings.push_back(Coding(kSnomed, service->snomed, service->snomed_display));
    }
    codings.push_back(Coding(kReferralServiceSystem, service->code, service->display));
    sr.Set("code", Cc(std::move(codings), service->display));
    if (!subject_.is_null()) {
      sr.Set("subject", subject_);
    }
    if (!authored_.empty()) {
      sr.Set("authoredOn", Str(authored_));
    }
    sr.Set("reasonReference", Array({Ref(reason)}));
    sr.Set("supportingInfo", Array({Ref(response_ref_)}));
    requests_.push_back(std::move(sr));
  }

  void PrapareFindings() {
    struct Rule {
      Finding finding;
      bool positive;
      std::vector<std::string_view> evidence;  // LOINC item codes
    };
    const std::vector<Rule> rules = {
        {{"homelessness", "32911000", "Homeless", "Z59.00", "Homelessness, unspecified",
          "Homelessness"},
         HasAnswerCode(answered_, "71802-3", {"LA30190-5"}),
         {"71802-3"}},
        {{"housing-instability", "1156191002", "Housing instability", "Z59.811",
          "Housing instability, housed, with risk of homelessness", "Housing instability"},
         HasAnswerCode(answered_, "93033-9", {"LA33-6"}),
         {"93033-9"}},
        {{"food-insecurity", "733423003", "Food insecurity", "Z59.41", "Food insecurity",
          "Food insecurity"},
         HasAnswerCode(answered_, "93031-3", {"LA30125-1"}),
         {"93031-3"}},
        {{"transportation-insecurity", "713458007", "Lack of access to transportation", "Z59.82",
          "Transportation insecurity", "Transportation insecurity"},
         HasAnswerCode(answered_, "93030-5", {"LA30133-5", "LA30134-3"}),
         {"93030-5"}},
        {{"stress", "73595000", "Stress", "Z73.3", "Stress, not elsewhere classified", "Stress"},
         HasAnswerCode(answered_, "93038-8", {"LA13902-4", "LA13914-9"}),
         {"93038-8"}},
        {{"intimate-partner-violence",
          "706893006",
          "Victim of intimate partner abuse",
          {},
          {},
          "Safety concern: afraid of a partner or ex-partner, or not safe where living"},
         HasAnswerCode(answered_, "76501-6", {"LA33-6"}) ||
             HasAnswerCode(answered_, "93026-3", {"LA32-8"}),
         {"76501-6", "93026-3"}},
    };
    for (const Rule& rule : rules) {
      if (!rule.positive) {
        continue;
      }
      const Finding& f = rule.finding;
      std::vector<Value> codings;
      // The IPV code only when the partner question says so; feeling unsafe alone stays text.
      if (f.domain != "intimate-partner-violence" ||
          HasAnswerCode(answered_, "76501-6", {"LA33-6"})) {
        codings.push_back(Coding(kSnomed, f.snomed, f.snomed_display));
      }
      if (!f.icd10.empty()) {
        codings.push_back(Coding(kIcd10, f.icd10, f.icd10_display));
      }
      Value cond =
          ConditionBase(std::string("condition:") + std::string(f.domain),
                        {Cc({Coding("http://hl7.org/fhir/us/core/CodeSystem/condition-category",
                                    "health-concern", "Health Concern")}),
                         SdohConcept(), DomainConcept(f.domain)},
                        Cc(std::move(codings), f.text));
      Value details = Value::Array();
      for (std::string_view code : rule.evidence) {
        auto it = observation_by_code_.find(std::string(code));
        if (it != observation_by_code_.end()) {
          details.PushBack(Ref(it->second));
        }
      }
      Value evidence = Value::Object();
      evidence.Set("detail", std::move(details));
      cond.Set("evidence", Array({std::move(evidence)}));
      const std::string ref = RefTo(cond);
      conditions_.push_back(std::move(cond));
      ProposeReferral(f.domain, ref);
    }
  }

  void Cans() {
    std::vector<std::string> strengths;
    std::vector<std::string> goals;
    for (const Answered& a : answered_) {
      const Value* coding = a.answers->items().front().Find("valueCoding");
      if (coding == nullptr || a.def->parent == nullptr) {
        continue;
      }
      const std::string_view rating = coding->StringAt("code");
      const bool strength =
          a.def->parent->Code() == "strengths" || a.def->parent->link_id == "/strengths";
      static constexpr std::string_view kNeedLevels[] = {"no-evidence", "watch", "action",
                                                         "immediate"};
      static constexpr std::string_view kStrengthLevels[] = {"centerpiece", "useful", "identified",
                                                             "not-identified"};
      if (rating.size() != 1 || rating[0] < '0' || rating[0] > '3') {
        continue;
      }
      const int level = rating[0] - '0';
      const std::string_view action = strength ? kStrengthLevels[level] : kNeedLevels[level];
      const std::string_view domain = strength ? std::string_view() : CansDomain(a.def->Code());
      std::vector<Value> categories = {Cc({Coding(kObservationCategory, "survey", "Survey")})};
      if (!domain.empty()) {
        categories.push_back(SdohConcept());
        categories.push_back(DomainConcept(domain));
      }
      Value obs = ObservationFor(a, std::move(categories));
      obs.Remove("meta");  // a CANS rating is not an SDOHCC screening response
      obs.Set("interpretation", Array({Cc({Coding(kCansActionSystem, action)})}));
      const std::string obs_ref = RefTo(obs);
      observations_.push_back(std::move(obs));
      if (strength) {
        if (level <= 1) {
          strengths.push_back(obs_ref);
        }
        continue;
      }
      if (level < 2) {
        continue;
      }
      // An actionable need: a Condition flagged for action, a proposed Goal, maybe a referral.
      std::vector<Value> cond_categories = {
          Cc({Coding("http://hl7.org/fhir/us/core/CodeSystem/condition-category", "health-concern",
                     "Health Concern")})};
      if (!domain.empty()) {
        cond_categories.push_back(SdohConcept());
        cond_categories.push_back(DomainConcept(domain));
      }
      const std::string need_text =
          a.def->text +
          (level == 3 ? " (CANS: immediate/intensive action needed)" : " (CANS: action needed)");
      Value cond =
          ConditionBase(std::string("condition:") + a.def->link_id, std::move(cond_categories),
                        Cc({a.def->code.items().front()}, need_text));
      Value* meta = cond.Find("meta");
      if (domain.empty()) {
        meta->Remove("profile");  // a behavioral-health need, not an SDOH condition
      }
      meta->Set("tag",
                Array({Coding(kCansActionSystem, action,
                              level == 3 ? "Immediate/intensive action" : "Action needed")}));
      cond.Set("severity", level == 3 ? Cc({Coding(kSnomed, "24484000", "Severe")})
                                      : Cc({Coding(kSnomed, "6736007", "Moderate")}));
      Value evidence = Value::Object();
      evidence.Set("detail", Array({Ref(obs_ref)}));
      cond.Set("evidence", Array({std::move(evidence)}));
      const std::string cond_ref = RefTo(cond);
      conditions_.push_back(std::move(cond));

      Value goal = Base("Goal", DerivedId("goal", response_id_, "goal:" + a.def->link_id));
      goal.Set("lifecycleStatus", Str("proposed"));
      goal.Set("priority", Cc({Coding("http://terminology.hl7.org/CodeSystem/goal-priority",
                                      level == 3 ? "high-priority" : "medium-priority",
                                      level == 3 ? "High Priority" : "Medium Priority")}));
      Value description = Value::Object();
      description.Set("text", Str("Reduce the need: " + a.def->text));
      goal.Set("description", std::move(description));
      if (!subject_.is_null()) {
        goal.Set("subject", subject_);
      }
      goal.Set("addresses", Array({Ref(cond_ref)}));
      goals.push_back(RefTo(goal));
      goals_.push_back(std::move(goal));
      if (!domain.empty()) {
        ProposeReferral(domain, cond_ref);
      }
    }
    if (conditions_.empty()) {
      return;  // nothing actionable: no plan to propose
    }
    Value plan = Base("CarePlan", DerivedId("careplan", response_id_, "careplan"));
    plan.Set("status", Str("draft"));
    plan.Set("intent", Str("plan"));
    plan.Set("title", Str("Plan for the needs of a CANS assessment (draft for review)"));
    if (!subject_.is_null()) {
      plan.Set("subject", subject_);
    }
    if (!authored_.empty()) {
      plan.Set("created", Str(authored_));
    }
    Value addresses = Value::Array();
    for (const Value& cond : conditions_) {
      addresses.PushBack(Ref(RefTo(cond)));
    }
    plan.Set("addresses", std::move(addresses));
    Value supporting = Value::Array();
    supporting.PushBack(Ref(response_ref_));
    for (const std::string& ref : strengths) {
      supporting.PushBack(Ref(ref));
    }
    plan.Set("supportingInfo", std::move(supporting));
    Value goal_refs = Value::Array();
    for (const std::string& ref : goals) {
      goal_refs.PushBack(Ref(ref));
    }
    plan.Set("goal", std::move(goal_refs));
    if (!requests_.empty()) {
      Value activities = Value::Array();
      for (const Value& sr : requests_) {
        Value activity = Value::Object();
        activity.Set("reference", Ref(RefTo(sr)));
        activities.PushBack(std::move(activity));
      }
      plan.Set("activity", std::move(activities));
    }
    plans_.push_back(std::move(plan));
  }

  const Questionnaire& q_;
  std::string response_id_;
  std::string response_ref_;
  Value subject_;
  std::string authored_;
  std::vector<Answered> answered_;
  std::map<std::string, std::string> observation_by_code_;  // item code -> "Observation/id"
  std::vector<Value> observations_, conditions_, goals_, requests_, plans_;
};

}  // namespace

Instrument InstrumentOf(const Questionnaire& questionnaire) {
  if (CanonicalUrl(questionnaire.url()) == kPrapareCanonical) {
    return Instrument::kPrapare;
  }
  if (CanonicalUrl(questionnaire.url()) == kCansCanonical) {
    return Instrument::kCans;
  }
  return Instrument::kOther;
}

std::string DerivedId(std::string_view prefix, std::string_view response_id, std::string_view key) {
  std::uint64_t hash = 14695981039346656037ULL;  // FNV-1a 64
  auto mix = [&hash](std::string_view text) {
    for (unsigned char c : text) {
      hash ^= c;
      hash *= 1099511628211ULL;
    }
  };
  mix(response_id);
  mix(std::string_view("\x1f", 1));
  mix(key);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(prefix);
  id.push_back('-');
  for (int shift = 60; shift >= 0; shift -= 4) {
    id.push_back(kHex[(hash >> shift) & 0xf]);
  }
  return id;
}

std::optional<std::vector<Value>> Extract(const Questionnaire& questionnaire, const Value& response,
                                          fhir::Outcome& outcome) {
  bool ok = true;
  if (response.StringAt("id").empty()) {
    outcome.Error(IssueType::kRequired, "QuestionnaireResponse.id",
                  "the response needs an id: extracted resources are named after it");
    ok = false;
  }
  const Value* subject = response.Find("subject");
  if (subject == nullptr || subject->StringAt("reference").empty()) {
    outcome.Error(IssueType::kRequired, "QuestionnaireResponse.subject",
                  "the response needs a subject reference (the patient) to extract for");
    ok = false;
  }
  std::string_view status = response.StringAt("status");
  if (status != "completed" && status != "amended") {
    outcome.Error(IssueType::kProcessing, "QuestionnaireResponse.status",
                  "only completed or amended responses are extracted, this one is '" +
                      std::string(status) + "'");
    ok = false;
  }
  if (!ok) {
    return std::nullopt;
  }
  Extractor extractor(questionnaire, response);
  return extractor.Run(InstrumentOf(questionnaire));
}

}  // namespace carebridge::mappings
