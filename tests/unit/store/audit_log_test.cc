// The audit log of the SQLite store: kAudit ops, the hash chain, checkpoints, verification, and
// tampering with the file behind the store's back.

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <string>
#include <vector>

#include "gateway/store/sqlite/sqlite_store.h"

namespace carebridge::store {
namespace {

namespace fs = std::filesystem;
using fhir::IndexEntry;
using fhir::ParamType;
using fhir::Prefix;

std::function<std::string(const VersionStamp&)> AuditJson(std::string action) {
  return [action = std::move(action)](const VersionStamp& s) {
    return R"({"resourceType":"AuditEvent","id":")" + s.id + R"(","meta":{"versionId":")" +
           std::to_string(s.version) + R"(","lastUpdated":")" + s.last_updated +
           R"("},"action":")" + action + R"("})";
  };
}

WriteOp Audit(std::string id, std::string action = "R") {
  WriteOp op;
  op.kind = WriteOp::Kind::kAudit;
  op.type = "AuditEvent";
  op.id = std::move(id);
  op.index = {IndexEntry{"action", ParamType::kToken, "", action, 0, 0}};
  op.render = AuditJson(std::move(action));
  return op;
}

// An AuditEvent recorded at `recorded`, whose precision range is [low, high).
WriteOp RecordedAudit(std::string id, std::string recorded, std::int64_t low, std::int64_t high) {
  WriteOp op = Audit(std::move(id));
  op.index.push_back(IndexEntry{"date", ParamType::kDate, "", recorded, low, high});
  op.render = [recorded](const VersionStamp& s) {
    return R"({"resourceType":"AuditEvent","id":")" + s.id + R"(","meta":{"versionId":"1",)" +
           R"("lastUpdated":")" + s.last_updated + R"("},"recorded":")" + recorded +
           R"(","action":"R"})";
  };
  return op;
}

// A search of AuditEvent on one value of one parameter, a page of 10.
fhir::SearchQuery AuditQuery(std::string param, ParamType type, fhir::SearchValue value) {
  fhir::SearchQuery q;
  q.type = "AuditEvent";
  q.count = 10;
  fhir::SearchCriterion c;
  c.param = std::move(param);
  c.type = type;
  c.any_of = {std::move(value)};
  q.all_of = {std::move(c)};
  return q;
}

WriteOp Create(std::string type, std::string id) {
  WriteOp op;
  op.kind = WriteOp::Kind::kCreate;
  op.type = std::move(type);
  op.id = std::move(id);
  op.render = [](const VersionStamp& s) { return R"({"id":")" + s.id + R"("})"; };
  return op;
}

WriteOp Update(std::string type, std::string id, std::int64_t if_match) {
  WriteOp op = Create(std::move(type), std::move(id));
  op.kind = WriteOp::Kind::kUpdate;
  op.if_match = if_match;
  return op;
}

WriteResult WriteSync(Store& store, WriteBatch batch) {
  std::promise<WriteResult> p;
  auto f = p.get_future();
  store.Write(std::move(batch), [&p](WriteResult r) { p.set_value(std::move(r)); });
  return f.get();
}

WriteResult WriteOps(Store& store, std::vector<WriteOp> ops, bool atomic = true) {
  WriteBatch b;
  b.ops = std::move(ops);
  b.atomic = atomic;
  return WriteSync(store, std::move(b));
}

