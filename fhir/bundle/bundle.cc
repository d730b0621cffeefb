#include "fhir/bundle/bundle.h"

#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fhir/resource/resource.h"

namespace carebridge::fhir {
namespace {

std::string EntryPath(std::size_t i) { return "Bundle.entry[" + std::to_string(i) + "]"; }

bool IsAbsoluteUrl(std::string_view url) {
  return url.starts_with("urn:") || url.find("://") != std::string_view::npos;
}

// Copies the string member `key` of `obj` into `out`; a present non-string is an error.
void CopyString(const json::Value& obj, std::string_view key, const std::string& expression,
                std::string& out, Outcome& outcome) {
  const json::Value* v = obj.Find(key);
  if (v == nullptr) {
    return;
  }
  if (!v->is_string()) {
    outcome.Error(IssueType::kStructure, expression + "." + std::string(key),
                  expression + "." + std::string(key) + " must be a string");
    return;
  }
  out = v->text();
}

// Checks one entry's request against its resource; `where` is "Bundle.entry[i]".
void CheckRequest(const BundleEntry& entry, const std::string& where, Outcome& outcome) {
  const std::string& method = entry.request.method;
  const std::string& url = entry.request.url;
  const std::string url_expr = where + ".request.url";
  if (IsAbsoluteUrl(url)) {
    // Entries name what they act on relative to this server's base; an absolute URL could only
    // mean this server under another name, which we cannot tell apart from another server.
    outcome.Error(
        IssueType::kNotSupported, url_expr,
        where + ": request.url " + url + " must be relative to the base, e.g. " + "Patient/123");
    return;
  }
  const std::size_t question = url.find('?');
  const std::string_view path = std::string_view(url).substr(0, question);
  const std::size_t slash = path.find('/');
  const std::string_view url_type = path.substr(0, slash);
  const std::string_view url_id =
      slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);

  if (method == "GET") {
    return;  // any relative read or search; the API layer routes it
  }
  if (url_type.empty() || !IsR4ResourceType(url_type)) {
    outcome.Error(IssueType::kValue, url_expr,
                  where + ": request.url " + url + " does not start with a FHIR resource type");
    return;
  }
  if (method == "POST") {
    if (slash != std::string_view::npos || question != std::string::npos) {
      outcome.Error(IssueType::kValue, url_expr,
                    where + ": request.url of a POST must be the resource type alone (\"" +
                        std::string(url_type) + "\"), not " + url);
      return;
    }
  } else {  // PUT or DELETE
    if (question != std::string::npos) {
      outcome.Error(IssueType::kNotSupported, url_expr,
                    where + ": conditional " + method + " (" + url + ") is not supported");
      return;
    }
    if (url_id.empty() || !IsValidId(url_id)) {
      outcome.Error(IssueType::kValue, url_expr,
                    where + ": request.url of a " + method + " must be Type/id, not " + url);
      return;
    }
  }
  if (method == "DELETE") {
    return;
  }
  if (!entry.resource.has_value()) {
    outcome.Error(IssueType::kRequired, where + ".resource",
                  where + ": a " + method + " entry needs a resource");
    return;
  }
  std::string_view resource_type = entry.resource->StringAt("resourceType");
  if (resource_type != url_type) {
    outcome.Error(IssueType::kValue, url_expr,
                  where + ": request.url says " + std::string(url_type) +
                      " but the resource is a " +
                      (resource_type.empty() ? std::string("resource without resourceType")
                                             : std::string(resource_type)));
    return;
  }
  if (method == "PUT") {
    std::string_view id = entry.resource->StringAt("id");
    if (id.empty()) {
      outcome.Error(IssueType::kRequired, where + ".resource.id",
                    where + ": the resource of a PUT needs an id (" + std::string(url_id) + ")");
    } else if (id != url_id) {
      outcome.Error(IssueType::kValue, where + ".resource.id",
                    where + ": request.url says id " + std::string(url_id) +
                        " but the resource's id is " + std::string(id));
    }
  }
}

}  // namespace

