// The mapping operations against the real gateway: ConceptMap/$translate, $map-preview,
// QuestionnaireResponse/$extract for PRAPARE and CANS, and the published Questionnaires and
// ConceptMaps.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "tests/integration/harness.h"

namespace carebridge::testing {
namespace {

namespace json = fhir::json;

constexpr const char* kPrapare =
    "http://hl7.org/fhir/us/sdoh-clinicalcare/Questionnaire/SDOHCC-QuestionnairePRAPARE";
constexpr const char* kSdoh =
    "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes";

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at)) {
    text.replace(at, from.size(), to);
    at += to.size();
  }
  return text;
}

// The value of parameter `name` (its first value[x] or part) in a Parameters resource.
const json::Value* Parameter(const json::Value& parameters, std::string_view name) {
  const json::Value* list = parameters.Find("parameter");
  if (list == nullptr) {
    return nullptr;
  }
  for (const auto& p : list->items()) {
    if (p.StringAt("name") == name) {
      return &p;
    }
  }
  return nullptr;
}

// How many entries of a transaction-response Bundle are of `type` with response `status`.
int CountEntries(const json::Value& bundle, std::string_view type, std::string_view status) {
  int n = 0;
  const json::Value* entries = bundle.Find("entry");
  if (entries == nullptr) {
    return -1;
  }
  for (const auto& entry : entries->items()) {
    const json::Value* resource = entry.Find("resource");
    if (resource != nullptr && resource->StringAt("resourceType") == type &&
        entry.Find("response")->StringAt("status") == status) {
      ++n;
    }
  }
  return n;
}

class MappingTest : public GatewaySuite {
 protected:
  static void SetUpTestSuite() { StartGateway(); }
  void SetUp() override { client_ = std::make_unique<Client>(gateway().BaseUrl()); }

  std::string NewPatient() {
    Response created = client_->Post("/fhir/Patient", Fixture("rest/patient.json"));
    EXPECT_EQ(created.status, 201) << created.body;
    return std::string(created.Json().StringAt("id"));
  }

  // Stores a QuestionnaireResponse fixture for `patient`, returns its id.
  std::string StoreResponse(const std::string& fixture, const std::string& patient,
                            const std::vector<std::pair<std::string, std::string>>& edits = {}) {
    std::string body = Fixture("questionnaires/" + fixture);
    body = Replace(body, "Patient/pat-prapare", "Patient/" + patient);
    body = Replace(body, "Patient/pat-cans", "Patient/" + patient);
    for (const auto& [from, to] : edits) {
      EXPECT_NE(body.find(from), std::string::npos) << from;
      body = Replace(body, from, to);
    }
    Response created = client_->Post("/fhir/QuestionnaireResponse", body);
    EXPECT_EQ(created.status, 201) << created.body;
    return std::string(created.Json().StringAt("id"));
  }

  Response Extract(const std::string& id, Client* client = nullptr) {
    return (client != nullptr ? client : client_.get())
        ->Post("/fhir/QuestionnaireResponse/" + id + "/$extract",
               R"({"resourceType":"Parameters"})");
  }

  std::unique_ptr<Client> client_;
};

TEST_F(MappingTest, QuestionnairesAndConceptMapsAreServed) {
  EXPECT_EQ(SearchTotal(*client_, std::string("/fhir/Questionnaire?url=") + kPrapare), "1");
  Response cans = client_->Get("/fhir/Questionnaire/cans");
  ASSERT_EQ(cans.status, 200) << cans.body;
  EXPECT_EQ(cans.Json().StringAt("url"), "https://carebridge.dev/fhir/Questionnaire/cans");
  EXPECT_EQ(SearchTotal(*client_, "/fhir/ConceptMap"), "7");
  Response map = client_->Get("/fhir/ConceptMap/riverside-service-category");
  ASSERT_EQ(map.status, 200) << map.body;
  EXPECT_EQ(map.Json().StringAt("resourceType"), "ConceptMap");
  // Published once from the data files; only the admin partner loads ConceptMaps through the API
  // (MappingLoadTest).
  EXPECT_EQ(map.Header("etag"), "W/\"1\"");
  EXPECT_EQ(client_->Post("/fhir/ConceptMap", map.body).status, 403);
}

