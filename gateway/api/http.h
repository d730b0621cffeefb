#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace carebridge::api {

// Header names are lower-case ASCII. Small vectors beat maps at a dozen headers.
using Headers = std::vector<std::pair<std::string, std::string>>;

// A client certificate that verified against the configured CA bundle during the TLS handshake
// (expiry, chain and CRL checked by the server). Which partner it proves is the API's business.
struct PeerCertificate {
  std::string sha256_fingerprint;  // lower-case hex of the DER certificate, no separators
  std::string subject;             // RFC 2253 one-line form: "CN=riverside-ehr,O=..."
  std::string common_name;
  std::vector<std::string> uri_sans;  // e.g. "urn:carebridge:partner:riverside-ehr"
  std::vector<std::string> dns_sans;
};

// What the server hands to the API: transport-neutral, so nothing above gateway/server/ sees
// Beast.
struct HttpRequest {
  std::string method;  // upper-case token: GET, POST, ...
  std::string target;  // origin-form: path plus optional query, still percent-encoded
  Headers headers;
  std::string body;
  std::string remote_address;  // "ip:port"
  // Set when the client presented a certificate that verified; empty for no certificate.
  std::optional<PeerCertificate> peer_certificate;

  // The first value of header `name` (lower-case), or nullptr.
  const std::string* Header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  Headers headers;  // Content-Type included when there is a body
  std::string body;
};

// The application behind the listener. Handle never throws on bad input: it answers with an
// OperationOutcome. `request` is taken by value because coroutine parameters must own their data.
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  virtual boost::asio::awaitable<HttpResponse> Handle(HttpRequest request) = 0;
};

}  // namespace carebridge::api
