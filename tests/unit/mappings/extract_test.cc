// $extract of PRAPARE and CANS responses: what comes out, how it is coded, and that it is stable.

#include "mappings/extract.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "fhir/json/json.h"
#include "fhir/resource/resource.h"
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
  return q;
}

Value Response(const std::string& file) {
  return MustParse(ReadFile(std::string(CAREBRIDGE_FIXTURES_DIR) + "/questionnaires/" + file));
}

std::vector<Value> ExtractAll(const Questionnaire& q, const Value& qr) {
  fhir::Outcome outcome;
  EXPECT_TRUE(ValidateResponse(q, qr, outcome)) << Describe(outcome);
  auto out = Extract(q, qr, outcome);
  EXPECT_TRUE(out.has_value()) << Describe(outcome);
  return out ? std::move(*out) : std::vector<Value>{};
}

std::vector<const Value*> OfType(const std::vector<Value>& all, std::string_view type) {
  std::vector<const Value*> out;
  for (const Value& v : all) {
    if (v.StringAt("resourceType") == type) {
      out.push_back(&v);
    }
  }
  return out;
}

bool HasCoding(const Value* concepts, std::string_view system, std::string_view code) {
  if (concepts == nullptr) {
    return false;
  }
  auto check = [&](const Value& concept_value) {
    const Value* codings = concept_value.Find("coding");
    if (codings == nullptr) {
      return false;
    }
    for (const Value& c : codings->items()) {
      if (c.StringAt("system") == system && c.StringAt("code") == code) {
        return true;
      }
    }
    return false;
  };
  if (concepts->is_array()) {
    for (const Value& c : concepts->items()) {
      if (check(c)) {
        return true;
      }
    }
    return false;
  }
  return check(*concepts);
}

// The resource whose `field` (a CodeableConcept or a list of them) has system|code.
const Value* WithCoding(const std::vector<const Value*>& list, std::string_view field,
                        std::string_view system, std::string_view code) {
  for (const Value* v : list) {
    if (HasCoding(v->Find(field), system, code)) {
      return v;
    }
  }
  return nullptr;
}

constexpr std::string_view kLoinc = "http://loinc.org";
constexpr std::string_view kSnomed = "http://snomed.info/sct";
constexpr std::string_view kIcd = "http://hl7.org/fhir/sid/icd-10-cm";
constexpr std::string_view kUsCore = "http://hl7.org/fhir/us/core/CodeSystem/us-core-category";

TEST(DerivedId, StableAndDistinct) {
  EXPECT_EQ(DerivedId("obs", "qr1", "/a"), DerivedId("obs", "qr1", "/a"));
  EXPECT_NE(DerivedId("obs", "qr1", "/a"), DerivedId("obs", "qr2", "/a"));
  EXPECT_NE(DerivedId("obs", "qr1", "/a"), DerivedId("obs", "qr1", "/b"));
  // No separator ambiguity: ("ab","c") and ("a","bc") differ.
  EXPECT_NE(DerivedId("x", "ab", "c"), DerivedId("x", "a", "bc"));
  std::string id = DerivedId("cond", "qr1", "condition:food-insecurity");
  EXPECT_EQ(id.size(), 5u + 16u);
  EXPECT_TRUE(fhir::IsValidId(id));
}

TEST(Extract, InstrumentByCanonical) {
  EXPECT_EQ(InstrumentOf(*Shipped("prapare.json")), Instrument::kPrapare);
  EXPECT_EQ(InstrumentOf(*Shipped("cans.json")), Instrument::kCans);
}

