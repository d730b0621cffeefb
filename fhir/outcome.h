#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "fhir/json/value.h"

namespace carebridge::fhir {

// FHIR R4 issue-severity and issue-type codes (http://hl7.org/fhir/R4/valueset-issue-type.html).
enum class Severity { kFatal, kError, kWarning, kInformation };
enum class IssueType {
  kInvalid,
  kStructure,
  kRequired,
  kValue,
  kInvariant,
  kSecurity,
  kLogin,
  kForbidden,
  kProcessing,
  kNotSupported,
  kDuplicate,
  kNotFound,
  kDeleted,
  kTooLong,
  kCodeInvalid,
  kConflict,
  kTooCostly,
  kException,
  kTimeout,
  kThrottled,
  kInformational,
};

std::string_view ToCode(Severity severity);
std::string_view ToCode(IssueType type);

struct Issue {
  Severity severity = Severity::kError;
  IssueType type = IssueType::kInvalid;
  // FHIRPath of the element at fault, e.g. "Task.input[2].value"; empty when not about an element.
  std::string expression;
  std::string diagnostics;
};

// Problems found in a partner's data accumulate here and are returned, never thrown
// (google/fhir's ErrorReporter, simplified).
class Outcome {
 public:
  void Add(Severity severity, IssueType type, std::string expression, std::string diagnostics);
  void Error(IssueType type, std::string expression, std::string diagnostics) {
    Add(Severity::kError, type, std::move(expression), std::move(diagnostics));
  }
  void Append(const Outcome& other);

  bool HasErrors() const;
  bool empty() const { return issues_.empty(); }
  const std::vector<Issue>& issues() const { return issues_; }

  // The OperationOutcome resource. An empty outcome renders one informational "All OK" issue so
  // that the resource is valid (OperationOutcome.issue is 1..*).
  json::Value ToResource() const;

 private:
  std::vector<Issue> issues_;
};

// Shorthand for the common single-issue outcome.
Outcome MakeOutcome(IssueType type, std::string diagnostics, std::string expression = {});

}  // namespace carebridge::fhir
