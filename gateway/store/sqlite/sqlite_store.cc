// SQLite backend of the storage contract (gateway/store/store.h).
//
// Layout: one writer connection owned by one writer thread, which group-commits whatever batches
// are queued (BEGIN IMMEDIATE ... one SAVEPOINT per batch ... COMMIT) and only then runs their
// callbacks; with journal_mode=WAL and synchronous=FULL the COMMIT returns after the WAL is
// fsynced, so a callback never reports a write that a power loss could take back. Readers use a
// pool of connections; WAL lets them read the last committed snapshot beside the writer.
//
// Error conventions for batches (placeholders, sticky I/O failure) are documented in
// gateway/store/store.cc.

#include "gateway/store/sqlite/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <variant>

#include "fhir/json/json.h"
#include "gateway/store/sqlite/audit_log.h"
#include "gateway/store/sqlite/audit_terms.h"
#include "gateway/store/sqlite/schema.h"
#include "gateway/store/sqlite/search_sql.h"

namespace carebridge::store {
namespace {

using sqlite_internal::kAuditEventType;
using sqlite_internal::SqlText;
using sqlite_internal::SqlValue;

constexpr int kBusyTimeoutMs = 5000;

std::error_code Err(errc e) { return make_error_code(e); }

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Failures that leave the database or our knowledge of it in doubt: the group fails and, as after a
// failed sync in LevelDB, every later write fails too. Anything else (a constraint, a value too
// big) is the fault of one op and only fails that op.
bool IsFatal(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
      return false;
    default:
      return true;
  }
}

// ---------------------------------------------------------------------------------------------
// Statements and connections.

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

// One use of a (usually cached) statement: binds, steps, and on scope exit resets it and clears
// its bindings, so a cached statement never pins a read snapshot or holds bound pointers to
// strings that are gone.
class StmtUse {
 public:
  explicit StmtUse(sqlite3_stmt* s) : s_(s) {}
  ~StmtUse() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  StmtUse(const StmtUse&) = delete;
  StmtUse& operator=(const StmtUse&) = delete;

  sqlite3_stmt* get() const { return s_; }

  // Bindings reference the caller's memory (SQLITE_STATIC): it must outlive the use.
  int Bind(int i, std::string_view v) {
    // A null data pointer would bind SQL NULL; an empty string must stay a string.
    return sqlite3_bind_text64(s_, i, v.empty() ? "" : v.data(), v.size(), SQLITE_STATIC,
                               SQLITE_UTF8);
  }
  int Bind(int i, std::int64_t v) { return sqlite3_bind_int64(s_, i, v); }
  int Bind(int i, double v) { return sqlite3_bind_double(s_, i, v); }
  int BindBlob(int i, std::string_view v) {
    return sqlite3_bind_blob64(s_, i, v.empty() ? "" : v.data(), v.size(), SQLITE_STATIC);
  }
  int BindNull(int i) { return sqlite3_bind_null(s_, i); }
  int Bind(int i, const SqlValue& v) {
    return std::visit(
        [&](const auto& x) -> int {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::string>) {
            return Bind(i, std::string_view(x));
          } else {
            return Bind(i, x);
          }
        },
        v);
  }

  int Step() { return sqlite3_step(s_); }

  std::int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  std::string Text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, col)))
             : std::string();
  }
  // NULL is nullopt.
  std::optional<std::string> OptionalText(int col) const {
    if (sqlite3_column_type(s_, col) == SQLITE_NULL) {
      return std::nullopt;
    }
    return Text(col);
  }
  std::string Blob(int col) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(s_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, col)))
             : std::string();
  }

 private:
  sqlite3_stmt* s_;
};

// Fixed statements, prepared once per connection (SQLITE_PREPARE_PERSISTENT) on first use.
enum class Sql {
  kBeginRead,
  kCommit,
  kRollback,
  kBeginImmediate,
  kSavepointBatch,
  kReleaseBatch,
  kRollbackBatch,
  kSavepointOp,
  kReleaseOp,
  kRollbackOp,
  kReadCurrent,
  kReadAuditEvent,
  kCurrentVersion,
  kReadVersion,
  kReadAuditEventVersion,
  kInsertVersion,
  kUpsertCurrent,
  kDeleteIndex,
  kInsertIndex,
  kInsertAuditIndex,
  kInsertAuditTerms,
  kAuditTermsKey,
  kExists,
  kMaxLastUpdated,
  kInsertChain,
  kInsertCheckpoint,
  kLastChain,
  kLastCheckpoint,
  kAuditIndexedSeq,
  kSetAuditIndexedSeq,
  kUnindexedAudit,
  kOutboxInsert,
  kOutboxExpiredLeases,
  kOutboxAbandonAttempt,
  kOutboxReleaseLease,
  kOutboxDue,
  kOutboxLease,
  kOutboxBySeq,
  kOutboxLeaseById,
  kOutboxInsertAttempt,
  kOutboxSetState,
  kOutboxStateById,
  kOutboxRedrive,
  kOutboxExpedite,
  kOutboxById,
  kOutboxDeadOrStopped,
  kOutboxByResource,
  kOutboxExists,
  kOutboxAttempts,
  kCount,  // number of statements
};

// The outbox columns DeliveryFromRow reads, in its order.
constexpr const char* kDeliveryColumns =
    "seq, id, destination, resource_type, resource_id, patient_id, payload, state, attempts, "
    "retries, next_attempt_ms, created_ms, updated_ms, last_http_status, last_error";

std::string SqlText_(Sql which) {
  switch (which) {
    case Sql::kBeginRead:
      return "BEGIN";
    case Sql::kCommit:
      return "COMMIT";
    case Sql::kRollback:
      return "ROLLBACK";
    case Sql::kBeginImmediate:
      return "BEGIN IMMEDIATE";
    case Sql::kSavepointBatch:
      return "SAVEPOINT batch";
    case Sql::kReleaseBatch:
      return "RELEASE batch";
    case Sql::kRollbackBatch:
      return "ROLLBACK TO batch";
    case Sql::kSavepointOp:
      return "SAVEPOINT op";
    case Sql::kReleaseOp:
      return "RELEASE op";
    case Sql::kRollbackOp:
      return "ROLLBACK TO op";
    case Sql::kReadCurrent:
      return "SELECT c.version, c.deleted, v.last_updated, v.json, v.patient_id, v.meta_source, "
             "v.consent_facts "
             "FROM resources_current c "
             "JOIN resource_versions v ON v.type = c.type AND v.id = c.id AND v.version = "
             "c.version WHERE c.type = ?1 AND c.id = ?2";
    case Sql::kReadAuditEvent:  // kReadCurrent's columns and parameters, for an AuditEvent
      return "SELECT v.version, v.deleted, v.last_updated, v.json, v.patient_id, v.meta_source, "
             "v.consent_facts FROM " +
             std::string(sqlite_internal::kAuditEventVersions) +
             " v WHERE v.type = ?1 AND v.id = ?2";
    case Sql::kCurrentVersion:
      return "SELECT version, deleted FROM resources_current WHERE type = ?1 AND id = ?2";
    case Sql::kReadVersion:
      return "SELECT last_updated, deleted, json, patient_id, meta_source, consent_facts "
             "FROM resource_versions "
             "WHERE type = ?1 AND id = ?2 AND version = ?3";
    case Sql::kReadAuditEventVersion:  // kReadVersion's, for an AuditEvent
      return "SELECT last_updated, deleted, json, patient_id, meta_source, consent_facts FROM " +
             std::string(sqlite_internal::kAuditEventVersions) +
             " WHERE type = ?1 AND id = ?2 AND version = ?3";
    case Sql::kInsertVersion:
      return "INSERT INTO resource_versions (type, id, version, last_updated_ms, last_updated, "
             "deleted, json, patient_id, meta_source, consent_facts) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
    case Sql::kUpsertCurrent:
      return "INSERT INTO resources_current (type, id, version, last_updated_ms, deleted) "
             "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (type, id) DO UPDATE SET "
             "version = excluded.version, last_updated_ms = excluded.last_updated_ms, "
             "deleted = excluded.deleted";
    case Sql::kDeleteIndex:
      return "DELETE FROM search_index WHERE type = ?1 AND id = ?2";
    case Sql::kInsertIndex:
      return "INSERT INTO search_index (type, id, param, system, value, low, high) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    case Sql::kInsertAuditIndex:
      return "INSERT OR IGNORE INTO audit_search (id, param, system, value, low, high) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    case Sql::kInsertAuditTerms:
      return "INSERT INTO audit_terms (rowid, terms) VALUES (?1, ?2)";
    case Sql::kAuditTermsKey:
      return "SELECT key FROM audit_terms_key WHERE id = 1";
    case Sql::kExists:
      return "SELECT 1 FROM resource_versions WHERE type = ?1 AND id = ?2 LIMIT 1";
    case Sql::kMaxLastUpdated:
      return "SELECT MAX((SELECT COALESCE(MAX(last_updated_ms), 0) FROM resource_versions), "
             "(SELECT COALESCE(MAX(last_updated_ms), 0) FROM audit_chain))";
    case Sql::kInsertChain:
      return "INSERT INTO audit_chain (seq, id, prev_hash, hash, canonical, last_updated_ms, "
             "last_updated, recorded_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    case Sql::kInsertCheckpoint:
      return "INSERT INTO audit_checkpoints (seq, hash, signature, key_id, created) "
             "VALUES (?1, ?2, ?3, ?4, ?5)";
    case Sql::kLastChain:
      return "SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1";
    case Sql::kLastCheckpoint:
      return "SELECT COALESCE(MAX(seq), 0) FROM audit_checkpoints";
    case Sql::kAuditIndexedSeq:
      return "SELECT indexed_seq FROM audit_index_state WHERE id = 1";
    case Sql::kSetAuditIndexedSeq:
      return "UPDATE audit_index_state SET indexed_seq = ?1 WHERE id = 1";
    case Sql::kUnindexedAudit:
      return "SELECT seq, id, canonical, recorded_ms IS NOT NULL FROM audit_chain WHERE seq > ?1 "
             "ORDER BY seq";
    case Sql::kOutboxInsert:
      return "INSERT INTO outbox (id, destination, resource_type, resource_id, patient_id, "
             "payload, state, attempts, retries, next_attempt_ms, lease_until_ms, created_ms, "
             "updated_ms, last_http_status, last_error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0, 0, "
             "?7, 0, ?8, ?8, 0, '')";
    case Sql::kOutboxExpiredLeases:
      return "SELECT seq, attempts FROM outbox WHERE state = 0 AND lease_until_ms > 0 AND "
             "lease_until_ms <= ?1";
    case Sql::kOutboxAbandonAttempt:
      return "INSERT OR IGNORE INTO outbox_attempts (seq, attempt, started_ms, finished_ms, "
             "outcome, http_status, error, next_attempt_ms) SELECT seq, attempts, updated_ms, ?2, "
             "'abandoned', 0, 'the lease expired before the attempt was recorded', ?2 FROM outbox "
             "WHERE seq = ?1";
    case Sql::kOutboxReleaseLease:
      return "UPDATE outbox SET lease_until_ms = 0, updated_ms = ?2 WHERE seq = ?1";
    case Sql::kOutboxDue:
      return "WITH busy AS (SELECT destination, COUNT(*) AS n FROM outbox WHERE state = 0 AND "
             "lease_until_ms > ?1 GROUP BY destination), due AS (SELECT o.seq, o.destination, "
             "o.next_attempt_ms, ROW_NUMBER() OVER (PARTITION BY o.destination ORDER BY "
             "o.next_attempt_ms, o.seq) AS rn FROM outbox o WHERE o.state = 0 AND "
             "o.next_attempt_ms <= ?1 AND o.lease_until_ms = 0 AND NOT EXISTS (SELECT 1 FROM "
             "outbox e WHERE e.destination = o.destination AND e.resource_type = o.resource_type "
             "AND e.resource_id = o.resource_id AND e.state = 0 AND e.seq < o.seq)) SELECT due.seq "
             "FROM due LEFT JOIN busy ON busy.destination = due.destination LEFT JOIN "
             "json_each(?4) lim ON lim.key = due.destination WHERE due.rn + COALESCE(busy.n, 0) <= "
             "COALESCE(lim.value, ?2) ORDER BY due.next_attempt_ms, due.seq LIMIT ?3";
    case Sql::kOutboxLease:
      return "UPDATE outbox SET attempts = attempts + 1, retries = retries + 1, lease_until_ms = "
             "?2, updated_ms = ?3 WHERE seq = ?1";
    case Sql::kOutboxBySeq:
      return std::string("SELECT ") + kDeliveryColumns + " FROM outbox WHERE seq = ?1";
    case Sql::kOutboxLeaseById:
      return "SELECT seq, state, attempts, lease_until_ms FROM outbox WHERE id = ?1";
    case Sql::kOutboxInsertAttempt:
      return "INSERT INTO outbox_attempts (seq, attempt, started_ms, finished_ms, outcome, "
             "http_status, error, next_attempt_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    case Sql::kOutboxSetState:
      return "UPDATE outbox SET state = ?2, next_attempt_ms = CASE WHEN ?2 = 0 THEN ?3 ELSE "
             "next_attempt_ms END, lease_until_ms = 0, updated_ms = ?4, last_http_status = ?5, "
             "last_error = ?6 WHERE seq = ?1";
    case Sql::kOutboxStateById:
      return "SELECT seq, state FROM outbox WHERE id = ?1";
    case Sql::kOutboxRedrive:
      return "UPDATE outbox SET state = 0, retries = 0, next_attempt_ms = ?2, lease_until_ms = 0, "
             "updated_ms = ?2 WHERE seq = ?1";
    case Sql::kOutboxExpedite:
      return "UPDATE outbox SET next_attempt_ms = ?2, updated_ms = ?2 WHERE destination = ?1 AND "
             "state = 0 AND next_attempt_ms > ?2 AND lease_until_ms = 0";
    case Sql::kOutboxById:
      return std::string("SELECT ") + kDeliveryColumns + " FROM outbox WHERE id = ?1";
    case Sql::kOutboxDeadOrStopped:
      return std::string("SELECT ") + kDeliveryColumns +
             " FROM outbox WHERE state IN (2, 3) ORDER BY seq LIMIT ?1 OFFSET ?2";
    case Sql::kOutboxByResource:
      return std::string("SELECT ") + kDeliveryColumns +
             " FROM outbox WHERE destination = ?1 AND resource_type = ?2 AND resource_id = ?3 "
             "ORDER BY seq";
    case Sql::kOutboxExists:
      return "SELECT 1 FROM outbox WHERE id = ?1";
    case Sql::kOutboxAttempts:
      return "SELECT a.attempt, a.started_ms, a.finished_ms, a.outcome, a.http_status, a.error, "
             "a.next_attempt_ms FROM outbox o JOIN outbox_attempts a ON a.seq = o.seq WHERE o.id = "
             "?1 ORDER BY a.attempt";
    case Sql::kCount:
      break;
  }
  return "";
}

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};

