#include "gateway/api/catalog.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "fhir/json/json.h"
#include "fhir/resource/resource.h"
#include "fhir/search/search.h"
#include "gateway/api/directory.h"
#include "gateway/api/fhir_api_impl.h"
#include "gateway/api/release.h"
#include "gateway/log/log.h"

namespace carebridge::api {

namespace fs = std::filesystem;
namespace json = fhir::json;

namespace {

bool ReadFolder(const fs::path& folder, const std::string& label,
                std::vector<mappings::DataFile>& out, std::string& message) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    return true;  // optional
  }
  std::vector<fs::path> paths;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    if (entry.path().extension() == ".json" && entry.is_regular_file(ec)) {
      paths.push_back(entry.path());
    }
  }
  if (ec) {
    message = "cannot list " + folder.string() + ": " + ec.message();
    return false;
  }
  std::sort(paths.begin(), paths.end());
  for (const fs::path& path : paths) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in.good() && !in.eof()) {
      message = "cannot read " + path.string();
      return false;
    }
    out.push_back({label + "/" + path.filename().string(), text.str()});
  }
  return true;
}

}  // namespace

std::string MappingsDir(const config::Config& config) {
  if (!config.mappings_dir.empty()) {
    return config.mappings_dir;
  }
  return CAREBRIDGE_DEFAULT_MAPPINGS_DIR;
}

bool ReadMappingFiles(const std::string& dir, mappings::CatalogFiles& files, std::string& message) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    message = "the mappings folder " + dir + " does not exist";
    return false;
  }
  const fs::path root(dir);
  return ReadFolder(root / "conceptmaps", "conceptmaps", files.concept_maps, message) &&
         ReadFolder(root / "partners", "partners", files.partners, message) &&
         ReadFolder(root / "questionnaires", "questionnaires", files.questionnaires, message);
}

Result<mappings::CatalogPtr> LoadMappingCatalog(
    const config::Config& config, std::string& message,
    std::vector<mappings::DataFile> extra_concept_maps) {
  const std::string dir = MappingsDir(config);
  mappings::CatalogFiles files;
  std::error_code ec;
  if (!(config.mappings_dir.empty() && !fs::is_directory(dir, ec)) &&
      !ReadMappingFiles(dir, files, message)) {
    return std::make_error_code(std::errc::no_such_file_or_directory);
  }
  files.concept_maps.insert(files.concept_maps.end(),
                            std::make_move_iterator(extra_concept_maps.begin()),
                            std::make_move_iterator(extra_concept_maps.end()));
  std::vector<mappings::FileReport> reports;
  mappings::CatalogPtr catalog = mappings::Catalog::Build(files, reports);
  if (mappings::HasErrors(reports)) {
    message = "mapping data in " + dir + " does not validate:";
    for (const auto& report : reports) {
      for (const auto& issue : report.outcome.issues()) {
        if (issue.severity == fhir::Severity::kError || issue.severity == fhir::Severity::kFatal) {
          message += " " + report.name + (issue.expression.empty() ? "" : " " + issue.expression) +
                     ": " + issue.diagnostics + ";";
        }
      }
    }
    return std::make_error_code(std::errc::invalid_argument);
  }
  return catalog;
}

std::vector<mappings::DataFile> StoredConceptMaps(store::Store& store, std::string_view except_id) {
  std::vector<mappings::DataFile> out;
  fhir::SearchQuery query;
  query.type = "ConceptMap";
  query.count = 1000;
  auto page = store.Search(query);
  if (!page) {
    log::Log(log::LogLevel::kError, "stored ConceptMaps could not be read",
             {{"error", page.error().message()}});
    return out;
  }
  const std::string partner_source = ContributorSource("");
  for (const auto& entry : page->entries) {
    if (entry.id == except_id) {
      continue;
    }
    std::string message;
    auto resource = json::Parse(entry.json, json::Limits{}, message);
    const json::Value* meta = resource ? resource->Find("meta") : nullptr;
    if (meta != nullptr &&
        meta->StringAt("source").substr(0, partner_source.size()) == partner_source) {
      out.push_back({"ConceptMap/" + entry.id, entry.json});
    }
  }
  return out;
}

Result<void> PublishCatalog(store::Store& store, const mappings::Catalog& catalog) {
  store::WriteBatch batch;
  auto add = [&](json::Value resource) {
    resource.Remove("meta");
    if (StoredUnchanged(store, resource)) {
      return;
    }
    std::string type(resource.StringAt("resourceType"));
    std::string id(resource.StringAt("id"));
    batch.ops.push_back(ResourceWriteOp(store::WriteOp::Kind::kUpdate, std::move(type),
                                        std::move(id), std::move(resource)));
  };
  for (const auto& q : catalog.questionnaires()) {
    add(q->resource());
  }
  for (const auto& map : catalog.concept_maps()->maps()) {
    json::Value resource = map->resource();
    if (resource.StringAt("id").empty() || !fhir::IsValidId(resource.StringAt("id"))) {
      continue;  // served to the engine only; a published ConceptMap needs a usable id
    }
    add(std::move(resource));
  }
  if (batch.ops.empty()) {
    return {};
  }
  store::WriteResult result = store::WriteAndWait(store, std::move(batch));
  for (auto& op : result.ops) {
    if (!op) {
      return op.error();
    }
  }
  return {};
}

Result<mappings::CatalogPtr> ReloadMappingCatalog(const config::Config& config, store::Store& store,
                                                  std::string& message) {
  auto catalog = LoadMappingCatalog(config, message, StoredConceptMaps(store));
  if (!catalog) {
    log::Log(log::LogLevel::kError, "mapping reload refused; the running mappings stay",
             {{"reason", message}});
    return catalog;
  }
  if (auto published = PublishCatalog(store, **catalog); !published) {
    message = "the mappings could not be published: " + published.error().message();
    log::Log(log::LogLevel::kError, "mapping reload not published; the running mappings stay",
             {{"reason", message}});
    return published.error();
  }
  log::Log(log::LogLevel::kInfo, "mappings reloaded",
           {{"partners", std::to_string((*catalog)->partners().size())},
            {"questionnaires", std::to_string((*catalog)->questionnaires().size())},
            {"concept_maps", std::to_string((*catalog)->concept_maps()->maps().size())}});
  return catalog;
}

}  // namespace carebridge::api
