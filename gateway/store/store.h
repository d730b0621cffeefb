#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "fhir/base/result.h"
#include "fhir/json/value.h"
#include "fhir/resource/resource.h"
#include "fhir/search/search.h"

namespace carebridge::store {

enum class errc {
  kNotFound = 1,      // no such resource / version
  kGone,              // the current (or requested) version is a delete
  kVersionConflict,   // If-Match did not name the current version
  kMultipleMatches,   // conditional create matched more than one resource
  kUnsupportedQuery,  // a criterion the backend cannot evaluate
  kIo,                // the database failed; after a failed commit every later write fails
  kClosed,            // the store is shutting down
};
const std::error_category& store_category();
std::error_code make_error_code(errc e);

// A stored version of a resource. `json` is empty for a delete.
struct ResourceVersion {
  std::string type;
  std::string id;
  std::int64_t version = 0;
  std::string last_updated;  // FHIR instant, UTC with milliseconds: 2026-11-22T10:00:00.123Z
  bool deleted = false;
  std::string json;
  // What a release decision needs first, kept beside the JSON when the version was written (see
  // WriteOp) so that a partner reading what it wrote need not parse it: the patient the resource
  // belongs to ("" for none) and its meta.source ("" for none). nullopt: not known (versions
  // written before schema 8), parse `json`.
  std::optional<std::string> patient_id;
  std::optional<std::string> meta_source;
  // What the consent engine reads from the resource (consent::DataItem::Facts), when its writer
  // kept it (schema 10 on); nullopt: parse `json`.
  std::optional<std::string> consent_facts;
};

struct VersionStamp {
  std::string id;
  std::int64_t version = 0;
  std::string last_updated;
};

// ---- Outbox: durable delivery of referrals to agencies (gateway/delivery) ----------------------
//
// A delivery is queued by a kOutbox WriteOp in the same transaction as the referral, then claimed
// by the delivery worker, attempted, and recorded. States: pending -> delivered | dead (the dead
// letter: a permanent error or too many attempts) | stopped (the consent re-check refused it);
// an admin re-drive puts a dead or stopped delivery back to pending with a fresh retry budget.
// Deliveries of one resource to one destination go in queue order: a later one is not claimed
// while an earlier one is pending.

struct OutboxMessage {
  std::string destination;    // the agency's partner id
  std::string resource_type;  // what is delivered ("Task"); the WriteOp's type
  std::string resource_id;
  std::string patient_id;  // whose data it is: consent is checked again before every send
  std::string payload;     // optional snapshot; empty: built from the stored resources at send time
  std::int64_t not_before_ms = 0;  // first attempt not before this time (0: at once)
};

enum class DeliveryState { kPending, kDelivered, kDead, kStopped };
std::string_view ToCode(DeliveryState state);  // "pending", "delivered", "dead", "stopped"

struct Delivery {
  std::string id;  // the idempotency key
  std::int64_t seq = 0;
  OutboxMessage message;
  DeliveryState state = DeliveryState::kPending;
  // Attempts ever started (a claim starts one); an attempt's number is attempts at its claim.
  int attempts = 0;
  int retries = 0;  // attempts since queued or last re-driven: what the retry budget counts
  std::int64_t next_attempt_ms = 0;
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
  int last_http_status = 0;  // 0: none yet, or no HTTP response
  std::string last_error;
};

struct ClaimOptions {
  std::int64_t now_ms = 0;
  int limit = 32;  // deliveries per claim
  // At most this many deliveries per destination in flight (leased) at once, so one slow or
  // failing agency never takes every slot.
  int per_destination = 4;
  // Destinations with their own allowance in flight instead of per_destination (at least 1).
  std::vector<std::pair<std::string, int>> destination_limits;
  std::int64_t lease_ms = 60'000;  // a claim not recorded by then is abandoned and claimable again
};

struct DeliveryAttempt {
  enum class Outcome { kDelivered, kRetry, kDeadLetter, kStopped, kAbandoned };
  std::string id;   // the delivery
  int attempt = 0;  // Delivery::attempts as claimed
  std::int64_t started_ms = 0;
  std::int64_t finished_ms = 0;
  Outcome outcome = Outcome::kRetry;
  int http_status = 0;               // 0: no response (connect failure, timeout...)
  std::string error;                 // what went wrong, for people
  std::int64_t next_attempt_ms = 0;  // kRetry: when to try again
};
std::string_view ToCode(DeliveryAttempt::Outcome outcome);  // "delivered", "retry", ...

struct WriteOp {
  // kAudit: appends an AuditEvent to the tamper-evident audit log. `type` must be "AuditEvent",
  // `id` a new id, `index` its search rows and `render` its JSON; the store saves it as version 1
  // of a normal resource (so read and search see it) and, in the same savepoint, appends a record
  // to the hash chain over exactly the JSON stored. Put audit ops in the same (atomic) batch as the
  // data change they record: they commit together or not at all. An existing id is
  // kVersionConflict. The outcome is kCreated.
  //
  // kOutbox: queues `outbox` for durable delivery (see "Outbox" below). `type` is the delivered
  // resource's type, `id` the delivery's id (also its idempotency key: a new UUID); index and
  // render are unused. Put it in the same atomic batch as the resource it delivers, so that the
  // referral and its delivery commit together or not at all. An existing id is kVersionConflict.
  // The outcome is kCreated with version 1.
  //
  // kRedrive: puts the dead or stopped delivery `id` back to pending with a fresh retry budget,
  // due at `outbox->not_before_ms` (the rest of `outbox` is unused; no `outbox`: due now). `type`
  // is unused. Put it in the same atomic batch as what the re-drive changes (the Task put back,
  // the AuditEvent). kNotFound for an unknown delivery, kVersionConflict when it is pending or
  // delivered. The outcome is kUpdated with version 0.
  enum class Kind { kCreate, kUpdate, kDelete, kAudit, kOutbox, kRedrive };
  Kind kind = Kind::kCreate;
  std::string type;
  std::string id;                        // always set: the API assigns server ids for creates
  std::optional<std::int64_t> if_match;  // update/delete: the version the caller last saw
  std::optional<fhir::SearchQuery> if_none_exist;  // create: conditional create criteria
  std::vector<fhir::IndexEntry> index;  // search rows of the new version (not for deletes)
  // Produces the JSON to store for the version the store assigns (the API stamps meta with it).
  // Runs on the writer thread inside the transaction; must not block. Not used for deletes.
  std::function<std::string(const VersionStamp&)> render;
  // Stored beside the version (ResourceVersion::patient_id, meta_source); ResourceOp sets them.
  std::optional<std::string> patient_id;
  std::optional<std::string> meta_source;
  // Stored beside the version (ResourceVersion::consent_facts); the API sets them.
  std::optional<std::string> consent_facts;
  std::optional<OutboxMessage> outbox;  // kOutbox only
};

struct WriteOutcome {
  enum class Kind { kCreated, kUpdated, kDeleted, kExisting, kAlreadyDeleted };
  Kind kind = Kind::kCreated;
  VersionStamp stamp;
  std::string json;  // the stored JSON (for kExisting: the existing resource's)
};

struct WriteBatch {
  std::vector<WriteOp> ops;
  // true: all ops commit together or none (a transaction Bundle, a single request).
  // false: each op stands alone (a batch Bundle); a failing op does not undo the others.
  bool atomic = true;
};

struct WriteResult {
  // One entry per op, in op order. With an atomic batch either every entry holds a value, or the
  // first failing op holds its error and the others hold errc::kNotFound-free placeholders: use
  // `failed_op` to find the culprit.
  std::vector<Result<WriteOutcome>> ops;
  std::optional<std::size_t> failed_op;
};

using WriteCallback = std::function<void(WriteResult)>;

struct SearchPage {
  std::int64_t total = 0;
  std::vector<ResourceVersion> entries;  // the page, in the query's sort order
};

struct HistoryQuery {
  std::string type;                      // empty: whole-system history
  std::optional<std::string> id;         // set: instance history
  std::optional<std::int64_t> since_ms;  // _since, epoch ms
  int count = 20;
  int offset = 0;
};

// Signs and checks audit checkpoints: the store's audit log is a hash chain, and every so often
// (and at Close) the writer signs the latest hash so that a rewritten chain cannot be passed off as
// the original (gateway/audit/checkpoint_signer.h provides the ECDSA P-256 implementation, and
// gateway/audit/store_signer.h adapts it to this struct). Plain functions keep the store free of
// any dependency on gateway/audit. Both may be called from any store thread; neither may block
// for long.
struct AuditSigner {
  std::string key_id;  // names the key; stored with each checkpoint
  // Signs `message`; empty when unset (verification only: no checkpoints are written).
  std::function<Result<std::string>(std::string_view message)> sign;
  // True when `signature` is this key's signature of `message`.
  std::function<bool(std::string_view message, std::string_view signature)> verify;
};

// What VerifyAudit found. The chain holds when `ok`; otherwise `broken_seq` (and `broken_id` when
// the record exists) name the first record at which it breaks, and `reason` says how.
struct AuditVerifyReport {
  bool ok = true;
  std::int64_t records = 0;      // chain records checked
  std::int64_t checkpoints = 0;  // checkpoint signatures checked
  std::int64_t broken_seq = 0;   // 0 when ok, or when the fault is not about one record
  std::string broken_id;         // the AuditEvent id of the broken record, when known
  std::string reason;
  std::string last_hash_hex;  // the hash at the end of the checked chain (lower-case hex)
};

// The storage contract. Implementations are thread-safe.
class Store {
 public:
  virtual ~Store() = default;

