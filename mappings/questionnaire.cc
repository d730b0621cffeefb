#include "mappings/questionnaire.h"

#include <array>
#include <utility>

namespace carebridge::mappings {
namespace {

namespace json = fhir::json;
using fhir::IssueType;
using json::Value;

constexpr std::array<std::pair<std::string_view, ItemType>, 17> kItemTypes = {{
    {"group", ItemType::kGroup},
    {"display", ItemType::kDisplay},
    {"question", ItemType::kQuestion},
    {"boolean", ItemType::kBoolean},
    {"decimal", ItemType::kDecimal},
    {"integer", ItemType::kInteger},
    {"date", ItemType::kDate},
    {"dateTime", ItemType::kDateTime},
    {"time", ItemType::kTime},
    {"string", ItemType::kString},
    {"text", ItemType::kText},
    {"url", ItemType::kUrl},
    {"choice", ItemType::kChoice},
    {"open-choice", ItemType::kOpenChoice},
    {"attachment", ItemType::kAttachment},
    {"reference", ItemType::kReference},
    {"quantity", ItemType::kQuantity},
}};

// The answer value[x] members an item of `type` takes (R4 QuestionnaireResponse.item.answer).
std::vector<std::string_view> AnswerKeys(ItemType type) {
  switch (type) {
    case ItemType::kBoolean:
      return {"valueBoolean"};
    case ItemType::kDecimal:
      return {"valueDecimal"};
    case ItemType::kInteger:
      return {"valueInteger"};
    case ItemType::kDate:
      return {"valueDate"};
    case ItemType::kDateTime:
      return {"valueDateTime"};
    case ItemType::kTime:
      return {"valueTime"};
    case ItemType::kString:
    case ItemType::kText:
      return {"valueString"};
    case ItemType::kUrl:
      return {"valueUri"};
    case ItemType::kChoice:
      return {"valueCoding"};
    case ItemType::kOpenChoice:
      return {"valueCoding", "valueString"};
    case ItemType::kAttachment:
      return {"valueAttachment"};
    case ItemType::kReference:
      return {"valueReference"};
    case ItemType::kQuantity:
      return {"valueQuantity"};
    case ItemType::kGroup:
    case ItemType::kDisplay:
    case ItemType::kQuestion:
      break;
  }
  return {};
}

// Whether the JSON kind of a value[x] fits its FHIR type.
bool KindFits(std::string_view key, const Value& value) {
  if (key == "valueBoolean") {
    return value.is_bool();
  }
  if (key == "valueDecimal") {
    return value.is_number();
  }
  if (key == "valueInteger") {
    return value.is_number() && value.text().find_first_of(".eE") == std::string::npos;
  }
  if (key == "valueCoding" || key == "valueAttachment" || key == "valueReference" ||
      key == "valueQuantity") {
    return value.is_object();
  }
  return value.is_string() && !value.text().empty();
}

std::string Quote(std::string_view link_id) {
  std::string out = "'";
  for (char c : link_id) {
    if (c == '\'' || c == '\\') {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

std::string ItemPath(const std::string& parent, std::string_view link_id) {
  return parent + ".item.where(linkId=" + Quote(link_id) + ")";
}

class Compiler {
 public:
  Compiler(Questionnaire& q, std::vector<std::unique_ptr<QuestionnaireItem>>& storage,
           std::unordered_map<std::string, const QuestionnaireItem*>& index, fhir::Outcome& outcome)
      : storage_(storage), index_(index), outcome_(outcome) {
    (void)q;
  }

  void Items(const Value& items, const std::string& path, QuestionnaireItem* parent,
             std::vector<const QuestionnaireItem*>& into) {
    if (!items.is_array()) {
      outcome_.Error(IssueType::kStructure, path, "item must be an array");
      return;
    }
    for (std::size_t i = 0; i < items.items().size(); ++i) {
      const Value& raw = items.items()[i];
      const std::string at = path + "[" + std::to_string(i) + "]";
      if (!raw.is_object()) {
        outcome_.Error(IssueType::kStructure, at, "an item must be an object");
        continue;
      }
      auto item = std::make_unique<QuestionnaireItem>();
      item->parent = parent;
      item->link_id = std::string(raw.StringAt("linkId"));
      if (item->link_id.empty()) {
        outcome_.Error(IssueType::kRequired, at + ".linkId", "every item needs a linkId");
        continue;
      }
      auto type = ItemTypeFromCode(raw.StringAt("type"));
      if (!type) {
        outcome_.Error(IssueType::kValue, at + ".type",
                       "unknown item type '" + std::string(raw.StringAt("type")) + "'");
        continue;
      }
      item->type = *type;
      if (const Value* v = raw.Find("required"); v != nullptr && v->is_bool()) {
        item->required = v->as_bool();
      }
      if (const Value* v = raw.Find("repeats"); v != nullptr && v->is_bool()) {
        item->repeats = v->as_bool();
      }
      item->text = std::string(raw.StringAt("text"));
      if (const Value* code = raw.Find("code"); code != nullptr && code->is_array()) {
        item->code = *code;
      }
      if (const Value* options = raw.Find("answerOption")) {
        if (item->type != ItemType::kChoice && item->type != ItemType::kOpenChoice) {
          outcome_.Error(IssueType::kInvariant, at + ".answerOption",
                         "answerOption is only for choice and open-choice items (que-5)");
        } else if (options->is_array()) {
          for (const Value& option : options->items()) {
            for (const json::Member& m : option.members()) {
              if (m.key.starts_with("value")) {
                item->answer_options.emplace_back(m.key, m.value);
              }
            }
          }
        }
      }
      if (index_.contains(item->link_id)) {
        outcome_.Error(IssueType::kDuplicate, at + ".linkId",
                       "linkId '" + item->link_id + "' is used twice");
        continue;
      }
      QuestionnaireItem* raw_item = item.get();
      storage_.push_back(std::move(item));
      index_.emplace(raw_item->link_id, raw_item);
      into.push_back(raw_item);
      if (const Value* children = raw.Find("item")) {
        if (raw_item->type == ItemType::kDisplay) {
          outcome_.Error(IssueType::kInvariant, at + ".item",
                         "display items have no items (que-1)");
        }
        Items(*children, at + ".item", raw_item, raw_item->children);
      }
    }
  }

 private:
  std::vector<std::unique_ptr<QuestionnaireItem>>& storage_;
  std::unordered_map<std::string, const QuestionnaireItem*>& index_;
  fhir::Outcome& outcome_;
};

// Validates the items of one level of a response against the definitions allowed there.
class ResponseChecker {
 public:
  ResponseChecker(const Questionnaire& q, bool check_required, fhir::Outcome& outcome)
      : q_(q), check_required_(check_required), outcome_(outcome) {}

  // `items` (may be null) answer the definitions `allowed`; `owner` is the parent definition
  // (null at the root), `path` the FHIRPath of the element that holds `items`.
  void Level(const Value* items, const std::vector<const QuestionnaireItem*>& allowed,
             const QuestionnaireItem* owner, const std::string& path) {
    std::vector<const QuestionnaireItem*> seen;
    if (items != nullptr) {
      if (!items->is_array()) {
        outcome_.Error(IssueType::kStructure, path + ".item", "item must be an array");
        return;
      }
      for (std::size_t i = 0; i < items->items().size(); ++i) {
        const Value& item = items->items()[i];
        std::string_view link_id = item.StringAt("linkId");
        if (!item.is_object() || link_id.empty()) {
          outcome_.Error(IssueType::kRequired, path + ".item[" + std::to_string(i) + "].linkId",
                         "every response item needs a linkId");
          continue;
        }
        const std::string at = ItemPath(path, link_id);
        const QuestionnaireItem* def = nullptr;
        for (const QuestionnaireItem* candidate : allowed) {
          if (candidate->link_id == link_id) {
            def = candidate;
            break;
          }
        }
        if (def == nullptr) {
          const QuestionnaireItem* elsewhere = q_.Find(link_id);
          if (elsewhere == nullptr) {
            outcome_.Error(IssueType::kNotFound, at,
                           "linkId '" + std::string(link_id) +
                               "' is not an item of Questionnaire " + q_.url());
          } else {
            outcome_.Error(
                IssueType::kStructure, at,
                "item '" + std::string(link_id) + "' is not allowed here: it belongs " +
                    (elsewhere->parent == nullptr
                         ? std::string("at the top level")
                         : "inside item '" + elsewhere->parent->link_id + "'") +
                    (owner == nullptr ? std::string() : ", not inside '" + owner->link_id + "'"));
          }
          continue;
        }
        if (def->type == ItemType::kDisplay) {
          outcome_.Error(IssueType::kStructure, at,
                         "item '" + def->link_id + "' is a display item and takes no answer");
          continue;
        }
        bool repeated = false;
        for (const QuestionnaireItem* s : seen) {
          repeated = repeated || s == def;
        }
        if (repeated && !def->repeats) {
          outcome_.Error(IssueType::kStructure, at,
                         "item '" + def->link_id + "' appears more than once but does not repeat");
        }
        seen.push_back(def);
        Item(item, *def, at);
      }
    }
    if (check_required_) {
      for (const QuestionnaireItem* def : allowed) {
        if (!def->required) {
          continue;
        }
        bool present = false;
        for (const QuestionnaireItem* s : seen) {
          present = present || s == def;
        }
        if (!present) {
          outcome_.Error(IssueType::kRequired, ItemPath(path, def->link_id),
                         "required item '" + def->link_id + "' (" + def->text +
                             ") is missing from the response");
        }
      }
    }
  }

 private:
  void Item(const Value& item, const QuestionnaireItem& def, const std::string& at) {
    const Value* answers = item.Find("answer");
    const Value* children = item.Find("item");
    if (def.type == ItemType::kGroup || def.type == ItemType::kQuestion) {
      if (answers != nullptr) {
        outcome_.Error(IssueType::kStructure, at + ".answer",
                       "item '" + def.link_id + "' is a group and takes no answer");
      }
      if (check_required_ && def.required &&
          (children == nullptr || !children->is_array() || children->items().empty())) {
        outcome_.Error(IssueType::kRequired, at,
                       "required group '" + def.link_id + "' has no answered items");
      }
      Level(children, def.children, &def, at);
      return;
    }
    if (children != nullptr) {
      outcome_.Error(
          IssueType::kStructure, at + ".item",
          "item '" + def.link_id + "' is a question: its nested items go in answer.item");
    }
    const bool none = answers == nullptr || !answers->is_array() || answers->items().empty();
    if (answers != nullptr && !answers->is_array()) {
      outcome_.Error(IssueType::kStructure, at + ".answer", "answer must be an array");
      return;
    }
    if (none) {
      if (check_required_ && def.required) {
        outcome_.Error(IssueType::kRequired, at,
                       "required item '" + def.link_id + "' (" + def.text + ") has no answer");
      }
      return;
    }
    if (answers->items().size() > 1 && !def.repeats) {
      outcome_.Error(IssueType::kStructure, at + ".answer",
                     "item '" + def.link_id + "' takes one answer, not " +
                         std::to_string(answers->items().size()));
    }
    const std::vector<std::string_view> keys = AnswerKeys(def.type);
    for (std::size_t i = 0; i < answers->items().size(); ++i) {
      const Value& answer = answers->items()[i];
      const std::string answer_at = at + ".answer[" + std::to_string(i) + "]";
      std::vector<const json::Member*> values;
      for (const json::Member& m : answer.members()) {
        if (m.key.starts_with("value")) {
          values.push_back(&m);
        }
      }
      if (values.size() != 1) {
        outcome_.Error(IssueType::kStructure, answer_at,
                       "an answer to '" + def.link_id + "' needs exactly one value[x]");
        continue;
      }
      const json::Member& value = *values.front();
      bool type_ok = false;
      for (std::string_view key : keys) {
        type_ok = type_ok || value.key == key;
      }
      if (!type_ok) {
        std::string expected;
        for (std::string_view key : keys) {
          expected += (expected.empty() ? "" : " or ") + std::string(key);
        }
        outcome_.Error(IssueType::kValue, answer_at + "." + value.key,
                       "item '" + def.link_id + "' is of type " + std::string(ToCode(def.type)) +
                           ": its answer must be " + expected + ", not " + value.key);
        continue;
      }
      if (!KindFits(value.key, value.value)) {
        outcome_.Error(IssueType::kValue, answer_at + "." + value.key,
                       "the answer to '" + def.link_id + "' is not a valid " + value.key);
        continue;
      }
      if (value.key == "valueCoding" && !def.answer_options.empty() && !Allowed(def, value.value)) {
        outcome_.Error(IssueType::kCodeInvalid, answer_at + ".valueCoding",
                       "'" + std::string(value.value.StringAt("system")) + "|" +
                           std::string(value.value.StringAt("code")) +
                           "' is not one of the allowed answers of item '" + def.link_id + "'");
      }
      if (const Value* nested = answer.Find("item")) {
        Level(nested, def.children, &def, answer_at);
      }
    }
  }

  static bool Allowed(const QuestionnaireItem& def, const Value& coding) {
    for (const auto& [key, option] : def.answer_options) {
      if (key != "valueCoding") {
        continue;
      }
      std::string_view system = option.StringAt("system");
      if (option.StringAt("code") == coding.StringAt("code") &&
          (system.empty() || system == coding.StringAt("system"))) {
        return true;
      }
    }
    return false;
  }

  const Questionnaire& q_;
  bool check_required_;
  fhir::Outcome& outcome_;
};

}  // namespace

std::optional<ItemType> ItemTypeFromCode(std::string_view code) {
  for (const auto& [name, type] : kItemTypes) {
    if (name == code) {
      return type;
    }
  }
  return std::nullopt;
}

std::string_view ToCode(ItemType type) {
  for (const auto& [name, t] : kItemTypes) {
    if (t == type) {
      return name;
    }
  }
  return "group";
}

std::string_view QuestionnaireItem::CodeSystem() const {
  return code.is_array() && !code.items().empty() ? code.items().front().StringAt("system")
                                                  : std::string_view();
}

std::string_view QuestionnaireItem::Code() const {
  return code.is_array() && !code.items().empty() ? code.items().front().StringAt("code")
                                                  : std::string_view();
}

std::shared_ptr<const Questionnaire> Questionnaire::Compile(const Value& resource,
                                                            fhir::Outcome& outcome) {
  if (!resource.is_object() || resource.StringAt("resourceType") != "Questionnaire") {
    outcome.Error(IssueType::kInvalid, "", "not a Questionnaire resource");
    return nullptr;
  }
  auto q = std::make_shared<Questionnaire>();
  q->url_ = std::string(resource.StringAt("url"));
  q->id_ = std::string(resource.StringAt("id"));
  q->version_ = std::string(resource.StringAt("version"));
  if (q->url_.empty()) {
    outcome.Error(IssueType::kRequired, "Questionnaire.url",
                  "a Questionnaire needs a canonical url for responses to name");
  }
  fhir::Outcome problems;
  if (const Value* items = resource.Find("item")) {
    Compiler compiler(*q, q->storage_, q->by_link_id_, problems);
    compiler.Items(*items, "Questionnaire.item", nullptr, q->roots_);
  }
  const bool bad = problems.HasErrors() || q->url_.empty();
  outcome.Append(problems);
  if (bad) {
    return nullptr;
  }
  q->resource_ = resource;
  return q;
}

const QuestionnaireItem* Questionnaire::Find(std::string_view link_id) const {
  auto it = by_link_id_.find(std::string(link_id));
  return it == by_link_id_.end() ? nullptr : it->second;
}

std::string_view CanonicalUrl(std::string_view canonical) {
  return canonical.substr(0, canonical.find('|'));
}

bool ValidateResponse(const Questionnaire& questionnaire, const Value& response,
                      fhir::Outcome& outcome) {
  fhir::Outcome problems;
  if (!response.is_object() || response.StringAt("resourceType") != "QuestionnaireResponse") {
    outcome.Error(IssueType::kInvalid, "", "not a QuestionnaireResponse");
    return false;
  }
  std::string_view status = response.StringAt("status");
  const bool complete = status == "completed" || status == "amended";
  ResponseChecker checker(questionnaire, complete, problems);
  checker.Level(response.Find("item"), questionnaire.items(), nullptr, "QuestionnaireResponse");
  const bool ok = !problems.HasErrors();
  outcome.Append(problems);
  return ok;
}

}  // namespace carebridge::mappings
