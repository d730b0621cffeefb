#include "gateway/auth/token.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include "fhir/json/json.h"
#include "fhir/resource/resource.h"
#include "gateway/auth/jwt.h"

namespace carebridge::auth {
namespace {

using fhir::json::Value;

class AuthCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "carebridge.auth"; }
  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::kMalformed:
        return "malformed token";
      case errc::kBadSignature:
        return "bad signature";
      case errc::kExpired:
        return "expired";
      case errc::kNotYetValid:
        return "not yet valid";
      case errc::kWrongAudience:
        return "wrong audience";
      case errc::kReplayed:
        return "replayed client assertion";
      case errc::kUnknownClient:
        return "unknown client";
      case errc::kDisabledClient:
        return "disabled client";
      case errc::kUnsupportedAlgorithm:
        return "unsupported algorithm";
      case errc::kInvalidRequest:
        return "invalid token request";
    }
    return "unknown auth error";
  }
};

constexpr std::string_view kClientCredentials = "client_credentials";
constexpr std::string_view kJwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
// Our access tokens name us as issuer and the FHIR API as audience, and carry RFC 9068's type, so
// no other JWT (a partner's client assertion above all) can pass for one.
constexpr std::string_view kIssuer = "urn:carebridge:token-service";
constexpr std::string_view kAccessAudience = "urn:carebridge:fhir";
constexpr std::string_view kAccessTokenType = "at+jwt";
constexpr std::size_t kMaxScopes = 64;
constexpr std::size_t kMaxJtiBytes = 256;
// Entries live at most max_assertion_lifetime + leeway; this many means a flood, not traffic.
constexpr std::size_t kMaxReplayEntries = 100'000;

// error_description must be printable ASCII without '"' or '\' (RFC 6749 section 5.2); only
// such text from the request is echoed back.
std::string Echo(std::string_view text) {
  if (text.size() > 80 || !std::all_of(text.begin(), text.end(), [](char c) {
        return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\';
      })) {
    return "(not shown)";
  }
  return std::string(text);
}

TokenResponse ErrorResponse(int status, std::string_view error, std::string description) {
  Value body = Value::Object();
  body.Set("error", Value::String(std::string(error)));
  body.Set("error_description", Value::String(std::move(description)));
  return {status, fhir::json::Write(body)};
}

TokenResponse InvalidRequest(std::string description) {
  return ErrorResponse(400, "invalid_request", std::move(description));
}

// RFC 6749 section 5.2: a failed client authentication is 401 invalid_client. SMART Backend
// Services uses invalid_client for every problem with the assertion (signature, aud, exp, jti).
TokenResponse InvalidClient(std::string description) {
  return ErrorResponse(401, "invalid_client", std::move(description));
}

// SMART v1 `system/<Type|*>.<read|write|*>` or v2 `system/<Type|*>.<cruds>` (letters in that
// order, each at most once). v2 query-qualified scopes ("?category=...") are not supported.
bool IsSystemScope(std::string_view scope) {
  constexpr std::string_view kPrefix = "system/";
  if (scope.substr(0, kPrefix.size()) != kPrefix) {
    return false;
  }
  const std::string_view rest = scope.substr(kPrefix.size());
  const auto dot = rest.find('.');
  if (dot == std::string_view::npos) {
    return false;
  }
  const std::string_view type = rest.substr(0, dot);
  const std::string_view permission = rest.substr(dot + 1);
  if (type != "*" && !fhir::IsR4ResourceType(type)) {
    return false;
  }
  if (permission == "read" || permission == "write" || permission == "*") {
    return true;
  }
  constexpr std::string_view kCruds = "cruds";
  std::size_t next = 0;
  for (char c : permission) {
    const auto at = kCruds.find(c, next);
    if (at == std::string_view::npos) {
      return false;
    }
    next = at + 1;
  }
  return !permission.empty();
}

std::vector<std::string> SplitSpaces(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == ' ') {
      ++i;
      continue;
    }
    const auto end = std::min(text.find(' ', i), text.size());
    out.emplace_back(text.substr(i, end - i));
    i = end;
  }
  return out;
}

