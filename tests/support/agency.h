#pragma once

// A community agency's FHIR endpoint for tests and benchmarks: carebridge_server's Server (HTTPS,
// mutual TLS with the dev CA) in front of a scripted handler that implements conditional create,
// so exactly-once is observable. It can answer 2xx, 5xx, 429 with Retry-After, 400, hang, or be
// down (Down, then Up again on the same port). Every request is recorded with its arrival time.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/api/http.h"

namespace carebridge::server {
class Server;
}

namespace carebridge::testing {

// What the agency does with the next request.
enum class Act {
  kCreate,          // conditional create: 201, or 200 when the identifier exists
  k503,             // 503 Service Unavailable
  k429,             // 429 with Retry-After: 1
  k400,             // 400: a permanent refusal
  kHang,            // answers 503 only after kHangFor (after the gateway gave up)
  kCreateThenHang,  // creates, then answers after kHangFor (a lost response)
};

struct Seen {
  std::string method;
  std::string target;
  std::string idempotency_key;
  std::string if_none_exist;
  std::string client_cn;
  std::string body;
  std::chrono::steady_clock::time_point arrived;  // when the handler got the request
  int status = 0;                                 // what the agency answered (0: still hanging)
};

class Agency final : public api::HttpHandler {
 public:
  static constexpr std::chrono::milliseconds kHangFor{1500};

  // Acts for the next requests (other than GET [base]/metadata, which always answers 200), in
  // order; after them `fallback`.
  void Script(std::vector<Act> acts, Act fallback = Act::kCreate);
  // When false, requests are counted but their bodies are not kept (long benchmark runs).
  void set_keep_bodies(bool keep) { keep_bodies_ = keep; }

  boost::asio::awaitable<api::HttpResponse> Handle(api::HttpRequest request) override;

  // Tasks created (each once: the value is 1), by identifier value (the If-None-Exist
  // identifier: the gateway's Task id).
  std::map<std::string, int> creations();
  // How many requests asked to create each of them (more than 1: a repeat that conditional create
  // answered with 200).
  std::map<std::string, int> asks();
  std::vector<Seen> seen();  // every request but the metadata reads, in arrival order
  int requests();            // seen().size()
  int metadata_reads();      // GET [base]/metadata (the gateway's health probes)
  void Clear();              // forgets everything seen and created

 private:
  int Create(const Seen& seen);

  std::mutex mu_;
  std::deque<Act> script_;
  Act fallback_ = Act::kCreate;
  std::vector<Seen> seen_;
  std::map<std::string, int> creations_;
  std::map<std::string, int> asks_;
  int metadata_reads_ = 0;
  bool keep_bodies_ = true;
};

// The agency's HTTPS server; can go down and come back on the same port.
class AgencyServer {
 public:
  AgencyServer();
  ~AgencyServer();
  AgencyServer(const AgencyServer&) = delete;
  AgencyServer& operator=(const AgencyServer&) = delete;

  // Listens on 127.0.0.1 (`port`, else the port of the last Up, else an ephemeral one) with the
  // dev certificates in `certs` (server.crt/key, client CA ca.crt). False with `message` on
  // failure.
  bool Up(const std::filesystem::path& certs, std::uint16_t port, std::string& message);
  bool Up(const std::filesystem::path& certs, std::string& message) {
    return Up(certs, 0, message);
  }
  void Down();  // graceful: requests in progress are answered
  std::uint16_t port() const { return port_; }
  std::string BaseUrl() const;  // https://127.0.0.1:PORT/fhir

  Agency agency;

 private:
  std::unique_ptr<server::Server> server_;
  std::future<void> running_;
  std::uint16_t port_ = 0;
};

}  // namespace carebridge::testing
