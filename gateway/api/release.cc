// Release of information: the consent decision for every stored resource that leaves the gateway,
// and the audit records of each request and each decision (DESIGN.md capabilities 3 and 4).

#include "gateway/api/release.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>
#include <set>

#include "fhir/resource/resource.h"
#include "fhir/search/search.h"
#include "gateway/api/directory.h"
#include "gateway/api/fhir_api_impl.h"
#include "gateway/api/formats.h"
#include "gateway/api/responses.h"
#include "gateway/consent/data_item.h"
#include "gateway/consent/sensitivity.h"
#include "gateway/log/log.h"
#include "gateway/referral/clock.h"

namespace carebridge::api {

namespace json = fhir::json;
using log::Log;
using log::LogLevel;

namespace {

constexpr std::string_view kContributorPrefix = "urn:carebridge:partner:";
// Explanations of one audit event are joined; a search over many consents must not produce an
// unbounded outcomeDesc.
constexpr std::size_t kMaxExplanations = 8;

// The partner that wrote this version, from the meta.source the gateway stamped; empty for data
// the gateway itself wrote or that predates the stamp.
std::string_view ContributorOfSource(std::string_view source) {
  if (source.substr(0, kContributorPrefix.size()) != kContributorPrefix) {
    return {};
  }
  return source.substr(kContributorPrefix.size());
}

std::string_view ContributorOf(const json::Value& resource) {
  const json::Value* meta = resource.Find("meta");
  return meta == nullptr ? std::string_view() : ContributorOfSource(meta->StringAt("source"));
}

// Types the consent engine does not decide on: the Consents themselves are the policy (read only
// by the roles that write them and privacy officers), and the audit log is the privacy
// officers'. The role matrix (access.cc) keeps everyone else away from both.
bool OutsideConsent(std::string_view type) { return type == "Consent" || type == "AuditEvent"; }

std::optional<std::int64_t> ParseVersion(std::string_view text) {
  std::int64_t version = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return version;
}

// The audit copy of one engine decision.
ReleaseDecision::Record RecordOf(const std::string& patient, const consent::Decision& decision,
                                 const consent::DataItem& item, bool released,
                                 std::string explanation) {
  ReleaseDecision::Record record;
  record.patient_id = patient;
  record.data = {std::string(item.type), std::string(item.id), std::nullopt};
  if (!decision.decided_by.empty()) {
    record.consent = audit::ConsentRef{std::string(decision.decided_by.consent_id),
                                       ParseVersion(decision.decided_by.version_id)};
  }
  for (const auto& label : item.security) {
    record.labels.emplace_back(label.code);
  }
  record.explanation = std::move(explanation);
  record.permit = released;
  record.break_glass = decision.break_glass;
  record.part2 = decision.part2;
  return record;
}

// The records of one patient and one effect, merged into one audit event's content.
struct Group {
  std::vector<audit::ResourceRef> data;
  std::vector<audit::ConsentRef> consents;
  std::set<std::string> labels;
  std::vector<std::string> explanations;
  bool break_glass = false;
  bool part2 = false;

  void Add(const ReleaseDecision::Record& record) {
    data.push_back(record.data);
    if (record.consent) {
      bool known = false;
      for (const auto& existing : consents) {
        known = known ||
                (existing.id == record.consent->id && existing.version == record.consent->version);
      }
      if (!known) {
        consents.push_back(*record.consent);
      }
    }
    labels.insert(record.labels.begin(), record.labels.end());
    if (explanations.size() < kMaxExplanations &&
        std::find(explanations.begin(), explanations.end(), record.explanation) ==
            explanations.end()) {
      explanations.push_back(record.explanation);
    }
    break_glass = break_glass || record.break_glass;
    part2 = part2 || record.part2;
  }
};

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) {
    out += out.empty() ? "" : "; ";
    out += line;
  }
  return out;
}

