#include "gateway/store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <future>
#include <latch>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fhir/json/json.h"
#include "gateway/store/sqlite/schema.h"

namespace carebridge::store {
namespace {

namespace fs = std::filesystem;
using fhir::IndexEntry;
using fhir::ParamType;
using fhir::Prefix;
using fhir::SearchCriterion;
using fhir::SearchQuery;
using fhir::SearchValue;
using Kind = WriteOutcome::Kind;

// ---- helpers -----------------------------------------------------------------------------------

std::int64_t Ms(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

// "2026-11-22T10:00:00.123Z" -> epoch ms.
std::int64_t ParseInstant(const std::string& text) {
  int y, mo, d, h, mi, s, ms;
  EXPECT_EQ(std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &y, &mo, &d, &h, &mi, &s, &ms), 7)
      << text;
  return Ms(y, mo, d, h, mi, s) + ms;
}

std::function<std::string(const VersionStamp&)> Render(std::string body) {
  return [body = std::move(body)](const VersionStamp& s) {
    return R"({"id":")" + s.id + R"(","versionId":")" + std::to_string(s.version) +
           R"(","lastUpdated":")" + s.last_updated + R"(","body":")" + body + R"("})";
  };
}

WriteOp Create(std::string type, std::string id, std::vector<IndexEntry> index = {},
               std::string body = "x") {
  WriteOp op;
  op.kind = WriteOp::Kind::kCreate;
  op.type = std::move(type);
  op.id = std::move(id);
  op.index = std::move(index);
  op.render = Render(std::move(body));
  return op;
}

WriteOp Update(std::string type, std::string id, std::optional<std::int64_t> if_match = {},
               std::vector<IndexEntry> index = {}, std::string body = "x") {
  WriteOp op = Create(std::move(type), std::move(id), std::move(index), std::move(body));
  op.kind = WriteOp::Kind::kUpdate;
  op.if_match = if_match;
  return op;
}

WriteOp Delete(std::string type, std::string id, std::optional<std::int64_t> if_match = {}) {
  WriteOp op;
  op.kind = WriteOp::Kind::kDelete;
  op.type = std::move(type);
  op.id = std::move(id);
  op.if_match = if_match;
  return op;
}

IndexEntry Token(std::string param, std::string system, std::string value) {
  return {std::move(param), ParamType::kToken, std::move(system), std::move(value), 0, 0};
}
IndexEntry Str(std::string param, std::string value) {
  return {std::move(param), ParamType::kString, "", std::move(value), 0, 0};
}
IndexEntry Ref(std::string param, std::string system, std::string value) {
  return {std::move(param), ParamType::kReference, std::move(system), std::move(value), 0, 0};
}
IndexEntry Uri(std::string param, std::string value) {
  return {std::move(param), ParamType::kUri, "", std::move(value), 0, 0};
}
IndexEntry Num(std::string param, std::string value) {
  return {std::move(param), ParamType::kNumber, "", std::move(value), 0, 0};
}
IndexEntry Date(std::string param, std::int64_t low, std::int64_t high) {
  return {std::move(param), ParamType::kDate, "", "", low, high};
}

SearchValue V(std::string value, std::optional<std::string> system = std::nullopt) {
  SearchValue v;
  v.value = std::move(value);
  v.system = std::move(system);
  return v;
}
SearchValue DateV(Prefix p, std::int64_t low, std::int64_t high) {
  SearchValue v;
  v.prefix = p;
  v.low = low;
  v.high = high;
  return v;
}
SearchValue NumV(Prefix p, std::string value) {
  SearchValue v = V(std::move(value));
  v.prefix = p;
  return v;
}

SearchCriterion Crit(std::string param, ParamType type, std::vector<SearchValue> any_of,
                     std::string modifier = "") {
  SearchCriterion c;
  c.param = std::move(param);
  c.type = type;
  c.modifier = std::move(modifier);
  c.any_of = std::move(any_of);
  return c;
}

SearchQuery Query(std::string type, std::vector<SearchCriterion> all_of = {}) {
  SearchQuery q;
  q.type = std::move(type);
  q.all_of = std::move(all_of);
  q.count = 100;
  return q;
}

WriteResult WriteSync(Store& store, WriteBatch batch) {
  std::promise<WriteResult> p;
  auto f = p.get_future();
  store.Write(std::move(batch), [&p](WriteResult r) { p.set_value(std::move(r)); });
  return f.get();
}

Result<WriteOutcome> WriteOne(Store& store, WriteOp op) {
  WriteBatch b;
  b.ops.push_back(std::move(op));
  WriteResult r = WriteSync(store, std::move(b));
  EXPECT_EQ(r.ops.size(), 1u);
  return r.ops.at(0);
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "carebridge-store-XXXXXX").string();
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
    EXPECT_TRUE(s.has_value()) << (s.has_value() ? "" : s.error().message());
    store_ = std::move(*s);
    return *store_;
  }

  // Ids of the search page, in order.
  std::vector<std::string> Ids(const SearchQuery& q) {
    auto page = store_->Search(q);
    EXPECT_TRUE(page.has_value()) << (page ? "" : page.error().message());
    std::vector<std::string> ids;
    if (page) {
      for (const auto& e : page->entries) {
        ids.push_back(e.id);
      }
    }
    return ids;
  }
  std::set<std::string> IdSet(const SearchQuery& q) {
    auto v = Ids(q);
    return {v.begin(), v.end()};
  }

  std::string dir_;
  std::string path_;
  StorePtr store_;
};

std::error_code E(errc e) { return make_error_code(e); }

// ---- basic interactions ----------------------------------------------------------------------

TEST_F(SqliteStoreTest, CreateReadUpdateDeleteVread) {
  Store& s = Open();
  auto c = WriteOne(s, Create("Patient", "p1", {}, "one"));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->kind, Kind::kCreated);
  EXPECT_EQ(c->stamp.id, "p1");
  EXPECT_EQ(c->stamp.version, 1);
  EXPECT_EQ(c->stamp.last_updated.size(), 24u);  // 2026-11-22T10:00:00.123Z
  EXPECT_EQ(c->stamp.last_updated.back(), 'Z');
  EXPECT_NE(c->json.find(R"("versionId":"1")"), std::string::npos);

  auto r = s.Read("Patient", "p1");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->type, "Patient");
  EXPECT_EQ(r->version, 1);
  EXPECT_EQ(r->json, c->json);
  EXPECT_EQ(r->last_updated, c->stamp.last_updated);
  EXPECT_FALSE(r->deleted);

  auto u = WriteOne(s, Update("Patient", "p1", 1, {}, "two"));
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->kind, Kind::kUpdated);
  EXPECT_EQ(u->stamp.version, 2);
  EXPECT_EQ(s.Read("Patient", "p1")->json, u->json);
  EXPECT_EQ(s.ReadVersion("Patient", "p1", 1)->json, c->json);
  EXPECT_EQ(s.ReadVersion("Patient", "p1", 2)->json, u->json);
  EXPECT_EQ(s.ReadVersion("Patient", "p1", 3).error(), E(errc::kNotFound));

  auto d = WriteOne(s, Delete("Patient", "p1"));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->kind, Kind::kDeleted);
  EXPECT_EQ(d->stamp.version, 3);
  EXPECT_TRUE(d->json.empty());
  EXPECT_EQ(s.Read("Patient", "p1").error(), E(errc::kGone));
  EXPECT_EQ(s.ReadVersion("Patient", "p1", 3).error(), E(errc::kGone));
  EXPECT_EQ(s.ReadVersion("Patient", "p1", 2)->json, u->json);

  auto again = WriteOne(s, Delete("Patient", "p1"));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->kind, Kind::kAlreadyDeleted);
  EXPECT_EQ(again->stamp.version, 3);
  EXPECT_EQ(again->stamp.last_updated, d->stamp.last_updated);

  EXPECT_EQ(s.Read("Patient", "nope").error(), E(errc::kNotFound));
  EXPECT_EQ(s.Read("Observation", "p1").error(), E(errc::kNotFound));
  EXPECT_EQ(WriteOne(s, Delete("Patient", "nope")).error(), E(errc::kNotFound));

  // Updating a deleted resource brings it back, continuing the version sequence.
  auto back = WriteOne(s, Update("Patient", "p1"));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->kind, Kind::kCreated);
  EXPECT_EQ(back->stamp.version, 4);
  EXPECT_EQ(s.Read("Patient", "p1")->version, 4);
}

