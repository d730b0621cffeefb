#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/auth/partner.h"

namespace carebridge::api {

// What a request does, in the terms the role matrix speaks.
enum class Interaction {
  kRead,    // read, vread, instance history
  kSearch,  // type search, type history
  kCreate,
  kUpdate,
  kDelete,
  kCapabilities,  // /metadata
  kBundle,        // POST to the base (each entry is then checked on its own)
  kSystemHistory,
};

// How far a permitted interaction reaches.
enum class Reach {
  kNone,       // refused: 403
  kAll,        // every resource of the type
  kAddressed,  // only resources addressed to the partner (agencies: Task.owner,
               // ServiceRequest.performer); others answer 404, as if absent
};

// The role matrix (README "Partners and roles"): what each kind of partner may do with a type.
// `type` is empty for interactions that are not about one type (metadata, bundle, system
// history).
Reach Authorize(auth::PartnerKind kind, Interaction interaction, std::string_view type);

// The search criterion that confines an agency's search of `type` to what is addressed to it
// ("owner" for Task, "performer" for ServiceRequest); empty when the type has none.
std::string_view AddressedParam(std::string_view type);

// Whether SMART system scopes (v1 "system/Task.read", "system/*.write", "system/*.*"; v2
// "system/Task.cruds") cover `interaction` on `type`. Capabilities are always covered; a bundle
// is covered by any write scope (its entries are then checked one by one).
bool ScopesAllow(const std::vector<std::string>& scopes, Interaction interaction,
                 std::string_view type);

// Per-partner token buckets. Thread-safe.
class RateLimiter {
 public:
  // Takes one request from the partner's bucket. nullopt: admitted; otherwise the seconds to
  // wait before a request would be admitted (for Retry-After).
  std::optional<int> Acquire(const auth::Partner& partner,
                             std::chrono::steady_clock::time_point now);

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point updated;
    bool initialised = false;
  };
  std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace carebridge::api
