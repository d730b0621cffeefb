// The shipped data: every ConceptMap under mappings/conceptmaps/ and every partner definition
// under mappings/partners/ must load, and each partner's fixtures must survive the round trip.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "fhir/json/json.h"
#include "mappings/engine.h"
#include "tests/unit/mappings/test_util.h"

namespace carebridge::mappings {
namespace {

namespace fs = std::filesystem;
using fhir::json::Value;
using testing::DataPath;
using testing::Describe;
using testing::FixturePath;
using testing::LoadFixture;
using testing::MustParse;
using testing::ReadFile;

std::vector<fs::path> JsonFiles(const std::string& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::shared_ptr<const ConceptMapSet> ShippedMaps() {
  static const std::shared_ptr<const ConceptMapSet> set = [] {
    ConceptMapSet::Builder builder;
    fhir::Outcome outcome;
    for (const fs::path& file : JsonFiles(DataPath("conceptmaps"))) {
      EXPECT_TRUE(builder.AddJson(ReadFile(file.string()), outcome))
          << file << ": " << Describe(outcome);
    }
    auto built = std::move(builder).Build(outcome);
    EXPECT_TRUE(built != nullptr) << Describe(outcome);
    return built;
  }();
  return set;
}

std::shared_ptr<const PartnerMapping> Partner(const std::string& id) {
  static std::map<std::string, std::shared_ptr<const PartnerMapping>> cache;
  auto it = cache.find(id);
  if (it != cache.end()) {
    return it->second;
  }
  fhir::Outcome outcome;
  auto mapping =
      PartnerMapping::Load(ReadFile(DataPath("partners/" + id + ".json")), ShippedMaps(), outcome);
  EXPECT_TRUE(mapping != nullptr) << id << ": " << Describe(outcome);
  cache.emplace(id, mapping);
  return mapping;
}

std::vector<Value> Fixtures(const std::string& partner) {
  std::vector<Value> fixtures;
  for (const fs::path& file : JsonFiles(FixturePath(partner))) {
    fixtures.push_back(MustParse(ReadFile(file.string())));
  }
  return fixtures;
}

void ExpectSame(const Value& got, const Value& want) {
  std::string where;
  EXPECT_TRUE(SameResource(got, want, where))
      << "differs at " << where << "\ngot  " << fhir::json::Write(got) << "\nwant "
      << fhir::json::Write(want);
}

const std::vector<std::string> kPartners = {"riverside-ehr", "lakeside-cmhc", "harbor-housing",
                                            "northside-food"};

TEST(ShippedData, EveryConceptMapAndPartnerLoads) {
  ASSERT_TRUE(ShippedMaps() != nullptr);
  EXPECT_EQ(ShippedMaps()->maps().size(), JsonFiles(DataPath("conceptmaps")).size());
  std::vector<std::string> ids;
  for (const fs::path& file : JsonFiles(DataPath("partners"))) {
    ids.push_back(file.stem().string());
    auto mapping = Partner(ids.back());
    ASSERT_TRUE(mapping != nullptr);
    // The file name is the partner id the gateway's registry refers to.
    EXPECT_EQ(mapping->partner(), ids.back());
  }
  for (const std::string& p : kPartners) {
    EXPECT_NE(std::find(ids.begin(), ids.end(), p), ids.end()) << p;
  }
}

TEST(ShippedData, RoundTripOnEachPartnersFixtures) {
  for (const std::string& p : kPartners) {
    SCOPED_TRACE(p);
    const std::vector<Value> fixtures = Fixtures(p);
    EXPECT_GE(fixtures.size(), 3u);
    const fhir::Outcome outcome = CheckRoundTrip(*Partner(p), fixtures);
    EXPECT_TRUE(outcome.empty()) << Describe(outcome);
  }
}

TEST(ShippedData, RiversideServiceRequestToCanonicalMatchesGolden) {
  Value sr = LoadFixture("riverside-ehr/ServiceRequest.json");
  fhir::Outcome outcome;
  ASSERT_TRUE(Partner("riverside-ehr")->Apply(Direction::kInbound, sr, outcome))
      << Describe(outcome);
  EXPECT_TRUE(outcome.empty()) << Describe(outcome);
  ExpectSame(sr, LoadFixture("golden/riverside-ServiceRequest.canonical.json"));
}

// Partner A posts a ServiceRequest with its local codes and MRN; partner B reads it in B's codes
// and identifiers.
TEST(ShippedData, RiversideToCanonicalToLakeside) {
  Value sr = LoadFixture("riverside-ehr/ServiceRequest.json");
  fhir::Outcome outcome;
  ASSERT_TRUE(Partner("riverside-ehr")->Apply(Direction::kInbound, sr, outcome));
  ASSERT_TRUE(Partner("lakeside-cmhc")->Apply(Direction::kOutbound, sr, outcome));
  EXPECT_TRUE(outcome.empty()) << Describe(outcome);
  ExpectSame(sr, LoadFixture("golden/riverside-ServiceRequest.to-lakeside.json"));
}

TEST(ShippedData, LakesideToCanonicalToRiverside) {
  Value sr = LoadFixture("lakeside-cmhc/ServiceRequest.json");
  fhir::Outcome outcome;
  ASSERT_TRUE(Partner("lakeside-cmhc")->Apply(Direction::kInbound, sr, outcome));
  ASSERT_TRUE(Partner("riverside-ehr")->Apply(Direction::kOutbound, sr, outcome));
  EXPECT_TRUE(outcome.empty()) << Describe(outcome);
  ExpectSame(sr, LoadFixture("golden/lakeside-ServiceRequest.to-riverside.json"));
}

TEST(ShippedData, RiversideReferralAsTheAgenciesReceiveIt) {
  for (const std::string agency : {"harbor-housing", "northside-food"}) {
    SCOPED_TRACE(agency);
    Value sr = LoadFixture("riverside-ehr/ServiceRequest.json");
    fhir::Outcome outcome;
    ASSERT_TRUE(Partner("riverside-ehr")->Apply(Direction::kInbound, sr, outcome));
    ASSERT_TRUE(Partner(agency)->Apply(Direction::kOutbound, sr, outcome));
    EXPECT_TRUE(outcome.empty()) << Describe(outcome);
    ExpectSame(sr, LoadFixture("golden/riverside-ServiceRequest.to-" + agency + ".json"));
  }
}

TEST(ShippedData, RiversideDiagnosesUseTheLegacyMapThenRefuse) {
  auto riverside = Partner("riverside-ehr");
  Value condition = LoadFixture("riverside-ehr/Condition.json");
  Value* coding = &condition.Find("code")->Find("coding")->items()[0];
  coding->Set("code", Value::String("RV-OLD-DEPRESSION"));
  fhir::Outcome outcome;
  ASSERT_TRUE(riverside->Apply(Direction::kInbound, condition, outcome)) << Describe(outcome);
  coding = &condition.Find("code")->Find("coding")->items()[0];
  EXPECT_EQ(coding->StringAt("system"), "http://hl7.org/fhir/sid/icd-10-cm");
  EXPECT_EQ(coding->StringAt("code"), "F32.A");
  // The subject's conditional reference now names the canonical MRN.
  EXPECT_EQ(condition.Find("subject")->StringAt("reference"),
            "Patient?identifier=https://carebridge.example.org/fhir/sid/mrn|RV-100234");

  Value unknown = LoadFixture("riverside-ehr/Condition.json");
  unknown.Find("code")->Find("coding")->items()[0].Set("code", Value::String("RV-DX-NOPE"));
  fhir::Outcome refused;
  EXPECT_FALSE(riverside->Apply(Direction::kInbound, unknown, refused));
  ASSERT_EQ(refused.issues().size(), 1u) << Describe(refused);
  EXPECT_EQ(refused.issues()[0].expression, "Condition.code.coding[0]");
  EXPECT_EQ(refused.ToResource().Find("issue")->items()[0].StringAt("code"), "code-invalid");
}

TEST(ShippedData, UnknownRiversideServiceTypeBecomesUnspecified) {
  Value sr = LoadFixture("riverside-ehr/ServiceRequest.json");
  sr.Find("category")->items()[0].Find("coding")->items()[0].Set("code", Value::String("PET"));
  fhir::Outcome outcome;
  ASSERT_TRUE(Partner("riverside-ehr")->Apply(Direction::kInbound, sr, outcome));
  const Value& coding = sr.Find("category")->items()[0].Find("coding")->items()[0];
  EXPECT_EQ(coding.StringAt("code"), "sdoh-category-unspecified");
  EXPECT_EQ(coding.StringAt("display"), "SDOH Category Unspecified");
}

TEST(ShippedData, EveryPartnerFixtureMapsInboundWithoutErrors) {
  for (const std::string& p : kPartners) {
    for (Value& fixture : Fixtures(p)) {
      fhir::Outcome outcome;
      EXPECT_TRUE(Partner(p)->Apply(Direction::kInbound, fixture, outcome))
          << p << ": " << Describe(outcome);
      // Canonical resources carry the canonical MRN only.
      EXPECT_EQ(fhir::json::Write(fixture).find(".mrn\""), std::string::npos) << p;
    }
  }
}

}  // namespace
}  // namespace carebridge::mappings
