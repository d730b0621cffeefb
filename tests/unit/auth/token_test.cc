#include "gateway/auth/token.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/unit/auth/test_support.h"

namespace carebridge::auth {
namespace {

using fhir::json::Value;
using Form = std::vector<std::pair<std::string, std::string>>;

constexpr std::int64_t kNow = 1'750'000'000;
constexpr char kAudience[] = "https://gateway.example.org/auth/token";

class TokenServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ec_ = testing::GenerateEc("P-384").release();
    rsa_ = testing::GenerateRsa(3072).release();
    ASSERT_NE(ec_, nullptr);
    ASSERT_NE(rsa_, nullptr);
  }
  static void TearDownTestSuite() {
    EVP_PKEY_free(ec_);
    EVP_PKEY_free(rsa_);
  }

  void SetUp() override {
    dir_.Write("ec.pub", testing::PublicPem(ec_));
    dir_.Write("rsa.pub", testing::PublicPem(rsa_));
    registry_ = LoadRegistry(/*ec_client_enabled=*/true);
    TokenConfig config;
    config.audience = kAudience;
    service_ = std::make_unique<TokenService>(registry_, config);
  }

  PartnerRegistry LoadRegistry(bool ec_client_enabled, bool with_rsa_client = true) {
    std::string json = R"([
      {"id": "ec-client", "name": "EC", "kind": "ehr", "enabled": )" +
                       std::string(ec_client_enabled ? "true" : "false") + R"(,
       "purposes": ["TREAT", "ETREAT"], "default_purpose": "TREAT",
       "jwt_public_key_file": "ec.pub"},
      {"id": "disabled-client", "name": "Off", "kind": "agency", "enabled": false,
       "jwt_public_key_file": "ec.pub"},
      {"id": "mtls-only", "name": "No key", "kind": "agency"})";
    if (with_rsa_client) {
      json += R"(, {"id": "rsa-client", "name": "RSA", "kind": "ehr", "purposes": ["TREAT"],
                    "jwt_public_key_file": "rsa.pub"})";
    }
    json += "]";
    std::string message;
    auto registry =
        PartnerRegistry::FromJson(testing::ParseJson(json), dir_.path().string(), message);
    EXPECT_TRUE(registry) << message;
    return registry ? std::move(*registry) : PartnerRegistry();
  }

  // The claims a well-behaved client sends; tests change one thing at a time.
  static Value Claims(std::string_view client, std::string_view jti) {
    Value claims = Value::Object();
    claims.Set("iss", Value::String(std::string(client)));
    claims.Set("sub", Value::String(std::string(client)));
    claims.Set("aud", Value::String(kAudience));
    claims.Set("exp", Value::Number(std::to_string(kNow + 240)));
    claims.Set("iat", Value::Number(std::to_string(kNow - 5)));
    claims.Set("jti", Value::String(std::string(jti)));
    return claims;
  }

  static Form MakeForm(std::string assertion, std::string scope = "system/*.read") {
    return {{"grant_type", "client_credentials"},
            {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
            {"client_assertion", std::move(assertion)},
            {"scope", std::move(scope)}};
  }

  static std::string EcAssertion(const Value& claims) {
    return testing::SignJwt(ec_, "ES384", claims);
  }

  // Issues and expects failure with `status` and OAuth `error`; returns the description.
  std::string ExpectError(const Form& form, int status, std::string_view error,
                          std::int64_t now = kNow) {
    const TokenResponse response = service_->Issue(form, now);
    EXPECT_EQ(response.status, status) << response.body;
    const Value body = testing::ParseJson(response.body);
    EXPECT_EQ(body.StringAt("error"), error) << response.body;
    EXPECT_EQ(body.Find("access_token"), nullptr);
    std::string description(body.StringAt("error_description"));
    EXPECT_FALSE(description.empty());
    EXPECT_EQ(description.find_first_of("\"\\"), std::string::npos) << description;
    return description;
  }

  // Issues and expects success; returns the access token.
  std::string ExpectToken(const Form& form, std::int64_t now = kNow) {
    const TokenResponse response = service_->Issue(form, now);
    EXPECT_EQ(response.status, 200) << response.body;
    const Value body = testing::ParseJson(response.body);
    EXPECT_EQ(body.StringAt("token_type"), "bearer");
    const Value* expires_in = body.Find("expires_in");
    EXPECT_TRUE(expires_in != nullptr && expires_in->is_number() && expires_in->text() == "300");
    return std::string(body.StringAt("access_token"));
  }

  static EVP_PKEY* ec_;
  static EVP_PKEY* rsa_;
  testing::TempDir dir_;
  PartnerRegistry registry_;
  std::unique_ptr<TokenService> service_;
};

