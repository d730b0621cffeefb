#include "gateway/referral/routing.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fhir/json/json.h"

namespace carebridge::referral {
namespace {

using fhir::json::Value;

Value Json(const std::string& text) {
  std::string message;
  auto v = fhir::json::Parse(text, {}, message);
  EXPECT_TRUE(v.has_value()) << message;
  return v ? *v : Value::Object();
}

const std::string kSdoh = std::string(kSdohCategorySystem);

// The table every case routes against.
RoutingTable Table() {
  std::string message;
  auto t = RoutingTable::FromJson(
      Json(R"([
    {"agency": "harbor-housing", "categories": [")" +
           kSdoh + R"(|housing-instability", ")" + kSdoh + R"(|homelessness"], "languages": ["en"]},
    {"agency": "casa-vivienda", "categories": [")" +
           kSdoh + R"(|housing-instability"],
     "languages": ["es", "en"], "service_areas": ["97201", "97202"], "capacity": 2},
    {"agency": "northside-food", "categories": [")" +
           kSdoh + R"(|food-insecurity"]},
    {"agency": "eastside-food", "categories": [")" +
           kSdoh + R"(|food-insecurity"]},
    {"agency": "meals-on-wheels", "codes": [{"system": "http://snomed.info/sct", "code": "467771000124109"}],
     "priority": 200},
    {"agency": "peer-support", "categories": ["peer-support"], "capacity": 1, "priority": 1},
    {"agency": "peer-support-2", "categories": ["peer-support"], "capacity": 5, "priority": 1}
  ])"),
      message);
  EXPECT_TRUE(t.has_value()) << message;
  return t ? *t : RoutingTable{};
}

struct RouteCase {
  std::string name;
  std::vector<RouteCoding> categories;
  std::vector<RouteCoding> codes;
  std::vector<std::string> languages;
  std::string area;
  std::map<std::string, int, std::less<>> open;
  std::string want;  // agency, or "" for no agency
};

class RouteTest : public ::testing::TestWithParam<RouteCase> {};

TEST_P(RouteTest, PicksTheAgency) {
  static const RoutingTable table = Table();
  const auto& c = GetParam();
  RoutingRequest req{c.categories, c.codes, c.languages, c.area};
  RoutingDecision d = Route(table, req, c.open);
  EXPECT_EQ(d.rule ? d.rule->agency : "", c.want) << d.reason;
  EXPECT_FALSE(d.reason.empty());
}

RouteCoding Sdoh(std::string code) { return {kSdoh, std::move(code)}; }

INSTANTIATE_TEST_SUITE_P(
    Table, RouteTest,
    ::testing::Values(
        RouteCase{
            "HousingByCategory", {Sdoh("housing-instability")}, {}, {}, "", {}, "harbor-housing"},
        RouteCase{
            "HomelessnessByCategory", {Sdoh("homelessness")}, {}, {}, "", {}, "harbor-housing"},
        RouteCase{
            "FoodTieBrokenByAgencyId", {Sdoh("food-insecurity")}, {}, {}, "", {}, "eastside-food"},
        RouteCase{"FoodTieBrokenByRemainingCapacityNotLoadAlone",
                  {Sdoh("food-insecurity")},
                  {},
                  {},
                  "",
                  {{"eastside-food", 40}},
                  "eastside-food"},  // no capacity declared: load does not matter
        RouteCase{"SpanishSpeakerInAreaGetsSpanishService",
                  {Sdoh("housing-instability")},
                  {},
                  {"es-MX", "en"},
                  "97201",
                  {},
                  "casa-vivienda"},
        RouteCase{"SpanishSpeakerOutsideAreaFallsBack",
                  {Sdoh("housing-instability")},
                  {},
                  {"es"},
                  "10001",
                  {},
                  "harbor-housing"},
        RouteCase{"UnknownAreaMatchesOnlyUnrestrictedRules",
                  {Sdoh("housing-instability")},
                  {},
                  {"es"},
                  "",
                  {},
                  "harbor-housing"},
        RouteCase{"SecondLanguageBeatsNone",
                  {Sdoh("housing-instability")},
                  {},
                  {"vi", "es"},
                  "97201",
                  {},
                  "casa-vivienda"},
        // Both offer the first language: then specificity, priority, remaining capacity.
        RouteCase{"SameLanguageRankMoreCapacityWins",
                  {Sdoh("housing-instability")},
                  {},
                  {"en", "es"},
                  "97201",
                  {},
                  "harbor-housing"},
        RouteCase{"FullAgencyIsSkipped",
                  {Sdoh("housing-instability")},
                  {},
                  {"es"},
                  "97202",
                  {{"casa-vivienda", 2}},
                  "harbor-housing"},
        RouteCase{"CodeMatchBeatsCategoryEvenWithWorsePriority",
                  {Sdoh("food-insecurity")},
                  {{"http://snomed.info/sct", "467771000124109"}},
                  {},
                  "",
                  {},
                  "meals-on-wheels"},
        RouteCase{"RuleCodingWithoutSystemMatchesAnySystem",
                  {{"http://example.org/other", "peer-support"}},
                  {},
                  {},
                  "",
                  {},
                  "peer-support-2"},  // same priority: more remaining capacity first
        RouteCase{"RemainingCapacityRanks",
                  {{"x", "peer-support"}},
                  {},
                  {},
                  "",
                  {{"peer-support-2", 5}},
                  "peer-support"},
        RouteCase{"AllFullIsNoAgency",
                  {{"x", "peer-support"}},
                  {},
                  {},
                  "",
                  {{"peer-support", 1}, {"peer-support-2", 9}},
                  ""},
        RouteCase{"NoRuleIsNoAgency", {Sdoh("transportation-insecurity")}, {}, {}, "", {}, ""},
        RouteCase{
            "SystemMustMatch", {{"http://other", "housing-instability"}}, {}, {}, "", {}, ""}),
    [](const auto& p) { return p.param.name; });

TEST(RouteTest, NoAgencyReasonSaysWhy) {
  RoutingTable table = Table();
  RoutingRequest req;
  req.categories = {Sdoh("housing-instability")};
  req.area = "97201";
  table.rules.erase(table.rules.begin());  // only casa-vivienda offers housing now
  RoutingDecision d = Route(table, req, {{"casa-vivienda", 7}});
  EXPECT_EQ(d.rule, nullptr);
  EXPECT_NE(d.reason.find("at capacity"), std::string::npos) << d.reason;
}

TEST(RouteTest, DeterministicWhateverTheTableOrder) {
  RoutingTable table = Table();
  RoutingTable reversed = table;
  std::reverse(reversed.rules.begin(), reversed.rules.end());
  RoutingRequest req;
  req.categories = {Sdoh("food-insecurity")};
  EXPECT_EQ(Route(table, req, {}).rule->agency, Route(reversed, req, {}).rule->agency);
}

TEST(RoutingTableTest, BadRulesNameTheirPath) {
  struct Bad {
    std::string json;
    std::string message;
  };
  for (const auto& [json, want] : std::vector<Bad>{
           {R"({})", "routes: expected an array of rules"},
           {R"([{"categories": ["a"]}])", "routes[0].agency: every rule names its agency"},
           {R"([{"agency": "a"}])", "routes[0]: a rule lists categories or codes (or both)"},
           {R"([{"agency": "a", "categories": ["x"], "capacity": -1}])",
            "routes[0].capacity: expected an integer >= 0"},
           {R"([{"agency": "a", "categories": ["x"], "colour": "red"}])",
            "routes[0].colour: unknown key"},
           {R"([{"agency": "a", "codes": [{"system": "s"}]}])",
            "routes[0].codes[0]: a coding needs a code"},
       }) {
    std::string message;
    auto t = RoutingTable::FromJson(Json(json), message);
    EXPECT_FALSE(t.has_value()) << json;
    EXPECT_EQ(message, want) << json;
  }
  std::string message;
  auto t = RoutingTable::FromJson(Json(R"([{"agency": "a", "categories": ["x"]}])"), message);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->rules[0].organization, "Organization/a");
}