// The interaction a request is, in the terms of the audit log.
std::optional<audit::Interaction> RestInteractionOf(const Exchange& ex) {
  using audit::Interaction;
  if (ex.audit_interaction) {
    return ex.audit_interaction;
  }
  const auto& segments = ex.target.segments;
  const std::string& method = ex.request.method;
  const std::size_t n = segments.size();
  auto is_operation = [](const std::string& segment) {
    return !segment.empty() && segment.front() == '$';
  };
  if (n <= 1) {
    return method == "POST" ? std::optional(Interaction::kTransaction) : std::nullopt;
  }
  if (segments[1] == "metadata") {
    return std::nullopt;  // what the server can do: no data, nothing to audit
  }
  if (segments[1] == "_history") {
    return Interaction::kHistorySystem;
  }
  if (is_operation(segments[1])) {
    return Interaction::kOperation;
  }
  if (n == 2) {
    return method == "POST" ? Interaction::kCreate : Interaction::kSearchType;
  }
  if (segments[2] == "_search") {
    return Interaction::kSearchType;
  }
  if (segments[2] == "_history") {
    return Interaction::kHistoryType;
  }
  if (is_operation(segments[2])) {
    return Interaction::kOperation;
  }
  if (n == 3) {
    if (method == "PUT") {
      return Interaction::kUpdate;
    }
    if (method == "DELETE") {
      return Interaction::kDelete;
    }
    return Interaction::kRead;
  }
  if (segments[3] == "_history") {
    return n == 4 ? Interaction::kHistoryInstance : Interaction::kVread;
  }
  if (is_operation(segments[3])) {
    return Interaction::kOperation;
  }
  return std::nullopt;
}

// The first diagnostics of an OperationOutcome body, for the outcomeDesc of a failed request.
std::string OutcomeText(std::string_view body) {
  std::string message;
  auto parsed = json::Parse(body, json::Limits{}, message);
  if (!parsed) {
    return {};
  }
  const json::Value* issues = parsed->Find("issue");
  if (issues == nullptr || !issues->is_array() || issues->items().empty()) {
    return {};
  }
  return std::string(issues->items().front().StringAt("diagnostics"));
}

}  // namespace

std::string ContributorSource(std::string_view partner_id) {
  return std::string(kContributorPrefix) + std::string(partner_id);
}

consent::Policy ConsentPolicyFrom(const config::ConsentConfig& config) {
  consent::Policy policy;
  policy.default_policy = config.default_policy == "opt-out" ? consent::DefaultPolicy::kOptOut
                                                             : consent::DefaultPolicy::kOptIn;
  policy.combining = config.combining == "most-recent-wins" ? consent::Combining::kMostRecentWins
                                                            : consent::Combining::kDenyWins;
  policy.opt_out_purposes = config.opt_out_purposes;
  for (const auto& code : config.sud_codes) {
    policy.sensitivity.sud_codes.push_back({code.system, code.code, code.prefix});
  }
  return policy;
}

consent::Recipient RecipientOf(const auth::Partner& partner) {
  consent::Recipient recipient;
  recipient.partner_id = partner.id;
  recipient.organization = partner.OrganizationReference();
  recipient.roles.push_back(
      {std::string(kPartnerKindSystem), std::string(auth::ToString(partner.kind))});
  for (const auto& recipient_class : partner.recipient_classes) {
    recipient.roles.push_back({std::string(consent::kRecipientClassSystem), recipient_class});
  }
  recipient.may_break_glass = partner.MayClaim("ETREAT");
  return recipient;
}

audit::Requestor FhirApi::Impl::RequestorOf(const Exchange& ex) const {
  audit::Requestor requestor;
  requestor.partner_id = ex.partner->id;
  requestor.display = ex.partner->display_name;
  requestor.remote_address = ex.request.remote_address;
  requestor.purpose = ex.purpose;
  if (const std::string* request_id = ex.request.Header("x-request-id")) {
    requestor.request_id = request_id->substr(0, 128);
  }
  return requestor;
}

audit::GatewayIdentity FhirApi::Impl::GatewayOf(const Exchange& ex) const {
  audit::GatewayIdentity gateway;
  gateway.address = ex.base;
  return gateway;
}

void FhirApi::Impl::PrepareInbound(const Exchange& ex, json::Value& resource) const {
  json::Value* meta = resource.Find("meta");
  if (meta == nullptr || !meta->is_object()) {
    const json::Value* id = resource.Find("id");
    resource.SetAt(id != nullptr ? 2 : 1, "meta", json::Value::Object());
    meta = resource.Find("meta");
  }
  if (json::Value* source = meta->Find("source")) {
    *source = json::Value::String(ContributorSource(ex.partner->id));
  } else {
    meta->Set("source", json::Value::String(ContributorSource(ex.partner->id)));
  }
  consent::LabelSensitive(resource, consent_policy.sensitivity);
}

