#include "gateway/server/server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fhir/json/json.h"
#include "fhir/outcome.h"
#include "gateway/log/log.h"
#include "gateway/server/tls.h"

namespace carebridge::server {

using log::Log;
using log::LogEnabled;
using log::LogLevel;

namespace {

class ServerCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "carebridge.server"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::kTls:
        return "TLS set-up failed";
      case errc::kListen:
        return "cannot listen";
      case errc::kPortFile:
        return "cannot write the port file";
      case errc::kState:
        return "server already started or stopped";
    }
    return "unknown server error";
  }
};

}  // namespace

const std::error_category& server_category() {
  static const ServerCategory category;
  return category;
}

std::error_code make_error_code(errc e) { return {static_cast<int>(e), server_category()}; }

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

constexpr auto kNoThrow = net::as_tuple(net::use_awaitable);

constexpr std::size_t kInitialBuffer = 16 * 1024;  // pre-sized: avoids regrowth on every POST
constexpr std::size_t kReadChunk = 16 * 1024;
constexpr auto kMaxShutdownWait = 2s;  // TLS close_notify exchange after Connection: close
constexpr auto kLingerWait = 1s;  // drain unread input before closing, so the reply is not reset
constexpr std::size_t kLingerBytes = 4 << 20;
constexpr auto kForceStopGrace = 2s;  // after force-closing stuck connections

using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using PlainStream = beast::tcp_stream;

template <class Stream>
inline constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

class Listener;

// Book-keeping for one accepted connection, shared between its session coroutine and Stop.
// Fields below `executor` are touched only on the connection's strand.
struct Connection {
  Connection(Listener* owner, net::any_io_executor strand, std::string remote_address,
             std::string remote_ip_address)
      : listener(owner),
        executor(std::move(strand)),
        remote(std::move(remote_address)),
        remote_ip(std::move(remote_ip_address)) {}
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Listener* const listener;
  const net::any_io_executor executor;  // the session's strand
  const std::string remote;             // "ip:port"
  const std::string remote_ip;          // "ip"

  beast::tcp_stream* tcp = nullptr;  // the lowest layer while the session runs
  bool idle = false;                 // waiting for the first byte of a request
  bool stopping = false;             // Stop was called: finish the current request, then close
  // The verified client certificate, computed once after the handshake and copied into every
  // request of the connection.
  std::optional<api::PeerCertificate> peer_certificate;
  // The identity counted against max_connections_per_client; empty until admitted. Written under
  // Listener::mutex_ on the strand, read when the Connection dies.
  std::string client_key;
};
using ConnectionPtr = std::shared_ptr<Connection>;

// Clears Connection::tcp when the session body ends, before its stream (a parameter) dies.
struct StreamRegistration {
  Connection& connection;
  ~StreamRegistration() { connection.tcp = nullptr; }
};

std::string FormatEndpoint(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  std::string out = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  out += ':';
  out += std::to_string(endpoint.port());
  return out;
}

// Handshake failures that are just a client going away (port probes, cancelled connects).
bool IsClientGone(const beast::error_code& ec) {
  return ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe || ec == net::error::operation_aborted ||
         ec == ssl::error::stream_truncated;
}

// Logs a failed TLS handshake: refused certificates and protocol mismatches at warn with the
// reason, a client leaving at debug.
void LogHandshakeFailure(const Connection& conn, const beast::error_code& ec,
                         const CertificateRefusal& refusal) {
  if (refusal.x509_error != 0) {
    Log(LogLevel::kWarn, "TLS handshake refused: client certificate",
        {{"remote", conn.remote},
         {"reason", RefusalReason(refusal.x509_error)},
         {"subject", refusal.subject},
         {"sha256", refusal.sha256_fingerprint}});
  } else if (ec == beast::error::timeout) {
    Log(LogLevel::kWarn, "TLS handshake refused: timed out",
        {{"remote", conn.remote}, {"reason", "no complete handshake within header_timeout"}});
  } else if (IsClientGone(ec)) {
    Log(LogLevel::kDebug, "client left during the TLS handshake",
        {{"remote", conn.remote}, {"error", ec.message()}});
  } else {
    Log(LogLevel::kWarn, "TLS handshake refused",
        {{"remote", conn.remote}, {"reason", ec.message()}});
  }
}

