#include "fhir/resource/resource.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fhir/json/json.h"

namespace carebridge::fhir {
namespace {

json::Value MustParse(std::string_view text) {
  std::string message;
  Result<json::Value> v = json::Parse(text, json::Limits{}, message);
  EXPECT_TRUE(v.has_value()) << message << "\n" << text;
  return v.has_value() ? std::move(*v) : json::Value();
}

std::string Describe(const Outcome& outcome) { return json::Write(outcome.ToResource()); }

// Validates `text` as `type` and returns the outcome.
Outcome Check(std::string_view text, std::string_view type) {
  Outcome outcome;
  const bool ok = ValidateResource(MustParse(text), type, outcome);
  EXPECT_EQ(ok, !outcome.HasErrors());
  return outcome;
}

void ExpectValid(std::string_view text, std::string_view type) {
  Outcome outcome = Check(text, type);
  EXPECT_FALSE(outcome.HasErrors()) << Describe(outcome) << "\n" << text;
}

// Expects an error issue of `issue_type` at exactly `expression`.
void ExpectIssue(std::string_view text, std::string_view type, IssueType issue_type,
                 std::string_view expression) {
  Outcome outcome = Check(text, type);
  bool found = false;
  for (const Issue& issue : outcome.issues()) {
    if (issue.severity == Severity::kError && issue.type == issue_type &&
        issue.expression == expression) {
      found = true;
    }
  }
  EXPECT_TRUE(found) << "wanted " << ToCode(issue_type) << " at " << expression << ", got "
                     << Describe(outcome) << "\n"
                     << text;
}

// ---------------------------------------------------------------------------------------------
// Type tables.

TEST(ResourceTypes, SupportedTypes) {
  const std::vector<std::string_view> writable = {
      "Patient", "CarePlan",      "ServiceRequest",
      "Consent", "Questionnaire", "QuestionnaireResponse",
      "Task",    "Observation",   "Condition",
      "Goal",    "Organization",  "HealthcareService",
      "Endpoint"};
  EXPECT_EQ(SupportedTypes().size(), writable.size() + 4);  // + AuditEvent, ConceptMap, Flag,
                                                            // Communication (read-only)
  for (std::string_view name : writable) {
    const ResourceTypeInfo* info = FindSupportedType(name);
    ASSERT_NE(info, nullptr) << name;
    EXPECT_EQ(info->name, name);
    EXPECT_TRUE(info->writable) << name;
    EXPECT_TRUE(IsR4ResourceType(name)) << name;
  }
  const ResourceTypeInfo* audit = FindSupportedType("AuditEvent");
  ASSERT_NE(audit, nullptr);
  EXPECT_FALSE(audit->writable);
  const ResourceTypeInfo* concept_map = FindSupportedType("ConceptMap");
  ASSERT_NE(concept_map, nullptr);
  EXPECT_TRUE(concept_map->writable);  // the admin partner loads ConceptMaps through the API
  EXPECT_EQ(FindSupportedType("Encounter"), nullptr);
  EXPECT_EQ(FindSupportedType("patient"), nullptr);
}

TEST(ResourceTypes, R4Names) {
  for (std::string_view name :
       {"Account", "ActivityDefinition", "Bundle", "OperationOutcome", "Parameters", "Binary",
        "List", "Media", "SubstanceNucleicAcid", "MedicinalProductUndesirableEffect",
        "EffectEvidenceSynthesis", "CatalogEntry", "VerificationResult", "VisionPrescription",
        "DeviceUseStatement", "RequestGroup"}) {
    EXPECT_TRUE(IsR4ResourceType(name)) << name;
  }
  // Abstract types, R5-only names, data types and near misses.
  for (std::string_view name :
       {"", "Resource", "DomainResource", "patient", "PATIENT", "Patients", "Patient ",
        "NutritionIntake", "DeviceUsage", "RequestOrchestration", "Subscription Topic", "HumanName",
        "Reference", "Zzz", "A"}) {
    EXPECT_FALSE(IsR4ResourceType(name)) << name;
  }
}

TEST(ResourceIds, Syntax) {
  EXPECT_TRUE(IsValidId("a"));
  EXPECT_TRUE(IsValidId("example"));
  EXPECT_TRUE(IsValidId("1832473e-2fe0-452d-abe9-3cdb9879522f"));
  EXPECT_TRUE(IsValidId("a.b-C.9"));
  EXPECT_TRUE(IsValidId("..."));  // odd but not a path segment
  EXPECT_TRUE(IsValidId(std::string(64, 'x')));
  EXPECT_FALSE(IsValidId(std::string(65, 'x')));
  EXPECT_FALSE(IsValidId(""));
  EXPECT_FALSE(IsValidId("a/b"));
  EXPECT_FALSE(IsValidId("."));
  EXPECT_FALSE(IsValidId(".."));
  EXPECT_FALSE(IsValidId("a b"));
  EXPECT_FALSE(IsValidId("a_b"));
  EXPECT_FALSE(IsValidId("a%2Fb"));
  EXPECT_FALSE(IsValidId("é"));
}

TEST(ResourceReferences, Syntax) {
  for (std::string_view ok :
       {"Patient/example", "Patient/45/_history/2", "ServiceRequest/physiotherapy/_history/1",
        "http://hl7.org/fhir/Patient/1", "https://example.org/fhir-2/Patient/1?x=y", "#p1", "#",
        "urn:uuid:04121321-4af5-424c-a0e1-ed3aab1c349d",
        "urn:uuid:04121321-4AF5-424C-A0E1-ED3AAB1C349D", "urn:oid:1.2.840.113619.6.197",
        "urn:oid:2.16.840.1", "Organization/1832473e-2fe0-452d-abe9-3cdb9879522f"}) {
    EXPECT_TRUE(IsValidReferenceText(ok)) << ok;
  }
  for (std::string_view bad : {"",
                               "Patient",
                               "Patient/",
                               "/Patient/1",
                               "Patient/a/b",
                               "Patient/a b",
                               "Patient/..",
                               "Patient/1/_history/",
                               "Patient/1/_history",
                               "Patient/1/history/2",
                               "patient/1",
                               "Foo/1",
                               "Patient/1/_history/2/extra",
                               "#a/b",
                               "#..",
                               "urn:uuid:1234",
                               "urn:uuid:04121321-4af5-424c-a0e1-ed3aab1c349g",
                               "urn:oid:3.1",
                               "urn:oid:1",
                               "urn:oid:1.02",
                               "urn:oid:1..2",
                               "http://",
                               "http:///x",
                               "http://a b",
                               "ftp://x/Patient/1",
                               "Patient/1 ",
                               "javascript:alert(1)"}) {
    EXPECT_FALSE(IsValidReferenceText(bad)) << bad;
  }
  EXPECT_FALSE(IsValidReferenceText("Patient/" + std::string(65, 'x')));
}

// ---------------------------------------------------------------------------------------------
// ValidateResource: the envelope.

TEST(ResourceValidate, RootMustBeAnObjectOfTheExpectedType) {
  ExpectIssue("[]", "Patient", IssueType::kStructure, "Patient");
  ExpectIssue(R"({"id":"x"})", "Patient", IssueType::kRequired, "Patient");
  ExpectIssue(R"({"resourceType":7})", "Patient", IssueType::kStructure, "Patient.resourceType");
  Outcome o = Check(R"({"resourceType":"Patient"})", "CarePlan");
  ASSERT_TRUE(o.HasErrors());
  EXPECT_NE(o.issues()[0].diagnostics.find("\"Patient\""), std::string::npos);
  EXPECT_NE(o.issues()[0].diagnostics.find("\"CarePlan\""), std::string::npos);
  EXPECT_EQ(o.issues()[0].expression, "CarePlan.resourceType");
}

TEST(ResourceValidate, AppendsToExistingOutcome) {
  Outcome outcome;
  outcome.Add(Severity::kWarning, IssueType::kInformational, "", "earlier");
  EXPECT_TRUE(ValidateResource(MustParse(R"({"resourceType":"Patient"})"), "Patient", outcome));
  EXPECT_EQ(outcome.issues().size(), 1u);
  outcome.Error(IssueType::kValue, "", "earlier error");
  // An earlier error does not make a valid resource invalid.
  EXPECT_TRUE(ValidateResource(MustParse(R"({"resourceType":"Patient"})"), "Patient", outcome));
  EXPECT_FALSE(
      ValidateResource(MustParse(R"({"resourceType":"Patient","id":".."})"), "Patient", outcome));
  EXPECT_EQ(outcome.issues().size(), 3u);
}

TEST(ResourceValidate, Id) {
  ExpectValid(R"({"resourceType":"Patient","id":"pat-1.a"})", "Patient");
  ExpectIssue(R"({"resourceType":"Patient","id":"a/b"})", "Patient", IssueType::kValue,
              "Patient.id");
  ExpectIssue(R"({"resourceType":"Patient","id":".."})", "Patient", IssueType::kValue,
              "Patient.id");
  ExpectIssue(R"({"resourceType":"Patient","id":")" + std::string(65, 'a') + "\"}", "Patient",
              IssueType::kValue, "Patient.id");
  ExpectIssue(R"({"resourceType":"Patient","id":12})", "Patient", IssueType::kValue, "Patient.id");
}

TEST(ResourceValidate, Meta) {
  ExpectValid(R"({"resourceType":"Patient","meta":{"versionId":"3",)"
              R"("lastUpdated":"2014-08-18T01:43:30.123+11:00","source":"x"}})",
              "Patient");
  ExpectIssue(R"({"resourceType":"Patient","meta":{"versionId":"a/b"}})", "Patient",
              IssueType::kValue, "Patient.meta.versionId");
  ExpectIssue(R"({"resourceType":"Patient","meta":{"lastUpdated":"2014-08-18"}})", "Patient",
              IssueType::kValue, "Patient.meta.lastUpdated");
  ExpectIssue(R"({"resourceType":"Patient","meta":{"lastUpdated":"2014-08-18T01:43:30"}})",
              "Patient", IssueType::kValue, "Patient.meta.lastUpdated");
}

// ---------------------------------------------------------------------------------------------
// Per-type rules.

constexpr std::string_view kSubject = R"("subject":{"reference":"Patient/p1"})";

std::string Res(std::string_view type, std::string_view body) {
  std::string s = R"({"resourceType":")";
  s += type;
  s += "\"";
  if (!body.empty()) {
    s += ",";
    s += body;
  }
  s += "}";
  return s;
}

