#include "mappings/concept_map.h"

#include <gtest/gtest.h>

#include <string>

#include "fhir/json/json.h"
#include "tests/unit/mappings/test_util.h"

namespace carebridge::mappings {
namespace {

using fhir::json::Value;
using testing::Describe;
using testing::MustParse;

constexpr std::string_view kLocal = "urn:example:local";
constexpr std::string_view kTarget = "urn:example:target";

// One element per equivalence, so each can be looked up and reversed.
constexpr std::string_view kEveryEquivalence = R"({
  "resourceType": "ConceptMap", "url": "urn:example:cm:all", "status": "active",
  "sourceUri": "urn:example:vs:local", "targetUri": "urn:example:vs:target",
  "group": [{
    "source": "urn:example:local", "target": "urn:example:target", "targetVersion": "2026",
    "element": [
      {"code": "rel", "display": "Related", "target": [{"code": "T-rel", "equivalence": "relatedto"}]},
      {"code": "eqv", "display": "Equivalent", "target": [{"code": "T-eqv", "display": "T equivalent", "equivalence": "equivalent"}]},
      {"code": "eql", "target": [{"code": "T-eql", "equivalence": "equal"}]},
      {"code": "wid", "target": [{"code": "T-wid", "equivalence": "wider"}]},
      {"code": "sub", "target": [{"code": "T-sub", "equivalence": "subsumes"}]},
      {"code": "nar", "target": [{"code": "T-nar", "equivalence": "narrower"}]},
      {"code": "spe", "target": [{"code": "T-spe", "equivalence": "specializes"}]},
      {"code": "ine", "target": [{"code": "T-ine", "equivalence": "inexact"}]},
      {"code": "unm", "target": [{"equivalence": "unmatched", "comment": "no counterpart"}]},
      {"code": "dis", "target": [{"code": "T-dis", "equivalence": "disjoint"}]},
      {"code": "two", "target": [{"code": "T-two-b", "equivalence": "narrower"},
                                 {"code": "T-two-a", "equivalence": "equivalent"}]}
    ]
  }]
})";

std::shared_ptr<const ConceptMapSet> BuildSet(std::initializer_list<std::string_view> maps) {
  ConceptMapSet::Builder builder;
  fhir::Outcome outcome;
  for (std::string_view text : maps) {
    EXPECT_TRUE(builder.AddJson(text, outcome)) << Describe(outcome);
  }
  std::shared_ptr<const ConceptMapSet> set = std::move(builder).Build(outcome);
  EXPECT_TRUE(set != nullptr) << Describe(outcome);
  return set;
}

TEST(Equivalence, CodesRoundTripAndReverse) {
  for (std::string_view code : {"relatedto", "equivalent", "equal", "wider", "subsumes", "narrower",
                                "specializes", "inexact", "unmatched", "disjoint"}) {
    const std::optional<Equivalence> e = EquivalenceFromCode(code);
    ASSERT_TRUE(e.has_value()) << code;
    EXPECT_EQ(ToCode(*e), code);
    EXPECT_EQ(Reverse(Reverse(*e)), *e);
  }
  EXPECT_FALSE(EquivalenceFromCode("source-is-narrower-than-target").has_value());  // R5 name
  EXPECT_EQ(Reverse(Equivalence::kWider), Equivalence::kNarrower);
  EXPECT_EQ(Reverse(Equivalence::kSubsumes), Equivalence::kSpecializes);
  EXPECT_FALSE(IsMapping(Equivalence::kUnmatched));
  EXPECT_FALSE(IsMapping(Equivalence::kDisjoint));
  EXPECT_TRUE(IsMapping(Equivalence::kInexact));
}

TEST(ConceptMapTranslate, EveryEquivalenceForward) {
  auto set = BuildSet({kEveryEquivalence});
  const ConceptMap& map = *set->Find("urn:example:cm:all");
  struct Case {
    const char* code;
    Equivalence equivalence;
    const char* target;
    bool result;
  };
  for (const Case& c : {Case{"rel", Equivalence::kRelatedTo, "T-rel", true},
                        Case{"eqv", Equivalence::kEquivalent, "T-eqv", true},
                        Case{"eql", Equivalence::kEqual, "T-eql", true},
                        Case{"wid", Equivalence::kWider, "T-wid", true},
                        Case{"sub", Equivalence::kSubsumes, "T-sub", true},
                        Case{"nar", Equivalence::kNarrower, "T-nar", true},
                        Case{"spe", Equivalence::kSpecializes, "T-spe", true},
                        Case{"ine", Equivalence::kInexact, "T-ine", true},
                        Case{"unm", Equivalence::kUnmatched, "", false},
                        Case{"dis", Equivalence::kDisjoint, "T-dis", false}}) {
    SCOPED_TRACE(c.code);
    const TranslateResult r = set->Translate(map, kLocal, c.code);
    ASSERT_EQ(r.matches.size(), 1u);
    EXPECT_EQ(r.matches[0].equivalence, c.equivalence);
    EXPECT_EQ(r.matches[0].code, c.target);
    EXPECT_EQ(r.matches[0].system, kTarget);
    EXPECT_EQ(r.matches[0].version, "2026");
    EXPECT_EQ(r.matches[0].source, "urn:example:cm:all");
    EXPECT_EQ(r.result(), c.result);
  }
  EXPECT_EQ(set->Translate(map, kLocal, "unm").matches[0].comment, "no counterpart");
}

