// `carebridge mappings check` as a process: exit codes and what it names.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/unit/cli_support.h"
#include "tests/unit/mappings/test_util.h"

namespace carebridge::mappings {
namespace {

namespace fs = std::filesystem;

using carebridge::testing::Carebridge;
using carebridge::testing::Proc;

class MappingsCheckCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(scratch_.path().empty());
    // A copy of the shipped data and the partners' fixtures to break in each test.
    fs::copy(CAREBRIDGE_MAPPINGS_DIR, dir_ / "mappings", fs::copy_options::recursive);
    fs::copy(std::string(CAREBRIDGE_FIXTURES_DIR) + "/mappings", dir_ / "fixtures",
             fs::copy_options::recursive);
  }
  void Write(const fs::path& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
  }
  std::string Args() const {
    return "mappings check --mappings-dir " + (dir_ / "mappings").string() + " --fixtures " +
           (dir_ / "fixtures").string();
  }

  carebridge::testing::ScratchDir scratch_;
  const fs::path dir_ = scratch_.path();
};

TEST_F(MappingsCheckCliTest, ShippedDataPasses) {
  Proc r = Carebridge("mappings check");  // the built-in default: the source tree's data
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("partner riverside-ehr: round trip OK on"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mappings check OK:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("questionnaires/prapare.json: OK"), std::string::npos) << r.out;
  Proc copy = Carebridge(Args());
  EXPECT_EQ(copy.exit_code, 0) << copy.out;
}

TEST_F(MappingsCheckCliTest, DefinitionErrorsExitOneNamingTheFile) {
  Write(dir_ / "mappings/partners/lakeside-cmhc.json",
        R"({"partner":"lakeside-cmhc","inbound":{"ServiceRequest":[
            {"rule":"translate-code","path":"category","conceptMap":"urn:no-such-map"}]}})");
  Write(dir_ / "mappings/partners/harbor-housing.json",
        R"({"partner":"harbor-housing","inbound":{"Task":[
            {"rule":"set-default","path":"status","value":"requested"},
            {"rule":"set-default","path":"intent"}]}})");
  Proc r = Carebridge(Args());
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("partners/lakeside-cmhc.json: INVALID"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("urn:no-such-map"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("partners/harbor-housing.json: INVALID"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("inbound.Task[1]"), std::string::npos) << r.out;
  // The other partners are still checked.
  EXPECT_NE(r.out.find("partner riverside-ehr: round trip OK"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mappings check FAILED"), std::string::npos) << r.out;
}

TEST_F(MappingsCheckCliTest, RoundTripFailureExitsOne) {
  // FOODPANTRY maps to food-insecurity ("wider"), which maps back to FOOD: not a round trip.
  std::string sr =
      testing::ReadFile((dir_ / "fixtures/riverside-ehr/ServiceRequest.json").string());
  const std::string from = R"("code": "FOOD")";
  ASSERT_NE(sr.find(from), std::string::npos);
  sr.replace(sr.find(from), from.size(), R"("code": "FOODPANTRY")");
  Write(dir_ / "fixtures/riverside-ehr/ServiceRequest.json", sr);
  Proc r = Carebridge(Args());
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("partner riverside-ehr: round trip FAILED"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ServiceRequest"), std::string::npos) << r.out;
}

TEST_F(MappingsCheckCliTest, BrokenQuestionnaireAndConceptMapAreReported) {
  Write(dir_ / "mappings/questionnaires/broken.json", R"({"resourceType":"Questionnaire",
      "status":"active","url":"urn:q","item":[{"linkId":"a","type":"nope"}]})");
  Write(dir_ / "mappings/conceptmaps/broken.json", "{ not json");
  Proc r = Carebridge(Args());
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("questionnaires/broken.json: INVALID"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("conceptmaps/broken.json: INVALID"), std::string::npos) << r.out;
}

TEST_F(MappingsCheckCliTest, ConfigNamesTheMappingsFolder) {
  Write(dir_ / "mappings/partners/lakeside-cmhc.json", R"({"partner":"lakeside"})");
  Write(dir_ / "config.json", R"({"mappings_dir":"mappings"})");
  Proc r = Carebridge("mappings check --config " + (dir_ / "config.json").string());
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("partners/lakeside-cmhc.json: INVALID"), std::string::npos) << r.out;
}

TEST_F(MappingsCheckCliTest, UsageAndMissingFolderExitTwo) {
  EXPECT_EQ(Carebridge("mappings").exit_code, 2);
  EXPECT_EQ(Carebridge("mappings verify").exit_code, 2);
  EXPECT_EQ(Carebridge("mappings check --bogus x").exit_code, 2);
  EXPECT_EQ(Carebridge("mappings check --mappings-dir").exit_code, 2);
  EXPECT_EQ(Carebridge("mappings check --config a --mappings-dir b").exit_code, 2);
  Proc missing = Carebridge("mappings check --mappings-dir " + (dir_ / "nope").string());
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.out.find("does not exist"), std::string::npos) << missing.out;
}

}  // namespace
}  // namespace carebridge::mappings