// A stand-in for the ECDSA signer of gateway/audit: deterministic, and any change shows.
AuditSigner FakeSigner(const std::string& key_id = "test-key") {
  AuditSigner s;
  s.key_id = key_id;
  s.sign = [key_id](std::string_view m) -> Result<std::string> {
    return "sig[" + key_id + "](" + std::string(m) + ")";
  };
  s.verify = [key_id](std::string_view m, std::string_view sig) {
    return sig == "sig[" + key_id + "](" + std::string(m) + ")";
  };
  return s;
}

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "carebridge-audit-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = (fs::path(dir_) / "store.db").string();
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  SqliteOptions Options(int checkpoint_every = 1000, bool signer = true) const {
    SqliteOptions o;
    o.path = path_;
    o.audit_checkpoint_every = checkpoint_every;
    if (signer) {
      o.audit_signer = FakeSigner();
    }
    return o;
  }

  Store& Open(int checkpoint_every = 1000, bool signer = true) {
    store_.reset();
    auto s = OpenSqliteStore(Options(checkpoint_every, signer));
    EXPECT_TRUE(s.has_value()) << (s.has_value() ? "" : s.error().message());
    store_ = std::move(*s);
    return *store_;
  }

  void CloseStore() {
    if (store_) {
      store_->Close();
      store_.reset();
    }
  }

  // Writes `n` audit records a1..an, one batch each, synchronously.
  void WriteAudits(Store& s, int first, int n) {
    for (int i = first; i < first + n; ++i) {
      auto r = WriteOps(s, {Audit("a" + std::to_string(i))});
      ASSERT_TRUE(r.ops.at(0).has_value()) << r.ops.at(0).error().message();
    }
  }

  // Verifies the closed file, the way `carebridge audit verify` does.
  AuditVerifyReport VerifyFile(bool signer = true) {
    auto r = VerifySqliteAudit(Options(1000, signer));
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message());
    return r ? *r : AuditVerifyReport{};
  }

  // Runs SQL on the closed file with the append-only triggers out of the way: the attacker's view.
  void Tamper(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    const std::string all =
        "DROP TRIGGER IF EXISTS audit_chain_no_update; DROP TRIGGER IF EXISTS "
        "audit_chain_no_delete; DROP TRIGGER IF EXISTS audit_checkpoints_no_update; DROP TRIGGER "
        "IF EXISTS audit_events_no_update; DROP TRIGGER IF EXISTS audit_events_no_delete; " +
        sql;
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, all.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    EXPECT_GT(sqlite3_total_changes(db), 0) << sql;
    sqlite3_free(err);
    sqlite3_close(db);
  }

  // The first column of the first row of `sql`, run on the file beside the open store.
  std::int64_t Scalar(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK);
    std::int64_t value = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
      value = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return value;
  }

  // How many AuditEvents a search for action=R finds.
  std::int64_t SearchReads(Store& s) {
    fhir::SearchValue v;
    v.value = "R";
    fhir::SearchQuery q = AuditQuery("action", ParamType::kToken, v);
    q.count = 0;
    q.total_only = true;
    auto page = s.Search(q);
    EXPECT_TRUE(page.has_value());
    return page ? page->total : -1;
  }

  // Turns today's closed file back into a schema 8 one: each AuditEvent also version 1 of a
  // resource, and its chain record's canonical '' (what carebridge 0.2 to schema 8 wrote); and
  // no consent facts beside the versions (schema 10).
  void DowngradeToSchemaEight() {
    ASSERT_EQ(Exec("DROP INDEX audit_chain_by_recorded; "
                   "ALTER TABLE audit_chain DROP COLUMN recorded_ms; "  // these events have none
                   "DROP TRIGGER audit_chain_no_update; DROP INDEX audit_chain_by_time; "
                   "INSERT INTO resource_versions (type, id, version, last_updated_ms, "
                   "last_updated, deleted, json) SELECT 'AuditEvent', id, 1, last_updated_ms, "
                   "last_updated, 0, canonical FROM audit_chain; "
                   "INSERT INTO resources_current (type, id, version, last_updated_ms, deleted) "
                   "SELECT 'AuditEvent', id, 1, last_updated_ms, 0 FROM audit_chain; "
                   "UPDATE audit_chain SET canonical = ''; "
                   "ALTER TABLE audit_chain DROP COLUMN last_updated_ms; "
                   "ALTER TABLE audit_chain DROP COLUMN last_updated; "
                   "CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain "
                   "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END; "
                   "ALTER TABLE resource_versions DROP COLUMN consent_facts; "
                   "PRAGMA user_version = 8;"),
              SQLITE_OK);
  }

  // A closed schema 8 file holding the audit records a1..a<n>.
  void MakeSchemaEightFile(int n) {
    Store& s = Open();
    WriteAudits(s, 1, n);
    CloseStore();
    DowngradeToSchemaEight();
  }

  int Exec(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
    sqlite3_close(db);
    return rc;
  }

  std::string dir_;
  std::string path_;
  StorePtr store_;
};

TEST_F(AuditLogTest, AuditOpIsAResourceAndAChainRecord) {
  Store& s = Open();
  auto r = WriteOps(s, {Create("Patient", "p1"), Audit("e1", "C")});
  ASSERT_TRUE(r.ops.at(0).has_value());
  ASSERT_TRUE(r.ops.at(1).has_value());
  EXPECT_EQ(r.ops[1]->kind, WriteOutcome::Kind::kCreated);
  EXPECT_EQ(r.ops[1]->stamp.version, 1);

  auto read = s.Read("AuditEvent", "e1");
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->json, r.ops[1]->json);

  fhir::SearchValue v;
  v.value = "C";
  auto page = s.Search(AuditQuery("action", ParamType::kToken, v));
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->total, 1);
  EXPECT_EQ(page->entries.at(0).id, "e1");

  auto report = s.VerifyAudit();
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->ok) << report->reason;
  EXPECT_EQ(report->records, 1);
  EXPECT_EQ(report->last_hash_hex.size(), 64U);

  // Same id again: a conflict, and the chain is untouched.
  auto again = WriteOps(s, {Audit("e1")});
  EXPECT_EQ(again.ops.at(0).error(), make_error_code(errc::kVersionConflict));
  // Audit ops are AuditEvents only.
  WriteOp wrong = Audit("e2");
  wrong.type = "Patient";
  EXPECT_EQ(WriteOps(s, {std::move(wrong)}).ops.at(0).error(),
            std::make_error_code(std::errc::invalid_argument));
  EXPECT_EQ(s.VerifyAudit()->records, 1);
}

