#pragma once

// Internal to gateway/auth: the JOSE pieces the token service is built from (RFC 7515 compact
// JWS, RFC 7518 RS384/ES384/HS256). Not a general JWT library: it knows exactly the algorithms
// carebridge accepts, so that nothing else can be talked into it.

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "fhir/base/result.h"
#include "fhir/json/value.h"
#include "gateway/auth/token.h"

namespace carebridge::auth::jwt {

// base64url without padding (RFC 7515 section 2). Decode is strict: no padding, no whitespace,
// no characters outside the alphabet, and the unused low bits of the last character must be zero
// (so every byte string has exactly one accepted encoding).
std::string Base64UrlEncode(std::string_view bytes);
std::optional<std::string> Base64UrlDecode(std::string_view text);

struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

// The public-key algorithms a partner's client assertion may use.
enum class Algorithm { kRs384, kEs384 };

// The algorithm a partner key signs with: RSA of at least 2048 bits → RS384, EC on P-384 →
// ES384. Anything else (smaller RSA, other curves, RSA-PSS-only keys, Ed25519, ...) → nullopt.
std::optional<Algorithm> AlgorithmForKey(EVP_PKEY* key);

// Parses a PEM SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----"). Null when it is not one.
EvpPkeyPtr ParsePublicKeyPem(std::string_view pem);

// A compact JWS split into its parts, with header and payload decoded and parsed as JSON objects.
struct Jws {
  std::string signing_input;  // "<header b64>.<payload b64>", the bytes the signature covers
  fhir::json::Value header;
  fhir::json::Value payload;
  std::string signature;  // decoded
  std::string alg;        // header "alg"
};

// Splits and decodes `token`. Rejects: not three parts, bad base64url, JSON that is not an object
// or exceeds small limits, a missing "alg", and any "crit" header (RFC 7515 section 4.1.11: we
// understand no extensions). Says what was wrong in `message`. Does not check the signature.
Result<Jws> ParseCompact(std::string_view token, std::string& message);

// Checks `jws` against a partner key. The header's alg must be exactly the algorithm the key is
// for (AlgorithmForKey): "none", HS*, and an RS384 header on an EC key (or the reverse) are
// kUnsupportedAlgorithm, whatever the signature says. A signature that does not verify is
// kBadSignature. ES384 signatures are the JOSE 96-byte r||s form.
std::error_code VerifyWithPublicKey(const Jws& jws, EVP_PKEY* key);

// HS256 over `signing_input` with `secret` (32 bytes in practice), raw 32-byte MAC.
std::string HmacSha256(std::string_view secret, std::string_view signing_input);

// A NumericDate claim (RFC 7519 section 2): a JSON number, possibly with a fraction, taken down
// to whole seconds. nullopt when absent; sets `bad` when present but not a sane number.
std::optional<std::int64_t> NumericDate(const fhir::json::Value& payload, std::string_view claim,
                                        bool& bad);

}  // namespace carebridge::auth::jwt