TEST(ConceptMapTranslate, ClosestMeaningFirst) {
  auto set = BuildSet({kEveryEquivalence});
  const TranslateResult r = set->Translate(*set->Find("urn:example:cm:all"), kLocal, "two");
  ASSERT_EQ(r.matches.size(), 2u);
  EXPECT_EQ(r.matches[0].code, "T-two-a");
  EXPECT_EQ(r.matches[1].code, "T-two-b");
}

TEST(ConceptMapTranslate, ReverseReadsEquivalenceBackwards) {
  auto set = BuildSet({kEveryEquivalence});
  const ConceptMap& map = *set->Find("urn:example:cm:all");
  TranslateResult r = set->Translate(map, kTarget, "T-wid", /*reverse=*/true);
  ASSERT_EQ(r.matches.size(), 1u);
  EXPECT_EQ(r.matches[0].code, "wid");
  EXPECT_EQ(r.matches[0].system, kLocal);
  EXPECT_EQ(r.matches[0].equivalence, Equivalence::kNarrower);
  r = set->Translate(map, kTarget, "T-eqv", true);
  EXPECT_EQ(r.matches[0].display, "Equivalent");  // the source element's display
  EXPECT_EQ(set->Translate(map, kTarget, "T-sub", true).matches[0].equivalence,
            Equivalence::kSpecializes);
  // Forward lookups do not see target codes, nor reverse ones source codes.
  EXPECT_FALSE(set->Translate(map, kTarget, "wid", true).result());
  EXPECT_FALSE(set->Translate(map, kLocal, "T-wid").result());
}

TEST(ConceptMapTranslate, NoGroupForTheSystem) {
  auto set = BuildSet({kEveryEquivalence});
  const TranslateResult r = set->Translate(*set->Find("urn:example:cm:all"), "urn:other", "eqv");
  EXPECT_FALSE(r.result());
  EXPECT_TRUE(r.matches.empty());
  EXPECT_NE(r.message.find("no group from urn:other"), std::string::npos) << r.message;
}

constexpr std::string_view kProvided = R"({
  "resourceType": "ConceptMap", "url": "urn:example:cm:provided", "status": "active",
  "group": [{"source": "urn:example:local", "target": "urn:example:target",
             "element": [{"code": "a", "target": [{"code": "A", "equivalence": "equal"}]}],
             "unmapped": {"mode": "provided"}}]})";
constexpr std::string_view kFixed = R"({
  "resourceType": "ConceptMap", "url": "urn:example:cm:fixed", "status": "active",
  "group": [{"source": "urn:example:local", "target": "urn:example:target",
             "element": [{"code": "a", "target": [{"code": "A", "equivalence": "equal"}]}],
             "unmapped": {"mode": "fixed", "code": "UNK", "display": "Unknown"}}]})";
constexpr std::string_view kChained = R"({
  "resourceType": "ConceptMap", "url": "urn:example:cm:first", "status": "active",
  "group": [{"source": "urn:example:local", "target": "urn:example:target",
             "element": [{"code": "a", "target": [{"code": "A", "equivalence": "equal"}]}],
             "unmapped": {"mode": "other-map", "url": "urn:example:cm:second"}}]})";
constexpr std::string_view kSecond = R"({
  "resourceType": "ConceptMap", "url": "urn:example:cm:second", "status": "active",
  "group": [{"source": "urn:example:local", "target": "urn:example:target",
             "element": [{"code": "b", "target": [{"code": "B", "equivalence": "equivalent"}]}]}]})";

TEST(ConceptMapUnmapped, ProvidedKeepsTheCodeInTheTargetSystem) {
  auto set = BuildSet({kProvided});
  const ConceptMap& map = *set->Find("urn:example:cm:provided");
  TranslateResult r = set->Translate(map, kLocal, "zzz");
  ASSERT_EQ(r.matches.size(), 1u);
  EXPECT_TRUE(r.matches[0].from_unmapped);
  EXPECT_EQ(r.matches[0].code, "zzz");
  EXPECT_EQ(r.matches[0].system, kTarget);
  EXPECT_TRUE(r.result());
  // Elements still win over the unmapped rule.
  r = set->Translate(map, kLocal, "a");
  EXPECT_FALSE(r.matches[0].from_unmapped);
  // Reversed, `provided` still holds.
  r = set->Translate(map, kTarget, "zzz", true);
  ASSERT_EQ(r.matches.size(), 1u);
  EXPECT_EQ(r.matches[0].system, kLocal);
}

