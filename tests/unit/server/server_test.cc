// The real Server on port 0, over TLS with certificates from certs/gen-dev-certs.sh (and in plain
// mode for raw-socket cases), in front of a small test handler, driven by libcurl and raw sockets.

#include "gateway/server/server.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace carebridge::server {
namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;

// /echo: 200 with the request body; the method, target, remote address, header names and the
// peer certificate come back in x- headers. /status/NNN: that status. /slow?ms=N: waits N ms,
// then 200 "slow". /throw: throws.
class TestHandler final : public api::HttpHandler {
 public:
  net::awaitable<api::HttpResponse> Handle(api::HttpRequest request) override {
    ++requests;
    api::HttpResponse response;
    response.headers.emplace_back("content-type", "text/plain");
    const std::string& target = request.target;
    if (target.rfind("/throw", 0) == 0) {
      throw std::runtime_error("test handler failure");
    }
    if (target.rfind("/status/", 0) == 0) {
      response.status = std::stoi(target.substr(8));
      response.body = "status";
      co_return response;
    }
    if (target.rfind("/slow", 0) == 0) {
      int ms = 1000;
      if (auto pos = target.find("ms="); pos != std::string::npos) {
        ms = std::stoi(target.substr(pos + 3));
      }
      net::steady_timer timer(co_await net::this_coro::executor, std::chrono::milliseconds(ms));
      co_await timer.async_wait(net::use_awaitable);
      response.body = "slow";
      co_return response;
    }
    std::string names;
    for (const auto& [name, value] : request.headers) {
      names += name + ",";
    }
    response.headers.emplace_back("x-method", request.method);
    response.headers.emplace_back("x-target", request.target);
    response.headers.emplace_back("x-remote", request.remote_address);
    response.headers.emplace_back("x-header-names", names);
    if (const auto& cert = request.peer_certificate) {
      std::string uris;
      for (const auto& uri : cert->uri_sans) {
        uris += uri + ";";
      }
      std::string dns;
      for (const auto& name : cert->dns_sans) {
        dns += name + ";";
      }
      response.headers.emplace_back("x-peer-sha256", cert->sha256_fingerprint);
      response.headers.emplace_back("x-peer-subject", cert->subject);
      response.headers.emplace_back("x-peer-cn", cert->common_name);
      response.headers.emplace_back("x-peer-uri-sans", uris);
      response.headers.emplace_back("x-peer-dns-sans", dns);
    } else {
      response.headers.emplace_back("x-peer", "none");
    }
    response.body = std::move(request.body);
    co_return response;
  }

  std::atomic<int> requests{0};
};

std::filesystem::path& CertDir() {
  static std::filesystem::path dir;
  return dir;
}

class ServerEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CertDir() = std::filesystem::temp_directory_path() /
                ("carebridge-server-test-" + std::to_string(::getpid()));
    const std::string command = std::string("bash '") + CAREBRIDGE_SOURCE_DIR +
                                "/certs/gen-dev-certs.sh' '" + CertDir().string() +
                                "' --test-extras >/dev/null";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(CertDir(), ec);
    curl_global_cleanup();
  }
};
const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new ServerEnvironment);

config::ServerConfig TestConfig(bool tls) {
  config::ServerConfig config;
  config.listen_host = "127.0.0.1";
  config.listen_port = 0;
  config.tls = tls;
  config.tls_cert_file = (CertDir() / "server.crt").string();
  config.tls_key_file = (CertDir() / "server.key").string();
  config.io_threads = 2;
  config.max_header_bytes = 4096;
  config.max_body_bytes = 64 * 1024;
  config.header_timeout = 1s;
  config.body_timeout = 2s;
  config.write_timeout = 20s;
  config.idle_timeout = 20s;
  return config;
}

// A started Server running on its own thread; stops and joins on destruction.
class RunningServer {
 public:
  explicit RunningServer(const config::ServerConfig& config) : server_(config, handler_) {
    std::string message;
    auto started = server_.Start(message);
    if (!started) {
      ADD_FAILURE() << "Start failed: " << message;
      return;
    }
    done_ = std::async(std::launch::async, [this] { server_.Run(); });
  }
  ~RunningServer() {
    server_.Stop();
    if (done_.valid()) {
      done_.wait();
    }
  }

  Server& server() { return server_; }
  TestHandler& handler() { return handler_; }
  std::uint16_t port() const { return server_.port(); }
  // True when Run returned within `limit`.
  bool WaitStopped(std::chrono::seconds limit) {
    return done_.wait_for(limit) == std::future_status::ready;
  }

 private:
  TestHandler handler_;
  Server server_;
  std::future<void> done_;
};

struct CurlReply {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::string headers;  // raw header block(s)
  long connects = -1;   // CURLINFO_NUM_CONNECTS: 0 when a kept-alive connection was reused
};

