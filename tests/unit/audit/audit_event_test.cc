#include "gateway/audit/audit_event.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "fhir/json/json.h"
#include "fhir/outcome.h"
#include "fhir/resource/resource.h"
#include "fhir/search/search.h"
#include "gateway/audit/store_op.h"

namespace carebridge::audit {
namespace {

using fhir::json::Value;

Requestor Partner() {
  Requestor r;
  r.partner_id = "riverside-ehr";
  r.display = "Riverside EHR";
  r.remote_address = "192.0.2.10";
  r.purpose = "TREAT";
  return r;
}

GatewayIdentity Gateway() {
  GatewayIdentity g;
  g.site = "gateway.example.org";
  g.address = "198.51.100.1";
  return g;
}

std::vector<fhir::IndexEntry> Sorted(std::vector<fhir::IndexEntry> rows) {
  std::sort(rows.begin(), rows.end(), [](const fhir::IndexEntry& a, const fhir::IndexEntry& b) {
    return std::tie(a.param, a.system, a.value) < std::tie(b.param, b.system, b.value);
  });
  return rows;
}

// The record's JSON as a tree, checked on the way: it parses, its search rows are exactly what
// fhir::ExtractIndex finds in it, and the store's stamp puts meta where fhir::WriteUnstamped would.
Value Parsed(const AuditRecord& record) {
  std::string message;
  auto parsed = fhir::json::Parse(record.json.text, fhir::json::Limits{}, message);
  EXPECT_TRUE(parsed.has_value()) << message << "\n" << record.json.text;
  if (!parsed) {
    return Value::Object();
  }
  EXPECT_EQ(parsed->StringAt("id"), record.id);
  EXPECT_EQ(Sorted(record.index), Sorted(fhir::ExtractIndex("AuditEvent", *parsed)))
      << record.json.text;
  const store::VersionStamp stamp{record.id, 1, "2026-11-22T10:00:00.456Z"};
  store::WriteOp op = AuditWriteOp(record);
  EXPECT_EQ(op.render(stamp),
            fhir::Stamped(fhir::WriteUnstamped(*parsed), "1", stamp.last_updated));
  return std::move(*parsed);
}

void ExpectValid(const Value& v) {
  fhir::Outcome outcome;
  EXPECT_TRUE(fhir::ValidateResource(v, "AuditEvent", outcome)) << fhir::json::Write(v);
}

// The coding at `path` (object with system/code) or the first coding of a CodeableConcept.
const Value* FirstCoding(const Value& v) {
  if (const Value* c = v.Find("coding"); c != nullptr && !c->items().empty()) {
    return &c->items()[0];
  }
  return &v;
}

void ExpectCoding(const Value& v, std::string_view system, std::string_view code) {
  const Value* c = FirstCoding(v);
  EXPECT_EQ(c->StringAt("system"), system) << fhir::json::Write(v);
  EXPECT_EQ(c->StringAt("code"), code) << fhir::json::Write(v);
}

// The agent whose type has `code`.
const Value* AgentOfType(const Value& e, std::string_view code) {
  for (const Value& a : e.Find("agent")->items()) {
    if (FirstCoding(*a.Find("type"))->StringAt("code") == code) {
      return &a;
    }
  }
  return nullptr;
}

const Value* EntityWithRole(const Value& e, std::string_view role) {
  for (const Value& en : e.Find("entity")->items()) {
    if (const Value* r = en.Find("role"); r != nullptr && r->StringAt("code") == role) {
      return &en;
    }
  }
  return nullptr;
}

TEST(RestEvent, ReadHasBalpShape) {
  RestEvent ev;
  ev.id = "a1";
  ev.recorded = "2026-11-22T10:00:00.123Z";
  ev.interaction = Interaction::kRead;
  ev.gateway = Gateway();
  ev.requestor = Partner();
  ev.resource = ResourceRef{"CarePlan", "cp1", 3};
  ev.patient_id = "p1";
  Value e = Parsed(BuildRestEvent(ev));
  ExpectValid(e);
  EXPECT_EQ(e.StringAt("resourceType"), "AuditEvent");
  EXPECT_EQ(e.StringAt("id"), "a1");
  ExpectCoding(*e.Find("type"), kAuditEventTypeSystem, "rest");
  ExpectCoding(e.Find("subtype")->items()[0], kRestfulInteractionSystem, "read");
  EXPECT_EQ(e.StringAt("action"), "R");
  EXPECT_EQ(e.StringAt("recorded"), "2026-11-22T10:00:00.123Z");
  EXPECT_EQ(e.StringAt("outcome"), "0");
  EXPECT_EQ(e.Find("outcomeDesc"), nullptr);
  // Read: data flows to the client, the Destination Role ID.
  const Value* client = AgentOfType(e, "110152");
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->Find("who")->StringAt("reference"), "Organization/riverside-ehr");
  EXPECT_EQ(client->Find("who")->StringAt("display"), "Riverside EHR");
  EXPECT_TRUE(client->Find("requestor")->as_bool());
  EXPECT_EQ(client->Find("network")->StringAt("address"), "192.0.2.10");
  EXPECT_EQ(client->Find("network")->StringAt("type"), "2");
  ExpectCoding(client->Find("purposeOfUse")->items()[0], kActReasonSystem, "TREAT");
  const Value* server = AgentOfType(e, "110153");
  ASSERT_NE(server, nullptr);
  EXPECT_FALSE(server->Find("requestor")->as_bool());
  EXPECT_EQ(server->Find("who")->StringAt("reference"), "Device/carebridge");
  EXPECT_EQ(e.Find("source")->Find("observer")->StringAt("reference"), "Device/carebridge");
  EXPECT_EQ(e.Find("source")->StringAt("site"), "gateway.example.org");
  const Value* patient = EntityWithRole(e, "1");
  ASSERT_NE(patient, nullptr);
  EXPECT_EQ(patient->Find("what")->StringAt("reference"), "Patient/p1");
  ExpectCoding(*patient->Find("type"), kEntityTypeSystem, "1");
  const Value* data = EntityWithRole(e, "4");
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(data->Find("what")->StringAt("reference"), "CarePlan/cp1/_history/3");
  ExpectCoding(*data->Find("type"), kEntityTypeSystem, "2");
}

TEST(RestEvent, ActionsAndAgentRolesFollowTheInteraction) {
  struct Case {
    Interaction interaction;
    std::string_view code, action, client_type, server_type;
  };
  const Case cases[] = {
      {Interaction::kCreate, "create", "C", "110153", "110152"},
      {Interaction::kUpdate, "update", "U", "110153", "110152"},
      {Interaction::kDelete, "delete", "D", "110150", "custodian"},
      {Interaction::kVread, "vread", "R", "110152", "110153"},
      {Interaction::kHistoryInstance, "history-instance", "R", "110152", "110153"},
      {Interaction::kHistoryType, "history-type", "R", "110152", "110153"},
      {Interaction::kSearchType, "search-type", "E", "110153", "110152"},
      {Interaction::kTransaction, "transaction", "E", "110153", "110152"},
      {Interaction::kBatch, "batch", "E", "110153", "110152"},
  };
  for (const Case& c : cases) {
    RestEvent ev;
    ev.recorded = "2026-11-22T10:00:00Z";
    ev.interaction = c.interaction;
    ev.requestor = Partner();
    ev.resource_type = "Task";
    Value e = Parsed(BuildRestEvent(ev));
    SCOPED_TRACE(std::string(c.code));
    ExpectValid(e);
    ExpectCoding(e.Find("subtype")->items()[0], kRestfulInteractionSystem, c.code);
    EXPECT_EQ(e.StringAt("action"), c.action);
    const auto& agents = e.Find("agent")->items();
    ASSERT_EQ(agents.size(), 2U);
    EXPECT_EQ(FirstCoding(*agents[0].Find("type"))->StringAt("code"), c.client_type);
    EXPECT_EQ(FirstCoding(*agents[1].Find("type"))->StringAt("code"), c.server_type);
  }
}

TEST(RestEvent, SearchRecordsTheQueryInBase64) {
  RestEvent ev;
  ev.recorded = "2026-11-22T10:00:00Z";
  ev.interaction = Interaction::kSearchType;
  ev.requestor = Partner();
  ev.resource_type = "Observation";
  ev.query = "patient=p1&code=http://loinc.org|1234-5";
  ev.patient_id = "p1";
  ev.requestor.request_id = "req-42";
  Value e = Parsed(BuildRestEvent(ev));
  ExpectValid(e);
  EXPECT_EQ(e.StringAt("action"), "E");
  const Value* q = EntityWithRole(e, "24");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->StringAt("query"), Base64Encode("patient=p1&code=http://loinc.org|1234-5"));
  EXPECT_EQ(q->StringAt("description"), "Observation?patient=p1&code=http://loinc.org|1234-5");
  EXPECT_EQ(q->Find("what"), nullptr);
  ASSERT_NE(EntityWithRole(e, "1"), nullptr);
  const Value& last = e.Find("entity")->items().back();
  ExpectCoding(*last.Find("type"), kRequestIdEntitySystem, "XrequestId");
  EXPECT_EQ(last.Find("what")->Find("identifier")->StringAt("value"), "req-42");
}

