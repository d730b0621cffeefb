#include "gateway/referral/timeline.h"

#include <algorithm>

#include "fhir/resource/resource.h"
#include "fhir/search/search.h"
#include "gateway/referral/task_state.h"

namespace carebridge::referral {
namespace {

using fhir::json::Value;

std::string BusinessCode(const Value& task) {
  auto b = BusinessStatusOf(task);
  return b ? std::string(ToCode(*b)) : std::string();
}

std::optional<std::int64_t> DateMs(std::string_view text) {
  auto range = fhir::DateRange(text);
  return range ? std::optional<std::int64_t>(range->first) : std::nullopt;
}

void Earliest(std::optional<std::int64_t>& slot, std::int64_t at) {
  if (!slot || at < *slot) {
    slot = at;
  }
}

}  // namespace

std::string_view ToCode(TimelineEvent::Kind kind) {
  switch (kind) {
    case TimelineEvent::Kind::kCreated:
      return "created";
    case TimelineEvent::Kind::kStatus:
      return "status";
    case TimelineEvent::Kind::kBusinessStatus:
      return "business-status";
    case TimelineEvent::Kind::kOwner:
      return "owner";
    case TimelineEvent::Kind::kContact:
      return "contact";
    case TimelineEvent::Kind::kDelivery:
      return "delivery";
  }
  return "";
}

Timeline BuildTimeline(const std::vector<TaskVersion>& versions,
                       const std::vector<Contact>& contacts,
                       const std::vector<DeliveryEvent>& deliveries) {
  using K = TimelineEvent::Kind;
  Timeline t;
  const Value* previous = nullptr;
  for (const TaskVersion& v : versions) {
    const Value& task = v.task;
    const std::string status(task.StringAt("status"));
    const Value* reason = task.Find("statusReason");
    const std::string reason_text =
        reason && reason->is_object() ? std::string(reason->StringAt("text")) : std::string();
    if (!previous) {
      t.events.push_back({v.at_ms, K::kCreated, "", status, v.author, reason_text});
    } else if (std::string before(previous->StringAt("status")); before != status) {
      t.events.push_back({v.at_ms, K::kStatus, before, status, v.author, reason_text});
    }
    const std::string business = BusinessCode(task);
    const std::string business_before = previous ? BusinessCode(*previous) : std::string();
    if (business != business_before && !business.empty()) {
      t.events.push_back({v.at_ms, K::kBusinessStatus, business_before, business, v.author, ""});
    }
    const std::string owner = std::string(fhir::ReferenceAt(task, "owner"));
    const std::string owner_before =
        previous ? std::string(fhir::ReferenceAt(*previous, "owner")) : std::string();
    if (owner != owner_before && !owner.empty()) {
      t.events.push_back({v.at_ms, K::kOwner, owner_before, owner, v.author, ""});
    }
    previous = &task;
  }
  if (previous) {
    t.accountable = std::string(fhir::ReferenceAt(*previous, "requester"));
  }
  for (const Contact& c : contacts) {
    t.events.push_back({c.at_ms, K::kContact, "", c.reference, c.author, ""});
  }
  for (const DeliveryEvent& d : deliveries) {
    std::string detail = d.http_status ? "HTTP " + std::to_string(d.http_status) : "";
    if (!d.detail.empty()) {
      detail += (detail.empty() ? "" : ": ") + d.detail;
    }
    t.events.push_back({d.at_ms, K::kDelivery, "", d.outcome, "gateway", std::move(detail)});
  }
  std::stable_sort(
      t.events.begin(), t.events.end(),
      [](const TimelineEvent& a, const TimelineEvent& b) { return a.at_ms < b.at_ms; });
  return t;
}

std::vector<Value> ToProvenance(const Timeline& timeline, std::string_view task_id,
                                std::string_view gateway) {
  auto reference = [](std::string text) {
    Value r = Value::Object();
    r.Set("reference", Value::String(std::move(text)));
    return r;
  };
  auto coding = [](std::string_view system, std::string_view code) {
    Value c = Value::Object();
    c.Set("system", Value::String(std::string(system)));
    c.Set("code", Value::String(std::string(code)));
    Value codings = Value::Array();
    codings.PushBack(std::move(c));
    Value concept_value = Value::Object();
    concept_value.Set("coding", std::move(codings));
    return concept_value;
  };
  std::vector<Value> out;
  const std::string task = "Task/" + std::string(task_id);
  int n = 0;
  for (const TimelineEvent& e : timeline.events) {
    Value p = Value::Object();
    p.Set("resourceType", Value::String("Provenance"));
    if (std::string id = std::string(task_id) + "-" + std::to_string(++n); id.size() <= 64) {
      p.Set("id", Value::String(std::move(id)));
    }
    Value targets = Value::Array();
    targets.PushBack(reference(task));
    if (e.kind == TimelineEvent::Kind::kContact && !e.to.empty()) {
      targets.PushBack(reference(e.to));
    }
    p.Set("target", std::move(targets));
    const std::string at = fhir::FormatInstant(e.at_ms);
    p.Set("occurredDateTime", Value::String(at));
    p.Set("recorded", Value::String(at));
    Value activity = coding(kTimelineEventSystem, ToCode(e.kind));
    std::string text(ToCode(e.kind));
    if (!e.from.empty() || !e.to.empty()) {
      text += ": " + (e.from.empty() ? std::string() : e.from + " -> ") + e.to;
    }
    if (!e.detail.empty()) {
      text += " (" + e.detail + ")";
    }
    activity.Set("text", Value::String(std::move(text)));
    p.Set("activity", std::move(activity));
    Value agent = Value::Object();
    agent.Set("type", coding("http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                             "author"));
    agent.Set("who",
              reference(e.author.empty() || e.author == "gateway" ? std::string(gateway)
                                                                  : "Organization/" + e.author));
    Value agents = Value::Array();
    agents.PushBack(std::move(agent));
    p.Set("agent", std::move(agents));
    out.push_back(std::move(p));
  }
  return out;
}

ReferralFacts FactsFrom(const std::vector<TaskVersion>& versions,
                        const std::vector<Contact>& contacts, const Value* service_request) {
  ReferralFacts f;
  std::optional<std::int64_t> requested;
  for (const TaskVersion& v : versions) {
    const auto status = ParseTaskStatus(v.task.StringAt("status"));
    const auto business = BusinessStatusOf(v.task);
    if (status == TaskStatus::kRequested) {
      Earliest(requested, v.at_ms);
    }
    const bool answered =
        status == TaskStatus::kAccepted || status == TaskStatus::kRejected ||
        status == TaskStatus::kInProgress ||
        (business && IsHandoffStep(*business) && *business >= BusinessStatus::kReceivedByAgency);
    if (answered) {
      Earliest(f.acknowledged_ms, v.at_ms);
    }
    if (status == TaskStatus::kAccepted || status == TaskStatus::kInProgress) {
      Earliest(f.accepted_ms, v.at_ms);
    }
    if (business && IsHandoffStep(*business) && *business >= BusinessStatus::kFirstContact) {
      Earliest(f.first_contact_ms, v.at_ms);
    }
    if (business == BusinessStatus::kLinkedToCare) {
      Earliest(f.linked_ms, v.at_ms);
    }
    if (status && IsTerminal(*status)) {
      Earliest(f.closed_ms, v.at_ms);
    }
  }
  if (!requested && !versions.empty()) {
    requested = DateMs(versions.front().task.StringAt("authoredOn"));
  }
  f.requested_ms = requested.value_or(versions.empty() ? 0 : versions.front().at_ms);
  for (const Contact& c : contacts) {
    f.contacts_ms.push_back(c.at_ms);
    Earliest(f.first_contact_ms, c.at_ms);
  }
  std::sort(f.contacts_ms.begin(), f.contacts_ms.end());
  if (service_request) {
    if (const Value* categories = service_request->Find("category");
        categories && categories->is_array()) {
      for (const Value& c : categories->items()) {
        const Value* codings = c.Find("coding");
        if (!codings || !codings->is_array()) {
          continue;
        }
        for (const Value& coding : codings->items()) {
          if (coding.StringAt("system") == kReferralFlagSystem &&
              coding.StringAt("code") == "post-discharge") {
            f.post_discharge = true;
          }
        }
      }
    }
    if (f.post_discharge) {
      if (const Value* extensions = service_request->Find("extension");
          extensions && extensions->is_array()) {
        for (const Value& e : extensions->items()) {
          if (e.StringAt("url") == kDischargeExtension) {
            f.discharge_ms = DateMs(e.StringAt("valueDateTime"));
          }
        }
      }
      if (!f.discharge_ms) {
        f.discharge_ms = DateMs(service_request->StringAt("authoredOn"));
      }
    }
  }
  return f;
}

}  // namespace carebridge::referral
