// The delivery worker against a real HTTPS agency: carebridge_server's Server on port 0 with mutual
// TLS (dev certificates from certs/gen-dev-certs.sh) in front of a scripted FHIR endpoint that
// implements conditional create, so exactly-once is observable. The outbox is a real SQLite file;
// the consent re-check reads real Consent resources from it. Waits have generous deadlines and
// no test asserts how long anything took.

#include "gateway/delivery/worker.h"

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fhir/json/json.h"
#include "fhir/search/search.h"
#include "gateway/delivery/preparer.h"
#include "gateway/delivery/task_observer.h"
#include "gateway/store/sqlite/sqlite_store.h"
#include "tests/support/agency.h"
#include "tests/support/temp_store.h"

namespace carebridge::delivery {
namespace {

namespace fs = std::filesystem;
namespace net = boost::asio;
using namespace std::chrono_literals;
using Outcome = store::DeliveryAttempt::Outcome;

// ---- environment: dev certificates ------------------------------------------------------------

fs::path& CertDir() {
  static fs::path dir;
  return dir;
}

class Environment : public ::testing::Environment {
 public:
  void SetUp() override {
    CertDir() =
        fs::temp_directory_path() / ("carebridge-delivery-test-" + std::to_string(getpid()));
    const std::string command = std::string("bash '") + CAREBRIDGE_SOURCE_DIR +
                                "/certs/gen-dev-certs.sh' '" + CertDir().string() + "' >/dev/null";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(CertDir(), ec);
  }
};
const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new Environment);

// ---- the agency (tests/support/agency.h) ------------------------------------------------------

using carebridge::testing::Act;
using carebridge::testing::Agency;
using carebridge::testing::Seen;

class AgencyServer : public carebridge::testing::AgencyServer {
 public:
  void Up() {
    std::string message;
    ASSERT_TRUE(carebridge::testing::AgencyServer::Up(CertDir(), message)) << message;
  }
};

// ---- the gateway side
// ----------------------------------------------------------------------------

fhir::json::Value Json(const std::string& text) {
  std::string message;
  auto v = fhir::json::Parse(text, {}, message);
  EXPECT_TRUE(v.has_value()) << message;
  return v ? *v : fhir::json::Value::Object();
}

store::WriteOp Put(const std::string& type, const std::string& id, const std::string& json,
                   store::WriteOp::Kind kind = store::WriteOp::Kind::kUpdate) {
  store::WriteOp op;
  op.kind = kind;
  op.type = type;
  op.id = id;
  fhir::json::Value v = Json(json);
  op.index = fhir::ExtractIndex(type, v);
  op.render = [v](const store::VersionStamp&) { return fhir::json::Write(v); };
  return op;
}

std::string ConsentJson(const std::string& status, const std::string& organization) {
  return R"({"resourceType":"Consent","id":"c1","status":")" + status + R"(",
    "scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},
    "category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],
    "patient":{"reference":"Patient/p1"},"dateTime":"2026-01-01",
    "policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTIN"}]},
    "provision":{"type":"permit",
      "actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},
                "reference":{"reference":")" +
         organization + R"("}}],
      "action":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentaction","code":"disclose"}]}],
      "purpose":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"TREAT"}]}})";
}

std::string TaskJson(const std::string& id, const std::string& agency) {
  return R"({"resourceType":"Task","id":")" + id + R"(","status":"requested","intent":"order",
    "meta":{"versionId":"1","profile":["http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/SDOHCC-TaskForReferralManagement"]},
    "code":{"coding":[{"system":"http://hl7.org/fhir/CodeSystem/task-code","code":"fulfill"}]},
    "focus":{"reference":"ServiceRequest/sr-)" +
         id + R"("},"for":{"reference":"Patient/p1"},
    "authoredOn":"2026-11-02T09:00:00Z","requester":{"reference":"PractitionerRole/coord-1"},
    "owner":{"reference":"Organization/)" +
         agency + R"("}})";
}

std::string ServiceRequestJson(const std::string& id) {
  return R"({"resourceType":"ServiceRequest","id":"sr-)" + id +
         R"(","status":"active","intent":"order",
    "category":[{"coding":[{"system":"http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes","code":"housing-instability"}]}],
    "subject":{"reference":"Patient/p1"},"authoredOn":"2026-11-02"})";
}

store::WriteResult WriteSync(store::Store& s, std::vector<store::WriteOp> ops) {
  store::WriteBatch b;
  b.ops = std::move(ops);
  std::promise<store::WriteResult> p;
  auto f = p.get_future();
  s.Write(std::move(b), [&p](store::WriteResult r) { p.set_value(std::move(r)); });
  return f.get();
}

