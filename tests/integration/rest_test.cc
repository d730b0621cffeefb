// FHIR REST interactions against the real gateway: create, read, vread, update, delete,
// history, conditional create, search, content negotiation, fidelity.

#include <gtest/gtest.h>

#include <string>

#include "tests/integration/harness.h"

namespace carebridge::testing {
namespace {

namespace json = fhir::json;

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at)) {
    text.replace(at, from.size(), to);
    at += to.size();
  }
  return text;
}

class RestTest : public GatewaySuite {
 protected:
  static void SetUpTestSuite() { StartGateway(); }
  void SetUp() override { client_ = std::make_unique<Client>(gateway().BaseUrl()); }

  // Creates a fixture (with placeholders replaced) and returns its id.
  std::string CreateFixture(const std::string& type, const std::string& fixture,
                            const std::vector<std::pair<std::string, std::string>>& replace = {}) {
    std::string body = Fixture("rest/" + fixture);
    for (const auto& [from, to] : replace) {
      body = Replace(body, from, to);
    }
    Response created = client_->Post("/fhir/" + type, body);
    EXPECT_EQ(created.status, 201) << created.body;
    return std::string(created.Json().StringAt("id"));
  }

  std::string NewPatient() { return CreateFixture("Patient", "patient.json"); }

  std::unique_ptr<Client> client_;
};

TEST_F(RestTest, MetadataIsACapabilityStatementOfWhatIsImplemented) {
  Response response = client_->Get("/fhir/metadata");
  ASSERT_EQ(response.status, 200);
  EXPECT_NE(response.Header("content-type").find("application/fhir+json"), std::string::npos);
  json::Value cs = response.Json();
  EXPECT_EQ(cs.StringAt("resourceType"), "CapabilityStatement");
  EXPECT_EQ(cs.StringAt("fhirVersion"), "4.0.1");
  const json::Value* resources = cs.Find("rest")->items()[0].Find("resource");
  std::vector<std::string> types;
  for (const auto& resource : resources->items()) {
    types.emplace_back(resource.StringAt("type"));
  }
  for (const char* type : {"Patient", "CarePlan", "ServiceRequest", "Consent", "Questionnaire",
                           "QuestionnaireResponse", "Task", "Observation", "Condition", "Goal",
                           "Organization", "HealthcareService", "Endpoint", "AuditEvent"}) {
    EXPECT_NE(std::find(types.begin(), types.end(), type), types.end()) << type;
  }
}

TEST_F(RestTest, HealthAndReadiness) {
  EXPECT_EQ(client_->Get("/healthz").status, 200);
  EXPECT_EQ(client_->Get("/readyz").status, 200);
}

// `serve` runs with glibc's per-thread cache of freed chunks enlarged (main.cc): it set the tunable
// and executed itself again, in the same process.
TEST_F(RestTest, ServeRunsWithTheMallocCacheTuned) {
  const std::string variables = ReadFile("/proc/" + std::to_string(gateway().pid()) + "/environ");
  EXPECT_NE(variables.find("GLIBC_TUNABLES="), std::string::npos);
  EXPECT_NE(variables.find("glibc.malloc.tcache_count=64"), std::string::npos);
  EXPECT_EQ(client_->Get("/readyz").status, 200);
}

// No agency here takes pushes, so libcurl (and the GnuTLS, Kerberos and LDAP it brings) is never
// loaded: the delivery client loads it when the first one is made.
TEST_F(RestTest, ServeLoadsLibcurlOnlyForPushDeliveries) {
  EXPECT_EQ(client_->Get("/readyz").status, 200);
  const std::string mapped = ReadFile("/proc/" + std::to_string(gateway().pid()) + "/maps");
  EXPECT_NE(mapped.find("libssl.so"), std::string::npos);  // the gateway's maps, read whole
  EXPECT_EQ(mapped.find("libcurl"), std::string::npos);
  EXPECT_EQ(mapped.find("libgnutls"), std::string::npos);
}

