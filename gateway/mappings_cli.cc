#include "gateway/mappings_cli.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "fhir/json/json.h"
#include "gateway/api/catalog.h"
#include "gateway/config/config.h"
#include "mappings/catalog.h"
#include "mappings/engine.h"

namespace carebridge {
namespace {

namespace fs = std::filesystem;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr const char* kUsage =
    "usage: carebridge mappings check [--config FILE | --mappings-dir DIR] [--fixtures DIR]";

int Usage(const std::string& message) {
  std::fprintf(stderr, "carebridge: %s\n%s\n", message.c_str(), kUsage);
  return kExitUsage;
}

// Prints an outcome's issues indented; returns how many are errors.
int PrintIssues(const fhir::Outcome& outcome) {
  int errors = 0;
  for (const auto& issue : outcome.issues()) {
    const bool error =
        issue.severity == fhir::Severity::kError || issue.severity == fhir::Severity::kFatal;
    errors += error ? 1 : 0;
    std::printf("  %s%s%s: %s\n", std::string(fhir::ToCode(issue.severity)).c_str(),
                issue.expression.empty() ? "" : " at ", issue.expression.c_str(),
                issue.diagnostics.c_str());
  }
  return errors;
}

bool ReadText(const fs::path& path, std::string& text) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return false;
  }
  std::ostringstream s;
  s << in.rdbuf();
  text = s.str();
  return true;
}

int Check(const std::string& dir, std::string fixtures_dir) {
  mappings::CatalogFiles files;
  std::string message;
  if (!api::ReadMappingFiles(dir, files, message)) {
    std::fprintf(stderr, "carebridge: mappings check: %s\n", message.c_str());
    return kExitUsage;
  }
  std::vector<mappings::FileReport> reports;
  mappings::CatalogPtr catalog = mappings::Catalog::Build(files, reports);
  int errors = 0;
  std::printf("mappings in %s\n", dir.c_str());
  for (const auto* group : {&files.concept_maps, &files.partners, &files.questionnaires}) {
    for (const mappings::DataFile& file : *group) {
      const mappings::FileReport* report = nullptr;
      for (const auto& r : reports) {
        report = r.name == file.name ? &r : report;
      }
      if (report == nullptr) {
        std::printf("%s: OK\n", file.name.c_str());
        continue;
      }
      const bool bad = report->outcome.HasErrors();
      std::printf("%s: %s\n", file.name.c_str(), bad ? "INVALID" : "OK with warnings");
      errors += PrintIssues(report->outcome);
    }
  }
  for (const auto& r : reports) {
    if (r.name == "conceptmaps") {  // the set as a whole (other-map chains)
      std::printf("conceptmaps (as a set): INVALID\n");
      errors += PrintIssues(r.outcome);
    }
  }

  if (fixtures_dir.empty()) {
    fs::path guess = fs::path(dir) / ".." / "tests" / "fixtures" / "mappings";
    std::error_code ec;
    if (fs::is_directory(guess, ec)) {
      fixtures_dir = guess.lexically_normal().string();
    }
  }
  int failures = 0;
  for (const auto& [id, mapping] : catalog->partners()) {
    std::vector<fhir::json::Value> fixtures;
    std::error_code ec;
    const fs::path folder = fs::path(fixtures_dir) / id;
    if (!fixtures_dir.empty() && fs::is_directory(folder, ec)) {
      std::vector<fs::path> paths;
      for (const auto& entry : fs::directory_iterator(folder, ec)) {
        if (entry.path().extension() == ".json") {
          paths.push_back(entry.path());
        }
      }
      std::sort(paths.begin(), paths.end());
      for (const fs::path& path : paths) {
        std::string text;
        std::string parse_message;
        if (!ReadText(path, text)) {
          std::printf("partner %s: cannot read fixture %s\n", id.c_str(), path.c_str());
          ++failures;
          continue;
        }
        auto parsed = fhir::json::Parse(text, fhir::json::Limits{}, parse_message);
        if (!parsed) {
          std::printf("partner %s: fixture %s is not JSON: %s\n", id.c_str(), path.c_str(),
                      parse_message.c_str());
          ++failures;
          continue;
        }
        fixtures.push_back(std::move(*parsed));
      }
    }
    if (fixtures.empty()) {
      std::printf("partner %s: no fixtures, round trip not checked\n", id.c_str());
      continue;
    }
    fhir::Outcome outcome = mappings::CheckRoundTrip(*mapping, fixtures);
    if (!outcome.HasErrors()) {
      std::printf("partner %s: round trip OK on %zu fixtures\n", id.c_str(), fixtures.size());
      PrintIssues(outcome);
      continue;
    }
    std::printf("partner %s: round trip FAILED\n", id.c_str());
    failures += PrintIssues(outcome);
  }
  if (errors > 0 || failures > 0) {
    std::printf("mappings check FAILED: %d definition error(s), %d round-trip failure(s)\n", errors,
                failures);
    return kExitFailed;
  }
  std::printf("mappings check OK: %zu ConceptMaps, %zu partners, %zu Questionnaires\n",
              catalog->concept_maps()->maps().size(), catalog->partners().size(),
              catalog->questionnaires().size());
  return kExitOk;
}

}  // namespace

int RunMappingsCommand(const std::vector<std::string_view>& args) {
  if (args.empty() || args[0] != "check") {
    return Usage(args.empty() ? "mappings: missing subcommand"
                              : "mappings: unknown subcommand '" + std::string(args[0]) + "'");
  }
  std::string config_file;
  std::string mappings_dir;
  std::string fixtures_dir;
  for (std::size_t i = 1; i < args.size(); ++i) {
    std::string_view arg = args[i];
    std::string_view value;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    }
    std::string* target = nullptr;
    if (arg == "--config") {
      target = &config_file;
    } else if (arg == "--mappings-dir") {
      target = &mappings_dir;
    } else if (arg == "--fixtures") {
      target = &fixtures_dir;
    } else {
      return Usage("mappings check: unexpected argument '" + std::string(arg) + "'");
    }
    if (value.empty()) {
      return Usage(std::string(arg) + " needs a value");
    }
    *target = std::string(value);
  }
  if (!config_file.empty() && !mappings_dir.empty()) {
    return Usage("give --config or --mappings-dir, not both");
  }
  config::Config config;
  if (!config_file.empty()) {
    std::string message;
    auto loaded = config::LoadConfig(config_file, message);
    if (!loaded) {
      std::fprintf(stderr, "carebridge: %s\n", message.c_str());
      return kExitUsage;
    }
    config = std::move(*loaded);
  }
  if (mappings_dir.empty()) {
    mappings_dir = api::MappingsDir(config);
  }
  return Check(mappings_dir, fixtures_dir);
}

}  // namespace carebridge
