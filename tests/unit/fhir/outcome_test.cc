#include "fhir/outcome.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "fhir/json/json.h"

namespace carebridge::fhir {
namespace {

TEST(Outcome, SeverityCodes) {
  EXPECT_EQ(ToCode(Severity::kFatal), "fatal");
  EXPECT_EQ(ToCode(Severity::kError), "error");
  EXPECT_EQ(ToCode(Severity::kWarning), "warning");
  EXPECT_EQ(ToCode(Severity::kInformation), "information");
}

TEST(Outcome, IssueTypeCodesMatchR4) {
  const std::pair<IssueType, std::string_view> expected[] = {
      {IssueType::kInvalid, "invalid"},
      {IssueType::kStructure, "structure"},
      {IssueType::kRequired, "required"},
      {IssueType::kValue, "value"},
      {IssueType::kInvariant, "invariant"},
      {IssueType::kSecurity, "security"},
      {IssueType::kLogin, "login"},
      {IssueType::kForbidden, "forbidden"},
      {IssueType::kProcessing, "processing"},
      {IssueType::kNotSupported, "not-supported"},
      {IssueType::kDuplicate, "duplicate"},
      {IssueType::kNotFound, "not-found"},
      {IssueType::kDeleted, "deleted"},
      {IssueType::kTooLong, "too-long"},
      {IssueType::kCodeInvalid, "code-invalid"},
      {IssueType::kConflict, "conflict"},
      {IssueType::kTooCostly, "too-costly"},
      {IssueType::kException, "exception"},
      {IssueType::kTimeout, "timeout"},
      {IssueType::kThrottled, "throttled"},
      {IssueType::kInformational, "informational"},
  };
  std::set<std::string_view> seen;
  for (const auto& [type, code] : expected) {
    EXPECT_EQ(ToCode(type), code);
    seen.insert(ToCode(type));
  }
  EXPECT_EQ(seen.size(), std::size(expected));
}

TEST(Outcome, EmptyOutcomeRendersAllOk) {
  Outcome outcome;
  EXPECT_TRUE(outcome.empty());
  EXPECT_FALSE(outcome.HasErrors());
  EXPECT_EQ(json::Write(outcome.ToResource()),
            R"({"resourceType":"OperationOutcome","issue":[{"severity":"information",)"
            R"("code":"informational","diagnostics":"All OK"}]})");
}

TEST(Outcome, AddErrorAndAppend) {
  Outcome a;
  a.Add(Severity::kWarning, IssueType::kValue, "Patient.gender", "odd");
  EXPECT_FALSE(a.HasErrors());
  EXPECT_FALSE(a.empty());
  Outcome b;
  b.Error(IssueType::kRequired, "CarePlan.subject", "CarePlan.subject is required");
  EXPECT_TRUE(b.HasErrors());
  a.Append(b);
  ASSERT_EQ(a.issues().size(), 2u);
  EXPECT_TRUE(a.HasErrors());
  EXPECT_EQ(a.issues()[1].severity, Severity::kError);
  EXPECT_EQ(a.issues()[1].type, IssueType::kRequired);
  EXPECT_EQ(a.issues()[1].expression, "CarePlan.subject");
  EXPECT_EQ(a.issues()[1].diagnostics, "CarePlan.subject is required");

  Outcome fatal;
  fatal.Add(Severity::kFatal, IssueType::kException, "", "boom");
  EXPECT_TRUE(fatal.HasErrors());
}

TEST(Outcome, ToResourceListsIssuesInOrderWithExpressionOnlyWhenSet) {
  Outcome outcome;
  outcome.Error(IssueType::kCodeInvalid, "Task.input[2].value", "bad \"code\"");
  outcome.Add(Severity::kWarning, IssueType::kInformational, "", "note");
  EXPECT_EQ(json::Write(outcome.ToResource()),
            R"({"resourceType":"OperationOutcome","issue":[)"
            R"({"severity":"error","code":"code-invalid","diagnostics":"bad \"code\"",)"
            R"("expression":["Task.input[2].value"]},)"
            R"({"severity":"warning","code":"informational","diagnostics":"note"}]})");
}

TEST(Outcome, ToResourceOmitsEmptyDiagnostics) {
  Outcome outcome;
  outcome.Error(IssueType::kNotFound, "", "");
  EXPECT_EQ(
      json::Write(outcome.ToResource()),
      R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]})");
}

TEST(Outcome, MakeOutcome) {
  Outcome o = MakeOutcome(IssueType::kNotSupported, "no such type");
  ASSERT_EQ(o.issues().size(), 1u);
  EXPECT_EQ(o.issues()[0].severity, Severity::kError);
  EXPECT_EQ(o.issues()[0].type, IssueType::kNotSupported);
  EXPECT_EQ(o.issues()[0].diagnostics, "no such type");
  EXPECT_TRUE(o.issues()[0].expression.empty());
  Outcome with_path = MakeOutcome(IssueType::kValue, "bad", "Patient.id");
  EXPECT_EQ(with_path.issues()[0].expression, "Patient.id");
}

}  // namespace
}  // namespace carebridge::fhir
