// Each partner's dialect at the edge (DESIGN.md capability 2): what a partner with a mapping
// profile writes is mapped inbound to the canonical form before it is stored, and what it reads
// is mapped outbound from the canonical form.

#include "gateway/api/catalog.h"
#include "gateway/api/fhir_api_impl.h"
#include "gateway/api/responses.h"
#include "gateway/log/log.h"
#include "mappings/catalog.h"

namespace carebridge::api {

namespace json = fhir::json;

FhirApi::Impl::Dialect FhirApi::Impl::DialectOf(const auth::Partner& partner) const {
  Dialect dialect;
  if (partner.mapping_profile.empty()) {
    return dialect;
  }
  dialect.catalog = MappingCatalog();
  if (dialect.catalog) {
    dialect.mapping = dialect.catalog->Partner(partner.mapping_profile);
  }
  return dialect;
}

std::optional<HttpResponse> FhirApi::Impl::MapInbound(const Exchange& ex,
                                                      json::Value& resource) const {
  Dialect dialect = DialectOf(*ex.partner);
  if (dialect.mapping == nullptr) {
    return std::nullopt;
  }
  fhir::Outcome outcome;
  if (!dialect.mapping->Apply(mappings::Direction::kInbound, resource, outcome)) {
    return OutcomeResponse(422, outcome);
  }
  return std::nullopt;
}

bool FhirApi::Impl::ToPartnerDialect(const auth::Partner& partner, json::Value& resource) const {
  const Dialect dialect = DialectOf(partner);
  if (dialect.mapping == nullptr) {
    return true;
  }
  json::Value mapped = resource;
  if (!MapToDialectInPlace(dialect, partner, mapped)) {
    return false;
  }
  resource = std::move(mapped);
  return true;
}

bool FhirApi::Impl::MapToDialectInPlace(const Dialect& dialect, const auth::Partner& partner,
                                        json::Value& resource) const {
  fhir::Outcome outcome;
  if (!dialect.mapping->Apply(mappings::Direction::kOutbound, resource, outcome)) {
    // A code the partner's dialect cannot express: it gets the canonical form rather than
    // nothing, and the operator learns which mapping lacks it.
    log::Log(log::LogLevel::kWarn, "outbound mapping refused; canonical form sent",
             {{"partner", partner.id},
              {"resource", std::string(resource.StringAt("resourceType")) + "/" +
                               std::string(resource.StringAt("id"))}});
    return false;
  }
  return true;
}

std::optional<fhir::UnstampedJson> FhirApi::Impl::DialectReply(const Exchange& ex,
                                                               const json::Value& resource,
                                                               const std::string& id) const {
  const Dialect dialect = DialectOf(*ex.partner);
  if (dialect.mapping == nullptr) {
    return std::nullopt;
  }
  json::Value reply = resource;
  fhir::SetResourceId(reply, id);
  if (!MapToDialectInPlace(dialect, *ex.partner, reply)) {
    return std::nullopt;
  }
  return fhir::WriteUnstamped(std::move(reply));
}

std::string FhirApi::Impl::MapOutbound(const Exchange& ex, std::string stored_json) const {
  const Dialect dialect = DialectOf(*ex.partner);
  if (dialect.mapping == nullptr || stored_json.empty()) {
    return stored_json;
  }
  std::string message;
  auto resource = json::Parse(stored_json, config.fhir.json, message);
  if (!resource || !resource->is_object() ||
      !MapToDialectInPlace(dialect, *ex.partner, *resource)) {
    return stored_json;
  }
  return json::Write(*resource);
}

void FhirApi::MapOutbound(std::string_view partner_id, json::Value& resource) const {
  if (const auth::Partner* partner = impl_->partners.FindById(partner_id)) {
    impl_->ToPartnerDialect(*partner, resource);
  }
}

void FhirApi::Impl::ToDialect(const Exchange& ex,
                              std::vector<const store::ResourceVersion*>& entries,
                              std::vector<store::ResourceVersion>& storage) const {
  if (DialectOf(*ex.partner).mapping == nullptr) {
    return;
  }
  storage.clear();
  storage.reserve(entries.size());  // no reallocation: the pointers below stay valid
  for (const store::ResourceVersion*& entry : entries) {
    storage.push_back(*entry);
    storage.back().json = MapOutbound(ex, std::move(storage.back().json));
    entry = &storage.back();
  }
}

net::awaitable<std::optional<HttpResponse>> FhirApi::Impl::CheckConceptMapChange(
    std::string id, std::optional<json::Value> resource) {
  struct Check {
    std::optional<HttpResponse> refused;
  };
  Check check = co_await OnPool([this, &id, &resource] {
    Check out;
    if (auto current = store.Read("ConceptMap", id)) {
      std::string message;
      auto stored = json::Parse(current->json, config.fhir.json, message);
      const json::Value* meta = stored ? stored->Find("meta") : nullptr;
      const std::string partner_source = ContributorSource("");
      if (meta == nullptr ||
          meta->StringAt("source").substr(0, partner_source.size()) != partner_source) {
        out.refused = ErrorResponse(409, fhir::IssueType::kConflict,
                                    "ConceptMap/" + id +
                                        " ships with the gateway's mapping data: change it in "
                                        "mappings/conceptmaps and reload");
        return out;
      }
    }
    std::vector<mappings::DataFile> maps = StoredConceptMaps(store, id);
    if (resource) {
      json::Value candidate = *resource;
      if (json::Value* existing_id = candidate.Find("id")) {
        *existing_id = json::Value::String(id);
      } else {
        candidate.SetAt(1, "id", json::Value::String(id));
      }
      maps.push_back({"ConceptMap/" + id, json::Write(candidate)});
    }
    std::string message;
    if (!LoadMappingCatalog(config, message, std::move(maps))) {
      out.refused = ErrorResponse(422, fhir::IssueType::kProcessing,
                                  "The mapping data would not validate with this change, so it "
                                  "was not made: " +
                                      message);
    }
    return out;
  });
  co_return std::move(check.refused);
}

net::awaitable<void> FhirApi::Impl::RebuildMappingCatalog() {
  auto rebuilt = co_await OnPool([this] {
    std::string message;
    auto catalog = LoadMappingCatalog(config, message, StoredConceptMaps(store));
    if (!catalog) {
      log::Log(log::LogLevel::kError, "mapping catalog not rebuilt; the running one stays",
               {{"reason", message}});
    }
    return catalog;
  });
  if (rebuilt) {
    std::lock_guard lock(mapping_catalog_mutex);
    mapping_catalog = *rebuilt;
  }
}

net::awaitable<HttpResponse> FhirApi::Impl::ReloadMappings(ExchangePtr ex) {
  if (ex->partner->kind != auth::PartnerKind::kAdmin) {
    co_return ErrorResponse(403, fhir::IssueType::kForbidden,
                            "Only the gateway's admin partner may reload the mappings");
  }
  struct Reload {
    Result<mappings::CatalogPtr> catalog;
    std::string message;
  };
  Reload reload = co_await OnPool([this] {
    Reload out;
    out.catalog = ReloadMappingCatalog(config, store, out.message);
    return out;
  });
  if (!reload.catalog) {
    // The running mappings stay: a definition that does not validate never replaces them.
    co_return ErrorResponse(
        422, fhir::IssueType::kInvalid,
        "The mappings were not reloaded; the running ones stay: " + reload.message);
  }
  {
    std::lock_guard lock(mapping_catalog_mutex);
    mapping_catalog = *reload.catalog;
  }
  fhir::Outcome outcome;
  outcome.Add(fhir::Severity::kInformation, fhir::IssueType::kInformational, "",
              "Mappings reloaded: " + std::to_string((*reload.catalog)->partners().size()) +
                  " partner definitions, " +
                  std::to_string((*reload.catalog)->concept_maps()->maps().size()) +
                  " ConceptMaps, " + std::to_string((*reload.catalog)->questionnaires().size()) +
                  " Questionnaires");
  co_return OutcomeResponse(200, outcome);
}

}  // namespace carebridge::api
