// Release of information against the real gateway: consent evasion is the adversary. Data hidden
// in searches, paging, contained resources, Bundle entries and history; a revoked or expired
// consent; a withheld resource probed by id; Part 2 data; and the audit trail of every decision.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

namespace carebridge::testing {
namespace {

namespace json = fhir::json;

constexpr const char* kIcd10Cm = "http://hl7.org/fhir/sid/icd-10-cm";

std::string Reference(const std::string& reference) {
  return R"({"reference":")" + reference + R"("})";
}

// A patient-privacy Consent of `patient` with `provision` (JSON), active unless said otherwise.
std::string ConsentJson(const std::string& patient, const std::string& provision,
                        const std::string& status = "active", const std::string& id = "") {
  return R"({"resourceType":"Consent",)" + (id.empty() ? "" : R"("id":")" + id + R"(",)") +
         R"("status":")" + status + R"(",
      "scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope",
        "code":"patient-privacy"}]},
      "category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],
      "patient":)" +
         Reference("Patient/" + patient) +
         R"(,"dateTime":"2026-11-01",
      "policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode",
        "code":"OPTIN"}]},
      "provision":)" +
         provision + "}";
}

// A permit naming the recipient organization and the purpose (what Part 2 asks for).
std::string PermitFor(const std::string& partner, const std::string& purpose,
                      const std::string& extra = "") {
  return R"({"type":"permit",)" + extra + R"("actor":[{"role":{"coding":[{"system":
      "http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},
      "reference":{"reference":"Organization/)" +
         partner +
         R"("}}],"purpose":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason",
      "code":")" +
         purpose + R"("}]})";
}

std::string ConditionJson(const std::string& patient, const std::string& icd10,
                          const std::string& contained = "") {
  return R"({"resourceType":"Condition",)" + contained + R"("subject":)" +
         Reference("Patient/" + patient) + R"(,"code":{"coding":[{"system":")" + kIcd10Cm +
         R"(","code":")" + icd10 + R"("}]}})";
}

class ConsentTest : public GatewaySuite {
 protected:
  static void SetUpTestSuite() { StartGateway(); }

  // Creates `body` as riverside-ehr and returns its id.
  std::string Create(const std::string& type, const std::string& body,
                     const std::string& partner = "riverside-ehr") {
    Response created = As(partner, "POST", "/fhir/" + type, body);
    EXPECT_EQ(created.status, 201) << body << " -> " << created.body;
    return std::string(created.Json().StringAt("id"));
  }

  std::string NewPatient() {
    return Create("Patient", R"({"resourceType":"Patient","gender":"unknown"})");
  }

  // The `total` of an AuditEvent search by the privacy office.
  int AuditCount(const std::string& query) {
    Response found = As("privacy-office", "GET", "/fhir/AuditEvent?" + query);
    EXPECT_EQ(found.status, 200) << query << " -> " << found.body;
    const json::Value bundle = found.Json();
    const json::Value* total = bundle.Find("total");
    return total == nullptr ? -1 : std::stoi(total->text());
  }

  // A 404 for a withheld resource must be indistinguishable from one for an absent resource:
  // the same status and the same body once the id is taken out.
  void ExpectAnsweredAsAbsent(const std::string& partner, const std::string& type,
                              const std::string& id, const std::vector<std::string>& headers = {}) {
    Response withheld = As(partner, "GET", "/fhir/" + type + "/" + id, {}, headers);
    const std::string absent_id = "0000000-absent-" + id.substr(0, 8);
    Response absent = As(partner, "GET", "/fhir/" + type + "/" + absent_id, {}, headers);
    EXPECT_EQ(withheld.status, 404) << withheld.body;
    EXPECT_EQ(absent.status, 404) << absent.body;
    std::string a = withheld.body;
    std::string b = absent.body;
    a.replace(a.find(id), id.size(), "X");
    b.replace(b.find(absent_id), absent_id.size(), "X");
    EXPECT_EQ(a, b);
  }
};