TEST_F(RestTest, CreateAssignsIdVersionAndLocation) {
  std::string body = Fixture("rest/patient.json");
  Response created = client_->Post("/fhir/Patient", body);
  ASSERT_EQ(created.status, 201) << created.body;
  json::Value resource = created.Json();
  std::string id(resource.StringAt("id"));
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(resource.Find("meta")->StringAt("versionId"), "1");
  EXPECT_FALSE(resource.Find("meta")->StringAt("lastUpdated").empty());
  EXPECT_EQ(created.Header("etag"), "W/\"1\"");
  EXPECT_FALSE(created.Header("last-modified").empty());
  EXPECT_EQ(created.Header("location"),
            gateway().BaseUrl() + "/fhir/Patient/" + id + "/_history/1");

  Response read = client_->Get("/fhir/Patient/" + id);
  ASSERT_EQ(read.status, 200);
  EXPECT_EQ(read.Header("etag"), "W/\"1\"");
  EXPECT_EQ(read.body, created.body);
}

TEST_F(RestTest, WhatAPartnerSendsIsWhatItReadsBack) {
  std::string patient = NewPatient();
  std::string body = Replace(Fixture("rest/observation-decimal.json"), "PATIENT_ID", patient);
  Response created = client_->Post("/fhir/Observation", body);
  ASSERT_EQ(created.status, 201) << created.body;
  std::string id(created.Json().StringAt("id"));
  Response read = client_->Get("/fhir/Observation/" + id);
  ASSERT_EQ(read.status, 200);
  // Exact decimal text, primitive extensions and member order survive.
  EXPECT_NE(read.body.find(R"("value":2.50,)"), std::string::npos) << read.body;
  EXPECT_NE(read.body.find("0.000000000000000012345678901234567890"), std::string::npos);
  EXPECT_NE(read.body.find(R"("_status":{"extension")"), std::string::npos);
  std::string message;
  auto sent = json::Parse(body, json::Limits{}, message);
  ASSERT_TRUE(sent);
  json::Value got = read.Json();
  got.Remove("id");
  EXPECT_TRUE(WithoutMeta(std::move(got)) == *sent) << read.body;
}

TEST_F(RestTest, UpdateVersionsAndIfMatchGuardsAgainstLostUpdates) {
  std::string id = NewPatient();
  Response read = client_->Get("/fhir/Patient/" + id);
  json::Value patient = read.Json();
  patient.Set("gender", json::Value::String("other"));
  std::string v2 = json::Write(patient);

  Response updated = client_->Put("/fhir/Patient/" + id, v2, {"If-Match: W/\"1\""});
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(updated.Header("etag"), "W/\"2\"");
  EXPECT_EQ(updated.Json().Find("meta")->StringAt("versionId"), "2");

  Response stale = client_->Put("/fhir/Patient/" + id, v2, {"If-Match: W/\"1\""});
  EXPECT_EQ(stale.status, 412) << stale.body;
  EXPECT_EQ(stale.Json().StringAt("resourceType"), "OperationOutcome");
  EXPECT_EQ(client_->Get("/fhir/Patient/" + id).Header("etag"), "W/\"2\"");

  Response blind = client_->Put("/fhir/Patient/" + id, v2);
  EXPECT_EQ(blind.status, 200);
  EXPECT_EQ(blind.Header("etag"), "W/\"3\"");

  Response v1 = client_->Get("/fhir/Patient/" + id + "/_history/1");
  ASSERT_EQ(v1.status, 200);
  EXPECT_EQ(v1.Json().StringAt("gender"), "female");
  EXPECT_EQ(client_->Get("/fhir/Patient/" + id + "/_history/9").status, 404);
  EXPECT_EQ(client_->Get("/fhir/Patient/" + id + "/_history/x").status, 404);
}

