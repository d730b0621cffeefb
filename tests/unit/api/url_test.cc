#include "gateway/api/url.h"

#include <gtest/gtest.h>

namespace carebridge::api {
namespace {

TEST(UrlTest, PercentDecode) {
  EXPECT_EQ(PercentDecode("a%2Fb", false), "a/b");
  EXPECT_EQ(PercentDecode("%2e%2E", false), "..");
  EXPECT_EQ(PercentDecode("a+b", false), "a+b");
  EXPECT_EQ(PercentDecode("a+b", true), "a b");
  EXPECT_FALSE(PercentDecode("%zz", false));
  EXPECT_FALSE(PercentDecode("%2", false));
  EXPECT_FALSE(PercentDecode("abc%", false));
  EXPECT_FALSE(PercentDecode("%00", false));  // a NUL never reaches an id or a parameter
}

TEST(UrlTest, QueryKeepsOrderAndRepeats) {
  auto params = ParseQuery("status=active&code=http://loinc.org%7C1234-5&status=draft&&flag");
  ASSERT_TRUE(params);
  ASSERT_EQ(params->size(), 4u);
  EXPECT_EQ((*params)[0], (std::pair<std::string, std::string>{"status", "active"}));
  EXPECT_EQ((*params)[1].second, "http://loinc.org|1234-5");
  EXPECT_EQ((*params)[2].second, "draft");
  EXPECT_EQ((*params)[3], (std::pair<std::string, std::string>{"flag", ""}));
  EXPECT_FALSE(ParseQuery("a=%G0"));
}

TEST(UrlTest, TargetSegments) {
  auto target = ParseTarget("/fhir/Patient/123/_history/2?_format=json");
  ASSERT_TRUE(target);
  EXPECT_EQ(target->segments,
            (std::vector<std::string>{"fhir", "Patient", "123", "_history", "2"}));
  EXPECT_EQ(target->raw_query, "_format=json");
  ASSERT_EQ(target->query.size(), 1u);

  auto trailing = ParseTarget("/fhir/");
  ASSERT_TRUE(trailing);
  EXPECT_EQ(trailing->segments, (std::vector<std::string>{"fhir"}));

  // An encoded slash stays inside its segment, so it cannot forge a path.
  auto encoded = ParseTarget("/fhir/Patient/a%2Fb");
  ASSERT_TRUE(encoded);
  EXPECT_EQ(encoded->segments.back(), "a/b");

  auto doubled = ParseTarget("/fhir//Patient");
  ASSERT_TRUE(doubled);
  EXPECT_EQ(doubled->segments, (std::vector<std::string>{"fhir", "", "Patient"}));

  EXPECT_FALSE(ParseTarget("http://host/fhir"));
  EXPECT_FALSE(ParseTarget(""));
  EXPECT_FALSE(ParseTarget("/fhir/%"));
}

}  // namespace
}  // namespace carebridge::api