api::HttpResponse ErrorResponse(int status, fhir::IssueType type, std::string diagnostics) {
  api::HttpResponse response;
  response.status = status;
  response.headers.emplace_back("content-type", "application/fhir+json");
  response.body = fhir::json::Write(fhir::MakeOutcome(type, std::move(diagnostics)).ToResource());
  return response;
}

bool IsHttpParseError(const beast::error_code& ec) {
  if (ec.category() != http::make_error_code(http::error::bad_method).category()) {
    return false;
  }
  // End of stream before or inside a message is the client leaving, not a malformed request.
  return ec != http::error::end_of_stream && ec != http::error::partial_message;
}

api::HttpRequest ToApiRequest(http::request<http::string_body>&& in, const Connection& conn) {
  api::HttpRequest out;
  out.method = std::string(in.method_string());
  out.target = std::string(in.target());
  out.headers.reserve(16);
  for (const auto& field : in) {
    std::string name(field.name_string());
    for (char& c : name) {
      if (c >= 'A' && c <= 'Z') {
        c = static_cast<char>(c - 'A' + 'a');
      }
    }
    out.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  out.body = std::move(in.body());
  out.remote_address = conn.remote;
  out.peer_certificate = conn.peer_certificate;
  return out;
}

http::response<http::string_body> ToBeastResponse(api::HttpResponse&& in, unsigned version,
                                                  bool keep_alive, bool head_request) {
  if (in.status < 200 || in.status > 599) {
    Log(LogLevel::kError, "handler returned an invalid status",
        {{"status", std::to_string(in.status)}});
    in = ErrorResponse(500, fhir::IssueType::kException, "internal error");
  }
  http::response<http::string_body> out;
  out.version(version);
  out.result(static_cast<unsigned>(in.status));
  for (auto& [name, value] : in.headers) {
    // The server owns message framing.
    if (name == "content-length" || name == "connection" || name == "transfer-encoding") {
      continue;
    }
    out.insert(name, value);
  }
  if (in.status == 204 || in.status == 304) {
    in.body.clear();  // these responses never carry a body
  }
  const std::size_t body_size = in.body.size();
  out.body() = std::move(in.body);
  out.keep_alive(keep_alive);
  out.prepare_payload();
  if (head_request) {
    out.content_length(body_size);
    out.body().clear();
  }
  return out;
}

// The co_spawn boundary of the handler: an exception becomes a 500 OperationOutcome.
net::awaitable<api::HttpResponse> CallHandler(api::HttpHandler* handler, api::HttpRequest request) {
  std::string method = request.method;
  std::string target = request.target;
  std::string error;
  try {
    co_return co_await handler->Handle(std::move(request));
  } catch (const std::exception& e) {
    error = e.what();
  } catch (...) {
    error = "unknown exception";
  }
  Log(LogLevel::kError, "request handler threw",
      {{"method", method}, {"target", target}, {"error", error}});
  co_return ErrorResponse(500, fhir::IssueType::kException, "internal server error");
}

class Listener {
 public:
  Listener(const config::ServerConfig& config, api::HttpHandler& handler)
      : config_(config),
        handler_(handler),
        ioc_(std::max(1, config.io_threads)),
        acceptor_(net::make_strand(ioc_)),
        drain_timer_(acceptor_.get_executor()) {}

  ~Listener() {
    {
      std::lock_guard lock(mutex_);
      destroying_ = true;
    }
    beast::error_code ec;
    acceptor_.close(ec);
  }

  Result<void> Start(std::string& message);
  void Run();
  void Stop();
  std::uint16_t port() const { return port_.load(); }
  net::any_io_executor executor() { return ioc_.get_executor(); }

  void OnConnectionClosed(Connection* connection) {
    std::lock_guard lock(mutex_);
    connections_.erase(connection);
    if (!connection->client_key.empty()) {
      auto it = per_client_.find(connection->client_key);
      if (it != per_client_.end() && --it->second <= 0) {
        per_client_.erase(it);
      }
    }
    if (stopping_ && connections_.empty() && !destroying_) {
      ioc_.stop();
    }
  }

 private:
  static net::awaitable<void> AcceptLoop(Listener* self);
  template <class Stream>
  static net::awaitable<void> Session(ConnectionPtr connection, Stream stream);

  void OnAccepted(tcp::socket socket);
  // Counts `conn` against max_connections_per_client under identity `key`; false (and not
  // counted) when that identity already has the maximum open.
  bool AdmitClient(Connection& conn, std::string key);
  // The connections still alive. REQUIRES: mutex_ is not held.
  std::vector<ConnectionPtr> LiveConnections();
  void BeginStop();   // on the acceptor's strand
  void ForceClose();  // on the acceptor's strand
  static void StopConnection(const ConnectionPtr& connection, bool force);

  const config::ServerConfig config_;
  api::HttpHandler& handler_;
  std::optional<ssl::context> tls_;

  std::mutex mutex_;
  std::unordered_map<Connection*, std::weak_ptr<Connection>> connections_;  // guarded by mutex_
  std::unordered_map<std::string, int> per_client_;  // open connections per identity; mutex_
  bool stopping_ = false;                            // guarded by mutex_
  bool destroying_ = false;                          // guarded by mutex_

  std::atomic<bool> started_{false};
  std::atomic<bool> stop_requested_{false};
  std::atomic<std::uint16_t> port_{0};

  // Declared after everything a pending handler may touch: destroying the io_context destroys
  // the coroutine frames still suspended in it.
  net::io_context ioc_;
  tcp::acceptor acceptor_;  // on its own strand, as is drain_timer_
  net::steady_timer drain_timer_;
};

Connection::~Connection() { listener->OnConnectionClosed(this); }

Result<void> Listener::Start(std::string& message) {
  if (started_.load() || stop_requested_.load()) {
    message = "the server was already started or stopped";
    return make_error_code(errc::kState);
  }
  if (config_.tls) {
    auto context = MakeServerTlsContext(config_, message);
    if (!context) {
      return context.error();
    }
    tls_.emplace(std::move(*context));
  }

  const std::string where = config_.listen_host + ":" + std::to_string(config_.listen_port);
  beast::error_code ec;
  tcp::endpoint endpoint;
  auto address = net::ip::make_address(config_.listen_host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, config_.listen_port);
  } else {
    tcp::resolver resolver(ioc_);
    auto results = resolver.resolve(config_.listen_host, std::to_string(config_.listen_port),
                                    tcp::resolver::passive, ec);
    if (ec || results.empty()) {
      message = "cannot resolve listen address " + where + ": " +
                (ec ? ec.message() : std::string("no address"));
      return make_error_code(errc::kListen);
    }
    endpoint = results.begin()->endpoint();
  }

  auto fail = [&](const char* what) {
    message = std::string("cannot ") + what + " " + where + ": " + ec.message();
    beast::error_code ignored;
    acceptor_.close(ignored);
    return make_error_code(errc::kListen);
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) {
    return fail("open a socket for");
  }
  acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) {
    return fail("set SO_REUSEADDR on");
  }
  acceptor_.bind(endpoint, ec);
  if (ec) {
    return fail("bind");
  }
  acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return fail("listen on");
  }
  port_.store(acceptor_.local_endpoint(ec).port());
  if (ec) {
    return fail("read the bound port of");
  }

  if (!config_.port_file.empty()) {
    const std::string tmp = config_.port_file + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << port_.load() << '\n';
      out.close();
      if (!out) {
        message = "cannot write port file " + tmp;
        acceptor_.close(ec);
        return make_error_code(errc::kPortFile);
      }
    }
    std::error_code fs_ec;
    std::filesystem::rename(tmp, config_.port_file, fs_ec);
    if (fs_ec) {
      message = "cannot write port file " + config_.port_file + ": " + fs_ec.message();
      acceptor_.close(ec);
      return make_error_code(errc::kPortFile);
    }
  }

  started_.store(true);
  net::co_spawn(acceptor_.get_executor(), AcceptLoop(this), [](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        Log(LogLevel::kError, "accept loop failed", {{"error", ex.what()}});
      }
    }
  });
  return {};
}

