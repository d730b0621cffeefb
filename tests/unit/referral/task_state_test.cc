#include "gateway/referral/task_state.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "fhir/json/json.h"
#include "gateway/referral/error.h"

namespace carebridge::referral {
namespace {

using fhir::json::Value;
using S = TaskStatus;
using B = BusinessStatus;

Value Json(const std::string& text) {
  std::string message;
  auto v = fhir::json::Parse(text, {}, message);
  EXPECT_TRUE(v.has_value()) << message;
  return v ? *v : Value::Object();
}

// A valid TaskForReferralManagement Task with `status` (and statusReason when it needs one).
Value ReferralTask(std::string_view status, std::string_view business = {}) {
  std::string text = R"({"resourceType":"Task","id":"t1",
    "meta":{"profile":["http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/SDOHCC-TaskForReferralManagement"]},
    "status":")" + std::string(status) +
                     R"(","intent":"order",
    "code":{"coding":[{"system":"http://hl7.org/fhir/CodeSystem/task-code","code":"fulfill"}]},
    "focus":{"reference":"ServiceRequest/sr1"},"for":{"reference":"Patient/p1"},
    "authoredOn":"2026-11-02T09:00:00Z","requester":{"reference":"PractitionerRole/coord-1"},
    "owner":{"reference":"Organization/harbor-housing"})";
  if (NeedsStatusReason(*ParseTaskStatus(status))) {
    text += R"(,"statusReason":{"text":"because"})";
  }
  if (!business.empty()) {
    text += R"(,"businessStatus":{"coding":[{"system":")" + std::string(kBusinessStatusSystem) +
            R"(","code":")" + std::string(business) + R"("}]})";
  }
  return Json(text + "}");
}

std::string Codes(const TaskVerdict& v) {
  std::string out;
  for (const auto& i : v.outcome.issues()) {
    out += i.expression + ";";
  }
  return out;
}

// ---- transitions: every (from, to, side) of the table, and what nobody may do ----------------

struct TransitionCase {
  std::optional<S> from;
  S to;
  Side side;
  std::optional<errc> want;  // nullopt: allowed
};

class TransitionTest : public ::testing::TestWithParam<TransitionCase> {};

TEST_P(TransitionTest, FollowsTheReferralStateMachine) {
  const auto& c = GetParam();
  auto r = CheckTransition(c.from, c.to, c.side);
  if (!c.want) {
    EXPECT_TRUE(r.has_value()) << r.error().message();
  } else {
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), make_error_code(*c.want));
  }
}

constexpr auto R = Side::kRequester;
constexpr auto O = Side::kOwner;
constexpr auto G = Side::kGateway;
constexpr auto kWrong = errc::kWrongSide;
constexpr auto kIllegal = errc::kIllegalTransition;

