#include "mappings/catalog.h"

#include "fhir/json/json.h"

namespace carebridge::mappings {

namespace json = fhir::json;
using fhir::IssueType;

namespace {

std::string Stem(std::string_view name) {
  std::size_t slash = name.rfind('/');
  std::string_view base = slash == std::string_view::npos ? name : name.substr(slash + 1);
  if (base.ends_with(".json")) {
    base.remove_suffix(5);
  }
  return std::string(base);
}

}  // namespace

std::shared_ptr<const Catalog> Catalog::Build(const CatalogFiles& files,
                                              std::vector<FileReport>& reports) {
  auto catalog = std::make_shared<Catalog>();
  auto report = [&reports](const std::string& name, fhir::Outcome outcome) {
    if (!outcome.empty()) {
      reports.push_back({name, std::move(outcome)});
    }
  };

  ConceptMapSet::Builder builder;
  for (const DataFile& file : files.concept_maps) {
    fhir::Outcome outcome;
    builder.AddJson(file.text, outcome);
    report(file.name, std::move(outcome));
  }
  fhir::Outcome set_outcome;
  catalog->concept_maps_ = std::move(builder).Build(set_outcome);
  report("conceptmaps", std::move(set_outcome));
  if (catalog->concept_maps_ == nullptr) {
    // A chain that does not resolve: the partners are compiled against an empty set, so that
    // every translate-code rule is reported against its map.
    fhir::Outcome ignored;
    catalog->concept_maps_ = ConceptMapSet::Builder().Build(ignored);
  }

  for (const DataFile& file : files.partners) {
    fhir::Outcome outcome;
    auto mapping = PartnerMapping::Load(file.text, catalog->concept_maps_, outcome);
    if (mapping != nullptr && mapping->partner() != Stem(file.name)) {
      outcome.Error(IssueType::kInvalid, "partner",
                    "the definition is for partner '" + mapping->partner() +
                        "' but the file is named " + Stem(file.name) + ".json");
      mapping = nullptr;
    }
    if (mapping != nullptr) {
      catalog->partners_.emplace(mapping->partner(), std::move(mapping));
    }
    report(file.name, std::move(outcome));
  }

  for (const DataFile& file : files.questionnaires) {
    fhir::Outcome outcome;
    std::string message;
    auto parsed = json::Parse(file.text, json::Limits{}, message);
    if (!parsed) {
      outcome.Error(IssueType::kStructure, "", "not valid JSON: " + message);
    } else if (auto q = Questionnaire::Compile(*parsed, outcome)) {
      if (catalog->FindQuestionnaire(q->url()) != nullptr) {
        outcome.Error(IssueType::kDuplicate, "Questionnaire.url",
                      "another file already defines " + q->url());
      } else if (q->id().empty()) {
        outcome.Error(IssueType::kRequired, "Questionnaire.id",
                      "a shipped Questionnaire needs an id to be served under");
      } else {
        catalog->questionnaires_.push_back(std::move(q));
      }
    }
    report(file.name, std::move(outcome));
  }
  return catalog;
}

const PartnerMapping* Catalog::Partner(std::string_view id) const {
  auto it = partners_.find(id);
  return it == partners_.end() ? nullptr : it->second.get();
}

QuestionnairePtr Catalog::FindQuestionnaire(std::string_view canonical) const {
  std::string_view url = CanonicalUrl(canonical);
  for (const QuestionnairePtr& q : questionnaires_) {
    if (q->url() == url) {
      return q;
    }
  }
  return nullptr;
}

bool HasErrors(const std::vector<FileReport>& reports) {
  for (const FileReport& r : reports) {
    if (r.outcome.HasErrors()) {
      return true;
    }
  }
  return false;
}

}  // namespace carebridge::mappings
