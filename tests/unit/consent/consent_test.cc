#include "gateway/consent/consent.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/consent/test_support.h"

namespace carebridge::consent {
namespace {

using fhir::json::Value;
using test_support::Describe;
using test_support::Ms;
using test_support::MustParse;

// ---------------------------------------------------------------------------------------------
// Resources to disclose. All belong to Patient/p1 unless they say otherwise.

constexpr std::string_view kObs = R"({"resourceType":"Observation","id":"obs-1",
  "status":"final","subject":{"reference":"Patient/p1"},
  "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},
  "effectiveDateTime":"2024-05-10T08:00:00Z"})";
constexpr std::string_view kObsJan = R"({"resourceType":"Observation","id":"obs-jan",
  "status":"final","subject":{"reference":"Patient/p1"},
  "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},
  "effectiveDateTime":"2024-01-01"})";
constexpr std::string_view kObsMarEnd = R"({"resourceType":"Observation","id":"obs-mar",
  "status":"final","subject":{"reference":"Patient/p1"},
  "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},
  "effectiveDateTime":"2024-03-31T23:59:00Z"})";
constexpr std::string_view kObsAprStart = R"({"resourceType":"Observation","id":"obs-apr",
  "status":"final","subject":{"reference":"Patient/p1"},
  "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},
  "effectiveDateTime":"2024-04-01T00:00:00Z"})";
constexpr std::string_view kObsDecEnd = R"({"resourceType":"Observation","id":"obs-dec",
  "status":"final","subject":{"reference":"Patient/p1"},
  "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},
  "effectiveDateTime":"2023-12-31T23:59:59Z"})";
constexpr std::string_view kObsOtherPatient = R"({"resourceType":"Observation","id":"obs-9",
  "status":"final","subject":{"reference":"Patient/p2"},
  "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]}})";
constexpr std::string_view kObsRestricted = R"({"resourceType":"Observation","id":"obs-r",
  "meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                       "code":"R"}]},
  "status":"final","subject":{"reference":"Patient/p1"},
  "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]}})";
constexpr std::string_view kObsPsy = R"({"resourceType":"Observation","id":"obs-psy",
  "meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode",
                       "code":"PSY"}]},
  "status":"final","subject":{"reference":"Patient/p1"},
  "code":{"coding":[{"system":"http://loinc.org","code":"44249-1"}]}})";
constexpr std::string_view kObsEth = R"({"resourceType":"Observation","id":"obs-eth",
  "meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode",
                       "code":"ETH"}]},
  "status":"final","subject":{"reference":"Patient/p1"},
  "code":{"coding":[{"system":"http://loinc.org","code":"3397-7"}]},
  "effectiveDateTime":"2024-05-10"})";
constexpr std::string_view kSudCondition = R"({"resourceType":"Condition","id":"cond-oud",
  "subject":{"reference":"Patient/p1"},
  "code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"F11.20"}]},
  "recordedDate":"2024-02-02"})";
constexpr std::string_view kDepression = R"({"resourceType":"Condition","id":"cond-dep",
  "subject":{"reference":"Patient/p1"},
  "code":{"coding":[{"system":"http://snomed.info/sct","code":"35489007"}]},
  "recordedDate":"2024-02-02"})";
constexpr std::string_view kHypertension = R"({"resourceType":"Condition","id":"cond-htn",
  "subject":{"reference":"Patient/p1"},
  "code":{"coding":[{"system":"http://snomed.info/sct","code":"38341003"}]},
  "recordedDate":"2024-02-02"})";
constexpr std::string_view kCarePlan = R"({"resourceType":"CarePlan","id":"cp-1",
  "status":"active","intent":"plan","subject":{"reference":"Patient/p1"},
  "author":{"reference":"Organization/riverside-cmhc"},
  "goal":[{"reference":"Goal/g-1"}],"period":{"start":"2024-04-01"}})";
constexpr std::string_view kCarePlanWithSud = R"({"resourceType":"CarePlan","id":"cp-2",
  "contained":[{"resourceType":"Condition","id":"c","subject":{"reference":"Patient/p1"},
    "code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"F10.20"}]}}],
  "status":"active","intent":"plan","subject":{"reference":"Patient/p1"},
  "addresses":[{"reference":"#c"}]})";
constexpr std::string_view kGoal = R"({"resourceType":"Goal","id":"g-1",
  "lifecycleStatus":"active","subject":{"reference":"Patient/p1"},
  "description":{"text":"Stable housing"},"expressedBy":{"reference":"Patient/p1"},
  "startDate":"2024-04-02"})";
constexpr std::string_view kGoalUndated = R"({"resourceType":"Goal","id":"g-2",
  "lifecycleStatus":"active","subject":{"reference":"Patient/p1"},
  "description":{"text":"Find work"}})";
constexpr std::string_view kGoalStampedJan = R"({"resourceType":"Goal","id":"g-3",
  "meta":{"versionId":"1","lastUpdated":"2024-01-15T10:00:00Z"},
  "lifecycleStatus":"active","subject":{"reference":"Patient/p1"},
  "description":{"text":"Reconnect with family"}})";
constexpr std::string_view kServiceRequest = R"({"resourceType":"ServiceRequest","id":"sr-1",
  "status":"active","intent":"order","subject":{"reference":"Patient/p1"},
  "authoredOn":"2024-04-03"})";
constexpr std::string_view kTask = R"({"resourceType":"Task","id":"t-1",
  "status":"requested","intent":"order","for":{"reference":"Patient/p1"},
  "focus":{"reference":"ServiceRequest/sr-1"},"authoredOn":"2024-04-03"})";
constexpr std::string_view kResponse = R"({"resourceType":"QuestionnaireResponse","id":"qr-1",
  "status":"completed","subject":{"reference":"Patient/p1"},"authored":"2024-04-04"})";

// ---------------------------------------------------------------------------------------------
// Consent snippets. Complete() fills in what every case would repeat.

