#include "gateway/config/config.h"

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "fhir/json/json.h"

namespace carebridge::config {
namespace {

namespace fs = std::filesystem;
using fhir::json::Kind;
using fhir::json::Value;

// Walks one config file, reporting the first problem with the key path at fault.
class Reader {
 public:
  explicit Reader(fs::path folder) : folder_(std::move(folder)) {}

  const std::string& error() const { return error_; }
  bool failed() const { return !error_.empty(); }

  void Fail(const std::string& path, const std::string& what) {
    if (error_.empty()) {
      error_ = path + ": " + what;
    }
  }

  // Calls `field(key, value, path)` for every member of the object at `path`; `field` returns
  // false for keys it does not know.
  void Object(
      const Value& value, const std::string& path,
      const std::function<bool(std::string_view, const Value&, const std::string&)>& field) {
    if (!value.is_object()) {
      Fail(path.empty() ? "the document" : path, "expected an object");
      return;
    }
    for (const auto& member : value.members()) {
      const std::string member_path = path.empty() ? member.key : path + "." + member.key;
      if (!field(member.key, member.value, member_path)) {
        Fail(member_path, "unknown key");
      }
      if (failed()) {
        return;
      }
    }
  }

  void String(const Value& value, const std::string& path, std::string& out) {
    if (!value.is_string()) {
      Fail(path, "expected a string");
      return;
    }
    out = value.text();
  }

  // A file or folder path; relative paths are taken from the config file's folder.
  void Path(const Value& value, const std::string& path, std::string& out) {
    std::string text;
    String(value, path, text);
    if (failed()) {
      return;
    }
    if (text.empty()) {
      out.clear();
      return;
    }
    fs::path p(text);
    out = (p.is_absolute() ? p : (folder_ / p)).lexically_normal().string();
  }

  void Bool(const Value& value, const std::string& path, bool& out) {
    if (!value.is_bool()) {
      Fail(path, "expected true or false");
      return;
    }
    out = value.as_bool();
  }

  // An integer in [min, max].
  template <typename T>
  void Integer(const Value& value, const std::string& path, T& out, long long min,
               long long max = std::numeric_limits<long long>::max()) {
    if (!value.is_number()) {
      Fail(path, "expected an integer");
      return;
    }
    const std::string& text = value.text();
    long long parsed = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
    if (ec == std::errc::result_out_of_range) {
      Fail(path, "integer " + text + " is out of range");
      return;
    }
    if (ec != std::errc() || end != text.data() + text.size()) {
      Fail(path, "expected an integer, got " + text);
      return;
    }
    const long long type_max = static_cast<long long>(std::min<unsigned long long>(
        static_cast<unsigned long long>(std::numeric_limits<T>::max()),
        static_cast<unsigned long long>(std::numeric_limits<long long>::max())));
    max = std::min(max, type_max);
    if (parsed < min || parsed > max) {
      Fail(path, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                     ", got " + text);
      return;
    }
    out = static_cast<T>(parsed);
  }

  void Seconds(const Value& value, const std::string& path, std::chrono::seconds& out) {
    long long seconds = 0;
    Integer(value, path, seconds, 1, 24LL * 3600);
    if (!failed()) {
      out = std::chrono::seconds(seconds);
    }
  }

