// The outbox (store.h "Outbox"): deliveries commit with the referral, are claimed, attempted,
// recorded, dead-lettered and re-driven, all on a real SQLite file that survives a reopen.

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <future>
#include <set>
#include <string>
#include <vector>

#include "gateway/store/sqlite/sqlite_store.h"

namespace carebridge::store {
namespace {

namespace fs = std::filesystem;
using Outcome = DeliveryAttempt::Outcome;

constexpr std::int64_t kT0 = 1'800'000'000'000;  // a fixed "now" for claims (2027)

WriteOp Resource(std::string type, std::string id) {
  WriteOp op;
  op.kind = WriteOp::Kind::kCreate;
  op.type = std::move(type);
  op.id = std::move(id);
  op.render = [](const VersionStamp& s) { return R"({"id":")" + s.id + R"("})"; };
  return op;
}

WriteOp Outbox(std::string id, std::string destination, std::string task,
               std::int64_t not_before = 0) {
  WriteOp op;
  op.kind = WriteOp::Kind::kOutbox;
  op.type = "Task";
  op.id = std::move(id);
  OutboxMessage m;
  m.destination = std::move(destination);
  m.resource_type = "Task";
  m.resource_id = std::move(task);
  m.patient_id = "p1";
  m.payload = R"({"resourceType":"Bundle"})";
  m.not_before_ms = not_before;
  op.outbox = std::move(m);
  return op;
}

WriteResult WriteSync(Store& store, std::vector<WriteOp> ops, bool atomic = true) {
  WriteBatch b;
  b.ops = std::move(ops);
  b.atomic = atomic;
  std::promise<WriteResult> p;
  auto f = p.get_future();
  store.Write(std::move(b), [&p](WriteResult r) { p.set_value(std::move(r)); });
  return f.get();
}

ClaimOptions At(std::int64_t now, int limit = 32, int per_destination = 4) {
  ClaimOptions o;
  o.now_ms = now;
  o.limit = limit;
  o.per_destination = per_destination;
  o.lease_ms = 60'000;
  return o;
}

std::vector<std::string> Ids(const std::vector<Delivery>& ds) {
  std::vector<std::string> out;
  for (const auto& d : ds) {
    out.push_back(d.id);
  }
  return out;
}

DeliveryAttempt Attempt(const Delivery& d, Outcome outcome, std::int64_t finished, int http = 0,
                        std::int64_t next = 0) {
  DeliveryAttempt a;
  a.id = d.id;
  a.attempt = d.attempts;
  a.started_ms = finished - 10;
  a.finished_ms = finished;
  a.outcome = outcome;
  a.http_status = http;
  a.error = http ? "HTTP " + std::to_string(http) : "";
  a.next_attempt_ms = next;
  return a;
}

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "carebridge-outbox-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = (fs::path(dir_) / "store.db").string();
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  Store& Open() {
    store_.reset();
    SqliteOptions o;
    o.path = path_;
    auto s = OpenSqliteStore(o);
    EXPECT_TRUE(s.has_value());
    store_ = std::move(*s);
    return *store_;
  }
  std::vector<Delivery> Claim(const ClaimOptions& o) {
    auto r = store_->ClaimDeliveries(o);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message());
    return r ? *r : std::vector<Delivery>{};
  }

  std::string dir_;
  std::string path_;
  StorePtr store_;
};