TEST(RestEvent, FailureCarriesOutcomeDesc) {
  RestEvent ev;
  ev.recorded = "2026-11-22T10:00:00Z";
  ev.interaction = Interaction::kCreate;
  ev.requestor = Partner();
  ev.resource = ResourceRef{"Task", "t1", std::nullopt};
  ev.outcome = EventOutcome::kMinorFailure;
  ev.outcome_desc = "Task.status: required";
  Value e = Parsed(BuildRestEvent(ev));
  ExpectValid(e);
  EXPECT_EQ(e.StringAt("outcome"), "4");
  EXPECT_EQ(e.StringAt("outcomeDesc"), "Task.status: required");
  EXPECT_EQ(EntityWithRole(e, "4")->Find("what")->StringAt("reference"), "Task/t1");
}

TEST(RestEvent, IndexesForPrivacyOfficerSearch) {
  RestEvent ev;
  ev.recorded = "2026-11-22T10:00:00Z";
  ev.interaction = Interaction::kRead;
  ev.requestor = Partner();
  ev.resource = ResourceRef{"CarePlan", "cp1", 1};
  ev.patient_id = "p1";
  auto index = BuildRestEvent(ev).index;
  auto has = [&](std::string_view param) {
    for (const auto& row : index) {
      if (row.param == param) {
        return true;
      }
    }
    return false;
  };
  for (std::string_view p : {"date", "type", "subtype", "action", "outcome", "agent", "entity",
                             "patient", "source", "purpose"}) {
    EXPECT_TRUE(has(p)) << p;
  }
}

