#include "gateway/referral/error.h"

#include <string>

namespace carebridge::referral {
namespace {

class ReferralCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "carebridge.referral"; }

  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::kMissingElement:
        return "referral Task lacks a required element";
      case errc::kStatusReasonRequired:
        return "statusReason.text is required for this Task status";
      case errc::kUnknownStatus:
        return "not a referral Task status";
      case errc::kIllegalTransition:
        return "illegal referral Task status transition";
      case errc::kWrongSide:
        return "this side of the referral may not make this transition";
      case errc::kImmutableElement:
        return "a referral Task element that may not change was changed";
      case errc::kIllegalBusinessStatus:
        return "illegal warm hand-off step";
      case errc::kNoAgency:
        return "no agency matches the referral";
      case errc::kBadConfig:
        return "bad referral configuration";
    }
    return "unknown referral error";
  }
};

}  // namespace

const std::error_category& referral_category() {
  static const ReferralCategory category;
  return category;
}

std::error_code make_error_code(errc e) { return {static_cast<int>(e), referral_category()}; }

HttpMapping HttpMappingOf(errc e) {
  switch (e) {
    case errc::kMissingElement:
    case errc::kStatusReasonRequired:
      return {422, fhir::IssueType::kRequired};
    case errc::kUnknownStatus:
      return {422, fhir::IssueType::kCodeInvalid};
    case errc::kIllegalTransition:
    case errc::kWrongSide:
    case errc::kImmutableElement:
    case errc::kIllegalBusinessStatus:
      return {409, fhir::IssueType::kConflict};
    case errc::kNoAgency:
      return {422, fhir::IssueType::kNotFound};
    case errc::kBadConfig:
      return {500, fhir::IssueType::kException};
  }
  return {500, fhir::IssueType::kException};
}

}  // namespace carebridge::referral