// One SQLite connection and its statement caches. Used by one thread at a time (the writer, or
// the reader that leased it), so it needs no locking of its own.
class Connection {
 public:
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, bool writer) {
    sqlite3* raw = nullptr;
    const int flags =
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
    std::unique_ptr<sqlite3, DbCloser> db(raw);
    if (rc != SQLITE_OK) {
      return Err(errc::kIo);
    }
    sqlite3_extended_result_codes(db.get(), 1);
    return std::unique_ptr<Connection>(new Connection(std::move(db)));
  }

  sqlite3* db() const { return db_.get(); }

  // The cached statement, or nullptr when it fails to prepare (see failed_rc()).
  sqlite3_stmt* Get(Sql which) {
    StmtPtr& slot = fixed_[static_cast<int>(which)];
    if (!slot) {
      slot = Prepare(SqlText_(which).c_str(), SQLITE_PREPARE_PERSISTENT);
    }
    return slot.get();
  }

  // Statements built from a query's shape; values are bound, so the shape repeats and the cache
  // hits. Bounded: when full it starts over.
  sqlite3_stmt* GetDynamic(const std::string& sql) {
    auto it = dynamic_.find(sql);
    if (it != dynamic_.end()) {
      return it->second.get();
    }
    if (dynamic_.size() >= kMaxDynamic) {
      dynamic_.clear();
    }
    StmtPtr s = Prepare(sql.c_str(), SQLITE_PREPARE_PERSISTENT);
    if (!s) {
      return nullptr;
    }
    return dynamic_.emplace(sql, std::move(s)).first->second.get();
  }

  // Runs a fixed statement that returns no rows. Returns the SQLite result code.
  int Run(Sql which) {
    sqlite3_stmt* s = Get(which);
    if (!s) {
      return failed_rc_;
    }
    StmtUse use(s);
    const int rc = use.Step();
    return Record(rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc);
  }

  int Exec(const char* sql) {
    const int rc = sqlite3_exec(db(), sql, nullptr, nullptr, nullptr);
    return Record(rc);
  }

  // Remembers a failing result code (the writer decides from it whether the failure is fatal) and
  // returns it.
  int Record(int rc) {
    if (rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) {
      failed_rc_ = rc;
    }
    return rc;
  }
  // The kIo error for a failed call, remembering its code.
  std::error_code Fail(int rc) {
    Record(rc);
    return Err(errc::kIo);
  }
  int failed_rc() const { return failed_rc_; }
  void clear_failed_rc() { failed_rc_ = SQLITE_OK; }

 private:
  static constexpr std::size_t kMaxDynamic = 128;

  explicit Connection(std::unique_ptr<sqlite3, DbCloser> db) : db_(std::move(db)) {}

  StmtPtr Prepare(const char* sql, unsigned flags) {
    sqlite3_stmt* s = nullptr;
    const int rc = sqlite3_prepare_v3(db(), sql, -1, flags, &s, nullptr);
    if (rc != SQLITE_OK) {
      Record(rc);
      sqlite3_finalize(s);
      return nullptr;
    }
    return StmtPtr(s);
  }

  // Declared first so it is destroyed last: statements must be finalized before the close
  // (sqlite3_close_v2 would defer it anyway, but this keeps the order obvious).
  std::unique_ptr<sqlite3, DbCloser> db_;
  StmtPtr fixed_[static_cast<int>(Sql::kCount)];
  std::unordered_map<std::string, StmtPtr> dynamic_;
  int failed_rc_ = SQLITE_OK;
};

// Ends a read transaction (BEGIN ... COMMIT) when it goes out of scope, so a pooled connection
// never keeps an old snapshot (which would also stop WAL checkpoints from completing).
class ReadTxn {
 public:
  explicit ReadTxn(Connection& c) : c_(c) { ok_ = c_.Run(Sql::kBeginRead) == SQLITE_OK; }
  ~ReadTxn() {
    if (ok_) {
      c_.Run(Sql::kCommit);
    }
  }
  ReadTxn(const ReadTxn&) = delete;
  ReadTxn& operator=(const ReadTxn&) = delete;
  bool ok() const { return ok_; }

 private:
  Connection& c_;
  bool ok_ = false;
};

// Pooled read connections: one is leased for the duration of one call; callers block while all
// are leased.
class ReadPool {
 public:
  class Lease {
   public:
    Lease(ReadPool& pool, Connection* c) : pool_(pool), c_(c) {}
    ~Lease() { pool_.Return(c_); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Connection& operator*() const { return *c_; }
    Connection* operator->() const { return c_; }

   private:
    ReadPool& pool_;
    Connection* c_;
  };

  void Add(std::unique_ptr<Connection> c) {
    std::lock_guard lock(mu_);
    free_.push_back(c.get());
    all_.push_back(std::move(c));
  }

  Lease Acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !free_.empty(); });
    Connection* c = free_.back();
    free_.pop_back();
    return Lease(*this, c);
  }

 private:
  void Return(Connection* c) {
    {
      std::lock_guard lock(mu_);
      free_.push_back(c);
    }
    cv_.notify_one();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Connection*> free_;                 // GUARDED_BY(mu_)
  std::vector<std::unique_ptr<Connection>> all_;  // GUARDED_BY(mu_)
};

// ---------------------------------------------------------------------------------------------
// Queries shared by readers and the writer.

int BindAll(StmtUse& use, const std::vector<SqlValue>& binds, int first = 1) {
  for (std::size_t i = 0; i < binds.size(); ++i) {
    const int rc = use.Bind(first + static_cast<int>(i), binds[i]);
    if (rc != SQLITE_OK) {
      return rc;
    }
  }
  return SQLITE_OK;
}

Result<std::int64_t> RunCount(Connection& c, const SqlText& q) {
  sqlite3_stmt* s = c.GetDynamic(q.sql);
  if (!s) {
    return c.Fail(c.failed_rc());
  }
  StmtUse use(s);
  if (int rc = BindAll(use, q.binds); rc != SQLITE_OK) {
    return c.Fail(rc);
  }
  const int rc = use.Step();
  if (rc != SQLITE_ROW) {
    return c.Fail(rc);
  }
  return use.Int(0);
}

// Reads one version row; kNotFound when missing, kGone when it is a delete (unless
// `allow_deleted`).
Result<ResourceVersion> ReadVersionOn(Connection& c, std::string_view type, std::string_view id,
                                      std::int64_t version, bool allow_deleted) {
  sqlite3_stmt* s =
      c.Get(type == kAuditEventType ? Sql::kReadAuditEventVersion : Sql::kReadVersion);
  if (!s) {
    return c.Fail(c.failed_rc());
  }
  StmtUse use(s);
  use.Bind(1, type);
  use.Bind(2, id);
  use.Bind(3, version);
  const int rc = use.Step();
  if (rc == SQLITE_DONE) {
    return Err(errc::kNotFound);
  }
  if (rc != SQLITE_ROW) {
    return c.Fail(rc);
  }
  ResourceVersion out;
  out.deleted = use.Int(1) != 0;
  if (out.deleted && !allow_deleted) {
    return Err(errc::kGone);
  }
  out.type = std::string(type);
  out.id = std::string(id);
  out.version = version;
  out.last_updated = use.Text(0);
  out.json = use.Text(2);
  out.patient_id = use.OptionalText(3);
  out.meta_source = use.OptionalText(4);
  out.consent_facts = use.OptionalText(5);
  return out;
}

