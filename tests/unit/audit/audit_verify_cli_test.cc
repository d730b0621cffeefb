// `carebridge audit verify --data-dir DIR` as a process: exit codes and the one-line summary.

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <future>
#include <string>

#include "gateway/audit/checkpoint_signer.h"
#include "gateway/audit/store_signer.h"
#include "gateway/store/sqlite/sqlite_store.h"
#include "tests/unit/cli_support.h"

namespace carebridge::audit {
namespace {

namespace fs = std::filesystem;

using carebridge::testing::Carebridge;
using carebridge::testing::Proc;

class AuditVerifyCliTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(scratch_.path().empty()); }

  // A gateway data directory with `n` audit records, checkpoints every 10, signed by its key.
  void Populate(int n) {
    auto signer = CheckpointSigner::LoadOrCreate(dir_);
    ASSERT_TRUE(signer.has_value());
    store::SqliteOptions o;
    o.path = (fs::path(dir_) / "carebridge.db").string();
    o.audit_signer = MakeStoreSigner(*signer);
    o.audit_checkpoint_every = 10;
    auto s = store::OpenSqliteStore(o);
    ASSERT_TRUE(s.has_value());
    for (int i = 1; i <= n; ++i) {
      store::WriteOp op;
      op.kind = store::WriteOp::Kind::kAudit;
      op.type = "AuditEvent";
      op.id = "e" + std::to_string(i);
      op.render = [](const store::VersionStamp& st) {
        return R"({"resourceType":"AuditEvent","id":")" + st.id + R"(","action":"R"})";
      };
      store::WriteBatch b;
      b.ops.push_back(std::move(op));
      std::promise<store::WriteResult> p;
      (*s)->Write(std::move(b), [&p](store::WriteResult r) { p.set_value(std::move(r)); });
      ASSERT_TRUE(p.get_future().get().ops.at(0).has_value());
    }
    (*s)->Close();
  }

  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((fs::path(dir_) / "carebridge.db").c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }

  carebridge::testing::ScratchDir scratch_;
  const std::string dir_ = scratch_.path();
};

TEST_F(AuditVerifyCliTest, IntactChainExitsZero) {
  Populate(25);
  Proc r = Carebridge("audit verify --data-dir " + dir_);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("audit chain OK: 25 records, 3 signed checkpoints"), std::string::npos)
      << r.out;
  Proc eq = Carebridge("audit verify --data-dir=" + dir_);
  EXPECT_EQ(eq.exit_code, 0) << eq.out;
}

TEST_F(AuditVerifyCliTest, TamperedRowExitsOneNamingIt) {
  Populate(25);
  Sql("DROP TRIGGER audit_chain_no_update; UPDATE audit_chain SET canonical = "
      "replace(canonical, '\"R\"', '\"D\"') WHERE id = 'e13'");
  Proc r = Carebridge("audit verify --data-dir " + dir_);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("BROKEN at record 13 AuditEvent/e13"), std::string::npos) << r.out;
}

TEST_F(AuditVerifyCliTest, UsageAndOpenErrorsExitTwo) {
  EXPECT_EQ(Carebridge("audit").exit_code, 2);
  EXPECT_EQ(Carebridge("audit verify").exit_code, 2);
  EXPECT_EQ(Carebridge("audit check --data-dir " + dir_).exit_code, 2);
  Proc missing = Carebridge("audit verify --data-dir " + dir_ + "/nope");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.out.find("no database"), std::string::npos) << missing.out;
}

}  // namespace
}  // namespace carebridge::audit