DeliveryOptions FastOptions() {
  DeliveryOptions o;
  o.max_attempts = 6;
  o.initial_backoff = 50ms;
  o.max_backoff = 200ms;
  o.poll_interval = 50ms;
  o.per_destination = 2;
  o.lease = 10s;
  o.http.client_cert_file = (CertDir() / "care-coordination.crt").string();
  o.http.client_key_file = (CertDir() / "care-coordination.key").string();
  o.http.ca_file = (CertDir() / "ca.crt").string();
  o.http.connect_timeout = 1000ms;
  o.http.total_timeout = 500ms;
  o.http.low_speed_time = 2s;
  return o;
}

// One gateway lifetime: store, blocking pool, event loop, worker. Destroying it is a graceful
// shutdown; a new one on the same file is a restart.
class Gateway {
 public:
  Gateway(const std::string& db, std::vector<AgencyEndpoint> agencies, DeliveryOptions options)
      : guard_(net::make_work_guard(io_)) {
    store::SqliteOptions so;
    so.path = db;
    auto s = store::OpenSqliteStore(so);
    EXPECT_TRUE(s.has_value());
    store_ = std::move(*s);
    StorePreparerOptions po;
    po.agencies = std::move(agencies);
    po.gateway_base_url = "https://gateway.test/fhir";
    preparer_ = std::make_unique<StorePreparer>(*store_, po);
    for (int i = 0; i < 2; ++i) {
      threads_.emplace_back([this] { io_.run(); });
    }
    observer_ = std::make_unique<TaskStatusObserver>(*store_);
    worker_ = std::make_unique<DeliveryWorker>(io_.get_executor(), blocking_, *store_, *preparer_,
                                               options, observer_.get());
  }
  ~Gateway() {
    worker_->Stop();
    guard_.reset();
    io_.stop();
    for (auto& t : threads_) {
      t.join();
    }
    worker_.reset();
    blocking_.join();
    store_->Close();
  }

  store::Store& store() { return *store_; }
  DeliveryWorker& worker() { return *worker_; }

  // A referral for `agency` (ServiceRequest + Task + its delivery, one atomic batch).
  void Refer(const std::string& id, const std::string& agency, std::int64_t not_before = 0) {
    store::WriteOp out;
    out.kind = store::WriteOp::Kind::kOutbox;
    out.type = "Task";
    out.id = "delivery-" + id;
    store::OutboxMessage m;
    m.destination = agency;
    m.resource_type = "Task";
    m.resource_id = id;
    m.patient_id = "p1";
    m.not_before_ms = not_before;
    out.outbox = m;
    auto r = WriteSync(*store_, {Put("ServiceRequest", "sr-" + id, ServiceRequestJson(id)),
                                 Put("Task", id, TaskJson(id, agency)), std::move(out)});
    ASSERT_FALSE(r.failed_op.has_value());
    worker_->Wake();
  }
  void SetConsent(const std::string& status, const std::string& organization) {
    auto r = WriteSync(*store_, {Put("Consent", "c1", ConsentJson(status, organization))});
    ASSERT_FALSE(r.failed_op.has_value());
  }

  store::DeliveryState State(const std::string& id) {
    auto d = store_->ReadDelivery("delivery-" + id);
    return d ? d->state : store::DeliveryState::kPending;
  }
  // The Task's status and business status code, as the observer left them.
  std::pair<std::string, std::string> TaskState(const std::string& id) {
    auto v = store_->Read("Task", id);
    if (!v) {
      return {};
    }
    fhir::json::Value task = Json(v->json);
    std::string business;
    if (const auto* bs = task.Find("businessStatus")) {
      business = std::string(bs->Find("coding")->items().at(0).StringAt("code"));
    }
    return {std::string(task.StringAt("status")), business};
  }
  std::vector<store::DeliveryAttempt> Attempts(const std::string& id) {
    auto a = store_->ListAttempts("delivery-" + id);
    return a ? *a : std::vector<store::DeliveryAttempt>{};
  }

 private:
  // Declared first: destroyed last, after everything that may hold its handlers.
  net::io_context io_;
  net::executor_work_guard<net::io_context::executor_type> guard_;
  net::thread_pool blocking_{2};
  store::StorePtr store_;
  std::unique_ptr<StorePreparer> preparer_;
  std::unique_ptr<TaskStatusObserver> observer_;
  std::vector<std::thread> threads_;
  std::unique_ptr<DeliveryWorker> worker_;
};

