#include "gateway/audit/audit_event.h"

#include <algorithm>
#include <span>
#include <utility>

#include "fhir/json/json.h"

namespace carebridge::audit {
namespace {

using fhir::IndexEntry;
using fhir::ParamType;

// Network address type: 2 IP address, 1 machine name, 5 URI.
std::string_view NetworkType(std::string_view address) {
  if (address.find("://") != std::string_view::npos) {
    return "5";
  }
  bool ip = !address.empty();
  for (char c : address) {
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex && c != '.' && c != ':' && c != '[' && c != ']' && c != '%') {
      ip = false;
      break;
    }
  }
  return ip ? "2" : "1";
}

std::string OrganizationRef(const Requestor& r) { return "Organization/" + r.partner_id; }

struct Code {
  std::string_view system;
  std::string_view code;
  std::string_view display;
};

// One agent: type (a CodeableConcept of one coding), who, requestor, then what is set of network,
// purposeOfUse and policy.
struct AgentSpec {
  Code type;
  std::string_view who;
  std::string_view who_display;
  bool requestor = false;
  std::string_view network_address;
  std::string_view purpose;
  const std::vector<ConsentRef>* policy = nullptr;
};

// One entity: what (a reference, or an X-Request-Id identifier), type, role, security labels,
// and for a query its description and base64 query.
struct EntitySpec {
  std::string_view what;
  std::string_view what_identifier;
  Code type;
  std::optional<Code> role;
  const std::vector<std::string>* labels = nullptr;
  bool part2_label = false;
  std::string_view description;
  std::string_view query_base64;
};

// Writes one AuditEvent as text and collects the search rows fhir::ExtractIndex would make of it
// (see the AuditEvent parameters in fhir/search/params.cc).
class EventWriter {
 public:
  EventWriter(std::string_view id, bool break_glass, bool part2) : w_(record_.json.text) {
    record_.json.text.reserve(2048);
    record_.id = std::string(id);
    w_.BeginObject().Member("resourceType", "AuditEvent");
    if (!id.empty()) {
      w_.Member("id", id);
    }
    record_.json.meta_at = w_.size();
    if (break_glass || part2) {
      w_.Key("extension").BeginArray();
      for (auto [on, url] :
           {std::pair{break_glass, kBreakGlassExtension}, {part2, kPart2Extension}}) {
        if (on) {
          w_.BeginObject().Member("url", url).Key("valueBoolean").Bool(true).EndObject();
        }
      }
      w_.EndArray();
    }
  }

  // type, subtype, action, recorded, outcome, outcomeDesc, purposeOfEvent: in this order.
  void Classify(Code type, std::span<const Code> subtypes, std::string_view action,
                std::string_view recorded, EventOutcome outcome, std::string_view outcome_desc,
                std::string_view purpose) {
    w_.Key("type");
    Coding(type);
    Token("type", type);
    w_.Key("subtype").BeginArray();
    for (const Code& subtype : subtypes) {
      Coding(subtype);
      Token("subtype", subtype);
    }
    w_.EndArray();
    w_.Member("action", action);
    Token("action", {"", action, ""});
    w_.Member("recorded", recorded);
    if (auto row = fhir::DateIndexEntry("date", recorded)) {
      Add(std::move(*row));
    }
    const std::string outcome_code = std::to_string(static_cast<int>(outcome));
    w_.Member("outcome", outcome_code);
    Token("outcome", {"", outcome_code, ""});
    if (!outcome_desc.empty()) {
      w_.Member("outcomeDesc", outcome_desc);
    }
    if (!purpose.empty()) {
      w_.Key("purposeOfEvent").BeginArray();
      Purpose(purpose);
      w_.EndArray();
    }
  }