void Listener::Run() {
  if (!started_.load()) {
    return;
  }
  auto loop = [this] {
    for (;;) {
      try {
        ioc_.run();
        return;
      } catch (const std::exception& e) {
        Log(LogLevel::kError, "event loop handler threw", {{"error", e.what()}});
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 1; i < config_.io_threads; ++i) {
    threads.emplace_back(loop);
  }
  loop();
  for (auto& thread : threads) {
    thread.join();
  }
}

void Listener::Stop() {
  if (stop_requested_.exchange(true)) {
    return;
  }
  if (!started_.load()) {
    return;
  }
  net::post(acceptor_.get_executor(), [this] { BeginStop(); });
}

void Listener::StopConnection(const ConnectionPtr& connection, bool force) {
  net::post(connection->executor, [connection, force] {
    connection->stopping = true;
    if (connection->tcp == nullptr) {
      return;
    }
    if (force) {
      connection->tcp->close();
    } else if (connection->idle) {
      connection->tcp->cancel();
    }
  });
}

std::vector<ConnectionPtr> Listener::LiveConnections() {
  std::vector<ConnectionPtr> live;
  std::lock_guard lock(mutex_);
  live.reserve(connections_.size());
  for (auto& [raw, weak] : connections_) {
    if (auto connection = weak.lock()) {
      live.push_back(std::move(connection));
    }
  }
  return live;
}

void Listener::BeginStop() {
  beast::error_code ec;
  acceptor_.close(ec);
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    if (connections_.empty()) {
      ioc_.stop();
      return;
    }
  }
  // Outside the lock: dropping the last reference to a Connection takes the lock again.
  for (const auto& connection : LiveConnections()) {
    StopConnection(connection, false);
  }
  drain_timer_.expires_after(config_.write_timeout);
  drain_timer_.async_wait([this](beast::error_code wait_ec) {
    if (!wait_ec) {
      ForceClose();
    }
  });
}

void Listener::ForceClose() {
  const auto live = LiveConnections();
  Log(LogLevel::kWarn, "closing connections still busy at the shutdown deadline",
      {{"connections", std::to_string(live.size())}});
  for (const auto& connection : live) {
    StopConnection(connection, true);
  }
  drain_timer_.expires_after(kForceStopGrace);
  drain_timer_.async_wait([this](beast::error_code wait_ec) {
    if (!wait_ec) {
      ioc_.stop();
    }
  });
}

net::awaitable<void> Listener::AcceptLoop(Listener* self) {
  for (;;) {
    auto [ec, socket] = co_await self->acceptor_.async_accept(
        net::any_io_executor(net::make_strand(self->ioc_)), kNoThrow);
    if (ec) {
      if (self->stop_requested_.load() || !self->acceptor_.is_open()) {
        co_return;
      }
      // Typically EMFILE: back off instead of spinning.
      Log(LogLevel::kWarn, "accept failed", {{"error", ec.message()}});
      net::steady_timer pause(self->acceptor_.get_executor(), 50ms);
      co_await pause.async_wait(kNoThrow);
      continue;
    }
    self->OnAccepted(std::move(socket));
  }
}

void Listener::OnAccepted(tcp::socket socket) {
  beast::error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  if (ec) {
    return;  // the peer is already gone
  }
  socket.set_option(tcp::no_delay(true), ec);
  ConnectionPtr connection;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      socket.close(ec);
      return;
    }
    if (connections_.size() >= static_cast<std::size_t>(std::max(0, config_.max_connections))) {
      socket.close(ec);
      Log(LogLevel::kWarn, "connection limit reached; closing new connection",
          {{"remote", FormatEndpoint(remote)}});
      return;
    }
    connection = std::make_shared<Connection>(this, socket.get_executor(), FormatEndpoint(remote),
                                              remote.address().to_string());
    connections_.emplace(connection.get(), connection);
  }
  auto done = [remote_address = connection->remote](std::exception_ptr e) {
    if (!e) {
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      Log(LogLevel::kError, "session failed", {{"remote", remote_address}, {"error", ex.what()}});
    } catch (...) {
      Log(LogLevel::kError, "session failed", {{"remote", remote_address}});
    }
  };
  const auto executor = connection->executor;
  if (tls_) {
    net::co_spawn(executor, Session(connection, TlsStream(std::move(socket), *tls_)),
                  std::move(done));
  } else {
    net::co_spawn(executor, Session(connection, PlainStream(std::move(socket))), std::move(done));
  }
}

