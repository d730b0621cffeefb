// E-referrals in the FHIR API: routing on ServiceRequest and Task create, the referral Task state
// machine on every Task write, and the outbox row that carries a referral to its agency, committed
// in the same atomic batch as the referral (gateway/referral, gateway/delivery).
//
// Sides: an agency partner is the owner side of the Tasks addressed to it; every other partner
// (EHRs, coordinators) is the requester side. The gateway's own moves (routing to failed when no
// agency matches or the consent does not release the referral) are the gateway side.
//
// - POST ServiceRequest (status active, intent order, no performer) with routing rules
//   configured: the gateway routes it, addresses it to the agency (performer) and creates its
//   TaskForReferralManagement Task in the same batch: requested and owned by the agency, or
//   failed with business status no-agency / not-released and the reason in statusReason.
// - POST Task (a referral): CheckCreate; with routing rules configured, a requested Task without
//   owner is routed through its focus ServiceRequest, and a requested Task whose owner the
//   consent does not release it to is stored as failed / not-released.
// - PUT Task: CheckUpdate against the stored version (which the write must then replace).
// - A requested (new or routed) Task, and any later status change by the requester, is queued
//   for delivery when the owning agency has a push endpoint (partners[].fhir_endpoint).
// - Bundles (transaction.cc) plan their Task and ServiceRequest entries here too.
// - A referral the gateway fails at routing (no agency, not released) raises the coordinator
//   alert of delivery/sla_alerter.h (Flag, Communication to Task.requester, webhook row) in the
//   same batch as the failed Task. The routing consent decision is audited (AuthZconsent) there
//   too.

#include <chrono>
#include <map>
#include <utility>

#include "fhir/resource/resource.h"
#include "fhir/search/search.h"
#include "gateway/api/fhir_api_impl.h"
#include "gateway/api/formats.h"
#include "gateway/api/release.h"
#include "gateway/api/responses.h"
#include "gateway/delivery/preparer.h"
#include "gateway/delivery/sla_alerter.h"
#include "gateway/referral/clock.h"
#include "gateway/referral/error.h"
#include "gateway/referral/task_state.h"

