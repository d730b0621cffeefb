// Bundle batch and transaction against the real gateway.

#include <gtest/gtest.h>

#include <string>

#include "tests/integration/harness.h"

namespace carebridge::testing {
namespace {

namespace json = fhir::json;

class BundleTest : public GatewaySuite {
 protected:
  static void SetUpTestSuite() { StartGateway(); }
  void SetUp() override { client_ = std::make_unique<Client>(gateway().BaseUrl()); }

  std::string Total(const std::string& query) { return SearchTotal(*client_, query); }

  std::unique_ptr<Client> client_;
};

constexpr const char* kReferral = R"({"resourceType":"Bundle","type":"transaction","entry":[
  {"fullUrl":"urn:uuid:6c9a4c4e-0d1b-4a55-9d8e-1a2b3c4d5e01",
   "resource":{"resourceType":"Patient","identifier":[{"system":"urn:test:mrn","value":"TX-1"}],
               "name":[{"family":"Okafor","given":["Ada"]}]},
   "request":{"method":"POST","url":"Patient"}},
  {"fullUrl":"urn:uuid:6c9a4c4e-0d1b-4a55-9d8e-1a2b3c4d5e02",
   "resource":{"resourceType":"ServiceRequest","status":"active","intent":"order",
               "subject":{"reference":"urn:uuid:6c9a4c4e-0d1b-4a55-9d8e-1a2b3c4d5e01"},
               "code":{"text":"Housing navigation"}},
   "request":{"method":"POST","url":"ServiceRequest"}},
  {"fullUrl":"urn:uuid:6c9a4c4e-0d1b-4a55-9d8e-1a2b3c4d5e03",
   "resource":{"resourceType":"Task","status":"requested","intent":"order",
               "focus":{"reference":"urn:uuid:6c9a4c4e-0d1b-4a55-9d8e-1a2b3c4d5e02"},
               "for":{"reference":"urn:uuid:6c9a4c4e-0d1b-4a55-9d8e-1a2b3c4d5e01"},
               "owner":{"reference":"Organization/harbor-housing"}},
   "request":{"method":"POST","url":"Task"}}]})";

TEST_F(BundleTest, TransactionRewritesUrnUuidReferences) {
  // fhir-kit-client posts to the base with a trailing slash.
  Response response = client_->Post("/fhir/", kReferral);
  ASSERT_EQ(response.status, 200) << response.body;
  json::Value bundle = response.Json();
  EXPECT_EQ(bundle.StringAt("type"), "transaction-response");
  const auto& entries = bundle.Find("entry")->items();
  ASSERT_EQ(entries.size(), 3u);
  std::vector<std::string> locations;
  for (const auto& entry : entries) {
    EXPECT_EQ(entry.Find("response")->StringAt("status"), "201 Created");
    locations.emplace_back(entry.Find("response")->StringAt("location"));
  }
  std::string patient = locations[0].substr(0, locations[0].find("/_history"));
  std::string service_request = locations[1].substr(0, locations[1].find("/_history"));
  std::string task = locations[2].substr(0, locations[2].find("/_history"));
  Response read_task = client_->Get("/fhir/" + task);
  ASSERT_EQ(read_task.status, 200);
  json::Value task_json = read_task.Json();
  EXPECT_EQ(task_json.Find("focus")->StringAt("reference"), service_request);
  EXPECT_EQ(task_json.Find("for")->StringAt("reference"), patient);
  EXPECT_EQ(Total("/fhir/ServiceRequest?subject=" + patient), "1");
}

TEST_F(BundleTest, TransactionFailingValidationLeavesNothing) {
  std::string before = Total("/fhir/Patient?identifier=urn:test:mrn%7CTX-BAD");
  std::string bad = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"fullUrl":"urn:uuid:7c9a4c4e-0d1b-4a55-9d8e-1a2b3c4d5e01",
     "resource":{"resourceType":"Patient","identifier":[{"system":"urn:test:mrn","value":"TX-BAD"}]},
     "request":{"method":"POST","url":"Patient"}},
    {"resource":{"resourceType":"Task","intent":"order"},
     "request":{"method":"POST","url":"Task"}}]})";
  Response response = client_->Post("/fhir", bad);
  EXPECT_EQ(response.status, 422) << response.body;
  EXPECT_NE(response.body.find("Bundle.entry[1]"), std::string::npos) << response.body;
  EXPECT_EQ(Total("/fhir/Patient?identifier=urn:test:mrn%7CTX-BAD"), before);
}