  void BeginAgents() { w_.Key("agent").BeginArray(); }
  void Agent(const AgentSpec& a) {
    w_.BeginObject().Key("type").BeginObject().Key("coding").BeginArray();
    Coding(a.type);
    w_.EndArray().EndObject();
    w_.Key("who");
    Reference(a.who, a.who_display);
    References("agent", a.who);
    w_.Key("requestor").Bool(a.requestor);
    if (!a.network_address.empty()) {
      w_.Key("network")
          .BeginObject()
          .Member("address", a.network_address)
          .Member("type", NetworkType(a.network_address))
          .EndObject();
    }
    if (!a.purpose.empty()) {
      w_.Key("purposeOfUse").BeginArray();
      Purpose(a.purpose);
      w_.EndArray();
    }
    if (a.policy != nullptr && !a.policy->empty()) {
      w_.Key("policy").BeginArray();
      for (const ConsentRef& c : *a.policy) {
        w_.String(ResourceRef{"Consent", c.id, c.version}.Reference());
      }
      w_.EndArray();
    }
    w_.EndObject();
  }
  void EndAgents() { w_.EndArray(); }

  void Source(const GatewayIdentity& g, Code type) {
    w_.Key("source").BeginObject();
    if (!g.site.empty()) {
      w_.Member("site", g.site);
    }
    w_.Key("observer");
    Reference(g.reference, g.display);
    if (auto row = fhir::ReferenceIndexEntry("source", g.reference)) {
      Add(std::move(*row));
    }
    w_.Key("type").BeginArray();
    Coding(type);
    w_.EndArray().EndObject();
  }

  void BeginEntities() { w_.Key("entity").BeginArray(); }
  void Entity(const EntitySpec& e) {
    w_.BeginObject();
    if (!e.what.empty()) {
      w_.Key("what");
      Reference(e.what, {});
      References("entity", e.what);
    } else if (!e.what_identifier.empty()) {
      w_.Key("what")
          .BeginObject()
          .Key("identifier")
          .BeginObject()
          .Member("value", e.what_identifier)
          .EndObject()
          .EndObject();
    }
    w_.Key("type");
    Coding(e.type);
    Token("entity-type", e.type);
    if (e.role) {
      w_.Key("role");
      Coding(*e.role);
    }
    if (e.labels != nullptr && (!e.labels->empty() || e.part2_label)) {
      w_.Key("securityLabel").BeginArray();
      for (const std::string& label : *e.labels) {
        Coding({kActCodeSystem, label, ""});
      }
      if (e.part2_label) {
        Coding({kActCodeSystem, "42CFRPart2", ""});
      }
      w_.EndArray();
    }
    if (!e.description.empty()) {
      w_.Member("description", e.description);
    }
    if (!e.query_base64.empty()) {
      w_.Member("query", e.query_base64);
    }
    w_.EndObject();
  }
  void EndEntities() { w_.EndArray(); }
  // An event may have no entity at all: the array is written only when one came.
  void EntitiesIfAny(std::span<const EntitySpec> entities) {
    if (entities.empty()) {
      return;
    }
    BeginEntities();
    for (const EntitySpec& e : entities) {
      Entity(e);
    }
    EndEntities();
  }

  AuditRecord Finish() && {
    w_.EndObject();
    return std::move(record_);
  }

 private:
  void Coding(const Code& c) {
    w_.BeginObject().Member("system", c.system).Member("code", c.code);
    if (!c.display.empty()) {
      w_.Member("display", c.display);
    }
    w_.EndObject();
  }

  void Reference(std::string_view reference, std::string_view display) {
    w_.BeginObject().Member("reference", reference);
    if (!display.empty()) {
      w_.Member("display", display);
    }
    w_.EndObject();
  }

  // A v3-ActReason CodeableConcept, searchable as `purpose`.
  void Purpose(std::string_view code) {
    w_.BeginObject().Key("coding").BeginArray();
    Coding({kActReasonSystem, code, ""});
    w_.EndArray().EndObject();
    Token("purpose", {kActReasonSystem, code, ""});
  }

  // agent.who and entity.what: their own parameter, and `patient` when they name a Patient.
  void References(std::string_view param, std::string_view reference) {
    if (auto row = fhir::ReferenceIndexEntry(param, reference)) {
      Add(std::move(*row));
    }
    if (auto row = fhir::ReferenceIndexEntry("patient", reference, "Patient")) {
      Add(std::move(*row));
    }
  }

  void Token(std::string_view param, const Code& c) {
    if (!c.code.empty()) {
      Add(IndexEntry{std::string(param), ParamType::kToken, std::string(c.system),
                     std::string(c.code)});
    }
  }

