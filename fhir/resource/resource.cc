#include "fhir/resource/resource.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <optional>
#include <utility>

#include "fhir/json/json.h"

namespace carebridge::fhir {
namespace {

using json::Kind;
using json::Member;
using json::Value;

constexpr ResourceTypeInfo kSupportedTypes[] = {
    {"Patient", true},
    {"CarePlan", true},
    {"ServiceRequest", true},
    {"Consent", true},
    {"Questionnaire", true},
    {"QuestionnaireResponse", true},
    {"Task", true},
    {"Observation", true},
    {"Condition", true},
    {"Goal", true},
    {"Organization", true},
    {"HealthcareService", true},
    {"Endpoint", true},
    {"AuditEvent", false},
    {"ConceptMap", true},  // the admin partner loads ConceptMaps (access.cc)
    // SLA alerts about referrals: the gateway writes them (gateway/delivery/sla_alerter.h).
    {"Flag", false},
    // Contacts with the person (basedOn the referral Task) that the SLA timers count; the
    // gateway's alerts are Communications too.
    {"Communication", true},
};

// Every resource type of FHIR R4 (4.0.1), http://hl7.org/fhir/R4/resourcelist.html: 146 names
// (SubstanceNucleicAcid included; lists that say 145 usually drop it). Sorted, so it can be
// binary searched (checked by the static_assert below).
constexpr std::array<std::string_view, 146> kR4ResourceTypes = {
    "Account",
    "ActivityDefinition",
    "AdverseEvent",
    "AllergyIntolerance",
    "Appointment",
    "AppointmentResponse",
    "AuditEvent",
    "Basic",
    "Binary",
    "BiologicallyDerivedProduct",
    "BodyStructure",
    "Bundle",
    "CapabilityStatement",
    "CarePlan",
    "CareTeam",
    "CatalogEntry",
    "ChargeItem",
    "ChargeItemDefinition",
    "Claim",
    "ClaimResponse",
    "ClinicalImpression",
    "CodeSystem",
    "Communication",
    "CommunicationRequest",
    "CompartmentDefinition",
    "Composition",
    "ConceptMap",
    "Condition",
    "Consent",
    "Contract",
    "Coverage",
    "CoverageEligibilityRequest",
    "CoverageEligibilityResponse",
    "DetectedIssue",
    "Device",
    "DeviceDefinition",
    "DeviceMetric",
    "DeviceRequest",
    "DeviceUseStatement",
    "DiagnosticReport",
    "DocumentManifest",
    "DocumentReference",
    "EffectEvidenceSynthesis",
    "Encounter",
    "Endpoint",
    "EnrollmentRequest",
    "EnrollmentResponse",
    "EpisodeOfCare",
    "EventDefinition",
    "Evidence",
    "EvidenceVariable",
    "ExampleScenario",
    "ExplanationOfBenefit",
    "FamilyMemberHistory",
    "Flag",
    "Goal",
    "GraphDefinition",
    "Group",
    "GuidanceResponse",
    "HealthcareService",
    "ImagingStudy",
    "Immunization",
    "ImmunizationEvaluation",
    "ImmunizationRecommendation",
    "ImplementationGuide",
    "InsurancePlan",
    "Invoice",
    "Library",
    "Linkage",
    "List",
    "Location",
    "Measure",
    "MeasureReport",
    "Media",
    "Medication",
    "MedicationAdministration",
    "MedicationDispense",
    "MedicationKnowledge",
    "MedicationRequest",
    "MedicationStatement",
    "MedicinalProduct",
    "MedicinalProductAuthorization",
    "MedicinalProductContraindication",
    "MedicinalProductIndication",
    "MedicinalProductIngredient",
    "MedicinalProductInteraction",
    "MedicinalProductManufactured",
    "MedicinalProductPackaged",
    "MedicinalProductPharmaceutical",
    "MedicinalProductUndesirableEffect",
    "MessageDefinition",
    "MessageHeader",
    "MolecularSequence",
    "NamingSystem",
    "NutritionOrder",
    "Observation",
    "ObservationDefinition",
    "OperationDefinition",
    "OperationOutcome",
    "Organization",
    "OrganizationAffiliation",
    "Parameters",
    "Patient",
    "PaymentNotice",
    "PaymentReconciliation",
    "Person",
    "PlanDefinition",
    "Practitioner",
    "PractitionerRole",
    "Procedure",
    "Provenance",
    "Questionnaire",
    "QuestionnaireResponse",
    "RelatedPerson",
    "RequestGroup",
    "ResearchDefinition",
    "ResearchElementDefinition",
    "ResearchStudy",
    "ResearchSubject",
    "RiskAssessment",
    "RiskEvidenceSynthesis",
    "Schedule",
    "SearchParameter",
    "ServiceRequest",
    "Slot",
    "Specimen",
    "SpecimenDefinition",
    "StructureDefinition",
    "StructureMap",
    "Subscription",
    "Substance",
    "SubstanceNucleicAcid",
    "SubstancePolymer",
    "SubstanceProtein",
    "SubstanceReferenceInformation",
    "SubstanceSourceMaterial",
    "SubstanceSpecification",
    "SupplyDelivery",
    "SupplyRequest",
    "Task",
    "TerminologyCapabilities",
    "TestReport",
    "TestScript",
    "ValueSet",
    "VerificationResult",
    "VisionPrescription",
};
static_assert(std::is_sorted(kR4ResourceTypes.begin(), kR4ResourceTypes.end()));

// ---------------------------------------------------------------------------------------------
// Required elements and required-binding code sets (R4), per type.

using Codes = std::span<const std::string_view>;

struct CodeRule {
  std::string_view element;
  bool required;
  Codes codes;
};

struct RequiredElement {
  std::string_view element;
  bool repeats;  // 1..*: must be a JSON array
};

struct TypeRules {
  std::string_view type;
  std::span<const CodeRule> codes;
  std::span<const RequiredElement> required;
};

constexpr std::string_view kGender[] = {"male", "female", "other", "unknown"};
constexpr std::string_view kRequestStatus[] = {
    "draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"};
constexpr std::string_view kRequestPriority[] = {"routine", "urgent", "asap", "stat"};
constexpr std::string_view kCarePlanIntent[] = {"proposal", "plan", "order", "option"};
constexpr std::string_view kServiceRequestIntent[] = {
    "proposal",     "plan",         "directive",      "order", "original-order",
    "reflex-order", "filler-order", "instance-order", "option"};
constexpr std::string_view kConsentStatus[] = {"draft",    "proposed", "active",
                                               "rejected", "inactive", "entered-in-error"};
constexpr std::string_view kQuestionnaireStatus[] = {"draft", "active", "retired", "unknown"};
constexpr std::string_view kQuestionnaireResponseStatus[] = {"in-progress", "completed", "amended",
                                                             "entered-in-error", "stopped"};
constexpr std::string_view kTaskStatus[] = {
    "draft",     "requested",   "received", "accepted", "rejected",  "ready",
    "cancelled", "in-progress", "on-hold",  "failed",   "completed", "entered-in-error"};
constexpr std::string_view kTaskIntent[] = {"unknown",      "proposal",       "plan",
                                            "order",        "original-order", "reflex-order",
                                            "filler-order", "instance-order", "option"};
constexpr std::string_view kObservationStatus[] = {"registered",       "preliminary", "final",
                                                   "amended",          "corrected",   "cancelled",
                                                   "entered-in-error", "unknown"};
constexpr std::string_view kGoalLifecycleStatus[] = {"proposed",  "planned",          "accepted",
                                                     "active",    "on-hold",          "completed",
                                                     "cancelled", "entered-in-error", "rejected"};
constexpr std::string_view kEndpointStatus[] = {"active", "suspended",        "error",
                                                "off",    "entered-in-error", "test"};

constexpr CodeRule kPatientCodes[] = {{"gender", false, kGender}};
constexpr CodeRule kCarePlanCodes[] = {{"status", true, kRequestStatus},
                                       {"intent", true, kCarePlanIntent}};
constexpr CodeRule kServiceRequestCodes[] = {{"status", true, kRequestStatus},
                                             {"intent", true, kServiceRequestIntent},
                                             {"priority", false, kRequestPriority}};
constexpr CodeRule kConsentCodes[] = {{"status", true, kConsentStatus}};
constexpr CodeRule kQuestionnaireCodes[] = {{"status", true, kQuestionnaireStatus}};
constexpr CodeRule kQuestionnaireResponseCodes[] = {{"status", true, kQuestionnaireResponseStatus}};
constexpr CodeRule kTaskCodes[] = {{"status", true, kTaskStatus},
                                   {"intent", true, kTaskIntent},
                                   {"priority", false, kRequestPriority}};
constexpr CodeRule kObservationCodes[] = {{"status", true, kObservationStatus}};
constexpr CodeRule kGoalCodes[] = {{"lifecycleStatus", true, kGoalLifecycleStatus}};
constexpr CodeRule kEndpointCodes[] = {{"status", true, kEndpointStatus}};

constexpr RequiredElement kSubject[] = {{"subject", false}};
constexpr RequiredElement kConsentRequired[] = {{"scope", false}, {"category", true}};
constexpr RequiredElement kObservationRequired[] = {{"code", false}};
constexpr RequiredElement kGoalRequired[] = {{"description", false}, {"subject", false}};
constexpr RequiredElement kEndpointRequired[] = {
    {"connectionType", false}, {"payloadType", true}, {"address", false}};

constexpr TypeRules kTypeRules[] = {
    {"Patient", kPatientCodes, {}},
    {"CarePlan", kCarePlanCodes, kSubject},
    {"ServiceRequest", kServiceRequestCodes, kSubject},
    {"Consent", kConsentCodes, kConsentRequired},
    {"Questionnaire", kQuestionnaireCodes, {}},
    {"QuestionnaireResponse", kQuestionnaireResponseCodes, {}},
    {"Task", kTaskCodes, {}},
    {"Observation", kObservationCodes, kObservationRequired},
    {"Condition", {}, kSubject},
    {"Goal", kGoalCodes, kGoalRequired},
    {"Endpoint", kEndpointCodes, kEndpointRequired},
};

const TypeRules* FindRules(std::string_view type) {
  for (const TypeRules& rules : kTypeRules) {
    if (rules.type == type) {
      return &rules;
    }
  }
  return nullptr;
}

// A partner's text in a diagnostic, cut short (on a UTF-8 boundary) when it is long.
std::string Excerpt(std::string_view s) {
  constexpr std::size_t kMax = 64;
  if (s.size() <= kMax) {
    return std::string(s);
  }
  std::size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  return std::string(s.substr(0, cut)) + "...";
}

std::string Quote(std::string_view s) { return "'" + Excerpt(s) + "'"; }

std::string JoinCodes(Codes codes) {
  std::string out;
  for (std::string_view code : codes) {
    if (!out.empty()) {
      out += ", ";
    }
    out += code;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Primitive syntax, per http://hl7.org/fhir/R4/datatypes.html. Hand-written rather than
// std::regex: these run on every element of every write.

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Reads exactly `n` digits at `pos` into `out`.
bool Digits(std::string_view s, std::size_t& pos, int n, int& out) {
  if (pos + n > s.size()) {
    return false;
  }
  out = 0;
  for (int i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (!IsDigit(c)) {
      return false;
    }
    out = out * 10 + (c - '0');
  }
  pos += n;
  return true;
}

bool Expect(std::string_view s, std::size_t& pos, char c) {
  if (pos < s.size() && s[pos] == c) {
    ++pos;
    return true;
  }
  return false;
}

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

enum class DatePrecision { kYear, kMonth, kDay };

// YYYY, YYYY-MM or YYYY-MM-DD (year 0001-9999); the spec also says "Dates SHALL be valid dates".
bool ParseDate(std::string_view s, std::size_t& pos, DatePrecision& precision) {
  int year = 0;
  int month = 0;
  int day = 0;
  if (!Digits(s, pos, 4, year) || year == 0) {
    return false;
  }
  precision = DatePrecision::kYear;
  if (!Expect(s, pos, '-')) {
    return true;
  }
  if (!Digits(s, pos, 2, month) || month < 1 || month > 12) {
    return false;
  }
  precision = DatePrecision::kMonth;
  if (!Expect(s, pos, '-')) {
    return true;
  }
  if (!Digits(s, pos, 2, day) || day < 1 || day > DaysInMonth(year, month)) {
    return false;
  }
  precision = DatePrecision::kDay;
  return true;
}

// Thh:mm:ss(.fff)?(Z|+hh:mm|-hh:mm), the time zone being mandatory in FHIR.
bool ParseTimeAndZone(std::string_view s, std::size_t& pos) {
  int hour = 0;
  int minute = 0;
  int second = 0;
  if (!Expect(s, pos, 'T') || !Digits(s, pos, 2, hour) || hour > 23 || !Expect(s, pos, ':') ||
      !Digits(s, pos, 2, minute) || minute > 59 || !Expect(s, pos, ':') ||
      !Digits(s, pos, 2, second) || second > 60) {
    return false;
  }
  if (Expect(s, pos, '.')) {
    const std::size_t start = pos;
    while (pos < s.size() && IsDigit(s[pos])) {
      ++pos;
    }
    if (pos == start) {
      return false;
    }
  }
  if (Expect(s, pos, 'Z')) {
    return true;
  }
  if (!Expect(s, pos, '+') && !Expect(s, pos, '-')) {
    return false;
  }
  int zone_hour = 0;
  int zone_minute = 0;
  if (!Digits(s, pos, 2, zone_hour) || !Expect(s, pos, ':') || !Digits(s, pos, 2, zone_minute)) {
    return false;
  }
  return (zone_hour <= 13 && zone_minute <= 59) || (zone_hour == 14 && zone_minute == 0);
}

bool IsValidDate(std::string_view s) {
  std::size_t pos = 0;
  DatePrecision precision;
  return ParseDate(s, pos, precision) && pos == s.size();
}

bool IsValidDateTime(std::string_view s) {
  std::size_t pos = 0;
  DatePrecision precision;
  if (!ParseDate(s, pos, precision)) {
    return false;
  }
  if (pos == s.size()) {
    return true;
  }
  return precision == DatePrecision::kDay && ParseTimeAndZone(s, pos) && pos == s.size();
}

bool IsValidInstant(std::string_view s) {
  std::size_t pos = 0;
  DatePrecision precision;
  return ParseDate(s, pos, precision) && precision == DatePrecision::kDay &&
         ParseTimeAndZone(s, pos) && pos == s.size();
}

bool IsValidUuid(std::string_view s) {
  if (s.size() != 36) {
    return false;
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsHex(s[i])) {
      return false;
    }
  }
  return true;
}

// urn:oid: body, [0-2](\.(0|[1-9][0-9]*))+
bool IsValidOid(std::string_view s) {
  if (s.size() < 3 || s[0] < '0' || s[0] > '2' || s[1] != '.') {
    return false;
  }
  std::size_t pos = 1;
  while (pos < s.size()) {
    if (s[pos] != '.') {
      return false;
    }
    ++pos;
    const std::size_t start = pos;
    while (pos < s.size() && IsDigit(s[pos])) {
      ++pos;
    }
    if (pos == start || (s[start] == '0' && pos - start > 1)) {
      return false;
    }
  }
  return true;
}

bool IsValidAbsoluteUrl(std::string_view s) {
  std::string_view rest;
  if (s.starts_with("https://")) {
    rest = s.substr(8);
  } else if (s.starts_with("http://")) {
    rest = s.substr(7);
  } else {
    return false;
  }
  if (rest.empty() || rest[0] == '/') {
    return false;  // no host
  }
  return std::none_of(rest.begin(), rest.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7F;
  });
}

// JSON property names of FHIR elements: letters, digits and '_' (the latter for primitive
// extensions, "_birthDate", and a few names like "fhir_comments").
bool IsValidElementName(std::string_view key) {
  if (key.empty()) {
    return false;
  }
  const auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
  if (!alpha(key[0]) && key[0] != '_') {
    return false;
  }
  return std::all_of(key.begin() + 1, key.end(),
                     [&](char c) { return alpha(c) || IsDigit(c) || c == '_'; });
}

// FHIR json.html: a string is either absent or has at least one non-whitespace character.
bool HasContent(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return c != ' ' && c != '\t' && c != '\r' && c != '\n'; });
}