TEST(ResourceRules, MinimalResourcesOfEachTypePass) {
  const std::string sub(kSubject);
  ExpectValid(Res("Patient", ""), "Patient");
  ExpectValid(Res("CarePlan", R"("status":"active","intent":"plan",)" + sub), "CarePlan");
  ExpectValid(Res("ServiceRequest", R"("status":"active","intent":"order",)" + sub),
              "ServiceRequest");
  ExpectValid(Res("Consent", R"("status":"active","scope":{"text":"x"},"category":[{"text":"y"}])"),
              "Consent");
  ExpectValid(Res("Questionnaire", R"("status":"draft")"), "Questionnaire");
  ExpectValid(Res("QuestionnaireResponse", R"("status":"completed")"), "QuestionnaireResponse");
  ExpectValid(Res("Task", R"("status":"requested","intent":"order")"), "Task");
  ExpectValid(Res("Observation", R"("status":"final","code":{"text":"x"})"), "Observation");
  ExpectValid(Res("Condition", sub), "Condition");
  ExpectValid(Res("Goal", R"("lifecycleStatus":"active","description":{"text":"x"},)" + sub),
              "Goal");
  ExpectValid(Res("Organization", ""), "Organization");
  ExpectValid(Res("HealthcareService", ""), "HealthcareService");
  ExpectValid(Res("Endpoint", R"("status":"active","connectionType":{"code":"hl7-fhir-rest"},)"
                              R"("payloadType":[{"text":"any"}],"address":"https://x.example")"),
              "Endpoint");
  ExpectValid(Res("AuditEvent", R"("recorded":"2024-01-01T00:00:00Z")"), "AuditEvent");
}

struct CodeCase {
  std::string_view type;
  std::string_view element;
  std::string base;  // a valid body without `element`
  std::vector<std::string_view> codes;
};

std::vector<CodeCase> CodeCases() {
  const std::string sub(kSubject);
  return {
      {"CarePlan",
       "status",
       R"("intent":"plan",)" + sub,
       {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}},
      {"CarePlan",
       "intent",
       R"("status":"active",)" + sub,
       {"proposal", "plan", "order", "option"}},
      {"ServiceRequest",
       "status",
       R"("intent":"order",)" + sub,
       {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}},
      {"ServiceRequest",
       "intent",
       R"("status":"active",)" + sub,
       {"proposal", "plan", "directive", "order", "original-order", "reflex-order", "filler-order",
        "instance-order", "option"}},
      {"Consent",
       "status",
       R"("scope":{"text":"x"},"category":[{"text":"y"}])",
       {"draft", "proposed", "active", "rejected", "inactive", "entered-in-error"}},
      {"Questionnaire", "status", "", {"draft", "active", "retired", "unknown"}},
      {"QuestionnaireResponse",
       "status",
       "",
       {"in-progress", "completed", "amended", "entered-in-error", "stopped"}},
      {"Task",
       "status",
       R"("intent":"order")",
       {"draft", "requested", "received", "accepted", "rejected", "ready", "cancelled",
        "in-progress", "on-hold", "failed", "completed", "entered-in-error"}},
      {"Task",
       "intent",
       R"("status":"ready")",
       {"unknown", "proposal", "plan", "order", "original-order", "reflex-order", "filler-order",
        "instance-order", "option"}},
      {"Observation",
       "status",
       R"("code":{"text":"x"})",
       {"registered", "preliminary", "final", "amended", "corrected", "cancelled",
        "entered-in-error", "unknown"}},
      {"Goal",
       "lifecycleStatus",
       R"("description":{"text":"x"},)" + sub,
       {"proposed", "planned", "accepted", "active", "on-hold", "completed", "cancelled",
        "entered-in-error", "rejected"}},
      {"Endpoint",
       "status",
       R"("connectionType":{"code":"c"},"payloadType":[{"text":"p"}],"address":"https://x")",
       {"active", "suspended", "error", "off", "entered-in-error", "test"}},
  };
}

TEST(ResourceRules, RequiredCodeSets) {
  for (const CodeCase& c : CodeCases()) {
    const std::string path = std::string(c.type) + "." + std::string(c.element);
    const std::string sep = c.base.empty() ? "" : ",";
    for (std::string_view code : c.codes) {
      ExpectValid(Res(c.type, c.base + sep + "\"" + std::string(c.element) + "\":\"" +
                                  std::string(code) + "\""),
                  c.type);
    }
    // Missing, unknown code, wrong case, wrong JSON type.
    ExpectIssue(Res(c.type, c.base), c.type, IssueType::kRequired, path);
    ExpectIssue(Res(c.type, c.base + sep + "\"" + std::string(c.element) + "\":\"bogus\""), c.type,
                IssueType::kCodeInvalid, path);
    ExpectIssue(Res(c.type, c.base + sep + "\"" + std::string(c.element) + "\":\"" +
                                (c.codes[0] == "draft" ? "Draft" : "DRAFT") + "\""),
                c.type, IssueType::kCodeInvalid, path);
    ExpectIssue(Res(c.type, c.base + sep + "\"" + std::string(c.element) + "\":{\"code\":\"" +
                                std::string(c.codes[0]) + "\"}"),
                c.type, IssueType::kStructure, path);
  }
}

TEST(ResourceRules, CodeInvalidMessageListsTheCodes) {
  Outcome o = Check(Res("Questionnaire", R"("status":"final")"), "Questionnaire");
  ASSERT_EQ(o.issues().size(), 1u);
  EXPECT_EQ(o.issues()[0].diagnostics,
            "'final' is not a valid Questionnaire.status (expected one of draft, active, "
            "retired, unknown)");
}

TEST(ResourceRules, RequiredElements) {
  const std::string sub(kSubject);
  ExpectIssue(Res("CarePlan", R"("status":"active","intent":"plan")"), "CarePlan",
              IssueType::kRequired, "CarePlan.subject");
  ExpectIssue(Res("ServiceRequest", R"("status":"active","intent":"order")"), "ServiceRequest",
              IssueType::kRequired, "ServiceRequest.subject");
  ExpectIssue(Res("Consent", R"("status":"active","category":[{"text":"y"}])"), "Consent",
              IssueType::kRequired, "Consent.scope");
  ExpectIssue(Res("Consent", R"("status":"active","scope":{"text":"x"})"), "Consent",
              IssueType::kRequired, "Consent.category");
  ExpectIssue(Res("Consent", R"("status":"active","scope":{"text":"x"},"category":{"text":"y"})"),
              "Consent", IssueType::kStructure, "Consent.category");
  ExpectIssue(Res("Observation", R"("status":"final")"), "Observation", IssueType::kRequired,
              "Observation.code");
  ExpectIssue(Res("Condition", ""), "Condition", IssueType::kRequired, "Condition.subject");
  ExpectIssue(Res("Goal", R"("lifecycleStatus":"active",)" + sub), "Goal", IssueType::kRequired,
              "Goal.description");
  ExpectIssue(Res("Goal", R"("lifecycleStatus":"active","description":{"text":"x"})"), "Goal",
              IssueType::kRequired, "Goal.subject");
  const std::string endpoint_base = R"("status":"active")";
  ExpectIssue(
      Res("Endpoint", endpoint_base + R"(,"payloadType":[{"text":"p"}],"address":"https://x")"),
      "Endpoint", IssueType::kRequired, "Endpoint.connectionType");
  ExpectIssue(
      Res("Endpoint", endpoint_base + R"(,"connectionType":{"code":"c"},"address":"https://x")"),
      "Endpoint", IssueType::kRequired, "Endpoint.payloadType");
  ExpectIssue(Res("Endpoint",
                  endpoint_base + R"(,"connectionType":{"code":"c"},"payloadType":[{"text":"p"}])"),
              "Endpoint", IssueType::kRequired, "Endpoint.address");
}

TEST(ResourceRules, PrimitiveWithOnlyAnExtensionCountsAsPresent) {
  // A required code may be sent with only a data-absent-reason extension under "_status".
  ExpectValid(Res("Questionnaire",
                  R"("_status":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/)"
                  R"(data-absent-reason","valueCode":"unknown"}]})"),
              "Questionnaire");
}