TEST_F(AuditLogTest, TenThousandGroupCommittedRecordsVerify) {
  constexpr int kRecords = 10000;
  Store& s = Open(/*checkpoint_every=*/1000);
  std::atomic<int> failed{0};
  std::vector<std::promise<void>> done(kRecords / 2);
  // Half the batches carry a data change with their audit record, half only the record; all are
  // queued at once so the writer group-commits them.
  for (int i = 0; i < kRecords / 2; ++i) {
    WriteBatch b;
    b.ops.push_back(Create("Task", "t" + std::to_string(i)));
    b.ops.push_back(Audit("c" + std::to_string(i), "C"));
    s.Write(std::move(b), [&, i](const WriteResult& r) {
      for (auto& op : r.ops) {
        failed += op.has_value() ? 0 : 1;
      }
      done[static_cast<std::size_t>(i)].set_value();
    });
  }
  std::vector<std::promise<void>> done2(kRecords / 2);
  for (int i = 0; i < kRecords / 2; ++i) {
    WriteBatch b;
    b.ops.push_back(Audit("r" + std::to_string(i), "R"));
    s.Write(std::move(b), [&, i](WriteResult r) {
      failed += r.ops.at(0).has_value() ? 0 : 1;
      done2[static_cast<std::size_t>(i)].set_value();
    });
  }
  for (auto& p : done) {
    p.get_future().wait();
  }
  for (auto& p : done2) {
    p.get_future().wait();
  }
  ASSERT_EQ(failed.load(), 0);

  auto live = s.VerifyAudit();
  ASSERT_TRUE(live.has_value());
  EXPECT_TRUE(live->ok) << live->reason;
  EXPECT_EQ(live->records, kRecords);
  EXPECT_EQ(live->checkpoints, kRecords / 1000);

  CloseStore();
  AuditVerifyReport file = VerifyFile();
  EXPECT_TRUE(file.ok) << file.reason;
  EXPECT_EQ(file.records, kRecords);
  EXPECT_EQ(file.checkpoints, kRecords / 1000);
  EXPECT_EQ(file.last_hash_hex, live->last_hash_hex);
}

class AuditTamperTest : public AuditLogTest {
 protected:
  // 50 records, checkpoints after 20 and 40 and (at Close) 50.
  void Build() {
    Store& s = Open(/*checkpoint_every=*/20);
    WriteAudits(s, 1, 50);
    CloseStore();
    AuditVerifyReport r = VerifyFile();
    ASSERT_TRUE(r.ok) << r.reason;
    ASSERT_EQ(r.records, 50);
    ASSERT_EQ(r.checkpoints, 3);
  }
};

TEST_F(AuditTamperTest, EditedCanonicalJsonFailsAtThatRecord) {
  Build();
  Tamper("UPDATE audit_chain SET canonical = 'forged' WHERE seq = 17");
  AuditVerifyReport r = VerifyFile();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.broken_seq, 17);
  EXPECT_EQ(r.broken_id, "a17");
  EXPECT_EQ(r.records, 16);
}

// The record's JSON is what the API serves: an edit that keeps it valid FHIR is still caught.
TEST_F(AuditTamperTest, EditedAuditEventFailsAtThatRecord) {
  Build();
  Tamper("UPDATE audit_chain SET canonical = replace(canonical, '\"R\"', '\"D\"') WHERE seq = 23");
  AuditVerifyReport r = VerifyFile();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.broken_seq, 23);
  EXPECT_EQ(r.broken_id, "a23");
  EXPECT_NE(r.reason.find("hash"), std::string::npos) << r.reason;
}

TEST_F(AuditTamperTest, EditedHashFailsAtThatRecord) {
  Build();
  Tamper("UPDATE audit_chain SET hash = zeroblob(32) WHERE seq = 31");
  AuditVerifyReport r = VerifyFile();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.broken_seq, 31);
  EXPECT_EQ(r.broken_id, "a31");
}

