#include "gateway/auth/jwt.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <array>
#include <charconv>
#include <cmath>
#include <limits>

#include "fhir/json/json.h"

namespace carebridge::auth::jwt {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Assertions are a few hundred bytes; 16 KB leaves room for a long scope list while keeping a
// hostile client from making us decode and parse megabytes.
constexpr std::size_t kMaxTokenBytes = std::size_t{16} * 1024;

// A JOSE header or claim set is a flat object of a dozen members.
fhir::json::Limits JoseLimits() {
  fhir::json::Limits limits;
  limits.max_depth = 4;
  limits.max_string_bytes = 4096;
  limits.max_array_items = 64;
  limits.max_object_members = 64;
  limits.max_total_values = 512;
  return limits;
}

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct EcdsaSigDeleter {
  void operator()(ECDSA_SIG* sig) const { ECDSA_SIG_free(sig); }
};

// P-384 coordinates are 48 bytes; a JOSE ES384 signature is r || s, each left-padded to that.
constexpr std::size_t kP384Bytes = 48;

// JOSE r||s → DER ECDSA-Sig-Value, which is what OpenSSL verifies. Empty on failure.
std::string JoseToDer(std::string_view raw) {
  if (raw.size() != 2 * kP384Bytes) {
    return {};
  }
  std::unique_ptr<ECDSA_SIG, EcdsaSigDeleter> sig(ECDSA_SIG_new());
  if (!sig) {
    return {};
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  BIGNUM* r = BN_bin2bn(bytes, kP384Bytes, nullptr);
  BIGNUM* s = BN_bin2bn(bytes + kP384Bytes, kP384Bytes, nullptr);
  if (r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return {};
  }
  const int length = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (length <= 0) {
    return {};
  }
  std::string der(static_cast<std::size_t>(length), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != length) {
    return {};
  }
  return der;
}

bool IsP384(EVP_PKEY* key) {
  std::array<char, 64> group{};
  std::size_t length = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(),
                                     &length) != 1) {
    return false;
  }
  const std::string_view name(group.data(), length);
  return name == "secp384r1" || name == "P-384";
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = (static_cast<std::uint8_t>(bytes[i]) << 16) |
                            (static_cast<std::uint8_t>(bytes[i + 1]) << 8) |
                            static_cast<std::uint8_t>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const std::uint32_t n = static_cast<std::uint8_t>(bytes[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
  } else if (rest == 2) {
    const std::uint32_t n = (static_cast<std::uint8_t>(bytes[i]) << 16) |
                            (static_cast<std::uint8_t>(bytes[i + 1]) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
  }
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  if (text.size() % 4 == 1) {
    return std::nullopt;
  }
  auto sextet = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') {
      return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
      return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
      return c - '0' + 52;
    }
    if (c == '-') {
      return 62;
    }
    if (c == '_') {
      return 63;
    }
    return -1;
  };
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    const int v = sextet(c);
    if (v < 0) {
      return std::nullopt;
    }
    buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  // Leftover bits are padding and must be zero; otherwise two encodings would decode the same.
  if ((buffer & ((1u << bits) - 1)) != 0) {
    return std::nullopt;
  }
  return out;
}

std::optional<Algorithm> AlgorithmForKey(EVP_PKEY* key) {
  if (key == nullptr) {
    return std::nullopt;
  }
  // EVP_PKEY_is_a(key, "RSA") is false for RSA-PSS keys, which cannot make RS384's PKCS#1 v1.5
  // signatures anyway.
  if (EVP_PKEY_is_a(key, "RSA")) {
    return EVP_PKEY_get_bits(key) >= 2048 ? std::optional(Algorithm::kRs384) : std::nullopt;
  }
  if (EVP_PKEY_is_a(key, "EC") && IsP384(key)) {
    return Algorithm::kEs384;
  }
  return std::nullopt;
}

EvpPkeyPtr ParsePublicKeyPem(std::string_view pem) {
  if (pem.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return nullptr;
  }
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) {
    return nullptr;
  }
  EvpPkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  return key;
}

