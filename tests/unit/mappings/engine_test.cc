#include "mappings/engine.h"

#include <gtest/gtest.h>

#include <string>

#include "fhir/json/json.h"
#include "tests/unit/mappings/test_util.h"

namespace carebridge::mappings {
namespace {

using fhir::json::Value;
using testing::Describe;
using testing::MustParse;

constexpr std::string_view kMaps[] = {
    R"({"resourceType":"ConceptMap","url":"urn:cm:svc","status":"active","group":[
      {"source":"urn:local:svc","target":"urn:canon:svc","element":[
        {"code":"F","display":"Food","target":[{"code":"food","display":"Food insecurity","equivalence":"equivalent"}]},
        {"code":"FP","display":"Food pantry","target":[{"code":"food","display":"Food insecurity","equivalence":"wider"}]},
        {"code":"H","display":"Housing","target":[{"code":"housing","display":"Housing instability","equivalence":"narrower"}]},
        {"code":"X","target":[{"equivalence":"unmatched"}]}]}]})",
    R"({"resourceType":"ConceptMap","url":"urn:cm:fixed","status":"active","group":[
      {"source":"urn:local:svc","target":"urn:canon:svc","element":[
        {"code":"F","target":[{"code":"food","equivalence":"equal"}]}],
       "unmapped":{"mode":"fixed","code":"unspecified","display":"Unspecified"}}]})",
    R"({"resourceType":"ConceptMap","url":"urn:cm:provided","status":"active","group":[
      {"source":"urn:local:svc","target":"urn:canon:svc","element":[
        {"code":"F","target":[{"code":"food","equivalence":"equal"}]}],
       "unmapped":{"mode":"provided"}}]})",
    R"({"resourceType":"ConceptMap","url":"urn:cm:chain","status":"active","group":[
      {"source":"urn:local:svc","target":"urn:canon:svc","element":[
        {"code":"F","target":[{"code":"food","equivalence":"equal"}]}],
       "unmapped":{"mode":"other-map","url":"urn:cm:legacy"}}]})",
    R"({"resourceType":"ConceptMap","url":"urn:cm:legacy","status":"active","group":[
      {"source":"urn:local:svc","target":"urn:canon:svc","element":[
        {"code":"OLD-F","target":[{"code":"food","equivalence":"equivalent"}]}]}]})",
};

std::shared_ptr<const ConceptMapSet> Maps() {
  static const std::shared_ptr<const ConceptMapSet> set = [] {
    ConceptMapSet::Builder builder;
    fhir::Outcome outcome;
    for (std::string_view m : kMaps) {
      EXPECT_TRUE(builder.AddJson(m, outcome)) << Describe(outcome);
    }
    return std::move(builder).Build(outcome);
  }();
  return set;
}

std::shared_ptr<const PartnerMapping> MustLoad(std::string_view definition) {
  fhir::Outcome outcome;
  auto mapping = PartnerMapping::Load(definition, Maps(), outcome);
  EXPECT_TRUE(mapping != nullptr) << Describe(outcome);
  EXPECT_FALSE(outcome.HasErrors()) << Describe(outcome);
  return mapping;
}

// A definition with `rules` as the ServiceRequest inbound list.
std::string WithRules(std::string_view rules, std::string_view outbound = "{}") {
  return R"({"partner":"test","inbound":{"ServiceRequest":[)" + std::string(rules) +
         R"(]},"outbound":)" + std::string(outbound) + "}";
}

Value Mapped(const PartnerMapping& m, Direction d, std::string_view resource,
             fhir::Outcome* outcome_out = nullptr, bool expect_ok = true) {
  Value v = MustParse(resource);
  fhir::Outcome outcome;
  EXPECT_EQ(m.Apply(d, v, outcome), expect_ok) << Describe(outcome);
  if (outcome_out != nullptr) {
    *outcome_out = outcome;
  }
  return v;
}

void ExpectSame(const Value& got, std::string_view want) {
  std::string where;
  EXPECT_TRUE(SameResource(got, MustParse(want), where))
      << "differs at " << where << "\ngot  " << fhir::json::Write(got) << "\nwant " << want;
}

// --- identifier-system --------------------------------------------------------------------------

constexpr std::string_view kIdentifierRule =
    R"({"rule":"identifier-system","local":"urn:local:mrn","canonical":"urn:canon:mrn"})";

