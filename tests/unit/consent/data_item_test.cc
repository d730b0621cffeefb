#include "gateway/consent/data_item.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gateway/consent/sensitivity.h"
#include "tests/unit/consent/test_support.h"

namespace carebridge::consent {
namespace {

using fhir::json::Value;
using test_support::Ms;
using test_support::MustParse;

std::vector<std::string> Codes(const DataItem& item) {
  std::vector<std::string> out;
  for (const CodeRef& c : item.codes) {
    out.push_back(std::string(c.system) + "|" + std::string(c.code));
  }
  return out;
}

TEST(DataItem, GathersWhatConsentsLookAt) {
  const Value r = MustParse(R"({"resourceType":"Observation","id":"o1",
    "meta":{"lastUpdated":"2025-01-01T00:00:00Z","security":[
      {"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]},
    "status":"final",
    "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category",
                            "code":"social-history"}]}],
    "code":{"coding":[{"system":"http://loinc.org","code":"11331-6"}]},
    "subject":{"reference":"Patient/p1"},
    "basedOn":[{"reference":"ServiceRequest/sr-1"}],
    "performer":[{"reference":"Practitioner/dr-a"},{"reference":"#local"}],
    "effectivePeriod":{"start":"2024-05-01","end":"2024-05-02"},
    "valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"228281002"}]},
    "component":[{"code":{"coding":[{"system":"http://loinc.org","code":"1-1"}]}}]})");
  const DataItem item = DataItem::FromResource(r);
  EXPECT_EQ(item.type, "Observation");
  EXPECT_EQ(item.id, "o1");
  EXPECT_EQ(item.patient_id, "p1");
  EXPECT_EQ(Codes(item),
            (std::vector<std::string>{"http://loinc.org|11331-6",
                                      "http://terminology.hl7.org/CodeSystem/observation-category|"
                                      "social-history",
                                      "http://snomed.info/sct|228281002", "http://loinc.org|1-1"}));
  ASSERT_EQ(item.security.size(), 1u);
  EXPECT_EQ(item.security[0].code, "R");
  ASSERT_TRUE(item.date.has_value());
  EXPECT_EQ(item.date->low, Ms("2024-05-01"));
  EXPECT_EQ(item.authors, (std::vector<std::string_view>{"Practitioner/dr-a"}));
  EXPECT_EQ(item.references, (std::vector<std::string_view>{"Patient/p1", "ServiceRequest/sr-1",
                                                            "Practitioner/dr-a"}));
  EXPECT_TRUE(item.Is("Observation/o1"));
  EXPECT_TRUE(item.Is("Observation/o1/_history/2"));
  EXPECT_TRUE(item.Is("https://gw.example.org/fhir/Observation/o1"));
  EXPECT_FALSE(item.Is("Observation/o"));
  EXPECT_FALSE(item.Is("Condition/o1"));
}

