#pragma once

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <string_view>

#include "fhir/json/value.h"
#include "gateway/api/http.h"
#include "gateway/auth/partner.h"
#include "gateway/auth/token.h"
#include "gateway/config/config.h"
#include "gateway/referral/sla.h"
#include "gateway/store/store.h"

namespace carebridge::mappings {
class Catalog;
}

namespace carebridge::api {

// The FHIR R4 REST interface under /fhir, the token endpoint (/auth/token, with
// /.well-known/smart-configuration), and /healthz and /readyz. Every /fhir request comes from a
// known partner (client certificate or bearer token), claims a purpose of use it may claim, is
// within its rate, and is held to its role. Blocking store reads run on `blocking`; writes go
// through the store's group-commit writer. `partners` and `tokens` must outlive the FhirApi.
class FhirApi final : public HttpHandler {
 public:
  FhirApi(const config::Config& config, store::Store& store, boost::asio::thread_pool& blocking,
          const auth::PartnerRegistry& partners, auth::TokenService& tokens);
  ~FhirApi() override;

  boost::asio::awaitable<HttpResponse> Handle(HttpRequest request) override;

  // /readyz answers 200 only between SetReady(true) (listener bound) and SetReady(false)
  // (shutdown started).
  void SetReady(bool ready) { ready_.store(ready, std::memory_order_relaxed); }

  // Called after each commit that queued a referral delivery (the delivery worker's Wake).
  // REQUIRES: set before the server starts.
  void SetOutboxListener(std::function<void()> listener);
  // The mapping data (ConceptMaps, partner definitions, Questionnaires) the mapping operations
  // use. Thread-safe; a reload swaps it while requests in flight finish on the old one.
  void SetMappingCatalog(std::shared_ptr<const mappings::Catalog> catalog);
  // Maps canonical `resource` in place into the dialect of partner `partner_id` (its mapping
  // profile in the current catalog), exactly as the API's responses to that partner are mapped.
  // Leaves it canonical (logged) when the partner has no mapping or its mapping refuses it.
  // Thread-safe: the delivery worker maps the referrals it pushes with it.
  void MapOutbound(std::string_view partner_id, fhir::json::Value& resource) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> ready_{false};
};

// The SLA policy of config.referrals.sla: $timeline, $referral-metrics and the SLA alerts use it.
referral::SlaPolicy SlaPolicyFrom(const config::ReferralsConfig& referrals);

}  // namespace carebridge::api