TEST(ConceptMapUnmapped, FixedGivesItsCodeForwardOnly) {
  auto set = BuildSet({kFixed});
  const ConceptMap& map = *set->Find("urn:example:cm:fixed");
  TranslateResult r = set->Translate(map, kLocal, "zzz");
  ASSERT_EQ(r.matches.size(), 1u);
  EXPECT_EQ(r.matches[0].code, "UNK");
  EXPECT_EQ(r.matches[0].display, "Unknown");
  EXPECT_EQ(r.matches[0].equivalence, Equivalence::kInexact);
  EXPECT_TRUE(r.matches[0].from_unmapped);
  EXPECT_FALSE(set->Translate(map, kTarget, "zzz", true).result());
}

TEST(ConceptMapUnmapped, OtherMapChains) {
  auto set = BuildSet({kChained, kSecond});
  const ConceptMap& map = *set->Find("urn:example:cm:first");
  TranslateResult r = set->Translate(map, kLocal, "b");
  ASSERT_EQ(r.matches.size(), 1u);
  EXPECT_EQ(r.matches[0].code, "B");
  EXPECT_EQ(r.matches[0].source, "urn:example:cm:second");
  r = set->Translate(map, kLocal, "c");
  EXPECT_FALSE(r.result());
  EXPECT_NE(r.message.find("no mapping"), std::string::npos);
}

TEST(ConceptMapSetBuild, OtherMapMustBeLoaded) {
  ConceptMapSet::Builder builder;
  fhir::Outcome outcome;
  ASSERT_TRUE(builder.AddJson(kChained, outcome));
  EXPECT_EQ(std::move(builder).Build(outcome), nullptr);
  ASSERT_TRUE(outcome.HasErrors());
  EXPECT_NE(Describe(outcome).find("urn:example:cm:second is not loaded"), std::string::npos);
}

TEST(ConceptMapSetBuild, OtherMapLoopsAreRefused) {
  std::string a(kChained);
  std::string b(kSecond);
  b.replace(b.find("\"element\""), 0,
            R"("unmapped": {"mode": "other-map", "url": "urn:example:cm:first"}, )");
  ConceptMapSet::Builder builder;
  fhir::Outcome outcome;
  ASSERT_TRUE(builder.AddJson(a, outcome));
  ASSERT_TRUE(builder.AddJson(b, outcome)) << Describe(outcome);
  EXPECT_EQ(std::move(builder).Build(outcome), nullptr);
  EXPECT_NE(Describe(outcome).find("loops"), std::string::npos) << Describe(outcome);
}

TEST(ConceptMapSetBuild, DuplicateUrlsAreRefused) {
  ConceptMapSet::Builder builder;
  fhir::Outcome outcome;
  ASSERT_TRUE(builder.AddJson(kProvided, outcome));
  EXPECT_FALSE(builder.AddJson(kProvided, outcome));
  EXPECT_EQ(outcome.issues().back().type, fhir::IssueType::kDuplicate);
}

TEST(ConceptMapCompile, ProblemsNameTheElement) {
  struct Case {
    const char* text;
    const char* expression;
  };
  for (
      const Case& c : {
          Case{R"({"resourceType":"ConceptMap","status":"active"})", "ConceptMap.url"},
          Case{R"({"resourceType":"ConceptMap","url":"u"})", "ConceptMap.status"},
          Case{
              R"({"resourceType":"ConceptMap","url":"u","status":"active","group":[{"target":"t"}]})",
              "ConceptMap.group[0].source"},
          Case{
              R"({"resourceType":"ConceptMap","url":"u","status":"active","group":[{"source":"s","target":"t","element":[{"code":"a","target":[{"code":"b","equivalence":"same"}]}]}]})",
              "ConceptMap.group[0].element[0].target[0].equivalence"},
          Case{
              R"({"resourceType":"ConceptMap","url":"u","status":"active","group":[{"source":"s","target":"t","element":[{"code":"a","target":[{"equivalence":"wider"}]}]}]})",
              "ConceptMap.group[0].element[0].target[0].code"},
          Case{
              R"({"resourceType":"ConceptMap","url":"u","status":"active","group":[{"source":"s","target":"t","unmapped":{"mode":"fixed"}}]})",
              "ConceptMap.group[0].unmapped.code"},
          Case{
              R"({"resourceType":"ConceptMap","url":"u","status":"active","group":[{"source":"s","target":"t","unmapped":{"mode":"guess"}}]})",
              "ConceptMap.group[0].unmapped.mode"},
          Case{R"({"resourceType":"ConceptMap","url":"u","status":"active","group":{}})",
               "ConceptMap.group"},
      }) {
    fhir::Outcome outcome;
    EXPECT_EQ(ConceptMap::Compile(MustParse(c.text), outcome), nullptr) << c.text;
    ASSERT_TRUE(outcome.HasErrors()) << c.text;
    EXPECT_EQ(outcome.issues()[0].expression, c.expression) << Describe(outcome);
  }
  fhir::Outcome outcome;
  EXPECT_EQ(ConceptMap::Compile(MustParse(R"({"resourceType":"ValueSet"})"), outcome), nullptr);
}

