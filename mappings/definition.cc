#include "mappings/definition.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

#include "fhir/json/json.h"

namespace carebridge::mappings {

using fhir::IssueType;
using fhir::Outcome;
using fhir::json::Value;

namespace {

struct KindCode {
  RuleKind kind;
  std::string_view code;
};
constexpr std::array kKinds = {
    KindCode{RuleKind::kIdentifierSystem, "identifier-system"},
    KindCode{RuleKind::kTranslateCode, "translate-code"},
    KindCode{RuleKind::kSetDefault, "set-default"},
    KindCode{RuleKind::kCopy, "copy"},
    KindCode{RuleKind::kMove, "move"},
    KindCode{RuleKind::kRemove, "remove"},
    KindCode{RuleKind::kAddProfile, "add-profile"},
    KindCode{RuleKind::kRemoveProfile, "remove-profile"},
    KindCode{RuleKind::kAddTag, "add-tag"},
    KindCode{RuleKind::kRemoveTag, "remove-tag"},
    KindCode{RuleKind::kAddExtension, "add-extension"},
    KindCode{RuleKind::kStripExtensions, "strip-extensions"},
};

// The members each rule kind takes besides rule, reversible and comment.
std::vector<std::string_view> KeysOf(RuleKind kind) {
  switch (kind) {
    case RuleKind::kIdentifierSystem:
      return {"local", "canonical"};
    case RuleKind::kTranslateCode:
      return {"path", "conceptMap", "unmatched", "outboundUnmatched", "accept"};
    case RuleKind::kSetDefault:
      return {"path", "value"};
    case RuleKind::kCopy:
    case RuleKind::kMove:
      return {"from", "to"};
    case RuleKind::kRemove:
      return {"path"};
    case RuleKind::kAddProfile:
    case RuleKind::kRemoveProfile:
      return {"profile"};
    case RuleKind::kAddTag:
    case RuleKind::kRemoveTag:
      return {"tag"};
    case RuleKind::kAddExtension:
      return {"path", "extension"};
    case RuleKind::kStripExtensions:
      return {"path", "urls", "keep"};
  }
  return {};
}

std::string Join(const std::string& where, std::string_view key) {
  return where.empty() ? std::string(key) : where + "." + std::string(key);
}

bool IsResourceTypeName(std::string_view s) {
  return !s.empty() && std::isupper(static_cast<unsigned char>(s[0])) &&
         std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalpha(static_cast<unsigned char>(c)); });
}

class Reader {
 public:
  explicit Reader(Outcome& outcome) : outcome_(outcome) {}

  bool String(const Value& object, std::string_view key, const std::string& where, std::string& out,
              bool required) {
    const Value* v = object.Find(key);
    if (v == nullptr) {
      if (required) {
        outcome_.Error(IssueType::kRequired, Join(where, key), "is required");
      }
      return !required;
    }
    if (!v->is_string() || v->text().empty()) {
      outcome_.Error(IssueType::kStructure, Join(where, key), "must be a non-empty string");
      return false;
    }
    out = v->text();
    return true;
  }

  bool Strings(const Value& object, std::string_view key, const std::string& where,
               std::vector<std::string>& out) {
    const Value* v = object.Find(key);
    if (v == nullptr) {
      return true;
    }
    if (!v->is_array() || v->items().empty()) {
      outcome_.Error(IssueType::kStructure, Join(where, key),
                     "must be a non-empty array of strings");
      return false;
    }
    for (const Value& item : v->items()) {
      if (!item.is_string() || item.text().empty()) {
        outcome_.Error(IssueType::kStructure, Join(where, key),
                       "must be a non-empty array of strings");
        return false;
      }
      out.push_back(item.text());
    }
    return true;
  }

  bool UnmatchedMode(const Value& object, std::string_view key, const std::string& where,
                     Unmatched& out) {
    std::string mode;
    if (!String(object, key, where, mode, false)) {
      return false;
    }
    if (mode.empty() || mode == "keep") {
      out = Unmatched::kKeep;
    } else if (mode == "reject") {
      out = Unmatched::kReject;
    } else if (mode == "unmapped") {
      out = Unmatched::kUnmapped;
    } else {
      outcome_.Error(IssueType::kCodeInvalid, Join(where, key),
                     "unknown mode '" + mode + "' (keep, reject or unmapped)");
      return false;
    }
    return true;
  }

