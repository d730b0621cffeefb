#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "fhir/json/json.h"
#include "gateway/api/release.h"
#include "gateway/store/sqlite/sqlite_store.h"
#include "gateway/store/store.h"
#include "tests/support/temp_store.h"

namespace carebridge::api {
namespace {

namespace fs = std::filesystem;
namespace json = fhir::json;

class ConsentCacheTest : public ::testing::Test {
 protected:
  void Write(const std::string& type, const std::string& id, const std::string& patient) {
    std::string message;
    auto resource = json::Parse(
        R"({"resourceType":")" + type + R"(","status":"active","patient":{"reference":"Patient/)" +
            patient + R"("},"subject":{"reference":"Patient/)" + patient + R"("}})",
        json::Limits{}, message);
    ASSERT_TRUE(resource.has_value()) << message;
    store::WriteBatch batch;
    batch.ops.push_back(
        store::ResourceOp(store::WriteOp::Kind::kCreate, type, id, std::move(*resource)));
    auto result = store::WriteAndWait(*store_, std::move(batch));
    ASSERT_EQ(result.ops.size(), 1u);
    ASSERT_TRUE(result.ops[0].has_value());
  }

  ConsentCache::Consents Get(ConsentCache& cache, const std::string& patient) {
    auto consents = cache.Get(*store_, patient, 100);
    EXPECT_TRUE(consents.has_value());
    return consents ? *consents : nullptr;
  }

  testing::TempStore store_{"consent-cache"};
};

TEST_F(ConsentCacheTest, KeepsConsentsUntilAConsentIsWritten) {
  ConsentCache cache;
  Write("Consent", "c1", "p1");
  auto first = Get(cache, "p1");
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->size(), 1u);
  EXPECT_EQ(Get(cache, "p1"), first);  // kept: the same parsed consents

  // Writes of other types leave it alone.
  Write("CarePlan", "cp1", "p1");
  EXPECT_EQ(Get(cache, "p1"), first);

  // A new consent of the patient is seen by the very next call.
  Write("Consent", "c2", "p1");
  auto second = Get(cache, "p1");
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->size(), 2u);

  // A consent of another patient empties the cache too (the store does not say whose it was).
  Write("Consent", "c3", "p2");
  auto third = Get(cache, "p1");
  ASSERT_NE(third, nullptr);
  EXPECT_NE(third, second);
  EXPECT_EQ(third->size(), 2u);
  EXPECT_EQ(Get(cache, "p2")->size(), 1u);
}

TEST_F(ConsentCacheTest, StaysWithinItsBound) {
  ConsentCache cache(/*max_patients=*/2);
  Write("Consent", "c1", "p1");
  auto p1 = Get(cache, "p1");
  Get(cache, "p2");
  Get(cache, "p3");  // full: emptied before this one is kept
  EXPECT_NE(Get(cache, "p1"), p1);
  EXPECT_EQ(Get(cache, "p1")->size(), 1u);
}

// A store that cannot say whether Consents changed is read every time.
TEST_F(ConsentCacheTest, StoreWithoutGenerationsIsReadEveryTime) {
  class NoGenerations : public store::Store {
   public:
    explicit NoGenerations(store::Store& inner) : inner_(inner) {}
    void Write(store::WriteBatch batch, store::WriteCallback done) override {
      inner_.Write(std::move(batch), std::move(done));
    }
    Result<store::ResourceVersion> Read(std::string_view type, std::string_view id) override {
      return inner_.Read(type, id);
    }
    Result<store::ResourceVersion> ReadVersion(std::string_view type, std::string_view id,
                                               std::int64_t version) override {
      return inner_.ReadVersion(type, id, version);
    }
    Result<store::SearchPage> Search(const fhir::SearchQuery& query) override {
      return inner_.Search(query);
    }
    Result<store::SearchPage> History(const store::HistoryQuery& query) override {
      return inner_.History(query);
    }
    void Close() override {}

   private:
    store::Store& inner_;
  };
  NoGenerations plain(*store_);
  ConsentCache cache;
  Write("Consent", "c1", "p1");
  auto first = cache.Get(plain, "p1", 100);
  auto second = cache.Get(plain, "p1", 100);
  ASSERT_TRUE(first.has_value() && second.has_value());
  EXPECT_NE(*first, *second);
  EXPECT_EQ((*second)->size(), 1u);
}

}  // namespace
}  // namespace carebridge::api
