#include "mappings/concept_map.h"

#include <algorithm>
#include <array>
#include <utility>

#include "fhir/json/json.h"

namespace carebridge::mappings {

using fhir::IssueType;
using fhir::Outcome;
using fhir::json::Value;

namespace {

struct EquivalenceCode {
  Equivalence value;
  std::string_view code;
};
constexpr std::array kEquivalences = {
    EquivalenceCode{Equivalence::kRelatedTo, "relatedto"},
    EquivalenceCode{Equivalence::kEquivalent, "equivalent"},
    EquivalenceCode{Equivalence::kEqual, "equal"},
    EquivalenceCode{Equivalence::kWider, "wider"},
    EquivalenceCode{Equivalence::kSubsumes, "subsumes"},
    EquivalenceCode{Equivalence::kNarrower, "narrower"},
    EquivalenceCode{Equivalence::kSpecializes, "specializes"},
    EquivalenceCode{Equivalence::kInexact, "inexact"},
    EquivalenceCode{Equivalence::kUnmatched, "unmatched"},
    EquivalenceCode{Equivalence::kDisjoint, "disjoint"},
};

// Chains of other-map longer than this are refused at build time and cut at run time.
constexpr int kMaxChain = 8;

std::string At(std::string_view base, std::size_t index) {
  return std::string(base) + "[" + std::to_string(index) + "]";
}

// Reads an optional string member; a member of another JSON kind is an error.
bool OptionalString(const Value& object, std::string_view key, const std::string& path,
                    std::string& out, Outcome& outcome) {
  const Value* v = object.Find(key);
  if (v == nullptr) {
    return true;
  }
  if (!v->is_string()) {
    outcome.Error(IssueType::kStructure, path + "." + std::string(key), "must be a string");
    return false;
  }
  out = v->text();
  return true;
}

bool RequiredString(const Value& object, std::string_view key, const std::string& path,
                    std::string& out, Outcome& outcome) {
  if (object.Find(key) == nullptr) {
    outcome.Error(IssueType::kRequired, path + "." + std::string(key), "is required");
    return false;
  }
  if (!OptionalString(object, key, path, out, outcome)) {
    return false;
  }
  if (out.empty()) {
    outcome.Error(IssueType::kRequired, path + "." + std::string(key), "must not be empty");
    return false;
  }
  return true;
}

const std::vector<Value>* OptionalArray(const Value& object, std::string_view key,
                                        const std::string& path, Outcome& outcome) {
  static const std::vector<Value> kNone;
  const Value* v = object.Find(key);
  if (v == nullptr) {
    return &kNone;
  }
  if (!v->is_array()) {
    outcome.Error(IssueType::kStructure, path + "." + std::string(key), "must be an array");
    return nullptr;
  }
  return &v->items();
}

// Preference when a code has several acceptable targets: the closest meaning first.
int Rank(Equivalence e) {
  switch (e) {
    case Equivalence::kEqual:
      return 0;
    case Equivalence::kEquivalent:
      return 1;
    case Equivalence::kWider:
      return 2;
    case Equivalence::kSubsumes:
      return 3;
    case Equivalence::kNarrower:
      return 4;
    case Equivalence::kSpecializes:
      return 5;
    case Equivalence::kRelatedTo:
      return 6;
    case Equivalence::kInexact:
      return 7;
    case Equivalence::kUnmatched:
      return 8;
    case Equivalence::kDisjoint:
      return 9;
  }
  return 9;
}

}  // namespace

std::string_view ToCode(Equivalence e) {
  for (const EquivalenceCode& c : kEquivalences) {
    if (c.value == e) {
      return c.code;
    }
  }
  return "unmatched";
}

std::optional<Equivalence> EquivalenceFromCode(std::string_view code) {
  for (const EquivalenceCode& c : kEquivalences) {
    if (c.code == code) {
      return c.value;
    }
  }
  return std::nullopt;
}

Equivalence Reverse(Equivalence e) {
  switch (e) {
    case Equivalence::kWider:
      return Equivalence::kNarrower;
    case Equivalence::kNarrower:
      return Equivalence::kWider;
    case Equivalence::kSubsumes:
      return Equivalence::kSpecializes;
    case Equivalence::kSpecializes:
      return Equivalence::kSubsumes;
    default:
      return e;
  }
}

bool IsMapping(Equivalence e) {
  return e != Equivalence::kUnmatched && e != Equivalence::kDisjoint;
}

bool TranslateResult::result() const {
  return std::any_of(matches.begin(), matches.end(),
                     [](const Match& m) { return IsMapping(m.equivalence); });
}

std::shared_ptr<const ConceptMap> ConceptMap::Compile(const Value& resource, Outcome& outcome) {
  const std::size_t errors_before = outcome.issues().size();
  auto failed = [&] {
    return std::any_of(outcome.issues().begin() + static_cast<std::ptrdiff_t>(errors_before),
                       outcome.issues().end(),
                       [](const fhir::Issue& i) { return i.severity == fhir::Severity::kError; });
  };
  if (!resource.is_object() || resource.StringAt("resourceType") != "ConceptMap") {
    outcome.Error(IssueType::kInvalid, "", "not a ConceptMap resource");
    return nullptr;
  }
  auto map = std::make_shared<ConceptMap>();
  const std::string root = "ConceptMap";
  RequiredString(resource, "url", root, map->url_, outcome);
  std::string status;
  RequiredString(resource, "status", root, status, outcome);
  OptionalString(resource, "version", root, map->version_, outcome);
  OptionalString(resource, "name", root, map->name_, outcome);
  for (std::string_view key : {"sourceUri", "sourceCanonical"}) {
    OptionalString(resource, key, root, map->source_scope_, outcome);
  }
  for (std::string_view key : {"targetUri", "targetCanonical"}) {
    OptionalString(resource, key, root, map->target_scope_, outcome);
  }
  const std::vector<Value>* groups = OptionalArray(resource, "group", root, outcome);
  if (groups == nullptr) {
    return nullptr;
  }
  for (std::size_t g = 0; g < groups->size(); ++g) {
    const Value& gv = (*groups)[g];
    const std::string gpath = At(root + ".group", g);
    Group group;
    RequiredString(gv, "source", gpath, group.source, outcome);
    RequiredString(gv, "target", gpath, group.target, outcome);
    OptionalString(gv, "sourceVersion", gpath, group.source_version, outcome);
    OptionalString(gv, "targetVersion", gpath, group.target_version, outcome);
    const std::vector<Value>* elements = OptionalArray(gv, "element", gpath, outcome);
    for (std::size_t e = 0; elements != nullptr && e < elements->size(); ++e) {
      const Value& ev = (*elements)[e];
      const std::string epath = At(gpath + ".element", e);
      std::string code;
      std::string display;
      if (!RequiredString(ev, "code", epath, code, outcome)) {
        continue;
      }
      OptionalString(ev, "display", epath, display, outcome);
      Group::Element& element = group.forward[code];
      if (element.display.empty()) {
        element.display = display;
      }
      const std::vector<Value>* targets = OptionalArray(ev, "target", epath, outcome);
      for (std::size_t t = 0; targets != nullptr && t < targets->size(); ++t) {
        const Value& tv = (*targets)[t];
        const std::string tpath = At(epath + ".target", t);
        Target target;
        std::string equivalence;
        OptionalString(tv, "code", tpath, target.code, outcome);
        OptionalString(tv, "display", tpath, target.display, outcome);
        OptionalString(tv, "comment", tpath, target.comment, outcome);
        if (!RequiredString(tv, "equivalence", tpath, equivalence, outcome)) {
          continue;
        }
        const std::optional<Equivalence> eq = EquivalenceFromCode(equivalence);
        if (!eq) {
          outcome.Error(IssueType::kCodeInvalid, tpath + ".equivalence",
                        "unknown equivalence '" + equivalence + "'");
          continue;
        }
        target.equivalence = *eq;
        if (target.code.empty() && *eq != Equivalence::kUnmatched) {
          outcome.Error(IssueType::kRequired, tpath + ".code",
                        "is required unless the equivalence is 'unmatched'");
          continue;
        }
        if (!target.code.empty()) {
          Group::Element& back = group.reverse[target.code];
          if (back.display.empty()) {
            back.display = target.display;
          }
          back.targets.push_back(Target{code, display, *eq, target.comment});
        }
        element.targets.push_back(std::move(target));
      }
    }
    if (const Value* unmapped = gv.Find("unmapped"); unmapped != nullptr) {
      const std::string upath = gpath + ".unmapped";
      std::string mode;
      if (!unmapped->is_object()) {
        outcome.Error(IssueType::kStructure, upath, "must be an object");
      } else if (RequiredString(*unmapped, "mode", upath, mode, outcome)) {
        if (mode == "provided") {
          group.unmapped = UnmappedMode::kProvided;
        } else if (mode == "fixed") {
          group.unmapped = UnmappedMode::kFixed;
          RequiredString(*unmapped, "code", upath, group.unmapped_code, outcome);
          OptionalString(*unmapped, "display", upath, group.unmapped_display, outcome);
        } else if (mode == "other-map") {
          group.unmapped = UnmappedMode::kOtherMap;
          RequiredString(*unmapped, "url", upath, group.unmapped_url, outcome);
        } else {
          outcome.Error(IssueType::kCodeInvalid, upath + ".mode",
                        "unknown unmapped mode '" + mode + "' (provided, fixed or other-map)");
        }
      }
    }
    map->groups_.push_back(std::move(group));
  }
  if (failed()) {
    return nullptr;
  }
  map->resource_ = resource;
  return map;
}

bool ConceptMapSet::Builder::Add(const Value& resource, Outcome& outcome) {
  std::shared_ptr<const ConceptMap> map = ConceptMap::Compile(resource, outcome);
  if (!map) {
    return false;
  }
  for (const auto& existing : maps_) {
    if (existing->url() == map->url()) {
      outcome.Error(IssueType::kDuplicate, "ConceptMap.url",
                    "ConceptMap " + map->url() + " is already loaded");
      return false;
    }
  }
  maps_.push_back(std::move(map));
  return true;
}

bool ConceptMapSet::Builder::AddJson(std::string_view text, Outcome& outcome) {
  std::string message;
  Result<Value> parsed = fhir::json::Parse(text, fhir::json::Limits{}, message);
  if (!parsed) {
    outcome.Error(IssueType::kStructure, "", "ConceptMap JSON: " + message);
    return false;
  }
  return Add(*parsed, outcome);
}

std::shared_ptr<const ConceptMapSet> ConceptMapSet::Builder::Build(Outcome& outcome) && {
  auto set = std::make_shared<ConceptMapSet>();
  set->maps_ = std::move(maps_);
  for (const auto& map : set->maps_) {
    set->by_url_.emplace(map->url(), map.get());
  }
  bool ok = true;
  for (const auto& map : set->maps_) {
    for (std::size_t g = 0; g < map->groups().size(); ++g) {
      const ConceptMap::Group& group = map->groups()[g];
      if (group.unmapped != UnmappedMode::kOtherMap) {
        continue;
      }
      // Follow the chain; every link must exist and it must end within kMaxChain steps.
      const ConceptMap::Group* link = &group;
      std::string where = "ConceptMap.group[" + std::to_string(g) + "].unmapped.url";
      for (int depth = 0; link != nullptr && link->unmapped == UnmappedMode::kOtherMap; ++depth) {
        const ConceptMap* next = set->Find(link->unmapped_url);
        if (next == nullptr) {
          outcome.Error(IssueType::kNotFound, where,
                        map->url() + ": other-map " + link->unmapped_url + " is not loaded");
          ok = false;
          break;
        }
        if (depth >= kMaxChain) {
          outcome.Error(IssueType::kInvariant, where,
                        map->url() + ": other-map chain loops or is longer than " +
                            std::to_string(kMaxChain));
          ok = false;
          break;
        }
        link = nullptr;
        for (const ConceptMap::Group& candidate : next->groups()) {
          if (candidate.source == group.source) {
            link = &candidate;
            break;
          }
        }
      }
    }
  }
  if (!ok) {
    return nullptr;
  }
  return set;
}

const ConceptMap* ConceptMapSet::Find(std::string_view url) const {
  // Canonical references may carry a version: url|version.
  const std::string_view bare = url.substr(0, url.find('|'));
  const auto it = by_url_.find(bare);
  return it == by_url_.end() ? nullptr : it->second;
}

TranslateResult ConceptMapSet::Translate(const ConceptMap& map, std::string_view system,
                                         std::string_view code, bool reverse,
                                         std::string_view target_system) const {
  TranslateResult out;
  TranslateInto(map, system, code, reverse, target_system, 0, out);
  if (!out.result() && out.message.empty()) {
    out.message =
        "no mapping for " + std::string(system) + "|" + std::string(code) + " in " + map.url();
  }
  return out;
}

void ConceptMapSet::TranslateInto(const ConceptMap& map, std::string_view system,
                                  std::string_view code, bool reverse,
                                  std::string_view target_system, int depth,
                                  TranslateResult& out) const {
  bool any_group = false;
  for (const ConceptMap::Group& group : map.groups()) {
    const std::string& from = reverse ? group.target : group.source;
    const std::string& to = reverse ? group.source : group.target;
    if (from != system || (!target_system.empty() && to != target_system)) {
      continue;
    }
    any_group = true;
    const ConceptMap::Group::Index& index = reverse ? group.reverse : group.forward;
    const std::string& to_version = reverse ? group.source_version : group.target_version;
    const auto it = index.find(code);
    if (it != index.end() && !it->second.targets.empty()) {
      const std::size_t first = out.matches.size();
      for (const ConceptMap::Target& t : it->second.targets) {
        Match m;
        m.equivalence = reverse ? Reverse(t.equivalence) : t.equivalence;
        m.system = to;
        m.version = to_version;
        m.code = t.code;
        m.display = t.display;
        m.source = map.url();
        m.comment = t.comment;
        out.matches.push_back(m);
      }
      // Closest meaning first; ties keep the map's order.
      std::stable_sort(
          out.matches.begin() + static_cast<std::ptrdiff_t>(first), out.matches.end(),
          [](const Match& a, const Match& b) { return Rank(a.equivalence) < Rank(b.equivalence); });
      continue;
    }
    // No element for the code: the group's unmapped rule. Reversed, only `provided` has a meaning
    // (the same code on the other side); a fixed code or another map cannot be read backwards.
    switch (group.unmapped) {
      case UnmappedMode::kNone:
        break;
      case UnmappedMode::kProvided: {
        Match m;
        m.equivalence = Equivalence::kEquivalent;
        m.system = to;
        m.version = to_version;
        m.code = code;
        m.source = map.url();
        m.from_unmapped = true;
        out.matches.push_back(m);
        break;
      }
      case UnmappedMode::kFixed:
        if (!reverse) {
          Match m;
          m.equivalence = Equivalence::kInexact;
          m.system = to;
          m.version = to_version;
          m.code = group.unmapped_code;
          m.display = group.unmapped_display;
          m.source = map.url();
          m.from_unmapped = true;
          out.matches.push_back(m);
        }
        break;
      case UnmappedMode::kOtherMap:
        if (!reverse) {
          const ConceptMap* other = Find(group.unmapped_url);
          if (other != nullptr && depth < kMaxChain) {
            TranslateInto(*other, system, code, reverse, target_system, depth + 1, out);
          } else if (out.message.empty()) {
            out.message = "other-map " + group.unmapped_url + " is not available";
          }
        }
        break;
    }
  }
  if (!any_group && out.message.empty()) {
    out.message = "ConceptMap " + map.url() + " has no group " + (reverse ? "to " : "from ") +
                  std::string(system);
  }
}

TranslateResult ConceptMapSet::Translate(const TranslateRequest& request) const {
  TranslateResult out;
  if (!request.url.empty()) {
    const ConceptMap* map = Find(request.url);
    if (map == nullptr) {
      out.message = "ConceptMap " + request.url + " is not known";
      return out;
    }
    return Translate(*map, request.system, request.code, request.reverse, request.target_system);
  }
  // Without a url, the scopes choose the maps; reversed, source and target swap roles.
  const std::string& from_scope = request.reverse ? request.target : request.source;
  const std::string& to_scope = request.reverse ? request.source : request.target;
  int used = 0;
  for (const auto& map : maps_) {
    const std::string& map_from = request.reverse ? map->target_scope() : map->source_scope();
    const std::string& map_to = request.reverse ? map->source_scope() : map->target_scope();
    if ((!from_scope.empty() && map_from != from_scope) ||
        (!to_scope.empty() && map_to != to_scope)) {
      continue;
    }
    const bool has_group =
        std::any_of(map->groups().begin(), map->groups().end(), [&](const ConceptMap::Group& g) {
          return (request.reverse ? g.target : g.source) == request.system;
        });
    if (!has_group) {
      continue;
    }
    ++used;
    TranslateResult one;
    TranslateInto(*map, request.system, request.code, request.reverse, request.target_system, 0,
                  one);
    out.matches.insert(out.matches.end(), one.matches.begin(), one.matches.end());
  }
  if (!out.result()) {
    out.message = used == 0 ? "no ConceptMap translates from " + request.system
                            : "no mapping for " + request.system + "|" + request.code;
  }
  return out;
}

std::optional<TranslateRequest> ParseTranslateParameters(const Value& parameters,
                                                         Outcome& outcome) {
  if (!parameters.is_object() || parameters.StringAt("resourceType") != "Parameters") {
    outcome.Error(IssueType::kInvalid, "", "$translate expects a Parameters resource");
    return std::nullopt;
  }
  TranslateRequest request;
  const Value* list = parameters.Find("parameter");
  const std::size_t before = outcome.issues().size();
  if (list != nullptr && list->is_array()) {
    for (std::size_t i = 0; i < list->items().size(); ++i) {
      const Value& p = list->items()[i];
      const std::string path = At("Parameters.parameter", i);
      const std::string_view name = p.StringAt("name");
      // Each parameter's value[x] is the only member that is neither `name` nor `part`.
      const Value* value = nullptr;
      for (const auto& m : p.members()) {
        if (m.key.starts_with("value")) {
          value = &m.value;
        }
      }
      auto text = [&]() -> std::string {
        if (value == nullptr || !value->is_string()) {
          outcome.Error(IssueType::kInvalid, path, std::string(name) + " needs a string value");
          return {};
        }
        return value->text();
      };
      if (name == "url") {
        request.url = text();
      } else if (name == "system") {
        request.system = text();
      } else if (name == "code") {
        request.code = text();
      } else if (name == "version") {
        request.version = text();
      } else if (name == "source") {
        request.source = text();
      } else if (name == "target") {
        request.target = text();
      } else if (name == "targetsystem") {
        request.target_system = text();
      } else if (name == "reverse") {
        if (value == nullptr || !value->is_bool()) {
          outcome.Error(IssueType::kInvalid, path, "reverse needs valueBoolean");
        } else {
          request.reverse = value->as_bool();
        }
      } else if (name == "coding") {
        if (value == nullptr || !value->is_object()) {
          outcome.Error(IssueType::kInvalid, path, "coding needs valueCoding");
        } else {
          request.system = std::string(value->StringAt("system"));
          request.code = std::string(value->StringAt("code"));
          request.version = std::string(value->StringAt("version"));
        }
      } else if (name == "codeableConcept") {
        const Value* codings = value != nullptr ? value->Find("coding") : nullptr;
        if (codings == nullptr || !codings->is_array() || codings->items().empty()) {
          outcome.Error(IssueType::kInvalid, path, "codeableConcept needs a coding");
        } else {
          // One coding is translated; a concept with several should be sent as several calls.
          const Value& c = codings->items()[0];
          request.system = std::string(c.StringAt("system"));
          request.code = std::string(c.StringAt("code"));
        }
      } else if (name == "conceptMap" || name == "dependency") {
        outcome.Add(fhir::Severity::kError, IssueType::kNotSupported, path,
                    std::string(name) + " is not supported; load the ConceptMap and pass url");
      } else if (name == "conceptMapVersion") {
        // One version of each map is loaded at a time; the parameter is accepted and ignored.
      } else {
        outcome.Error(IssueType::kNotSupported, path,
                      "unknown $translate parameter '" + std::string(name) + "'");
      }
    }
  }
  if (request.code.empty()) {
    outcome.Error(IssueType::kRequired, "Parameters.parameter",
                  "$translate needs code and system, coding or codeableConcept");
  } else if (request.system.empty()) {
    outcome.Error(IssueType::kRequired, "Parameters.parameter", "$translate needs system");
  }
  const bool failed = std::any_of(
      outcome.issues().begin() + static_cast<std::ptrdiff_t>(before), outcome.issues().end(),
      [](const fhir::Issue& i) { return i.severity == fhir::Severity::kError; });
  if (failed) {
    return std::nullopt;
  }
  return request;
}

Value ToParameters(const TranslateResult& result) {
  Value out = Value::Object();
  out.Set("resourceType", Value::String("Parameters"));
  Value params = Value::Array();
  auto named = [](std::string_view name, std::string_view key, Value v) {
    Value p = Value::Object();
    p.Set("name", Value::String(std::string(name)));
    p.Set(std::string(key), std::move(v));
    return p;
  };
  params.PushBack(named("result", "valueBoolean", Value::Bool(result.result())));
  if (!result.message.empty()) {
    params.PushBack(named("message", "valueString", Value::String(result.message)));
  }
  for (const Match& m : result.matches) {
    Value match = Value::Object();
    match.Set("name", Value::String("match"));
    Value parts = Value::Array();
    parts.PushBack(
        named("equivalence", "valueCode", Value::String(std::string(ToCode(m.equivalence)))));
    if (!m.code.empty()) {
      Value coding = Value::Object();
      coding.Set("system", Value::String(std::string(m.system)));
      if (!m.version.empty()) {
        coding.Set("version", Value::String(std::string(m.version)));
      }
      coding.Set("code", Value::String(std::string(m.code)));
      if (!m.display.empty()) {
        coding.Set("display", Value::String(std::string(m.display)));
      }
      parts.PushBack(named("concept", "valueCoding", std::move(coding)));
    }
    parts.PushBack(named("source", "valueUri", Value::String(std::string(m.source))));
    match.Set("part", std::move(parts));
    params.PushBack(std::move(match));
  }
  out.Set("parameter", std::move(params));
  return out;
}

}  // namespace carebridge::mappings
