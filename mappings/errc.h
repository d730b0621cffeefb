#pragma once

#include <system_error>

namespace carebridge::mappings {

// Code-level failures of the mapping module. Problems in a partner's data or in a definition a
// partner's onboarding engineer wrote go to a fhir::Outcome instead; these name why a call as a
// whole produced nothing.
enum class errc {
  kBadExpression = 1,  // a FHIRPath expression outside the supported subset or malformed
  kBadDefinition,      // a mapping definition or ConceptMap that does not validate
};
const std::error_category& mappings_category();
std::error_code make_error_code(errc e);

}  // namespace carebridge::mappings

template <>
struct std::is_error_code_enum<carebridge::mappings::errc> : std::true_type {};