  // SHA-256 fingerprints as `openssl x509 -fingerprint` prints them or as bare hex; stored
  // lower-case without separators, the form the handshake compares against.
  void Fingerprints(const Value& value, const std::string& path, std::vector<std::string>& out) {
    if (!value.is_array()) {
      Fail(path, "expected an array of SHA-256 fingerprints");
      return;
    }
    out.clear();
    for (std::size_t i = 0; i < value.items().size(); ++i) {
      const Value& item = value.items()[i];
      const std::string item_path = path + "[" + std::to_string(i) + "]";
      std::string hex;
      bool ok = item.is_string();
      for (char c : item.text()) {
        if (c == ':') {
          continue;
        }
        if (!std::isxdigit(static_cast<unsigned char>(c))) {
          ok = false;
          break;
        }
        hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      if (!ok || hex.size() != 64) {
        Fail(item_path, "expected a SHA-256 fingerprint (64 hex digits, ':' separators allowed)");
        return;
      }
      out.push_back(std::move(hex));
    }
  }

  void Listen(const Value& value, const std::string& path, ServerConfig& server) {
    std::string text;
    String(value, path, text);
    if (failed()) {
      return;
    }
    std::string host;
    std::uint16_t port = 0;
    if (!ParseListenAddress(text, host, port)) {
      Fail(path, "expected HOST:PORT (IPv6 as [::1]:PORT), got \"" + text + "\"");
      return;
    }
    server.listen_host = std::move(host);
    server.listen_port = port;
  }

 private:
  fs::path folder_;
  std::string error_;
};

void ReadServer(Reader& r, const Value& value, ServerConfig& s) {
  r.Object(value, "server", [&](std::string_view key, const Value& v, const std::string& path) {
    if (key == "listen") {
      r.Listen(v, path, s);
    } else if (key == "tls") {
      r.Bool(v, path, s.tls);
    } else if (key == "cert") {
      r.Path(v, path, s.tls_cert_file);
    } else if (key == "key") {
      r.Path(v, path, s.tls_key_file);
    } else if (key == "client_ca") {
      r.Path(v, path, s.client_ca_file);
    } else if (key == "io_threads") {
      r.Integer(v, path, s.io_threads, 1, 256);
    } else if (key == "max_header_bytes") {
      r.Integer(v, path, s.max_header_bytes, 1024, 1 << 20);
    } else if (key == "max_body_bytes") {
      r.Integer(v, path, s.max_body_bytes, 1024);
    } else if (key == "header_timeout_s") {
      r.Seconds(v, path, s.header_timeout);
    } else if (key == "body_timeout_s") {
      r.Seconds(v, path, s.body_timeout);
    } else if (key == "write_timeout_s") {
      r.Seconds(v, path, s.write_timeout);
    } else if (key == "idle_timeout_s") {
      r.Seconds(v, path, s.idle_timeout);
    } else if (key == "max_connections") {
      r.Integer(v, path, s.max_connections, 1);
    } else if (key == "port_file") {
      r.Path(v, path, s.port_file);
    } else if (key == "crl") {
      r.Path(v, path, s.crl_file);
    } else if (key == "revoked_fingerprints") {
      r.Fingerprints(v, path, s.revoked_fingerprints);
    } else if (key == "max_connections_per_client") {
      r.Integer(v, path, s.max_connections_per_client, 1);
    } else {
      return false;
    }
    return true;
  });
}

void ReadStore(Reader& r, const Value& value, StoreConfig& s) {
  r.Object(value, "store", [&](std::string_view key, const Value& v, const std::string& path) {
    if (key == "data_dir") {
      r.Path(v, path, s.data_dir);
      if (!r.failed() && s.data_dir.empty()) {
        r.Fail(path, "must not be empty");
      }
    } else if (key == "read_connections") {
      r.Integer(v, path, s.read_connections, 1, 256);
    } else {
      return false;
    }
    return true;
  });
}

void ReadStrings(Reader& r, const Value& value, const std::string& path,
                 std::vector<std::string>& out) {
  if (!value.is_array()) {
    r.Fail(path, "expected an array of strings");
    return;
  }
  out.clear();
  for (const auto& item : value.items()) {
    std::string text;
    r.String(item, path + "[" + std::to_string(out.size()) + "]", text);
    if (r.failed()) {
      return;
    }
    out.push_back(std::move(text));
  }
}

void ReadConsent(Reader& r, const Value& value, ConsentConfig& c) {
  r.Object(value, "consent", [&](std::string_view key, const Value& v, const std::string& path) {
    if (key == "default_policy") {
      r.String(v, path, c.default_policy);
      if (!r.failed() && c.default_policy != "opt-in" && c.default_policy != "opt-out") {
        r.Fail(path, "expected opt-in or opt-out");
      }
    } else if (key == "combining") {
      r.String(v, path, c.combining);
      if (!r.failed() && c.combining != "deny-wins" && c.combining != "most-recent-wins") {
        r.Fail(path, "expected deny-wins or most-recent-wins");
      }
    } else if (key == "opt_out_purposes") {
      ReadStrings(r, v, path, c.opt_out_purposes);
    } else if (key == "sud_codes") {
      if (!v.is_array()) {
        r.Fail(path, "expected an array of {system, code, prefix}");
        return true;
      }
      for (const auto& item : v.items()) {
        const std::string item_path = path + "[" + std::to_string(c.sud_codes.size()) + "]";
        ConsentConfig::Code code;
        r.Object(item, item_path, [&](std::string_view k, const Value& iv, const std::string& ip) {
          if (k == "system") {
            r.String(iv, ip, code.system);
          } else if (k == "code") {
            r.String(iv, ip, code.code);
          } else if (k == "prefix") {
            r.Bool(iv, ip, code.prefix);
          } else {
            return false;
          }
          return true;
        });
        if (!r.failed() && (code.system.empty() || code.code.empty())) {
          r.Fail(item_path, "system and code are required");
        }
        if (r.failed()) {
          return true;
        }
        c.sud_codes.push_back(std::move(code));
      }
    } else {
      return false;
    }
    return true;
  });
}

void ReadFhir(Reader& r, const Value& value, FhirConfig& f) {
  r.Object(value, "fhir", [&](std::string_view key, const Value& v, const std::string& path) {
    if (key == "base_url") {
      r.String(v, path, f.base_url);
      while (!f.base_url.empty() && f.base_url.back() == '/') {
        f.base_url.pop_back();
      }
    } else if (key == "max_json_depth") {
      r.Integer(v, path, f.json.max_depth, 8, 10'000);
    } else if (key == "max_string_bytes") {
      r.Integer(v, path, f.json.max_string_bytes, 1);
    } else if (key == "max_array_items") {
      r.Integer(v, path, f.json.max_array_items, 1);
    } else if (key == "max_object_members") {
      r.Integer(v, path, f.json.max_object_members, 1);
    } else if (key == "max_total_values") {
      r.Integer(v, path, f.json.max_total_values, 1);
    } else if (key == "max_bundle_entries") {
      r.Integer(v, path, f.bundle.max_entries, 1);
    } else if (key == "default_count") {
      r.Integer(v, path, f.search.default_count, 1);
    } else if (key == "max_count") {
      r.Integer(v, path, f.search.max_count, 1);
    } else if (key == "max_values_per_param") {
      r.Integer(v, path, f.search.max_values_per_param, 1);
    } else {
      return false;
    }
    return true;
  });
}

void Millis(Reader& r, const Value& v, const std::string& path, std::chrono::milliseconds& out,
            long long min, long long max) {
  long long ms = 0;
  r.Integer(v, path, ms, min, max);
  if (!r.failed()) {
    out = std::chrono::milliseconds(ms);
  }
}

void ReadReferrals(Reader& r, const Value& value, ReferralsConfig& c) {
  constexpr long long kDayMs = 24LL * 3600 * 1000;
  r.Object(value, "referrals", [&](std::string_view key, const Value& v, const std::string& path) {
    if (key == "routes") {
      // Validated by referral::RoutingTable::FromJson, which knows what a rule is.
      if (!v.is_array()) {
        r.Fail(path, "expected an array of routing rules");
      } else {
        c.routes = v;
      }
    } else if (key == "purpose") {
      r.String(v, path, c.purpose);
    } else if (key == "delivery") {
      r.Object(v, path, [&](std::string_view k, const Value& dv, const std::string& p) {
        if (k == "max_attempts") {
          r.Integer(dv, p, c.max_attempts, 1, 1000);
        } else if (k == "initial_backoff_ms") {
          Millis(r, dv, p, c.initial_backoff, 1, kDayMs);
        } else if (k == "max_backoff_ms") {
          Millis(r, dv, p, c.max_backoff, 1, kDayMs);
        } else if (k == "poll_interval_ms") {
          Millis(r, dv, p, c.poll_interval, 10, 3'600'000);
        } else if (k == "per_destination") {
          r.Integer(dv, p, c.per_destination, 1, 1000);
        } else if (k == "per_agency") {
          // {"<agency partner id>": deliveries in flight, ...}: overrides per_destination.
          c.per_agency.clear();
          r.Object(dv, p, [&](std::string_view agency, const Value& av, const std::string& ap) {
            int limit = c.per_destination;
            r.Integer(av, ap, limit, 1, 1000);
            c.per_agency.emplace_back(std::string(agency), limit);
            return true;
          });
        } else if (k == "probe_interval_ms") {
          Millis(r, dv, p, c.probe_interval, 10, kDayMs);
        } else if (k == "max_probe_interval_ms") {
          Millis(r, dv, p, c.max_probe_interval, 10, kDayMs);
        } else if (k == "connect_timeout_ms") {
          Millis(r, dv, p, c.connect_timeout, 1, 600'000);
        } else if (k == "total_timeout_ms") {
          Millis(r, dv, p, c.total_timeout, 1, 3'600'000);
        } else if (k == "lease_ms") {
          Millis(r, dv, p, c.lease, 1000, kDayMs);
        } else if (k == "client_cert") {
          r.Path(dv, p, c.client_cert_file);
        } else if (k == "client_key") {
          r.Path(dv, p, c.client_key_file);
        } else if (k == "ca") {
          r.Path(dv, p, c.ca_file);
        } else {
          return false;
        }
        return true;
      });
    } else if (key == "sla") {
      r.Object(v, path, [&](std::string_view k, const Value& sv, const std::string& p) {
        if (k == "ack_business_days") {
          r.Integer(sv, p, c.ack_business_days, 1, 365);
        } else if (k == "first_contact_days") {
          r.Integer(sv, p, c.first_contact_days, 1, 365);
        } else if (k == "linkage_days") {
          r.Integer(sv, p, c.linkage_days, 1, 365);
        } else if (k == "contacts_per_week") {
          r.Integer(sv, p, c.contacts_per_week, 0, 100);
        } else if (k == "intensive_days") {
          r.Integer(sv, p, c.intensive_days, 0, 365);
        } else if (k == "utc_offset_minutes") {
          r.Integer(sv, p, c.utc_offset_minutes, -14LL * 60, 14LL * 60);
        } else if (k == "alert_interval_ms") {
          Millis(r, sv, p, c.alert_interval, 0, kDayMs);
        } else if (k == "alert_webhook") {
          r.String(sv, p, c.alert_webhook);
        } else {
          return false;
        }
        return true;
      });
    } else {
      return false;
    }
    return true;
  });
  if (!r.failed() && c.initial_backoff > c.max_backoff) {
    r.Fail("referrals.delivery.initial_backoff_ms", "must not exceed max_backoff_ms");
  }
  if (!r.failed() && c.probe_interval > c.max_probe_interval) {
    r.Fail("referrals.delivery.probe_interval_ms", "must not exceed max_probe_interval_ms");
  }
  if (!r.failed() && c.lease.count() != 0 && c.lease <= c.total_timeout) {
    r.Fail("referrals.delivery.lease_ms", "must exceed total_timeout_ms");
  }
  if (!r.failed() && c.client_cert_file.empty() != c.client_key_file.empty()) {
    r.Fail("referrals.delivery", "client_cert and client_key go together");
  }
}

}  // namespace

Result<Config> LoadConfig(const std::string& path, std::string& message) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    message = "cannot read config file " + path + ": " + std::strerror(error);
    return std::make_error_code(std::errc::no_such_file_or_directory);
  }
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    message = "cannot read config file " + path;
    return std::make_error_code(std::errc::io_error);
  }