namespace carebridge::api {
namespace {

namespace json = fhir::json;
using referral::BusinessStatus;
using referral::Side;

Side SideOf(const Exchange& ex) {
  return ex.partner && ex.partner->kind == auth::PartnerKind::kAgency ? Side::kOwner
                                                                      : Side::kRequester;
}

// The gateway's move of a requested referral to failed (no agency, not released).
void Fail(json::Value& task, BusinessStatus why, std::string reason) {
  task.Set("status", json::Value::String("failed"));
  json::Value status_reason = json::Value::Object();
  status_reason.Set("text", json::Value::String(std::move(reason)));
  task.Set("statusReason", std::move(status_reason));
  referral::SetBusinessStatus(task, why);
}

// The push endpoint of the agency behind `organization`, if it has one.
std::optional<delivery::AgencyEndpoint> AgencyOf(const auth::PartnerRegistry& partners,
                                                 std::string_view organization) {
  for (const auth::Partner& p : partners.partners()) {
    if (p.kind == auth::PartnerKind::kAgency && p.OrganizationReference() == organization) {
      return delivery::AgencyEndpoint{p.id, p.OrganizationReference(), p.fhir_endpoint, {}};
    }
  }
  return std::nullopt;
}

}  // namespace

void FhirApi::SetOutboxListener(std::function<void()> listener) {
  impl_->outbox_listener = std::move(listener);
}

const referral::RoutingTable& FhirApi::Impl::Routing() {
  std::call_once(routing_once, [this] {
    std::string message;
    auto table = referral::RoutingTable::FromJson(config.referrals.routes, message);
    // main validates the routes at start-up; a table that fails here routes nothing.
    routing = table ? std::move(*table) : referral::RoutingTable{};
  });
  return *routing;
}

net::awaitable<FhirApi::Impl::ReferralPlan> FhirApi::Impl::PlanReferral(
    ExchangePtr ex, std::string type, std::optional<std::string> id, json::Value resource,
    std::optional<json::Value> focus) {
  // Most writes are not referrals: answer those without a trip to the blocking pool.
  const bool maybe_referral = type == "Communication" ? SideOf(*ex) == Side::kOwner
                              : type == "Task"
                                  ? id.has_value() || referral::IsReferralTask(resource)
                                  : type == "ServiceRequest" && !id && !Routing().rules.empty() &&
                                        SideOf(*ex) == Side::kRequester &&
                                        resource.StringAt("status") == "active" &&
                                        resource.StringAt("intent") == "order" &&
                                        fhir::ReferenceAt(resource, "performer").empty();
  if (!maybe_referral) {
    ReferralPlan plan;
    plan.resource = std::move(resource);
    co_return plan;
  }
  // Store reads (the current Task, the ServiceRequest, the patient, consents): blocking pool.
  co_return co_await OnPool([this, &ex, &type, &id, &resource, &focus] {
    return PlanReferralBlocking(*ex, type, id, std::move(resource), focus ? &*focus : nullptr);
  });
}

FhirApi::Impl::ReferralPlan FhirApi::Impl::PlanReferralBlocking(
    const Exchange& ex, const std::string& type, const std::optional<std::string>& id,
    json::Value resource, const json::Value* focus) {
  ReferralPlan plan;
  plan.resource = std::move(resource);
  json::Value& r = plan.resource;
  const Side side = SideOf(ex);
  const consent::Policy& policy = consent_policy;  // the gateway's (config.consent)

  auto refuse = [&plan](const referral::TaskVerdict& verdict) {
    const auto mapping =
        referral::HttpMappingOf(static_cast<referral::errc>(verdict.error.value()));
    plan.refusal = OutcomeResponse(mapping.status, verdict.outcome);
    plan.refusal_outcome = verdict.outcome;
  };
  auto read_json = [this](const std::string& t,
                          const std::string& rid) -> std::optional<json::Value> {
    auto v = store.Read(t, rid);
    if (!v) {
      return std::nullopt;
    }
    std::string message;
    auto parsed = json::Parse(v->json, config.fhir.json, message);
    return parsed ? std::optional<json::Value>(std::move(*parsed)) : std::nullopt;
  };
  // Routes a referral for `service_request`: the agency's Organization, or empty with `reason`.
  auto route = [&](const json::Value& service_request, std::string& reason) -> std::string {
    const referral::RoutingTable& table = Routing();
    std::optional<json::Value> patient;
    const std::string patient_id =
        fhir::LocalId(fhir::ReferenceAt(service_request, "subject"), "Patient");
    if (!patient_id.empty()) {
      patient = read_json("Patient", patient_id);
    }
    // Open referrals of the agencies that declare a capacity.
    std::map<std::string, int, std::less<>> open;
    for (const referral::RouteRule& rule : table.rules) {
      if (!rule.capacity || open.contains(rule.agency)) {
        continue;
      }
      fhir::SearchQuery q;
      q.type = "Task";
      q.total_only = true;
      fhir::SearchCriterion owner;
      owner.param = "owner";
      owner.type = fhir::ParamType::kReference;
      fhir::SearchValue ov;
      ov.system = "Organization";
      ov.value = fhir::LocalId(rule.organization, "Organization");
      owner.any_of.push_back(ov);
      q.all_of = {owner, referral::OpenStatusCriterion()};
      auto page = store.Search(q);
      open[rule.agency] = page ? static_cast<int>(page->total) : 0;
    }
    referral::RoutingDecision d = referral::Route(
        table, referral::MakeRoutingRequest(service_request, patient ? &*patient : nullptr), open);
    reason = d.reason;
    return d.rule ? d.rule->organization : std::string();
  };
  // Whether the patient's consent releases `resources` to the agency behind `organization`:
  // empty when it does, else why not.
  auto released = [&](const std::string& organization, const std::string& patient_id,
                      const std::vector<const json::Value*>& resources) -> std::string {
    delivery::AgencyEndpoint agency{
        fhir::LocalId(organization, "Organization"), organization, "", {}};
    if (auto a = AgencyOf(partners, organization)) {
      agency = *a;
    }
    if (const auth::Partner* partner = partners.FindById(agency.id)) {
      agency.roles = RecipientOf(*partner).roles;  // as every other release to this partner
    }
    auto refused = delivery::CheckRelease(store, policy, config.referrals.purpose, agency,
                                          patient_id, resources, referral::SystemNowMs());
    std::string why =
        refused ? refused->value_or("")
                : "the patient's consents could not be read: " + refused.error().message();
    // The decision is audited with the referral, like every release decision (AuthZconsent).
    if (!patient_id.empty()) {
      audit::ConsentDecisionEvent event;
      event.id = NewUuid();
      event.recorded = NowInstant();
      event.gateway = GatewayOf(ex);
      event.recipient.partner_id = agency.id;
      const auth::Partner* partner = partners.FindById(agency.id);
      event.recipient.display = partner != nullptr ? partner->display_name : agency.id;
      event.recipient.purpose = config.referrals.purpose;
      event.patient_id = patient_id;
      for (const json::Value* item : resources) {
        std::string item_id(item->StringAt("id"));
        if (!item_id.empty()) {
          event.data.push_back(
              {std::string(item->StringAt("resourceType")), std::move(item_id), std::nullopt});
        }
      }
      event.permit = why.empty();
      event.explanation = why.empty() ? "permit: the patient's consent releases the referral to " +
                                            agency.id + " for " + config.referrals.purpose +
                                            " (checked when it was routed)"
                                      : why;
      plan.audit_ops.push_back(audit::AuditWriteOp(audit::BuildConsentDecision(event)));
    }
    return why;
  };
  auto fail = [&plan](json::Value& task, BusinessStatus why, std::string reason) {
    Fail(task, why, std::move(reason));
    plan.not_sent = task;
  };
  auto queue = [&](const json::Value& task) {
    auto agency = AgencyOf(partners, fhir::ReferenceAt(task, "owner"));
    if (!agency || agency->base_url.empty()) {
      return;  // the agency polls: GET /fhir/Task?owner=...&status=requested
    }
    store::OutboxMessage m;
    m.destination = agency->id;
    m.resource_type = "Task";
    m.patient_id = fhir::LocalId(fhir::ReferenceAt(task, "for"), "Patient");
    plan.delivery = std::move(m);
  };

  if (type == "Communication") {
    // An agency's contact: every basedOn/partOf link must be a referral Task it owns (it never
    // learns whether another agency's Task exists).
    const std::string own = ex.partner->OrganizationReference();
    int tasks = 0;
    std::string refused;
    for (std::string_view element : {"basedOn", "partOf"}) {
      const json::Value* links = r.Find(element);
      if (links == nullptr || !links->is_array()) {
        continue;
      }
      for (const json::Value& link : links->items()) {
        const std::string_view reference = link.StringAt("reference");
        const std::string task_id = fhir::LocalId(reference, "Task");
        std::optional<json::Value> task;
        if (!task_id.empty()) {
          task = read_json("Task", task_id);
        }
        if (!task || fhir::ReferenceAt(*task, "owner") != own) {
          refused = "Communication." + std::string(element) + " '" +
                    std::string(reference.substr(0, 80)) + "' is not a referral Task of " +
                    ex.partner->id;
          break;
        }
        ++tasks;
      }
    }
    if (refused.empty() && tasks == 0) {
      refused =
          "An agency records a contact as a Communication based on (or part of) a referral "
          "Task it owns; this one names none";
    }
    if (!refused.empty()) {
      plan.refusal = ErrorResponse(403, fhir::IssueType::kForbidden, refused, "Communication");
      plan.refusal_outcome.Add(fhir::Severity::kError, fhir::IssueType::kForbidden, "Communication",
                               refused);
    }
    return plan;
  }

  if (type == "ServiceRequest") {
    if (id || side != Side::kRequester || Routing().rules.empty() ||
        r.StringAt("status") != "active" || r.StringAt("intent") != "order" ||
        !fhir::ReferenceAt(r, "performer").empty()) {
      return plan;
    }
    json::Value task = json::Value::Object();
    task.Set("resourceType", json::Value::String("Task"));
    json::Value meta = json::Value::Object();
    json::Value profiles = json::Value::Array();
    profiles.PushBack(json::Value::String(std::string(referral::kTaskForReferralProfile)));
    meta.Set("profile", std::move(profiles));
    task.Set("meta", std::move(meta));
    task.Set("status", json::Value::String("requested"));
    task.Set("intent", json::Value::String("order"));
    json::Value coding = json::Value::Object();
    coding.Set("system", json::Value::String(std::string(referral::kTaskCodeSystem)));
    coding.Set("code", json::Value::String("fulfill"));
    json::Value codings = json::Value::Array();
    codings.PushBack(std::move(coding));
    json::Value code = json::Value::Object();
    code.Set("coding", std::move(codings));
    task.Set("code", std::move(code));
    task.Set("focus", fhir::MakeReference("ServiceRequest/?"));  // the id is known when appended
    if (const json::Value* subject = r.Find("subject")) {
      task.Set("for", *subject);
    }
    task.Set("authoredOn", json::Value::String(fhir::FormatInstant(referral::SystemNowMs())));
    const std::string_view requester = fhir::ReferenceAt(r, "requester");
    task.Set("requester", fhir::MakeReference(requester.empty() && ex.partner
                                                  ? ex.partner->OrganizationReference()
                                                  : std::string(requester)));
    std::string reason;
    const std::string organization = route(r, reason);
    const std::string patient_id = fhir::LocalId(fhir::ReferenceAt(r, "subject"), "Patient");
    if (organization.empty()) {
      fail(task, BusinessStatus::kNoAgency, "no agency: " + reason);
    } else if (std::string refused = released(organization, patient_id, {&r}); !refused.empty()) {
      fail(task, BusinessStatus::kNotReleased, refused);
    } else {
      task.Set("owner", fhir::MakeReference(organization));
      json::Value performer = json::Value::Array();
      performer.PushBack(fhir::MakeReference(organization));
      r.Set("performer", std::move(performer));
      queue(task);
    }
    plan.new_task = std::move(task);
    return plan;
  }

  // A Task.
  std::optional<store::ResourceVersion> before_version;
  std::optional<json::Value> before;
  if (id) {
    if (auto v = store.Read("Task", *id)) {
      std::string message;
      if (auto parsed = json::Parse(v->json, config.fhir.json, message)) {
        before = std::move(*parsed);
        before_version = std::move(*v);
      }
    }
  }
  if (!referral::IsReferralTask(r) && !(before && referral::IsReferralTask(*before))) {
    return plan;
  }
  referral::TaskVerdict verdict =
      before ? referral::CheckUpdate(*before, r, side) : referral::CheckCreate(r, side);
  if (!verdict.ok()) {
    refuse(verdict);
    return plan;
  }
  if (before_version) {
    plan.checked_version = before_version->version;
  }
  const std::string status(r.StringAt("status"));
  if (!before) {
    if (status != "requested" || Routing().rules.empty()) {
      // A draft: nothing to route or send yet. Without routing rules the gateway is not the
      // referral router: it stores the Task as sent (consent is still checked at delivery).
      return plan;
    }
    std::string organization(fhir::ReferenceAt(r, "owner"));
    const std::string sr_id = fhir::LocalId(fhir::ReferenceAt(r, "focus"), "ServiceRequest");
    std::optional<json::Value> service_request = focus ? std::optional<json::Value>(*focus)
                                                 : sr_id.empty()
                                                     ? std::nullopt
                                                     : read_json("ServiceRequest", sr_id);
    if (organization.empty()) {
      std::string reason = "its focus is not a ServiceRequest of this gateway";
      if (service_request) {
        organization = route(*service_request, reason);
      }
      if (organization.empty()) {
        fail(r, BusinessStatus::kNoAgency, "no agency: " + reason);
        return plan;
      }
      r.Set("owner", fhir::MakeReference(organization));
    }
    std::vector<const json::Value*> disclosed = {&r};
    if (service_request) {
      disclosed.push_back(&*service_request);
    }
    const std::string patient_id = fhir::LocalId(fhir::ReferenceAt(r, "for"), "Patient");
    if (std::string refused = released(organization, patient_id, disclosed); !refused.empty()) {
      fail(r, BusinessStatus::kNotReleased, refused);
      return plan;
    }
    queue(r);
    return plan;
  }
  // An update: the requester's status changes reach the agency too (a cancellation, say).
  if (side == Side::kRequester && status != before->StringAt("status") && status != "draft") {
    queue(r);
  }
  return plan;
}

void FhirApi::Impl::AppendReferralOps(ReferralPlan& plan, store::WriteBatch& batch) const {
  if (batch.ops.empty()) {
    return;
  }
  store::WriteOp& main = batch.ops.front();
  if (main.if_none_exist) {
    // A conditional create may find the resource instead of writing it, and the ops added here
    // cannot depend on that: conditional creates are not routed (the first one was).
    plan.new_task.reset();
    plan.delivery.reset();
    plan.not_sent.reset();
  }
  if (plan.checked_version && main.kind == store::WriteOp::Kind::kUpdate && !main.if_match) {
    // The transition was checked against this version: a concurrent change must not slip in.
    main.if_match = plan.checked_version;
  }
  std::string task_id = main.type == "Task" ? main.id : "";
  if (plan.new_task) {
    task_id = NewUuid();
    plan.new_task->Set("focus", fhir::MakeReference("ServiceRequest/" + main.id));
    batch.ops.push_back(
        ResourceWriteOp(store::WriteOp::Kind::kCreate, "Task", task_id, std::move(*plan.new_task)));
    plan.new_task.reset();
  }
  if (plan.delivery && !task_id.empty()) {
    store::WriteOp op;
    op.kind = store::WriteOp::Kind::kOutbox;
    op.type = "Task";
    op.id = NewUuid();
    plan.delivery->resource_id = task_id;
    op.outbox = *plan.delivery;
    batch.ops.push_back(std::move(op));
  }
  for (store::WriteOp& op : plan.audit_ops) {
    batch.ops.push_back(std::move(op));
  }
  plan.audit_ops.clear();
  if (plan.not_sent && !task_id.empty()) {
    const auto why = referral::BusinessStatusOf(*plan.not_sent);
    const json::Value* reason = plan.not_sent->Find("statusReason");
    delivery::AlertTarget target;
    if (!config.referrals.alert_webhook.empty()) {
      target.webhook = delivery::kSlaWebhook;
    }
    const delivery::CoordinatorAlert alert = delivery::NotSentAlert(
        task_id, *plan.not_sent, why.value_or(BusinessStatus::kNoAgency),
        reason != nullptr ? reason->StringAt("text") : "", referral::SystemNowMs());
    for (store::WriteOp& op : delivery::AlertOps(alert, target)) {
      batch.ops.push_back(std::move(op));
    }
    plan.alert_webhook = !target.webhook.empty();
  }
  plan.not_sent.reset();
}

void FhirApi::Impl::ReferralCommitted(const ReferralPlan& plan) const {
  if ((plan.delivery || plan.alert_webhook) && outbox_listener) {
    outbox_listener();
  }
}

}  // namespace carebridge::api
