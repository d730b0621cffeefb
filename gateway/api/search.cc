// Search and history interactions: searchset and history Bundles, assembled as text around the
// stored JSON of each resource so that no stored resource is parsed again on the way out.

#include "fhir/search/search.h"

#include <algorithm>

#include "gateway/api/fhir_api_impl.h"
#include "gateway/api/formats.h"
#include "gateway/api/responses.h"

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

void AppendLinks(std::string& out, const std::string& path, const QueryParams& params, int offset,
                 int count, std::int64_t total) {
  out += R"(,"link":[)";
  bool first = true;
  AppendLink(out, first, "self", PageUrl(path, params, offset, count));
  if (count > 0) {
    AppendLink(out, first, "first", PageUrl(path, params, 0, count));
    if (offset > 0) {
      AppendLink(out, first, "previous", PageUrl(path, params, std::max(0, offset - count), count));
    }
    if (offset + count < total) {
      AppendLink(out, first, "next", PageUrl(path, params, offset + count, count));
    }
  }
  out += "]";
}

void AppendBundleHead(std::string& out, std::string_view type, std::int64_t total) {
  out += R"({"resourceType":"Bundle","id":")";
  out += NewUuid();
  out += R"(","meta":{"lastUpdated":")";
  out += NowInstant();
  out += R"("},"type":")";
  out += type;
  out += R"(","total":)";
  out += std::to_string(total);
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
  std::string body;
  std::size_t estimate = 512;
  for (const auto& entry : page->entries) {
    estimate += entry.json.size() + ex->base.size() + 96;
  }
  body.reserve(estimate);
  AppendBundleHead(body, "searchset", page->total);
  AppendLinks(body, ex->base + "/" + type, params, query->offset, query->count, page->total);
  if (!page->entries.empty()) {
    body += R"(,"entry":[)";
    bool first = true;
    for (const auto& entry : page->entries) {
      body += first ? "" : ",";
      first = false;
      body += R"({"fullUrl":)";
      AppendJsonString(body, ex->base + "/" + entry.type + "/" + entry.id);
      body += R"(,"resource":)";
      body += entry.json;
      body += R"(,"search":{"mode":"match"}})";
    }
    body += "]";
  }
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
  std::string body;
  AppendBundleHead(body, "history", page->total);
  AppendLinks(body, path, ex->target.query, query.offset, query.count, page->total);
  if (!page->entries.empty()) {
    body += R"(,"entry":[)";
    bool first = true;
    for (const auto& entry : page->entries) {
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
  co_return BundleResponse(std::move(body));
}

}  // namespace carebridge::api