  std::string parse_message;
  auto document = fhir::json::Parse(text.str(), fhir::json::Limits{}, parse_message);
  if (!document) {
    message = path + ": not valid JSON: " + parse_message;
    return document.error();
  }

  std::error_code fs_ec;
  fs::path absolute = fs::absolute(fs::path(path), fs_ec);
  const fs::path folder =
      (fs_ec ? fs::path(path).parent_path() : absolute.parent_path()).lexically_normal();
  Reader reader(folder);
  Config config;
  config.config_dir = folder.string();
  reader.Object(
      *document, "", [&](std::string_view key, const Value& v, const std::string& key_path) {
        if (key == "server") {
          ReadServer(reader, v, config.server);
        } else if (key == "store") {
          ReadStore(reader, v, config.store);
        } else if (key == "fhir") {
          ReadFhir(reader, v, config.fhir);
        } else if (key == "consent") {
          ReadConsent(reader, v, config.consent);
        } else if (key == "partners") {
          // Validated by auth::PartnerRegistry::FromJson, which knows what a partner is.
          if (!v.is_array()) {
            reader.Fail(key_path, "expected an array of partners");
          } else {
            config.partners = v;
          }
        } else if (key == "referrals") {
          ReadReferrals(reader, v, config.referrals);
        } else if (key == "token_lifetime_s") {
          // SMART recommends access tokens of at most 5 minutes; an hour is the outer bound.
          long long seconds = 0;
          reader.Integer(v, key_path, seconds, 1, 3600);
          if (!reader.failed()) {
            config.token_lifetime = std::chrono::seconds(seconds);
          }
        } else if (key == "token_audience") {
          reader.String(v, key_path, config.token_audience);
        } else if (key == "mappings_dir") {
          reader.Path(v, key_path, config.mappings_dir);
        } else if (key == "blocking_threads") {
          reader.Integer(v, key_path, config.blocking_threads, 1, 1024);
        } else if (key == "log_level") {
          reader.String(v, key_path, config.log_level);
          if (!reader.failed() && config.log_level != "debug" && config.log_level != "info" &&
              config.log_level != "warn" && config.log_level != "error") {
            reader.Fail(key_path, "expected one of debug, info, warn, error");
          }
        } else {
          return false;
        }
        return true;
      });
  if (!reader.failed() && config.fhir.search.default_count > config.fhir.search.max_count) {
    reader.Fail("fhir.default_count", "must not exceed fhir.max_count");
  }
  if (reader.failed()) {
    message = path + ": " + reader.error();
    return std::make_error_code(std::errc::invalid_argument);
  }
  return config;
}

bool ParseListenAddress(std::string_view text, std::string& host, std::uint16_t& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return false;
  }
  std::string_view host_part = text.substr(0, colon);
  std::string_view port_part = text.substr(colon + 1);
  if (host_part.front() == '[') {
    if (host_part.size() < 3 || host_part.back() != ']') {
      return false;
    }
    host_part = host_part.substr(1, host_part.size() - 2);
  } else if (host_part.find(':') != std::string_view::npos) {
    return false;  // IPv6 needs brackets
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port_part.data(), port_part.data() + port_part.size(), value);
  if (ec != std::errc() || end != port_part.data() + port_part.size() || value > 65535) {
    return false;
  }
  host = std::string(host_part);
  port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace carebridge::config