size_t Append(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;

struct RequestOptions {
  std::string method = "GET";
  std::string body;
  std::vector<std::string> headers;
  long ssl_version = CURL_SSLVERSION_DEFAULT;
  bool tls = true;
  std::string client_cert;  // NAME: present CertDir()/NAME.crt with NAME.key
  std::string ciphers;      // CURLOPT_SSL_CIPHER_LIST (TLS 1.2 and below)
};

CurlPtr NewCurl() { return CurlPtr(curl_easy_init()); }

CurlReply Perform(CURL* curl, std::uint16_t port, const std::string& path,
                  const RequestOptions& options = {}) {
  CurlReply reply;
  const std::string url =
      std::string(options.tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port) + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  const std::string ca = (CertDir() / "ca.crt").string();
  curl_easy_setopt(curl, CURLOPT_CAINFO, ca.c_str());
  curl_easy_setopt(curl, CURLOPT_SSLVERSION, options.ssl_version);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 15L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply.headers);
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, options.method.c_str());
  if (!options.body.empty()) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, options.body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(options.body.size()));
  } else {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, nullptr);
    curl_easy_setopt(curl, CURLOPT_HTTPGET, options.method == "GET" ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, options.method.c_str());
  }
  curl_slist* list = nullptr;
  for (const auto& header : options.headers) {
    list = curl_slist_append(list, header.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  const std::string cert = (CertDir() / (options.client_cert + ".crt")).string();
  const std::string key = (CertDir() / (options.client_cert + ".key")).string();
  if (!options.client_cert.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, cert.c_str());
    curl_easy_setopt(curl, CURLOPT_SSLKEY, key.c_str());
  }
  if (!options.ciphers.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSL_CIPHER_LIST, options.ciphers.c_str());
  }
  reply.code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &reply.connects);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(list);
  return reply;
}

CurlReply Request(std::uint16_t port, const std::string& path, const RequestOptions& options = {}) {
  auto curl = NewCurl();
  return Perform(curl.get(), port, path, options);
}

bool IsOperationOutcome(const CurlReply& reply) {
  return reply.body.find("\"resourceType\":\"OperationOutcome\"") != std::string::npos &&
         reply.headers.find("application/fhir+json") != std::string::npos;
}

// Raw TCP client for the plain-HTTP cases: malformed input and slow clients.
class RawSocket {
 public:
  explicit RawSocket(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    timeval timeout{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~RawSocket() { ::close(fd_); }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  bool connected() const { return connected_; }
  bool Send(std::string_view data) {
    return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }
  // Reads until the peer closes or 10 s pass without data. `closed` tells which.
  std::string ReadAll(bool* closed = nullptr) {
    std::string out;
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (closed != nullptr) {
        *closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
      }
      return out;
    }
  }

 private:
  int fd_;
  bool connected_ = false;
};

TEST(ServerTest, GetOverTls12AndTls13) {
  RunningServer server(TestConfig(true));
  RequestOptions options;
  options.ssl_version =
      static_cast<long>(CURL_SSLVERSION_TLSv1_2) | static_cast<long>(CURL_SSLVERSION_MAX_TLSv1_2);
  auto reply = Request(server.port(), "/echo?x=1", options);
  ASSERT_EQ(reply.code, CURLE_OK) << curl_easy_strerror(reply.code);
  EXPECT_EQ(reply.status, 200);

  options.ssl_version =
      static_cast<long>(CURL_SSLVERSION_TLSv1_3) | static_cast<long>(CURL_SSLVERSION_MAX_TLSv1_3);
  reply = Request(server.port(), "/echo?x=1", options);
  ASSERT_EQ(reply.code, CURLE_OK) << curl_easy_strerror(reply.code);
  EXPECT_EQ(reply.status, 200);
}

TEST(ServerTest, Tls11IsRefused) {
  RunningServer server(TestConfig(true));
  RequestOptions options;
  options.ssl_version =
      static_cast<long>(CURL_SSLVERSION_TLSv1_1) | static_cast<long>(CURL_SSLVERSION_MAX_TLSv1_1);
  auto reply = Request(server.port(), "/echo", options);
  EXPECT_NE(reply.code, CURLE_OK);
  EXPECT_EQ(reply.status, 0);
  EXPECT_EQ(server.handler().requests.load(), 0);
}

TEST(ServerTest, RequestReachesHandlerTransportNeutral) {
  RunningServer server(TestConfig(true));
  RequestOptions options;
  options.method = "POST";
  options.body = R"({"resourceType":"Patient"})";
  options.headers = {"Content-Type: application/fhir+json", "X-Mixed-Case: yes"};
  auto reply = Request(server.port(), "/echo/Patient?name=a%20b", options);
  ASSERT_EQ(reply.code, CURLE_OK) << curl_easy_strerror(reply.code);
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, options.body);
  EXPECT_NE(reply.headers.find("x-method: POST"), std::string::npos) << reply.headers;
  EXPECT_NE(reply.headers.find("x-target: /echo/Patient?name=a%20b"), std::string::npos);
  EXPECT_NE(reply.headers.find("x-remote: 127.0.0.1:"), std::string::npos);
  EXPECT_NE(reply.headers.find("content-type,"), std::string::npos);
  EXPECT_NE(reply.headers.find("x-mixed-case,"), std::string::npos);
  EXPECT_NE(reply.headers.find("Content-Length: 26"), std::string::npos);
}

TEST(ServerTest, KeepAliveReusesTheConnection) {
  RunningServer server(TestConfig(true));
  auto curl = NewCurl();
  auto first = Perform(curl.get(), server.port(), "/echo");
  ASSERT_EQ(first.code, CURLE_OK) << curl_easy_strerror(first.code);
  EXPECT_EQ(first.connects, 1);
  auto second = Perform(curl.get(), server.port(), "/echo");
  ASSERT_EQ(second.code, CURLE_OK) << curl_easy_strerror(second.code);
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.connects, 0);
}