// An active patient-privacy Consent for Patient/p1 named c<index>, version 1, unless the snippet
// says otherwise.
Value Complete(std::string_view snippet, std::size_t index) {
  Value v = MustParse(snippet);
  auto fill = [&v](std::string key, Value value) {
    if (v.Find(key) == nullptr) {
      v.Set(std::move(key), std::move(value));
    }
  };
  fill("resourceType", Value::String("Consent"));
  fill("id", Value::String("c" + std::to_string(index + 1)));
  Value meta = Value::Object();
  meta.Set("versionId", Value::String("1"));
  fill("meta", std::move(meta));
  fill("status", Value::String("active"));
  fill("scope", MustParse(R"({"coding":[{"system":
      "http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]})"));
  fill("patient", MustParse(R"({"reference":"Patient/p1"})"));
  return v;
}

// Elements reused in snippets.
#define RIVERSIDE                                                                                 \
  R"({"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType",)" \
  R"("code":"PRCP"}]},"reference":{"reference":"Organization/riverside-cmhc"}})"
#define TREAT R"({"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"TREAT"})"

enum class Who { kRiverside, kCountyEr, kAgency, kNurse };

Recipient Get(Who who) {
  switch (who) {
    case Who::kRiverside:
      return test_support::Riverside();
    case Who::kCountyEr:
      return test_support::CountyEr();
    case Who::kAgency:
      return test_support::HousingAgency();
    case Who::kNurse:
      return test_support::ClinicNurse();
  }
  return {};
}