TEST_F(RestTest, UpdateAsCreateWithClientId) {
  std::string body = Replace(Fixture("rest/patient.json"), R"({"resourceType":"Patient",)",
                             R"({"resourceType":"Patient","id":"client-chosen-1",)");
  Response created = client_->Put("/fhir/Patient/client-chosen-1", body);
  EXPECT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(client_->Get("/fhir/Patient/client-chosen-1").status, 200);
}

TEST_F(RestTest, UpdateIdMustMatchUrl) {
  std::string body = Replace(Fixture("rest/patient.json"), R"({"resourceType":"Patient",)",
                             R"({"resourceType":"Patient","id":"other",)");
  EXPECT_EQ(client_->Put("/fhir/Patient/mismatch", body).status, 400);
  EXPECT_EQ(client_->Put("/fhir/Patient/mismatch", Fixture("rest/patient.json")).status, 400);
}

TEST_F(RestTest, DeleteThenReadIsGoneAndHistoryKeepsIt) {
  std::string id = NewPatient();
  Response deleted = client_->Delete("/fhir/Patient/" + id);
  EXPECT_EQ(deleted.status, 204);
  Response gone = client_->Get("/fhir/Patient/" + id);
  EXPECT_EQ(gone.status, 410);
  EXPECT_EQ(gone.Json().StringAt("resourceType"), "OperationOutcome");
  EXPECT_EQ(client_->Get("/fhir/Patient/" + id + "/_history/1").status, 200);
  EXPECT_EQ(client_->Get("/fhir/Patient/" + id + "/_history/2").status, 410);
  EXPECT_EQ(client_->Delete("/fhir/Patient/" + id).status, 204);  // idempotent
  EXPECT_EQ(client_->Delete("/fhir/Patient/never-was").status, 404);

  Response history = client_->Get("/fhir/Patient/" + id + "/_history");
  ASSERT_EQ(history.status, 200);
  json::Value bundle = history.Json();
  EXPECT_EQ(bundle.StringAt("type"), "history");
  EXPECT_EQ(bundle.Find("total")->text(), "2");
  const auto& entries = bundle.Find("entry")->items();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].Find("request")->StringAt("method"), "DELETE");
  EXPECT_EQ(entries[1].Find("request")->StringAt("method"), "POST");
  EXPECT_NE(entries[1].Find("resource"), nullptr);
}

TEST_F(RestTest, TypeHistoryListsVersionsNewestFirst) {
  std::string id = NewPatient();
  Response history = client_->Get("/fhir/Patient/_history?_count=1");
  ASSERT_EQ(history.status, 200);
  json::Value bundle = history.Json();
  const auto& entries = bundle.Find("entry")->items();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].Find("resource")->StringAt("id"), id);
  // Whole-system history would mix every patient with the audit log: no role may read it.
  EXPECT_EQ(client_->Get("/fhir/_history?_count=2").status, 403);
}

TEST_F(RestTest, ConditionalCreateReturnsTheExistingResource) {
  std::string body = Replace(Fixture("rest/patient.json"), "RV-100234", "RV-COND-1");
  std::vector<std::string> header = {
      "If-None-Exist: identifier=urn:oid:2.16.840.1.113883.19.5.riverside.mrn|RV-COND-1"};
  Response first = client_->Post("/fhir/Patient", body, header);
  ASSERT_EQ(first.status, 201) << first.body;
  Response second = client_->Post("/fhir/Patient", body, header);
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(first.Json().StringAt("id"), second.Json().StringAt("id"));
  Response search = client_->Get(
      "/fhir/Patient?identifier=urn:oid:2.16.840.1.113883.19.5.riverside.mrn%7CRV-COND-1");
  EXPECT_EQ(search.Json().Find("total")->text(), "1");
}

