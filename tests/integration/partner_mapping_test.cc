// Each partner in its own dialect against the real gateway: what riverside-ehr writes in its
// local codes and MRNs is stored canonically, read back by riverside in its own dialect, by
// lakeside-cmhc in lakeside's, and by a partner without a mapping in the canonical form.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/integration/harness.h"

namespace carebridge::testing {
namespace {

namespace json = fhir::json;

// What the comparison ignores: the id the gateway assigned, the meta it stamps (version, time,
// contributor, labels) and where meta sits. A profile a mapping adds stays.
json::Value Comparable(json::Value resource) {
  resource.Remove("id");
  if (const json::Value* found = resource.Find("meta")) {
    json::Value meta = *found;
    resource.Remove("meta");
    for (const char* key : {"versionId", "lastUpdated", "source", "security"}) {
      meta.Remove(key);
    }
    if (!meta.members().empty()) {
      resource.Set("meta", std::move(meta));
    }
  }
  return resource;
}

json::Value FixtureJson(const std::string& path) {
  std::string message;
  auto value = json::Parse(Fixture(path), json::Limits{}, message);
  EXPECT_TRUE(value) << path << ": " << message;
  return value ? *value : json::Value::Object();
}

class PartnerMappingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    gateway_ = new GatewayProcess(dir_->path() / "data");
    gateway_->set_mapping_profiles(true);
    ASSERT_TRUE(gateway_->Start());
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(gateway_->Stop(), 0);
    delete gateway_;
    delete dir_;
  }

  Response As(const std::string& partner, const std::string& method, const std::string& path,
              const std::string& body = {}) {
    return testing::As(*gateway_, partner, method, path, body);
  }

  static TempDir* dir_;
  static GatewayProcess* gateway_;
};
TempDir* PartnerMappingTest::dir_ = nullptr;
GatewayProcess* PartnerMappingTest::gateway_ = nullptr;

TEST_F(PartnerMappingTest, EachPartnerReadsTheReferralInItsOwnDialect) {
  // The patient of the fixture releases it to lakeside-cmhc and the coordinators for treatment.
  Response consent = As("riverside-ehr", "POST", "/fhir/Consent", R"({"resourceType":"Consent",
      "status":"active","scope":{"coding":[{"system":
      "http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},
      "category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],
      "patient":{"reference":"Patient/rv-pat-1"},
      "policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode",
      "code":"OPTIN"}]},"provision":{"type":"permit","purpose":[{"system":
      "http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"TREAT"}]}})");
  ASSERT_EQ(consent.status, 201) << consent.body;

  json::Value sent = FixtureJson("mappings/riverside-ehr/ServiceRequest.json");
  sent.Remove("id");
  Response created = As("riverside-ehr", "POST", "/fhir/ServiceRequest", json::Write(sent));
  ASSERT_EQ(created.status, 201) << created.body;
  // The create's answer is in riverside's dialect already.
  EXPECT_TRUE(Comparable(created.Json()) == sent) << created.body;
  const std::string path = "/fhir/ServiceRequest/" + std::string(created.Json().StringAt("id"));

  Response own = As("riverside-ehr", "GET", path);
  ASSERT_EQ(own.status, 200);
  EXPECT_TRUE(Comparable(own.Json()) == sent) << own.body;
  // The create's answer was mapped from the tree it sent, the read's from the stored JSON: the
  // same bytes, meta included.
  EXPECT_EQ(created.body, own.body);

  Response lakeside = As("lakeside-cmhc", "GET", path);
  ASSERT_EQ(lakeside.status, 200) << lakeside.body;
  EXPECT_TRUE(Comparable(lakeside.Json()) ==
              Comparable(FixtureJson("mappings/golden/riverside-ServiceRequest.to-lakeside.json")))
      << lakeside.body;

  Response canonical = As("care-coordination", "GET", path);
  ASSERT_EQ(canonical.status, 200) << canonical.body;
  EXPECT_TRUE(Comparable(canonical.Json()) ==
              Comparable(FixtureJson("mappings/golden/riverside-ServiceRequest.canonical.json")))
      << canonical.body;

  // Searches answer in the dialect too, and search the canonical codes.
  Response found =
      As("lakeside-cmhc", "GET",
         "/fhir/ServiceRequest?category=http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/"
         "SDOHCC-CodeSystemTemporaryCodes%7Cfood-insecurity");
  ASSERT_EQ(found.status, 200) << found.body;
  EXPECT_NE(found.body.find(R"("code":"need-food")"), std::string::npos) << found.body;
  EXPECT_EQ(found.body.find("riverside.service-code"), std::string::npos) << found.body;
}

TEST_F(PartnerMappingTest, AReasonTheDialectCannotExpressIsRefusedNamingIt) {
  json::Value sent = FixtureJson("mappings/riverside-ehr/ServiceRequest.json");
  sent.Remove("id");
  std::string body = json::Write(sent);
  const std::string known = R"("code":"RV-DX-FOOD")";
  body.replace(body.find(known), known.size(), R"("code":"RV-DX-UNKNOWN")");
  Response refused = As("riverside-ehr", "POST", "/fhir/ServiceRequest", body);
  EXPECT_EQ(refused.status, 422) << refused.body;
  EXPECT_NE(refused.body.find("reasonCode"), std::string::npos) << refused.body;
}

}  // namespace
}  // namespace carebridge::testing