struct Case {
  std::string name;
  std::vector<std::string_view> consents;
  std::string_view resource;
  Effect effect;
  Reason reason;
  // "id|version path" of the deciding provision; "" when none decided.
  std::string decided_by;
  Who who = Who::kRiverside;
  std::string_view purpose = "TREAT";
  Action action = Action::kDisclose;
  DefaultPolicy default_policy = DefaultPolicy::kOptIn;
  Combining combining = Combining::kDenyWins;
  std::string_view now = "2025-06-01T12:00:00Z";
  bool notice = false;
  std::string overridden;  // break-glass: the deny that was overridden
  std::vector<std::string_view> referenced;
  std::string_view custodian;
  std::vector<std::string> custodians;
  std::size_t warnings = 0;  // expected issues() of the compiled set
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

constexpr std::string_view kPermitAll = R"({"provision":{"type":"permit"}})";

// clang-format off
const std::vector<Case>& Cases() {
  static const std::vector<Case> cases = {
    // --- Default policies -----------------------------------------------------------------
    {.name = "NoConsentOptInDenies", .consents = {}, .resource = kObs,
     .effect = Effect::kDeny, .reason = Reason::kNoConsentDefault, .decided_by = ""},
    {.name = "NoConsentOptOutPermitsTreatment", .consents = {}, .resource = kObs,
     .effect = Effect::kPermit, .reason = Reason::kDefaultOptOut, .decided_by = "",
     .default_policy = DefaultPolicy::kOptOut},
    {.name = "NoConsentOptOutDeniesPayment", .consents = {}, .resource = kObs,
     .effect = Effect::kDeny, .reason = Reason::kNoConsentDefault, .decided_by = "",
     .purpose = "HPAYMT", .default_policy = DefaultPolicy::kOptOut},
    {.name = "OptOutDenyingConsentBeatsDefault",
     .consents = {R"({"provision":{"type":"deny","actor":[)" RIVERSIDE "]}}"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c1|1 provision", .default_policy = DefaultPolicy::kOptOut},
    {.name = "OptInPermittingConsent", .consents = {kPermitAll}, .resource = kObs,
     .effect = Effect::kPermit, .reason = Reason::kConsentPermit, .decided_by = "c1|1 provision"},
    {.name = "OptOutConsentPermitsOtherPurpose",
     .consents = {R"({"provision":{"type":"permit","purpose":[{"code":"HPAYMT"}]}})"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision", .purpose = "HPAYMT",
     .default_policy = DefaultPolicy::kOptOut},

    // --- Consent status, scope, patient ---------------------------------------------------
    {.name = "RevokedConsentIsIgnored",
     .consents = {R"({"status":"inactive","meta":{"versionId":"2"},"provision":{"type":"permit"}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kConsentInactive,
     .decided_by = ""},
    {.name = "RevokedDenyNoLongerBlocksOptOut",
     .consents = {R"({"status":"inactive","provision":{"type":"deny"}})"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kDefaultOptOut,
     .decided_by = "", .default_policy = DefaultPolicy::kOptOut},
    {.name = "EnteredInErrorNeverCounts",
     .consents = {R"({"status":"entered-in-error","provision":{"type":"permit"}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kNoConsentDefault,
     .decided_by = ""},
    {.name = "ProposedDoesNotPermit",
     .consents = {R"({"status":"proposed","provision":{"type":"permit"}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kNoConsentDefault,
     .decided_by = ""},
    {.name = "DraftDoesNotPermit",
     .consents = {R"({"status":"draft","provision":{"type":"permit"}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kNoConsentDefault,
     .decided_by = ""},
    {.name = "RevokedOldVersionActiveNewOne",
     .consents = {R"({"id":"c1","status":"inactive","provision":{"type":"deny"}})",
                  R"({"id":"c2","meta":{"versionId":"3"},"provision":{"type":"permit"}})"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c2|3 provision"},
    {.name = "OtherPatientsConsentIgnored",
     .consents = {R"({"patient":{"reference":"Patient/p2"},"provision":{"type":"permit"}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kNoConsentDefault,
     .decided_by = ""},
    {.name = "ResearchScopeIgnored",
     .consents = {R"({"scope":{"coding":[{"system":
         "http://terminology.hl7.org/CodeSystem/consentscope","code":"research"}]},
         "provision":{"type":"permit"}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kNoConsentDefault,
     .decided_by = ""},
    {.name = "OtherPatientsDataDenied", .consents = {kPermitAll}, .resource = kObsOtherPatient,
     .effect = Effect::kDeny, .reason = Reason::kWrongPatient, .decided_by = ""},
    {.name = "OtherPatientsDataNotBreakGlass", .consents = {}, .resource = kObsOtherPatient,
     .effect = Effect::kDeny, .reason = Reason::kWrongPatient, .decided_by = "",
     .who = Who::kCountyEr, .purpose = "ETREAT"},

    // --- provision.period -----------------------------------------------------------------
    {.name = "PeriodHoldsNow",
     .consents = {R"({"provision":{"type":"permit","period":{"start":"2025-01-01","end":"2025-12-31"}}})"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision"},
    {.name = "PeriodExpired",
     .consents = {R"({"provision":{"type":"permit","period":{"start":"2024-01-01","end":"2025-05-31"}}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kConsentExpired,
     .decided_by = ""},
    {.name = "PeriodNotYetValid",
     .consents = {R"({"provision":{"type":"permit","period":{"start":"2025-07-01"}}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kConsentExpired,
     .decided_by = ""},
    {.name = "PeriodEndDayIsInclusive",
     .consents = {R"({"provision":{"type":"permit","period":{"end":"2025-06-01"}}})"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision", .now = "2025-06-01T23:59:59Z"},
    {.name = "PeriodEndInstantIsExclusiveAfter",
     .consents = {R"({"provision":{"type":"permit","period":{"end":"2025-06-01T12:00:00Z"}}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kConsentExpired,
     .decided_by = "", .now = "2025-06-01T12:00:01Z"},
    {.name = "PeriodStartIsInclusive",
     .consents = {R"({"provision":{"type":"permit","period":{"start":"2025-06-01"}}})"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision", .now = "2025-06-01T00:00:00Z"},
    {.name = "NestedExceptionOutOfPeriodLapses",
     .consents = {R"({"provision":{"type":"permit","provision":[
         {"type":"deny","period":{"start":"2024-01-01","end":"2024-12-31"}}]}})"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision"},
    {.name = "NestedExceptionInPeriodApplies",
     .consents = {R"({"provision":{"type":"permit","provision":[
         {"type":"deny","period":{"start":"2025-01-01","end":"2025-12-31"}}]}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c1|1 provision.provision[0]"},

    // --- provision.dataPeriod: base permit, deny data from Q1 2024 ------------------------
#define Q1_DENY R"({"provision":{"type":"permit","provision":[{"type":"deny",)" \
                R"("dataPeriod":{"start":"2024-01-01","end":"2024-03-31"}}]}})"
    {.name = "DataPeriodOutsideAfter", .consents = {Q1_DENY}, .resource = kObs,
     .effect = Effect::kPermit, .reason = Reason::kConsentPermit, .decided_by = "c1|1 provision"},
    {.name = "DataPeriodStartInclusive", .consents = {Q1_DENY}, .resource = kObsJan,
     .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c1|1 provision.provision[0]"},
    {.name = "DataPeriodEndDayInclusive", .consents = {Q1_DENY}, .resource = kObsMarEnd,
     .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c1|1 provision.provision[0]"},
    {.name = "DataPeriodEndExclusiveNextDay", .consents = {Q1_DENY}, .resource = kObsAprStart,
     .effect = Effect::kPermit, .reason = Reason::kConsentPermit, .decided_by = "c1|1 provision"},
    {.name = "DataPeriodBeforeStart", .consents = {Q1_DENY}, .resource = kObsDecEnd,
     .effect = Effect::kPermit, .reason = Reason::kConsentPermit, .decided_by = "c1|1 provision"},
    {.name = "DataPeriodFallsBackToLastUpdated", .consents = {Q1_DENY},
     .resource = kGoalStampedJan, .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c1|1 provision.provision[0]"},
    {.name = "DataPeriodUndatedDataDoesNotMatch", .consents = {Q1_DENY},
     .resource = kGoalUndated, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision"},
#undef Q1_DENY

    // --- actor ----------------------------------------------------------------------------
    {.name = "ActorReferenceIsRecipient",
     .consents = {R"({"provision":{"type":"permit","actor":[)" RIVERSIDE "]}}"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision"},
    {.name = "ActorReferenceIsAnotherOrg",
     .consents = {R"({"provision":{"type":"permit","actor":[)" RIVERSIDE "]}}"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kNoConsentDefault,
     .decided_by = "", .who = Who::kAgency},
    {.name = "ActorAnyOfSeveral",
     .consents = {R"({"provision":{"type":"permit","actor":[
         {"role":{"coding":[{"code":"PRCP"}]},"reference":{"reference":"Organization/x"}},)"
         RIVERSIDE "]}}"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision"},
    {.name = "ActorIndividualOfRecipient",
     .consents = {R"({"provision":{"type":"permit","actor":[{"role":{"coding":[{"code":"PRCP"}]},
         "reference":{"reference":"Practitioner/nurse-1"}}]}})"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision", .who = Who::kNurse},
    {.name = "ActorRoleOnlyMatchesRecipientRole",
     .consents = {R"({"provision":{"type":"permit","actor":[{"role":{"coding":[{"system":
         "https://carebridge.example.org/partner-kind","code":"agency"}]}}]}})"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision", .who = Who::kAgency},
    {.name = "ActorRoleOnlyOtherRole",
     .consents = {R"({"provision":{"type":"permit","actor":[{"role":{"coding":[{"system":
         "https://carebridge.example.org/partner-kind","code":"agency"}]}}]}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kNoConsentDefault,
     .decided_by = ""},
    {.name = "ActorCustodianIsGateway",
     .consents = {R"({"provision":{"type":"permit","actor":[{"role":{"coding":[{"code":"CST"}]},
         "reference":{"reference":"Organization/good-health"}}]}})"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision", .custodians = {"Organization/good-health"}},
    {.name = "ActorCustodianIsItemsSource",
     .consents = {R"({"provision":{"type":"permit","actor":[{"role":{"coding":[{"code":"CST"}]},
         "reference":{"reference":"Organization/good-health"}}]}})"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision", .custodian = "Organization/good-health"},
    {.name = "ActorCustodianOther",
     .consents = {R"({"provision":{"type":"permit","actor":[{"role":{"coding":[{"code":"CST"}]},
         "reference":{"reference":"Organization/good-health"}}]}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kNoConsentDefault,
     .decided_by = "", .custodian = "Organization/elsewhere"},

    // --- action ---------------------------------------------------------------------------
    {.name = "ActionAccessCoversDisclose",
     .consents = {R"({"provision":{"type":"permit","action":[{"coding":[{"system":
         "http://terminology.hl7.org/CodeSystem/consentaction","code":"access"}]}]}})"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision"},
    {.name = "ActionDiscloseCoversAccess",
     .consents = {R"({"provision":{"type":"permit","action":[{"coding":[{"code":"disclose"}]}]}})"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision", .action = Action::kAccess},
    {.name = "ActionCorrectOnlyDoesNotDisclose",
     .consents = {R"({"provision":{"type":"permit","action":[{"coding":[{"code":"correct"}]}]}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kNoConsentDefault,
     .decided_by = ""},
    {.name = "ActionCollectIsNotDisclose",
     .consents = {R"({"provision":{"type":"permit","action":[{"coding":[{"code":"disclose"}]}]}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kNoConsentDefault,
     .decided_by = "", .action = Action::kCollect},
    {.name = "ActionUnknownCodeMatchesInDeny",
     .consents = {R"({"provision":{"type":"permit","provision":[{"type":"deny","action":[
         {"coding":[{"system":"urn:example:local","code":"print"}]}]}]}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c1|1 provision.provision[0]", .warnings = 1},

    // --- securityLabel --------------------------------------------------------------------
    {.name = "LabelCarried",
     .consents = {R"({"provision":{"type":"permit","securityLabel":[{"system":
         "http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]}})"},
     .resource = kObsRestricted, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision"},
    {.name = "LabelNotCarried",
     .consents = {R"({"provision":{"type":"permit","securityLabel":[{"system":
         "http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kNoConsentDefault,
     .decided_by = ""},
    {.name = "LabelDenyException",
     .consents = {R"({"provision":{"type":"permit","provision":[{"type":"deny","securityLabel":[
         {"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"}]}]}})"},
     .resource = kObsPsy, .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c1|1 provision.provision[0]"},

    // --- purpose --------------------------------------------------------------------------
    {.name = "PurposeMatches",
     .consents = {R"({"provision":{"type":"permit","purpose":[)" TREAT "]}}"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision"},
    {.name = "PurposeDiffers",
     .consents = {R"({"provision":{"type":"permit","purpose":[)" TREAT "]}}"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kNoConsentDefault,
     .decided_by = "", .purpose = "HPAYMT"},
    {.name = "PurposeTreatDoesNotCoverEtreat",
     .consents = {R"({"provision":{"type":"permit","purpose":[)" TREAT "]}}"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kNoConsentDefault,
     .decided_by = "", .purpose = "ETREAT"},

    // --- class ----------------------------------------------------------------------------
    {.name = "ClassResourceType",
     .consents = {R"({"provision":{"type":"permit","class":[{"system":
         "http://hl7.org/fhir/resource-types","code":"Observation"}]}})"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision"},
    {.name = "ClassOtherResourceType",
     .consents = {R"({"provision":{"type":"permit","class":[{"system":
         "http://hl7.org/fhir/resource-types","code":"Condition"}]}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kNoConsentDefault,
     .decided_by = ""},
    {.name = "ClassDenyQuestionnaireResponses",
     .consents = {R"({"provision":{"type":"permit","provision":[{"type":"deny","class":[
         {"system":"http://hl7.org/fhir/resource-types","code":"QuestionnaireResponse"}]}]}})"},
     .resource = kResponse, .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c1|1 provision.provision[0]"},
    {.name = "ClassUnknownSystemMatchesInDeny",
     .consents = {R"({"provision":{"type":"permit","provision":[{"type":"deny","class":[
         {"system":"urn:ietf:rfc:3986","code":"http://example.org/profile"}]}]}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c1|1 provision.provision[0]", .warnings = 1},
    {.name = "ClassUnknownSystemNeverPermits",
     .consents = {R"({"provision":{"type":"permit","class":[
         {"system":"urn:ietf:rfc:3986","code":"http://example.org/profile"}]}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kNoConsentDefault,
     .decided_by = "", .warnings = 1},

    // --- code -----------------------------------------------------------------------------