store::WriteOp ResourceWriteOp(store::WriteOp::Kind kind, std::string type, std::string id,
                               json::Value resource) {
  // A contained resource may be another patient's: deciding on it needs the resource itself.
  std::optional<std::string> facts;
  if (resource.Find("contained") == nullptr) {
    if (const consent::DataItem item = consent::DataItem::FromResource(resource); item.patient_id) {
      facts = item.Facts();
    }
  }
  store::WriteOp op = store::ResourceOp(kind, std::move(type), std::move(id), std::move(resource));
  op.consent_facts = std::move(facts);
  return op;
}

Result<ConsentCache::Consents> ConsentCache::Get(store::Store& store, const std::string& patient_id,
                                                 int max) {
  // The generation is read before the consents: a Consent committed meanwhile bumps it, so what
  // is read here is never kept under a generation newer than itself.
  const std::optional<std::uint64_t> generation = store.TypeGeneration("Consent");
  if (generation) {
    std::lock_guard lock(mutex_);
    if (*generation == generation_) {
      if (auto it = entries_.find(patient_id); it != entries_.end()) {
        return it->second;
      }
    }
  }
  auto loaded = store::PatientConsents(store, patient_id, max);
  if (!loaded) {
    return loaded.error();
  }
  auto consents = std::make_shared<const std::vector<json::Value>>(std::move(*loaded));
  if (generation) {
    std::lock_guard lock(mutex_);
    if (*generation > generation_) {
      entries_.clear();
      generation_ = *generation;
    }
    if (*generation == generation_) {
      if (entries_.size() >= max_patients_) {
        entries_.clear();
      }
      entries_.insert_or_assign(patient_id, consents);
    }
  }
  return consents;
}

