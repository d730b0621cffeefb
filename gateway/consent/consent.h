#pragma once

// The release-of-information decision engine (DESIGN.md capability 3): a patient's FHIR R4
// Consent resources, a recipient, a purpose of use, an action and one resource in; permit or
// deny, with the consent and provision that decided and the obligations attached, out.
//
// Pure: no I/O, no clock, no cache. The caller compiles the patient's consents once per request
// (ConsentSet::Compile) and evaluates every resource it is about to disclose against the result;
// nothing survives the request, so a revocation or expiry stored before the next request takes
// effect on it.
//
// How FHIR R4 Consent is read here (http://hl7.org/fhir/R4/consent.html):
//  - Only Consents with scope patient-privacy (consentscope), patient = Patient/<this patient>
//    and status active count. inactive (R4's revocation), entered-in-error, proposed, draft and
//    rejected never permit nor deny. Consent.provision.period on the base provision is the
//    consent's validity: outside it the consent is expired (or not yet valid) and ignored.
//  - A provision applies when every element it has matches; an absent element matches anything.
//    Elements that are lists (actor, action, securityLabel, purpose, class, code, data) match
//    when any entry matches.
//  - Nested provisions are exceptions to their parent: a nested provision is only considered
//    when its parent applies, and when any child applies the children decide instead of the
//    parent. Among applying siblings deny wins; so the deepest applying provision of each branch
//    decides and a deny at the same level beats a permit.
//  - provision.type: when absent on the base provision, deny if Consent.policyRule is OPTOUT and
//    permit otherwise; when absent on a nested provision, the opposite of its parent (it is an
//    exception).
//  - actor: an actor with role CST (custodian) names who holds the data; it matches when its
//    reference is the item's custodian or one of Policy::custodians. Any other role names a
//    recipient side (PRCP, IRCP, DELEGATEE...): it matches when actor.reference is the
//    recipient's Organization or one of its individuals; an actor without reference (not valid
//    R4, but how a class of recipients is written) matches when a role Coding equals one of the
//    recipient's roles. When both kinds are present, one of each must match.
//  - action (consentaction): "access" and "disclose" are one class, because a read by another
//    party is an access by them and a disclosure by us: either code matches either action.
//    collect, use and correct match only themselves. The gateway passes kDisclose for reads,
//    searches and referral deliveries.
//  - purpose: Coding equality with the request's v3-ActReason code (a Coding without system
//    matches on code). No subsumption: a TREAT provision does not cover ETREAT.
//  - securityLabel: the data carries one of the labels (system+code equal). No confidentiality
//    high-water marks.
//  - class: a Coding of http://hl7.org/fhir/resource-types (or without system) matches the
//    resource type. Other class systems (profiles, formats) are not understood: they match in a
//    deny provision and never in a permit, so a misunderstanding can only withhold data; a
//    warning is recorded in issues().
//  - code: any Coding of the provision's CodeableConcepts equals one of DataItem::codes.
//  - dataPeriod: the start of the item's ClinicalDate lies in [start, end], both ends at their
//    own precision (end "2015-02-01" includes that whole day). An item without a date does not
//    match.
//  - provision.period: `now` lies in [start, end] the same way.
//  - data (consent-data-meaning, read by its R4 definitions): instance = the item is the
//    reference; related = the item is the reference or the reference's resource refers to the
//    item (which needs that resource: pass it to Compile in `referenced`); dependents = the item
//    is the reference or refers to it; authoredby = one of the item's authors is the reference.
//
// Across several applying consents, Policy::combining decides (deny-wins by default, or the most
// recent by Consent.dateTime, then meta.lastUpdated; ties fall back to deny-wins). When no
// consent applies, Policy::default_policy decides (opt-in: deny; opt-out: permit the
// opt-out purposes).
//
// 42 CFR Part 2: an item is Part 2 data when it carries a Part 2 label or a SUD code
// (SensitivityRules). It is released only by a consent permit whose provision path (the deciding
// provision and its ancestors) names the purpose and either names the recipient (actor
// reference = its Organization or individual) or names a recipient class of
// Policy::part2_recipient_classes that the recipient has, with a purpose of
// Policy::part2_class_purposes. The class route is our reading of the 2024 rule (89 FR 12472,
// 42 CFR 2.31(a)(4)): a single consent for all future treatment, payment and health care
// operations may designate recipients generally, e.g. as HIPAA covered entities and business
// associates. A generic permit (no actor or no purpose) and the opt-out default never release
// Part 2 data. Every permitted Part 2 disclosure carries the re-disclosure notice obligation.
//
// Break-the-glass: a deny (consent, default or Part 2) is overridden for the actions
// access/disclose when the purpose is ETREAT and Recipient::may_break_glass. The decision is
// flagged. Part 2 data is included: 42 CFR 2.51 allows disclosure to medical personnel in a
// bona fide medical emergency without consent; it still carries the notice. A wrong-patient
// item is never overridden.
//
// Element-level redaction is not done: a provision that denies a resource denies all of it, and
// the caller drops denied resources from lists (EvaluateAll).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/json/value.h"
#include "fhir/outcome.h"
#include "gateway/consent/data_item.h"
#include "gateway/consent/sensitivity.h"