TEST_F(SqliteStoreTest, IfMatchConflicts) {
  Store& s = Open();
  ASSERT_TRUE(WriteOne(s, Create("Patient", "p1")).has_value());
  ASSERT_TRUE(WriteOne(s, Update("Patient", "p1", 1)).has_value());
  EXPECT_EQ(WriteOne(s, Update("Patient", "p1", 1)).error(), E(errc::kVersionConflict));
  EXPECT_EQ(WriteOne(s, Update("Patient", "p1", 3)).error(), E(errc::kVersionConflict));
  EXPECT_EQ(WriteOne(s, Delete("Patient", "p1", 1)).error(), E(errc::kVersionConflict));
  EXPECT_EQ(s.Read("Patient", "p1")->version, 2);
  EXPECT_EQ(WriteOne(s, Delete("Patient", "p1", 2))->kind, Kind::kDeleted);
  // If-Match on a resource that does not exist.
  EXPECT_EQ(WriteOne(s, Update("Patient", "p2", 1)).error(), E(errc::kVersionConflict));
  EXPECT_EQ(s.Read("Patient", "p2").error(), E(errc::kNotFound));
}

TEST_F(SqliteStoreTest, UpdateAsCreate) {
  Store& s = Open();
  auto r = WriteOne(s, Update("Patient", "client-id"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->kind, Kind::kCreated);
  EXPECT_EQ(r->stamp.version, 1);
  EXPECT_EQ(s.Read("Patient", "client-id")->version, 1);
}

TEST_F(SqliteStoreTest, CreateOfExistingIdConflictsEvenWhenDeleted) {
  Store& s = Open();
  ASSERT_TRUE(WriteOne(s, Create("Patient", "p1")).has_value());
  EXPECT_EQ(WriteOne(s, Create("Patient", "p1")).error(), E(errc::kVersionConflict));
  ASSERT_TRUE(WriteOne(s, Delete("Patient", "p1")).has_value());
  EXPECT_EQ(WriteOne(s, Create("Patient", "p1")).error(), E(errc::kVersionConflict));
  // Same id, other type: no conflict.
  EXPECT_TRUE(WriteOne(s, Create("Observation", "p1")).has_value());
}

TEST_F(SqliteStoreTest, ConditionalCreate) {
  Store& s = Open();
  auto by_mrn = [](std::string mrn) {
    WriteOp op = Create("Patient", "new-" + mrn, {Token("identifier", "urn:mrn", mrn)});
    op.if_none_exist =
        Query("Patient", {Crit("identifier", ParamType::kToken, {V(mrn, "urn:mrn")})});
    return op;
  };
  // 0 matches: created.
  auto first = WriteOne(s, by_mrn("42"));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->kind, Kind::kCreated);
  // 1 match: the existing one, nothing written.
  WriteOp again = by_mrn("42");
  again.id = "other-id";
  auto existing = WriteOne(s, std::move(again));
  ASSERT_TRUE(existing.has_value());
  EXPECT_EQ(existing->kind, Kind::kExisting);
  EXPECT_EQ(existing->stamp.id, "new-42");
  EXPECT_EQ(existing->stamp.version, 1);
  EXPECT_EQ(existing->stamp.last_updated, first->stamp.last_updated);
  EXPECT_EQ(existing->json, first->json);
  EXPECT_EQ(s.Read("Patient", "other-id").error(), E(errc::kNotFound));
  // 2 matches: refused.
  ASSERT_TRUE(WriteOne(s, Create("Patient", "dup", {Token("identifier", "urn:mrn", "42")})));
  WriteOp third = by_mrn("42");
  third.id = "third";
  EXPECT_EQ(WriteOne(s, std::move(third)).error(), E(errc::kMultipleMatches));
  EXPECT_EQ(s.Read("Patient", "third").error(), E(errc::kNotFound));

  // Two conditional creates in one atomic batch: the second sees the first (same transaction).
  WriteBatch b;
  b.ops.push_back(by_mrn("77"));
  WriteOp second = by_mrn("77");
  second.id = "second-77";
  b.ops.push_back(std::move(second));
  auto r = WriteSync(s, std::move(b));
  ASSERT_FALSE(r.failed_op.has_value());
  EXPECT_EQ(r.ops[0]->kind, Kind::kCreated);
  EXPECT_EQ(r.ops[1]->kind, Kind::kExisting);
  EXPECT_EQ(r.ops[1]->stamp.id, "new-77");
}

TEST_F(SqliteStoreTest, AtomicBatchFailureLeavesNothing) {
  Store& s = Open();
  WriteBatch b;
  for (int i = 0; i < 5; ++i) {
    if (i == 2) {
      b.ops.push_back(Update("Patient", "missing", 7));  // If-Match on nothing: conflict
    } else {
      b.ops.push_back(Create("Patient", "a" + std::to_string(i), {Token("tag", "", "batch")}));
    }
  }
  auto r = WriteSync(s, std::move(b));
  ASSERT_EQ(r.ops.size(), 5u);
  ASSERT_EQ(r.failed_op, 2u);
  EXPECT_EQ(r.ops[2].error(), E(errc::kVersionConflict));
  for (int i : {0, 1, 3, 4}) {
    EXPECT_EQ(r.ops[i].error(), std::make_error_code(std::errc::operation_canceled)) << i;
    EXPECT_EQ(s.Read("Patient", "a" + std::to_string(i)).error(), E(errc::kNotFound)) << i;
  }
  EXPECT_EQ(s.Read("Patient", "missing").error(), E(errc::kNotFound));
  auto page = s.Search(Query("Patient", {Crit("tag", ParamType::kToken, {V("batch")})}));
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->total, 0);
  auto all = s.Search(Query("Patient"));
  EXPECT_EQ(all->total, 0);
  HistoryQuery h;
  EXPECT_EQ(s.History(h)->total, 0);
}

