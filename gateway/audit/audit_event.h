#pragma once

// Builders for the AuditEvent resources the gateway records (DESIGN.md capability 4), in the
// shapes of IHE Basic Audit Log Patterns (BALP, https://profiles.ihe.net/ITI/BALP):
//
//   BuildRestEvent        BALP Create/Read/Update/Delete/Query: type audit-event-type#rest,
//                         subtype restful-interaction#<interaction>.
//   BuildConsentDecision  BALP AuthZconsent: type DCM#110113 "Security Alert", subtype
//                         AuthZsubType#AuthZ-Consent, action E, outcome 0 permit / 8 deny.
//   BuildDisclosure       BALP PrivacyDisclosure.Source: type DCM#110106 "Export", subtype
//                         iso-21089-lifecycle#disclose, action R.
//
// The builders are pure: plain values in, the event's JSON text and search rows out; no clock, no
// randomness, no I/O. The caller supplies the id (the API's server-assigned UUID) and `recorded`,
// then puts the record in the same store WriteBatch as the request's data change with
// AuditWriteOp (store_op.h). They write text rather than a JSON tree because every request
// records one to three events: a tree built, stamped, serialised and freed cost about 30 µs an
// event, the text a tenth of that. Their rows equal fhir::ExtractIndex of the parsed text (a
// unit test holds them to it).
//
// Every event names the gateway as source.observer, the partner as an agent Organization/<id>
// (so `AuditEvent?agent=Organization/<id>` finds it) and the patient, when known, as an entity
// Patient/<id> with role object-role#1 (so `AuditEvent?patient=<id>` finds it). Purposes of use
// are v3-ActReason codes (TREAT, ETREAT, HPAYMT, HOPERAT, PATRQT...), searchable with `purpose`.
//
// Two carebridge flags are extensions on the AuditEvent (valueBoolean, present only when true):
//   kBreakGlassExtension  a deny was overridden under ETREAT ("break the glass"); the event also
//                         carries purposeOfEvent ETREAT and says so in outcomeDesc.
//   kPart2Extension       the data is 42 CFR Part 2 (SUD) information; the data entities also
//                         carry the securityLabel v3-ActCode#42CFRPart2.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/resource/resource.h"
#include "fhir/search/search.h"