TEST(ResourceRules, PatientGenderAndPriority) {
  for (std::string_view g : {"male", "female", "other", "unknown"}) {
    ExpectValid(Res("Patient", R"("gender":")" + std::string(g) + "\""), "Patient");
  }
  ExpectIssue(Res("Patient", R"("gender":"M")"), "Patient", IssueType::kCodeInvalid,
              "Patient.gender");
  ExpectIssue(Res("Task", R"("status":"ready","intent":"order","priority":"high")"), "Task",
              IssueType::kCodeInvalid, "Task.priority");
  ExpectValid(Res("Task", R"("status":"ready","intent":"order","priority":"stat")"), "Task");
}

// ---------------------------------------------------------------------------------------------
// The generic walk.

TEST(ResourceWalk, ReferencesEverywhere) {
  ExpectIssue(
      Res("CarePlan", R"("status":"active","intent":"plan","subject":{"reference":"Patient/a b"})"),
      "CarePlan", IssueType::kValue, "CarePlan.subject.reference");
  ExpectIssue(Res("Task", R"("status":"ready","intent":"order","input":[)"
                          R"({"type":{"text":"a"},"valueString":"x"},)"
                          R"({"type":{"text":"b"},"valueString":"y"},)"
                          R"({"type":{"text":"c"},"valueReference":{"reference":"Nope/1"}}])"),
              "Task", IssueType::kValue, "Task.input[2].valueReference.reference");
  // A "reference" that is not a string is not a Reference.reference (e.g. an extension's value).
  ExpectValid(Res("Patient", R"("link":[{"other":{"reference":"Patient/x"},"type":"seealso"}])"),
              "Patient");
}

