#pragma once

// The referral Task state machine of the SDOH Clinical Care IG's TaskForReferralManagement
// profile
// (http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/SDOHCC-TaskForReferralManagement)
// and carebridge's warm hand-off steps in Task.businessStatus. Pure: JSON in, verdict out.
//
// Statuses are the IG's referral task status value set: FHIR R4 task-status without `ready` and
// `received` (what `received` would say is the business status received-by-agency here).
//
// Who sets what (the IG's "Set By" column; Side::kRequester is the referring EHR or coordinator,
// Side::kOwner the agency in Task.owner, Side::kGateway carebridge itself):
//
//   (create)     -> draft, requested                                  requester
//   draft        -> requested, entered-in-error                       requester
//   requested    -> accepted, rejected                                owner
//   requested    -> cancelled                                         requester or owner
//   requested    -> entered-in-error                                  requester
//   requested    -> failed                                            gateway (no agency, not
//                                                                     released, dead letter)
//   accepted     -> in-progress, on-hold, completed, failed           owner
//   in-progress  -> on-hold, completed, failed                        owner
//   on-hold      -> in-progress, completed, failed                    owner
//   accepted, in-progress, on-hold -> cancelled                       requester or owner
//   rejected, cancelled, completed, failed, entered-in-error          terminal
//
// The IG's state diagram has no requested -> cancelled and no requested -> entered-in-error edge;
// its table says either side may cancel and the requester may mark an error, and a coordinator
// must be able to withdraw a referral no agency has acted on, so both edges are allowed before the
// agency answers. An update that keeps the status is not a transition and is always allowed.
//
// Warm hand-off steps (BusinessStatus, our CodeSystem kBusinessStatusSystem) only move forward:
// delivered (gateway) < received-by-agency (owner) < first-contact (owner) <
// warm-handoff-meeting (owner or requester) < linked-to-care (owner or requester). Steps after
// received-by-agency need the agency to have accepted (accepted, in-progress, on-hold or
// completed). The exception codes no-agency, not-released and delivery-failed are set by the
// gateway only. Business statuses in other code systems are the partners' own and not checked.

#include <optional>
#include <string_view>
#include <system_error>

#include "fhir/base/result.h"
#include "fhir/json/value.h"
#include "fhir/outcome.h"
#include "fhir/search/search.h"

namespace carebridge::referral {

inline constexpr std::string_view kTaskForReferralProfile =
    "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/"
    "SDOHCC-TaskForReferralManagement";
inline constexpr std::string_view kTaskCodeSystem = "http://hl7.org/fhir/CodeSystem/task-code";
inline constexpr std::string_view kBusinessStatusSystem =
    "https://carebridge.example.org/fhir/CodeSystem/referral-business-status";

enum class TaskStatus {
  kDraft,
  kRequested,
  kAccepted,
  kRejected,
  kCancelled,
  kInProgress,
  kOnHold,
  kFailed,
  kCompleted,
  kEnteredInError,
};
// nullopt for codes outside the referral task status value set (ready, received, typos).
std::optional<TaskStatus> ParseTaskStatus(std::string_view code);
std::string_view ToCode(TaskStatus status);
bool IsTerminal(TaskStatus status);
// `status=requested,accepted,in-progress,on-hold`: the referrals an agency holds or is about to
// (its capacity, the SLA timers).
fhir::SearchCriterion OpenStatusCriterion();
// rejected, cancelled, on-hold and failed: the profile requires statusReason.text.
bool NeedsStatusReason(TaskStatus status);

enum class Side { kRequester, kOwner, kGateway };
std::string_view ToCode(Side side);  // "requester", "owner", "gateway"

// Whether `side` may move a referral Task from `from` (nullopt: the Task is being created) to
// `to`. kIllegalTransition when no side may, kWrongSide when only another side may. from == to is
// not a transition: always allowed.
Result<void> CheckTransition(std::optional<TaskStatus> from, TaskStatus to, Side side);

enum class BusinessStatus {
  // The warm hand-off, in order.
  kDelivered,
  kReceivedByAgency,
  kFirstContact,
  kWarmHandoffMeeting,
  kLinkedToCare,
  // Why a referral stopped before reaching an agency.
  kNoAgency,        // no routing rule matched
  kNotReleased,     // the patient's consent does not release the referral to the agency
  kDeliveryFailed,  // the delivery went to the dead letter
};
std::optional<BusinessStatus> ParseBusinessStatus(std::string_view code);
std::string_view ToCode(BusinessStatus status);
std::string_view Display(BusinessStatus status);
bool IsHandoffStep(BusinessStatus status);
// The CodeSystem resource that defines kBusinessStatusSystem (for the gateway to publish).
fhir::json::Value BusinessStatusCodeSystem();

// Whether `side` may move the business status from `from` (nullopt: none of ours) to `to` while
// the Task's status is `status`. Same value: always allowed.
Result<void> CheckBusinessStatus(std::optional<BusinessStatus> from, BusinessStatus to,
                                 TaskStatus status, Side side);

// The Task's business status in kBusinessStatusSystem, if any.
std::optional<BusinessStatus> BusinessStatusOf(const fhir::json::Value& task);
// Sets task.businessStatus to `status`, coded in kBusinessStatusSystem.
void SetBusinessStatus(fhir::json::Value& task, BusinessStatus status);

// True for Tasks this state machine governs: meta.profile names TaskForReferralManagement, or
// code is task-code#fulfill with a ServiceRequest focus.
bool IsReferralTask(const fhir::json::Value& task);

// The verdict on a referral Task write: allowed, or the error (referral::errc; HttpMappingOf
// gives the answer's status) with the issues that explain it, each with its FHIRPath.
struct TaskVerdict {
  std::error_code error;
  fhir::Outcome outcome;
  bool ok() const { return !error; }
};

// A new referral Task written by `side`: the profile's required elements, an initial status the
// side may create, statusReason.text where required, and a business status the side may set.
TaskVerdict CheckCreate(const fhir::json::Value& task, Side side);

// `after` replacing the stored `before` by `side`: as CheckCreate for the elements, plus
// intent, code, focus, for, requester and authoredOn unchanged, owner changed only by the
// requester or the gateway, the status transition and the business status step.
TaskVerdict CheckUpdate(const fhir::json::Value& before, const fhir::json::Value& after, Side side);

}  // namespace carebridge::referral
