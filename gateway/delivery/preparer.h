#pragma once

// The Preparer the gateway runs: reads the referral from the store, re-checks the patient's
// consent for the receiving agency at the moment of sending, and builds the request the SDOH
// Clinical Care IG expects from a referral source: the Task POSTed to the agency's FHIR server,
// its focus an absolute reference to the ServiceRequest on the gateway (which the agency reads
// through the gateway, consent-checked again there).
//
//  - a Task in status requested goes as a conditional create: POST [base]/Task with
//    If-None-Exist: identifier=<kReferralIdentifierSystem>|<task id>, so a repeat after a timeout
//    finds the Task the first try created instead of making a second one;
//  - later changes by the requester (cancelled, entered-in-error...) go as a conditional update:
//    PUT [base]/Task?identifier=<system>|<task id>;
//  - every call carries Idempotency-Key: <delivery id>.
// The Task sent has our identifier added, meta reduced to its profiles, no id, and relative
// references (focus, for, requester) made absolute against the gateway's base URL.
//
// Consent: the patient's Consent resources (Consent?patient=...) compiled as of now, and the
// Task and its ServiceRequest evaluated for disclosure to the agency's Organization for the
// configured purpose. A deny on either stops the delivery (Preparation::kStop with the
// decision's explanation): a consent revoked while the referral waited in the outbox is honoured.
// Released 42 CFR Part 2 data goes with the re-disclosure notice in Task.note.
//
// Outbound mapping: the Task is put in the agency's dialect (its partner mapping, mappings/)
// by `map_outbound` before the gateway's identifier, the notice and absolute references are
// added; the gateway wires it to the API's outbound mapping (api::FhirApi::MapOutbound), so an
// agency gets a pushed Task exactly as it would read it through the API.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/consent/consent.h"
#include "gateway/delivery/worker.h"
#include "gateway/store/store.h"

namespace carebridge::delivery {

inline constexpr std::string_view kReferralIdentifierSystem =
    "https://carebridge.example.org/fhir/referral";

struct AgencyEndpoint {
  std::string id;                      // partner id: OutboxMessage::destination
  std::string organization;            // "Organization/<id>": the consent recipient
  std::string base_url;                // the agency's FHIR base, no trailing slash
  std::vector<consent::Coding> roles;  // recipient roles for role-based consent actors
};

struct StorePreparerOptions {
  std::vector<AgencyEndpoint> agencies;
  std::string gateway_base_url;  // "https://gateway.example/fhir": absolute references
  consent::Policy policy;
  std::string purpose = "TREAT";         // v3-ActReason purpose of a referral disclosure
  int max_consents = 200;                // consents read per patient
  std::function<std::int64_t()> now_ms;  // empty: the system clock
  // Notification webhooks, by outbox destination (kSlaWebhook): each gets the Communication the
  // delivery names, POSTed as is. Not a disclosure to a partner: the gateway operator's own
  // coordinator endpoint, so no consent check.
  std::vector<std::pair<std::string, std::string>> webhooks;  // destination -> URL
  // Maps a canonical resource in place into the dialect of the agency (partner id). Empty: the
  // agency gets the canonical form. Called from the blocking pool, from several threads at once.
  std::function<void(std::string_view agency_id, fhir::json::Value& resource)> map_outbound;
};

// Whether the patient's consent releases every one of `resources` to `agency` for `purpose` as
// of `now_ms`: nullopt when it does, else a sentence saying what was refused and why. Reads the
// patient's Consent resources from `store` (blocking); an error when they cannot be read. When it
// releases 42 CFR Part 2 data, `*redisclosure_notice` (if given) becomes true: the notice must go
// with the referral.
Result<std::optional<std::string>> CheckRelease(
    store::Store& store, const consent::Policy& policy, std::string_view purpose,
    const AgencyEndpoint& agency, const std::string& patient_id,
    const std::vector<const fhir::json::Value*>& resources, std::int64_t now_ms,
    int max_consents = 200, bool* redisclosure_notice = nullptr);

class StorePreparer final : public Preparer {
 public:
  // REQUIRES: `store` outlives the preparer.
  StorePreparer(store::Store& store, StorePreparerOptions options);
  Preparation Prepare(const store::Delivery& delivery) override;

 private:
  // The send-time consent decision as an AuthZconsent AuditEvent (`refusal` empty: permit).
  void RecordSendDecision(const store::Delivery& delivery, const AgencyEndpoint& agency,
                          const std::string& patient_id,
                          const std::vector<const fhir::json::Value*>& disclosed,
                          std::int64_t now_ms, const std::string& refusal);

  store::Store& store_;
  StorePreparerOptions options_;
};

}  // namespace carebridge::delivery