  void Rule(const Value& rule, const std::string& where, const std::string& type, bool outbound,
            std::vector<RuleSpec>& out) {
    if (!rule.is_object()) {
      outcome_.Error(IssueType::kStructure, where, "a rule must be an object");
      return;
    }
    RuleSpec spec;
    spec.resource_type = type;
    spec.outbound_only = outbound;
    spec.where = where;
    std::string kind;
    if (!String(rule, "rule", where, kind, true)) {
      return;
    }
    const std::optional<RuleKind> parsed = RuleKindFromCode(kind);
    if (!parsed) {
      outcome_.Error(IssueType::kNotSupported, where + ".rule", "unknown rule kind '" + kind + "'");
      return;
    }
    spec.kind = *parsed;
    const std::vector<std::string_view> keys = KeysOf(spec.kind);
    bool ok = true;
    for (const auto& m : rule.members()) {
      if (m.key == "rule" || m.key == "reversible" || m.key == "comment") {
        continue;
      }
      if (std::find(keys.begin(), keys.end(), m.key) == keys.end()) {
        outcome_.Error(IssueType::kStructure, where + "." + m.key,
                       "unknown member '" + m.key + "' for rule " + kind);
        ok = false;
      }
    }
    spec.reversible =
        spec.kind == RuleKind::kIdentifierSystem || spec.kind == RuleKind::kTranslateCode;
    if (const Value* r = rule.Find("reversible"); r != nullptr) {
      if (!r->is_bool()) {
        outcome_.Error(IssueType::kStructure, where + ".reversible", "must be true or false");
        ok = false;
      } else {
        spec.reversible = r->as_bool();
      }
    }
    if (spec.reversible && outbound) {
      if (rule.Find("reversible") != nullptr) {
        outcome_.Error(IssueType::kInvariant, where + ".reversible",
                       "outbound rules are not inverted; declare the rule inbound instead");
        ok = false;
      }
      spec.reversible = false;
    }
    if (spec.reversible && !CanReverse(spec.kind)) {
      outcome_.Error(IssueType::kInvariant, where + ".reversible",
                     "a " + kind + " rule has no exact inverse and cannot be reversible");
      ok = false;
    }
    switch (spec.kind) {
      case RuleKind::kIdentifierSystem:
        ok &= String(rule, "local", where, spec.local_system, true);
        ok &= String(rule, "canonical", where, spec.canonical_system, true);
        break;
      case RuleKind::kTranslateCode: {
        ok &= String(rule, "path", where, spec.path, true);
        ok &= String(rule, "conceptMap", where, spec.concept_map, true);
        ok &= UnmatchedMode(rule, "unmatched", where, spec.unmatched);
        ok &= UnmatchedMode(rule, "outboundUnmatched", where, spec.outbound_unmatched);
        std::vector<std::string> accept;
        ok &= Strings(rule, "accept", where, accept);
        if (accept.empty()) {
          spec.accept = {Equivalence::kEqual, Equivalence::kEquivalent, Equivalence::kWider};
        }
        for (const std::string& code : accept) {
          const std::optional<Equivalence> e = EquivalenceFromCode(code);
          if (!e || !IsMapping(*e)) {
            outcome_.Error(IssueType::kCodeInvalid, where + ".accept",
                           "'" + code + "' is not a mapping equivalence and cannot be accepted");
            ok = false;
          } else {
            spec.accept.push_back(*e);
          }
        }
        break;
      }
      case RuleKind::kSetDefault:
        ok &= String(rule, "path", where, spec.path, true);
        if (const Value* v = rule.Find("value"); v != nullptr && !v->is_null()) {
          spec.value = *v;
        } else {
          outcome_.Error(IssueType::kRequired, where + ".value", "is required");
          ok = false;
        }
        break;
      case RuleKind::kCopy:
      case RuleKind::kMove:
        ok &= String(rule, "from", where, spec.from, true);
        ok &= String(rule, "to", where, spec.to, true);
        break;
      case RuleKind::kRemove:
        ok &= String(rule, "path", where, spec.path, true);
        break;
      case RuleKind::kAddProfile:
      case RuleKind::kRemoveProfile:
        ok &= String(rule, "profile", where, spec.profile, true);
        break;
      case RuleKind::kAddTag:
      case RuleKind::kRemoveTag: {
        const Value* tag = rule.Find("tag");
        if (tag == nullptr || !tag->is_object() || tag->StringAt("system").empty() ||
            tag->StringAt("code").empty()) {
          outcome_.Error(IssueType::kRequired, where + ".tag",
                         "must be a Coding with system and code");
          ok = false;
        } else {
          spec.value = *tag;
        }
        break;
      }
      case RuleKind::kAddExtension: {
        ok &= String(rule, "path", where, spec.path, false);
        const Value* ext = rule.Find("extension");
        if (ext == nullptr || !ext->is_object() || ext->StringAt("url").empty()) {
          outcome_.Error(IssueType::kRequired, where + ".extension",
                         "must be an Extension with a url");
          ok = false;
        } else {
          spec.value = *ext;
        }
        break;
      }
      case RuleKind::kStripExtensions:
        ok &= String(rule, "path", where, spec.path, false);
        ok &= Strings(rule, "urls", where, spec.urls);
        ok &= Strings(rule, "keep", where, spec.keep_urls);
        if (spec.urls.empty() == spec.keep_urls.empty()) {
          outcome_.Error(IssueType::kInvariant, where,
                         "strip-extensions needs exactly one of urls and keep");
          ok = false;
        }
        break;
    }
    if (ok) {
      out.push_back(std::move(spec));
    }
  }

