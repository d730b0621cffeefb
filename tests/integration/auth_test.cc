// Every caller is a known partner, proven by its certificate or by a token, and held to its role:
// real TLS handshakes and the real token endpoint against the real gateway.

#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/unit/auth/test_support.h"

namespace carebridge::testing {
namespace {

namespace json = fhir::json;
using auth::jwt::EvpPkeyPtr;

EvpPkeyPtr LoadPrivateKey(const std::filesystem::path& path) {
  std::FILE* file = std::fopen(path.c_str(), "r");
  if (file == nullptr) {
    return nullptr;
  }
  EVP_PKEY* key = PEM_read_PrivateKey(file, nullptr, nullptr, nullptr);
  std::fclose(file);
  return EvpPkeyPtr(key);
}

std::int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A client assertion as a SMART Backend Services client makes it.
std::string Assertion(const std::string& partner, const std::string& audience,
                      const std::string& jti, std::int64_t exp_offset = 240) {
  EvpPkeyPtr key = LoadPrivateKey(CertsDir() / (partner + ".jwt.key"));
  EXPECT_NE(key, nullptr);
  json::Value claims = json::Value::Object();
  claims.Set("iss", json::Value::String(partner));
  claims.Set("sub", json::Value::String(partner));
  claims.Set("aud", json::Value::String(audience));
  claims.Set("exp", json::Value::Number(std::to_string(Now() + exp_offset)));
  claims.Set("iat", json::Value::Number(std::to_string(Now() - 1)));
  claims.Set("jti", json::Value::String(jti));
  return auth::testing::SignJwt(key.get(), "ES384", claims);
}

std::string TokenForm(const std::string& assertion, const std::string& scope = "system/*.read") {
  return "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3A"
         "client-assertion-type%3Ajwt-bearer&scope=" +
         scope + "&client_assertion=" + assertion;
}

class AuthTest : public GatewaySuite {
 protected:
  static void SetUpTestSuite() {
    StartGateway(R"("crl": ")" + (CertsDir() / "ca.crl.pem").string() + '"');
  }

