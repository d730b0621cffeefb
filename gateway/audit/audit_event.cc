#include "gateway/audit/audit_event.h"

#include <utility>

namespace carebridge::audit {
namespace {

using fhir::json::Value;

Value Str(std::string_view s) { return Value::String(std::string(s)); }

Value Coding(std::string_view system, std::string_view code, std::string_view display = {}) {
  Value c = Value::Object();
  c.Set("system", Str(system));
  c.Set("code", Str(code));
  if (!display.empty()) {
    c.Set("display", Str(display));
  }
  return c;
}

Value Concept(std::string_view system, std::string_view code, std::string_view display = {}) {
  Value cc = Value::Object();
  Value codings = Value::Array();
  codings.PushBack(Coding(system, code, display));
  cc.Set("coding", std::move(codings));
  return cc;
}

Value Ref(std::string_view reference, std::string_view display = {}) {
  Value r = Value::Object();
  r.Set("reference", Str(reference));
  if (!display.empty()) {
    r.Set("display", Str(display));
  }
  return r;
}

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

Value Network(std::string_view address) {
  Value n = Value::Object();
  n.Set("address", Str(address));
  n.Set("type", Str(NetworkType(address)));
  return n;
}

std::string OrganizationRef(const Requestor& r) { return "Organization/" + r.partner_id; }

// An agent: type (one coding), who, requestor, then optional network and purposeOfUse.
Value Agent(Value type, Value who, bool requestor) {
  Value a = Value::Object();
  a.Set("type", std::move(type));
  a.Set("who", std::move(who));
  a.Set("requestor", Value::Bool(requestor));
  return a;
}

void AddNetwork(Value& agent, std::string_view address) {
  if (!address.empty()) {
    agent.Set("network", Network(address));
  }
}

void AddPurpose(Value& agent, std::string_view purpose) {
  if (!purpose.empty()) {
    Value p = Value::Array();
    p.PushBack(Concept(kActReasonSystem, purpose));
    agent.Set("purposeOfUse", std::move(p));
  }
}

// The event's head: resourceType, id, extensions, type, subtype, action, recorded, outcome.
Value Head(std::string_view id, bool break_glass, bool part2) {
  Value e = Value::Object();
  e.Set("resourceType", Str("AuditEvent"));
  if (!id.empty()) {
    e.Set("id", Str(id));
  }
  if (break_glass || part2) {
    Value ext = Value::Array();
    for (auto [on, url] :
         {std::pair{break_glass, kBreakGlassExtension}, {part2, kPart2Extension}}) {
      if (on) {
        Value x = Value::Object();
        x.Set("url", Str(url));
        x.Set("valueBoolean", Value::Bool(true));
        ext.PushBack(std::move(x));
      }
    }
    e.Set("extension", std::move(ext));
  }
  return e;
}

void SetOutcome(Value& e, EventOutcome outcome, std::string_view desc) {
  e.Set("outcome", Str(std::to_string(static_cast<int>(outcome))));
  if (!desc.empty()) {
    e.Set("outcomeDesc", Str(desc));
  }
}

void SetPurposeOfEvent(Value& e, std::string_view purpose) {
  if (!purpose.empty()) {
    Value p = Value::Array();
    p.PushBack(Concept(kActReasonSystem, purpose));
    e.Set("purposeOfEvent", std::move(p));
  }
}

Value Source(const GatewayIdentity& g, std::string_view source_type, std::string_view display) {
  Value s = Value::Object();
  if (!g.site.empty()) {
    s.Set("site", Str(g.site));
  }
  s.Set("observer", Ref(g.reference, g.display));
  Value types = Value::Array();
  types.PushBack(Coding(kSecuritySourceTypeSystem, source_type, display));
  s.Set("type", std::move(types));
  return s;
}

Value PatientEntity(std::string_view patient_id) {
  Value en = Value::Object();
  en.Set("what", Ref("Patient/" + std::string(patient_id)));
  en.Set("type", Coding(kEntityTypeSystem, "1", "Person"));
  en.Set("role", Coding(kObjectRoleSystem, "1", "Patient"));
  return en;
}

Value SecurityLabels(const std::vector<std::string>& labels, bool part2) {
  Value out = Value::Array();
  for (const std::string& l : labels) {
    out.PushBack(Coding(kActCodeSystem, l));
  }
  if (part2) {
    out.PushBack(Coding(kActCodeSystem, "42CFRPart2"));
  }
  return out;
}

// A data entity: a resource of `ref.type`, role Domain Resource (object-role#4).
Value DataEntity(const ResourceRef& ref, const std::vector<std::string>& labels, bool part2) {
  Value en = Value::Object();
  en.Set("what", Ref(ref.Reference()));
  en.Set("type", Coding(kEntityTypeSystem, "2", "System Object"));
  en.Set("role", Coding(kObjectRoleSystem, "4", "Domain Resource"));
  Value sl = SecurityLabels(labels, part2);
  if (!sl.items().empty()) {
    en.Set("securityLabel", std::move(sl));
  }
  return en;
}

Value ConsentEntity(const ConsentRef& c) {
  ResourceRef ref{"Consent", c.id, c.version};
  Value en = Value::Object();
  en.Set("what", Ref(ref.Reference()));
  en.Set("type", Coding(kResourceTypesSystem, "Consent", "Consent"));
  en.Set("role", Coding(kObjectRoleSystem, "13", "Security Resource"));
  return en;
}

Value RequestIdEntity(std::string_view request_id) {
  Value en = Value::Object();
  Value what = Value::Object();
  Value ident = Value::Object();
  ident.Set("value", Str(request_id));
  what.Set("identifier", std::move(ident));
  en.Set("what", std::move(what));
  en.Set("type", Coding(kRequestIdEntitySystem, "XrequestId", "X-Request-Id"));
  return en;
}

// BALP's agent roles: where data flows from the client to the server (create, update, query
// parameters) the client is the Source Role ID and the server the Destination; where it flows
// back (read, vread, history) the roles swap. Delete: client Application, server Custodian.
struct AgentTypes {
  Value client;
  Value server;
};

AgentTypes RestAgentTypes(Interaction i) {
  Value source = Concept(kDicomSystem, "110153", "Source Role ID");
  Value destination = Concept(kDicomSystem, "110152", "Destination Role ID");
  switch (i) {
    case Interaction::kRead:
    case Interaction::kVread:
    case Interaction::kHistoryInstance:
    case Interaction::kHistoryType:
    case Interaction::kHistorySystem:
    case Interaction::kCapabilities:
      return {std::move(destination), std::move(source)};
    case Interaction::kDelete:
      return {Concept(kDicomSystem, "110150", "Application"),
              Concept(kProvenanceParticipantSystem, "custodian", "Custodian")};
    default:
      return {std::move(source), std::move(destination)};
  }
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

Value BuildRestEvent(const RestEvent& event) {
  Value e = Head(event.id, false, false);
  e.Set("type", Coding(kAuditEventTypeSystem, "rest", "Restful Operation"));
  Value subtype = Value::Array();
  subtype.PushBack(Coding(kRestfulInteractionSystem, InteractionCode(event.interaction)));
  e.Set("subtype", std::move(subtype));
  e.Set("action", Str(ActionOf(event.interaction)));
  e.Set("recorded", Str(event.recorded));
  SetOutcome(e, event.outcome, event.outcome_desc);
  SetPurposeOfEvent(e, event.requestor.purpose);

  AgentTypes types = RestAgentTypes(event.interaction);
  Value agents = Value::Array();
  Value client = Agent(std::move(types.client),
                       Ref(OrganizationRef(event.requestor), event.requestor.display), true);
  AddNetwork(client, event.requestor.remote_address);
  AddPurpose(client, event.requestor.purpose);
  agents.PushBack(std::move(client));
  Value server =
      Agent(std::move(types.server), Ref(event.gateway.reference, event.gateway.display), false);
  AddNetwork(server, event.gateway.address);
  agents.PushBack(std::move(server));
  e.Set("agent", std::move(agents));
  e.Set("source", Source(event.gateway, "4", "Application Server"));

  Value entities = Value::Array();
  if (event.patient_id && !event.patient_id->empty()) {
    entities.PushBack(PatientEntity(*event.patient_id));
  }
  if (event.resource) {
    entities.PushBack(DataEntity(*event.resource, {}, false));
  }
  if (event.query) {
    Value q = Value::Object();
    q.Set("type", Coding(kEntityTypeSystem, "2", "System Object"));
    q.Set("role", Coding(kObjectRoleSystem, "24", "Query"));
    std::string description = event.resource_type;
    description += '?';
    description += *event.query;
    q.Set("description", Str(description));
    q.Set("query", Str(Base64Encode(*event.query)));
    entities.PushBack(std::move(q));
  } else if (!event.resource && !event.resource_type.empty()) {
    // Type-level interactions without a query (type history): name the type.
    Value t = Value::Object();
    t.Set("type", Coding(kResourceTypesSystem, event.resource_type, event.resource_type));
    t.Set("role", Coding(kObjectRoleSystem, "4", "Domain Resource"));
    entities.PushBack(std::move(t));
  }
  if (!event.requestor.request_id.empty()) {
    entities.PushBack(RequestIdEntity(event.requestor.request_id));
  }
  if (!entities.items().empty()) {
    e.Set("entity", std::move(entities));
  }
  return e;
}

Value BuildConsentDecision(const ConsentDecisionEvent& event) {
  Value e = Head(event.id, event.break_glass, event.part2);
  e.Set("type", Coding(kDicomSystem, "110113", "Security Alert"));
  Value subtype = Value::Array();
  subtype.PushBack(Coding(kAuthZSubTypeSystem, "AuthZ-Consent",
                          "Authorization Decision using Roles and Consent"));
  e.Set("subtype", std::move(subtype));
  e.Set("action", Str("E"));
  e.Set("recorded", Str(event.recorded));
  std::string desc = event.explanation;
  if (event.break_glass) {
    desc = "Break-the-glass (ETREAT) override of a deny. " + desc;
  }
  if (event.part2) {
    desc += desc.empty() ? "" : " ";
    desc += "42 CFR Part 2 data.";
  }
  SetOutcome(e, event.permit ? EventOutcome::kSuccess : EventOutcome::kSeriousFailure, desc);
  SetPurposeOfEvent(e, event.break_glass ? std::string_view("ETREAT") : event.recipient.purpose);

  Value agents = Value::Array();
  // user: the recipient partner, the requestor, with its purpose of use.
  Value user = Agent(Concept(kParticipationTypeSystem, "IRCP", "information recipient"),
                     Ref(OrganizationRef(event.recipient), event.recipient.display), true);
  AddPurpose(user, event.recipient.purpose);
  agents.PushBack(std::move(user));
  // client: the partner's system as seen on the network.
  if (!event.recipient.remote_address.empty()) {
    Value client = Agent(Concept(kDicomSystem, "110150", "Application"),
                         Ref(OrganizationRef(event.recipient), event.recipient.display), false);
    AddNetwork(client, event.recipient.remote_address);
    agents.PushBack(std::move(client));
  }
  // userorg: the partner organization.
  agents.PushBack(Agent(Concept(kRoleClassSystem, "PROV", "healthcare provider"),
                        Ref(OrganizationRef(event.recipient), event.recipient.display), false));
  // authorizer: the gateway's consent decision service (also the observer).
  agents.PushBack(Agent(Concept(kSecurityRoleTypeSystem, "authserver", "authorization server"),
                        Ref(event.gateway.reference, event.gateway.display), false));
  e.Set("agent", std::move(agents));
  e.Set("source", Source(event.gateway, "6", "Security Server"));

  Value entities = Value::Array();
  entities.PushBack(PatientEntity(event.patient_id));
  for (const ConsentRef& c : event.consents) {
    entities.PushBack(ConsentEntity(c));
  }
  for (const ResourceRef& d : event.data) {
    entities.PushBack(DataEntity(d, event.data_security_labels, event.part2));
  }
  if (!event.recipient.request_id.empty()) {
    entities.PushBack(RequestIdEntity(event.recipient.request_id));
  }
  e.Set("entity", std::move(entities));
  return e;
}

Value BuildDisclosure(const DisclosureEvent& event) {
  Value e = Head(event.id, event.break_glass, event.part2);
  e.Set("type", Coding(kDicomSystem, "110106", "Export"));
  Value subtype = Value::Array();
  subtype.PushBack(Coding(kLifecycleSystem, "disclose", "Disclose Record Lifecycle Event"));
  if (event.interaction) {
    subtype.PushBack(Coding(kRestfulInteractionSystem, InteractionCode(*event.interaction)));
  }
  e.Set("subtype", std::move(subtype));
  e.Set("action", Str("R"));
  e.Set("recorded", Str(event.recorded));
  std::string desc = event.outcome_desc;
  if (event.break_glass) {
    desc = "Break-the-glass (ETREAT) disclosure." + std::string(desc.empty() ? "" : " ") + desc;
  }
  SetOutcome(e, EventOutcome::kSuccess, desc);
  SetPurposeOfEvent(e, event.break_glass ? std::string_view("ETREAT") : event.recipient.purpose);

  Value agents = Value::Array();
  Value source = Agent(Concept(kDicomSystem, "110153", "Source Role ID"),
                       Ref(event.gateway.reference, event.gateway.display), false);
  AddNetwork(source, event.gateway.address);
  agents.PushBack(std::move(source));
  Value recipient = Agent(Concept(kDicomSystem, "110152", "Destination Role ID"),
                          Ref(OrganizationRef(event.recipient), event.recipient.display), true);
  AddNetwork(recipient, event.recipient.remote_address);
  AddPurpose(recipient, event.recipient.purpose);
  agents.PushBack(std::move(recipient));
  agents.PushBack(Agent(Concept(kSnomedSystem, "159541003", "Record keeping/library clerk"),
                        Ref(event.gateway.reference, event.gateway.display), false));
  // The patient authorized the disclosure through their consent(s).
  Value authorizer = Agent(Concept(kSnomedSystem, "429577009", "Patient Advocate"),
                           Ref("Patient/" + event.patient_id), false);
  if (!event.consents.empty()) {
    Value policy = Value::Array();
    for (const ConsentRef& c : event.consents) {
      policy.PushBack(Str(ResourceRef{"Consent", c.id, c.version}.Reference()));
    }
    authorizer.Set("policy", std::move(policy));
  }
  agents.PushBack(std::move(authorizer));
  e.Set("agent", std::move(agents));
  e.Set("source", Source(event.gateway, "4", "Application Server"));

  Value entities = Value::Array();
  entities.PushBack(PatientEntity(event.patient_id));
  for (const ResourceRef& d : event.data) {
    entities.PushBack(DataEntity(d, event.data_security_labels, event.part2));
  }
  for (const ConsentRef& c : event.consents) {
    entities.PushBack(ConsentEntity(c));
  }
  if (!event.recipient.request_id.empty()) {
    entities.PushBack(RequestIdEntity(event.recipient.request_id));
  }
  e.Set("entity", std::move(entities));
  return e;
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
