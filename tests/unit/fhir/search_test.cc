#include "fhir/search/search.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fhir/json/json.h"
#include "fhir/json/value.h"
#include "fhir/outcome.h"

namespace carebridge::fhir {
namespace {

constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kDay = 86'400'000;

json::Value Parse(std::string_view text) {
  std::string message;
  auto result = json::Parse(text, json::Limits{}, message);
  EXPECT_TRUE(result.has_value()) << message << " in " << text;
  return result.has_value() ? std::move(*result) : json::Value();
}

std::int64_t Ms(std::string_view text) {
  auto range = DateRange(text);
  EXPECT_TRUE(range.has_value()) << text;
  return range ? range->first : 0;
}

IndexEntry Token(std::string param, std::string system, std::string value) {
  return {std::move(param), ParamType::kToken, std::move(system), std::move(value), 0, 0};
}
IndexEntry Ref(std::string param, std::string system, std::string value) {
  return {std::move(param), ParamType::kReference, std::move(system), std::move(value), 0, 0};
}
IndexEntry Str(std::string param, std::string value) {
  return {std::move(param), ParamType::kString, "", std::move(value), 0, 0};
}

// The rows of one parameter, in order.
std::vector<IndexEntry> RowsOf(const std::vector<IndexEntry>& rows, std::string_view param) {
  std::vector<IndexEntry> out;
  std::copy_if(rows.begin(), rows.end(), std::back_inserter(out),
               [param](const IndexEntry& e) { return e.param == param; });
  return out;
}

std::optional<SearchQuery> Query(std::string_view type,
                                 std::vector<std::pair<std::string, std::string>> params,
                                 Outcome& outcome, const SearchLimits& limits = {}) {
  return ParseSearchQuery(type, params, limits, outcome);
}

// Parses a query expected to fail and returns its single error.
Issue QueryError(std::string_view type, std::vector<std::pair<std::string, std::string>> params) {
  Outcome outcome;
  EXPECT_FALSE(Query(type, std::move(params), outcome).has_value());
  EXPECT_EQ(outcome.issues().size(), 1u);
  return outcome.issues().empty() ? Issue{} : outcome.issues().front();
}

// ---------------------------------------------------------------------------------------------
// DateRange

TEST(DateRange, YearMonthDayPrecision) {
  EXPECT_EQ(DateRange("1970"), (std::pair<std::int64_t, std::int64_t>{0, 365 * kDay}));
  EXPECT_EQ(DateRange("1970-02"), (std::pair<std::int64_t, std::int64_t>{31 * kDay, 59 * kDay}));
  EXPECT_EQ(DateRange("1970-01-02"), (std::pair<std::int64_t, std::int64_t>{kDay, 2 * kDay}));
  EXPECT_EQ(DateRange("2024-12")->second, Ms("2025-01-01"));
  EXPECT_EQ(DateRange("2024")->second, Ms("2025"));
  // 2024-01-01 is 19723 days after the epoch.
  EXPECT_EQ(Ms("2024-01-01"), 19723 * kDay);
  EXPECT_EQ(Ms("1969-12-31"), -kDay);
}

TEST(DateRange, LeapYears) {
  EXPECT_TRUE(DateRange("2024-02-29").has_value());
  EXPECT_TRUE(DateRange("2000-02-29").has_value());
  EXPECT_FALSE(DateRange("2023-02-29").has_value());
  EXPECT_FALSE(DateRange("1900-02-29").has_value());
  EXPECT_EQ(DateRange("2024-02")->second - DateRange("2024-02")->first, 29 * kDay);
  EXPECT_EQ(DateRange("2023-02")->second - DateRange("2023-02")->first, 28 * kDay);
  EXPECT_EQ(DateRange("2024")->second - DateRange("2024")->first, 366 * kDay);
  EXPECT_EQ(Ms("2024-03-01") - Ms("2024-02-28"), 2 * kDay);
}

TEST(DateRange, TimesAndZones) {
  const std::int64_t midnight = Ms("2024-01-01");
  EXPECT_EQ(DateRange("2024-01-01T00:00:00Z"),
            (std::pair<std::int64_t, std::int64_t>{midnight, midnight + 1000}));
  EXPECT_EQ(Ms("2024-01-01T00:00:00+02:00"), Ms("2023-12-31T22:00:00Z"));
  EXPECT_EQ(Ms("2024-01-01T00:00:00-05:30"), Ms("2024-01-01T05:30:00Z"));
  EXPECT_EQ(Ms("2024-01-01T10:20:30"), Ms("2024-01-01T10:20:30Z"));  // no zone: UTC
  EXPECT_EQ(Ms("2024-01-01T10:20:30Z"), midnight + ((10 * 60 + 20) * 60 + 30) * 1000);
  EXPECT_EQ(Ms("2024-01-01T00:00:00+14:00"), midnight - 14 * 3'600'000);
}

TEST(DateRange, FractionsAndMinutes) {
  const std::int64_t base = Ms("2024-05-06T07:08:09Z");
  EXPECT_EQ(DateRange("2024-05-06T07:08:09.123Z"),
            (std::pair<std::int64_t, std::int64_t>{base + 123, base + 124}));
  EXPECT_EQ(DateRange("2024-05-06T07:08:09.5Z"),
            (std::pair<std::int64_t, std::int64_t>{base + 500, base + 600}));
  EXPECT_EQ(DateRange("2024-05-06T07:08:09.12Z"),
            (std::pair<std::int64_t, std::int64_t>{base + 120, base + 130}));
  EXPECT_EQ(DateRange("2024-05-06T07:08:09.123456+00:00"),
            (std::pair<std::int64_t, std::int64_t>{base + 123, base + 124}));
  // Minutes only: lenient for search values.
  EXPECT_EQ(DateRange("2024-05-06T07:08"),
            (std::pair<std::int64_t, std::int64_t>{base - 9000, base - 9000 + 60'000}));
  EXPECT_EQ(Ms("2024-05-06T07:08+01:00"), base - 9000 - 3'600'000);
}

TEST(DateRange, RejectsMalformed) {
  for (std::string_view bad : {"",
                               "24",
                               "202",
                               "20245",
                               "2024-",
                               "2024-1",
                               "2024-13",
                               "2024-00",
                               "2024-01-32",
                               "2024-04-31",
                               "2024-01-00",
                               "2024-01-01T",
                               "2024-01-01T24:00:00Z",
                               "2024-01-01T12",
                               "2024-01-01T12:60",
                               "2024-01-01T12:00:61Z",
                               "2024-01-01T12:00:00.Z",
                               "2024-01-01T12:00:00+2:00",
                               "2024-01-01T12:00:00+15:00",
                               "2024-01-01T12:00:00+14:30",
                               "2024-01-01T12:00:00+01:60",
                               "2024-01-01T12:00:00X",
                               "2024-01-01Z",
                               "0000",
                               "2024-01-01 12:00:00Z",
                               "abcd",
                               "2024/01/01",
                               "2024-01-01T12:00:00Zjunk",
                               "-2024"}) {
    EXPECT_FALSE(DateRange(bad).has_value()) << bad;
  }
}

// ---------------------------------------------------------------------------------------------
// Parameter registry

TEST(SearchParams, EveryTypeHasIdAndLastUpdated) {
  for (std::string_view type : {"Patient", "CarePlan", "ServiceRequest", "Consent", "Questionnaire",
                                "QuestionnaireResponse", "Task", "Observation", "Condition", "Goal",
                                "Organization", "HealthcareService", "Endpoint", "AuditEvent"}) {
    ASSERT_FALSE(ParamsFor(type).empty()) << type;
    const SearchParamDef* id = FindParam(type, "_id");
    ASSERT_NE(id, nullptr) << type;
    EXPECT_EQ(id->type, ParamType::kToken);
    const SearchParamDef* last_updated = FindParam(type, "_lastUpdated");
    ASSERT_NE(last_updated, nullptr) << type;
    EXPECT_EQ(last_updated->type, ParamType::kDate);
    const SearchParamDef* identifier = FindParam(type, "identifier");
    if (type == "AuditEvent") {
      EXPECT_EQ(identifier, nullptr);
    } else {
      ASSERT_NE(identifier, nullptr) << type;
      EXPECT_EQ(identifier->type, ParamType::kToken);
    }
    // Names are unique within a type.
    std::vector<std::string_view> names;
    for (const SearchParamDef& def : ParamsFor(type)) {
      EXPECT_EQ(std::count(names.begin(), names.end(), def.name), 0) << type << " " << def.name;
      names.push_back(def.name);
      EXPECT_FALSE(def.paths.empty()) << type << " " << def.name;
    }
  }
  EXPECT_TRUE(ParamsFor("Medication").empty());
  EXPECT_EQ(FindParam("Patient", "nope"), nullptr);
  EXPECT_EQ(FindParam("Nope", "_id"), nullptr);
}

TEST(SearchParams, KeyDefinitions) {
  struct Expect {
    std::string_view type, name;
    ParamType param_type;
    std::string_view first_path, target;
  };
  for (const Expect& e : std::vector<Expect>{
           {"Patient", "birthdate", ParamType::kDate, "birthDate", ""},
           {"Patient", "name", ParamType::kString, "name", ""},
           {"CarePlan", "patient", ParamType::kReference, "subject", "Patient"},
           {"CarePlan", "date", ParamType::kDate, "period", ""},
           {"ServiceRequest", "authored", ParamType::kDate, "authoredOn", ""},
           {"ServiceRequest", "occurrence", ParamType::kDate, "occurrence", ""},
           {"Consent", "actor", ParamType::kReference, "provision.actor.reference", ""},
           {"Consent", "consentor", ParamType::kReference, "performer", ""},
           {"Consent", "security-label", ParamType::kToken, "provision.securityLabel", ""},
           {"Questionnaire", "url", ParamType::kUri, "url", ""},
           {"Questionnaire", "code", ParamType::kToken, "item.code", ""},
           {"QuestionnaireResponse", "questionnaire", ParamType::kReference, "questionnaire", ""},
           {"Task", "patient", ParamType::kReference, "for", "Patient"},
           {"Task", "modified", ParamType::kDate, "lastModified", ""},
           {"Task", "business-status", ParamType::kToken, "businessStatus", ""},
           {"Task", "period", ParamType::kDate, "executionPeriod", ""},
           {"Observation", "date", ParamType::kDate, "effective", ""},
           {"Observation", "value-concept", ParamType::kToken, "valueCodeableConcept", ""},
           {"Condition", "onset-date", ParamType::kDate, "onset", ""},
           {"Goal", "target-date", ParamType::kDate, "target.due", ""},
           {"Organization", "partof", ParamType::kReference, "partOf", ""},
           {"HealthcareService", "organization", ParamType::kReference, "providedBy", ""},
           {"Endpoint", "organization", ParamType::kReference, "managingOrganization", ""},
           {"AuditEvent", "date", ParamType::kDate, "recorded", ""},
           {"AuditEvent", "source", ParamType::kReference, "source.observer", ""},
       }) {
    const SearchParamDef* def = FindParam(e.type, e.name);
    ASSERT_NE(def, nullptr) << e.type << "." << e.name;
    EXPECT_EQ(def->type, e.param_type) << e.type << "." << e.name;
    EXPECT_EQ(def->paths.front(), e.first_path) << e.type << "." << e.name;
    EXPECT_EQ(def->target_type, e.target) << e.type << "." << e.name;
  }
}

// ---------------------------------------------------------------------------------------------
// ExtractIndex

TEST(SearchExtract, PatientNamesIdentifiersGender) {
  json::Value patient = Parse(R"({
    "resourceType": "Patient", "id": "p1",
    "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-1"},
                   {"system": "urn:oid:1.2.3", "value": "MRN-1"},
                   {"value": "no-system"}],
    "name": [{"family": "O'Brien", "given": ["Mary", "Ann"], "text": "Mary Ann O'Brien"},
             {"family": "Smith"}],
    "gender": "female", "birthDate": "1980-02-29",
    "telecom": [{"system": "phone", "value": "555"}]})");
  std::vector<IndexEntry> rows = ExtractIndex("Patient", patient);
  EXPECT_EQ(RowsOf(rows, "identifier"),
            (std::vector<IndexEntry>{Token("identifier", "urn:oid:1.2.3", "MRN-1"),
                                     Token("identifier", "", "no-system")}));
  EXPECT_EQ(
      RowsOf(rows, "name"),
      (std::vector<IndexEntry>{Str("name", "o'brien"), Str("name", "mary"), Str("name", "ann"),
                               Str("name", "mary ann o'brien"), Str("name", "smith")}));
  EXPECT_EQ(RowsOf(rows, "family"),
            (std::vector<IndexEntry>{Str("family", "o'brien"), Str("family", "smith")}));
  EXPECT_EQ(RowsOf(rows, "given"),
            (std::vector<IndexEntry>{Str("given", "mary"), Str("given", "ann")}));
  EXPECT_EQ(RowsOf(rows, "gender"), (std::vector<IndexEntry>{Token("gender", "", "female")}));
  std::vector<IndexEntry> birth = RowsOf(rows, "birthdate");
  ASSERT_EQ(birth.size(), 1u);
  EXPECT_EQ(birth[0].type, ParamType::kDate);
  EXPECT_EQ(birth[0].low, Ms("1980-02-29"));
  EXPECT_EQ(birth[0].high, Ms("1980-03-01"));
  // _id and _lastUpdated live in store columns.
  EXPECT_TRUE(RowsOf(rows, "_id").empty());
  EXPECT_TRUE(RowsOf(rows, "_lastUpdated").empty());
}

TEST(SearchExtract, ReferenceForms) {
  json::Value sr = Parse(R"({
    "resourceType": "ServiceRequest", "status": "active", "intent": "order",
    "subject": {"reference": "Patient/p1/_history/3"},
    "requester": {"reference": "https://ehr.example.org/fhir/Practitioner/dr-1"},
    "performer": [{"reference": "#org1"}, {"reference": "urn:uuid:0b7a1c5e-1111-2222-3333-444455556666"},
                  {"identifier": {"value": "logical"}}, {"display": "only a name"}],
    "basedOn": [{"reference": "CarePlan/cp1"}]})");
  std::vector<IndexEntry> rows = ExtractIndex("ServiceRequest", sr);
  EXPECT_EQ(RowsOf(rows, "patient"), (std::vector<IndexEntry>{Ref("patient", "Patient", "p1")}));
  EXPECT_EQ(RowsOf(rows, "subject"), (std::vector<IndexEntry>{Ref("subject", "Patient", "p1")}));
  EXPECT_EQ(RowsOf(rows, "requester"),
            (std::vector<IndexEntry>{
                Ref("requester", "", "https://ehr.example.org/fhir/Practitioner/dr-1")}));
  EXPECT_EQ(RowsOf(rows, "performer"),
            (std::vector<IndexEntry>{
                Ref("performer", "", "#org1"),
                Ref("performer", "", "urn:uuid:0b7a1c5e-1111-2222-3333-444455556666")}));
  EXPECT_EQ(RowsOf(rows, "based-on"),
            (std::vector<IndexEntry>{Ref("based-on", "CarePlan", "cp1")}));
  EXPECT_EQ(RowsOf(rows, "status"), (std::vector<IndexEntry>{Token("status", "", "active")}));
}

TEST(SearchExtract, PatientParamOnlyTakesPatients) {
  json::Value group_subject = Parse(R"({"resourceType": "CarePlan",
    "subject": {"reference": "Group/g1"}})");
  std::vector<IndexEntry> rows = ExtractIndex("CarePlan", group_subject);
  EXPECT_TRUE(RowsOf(rows, "patient").empty());
  EXPECT_EQ(RowsOf(rows, "subject"), (std::vector<IndexEntry>{Ref("subject", "Group", "g1")}));