namespace carebridge::audit {

// Code systems, exactly as BALP and FHIR R4 spell them.
inline constexpr std::string_view kAuditEventTypeSystem =
    "http://terminology.hl7.org/CodeSystem/audit-event-type";
inline constexpr std::string_view kRestfulInteractionSystem =
    "http://hl7.org/fhir/restful-interaction";
inline constexpr std::string_view kDicomSystem = "http://dicom.nema.org/resources/ontology/DCM";
inline constexpr std::string_view kAuthZSubTypeSystem =
    "https://profiles.ihe.net/ITI/BALP/CodeSystem/AuthZsubType";
inline constexpr std::string_view kLifecycleSystem =
    "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle";
inline constexpr std::string_view kOutcomeSystem =
    "http://terminology.hl7.org/CodeSystem/audit-event-outcome";
inline constexpr std::string_view kActReasonSystem =
    "http://terminology.hl7.org/CodeSystem/v3-ActReason";
inline constexpr std::string_view kActCodeSystem =
    "http://terminology.hl7.org/CodeSystem/v3-ActCode";
inline constexpr std::string_view kEntityTypeSystem =
    "http://terminology.hl7.org/CodeSystem/audit-entity-type";
inline constexpr std::string_view kObjectRoleSystem =
    "http://terminology.hl7.org/CodeSystem/object-role";
inline constexpr std::string_view kResourceTypesSystem = "http://hl7.org/fhir/resource-types";
inline constexpr std::string_view kParticipationTypeSystem =
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
inline constexpr std::string_view kRoleClassSystem =
    "http://terminology.hl7.org/CodeSystem/v3-RoleClass";
inline constexpr std::string_view kSecurityRoleTypeSystem =
    "http://terminology.hl7.org/CodeSystem/extra-security-role-type";
inline constexpr std::string_view kProvenanceParticipantSystem =
    "http://terminology.hl7.org/CodeSystem/provenance-participant-type";
inline constexpr std::string_view kSecuritySourceTypeSystem =
    "http://terminology.hl7.org/CodeSystem/security-source-type";
inline constexpr std::string_view kNetworkTypeSystem = "http://hl7.org/fhir/network-type";
inline constexpr std::string_view kSnomedSystem = "http://snomed.info/sct";
inline constexpr std::string_view kRequestIdEntitySystem =
    "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType";

inline constexpr std::string_view kBreakGlassExtension =
    "https://carebridge.dev/fhir/StructureDefinition/audit-break-the-glass";
inline constexpr std::string_view kPart2Extension =
    "https://carebridge.dev/fhir/StructureDefinition/audit-42cfr-part2";

// AuditEvent.outcome (audit-event-outcome).
enum class EventOutcome {
  kSuccess = 0,
  kMinorFailure = 4,    // the request failed (client error, refused)
  kSeriousFailure = 8,  // the request was denied / failed seriously
  kMajorFailure = 12,
};

// FHIR RESTful interactions (restful-interaction codes). The action follows BALP: create C,
// read/vread/history R, update/patch U, delete D, searches/batch/transaction/operation E.
enum class Interaction {
  kRead,
  kVread,
  kUpdate,
  kPatch,
  kDelete,
  kHistoryInstance,
  kHistoryType,
  kHistorySystem,
  kCreate,
  kSearchType,
  kSearchSystem,
  kCapabilities,
  kTransaction,
  kBatch,
  kOperation,
};
std::string_view InteractionCode(Interaction interaction);  // "read", "search-type", ...
std::string_view ActionOf(Interaction interaction);         // "C", "R", "U", "D" or "E"

// A resource (version) the event is about. Reference(): "Type/id" or "Type/id/_history/v".
struct ResourceRef {
  std::string type;
  std::string id;
  std::optional<std::int64_t> version;
  std::string Reference() const;
};

// The gateway itself: source.observer, the server/custodian/authorizer agent.
struct GatewayIdentity {
  std::string reference = "Device/carebridge";  // a reference; may name a Device or Organization
  std::string display = "carebridge FHIR gateway";
  std::string site;     // source.site: host name; omitted when empty
  std::string address;  // server network address (host or IP, or base URL); omitted when empty
};

// The partner on the other end of the request.
struct Requestor {
  std::string partner_id;      // -> Organization/<partner_id>; REQUIRES: a valid FHIR id
  std::string display;         // who.display (the partner's name)
  std::string remote_address;  // the TCP peer address (IPv4/IPv6 text); omitted when empty
  std::string purpose;         // v3-ActReason code of the request's purpose; omitted when empty
  std::string request_id;      // X-Request-Id; recorded as the BALP transaction entity when set
};

// One RESTful interaction (BALP Create/Read/Update/Delete/Query). Record failures too: outcome
// non-zero and outcome_desc the OperationOutcome's text.
struct RestEvent {
  std::string id;        // AuditEvent.id; omitted when empty
  std::string recorded;  // FHIR instant, e.g. 2026-11-22T10:00:00.123Z
  Interaction interaction = Interaction::kRead;
  GatewayIdentity gateway;
  Requestor requestor;
  // The resource touched (create/read/vread/update/delete/history-instance), with the version
  // when known. Unset for searches, type/system history, batch and transaction.
  std::optional<ResourceRef> resource;
  std::string resource_type;              // search-type / history-type: the type searched
  std::optional<std::string> patient_id;  // the patient (compartment) the data belongs to
  // Searches: the raw query string as received ("name=x&_count=5"); base64 in entity.query and
  // "<Type>?<query>" in entity.description.
  std::optional<std::string> query;
  EventOutcome outcome = EventOutcome::kSuccess;
  std::string outcome_desc;  // required in spirit when outcome != kSuccess
};

// A Consent (version) that took part in a decision.
struct ConsentRef {
  std::string id;
  std::optional<std::int64_t> version;
};

// One release-of-information decision (BALP AuthZconsent).
struct ConsentDecisionEvent {
  std::string id;
  std::string recorded;
  GatewayIdentity gateway;  // the authorizer agent (the consent decision service) and observer
  Requestor recipient;      // the user agent (IRCP, requestor) with purposeOfUse + client agent
  std::string patient_id;   // REQUIRES: non-empty
  std::vector<ConsentRef> consents;  // each consent the decision used (may be empty: default)
  std::vector<ResourceRef> data;     // the data item(s) decided on
  std::vector<std::string> data_security_labels;  // v3 codes on the data (ETH, R, ...)
  bool permit = false;
  std::string explanation;   // the decision's explanation: outcomeDesc (for permits too)
  bool break_glass = false;  // a deny overridden under ETREAT
  bool part2 = false;        // 42 CFR Part 2 data
};

// One disclosure of data to a partner (BALP PrivacyDisclosure, recorded at the source).
struct DisclosureEvent {
  std::string id;
  std::string recorded;
  GatewayIdentity gateway;           // source agent and custodian
  Requestor recipient;               // recipient agent (DCM#110152)
  std::string patient_id;            // REQUIRES: non-empty
  std::vector<ConsentRef> consents;  // authorizer: the consent(s) that allowed it
  std::vector<ResourceRef> data;     // what was disclosed
  std::vector<std::string> data_security_labels;
  std::optional<Interaction> interaction;  // the REST interaction that disclosed, as 2nd subtype
  bool break_glass = false;
  bool part2 = false;
  std::string outcome_desc;  // e.g. the re-disclosure notice reference; omitted when empty
};

// An AuditEvent as the store takes it: compact JSON without meta, with meta's place right after
// the id member (where fhir::WriteUnstamped puts it), and its search rows.
struct AuditRecord {
  std::string id;
  fhir::UnstampedJson json;
  std::vector<fhir::IndexEntry> index;
};

AuditRecord BuildRestEvent(const RestEvent& event);
AuditRecord BuildConsentDecision(const ConsentDecisionEvent& event);
AuditRecord BuildDisclosure(const DisclosureEvent& event);

// Standard base64 (RFC 4648, with padding), as FHIR base64Binary wants it.
std::string Base64Encode(std::string_view bytes);

}  // namespace carebridge::audit
