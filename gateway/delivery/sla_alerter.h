#pragma once

// SLA alerts for open referrals: each late step of a referral (gateway/referral/sla.h) raises,
// once, a FHIR Flag on the patient (author: the gateway), a Communication to the referral's
// accountable coordinator (Task.requester), and an outbox row that notifies a webhook, all three
// in ONE atomic store batch.
//
// Exactly once, across restarts: the three ids derive from the Task id and the breach's stable
// key (AlertId), so the alert already stored is found before writing, and a concurrent second
// writer's create of an existing id fails the whole batch (kVersionConflict) instead of
// duplicating it. Nothing is kept in memory between evaluations.
//
// The outbox row's destination is `webhook` (a name the delivery worker resolves); the row
// carries the Communication. Empty `webhook`: no notification row.
//
// Contacts recorded on the referral (Communications based on or part of the Task, by the EHR, a
// coordinator or the owning agency: referral_history.h) count for first contact and the contacts
// a week. The same alert shape (AlertOps) tells the coordinator of a referral the gateway could
// not send (NotSentAlert): the API at routing time, the TaskStatusObserver after a delivery.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "fhir/base/result.h"
#include "fhir/json/limits.h"
#include "gateway/referral/clock.h"
#include "gateway/referral/sla.h"
#include "gateway/referral/task_state.h"
#include "gateway/store/store.h"

namespace carebridge::delivery {

inline constexpr std::string_view kSlaBreachSystem =
    "https://carebridge.example.org/fhir/CodeSystem/referral-sla-breach";

// The outbox destination of the SLA webhook (StorePreparerOptions::webhooks).
inline constexpr std::string_view kSlaWebhook = "sla-webhook";

// Alerts about a referral the gateway could not send (no agency, consent does not release it).
inline constexpr std::string_view kReferralAlertSystem =
    "https://carebridge.example.org/fhir/CodeSystem/referral-alert";

// Where a coordinator alert goes besides the store.
struct AlertTarget {
  std::string webhook;                        // outbox destination (kSlaWebhook); empty: none
  std::string gateway = "Device/carebridge";  // Flag.author, Communication.sender
};

// One alert to a referral's accountable coordinator: SLA breaches and referrals not sent.
struct CoordinatorAlert {
  std::string task_id;
  std::string key;  // stable per referral and cause ("ack", "no-agency"): ids derive from it
  std::string_view system;  // Flag.code and Communication.category
  std::string code;
  std::string text;         // Flag.code.text and the Communication's payload
  std::string patient;      // Task.for ("Patient/<id>"): Flag.subject, Communication.subject
  std::string coordinator;  // Task.requester: the Communication's recipient; empty: none
  std::int64_t now_ms = 0;
};

// The alert as store ops: the Flag on the patient and the Communication to the coordinator (both
// with id AlertId(task_id, key)), and the webhook's outbox row when `target` names one. Commit
// them in ONE batch, with the change that raised the alert if there is one: a second create of
// the same ids fails the batch, so each alert is written once per referral and key.
std::vector<store::WriteOp> AlertOps(const CoordinatorAlert& alert, const AlertTarget& target);

// The alert for a referral Task the gateway did not send: business status `why` (kNoAgency or
// kNotReleased, which is also the key and the code in kReferralAlertSystem), `reason` saying why.
CoordinatorAlert NotSentAlert(std::string_view task_id, const fhir::json::Value& task,
                              referral::BusinessStatus why, std::string_view reason,
                              std::int64_t now_ms);

struct SlaAlertOptions {
  referral::SlaPolicy policy;
  std::string webhook;                         // outbox destination (kSlaWebhook); empty: none
  std::string gateway = "Device/carebridge";   // Flag.author, Communication.sender
  fhir::json::Limits json;                     // for reading stored resources
  std::chrono::milliseconds interval{60'000};  // Start: time between evaluations
};

// "sla-<16 hex digits of the Task id's hash>-<key>": stable, at most 64 characters, a valid id.
std::string AlertId(std::string_view task_id, std::string_view breach_key);

class SlaAlerter {
 public:
  // REQUIRES: `store` and `clock` outlive the alerter.
  SlaAlerter(store::Store& store, const referral::Clock& clock, SlaAlertOptions options);
  ~SlaAlerter();  // Stop()s
  SlaAlerter(const SlaAlerter&) = delete;
  SlaAlerter& operator=(const SlaAlerter&) = delete;

  // Evaluates every open referral Task once (requested, accepted, in-progress, on-hold) and
  // writes the alerts of breaches not alerted before. Returns how many alerts it wrote. Blocking:
  // store reads and a durable write per alert.
  Result<int> RunOnce();

  // Runs RunOnce every `interval` on a thread of its own, until Stop.
  void Start();
  void Stop();

 private:
  store::Store& store_;
  const referral::Clock& clock_;
  SlaAlertOptions options_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace carebridge::delivery