TEST(TranslateOperation, ParametersInAndOut) {
  auto set = BuildSet({kEveryEquivalence});
  fhir::Outcome outcome;
  std::optional<TranslateRequest> request =
      ParseTranslateParameters(MustParse(R"({"resourceType":"Parameters","parameter":[
        {"name":"url","valueUri":"urn:example:cm:all"},
        {"name":"system","valueUri":"urn:example:local"},
        {"name":"code","valueCode":"eqv"}]})"),
                               outcome);
  ASSERT_TRUE(request.has_value()) << Describe(outcome);
  const Value out = ToParameters(set->Translate(*request));
  const Value want = MustParse(R"({"resourceType":"Parameters","parameter":[
    {"name":"result","valueBoolean":true},
    {"name":"match","part":[
      {"name":"equivalence","valueCode":"equivalent"},
      {"name":"concept","valueCoding":{"system":"urn:example:target","version":"2026","code":"T-eqv","display":"T equivalent"}},
      {"name":"source","valueUri":"urn:example:cm:all"}]}]})");
  EXPECT_EQ(out, want) << fhir::json::Write(out);
}

TEST(TranslateOperation, ByScopesCodingAndReverse) {
  auto set = BuildSet({kEveryEquivalence, kProvided});
  fhir::Outcome outcome;
  // No url: the source and target value sets choose the map.
  std::optional<TranslateRequest> request =
      ParseTranslateParameters(MustParse(R"({"resourceType":"Parameters","parameter":[
        {"name":"coding","valueCoding":{"system":"urn:example:target","code":"T-nar"}},
        {"name":"source","valueUri":"urn:example:vs:local"},
        {"name":"target","valueUri":"urn:example:vs:target"},
        {"name":"reverse","valueBoolean":true}]})"),
                               outcome);
  ASSERT_TRUE(request.has_value()) << Describe(outcome);
  EXPECT_TRUE(request->reverse);
  const TranslateResult r = set->Translate(*request);
  ASSERT_EQ(r.matches.size(), 1u) << fhir::json::Write(ToParameters(r));
  EXPECT_EQ(r.matches[0].code, "nar");
  EXPECT_EQ(r.matches[0].equivalence, Equivalence::kWider);

  // Unknown: result false with a message and no match.
  TranslateRequest unknown;
  unknown.system = "urn:example:nowhere";
  unknown.code = "x";
  const Value out = ToParameters(set->Translate(unknown));
  const Value& params = *out.Find("parameter");
  ASSERT_EQ(params.items().size(), 2u);
  EXPECT_FALSE(params.items()[0].Find("valueBoolean")->as_bool());
  EXPECT_EQ(params.items()[1].StringAt("name"), "message");
}

TEST(TranslateOperation, BadParameters) {
  fhir::Outcome outcome;
  EXPECT_FALSE(ParseTranslateParameters(MustParse(R"({"resourceType":"Parameters","parameter":[
                     {"name":"code","valueCode":"x"}]})"),
                                        outcome)
                   .has_value());
  EXPECT_NE(Describe(outcome).find("needs system"), std::string::npos);
  outcome = {};
  EXPECT_FALSE(ParseTranslateParameters(MustParse(R"({"resourceType":"Parameters","parameter":[
                     {"name":"system","valueUri":"s"},{"name":"code","valueCode":"x"},
                     {"name":"conceptMap","resource":{"resourceType":"ConceptMap"}}]})"),
                                        outcome)
                   .has_value());
  EXPECT_EQ(outcome.issues()[0].type, fhir::IssueType::kNotSupported);
  EXPECT_EQ(outcome.issues()[0].expression, "Parameters.parameter[2]");
  outcome = {};
  EXPECT_FALSE(ParseTranslateParameters(MustParse(R"({"resourceType":"Patient"})"), outcome));
}

}  // namespace
}  // namespace carebridge::mappings