// Runs a search page: ids in order, then each resource's stored version. REQUIRES: inside a
// transaction, so the page and the versions come from one snapshot.
Result<std::vector<ResourceVersion>> RunSearchPage(Connection& c, const std::string& type,
                                                   const SqlText& q, std::int64_t limit,
                                                   std::int64_t offset) {
  std::vector<std::pair<std::string, std::int64_t>> ids;
  {
    sqlite3_stmt* s = c.GetDynamic(q.sql);
    if (!s) {
      return c.Fail(c.failed_rc());
    }
    StmtUse use(s);
    if (int rc = BindAll(use, q.binds); rc != SQLITE_OK) {
      return c.Fail(rc);
    }
    const int n = static_cast<int>(q.binds.size());
    use.Bind(n + 1, limit);
    use.Bind(n + 2, offset);
    int rc;
    while ((rc = use.Step()) == SQLITE_ROW) {
      ids.emplace_back(use.Text(0), use.Int(1));
    }
    if (rc != SQLITE_DONE) {
      return c.Fail(rc);
    }
  }
  // Fetching the JSON after paging keeps large documents out of the sorter.
  std::vector<ResourceVersion> out;
  out.reserve(ids.size());
  for (const auto& [id, version] : ids) {
    auto v = ReadVersionOn(c, type, id, version, /*allow_deleted=*/false);
    if (!v) {
      return v.error();
    }
    out.push_back(std::move(*v));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The store.

// The AuditEvent's recorded instant as its chain record keeps it (kAuditRecordedParam): its
// `date` row when that has millisecond precision.
const fhir::IndexEntry* RecordedRow(const std::vector<fhir::IndexEntry>& index) {
  for (const fhir::IndexEntry& e : index) {
    if (e.type == fhir::ParamType::kDate && e.param == sqlite_internal::kAuditRecordedParam &&
        e.high == e.low + 1) {
      return &e;
    }
  }
  return nullptr;
}

// The rows of `index` that an AuditEvent keeps in audit_search: its dates, but for `recorded`
// when its chain record holds that.
std::vector<fhir::IndexEntry> DateRows(const std::vector<fhir::IndexEntry>& index,
                                       const fhir::IndexEntry* recorded) {
  std::vector<fhir::IndexEntry> dates;
  for (const fhir::IndexEntry& e : index) {
    if (e.type == fhir::ParamType::kDate && &e != recorded) {
      dates.push_back(e);
    }
  }
  return dates;
}

// A queued batch, or a writer job (outbox bookkeeping) when `job` is set: the job runs inside the
// group's transaction in its own savepoint, and `job_done` learns after the commit whether what it
// did is durable (its own error, or kIo when the group failed).
struct Pending {
  WriteBatch batch;
  WriteCallback done;
  // The audit_terms document of each kAudit op of `batch` (by op index; empty for other ops),
  // made by Write() on the caller's thread so that the single writer only inserts it.
  std::vector<std::string> audit_terms;
  std::function<std::error_code()> job;
  std::function<void(std::error_code)> job_done;
  // Not a write: a request to bring the AuditEvent search index up to date (FlushAuditIndex).
  bool index_audit = false;
};

void InvokeDone(WriteCallback& done, WriteResult result) {
  if (!done) {
    return;
  }
  // The callback is the caller's code; an exception from it must not kill the writer thread.
  try {
    done(std::move(result));
  } catch (...) {
  }
}

void InvokeJobDone(std::function<void(std::error_code)>& done, std::error_code ec) {
  try {
    done(ec);
  } catch (...) {
  }
}

WriteResult AllFailed(const WriteBatch& batch, std::error_code ec) {
  WriteResult r;
  r.ops.assign(batch.ops.size(), Result<WriteOutcome>(ec));
  if (batch.atomic && !batch.ops.empty()) {
    r.failed_op = 0;
  }
  return r;
}

// Copies the WAL back into the database file on a thread of its own. SQLite's automatic
// checkpoint runs inside the COMMIT that crosses its threshold, on the writer thread, so one group
// in every few hundred waited for megabytes to be copied and fsynced, and everything queued behind
// it waited too. Here the writer's WAL hook only wakes this thread, whose PASSIVE checkpoints block
// neither the writer nor the readers. Should it fall far behind, the writer checkpoints itself.
class WalCheckpointer {
 public:
  // Hooks `writer` and starts the thread, with a connection of its own to `path`. Each
  // `wake_pages` the WAL grows wakes it; at four times that the writer checkpoints too.
  Result<void> Start(const std::string& path, sqlite3* writer, int wake_pages) {
    wake_pages_ = std::max(1, wake_pages);
    auto conn = Connection::Open(path, /*writer=*/false);
    if (!conn) {
      return conn.error();
    }
    // The checkpoint syncs the database file before the WAL may be reused: FULL, as the writer.
    if ((*conn)->Exec("PRAGMA synchronous=FULL; PRAGMA journal_size_limit=67108864;") !=
        SQLITE_OK) {
      return Err(errc::kIo);
    }
    conn_ = std::move(*conn);
    sqlite3_wal_hook(writer, &WalCheckpointer::OnCommit, this);
    thread_ = std::thread([this] { Run(); });
    return {};
  }

  // After the writer has stopped committing.
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) {
      thread_.join();
    }
  }

 private:
  // Runs on the writer thread after each commit, with the WAL's size in pages.
  static int OnCommit(void* self, sqlite3* db, const char* schema, int pages) {
    auto* checkpointer = static_cast<WalCheckpointer*>(self);
    if (pages < checkpointer->woken_at_) {
      checkpointer->woken_at_ = 0;  // the WAL started over
    }
    if (pages >= 4 * checkpointer->wake_pages_) {
      sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    } else if (pages - checkpointer->woken_at_ >= checkpointer->wake_pages_) {
      // Counted from the last wake, not from the WAL's start: a WAL seldom starts over while the
      // writer never pauses, and waking at every commit past the mark copied the pages every
      // commit rewrites (B-tree right edges) once per commit, ~10% of an audited read's CPU.
      checkpointer->woken_at_ = pages;
      {
        std::lock_guard lock(checkpointer->mu_);
        checkpointer->due_ = true;
      }
      checkpointer->cv_.notify_one();
    }
    return SQLITE_OK;
  }

  void Run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return due_ || stop_; });
      if (stop_) {
        return;
      }
      due_ = false;
      lock.unlock();
      sqlite3_wal_checkpoint_v2(conn_->db(), "main", SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      lock.lock();
    }
  }

  int wake_pages_ = 1;
  int woken_at_ = 0;                  // the WAL's size at the last wake; writer thread only
  std::unique_ptr<Connection> conn_;  // the thread's only
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool due_ = false;   // GUARDED_BY(mu_)
  bool stop_ = false;  // GUARDED_BY(mu_)
};

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(const SqliteOptions& options) : options_(options) {
    options_.read_connections = std::max(1, options_.read_connections);
    options_.max_batches_per_commit = std::max(1, options_.max_batches_per_commit);
  }

  ~SqliteStore() override { Close(); }

  Result<void> Init();

  void Write(WriteBatch batch, WriteCallback done) override {
    std::vector<std::string> terms = AuditTermsOf(batch);
    {
      std::lock_guard lock(mu_);
      if (!closing_) {
        queue_.push_back(Pending{std::move(batch), std::move(done), std::move(terms)});
        cv_.notify_one();
        return;
      }
    }
    InvokeDone(done, AllFailed(batch, Err(errc::kClosed)));
  }

  Result<ResourceVersion> Read(std::string_view type, std::string_view id) override;
  Result<ResourceVersion> ReadVersion(std::string_view type, std::string_view id,
                                      std::int64_t version) override {
    auto conn = readers_.Acquire();
    return ReadVersionOn(*conn, type, id, version, /*allow_deleted=*/false);
  }
  Result<SearchPage> Search(const fhir::SearchQuery& query) override;
  Result<SearchPage> History(const HistoryQuery& query) override;
  Result<AuditVerifyReport> VerifyAudit() override {
    auto conn = readers_.Acquire();
    ReadTxn txn(*conn);
    if (!txn.ok()) {
      return conn->Fail(conn->failed_rc());
    }
    return sqlite_internal::VerifyAuditOn(
        conn->db(), options_.audit_signer ? &*options_.audit_signer : nullptr);
  }

  Result<std::vector<Delivery>> ClaimDeliveries(const ClaimOptions& options) override {
    std::vector<Delivery> out;
    if (auto ec = RunJob([&] { return ClaimOnWriter(options, out); })) {
      return ec;
    }
    return out;
  }
  Result<void> RecordAttempt(const DeliveryAttempt& attempt) override {
    if (auto ec = RunJob([&] { return RecordOnWriter(attempt); })) {
      return ec;
    }
    return {};
  }
  Result<int> Expedite(std::string_view destination, std::int64_t now_ms) override {
    int changed = 0;
    if (auto ec = RunJob([&] { return ExpediteOnWriter(destination, now_ms, changed); })) {
      return ec;
    }
    return changed;
  }
  Result<Delivery> ReadDelivery(std::string_view id) override;
  Result<std::vector<Delivery>> ListDeadLetters(int limit, int offset) override;
  Result<std::vector<Delivery>> ListDeliveries(std::string_view destination,
                                               std::string_view resource_type,
                                               std::string_view resource_id) override;
  Result<std::vector<DeliveryAttempt>> ListAttempts(std::string_view id) override;

  void Close() override {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
    }
    cv_.notify_all();
    // A callback calling Close() runs on the writer thread, which cannot join itself; it exits
    // after draining the queue, and a later Close() (or the destructor) joins it.
    if (std::this_thread::get_id() == writer_id_) {
      return;
    }
    std::lock_guard lock(join_mu_);
    if (writer_.joinable()) {
      writer_.join();
    }
    checkpointer_.Stop();
  }

 private:
  Result<void> Migrate();
  void WriterLoop();
  void CommitGroup(std::vector<Pending>& group);
  // The documents of Pending::audit_terms.
  std::vector<std::string> AuditTermsOf(const WriteBatch& batch);
  WriteResult ApplyBatch(const WriteBatch& batch, std::vector<std::string>& audit_terms);
  // `audit_terms`: the op's document when it is kAudit (taken).
  Result<WriteOutcome> ApplyOp(const WriteOp& op, std::string& audit_terms);
  Result<WriteOutcome> ApplyCreate(const WriteOp& op);
  Result<WriteOutcome> ApplyUpdate(const WriteOp& op);
  Result<WriteOutcome> ApplyDelete(const WriteOp& op);
  Result<WriteOutcome> ApplyAudit(const WriteOp& op, std::string& terms);
  Result<WriteOutcome> ApplyOutbox(const WriteOp& op);
  Result<WriteOutcome> ApplyRedrive(const WriteOp& op);
  std::error_code ApplyJob(const std::function<std::error_code()>& job);
  // Queues `job` for the writer and blocks until its group has committed (or failed).
  // REQUIRES: not called on the writer thread.
  std::error_code RunJob(std::function<std::error_code()> job);
  std::error_code ClaimOnWriter(const ClaimOptions& options, std::vector<Delivery>& out);
  std::error_code RecordOnWriter(const DeliveryAttempt& attempt);
  std::error_code RedriveOnWriter(std::string_view id, std::int64_t now_ms);
  std::error_code ExpediteOnWriter(std::string_view destination, std::int64_t now_ms, int& changed);
  Result<void> AppendCheckpoint();
  Result<void> LoadAuditState();
  void CloseCheckpoint();
  Result<WriteOutcome> RenderVersion(const WriteOp& op, std::int64_t version,
                                     WriteOutcome::Kind kind, std::int64_t ms);
  Result<WriteOutcome> PutVersion(const WriteOp& op, std::int64_t version, WriteOutcome::Kind kind);
  Result<std::optional<std::pair<std::int64_t, bool>>> CurrentVersion(const WriteOp& op);
  Result<void> ReplaceIndex(const WriteOp& op, bool insert_new);
  // An SQLite failure inside an op: the op's error, and the group's when it is fatal.
  std::error_code OpFailure(int rc) {
    if (IsFatal(rc)) {
      fatal_ = true;
    }
    return writer_conn_->Fail(rc);
  }
  // A shared read helper failed on the writer connection: SQLite failures go through OpFailure,
  // other errors (a row that vanished) are the op's own.
  std::error_code WriterReadFailure(std::error_code ec) {
    return ec == Err(errc::kIo) ? OpFailure(writer_conn_->failed_rc()) : ec;
  }
  bool RunOnWriter(Sql which) {
    const int rc = writer_conn_->Run(which);
    if (rc != SQLITE_OK) {
      OpFailure(rc);
      return false;
    }
    return true;
  }
  // Never earlier than a stamp already handed out (nor than the newest stored, after a restart
  // on a clock that went back), never later than the clock: writes in the same millisecond share
  // it. Strictly increasing stamps ran ahead of the clock by a millisecond for each write past
  // 1,000 a second, and an audited read is a write: minutes into the future under a benchmark.
  std::int64_t NextStampMs() {
    last_ms_ = std::max(NowMs(), last_ms_);
    return last_ms_;
  }

  SqliteOptions options_;
  ReadPool readers_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;  // GUARDED_BY(mu_)
  bool closing_ = false;       // GUARDED_BY(mu_)

  std::mutex join_mu_;
  std::thread writer_;  // GUARDED_BY(join_mu_) after Init
  WalCheckpointer checkpointer_;
  std::thread::id writer_id_;

  // Writer thread only (and Init, before the thread starts).
  std::unique_ptr<Connection> writer_conn_;
  std::int64_t last_ms_ = 0;  // last stamp handed out: stamps never decrease
  bool sticky_io_ = false;    // a group failed in a way that leaves the disk state unknown
  bool fatal_ = false;        // the group being applied hit a fatal SQLite failure

  // The head of the audit chain. `audit_` advances as audit ops are applied inside the open
  // transaction and is put back when a savepoint rolls back; `audit_committed_` is what the last
  // successful COMMIT made durable. A failed group reloads both from the database.
  struct AuditHead {
    std::int64_t seq = 0;
    std::string hash = sqlite_internal::GenesisHash();
    std::int64_t checkpoint_seq = 0;  // last signed record
  };
  AuditHead audit_;
  AuditHead audit_committed_;

  // AuditEvents are chained in the request's transaction but indexed for search later, in
  // batches: an event's ~15 search rows land on as many B-tree pages, and writing those pages for
  // every small commit cost more than everything else an audited read does. A search of
  // AuditEvent first brings the index up to date (FlushAuditIndex), so it misses nothing.
  struct UnindexedAudit {
    std::int64_t seq = 0;
    std::string id;
    std::vector<fhir::IndexEntry> dates;  // its rows of audit_search
    std::string terms;                    // its document of audit_terms
  };
  // Idle moments (nothing queued after a commit) index the backlog in chunks of kAuditIndexChunk,
  // in a transaction of their own, once it has kAuditIndexIdleMin events. When the writer is
  // never idle, a backlog of kAuditIndexBusyBacklog makes each group index the events it adds and
  // kAuditIndexBusyStep more (a chunk of 256 in one group made it ~3 ms slower).
  static constexpr std::size_t kAuditIndexIdleMin = 64;
  static constexpr std::size_t kAuditIndexChunk = 128;
  static constexpr std::size_t kAuditIndexBusyBacklog = 1024;
  static constexpr std::size_t kAuditIndexBusyStep = 16;
  Result<void> LoadUnindexedAudit();
  // Inserts, inside the open transaction and in a savepoint of its own, the search rows of the
  // first `max_committed` events of audit_unindexed_ (and of audit_group_unindexed_ when
  // `with_group`), and moves the watermark. How many committed events it indexed, or nullopt.
  std::optional<std::size_t> IndexAuditBacklog(std::size_t max_committed, bool with_group);
  void IndexWhileIdle();
  std::optional<std::uint64_t> TypeGeneration(std::string_view type) override;
  void BumpGenerations(const std::vector<Pending>& group);
  std::mutex generations_mutex_;
  std::map<std::string, std::uint64_t, std::less<>> generations_;  // type -> writes committed

  Result<void> InsertIndexRows(std::string_view type, std::string_view id,
                               const std::vector<fhir::IndexEntry>& index);
  // An AuditEvent's dates as rows of audit_search, the rest as its document in audit_terms.
  Result<void> InsertAuditIndex(const UnindexedAudit& event);
  sqlite_internal::TermKey term_key_;  // set by Init, then read-only (readers build searches)
  std::optional<sqlite_internal::DocumentTermsMaker> document_terms_;  // made by Init
  Result<void> FlushAuditIndex();
  std::deque<UnindexedAudit> audit_unindexed_;         // committed, not yet indexed; writer only
  std::vector<UnindexedAudit> audit_group_unindexed_;  // chained in the open group; writer only
};