bool IsPresent(const Value& resource, std::string_view element) {
  const Value* v = resource.Find(element);
  if (v != nullptr && !v->is_null()) {
    return true;
  }
  // A primitive may be present with only extensions (e.g. a data-absent-reason) under "_name".
  std::string shadow = "_";
  shadow += element;
  return resource.Find(shadow) != nullptr;
}

// ---------------------------------------------------------------------------------------------

// Guards the tree walk: parsed documents are bounded by json::Limits::max_depth, but a Value can
// also be built in code.
constexpr int kMaxWalkDepth = 200;

enum class PrimitiveCheck { kNone, kDate, kDateTime, kInstant, kBoolean };

// Elements whose type is the same wherever they appear in R4, so they can be checked without
// per-type structure definitions.
PrimitiveCheck KnownPrimitive(std::string_view key) {
  if (key == "birthDate") {
    return PrimitiveCheck::kDate;
  }
  if (key == "lastUpdated") {
    return PrimitiveCheck::kInstant;
  }
  // "issued" and "recorded" are instants on Observation/AuditEvent but dateTime on Contract;
  // the dateTime check is the one that holds for all of them.
  if (key == "authoredOn" || key == "authored" || key == "issued" || key == "recorded") {
    return PrimitiveCheck::kDateTime;
  }
  if (key == "active" || key == "experimental") {
    return PrimitiveCheck::kBoolean;
  }
  return PrimitiveCheck::kNone;
}