  json::Value absolute = Parse(R"({"resourceType": "CarePlan",
    "subject": {"reference": "http://other.example/fhir/Patient/p9"}})");
  EXPECT_EQ(RowsOf(ExtractIndex("CarePlan", absolute), "patient"),
            (std::vector<IndexEntry>{Ref("patient", "", "http://other.example/fhir/Patient/p9")}));

  // A urn reference counts for patient only when Reference.type says Patient.
  json::Value typed = Parse(R"({"resourceType": "Task",
    "for": {"reference": "urn:uuid:abc", "type": "Patient"}})");
  EXPECT_EQ(RowsOf(ExtractIndex("Task", typed), "patient"),
            (std::vector<IndexEntry>{Ref("patient", "", "urn:uuid:abc")}));
  json::Value untyped = Parse(R"({"resourceType": "Task", "for": {"reference": "urn:uuid:abc"}})");
  EXPECT_TRUE(RowsOf(ExtractIndex("Task", untyped), "patient").empty());
  EXPECT_EQ(RowsOf(ExtractIndex("Task", untyped), "subject"),
            (std::vector<IndexEntry>{Ref("subject", "", "urn:uuid:abc")}));
}

TEST(SearchExtract, TokenShapes) {
  json::Value obs = Parse(R"({
    "resourceType": "Observation", "status": "final",
    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                              "code": "social-history"},
                             {"system": "http://hl7.org/fhir/us/sdoh", "code": "sdoh"}],
                  "text": "SDOH"},
                 {"text": "only text"}],
    "code": {"coding": [{"system": "http://loinc.org", "code": "93025-5"},
                        {"display": "no code"}]},
    "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "LA31993-1"}]},
    "effectiveDateTime": "2024-03-01T10:00:00Z"})");
  std::vector<IndexEntry> rows = ExtractIndex("Observation", obs);
  EXPECT_EQ(RowsOf(rows, "category"),
            (std::vector<IndexEntry>{
                Token("category", "http://terminology.hl7.org/CodeSystem/observation-category",
                      "social-history"),
                Token("category", "http://hl7.org/fhir/us/sdoh", "sdoh")}));
  EXPECT_EQ(RowsOf(rows, "code"),
            (std::vector<IndexEntry>{Token("code", "http://loinc.org", "93025-5")}));
  EXPECT_EQ(RowsOf(rows, "value-concept"),
            (std::vector<IndexEntry>{Token("value-concept", "http://loinc.org", "LA31993-1")}));
  EXPECT_EQ(RowsOf(rows, "status"), (std::vector<IndexEntry>{Token("status", "", "final")}));

  // Coding (AuditEvent.type) and code primitives (AuditEvent.action).
  json::Value audit = Parse(R"({
    "resourceType": "AuditEvent",
    "type": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110112"},
    "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}],
    "action": "R", "outcome": "0", "recorded": "2024-06-01T12:00:00.250Z",
    "purposeOfEvent": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                    "code": "TREAT"}]}],
    "agent": [{"who": {"reference": "Organization/o1"},
               "purposeOfUse": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                             "code": "HPAYMT"}]}]},
              {"who": {"reference": "Patient/p1"}}],
    "source": {"observer": {"reference": "Device/gw"}},
    "entity": [{"what": {"reference": "Patient/p2"}}, {"what": {"reference": "Consent/c1"}}]})");
  rows = ExtractIndex("AuditEvent", audit);
  EXPECT_EQ(RowsOf(rows, "type"),
            (std::vector<IndexEntry>{
                Token("type", "http://dicom.nema.org/resources/ontology/DCM", "110112")}));
  EXPECT_EQ(RowsOf(rows, "subtype"),
            (std::vector<IndexEntry>{
                Token("subtype", "http://hl7.org/fhir/restful-interaction", "read")}));
  EXPECT_EQ(RowsOf(rows, "action"), (std::vector<IndexEntry>{Token("action", "", "R")}));
  EXPECT_EQ(RowsOf(rows, "outcome"), (std::vector<IndexEntry>{Token("outcome", "", "0")}));
  EXPECT_EQ(RowsOf(rows, "purpose"),
            (std::vector<IndexEntry>{
                Token("purpose", "http://terminology.hl7.org/CodeSystem/v3-ActReason", "TREAT"),
                Token("purpose", "http://terminology.hl7.org/CodeSystem/v3-ActReason", "HPAYMT")}));
  EXPECT_EQ(RowsOf(rows, "agent"), (std::vector<IndexEntry>{Ref("agent", "Organization", "o1"),
                                                            Ref("agent", "Patient", "p1")}));
  EXPECT_EQ(RowsOf(rows, "entity"), (std::vector<IndexEntry>{Ref("entity", "Patient", "p2"),
                                                             Ref("entity", "Consent", "c1")}));
  EXPECT_EQ(RowsOf(rows, "patient"), (std::vector<IndexEntry>{Ref("patient", "Patient", "p1"),
                                                              Ref("patient", "Patient", "p2")}));
  EXPECT_EQ(RowsOf(rows, "source"), (std::vector<IndexEntry>{Ref("source", "Device", "gw")}));
  std::vector<IndexEntry> date = RowsOf(rows, "date");
  ASSERT_EQ(date.size(), 1u);
  EXPECT_EQ(date[0].low, Ms("2024-06-01T12:00:00Z") + 250);
  EXPECT_EQ(date[0].high, Ms("2024-06-01T12:00:00Z") + 251);
}