namespace carebridge::consent {

inline constexpr std::string_view kActReasonSystem =
    "http://terminology.hl7.org/CodeSystem/v3-ActReason";
inline constexpr std::string_view kConsentActionSystem =
    "http://terminology.hl7.org/CodeSystem/consentaction";
inline constexpr std::string_view kConsentScopeSystem =
    "http://terminology.hl7.org/CodeSystem/consentscope";
inline constexpr std::string_view kParticipationTypeSystem =
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
inline constexpr std::string_view kResourceTypesSystem = "http://hl7.org/fhir/resource-types";
// carebridge's own code system for classes of recipients a consent may name (no standard one
// exists): "covered-entity" (HIPAA covered entity), "business-associate" (HIPAA business
// associate).
inline constexpr std::string_view kRecipientClassSystem =
    "https://carebridge.example.org/fhir/CodeSystem/recipient-class";

// 42 CFR 2.32(a)(1), Statement 1 as revised by the 2024 final rule: attach to every disclosure of
// Part 2 data made with the patient's consent.
inline constexpr std::string_view kRedisclosureNotice =
    "This record which has been disclosed to you is protected by Federal confidentiality rules "
    "(42 CFR part 2). These rules prohibit you from using or disclosing this record, or testimony "
    "that describes the information contained in this record, in any civil, criminal, "
    "administrative, or legislative proceedings by any Federal, State, or local authority, "
    "against the patient, unless authorized by the consent of the patient, except as provided "
    "at 42 CFR 2.12(c)(5) or as authorized by a court in accordance with 42 CFR 2.64 or 2.65. In "
    "addition, the Federal rules prohibit you from making any other use or disclosure of this "
    "record unless at least one of the following applies: (i) Further use or disclosure is "
    "expressly permitted by the written consent of the individual whose information is being "
    "disclosed in this record or as otherwise permitted by 42 CFR part 2. (ii) You are a covered "
    "entity or business associate and have received the record for treatment, payment, or "
    "health care operations, or (iii) You have received the record from a covered entity or "
    "business associate as permitted by 45 CFR part 164, subparts A and E. A general "
    "authorization for the release of medical or other information is NOT sufficient to meet "
    "the required elements of written consent to further use or redisclose the record "
    "(see 42 CFR 2.31).";

// consentaction codes.
enum class Action { kAccess, kDisclose, kCollect, kUse, kCorrect };
std::string_view ToCode(Action action);

enum class Effect { kPermit, kDeny };
std::string_view ToCode(Effect effect);

enum class DefaultPolicy { kOptIn, kOptOut };
std::string_view ToCode(DefaultPolicy policy);  // "opt-in" / "opt-out"

enum class Combining { kDenyWins, kMostRecentWins };
std::string_view ToCode(Combining combining);  // "deny-wins" / "most-recent-wins"

enum class Reason {
  kNoConsentDefault,  // no consent applies; opt-in (or opt-out for another purpose) denies
  kConsentInactive,   // as kNoConsentDefault, and the patient's only consents are inactive
  kConsentExpired,    // as kNoConsentDefault, and the patient's only consents are out of period
  kDefaultOptOut,     // no consent applies; opt-out permits this purpose
  kConsentPermit,
  kConsentDeny,
  kPart2RequiresExplicitConsent,  // Part 2 data, and nothing named recipient and purpose
  kBreakGlass,
  kWrongPatient,  // the item belongs to another patient than the compiled consents
};
std::string_view ToCode(Reason reason);  // "no-consent-default", "consent-permit", ...

struct Coding {
  std::string system;
  std::string code;
};

// Who receives the data.
struct Recipient {
  std::string partner_id;    // the partner registry's id, for explanations
  std::string organization;  // "Organization/<id>"
  // Kinds and roles of the partner (registry role codes, kRecipientClassSystem classes...),
  // matched against consent actors that name a role but no reference.
  std::vector<Coding> roles;
  // Practitioner / PractitionerRole references of the person acting, when the partner asserts
  // them; a consent actor naming one of them names this recipient.
  std::vector<std::string> individuals;
  // The partner registry allows this partner to claim the ETREAT purpose (break-the-glass).
  bool may_break_glass = false;
};

struct Policy {
  DefaultPolicy default_policy = DefaultPolicy::kOptIn;
  Combining combining = Combining::kDenyWins;
  // Purposes (v3-ActReason codes) the opt-out default permits.
  std::vector<std::string> opt_out_purposes = {"TREAT"};
  SensitivityRules sensitivity = SensitivityRules::Default();
  // Recipient classes a Part 2 consent may name instead of the recipient itself, and the
  // purposes for which that is enough.
  std::vector<Coding> part2_recipient_classes = {
      {std::string(kRecipientClassSystem), "covered-entity"},
      {std::string(kRecipientClassSystem), "business-associate"}};
  std::vector<std::string> part2_class_purposes = {"TREAT", "HPAYMT", "HOPERAT"};
  // Organizations ("Organization/<id>") the gateway holds data for: consent actors in the
  // custodian role naming one of them apply to every item.
  std::vector<std::string> custodians;
};

// A consent provision, for explanations and the audit record. Views into the ConsentSet.
struct ProvisionRef {
  std::string_view consent_id;
  std::string_view version_id;  // meta.versionId; empty when the resource had none
  std::string_view path;        // "provision", "provision.provision[1]", ...
  bool empty() const { return consent_id.empty(); }
};

struct Obligations {
  bool attach_redisclosure_notice = false;  // kRedisclosureNotice goes with the data
  bool flag_break_glass = false;            // audit and respond with the override marked
};

// REQUIRES: the ConsentSet that produced a Decision outlives it (ProvisionRef views).
struct Decision {
  Effect effect = Effect::kDeny;
  Reason reason = Reason::kNoConsentDefault;
  ProvisionRef decided_by;  // empty for default-policy and wrong-patient decisions
  Combining combining = Combining::kDenyWins;
  DefaultPolicy default_policy = DefaultPolicy::kOptIn;
  bool part2 = false;  // the item is Part 2 (SUD) data
  bool break_glass = false;
  // For break-glass: the deny that was overridden.
  Reason overridden_reason = Reason::kNoConsentDefault;
  ProvisionRef overridden;
  Obligations obligations;

