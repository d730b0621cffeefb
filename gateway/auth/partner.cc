#include "gateway/auth/partner.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

#include "fhir/resource/resource.h"
#include "gateway/auth/jwt.h"

namespace carebridge::auth {
namespace {

namespace fs = std::filesystem;
using fhir::json::Value;

// A partner's key file is a few hundred bytes of PEM; refuse to slurp anything much larger.
constexpr std::uintmax_t kMaxKeyFileBytes = std::uintmax_t{64} * 1024;

// "AB:cd:..." → "abcd...": the forms people paste from `openssl x509 -fingerprint` and from
// browsers. Returns empty when the result is not 64 hex digits.
std::string NormalizeFingerprint(std::string_view text) {
  std::string out;
  out.reserve(64);
  for (char c : text) {
    if (c == ':') {
      continue;
    }
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return {};
    }
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out.size() == 64 ? out : std::string();
}

// v3 PurposeOfUse codes are short upper-case tokens (TREAT, HPAYMT, ETREAT, ...). Only the syntax
// is checked: the value set grows, and a gateway must not refuse a code HL7 added last year.
bool IsPurposeCode(std::string_view code) {
  return !code.empty() && code.size() <= 32 && std::all_of(code.begin(), code.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

std::optional<PartnerKind> ParseKind(std::string_view text) {
  for (PartnerKind kind : {PartnerKind::kEhr, PartnerKind::kAgency, PartnerKind::kPrivacyOfficer,
                           PartnerKind::kCoordinator, PartnerKind::kAdmin}) {
    if (ToString(kind) == text) {
      return kind;
    }
  }
  return std::nullopt;
}

// Reads one partner object, reporting the first problem as "<path>: <what>".
class PartnerReader {
 public:
  PartnerReader(fs::path base_dir, std::string path)
      : base_dir_(std::move(base_dir)), path_(std::move(path)) {}

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }

  void Fail(std::string_view key, const std::string& what) {
    if (error_.empty()) {
      error_ = path_ + (key.empty() ? "" : "." + std::string(key)) + ": " + what;
    }
  }

  Partner Read(const Value& object) {
    Partner p;
    if (!object.is_object()) {
      Fail("", "expected an object");
      return p;
    }
    bool has_id = false;
    bool has_name = false;
    bool has_kind = false;
    for (const auto& [key, value] : object.members()) {
      if (key == "id") {
        has_id = String(key, value, p.id);
        if (has_id && !fhir::IsValidId(p.id)) {
          Fail(key, "\"" + p.id + "\" is not a FHIR id ([A-Za-z0-9-.]{1,64})");
        }
      } else if (key == "name") {
        has_name = String(key, value, p.display_name);
      } else if (key == "kind") {
        std::string text;
        if (String(key, value, text)) {
          has_kind = true;
          if (auto kind = ParseKind(text)) {
            p.kind = *kind;
          } else {
            Fail(key, "expected one of ehr, agency, privacy-officer, coordinator, admin, got \"" +
                          text + "\"");
          }
        }
      } else if (key == "enabled") {
        if (!value.is_bool()) {
          Fail(key, "expected true or false");
        } else {
          p.enabled = value.as_bool();
        }
      } else if (key == "cert_fingerprints") {
        for (std::string& f : Strings(key, value, p.cert_fingerprints)) {
          std::string normal = NormalizeFingerprint(f);
          if (normal.empty()) {
            Fail(key, "\"" + f + "\" is not a SHA-256 fingerprint (64 hex digits)");
          }
          f = std::move(normal);
        }
      } else if (key == "cert_subjects") {
        Strings(key, value, p.cert_subjects);
      } else if (key == "fhir_endpoint") {
        if (String(key, value, p.fhir_endpoint) && !p.fhir_endpoint.empty() &&
            p.fhir_endpoint.rfind("https://", 0) != 0 && p.fhir_endpoint.rfind("http://", 0) != 0) {
          Fail(key, "expected an http(s) URL or \"\" (the partner polls)");
        }
      } else if (key == "purposes") {
        for (const std::string& code : Strings(key, value, p.purposes)) {
          if (!IsPurposeCode(code)) {
            Fail(key, "\"" + code + "\" is not a v3 PurposeOfUse code");
          }
        }
      } else if (key == "recipient_classes") {
        for (const std::string& code : Strings(key, value, p.recipient_classes)) {
          if (code != "covered-entity" && code != "business-associate") {
            Fail(key,
                 "\"" + code + "\" is not a recipient class (covered-entity, business-associate)");
          }
        }
      } else if (key == "default_purpose") {
        String(key, value, p.default_purpose);
      } else if (key == "mapping_profile") {
        // It names mappings/partners/<profile>.json: id syntax keeps it inside that folder.
        if (String(key, value, p.mapping_profile) && !p.mapping_profile.empty() &&
            !fhir::IsValidId(p.mapping_profile)) {
          Fail(key, "expected a FHIR id naming mappings/partners/<profile>.json");
        }
      } else if (key == "jwt_public_key_file") {
        std::string file;
        if (String(key, value, file) && !file.empty()) {
          LoadKey(key, file, p.jwt_public_key_pem);
        }
      } else if (key == "requests_per_second") {
        double rate = 0;
        if (!value.is_number() || !ParseDouble(value.text(), rate) || !(rate > 0) || rate > 1e6) {
          Fail(key, "expected a number above 0 and at most 1000000");
        } else {
          p.requests_per_second = rate;
        }
      } else if (key == "burst") {
        int burst = 0;
        const std::string& text = value.text();
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), burst);
        if (!value.is_number() || ec != std::errc() || end != text.data() + text.size() ||
            burst < 1 || burst > 1'000'000) {
          Fail(key, "expected an integer between 1 and 1000000");
        } else {
          p.burst = burst;
        }
      } else {
        Fail(key, "unknown key");
      }
      if (failed()) {
        return p;
      }
    }
    if (!has_id) {
      Fail("id", "required");
    } else if (!has_name) {
      Fail("name", "required");
    } else if (!has_kind) {
      Fail("kind", "required");
    } else if (!p.default_purpose.empty() && !p.MayClaim(p.default_purpose)) {
      Fail("default_purpose", "\"" + p.default_purpose + "\" is not among its purposes");
    }
    return p;
  }