TEST(ConsentDecision, PermitHasAuthZConsentShape) {
  ConsentDecisionEvent ev;
  ev.id = "d1";
  ev.recorded = "2026-11-22T10:00:00.000Z";
  ev.gateway = Gateway();
  ev.recipient = Partner();
  ev.patient_id = "p1";
  ev.consents = {{"c1", 2}, {"c2", std::nullopt}};
  ev.data = {{"CarePlan", "cp1", 3}};
  ev.permit = true;
  ev.explanation = "permit by Consent/c1/_history/2 provision[0].provision[1] (deny wins)";
  Value e = Parsed(BuildConsentDecision(ev));
  ExpectValid(e);
  ExpectCoding(*e.Find("type"), kDicomSystem, "110113");
  ExpectCoding(e.Find("subtype")->items()[0], kAuthZSubTypeSystem, "AuthZ-Consent");
  EXPECT_EQ(e.StringAt("action"), "E");
  EXPECT_EQ(e.StringAt("outcome"), "0");
  EXPECT_EQ(e.StringAt("outcomeDesc"), ev.explanation);
  EXPECT_EQ(e.Find("extension"), nullptr);
  const Value* user = AgentOfType(e, "IRCP");
  ASSERT_NE(user, nullptr);
  ExpectCoding(*user->Find("type"), kParticipationTypeSystem, "IRCP");
  EXPECT_TRUE(user->Find("requestor")->as_bool());
  EXPECT_EQ(user->Find("who")->StringAt("reference"), "Organization/riverside-ehr");
  ExpectCoding(user->Find("purposeOfUse")->items()[0], kActReasonSystem, "TREAT");
  const Value* authorizer = AgentOfType(e, "authserver");
  ASSERT_NE(authorizer, nullptr);
  ExpectCoding(*authorizer->Find("type"), kSecurityRoleTypeSystem, "authserver");
  EXPECT_FALSE(authorizer->Find("requestor")->as_bool());
  EXPECT_EQ(authorizer->Find("who")->StringAt("reference"),
            e.Find("source")->Find("observer")->StringAt("reference"));
  ASSERT_NE(AgentOfType(e, "PROV"), nullptr);
  const Value* client = AgentOfType(e, "110150");
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->Find("network")->StringAt("address"), "192.0.2.10");
  ExpectCoding(e.Find("source")->Find("type")->items()[0], kSecuritySourceTypeSystem, "6");

  const auto& entities = e.Find("entity")->items();
  ASSERT_EQ(entities.size(), 4U);
  EXPECT_EQ(entities[0].Find("what")->StringAt("reference"), "Patient/p1");
  ExpectCoding(*entities[0].Find("role"), kObjectRoleSystem, "1");
  EXPECT_EQ(entities[1].Find("what")->StringAt("reference"), "Consent/c1/_history/2");
  ExpectCoding(*entities[1].Find("type"), kResourceTypesSystem, "Consent");
  EXPECT_EQ(entities[2].Find("what")->StringAt("reference"), "Consent/c2");
  EXPECT_EQ(entities[3].Find("what")->StringAt("reference"), "CarePlan/cp1/_history/3");
}