class Validator {
 public:
  explicit Validator(Outcome& outcome) : outcome_(outcome) {}

  // `path` is the FHIRPath of `resource` ("CarePlan" or "CarePlan.contained[0]").
  void ValidateResourceBody(const Value& resource, std::string_view type, std::string& path,
                            bool contained) {
    if (const Value* id = resource.Find("id")) {
      if (!id->is_string() || !IsValidId(id->text())) {
        Error(IssueType::kValue, path + ".id",
              "id must be 1-64 characters of A-Z, a-z, 0-9, '-' and '.'");
      }
    } else if (contained) {
      Error(IssueType::kRequired, path + ".id",
            "a contained resource needs an id to be referenced by");
    }
    if (const Value* meta = resource.Find("meta"); meta != nullptr && meta->is_object()) {
      if (const Value* version = meta->Find("versionId")) {
        if (!version->is_string() || !IsValidId(version->text())) {
          Error(IssueType::kValue, path + ".meta.versionId", "versionId must be a valid id");
        }
      }
    }
    CheckTypeRules(resource, type, path);

    for (std::size_t i = 0; i < resource.members().size(); ++i) {
      const Member& m = resource.members()[i];
      if (m.key == "contained") {
        const std::size_t size = path.size();
        path += ".contained";
        if (contained) {
          Error(IssueType::kStructure, path, "a contained resource cannot contain resources");
        } else {
          CheckContained(m.value, path);
        }
        path.resize(size);
        continue;
      }
      if (m.key == "resourceType") {
        continue;
      }
      WalkMember(resource, m, path, 1);
    }
  }