TEST(MakeRoutingRequestTest, ReadsServiceRequestAndPatient) {
  Value sr = Json(R"({"resourceType":"ServiceRequest",
    "category":[{"coding":[{"system":")" +
                  kSdoh + R"(","code":"food-insecurity"}]}],
    "code":{"coding":[{"system":"http://snomed.info/sct","code":"467771000124109"}]}})");
  Value patient = Json(R"({"resourceType":"Patient",
    "communication":[{"language":{"coding":[{"code":"en"}]}},
                     {"language":{"coding":[{"code":"vi"}]},"preferred":true}],
    "address":[{"use":"work","postalCode":"11111"},{"use":"home","postalCode":"97201"}]})");
  RoutingRequest req = MakeRoutingRequest(sr, &patient);
  ASSERT_EQ(req.categories.size(), 1u);
  EXPECT_EQ(req.categories[0].code, "food-insecurity");
  ASSERT_EQ(req.codes.size(), 1u);
  EXPECT_EQ(req.languages, (std::vector<std::string>{"vi", "en"}));
  EXPECT_EQ(req.area, "97201");
  RoutingRequest no_patient = MakeRoutingRequest(sr, nullptr);
  EXPECT_TRUE(no_patient.languages.empty());
  EXPECT_TRUE(no_patient.area.empty());
}

// The quick-start's routes: SDOHCC housing-instability and homelessness to harbor-housing,
// food-insecurity to northside-food.
TEST(RoutingTableTest, ExampleConfigRoutes) {
  std::ifstream in(std::string(CAREBRIDGE_SOURCE_DIR) + "/deploy/carebridge.example.json");
  std::stringstream text;
  text << in.rdbuf();
  Value config = Json(text.str());
  const Value* referrals = config.Find("referrals");
  ASSERT_NE(referrals, nullptr);
  std::string message;
  auto table = RoutingTable::FromJson(*referrals->Find("routes"), message);
  ASSERT_TRUE(table.has_value()) << message;
  for (const auto& [category, agency] :
       std::vector<std::pair<std::string, std::string>>{{"housing-instability", "harbor-housing"},
                                                        {"homelessness", "harbor-housing"},
                                                        {"food-insecurity", "northside-food"},
                                                        {"transportation-insecurity", ""}}) {
    RoutingRequest req;
    req.categories = {Sdoh(category)};
    RoutingDecision d = Route(*table, req, {});
    EXPECT_EQ(d.rule ? d.rule->agency : "", agency) << category << ": " << d.reason;
    if (d.rule) {
      EXPECT_EQ(d.rule->organization, "Organization/" + agency);
    }
  }
}

}  // namespace
}  // namespace carebridge::referral