  void Direction(const Value& root, std::string_view name, Definition& def) {
    const Value* section = root.Find(name);
    if (section == nullptr) {
      return;
    }
    const std::string base(name);
    if (!section->is_object()) {
      outcome_.Error(IssueType::kStructure, base, "must map resource types to rule lists");
      return;
    }
    // "*" applies to every type and runs first, whatever its place in the file.
    std::vector<const fhir::json::Member*> ordered;
    for (const auto& m : section->members()) {
      if (m.key == "*") {
        ordered.insert(ordered.begin(), &m);
      } else {
        ordered.push_back(&m);
      }
    }
    for (const fhir::json::Member* m : ordered) {
      const std::string where = base + "." + m->key;
      if (m->key != "*" && !IsResourceTypeName(m->key)) {
        outcome_.Error(IssueType::kStructure, where, "'" + m->key + "' is not a resource type");
        continue;
      }
      if (!m->value.is_array()) {
        outcome_.Error(IssueType::kStructure, where, "must be an array of rules");
        continue;
      }
      for (std::size_t i = 0; i < m->value.items().size(); ++i) {
        Rule(m->value.items()[i], where + "[" + std::to_string(i) + "]", m->key, name == "outbound",
             def.rules);
      }
    }
  }

 private:
  Outcome& outcome_;
};

}  // namespace

std::string_view ToCode(RuleKind kind) {
  for (const KindCode& k : kKinds) {
    if (k.kind == kind) {
      return k.code;
    }
  }
  return "remove";
}

std::optional<RuleKind> RuleKindFromCode(std::string_view code) {
  for (const KindCode& k : kKinds) {
    if (k.code == code) {
      return k.kind;
    }
  }
  return std::nullopt;
}

bool CanReverse(RuleKind kind) {
  switch (kind) {
    case RuleKind::kIdentifierSystem:
    case RuleKind::kTranslateCode:
    case RuleKind::kMove:
    case RuleKind::kAddProfile:
    case RuleKind::kRemoveProfile:
    case RuleKind::kAddTag:
    case RuleKind::kRemoveTag:
    case RuleKind::kAddExtension:
      return true;
    default:
      // A default, a copy or a removal forgets whether (or what) was there before.
      return false;
  }
}

std::optional<Definition> ParseDefinition(std::string_view text, Outcome& outcome) {
  std::string message;
  Result<Value> parsed = fhir::json::Parse(text, fhir::json::Limits{}, message);
  if (!parsed) {
    outcome.Error(IssueType::kStructure, "", "mapping definition JSON: " + message);
    return std::nullopt;
  }
  const Value& root = *parsed;
  if (!root.is_object()) {
    outcome.Error(IssueType::kStructure, "", "a mapping definition is a JSON object");
    return std::nullopt;
  }
  const std::size_t before = outcome.issues().size();
  Definition def;
  Reader reader(outcome);
  reader.String(root, "partner", "", def.partner, true);
  reader.String(root, "version", "", def.version, false);
  reader.String(root, "description", "", def.description, false);
  for (const auto& m : root.members()) {
    static constexpr std::array<std::string_view, 6> kTop = {"partner", "version", "description",
                                                             "comment", "inbound", "outbound"};
    if (std::find(kTop.begin(), kTop.end(), m.key) == kTop.end()) {
      outcome.Error(IssueType::kStructure, m.key, "unknown member '" + m.key + "'");
    }
  }
  reader.Direction(root, "inbound", def);
  reader.Direction(root, "outbound", def);
  const bool failed = std::any_of(
      outcome.issues().begin() + static_cast<std::ptrdiff_t>(before), outcome.issues().end(),
      [](const fhir::Issue& i) { return i.severity == fhir::Severity::kError; });
  if (failed) {
    return std::nullopt;
  }
  return def;
}

}  // namespace carebridge::mappings
