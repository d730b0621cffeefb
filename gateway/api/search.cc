// Search and history interactions: searchset and history Bundles, assembled as text around the
// stored JSON of each resource so that no stored resource is parsed again on the way out.

#include "fhir/search/search.h"

#include <algorithm>
#include <set>

#include "gateway/api/fhir_api_impl.h"
#include "gateway/api/formats.h"
#include "gateway/api/responses.h"
#include "gateway/consent/consent.h"
#include "gateway/consent/sensitivity.h"

namespace carebridge::api {

using fhir::IssueType;

namespace {

// Query parameters that shape the page rather than select resources; paging links rebuild them.
bool IsPagingParam(std::string_view name) { return name == "_offset" || name == "_count"; }

std::string PageUrl(const std::string& path, const QueryParams& params, int offset, int count) {
  std::string url = path + "?";
  for (const auto& [name, value] : params) {
    if (IsPagingParam(name)) {
      continue;
    }
    url += PercentEncode(name) + "=" + PercentEncode(value) + "&";
  }
  url += "_count=" + std::to_string(count);
  if (offset > 0) {
    url += "&_offset=" + std::to_string(offset);
  }
  return url;
}

void AppendLink(std::string& out, bool& first, std::string_view relation, const std::string& url) {
  out += first ? "" : ",";
  first = false;
  out += R"({"relation":)";
  AppendJsonString(out, relation);
  out += R"(,"url":)";
  AppendJsonString(out, url);
  out += "}";
}

// `more`: a next page exists.
void AppendLinks(std::string& out, const std::string& path, const QueryParams& params, int offset,
                 int count, bool more) {
  out += R"(,"link":[)";
  bool first = true;
  AppendLink(out, first, "self", PageUrl(path, params, offset, count));
  if (count > 0) {
    AppendLink(out, first, "first", PageUrl(path, params, 0, count));
    if (offset > 0) {
      AppendLink(out, first, "previous", PageUrl(path, params, std::max(0, offset - count), count));
    }
    if (more) {
      AppendLink(out, first, "next", PageUrl(path, params, offset + count, count));
    }
  }
  out += "]";
}

// `total` is left out when the gateway cannot give it without telling what the partner may not
// see (FHIR makes Bundle.total optional).
void AppendBundleHead(std::string& out, std::string_view type, std::optional<std::int64_t> total) {
  out += R"({"resourceType":"Bundle","id":")";
  out += NewUuid();
  out += R"(","meta":{"lastUpdated":")";
  out += NowInstant();
  out += R"("},"type":")";
  out += type;
  out += "\"";
  if (total) {
    out += R"(,"total":)";
    out += std::to_string(*total);
  }
}

// Types that hold no patient's data: their search needs no consent decisions.
bool HoldsNoPatientData(std::string_view type) {
  return type == "Organization" || type == "Endpoint" || type == "HealthcareService" ||
         type == "Questionnaire" || type == "ConceptMap" || type == "Consent" ||
         type == "AuditEvent";
}

// The searchset entries and the OperationOutcome that carries the 42 CFR Part 2 re-disclosure
// notice when Part 2 data is among them.
void AppendSearchEntries(std::string& body, const std::string& base,
                         const std::vector<const store::ResourceVersion*>& entries, bool notice) {
  if (entries.empty() && !notice) {
    return;
  }
  body += R"(,"entry":[)";
  bool first = true;
  for (const store::ResourceVersion* entry : entries) {
    body += first ? "" : ",";
    first = false;
    body += R"({"fullUrl":)";
    AppendJsonString(body, base + "/" + entry->type + "/" + entry->id);
    body += R"(,"resource":)";
    body += entry->json;
    body += R"(,"search":{"mode":"match"}})";
  }
  if (notice) {
    body += first ? "" : ",";
    body += R"({"resource":{"resourceType":"OperationOutcome","issue":[{"severity":"information",)"
            R"("code":"informational","details":{"coding":[{"system":)";
    AppendJsonString(body, consent::kActCodeSystem);
    body += R"(,"code":"42CFRPart2"}],"text":"42 CFR Part 2 re-disclosure notice"},)"
            R"("diagnostics":)";
    AppendJsonString(body, consent::kRedisclosureNotice);
    body += R"(}]},"search":{"mode":"outcome"}})";
  }
  body += "]";
}

HttpResponse BundleResponse(std::string body) {
  HttpResponse response;
  response.headers.emplace_back("content-type", std::string(kFhirJsonType));
  response.body = std::move(body);
  return response;
}

std::optional<int> ParseNonNegative(std::string_view text) {
  if (text.empty() || text.size() > 9) {
    return std::nullopt;
  }
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + (c - '0');
  }
  return value;
}

}  // namespace

