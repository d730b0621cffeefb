#pragma once

#include <string>
#include <string_view>
#include <system_error>

#include "fhir/json/value.h"
#include "fhir/outcome.h"
#include "gateway/api/http.h"

namespace carebridge::api {

inline constexpr std::string_view kFhirJsonType = "application/fhir+json; charset=utf-8";

// The one table from module error codes (json, store, ...) to an HTTP status and FHIR issue type.
struct ErrorMapping {
  int status;
  fhir::IssueType type;
};
ErrorMapping MapError(std::error_code error);

HttpResponse OutcomeResponse(int status, const fhir::Outcome& outcome);
// `resource` as application/fhir+json with `status`.
HttpResponse JsonResponse(int status, const fhir::json::Value& resource);
HttpResponse ErrorResponse(int status, fhir::IssueType type, std::string diagnostics,
                           std::string expression = {});
// `error` mapped through MapError, with `diagnostics` as the message.
HttpResponse ErrorResponse(std::error_code error, std::string diagnostics,
                           std::string expression = {});

}  // namespace carebridge::api