TEST(Extract, PrapareObservationsOnePerAnsweredItem) {
  auto q = Shipped("prapare.json");
  std::vector<Value> out = ExtractAll(*q, Response("prapare-housing-food.json"));
  auto observations = OfType(out, "Observation");
  EXPECT_EQ(observations.size(), 11u);
  const Value* worried = WithCoding(observations, "code", kLoinc, "93033-9");
  ASSERT_NE(worried, nullptr);
  EXPECT_EQ(worried->StringAt("status"), "final");
  EXPECT_TRUE(HasCoding(worried->Find("category"), kUsCore, "sdoh"));
  EXPECT_TRUE(HasCoding(worried->Find("category"),
                        "http://terminology.hl7.org/CodeSystem/observation-category",
                        "social-history"));
  EXPECT_TRUE(HasCoding(worried->Find("category"), kSdohCategorySystem, "housing-instability"));
  EXPECT_TRUE(HasCoding(worried->Find("valueCodeableConcept"), kLoinc, "LA33-6"));
  EXPECT_EQ(worried->Find("subject")->StringAt("reference"), "Patient/pat-prapare");
  EXPECT_EQ(worried->Find("derivedFrom")->items()[0].StringAt("reference"),
            "QuestionnaireResponse/prapare-housing-food");
  EXPECT_EQ(worried->StringAt("effectiveDateTime"), "2026-11-20T10:15:00Z");
  EXPECT_EQ(worried->StringAt("id"), DerivedId("obs", "prapare-housing-food", "/93042-0/93033-9"));
  // Integer and decimal answers keep their values (a decimal as a Quantity).
  const Value* household = WithCoding(observations, "code", kLoinc, "63512-8");
  ASSERT_NE(household, nullptr);
  EXPECT_EQ(household->Find("valueInteger")->text(), "4");
  const Value* income = WithCoding(observations, "code", kLoinc, "63586-2");
  ASSERT_NE(income, nullptr);
  EXPECT_EQ(income->Find("valueQuantity")->Find("value")->text(), "24000");
  // Two answers to a repeating item: one component each.
  const Value* needs = WithCoding(observations, "code", kLoinc, "93031-3");
  ASSERT_NE(needs, nullptr);
  EXPECT_EQ(needs->Find("component")->items().size(), 2u);
  // Every resource is valid FHIR as the gateway checks it.
  for (const Value& v : out) {
    fhir::Outcome outcome;
    EXPECT_TRUE(fhir::ValidateResource(v, v.StringAt("resourceType"), outcome))
        << Describe(outcome) << fhir::json::Write(v);
  }
}

TEST(Extract, PraparePositiveFindingsBecomeConditionsAndReferrals) {
  auto q = Shipped("prapare.json");
  std::vector<Value> out = ExtractAll(*q, Response("prapare-housing-food.json"));
  auto conditions = OfType(out, "Condition");
  ASSERT_EQ(conditions.size(), 2u);
  const Value* housing = WithCoding(conditions, "code", kSnomed, "1156191002");
  ASSERT_NE(housing, nullptr);
  EXPECT_TRUE(HasCoding(housing->Find("code"), kIcd, "Z59.811"));
  EXPECT_TRUE(HasCoding(housing->Find("category"), kUsCore, "sdoh"));
  EXPECT_TRUE(HasCoding(housing->Find("category"), kSdohCategorySystem, "housing-instability"));
  EXPECT_TRUE(HasCoding(housing->Find("category"),
                        "http://hl7.org/fhir/us/core/CodeSystem/condition-category",
                        "health-concern"));
  const Value& evidence = housing->Find("evidence")->items()[0].Find("detail")->items()[0];
  EXPECT_EQ(evidence.StringAt("reference"),
            "Observation/" + DerivedId("obs", "prapare-housing-food", "/93042-0/93033-9"));
  const Value* food = WithCoding(conditions, "code", kSnomed, "733423003");
  ASSERT_NE(food, nullptr);
  EXPECT_TRUE(HasCoding(food->Find("code"), kIcd, "Z59.41"));
  // Stress "somewhat", safe at home, housed: no Condition for those.
  EXPECT_EQ(WithCoding(conditions, "code", kSnomed, "73595000"), nullptr);
  EXPECT_EQ(WithCoding(conditions, "code", kSnomed, "32911000"), nullptr);

  auto requests = OfType(out, "ServiceRequest");
  ASSERT_EQ(requests.size(), 2u);
  const Value* food_sr = WithCoding(requests, "category", kSdohCategorySystem, "food-insecurity");
  ASSERT_NE(food_sr, nullptr);
  EXPECT_EQ(food_sr->StringAt("status"), "draft");
  EXPECT_EQ(food_sr->StringAt("intent"), "proposal");
  EXPECT_TRUE(HasCoding(food_sr->Find("code"), kReferralServiceSystem, "food-assistance"));
  EXPECT_TRUE(HasCoding(food_sr->Find("code"), kSnomed, "467771000124109"));
  EXPECT_EQ(food_sr->Find("reasonReference")->items()[0].StringAt("reference"),
            "Condition/" + std::string(food->StringAt("id")));
  const Value* housing_sr =
      WithCoding(requests, "category", kSdohCategorySystem, "housing-instability");
  ASSERT_NE(housing_sr, nullptr);
  EXPECT_TRUE(HasCoding(housing_sr->Find("code"), kReferralServiceSystem, "housing-navigation"));
  EXPECT_TRUE(OfType(out, "CarePlan").empty());
}