  bool permitted() const { return effect == Effect::kPermit; }
  // One line for privacy officers, e.g. "deny (consent-deny): Consent/abc|2
  // provision.provision[1] decided; combining deny-wins; default opt-in".
  std::string Explain() const;
};

// A patient's consents, compiled for one request.
class ConsentSet {
 public:
  // Compiles `consents` (the patient's Consent resources, as stored, with meta.versionId) for
  // `patient_id` as of `now_ms` (epoch ms UTC; the request's time). `referenced` are the
  // resources named by provision.data with meaning "related" that the caller could load; without
  // them "related" matches only the named resource itself. Consents of other patients, of
  // another scope or not active are skipped and counted; consents that cannot be understood
  // are skipped with an issue in issues(). Never fails.
  // REQUIRES: `policy` outlives the ConsentSet (it is configuration).
  static ConsentSet Compile(std::string_view patient_id,
                            std::span<const fhir::json::Value> consents, const Policy& policy,
                            std::int64_t now_ms,
                            std::span<const fhir::json::Value> referenced = {});
  // The set keeps a pointer to the policy: a temporary one would dangle.
  static ConsentSet Compile(std::string_view, std::span<const fhir::json::Value>, Policy&&,
                            std::int64_t, std::span<const fhir::json::Value> = {}) = delete;

  // The decision for disclosing `item` to `recipient` for `purpose` (a v3-ActReason code:
  // TREAT, HPAYMT, HOPERAT, ETREAT...). Cheap: no allocation except for the explanation.
  Decision Evaluate(const Recipient& recipient, std::string_view purpose, Action action,
                    const DataItem& item) const;

  // Evaluate for each item; out[i] is items[i]'s decision. The caller drops the denied ones.
  void EvaluateAll(const Recipient& recipient, std::string_view purpose, Action action,
                   std::span<const DataItem> items, std::vector<Decision>& out) const;

  // Consents skipped while compiling, by cause.
  struct Skipped {
    int inactive = 0;
    int entered_in_error = 0;
    int not_active = 0;  // proposed, draft, rejected
    int expired = 0;
    int not_yet_valid = 0;
    int other_patient = 0;
    int other_scope = 0;
    int malformed = 0;
  };
  const Skipped& skipped() const { return skipped_; }
  // Consents in force (active, in scope, for this patient, in period).
  std::size_t size() const;
  // Warnings and skipped malformed consents, with FHIRPath expressions like
  // "Consent/abc.provision.dataPeriod.end".
  const fhir::Outcome& issues() const { return issues_; }

  ConsentSet(ConsentSet&&) noexcept;
  ConsentSet& operator=(ConsentSet&&) noexcept;
  ~ConsentSet();

  struct Compiled;  // implementation detail (consent.cc)

 private:
  ConsentSet() = default;

  const Policy* policy_ = nullptr;
  std::string patient_id_;
  std::vector<Compiled> consents_;  // in force; newest first under kMostRecentWins
  Skipped skipped_;
  fhir::Outcome issues_;
};

}  // namespace carebridge::consent
