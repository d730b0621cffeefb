// Dead-letter administration over HTTP, for the gateway's admin partner (the same store calls as
// `carebridge outbox dead-letters|redrive`, gateway/main.cc):
//
//   GET  [base]/$dead-letters[?_count=N&_offset=M]
//        A Parameters resource with one `delivery` part per delivery in the dead letter (dead, or
//        stopped by the consent re-check: $redrive takes both), oldest first: id (the delivery id
//        and idempotency key), state (dead | stopped), agency, resource (valueReference, the
//        Task), patient, attempts, lastHttpStatus, lastError, created, updated. _count defaults
//        to 100 (at most 1000).
//   POST [base]/$redrive?delivery={id}
//        Puts a dead (or consent-stopped) delivery back in the queue with a fresh retry budget and
//        wakes the delivery worker; a referral Task the failure had moved to `failed` is put back
//        to `requested`, in the same transaction (delivery::RedriveDelivery, which the CLI uses
//        too). 200 with an OperationOutcome; 404 unknown delivery; 409 when it is pending or
//        delivered, or when the referral's Task moved on since (cancelled...). Each re-drive is an
//        AuditEvent (BALP, restful-interaction #operation) naming the Task, the agency and the
//        patient, committed with it before the answer.
// Every other partner gets 403.

#include <charconv>
#include <chrono>

#include "fhir/resource/resource.h"
#include "gateway/api/fhir_api_impl.h"
#include "gateway/api/formats.h"
#include "gateway/api/responses.h"
#include "gateway/delivery/redrive.h"

namespace carebridge::api {
namespace {

namespace json = fhir::json;
using fhir::IssueType;

constexpr int kDefaultCount = 100;
constexpr int kMaxCount = 1000;

std::optional<HttpResponse> AdminOnly(const Exchange& ex, std::string_view operation) {
  if (ex.partner->kind == auth::PartnerKind::kAdmin) {
    return std::nullopt;
  }
  return ErrorResponse(403, IssueType::kForbidden,
                       "Partner " + ex.partner->id + " (" +
                           std::string(auth::ToString(ex.partner->kind)) + ") may not use " +
                           std::string(operation) + ": the gateway's admin partner only");
}

std::optional<int> ParseCount(std::string_view text, int max) {
  int n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n < 0 || n > max) {
    return std::nullopt;
  }
  return n;
}

}  // namespace

