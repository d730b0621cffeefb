// E-referrals through the real gateway: routing a ServiceRequest to an agency (with the
// quick-start's SDOHCC routes), the consent check at routing time, and the referral Task state
// machine as each side sees it (409 with an OperationOutcome for an illegal move). Agencies here
// have no push endpoint, so they poll, as in the quick-start.

#include <map>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace carebridge::testing {
namespace {

constexpr const char* kSdoh =
    "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes";

std::string Routes() {
  const std::string sdoh = kSdoh;
  return R"("referrals": {"routes": [
    {"agency": "harbor-housing", "categories": [")" +
         sdoh + "|housing-instability\", \"" + sdoh + R"(|homelessness"]},
    {"agency": "northside-food", "categories": [")" +
         sdoh + R"(|food-insecurity"]}]})";
}

class ReferralTest : public GatewaySuite {
 protected:
  static void SetUpTestSuite() { StartGateway({}, {}, Routes()); }

  std::string NewPatient(Client& ehr) {
    Response r = ehr.Post("/fhir/Patient", R"({"resourceType":"Patient","gender":"female"})");
    EXPECT_EQ(r.status, 201) << r.body;
    std::string id(r.Json().StringAt("id"));
    Release(ehr, id, "riverside-ehr");  // the referring EHR reads what it referred (opt-in)
    return id;
  }
  // A consent releasing the patient's data to `agency` for treatment.
  void Release(Client& ehr, const std::string& patient, const std::string& agency) {
    Response r = ehr.Post("/fhir/Consent", R"({"resourceType":"Consent","status":"active",
      "scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},
      "category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],
      "patient":{"reference":"Patient/)" + patient +
                                               R"("},"dateTime":"2026-01-01",
      "provision":{"type":"permit",
        "actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},
                  "reference":{"reference":"Organization/)" +
                                               agency + R"("}}],
        "action":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentaction","code":"disclose"}]}],
        "purpose":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"TREAT"}]}})");
    EXPECT_EQ(r.status, 201) << r.body;
  }
  Response Refer(Client& ehr, const std::string& patient, const std::string& category) {
    return ehr.Post("/fhir/ServiceRequest",
                    R"({"resourceType":"ServiceRequest","status":"active","intent":"order",
      "category":[{"coding":[{"system":")" +
                        std::string(kSdoh) + R"(","code":")" + category +
                        R"("}]}],
      "subject":{"reference":"Patient/)" +
                        patient + R"("},"requester":{"reference":"PractitionerRole/coord-1"}})");
  }
  // The Task the gateway made for ServiceRequest `sr`.
  fhir::json::Value TaskFor(Client& client, const std::string& sr) {
    Response r = client.Get("/fhir/Task?focus=ServiceRequest/" + sr);
    EXPECT_EQ(r.status, 200) << r.body;
    fhir::json::Value bundle = r.Json();
    const fhir::json::Value* entries = bundle.Find("entry");
    if (!entries || entries->items().size() != 1) {
      ADD_FAILURE() << "expected one Task for ServiceRequest/" << sr << ": " << r.body;
      return fhir::json::Value::Object();
    }
    return *entries->items()[0].Find("resource");
  }
  // A homelessness referral of a new patient, released to Harbor and accepted by it.
  struct Accepted {
    std::string patient;
    std::string task_id;
  };
  Accepted AcceptedByHarbor(Client& ehr, Client& harbor) {
    const std::string patient = NewPatient(ehr);
    Release(ehr, patient, "harbor-housing");
    Response sr = Refer(ehr, patient, "homelessness");
    EXPECT_EQ(sr.status, 201) << sr.body;
    fhir::json::Value task = TaskFor(ehr, std::string(sr.Json().StringAt("id")));
    const std::string id(task.StringAt("id"));
    task.Remove("meta");
    task.Set("status", fhir::json::Value::String("accepted"));
    EXPECT_EQ(harbor.Put("/fhir/Task/" + id, fhir::json::Write(task)).status, 200);
    return {patient, id};
  }
};