TEST(ResourceWalk, EmptyArraysStringsAndObjectsAreRejected) {
  ExpectIssue(Res("Patient", R"("name":[])"), "Patient", IssueType::kStructure, "Patient.name");
  ExpectIssue(Res("Patient", R"("name":[{"family":""}])"), "Patient", IssueType::kValue,
              "Patient.name[0].family");
  ExpectIssue(Res("Patient", R"("name":[{"given":["Ann"," \t"]}])"), "Patient", IssueType::kValue,
              "Patient.name[0].given[1]");
  ExpectIssue(Res("Patient", R"("maritalStatus":{})"), "Patient", IssueType::kStructure,
              "Patient.maritalStatus");
  ExpectValid(Res("Patient", R"("name":[{"text":" Ann "}])"), "Patient");
}

TEST(ResourceWalk, NullsOnlyPadPrimitiveArraysWithExtensions) {
  ExpectValid(
      Res("Patient", R"("name":[{"given":["Jim",null],)"
                     R"("_given":[null,{"extension":[{"url":"http://x","valueString":"y"}]}]}])"),
      "Patient");
  ExpectIssue(Res("Patient", R"("gender":null)"), "Patient", IssueType::kStructure,
              "Patient.gender");
  ExpectIssue(Res("Patient", R"("name":[{"given":["Jim",null]}])"), "Patient",
              IssueType::kStructure, "Patient.name[0].given[1]");
  ExpectIssue(Res("Patient", R"("name":[null])"), "Patient", IssueType::kStructure,
              "Patient.name[0]");
}

TEST(ResourceWalk, ElementNamesAndPrimitiveExtensions) {
  ExpectIssue(Res("Patient", R"("foo-bar":1)"), "Patient", IssueType::kStructure,
              "Patient.foo-bar");
  ExpectIssue(Res("Patient", R"("name":[{"1st":"x"}])"), "Patient", IssueType::kStructure,
              "Patient.name[0].1st");
  ExpectIssue(Res("Patient", R"("":1)"), "Patient", IssueType::kStructure, "Patient.");
  ExpectIssue(Res("Patient", R"("birthDate":"1970-01-01","_birthDate":"x")"), "Patient",
              IssueType::kStructure, "Patient._birthDate");
  ExpectIssue(Res("Patient", R"("name":[{"given":["a"],"_given":[1]}])"), "Patient",
              IssueType::kStructure, "Patient.name[0]._given");
  ExpectIssue(Res("Patient", R"("name":[["x"]])"), "Patient", IssueType::kStructure,
              "Patient.name[0]");
}

TEST(ResourceWalk, KnownPrimitives) {
  for (std::string_view ok : {"1974", "1974-12", "1974-12-25", "2000-02-29"}) {
    ExpectValid(Res("Patient", R"("birthDate":")" + std::string(ok) + "\""), "Patient");
  }
  for (std::string_view bad : {"0000", "74-12-25", "1974-13", "1974-12-32", "1974-02-30",
                               "1900-02-29", "1974-1-5", "1974-12-25T10:00:00Z", "1974/12/25"}) {
    ExpectIssue(Res("Patient", R"("birthDate":")" + std::string(bad) + "\""), "Patient",
                IssueType::kValue, "Patient.birthDate");
  }
  ExpectIssue(Res("Patient", R"("birthDate":19741225)"), "Patient", IssueType::kValue,
              "Patient.birthDate");

  const std::string task = R"("status":"ready","intent":"order","authoredOn":")";
  for (std::string_view ok :
       {"2016", "2016-03", "2016-03-10", "2016-03-10T22:39:32-04:00", "2016-03-10T22:39:32Z",
        "2016-03-10T22:39:32.123456+14:00", "2016-12-31T23:59:60Z"}) {
    ExpectValid(Res("Task", task + std::string(ok) + "\""), "Task");
  }
  for (std::string_view bad :
       {"2016-03-10T22:39:32", "2016-03-10T22:39Z", "2016-03-10T24:00:00Z",
        "2016-03-10T22:39:32+15:00", "2016-03-10T22:39:32+14:30", "2016-03-10T22:39:32.Z",
        "2016-03-10 22:39:32Z", "2016-03T22:39:32Z", "now"}) {
    ExpectIssue(Res("Task", task + std::string(bad) + "\""), "Task", IssueType::kValue,
                "Task.authoredOn");
  }
  ExpectIssue(Res("Patient", R"("active":"true")"), "Patient", IssueType::kValue, "Patient.active");
  ExpectIssue(Res("Questionnaire", R"("status":"draft","experimental":1)"), "Questionnaire",
              IssueType::kValue, "Questionnaire.experimental");
  ExpectValid(Res("Patient", R"("active":false)"), "Patient");
  ExpectIssue(Res("Observation", R"("status":"final","code":{"text":"x"},"issued":"yesterday")"),
              "Observation", IssueType::kValue, "Observation.issued");
}

