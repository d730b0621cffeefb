#include "gateway/delivery/redrive.h"

#include <optional>
#include <utility>

#include "fhir/json/json.h"
#include "gateway/referral/task_state.h"

namespace carebridge::delivery {
namespace {

namespace json = fhir::json;
using Kind = RedriveOutcome::Kind;
using referral::BusinessStatus;
using referral::TaskStatus;

std::optional<json::Value> ParseStored(const store::ResourceVersion& stored) {
  std::string message;
  auto parsed = json::Parse(stored.json, json::Limits{}, message);
  return parsed ? std::optional<json::Value>(std::move(*parsed)) : std::nullopt;
}

// The gateway's own failure of a referral (task_observer.h), which a re-drive undoes.
bool FailedByDelivery(const json::Value& task) {
  const auto business = referral::BusinessStatusOf(task);
  return referral::ParseTaskStatus(task.StringAt("status")) == TaskStatus::kFailed && business &&
         (*business == BusinessStatus::kDeliveryFailed ||
          *business == BusinessStatus::kNotReleased);
}

// `failed` as it was before the gateway failed it: status, statusReason and businessStatus of
// `before` (the version before the failure) when it was requested, else requested with neither.
json::Value Restored(json::Value failed, const std::optional<json::Value>& before) {
  const bool usable =
      before && referral::ParseTaskStatus(before->StringAt("status")) == TaskStatus::kRequested;
  failed.Set("status", json::Value::String("requested"));
  for (const char* element : {"statusReason", "businessStatus"}) {
    const json::Value* was = usable ? before->Find(element) : nullptr;
    if (was != nullptr) {
      failed.Set(element, *was);
    } else {
      failed.Remove(element);
    }
  }
  json::Value* meta = failed.Find("meta");
  if (meta == nullptr || !meta->is_object()) {
    failed.Set("meta", json::Value::Object());
    meta = failed.Find("meta");
  }
  meta->Set("source", json::Value::String(std::string(kGatewaySource)));
  return failed;
}

RedriveOutcome Refused(Kind kind, store::Delivery delivery, std::string message) {
  RedriveOutcome out;
  out.kind = kind;
  out.delivery = std::move(delivery);
  out.message = std::move(message);
  return out;
}

}  // namespace

Result<RedriveOutcome> RedriveDelivery(store::Store& store, std::string_view id,
                                       std::int64_t now_ms, const RedriveAudit& audit) {
  const std::string delivery_id(id);
  for (int tries = 0;; ++tries) {
    auto read = store.ReadDelivery(delivery_id);
    if (!read) {
      if (read.error() == store::errc::kNotFound) {
        return Refused(Kind::kUnknown, {}, "No delivery " + delivery_id);
      }
      return read.error();
    }
    store::Delivery d = std::move(*read);
    if (d.state != store::DeliveryState::kDead && d.state != store::DeliveryState::kStopped) {
      return Refused(Kind::kNotRedrivable, std::move(d),
                     "Delivery " + delivery_id + " is not dead or stopped: nothing to re-drive");
    }
    const std::string task_ref = d.message.resource_type + "/" + d.message.resource_id;
    store::WriteBatch batch;  // atomic: the Task put back, the re-drive and its record
    std::optional<std::size_t> task_op;
    if (d.message.resource_type == "Task") {
      auto current = store.Read("Task", d.message.resource_id);
      if (!current && current.error() != store::errc::kNotFound &&
          current.error() != store::errc::kGone) {
        return current.error();
      }
      std::optional<json::Value> task = current ? ParseStored(*current) : std::nullopt;
      if (task && FailedByDelivery(*task)) {
        std::optional<json::Value> before;
        if (current->version > 1) {
          if (auto v = store.ReadVersion("Task", d.message.resource_id, current->version - 1)) {
            before = ParseStored(*v);
          }
        }
        store::WriteOp op =
            store::ResourceOp(store::WriteOp::Kind::kUpdate, "Task", d.message.resource_id,
                              Restored(std::move(*task), before));
        op.if_match = current->version;  // a Task moved meanwhile: read again
        task_op = batch.ops.size();
        batch.ops.push_back(std::move(op));
      } else if (task &&
                 referral::ParseTaskStatus(task->StringAt("status")) != TaskStatus::kRequested) {
        // The referral itself (the first delivery of the Task to this agency) is not sent again
        // once the Task moved on.
        auto deliveries =
            store.ListDeliveries(d.message.destination, "Task", d.message.resource_id);
        if (!deliveries) {
          return deliveries.error();
        }
        if (!deliveries->empty() && deliveries->front().id == d.id) {
          const std::string status(task->StringAt("status"));
          return Refused(Kind::kTaskMovedOn, std::move(d),
                         task_ref + " is " + status + " since delivery " + delivery_id +
                             " failed: the referral moved on and is not sent again");
        }
      }
    }
    std::string what = "Re-drove delivery " + delivery_id + " of " + task_ref + " to " +
                       d.message.destination + " (it was " + std::string(store::ToCode(d.state)) +
                       ")";
    if (task_op) {
      what += "; " + task_ref + " is requested again";
    }
    store::WriteOp redrive;
    redrive.kind = store::WriteOp::Kind::kRedrive;
    redrive.id = delivery_id;
    redrive.outbox = store::OutboxMessage{};
    redrive.outbox->not_before_ms = now_ms;
    const std::size_t redrive_op = batch.ops.size();
    batch.ops.push_back(std::move(redrive));
    if (audit) {
      for (store::WriteOp& op : audit(d, what)) {
        batch.ops.push_back(std::move(op));
      }
    }
    store::WriteResult written = store::WriteAndWait(store, std::move(batch));
    if (!written.failed_op) {
      RedriveOutcome out;
      out.delivery = std::move(d);
      out.task_restored = task_op.has_value();
      out.message = std::move(what);
      return out;
    }
    const std::error_code error = written.ops[*written.failed_op].error();
    const bool conflict = error == store::errc::kVersionConflict;
    if (conflict && *written.failed_op == task_op && tries < 3) {
      continue;  // the Task changed meanwhile: decide again on what it is now
    }
    if (*written.failed_op == redrive_op && (conflict || error == store::errc::kNotFound)) {
      continue;  // re-driven (or gone) meanwhile: say so from what it is now
    }
    return error;
  }
}

}  // namespace carebridge::delivery