 private:
  // A partner can make a resource with a million empty strings; the outcome stays readable (and
  // small) by stopping after kMaxIssues.
  void Error(IssueType type, std::string expression, std::string diagnostics) {
    if (full()) {
      return;
    }
    if (++errors_ == kMaxIssues) {
      outcome_.Error(
          IssueType::kTooCostly, "",
          "more than " + std::to_string(kMaxIssues - 1) + " problems; validation stopped here");
      return;
    }
    outcome_.Error(type, std::move(expression), std::move(diagnostics));
  }

  bool full() const { return errors_ >= kMaxIssues; }

  void CheckTypeRules(const Value& resource, std::string_view type, const std::string& path) {
    const TypeRules* rules = FindRules(type);
    if (rules == nullptr) {
      return;
    }
    for (const CodeRule& rule : rules->codes) {
      const std::string where = path + "." + std::string(rule.element);
      const Value* v = resource.Find(rule.element);
      if (v == nullptr || v->is_null()) {
        if (rule.required && !IsPresent(resource, rule.element)) {
          Error(IssueType::kRequired, where, where + " is required");
        }
        continue;
      }
      if (!v->is_string()) {
        Error(IssueType::kStructure, where, where + " must be a code (a JSON string)");
        continue;
      }
      if (std::find(rule.codes.begin(), rule.codes.end(), v->text()) == rule.codes.end()) {
        Error(IssueType::kCodeInvalid, where,
              Quote(v->text()) + " is not a valid " + where + " (expected one of " +
                  JoinCodes(rule.codes) + ")");
      }
    }
    for (const RequiredElement& rule : rules->required) {
      const std::string where = path + "." + std::string(rule.element);
      if (!IsPresent(resource, rule.element)) {
        Error(IssueType::kRequired, where,
              where + " is required" + (rule.repeats ? " (at least one)" : ""));
        continue;
      }
      const Value* v = resource.Find(rule.element);
      if (rule.repeats && v != nullptr && !v->is_array()) {
        Error(IssueType::kStructure, where, where + " repeats, so it must be a JSON array");
      }
    }
  }