TEST(ResourceWalk, ContainedResources) {
  const std::string base = R"("status":"active","intent":"plan",)" + std::string(kSubject);
  ExpectValid(Res("CarePlan", base + R"(,"contained":[{"resourceType":"Condition","id":"c1",)"
                                     R"("subject":{"reference":"Patient/p1"}}],)"
                                     R"("addresses":[{"reference":"#c1"}])"),
              "CarePlan");
  ExpectIssue(Res("CarePlan", base + R"(,"contained":[{"resourceType":"Condition",)"
                                     R"("subject":{"reference":"Patient/p1"}}])"),
              "CarePlan", IssueType::kRequired, "CarePlan.contained[0].id");
  ExpectIssue(Res("CarePlan", base + R"(,"contained":[{"resourceType":"Nope","id":"x"}])"),
              "CarePlan", IssueType::kStructure, "CarePlan.contained[0].resourceType");
  ExpectIssue(Res("CarePlan", base + R"(,"contained":[{"resourceType":"Practitioner","id":"x",)"
                                     R"("contained":[{"resourceType":"Patient","id":"y"}]}])"),
              "CarePlan", IssueType::kStructure, "CarePlan.contained[0].contained");
  // Contained resources get their own type's rules and the generic walk.
  ExpectIssue(Res("CarePlan", base + R"(,"contained":[{"resourceType":"Condition","id":"c"}])"),
              "CarePlan", IssueType::kRequired, "CarePlan.contained[0].subject");
  ExpectIssue(Res("CarePlan", base + R"(,"contained":[{"resourceType":"Practitioner","id":"x",)"
                                     R"("name":[{"family":""}]}])"),
              "CarePlan", IssueType::kValue, "CarePlan.contained[0].name[0].family");
  ExpectIssue(Res("CarePlan", base + R"(,"contained":[])"), "CarePlan", IssueType::kStructure,
              "CarePlan.contained");
  ExpectIssue(Res("CarePlan", base + R"(,"contained":{"resourceType":"Patient","id":"x"})"),
              "CarePlan", IssueType::kStructure, "CarePlan.contained");
}

TEST(ResourceWalk, ReportsEveryProblem) {
  Outcome o = Check(Res("CarePlan", R"("id":"..","status":"x","name":[])"), "CarePlan");
  EXPECT_GE(o.issues().size(), 4u) << Describe(o);  // id, status, intent, subject, name
}

TEST(ResourceWalk, IssueCountIsCappedAndValuesAreQuotedShort) {
  std::string names;
  for (int i = 0; i < 500; ++i) {
    names += std::string(i == 0 ? "" : ",") + R"({"family":""})";
  }
  Outcome o = Check(Res("Patient", R"("name":[)" + names + "]"), "Patient");
  ASSERT_EQ(o.issues().size(), 101u);
  EXPECT_EQ(o.issues().back().type, IssueType::kTooCostly);

  Outcome long_value =
      Check(Res("Patient", R"("gender":")" + std::string(5000, 'x') + "\""), "Patient");
  ASSERT_EQ(long_value.issues().size(), 1u);
  EXPECT_LT(long_value.issues()[0].diagnostics.size(), 300u);
}

