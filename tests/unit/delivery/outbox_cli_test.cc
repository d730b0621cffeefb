// `carebridge outbox dead-letters|redrive --data-dir DIR` as a process: the admin's way to see
// and re-drive the referral deliveries in the dead letter.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <future>
#include <string>

#include "fhir/json/json.h"
#include "gateway/store/sqlite/sqlite_store.h"
#include "tests/unit/cli_support.h"

namespace carebridge::delivery {
namespace {

namespace fs = std::filesystem;

using carebridge::testing::Carebridge;
using carebridge::testing::Proc;

class OutboxCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(scratch_.path().empty());
    // One delivery dead-lettered with a 400, one stopped by consent, one still pending; the Tasks
    // of the first two failed by the gateway (as task_observer.h does), requested before.
    store::SqliteOptions o;
    o.path = (fs::path(dir_) / "carebridge.db").string();
    auto s = store::OpenSqliteStore(o);
    ASSERT_TRUE(s.has_value());
    store::WriteBatch b;
    for (const char* id : {"dead-1", "stopped-1", "pending-1"}) {
      store::WriteOp op;
      op.kind = store::WriteOp::Kind::kOutbox;
      op.type = "Task";
      op.id = id;
      store::OutboxMessage m;
      m.destination = "harbor-housing";
      m.resource_type = "Task";
      m.resource_id = std::string("task-") + id;
      m.not_before_ms = std::string(id) == "pending-1" ? 4'000'000'000'000 : 0;
      op.outbox = m;
      b.ops.push_back(std::move(op));
    }
    for (const char* id : {"dead-1", "stopped-1"}) {
      for (const char* status : {"requested", "failed"}) {
        const bool failed = std::string(status) == "failed";
        std::string task =
            R"({"resourceType":"Task","status":")" + std::string(status) +
            R"(","intent":"order","meta":{"source":"urn:carebridge:partner:riverside-ehr"})";
        if (failed) {
          task += R"(,"statusReason":{"text":"delivery failed: HTTP 400"},"businessStatus":{)"
                  R"("coding":[{"system":"https://carebridge.example.org/fhir/CodeSystem/)"
                  R"(referral-business-status","code":"delivery-failed"}]})";
        }
        task += "}";
        std::string message;
        auto json = fhir::json::Parse(task, fhir::json::Limits{}, message);
        ASSERT_TRUE(json.has_value()) << message;
        b.ops.push_back(store::ResourceOp(
            failed ? store::WriteOp::Kind::kUpdate : store::WriteOp::Kind::kCreate, "Task",
            std::string("task-") + id, std::move(*json)));
      }
    }
    ASSERT_FALSE(store::WriteAndWait(**s, std::move(b)).failed_op.has_value());
    store::ClaimOptions claim;
    claim.now_ms = 1'900'000'000'000;
    auto claimed = (*s)->ClaimDeliveries(claim);
    ASSERT_TRUE(claimed.has_value());
    ASSERT_EQ(claimed->size(), 2u);
    for (const store::Delivery& d : *claimed) {
      store::DeliveryAttempt a;
      a.id = d.id;
      a.attempt = d.attempts;
      const bool dead = d.id == "dead-1";
      a.outcome = dead ? store::DeliveryAttempt::Outcome::kDeadLetter
                       : store::DeliveryAttempt::Outcome::kStopped;
      a.http_status = dead ? 400 : 0;
      a.error = dead ? "HTTP 400: we do not take these" : "consent does not release it";
      ASSERT_TRUE((*s)->RecordAttempt(a).has_value());
    }
    (*s)->Close();
  }
  // The Task as stored in the data directory.
  fhir::json::Value Task(const std::string& id) {
    store::SqliteOptions o;
    o.path = (fs::path(dir_) / "carebridge.db").string();
    auto s = store::OpenSqliteStore(o);
    EXPECT_TRUE(s.has_value());
    auto stored = (*s)->Read("Task", id);
    (*s)->Close();
    EXPECT_TRUE(stored.has_value()) << id;
    std::string message;
    auto json = fhir::json::Parse(stored->json, fhir::json::Limits{}, message);
    return json ? std::move(*json) : fhir::json::Value::Object();
  }
  carebridge::testing::ScratchDir scratch_;
  const std::string dir_ = scratch_.path();
};

