#include "gateway/delivery/task_observer.h"

#include <future>
#include <optional>
#include <string>

#include "fhir/json/json.h"
#include "fhir/resource/resource.h"
#include "fhir/search/search.h"
#include "gateway/audit/audit_event.h"
#include "gateway/audit/store_op.h"
#include "gateway/consent/data_item.h"
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

std::optional<json::Value> ParseStored(const Result<store::ResourceVersion>& stored) {
  if (!stored) {
    return std::nullopt;
  }
  std::string message;
  auto parsed = json::Parse(stored->json, json::Limits{}, message);
  return parsed ? std::optional<json::Value>(std::move(*parsed)) : std::nullopt;
}

}  // namespace

void TaskStatusObserver::RecordDisclosure(const store::Delivery& delivery,
                                          const store::DeliveryAttempt& attempt) {
  const std::string& task_id = delivery.message.resource_id;
  auto task_version = store_.Read("Task", task_id);
  std::optional<json::Value> task = ParseStored(task_version);
  if (!task) {
    return;
  }
  std::string patient_id = delivery.message.patient_id;
  if (patient_id.empty()) {
    patient_id =
        fhir::LocalId(task->Find("for") ? task->Find("for")->StringAt("reference") : "", "Patient");
  }
  if (patient_id.empty()) {
    return;  // the preparer sends nothing without a patient; nothing to account for
  }
  audit::DisclosureEvent event;
  event.id = "disclosure-" + delivery.id + "-" + std::to_string(attempt.attempt);
  event.recorded =
      fhir::FormatInstant(attempt.finished_ms ? attempt.finished_ms : attempt.started_ms);
  event.recipient.partner_id = delivery.message.destination;
  event.recipient.display = delivery.message.destination;
  event.recipient.purpose = options_.purpose;
  event.patient_id = patient_id;
  std::vector<std::pair<json::Value, std::int64_t>> disclosed;
  disclosed.emplace_back(std::move(*task), task_version->version);
  const json::Value* focus = disclosed.front().first.Find("focus");
  const std::string sr_id =
      fhir::LocalId(focus != nullptr ? focus->StringAt("reference") : "", "ServiceRequest");
  if (!sr_id.empty()) {
    auto sr_version = store_.Read("ServiceRequest", sr_id);
    if (auto sr = ParseStored(sr_version)) {
      disclosed.emplace_back(std::move(*sr), sr_version->version);
    }
  }
  for (const auto& [resource, version] : disclosed) {
    const consent::DataItem item = consent::DataItem::FromResource(resource);
    event.data.push_back({std::string(item.type), std::string(item.id), version});
    for (const auto& label : item.security) {
      event.data_security_labels.emplace_back(label.code);
      event.part2 = event.part2 || options_.sensitivity.IsPart2Label(label.system, label.code);
    }
  }
  event.outcome_desc = "Referral pushed to " + delivery.message.destination + " (HTTP " +
                       std::to_string(attempt.http_status) + ")" +
                       (event.part2 ? "; with the 42 CFR Part 2 re-disclosure notice" : "");
  store::WriteBatch batch;
  batch.ops.push_back(audit::AuditWriteOp(audit::BuildDisclosure(event)));
  store::WriteResult written = store::WriteAndWait(store_, std::move(batch));
  if (written.failed_op &&
      written.ops[*written.failed_op].error() != store::errc::kVersionConflict) {
    log::Log(log::LogLevel::kWarn, "cannot record the disclosure of a pushed referral",
             {{"task", task_id}, {"error", written.ops[*written.failed_op].error().message()}});
  }
}

void TaskStatusObserver::OnAttempt(const store::Delivery& delivery,
                                   const store::DeliveryAttempt& attempt) {
  if (delivery.message.resource_type != "Task") {
    return;
  }
  const std::string& id = delivery.message.resource_id;
  if (attempt.outcome == Outcome::kDelivered) {
    RecordDisclosure(delivery, attempt);
  }
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
    std::vector<store::WriteOp> alert_ops;
    if (next->StringAt("status") == "failed") {
      // The referral will not go out: its coordinator hears of it, once per cause.
      const auto why = referral::BusinessStatusOf(*next);
      const json::Value* reason = next->Find("statusReason");
      const CoordinatorAlert alert =
          NotSentAlert(id, *next, why.value_or(BusinessStatus::kDeliveryFailed),
                       reason != nullptr ? reason->StringAt("text") : "", attempt.finished_ms);
      auto existing = store_.Read("Flag", AlertId(id, alert.key));
      if (!existing && existing.error() == store::errc::kNotFound) {
        alert_ops = AlertOps(alert, options_.alerts);
      }
    }
    store::WriteOp op =
        store::ResourceOp(store::WriteOp::Kind::kUpdate, "Task", id, std::move(*next));
    op.if_match = current->version;  // against the version read: a concurrent move wins
    store::WriteBatch batch;         // atomic: the Task's move and its alert
    batch.ops.push_back(std::move(op));
    for (store::WriteOp& alert_op : alert_ops) {
      batch.ops.push_back(std::move(alert_op));
    }
    store::WriteResult written = store::WriteAndWait(store_, std::move(batch));
    if (!written.failed_op) {
      return;
    }
    if (written.ops[*written.failed_op].error() !=
        store::make_error_code(store::errc::kVersionConflict)) {
      log::Log(log::LogLevel::kWarn, "cannot reflect a delivery in its Task",
               {{"task", id}, {"error", written.ops[*written.failed_op].error().message()}});
      return;
    }
  }
}

}  // namespace carebridge::delivery