  // ExtractIndex keeps one row per distinct value of a parameter.
  void Add(IndexEntry row) {
    if (std::find(record_.index.begin(), record_.index.end(), row) == record_.index.end()) {
      record_.index.push_back(std::move(row));
    }
  }

  AuditRecord record_;
  fhir::json::TextWriter w_;
};

constexpr Code kPatientEntityType{kEntityTypeSystem, "1", "Person"};
constexpr Code kPatientRole{kObjectRoleSystem, "1", "Patient"};
constexpr Code kSystemObject{kEntityTypeSystem, "2", "System Object"};
constexpr Code kDomainResource{kObjectRoleSystem, "4", "Domain Resource"};
constexpr Code kRequestIdType{kRequestIdEntitySystem, "XrequestId", "X-Request-Id"};

EntitySpec PatientEntity(const std::string& patient_reference) {
  return {.what = patient_reference, .type = kPatientEntityType, .role = kPatientRole};
}

EntitySpec DataEntity(const std::string& reference, const std::vector<std::string>& labels,
                      bool part2) {
  return {.what = reference,
          .type = kSystemObject,
          .role = kDomainResource,
          .labels = &labels,
          .part2_label = part2};
}

EntitySpec ConsentEntity(const std::string& reference) {
  return {.what = reference,
          .type = {kResourceTypesSystem, "Consent", "Consent"},
          .role = Code{kObjectRoleSystem, "13", "Security Resource"}};
}

EntitySpec RequestIdEntity(std::string_view request_id) {
  return {.what_identifier = request_id, .type = kRequestIdType};
}

// BALP's agent roles: where data flows from the client to the server (create, update, query
// parameters) the client is the Source Role ID and the server the Destination; where it flows
// back (read, vread, history) the roles swap. Delete: client Application, server Custodian.
struct AgentTypes {
  Code client;
  Code server;
};

AgentTypes RestAgentTypes(Interaction i) {
  constexpr Code source{kDicomSystem, "110153", "Source Role ID"};
  constexpr Code destination{kDicomSystem, "110152", "Destination Role ID"};
  switch (i) {
    case Interaction::kRead:
    case Interaction::kVread:
    case Interaction::kHistoryInstance:
    case Interaction::kHistoryType:
    case Interaction::kHistorySystem:
    case Interaction::kCapabilities:
      return {destination, source};
    case Interaction::kDelete:
      return {{kDicomSystem, "110150", "Application"},
              {kProvenanceParticipantSystem, "custodian", "Custodian"}};
    default:
      return {source, destination};
  }
}

std::vector<std::string> References(const std::vector<ResourceRef>& refs) {
  std::vector<std::string> out;
  out.reserve(refs.size());
  for (const ResourceRef& r : refs) {
    out.push_back(r.Reference());
  }
  return out;
}

std::vector<std::string> ConsentReferences(const std::vector<ConsentRef>& consents) {
  std::vector<std::string> out;
  out.reserve(consents.size());
  for (const ConsentRef& c : consents) {
    out.push_back(ResourceRef{"Consent", c.id, c.version}.Reference());
  }
  return out;
}

}  // namespace

std::string_view InteractionCode(Interaction interaction) {
  switch (interaction) {
    case Interaction::kRead:
      return "read";
    case Interaction::kVread:
      return "vread";
    case Interaction::kUpdate:
      return "update";
    case Interaction::kPatch:
      return "patch";
    case Interaction::kDelete:
      return "delete";
    case Interaction::kHistoryInstance:
      return "history-instance";
    case Interaction::kHistoryType:
      return "history-type";
    case Interaction::kHistorySystem:
      return "history-system";
    case Interaction::kCreate:
      return "create";
    case Interaction::kSearchType:
      return "search-type";
    case Interaction::kSearchSystem:
      return "search-system";
    case Interaction::kCapabilities:
      return "capabilities";
    case Interaction::kTransaction:
      return "transaction";
    case Interaction::kBatch:
      return "batch";
    case Interaction::kOperation:
      return "operation";
  }
  return "operation";
}

