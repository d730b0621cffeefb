#include "gateway/server/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "gateway/server/server.h"

namespace carebridge::server {
namespace {

namespace ssl = boost::asio::ssl;

constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Session-id context: required for session resumption once client certificates are verified.
constexpr unsigned char kSessionIdContext[] = "carebridge";

std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) {
      out += "; ";
    }
    out += buf;
  }
  return out;
}

bool Readable(const std::string& path) {
  std::ifstream in(path);
  return in.good();
}

Result<ssl::context> Fail(std::string& message, std::string text, const std::string& detail) {
  message = std::move(text);
  if (!detail.empty()) {
    message += " (" + detail + ")";
  }
  return make_error_code(errc::kTls);
}

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

// What the verify callback needs from the configuration. Owned by the SSL_CTX (ex_data).
struct VerifyPolicy {
  std::unordered_set<std::string> revoked_sha256;  // lower-case hex
};

void FreePolicy(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/, long /*argl*/,
                void* /*argp*/) {
  delete static_cast<VerifyPolicy*>(ptr);
}

int PolicyIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, FreePolicy);
  return index;
}

int RefusalIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

std::string Rfc2253(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || name == nullptr || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
    return {};
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

// The bytes of an IA5String/UTF-8 value; nullopt when it holds a NUL (a spoofing attempt).
std::optional<std::string> AsnText(const ASN1_STRING* value) {
  if (value == nullptr) {
    return std::nullopt;
  }
  std::string text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                   static_cast<std::size_t>(ASN1_STRING_length(value)));
  if (text.find('\0') != std::string::npos) {
    return std::nullopt;
  }
  return text;
}

// The subject's commonName when there is exactly one (several would be ambiguous).
std::string CommonName(const X509_NAME* name) {
  const int first = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (first < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, first) >= 0) {
    return {};
  }
  const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, first));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, value);
  if (length < 0) {
    return {};
  }
  std::string text(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
  OPENSSL_free(utf8);
  return text.find('\0') == std::string::npos ? text : std::string();
}

// Lower-case hex of a configured fingerprint, ':' dropped; empty when not 64 hex digits.
std::string NormalizeFingerprint(std::string_view text) {
  std::string hex;
  hex.reserve(64);
  for (char c : text) {
    if (c == ':') {
      continue;
    }
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return {};
    }
    hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return hex.size() == 64 ? hex : std::string();
}

// Called by OpenSSL for each certificate of the client's chain, after its own checks (chain to
// the CA bundle, dates, purpose, CRL). Adds the fingerprint denylist and records the refusal.
int VerifyCallback(int preverified, X509_STORE_CTX* store) {
  SSL* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (ssl == nullptr) {
    return preverified;
  }
  const auto* policy =
      static_cast<const VerifyPolicy*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), PolicyIndex()));
  if (preverified == 1 && policy != nullptr && !policy->revoked_sha256.empty()) {
    X509* cert = X509_STORE_CTX_get_current_cert(store);
    if (cert != nullptr && policy->revoked_sha256.count(CertificateSha256(cert)) > 0) {
      X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
      preverified = 0;
    }
  }
  if (preverified == 0) {
    auto* refusal = static_cast<CertificateRefusal*>(SSL_get_ex_data(ssl, RefusalIndex()));
    if (refusal != nullptr && refusal->x509_error == X509_V_OK) {
      refusal->x509_error = X509_STORE_CTX_get_error(store);
      if (refusal->x509_error == X509_V_OK) {
        refusal->x509_error = X509_V_ERR_UNSPECIFIED;
      }
      X509* leaf = X509_STORE_CTX_get0_cert(store);
      if (leaf != nullptr) {
        refusal->subject = Rfc2253(X509_get_subject_name(leaf));
        refusal->sha256_fingerprint = CertificateSha256(leaf);
      }
    }
  }
  return preverified;
}

// Loads every CRL of a PEM file into `store`; returns how many, or -1 when the file is unreadable
// or holds a damaged PEM block.
int LoadCrls(X509_STORE* store, const std::string& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    return -1;
  }
  int count = 0;
  ERR_clear_error();
  for (;;) {
    X509_CRL* crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr);
    if (crl == nullptr) {
      break;
    }
    const int added = X509_STORE_add_crl(store, crl);
    X509_CRL_free(crl);
    if (added != 1) {
      return -1;
    }
    ++count;
  }
  // The loop ends at the end of the file with "no start line"; anything else is damage.
  const unsigned long error = ERR_peek_last_error();
  if (error != 0 &&
      !(ERR_GET_LIB(error) == ERR_LIB_PEM && ERR_GET_REASON(error) == PEM_R_NO_START_LINE)) {
    return -1;
  }
  ERR_clear_error();
  return count;
}

}  // namespace