  // Queues `batch` for the writer, which group-commits concurrent batches in one durable
  // transaction (each batch in its own savepoint). `done` runs on the writer thread after the
  // commit is durable (or failed) and must not block.
  virtual void Write(WriteBatch batch, WriteCallback done) = 0;

  // Blocking reads; call them from a blocking-work thread, never from an I/O thread.
  virtual Result<ResourceVersion> Read(std::string_view type, std::string_view id) = 0;
  virtual Result<ResourceVersion> ReadVersion(std::string_view type, std::string_view id,
                                              std::int64_t version) = 0;
  virtual Result<SearchPage> Search(const fhir::SearchQuery& query) = 0;
  // Versions newest first; `total` counts all versions matching.
  virtual Result<SearchPage> History(const HistoryQuery& query) = 0;

  // A number that changes whenever a committed write touched a resource of `type`, bumped after
  // the commit is visible to reads and before the write is acknowledged: a cache of something
  // derived from `type`'s resources, filled after reading the number, is current while the number
  // stays the same. nullopt when the backend cannot tell (another process may write): no caching.
  virtual std::optional<std::uint64_t> TypeGeneration(std::string_view /*type*/) {
    return std::nullopt;
  }

  // Walks the whole audit log in order: recomputes each record's hash from the previous hash and
  // its canonical JSON, checks that the AuditEvent resource still holds exactly that JSON, and
  // checks every checkpoint's hash and signature. Blocking, O(records): call it from a
  // blocking-work thread. A failing walk is a report with ok = false; the error is for I/O.
  // Backends without an audit log answer std::errc::operation_not_supported.
  virtual Result<AuditVerifyReport> VerifyAudit() {
    return std::make_error_code(std::errc::operation_not_supported);
  }