TEST(ConsentDecision, DenyIsASeriousFailureWithTheExplanation) {
  ConsentDecisionEvent ev;
  ev.recorded = "2026-11-22T10:00:00Z";
  ev.recipient = Partner();
  ev.recipient.purpose = "HMARKT";
  ev.patient_id = "p1";
  ev.data = {{"Condition", "cond1", 1}};
  ev.permit = false;
  ev.explanation = "deny: no active consent (opt-in policy)";
  Value e = Parsed(BuildConsentDecision(ev));
  ExpectValid(e);
  EXPECT_EQ(e.StringAt("outcome"), "8");
  EXPECT_EQ(e.StringAt("outcomeDesc"), "deny: no active consent (opt-in policy)");
  ExpectCoding(e.Find("purposeOfEvent")->items()[0], kActReasonSystem, "HMARKT");
}

TEST(ConsentDecision, BreakGlassAndPart2AreFlagged) {
  ConsentDecisionEvent ev;
  ev.recorded = "2026-11-22T10:00:00Z";
  ev.recipient = Partner();
  ev.recipient.purpose = "ETREAT";
  ev.patient_id = "p1";
  ev.data = {{"Condition", "sud1", 1}};
  ev.data_security_labels = {"ETH"};
  ev.permit = true;
  ev.break_glass = true;
  ev.part2 = true;
  ev.explanation = "deny overridden";
  Value e = Parsed(BuildConsentDecision(ev));
  ExpectValid(e);
  const auto& ext = e.Find("extension")->items();
  ASSERT_EQ(ext.size(), 2U);
  EXPECT_EQ(ext[0].StringAt("url"), kBreakGlassExtension);
  EXPECT_TRUE(ext[0].Find("valueBoolean")->as_bool());
  EXPECT_EQ(ext[1].StringAt("url"), kPart2Extension);
  ExpectCoding(e.Find("purposeOfEvent")->items()[0], kActReasonSystem, "ETREAT");
  EXPECT_NE(e.StringAt("outcomeDesc").find("Break-the-glass"), std::string_view::npos);
  EXPECT_NE(e.StringAt("outcomeDesc").find("Part 2"), std::string_view::npos);
  const Value& data = e.Find("entity")->items()[1];
  const auto& labels = data.Find("securityLabel")->items();
  ASSERT_EQ(labels.size(), 2U);
  EXPECT_EQ(labels[0].StringAt("code"), "ETH");
  EXPECT_EQ(labels[1].StringAt("code"), "42CFRPart2");
  EXPECT_EQ(labels[1].StringAt("system"), kActCodeSystem);
}

