// Referrals pushed by the real gateway process to a real HTTPS agency endpoint (carebridge's
// Server with a scripted handler, mutual TLS) with the gateway's delivery worker: delivered once
// with the gateway's client certificate, and delivered exactly once after an agency outage during
// which the gateway crashed and restarted.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"
#include "tests/support/agency.h"

namespace carebridge::testing {
namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;

constexpr const char* kSdoh =
    "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes";

// The agency: tests/support/agency.h (conditional create on If-None-Exist, 201 or 200).
void Up(AgencyServer& agency) {
  std::string message;
  ASSERT_TRUE(agency.Up(CertsDir(), message)) << message;
}

std::string ReferralsConfig() {
  const std::filesystem::path& certs = CertsDir();
  return R"("referrals": {"routes": [{"agency": "harbor-housing", "categories": [")" +
         std::string(kSdoh) + R"(|housing-instability"]}],
    "delivery": {"poll_interval_ms": 100, "initial_backoff_ms": 50, "max_backoff_ms": 200,
                 "max_attempts": 1000, "connect_timeout_ms": 1000, "total_timeout_ms": 2000,
                 "lease_ms": 3000,
                 "client_cert": ")" +
         (certs / "care-coordination.crt").string() + R"(", "client_key": ")" +
         (certs / "care-coordination.key").string() + R"(", "ca": ")" +
         (certs / "ca.crt").string() + R"("}})";
}

// A gateway with its data in a folder of its own that pushes Harbor's referrals to `harbor`.
struct HarborGateway {
  explicit HarborGateway(const AgencyServer& harbor)
      : gateway(dir.path() / "data", {}, {}, ReferralsConfig()) {
    gateway.SetPartnerEndpoint("harbor-housing", harbor.BaseUrl());
  }
  TempDir dir;
  GatewayProcess gateway;
};

bool WaitFor(const std::function<bool()>& done, std::chrono::seconds limit = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

// Patient, consent for harbor-housing and a housing referral (posted alone, or in a transaction
// Bundle); returns the ServiceRequest id.
std::string Refer(Client& ehr, bool in_transaction = false) {
  Response patient = ehr.Post("/fhir/Patient", R"({"resourceType":"Patient"})");
  EXPECT_EQ(patient.status, 201);
  const std::string p(patient.Json().StringAt("id"));
  for (const char* organization : {"harbor-housing", "riverside-ehr"}) {
    Response consent = ehr.Post("/fhir/Consent", R"({"resourceType":"Consent","status":"active",
      "scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},
      "category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],
      "patient":{"reference":"Patient/)" + p + R"("},"dateTime":"2026-01-01",
      "provision":{"type":"permit",
        "actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},
                  "reference":{"reference":"Organization/)" +
                                                     std::string(organization) + R"("}}],
        "action":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentaction","code":"disclose"}]}],
        "purpose":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"TREAT"}]}})");
    EXPECT_EQ(consent.status, 201) << consent.body;
  }
  const std::string service_request =
      R"({"resourceType":"ServiceRequest","status":"active","intent":"order",
      "category":[{"coding":[{"system":")" +
      std::string(kSdoh) + R"(","code":"housing-instability"}]}],
      "subject":{"reference":"Patient/)" +
      p + R"("}})";
  if (in_transaction) {
    Response r = ehr.Post("/fhir", R"({"resourceType":"Bundle","type":"transaction","entry":[
      {"resource":)" + service_request +
                                       R"(,"request":{"method":"POST","url":"ServiceRequest"}}]})");
    EXPECT_EQ(r.status, 200) << r.body;
    const std::string location(
        r.Json().Find("entry")->items().at(0).Find("response")->StringAt("location"));
    return location.substr(15, location.find('/', 15) - 15);  // ServiceRequest/<id>/_history/1
  }
  Response sr = ehr.Post("/fhir/ServiceRequest", service_request);
  EXPECT_EQ(sr.status, 201) << sr.body;
  return std::string(sr.Json().StringAt("id"));
}

std::string BusinessStatus(Client& client, const std::string& sr) {
  Response r = client.Get("/fhir/Task?focus=ServiceRequest/" + sr);
  const fhir::json::Value bundle = r.Json();
  const auto* entries = bundle.Find("entry");
  if (!entries || entries->items().empty()) {
    return "";
  }
  const auto* bs = entries->items()[0].Find("resource")->Find("businessStatus");
  return bs ? std::string(bs->Find("coding")->items().at(0).StringAt("code")) : "";
}