TEST(SearchExtract, BooleanAndQuantityTokens) {
  // No boolean search parameter is in the registry; a token path reaching a Quantity is skipped.
  json::Value q = Parse(R"({"resourceType": "Observation",
    "valueCodeableConcept": {"value": 5, "system": "http://unitsofmeasure.org", "code": "mg"}})");
  EXPECT_TRUE(RowsOf(ExtractIndex("Observation", q), "value-concept").empty());
}

TEST(SearchExtract, ChoiceTypesAndPeriods) {
  json::Value period_obs = Parse(R"({"resourceType": "Observation",
    "effectivePeriod": {"start": "2024-01-01", "end": "2024-01-31T12:00:00Z"}})");
  std::vector<IndexEntry> date = RowsOf(ExtractIndex("Observation", period_obs), "date");
  ASSERT_EQ(date.size(), 1u);
  EXPECT_EQ(date[0].low, Ms("2024-01-01"));
  EXPECT_EQ(date[0].high, Ms("2024-01-31T12:00:01Z"));

  json::Value instant_obs = Parse(R"({"resourceType": "Observation",
    "effectiveInstant": "2024-01-01T00:00:00+02:00"})");
  date = RowsOf(ExtractIndex("Observation", instant_obs), "date");
  ASSERT_EQ(date.size(), 1u);
  EXPECT_EQ(date[0].low, Ms("2023-12-31T22:00:00Z"));

  // Timing is not indexed; neither is a member that merely starts with the path's name.
  json::Value timing_obs = Parse(R"({"resourceType": "Observation",
    "effectiveTiming": {"event": ["2024-01-01"]}, "effectiveness": "2024-01-01"})");
  EXPECT_TRUE(RowsOf(ExtractIndex("Observation", timing_obs), "date").empty());

  json::Value open_sr = Parse(R"({"resourceType": "ServiceRequest",
    "occurrencePeriod": {"start": "2024-05"}})");
  date = RowsOf(ExtractIndex("ServiceRequest", open_sr), "occurrence");
  ASSERT_EQ(date.size(), 1u);
  EXPECT_EQ(date[0].low, Ms("2024-05-01"));
  EXPECT_EQ(date[0].high, kMax);

  json::Value open_task = Parse(R"({"resourceType": "Task",
    "executionPeriod": {"end": "2024-05-10"}, "authoredOn": "2024-05-01T08:00:00Z",
    "lastModified": "2024-05-02T08:00:00Z", "businessStatus": {"text": "waiting"},
    "priority": "urgent"})");
  std::vector<IndexEntry> rows = ExtractIndex("Task", open_task);
  date = RowsOf(rows, "period");
  ASSERT_EQ(date.size(), 1u);
  EXPECT_EQ(date[0].low, kMin);
  EXPECT_EQ(date[0].high, Ms("2024-05-11"));
  EXPECT_EQ(RowsOf(rows, "authored-on").size(), 1u);
  EXPECT_EQ(RowsOf(rows, "modified").size(), 1u);
  EXPECT_TRUE(RowsOf(rows, "business-status").empty());
  EXPECT_EQ(RowsOf(rows, "priority"), (std::vector<IndexEntry>{Token("priority", "", "urgent")}));

  json::Value condition = Parse(R"({"resourceType": "Condition",
    "onsetAge": {"value": 40, "unit": "a"}, "recordedDate": "2024-02-03",
    "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                   "code": "active"}]}})");
  rows = ExtractIndex("Condition", condition);
  EXPECT_TRUE(RowsOf(rows, "onset-date").empty());
  EXPECT_EQ(RowsOf(rows, "recorded-date").size(), 1u);
  EXPECT_EQ(RowsOf(rows, "clinical-status").size(), 1u);
  json::Value condition2 = Parse(R"({"resourceType": "Condition",
    "onsetDateTime": "2020-06"})");
  date = RowsOf(ExtractIndex("Condition", condition2), "onset-date");
  ASSERT_EQ(date.size(), 1u);
  EXPECT_EQ(date[0].low, Ms("2020-06-01"));
  EXPECT_EQ(date[0].high, Ms("2020-07-01"));

  json::Value goal = Parse(R"({"resourceType": "Goal", "lifecycleStatus": "active",
    "startDate": "2024-01-15",
    "target": [{"dueDate": "2024-03-01"}, {"dueDuration": {"value": 3, "unit": "mo"}},
               {"dueDate": "2024-06-01"}]})");
  rows = ExtractIndex("Goal", goal);
  EXPECT_EQ(RowsOf(rows, "start-date").size(), 1u);
  date = RowsOf(rows, "target-date");
  ASSERT_EQ(date.size(), 2u);
  EXPECT_EQ(date[0].low, Ms("2024-03-01"));
  EXPECT_EQ(date[1].low, Ms("2024-06-01"));
  EXPECT_EQ(RowsOf(rows, "lifecycle-status"),
            (std::vector<IndexEntry>{Token("lifecycle-status", "", "active")}));
}