TEST_F(MappingTest, CapabilityStatementListsTheOperations) {
  Response metadata = client_->Get("/fhir/metadata");
  ASSERT_EQ(metadata.status, 200);
  for (const char* definition :
       {"http://hl7.org/fhir/OperationDefinition/ConceptMap-translate",
        "http://hl7.org/fhir/uv/sdc/OperationDefinition/"
        "QuestionnaireResponse-extract",
        "https://carebridge.example.org/fhir/OperationDefinition/map-preview"}) {
    EXPECT_NE(metadata.body.find(definition), std::string::npos) << definition;
  }
  EXPECT_NE(metadata.body.find(R"("type":"ConceptMap")"), std::string::npos);
}

TEST_F(MappingTest, TranslateForwardAndReverse) {
  Response forward = client_->Post("/fhir/ConceptMap/$translate", R"({
    "resourceType":"Parameters","parameter":[
      {"name":"url","valueUri":"https://carebridge.example.org/fhir/ConceptMap/riverside-service-category"},
      {"name":"system","valueUri":"urn:oid:2.16.840.1.113883.19.5.riverside.service-type"},
      {"name":"code","valueCode":"FOOD"}]})");
  ASSERT_EQ(forward.status, 200) << forward.body;
  json::Value out = forward.Json();
  EXPECT_EQ(out.StringAt("resourceType"), "Parameters");
  ASSERT_NE(Parameter(out, "result"), nullptr) << forward.body;
  EXPECT_TRUE(Parameter(out, "result")->Find("valueBoolean")->as_bool());
  const json::Value* match = Parameter(out, "match");
  ASSERT_NE(match, nullptr) << forward.body;
  EXPECT_NE(forward.body.find(R"("valueCode":"equivalent")"), std::string::npos) << forward.body;
  EXPECT_NE(forward.body.find(R"("code":"food-insecurity")"), std::string::npos) << forward.body;
  EXPECT_NE(forward.body.find("riverside-service-category"), std::string::npos) << forward.body;

  Response reverse = client_->Post("/fhir/ConceptMap/$translate", std::string(R"({
    "resourceType":"Parameters","parameter":[
      {"name":"coding","valueCoding":{"system":")") + kSdoh + R"(","code":"housing-instability"}},
      {"name":"targetsystem","valueUri":"http://lakeside-cmhc.example.org/fhir/CodeSystem/referral-need"},
      {"name":"reverse","valueBoolean":true}]})");
  ASSERT_EQ(reverse.status, 200) << reverse.body;
  EXPECT_NE(reverse.body.find(R"("code":"need-housing")"), std::string::npos) << reverse.body;

  // No element for the code: Riverside's group says "fixed" (unspecified, inexact)...
  Response unmapped = client_->Post("/fhir/ConceptMap/$translate", R"({
    "resourceType":"Parameters","parameter":[
      {"name":"system","valueUri":"urn:oid:2.16.840.1.113883.19.5.riverside.service-type"},
      {"name":"code","valueCode":"NOPE"}]})");
  ASSERT_EQ(unmapped.status, 200) << unmapped.body;
  EXPECT_NE(unmapped.body.find(R"("valueCode":"inexact")"), std::string::npos) << unmapped.body;
  EXPECT_NE(unmapped.body.find("sdoh-category-unspecified"), std::string::npos) << unmapped.body;
  // ... Lakeside's has no unmapped rule: no result, and a message why.
  Response none = client_->Post("/fhir/ConceptMap/$translate", R"({
    "resourceType":"Parameters","parameter":[
      {"name":"system","valueUri":"http://lakeside-cmhc.example.org/fhir/CodeSystem/service"},
      {"name":"code","valueCode":"NOPE"}]})");
  ASSERT_EQ(none.status, 200) << none.body;
  ASSERT_NE(Parameter(none.Json(), "result"), nullptr) << none.body;
  EXPECT_FALSE(Parameter(none.Json(), "result")->Find("valueBoolean")->as_bool());
  EXPECT_NE(Parameter(none.Json(), "message"), nullptr) << none.body;
}

