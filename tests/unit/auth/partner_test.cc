#include "gateway/auth/partner.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/unit/auth/test_support.h"

namespace carebridge::auth {
namespace {

using testing::ParseJson;
using testing::TempDir;

class PartnerRegistryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ec_key_ = testing::GenerateEc("P-384").release();
    ASSERT_NE(ec_key_, nullptr);
  }
  static void TearDownTestSuite() {
    EVP_PKEY_free(ec_key_);
    ec_key_ = nullptr;
  }

  void SetUp() override { dir_.Write("keys/ec.pub", testing::PublicPem(ec_key_)); }

  Result<PartnerRegistry> Load(std::string_view json) {
    message_.clear();
    return PartnerRegistry::FromJson(ParseJson(json), dir_.path().string(), message_);
  }

  // Loads `json`, expecting failure; returns the message.
  std::string Error(std::string_view json) {
    auto registry = Load(json);
    EXPECT_FALSE(registry) << json;
    EXPECT_FALSE(message_.empty());
    return message_;
  }

  // A minimal valid partner with `extra` members appended.
  static std::string One(std::string_view extra = "") {
    std::string json = R"([{"id": "p1", "name": "Partner One", "kind": "ehr")";
    if (!extra.empty()) {
      json += ", ";
      json += extra;
    }
    return json + "}]";
  }

  static EVP_PKEY* ec_key_;
  TempDir dir_;
  std::string message_;
};

EVP_PKEY* PartnerRegistryTest::ec_key_ = nullptr;

constexpr char kFingerprint[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

TEST_F(PartnerRegistryTest, ParsesEveryField) {
  auto registry = Load(std::string(R"([
    {"id": "riverside-ehr", "name": "Riverside", "kind": "ehr", "enabled": true,
     "cert_fingerprints": ["01:23:45:67:89:AB:CD:EF:01:23:45:67:89:ab:cd:ef:)") +
                       R"(01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef"],
     "cert_subjects": ["urn:carebridge:partner:riverside-ehr", "CN=riverside,O=dev"],
     "fhir_endpoint": "https://riverside.example.org/fhir",
     "purposes": ["TREAT", "HPAYMT", "ETREAT"], "default_purpose": "TREAT",
     "mapping_profile": "riverside-ehr", "jwt_public_key_file": "keys/ec.pub",
     "requests_per_second": 12.5, "burst": 30},
    {"id": "harbor-housing", "name": "Harbor", "kind": "agency", "enabled": false},
    {"id": "privacy-office", "name": "Privacy", "kind": "privacy-officer"},
    {"id": "care-coordination", "name": "Coordination", "kind": "coordinator"},
    {"id": "ops", "name": "Operations", "kind": "admin"}
  ])");
  ASSERT_TRUE(registry) << message_;
  ASSERT_EQ(registry->partners().size(), 5u);
  const Partner* p = registry->FindById("riverside-ehr");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->display_name, "Riverside");
  EXPECT_EQ(p->kind, PartnerKind::kEhr);
  EXPECT_TRUE(p->enabled);
  EXPECT_EQ(p->cert_fingerprints, std::vector<std::string>{kFingerprint});
  EXPECT_EQ(p->cert_subjects.size(), 2u);
  EXPECT_EQ(p->fhir_endpoint, "https://riverside.example.org/fhir");
  EXPECT_EQ(p->purposes, (std::vector<std::string>{"TREAT", "HPAYMT", "ETREAT"}));
  EXPECT_EQ(p->default_purpose, "TREAT");
  EXPECT_EQ(p->mapping_profile, "riverside-ehr");
  EXPECT_EQ(p->jwt_public_key_pem, testing::PublicPem(ec_key_));
  EXPECT_DOUBLE_EQ(p->requests_per_second, 12.5);
  EXPECT_EQ(p->burst, 30);
  EXPECT_EQ(p->OrganizationReference(), "Organization/riverside-ehr");

  const Partner* agency = registry->FindById("harbor-housing");
  ASSERT_NE(agency, nullptr);
  EXPECT_EQ(agency->kind, PartnerKind::kAgency);
  EXPECT_FALSE(agency->enabled);
  EXPECT_EQ(registry->FindById("privacy-office")->kind, PartnerKind::kPrivacyOfficer);
  EXPECT_EQ(registry->FindById("care-coordination")->kind, PartnerKind::kCoordinator);
  EXPECT_EQ(registry->FindById("ops")->kind, PartnerKind::kAdmin);
  EXPECT_EQ(registry->FindById("nobody"), nullptr);
}

