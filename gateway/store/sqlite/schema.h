#pragma once

// The SQLite schema as an ordered list of migrations. PRAGMA user_version records the last one
// applied; OpenSqliteStore applies the missing ones at open, each in its own transaction.
//
// Never edit a migration that has shipped: append a new one. The audit log and the outbox arrive
// as migrations 2 and 3; their rows are written by the writer thread inside the same savepoint as
// the resource change they belong to (see ApplyOp in sqlite_store.cc).

#include <iterator>

namespace carebridge::store::sqlite_internal {

struct Migration {
  int version;
  const char* sql;
};

// 'CRBG': marks the file as a carebridge database (PRAGMA application_id).
inline constexpr int kApplicationId = 0x43524247;

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
};

inline constexpr int kLatestSchemaVersion = kMigrations[std::size(kMigrations) - 1].version;

}  // namespace carebridge::store::sqlite_internal
