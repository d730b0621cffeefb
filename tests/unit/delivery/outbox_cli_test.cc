// `carebridge outbox dead-letters|redrive --data-dir DIR` as a process: the admin's way to see
// and re-drive the referral deliveries in the dead letter.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <future>
#include <string>

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
    // One delivery dead-lettered with a 400, one still pending.
    store::SqliteOptions o;
    o.path = (fs::path(dir_) / "carebridge.db").string();
    auto s = store::OpenSqliteStore(o);
    ASSERT_TRUE(s.has_value());
    store::WriteBatch b;
    for (const char* id : {"dead-1", "pending-1"}) {
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
    std::promise<store::WriteResult> p;
    (*s)->Write(std::move(b), [&p](store::WriteResult r) { p.set_value(std::move(r)); });
    ASSERT_FALSE(p.get_future().get().failed_op.has_value());
    store::ClaimOptions claim;
    claim.now_ms = 1'900'000'000'000;
    auto claimed = (*s)->ClaimDeliveries(claim);
    ASSERT_TRUE(claimed.has_value());
    ASSERT_EQ(claimed->size(), 1u);
    store::DeliveryAttempt a;
    a.id = "dead-1";
    a.attempt = claimed->at(0).attempts;
    a.outcome = store::DeliveryAttempt::Outcome::kDeadLetter;
    a.http_status = 400;
    a.error = "HTTP 400: we do not take these";
    ASSERT_TRUE((*s)->RecordAttempt(a).has_value());
    (*s)->Close();
  }
  carebridge::testing::ScratchDir scratch_;
  const std::string dir_ = scratch_.path();
};

TEST_F(OutboxCliTest, ListsDeadLettersAndRedrivesOne) {
  Proc listed = Carebridge("outbox dead-letters --data-dir " + dir_);
  EXPECT_EQ(listed.exit_code, 0) << listed.out;
  EXPECT_EQ(listed.out,
            "dead-1\tharbor-housing\tTask/task-dead-1\tattempts=1\thttp=400\t"
            "HTTP 400: we do not take these\n");

  Proc redriven = Carebridge("outbox redrive dead-1 --data-dir " + dir_);
  EXPECT_EQ(redriven.exit_code, 0) << redriven.out;
  EXPECT_EQ(redriven.out, "re-driven: dead-1\n");
  EXPECT_EQ(Carebridge("outbox dead-letters --data-dir " + dir_).out, "");

  Proc again = Carebridge("outbox redrive dead-1 --data-dir " + dir_);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.out.find("not dead or stopped"), std::string::npos) << again.out;
  Proc pending = Carebridge("outbox redrive pending-1 --data-dir " + dir_);
  EXPECT_EQ(pending.exit_code, 1);
  Proc unknown = Carebridge("outbox redrive nope --data-dir " + dir_);
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.out.find("not a delivery"), std::string::npos) << unknown.out;
}

TEST_F(OutboxCliTest, UsageErrors) {
  EXPECT_EQ(Carebridge("outbox").exit_code, 2);
  EXPECT_EQ(Carebridge("outbox redrive --data-dir " + dir_).exit_code, 2);
  EXPECT_EQ(Carebridge("outbox dead-letters --data-dir " + dir_ + "/nowhere").exit_code, 2);
  EXPECT_EQ(Carebridge("outbox frobnicate --data-dir " + dir_).exit_code, 2);
}

}  // namespace
}  // namespace carebridge::delivery