TEST_F(AuditTamperTest, RechainedTailIsCaughtByTheSignedCheckpoint) {
  Build();
  // An attacker edits record 35 and recomputes every later hash: the chain is consistent again,
  // but the checkpoint signed at 40 no longer matches it.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "DROP TRIGGER audit_chain_no_update;"
                         "UPDATE audit_chain SET canonical = replace(canonical, '\"R\"', "
                         "'\"D\"') WHERE seq = 35;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  std::string prev;
  {
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(
        sqlite3_prepare_v2(db, "SELECT hash FROM audit_chain WHERE seq = 34", -1, &st, nullptr),
        SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    prev.assign(static_cast<const char*>(sqlite3_column_blob(st, 0)), 32);
    sqlite3_finalize(st);
  }
  for (int seq = 35; seq <= 50; ++seq) {
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT canonical FROM audit_chain WHERE seq = ?1", -1, &st,
                                 nullptr),
              SQLITE_OK);
    sqlite3_bind_int(st, 1, seq);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    std::string data = prev + reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    unsigned char digest[32];
    unsigned int len = 0;
    ASSERT_EQ(EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr), 1);
    std::string hash(reinterpret_cast<const char*>(digest), 32);
    ASSERT_EQ(
        sqlite3_prepare_v2(db, "UPDATE audit_chain SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
                           -1, &st, nullptr),
        SQLITE_OK);
    sqlite3_bind_blob(st, 1, prev.data(), 32, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 2, hash.data(), 32, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, seq);
    ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    prev = hash;
  }
  sqlite3_close(db);
  AuditVerifyReport r = VerifyFile();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.broken_seq, 40);
  EXPECT_EQ(r.records, 39);
  EXPECT_NE(r.reason.find("checkpoint"), std::string::npos) << r.reason;
}

TEST_F(AuditTamperTest, DeletedRecordInTheMiddleFails) {
  Build();
  Tamper("DELETE FROM audit_chain WHERE seq = 20");
  AuditVerifyReport r = VerifyFile();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.broken_seq, 20);
  EXPECT_NE(r.reason.find("missing"), std::string::npos) << r.reason;
}

TEST_F(AuditTamperTest, DeletedTailBeforeASignedCheckpointFails) {
  Build();
  Tamper("DELETE FROM audit_chain WHERE seq > 45");
  AuditVerifyReport r = VerifyFile();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.broken_seq, 46);
}

TEST_F(AuditTamperTest, TamperedCheckpointSignatureFails) {
  Build();
  Tamper(
      "UPDATE audit_checkpoints SET signature = CAST(X'00' || signature AS BLOB) WHERE seq = 40");
  AuditVerifyReport r = VerifyFile();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.broken_seq, 40);
  EXPECT_NE(r.reason.find("signature"), std::string::npos) << r.reason;
}

TEST_F(AuditTamperTest, CheckpointByAnotherKeyFails) {
  Build();
  Tamper("UPDATE audit_checkpoints SET key_id = 'other' WHERE seq = 20");
  AuditVerifyReport r = VerifyFile();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.broken_seq, 20);
}

TEST_F(AuditTamperTest, CheckpointsWithoutAKeyFail) {
  Build();
  AuditVerifyReport r = VerifyFile(/*signer=*/false);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.broken_seq, 20);
}

// AuditEvents live in the chain alone: one planted as an ordinary resource is never served, and
// verification reports it.
TEST_F(AuditTamperTest, PlantedAuditEventOutsideTheChainFails) {
  Build();
  Tamper(
      "INSERT INTO resource_versions VALUES ('AuditEvent', 'fake', 1, 1, "
      "'2026-01-01T00:00:00.000Z', 0, '{}', NULL, NULL, NULL); INSERT INTO resources_current "
      "VALUES ('AuditEvent', 'fake', 1, 1, 0)");
  AuditVerifyReport r = VerifyFile();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.broken_id, "fake");
  EXPECT_NE(r.reason.find("not in the chain"), std::string::npos) << r.reason;
  Store& s = Open();
  EXPECT_EQ(s.Read("AuditEvent", "fake").error(), make_error_code(errc::kNotFound));
}

TEST_F(AuditTamperTest, AuditEventRewrittenAsANewVersionFails) {
  Build();
  Tamper(
      "INSERT INTO resource_versions VALUES ('AuditEvent', 'a9', 2, 9e15, "
      "'2026-01-01T00:00:00.000Z', 0, '{}', NULL, NULL, NULL); INSERT INTO resources_current "
      "VALUES ('AuditEvent', 'a9', 2, 9e15, 0)");
  AuditVerifyReport r = VerifyFile();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.broken_id, "a9");
  Store& s = Open();
  auto served = s.Read("AuditEvent", "a9");
  ASSERT_TRUE(served.has_value());
  EXPECT_EQ(served->version, 1);
  EXPECT_NE(served->json, "{}");
}

TEST_F(AuditTamperTest, TriggersRefuseEditsThroughSqlite) {
  Build();
  EXPECT_EQ(Exec("UPDATE audit_chain SET canonical = 'x' WHERE seq = 1"), SQLITE_CONSTRAINT);
  EXPECT_EQ(Exec("DELETE FROM audit_chain WHERE seq = 1"), SQLITE_CONSTRAINT);
  EXPECT_EQ(Exec("DELETE FROM audit_checkpoints"), SQLITE_CONSTRAINT);
  EXPECT_TRUE(VerifyFile().ok);
}