Result<Jws> ParseCompact(std::string_view token, std::string& message) {
  if (token.empty() || token.size() > kMaxTokenBytes) {
    message = token.empty() ? "the JWT is empty" : "the JWT is too long";
    return make_error_code(errc::kMalformed);
  }
  const auto first = token.find('.');
  const auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    message = "a JWT is three base64url parts separated by dots";
    return make_error_code(errc::kMalformed);
  }
  auto header_bytes = Base64UrlDecode(token.substr(0, first));
  auto payload_bytes = Base64UrlDecode(token.substr(first + 1, second - first - 1));
  auto signature = Base64UrlDecode(token.substr(second + 1));
  if (!header_bytes || !payload_bytes || !signature) {
    message = "a JWT part is not valid base64url";
    return make_error_code(errc::kMalformed);
  }
  Jws jws;
  std::string json_message;
  auto header = fhir::json::Parse(*header_bytes, JoseLimits(), json_message);
  if (!header || !header->is_object()) {
    message = "the JWT header is not a JSON object";
    return make_error_code(errc::kMalformed);
  }
  auto payload = fhir::json::Parse(*payload_bytes, JoseLimits(), json_message);
  if (!payload || !payload->is_object()) {
    message = "the JWT claims are not a JSON object";
    return make_error_code(errc::kMalformed);
  }
  jws.header = std::move(*header);
  jws.payload = std::move(*payload);
  const fhir::json::Value* alg = jws.header.Find("alg");
  if (alg == nullptr || !alg->is_string()) {
    message = "the JWT header has no \"alg\"";
    return make_error_code(errc::kMalformed);
  }
  if (jws.header.Find("crit") != nullptr) {
    message = "the JWT header lists critical extensions, which carebridge does not support";
    return make_error_code(errc::kUnsupportedAlgorithm);
  }
  jws.alg = alg->text();
  jws.signing_input = std::string(token.substr(0, second));
  jws.signature = std::move(*signature);
  return jws;
}

std::error_code VerifyWithPublicKey(const Jws& jws, EVP_PKEY* key) {
  // The key decides the algorithm; the header only has to agree. Taking the algorithm from the
  // header is how "alg":"none" and HS384-keyed-with-the-public-key attacks get in.
  const std::optional<Algorithm> expected = AlgorithmForKey(key);
  if (!expected) {
    return make_error_code(errc::kUnsupportedAlgorithm);
  }
  const std::string_view want = *expected == Algorithm::kRs384 ? "RS384" : "ES384";
  if (jws.alg != want) {
    return make_error_code(errc::kUnsupportedAlgorithm);
  }
  std::string der;
  std::string_view signature = jws.signature;
  if (*expected == Algorithm::kEs384) {
    der = JoseToDer(jws.signature);
    if (der.empty()) {
      return make_error_code(errc::kBadSignature);
    }
    signature = der;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha384(), nullptr, key) != 1) {
    return make_error_code(errc::kBadSignature);
  }
  if (*expected == Algorithm::kRs384 &&
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
    return make_error_code(errc::kBadSignature);
  }
  const int ok = EVP_DigestVerify(
      ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
      reinterpret_cast<const unsigned char*>(jws.signing_input.data()), jws.signing_input.size());
  return ok == 1 ? std::error_code() : make_error_code(errc::kBadSignature);
}

std::string HmacSha256(std::string_view secret, std::string_view signing_input) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(),
           mac.data(), &length) == nullptr) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(mac.data()), length);
}

std::optional<std::int64_t> NumericDate(const fhir::json::Value& payload, std::string_view claim,
                                        bool& bad) {
  const fhir::json::Value* value = payload.Find(claim);
  if (value == nullptr) {
    return std::nullopt;
  }
  if (!value->is_number()) {
    bad = true;
    return std::nullopt;
  }
  const std::string& text = value->text();
  std::int64_t whole = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), whole);
  // Dates past year 9999 or before 1970 are not dates any partner means.
  constexpr std::int64_t kMax = 253402300799;
  if (ec == std::errc() && end == text.data() + text.size()) {
    if (whole < 0 || whole > kMax) {
      bad = true;
      return std::nullopt;
    }
    return whole;
  }
  // RFC 7519 allows fractional seconds (and JSON allows exponents): fall back to a double.
  double real = 0;
  auto [real_end, real_ec] = std::from_chars(text.data(), text.data() + text.size(), real);
  if (real_ec != std::errc() || real_end != text.data() + text.size() || !std::isfinite(real) ||
      real < 0 || real > static_cast<double>(kMax)) {
    bad = true;
    return std::nullopt;
  }
  return static_cast<std::int64_t>(std::floor(real));
}

}  // namespace carebridge::auth::jwt