  Response As(const std::string& partner, const std::string& method, const std::string& path,
              const std::string& body = {}, std::vector<std::string> headers = {}) {
    Client client(gateway().BaseUrl(), partner);
    if (!body.empty()) {
      headers.emplace_back("Content-Type: application/fhir+json");
    }
    return client.Request(method, path, body, headers);
  }
};

TEST_F(AuthTest, WithoutACertificateOnlyThePublicEndpointsAnswer) {
  Client anonymous(gateway().BaseUrl(), "");
  EXPECT_EQ(anonymous.Get("/healthz").status, 200);
  EXPECT_EQ(anonymous.Get("/readyz").status, 200);
  Response smart = anonymous.Get("/.well-known/smart-configuration");
  ASSERT_EQ(smart.status, 200);
  EXPECT_EQ(smart.Json().StringAt("token_endpoint"), gateway().BaseUrl() + "/auth/token");
  Response refused = anonymous.Get("/fhir/metadata");
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(refused.Json().StringAt("resourceType"), "OperationOutcome");
  EXPECT_FALSE(refused.Header("www-authenticate").empty());
  EXPECT_EQ(anonymous.Get("/fhir/Patient").status, 401);
}

TEST_F(AuthTest, AValidPartnerCertificateIsServed) {
  EXPECT_EQ(As("riverside-ehr", "GET", "/fhir/metadata").status, 200);
  EXPECT_EQ(As("lakeside-cmhc", "GET", "/fhir/Patient").status, 200);
}

TEST_F(AuthTest, CertificatesOutsideTheRegistryAreRefused) {
  // Unknown CA, expired and revoked: refused at the handshake (curl sees a TLS error, status < 0).
  for (const char* name : {"rogue-client", "expired-client", "revoked-partner"}) {
    if (!std::filesystem::exists(CertsDir() / (std::string(name) + ".crt"))) {
      ADD_FAILURE() << "certs script did not issue " << name;
      continue;
    }
    Response response = As(name, "GET", "/fhir/metadata");
    EXPECT_TRUE(response.status < 0 || response.status == 401)
        << name << " -> " << response.status << " " << response.body;
  }
  // A valid certificate of a disabled partner: the handshake succeeds, the request does not.
  Response disabled = As("disabled-partner", "GET", "/fhir/metadata");
  EXPECT_EQ(disabled.status, 401) << disabled.body;
}

TEST_F(AuthTest, PurposeOfUseIsClaimedWithinWhatThePartnerMay) {
  EXPECT_EQ(As("riverside-ehr", "GET", "/fhir/Patient", {}, {"X-Purpose-Of-Use: ETREAT"}).status,
            200);
  Response agency = As("harbor-housing", "GET", "/fhir/Task", {}, {"X-Purpose-Of-Use: HPAYMT"});
  EXPECT_EQ(agency.status, 403) << agency.body;
  EXPECT_EQ(As("riverside-ehr", "GET", "/fhir/Patient", {}, {"X-Purpose-Of-Use: NOPE"}).status,
            403);
}

TEST_F(AuthTest, BearerTokensFromTheTokenEndpoint) {
  Client anonymous(gateway().BaseUrl(), "");
  std::string assertion = Assertion("riverside-ehr", kTokenAudience, "jti-valid-1");
  Response token = anonymous.Request("POST", "/auth/token", TokenForm(assertion),
                                     {"Content-Type: application/x-www-form-urlencoded"});
  ASSERT_EQ(token.status, 200) << token.body;
  std::string access(token.Json().StringAt("access_token"));
  ASSERT_FALSE(access.empty());
  Response served = anonymous.Get("/fhir/Patient", {"Authorization: Bearer " + access});
  EXPECT_EQ(served.status, 200) << served.body;
  // The token's scope (system/*.read) bounds what the role would allow.
  Response write =
      anonymous.Request("POST", "/fhir/Patient", R"({"resourceType":"Patient"})",
                        {"Authorization: Bearer " + access, "Content-Type: application/fhir+json"});
  EXPECT_EQ(write.status, 403) << write.body;

  Response replayed = anonymous.Request("POST", "/auth/token", TokenForm(assertion),
                                        {"Content-Type: application/x-www-form-urlencoded"});
  EXPECT_GE(replayed.status, 400) << replayed.body;
  Response wrong_audience = anonymous.Request(
      "POST", "/auth/token",
      TokenForm(Assertion("riverside-ehr", "https://elsewhere/auth/token", "jti-aud")),
      {"Content-Type: application/x-www-form-urlencoded"});
  EXPECT_GE(wrong_audience.status, 400);
  Response expired =
      anonymous.Request("POST", "/auth/token",
                        TokenForm(Assertion("riverside-ehr", kTokenAudience, "jti-expired", -600)),
                        {"Content-Type: application/x-www-form-urlencoded"});
  EXPECT_GE(expired.status, 400);
  std::string forged = Assertion("riverside-ehr", kTokenAudience, "jti-forged");
  forged[forged.size() - 5] = forged[forged.size() - 5] == 'A' ? 'B' : 'A';
  Response bad_signature = anonymous.Request("POST", "/auth/token", TokenForm(forged),
                                             {"Content-Type: application/x-www-form-urlencoded"});
  EXPECT_GE(bad_signature.status, 400);
  EXPECT_EQ(anonymous.Get("/fhir/Patient", {"Authorization: Bearer " + access + "x"}).status, 401);
}

TEST_F(AuthTest, RoleMatrix) {
  std::string patient = R"({"resourceType":"Patient","gender":"female"})";
  Response created = As("riverside-ehr", "POST", "/fhir/Patient", patient);
  ASSERT_EQ(created.status, 201);
  std::string patient_id(created.Json().StringAt("id"));
  // The patient releases everything to everyone, so that only the role matrix decides here
  // (consent_test.cc is where consent decides).
  Response released = As("riverside-ehr", "POST", "/fhir/Consent",
                         R"({"resourceType":"Consent","status":"active",
      "scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope",
      "code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org",
      "code":"59284-0"}]}],"patient":{"reference":"Patient/)" +
                             patient_id + R"("},"provision":{"type":"permit"}})");
  ASSERT_EQ(released.status, 201) << released.body;
  auto task_for = [&](const std::string& owner) {
    return R"({"resourceType":"Task","status":"requested","intent":"order",
        "for":{"reference":"Patient/)" +
           patient_id + R"("},"owner":{"reference":"Organization/)" + owner + R"("}})";
  };
  Response harbor_task = As("riverside-ehr", "POST", "/fhir/Task", task_for("harbor-housing"));
  Response food_task = As("riverside-ehr", "POST", "/fhir/Task", task_for("northside-food"));
  ASSERT_EQ(harbor_task.status, 201);
  ASSERT_EQ(food_task.status, 201);
  std::string harbor_id(harbor_task.Json().StringAt("id"));
  std::string food_id(food_task.Json().StringAt("id"));

  struct Case {
    const char* partner;
    const char* method;
    std::string path;
    std::string body;
    long status;
  };
  std::string observation = R"({"resourceType":"Observation","status":"final",
      "code":{"text":"x"},"subject":{"reference":"Patient/)" +
                            patient_id + R"("}})";
  std::string consent = R"({"resourceType":"Consent","status":"active",
      "scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope",
      "code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org",
      "code":"59284-0"}]}],"patient":{"reference":"Patient/)" +
                        patient_id + R"("}})";
  const Case cases[] = {
      // EHRs read and write clinical resources, not the audit log or the directory.
      {"riverside-ehr", "POST", "/fhir/Observation", observation, 201},
      {"riverside-ehr", "GET", "/fhir/Patient/" + patient_id, "", 200},
      {"riverside-ehr", "GET", "/fhir/AuditEvent", "", 403},
      {"riverside-ehr", "POST", "/fhir/Organization", R"({"resourceType":"Organization"})", 403},
      {"riverside-ehr", "GET", "/fhir/Organization/harbor-housing", "", 200},
      // Agencies see only the referrals and Tasks addressed to them.
      {"harbor-housing", "GET", "/fhir/Patient/" + patient_id, "", 403},
      {"harbor-housing", "GET", "/fhir/Task/" + harbor_id, "", 200},
      {"harbor-housing", "GET", "/fhir/Task/" + food_id, "", 404},
      {"harbor-housing", "POST", "/fhir/Task", task_for("harbor-housing"), 403},
      {"harbor-housing", "POST", "/fhir/Observation", observation, 403},
      {"harbor-housing", "DELETE", "/fhir/Task/" + harbor_id, "", 403},
      {"harbor-housing", "GET", "/fhir/Organization/northside-food", "", 200},
      {"northside-food", "GET", "/fhir/Task/" + food_id, "", 200},
      {"northside-food", "GET", "/fhir/Task/" + harbor_id, "", 404},
      // Privacy officers read the audit log and consents, nothing clinical, and write nothing.
      {"privacy-office", "GET", "/fhir/AuditEvent", "", 200},
      {"privacy-office", "GET", "/fhir/Consent", "", 200},
      {"privacy-office", "GET", "/fhir/Observation", "", 403},
      {"privacy-office", "POST", "/fhir/Consent", consent, 403},
      // Coordinators follow referrals and plans; they do not author findings or delete.
      {"care-coordination", "GET", "/fhir/Task/" + harbor_id, "", 200},
      {"care-coordination", "POST", "/fhir/Consent", consent, 201},
      {"care-coordination", "POST", "/fhir/Observation", observation, 403},
      {"care-coordination", "DELETE", "/fhir/Task/" + food_id, "", 403},
      {"care-coordination", "GET", "/fhir/AuditEvent", "", 403},
  };
  for (const Case& c : cases) {
    Response response = As(c.partner, c.method, c.path, c.body);
    EXPECT_EQ(response.status, c.status)
        << c.partner << " " << c.method << " " << c.path << " -> " << response.body;
    if (response.status >= 400) {
      EXPECT_EQ(response.Json().StringAt("resourceType"), "OperationOutcome");
    }
  }

  // An agency's search is confined to what is addressed to it, whatever it asks for.
  Response search = As("harbor-housing", "GET", "/fhir/Task?status=requested");
  ASSERT_EQ(search.status, 200);
  json::Value bundle = search.Json();
  ASSERT_NE(bundle.Find("entry"), nullptr);
  for (const auto& entry : bundle.Find("entry")->items()) {
    EXPECT_EQ(entry.Find("resource")->Find("owner")->StringAt("reference"),
              "Organization/harbor-housing");
  }
  Response sneaky = As("harbor-housing", "GET", "/fhir/Task?owner=Organization/northside-food");
  EXPECT_EQ(sneaky.Json().Find("total")->text(), "0");

  // The agency moves its own Task, but cannot hand it to someone else.
  json::Value task = As("harbor-housing", "GET", "/fhir/Task/" + harbor_id).Json();
  task.Set("status", json::Value::String("accepted"));
  EXPECT_EQ(As("harbor-housing", "PUT", "/fhir/Task/" + harbor_id, json::Write(task)).status, 200);
  task.Find("owner")->Set("reference", json::Value::String("Organization/northside-food"));
  EXPECT_EQ(As("harbor-housing", "PUT", "/fhir/Task/" + harbor_id, json::Write(task)).status, 403);
  json::Value other = As("riverside-ehr", "GET", "/fhir/Task/" + food_id).Json();
  other.Set("status", json::Value::String("rejected"));
  EXPECT_EQ(As("harbor-housing", "PUT", "/fhir/Task/" + food_id, json::Write(other)).status, 404);
}