 private:
  bool String(std::string_view key, const Value& value, std::string& out) {
    if (!value.is_string()) {
      Fail(key, "expected a string");
      return false;
    }
    out = value.text();
    return true;
  }

  // An array of non-empty, distinct strings. Returns `out` for the caller to check further.
  std::vector<std::string>& Strings(std::string_view key, const Value& value,
                                    std::vector<std::string>& out) {
    out.clear();
    if (!value.is_array()) {
      Fail(key, "expected an array of strings");
      return out;
    }
    for (const Value& item : value.items()) {
      if (!item.is_string() || item.text().empty()) {
        Fail(key, "expected an array of non-empty strings");
        out.clear();
        return out;
      }
      out.push_back(item.text());
    }
    return out;
  }

  static bool ParseDouble(const std::string& text, double& out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size() && std::isfinite(out);
  }

  void LoadKey(std::string_view key, const std::string& file, std::string& pem) {
    fs::path path(file);
    if (path.is_relative()) {
      path = base_dir_ / path;
    }
    path = path.lexically_normal();
    std::error_code ec;
    const std::uintmax_t size = fs::file_size(path, ec);
    if (ec) {
      Fail(key, "cannot read " + path.string() + ": " + ec.message());
      return;
    }
    if (size > kMaxKeyFileBytes) {
      Fail(key, path.string() + " is too large to be a public key");
      return;
    }
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      Fail(key, "cannot read " + path.string());
      return;
    }
    pem = text.str();
    jwt::EvpPkeyPtr parsed = jwt::ParsePublicKeyPem(pem);
    if (!parsed) {
      Fail(key, path.string() + " is not a PEM public key (-----BEGIN PUBLIC KEY-----)");
    } else if (!jwt::AlgorithmForKey(parsed.get())) {
      Fail(key, path.string() +
                    " must be an RSA key of at least 2048 bits (RS384) or an EC P-384 "
                    "key (ES384)");
    }
  }

