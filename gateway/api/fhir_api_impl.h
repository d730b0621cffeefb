#pragma once

// Internal to gateway/api: the pieces of FhirApi shared by its .cc files.

#include <array>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "fhir/json/json.h"
#include "fhir/outcome.h"
#include "gateway/api/access.h"
#include "gateway/api/fhir_api.h"
#include "gateway/api/http.h"
#include "gateway/api/release.h"
#include "gateway/api/url.h"
#include "gateway/audit/audit_event.h"
#include "gateway/audit/store_op.h"
#include "gateway/config/config.h"
#include "gateway/consent/consent.h"
#include "gateway/net/on_pool.h"
#include "gateway/referral/routing.h"
#include "gateway/store/store.h"
#include "mappings/catalog.h"

namespace carebridge::api {

namespace net = boost::asio;

// The audit records of a request not yet committed: consent decisions and disclosures made while
// serving it. Shared by a request and the GET entries of its Bundle. Handle commits them, with
// the request's REST event, before the response leaves (DESIGN.md: no disclosure without a
// decision, no decision without an audit record).
struct AuditTrail {
  std::vector<store::WriteOp> pending;
};

// One request on its way through the API. Shared by the coroutines that serve it, which take it
// by value (coroutine parameters must own what they use).
struct Exchange {
  HttpRequest request;
  Target target;
  std::string base;                        // "https://host:port/fhir", no trailing slash
  std::string response_type;               // the negotiated JSON media type
  const auth::Partner* partner = nullptr;  // who is asking (set before routing)
  std::string purpose;                     // the purpose of use in force (v3 PurposeOfUse code)
  // Set for bearer-token requests: the token's SMART scopes bound what the role allows.
  std::optional<std::vector<std::string>> scopes;
  // Set when the partner may reach only resources addressed to it (agencies): its Organization
  // reference. Reads of anything else answer 404, searches are confined to it.
  std::string addressed_to;

  std::shared_ptr<AuditTrail> trail = std::make_shared<AuditTrail>();
  // A GET entry of a Bundle: its decisions go to the Bundle's trail, and the Bundle's REST event
  // stands for it.
  bool bundle_entry = false;
  // The request's REST event went into the store batch of its data change (writes), so Handle
  // does not record another.
  bool rest_event_committed = false;
  // The interaction to audit when the URL alone does not tell (a batch is not a transaction).
  std::optional<audit::Interaction> audit_interaction;
  // The patient whose data the request touched, when there is exactly one (the REST event's
  // patient entity).
  std::optional<std::string> patient_id;
};

// Whether `resource` of `type` is addressed to `organization` (Task.owner,
// ServiceRequest.performer).
bool IsAddressedTo(std::string_view type, const fhir::json::Value& resource,
                   std::string_view organization);
using ExchangePtr = std::shared_ptr<Exchange>;

// What a partner may receive of the stored resources it asked for (consent, DESIGN.md capability
// 3). The decisions are audited only for the resources a response actually covers
// (RecordRelease), so that a search may decide on more entries than it returns.
struct ReleaseDecision {
  // One consent decision, copied out of the engine's Decision for the audit log.
  struct Record {
    std::string patient_id;
    audit::ResourceRef data;
    std::optional<audit::ConsentRef> consent;  // the consent that decided, if any
    std::vector<std::string> labels;           // the data's security label codes
    std::string explanation;
    bool permit = false;
    bool break_glass = false;
    bool part2 = false;
  };
  std::vector<bool> released;  // per resource, in input order
  std::vector<bool> notice;    // per resource: Part 2 data released with the re-disclosure notice
  // Per resource: its decisions (a contained resource of another patient adds one); empty for
  // what needed no decision (the partner's own contributions, data of no patient, Consents).
  std::vector<std::vector<Record>> records;
  std::optional<std::string> patient_id;  // the one patient all the data belongs to, if so
};

// The index of the one resource of a single read or write in its ReleaseDecision.
inline constexpr std::array<std::size_t, 1> kOnlyResource = {0};

// The meta.source the gateway stamps on what `partner_id` writes: it proves later which partner
// contributed the version, and that partner always reads its own contributions back.
std::string ContributorSource(std::string_view partner_id);

// Adds the 42 CFR Part 2 re-disclosure notice to a response that carries Part 2 data.
void AddRedisclosureNotice(HttpResponse& response);

// A resource body parsed and checked, or the response that explains why not.
struct ParsedBody {
  std::optional<fhir::json::Value> resource;
  std::optional<HttpResponse> error;
};

struct FhirApi::Impl {
  Impl(const config::Config& config, store::Store& store, net::thread_pool& blocking,
       const auth::PartnerRegistry& partners, auth::TokenService& tokens);