TEST(IdentifierSystemRule, RewritesIdentifiersAndReferencesBothWays) {
  auto m = MustLoad(R"({"partner":"p","inbound":{"*":[)" + std::string(kIdentifierRule) + "]}}");
  constexpr std::string_view local = R"({"resourceType":"ServiceRequest",
    "identifier":[{"system":"urn:local:mrn","value":"1"},{"system":"urn:other","value":"2"}],
    "subject":{"identifier":{"system":"urn:local:mrn","value":"1"}},
    "requester":{"reference":"Patient?identifier=urn:local:mrn|1"},
    "performer":[{"reference":"Patient?active=true&identifier=urn:local:mrn%7C1"},
                 {"reference":"Patient?xidentifier=urn:local:mrn|1"}],
    "contained":[{"resourceType":"Patient","identifier":[{"system":"urn:local:mrn","value":"1"}]}]})";
  constexpr std::string_view canonical = R"({"resourceType":"ServiceRequest",
    "identifier":[{"system":"urn:canon:mrn","value":"1"},{"system":"urn:other","value":"2"}],
    "subject":{"identifier":{"system":"urn:canon:mrn","value":"1"}},
    "requester":{"reference":"Patient?identifier=urn:canon:mrn|1"},
    "performer":[{"reference":"Patient?active=true&identifier=urn:canon:mrn%7C1"},
                 {"reference":"Patient?xidentifier=urn:local:mrn|1"}],
    "contained":[{"resourceType":"Patient","identifier":[{"system":"urn:canon:mrn","value":"1"}]}]})";
  ExpectSame(Mapped(*m, Direction::kInbound, local), canonical);
  // The other way, the unrelated `xidentifier` stays as it was.
  std::string back(canonical);
  ExpectSame(Mapped(*m, Direction::kOutbound, back), local);
  // Applies to every type through "*".
  ExpectSame(Mapped(*m, Direction::kInbound,
                    R"({"resourceType":"Task","for":{"identifier":{"system":"urn:local:mrn"}}})"),
             R"({"resourceType":"Task","for":{"identifier":{"system":"urn:canon:mrn"}}})");
}

// --- translate-code -----------------------------------------------------------------------------

std::string TranslateRule(std::string_view map, std::string_view extra = "") {
  return R"({"rule":"translate-code","path":"ServiceRequest.category.coding","conceptMap":")" +
         std::string(map) + "\"" + std::string(extra) + "}";
}

std::string Category(std::string_view system, std::string_view code,
                     std::string_view display = "") {
  std::string coding =
      R"({"system":")" + std::string(system) + R"(","code":")" + std::string(code) + "\"";
  if (!display.empty()) {
    coding += R"(,"display":")" + std::string(display) + "\"";
  }
  return R"({"resourceType":"ServiceRequest","category":[{"coding":[)" + coding + "}]}]}";
}

TEST(TranslateCodeRule, EquivalentBothWays) {
  auto m = MustLoad(WithRules(TranslateRule("urn:cm:svc")));
  const Value in = Mapped(*m, Direction::kInbound, Category("urn:local:svc", "F", "Food"));
  ExpectSame(in, Category("urn:canon:svc", "food", "Food insecurity"));
  const Value out = Mapped(*m, Direction::kOutbound, fhir::json::Write(in));
  ExpectSame(out, Category("urn:local:svc", "F", "Food"));
}

TEST(TranslateCodeRule, NoDisplayAddedWhereNoneWasSent) {
  auto m = MustLoad(WithRules(TranslateRule("urn:cm:svc")));
  ExpectSame(Mapped(*m, Direction::kInbound, Category("urn:local:svc", "F")),
             Category("urn:canon:svc", "food"));
}

TEST(TranslateCodeRule, WiderIsAcceptedByDefaultNarrowerIsNot) {
  auto m = MustLoad(WithRules(TranslateRule("urn:cm:svc", R"(,"unmatched":"reject")")));
  ExpectSame(Mapped(*m, Direction::kInbound, Category("urn:local:svc", "FP")),
             Category("urn:canon:svc", "food"));
  fhir::Outcome outcome;
  Mapped(*m, Direction::kInbound, Category("urn:local:svc", "H"), &outcome, false);
  ASSERT_TRUE(outcome.HasErrors());
  EXPECT_EQ(outcome.issues()[0].expression, "ServiceRequest.category[0].coding[0]");
  EXPECT_EQ(outcome.issues()[0].type, fhir::IssueType::kCodeInvalid);
  EXPECT_NE(outcome.issues()[0].diagnostics.find("'H'"), std::string::npos);

  auto narrow = MustLoad(WithRules(TranslateRule("urn:cm:svc", R"(,"accept":["narrower"])")));
  ExpectSame(Mapped(*narrow, Direction::kInbound, Category("urn:local:svc", "H")),
             Category("urn:canon:svc", "housing"));
  // With only `narrower` accepted, an equivalent mapping is not taken (kept, with a warning).
  fhir::Outcome warned;
  ExpectSame(Mapped(*narrow, Direction::kInbound, Category("urn:local:svc", "F"), &warned),
             Category("urn:local:svc", "F"));
  ASSERT_EQ(warned.issues().size(), 1u);
  EXPECT_EQ(warned.issues()[0].severity, fhir::Severity::kWarning);
}

