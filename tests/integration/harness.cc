#include "tests/integration/harness.h"

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

namespace carebridge::testing {

namespace fs = std::filesystem;

namespace {

fs::path MakeTempDir(std::string_view prefix) {
  std::random_device random;
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path candidate =
        fs::temp_directory_path() /
        (std::string(prefix) + std::to_string(random()) + std::to_string(getpid()));
    std::error_code error;
    if (fs::create_directory(candidate, error)) {
      return candidate;
    }
  }
  std::abort();
}

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

size_t AppendHeader(char* data, size_t size, size_t count, void* user) {
  auto* headers = static_cast<std::vector<std::pair<std::string, std::string>>*>(user);
  std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    headers->clear();  // a new response (after 100 Continue, say)
  }
  std::size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    for (char& c : name) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) {
      value.remove_prefix(1);
    }
    while (!value.empty() &&
           (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
      value.remove_suffix(1);
    }
    headers->emplace_back(std::move(name), std::string(value));
  }
  return size * count;
}

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

// The example partner set of deploy/carebridge.example.json, with the test run's keys, plus a
// disabled partner.
std::string TestPartners(const fs::path& certs, bool mapping_profiles,
                         const std::vector<std::pair<std::string, std::string>>& endpoints = {}) {
  struct Spec {
    const char* id;
    const char* kind;
    const char* purposes;
    bool enabled;
  };
  const Spec specs[] = {
      {"riverside-ehr", "ehr", R"(["TREAT","HPAYMT","HOPERAT","ETREAT"])", true},
      {"lakeside-cmhc", "ehr", R"(["TREAT","HPAYMT","HOPERAT","ETREAT"])", true},
      {"harbor-housing", "agency", R"(["TREAT","HOPERAT"])", true},
      {"northside-food", "agency", R"(["TREAT"])", true},
      {"privacy-office", "privacy-officer", R"(["HOPERAT"])", true},
      {"care-coordination", "coordinator", R"(["TREAT","ETREAT"])", true},
      {"gateway-admin", "admin", R"(["HOPERAT"])", true},
      {"disabled-partner", "ehr", R"(["TREAT"])", false},
  };
  std::string out = "[";
  for (const Spec& spec : specs) {
    if (out.size() > 1) {
      out += ",";
    }
    std::string id = spec.id;
    std::string purposes = spec.purposes;
    std::string first_purpose = purposes.substr(2, purposes.find('"', 2) - 2);
    // lakeside-cmhc is kept to a low rate so that the rate limit can be tested; the others
    // never meet theirs.
    std::string rate = id == "lakeside-cmhc" ? R"("requests_per_second":5,"burst":10)"
                                             : R"("requests_per_second":1000,"burst":2000)";
    out += R"({"id":")" + id + R"(","name":")" + id + R"(","kind":")" + spec.kind +
           R"(","enabled":)" + (spec.enabled ? "true" : "false") +
           R"(,"cert_subjects":["urn:carebridge:partner:)" + id + R"("],"purposes":)" + purposes +
           R"(,"default_purpose":")" + first_purpose + R"(",)" + rate;
    if (mapping_profiles &&
        (spec.kind == std::string("ehr") || spec.kind == std::string("agency")) && spec.enabled) {
      out += R"(,"mapping_profile":")" + id + '"';
    }
    for (const auto& [partner, url] : endpoints) {
      if (partner == id) {
        out += R"(,"fhir_endpoint":")" + url + '"';
      }
    }
    fs::path key = certs / (id + ".jwt.pub");
    if (fs::exists(key)) {
      out += R"(,"jwt_public_key_file":")" + key.string() + '"';
    }
    out += "}";
  }
  return out + "]";
}

}  // namespace

