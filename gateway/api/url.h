#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace carebridge::api {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// Decodes %XX escapes; with `plus_is_space` also '+' (application/x-www-form-urlencoded).
// nullopt for a malformed escape or a decoded NUL byte.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space);

// Splits "a=1&b=x%20y" into decoded pairs, in order. nullopt when an escape is malformed.
std::optional<QueryParams> ParseQuery(std::string_view query);

// An origin-form request target split into decoded path segments and query parameters.
struct Target {
  std::vector<std::string> segments;  // "/fhir/Patient/1" -> {"fhir", "Patient", "1"}
  std::string raw_query;              // without '?', still encoded
  QueryParams query;
};
// nullopt when the target is not origin-form or an escape is malformed. A trailing slash is
// dropped ("/fhir/" -> {"fhir"}); empty segments in between are kept so "a//b" cannot alias "a/b".
std::optional<Target> ParseTarget(std::string_view target);

}  // namespace carebridge::api
