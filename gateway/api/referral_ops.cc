// Referral operations: GET Task/{id}/$timeline and GET $referral-metrics.
//
// Both answer a FHIR Parameters resource built from the Task's history (every version is a step
// of the referral; meta.source of a version names the partner that wrote it), the outbox
// deliveries and attempts of the Task, its ServiceRequest (the post-discharge flag), and the SLA
// timers of gateway/referral/sla (config.referrals.sla).
//
// $timeline parameters:
//   task          valueReference   the Task
//   accountable   valueReference   Task.requester: the single point of accountability
//   status        valueCode        the current Task.status (businessStatus: ours, if any)
//   event         part*            one per step: time, kind (created, status, business-status,
//                                  owner, contact, delivery), from, to, author, detail
//   slaBreach     part*            one per SLA breach so far: key (stable: ack, first-contact,
//                                  linkage, contacts-week-N), due, contacts
//   evaluated     valueInstant     when the SLA timers were read
// Contacts: Communications whose basedOn or partOf is the Task (delivery/referral_history.h):
// EHRs and coordinators record them, and the owning agency for its own referrals. Encounter is
// not a supported type of this gateway.
//
// As Provenance: GET Provenance?target=Task/{id} answers the same timeline as a searchset Bundle
// of Provenance resources, one per event (referral::ToProvenance: agent = who did it). Provenance
// is searchable by that one parameter only; the resources are not stored or readable by id.
//
// Access: whoever may read the Task (the requester side: EHRs and coordinators; the owner agency
// through its addressed reach), with the same consent decision as a read (FetchVisible).
//
// $referral-metrics?start=&end= (coordinators, privacy officers, admins: aggregates only, no
// patient data): the referral Tasks requested in [start, end) (both optional FHIR dates):
//   referrals, completed, closedLoopShare (completed / referrals), open (part per open status
//   with its count), medianTimeToAcceptance, medianTimeToFirstContact,
//   medianDischargeToLinkage (post-discharge referrals): valueQuantity in hours (UCUM h), absent
//   when nothing was measured.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <map>
#include <set>

#include "fhir/resource/resource.h"
#include "fhir/search/search.h"
#include "gateway/api/fhir_api_impl.h"
#include "gateway/api/formats.h"
#include "gateway/api/responses.h"
#include "gateway/delivery/referral_history.h"
#include "gateway/referral/clock.h"
#include "gateway/referral/sla.h"
#include "gateway/referral/task_state.h"
#include "gateway/referral/timeline.h"