TEST_F(ConsentTest, ReleasedToTheNamedAgencyForTheNamedPurposeOnlyUntilRevoked) {
  std::string patient = NewPatient();
  std::string referral = Create("ServiceRequest", R"({"resourceType":"ServiceRequest",
      "status":"active","intent":"order","code":{"text":"housing navigation"},
      "subject":)" + Reference("Patient/" + patient) + R"(,
      "performer":[{"reference":"Organization/harbor-housing"},
                   {"reference":"Organization/northside-food"}]})");
  const std::string path = "/fhir/ServiceRequest/" + referral;

  // Opt-in: without a consent nobody but its author sees it.
  EXPECT_EQ(As("harbor-housing", "GET", path).status, 404);
  EXPECT_EQ(As("riverside-ehr", "GET", path).status, 200);

  std::string consent_id =
      Create("Consent", ConsentJson(patient, PermitFor("harbor-housing", "TREAT")));
  Response permitted = As("harbor-housing", "GET", path);
  EXPECT_EQ(permitted.status, 200) << permitted.body;
  ExpectAnsweredAsAbsent("northside-food", "ServiceRequest", referral);
  ExpectAnsweredAsAbsent("harbor-housing", "ServiceRequest", referral,
                         {"X-Purpose-Of-Use: HOPERAT"});

  // Revocation (R4: status inactive) is in force for the very next request.
  Response revoked =
      As("riverside-ehr", "PUT", "/fhir/Consent/" + consent_id,
         ConsentJson(patient, PermitFor("harbor-housing", "TREAT"), "inactive", consent_id));
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_EQ(As("harbor-housing", "GET", path).status, 404);

  // Every decision is in the audit log, findable by patient, recipient and outcome.
  const std::string by = "patient=Patient/" + patient + "&agent=Organization/";
  const std::string decision = "&type=http://dicom.nema.org/resources/ontology/DCM%7C110113";
  const std::string disclosure = "&type=http://dicom.nema.org/resources/ontology/DCM%7C110106";
  EXPECT_EQ(AuditCount(by + "harbor-housing" + decision + "&outcome=0"), 1);
  EXPECT_EQ(AuditCount(by + "harbor-housing" + disclosure), 1);
  EXPECT_EQ(AuditCount(by + "harbor-housing" + decision + "&outcome=8"), 3);
  EXPECT_EQ(AuditCount(by + "northside-food" + decision + "&outcome=8"), 1);
  EXPECT_EQ(AuditCount(by + "northside-food" + disclosure), 0);
  EXPECT_EQ(AuditCount(by + "harbor-housing" + decision + "&purpose=HOPERAT"), 1);

  // The permit names the consent version that decided.
  Response permit = As("privacy-office", "GET",
                       "/fhir/AuditEvent?" + by + "harbor-housing" + decision + "&outcome=0");
  EXPECT_NE(permit.body.find("Consent/" + consent_id + "/_history/1"), std::string::npos)
      << permit.body;
}