Result<void> SqliteStore::Init() {
  if (sqlite3_threadsafe() == 0 || options_.path.empty()) {
    return Err(errc::kIo);
  }
  auto writer = Connection::Open(options_.path, /*writer=*/true);
  if (!writer) {
    return writer.error();
  }
  writer_conn_ = std::move(*writer);
  Connection& w = *writer_conn_;

  // journal_mode answers with the mode in force; anything but "wal" means we cannot keep the
  // durability and reader-concurrency promises.
  {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(w.db(), "PRAGMA journal_mode=WAL", -1, &raw, nullptr) != SQLITE_OK) {
      sqlite3_finalize(raw);
      return Err(errc::kIo);
    }
    StmtPtr s(raw);
    StmtUse use(s.get());
    if (use.Step() != SQLITE_ROW || use.Text(0) != "wal") {
      return Err(errc::kIo);
    }
  }
  // synchronous=FULL: COMMIT fsyncs the WAL, so an acknowledged write survives power loss.
  // journal_size_limit truncates the WAL after checkpoints so a burst does not keep it huge.
  // An 8 MB page cache holds the B-trees' upper levels and right edges, which is what appends need;
  // 16 MB only kept more pages the writer had just written and ~8 MB more resident under load.
  const std::string pragmas =
      "PRAGMA synchronous=FULL; PRAGMA busy_timeout=" + std::to_string(kBusyTimeoutMs) +
      "; PRAGMA foreign_keys=OFF; PRAGMA cache_size=-8192;"
      " PRAGMA temp_store=MEMORY; PRAGMA journal_size_limit=67108864;";
  if (w.Exec(pragmas.c_str()) != SQLITE_OK ||
      sqlite_internal::RegisterAuditTermsFunction(w.db()) != SQLITE_OK) {
    return Err(errc::kIo);
  }
  if (auto r = Migrate(); !r) {
    return r;
  }
  if (sqlite3_stmt* s = w.Get(Sql::kAuditTermsKey); s == nullptr) {
    return Err(errc::kIo);
  } else {
    StmtUse use(s);
    if (use.Step() != SQLITE_ROW || !term_key_.Load(use.Blob(0))) {
      return Err(errc::kIo);
    }
  }
  document_terms_.emplace(term_key_);
  if (sqlite3_stmt* s = w.Get(Sql::kMaxLastUpdated); s == nullptr) {
    return Err(errc::kIo);
  } else {
    StmtUse use(s);
    if (use.Step() != SQLITE_ROW) {
      return Err(errc::kIo);
    }
    last_ms_ = use.Int(0);
  }
  if (auto r = LoadAuditState(); !r) {
    return r;
  }
  if (auto r = LoadUnindexedAudit(); !r) {
    return r;
  }

  const std::string reader_pragmas = "PRAGMA busy_timeout=" + std::to_string(kBusyTimeoutMs) +
                                     "; PRAGMA cache_size=-8192; PRAGMA query_only=ON;"
                                     " PRAGMA temp_store=MEMORY;";
  for (int i = 0; i < options_.read_connections; ++i) {
    auto r = Connection::Open(options_.path, /*writer=*/false);
    if (!r) {
      return r.error();
    }
    if ((*r)->Exec(reader_pragmas.c_str()) != SQLITE_OK) {
      return Err(errc::kIo);
    }
    readers_.Add(std::move(*r));
  }

  if (auto r = checkpointer_.Start(options_.path, w.db(), options_.wal_checkpoint_pages); !r) {
    return r;
  }
  std::lock_guard lock(join_mu_);
  writer_ = std::thread([this] { WriterLoop(); });
  writer_id_ = writer_.get_id();
  return {};
}

Result<void> SqliteStore::Migrate() {
  using sqlite_internal::kApplicationId;
  using sqlite_internal::kLatestSchemaVersion;
  using sqlite_internal::kMigrations;
  Connection& w = *writer_conn_;
  auto pragma_int = [&](const char* sql) -> std::optional<std::int64_t> {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(w.db(), sql, -1, &raw, nullptr) != SQLITE_OK) {
      sqlite3_finalize(raw);
      return std::nullopt;
    }
    StmtPtr s(raw);
    StmtUse use(s.get());
    if (use.Step() != SQLITE_ROW) {
      return std::nullopt;
    }
    return use.Int(0);
  };

  for (const auto& m : kMigrations) {
    // Under the write lock, re-read the version: another process may have migrated meanwhile.
    if (w.Exec("BEGIN IMMEDIATE") != SQLITE_OK) {
      return Err(errc::kIo);
    }
    const auto version = pragma_int("PRAGMA user_version");
    const auto app_id = pragma_int("PRAGMA application_id");
    bool ok = version && app_id;
    // Refuse a file some other program owns, or one written by a newer carebridge.
    ok = ok && (*app_id == 0 || *app_id == kApplicationId) && *version <= kLatestSchemaVersion;
    if (ok && *version < m.version) {
      const std::string set = "PRAGMA application_id=" + std::to_string(kApplicationId) +
                              "; PRAGMA user_version=" + std::to_string(m.version) + ";";
      ok = w.Exec(m.sql) == SQLITE_OK && w.Exec(set.c_str()) == SQLITE_OK;
    }
    if (!ok || w.Exec("COMMIT") != SQLITE_OK) {
      w.Exec("ROLLBACK");
      return Err(errc::kIo);
    }
  }
  return {};
}

Result<ResourceVersion> SqliteStore::Read(std::string_view type, std::string_view id) {
  auto conn = readers_.Acquire();
  sqlite3_stmt* s = conn->Get(type == kAuditEventType ? Sql::kReadAuditEvent : Sql::kReadCurrent);
  if (!s) {
    return conn->Fail(conn->failed_rc());
  }
  StmtUse use(s);
  use.Bind(1, type);
  use.Bind(2, id);
  const int rc = use.Step();
  if (rc == SQLITE_DONE) {
    return Err(errc::kNotFound);
  }
  if (rc != SQLITE_ROW) {
    return conn->Fail(rc);
  }
  if (use.Int(1) != 0) {
    return Err(errc::kGone);
  }
  ResourceVersion out;
  out.type = std::string(type);
  out.id = std::string(id);
  out.version = use.Int(0);
  out.last_updated = use.Text(2);
  out.json = use.Text(3);
  out.patient_id = use.OptionalText(4);
  out.meta_source = use.OptionalText(5);
  out.consent_facts = use.OptionalText(6);
  return out;
}

Result<SearchPage> SqliteStore::Search(const fhir::SearchQuery& query) {
  auto sql = sqlite_internal::BuildSearchSql(query, NowMs(), term_key_);
  if (!sql) {
    return sql.error();
  }
  if (query.type == kAuditEventType) {
    if (auto flushed = FlushAuditIndex(); !flushed) {
      return flushed.error();
    }
  }
  auto conn = readers_.Acquire();
  ReadTxn txn(*conn);
  if (!txn.ok()) {
    return conn->Fail(conn->failed_rc());
  }
  SearchPage page;
  auto total = RunCount(*conn, sql->count);
  if (!total) {
    return total.error();
  }
  page.total = *total;
  if (!query.total_only && query.count > 0 && query.offset < page.total) {
    auto entries = RunSearchPage(*conn, query.type, sql->page, query.count, query.offset);
    if (!entries) {
      return entries.error();
    }
    page.entries = std::move(*entries);
  }
  return page;
}

Result<SearchPage> SqliteStore::History(const HistoryQuery& query) {
  auto sql = sqlite_internal::BuildHistorySql(query);
  if (!sql) {
    return sql.error();
  }
  auto conn = readers_.Acquire();
  ReadTxn txn(*conn);
  if (!txn.ok()) {
    return conn->Fail(conn->failed_rc());
  }
  SearchPage page;
  auto total = RunCount(*conn, sql->count);
  if (!total) {
    return total.error();
  }
  page.total = *total;
  if (page.total == 0 && query.id) {
    // The history of a resource that never existed is a 404, not an empty page.
    sqlite3_stmt* s = conn->Get(Sql::kExists);
    if (!s) {
      return conn->Fail(conn->failed_rc());
    }
    StmtUse use(s);
    use.Bind(1, std::string_view(query.type));
    use.Bind(2, std::string_view(*query.id));
    const int rc = use.Step();
    if (rc == SQLITE_DONE) {
      return Err(errc::kNotFound);
    }
    if (rc != SQLITE_ROW) {
      return conn->Fail(rc);
    }
  }
  if (query.count == 0 || query.offset >= page.total) {
    return page;
  }
  sqlite3_stmt* s = conn->GetDynamic(sql->page.sql);
  if (!s) {
    return conn->Fail(conn->failed_rc());
  }
  StmtUse use(s);
  if (int rc = BindAll(use, sql->page.binds); rc != SQLITE_OK) {
    return conn->Fail(rc);
  }
  const int n = static_cast<int>(sql->page.binds.size());
  use.Bind(n + 1, static_cast<std::int64_t>(query.count));
  use.Bind(n + 2, static_cast<std::int64_t>(query.offset));
  int rc;
  while ((rc = use.Step()) == SQLITE_ROW) {
    ResourceVersion v;
    v.type = use.Text(0);
    v.id = use.Text(1);
    v.version = use.Int(2);
    v.last_updated = use.Text(3);
    v.deleted = use.Int(4) != 0;
    v.json = use.Text(5);
    v.patient_id = use.OptionalText(6);
    v.meta_source = use.OptionalText(7);
    v.consent_facts = use.OptionalText(8);
    page.entries.push_back(std::move(v));
  }
  if (rc != SQLITE_DONE) {
    return conn->Fail(rc);
  }
  return page;
}