TEST(SearchExtract, MalformedDatesAndPeriodsAreSkipped) {
  json::Value bad = Parse(R"({"resourceType": "CarePlan",
    "period": {"start": "yesterday"}})");
  EXPECT_TRUE(RowsOf(ExtractIndex("CarePlan", bad), "date").empty());
  json::Value inverted = Parse(R"({"resourceType": "CarePlan",
    "period": {"start": "2024-02-01", "end": "2024-01-01"}})");
  EXPECT_TRUE(RowsOf(ExtractIndex("CarePlan", inverted), "date").empty());
  json::Value empty_period = Parse(R"({"resourceType": "CarePlan", "period": {}})");
  EXPECT_TRUE(RowsOf(ExtractIndex("CarePlan", empty_period), "date").empty());
}

TEST(SearchExtract, ConsentProvision) {
  json::Value consent = Parse(R"({
    "resourceType": "Consent", "status": "active",
    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                          "code": "patient-privacy"}]},
    "patient": {"reference": "Patient/p1"}, "dateTime": "2024-01-02T03:04:05Z",
    "performer": [{"reference": "Patient/p1"}], "organization": [{"reference": "Organization/o1"}],
    "provision": {
      "type": "permit", "period": {"start": "2024-01-01", "end": "2024-12-31"},
      "actor": [{"role": {"text": "recipient"}, "reference": {"reference": "Organization/agency"}}],
      "action": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction",
                              "code": "access"}]}],
      "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                   "code": "TREAT"}],
      "securityLabel": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                         "code": "SUD"}]}})");
  std::vector<IndexEntry> rows = ExtractIndex("Consent", consent);
  EXPECT_EQ(RowsOf(rows, "patient"), (std::vector<IndexEntry>{Ref("patient", "Patient", "p1")}));
  EXPECT_EQ(RowsOf(rows, "actor"),
            (std::vector<IndexEntry>{Ref("actor", "Organization", "agency")}));
  EXPECT_EQ(RowsOf(rows, "consentor"),
            (std::vector<IndexEntry>{Ref("consentor", "Patient", "p1")}));
  EXPECT_EQ(RowsOf(rows, "organization"),
            (std::vector<IndexEntry>{Ref("organization", "Organization", "o1")}));
  EXPECT_EQ(RowsOf(rows, "action"),
            (std::vector<IndexEntry>{
                Token("action", "http://terminology.hl7.org/CodeSystem/consentaction", "access")}));
  EXPECT_EQ(RowsOf(rows, "purpose"),
            (std::vector<IndexEntry>{
                Token("purpose", "http://terminology.hl7.org/CodeSystem/v3-ActReason", "TREAT")}));
  EXPECT_EQ(RowsOf(rows, "security-label"),
            (std::vector<IndexEntry>{Token(
                "security-label", "http://terminology.hl7.org/CodeSystem/v3-ActCode", "SUD")}));
  EXPECT_EQ(RowsOf(rows, "scope").size(), 1u);
  std::vector<IndexEntry> period = RowsOf(rows, "period");
  ASSERT_EQ(period.size(), 1u);
  EXPECT_EQ(period[0].low, Ms("2024-01-01"));
  EXPECT_EQ(period[0].high, Ms("2025-01-01"));
  EXPECT_EQ(RowsOf(rows, "date").size(), 1u);
}