TEST(TranslateCodeRule, ReverseOfManyToOnePrefersTheEquivalentSource) {
  auto m = MustLoad(WithRules(TranslateRule("urn:cm:svc")));
  ExpectSame(Mapped(*m, Direction::kOutbound, Category("urn:canon:svc", "food")),
             Category("urn:local:svc", "F"));
}

TEST(TranslateCodeRule, UnmatchedKeepWarns) {
  auto m = MustLoad(WithRules(TranslateRule("urn:cm:svc", R"(,"unmatched":"keep")")));
  fhir::Outcome outcome;
  for (const char* code : {"nope", "X"}) {  // absent, and present as `unmatched`
    ExpectSame(Mapped(*m, Direction::kInbound, Category("urn:local:svc", code), &outcome),
               Category("urn:local:svc", code));
  }
  EXPECT_FALSE(outcome.HasErrors());
  EXPECT_EQ(outcome.issues().back().severity, fhir::Severity::kWarning);
}

TEST(TranslateCodeRule, UnmatchedRejectNamesTheElement) {
  auto m = MustLoad(WithRules(TranslateRule("urn:cm:svc", R"(,"unmatched":"reject")")));
  fhir::Outcome outcome;
  Value v = MustParse(R"({"resourceType":"ServiceRequest","category":[
      {"coding":[{"system":"urn:local:svc","code":"F"}]},
      {"coding":[{"system":"urn:other","code":"Q"},{"system":"urn:local:svc","code":"nope"}]}]})");
  EXPECT_FALSE(m->Apply(Direction::kInbound, v, outcome));
  ASSERT_EQ(outcome.issues().size(), 1u) << Describe(outcome);
  EXPECT_EQ(outcome.issues()[0].expression, "ServiceRequest.category[1].coding[1]");
}

TEST(TranslateCodeRule, UnmatchedUnmappedFixed) {
  auto m = MustLoad(WithRules(TranslateRule("urn:cm:fixed", R"(,"unmatched":"unmapped")")));
  ExpectSame(Mapped(*m, Direction::kInbound, Category("urn:local:svc", "nope", "Whatever")),
             Category("urn:canon:svc", "unspecified", "Unspecified"));
  // Without `unmapped`, the fixed code is not used.
  auto keep = MustLoad(WithRules(TranslateRule("urn:cm:fixed", R"(,"unmatched":"keep")")));
  ExpectSame(Mapped(*keep, Direction::kInbound, Category("urn:local:svc", "nope")),
             Category("urn:local:svc", "nope"));
}

TEST(TranslateCodeRule, UnmatchedUnmappedProvided) {
  auto m = MustLoad(WithRules(TranslateRule("urn:cm:provided", R"(,"unmatched":"unmapped")")));
  ExpectSame(Mapped(*m, Direction::kInbound, Category("urn:local:svc", "Z9", "Zed")),
             Category("urn:canon:svc", "Z9", "Zed"));
  ExpectSame(Mapped(*m, Direction::kOutbound, Category("urn:canon:svc", "Z9")),
             Category("urn:canon:svc", "Z9"));  // outbound policy is keep by default
  auto both = MustLoad(WithRules(TranslateRule(
      "urn:cm:provided", R"(,"unmatched":"unmapped","outboundUnmatched":"unmapped")")));
  ExpectSame(Mapped(*both, Direction::kOutbound, Category("urn:canon:svc", "Z9")),
             Category("urn:local:svc", "Z9"));
}

TEST(TranslateCodeRule, UnmatchedUnmappedOtherMapChainsThenRejects) {
  auto m = MustLoad(WithRules(TranslateRule("urn:cm:chain", R"(,"unmatched":"unmapped")")));
  ExpectSame(Mapped(*m, Direction::kInbound, Category("urn:local:svc", "OLD-F")),
             Category("urn:canon:svc", "food"));
  fhir::Outcome outcome;
  Mapped(*m, Direction::kInbound, Category("urn:local:svc", "nope"), &outcome, false);
  EXPECT_TRUE(outcome.HasErrors());
}