EVP_PKEY* TokenServiceTest::ec_ = nullptr;
EVP_PKEY* TokenServiceTest::rsa_ = nullptr;

TEST_F(TokenServiceTest, Es384AssertionGetsAToken) {
  const TokenResponse response =
      service_->Issue(MakeForm(EcAssertion(Claims("ec-client", "j1")),
                               "system/*.read system/Patient.write system/*.read"),
                      kNow);
  ASSERT_EQ(response.status, 200) << response.body;
  const Value body = testing::ParseJson(response.body);
  EXPECT_EQ(body.StringAt("token_type"), "bearer");
  EXPECT_EQ(body.StringAt("scope"), "system/*.read system/Patient.write");
  ASSERT_FALSE(body.StringAt("access_token").empty());

  auto claims = service_->Verify(body.StringAt("access_token"), kNow + 10);
  ASSERT_TRUE(claims) << claims.error().message();
  EXPECT_EQ(claims->partner_id, "ec-client");
  EXPECT_EQ(claims->scopes, (std::vector<std::string>{"system/*.read", "system/Patient.write"}));
  EXPECT_EQ(claims->purpose, "");
  EXPECT_EQ(claims->expires_at, kNow + 300);
}

TEST_F(TokenServiceTest, Rs384AssertionGetsAToken) {
  const std::string assertion = testing::SignJwt(rsa_, "RS384", Claims("rsa-client", "r1"));
  const std::string token = ExpectToken(MakeForm(assertion, "system/Task.cruds"));
  auto claims = service_->Verify(token, kNow);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->partner_id, "rsa-client");
  EXPECT_EQ(claims->scopes, std::vector<std::string>{"system/Task.cruds"});
}

TEST_F(TokenServiceTest, AudienceMayBeAnArray) {
  Value claims = Claims("ec-client", "arr");
  Value aud = Value::Array();
  aud.PushBack(Value::String("https://other.example.org"));
  aud.PushBack(Value::String(kAudience));
  claims.Set("aud", std::move(aud));
  ExpectToken(MakeForm(EcAssertion(claims)));
}

TEST_F(TokenServiceTest, PurposeOfUseIsBoundToTheToken) {
  Form form = MakeForm(EcAssertion(Claims("ec-client", "p1")));
  form.emplace_back("purpose_of_use", "ETREAT");
  auto claims = service_->Verify(ExpectToken(form), kNow);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->purpose, "ETREAT");

  Form refused = MakeForm(EcAssertion(Claims("ec-client", "p2")));
  refused.emplace_back("purpose_of_use", "HPAYMT");
  EXPECT_NE(ExpectError(refused, 400, "invalid_scope").find("HPAYMT"), std::string::npos);
}

TEST_F(TokenServiceTest, ReplayedJtiIsRefused) {
  const std::string assertion = EcAssertion(Claims("ec-client", "once"));
  ExpectToken(MakeForm(assertion));
  EXPECT_NE(ExpectError(MakeForm(assertion), 401, "invalid_client").find("jti"), std::string::npos);
  // Even re-signed, the same jti is the same assertion.
  ExpectError(MakeForm(EcAssertion(Claims("ec-client", "once"))), 401, "invalid_client", kNow + 30);
  // jtis are per client: another client may happen to use the same one.
  ExpectToken(MakeForm(testing::SignJwt(rsa_, "RS384", Claims("rsa-client", "once"))));
}

TEST_F(TokenServiceTest, FailedAssertionDoesNotUseUpItsJti) {
  Value wrong_aud = Claims("ec-client", "keep");
  wrong_aud.Set("aud", Value::String("https://elsewhere.example.org/token"));
  ExpectError(MakeForm(EcAssertion(wrong_aud)), 401, "invalid_client");
  ExpectToken(MakeForm(EcAssertion(Claims("ec-client", "keep"))));
}