TEST_F(SqliteStoreTest, NonAtomicBatchKeepsTheGoodOps) {
  Store& s = Open();
  ASSERT_TRUE(WriteOne(s, Create("Patient", "dup")).has_value());
  WriteBatch b;
  b.atomic = false;
  b.ops.push_back(Create("Patient", "ok1"));
  b.ops.push_back(Create("Patient", "dup"));  // conflict
  b.ops.push_back(Create("Patient", "ok2", {Token("tag", "", "t")}));
  b.ops.push_back(Delete("Patient", "nothing"));  // not found
  auto r = WriteSync(s, std::move(b));
  ASSERT_EQ(r.ops.size(), 4u);
  EXPECT_FALSE(r.failed_op.has_value());
  EXPECT_EQ(r.ops[0]->kind, Kind::kCreated);
  EXPECT_EQ(r.ops[1].error(), E(errc::kVersionConflict));
  EXPECT_EQ(r.ops[2]->kind, Kind::kCreated);
  EXPECT_EQ(r.ops[3].error(), E(errc::kNotFound));
  EXPECT_TRUE(s.Read("Patient", "ok1").has_value());
  EXPECT_TRUE(s.Read("Patient", "ok2").has_value());
  EXPECT_EQ(s.Read("Patient", "dup")->version, 1);
  EXPECT_EQ(IdSet(Query("Patient", {Crit("tag", ParamType::kToken, {V("t")})})),
            std::set<std::string>{"ok2"});
}

TEST_F(SqliteStoreTest, RenderSeesTheStampAndMissingRenderFailsTheOp) {
  Store& s = Open();
  VersionStamp seen;
  WriteOp op = Create("Patient", "p");
  op.render = [&seen](const VersionStamp& st) {
    seen = st;
    return std::string("{}");
  };
  auto r = WriteOne(s, std::move(op));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(seen.id, r->stamp.id);
  EXPECT_EQ(seen.version, r->stamp.version);
  EXPECT_EQ(seen.last_updated, r->stamp.last_updated);
  EXPECT_EQ(r->json, "{}");

  WriteOp no_render = Create("Patient", "q");
  no_render.render = nullptr;
  EXPECT_FALSE(WriteOne(s, std::move(no_render)).has_value());
  WriteOp throws = Create("Patient", "t");
  throws.render = [](const VersionStamp&) -> std::string { throw std::runtime_error("boom"); };
  EXPECT_FALSE(WriteOne(s, std::move(throws)).has_value());
  EXPECT_EQ(s.Read("Patient", "t").error(), E(errc::kNotFound));
  // The writer survives both.
  EXPECT_TRUE(WriteOne(s, Create("Patient", "after")).has_value());
}

TEST_F(SqliteStoreTest, IndexRowsFollowTheCurrentVersion) {
  Store& s = Open();
  ASSERT_TRUE(WriteOne(s, Create("Patient", "p", {Str("name", "alpha")})));
  ASSERT_TRUE(WriteOne(s, Update("Patient", "p", 1, {Str("name", "beta")})));
  auto by = [](std::string n) {
    return Query("Patient", {Crit("name", ParamType::kString, {V(n)})});
  };
  EXPECT_TRUE(IdSet(by("alpha")).empty());
  EXPECT_EQ(IdSet(by("beta")), std::set<std::string>{"p"});
  ASSERT_TRUE(WriteOne(s, Delete("Patient", "p")));
  EXPECT_TRUE(IdSet(by("beta")).empty());
  auto missing = Query("Patient", {Crit("name", ParamType::kString, {V("true")}, "missing")});
  EXPECT_TRUE(IdSet(missing).empty());  // deleted resources are not searchable at all
}

// ---- timestamps ------------------------------------------------------------------------------

// lastUpdated follows the clock: never back, and never ahead of it, however many writes share a
// millisecond (3,000 here, far more than one per millisecond).
TEST_F(SqliteStoreTest, LastUpdatedNeverDecreasesNorRunsAhead) {
  Store& s = Open();
  std::int64_t prev_ms = 0;
  for (int i = 0; i < 100; ++i) {
    WriteBatch b;
    for (int j = 0; j < 30; ++j) {
      b.ops.push_back(Create("Patient", "p" + std::to_string(i) + "-" + std::to_string(j)));
    }
    auto r = WriteSync(s, std::move(b));
    const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
    for (const auto& op : r.ops) {
      ASSERT_TRUE(op.has_value());
      const std::int64_t ms = ParseInstant(op->stamp.last_updated);
      EXPECT_GE(ms, prev_ms);
      EXPECT_LE(ms, now_ms);
      prev_ms = ms;
    }
  }
  // History keeps the order they were written in, also within a millisecond.
  HistoryQuery newest;
  newest.type = "Patient";
  newest.count = 3;
  auto h = s.History(newest);
  ASSERT_TRUE(h.has_value());
  ASSERT_EQ(h->entries.size(), 3u);
  EXPECT_EQ(h->entries[0].id, "p99-29");
  EXPECT_EQ(h->entries[1].id, "p99-28");
  EXPECT_EQ(h->entries[2].id, "p99-27");
  // Not back after a reopen either.
  Store& again = Open();
  auto r = WriteOne(again, Create("Patient", "after-reopen"));
  ASSERT_TRUE(r.has_value());
  EXPECT_GE(ParseInstant(r->stamp.last_updated), prev_ms);
}

// ---- concurrency and durability --------------------------------------------------------------

TEST_F(SqliteStoreTest, ConcurrentWritersAllCommit) {
  Store& s = Open();
  constexpr int kThreads = 8;
  constexpr int kPerThread = 250;  // 125 creates + 125 updates
  std::atomic<int> done{0};
  std::atomic<int> failed{0};
  std::latch all_done(kThreads * kPerThread);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread / 2; ++i) {
        const std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
        for (WriteOp op : {Create("Patient", id, {Token("thread", "", std::to_string(t))}),
                           Update("Patient", id, 1, {Token("thread", "", std::to_string(t))})}) {
          WriteBatch b;
          b.ops.push_back(std::move(op));
          s.Write(std::move(b), [&](WriteResult r) {
            if (!r.ops.at(0).has_value()) {
              failed.fetch_add(1);
            }
            done.fetch_add(1);
            all_done.count_down();
          });
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  all_done.wait();
  EXPECT_EQ(done.load(), kThreads * kPerThread);
  EXPECT_EQ(failed.load(), 0);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread / 2; ++i) {
      auto r = s.Read("Patient", "t" + std::to_string(t) + "-" + std::to_string(i));
      ASSERT_TRUE(r.has_value());
      EXPECT_EQ(r->version, 2);
    }
  }
  auto q = Query("Patient", {Crit("thread", ParamType::kToken, {V("3")})});
  q.total_only = true;
  EXPECT_EQ(s.Search(q)->total, kPerThread / 2);
  HistoryQuery h;
  EXPECT_EQ(s.History(h)->total, kThreads * kPerThread);
}

TEST_F(SqliteStoreTest, ConcurrentReadersBesideTheWriter) {
  Store& s = Open();
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(WriteOne(s, Create("Patient", "p" + std::to_string(i), {Str("name", "n")})));
  }
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 6; ++t) {  // more readers than pooled connections: some block
    readers.emplace_back([&] {
      while (!stop.load()) {
        if (!s.Read("Patient", "p7")) {
          errors.fetch_add(1);
        }
        auto page = s.Search(Query("Patient", {Crit("name", ParamType::kString, {V("n")})}));
        if (!page || page->total < 50) {
          errors.fetch_add(1);
        }
      }
    });
  }
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(
        WriteOne(s, Update("Patient", "p" + std::to_string(i % 50), {}, {Str("name", "n")})));
  }
  stop = true;
  for (auto& t : readers) {
    t.join();
  }
  EXPECT_EQ(errors.load(), 0);
}