TEST_F(MappingTest, TranslateRefusesBadInput) {
  EXPECT_EQ(client_->Post("/fhir/ConceptMap/$translate", "{").status, 400);
  EXPECT_EQ(client_->Post("/fhir/ConceptMap/$translate", R"({"resourceType":"Patient"})").status,
            400);
  Response unknown = client_->Post("/fhir/ConceptMap/$translate", R"({
    "resourceType":"Parameters","parameter":[{"name":"url","valueUri":"urn:none"},
      {"name":"system","valueUri":"urn:x"},{"name":"code","valueCode":"y"}]})");
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  EXPECT_EQ(unknown.Json().StringAt("resourceType"), "OperationOutcome");
  Response get = client_->Get("/fhir/ConceptMap/$translate");
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(get.Header("allow"), "POST");
  // Any partner may translate (it discloses nothing stored): an agency checking its codes.
  Client agency(gateway().BaseUrl(), "harbor-housing");
  Response agency_translate = agency.Post("/fhir/ConceptMap/$translate", R"({
    "resourceType":"Parameters","parameter":[
      {"name":"url","valueUri":"https://carebridge.example.org/fhir/ConceptMap/lakeside-service-code"},
      {"name":"system","valueUri":"http://lakeside-cmhc.example.org/fhir/CodeSystem/service"},
      {"name":"code","valueCode":"pantry-enroll"}]})");
  EXPECT_EQ(agency_translate.status, 200) << agency_translate.body;
  EXPECT_NE(agency_translate.body.find("467771000124109"), std::string::npos);
  // ... and reads the ConceptMaps, like the directory: they hold no one's data.
  EXPECT_EQ(agency.Get("/fhir/ConceptMap/lakeside-service-code").status, 200);
}

TEST_F(MappingTest, MapPreviewInboundAndOutbound) {
  const std::string riverside = Fixture("mappings/riverside-ehr/ServiceRequest.json");
  Response inbound =
      client_->Post("/fhir/$map-preview?partner=riverside-ehr&direction=inbound", riverside);
  ASSERT_EQ(inbound.status, 200) << inbound.body;
  json::Value out = inbound.Json();
  const json::Value* mapped = Parameter(out, "return");
  ASSERT_NE(mapped, nullptr) << inbound.body;
  const std::string canonical = json::Write(*mapped->Find("resource"));
  EXPECT_NE(canonical.find(R"("code":"food-insecurity")"), std::string::npos) << canonical;
  EXPECT_NE(canonical.find("https://carebridge.example.org/fhir/sid/mrn"), std::string::npos)
      << canonical;
  EXPECT_EQ(canonical.find("riverside.service-type"), std::string::npos) << canonical;
  ASSERT_NE(Parameter(out, "outcome"), nullptr);
  EXPECT_EQ(Parameter(out, "outcome")->Find("resource")->StringAt("resourceType"),
            "OperationOutcome");

  // The canonical form out to Lakeside: Lakeside's codes.
  Response outbound = client_->Post("/fhir/$map-preview?partner=lakeside-cmhc&direction=outbound",
                                    json::Write(*mapped->Find("resource")));
  ASSERT_EQ(outbound.status, 200) << outbound.body;
  EXPECT_NE(outbound.body.find(R"("code":"need-food")"), std::string::npos) << outbound.body;
  // Nothing was stored.
  EXPECT_EQ(SearchTotal(*client_, "/fhir/ServiceRequest?category=" + std::string(kSdoh) +
                                      "|food-insecurity&code=urn:none|x"),
            "0");
}