std::string_view ActionOf(Interaction interaction) {
  switch (interaction) {
    case Interaction::kCreate:
      return "C";
    case Interaction::kRead:
    case Interaction::kVread:
    case Interaction::kHistoryInstance:
    case Interaction::kHistoryType:
    case Interaction::kHistorySystem:
    case Interaction::kCapabilities:
      return "R";
    case Interaction::kUpdate:
    case Interaction::kPatch:
      return "U";
    case Interaction::kDelete:
      return "D";
    default:
      return "E";
  }
}

std::string ResourceRef::Reference() const {
  std::string out = type + "/" + id;
  if (version) {
    out += "/_history/" + std::to_string(*version);
  }
  return out;
}

AuditRecord BuildRestEvent(const RestEvent& event) {
  EventWriter w(event.id, false, false);
  const Code subtype{kRestfulInteractionSystem, InteractionCode(event.interaction), ""};
  w.Classify({kAuditEventTypeSystem, "rest", "Restful Operation"}, std::span(&subtype, 1),
             ActionOf(event.interaction), event.recorded, event.outcome, event.outcome_desc,
             event.requestor.purpose);

  const AgentTypes types = RestAgentTypes(event.interaction);
  const std::string organization = OrganizationRef(event.requestor);
  w.BeginAgents();
  w.Agent({.type = types.client,
           .who = organization,
           .who_display = event.requestor.display,
           .requestor = true,
           .network_address = event.requestor.remote_address,
           .purpose = event.requestor.purpose});
  w.Agent({.type = types.server,
           .who = event.gateway.reference,
           .who_display = event.gateway.display,
           .network_address = event.gateway.address});
  w.EndAgents();
  w.Source(event.gateway, {kSecuritySourceTypeSystem, "4", "Application Server"});

  std::vector<EntitySpec> entities;
  std::string patient;
  if (event.patient_id && !event.patient_id->empty()) {
    patient = "Patient/" + *event.patient_id;
    entities.push_back(PatientEntity(patient));
  }
  std::string resource;
  static const std::vector<std::string> kNoLabels;
  if (event.resource) {
    resource = event.resource->Reference();
    entities.push_back(DataEntity(resource, kNoLabels, false));
  }
  std::string description;
  std::string query;
  if (event.query) {
    description = event.resource_type + '?' + *event.query;
    query = Base64Encode(*event.query);
    entities.push_back({.type = kSystemObject,
                        .role = Code{kObjectRoleSystem, "24", "Query"},
                        .description = description,
                        .query_base64 = query});
  } else if (!event.resource && !event.resource_type.empty()) {
    // Type-level interactions without a query (type history): name the type.
    entities.push_back({.type = {kResourceTypesSystem, event.resource_type, event.resource_type},
                        .role = kDomainResource});
  }
  if (!event.requestor.request_id.empty()) {
    entities.push_back(RequestIdEntity(event.requestor.request_id));
  }
  w.EntitiesIfAny(entities);
  return std::move(w).Finish();
}

