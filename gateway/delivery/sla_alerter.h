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
#include "gateway/store/store.h"

namespace carebridge::delivery {

inline constexpr std::string_view kSlaBreachSystem =
    "https://carebridge.example.org/fhir/CodeSystem/referral-sla-breach";

// The outbox destination of the SLA webhook (StorePreparerOptions::webhooks).
inline constexpr std::string_view kSlaWebhook = "sla-webhook";

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