std::string JoinSpaces(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) {
      out += ' ';
    }
    out += item;
  }
  return out;
}

std::string RandomHex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    return {};
  }
  constexpr std::string_view kHex = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

// RFC 7523 section 3: "aud" is the token endpoint, as a string or in an array of strings.
bool HasAudience(const Value& payload, std::string_view audience) {
  const Value* aud = payload.Find("aud");
  // An unconfigured audience matches nothing, not an empty "aud".
  if (aud == nullptr || audience.empty()) {
    return false;
  }
  if (aud->is_string()) {
    return aud->text() == audience;
  }
  if (aud->is_array()) {
    return std::any_of(aud->items().begin(), aud->items().end(),
                       [&](const Value& v) { return v.is_string() && v.text() == audience; });
  }
  return false;
}

}  // namespace

const std::error_category& auth_category() {
  static const AuthCategory category;
  return category;
}

std::error_code make_error_code(errc e) { return {static_cast<int>(e), auth_category()}; }

struct TokenService::Impl {
  // Looked up on every Verify, so a partner disabled in the registry is refused at once.
  const PartnerRegistry* partners;
  TokenConfig config;
  // HS256 key of our own access tokens. The token service is the only party that signs and checks
  // them, so a symmetric key is enough, and it keeps Verify (run on every bearer request) at a
  // hash instead of a public-key operation. It lives only in memory: a restart invalidates every
  // token, which at a 5-minute lifetime costs partners one token request.
  std::string secret;

  // Access tokens already verified, by their exact text, with their claims: a bearer request
  // repeats its token, and checking it again (base64, two JSON parses, an HMAC) cost ~3% of a
  // read. Only tokens that verified are kept, so a forged one is checked in full every time; the
  // expiry and the partner's registry entry are still checked on every use. Bounded: emptied when
  // full.
  static constexpr std::size_t kMaxVerified = 4096;
  std::mutex verified_mutex;
  std::unordered_map<std::string, AccessClaims> verified;  // REQUIRES: verified_mutex is held

  std::mutex mutex;
  // "<client id> <jti>" → the assertion's exp. REQUIRES: mutex is held.
  std::unordered_map<std::string, std::int64_t> seen_jti;
  std::int64_t next_purge = 0;  // REQUIRES: mutex is held

  // Records the assertion's jti; false when it was seen before and is still live.
  // Returns nullopt (and records nothing) when the cache is full.
  std::optional<bool> Remember(const std::string& key, std::int64_t exp, std::int64_t now) {
    std::lock_guard<std::mutex> lock(mutex);
    if (now >= next_purge || seen_jti.size() >= kMaxReplayEntries) {
      const std::int64_t horizon = now - config.leeway.count();
      std::erase_if(seen_jti, [&](const auto& entry) { return entry.second < horizon; });
      next_purge = now + 1;
    }
    if (seen_jti.count(key) != 0) {
      return false;
    }
    if (seen_jti.size() >= kMaxReplayEntries) {
      return std::nullopt;
    }
    seen_jti.emplace(key, exp);
    return true;
  }
};

TokenService::TokenService(const PartnerRegistry& partners, TokenConfig config)
    : impl_(std::make_unique<Impl>()) {
  impl_->partners = &partners;
  impl_->config = std::move(config);
  impl_->secret.resize(32);
  // Start-up code: failing to get randomness is fatal, and exceptions are allowed here.
  if (RAND_bytes(reinterpret_cast<unsigned char*>(impl_->secret.data()), 32) != 1) {
    throw std::runtime_error("cannot generate the access token key: RAND_bytes failed");
  }
}

TokenService::~TokenService() = default;