// The "referral not sent" alert for Task/<task> (cause `code`): one Flag on the patient and one
// Communication about the Task, addressed to the coordinator (PractitionerRole/coord-1).
void ExpectNotSentAlert(Client& ehr, const std::string& patient, const std::string& task,
                        const std::string& code) {
  const std::string system = "https://carebridge.example.org/fhir/CodeSystem/referral-alert";
  Response flags =
      ehr.Get("/fhir/Flag?patient=Patient/" + patient + "&code=" + system + "%7C" + code);
  ASSERT_EQ(flags.status, 200) << flags.body;
  EXPECT_EQ(flags.Json().Find("total")->text(), "1") << flags.body;
  Response communications =
      ehr.Get("/fhir/Communication?recipient=PractitionerRole/coord-1&category=" + system + "%7C" +
              code + "&patient=Patient/" + patient);
  ASSERT_EQ(communications.status, 200) << communications.body;
  EXPECT_EQ(communications.Json().Find("total")->text(), "1") << communications.body;
  EXPECT_NE(communications.body.find(R"("about":[{"reference":"Task/)" + task + "\"}]"),
            std::string::npos)
      << communications.body;
}

// `field` of `element` (or of its first item), "" when absent.
std::string At(const fhir::json::Value& resource, std::string_view element,
               std::string_view field) {
  const fhir::json::Value* v = resource.Find(element);
  if (v && v->is_array()) {
    v = v->items().empty() ? nullptr : &v->items().front();
  }
  return v ? std::string(v->StringAt(field)) : "";
}

std::string BusinessCode(const fhir::json::Value& task) {
  const auto* bs = task.Find("businessStatus");
  return bs ? std::string(bs->Find("coding")->items().at(0).StringAt("code")) : "";
}

TEST_F(ReferralTest, RoutesAServiceRequestToTheAgencyAndTheAgencyPollsForIt) {
  Client ehr(gateway().BaseUrl(), "riverside-ehr");
  const std::string patient = NewPatient(ehr);
  Release(ehr, patient, "harbor-housing");
  Response sr = Refer(ehr, patient, "housing-instability");
  ASSERT_EQ(sr.status, 201) << sr.body;
  EXPECT_EQ(At(sr.Json(), "performer", "reference"), "Organization/harbor-housing");
  const std::string sr_id(sr.Json().StringAt("id"));
  fhir::json::Value task = TaskFor(ehr, sr_id);
  EXPECT_EQ(task.StringAt("status"), "requested");
  EXPECT_EQ(At(task, "owner", "reference"), "Organization/harbor-housing");
  EXPECT_EQ(At(task, "for", "reference"), "Patient/" + patient);
  EXPECT_EQ(At(task, "requester", "reference"), "PractitionerRole/coord-1");

  // The agency polls for what is addressed to it, and reads the ServiceRequest.
  Client harbor(gateway().BaseUrl(), "harbor-housing");
  EXPECT_EQ(SearchTotal(harbor,
                        "/fhir/Task?owner=Organization/harbor-housing&status=requested&"
                        "focus=ServiceRequest/" +
                            sr_id),
            "1");
  EXPECT_EQ(harbor.Get("/fhir/ServiceRequest/" + sr_id).status, 200);
}

TEST_F(ReferralTest, NoMatchingRuleIsFailedNoAgency) {
  Client ehr(gateway().BaseUrl(), "riverside-ehr");
  const std::string patient = NewPatient(ehr);
  Response sr = Refer(ehr, patient, "transportation-insecurity");
  ASSERT_EQ(sr.status, 201) << sr.body;
  EXPECT_EQ(sr.Json().Find("performer"), nullptr);
  fhir::json::Value task = TaskFor(ehr, std::string(sr.Json().StringAt("id")));
  EXPECT_EQ(task.StringAt("status"), "failed");
  EXPECT_EQ(BusinessCode(task), "no-agency");
  EXPECT_NE(At(task, "statusReason", "text").find("no agency"), std::string::npos);
  EXPECT_EQ(task.Find("owner"), nullptr);
  // The accountable coordinator is alerted, as for an SLA breach: a Flag on the patient and a
  // Communication addressed to Task.requester, committed with the failed Task.
  ExpectNotSentAlert(ehr, patient, std::string(task.StringAt("id")), "no-agency");
}

TEST_F(ReferralTest, NotReleasedToTheAgencyIsFailedNotReleased) {
  Client ehr(gateway().BaseUrl(), "riverside-ehr");
  const std::string patient = NewPatient(ehr);
  Release(ehr, patient, "harbor-housing");  // housing yes, food no
  Response sr = Refer(ehr, patient, "food-insecurity");
  ASSERT_EQ(sr.status, 201) << sr.body;
  EXPECT_EQ(sr.Json().Find("performer"), nullptr);  // not addressed: the agency cannot read it
  fhir::json::Value task = TaskFor(ehr, std::string(sr.Json().StringAt("id")));
  EXPECT_EQ(task.StringAt("status"), "failed");
  EXPECT_EQ(BusinessCode(task), "not-released");
  EXPECT_NE(At(task, "statusReason", "text").find("consent"), std::string::npos);
  ExpectNotSentAlert(ehr, patient, std::string(task.StringAt("id")), "not-released");
  // The refusal is an audited decision, as every release decision is.
  Response audited = As("privacy-office", "GET",
                        "/fhir/AuditEvent?patient=Patient/" + patient +
                            "&agent=Organization/northside-food&outcome=8"
                            "&type=http://dicom.nema.org/resources/ontology/DCM%7C110113");
  ASSERT_EQ(audited.status, 200) << audited.body;
  EXPECT_EQ(audited.Json().Find("total")->text(), "1") << audited.body;
}