INSTANTIATE_TEST_SUITE_P(Table, TransitionTest,
                         ::testing::Values(
                             // Creation: the requester creates draft or requested Tasks.
                             TransitionCase{std::nullopt, S::kDraft, R, std::nullopt},
                             TransitionCase{std::nullopt, S::kRequested, R, std::nullopt},
                             TransitionCase{std::nullopt, S::kRequested, O, kWrong},
                             TransitionCase{std::nullopt, S::kAccepted, R, kIllegal},
                             TransitionCase{std::nullopt, S::kAccepted, O, kIllegal},
                             TransitionCase{std::nullopt, S::kCompleted, R, kIllegal},
                             // Requester's side.
                             TransitionCase{S::kDraft, S::kRequested, R, std::nullopt},
                             TransitionCase{S::kDraft, S::kRequested, O, kWrong},
                             TransitionCase{S::kDraft, S::kEnteredInError, R, std::nullopt},
                             TransitionCase{S::kDraft, S::kAccepted, O, kIllegal},
                             TransitionCase{S::kRequested, S::kEnteredInError, R, std::nullopt},
                             TransitionCase{S::kRequested, S::kEnteredInError, O, kWrong},
                             TransitionCase{S::kRequested, S::kDraft, R, kIllegal},
                             // The agency's side.
                             TransitionCase{S::kRequested, S::kAccepted, O, std::nullopt},
                             TransitionCase{S::kRequested, S::kAccepted, R, kWrong},
                             TransitionCase{S::kRequested, S::kRejected, O, std::nullopt},
                             TransitionCase{S::kRequested, S::kRejected, R, kWrong},
                             TransitionCase{S::kRequested, S::kInProgress, O, kIllegal},
                             TransitionCase{S::kRequested, S::kCompleted, O, kIllegal},
                             TransitionCase{S::kAccepted, S::kInProgress, O, std::nullopt},
                             TransitionCase{S::kAccepted, S::kInProgress, R, kWrong},
                             TransitionCase{S::kAccepted, S::kOnHold, O, std::nullopt},
                             TransitionCase{S::kAccepted, S::kCompleted, O, std::nullopt},
                             TransitionCase{S::kAccepted, S::kFailed, O, std::nullopt},
                             TransitionCase{S::kAccepted, S::kRejected, O, kIllegal},
                             TransitionCase{S::kInProgress, S::kOnHold, O, std::nullopt},
                             TransitionCase{S::kInProgress, S::kCompleted, O, std::nullopt},
                             TransitionCase{S::kInProgress, S::kCompleted, R, kWrong},
                             TransitionCase{S::kInProgress, S::kFailed, O, std::nullopt},
                             TransitionCase{S::kInProgress, S::kAccepted, O, kIllegal},
                             TransitionCase{S::kOnHold, S::kInProgress, O, std::nullopt},
                             TransitionCase{S::kOnHold, S::kInProgress, R, kWrong},
                             TransitionCase{S::kOnHold, S::kCompleted, O, std::nullopt},
                             TransitionCase{S::kOnHold, S::kFailed, O, std::nullopt},
                             // Either side cancels an open referral.
                             TransitionCase{S::kRequested, S::kCancelled, R, std::nullopt},
                             TransitionCase{S::kRequested, S::kCancelled, O, std::nullopt},
                             TransitionCase{S::kAccepted, S::kCancelled, R, std::nullopt},
                             TransitionCase{S::kAccepted, S::kCancelled, O, std::nullopt},
                             TransitionCase{S::kInProgress, S::kCancelled, R, std::nullopt},
                             TransitionCase{S::kOnHold, S::kCancelled, O, std::nullopt},
                             TransitionCase{S::kDraft, S::kCancelled, R, kIllegal},
                             // The gateway fails a referral it cannot place or deliver.
                             TransitionCase{S::kRequested, S::kFailed, G, std::nullopt},
                             TransitionCase{S::kRequested, S::kFailed, O, kWrong},
                             TransitionCase{S::kRequested, S::kAccepted, G, kWrong},
                             // Terminal statuses stay terminal.
                             TransitionCase{S::kCompleted, S::kInProgress, O, kIllegal},
                             TransitionCase{S::kRejected, S::kAccepted, O, kIllegal},
                             TransitionCase{S::kCancelled, S::kRequested, R, kIllegal},
                             TransitionCase{S::kFailed, S::kRequested, R, kIllegal},
                             TransitionCase{S::kEnteredInError, S::kDraft, R, kIllegal},
                             TransitionCase{S::kCompleted, S::kCancelled, R, kIllegal},
                             // Same status: not a transition.
                             TransitionCase{S::kCompleted, S::kCompleted, R, std::nullopt},
                             TransitionCase{S::kInProgress, S::kInProgress, R, std::nullopt}));

TEST(TaskStatusTest, ValueSetExcludesReadyAndReceived) {
  EXPECT_FALSE(ParseTaskStatus("ready"));
  EXPECT_FALSE(ParseTaskStatus("received"));
  EXPECT_FALSE(ParseTaskStatus("canceled"));
  for (std::string_view code :
       {"draft", "requested", "accepted", "rejected", "cancelled", "in-progress", "on-hold",
        "failed", "completed", "entered-in-error"}) {
    auto s = ParseTaskStatus(code);
    ASSERT_TRUE(s) << code;
    EXPECT_EQ(ToCode(*s), code);
  }
  for (S s : {S::kRejected, S::kCancelled, S::kCompleted, S::kFailed, S::kEnteredInError}) {
    EXPECT_TRUE(IsTerminal(s)) << ToCode(s);
  }
  for (S s : {S::kDraft, S::kRequested, S::kAccepted, S::kInProgress, S::kOnHold}) {
    EXPECT_FALSE(IsTerminal(s)) << ToCode(s);
  }
}

// ---- required elements -----------------------------------------------------------------------

struct ElementCase {
  std::string name;
  std::string remove;  // top-level element to drop
  std::string expression;
};

class RequiredElementTest : public ::testing::TestWithParam<ElementCase> {};

TEST_P(RequiredElementTest, MissingElementIs422WithItsPath) {
  Value task = ReferralTask("requested");
  task.Remove(GetParam().remove);
  TaskVerdict v = CheckCreate(task, Side::kRequester);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error, make_error_code(errc::kMissingElement));
  EXPECT_EQ(HttpMappingOf(errc::kMissingElement).status, 422);
  EXPECT_EQ(Codes(v), GetParam().expression + ";");
}