TEST(TranslateCodeRule, CodeableConceptPathAndVersion) {
  auto m = MustLoad(WithRules(
      R"({"rule":"translate-code","path":"ServiceRequest.reasonCode","conceptMap":"urn:cm:svc"})"));
  ExpectSame(Mapped(*m, Direction::kInbound, R"({"resourceType":"ServiceRequest","reasonCode":[
      {"coding":[{"system":"urn:local:svc","version":"7","code":"F","userSelected":true}],"text":"t"}]})"),
             R"({"resourceType":"ServiceRequest","reasonCode":[
      {"coding":[{"system":"urn:canon:svc","code":"food","userSelected":true}],"text":"t"}]})");
}

// --- element rules ------------------------------------------------------------------------------

TEST(SetDefaultRule, OnlyWhenAbsentAndCreatesPlainPaths) {
  auto m = MustLoad(WithRules(
      R"({"rule":"set-default","path":"ServiceRequest.priority","value":"routine"},
         {"rule":"set-default","path":"ServiceRequest.meta.source","value":"urn:partner:test"},
         {"rule":"set-default","path":"ServiceRequest.note.where(text.exists()).authorString","value":"clinic"})"));
  ExpectSame(
      Mapped(*m, Direction::kInbound,
             R"({"resourceType":"ServiceRequest","note":[{"text":"a"},{"time":"2026"}]})"),
      R"({"resourceType":"ServiceRequest","note":[{"text":"a","authorString":"clinic"},{"time":"2026"}],
                 "priority":"routine","meta":{"source":"urn:partner:test"}})");
  ExpectSame(Mapped(*m, Direction::kInbound,
                    R"({"resourceType":"ServiceRequest","priority":"stat","meta":{"source":"x"}})"),
             R"({"resourceType":"ServiceRequest","priority":"stat","meta":{"source":"x"}})");
  // Not reversible: outbound leaves the default in place.
  ExpectSame(
      Mapped(*m, Direction::kOutbound, R"({"resourceType":"ServiceRequest","priority":"routine"})"),
      R"({"resourceType":"ServiceRequest","priority":"routine"})");
}

TEST(SetDefaultRule, ATypedPathDoesNotTouchOtherTypes) {
  auto m = MustLoad(
      R"({"partner":"p","inbound":{"*":[{"rule":"set-default","path":"ServiceRequest.meta.source","value":"x"}]}})");
  ExpectSame(Mapped(*m, Direction::kInbound, R"({"resourceType":"Patient"})"),
             R"({"resourceType":"Patient"})");
  ExpectSame(Mapped(*m, Direction::kInbound, R"({"resourceType":"ServiceRequest"})"),
             R"({"resourceType":"ServiceRequest","meta":{"source":"x"}})");
}

TEST(CopyRule, KeepsSourceAndShape) {
  auto m = MustLoad(WithRules(
      R"({"rule":"copy","from":"ServiceRequest.code.text","to":"ServiceRequest.patientInstruction"},
         {"rule":"copy","from":"ServiceRequest.note","to":"ServiceRequest.meta.extension"})"));
  ExpectSame(
      Mapped(*m, Direction::kInbound,
             R"({"resourceType":"ServiceRequest","code":{"text":"pantry"},"note":[{"text":"n"}]})"),
      R"({"resourceType":"ServiceRequest","code":{"text":"pantry"},"note":[{"text":"n"}],
          "patientInstruction":"pantry","meta":{"extension":[{"text":"n"}]}})");
  // Nothing to copy: nothing happens.
  ExpectSame(Mapped(*m, Direction::kInbound, R"({"resourceType":"ServiceRequest"})"),
             R"({"resourceType":"ServiceRequest"})");
}

TEST(MoveRule, ReversibleMoveGoesBackOutbound) {
  auto m = MustLoad(WithRules(
      R"({"rule":"move","from":"ServiceRequest.orderDetail","to":"ServiceRequest.category","reversible":true})"));
  constexpr std::string_view partner =
      R"({"resourceType":"ServiceRequest","orderDetail":[{"text":"a"},{"text":"b"}],"status":"active"})";
  constexpr std::string_view canonical =
      R"({"resourceType":"ServiceRequest","status":"active","category":[{"text":"a"},{"text":"b"}]})";
  const Value in = Mapped(*m, Direction::kInbound, partner);
  ExpectSame(in, canonical);
  ExpectSame(Mapped(*m, Direction::kOutbound, fhir::json::Write(in)), partner);
}

TEST(MoveRule, NotReversibleUnlessDeclared) {
  auto m = MustLoad(WithRules(
      R"({"rule":"move","from":"ServiceRequest.orderDetail","to":"ServiceRequest.category"})"));
  EXPECT_EQ(m->RuleCount(Direction::kOutbound, "ServiceRequest"), 0u);
  ExpectSame(Mapped(*m, Direction::kInbound,
                    R"({"resourceType":"ServiceRequest","orderDetail":[{"text":"a"}]})"),
             R"({"resourceType":"ServiceRequest","category":[{"text":"a"}]})");
}

