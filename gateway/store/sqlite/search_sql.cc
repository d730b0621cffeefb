#include "gateway/store/sqlite/search_sql.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string_view>
#include <utility>

#include "gateway/store/sqlite/audit_terms.h"
#include "gateway/store/sqlite/schema.h"

namespace carebridge::store::sqlite_internal {
namespace {

using fhir::ParamType;
using fhir::Prefix;

std::error_code Unsupported() { return make_error_code(errc::kUnsupportedQuery); }

// Columns (or expressions) that hold a target value's precision range [low, high), written as the
// four comparisons the FHIR prefix rules need. A search_index row has real low/high columns; a
// resource's _lastUpdated is an instant of millisecond precision, [ms, ms + 1), and for integer
// ms `ms + 1 > v` is `ms >= v` and `ms + 1 <= v` is `ms < v`, which keeps the index usable.
struct RangeColumns {
  std::string_view low_ge;   // low >= ?
  std::string_view low_lt;   // low < ?
  std::string_view high_gt;  // high > ?
  std::string_view high_le;  // high <= ?
};
constexpr RangeColumns kIndexRange{"s.low >= ?", "s.low < ?", "s.high > ?", "s.high <= ?"};
constexpr RangeColumns kLastUpdatedRange{"r.last_updated_ms >= ?", "r.last_updated_ms < ?",
                                         "r.last_updated_ms >= ?", "r.last_updated_ms < ?"};
// An AuditEvent's recorded instant in its chain record: millisecond precision, as _lastUpdated.
constexpr RangeColumns kRecordedRange{"r.recorded_ms >= ?", "r.recorded_ms < ?",
                                      "r.recorded_ms >= ?", "r.recorded_ms < ?"};

class Builder {
 public:
  std::string& sql() { return sql_; }
  std::vector<SqlValue>& binds() { return binds_; }

  void Add(std::string_view text) { sql_.append(text); }
  // Appends `fragment`, which holds exactly one '?', and binds `value` to it.
  void Add(std::string_view fragment, SqlValue value) {
    sql_.append(fragment);
    binds_.push_back(std::move(value));
  }