TEST_F(AuthTest, PartnersArePublishedAsOrganizations) {
  Response org = As("riverside-ehr", "GET", "/fhir/Organization/harbor-housing");
  ASSERT_EQ(org.status, 200) << org.body;
  json::Value organization = org.Json();
  EXPECT_EQ(organization.StringAt("id"), "harbor-housing");
  Response disabled = As("riverside-ehr", "GET", "/fhir/Organization/disabled-partner");
  ASSERT_EQ(disabled.status, 200);
  EXPECT_FALSE(disabled.Json().Find("active")->as_bool());
}

TEST_F(AuthTest, AFloodFromOnePartnerDoesNotStarveAnother) {
  // lakeside-cmhc is configured at 5 requests/s with a burst of 10.
  Client flood(gateway().BaseUrl(), "lakeside-cmhc");
  int throttled = 0;
  std::string retry_after;
  for (int i = 0; i < 40; ++i) {
    Response response = flood.Get("/fhir/metadata");
    if (response.status == 429) {
      ++throttled;
      retry_after = response.Header("retry-after");
      EXPECT_EQ(response.Json().StringAt("resourceType"), "OperationOutcome");
    }
  }
  EXPECT_GT(throttled, 0);
  EXPECT_FALSE(retry_after.empty());
  Client well_behaved(gateway().BaseUrl(), "riverside-ehr");
  EXPECT_EQ(well_behaved.Get("/fhir/metadata").status, 200);
}

}  // namespace
}  // namespace carebridge::testing