TEST(RemoveRule, ElementsMembersAndEmptiedArrays) {
  auto m = MustLoad(WithRules(
      R"j({"rule":"remove","path":"ServiceRequest.note.where(text.startsWith('internal'))"},
         {"rule":"remove","path":"ServiceRequest.supportingInfo"},
         {"rule":"remove","path":"ServiceRequest.identifier.where(system = 'urn:a')"})j"));
  ExpectSame(Mapped(*m, Direction::kInbound, R"({"resourceType":"ServiceRequest",
      "identifier":[{"system":"urn:a","value":"1"}],
      "note":[{"text":"internal: x"},{"text":"keep"},{"text":"internal: y"}],
      "supportingInfo":[{"reference":"Observation/1"}]})"),
             R"({"resourceType":"ServiceRequest","note":[{"text":"keep"}]})");
}

TEST(ProfileRules, AddAndRemoveAreInverses) {
  auto m = MustLoad(WithRules(R"({"rule":"add-profile","profile":"urn:p:canon","reversible":true},
                                 {"rule":"remove-profile","profile":"urn:p:partner","reversible":true})"));
  constexpr std::string_view partner = R"({"resourceType":"ServiceRequest","id":"1",
      "meta":{"profile":["urn:p:partner"]},"status":"active"})";
  const Value in = Mapped(*m, Direction::kInbound, partner);
  ExpectSame(
      in,
      R"({"resourceType":"ServiceRequest","id":"1","meta":{"profile":["urn:p:canon"]},"status":"active"})");
  // meta is placed after id, as FHIR writes it.
  EXPECT_EQ(in.members()[2].key, "meta");
  ExpectSame(Mapped(*m, Direction::kOutbound, fhir::json::Write(in)), partner);
  // Adding twice adds once; removing the last profile drops meta.
  ExpectSame(Mapped(*m, Direction::kInbound,
                    R"({"resourceType":"ServiceRequest","meta":{"profile":["urn:p:canon"]}})"),
             R"({"resourceType":"ServiceRequest","meta":{"profile":["urn:p:canon"]}})");
  ExpectSame(
      Mapped(
          *m, Direction::kOutbound,
          R"({"resourceType":"ServiceRequest","meta":{"profile":["urn:p:canon","urn:p:partner"]}})"),
      R"({"resourceType":"ServiceRequest","meta":{"profile":["urn:p:partner"]}})");
}

TEST(TagRules, AddAndRemoveBySystemAndCode) {
  auto m = MustLoad(WithRules(
      R"({"rule":"add-tag","tag":{"system":"urn:t","code":"a","display":"A"},"reversible":true},
         {"rule":"remove-tag","tag":{"system":"urn:t","code":"partner-only"}})"));
  ExpectSame(Mapped(*m, Direction::kInbound, R"({"resourceType":"ServiceRequest",
      "meta":{"tag":[{"system":"urn:t","code":"partner-only"},{"system":"urn:u","code":"a"}]}})"),
             R"({"resourceType":"ServiceRequest","meta":{"tag":[{"system":"urn:u","code":"a"},
                 {"system":"urn:t","code":"a","display":"A"}]}})");
  ExpectSame(Mapped(*m, Direction::kOutbound, R"({"resourceType":"ServiceRequest",
      "meta":{"tag":[{"system":"urn:t","code":"a"}]}})"),
             R"({"resourceType":"ServiceRequest"})");
}