TEST_F(AuditLogTest, FailedBatchesDoNotBreakTheChain) {
  Store& s = Open(/*checkpoint_every=*/3);
  ASSERT_TRUE(WriteOps(s, {Create("Patient", "p1"), Audit("a1")}).ops.at(1).has_value());

  // Atomic: the audit record is applied, then the data change fails: both roll back.
  auto failed = WriteOps(s, {Audit("a2"), Update("Patient", "p1", /*if_match=*/7)});
  ASSERT_EQ(failed.failed_op, std::optional<std::size_t>(1));
  EXPECT_EQ(s.Read("AuditEvent", "a2").error(), make_error_code(errc::kNotFound));

  // Non-atomic: the duplicate audit op fails alone; its neighbours commit.
  auto mixed = WriteOps(s, {Audit("a3"), Audit("a1"), Audit("a4")}, /*atomic=*/false);
  EXPECT_TRUE(mixed.ops.at(0).has_value());
  EXPECT_FALSE(mixed.ops.at(1).has_value());
  EXPECT_TRUE(mixed.ops.at(2).has_value());

  // Failing and succeeding batches in the same commit group.
  std::vector<std::future<WriteResult>> futures;
  std::vector<std::promise<WriteResult>> promises(40);
  for (int i = 0; i < 40; ++i) {
    futures.push_back(promises[static_cast<std::size_t>(i)].get_future());
    WriteBatch b;
    b.ops.push_back(Audit("g" + std::to_string(i)));
    if (i % 3 == 0) {
      b.ops.push_back(Update("Patient", "p1", /*if_match=*/99));  // fails: rolls back the record
    }
    s.Write(std::move(b), [&promises, i](WriteResult r) {
      promises[static_cast<std::size_t>(i)].set_value(std::move(r));
    });
  }
  int committed = 0;
  for (int i = 0; i < 40; ++i) {
    WriteResult r = futures[static_cast<std::size_t>(i)].get();
    EXPECT_EQ(r.failed_op.has_value(), i % 3 == 0) << i;
    committed += r.failed_op ? 0 : 1;
  }
  ASSERT_TRUE(WriteOps(s, {Audit("a5")}).ops.at(0).has_value());

  auto report = s.VerifyAudit();
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->ok) << report->reason << " at " << report->broken_seq;
  EXPECT_EQ(report->records, 4 + committed);
  EXPECT_GE(report->checkpoints, 1);
  CloseStore();
  EXPECT_TRUE(VerifyFile().ok);
}

TEST_F(AuditLogTest, ReopenContinuesTheChain) {
  Store& s = Open(/*checkpoint_every=*/1000);
  WriteAudits(s, 1, 5);
  CloseStore();  // checkpoint at 5
  AuditVerifyReport first = VerifyFile();
  ASSERT_TRUE(first.ok);
  EXPECT_EQ(first.checkpoints, 1);

  Store& again = Open(/*checkpoint_every=*/1000);
  WriteAudits(again, 6, 5);
  auto live = again.VerifyAudit();
  ASSERT_TRUE(live.has_value());
  EXPECT_TRUE(live->ok) << live->reason;
  EXPECT_EQ(live->records, 10);
  CloseStore();  // checkpoint at 10
  AuditVerifyReport r = VerifyFile();
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.records, 10);
  EXPECT_EQ(r.checkpoints, 2);

  // Nothing new: Close adds no checkpoint.
  Open().Close();
  store_.reset();
  EXPECT_EQ(VerifyFile().checkpoints, 2);
}

TEST_F(AuditLogTest, WithoutASignerNoCheckpointsAndTheChainStillVerifies) {
  Store& s = Open(/*checkpoint_every=*/2, /*signer=*/false);
  WriteAudits(s, 1, 5);
  CloseStore();
  AuditVerifyReport r = VerifyFile(/*signer=*/false);
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.records, 5);
  EXPECT_EQ(r.checkpoints, 0);
}

TEST_F(AuditLogTest, FailingSignerSkipsTheCheckpointNotTheWrite) {
  SqliteOptions o = Options(/*checkpoint_every=*/1);
  o.audit_signer->sign = [](std::string_view) -> Result<std::string> {
    return std::make_error_code(std::errc::io_error);
  };
  auto s = OpenSqliteStore(o);
  ASSERT_TRUE(s.has_value());
  ASSERT_TRUE(WriteOps(**s, {Audit("a1")}).ops.at(0).has_value());
  auto r = (*s)->VerifyAudit();
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->ok);
  EXPECT_EQ(r->checkpoints, 0);
}

TEST_F(AuditLogTest, EmptyAndForeignFiles) {
  Open().Close();
  store_.reset();
  AuditVerifyReport r = VerifyFile();
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.records, 0);
  EXPECT_EQ(r.last_hash_hex, std::string(64, '0'));

  SqliteOptions missing;
  missing.path = (fs::path(dir_) / "nope.db").string();
  EXPECT_EQ(VerifySqliteAudit(missing).error(), make_error_code(errc::kIo));
  EXPECT_FALSE(fs::exists(missing.path));

  SqliteOptions foreign;
  foreign.path = (fs::path(dir_) / "other.db").string();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(foreign.path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t (x)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_EQ(VerifySqliteAudit(foreign).error(), make_error_code(errc::kIo));
}

