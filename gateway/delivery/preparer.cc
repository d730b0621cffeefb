#include "gateway/delivery/preparer.h"

#include <chrono>
#include <future>
#include <optional>
#include <utility>

#include "fhir/json/json.h"
#include "fhir/resource/resource.h"
#include "fhir/search/search.h"
#include "gateway/audit/audit_event.h"
#include "gateway/audit/store_op.h"
#include "gateway/consent/data_item.h"

namespace carebridge::delivery {
namespace {

using fhir::json::Value;
using Kind = Preparation::Kind;

Preparation Prepared(Kind kind, std::string reason) {
  Preparation p;
  p.kind = kind;
  p.reason = std::move(reason);
  return p;
}

// A read failed: data gone is permanent, anything else (the database) is worth another try.
Preparation ReadFailure(std::string_view what, std::error_code ec) {
  if (ec == store::make_error_code(store::errc::kNotFound) ||
      ec == store::make_error_code(store::errc::kGone)) {
    return Prepared(Kind::kStop, std::string(what) + " no longer exists");
  }
  return Prepared(Kind::kRetryLater, "cannot read " + std::string(what) + ": " + ec.message());
}

std::optional<Value> ParseStored(const std::string& json) {
  std::string message;
  auto v = fhir::json::Parse(json, {}, message);
  if (!v) {
    return std::nullopt;
  }
  return std::move(*v);
}

bool IsRelative(std::string_view reference) {
  return !reference.empty() && reference.find("://") == std::string_view::npos &&
         !reference.starts_with("urn:") && !reference.starts_with("#");
}

std::string PercentEncodeBar(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "%7C";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

Result<std::optional<std::string>> CheckRelease(store::Store& store, const consent::Policy& policy,
                                                std::string_view purpose,
                                                const AgencyEndpoint& agency,
                                                const std::string& patient_id,
                                                const std::vector<const Value*>& resources,
                                                std::int64_t now_ms, int max_consents,
                                                bool* redisclosure_notice) {
  auto consents = store::PatientConsents(store, patient_id, max_consents);
  if (!consents) {
    return consents.error();
  }
  const consent::ConsentSet set =
      consent::ConsentSet::Compile(patient_id, *consents, policy, now_ms);
  consent::Recipient recipient;
  recipient.partner_id = agency.id;
  recipient.organization =
      agency.organization.empty() ? "Organization/" + agency.id : agency.organization;
  recipient.roles = agency.roles;
  for (const Value* resource : resources) {
    const consent::DataItem item = consent::DataItem::FromResource(*resource);
    const consent::Decision d = set.Evaluate(recipient, purpose, consent::Action::kDisclose, item);
    if (!d.permitted()) {
      return std::optional<std::string>("consent does not release " + std::string(item.type) + "/" +
                                        std::string(item.id) + " to " + agency.id + ": " +
                                        d.Explain());
    }
    if (redisclosure_notice != nullptr && d.obligations.attach_redisclosure_notice) {
      *redisclosure_notice = true;
    }
  }
  return std::optional<std::string>();
}

StorePreparer::StorePreparer(store::Store& store, StorePreparerOptions options)
    : store_(store), options_(std::move(options)) {}

void StorePreparer::RecordSendDecision(const store::Delivery& delivery,
                                       const AgencyEndpoint& agency, const std::string& patient_id,
                                       const std::vector<const Value*>& disclosed,
                                       std::int64_t now_ms, const std::string& refusal) {
  audit::ConsentDecisionEvent event;
  // One record per attempt: the id is the delivery's and the attempt's.
  event.id = "send-" + delivery.id + "-" + std::to_string(delivery.attempts);
  event.recorded = fhir::FormatInstant(now_ms);
  event.recipient.partner_id = agency.id;
  event.recipient.display = agency.id;
  event.recipient.purpose = options_.purpose;
  event.patient_id = patient_id;
  for (const Value* resource : disclosed) {
    event.data.push_back({std::string(resource->StringAt("resourceType")),
                          std::string(resource->StringAt("id")), std::nullopt});
  }
  event.permit = refusal.empty();
  event.explanation = refusal.empty()
                          ? "permit: the patient's consent releases the referral to " + agency.id +
                                " for " + options_.purpose + " (checked again before sending)"
                          : refusal;
  store::WriteBatch batch;
  batch.ops.push_back(audit::AuditWriteOp(audit::BuildConsentDecision(event)));
  // Blocking, as Prepare is (it runs on the blocking pool). A record that exists already (the
  // same attempt prepared twice) is kept as it is.
  store::WriteAndWait(store_, std::move(batch));
}

Preparation StorePreparer::Prepare(const store::Delivery& delivery) {
  for (const auto& [destination, url] : options_.webhooks) {
    if (destination != delivery.message.destination) {
      continue;
    }
    if (delivery.message.resource_type != "Communication") {
      return Prepared(Kind::kDeadLetter, "a webhook takes Communications only");
    }
    auto stored = store_.Read("Communication", delivery.message.resource_id);
    if (!stored) {
      return ReadFailure("Communication/" + delivery.message.resource_id, stored.error());
    }
    Preparation p;
    p.call.method = "POST";
    p.call.url = url;
    p.call.headers = {"Content-Type: application/fhir+json", "Idempotency-Key: " + delivery.id};
    p.call.body = stored->json;
    return p;
  }
  const AgencyEndpoint* agency = nullptr;
  for (const auto& a : options_.agencies) {
    if (a.id == delivery.message.destination) {
      agency = &a;
    }
  }
  if (!agency || agency->base_url.empty()) {
    return Prepared(Kind::kDeadLetter, "no FHIR endpoint is configured for agency '" +
                                           delivery.message.destination +
                                           "' (agencies without one poll for their referrals)");
  }
  if (delivery.message.resource_type != "Task") {
    return Prepared(Kind::kDeadLetter,
                    "cannot deliver a " + delivery.message.resource_type + "; only Tasks");
  }
  auto task_version = store_.Read("Task", delivery.message.resource_id);
  if (!task_version) {
    return ReadFailure("Task/" + delivery.message.resource_id, task_version.error());
  }
  std::optional<Value> task = ParseStored(task_version->json);
  if (!task) {
    return Prepared(Kind::kDeadLetter, "the stored Task is not valid JSON");
  }
  // The ServiceRequest the Task asks to fulfil, when it lives here.
  std::optional<Value> service_request;
  if (const Value* focus = task->Find("focus"); focus && focus->is_object()) {
    const std::string sr_id = fhir::LocalId(focus->StringAt("reference"), "ServiceRequest");
    if (!sr_id.empty()) {
      auto sr = store_.Read("ServiceRequest", sr_id);
      if (!sr) {
        return ReadFailure("ServiceRequest/" + sr_id, sr.error());
      }
      service_request = ParseStored(sr->json);
    }
  }
  std::string patient_id = delivery.message.patient_id;
  if (patient_id.empty()) {
    if (const Value* f = task->Find("for"); f && f->is_object()) {
      patient_id = fhir::LocalId(f->StringAt("reference"), "Patient");
    }
  }
  if (patient_id.empty()) {
    return Prepared(Kind::kStop,
                    "the referral names no patient of this gateway: nothing can be "
                    "released without the patient's consent");
  }

  // Consent, as of now.
  const std::int64_t now = options_.now_ms
                               ? options_.now_ms()
                               : std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count();
  std::vector<const Value*> disclosed = {&*task};
  if (service_request) {
    disclosed.push_back(&*service_request);
  }
  bool part2_notice = false;
  auto refused = CheckRelease(store_, options_.policy, options_.purpose, *agency, patient_id,
                              disclosed, now, options_.max_consents, &part2_notice);
  if (!refused) {
    return Prepared(Kind::kRetryLater,
                    "cannot read the patient's consents: " + refused.error().message());
  }
  RecordSendDecision(delivery, *agency, patient_id, disclosed, now, refused->value_or(""));
  if (*refused) {
    return Prepared(Kind::kStop, std::move(**refused));
  }

  // The Task as the agency gets it: in its dialect, then with what the gateway adds.
  Value body = *task;
  if (options_.map_outbound) {
    options_.map_outbound(agency->id, body);
  }
  const std::string task_id = delivery.message.resource_id;
  body.Remove("id");
  if (Value* meta = body.Find("meta"); meta && meta->is_object()) {
    Value kept = Value::Object();
    if (const Value* profiles = meta->Find("profile")) {
      kept.Set("profile", *profiles);
    }
    if (kept.members().empty()) {
      body.Remove("meta");
    } else {
      *meta = std::move(kept);
    }
  }
  {
    Value identifier = Value::Object();
    identifier.Set("system", Value::String(std::string(kReferralIdentifierSystem)));
    identifier.Set("value", Value::String(task_id));
    Value* identifiers = body.Find("identifier");
    if (!identifiers || !identifiers->is_array()) {
      body.Set("identifier", Value::Array());
      identifiers = body.Find("identifier");
    }
    identifiers->PushBack(std::move(identifier));
  }
  if (part2_notice) {
    // 42 CFR 2.32: a disclosure of Part 2 data with the patient's consent carries the notice.
    Value note = Value::Object();
    note.Set("text", Value::String(std::string(consent::kRedisclosureNotice)));
    Value* notes = body.Find("note");
    if (!notes || !notes->is_array()) {
      body.Set("note", Value::Array());
      notes = body.Find("note");
    }
    notes->PushBack(std::move(note));
  }
  std::string base = options_.gateway_base_url;
  while (!base.empty() && base.back() == '/') {
    base.pop_back();
  }
  if (!base.empty()) {
    for (std::string_view element : {"focus", "for", "requester"}) {
      Value* ref = body.Find(element);
      if (ref && ref->is_object()) {
        const std::string_view text = ref->StringAt("reference");
        if (IsRelative(text)) {
          ref->Set("reference", Value::String(base + "/" + std::string(text)));
        }
      }
    }
  }

  Preparation p;
  p.kind = Kind::kSend;
  const std::string search = "identifier=" + std::string(kReferralIdentifierSystem) + "|" + task_id;
  p.call.headers = {"Content-Type: application/fhir+json", "Accept: application/fhir+json",
                    "Idempotency-Key: " + delivery.id, "Prefer: return=minimal"};
  if (task->StringAt("status") == "requested") {
    p.call.method = "POST";
    p.call.url = agency->base_url + "/Task";
    p.call.headers.push_back("If-None-Exist: " + search);
  } else {
    p.call.method = "PUT";
    p.call.url = agency->base_url + "/Task?" + PercentEncodeBar(search);
  }
  p.call.body = fhir::json::Write(body);
  return p;
}

}  // namespace carebridge::delivery