TEST_F(ReferralTest, EachSideMovesTheTaskOnlyAlongItsOwnTransitions) {
  Client ehr(gateway().BaseUrl(), "riverside-ehr");
  Client harbor(gateway().BaseUrl(), "harbor-housing");
  const std::string patient = NewPatient(ehr);
  Release(ehr, patient, "harbor-housing");
  Response sr = Refer(ehr, patient, "homelessness");
  ASSERT_EQ(sr.status, 201);
  fhir::json::Value task = TaskFor(ehr, std::string(sr.Json().StringAt("id")));
  const std::string id(task.StringAt("id"));
  auto with_status = [&task](const std::string& status) {
    fhir::json::Value t = task;
    t.Set("status", fhir::json::Value::String(status));
    t.Remove("meta");
    return fhir::json::Write(t);
  };
  // The agency cannot jump to completed; the requester cannot accept for it.
  Response jump = harbor.Put("/fhir/Task/" + id, with_status("completed"));
  EXPECT_EQ(jump.status, 409) << jump.body;
  EXPECT_EQ(jump.Json().StringAt("resourceType"), "OperationOutcome");
  EXPECT_NE(jump.body.find("Task.status"), std::string::npos);
  EXPECT_EQ(ehr.Put("/fhir/Task/" + id, with_status("accepted")).status, 409);
  // Rejecting needs a reason.
  EXPECT_EQ(harbor.Put("/fhir/Task/" + id, with_status("rejected")).status, 422);
  // The agency accepts; then the requester may cancel, with a reason.
  Response accepted = harbor.Put("/fhir/Task/" + id, with_status("accepted"));
  ASSERT_EQ(accepted.status, 200) << accepted.body;
  task = accepted.Json();
  fhir::json::Value cancel = task;
  cancel.Remove("meta");
  cancel.Set("status", fhir::json::Value::String("cancelled"));
  fhir::json::Value reason = fhir::json::Value::Object();
  reason.Set("text", fhir::json::Value::String("the person moved out of the area"));
  cancel.Set("statusReason", reason);
  EXPECT_EQ(ehr.Put("/fhir/Task/" + id, fhir::json::Write(cancel)).status, 200);
  // Cancelled is final.
  EXPECT_EQ(harbor.Put("/fhir/Task/" + id, with_status("in-progress")).status, 409);
}

TEST_F(ReferralTest, PostedTaskIsRoutedThroughItsServiceRequestAndConsentChecked) {
  Client ehr(gateway().BaseUrl(), "riverside-ehr");
  const std::string patient = NewPatient(ehr);
  Release(ehr, patient, "northside-food");
  // A ServiceRequest already addressed (performer set) is not routed by the gateway...
  Response sr = ehr.Post("/fhir/ServiceRequest",
                         R"({"resourceType":"ServiceRequest","status":"active","intent":"order",
      "category":[{"coding":[{"system":")" +
                             std::string(kSdoh) +
                             R"(","code":"food-insecurity"}]}],
      "performer":[{"reference":"Organization/northside-food"}],
      "subject":{"reference":"Patient/)" +
                             patient + R"("}})");
  ASSERT_EQ(sr.status, 201) << sr.body;
  const std::string sr_id(sr.Json().StringAt("id"));
  EXPECT_EQ(SearchTotal(ehr, "/fhir/Task?focus=ServiceRequest/" + sr_id), "0");
  // ... the partner posts the Task, without owner: the gateway routes it.
  auto task = [&](const std::string& owner) {
    return R"({"resourceType":"Task","status":"requested","intent":"order",
      "code":{"coding":[{"system":"http://hl7.org/fhir/CodeSystem/task-code","code":"fulfill"}]},
      "focus":{"reference":"ServiceRequest/)" +
           sr_id + R"("},"for":{"reference":"Patient/)" + patient +
           R"("},"authoredOn":"2026-11-22T10:00:00Z",
      "requester":{"reference":"PractitionerRole/coord-1"})" +
           (owner.empty() ? "" : R"(,"owner":{"reference":"Organization/)" + owner + R"("})") + "}";
  };
  Response routed = ehr.Post("/fhir/Task", task(""));
  ASSERT_EQ(routed.status, 201) << routed.body;
  EXPECT_EQ(routed.Json().StringAt("status"), "requested");
  EXPECT_EQ(At(routed.Json(), "owner", "reference"), "Organization/northside-food");
  // Addressed by the partner to an agency the patient did not release it to: failed.
  Response refused = ehr.Post("/fhir/Task", task("harbor-housing"));
  ASSERT_EQ(refused.status, 201) << refused.body;
  EXPECT_EQ(refused.Json().StringAt("status"), "failed");
  EXPECT_EQ(BusinessCode(refused.Json()), "not-released");
}