  // Outbox (see above). Claims and records go through the writer's group commit and return once
  // durable: blocking, call them from a blocking-work thread (never from a Write callback, which
  // runs on the writer). Backends without an outbox answer std::errc::operation_not_supported.
  //
  // Claims due deliveries (pending, next attempt <= now, not leased), oldest first within the
  // per-destination limit: each starts an attempt (attempts and retries + 1) and is leased until
  // now + lease_ms. A lease that expired unrecorded is recorded as an abandoned attempt first.
  virtual Result<std::vector<Delivery>> ClaimDeliveries(const ClaimOptions& /*options*/) {
    return std::make_error_code(std::errc::operation_not_supported);
  }
  // Records the outcome of a claimed attempt and moves the delivery on (delivered, back to pending
  // at next_attempt_ms, dead, stopped). kVersionConflict when the attempt is not the delivery's
  // current lease (it expired and was claimed again), kNotFound for an unknown delivery.
  virtual Result<void> RecordAttempt(const DeliveryAttempt& /*attempt*/) {
    return std::make_error_code(std::errc::operation_not_supported);
  }
  // Pending deliveries to `destination` due after `now_ms` become due at `now_ms` (the agency
  // answers again: its backlog need not wait out the backoff). Returns how many.
  virtual Result<int> Expedite(std::string_view /*destination*/, std::int64_t /*now_ms*/) {
    return std::make_error_code(std::errc::operation_not_supported);
  }
  // Blocking reads.
  virtual Result<Delivery> ReadDelivery(std::string_view /*id*/) {
    return std::make_error_code(std::errc::operation_not_supported);
  }
  // The deliveries an admin may re-drive, dead or stopped, oldest first (the dead letter).
  virtual Result<std::vector<Delivery>> ListDeadLetters(int /*limit*/, int /*offset*/) {
    return std::make_error_code(std::errc::operation_not_supported);
  }
  // The deliveries of one resource to one destination, in queue order (a referral's timeline).
  virtual Result<std::vector<Delivery>> ListDeliveries(std::string_view /*destination*/,
                                                       std::string_view /*resource_type*/,
                                                       std::string_view /*resource_id*/) {
    return std::make_error_code(std::errc::operation_not_supported);
  }
  // Every recorded attempt of a delivery, oldest first.
  virtual Result<std::vector<DeliveryAttempt>> ListAttempts(std::string_view /*id*/) {
    return std::make_error_code(std::errc::operation_not_supported);
  }

