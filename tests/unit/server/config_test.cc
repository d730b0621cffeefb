#include "gateway/config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace carebridge::config {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("carebridge-config-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "etc");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string Write(const std::string& text) {
    const fs::path path = dir_ / "etc" / "carebridge.json";
    std::ofstream(path) << text;
    return path.string();
  }

  // Loads `text`, expecting failure; returns the message.
  std::string LoadError(const std::string& text) {
    std::string message;
    auto config = LoadConfig(Write(text), message);
    EXPECT_FALSE(config) << text;
    return message;
  }

  fs::path dir_;
};

TEST_F(ConfigTest, FullFile) {
  std::string message;
  auto config = LoadConfig(Write(R"({
    "server": {"listen": "0.0.0.0:9443", "tls": true, "cert": "../certs/server.crt",
               "key": "/abs/server.key", "client_ca": "ca.crt", "io_threads": 3,
               "max_header_bytes": 8192, "max_body_bytes": 1048576, "header_timeout_s": 5,
               "body_timeout_s": 6, "write_timeout_s": 7, "idle_timeout_s": 8,
               "max_connections": 99, "port_file": "port", "crl": "ca.crl",
               "revoked_fingerprints": ["AB:CD:EF:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89",
                                        "0000000000000000000000000000000000000000000000000000000000000000"],
               "max_connections_per_client": 5},
    "store": {"data_dir": "../var/data", "read_connections": 2},
    "fhir": {"base_url": "https://fhir.example.org/fhir/", "max_json_depth": 32,
             "max_string_bytes": 1000, "max_bundle_entries": 50, "default_count": 10,
             "max_count": 100},
    "blocking_threads": 6,
    "log_level": "debug",
    "partners": [{"id": "p1", "anything": ["is kept for auth to check"]}],
    "token_lifetime_s": 120
  })"),
                           message);
  ASSERT_TRUE(config) << message;
  const ServerConfig& s = config->server;
  EXPECT_EQ(s.listen_host, "0.0.0.0");
  EXPECT_EQ(s.listen_port, 9443);
  EXPECT_TRUE(s.tls);
  EXPECT_EQ(s.tls_cert_file, (dir_ / "certs" / "server.crt").string());
  EXPECT_EQ(s.tls_key_file, "/abs/server.key");
  EXPECT_EQ(s.client_ca_file, (dir_ / "etc" / "ca.crt").string());
  EXPECT_EQ(s.port_file, (dir_ / "etc" / "port").string());
  EXPECT_EQ(s.io_threads, 3);
  EXPECT_EQ(s.max_header_bytes, 8192u);
  EXPECT_EQ(s.max_body_bytes, 1048576u);
  EXPECT_EQ(s.header_timeout, std::chrono::seconds(5));
  EXPECT_EQ(s.body_timeout, std::chrono::seconds(6));
  EXPECT_EQ(s.write_timeout, std::chrono::seconds(7));
  EXPECT_EQ(s.idle_timeout, std::chrono::seconds(8));
  EXPECT_EQ(s.max_connections, 99);
  EXPECT_EQ(s.max_connections_per_client, 5);
  EXPECT_EQ(s.crl_file, (dir_ / "etc" / "ca.crl").string());
  EXPECT_EQ(s.revoked_fingerprints,
            (std::vector<std::string>{
                "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
                "0000000000000000000000000000000000000000000000000000000000000000"}));
  EXPECT_EQ(config->store.data_dir, (dir_ / "var" / "data").string());
  EXPECT_EQ(config->store.read_connections, 2);
  EXPECT_EQ(config->fhir.base_url, "https://fhir.example.org/fhir");
  EXPECT_EQ(config->fhir.json.max_depth, 32u);
  EXPECT_EQ(config->fhir.json.max_string_bytes, 1000u);
  EXPECT_EQ(config->fhir.bundle.max_entries, 50u);
  EXPECT_EQ(config->fhir.search.default_count, 10);
  EXPECT_EQ(config->fhir.search.max_count, 100);
  EXPECT_EQ(config->blocking_threads, 6);
  EXPECT_EQ(config->log_level, "debug");
  EXPECT_EQ(config->token_lifetime, std::chrono::seconds(120));
  ASSERT_TRUE(config->partners.is_array());
  ASSERT_EQ(config->partners.items().size(), 1u);
  EXPECT_EQ(config->partners.items()[0].StringAt("id"), "p1");
  EXPECT_EQ(config->config_dir, (dir_ / "etc").string());
}

TEST_F(ConfigTest, ConfigDirIsAbsoluteForARelativePath) {
  const std::string absolute = Write("{}");
  const fs::path previous = fs::current_path();
  fs::current_path(dir_);
  std::string message;
  auto config = LoadConfig("etc/carebridge.json", message);
  fs::current_path(previous);
  ASSERT_TRUE(config) << message;
  EXPECT_EQ(config->config_dir, fs::path(absolute).parent_path().string());
  EXPECT_TRUE(fs::path(config->config_dir).is_absolute());
}

