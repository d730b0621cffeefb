// The catalog: every shipped data file loads together; bad files are reported and left out.

#include "mappings/catalog.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "tests/unit/mappings/test_util.h"

namespace carebridge::mappings {
namespace {

namespace fs = std::filesystem;
using testing::DataPath;
using testing::ReadFile;

std::vector<DataFile> Files(const std::string& dir) {
  std::vector<DataFile> files;
  for (const auto& entry : fs::directory_iterator(DataPath(dir))) {
    if (entry.path().extension() == ".json") {
      files.push_back(
          {dir + "/" + entry.path().filename().string(), ReadFile(entry.path().string())});
    }
  }
  std::sort(files.begin(), files.end(),
            [](const DataFile& a, const DataFile& b) { return a.name < b.name; });
  return files;
}

std::string Describe(const std::vector<FileReport>& reports) {
  std::string out;
  for (const auto& r : reports) {
    out += r.name + ": " + testing::Describe(r.outcome) + "\n";
  }
  return out;
}

TEST(Catalog, ShippedDataLoadsCleanly) {
  CatalogFiles files{Files("conceptmaps"), Files("partners"), Files("questionnaires")};
  std::vector<FileReport> reports;
  auto catalog = Catalog::Build(files, reports);
  ASSERT_NE(catalog, nullptr);
  EXPECT_FALSE(HasErrors(reports)) << Describe(reports);
  EXPECT_EQ(catalog->partners().size(), files.partners.size());
  EXPECT_NE(catalog->Partner("riverside-ehr"), nullptr);
  EXPECT_EQ(catalog->Partner("nobody"), nullptr);
  EXPECT_EQ(catalog->concept_maps()->maps().size(), files.concept_maps.size());
  ASSERT_EQ(catalog->questionnaires().size(), 2u);
  EXPECT_NE(catalog->FindQuestionnaire(std::string(kPrapareCanonical) + "|2.0.0"), nullptr);
  EXPECT_NE(catalog->FindQuestionnaire(kCansCanonical), nullptr);
  EXPECT_EQ(catalog->FindQuestionnaire("http://example.org/Questionnaire/other"), nullptr);
}

TEST(Catalog, BadFilesAreReportedAndLeftOut) {
  CatalogFiles files;
  files.partners.push_back({"partners/misnamed.json", R"({"partner":"someone-else"})"});
  files.partners.push_back(
      {"partners/broken.json",
       R"({"partner":"broken","inbound":{"*":[{"rule":"translate-code","path":"code",
           "conceptMap":"urn:nope"}]}})"});
  files.questionnaires.push_back(
      {"questionnaires/bad.json", R"({"resourceType":"Questionnaire"})"});
  files.questionnaires.push_back({"questionnaires/notjson.json", "{"});
  std::vector<FileReport> reports;
  auto catalog = Catalog::Build(files, reports);
  ASSERT_NE(catalog, nullptr);
  EXPECT_TRUE(HasErrors(reports));
  EXPECT_TRUE(catalog->partners().empty());
  EXPECT_TRUE(catalog->questionnaires().empty());
  std::string all = Describe(reports);
  EXPECT_NE(all.find("partners/misnamed.json"), std::string::npos) << all;
  EXPECT_NE(all.find("someone-else"), std::string::npos) << all;
  EXPECT_NE(all.find("partners/broken.json"), std::string::npos) << all;
  EXPECT_NE(all.find("questionnaires/bad.json"), std::string::npos) << all;
  EXPECT_NE(all.find("questionnaires/notjson.json"), std::string::npos) << all;
}

}  // namespace
}  // namespace carebridge::mappings