TEST_F(OutboxTest, CommitsWithTheReferralOrNotAtAll) {
  Store& s = Open();
  WriteResult ok = WriteSync(s, {Resource("Task", "t1"), Outbox("d1", "harbor-housing", "t1")});
  ASSERT_TRUE(ok.ops.at(1).has_value());
  EXPECT_EQ(ok.ops[1]->kind, WriteOutcome::Kind::kCreated);
  EXPECT_EQ(ok.ops[1]->stamp.id, "d1");
  auto d = s.ReadDelivery("d1");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->state, DeliveryState::kPending);
  EXPECT_EQ(d->message.destination, "harbor-housing");
  EXPECT_EQ(d->message.resource_id, "t1");
  EXPECT_EQ(d->message.patient_id, "p1");
  EXPECT_EQ(d->message.payload, R"({"resourceType":"Bundle"})");
  EXPECT_EQ(d->attempts, 0);

  // The referral fails (t1 exists): its delivery is not queued either.
  WriteResult failed = WriteSync(s, {Resource("Task", "t1"), Outbox("d2", "harbor-housing", "t1")});
  EXPECT_EQ(failed.failed_op, 0u);
  EXPECT_EQ(s.ReadDelivery("d2").error(), make_error_code(errc::kNotFound));
  // And the other way round: a bad delivery undoes the referral.
  WriteResult bad = WriteSync(s, {Resource("Task", "t2"), Outbox("d1", "harbor-housing", "t2")});
  EXPECT_EQ(bad.failed_op, 1u);
  EXPECT_EQ(bad.ops[1].error(), make_error_code(errc::kVersionConflict));
  EXPECT_EQ(s.Read("Task", "t2").error(), make_error_code(errc::kNotFound));
  WriteOp no_destination = Outbox("d3", "", "t1");
  EXPECT_FALSE(WriteSync(s, {no_destination}).ops.at(0).has_value());
}

TEST_F(OutboxTest, ClaimsOnlyDueUnleasedDeliveries) {
  Store& s = Open();
  WriteSync(s, {Outbox("now", "a", "t1"), Outbox("later", "a", "t2", kT0 + 5000)});
  auto first = Claim(At(kT0));
  ASSERT_EQ(Ids(first), std::vector<std::string>{"now"});
  EXPECT_EQ(first[0].attempts, 1);
  EXPECT_EQ(first[0].retries, 1);
  EXPECT_TRUE(Claim(At(kT0 + 1)).empty());  // "now" is leased, "later" not due
  EXPECT_EQ(Ids(Claim(At(kT0 + 5000))), std::vector<std::string>{"later"});
}