// The facts stored beside a version describe the item FromResource reads, field for field; a
// resource without a date keeps none; anything else is refused rather than misread.
TEST(DataItem, FactsRoundTrip) {
  const Value r = MustParse(R"({"resourceType":"Observation","id":"o1",
    "meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode",
                         "code":"ETH"}]},
    "status":"final",
    "code":{"coding":[{"system":"http://loinc.org","code":"11331-6"},{"code":"local \"x\""}]},
    "subject":{"reference":"Patient/p1"},
    "performer":[{"reference":"Practitioner/dr-a"}],
    "effectiveDateTime":"2024-05-01T10:00:00Z"})");
  const DataItem item = DataItem::FromResource(r);
  const Value facts = MustParse(item.Facts());
  auto back = DataItem::FromFacts("Observation", "o1", "p1", "2026-01-01T00:00:00.000Z", facts);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->type, "Observation");
  EXPECT_EQ(back->id, "o1");
  EXPECT_EQ(back->patient_id, "p1");
  EXPECT_EQ(Codes(*back), Codes(item));
  ASSERT_EQ(back->security.size(), 1u);
  EXPECT_EQ(back->security[0].system, item.security[0].system);
  EXPECT_EQ(back->security[0].code, "ETH");
  ASSERT_TRUE(back->date.has_value());
  EXPECT_EQ(back->date->low, item.date->low);
  EXPECT_EQ(back->date->high, item.date->high);
  EXPECT_EQ(back->authors, item.authors);
  EXPECT_EQ(back->references, item.references);

  // Data without a date of its own is placed by its version's lastUpdated, which the store
  // stamps after the facts are made: the stamp passed in decides, not what the sender wrote.
  const Value undated = MustParse(
      R"({"resourceType":"Basic","id":"b1","meta":{"lastUpdated":"2020-01-01T00:00:00Z"}})");
  const DataItem sent = DataItem::FromResource(undated);
  EXPECT_TRUE(sent.dated_by_last_updated);
  auto stamped = DataItem::FromFacts("Basic", "b1", std::nullopt, "2026-11-23T08:00:00.000Z",
                                     MustParse(sent.Facts()));
  ASSERT_TRUE(stamped.has_value());
  ASSERT_TRUE(stamped->date.has_value());
  EXPECT_EQ(stamped->date->low, Ms("2026-11-23T08:00:00.000Z"));
  EXPECT_TRUE(stamped->codes.empty());
  auto none = DataItem::FromFacts("Basic", "b1", std::nullopt, "", MustParse(sent.Facts()));
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->date.has_value());

  for (const char* bad : {R"([])", R"({"codes":[]})", R"({"codes":[["a"]],"security":[],
      "authors":[],"references":[]})",
                          R"({"codes":[],"security":[],"authors":[],
      "references":[],"date":["1","x"]})",
                          R"({"codes":[],"security":[],"authors":[1],
      "references":[]})"}) {
    EXPECT_FALSE(DataItem::FromFacts("Basic", "b1", std::nullopt, "", MustParse(bad)).has_value())
        << bad;
  }
}

TEST(DataItem, QuestionnaireAnswersAndProcedurePerformers) {
  const Value qr = MustParse(R"({"resourceType":"QuestionnaireResponse","id":"q",
    "status":"completed","subject":{"reference":"Patient/p1"},"authored":"2024-06-01",
    "author":{"reference":"Organization/housing-first"},
    "item":[{"linkId":"1","item":[{"linkId":"1.1","answer":[{"valueCoding":
      {"system":"http://loinc.org","code":"LA33-6"},
      "item":[{"linkId":"1.1.1","answer":[{"valueCoding":
        {"system":"http://snomed.info/sct","code":"7200002"}}]}]}]}]}]})");
  const DataItem item = DataItem::FromResource(qr);
  EXPECT_EQ(Codes(item), (std::vector<std::string>{"http://loinc.org|LA33-6",
                                                   "http://snomed.info/sct|7200002"}));
  EXPECT_EQ(item.authors, (std::vector<std::string_view>{"Organization/housing-first"}));
  EXPECT_EQ(item.date->low, Ms("2024-06-01"));

  const Value proc = MustParse(R"({"resourceType":"Procedure","id":"pr","status":"completed",
    "subject":{"reference":"Patient/p1"},
    "performer":[{"actor":{"reference":"Practitioner/dr-b"}}]})");
  EXPECT_EQ(DataItem::FromResource(proc).authors,
            (std::vector<std::string_view>{"Practitioner/dr-b"}));
}

struct DateCase {
  std::string_view resource;
  std::string_view expected;  // "" = no date
};

class ClinicalDateCase : public ::testing::TestWithParam<DateCase> {};

TEST_P(ClinicalDateCase, PicksTheRelevantDate) {
  const Value r = MustParse(GetParam().resource);
  auto date = ClinicalDate(r.StringAt("resourceType"), r);
  if (GetParam().expected.empty()) {
    EXPECT_FALSE(date.has_value());
  } else {
    ASSERT_TRUE(date.has_value());
    EXPECT_EQ(date->low, Ms(GetParam().expected));
  }
}