TEST_F(MappingTest, MapPreviewRefusesBadInput) {
  const std::string sr = Fixture("mappings/riverside-ehr/ServiceRequest.json");
  EXPECT_EQ(client_->Post("/fhir/$map-preview?direction=inbound", sr).status, 400);
  EXPECT_EQ(client_->Post("/fhir/$map-preview?partner=riverside-ehr&direction=sideways", sr).status,
            400);
  Response unknown = client_->Post("/fhir/$map-preview?partner=nobody&direction=inbound", sr);
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  EXPECT_EQ(
      client_->Post("/fhir/$map-preview?partner=riverside-ehr&direction=inbound", "[1]").status,
      400);
  EXPECT_EQ(client_
                ->Post("/fhir/$map-preview?partner=riverside-ehr&direction=inbound",
                       R"({"resourceType":"NotAType"})")
                .status,
            400);
  // A resource that breaks FHIR's rules is 422, as on create.
  EXPECT_EQ(client_
                ->Post("/fhir/$map-preview?partner=riverside-ehr&direction=inbound",
                       R"({"resourceType":"ServiceRequest","status":"bogus","intent":"order",
                              "subject":{"reference":"Patient/x"}})")
                .status,
            422);
}

TEST_F(MappingTest, PrapareExtractYieldsObservationsConditionsAndDraftReferrals) {
  const std::string patient = NewPatient();
  const std::string qr = StoreResponse("prapare-housing-food.json", patient);
  Response first = Extract(qr);
  ASSERT_EQ(first.status, 200) << first.body;
  json::Value bundle = first.Json();
  EXPECT_EQ(bundle.StringAt("type"), "transaction-response");
  EXPECT_EQ(CountEntries(bundle, "Observation", "201 Created"), 11) << first.body;
  EXPECT_EQ(CountEntries(bundle, "Condition", "201 Created"), 2);
  EXPECT_EQ(CountEntries(bundle, "ServiceRequest", "201 Created"), 2);

  const std::string subject = "subject=Patient/" + patient;
  EXPECT_EQ(SearchTotal(*client_, "/fhir/Observation?" + subject), "11");
  EXPECT_EQ(
      SearchTotal(*client_, "/fhir/Observation?" + subject + "&code=http://loinc.org|93033-9"),
      "1");
  EXPECT_EQ(SearchTotal(*client_, "/fhir/Condition?" + subject), "2");
  EXPECT_EQ(SearchTotal(*client_, "/fhir/Condition?" + subject + "&code=http://snomed.info/sct|" +
                                      "733423003"),
            "1");
  EXPECT_EQ(SearchTotal(*client_, "/fhir/Condition?" + subject +
                                      "&code=http://hl7.org/fhir/sid/icd-10-cm|Z59.811"),
            "1");
  EXPECT_EQ(SearchTotal(*client_, "/fhir/ServiceRequest?" + subject + "&status=draft"), "2");
  EXPECT_EQ(SearchTotal(*client_, "/fhir/ServiceRequest?" + subject + "&category=" + kSdoh +
                                      "|food-insecurity"),
            "1");
  EXPECT_EQ(SearchTotal(*client_, "/fhir/ServiceRequest?" + subject + "&category=" + kSdoh +
                                      "|housing-instability"),
            "1");
  EXPECT_EQ(SearchTotal(*client_, "/fhir/ServiceRequest?" + subject + "&status=active"), "0");

  // Idempotent: the second run creates nothing new and adds no versions.
  Response second = Extract(qr);
  ASSERT_EQ(second.status, 200) << second.body;
  json::Value again = second.Json();
  EXPECT_EQ(CountEntries(again, "Observation", "200 OK"), 11) << second.body;
  EXPECT_EQ(CountEntries(again, "Condition", "200 OK"), 2);
  EXPECT_EQ(CountEntries(again, "ServiceRequest", "200 OK"), 2);
  EXPECT_EQ(CountEntries(again, "Observation", "201 Created"), 0);
  EXPECT_EQ(SearchTotal(*client_, "/fhir/Observation?" + subject), "11");
  EXPECT_EQ(SearchTotal(*client_, "/fhir/Condition?" + subject), "2");
  const json::Value& entry = again.Find("entry")->items()[0];
  EXPECT_EQ(entry.Find("response")->StringAt("etag"), "W/\"1\"");
  EXPECT_EQ(first.Json().Find("entry")->items()[0].StringAt("fullUrl"), entry.StringAt("fullUrl"));
}