TEST_F(TokenServiceTest, ReplayCacheForgetsExpiredAssertions) {
  ExpectToken(MakeForm(EcAssertion(Claims("ec-client", "old"))));
  // Long after the first assertion expired, the jti may come back in a new assertion.
  const std::int64_t later = kNow + 3600;
  Value claims = Claims("ec-client", "old");
  claims.Set("iat", Value::Number(std::to_string(later)));
  claims.Set("exp", Value::Number(std::to_string(later + 60)));
  ExpectToken(MakeForm(EcAssertion(claims)), later);
}

TEST_F(TokenServiceTest, WrongAudienceIsRefused) {
  Value claims = Claims("ec-client", "aud");
  claims.Set("aud", Value::String(std::string(kAudience) + "/"));
  EXPECT_NE(ExpectError(MakeForm(EcAssertion(claims)), 401, "invalid_client").find("aud"),
            std::string::npos);
  claims.Remove("aud");
  ExpectError(MakeForm(EcAssertion(claims)), 401, "invalid_client");
}

TEST_F(TokenServiceTest, ExpiredAssertionIsRefused) {
  Value claims = Claims("ec-client", "exp");
  claims.Set("iat", Value::Number(std::to_string(kNow - 400)));
  claims.Set("exp", Value::Number(std::to_string(kNow - 120)));
  EXPECT_NE(ExpectError(MakeForm(EcAssertion(claims)), 401, "invalid_client").find("expired"),
            std::string::npos);
  // Within the leeway it still counts.
  claims.Set("exp", Value::Number(std::to_string(kNow - 30)));
  claims.Set("iat", Value::Number(std::to_string(kNow - 200)));
  ExpectToken(MakeForm(EcAssertion(claims)));
  claims.Remove("exp");
  claims.Set("jti", Value::String("no-exp"));
  ExpectError(MakeForm(EcAssertion(claims)), 401, "invalid_client");
}

TEST_F(TokenServiceTest, AssertionLifetimeIsBounded) {
  Value claims = Claims("ec-client", "long");
  claims.Set("iat", Value::Number(std::to_string(kNow)));
  claims.Set("exp", Value::Number(std::to_string(kNow + 301)));
  ExpectError(MakeForm(EcAssertion(claims)), 401, "invalid_client");
  // Without iat, exp may still not be far in the future.
  claims.Remove("iat");
  claims.Set("exp", Value::Number(std::to_string(kNow + 3600)));
  ExpectError(MakeForm(EcAssertion(claims)), 401, "invalid_client");
  claims.Set("exp", Value::Number(std::to_string(kNow + 200)));
  ExpectToken(MakeForm(EcAssertion(claims)));
}

TEST_F(TokenServiceTest, FutureIatIsRefused) {
  Value claims = Claims("ec-client", "future");
  claims.Set("iat", Value::Number(std::to_string(kNow + 120)));
  claims.Set("exp", Value::Number(std::to_string(kNow + 240)));
  EXPECT_NE(ExpectError(MakeForm(EcAssertion(claims)), 401, "invalid_client").find("future"),
            std::string::npos);
  claims.Set("iat", Value::Number(std::to_string(kNow)));
  claims.Set("nbf", Value::Number(std::to_string(kNow + 120)));
  ExpectError(MakeForm(EcAssertion(claims)), 401, "invalid_client");
}

TEST_F(TokenServiceTest, BadSignatureIsRefused) {
  const std::string assertion = EcAssertion(Claims("ec-client", "sig"));
  const auto dot = assertion.rfind('.');
  std::string signature = *jwt::Base64UrlDecode(assertion.substr(dot + 1));
  signature[10] = static_cast<char>(signature[10] ^ 0x01);
  const std::string flipped = assertion.substr(0, dot + 1) + jwt::Base64UrlEncode(signature);
  EXPECT_NE(ExpectError(MakeForm(flipped), 401, "invalid_client").find("signature"),
            std::string::npos);
  // Claims changed after signing.
  const std::string other_payload = testing::Encode(Claims("ec-client", "sig2"));
  const auto first = assertion.find('.');
  ExpectError(MakeForm(assertion.substr(0, first + 1) + other_payload + assertion.substr(dot)), 401,
              "invalid_client");
  // The signature did not verify, so the jti is still free.
  ExpectToken(MakeForm(assertion));
}