// Polls `done` until it holds or a generous deadline passes (never a timing assertion).
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

// Waits until `done` holds for each of the referrals t0 .. t<n-1>.
bool WaitForEach(int n, const std::function<bool(const std::string&)>& done) {
  return WaitFor([&] {
    for (int i = 0; i < n; ++i) {
      if (!done("t" + std::to_string(i))) {
        return false;
      }
    }
    return true;
  });
}

std::vector<Outcome> Outcomes(const std::vector<store::DeliveryAttempt>& attempts) {
  std::vector<Outcome> out;
  for (const auto& a : attempts) {
    out.push_back(a.outcome);
  }
  return out;
}

class DeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "carebridge-delivery-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    db_ = (fs::path(dir_) / "carebridge.db").string();
  }
  void TearDown() override {
    gateway_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  Gateway& StartGateway(DeliveryOptions options = FastOptions()) {
    gateway_.reset();
    gateway_ = std::make_unique<Gateway>(db_, agencies_, options);
    return *gateway_;
  }
  void AddAgency(const std::string& id, const AgencyServer& server) {
    agencies_.push_back({id, "Organization/" + id, server.BaseUrl(), {}});
  }

  std::string dir_;
  std::string db_;
  std::vector<AgencyEndpoint> agencies_;
  std::unique_ptr<Gateway> gateway_;
};

using store::DeliveryState;

TEST_F(DeliveryTest, DeliversOnceWithMutualTlsConditionalCreateAndIdempotencyKey) {
  AgencyServer harbor;
  harbor.Up();
  AddAgency("harbor-housing", harbor);
  Gateway& g = StartGateway();
  g.SetConsent("active", "Organization/harbor-housing");
  g.worker().Start();
  g.Refer("t1", "harbor-housing");
  ASSERT_TRUE(WaitFor([&] { return g.State("t1") == DeliveryState::kDelivered; }));
  auto seen = harbor.agency.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/fhir/Task");
  EXPECT_EQ(seen[0].client_cn, "care-coordination");  // the gateway's client certificate
  EXPECT_EQ(seen[0].idempotency_key, "delivery-t1");
  EXPECT_EQ(seen[0].if_none_exist, "identifier=" + std::string(kReferralIdentifierSystem) + "|t1");
  fhir::json::Value body = Json(seen[0].body);
  EXPECT_EQ(body.Find("id"), nullptr);
  EXPECT_EQ(body.Find("focus")->StringAt("reference"),
            "https://gateway.test/fhir/ServiceRequest/sr-t1");
  EXPECT_EQ(body.Find("identifier")->items().at(0).StringAt("value"), "t1");
  EXPECT_EQ(body.Find("meta")->Find("versionId"), nullptr);
  EXPECT_EQ(Outcomes(g.Attempts("t1")), std::vector<Outcome>{Outcome::kDelivered});
  EXPECT_EQ(g.Attempts("t1").at(0).http_status, 201);
  EXPECT_TRUE(WaitFor([&] { return g.TaskState("t1").second == "delivered"; }));
  EXPECT_EQ(g.TaskState("t1").first, "requested");
  // The push is a disclosure: a BALP PrivacyDisclosure AuditEvent naming the agency as
  // recipient, the patient, and the Task and ServiceRequest (with their versions).
  auto disclosure = g.store().Read("AuditEvent", "disclosure-delivery-t1-1");
  ASSERT_TRUE(disclosure.has_value());
  const std::string& event = disclosure->json;
  EXPECT_NE(event.find(R"("code":"110106")"), std::string::npos) << event;  // DCM Export
  EXPECT_NE(event.find(R"("reference":"Organization/harbor-housing")"), std::string::npos);
  EXPECT_NE(event.find(R"("reference":"Patient/p1")"), std::string::npos);
  EXPECT_NE(event.find(R"("reference":"Task/t1/_history/1")"), std::string::npos) << event;
  EXPECT_NE(event.find(R"("reference":"ServiceRequest/sr-t1/_history/1")"), std::string::npos);
  EXPECT_NE(event.find(R"("code":"TREAT")"), std::string::npos) << event;  // purpose of use
}

