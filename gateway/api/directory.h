#pragma once

#include "fhir/base/result.h"
#include "fhir/json/value.h"
#include "gateway/auth/partner.h"
#include "gateway/store/store.h"

namespace carebridge::api {

// Our code system for the kind of a partner (ehr, agency, privacy-officer, ...).
inline constexpr std::string_view kPartnerKindSystem =
    "https://carebridge.dev/fhir/CodeSystem/partner-kind";

// Makes every configured partner readable as FHIR: Organization/<id> (name, kind, active =
// enabled) and, for partners with a FHIR endpoint, Endpoint/<id>-fhir, so that Consent
// provisions and referrals can name partners the standard way. Writes only what changed, so a
// restart does not add versions. Blocks until the writes are durable; call it at start-up.
Result<void> PublishPartnerDirectory(store::Store& store, const auth::PartnerRegistry& partners);

// True when the stored resource with `desired`'s type and id already says what `desired` says,
// meta aside: publishing it again would only add a version. Blocking (a store read).
bool StoredUnchanged(store::Store& store, const fhir::json::Value& desired);

}  // namespace carebridge::api