TEST_F(SqliteStoreTest, ReopenFindsEverything) {
  {
    Store& s = Open();
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE(WriteOne(s, Create("Patient", "p" + std::to_string(i), {Str("name", "kept")})));
    }
    ASSERT_TRUE(WriteOne(s, Update("Patient", "p5", 1, {Str("name", "kept")})));
    ASSERT_TRUE(WriteOne(s, Delete("Patient", "p6")));
    s.Close();
  }
  Store& s = Open();
  for (int i = 0; i < 100; ++i) {
    auto r = s.Read("Patient", "p" + std::to_string(i));
    if (i == 6) {
      EXPECT_EQ(r.error(), E(errc::kGone));
    } else {
      ASSERT_TRUE(r.has_value()) << i;
      EXPECT_EQ(r->version, i == 5 ? 2 : 1);
    }
  }
  auto q = Query("Patient", {Crit("name", ParamType::kString, {V("kept")})});
  EXPECT_EQ(s.Search(q)->total, 99);
}

// The WAL is copied back into the database file while the store runs (by its checkpoint thread,
// since the writer no longer checkpoints inside its commits): the main file grows while the store
// is open, and the WAL does not grow without bound.
TEST_F(SqliteStoreTest, WalIsCheckpointedWhileTheStoreRuns) {
  SqliteOptions o;
  o.path = path_;
  o.wal_checkpoint_pages = 2000;
  auto opened = OpenSqliteStore(o);
  ASSERT_TRUE(opened.has_value());
  store_ = std::move(*opened);
  Store& s = *store_;
  const std::string body(8000, 'x');
  for (int batch = 0; batch < 60; ++batch) {
    WriteBatch b;
    for (int i = 0; i < 50; ++i) {
      b.ops.push_back(
          Create("Binary", "b" + std::to_string(batch) + "-" + std::to_string(i), {}, body));
    }
    ASSERT_FALSE(WriteAndWait(s, std::move(b)).failed_op);
  }
  // 3,000 x 8 KB: ~24 MB through the WAL, past the 8 MB that wakes the checkpointer here.
  std::uintmax_t main_size = 0;
  for (int i = 0; i < 200 && main_size < 8'000'000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    main_size = fs::file_size(path_);
  }
  EXPECT_GE(main_size, 8'000'000u) << "the database file did not receive the WAL's pages";
}

// A version written through ResourceOp keeps its patient and meta.source beside the JSON, and the
// consent facts its writer gave, so a reader can decide on its release without parsing it; a
// version written otherwise does not claim to know them, and a deletion has none.
TEST_F(SqliteStoreTest, VersionsKeepTheirPatientAndSource) {
  Store& s = Open();
  std::string message;
  auto plan = fhir::json::Parse(
      R"({"resourceType":"CarePlan","status":"active","intent":"plan",)"
      R"("meta":{"source":"urn:carebridge:partner:riverside"},"subject":{"reference":"Patient/p1"}})",
      fhir::json::Limits{}, message);
  ASSERT_TRUE(plan.has_value()) << message;
  auto org = fhir::json::Parse(R"({"resourceType":"Organization","name":"x"})",
                               fhir::json::Limits{}, message);
  ASSERT_TRUE(org.has_value()) << message;
  WriteOp plan_op = ResourceOp(WriteOp::Kind::kCreate, "CarePlan", "cp1", *plan);
  plan_op.consent_facts = R"({"codes":[]})";
  ASSERT_TRUE(WriteOne(s, std::move(plan_op)));
  ASSERT_TRUE(WriteOne(s, ResourceOp(WriteOp::Kind::kCreate, "Organization", "o1", *org)));
  ASSERT_TRUE(WriteOne(s, Create("Patient", "raw")));

  auto cp = s.Read("CarePlan", "cp1");
  ASSERT_TRUE(cp.has_value());
  EXPECT_EQ(cp->patient_id, std::optional<std::string>("p1"));
  EXPECT_EQ(cp->meta_source, std::optional<std::string>("urn:carebridge:partner:riverside"));
  EXPECT_EQ(cp->consent_facts, std::optional<std::string>(R"({"codes":[]})"));
  EXPECT_EQ(s.ReadVersion("CarePlan", "cp1", 1)->consent_facts, cp->consent_facts);
  fhir::SearchQuery all_plans;
  all_plans.type = "CarePlan";
  all_plans.count = 10;
  auto found = s.Search(all_plans);
  ASSERT_TRUE(found.has_value());
  ASSERT_EQ(found->entries.size(), 1u);
  EXPECT_EQ(found->entries[0].consent_facts, cp->consent_facts);
  auto o = s.ReadVersion("Organization", "o1", 1);
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->patient_id, std::optional<std::string>(""));
  EXPECT_EQ(o->meta_source, std::optional<std::string>(""));
  auto raw = s.Read("Patient", "raw");
  ASSERT_TRUE(raw.has_value());
  EXPECT_FALSE(raw->patient_id.has_value());
  EXPECT_FALSE(raw->meta_source.has_value());
  EXPECT_FALSE(raw->consent_facts.has_value());

  ASSERT_TRUE(WriteOne(s, Delete("CarePlan", "cp1")));
  auto versions = AllVersions(s, "CarePlan", "cp1");
  ASSERT_TRUE(versions.has_value());
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ(versions->front().patient_id, std::optional<std::string>("p1"));
  EXPECT_EQ(versions->front().consent_facts, cp->consent_facts);
  EXPECT_FALSE(versions->back().patient_id.has_value());  // the deletion
  EXPECT_FALSE(versions->back().consent_facts.has_value());
}

TEST_F(SqliteStoreTest, SchemaIsVersionedAndForeignFilesAreRefused) {
  Open().Close();
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  auto pragma = [&](const char* sql) {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_step(st), SQLITE_ROW);
    std::string v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
  };
  EXPECT_EQ(pragma("PRAGMA user_version"), std::to_string(sqlite_internal::kLatestSchemaVersion));
  EXPECT_EQ(pragma("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(pragma("PRAGMA application_id"), std::to_string(0x43524247));
  sqlite3_close(db);
  // Reopening does not re-run migration 1 (it would fail on CREATE TABLE).
  Store& s = Open();
  EXPECT_TRUE(WriteOne(s, Create("Patient", "p")).has_value());
  store_.reset();

  // A file written by a newer carebridge, or another program, is refused.
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  SqliteOptions o;
  o.path = path_;
  auto refused = OpenSqliteStore(o);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error(), E(errc::kIo));

  const std::string other = (fs::path(dir_) / "other.db").string();
  ASSERT_EQ(sqlite3_open(other.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db, "CREATE TABLE t(x); PRAGMA application_id=7", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  o.path = other;
  EXPECT_FALSE(OpenSqliteStore(o).has_value());

  o.path = (fs::path(dir_) / "no-such-dir" / "x.db").string();
  EXPECT_EQ(OpenSqliteStore(o).error(), E(errc::kIo));
}

// "Acknowledged means durable": a child process writes through the store and reports every
// acknowledged id through a pipe; the parent SIGKILLs it mid-stream, then reopens the file and
// must find every id the child reported. (SIGKILL loses the process, not the page cache: this
// proves we acknowledge only after COMMIT; the fsync in COMMIT is what covers power loss.)
TEST_F(SqliteStoreTest, AcknowledgedWritesSurviveSigkill) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    SqliteOptions o;
    o.path = path_;
    auto opened = OpenSqliteStore(o);
    if (!opened) {
      _exit(2);
    }
    Store& s = **opened;
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t) {
      writers.emplace_back([&s, t, fd = fds[1]] {
        for (int i = 0;; ++i) {
          const std::string id = "k" + std::to_string(t) + "-" + std::to_string(i);
          WriteBatch b;
          b.ops.push_back(Create("Patient", id, {Token("k", "", "v")}));
          std::promise<void> acked;
          s.Write(std::move(b), [&](WriteResult r) {
            if (r.ops.at(0).has_value()) {
              const std::string line = id + "\n";  // < PIPE_BUF: written atomically
              if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
                _exit(3);
              }
            }
            acked.set_value();
          });
          acked.get_future().wait();
        }
      });
    }
    for (auto& w : writers) {
      w.join();
    }
    _exit(0);
  }
  close(fds[1]);
  std::vector<std::string> acked;
  std::string buf;
  char chunk[4096];
  bool killed = false;
  for (;;) {
    const ssize_t n = read(fds[0], chunk, sizeof chunk);
    if (n <= 0) {
      break;
    }
    buf.append(chunk, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      acked.push_back(buf.substr(0, nl));
      buf.erase(0, nl + 1);
    }
    if (!killed && acked.size() >= 300) {
      kill(pid, SIGKILL);
      killed = true;  // keep reading: what the child wrote before dying is still in the pipe
    }
  }
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(killed) << "child exited early, status " << status;
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  Store& s = Open();
  for (const std::string& id : acked) {
    EXPECT_TRUE(s.Read("Patient", id).has_value()) << id;
  }
  auto q = Query("Patient", {Crit("k", ParamType::kToken, {V("v")})});
  q.total_only = true;
  EXPECT_GE(s.Search(q)->total, static_cast<std::int64_t>(acked.size()));
  std::printf("[ info ] %zu acknowledged writes before SIGKILL, all found after reopen\n",
              acked.size());
}