TEST(Disclosure, HasPrivacyDisclosureShape) {
  DisclosureEvent ev;
  ev.id = "x1";
  ev.recorded = "2026-11-22T10:00:00Z";
  ev.gateway = Gateway();
  ev.recipient = Partner();
  ev.patient_id = "p1";
  ev.consents = {{"c1", 4}};
  ev.data = {{"ServiceRequest", "sr1", 1}, {"Task", "t1", 2}};
  ev.interaction = Interaction::kRead;
  Value e = Parsed(BuildDisclosure(ev));
  ExpectValid(e);
  ExpectCoding(*e.Find("type"), kDicomSystem, "110106");
  const auto& subtype = e.Find("subtype")->items();
  ASSERT_EQ(subtype.size(), 2U);
  ExpectCoding(subtype[0], kLifecycleSystem, "disclose");
  ExpectCoding(subtype[1], kRestfulInteractionSystem, "read");
  EXPECT_EQ(e.StringAt("action"), "R");
  EXPECT_EQ(e.StringAt("outcome"), "0");
  ExpectCoding(e.Find("purposeOfEvent")->items()[0], kActReasonSystem, "TREAT");
  const Value* source = AgentOfType(e, "110153");
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(source->Find("who")->StringAt("reference"), "Device/carebridge");
  EXPECT_EQ(source->Find("network")->StringAt("address"), "198.51.100.1");
  const Value* recipient = AgentOfType(e, "110152");
  ASSERT_NE(recipient, nullptr);
  EXPECT_EQ(recipient->Find("who")->StringAt("reference"), "Organization/riverside-ehr");
  EXPECT_EQ(recipient->Find("network")->StringAt("address"), "192.0.2.10");
  const Value* custodian = AgentOfType(e, "159541003");
  ASSERT_NE(custodian, nullptr);
  ExpectCoding(*custodian->Find("type"), kSnomedSystem, "159541003");
  const Value* authorizer = AgentOfType(e, "429577009");
  ASSERT_NE(authorizer, nullptr);
  EXPECT_EQ(authorizer->Find("who")->StringAt("reference"), "Patient/p1");
  EXPECT_EQ(authorizer->Find("policy")->items()[0].text(), "Consent/c1/_history/4");
  const auto& entities = e.Find("entity")->items();
  ASSERT_EQ(entities.size(), 4U);
  EXPECT_EQ(entities[0].Find("what")->StringAt("reference"), "Patient/p1");
  EXPECT_EQ(entities[1].Find("what")->StringAt("reference"), "ServiceRequest/sr1/_history/1");
  EXPECT_EQ(entities[2].Find("what")->StringAt("reference"), "Task/t1/_history/2");
  EXPECT_EQ(entities[3].Find("what")->StringAt("reference"), "Consent/c1/_history/4");
}

TEST(Disclosure, BreakGlassPart2) {
  DisclosureEvent ev;
  ev.recorded = "2026-11-22T10:00:00Z";
  ev.recipient = Partner();
  ev.recipient.purpose = "ETREAT";
  ev.patient_id = "p1";
  ev.data = {{"Condition", "sud1", 1}};
  ev.break_glass = true;
  ev.part2 = true;
  ev.outcome_desc = "re-disclosure notice attached";
  Value e = Parsed(BuildDisclosure(ev));
  ExpectValid(e);
  EXPECT_EQ(e.Find("extension")->items().size(), 2U);
  EXPECT_EQ(e.StringAt("outcomeDesc"),
            "Break-the-glass (ETREAT) disclosure. re-disclosure notice attached");
}

TEST(Base64, Rfc4648Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode(std::string("\xff\xfe", 2)), "//4=");
}

}  // namespace
}  // namespace carebridge::audit