net::awaitable<HttpResponse> FhirApi::Impl::Search(ExchangePtr ex, std::string type,
                                                   QueryParams params) {
  fhir::Outcome outcome;
  auto query = fhir::ParseSearchQuery(type, params, config.fhir.search, outcome);
  if (!query) {
    co_return OutcomeResponse(400, outcome);
  }
  if (!ex->addressed_to.empty()) {
    // Confined partners search only what is addressed to them, whatever they asked for.
    QueryParams confinement = {{std::string(AddressedParam(type)), ex->addressed_to}};
    auto confined = fhir::ParseSearchQuery(type, confinement, config.fhir.search, outcome);
    if (!confined) {
      co_return OutcomeResponse(500, outcome);
    }
    query->all_of.insert(query->all_of.end(), confined->all_of.begin(), confined->all_of.end());
  }
  auto page = co_await OnPool([this, &query] { return store.Search(*query); });
  if (!page) {
    co_return ErrorResponse(page.error(), "The search could not be run");
  }
  const std::string path = ex->base + "/" + type;
  std::string body;
  if (HoldsNoPatientData(type)) {
    std::vector<const store::ResourceVersion*> entries;
    std::size_t estimate = 512;
    for (const auto& entry : page->entries) {
      entries.push_back(&entry);
      estimate += entry.json.size() + ex->base.size() + 96;
    }
    body.reserve(estimate);
    AppendBundleHead(body, "searchset", page->total);
    AppendLinks(body, path, params, query->offset, query->count,
                query->offset + query->count < page->total);
    std::vector<store::ResourceVersion> mapped;
    ToDialect(*ex, entries, mapped);
    AppendSearchEntries(body, ex->base, entries, false);
    body += "}";
    co_return BundleResponse(std::move(body));
  }

  // Patient data: consent decides entry by entry, and neither the page nor `total` nor the paging
  // links may show that withheld entries exist. Up to kWholeResult matches, the whole result is
  // decided and paged as the partner sees it. Beyond that the requested store page is filtered
  // and `total` is left out.
  constexpr std::int64_t kWholeResult = 1000;
  const int offset = query->offset;
  const int count = query->count;
  std::vector<store::ResourceVersion> all;
  bool whole = page->total <= kWholeResult;
  if (whole) {
    if (offset == 0 && !query->total_only &&
        static_cast<std::int64_t>(page->entries.size()) == page->total) {
      all = std::move(page->entries);
    } else {
      fhir::SearchQuery everything = *query;
      everything.offset = 0;
      everything.count = static_cast<int>(kWholeResult);
      everything.total_only = false;
      auto full = co_await OnPool([this, &everything] { return store.Search(everything); });
      if (!full) {
        co_return ErrorResponse(full.error(), "The search could not be run");
      }
      all = std::move(full->entries);
    }
  } else {
    all = std::move(page->entries);
  }
  std::vector<const store::ResourceVersion*> candidates;
  candidates.reserve(all.size());
  for (const auto& entry : all) {
    candidates.push_back(&entry);
  }
  ReleaseDecision release = co_await Release(ex, candidates);
  std::vector<std::size_t> visible;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (release.released[i]) {
      visible.push_back(i);
    }
  }
  // The page, in visible terms when the whole result was decided.
  std::size_t first = 0;
  std::size_t last = visible.size();
  if (whole) {
    first = std::min<std::size_t>(static_cast<std::size_t>(offset), visible.size());
    last = query->total_only ? first : std::min(visible.size(), first + count);
  }
  std::vector<const store::ResourceVersion*> entries;
  std::vector<std::size_t> covered(visible.begin() + first, visible.begin() + last);
  bool notice = false;
  for (std::size_t i : covered) {
    entries.push_back(candidates[i]);
    notice = notice || release.notice[i];
  }
  // Withheld entries are audited once, with the first page the result is formed on.
  if (offset == 0) {
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      if (!release.released[i] && !release.records[i].empty()) {
        covered.push_back(i);
      }
    }
  }
  RecordRelease(*ex, release, covered);
  if (whole) {
    AppendBundleHead(body, "searchset", static_cast<std::int64_t>(visible.size()));
    AppendLinks(body, path, params, offset, count, last < visible.size());
  } else {
    AppendBundleHead(body, "searchset", std::nullopt);
    AppendLinks(body, path, params, offset, count, offset + count < page->total);
  }
  std::vector<store::ResourceVersion> mapped;
  ToDialect(*ex, entries, mapped);
  AppendSearchEntries(body, ex->base, entries, notice);
  body += "}";
  co_return BundleResponse(std::move(body));
}

