#include "gateway/delivery/sla_alerter.h"

#include <cstdio>
#include <future>
#include <utility>
#include <vector>

#include "fhir/json/json.h"
#include "fhir/resource/resource.h"
#include "fhir/search/search.h"
#include "gateway/delivery/referral_history.h"
#include "gateway/log/log.h"
#include "gateway/referral/task_state.h"
#include "gateway/referral/timeline.h"

namespace carebridge::delivery {
namespace {

namespace json = fhir::json;

constexpr int kPage = 100;

json::Value Concept(std::string_view system, std::string_view code, std::string text) {
  json::Value coding = json::Value::Object();
  coding.Set("system", json::Value::String(std::string(system)));
  coding.Set("code", json::Value::String(std::string(code)));
  json::Value codings = json::Value::Array();
  codings.PushBack(std::move(coding));
  json::Value c = json::Value::Object();
  c.Set("coding", std::move(codings));
  if (!text.empty()) {
    c.Set("text", json::Value::String(std::move(text)));
  }
  return c;
}

json::Value ArrayOf(json::Value v) {
  json::Value a = json::Value::Array();
  a.PushBack(std::move(v));
  return a;
}

std::string Describe(const referral::Breach& b) {
  switch (b.kind) {
    case referral::SlaKind::kAcknowledge:
      return "the agency did not acknowledge the referral in time";
    case referral::SlaKind::kFirstContact:
      return "the agency made no first contact in time";
    case referral::SlaKind::kPostDischargeLinkage:
      return "the person was not linked to care in time after discharge";
    case referral::SlaKind::kContactFrequency:
      return "week " + std::to_string(b.week) + " of care coordination had " +
             std::to_string(b.contacts) + " contacts";
  }
  return "a referral step is late";
}

}  // namespace

std::string AlertId(std::string_view task_id, std::string_view breach_key) {
  // FNV-1a, 64 bits: stable across builds and platforms, unlike std::hash.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : task_id) {
    h = (h ^ c) * 0x100000001b3ULL;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return "sla-" + std::string(hex) + "-" + std::string(breach_key);
}

std::vector<store::WriteOp> AlertOps(const CoordinatorAlert& alert, const AlertTarget& target) {
  const std::string id = AlertId(alert.task_id, alert.key);
  const std::string sent = fhir::FormatInstant(alert.now_ms);
  json::Value flag = json::Value::Object();
  flag.Set("resourceType", json::Value::String("Flag"));
  json::Value identifier = json::Value::Object();
  identifier.Set("system", json::Value::String(std::string(alert.system)));
  identifier.Set("value", json::Value::String("Task/" + alert.task_id + "#" + alert.key));
  flag.Set("identifier", ArrayOf(std::move(identifier)));
  flag.Set("status", json::Value::String("active"));
  flag.Set("category",
           ArrayOf(Concept("http://terminology.hl7.org/CodeSystem/flag-category", "admin", "")));
  flag.Set("code", Concept(alert.system, alert.code, alert.text));
  flag.Set("subject", fhir::MakeReference(std::string(alert.patient)));
  json::Value period = json::Value::Object();
  period.Set("start", json::Value::String(sent));
  flag.Set("period", std::move(period));
  flag.Set("author", fhir::MakeReference(std::string(target.gateway)));

  json::Value communication = json::Value::Object();
  communication.Set("resourceType", json::Value::String("Communication"));
  communication.Set("status", json::Value::String("completed"));
  communication.Set("category", ArrayOf(Concept(alert.system, alert.code, "")));
  communication.Set("subject", fhir::MakeReference(std::string(alert.patient)));
  // `about`, not basedOn: a contact with the person is a Communication based on the Task.
  communication.Set("about", ArrayOf(fhir::MakeReference("Task/" + alert.task_id)));
  if (!alert.coordinator.empty()) {
    communication.Set("recipient", ArrayOf(fhir::MakeReference(std::string(alert.coordinator))));
  }
  communication.Set("sender", fhir::MakeReference(std::string(target.gateway)));
  communication.Set("sent", json::Value::String(sent));
  json::Value payload = json::Value::Object();
  payload.Set("contentString", json::Value::String(alert.text));
  communication.Set("payload", ArrayOf(std::move(payload)));

  std::vector<store::WriteOp> ops;
  ops.push_back(store::ResourceOp(store::WriteOp::Kind::kCreate, "Flag", id, std::move(flag)));
  ops.push_back(store::ResourceOp(store::WriteOp::Kind::kCreate, "Communication", id,
                                  std::move(communication)));
  if (!target.webhook.empty()) {
    store::WriteOp op;
    op.kind = store::WriteOp::Kind::kOutbox;
    op.type = "Communication";
    op.id = id;
    store::OutboxMessage m;
    m.destination = target.webhook;
    m.resource_type = "Communication";
    m.resource_id = id;
    m.patient_id = alert.patient.starts_with("Patient/") ? alert.patient.substr(8) : std::string();
    op.outbox = std::move(m);
    ops.push_back(std::move(op));
  }
  return ops;
}

CoordinatorAlert NotSentAlert(std::string_view task_id, const json::Value& task,
                              referral::BusinessStatus why, std::string_view reason,
                              std::int64_t now_ms) {
  CoordinatorAlert alert;
  alert.task_id = std::string(task_id);
  alert.key = std::string(referral::ToCode(why));
  alert.system = kReferralAlertSystem;
  alert.code = alert.key;
  alert.text = "Referral Task/" + alert.task_id + " was not sent (" +
               std::string(referral::Display(why)) + "): " + std::string(reason);
  alert.patient = std::string(fhir::ReferenceAt(task, "for"));
  alert.coordinator = std::string(fhir::ReferenceAt(task, "requester"));
  alert.now_ms = now_ms;
  return alert;
}

SlaAlerter::SlaAlerter(store::Store& store, const referral::Clock& clock, SlaAlertOptions options)
    : store_(store), clock_(clock), options_(std::move(options)) {}

SlaAlerter::~SlaAlerter() { Stop(); }

Result<int> SlaAlerter::RunOnce() {
  int written = 0;
  std::vector<std::string> open;
  for (int offset = 0;; offset += kPage) {
    fhir::SearchQuery q;
    q.type = "Task";
    q.count = kPage;
    q.offset = offset;
    fhir::SortKey by_id;  // a stable order while pages are read
    by_id.param = "_id";
    by_id.type = fhir::ParamType::kToken;
    q.sort.push_back(by_id);
    q.all_of.push_back(referral::OpenStatusCriterion());
    auto page = store_.Search(q);
    if (!page) {
      return page.error();
    }
    for (const auto& v : page->entries) {
      open.push_back(v.id);
    }
    if (page->entries.size() < static_cast<std::size_t>(kPage)) {
      break;
    }
  }
  for (const std::string& task_id : open) {
    auto versions = LoadTaskVersions(store_, options_.json, task_id, "");
    if (!versions) {
      return versions.error();
    }
    if (versions->empty() || !referral::IsReferralTask(versions->back().task)) {
      continue;
    }
    const json::Value& task = versions->back().task;
    std::optional<json::Value> service_request;
    const std::string_view focus = fhir::ReferenceAt(task, "focus");
    if (focus.starts_with("ServiceRequest/")) {
      if (auto sr = store_.Read("ServiceRequest", focus.substr(15))) {
        std::string message;
        if (auto parsed = json::Parse(sr->json, options_.json, message)) {
          service_request = std::move(*parsed);
        }
      }
    }
    // Contacts recorded on the referral (Communications based on or part of the Task).
    auto contacts = LoadContacts(store_, options_.json, task_id, "");
    if (!contacts) {
      return contacts.error();
    }
    const referral::ReferralFacts facts =
        referral::FactsFrom(*versions, *contacts, service_request ? &*service_request : nullptr);
    const std::int64_t now = clock_.NowMs();
    for (const referral::Breach& breach : referral::EvaluateSla(options_.policy, facts, now)) {
      const std::string id = AlertId(task_id, breach.key());
      auto existing = store_.Read("Flag", id);
      if (existing || existing.error() == store::errc::kGone) {
        continue;  // alerted before (even across a restart)
      }
      if (existing.error() != store::errc::kNotFound) {
        return existing.error();
      }
      CoordinatorAlert alert;
      alert.task_id = task_id;
      alert.key = breach.key();
      alert.system = kSlaBreachSystem;
      alert.code = std::string(referral::ToCode(breach.kind));
      alert.text = "Referral Task/" + task_id + ": " + Describe(breach) + " (due " +
                   fhir::FormatInstant(breach.due_ms) + ")";
      alert.patient = std::string(fhir::ReferenceAt(task, "for"));
      alert.coordinator = std::string(fhir::ReferenceAt(task, "requester"));
      alert.now_ms = now;
      store::WriteBatch batch;  // atomic: the Flag, the Communication and the webhook row
      batch.ops = AlertOps(alert, AlertTarget{options_.webhook, options_.gateway});
      store::WriteResult r = store::WriteAndWait(store_, std::move(batch));
      if (r.failed_op) {
        const std::error_code error = r.ops[*r.failed_op].error();
        if (error == store::errc::kVersionConflict) {
          continue;  // another writer raised this alert first
        }
        return error;
      }
      ++written;
    }
  }
  return written;
}

void SlaAlerter::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) {
    return;
  }
  stopping_ = false;
  thread_ = std::thread([this] {
    std::unique_lock held(mu_);
    while (!stopping_) {
      held.unlock();
      if (auto r = RunOnce(); !r) {
        log::Log(log::LogLevel::kWarn, "SLA alerts: evaluation failed",
                 {{"error", r.error().message()}});
      }
      held.lock();
      wake_.wait_for(held, options_.interval, [this] { return stopping_; });
    }
  });
}

void SlaAlerter::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

}  // namespace carebridge::delivery
