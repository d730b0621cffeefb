#include "tests/support/agency.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <utility>

#include "gateway/server/server.h"

namespace carebridge::testing {

namespace net = boost::asio;

void Agency::Script(std::vector<Act> acts, Act fallback) {
  std::lock_guard lock(mu_);
  script_.assign(acts.begin(), acts.end());
  fallback_ = fallback;
}

net::awaitable<api::HttpResponse> Agency::Handle(api::HttpRequest request) {
  api::HttpResponse response;
  response.headers.emplace_back("content-type", "application/fhir+json");
  if (request.method == "GET" && request.target.ends_with("/metadata")) {
    std::lock_guard lock(mu_);
    ++metadata_reads_;
    response.status = 200;
    response.body = R"({"resourceType":"CapabilityStatement","status":"active","kind":"instance",)"
                    R"("fhirVersion":"4.0.1","format":["json"]})";
    co_return response;
  }
  Seen seen;
  seen.arrived = std::chrono::steady_clock::now();
  seen.method = request.method;
  seen.target = request.target;
  // (api::HttpRequest::Header lives in carebridge_api, which the fixture does not link.)
  for (const auto& [name, value] : request.headers) {
    if (name == "idempotency-key") {
      seen.idempotency_key = value;
    } else if (name == "if-none-exist") {
      seen.if_none_exist = value;
    }
  }
  if (request.peer_certificate) {
    seen.client_cn = request.peer_certificate->common_name;
  }
  Act act;
  std::size_t index = 0;
  {
    std::lock_guard lock(mu_);
    if (keep_bodies_) {
      seen.body = request.body;
    }
    index = seen_.size();
    seen_.push_back(seen);
    act = fallback_;
    if (!script_.empty()) {
      act = script_.front();
      script_.pop_front();
    }
  }
  switch (act) {
    case Act::k503:
      response.status = 503;
      break;
    case Act::k429:
      response.status = 429;
      response.headers.emplace_back("retry-after", "1");
      break;
    case Act::k400:
      response.status = 400;
      response.body = R"({"resourceType":"OperationOutcome","issue":[{"severity":"error",)"
                      R"("code":"invalid","diagnostics":"we do not take these"}]})";
      break;
    case Act::kHang: {
      net::steady_timer t(co_await net::this_coro::executor, kHangFor);
      co_await t.async_wait(net::use_awaitable);
      response.status = 503;
      break;
    }
    case Act::kCreateThenHang: {
      response.status = Create(seen);
      net::steady_timer t(co_await net::this_coro::executor, kHangFor);
      co_await t.async_wait(net::use_awaitable);
      break;
    }
    case Act::kCreate:
      response.status = Create(seen);
      break;
  }
  {
    std::lock_guard lock(mu_);
    if (index < seen_.size()) {
      seen_[index].status = response.status;
    }
  }
  co_return response;
}

int Agency::Create(const Seen& seen) {
  const auto bar = seen.if_none_exist.rfind('|');
  const std::string key = bar == std::string::npos ? "?" : seen.if_none_exist.substr(bar + 1);
  std::lock_guard lock(mu_);
  ++asks_[key];
  if (creations_.contains(key)) {
    return 200;  // conditional create found it: nothing new
  }
  creations_[key] = 1;
  return 201;
}

std::map<std::string, int> Agency::creations() {
  std::lock_guard lock(mu_);
  return creations_;
}

std::vector<Seen> Agency::seen() {
  std::lock_guard lock(mu_);
  return seen_;
}

std::map<std::string, int> Agency::asks() {
  std::lock_guard lock(mu_);
  return asks_;
}

int Agency::requests() {
  std::lock_guard lock(mu_);
  return static_cast<int>(seen_.size());
}

int Agency::metadata_reads() {
  std::lock_guard lock(mu_);
  return metadata_reads_;
}

void Agency::Clear() {
  std::lock_guard lock(mu_);
  seen_.clear();
  creations_.clear();
  asks_.clear();
  metadata_reads_ = 0;
}

AgencyServer::AgencyServer() = default;

AgencyServer::~AgencyServer() { Down(); }

bool AgencyServer::Up(const std::filesystem::path& certs, std::uint16_t port,
                      std::string& message) {
  config::ServerConfig c;
  c.listen_host = "127.0.0.1";
  c.listen_port = port != 0 ? port : port_;
  c.tls = true;
  c.tls_cert_file = (certs / "server.crt").string();
  c.tls_key_file = (certs / "server.key").string();
  c.client_ca_file = (certs / "ca.crt").string();
  c.io_threads = 2;
  c.write_timeout = std::chrono::seconds(3);
  server_ = std::make_unique<server::Server>(c, agency);
  if (!server_->Start(message)) {
    server_.reset();
    return false;
  }
  port_ = server_->port();
  running_ = std::async(std::launch::async, [this] { server_->Run(); });
  return true;
}

void AgencyServer::Down() {
  if (server_) {
    server_->Stop();
    running_.wait();
    server_.reset();
  }
}

std::string AgencyServer::BaseUrl() const {
  return "https://127.0.0.1:" + std::to_string(port_) + "/fhir";
}

}  // namespace carebridge::testing