  // Who is asking: the partner proven by the bearer token or the client certificate, with the
  // purpose of use it claims, within its rate. Sets ex->partner and ex->purpose, or answers.
  std::optional<HttpResponse> Admit(Exchange& ex);
  // The role matrix for this partner: 403, or nullopt with ex.addressed_to set when the partner
  // only reaches what is addressed to it.
  std::optional<HttpResponse> Permit(Exchange& ex, Interaction interaction,
                                     std::string_view type) const;
  // True when ex is not confined, or `stored_json` is addressed to its partner.
  bool StoredIsAddressedTo(const Exchange& ex, std::string_view type,
                           std::string_view stored_json) const;
  // POST /auth/token (SMART Backend Services).
  HttpResponse IssueToken(const HttpRequest& request);

  net::awaitable<HttpResponse> Route(ExchangePtr ex);

  // Interactions (fhir_api.cc).
  net::awaitable<HttpResponse> Read(ExchangePtr ex, std::string type, std::string id);
  net::awaitable<HttpResponse> VRead(ExchangePtr ex, std::string type, std::string id,
                                     std::string version);
  net::awaitable<HttpResponse> Create(ExchangePtr ex, std::string type);
  net::awaitable<HttpResponse> Update(ExchangePtr ex, std::string type, std::string id);
  net::awaitable<HttpResponse> Delete(ExchangePtr ex, std::string type, std::string id);
  net::awaitable<HttpResponse> Search(ExchangePtr ex, std::string type, QueryParams params);
  net::awaitable<HttpResponse> History(ExchangePtr ex, std::string type, std::string id);

  // Bundle batch/transaction (transaction.cc).
  net::awaitable<HttpResponse> ProcessBundle(ExchangePtr ex);