ReleaseDecision FhirApi::Impl::DecideRelease(
    const Exchange& ex, std::span<const store::ResourceVersion* const> versions) const {
  ReleaseDecision out;
  out.released.assign(versions.size(), false);
  out.notice.assign(versions.size(), false);
  out.records.resize(versions.size());
  const auth::Partner& partner = *ex.partner;

  // What each decision reads: the facts stored beside the version, else the parsed resource. The
  // items view into these, which stay in place (the vectors are never resized).
  std::vector<std::optional<json::Value>> parsed(versions.size());
  std::vector<std::optional<json::Value>> facts(versions.size());
  std::vector<std::optional<consent::DataItem>> items(versions.size());
  std::vector<std::string> contributors(versions.size());
  std::vector<std::size_t> to_decide;
  bool one_patient = true;
  auto parse = [this](const store::ResourceVersion& version) -> std::optional<json::Value> {
    std::string message;
    auto value = json::Parse(version.json, config.fhir.json, message);
    if (!value) {
      Log(LogLevel::kError, "stored resource is not readable JSON; withheld",
          {{"resource", version.type + "/" + version.id}});
      return std::nullopt;
    }
    return std::move(*value);
  };
  for (std::size_t i = 0; i < versions.size(); ++i) {
    const store::ResourceVersion& version = *versions[i];
    // The patient and the contributor, from what the store kept beside the version when it has
    // them (no parsing: most reads are of what the reader itself wrote), else from the JSON.
    std::optional<json::Value> value;
    std::string patient;
    std::string_view contributor;
    if (version.patient_id && version.meta_source) {
      patient = *version.patient_id;
      contributor = ContributorOfSource(*version.meta_source);
    } else {
      value = parse(version);
      if (!value) {
        continue;
      }
      patient = fhir::PatientIdOf(version.type, *value).value_or("");
      contributor = ContributorOf(*value);
    }
    if (!patient.empty()) {
      if (!out.patient_id) {
        out.patient_id = patient;
      } else if (*out.patient_id != patient) {
        one_patient = false;
      }
    }
    if (patient.empty() || OutsideConsent(version.type) || contributor == partner.id ||
        (partner.kind == auth::PartnerKind::kPrivacyOfficer && version.type == "Patient")) {
      out.released[i] = true;
      continue;
    }
    contributors[i] = contributor;
    if (!value && version.consent_facts) {
      std::string message;
      if (auto read = json::Parse(*version.consent_facts, config.fhir.json, message)) {
        facts[i] = std::move(*read);
        items[i] = consent::DataItem::FromFacts(version.type, version.id, patient,
                                                version.last_updated, *facts[i]);
      }
    }
    if (!items[i]) {
      if (!value && !(value = parse(version))) {
        continue;
      }
      parsed[i] = std::move(*value);
      items[i] = consent::DataItem::FromResource(*parsed[i]);
    }
    to_decide.push_back(i);
  }
  if (!one_patient) {
    out.patient_id.reset();
  }
  if (to_decide.empty()) {
    return out;
  }

  // Each patient's consents are compiled once per request, from the cache that any Consent write
  // empties: a revocation stored before this request is in force for it.
  struct Loaded {
    ConsentCache::Consents consents;
    std::optional<consent::ConsentSet> set;
  };
  std::map<std::string, Loaded> loaded;
  const std::int64_t now_ms = referral::SystemNowMs();
  auto consents_of = [&](const std::string& patient) -> const consent::ConsentSet& {
    Loaded& entry = loaded[patient];
    if (entry.set) {
      return *entry.set;
    }
    if (auto consents = consent_cache.Get(store, patient, config.fhir.search.max_count)) {
      entry.consents = std::move(*consents);
    } else {
      // Without the consents nothing is permitted by them: the defaults decide, which deny under
      // opt-in.
      Log(LogLevel::kError, "patient consents could not be loaded", {{"patient", patient}});
    }
    static const std::vector<json::Value> kNone;
    entry.set = consent::ConsentSet::Compile(patient, entry.consents ? *entry.consents : kNone,
                                             consent_policy, now_ms);
    return *entry.set;
  };

  const consent::Recipient recipient = RecipientOf(partner);
  for (std::size_t i : to_decide) {
    consent::DataItem& item = *items[i];
    const std::string patient = item.patient_id.value_or("");
    std::string custodian;
    if (!contributors[i].empty()) {
      custodian = "Organization/" + contributors[i];
    }
    item.custodian = custodian;
    consent::Decision decision =
        consents_of(patient).Evaluate(recipient, ex.purpose, consent::Action::kDisclose, item);
    bool released = decision.permitted();
    std::string explanation = decision.Explain();
    // A contained resource about another patient leaves with its container: that patient's
    // consent must release it too. (Facts are kept only for resources without any.)
    const json::Value* contained = parsed[i] ? parsed[i]->Find("contained") : nullptr;
    if (released && contained != nullptr && contained->is_array()) {
      for (const json::Value& inner : contained->items()) {
        auto inner_patient = fhir::PatientIdOf(inner.StringAt("resourceType"), inner);
        if (!inner_patient || *inner_patient == patient) {
          continue;
        }
        consent::DataItem inner_item = consent::DataItem::FromResource(inner);
        inner_item.custodian = custodian;
        consent::Decision inner_decision =
            consents_of(*inner_patient)
                .Evaluate(recipient, ex.purpose, consent::Action::kDisclose, inner_item);
        out.records[i].push_back(RecordOf(*inner_patient, inner_decision, inner_item,
                                          inner_decision.permitted(), inner_decision.Explain()));
        if (!inner_decision.permitted()) {
          released = false;
          explanation = "withheld: it contains data of Patient/" + *inner_patient +
                        " that is not released (" + out.records[i].back().explanation + ")";
        }
      }
    }
    out.records[i].push_back(RecordOf(patient, decision, item, released, std::move(explanation)));
    out.released[i] = released;
    out.notice[i] = released && decision.obligations.attach_redisclosure_notice;
  }
  return out;
}