Result<ssl::context> MakeServerTlsContext(const config::ServerConfig& config,
                                          std::string& message) {
  ERR_clear_error();
  ssl::context ctx(ssl::context::tls_server);
  SSL_CTX* native = ctx.native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
    return Fail(message, "cannot set the minimum TLS version", OpenSslErrors());
  }
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                  SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_SINGLE_ECDH_USE);
  if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
    return Fail(message, "cannot set the TLS 1.2 cipher list", OpenSslErrors());
  }
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_session_id_context(native, kSessionIdContext, sizeof kSessionIdContext - 1);

  if (config.tls_cert_file.empty() || config.tls_key_file.empty()) {
    return Fail(message, "TLS is on but server.cert or server.key is not set", {});
  }
  if (!Readable(config.tls_cert_file)) {
    return Fail(message, "cannot read TLS certificate file " + config.tls_cert_file, {});
  }
  if (SSL_CTX_use_certificate_chain_file(native, config.tls_cert_file.c_str()) != 1) {
    return Fail(message, "TLS certificate file " + config.tls_cert_file + " is not a PEM chain",
                OpenSslErrors());
  }
  if (!Readable(config.tls_key_file)) {
    return Fail(message, "cannot read TLS key file " + config.tls_key_file, {});
  }
  if (SSL_CTX_use_PrivateKey_file(native, config.tls_key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Fail(message, "TLS key file " + config.tls_key_file + " is not a PEM private key",
                OpenSslErrors());
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return Fail(message,
                "TLS key file " + config.tls_key_file + " does not match certificate " +
                    config.tls_cert_file,
                OpenSslErrors());
  }

  if (config.client_ca_file.empty()) {
    if (!config.crl_file.empty()) {
      return Fail(message, "server.crl is set but server.client_ca is not", {});
    }
    return ctx;
  }

  if (!Readable(config.client_ca_file)) {
    return Fail(message, "cannot read client CA file " + config.client_ca_file, {});
  }
  // The context's store starts empty (no system trust store): only this bundle is trusted.
  if (SSL_CTX_load_verify_locations(native, config.client_ca_file.c_str(), nullptr) != 1) {
    return Fail(message, "client CA file " + config.client_ca_file + " is not a PEM bundle",
                OpenSslErrors());
  }
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.client_ca_file.c_str());
  if (names == nullptr) {
    return Fail(message, "client CA file " + config.client_ca_file + " has no certificate",
                OpenSslErrors());
  }
  SSL_CTX_set_client_CA_list(native, names);  // takes ownership

  if (!config.crl_file.empty()) {
    if (!Readable(config.crl_file)) {
      return Fail(message, "cannot read CRL file " + config.crl_file, {});
    }
    X509_STORE* store = SSL_CTX_get_cert_store(native);
    const int crls = LoadCrls(store, config.crl_file);
    if (crls <= 0) {
      return Fail(message,
                  "CRL file " + config.crl_file +
                      (crls == 0 ? " holds no CRL" : " is not a readable PEM CRL file"),
                  OpenSslErrors());
    }
    // The client's certificate must be covered by a current CRL of its issuer.
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  }

  auto policy = std::make_unique<VerifyPolicy>();
  for (std::size_t i = 0; i < config.revoked_fingerprints.size(); ++i) {
    std::string hex = NormalizeFingerprint(config.revoked_fingerprints[i]);
    if (hex.empty()) {
      return Fail(message,
                  "server.revoked_fingerprints[" + std::to_string(i) +
                      "] is not a SHA-256 fingerprint (64 hex digits)",
                  {});
    }
    policy->revoked_sha256.insert(std::move(hex));
  }
  if (PolicyIndex() < 0 || RefusalIndex() < 0 ||
      SSL_CTX_set_ex_data(native, PolicyIndex(), policy.get()) != 1) {
    return Fail(message, "cannot attach the client certificate policy", OpenSslErrors());
  }
  policy.release();  // owned by the SSL_CTX now: FreePolicy

  // Ask for a certificate; one that is presented must verify, but none is required: the API
  // decides which paths are open without one.
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, VerifyCallback);
  SSL_CTX_set_verify_depth(native, 4);
  return ctx;
}

void RecordCertificateRefusal(SSL* ssl, CertificateRefusal* refusal) {
  if (ssl != nullptr && RefusalIndex() >= 0) {
    SSL_set_ex_data(ssl, RefusalIndex(), refusal);
  }
}

std::string RefusalReason(int x509_error) {
  switch (x509_error) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED:
      return "unknown CA";
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return "certificate expired";
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return "certificate not yet valid";
    case X509_V_ERR_CERT_REVOKED:
      return "certificate revoked (CRL)";
    case X509_V_ERR_CERT_REJECTED:
      return "certificate fingerprint on the revoked list";
    case X509_V_ERR_INVALID_PURPOSE:
      return "certificate not issued for client authentication";
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
    case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
    case X509_V_ERR_DIFFERENT_CRL_SCOPE:
    case X509_V_ERR_CRL_PATH_VALIDATION_ERROR:
      return std::string("CRL check failed: ") + X509_verify_cert_error_string(x509_error);
    default:
      return X509_verify_cert_error_string(x509_error);
  }
}

std::optional<api::PeerCertificate> VerifiedPeerCertificate(SSL* ssl) {
  if (ssl == nullptr) {
    return std::nullopt;
  }
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) {
    return std::nullopt;
  }
  api::PeerCertificate out;
  out.sha256_fingerprint = CertificateSha256(cert);
  if (out.sha256_fingerprint.empty()) {
    return std::nullopt;
  }
  const X509_NAME* subject = X509_get_subject_name(cert);
  out.subject = Rfc2253(subject);
  out.common_name = CommonName(subject);
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
      if (name->type == GEN_URI) {
        if (auto text = AsnText(name->d.uniformResourceIdentifier)) {
          out.uri_sans.push_back(std::move(*text));
        }
      } else if (name->type == GEN_DNS) {
        if (auto text = AsnText(name->d.dNSName)) {
          out.dns_sans.push_back(std::move(*text));
        }
      }
    }
    GENERAL_NAMES_free(sans);
  }
  return out;
}

std::string CertificateSha256(X509* cert) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (cert == nullptr || X509_digest(cert, EVP_sha256(), digest, &length) != 1) {
    return {};
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

}  // namespace carebridge::server
