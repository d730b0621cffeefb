#pragma once

// Reflects delivery outcomes in the referral Task, as the gateway side of the state machine
// (gateway/referral/task_state.h):
//  - delivered: business status `delivered`, unless the hand-off is already further along; and a
//    BALP PrivacyDisclosure AuditEvent of the Task and its ServiceRequest, naming the agency as
//    recipient and the patient (one per delivered attempt: id "disclosure-<delivery>-<attempt>");
//  - dead letter: a Task still `requested` goes to `failed` with business status
//    `delivery-failed` and the last error in statusReason.text;
//  - stopped (consent): a Task still `requested` goes to `failed` with business status
//    `not-released` and the consent decision in statusReason.text.
// A Task moved to failed raises, in the same batch as that move, the coordinator alert of
// sla_alerter.h (NotSentAlert: Flag, Communication to Task.requester, webhook row), once per
// referral and cause: an alert already stored for that key is not raised again.
// Retries and abandoned attempts leave the Task alone: they are in the attempt record. A Task the
// agency or the requester moved meanwhile keeps its status (the update is made against the
// version read, and re-read on a conflict).
//
// The disclosure record is written after the attempt is durable (the observer runs then): a crash
// between the two loses the AuditEvent, never the delivery record.

#include <string>

#include "gateway/consent/sensitivity.h"
#include "gateway/delivery/sla_alerter.h"
#include "gateway/delivery/worker.h"
#include "gateway/store/store.h"

namespace carebridge::delivery {

struct TaskObserverOptions {
  AlertTarget alerts;             // where "referral not sent" alerts go besides the store
  std::string purpose = "TREAT";  // v3-ActReason purpose of a referral disclosure
  // Which security labels mark 42 CFR Part 2 data (the consent policy's), for the disclosure.
  consent::SensitivityRules sensitivity = consent::SensitivityRules::Default();
};

class TaskStatusObserver final : public DeliveryObserver {
 public:
  // REQUIRES: `store` outlives the observer.
  explicit TaskStatusObserver(store::Store& store, TaskObserverOptions options = {})
      : store_(store), options_(std::move(options)) {}
  void OnAttempt(const store::Delivery& delivery, const store::DeliveryAttempt& attempt) override;

 private:
  void RecordDisclosure(const store::Delivery& delivery, const store::DeliveryAttempt& attempt);

  store::Store& store_;
  TaskObserverOptions options_;
};

}  // namespace carebridge::delivery