TEST(Extract, PrapareHomelessStressAndSafety) {
  auto q = Shipped("prapare.json");
  Value qr = Response("prapare-housing-food.json");
  std::string text = fhir::json::Write(qr);
  auto replace = [&text](const std::string& from, const std::string& to) {
    std::size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
  };
  replace(R"("code":"LA30189-7","display":"I have housing")", R"("code":"LA30190-5")");
  replace(R"("code":"LA13909-9","display":"Somewhat")", R"("code":"LA13914-9")");
  replace(
      R"({"linkId":"/93039-6/76501-6","answer":[{"valueCoding":{"system":"http://loinc.org","code":"LA32-8")",
      R"({"linkId":"/93039-6/76501-6","answer":[{"valueCoding":{"system":"http://loinc.org","code":"LA33-6")");
  auto out = ExtractAll(*q, MustParse(text));
  auto conditions = OfType(out, "Condition");
  EXPECT_NE(WithCoding(conditions, "code", kSnomed, "32911000"), nullptr);
  EXPECT_NE(WithCoding(conditions, "code", kIcd, "Z59.00"), nullptr);
  EXPECT_NE(WithCoding(conditions, "code", kSnomed, "73595000"), nullptr);
  EXPECT_NE(WithCoding(conditions, "code", kSnomed, "706893006"), nullptr);
  auto requests = OfType(out, "ServiceRequest");
  EXPECT_NE(WithCoding(requests, "category", kSdohCategorySystem, "homelessness"), nullptr);
  EXPECT_NE(WithCoding(requests, "category", kSdohCategorySystem, "intimate-partner-violence"),
            nullptr);
  // Stress is followed up clinically: no community referral.
  EXPECT_EQ(WithCoding(requests, "category", kSdohCategorySystem, "stress"), nullptr);
}

TEST(Extract, CansNeedsStrengthsAndDraftPlan) {
  auto q = Shipped("cans.json");
  std::vector<Value> out = ExtractAll(*q, Response("cans-needs.json"));
  EXPECT_EQ(OfType(out, "Observation").size(), 43u);
  auto conditions = OfType(out, "Condition");
  ASSERT_EQ(conditions.size(), 3u);  // living situation 3, depression 2, food security 2
  const Value* living = WithCoding(conditions, "code", kCansItemSystem, "living-situation");
  ASSERT_NE(living, nullptr);
  EXPECT_TRUE(HasCoding(living->Find("severity"), kSnomed, "24484000"));
  EXPECT_EQ(living->Find("meta")->Find("tag")->items()[0].StringAt("code"), "immediate");
  EXPECT_TRUE(HasCoding(living->Find("category"), kSdohCategorySystem, "housing-instability"));
  const Value* depression = WithCoding(conditions, "code", kCansItemSystem, "depression");
  ASSERT_NE(depression, nullptr);
  EXPECT_EQ(depression->Find("meta")->Find("tag")->items()[0].StringAt("code"), "action");
  EXPECT_FALSE(HasCoding(depression->Find("category"), kUsCore, "sdoh"));
  // Rated 1 (watch) is not actionable.
  EXPECT_EQ(WithCoding(conditions, "code", kCansItemSystem, "suicide-risk"), nullptr);

  auto observations = OfType(out, "Observation");
  const Value* family = WithCoding(observations, "code", kCansItemSystem, "family-strengths");
  ASSERT_NE(family, nullptr);
  EXPECT_TRUE(HasCoding(family->Find("interpretation"), kCansActionSystem, "centerpiece"));

  auto goals = OfType(out, "Goal");
  ASSERT_EQ(goals.size(), 3u);
  for (const Value* goal : goals) {
    EXPECT_EQ(goal->StringAt("lifecycleStatus"), "proposed");
  }
  auto plans = OfType(out, "CarePlan");
  ASSERT_EQ(plans.size(), 1u);
  const Value& plan = *plans[0];
  EXPECT_EQ(plan.StringAt("status"), "draft");
  EXPECT_EQ(plan.Find("goal")->items().size(), 3u);
  EXPECT_EQ(plan.Find("addresses")->items().size(), 3u);
  // The response and the two usable strengths (rated 0 and 1).
  EXPECT_EQ(plan.Find("supportingInfo")->items().size(), 3u);
  auto requests = OfType(out, "ServiceRequest");
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_NE(WithCoding(requests, "category", kSdohCategorySystem, "housing-instability"), nullptr);
  EXPECT_NE(WithCoding(requests, "category", kSdohCategorySystem, "food-insecurity"), nullptr);
  EXPECT_EQ(plan.Find("activity")->items().size(), 2u);
  for (const Value& v : out) {
    fhir::Outcome outcome;
    EXPECT_TRUE(fhir::ValidateResource(v, v.StringAt("resourceType"), outcome))
        << Describe(outcome) << fhir::json::Write(v);
  }
}

TEST(Extract, CansWithoutActionableNeedsProposesNoPlan) {
  auto q = Shipped("cans.json");
  std::string text =
      ReadFile(std::string(CAREBRIDGE_FIXTURES_DIR) + "/questionnaires/cans-needs.json");
  Value qr = MustParse(text);
  for (Value& group : qr.Find("item")->items()) {
    if (group.StringAt("linkId") == "/strengths") {
      continue;
    }
    for (Value& item : group.Find("item")->items()) {
      item.Find("answer")->items()[0].Find("valueCoding")->Set("code", Value::String("1"));
      item.Find("answer")->items()[0].Find("valueCoding")->Remove("display");
    }
  }
  auto out = ExtractAll(*q, qr);
  EXPECT_TRUE(OfType(out, "Condition").empty());
  EXPECT_TRUE(OfType(out, "CarePlan").empty());
  EXPECT_TRUE(OfType(out, "ServiceRequest").empty());
}

TEST(Extract, DeterministicAndUniqueIds) {
  auto q = Shipped("cans.json");
  Value qr = Response("cans-needs.json");
  auto first = ExtractAll(*q, qr);
  auto second = ExtractAll(*q, qr);
  ASSERT_EQ(first.size(), second.size());
  std::set<std::string> ids;
  for (std::size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(first[i], second[i]);
    ids.insert(std::string(first[i].StringAt("resourceType")) + "/" +
               std::string(first[i].StringAt("id")));
  }
  EXPECT_EQ(ids.size(), first.size());
  // Another response gives other ids.
  qr.Set("id", Value::String("cans-other"));
  auto other = ExtractAll(*q, qr);
  EXPECT_NE(other.front().StringAt("id"), first.front().StringAt("id"));
}

TEST(Extract, RefusesResponsesItCannotExtract) {
  auto q = Shipped("prapare.json");
  Value qr = Response("prapare-housing-food.json");
  qr.Remove("subject");
  qr.Set("status", Value::String("in-progress"));
  fhir::Outcome outcome;
  EXPECT_FALSE(Extract(*q, qr, outcome).has_value());
  std::string all = Describe(outcome);
  EXPECT_NE(all.find("QuestionnaireResponse.subject"), std::string::npos) << all;
  EXPECT_NE(all.find("QuestionnaireResponse.status"), std::string::npos) << all;
}

}  // namespace
}  // namespace carebridge::mappings

