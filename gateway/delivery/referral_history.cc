#include "gateway/delivery/referral_history.h"

#include <set>
#include <string>

#include "fhir/json/json.h"
#include "fhir/resource/resource.h"
#include "fhir/search/search.h"

namespace carebridge::delivery {
namespace {

namespace json = fhir::json;

std::string AuthorOf(const json::Value& resource, std::string_view source_prefix) {
  const json::Value* meta = resource.Find("meta");
  const std::string_view source = meta != nullptr ? meta->StringAt("source") : std::string_view();
  return !source_prefix.empty() && source.starts_with(source_prefix)
             ? std::string(source.substr(source_prefix.size()))
             : std::string("gateway");
}

}  // namespace

Result<std::vector<referral::TaskVersion>> LoadTaskVersions(store::Store& store,
                                                            const json::Limits& limits,
                                                            std::string_view task_id,
                                                            std::string_view source_prefix) {
  auto stored = store::AllVersions(store, "Task", task_id);
  if (!stored) {
    return stored.error();
  }
  std::vector<referral::TaskVersion> versions;
  for (const store::ResourceVersion& v : *stored) {
    if (v.deleted) {
      continue;
    }
    std::string message;
    auto task = json::Parse(v.json, limits, message);
    auto at = fhir::DateRange(v.last_updated);
    if (!task || !at) {
      continue;
    }
    referral::TaskVersion version;
    version.at_ms = at->first;
    version.author = AuthorOf(*task, source_prefix);
    version.task = std::move(*task);
    versions.push_back(std::move(version));
  }
  return versions;
}

Result<std::vector<referral::Contact>> LoadContacts(store::Store& store, const json::Limits& limits,
                                                    std::string_view task_id,
                                                    std::string_view source_prefix,
                                                    int max_per_link) {
  std::vector<referral::Contact> contacts;
  std::set<std::string> seen;  // a Communication both based on and part of the Task counts once
  for (const char* param : {"based-on", "part-of"}) {
    fhir::SearchQuery q;
    q.type = "Communication";
    q.count = max_per_link;
    fhir::SearchCriterion c;
    c.param = param;
    c.type = fhir::ParamType::kReference;
    fhir::SearchValue value;
    value.system = "Task";
    value.value = std::string(task_id);
    c.any_of.push_back(value);
    q.all_of.push_back(std::move(c));
    auto page = store.Search(q);
    if (!page) {
      return page.error();
    }
    for (const store::ResourceVersion& v : page->entries) {
      if (!seen.insert(v.id).second) {
        continue;
      }
      std::string message;
      auto communication = json::Parse(v.json, limits, message);
      if (!communication) {
        continue;
      }
      auto at = fhir::DateRange(communication->StringAt("sent"));
      if (!at) {
        at = fhir::DateRange(v.last_updated);
      }
      contacts.push_back(
          {at ? at->first : 0, "Communication/" + v.id, AuthorOf(*communication, source_prefix)});
    }
  }
  return contacts;
}

}  // namespace carebridge::delivery