const fs::path& CertsDir() {
  static const fs::path dir = [] {
    // ctest issues them once per run (the certs_issue fixture); a lone run makes its own.
    if (const char* issued = std::getenv("CAREBRIDGE_TEST_CERTS");
        issued != nullptr && fs::exists(fs::path(issued) / "ca.crt")) {
      return fs::path(issued);
    }
    fs::path path = MakeTempDir("carebridge-certs-");
    std::string command = std::string("bash '") + CAREBRIDGE_SOURCE_DIR +
                          "/certs/gen-dev-certs.sh' '" + path.string() +
                          "' --test-extras >/dev/null 2>&1";
    if (std::system(command.c_str()) != 0) {
      std::cerr << "certs/gen-dev-certs.sh failed\n";
      std::abort();
    }
    return path;
  }();
  return dir;
}

TempDir::TempDir() : path_(MakeTempDir("carebridge-test-")) {}

TempDir::~TempDir() {
  std::error_code error;
  fs::remove_all(path_, error);
}

std::string Response::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) {
      return value;
    }
  }
  return {};
}

fhir::json::Value Response::Json() const {
  std::string message;
  auto parsed = fhir::json::Parse(body, fhir::json::Limits{}, message);
  if (!parsed) {
    ADD_FAILURE() << "response body is not JSON (" << message << "): " << body.substr(0, 300);
    return fhir::json::Value::Object();
  }
  return std::move(*parsed);
}

GatewayProcess::GatewayProcess(fs::path data_dir, std::string server_extra, std::string fhir_extra,
                               std::string config_extra)
    : data_dir_(std::move(data_dir)),
      server_extra_(std::move(server_extra)),
      fhir_extra_(std::move(fhir_extra)),
      config_extra_(std::move(config_extra)),
      port_file_(data_dir_ / "port"),
      log_path_(data_dir_ / "carebridge.log") {}

GatewayProcess::~GatewayProcess() {
  if (pid_ > 0) {
    Kill();
  }
}