// ---------------------------------------------------------------------------------------------
// PatientIdOf and StampMeta.

TEST(ResourcePatient, PatientIdOf) {
  EXPECT_EQ(PatientIdOf("Patient", MustParse(R"({"resourceType":"Patient","id":"p1"})")), "p1");
  EXPECT_EQ(PatientIdOf("Patient", MustParse(R"({"resourceType":"Patient"})")), std::nullopt);
  EXPECT_EQ(PatientIdOf("CarePlan", MustParse(R"({"subject":{"reference":"Patient/a"}})")), "a");
  EXPECT_EQ(PatientIdOf("Consent", MustParse(R"({"patient":{"reference":"Patient/b"}})")), "b");
  EXPECT_EQ(PatientIdOf("Task", MustParse(R"({"for":{"reference":"Patient/c/_history/3"}})")), "c");
  EXPECT_EQ(PatientIdOf("Coverage", MustParse(R"({"beneficiary":{"reference":"Patient/d"}})")),
            "d");
  // First element that names a patient wins; other subjects are skipped.
  EXPECT_EQ(PatientIdOf("Task", MustParse(R"({"subject":{"reference":"Group/g"},)"
                                          R"("for":{"reference":"Patient/e"}})")),
            "e");
  EXPECT_EQ(PatientIdOf("Task", MustParse(R"({"subject":{"reference":"Patient/f"},)"
                                          R"("for":{"reference":"Patient/e"}})")),
            "f");
  EXPECT_EQ(PatientIdOf("Task", MustParse(R"({"for":{"reference":"Group/g"}})")), std::nullopt);
  EXPECT_EQ(PatientIdOf("Task", MustParse(R"({"for":{"reference":"Patient/.."}})")), std::nullopt);
  EXPECT_EQ(PatientIdOf("Task", MustParse(R"({"for":{"reference":"Patient/a/b"}})")), std::nullopt);
  EXPECT_EQ(PatientIdOf("Task", MustParse(R"({"for":{"display":"someone"}})")), std::nullopt);
  EXPECT_EQ(PatientIdOf("Task", MustParse(R"({"for":"Patient/x"})")), std::nullopt);
}