TEST_F(DeliveryTest, RetriesThrough5xxAnd429HonouringRetryAfter) {
  AgencyServer harbor;
  harbor.Up();
  harbor.agency.Script({Act::k503, Act::k429});
  AddAgency("harbor-housing", harbor);
  Gateway& g = StartGateway();
  g.SetConsent("active", "Organization/harbor-housing");
  g.worker().Start();
  g.Refer("t1", "harbor-housing");
  ASSERT_TRUE(WaitFor([&] { return g.State("t1") == DeliveryState::kDelivered; }));
  auto attempts = g.Attempts("t1");
  ASSERT_EQ(Outcomes(attempts),
            (std::vector<Outcome>{Outcome::kRetry, Outcome::kRetry, Outcome::kDelivered}));
  EXPECT_EQ(attempts[0].http_status, 503);
  EXPECT_EQ(attempts[1].http_status, 429);
  // Retry-After: 1 outweighs the 50-200 ms backoff.
  EXPECT_GE(attempts[1].next_attempt_ms - attempts[1].finished_ms, 1000);
  EXPECT_LT(attempts[0].next_attempt_ms - attempts[0].finished_ms, 1000);
  EXPECT_EQ(harbor.agency.creations().at("t1"), 1);
}

TEST_F(DeliveryTest, LostResponseIsRetriedAndCreatedExactlyOnce) {
  AgencyServer harbor;
  harbor.Up();
  harbor.agency.Script({Act::kCreateThenHang});
  AddAgency("harbor-housing", harbor);
  Gateway& g = StartGateway();
  g.SetConsent("active", "Organization/harbor-housing");
  g.worker().Start();
  g.Refer("t1", "harbor-housing");
  ASSERT_TRUE(WaitFor([&] { return g.State("t1") == DeliveryState::kDelivered; }));
  auto attempts = g.Attempts("t1");
  ASSERT_EQ(Outcomes(attempts), (std::vector<Outcome>{Outcome::kRetry, Outcome::kDelivered}));
  EXPECT_EQ(attempts[0].http_status, 0);  // timed out: no answer
  EXPECT_FALSE(attempts[0].error.empty());
  EXPECT_EQ(attempts[1].http_status, 200);  // the agency found the Task the first try made
  EXPECT_EQ(harbor.agency.creations().at("t1"), 1);
  auto seen = harbor.agency.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].idempotency_key, seen[1].idempotency_key);
}

TEST_F(DeliveryTest, StalledAgencyIsAbortedByTheLowSpeedLimit) {
  AgencyServer harbor;
  harbor.Up();
  harbor.agency.Script({Act::kHang});
  AddAgency("harbor-housing", harbor);
  DeliveryOptions o = FastOptions();
  // Only the low-speed limit can end the first attempt before the agency answers (1.5 s). The
  // limit is set above what a small request ever moves, so that libcurl's speed average (over
  // a few seconds) is under it at once and the abort comes after low_speed_time.
  o.http.total_timeout = 30s;
  o.http.low_speed_bytes = 1'000'000;
  o.http.low_speed_time = 1s;
  Gateway& g = StartGateway(o);
  g.SetConsent("active", "Organization/harbor-housing");
  g.worker().Start();
  g.Refer("t1", "harbor-housing");
  ASSERT_TRUE(WaitFor([&] { return g.State("t1") == DeliveryState::kDelivered; }));
  auto attempts = g.Attempts("t1");
  ASSERT_EQ(Outcomes(attempts), (std::vector<Outcome>{Outcome::kRetry, Outcome::kDelivered}));
  EXPECT_NE(attempts[0].error.find("too slow"), std::string::npos) << attempts[0].error;
}

TEST_F(DeliveryTest, PermanentRefusalGoesToTheDeadLetterAndIsRedriven) {
  AgencyServer harbor;
  harbor.Up();
  harbor.agency.Script({Act::k400});
  AddAgency("harbor-housing", harbor);
  Gateway& g = StartGateway();
  g.SetConsent("active", "Organization/harbor-housing");
  g.worker().Start();
  g.Refer("t1", "harbor-housing");
  ASSERT_TRUE(WaitFor([&] { return g.State("t1") == DeliveryState::kDead; }));
  auto dead = g.store().ListDeadLetters(10, 0);
  ASSERT_TRUE(dead.has_value());
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ(dead->at(0).last_http_status, 400);
  EXPECT_NE(dead->at(0).last_error.find("we do not take these"), std::string::npos);
  EXPECT_EQ(harbor.agency.requests(), 1);  // no retry of a permanent error
  EXPECT_TRUE(WaitFor([&] { return g.TaskState("t1").second == "delivery-failed"; }));
  EXPECT_EQ(g.TaskState("t1").first, "failed");
  // An admin re-drives it once the agency is fixed.
  ASSERT_TRUE(store::Redrive(g.store(), "delivery-t1", 0).has_value());
  g.worker().Wake();
  ASSERT_TRUE(WaitFor([&] { return g.State("t1") == DeliveryState::kDelivered; }));
  EXPECT_EQ(Outcomes(g.Attempts("t1")),
            (std::vector<Outcome>{Outcome::kDeadLetter, Outcome::kDelivered}));
}

