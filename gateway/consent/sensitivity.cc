#include "gateway/consent/sensitivity.h"

#include <utility>

#include "gateway/consent/data_item.h"

namespace carebridge::consent {
namespace {

using fhir::json::Value;

constexpr std::string_view kIcd10Cm = "http://hl7.org/fhir/sid/icd-10-cm";
constexpr std::string_view kIcd10 = "http://hl7.org/fhir/sid/icd-10";
constexpr std::string_view kSnomed = "http://snomed.info/sct";

bool HasPart2Label(const DataItem& item, const SensitivityRules& rules) {
  for (const CodeRef& label : item.security) {
    if (rules.IsPart2Label(label.system, label.code)) {
      return true;
    }
  }
  return false;
}

bool HasSudCode(const DataItem& item, const SensitivityRules& rules) {
  for (const CodeRef& code : item.codes) {
    if (rules.IsSudCode(code.system, code.code)) {
      return true;
    }
  }
  return false;
}

}  // namespace

SensitivityRules SensitivityRules::Default() {
  SensitivityRules rules;
  for (std::string_view system : {kIcd10Cm, kIcd10}) {
    for (std::string_view prefix :
         {"F10", "F11", "F12", "F13", "F14", "F15", "F16", "F18", "F19"}) {
      rules.sud_codes.push_back({std::string(system), std::string(prefix), true});
    }
  }
  for (std::string_view code :
       {"7200002", "15167005", "66214007", "26416006", "191816009", "5602001", "75544000"}) {
    rules.sud_codes.push_back({std::string(kSnomed), std::string(code), false});
  }
  rules.part2_labels = {"ETH", "ETHUD", "OPIOIDUD", "SUD"};
  return rules;
}

bool SensitivityRules::IsSudCode(std::string_view system, std::string_view code) const {
  for (const CodePattern& p : sud_codes) {
    if (p.system == system && (p.prefix ? code.starts_with(p.code) : code == p.code)) {
      return true;
    }
  }
  return false;
}

bool SensitivityRules::IsPart2Label(std::string_view system, std::string_view code) const {
  if (system != kActCodeSystem) {
    return false;
  }
  for (const std::string& label : part2_labels) {
    if (label == code) {
      return true;
    }
  }
  return false;
}

bool LabelSensitive(Value& resource, const SensitivityRules& rules) {
  bool needs_label = false;
  {
    // The item's views die before the resource changes.
    const DataItem item = DataItem::FromResource(resource);
    needs_label = HasSudCode(item, rules) && !HasPart2Label(item, rules);
  }
  if (!needs_label || !resource.is_object()) {
    return false;
  }
  Value* meta = resource.Find("meta");
  if (meta == nullptr || !meta->is_object()) {
    std::size_t at = 0;
    const auto& members = resource.members();
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (members[i].key == "id" || members[i].key == "resourceType") {
        at = i + 1;
      }
    }
    meta = &resource.SetAt(at, "meta", Value::Object());
  }
  Value* security = meta->Find("security");
  if (security == nullptr || !security->is_array()) {
    security = &meta->Set("security", Value::Array());
  }
  Value label = Value::Object();
  label.Set("system", Value::String(std::string(kActCodeSystem)));
  label.Set("code", Value::String(std::string(kPart2Label)));
  label.Set("display", Value::String("substance abuse information sensitivity"));
  security->PushBack(std::move(label));
  return true;
}

}  // namespace carebridge::consent