  // Completes queued writes, then stops the writer. Later writes fail with errc::kClosed.
  virtual void Close() = 0;
};
using StorePtr = std::unique_ptr<Store>;

// Helpers over the contract, shared by every caller so that none writes them again.

// A write of `resource` as type/id (its id member set to `id`), with its search rows and meta
// stamped by the version the store assigns. The one way a FHIR resource becomes a WriteOp. The
// JSON is written here, on the caller's thread: the store's writer only splices meta in.
WriteOp ResourceOp(WriteOp::Kind kind, std::string type, std::string id,
                   fhir::json::Value resource);

// The same for a resource already written as unstamped JSON (the AuditEvent builders compose
// theirs as text), with `index` its search rows.
WriteOp RenderedOp(WriteOp::Kind kind, std::string type, std::string id, fhir::UnstampedJson json,
                   std::vector<fhir::IndexEntry> index);

// Store::Write, waiting until the batch is durable (or failed). Blocking: start-up code and
// blocking-pool threads only, never an I/O thread.
WriteResult WriteAndWait(Store& store, WriteBatch batch);

// A dead or stopped delivery back to pending, due at `now_ms`, with a fresh retry budget: a
// batch of one kRedrive op. kNotFound for an unknown id, kVersionConflict when it is pending or
// delivered. Blocking. (gateway/delivery/redrive.h re-drives a referral with its Task.)
Result<void> Redrive(Store& store, std::string_view id, std::int64_t now_ms);

// Every version of type/id, oldest first (deletions included), read page by page. Blocking.
Result<std::vector<ResourceVersion>> AllVersions(Store& store, std::string_view type,
                                                 std::string_view id);

// The Consent resources of Patient/<patient_id> as stored (every status: the consent engine
// decides which count), at most `max`. Blocking.
Result<std::vector<fhir::json::Value>> PatientConsents(Store& store, std::string_view patient_id,
                                                       int max);

}  // namespace carebridge::store

template <>
struct std::is_error_code_enum<carebridge::store::errc> : std::true_type {};