TEST_F(PartnerRegistryTest, Defaults) {
  auto registry = Load(One());
  ASSERT_TRUE(registry) << message_;
  const Partner& p = registry->partners().front();
  EXPECT_TRUE(p.enabled);
  EXPECT_TRUE(p.purposes.empty());
  EXPECT_TRUE(p.default_purpose.empty());
  EXPECT_TRUE(p.jwt_public_key_pem.empty());
  EXPECT_DOUBLE_EQ(p.requests_per_second, 200);
  EXPECT_EQ(p.burst, 400);
  EXPECT_TRUE(Load("[]"));
}

TEST_F(PartnerRegistryTest, AbsoluteKeyPath) {
  const std::string path = (dir_.path() / "keys" / "ec.pub").string();
  auto registry = Load(One(R"("jwt_public_key_file": ")" + path + "\""));
  ASSERT_TRUE(registry) << message_;
  EXPECT_FALSE(registry->partners().front().jwt_public_key_pem.empty());
}

TEST_F(PartnerRegistryTest, ShapeErrors) {
  EXPECT_EQ(Error(R"({"id": "p1"})"), "partners: expected an array");
  EXPECT_EQ(Error(R"(["p1"])"), "partners[0]: expected an object");
  EXPECT_EQ(Error(R"([{"name": "x", "kind": "ehr"}])"), "partners[0].id: required");
  EXPECT_EQ(Error(R"([{"id": "x", "kind": "ehr"}])"), "partners[0].name: required");
  EXPECT_EQ(Error(R"([{"id": "x", "name": "x"}])"), "partners[0].kind: required");
  EXPECT_EQ(Error(One(R"("colour": "blue")")), "partners[0].colour: unknown key");
  EXPECT_EQ(Error(One(R"("enabled": "yes")")), "partners[0].enabled: expected true or false");
  EXPECT_EQ(Error(One(R"("purposes": "TREAT")")),
            "partners[0].purposes: expected an array of strings");
  EXPECT_EQ(Error(One(R"("cert_subjects": [""])")),
            "partners[0].cert_subjects: expected an array of non-empty strings");
  EXPECT_EQ(Error(One(R"("cert_subjects": [1])")),
            "partners[0].cert_subjects: expected an array of non-empty strings");
  EXPECT_EQ(Error(R"([{"id": "x", "name": 5, "kind": "ehr"}])"),
            "partners[0].name: expected a string");
}