  fs::path base_dir_;
  std::string path_;
  std::string error_;
};

}  // namespace

std::string_view ToString(PartnerKind kind) {
  switch (kind) {
    case PartnerKind::kEhr:
      return "ehr";
    case PartnerKind::kAgency:
      return "agency";
    case PartnerKind::kPrivacyOfficer:
      return "privacy-officer";
    case PartnerKind::kCoordinator:
      return "coordinator";
    case PartnerKind::kAdmin:
      return "admin";
  }
  return "unknown";
}

bool Partner::MayClaim(std::string_view purpose) const {
  return std::find(purposes.begin(), purposes.end(), purpose) != purposes.end();
}

Result<PartnerRegistry> PartnerRegistry::FromJson(const fhir::json::Value& partners,
                                                  const std::string& base_dir,
                                                  std::string& message) {
  if (!partners.is_array()) {
    message = "partners: expected an array";
    return std::make_error_code(std::errc::invalid_argument);
  }
  PartnerRegistry registry;
  // Certificate identities must point at one partner only, or a certificate would prove two.
  std::set<std::string, std::less<>> ids;
  std::set<std::string, std::less<>> fingerprints;
  std::set<std::string, std::less<>> subjects;
  for (std::size_t i = 0; i < partners.items().size(); ++i) {
    const std::string path = "partners[" + std::to_string(i) + "]";
    PartnerReader reader(base_dir, path);
    Partner partner = reader.Read(partners.items()[i]);
    if (!reader.failed() && !ids.insert(partner.id).second) {
      reader.Fail("id", "duplicate partner id \"" + partner.id + "\"");
    }
    for (const std::string& f : partner.cert_fingerprints) {
      if (!reader.failed() && !fingerprints.insert(f).second) {
        reader.Fail("cert_fingerprints", "fingerprint " + f + " is listed for another partner");
      }
    }
    for (const std::string& s : partner.cert_subjects) {
      if (!reader.failed() && !subjects.insert(s).second) {
        reader.Fail("cert_subjects", "\"" + s + "\" is listed for another partner");
      }
    }
    if (reader.failed()) {
      message = reader.error();
      return std::make_error_code(std::errc::invalid_argument);
    }
    registry.partners_.push_back(std::move(partner));
  }
  return registry;
}

const Partner* PartnerRegistry::FindById(std::string_view id) const {
  for (const Partner& p : partners_) {
    if (p.id == id) {
      return &p;
    }
  }
  return nullptr;
}

const Partner* PartnerRegistry::FindByCertificate(std::string_view sha256_fingerprint,
                                                  std::string_view subject,
                                                  std::string_view common_name,
                                                  const std::vector<std::string>& uri_sans) const {
  const std::string fingerprint = NormalizeFingerprint(sha256_fingerprint);
  if (!fingerprint.empty()) {
    for (const Partner& p : partners_) {
      if (std::find(p.cert_fingerprints.begin(), p.cert_fingerprints.end(), fingerprint) !=
          p.cert_fingerprints.end()) {
        return &p;
      }
    }
  }
  for (const Partner& p : partners_) {
    for (const std::string& s : p.cert_subjects) {
      // Entries are never empty (FromJson), so an absent CN or subject cannot match.
      if (s == subject || s == common_name ||
          std::find(uri_sans.begin(), uri_sans.end(), s) != uri_sans.end()) {
        return &p;
      }
    }
  }
  return nullptr;
}

}  // namespace carebridge::auth