TEST_F(TokenServiceTest, AlgorithmAttacksAreRefused) {
  const Value claims = Claims("ec-client", "alg");
  const std::string payload = testing::Encode(claims);
  // alg none, no signature.
  ExpectError(MakeForm(testing::Encode(testing::Header("none")) + "." + payload + "."), 401,
              "invalid_client");
  // HS384 keyed with the partner's public key (which anyone may have).
  const std::string input = testing::Encode(testing::Header("HS384")) + "." + payload;
  const std::string mac = testing::HmacSha384(testing::PublicPem(ec_), input);
  EXPECT_NE(ExpectError(MakeForm(input + "." + jwt::Base64UrlEncode(mac)), 401, "invalid_client")
                .find("alg"),
            std::string::npos);
  // RS384 in the header of an assertion for an EC key.
  ExpectError(MakeForm(testing::SignJwt(ec_, "RS384", claims)), 401, "invalid_client");
  // An RSA signature presented for the EC-keyed client.
  Value rsa_claims = Claims("ec-client", "alg2");
  ExpectError(MakeForm(testing::SignJwt(rsa_, "RS384", rsa_claims)), 401, "invalid_client");
  // Signed by a key that is not the one registered.
  auto stranger = testing::GenerateEc("P-384");
  ExpectError(MakeForm(testing::SignJwt(stranger.get(), "ES384", claims)), 401, "invalid_client");
  ExpectToken(MakeForm(EcAssertion(claims)));
}

TEST_F(TokenServiceTest, ClientMustBeKnownEnabledAndKeyed) {
  EXPECT_NE(ExpectError(MakeForm(EcAssertion(Claims("stranger", "u1"))), 401, "invalid_client")
                .find("unknown client"),
            std::string::npos);
  EXPECT_NE(
      ExpectError(MakeForm(EcAssertion(Claims("disabled-client", "d1"))), 401, "invalid_client")
          .find("disabled"),
      std::string::npos);
  ExpectError(MakeForm(EcAssertion(Claims("mtls-only", "m1"))), 401, "invalid_client");
  // iss and sub must both name the client.
  Value claims = Claims("ec-client", "s1");
  claims.Set("sub", Value::String("rsa-client"));
  ExpectError(MakeForm(EcAssertion(claims)), 401, "invalid_client");
  claims.Remove("sub");
  ExpectError(MakeForm(EcAssertion(claims)), 401, "invalid_client");
  // A client_id form field, when sent, must agree with the assertion.
  Form form = MakeForm(EcAssertion(Claims("ec-client", "s2")));
  form.emplace_back("client_id", "rsa-client");
  ExpectError(form, 401, "invalid_client");
  // jti is required.
  claims = Claims("ec-client", "");
  ExpectError(MakeForm(EcAssertion(claims)), 401, "invalid_client");
  claims.Remove("jti");
  ExpectError(MakeForm(EcAssertion(claims)), 401, "invalid_client");
}

TEST_F(TokenServiceTest, MalformedAssertionIsRefused) {
  ExpectError(MakeForm("not-a-jwt"), 401, "invalid_client");
  ExpectError(MakeForm("a.b.c"), 401, "invalid_client");
}

TEST_F(TokenServiceTest, ScopesAreChecked) {
  int n = 0;
  for (const char* scope :
       {"system/*.read", "system/*.write", "system/*.*", "system/Patient.read",
        "system/Observation.rs", "system/*.cruds", "system/Task.u", "system/ServiceRequest.cud"}) {
    ExpectToken(MakeForm(EcAssertion(Claims("ec-client", "ok" + std::to_string(n++))), scope));
  }
  for (const char* scope :
       {"patient/*.read", "user/Patient.read", "system/*.admin", "system/Patent.read",
        "system/Patient", "system/Patient.rr", "system/Patient.sr",
        "system/Observation.rs?category=laboratory", "openid", "launch", "system/*.read bogus",
        "system/.read", "system/Patient.read\"x"}) {
    ExpectError(MakeForm(EcAssertion(Claims("ec-client", "bad" + std::to_string(n++))), scope), 400,
                "invalid_scope");
  }
  ExpectError(MakeForm(EcAssertion(Claims("ec-client", "empty")), ""), 400, "invalid_request");
  ExpectError(MakeForm(EcAssertion(Claims("ec-client", "spaces")), "   "), 400, "invalid_scope");
}