// ---------------------------------------------------------------------------------------------
// The writer.

void SqliteStore::WriterLoop() {
  std::vector<Pending> group;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !queue_.empty() || closing_; });
      if (queue_.empty()) {
        lock.unlock();
        CloseCheckpoint();
        return;  // closing, and everything queued has been committed
      }
      const std::size_t n =
          std::min(queue_.size(), static_cast<std::size_t>(options_.max_batches_per_commit));
      for (std::size_t i = 0; i < n; ++i) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    CommitGroup(group);
    group.clear();
    bool idle = false;
    {
      std::lock_guard lock(mu_);
      idle = queue_.empty() && !closing_;
    }
    if (idle) {
      IndexWhileIdle();
    }
  }
}

void SqliteStore::CommitGroup(std::vector<Pending>& group) {
  std::vector<WriteResult> results;
  results.reserve(group.size());
  std::vector<std::error_code> job_errors;
  job_errors.reserve(group.size());
  bool ok = !sticky_io_;
  // What of the AuditEvent backlog this group indexed: committed events, and the group's own.
  std::optional<std::size_t> indexed_committed;
  bool indexed_group = false;
  try {
    audit_ = audit_committed_;
    if (ok) {
      writer_conn_->clear_failed_rc();
      fatal_ = false;
      const int rc = writer_conn_->Run(Sql::kBeginImmediate);
      if (rc != SQLITE_OK) {
        // Nothing was written: only a lock held elsewhere is harmless enough to retry later.
        ok = false;
        const int primary = rc & 0xff;
        sticky_io_ = primary != SQLITE_BUSY && primary != SQLITE_LOCKED;
      }
    }
    if (ok) {
      bool flush = false;
      for (Pending& p : group) {
        flush = flush || p.index_audit;
        if (p.job) {
          job_errors.push_back(ApplyJob(p.job));
          results.emplace_back();
        } else {
          results.push_back(ApplyBatch(p.batch, p.audit_terms));
          job_errors.emplace_back();
        }
        if (fatal_) {
          break;
        }
      }
      // A search waits for the whole backlog. A writer that is never idle indexes a bounded
      // chunk with a group once the backlog is long, so neither memory nor one group's delay
      // grows with the load.
      if (!fatal_ && flush) {
        indexed_committed = IndexAuditBacklog(SIZE_MAX, /*with_group=*/true);
        indexed_group = indexed_committed.has_value();
      } else if (!fatal_ && audit_unindexed_.size() >= kAuditIndexBusyBacklog) {
        // As many as the group adds and a little more: the backlog shrinks, and no group pays
        // for a whole chunk at once.
        indexed_committed = IndexAuditBacklog(audit_group_unindexed_.size() + kAuditIndexBusyStep,
                                              /*with_group=*/false);
      }
      // COMMIT is the durability point (the WAL fsync). If it fails we cannot know what reached
      // the disk, so nothing is acknowledged from now on.
      ok = !fatal_ && writer_conn_->Run(Sql::kCommit) == SQLITE_OK;
      if (!ok) {
        sticky_io_ = true;
        if (!sqlite3_get_autocommit(writer_conn_->db())) {
          writer_conn_->Run(Sql::kRollback);
        }
      }
    }
  } catch (...) {
    // Only allocation failures can get here (render() is guarded). Roll back and stop writing.
    ok = false;
    sticky_io_ = true;
    if (!sqlite3_get_autocommit(writer_conn_->db())) {
      writer_conn_->Run(Sql::kRollback);
    }
  }
  if (ok && indexed_committed) {
    audit_unindexed_.erase(
        audit_unindexed_.begin(),
        audit_unindexed_.begin() + static_cast<std::ptrdiff_t>(*indexed_committed));
  }
  if (ok && !indexed_group) {
    audit_unindexed_.insert(audit_unindexed_.end(),
                            std::make_move_iterator(audit_group_unindexed_.begin()),
                            std::make_move_iterator(audit_group_unindexed_.end()));
  }
  audit_group_unindexed_.clear();  // committed (and kept above), or rolled back with the group
  if (ok) {
    audit_committed_ = audit_;
  } else if (sticky_io_ || !LoadAuditState()) {
    // The group rolled back, so the database holds the durable head; reloading it guards against
    // any bookkeeping slip. When it cannot be read (or the disk state is unknown), no later write
    // is accepted: appending from a head we are unsure of would fork the chain.
    sticky_io_ = true;
    audit_ = audit_committed_;
  }
  // Also after a failed COMMIT: what reached the disk is unknown, so caches must reload.
  BumpGenerations(group);
  for (std::size_t i = 0; i < group.size(); ++i) {
    if (group[i].job) {
      InvokeJobDone(group[i].job_done, ok ? job_errors[i] : Err(errc::kIo));
      continue;
    }
    InvokeDone(group[i].done,
               ok ? std::move(results[i]) : AllFailed(group[i].batch, Err(errc::kIo)));
  }
}

std::optional<std::uint64_t> SqliteStore::TypeGeneration(std::string_view type) {
  std::lock_guard lock(generations_mutex_);
  auto it = generations_.find(type);
  return it == generations_.end() ? 0 : it->second;
}

void SqliteStore::BumpGenerations(const std::vector<Pending>& group) {
  std::lock_guard lock(generations_mutex_);
  for (const Pending& p : group) {
    for (const WriteOp& op : p.batch.ops) {
      if (auto it = generations_.find(op.type); it != generations_.end()) {
        ++it->second;
      } else {
        generations_.emplace(op.type, 1);
      }
    }
  }
}

std::vector<std::string> SqliteStore::AuditTermsOf(const WriteBatch& batch) {
  std::vector<std::string> terms;
  for (std::size_t i = 0; i < batch.ops.size(); ++i) {
    if (batch.ops[i].kind == WriteOp::Kind::kAudit) {
      terms.resize(batch.ops.size());
      terms[i] = document_terms_->Make(batch.ops[i].index);
    }
  }
  return terms;
}

WriteResult SqliteStore::ApplyBatch(const WriteBatch& batch,
                                    std::vector<std::string>& audit_terms) {
  WriteResult res;
  res.ops.reserve(batch.ops.size());
  if (!RunOnWriter(Sql::kSavepointBatch)) {
    return res;  // fatal_ is set: the whole group fails
  }
  // A savepoint rolled back takes its audit records with it: the chain head goes back too.
  const AuditHead batch_audit = audit_;
  for (std::size_t i = 0; i < batch.ops.size(); ++i) {
    if (!batch.atomic && !RunOnWriter(Sql::kSavepointOp)) {
      return res;
    }
    const AuditHead op_audit = audit_;
    std::string no_terms;
    Result<WriteOutcome> r =
        ApplyOp(batch.ops[i], i < audit_terms.size() ? audit_terms[i] : no_terms);
    if (fatal_) {
      return res;
    }
    if (!r) {
      if (batch.atomic) {
        if (!RunOnWriter(Sql::kRollbackBatch) || !RunOnWriter(Sql::kReleaseBatch)) {
          return res;
        }
        audit_ = batch_audit;
        std::erase_if(audit_group_unindexed_,
                      [&](const UnindexedAudit& u) { return u.seq > audit_.seq; });
        // See store.cc: the culprit keeps its error, the others say "not applied".
        res.ops.assign(batch.ops.size(),
                       Result<WriteOutcome>(std::make_error_code(std::errc::operation_canceled)));
        res.ops[i] = r.error();
        res.failed_op = i;
        return res;
      }
      if (!RunOnWriter(Sql::kRollbackOp) || !RunOnWriter(Sql::kReleaseOp)) {
        return res;
      }
      audit_ = op_audit;
      std::erase_if(audit_group_unindexed_,
                    [&](const UnindexedAudit& u) { return u.seq > audit_.seq; });
    } else if (!batch.atomic && !RunOnWriter(Sql::kReleaseOp)) {
      return res;
    }
    res.ops.push_back(std::move(r));
  }
  RunOnWriter(Sql::kReleaseBatch);
  return res;
}

// Extension point: the audit log (kAudit) and the outbox (kOutbox) are WriteOp kinds
// handled here, inside the same batch savepoint as the resource change, so that an atomic batch
// commits the resource version, its AuditEvent and its outbox rows together or not at all.
Result<WriteOutcome> SqliteStore::ApplyOp(const WriteOp& op, std::string& audit_terms) {
  if ((op.type.empty() && op.kind != WriteOp::Kind::kRedrive) || op.id.empty()) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  // An AuditEvent is written once, as a chain record (ApplyAudit), and never changed.
  if ((op.type == kAuditEventType) != (op.kind == WriteOp::Kind::kAudit)) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  switch (op.kind) {
    case WriteOp::Kind::kCreate:
      return ApplyCreate(op);
    case WriteOp::Kind::kUpdate:
      return ApplyUpdate(op);
    case WriteOp::Kind::kDelete:
      return ApplyDelete(op);
    case WriteOp::Kind::kAudit:
      return ApplyAudit(op, audit_terms);
    case WriteOp::Kind::kOutbox:
      return ApplyOutbox(op);
    case WriteOp::Kind::kRedrive:
      return ApplyRedrive(op);
  }
  return std::make_error_code(std::errc::invalid_argument);
}

// (version, deleted) of the current version, or nullopt when (type, id) never existed.
Result<std::optional<std::pair<std::int64_t, bool>>> SqliteStore::CurrentVersion(
    const WriteOp& op) {
  sqlite3_stmt* s = writer_conn_->Get(Sql::kCurrentVersion);
  if (!s) {
    return OpFailure(writer_conn_->failed_rc());
  }
  StmtUse use(s);
  use.Bind(1, std::string_view(op.type));
  use.Bind(2, std::string_view(op.id));
  const int rc = use.Step();
  if (rc == SQLITE_DONE) {
    return std::optional<std::pair<std::int64_t, bool>>();
  }
  if (rc != SQLITE_ROW) {
    return OpFailure(rc);
  }
  return std::optional(std::pair(use.Int(0), use.Int(1) != 0));
}

Result<WriteOutcome> SqliteStore::ApplyCreate(const WriteOp& op) {
  if (op.if_none_exist) {
    // Evaluated inside the transaction, so it sees earlier batches of this group and no other
    // writer can slip a match in between the check and the create.
    auto sql = sqlite_internal::BuildSearchSql(*op.if_none_exist, NowMs(), term_key_);
    if (!sql) {
      return sql.error();
    }
    auto matches = RunSearchPage(*writer_conn_, op.if_none_exist->type, sql->page, 2, 0);
    if (!matches) {
      return WriterReadFailure(matches.error());
    }
    if (matches->size() > 1) {
      return Err(errc::kMultipleMatches);
    }
    if (matches->size() == 1) {
      ResourceVersion& existing = matches->front();
      WriteOutcome out;
      out.kind = WriteOutcome::Kind::kExisting;
      out.stamp = VersionStamp{existing.id, existing.version, existing.last_updated};
      out.json = std::move(existing.json);
      return out;
    }
  }
  auto current = CurrentVersion(op);
  if (!current) {
    return current.error();
  }
  if (*current) {
    // Ids are server-assigned UUIDs: an existing (even deleted) one is a real conflict.
    return Err(errc::kVersionConflict);
  }
  return PutVersion(op, 1, WriteOutcome::Kind::kCreated);
}

