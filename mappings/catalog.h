#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/json/value.h"
#include "fhir/outcome.h"
#include "mappings/concept_map.h"
#include "mappings/engine.h"
#include "mappings/questionnaire.h"

namespace carebridge::mappings {

// Everything the gateway serves from mappings/: the ConceptMaps, the partner mapping definitions
// and the Questionnaires, compiled together. Immutable; a reload builds a new one and swaps it.

// One data file: its name (for messages, e.g. "partners/riverside-ehr.json") and its text.
struct DataFile {
  std::string name;
  std::string text;
};

struct CatalogFiles {
  std::vector<DataFile> concept_maps;    // conceptmaps/*.json
  std::vector<DataFile> partners;        // partners/*.json
  std::vector<DataFile> questionnaires;  // questionnaires/*.json
};

// What loading one file found. An empty outcome means it loaded cleanly.
struct FileReport {
  std::string name;
  fhir::Outcome outcome;
};

class Catalog {
 public:
  // Compiles every file. Each file's problems (parse errors, definition errors, unknown
  // ConceptMaps, bad Questionnaires) go to `reports`, one entry per file with problems; files
  // that fail are left out and the rest still load. A partner file must be named after its
  // `partner` (riverside-ehr.json). Never null.
  static std::shared_ptr<const Catalog> Build(const CatalogFiles& files,
                                              std::vector<FileReport>& reports);

  const std::shared_ptr<const ConceptMapSet>& concept_maps() const { return concept_maps_; }
  const std::map<std::string, std::shared_ptr<const PartnerMapping>, std::less<>>& partners()
      const {
    return partners_;
  }
  const std::vector<QuestionnairePtr>& questionnaires() const { return questionnaires_; }

  const PartnerMapping* Partner(std::string_view id) const;
  // By canonical ("url" or "url|version"; the version is not checked).
  QuestionnairePtr FindQuestionnaire(std::string_view canonical) const;

 private:
  std::shared_ptr<const ConceptMapSet> concept_maps_;
  std::map<std::string, std::shared_ptr<const PartnerMapping>, std::less<>> partners_;
  std::vector<QuestionnairePtr> questionnaires_;
};
using CatalogPtr = std::shared_ptr<const Catalog>;

// True when any report holds an error.
bool HasErrors(const std::vector<FileReport>& reports);

}  // namespace carebridge::mappings