net::awaitable<HttpResponse> FhirApi::Impl::History(ExchangePtr ex, std::string type,
                                                    std::string id) {
  store::HistoryQuery query;
  query.type = type;
  if (!id.empty()) {
    query.id = id;
  }
  query.count = config.fhir.search.default_count;
  for (const auto& [name, value] : ex->target.query) {
    if (name == "_count" || name == "_offset") {
      auto number = ParseNonNegative(value);
      if (!number) {
        co_return ErrorResponse(400, IssueType::kInvalid, name + " must be a non-negative integer",
                                name);
      }
      if (name == "_count") {
        query.count = std::min(*number, config.fhir.search.max_count);
      } else {
        query.offset = *number;
      }
    } else if (name == "_since") {
      auto range = fhir::DateRange(value);
      if (!range || value.find('T') == std::string::npos) {
        co_return ErrorResponse(400, IssueType::kInvalid,
                                "_since must be an instant such as 2026-01-01T00:00:00Z", name);
      }
      query.since_ms = range->first;
    } else if (name != "_format" && name != "_pretty") {
      co_return ErrorResponse(
          400, IssueType::kNotSupported,
          "Unsupported _history parameter '" + name + "'; supported: _count, _offset, _since",
          name);
    }
  }
  if (!ex->addressed_to.empty() && !id.empty()) {
    auto current = co_await OnPool([this, &type, &id] { return store.Read(type, id); });
    if (!current || !StoredIsAddressedTo(*ex, type, current->json)) {
      co_return ErrorResponse(404, IssueType::kNotFound, type + "/" + id + " is not known");
    }
  }
  auto page = co_await OnPool([this, &query] { return store.History(query); });
  if (!page) {
    co_return ErrorResponse(page.error(), "The history could not be read");
  }
  std::string path = ex->base;
  if (!type.empty()) {
    path += "/" + type;
  }
  if (!id.empty()) {
    path += "/" + id;
  }
  path += "/_history";
  // Consent decides on every version shown. A deletion carries no data to decide on: it is shown
  // when the partner may see another version of the same resource on this page, or the type
  // holds no patient data.
  std::vector<const store::ResourceVersion*> stored;
  for (const auto& entry : page->entries) {
    if (!entry.deleted) {
      stored.push_back(&entry);
    }
  }
  ReleaseDecision release = co_await Release(ex, stored);
  std::vector<std::size_t> covered;
  std::set<std::string> visible_resources;
  std::set<const store::ResourceVersion*> released;
  bool notice = false;
  for (std::size_t i = 0; i < stored.size(); ++i) {
    covered.push_back(i);
    if (release.released[i]) {
      released.insert(stored[i]);
      visible_resources.insert(stored[i]->type + "/" + stored[i]->id);
      notice = notice || release.notice[i];
    }
  }
  RecordRelease(*ex, release, covered);
  std::vector<const store::ResourceVersion*> shown;
  for (const auto& entry : page->entries) {
    if (entry.deleted ? (HoldsNoPatientData(entry.type) ||
                         visible_resources.count(entry.type + "/" + entry.id) > 0)
                      : released.count(&entry) > 0) {
      shown.push_back(&entry);
    }
  }
  const bool complete = shown.size() == page->entries.size();
  std::optional<std::int64_t> total;
  if (complete) {
    total = page->total;
  } else if (query.offset == 0 && page->total <= query.count) {
    total = static_cast<std::int64_t>(shown.size());
  }
  std::vector<store::ResourceVersion> mapped;
  ToDialect(*ex, shown, mapped);
  std::string body;
  AppendBundleHead(body, "history", total);
  AppendLinks(body, path, ex->target.query, query.offset, query.count,
              query.offset + query.count < page->total);
  if (!shown.empty()) {
    body += R"(,"entry":[)";
    bool first = true;
    for (const store::ResourceVersion* version : shown) {
      const store::ResourceVersion& entry = *version;
      body += first ? "" : ",";
      first = false;
      std::string relative = entry.type + "/" + entry.id;
      body += R"({"fullUrl":)";
      AppendJsonString(body, ex->base + "/" + relative);
      if (!entry.deleted) {
        body += R"(,"resource":)";
        body += entry.json;
      }
      std::string_view method = entry.deleted ? "DELETE" : entry.version == 1 ? "POST" : "PUT";
      body += R"(,"request":{"method":")";
      body += method;
      body += R"(","url":)";
      AppendJsonString(body, method == "POST" ? entry.type : relative);
      body += R"(},"response":{"status":)";
      AppendJsonString(body, StatusLine(entry.deleted ? 204 : entry.version == 1 ? 201 : 200));
      body += R"(,"etag":)";
      AppendJsonString(body, "W/\"" + std::to_string(entry.version) + "\"");
      body += R"(,"lastModified":)";
      AppendJsonString(body, entry.last_updated);
      body += "}}";
    }
    body += "]";
  }
  body += "}";
  HttpResponse response = BundleResponse(std::move(body));
  if (notice) {
    AddRedisclosureNotice(response);
  }
  co_return response;
}

}  // namespace carebridge::api