  // Consent and audit (release.cc).
  // Decides which of `versions` (stored, not deleted) ex's partner may receive. Blocking: loads
  // the patients' consents; run it on the blocking pool.
  ReleaseDecision DecideRelease(const Exchange& ex,
                                std::span<const store::ResourceVersion* const> versions) const;
  // The stored version of type/id (read on the blocking pool, with the decision in the same hop),
  // as ex's partner may see it: withheld by consent or not addressed to it, it is kNotFound and
  // `withheld`, exactly as if absent. The decision joins ex's trail.
  struct Visible {
    Result<store::ResourceVersion> version = std::error_code(store::errc::kNotFound);
    bool withheld = false;
    bool notice = false;  // Part 2 data: the re-disclosure notice goes with it
  };
  // `discloses`: the response carries the version (reads), so a release is a disclosure; an
  // update or delete only needs the decision.
  // `version`: that version (vread), else the current one.
  net::awaitable<Visible> FetchVisible(ExchangePtr ex, std::string type, std::string id,
                                       std::optional<std::int64_t> version, bool discloses = true);
  // Whether ex's partner may learn that type/id was deleted: only if it may see the version the
  // deletion ended (for a vread of deletion `deletion_version`, the last version before it).
  // Blocking.
  bool MaySeeDeletion(const Exchange& ex, const std::string& type, const std::string& id,
                      std::optional<std::int64_t> deletion_version) const;
  // DecideRelease on the blocking pool.
  net::awaitable<ReleaseDecision> Release(ExchangePtr ex,
                                          std::vector<const store::ResourceVersion*> versions);
  // Adds to ex's trail the AuthZconsent and PrivacyDisclosure events of the decisions about the
  // resources `indexes` of `decision` (the ones the response covers), grouped per patient.
  // With `disclosed` false only the decisions are recorded (the data did not leave).
  void RecordRelease(Exchange& ex, const ReleaseDecision& decision,
                     std::span<const std::size_t> indexes, bool disclosed = true) const;
  // The partner's dialect (partner_mapping.cc): its compiled mapping, kept alive by the catalog
  // it came from; no mapping when the partner speaks canonical FHIR.
  struct Dialect {
    mappings::CatalogPtr catalog;
    const mappings::PartnerMapping* mapping = nullptr;
  };
  Dialect DialectOf(const auth::Partner& partner) const;
  // Maps what ex's partner sent to the canonical form; a 422 with the mapping's OperationOutcome
  // when its dialect cannot be understood (a code its definition says to reject).
  std::optional<HttpResponse> MapInbound(const Exchange& ex, fhir::json::Value& resource) const;
  // The stored (canonical) JSON in ex's partner's dialect.
  std::string MapOutbound(const Exchange& ex, std::string stored_json) const;
  // The one outbound mapping: `resource` (canonical) into `partner`'s dialect, in place. False
  // when its mapping refuses it: `resource` is then left canonical and the refusal logged.
  bool ToPartnerDialect(const auth::Partner& partner, fhir::json::Value& resource) const;
  // The same with `partner`'s dialect (which has a mapping) already looked up, on a tree the
  // caller throws away when it fails (left half-mapped then).
  bool MapToDialectInPlace(const Dialect& dialect, const auth::Partner& partner,
                           fhir::json::Value& resource) const;
  // ex's partner's answer to its write of `resource` as id, mapped from the tree before the store
  // takes it, so that the stored JSON need not be parsed again to map it (ResourceResponse stamps
  // it). nullopt for a partner without a mapping, or one whose mapping refuses the resource.
  std::optional<fhir::UnstampedJson> DialectReply(const Exchange& ex,
                                                  const fhir::json::Value& resource,
                                                  const std::string& id) const;
  // Points `entries` at copies in ex's partner's dialect, kept in `storage`; leaves them alone for
  // a partner without a mapping.
  void ToDialect(const Exchange& ex, std::vector<const store::ResourceVersion*>& entries,
                 std::vector<store::ResourceVersion>& storage) const;
  // POST /fhir/$reload-mappings (admin): reloads the mapping data like SIGHUP, answering why
  // when it refuses.
  net::awaitable<HttpResponse> ReloadMappings(ExchangePtr ex);
  // A ConceptMap written (or, with no `resource`, deleted) through the API: refused unless the
  // mapping data still validates with the change, or when the id is one the gateway ships.
  net::awaitable<std::optional<HttpResponse>> CheckConceptMapChange(
      std::string id, std::optional<fhir::json::Value> resource);
  // After such a change committed: the catalog rebuilt from the files and the stored ConceptMaps.
  net::awaitable<void> RebuildMappingCatalog();
  // Marks a resource a partner is writing: meta.source names the partner (ContributorSource), and
  // substance-use-disorder data gets its 42 CFR Part 2 security label even when unlabelled.
  void PrepareInbound(const Exchange& ex, fhir::json::Value& resource) const;
  // The REST AuditEvent for ex's request, answered with `status` (and the OperationOutcome text
  // of `error_body` for failures); nullopt for requests that are not audited (metadata).
  std::optional<store::WriteOp> RestAuditOp(const Exchange& ex, int status,
                                            std::string_view location, std::string_view etag,
                                            std::string_view error_body) const;
  // Records ex's REST event and pending decisions durably before `response` leaves; a response
  // whose audit cannot be recorded is replaced by a 500 (nothing is disclosed unaudited).
  net::awaitable<HttpResponse> FinishAudit(ExchangePtr ex, HttpResponse response);
  audit::Requestor RequestorOf(const Exchange& ex) const;
  audit::GatewayIdentity GatewayOf(const Exchange& ex) const;

  // Referral operations (referral_ops.cc): GET Task/{id}/$timeline (`as_provenance`: the same
  // timeline as a searchset Bundle of Provenance, GET Provenance?target=Task/{id}),
  // GET $referral-metrics.
  net::awaitable<HttpResponse> ReferralTimeline(ExchangePtr ex, std::string id,
                                                bool as_provenance = false);
  net::awaitable<HttpResponse> ReferralMetrics(ExchangePtr ex);
  // Dead-letter administration (outbox_ops.cc, the admin partner only): GET $dead-letters,
  // POST $redrive?delivery={id}.
  net::awaitable<HttpResponse> DeadLetters(ExchangePtr ex);
  net::awaitable<HttpResponse> Redrive(ExchangePtr ex);

  // Privacy officers' operations (privacy.cc).
  net::awaitable<HttpResponse> EvaluateConsent(ExchangePtr ex);  // POST Consent/$evaluate
  net::awaitable<HttpResponse> Disclosures(ExchangePtr ex, std::string patient_id);
  net::awaitable<HttpResponse> ExportAudit(ExchangePtr ex);  // GET AuditEvent/$export

  // Parses and validates a body for `type`: 400 for JSON or resourceType problems, 422 when the
  // JSON is a resource that breaks FHIR's rules.
  ParsedBody ParseResource(std::string_view body, std::string_view type) const;