TEST_F(DeliveryTest, TooManyAttemptsGoToTheDeadLetter) {
  AgencyServer harbor;
  harbor.Up();
  harbor.agency.Script({}, Act::k503);
  AddAgency("harbor-housing", harbor);
  DeliveryOptions o = FastOptions();
  o.max_attempts = 3;
  Gateway& g = StartGateway(o);
  g.SetConsent("active", "Organization/harbor-housing");
  g.worker().Start();
  g.Refer("t1", "harbor-housing");
  ASSERT_TRUE(WaitFor([&] { return g.State("t1") == DeliveryState::kDead; }));
  EXPECT_EQ(Outcomes(g.Attempts("t1")),
            (std::vector<Outcome>{Outcome::kRetry, Outcome::kRetry, Outcome::kDeadLetter}));
  EXPECT_EQ(harbor.agency.requests(), 3);
}

TEST_F(DeliveryTest, SurvivesAnOutageAndARestartThenDeliversExactlyOnce) {
  AgencyServer harbor;
  harbor.Up();  // learn a port, then go down
  harbor.Down();
  AddAgency("harbor-housing", harbor);
  DeliveryOptions o = FastOptions();
  o.max_attempts = 1000;  // an outage is not a reason to give up
  {
    Gateway& g = StartGateway(o);
    g.SetConsent("active", "Organization/harbor-housing");
    g.worker().Start();
    for (int i = 0; i < 5; ++i) {
      g.Refer("t" + std::to_string(i), "harbor-housing");
    }
    // Connection refused, again and again.
    ASSERT_TRUE(WaitFor([&] { return g.Attempts("t0").size() >= 2; }));
    EXPECT_EQ(g.State("t0"), DeliveryState::kPending);
  }
  gateway_.reset();  // the gateway stops (gracefully) while the agency is still down
  harbor.Up();       // the agency recovers, on the same port
  Gateway& g = StartGateway(o);
  g.worker().Start();
  ASSERT_TRUE(WaitForEach(
      5, [&](const std::string& t) { return g.State(t) == DeliveryState::kDelivered; }));
  auto creations = harbor.agency.creations();
  ASSERT_EQ(creations.size(), 5u);
  for (const auto& [id, n] : creations) {
    EXPECT_EQ(n, 1) << id;
  }
  EXPECT_EQ(harbor.agency.requests(), 5);  // each sent once it could be
  for (const auto& a : g.Attempts("t0")) {
    if (a.outcome != Outcome::kDelivered) {
      EXPECT_EQ(a.http_status, 0);
      EXPECT_FALSE(a.error.empty());
    }
  }
}

TEST_F(DeliveryTest, AnAgencyBackAfterAnOutageGetsItsBacklogAtOnce) {
  AgencyServer harbor;
  harbor.Up();
  harbor.Down();
  AddAgency("harbor-housing", harbor);
  DeliveryOptions o = FastOptions();
  o.max_attempts = 1000;
  o.initial_backoff = 10min;  // without expediting, nothing would be retried within the test
  o.max_backoff = 10min;
  Gateway& g = StartGateway(o);
  g.SetConsent("active", "Organization/harbor-housing");
  g.worker().Start();
  for (int i = 0; i < 5; ++i) {
    g.Refer("t" + std::to_string(i), "harbor-housing");
  }
  ASSERT_TRUE(WaitForEach(5, [&](const std::string& t) { return !g.Attempts(t).empty(); }));
  harbor.Up();
  g.Refer("fresh", "harbor-housing");  // succeeds at once: the agency is back
  ASSERT_TRUE(WaitForEach(
      5, [&](const std::string& t) { return g.State(t) == DeliveryState::kDelivered; }));
  EXPECT_EQ(harbor.agency.creations().size(), 6u);
}

