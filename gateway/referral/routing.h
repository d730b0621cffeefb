#pragma once

// Routing rules: which community agency receives a referral. The rules are configuration data
// (the `referrals.routes` section of the gateway config); this module is pure.
//
// A rule offers one agency's service for some ServiceRequest categories and/or codes, optionally
// in some languages, in some service areas and up to a declared capacity of open referrals.
// Route() picks among the rules that match:
//   1. match: any of the referral's category Codings, or any of its code Codings, equals one the
//      rule lists (system and code; a rule Coding without system matches on code);
//   2. area: a rule with service areas matches only a patient whose area is one of them (a
//      patient of unknown area matches only rules without areas);
//   3. capacity: a rule whose agency already holds `capacity` open referrals is full;
//   then ranks the survivors, best first:
//   a. language: a rule offering the patient's first language beats one offering the second,
//      which beats one offering none (culturally and linguistically matched services first;
//      "es-MX" matches "es" on the primary subtag);
//   b. specificity: a rule that matched the ServiceRequest's code beats one that matched only its
//      category;
//   c. the rule's configured priority (lower first);
//   d. remaining capacity (more first; unlimited counts as most);
//   e. the agency id, then the rule's position in the table: ties end deterministically.
// No survivor: a decision without a rule ("no agency"), with the reason.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/base/result.h"
#include "fhir/json/value.h"

namespace carebridge::referral {

// The SDOH Clinical Care IG's category code system.
inline constexpr std::string_view kSdohCategorySystem =
    "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes";

struct RouteCoding {
  std::string system;  // empty: any system
  std::string code;
};

struct RouteRule {
  std::string agency;        // the agency's partner id, e.g. "harbor-housing"
  std::string organization;  // its Organization reference, "Organization/harbor-housing"
  std::string service;       // its HealthcareService reference, when there is one
  std::vector<RouteCoding> categories;
  std::vector<RouteCoding> codes;
  std::vector<std::string> languages;      // BCP 47 tags the service is offered in
  std::vector<std::string> service_areas;  // area codes (postal codes); empty: everywhere
  std::optional<int> capacity;             // open referrals it takes; nullopt: no limit
  int priority = 100;
};

struct RoutingTable {
  std::vector<RouteRule> rules;

  // Reads `routes`: an array of rule objects with the member names of RouteRule
  // ("service_areas" etc.; categories/codes as {"system", "code"} or "system|code" strings).
  // Unknown members are errors; `message` names the offending path.
  static Result<RoutingTable> FromJson(const fhir::json::Value& routes, std::string& message);
};

// What the rules look at, taken from the ServiceRequest and the patient.
struct RoutingRequest {
  std::vector<RouteCoding> categories;
  std::vector<RouteCoding> codes;
  std::vector<std::string> languages;  // the patient's, preferred first
  std::string area;                    // the patient's area (home postal code); empty: unknown
};

// ServiceRequest.category and .code Codings; Patient.communication languages (preferred ones
// first, then in order); the postal code of the patient's home address (else the first address).
// `patient` may be null.
RoutingRequest MakeRoutingRequest(const fhir::json::Value& service_request,
                                  const fhir::json::Value* patient);

struct RoutingDecision {
  const RouteRule* rule = nullptr;  // the chosen rule (points into the table); null: no agency
  // Why: the chosen rule and what ranked it first, or why nothing matched (for the timeline and
  // the coordinator's alert).
  std::string reason;
};

// Chooses the agency for `request`. `open_referrals` holds each agency's (partner id) current
// count of open referrals; agencies not in it have none.
RoutingDecision Route(const RoutingTable& table, const RoutingRequest& request,
                      const std::map<std::string, int, std::less<>>& open_referrals);

}  // namespace carebridge::referral