#define NO_DEPRESSION R"({"provision":{"type":"permit","provision":[{"type":"deny","code":[)" \
    R"({"coding":[{"system":"http://snomed.info/sct","code":"35489007"}]}]}]}})"
    {.name = "CodeMatches", .consents = {NO_DEPRESSION}, .resource = kDepression,
     .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c1|1 provision.provision[0]"},
    {.name = "CodeOther", .consents = {NO_DEPRESSION}, .resource = kHypertension,
     .effect = Effect::kPermit, .reason = Reason::kConsentPermit, .decided_by = "c1|1 provision"},
#undef NO_DEPRESSION
    {.name = "CodeInContainedResource",
     .consents = {R"({"provision":{"type":"permit","provision":[{"type":"deny","code":[
         {"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"F10.20"}]}]}]}})"},
     .resource = kCarePlanWithSud, .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c1|1 provision.provision[0]"},

    // --- data -----------------------------------------------------------------------------
    {.name = "DataInstance",
     .consents = {R"({"provision":{"type":"permit","provision":[{"type":"deny","data":[
         {"meaning":"instance","reference":{"reference":"Observation/obs-1"}}]}]}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c1|1 provision.provision[0]"},
    {.name = "DataInstanceOtherId",
     .consents = {R"({"provision":{"type":"permit","provision":[{"type":"deny","data":[
         {"meaning":"instance","reference":{"reference":"Observation/obs-2"}}]}]}})"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision"},
    {.name = "DataInstanceVersionedAbsolute",
     .consents = {R"({"provision":{"type":"permit","provision":[{"type":"deny","data":[
         {"meaning":"instance","reference":{"reference":
          "https://ehr.example.org/fhir/Observation/obs-1/_history/3"}}]}]}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c1|1 provision.provision[0]"},
    {.name = "DataDependentsReferrer",
     .consents = {R"({"provision":{"type":"permit","provision":[{"type":"deny","data":[
         {"meaning":"dependents","reference":{"reference":"ServiceRequest/sr-1"}}]}]}})"},
     .resource = kTask, .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c1|1 provision.provision[0]"},
    {.name = "DataDependentsItself",
     .consents = {R"({"provision":{"type":"permit","provision":[{"type":"deny","data":[
         {"meaning":"dependents","reference":{"reference":"ServiceRequest/sr-1"}}]}]}})"},
     .resource = kServiceRequest, .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c1|1 provision.provision[0]"},
    {.name = "DataDependentsUnrelated",
     .consents = {R"({"provision":{"type":"permit","provision":[{"type":"deny","data":[
         {"meaning":"dependents","reference":{"reference":"ServiceRequest/sr-1"}}]}]}})"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision"},
    {.name = "DataRelatedReferencedResource",
     .consents = {R"({"provision":{"type":"permit","provision":[{"type":"deny","data":[
         {"meaning":"related","reference":{"reference":"CarePlan/cp-1"}}]}]}})"},
     .resource = kGoal, .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c1|1 provision.provision[0]", .referenced = {kCarePlan}},
    {.name = "DataRelatedWithoutReferencedResource",
     .consents = {R"({"provision":{"type":"permit","provision":[{"type":"deny","data":[
         {"meaning":"related","reference":{"reference":"CarePlan/cp-1"}}]}]}})"},
     .resource = kGoal, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision"},
    {.name = "DataRelatedItself",
     .consents = {R"({"provision":{"type":"permit","provision":[{"type":"deny","data":[
         {"meaning":"related","reference":{"reference":"CarePlan/cp-1"}}]}]}})"},
     .resource = kCarePlan, .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c1|1 provision.provision[0]"},
    {.name = "DataAuthoredBy",
     .consents = {R"({"provision":{"type":"permit","provision":[{"type":"deny","data":[
         {"meaning":"authoredby","reference":{"reference":"Organization/riverside-cmhc"}}]}]}})"},
     .resource = kCarePlan, .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c1|1 provision.provision[0]", .who = Who::kAgency},
    {.name = "DataAuthoredByOther",
     .consents = {R"({"provision":{"type":"permit","provision":[{"type":"deny","data":[
         {"meaning":"authoredby","reference":{"reference":"Organization/riverside-cmhc"}}]}]}})"},
     .resource = kGoal, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision", .who = Who::kAgency},

    // --- nesting --------------------------------------------------------------------------