Result<WriteOutcome> SqliteStore::ApplyUpdate(const WriteOp& op) {
  auto current = CurrentVersion(op);
  if (!current) {
    return current.error();
  }
  const auto& cur = *current;
  if (op.if_match && (!cur || cur->first != *op.if_match)) {
    return Err(errc::kVersionConflict);
  }
  // Updating a deleted resource brings it back: it did not exist a moment ago, so kCreated (201),
  // with the next version number so history stays one sequence.
  const bool exists = cur && !cur->second;
  return PutVersion(op, cur ? cur->first + 1 : 1,
                    exists ? WriteOutcome::Kind::kUpdated : WriteOutcome::Kind::kCreated);
}

Result<WriteOutcome> SqliteStore::ApplyDelete(const WriteOp& op) {
  auto current = CurrentVersion(op);
  if (!current) {
    return current.error();
  }
  const auto& cur = *current;
  if (!cur) {
    return Err(errc::kNotFound);
  }
  if (cur->second) {
    auto v = ReadVersionOn(*writer_conn_, op.type, op.id, cur->first, /*allow_deleted=*/true);
    if (!v) {
      return WriterReadFailure(v.error());
    }
    WriteOutcome out;
    out.kind = WriteOutcome::Kind::kAlreadyDeleted;
    out.stamp = VersionStamp{op.id, v->version, v->last_updated};
    return out;
  }
  if (op.if_match && cur->first != *op.if_match) {
    return Err(errc::kVersionConflict);
  }
  return PutVersion(op, cur->first + 1, WriteOutcome::Kind::kDeleted);
}

// Writes version `version` of op's resource: the version row, the current pointer and the search
// rows. For kDeleted the version is a tombstone (deleted = 1, empty JSON) and the search rows go.
// The outcome of `op` as `version`, stamped `ms`, with its JSON rendered (none for a deletion).
Result<WriteOutcome> SqliteStore::RenderVersion(const WriteOp& op, std::int64_t version,
                                                WriteOutcome::Kind kind, std::int64_t ms) {
  WriteOutcome out;
  out.kind = kind;
  out.stamp = VersionStamp{op.id, version, fhir::FormatInstant(ms)};
  if (kind == WriteOutcome::Kind::kDeleted) {
    return out;
  }
  if (!op.render) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  try {
    out.json = op.render(out.stamp);
  } catch (...) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  return out;
}

Result<WriteOutcome> SqliteStore::PutVersion(const WriteOp& op, std::int64_t version,
                                             WriteOutcome::Kind kind) {
  const bool deleted = kind == WriteOutcome::Kind::kDeleted;
  const std::int64_t ms = NextStampMs();
  auto rendered = RenderVersion(op, version, kind, ms);
  if (!rendered) {
    return rendered;
  }
  WriteOutcome& out = *rendered;
  const std::string_view type(op.type);
  const std::string_view id(op.id);
  {
    sqlite3_stmt* s = writer_conn_->Get(Sql::kInsertVersion);
    if (!s) {
      return OpFailure(writer_conn_->failed_rc());
    }
    StmtUse use(s);
    use.Bind(1, type);
    use.Bind(2, id);
    use.Bind(3, version);
    use.Bind(4, ms);
    use.Bind(5, std::string_view(out.stamp.last_updated));
    use.Bind(6, static_cast<std::int64_t>(deleted));
    use.Bind(7, std::string_view(out.json));
    // A tombstone has no content to decide on.
    if (op.patient_id && !deleted) {
      use.Bind(8, std::string_view(*op.patient_id));
    } else {
      use.BindNull(8);
    }
    if (op.meta_source && !deleted) {
      use.Bind(9, std::string_view(*op.meta_source));
    } else {
      use.BindNull(9);
    }
    if (op.consent_facts && !deleted) {
      use.Bind(10, std::string_view(*op.consent_facts));
    } else {
      use.BindNull(10);
    }
    if (const int rc = use.Step(); rc != SQLITE_DONE) {
      return OpFailure(rc);
    }
  }
  {
    sqlite3_stmt* s = writer_conn_->Get(Sql::kUpsertCurrent);
    if (!s) {
      return OpFailure(writer_conn_->failed_rc());
    }
    StmtUse use(s);
    use.Bind(1, type);
    use.Bind(2, id);
    use.Bind(3, version);
    use.Bind(4, ms);
    use.Bind(5, static_cast<std::int64_t>(deleted));
    if (const int rc = use.Step(); rc != SQLITE_DONE) {
      return OpFailure(rc);
    }
  }
  // Version 1 of an id that never existed has no rows to replace.
  auto indexed = version == 1 ? InsertIndexRows(type, id, op.index)
                              : ReplaceIndex(op, /*insert_new=*/!deleted);
  if (!indexed) {
    return indexed.error();
  }
  return rendered;
}

// An AuditEvent: the next record of the chain, holding the event's JSON, then a signed checkpoint
// when one is due. It reads as version 1 of a resource that is never updated or deleted.
Result<WriteOutcome> SqliteStore::ApplyAudit(const WriteOp& op, std::string& terms) {
  const std::int64_t ms = NextStampMs();
  auto rendered = RenderVersion(op, 1, WriteOutcome::Kind::kCreated, ms);
  if (!rendered) {
    return rendered;
  }
  WriteOutcome& out = *rendered;
  const std::int64_t seq = audit_.seq + 1;
  const fhir::IndexEntry* recorded = RecordedRow(op.index);
  std::string hash = sqlite_internal::ChainHash(audit_.hash, out.json);
  if (hash.empty()) {
    fatal_ = true;  // the digest failed: nothing can be chained
    return Err(errc::kIo);
  }
  {
    sqlite3_stmt* s = writer_conn_->Get(Sql::kInsertChain);
    if (!s) {
      return OpFailure(writer_conn_->failed_rc());
    }
    StmtUse use(s);
    use.Bind(1, seq);
    use.Bind(2, std::string_view(op.id));
    use.BindBlob(3, audit_.hash);
    use.BindBlob(4, hash);
    use.Bind(5, std::string_view(out.json));
    use.Bind(6, ms);
    use.Bind(7, std::string_view(out.stamp.last_updated));
    if (recorded != nullptr) {
      use.Bind(8, recorded->low);
    } else {
      use.BindNull(8);
    }
    if (const int rc = use.Step(); rc != SQLITE_DONE) {
      // The id's unique index: an event of that id is already recorded.
      return (rc & 0xff) == SQLITE_CONSTRAINT ? Err(errc::kVersionConflict) : OpFailure(rc);
    }
  }
  audit_.seq = seq;
  audit_.hash = std::move(hash);
  audit_group_unindexed_.push_back({seq, op.id, DateRows(op.index, recorded), std::move(terms)});
  const std::int64_t every = std::max(1, options_.audit_checkpoint_every);
  if (audit_.seq - audit_.checkpoint_seq >= every) {
    if (auto r = AppendCheckpoint(); !r) {
      return r.error();
    }
  }
  return rendered;
}

// Signs the current chain head. Without a signing key, or when signing fails, no checkpoint is
// written (the next one covers these records); only a failing INSERT fails the op.
Result<void> SqliteStore::AppendCheckpoint() {
  if (!options_.audit_signer || !options_.audit_signer->sign ||
      audit_.seq <= audit_.checkpoint_seq) {
    return {};
  }
  Result<std::string> signature = std::make_error_code(std::errc::invalid_argument);
  try {
    signature =
        options_.audit_signer->sign(sqlite_internal::CheckpointMessage(audit_.seq, audit_.hash));
  } catch (...) {
    return {};
  }
  if (!signature) {
    return {};
  }
  const std::string created = fhir::FormatInstant(NowMs());
  sqlite3_stmt* s = writer_conn_->Get(Sql::kInsertCheckpoint);
  if (!s) {
    return OpFailure(writer_conn_->failed_rc());
  }
  StmtUse use(s);
  use.Bind(1, audit_.seq);
  use.BindBlob(2, audit_.hash);
  use.BindBlob(3, *signature);
  use.Bind(4, std::string_view(options_.audit_signer->key_id));
  use.Bind(5, std::string_view(created));
  if (const int rc = use.Step(); rc != SQLITE_DONE) {
    return OpFailure(rc);
  }
  audit_.checkpoint_seq = audit_.seq;
  return {};
}

// Reads the chain head and the last checkpoint from the database into audit_ and
// audit_committed_. REQUIRES: no write transaction of ours is open (it reads committed state).
Result<void> SqliteStore::LoadAuditState() {
  AuditHead head;
  {
    sqlite3_stmt* s = writer_conn_->Get(Sql::kLastChain);
    if (!s) {
      return Err(errc::kIo);
    }
    StmtUse use(s);
    const int rc = use.Step();
    if (rc == SQLITE_ROW) {
      head.seq = use.Int(0);
      const void* p = sqlite3_column_blob(s, 1);
      const int n = sqlite3_column_bytes(s, 1);
      if (p == nullptr || n != static_cast<int>(sqlite_internal::kHashSize)) {
        return Err(errc::kIo);
      }
      head.hash.assign(static_cast<const char*>(p), static_cast<std::size_t>(n));
    } else if (rc != SQLITE_DONE) {
      return Err(errc::kIo);
    }
  }
  {
    sqlite3_stmt* s = writer_conn_->Get(Sql::kLastCheckpoint);
    if (!s) {
      return Err(errc::kIo);
    }
    StmtUse use(s);
    if (use.Step() != SQLITE_ROW) {
      return Err(errc::kIo);
    }
    head.checkpoint_seq = use.Int(0);
  }
  audit_ = head;
  audit_committed_ = std::move(head);
  return {};
}

// At start-up: the events chained after the last indexed one (the previous run stopped before
// indexing them), with their search rows recomputed from the stored JSON.
Result<void> SqliteStore::LoadUnindexedAudit() {
  std::int64_t indexed_seq = 0;
  {
    sqlite3_stmt* s = writer_conn_->Get(Sql::kAuditIndexedSeq);
    if (!s) {
      return Err(errc::kIo);
    }
    StmtUse use(s);
    if (use.Step() != SQLITE_ROW) {
      return Err(errc::kIo);
    }
    indexed_seq = use.Int(0);
  }
  sqlite3_stmt* s = writer_conn_->Get(Sql::kUnindexedAudit);
  if (!s) {
    return Err(errc::kIo);
  }
  StmtUse use(s);
  use.Bind(1, indexed_seq);
  int rc;
  while ((rc = use.Step()) == SQLITE_ROW) {
    UnindexedAudit event;
    event.seq = use.Int(0);
    event.id = use.Text(1);
    std::string message;
    if (auto resource = fhir::json::Parse(use.Text(2), fhir::json::Limits{}, message)) {
      const std::vector<fhir::IndexEntry> index = fhir::ExtractIndex(kAuditEventType, *resource);
      event.terms = document_terms_->Make(index);
      event.dates = DateRows(index, use.Int(3) != 0 ? RecordedRow(index) : nullptr);
    }
    audit_unindexed_.push_back(std::move(event));
  }
  return rc == SQLITE_DONE ? Result<void>() : Result<void>(Err(errc::kIo));
}

std::optional<std::size_t> SqliteStore::IndexAuditBacklog(std::size_t max_committed,
                                                          bool with_group) {
  const std::size_t committed = std::min(max_committed, audit_unindexed_.size());
  if (committed == 0 && (!with_group || audit_group_unindexed_.empty())) {
    return 0;
  }
  // Its own savepoint: an indexing failure leaves the group's writes standing and the backlog
  // for the next attempt.
  if (!RunOnWriter(Sql::kSavepointOp)) {
    return std::nullopt;
  }
  bool ok = true;
  std::int64_t last = 0;
  for (std::size_t i = 0; ok && i < committed; ++i) {
    const UnindexedAudit& event = audit_unindexed_[i];
    ok = InsertAuditIndex(event).has_value();
    last = event.seq;
  }
  if (with_group) {
    for (const auto& event : audit_group_unindexed_) {
      ok = ok && InsertAuditIndex(event).has_value();
      last = event.seq;
    }
  }
  if (ok) {
    sqlite3_stmt* s = writer_conn_->Get(Sql::kSetAuditIndexedSeq);
    ok = s != nullptr;
    if (ok) {
      StmtUse use(s);
      use.Bind(1, last);
      ok = use.Step() == SQLITE_DONE;
    }
  }
  if (!ok) {
    if (fatal_) {
      return std::nullopt;
    }
    RunOnWriter(Sql::kRollbackOp);
    RunOnWriter(Sql::kReleaseOp);
    return std::nullopt;
  }
  if (!RunOnWriter(Sql::kReleaseOp)) {
    return std::nullopt;
  }
  return committed;
}

