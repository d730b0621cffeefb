#pragma once

// Internal to gateway/api: the pieces of FhirApi shared by its .cc files.

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
#include <string>
#include <type_traits>
#include <utility>

#include "fhir/json/json.h"
#include "fhir/outcome.h"
#include "gateway/api/access.h"
#include "gateway/api/fhir_api.h"
#include "gateway/api/http.h"
#include "gateway/api/url.h"
#include "gateway/config/config.h"
#include "gateway/referral/routing.h"
#include "gateway/store/store.h"

namespace carebridge::api {

namespace net = boost::asio;

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
};

// Whether `resource` of `type` is addressed to `organization` (Task.owner,
// ServiceRequest.performer).
bool IsAddressedTo(std::string_view type, const fhir::json::Value& resource,
                   std::string_view organization);
using ExchangePtr = std::shared_ptr<Exchange>;

// A resource body parsed and checked, or the response that explains why not.
struct ParsedBody {
  std::optional<fhir::json::Value> resource;
  std::optional<HttpResponse> error;
};

// A write op that stores `resource` as `type`/`id`, with meta stamped by the version the store
// assigns.
store::WriteOp MakeWriteOp(store::WriteOp::Kind kind, std::string type, std::string id,
                           fhir::json::Value resource);

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

  // Parses and validates a body for `type`: 400 for JSON or resourceType problems, 422 when the
  // JSON is a resource that breaks FHIR's rules.
  ParsedBody ParseResource(std::string_view body, std::string_view type) const;

  HttpResponse ResourceResponse(const ExchangePtr& ex, int status, const store::ResourceVersion& v,
                                bool with_location) const;
  HttpResponse ResourceResponse(const ExchangePtr& ex, int status, std::string type,
                                const store::VersionStamp& stamp, std::string json,
                                bool with_location) const;

  // Runs blocking `fn` on the blocking pool and resumes on the caller's executor.
  template <typename Fn>
  net::awaitable<std::invoke_result_t<Fn>> OnPool(Fn fn) {
    using R = std::invoke_result_t<Fn>;
    return net::async_initiate<const net::use_awaitable_t<>, void(R)>(
        [this](auto handler, Fn work) {
          net::post(blocking, [handler = std::move(handler), work = std::move(work)]() mutable {
            R result = work();
            auto executor = net::get_associated_executor(handler);
            net::dispatch(executor,
                          [handler = std::move(handler), result = std::move(result)]() mutable {
                            std::move(handler)(std::move(result));
                          });
          });
        },
        net::use_awaitable, std::move(fn));
  }

  // Hands `batch` to the store's group-commit writer and resumes once it is durable.
  net::awaitable<store::WriteResult> Commit(store::WriteBatch batch);

  // Referrals (referrals.cc). What a write of a ServiceRequest or Task adds: the routing
  // decision, the Task state machine's verdict, and the rows to commit with it.
  struct ReferralPlan {
    std::optional<HttpResponse> refusal;           // answer this instead of writing
    fhir::json::Value resource;                    // the resource to store (routed, or failed)
    std::optional<fhir::json::Value> new_task;     // a Task the gateway creates for a routed
                                                   // ServiceRequest (focus set when appended)
    std::optional<store::OutboxMessage> delivery;  // of the written or the new Task
    std::optional<std::int64_t> checked_version;   // the Task version the transition was
                                                   // checked against: the update must replace it
  };
  // Plans the write of `resource` (`id` set for an update). Types other than ServiceRequest and
  // Task, and Tasks that are not referrals, pass unchanged.
  net::awaitable<ReferralPlan> PlanReferral(ExchangePtr ex, std::string type,
                                            std::optional<std::string> id,
                                            fhir::json::Value resource);
  // Adds the plan's Task and outbox ops to `batch`, whose first op writes the planned resource.
  void AppendReferralOps(ReferralPlan& plan, store::WriteBatch& batch) const;
  // After a successful commit: wakes the delivery worker when the plan queued a delivery.
  void ReferralCommitted(const ReferralPlan& plan) const;
  ReferralPlan PlanReferralBlocking(const Exchange& ex, const std::string& type,
                                    const std::optional<std::string>& id,
                                    fhir::json::Value resource);
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
  std::string capability_statement;
};

}  // namespace carebridge::api