TEST_F(MappingTest, CansExtractYieldsNeedsAndADraftCarePlan) {
  const std::string patient = NewPatient();
  const std::string qr = StoreResponse("cans-needs.json", patient);
  // The care coordinator runs it, under the patient's consent to share with it for treatment.
  Response consent = client_->Post("/fhir/Consent",
                                   R"({"resourceType":"Consent","status":"active",
        "scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope",
          "code":"patient-privacy"}]},
        "category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],
        "patient":{"reference":"Patient/)" +
                                       patient + R"("},"dateTime":"2026-11-01",
        "policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode",
          "code":"OPTIN"}]},
        "provision":{"type":"permit","actor":[{"role":{"coding":[{"system":
          "http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},
          "reference":{"reference":"Organization/care-coordination"}}],
          "purpose":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason",
          "code":"TREAT"}]}})");
  ASSERT_EQ(consent.status, 201) << consent.body;
  Client coordinator(gateway().BaseUrl(), "care-coordination");
  Response extracted = Extract(qr, &coordinator);
  ASSERT_EQ(extracted.status, 200) << extracted.body;
  json::Value bundle = extracted.Json();
  EXPECT_EQ(CountEntries(bundle, "Condition", "201 Created"), 3);
  EXPECT_EQ(CountEntries(bundle, "Goal", "201 Created"), 3);
  EXPECT_EQ(CountEntries(bundle, "CarePlan", "201 Created"), 1);
  EXPECT_EQ(CountEntries(bundle, "ServiceRequest", "201 Created"), 2);
  const std::string subject = "subject=Patient/" + patient;
  EXPECT_EQ(SearchTotal(coordinator, "/fhir/CarePlan?" + subject + "&status=draft"), "1");
  EXPECT_EQ(SearchTotal(coordinator, "/fhir/CarePlan?" + subject + "&status=active"), "0");
  EXPECT_EQ(SearchTotal(coordinator, "/fhir/Goal?" + subject), "3");
  EXPECT_EQ(SearchTotal(coordinator, "/fhir/Condition?" + subject +
                                         "&code=https://carebridge.dev/fhir/CodeSystem/cans-item|"
                                         "living-situation"),
            "1");
  EXPECT_EQ(SearchTotal(coordinator, "/fhir/ServiceRequest?" + subject + "&category=" + kSdoh +
                                         "|housing-instability&status=draft"),
            "1");
  Response again = Extract(qr, &coordinator);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(CountEntries(again.Json(), "CarePlan", "200 OK"), 1);
  EXPECT_EQ(SearchTotal(coordinator, "/fhir/CarePlan?" + subject), "1");
  // The EHR that wrote the response runs it too: nothing new, and what the coordinator
  // contributed comes back without content (the consent releases it to the coordinator only).
  Response ehr = Extract(qr);
  ASSERT_EQ(ehr.status, 200) << ehr.body;
  EXPECT_EQ(ehr.body.find("201 Created"), std::string::npos);
  EXPECT_EQ(ehr.body.find(R"("resourceType":"CarePlan")"), std::string::npos);
}

TEST_F(MappingTest, ExtractedResourcesCarryTheResponsesSecurityLabels) {
  const std::string patient = NewPatient();
  const std::string qr = StoreResponse("prapare-housing-food.json", patient,
                                       {{R"("status": "completed",)",
                                         R"("status": "completed", "meta": {"security": [{"system":
          "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]},)"}});
  Response extracted = Extract(qr);
  ASSERT_EQ(extracted.status, 200) << extracted.body;
  json::Value bundle = extracted.Json();
  ASSERT_NE(bundle.Find("entry"), nullptr) << extracted.body;
  for (const auto& entry : bundle.Find("entry")->items()) {
    const json::Value* resource = entry.Find("resource");
    ASSERT_NE(resource, nullptr) << entry.StringAt("fullUrl");
    EXPECT_NE(json::Write(*resource->Find("meta")).find(R"("code":"R")"), std::string::npos)
        << json::Write(*resource);
  }
}