// Every delivery's own backoff has grown long (here: ten minutes); the agency stops refusing
// connections. The recovery probe (GET [base]/metadata) notices, and the backlog is delivered
// without waiting for a backoff, a fresh referral or a poll: each Task exactly once, every
// attempt recorded, and the probes are not delivery attempts.
TEST_F(DeliveryTest, AnAgencyThatAnswersAgainIsFoundByTheProbeAndGetsItsBacklog) {
  AgencyServer harbor;
  harbor.Up();
  harbor.Down();
  AddAgency("harbor-housing", harbor);
  DeliveryOptions o = FastOptions();
  o.max_attempts = 1000;
  o.initial_backoff = 10min;
  o.max_backoff = 10min;
  o.poll_interval = 10min;
  o.probe_interval = 20ms;
  o.max_probe_interval = 100ms;
  Gateway& g = StartGateway(o);
  g.SetConsent("active", "Organization/harbor-housing");
  g.worker().Start();
  for (int i = 0; i < 5; ++i) {
    g.Refer("t" + std::to_string(i), "harbor-housing");
  }
  ASSERT_TRUE(WaitForEach(5, [&](const std::string& t) { return !g.Attempts(t).empty(); }));
  ASSERT_TRUE(WaitFor([&] { return g.worker().probes() >= 2; }));  // still down: probed again
  harbor.Up();
  ASSERT_TRUE(WaitForEach(
      5, [&](const std::string& t) { return g.State(t) == DeliveryState::kDelivered; }));
  EXPECT_GE(harbor.agency.metadata_reads(), 1);
  auto creations = harbor.agency.creations();
  ASSERT_EQ(creations.size(), 5u);
  for (const auto& [id, n] : creations) {
    EXPECT_EQ(n, 1) << id;
  }
  EXPECT_EQ(harbor.agency.requests(), 5);  // the probes are not in here: only Task POSTs
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Outcomes(g.Attempts("t" + std::to_string(i))),
              (std::vector<Outcome>{Outcome::kRetry, Outcome::kDelivered}));
  }
}

// A backlog larger than the agency's allowance in flight drains as slots free up, not one claim
// per poll: with the poll ten minutes away, only the worker's own re-claims can deliver it.
TEST_F(DeliveryTest, BacklogDrainsAsSlotsFreeUpWithoutWaitingForThePoll) {
  AgencyServer harbor;
  harbor.Up();
  AddAgency("harbor-housing", harbor);
  DeliveryOptions o = FastOptions();
  o.per_destination = 2;
  o.claim_batch = 2;
  o.poll_interval = 10min;
  Gateway& g = StartGateway(o);
  g.SetConsent("active", "Organization/harbor-housing");
  for (int i = 0; i < 12; ++i) {
    g.Refer("t" + std::to_string(i), "harbor-housing");
  }
  g.worker().Start();
  ASSERT_TRUE(WaitFor([&] { return harbor.agency.creations().size() == 12u; }));
  for (const auto& [id, n] : harbor.agency.creations()) {
    EXPECT_EQ(n, 1) << id;
  }
  EXPECT_EQ(harbor.agency.requests(), 12);
}

TEST_F(DeliveryTest, OneHangingAgencyDoesNotBlockAnother) {
  AgencyServer slow;
  slow.Up();
  slow.agency.Script({}, Act::kHang);
  AgencyServer food;
  food.Up();
  AddAgency("harbor-housing", slow);
  AddAgency("northside-food", food);
  DeliveryOptions o = FastOptions();
  o.max_attempts = 1000;
  Gateway& g = StartGateway(o);
  g.SetConsent("active", "Organization/northside-food");
  // The consent releases nothing to harbor-housing; give it one too so its deliveries really
  // hang at the agency rather than stop at the consent check.
  WriteSync(g.store(), {Put("Consent", "c2", [] {
              std::string c = ConsentJson("active", "Organization/harbor-housing");
              return c.replace(c.find("\"id\":\"c1\""), 9, "\"id\":\"c2\"");
            }())});
  for (int i = 0; i < 6; ++i) {
    g.Refer("slow" + std::to_string(i), "harbor-housing");
  }
  for (int i = 0; i < 3; ++i) {
    g.Refer("food" + std::to_string(i), "northside-food");
  }
  g.worker().Start();
  ASSERT_TRUE(WaitFor([&] {
    return g.State("food0") == DeliveryState::kDelivered &&
           g.State("food1") == DeliveryState::kDelivered &&
           g.State("food2") == DeliveryState::kDelivered;
  }));
  EXPECT_TRUE(slow.agency.creations().empty());
  EXPECT_EQ(g.State("slow0"), DeliveryState::kPending);
}