AuditRecord BuildConsentDecision(const ConsentDecisionEvent& event) {
  EventWriter w(event.id, event.break_glass, event.part2);
  std::string desc = event.explanation;
  if (event.break_glass) {
    desc = "Break-the-glass (ETREAT) override of a deny. " + desc;
  }
  if (event.part2) {
    desc += desc.empty() ? "" : " ";
    desc += "42 CFR Part 2 data.";
  }
  const Code subtype{kAuthZSubTypeSystem, "AuthZ-Consent",
                     "Authorization Decision using Roles and Consent"};
  w.Classify({kDicomSystem, "110113", "Security Alert"}, std::span(&subtype, 1), "E",
             event.recorded, event.permit ? EventOutcome::kSuccess : EventOutcome::kSeriousFailure,
             desc, event.break_glass ? std::string_view("ETREAT") : event.recipient.purpose);

  const std::string organization = OrganizationRef(event.recipient);
  const std::string_view display = event.recipient.display;
  w.BeginAgents();
  // user: the recipient partner, the requestor, with its purpose of use.
  w.Agent({.type = {kParticipationTypeSystem, "IRCP", "information recipient"},
           .who = organization,
           .who_display = display,
           .requestor = true,
           .purpose = event.recipient.purpose});
  // client: the partner's system as seen on the network.
  if (!event.recipient.remote_address.empty()) {
    w.Agent({.type = {kDicomSystem, "110150", "Application"},
             .who = organization,
             .who_display = display,
             .network_address = event.recipient.remote_address});
  }
  // userorg: the partner organization.
  w.Agent({.type = {kRoleClassSystem, "PROV", "healthcare provider"},
           .who = organization,
           .who_display = display});
  // authorizer: the gateway's consent decision service (also the observer).
  w.Agent({.type = {kSecurityRoleTypeSystem, "authserver", "authorization server"},
           .who = event.gateway.reference,
           .who_display = event.gateway.display});
  w.EndAgents();
  w.Source(event.gateway, {kSecuritySourceTypeSystem, "6", "Security Server"});

  const std::string patient = "Patient/" + event.patient_id;
  const std::vector<std::string> consents = ConsentReferences(event.consents);
  const std::vector<std::string> data = References(event.data);
  w.BeginEntities();
  w.Entity(PatientEntity(patient));
  for (const std::string& c : consents) {
    w.Entity(ConsentEntity(c));
  }
  for (const std::string& d : data) {
    w.Entity(DataEntity(d, event.data_security_labels, event.part2));
  }
  if (!event.recipient.request_id.empty()) {
    w.Entity(RequestIdEntity(event.recipient.request_id));
  }
  w.EndEntities();
  return std::move(w).Finish();
}

AuditRecord BuildDisclosure(const DisclosureEvent& event) {
  EventWriter w(event.id, event.break_glass, event.part2);
  std::vector<Code> subtypes{{kLifecycleSystem, "disclose", "Disclose Record Lifecycle Event"}};
  if (event.interaction) {
    subtypes.push_back({kRestfulInteractionSystem, InteractionCode(*event.interaction), ""});
  }
  std::string desc = event.outcome_desc;
  if (event.break_glass) {
    desc = "Break-the-glass (ETREAT) disclosure." + std::string(desc.empty() ? "" : " ") + desc;
  }
  w.Classify({kDicomSystem, "110106", "Export"}, subtypes, "R", event.recorded,
             EventOutcome::kSuccess, desc,
             event.break_glass ? std::string_view("ETREAT") : event.recipient.purpose);

  const std::string patient = "Patient/" + event.patient_id;
  w.BeginAgents();
  w.Agent({.type = {kDicomSystem, "110153", "Source Role ID"},
           .who = event.gateway.reference,
           .who_display = event.gateway.display,
           .network_address = event.gateway.address});
  const std::string organization = OrganizationRef(event.recipient);
  w.Agent({.type = {kDicomSystem, "110152", "Destination Role ID"},
           .who = organization,
           .who_display = event.recipient.display,
           .requestor = true,
           .network_address = event.recipient.remote_address,
           .purpose = event.recipient.purpose});
  w.Agent({.type = {kSnomedSystem, "159541003", "Record keeping/library clerk"},
           .who = event.gateway.reference,
           .who_display = event.gateway.display});
  // The patient authorized the disclosure through their consent(s).
  w.Agent({.type = {kSnomedSystem, "429577009", "Patient Advocate"},
           .who = patient,
           .policy = &event.consents});
  w.EndAgents();
  w.Source(event.gateway, {kSecuritySourceTypeSystem, "4", "Application Server"});

  const std::vector<std::string> data = References(event.data);
  const std::vector<std::string> consents = ConsentReferences(event.consents);
  w.BeginEntities();
  w.Entity(PatientEntity(patient));
  for (const std::string& d : data) {
    w.Entity(DataEntity(d, event.data_security_labels, event.part2));
  }
  for (const std::string& c : consents) {
    w.Entity(ConsentEntity(c));
  }
  if (!event.recipient.request_id.empty()) {
    w.Entity(RequestIdEntity(event.recipient.request_id));
  }
  w.EndEntities();
  return std::move(w).Finish();
}

std::string Base64Encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    auto n = (static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16) |
             (static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8) |
             static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 2]));
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    unsigned n = static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) {
      n |= static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    }
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace carebridge::audit
