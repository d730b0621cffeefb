#include "gateway/delivery/task_observer.h"

#include <future>
#include <optional>
#include <string>

#include "fhir/json/json.h"
#include "fhir/resource/resource.h"
#include "fhir/search/search.h"
#include "gateway/log/log.h"
#include "gateway/referral/task_state.h"

namespace carebridge::delivery {
namespace {

namespace json = fhir::json;
using referral::BusinessStatus;
using Outcome = store::DeliveryAttempt::Outcome;

// The Task as it should be after `attempt`, or nullopt when it stays as it is.
std::optional<json::Value> Reflect(json::Value task, const store::DeliveryAttempt& attempt) {
  const auto status = referral::ParseTaskStatus(task.StringAt("status"));
  const auto business = referral::BusinessStatusOf(task);
  switch (attempt.outcome) {
    case Outcome::kDelivered:
      if (business && referral::IsHandoffStep(*business)) {
        return std::nullopt;  // delivered already, or the agency is further along
      }
      if (!referral::CheckBusinessStatus(business, BusinessStatus::kDelivered,
                                         status.value_or(referral::TaskStatus::kRequested),
                                         referral::Side::kGateway)) {
        return std::nullopt;
      }
      referral::SetBusinessStatus(task, BusinessStatus::kDelivered);
      return task;
    case Outcome::kDeadLetter:
    case Outcome::kStopped: {
      if (status != referral::TaskStatus::kRequested) {
        return std::nullopt;  // someone moved it on (or it was cancelled): theirs to keep
      }
      const bool stopped = attempt.outcome == Outcome::kStopped;
      task.Set("status", json::Value::String("failed"));
      json::Value reason = json::Value::Object();
      reason.Set("text", json::Value::String((stopped ? "not released: " : "delivery failed: ") +
                                             attempt.error));
      task.Set("statusReason", std::move(reason));
      referral::SetBusinessStatus(
          task, stopped ? BusinessStatus::kNotReleased : BusinessStatus::kDeliveryFailed);
      return task;
    }
    case Outcome::kRetry:
    case Outcome::kAbandoned:
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

void TaskStatusObserver::OnAttempt(const store::Delivery& delivery,
                                   const store::DeliveryAttempt& attempt) {
  if (delivery.message.resource_type != "Task") {
    return;
  }
  const std::string& id = delivery.message.resource_id;
  for (int tries = 0; tries < 3; ++tries) {
    auto current = store_.Read("Task", id);
    if (!current) {
      return;  // gone: nothing to reflect
    }
    std::string message;
    auto parsed = json::Parse(current->json, json::Limits{}, message);
    if (!parsed) {
      return;
    }
    std::optional<json::Value> next = Reflect(std::move(*parsed), attempt);
    if (!next) {
      return;
    }
    store::WriteOp op =
        store::ResourceOp(store::WriteOp::Kind::kUpdate, "Task", id, std::move(*next));
    op.if_match = current->version;  // against the version read: a concurrent move wins
    store::WriteBatch batch;
    batch.ops.push_back(std::move(op));
    store::WriteResult written = store::WriteAndWait(store_, std::move(batch));
    if (written.ops.at(0)) {
      return;
    }
    if (written.ops[0].error() != store::make_error_code(store::errc::kVersionConflict)) {
      log::Log(log::LogLevel::kWarn, "cannot reflect a delivery in its Task",
               {{"task", id}, {"error", written.ops[0].error().message()}});
      return;
    }
  }
}

}  // namespace carebridge::delivery
