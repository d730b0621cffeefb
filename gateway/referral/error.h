#pragma once

#include <string_view>
#include <system_error>

#include "fhir/outcome.h"

namespace carebridge::referral {

enum class errc {
  kMissingElement = 1,     // a TaskForReferralManagement required element is absent or malformed
  kStatusReasonRequired,   // rejected, cancelled, on-hold and failed need statusReason.text
  kUnknownStatus,          // not a status of the SDOHCC referral task status value set
  kIllegalTransition,      // no such edge in the state machine (from this status, to that one)
  kWrongSide,              // the edge exists, but the other side of the referral owns it
  kImmutableElement,       // focus, for, requester, intent, code or authoredOn changed
  kIllegalBusinessStatus,  // a warm hand-off step out of order, or set by the wrong side
  kNoAgency,               // no routing rule matches the referral
  kBadConfig,              // routing or SLA configuration that cannot be used
};
const std::error_category& referral_category();
std::error_code make_error_code(errc e);

// The HTTP status and FHIR issue type the API answers with for `e`: 422 for data that breaks the
// profile, 409 for changes the referral's current state does not allow (the state machine is a
// conflict with what is stored, not a syntax problem), 500 for configuration faults.
struct HttpMapping {
  int status;
  fhir::IssueType issue;
};
HttpMapping HttpMappingOf(errc e);

}  // namespace carebridge::referral

template <>
struct std::is_error_code_enum<carebridge::referral::errc> : std::true_type {};
