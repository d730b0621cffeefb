// Bad input of every kind gets an OperationOutcome with the right status, and nothing of it is
// stored.

#include <gtest/gtest.h>

#include <string>

#include "tests/integration/harness.h"

namespace carebridge::testing {
namespace {

namespace json = fhir::json;

class BadInputTest : public GatewaySuite {
 protected:
  static void SetUpTestSuite() {
    StartGateway(R"("max_body_bytes": 262144)", R"("max_json_depth": 32, "max_bundle_entries": 5)");
  }
  void SetUp() override {
    client_ = std::make_unique<Client>(gateway().BaseUrl());
    patients_before_ = PatientCount();
  }
  void TearDown() override {
    EXPECT_EQ(PatientCount(), patients_before_) << "something was stored";
  }

  std::string PatientCount() { return SearchTotal(*client_, "/fhir/Patient?_summary=count"); }

  // Expects `response` to be an OperationOutcome with `status`.
  static void ExpectOutcome(const Response& response, long status) {
    EXPECT_EQ(response.status, status) << response.body;
    EXPECT_NE(response.Header("content-type").find("json"), std::string::npos);
    json::Value outcome = response.Json();
    EXPECT_EQ(outcome.StringAt("resourceType"), "OperationOutcome") << response.body;
    const json::Value* issues = outcome.Find("issue");
    ASSERT_NE(issues, nullptr);
    ASSERT_FALSE(issues->items().empty());
    EXPECT_FALSE(issues->items()[0].StringAt("diagnostics").empty()) << response.body;
  }

  std::unique_ptr<Client> client_;
  std::string patients_before_;
};

TEST_F(BadInputTest, MalformedJson) {
  ExpectOutcome(client_->Post("/fhir/Patient", R"({"resourceType":"Patient",)"), 400);
  ExpectOutcome(client_->Post("/fhir/Patient", R"({"resourceType":"Patient"} trailing)"), 400);
  ExpectOutcome(client_->Post("/fhir/Patient", "[1,2,3]"), 400);
  ExpectOutcome(client_->Post("/fhir/Patient", ""), 400);
}

TEST_F(BadInputTest, DuplicateKeys) {
  ExpectOutcome(client_->Post("/fhir/Patient",
                              R"({"resourceType":"Patient","gender":"male","gender":"female"})"),
                400);
}

TEST_F(BadInputTest, WrongOrMissingResourceType) {
  ExpectOutcome(client_->Post("/fhir/Patient", R"({"resourceType":"Observation","status":"final",
      "code":{"text":"x"}})"),
                400);
  ExpectOutcome(client_->Post("/fhir/Patient", R"({"gender":"male"})"), 400);
}

TEST_F(BadInputTest, UnknownAndUnsupportedTypes) {
  ExpectOutcome(client_->Get("/fhir/Spaceship/1"), 404);
  ExpectOutcome(client_->Post("/fhir/Spaceship", R"({"resourceType":"Spaceship"})"), 404);
  ExpectOutcome(client_->Get("/fhir/Medication?code=x"), 404);  // R4, but not served
}

TEST_F(BadInputTest, BodyOverTheLimit) {
  std::string huge =
      R"({"resourceType":"Patient","name":[{"text":")" + std::string(300000, 'a') + R"("}]})";
  ExpectOutcome(client_->Post("/fhir/Patient", huge), 413);
}

TEST_F(BadInputTest, DepthBomb) {
  std::string bomb = R"({"resourceType":"Patient","extension":)";
  for (int i = 0; i < 5000; ++i) {
    bomb += "[";
  }
  ExpectOutcome(client_->Post("/fhir/Patient", bomb), 400);
}

TEST_F(BadInputTest, InvalidUtf8AndLoneSurrogates) {
  ExpectOutcome(client_->Post("/fhir/Patient",
                              "{\"resourceType\":\"Patient\",\"name\":[{\"text\":"
                              "\"\xC3\x28\"}]}"),
                400);
  ExpectOutcome(client_->Post("/fhir/Patient",
                              "{\"resourceType\":\"Patient\",\"name\":[{\"text\":"
                              "\"\xED\xA0\x80\"}]}"),
                400);
  ExpectOutcome(
      client_->Post("/fhir/Patient", R"({"resourceType":"Patient","name":[{"text":"\uD800"}]})"),
      400);
}

TEST_F(BadInputTest, NumbersOutOfRange) {
  ExpectOutcome(client_->Post("/fhir/Observation", R"({"resourceType":"Observation",
      "status":"final","code":{"text":"x"},"valueQuantity":{"value":1e999}})"),
                400);
}