TEST_F(MappingTest, ConcurrentExtractsCreateEachResourceOnce) {
  const std::string patient = NewPatient();
  const std::string qr = StoreResponse("prapare-housing-food.json", patient);
  std::vector<long> statuses(4, 0);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    threads.emplace_back([&, i] {
      Client client(gateway().BaseUrl());
      statuses[i] = Extract(qr, &client).status;
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  for (long status : statuses) {
    EXPECT_EQ(status, 200);
  }
  const std::string subject = "subject=Patient/" + patient;
  EXPECT_EQ(SearchTotal(*client_, "/fhir/Observation?" + subject), "11");
  EXPECT_EQ(SearchTotal(*client_, "/fhir/ServiceRequest?" + subject), "2");
  Response again = Extract(qr);
  ASSERT_EQ(again.status, 200);
  json::Value bundle = again.Json();
  ASSERT_NE(bundle.Find("entry"), nullptr) << again.body;
  for (const auto& entry : bundle.Find("entry")->items()) {
    EXPECT_EQ(entry.Find("response")->StringAt("etag"), "W/\"1\"") << entry.StringAt("fullUrl");
  }
}

TEST_F(MappingTest, InvalidResponsesGetAnOutcomeNamingTheItem) {
  const std::string patient = NewPatient();
  struct Case {
    std::string fixture;
    std::pair<std::string, std::string> edit;
    std::string expression_part;
  };
  const Case cases[] = {
      {"prapare-housing-food.json",
       {R"("linkId": "/93042-0/93033-9")", R"("linkId": "/93042-0/00000-0")"},
       "linkId='/93042-0/00000-0'"},
      {"prapare-housing-food.json",
       {R"("valueInteger": 4)", R"("valueString": "four")"},
       "linkId='/93042-0/63512-8')"},
      {"cans-needs.json",
       {R"("linkId": "/acculturation/ritual")", R"("linkId": "/acculturation/language")"},
       "linkId='/acculturation/ritual')"},
  };
  for (const Case& c : cases) {
    const std::string qr = StoreResponse(c.fixture, patient, {c.edit});
    Response refused = Extract(qr);
    EXPECT_EQ(refused.status, 422) << refused.body;
    json::Value outcome = refused.Json();
    EXPECT_EQ(outcome.StringAt("resourceType"), "OperationOutcome");
    EXPECT_NE(refused.body.find(c.expression_part), std::string::npos) << c.expression_part << "\n"
                                                                       << refused.body;
  }
  // Nothing was written for them.
  EXPECT_EQ(SearchTotal(*client_, "/fhir/Observation?subject=Patient/" + patient), "0");
}

TEST_F(MappingTest, ExtractRefusals) {
  const std::string patient = NewPatient();
  EXPECT_EQ(Extract("no-such-response").status, 404);
  const std::string other = StoreResponse("prapare-housing-food.json", patient,
                                          {{kPrapare, "http://example.org/Questionnaire/unknown"}});
  Response unknown = Extract(other);
  EXPECT_EQ(unknown.status, 422) << unknown.body;
  EXPECT_NE(unknown.body.find("QuestionnaireResponse.questionnaire"), std::string::npos);
  const std::string in_progress =
      StoreResponse("prapare-housing-food.json", patient,
                    {{R"("status": "completed")", R"("status": "in-progress")"}});
  EXPECT_EQ(Extract(in_progress).status, 422);
  const std::string qr = StoreResponse("prapare-housing-food.json", patient);
  Client agency(gateway().BaseUrl(), "northside-food");
  EXPECT_EQ(Extract(qr, &agency).status, 403);
  Client privacy(gateway().BaseUrl(), "privacy-office");
  EXPECT_EQ(Extract(qr, &privacy).status, 403);
  Response get = client_->Get("/fhir/QuestionnaireResponse/" + qr + "/$extract");
  EXPECT_EQ(get.status, 405);
}

}  // namespace
}  // namespace carebridge::testing