TEST_F(BundleTest, TransactionFailingHalfWayInTheStoreLeavesNothing) {
  // Entry 2's If-Match is stale: the store refuses it after entries 0 and 1 were applied inside
  // the transaction, and all of it must roll back.
  std::string seed = R"({"resourceType":"Patient","id":"tx-guarded","gender":"male"})";
  ASSERT_EQ(client_->Put("/fhir/Patient/tx-guarded", seed).status, 201);
  std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"resource":{"resourceType":"Patient","identifier":[{"system":"urn:test:mrn","value":"TX-HALF"}]},
     "request":{"method":"POST","url":"Patient"}},
    {"resource":{"resourceType":"Patient","id":"tx-new-1","gender":"female"},
     "request":{"method":"PUT","url":"Patient/tx-new-1"}},
    {"resource":{"resourceType":"Patient","id":"tx-guarded","gender":"female"},
     "request":{"method":"PUT","url":"Patient/tx-guarded","ifMatch":"W/\"7\""}}]})";
  Response response = client_->Post("/fhir", bundle);
  EXPECT_EQ(response.status, 412) << response.body;
  EXPECT_EQ(Total("/fhir/Patient?identifier=urn:test:mrn%7CTX-HALF"), "0");
  EXPECT_EQ(client_->Get("/fhir/Patient/tx-new-1").status, 404);
  Response guarded = client_->Get("/fhir/Patient/tx-guarded");
  EXPECT_EQ(guarded.Json().StringAt("gender"), "male");
  EXPECT_EQ(guarded.Header("etag"), "W/\"1\"");
}

TEST_F(BundleTest, TransactionTouchingOneResourceTwiceIsAConflict) {
  std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"resource":{"resourceType":"Patient","id":"twice"},"request":{"method":"PUT","url":"Patient/twice"}},
    {"request":{"method":"DELETE","url":"Patient/twice"}}]})";
  Response response = client_->Post("/fhir", bundle);
  EXPECT_EQ(response.status, 409) << response.body;
  EXPECT_EQ(client_->Get("/fhir/Patient/twice").status, 404);
}

TEST_F(BundleTest, BatchEntriesStandAlone) {
  std::string bundle = R"({"resourceType":"Bundle","type":"batch","entry":[
    {"resource":{"resourceType":"Patient","identifier":[{"system":"urn:test:mrn","value":"B-1"}]},
     "request":{"method":"POST","url":"Patient"}},
    {"resource":{"resourceType":"Task","intent":"order"},"request":{"method":"POST","url":"Task"}},
    {"request":{"method":"GET","url":"Patient?identifier=urn:test:mrn%7CB-1"}},
    {"request":{"method":"GET","url":"Patient/no-such-patient"}}]})";
  Response response = client_->Post("/fhir", bundle);
  ASSERT_EQ(response.status, 200) << response.body;
  json::Value result = response.Json();
  EXPECT_EQ(result.StringAt("type"), "batch-response");
  const auto& entries = result.Find("entry")->items();
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].Find("response")->StringAt("status"), "201 Created");
  EXPECT_EQ(entries[1].Find("response")->StringAt("status"), "422 Unprocessable Entity");
  EXPECT_NE(entries[1].Find("response")->Find("outcome"), nullptr);
  EXPECT_EQ(entries[2].Find("response")->StringAt("status"), "200 OK");
  EXPECT_EQ(entries[2].Find("resource")->Find("total")->text(), "1");
  EXPECT_EQ(entries[3].Find("response")->StringAt("status"), "404 Not Found");
}

TEST_F(BundleTest, ConditionalCreateInsideATransactionPointsReferencesAtTheMatch) {
  std::string existing = R"({"resourceType":"Patient","identifier":[{"system":"urn:test:mrn",
      "value":"TX-COND"}]})";
  Response created = client_->Post("/fhir/Patient", existing);
  ASSERT_EQ(created.status, 201);
  std::string id(created.Json().StringAt("id"));
  std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"fullUrl":"urn:uuid:8c9a4c4e-0d1b-4a55-9d8e-1a2b3c4d5e01",
     "resource":{"resourceType":"Patient","identifier":[{"system":"urn:test:mrn","value":"TX-COND"}]},
     "request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=urn:test:mrn|TX-COND"}},
    {"resource":{"resourceType":"Goal","lifecycleStatus":"proposed","description":{"text":"Stable housing"},
                 "subject":{"reference":"urn:uuid:8c9a4c4e-0d1b-4a55-9d8e-1a2b3c4d5e01"}},
     "request":{"method":"POST","url":"Goal"}}]})";
  Response response = client_->Post("/fhir", bundle);
  ASSERT_EQ(response.status, 200) << response.body;
  json::Value result = response.Json();
  const auto& entries = result.Find("entry")->items();
  EXPECT_EQ(entries[0].Find("response")->StringAt("status"), "200 OK");
  EXPECT_EQ(Total("/fhir/Goal?subject=Patient/" + id), "1");
  EXPECT_EQ(Total("/fhir/Patient?identifier=urn:test:mrn%7CTX-COND"), "1");
}

}  // namespace
}  // namespace carebridge::testing