#define TWO_LEVEL R"({"provision":{"type":"deny","actor":[)" RIVERSIDE R"(],"provision":[)" \
    R"({"type":"permit","purpose":[)" TREAT "]}]}}"
    {.name = "TwoLevelExceptionApplies", .consents = {TWO_LEVEL}, .resource = kObs,
     .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision.provision[0]"},
    {.name = "TwoLevelExceptionDoesNotApply", .consents = {TWO_LEVEL}, .resource = kObs,
     .effect = Effect::kDeny, .reason = Reason::kConsentDeny, .decided_by = "c1|1 provision",
     .purpose = "HPAYMT"},
    {.name = "TwoLevelParentNotApplicable", .consents = {TWO_LEVEL}, .resource = kObs,
     .effect = Effect::kDeny, .reason = Reason::kNoConsentDefault, .decided_by = "",
     .who = Who::kAgency},
#undef TWO_LEVEL
#define THREE_LEVEL R"({"provision":{"type":"permit","provision":[{"type":"deny","class":[)" \
    R"({"code":"Condition"}],"provision":[{"type":"permit","code":[{"coding":[)" \
    R"({"system":"http://snomed.info/sct","code":"38341003"}]}]}]}]}})"
    {.name = "ThreeLevelDeepestPermit", .consents = {THREE_LEVEL}, .resource = kHypertension,
     .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision.provision[0].provision[0]"},
    {.name = "ThreeLevelMiddleDeny", .consents = {THREE_LEVEL}, .resource = kDepression,
     .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c1|1 provision.provision[0]"},
    {.name = "ThreeLevelBasePermit", .consents = {THREE_LEVEL}, .resource = kObs,
     .effect = Effect::kPermit, .reason = Reason::kConsentPermit, .decided_by = "c1|1 provision"},
#undef THREE_LEVEL
    {.name = "SiblingsDenyWins",
     .consents = {R"({"provision":{"type":"deny","provision":[
         {"type":"permit","class":[{"code":"Observation"}]},
         {"type":"deny","code":[{"coding":[{"system":"http://loinc.org","code":"8867-4"}]}]},
         {"type":"permit","purpose":[)" TREAT "]}]}}"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c1|1 provision.provision[1]"},
    {.name = "SiblingsFirstPermitNamed",
     .consents = {R"({"provision":{"type":"deny","provision":[
         {"type":"permit","class":[{"code":"Observation"}]},
         {"type":"permit","purpose":[)" TREAT "]}]}}"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision.provision[0]"},
    {.name = "BaseTypeAbsentOptOutRuleDenies",
     .consents = {R"({"policyRule":{"coding":[{"system":
         "http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUT"}]},
         "provision":{"actor":[)" RIVERSIDE "]}}"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c1|1 provision", .default_policy = DefaultPolicy::kOptOut},
    {.name = "BaseTypeAbsentOptInRulePermits",
     .consents = {R"({"policyRule":{"coding":[{"system":
         "http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTIN"}]},
         "provision":{"actor":[)" RIVERSIDE "]}}"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision"},
    {.name = "NestedTypeAbsentIsException",
     .consents = {R"({"provision":{"type":"permit","provision":[{"class":[{"code":"Observation"}]}]}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c1|1 provision.provision[0]"},

    // --- several consents -----------------------------------------------------------------
#define NEWER_PERMIT R"({"id":"new","dateTime":"2025-03-01","provision":{"type":"permit"}})"
#define OLDER_DENY R"({"id":"old","dateTime":"2024-03-01","provision":{"type":"deny"}})"
    {.name = "DenyWinsAcrossConsents", .consents = {NEWER_PERMIT, OLDER_DENY}, .resource = kObs,
     .effect = Effect::kDeny, .reason = Reason::kConsentDeny, .decided_by = "old|1 provision"},
    {.name = "MostRecentWinsPermit", .consents = {OLDER_DENY, NEWER_PERMIT}, .resource = kObs,
     .effect = Effect::kPermit, .reason = Reason::kConsentPermit, .decided_by = "new|1 provision",
     .combining = Combining::kMostRecentWins},
    {.name = "MostRecentWinsDeny",
     .consents = {R"({"id":"old","dateTime":"2024-03-01","provision":{"type":"permit"}})",
                  R"({"id":"new","dateTime":"2025-03-01","provision":{"type":"deny"}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "new|1 provision", .combining = Combining::kMostRecentWins},
    {.name = "MostRecentTieBrokenByLastUpdated",
     .consents = {R"({"id":"a","dateTime":"2025-03-01","meta":{"versionId":"1",
         "lastUpdated":"2025-03-02T10:00:00Z"},"provision":{"type":"deny"}})",
                  R"({"id":"b","dateTime":"2025-03-01","meta":{"versionId":"4",
         "lastUpdated":"2025-03-05T10:00:00Z"},"provision":{"type":"permit"}})"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "b|4 provision", .combining = Combining::kMostRecentWins},
    {.name = "MostRecentFullTieDenyWins",
     .consents = {R"({"id":"a","dateTime":"2025-03-01","provision":{"type":"permit"}})",
                  R"({"id":"b","dateTime":"2025-03-01","provision":{"type":"deny"}})"},
     .resource = kObs, .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "b|1 provision", .combining = Combining::kMostRecentWins},
    {.name = "MostRecentThatAppliesDecides",
     .consents = {R"({"id":"old","dateTime":"2024-03-01","provision":{"type":"permit"}})",
                  R"({"id":"new","dateTime":"2025-03-01","provision":{"type":"deny",
         "actor":[{"role":{"coding":[{"code":"PRCP"}]},"reference":{"reference":
         "Organization/housing-first"}}]}})"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "old|1 provision", .combining = Combining::kMostRecentWins},