namespace carebridge::api {
namespace {

namespace json = fhir::json;
using fhir::IssueType;

constexpr int kHistoryPage = 100;
constexpr int kMaxContacts = 1000;  // per link (based-on, part-of): a referral has far fewer

// What the timeline and the metrics need of one referral.
struct ReferralRecord {
  std::vector<referral::TaskVersion> versions;  // oldest first
  std::vector<referral::DeliveryEvent> deliveries;
  std::vector<referral::Contact> contacts;
  std::optional<json::Value> service_request;
};

// Loads the history, deliveries and ServiceRequest of Task/id. Blocking.
Result<ReferralRecord> LoadReferral(store::Store& store, const config::Config& config,
                                    const auth::PartnerRegistry& partners, const std::string& id) {
  ReferralRecord record;
  const std::string source_prefix = ContributorSource("");
  auto versions = delivery::LoadTaskVersions(store, config.fhir.json, id, source_prefix);
  if (!versions) {
    return versions.error();
  }
  record.versions = std::move(*versions);
  std::set<std::string> owners;
  for (const referral::TaskVersion& v : record.versions) {
    if (std::string_view owner = fhir::ReferenceAt(v.task, "owner"); !owner.empty()) {
      owners.emplace(owner);
    }
  }
  // Deliveries go to the agency partner behind each owner the Task has had.
  for (const auth::Partner& p : partners.partners()) {
    if (p.kind != auth::PartnerKind::kAgency || !owners.contains(p.OrganizationReference())) {
      continue;
    }
    auto deliveries = store.ListDeliveries(p.id, "Task", id);
    if (!deliveries) {
      if (std::error_code(deliveries.error()) == std::errc::operation_not_supported) {
        break;  // a store without an outbox: nothing was pushed
      }
      return deliveries.error();
    }
    for (const store::Delivery& d : *deliveries) {
      record.deliveries.push_back({d.created_ms, "queued", 0, "to " + p.id});
      auto attempts = store.ListAttempts(d.id);
      if (!attempts) {
        return attempts.error();
      }
      for (const store::DeliveryAttempt& a : *attempts) {
        record.deliveries.push_back({a.finished_ms ? a.finished_ms : a.started_ms,
                                     std::string(store::ToCode(a.outcome)), a.http_status,
                                     a.error});
      }
    }
  }
  auto contacts = delivery::LoadContacts(store, config.fhir.json, id, source_prefix, kMaxContacts);
  if (!contacts) {
    return contacts.error();
  }
  record.contacts = std::move(*contacts);
  if (!record.versions.empty()) {
    const std::string_view focus = fhir::ReferenceAt(record.versions.back().task, "focus");
    if (focus.starts_with("ServiceRequest/")) {
      if (auto sr = store.Read("ServiceRequest", focus.substr(15))) {
        std::string message;
        if (auto parsed = json::Parse(sr->json, config.fhir.json, message)) {
          record.service_request = std::move(*parsed);
        }
      }
    }
  }
  return record;
}

json::Value Hours(std::string name, double hours) {
  json::Value q = json::Value::Object();
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", hours);
  q.Set("value", json::Value::Number(text));
  q.Set("unit", json::Value::String("h"));
  q.Set("system", json::Value::String("http://unitsofmeasure.org"));
  q.Set("code", json::Value::String("h"));
  return fhir::ParameterPart(std::move(name), "valueQuantity", std::move(q));
}

std::optional<double> MedianHours(std::vector<std::int64_t> ms) {
  if (ms.empty()) {
    return std::nullopt;
  }
  std::sort(ms.begin(), ms.end());
  const std::size_t n = ms.size();
  const double median =
      n % 2 ? static_cast<double>(ms[n / 2])
            : (static_cast<double>(ms[n / 2 - 1]) + static_cast<double>(ms[n / 2])) / 2.0;
  return median / 3'600'000.0;
}

}  // namespace

referral::SlaPolicy SlaPolicyFrom(const config::ReferralsConfig& referrals) {
  referral::SlaPolicy p;
  p.ack_business_days = referrals.ack_business_days;
  p.first_contact_days = referrals.first_contact_days;
  p.linkage_days = referrals.linkage_days;
  p.contacts_per_week = referrals.contacts_per_week;
  p.intensive_days = referrals.intensive_days;
  p.utc_offset_minutes = referrals.utc_offset_minutes;
  return p;
}

net::awaitable<HttpResponse> FhirApi::Impl::ReferralTimeline(ExchangePtr ex, std::string id,
                                                             bool as_provenance) {
  Visible visible = co_await FetchVisible(ex, "Task", id, std::nullopt);
  if (!visible.version) {
    co_return ErrorResponse(visible.version.error(), visible.version.error() == store::errc::kGone
                                                         ? "Task/" + id + " has been deleted"
                                                         : "Task/" + id + " is not known");
  }
  auto record = co_await OnPool([this, &id] { return LoadReferral(store, config, partners, id); });
  if (!record) {
    co_return ErrorResponse(record.error(), "The history of Task/" + id + " could not be read");
  }
  if (record->versions.empty() || !referral::IsReferralTask(record->versions.back().task)) {
    co_return ErrorResponse(422, IssueType::kProcessing,
                            "Task/" + id + " is not a referral (TaskForReferralManagement)");
  }
  const std::vector<referral::Contact>& contacts = record->contacts;
  const referral::Timeline timeline =
      referral::BuildTimeline(record->versions, contacts, record->deliveries);
  if (as_provenance) {
    json::Value entries = json::Value::Array();
    std::vector<json::Value> provenance = referral::ToProvenance(timeline, id);
    for (json::Value& p : provenance) {
      json::Value entry = json::Value::Object();
      entry.Set("resource", std::move(p));
      json::Value search = json::Value::Object();
      search.Set("mode", json::Value::String("match"));
      entry.Set("search", std::move(search));
      entries.PushBack(std::move(entry));
    }
    json::Value bundle = json::Value::Object();
    bundle.Set("resourceType", json::Value::String("Bundle"));
    bundle.Set("type", json::Value::String("searchset"));
    bundle.Set("total", json::Value::Number(std::to_string(provenance.size())));
    bundle.Set("entry", std::move(entries));
    HttpResponse response;
    response.headers.emplace_back("content-type", std::string(kFhirJsonType));
    response.body = json::Write(bundle);
    if (visible.notice) {
      AddRedisclosureNotice(response);
    }
    co_return response;
  }
  const json::Value* sr = record->service_request ? &*record->service_request : nullptr;
  const referral::ReferralFacts facts = referral::FactsFrom(record->versions, contacts, sr);
  const std::int64_t now = referral::SystemNowMs();
  const std::vector<referral::Breach> breaches =
      referral::EvaluateSla(SlaPolicyFrom(config.referrals), facts, now);

  const json::Value& task = record->versions.back().task;
  json::Value parameters = json::Value::Array();
  parameters.PushBack(fhir::ParameterReference("task", "Task/" + id));
  if (!timeline.accountable.empty()) {
    parameters.PushBack(fhir::ParameterReference("accountable", timeline.accountable));
  }
  parameters.PushBack(
      fhir::ParameterText("status", "valueCode", std::string(task.StringAt("status"))));
  if (auto business = referral::BusinessStatusOf(task)) {
    parameters.PushBack(fhir::ParameterText("businessStatus", "valueCode",
                                            std::string(referral::ToCode(*business))));
  }
  for (const referral::TimelineEvent& e : timeline.events) {
    json::Value parts = json::Value::Array();
    parts.PushBack(fhir::ParameterText("time", "valueInstant", fhir::FormatInstant(e.at_ms)));
    parts.PushBack(fhir::ParameterText("kind", "valueCode", std::string(referral::ToCode(e.kind))));
    for (const auto& [name, value] : {std::pair<const char*, const std::string*>{"from", &e.from},
                                      {"to", &e.to},
                                      {"author", &e.author},
                                      {"detail", &e.detail}}) {
      if (!value->empty()) {
        parts.PushBack(fhir::ParameterText(name, "valueString", *value));
      }
    }
    parameters.PushBack(fhir::ParameterGroup("event", std::move(parts)));
  }
  for (const referral::Breach& b : breaches) {
    json::Value parts = json::Value::Array();
    parts.PushBack(fhir::ParameterText("key", "valueCode", b.key()));
    parts.PushBack(fhir::ParameterText("due", "valueInstant", fhir::FormatInstant(b.due_ms)));
    if (b.kind == referral::SlaKind::kContactFrequency) {
      parts.PushBack(fhir::ParameterInteger("contacts", b.contacts));
    }
    parameters.PushBack(fhir::ParameterGroup("slaBreach", std::move(parts)));
  }
  parameters.PushBack(fhir::ParameterText("evaluated", "valueInstant", fhir::FormatInstant(now)));
  HttpResponse response = JsonResponse(200, fhir::MakeParameters(std::move(parameters)));
  if (visible.notice) {
    AddRedisclosureNotice(response);
  }
  co_return response;
}

net::awaitable<HttpResponse> FhirApi::Impl::ReferralMetrics(ExchangePtr ex) {
  const auth::PartnerKind kind = ex->partner->kind;
  if (kind != auth::PartnerKind::kCoordinator && kind != auth::PartnerKind::kPrivacyOfficer &&
      kind != auth::PartnerKind::kAdmin) {
    co_return ErrorResponse(403, IssueType::kForbidden,
                            "Partner " + ex->partner->id + " (" +
                                std::string(auth::ToString(kind)) +
                                ") may not use $referral-metrics");
  }
  std::int64_t start = std::numeric_limits<std::int64_t>::min();
  std::int64_t end = std::numeric_limits<std::int64_t>::max();
  for (const auto& [name, value] : ex->target.query) {
    if (name != "start" && name != "end" && name != "_format") {
      co_return ErrorResponse(
          400, IssueType::kNotSupported,
          "Unknown parameter '" + name.substr(0, 40) + "': $referral-metrics takes start and end",
          name.substr(0, 40));
    }
    if (name == "_format") {
      continue;
    }
    auto range = fhir::DateRange(value);
    if (!range) {
      co_return ErrorResponse(400, IssueType::kValue,
                              name + " must be a FHIR date or dateTime, e.g. 2026-11-01", name);
    }
    (name == "start" ? start : end) = name == "start" ? range->first : range->second;
  }
  if (start >= end) {
    co_return ErrorResponse(400, IssueType::kValue, "start must come before end", "start");
  }
  struct Tally {
    std::int64_t referrals = 0;
    std::int64_t completed = 0;
    std::map<std::string, std::int64_t> open;
    std::vector<std::int64_t> to_acceptance, to_first_contact, discharge_to_linkage;
    std::error_code error;
  };
  // Every Task, page by page, then each referral's history: blocking, on the pool.
  Tally tally = co_await OnPool([this, start, end] {
    Tally t;
    for (int offset = 0;; offset += kHistoryPage) {
      fhir::SearchQuery q;
      q.type = "Task";
      q.count = kHistoryPage;
      q.offset = offset;
      auto page = store.Search(q);
      if (!page) {
        t.error = page.error();
        return t;
      }
      for (const store::ResourceVersion& v : page->entries) {
        auto record = LoadReferral(store, config, partners, v.id);
        if (!record) {
          t.error = record.error();
          return t;
        }
        if (record->versions.empty() || !referral::IsReferralTask(record->versions.back().task)) {
          continue;
        }
        const json::Value* sr = record->service_request ? &*record->service_request : nullptr;
        const referral::ReferralFacts f =
            referral::FactsFrom(record->versions, record->contacts, sr);
        if (f.requested_ms < start || f.requested_ms >= end) {
          continue;
        }
        ++t.referrals;
        const std::string status(record->versions.back().task.StringAt("status"));
        const auto parsed = referral::ParseTaskStatus(status);
        if (parsed == referral::TaskStatus::kCompleted) {
          ++t.completed;
        } else if (parsed && !referral::IsTerminal(*parsed)) {
          ++t.open[status];
        }
        if (f.accepted_ms) {
          t.to_acceptance.push_back(*f.accepted_ms - f.requested_ms);
        }
        if (f.first_contact_ms) {
          t.to_first_contact.push_back(*f.first_contact_ms - f.requested_ms);
        }
        if (f.post_discharge && f.linked_ms) {
          t.discharge_to_linkage.push_back(*f.linked_ms - f.discharge_ms.value_or(f.requested_ms));
        }
      }
      if (page->entries.size() < static_cast<std::size_t>(kHistoryPage)) {
        return t;
      }
    }
  });
  if (tally.error) {
    co_return ErrorResponse(tally.error, "The referrals could not be read");
  }
  json::Value parameters = json::Value::Array();
  parameters.PushBack(fhir::ParameterInteger("referrals", tally.referrals));
  parameters.PushBack(fhir::ParameterInteger("completed", tally.completed));
  if (tally.referrals > 0) {
    char share[32];
    std::snprintf(share, sizeof share, "%.4f",
                  static_cast<double>(tally.completed) / static_cast<double>(tally.referrals));
    parameters.PushBack(
        fhir::ParameterPart("closedLoopShare", "valueDecimal", json::Value::Number(share)));
  }
  for (const auto& [status, count] : tally.open) {
    json::Value parts = json::Value::Array();
    parts.PushBack(fhir::ParameterText("status", "valueCode", status));
    parts.PushBack(fhir::ParameterInteger("count", count));
    parameters.PushBack(fhir::ParameterGroup("open", std::move(parts)));
  }
  if (auto h = MedianHours(tally.to_acceptance)) {
    parameters.PushBack(Hours("medianTimeToAcceptance", *h));
  }
  if (auto h = MedianHours(tally.to_first_contact)) {
    parameters.PushBack(Hours("medianTimeToFirstContact", *h));
  }
  if (auto h = MedianHours(tally.discharge_to_linkage)) {
    parameters.PushBack(Hours("medianDischargeToLinkage", *h));
  }
  co_return JsonResponse(200, fhir::MakeParameters(std::move(parameters)));
}

}  // namespace carebridge::api
