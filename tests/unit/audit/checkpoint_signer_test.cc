#include "gateway/audit/checkpoint_signer.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <string>

#include "fhir/json/json.h"
#include "fhir/resource/resource.h"
#include "fhir/search/search.h"
#include "gateway/audit/audit_event.h"
#include "gateway/audit/store_op.h"
#include "gateway/audit/store_signer.h"
#include "gateway/store/sqlite/sqlite_store.h"

namespace carebridge::audit {
namespace {

namespace fs = std::filesystem;

class CheckpointSignerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "carebridge-signer-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string dir_;
};

TEST_F(CheckpointSignerTest, GeneratesAKeyOnceAndKeepsIt) {
  auto first = CheckpointSigner::LoadOrCreate(dir_);
  ASSERT_TRUE(first.has_value()) << first.error().message();
  EXPECT_TRUE((*first)->can_sign());
  EXPECT_EQ((*first)->key_id().size(), 32U);

  struct stat st {};
  ASSERT_EQ(stat((fs::path(dir_) / kSigningKeyFile).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  ASSERT_TRUE(fs::exists(fs::path(dir_) / kPublicKeyFile));

  auto second = CheckpointSigner::LoadOrCreate(dir_);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ((*second)->key_id(), (*first)->key_id());
  EXPECT_EQ((*second)->PublicPem(), (*first)->PublicPem());

  // A lost public key file is written again.
  fs::remove(fs::path(dir_) / kPublicKeyFile);
  ASSERT_TRUE(CheckpointSigner::LoadOrCreate(dir_).has_value());
  EXPECT_TRUE(fs::exists(fs::path(dir_) / kPublicKeyFile));
}

TEST_F(CheckpointSignerTest, SignsAndVerifies) {
  auto signer = CheckpointSigner::LoadOrCreate(dir_);
  ASSERT_TRUE(signer.has_value());
  auto sig = (*signer)->Sign("carebridge-audit-checkpoint:10:abcd");
  ASSERT_TRUE(sig.has_value());
  EXPECT_TRUE((*signer)->Verify("carebridge-audit-checkpoint:10:abcd", *sig));
  EXPECT_FALSE((*signer)->Verify("carebridge-audit-checkpoint:11:abcd", *sig));
  std::string bad = *sig;
  bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 1);
  EXPECT_FALSE((*signer)->Verify("carebridge-audit-checkpoint:10:abcd", bad));
  EXPECT_FALSE((*signer)->Verify("carebridge-audit-checkpoint:10:abcd", ""));

  // The verifier holds only the public key.
  auto verifier = CheckpointSigner::LoadForVerify(dir_);
  ASSERT_TRUE(verifier.has_value());
  EXPECT_FALSE((*verifier)->can_sign());
  EXPECT_FALSE((*verifier)->Sign("x").has_value());
  EXPECT_EQ((*verifier)->key_id(), (*signer)->key_id());
  EXPECT_TRUE((*verifier)->Verify("carebridge-audit-checkpoint:10:abcd", *sig));

  // Only the private key left: verification derives the public half.
  fs::remove(fs::path(dir_) / kPublicKeyFile);
  auto derived = CheckpointSigner::LoadForVerify(dir_);
  ASSERT_TRUE(derived.has_value());
  EXPECT_FALSE((*derived)->can_sign());
  EXPECT_TRUE((*derived)->Verify("carebridge-audit-checkpoint:10:abcd", *sig));
}

TEST_F(CheckpointSignerTest, RefusesMissingBrokenAndForeignKeys) {
  EXPECT_EQ(CheckpointSigner::LoadForVerify(dir_).error(),
            std::make_error_code(std::errc::no_such_file_or_directory));
  EXPECT_FALSE(CheckpointSigner::FromPem("not a key").has_value());

  EVP_PKEY* p384 = EVP_EC_gen("P-384");
  ASSERT_NE(p384, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PrivateKey(bio, p384, nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  const std::string pem(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  EVP_PKEY_free(p384);
  EXPECT_EQ(CheckpointSigner::FromPem(pem).error(),
            std::make_error_code(std::errc::invalid_argument));

  std::ofstream(fs::path(dir_) / kSigningKeyFile) << pem;
  EXPECT_FALSE(CheckpointSigner::LoadOrCreate(dir_).has_value());
}

// The pieces together, as the API and main.cc use them: BALP events from the builders, stamped
// and indexed, written as kAudit ops to a store whose checkpoints the ECDSA key signs.
TEST_F(CheckpointSignerTest, StoreCheckpointsSignedWithTheGatewayKey) {
  auto signer = CheckpointSigner::LoadOrCreate(dir_);
  ASSERT_TRUE(signer.has_value());
  store::SqliteOptions options;
  options.path = (fs::path(dir_) / "carebridge.db").string();
  options.audit_signer = MakeStoreSigner(*signer);
  options.audit_checkpoint_every = 10;
  auto opened = store::OpenSqliteStore(options);
  ASSERT_TRUE(opened.has_value());
  store::Store& s = **opened;
  for (int i = 0; i < 25; ++i) {
    RestEvent ev;
    ev.id = "ae" + std::to_string(i);
    ev.recorded = "2026-11-22T10:00:00.000Z";
    ev.interaction = Interaction::kRead;
    ev.requestor.partner_id = "riverside-ehr";
    ev.requestor.purpose = "TREAT";
    ev.resource = ResourceRef{"CarePlan", "cp" + std::to_string(i), 1};
    ev.patient_id = "p1";
    store::WriteBatch batch;
    batch.ops.push_back(AuditWriteOp(BuildRestEvent(ev)));
    std::promise<store::WriteResult> p;
    s.Write(std::move(batch), [&p](store::WriteResult r) { p.set_value(std::move(r)); });
    auto r = p.get_future().get();
    ASSERT_TRUE(r.ops.at(0).has_value());
  }
  // Searchable by patient, as the privacy officer asks.
  fhir::Outcome outcome;
  auto q = fhir::ParseSearchQuery("AuditEvent", {{"patient", "p1"}, {"action", "R"}},
                                  fhir::SearchLimits{}, outcome);
  ASSERT_TRUE(q.has_value());
  auto page = s.Search(*q);
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->total, 25);

  s.Close();
  opened->reset();
  store::SqliteOptions verify_options;
  verify_options.path = options.path;
  auto verifier = CheckpointSigner::LoadForVerify(dir_);
  ASSERT_TRUE(verifier.has_value());
  verify_options.audit_signer = MakeStoreSigner(*verifier);
  auto report = store::VerifySqliteAudit(verify_options);
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->ok) << report->reason;
  EXPECT_EQ(report->records, 25);
  EXPECT_EQ(report->checkpoints, 3);  // 10, 20 and 25 (at Close)

  // Another gateway's key does not vouch for this log.
  const std::string other = dir_ + "/other";
  fs::create_directories(other);
  auto stranger = CheckpointSigner::LoadOrCreate(other);
  ASSERT_TRUE(stranger.has_value());
  verify_options.audit_signer = MakeStoreSigner(*stranger);
  auto refused = store::VerifySqliteAudit(verify_options);
  ASSERT_TRUE(refused.has_value());
  EXPECT_FALSE(refused->ok);
  EXPECT_EQ(refused->broken_seq, 10);
}

}  // namespace
}  // namespace carebridge::audit