INSTANTIATE_TEST_SUITE_P(Profile, RequiredElementTest,
                         ::testing::Values(ElementCase{"intent", "intent", "Task.intent"},
                                           ElementCase{"code", "code", "Task.code"},
                                           ElementCase{"focus", "focus", "Task.focus"},
                                           ElementCase{"for", "for", "Task.for"},
                                           ElementCase{"authoredOn", "authoredOn",
                                                       "Task.authoredOn"},
                                           ElementCase{"requester", "requester", "Task.requester"}),
                         [](const auto& p) { return p.param.name; });

TEST(RequiredElementTest, WrongIntentCodeAndFocusAreRefused) {
  Value task = ReferralTask("requested");
  task.Set("intent", Value::String("plan"));
  task.Set("focus", Json(R"({"reference":"CarePlan/cp1"})"));
  task.Set("authoredOn", Value::String("yesterday"));
  TaskVerdict v = CheckCreate(task, Side::kRequester);
  EXPECT_EQ(Codes(v), "Task.intent;Task.focus;Task.authoredOn;");
}

TEST(RequiredElementTest, StatusReasonTextForRejectedCancelledOnHoldFailed) {
  for (S s : {S::kRejected, S::kCancelled, S::kOnHold, S::kFailed}) {
    Value before = ReferralTask(s == S::kOnHold || s == S::kFailed ? "in-progress" : "requested");
    Value after = ReferralTask(ToCode(s));
    EXPECT_TRUE(CheckUpdate(before, after, Side::kOwner).ok()) << ToCode(s);
    after.Remove("statusReason");
    TaskVerdict v = CheckUpdate(before, after, Side::kOwner);
    EXPECT_EQ(v.error, make_error_code(errc::kStatusReasonRequired)) << ToCode(s);
    EXPECT_EQ(Codes(v), "Task.statusReason.text;") << ToCode(s);
  }
  // A coded reason without text is not enough: the profile requires the text.
  Value after = ReferralTask("rejected");
  after.Set("statusReason", Json(R"({"coding":[{"code":"x"}]})"));
  EXPECT_EQ(CheckUpdate(ReferralTask("requested"), after, Side::kOwner).error,
            make_error_code(errc::kStatusReasonRequired));
}

TEST(RequiredElementTest, UnknownStatusIsInvalidCode) {
  TaskVerdict v = CheckCreate(ReferralTask("requested"), Side::kRequester);
  EXPECT_TRUE(v.ok());
  Value task = ReferralTask("requested");
  task.Set("status", Value::String("received"));
  v = CheckCreate(task, Side::kRequester);
  EXPECT_EQ(v.error, make_error_code(errc::kUnknownStatus));
}

// ---- updates ---------------------------------------------------------------------------------

TEST(CheckUpdateTest, IllegalTransitionIs409) {
  TaskVerdict v = CheckUpdate(ReferralTask("requested"), ReferralTask("completed"), Side::kOwner);
  EXPECT_EQ(v.error, make_error_code(errc::kIllegalTransition));
  EXPECT_EQ(HttpMappingOf(errc::kIllegalTransition).status, 409);
  EXPECT_EQ(Codes(v), "Task.status;");
  v = CheckUpdate(ReferralTask("requested"), ReferralTask("accepted"), Side::kRequester);
  EXPECT_EQ(v.error, make_error_code(errc::kWrongSide));
  EXPECT_EQ(HttpMappingOf(errc::kWrongSide).status, 409);
}

TEST(CheckUpdateTest, ImmutableElements) {
  for (std::string element : {"focus", "for", "requester"}) {
    Value after = ReferralTask("accepted");
    after.Set(element, Json(R"({"reference":"Patient/other"})"));
    if (element == "focus") {
      after.Set(element, Json(R"({"reference":"ServiceRequest/other"})"));
    }
    TaskVerdict v = CheckUpdate(ReferralTask("requested"), after, Side::kOwner);
    EXPECT_EQ(v.error, make_error_code(errc::kImmutableElement)) << element;
    EXPECT_EQ(Codes(v), "Task." + element + ";") << element;
  }
  Value after = ReferralTask("requested");
  after.Set("authoredOn", Value::String("2026-11-03"));
  EXPECT_EQ(CheckUpdate(ReferralTask("requested"), after, Side::kRequester).error,
            make_error_code(errc::kImmutableElement));
}

TEST(CheckUpdateTest, OnlyTheRequesterSideReassignsTheOwner) {
  Value after = ReferralTask("requested");
  after.Set("owner", Json(R"({"reference":"Organization/northside-food"})"));
  EXPECT_TRUE(CheckUpdate(ReferralTask("requested"), after, Side::kRequester).ok());
  EXPECT_TRUE(CheckUpdate(ReferralTask("requested"), after, Side::kGateway).ok());
  EXPECT_EQ(CheckUpdate(ReferralTask("requested"), after, Side::kOwner).error,
            make_error_code(errc::kWrongSide));
}

// ---- business status (warm hand-off steps) -----------------------------------------------------

