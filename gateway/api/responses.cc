#include "gateway/api/responses.h"

#include "fhir/json/json.h"
#include "gateway/store/store.h"

namespace carebridge::api {

using fhir::IssueType;

ErrorMapping MapError(std::error_code error) {
  if (error.category() == fhir::json::json_category()) {
    switch (static_cast<fhir::json::errc>(error.value())) {
      case fhir::json::errc::kTooDeep:
      case fhir::json::errc::kStringTooLong:
      case fhir::json::errc::kTooManyItems:
        return {400, IssueType::kTooCostly};
      default:
        return {400, IssueType::kStructure};
    }
  }
  if (error.category() == store::store_category()) {
    switch (static_cast<store::errc>(error.value())) {
      case store::errc::kNotFound:
        return {404, IssueType::kNotFound};
      case store::errc::kGone:
        return {410, IssueType::kDeleted};
      case store::errc::kVersionConflict:
      case store::errc::kMultipleMatches:
        return {412, IssueType::kConflict};
      case store::errc::kUnsupportedQuery:
        return {400, IssueType::kNotSupported};
      case store::errc::kClosed:
        return {503, IssueType::kProcessing};
      case store::errc::kIo:
        return {500, IssueType::kException};
    }
  }
  return {500, IssueType::kException};
}

HttpResponse OutcomeResponse(int status, const fhir::Outcome& outcome) {
  HttpResponse response;
  response.status = status;
  response.headers.emplace_back("content-type", std::string(kFhirJsonType));
  response.body = fhir::json::Write(outcome.ToResource());
  return response;
}

HttpResponse JsonResponse(int status, const fhir::json::Value& resource) {
  HttpResponse response;
  response.status = status;
  response.headers.emplace_back("content-type", std::string(kFhirJsonType));
  response.body = fhir::json::Write(resource);
  return response;
}

HttpResponse ErrorResponse(int status, IssueType type, std::string diagnostics,
                           std::string expression) {
  return OutcomeResponse(status,
                         fhir::MakeOutcome(type, std::move(diagnostics), std::move(expression)));
}

HttpResponse ErrorResponse(std::error_code error, std::string diagnostics, std::string expression) {
  ErrorMapping mapping = MapError(error);
  return ErrorResponse(mapping.status, mapping.type, std::move(diagnostics), std::move(expression));
}

}  // namespace carebridge::api
