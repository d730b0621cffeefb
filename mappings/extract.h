#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/json/value.h"
#include "fhir/outcome.h"
#include "mappings/questionnaire.h"

namespace carebridge::mappings {

// $extract (SDC style, done in code rather than a StructureMap): a completed QuestionnaireResponse
// to the resources it implies. Pure and deterministic: the same response always gives the same
// resources with the same ids, so running it twice and storing "create if absent" changes nothing.

// Code systems carebridge defines for what it extracts.
inline constexpr std::string_view kSdohCategorySystem =
    "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes";
inline constexpr std::string_view kCansItemSystem =
    "https://carebridge.dev/fhir/CodeSystem/cans-item";
inline constexpr std::string_view kCansRatingSystem =
    "https://carebridge.dev/fhir/CodeSystem/cans-rating";
// Observation.interpretation / Condition meta.tag of a CANS rating: no-evidence, watch, action,
// immediate (needs); centerpiece, useful, identified, not-identified (strengths).
inline constexpr std::string_view kCansActionSystem =
    "https://carebridge.dev/fhir/CodeSystem/cans-action-level";
// ServiceRequest.code of the proposed community referrals (food-assistance, housing-navigation,
// shelter-placement, transportation-assistance, safety-advocacy), next to SNOMED CT where one fits.
inline constexpr std::string_view kReferralServiceSystem =
    "https://carebridge.dev/fhir/CodeSystem/referral-service";

enum class Instrument { kPrapare, kCans, kOther };
// PRAPARE: the SDOHCC canonical (any version). CANS: kCansCanonical. Anything else extracts
// generically (one Observation per answered item that has a code).
Instrument InstrumentOf(const Questionnaire& questionnaire);

// The id of an extracted resource: `prefix` + "-" + 16 hex digits of a 64-bit FNV-1a hash of the
// response id and `key` (the item's linkId, the need, ...). Stable across runs and builds.
std::string DerivedId(std::string_view prefix, std::string_view response_id, std::string_view key);

// Extracts from `response`, which must already have passed ValidateResponse against
// `questionnaire`, be completed or amended, and carry an id and a subject reference. Resources
// come out in a fixed order (Observations, Conditions, Goals, ServiceRequests, CarePlan), each with
// resourceType and id and referring to the others by "Type/id":
//  PRAPARE: one Observation per answered question (LOINC code of the item, categories
//   social-history, survey and sdoh, derivedFrom the response); a Condition for each positive
//   finding (homelessness, housing instability, food insecurity, transportation insecurity,
//   stress, safety / intimate partner violence) coded SNOMED CT + ICD-10-CM as the SDOH Clinical
//   Care IG does, categories health-concern, sdoh and the SDOH domain, evidence the Observations;
//   a draft ServiceRequest (intent proposal) per need that has a community service.
//  CANS: one Observation per rated item, interpreted by its action level; each need rated 2 or 3
//   a Condition flagged for action (3 = immediate, severity severe) and a proposed Goal; a draft
//   CarePlan addressing them, holding the Goals, the referrals and the usable strengths (rated 0
//   or 1) as supportingInfo; draft ServiceRequests for needs with a community service.
// Problems (no id, no subject, not completed) go to `outcome`; nullopt then.
std::optional<std::vector<fhir::json::Value>> Extract(const Questionnaire& questionnaire,
                                                      const fhir::json::Value& response,
                                                      fhir::Outcome& outcome);

}  // namespace carebridge::mappings