#undef NEWER_PERMIT
#undef OLDER_DENY

    // --- 42 CFR Part 2 --------------------------------------------------------------------
#define EXPLICIT R"({"id":"p2","provision":{"type":"permit","actor":[)" RIVERSIDE \
    R"(],"purpose":[)" TREAT "]}}"
    {.name = "Part2GenericPermitRefused", .consents = {kPermitAll}, .resource = kObsEth,
     .effect = Effect::kDeny, .reason = Reason::kPart2RequiresExplicitConsent,
     .decided_by = "c1|1 provision"},
    {.name = "Part2ActorWithoutPurposeRefused",
     .consents = {R"({"provision":{"type":"permit","actor":[)" RIVERSIDE "]}}"},
     .resource = kObsEth, .effect = Effect::kDeny,
     .reason = Reason::kPart2RequiresExplicitConsent, .decided_by = "c1|1 provision"},
    {.name = "Part2PurposeWithoutActorRefused",
     .consents = {R"({"provision":{"type":"permit","purpose":[)" TREAT "]}}"},
     .resource = kObsEth, .effect = Effect::kDeny,
     .reason = Reason::kPart2RequiresExplicitConsent, .decided_by = "c1|1 provision"},
    {.name = "Part2ExplicitPermitWithNotice", .consents = {EXPLICIT}, .resource = kObsEth,
     .effect = Effect::kPermit, .reason = Reason::kConsentPermit, .decided_by = "p2|1 provision",
     .notice = true},
    {.name = "Part2BySensitivityRuleGenericRefused", .consents = {kPermitAll},
     .resource = kSudCondition, .effect = Effect::kDeny,
     .reason = Reason::kPart2RequiresExplicitConsent, .decided_by = "c1|1 provision"},
    {.name = "Part2BySensitivityRuleExplicit", .consents = {EXPLICIT},
     .resource = kSudCondition, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "p2|1 provision", .notice = true},
    {.name = "Part2InContainedResourceRefused", .consents = {kPermitAll},
     .resource = kCarePlanWithSud, .effect = Effect::kDeny,
     .reason = Reason::kPart2RequiresExplicitConsent, .decided_by = "c1|1 provision"},
    {.name = "Part2ExplicitForAnotherRecipient", .consents = {EXPLICIT}, .resource = kObsEth,
     .effect = Effect::kDeny, .reason = Reason::kNoConsentDefault, .decided_by = "",
     .who = Who::kAgency},
    {.name = "Part2OptOutDefaultRefused", .consents = {}, .resource = kObsEth,
     .effect = Effect::kDeny, .reason = Reason::kPart2RequiresExplicitConsent, .decided_by = "",
     .default_policy = DefaultPolicy::kOptOut},
    {.name = "Part2ExplicitPreferredOverGeneric", .consents = {kPermitAll, EXPLICIT},
     .resource = kObsEth, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "p2|1 provision", .notice = true},
    {.name = "Part2NamedAlongThePath",
     .consents = {R"({"provision":{"type":"deny","actor":[)" RIVERSIDE R"(],"provision":[
         {"type":"permit","purpose":[)" TREAT "]}]}}"},
     .resource = kObsEth, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision.provision[0]", .notice = true},
    {.name = "Part2RecipientClassForTreatment",
     .consents = {R"({"provision":{"type":"permit","actor":[{"role":{"coding":[{"system":
         "https://carebridge.example.org/fhir/CodeSystem/recipient-class",
         "code":"covered-entity"}]}}],"purpose":[)" TREAT "]}}"},
     .resource = kObsEth, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision", .notice = true},
    {.name = "Part2RecipientClassNotForResearch",
     .consents = {R"({"provision":{"type":"permit","actor":[{"role":{"coding":[{"system":
         "https://carebridge.example.org/fhir/CodeSystem/recipient-class",
         "code":"covered-entity"}]}}],"purpose":[{"code":"HRESCH"}]}})"},
     .resource = kObsEth, .effect = Effect::kDeny,
     .reason = Reason::kPart2RequiresExplicitConsent, .decided_by = "c1|1 provision",
     .purpose = "HRESCH"},
    {.name = "Part2ConsentDenyStillDenies",
     .consents = {EXPLICIT, R"({"provision":{"type":"deny","securityLabel":[{"system":
         "http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"ETH"}]}})"},
     .resource = kObsEth, .effect = Effect::kDeny, .reason = Reason::kConsentDeny,
     .decided_by = "c2|1 provision"},
    {.name = "NonPart2DataNeedsNoNotice", .consents = {kPermitAll}, .resource = kObs,
     .effect = Effect::kPermit, .reason = Reason::kConsentPermit, .decided_by = "c1|1 provision"},

    // --- break-the-glass ------------------------------------------------------------------
    {.name = "BreakGlassOverridesConsentDeny",
     .consents = {R"({"provision":{"type":"deny"}})"}, .resource = kObs,
     .effect = Effect::kPermit, .reason = Reason::kBreakGlass, .decided_by = "",
     .who = Who::kCountyEr, .purpose = "ETREAT", .overridden = "c1|1 provision"},
    {.name = "BreakGlassNotAllowedForPartner",
     .consents = {R"({"provision":{"type":"deny"}})"}, .resource = kObs,
     .effect = Effect::kDeny, .reason = Reason::kConsentDeny, .decided_by = "c1|1 provision",
     .purpose = "ETREAT"},
    {.name = "BreakGlassOverridesOptInDefault", .consents = {}, .resource = kObs,
     .effect = Effect::kPermit, .reason = Reason::kBreakGlass, .decided_by = "",
     .who = Who::kCountyEr, .purpose = "ETREAT"},
    {.name = "BreakGlassPart2WithNotice", .consents = {kPermitAll}, .resource = kSudCondition,
     .effect = Effect::kPermit, .reason = Reason::kBreakGlass, .decided_by = "",
     .who = Who::kCountyEr, .purpose = "ETREAT", .notice = true, .overridden = "c1|1 provision"},
    {.name = "BreakGlassOnlyForReads",
     .consents = {R"({"provision":{"type":"deny"}})"}, .resource = kObs,
     .effect = Effect::kDeny, .reason = Reason::kConsentDeny, .decided_by = "c1|1 provision",
     .who = Who::kCountyEr, .purpose = "ETREAT", .action = Action::kCorrect},
    {.name = "BreakGlassNeedsEtreat",
     .consents = {R"({"provision":{"type":"deny"}})"}, .resource = kObs,
     .effect = Effect::kDeny, .reason = Reason::kConsentDeny, .decided_by = "c1|1 provision",
     .who = Who::kCountyEr},
    {.name = "EtreatPermittedByConsentIsNoOverride",
     .consents = {R"({"provision":{"type":"permit","purpose":[{"code":"ETREAT"}]}})"},
     .resource = kObs, .effect = Effect::kPermit, .reason = Reason::kConsentPermit,
     .decided_by = "c1|1 provision", .who = Who::kCountyEr, .purpose = "ETREAT"},