TEST_F(ConsentTest, SearchAndPagingShowNothingOfWithheldEntries) {
  std::string patient = NewPatient();
  // A generic permit: enough for ordinary data, never for Part 2 data.
  Create("Consent", ConsentJson(patient, R"({"type":"permit"})"));
  std::vector<std::string> ordinary;
  for (const char* code : {"F32.9", "F41.1", "Z59.0"}) {
    ordinary.push_back(Create("Condition", ConditionJson(patient, code)));
  }
  std::vector<std::string> sud;
  for (const char* code : {"F11.20", "F10.20"}) {
    sud.push_back(Create("Condition", ConditionJson(patient, code)));
  }
  Client coordinator(gateway().BaseUrl(), "care-coordination");
  const std::string search = "/fhir/Condition?subject=Patient/" + patient;
  Response all = coordinator.Get(search);
  ASSERT_EQ(all.status, 200);
  EXPECT_EQ(all.Json().Find("total")->text(), "3");
  EXPECT_EQ(all.Json().Find("entry")->items().size(), 3u);
  EXPECT_EQ(all.body.find("F11.20"), std::string::npos);
  EXPECT_EQ(all.body.find("F10.20"), std::string::npos);
  EXPECT_EQ(SearchTotal(coordinator, search + "&_summary=count"), "3");
  EXPECT_EQ(SearchTotal(coordinator, search + "&code=" + kIcd10Cm + "%7CF11.20"), "0");

  // Pages are full and the links end where the visible entries end.
  Response first = coordinator.Get(search + "&_count=2");
  json::Value first_page = first.Json();
  EXPECT_EQ(first_page.Find("total")->text(), "3");
  EXPECT_EQ(first_page.Find("entry")->items().size(), 2u);
  std::string next;
  for (const auto& link : first_page.Find("link")->items()) {
    if (link.StringAt("relation") == "next") {
      next = std::string(link.StringAt("url"));
    }
  }
  ASSERT_FALSE(next.empty()) << first.body;
  Response second = coordinator.Get(next.substr(next.find("/fhir/")));
  json::Value second_page = second.Json();
  EXPECT_EQ(second_page.Find("entry")->items().size(), 1u) << second.body;
  EXPECT_EQ(second.body.find("\"next\""), std::string::npos) << second.body;

  // Probing by id, vread or history tells nothing either.
  ExpectAnsweredAsAbsent("care-coordination", "Condition", sud[0]);
  EXPECT_EQ(coordinator.Get("/fhir/Condition/" + sud[0] + "/_history/1").status, 404);
  Response history = coordinator.Get("/fhir/Condition/" + sud[0] + "/_history");
  EXPECT_EQ(history.status, 200);
  EXPECT_EQ(history.Json().Find("entry"), nullptr) << history.body;
  EXPECT_EQ(history.Json().Find("total")->text(), "0");

  // The author reads its own data, which the gateway labelled as Part 2 on the way in.
  Response own = As("riverside-ehr", "GET", "/fhir/Condition/" + sud[0]);
  ASSERT_EQ(own.status, 200);
  EXPECT_NE(own.body.find(R"("code":"ETH")"), std::string::npos) << own.body;

  // A consent naming the recipient and the purpose releases Part 2 data, with the notice.
  Create("Consent", ConsentJson(patient, PermitFor("care-coordination", "TREAT")));
  Response part2 = coordinator.Get("/fhir/Condition/" + sud[0]);
  ASSERT_EQ(part2.status, 200) << part2.body;
  EXPECT_NE(part2.Header("x-redisclosure-notice").find("42 CFR part 2"), std::string::npos);
  Response with_notice = coordinator.Get(search);
  EXPECT_EQ(with_notice.Json().Find("total")->text(), "5");
  EXPECT_NE(with_notice.body.find(R"("mode":"outcome")"), std::string::npos);
  EXPECT_NE(with_notice.body.find("42 CFR part 2"), std::string::npos);
  EXPECT_EQ(AuditCount("patient=Patient/" + patient +
                       "&type=http://dicom.nema.org/resources/ontology/DCM%7C110106"
                       "&agent=Organization/care-coordination"),
            5);  // the first search, its two pages, the read, the search with the notice
}

TEST_F(ConsentTest, ContainedResourcesBundlesAndOtherPatientsDoNotLeak) {
  std::string released = NewPatient();
  std::string unreleased = NewPatient();
  Create("Consent", ConsentJson(released, PermitFor("care-coordination", "TREAT")));
  std::string plain = Create("Condition", ConditionJson(released, "F32.9"));
  // A released patient's Condition that carries another patient's data inside it.
  std::string smuggling =
      Create("Condition",
             ConditionJson(released, "F41.1",
                           R"("contained":[{"resourceType":"Condition","id":"other","subject":)" +
                               Reference("Patient/" + unreleased) +
                               R"(,"code":{"text":"other patient's diagnosis"}}],)"));
  std::string hidden = Create("Condition", ConditionJson(unreleased, "F32.9"));

  Client coordinator(gateway().BaseUrl(), "care-coordination");
  EXPECT_EQ(coordinator.Get("/fhir/Condition/" + plain).status, 200);
  ExpectAnsweredAsAbsent("care-coordination", "Condition", smuggling);
  ExpectAnsweredAsAbsent("care-coordination", "Condition", hidden);
  Response search = coordinator.Get("/fhir/Condition?subject=Patient/" + released);
  EXPECT_EQ(search.Json().Find("total")->text(), "1");
  EXPECT_EQ(search.body.find("other patient's diagnosis"), std::string::npos);

  // Bundle GET entries are decided like the requests they stand for.
  Response batch = coordinator.Post("/fhir",
                                    R"({"resourceType":"Bundle","type":"batch","entry":[
      {"request":{"method":"GET","url":"Condition/)" +
                                        plain + R"("}},
      {"request":{"method":"GET","url":"Condition/)" +
                                        hidden + R"("}},
      {"request":{"method":"GET","url":"Condition?subject=Patient/)" +
                                        unreleased + R"("}}]})",
                                    {"Content-Type: application/fhir+json"});
  ASSERT_EQ(batch.status, 200) << batch.body;
  json::Value response = batch.Json();
  const auto& entries = response.Find("entry")->items();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].Find("response")->StringAt("status").substr(0, 3), "200");
  EXPECT_EQ(entries[1].Find("response")->StringAt("status").substr(0, 3), "404");
  EXPECT_EQ(entries[2].Find("resource")->Find("total")->text(), "0");
  EXPECT_EQ(batch.body.find(hidden + "\",\"meta\""), std::string::npos);
}

