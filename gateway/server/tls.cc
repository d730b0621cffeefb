#include "gateway/server/tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdio>
#include <fstream>

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

  if (!config.client_ca_file.empty()) {
    if (!Readable(config.client_ca_file)) {
      return Fail(message, "cannot read client CA file " + config.client_ca_file, {});
    }
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
    // Ask for a certificate; one that is presented must verify, but none is required yet.
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_verify_depth(native, 4);
  }
  return ctx;
}

std::string VerifiedPeerCertificateSha256(SSL* ssl) {
  if (ssl == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) {
    return {};
  }
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) {
    return {};
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(cert, EVP_sha256(), digest, &length) != 1) {
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