 private:
  std::string sql_;
  std::vector<SqlValue> binds_;
};

// FHIR R4 date prefixes (http://hl7.org/fhir/R4/search.html#prefix) over a search range [sl, sh)
// and a target range [tl, th), both half-open:
//   eq  the search range fully contains the target range:        tl >= sl AND th <= sh
//   ne  it does not:                                              NOT eq
//   gt  the range above the search value overlaps the target:     th > sh
//   lt  the range below the search value overlaps the target:     tl < sl
//   ge  gt, or the search range fully contains the target:        th > sh OR eq
//   le  lt, or the search range fully contains the target:        tl < sl OR eq
//   sa  no overlap, and the range above contains the target:      tl >= sh
//   eb  no overlap, and the range below contains the target:      th <= sl
//   ap  the target overlaps the search range widened on each side by 10% of the distance between
//       that bound and now (the spec's recommended approximation): tl < sh' AND th > sl'
// A multi-valued element matches when any of its rows does (FHIR: "any value matches").
void AddDateCondition(Builder& b, const RangeColumns& cols, Prefix prefix, std::int64_t sl,
                      std::int64_t sh, std::int64_t now_ms) {
  auto eq = [&] {
    b.Add("(");
    b.Add(cols.low_ge, sl);
    b.Add(" AND ");
    b.Add(cols.high_le, sh);
    b.Add(")");
  };
  switch (prefix) {
    case Prefix::kEq:
      eq();
      return;
    case Prefix::kNe:
      b.Add("NOT ");
      eq();
      return;
    case Prefix::kGt:
      b.Add(cols.high_gt, sh);
      return;
    case Prefix::kLt:
      b.Add(cols.low_lt, sl);
      return;
    case Prefix::kGe:
      b.Add("(");
      b.Add(cols.high_gt, sh);
      b.Add(" OR ");
      eq();
      b.Add(")");
      return;
    case Prefix::kLe:
      b.Add("(");
      b.Add(cols.low_lt, sl);
      b.Add(" OR ");
      eq();
      b.Add(")");
      return;
    case Prefix::kSa:
      b.Add(cols.low_ge, sh);
      return;
    case Prefix::kEb:
      b.Add(cols.high_le, sl);
      return;
    case Prefix::kAp: {
      const std::int64_t wide_low = sl - std::llabs(now_ms - sl) / 10;
      const std::int64_t wide_high = sh + std::llabs(now_ms - sh) / 10;
      b.Add("(");
      b.Add(cols.low_lt, wide_high);
      b.Add(" AND ");
      b.Add(cols.high_gt, wide_low);
      b.Add(")");
      return;
    }
  }
}

// FHIR number search. eq/ne honour the implicit precision of the search value ("100" matches
// [99.5, 100.5), "1.50" matches [1.495, 1.505)); the other prefixes compare the values; ap is
// within 10% of the search value. Stored values are decimal text, compared as REAL.
bool AddNumberCondition(Builder& b, Prefix prefix, const std::string& text) {
  double v = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  auto [end, ec] = std::from_chars(first, last, v);
  if (ec != std::errc() || end != last || !std::isfinite(v)) {
    return false;
  }
  double half_unit = 0;  // exponent forms: no implicit precision
  if (text.find_first_of("eE") == std::string::npos) {
    const auto dot = text.find('.');
    const int decimals = dot == std::string::npos ? 0 : static_cast<int>(text.size() - dot - 1);
    half_unit = 0.5 * std::pow(10.0, -decimals);
  }
  constexpr std::string_view kCol = "CAST(s.value AS REAL)";
  auto cmp = [&](std::string_view op, double x) {
    b.Add(kCol);
    b.Add(op);
    b.Add("?", x);
  };
  switch (prefix) {
    case Prefix::kEq:
    case Prefix::kNe:
      b.Add(prefix == Prefix::kNe ? "NOT (" : "(");
      cmp(" >= ", v - half_unit);
      b.Add(" AND ");
      cmp(" < ", v + half_unit);
      b.Add(")");
      return true;
    case Prefix::kGt:
    case Prefix::kSa:
      cmp(" > ", v);
      return true;
    case Prefix::kLt:
    case Prefix::kEb:
      cmp(" < ", v);
      return true;
    case Prefix::kGe:
      cmp(" >= ", v);
      return true;
    case Prefix::kLe:
      cmp(" <= ", v);
      return true;
    case Prefix::kAp:
      b.Add("(");
      cmp(" >= ", v - std::fabs(v) / 10);
      b.Add(" AND ");
      cmp(" <= ", v + std::fabs(v) / 10);
      b.Add(")");
      return true;
  }
  return false;
}

// The smallest string greater than every string starting with `prefix` under SQLite's BINARY
// collation (memcmp), or nullopt when there is none (empty prefix, or all bytes 0xFF).
std::optional<std::string> PrefixUpperBound(std::string prefix) {
  while (!prefix.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(prefix.back());
    if (last != 0xFF) {
      ++last;
      return prefix;
    }
    prefix.pop_back();
  }
  return std::nullopt;
}

std::string EscapeLike(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  return out;
}

bool IsResourceTypeName(std::string_view s) {
  return !s.empty() && s.front() >= 'A' && s.front() <= 'Z';
}

// One alternative of an ordinary (search_index) criterion, over the row alias s.
// Returns false when the combination is not supported.
bool AddAlternative(Builder& b, const fhir::SearchCriterion& c, const fhir::SearchValue& v,
                    std::int64_t now_ms) {
  const bool plain_prefix = v.prefix == Prefix::kEq;
  switch (c.type) {
    case ParamType::kToken:
      if (!plain_prefix) {
        return false;
      }
      // nullopt: any system; "": no system; "S" + "": any code of S; else both.
      if (!v.system) {
        b.Add("s.value = ?", v.value);
      } else if (v.system->empty()) {
        b.Add("(s.system = '' AND ");
        b.Add("s.value = ?)", v.value);
      } else if (v.value.empty()) {
        b.Add("s.system = ?", *v.system);
      } else {
        b.Add("(s.system = ?", *v.system);
        b.Add(" AND s.value = ?)", v.value);
      }
      return true;
    case ParamType::kReference: {
      if (!plain_prefix) {
        return false;
      }
      // A type modifier (subject:Patient=123) names the target type like "Patient/123" does.
      std::optional<std::string> target = v.system;
      if (!target && IsResourceTypeName(c.modifier)) {
        target = c.modifier;
      }
      // Without a type, `value = ?` matches both "any type with that id" (rows keep the id in
      // value) and absolute / unresolvable references (rows keep the whole text in value).
      if (target) {
        b.Add("(s.system = ?", *target);
        b.Add(" AND s.value = ?)", v.value);
      } else {
        b.Add("s.value = ?", v.value);
      }
      return true;
    }
    case ParamType::kString:
      if (!plain_prefix) {
        return false;
      }
      // Values are compared as given: the caller normalises them the way IndexEntry rows are.
      if (c.modifier == "exact") {
        b.Add("s.value = ?", v.value);
      } else if (c.modifier == "contains") {
        b.Add("s.value LIKE ? ESCAPE '\\'", "%" + EscapeLike(v.value) + "%");
      } else {
        // Starts-with as a range on the (type, param, value) index; LIKE would not use it.
        auto upper = PrefixUpperBound(v.value);
        if (upper) {
          b.Add("(s.value >= ?", v.value);
          b.Add(" AND s.value < ?)", std::move(*upper));
        } else {
          b.Add("s.value >= ?", v.value);
        }
      }
      return true;
    case ParamType::kUri:
      if (!plain_prefix) {
        return false;
      }
      if (c.modifier == "below") {
        auto upper = PrefixUpperBound(v.value);
        b.Add("(s.value >= ?", v.value);
        if (upper) {
          b.Add(" AND s.value < ?", std::move(*upper));
        }
        b.Add(")");
      } else {
        b.Add("s.value = ?", v.value);
      }
      return true;
    case ParamType::kDate:
      // Only date rows are in the (partial) date index; saying so lets SQLite use it.
      b.Add("(s.low IS NOT NULL AND ");
      AddDateCondition(b, kIndexRange, v.prefix, v.low, v.high, now_ms);
      b.Add(")");
      return true;
    case ParamType::kNumber:
      return AddNumberCondition(b, v.prefix, v.value);
  }
  return false;
}

bool ModifierSupported(const fhir::SearchCriterion& c) {
  const std::string& m = c.modifier;
  if (m.empty()) {
    return true;
  }
  switch (c.type) {
    case ParamType::kToken:
      return m == "not";
    case ParamType::kString:
      return m == "exact" || m == "contains";
    case ParamType::kUri:
      return m == "below";
    case ParamType::kReference:
      return IsResourceTypeName(m);
    case ParamType::kDate:
    case ParamType::kNumber:
      return false;
  }
  return false;
}

// "r.id IN (SELECT s.id FROM search_index s WHERE s.type = ? AND s.param = ?" — the subquery is
// not correlated, so SQLite evaluates it once through the (type, param, value) or (type, param,
// low) index and probes resources_current by primary key.
// AuditEvents' rows are in audit_search, which has no type column.
void OpenIndexSubquery(Builder& b, const std::string& type, const std::string& param, bool negate) {
  b.Add(negate ? "r.id NOT IN (" : "r.id IN (");
  if (type == kAuditEventType) {
    b.Add("SELECT s.id FROM audit_search s WHERE s.param = ?", param);
    return;
  }
  b.Add("SELECT s.id FROM search_index s WHERE s.type = ?", type);
  b.Add(" AND s.param = ?", param);
}

// :missing: missing=true is "no row for the parameter", missing=false "at least one"; `in_rows`
// adds "r.id [NOT] IN (the resources with a row of it)", NOT when its argument says so.
template <typename InRows>
Result<void> AddMissing(Builder& b, const fhir::SearchCriterion& c, InRows in_rows) {
  b.Add("(");
  for (std::size_t i = 0; i < c.any_of.size(); ++i) {
    const std::string& v = c.any_of[i].value;
    if (v != "true" && v != "false") {
      return Unsupported();
    }
    b.Add(i == 0 ? "" : " OR ");
    in_rows(v == "true");
  }
  b.Add(")");
  return {};
}

// "r.seq [NOT] IN (the AuditEvents whose document matches `match`)": the FTS query runs once and
// its rowids are chain seqs.
void AddAuditTermsSubquery(Builder& b, bool negate, std::string match) {
  b.Add(negate ? "r.seq NOT IN (" : "r.seq IN (");
  b.Add("SELECT rowid FROM audit_terms WHERE audit_terms MATCH ?)", std::move(match));
}

std::string Quoted(const std::string& term) { return '"' + term + '"'; }

// An AuditEvent token or reference criterion: its alternatives are terms of audit_terms (see
// audit_terms.h), OR'ed in one MATCH. Each alternative picks the term that the ordinary rows'
// condition in AddAlternative would have matched.
Result<void> AddAuditTermCriterion(Builder& b, const fhir::SearchCriterion& c, const TermKey& key) {
  if (c.modifier == "missing") {
    return AddMissing(b, c, [&](bool negate) {
      AddAuditTermsSubquery(b, negate, Quoted(PresentTerm(key, c.param)));
    });
  }
  if (!ModifierSupported(c) || (c.type != ParamType::kToken && c.type != ParamType::kReference)) {
    return Unsupported();
  }
  std::string match;
  for (const fhir::SearchValue& v : c.any_of) {
    if (v.prefix != Prefix::kEq) {
      return Unsupported();
    }
    std::string term;
    if (c.type == ParamType::kToken) {
      if (!v.system) {
        term = AnySystemTerm(key, c.param, v.value);
      } else if (!v.system->empty() && v.value.empty()) {
        term = SystemTerm(key, c.param, *v.system);
      } else {
        term = ExactTerm(key, c.param, *v.system, v.value);
      }
    } else {
      std::optional<std::string> target = v.system;
      if (!target && IsResourceTypeName(c.modifier)) {
        target = c.modifier;
      }
      term =
          target ? ExactTerm(key, c.param, *target, v.value) : AnySystemTerm(key, c.param, v.value);
    }
    match += match.empty() ? "" : " OR ";
    match += Quoted(term);
  }
  AddAuditTermsSubquery(b, c.modifier == "not", std::move(match));
  return {};
}

// A date criterion on a column of the row itself: its values OR'ed.
void AddColumnDateCriterion(Builder& b, const RangeColumns& cols, const fhir::SearchCriterion& c,
                            std::int64_t now_ms) {
  b.Add("(");
  for (std::size_t i = 0; i < c.any_of.size(); ++i) {
    const fhir::SearchValue& v = c.any_of[i];
    b.Add(i == 0 ? "" : " OR ");
    AddDateCondition(b, cols, v.prefix, v.low, v.high, now_ms);
  }
  b.Add(")");
}

// "r.id [NOT] IN (the resources with an index row of c.param matching one of c's values)".
Result<void> AddIndexRowsCriterion(Builder& b, const std::string& type,
                                   const fhir::SearchCriterion& c, bool negate,
                                   std::int64_t now_ms) {
  OpenIndexSubquery(b, type, c.param, negate);
  b.Add(" AND (");
  for (std::size_t i = 0; i < c.any_of.size(); ++i) {
    b.Add(i == 0 ? "" : " OR ");
    if (!AddAlternative(b, c, c.any_of[i], now_ms)) {
      return Unsupported();
    }
  }
  b.Add("))");
  return {};
}

// An AuditEvent's recorded instant: in its chain record (recorded_ms), or for records older than
// migration 11 (and any instant of another precision) a row of audit_search.
Result<void> AddAuditRecordedCriterion(Builder& b, const fhir::SearchCriterion& c,
                                       std::int64_t now_ms) {
  const std::string param(kAuditRecordedParam);
  if (c.modifier == "missing") {
    return AddMissing(b, c, [&](bool negate) {
      b.Add(negate ? "(r.recorded_ms IS NULL AND " : "(r.recorded_ms IS NOT NULL OR ");
      OpenIndexSubquery(b, std::string(kAuditEventType), param, negate);
      b.Add("))");
    });
  }
  if (!ModifierSupported(c)) {
    return Unsupported();
  }
  b.Add("(");
  AddColumnDateCriterion(b, kRecordedRange, c, now_ms);
  b.Add(" OR ");
  if (auto r = AddIndexRowsCriterion(b, std::string(kAuditEventType), c, /*negate=*/false, now_ms);
      !r) {
    return r;
  }
  b.Add(")");
  return {};
}

Result<void> AddCriterion(Builder& b, const std::string& type, const fhir::SearchCriterion& c,
                          std::int64_t now_ms, const TermKey& key) {
  if (c.any_of.empty()) {
    return Unsupported();
  }
  if (c.param == "_id") {
    if (!c.modifier.empty() && c.modifier != "not") {
      return Unsupported();
    }
    b.Add(c.modifier == "not" ? "r.id NOT IN (" : "r.id IN (");
    for (std::size_t i = 0; i < c.any_of.size(); ++i) {
      b.Add(i == 0 ? "?" : ", ?", c.any_of[i].value);
    }
    b.Add(")");
    return {};
  }
  if (c.param == "_lastUpdated") {
    if (!c.modifier.empty()) {
      return Unsupported();
    }
    AddColumnDateCriterion(b, kLastUpdatedRange, c, now_ms);
    return {};
  }
  if (type == kAuditEventType && c.type != ParamType::kDate) {
    return AddAuditTermCriterion(b, c, key);
  }
  if (type == kAuditEventType && c.param == kAuditRecordedParam) {
    return AddAuditRecordedCriterion(b, c, now_ms);
  }
  if (c.modifier == "missing") {
    return AddMissing(b, c, [&](bool negate) {
      OpenIndexSubquery(b, type, c.param, negate);
      b.Add(")");
    });
  }
  if (!ModifierSupported(c)) {
    return Unsupported();
  }
  // :not is the complement of the match, so it includes resources without the element.
  return AddIndexRowsCriterion(b, type, c, c.modifier == "not", now_ms);
}

// With criteria, the unary + keeps SQLite from walking the (type, last_updated_ms) index in order
// and testing every resource of the type against the criteria: it then drives from the criteria's
// IN lists through the primary key and sorts the matches, which is bounded by the matches rather
// than by the size of the type. Without criteria the ordered index walk is the right plan.
std::string_view LastUpdatedSortColumn(bool has_criteria) {
  return has_criteria ? "+r.last_updated_ms" : "r.last_updated_ms";
}

Result<void> AddSortKey(Builder& b, const std::string& type, const fhir::SortKey& key,
                        bool has_criteria) {
  const char* dir = key.descending ? " DESC" : " ASC";
  if (key.param == "_lastUpdated") {
    b.Add(LastUpdatedSortColumn(has_criteria));
  } else if (key.param == "_id") {
    b.Add("r.id");
  } else {
    // A multi-valued element sorts by its smallest value ascending and its largest descending;
    // resources without the element come last either way.
    const char* agg = key.descending ? "MAX(" : "MIN(";
    std::string_view col;
    switch (key.type) {
      case ParamType::kDate:
        col = key.descending ? "s.high" : "s.low";
        break;
      case ParamType::kNumber:
        col = "CAST(s.value AS REAL)";
        break;
      case ParamType::kToken:
      case ParamType::kString:
      case ParamType::kReference:
      case ParamType::kUri:
        col = "s.value";
        break;
    }
    // audit_search indexes (id, param) for date rows only: its other rows would be found by a
    // scan per matching event, so AuditEvents sort by date, _lastUpdated and _id only.
    const bool audit = type == kAuditEventType;
    if (audit && key.type != ParamType::kDate) {
      return Unsupported();
    }
    // The chain record's recorded instant first: [ms, ms + 1), so its low and its high.
    const bool recorded = audit && key.param == kAuditRecordedParam;
    if (recorded) {
      b.Add(key.descending ? "COALESCE(r.recorded_ms + 1, " : "COALESCE(r.recorded_ms, ");
    }
    b.Add("(SELECT ");
    b.Add(agg);
    b.Add(col);
    b.Add(audit ? ") FROM audit_search s WHERE s.id = r.id"
                : ") FROM search_index s WHERE s.type = r.type AND s.id = r.id");
    b.Add(key.type == ParamType::kDate ? " AND s.low IS NOT NULL AND s.param = ?)"
                                       : " AND s.param = ?)",
          key.param);
    if (recorded) {
      b.Add(")");
    }
    b.Add(dir);
    b.Add(" NULLS LAST");
    return {};
  }
  b.Add(dir);
  return {};
}

// The rows a search or history of `type` reads, as resource_versions' columns (and an AuditEvent's
// chain seq): AuditEvents live in their chain records alone (migration 9). SQLite flattens the
// subquery, so the chain's indexes serve it.
std::string VersionRows(const std::string& type) {
  if (type == kAuditEventType) {
    return std::string(kAuditEventVersions);
  }
  return "resource_versions";
}

}  // namespace

Result<SearchSql> BuildSearchSql(const fhir::SearchQuery& query, std::int64_t now_ms,
                                 const TermKey& audit_terms_key) {
  if (query.type.empty() || query.count < 0 || query.offset < 0) {
    return Unsupported();
  }
  Builder where;
  where.Add("r.type = ?", query.type);
  where.Add(" AND r.deleted = 0");
  for (const fhir::SearchCriterion& c : query.all_of) {
    where.Add(" AND (");
    if (auto r = AddCriterion(where, query.type, c, now_ms, audit_terms_key); !r) {
      return r.error();
    }
    where.Add(")");
  }

  Builder order;
  const bool has_criteria = !query.all_of.empty();
  if (query.sort.empty()) {
    order.Add(LastUpdatedSortColumn(has_criteria));
    order.Add(" DESC");
  }
  for (std::size_t i = 0; i < query.sort.size(); ++i) {
    order.Add(i == 0 ? "" : ", ");
    if (auto r = AddSortKey(order, query.type, query.sort[i], has_criteria); !r) {
      return r.error();
    }
  }
  order.Add(", r.id ASC");  // ids are unique per type: a total, repeatable order for paging

  const std::string from =
      (query.type == kAuditEventType ? VersionRows(query.type) : "resources_current") + " r";
  SearchSql out;
  out.count.sql = "SELECT COUNT(*) FROM " + from + " WHERE " + where.sql();
  out.count.binds = where.binds();
  out.page.sql = "SELECT r.id, r.version FROM " + from + " WHERE " + where.sql() + " ORDER BY " +
                 order.sql() + " LIMIT ? OFFSET ?";
  out.page.binds = std::move(where.binds());
  for (SqlValue& v : order.binds()) {
    out.page.binds.push_back(std::move(v));
  }
  return out;
}

Result<HistorySql> BuildHistorySql(const HistoryQuery& query) {
  if (query.count < 0 || query.offset < 0 || (query.id && query.type.empty())) {
    return Unsupported();
  }
  Builder where;
  where.Add("1");
  if (!query.type.empty()) {
    where.Add(" AND type = ?", query.type);
  } else {
    // The system history is of resources: the audit log is searched and exported on its own.
    where.Add(" AND type <> ?", std::string(kAuditEventType));
  }
  if (query.id) {
    where.Add(" AND id = ?", *query.id);
  }
  if (query.since_ms) {
    where.Add(" AND last_updated_ms >= ?", *query.since_ms);
  }
  HistorySql out;
  const std::string from = VersionRows(query.type);
  out.count.sql = "SELECT COUNT(*) FROM " + from + " WHERE " + where.sql();
  out.count.binds = where.binds();
  // last_updated_ms never decreases across writes, but writes in one millisecond share it: among
  // those, the order they were written in (rows are appended, and records chained, in commit
  // order).
  const std::string_view write_order = query.type == kAuditEventType ? "seq" : "rowid";
  out.page.sql =
      "SELECT type, id, version, last_updated, deleted, json, patient_id, meta_source, "
      "consent_facts FROM " +
      from + " WHERE " + where.sql() + " ORDER BY last_updated_ms DESC, " +
      std::string(write_order) + " DESC LIMIT ? OFFSET ?";
  out.page.binds = std::move(where.binds());
  return out;
}

}  // namespace carebridge::store::sqlite_internal