TEST_F(ReferralTest, ReferralTaskMissingRequiredElementsIs422) {
  Client ehr(gateway().BaseUrl(), "riverside-ehr");
  Response r = ehr.Post("/fhir/Task", R"({"resourceType":"Task","status":"requested",
    "intent":"order",
    "meta":{"profile":["http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/SDOHCC-TaskForReferralManagement"]},
    "code":{"coding":[{"system":"http://hl7.org/fhir/CodeSystem/task-code","code":"fulfill"}]},
    "focus":{"reference":"ServiceRequest/x"},"for":{"reference":"Patient/x"}})");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("Task.authoredOn"), std::string::npos);
  EXPECT_NE(r.body.find("Task.requester"), std::string::npos);
}

// A Bundle is no way around the state machine: its Task entries are checked as single updates.
TEST_F(ReferralTest, BundlesCannotJumpTaskStatuses) {
  Client ehr(gateway().BaseUrl(), "riverside-ehr");
  const std::string patient = NewPatient(ehr);
  Release(ehr, patient, "harbor-housing");
  Response sr = Refer(ehr, patient, "homelessness");
  ASSERT_EQ(sr.status, 201);
  fhir::json::Value task = TaskFor(ehr, std::string(sr.Json().StringAt("id")));
  const std::string id(task.StringAt("id"));
  task.Remove("meta");
  task.Set("status", fhir::json::Value::String("accepted"));  // the agency's move, not the EHR's
  auto bundle = [&](const std::string& type) {
    return R"({"resourceType":"Bundle","type":")" + type + R"(","entry":[
      {"resource":)" +
           fhir::json::Write(task) + R"(,"request":{"method":"PUT","url":"Task/)" + id + R"("}},
      {"resource":{"resourceType":"Patient","gender":"male"},
       "request":{"method":"POST","url":"Patient"}}]})";
  };
  Response batch = ehr.Post("/fhir", bundle("batch"));
  ASSERT_EQ(batch.status, 200) << batch.body;
  const fhir::json::Value entries = *batch.Json().Find("entry");
  EXPECT_EQ(At(entries.items()[0], "response", "status").substr(0, 3), "409") << batch.body;
  EXPECT_NE(batch.body.find("Bundle.entry[0].resource.status"), std::string::npos) << batch.body;
  Response transaction = ehr.Post("/fhir", bundle("transaction"));
  EXPECT_EQ(transaction.status, 409) << transaction.body;
  EXPECT_EQ(transaction.Json().StringAt("resourceType"), "OperationOutcome");
  EXPECT_EQ(ehr.Get("/fhir/Task/" + id).Json().StringAt("status"), "requested");
  // Agencies move their Tasks one by one: a Bundle is refused outright.
  Client harbor(gateway().BaseUrl(), "harbor-housing");
  task.Set("status", fhir::json::Value::String("completed"));
  EXPECT_EQ(harbor.Post("/fhir", bundle("transaction")).status, 403);
  EXPECT_EQ(ehr.Get("/fhir/Task/" + id).Json().StringAt("status"), "requested");
}