TEST(SearchExtract, QuestionnaireAndResponse) {
  json::Value q = Parse(R"({"resourceType": "Questionnaire",
    "url": "http://example.org/Questionnaire/PRAPARE", "version": "1.0", "name": "PRAPARE",
    "title": "Protocol for Responding to and Assessing Patients' Assets",
    "status": "active",
    "item": [{"linkId": "1", "code": [{"system": "http://loinc.org", "code": "93043-8"}]},
             {"linkId": "2", "code": [{"system": "http://loinc.org", "code": "56051-6"}]}]})");
  std::vector<IndexEntry> rows = ExtractIndex("Questionnaire", q);
  EXPECT_EQ(RowsOf(rows, "url"),
            (std::vector<IndexEntry>{
                {"url", ParamType::kUri, "", "http://example.org/Questionnaire/PRAPARE", 0, 0}}));
  EXPECT_EQ(RowsOf(rows, "version"), (std::vector<IndexEntry>{Token("version", "", "1.0")}));
  EXPECT_EQ(RowsOf(rows, "name"), (std::vector<IndexEntry>{Str("name", "prapare")}));
  EXPECT_EQ(RowsOf(rows, "title").size(), 1u);
  EXPECT_EQ(RowsOf(rows, "code"),
            (std::vector<IndexEntry>{Token("code", "http://loinc.org", "93043-8"),
                                     Token("code", "http://loinc.org", "56051-6")}));

  json::Value qr = Parse(R"({"resourceType": "QuestionnaireResponse", "status": "completed",
    "questionnaire": "http://example.org/Questionnaire/PRAPARE|1.0",
    "subject": {"reference": "Patient/p1"}, "authored": "2024-04-04T10:00:00-04:00",
    "author": {"reference": "Practitioner/dr"}, "source": {"reference": "Patient/p1"}})");
  rows = ExtractIndex("QuestionnaireResponse", qr);
  EXPECT_EQ(RowsOf(rows, "questionnaire"),
            (std::vector<IndexEntry>{
                Ref("questionnaire", "", "http://example.org/Questionnaire/PRAPARE|1.0"),
                Ref("questionnaire", "", "http://example.org/Questionnaire/PRAPARE")}));
  std::vector<IndexEntry> authored = RowsOf(rows, "authored");
  ASSERT_EQ(authored.size(), 1u);
  EXPECT_EQ(authored[0].low, Ms("2024-04-04T14:00:00Z"));
  EXPECT_EQ(RowsOf(rows, "source"), (std::vector<IndexEntry>{Ref("source", "Patient", "p1")}));
}

