#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

#include "fhir/base/result.h"
#include "gateway/api/http.h"
#include "gateway/config/config.h"

namespace carebridge::server {

enum class errc {
  kTls = 1,   // certificate, key or CA file missing or unusable
  kListen,    // bad listen address, or bind/listen failed
  kPortFile,  // the port file could not be written
  kState,     // Start called twice, or after Stop
};
const std::error_category& server_category();
std::error_code make_error_code(errc e);

// The HTTPS (or, with config.tls false, plain HTTP/1.1) listener in front of an api::HttpHandler.
//
// Each accepted connection runs one Beast session coroutine: TLS handshake, then per request a
// header read (max_header_bytes, header_timeout), a body read (max_body_bytes, body_timeout), the
// handler, and a write (write_timeout); keep-alive connections wait idle_timeout for the next
// request. The server answers these itself with an OperationOutcome and closes the connection:
// 400 malformed HTTP, 413 body too large (a declared Content-Length over the limit is refused
// before any body byte is read), 431 headers too large, 500 when the handler throws. A client too
// slow to send its headers or body is disconnected (Beast closes the socket at the deadline, so
// no 408 can follow). `Expect: 100-continue` is honoured once the headers pass the limits.
// Connections beyond max_connections are accepted and closed at once, before any TLS work.
//
// TLS (see tls.h for the policy): the handshake must complete within header_timeout. With
// client_ca_file set, a client certificate is requested but not required; one that does not
// verify (unknown CA, expired, revoked by CRL or by revoked_fingerprints) fails the handshake with
// a TLS alert. Every refused handshake is logged at warn with the reason and remote address. A
// verified certificate is described once per connection and copied into each request's
// peer_certificate; without one, peer_certificate is empty and the API decides what is open.
//
// Per-client limit: after the handshake, a connection is counted against its client identity
// (the verified certificate's SHA-256 fingerprint, else the remote IP). When that identity already
// holds max_connections_per_client open connections (<= 0: no limit), the new one is closed at
// once, before any request is read, and a warn line is logged; the client sees the connection
// drop. Closing (rather than answering 503) frees the slot immediately, so a client flooding
// connections cannot hold the global max_connections slots that others need.
//
// Thread-safety: Stop() and port() may be called from any thread; the rest from one thread.
class Server {
 public:
  // `config` is copied; `handler` must outlive the Server.
  Server(const config::ServerConfig& config, api::HttpHandler& handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the TLS certificate chain, key and client CA, binds and listens (port 0: an ephemeral
  // port), writes config.port_file when set. On failure returns the error and a sentence naming
  // the file or address at fault in `message`; nothing is left listening.
  Result<void> Start(std::string& message);

  // The bound port. REQUIRES: Start succeeded.
  std::uint16_t port() const;

  // Runs the event loop on config.io_threads threads (the caller's included) until a Stop has
  // drained every connection. Returns at once when Start did not succeed.
  void Run();

  // Graceful shutdown, idempotent: stops accepting, closes idle keep-alive connections, lets
  // requests already being read or handled finish and get their response (with Connection:
  // close), then makes Run return. Connections still busy after write_timeout are closed.
  void Stop();

  // The event loop's executor, for signal handling and other work that shares the I/O threads.
  boost::asio::any_io_executor executor();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace carebridge::server

template <>
struct std::is_error_code_enum<carebridge::server::errc> : std::true_type {};