TEST_F(ReferralTest, ServiceRequestInATransactionIsRoutedLikeASinglePost) {
  Client ehr(gateway().BaseUrl(), "riverside-ehr");
  const std::string patient = NewPatient(ehr);
  Release(ehr, patient, "harbor-housing");
  const std::string service_request =
      R"({"resourceType":"ServiceRequest","status":"active","intent":"order",
      "category":[{"coding":[{"system":")" +
      std::string(kSdoh) + R"(","code":"housing-instability"}]}],
      "subject":{"reference":"Patient/)" +
      patient + R"("},"requester":{"reference":"PractitionerRole/coord-1"}})";
  Response r = ehr.Post("/fhir", R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"fullUrl":"urn:uuid:5b0c0e8e-1f1a-4c1e-9b7e-000000000001","resource":)" +
                                     service_request +
                                     R"(,"request":{"method":"POST","url":"ServiceRequest"}}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(At(r.Json().Find("entry")->items().at(0), "response", "status").substr(0, 3), "201");
  const std::string location =
      At(r.Json().Find("entry")->items().at(0), "response", "location");  // ServiceRequest/<id>/...
  const std::string sr_id = location.substr(15, location.find('/', 15) - 15);
  EXPECT_EQ(At(ehr.Get("/fhir/ServiceRequest/" + sr_id).Json(), "performer", "reference"),
            "Organization/harbor-housing");
  fhir::json::Value task = TaskFor(ehr, sr_id);
  EXPECT_EQ(task.StringAt("status"), "requested");
  EXPECT_EQ(At(task, "owner", "reference"), "Organization/harbor-housing");
  EXPECT_EQ(At(task, "requester", "reference"), "PractitionerRole/coord-1");

  // In a batch too: the entry commits with its Task on its own (a batch's entries stand alone).
  Response batch = ehr.Post("/fhir", R"({"resourceType":"Bundle","type":"batch","entry":[
    {"resource":)" + service_request + R"(,"request":{"method":"POST","url":"ServiceRequest"}},
    {"resource":{"resourceType":"Patient","gender":"male"},
     "request":{"method":"POST","url":"Patient"}}]})");
  ASSERT_EQ(batch.status, 200) << batch.body;
  const fhir::json::Value batch_entries = *batch.Json().Find("entry");
  EXPECT_EQ(At(batch_entries.items().at(1), "response", "status").substr(0, 3), "201");
  const std::string batch_location = At(batch_entries.items().at(0), "response", "location");
  ASSERT_EQ(batch_location.substr(0, 15), "ServiceRequest/") << batch.body;
  const std::string batch_sr = batch_location.substr(15, batch_location.find('/', 15) - 15);
  fhir::json::Value batch_task = TaskFor(ehr, batch_sr);
  EXPECT_EQ(batch_task.StringAt("status"), "requested");
  EXPECT_EQ(At(batch_task, "owner", "reference"), "Organization/harbor-housing");

  // Both posted together: the partner's own Task is routed through the Bundle's ServiceRequest,
  // and the gateway adds no second Task.
  Response both = ehr.Post("/fhir", R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"fullUrl":"urn:uuid:5b0c0e8e-1f1a-4c1e-9b7e-000000000002","resource":)" +
                                        service_request +
                                        R"(,"request":{"method":"POST","url":"ServiceRequest"}},
    {"resource":{"resourceType":"Task","status":"requested","intent":"order",
      "code":{"coding":[{"system":"http://hl7.org/fhir/CodeSystem/task-code","code":"fulfill"}]},
      "focus":{"reference":"urn:uuid:5b0c0e8e-1f1a-4c1e-9b7e-000000000002"},
      "for":{"reference":"Patient/)" + patient +
                                        R"("},"authoredOn":"2026-11-22T10:00:00Z",
      "requester":{"reference":"PractitionerRole/coord-1"}},
     "request":{"method":"POST","url":"Task"}}]})");
  ASSERT_EQ(both.status, 200) << both.body;
  const std::string sr_location =
      At(both.Json().Find("entry")->items().at(0), "response", "location");
  const std::string sr2 = sr_location.substr(15, sr_location.find('/', 15) - 15);
  fhir::json::Value posted = TaskFor(ehr, sr2);  // exactly one
  EXPECT_EQ(posted.StringAt("status"), "requested");
  EXPECT_EQ(At(posted, "owner", "reference"), "Organization/harbor-housing");
}

// The parts of every `name` parameter of a Parameters resource, each as name -> value text.
std::vector<std::map<std::string, std::string>> Groups(const fhir::json::Value& parameters,
                                                       std::string_view name) {
  std::vector<std::map<std::string, std::string>> out;
  for (const auto& p : parameters.Find("parameter")->items()) {
    if (p.StringAt("name") != name || !p.Find("part")) {
      continue;
    }
    std::map<std::string, std::string> parts;
    for (const auto& part : p.Find("part")->items()) {
      for (const char* v : {"valueString", "valueCode", "valueInstant"}) {
        if (!part.StringAt(v).empty()) {
          parts[std::string(part.StringAt("name"))] = std::string(part.StringAt(v));
        }
      }
    }
    out.push_back(std::move(parts));
  }
  return out;
}

