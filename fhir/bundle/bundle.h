#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fhir/json/value.h"
#include "fhir/outcome.h"

namespace carebridge::fhir {

struct BundleEntryRequest {
  std::string method;  // GET, POST, PUT, DELETE (PATCH is refused as not supported)
  std::string url;     // relative to the base: "Patient", "Patient/1", "Patient?identifier=x"
  std::string if_match;
  std::string if_none_exist;
  std::string if_none_match;
  std::string if_modified_since;
};

struct BundleEntry {
  std::string full_url;
  std::optional<json::Value> resource;
  BundleEntryRequest request;
};

struct RequestBundle {
  std::string type;  // "batch" or "transaction"
  std::vector<BundleEntry> entries;
};

struct BundleLimits {
  std::size_t max_entries = 1000;
};

// Takes apart a batch/transaction Bundle. Checks: Bundle.type, each entry's request.method and
// url, that a POST/PUT entry has a resource whose type agrees with its url (and, for PUT, whose
// id agrees), that fullUrls are unique. Problems go to `outcome` with expressions such as
// "Bundle.entry[3].request.url". Returns nullopt when `outcome` has errors.
std::optional<RequestBundle> ParseRequestBundle(json::Value&& bundle, const BundleLimits& limits,
                                                Outcome& outcome);

// The order the spec gives for processing a transaction: DELETE, POST, PUT/PATCH, GET (HEAD).
// Returns entry indexes in that order, stable within a method.
std::vector<std::size_t> TransactionOrder(const RequestBundle& bundle);

// Replaces every Reference.reference (anywhere in `resource`, contained resources included)
// and every canonical/uri value that equals a key of `replacements` (e.g. "urn:uuid:...") with
// its value (e.g. "Patient/4f1c..."). Returns how many were replaced.
std::size_t RewriteReferences(json::Value& resource,
                              const std::unordered_map<std::string, std::string>& replacements);

}  // namespace carebridge::fhir