// A real I/O failure: in a child process, RLIMIT_FSIZE makes the WAL write of a large resource
// fail with EFBIG. That group fails with kIo, and every later write too, even once the limit is
// lifted (sticky, as LevelDB after a failed sync). Reads keep working; a reopen recovers.
TEST_F(SqliteStoreTest, FailedCommitIsStickyIo) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    SqliteOptions o;
    o.path = path_;
    auto opened = OpenSqliteStore(o);
    if (!opened) {
      _exit(10);
    }
    Store& s = **opened;
    if (!WriteOne(s, Create("Patient", "before"))) {
      _exit(11);
    }
    std::error_code ec;
    const auto wal = fs::file_size(path_ + "-wal", ec);
    const auto db = fs::file_size(path_, ec);
    rlimit lim{};
    getrlimit(RLIMIT_FSIZE, &lim);
    const rlimit old = lim;
    lim.rlim_cur = std::max<std::uintmax_t>(wal, db) + 4096;
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0) {
      _exit(12);
    }
    auto big = WriteOne(s, Create("Patient", "big", {}, std::string(4 << 20, 'b')));
    if (big || big.error() != E(errc::kIo)) {
      _exit(13);
    }
    setrlimit(RLIMIT_FSIZE, &old);
    auto later = WriteOne(s, Create("Patient", "later"));
    if (later || later.error() != E(errc::kIo)) {
      _exit(14);
    }
    if (!s.Read("Patient", "before")) {
      _exit(15);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  Store& s = Open();
  EXPECT_TRUE(s.Read("Patient", "before").has_value());
  EXPECT_EQ(s.Read("Patient", "big").error(), E(errc::kNotFound));
  EXPECT_EQ(s.Read("Patient", "later").error(), E(errc::kNotFound));
  EXPECT_TRUE(WriteOne(s, Create("Patient", "after-reopen")).has_value());
}

TEST_F(SqliteStoreTest, CloseDrainsThenRefuses) {
  Store& s = Open();
  std::atomic<int> ok{0};
  std::latch queued(200);
  for (int i = 0; i < 200; ++i) {
    WriteBatch b;
    b.ops.push_back(Create("Patient", "p" + std::to_string(i)));
    s.Write(std::move(b), [&](WriteResult r) {
      if (r.ops.at(0)) {
        ok.fetch_add(1);
      }
      queued.count_down();
    });
  }
  s.Close();
  EXPECT_TRUE(queued.try_wait());  // Close returned after every queued batch was answered
  EXPECT_EQ(ok.load(), 200);

  WriteBatch b;
  b.ops.push_back(Create("Patient", "late1"));
  b.ops.push_back(Create("Patient", "late2"));
  auto r = WriteSync(s, std::move(b));
  ASSERT_EQ(r.ops.size(), 2u);
  EXPECT_EQ(r.ops[0].error(), E(errc::kClosed));
  EXPECT_EQ(r.ops[1].error(), E(errc::kClosed));
  s.Close();                                         // idempotent
  EXPECT_TRUE(s.Read("Patient", "p0").has_value());  // reads still work until destruction
  Store& again = Open();
  EXPECT_EQ(again.Read("Patient", "late1").error(), E(errc::kNotFound));
  EXPECT_TRUE(again.Read("Patient", "p199").has_value());
}

TEST_F(SqliteStoreTest, ErrorCategory) {
  EXPECT_STREQ(store_category().name(), "carebridge.store");
  EXPECT_EQ(E(errc::kGone).category(), store_category());
  EXPECT_FALSE(E(errc::kIo).message().empty());
  std::error_code ec = errc::kClosed;  // is_error_code_enum
  EXPECT_EQ(ec, E(errc::kClosed));
}

// ---- search ------------------------------------------------------------------------------------

TEST_F(SqliteStoreTest, TokenSearch) {
  Store& s = Open();
  ASSERT_TRUE(
      WriteOne(s, Create("Observation", "t1", {Token("code", "http://loinc.org", "1234-5")})));
  ASSERT_TRUE(WriteOne(s, Create("Observation", "t2", {Token("code", "", "1234-5")})));
  ASSERT_TRUE(
      WriteOne(s, Create("Observation", "t3", {Token("code", "http://snomed.info/sct", "999")})));
  ASSERT_TRUE(WriteOne(s, Create("Observation", "t4", {Token("status", "", "final")})));
  ASSERT_TRUE(WriteOne(s, Create("Patient", "t5", {Token("code", "", "1234-5")})));  // other type
  using Set = std::set<std::string>;
  auto q = [](std::vector<SearchValue> vs, std::string mod = "") {
    return Query("Observation", {Crit("code", ParamType::kToken, std::move(vs), std::move(mod))});
  };
  EXPECT_EQ(IdSet(q({V("1234-5")})), (Set{"t1", "t2"}));
  EXPECT_EQ(IdSet(q({V("1234-5", "")})), (Set{"t2"}));
  EXPECT_EQ(IdSet(q({V("", "http://loinc.org")})), (Set{"t1"}));
  EXPECT_EQ(IdSet(q({V("1234-5", "http://loinc.org")})), (Set{"t1"}));
  EXPECT_EQ(IdSet(q({V("999", "http://loinc.org")})), Set{});
  EXPECT_EQ(IdSet(q({V("999"), V("1234-5", "http://loinc.org")})), (Set{"t1", "t3"}));
  EXPECT_EQ(IdSet(q({V("1234-5")}, "not")), (Set{"t3", "t4"}));
  EXPECT_EQ(IdSet(q({V("true")}, "missing")), (Set{"t4"}));
  EXPECT_EQ(IdSet(q({V("false")}, "missing")), (Set{"t1", "t2", "t3"}));
  // AND of criteria.
  auto both = q({V("1234-5")});
  both.all_of.push_back(Crit("_id", ParamType::kToken, {V("t2"), V("t3")}));
  EXPECT_EQ(IdSet(both), (Set{"t2"}));
  EXPECT_EQ(IdSet(Query("Observation", {Crit("_id", ParamType::kToken, {V("t1")}, "not")})),
            (Set{"t2", "t3", "t4"}));
  EXPECT_EQ(IdSet(Query("Observation")), (Set{"t1", "t2", "t3", "t4"}));
}

