#pragma once

// Re-driving a delivery from the dead letter (dead, or stopped by the consent re-check): the one
// implementation behind `carebridge outbox redrive` (gateway/main.cc) and POST $redrive
// (gateway/api/outbox_ops.cc).
//
// A referral goes out again as it was meant to go. When the delivery's failure moved its Task to
// `failed` (task_observer.h: business status delivery-failed or not-released), the Task is put
// back where it was before: status, statusReason and businessStatus of the version before the
// failure (status requested), as a new version written by the gateway (meta.source
// kGatewaySource), so that the preparer sends the requested Task as a conditional create again.
// The Task version, the delivery's return to pending and the caller's AuditEvent commit in one
// atomic batch (store::WriteOp::Kind::kRedrive); a Task changed meanwhile is re-read and tried
// again.
//
// A Task that moved on otherwise is not resurrected: when the delivery is the first of the Task
// to that agency (it carries the referral itself) and the Task is neither requested nor failed by
// the gateway (cancelled or entered-in-error by its requester, say), the re-drive is refused
// (kTaskMovedOn) and nothing changes. Later deliveries carry the requester's changes (the
// preparer PUTs the current Task) and are re-driven as they are; so are deliveries of anything
// but a Task (the SLA webhook's Communications).

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/base/result.h"
#include "gateway/store/store.h"

namespace carebridge::delivery {

// meta.source of the Task versions the gateway itself writes.
inline constexpr std::string_view kGatewaySource = "urn:carebridge:gateway";

struct RedriveOutcome {
  enum class Kind {
    kRedriven,       // back in the queue (and its Task put back when it had failed)
    kUnknown,        // no such delivery
    kNotRedrivable,  // pending or delivered: nothing to re-drive
    kTaskMovedOn,    // the referral's Task moved on since: not re-driven
  };
  Kind kind = Kind::kRedriven;
  store::Delivery delivery;  // as it was before the re-drive (not for kUnknown)
  bool task_restored = false;
  std::string message;  // what was done, or why not: for people
};

// The AuditEvent ops recording a re-drive of `delivery` (`what`: the outcome's message), built
// by the caller, who knows who asked; they commit in the re-drive's batch.
using RedriveAudit = std::function<std::vector<store::WriteOp>(const store::Delivery& delivery,
                                                               const std::string& what)>;

// Re-drives delivery `id`, due at `now_ms`. Blocking (store reads and a write): call it from a
// blocking-work thread or the CLI. An error only when the store fails.
Result<RedriveOutcome> RedriveDelivery(store::Store& store, std::string_view id,
                                       std::int64_t now_ms, const RedriveAudit& audit = {});

}  // namespace carebridge::delivery