TokenResponse TokenService::Issue(const std::vector<std::pair<std::string, std::string>>& form,
                                  std::int64_t now) {
  const TokenConfig& config = impl_->config;
  // RFC 6749 section 3.2: parameters must not be repeated.
  auto param = [&](std::string_view name, const std::string** out) -> bool {
    *out = nullptr;
    for (const auto& [key, value] : form) {
      if (key == name) {
        if (*out != nullptr) {
          return false;
        }
        *out = &value;
      }
    }
    return true;
  };
  const std::string* grant_type = nullptr;
  const std::string* assertion_type = nullptr;
  const std::string* assertion = nullptr;
  const std::string* scope = nullptr;
  const std::string* purpose = nullptr;
  const std::string* client_id = nullptr;
  for (auto [name, out] :
       {std::pair{"grant_type", &grant_type}, std::pair{"client_assertion_type", &assertion_type},
        std::pair{"client_assertion", &assertion}, std::pair{"scope", &scope},
        std::pair{"purpose_of_use", &purpose}, std::pair{"client_id", &client_id}}) {
    if (!param(name, out)) {
      return InvalidRequest(std::string(name) + " is given more than once");
    }
  }
  // RFC 6749 section 2.3: one authentication method per request.
  if (std::any_of(form.begin(), form.end(),
                  [](const auto& p) { return p.first == "client_secret"; })) {
    return InvalidRequest("client_secret cannot be combined with a client assertion");
  }
  if (grant_type == nullptr || grant_type->empty()) {
    return InvalidRequest("grant_type is required (client_credentials)");
  }
  if (*grant_type != kClientCredentials) {
    return ErrorResponse(400, "unsupported_grant_type",
                         "only client_credentials is supported, got " + Echo(*grant_type));
  }
  if (assertion_type == nullptr || *assertion_type != kJwtBearer) {
    return InvalidRequest("client_assertion_type must be " + std::string(kJwtBearer));
  }
  if (assertion == nullptr || assertion->empty()) {
    return InvalidRequest("client_assertion is required");
  }
  if (scope == nullptr || scope->empty()) {
    return InvalidRequest("scope is required, e.g. system/*.read");
  }
  std::vector<std::string> scopes;
  for (std::string& s : SplitSpaces(*scope)) {
    if (!IsSystemScope(s)) {
      return ErrorResponse(400, "invalid_scope",
                           "unsupported scope " + Echo(s) +
                               ": expected system/<Type or *>.<read, write, * or cruds>");
    }
    if (std::find(scopes.begin(), scopes.end(), s) == scopes.end()) {
      scopes.push_back(std::move(s));
    }
  }
  if (scopes.empty() || scopes.size() > kMaxScopes) {
    return ErrorResponse(400, "invalid_scope", "expected between 1 and 64 scopes");
  }

  // The client assertion (SMART Backend Services, RFC 7523). The signature is checked before any
  // claim, and the jti recorded last, so a forged or failing assertion cannot burn a partner's jti.
  std::string message;
  auto jws = jwt::ParseCompact(*assertion, message);
  if (!jws) {
    return InvalidClient("client_assertion: " + message);
  }
  const Value& claims = jws->payload;
  const Value* iss = claims.Find("iss");
  const Value* sub = claims.Find("sub");
  if (iss == nullptr || !iss->is_string() || sub == nullptr || !sub->is_string() ||
      iss->text() != sub->text()) {
    return InvalidClient("client_assertion: iss and sub must both be the client id");
  }
  const std::string& id = iss->text();
  if (client_id != nullptr && *client_id != id) {
    return InvalidClient("client_id does not match the assertion's iss");
  }
  const Partner* partner = impl_->partners->FindById(id);
  if (partner == nullptr) {
    return InvalidClient("unknown client " + Echo(id));
  }
  if (!partner->enabled) {
    return InvalidClient("client " + id + " is disabled");
  }
  if (partner->jwt_public_key_pem.empty()) {
    return InvalidClient("client " + id + " has no registered key for token requests");
  }
  jwt::EvpPkeyPtr key = jwt::ParsePublicKeyPem(partner->jwt_public_key_pem);
  if (std::error_code ec = jwt::VerifyWithPublicKey(*jws, key.get())) {
    if (ec == errc::kUnsupportedAlgorithm) {
      return InvalidClient("client_assertion: alg " + Echo(jws->alg) +
                           " does not match the registered key (RS384 for RSA, ES384 for P-384)");
    }
    return InvalidClient("client_assertion: signature does not verify");
  }

  if (!HasAudience(claims, config.audience)) {
    return InvalidClient("client_assertion: aud must be the token endpoint " +
                         Echo(config.audience));
  }
  bool bad_date = false;
  const auto exp = jwt::NumericDate(claims, "exp", bad_date);
  const auto iat = jwt::NumericDate(claims, "iat", bad_date);
  const auto nbf = jwt::NumericDate(claims, "nbf", bad_date);
  if (bad_date || !exp) {
    return InvalidClient("client_assertion: exp is required; exp, iat, nbf must be NumericDates");
  }
  const std::int64_t leeway = config.leeway.count();
  const std::int64_t max_lifetime = config.max_assertion_lifetime.count();
  if (*exp + leeway <= now) {
    return InvalidClient("client_assertion: expired");
  }
  if ((iat && *iat > now + leeway) || (nbf && *nbf > now + leeway)) {
    return InvalidClient("client_assertion: iat or nbf is in the future");
  }
  // Also bounds how long a jti must be remembered when iat is absent.
  if ((iat && *exp - *iat > max_lifetime) || *exp - now > max_lifetime + leeway) {
    return InvalidClient("client_assertion: exp is more than " + std::to_string(max_lifetime) +
                         " s after iat");
  }
  const Value* jti = claims.Find("jti");
  if (jti == nullptr || !jti->is_string() || jti->text().empty() ||
      jti->text().size() > kMaxJtiBytes) {
    return InvalidClient("client_assertion: jti is required");
  }
  std::string bound_purpose;
  if (purpose != nullptr && !purpose->empty()) {
    if (!partner->MayClaim(*purpose)) {
      return ErrorResponse(400, "invalid_scope",
                           "purpose_of_use " + Echo(*purpose) + " is not one " + id + " may claim");
    }
    bound_purpose = *purpose;
  }
  const auto fresh = impl_->Remember(id + ' ' + jti->text(), *exp, now);
  if (!fresh) {
    return ErrorResponse(503, "temporarily_unavailable", "too many token requests; retry later");
  }
  if (!*fresh) {
    return InvalidClient("client_assertion: jti was already used");
  }

  // The access token: a JWT (RFC 9068 shape) HS256-signed with our in-memory key.
  const std::string token_id = RandomHex(16);
  if (token_id.empty()) {
    return ErrorResponse(500, "server_error", "no randomness available");
  }
  const std::int64_t lifetime = config.lifetime.count();
  const std::string granted = JoinSpaces(scopes);
  Value header = Value::Object();
  header.Set("alg", Value::String("HS256"));
  header.Set("typ", Value::String(std::string(kAccessTokenType)));
  Value body = Value::Object();
  body.Set("iss", Value::String(std::string(kIssuer)));
  body.Set("sub", Value::String(id));
  body.Set("aud", Value::String(std::string(kAccessAudience)));
  body.Set("iat", Value::Number(std::to_string(now)));
  body.Set("exp", Value::Number(std::to_string(now + lifetime)));
  body.Set("jti", Value::String(token_id));
  body.Set("scope", Value::String(granted));
  if (!bound_purpose.empty()) {
    body.Set("purpose", Value::String(bound_purpose));
  }
  std::string token = jwt::Base64UrlEncode(fhir::json::Write(header)) + '.' +
                      jwt::Base64UrlEncode(fhir::json::Write(body));
  token += '.' + jwt::Base64UrlEncode(jwt::HmacSha256(impl_->secret, token));

  Value response = Value::Object();
  response.Set("access_token", Value::String(std::move(token)));
  response.Set("token_type", Value::String("bearer"));
  response.Set("expires_in", Value::Number(std::to_string(lifetime)));
  response.Set("scope", Value::String(granted));
  return {200, fhir::json::Write(response)};
}