// The value of the first `name` parameter, as text ("" when absent).
std::string Param(const fhir::json::Value& parameters, std::string_view name) {
  for (const auto& p : parameters.Find("parameter")->items()) {
    if (p.StringAt("name") != name) {
      continue;
    }
    if (const auto* ref = p.Find("valueReference")) {
      return std::string(ref->StringAt("reference"));
    }
    for (const char* v : {"valueCode", "valueString", "valueInstant"}) {
      if (!p.StringAt(v).empty()) {
        return std::string(p.StringAt(v));
      }
    }
    for (const char* v : {"valueInteger", "valueDecimal"}) {
      if (const auto* n = p.Find(v)) {
        return fhir::json::Write(*n);
      }
    }
    if (const auto* q = p.Find("valueQuantity")) {
      return fhir::json::Write(*q->Find("value"));
    }
  }
  return "";
}

TEST_F(ReferralTest, TimelineShowsEveryStepWithWhoDidIt) {
  Client ehr(gateway().BaseUrl(), "riverside-ehr");
  Client harbor(gateway().BaseUrl(), "harbor-housing");
  const auto [patient, id] = AcceptedByHarbor(ehr, harbor);
  ASSERT_FALSE(HasFailure());

  Response r = ehr.Get("/fhir/Task/" + id + "/$timeline");
  ASSERT_EQ(r.status, 200) << r.body;
  const fhir::json::Value timeline = r.Json();
  EXPECT_EQ(timeline.StringAt("resourceType"), "Parameters");
  EXPECT_EQ(Param(timeline, "task"), "Task/" + id);
  EXPECT_EQ(Param(timeline, "accountable"), "PractitionerRole/coord-1");
  EXPECT_EQ(Param(timeline, "status"), "accepted");
  const auto events = Groups(timeline, "event");
  ASSERT_GE(events.size(), 2u) << r.body;
  EXPECT_EQ(events[0].at("kind"), "created");
  EXPECT_EQ(events[0].at("to"), "requested");
  bool accepted_by_agency = false;
  for (const auto& e : events) {
    accepted_by_agency |= e.at("kind") == "status" && e.at("from") == "requested" &&
                          e.at("to") == "accepted" && e.at("author") == "harbor-housing";
  }
  EXPECT_TRUE(accepted_by_agency) << r.body;
  EXPECT_TRUE(Groups(timeline, "slaBreach").empty()) << r.body;  // all on time so far

  // The owner agency sees it; another agency, a privacy officer and a non-referral do not.
  EXPECT_EQ(harbor.Get("/fhir/Task/" + id + "/$timeline").status, 200);
  EXPECT_EQ(As("northside-food", "GET", "/fhir/Task/" + id + "/$timeline").status, 404);
  EXPECT_EQ(As("privacy-office", "GET", "/fhir/Task/" + id + "/$timeline").status, 403);
  EXPECT_EQ(ehr.Get("/fhir/Task/no-such-task/$timeline").status, 404);
  // SLA alerts are FHIR Flags and Communications the gateway writes: partners only read them.
  EXPECT_EQ(ehr.Get("/fhir/Flag?patient=Patient/" + patient).status, 200);
  EXPECT_EQ(ehr.Post("/fhir/Flag", R"({"resourceType":"Flag","status":"active"})").status, 405);
  // A contact with the person, recorded as a Communication based on the referral, is on it.
  Response contact = As("care-coordination", "POST", "/fhir/Communication",
                        R"({"resourceType":"Communication","status":"completed",
      "basedOn":[{"reference":"Task/)" +
                            id + R"("}],"subject":{"reference":"Patient/)" + patient +
                            R"("},"sent":"2026-11-20T10:00:00Z"})");
  ASSERT_EQ(contact.status, 201) << contact.body;
  Response with_contact = ehr.Get("/fhir/Task/" + id + "/$timeline");
  bool contact_seen = false;
  for (const auto& e : Groups(with_contact.Json(), "event")) {
    contact_seen |= e.at("kind") == "contact" && e.at("author") == "care-coordination";
  }
  EXPECT_TRUE(contact_seen) << with_contact.body;
  EXPECT_EQ(ehr.Post("/fhir/Task/" + id + "/$timeline", "{}").status, 405);
  Response plain = ehr.Post("/fhir/Task", R"({"resourceType":"Task","status":"requested",
    "intent":"plan"})");
  ASSERT_EQ(plain.status, 201) << plain.body;
  EXPECT_EQ(ehr.Get("/fhir/Task/" + std::string(plain.Json().StringAt("id")) + "/$timeline").status,
            422);
}