  void CheckContained(const Value& list, std::string& path) {
    if (!list.is_array()) {
      Error(IssueType::kStructure, path, "contained must be an array of resources");
      return;
    }
    const std::size_t size = path.size();
    for (std::size_t i = 0; i < list.items().size(); ++i) {
      const Value& item = list.items()[i];
      path += '[';
      path += std::to_string(i);
      path += ']';
      if (!item.is_object()) {
        Error(IssueType::kStructure, path, "a contained resource must be a JSON object");
      } else {
        const Value* type = item.Find("resourceType");
        if (type == nullptr || !type->is_string() || !IsR4ResourceType(type->text())) {
          Error(IssueType::kStructure, path + ".resourceType",
                "a contained resource needs the resourceType of an R4 resource");
        } else {
          ValidateResourceBody(item, type->text(), path, /*contained=*/true);
        }
      }
      path.resize(size);
    }
    if (list.items().empty()) {
      Error(IssueType::kStructure, path, "arrays must not be empty; leave the element out");
    }
  }

  void WalkMember(const Value& parent, const Member& m, std::string& path, int depth) {
    if (full()) {
      return;
    }
    const std::size_t size = path.size();
    path += '.';
    if (!IsValidElementName(m.key)) {
      // Not an element, so nothing below it can be named either; report it and move on.
      path += Excerpt(m.key);
      Error(IssueType::kStructure, path, Quote(m.key) + " is not a valid FHIR element name");
      path.resize(size);
      return;
    }
    path += m.key;
    if (m.key[0] == '_') {
      CheckPrimitiveExtension(m.value, path);
    }
    const Value& v = m.value;
    switch (v.kind()) {
      case Kind::kNull:
        Error(IssueType::kStructure, path,
              "null is not allowed here; leave the element out (null only pads arrays of "
              "primitives that have extensions)");
        break;
      case Kind::kArray: {
        if (v.items().empty()) {
          Error(IssueType::kStructure, path, "arrays must not be empty; leave the element out");
        }
        // Nulls keep "given" and "_given" aligned when only some items have extensions.
        const bool nulls_allowed = m.key[0] == '_' || parent.Find("_" + m.key) != nullptr;
        for (std::size_t i = 0; i < v.items().size(); ++i) {
          const Value& item = v.items()[i];
          const std::size_t item_size = path.size();
          path += '[';
          path += std::to_string(i);
          path += ']';
          if (item.is_null()) {
            if (!nulls_allowed) {
              Error(IssueType::kStructure, path,
                    "null is only allowed in arrays of primitives that have extensions");
            }
          } else if (item.is_array()) {
            Error(IssueType::kStructure, path, "FHIR JSON has no arrays of arrays");
          } else {
            CheckLeafOrWalk(m.key, item, path, depth);
          }
          path.resize(item_size);
        }
        break;
      }
      default:
        CheckLeafOrWalk(m.key, v, path, depth);
        break;
    }
    path.resize(size);
  }