void SqliteStore::IndexWhileIdle() {
  if (sticky_io_ || audit_unindexed_.size() < kAuditIndexIdleMin) {
    return;
  }
  writer_conn_->clear_failed_rc();
  fatal_ = false;
  if (writer_conn_->Run(Sql::kBeginImmediate) != SQLITE_OK) {
    return;  // a lock held elsewhere: the next idle moment tries again
  }
  auto indexed = IndexAuditBacklog(kAuditIndexChunk, /*with_group=*/false);
  if (!indexed || fatal_ || writer_conn_->Run(Sql::kCommit) != SQLITE_OK) {
    if (fatal_) {
      sticky_io_ = true;  // as for a group: the disk state is unknown
    }
    if (!sqlite3_get_autocommit(writer_conn_->db())) {
      writer_conn_->Run(Sql::kRollback);
    }
    return;
  }
  audit_unindexed_.erase(audit_unindexed_.begin(),
                         audit_unindexed_.begin() + static_cast<std::ptrdiff_t>(*indexed));
}

Result<void> SqliteStore::FlushAuditIndex() {
  auto done = std::make_shared<std::promise<bool>>();
  std::future<bool> flushed = done->get_future();
  {
    std::lock_guard lock(mu_);
    if (closing_) {
      return Err(errc::kClosed);
    }
    Pending flush;
    flush.index_audit = true;
    flush.done = [done](WriteResult result) { done->set_value(!result.failed_op); };
    queue_.push_back(std::move(flush));
    cv_.notify_one();
  }
  return flushed.get() ? Result<void>() : Result<void>(Err(errc::kIo));
}

// At Close, on the writer thread after the last group: signs the head if records came after the
// last checkpoint.
void SqliteStore::CloseCheckpoint() {
  if (sticky_io_ || !options_.audit_signer || !options_.audit_signer->sign ||
      audit_committed_.seq <= audit_committed_.checkpoint_seq) {
    return;
  }
  audit_ = audit_committed_;
  writer_conn_->clear_failed_rc();
  fatal_ = false;
  if (writer_conn_->Run(Sql::kBeginImmediate) != SQLITE_OK) {
    return;
  }
  auto r = AppendCheckpoint();
  if (r && !fatal_ && writer_conn_->Run(Sql::kCommit) == SQLITE_OK) {
    audit_committed_ = audit_;
    return;
  }
  if (!sqlite3_get_autocommit(writer_conn_->db())) {
    writer_conn_->Run(Sql::kRollback);
  }
  audit_ = audit_committed_;
}

Result<void> SqliteStore::ReplaceIndex(const WriteOp& op, bool insert_new) {
  const std::string_view type(op.type);
  const std::string_view id(op.id);
  {
    sqlite3_stmt* s = writer_conn_->Get(Sql::kDeleteIndex);
    if (!s) {
      return OpFailure(writer_conn_->failed_rc());
    }
    StmtUse use(s);
    use.Bind(1, type);
    use.Bind(2, id);
    if (const int rc = use.Step(); rc != SQLITE_DONE) {
      return OpFailure(rc);
    }
  }
  if (!insert_new) {
    return {};
  }
  return InsertIndexRows(type, id, op.index);
}

Result<void> SqliteStore::InsertIndexRows(std::string_view type, std::string_view id,
                                          const std::vector<fhir::IndexEntry>& index) {
  if (index.empty()) {
    return {};
  }
  sqlite3_stmt* s = writer_conn_->Get(Sql::kInsertIndex);
  if (!s) {
    return OpFailure(writer_conn_->failed_rc());
  }
  for (const fhir::IndexEntry& e : index) {
    StmtUse use(s);
    use.Bind(1, type);
    use.Bind(2, id);
    use.Bind(3, std::string_view(e.param));
    use.Bind(4, std::string_view(e.system));
    use.Bind(5, std::string_view(e.value));
    if (e.type == fhir::ParamType::kDate) {
      use.Bind(6, e.low);
      use.Bind(7, e.high);
    } else {
      use.BindNull(6);
      use.BindNull(7);
    }
    if (const int rc = use.Step(); rc != SQLITE_DONE) {
      return OpFailure(rc);
    }
  }
  return {};
}

