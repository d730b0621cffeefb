// SLA alerts with a controllable clock and a real SQLite store: each breach of an open referral
// raises its Flag, Communication and webhook outbox row exactly once, across evaluations, a new
// alerter and a reopened store.

#include "gateway/delivery/sla_alerter.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <string>

#include "fhir/json/json.h"
#include "fhir/resource/resource.h"
#include "fhir/search/search.h"
#include "gateway/delivery/preparer.h"
#include "gateway/referral/clock.h"
#include "gateway/store/sqlite/sqlite_store.h"

namespace carebridge::delivery {
namespace {

namespace json = fhir::json;
constexpr std::int64_t kDay = 24LL * 60 * 60 * 1000;

class SlaAlerterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sla-alerter-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Open();
  }
  void TearDown() override {
    store_->Close();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Open() {
    if (store_) {
      store_->Close();
    }
    store::SqliteOptions so;
    so.path = (dir_ / "db.sqlite").string();
    auto s = store::OpenSqliteStore(so);
    ASSERT_TRUE(s.has_value());
    store_ = std::move(*s);
  }
  // A requested referral Task, stored now (meta.lastUpdated: the system clock).
  void Refer(const std::string& id, const std::string& status = "requested") {
    std::string message;
    auto task = json::Parse(R"({"resourceType":"Task","status":")" + status +
                                R"(","intent":"order",
      "code":{"coding":[{"system":"http://hl7.org/fhir/CodeSystem/task-code","code":"fulfill"}]},
      "focus":{"reference":"ServiceRequest/sr-1"},"for":{"reference":"Patient/p-1"},
      "authoredOn":"2026-11-22T10:00:00Z","requester":{"reference":"PractitionerRole/coord-1"},
      "owner":{"reference":"Organization/harbor-housing"}})",
                            {}, message);
    ASSERT_TRUE(task.has_value()) << message;
    store::WriteOp op =
        store::ResourceOp(store::WriteOp::Kind::kCreate, "Task", id, std::move(*task));
    store::WriteBatch batch;
    batch.ops.push_back(std::move(op));
    std::promise<store::WriteResult> done;
    auto result = done.get_future();
    store_->Write(std::move(batch),
                  [&done](store::WriteResult r) { done.set_value(std::move(r)); });
    ASSERT_FALSE(result.get().failed_op);
  }
  SlaAlertOptions Options() {
    SlaAlertOptions o;
    o.webhook = "coordinator-webhook";
    return o;
  }

  std::filesystem::path dir_;
  store::StorePtr store_;
  referral::ManualClock clock_{referral::SystemClock().NowMs()};
};

TEST_F(SlaAlerterTest, EachBreachFiresExactlyOnce) {
  Refer("t-1");
  SlaAlerter alerter(*store_, clock_, Options());
  EXPECT_EQ(alerter.RunOnce().value(), 0);  // nothing late yet
  // Five days on: the agency has not acknowledged (2 business days, whatever the weekday), first
  // contact (7 days) is not due yet.
  clock_.Advance(5 * kDay);
  EXPECT_EQ(alerter.RunOnce().value(), 1);
  EXPECT_EQ(alerter.RunOnce().value(), 0);
  const std::string ack = AlertId("t-1", "ack");
  auto flag = store_->Read("Flag", ack);
  ASSERT_TRUE(flag.has_value());
  EXPECT_NE(flag->json.find(R"("reference":"Patient/p-1")"), std::string::npos) << flag->json;
  EXPECT_NE(flag->json.find(std::string(kSlaBreachSystem)), std::string::npos);
  auto communication = store_->Read("Communication", ack);
  ASSERT_TRUE(communication.has_value());
  EXPECT_NE(communication->json.find(R"("recipient":[{"reference":"PractitionerRole/coord-1"}])"),
            std::string::npos)
      << communication->json;
  auto delivery = store_->ReadDelivery(ack);
  ASSERT_TRUE(delivery.has_value());
  EXPECT_EQ(delivery->message.destination, "coordinator-webhook");
  EXPECT_EQ(delivery->message.resource_type, "Communication");

  // First contact is late too: one more alert; then a new alerter and a reopened store (a
  // restart) find both already raised.
  clock_.Advance(3 * kDay);
  EXPECT_EQ(alerter.RunOnce().value(), 1);
  EXPECT_TRUE(store_->Read("Flag", AlertId("t-1", "first-contact")).has_value());
  SlaAlerter again(*store_, clock_, Options());
  EXPECT_EQ(again.RunOnce().value(), 0);
  Open();
  SlaAlerter restarted(*store_, clock_, Options());
  EXPECT_EQ(restarted.RunOnce().value(), 0);
}

TEST_F(SlaAlerterTest, ClosedReferralsAndOtherTasksRaiseNothing) {
  Refer("done", "completed");
  Refer("draft", "draft");
  clock_.Advance(20 * kDay);
  SlaAlerter alerter(*store_, clock_, Options());
  EXPECT_EQ(alerter.RunOnce().value(), 0);
}

TEST_F(SlaAlerterTest, RunnerEvaluatesPeriodicallyAndStops) {
  Refer("t-2");
  clock_.Advance(5 * kDay);
  SlaAlertOptions o = Options();
  o.interval = std::chrono::milliseconds(10);
  SlaAlerter alerter(*store_, clock_, o);
  alerter.Start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!store_->Read("Flag", AlertId("t-2", "ack")) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  alerter.Stop();
  EXPECT_TRUE(store_->Read("Flag", AlertId("t-2", "ack")).has_value());
}

