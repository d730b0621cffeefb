#pragma once

// Reflects delivery outcomes in the referral Task, as the gateway side of the state machine
// (gateway/referral/task_state.h):
//  - delivered: business status `delivered`, unless the hand-off is already further along;
//  - dead letter: a Task still `requested` goes to `failed` with business status
//    `delivery-failed` and the last error in statusReason.text;
//  - stopped (consent): a Task still `requested` goes to `failed` with business status
//    `not-released` and the consent decision in statusReason.text.
// Retries and abandoned attempts leave the Task alone: they are in the attempt record. A Task the
// agency or the requester moved meanwhile keeps its status (the update is made against the
// version read, and re-read on a conflict).

#include "gateway/delivery/worker.h"
#include "gateway/store/store.h"

namespace carebridge::delivery {

class TaskStatusObserver final : public DeliveryObserver {
 public:
  // REQUIRES: `store` outlives the observer.
  explicit TaskStatusObserver(store::Store& store) : store_(store) {}
  void OnAttempt(const store::Delivery& delivery, const store::DeliveryAttempt& attempt) override;

 private:
  store::Store& store_;
};

}  // namespace carebridge::delivery