// AuditEvents are indexed for search in batches, after they are chained; a search sees every
// committed one all the same, and so does the next run when this one stopped before indexing.
TEST_F(AuditLogTest, AuditEventsAreIndexedInBatchesAndSearchesSeeThemAll) {
  const std::string indexed = "SELECT indexed_seq FROM audit_index_state";
  {
    Store& s = Open();
    WriteAudits(s, 1, 10);
    EXPECT_EQ(Scalar(indexed), 0);  // below a batch: chained, not indexed yet
    EXPECT_EQ(SearchReads(s), 10);  // the search brought the index up to date first
    EXPECT_EQ(Scalar(indexed), 10);
    WriteAudits(s, 11, 5);
    CloseStore();
  }
  EXPECT_EQ(Scalar(indexed), 10);
  Store& s = Open();
  EXPECT_EQ(SearchReads(s), 15);  // recomputed from the stored JSON at start
  // Nothing asking: idle moments index the backlog in chunks, and once 1,024 wait a writer that
  // is never idle indexes with each group more than the group adds, so the backlog stays bounded
  // whatever the timing.
  WriteAudits(s, 16, 1100);
  EXPECT_GE(Scalar(indexed), 1115 - 1025);
  // These events have no date: their one row is a term of audit_terms, none is in audit_search.
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM audit_search"), 0);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM search_index WHERE type = 'AuditEvent'"), 0);
  EXPECT_EQ(SearchReads(s), 1115);
  EXPECT_EQ(Scalar(indexed), 1115);
  EXPECT_TRUE(s.VerifyAudit()->ok);
}

// An audit record rolled back with its batch is never indexed.
TEST_F(AuditLogTest, RolledBackAuditRecordsAreNotIndexed) {
  Store& s = Open();
  WriteAudits(s, 1, 2);
  auto failed = WriteOps(s, {Audit("x1"), Update("Patient", "missing", 7)});
  ASSERT_TRUE(failed.failed_op.has_value());
  WriteAudits(s, 3, 1);
  EXPECT_EQ(SearchReads(s), 3);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM audit_search WHERE id = 'x1'"), 0);
  EXPECT_TRUE(s.VerifyAudit()->ok);
}

// Schema 6 moves the AuditEvent rows of an older file from search_index to audit_search.
TEST_F(AuditLogTest, MigrationSixMovesAuditSearchRows) {
  {
    Store& s = Open();
    WriteAudits(s, 1, 3);
    EXPECT_EQ(SearchReads(s), 3);
    CloseStore();
  }
  DowngradeToSchemaEight();
  // A version 5 file kept each event's rows (here its action) in search_index.
  ASSERT_EQ(Exec("INSERT INTO search_index (type, id, param, system, value, low, high) "
                 "SELECT 'AuditEvent', id, 'action', '', 'R', NULL, NULL FROM audit_chain; "
                 "DROP TABLE audit_search; DROP TABLE audit_terms; DROP TABLE audit_terms_key; "
                 "ALTER TABLE resource_versions DROP COLUMN patient_id; "
                 "ALTER TABLE resource_versions DROP COLUMN meta_source; PRAGMA user_version = 5;"),
            SQLITE_OK);
  Store& s = Open();
  EXPECT_EQ(SearchReads(s), 3);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM search_index WHERE type = 'AuditEvent'"), 0);
  // ...and schema 7 the rows other than dates from audit_search to audit_terms.
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM audit_search"), 0);
}

// Schema 7 turns the token and reference rows of audit_search into terms of audit_terms and keeps
// the date rows; the events are found by both after the upgrade, and new ones beside them.
TEST_F(AuditLogTest, MigrationSevenMovesTermsAndKeepsDates) {
  MakeSchemaEightFile(3);
  ASSERT_EQ(Exec("DROP TABLE audit_terms; DROP TABLE audit_terms_key; "
                 "INSERT INTO audit_search (id, param, system, value, low, high) "
                 "  SELECT id, 'action', '', 'R', NULL, NULL FROM audit_chain; "
                 "INSERT INTO audit_search (id, param, system, value, low, high) "
                 "  SELECT id, 'date', '', '2026-11-22', 1795305600000, 1795392000000 "
                 "  FROM audit_chain; "
                 "ALTER TABLE resource_versions DROP COLUMN patient_id; "
                 "ALTER TABLE resource_versions DROP COLUMN meta_source; PRAGMA user_version = 6;"),
            SQLITE_OK);
  Store& s = Open();
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM audit_search WHERE low IS NULL"), 0);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM audit_search WHERE low IS NOT NULL"), 3);
  EXPECT_EQ(Scalar("SELECT LENGTH(key) FROM audit_terms_key"), 32);
  EXPECT_EQ(SearchReads(s), 3);
  fhir::SearchValue day;
  day.value = "2026-11-22";
  day.low = 1795305600000;
  day.high = 1795392000000;
  auto page = s.Search(AuditQuery("date", ParamType::kDate, day));
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->total, 3);
  WriteAudits(s, 4, 2);
  EXPECT_EQ(SearchReads(s), 5);
  EXPECT_TRUE(s.VerifyAudit()->ok);
}