TEST_F(RestTest, SearchByTheParametersACoordinatorUses) {
  std::string patient = NewPatient();
  std::string other_patient = NewPatient();
  std::string sr =
      CreateFixture("ServiceRequest", "servicerequest.json", {{"PATIENT_ID", patient}});
  CreateFixture("ServiceRequest", "servicerequest.json", {{"PATIENT_ID", other_patient}});
  std::string task = CreateFixture("Task", "task.json", {{"PATIENT_ID", patient}, {"SR_ID", sr}});

  auto total = [&](const std::string& query) { return SearchTotal(*client_, query); };
  EXPECT_EQ(total("/fhir/ServiceRequest?patient=" + patient), "1");
  EXPECT_EQ(total("/fhir/ServiceRequest?subject=Patient/" + patient), "1");
  EXPECT_EQ(total("/fhir/ServiceRequest?patient=" + patient + "&status=active"), "1");
  EXPECT_EQ(total("/fhir/ServiceRequest?patient=" + patient + "&status=draft"), "0");
  EXPECT_EQ(total("/fhir/ServiceRequest?patient=" + patient +
                  "&category=http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/"
                  "SDOHCC-CodeSystemTemporaryCodes%7Cfood-insecurity"),
            "1");
  EXPECT_EQ(total("/fhir/ServiceRequest?patient=" + patient +
                  "&code=http://snomed.info/sct%7C467771000124109"),
            "1");
  EXPECT_EQ(total("/fhir/ServiceRequest?patient=" + patient + "&code=wrong%7C467771000124109"),
            "0");
  EXPECT_EQ(total("/fhir/ServiceRequest?patient=" + patient + "&intent=order"), "1");
  EXPECT_EQ(total("/fhir/ServiceRequest?patient=" + patient + "&authored=ge2026-03-01"), "1");
  EXPECT_EQ(total("/fhir/ServiceRequest?patient=" + patient + "&authored=lt2026-03-01"), "0");
  EXPECT_EQ(
      total("/fhir/ServiceRequest?patient=" + patient + "&requester=Practitioner/coordinator-7"),
      "1");
  EXPECT_EQ(
      total("/fhir/ServiceRequest?patient=" + patient + "&performer=Organization/northside-food"),
      "1");
  EXPECT_EQ(total("/fhir/ServiceRequest?_id=" + sr), "1");
  EXPECT_EQ(total("/fhir/ServiceRequest?_id=" + sr + "&_lastUpdated=gt2000-01-01"), "1");
  EXPECT_EQ(total("/fhir/ServiceRequest?_id=" + sr + "&_lastUpdated=lt2000-01-01"), "0");
  EXPECT_EQ(
      total("/fhir/Task?owner=Organization/northside-food&status=requested&patient=" + patient),
      "1");
  EXPECT_EQ(total("/fhir/Task?focus=ServiceRequest/" + sr), "1");
  EXPECT_EQ(total("/fhir/Task?_id=" + task + "&status=requested,accepted"), "1");

  Response unknown = client_->Get("/fhir/ServiceRequest?colour=blue");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(unknown.Json().StringAt("resourceType"), "OperationOutcome");
  EXPECT_EQ(client_->Get("/fhir/ServiceRequest?authored=notadate").status, 400);
}

