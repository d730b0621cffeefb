#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fhir/base/result.h"
#include "fhir/bundle/bundle.h"
#include "fhir/json/limits.h"
#include "fhir/json/value.h"
#include "fhir/search/search.h"

namespace carebridge::config {

struct ServerConfig {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8443;  // 0: pick a free port (tests)
  bool tls = true;
  std::string tls_cert_file;   // PEM server certificate chain
  std::string tls_key_file;    // PEM private key
  std::string client_ca_file;  // PEM CA bundle that partner client certificates must chain to
  std::string crl_file;        // PEM CRL(s) of that CA, checked at the handshake; empty: none
  // Certificates refused at the handshake whatever their chain says (SHA-256, lower-case hex).
  std::vector<std::string> revoked_fingerprints;
  int io_threads = 2;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 8 * 1024 * 1024;
  std::chrono::seconds header_timeout{10};  // to receive a request's headers
  std::chrono::seconds body_timeout{30};    // to receive its body
  std::chrono::seconds write_timeout{30};
  std::chrono::seconds idle_timeout{60};  // keep-alive wait for the next request
  int max_connections = 1024;
  // Per client identity: the certificate fingerprint, or the remote IP without a certificate.
  int max_connections_per_client = 64;
  // Written once the listener is bound, with the actual port (for tests using port 0).
  std::string port_file;
};

struct StoreConfig {
  std::string data_dir = "var/data";  // the SQLite file is <data_dir>/carebridge.db
  int read_connections = 4;
};

struct FhirConfig {
  // Public base URL used in Location headers, fullUrls and paging links; empty: derived from the
  // request's Host header and the listener's scheme.
  std::string base_url;
  fhir::json::Limits json;
  fhir::SearchLimits search;
  fhir::BundleLimits bundle;
};

// E-referrals (gateway/referral, gateway/delivery). Agencies' push endpoints are the partners'
// fhir_endpoint; an agency without one polls.
struct ReferralsConfig {
  // Routing rules, kept as JSON so that config does not depend on gateway/referral, which
  // validates them (referral::RoutingTable::FromJson). Empty: the gateway routes nothing.
  fhir::json::Value routes = fhir::json::Value::Array();
  std::string purpose = "TREAT";  // purpose of use of a referral disclosure (consent)
  // Delivery to agencies. The retry budget outlasts an agency outage of a day: 400 attempts,
  // backoff 2 s doubling to 5 minutes, cover at least 26 hours even at the lowest jitter, so
  // only a permanent refusal (4xx other than 408/429) dead-letters a referral within that time.
  // Recovery is noticed sooner than the backoff: by the probe (no answer) or the first success.
  int max_attempts = 400;
  std::chrono::milliseconds initial_backoff{2000};
  std::chrono::milliseconds max_backoff{300'000};  // how long an agency may stay unprobed
  std::chrono::milliseconds poll_interval{1000};
  int per_destination = 4;                              // deliveries in flight per agency
  std::vector<std::pair<std::string, int>> per_agency;  // agency id -> its own per_destination
  // An agency that does not answer at all is probed (GET [base]/metadata) after probe_interval,
  // doubling up to max_probe_interval; its first answer makes its backlog due at once.
  std::chrono::milliseconds probe_interval{500};
  std::chrono::milliseconds max_probe_interval{5000};
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds total_timeout{30'000};
  // How long a claimed delivery is held before it counts as abandoned (a crash mid-send) and is
  // tried again; 0: twice the total timeout, at least a minute.
  std::chrono::milliseconds lease{0};
  std::string client_cert_file;  // the gateway's client certificate for agencies (PEM)
  std::string client_key_file;
  std::string ca_file;  // CA bundle for agencies' server certificates; empty: the system's
  // SLA timers (care-coordination practice standards).
  int ack_business_days = 2;
  int first_contact_days = 7;
  int linkage_days = 7;
  int contacts_per_week = 3;
  int intensive_days = 30;
  int utc_offset_minutes = 0;
  // SLA alerts (delivery/sla_alerter.h): evaluated every alert_interval (0: never), each one
  // POSTed as a Communication to alert_webhook when set.
  std::chrono::milliseconds alert_interval{60'000};
  std::string alert_webhook;
};

// Release-of-information policy (gateway/consent turns it into consent::Policy). Plain data so
// that config does not depend on the consent engine.
struct ConsentConfig {
  std::string default_policy = "opt-in";  // "opt-in" (deny without consent) or "opt-out"
  std::string combining = "deny-wins";    // or "most-recent-wins"
  std::vector<std::string> opt_out_purposes = {"TREAT"};
  // Codes that mark data as substance-use-disorder (42 CFR Part 2) information, added to the
  // engine's built-in list: {"system", "code", "prefix": true|false}.
  struct Code {
    std::string system;
    std::string code;
    bool prefix = false;
  };
  std::vector<Code> sud_codes;
};

struct Config {
  ServerConfig server;
  StoreConfig store;
  FhirConfig fhir;
  ConsentConfig consent;
  int blocking_threads = 4;  // thread pool for SQLite and file I/O
  std::string log_level = "info";
  // The partner registry as configured ("partners": [...]), kept as JSON so that config does not
  // depend on gateway/auth, which validates it (auth::PartnerRegistry::FromJson).
  fhir::json::Value partners = fhir::json::Value::Array();
  ReferralsConfig referrals;
  std::chrono::seconds token_lifetime{300};  // access tokens issued at /auth/token
  // The `aud` client assertions must carry: the token endpoint's public URL. Empty: derived from
  // fhir.base_url, else from the listen address.
  std::string token_audience;
  // The folder of the config file: relative paths in `partners` resolve against it.
  std::string config_dir;
  // The mapping data (conceptmaps/, partners/, questionnaires/): "mappings_dir", relative to the
  // config file. Empty: the gateway's built-in default (the source tree's mappings/).
  std::string mappings_dir;
};

// Reads a JSON config file; unknown keys are errors (a typo must not silently fall back to a
// default). Relative file paths in it are resolved against the file's folder.
Result<Config> LoadConfig(const std::string& path, std::string& message);

// Parses "HOST:PORT" ("[::1]:PORT" for IPv6; PORT 0-65535) as used by server.listen and the
// --listen flag. Returns false, leaving the outputs alone, when `text` is not of that form.
bool ParseListenAddress(std::string_view text, std::string& host, std::uint16_t& port);

}  // namespace carebridge::config
