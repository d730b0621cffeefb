// QuestionnaireResponse validation against the shipped PRAPARE and CANS Questionnaires.

#include "mappings/questionnaire.h"

#include <gtest/gtest.h>

#include <string>

#include "fhir/json/json.h"
#include "tests/unit/mappings/test_util.h"

namespace carebridge::mappings {
namespace {

using fhir::json::Value;
using testing::DataPath;
using testing::Describe;
using testing::MustParse;
using testing::ReadFile;

QuestionnairePtr Shipped(const std::string& file) {
  fhir::Outcome outcome;
  auto q = Questionnaire::Compile(MustParse(ReadFile(DataPath("questionnaires/" + file))), outcome);
  EXPECT_TRUE(q != nullptr) << Describe(outcome);
  EXPECT_FALSE(outcome.HasErrors()) << Describe(outcome);
  return q;
}

Value Response(const std::string& file) {
  return MustParse(ReadFile(std::string(CAREBRIDGE_FIXTURES_DIR) + "/questionnaires/" + file));
}

// The one error issue of `outcome` (fails the test when there is not exactly one).
fhir::Issue OnlyError(const fhir::Outcome& outcome) {
  std::vector<fhir::Issue> errors;
  for (const auto& issue : outcome.issues()) {
    if (issue.severity == fhir::Severity::kError) {
      errors.push_back(issue);
    }
  }
  EXPECT_EQ(errors.size(), 1u) << Describe(outcome);
  return errors.empty() ? fhir::Issue{} : errors.front();
}

// The item with `link_id` anywhere in `items` (response side), or null.
Value* FindItem(Value& holder, const std::string& link_id) {
  for (const char* key : {"item", "answer"}) {
    Value* list = holder.Find(key);
    if (list == nullptr || !list->is_array()) {
      continue;
    }
    for (Value& child : list->items()) {
      if (child.StringAt("linkId") == link_id) {
        return &child;
      }
      if (Value* found = FindItem(child, link_id)) {
        return found;
      }
    }
  }
  return nullptr;
}

TEST(Questionnaire, ShippedOnesCompile) {
  auto prapare = Shipped("prapare.json");
  ASSERT_NE(prapare, nullptr);
  EXPECT_EQ(prapare->url(), kPrapareCanonical);
  const QuestionnaireItem* housing = prapare->Find("/93042-0/71802-3");
  ASSERT_NE(housing, nullptr);
  EXPECT_EQ(housing->type, ItemType::kChoice);
  EXPECT_EQ(housing->Code(), "71802-3");
  EXPECT_EQ(housing->CodeSystem(), "http://loinc.org");
  ASSERT_NE(housing->parent, nullptr);
  EXPECT_EQ(housing->parent->link_id, "/93042-0");
  EXPECT_EQ(prapare->items().front()->Code(), "93025-5");
  auto cans = Shipped("cans.json");
  ASSERT_NE(cans, nullptr);
  EXPECT_EQ(cans->url(), kCansCanonical);
  EXPECT_EQ(cans->items().size(), 6u);
  EXPECT_TRUE(cans->Find("/strengths/resiliency")->required);
}

TEST(Questionnaire, CompileRefusesDuplicateLinkIdsAndUnknownTypes) {
  fhir::Outcome outcome;
  auto q = Questionnaire::Compile(MustParse(R"({"resourceType":"Questionnaire","url":"urn:x",
      "status":"active","item":[{"linkId":"a","type":"string"},{"linkId":"a","type":"integer"},
      {"linkId":"b","type":"slider"},{"linkId":"c","type":"string","answerOption":[]}]})"),
                                  outcome);
  EXPECT_EQ(q, nullptr);
  std::string all = Describe(outcome);
  EXPECT_NE(all.find("Questionnaire.item[1].linkId"), std::string::npos) << all;
  EXPECT_NE(all.find("unknown item type 'slider'"), std::string::npos) << all;
  EXPECT_NE(all.find("Questionnaire.item[3].answerOption"), std::string::npos) << all;
}

TEST(Questionnaire, CanonicalUrlDropsTheVersion) {
  EXPECT_EQ(CanonicalUrl("http://x/Q|1.0"), "http://x/Q");
  EXPECT_EQ(CanonicalUrl("http://x/Q"), "http://x/Q");
}

TEST(ValidateResponse, PrapareFixtureIsValid) {
  auto q = Shipped("prapare.json");
  fhir::Outcome outcome;
  EXPECT_TRUE(ValidateResponse(*q, Response("prapare-housing-food.json"), outcome))
      << Describe(outcome);
  EXPECT_TRUE(outcome.empty()) << Describe(outcome);
}

TEST(ValidateResponse, CansFixtureIsValid) {
  auto q = Shipped("cans.json");
  fhir::Outcome outcome;
  EXPECT_TRUE(ValidateResponse(*q, Response("cans-needs.json"), outcome)) << Describe(outcome);
}

TEST(ValidateResponse, UnknownLinkIdIsNamed) {
  auto q = Shipped("prapare.json");
  Value qr = Response("prapare-housing-food.json");
  FindItem(qr, "/93042-0/93033-9")->Set("linkId", Value::String("/93042-0/99999-9"));
  fhir::Outcome outcome;
  EXPECT_FALSE(ValidateResponse(*q, qr, outcome));
  fhir::Issue issue = OnlyError(outcome);
  EXPECT_EQ(issue.type, fhir::IssueType::kNotFound);
  EXPECT_EQ(issue.expression,
            "QuestionnaireResponse.item.where(linkId='/93025-5').item.where(linkId='/93042-0')"
            ".item.where(linkId='/93042-0/99999-9')");
  EXPECT_NE(issue.diagnostics.find("'/93042-0/99999-9' is not an item"), std::string::npos);
}

TEST(ValidateResponse, ItemInTheWrongGroupIsRefused) {
  auto q = Shipped("prapare.json");
  Value qr = Response("prapare-housing-food.json");
  FindItem(qr, "/93042-0/93033-9")->Set("linkId", Value::String("/93041-2/93030-5"));
  fhir::Outcome outcome;
  EXPECT_FALSE(ValidateResponse(*q, qr, outcome));
  fhir::Issue issue = OnlyError(outcome);
  EXPECT_EQ(issue.type, fhir::IssueType::kStructure);
  EXPECT_NE(issue.diagnostics.find("inside item '/93041-2'"), std::string::npos)
      << issue.diagnostics;
}

TEST(ValidateResponse, WrongAnswerTypeIsNamed) {
  auto q = Shipped("prapare.json");
  Value qr = Response("prapare-housing-food.json");
  Value* household = FindItem(qr, "/93042-0/63512-8");
  household->Find("answer")->items()[0] = MustParse(R"({"valueString":"four"})");
  fhir::Outcome outcome;
  EXPECT_FALSE(ValidateResponse(*q, qr, outcome));
  fhir::Issue issue = OnlyError(outcome);
  EXPECT_EQ(issue.type, fhir::IssueType::kValue);
  EXPECT_EQ(issue.expression,
            "QuestionnaireResponse.item.where(linkId='/93025-5').item.where(linkId='/93042-0')"
            ".item.where(linkId='/93042-0/63512-8').answer[0].valueString");
  EXPECT_NE(issue.diagnostics.find("must be valueInteger"), std::string::npos) << issue.diagnostics;
}

TEST(ValidateResponse, IntegerAnswerMustBeAnInteger) {
  auto q = Shipped("prapare.json");
  Value qr = Response("prapare-housing-food.json");
  FindItem(qr, "/93042-0/63512-8")->Find("answer")->items()[0] =
      MustParse(R"({"valueInteger":2.5})");
  fhir::Outcome outcome;
  EXPECT_FALSE(ValidateResponse(*q, qr, outcome));
  EXPECT_NE(OnlyError(outcome).diagnostics.find("not a valid valueInteger"), std::string::npos);
}

TEST(ValidateResponse, AnswerOutsideTheOptionsIsRefused) {
  auto q = Shipped("prapare.json");
  Value qr = Response("prapare-housing-food.json");
  FindItem(qr, "/93042-0/71802-3")->Find("answer")->items()[0] =
      MustParse(R"({"valueCoding":{"system":"http://loinc.org","code":"LA33-6"}})");
  fhir::Outcome outcome;
  EXPECT_FALSE(ValidateResponse(*q, qr, outcome));
  fhir::Issue issue = OnlyError(outcome);
  EXPECT_EQ(issue.type, fhir::IssueType::kCodeInvalid);
  EXPECT_NE(issue.expression.find("/93042-0/71802-3')"), std::string::npos);
  EXPECT_NE(issue.diagnostics.find("http://loinc.org|LA33-6"), std::string::npos);
}

TEST(ValidateResponse, SeveralAnswersOnlyForRepeatingItems) {
  auto q = Shipped("prapare.json");
  Value qr = Response("prapare-housing-food.json");
  // 93031-3 repeats (the fixture answers it twice); 93033-9 does not.
  Value* worried = FindItem(qr, "/93042-0/93033-9");
  worried->Find("answer")->PushBack(
      MustParse(R"({"valueCoding":{"system":"http://loinc.org","code":"LA32-8"}})"));
  fhir::Outcome outcome;
  EXPECT_FALSE(ValidateResponse(*q, qr, outcome));
  EXPECT_NE(OnlyError(outcome).diagnostics.find("takes one answer, not 2"), std::string::npos);
}

TEST(ValidateResponse, MissingRequiredItemIsNamedWhenCompleted) {
  auto q = Shipped("cans.json");
  Value qr = Response("cans-needs.json");
  Value* group = FindItem(qr, "/risk-behaviors");
  auto& items = group->Find("item")->items();
  items.erase(items.begin());  // /risk-behaviors/suicide-risk
  fhir::Outcome outcome;
  EXPECT_FALSE(ValidateResponse(*q, qr, outcome));
  fhir::Issue issue = OnlyError(outcome);
  EXPECT_EQ(issue.type, fhir::IssueType::kRequired);
  EXPECT_EQ(issue.expression,
            "QuestionnaireResponse.item.where(linkId='/risk-behaviors')"
            ".item.where(linkId='/risk-behaviors/suicide-risk')");
  // An in-progress response may still be missing items.
  qr.Set("status", Value::String("in-progress"));
  fhir::Outcome in_progress;
  EXPECT_TRUE(ValidateResponse(*q, qr, in_progress)) << Describe(in_progress);
}

TEST(ValidateResponse, RequiredItemWithoutAnswer) {
  auto q = Shipped("cans.json");
  Value qr = Response("cans-needs.json");
  FindItem(qr, "/acculturation/language")->Remove("answer");
  fhir::Outcome outcome;
  EXPECT_FALSE(ValidateResponse(*q, qr, outcome));
  EXPECT_NE(OnlyError(outcome).diagnostics.find("'/acculturation/language' (Language) has no"),
            std::string::npos);
}

TEST(ValidateResponse, GroupsTakeNoAnswersAndDisplayItemsNone) {
  auto q = Shipped("prapare.json");
  Value qr = Response("prapare-housing-food.json");
  FindItem(qr, "/93040-4")->Set("answer", MustParse(R"([{"valueString":"x"}])"));
  fhir::Outcome outcome;
  EXPECT_FALSE(ValidateResponse(*q, qr, outcome));
  EXPECT_NE(OnlyError(outcome).diagnostics.find("is a group"), std::string::npos);
}

TEST(ValidateResponse, AnswerWithTwoValuesIsRefused) {
  auto q = Shipped("prapare.json");
  Value qr = Response("prapare-housing-food.json");
  FindItem(qr, "/93042-0/63512-8")->Find("answer")->items()[0] =
      MustParse(R"({"valueInteger":2,"valueString":"2"})");
  fhir::Outcome outcome;
  EXPECT_FALSE(ValidateResponse(*q, qr, outcome));
  EXPECT_NE(OnlyError(outcome).diagnostics.find("exactly one value[x]"), std::string::npos);
}

}  // namespace
}  // namespace carebridge::mappings

namespace carebridge::mappings {
namespace {

using fhir::json::Value;
using testing::Describe;
using testing::MustParse;

// A small Questionnaire with the item types the shipped ones do not use.
constexpr const char* kSmall = R"({"resourceType":"Questionnaire","url":"urn:test:q","id":"q",
  "status":"active","item":[
    {"linkId":"intro","type":"display","text":"Hello"},
    {"linkId":"smoker","type":"boolean","required":true,"item":[
      {"linkId":"packs","type":"decimal"}]},
    {"linkId":"lang","type":"open-choice","answerOption":[
      {"valueCoding":{"system":"urn:lang","code":"en"}}]},
    {"linkId":"seen","type":"date"}]})";

bool Validate(const std::string& items, fhir::Outcome& outcome) {
  auto q = Questionnaire::Compile(MustParse(kSmall), outcome);
  EXPECT_NE(q, nullptr) << Describe(outcome);
  return ValidateResponse(*q,
                          MustParse(R"({"resourceType":"QuestionnaireResponse",
                                        "status":"completed","item":)" +
                                    items + "}"),
                          outcome);
}

TEST(ValidateResponseTypes, NestedAnswersOpenChoiceAndDates) {
  fhir::Outcome outcome;
  EXPECT_TRUE(Validate(R"([{"linkId":"smoker","answer":[{"valueBoolean":true,"item":[
      {"linkId":"packs","answer":[{"valueDecimal":1.5}]}]}]},
      {"linkId":"lang","answer":[{"valueString":"Tagalog"}]},
      {"linkId":"seen","answer":[{"valueDate":"2026-11-01"}]}])",
                       outcome))
      << Describe(outcome);
}