std::string StampedOf(std::string_view text, std::string_view version, std::string_view instant) {
  return Stamped(WriteUnstamped(MustParse(text)), version, instant);
}

TEST(ResourceMeta, StampPlacesNewMetaAfterId) {
  EXPECT_EQ(StampedOf(R"({"resourceType":"Patient","id":"p1","active":true})", "1",
                      "2024-01-01T00:00:00Z"),
            R"({"resourceType":"Patient","id":"p1","meta":{"versionId":"1",)"
            R"("lastUpdated":"2024-01-01T00:00:00Z"},"active":true})");
  EXPECT_EQ(StampedOf(R"({"resourceType":"Patient","id":"p1"})", "3", "2024-01-01T00:00:00Z"),
            R"({"resourceType":"Patient","id":"p1","meta":{"versionId":"3",)"
            R"("lastUpdated":"2024-01-01T00:00:00Z"}})");
}

TEST(ResourceMeta, StampWithoutIdGoesAfterResourceType) {
  EXPECT_EQ(StampedOf(R"({"resourceType":"Patient","active":true})", "2", "2024-01-02T00:00:00Z"),
            R"({"resourceType":"Patient","meta":{"versionId":"2",)"
            R"("lastUpdated":"2024-01-02T00:00:00Z"},"active":true})");
  EXPECT_EQ(StampedOf(R"({"resourceType":"Patient","active":true,"id":"x"})", "1",
                      "2024-01-02T00:00:00Z"),
            R"({"resourceType":"Patient","active":true,"id":"x","meta":{"versionId":"1",)"
            R"("lastUpdated":"2024-01-02T00:00:00Z"}})");
  // Nothing to follow: meta opens the object.
  EXPECT_EQ(StampedOf(R"({"active":true})", "1", "2024-01-02T00:00:00Z"),
            R"({"meta":{"versionId":"1","lastUpdated":"2024-01-02T00:00:00Z"},"active":true})");
  EXPECT_EQ(StampedOf(R"({})", "1", "2024-01-02T00:00:00Z"),
            R"({"meta":{"versionId":"1","lastUpdated":"2024-01-02T00:00:00Z"}})");
}

