#include "gateway/api/access.h"

#include <algorithm>
#include <cmath>

namespace carebridge::api {

namespace {

using auth::PartnerKind;

// Read by every partner, written by the admin: the partner directory, and the ConceptMaps the
// mappings translate with.
bool IsDirectoryType(std::string_view type) {
  return type == "Organization" || type == "Endpoint" || type == "HealthcareService" ||
         type == "ConceptMap";
}

bool IsReferralType(std::string_view type) { return type == "Task" || type == "ServiceRequest"; }

// Coordinators run the referral and the plan around it; they do not author clinical findings.
bool CoordinatorWrites(std::string_view type) {
  return type == "Task" || type == "ServiceRequest" || type == "CarePlan" || type == "Goal" ||
         type == "Consent" || type == "Patient" || type == "Communication";
}

bool IsRead(Interaction interaction) {
  return interaction == Interaction::kRead || interaction == Interaction::kSearch;
}

}  // namespace

Reach Authorize(PartnerKind kind, Interaction interaction, std::string_view type) {
  if (interaction == Interaction::kCapabilities) {
    return Reach::kAll;
  }
  if (IsDirectoryType(type) && IsRead(interaction)) {
    return Reach::kAll;  // the partner directory is readable by every partner
  }
  switch (kind) {
    case PartnerKind::kEhr:
      if (type == "AuditEvent" || interaction == Interaction::kSystemHistory) {
        return Reach::kNone;
      }
      if (IsDirectoryType(type)) {
        return Reach::kNone;  // directory writes are the admin's
      }
      return Reach::kAll;
    case PartnerKind::kAgency:
      // Agencies record their contacts with the person as Communications linked (basedOn,
      // partOf) to Tasks they own: the API checks the links (referrals.cc). No reads of them.
      if (type == "Communication") {
        return interaction == Interaction::kCreate ? Reach::kAddressed : Reach::kNone;
      }
      if (!IsReferralType(type)) {
        return Reach::kNone;
      }
      if (IsRead(interaction)) {
        return Reach::kAddressed;
      }
      // Agencies move the Tasks addressed to them; the referral itself is the requester's.
      if (type == "Task" && interaction == Interaction::kUpdate) {
        return Reach::kAddressed;
      }
      return Reach::kNone;
    case PartnerKind::kPrivacyOfficer:
      if (IsRead(interaction) && (type == "AuditEvent" || type == "Consent" || type == "Patient")) {
        return Reach::kAll;
      }
      return Reach::kNone;
    case PartnerKind::kCoordinator:
      if (type == "AuditEvent" || interaction == Interaction::kSystemHistory ||
          interaction == Interaction::kDelete) {
        return Reach::kNone;
      }
      if (interaction == Interaction::kBundle || IsRead(interaction)) {
        return Reach::kAll;
      }
      return CoordinatorWrites(type) ? Reach::kAll : Reach::kNone;
    case PartnerKind::kAdmin:
      if (IsDirectoryType(type)) {
        return Reach::kAll;
      }
      if (type == "AuditEvent" && IsRead(interaction)) {
        return Reach::kAll;
      }
      return Reach::kNone;
  }
  return Reach::kNone;
}

bool ScopesAllow(const std::vector<std::string>& scopes, Interaction interaction,
                 std::string_view type) {
  if (interaction == Interaction::kCapabilities) {
    return true;
  }
  // The SMART v2 letter each interaction needs: create, read, update, delete, search.
  char letter = 'r';
  switch (interaction) {
    case Interaction::kRead:
      letter = 'r';
      break;
    case Interaction::kSearch:
    case Interaction::kSystemHistory:
      letter = 's';
      break;
    case Interaction::kCreate:
    case Interaction::kBundle:
      letter = 'c';
      break;
    case Interaction::kUpdate:
      letter = 'u';
      break;
    case Interaction::kDelete:
      letter = 'd';
      break;
    case Interaction::kCapabilities:
      break;
  }
  const bool write = letter == 'c' || letter == 'u' || letter == 'd';
  for (std::string_view scope : scopes) {
    if (!scope.starts_with("system/")) {
      continue;
    }
    scope.remove_prefix(7);
    std::size_t dot = scope.find('.');
    if (dot == std::string_view::npos) {
      continue;
    }
    std::string_view scope_type = scope.substr(0, dot);
    std::string_view permission = scope.substr(dot + 1);
    // A bundle needs some write scope here; its entries are then checked type by type.
    if (scope_type != "*" && scope_type != type && interaction != Interaction::kBundle) {
      continue;
    }
    if (permission == "*" || (permission == "write" && write) || (permission == "read" && !write) ||
        (permission.find_first_not_of("cruds") == std::string_view::npos &&
         permission.find(letter) != std::string_view::npos)) {
      return true;
    }
  }
  return false;
}

std::string_view AddressedParam(std::string_view type) {
  if (type == "Task") {
    return "owner";
  }
  if (type == "ServiceRequest") {
    return "performer";
  }
  return {};
}

std::optional<int> RateLimiter::Acquire(const auth::Partner& partner,
                                        std::chrono::steady_clock::time_point now) {
  const double rate = std::max(partner.requests_per_second, 0.001);
  const double capacity = std::max<double>(partner.burst, 1);
  std::lock_guard lock(mutex_);
  Bucket& bucket = buckets_[partner.id];
  if (!bucket.initialised) {
    bucket.tokens = capacity;
    bucket.updated = now;
    bucket.initialised = true;
  }
  double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
  bucket.tokens = std::min(capacity, bucket.tokens + std::max(0.0, elapsed) * rate);
  bucket.updated = now;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return std::nullopt;
  }
  return std::max(1, static_cast<int>(std::ceil((1 - bucket.tokens) / rate)));
}

}  // namespace carebridge::api