// Agencies record their contacts with the person on the referrals they own: the contact is on the
// timeline (with the agency as author) and in the Provenance view; another agency's Task, or no
// Task at all, is refused.
TEST_F(ReferralTest, AgencyRecordsContactsOnItsOwnReferralsOnly) {
  Client ehr(gateway().BaseUrl(), "riverside-ehr");
  Client harbor(gateway().BaseUrl(), "harbor-housing");
  const std::string patient = NewPatient(ehr);
  Release(ehr, patient, "harbor-housing");
  Response sr = Refer(ehr, patient, "housing-instability");
  ASSERT_EQ(sr.status, 201) << sr.body;
  const std::string id(TaskFor(ehr, std::string(sr.Json().StringAt("id"))).StringAt("id"));
  auto contact = [&](const std::string& link) {
    return R"({"resourceType":"Communication","status":"completed",)" + link +
           R"(,"subject":{"reference":"Patient/)" + patient +
           R"("},"sent":"2026-11-21T15:00:00Z","payload":[{"contentString":"Met at the shelter"}]})";
  };
  Response mine = harbor.Post("/fhir/Communication",
                              contact(R"("partOf":[{"reference":"Task/)" + id + R"("}])"));
  ASSERT_EQ(mine.status, 201) << mine.body;
  Response timeline = ehr.Get("/fhir/Task/" + id + "/$timeline");
  bool by_agency = false;
  for (const auto& e : Groups(timeline.Json(), "event")) {
    by_agency |= e.at("kind") == "contact" && e.at("author") == "harbor-housing" &&
                 e.at("to") == "Communication/" + std::string(mine.Json().StringAt("id"));
  }
  EXPECT_TRUE(by_agency) << timeline.body;

  // Not its referral, no referral at all, or something else than a Task: 403.
  Response other = As("northside-food", "POST", "/fhir/Communication",
                      contact(R"("basedOn":[{"reference":"Task/)" + id + R"("}])"));
  EXPECT_EQ(other.status, 403) << other.body;
  EXPECT_EQ(other.Json().StringAt("resourceType"), "OperationOutcome");
  EXPECT_EQ(
      harbor.Post("/fhir/Communication", contact(R"("about":[{"reference":"Task/)" + id + R"("}])"))
          .status,
      403);
  EXPECT_EQ(
      harbor
          .Post("/fhir/Communication", contact(R"("basedOn":[{"reference":"Task/no-such-task"}])"))
          .status,
      403);
  EXPECT_EQ(harbor
                .Post("/fhir/Communication", contact(R"("basedOn":[{"reference":"Task/)" + id +
                                                     R"("},{"reference":"CarePlan/x"}])"))
                .status,
            403);
  // Agencies write contacts; they do not read or change them.
  EXPECT_EQ(harbor.Get("/fhir/Communication?patient=Patient/" + patient).status, 403);
}

// The timeline as FHIR: GET Provenance?target=Task/{id}, one Provenance per step, agent = who.
TEST_F(ReferralTest, TimelineAsProvenance) {
  Client ehr(gateway().BaseUrl(), "riverside-ehr");
  Client harbor(gateway().BaseUrl(), "harbor-housing");
  const auto [patient, id] = AcceptedByHarbor(ehr, harbor);
  ASSERT_FALSE(HasFailure());

  Response r = ehr.Get("/fhir/Provenance?target=Task/" + id);
  ASSERT_EQ(r.status, 200) << r.body;
  const fhir::json::Value bundle = r.Json();
  EXPECT_EQ(bundle.StringAt("resourceType"), "Bundle");
  EXPECT_EQ(bundle.StringAt("type"), "searchset");
  const auto& entries = bundle.Find("entry")->items();
  ASSERT_GE(entries.size(), 2u) << r.body;
  bool accepted_by_agency = false;
  for (const auto& entry : entries) {
    const fhir::json::Value& p = *entry.Find("resource");
    EXPECT_EQ(p.StringAt("resourceType"), "Provenance");
    EXPECT_EQ(At(p, "target", "reference"), "Task/" + id);
    EXPECT_FALSE(p.StringAt("recorded").empty());
    const fhir::json::Value* agent = &p.Find("agent")->items().at(0);
    const std::string who(agent->Find("who")->StringAt("reference"));
    const std::string activity(p.Find("activity")->StringAt("text"));
    accepted_by_agency |= activity.find("requested -> accepted") != std::string::npos &&
                          who == "Organization/harbor-housing";
  }
  EXPECT_TRUE(accepted_by_agency) << r.body;
  EXPECT_EQ(harbor.Get("/fhir/Provenance?target=Task/" + id).status, 200);
  EXPECT_EQ(As("northside-food", "GET", "/fhir/Provenance?target=Task/" + id).status, 404);
  EXPECT_EQ(As("privacy-office", "GET", "/fhir/Provenance?target=Task/" + id).status, 403);
  EXPECT_EQ(ehr.Get("/fhir/Provenance").status, 400);
  EXPECT_EQ(ehr.Get("/fhir/Provenance?agent=Organization/x").status, 400);
  EXPECT_EQ(ehr.Post("/fhir/Provenance", "{}").status, 405);
  // The CapabilityStatement says so.
  Response metadata = ehr.Get("/fhir/metadata");
  EXPECT_NE(metadata.body.find(R"("type":"Provenance")"), std::string::npos);
}