TEST(ServerTest, ConcurrentKeepAliveClients) {
  RunningServer server(TestConfig(true));
  constexpr int kClients = 6;
  constexpr int kRequests = 15;
  std::vector<std::future<int>> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(std::async(std::launch::async, [&server, c] {
      auto curl = NewCurl();
      int ok = 0;
      for (int i = 0; i < kRequests; ++i) {
        RequestOptions options;
        options.method = "POST";
        options.body = "client " + std::to_string(c) + " request " + std::to_string(i);
        auto reply =
            Perform(curl.get(), server.port(), i % 3 == 0 ? "/slow?ms=20" : "/echo", options);
        ok += reply.status == 200 && (i % 3 == 0 || reply.body == options.body);
      }
      return ok;
    }));
  }
  for (auto& client : clients) {
    EXPECT_EQ(client.get(), kRequests);
  }
  EXPECT_EQ(server.handler().requests.load(), kClients * kRequests);
}

TEST(ServerTest, HeadersOverTheLimitGet431) {
  RunningServer server(TestConfig(true));
  RequestOptions options;
  options.headers = {"X-Big: " + std::string(8000, 'a')};
  auto reply = Request(server.port(), "/echo", options);
  ASSERT_EQ(reply.code, CURLE_OK) << curl_easy_strerror(reply.code);
  EXPECT_EQ(reply.status, 431);
  EXPECT_TRUE(IsOperationOutcome(reply)) << reply.headers << reply.body;
  EXPECT_NE(reply.body.find("too-long"), std::string::npos);
  EXPECT_EQ(server.handler().requests.load(), 0);
}

TEST(ServerTest, BodyOverTheLimitGets413) {
  RunningServer server(TestConfig(true));
  RequestOptions options;
  options.method = "POST";
  options.body = std::string(200 * 1024, 'x');
  auto reply = Request(server.port(), "/echo", options);
  ASSERT_EQ(reply.code, CURLE_OK) << curl_easy_strerror(reply.code);
  EXPECT_EQ(reply.status, 413);
  EXPECT_TRUE(IsOperationOutcome(reply)) << reply.headers << reply.body;
  EXPECT_EQ(server.handler().requests.load(), 0);
}

TEST(ServerTest, HugeDeclaredBodyIsRefusedWithoutReadingIt) {
  RunningServer server(TestConfig(true));
  auto curl = NewCurl();
  CurlReply reply;
  const std::string url = "https://127.0.0.1:" + std::to_string(server.port()) + "/echo";
  const std::string ca = (CertDir() / "ca.crt").string();
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_CAINFO, ca.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 15L);
  curl_easy_setopt(curl.get(), CURLOPT_POST, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t{8'000'000'000});
  // curl sends `Expect: 100-continue` for a body this large and waits: the server must answer
  // from the headers alone.
  curl_easy_setopt(
      curl.get(), CURLOPT_READFUNCTION,
      +[](char* buffer, size_t size, size_t count, void*) -> size_t {
        std::memset(buffer, 'x', size * count);
        return size * count;
      });
  curl_easy_setopt(curl.get(), CURLOPT_EXPECT_100_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, Append);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &reply.headers);
  reply.code = curl_easy_perform(curl.get());
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &reply.status);
  EXPECT_EQ(reply.status, 413) << curl_easy_strerror(reply.code);
  EXPECT_TRUE(IsOperationOutcome(reply)) << reply.headers << reply.body;
}

TEST(ServerTest, HugeDeclaredBodyOnRawSocketGets413) {
  RunningServer server(TestConfig(false));
  RawSocket socket(server.port());
  ASSERT_TRUE(socket.connected());
  ASSERT_TRUE(socket.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8000000000\r\n\r\n"));
  bool closed = false;
  const std::string reply = socket.ReadAll(&closed);
  EXPECT_EQ(reply.rfind("HTTP/1.1 413", 0), 0u) << reply;
  EXPECT_NE(reply.find("Connection: close"), std::string::npos) << reply;
  EXPECT_NE(reply.find("OperationOutcome"), std::string::npos);
  EXPECT_TRUE(closed);
}

TEST(ServerTest, ExpectContinueIsHonoured) {
  RunningServer server(TestConfig(true));
  RequestOptions options;
  options.method = "POST";
  options.body = "hello";
  options.headers = {"Expect: 100-continue"};
  auto reply = Request(server.port(), "/echo", options);
  ASSERT_EQ(reply.code, CURLE_OK) << curl_easy_strerror(reply.code);
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "hello");
  EXPECT_NE(reply.headers.find("100 Continue"), std::string::npos) << reply.headers;
}

TEST(ServerTest, MalformedRequestLineGets400) {
  RunningServer server(TestConfig(false));
  RawSocket socket(server.port());
  ASSERT_TRUE(socket.connected());
  ASSERT_TRUE(socket.Send("THIS IS NOT HTTP\r\n\r\n"));
  bool closed = false;
  const std::string reply = socket.ReadAll(&closed);
  EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
  EXPECT_NE(reply.find("OperationOutcome"), std::string::npos) << reply;
  EXPECT_TRUE(closed);
  EXPECT_EQ(server.handler().requests.load(), 0);
}

TEST(ServerTest, MalformedRequestOverTlsGets400) {
  RunningServer server(TestConfig(true));
  RequestOptions options;
  options.method = "GE T";  // request line "GE T /echo HTTP/1.1"
  auto reply = Request(server.port(), "/echo", options);
  EXPECT_EQ(reply.status, 400) << curl_easy_strerror(reply.code);
  EXPECT_TRUE(IsOperationOutcome(reply)) << reply.headers << reply.body;
}