net::awaitable<HttpResponse> FhirApi::Impl::DeadLetters(ExchangePtr ex) {
  if (auto refused = AdminOnly(*ex, "$dead-letters")) {
    co_return std::move(*refused);
  }
  int count = kDefaultCount;
  int offset = 0;
  for (const auto& [name, value] : ex->target.query) {
    if (name == "_format") {
      continue;
    }
    if (name != "_count" && name != "_offset") {
      co_return ErrorResponse(
          400, IssueType::kNotSupported,
          "Unknown parameter '" + name.substr(0, 40) + "': $dead-letters takes _count and _offset",
          name.substr(0, 40));
    }
    auto n = ParseCount(value, name == "_count" ? kMaxCount : 1'000'000'000);
    if (!n) {
      co_return ErrorResponse(
          400, IssueType::kValue,
          name + " must be a whole number (_count at most " + std::to_string(kMaxCount) + ")",
          name);
    }
    (name == "_count" ? count : offset) = *n;
  }
  auto dead =
      co_await OnPool([this, count, offset] { return store.ListDeadLetters(count, offset); });
  if (!dead) {
    co_return ErrorResponse(dead.error(), "The dead letters could not be read");
  }
  json::Value parameters = json::Value::Array();
  for (const store::Delivery& d : *dead) {
    json::Value parts = json::Value::Array();
    parts.PushBack(fhir::ParameterText("id", "valueString", d.id));
    parts.PushBack(fhir::ParameterText("state", "valueCode", std::string(store::ToCode(d.state))));
    parts.PushBack(fhir::ParameterText("agency", "valueString", d.message.destination));
    parts.PushBack(fhir::ParameterReference("resource",
                                            d.message.resource_type + "/" + d.message.resource_id));
    if (!d.message.patient_id.empty()) {
      parts.PushBack(fhir::ParameterReference("patient", "Patient/" + d.message.patient_id));
    }
    parts.PushBack(fhir::ParameterInteger("attempts", d.attempts));
    if (d.last_http_status != 0) {
      parts.PushBack(fhir::ParameterInteger("lastHttpStatus", d.last_http_status));
    }
    if (!d.last_error.empty()) {
      parts.PushBack(fhir::ParameterText("lastError", "valueString", d.last_error));
    }
    parts.PushBack(
        fhir::ParameterText("created", "valueInstant", fhir::FormatInstant(d.created_ms)));
    parts.PushBack(
        fhir::ParameterText("updated", "valueInstant", fhir::FormatInstant(d.updated_ms)));
    parameters.PushBack(fhir::ParameterGroup("delivery", std::move(parts)));
  }
  co_return JsonResponse(200, fhir::MakeParameters(std::move(parameters)));
}

net::awaitable<HttpResponse> FhirApi::Impl::Redrive(ExchangePtr ex) {
  if (auto refused = AdminOnly(*ex, "$redrive")) {
    co_return std::move(*refused);
  }
  std::string id;
  for (const auto& [name, value] : ex->target.query) {
    if (name == "delivery" && id.empty()) {
      id = value;
    } else if (name != "_format") {
      co_return ErrorResponse(400, IssueType::kNotSupported,
                              "$redrive takes one parameter, delivery (the delivery id from "
                              "$dead-letters)",
                              name.substr(0, 40));
    }
  }
  if (id.empty() || id.size() > 128) {
    co_return ErrorResponse(400, IssueType::kRequired,
                            "$redrive needs delivery={id} (an id from $dead-letters)", "delivery");
  }
  // The re-drive's own record, committed in the re-drive's batch before the answer.
  const delivery::RedriveAudit record = [this, &ex](const store::Delivery& d,
                                                    const std::string& what) {
    audit::RestEvent event;
    event.id = NewUuid();
    event.recorded = NowInstant();
    event.interaction = audit::Interaction::kOperation;
    event.gateway = GatewayOf(*ex);
    event.requestor = RequestorOf(*ex);
    event.resource =
        audit::ResourceRef{d.message.resource_type, d.message.resource_id, std::nullopt};
    if (!d.message.patient_id.empty()) {
      event.patient_id = d.message.patient_id;
    }
    event.outcome_desc = what;
    std::vector<store::WriteOp> ops;
    ops.push_back(audit::AuditWriteOp(audit::BuildRestEvent(event)));
    return ops;
  };
  auto outcome = co_await OnPool([this, &id, &record] {
    const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    return delivery::RedriveDelivery(store, id, now, record);
  });
  if (!outcome) {
    co_return ErrorResponse(outcome.error(), "Delivery " + id + " could not be re-driven");
  }
  switch (outcome->kind) {
    case delivery::RedriveOutcome::Kind::kUnknown:
      co_return ErrorResponse(404, IssueType::kNotFound, "No delivery " + id.substr(0, 64));
    case delivery::RedriveOutcome::Kind::kNotRedrivable:
    case delivery::RedriveOutcome::Kind::kTaskMovedOn:
      co_return ErrorResponse(409, IssueType::kConflict, outcome->message);
    case delivery::RedriveOutcome::Kind::kRedriven:
      break;
  }
  const std::string& what = outcome->message;
  if (outbox_listener) {
    outbox_listener();
  }
  fhir::Outcome result;
  result.Add(fhir::Severity::kInformation, IssueType::kInformational, "", what);
  co_return OutcomeResponse(200, result);
}

}  // namespace carebridge::api