TEST(ReferralPushTest, DeliveredToTheAgencyWithTheGatewaysCertificate) {
  AgencyServer harbor;
  Up(harbor);
  HarborGateway harbor_gateway(harbor);
  GatewayProcess& gateway = harbor_gateway.gateway;
  ASSERT_TRUE(gateway.Start());
  Client ehr(gateway.BaseUrl(), "riverside-ehr");
  const std::string sr = Refer(ehr);
  ASSERT_TRUE(WaitFor([&] { return harbor.agency.seen().size() == 1; }));
  Seen seen = harbor.agency.seen()[0];
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.target, "/fhir/Task");
  EXPECT_EQ(seen.client_cn, "care-coordination");
  EXPECT_NE(seen.if_none_exist.find("identifier="), std::string::npos);
  EXPECT_FALSE(seen.idempotency_key.empty());
  EXPECT_TRUE(WaitFor([&] { return BusinessStatus(ehr, sr) == "delivered"; }));
  // The referral's timeline shows the delivery: queued, then delivered with the agency's 201.
  Response task = ehr.Get("/fhir/Task?focus=ServiceRequest/" + sr);
  const std::string id(task.Json().Find("entry")->items().at(0).Find("resource")->StringAt("id"));
  Response timeline = ehr.Get("/fhir/Task/" + id + "/$timeline");
  ASSERT_EQ(timeline.status, 200) << timeline.body;
  EXPECT_NE(timeline.body.find(R"("valueString":"queued")"), std::string::npos) << timeline.body;
  EXPECT_NE(timeline.body.find(R"("valueString":"delivered")"), std::string::npos) << timeline.body;
  EXPECT_NE(timeline.body.find("HTTP 201"), std::string::npos) << timeline.body;
  EXPECT_EQ(gateway.Stop(), 0);
}

// A Bundle is no side door: its ServiceRequest is routed and queued as a single POST's.
TEST(ReferralPushTest, ServiceRequestInATransactionIsDeliveredLikeASinglePost) {
  AgencyServer harbor;
  Up(harbor);
  HarborGateway harbor_gateway(harbor);
  GatewayProcess& gateway = harbor_gateway.gateway;
  ASSERT_TRUE(gateway.Start());
  Client ehr(gateway.BaseUrl(), "riverside-ehr");
  const std::string sr = Refer(ehr, true);
  ASSERT_TRUE(WaitFor([&] { return harbor.agency.seen().size() == 1; }));
  EXPECT_EQ(harbor.agency.seen()[0].target, "/fhir/Task");
  EXPECT_TRUE(WaitFor([&] { return BusinessStatus(ehr, sr) == "delivered"; }));
  EXPECT_EQ(harbor.agency.seen().size(), 1u);
  EXPECT_EQ(gateway.Stop(), 0);
}