TEST_F(DeliveryTest, ConsentRevokedWhileWaitingStopsTheDelivery) {
  AgencyServer harbor;
  harbor.Up();
  AddAgency("harbor-housing", harbor);
  Gateway& g = StartGateway();
  g.SetConsent("active", "Organization/harbor-housing");
  g.Refer("t1", "harbor-housing");                          // queued while the consent is in force
  g.SetConsent("inactive", "Organization/harbor-housing");  // revoked before the send
  g.worker().Start();
  ASSERT_TRUE(WaitFor([&] { return g.State("t1") == DeliveryState::kStopped; }));
  EXPECT_EQ(harbor.agency.requests(), 0);
  auto attempts = g.Attempts("t1");
  ASSERT_EQ(Outcomes(attempts), std::vector<Outcome>{Outcome::kStopped});
  EXPECT_NE(attempts[0].error.find("consent does not release"), std::string::npos)
      << attempts[0].error;
  EXPECT_TRUE(WaitFor([&] {
    return g.TaskState("t1") == std::pair<std::string, std::string>("failed", "not-released");
  }));
  // The coordinator is alerted, in the batch that failed the Task: Flag and Communication.
  auto flag = g.store().Read("Flag", AlertId("t1", "not-released"));
  ASSERT_TRUE(flag.has_value());
  EXPECT_NE(flag->json.find(std::string(kReferralAlertSystem)), std::string::npos);
  auto communication = g.store().Read("Communication", AlertId("t1", "not-released"));
  ASSERT_TRUE(communication.has_value());
  EXPECT_NE(communication->json.find(R"("recipient":[{"reference":"PractitionerRole/coord-1"}])"),
            std::string::npos)
      << communication->json;
  EXPECT_EQ(harbor.agency.requests(), 0);
}

TEST_F(DeliveryTest, NoConsentForThatAgencyIsNeverSent) {
  AgencyServer harbor;
  harbor.Up();
  AddAgency("harbor-housing", harbor);
  Gateway& g = StartGateway();
  g.SetConsent("active", "Organization/northside-food");  // released to someone else
  g.worker().Start();
  g.Refer("t1", "harbor-housing");
  ASSERT_TRUE(WaitFor([&] { return g.State("t1") == DeliveryState::kStopped; }));
  EXPECT_EQ(harbor.agency.requests(), 0);
}

TEST_F(DeliveryTest, AgencyWithoutEndpointIsADeadLetter) {
  Gateway& g = StartGateway();
  g.SetConsent("active", "Organization/harbor-housing");
  g.worker().Start();
  g.Refer("t1", "harbor-housing");
  ASSERT_TRUE(WaitFor([&] { return g.State("t1") == DeliveryState::kDead; }));
  EXPECT_NE(g.Attempts("t1").at(0).error.find("no FHIR endpoint"), std::string::npos);
}

// 42 CFR Part 2: a referral carrying SUD data goes only under a consent that names the agency
// and the purpose, and then with the re-disclosure notice (42 CFR 2.32) in Task.note.
// A delivered push of Part 2 data (the consent policy's labels) is recorded as a disclosure of
// Part 2 data.
TEST(TaskStatusObserverTest, DeliveredPart2DataIsAPart2Disclosure) {
  carebridge::testing::TempStore temp("observer");
  store::Store& s = *temp;
  std::string sud_request = ServiceRequestJson("t1");
  sud_request.insert(sud_request.size() - 1,
                     R"(,"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/)"
                     R"(v3-ActCode","code":"ETH"}]})");
  ASSERT_FALSE(WriteSync(s, {Put("ServiceRequest", "sr-t1", sud_request),
                             Put("Task", "t1", TaskJson("t1", "harbor-housing"))})
                   .failed_op);
  TaskStatusObserver observer(s);
  store::Delivery delivery;
  delivery.id = "d1";
  delivery.message = {"harbor-housing", "Task", "t1", "p1", "", 0};
  store::DeliveryAttempt attempt;
  attempt.id = "d1";
  attempt.attempt = 1;
  attempt.outcome = Outcome::kDelivered;
  attempt.http_status = 201;
  attempt.started_ms = attempt.finished_ms = 1'793'610'000'000;
  observer.OnAttempt(delivery, attempt);
  auto event = s.Read("AuditEvent", "disclosure-d1-1");
  ASSERT_TRUE(event.has_value());
  EXPECT_NE(event->json.find("audit-42cfr-part2"), std::string::npos) << event->json;
  EXPECT_NE(event->json.find("re-disclosure notice"), std::string::npos) << event->json;
}