struct BusinessCase {
  std::optional<B> from;
  B to;
  S status;
  Side side;
  bool ok;
};

class BusinessStatusTest : public ::testing::TestWithParam<BusinessCase> {};

TEST_P(BusinessStatusTest, StepsMoveForwardBySide) {
  const auto& c = GetParam();
  EXPECT_EQ(CheckBusinessStatus(c.from, c.to, c.status, c.side).has_value(), c.ok)
      << (c.from ? ToCode(*c.from) : "(none)") << " -> " << ToCode(c.to) << " by "
      << ToCode(c.side);
}

INSTANTIATE_TEST_SUITE_P(
    Table, BusinessStatusTest,
    ::testing::Values(
        BusinessCase{std::nullopt, B::kDelivered, S::kRequested, G, true},
        BusinessCase{std::nullopt, B::kDelivered, S::kRequested, O, false},
        BusinessCase{B::kDelivered, B::kReceivedByAgency, S::kRequested, O, true},
        BusinessCase{B::kDelivered, B::kReceivedByAgency, S::kRequested, R, false},
        BusinessCase{B::kReceivedByAgency, B::kFirstContact, S::kRequested, O,
                     false},  // not accepted yet
        BusinessCase{B::kReceivedByAgency, B::kFirstContact, S::kAccepted, O, true},
        BusinessCase{B::kFirstContact, B::kWarmHandoffMeeting, S::kInProgress, R, true},
        BusinessCase{B::kFirstContact, B::kWarmHandoffMeeting, S::kInProgress, O, true},
        BusinessCase{B::kWarmHandoffMeeting, B::kLinkedToCare, S::kCompleted, R, true},
        BusinessCase{B::kLinkedToCare, B::kFirstContact, S::kInProgress, O, false},  // backwards
        BusinessCase{B::kDelivered, B::kFirstContact, S::kAccepted, O,
                     true},  // skipping ahead is allowed
        BusinessCase{std::nullopt, B::kNoAgency, S::kFailed, G, true},
        BusinessCase{std::nullopt, B::kNotReleased, S::kFailed, R, false},
        BusinessCase{B::kDeliveryFailed, B::kDelivered, S::kRequested, G, true},
        BusinessCase{B::kFirstContact, B::kFirstContact, S::kRequested, R, true}));

TEST(BusinessStatusTest, UpdateChecksStepAndCodes) {
  TaskVerdict v = CheckUpdate(ReferralTask("requested", "delivered"),
                              ReferralTask("accepted", "first-contact"), Side::kOwner);
  EXPECT_TRUE(v.ok()) << Codes(v);
  v = CheckUpdate(ReferralTask("in-progress", "linked-to-care"),
                  ReferralTask("in-progress", "first-contact"), Side::kOwner);
  EXPECT_EQ(v.error, make_error_code(errc::kIllegalBusinessStatus));
  v = CheckUpdate(ReferralTask("requested"), ReferralTask("requested", "bogus"), Side::kOwner);
  EXPECT_EQ(v.error, make_error_code(errc::kIllegalBusinessStatus));
  EXPECT_EQ(Codes(v), "Task.businessStatus;");
  v = CheckCreate(ReferralTask("requested", "delivered"), Side::kRequester);
  EXPECT_EQ(v.error, make_error_code(errc::kIllegalBusinessStatus));
}

TEST(BusinessStatusTest, CodeSystemListsEveryCode) {
  Value cs = BusinessStatusCodeSystem();
  EXPECT_EQ(cs.StringAt("url"), kBusinessStatusSystem);
  const Value* concepts = cs.Find("concept");
  ASSERT_TRUE(concepts && concepts->is_array());
  ASSERT_EQ(concepts->items().size(), 8u);
  EXPECT_EQ(concepts->items()[0].StringAt("code"), "delivered");
  EXPECT_EQ(concepts->items()[4].StringAt("code"), "linked-to-care");
  for (const Value& c : concepts->items()) {
    EXPECT_TRUE(ParseBusinessStatus(c.StringAt("code"))) << c.StringAt("code");
  }
}

TEST(IsReferralTaskTest, ByProfileOrByFulfilAServiceRequest) {
  EXPECT_TRUE(IsReferralTask(ReferralTask("requested")));
  Value no_profile = ReferralTask("requested");
  no_profile.Remove("meta");
  EXPECT_TRUE(IsReferralTask(no_profile));
  Value other = Json(R"({"resourceType":"Task","status":"requested","intent":"order",
      "code":{"coding":[{"system":"http://hl7.org/fhir/CodeSystem/task-code","code":"approve"}]},
      "focus":{"reference":"ServiceRequest/sr1"}})");
  EXPECT_FALSE(IsReferralTask(other));
}

}  // namespace
}  // namespace carebridge::referral