namespace carebridge::testing {
namespace {

// A restart publishes the Questionnaires and ConceptMaps again only if they changed: no new
// versions for the same files.
TEST(MappingPublishTest, RestartAddsNoVersions) {
  TempDir dir;
  {
    GatewayProcess gateway(dir.path() / "data");
    ASSERT_TRUE(gateway.Start());
    Client client(gateway.BaseUrl());
    EXPECT_EQ(client.Get("/fhir/Questionnaire/cans").Header("etag"), "W/\"1\"");
    EXPECT_EQ(gateway.Stop(), 0);
  }
  GatewayProcess restarted(dir.path() / "data");
  ASSERT_TRUE(restarted.Start());
  Client client(restarted.BaseUrl());
  EXPECT_EQ(client.Get("/fhir/Questionnaire/cans").Header("etag"), "W/\"1\"");
  EXPECT_EQ(client.Get("/fhir/Questionnaire/SDOHCC-QuestionnairePRAPARE").Header("etag"),
            "W/\"1\"");
  EXPECT_EQ(client.Get("/fhir/ConceptMap/lakeside-diagnosis").Header("etag"), "W/\"1\"");
  EXPECT_EQ(restarted.Stop(), 0);
}

// ConceptMaps loaded through /fhir/ConceptMap by the admin partner translate at once, survive a
// restart, and are refused when the mapping data would not validate with them.
TEST(MappingLoadTest, AdminLoadsConceptMapsThroughTheApi) {
  TempDir dir;
  const std::string map = R"({"resourceType":"ConceptMap","status":"active",
    "url":"https://carebridge.example.org/fhir/ConceptMap/test-loaded",
    "group":[{"source":"urn:test:local","target":"http://snomed.info/sct",
      "element":[{"code":"L1","target":[{"code":"12345","equivalence":"equivalent"}]}]}]})";
  const std::string translate = R"({"resourceType":"Parameters","parameter":[
    {"name":"url","valueUri":"https://carebridge.example.org/fhir/ConceptMap/test-loaded"},
    {"name":"system","valueUri":"urn:test:local"},{"name":"code","valueCode":"L1"}]})";
  std::string id;
  {
    GatewayProcess gateway(dir.path() / "data");
    ASSERT_TRUE(gateway.Start());
    EXPECT_EQ(As(gateway, "riverside-ehr", "POST", "/fhir/ConceptMap", map).status, 403);
    Response created = As(gateway, "gateway-admin", "POST", "/fhir/ConceptMap", map);
    ASSERT_EQ(created.status, 201) << created.body;
    id = std::string(created.Json().StringAt("id"));
    Response translated =
        As(gateway, "riverside-ehr", "POST", "/fhir/ConceptMap/$translate", translate);
    ASSERT_EQ(translated.status, 200) << translated.body;
    EXPECT_NE(translated.body.find(R"("code":"12345")"), std::string::npos) << translated.body;

    // A second map with the same url, a broken one, and one over a shipped id: refused.
    Response twice = As(gateway, "gateway-admin", "POST", "/fhir/ConceptMap", map);
    EXPECT_EQ(twice.status, 422) << twice.body;
    std::string broken = map;
    broken.replace(broken.find("\"equivalent\""), 12, "\"sameish\"");
    broken.replace(broken.find("test-loaded"), 11, "test-broken");
    EXPECT_EQ(As(gateway, "gateway-admin", "POST", "/fhir/ConceptMap", broken).status, 422);
    std::string shipped = map;
    shipped.insert(1, R"("id":"riverside-service-category",)");
    EXPECT_EQ(
        As(gateway, "gateway-admin", "PUT", "/fhir/ConceptMap/riverside-service-category", shipped)
            .status,
        409);
    EXPECT_EQ(gateway.Stop(), 0);
  }
  GatewayProcess restarted(dir.path() / "data");
  ASSERT_TRUE(restarted.Start());
  Response again = As(restarted, "riverside-ehr", "POST", "/fhir/ConceptMap/$translate", translate);
  EXPECT_NE(again.body.find(R"("code":"12345")"), std::string::npos) << again.body;
  // Deleting it takes it out of the mappings.
  EXPECT_EQ(As(restarted, "gateway-admin", "DELETE", "/fhir/ConceptMap/" + id).status, 204);
  Response gone = As(restarted, "riverside-ehr", "POST", "/fhir/ConceptMap/$translate", translate);
  EXPECT_EQ(gone.body.find(R"("code":"12345")"), std::string::npos) << gone.body;
  EXPECT_EQ(restarted.Stop(), 0);
}

}  // namespace
}  // namespace carebridge::testing

