#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/base/result.h"
#include "fhir/json/value.h"

namespace carebridge::auth {

enum class PartnerKind { kEhr, kAgency, kPrivacyOfficer, kCoordinator, kAdmin };
std::string_view ToString(PartnerKind kind);  // "ehr", "agency", "privacy-officer", ...

// A party the gateway talks to. Every caller is one of these, proven by its certificate or by a
// token obtained with its registered key.
struct Partner {
  std::string id;  // also the id of its Organization resource: Organization/<id>
  std::string display_name;
  PartnerKind kind = PartnerKind::kEhr;
  bool enabled = true;
  // Certificate identity: a verified certificate proves this partner when its SHA-256
  // fingerprint is listed, or its subject DN, CN or a URI SAN equals an entry of cert_subjects.
  std::vector<std::string> cert_fingerprints;  // lower-case hex, no separators
  std::vector<std::string> cert_subjects;
  std::string fhir_endpoint;  // agencies: FHIR base referrals are pushed to; empty = it polls
  std::vector<std::string> purposes;  // v3 PurposeOfUse codes it may claim (TREAT, ETREAT, ...)
  std::string default_purpose;        // applied when a request claims none
  // Classes of recipients the partner belongs to ("covered-entity", "business-associate"), which
  // a consent may name instead of the partner itself (42 CFR 2.31 as revised in 2024).
  std::vector<std::string> recipient_classes;
  std::string mapping_profile;  // mappings/partners/<profile>.json; empty = canonical
  // SMART Backend Services: the PEM public key (RSA for RS384, EC P-384 for ES384) that signs
  // its client assertions; empty = mTLS only.
  std::string jwt_public_key_pem;
  // Request rate (token bucket). Concurrent connections are bounded per client certificate by
  // the server (server.max_connections_per_client), which knows connections but not partners.
  double requests_per_second = 200;
  int burst = 400;

  std::string OrganizationReference() const { return "Organization/" + id; }
  bool MayClaim(std::string_view purpose) const;
};

// The configured partners. Immutable once loaded; safe to share between threads.
class PartnerRegistry {
 public:
  PartnerRegistry() = default;

  // Builds the registry from the config's "partners" array. Relative key-file paths
  // ("jwt_public_key_file") resolve against `base_dir`. Duplicate ids, unknown kinds, unknown
  // keys, a default purpose the partner may not claim, or an unreadable key are errors, with a
  // sentence in `message`.
  static Result<PartnerRegistry> FromJson(const fhir::json::Value& partners,
                                          const std::string& base_dir, std::string& message);

  const Partner* FindById(std::string_view id) const;
  // The partner a verified certificate proves, enabled or not (callers refuse disabled ones).
  const Partner* FindByCertificate(std::string_view sha256_fingerprint, std::string_view subject,
                                   std::string_view common_name,
                                   const std::vector<std::string>& uri_sans) const;
  const std::vector<Partner>& partners() const { return partners_; }

 private:
  std::vector<Partner> partners_;
};

}  // namespace carebridge::auth
