#include "gateway/api/formats.h"

#include <gtest/gtest.h>

#include <set>

namespace carebridge::api {
namespace {

TEST(FormatsTest, StatusLines) {
  EXPECT_EQ(StatusLine(201), "201 Created");
  EXPECT_EQ(StatusLine(412), "412 Precondition Failed");
  EXPECT_EQ(StatusLine(299), "299");
}

TEST(FormatsTest, HttpDateFromInstant) {
  EXPECT_EQ(HttpDateFromInstant("2026-11-22T10:00:00.123Z"), "Sun, 22 Nov 2026 10:00:00 GMT");
  EXPECT_EQ(HttpDateFromInstant("2024-02-29T23:59:59.999Z"), "Thu, 29 Feb 2024 23:59:59 GMT");
  EXPECT_EQ(HttpDateFromInstant("2024-02-29"), "");
}

TEST(FormatsTest, NowIsAnInstantInUtcWithMilliseconds) {
  std::string now = NowInstant();
  ASSERT_EQ(now.size(), 24u) << now;
  EXPECT_EQ(now[10], 'T');
  EXPECT_EQ(now.back(), 'Z');
  EXPECT_FALSE(HttpDateFromInstant(now).empty());
}

TEST(FormatsTest, UuidsAreVersion7DistinctAndTimeOrdered) {
  std::set<std::string> seen;
  std::string first = NewUuid();
  for (int i = 0; i < 1000; ++i) {
    std::string uuid = NewUuid();
    ASSERT_EQ(uuid.size(), 36u);
    EXPECT_EQ(uuid[14], '7');
    // The leading 48 bits are milliseconds: never earlier than an id made before.
    EXPECT_GE(uuid.substr(0, 13), first.substr(0, 13));
    EXPECT_NE(std::string("89ab").find(uuid[19]), std::string::npos);
    seen.insert(uuid);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(FormatsTest, ETags) {
  EXPECT_EQ(ParseETagVersion("W/\"3\""), 3);
  EXPECT_EQ(ParseETagVersion("\"12\""), 12);
  EXPECT_EQ(ParseETagVersion("7"), 7);
  EXPECT_FALSE(ParseETagVersion("W/\"\""));
  EXPECT_FALSE(ParseETagVersion("W/\"3a\""));
  EXPECT_FALSE(ParseETagVersion("W/\"99999999999999999999\""));
}

TEST(FormatsTest, PercentEncodeRoundTrips) {
  EXPECT_EQ(PercentEncode("http://loinc.org|1234-5"), "http:%2F%2Floinc.org%7C1234-5");
  EXPECT_EQ(PercentEncode("a b&c=d"), "a%20b%26c%3Dd");
}

}  // namespace
}  // namespace carebridge::api