bool GatewayProcess::Start() {
  fs::create_directories(data_dir_);
  fs::remove(port_file_);
  const fs::path& certs = CertsDir();
  fs::path config = data_dir_ / "config.json";
  {
    std::ofstream out(config);
    out << R"({"server":{"cert":")" << (certs / "server.crt").string() << R"(","key":")"
        << (certs / "server.key").string() << R"(","client_ca":")" << (certs / "ca.crt").string()
        << '"' << (server_extra_.empty() ? "" : ",") << server_extra_ << R"(},"fhir":{)"
        << fhir_extra_ << R"(},"token_audience":")" << kTokenAudience << R"(","partners":)"
        << TestPartners(certs, mapping_profiles_, partner_endpoints_)
        << (config_extra_.empty() ? "" : ",") << config_extra_ << "}";
  }
  std::vector<std::string> args = {
      CAREBRIDGE_BINARY, "serve",      "--config",         config.string(), "--listen",
      "127.0.0.1:0",     "--data-dir", data_dir_.string(), "--port-file",   port_file_.string()};
  pid_ = fork();
  if (pid_ == 0) {
    // A test that crashes must not leave its gateway running.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    std::FILE* log = std::fopen(log_path_.c_str(), "a");
    if (log != nullptr) {
      dup2(fileno(log), STDOUT_FILENO);
      dup2(fileno(log), STDERR_FILENO);
    }
    // Nothing else of the parent: a listening socket of a test's agency, say, would otherwise
    // stay open in the gateway after the agency closed it, and hold its port.
    close_range(3, ~0U, 0);
    std::vector<char*> argv;
    for (auto& arg : args) {
      argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      std::cerr << "carebridge exited at start-up:\n" << ReadFile(log_path_);
      return false;
    }
    std::ifstream in(port_file_);
    int port = 0;
    if (in >> port && port > 0) {
      port_ = port;
      Client probe(BaseUrl());
      if (probe.Get("/readyz").status == 200) {
        return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::cerr << "carebridge did not become ready:\n" << ReadFile(log_path_);
  Kill();
  return false;
}

int GatewayProcess::Stop() {
  if (pid_ <= 0) {
    return -1;
  }
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void GatewayProcess::Kill() {
  if (pid_ <= 0) {
    return;
  }
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string GatewayProcess::BaseUrl() const { return "https://127.0.0.1:" + std::to_string(port_); }

Client::Client(std::string base_url, std::string partner)
    : base_url_(std::move(base_url)), partner_(std::move(partner)) {
  static CurlGlobal global;
  curl_ = curl_easy_init();
}

Client::~Client() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

Response Client::Request(const std::string& method, const std::string& path,
                         const std::string& body, const std::vector<std::string>& headers) {
  CURL* curl = static_cast<CURL*>(curl_);
  curl_easy_reset(curl);
  Response response;
  std::string url = base_url_ + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CAINFO, (CertsDir() / "ca.crt").c_str());
  std::string cert = (CertsDir() / (partner_ + ".crt")).string();
  std::string key = (CertsDir() / (partner_ + ".key")).string();
  if (!partner_.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, cert.c_str());
    curl_easy_setopt(curl, CURLOPT_SSLKEY, key.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  // Send paths as written: the tests probe "..", "%2e%2e" and friends on purpose.
  curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
  if (method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  }
  if (!body.empty() || method == "POST" || method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_slist* list = nullptr;
  bool has_expect = false;
  for (const auto& header : headers) {
    list = curl_slist_append(list, header.c_str());
    has_expect = has_expect || header.starts_with("Expect:");
  }
  if (!has_expect) {
    list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, AppendHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(list);
  if (code != CURLE_OK) {
    response.status = -static_cast<long>(code);
    response.body = curl_easy_strerror(code);
    return response;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

Response Client::Post(const std::string& path, const std::string& body,
                      std::vector<std::string> headers) {
  headers.emplace_back("Content-Type: application/fhir+json");
  return Request("POST", path, body, headers);
}

Response Client::Put(const std::string& path, const std::string& body,
                     std::vector<std::string> headers) {
  headers.emplace_back("Content-Type: application/fhir+json");
  return Request("PUT", path, body, headers);
}

TempDir* GatewaySuite::dir_ = nullptr;
GatewayProcess* GatewaySuite::gateway_ = nullptr;

void GatewaySuite::StartGateway(std::string server_extra, std::string fhir_extra,
                                std::string config_extra) {
  dir_ = new TempDir();
  gateway_ = new GatewayProcess(dir_->path() / "data", std::move(server_extra),
                                std::move(fhir_extra), std::move(config_extra));
  ASSERT_TRUE(gateway_->Start());
}

void GatewaySuite::TearDownTestSuite() {
  if (gateway_ != nullptr) {
    EXPECT_EQ(gateway_->Stop(), 0);
  }
  delete gateway_;
  delete dir_;
  gateway_ = nullptr;
  dir_ = nullptr;
}

Response As(const GatewayProcess& gateway, const std::string& partner, const std::string& method,
            const std::string& path, const std::string& body, std::vector<std::string> headers) {
  Client client(gateway.BaseUrl(), partner);
  if (!body.empty()) {
    headers.emplace_back("Content-Type: application/fhir+json");
  }
  return client.Request(method, path, body, headers);
}

std::string SearchTotal(Client& client, const std::string& path) {
  Response response = client.Get(path);
  EXPECT_EQ(response.status, 200) << path << " -> " << response.body;
  fhir::json::Value bundle = response.Json();
  const fhir::json::Value* total = bundle.Find("total");
  return total == nullptr ? "?" : total->text();
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Fixture(const std::string& relative_path) {
  return ReadFile(fs::path(CAREBRIDGE_SOURCE_DIR) / "tests" / "fixtures" / relative_path);
}

fhir::json::Value WithoutMeta(fhir::json::Value value) {
  value.Remove("meta");
  return value;
}

}  // namespace carebridge::testing