void FhirApi::Impl::RecordRelease(Exchange& ex, const ReleaseDecision& decision,
                                  std::span<const std::size_t> indexes, bool disclosed) const {
  std::map<std::string, std::pair<Group, Group>> by_patient;  // (permitted, denied)
  for (std::size_t i : indexes) {
    for (const auto& record : decision.records[i]) {
      auto& groups = by_patient[record.patient_id];
      (record.permit ? groups.first : groups.second).Add(record);
    }
  }
  if (by_patient.empty()) {
    return;
  }
  const std::optional<audit::Interaction> interaction = RestInteractionOf(ex);
  const audit::GatewayIdentity gateway = GatewayOf(ex);
  const audit::Requestor requestor = RequestorOf(ex);
  for (const auto& [patient, groups] : by_patient) {
    for (const Group* group : {&groups.first, &groups.second}) {
      if (group->data.empty()) {
        continue;
      }
      audit::ConsentDecisionEvent event;
      event.id = NewUuid();
      event.recorded = NowInstant();
      event.gateway = gateway;
      event.recipient = requestor;
      event.patient_id = patient;
      event.consents = group->consents;
      event.data = group->data;
      event.data_security_labels.assign(group->labels.begin(), group->labels.end());
      event.permit = group == &groups.first;
      event.explanation = Join(group->explanations);
      event.break_glass = group->break_glass;
      event.part2 = group->part2;
      ex.trail->pending.push_back(audit::AuditWriteOp(audit::BuildConsentDecision(event)));
    }
    const Group& released = groups.first;
    if (released.data.empty() || !disclosed) {
      continue;
    }
    audit::DisclosureEvent disclosure;
    disclosure.id = NewUuid();
    disclosure.recorded = NowInstant();
    disclosure.gateway = gateway;
    disclosure.recipient = requestor;
    disclosure.patient_id = patient;
    disclosure.consents = released.consents;
    disclosure.data = released.data;
    disclosure.data_security_labels.assign(released.labels.begin(), released.labels.end());
    disclosure.interaction = interaction;
    disclosure.break_glass = released.break_glass;
    disclosure.part2 = released.part2;
    if (released.part2) {
      disclosure.outcome_desc = "Disclosed with the 42 CFR Part 2 re-disclosure notice";
    }
    ex.trail->pending.push_back(audit::AuditWriteOp(audit::BuildDisclosure(disclosure)));
  }
}

void AddRedisclosureNotice(HttpResponse& response) {
  response.headers.emplace_back("x-redisclosure-notice", std::string(consent::kRedisclosureNotice));
}

net::awaitable<ReleaseDecision> FhirApi::Impl::Release(
    ExchangePtr ex, std::vector<const store::ResourceVersion*> versions) {
  ReleaseDecision decision =
      co_await OnPool([this, &ex, &versions] { return DecideRelease(*ex, versions); });
  if (decision.patient_id && !ex->patient_id) {
    ex->patient_id = decision.patient_id;
  }
  co_return decision;
}

net::awaitable<FhirApi::Impl::Visible> FhirApi::Impl::FetchVisible(
    ExchangePtr ex, std::string type, std::string id, std::optional<std::int64_t> version,
    bool discloses) {
  struct Fetched {
    Visible visible;
    ReleaseDecision release;
  };
  Fetched fetched = co_await OnPool([this, &ex, &type, &id, &version] {
    Fetched out;
    out.visible.version = version ? store.ReadVersion(type, id, *version) : store.Read(type, id);
    if (out.visible.version && !StoredIsAddressedTo(*ex, type, out.visible.version->json)) {
      out.visible.version = std::error_code(store::errc::kNotFound);
      out.visible.withheld = true;
    }
    if (out.visible.version) {
      const store::ResourceVersion* one = &*out.visible.version;
      out.release = DecideRelease(*ex, std::span(&one, 1));
    } else if (out.visible.version.error() == store::errc::kGone &&
               !MaySeeDeletion(*ex, type, id, version)) {
      out.visible.version = std::error_code(store::errc::kNotFound);
      out.visible.withheld = true;
    }
    return out;
  });
  ReleaseDecision& release = fetched.release;
  if (!release.released.empty()) {
    if (release.patient_id && !ex->patient_id) {
      ex->patient_id = release.patient_id;
    }
    RecordRelease(*ex, release, kOnlyResource, discloses);
    fetched.visible.notice = release.notice.front();
    if (!release.released.front()) {
      fetched.visible.version = std::error_code(store::errc::kNotFound);
      fetched.visible.withheld = true;
    }
  }
  co_return std::move(fetched.visible);
}

// A 410 says the resource existed, so it goes only to a partner that could see what was deleted;
// to anyone else a deletion is as absent as a withheld resource.
bool FhirApi::Impl::MaySeeDeletion(const Exchange& ex, const std::string& type,
                                   const std::string& id,
                                   std::optional<std::int64_t> deletion_version) const {
  auto versions = store::AllVersions(store, type, id);
  if (!versions) {
    return false;
  }
  for (auto it = versions->rbegin(); it != versions->rend(); ++it) {
    if (it->deleted || (deletion_version && it->version >= *deletion_version)) {
      continue;
    }
    if (!StoredIsAddressedTo(ex, type, it->json)) {
      return false;
    }
    const store::ResourceVersion* ended = &*it;
    return DecideRelease(ex, std::span(&ended, 1)).released.front();
  }
  return false;
}

