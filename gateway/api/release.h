#pragma once

// What the consent engine needs from the gateway's configuration, shared by the API (every
// disclosure in a response) and the delivery worker (every referral pushed to an agency).

#include "gateway/auth/partner.h"
#include "gateway/config/config.h"
#include "gateway/consent/consent.h"

namespace carebridge::api {

// The release-of-information policy the config's "consent" section asks for.
consent::Policy ConsentPolicyFrom(const config::ConsentConfig& config);

// A partner as a consent recipient: its Organization, its kind (kPartnerKindSystem) and its
// recipient classes as roles, and whether it may claim ETREAT (break the glass).
consent::Recipient RecipientOf(const auth::Partner& partner);

}  // namespace carebridge::api