Result<void> SqliteStore::InsertAuditIndex(const UnindexedAudit& event) {
  sqlite3_stmt* dates = writer_conn_->Get(Sql::kInsertAuditIndex);
  if (!dates) {
    return OpFailure(writer_conn_->failed_rc());
  }
  for (const fhir::IndexEntry& e : event.dates) {
    StmtUse use(dates);
    use.Bind(1, std::string_view(event.id));
    use.Bind(2, std::string_view(e.param));
    use.Bind(3, std::string_view(e.system));
    use.Bind(4, std::string_view(e.value));
    use.Bind(5, e.low);
    use.Bind(6, e.high);
    if (const int rc = use.Step(); rc != SQLITE_DONE) {
      return OpFailure(rc);
    }
  }
  if (event.terms.empty()) {
    return {};
  }
  sqlite3_stmt* s = writer_conn_->Get(Sql::kInsertAuditTerms);
  if (!s) {
    return OpFailure(writer_conn_->failed_rc());
  }
  StmtUse use(s);
  use.Bind(1, event.seq);
  use.Bind(2, std::string_view(event.terms));
  if (const int rc = use.Step(); rc != SQLITE_DONE) {
    return OpFailure(rc);
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// The outbox (schema migration 3).

constexpr std::int64_t kStatePending = 0;
constexpr std::int64_t kStateDelivered = 1;
constexpr std::int64_t kStateDead = 2;
constexpr std::int64_t kStateStopped = 3;

Delivery DeliveryFromRow(const StmtUse& use) {
  Delivery d;
  d.seq = use.Int(0);
  d.id = use.Text(1);
  d.message.destination = use.Text(2);
  d.message.resource_type = use.Text(3);
  d.message.resource_id = use.Text(4);
  d.message.patient_id = use.Text(5);
  d.message.payload = use.Text(6);
  switch (use.Int(7)) {
    case kStateDelivered:
      d.state = DeliveryState::kDelivered;
      break;
    case kStateDead:
      d.state = DeliveryState::kDead;
      break;
    case kStateStopped:
      d.state = DeliveryState::kStopped;
      break;
    default:
      d.state = DeliveryState::kPending;
  }
  d.attempts = static_cast<int>(use.Int(8));
  d.retries = static_cast<int>(use.Int(9));
  d.next_attempt_ms = use.Int(10);
  d.message.not_before_ms = d.next_attempt_ms;
  d.created_ms = use.Int(11);
  d.updated_ms = use.Int(12);
  d.last_http_status = static_cast<int>(use.Int(13));
  d.last_error = use.Text(14);
  return d;
}

DeliveryAttempt::Outcome OutcomeFromCode(std::string_view code) {
  using O = DeliveryAttempt::Outcome;
  for (O o : {O::kDelivered, O::kRetry, O::kDeadLetter, O::kStopped, O::kAbandoned}) {
    if (ToCode(o) == code) {
      return o;
    }
  }
  return O::kRetry;
}

Result<WriteOutcome> SqliteStore::ApplyOutbox(const WriteOp& op) {
  if (!op.outbox || op.outbox->destination.empty() || op.outbox->resource_id.empty()) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  const OutboxMessage& m = *op.outbox;
  Connection& w = *writer_conn_;
  const std::int64_t now = NowMs();
  sqlite3_stmt* s = w.Get(Sql::kOutboxInsert);
  if (!s) {
    return OpFailure(w.failed_rc());
  }
  StmtUse use(s);
  use.Bind(1, std::string_view(op.id));
  use.Bind(2, std::string_view(m.destination));
  use.Bind(3, std::string_view(op.type));
  use.Bind(4, std::string_view(m.resource_id));
  use.Bind(5, std::string_view(m.patient_id));
  use.Bind(6, std::string_view(m.payload));
  use.Bind(7, std::max(m.not_before_ms, now));
  use.Bind(8, now);
  // outbox.id is UNIQUE: a delivery id used before is a conflict, found by the insert itself.
  if (const int rc = use.Step(); rc == SQLITE_CONSTRAINT_UNIQUE) {
    return Err(errc::kVersionConflict);
  } else if (rc != SQLITE_DONE) {
    return OpFailure(rc);
  }
  WriteOutcome out;
  out.kind = WriteOutcome::Kind::kCreated;
  out.stamp = VersionStamp{op.id, 1, fhir::FormatInstant(now)};
  return out;
}

std::error_code SqliteStore::ApplyJob(const std::function<std::error_code()>& job) {
  if (!RunOnWriter(Sql::kSavepointBatch)) {
    return Err(errc::kIo);
  }
  std::error_code ec;
  try {
    ec = job();
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  if (fatal_) {
    return Err(errc::kIo);
  }
  if (ec && !RunOnWriter(Sql::kRollbackBatch)) {
    return Err(errc::kIo);
  }
  RunOnWriter(Sql::kReleaseBatch);
  return ec;
}

std::error_code SqliteStore::RunJob(std::function<std::error_code()> job) {
  std::promise<std::error_code> done;
  auto result = done.get_future();
  {
    std::lock_guard lock(mu_);
    if (closing_) {
      return Err(errc::kClosed);
    }
    Pending p;
    p.job = std::move(job);
    p.job_done = [&done](std::error_code ec) { done.set_value(ec); };
    queue_.push_back(std::move(p));
    cv_.notify_one();
  }
  return result.get();
}

std::error_code SqliteStore::ClaimOnWriter(const ClaimOptions& options,
                                           std::vector<Delivery>& out) {
  Connection& w = *writer_conn_;
  const std::int64_t now = options.now_ms;
  // Leases that ran out unrecorded (a crash, a worker that stopped mid-attempt): that attempt is
  // recorded as abandoned and the delivery is claimable again.
  std::vector<std::pair<std::int64_t, std::int64_t>> expired;  // (seq, attempt)
  {
    sqlite3_stmt* s = w.Get(Sql::kOutboxExpiredLeases);
    if (!s) {
      return OpFailure(w.failed_rc());
    }
    StmtUse use(s);
    use.Bind(1, now);
    int rc;
    while ((rc = use.Step()) == SQLITE_ROW) {
      expired.emplace_back(use.Int(0), use.Int(1));
    }
    if (rc != SQLITE_DONE) {
      return OpFailure(rc);
    }
  }
  for (const auto& [seq, attempt] : expired) {
    sqlite3_stmt* s = w.Get(Sql::kOutboxAbandonAttempt);
    if (!s) {
      return OpFailure(w.failed_rc());
    }
    {
      StmtUse use(s);
      use.Bind(1, seq);
      use.Bind(2, now);
      if (const int rc = use.Step(); rc != SQLITE_DONE) {
        return OpFailure(rc);
      }
    }
    sqlite3_stmt* u = w.Get(Sql::kOutboxReleaseLease);
    if (!u) {
      return OpFailure(w.failed_rc());
    }
    StmtUse use(u);
    use.Bind(1, seq);
    use.Bind(2, now);
    if (const int rc = use.Step(); rc != SQLITE_DONE) {
      return OpFailure(rc);
    }
  }
  std::vector<std::int64_t> seqs;
  {
    // Due, unleased, first in its resource's queue to this destination, within the destination's
    // in-flight allowance.
    sqlite3_stmt* s = w.Get(Sql::kOutboxDue);
    if (!s) {
      return OpFailure(w.failed_rc());
    }
    StmtUse use(s);
    use.Bind(1, now);
    use.Bind(2, static_cast<std::int64_t>(std::max(1, options.per_destination)));
    use.Bind(3, static_cast<std::int64_t>(std::max(0, options.limit)));
    // {"destination": limit, ...} for json_each.
    fhir::json::Value limits = fhir::json::Value::Object();
    for (const auto& [destination, limit] : options.destination_limits) {
      limits.Set(destination, fhir::json::Value::Number(std::to_string(std::max(1, limit))));
    }
    const std::string limits_json = fhir::json::Write(limits);
    use.Bind(4, std::string_view(limits_json));
    int rc;
    while ((rc = use.Step()) == SQLITE_ROW) {
      seqs.push_back(use.Int(0));
    }
    if (rc != SQLITE_DONE) {
      return OpFailure(rc);
    }
  }
  for (std::int64_t seq : seqs) {
    {
      sqlite3_stmt* s = w.Get(Sql::kOutboxLease);
      if (!s) {
        return OpFailure(w.failed_rc());
      }
      StmtUse use(s);
      use.Bind(1, seq);
      use.Bind(2, now + std::max<std::int64_t>(1, options.lease_ms));
      use.Bind(3, now);
      if (const int rc = use.Step(); rc != SQLITE_DONE) {
        return OpFailure(rc);
      }
    }
    sqlite3_stmt* s = w.Get(Sql::kOutboxBySeq);
    if (!s) {
      return OpFailure(w.failed_rc());
    }
    StmtUse use(s);
    use.Bind(1, seq);
    const int rc = use.Step();
    if (rc != SQLITE_ROW) {
      return OpFailure(rc == SQLITE_DONE ? SQLITE_CORRUPT : rc);
    }
    out.push_back(DeliveryFromRow(use));
  }
  return {};
}

std::error_code SqliteStore::RecordOnWriter(const DeliveryAttempt& a) {
  Connection& w = *writer_conn_;
  std::int64_t seq = 0;
  {
    sqlite3_stmt* s = w.Get(Sql::kOutboxLeaseById);
    if (!s) {
      return OpFailure(w.failed_rc());
    }
    StmtUse use(s);
    use.Bind(1, std::string_view(a.id));
    const int rc = use.Step();
    if (rc == SQLITE_DONE) {
      return Err(errc::kNotFound);
    }
    if (rc != SQLITE_ROW) {
      return OpFailure(rc);
    }
    // Only the holder of the current lease may record: after a lease expired and the delivery
    // was claimed again, the old worker's outcome is stale.
    if (use.Int(1) != kStatePending || use.Int(2) != a.attempt || use.Int(3) == 0) {
      return Err(errc::kVersionConflict);
    }
    seq = use.Int(0);
  }
  using O = DeliveryAttempt::Outcome;
  std::int64_t state = kStatePending;
  switch (a.outcome) {
    case O::kDelivered:
      state = kStateDelivered;
      break;
    case O::kDeadLetter:
      state = kStateDead;
      break;
    case O::kStopped:
      state = kStateStopped;
      break;
    case O::kRetry:
    case O::kAbandoned:
      state = kStatePending;
      break;
  }
  {
    sqlite3_stmt* s = w.Get(Sql::kOutboxInsertAttempt);
    if (!s) {
      return OpFailure(w.failed_rc());
    }
    StmtUse use(s);
    use.Bind(1, seq);
    use.Bind(2, static_cast<std::int64_t>(a.attempt));
    use.Bind(3, a.started_ms);
    use.Bind(4, a.finished_ms);
    use.Bind(5, ToCode(a.outcome));
    use.Bind(6, static_cast<std::int64_t>(a.http_status));
    use.Bind(7, std::string_view(a.error));
    use.Bind(8, a.next_attempt_ms);
    if (const int rc = use.Step(); rc != SQLITE_DONE) {
      return OpFailure(rc);
    }
  }
  sqlite3_stmt* s = w.Get(Sql::kOutboxSetState);
  if (!s) {
    return OpFailure(w.failed_rc());
  }
  StmtUse use(s);
  use.Bind(1, seq);
  use.Bind(2, state);
  use.Bind(3, a.next_attempt_ms);
  use.Bind(4, a.finished_ms);
  use.Bind(5, static_cast<std::int64_t>(a.http_status));
  use.Bind(6, std::string_view(a.error));
  if (const int rc = use.Step(); rc != SQLITE_DONE) {
    return OpFailure(rc);
  }
  return {};
}

Result<WriteOutcome> SqliteStore::ApplyRedrive(const WriteOp& op) {
  const std::int64_t due = op.outbox ? op.outbox->not_before_ms : NowMs();
  if (std::error_code ec = RedriveOnWriter(op.id, due)) {
    return ec;
  }
  WriteOutcome out;
  out.kind = WriteOutcome::Kind::kUpdated;
  out.stamp = VersionStamp{op.id, 0, fhir::FormatInstant(due)};
  return out;
}

std::error_code SqliteStore::RedriveOnWriter(std::string_view id, std::int64_t now_ms) {
  Connection& w = *writer_conn_;
  std::int64_t seq = 0;
  {
    sqlite3_stmt* s = w.Get(Sql::kOutboxStateById);
    if (!s) {
      return OpFailure(w.failed_rc());
    }
    StmtUse use(s);
    use.Bind(1, id);
    const int rc = use.Step();
    if (rc == SQLITE_DONE) {
      return Err(errc::kNotFound);
    }
    if (rc != SQLITE_ROW) {
      return OpFailure(rc);
    }
    if (use.Int(1) != kStateDead && use.Int(1) != kStateStopped) {
      return Err(errc::kVersionConflict);
    }
    seq = use.Int(0);
  }
  sqlite3_stmt* s = w.Get(Sql::kOutboxRedrive);
  if (!s) {
    return OpFailure(w.failed_rc());
  }
  StmtUse use(s);
  use.Bind(1, seq);
  use.Bind(2, now_ms);
  if (const int rc = use.Step(); rc != SQLITE_DONE) {
    return OpFailure(rc);
  }
  return {};
}

std::error_code SqliteStore::ExpediteOnWriter(std::string_view destination, std::int64_t now_ms,
                                              int& changed) {
  Connection& w = *writer_conn_;
  sqlite3_stmt* s = w.Get(Sql::kOutboxExpedite);
  if (!s) {
    return OpFailure(w.failed_rc());
  }
  StmtUse use(s);
  use.Bind(1, destination);
  use.Bind(2, now_ms);
  if (const int rc = use.Step(); rc != SQLITE_DONE) {
    return OpFailure(rc);
  }
  changed = sqlite3_changes(w.db());
  return {};
}

Result<Delivery> SqliteStore::ReadDelivery(std::string_view id) {
  auto conn = readers_.Acquire();
  sqlite3_stmt* s = conn->Get(Sql::kOutboxById);
  if (!s) {
    return conn->Fail(conn->failed_rc());
  }
  StmtUse use(s);
  use.Bind(1, id);
  const int rc = use.Step();
  if (rc == SQLITE_DONE) {
    return Err(errc::kNotFound);
  }
  if (rc != SQLITE_ROW) {
    return conn->Fail(rc);
  }
  return DeliveryFromRow(use);
}

Result<std::vector<Delivery>> SqliteStore::ListDeadLetters(int limit, int offset) {
  auto conn = readers_.Acquire();
  sqlite3_stmt* s = conn->Get(Sql::kOutboxDeadOrStopped);
  if (!s) {
    return conn->Fail(conn->failed_rc());
  }
  StmtUse use(s);
  use.Bind(1, static_cast<std::int64_t>(std::max(0, limit)));
  use.Bind(2, static_cast<std::int64_t>(std::max(0, offset)));
  std::vector<Delivery> out;
  int rc;
  while ((rc = use.Step()) == SQLITE_ROW) {
    out.push_back(DeliveryFromRow(use));
  }
  if (rc != SQLITE_DONE) {
    return conn->Fail(rc);
  }
  return out;
}

Result<std::vector<Delivery>> SqliteStore::ListDeliveries(std::string_view destination,
                                                          std::string_view resource_type,
                                                          std::string_view resource_id) {
  auto conn = readers_.Acquire();
  // outbox_by_resource covers (destination, resource_type, resource_id).
  sqlite3_stmt* s = conn->Get(Sql::kOutboxByResource);
  if (!s) {
    return conn->Fail(conn->failed_rc());
  }
  StmtUse use(s);
  use.Bind(1, destination);
  use.Bind(2, resource_type);
  use.Bind(3, resource_id);
  std::vector<Delivery> out;
  int rc;
  while ((rc = use.Step()) == SQLITE_ROW) {
    out.push_back(DeliveryFromRow(use));
  }
  if (rc != SQLITE_DONE) {
    return conn->Fail(rc);
  }
  return out;
}

Result<std::vector<DeliveryAttempt>> SqliteStore::ListAttempts(std::string_view id) {
  auto conn = readers_.Acquire();
  ReadTxn txn(*conn);
  if (!txn.ok()) {
    return conn->Fail(conn->failed_rc());
  }
  {
    sqlite3_stmt* e = conn->Get(Sql::kOutboxExists);
    if (!e) {
      return conn->Fail(conn->failed_rc());
    }
    StmtUse exists(e);
    exists.Bind(1, id);
    const int rc = exists.Step();
    if (rc == SQLITE_DONE) {
      return Err(errc::kNotFound);
    }
    if (rc != SQLITE_ROW) {
      return conn->Fail(rc);
    }
  }
  sqlite3_stmt* s = conn->Get(Sql::kOutboxAttempts);
  if (!s) {
    return conn->Fail(conn->failed_rc());
  }
  StmtUse use(s);
  use.Bind(1, id);
  std::vector<DeliveryAttempt> out;
  int rc;
  while ((rc = use.Step()) == SQLITE_ROW) {
    DeliveryAttempt a;
    a.id = std::string(id);
    a.attempt = static_cast<int>(use.Int(0));
    a.started_ms = use.Int(1);
    a.finished_ms = use.Int(2);
    a.outcome = OutcomeFromCode(use.Text(3));
    a.http_status = static_cast<int>(use.Int(4));
    a.error = use.Text(5);
    a.next_attempt_ms = use.Int(6);
    out.push_back(std::move(a));
  }
  if (rc != SQLITE_DONE) {
    return conn->Fail(rc);
  }
  return out;
}

}  // namespace

Result<StorePtr> OpenSqliteStore(const SqliteOptions& options) {
  // SQLite's memory statistics take a global mutex on every allocation of every connection; we
  // never read them. Only possible before SQLite initialises (otherwise SQLITE_MISUSE: harmless).
  static std::once_flag configured;
  std::call_once(configured, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  auto store = std::make_unique<SqliteStore>(options);
  if (auto r = store->Init(); !r) {
    return r.error();
  }
  return StorePtr(std::move(store));
}

Result<AuditVerifyReport> VerifySqliteAudit(const SqliteOptions& options) {
  if (options.path.empty()) {
    return Err(errc::kIo);
  }
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(options.path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, DbCloser> db(raw);
  if (rc != SQLITE_OK) {
    return Err(errc::kIo);
  }
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db.get(), "PRAGMA application_id", -1, &s, nullptr) != SQLITE_OK) {
      sqlite3_finalize(s);
      return Err(errc::kIo);
    }
    StmtPtr stmt(s);
    if (sqlite3_step(s) != SQLITE_ROW ||
        sqlite3_column_int64(s, 0) != sqlite_internal::kApplicationId) {
      return Err(errc::kIo);
    }
  }
  if (sqlite3_exec(db.get(), "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return Err(errc::kIo);
  }
  auto report = sqlite_internal::VerifyAuditOn(
      db.get(), options.audit_signer ? &*options.audit_signer : nullptr);
  sqlite3_exec(db.get(), "COMMIT", nullptr, nullptr, nullptr);
  return report;
}

}  // namespace carebridge::store