// The Task goes in the agency's dialect: the injected outbound mapping runs on the canonical Task
// before the gateway adds its identifier and absolute references.
TEST(StorePreparerTest, TheTaskIsMappedIntoTheAgencysDialect) {
  carebridge::testing::TempStore temp("mapped");
  store::Store& s = *temp;
  ASSERT_FALSE(
      WriteSync(s, {Put("ServiceRequest", "sr-t1", ServiceRequestJson("t1")),
                    Put("Task", "t1", TaskJson("t1", "harbor-housing")),
                    Put("Consent", "c1", ConsentJson("active", "Organization/harbor-housing"))})
          .failed_op);
  StorePreparerOptions po;
  po.agencies = {{"harbor-housing", "Organization/harbor-housing", "https://agency.test/fhir", {}}};
  std::vector<std::string> mapped_for;
  po.map_outbound = [&mapped_for](std::string_view agency, fhir::json::Value& resource) {
    mapped_for.emplace_back(agency);
    resource.Set("priority", fhir::json::Value::String("routine"));  // the agency's default
    resource.Find("focus")->Set("display", fhir::json::Value::String("mapped"));
  };
  StorePreparer preparer(s, po);
  store::Delivery delivery;
  delivery.id = "d1";
  delivery.message = {"harbor-housing", "Task", "t1", "p1", "", 0};
  Preparation p = preparer.Prepare(delivery);
  ASSERT_EQ(p.kind, Preparation::Kind::kSend) << p.reason;
  EXPECT_EQ(mapped_for, std::vector<std::string>{"harbor-housing"});
  fhir::json::Value body = Json(p.call.body);
  EXPECT_EQ(body.StringAt("priority"), "routine");
  EXPECT_EQ(body.Find("focus")->StringAt("display"), "mapped");
  EXPECT_EQ(body.Find("identifier")->items().at(0).StringAt("value"), "t1");
  EXPECT_EQ(body.Find("id"), nullptr);
}

TEST(StorePreparerTest, Part2ReferralsCarryTheRedisclosureNotice) {
  carebridge::testing::TempStore temp("part2");
  store::Store& s = *temp;
  std::string sud_request = ServiceRequestJson("t1");
  sud_request.insert(sud_request.size() - 1,
                     R"(,"reasonCode":[{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm",)"
                     R"("code":"F11.20"}]}])");
  ASSERT_FALSE(WriteSync(s, {Put("ServiceRequest", "sr-t1", sud_request),
                             Put("Task", "t1", TaskJson("t1", "harbor-housing"))})
                   .failed_op);
  StorePreparerOptions po;
  po.agencies = {{"harbor-housing", "Organization/harbor-housing", "https://agency.test/fhir", {}}};
  StorePreparer preparer(s, po);
  store::Delivery delivery;
  delivery.id = "d1";
  delivery.message = {"harbor-housing", "Task", "t1", "p1", "", 0};

  // A consent that releases to everyone, for any purpose, does not release Part 2 data.
  auto without_actor = Json(ConsentJson("active", "Organization/harbor-housing"));
  without_actor.Find("provision")->Remove("actor");
  without_actor.Find("provision")->Remove("purpose");
  ASSERT_FALSE(WriteSync(s, {Put("Consent", "c1", fhir::json::Write(without_actor))}).failed_op);
  Preparation refused = preparer.Prepare(delivery);
  EXPECT_EQ(refused.kind, Preparation::Kind::kStop) << refused.reason;

  // Naming the agency and the purpose releases it, with the notice.
  ASSERT_FALSE(
      WriteSync(s, {Put("Consent", "c1", ConsentJson("active", "Organization/harbor-housing"))})
          .failed_op);
  delivery.attempts = 2;  // the next claim
  Preparation sent = preparer.Prepare(delivery);
  ASSERT_EQ(sent.kind, Preparation::Kind::kSend) << sent.reason;
  EXPECT_NE(sent.call.body.find("42 CFR part 2"), std::string::npos) << sent.call.body;
  // Both send-time decisions are AuthZconsent AuditEvents: the refusal, then the permit.
  fhir::Outcome outcome;
  auto decisions = fhir::ParseSearchQuery(
      "AuditEvent",
      {{"patient", "Patient/p1"}, {"type", "http://dicom.nema.org/resources/ontology/DCM|110113"}},
      {}, outcome);
  ASSERT_TRUE(decisions.has_value());
  auto found = s.Search(*decisions);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->total, 2);
}

}  // namespace
}  // namespace carebridge::delivery
