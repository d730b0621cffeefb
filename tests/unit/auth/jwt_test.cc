#include "gateway/auth/jwt.h"

#include <gtest/gtest.h>
#include <openssl/rand.h>

#include <string>

#include "tests/unit/auth/test_support.h"

namespace carebridge::auth::jwt {
namespace {

using fhir::json::Value;

TEST(Base64UrlTest, KnownVectors) {
  // RFC 4648 section 10, without padding, plus bytes that use '-' and '_'.
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode("fooba"), "Zm9vYmE");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff\xbf"), "-_-_");
  EXPECT_EQ(Base64UrlDecode("Zm9vYmE"), "fooba");
  EXPECT_EQ(Base64UrlDecode("-_-_"), "\xfb\xff\xbf");
  EXPECT_EQ(Base64UrlDecode(""), "");
}

TEST(Base64UrlTest, RoundTripsEveryLength) {
  for (int length = 0; length < 70; ++length) {
    std::string bytes(static_cast<std::size_t>(length), '\0');
    ASSERT_EQ(RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), length), 1);
    const std::string text = Base64UrlEncode(bytes);
    EXPECT_EQ(text.find_first_of("+/="), std::string::npos);
    EXPECT_EQ(Base64UrlDecode(text), bytes) << length;
  }
}

TEST(Base64UrlTest, StrictDecode) {
  EXPECT_FALSE(Base64UrlDecode("Zg=="));   // padding
  EXPECT_FALSE(Base64UrlDecode("+/+/"));   // standard alphabet
  EXPECT_FALSE(Base64UrlDecode("Zm9 v"));  // whitespace
  EXPECT_FALSE(Base64UrlDecode("Zm9vY"));  // 5 characters cannot be whole bytes
  EXPECT_FALSE(Base64UrlDecode("Zh"));     // "f" is "Zg": non-zero leftover bits
  EXPECT_FALSE(Base64UrlDecode(std::string("Zg\0", 3)));
}

std::string Part(std::string_view json) { return Base64UrlEncode(json); }

TEST(ParseCompactTest, SplitsAndDecodes) {
  const std::string token =
      Part(R"({"alg":"ES384","typ":"JWT"})") + "." + Part(R"({"iss":"a"})") + "." + Part("sig");
  std::string message;
  auto jws = ParseCompact(token, message);
  ASSERT_TRUE(jws) << message;
  EXPECT_EQ(jws->alg, "ES384");
  EXPECT_EQ(jws->payload.StringAt("iss"), "a");
  EXPECT_EQ(jws->signature, "sig");
  EXPECT_EQ(jws->signing_input, token.substr(0, token.rfind('.')));
}

