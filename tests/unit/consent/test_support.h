#pragma once

// Shared helpers of the consent unit tests: parsing, recipients, decision descriptions.

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "fhir/json/json.h"
#include "fhir/search/search.h"
#include "gateway/consent/consent.h"

namespace carebridge::consent::test_support {

inline fhir::json::Value MustParse(std::string_view text) {
  std::string message;
  Result<fhir::json::Value> v = fhir::json::Parse(text, fhir::json::Limits{}, message);
  EXPECT_TRUE(v.has_value()) << message << "\n" << text;
  return v.has_value() ? std::move(*v) : fhir::json::Value();
}

inline std::int64_t Ms(std::string_view date) {
  auto range = fhir::DateRange(date);
  EXPECT_TRUE(range.has_value()) << date;
  return range ? range->first : 0;
}

// "id|version path", or "" for an empty reference.
inline std::string Describe(const ProvisionRef& ref) {
  if (ref.empty()) {
    return "";
  }
  return std::string(ref.consent_id) + "|" + std::string(ref.version_id) + " " +
         std::string(ref.path);
}

inline Coding RecipientClass(std::string code) {
  return {std::string(kRecipientClassSystem), std::move(code)};
}

inline constexpr std::string_view kRegistryRoles = "https://carebridge.example.org/partner-kind";

// The partners the tests disclose to.
inline Recipient Riverside() {  // a CMHC: EHR partner, HIPAA covered entity, no ETREAT
  return {"riverside",
          "Organization/riverside-cmhc",
          {{std::string(kRegistryRoles), "ehr"}, RecipientClass("covered-entity")},
          {},
          false};
}
inline Recipient CountyEr() {  // an emergency department allowed to claim ETREAT
  return {"county-er",
          "Organization/county-er",
          {{std::string(kRegistryRoles), "ehr"}, RecipientClass("covered-entity")},
          {},
          true};
}
inline Recipient HousingAgency() {  // a community agency, not a HIPAA entity
  return {"housing-first",
          "Organization/housing-first",
          {{std::string(kRegistryRoles), "agency"}},
          {},
          false};
}
inline Recipient ClinicNurse() {  // Good Health Clinic, with the acting nurse asserted
  return {"good-health-clinic",
          "Organization/good-health-clinic",
          {{std::string(kRegistryRoles), "ehr"}},
          {"Practitioner/nurse-1"},
          false};
}

}  // namespace carebridge::consent::test_support