// The delivery worker's preparer POSTs the alert's Communication to the configured webhook.
TEST_F(SlaAlerterTest, TheWebhookRowCarriesTheCommunication) {
  Refer("t-3");
  clock_.Advance(5 * kDay);
  SlaAlerter alerter(*store_, clock_, Options());
  ASSERT_EQ(alerter.RunOnce().value(), 1);
  auto delivery = store_->ReadDelivery(AlertId("t-3", "ack"));
  ASSERT_TRUE(delivery.has_value());
  StorePreparerOptions po;
  po.webhooks.emplace_back("coordinator-webhook", "https://coord.example/hook");
  StorePreparer preparer(*store_, po);
  Preparation p = preparer.Prepare(*delivery);
  ASSERT_EQ(p.kind, Preparation::Kind::kSend) << p.reason;
  EXPECT_EQ(p.call.method, "POST");
  EXPECT_EQ(p.call.url, "https://coord.example/hook");
  EXPECT_NE(p.call.body.find(R"("resourceType":"Communication")"), std::string::npos);
  // Without the webhook configured, nobody can take it.
  StorePreparer none(*store_, StorePreparerOptions{});
  EXPECT_EQ(none.Prepare(*delivery).kind, Preparation::Kind::kDeadLetter);
}

// Contacts recorded on the referral (a Communication based on or part of the Task, e.g. by the
// agency) count: the first contact is not late.
TEST_F(SlaAlerterTest, ContactsOnTheReferralCountForTheSla) {
  Refer("t-4");
  store::WriteBatch batch;
  std::string message;
  auto contact = json::Parse(R"({"resourceType":"Communication","status":"completed",
      "partOf":[{"reference":"Task/t-4"}],"subject":{"reference":"Patient/p-1"},
      "sent":")" + fhir::FormatInstant(clock_.NowMs()) +
                                 R"("})",
                             {}, message);
  ASSERT_TRUE(contact.has_value()) << message;
  batch.ops.push_back(store::ResourceOp(store::WriteOp::Kind::kCreate, "Communication", "c-1",
                                        std::move(*contact)));
  ASSERT_FALSE(store::WriteAndWait(*store_, std::move(batch)).failed_op);
  clock_.Advance(8 * kDay);
  SlaAlerter alerter(*store_, clock_, Options());
  EXPECT_EQ(alerter.RunOnce().value(), 1);  // the acknowledgement only
  EXPECT_TRUE(store_->Read("Flag", AlertId("t-4", "ack")).has_value());
  EXPECT_FALSE(store_->Read("Flag", AlertId("t-4", "first-contact")).has_value());
}

// A referral the gateway could not send alerts its coordinator like an SLA breach does.
TEST(NotSentAlertTest, FlagCommunicationAndWebhookRowForTheCoordinator) {
  std::string message;
  auto task = json::Parse(R"({"resourceType":"Task","status":"failed",
      "for":{"reference":"Patient/p-1"},"requester":{"reference":"PractitionerRole/coord-1"}})",
                          {}, message);
  ASSERT_TRUE(task.has_value());
  const CoordinatorAlert alert = NotSentAlert("t-9", *task, referral::BusinessStatus::kNoAgency,
                                              "no rule matches", 1'793'610'000'000);
  EXPECT_EQ(alert.key, "no-agency");
  EXPECT_EQ(alert.system, kReferralAlertSystem);
  EXPECT_NE(alert.text.find("no rule matches"), std::string::npos);
  EXPECT_NE(alert.text.find("Task/t-9"), std::string::npos);
  std::vector<store::WriteOp> ops = AlertOps(alert, AlertTarget{"hook", "Device/carebridge"});
  ASSERT_EQ(ops.size(), 3u);
  EXPECT_EQ(ops[0].type, "Flag");
  EXPECT_EQ(ops[0].id, AlertId("t-9", "no-agency"));
  EXPECT_EQ(ops[1].type, "Communication");
  const std::string communication = ops[1].render(store::VersionStamp{ops[1].id, 1, "x"});
  EXPECT_NE(communication.find(R"("recipient":[{"reference":"PractitionerRole/coord-1"}])"),
            std::string::npos)
      << communication;
  EXPECT_NE(communication.find(R"("about":[{"reference":"Task/t-9"}])"), std::string::npos);
  EXPECT_EQ(ops[2].kind, store::WriteOp::Kind::kOutbox);
  EXPECT_EQ(ops[2].outbox->destination, "hook");
  EXPECT_EQ(ops[2].outbox->patient_id, "p-1");
  EXPECT_EQ(AlertOps(alert, AlertTarget{}).size(), 2u);  // no webhook configured
}

TEST(AlertIdTest, StableValidAndDistinct) {
  const std::string id = AlertId(std::string(64, 'a'), "contacts-week-4");
  EXPECT_LE(id.size(), 64u);
  EXPECT_TRUE(fhir::IsValidId(id)) << id;
  EXPECT_EQ(AlertId("t-1", "ack"), AlertId("t-1", "ack"));
  EXPECT_NE(AlertId("t-1", "ack"), AlertId("t-2", "ack"));
  EXPECT_NE(AlertId("t-1", "ack"), AlertId("t-1", "first-contact"));
}

}  // namespace
}  // namespace carebridge::delivery