INSTANTIATE_TEST_SUITE_P(
    ByType, ClinicalDateCase,
    ::testing::Values(
        DateCase{R"({"resourceType":"Observation","issued":"2024-02-02T00:00:00Z",
                    "effectiveDateTime":"2024-02-01"})",
                 "2024-02-01"},
        DateCase{R"({"resourceType":"Observation","issued":"2024-02-02T00:00:00Z"})",
                 "2024-02-02T00:00:00Z"},
        DateCase{R"({"resourceType":"Condition","recordedDate":"2024-03-09",
                    "onsetPeriod":{"start":"2019"}})",
                 "2019"},
        DateCase{R"({"resourceType":"CarePlan","created":"2024-01-09",
                    "period":{"start":"2024-01-10"}})",
                 "2024-01-10"},
        DateCase{R"({"resourceType":"ServiceRequest","authoredOn":"2024-01-11"})", "2024-01-11"},
        DateCase{R"({"resourceType":"Task","authoredOn":"2024-01-11",
                    "executionPeriod":{"start":"2024-01-12T08:00:00Z"}})",
                 "2024-01-12T08:00:00Z"},
        DateCase{R"({"resourceType":"QuestionnaireResponse","authored":"2024-01-13"})",
                 "2024-01-13"},
        DateCase{R"({"resourceType":"Goal","startDate":"2024-01-14"})", "2024-01-14"},
        DateCase{R"({"resourceType":"Consent","dateTime":"2024-01-15"})", "2024-01-15"},
        // A malformed clinical date does not hide the next candidate.
        DateCase{R"({"resourceType":"Condition","onsetDateTime":"soon",
                    "recordedDate":"2024-01-16"})",
                 "2024-01-16"},
        DateCase{R"({"resourceType":"Patient","meta":{"lastUpdated":"2024-01-17T00:00:00Z"}})",
                 "2024-01-17T00:00:00Z"},
        DateCase{R"({"resourceType":"Goal"})", ""}));

TEST(RelativeReference, Forms) {
  EXPECT_EQ(RelativeReference("Patient/1"), "Patient/1");
  EXPECT_EQ(RelativeReference("Patient/1/_history/4"), "Patient/1");
  EXPECT_EQ(RelativeReference("https://x.org/fhir/Patient/1"), "Patient/1");
  EXPECT_EQ(RelativeReference("https://x.org/fhir/Patient/1/_history/4"), "Patient/1");
  EXPECT_EQ(RelativeReference("urn:uuid:1234"), "urn:uuid:1234");
}

// ---------------------------------------------------------------------------------------------
// Sensitivity rules and labelling.

TEST(SensitivityRules, DefaultList) {
  const SensitivityRules rules = SensitivityRules::Default();
  EXPECT_TRUE(rules.IsSudCode("http://hl7.org/fhir/sid/icd-10-cm", "F10.20"));
  EXPECT_TRUE(rules.IsSudCode("http://hl7.org/fhir/sid/icd-10-cm", "F11"));
  EXPECT_TRUE(rules.IsSudCode("http://hl7.org/fhir/sid/icd-10", "F19.2"));
  EXPECT_FALSE(rules.IsSudCode("http://hl7.org/fhir/sid/icd-10-cm", "F17.210"));  // nicotine
  EXPECT_FALSE(rules.IsSudCode("http://hl7.org/fhir/sid/icd-10-cm", "F32.9"));
  EXPECT_FALSE(rules.IsSudCode("http://loinc.org", "F10"));
  EXPECT_TRUE(rules.IsSudCode("http://snomed.info/sct", "7200002"));
  EXPECT_FALSE(rules.IsSudCode("http://snomed.info/sct", "72000021"));
  EXPECT_TRUE(rules.IsPart2Label(kActCodeSystem, "ETH"));
  EXPECT_TRUE(rules.IsPart2Label(kActCodeSystem, "OPIOIDUD"));
  EXPECT_FALSE(rules.IsPart2Label("http://example.org", "ETH"));
  EXPECT_FALSE(rules.IsPart2Label(kActCodeSystem, "PSY"));
}