TEST_F(OutboxTest, RetryDeliverAndListEveryAttempt) {
  Store& s = Open();
  WriteSync(s, {Outbox("d1", "a", "t1")});
  auto c1 = Claim(At(kT0));
  ASSERT_EQ(c1.size(), 1u);
  ASSERT_TRUE(s.RecordAttempt(Attempt(c1[0], Outcome::kRetry, kT0 + 100, 503, kT0 + 2000)));
  EXPECT_TRUE(Claim(At(kT0 + 1999)).empty());  // backing off
  auto c2 = Claim(At(kT0 + 2000));
  ASSERT_EQ(c2.size(), 1u);
  EXPECT_EQ(c2[0].attempts, 2);
  EXPECT_EQ(c2[0].last_http_status, 503);
  ASSERT_TRUE(s.RecordAttempt(Attempt(c2[0], Outcome::kDelivered, kT0 + 2100, 201)));
  EXPECT_TRUE(Claim(At(kT0 + 100'000)).empty());
  auto d = s.ReadDelivery("d1");
  EXPECT_EQ(d->state, DeliveryState::kDelivered);
  auto attempts = s.ListAttempts("d1");
  ASSERT_TRUE(attempts.has_value());
  ASSERT_EQ(attempts->size(), 2u);
  EXPECT_EQ((*attempts)[0].outcome, Outcome::kRetry);
  EXPECT_EQ((*attempts)[0].http_status, 503);
  EXPECT_EQ((*attempts)[0].next_attempt_ms, kT0 + 2000);
  EXPECT_EQ((*attempts)[1].outcome, Outcome::kDelivered);
  EXPECT_EQ((*attempts)[1].attempt, 2);
  EXPECT_EQ(s.ListAttempts("nope").error(), make_error_code(errc::kNotFound));
  // Recording twice, or for a delivery no longer leased, is refused.
  EXPECT_EQ(s.RecordAttempt(Attempt(c2[0], Outcome::kDelivered, kT0 + 2200, 201)).error(),
            make_error_code(errc::kVersionConflict));
}

TEST_F(OutboxTest, ListDeliveriesOfOneResourceToOneDestinationInQueueOrder) {
  Store& s = Open();
  WriteSync(s, {Outbox("d1", "a", "t1"), Outbox("d2", "b", "t1"), Outbox("d3", "a", "t2"),
                Outbox("d4", "a", "t1")});
  auto listed = s.ListDeliveries("a", "Task", "t1");
  ASSERT_TRUE(listed.has_value());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].id, "d1");
  EXPECT_EQ((*listed)[1].id, "d4");
  EXPECT_TRUE(s.ListDeliveries("a", "Task", "none")->empty());
}

TEST_F(OutboxTest, ExpiredLeaseIsAbandonedAndTheStaleWorkerCannotRecord) {
  Store& s = Open();
  WriteSync(s, {Outbox("d1", "a", "t1")});
  auto c1 = Claim(At(kT0));
  ASSERT_EQ(c1.size(), 1u);
  auto c2 = Claim(At(kT0 + 60'000));  // the lease ran out
  ASSERT_EQ(c2.size(), 1u);
  EXPECT_EQ(c2[0].attempts, 2);
  EXPECT_EQ(s.RecordAttempt(Attempt(c1[0], Outcome::kDelivered, kT0 + 60'001, 201)).error(),
            make_error_code(errc::kVersionConflict));
  ASSERT_TRUE(s.RecordAttempt(Attempt(c2[0], Outcome::kDelivered, kT0 + 60'002, 200)));
  auto attempts = s.ListAttempts("d1");
  ASSERT_EQ(attempts->size(), 2u);
  EXPECT_EQ((*attempts)[0].outcome, Outcome::kAbandoned);
  EXPECT_EQ((*attempts)[0].attempt, 1);
  EXPECT_EQ((*attempts)[1].outcome, Outcome::kDelivered);
}

TEST_F(OutboxTest, DeadLetterListAndRedrive) {
  Store& s = Open();
  WriteSync(s, {Outbox("d1", "a", "t1"), Outbox("d2", "b", "t2")});
  auto c = Claim(At(kT0));
  ASSERT_EQ(c.size(), 2u);
  ASSERT_TRUE(s.RecordAttempt(Attempt(c[0], Outcome::kDeadLetter, kT0 + 5, 400)));
  ASSERT_TRUE(s.RecordAttempt(Attempt(c[1], Outcome::kStopped, kT0 + 5)));
  // The dead letter lists what an admin may re-drive: dead and consent-stopped alike.
  auto dead = s.ListDeadLetters(10, 0);
  ASSERT_TRUE(dead.has_value());
  ASSERT_EQ(Ids(*dead), (std::vector<std::string>{"d1", "d2"}));
  EXPECT_EQ((*dead)[0].last_http_status, 400);
  EXPECT_EQ((*dead)[0].state, DeliveryState::kDead);
  EXPECT_EQ((*dead)[1].state, DeliveryState::kStopped);
  EXPECT_EQ(s.ReadDelivery("d2")->state, DeliveryState::kStopped);
  EXPECT_TRUE(Claim(At(kT0 + 100)).empty());

  EXPECT_EQ(Redrive(s, "nope", kT0).error(), make_error_code(errc::kNotFound));
  ASSERT_TRUE(Redrive(s, "d1", kT0 + 200));
  EXPECT_EQ(Redrive(s, "d1", kT0 + 200).error(), make_error_code(errc::kVersionConflict));
  ASSERT_TRUE(Redrive(s, "d2", kT0 + 200));
  EXPECT_TRUE(s.ListDeadLetters(10, 0)->empty());
  auto again = Claim(At(kT0 + 200));
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].attempts, 2);  // history kept
  EXPECT_EQ(again[0].retries, 1);   // fresh budget
}

// A re-drive is a WriteOp: it commits with the rest of its batch or not at all.
TEST_F(OutboxTest, RedriveOpCommitsWithItsBatch) {
  Store& s = Open();
  WriteSync(s, {Resource("Task", "t1"), Outbox("d1", "a", "t1")});
  auto c = Claim(At(kT0));
  ASSERT_EQ(c.size(), 1u);
  ASSERT_TRUE(s.RecordAttempt(Attempt(c[0], Outcome::kDeadLetter, kT0 + 5, 400)));
  WriteOp redrive;
  redrive.kind = WriteOp::Kind::kRedrive;
  redrive.id = "d1";
  redrive.outbox = OutboxMessage{};
  redrive.outbox->not_before_ms = kT0 + 100;
  // With an op that fails (t1 exists already), the delivery stays dead.
  WriteResult failed = WriteSync(s, {redrive, Resource("Task", "t1")});
  ASSERT_TRUE(failed.failed_op.has_value());
  EXPECT_EQ(s.ReadDelivery("d1")->state, DeliveryState::kDead);
  WriteResult ok = WriteSync(s, {redrive, Resource("Task", "t2")});
  ASSERT_FALSE(ok.failed_op.has_value());
  EXPECT_EQ(s.ReadDelivery("d1")->state, DeliveryState::kPending);
  EXPECT_EQ(Ids(Claim(At(kT0 + 100))), std::vector<std::string>{"d1"});
  // ... and a re-drive of a delivery that is not dead fails its batch.
  WriteResult again = WriteSync(s, {Resource("Task", "t3"), redrive});
  ASSERT_EQ(again.failed_op, std::optional<std::size_t>(1));
  EXPECT_EQ(again.ops[1].error(), make_error_code(errc::kVersionConflict));
  EXPECT_EQ(s.Read("Task", "t3").error(), make_error_code(errc::kNotFound));
}

TEST_F(OutboxTest, OneBusyDestinationDoesNotTakeEverySlot) {
  Store& s = Open();
  std::vector<WriteOp> ops;
  for (int i = 0; i < 10; ++i) {
    ops.push_back(Outbox("a" + std::to_string(i), "slow-agency", "ta" + std::to_string(i)));
  }
  ops.push_back(Outbox("b0", "food-bank", "tb0"));
  ops.push_back(Outbox("b1", "food-bank", "tb1"));
  WriteSync(s, std::move(ops));
  auto c = Claim(At(kT0, /*limit=*/6, /*per_destination=*/2));
  const std::vector<std::string> ids = Ids(c);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()),
            (std::set<std::string>{"a0", "a1", "b0", "b1"}));
  // slow-agency has two in flight: nothing more for it until they are recorded.
  EXPECT_TRUE(Claim(At(kT0 + 1, 6, 2)).empty());
  for (const auto& d : c) {
    if (d.message.destination == "slow-agency") {
      ASSERT_TRUE(s.RecordAttempt(Attempt(d, Outcome::kRetry, kT0 + 2, 503, kT0 + 10'000)));
    }
  }
  EXPECT_EQ(Ids(Claim(At(kT0 + 3, 6, 2))), (std::vector<std::string>{"a2", "a3"}));
}

TEST_F(OutboxTest, ADestinationMayHaveItsOwnAllowanceInFlight) {
  Store& s = Open();
  std::vector<WriteOp> ops;
  for (int i = 0; i < 10; ++i) {
    ops.push_back(Outbox("a" + std::to_string(i), "big-agency", "ta" + std::to_string(i)));
    ops.push_back(Outbox("b" + std::to_string(i), "small-agency", "tb" + std::to_string(i)));
  }
  WriteSync(s, std::move(ops));
  ClaimOptions o = At(kT0, /*limit=*/32, /*per_destination=*/2);
  o.destination_limits = {{"big-agency", 5}};
  auto c = Claim(o);
  const std::vector<std::string> ids = Ids(c);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()),
            (std::set<std::string>{"a0", "a1", "a2", "a3", "a4", "b0", "b1"}));
  o.now_ms = kT0 + 1;
  EXPECT_TRUE(Claim(o).empty());  // both at their allowance until something is recorded
}

TEST_F(OutboxTest, OneResourceGoesInQueueOrder) {
  Store& s = Open();
  WriteSync(s, {Outbox("create", "a", "t1")});
  WriteSync(s, {Outbox("cancel", "a", "t1")});
  WriteSync(s, {Outbox("other", "a", "t2")});
  auto c = Claim(At(kT0));
  ASSERT_EQ(Ids(c), (std::vector<std::string>{"create", "other"}));
  ASSERT_TRUE(s.RecordAttempt(Attempt(c[0], Outcome::kRetry, kT0 + 1, 503, kT0 + 10)));
  EXPECT_TRUE(Claim(At(kT0 + 5)).empty());  // "cancel" waits for "create"
  auto c2 = Claim(At(kT0 + 10));
  ASSERT_EQ(Ids(c2), std::vector<std::string>{"create"});
  ASSERT_TRUE(s.RecordAttempt(Attempt(c2[0], Outcome::kDelivered, kT0 + 11, 201)));
  EXPECT_EQ(Ids(Claim(At(kT0 + 12))), std::vector<std::string>{"cancel"});
}

TEST_F(OutboxTest, ExpeditePullsAnAgencysBacklogForward) {
  Store& s = Open();
  WriteSync(s, {Outbox("a1", "a", "t1", kT0 + 600'000), Outbox("a2", "a", "t2", kT0 + 900'000),
                Outbox("b1", "b", "t3", kT0 + 600'000), Outbox("a3", "a", "t4")});
  auto leased = Claim(At(kT0));  // a3 is due and in flight: not touched
  ASSERT_EQ(Ids(leased), std::vector<std::string>{"a3"});
  auto n = s.Expedite("a", kT0 + 10);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(Ids(Claim(At(kT0 + 10))), (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(s.ReadDelivery("b1")->next_attempt_ms, kT0 + 600'000);
}

TEST_F(OutboxTest, SurvivesReopen) {
  {
    Store& s = Open();
    WriteSync(s, {Resource("Task", "t1"), Outbox("d1", "a", "t1"), Outbox("d2", "b", "t2")});
    auto c = Claim(At(kT0, 1));
    ASSERT_EQ(c.size(), 1u);
    ASSERT_TRUE(s.RecordAttempt(Attempt(c[0], Outcome::kRetry, kT0 + 1, 0, kT0 + 50)));
    ASSERT_EQ(Claim(At(kT0 + 2)).size(), 1u);  // d2 leased when the gateway "stops"
    s.Close();
  }
  Store& s = Open();
  auto d1 = s.ReadDelivery("d1");
  ASSERT_TRUE(d1.has_value());
  EXPECT_EQ(d1->attempts, 1);
  EXPECT_EQ(d1->next_attempt_ms, kT0 + 50);
  EXPECT_EQ(s.ListAttempts("d1")->size(), 1u);
  // d1 is due again; d2's lease outlives the restart and then runs out.
  EXPECT_EQ(Ids(Claim(At(kT0 + 50))), std::vector<std::string>{"d1"});
  EXPECT_EQ(Ids(Claim(At(kT0 + 2 + 60'000))), std::vector<std::string>{"d2"});
  EXPECT_EQ(s.ListAttempts("d2")->at(0).outcome, Outcome::kAbandoned);
}

TEST_F(OutboxTest, ClosedStoreRefusesJobs) {
  Store& s = Open();
  s.Close();
  EXPECT_EQ(s.ClaimDeliveries(At(kT0)).error(), make_error_code(errc::kClosed));
  EXPECT_EQ(Redrive(s, "x", kT0).error(), make_error_code(errc::kClosed));
}

}  // namespace
}  // namespace carebridge::store
