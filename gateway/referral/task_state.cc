#include "gateway/referral/task_state.h"

#include <array>
#include <initializer_list>
#include <string>
#include <utility>

#include "fhir/search/search.h"
#include "gateway/referral/error.h"

namespace carebridge::referral {
namespace {

using fhir::IssueType;
using fhir::json::Value;

struct StatusName {
  TaskStatus status;
  std::string_view code;
};
constexpr std::array<StatusName, 10> kStatusNames = {{
    {TaskStatus::kDraft, "draft"},
    {TaskStatus::kRequested, "requested"},
    {TaskStatus::kAccepted, "accepted"},
    {TaskStatus::kRejected, "rejected"},
    {TaskStatus::kCancelled, "cancelled"},
    {TaskStatus::kInProgress, "in-progress"},
    {TaskStatus::kOnHold, "on-hold"},
    {TaskStatus::kFailed, "failed"},
    {TaskStatus::kCompleted, "completed"},
    {TaskStatus::kEnteredInError, "entered-in-error"},
}};

// Bit set of sides.
constexpr unsigned kR = 1u << static_cast<unsigned>(Side::kRequester);
constexpr unsigned kO = 1u << static_cast<unsigned>(Side::kOwner);
constexpr unsigned kG = 1u << static_cast<unsigned>(Side::kGateway);

struct Edge {
  std::optional<TaskStatus> from;  // nullopt: creation
  TaskStatus to;
  unsigned sides;
};

using S = TaskStatus;
const Edge kEdges[] = {
    {std::nullopt, S::kDraft, kR},
    {std::nullopt, S::kRequested, kR},
    {S::kDraft, S::kRequested, kR},
    {S::kDraft, S::kEnteredInError, kR},
    {S::kRequested, S::kAccepted, kO},
    {S::kRequested, S::kRejected, kO},
    {S::kRequested, S::kCancelled, kR | kO},
    {S::kRequested, S::kEnteredInError, kR},
    {S::kRequested, S::kFailed, kG},
    {S::kAccepted, S::kInProgress, kO},
    {S::kAccepted, S::kOnHold, kO},
    {S::kAccepted, S::kCompleted, kO},
    {S::kAccepted, S::kFailed, kO},
    {S::kAccepted, S::kCancelled, kR | kO},
    {S::kInProgress, S::kOnHold, kO},
    {S::kInProgress, S::kCompleted, kO},
    {S::kInProgress, S::kFailed, kO},
    {S::kInProgress, S::kCancelled, kR | kO},
    {S::kOnHold, S::kInProgress, kO},
    {S::kOnHold, S::kCompleted, kO},
    {S::kOnHold, S::kFailed, kO},
    {S::kOnHold, S::kCancelled, kR | kO},
};

struct BusinessName {
  BusinessStatus status;
  std::string_view code;
  std::string_view display;
  std::string_view definition;
};
constexpr std::array<BusinessName, 8> kBusinessNames = {{
    {BusinessStatus::kDelivered, "delivered", "Delivered",
     "The referral reached the agency's endpoint (or the agency fetched it)."},
    {BusinessStatus::kReceivedByAgency, "received-by-agency", "Received by agency",
     "The agency acknowledged the referral and is reviewing it."},
    {BusinessStatus::kFirstContact, "first-contact", "First contact made",
     "The agency made its first contact with the person."},
    {BusinessStatus::kWarmHandoffMeeting, "warm-handoff-meeting", "Warm hand-off meeting held",
     "The referring provider introduced the person to the agency's care coordinator in a "
     "face-to-face (or live) meeting."},
    {BusinessStatus::kLinkedToCare, "linked-to-care", "Linked to ongoing care",
     "The person is connected to the ongoing services that meet the need."},
    {BusinessStatus::kNoAgency, "no-agency", "No agency",
     "No routing rule matched the referral; the coordinator must place it."},
    {BusinessStatus::kNotReleased, "not-released", "Not released by consent",
     "The patient's consent does not release the referral to the chosen agency."},
    {BusinessStatus::kDeliveryFailed, "delivery-failed", "Delivery failed",
     "Every delivery attempt failed; the delivery is in the dead letter."},
}};

void Add(TaskVerdict& v, errc e, IssueType type, std::string expression, std::string text) {
  if (!v.error) {
    v.error = make_error_code(e);
  }
  v.outcome.Error(type, std::move(expression), std::move(text));
}

std::string_view ReferenceOf(const Value& task, std::string_view element) {
  const Value* v = task.Find(element);
  return v && v->is_object() ? v->StringAt("reference") : std::string_view();
}

bool HasCoding(const Value* concept_value, std::string_view system, std::string_view code) {
  if (!concept_value || !concept_value->is_object()) {
    return false;
  }
  const Value* codings = concept_value->Find("coding");
  if (!codings || !codings->is_array()) {
    return false;
  }
  for (const Value& c : codings->items()) {
    if (c.StringAt("system") == system && c.StringAt("code") == code) {
      return true;
    }
  }
  return false;
}

bool IsServiceRequestReference(const Value& focus) {
  const std::string_view ref = focus.StringAt("reference");
  if (focus.StringAt("type") == "ServiceRequest") {
    return !ref.empty();
  }
  // Bundle-local references are resolved by the transaction before the Task is stored; their
  // target type is checked then.
  return ref.starts_with("ServiceRequest/") ||
         ref.find("/ServiceRequest/") != std::string_view::npos || ref.starts_with("urn:uuid:");
}

// The profile's required elements, and statusReason.text where the status needs it.
void CheckElements(const Value& task, TaskVerdict& v, std::optional<TaskStatus>& status) {
  const std::string_view status_code = task.StringAt("status");
  status = ParseTaskStatus(status_code);
  if (status_code.empty()) {
    Add(v, errc::kMissingElement, IssueType::kRequired, "Task.status", "Task.status is required");
  } else if (!status) {
    Add(v, errc::kUnknownStatus, IssueType::kCodeInvalid, "Task.status",
        "'" + std::string(status_code) +
            "' is not a referral Task status (SDOHCC ValueSet ReferralTaskStatus excludes ready "
            "and received)");
  }
  if (task.StringAt("intent") != "order") {
    Add(v, errc::kMissingElement, IssueType::kRequired, "Task.intent",
        "a referral Task has intent 'order'");
  }
  if (!HasCoding(task.Find("code"), kTaskCodeSystem, "fulfill")) {
    Add(v, errc::kMissingElement, IssueType::kRequired, "Task.code",
        "a referral Task has code " + std::string(kTaskCodeSystem) + "#fulfill");
  }
  const Value* focus = task.Find("focus");
  if (!focus || !focus->is_object() || !IsServiceRequestReference(*focus)) {
    Add(v, errc::kMissingElement, IssueType::kRequired, "Task.focus",
        "a referral Task's focus is the ServiceRequest it asks to fulfil");
  }
  if (ReferenceOf(task, "for").empty()) {
    Add(v, errc::kMissingElement, IssueType::kRequired, "Task.for",
        "a referral Task names the person it is for");
  }
  const std::string_view authored = task.StringAt("authoredOn");
  if (authored.empty() || !fhir::DateRange(authored)) {
    Add(v, errc::kMissingElement, IssueType::kRequired, "Task.authoredOn",
        "a referral Task carries authoredOn (a dateTime)");
  }
  if (ReferenceOf(task, "requester").empty()) {
    Add(v, errc::kMissingElement, IssueType::kRequired, "Task.requester",
        "a referral Task names its requester (the accountable coordinator or organization)");
  }
  if (status && NeedsStatusReason(*status)) {
    const Value* reason = task.Find("statusReason");
    if (!reason || !reason->is_object() || reason->StringAt("text").empty()) {
      Add(v, errc::kStatusReasonRequired, IssueType::kRequired, "Task.statusReason.text",
          "status '" + std::string(ToCode(*status)) + "' needs statusReason.text saying why");
    }
  }
}

void CheckTransitionInto(std::optional<TaskStatus> from, TaskStatus to, Side side, TaskVerdict& v) {
  if (auto r = CheckTransition(from, to, side); !r) {
    const std::string what = (from ? std::string(ToCode(*from)) : std::string("(new)")) + " -> " +
                             std::string(ToCode(to));
    if (r.error() == make_error_code(errc::kWrongSide)) {
      Add(v, errc::kWrongSide, IssueType::kConflict, "Task.status",
          "the " + std::string(ToCode(side)) + " side may not move a referral " + what);
    } else {
      Add(v, errc::kIllegalTransition, IssueType::kConflict, "Task.status",
          "a referral Task cannot go " + what);
    }
  }
}

void CheckBusinessInto(const Value* before, const Value& after, TaskStatus status, Side side,
                       TaskVerdict& v) {
  const Value* bs = after.Find("businessStatus");
  if (bs && bs->is_object()) {
    const Value* codings = bs->Find("coding");
    if (codings && codings->is_array()) {
      for (const Value& c : codings->items()) {
        if (c.StringAt("system") == kBusinessStatusSystem &&
            !ParseBusinessStatus(c.StringAt("code"))) {
          Add(v, errc::kIllegalBusinessStatus, IssueType::kCodeInvalid, "Task.businessStatus",
              "'" + std::string(c.StringAt("code")) + "' is not a code of " +
                  std::string(kBusinessStatusSystem));
          return;
        }
      }
    }
  }
  const auto to = BusinessStatusOf(after);
  if (!to) {
    return;  // none of ours (removing ours is a partner's business; the timeline keeps it)
  }
  const auto from = before ? BusinessStatusOf(*before) : std::nullopt;
  if (auto r = CheckBusinessStatus(from, *to, status, side); !r) {
    Add(v, errc::kIllegalBusinessStatus, IssueType::kConflict, "Task.businessStatus",
        "the " + std::string(ToCode(side)) + " side may not set business status '" +
            std::string(ToCode(*to)) + "'" +
            (from ? " after '" + std::string(ToCode(*from)) + "'" : std::string()) +
            " while the Task is " + std::string(ToCode(status)));
  }
}

}  // namespace

std::optional<TaskStatus> ParseTaskStatus(std::string_view code) {
  for (const auto& n : kStatusNames) {
    if (n.code == code) {
      return n.status;
    }
  }
  return std::nullopt;
}

std::string_view ToCode(TaskStatus status) {
  for (const auto& n : kStatusNames) {
    if (n.status == status) {
      return n.code;
    }
  }
  return "";
}

fhir::SearchCriterion OpenStatusCriterion() {
  fhir::SearchCriterion status;
  status.param = "status";
  status.type = fhir::ParamType::kToken;
  for (const char* code : {"requested", "accepted", "in-progress", "on-hold"}) {
    fhir::SearchValue value;
    value.value = code;
    status.any_of.push_back(std::move(value));
  }
  return status;
}

bool IsTerminal(TaskStatus status) {
  switch (status) {
    case S::kRejected:
    case S::kCancelled:
    case S::kFailed:
    case S::kCompleted:
    case S::kEnteredInError:
      return true;
    default:
      return false;
  }
}

bool NeedsStatusReason(TaskStatus status) {
  return status == S::kRejected || status == S::kCancelled || status == S::kOnHold ||
         status == S::kFailed;
}

std::string_view ToCode(Side side) {
  switch (side) {
    case Side::kRequester:
      return "requester";
    case Side::kOwner:
      return "owner";
    case Side::kGateway:
      return "gateway";
  }
  return "";
}

Result<void> CheckTransition(std::optional<TaskStatus> from, TaskStatus to, Side side) {
  if (from && *from == to) {
    return {};
  }
  const unsigned mine = 1u << static_cast<unsigned>(side);
  for (const Edge& e : kEdges) {
    if (e.from == from && e.to == to) {
      if (e.sides & mine) {
        return {};
      }
      return make_error_code(errc::kWrongSide);
    }
  }
  return make_error_code(errc::kIllegalTransition);
}

std::optional<BusinessStatus> ParseBusinessStatus(std::string_view code) {
  for (const auto& n : kBusinessNames) {
    if (n.code == code) {
      return n.status;
    }
  }
  return std::nullopt;
}

std::string_view ToCode(BusinessStatus status) {
  return kBusinessNames[static_cast<std::size_t>(status)].code;
}

std::string_view Display(BusinessStatus status) {
  return kBusinessNames[static_cast<std::size_t>(status)].display;
}

bool IsHandoffStep(BusinessStatus status) { return status <= BusinessStatus::kLinkedToCare; }

Value BusinessStatusCodeSystem() {
  Value cs = Value::Object();
  cs.Set("resourceType", Value::String("CodeSystem"));
  cs.Set("id", Value::String("referral-business-status"));
  cs.Set("url", Value::String(std::string(kBusinessStatusSystem)));
  cs.Set("name", Value::String("CarebridgeReferralBusinessStatus"));
  cs.Set("title", Value::String("carebridge referral business status (warm hand-off steps)"));
  cs.Set("status", Value::String("active"));
  cs.Set("content", Value::String("complete"));
  cs.Set("caseSensitive", Value::Bool(true));
  cs.Set("description",
         Value::String("Steps of a warm hand-off that Task.status cannot express, in order, and "
                       "the reasons a referral stopped before reaching an agency."));
  Value concepts = Value::Array();
  for (const auto& n : kBusinessNames) {
    Value c = Value::Object();
    c.Set("code", Value::String(std::string(n.code)));
    c.Set("display", Value::String(std::string(n.display)));
    c.Set("definition", Value::String(std::string(n.definition)));
    concepts.PushBack(std::move(c));
  }
  cs.Set("count", Value::Number(std::to_string(kBusinessNames.size())));
  cs.Set("concept", std::move(concepts));
  return cs;
}

Result<void> CheckBusinessStatus(std::optional<BusinessStatus> from, BusinessStatus to,
                                 TaskStatus status, Side side) {
  if (from && *from == to) {
    return {};
  }
  using B = BusinessStatus;
  unsigned sides = 0;
  switch (to) {
    case B::kDelivered:
    case B::kNoAgency:
    case B::kNotReleased:
    case B::kDeliveryFailed:
      sides = kG;
      break;
    case B::kReceivedByAgency:
    case B::kFirstContact:
      sides = kO;
      break;
    case B::kWarmHandoffMeeting:
    case B::kLinkedToCare:
      sides = kO | kR;
      break;
  }
  if (!(sides & (1u << static_cast<unsigned>(side)))) {
    return make_error_code(errc::kWrongSide);
  }
  if (IsHandoffStep(to)) {
    // Forward only: a step once reached stays reached. From an exception code (a re-routed or
    // re-driven referral) the hand-off starts again.
    if (from && IsHandoffStep(*from) && *from > to) {
      return make_error_code(errc::kIllegalBusinessStatus);
    }
    if (to > B::kReceivedByAgency && status != S::kAccepted && status != S::kInProgress &&
        status != S::kOnHold && status != S::kCompleted) {
      return make_error_code(errc::kIllegalBusinessStatus);
    }
  }
  return {};
}

std::optional<BusinessStatus> BusinessStatusOf(const Value& task) {
  const Value* bs = task.Find("businessStatus");
  if (!bs || !bs->is_object()) {
    return std::nullopt;
  }
  const Value* codings = bs->Find("coding");
  if (!codings || !codings->is_array()) {
    return std::nullopt;
  }
  for (const Value& c : codings->items()) {
    if (c.StringAt("system") == kBusinessStatusSystem) {
      return ParseBusinessStatus(c.StringAt("code"));
    }
  }
  return std::nullopt;
}

bool IsReferralTask(const Value& task) {
  if (const Value* meta = task.Find("meta"); meta && meta->is_object()) {
    if (const Value* profiles = meta->Find("profile"); profiles && profiles->is_array()) {
      for (const Value& p : profiles->items()) {
        std::string_view url = p.text();
        if (auto bar = url.find('|'); bar != std::string_view::npos) {
          url = url.substr(0, bar);  // canonical|version
        }
        if (p.is_string() && url == kTaskForReferralProfile) {
          return true;
        }
      }
    }
  }
  const Value* focus = task.Find("focus");
  return HasCoding(task.Find("code"), kTaskCodeSystem, "fulfill") && focus && focus->is_object() &&
         IsServiceRequestReference(*focus);
}

TaskVerdict CheckCreate(const Value& task, Side side) {
  TaskVerdict v;
  std::optional<TaskStatus> status;
  CheckElements(task, v, status);
  if (status) {
    CheckTransitionInto(std::nullopt, *status, side, v);
    CheckBusinessInto(nullptr, task, *status, side, v);
  }
  return v;
}

TaskVerdict CheckUpdate(const Value& before, const Value& after, Side side) {
  TaskVerdict v;
  std::optional<TaskStatus> status;
  CheckElements(after, v, status);
  for (std::string_view element : {"intent", "code", "focus", "for", "requester", "authoredOn"}) {
    const Value* a = before.Find(element);
    const Value* b = after.Find(element);
    const bool same = (a == nullptr && b == nullptr) || (a && b && *a == *b);
    if (!same) {
      Add(v, errc::kImmutableElement, IssueType::kConflict, "Task." + std::string(element),
          "Task." + std::string(element) + " of a referral may not change; create a new referral");
    }
  }
  {
    const Value* a = before.Find("owner");
    const Value* b = after.Find("owner");
    const bool same = (a == nullptr && b == nullptr) || (a && b && *a == *b);
    if (!same && side == Side::kOwner) {
      Add(v, errc::kWrongSide, IssueType::kConflict, "Task.owner",
          "the agency may not hand a referral to another owner; reject it instead");
    }
  }
  const auto from = ParseTaskStatus(before.StringAt("status"));
  if (status) {
    if (from) {
      CheckTransitionInto(from, *status, side, v);
    }
    CheckBusinessInto(&before, after, *status, side, v);
  }
  return v;
}

void SetBusinessStatus(fhir::json::Value& task, BusinessStatus status) {
  using fhir::json::Value;
  Value coding = Value::Object();
  coding.Set("system", Value::String(std::string(kBusinessStatusSystem)));
  coding.Set("code", Value::String(std::string(ToCode(status))));
  coding.Set("display", Value::String(std::string(Display(status))));
  Value codings = Value::Array();
  codings.PushBack(std::move(coding));
  Value concept_value = Value::Object();
  concept_value.Set("coding", std::move(codings));
  task.Set("businessStatus", std::move(concept_value));
}

}  // namespace carebridge::referral