TEST(LabelSensitive, LabelsUnlabelledSudDiagnosis) {
  Value r = MustParse(R"({"resourceType":"Condition","id":"c1",
    "code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"F11.20"}]},
    "subject":{"reference":"Patient/p1"}})");
  EXPECT_TRUE(LabelSensitive(r, SensitivityRules::Default()));
  EXPECT_EQ(fhir::json::Write(r),
            R"({"resourceType":"Condition","id":"c1","meta":{"security":[{"system":)"
            R"("http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"ETH","display":)"
            R"("substance abuse information sensitivity"}]},"code":{"coding":[{"system":)"
            R"("http://hl7.org/fhir/sid/icd-10-cm","code":"F11.20"}]},"subject":{"reference":)"
            R"("Patient/p1"}})");
  // Once is enough.
  EXPECT_FALSE(LabelSensitive(r, SensitivityRules::Default()));
  EXPECT_EQ(DataItem::FromResource(r).security.size(), 1u);
}

TEST(LabelSensitive, KeepsExistingMetaAndLabels) {
  Value r = MustParse(R"({"resourceType":"Observation","id":"o",
    "meta":{"versionId":"3","security":[{"system":
      "http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]},
    "code":{"coding":[{"system":"http://snomed.info/sct","code":"66214007"}]}})");
  EXPECT_TRUE(LabelSensitive(r, SensitivityRules::Default()));
  const Value* security = r.Find("meta")->Find("security");
  ASSERT_EQ(security->items().size(), 2u);
  EXPECT_EQ(security->items()[1].StringAt("code"), "ETH");
  EXPECT_EQ(r.Find("meta")->StringAt("versionId"), "3");
}

TEST(LabelSensitive, LeavesOtherDataAndLabelledDataAlone) {
  Value plain = MustParse(R"({"resourceType":"Condition","id":"c",
    "code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"F17.210"}]}})");
  const Value before = plain;
  EXPECT_FALSE(LabelSensitive(plain, SensitivityRules::Default()));
  EXPECT_EQ(plain, before);

  Value labelled = MustParse(R"({"resourceType":"Condition","id":"c",
    "meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode",
                         "code":"OPIOIDUD"}]},
    "code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"F11.20"}]}})");
  EXPECT_FALSE(LabelSensitive(labelled, SensitivityRules::Default()));
}

TEST(LabelSensitive, SudInContainedResourceOrAnswer) {
  Value plan = MustParse(R"({"resourceType":"CarePlan","id":"cp",
    "contained":[{"resourceType":"Condition","id":"x",
      "code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"F14.10"}]}}],
    "status":"active","intent":"plan"})");
  EXPECT_TRUE(LabelSensitive(plan, SensitivityRules::Default()));

  Value answers = MustParse(R"({"resourceType":"QuestionnaireResponse","id":"q",
    "status":"completed","item":[{"linkId":"a","answer":[{"valueCoding":
      {"system":"http://snomed.info/sct","code":"5602001"}}]}]})");
  EXPECT_TRUE(LabelSensitive(answers, SensitivityRules::Default()));
}

TEST(LabelSensitive, ConfigurableRules) {
  SensitivityRules rules;
  rules.sud_codes.push_back({"urn:example:local", "SUD-", true});
  rules.part2_labels = {"ETH"};
  Value r = MustParse(R"({"resourceType":"Observation","id":"o",
    "code":{"coding":[{"system":"urn:example:local","code":"SUD-7"}]}})");
  EXPECT_TRUE(LabelSensitive(r, rules));
  EXPECT_FALSE(LabelSensitive(r, rules));
}

}  // namespace
}  // namespace carebridge::consent