Result<AccessClaims> TokenService::Verify(std::string_view token, std::int64_t now) const {
  std::optional<AccessClaims> known;
  {
    std::lock_guard lock(impl_->verified_mutex);
    if (auto it = impl_->verified.find(std::string(token)); it != impl_->verified.end()) {
      known = it->second;
    }
  }
  if (known) {
    if (now >= known->expires_at) {
      return make_error_code(errc::kExpired);
    }
    if (auto refused = CheckPartner(known->partner_id)) {
      return refused;
    }
    return std::move(*known);
  }
  auto verified = VerifyInFull(token, now);
  if (verified) {
    std::lock_guard lock(impl_->verified_mutex);
    if (impl_->verified.size() >= Impl::kMaxVerified) {
      impl_->verified.clear();
    }
    impl_->verified.emplace(std::string(token), *verified);
  }
  return verified;
}

std::error_code TokenService::CheckPartner(std::string_view partner_id) const {
  const Partner* partner = impl_->partners->FindById(partner_id);
  if (partner == nullptr) {
    return make_error_code(errc::kUnknownClient);
  }
  if (!partner->enabled) {
    return make_error_code(errc::kDisabledClient);
  }
  return {};
}

Result<AccessClaims> TokenService::VerifyInFull(std::string_view token, std::int64_t now) const {
  std::string message;
  auto jws = jwt::ParseCompact(token, message);
  if (!jws) {
    return make_error_code(errc::kMalformed);
  }
  // Pinned: only HS256 tokens of our own type are ours; the header cannot choose the algorithm.
  if (jws->alg != "HS256" || jws->header.StringAt("typ") != kAccessTokenType) {
    return make_error_code(errc::kMalformed);
  }
  const std::string mac = jwt::HmacSha256(impl_->secret, jws->signing_input);
  if (mac.empty() || jws->signature.size() != mac.size() ||
      CRYPTO_memcmp(mac.data(), jws->signature.data(), mac.size()) != 0) {
    return make_error_code(errc::kBadSignature);
  }
  const Value& claims = jws->payload;
  if (claims.StringAt("iss") != kIssuer) {
    return make_error_code(errc::kMalformed);
  }
  if (claims.StringAt("aud") != kAccessAudience) {
    return make_error_code(errc::kWrongAudience);
  }
  bool bad_date = false;
  const auto exp = jwt::NumericDate(claims, "exp", bad_date);
  if (bad_date || !exp) {
    return make_error_code(errc::kMalformed);
  }
  // Our own clock made exp: no leeway.
  if (now >= *exp) {
    return make_error_code(errc::kExpired);
  }
  if (auto refused = CheckPartner(claims.StringAt("sub"))) {
    return refused;
  }
  AccessClaims result;
  result.partner_id = std::string(claims.StringAt("sub"));
  result.scopes = SplitSpaces(claims.StringAt("scope"));
  result.purpose = std::string(claims.StringAt("purpose"));
  result.expires_at = *exp;
  return result;
}

std::string TokenService::SmartConfiguration(std::string_view base_url) const {
  while (!base_url.empty() && base_url.back() == '/') {
    base_url.remove_suffix(1);
  }
  auto strings = [](std::initializer_list<std::string_view> items) {
    Value array = Value::Array();
    for (std::string_view item : items) {
      array.PushBack(Value::String(std::string(item)));
    }
    return array;
  };
  Value doc = Value::Object();
  doc.Set("token_endpoint", Value::String(std::string(base_url) + "/auth/token"));
  doc.Set("token_endpoint_auth_methods_supported", strings({"private_key_jwt"}));
  doc.Set("token_endpoint_auth_signing_alg_values_supported", strings({"RS384", "ES384"}));
  doc.Set("grant_types_supported", strings({"client_credentials"}));
  doc.Set("scopes_supported", strings({"system/*.read", "system/*.write", "system/*.*",
                                       "system/*.rs", "system/*.cruds"}));
  doc.Set("capabilities", strings({"client-confidential-asymmetric"}));
  return fhir::json::Write(doc);
}

}  // namespace carebridge::auth