TEST_F(ConsentTest, WithheldResourcesCannotBeReplacedOrDeleted) {
  std::string patient = NewPatient();  // no consent: nothing is released
  std::string condition = Create("Condition", ConditionJson(patient, "F32.9"));
  const std::string path = "/fhir/Condition/" + condition;
  std::string replacement = R"({"resourceType":"Condition","id":")" + condition +
                            R"(","subject":)" + Reference("Patient/" + patient) +
                            R"(,"code":{"text":"overwritten"}})";
  Response put = As("lakeside-cmhc", "PUT", path, replacement);
  EXPECT_EQ(put.status, 404) << put.body;
  EXPECT_EQ(As("lakeside-cmhc", "DELETE", path).status, 404);
  Response batch = As("lakeside-cmhc", "POST", "/fhir",
                      R"({"resourceType":"Bundle","type":"batch","entry":[
      {"request":{"method":"PUT","url":"Condition/)" +
                          condition + R"("},"resource":)" + replacement + R"(},
      {"request":{"method":"DELETE","url":"Condition/)" +
                          condition + R"("}}]})");
  ASSERT_EQ(batch.status, 200) << batch.body;
  EXPECT_EQ(batch.body.find("\"201"), std::string::npos) << batch.body;
  EXPECT_EQ(batch.body.find("\"200"), std::string::npos) << batch.body;
  EXPECT_EQ(batch.body.find("\"204"), std::string::npos) << batch.body;
  Response own = As("riverside-ehr", "GET", path);
  ASSERT_EQ(own.status, 200);
  EXPECT_EQ(own.Json().Find("meta")->StringAt("versionId"), "1");
  EXPECT_EQ(own.body.find("overwritten"), std::string::npos);
  // The author may still change its own data.
  EXPECT_EQ(As("riverside-ehr", "PUT", path, replacement).status, 200);
}

// A 410 tells that something existed: a partner that could not see the resource gets the same
// 404 as for an absent one, and may not bring it back with a PUT; one that could gets the 410.
TEST_F(ConsentTest, DeletionsOfWithheldResourcesAnswerAsAbsent) {
  std::string patient = NewPatient();
  Create("Consent", ConsentJson(patient, PermitFor("care-coordination", "TREAT")));
  std::string condition = Create("Condition", ConditionJson(patient, "F32.9"));
  const std::string path = "/fhir/Condition/" + condition;
  ASSERT_EQ(As("riverside-ehr", "DELETE", path).status, 204);

  EXPECT_EQ(As("riverside-ehr", "GET", path).status, 410);
  EXPECT_EQ(As("care-coordination", "GET", path).status, 410);
  EXPECT_EQ(As("care-coordination", "GET", path + "/_history/2").status, 410);
  ExpectAnsweredAsAbsent("lakeside-cmhc", "Condition", condition);
  EXPECT_EQ(As("lakeside-cmhc", "GET", path + "/_history/2").status, 404);
  Response recreate = As("lakeside-cmhc", "PUT", path,
                         R"({"resourceType":"Condition","id":")" + condition + R"(","subject":)" +
                             Reference("Patient/" + patient) + R"(,"code":{"text":"recreated"}})");
  EXPECT_EQ(recreate.status, 404) << recreate.body;
}

