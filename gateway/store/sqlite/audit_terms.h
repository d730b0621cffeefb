#pragma once

// The AuditEvent search index as one full-text document per event (migration 7). Internal to the
// SQLite backend.
//
// An audited request writes one to three AuditEvents of ~15 token and reference rows each. As rows
// of a B-tree (audit_search, migration 6) each cost an insert of its own and dirtied index pages
// that every commit and checkpoint wrote again: about a third of the CPU of a read under consent.
// In an FTS5 table an event is one document of terms, buffered in memory until its transaction
// commits and written as compact posting lists, so the rows of a whole group cost about one
// insert. Dates stay rows of audit_search, which range conditions and sorting need.
//
// A term names (parameter, system, value) exactly: 32 hex digits of a keyed hash (two SipHash-2-4
// under a 256-bit key made at random per database, kept in audit_terms_key), so nobody who lacks
// the key can make two values share a term; an unkeyed hash would let a crafted value add events
// to another value's search results. Each row becomes four terms, one per way a criterion can
// match it (see search_sql.cc):
//   exact        param + system + value   token system|code, reference Type/id or absolute URL
//   any-system   param + value            token code, reference id
//   system-only  param + system           token system|   (only when the row has a system)
//   present      param                    :missing

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fhir/search/search.h"

namespace carebridge::store::sqlite_internal {

// What a term names (see the list above); its value is the first byte the term hashes.
enum class TermKind : char { kExact = 'e', kAnySystem = 'v', kSystem = 's', kPresent = 'p' };

struct TermKey {
  std::array<std::uint64_t, 4> words{};
  // From the 32 bytes of audit_terms_key.key; false when it has another size.
  bool Load(std::string_view bytes);
};

// SipHash-2-4 (Aumasson and Bernstein) with the 128-bit key (k0, k1).
std::uint64_t SipHash24(std::uint64_t k0, std::uint64_t k1, std::string_view data);

std::string ExactTerm(const TermKey& key, std::string_view param, std::string_view system,
                      std::string_view value);
std::string AnySystemTerm(const TermKey& key, std::string_view param, std::string_view value);
std::string SystemTerm(const TermKey& key, std::string_view param, std::string_view system);
std::string PresentTerm(const TermKey& key, std::string_view param);

// The four (or three) terms of one row, space-separated (the migration's SQL function).
std::string RowTerms(const TermKey& key, std::string_view param, std::string_view system,
                     std::string_view value);

// Makes the FTS document of an event: the terms of its rows other than dates (the system-only
// term for tokens only, the present term once per parameter). Most rows repeat from event to event
// (the gateway, the partner, the outcome, the codes), so their terms are remembered: hashing every
// term again cost ~15 µs an event. Any thread: the store makes each event's document on the thread
// that hands it the write, so that its single writer only inserts it.
class DocumentTermsMaker {
 public:
  explicit DocumentTermsMaker(const TermKey& key) : key_(key) {}
  std::string Make(const std::vector<fhir::IndexEntry>& index);

 private:
  static constexpr std::size_t kMaxRemembered = 8192;
  const std::string& Remembered(TermKind kind, std::string_view param, std::string_view system,
                                std::string_view value);

  TermKey key_;
  std::mutex mu_;
  std::string lookup_;  // GUARDED_BY(mu_); reused: kind, then the length-prefixed parts
  std::unordered_map<std::string, std::string> remembered_;  // GUARDED_BY(mu_)
};

// Registers carebridge_audit_terms(key, param, system, value) -> RowTerms on `db`, for the
// migration that moves the rows already in audit_search.
int RegisterAuditTermsFunction(sqlite3* db);

}  // namespace carebridge::store::sqlite_internal