TEST(SearchExtract, DirectoryTypes) {
  json::Value org = Parse(R"({"resourceType": "Organization", "name": "Harbor Housing",
    "alias": ["HH", "Harbor"], "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type",
                                                      "code": "cg"}]}],
    "partOf": {"reference": "Organization/parent"},
    "endpoint": [{"reference": "Endpoint/e1"}]})");
  std::vector<IndexEntry> rows = ExtractIndex("Organization", org);
  EXPECT_EQ(RowsOf(rows, "name"),
            (std::vector<IndexEntry>{Str("name", "harbor housing"), Str("name", "hh"),
                                     Str("name", "harbor")}));
  EXPECT_EQ(RowsOf(rows, "partof"),
            (std::vector<IndexEntry>{Ref("partof", "Organization", "parent")}));
  EXPECT_EQ(RowsOf(rows, "endpoint"), (std::vector<IndexEntry>{Ref("endpoint", "Endpoint", "e1")}));
  EXPECT_EQ(RowsOf(rows, "type").size(), 1u);

  json::Value hs = Parse(R"({"resourceType": "HealthcareService", "name": "Food Pantry",
    "providedBy": {"reference": "Organization/o1"},
    "category": [{"coding": [{"system": "http://example.org/cat", "code": "food"}]}],
    "type": [{"coding": [{"system": "http://example.org/type", "code": "pantry"}]}],
    "specialty": [{"coding": [{"system": "http://snomed.info/sct", "code": "394602003"}]}],
    "location": [{"reference": "Location/l1"}]})");
  rows = ExtractIndex("HealthcareService", hs);
  EXPECT_EQ(RowsOf(rows, "organization"),
            (std::vector<IndexEntry>{Ref("organization", "Organization", "o1")}));
  EXPECT_EQ(RowsOf(rows, "service-category"),
            (std::vector<IndexEntry>{Token("service-category", "http://example.org/cat", "food")}));
  EXPECT_EQ(RowsOf(rows, "service-type").size(), 1u);
  EXPECT_EQ(RowsOf(rows, "specialty").size(), 1u);
  EXPECT_EQ(RowsOf(rows, "location"), (std::vector<IndexEntry>{Ref("location", "Location", "l1")}));

  json::Value ep = Parse(R"({"resourceType": "Endpoint", "status": "active", "name": "Agency API",
    "managingOrganization": {"reference": "Organization/o1"},
    "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                       "code": "hl7-fhir-rest"},
    "payloadType": [{"coding": [{"system": "urn:x", "code": "any"}]}]})");
  rows = ExtractIndex("Endpoint", ep);
  EXPECT_EQ(RowsOf(rows, "connection-type"),
            (std::vector<IndexEntry>{Token(
                "connection-type", "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                "hl7-fhir-rest")}));
  EXPECT_EQ(RowsOf(rows, "payload-type"),
            (std::vector<IndexEntry>{Token("payload-type", "urn:x", "any")}));
  EXPECT_EQ(RowsOf(rows, "organization").size(), 1u);
  EXPECT_EQ(RowsOf(rows, "name"), (std::vector<IndexEntry>{Str("name", "agency api")}));
}

TEST(SearchExtract, CarePlanAndUnknownType) {
  json::Value cp = Parse(R"({"resourceType": "CarePlan", "status": "active", "intent": "plan",
    "subject": {"reference": "Patient/p1"}, "period": {"start": "2024-01-01T00:00:00Z"},
    "goal": [{"reference": "Goal/g1"}, {"reference": "Goal/g1"}]})");
  std::vector<IndexEntry> rows = ExtractIndex("CarePlan", cp);
  EXPECT_EQ(RowsOf(rows, "goal"), (std::vector<IndexEntry>{Ref("goal", "Goal", "g1")}));
  EXPECT_EQ(RowsOf(rows, "intent"), (std::vector<IndexEntry>{Token("intent", "", "plan")}));
  EXPECT_EQ(RowsOf(rows, "date").size(), 1u);
  EXPECT_TRUE(ExtractIndex("Medication", cp).empty());
  EXPECT_TRUE(ExtractIndex("CarePlan", json::Value::Array()).empty());
}

// ---------------------------------------------------------------------------------------------
// ParseSearchQuery

TEST(SearchQuery, DefaultsAndResultParameters) {
  Outcome outcome;
  SearchLimits limits;
  limits.default_count = 25;
  limits.max_count = 50;
  auto q = Query("Patient", {}, outcome, limits);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->type, "Patient");
  EXPECT_EQ(q->count, 25);
  EXPECT_EQ(q->offset, 0);
  EXPECT_TRUE(q->sort.empty());
  EXPECT_TRUE(q->all_of.empty());
  EXPECT_FALSE(q->total_only);

  q = Query("Patient",
            {{"_count", "500"},
             {"_offset", "40"},
             {"_summary", "count"},
             {"_format", "json"},
             {"_pretty", "true"},
             {"_elements", "id,name"},
             {"_total", "accurate"}},
            outcome, limits);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->count, 50);  // clamped, not an error
  EXPECT_EQ(q->offset, 40);
  EXPECT_TRUE(q->total_only);
  EXPECT_TRUE(outcome.empty());

  q = Query("Patient", {{"_count", "0"}, {"_summary", "false"}}, outcome, limits);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->count, 0);
  EXPECT_FALSE(q->total_only);
  q = Query("Patient", {{"_count", "99999999999999999999"}}, outcome, limits);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->count, 50);
}

TEST(SearchQuery, ResultParameterErrors) {
  for (auto [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"_count", "-1"},
           {"_count", "ten"},
           {"_count", ""},
           {"_count", "1.5"},
           {"_offset", "-3"},
           {"_offset", "x"},
           {"_offset", "99999999999"},
       }) {
    Issue issue = QueryError("Patient", {{key, value}});
    EXPECT_EQ(issue.type, IssueType::kValue) << key << "=" << value;
    EXPECT_EQ(issue.expression, key);
  }
  Issue issue = QueryError("Patient", {{"_summary", "true"}});
  EXPECT_EQ(issue.type, IssueType::kNotSupported);
  EXPECT_EQ(issue.expression, "_summary");
  issue = QueryError("Patient", {{"_count", "1"}, {"_count", "2"}});
  EXPECT_EQ(issue.type, IssueType::kInvalid);
}

TEST(SearchQuery, Sort) {
  Outcome outcome;
  auto q = Query("Observation", {{"_sort", "-date,_id,status,-_lastUpdated"}}, outcome);
  ASSERT_TRUE(q.has_value());
  ASSERT_EQ(q->sort.size(), 4u);
  EXPECT_EQ(q->sort[0].param, "date");
  EXPECT_TRUE(q->sort[0].descending);
  EXPECT_EQ(q->sort[0].type, ParamType::kDate);
  EXPECT_EQ(q->sort[1].param, "_id");
  EXPECT_FALSE(q->sort[1].descending);
  EXPECT_EQ(q->sort[1].type, ParamType::kToken);
  EXPECT_EQ(q->sort[2].type, ParamType::kToken);
  EXPECT_EQ(q->sort[3].param, "_lastUpdated");
  EXPECT_TRUE(q->sort[3].descending);

  q = Query("Patient", {{"_sort", "family"}}, outcome);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->sort[0].type, ParamType::kString);

  EXPECT_EQ(QueryError("Observation", {{"_sort", "subject"}}).type, IssueType::kNotSupported);
  EXPECT_EQ(QueryError("Observation", {{"_sort", "nope"}}).type, IssueType::kNotSupported);
  EXPECT_EQ(QueryError("Observation", {{"_sort", "date,"}}).expression, "_sort");
  EXPECT_EQ(QueryError("Observation", {{"_sort", "-"}}).expression, "_sort");
}

