// Every official R4 example of a supported type (../shared/conformance/r4/, when present) is
// accepted as it is, reads back equal apart from meta, and is found by search on its codes.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "fhir/resource/resource.h"
#include "tests/integration/harness.h"

namespace carebridge::testing {
namespace {

namespace fs = std::filesystem;
namespace json = fhir::json;

TEST(ConformanceTest, OfficialR4ExamplesRoundTrip) {
  fs::path folder = fs::path(CAREBRIDGE_SOURCE_DIR) / ".." / "shared" / "conformance" / "r4";
  if (!fs::exists(folder)) {
    GTEST_SKIP() << "no ../shared/conformance/r4 beside the repository";
  }
  TempDir dir;
  GatewayProcess gateway(dir.path() / "data");
  ASSERT_TRUE(gateway.Start());
  Client client(gateway.BaseUrl());
  int checked = 0;
  for (const auto& file : fs::directory_iterator(folder)) {
    std::string text = ReadFile(file.path());
    std::string message;
    auto example = json::Parse(text, json::Limits{}, message);
    ASSERT_TRUE(example) << file.path() << ": " << message;
    std::string type(example->StringAt("resourceType"));
    const fhir::ResourceTypeInfo* info = fhir::FindSupportedType(type);
    if (info == nullptr || !info->writable) {
      continue;
    }
    std::string id(example->StringAt("id"));
    // Update-as-create keeps the example's own id, so references between examples hold.
    Response put = client.Put("/fhir/" + type + "/" + id, text);
    ASSERT_TRUE(put.status == 201 || put.status == 200)
        << file.path().filename() << " -> " << put.status << " " << put.body;
    Response read = client.Get("/fhir/" + type + "/" + id);
    ASSERT_EQ(read.status, 200);
    json::Value expected = WithoutMeta(*example);
    json::Value got = read.Json();
    // meta may carry more than versionId/lastUpdated (tags, profiles): those must survive.
    // meta.source is the gateway's: it names the partner that wrote the version.
    ASSERT_NE(got.Find("meta"), nullptr);
    EXPECT_EQ(got.Find("meta")->StringAt("source"), "urn:carebridge:partner:riverside-ehr");
    if (const json::Value* meta = example->Find("meta")) {
      json::Value got_meta = *got.Find("meta");
      got_meta.Remove("versionId");
      got_meta.Remove("lastUpdated");
      got_meta.Remove("source");
      json::Value sent_meta = *meta;
      sent_meta.Remove("versionId");
      sent_meta.Remove("lastUpdated");
      sent_meta.Remove("source");
      EXPECT_TRUE(got_meta == sent_meta) << file.path().filename();
    }
    EXPECT_TRUE(WithoutMeta(std::move(got)) == expected)
        << file.path().filename() << "\nsent: " << json::Write(expected) << "\nread: " << read.body;
    Response by_id = client.Get("/fhir/" + type + "?_id=" + id);
    EXPECT_EQ(by_id.Json().Find("total")->text(), "1") << file.path().filename();
    if (const json::Value* code = example->Find("code")) {
      if (const json::Value* codings = code->Find("coding"); codings && !codings->items().empty()) {
        const json::Value& coding = codings->items()[0];
        std::string query = "/fhir/" + type + "?_id=" + id +
                            "&code=" + std::string(coding.StringAt("system")) + "%7C" +
                            std::string(coding.StringAt("code"));
        Response by_code = client.Get(query);
        EXPECT_EQ(by_code.Json().Find("total")->text(), "1") << query;
      }
    }
    ++checked;
  }
  EXPECT_GT(checked, 40);
  EXPECT_EQ(gateway.Stop(), 0);
}

}  // namespace
}  // namespace carebridge::testing