#undef EXPLICIT
  };
  return cases;
}
// clang-format on

class ConsentCase : public ::testing::TestWithParam<Case> {};

TEST_P(ConsentCase, Decides) {
  const Case& c = GetParam();
  std::vector<Value> consents;
  for (std::size_t i = 0; i < c.consents.size(); ++i) {
    consents.push_back(Complete(c.consents[i], i));
  }
  std::vector<Value> referenced;
  for (std::string_view r : c.referenced) {
    referenced.push_back(MustParse(r));
  }
  Policy policy;
  policy.default_policy = c.default_policy;
  policy.combining = c.combining;
  policy.custodians = c.custodians;
  const ConsentSet set = ConsentSet::Compile("p1", consents, policy, Ms(c.now), referenced);
  EXPECT_EQ(set.issues().issues().size(), c.warnings)
      << fhir::json::Write(set.issues().ToResource());

  const Value resource = MustParse(c.resource);
  DataItem item = DataItem::FromResource(resource);
  item.custodian = c.custodian;
  const Decision d = set.Evaluate(Get(c.who), c.purpose, c.action, item);

  EXPECT_EQ(ToCode(d.effect), ToCode(c.effect)) << d.Explain();
  EXPECT_EQ(ToCode(d.reason), ToCode(c.reason)) << d.Explain();
  EXPECT_EQ(Describe(d.decided_by), c.decided_by) << d.Explain();
  EXPECT_EQ(Describe(d.overridden), c.overridden) << d.Explain();
  EXPECT_EQ(d.obligations.attach_redisclosure_notice, c.notice) << d.Explain();
  EXPECT_EQ(d.break_glass, c.reason == Reason::kBreakGlass);
  EXPECT_EQ(d.obligations.flag_break_glass, c.reason == Reason::kBreakGlass);
  // Every explanation names the outcome, the reason and the combining rule in force.
  const std::string explanation = d.Explain();
  EXPECT_NE(explanation.find(std::string(ToCode(d.reason))), std::string::npos) << explanation;
  EXPECT_NE(explanation.find(std::string(ToCode(c.combining))), std::string::npos) << explanation;
  if (!c.decided_by.empty()) {
    EXPECT_NE(explanation.find("Consent/" + c.decided_by), std::string::npos) << explanation;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, ConsentCase, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& param_info) {
                           return param_info.param.name;
                         });

// ---------------------------------------------------------------------------------------------
// Behaviour outside the table.

