#pragma once

// The SQLite schema as an ordered list of migrations. PRAGMA user_version records the last one
// applied; OpenSqliteStore applies the missing ones at open, each in its own transaction.
//
// Never edit a migration that has shipped: append a new one. (Migration 1's comment says that
// last_updated_ms strictly increases; since schema 11 it only never decreases: writes in one
// millisecond share it, and history orders them by version, type and id.) The audit log is
// migration 2, the outbox migration 5; their rows are written by the writer thread inside the same
// savepoint as the resource change they belong to (see ApplyOp in sqlite_store.cc).

#include <iterator>
#include <string_view>

namespace carebridge::store::sqlite_internal {

struct Migration {
  int version;
  const char* sql;
};

// The one type whose search rows live apart from search_index: its dates in audit_search (migration
// 6), its tokens and references as terms in audit_terms (migration 7).
inline constexpr std::string_view kAuditEventType = "AuditEvent";

// The AuditEvent search parameter of its recorded instant: from migration 11 on, a column of its
// chain record (audit_chain.recorded_ms) when the instant has millisecond precision, as every
// event the gateway writes has; otherwise, and in older records, a row of audit_search.
inline constexpr std::string_view kAuditRecordedParam = "date";

// 'CRBG': marks the file as a carebridge database (PRAGMA application_id).
inline constexpr int kApplicationId = 0x43524247;

// Where AuditEvents live: in audit_chain alone from migration 9 on (canonical = the served JSON).
// Before it, in resource_versions as well, and canonical was '' in records written from
// carebridge 0.2 to migration 9 (the hash covered resource_versions.json).
inline constexpr int kAuditInChainSchemaVersion = 9;
// The chain's records as resource_versions' rows (and each record's seq and recorded_ms), for the
// reads, searches and histories of AuditEvent. SQLite flattens it, so the chain's indexes serve.
inline constexpr std::string_view kAuditEventVersions =
    "(SELECT seq, 'AuditEvent' AS type, id, 1 AS version, last_updated_ms, last_updated, "
    "0 AS deleted, canonical AS json, NULL AS patient_id, NULL AS meta_source, "
    "NULL AS consent_facts, recorded_ms FROM audit_chain)";
inline constexpr Migration kMigrations[] = {
    {1, R"sql(
-- Every version of every resource, deletes included (deleted = 1, json = '').
-- last_updated_ms is strictly increasing across all writes, which gives history a total order.
CREATE TABLE resource_versions (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  last_updated_ms INTEGER NOT NULL,
  last_updated TEXT NOT NULL,
  deleted INTEGER NOT NULL,
  json TEXT NOT NULL,
  PRIMARY KEY (type, id, version)
) STRICT;
CREATE INDEX resource_versions_by_time ON resource_versions (last_updated_ms);
CREATE INDEX resource_versions_by_type_time ON resource_versions (type, last_updated_ms);

-- The current version of each resource: one primary-key probe answers "read" and "what is the
-- current version" for the writer.
CREATE TABLE resources_current (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  last_updated_ms INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  PRIMARY KEY (type, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX resources_current_by_time ON resources_current (type, last_updated_ms);

-- Search rows of the current version of each non-deleted resource (fhir::IndexEntry).
-- low/high: a date's precision range [low, high) in epoch ms; NULL for other parameter types.
CREATE TABLE search_index (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  param TEXT NOT NULL,
  system TEXT NOT NULL,
  value TEXT NOT NULL,
  low INTEGER,
  high INTEGER
) STRICT;
-- token / string / reference / uri: WHERE type = ? AND param = ? AND value = ? (id covered).
CREATE INDEX search_index_by_value ON search_index (type, param, value, system, id);
-- dates: range conditions on low, then high (id covered).
CREATE INDEX search_index_by_date ON search_index (type, param, low, high, id);
-- replacing a resource's rows, and sorting by a parameter (correlated on type, id, param).
CREATE INDEX search_index_by_resource ON search_index (type, id, param);
)sql"},
    {2, R"sql(
-- The tamper-evident audit log: one record per AuditEvent, in commit order.
--   hash = SHA-256(prev_hash || canonical), prev_hash of record 1 = 32 zero bytes,
--   canonical = the AuditEvent's stored JSON, byte for byte (resource_versions.json, version 1).
-- Verification recomputes every hash and compares canonical with the stored resource, so an edit
-- to either table, or a deleted record, shows at the record where it happened.
CREATE TABLE audit_chain (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  prev_hash BLOB NOT NULL,
  hash BLOB NOT NULL,
  canonical TEXT NOT NULL
) STRICT;
-- Each AuditEvent is chained once; verification also finds AuditEvents planted beside the chain.
CREATE UNIQUE INDEX audit_chain_by_id ON audit_chain (id);

-- Signed chain heads: signature over "carebridge-audit-checkpoint:<seq>:<hex hash>" by the
-- gateway's audit key (key_id names it).
CREATE TABLE audit_checkpoints (
  seq INTEGER PRIMARY KEY,
  hash BLOB NOT NULL,
  signature BLOB NOT NULL,
  key_id TEXT NOT NULL,
  created TEXT NOT NULL
) STRICT;

-- Append-only, as far as SQLite can say so: an edit needs these triggers dropped first (and then
-- verification catches it).
CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON resource_versions
  WHEN old.type = 'AuditEvent'
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON resource_versions
  WHEN old.type = 'AuditEvent'
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
)sql"},
    {3, R"sql(
-- Most search rows are tokens, strings and references, whose low/high are NULL: keeping them out
-- of the date index saves a B-tree insert per row on every write (an audited read writes ~15).
DROP INDEX search_index_by_date;
CREATE INDEX search_index_by_date ON search_index (type, param, low, high, id)
  WHERE low IS NOT NULL;
)sql"},
    {4, R"sql(
-- AuditEvents are chained in their request's transaction and indexed for search afterwards, in
-- batches; indexed_seq is the last chain record whose search rows are in search_index.
CREATE TABLE audit_index_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  indexed_seq INTEGER NOT NULL
) STRICT;
INSERT INTO audit_index_state (id, indexed_seq)
  SELECT 1, COALESCE(MAX(seq), 0) FROM audit_chain;
)sql"},
    {5, R"sql(
-- The outbox: referral deliveries to agencies, written in the same transaction as the referral
-- (WriteOp kOutbox) and worked off by the delivery worker. seq is queue order; id is the
-- delivery's idempotency key. state: 0 pending, 1 delivered, 2 dead (the dead letter), 3 stopped
-- (consent refused at send time). A claim starts an attempt (attempts + 1) and leases the row
-- until lease_until_ms; 0 = not leased.
CREATE TABLE outbox (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  destination TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  resource_id TEXT NOT NULL,
  patient_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  state INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  retries INTEGER NOT NULL,
  next_attempt_ms INTEGER NOT NULL,
  lease_until_ms INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  last_http_status INTEGER NOT NULL,
  last_error TEXT NOT NULL
) STRICT;
-- Claims: pending rows by due time.
CREATE INDEX outbox_due ON outbox (state, next_attempt_ms, seq);
-- Queue order per resource and destination, and in-flight counts per destination.
CREATE INDEX outbox_by_resource ON outbox (destination, resource_type, resource_id, state, seq);

-- Every attempt of every delivery (attempt = outbox.attempts when it was claimed).
CREATE TABLE outbox_attempts (
  seq INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  started_ms INTEGER NOT NULL,
  finished_ms INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  http_status INTEGER NOT NULL,
  error TEXT NOT NULL,
  next_attempt_ms INTEGER NOT NULL,
  PRIMARY KEY (seq, attempt)
) STRICT;
)sql"},
    {6, R"sql(
-- AuditEvent search rows get a table of their own. AuditEvents are append-only, so their rows are
-- never replaced and need no (type, id) index: a token row costs one B-tree insert here instead of
-- three (table, value index, resource index) in search_index, and an audited read writes ~45.
-- Duplicate rows of one event (two agents with the same reference) collapse on the key.
CREATE TABLE audit_search (
  param TEXT NOT NULL,
  value TEXT NOT NULL,
  system TEXT NOT NULL,
  id TEXT NOT NULL,
  low INTEGER,
  high INTEGER,
  PRIMARY KEY (param, value, system, id)
) STRICT, WITHOUT ROWID;
-- dates: range conditions, and sorting by date (correlated on id, param).
CREATE INDEX audit_search_by_date ON audit_search (param, low, high, id) WHERE low IS NOT NULL;
CREATE INDEX audit_search_date_of ON audit_search (id, param, low, high) WHERE low IS NOT NULL;
INSERT OR IGNORE INTO audit_search (param, value, system, id, low, high)
  SELECT param, value, system, id, low, high FROM search_index WHERE type = 'AuditEvent';
DELETE FROM search_index WHERE type = 'AuditEvent';
)sql"},
    {7, R"sql(
-- AuditEvent token and reference rows become one FTS5 document of terms per event (rowid =
-- audit_chain.seq); see audit_terms.h. Dates stay in audit_search. The key makes terms
-- unforgeable; it never leaves the database.
CREATE TABLE audit_terms_key (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  key BLOB NOT NULL
) STRICT;
INSERT INTO audit_terms_key (id, key) VALUES (1, randomblob(32));
CREATE VIRTUAL TABLE audit_terms USING fts5(
  terms, content='', columnsize=0, detail=none, tokenize='ascii');
INSERT INTO audit_terms (rowid, terms)
  SELECT c.seq, group_concat(carebridge_audit_terms(k.key, s.param, s.system, s.value), ' ')
  FROM audit_search s JOIN audit_chain c ON c.id = s.id, audit_terms_key k
  WHERE s.low IS NULL
  GROUP BY c.seq;
DELETE FROM audit_search WHERE low IS NULL;
)sql"},
    {8, R"sql(
-- What a release decision needs first, beside each version written from now on: the patient the
-- resource belongs to ('' for none) and its meta.source ('' for none). NULL in older rows: the
-- reader parses the JSON for them.
ALTER TABLE resource_versions ADD COLUMN patient_id TEXT;
ALTER TABLE resource_versions ADD COLUMN meta_source TEXT;
)sql"},
    {9, R"sql(
-- AuditEvents live in their chain record alone: canonical holds the JSON the API serves and the
-- hash covers, and the record its lastUpdated. Before, each event was also version 1 of a
-- resource (resource_versions, resources_current): three tables and eight B-trees per event, and
-- an audited read writes three events.
DROP TRIGGER audit_chain_no_update;
DROP TRIGGER audit_events_no_delete;
ALTER TABLE audit_chain ADD COLUMN last_updated_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_chain ADD COLUMN last_updated TEXT NOT NULL DEFAULT '';
UPDATE audit_chain SET
  canonical = COALESCE((SELECT v.json FROM resource_versions v WHERE v.type = 'AuditEvent'
                        AND v.id = audit_chain.id AND v.version = 1), canonical),
  last_updated_ms = COALESCE((SELECT v.last_updated_ms FROM resource_versions v
                              WHERE v.type = 'AuditEvent' AND v.id = audit_chain.id
                              AND v.version = 1), 0),
  last_updated = COALESCE((SELECT v.last_updated FROM resource_versions v
                           WHERE v.type = 'AuditEvent' AND v.id = audit_chain.id
                           AND v.version = 1), '');
-- Only chained events move: anything else of type AuditEvent was planted beside the chain and
-- stays where verification reports it.
DELETE FROM resources_current WHERE type = 'AuditEvent' AND version = 1
  AND id IN (SELECT id FROM audit_chain);
DELETE FROM resource_versions WHERE type = 'AuditEvent' AND version = 1
  AND id IN (SELECT id FROM audit_chain);
CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON resource_versions
  WHEN old.type = 'AuditEvent'
  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
-- _lastUpdated criteria and the default newest-first order of AuditEvent searches.
CREATE INDEX audit_chain_by_time ON audit_chain (last_updated_ms);
)sql"},
    {10, R"sql(
-- Beside each version written from now on: what the consent engine reads from the resource
-- (consent::DataItem::Facts), so that a release decision parses a few hundred bytes instead of
-- the resource. NULL in older rows and where the writer kept none: the reader parses the JSON.
ALTER TABLE resource_versions ADD COLUMN consent_facts TEXT;
)sql"},
    {11, R"sql(
-- An AuditEvent's recorded instant in its chain record: one append to an index of the chain, in
-- the request's transaction, instead of a row of audit_search (three B-trees) indexed after it.
-- NULL in older records, whose date stays in audit_search.
ALTER TABLE audit_chain ADD COLUMN recorded_ms INTEGER;
CREATE INDEX audit_chain_by_recorded ON audit_chain (recorded_ms) WHERE recorded_ms IS NOT NULL;
)sql"},
};

inline constexpr int kLatestSchemaVersion = kMigrations[std::size(kMigrations) - 1].version;

}  // namespace carebridge::store::sqlite_internal
