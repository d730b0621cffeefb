#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fhir/json/value.h"
#include "fhir/outcome.h"

namespace carebridge::fhir {

enum class ParamType { kToken, kReference, kDate, kString, kUri, kNumber };

// One search parameter of one resource type, as the FHIR R4 spec defines it, restricted to the
// element paths we index. Paths are dotted element names below the resource ("subject",
// "effective" for choice types effective[x], "code.coding" is not used: CodeableConcepts are
// indexed whole).
struct SearchParamDef {
  std::string_view name;
  ParamType type;
  std::vector<std::string_view> paths;
  // For reference parameters restricted to one target (e.g. `patient` -> "Patient"); else empty.
  std::string_view target_type;
};

// All search parameters of `type` that carebridge supports, including the common ones
// (_id, _lastUpdated, identifier where the type has it). Empty for unsupported types.
std::span<const SearchParamDef> ParamsFor(std::string_view type);
const SearchParamDef* FindParam(std::string_view type, std::string_view name);

// One row of the search index for the current version of a resource.
//  token:     system (may be empty) + value (the code / identifier value)
//  reference: system = target resource type ("Patient"), value = id; absolute or unresolvable
//             references keep system empty and the whole reference text in value
//  string:    value normalised for matching (lower-cased ASCII, accents kept)
//  uri:       value as is
//  date:      [low, high) in milliseconds since the Unix epoch, UTC, with the implicit precision
//             range of the stored value (2024-01 covers the whole month)
//  number:    value is the decimal text; low is unused
struct IndexEntry {
  std::string param;
  ParamType type = ParamType::kToken;
  std::string system;
  std::string value;
  std::int64_t low = 0;
  std::int64_t high = 0;

  friend bool operator==(const IndexEntry&, const IndexEntry&) = default;
};

// Index rows for `resource` of `type` under every parameter of ParamsFor(type). _id and
// _lastUpdated are not emitted: the store keeps them as columns.
std::vector<IndexEntry> ExtractIndex(std::string_view type, const json::Value& resource);

// The rows ExtractIndex makes of one value, for code that composes a resource as text and knows
// its rows without a tree (the AuditEvent builders): a Reference.reference under `param`
// (nullopt when empty, or not of `target_type` when one is given), and a date, dateTime or
// instant (nullopt when it is not one).
std::optional<IndexEntry> ReferenceIndexEntry(std::string_view param, std::string_view reference,
                                              std::string_view target_type = {});
std::optional<IndexEntry> DateIndexEntry(std::string_view param, std::string_view date);

enum class Prefix { kEq, kNe, kGt, kLt, kGe, kLe, kSa, kEb, kAp };

struct SearchValue {
  Prefix prefix = Prefix::kEq;
  // Tokens: nullopt = any system ("code"), "" = no system ("|code"), else the system
  // ("system|code", or "system|" with empty value meaning any code in that system).
  // References: the target type when the value was "Type/id", else nullopt.
  std::optional<std::string> system;
  std::string value;
  // Dates: the search value's own precision range [low, high), epoch milliseconds UTC.
  std::int64_t low = 0;
  std::int64_t high = 0;
};

// One parameter of the query; its values are alternatives (comma = OR). Criteria are ANDed.
struct SearchCriterion {
  std::string param;  // "_id", "_lastUpdated" or a name from ParamsFor(type)
  ParamType type = ParamType::kToken;
  std::string modifier;  // "", "exact", "contains", "missing", "not", "text"...
  std::vector<SearchValue> any_of;
};

struct SortKey {
  std::string param;  // "_id", "_lastUpdated" or a date/string/token param of the type
  ParamType type = ParamType::kDate;
  bool descending = false;
};

struct SearchQuery {
  std::string type;
  std::vector<SearchCriterion> all_of;
  std::vector<SortKey> sort;  // empty = _lastUpdated descending, then _id
  int count = 20;             // page size, 0..max
  int offset = 0;
  bool total_only = false;  // _summary=count
};

struct SearchLimits {
  int default_count = 20;
  int max_count = 1000;
  std::size_t max_values_per_param = 100;
};

// Parses query-string pairs (already percent-decoded) into a query for `type`. Unknown or
// unsupported parameters and malformed values are errors in `outcome` (strict handling, as
// Prefer: handling=strict); result parameters (_count, _sort, _summary, _offset, _format,
// _pretty, _elements) are understood. Returns nullopt when `outcome` has errors.
std::optional<SearchQuery> ParseSearchQuery(
    std::string_view type, const std::vector<std::pair<std::string, std::string>>& params,
    const SearchLimits& limits, Outcome& outcome);

// FHIR date/dateTime/instant text to its precision range [low, high) in epoch ms UTC.
// Dates without a time zone are taken as UTC. Returns nullopt for malformed text.
std::optional<std::pair<std::int64_t, std::int64_t>> DateRange(std::string_view text);

// Epoch milliseconds as a FHIR instant in UTC with milliseconds: 2026-11-22T10:00:00.123Z
// (what meta.lastUpdated and AuditEvent.recorded carry). DateRange reads it back exactly.
std::string FormatInstant(std::int64_t epoch_ms);

}  // namespace carebridge::fhir