TEST_F(ConfigTest, AuthFieldsAreChecked) {
  EXPECT_NE(LoadError(R"({"partners": {}})").find("partners: expected an array"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"token_lifetime_s": 0})").find("token_lifetime_s"), std::string::npos);
  EXPECT_NE(LoadError(R"({"token_lifetime_s": 3601})").find("token_lifetime_s"), std::string::npos);
  EXPECT_NE(LoadError(R"({"server": {"revoked_fingerprints": "ab"}})")
                .find("server.revoked_fingerprints"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"server": {"revoked_fingerprints": ["abcd"]}})")
                .find("server.revoked_fingerprints[0]: expected a SHA-256 fingerprint"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"server": {"revoked_fingerprints": [7]}})")
                .find("server.revoked_fingerprints[0]"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"server": {"max_connections_per_client": 0}})")
                .find("server.max_connections_per_client"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"server": {"crl": 1}})").find("server.crl"), std::string::npos);
  EXPECT_NE(LoadError(R"({"partner": []})").find("partner: unknown key"), std::string::npos);
}

TEST_F(ConfigTest, EmptyObjectGivesDefaults) {
  std::string message;
  auto config = LoadConfig(Write("{}"), message);
  ASSERT_TRUE(config) << message;
  Config defaults;
  EXPECT_EQ(config->server.listen_host, defaults.server.listen_host);
  EXPECT_EQ(config->server.listen_port, defaults.server.listen_port);
  EXPECT_EQ(config->server.max_body_bytes, defaults.server.max_body_bytes);
  EXPECT_EQ(config->store.data_dir, defaults.store.data_dir);
  EXPECT_EQ(config->blocking_threads, defaults.blocking_threads);
  EXPECT_TRUE(config->server.crl_file.empty());
  EXPECT_TRUE(config->server.revoked_fingerprints.empty());
  EXPECT_EQ(config->server.max_connections_per_client, defaults.server.max_connections_per_client);
  EXPECT_TRUE(config->partners.is_array());
  EXPECT_TRUE(config->partners.items().empty());
  EXPECT_EQ(config->token_lifetime, defaults.token_lifetime);
}

TEST_F(ConfigTest, Ipv6ListenAddress) {
  std::string message;
  auto config = LoadConfig(Write(R"({"server": {"listen": "[::1]:0"}})"), message);
  ASSERT_TRUE(config) << message;
  EXPECT_EQ(config->server.listen_host, "::1");
  EXPECT_EQ(config->server.listen_port, 0);
}

TEST_F(ConfigTest, UnknownKeysNameTheirPath) {
  EXPECT_NE(LoadError(R"({"server": {"listen_port": 1}})").find("server.listen_port: unknown key"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"fhir": {"max_depth": 1}})").find("fhir.max_depth"), std::string::npos);
  EXPECT_NE(LoadError(R"({"sever": {}})").find("sever: unknown key"), std::string::npos);
}

TEST_F(ConfigTest, WrongTypesAreErrors) {
  EXPECT_NE(LoadError(R"({"server": {"tls": "yes"}})").find("server.tls"), std::string::npos);
  EXPECT_NE(LoadError(R"({"server": {"io_threads": "2"}})").find("server.io_threads"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"server": {"io_threads": 2.5}})").find("server.io_threads"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"server": {"cert": 1}})").find("server.cert"), std::string::npos);
  EXPECT_NE(LoadError(R"({"server": []})").find("server: expected an object"), std::string::npos);
  EXPECT_NE(LoadError(R"([])").find("expected an object"), std::string::npos);
}

TEST_F(ConfigTest, OutOfRangeValuesAreErrors) {
  EXPECT_NE(LoadError(R"({"server": {"io_threads": 0}})").find("server.io_threads"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"server": {"max_connections": -1}})").find("server.max_connections"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"server": {"header_timeout_s": 0}})").find("server.header_timeout_s"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"server": {"max_body_bytes": 99999999999999999999999}})")
                .find("server.max_body_bytes"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"fhir": {"default_count": 50, "max_count": 10}})").find("default_count"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"log_level": "loud"})").find("log_level"), std::string::npos);
}

TEST_F(ConfigTest, BadListenAddresses) {
  for (const char* listen : {"8443", "host:", ":80", "::1:80", "host:65536", "host:8x"}) {
    EXPECT_NE(LoadError(std::string(R"({"server": {"listen": ")") + listen + "\"}}")
                  .find("server.listen"),
              std::string::npos)
        << listen;
  }
}

TEST_F(ConfigTest, SyntaxErrorAndMissingFile) {
  EXPECT_NE(LoadError(R"({"server": )").find("not valid JSON"), std::string::npos);
  std::string message;
  auto config = LoadConfig((dir_ / "missing.json").string(), message);
  ASSERT_FALSE(config);
  EXPECT_NE(message.find("missing.json"), std::string::npos) << message;
}