TEST(ServerTest, SlowLorisIsDisconnected) {
  RunningServer server(TestConfig(false));  // header_timeout 1 s
  RawSocket socket(server.port());
  ASSERT_TRUE(socket.connected());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(socket.Send("GET /echo HTTP/1.1\r\nHost: x\r\n"));
  bool closed = false;
  for (int i = 0; i < 40 && !closed; ++i) {
    if (!socket.Send("X")) {
      closed = true;
      break;
    }
    std::this_thread::sleep_for(250ms);
    if (std::chrono::steady_clock::now() - start > 10s) {
      break;
    }
  }
  if (!closed) {
    socket.ReadAll(&closed);
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 12s);
  EXPECT_EQ(server.handler().requests.load(), 0);
}

TEST(ServerTest, SilentTlsClientIsDisconnected) {
  RunningServer server(TestConfig(true));  // handshake deadline: header_timeout, 1 s
  RawSocket socket(server.port());
  ASSERT_TRUE(socket.connected());
  const auto start = std::chrono::steady_clock::now();
  bool closed = false;
  socket.ReadAll(&closed);
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(ServerTest, HandlerExceptionGets500) {
  RunningServer server(TestConfig(true));
  auto reply = Request(server.port(), "/throw");
  ASSERT_EQ(reply.code, CURLE_OK) << curl_easy_strerror(reply.code);
  EXPECT_EQ(reply.status, 500);
  EXPECT_TRUE(IsOperationOutcome(reply)) << reply.headers << reply.body;
  // The server keeps serving.
  EXPECT_EQ(Request(server.port(), "/echo").status, 200);
}

TEST(ServerTest, HandlerStatusAndHeadPassThrough) {
  RunningServer server(TestConfig(true));
  EXPECT_EQ(Request(server.port(), "/status/404").status, 404);
  EXPECT_EQ(Request(server.port(), "/status/204").status, 204);
  RequestOptions head;
  head.method = "HEAD";
  auto curl = NewCurl();
  curl_easy_setopt(curl.get(), CURLOPT_NOBODY, 1L);
  auto reply = Perform(curl.get(), server.port(), "/status/200", head);
  ASSERT_EQ(reply.code, CURLE_OK) << curl_easy_strerror(reply.code);
  EXPECT_EQ(reply.status, 200);
  EXPECT_TRUE(reply.body.empty());
  EXPECT_NE(reply.headers.find("Content-Length: 6"), std::string::npos) << reply.headers;
}

TEST(ServerTest, StopLetsAnInFlightRequestFinish) {
  auto config = TestConfig(true);
  RunningServer server(config);
  // An idle keep-alive connection must not hold up the shutdown.
  auto idle = NewCurl();
  ASSERT_EQ(Perform(idle.get(), server.port(), "/echo").status, 200);

  auto in_flight =
      std::async(std::launch::async, [&] { return Request(server.port(), "/slow?ms=1500"); });
  while (server.handler().requests.load() < 2) {
    std::this_thread::sleep_for(10ms);
  }
  std::this_thread::sleep_for(200ms);
  server.server().Stop();
  const auto reply = in_flight.get();
  EXPECT_EQ(reply.code, CURLE_OK) << curl_easy_strerror(reply.code);
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "slow");
  EXPECT_NE(reply.headers.find("Connection: close"), std::string::npos) << reply.headers;
  // Well before write_timeout (20 s): idle connections were closed, not waited for.
  EXPECT_TRUE(server.WaitStopped(10s));
  // Nothing listens any more.
  EXPECT_NE(Request(server.port(), "/echo").code, CURLE_OK);
}