TEST(ResourceMeta, StampKeepsMetaWhereItWasAndItsOtherMembersInOrder) {
  const std::string r = StampedOf(
      R"({"resourceType":"Patient","id":"p1","meta":{"profile":["http://x"],"versionId":"7",)"
      R"("lastUpdated":"2000-01-01T00:00:00Z","tag":[{"code":"t"}]},"active":true})",
      "8", "2024-01-03T00:00:00Z");
  EXPECT_EQ(r, R"({"resourceType":"Patient","id":"p1","meta":{"versionId":"8",)"
               R"("lastUpdated":"2024-01-03T00:00:00Z","profile":["http://x"],)"
               R"("tag":[{"code":"t"}]},"active":true})");
  std::string message;
  auto parsed = json::Parse(r, json::Limits{}, message);
  ASSERT_TRUE(parsed.has_value()) << message;
  Outcome outcome;
  EXPECT_TRUE(ValidateResource(*parsed, "Patient", outcome)) << Describe(outcome);
  EXPECT_EQ(StampedOf(R"({"resourceType":"Patient","meta":{"profile":["http://x"]}})", "1",
                      "2024-01-03T00:00:00Z"),
            R"({"resourceType":"Patient","meta":{"versionId":"1",)"
            R"("lastUpdated":"2024-01-03T00:00:00Z","profile":["http://x"]}})");
  EXPECT_EQ(StampedOf(R"({"meta":{"source":"#a"},"resourceType":"Patient","id":"p"})", "2",
                      "2024-01-03T00:00:00Z"),
            R"({"meta":{"versionId":"2","lastUpdated":"2024-01-03T00:00:00Z","source":"#a"},)"
            R"("resourceType":"Patient","id":"p"})");
  EXPECT_EQ(StampedOf(R"({"resourceType":"Patient","active":true,"meta":{"source":"#a"}})", "2",
                      "2024-01-03T00:00:00Z"),
            R"({"resourceType":"Patient","active":true,"meta":{"versionId":"2",)"
            R"("lastUpdated":"2024-01-03T00:00:00Z","source":"#a"}})");
}

TEST(ResourceMeta, StampReplacesNonObjectMeta) {
  EXPECT_EQ(StampedOf(R"({"resourceType":"Patient","id":"p","meta":"junk","active":false})", "1",
                      "2024-01-03T00:00:00Z"),
            R"({"resourceType":"Patient","id":"p","meta":{"versionId":"1",)"
            R"("lastUpdated":"2024-01-03T00:00:00Z"},"active":false})");
}

// ---------------------------------------------------------------------------------------------
// Official R4 examples (and our own fixtures): valid, and byte-stable through Parse/Write.

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Returns how many files were checked.
int CheckExamples(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".json") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  int checked = 0;
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    const std::string text = ReadFile(path);
    std::string message;
    Result<json::Value> parsed = json::Parse(text, json::Limits{}, message);
    EXPECT_TRUE(parsed.has_value()) << message;
    if (!parsed.has_value()) {
      continue;
    }
    const std::string type(parsed->StringAt("resourceType"));
    const ResourceTypeInfo* info = FindSupportedType(type);
    if (info == nullptr || !info->writable) {
      continue;
    }
    ++checked;
    Outcome outcome;
    EXPECT_TRUE(ValidateResource(*parsed, type, outcome)) << Describe(outcome);
    EXPECT_TRUE(outcome.empty()) << Describe(outcome);

    const std::string written = json::Write(*parsed);
    Result<json::Value> again = json::Parse(written, json::Limits{}, message);
    EXPECT_TRUE(again.has_value()) << message;
    if (!again.has_value()) {
      continue;
    }
    EXPECT_TRUE(*again == *parsed);
    EXPECT_EQ(json::Write(*again), written);
  }
  return checked;
}

TEST(ResourceConformance, OfficialR4Examples) {
  const std::filesystem::path dir = std::filesystem::path(CAREBRIDGE_SHARED_DIR) / "conformance/r4";
  if (!std::filesystem::is_directory(dir)) {
    GTEST_SKIP() << dir << " is missing";
  }
  EXPECT_GT(CheckExamples(dir), 40);
}

TEST(ResourceConformance, OurFixtures) {
  const std::filesystem::path dir = std::filesystem::path(CAREBRIDGE_FIXTURES_DIR) / "r4";
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  EXPECT_GE(CheckExamples(dir), 6);
}

}  // namespace
}  // namespace carebridge::fhir

namespace carebridge::fhir {
namespace {

TEST(ResourceReference, LocalIdOfOneTypeOnly) {
  EXPECT_EQ(LocalId("Patient/p1", "Patient"), "p1");
  EXPECT_EQ(LocalId("Patient/p1/_history/2", "Patient"), "p1");
  EXPECT_EQ(LocalId("PatientX/p1", "Patient"), "");
  EXPECT_EQ(LocalId("Patient/", "Patient"), "");
  EXPECT_EQ(LocalId("Group/p1", "Patient"), "");
  EXPECT_EQ(LocalId("https://other.example/fhir/Patient/p1", "Patient"), "");
}

TEST(ResourceReference, ParametersParts) {
  EXPECT_EQ(json::Write(ParameterText("status", "valueCode", "requested")),
            R"({"name":"status","valueCode":"requested"})");
  EXPECT_EQ(json::Write(ParameterReference("task", "Task/t1")),
            R"({"name":"task","valueReference":{"reference":"Task/t1"}})");
}

}  // namespace
}  // namespace carebridge::fhir
