#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace carebridge::api {

// Header names are lower-case ASCII. Small vectors beat maps at a dozen headers.
using Headers = std::vector<std::pair<std::string, std::string>>;

// What the server hands to the API: transport-neutral, so nothing above gateway/server/ sees
// Beast.
struct HttpRequest {
  std::string method;  // upper-case token: GET, POST, ...
  std::string target;  // origin-form: path plus optional query, still percent-encoded
  Headers headers;
  std::string body;
  std::string remote_address;  // "ip:port"

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