  // `value` is a member's value or one item of its array.
  void CheckLeafOrWalk(std::string_view key, const Value& value, std::string& path, int depth) {
    switch (value.kind()) {
      case Kind::kString:
        if (!HasContent(value.text())) {
          Error(IssueType::kValue, path,
                "strings must not be empty or only whitespace; leave the element out");
          return;
        }
        if (key == "reference" && !IsValidReferenceText(value.text())) {
          Error(IssueType::kValue, path,
                Quote(value.text()) +
                    " is not a valid reference (expected Type/id, Type/id/_history/vid, an "
                    "absolute URL, #local, urn:uuid: or urn:oid:)");
          return;
        }
        break;
      case Kind::kObject:
        if (depth >= kMaxWalkDepth) {
          Error(IssueType::kTooCostly, path, "resource nested too deeply to validate");
          return;
        }
        if (value.members().empty()) {
          Error(IssueType::kStructure, path, "objects must not be empty; leave the element out");
          return;
        }
        for (const Member& child : value.members()) {
          WalkMember(value, child, path, depth + 1);
        }
        return;
      default:
        break;
    }
    CheckKnownPrimitive(key, value, path);
  }

  void CheckKnownPrimitive(std::string_view key, const Value& value, const std::string& path) {
    const PrimitiveCheck check = KnownPrimitive(key);
    if (check == PrimitiveCheck::kNone) {
      return;
    }
    if (check == PrimitiveCheck::kBoolean) {
      if (!value.is_bool()) {
        Error(IssueType::kValue, path, "must be JSON true or false");
      }
      return;
    }
    if (!value.is_string()) {
      Error(IssueType::kValue, path, "must be a JSON string");
      return;
    }
    const std::string& s = value.text();
    switch (check) {
      case PrimitiveCheck::kDate:
        if (!IsValidDate(s)) {
          Error(IssueType::kValue, path,
                Quote(s) + " is not a valid date (YYYY, YYYY-MM, YYYY-MM-DD)");
        }
        break;
      case PrimitiveCheck::kDateTime:
        if (!IsValidDateTime(s)) {
          Error(IssueType::kValue, path,
                Quote(s) +
                    " is not a valid dateTime (YYYY, YYYY-MM, YYYY-MM-DD or "
                    "YYYY-MM-DDThh:mm:ss with a time zone)");
        }
        break;
      case PrimitiveCheck::kInstant:
        if (!IsValidInstant(s)) {
          Error(IssueType::kValue, path,
                Quote(s) + " is not a valid instant (YYYY-MM-DDThh:mm:ss(.sss) with a time zone)");
        }
        break;
      default:
        break;
    }
  }

  void CheckPrimitiveExtension(const Value& v, const std::string& path) {
    const bool ok =
        v.is_object() ||
        (v.is_array() && std::all_of(v.items().begin(), v.items().end(), [](const Value& item) {
           return item.is_object() || item.is_null();
         }));
    if (!ok) {
      Error(IssueType::kStructure, path,
            "a primitive's extension member (\"_name\") must be an object, or an array of "
            "objects and nulls");
    }
  }

  static constexpr std::size_t kMaxIssues = 101;