TEST_F(PartnerRegistryTest, ValueErrors) {
  EXPECT_NE(Error(R"([{"id": "bad id!", "name": "x", "kind": "ehr"}])").find("partners[0].id"),
            std::string::npos);
  EXPECT_NE(Error(R"([{"id": "x", "name": "x", "kind": "hospital"}])")
                .find("partners[0].kind: expected one of ehr, agency"),
            std::string::npos);
  EXPECT_NE(Error(One(R"("purposes": ["TREAT"], "default_purpose": "HPAYMT")"))
                .find("partners[0].default_purpose"),
            std::string::npos);
  EXPECT_NE(Error(One(R"("default_purpose": "TREAT")")).find("default_purpose"), std::string::npos);
  EXPECT_NE(Error(One(R"("purposes": ["treat"])")).find("partners[0].purposes"), std::string::npos);
  EXPECT_NE(Error(One(R"("cert_fingerprints": ["abcd"])")).find("partners[0].cert_fingerprints"),
            std::string::npos);
  EXPECT_NE(Error(One(R"("fhir_endpoint": "ftp://x")")).find("partners[0].fhir_endpoint"),
            std::string::npos);
  EXPECT_NE(Error(One(R"("mapping_profile": "../../etc/passwd")")).find("mapping_profile"),
            std::string::npos);
  for (const char* rate : {"0", "-1", "\"5\"", "1e9"}) {
    EXPECT_NE(Error(One(std::string(R"("requests_per_second": )") + rate))
                  .find("partners[0].requests_per_second"),
              std::string::npos)
        << rate;
  }
  for (const char* burst : {"0", "2.5", "\"5\"", "99999999999"}) {
    EXPECT_NE(Error(One(std::string(R"("burst": )") + burst)).find("partners[0].burst"),
              std::string::npos)
        << burst;
  }
}

TEST_F(PartnerRegistryTest, DuplicatesAcrossPartners) {
  EXPECT_EQ(Error(R"([{"id": "a", "name": "A", "kind": "ehr"},
                      {"id": "a", "name": "B", "kind": "agency"}])"),
            "partners[1].id: duplicate partner id \"a\"");
  EXPECT_NE(Error(R"([{"id": "a", "name": "A", "kind": "ehr", "cert_subjects": ["CN=x"]},
                      {"id": "b", "name": "B", "kind": "ehr", "cert_subjects": ["CN=x"]}])")
                .find("partners[1].cert_subjects"),
            std::string::npos);
  EXPECT_NE(
      Error(std::string(R"([{"id": "a", "name": "A", "kind": "ehr", "cert_fingerprints": [")") +
            kFingerprint + R"("]}, {"id": "b", "name": "B", "kind": "ehr",
                  "cert_fingerprints": [")" +
            kFingerprint + R"("]}])")
          .find("partners[1].cert_fingerprints"),
      std::string::npos);
}

TEST_F(PartnerRegistryTest, KeyFileErrors) {
  EXPECT_NE(Error(One(R"("jwt_public_key_file": "keys/missing.pub")"))
                .find("partners[0].jwt_public_key_file: cannot read"),
            std::string::npos);
  dir_.Write("keys/junk.pub", "not a key");
  EXPECT_NE(Error(One(R"("jwt_public_key_file": "keys/junk.pub")")).find("not a PEM public key"),
            std::string::npos);
  // Keys that cannot make RS384/ES384 signatures of adequate strength are refused at load.
  auto rsa1024 = testing::GenerateRsa(1024);
  auto p256 = testing::GenerateEc("P-256");
  auto ed25519 = testing::GenerateEd25519();
  dir_.Write("keys/rsa1024.pub", testing::PublicPem(rsa1024.get()));
  dir_.Write("keys/p256.pub", testing::PublicPem(p256.get()));
  dir_.Write("keys/ed25519.pub", testing::PublicPem(ed25519.get()));
  for (const char* file : {"keys/rsa1024.pub", "keys/p256.pub", "keys/ed25519.pub"}) {
    EXPECT_NE(Error(One(std::string(R"("jwt_public_key_file": ")") + file + "\""))
                  .find("must be an RSA key of at least 2048 bits"),
              std::string::npos)
        << file;
  }
}

TEST_F(PartnerRegistryTest, FindByCertificate) {
  auto registry = Load(std::string(R"([
    {"id": "by-print", "name": "A", "kind": "ehr", "cert_fingerprints": [")") +
                       kFingerprint + R"("]},
    {"id": "by-dn", "name": "B", "kind": "ehr", "cert_subjects": ["CN=dn-partner,O=carebridge dev"]},
    {"id": "by-cn", "name": "C", "kind": "ehr", "cert_subjects": ["cn-partner"]},
    {"id": "by-san", "name": "D", "kind": "agency", "enabled": false,
     "cert_subjects": ["urn:carebridge:partner:by-san"]}
  ])");
  ASSERT_TRUE(registry) << message_;
  const std::vector<std::string> none;
  // Fingerprints: case and ':' separators do not matter, and a fingerprint wins over names.
  const std::string colons =
      "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:"
      "CD:EF";
  const Partner* p = registry->FindByCertificate(colons, "CN=cn-partner", "cn-partner", none);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->id, "by-print");
  EXPECT_EQ(registry->FindByCertificate(kFingerprint, "", "", none)->id, "by-print");

  const std::string other(64, 'f');
  p = registry->FindByCertificate(other, "CN=dn-partner,O=carebridge dev", "dn-partner", none);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->id, "by-dn");
  p = registry->FindByCertificate(other, "CN=cn-partner,O=elsewhere", "cn-partner", none);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->id, "by-cn");
  // Disabled partners are found: the caller refuses them and can say why.
  p = registry->FindByCertificate(other, "CN=x", "x",
                                  {"https://example.org", "urn:carebridge:partner:by-san"});
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->id, "by-san");
  EXPECT_FALSE(p->enabled);

  EXPECT_EQ(registry->FindByCertificate(other, "CN=stranger", "stranger", {"urn:x"}), nullptr);
  EXPECT_EQ(registry->FindByCertificate("", "", "", none), nullptr);
  // A CN equal to a partner's DN entry only matches when it is that whole string.
  EXPECT_EQ(registry->FindByCertificate(other, "CN=dn-partner", "dn-partner", none), nullptr);
}

