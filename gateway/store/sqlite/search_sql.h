#pragma once

// Internal to the SQLite backend: turns a SearchQuery / HistoryQuery into SQL text plus the values
// to bind, in order. Every value the caller supplies is bound as a parameter; only fixed fragments
// chosen by this code are ever spliced into the SQL text, so a query can never inject SQL.

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "fhir/base/result.h"
#include "fhir/search/search.h"
#include "gateway/store/sqlite/audit_terms.h"
#include "gateway/store/store.h"

namespace carebridge::store::sqlite_internal {

using SqlValue = std::variant<std::int64_t, double, std::string>;

struct SqlText {
  std::string sql;
  std::vector<SqlValue> binds;  // for ?1, ?2... in the order they appear in `sql`
};

// A search over resources_current r. `count` yields one integer; `page` yields (r.id, r.version)
// rows in the query's sort order and ends with "LIMIT ? OFFSET ?" whose two values are NOT in
// `page.binds`: the caller appends them (the writer runs the same SQL with its own limit).
struct SearchSql {
  SqlText count;
  SqlText page;
};

// errc::kUnsupportedQuery for criteria the store cannot evaluate (unknown modifiers, prefixes on
// types without order, empty alternatives, negative paging, missing type).
// `now_ms` anchors the 10% widening of `ap` on dates; `audit_terms_key` makes the terms of
// AuditEvent criteria (audit_terms.h).
Result<SearchSql> BuildSearchSql(const fhir::SearchQuery& query, std::int64_t now_ms,
                                 const TermKey& audit_terms_key);

// A history query over resource_versions. `page` yields (type, id, version, last_updated,
// deleted, json, patient_id, meta_source) newest first and, like SearchSql::page, ends with "LIMIT
// ? OFFSET ?" unbound.
struct HistorySql {
  SqlText count;
  SqlText page;
};
Result<HistorySql> BuildHistorySql(const HistoryQuery& query);

}  // namespace carebridge::store::sqlite_internal