TEST(SearchQuery, UnknownParameter) {
  Issue issue = QueryError("ServiceRequest", {{"foo", "1"}});
  EXPECT_EQ(issue.type, IssueType::kNotSupported);
  EXPECT_EQ(issue.expression, "foo");
  EXPECT_NE(issue.diagnostics.find("Unknown search parameter 'foo' for ServiceRequest"),
            std::string::npos)
      << issue.diagnostics;
  EXPECT_NE(issue.diagnostics.find("Supported: _id, _lastUpdated, identifier, patient"),
            std::string::npos)
      << issue.diagnostics;
  EXPECT_EQ(QueryError("Patient", {{"_include", "Patient:organization"}}).type,
            IssueType::kNotSupported);
  EXPECT_EQ(QueryError("Patient", {{"subject.name", "x"}}).type, IssueType::kNotSupported);
  EXPECT_EQ(QueryError("Medication", {{"_id", "1"}}).type, IssueType::kNotSupported);

  // Every problem is reported, not just the first.
  Outcome outcome;
  EXPECT_FALSE(Query("Patient", {{"foo", "1"}, {"bar", "2"}, {"_count", "x"}}, outcome));
  EXPECT_EQ(outcome.issues().size(), 3u);
}

TEST(SearchQuery, TokenForms) {
  Outcome outcome;
  auto q = Query("Observation",
                 {{"code", "1234-5"},
                  {"code", "http://loinc.org|1234-5"},
                  {"code", "|local"},
                  {"code", "http://loinc.org|"},
                  {"status:not", "final,amended"}},
                 outcome);
  ASSERT_TRUE(q.has_value()) << outcome.issues().front().diagnostics;
  ASSERT_EQ(q->all_of.size(), 5u);  // repeated parameters AND
  const SearchValue& any = q->all_of[0].any_of.at(0);
  EXPECT_FALSE(any.system.has_value());
  EXPECT_EQ(any.value, "1234-5");
  const SearchValue& both = q->all_of[1].any_of.at(0);
  EXPECT_EQ(both.system, "http://loinc.org");
  EXPECT_EQ(both.value, "1234-5");
  const SearchValue& none = q->all_of[2].any_of.at(0);
  EXPECT_EQ(none.system, "");
  EXPECT_EQ(none.value, "local");
  const SearchValue& sys = q->all_of[3].any_of.at(0);
  EXPECT_EQ(sys.system, "http://loinc.org");
  EXPECT_EQ(sys.value, "");
  EXPECT_EQ(q->all_of[4].param, "status");
  EXPECT_EQ(q->all_of[4].modifier, "not");
  EXPECT_EQ(q->all_of[4].type, ParamType::kToken);
  ASSERT_EQ(q->all_of[4].any_of.size(), 2u);
  EXPECT_EQ(q->all_of[4].any_of[1].value, "amended");

  EXPECT_EQ(QueryError("Observation", {{"code", "|"}}).type, IssueType::kValue);
  EXPECT_EQ(QueryError("Observation", {{"code:text", "x"}}).type, IssueType::kNotSupported);
  EXPECT_EQ(QueryError("Observation", {{"code:in", "x"}}).type, IssueType::kNotSupported);
  EXPECT_EQ(QueryError("Observation", {{"code:bogus", "x"}}).expression, "code");
}

TEST(SearchQuery, EscapesAndValueLists) {
  Outcome outcome;
  auto q = Query("Patient", {{"identifier", R"(urn:sys\|x|a\,b)"}, {"name", R"(smith\,john,DOE)"}},
                 outcome);
  ASSERT_TRUE(q.has_value());
  ASSERT_EQ(q->all_of.size(), 2u);
  ASSERT_EQ(q->all_of[0].any_of.size(), 1u);
  EXPECT_EQ(q->all_of[0].any_of[0].system, "urn:sys|x");
  EXPECT_EQ(q->all_of[0].any_of[0].value, "a,b");
  ASSERT_EQ(q->all_of[1].any_of.size(), 2u);
  EXPECT_EQ(q->all_of[1].any_of[0].value, "smith,john");
  EXPECT_EQ(q->all_of[1].any_of[1].value, "doe");

  SearchLimits limits;
  limits.max_values_per_param = 3;
  q = Query("Patient", {{"gender", "a,b,c"}}, outcome, limits);
  ASSERT_TRUE(q.has_value());
  Outcome too_many;
  EXPECT_FALSE(Query("Patient", {{"gender", "a,b,c,d"}}, too_many, limits).has_value());
  ASSERT_EQ(too_many.issues().size(), 1u);
  EXPECT_EQ(too_many.issues()[0].type, IssueType::kTooCostly);
  EXPECT_EQ(too_many.issues()[0].expression, "gender");

  EXPECT_EQ(QueryError("Patient", {{"gender", "male,,female"}}).type, IssueType::kValue);
  // An empty parameter is ignored, as the spec says.
  q = Query("Patient", {{"gender", ""}}, outcome);
  ASSERT_TRUE(q.has_value());
  EXPECT_TRUE(q->all_of.empty());
}

TEST(SearchQuery, IdAndLastUpdated) {
  Outcome outcome;
  auto q =
      Query("Task", {{"_id", "a1,b-2.c"}, {"_lastUpdated", "ge2024-01-01T00:00:00Z"}}, outcome);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->all_of[0].param, "_id");
  EXPECT_EQ(q->all_of[0].type, ParamType::kToken);
  EXPECT_EQ(q->all_of[0].any_of.size(), 2u);
  EXPECT_FALSE(q->all_of[0].any_of[0].system.has_value());
  EXPECT_EQ(q->all_of[1].type, ParamType::kDate);
  EXPECT_EQ(q->all_of[1].any_of[0].prefix, Prefix::kGe);
  EXPECT_EQ(q->all_of[1].any_of[0].low, Ms("2024-01-01"));

  EXPECT_EQ(QueryError("Task", {{"_id", "sys|x"}}).type, IssueType::kValue);
  EXPECT_EQ(QueryError("Task", {{"_id", "not valid!"}}).expression, "_id");
}