TEST(ServerTest, StopClosesIdleKeepAliveConnectionsAtOnce) {
  RunningServer server(TestConfig(true));  // write_timeout 20 s bounds the drain
  auto idle = NewCurl();
  ASSERT_EQ(Perform(idle.get(), server.port(), "/echo").status, 200);
  const auto start = std::chrono::steady_clock::now();
  server.server().Stop();
  // The idle client is not asked for anything (no close_notify wait): Run returns promptly.
  EXPECT_TRUE(server.WaitStopped(10s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST(ServerTest, ConnectionsBeyondTheLimitAreClosed) {
  auto config = TestConfig(false);
  config.max_connections = 2;
  config.header_timeout = 10s;
  RunningServer server(config);
  RawSocket a(server.port());
  RawSocket b(server.port());
  ASSERT_TRUE(a.connected() && b.connected());
  std::this_thread::sleep_for(200ms);  // let the server register both
  RawSocket c(server.port());
  bool closed = false;
  c.ReadAll(&closed);
  EXPECT_TRUE(closed);
  // The admitted ones still work.
  ASSERT_TRUE(a.Send("GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  EXPECT_EQ(a.ReadAll().rfind("HTTP/1.1 200", 0), 0u);
}

TEST(ServerTest, StartWritesThePortFile) {
  auto config = TestConfig(true);
  config.port_file = (CertDir() / "port").string();
  RunningServer server(config);
  std::ifstream in(config.port_file);
  int port = 0;
  in >> port;
  EXPECT_EQ(port, server.port());
  EXPECT_NE(port, 0);
}

TEST(ServerTest, StartNamesAMissingCertificateFile) {
  auto config = TestConfig(true);
  config.tls_cert_file = (CertDir() / "nope.crt").string();
  TestHandler handler;
  Server server(config, handler);
  std::string message;
  auto started = server.Start(message);
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error(), make_error_code(errc::kTls));
  EXPECT_NE(message.find("nope.crt"), std::string::npos) << message;
  server.Run();  // returns at once
}

TEST(ServerTest, StartReportsAnAddressInUse) {
  RunningServer first(TestConfig(false));
  auto config = TestConfig(false);
  config.listen_port = first.port();
  TestHandler handler;
  Server second(config, handler);
  std::string message;
  auto started = second.Start(message);
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error(), make_error_code(errc::kListen));
  EXPECT_NE(message.find(std::to_string(first.port())), std::string::npos) << message;
}

TEST(ServerTest, ClientCertificateIsRequestedNotRequired) {
  auto config = TestConfig(true);
  config.client_ca_file = (CertDir() / "ca.crt").string();
  RunningServer server(config);
  // Without a certificate.
  EXPECT_EQ(Request(server.port(), "/echo").status, 200);
  // With a partner certificate.
  auto curl = NewCurl();
  const std::string cert = (CertDir() / "riverside-ehr.crt").string();
  const std::string key = (CertDir() / "riverside-ehr.key").string();
  curl_easy_setopt(curl.get(), CURLOPT_SSLCERT, cert.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_SSLKEY, key.c_str());
  auto reply = Perform(curl.get(), server.port(), "/echo");
  EXPECT_EQ(reply.code, CURLE_OK) << curl_easy_strerror(reply.code);
  EXPECT_EQ(reply.status, 200);
}

// ---- Mutual TLS, TLS policy, per-client limits -------------------------------------------

// The value of response header `name` (as the test handler writes it), or "" when absent.
std::string HeaderValue(const CurlReply& reply, const std::string& name) {
  const std::string prefix = name + ": ";
  std::size_t pos = 0;
  while ((pos = reply.headers.find(prefix, pos)) != std::string::npos) {
    if (pos == 0 || reply.headers[pos - 1] == '\n') {
      const std::size_t start = pos + prefix.size();
      const std::size_t end = reply.headers.find("\r\n", start);
      return reply.headers.substr(start, end == std::string::npos ? end : end - start);
    }
    pos += prefix.size();
  }
  return {};
}

// `openssl x509 -fingerprint -sha256` of CertDir()/NAME.crt as printed: "AB:CD:...".
std::string OpenSslCliFingerprint(const std::string& name) {
  const std::string command = "openssl x509 -noout -fingerprint -sha256 -in '" +
                              (CertDir() / (name + ".crt")).string() + "'";
  std::string out;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof buf, pipe) != nullptr) {
      out += buf;
    }
    ::pclose(pipe);
  }
  const auto eq = out.find('=');
  if (eq == std::string::npos) {
    return {};
  }
  out = out.substr(eq + 1);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
    out.pop_back();
  }
  return out;
}