// Schema 9 moves each AuditEvent into its chain record: it reads, searches and verifies as before,
// and new events chain on after it.
TEST_F(AuditLogTest, MigrationNineMovesAuditEventsIntoTheChain) {
  std::string before;
  {
    Store& s = Open(/*checkpoint_every=*/2);
    WriteAudits(s, 1, 3);
    auto read = s.Read("AuditEvent", "a2");
    ASSERT_TRUE(read.has_value());
    before = read->json;
    CloseStore();
  }
  DowngradeToSchemaEight();
  AuditVerifyReport old_layout = VerifyFile();  // the command never migrates: it reads either
  EXPECT_TRUE(old_layout.ok) << old_layout.reason;
  EXPECT_EQ(old_layout.records, 3);

  Store& s = Open(/*checkpoint_every=*/2);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM resource_versions WHERE type = 'AuditEvent'"), 0);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM resources_current WHERE type = 'AuditEvent'"), 0);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM audit_chain WHERE canonical = '' OR last_updated_ms = 0"),
            0);
  auto read = s.Read("AuditEvent", "a2");
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->json, before);
  EXPECT_EQ(read->version, 1);
  EXPECT_TRUE(s.ReadVersion("AuditEvent", "a2", 1).has_value());
  EXPECT_EQ(s.ReadVersion("AuditEvent", "a2", 2).error(), make_error_code(errc::kNotFound));
  HistoryQuery history;
  history.type = "AuditEvent";
  history.id = "a2";
  history.count = 10;
  auto versions = s.History(history);
  ASSERT_TRUE(versions.has_value());
  ASSERT_EQ(versions->total, 1);
  EXPECT_EQ(versions->entries.at(0).json, before);
  EXPECT_EQ(SearchReads(s), 3);
  WriteAudits(s, 4, 2);
  EXPECT_EQ(SearchReads(s), 5);
  AuditVerifyReport live = *s.VerifyAudit();
  EXPECT_TRUE(live.ok) << live.reason;
  EXPECT_EQ(live.records, 5);
  EXPECT_EQ(live.checkpoints, 3);  // signed at 2, at the close (3) and at 4
}

// Schema 9 moves only chained events: one planted beside the chain stays for verification to
// report, and is never served.
TEST_F(AuditLogTest, MigrationNineLeavesAPlantedAuditEventToVerification) {
  MakeSchemaEightFile(2);
  ASSERT_EQ(Exec("INSERT INTO resource_versions VALUES ('AuditEvent', 'fake', 1, 1, "
                 "'2026-01-01T00:00:00.000Z', 0, '{}', NULL, NULL); INSERT INTO resources_current "
                 "VALUES ('AuditEvent', 'fake', 1, 1, 0)"),
            SQLITE_OK);
  Store& s = Open();
  EXPECT_EQ(s.Read("AuditEvent", "fake").error(), make_error_code(errc::kNotFound));
  AuditVerifyReport r = *s.VerifyAudit();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.broken_id, "fake");
}