TEST_F(OutboxCliTest, ListsDeadLettersAndRedrivesOne) {
  Proc listed = Carebridge("outbox dead-letters --data-dir " + dir_);
  EXPECT_EQ(listed.exit_code, 0) << listed.out;
  EXPECT_EQ(listed.out,
            "dead-1\tdead\tharbor-housing\tTask/task-dead-1\tattempts=1\thttp=400\t"
            "HTTP 400: we do not take these\n"
            "stopped-1\tstopped\tharbor-housing\tTask/task-stopped-1\tattempts=1\thttp=0\t"
            "consent does not release it\n");

  Proc redriven = Carebridge("outbox redrive dead-1 --data-dir " + dir_);
  EXPECT_EQ(redriven.exit_code, 0) << redriven.out;
  EXPECT_EQ(redriven.out.rfind("re-driven: Re-drove delivery dead-1 ", 0), 0u) << redriven.out;
  EXPECT_EQ(Carebridge("outbox dead-letters --data-dir " + dir_).out.rfind("stopped-1\t", 0), 0u);
  // The Task the failure had failed is requested again, by the gateway, as it was before.
  const fhir::json::Value task = Task("task-dead-1");
  EXPECT_EQ(task.StringAt("status"), "requested");
  EXPECT_EQ(task.Find("statusReason"), nullptr);
  EXPECT_EQ(task.Find("businessStatus"), nullptr);
  EXPECT_EQ(task.Find("meta")->StringAt("source"), "urn:carebridge:gateway");

  Proc again = Carebridge("outbox redrive dead-1 --data-dir " + dir_);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.out.find("not dead or stopped"), std::string::npos) << again.out;
  Proc pending = Carebridge("outbox redrive pending-1 --data-dir " + dir_);
  EXPECT_EQ(pending.exit_code, 1);
  Proc unknown = Carebridge("outbox redrive nope --data-dir " + dir_);
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.out.find("No delivery nope"), std::string::npos) << unknown.out;
}

// A referral whose Task moved on after its delivery was stopped (the requester cancelled it) is
// not resurrected: exit 1, the delivery stays in the dead letter, the Task stays cancelled.
TEST_F(OutboxCliTest, DoesNotResurrectAReferralThatMovedOn) {
  {
    store::SqliteOptions o;
    o.path = (fs::path(dir_) / "carebridge.db").string();
    auto s = store::OpenSqliteStore(o);
    ASSERT_TRUE(s.has_value());
    std::string message;
    auto cancelled =
        fhir::json::Parse(R"({"resourceType":"Task","status":"cancelled","intent":"order",)"
                          R"("statusReason":{"text":"no longer needed"}})",
                          fhir::json::Limits{}, message);
    ASSERT_TRUE(cancelled.has_value()) << message;
    store::WriteBatch b;
    b.ops.push_back(store::ResourceOp(store::WriteOp::Kind::kUpdate, "Task", "task-stopped-1",
                                      std::move(*cancelled)));
    ASSERT_FALSE(store::WriteAndWait(**s, std::move(b)).failed_op.has_value());
    (*s)->Close();
  }
  Proc refused = Carebridge("outbox redrive stopped-1 --data-dir " + dir_);
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_NE(refused.out.find("is cancelled"), std::string::npos) << refused.out;
  EXPECT_NE(Carebridge("outbox dead-letters --data-dir " + dir_).out.find("stopped-1\tstopped"),
            std::string::npos);
  EXPECT_EQ(Task("task-stopped-1").StringAt("status"), "cancelled");
}

TEST_F(OutboxCliTest, UsageErrors) {
  EXPECT_EQ(Carebridge("outbox").exit_code, 2);
  EXPECT_EQ(Carebridge("outbox redrive --data-dir " + dir_).exit_code, 2);
  EXPECT_EQ(Carebridge("outbox dead-letters --data-dir " + dir_ + "/nowhere").exit_code, 2);
  EXPECT_EQ(Carebridge("outbox frobnicate --data-dir " + dir_).exit_code, 2);
}

}  // namespace
}  // namespace carebridge::delivery
