#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fhir/json/value.h"
#include "fhir/outcome.h"

namespace carebridge::mappings {

// FHIR R4 Questionnaires compiled for validating QuestionnaireResponses and for $extract. No I/O:
// the caller reads mappings/questionnaires/*.json and hands the resources in.

// The SDOH Clinical Care IG's PRAPARE Questionnaire: partners' PRAPARE responses name it.
inline constexpr std::string_view kPrapareCanonical =
    "http://hl7.org/fhir/us/sdoh-clinicalcare/Questionnaire/SDOHCC-QuestionnairePRAPARE";
// carebridge's CANS Questionnaire (mappings/questionnaires/cans.json).
inline constexpr std::string_view kCansCanonical = "https://carebridge.dev/fhir/Questionnaire/cans";

// Questionnaire.item.type (http://hl7.org/fhir/R4/valueset-item-type.html).
enum class ItemType {
  kGroup,
  kDisplay,
  kQuestion,  // abstract in R4; accepted in a definition, never answerable
  kBoolean,
  kDecimal,
  kInteger,
  kDate,
  kDateTime,
  kTime,
  kString,
  kText,
  kUrl,
  kChoice,
  kOpenChoice,
  kAttachment,
  kReference,
  kQuantity,
};
std::optional<ItemType> ItemTypeFromCode(std::string_view code);
std::string_view ToCode(ItemType type);

// One item of a compiled Questionnaire.
struct QuestionnaireItem {
  std::string link_id;
  ItemType type = ItemType::kGroup;
  bool required = false;
  bool repeats = false;
  std::string text;
  fhir::json::Value code = fhir::json::Value::Array();  // Questionnaire.item.code (Codings)
  // answerOption value[x] members as written ("valueCoding", {...}); empty: any answer.
  std::vector<std::pair<std::string, fhir::json::Value>> answer_options;
  std::vector<const QuestionnaireItem*> children;  // in document order
  const QuestionnaireItem* parent = nullptr;
  // The first Coding of `code` (its system and code), or empty.
  std::string_view CodeSystem() const;
  std::string_view Code() const;
};

class Questionnaire {
 public:
  // Checks the resource's shape (resourceType, url, unique linkIds, known item types, options
  // only on choice items) and compiles it. Null, with the problems in `outcome`, when it does
  // not hold.
  static std::shared_ptr<const Questionnaire> Compile(const fhir::json::Value& resource,
                                                      fhir::Outcome& outcome);

  const std::string& url() const { return url_; }
  const std::string& id() const { return id_; }
  const std::string& version() const { return version_; }
  const fhir::json::Value& resource() const { return resource_; }
  const std::vector<const QuestionnaireItem*>& items() const { return roots_; }
  const QuestionnaireItem* Find(std::string_view link_id) const;

  Questionnaire(const Questionnaire&) = delete;
  Questionnaire& operator=(const Questionnaire&) = delete;
  Questionnaire() = default;

 private:
  std::string url_;
  std::string id_;
  std::string version_;
  fhir::json::Value resource_;
  std::vector<std::unique_ptr<QuestionnaireItem>> storage_;
  std::vector<const QuestionnaireItem*> roots_;
  std::unordered_map<std::string, const QuestionnaireItem*> by_link_id_;
};
using QuestionnairePtr = std::shared_ptr<const Questionnaire>;

// The canonical without its "|version" suffix.
std::string_view CanonicalUrl(std::string_view canonical);

// Validates `response` (a QuestionnaireResponse) against `questionnaire`:
//  - every item's linkId is an item of the Questionnaire, at the place it is nested (groups hold
//    items, questions hold theirs under answer.item); display items are never answered;
//  - each answer has exactly one value[x] of the item's type (choice: valueCoding; open-choice:
//    valueCoding or valueString; ...), and only repeating items have several answers;
//  - choice answers are among the item's answerOptions (system and code);
//  - when the response is completed or amended, every required item is present and answered.
// enableWhen is not evaluated (neither shipped Questionnaire uses it). Each problem is an error
// whose expression is the FHIRPath of the item, naming it by linkId:
// QuestionnaireResponse.item.where(linkId='/93042-0').item.where(linkId='/93042-0/71802-3')
// .answer[0]. Returns true when no error was added.
bool ValidateResponse(const Questionnaire& questionnaire, const fhir::json::Value& response,
                      fhir::Outcome& outcome);

}  // namespace carebridge::mappings