// An event's recorded instant of millisecond precision (every event the gateway writes) is kept
// in its chain record; another precision, and records older than schema 11, in audit_search. A
// search or sort by date finds both alike.
TEST_F(AuditLogTest, RecordedInstantLivesInTheChainRecord) {
  Store& s = Open();
  const std::int64_t day = 1795305600000;  // 2026-11-22
  auto write = [&](WriteOp op) { ASSERT_TRUE(WriteOps(s, {std::move(op)}).ops.at(0).has_value()); };
  write(RecordedAudit("early", "2026-11-22T01:00:00.000Z", day + 3'600'000, day + 3'600'001));
  write(RecordedAudit("whole-day", "2026-11-22", day, day + 86'400'000));
  write(RecordedAudit("late", "2026-11-22T23:00:00.000Z", day + 82'800'000, day + 82'800'001));
  write(RecordedAudit("next-day", "2026-11-23T00:00:00.000Z", day + 86'400'000, day + 86'400'001));
  write(Audit("undated"));
  EXPECT_EQ(Scalar("SELECT recorded_ms FROM audit_chain WHERE id = 'early'"), day + 3'600'000);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM audit_chain WHERE recorded_ms IS NOT NULL"), 3);

  auto ids = [&](fhir::SearchQuery q) {
    auto page = s.Search(q);
    EXPECT_TRUE(page.has_value());
    std::vector<std::string> out;
    for (const auto& e : page ? page->entries : std::vector<ResourceVersion>{}) {
      out.push_back(e.id);
    }
    return out;
  };
  auto by_date = [&](fhir::Prefix prefix, std::int64_t low, std::int64_t high) {
    fhir::SearchValue v;
    v.prefix = prefix;
    v.low = low;
    v.high = high;
    fhir::SearchQuery q = AuditQuery("date", ParamType::kDate, v);
    q.sort = {fhir::SortKey{.param = "date", .type = ParamType::kDate, .descending = false}};
    return ids(q);
  };
  EXPECT_EQ(by_date(Prefix::kEq, day, day + 86'400'000),
            (std::vector<std::string>{"whole-day", "early", "late"}));
  // Indexed by the search: of the dates only whole-day's.
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM audit_search WHERE param = 'date'"), 1);
  EXPECT_EQ(by_date(Prefix::kEq, day + 3'600'000, day + 3'600'001),
            (std::vector<std::string>{"early"}));
  EXPECT_EQ(by_date(Prefix::kGt, day + 3'600'000, day + 3'600'001),
            (std::vector<std::string>{"whole-day", "late", "next-day"}));
  EXPECT_EQ(by_date(Prefix::kLt, day + 86'400'000, day + 86'400'001),
            (std::vector<std::string>{"whole-day", "early", "late"}));

  fhir::SearchQuery newest_first;
  newest_first.type = "AuditEvent";
  newest_first.count = 10;
  newest_first.sort = {
      fhir::SortKey{.param = "date", .type = ParamType::kDate, .descending = true}};
  EXPECT_EQ(ids(newest_first),
            (std::vector<std::string>{"next-day", "whole-day", "late", "early", "undated"}));

  fhir::SearchValue yes;
  yes.value = "true";
  fhir::SearchQuery missing = AuditQuery("date", ParamType::kDate, yes);
  missing.all_of[0].modifier = "missing";
  EXPECT_EQ(ids(missing), (std::vector<std::string>{"undated"}));
  missing.all_of[0].any_of[0].value = "false";
  EXPECT_EQ(ids(missing).size(), 4u);

  // After a restart the backlog is rebuilt from the stored JSON: the recorded instant stays in
  // the chain record and is not indexed a second time.
  write(RecordedAudit("after", "2026-11-24T00:00:00.000Z", day + 172'800'000, day + 172'800'001));
  CloseStore();
  Store& again = Open();
  EXPECT_EQ(SearchReads(again), 6);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM audit_search WHERE param = 'date'"), 1);
}

// AuditEvents sort by date (indexed for it); a sort by another parameter is refused rather than
// run as a scan per event.
TEST_F(AuditLogTest, AuditEventsSortByDateOnly) {
  Store& s = Open();
  WriteAudits(s, 1, 3);
  fhir::SearchQuery q;
  q.type = "AuditEvent";
  q.count = 10;
  q.sort = {fhir::SortKey{.param = "date", .type = ParamType::kDate, .descending = true}};
  auto page = s.Search(q);
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->total, 3);
  q.sort = {fhir::SortKey{.param = "action", .type = ParamType::kToken, .descending = false}};
  EXPECT_FALSE(s.Search(q).has_value());
}

TEST_F(AuditLogTest, MigratesAVersionOneDatabase) {
  // Make a version 1 file with data: today's schema minus migrations 2, 4, 5 (outbox), 6
  // (audit_search) and 7 (audit_terms); 3 rebuilds an index and runs again as it is.
  {
    Store& s = Open();
    ASSERT_TRUE(WriteOps(s, {Create("Patient", "p1")}).ops.at(0).has_value());
    CloseStore();
  }
  ASSERT_EQ(
      Exec("DROP TABLE audit_chain; DROP TABLE audit_checkpoints; "
           "DROP TABLE audit_index_state; "
           "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete; "
           "DROP TABLE outbox; DROP TABLE outbox_attempts; DROP TABLE audit_search; "
           "DROP TABLE audit_terms; DROP TABLE audit_terms_key; "
           "ALTER TABLE resource_versions DROP COLUMN patient_id; "
           "ALTER TABLE resource_versions DROP COLUMN meta_source; "
           "ALTER TABLE resource_versions DROP COLUMN consent_facts; PRAGMA user_version = 1;"),
      SQLITE_OK);
  EXPECT_TRUE(VerifyFile().ok);  // no audit log yet: an empty chain
  Store& s = Open();
  EXPECT_TRUE(s.Read("Patient", "p1").has_value());
  WriteAudits(s, 1, 3);
  EXPECT_EQ(s.VerifyAudit()->records, 3);
}

}  // namespace
}  // namespace carebridge::store
