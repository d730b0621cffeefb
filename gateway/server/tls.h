#pragma once

// TLS settings of the listener. Internal to gateway/server/: includes Asio SSL.

#include <boost/asio/ssl/context.hpp>
#include <string>

#include "fhir/base/result.h"
#include "gateway/config/config.h"

namespace carebridge::server {

// A server context: TLS 1.2 minimum, ECDHE with AES-GCM or ChaCha20-Poly1305 for TLS 1.2 and
// OpenSSL's default TLS 1.3 suites, server cipher preference, no compression, no renegotiation,
// session cache and tickets on. Loads config.tls_cert_file (PEM chain) and config.tls_key_file.
// When config.client_ca_file is set, clients are asked for a certificate (not yet required) and
// one that is presented must verify against that CA. Errors name the file at fault in `message`.
Result<boost::asio::ssl::context> MakeServerTlsContext(const config::ServerConfig& config,
                                                       std::string& message);

// Lower-case hex SHA-256 of the peer certificate of an established connection when the client
// presented one and it verified; empty otherwise.
std::string VerifiedPeerCertificateSha256(SSL* ssl);

}  // namespace carebridge::server