TEST(ExtensionRules, AddIsUndoneOutboundStripByUrlOrKeepList) {
  auto m = MustLoad(WithRules(
      R"({"rule":"add-extension","extension":{"url":"urn:x:source","valueString":"p"},"reversible":true},
         {"rule":"add-extension","path":"ServiceRequest.code","extension":{"url":"urn:x:c","valueBoolean":true}})",
      R"({"ServiceRequest":[{"rule":"strip-extensions","keep":["urn:x:keep"]}]})"));
  const Value in =
      Mapped(*m, Direction::kInbound, R"({"resourceType":"ServiceRequest","code":{"text":"t"}})");
  ExpectSame(
      in,
      R"({"resourceType":"ServiceRequest","code":{"text":"t","extension":[{"url":"urn:x:c","valueBoolean":true}]},
                     "extension":[{"url":"urn:x:source","valueString":"p"}]})");
  // Outbound: the reversible add is undone, then the keep list strips the rest, at any depth,
  // including a primitive's `_name` holder; kept complex extensions keep their parts, and
  // modifierExtension is never touched.
  ExpectSame(Mapped(*m, Direction::kOutbound, R"({"resourceType":"ServiceRequest",
        "extension":[{"url":"urn:x:source","valueString":"p"},
                     {"url":"urn:x:keep","extension":[{"url":"part","valueString":"v"}]}],
        "modifierExtension":[{"url":"urn:x:mod","valueBoolean":true}],
        "code":{"text":"t","extension":[{"url":"urn:x:c","valueBoolean":true}]},
        "_authoredOn":{"extension":[{"url":"urn:x:time","valueString":"noon"}]},
        "authoredOn":"2026-03-01"})"),
             R"({"resourceType":"ServiceRequest",
        "extension":[{"url":"urn:x:keep","extension":[{"url":"part","valueString":"v"}]}],
        "modifierExtension":[{"url":"urn:x:mod","valueBoolean":true}],
        "code":{"text":"t"},"authoredOn":"2026-03-01"})");
  auto by_url = MustLoad(WithRules(R"({"rule":"strip-extensions","urls":["urn:x:a"]})"));
  ExpectSame(
      Mapped(*by_url, Direction::kInbound, R"({"resourceType":"ServiceRequest",
      "extension":[{"url":"urn:x:a"},{"url":"urn:x:b"}],"note":[{"extension":[{"url":"urn:x:a"}],"text":"n"}]})"),
      R"({"resourceType":"ServiceRequest","extension":[{"url":"urn:x:b"}],"note":[{"text":"n"}]})");
}

// --- pipelines ----------------------------------------------------------------------------------

TEST(Pipeline, StarRulesFirstInboundLastOutboundAndOutboundOnlyAfter) {
  auto m = MustLoad(R"({"partner":"p",
    "inbound":{
      "ServiceRequest":[{"rule":"translate-code","path":"ServiceRequest.category.coding","conceptMap":"urn:cm:svc"},
                        {"rule":"set-default","path":"ServiceRequest.priority","value":"routine"}],
      "*":[{"rule":"identifier-system","local":"urn:local:mrn","canonical":"urn:canon:mrn"}]},
    "outbound":{"*":[{"rule":"add-profile","profile":"urn:p:out"}],
                "Patient":[{"rule":"remove","path":"Patient.telecom"}]}})");
  EXPECT_EQ(m->RuleCount(Direction::kInbound, "ServiceRequest"), 3u);
  EXPECT_EQ(m->RuleCount(Direction::kOutbound, "ServiceRequest"), 3u);  // 2 inverses + profile
  EXPECT_EQ(m->RuleCount(Direction::kInbound, "Patient"), 1u);
  EXPECT_EQ(m->RuleCount(Direction::kOutbound, "Patient"), 3u);
  EXPECT_EQ(m->RuleCount(Direction::kInbound, "Task"), 1u);
  EXPECT_EQ(m->RuleCount(Direction::kOutbound, "Task"), 2u);
  EXPECT_EQ(m->partner(), "p");
}