// Dead-letter administration over HTTP is the admin partner's alone.
TEST_F(ReferralTest, DeadLetterOperationsAreForTheAdminOnly) {
  Response listed = As("gateway-admin", "GET", "/fhir/$dead-letters");
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(listed.Json().StringAt("resourceType"), "Parameters");
  EXPECT_EQ(As("gateway-admin", "POST", "/fhir/$redrive?delivery=no-such-delivery").status, 404);
  EXPECT_EQ(As("gateway-admin", "POST", "/fhir/$redrive").status, 400);
  EXPECT_EQ(As("gateway-admin", "GET", "/fhir/$dead-letters?_count=x").status, 400);
  for (const char* partner :
       {"riverside-ehr", "care-coordination", "harbor-housing", "privacy-office"}) {
    Response list = As(partner, "GET", "/fhir/$dead-letters");
    EXPECT_EQ(list.status, 403) << partner;
    EXPECT_EQ(list.Json().StringAt("resourceType"), "OperationOutcome");
    EXPECT_EQ(As(partner, "POST", "/fhir/$redrive?delivery=x").status, 403) << partner;
  }
  Response metadata = As("gateway-admin", "GET", "/fhir/metadata");
  EXPECT_NE(metadata.body.find(R"("name":"dead-letters")"), std::string::npos);
  EXPECT_NE(metadata.body.find(R"("name":"redrive")"), std::string::npos);
}

TEST_F(ReferralTest, ReferralMetricsForCoordinators) {
  Client ehr(gateway().BaseUrl(), "riverside-ehr");
  Client harbor(gateway().BaseUrl(), "harbor-housing");
  const std::string patient = NewPatient(ehr);
  Release(ehr, patient, "harbor-housing");
  Response sr = Refer(ehr, patient, "housing-instability");
  ASSERT_EQ(sr.status, 201);
  fhir::json::Value task = TaskFor(ehr, std::string(sr.Json().StringAt("id")));
  task.Remove("meta");
  task.Set("status", fhir::json::Value::String("accepted"));
  ASSERT_EQ(
      harbor.Put("/fhir/Task/" + std::string(task.StringAt("id")), fhir::json::Write(task)).status,
      200);

  Response all = As("care-coordination", "GET", "/fhir/$referral-metrics");
  ASSERT_EQ(all.status, 200) << all.body;
  const fhir::json::Value metrics = all.Json();
  EXPECT_EQ(metrics.StringAt("resourceType"), "Parameters");
  EXPECT_GE(std::stoi(Param(metrics, "referrals")), 1) << all.body;
  EXPECT_FALSE(Param(metrics, "medianTimeToAcceptance").empty()) << all.body;
  bool open_accepted = false;
  for (const auto& g : Groups(metrics, "open")) {
    open_accepted |= g.at("status") == "accepted";
  }
  EXPECT_TRUE(open_accepted) << all.body;

  Response none =
      As("care-coordination", "GET", "/fhir/$referral-metrics?start=2000-01-01&end=2000-01-02");
  ASSERT_EQ(none.status, 200) << none.body;
  EXPECT_EQ(Param(none.Json(), "referrals"), "0");
  EXPECT_EQ(Param(none.Json(), "medianTimeToAcceptance"), "");
  EXPECT_EQ(As("care-coordination", "GET", "/fhir/$referral-metrics?start=soon").status, 400);
  EXPECT_EQ(As("care-coordination", "GET", "/fhir/$referral-metrics?patient=x").status, 400);
  EXPECT_EQ(ehr.Get("/fhir/$referral-metrics").status, 403);
  EXPECT_EQ(harbor.Get("/fhir/$referral-metrics").status, 403);
}

}  // namespace
}  // namespace carebridge::testing
