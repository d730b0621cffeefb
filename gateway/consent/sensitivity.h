#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "fhir/json/value.h"

namespace carebridge::consent {

inline constexpr std::string_view kActCodeSystem =
    "http://terminology.hl7.org/CodeSystem/v3-ActCode";
// The v3-ActCode sensitivity label the gateway puts on substance-use-disorder data.
inline constexpr std::string_view kPart2Label = "ETH";

// One code, or a family of codes sharing a prefix ("F10" covers F10, F10.20, F10.239...).
struct CodePattern {
  std::string system;
  std::string code;
  bool prefix = false;
};

// Which data is substance-use-disorder information protected by 42 CFR Part 2.
struct SensitivityRules {
  // Codes that make data SUD information.
  std::vector<CodePattern> sud_codes;
  // v3-ActCode security labels that mark data as Part 2 data (ETH and its specialisations).
  std::vector<std::string> part2_labels;

  // A deliberately small, conservative default, meant to be extended in configuration:
  //  - ICD-10-CM and ICD-10 F10-F16, F18, F19 (mental and behavioural disorders due to alcohol,
  //    opioids, cannabinoids, sedatives, cocaine, other stimulants, hallucinogens, inhalants,
  //    other/multiple substances). F17 (nicotine) is left out: Part 2's definition of SUD
  //    (42 CFR 2.11) excludes tobacco and caffeine.
  //  - SNOMED CT disorders: 7200002 alcoholism, 15167005 alcohol abuse, 66214007 substance abuse,
  //    26416006 drug abuse, 191816009 drug dependence, 5602001 opioid abuse,
  //    75544000 opioid dependence.
  //  - labels ETH, ETHUD, OPIOIDUD, SUD (v3-ActCode information sensitivity codes).
  static SensitivityRules Default();

  bool IsSudCode(std::string_view system, std::string_view code) const;
  bool IsPart2Label(std::string_view system, std::string_view code) const;
};

// Adds the security label ETH (kActCodeSystem) to resource.meta.security when the resource (or
// a resource it contains) carries a code that `rules` mark as SUD and it has no Part 2 label
// yet, so that SUD data stays protected once stored even when the partner did not label it.
// Creates meta (right after id) when absent. Returns true when it added the label. Pure: touches
// nothing but `resource`.
bool LabelSensitive(fhir::json::Value& resource, const SensitivityRules& rules);

}  // namespace carebridge::consent