  Outcome& outcome_;
  std::size_t errors_ = 0;
};

}  // namespace

std::span<const ResourceTypeInfo> SupportedTypes() { return kSupportedTypes; }

const ResourceTypeInfo* FindSupportedType(std::string_view name) {
  for (const ResourceTypeInfo& info : kSupportedTypes) {
    if (info.name == name) {
      return &info;
    }
  }
  return nullptr;
}

bool IsR4ResourceType(std::string_view name) {
  return std::binary_search(kR4ResourceTypes.begin(), kR4ResourceTypes.end(), name);
}

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > 64) {
    return false;
  }
  // "." and ".." match the spec's regex, but as a path segment ("Patient/..") they walk up a
  // directory in URLs, file stores and proxies; no legitimate id looks like that.
  if (id == "." || id == "..") {
    return false;
  }
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || IsDigit(c) || c == '-' || c == '.';
  });
}

bool IsValidReferenceText(std::string_view reference) {
  if (reference.empty()) {
    return false;
  }
  if (reference[0] == '#') {
    // "#" alone points at the containing resource (R4 contained resources can reference it).
    return reference.size() == 1 || IsValidId(reference.substr(1));
  }
  if (reference.starts_with("urn:uuid:")) {
    return IsValidUuid(reference.substr(9));
  }
  if (reference.starts_with("urn:oid:")) {
    return IsValidOid(reference.substr(8));
  }
  if (reference.starts_with("http://") || reference.starts_with("https://")) {
    return IsValidAbsoluteUrl(reference);
  }
  // Relative: Type/id or Type/id/_history/vid.
  const std::size_t slash = reference.find('/');
  if (slash == std::string_view::npos) {
    return false;
  }
  if (!IsR4ResourceType(reference.substr(0, slash))) {
    return false;
  }
  std::string_view rest = reference.substr(slash + 1);
  const std::size_t next = rest.find('/');
  if (next == std::string_view::npos) {
    return IsValidId(rest);
  }
  if (!IsValidId(rest.substr(0, next))) {
    return false;
  }
  rest = rest.substr(next);
  constexpr std::string_view kHistory = "/_history/";
  return rest.starts_with(kHistory) && IsValidId(rest.substr(kHistory.size()));
}

bool ValidateResource(const json::Value& resource, std::string_view expected_type,
                      Outcome& outcome) {
  Outcome found;
  if (!resource.is_object()) {
    found.Error(IssueType::kStructure, std::string(expected_type),
                "a resource must be a JSON object");
    outcome.Append(found);
    return false;
  }
  const Value* type = resource.Find("resourceType");
  if (type == nullptr) {
    found.Error(IssueType::kRequired, std::string(expected_type),
                "resourceType is missing (expected \"" + std::string(expected_type) + "\")");
  } else if (!type->is_string()) {
    found.Error(IssueType::kStructure, std::string(expected_type) + ".resourceType",
                "resourceType must be a string");
  } else if (type->text() != expected_type) {
    found.Error(IssueType::kInvalid, std::string(expected_type) + ".resourceType",
                "resourceType is \"" + type->text() + "\" but \"" + std::string(expected_type) +
                    "\" was expected here");
  }
  if (found.HasErrors()) {
    outcome.Append(found);
    return false;
  }
  std::string path(expected_type);
  Validator(found).ValidateResourceBody(resource, expected_type, path, /*contained=*/false);
  const bool ok = !found.HasErrors();
  outcome.Append(found);
  return ok;
}

std::optional<std::string> PatientIdOf(std::string_view type, const json::Value& resource) {
  if (type == "Patient") {
    std::string_view id = resource.StringAt("id");
    if (IsValidId(id)) {
      return std::string(id);
    }
    return std::nullopt;
  }
  for (std::string_view element : {"subject", "patient", "for", "beneficiary"}) {
    const Value* ref = resource.Find(element);
    if (ref == nullptr || !ref->is_object()) {
      continue;
    }
    std::string_view text = ref->StringAt("reference");
    constexpr std::string_view kPrefix = "Patient/";
    if (!text.starts_with(kPrefix)) {
      continue;
    }
    text.remove_prefix(kPrefix.size());
    // A versioned reference still names the patient: "Patient/1/_history/2".
    if (const std::size_t slash = text.find('/'); slash != std::string_view::npos) {
      if (text.substr(slash).starts_with("/_history/")) {
        text = text.substr(0, slash);
      } else {
        continue;
      }
    }
    if (IsValidId(text)) {
      return std::string(text);
    }
  }
  return std::nullopt;
}

void SetResourceId(json::Value& resource, std::string id) {
  if (Value* existing = resource.Find("id")) {
    *existing = Value::String(std::move(id));
  } else {
    resource.SetAt(1, "id", Value::String(std::move(id)));
  }
}

