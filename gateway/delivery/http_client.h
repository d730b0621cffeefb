#pragma once

// An HTTP(S) client for the delivery worker: libcurl's multi interface driven by an Asio
// executor (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION), so transfers never block an I/O thread and
// any number of them share one event loop. Sockets are opened and closed through our callbacks
// (CURLOPT_OPENSOCKETFUNCTION / CLOSESOCKETFUNCTION) so Asio always forgets a descriptor before
// it is closed.
//
// Every transfer: mutual TLS with the gateway's client certificate (when configured), peer and
// host verification against `ca_file`, a connect timeout, a total timeout and a low-speed abort
// (fewer than low_speed_bytes per second for low_speed_time), no redirects, no signals.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace carebridge::delivery {

struct HttpClientOptions {
  std::string client_cert_file;  // PEM: the gateway's client certificate (empty: none)
  std::string client_key_file;
  std::string ca_file;  // PEM bundle the agencies' server certificates chain to (empty: system)
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds total_timeout{30000};
  long low_speed_bytes = 100;               // per second ...
  std::chrono::seconds low_speed_time{10};  // ... for this long aborts the transfer
  long max_response_bytes = 1 << 20;  // larger responses are cut off (the body is for the log)
};

struct HttpCall {
  std::string method = "POST";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
};

struct HttpReply {
  int curl_code = 0;                                         // CURLcode; 0 = a response arrived
  std::string error;                                         // curl's message when curl_code != 0
  long status = 0;                                           // HTTP status; 0 without a response
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  bool cancelled = false;  // aborted by Cancel()

  bool transport_error() const { return curl_code != 0; }
  // The first value of header `name` (lower-case), or nullptr.
  const std::string* Header(std::string_view name) const;
};

class HttpClient {
 public:
  // All libcurl work happens on a strand of `executor`. REQUIRES: curl_global_init was called.
  HttpClient(boost::asio::any_io_executor executor, HttpClientOptions options);
  // REQUIRES: no transfer in flight and the executor's context no longer running handlers of
  // this client (Cancel, then let them complete, or stop the context).
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Performs `call`; completes on the caller's executor. Never throws for transfer failures:
  // they come back in HttpReply.
  boost::asio::awaitable<HttpReply> Perform(HttpCall call);

  // Aborts every transfer in flight (they complete with cancelled = true) and every later one.
  // Thread-safe.
  void Cancel();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace carebridge::delivery