TEST_F(SqliteStoreTest, ReferenceStringUriNumberSearch) {
  Store& s = Open();
  using Set = std::set<std::string>;
  ASSERT_TRUE(WriteOne(s, Create("Task", "r1", {Ref("subject", "Patient", "p1")})));
  ASSERT_TRUE(WriteOne(s, Create("Task", "r2", {Ref("subject", "Group", "p1")})));
  ASSERT_TRUE(
      WriteOne(s, Create("Task", "r3", {Ref("subject", "", "http://other/fhir/Patient/p1")})));
  auto ref = [](SearchValue v, std::string mod = "") {
    return Query("Task", {Crit("subject", ParamType::kReference, {std::move(v)}, std::move(mod))});
  };
  EXPECT_EQ(IdSet(ref(V("p1"))), (Set{"r1", "r2"}));
  EXPECT_EQ(IdSet(ref(V("p1", "Patient"))), (Set{"r1"}));
  EXPECT_EQ(IdSet(ref(V("p1"), "Patient")), (Set{"r1"}));
  EXPECT_EQ(IdSet(ref(V("http://other/fhir/Patient/p1"))), (Set{"r3"}));

  ASSERT_TRUE(WriteOne(s, Create("Patient", "s1", {Str("name", "smith")})));
  ASSERT_TRUE(WriteOne(s, Create("Patient", "s2", {Str("name", "smithson"), Str("name", "jo")})));
  ASSERT_TRUE(WriteOne(s, Create("Patient", "s3", {Str("name", "blacksmith")})));
  ASSERT_TRUE(WriteOne(s, Create("Patient", "s4", {Str("name", "50%_off")})));
  ASSERT_TRUE(WriteOne(s, Create("Patient", "s5", {Str("name", "50xyoff")})));
  ASSERT_TRUE(WriteOne(s, Create("Patient", "s6", {Str("name", "smiti\xff")})));
  auto str = [](std::string v, std::string mod = "") {
    return Query("Patient", {Crit("name", ParamType::kString, {V(std::move(v))}, std::move(mod))});
  };
  EXPECT_EQ(IdSet(str("smith")), (Set{"s1", "s2"}));
  EXPECT_EQ(IdSet(str("smit")), (Set{"s1", "s2", "s6"}));
  EXPECT_EQ(IdSet(str("smiti\xff")), (Set{"s6"}));
  EXPECT_EQ(IdSet(str("smith", "exact")), (Set{"s1"}));
  EXPECT_EQ(IdSet(str("smith", "contains")), (Set{"s1", "s2", "s3"}));
  EXPECT_EQ(IdSet(str("%_", "contains")), (Set{"s4"}));
  EXPECT_EQ(IdSet(str("50%")), (Set{"s4"}));
  EXPECT_EQ(IdSet(str("50")), (Set{"s4", "s5"}));
  EXPECT_EQ(IdSet(str("jo")), (Set{"s2"}));
  EXPECT_EQ(IdSet(str("")), (Set{"s1", "s2", "s3", "s4", "s5", "s6"}));

  ASSERT_TRUE(WriteOne(s, Create("Questionnaire", "u1", {Uri("url", "http://x.org/q/prapare")})));
  ASSERT_TRUE(WriteOne(s, Create("Questionnaire", "u2", {Uri("url", "http://x.org/q/prapare/2")})));
  auto uri = [](std::string v, std::string mod = "") {
    return Query("Questionnaire",
                 {Crit("url", ParamType::kUri, {V(std::move(v))}, std::move(mod))});
  };
  EXPECT_EQ(IdSet(uri("http://x.org/q/prapare")), (Set{"u1"}));
  EXPECT_EQ(IdSet(uri("http://x.org/q")), Set{});
  EXPECT_EQ(IdSet(uri("http://x.org/q", "below")), (Set{"u1", "u2"}));

  for (auto [id, v] : std::vector<std::pair<std::string, std::string>>{
           {"n1", "100"}, {"n2", "100.4"}, {"n3", "99.6"}, {"n4", "101"}, {"n5", "5"}}) {
    ASSERT_TRUE(WriteOne(s, Create("RiskAssessment", id, {Num("probability", v)})));
  }
  auto num = [](Prefix p, std::string v) {
    return Query("RiskAssessment",
                 {Crit("probability", ParamType::kNumber, {NumV(p, std::move(v))})});
  };
  EXPECT_EQ(IdSet(num(Prefix::kEq, "100")), (Set{"n1", "n2", "n3"}));  // [99.5, 100.5)
  EXPECT_EQ(IdSet(num(Prefix::kEq, "100.0")), (Set{"n1"}));            // [99.95, 100.05)
  EXPECT_EQ(IdSet(num(Prefix::kNe, "100")), (Set{"n4", "n5"}));
  EXPECT_EQ(IdSet(num(Prefix::kGt, "100")), (Set{"n2", "n4"}));
  EXPECT_EQ(IdSet(num(Prefix::kLt, "100")), (Set{"n3", "n5"}));
  EXPECT_EQ(IdSet(num(Prefix::kGe, "100")), (Set{"n1", "n2", "n4"}));
  EXPECT_EQ(IdSet(num(Prefix::kLe, "100")), (Set{"n1", "n3", "n5"}));
  EXPECT_EQ(IdSet(num(Prefix::kAp, "100")), (Set{"n1", "n2", "n3", "n4"}));
  auto bad = num(Prefix::kEq, "abc");
  EXPECT_EQ(s.Search(bad).error(), E(errc::kUnsupportedQuery));
}