bool Listener::AdmitClient(Connection& conn, std::string key) {
  std::lock_guard lock(mutex_);
  int& open = per_client_[key];
  if (config_.max_connections_per_client > 0 && open >= config_.max_connections_per_client) {
    if (open == 0) {
      per_client_.erase(key);
    }
    return false;
  }
  ++open;
  conn.client_key = std::move(key);
  return true;
}

template <class Stream>
net::awaitable<void> Listener::Session(ConnectionPtr connection, Stream stream) {
  Connection& conn = *connection;
  const config::ServerConfig& config = conn.listener->config_;
  api::HttpHandler* handler = &conn.listener->handler_;
  beast::tcp_stream& transport = beast::get_lowest_layer(stream);
  conn.tcp = &transport;
  StreamRegistration registration{conn};

  if constexpr (kIsTls<Stream>) {
    // The whole handshake shares one deadline: a client that never sends (or trickles) its
    // ClientHello is cut off like a slow-loris.
    CertificateRefusal refusal;
    RecordCertificateRefusal(stream.native_handle(), &refusal);
    transport.expires_after(config.header_timeout);
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, kNoThrow);
    RecordCertificateRefusal(stream.native_handle(), nullptr);
    if (ec) {
      LogHandshakeFailure(conn, ec, refusal);
      co_return;
    }
    conn.peer_certificate = VerifiedPeerCertificate(stream.native_handle());
  }

  // The per-client limit: a client holding too many connections gets this one closed before any
  // request is read.
  std::string client_key = conn.peer_certificate
                               ? "cert:" + conn.peer_certificate->sha256_fingerprint
                               : "ip:" + conn.remote_ip;
  if (!conn.listener->AdmitClient(conn, client_key)) {
    Log(LogLevel::kWarn, "per-client connection limit reached; closing new connection",
        {{"remote", conn.remote},
         {"client", client_key},
         {"limit", std::to_string(config.max_connections_per_client)}});
    beast::error_code ec;
    transport.socket().close(ec);
    co_return;
  }

  beast::flat_buffer buffer;
  buffer.reserve(kInitialBuffer);
  bool first_request = true;
  bool orderly_close = false;  // end with close_notify / FIN rather than just dropping the socket
  bool linger = false;  // the server refused a request whose body the client may still be sending
  for (;;) {
    if (conn.stopping && buffer.size() == 0) {
      // Stop: no new requests (closed like an idle connection); bytes already received are
      // still served.
      break;
    }
    // Wait for the first byte of the next request: the keep-alive idle period, where Stop may
    // close the connection.
    if (buffer.size() == 0) {
      transport.expires_after(first_request ? config.header_timeout : config.idle_timeout);
      conn.idle = true;
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(kReadChunk), kNoThrow);
      conn.idle = false;
      if (ec) {
        // Closed, timed out, or cancelled by Stop. An idle connection is simply closed, as HTTP
        // servers do: waiting for the client's close_notify would hold up the shutdown.
        break;
      }
      buffer.commit(n);
    }
    first_request = false;
    const auto started = std::chrono::steady_clock::now();

    http::request_parser<http::string_body> parser;
    parser.header_limit(
        static_cast<std::uint32_t>(std::min<std::size_t>(config.max_header_bytes, UINT32_MAX)));
    parser.body_limit(config.max_body_bytes);

    std::optional<api::HttpResponse> error;  // set: the server answers itself and closes
    unsigned version = 11;
    bool keep_alive = false;
    bool head_request = false;
    std::string method;
    std::string target;

    transport.expires_after(config.header_timeout);
    auto [header_ec, header_n] = co_await http::async_read_header(stream, buffer, parser, kNoThrow);
    if (header_ec == http::error::header_limit) {
      error = ErrorResponse(
          431, fhir::IssueType::kTooLong,
          "request headers exceed " + std::to_string(config.max_header_bytes) + " bytes");
    } else if (header_ec == http::error::body_limit) {
      error =
          ErrorResponse(413, fhir::IssueType::kTooLong,
                        "request body exceeds " + std::to_string(config.max_body_bytes) + " bytes");
    } else if (header_ec && IsHttpParseError(header_ec)) {
      error = ErrorResponse(400, fhir::IssueType::kStructure,
                            "malformed HTTP request: " + header_ec.message());
    } else if (header_ec) {
      break;  // timeout, reset or end of stream: nobody to answer
    } else {
      const auto& header = parser.get();
      version = header.version();
      method = std::string(header.method_string());
      target = std::string(header.target());
      head_request = header.method() == http::verb::head;

      const auto expect = header[http::field::expect];
      if (!expect.empty() && version >= 11) {
        if (!beast::iequals(expect, "100-continue")) {
          error = ErrorResponse(417, fhir::IssueType::kNotSupported,
                                "only 'Expect: 100-continue' is supported");
        } else if (!parser.is_done()) {
          http::response<http::empty_body> go_on{http::status::continue_, version};
          transport.expires_after(config.write_timeout);
          auto [continue_ec, continue_n] = co_await http::async_write(stream, go_on, kNoThrow);
          if (continue_ec) {
            break;
          }
        }
      }
      if (!error && !parser.is_done()) {
        transport.expires_after(config.body_timeout);
        auto [body_ec, body_n] = co_await http::async_read(stream, buffer, parser, kNoThrow);
        if (body_ec == http::error::body_limit) {
          error = ErrorResponse(
              413, fhir::IssueType::kTooLong,
              "request body exceeds " + std::to_string(config.max_body_bytes) + " bytes");
        } else if (body_ec && IsHttpParseError(body_ec)) {
          error = ErrorResponse(400, fhir::IssueType::kStructure,
                                "malformed HTTP request body: " + body_ec.message());
        } else if (body_ec) {
          break;
        }
      }
      keep_alive = !error && parser.get().keep_alive();
    }

    api::HttpResponse response;
    if (error) {
      response = std::move(*error);
      linger = true;
    } else {
      response = co_await CallHandler(handler, ToApiRequest(parser.release(), conn));
    }
    keep_alive = keep_alive && !conn.stopping;
    const int status = response.status;
    auto message = ToBeastResponse(std::move(response), version, keep_alive, head_request);

    transport.expires_after(config.write_timeout);
    auto [write_ec, write_n] = co_await http::async_write(stream, message, kNoThrow);
    if (LogEnabled(LogLevel::kDebug)) {
      const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::steady_clock::now() - started)
                              .count();
      Log(LogLevel::kDebug, "request",
          {{"remote", conn.remote},
           {"method", method},
           {"target", target},
           {"status", std::to_string(status)},
           {"us", std::to_string(micros)},
           {"write_error", write_ec ? write_ec.message() : std::string()}});
    }
    if (write_ec) {
      break;
    }
    if (!keep_alive) {
      orderly_close = true;
      break;
    }
  }

  if (!orderly_close || !transport.socket().is_open()) {
    beast::error_code ec;
    transport.socket().close(ec);
    co_return;
  }
  if (linger) {
    // The client may still be sending the request we refused: read and discard it for a moment
    // (it stops once it has our response) so that closing with unread input does not reset the
    // connection before the client has read the response.
    beast::error_code ec;
    if constexpr (!kIsTls<Stream>) {
      transport.socket().shutdown(tcp::socket::shutdown_send, ec);
    }
    std::size_t drained = 0;
    transport.expires_after(kLingerWait);
    while (!ec && drained < kLingerBytes) {
      auto [read_ec, n] = co_await stream.async_read_some(buffer.prepare(kReadChunk), kNoThrow);
      ec = read_ec;
      drained += n;
    }
  } else if constexpr (kIsTls<Stream>) {
    transport.expires_after(
        std::min<std::chrono::steady_clock::duration>(config.write_timeout, kMaxShutdownWait));
    auto [ec] = co_await stream.async_shutdown(kNoThrow);
    (void)ec;  // the peer may just drop the connection; that is fine
  } else {
    // Half-close; read what the client still sends until it closes too.
    beast::error_code ec;
    transport.socket().shutdown(tcp::socket::shutdown_send, ec);
    transport.expires_after(kLingerWait);
    while (!ec) {
      auto [read_ec, n] = co_await transport.async_read_some(buffer.prepare(kReadChunk), kNoThrow);
      ec = read_ec;
    }
  }
  beast::error_code ec;
  transport.socket().close(ec);
}

}  // namespace

struct Server::Impl {
  Impl(const config::ServerConfig& config, api::HttpHandler& handler) : listener(config, handler) {}
  Listener listener;
};

Server::Server(const config::ServerConfig& config, api::HttpHandler& handler)
    : impl_(std::make_unique<Impl>(config, handler)) {}

Server::~Server() = default;

Result<void> Server::Start(std::string& message) { return impl_->listener.Start(message); }

std::uint16_t Server::port() const { return impl_->listener.port(); }

void Server::Run() { impl_->listener.Run(); }

void Server::Stop() { impl_->listener.Stop(); }

boost::asio::any_io_executor Server::executor() { return impl_->listener.executor(); }

}  // namespace carebridge::server