namespace carebridge::mappings {
namespace {

// A Questionnaire that is neither PRAPARE nor CANS: one Observation per coded answered item.
TEST(ExtractGeneric, OneObservationPerCodedItem) {
  fhir::Outcome outcome;
  auto q = Questionnaire::Compile(testing::MustParse(R"({"resourceType":"Questionnaire",
      "url":"urn:test:phq","status":"active","item":[
      {"linkId":"1","type":"integer","code":[{"system":"http://loinc.org","code":"44261-6"}]},
      {"linkId":"2","type":"string"}]})"),
                                  outcome);
  ASSERT_NE(q, nullptr) << testing::Describe(outcome);
  EXPECT_EQ(InstrumentOf(*q), Instrument::kOther);
  auto qr = testing::MustParse(R"({"resourceType":"QuestionnaireResponse","id":"r1",
      "questionnaire":"urn:test:phq","status":"completed","subject":{"reference":"Patient/p"},
      "item":[{"linkId":"1","answer":[{"valueInteger":12}]},
              {"linkId":"2","answer":[{"valueString":"free text"}]}]})");
  ASSERT_TRUE(ValidateResponse(*q, qr, outcome)) << testing::Describe(outcome);
  auto out = Extract(*q, qr, outcome);
  ASSERT_TRUE(out.has_value()) << testing::Describe(outcome);
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].StringAt("resourceType"), "Observation");
  EXPECT_EQ((*out)[0].Find("valueInteger")->text(), "12");
  EXPECT_EQ((*out)[0].Find("category")->items().size(), 2u);  // social-history, survey: not sdoh
}

}  // namespace
}  // namespace carebridge::mappings