TEST(ParseCompactTest, RejectsMalformed) {
  const std::string header = Part(R"({"alg":"ES384"})");
  const std::string payload = Part(R"({"iss":"a"})");
  auto code = [](std::string_view token) {
    std::string message;
    auto jws = ParseCompact(token, message);
    EXPECT_FALSE(jws) << token;
    EXPECT_FALSE(message.empty()) << token;
    return jws ? std::error_code() : static_cast<std::error_code>(jws.error());
  };
  EXPECT_EQ(code(""), errc::kMalformed);
  EXPECT_EQ(code(header + "." + payload), errc::kMalformed);
  EXPECT_EQ(code(header + "." + payload + ".c2ln.c2ln"), errc::kMalformed);
  EXPECT_EQ(code(header + "." + payload + ".c2l="), errc::kMalformed);
  EXPECT_EQ(code(Part("[1]") + "." + payload + "."), errc::kMalformed);
  EXPECT_EQ(code(Part("{") + "." + payload + "."), errc::kMalformed);
  EXPECT_EQ(code(Part(R"({"typ":"JWT"})") + "." + payload + "."), errc::kMalformed);
  EXPECT_EQ(code(Part(R"({"alg":5})") + "." + payload + "."), errc::kMalformed);
  EXPECT_EQ(code(header + "." + Part("\"claims\"") + "."), errc::kMalformed);
  EXPECT_EQ(code(header + "." + Part(R"({"a":[[[[[[1]]]]]]})") + "."), errc::kMalformed);
  EXPECT_EQ(code(header + "." + std::string(20'000, 'A') + "."), errc::kMalformed);
  EXPECT_EQ(code(Part(R"({"alg":"ES384","crit":["exp"]})") + "." + payload + "."),
            errc::kUnsupportedAlgorithm);
}

TEST(NumericDateTest, Forms) {
  auto date = [](std::string_view json, bool& bad) {
    bad = false;
    return NumericDate(testing::ParseJson(json), "exp", bad);
  };
  bool bad = false;
  EXPECT_EQ(date(R"({"exp": 1700000000})", bad), 1700000000);
  EXPECT_FALSE(bad);
  EXPECT_EQ(date(R"({"exp": 1700000000.75})", bad), 1700000000);
  EXPECT_FALSE(bad);
  EXPECT_EQ(date(R"({"exp": 1.7e9})", bad), 1700000000);
  EXPECT_FALSE(bad);
  EXPECT_FALSE(date(R"({})", bad));
  EXPECT_FALSE(bad);
  for (const char* json : {R"({"exp": "1700000000"})", R"({"exp": -5})", R"({"exp": 1e300})",
                           R"({"exp": 99999999999999999999999})", R"({"exp": null})"}) {
    EXPECT_FALSE(date(json, bad)) << json;
    EXPECT_TRUE(bad) << json;
  }
}

class KeysTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ec_ = testing::GenerateEc("P-384").release();
    rsa_ = testing::GenerateRsa(3072).release();
  }
  static void TearDownTestSuite() {
    EVP_PKEY_free(ec_);
    EVP_PKEY_free(rsa_);
  }

  static std::string Signed(EVP_PKEY* key, std::string_view alg) {
    Value claims = Value::Object();
    claims.Set("iss", Value::String("client"));
    return testing::SignJwt(key, alg, claims);
  }

  static std::error_code Verify(std::string_view token, EVP_PKEY* key) {
    std::string message;
    auto jws = ParseCompact(token, message);
    EXPECT_TRUE(jws) << message;
    return jws ? VerifyWithPublicKey(*jws, key) : static_cast<std::error_code>(jws.error());
  }

  static EVP_PKEY* ec_;
  static EVP_PKEY* rsa_;
};

EVP_PKEY* KeysTest::ec_ = nullptr;
EVP_PKEY* KeysTest::rsa_ = nullptr;

TEST_F(KeysTest, AlgorithmForKey) {
  EXPECT_EQ(AlgorithmForKey(ec_), Algorithm::kEs384);
  EXPECT_EQ(AlgorithmForKey(rsa_), Algorithm::kRs384);
  EXPECT_EQ(AlgorithmForKey(testing::GenerateEc("P-256").get()), std::nullopt);
  EXPECT_EQ(AlgorithmForKey(testing::GenerateRsa(1024).get()), std::nullopt);
  EXPECT_EQ(AlgorithmForKey(testing::GenerateEd25519().get()), std::nullopt);
  EXPECT_EQ(AlgorithmForKey(nullptr), std::nullopt);
}

TEST_F(KeysTest, PemRoundTrip) {
  auto key = ParsePublicKeyPem(testing::PublicPem(ec_));
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(EVP_PKEY_eq(key.get(), ec_), 1);
  EXPECT_EQ(ParsePublicKeyPem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
            nullptr);
  EXPECT_EQ(ParsePublicKeyPem(""), nullptr);
}

TEST_F(KeysTest, VerifiesEs384AndRs384) {
  // Many signatures: r or s with leading zero bytes must survive the r||s ↔ DER conversion.
  for (int i = 0; i < 40; ++i) {
    EXPECT_FALSE(Verify(Signed(ec_, "ES384"), ec_)) << i;
  }
  EXPECT_FALSE(Verify(Signed(rsa_, "RS384"), rsa_));
}

TEST_F(KeysTest, RefusesWrongKeyOrAlgorithm) {
  auto other_ec = testing::GenerateEc("P-384");
  EXPECT_EQ(Verify(Signed(ec_, "ES384"), other_ec.get()), errc::kBadSignature);
  // The header's algorithm must be the key's: no RS384 header on an EC key and the reverse.
  EXPECT_EQ(Verify(Signed(ec_, "RS384"), ec_), errc::kUnsupportedAlgorithm);
  EXPECT_EQ(Verify(Signed(rsa_, "ES384"), rsa_), errc::kUnsupportedAlgorithm);
  EXPECT_EQ(Verify(Signed(rsa_, "RS256"), rsa_), errc::kUnsupportedAlgorithm);
  EXPECT_EQ(Verify(Signed(rsa_, "PS384"), rsa_), errc::kUnsupportedAlgorithm);
  // "none" with an empty signature.
  const std::string none = testing::Encode(testing::Header("none")) + "." +
                           testing::Encode(testing::ParseJson(R"({"iss":"client"})")) + ".";
  EXPECT_EQ(Verify(none, ec_), errc::kUnsupportedAlgorithm);
  // HS384 keyed with the public key's PEM: the classic algorithm-confusion forgery.
  const std::string input = testing::Encode(testing::Header("HS384")) + "." +
                            testing::Encode(testing::ParseJson(R"({"iss":"client"})"));
  const std::string forged =
      input + "." + Base64UrlEncode(testing::HmacSha384(testing::PublicPem(rsa_), input));
  EXPECT_EQ(Verify(forged, rsa_), errc::kUnsupportedAlgorithm);
  // An ES384 signature of the wrong length.
  const std::string es = Signed(ec_, "ES384");
  EXPECT_EQ(Verify(es.substr(0, es.rfind('.') + 1) + Base64UrlEncode(std::string(95, 'x')), ec_),
            errc::kBadSignature);
}

}  // namespace
}  // namespace carebridge::auth::jwt