TEST_F(ConsentTest, ExpiredConsentDeniesAndBreakingTheGlassIsFlagged) {
  std::string patient = NewPatient();
  Create("Consent",
         ConsentJson(patient, PermitFor("care-coordination", "TREAT",
                                        R"("period":{"start":"2019-01-01","end":"2020-12-31"},)")));
  std::string condition = Create("Condition", ConditionJson(patient, "F32.9"));
  ExpectAnsweredAsAbsent("care-coordination", "Condition", condition);

  Response emergency = As("care-coordination", "GET", "/fhir/Condition/" + condition, {},
                          {"X-Purpose-Of-Use: ETREAT"});
  EXPECT_EQ(emergency.status, 200) << emergency.body;
  Response flagged = As("privacy-office", "GET",
                        "/fhir/AuditEvent?patient=Patient/" + patient + "&purpose=ETREAT");
  EXPECT_NE(flagged.body.find("audit-break-the-glass"), std::string::npos) << flagged.body;
  // Agencies may not claim ETREAT, so they cannot break the glass.
  EXPECT_EQ(As("harbor-housing", "GET", "/fhir/Task", {}, {"X-Purpose-Of-Use: ETREAT"}).status,
            403);
}

TEST_F(ConsentTest, PrivacyOfficersEvaluateAccountAndExport) {
  std::string patient = NewPatient();
  std::string consent =
      Create("Consent", ConsentJson(patient, PermitFor("care-coordination", "TREAT")));
  std::string condition = Create("Condition", ConditionJson(patient, "F32.9"));
  auto evaluate = [&](const std::string& partner, const std::string& recipient,
                      const std::string& purpose) {
    return As(partner, "POST", "/fhir/Consent/$evaluate",
              R"({"resourceType":"Parameters","parameter":[
                  {"name":"recipient","valueReference":{"reference":"Organization/)" +
                  recipient + R"("}},
                  {"name":"purpose","valueCode":")" +
                  purpose + R"("},
                  {"name":"resource","valueReference":{"reference":"Condition/)" +
                  condition + R"("}}]})");
  };
  Response permit = evaluate("privacy-office", "care-coordination", "TREAT");
  ASSERT_EQ(permit.status, 200) << permit.body;
  EXPECT_NE(permit.body.find(R"("valueCode":"permit")"), std::string::npos) << permit.body;
  EXPECT_NE(permit.body.find("Consent/" + consent), std::string::npos) << permit.body;
  EXPECT_EQ(permit.body.find("F32.9"), std::string::npos);  // nothing of the data itself
  Response deny = evaluate("care-coordination", "lakeside-cmhc", "TREAT");
  ASSERT_EQ(deny.status, 200) << deny.body;
  EXPECT_NE(deny.body.find(R"("valueCode":"deny")"), std::string::npos) << deny.body;
  EXPECT_NE(deny.body.find("opt-in"), std::string::npos) << deny.body;
  EXPECT_EQ(evaluate("harbor-housing", "care-coordination", "TREAT").status, 403);
  EXPECT_EQ(evaluate("privacy-office", "no-such-partner", "TREAT").status, 400);

  // Evaluating disclosed nothing: the accounting is empty until the coordinator reads.
  const std::string accounting = "/fhir/Patient/" + patient + "/$disclosures";
  Response none = As("privacy-office", "GET", accounting);
  ASSERT_EQ(none.status, 200) << none.body;
  EXPECT_EQ(none.Json().Find("total")->text(), "0");
  ASSERT_EQ(As("care-coordination", "GET", "/fhir/Condition/" + condition).status, 200);
  Response one = As("privacy-office", "GET", accounting + "?start=2020-01-01");
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(one.Json().Find("total")->text(), "1");
  EXPECT_NE(one.body.find("Organization/care-coordination"), std::string::npos);
  EXPECT_NE(one.body.find("Condition/" + condition), std::string::npos);
  EXPECT_EQ(
      As("privacy-office", "GET", accounting + "?end=2020-01-01").Json().Find("total")->text(),
      "0");
  EXPECT_EQ(As("riverside-ehr", "GET", accounting).status, 403);
  EXPECT_EQ(As("privacy-office", "GET", accounting + "?color=red").status, 400);

  Response exported = As("privacy-office", "GET", "/fhir/AuditEvent/$export?start=2020-01-01");
  ASSERT_EQ(exported.status, 200);
  EXPECT_EQ(exported.Header("content-type"), "application/fhir+ndjson");
  std::size_t lines = 0;
  std::size_t start = 0;
  while (start < exported.body.size()) {
    std::size_t end = exported.body.find('\n', start);
    ASSERT_NE(end, std::string::npos);
    std::string message;
    auto event = json::Parse(std::string_view(exported.body).substr(start, end - start),
                             json::Limits{}, message);
    ASSERT_TRUE(event) << message;
    EXPECT_EQ(event->StringAt("resourceType"), "AuditEvent");
    ++lines;
    start = end + 1;
  }
  EXPECT_GT(lines, 10u);
  EXPECT_EQ(As("riverside-ehr", "GET", "/fhir/AuditEvent/$export").status, 403);
}

