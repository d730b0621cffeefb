#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fhir/base/result.h"
#include "gateway/auth/partner.h"

namespace carebridge::auth {

enum class errc {
  kMalformed = 1,  // not a JWT / not our token
  kBadSignature,
  kExpired,
  kNotYetValid,
  kWrongAudience,
  kReplayed,  // client assertion jti seen before
  kUnknownClient,
  kDisabledClient,
  kUnsupportedAlgorithm,
  kInvalidRequest,  // token request form is wrong (grant_type, assertion type, scope)
};
const std::error_category& auth_category();
std::error_code make_error_code(errc e);

struct TokenConfig {
  // The token endpoint URL partners must put in their assertion's `aud`.
  std::string audience;
  std::chrono::seconds lifetime{300};
  // Accepted clock skew on iat/exp/nbf of client assertions.
  std::chrono::seconds leeway{60};
  // Longest exp - iat a client assertion may have (SMART: at most 5 minutes).
  std::chrono::seconds max_assertion_lifetime{300};
};

// What a valid access token says.
struct AccessClaims {
  std::string partner_id;
  std::vector<std::string> scopes;  // SMART v1 system scopes, e.g. "system/*.read"
  std::string purpose;              // purpose of use bound at issue time; empty: none
  std::int64_t expires_at = 0;      // seconds since the epoch
};

struct TokenResponse {
  int status = 200;
  std::string body;  // JSON: the RFC 6749 token response or error object
};

// SMART Backend Services (client_credentials with a JWT client assertion, RS384 or ES384) and
// the access tokens the gateway issues and checks. Thread-safe.
class TokenService {
 public:
  // REQUIRES: `partners` outlives the service. Issue and Verify look partners up in it on every
  // call, so a partner disabled there is refused at once, tokens already issued included.
  TokenService(const PartnerRegistry& partners, TokenConfig config);
  ~TokenService();

  // Handles the POST /auth/token form (already decoded): grant_type=client_credentials,
  // client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer,
  // client_assertion=<JWT>, scope=..., optional purpose_of_use=<code>. `now` in seconds.
  TokenResponse Issue(const std::vector<std::pair<std::string, std::string>>& form,
                      std::int64_t now);

  // Checks an access token from an Authorization: Bearer header.
  Result<AccessClaims> Verify(std::string_view token, std::int64_t now) const;

  // The /.well-known/smart-configuration document for a gateway at `base_url`.
  std::string SmartConfiguration(std::string_view base_url) const;

 private:
  // Whether the registry knows `partner_id` and has it enabled: checked on every use of a token.
  std::error_code CheckPartner(std::string_view partner_id) const;
  // Verify without the cache of tokens already verified.
  Result<AccessClaims> VerifyInFull(std::string_view token, std::int64_t now) const;

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace carebridge::auth

template <>
struct std::is_error_code_enum<carebridge::auth::errc> : std::true_type {};