// "AB:CD:..." -> "abcd...".
std::string LowerHex(const std::string& fingerprint) {
  std::string out;
  for (char c : fingerprint) {
    if (c != ':') {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return out;
}

// Sends this process's stderr (where the server logs) to a file while it lives.
class StderrCapture {
 public:
  StderrCapture() : path_(CertDir() / ("stderr-" + std::to_string(++counter_) + ".log")) {
    std::fflush(stderr);
    saved_ = ::dup(STDERR_FILENO);
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
  }
  ~StderrCapture() {
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    // Show what was captured, as if it had not been.
    std::fputs(Text().c_str(), stderr);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  std::string Text() const {
    std::ifstream in(path_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // The first captured line containing every one of `needles`, waiting up to 5 s for it (the
  // server logs on its own threads); "" when none appears.
  std::string WaitForLine(const std::vector<std::string>& needles) const {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    for (;;) {
      std::istringstream lines(Text());
      std::string line;
      while (std::getline(lines, line)) {
        bool all = true;
        for (const auto& needle : needles) {
          all = all && line.find(needle) != std::string::npos;
        }
        if (all) {
          return line;
        }
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return {};
      }
      std::this_thread::sleep_for(20ms);
    }
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
  int saved_ = -1;
};

config::ServerConfig MutualTlsConfig() {
  auto config = TestConfig(true);
  config.client_ca_file = (CertDir() / "ca.crt").string();
  return config;
}

constexpr long kTls12Only =
    static_cast<long>(CURL_SSLVERSION_TLSv1_2) | static_cast<long>(CURL_SSLVERSION_MAX_TLSv1_2);
constexpr long kTls13Only =
    static_cast<long>(CURL_SSLVERSION_TLSv1_3) | static_cast<long>(CURL_SSLVERSION_MAX_TLSv1_3);

TEST(MutualTlsTest, VerifiedCertificateReachesTheHandlerOnEveryRequest) {
  RunningServer server(MutualTlsConfig());
  const std::string expected_sha256 = LowerHex(OpenSslCliFingerprint("riverside-ehr"));
  ASSERT_EQ(expected_sha256.size(), 64u);
  for (long version : {kTls12Only, kTls13Only}) {
    RequestOptions options;
    options.client_cert = "riverside-ehr";
    options.ssl_version = version;
    auto curl = NewCurl();
    for (int i = 0; i < 2; ++i) {  // the second request reuses the connection
      auto reply = Perform(curl.get(), server.port(), "/echo", options);
      ASSERT_EQ(reply.code, CURLE_OK) << curl_easy_strerror(reply.code);
      EXPECT_EQ(reply.status, 200);
      EXPECT_EQ(reply.connects, i == 0 ? 1 : 0);
      EXPECT_EQ(HeaderValue(reply, "x-peer-sha256"), expected_sha256) << reply.headers;
      EXPECT_EQ(HeaderValue(reply, "x-peer-subject"), "CN=riverside-ehr,O=carebridge dev");
      EXPECT_EQ(HeaderValue(reply, "x-peer-cn"), "riverside-ehr");
      EXPECT_EQ(HeaderValue(reply, "x-peer-uri-sans"), "urn:carebridge:partner:riverside-ehr;");
      EXPECT_EQ(HeaderValue(reply, "x-peer-dns-sans"), "");
      EXPECT_EQ(HeaderValue(reply, "x-peer"), "");
    }
  }
}

TEST(MutualTlsTest, DisabledPartnerCertificateStillVerifies) {
  // Whether the partner may do anything is the API's decision; the transport passes it on.
  RunningServer server(MutualTlsConfig());
  RequestOptions options;
  options.client_cert = "disabled-partner";
  auto reply = Request(server.port(), "/echo", options);
  ASSERT_EQ(reply.code, CURLE_OK) << curl_easy_strerror(reply.code);
  EXPECT_EQ(HeaderValue(reply, "x-peer-sha256"),
            LowerHex(OpenSslCliFingerprint("disabled-partner")));
  EXPECT_EQ(HeaderValue(reply, "x-peer-uri-sans"), "urn:carebridge:partner:disabled-partner;");
}

TEST(MutualTlsTest, WithoutACertificateTheRequestArrivesWithoutPeer) {
  RunningServer server(MutualTlsConfig());
  auto reply = Request(server.port(), "/echo");
  ASSERT_EQ(reply.code, CURLE_OK) << curl_easy_strerror(reply.code);
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(HeaderValue(reply, "x-peer"), "none");
  EXPECT_EQ(HeaderValue(reply, "x-peer-sha256"), "");
}

TEST(MutualTlsTest, WithoutClientCaNoCertificateIsAskedFor) {
  RunningServer server(TestConfig(true));
  RequestOptions options;
  options.client_cert = "riverside-ehr";
  auto reply = Request(server.port(), "/echo", options);
  ASSERT_EQ(reply.code, CURLE_OK) << curl_easy_strerror(reply.code);
  EXPECT_EQ(HeaderValue(reply, "x-peer"), "none");
}

struct RefusalCase {
  std::string certificate;
  std::string reason;  // in the warn log line
};

// Connects with `certificate` over TLS 1.2 and 1.3: the handshake must fail (TLS 1.2: curl's
// connect fails with an SSL error, CURLE_PEER_FAILED_VERIFICATION for a "certificate expired"
// alert; TLS 1.3: the server's alert arrives after the client's Finished, so curl sees
// it when reading), nothing reaches the handler, and a warn line gives the reason and the remote.
void ExpectRefused(RunningServer& server, const RefusalCase& refusal) {
  const int handled_before = server.handler().requests.load();
  for (long version : {kTls12Only, kTls13Only}) {
    StderrCapture capture;
    RequestOptions options;
    options.client_cert = refusal.certificate;
    options.ssl_version = version;
    const auto reply = Request(server.port(), "/echo", options);
    const char* label = version == kTls12Only ? "TLS 1.2" : "TLS 1.3";
    if (version == kTls12Only) {
      EXPECT_TRUE(reply.code == CURLE_SSL_CONNECT_ERROR ||
                  reply.code == CURLE_PEER_FAILED_VERIFICATION)
          << refusal.certificate << " " << label << ": " << curl_easy_strerror(reply.code);
    } else {
      EXPECT_NE(reply.code, CURLE_OK) << refusal.certificate << " " << label;
    }
    EXPECT_EQ(reply.status, 0) << refusal.certificate << " " << label;
    const std::string line = capture.WaitForLine(
        {"\"level\":\"warn\"", "\"reason\":\"" + refusal.reason, "\"remote\":\"127.0.0.1:"});
    EXPECT_FALSE(line.empty()) << refusal.certificate << " " << label << ": no log line in\n"
                               << capture.Text();
  }
  EXPECT_EQ(server.handler().requests.load(), handled_before) << refusal.certificate;
}

TEST(MutualTlsTest, UnknownCaIsRefusedAtTheHandshake) {
  RunningServer server(MutualTlsConfig());
  ExpectRefused(server, {"rogue-client", "unknown CA"});
}

TEST(MutualTlsTest, ExpiredCertificateIsRefusedAtTheHandshake) {
  RunningServer server(MutualTlsConfig());
  ExpectRefused(server, {"expired-client", "certificate expired"});
}

TEST(MutualTlsTest, CertificateRevokedByCrlIsRefused) {
  auto config = MutualTlsConfig();
  config.crl_file = (CertDir() / "ca.crl.pem").string();
  RunningServer server(config);
  ExpectRefused(server, {"revoked-partner", "certificate revoked (CRL)"});
  // Certificates the CRL does not list still pass the CRL check.
  RequestOptions options;
  options.client_cert = "riverside-ehr";
  auto reply = Request(server.port(), "/echo", options);
  ASSERT_EQ(reply.code, CURLE_OK) << curl_easy_strerror(reply.code);
  EXPECT_EQ(HeaderValue(reply, "x-peer-cn"), "riverside-ehr");
}

TEST(MutualTlsTest, WithoutTheCrlTheRevokedCertificateVerifies) {
  RunningServer server(MutualTlsConfig());
  RequestOptions options;
  options.client_cert = "revoked-partner";
  auto reply = Request(server.port(), "/echo", options);
  ASSERT_EQ(reply.code, CURLE_OK) << curl_easy_strerror(reply.code);
  EXPECT_EQ(HeaderValue(reply, "x-peer-cn"), "revoked-partner");
}

TEST(MutualTlsTest, EveryCrlOfTheFileIsLoaded) {
  // Two trusted CAs, their CRLs in one file (the dev CA's second): each CA's clients pass the
  // CRL check only if its CRL was found.
  const auto bundle = CertDir() / "two-cas.pem";
  const auto crls = CertDir() / "two-crls.pem";
  {
    std::ofstream out(bundle);
    out << std::ifstream(CertDir() / "ca.crt").rdbuf()
        << std::ifstream(CertDir() / "rogue-ca.crt").rdbuf();
  }
  {
    std::ofstream out(crls);
    out << std::ifstream(CertDir() / "rogue-ca.crl.pem").rdbuf()
        << std::ifstream(CertDir() / "ca.crl.pem").rdbuf();
  }
  auto config = TestConfig(true);
  config.client_ca_file = bundle.string();
  config.crl_file = crls.string();
  RunningServer server(config);
  for (const char* name : {"riverside-ehr", "rogue-client"}) {
    RequestOptions options;
    options.client_cert = name;
    auto reply = Request(server.port(), "/echo", options);
    EXPECT_EQ(reply.code, CURLE_OK) << name << ": " << curl_easy_strerror(reply.code);
    EXPECT_EQ(HeaderValue(reply, "x-peer-sha256"), LowerHex(OpenSslCliFingerprint(name)));
  }
  ExpectRefused(server, {"revoked-partner", "certificate revoked (CRL)"});
}

TEST(MutualTlsTest, CertificateOnTheFingerprintListIsRefused) {
  auto config = MutualTlsConfig();
  // As openssl prints it: upper case with ':' separators.
  config.revoked_fingerprints = {OpenSslCliFingerprint("lakeside-cmhc")};
  ASSERT_EQ(config.revoked_fingerprints[0].size(), 95u);
  RunningServer server(config);
  ExpectRefused(server, {"lakeside-cmhc", "certificate fingerprint on the revoked list"});
  RequestOptions options;
  options.client_cert = "riverside-ehr";
  EXPECT_EQ(Request(server.port(), "/echo", options).status, 200);
}

TEST(MutualTlsTest, FingerprintListAppliesToTheIssuingCaToo) {
  auto config = MutualTlsConfig();
  config.revoked_fingerprints = {LowerHex(OpenSslCliFingerprint("ca"))};
  RunningServer server(config);
  ExpectRefused(server, {"riverside-ehr", "certificate fingerprint on the revoked list"});
  EXPECT_EQ(Request(server.port(), "/echo").status, 200);  // no certificate: still served
}

TEST(MutualTlsTest, StartRefusesBadRevocationSettings) {
  struct Case {
    std::function<void(config::ServerConfig&)> change;
    std::string in_message;
  };
  const std::vector<Case> cases = {
      {[](config::ServerConfig& c) { c.crl_file = (CertDir() / "ca.crl.pem").string(); },
       "server.crl is set but server.client_ca is not"},
      {[](config::ServerConfig& c) {
         c.client_ca_file = (CertDir() / "ca.crt").string();
         c.crl_file = (CertDir() / "missing.crl.pem").string();
       },
       "missing.crl.pem"},
      {[](config::ServerConfig& c) {
         c.client_ca_file = (CertDir() / "ca.crt").string();
         c.crl_file = (CertDir() / "ca.crt").string();  // a certificate, no CRL
       },
       "holds no CRL"},
      {[](config::ServerConfig& c) {
         c.client_ca_file = (CertDir() / "ca.crt").string();
         c.revoked_fingerprints = {"abcd"};
       },
       "server.revoked_fingerprints[0]"},
  };
  for (const auto& c : cases) {
    auto config = TestConfig(true);
    c.change(config);
    TestHandler handler;
    Server server(config, handler);
    std::string message;
    auto started = server.Start(message);
    ASSERT_FALSE(started) << c.in_message;
    EXPECT_EQ(started.error(), make_error_code(errc::kTls));
    EXPECT_NE(message.find(c.in_message), std::string::npos) << message;
  }
}

TEST(TlsPolicyTest, WeakTls12CipherSuitesAreRefused) {
  RunningServer server(MutualTlsConfig());
  // CBC, RSA key exchange, and CBC even with ECDHE: none is offered by the server.
  for (const char* ciphers :
       {"AES128-SHA", "AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384"}) {
    StderrCapture capture;
    RequestOptions options;
    options.ssl_version = kTls12Only;
    options.ciphers = ciphers;
    auto reply = Request(server.port(), "/echo", options);
    EXPECT_EQ(reply.code, CURLE_SSL_CONNECT_ERROR)
        << ciphers << ": " << curl_easy_strerror(reply.code);
    EXPECT_FALSE(capture.WaitForLine({"TLS handshake refused", "no shared cipher"}).empty())
        << capture.Text();
  }
  EXPECT_EQ(server.handler().requests.load(), 0);
  // The modern suites work.
  for (const char* ciphers : {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"}) {
    RequestOptions options;
    options.ssl_version = kTls12Only;
    options.ciphers = ciphers;
    auto reply = Request(server.port(), "/echo", options);
    EXPECT_EQ(reply.code, CURLE_OK) << ciphers << ": " << curl_easy_strerror(reply.code);
  }
}

TEST(TlsPolicyTest, RenegotiationIsRefused) {
  RunningServer server(MutualTlsConfig());
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  ASSERT_NE(ctx, nullptr);
  SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);  // TLS 1.3 has no renegotiation at all
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(server.port());
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  EXPECT_EQ(SSL_connect(ssl), 1);
  EXPECT_EQ(SSL_renegotiate(ssl), 1);
  // The server answers the new ClientHello with a no_renegotiation alert (SSL_OP_NO_RENEGOTIATION;
  // OpenSSL 3 also refuses client-initiated renegotiation by default).
  EXPECT_LE(SSL_do_handshake(ssl), 0);
  SSL_free(ssl);
  ::close(fd);
  SSL_CTX_free(ctx);
  EXPECT_EQ(Request(server.port(), "/echo").status, 200);
}

TEST(ConnectionLimitTest, PerClientLimitRefusesTheExtraConnectionOnly) {
  auto config = MutualTlsConfig();
  config.max_connections_per_client = 2;
  RunningServer server(config);
  RequestOptions riverside;
  riverside.client_cert = "riverside-ehr";
  // Two kept-alive connections with the same certificate.
  auto first = NewCurl();
  auto second = NewCurl();
  ASSERT_EQ(Perform(first.get(), server.port(), "/echo", riverside).status, 200);
  ASSERT_EQ(Perform(second.get(), server.port(), "/echo", riverside).status, 200);
  {
    StderrCapture capture;
    for (long version : {kTls12Only, kTls13Only}) {
      riverside.ssl_version = version;
      auto extra = Request(server.port(), "/echo", riverside);
      EXPECT_NE(extra.code, CURLE_OK);
      EXPECT_EQ(extra.status, 0);
    }
    riverside.ssl_version = CURL_SSLVERSION_DEFAULT;
    const std::string line = capture.WaitForLine(
        {"per-client connection limit reached",
         "\"client\":\"cert:" + LowerHex(OpenSslCliFingerprint("riverside-ehr"))});
    EXPECT_FALSE(line.empty()) << capture.Text();
  }
  EXPECT_EQ(server.handler().requests.load(), 2);
  // Other clients are still served: another certificate, and a client without one.
  RequestOptions lakeside;
  lakeside.client_cert = "lakeside-cmhc";
  EXPECT_EQ(Request(server.port(), "/echo", lakeside).status, 200);
  EXPECT_EQ(Request(server.port(), "/echo").status, 200);
  // The held connections keep working.
  auto again = Perform(first.get(), server.port(), "/echo", riverside);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.connects, 0);
  // Once one closes, the client may connect again.
  second.reset();
  bool admitted = false;
  for (int i = 0; i < 50 && !admitted; ++i) {
    admitted = Request(server.port(), "/echo", riverside).status == 200;
    if (!admitted) {
      std::this_thread::sleep_for(100ms);
    }
  }
  EXPECT_TRUE(admitted);
}

TEST(ConnectionLimitTest, WithoutACertificateTheLimitIsPerAddress) {
  auto config = TestConfig(false);
  config.max_connections_per_client = 2;
  config.header_timeout = 10s;
  RunningServer server(config);
  RawSocket a(server.port());
  RawSocket b(server.port());
  ASSERT_TRUE(a.connected() && b.connected());
  std::this_thread::sleep_for(200ms);  // let the server admit both
  RawSocket c(server.port());
  bool closed = false;
  c.ReadAll(&closed);
  EXPECT_TRUE(closed);
  ASSERT_TRUE(a.Send("GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  EXPECT_EQ(a.ReadAll().rfind("HTTP/1.1 200", 0), 0u);
}

TEST(ConnectionLimitTest, FloodFromOneClientDoesNotStarveAnother) {
  auto config = MutualTlsConfig();
  config.max_connections = 8;
  config.max_connections_per_client = 3;
  RunningServer server(config);
  // riverside-ehr opens many connections and keeps them; only 3 are admitted, so the global
  // limit still leaves room for lakeside-cmhc.
  std::vector<CurlPtr> flood;
  int admitted = 0;
  for (int i = 0; i < 12; ++i) {
    RequestOptions options;
    options.client_cert = "riverside-ehr";
    flood.push_back(NewCurl());
    admitted += Perform(flood.back().get(), server.port(), "/echo", options).status == 200;
  }
  EXPECT_EQ(admitted, 3);
  RequestOptions lakeside;
  lakeside.client_cert = "lakeside-cmhc";
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Request(server.port(), "/echo", lakeside).status, 200);
  }
}

TEST(ServerTest, TricklingTlsClientIsDisconnected) {
  RunningServer server(MutualTlsConfig());  // handshake deadline: header_timeout, 1 s
  RawSocket socket(server.port());
  ASSERT_TRUE(socket.connected());
  const auto start = std::chrono::steady_clock::now();
  // A TLS record header announcing a ClientHello, then one byte every 100 ms.
  ASSERT_TRUE(socket.Send(std::string("\x16\x03\x01\x02\x00", 5)));
  bool closed = false;
  while (!closed && std::chrono::steady_clock::now() - start < 8s) {
    std::this_thread::sleep_for(100ms);
    closed = !socket.Send(std::string(1, '\x01'));
  }
  if (!closed) {
    socket.ReadAll(&closed);
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

}  // namespace
}  // namespace carebridge::server
