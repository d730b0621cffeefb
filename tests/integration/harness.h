#pragma once

// The real `carebridge` binary on a free port, with TLS and a fresh SQLite file, driven by
// libcurl: what a partner's client does.

#include <gtest/gtest.h>
#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fhir/json/json.h"

namespace carebridge::testing {

// Dev certificates made once per test binary by certs/gen-dev-certs.sh.
const std::filesystem::path& CertsDir();

// A fresh temporary folder, removed when the object goes.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct Response {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;

  std::string Header(std::string_view name) const;
  // The body parsed; a failed parse fails the calling test through an empty object.
  fhir::json::Value Json() const;
};

class GatewayProcess {
 public:
  // Starts `carebridge serve --config <data_dir>/config.json` on 127.0.0.1:0 with TLS and
  // `data_dir`. `server_extra` and `fhir_extra` are JSON members added to those config sections,
  // e.g. R"("max_body_bytes": 65536)". `config_extra` holds top-level members, e.g.
  // R"("referrals": {...})".
  explicit GatewayProcess(std::filesystem::path data_dir, std::string server_extra = {},
                          std::string fhir_extra = {}, std::string config_extra = {});
  ~GatewayProcess();
  GatewayProcess(const GatewayProcess&) = delete;
  GatewayProcess& operator=(const GatewayProcess&) = delete;

  // Gives partner `id` a push endpoint (partners[].fhir_endpoint) from the next Start on.
  void SetPartnerEndpoint(std::string id, std::string url) {
    partner_endpoints_.emplace_back(std::move(id), std::move(url));
  }
  bool Start();  // waits for /readyz; false on failure (with the log on stderr)
  int Stop();    // SIGTERM, waits; returns the exit status
  void Kill();   // SIGKILL: a crash
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  // JSON members added at the top level of the config, e.g. R"("mappings_dir": "/tmp/m")"; call
  // before Start.
  void set_config_extra(std::string members) { config_extra_ = std::move(members); }
  // Gives the EHR and agency partners their mapping profiles (mappings/partners/<id>.json), as
  // the example configuration does; call before Start.
  void set_mapping_profiles(bool on) { mapping_profiles_ = on; }
  std::string BaseUrl() const;  // https://127.0.0.1:PORT
  const std::filesystem::path& log_path() const { return log_path_; }

 private:
  std::filesystem::path data_dir_;
  std::string server_extra_;
  std::string fhir_extra_;
  std::string config_extra_;
  std::vector<std::pair<std::string, std::string>> partner_endpoints_;
  bool mapping_profiles_ = false;
  std::filesystem::path port_file_;
  std::filesystem::path log_path_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// The `aud` test gateways expect in client assertions.
inline constexpr const char* kTokenAudience = "https://carebridge.test/auth/token";

// One libcurl easy handle: keep-alive across requests, verifies the dev CA, and presents the
// client certificate of `partner` (an id of the example partner set; empty: none).
class Client {
 public:
  explicit Client(std::string base_url, std::string partner = "riverside-ehr");
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Response Request(const std::string& method, const std::string& path, const std::string& body = {},
                   const std::vector<std::string>& headers = {});
  Response Get(const std::string& path, const std::vector<std::string>& headers = {}) {
    return Request("GET", path, {}, headers);
  }
  // Sends `body` as application/fhir+json.
  Response Post(const std::string& path, const std::string& body,
                std::vector<std::string> headers = {});
  Response Put(const std::string& path, const std::string& body,
               std::vector<std::string> headers = {});
  Response Delete(const std::string& path, const std::vector<std::string>& headers = {}) {
    return Request("DELETE", path, {}, headers);
  }

 private:
  std::string base_url_;
  std::string partner_;
  void* curl_;
};

// A test suite whose tests share one gateway, started by the suite's SetUpTestSuite through
// StartGateway and stopped (gracefully, checked) after its last test.
// `method` `path` on `gateway` as `partner` (its client certificate), with `body` sent as
// application/fhir+json when there is one.
Response As(const GatewayProcess& gateway, const std::string& partner, const std::string& method,
            const std::string& path, const std::string& body = {},
            std::vector<std::string> headers = {});

class GatewaySuite : public ::testing::Test {
 protected:
  static void StartGateway(std::string server_extra = {}, std::string fhir_extra = {},
                           std::string config_extra = {});
  static Response As(const std::string& partner, const std::string& method, const std::string& path,
                     const std::string& body = {}, std::vector<std::string> headers = {}) {
    return testing::As(*gateway_, partner, method, path, body, std::move(headers));
  }
  static void TearDownTestSuite();
  static GatewayProcess& gateway() { return *gateway_; }

 private:
  static TempDir* dir_;
  static GatewayProcess* gateway_;
};

// The `total` of the searchset Bundle `client` gets at `path`, as text; "?" when there is none
// (an error response, say), which no test expects.
std::string SearchTotal(Client& client, const std::string& path);

std::string ReadFile(const std::filesystem::path& path);
// A fixture from tests/fixtures/.
std::string Fixture(const std::string& relative_path);

// Members of `value` other than meta, for comparing what was sent with what was read back.
fhir::json::Value WithoutMeta(fhir::json::Value value);

}  // namespace carebridge::testing