TEST_F(ConfigTest, ExampleConfigLoads) {
  std::string message;
  auto config =
      LoadConfig(std::string(CAREBRIDGE_SOURCE_DIR) + "/deploy/carebridge.example.json", message);
  ASSERT_TRUE(config) << message;
  EXPECT_EQ(config->server.listen_port, 8443);
  EXPECT_TRUE(config->server.tls);
  const fs::path root = fs::path(CAREBRIDGE_SOURCE_DIR).lexically_normal();
  EXPECT_EQ(config->server.tls_cert_file, (root / "var" / "certs" / "server.crt").string());
  EXPECT_EQ(config->server.client_ca_file, (root / "var" / "certs" / "ca.crt").string());
  EXPECT_EQ(config->store.data_dir, (root / "var" / "data").string());
  EXPECT_EQ(config->config_dir, (root / "deploy").string());
  // The example partner set (validated in tests/unit/auth against generated keys).
  ASSERT_TRUE(config->partners.is_array());
  EXPECT_EQ(config->partners.items().size(), 7u);  // six partners and the admin
  // The example routes (validated and routed in tests/unit/referral).
  ASSERT_TRUE(config->referrals.routes.is_array());
  EXPECT_EQ(config->referrals.routes.items().size(), 2u);
  EXPECT_EQ(config->referrals.ca_file, (root / "var" / "certs" / "ca.crt").string());
}

TEST_F(ConfigTest, Referrals) {
  std::string message;
  auto config = LoadConfig(Write(R"({"referrals": {
    "routes": [{"agency": "a", "anything": "is kept for gateway/referral to check"}],
    "purpose": "HOPERAT",
    "delivery": {"max_attempts": 3, "initial_backoff_ms": 10, "max_backoff_ms": 20,
                 "poll_interval_ms": 50, "per_destination": 2, "per_agency": {"big": 8},
                 "probe_interval_ms": 30, "max_probe_interval_ms": 900, "connect_timeout_ms": 100,
                 "total_timeout_ms": 200, "lease_ms": 5000, "client_cert": "gw.crt",
                 "client_key": "gw.key",
                 "ca": "/abs/ca.crt"},
    "sla": {"ack_business_days": 3, "first_contact_days": 5, "linkage_days": 6,
            "contacts_per_week": 2, "intensive_days": 14, "utc_offset_minutes": -300,
            "alert_interval_ms": 1000, "alert_webhook": "https://coord.example/hook"}}})"),
                           message);
  ASSERT_TRUE(config) << message;
  const ReferralsConfig& r = config->referrals;
  EXPECT_EQ(r.routes.items().size(), 1u);
  EXPECT_EQ(r.purpose, "HOPERAT");
  EXPECT_EQ(r.max_attempts, 3);
  EXPECT_EQ(r.initial_backoff, std::chrono::milliseconds(10));
  EXPECT_EQ(r.max_backoff, std::chrono::milliseconds(20));
  EXPECT_EQ(r.poll_interval, std::chrono::milliseconds(50));
  EXPECT_EQ(r.per_destination, 2);
  EXPECT_EQ(r.per_agency, (std::vector<std::pair<std::string, int>>{{"big", 8}}));
  EXPECT_EQ(r.probe_interval, std::chrono::milliseconds(30));
  EXPECT_EQ(r.max_probe_interval, std::chrono::milliseconds(900));
  EXPECT_EQ(r.connect_timeout, std::chrono::milliseconds(100));
  EXPECT_EQ(r.total_timeout, std::chrono::milliseconds(200));
  EXPECT_EQ(r.lease, std::chrono::milliseconds(5000));
  EXPECT_EQ(r.client_cert_file, (dir_ / "etc" / "gw.crt").string());
  EXPECT_EQ(r.client_key_file, (dir_ / "etc" / "gw.key").string());
  EXPECT_EQ(r.ca_file, "/abs/ca.crt");
  EXPECT_EQ(r.ack_business_days, 3);
  EXPECT_EQ(r.first_contact_days, 5);
  EXPECT_EQ(r.linkage_days, 6);
  EXPECT_EQ(r.contacts_per_week, 2);
  EXPECT_EQ(r.intensive_days, 14);
  EXPECT_EQ(r.utc_offset_minutes, -300);
  EXPECT_EQ(r.alert_interval, std::chrono::milliseconds(1000));
  EXPECT_EQ(r.alert_webhook, "https://coord.example/hook");

  EXPECT_NE(LoadError(R"({"referrals": {"delivery": {"per_agency": {"big": 0}}}})")
                .find("referrals.delivery.per_agency.big"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"referrals": {"delivery": {"probe_interval_ms": 9000}}})")
                .find("referrals.delivery.probe_interval_ms"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"referrals": {"routes": {}}})")
                .find("referrals.routes: expected an array of routing rules"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"referrals": {"delivery": {"retries": 3}}})")
                .find("referrals.delivery.retries: unknown key"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"referrals": {"delivery": {"initial_backoff_ms": 5000,
                                                       "max_backoff_ms": 10}}})")
                .find("must not exceed max_backoff_ms"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"referrals": {"delivery": {"client_cert": "x.crt"}}})")
                .find("client_cert and client_key go together"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"referrals": {"sla": {"contacts_per_week": -1}}})")
                .find("referrals.sla.contacts_per_week"),
            std::string::npos);
}

}  // namespace
}  // namespace carebridge::config