TEST_F(BadInputTest, WrongContentTypeIsRefusedUnread) {
  ExpectOutcome(
      client_->Request("POST", "/fhir/Patient", "<Patient xmlns=\"http://hl7.org/fhir\"/>",
                       {"Content-Type: application/fhir+xml"}),
      415);
  ExpectOutcome(client_->Request("POST", "/fhir/Patient", R"({"resourceType":"Patient"})",
                                 {"Content-Type: text/plain"}),
                415);
  ExpectOutcome(client_->Request("POST", "/fhir/Patient", R"({"resourceType":"Patient"})",
                                 {"Content-Type: application/fhir+json; charset=latin1"}),
                415);
}

TEST_F(BadInputTest, BadIds) {
  ExpectOutcome(client_->Get("/fhir/Patient/a%2Fb"), 400);
  ExpectOutcome(client_->Get("/fhir/Patient/%2e%2e"), 400);
  ExpectOutcome(client_->Get("/fhir/Patient/" + std::string(65, 'a')), 400);
  ExpectOutcome(client_->Get("/fhir/Patient/bad%20id"), 400);
  ExpectOutcome(client_->Put("/fhir/Patient/" + std::string(65, 'a'),
                             R"({"resourceType":"Patient","id":")" + std::string(65, 'a') + "\"}"),
                400);
  ExpectOutcome(client_->Put("/fhir/Patient/..", R"({"resourceType":"Patient","id":".."})"), 400);
  ExpectOutcome(client_->Get("/fhir/Patient/%zz"), 400);
}

TEST_F(BadInputTest, InvalidResources) {
  // Required elements and code sets: the JSON is fine, the resource is not.
  ExpectOutcome(client_->Post("/fhir/ServiceRequest",
                              R"({"resourceType":"ServiceRequest","intent":"order",
                                  "subject":{"reference":"Patient/1"}})"),
                422);
  ExpectOutcome(client_->Post("/fhir/Task", R"({"resourceType":"Task","status":"bogus",
      "intent":"order"})"),
                422);
  ExpectOutcome(client_->Post("/fhir/Patient",
                              R"({"resourceType":"Patient","managingOrganization":
                                  {"reference":"not a reference"}})"),
                422);
  ExpectOutcome(client_->Post("/fhir/Patient", R"({"resourceType":"Patient","name":[]})"), 422);
}

TEST_F(BadInputTest, MethodsNotAllowed) {
  Response response = client_->Delete("/fhir/Patient");
  ExpectOutcome(response, 405);
  EXPECT_FALSE(response.Header("allow").empty());
  ExpectOutcome(client_->Post("/fhir/AuditEvent", R"({"resourceType":"AuditEvent"})"), 405);
  ExpectOutcome(client_->Request("PATCH", "/fhir/Patient/1", "[]",
                                 {"Content-Type: application/json-patch+json"}),
                405);
  ExpectOutcome(client_->Get("/fhir"), 405);
}

TEST_F(BadInputTest, UnknownResourceIsNotFound) {
  ExpectOutcome(client_->Get("/fhir/Patient/does-not-exist"), 404);
  ExpectOutcome(client_->Get("/nowhere"), 404);
}

TEST_F(BadInputTest, StaleIfMatchOnUnknownResource) {
  ExpectOutcome(client_->Put("/fhir/Patient/ifmatch-new", R"({"resourceType":"Patient",
      "id":"ifmatch-new"})",
                             {"If-Match: W/\"4\""}),
                412);
  ExpectOutcome(client_->Put("/fhir/Patient/ifmatch-new", R"({"resourceType":"Patient",
      "id":"ifmatch-new"})",
                             {"If-Match: garbage"}),
                400);
}

TEST_F(BadInputTest, BundleEntryDisagreeingWithItsUrl) {
  ExpectOutcome(client_->Post("/fhir", R"({"resourceType":"Bundle","type":"transaction","entry":[
      {"fullUrl":"urn:uuid:0b4d9f1e-0000-4000-8000-000000000001",
       "resource":{"resourceType":"Patient"},
       "request":{"method":"POST","url":"Observation"}}]})"),
                400);
  ExpectOutcome(client_->Post("/fhir", R"({"resourceType":"Bundle","type":"transaction","entry":[
      {"resource":{"resourceType":"Patient","id":"a"},
       "request":{"method":"PUT","url":"Patient/b"}}]})"),
                400);
  ExpectOutcome(client_->Post("/fhir", R"({"resourceType":"Bundle","type":"collection"})"), 400);
}

TEST_F(BadInputTest, TooManyBundleEntries) {
  std::string bundle = R"({"resourceType":"Bundle","type":"batch","entry":[)";
  for (int i = 0; i < 6; ++i) {
    bundle += (i ? "," : "");
    bundle +=
        R"({"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}})";
  }
  bundle += "]}";
  ExpectOutcome(client_->Post("/fhir", bundle), 400);
}

}  // namespace
}  // namespace carebridge::testing