std::optional<RequestBundle> ParseRequestBundle(json::Value&& bundle, const BundleLimits& limits,
                                                Outcome& outcome) {
  if (!bundle.is_object() || bundle.StringAt("resourceType") != "Bundle") {
    outcome.Error(IssueType::kInvalid, "Bundle.resourceType",
                  "A POST to the base takes a Bundle resource");
    return std::nullopt;
  }
  RequestBundle result;
  result.type = std::string(bundle.StringAt("type"));
  if (result.type != "batch" && result.type != "transaction") {
    outcome.Error(IssueType::kValue, "Bundle.type",
                  "Bundle.type must be batch or transaction for POST to the base");
    return std::nullopt;
  }
  json::Value* entries = bundle.Find("entry");
  if (entries == nullptr) {
    return result;  // an empty batch is valid and does nothing
  }
  if (!entries->is_array()) {
    outcome.Error(IssueType::kStructure, "Bundle.entry", "Bundle.entry must be an array");
    return std::nullopt;
  }
  if (entries->items().size() > limits.max_entries) {
    outcome.Error(IssueType::kTooCostly, "Bundle.entry",
                  "The Bundle has " + std::to_string(entries->items().size()) +
                      " entries; at most " + std::to_string(limits.max_entries) +
                      " are accepted in one request");
    return std::nullopt;
  }

  std::unordered_map<std::string, std::size_t> full_urls;
  result.entries.reserve(entries->items().size());
  for (std::size_t i = 0; i < entries->items().size(); ++i) {
    json::Value& item = entries->items()[i];
    const std::string where = EntryPath(i);
    BundleEntry entry;
    if (!item.is_object()) {
      outcome.Error(IssueType::kStructure, where, where + " must be an object");
      result.entries.push_back(std::move(entry));
      continue;
    }
    CopyString(item, "fullUrl", where, entry.full_url, outcome);
    if (!entry.full_url.empty()) {
      auto [it, inserted] = full_urls.emplace(entry.full_url, i);
      if (!inserted) {
        outcome.Error(IssueType::kDuplicate, where + ".fullUrl",
                      where + ": fullUrl " + entry.full_url + " is also the fullUrl of " +
                          EntryPath(it->second));
      }
    }
    bool bad_resource = false;
    if (json::Value* resource = item.Find("resource"); resource != nullptr) {
      if (!resource->is_object()) {
        bad_resource = true;
        outcome.Error(IssueType::kStructure, where + ".resource",
                      where + ".resource must be a resource (a JSON object)");
      } else {
        entry.resource = std::move(*resource);
      }
    }
    const json::Value* request = item.Find("request");
    if (request == nullptr || !request->is_object()) {
      outcome.Error(IssueType::kRequired, where + ".request",
                    where + ": request (method and url) is required in a " + result.type);
      result.entries.push_back(std::move(entry));
      continue;
    }
    const std::string req = where + ".request";
    const std::size_t errors_before = outcome.issues().size();
    CopyString(*request, "method", req, entry.request.method, outcome);
    CopyString(*request, "url", req, entry.request.url, outcome);
    CopyString(*request, "ifMatch", req, entry.request.if_match, outcome);
    CopyString(*request, "ifNoneExist", req, entry.request.if_none_exist, outcome);
    CopyString(*request, "ifNoneMatch", req, entry.request.if_none_match, outcome);
    CopyString(*request, "ifModifiedSince", req, entry.request.if_modified_since, outcome);
    const std::string& method = entry.request.method;
    if (outcome.issues().size() != errors_before || bad_resource) {
      // A malformed member; its issue says which.
    } else if (method.empty()) {
      outcome.Error(IssueType::kRequired, req + ".method", where + ": request.method is required");
    } else if (method == "PATCH" || method == "HEAD") {
      outcome.Error(IssueType::kNotSupported, req + ".method",
                    where + ": request.method " + method + " is not supported");
    } else if (method != "GET" && method != "POST" && method != "PUT" && method != "DELETE") {
      outcome.Error(
          IssueType::kValue, req + ".method",
          where + ": request.method " + method + " is not an HTTP verb (GET, POST, PUT, DELETE)");
    } else if (entry.request.url.empty()) {
      outcome.Error(IssueType::kRequired, req + ".url", where + ": request.url is required");
    } else {
      CheckRequest(entry, where, outcome);
    }
    result.entries.push_back(std::move(entry));
  }
  if (outcome.HasErrors()) {
    return std::nullopt;
  }
  return result;
}

std::vector<std::size_t> TransactionOrder(const RequestBundle& bundle) {
  auto rank = [](const std::string& method) {
    if (method == "DELETE") {
      return 0;
    }
    if (method == "POST") {
      return 1;
    }
    if (method == "PUT" || method == "PATCH") {
      return 2;
    }
    if (method == "GET" || method == "HEAD") {
      return 3;
    }
    return 4;
  };
  std::vector<std::size_t> order(bundle.entries.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    order[i] = i;
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return rank(bundle.entries[a].request.method) < rank(bundle.entries[b].request.method);
  });
  return order;
}

std::size_t RewriteReferences(json::Value& resource,
                              const std::unordered_map<std::string, std::string>& replacements) {
  if (replacements.empty()) {
    return 0;
  }
  std::size_t count = 0;
  auto replace = [&](json::Value& v) {
    auto it = replacements.find(v.text());
    if (it != replacements.end()) {
      v.mutable_text() = it->second;
      ++count;
    }
  };
  // An explicit stack: the tree's depth is bounded by the parse limits, but the walk should not
  // depend on that for its stack use.
  std::vector<json::Value*> stack{&resource};
  while (!stack.empty()) {
    json::Value* node = stack.back();
    stack.pop_back();
    if (node->is_array()) {
      for (json::Value& item : node->items()) {
        if (item.is_string()) {
          // Only urn:uuid values are rewritten outside "reference": anything else equal to a key
          // (say a code that happens to read "Patient/1") is not ours to touch.
          if (item.text().starts_with("urn:uuid:")) {
            replace(item);
          }
        } else if (item.is_array() || item.is_object()) {
          stack.push_back(&item);
        }
      }
    } else if (node->is_object()) {
      for (json::Member& member : node->members()) {
        json::Value& v = member.value;
        if (v.is_string()) {
          if (member.key == "reference" || v.text().starts_with("urn:uuid:")) {
            replace(v);
          }
        } else if (v.is_array() || v.is_object()) {
          stack.push_back(&v);
        }
      }
    }
  }
  return count;
}

}  // namespace carebridge::fhir