TEST(PartnerTest, MayClaimAndKindNames) {
  Partner p;
  p.purposes = {"TREAT", "ETREAT"};
  EXPECT_TRUE(p.MayClaim("TREAT"));
  EXPECT_TRUE(p.MayClaim("ETREAT"));
  EXPECT_FALSE(p.MayClaim("HPAYMT"));
  EXPECT_FALSE(p.MayClaim("treat"));
  EXPECT_FALSE(p.MayClaim(""));
  EXPECT_EQ(ToString(PartnerKind::kEhr), "ehr");
  EXPECT_EQ(ToString(PartnerKind::kAgency), "agency");
  EXPECT_EQ(ToString(PartnerKind::kPrivacyOfficer), "privacy-officer");
  EXPECT_EQ(ToString(PartnerKind::kCoordinator), "coordinator");
  EXPECT_EQ(ToString(PartnerKind::kAdmin), "admin");
}

// The partner set that ships in deploy/ loads once the certs script has made its keys, laid out
// as the quick-start does: deploy/ next to var/certs/.
TEST(ExamplePartnersTest, LoadWithGeneratedKeys) {
  TempDir dir;
  const std::string certs = (dir.path() / "var" / "certs").string();
  const std::string command =
      "bash '" CAREBRIDGE_SOURCE_DIR "/certs/gen-dev-certs.sh' '" + certs + "' >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) {
    GTEST_SKIP() << "certs/gen-dev-certs.sh did not run (no openssl?)";
  }
  std::ifstream in(CAREBRIDGE_SOURCE_DIR "/deploy/carebridge.example.json");
  std::stringstream text;
  text << in.rdbuf();
  const fhir::json::Value config = ParseJson(text.str());
  const fhir::json::Value* partners = config.Find("partners");
  ASSERT_NE(partners, nullptr);
  std::string message;
  auto registry = PartnerRegistry::FromJson(*partners, (dir.path() / "deploy").string(), message);
  ASSERT_TRUE(registry) << message;
  for (const char* id : {"riverside-ehr", "lakeside-cmhc", "harbor-housing", "northside-food",
                         "privacy-office", "care-coordination"}) {
    const Partner* p = registry->FindById(id);
    ASSERT_NE(p, nullptr) << id;
    EXPECT_TRUE(p->enabled) << id;
    EXPECT_FALSE(p->jwt_public_key_pem.empty()) << id;
    EXPECT_TRUE(p->MayClaim(p->default_purpose)) << id;
    // The certs script puts this URI SAN into each partner's client certificate.
    EXPECT_EQ(
        registry->FindByCertificate("", "", "", {"urn:carebridge:partner:" + std::string(id)}), p);
  }
  EXPECT_EQ(registry->FindById("riverside-ehr")->kind, PartnerKind::kEhr);
  EXPECT_EQ(registry->FindById("harbor-housing")->kind, PartnerKind::kAgency);
  EXPECT_TRUE(registry->FindById("harbor-housing")->fhir_endpoint.empty());
  EXPECT_EQ(registry->FindById("privacy-office")->kind, PartnerKind::kPrivacyOfficer);
  EXPECT_EQ(registry->FindById("care-coordination")->kind, PartnerKind::kCoordinator);
  EXPECT_TRUE(registry->FindById("lakeside-cmhc")->MayClaim("ETREAT"));
}

}  // namespace
}  // namespace carebridge::auth