TEST_F(TokenServiceTest, FormIsChecked) {
  const std::string assertion = EcAssertion(Claims("ec-client", "form"));
  Form form = MakeForm(assertion);
  form.erase(form.begin());  // grant_type
  EXPECT_NE(ExpectError(form, 400, "invalid_request").find("grant_type"), std::string::npos);

  form = MakeForm(assertion);
  form[0].second = "authorization_code";
  ExpectError(form, 400, "unsupported_grant_type");

  form = MakeForm(assertion);
  form[1].second = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer";
  ExpectError(form, 400, "invalid_request");

  form = MakeForm(assertion);
  form.erase(form.begin() + 2);  // client_assertion
  ExpectError(form, 400, "invalid_request");

  form = MakeForm(assertion);
  form.erase(form.begin() + 3);  // scope
  ExpectError(form, 400, "invalid_request");

  form = MakeForm(assertion);
  form.emplace_back("scope", "system/*.write");
  EXPECT_NE(ExpectError(form, 400, "invalid_request").find("more than once"), std::string::npos);

  form = MakeForm(assertion);
  form.emplace_back("client_secret", "hunter2");
  ExpectError(form, 400, "invalid_request");

  ExpectError({}, 400, "invalid_request");
  // None of that used up the assertion.
  ExpectToken(MakeForm(assertion));
}

TEST_F(TokenServiceTest, ExpiredAccessTokenIsRefused) {
  const std::string token = ExpectToken(MakeForm(EcAssertion(Claims("ec-client", "t1"))));
  EXPECT_TRUE(service_->Verify(token, kNow + 299));
  auto expired = service_->Verify(token, kNow + 300);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error(), errc::kExpired);
}

TEST_F(TokenServiceTest, TamperedAccessTokenIsRefused) {
  const std::string token = ExpectToken(MakeForm(EcAssertion(Claims("ec-client", "t2"))));
  const auto first = token.find('.');
  const auto second = token.rfind('.');
  // Widen the scope in the claims, keep the signature.
  Value claims =
      testing::ParseJson(*jwt::Base64UrlDecode(token.substr(first + 1, second - first - 1)));
  claims.Set("scope", Value::String("system/*.*"));
  const std::string widened =
      token.substr(0, first + 1) + testing::Encode(claims) + token.substr(second);
  auto result = service_->Verify(widened, kNow);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), errc::kBadSignature);

  // Flip one bit of the signature.
  std::string signature = *jwt::Base64UrlDecode(token.substr(second + 1));
  signature[0] = static_cast<char>(signature[0] ^ 0x80);
  result = service_->Verify(token.substr(0, second + 1) + jwt::Base64UrlEncode(signature), kNow);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), errc::kBadSignature);

  // Downgrade to alg none.
  Value header = testing::ParseJson(*jwt::Base64UrlDecode(token.substr(0, first)));
  header.Set("alg", Value::String("none"));
  result =
      service_->Verify(testing::Encode(header) + token.substr(first, second - first) + ".", kNow);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), errc::kMalformed);

  // A client assertion is not an access token, even with a valid partner signature.
  EXPECT_FALSE(service_->Verify(EcAssertion(Claims("ec-client", "t3")), kNow));
  EXPECT_FALSE(service_->Verify("", kNow));
  EXPECT_FALSE(service_->Verify("garbage", kNow));
}

TEST_F(TokenServiceTest, UnconfiguredAudienceMatchesNothing) {
  TokenService unconfigured(registry_, TokenConfig{});
  Value claims = Claims("ec-client", "no-aud");
  claims.Set("aud", Value::String(""));
  const TokenResponse response = unconfigured.Issue(MakeForm(EcAssertion(claims)), kNow);
  EXPECT_EQ(response.status, 401) << response.body;
}

