#pragma once

// What the consent engine needs from the gateway's configuration, shared by the API (every
// disclosure in a response) and the delivery worker (every referral pushed to an agency).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/auth/partner.h"
#include "gateway/config/config.h"
#include "gateway/consent/consent.h"
#include "gateway/store/store.h"

namespace carebridge::api {

// store::ResourceOp, with what the consent engine reads from `resource` kept beside the version
// (consent::DataItem::Facts) when it belongs to a patient and contains no other resources: a
// release decision on it then needs no parse of the resource. The API's one way to write a
// resource.
store::WriteOp ResourceWriteOp(store::WriteOp::Kind kind, std::string type, std::string id,
                               fhir::json::Value resource);

// The release-of-information policy the config's "consent" section asks for.
consent::Policy ConsentPolicyFrom(const config::ConsentConfig& config);

// A partner as a consent recipient: its Organization, its kind (kPartnerKindSystem) and its
// recipient classes as roles, and whether it may claim ETREAT (break the glass).
consent::Recipient RecipientOf(const auth::Partner& partner);

// Each patient's Consent resources as parsed from the store, kept only while the store reports no
// Consent written since they were read (Store::TypeGeneration): a revocation or a new consent is
// in force on the very next request, as without the cache, but a read no longer pays a consent
// query and parse each time. Any Consent write empties it; it holds at most `max_patients`. With
// a store that cannot tell (nullopt), every call reads the store.
class ConsentCache {
 public:
  using Consents = std::shared_ptr<const std::vector<fhir::json::Value>>;
  explicit ConsentCache(std::size_t max_patients = 10'000) : max_patients_(max_patients) {}

  // store::PatientConsents(store, patient_id, max), through the cache. Blocking; thread-safe.
  Result<Consents> Get(store::Store& store, const std::string& patient_id, int max);

 private:
  std::mutex mutex_;
  std::uint64_t generation_ = 0;  // the Consent generation every entry was read at
  std::unordered_map<std::string, Consents> entries_;
  std::size_t max_patients_;
};

}  // namespace carebridge::api