TEST(SearchQuery, References) {
  Outcome outcome;
  auto q = Query("Observation",
                 {{"subject", "Patient/p1"},
                  {"subject", "p2"},
                  {"subject:Group", "g1"},
                  {"subject", "https://ehr.example.org/fhir/Patient/p3"},
                  {"patient", "p4"},
                  {"patient", "Patient/p5/_history/2"},
                  {"performer:missing", "true"}},
                 outcome);
  ASSERT_TRUE(q.has_value()) << outcome.issues().front().diagnostics;
  ASSERT_EQ(q->all_of.size(), 7u);
  EXPECT_EQ(q->all_of[0].type, ParamType::kReference);
  EXPECT_EQ(q->all_of[0].any_of[0].system, "Patient");
  EXPECT_EQ(q->all_of[0].any_of[0].value, "p1");
  EXPECT_FALSE(q->all_of[1].any_of[0].system.has_value());
  EXPECT_EQ(q->all_of[1].any_of[0].value, "p2");
  EXPECT_EQ(q->all_of[2].any_of[0].system, "Group");
  EXPECT_EQ(q->all_of[2].any_of[0].value, "g1");
  EXPECT_EQ(q->all_of[2].modifier, "");
  EXPECT_FALSE(q->all_of[3].any_of[0].system.has_value());
  EXPECT_EQ(q->all_of[3].any_of[0].value, "https://ehr.example.org/fhir/Patient/p3");
  EXPECT_EQ(q->all_of[4].any_of[0].system, "Patient");  // target-restricted bare id
  EXPECT_EQ(q->all_of[4].any_of[0].value, "p4");
  EXPECT_EQ(q->all_of[5].any_of[0].system, "Patient");
  EXPECT_EQ(q->all_of[5].any_of[0].value, "p5");
  EXPECT_EQ(q->all_of[6].modifier, "missing");
  EXPECT_EQ(q->all_of[6].any_of[0].value, "true");

  q = Query("QuestionnaireResponse", {{"questionnaire", "http://example.org/Questionnaire/q|2"}},
            outcome);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->all_of[0].any_of[0].value, "http://example.org/Questionnaire/q|2");

  Issue issue = QueryError("Observation", {{"subject", "Patinet/p1"}});
  EXPECT_EQ(issue.type, IssueType::kValue);
  EXPECT_EQ(issue.expression, "subject");
  EXPECT_NE(issue.diagnostics.find("Patinet"), std::string::npos);
  EXPECT_EQ(QueryError("Observation", {{"patient", "Group/g1"}}).type, IssueType::kValue);
  EXPECT_EQ(QueryError("Observation", {{"patient:Group", "g1"}}).type, IssueType::kValue);
  EXPECT_EQ(QueryError("Observation", {{"subject:Patient", "Group/g1"}}).type, IssueType::kValue);
  EXPECT_EQ(QueryError("Observation", {{"subject:Nope", "g1"}}).type, IssueType::kNotSupported);
  EXPECT_EQ(QueryError("Observation", {{"subject", "bad id!"}}).type, IssueType::kValue);
  EXPECT_EQ(QueryError("Observation", {{"subject", "Patient/"}}).type, IssueType::kValue);
  EXPECT_EQ(QueryError("Observation", {{"performer:missing", "maybe"}}).type, IssueType::kValue);
}

TEST(SearchQuery, DatePrefixes) {
  const std::pair<std::string_view, Prefix> cases[] = {
      {"eq", Prefix::kEq}, {"ne", Prefix::kNe}, {"gt", Prefix::kGt},
      {"lt", Prefix::kLt}, {"ge", Prefix::kGe}, {"le", Prefix::kLe},
      {"sa", Prefix::kSa}, {"eb", Prefix::kEb}, {"ap", Prefix::kAp},
  };
  for (const auto& [text, prefix] : cases) {
    Outcome outcome;
    auto q = Query("Observation", {{"date", std::string(text) + "2024-02"}}, outcome);
    ASSERT_TRUE(q.has_value()) << text;
    const SearchValue& v = q->all_of.at(0).any_of.at(0);
    EXPECT_EQ(v.prefix, prefix) << text;
    EXPECT_EQ(v.value, "2024-02");
    EXPECT_EQ(v.low, Ms("2024-02-01"));
    EXPECT_EQ(v.high, Ms("2024-03-01"));
  }
  Outcome outcome;
  auto q = Query("Observation", {{"date", "2024-01-01T10:00+02:00,2024"}}, outcome);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->all_of[0].any_of[0].prefix, Prefix::kEq);
  EXPECT_EQ(q->all_of[0].any_of[0].low, Ms("2024-01-01T08:00:00Z"));
  EXPECT_EQ(q->all_of[0].any_of[1].high, Ms("2025"));

  Issue issue = QueryError("Observation", {{"date", "2024-13-01"}});
  EXPECT_EQ(issue.type, IssueType::kValue);
  EXPECT_EQ(issue.expression, "date");
  EXPECT_NE(issue.diagnostics.find("'2024-13-01'"), std::string::npos) << issue.diagnostics;
  EXPECT_NE(QueryError("Observation", {{"date", "xx2024"}}).diagnostics.find("xx2024"),
            std::string::npos);
  EXPECT_EQ(QueryError("Observation", {{"date", "today"}}).type, IssueType::kValue);
  EXPECT_EQ(QueryError("Observation", {{"date", "ge"}}).type, IssueType::kValue);
  EXPECT_EQ(QueryError("Observation", {{"date:exact", "2024"}}).type, IssueType::kNotSupported);
  q = Query("Observation", {{"date:missing", "false"}}, outcome);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->all_of[0].modifier, "missing");
}

TEST(SearchQuery, StringsAndUris) {
  Outcome outcome;
  auto q =
      Query("Patient", {{"family", "O'BRIEN"}, {"given:exact", "Mary"}, {"name:contains", "ann"}},
            outcome);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->all_of[0].type, ParamType::kString);
  EXPECT_EQ(q->all_of[0].modifier, "");
  EXPECT_EQ(q->all_of[0].any_of[0].value, "o'brien");
  EXPECT_EQ(q->all_of[1].modifier, "exact");
  EXPECT_EQ(q->all_of[1].any_of[0].value, "mary");
  EXPECT_EQ(q->all_of[2].modifier, "contains");
  EXPECT_EQ(QueryError("Patient", {{"name:not", "x"}}).type, IssueType::kNotSupported);

  q = Query("Questionnaire", {{"url", "http://example.org/Questionnaire/PRAPARE"}}, outcome);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->all_of[0].type, ParamType::kUri);
  EXPECT_EQ(q->all_of[0].any_of[0].value, "http://example.org/Questionnaire/PRAPARE");
  EXPECT_EQ(QueryError("Questionnaire", {{"url:below", "http://x"}}).type,
            IssueType::kNotSupported);
}

}  // namespace
}  // namespace carebridge::fhir

namespace carebridge::fhir {
namespace {

TEST(DateFormatTest, FormatInstantIsTheInverseOfDateRange) {
  EXPECT_EQ(FormatInstant(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatInstant(1709251199999), "2024-02-29T23:59:59.999Z");
  for (std::int64_t ms :
       {std::int64_t{1}, std::int64_t{951782400123}, std::int64_t{1795344000456}}) {
    auto range = DateRange(FormatInstant(ms));
    ASSERT_TRUE(range);
    EXPECT_EQ(range->first, ms);
  }
}

}  // namespace
}  // namespace carebridge::fhir