UnstampedJson WriteUnstamped(json::Value resource) {
  std::vector<Member>& members = resource.members();
  Value meta = Value::Object();
  std::optional<std::size_t> found;
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (members[i].key == "meta") {
      if (members[i].value.is_object()) {
        meta = std::move(members[i].value);
      }
      members.erase(members.begin() + static_cast<std::ptrdiff_t>(i));
      found = i;
      break;
    }
  }
  std::size_t meta_index = 0;
  if (found) {
    meta_index = *found;
  } else {
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (members[i].key == "id") {
        meta_index = i + 1;
        break;
      }
      if (members[i].key == "resourceType") {
        meta_index = i + 1;  // keep looking: "id" wins if it comes later
      }
    }
  }
  meta.Remove("versionId");
  meta.Remove("lastUpdated");

  UnstampedJson out;
  Value head = Value::Object();
  head.members().assign(
      std::make_move_iterator(members.begin()),
      std::make_move_iterator(members.begin() + static_cast<std::ptrdiff_t>(meta_index)));
  json::Write(head, out.text);
  out.text.pop_back();  // the head's '}': the rest follows
  out.meta_at = out.text.size();
  Value tail = Value::Object();
  tail.members().assign(
      std::make_move_iterator(members.begin() + static_cast<std::ptrdiff_t>(meta_index)),
      std::make_move_iterator(members.end()));
  const std::string rest = json::Write(tail);
  if (rest.size() > 2 && meta_index > 0) {
    out.text += ',';
  }
  out.text.append(rest, 1);
  if (!meta.members().empty()) {
    out.meta_rest = json::Write(meta);
    out.meta_rest.front() = ',';
    out.meta_rest.pop_back();
  }
  return out;
}

std::string Stamped(const UnstampedJson& json, std::string_view version_id,
                    std::string_view last_updated) {
  const std::string& text = json.text;
  const bool first = json.meta_at > 0 && text[json.meta_at - 1] == '{';
  const bool last = json.meta_at < text.size() && text[json.meta_at] == '}';
  std::string out;
  out.reserve(text.size() + json.meta_rest.size() + version_id.size() + last_updated.size() + 48);
  out.append(text, 0, json.meta_at);
  if (!first) {
    out += ',';
  }
  out.append(R"("meta":{"versionId":")").append(version_id);
  out.append(R"(","lastUpdated":")").append(last_updated).append("\"");
  out.append(json.meta_rest).append("}");
  if (first && !last) {
    out += ',';
  }
  out.append(text, json.meta_at);
  return out;
}

std::string LocalId(std::string_view reference, std::string_view type) {
  if (reference.size() <= type.size() || !reference.starts_with(type) ||
      reference[type.size()] != '/') {
    return "";
  }
  std::string_view id = reference.substr(type.size() + 1);
  return std::string(id.substr(0, id.find('/')));
}

std::string_view ReferenceAt(const json::Value& resource, std::string_view element) {
  const json::Value* v = resource.Find(element);
  if (v != nullptr && v->is_array() && !v->items().empty()) {
    v = &v->items().front();
  }
  return v != nullptr && v->is_object() ? v->StringAt("reference") : std::string_view();
}

json::Value MakeReference(std::string reference) {
  json::Value value = json::Value::Object();
  value.Set("reference", json::Value::String(std::move(reference)));
  return value;
}

json::Value ParameterPart(std::string name, std::string_view value_element, json::Value value) {
  json::Value part = json::Value::Object();
  part.Set("name", json::Value::String(std::move(name)));
  part.Set(std::string(value_element), std::move(value));
  return part;
}

json::Value ParameterGroup(std::string name, json::Value parts) {
  json::Value group = json::Value::Object();
  group.Set("name", json::Value::String(std::move(name)));
  group.Set("part", std::move(parts));
  return group;
}

json::Value ParameterText(std::string name, std::string_view value_element, std::string value) {
  return ParameterPart(std::move(name), value_element, json::Value::String(std::move(value)));
}

json::Value ParameterReference(std::string name, std::string reference) {
  return ParameterPart(std::move(name), "valueReference", MakeReference(std::move(reference)));
}

json::Value ParameterInteger(std::string name, std::int64_t value) {
  return ParameterPart(std::move(name), "valueInteger", json::Value::Number(std::to_string(value)));
}

json::Value MakeParameters(json::Value parameters) {
  json::Value out = json::Value::Object();
  out.Set("resourceType", json::Value::String("Parameters"));
  out.Set("parameter", std::move(parameters));
  return out;
}

}  // namespace carebridge::fhir