std::optional<store::WriteOp> FhirApi::Impl::RestAuditOp(const Exchange& ex, int status,
                                                         std::string_view location,
                                                         std::string_view etag,
                                                         std::string_view error_body) const {
  auto interaction = RestInteractionOf(ex);
  if (!interaction) {
    return std::nullopt;
  }
  audit::RestEvent event;
  event.id = NewUuid();
  event.recorded = NowInstant();
  event.interaction = *interaction;
  event.gateway = GatewayOf(ex);
  event.requestor = RequestorOf(ex);
  event.patient_id = ex.patient_id;
  const auto& segments = ex.target.segments;
  using audit::Interaction;
  switch (*interaction) {
    case Interaction::kRead:
    case Interaction::kVread:
    case Interaction::kUpdate:
    case Interaction::kDelete:
    case Interaction::kHistoryInstance:
    case Interaction::kPatch:
      if (segments.size() >= 3 && fhir::IsValidId(segments[2])) {
        event.resource = audit::ResourceRef{segments[1], segments[2], std::nullopt};
        if (auto version = ParseETagVersion(etag)) {
          event.resource->version = *version;
        }
      }
      break;
    case Interaction::kCreate: {
      // Location: <base>/<type>/<id>/_history/<version>
      std::string_view rest = location;
      if (auto at = rest.find("/" + segments[1] + "/"); at != std::string_view::npos) {
        rest.remove_prefix(at + segments[1].size() + 2);
        std::string_view id = rest.substr(0, rest.find('/'));
        event.resource = audit::ResourceRef{segments[1], std::string(id), std::nullopt};
        if (auto history = rest.find("/_history/"); history != std::string_view::npos) {
          event.resource->version = ParseVersion(rest.substr(history + 10));
        }
      }
      break;
    }
    case Interaction::kSearchType:
    case Interaction::kHistoryType: {
      event.resource_type = segments[1];
      std::string_view target = ex.request.target;
      std::string query;
      if (auto question = target.find('?'); question != std::string_view::npos) {
        query = std::string(target.substr(question + 1));
      }
      if (segments.size() == 3 && segments[2] == "_search" && !ex.request.body.empty()) {
        query += query.empty() ? "" : "&";
        query += ex.request.body;
      }
      event.query = std::move(query);
      break;
    }
    default:
      break;
  }
  if (status >= 500) {
    event.outcome = audit::EventOutcome::kSeriousFailure;
  } else if (status >= 400) {
    event.outcome = audit::EventOutcome::kMinorFailure;
  }
  if (status >= 400) {
    event.outcome_desc = StatusLine(status);
    if (std::string text = OutcomeText(error_body); !text.empty()) {
      event.outcome_desc += ": " + text;
    }
  }
  return audit::AuditWriteOp(audit::BuildRestEvent(event));
}

net::awaitable<HttpResponse> FhirApi::Impl::FinishAudit(ExchangePtr ex, HttpResponse response) {
  store::WriteBatch batch;
  batch.ops = std::move(ex->trail->pending);
  ex->trail->pending.clear();
  if (!ex->rest_event_committed) {
    std::string_view location;
    std::string_view etag;
    for (const auto& [name, value] : response.headers) {
      if (name == "location") {
        location = value;
      } else if (name == "etag") {
        etag = value;
      }
    }
    if (auto op = RestAuditOp(
            *ex, response.status, location, etag,
            response.status >= 400 ? std::string_view(response.body) : std::string_view())) {
      batch.ops.push_back(std::move(*op));
    }
  }
  if (batch.ops.empty()) {
    co_return response;
  }
  store::WriteResult written = co_await Commit(std::move(batch));
  if (written.failed_op) {
    Log(LogLevel::kError, "audit record not written; response withheld",
        {{"partner", ex->partner->id},
         {"error", written.ops[*written.failed_op].error().message()}});
    co_return ErrorResponse(500, fhir::IssueType::kException,
                            "The audit record of this request could not be written, so nothing "
                            "was disclosed; try again");
  }
  co_return response;
}

}  // namespace carebridge::api
