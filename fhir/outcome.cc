#include "fhir/outcome.h"

#include <algorithm>
#include <utility>

namespace carebridge::fhir {

std::string_view ToCode(Severity severity) {
  switch (severity) {
    case Severity::kFatal:
      return "fatal";
    case Severity::kError:
      return "error";
    case Severity::kWarning:
      return "warning";
    case Severity::kInformation:
      return "information";
  }
  return "error";
}

std::string_view ToCode(IssueType type) {
  switch (type) {
    case IssueType::kInvalid:
      return "invalid";
    case IssueType::kStructure:
      return "structure";
    case IssueType::kRequired:
      return "required";
    case IssueType::kValue:
      return "value";
    case IssueType::kInvariant:
      return "invariant";
    case IssueType::kSecurity:
      return "security";
    case IssueType::kLogin:
      return "login";
    case IssueType::kForbidden:
      return "forbidden";
    case IssueType::kProcessing:
      return "processing";
    case IssueType::kNotSupported:
      return "not-supported";
    case IssueType::kDuplicate:
      return "duplicate";
    case IssueType::kNotFound:
      return "not-found";
    case IssueType::kDeleted:
      return "deleted";
    case IssueType::kTooLong:
      return "too-long";
    case IssueType::kCodeInvalid:
      return "code-invalid";
    case IssueType::kConflict:
      return "conflict";
    case IssueType::kTooCostly:
      return "too-costly";
    case IssueType::kException:
      return "exception";
    case IssueType::kTimeout:
      return "timeout";
    case IssueType::kThrottled:
      return "throttled";
    case IssueType::kInformational:
      return "informational";
  }
  // Out-of-range enum values are a programming error; "exception" is the R4 code for those.
  return "exception";
}

void Outcome::Add(Severity severity, IssueType type, std::string expression,
                  std::string diagnostics) {
  issues_.push_back(Issue{severity, type, std::move(expression), std::move(diagnostics)});
}

void Outcome::Append(const Outcome& other) {
  issues_.insert(issues_.end(), other.issues_.begin(), other.issues_.end());
}

bool Outcome::HasErrors() const {
  return std::any_of(issues_.begin(), issues_.end(), [](const Issue& i) {
    return i.severity == Severity::kFatal || i.severity == Severity::kError;
  });
}

json::Value Outcome::ToResource() const {
  json::Value resource = json::Value::Object();
  resource.Set("resourceType", json::Value::String("OperationOutcome"));
  json::Value& list = resource.Set("issue", json::Value::Array());
  auto add = [&list](const Issue& issue) {
    json::Value entry = json::Value::Object();
    entry.Set("severity", json::Value::String(std::string(ToCode(issue.severity))));
    entry.Set("code", json::Value::String(std::string(ToCode(issue.type))));
    // FHIR forbids empty strings and arrays, so absent parts are left out rather than sent empty.
    if (!issue.diagnostics.empty()) {
      entry.Set("diagnostics", json::Value::String(issue.diagnostics));
    }
    if (!issue.expression.empty()) {
      json::Value expressions = json::Value::Array();
      expressions.PushBack(json::Value::String(issue.expression));
      entry.Set("expression", std::move(expressions));
    }
    list.PushBack(std::move(entry));
  };
  if (issues_.empty()) {
    add(Issue{Severity::kInformation, IssueType::kInformational, {}, "All OK"});
  }
  for (const Issue& issue : issues_) {
    add(issue);
  }
  return resource;
}

Outcome MakeOutcome(IssueType type, std::string diagnostics, std::string expression) {
  Outcome outcome;
  outcome.Error(type, std::move(expression), std::move(diagnostics));
  return outcome;
}

}  // namespace carebridge::fhir