TEST_F(RestTest, SearchPagesWithTotalAndLinks) {
  std::string patient = NewPatient();
  for (int i = 0; i < 5; ++i) {
    CreateFixture("ServiceRequest", "servicerequest.json", {{"PATIENT_ID", patient}});
  }
  Response first = client_->Get("/fhir/ServiceRequest?patient=" + patient + "&_count=2");
  ASSERT_EQ(first.status, 200);
  json::Value bundle = first.Json();
  EXPECT_EQ(bundle.StringAt("type"), "searchset");
  EXPECT_EQ(bundle.Find("total")->text(), "5");
  EXPECT_EQ(bundle.Find("entry")->items().size(), 2u);
  std::string next;
  for (const auto& link : bundle.Find("link")->items()) {
    if (link.StringAt("relation") == "next") {
      next = std::string(link.StringAt("url"));
    }
  }
  ASSERT_FALSE(next.empty());
  ASSERT_EQ(next.rfind(gateway().BaseUrl(), 0), 0u) << next;
  std::set<std::string> seen;
  int pages = 0;
  while (!next.empty() && pages < 10) {
    Response page = client_->Get(next.substr(gateway().BaseUrl().size()));
    ASSERT_EQ(page.status, 200);
    json::Value page_bundle = page.Json();
    EXPECT_EQ(page_bundle.Find("total")->text(), "5");
    for (const auto& entry : page_bundle.Find("entry")->items()) {
      seen.insert(std::string(entry.Find("resource")->StringAt("id")));
      EXPECT_EQ(entry.Find("search")->StringAt("mode"), "match");
    }
    next.clear();
    for (const auto& link : page_bundle.Find("link")->items()) {
      if (link.StringAt("relation") == "next") {
        next = std::string(link.StringAt("url"));
      }
    }
    ++pages;
  }
  for (const auto& entry : bundle.Find("entry")->items()) {
    seen.insert(std::string(entry.Find("resource")->StringAt("id")));
  }
  EXPECT_EQ(seen.size(), 5u);

  Response sorted = client_->Get("/fhir/ServiceRequest?patient=" + patient + "&_sort=_lastUpdated");
  ASSERT_EQ(sorted.status, 200);
  std::string previous;
  json::Value sorted_bundle = sorted.Json();
  for (const auto& entry : sorted_bundle.Find("entry")->items()) {
    std::string updated(entry.Find("resource")->Find("meta")->StringAt("lastUpdated"));
    EXPECT_LE(previous, updated);
    previous = updated;
  }
  Response count_only = client_->Get("/fhir/ServiceRequest?patient=" + patient + "&_summary=count");
  ASSERT_EQ(count_only.status, 200);
  EXPECT_EQ(count_only.Json().Find("total")->text(), "5");
  EXPECT_EQ(count_only.Json().Find("entry"), nullptr);
}

TEST_F(RestTest, PostSearchTakesFormParameters) {
  std::string patient = NewPatient();
  CreateFixture("ServiceRequest", "servicerequest.json", {{"PATIENT_ID", patient}});
  Response response = client_->Request("POST", "/fhir/ServiceRequest/_search", "patient=" + patient,
                                       {"Content-Type: application/x-www-form-urlencoded"});
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.Json().Find("total")->text(), "1");
}

TEST_F(RestTest, RealClientsContentNegotiation) {
  std::string id = NewPatient();
  Response plain = client_->Get("/fhir/Patient/" + id, {"Accept: application/json"});
  EXPECT_EQ(plain.status, 200);
  EXPECT_EQ(plain.Header("content-type").rfind("application/json", 0), 0u);
  Response format = client_->Get("/fhir/Patient/" + id + "?_format=json");
  EXPECT_EQ(format.status, 200);
  Response xml = client_->Get("/fhir/Patient/" + id, {"Accept: application/fhir+xml"});
  EXPECT_EQ(xml.status, 406);
  EXPECT_EQ(xml.Json().StringAt("resourceType"), "OperationOutcome");
  EXPECT_EQ(client_->Get("/fhir/Patient/" + id + "?_format=xml").status, 406);
  Response any = client_->Get("/fhir/Patient/" + id, {"Accept: */*"});
  EXPECT_EQ(any.Header("content-type").rfind("application/fhir+json", 0), 0u);
}

TEST_F(RestTest, ReturnMinimalOmitsTheBody) {
  Response created =
      client_->Post("/fhir/Patient", Fixture("rest/patient.json"), {"Prefer: return=minimal"});
  EXPECT_EQ(created.status, 201);
  EXPECT_TRUE(created.body.empty());
  EXPECT_FALSE(created.Header("location").empty());
}

}  // namespace
}  // namespace carebridge::testing