TEST(ConsentSet, CountsSkippedConsents) {
  std::vector<Value> consents = {
      Complete(R"({"status":"inactive"})", 0),
      Complete(R"({"status":"entered-in-error"})", 1),
      Complete(R"({"status":"rejected"})", 2),
      Complete(R"({"patient":{"reference":"Patient/p2"}})", 3),
      Complete(R"({"scope":{"coding":[{"code":"adr"}]}})", 4),
      Complete(R"({"provision":{"period":{"end":"2020-01-01"}}})", 5),
      Complete(R"({"provision":{"period":{"start":"2030-01-01"}}})", 6),
      Complete(R"({"provision":{"type":"maybe"}})", 7),
      Complete(R"({"provision":{"type":"permit"}})", 8),
      Complete(R"({"modifierExtension":[{"url":"urn:example:unless","valueBoolean":true}],
          "provision":{"type":"permit"}})",
               9),
  };
  const Policy policy;
  const ConsentSet set = ConsentSet::Compile("p1", consents, policy, Ms("2025-06-01"));
  EXPECT_EQ(set.size(), 1u);
  EXPECT_EQ(set.skipped().inactive, 1);
  EXPECT_EQ(set.skipped().entered_in_error, 1);
  EXPECT_EQ(set.skipped().not_active, 1);
  EXPECT_EQ(set.skipped().other_patient, 1);
  EXPECT_EQ(set.skipped().other_scope, 1);
  EXPECT_EQ(set.skipped().expired, 1);
  EXPECT_EQ(set.skipped().not_yet_valid, 1);
  EXPECT_EQ(set.skipped().malformed, 2);
  ASSERT_EQ(set.issues().issues().size(), 2u);
  EXPECT_EQ(set.issues().issues()[0].expression, "Consent.provision.type");
  EXPECT_EQ(set.issues().issues()[1].expression, "Consent.modifierExtension");
}

TEST(ConsentSet, MalformedDenyIsReportedNotSilentlyApplied) {
  std::vector<Value> consents = {Complete(
      R"({"provision":{"type":"permit","provision":[{"type":"deny",
          "dataPeriod":{"start":"last spring"}}]}})",
      0)};
  const Policy policy;
  const ConsentSet set = ConsentSet::Compile("p1", consents, policy, Ms("2025-06-01"));
  EXPECT_EQ(set.size(), 0u);  // the whole consent: its permit alone would overreach
  ASSERT_EQ(set.issues().issues().size(), 1u);
  EXPECT_EQ(set.issues().issues()[0].expression, "Consent.provision.provision[0].dataPeriod");
}

// Revocation takes effect on the next request: the engine keeps nothing between compilations.
TEST(ConsentSet, RevocationTakesEffectOnNextCompile) {
  const Policy policy;
  const Value obs = MustParse(kObs);
  const DataItem item = DataItem::FromResource(obs);
  std::vector<Value> consents = {Complete(kPermitAll, 0)};
  {
    const ConsentSet set = ConsentSet::Compile("p1", consents, policy, Ms("2025-06-01"));
    EXPECT_TRUE(
        set.Evaluate(test_support::Riverside(), "TREAT", Action::kDisclose, item).permitted());
  }
  consents[0].Set("status", Value::String("inactive"));
  consents[0].Find("meta")->Set("versionId", Value::String("2"));
  const ConsentSet set = ConsentSet::Compile("p1", consents, policy, Ms("2025-06-01"));
  const Decision d = set.Evaluate(test_support::Riverside(), "TREAT", Action::kDisclose, item);
  EXPECT_FALSE(d.permitted());
  EXPECT_EQ(d.reason, Reason::kConsentInactive);
}

// A search result: the caller keeps what is permitted, in order.
TEST(ConsentSet, EvaluateAllForDroppingDeniedEntries) {
  const Policy policy;
  std::vector<Value> consents = {Complete(
      R"({"provision":{"type":"permit","provision":[{"type":"deny","class":[{"code":"Goal"}]}]}})",
      0)};
  const ConsentSet set = ConsentSet::Compile("p1", consents, policy, Ms("2025-06-01"));
  std::vector<Value> resources = {MustParse(kObs), MustParse(kGoal), MustParse(kObsEth),
                                  MustParse(kCarePlan), MustParse(kObsOtherPatient)};
  std::vector<DataItem> items;
  for (const Value& r : resources) {
    items.push_back(DataItem::FromResource(r));
  }
  std::vector<Decision> decisions;
  set.EvaluateAll(test_support::Riverside(), "TREAT", Action::kDisclose, items, decisions);
  ASSERT_EQ(decisions.size(), items.size());
  std::vector<std::string_view> kept;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (decisions[i].permitted()) {
      kept.push_back(items[i].id);
    }
  }
  EXPECT_EQ(kept, (std::vector<std::string_view>{"obs-1", "cp-1"}));
}

TEST(Decision, ExplainsPart2Permit) {
  const Policy policy;
  std::vector<Value> consents = {Complete(
      R"({"id":"roi-7","meta":{"versionId":"2"},"provision":{"type":"permit","actor":[)" RIVERSIDE
      R"(],"purpose":[)" TREAT "]}}",
      0)};
  const ConsentSet set = ConsentSet::Compile("p1", consents, policy, Ms("2025-06-01"));
  const Value cond = MustParse(kSudCondition);
  const Decision d = set.Evaluate(test_support::Riverside(), "TREAT", Action::kDisclose,
                                  DataItem::FromResource(cond));
  EXPECT_EQ(d.Explain(),
            "permit (consent-permit): Consent/roi-7|2 provision decided; 42 CFR Part 2 data; "
            "attach the 42 CFR 2.32 re-disclosure notice; combining deny-wins; default opt-in");
}

TEST(Decision, ExplainsBreakGlass) {
  const Policy policy;
  std::vector<Value> consents = {Complete(R"({"provision":{"type":"deny"}})", 0)};
  const ConsentSet set = ConsentSet::Compile("p1", consents, policy, Ms("2025-06-01"));
  const Value obs = MustParse(kObs);
  const Decision d = set.Evaluate(test_support::CountyEr(), "ETREAT", Action::kDisclose,
                                  DataItem::FromResource(obs));
  EXPECT_EQ(d.Explain(),
            "permit (break-glass): emergency treatment override (ETREAT) of a deny (consent-deny, "
            "Consent/c1|1 provision); flagged as break-the-glass; combining deny-wins; default "
            "opt-in");
}

TEST(Notice, IsTheStatutoryText) {
  EXPECT_TRUE(kRedisclosureNotice.starts_with(
      "This record which has been disclosed to you is protected by Federal confidentiality rules "
      "(42 CFR part 2)."));
  EXPECT_NE(kRedisclosureNotice.find("(see 42 CFR 2.31)."), std::string_view::npos);
}

}  // namespace
}  // namespace carebridge::consent