  HttpResponse ResourceResponse(const ExchangePtr& ex, int status, const store::ResourceVersion& v,
                                bool with_location) const;
  // `dialect_reply`: the body in ex's partner's dialect, from DialectReply, when `json` is what
  // it wrote; otherwise the stored `json` is mapped.
  HttpResponse ResourceResponse(const ExchangePtr& ex, int status, std::string type,
                                const store::VersionStamp& stamp, std::string json,
                                bool with_location,
                                std::optional<fhir::UnstampedJson> dialect_reply = {}) const;

  // Runs blocking `fn` on the blocking pool and resumes on the caller's executor.
  template <typename Fn>
  net::awaitable<std::invoke_result_t<Fn>> OnPool(Fn fn) {
    return async::OnPool(blocking, std::move(fn));
  }

  // Hands `batch` to the store's group-commit writer and resumes once it is durable.
  net::awaitable<store::WriteResult> Commit(store::WriteBatch batch);

  // Referrals (referrals.cc). What a write of a ServiceRequest or Task adds: the routing
  // decision, the Task state machine's verdict, and the rows to commit with it.
  struct ReferralPlan {
    std::optional<HttpResponse> refusal;           // answer this instead of writing
    fhir::Outcome refusal_outcome;                 // the refusal's issues (for Bundle entries)
    fhir::json::Value resource;                    // the resource to store (routed, or failed)
    std::optional<fhir::json::Value> new_task;     // a Task the gateway creates for a routed
                                                   // ServiceRequest (focus set when appended)
    std::optional<store::OutboxMessage> delivery;  // of the written or the new Task
    std::optional<std::int64_t> checked_version;   // the Task version the transition was
                                                   // checked against: the update must replace it
    // The routing-time consent decisions (AuthZconsent), committed with the referral.
    std::vector<store::WriteOp> audit_ops;
    // A referral Task the gateway failed at routing (no agency, not released): the Task as
    // failed, for the coordinator alert committed with it (delivery::NotSentAlert).
    std::optional<fhir::json::Value> not_sent;
    bool alert_webhook = false;  // the alert queued a webhook row (wake the delivery worker)
  };
  // Plans the write of `resource` (`id` set for an update). Types other than ServiceRequest and
  // Task, and Tasks that are not referrals, pass unchanged. `focus`: the Task's ServiceRequest
  // when it is not stored yet (written by the same transaction Bundle).
  net::awaitable<ReferralPlan> PlanReferral(ExchangePtr ex, std::string type,
                                            std::optional<std::string> id,
                                            fhir::json::Value resource,
                                            std::optional<fhir::json::Value> focus = {});
  // Adds the plan's Task and outbox ops to `batch`, whose first op writes the planned resource.
  void AppendReferralOps(ReferralPlan& plan, store::WriteBatch& batch) const;
  // After a successful commit: wakes the delivery worker when the plan queued a delivery.
  void ReferralCommitted(const ReferralPlan& plan) const;
  ReferralPlan PlanReferralBlocking(const Exchange& ex, const std::string& type,
                                    const std::optional<std::string>& id,
                                    fhir::json::Value resource,
                                    const fhir::json::Value* focus = nullptr);
  const referral::RoutingTable& Routing();
  std::once_flag routing_once;
  std::optional<referral::RoutingTable> routing;
  std::function<void()> outbox_listener;  // set before serving (FhirApi::SetOutboxListener)

  const config::Config& config;
  store::Store& store;
  net::thread_pool& blocking;
  const auth::PartnerRegistry& partners;
  auth::TokenService& tokens;
  RateLimiter rate_limiter;
  consent::Policy consent_policy;
  mutable ConsentCache consent_cache;
  std::string capability_statement;

  // Mapping and questionnaire operations (operations.cc).
  static bool IsMappingOperation(const std::vector<std::string>& segments);
  net::awaitable<HttpResponse> RouteMappingOperation(ExchangePtr ex);
  HttpResponse TranslateOperation(const Exchange& ex) const;
  HttpResponse MapPreviewOperation(const Exchange& ex) const;
  net::awaitable<HttpResponse> ExtractOperation(ExchangePtr ex, std::string id);
  mappings::CatalogPtr MappingCatalog() const;
  mutable std::mutex mapping_catalog_mutex;
  mappings::CatalogPtr mapping_catalog;  // set by FhirApi::SetMappingCatalog; null until then
};

}  // namespace carebridge::api