TEST_F(TokenServiceTest, TokensOfAnotherServiceAreRefused) {
  const std::string token = ExpectToken(MakeForm(EcAssertion(Claims("ec-client", "t4"))));
  TokenConfig config;
  config.audience = kAudience;
  TokenService other(registry_, config);
  auto result = other.Verify(token, kNow);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), errc::kBadSignature);
}

TEST_F(TokenServiceTest, PartnerDisabledOrRemovedAfterIssueIsRefused) {
  const std::string ec_token = ExpectToken(MakeForm(EcAssertion(Claims("ec-client", "t5"))));
  const std::string rsa_token =
      ExpectToken(MakeForm(testing::SignJwt(rsa_, "RS384", Claims("rsa-client", "t6"))));
  // Both were good (and the service remembers them as verified)...
  ASSERT_TRUE(service_->Verify(ec_token, kNow));
  ASSERT_TRUE(service_->Verify(rsa_token, kNow));
  // ...until the registry the service was built with is replaced in place (a reload): ec-client is
  // now disabled and rsa-client is gone.
  registry_ = LoadRegistry(/*ec_client_enabled=*/false, /*with_rsa_client=*/false);
  auto result = service_->Verify(ec_token, kNow);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), errc::kDisabledClient);
  result = service_->Verify(rsa_token, kNow);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), errc::kUnknownClient);
  ExpectError(MakeForm(EcAssertion(Claims("ec-client", "t7"))), 401, "invalid_client");
}

TEST_F(TokenServiceTest, ConcurrentRequestsShareOneReplayCache) {
  // Every thread sends the same assertion once, then its own: exactly one copy of the shared one
  // gets a token.
  const std::string shared = EcAssertion(Claims("ec-client", "shared"));
  constexpr int kThreads = 4;
  constexpr int kEach = 8;
  std::vector<std::vector<std::string>> own(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kEach; ++i) {
      own[t].push_back(
          EcAssertion(Claims("ec-client", "t" + std::to_string(t) + "-" + std::to_string(i))));
    }
  }
  std::atomic<int> shared_ok{0};
  std::atomic<int> own_ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      if (service_->Issue(MakeForm(shared), kNow).status == 200) {
        ++shared_ok;
      }
      for (const std::string& assertion : own[t]) {
        const TokenResponse response = service_->Issue(MakeForm(assertion), kNow);
        if (response.status == 200 &&
            service_->Verify(
                std::string(testing::ParseJson(response.body).StringAt("access_token")), kNow)) {
          ++own_ok;
        }
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(shared_ok.load(), 1);
  EXPECT_EQ(own_ok.load(), kThreads * kEach);
}

TEST_F(TokenServiceTest, SmartConfiguration) {
  const Value doc =
      testing::ParseJson(service_->SmartConfiguration("https://gateway.example.org/"));
  EXPECT_EQ(doc.StringAt("token_endpoint"), "https://gateway.example.org/auth/token");
  auto strings = [&](std::string_view key) {
    std::vector<std::string> out;
    const Value* array = doc.Find(key);
    EXPECT_TRUE(array != nullptr && array->is_array()) << key;
    if (array != nullptr) {
      for (const Value& item : array->items()) {
        out.push_back(item.text());
      }
    }
    return out;
  };
  EXPECT_EQ(strings("token_endpoint_auth_methods_supported"),
            std::vector<std::string>{"private_key_jwt"});
  EXPECT_EQ(strings("token_endpoint_auth_signing_alg_values_supported"),
            (std::vector<std::string>{"RS384", "ES384"}));
  EXPECT_EQ(strings("grant_types_supported"), std::vector<std::string>{"client_credentials"});
  EXPECT_EQ(strings("capabilities"), std::vector<std::string>{"client-confidential-asymmetric"});
  const auto scopes = strings("scopes_supported");
  EXPECT_NE(std::find(scopes.begin(), scopes.end(), "system/*.read"), scopes.end());
}

TEST(AuthErrorTest, CategoryNamesEveryCode) {
  for (int code = static_cast<int>(errc::kMalformed);
       code <= static_cast<int>(errc::kInvalidRequest); ++code) {
    const std::error_code ec = make_error_code(static_cast<errc>(code));
    EXPECT_STREQ(ec.category().name(), "carebridge.auth");
    EXPECT_NE(ec.message(), "unknown auth error") << code;
  }
}

}  // namespace
}  // namespace carebridge::auth
