#pragma once

// A referral's history as coordinators read it, and the SLA facts it implies. Pure: the caller
// loads the Task's versions (FHIR history, oldest first), the contacts linked to it
// (Communication, Encounter) and the delivery attempts, and gets events and facts back.
//
// Facts for the SLA timers (sla.h), from the versions in order:
//   requested_ms      the first version with status requested (else authoredOn);
//   acknowledged_ms   the first with business status received-by-agency or later, or status
//                     accepted / rejected / in-progress (the agency answered);
//   accepted_ms       the first with status accepted or in-progress;
//   first_contact_ms  the first with business status first-contact or later, or the first
//                     contact, whichever is earlier;
//   linked_ms         the first with business status linked-to-care;
//   closed_ms         the first with a terminal status;
//   contacts_ms       every contact's time;
//   post_discharge    the ServiceRequest carries category kReferralFlagSystem#post-discharge;
//   discharge_ms      its extension kDischargeExtension (valueDateTime), else its authoredOn.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/json/value.h"
#include "gateway/referral/sla.h"

namespace carebridge::referral {

inline constexpr std::string_view kReferralFlagSystem =
    "https://carebridge.example.org/fhir/CodeSystem/referral-flag";
inline constexpr std::string_view kDischargeExtension =
    "https://carebridge.example.org/fhir/StructureDefinition/discharge-date";

struct TaskVersion {
  std::int64_t at_ms = 0;  // meta.lastUpdated of the version
  fhir::json::Value task;
  std::string author;  // who wrote it (partner id), when known
};

struct Contact {
  std::int64_t at_ms = 0;
  std::string reference;  // "Communication/123", "Encounter/9"
  std::string author;
};

struct DeliveryEvent {
  std::int64_t at_ms = 0;
  std::string outcome;  // store::ToCode(DeliveryAttempt::Outcome): delivered, retry, ...
  int http_status = 0;
  std::string detail;
};

struct TimelineEvent {
  enum class Kind { kCreated, kStatus, kBusinessStatus, kOwner, kContact, kDelivery };
  std::int64_t at_ms = 0;
  Kind kind = Kind::kStatus;
  std::string from;  // previous value (status, business status code, owner reference)
  std::string to;    // new value; for contacts the reference, for deliveries the outcome
  std::string author;
  std::string detail;  // statusReason.text, the delivery's HTTP status and error...
};
std::string_view ToCode(TimelineEvent::Kind kind);  // "created", "status", ...

struct Timeline {
  std::string accountable;            // Task.requester of the latest version: the single point of
                                      // accountability
  std::vector<TimelineEvent> events;  // by time; ties keep versions, contacts, deliveries order
};

Timeline BuildTimeline(const std::vector<TaskVersion>& versions,
                       const std::vector<Contact>& contacts,
                       const std::vector<DeliveryEvent>& deliveries);

// The timeline as FHIR R4 Provenance resources, one per event, in the timeline's order: target
// Task/<task_id> (and, for a contact, the contact's resource), occurredDateTime and recorded the
// event's time, activity the event's kind coded in kTimelineEventSystem with what changed as its
// text, and one agent of type provenance-participant-type#author: Organization/<partner id> for
// a partner's step, `gateway` for the gateway's own (routing, deliveries). Ids "<task_id>-<n>"
// (n from 1), omitted when longer than FHIR allows.
inline constexpr std::string_view kTimelineEventSystem =
    "https://carebridge.example.org/fhir/CodeSystem/referral-timeline-event";
std::vector<fhir::json::Value> ToProvenance(const Timeline& timeline, std::string_view task_id,
                                            std::string_view gateway = "Device/carebridge");

ReferralFacts FactsFrom(const std::vector<TaskVersion>& versions,
                        const std::vector<Contact>& contacts,
                        const fhir::json::Value* service_request);

}  // namespace carebridge::referral