// A pushed Task is in the agency's dialect (its partner mapping: Harbor's strips extensions it
// does not know, as on a read through the API), and each delivered push is a PrivacyDisclosure
// AuditEvent naming the agency, the patient, the Task and its ServiceRequest.
TEST(ReferralPushTest, PushedTaskIsMappedForTheAgencyAndTheDisclosureAudited) {
  AgencyServer harbor;
  Up(harbor);
  HarborGateway harbor_gateway(harbor);
  GatewayProcess& gateway = harbor_gateway.gateway;
  gateway.set_mapping_profiles(true);
  ASSERT_TRUE(gateway.Start());
  // The coordinator writes canonical FHIR (no mapping profile): patient, consent, referral.
  Client coordinator(gateway.BaseUrl(), "care-coordination");
  Response patient = coordinator.Post("/fhir/Patient", R"({"resourceType":"Patient"})");
  ASSERT_EQ(patient.status, 201) << patient.body;
  const std::string p(patient.Json().StringAt("id"));
  Response consent =
      coordinator.Post("/fhir/Consent", R"({"resourceType":"Consent","status":"active",
      "scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},
      "category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],
      "patient":{"reference":"Patient/)" + p +
                                            R"("},"dateTime":"2026-01-01",
      "provision":{"type":"permit",
        "actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},
                  "reference":{"reference":"Organization/harbor-housing"}}],
        "action":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentaction","code":"disclose"}]}],
        "purpose":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"TREAT"}]}})");
  ASSERT_EQ(consent.status, 201) << consent.body;
  Response sr =
      coordinator.Post("/fhir/ServiceRequest",
                       R"({"resourceType":"ServiceRequest","status":"active",
      "intent":"order","category":[{"coding":[{"system":")" +
                           std::string(kSdoh) + R"(","code":"housing-instability"}]}],
      "subject":{"reference":"Patient/)" +
                           p + R"("},"performer":[{"reference":"Organization/harbor-housing"}]})");
  ASSERT_EQ(sr.status, 201) << sr.body;
  const std::string sr_id(sr.Json().StringAt("id"));
  Response task = coordinator.Post("/fhir/Task", R"({"resourceType":"Task","status":"requested",
      "intent":"order",
      "extension":[{"url":"https://riverside.example.org/fhir/internal-priority","valueString":"high"}],
      "code":{"coding":[{"system":"http://hl7.org/fhir/CodeSystem/task-code","code":"fulfill"}]},
      "focus":{"reference":"ServiceRequest/)" + sr_id +
                                                     R"("},"for":{"reference":"Patient/)" + p +
                                                     R"("},"authoredOn":"2026-11-20T10:00:00Z",
      "requester":{"reference":"PractitionerRole/coord-1"},
      "owner":{"reference":"Organization/harbor-housing"}})");
  ASSERT_EQ(task.status, 201) << task.body;
  const std::string task_id(task.Json().StringAt("id"));
  ASSERT_TRUE(WaitFor([&] { return harbor.agency.seen().size() == 1; }));
  const std::string body = harbor.agency.seen()[0].body;
  EXPECT_EQ(body.find("internal-priority"), std::string::npos) << body;  // Harbor's dialect
  EXPECT_NE(body.find(R"("resourceType":"Task")"), std::string::npos) << body;
  EXPECT_NE(body.find("https://carebridge.example.org/fhir/referral"), std::string::npos) << body;
  // The stored referral keeps what the coordinator wrote.
  EXPECT_NE(coordinator.Get("/fhir/Task/" + task_id).body.find("internal-priority"),
            std::string::npos);

  // The disclosure, as the privacy officer finds it.
  std::string events;
  EXPECT_TRUE(WaitFor([&] {
    Response r = As(gateway, "privacy-office", "GET",
                    "/fhir/AuditEvent?patient=Patient/" + p +
                        "&agent=Organization/harbor-housing"
                        "&type=http://dicom.nema.org/resources/ontology/DCM%7C110106");
    events = r.body;
    return r.status == 200 && r.body.find(R"("id":"disclosure-)") != std::string::npos;
  })) << events;
  EXPECT_NE(events.find(R"("reference":"Task/)" + task_id), std::string::npos) << events;
  EXPECT_NE(events.find(R"("reference":"ServiceRequest/)" + sr_id), std::string::npos) << events;
  // ...and in the patient's accounting of disclosures.
  Response accounting =
      As(gateway, "privacy-office", "GET", "/fhir/Patient/" + p + "/$disclosures");
  ASSERT_EQ(accounting.status, 200) << accounting.body;
  EXPECT_NE(accounting.body.find(R"("id":"disclosure-)"), std::string::npos) << accounting.body;
  EXPECT_EQ(gateway.Stop(), 0);
}

// The referral's Task as the gateway holds it (the one the ServiceRequest's routing created).
fhir::json::Value TaskOf(Client& client, const std::string& sr) {
  Response r = client.Get("/fhir/Task?focus=ServiceRequest/" + sr);
  const fhir::json::Value bundle = r.Json();
  const auto* entries = bundle.Find("entry");
  if (!entries || entries->items().empty()) {
    return fhir::json::Value::Object();
  }
  return *entries->items()[0].Find("resource");
}

// The admin lists the dead letters over HTTP and re-drives one; the re-drive is audited. The
// dead letter had failed the Task (delivery-failed); the re-drive puts it back to requested, so
// the agency gets the referral as it was meant to go: a conditional create of a requested Task.
TEST(ReferralPushTest, AdminRedrivesADeadLetterOverHttp) {
  AgencyServer harbor;
  Up(harbor);
  harbor.agency.Script({}, Act::k400);  // a permanent refusal: the dead letter
  HarborGateway harbor_gateway(harbor);
  GatewayProcess& gateway = harbor_gateway.gateway;
  ASSERT_TRUE(gateway.Start());
  Client ehr(gateway.BaseUrl(), "riverside-ehr");
  const std::string sr = Refer(ehr);
  Client admin(gateway.BaseUrl(), "gateway-admin");
  std::string delivery;
  ASSERT_TRUE(WaitFor([&] {
    Response r = admin.Get("/fhir/$dead-letters");
    if (r.status != 200) {
      return false;
    }
    const fhir::json::Value parameters = r.Json();
    const fhir::json::Value* list = parameters.Find("parameter");
    if (list == nullptr || list->items().empty()) {
      return false;
    }
    for (const auto& part : list->items().front().Find("part")->items()) {
      if (part.StringAt("name") == "id") {
        delivery = std::string(part.StringAt("valueString"));
      }
    }
    return true;
  }));
  ASSERT_FALSE(delivery.empty());
  EXPECT_EQ(As(gateway, "riverside-ehr", "POST", "/fhir/$redrive?delivery=" + delivery).status,
            403);
  ASSERT_TRUE(WaitFor([&] { return BusinessStatus(ehr, sr) == "delivery-failed"; }));
  EXPECT_EQ(TaskOf(ehr, sr).StringAt("status"), "failed");
  harbor.agency.Clear();
  harbor.agency.Script({}, Act::kCreate);
  Response redriven = admin.Request("POST", "/fhir/$redrive?delivery=" + delivery);
  ASSERT_EQ(redriven.status, 200) << redriven.body;
  EXPECT_TRUE(WaitFor([&] { return harbor.agency.creations().size() == 1; }));
  const std::vector<Seen> seen = harbor.agency.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_FALSE(seen[0].if_none_exist.empty());
  std::string message;
  auto sent = fhir::json::Parse(seen[0].body, fhir::json::Limits{}, message);
  ASSERT_TRUE(sent.has_value()) << message;
  EXPECT_EQ(sent->StringAt("status"), "requested") << seen[0].body;
  EXPECT_EQ(sent->Find("statusReason"), nullptr) << seen[0].body;
  EXPECT_TRUE(WaitFor([&] { return BusinessStatus(ehr, sr) == "delivered"; }));
  EXPECT_EQ(TaskOf(ehr, sr).StringAt("status"), "requested");
  EXPECT_EQ(admin.Request("POST", "/fhir/$redrive?delivery=" + delivery).status, 409);
  Response audited = As(gateway, "privacy-office", "GET",
                        "/fhir/AuditEvent?agent=Organization/gateway-admin&subtype=operation");
  ASSERT_EQ(audited.status, 200) << audited.body;
  EXPECT_NE(audited.body.find("Re-drove delivery " + delivery), std::string::npos) << audited.body;
  EXPECT_EQ(gateway.Stop(), 0);
}

TEST(ReferralPushTest, SurvivesAnAgencyOutageAndAGatewayCrashExactlyOnce) {
  AgencyServer harbor;
  Up(harbor);  // learn a port, then go down
  harbor.Down();
  HarborGateway harbor_gateway(harbor);
  GatewayProcess& gateway = harbor_gateway.gateway;
  ASSERT_TRUE(gateway.Start());
  std::vector<std::string> referrals;
  {
    Client ehr(gateway.BaseUrl(), "riverside-ehr");
    for (int i = 0; i < 3; ++i) {
      referrals.push_back(Refer(ehr));
    }
  }
  std::this_thread::sleep_for(300ms);  // let the worker fail against the closed port a few times
  gateway.Kill();                      // a crash: acknowledged referrals must not be lost
  Up(harbor);
  ASSERT_TRUE(gateway.Start());
  Client ehr(gateway.BaseUrl(), "riverside-ehr");
  ASSERT_TRUE(WaitFor([&] { return harbor.agency.creations().size() == 3; }));
  for (const auto& sr : referrals) {
    EXPECT_TRUE(WaitFor([&] { return BusinessStatus(ehr, sr) == "delivered"; })) << sr;
  }
  for (const auto& [key, asked] : harbor.agency.asks()) {
    EXPECT_EQ(asked, 1) << key;  // each sent once, once it could be
  }
  EXPECT_EQ(gateway.Stop(), 0);
}

}  // namespace
}  // namespace carebridge::testing