TEST_F(SqliteStoreTest, DatePrefixes) {
  Store& s = Open();
  // Target ranges, half-open.
  ASSERT_TRUE(
      WriteOne(s, Create("Encounter", "A", {Date("date", Ms(2024, 1, 15), Ms(2024, 1, 16))})));
  ASSERT_TRUE(
      WriteOne(s, Create("Encounter", "B", {Date("date", Ms(2024, 1, 1), Ms(2024, 2, 1))})));
  ASSERT_TRUE(
      WriteOne(s, Create("Encounter", "C", {Date("date", Ms(2024, 2, 10), Ms(2024, 2, 11))})));
  ASSERT_TRUE(
      WriteOne(s, Create("Encounter", "D", {Date("date", Ms(2023, 12, 31), Ms(2024, 1, 1))})));
  ASSERT_TRUE(
      WriteOne(s, Create("Encounter", "E", {Date("date", Ms(2024, 1, 10), Ms(2024, 2, 6))})));
  ASSERT_TRUE(WriteOne(s, Create("Encounter", "F", {Token("status", "", "planned")})));  // no date

  struct Case {
    const char* search;
    std::int64_t low, high;
    Prefix prefix;
    std::set<std::string> want;
  };
  const std::int64_t month_lo = Ms(2024, 1, 1), month_hi = Ms(2024, 2, 1);
  const std::int64_t day_lo = Ms(2024, 1, 15), day_hi = Ms(2024, 1, 16);
  const std::int64_t sec_lo = Ms(2024, 1, 15, 10), sec_hi = sec_lo + 1000;
  const std::vector<Case> cases = {
      {"2024-01", month_lo, month_hi, Prefix::kEq, {"A", "B"}},
      {"2024-01", month_lo, month_hi, Prefix::kNe, {"C", "D", "E"}},
      {"2024-01", month_lo, month_hi, Prefix::kGt, {"C", "E"}},
      {"2024-01", month_lo, month_hi, Prefix::kLt, {"D"}},
      {"2024-01", month_lo, month_hi, Prefix::kGe, {"A", "B", "C", "E"}},
      {"2024-01", month_lo, month_hi, Prefix::kLe, {"A", "B", "D"}},
      {"2024-01", month_lo, month_hi, Prefix::kSa, {"C"}},
      {"2024-01", month_lo, month_hi, Prefix::kEb, {"D"}},
      {"2024-01", month_lo, month_hi, Prefix::kAp, {"A", "B", "C", "D", "E"}},
      {"2024-01-15", day_lo, day_hi, Prefix::kEq, {"A"}},
      {"2024-01-15", day_lo, day_hi, Prefix::kNe, {"B", "C", "D", "E"}},
      {"2024-01-15", day_lo, day_hi, Prefix::kGt, {"B", "C", "E"}},
      {"2024-01-15", day_lo, day_hi, Prefix::kLt, {"B", "D", "E"}},
      {"2024-01-15", day_lo, day_hi, Prefix::kGe, {"A", "B", "C", "E"}},
      {"2024-01-15", day_lo, day_hi, Prefix::kLe, {"A", "B", "D", "E"}},
      {"2024-01-15", day_lo, day_hi, Prefix::kSa, {"C"}},
      {"2024-01-15", day_lo, day_hi, Prefix::kEb, {"D"}},
      {"2024-01-15T10:00:00Z", sec_lo, sec_hi, Prefix::kEq, {}},
      {"2024-01-15T10:00:00Z", sec_lo, sec_hi, Prefix::kNe, {"A", "B", "C", "D", "E"}},
      {"2024-01-15T10:00:00Z", sec_lo, sec_hi, Prefix::kGt, {"A", "B", "C", "E"}},
      {"2024-01-15T10:00:00Z", sec_lo, sec_hi, Prefix::kLt, {"A", "B", "D", "E"}},
      {"2024-01-15T10:00:00Z", sec_lo, sec_hi, Prefix::kGe, {"A", "B", "C", "E"}},
      {"2024-01-15T10:00:00Z", sec_lo, sec_hi, Prefix::kLe, {"A", "B", "D", "E"}},
      {"2024-01-15T10:00:00Z", sec_lo, sec_hi, Prefix::kSa, {"C"}},
      {"2024-01-15T10:00:00Z", sec_lo, sec_hi, Prefix::kEb, {"D"}},
      {"2024", Ms(2024, 1, 1), Ms(2025, 1, 1), Prefix::kEq, {"A", "B", "C", "E"}},
      {"2023", Ms(2023, 1, 1), Ms(2024, 1, 1), Prefix::kEq, {"D"}},
  };
  const char* names[] = {"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"};
  for (const Case& c : cases) {
    auto q = Query("Encounter", {Crit("date", ParamType::kDate, {DateV(c.prefix, c.low, c.high)})});
    EXPECT_EQ(IdSet(q), c.want) << names[static_cast<int>(c.prefix)] << c.search;
  }
  // Alternatives are ORed; criteria ANDed (a range).
  auto range =
      Query("Encounter",
            {Crit("date", ParamType::kDate, {DateV(Prefix::kGe, day_lo, day_hi)}),
             Crit("date", ParamType::kDate, {DateV(Prefix::kLt, Ms(2024, 2, 1), Ms(2024, 2, 2))})});
  EXPECT_EQ(IdSet(range), (std::set<std::string>{"A", "B", "E"}));
  auto either =
      Query("Encounter",
            {Crit("date", ParamType::kDate,
                  {DateV(Prefix::kEq, day_lo, day_hi), DateV(Prefix::kEb, month_lo, month_hi)})});
  EXPECT_EQ(IdSet(either), (std::set<std::string>{"A", "D"}));
  auto missing = Query("Encounter", {Crit("date", ParamType::kDate, {V("true")}, "missing")});
  EXPECT_EQ(IdSet(missing), (std::set<std::string>{"F"}));
}

TEST_F(SqliteStoreTest, LastUpdatedSearch) {
  Store& s = Open();
  std::vector<std::int64_t> ms;
  for (const char* id : {"r1", "r2", "r3"}) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a millisecond of its own
    auto r = WriteOne(s, Create("Patient", id));
    ASSERT_TRUE(r.has_value());
    ms.push_back(ParseInstant(r->stamp.last_updated));
  }
  using Set = std::set<std::string>;
  auto lu = [&](Prefix p, std::int64_t low, std::int64_t high) {
    return IdSet(Query("Patient", {Crit("_lastUpdated", ParamType::kDate, {DateV(p, low, high)})}));
  };
  const std::int64_t m = ms[1];
  EXPECT_EQ(lu(Prefix::kEq, m, m + 1), (Set{"r2"}));
  EXPECT_EQ(lu(Prefix::kNe, m, m + 1), (Set{"r1", "r3"}));
  EXPECT_EQ(lu(Prefix::kGt, m, m + 1), (Set{"r3"}));
  EXPECT_EQ(lu(Prefix::kGe, m, m + 1), (Set{"r2", "r3"}));
  EXPECT_EQ(lu(Prefix::kLt, m, m + 1), (Set{"r1"}));
  EXPECT_EQ(lu(Prefix::kLe, m, m + 1), (Set{"r1", "r2"}));
  EXPECT_EQ(lu(Prefix::kSa, m, m + 1), (Set{"r3"}));
  EXPECT_EQ(lu(Prefix::kEb, m, m + 1), (Set{"r1"}));
  EXPECT_EQ(lu(Prefix::kEq, ms[0], ms[2] + 1), (Set{"r1", "r2", "r3"}));
  EXPECT_EQ(lu(Prefix::kGe, Ms(2000, 1, 1), Ms(2000, 1, 2)), (Set{"r1", "r2", "r3"}));
}

