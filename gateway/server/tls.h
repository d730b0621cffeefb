#pragma once

// TLS settings of the listener. Internal to gateway/server/: includes Asio SSL.

#include <boost/asio/ssl/context.hpp>
#include <optional>
#include <string>

#include "fhir/base/result.h"
#include "gateway/api/http.h"
#include "gateway/config/config.h"

namespace carebridge::server {

// A server context: TLS 1.2 minimum, ECDHE with AES-GCM or ChaCha20-Poly1305 for TLS 1.2 and
// OpenSSL's default TLS 1.3 suites, server cipher preference, no compression, no renegotiation,
// session cache and tickets on. Loads config.tls_cert_file (PEM chain) and config.tls_key_file.
//
// When config.client_ca_file is set, clients are asked for a certificate but not required to
// present one. One that is presented must chain to a CA in that bundle (the system trust store is
// never used), be within its validity dates, be meant for client authentication (extended key
// usage), not be revoked by a CRL in config.crl_file (every CRL in that PEM file is loaded; each
// CA of the bundle then needs a current CRL there), and have a SHA-256 fingerprint outside
// config.revoked_fingerprints (any case, ':' separators ignored; checked for every certificate of
// the chain). Otherwise the handshake fails with a TLS alert.
//
// Errors name the file or setting at fault in `message`; crl_file without client_ca_file is one.
Result<boost::asio::ssl::context> MakeServerTlsContext(const config::ServerConfig& config,
                                                       std::string& message);

// Why a client certificate was refused, filled by the context's verify callback.
struct CertificateRefusal {
  int x509_error = 0;              // X509_V_OK (0): nothing was refused
  std::string subject;             // the client's (leaf) certificate, RFC 2253
  std::string sha256_fingerprint;  // of that certificate, lower-case hex
};

// Makes the verify callback of `ssl` record a refusal into `refusal` (nullptr: stop recording).
// REQUIRES: `refusal` outlives the handshake of `ssl`, or is detached before it ends.
void RecordCertificateRefusal(SSL* ssl, CertificateRefusal* refusal);

// A short, loggable reason for a refusal: "unknown CA", "certificate expired", "certificate
// revoked (CRL)", "certificate fingerprint on the revoked list", "CRL check failed: ...".
std::string RefusalReason(int x509_error);

// The client certificate of an established connection when the client presented one and it
// verified (also on a resumed session); nullopt otherwise.
std::optional<api::PeerCertificate> VerifiedPeerCertificate(SSL* ssl);

// Lower-case hex SHA-256 of a certificate's DER encoding; empty when it cannot be computed.
std::string CertificateSha256(X509* cert);

}  // namespace carebridge::server