TEST(Pipeline, ReversibleOnlyViewSkipsTheRest) {
  auto m = MustLoad(WithRules(
      R"({"rule":"translate-code","path":"ServiceRequest.category.coding","conceptMap":"urn:cm:svc"},
                                 {"rule":"set-default","path":"ServiceRequest.priority","value":"routine"})"));
  Value v = MustParse(Category("urn:local:svc", "F"));
  fhir::Outcome outcome;
  ASSERT_TRUE(m->Apply(Direction::kInbound, v, outcome, RuleSet::kReversibleOnly));
  EXPECT_EQ(v.Find("priority"), nullptr);
  EXPECT_EQ(v.Find("category")->items()[0].Find("coding")->items()[0].StringAt("code"), "food");
}

TEST(Pipeline, ErrorsAccumulateAcrossRules) {
  auto m = MustLoad(WithRules(
      R"({"rule":"translate-code","path":"ServiceRequest.category.coding","conceptMap":"urn:cm:svc","unmatched":"reject"},
         {"rule":"translate-code","path":"ServiceRequest.code.coding","conceptMap":"urn:cm:svc","unmatched":"reject"})"));
  Value v = MustParse(R"({"resourceType":"ServiceRequest",
      "category":[{"coding":[{"system":"urn:local:svc","code":"bad1"}]}],
      "code":{"coding":[{"system":"urn:local:svc","code":"bad2"}]}})");
  fhir::Outcome outcome;
  EXPECT_FALSE(m->Apply(Direction::kInbound, v, outcome));
  ASSERT_EQ(outcome.issues().size(), 2u);
  EXPECT_EQ(outcome.issues()[1].expression, "ServiceRequest.code.coding[0]");
}

// --- round trip ---------------------------------------------------------------------------------

TEST(RoundTrip, HoldsForEquivalentCodesAndFailsForAWiderOne) {
  auto m =
      MustLoad(R"({"partner":"p","inbound":{"*":[)" + std::string(kIdentifierRule) +
               R"(],"ServiceRequest":[)" + TranslateRule("urn:cm:svc") +
               R"(,{"rule":"set-default","path":"ServiceRequest.priority","value":"routine"}]}})");
  std::vector<Value> fixtures;
  fixtures.push_back(MustParse(Category("urn:local:svc", "F", "Food")));
  fixtures.push_back(MustParse(
      R"({"resourceType":"Patient","id":"x","identifier":[{"system":"urn:local:mrn","value":"1"}]})"));
  fhir::Outcome ok = CheckRoundTrip(*m, fixtures);
  EXPECT_TRUE(ok.empty()) << Describe(ok);

  fixtures.push_back(MustParse(Category("urn:local:svc", "FP")));  // wider: comes back as F
  fhir::Outcome bad = CheckRoundTrip(*m, fixtures);
  ASSERT_TRUE(bad.HasErrors());
  EXPECT_EQ(bad.issues()[0].expression, "ServiceRequest.category[0].coding[0].code");
  EXPECT_NE(bad.issues()[0].diagnostics.find("fixture 2"), std::string::npos);
}

TEST(SameResource, MemberOrderDoesNotCountArrayOrderDoes) {
  std::string where;
  EXPECT_TRUE(
      SameResource(MustParse(R"({"a":1,"b":[1,2]})"), MustParse(R"({"b":[1,2],"a":1})"), where));
  EXPECT_FALSE(SameResource(MustParse(R"({"a":1,"b":[1,2]})"), MustParse(R"({"a":1,"b":[2,1]})"),
                            where, "X"));
  EXPECT_EQ(where, "X.b[0]");
  EXPECT_FALSE(SameResource(MustParse(R"({"a":1})"), MustParse(R"({"a":1,"c":2})"), where, "X"));
  EXPECT_EQ(where, "X.c");
  EXPECT_FALSE(SameResource(MustParse(R"({"a":1.0})"), MustParse(R"({"a":1})"), where));
}

// --- definition validation ----------------------------------------------------------------------

struct Invalid {
  const char* name;
  std::string definition;
  const char* expression;
  const char* fragment;
};

TEST(DefinitionValidation, RefusedWithTheRuleNamed) {
  const std::vector<Invalid> cases = {
      {"unknown rule kind", WithRules(R"({"rule":"rename","path":"x"})"),
       "inbound.ServiceRequest[0].rule", "unknown rule kind 'rename'"},
      {"bad FHIRPath", WithRules(R"({"rule":"remove","path":"ServiceRequest.note.where("})"),
       "inbound.ServiceRequest[0].path", "unexpected end"},
      {"unsupported FHIRPath", WithRules(R"j({"rule":"remove","path":"note.substring(1)"})j"),
       "inbound.ServiceRequest[0].path", "unsupported function"},
      {"missing ConceptMap", WithRules(TranslateRule("urn:cm:nowhere")),
       "inbound.ServiceRequest[0].conceptMap", "urn:cm:nowhere is not loaded"},
      {"missing field", WithRules(R"({"rule":"identifier-system","local":"a"})"),
       "inbound.ServiceRequest[0].canonical", "is required"},
      {"unknown member", WithRules(R"({"rule":"remove","path":"note","pth":"x"})"),
       "inbound.ServiceRequest[0].pth", "unknown member"},
      {"not reversible kind",
       WithRules(R"({"rule":"set-default","path":"priority","value":"x","reversible":true})"),
       "inbound.ServiceRequest[0].reversible", "cannot be reversible"},
      {"reversible outbound rule",
       WithRules("",
                 R"({"ServiceRequest":[{"rule":"add-profile","profile":"p","reversible":true}]})"),
       "outbound.ServiceRequest[0].reversible", "outbound rules are not inverted"},
      {"target not writable",
       WithRules(R"j({"rule":"set-default","path":"note.first()","value":"x"})j"),
       "inbound.ServiceRequest[0].path", "must end in an element name"},
      {"reverse move source not writable",
       WithRules(
           R"j({"rule":"move","from":"note.first()","to":"ServiceRequest.x","reversible":true})j"),
       "inbound.ServiceRequest[0].from", "must end in an element name"},
      {"strip needs one list",
       WithRules(R"({"rule":"strip-extensions","urls":["a"],"keep":["b"]})"),
       "inbound.ServiceRequest[0]", "exactly one of urls and keep"},
      {"accept unmatched", WithRules(TranslateRule("urn:cm:svc", R"(,"accept":["unmatched"])")),
       "inbound.ServiceRequest[0].accept", "cannot be accepted"},
      {"bad unmatched mode", WithRules(TranslateRule("urn:cm:svc", R"(,"unmatched":"drop")")),
       "inbound.ServiceRequest[0].unmatched", "unknown mode 'drop'"},
      {"bad tag", WithRules(R"({"rule":"add-tag","tag":{"code":"a"}})"),
       "inbound.ServiceRequest[0].tag", "system and code"},
      {"bad resource type", R"({"partner":"p","inbound":{"serviceRequest":[]}})",
       "inbound.serviceRequest", "not a resource type"},
      {"rules not an array", R"({"partner":"p","inbound":{"Patient":{}}})", "inbound.Patient",
       "array of rules"},
      {"no partner", R"({"inbound":{}})", "partner", "is required"},
      {"unknown top-level", R"({"partner":"p","rules":[]})", "rules", "unknown member"},
      {"not JSON", R"({"partner":)", "", "mapping definition JSON"},
  };
  for (const Invalid& c : cases) {
    SCOPED_TRACE(c.name);
    fhir::Outcome outcome;
    EXPECT_EQ(PartnerMapping::Load(c.definition, Maps(), outcome), nullptr);
    ASSERT_TRUE(outcome.HasErrors());
    bool found = false;
    for (const fhir::Issue& issue : outcome.issues()) {
      found |= issue.expression == c.expression &&
               issue.diagnostics.find(c.fragment) != std::string::npos;
    }
    EXPECT_TRUE(found) << Describe(outcome);
  }
}

TEST(DefinitionValidation, AllProblemsAtOnce) {
  fhir::Outcome outcome;
  EXPECT_EQ(PartnerMapping::Load(WithRules(R"({"rule":"rename"},{"rule":"remove","path":"("},
                                              {"rule":"translate-code","path":"code","conceptMap":"urn:none"})"),
                                 Maps(), outcome),
            nullptr);
  // The unknown kind is caught while parsing; compilation still reports the rest.
  EXPECT_EQ(outcome.issues().size(), 1u) << Describe(outcome);
  fhir::Outcome second;
  EXPECT_EQ(PartnerMapping::Load(WithRules(R"({"rule":"remove","path":"("},
                                              {"rule":"translate-code","path":"code","conceptMap":"urn:none"})"),
                                 Maps(), second),
            nullptr);
  EXPECT_EQ(second.issues().size(), 2u) << Describe(second);
}

TEST(DefinitionParse, DefaultsAndOrder) {
  fhir::Outcome outcome;
  std::optional<Definition> d = ParseDefinition(
      R"({"partner":"p","version":"3","outbound":{"Patient":[{"rule":"remove","path":"telecom"}]},
          "inbound":{"Patient":[{"rule":"translate-code","path":"x","conceptMap":"u"}],
                     "*":[{"rule":"identifier-system","local":"a","canonical":"b"}]}})",
      outcome);
  ASSERT_TRUE(d.has_value()) << Describe(outcome);
  EXPECT_EQ(d->version, "3");
  ASSERT_EQ(d->rules.size(), 3u);
  EXPECT_EQ(d->rules[0].kind, RuleKind::kIdentifierSystem);  // "*" first
  EXPECT_TRUE(d->rules[0].reversible);
  EXPECT_EQ(d->rules[1].kind, RuleKind::kTranslateCode);
  EXPECT_TRUE(d->rules[1].reversible);
  EXPECT_EQ(d->rules[1].accept,
            (std::vector<Equivalence>{Equivalence::kEqual, Equivalence::kEquivalent,
                                      Equivalence::kWider}));
  EXPECT_EQ(d->rules[1].unmatched, Unmatched::kKeep);
  EXPECT_TRUE(d->rules[2].outbound_only);
  EXPECT_FALSE(d->rules[2].reversible);
  EXPECT_EQ(d->rules[2].where, "outbound.Patient[0]");
  for (RuleKind k :
       {RuleKind::kSetDefault, RuleKind::kCopy, RuleKind::kRemove, RuleKind::kStripExtensions}) {
    EXPECT_FALSE(CanReverse(k)) << ToCode(k);
  }
  EXPECT_EQ(RuleKindFromCode(ToCode(RuleKind::kAddExtension)), RuleKind::kAddExtension);
}

}  // namespace
}  // namespace carebridge::mappings