namespace carebridge::testing {
namespace {

namespace fs = std::filesystem;

// SIGHUP reloads the mapping data; a set that does not validate is refused and the running one
// stays. A gateway does not start on one.
TEST(MappingReloadTest, HangupReloadsAndRefusesBadData) {
  TempDir dir;
  const fs::path mappings = dir.path() / "mappings";
  fs::copy(fs::path(CAREBRIDGE_SOURCE_DIR) / "mappings", mappings, fs::copy_options::recursive);
  GatewayProcess gateway(dir.path() / "data");
  gateway.set_config_extra(R"("mappings_dir":")" + mappings.string() + "\"");
  ASSERT_TRUE(gateway.Start());
  Client client(gateway.BaseUrl());
  const std::string sr = Fixture("mappings/riverside-ehr/ServiceRequest.json");
  const std::string preview = "/fhir/$map-preview?partner=riverside-ehr&direction=inbound";
  ASSERT_EQ(client.Post(preview, sr).status, 200);
  auto wait_for = [&](auto done) {
    for (int i = 0; i < 250 && !done(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return done();
  };

  // A broken definition: refused, the old mapping keeps working.
  {
    std::ofstream out(mappings / "partners/riverside-ehr.json");
    out << R"({"partner":"riverside-ehr","inbound":{"*":[{"rule":"nonsense"}]}})";
  }
  kill(gateway.pid(), SIGHUP);
  EXPECT_TRUE(wait_for([&] {
    return ReadFile(gateway.log_path()).find("mapping reload refused") != std::string::npos;
  })) << ReadFile(gateway.log_path());
  EXPECT_EQ(client.Post(preview, sr).status, 200);

  // A valid change (the partner removed): taken.
  fs::remove(mappings / "partners/riverside-ehr.json");
  kill(gateway.pid(), SIGHUP);
  EXPECT_TRUE(wait_for([&] { return client.Post(preview, sr).status == 404; }));
  EXPECT_NE(ReadFile(gateway.log_path()).find("mappings reloaded"), std::string::npos);

  // The admin call does the same, and says why it refuses.
  Client admin(gateway.BaseUrl(), "gateway-admin");
  {
    std::ofstream out(mappings / "partners/riverside-ehr.json");
    out << R"({"partner":"riverside-ehr","inbound":{"*":[{"rule":"nonsense"}]}})";
  }
  Response bad_reload = admin.Post("/fhir/$reload-mappings", "");
  EXPECT_EQ(bad_reload.status, 422) << bad_reload.body;
  EXPECT_NE(bad_reload.body.find("riverside-ehr.json"), std::string::npos) << bad_reload.body;
  EXPECT_EQ(client.Post(preview, sr).status, 404);  // the running set (without riverside) stays
  fs::copy_file(fs::path(CAREBRIDGE_SOURCE_DIR) / "mappings/partners/riverside-ehr.json",
                mappings / "partners/riverside-ehr.json", fs::copy_options::overwrite_existing);
  Response reloaded = admin.Post("/fhir/$reload-mappings", "");
  EXPECT_EQ(reloaded.status, 200) << reloaded.body;
  EXPECT_EQ(client.Post(preview, sr).status, 200);
  EXPECT_EQ(client.Post("/fhir/$reload-mappings", "").status, 403);
  EXPECT_EQ(gateway.Stop(), 0);

  // Start-up refuses a set that does not validate, naming the file.
  {
    std::ofstream out(mappings / "partners/lakeside-cmhc.json");
    out << R"({"partner":"lakeside-cmhc","inbound":{"*":[{"rule":"nonsense"}]}})";
  }
  GatewayProcess refused(dir.path() / "data2");
  refused.set_config_extra(R"("mappings_dir":")" + mappings.string() + "\"");
  EXPECT_FALSE(refused.Start());
  EXPECT_NE(ReadFile(refused.log_path()).find("partners/lakeside-cmhc.json"), std::string::npos)
      << ReadFile(refused.log_path());
}

}  // namespace
}  // namespace carebridge::testing