TEST(ValidateResponseTypes, QuestionChildrenBelongUnderTheAnswer) {
  fhir::Outcome outcome;
  EXPECT_FALSE(Validate(R"([{"linkId":"smoker","answer":[{"valueBoolean":true}],
      "item":[{"linkId":"packs","answer":[{"valueDecimal":1}]}]}])",
                        outcome));
  EXPECT_NE(Describe(outcome).find("its nested items go in answer.item"), std::string::npos)
      << Describe(outcome);
}

TEST(ValidateResponseTypes, DisplayItemsAndBadKinds) {
  fhir::Outcome display;
  EXPECT_FALSE(Validate(R"([{"linkId":"intro","answer":[{"valueString":"x"}]},
      {"linkId":"smoker","answer":[{"valueBoolean":false}]}])",
                        display));
  EXPECT_NE(Describe(display).find("display item"), std::string::npos) << Describe(display);
  fhir::Outcome kind;
  EXPECT_FALSE(Validate(R"([{"linkId":"smoker","answer":[{"valueBoolean":"yes"}]}])", kind));
  EXPECT_NE(Describe(kind).find("not a valid valueBoolean"), std::string::npos) << Describe(kind);
  fhir::Outcome coding;
  EXPECT_FALSE(Validate(R"([{"linkId":"smoker","answer":[{"valueBoolean":true}]},
      {"linkId":"lang","answer":[{"valueCoding":{"system":"urn:lang","code":"fr"}}]}])",
                        coding));
  EXPECT_NE(Describe(coding).find("urn:lang|fr"), std::string::npos) << Describe(coding);
}

TEST(ValidateResponseTypes, MissingRequiredAtTheTopLevel) {
  fhir::Outcome outcome;
  EXPECT_FALSE(Validate(R"([{"linkId":"seen","answer":[{"valueDate":"2026-11-01"}]}])", outcome));
  EXPECT_NE(Describe(outcome).find("QuestionnaireResponse.item.where(linkId='smoker')"),
            std::string::npos)
      << Describe(outcome);
}

}  // namespace
}  // namespace carebridge::mappings