TEST_F(SqliteStoreTest, SortAndPaging) {
  Store& s = Open();
  struct P {
    const char* id;
    const char* name;
    int year;
  };
  // Written in this order, each in a millisecond of its own (writes that share one sort by id), so
  // default order (newest first) is e, d, c, b, a.
  for (const P& p : {P{"a", "delta", 1990}, P{"b", "alpha", 1985}, P{"c", "charlie", 2001},
                     P{"d", "bravo", 1970}, P{"e", "echo", 0}}) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::vector<IndexEntry> idx = {Str("name", p.name), Token("active", "", "true")};
    if (p.year) {
      idx.push_back(Date("birthdate", Ms(p.year, 1, 1), Ms(p.year + 1, 1, 1)));
    }
    ASSERT_TRUE(WriteOne(s, Create("Patient", p.id, idx)));
  }
  auto sorted = [&](std::vector<fhir::SortKey> keys) {
    SearchQuery q = Query("Patient");
    q.sort = std::move(keys);
    return Ids(q);
  };
  using Vec = std::vector<std::string>;
  EXPECT_EQ(sorted({}), (Vec{"e", "d", "c", "b", "a"}));
  EXPECT_EQ(sorted({{"_id", ParamType::kToken, false}}), (Vec{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(sorted({{"_id", ParamType::kToken, true}}), (Vec{"e", "d", "c", "b", "a"}));
  EXPECT_EQ(sorted({{"_lastUpdated", ParamType::kDate, false}}), (Vec{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(sorted({{"name", ParamType::kString, false}}), (Vec{"b", "d", "c", "a", "e"}));
  EXPECT_EQ(sorted({{"name", ParamType::kString, true}}), (Vec{"e", "a", "c", "d", "b"}));
  // Resources without the element come last in both directions.
  EXPECT_EQ(sorted({{"birthdate", ParamType::kDate, false}}), (Vec{"d", "b", "a", "c", "e"}));
  EXPECT_EQ(sorted({{"birthdate", ParamType::kDate, true}}), (Vec{"c", "a", "b", "d", "e"}));
  // Ties broken by the next key, then by id.
  EXPECT_EQ(sorted({{"active", ParamType::kToken, false}}), (Vec{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(sorted({{"active", ParamType::kToken, false}, {"name", ParamType::kString, true}}),
            (Vec{"e", "a", "c", "d", "b"}));

  SearchQuery q = Query("Patient");
  q.sort = {{"_id", ParamType::kToken, false}};
  q.count = 2;
  q.offset = 2;
  auto page = s.Search(q);
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->total, 5);
  ASSERT_EQ(page->entries.size(), 2u);
  EXPECT_EQ(page->entries[0].id, "c");
  EXPECT_EQ(page->entries[1].id, "d");
  EXPECT_EQ(page->entries[0].type, "Patient");
  EXPECT_EQ(page->entries[0].version, 1);
  EXPECT_FALSE(page->entries[0].json.empty());
  q.offset = 4;
  EXPECT_EQ(s.Search(q)->entries.size(), 1u);
  q.offset = 10;
  EXPECT_EQ(s.Search(q)->entries.size(), 0u);
  EXPECT_EQ(s.Search(q)->total, 5);
  q.offset = 0;
  q.count = 0;
  EXPECT_EQ(s.Search(q)->entries.size(), 0u);
  q.count = 20;
  q.total_only = true;
  page = s.Search(q);
  EXPECT_EQ(page->total, 5);
  EXPECT_TRUE(page->entries.empty());
}

TEST_F(SqliteStoreTest, UnsupportedQueries) {
  Store& s = Open();
  auto unsupported = [&](SearchQuery q) {
    auto r = s.Search(q);
    return !r.has_value() && r.error() == E(errc::kUnsupportedQuery);
  };
  SearchValue gt = V("x");
  gt.prefix = Prefix::kGt;
  EXPECT_TRUE(unsupported(Query("Patient", {Crit("gender", ParamType::kToken, {gt})})));
  EXPECT_TRUE(unsupported(Query("Patient", {Crit("gender", ParamType::kToken, {V("x")}, "text")})));
  EXPECT_TRUE(unsupported(Query("Patient", {Crit("name", ParamType::kString, {V("x")}, "not")})));
  EXPECT_TRUE(
      unsupported(Query("Patient", {Crit("birthdate", ParamType::kDate, {V("x")}, "exact")})));
  EXPECT_TRUE(unsupported(Query("Patient", {Crit("gender", ParamType::kToken, {})})));
  EXPECT_TRUE(
      unsupported(Query("Patient", {Crit("gender", ParamType::kToken, {V("maybe")}, "missing")})));
  EXPECT_TRUE(unsupported(Query("")));
  SearchQuery neg = Query("Patient");
  neg.offset = -1;
  EXPECT_TRUE(unsupported(neg));
  // Hostile text is bound, never spliced into SQL.
  EXPECT_TRUE(Ids(Query("Patient', 'x'); DROP TABLE resources_current; --")).empty());
  EXPECT_TRUE(Ids(Query("Patient", {Crit("x') OR 1=1 --", ParamType::kToken, {V("' OR '1'='1")})}))
                  .empty());
  EXPECT_TRUE(WriteOne(s, Create("Patient", "still-fine")).has_value());

  HistoryQuery h;
  h.id = "x";  // instance history without a type
  EXPECT_EQ(s.History(h).error(), E(errc::kUnsupportedQuery));
}

// ---- history -----------------------------------------------------------------------------------

TEST_F(SqliteStoreTest, History) {
  Store& s = Open();
  // Each in a millisecond of its own, so that _since can fall between them.
  auto write = [&](WriteOp op) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return WriteOne(s, std::move(op));
  };
  ASSERT_TRUE(write(Create("Patient", "A")));  // A1
  auto a2 = write(Update("Patient", "A", 1));  // A2
  ASSERT_TRUE(a2);
  ASSERT_TRUE(write(Create("Patient", "B")));      // B1
  ASSERT_TRUE(write(Create("Observation", "O")));  // O1
  ASSERT_TRUE(write(Delete("Patient", "A")));      // A3 (delete)

  auto keys = [](const SearchPage& p) {
    std::vector<std::string> out;
    for (const auto& e : p.entries) {
      out.push_back(e.type.substr(0, 1) + e.id + std::to_string(e.version));
    }
    return out;
  };
  using Vec = std::vector<std::string>;
  HistoryQuery inst;
  inst.type = "Patient";
  inst.id = "A";
  auto h = s.History(inst);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->total, 3);
  EXPECT_EQ(keys(*h), (Vec{"PA3", "PA2", "PA1"}));
  EXPECT_TRUE(h->entries[0].deleted);
  EXPECT_TRUE(h->entries[0].json.empty());
  EXPECT_FALSE(h->entries[1].deleted);
  EXPECT_EQ(h->entries[1].json, a2->json);
  EXPECT_EQ(h->entries[1].last_updated, a2->stamp.last_updated);

  HistoryQuery type;
  type.type = "Patient";
  EXPECT_EQ(keys(*s.History(type)), (Vec{"PA3", "PB1", "PA2", "PA1"}));
  HistoryQuery system;
  EXPECT_EQ(keys(*s.History(system)), (Vec{"PA3", "OO1", "PB1", "PA2", "PA1"}));
  system.since_ms = ParseInstant(a2->stamp.last_updated);
  EXPECT_EQ(keys(*s.History(system)), (Vec{"PA3", "OO1", "PB1", "PA2"}));
  EXPECT_EQ(s.History(system)->total, 4);
  system.count = 2;
  system.offset = 1;
  auto paged = s.History(system);
  EXPECT_EQ(keys(*paged), (Vec{"OO1", "PB1"}));
  EXPECT_EQ(paged->total, 4);
  system.since_ms = ParseInstant(a2->stamp.last_updated) + 1000000;
  EXPECT_EQ(s.History(system)->total, 0);

  HistoryQuery none;
  none.type = "Patient";
  none.id = "nobody";
  EXPECT_EQ(s.History(none).error(), E(errc::kNotFound));
  inst.since_ms = system.since_ms;  // exists, but nothing since: an empty page
  EXPECT_EQ(s.History(inst)->total, 0);
}

// ---- information only --------------------------------------------------------------------------

TEST_F(SqliteStoreTest, ThroughputInformationOnly) {
  Store& s = Open();
  constexpr int kSubmitters = 16;
  constexpr int kPerSubmitter = 150;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kSubmitters; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerSubmitter; ++i) {
        auto r =
            WriteOne(s, Create("Observation", "o" + std::to_string(t) + "-" + std::to_string(i),
                               {Token("code", "http://loinc.org", "1234-5"),
                                Ref("subject", "Patient", "p" + std::to_string(i))}));
        if (!r) {
          failures.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(failures.load(), 0);
  std::printf("[ info ] %d single-op batches from %d waiting submitters in %.2fs: %.0f/s\n",
              kSubmitters * kPerSubmitter, kSubmitters, secs, kSubmitters * kPerSubmitter / secs);
}

}  // namespace
}  // namespace carebridge::store