// The chain of a busy gateway holds, and an edited row breaks it exactly there.
TEST(AuditChainTest, TenThousandAuditedRequestsVerifyAndATamperedRowFails) {
  TempDir dir;
  const auto data_dir = dir.path() / "data";
  auto gateway = std::make_unique<GatewayProcess>(data_dir);
  ASSERT_TRUE(gateway->Start());
  std::string patient;
  {
    Client riverside(gateway->BaseUrl());
    Response created = riverside.Post("/fhir/Patient", R"({"resourceType":"Patient"})",
                                      {"Content-Type: application/fhir+json"});
    ASSERT_EQ(created.status, 201);
    patient = std::string(created.Json().StringAt("id"));
  }
  constexpr int kThreads = 8;
  constexpr int kRequests = 10'000;
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      Client client(gateway->BaseUrl(), "riverside-ehr");
      while (next.fetch_add(1) < kRequests) {
        long status = client.Get("/fhir/Patient/" + patient).status;
        // The partner's rate limit (1,000/s) paces the run; a refused request is simply retried.
        while (status == 429) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          status = client.Get("/fhir/Patient/" + patient).status;
        }
        if (status != 200) {
          failures.fetch_add(1);
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(failures.load(), 0);
  ASSERT_EQ(gateway->Stop(), 0);
  gateway.reset();

  auto verify = [&] {
    std::string command = std::string(CAREBRIDGE_BINARY) + " audit verify --data-dir '" +
                          data_dir.string() + "' 2>&1";
    std::FILE* pipe = popen(command.c_str(), "r");
    std::string out;
    char buffer[512];
    while (pipe != nullptr && std::fgets(buffer, sizeof buffer, pipe) != nullptr) {
      out += buffer;
    }
    int status = pipe == nullptr ? -1 : pclose(pipe);
    return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : -1, out);
  };
  auto [intact_status, intact] = verify();
  EXPECT_EQ(intact_status, 0) << intact;
  // The Patient's create, then one REST event per read.
  EXPECT_NE(intact.find("audit chain OK: 10001 records"), std::string::npos) << intact;

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((data_dir / "carebridge.db").c_str(), &db), SQLITE_OK);
  std::string victim;
  {
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(
        sqlite3_prepare_v2(db, "SELECT id FROM audit_chain WHERE seq = 5000", -1, &stmt, nullptr),
        SQLITE_OK);
    ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
    victim = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
  }
  std::string tamper =
      "DROP TRIGGER audit_chain_no_update; UPDATE audit_chain SET canonical = "
      "replace(canonical, '\"outcome\":\"0\"', '\"outcome\":\"8\"') WHERE id = '" +
      victim + "'";
  ASSERT_EQ(sqlite3_exec(db, tamper.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  auto [broken_status, broken] = verify();
  EXPECT_EQ(broken_status, 1) << broken;
  EXPECT_NE(broken.find("BROKEN at record 5000 AuditEvent/" + victim), std::string::npos) << broken;
}

}  // namespace
}  // namespace carebridge::testing
