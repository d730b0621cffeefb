#include "mappings/engine.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>

#include "mappings/fhirpath.h"

namespace carebridge::mappings {

using fhir::IssueType;
using fhir::Outcome;
using fhir::json::Member;
using fhir::json::Value;
using fhirpath::Expression;
using fhirpath::Location;

namespace internal {

class Rule {
 public:
  virtual ~Rule() = default;
  // Changes `resource` in place; false when it added an error to `outcome`.
  virtual bool Apply(Value& resource, Outcome& outcome) const = 0;
};

}  // namespace internal

namespace {

using internal::Rule;
using RulePtr = std::shared_ptr<const Rule>;

// --- helpers over the JSON tree ---------------------------------------------------------------

// Where meta goes when a rule creates it: after id, as FHIR's own JSON examples order it.
Value& EnsureMeta(Value& resource) {
  if (Value* meta = resource.Find("meta"); meta != nullptr && meta->is_object()) {
    return *meta;
  }
  std::size_t position = 1;
  const auto& members = resource.members();
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (members[i].key == "id") {
      position = i + 1;
      break;
    }
  }
  return resource.SetAt(position, "meta", Value::Object());
}

// Drops an array member that has become empty, and an object left with nothing in it.
void DropIfEmpty(Value& parent, std::string_view key) {
  const Value* v = parent.Find(key);
  if (v != nullptr &&
      ((v->is_array() && v->items().empty()) || (v->is_object() && v->members().empty()))) {
    parent.Remove(key);
  }
}

void RemoveLocation(const Location& loc) {
  if (loc.parent == nullptr) {
    return;  // the resource itself is never removed
  }
  if (loc.index >= 0) {
    Value* array = loc.parent->Find(loc.key);
    if (array != nullptr && array->is_array() &&
        static_cast<std::size_t>(loc.index) < array->items().size()) {
      array->items().erase(array->items().begin() + loc.index);
      DropIfEmpty(*loc.parent, loc.key);
    }
    return;
  }
  loc.parent->Remove(loc.key);
}

// Whether a leading type name in `e` (`ServiceRequest.meta`) names this resource's type; true when
// there is none.
bool HasTypeHeadFor(const Expression& e, const Value& resource) {
  const std::string& text = e.text();
  if (text.empty() || !std::isupper(static_cast<unsigned char>(text[0]))) {
    return true;
  }
  const std::string_view type = resource.StringAt("resourceType");
  return text.starts_with(type) && (text.size() == type.size() || text[type.size()] == '.');
}

// The objects a target's parent expression selects; when it selects nothing and is a plain member
// chain for this resource type, the chain is created (`ServiceRequest.meta` creates `meta`).
std::vector<Value*> TargetParents(const Expression& parent,
                                  const std::optional<std::vector<std::string>>& chain,
                                  Value& resource) {
  std::vector<Value*> parents;
  for (const Location& loc : parent.Locate(resource)) {
    if (loc.value->is_object()) {
      parents.push_back(loc.value);
    }
  }
  if (!parents.empty() || !chain || !HasTypeHeadFor(parent, resource)) {
    return parents;
  }
  Value* at = &resource;
  for (const std::string& name : *chain) {
    Value* next = at->Find(name);
    if (next == nullptr) {
      next = &at->Set(name, Value::Object());
    }
    if (!next->is_object()) {
      return parents;  // an array or a primitive in the way: nothing sensible to create
    }
    at = next;
  }
  parents.push_back(at);
  return parents;
}

// --- rules ------------------------------------------------------------------------------------

class IdentifierSystemRule final : public Rule {
 public:
  IdentifierSystemRule(std::string from, std::string to)
      : from_(std::move(from)),
        to_(std::move(to)),
        from_query_("identifier=" + from_ + "|"),
        to_query_("identifier=" + to_ + "|"),
        from_query_encoded_("identifier=" + from_ + "%7C"),
        to_query_encoded_("identifier=" + to_ + "%7C") {}

  bool Apply(Value& resource, Outcome&) const override {
    Walk(resource);
    return true;
  }

 private:
  void RewriteIdentifier(Value& identifier) const {
    if (!identifier.is_object()) {
      return;
    }
    Value* system = identifier.Find("system");
    if (system != nullptr && system->is_string() && system->text() == from_) {
      system->mutable_text() = to_;
    }
  }

  // A conditional reference such as "Patient?identifier=<system>|<value>".
  void RewriteReference(Value& reference) const {
    std::string& text = reference.mutable_text();
    if (text.find('?') == std::string::npos) {
      return;
    }
    for (const auto& [from, to] : {std::pair{&from_query_, &to_query_},
                                   std::pair{&from_query_encoded_, &to_query_encoded_}}) {
      std::size_t at = 0;
      while ((at = text.find(*from, at)) != std::string::npos) {
        if (at > 0 && text[at - 1] != '?' && text[at - 1] != '&') {
          at += from->size();
          continue;
        }
        text.replace(at, from->size(), *to);
        at += to->size();
      }
    }
  }

  void Walk(Value& v) const {
    if (v.is_array()) {
      for (Value& item : v.items()) {
        Walk(item);
      }
      return;
    }
    if (!v.is_object()) {
      return;
    }
    for (Member& m : v.members()) {
      if (m.key == "identifier") {
        if (m.value.is_array()) {
          for (Value& id : m.value.items()) {
            RewriteIdentifier(id);
          }
        } else {
          RewriteIdentifier(m.value);  // Reference.identifier
        }
      } else if (m.key == "reference" && m.value.is_string()) {
        RewriteReference(m.value);
      }
      if (m.value.is_object() || m.value.is_array()) {
        Walk(m.value);
      }
    }
  }

  std::string from_;
  std::string to_;
  std::string from_query_;
  std::string to_query_;
  std::string from_query_encoded_;
  std::string to_query_encoded_;
};

class TranslateCodeRule final : public Rule {
 public:
  TranslateCodeRule(Expression path, std::shared_ptr<const ConceptMapSet> maps,
                    const ConceptMap* map, bool reverse, Unmatched unmatched,
                    std::vector<Equivalence> accept, std::string where)
      : path_(std::move(path)),
        maps_(std::move(maps)),
        map_(map),
        reverse_(reverse),
        unmatched_(unmatched),
        accept_(std::move(accept)),
        where_(std::move(where)) {}

  bool Apply(Value& resource, Outcome& outcome) const override {
    // Collect the codings first: they are only changed in place, so the pointers stay valid.
    std::vector<Value*> codings;
    for (const Location& loc : path_.Locate(resource)) {
      Value& v = *loc.value;
      if (!v.is_object()) {
        continue;
      }
      if (Value* list = v.Find("coding"); list != nullptr && list->is_array()) {
        for (Value& c : list->items()) {
          if (c.is_object()) {
            codings.push_back(&c);
          }
        }
      } else {
        codings.push_back(&v);
      }
    }
    bool ok = true;
    for (Value* coding : codings) {
      ok &= TranslateOne(resource, *coding, outcome);
    }
    return ok;
  }

 private:
  bool FromSystem(std::string_view system) const {
    for (const ConceptMap::Group& g : map_->groups()) {
      if ((reverse_ ? g.target : g.source) == system) {
        return true;
      }
    }
    return false;
  }

  bool Accepted(const Match& m) const {
    // The definition's accept list speaks of the map's own (forward) equivalence.
    const Equivalence declared = reverse_ ? Reverse(m.equivalence) : m.equivalence;
    return std::find(accept_.begin(), accept_.end(), declared) != accept_.end();
  }

  bool TranslateOne(const Value& resource, Value& coding, Outcome& outcome) const {
    const std::string_view system = coding.StringAt("system");
    const std::string_view code = coding.StringAt("code");
    if (code.empty() || !FromSystem(system)) {
      return true;  // not a code this map speaks for
    }
    // Copies: `system`/`code` view the coding, which is about to change.
    const std::string old_system(system);
    const std::string old_code(code);
    const TranslateResult result = maps_->Translate(*map_, old_system, old_code, reverse_);
    const Match* chosen = nullptr;
    for (const Match& m : result.matches) {
      const bool own_element = !m.from_unmapped && m.source == map_->url();
      if (own_element && IsMapping(m.equivalence) && Accepted(m)) {
        chosen = &m;
        break;
      }
    }
    if (chosen == nullptr && unmatched_ == Unmatched::kUnmapped) {
      for (const Match& m : result.matches) {
        const bool via_unmapped = m.from_unmapped || m.source != map_->url();
        if (via_unmapped && IsMapping(m.equivalence)) {
          chosen = &m;
          break;
        }
      }
    }
    if (chosen == nullptr) {
      const std::string what = "code '" + old_code + "' of " + old_system +
                               " has no acceptable translation in ConceptMap " + map_->url() +
                               (reverse_ ? " (reverse)" : "") + " [rule " + where_ + "]";
      if (unmatched_ == Unmatched::kKeep) {
        outcome.Add(fhir::Severity::kWarning, IssueType::kCodeInvalid,
                    fhirpath::PathOf(resource, &coding), what + "; kept as sent");
        return true;
      }
      outcome.Error(IssueType::kCodeInvalid, fhirpath::PathOf(resource, &coding), what);
      return false;
    }
    const bool code_changes = chosen->code != old_code;
    coding.Set("system", Value::String(std::string(chosen->system)));
    if (coding.Find("version") != nullptr) {
      if (chosen->version.empty()) {
        coding.Remove("version");
      } else {
        coding.Set("version", Value::String(std::string(chosen->version)));
      }
    }
    coding.Set("code", Value::String(std::string(chosen->code)));
    // A display belongs to its code: replaced with the map's, or dropped if the map has none. A
    // coding sent without display gets none, so the round trip gives back what was sent.
    if (coding.Find("display") != nullptr) {
      if (!chosen->display.empty()) {
        coding.Set("display", Value::String(std::string(chosen->display)));
      } else if (code_changes) {
        coding.Remove("display");
      }
    }
    return true;
  }

  Expression path_;
  std::shared_ptr<const ConceptMapSet> maps_;
  const ConceptMap* map_;
  bool reverse_;
  Unmatched unmatched_;
  std::vector<Equivalence> accept_;
  std::string where_;
};

struct Target {
  Expression parent;
  std::string name;
  std::optional<std::vector<std::string>> chain;  // of the parent, when it can be created
};

class SetDefaultRule final : public Rule {
 public:
  SetDefaultRule(Target target, Value value)
      : target_(std::move(target)), value_(std::move(value)) {}

  bool Apply(Value& resource, Outcome&) const override {
    std::vector<Value*> parents = TargetParents(target_.parent, target_.chain, resource);
    // Backwards: setting a member may move the members after it, never the ones before.
    for (auto it = parents.rbegin(); it != parents.rend(); ++it) {
      if ((*it)->Find(target_.name) == nullptr) {
        (*it)->Set(target_.name, value_);
      }
    }
    return true;
  }

 private:
  Target target_;
  Value value_;
};

class CopyRule final : public Rule {
 public:
  CopyRule(Expression from, Target to, bool move)
      : from_(std::move(from)), to_(std::move(to)), move_(move) {}

  bool Apply(Value& resource, Outcome&) const override {
    std::vector<Location> sources = from_.Locate(resource);
    if (sources.empty()) {
      return true;
    }
    // Elements that came out of an array go into an array, a single element stays single, so
    // the JSON shape of the cardinality is kept.
    Value copy;
    if (sources.size() > 1 || sources[0].index >= 0) {
      copy = Value::Array();
      for (const Location& loc : sources) {
        copy.PushBack(*loc.value);
      }
    } else {
      copy = *sources[0].value;
    }
    if (move_) {
      for (auto it = sources.rbegin(); it != sources.rend(); ++it) {
        RemoveLocation(*it);
      }
    }
    std::vector<Value*> parents = TargetParents(to_.parent, to_.chain, resource);
    for (auto it = parents.rbegin(); it != parents.rend(); ++it) {
      (*it)->Set(to_.name, copy);
    }
    return true;
  }

 private:
  Expression from_;
  Target to_;
  bool move_;
};

class RemoveRule final : public Rule {
 public:
  explicit RemoveRule(Expression path) : path_(std::move(path)) {}

  bool Apply(Value& resource, Outcome&) const override {
    std::vector<Location> found = path_.Locate(resource);
    // FHIRPath yields document order; removing from the back keeps the earlier indexes valid.
    for (auto it = found.rbegin(); it != found.rend(); ++it) {
      RemoveLocation(*it);
    }
    return true;
  }

 private:
  Expression path_;
};

class ProfileRule final : public Rule {
 public:
  ProfileRule(std::string profile, bool add) : profile_(std::move(profile)), add_(add) {}

  bool Apply(Value& resource, Outcome&) const override {
    if (add_) {
      Value& meta = EnsureMeta(resource);
      Value* list = meta.Find("profile");
      if (list == nullptr || !list->is_array()) {
        list = &meta.Set("profile", Value::Array());
      }
      for (const Value& p : list->items()) {
        if (p.is_string() && p.text() == profile_) {
          return true;
        }
      }
      list->PushBack(Value::String(profile_));
      return true;
    }
    Value* meta = resource.Find("meta");
    Value* list = meta != nullptr ? meta->Find("profile") : nullptr;
    if (list == nullptr || !list->is_array()) {
      return true;
    }
    std::erase_if(list->items(),
                  [&](const Value& p) { return p.is_string() && p.text() == profile_; });
    DropIfEmpty(*meta, "profile");
    DropIfEmpty(resource, "meta");
    return true;
  }

 private:
  std::string profile_;
  bool add_;
};

class TagRule final : public Rule {
 public:
  TagRule(Value tag, bool add)
      : tag_(std::move(tag)),
        system_(tag_.StringAt("system")),
        code_(tag_.StringAt("code")),
        add_(add) {}

  bool Apply(Value& resource, Outcome&) const override {
    auto same = [&](const Value& t) {
      return t.StringAt("system") == system_ && t.StringAt("code") == code_;
    };
    if (add_) {
      Value& meta = EnsureMeta(resource);
      Value* list = meta.Find("tag");
      if (list == nullptr || !list->is_array()) {
        list = &meta.Set("tag", Value::Array());
      }
      if (std::none_of(list->items().begin(), list->items().end(), same)) {
        list->PushBack(tag_);
      }
      return true;
    }
    Value* meta = resource.Find("meta");
    Value* list = meta != nullptr ? meta->Find("tag") : nullptr;
    if (list == nullptr || !list->is_array()) {
      return true;
    }
    std::erase_if(list->items(), same);
    DropIfEmpty(*meta, "tag");
    DropIfEmpty(resource, "meta");
    return true;
  }

 private:
  Value tag_;
  std::string system_;
  std::string code_;
  bool add_;
};

class AddExtensionRule final : public Rule {
 public:
  AddExtensionRule(std::optional<Expression> path, Value extension)
      : path_(std::move(path)),
        extension_(std::move(extension)),
        url_(extension_.StringAt("url")) {}

  bool Apply(Value& resource, Outcome&) const override {
    std::vector<Value*> targets;
    if (path_) {
      for (const Location& loc : path_->Locate(resource)) {
        if (loc.value->is_object()) {
          targets.push_back(loc.value);
        }
      }
    } else {
      targets.push_back(&resource);
    }
    for (auto it = targets.rbegin(); it != targets.rend(); ++it) {
      Value& target = **it;
      Value* list = target.Find("extension");
      if (list == nullptr || !list->is_array()) {
        list = &target.Set("extension", Value::Array());
      }
      const bool present = std::any_of(list->items().begin(), list->items().end(),
                                       [&](const Value& e) { return e.StringAt("url") == url_; });
      if (!present) {
        list->PushBack(extension_);
      }
    }
    return true;
  }

 private:
  std::optional<Expression> path_;
  Value extension_;
  std::string url_;
};

class StripExtensionsRule final : public Rule {
 public:
  // Without `path` the whole resource is cleaned when `recursive`, or only its root otherwise.
  StripExtensionsRule(std::optional<Expression> path, bool recursive, std::vector<std::string> urls,
                      std::vector<std::string> keep)
      : path_(std::move(path)),
        recursive_(recursive),
        urls_(std::move(urls)),
        keep_(std::move(keep)) {}

  bool Apply(Value& resource, Outcome&) const override {
    if (path_) {
      std::vector<Location> found = path_->Locate(resource);
      for (auto it = found.rbegin(); it != found.rend(); ++it) {
        if (it->value->is_object()) {
          Strip(*it->value);
        }
      }
    } else if (recursive_) {
      Walk(resource);
    } else {
      Strip(resource);
    }
    return true;
  }

 private:
  bool Drop(const Value& extension) const {
    const std::string_view url = extension.StringAt("url");
    if (!keep_.empty()) {
      return std::find(keep_.begin(), keep_.end(), url) == keep_.end();
    }
    return std::find(urls_.begin(), urls_.end(), url) != urls_.end();
  }

  // modifierExtension is never touched: dropping one would change the meaning of the data.
  void Strip(Value& object) const {
    Value* list = object.Find("extension");
    if (list == nullptr || !list->is_array()) {
      return;
    }
    std::erase_if(list->items(), [&](const Value& e) { return Drop(e); });
    DropIfEmpty(object, "extension");
  }

  void Walk(Value& v) const {
    if (v.is_array()) {
      for (Value& item : v.items()) {
        Walk(item);
      }
      return;
    }
    if (!v.is_object()) {
      return;
    }
    Strip(v);
    std::vector<std::string> emptied;
    for (Member& m : v.members()) {
      // A kept extension keeps all of its content: its sub-extensions have relative urls.
      if (m.key == "extension" || m.key == "modifierExtension") {
        continue;
      }
      if (m.value.is_object() || m.value.is_array()) {
        Walk(m.value);
        // A primitive's `_name` holder left empty goes too.
        if (m.key.starts_with('_') && m.value.is_object() && m.value.members().empty()) {
          emptied.push_back(m.key);
        }
      }
    }
    for (const std::string& key : emptied) {
      v.Remove(key);
    }
  }

  std::optional<Expression> path_;
  bool recursive_;
  std::vector<std::string> urls_;
  std::vector<std::string> keep_;
};

// --- compilation ------------------------------------------------------------------------------

class Compiler {
 public:
  Compiler(std::shared_ptr<const ConceptMapSet> maps, Outcome& outcome)
      : maps_(std::move(maps)), outcome_(outcome) {}

  std::optional<Expression> Path(const std::string& text, const std::string& where) {
    std::string message;
    Result<Expression> e = Expression::Compile(text, message);
    if (!e) {
      outcome_.Error(IssueType::kInvalid, where, message);
      return std::nullopt;
    }
    return std::move(*e);
  }

  std::optional<Target> TargetOf(const std::string& text, const std::string& where) {
    std::optional<Expression> e = Path(text, where);
    if (!e) {
      return std::nullopt;
    }
    std::optional<Expression::Target> split = e->SplitLast();
    if (!split) {
      outcome_.Error(IssueType::kInvalid, where,
                     "'" + text + "' must end in an element name to be written to");
      return std::nullopt;
    }
    Target t;
    t.chain = split->parent.MemberChain();
    t.parent = std::move(split->parent);
    t.name = std::move(split->name);
    return t;
  }

  // The rule and, when it is reversible, its inverse.
  bool Compile(const RuleSpec& spec, RulePtr& rule, RulePtr& inverse) {
    const std::string& w = spec.where;
    switch (spec.kind) {
      case RuleKind::kIdentifierSystem:
        rule = std::make_shared<IdentifierSystemRule>(spec.local_system, spec.canonical_system);
        inverse = std::make_shared<IdentifierSystemRule>(spec.canonical_system, spec.local_system);
        break;
      case RuleKind::kTranslateCode: {
        std::optional<Expression> path = Path(spec.path, w + ".path");
        const ConceptMap* map = maps_ ? maps_->Find(spec.concept_map) : nullptr;
        if (map == nullptr) {
          outcome_.Error(IssueType::kNotFound, w + ".conceptMap",
                         "ConceptMap " + spec.concept_map + " is not loaded");
        }
        if (!path || map == nullptr) {
          return false;
        }
        rule = std::make_shared<TranslateCodeRule>(*path, maps_, map, false, spec.unmatched,
                                                   spec.accept, w);
        // Reversed, group.unmapped has no meaning beyond `provided`; the outbound policy decides.
        inverse = std::make_shared<TranslateCodeRule>(*path, maps_, map, true,
                                                      spec.outbound_unmatched, spec.accept, w);
        break;
      }
      case RuleKind::kSetDefault: {
        std::optional<Target> target = TargetOf(spec.path, w + ".path");
        if (!target) {
          return false;
        }
        rule = std::make_shared<SetDefaultRule>(std::move(*target), spec.value);
        break;
      }
      case RuleKind::kCopy:
      case RuleKind::kMove: {
        const bool move = spec.kind == RuleKind::kMove;
        std::optional<Expression> from = Path(spec.from, w + ".from");
        std::optional<Target> to = TargetOf(spec.to, w + ".to");
        if (!from || !to) {
          return false;
        }
        if (move && spec.reversible) {
          std::optional<Target> back = TargetOf(spec.from, w + ".from");
          std::optional<Expression> forward = Path(spec.to, w + ".to");
          if (!back || !forward) {
            return false;
          }
          inverse = std::make_shared<CopyRule>(std::move(*forward), std::move(*back), true);
        }
        rule = std::make_shared<CopyRule>(std::move(*from), std::move(*to), move);
        break;
      }
      case RuleKind::kRemove: {
        std::optional<Expression> path = Path(spec.path, w + ".path");
        if (!path) {
          return false;
        }
        rule = std::make_shared<RemoveRule>(std::move(*path));
        break;
      }
      case RuleKind::kAddProfile:
      case RuleKind::kRemoveProfile: {
        const bool add = spec.kind == RuleKind::kAddProfile;
        rule = std::make_shared<ProfileRule>(spec.profile, add);
        inverse = std::make_shared<ProfileRule>(spec.profile, !add);
        break;
      }
      case RuleKind::kAddTag:
      case RuleKind::kRemoveTag: {
        const bool add = spec.kind == RuleKind::kAddTag;
        rule = std::make_shared<TagRule>(spec.value, add);
        inverse = std::make_shared<TagRule>(spec.value, !add);
        break;
      }
      case RuleKind::kAddExtension: {
        std::optional<Expression> path;
        if (!spec.path.empty()) {
          path = Path(spec.path, w + ".path");
          if (!path) {
            return false;
          }
        }
        rule = std::make_shared<AddExtensionRule>(path, spec.value);
        inverse = std::make_shared<StripExtensionsRule>(
            path, false, std::vector<std::string>{std::string(spec.value.StringAt("url"))},
            std::vector<std::string>{});
        break;
      }
      case RuleKind::kStripExtensions: {
        std::optional<Expression> path;
        if (!spec.path.empty()) {
          path = Path(spec.path, w + ".path");
          if (!path) {
            return false;
          }
        }
        rule =
            std::make_shared<StripExtensionsRule>(std::move(path), true, spec.urls, spec.keep_urls);
        break;
      }
    }
    if (!spec.reversible) {
      inverse.reset();
    }
    return true;
  }

 private:
  std::shared_ptr<const ConceptMapSet> maps_;
  Outcome& outcome_;
};

bool HasErrorsSince(const Outcome& outcome, std::size_t before) {
  return std::any_of(outcome.issues().begin() + static_cast<std::ptrdiff_t>(before),
                     outcome.issues().end(),
                     [](const fhir::Issue& i) { return i.severity == fhir::Severity::kError; });
}

}  // namespace

PartnerMapping::PartnerMapping() = default;
PartnerMapping::~PartnerMapping() = default;

std::shared_ptr<const PartnerMapping> PartnerMapping::Compile(
    const Definition& definition, std::shared_ptr<const ConceptMapSet> concept_maps,
    Outcome& outcome) {
  const std::size_t before = outcome.issues().size();
  std::shared_ptr<PartnerMapping> mapping(new PartnerMapping());
  mapping->partner_ = definition.partner;
  mapping->version_ = definition.version;
  mapping->concept_maps_ = concept_maps;
  Compiler compiler(std::move(concept_maps), outcome);

  // Per resource type ("*" included): the inbound steps, the inverses, the outbound-only steps.
  struct Lists {
    Pipeline inbound;
    Pipeline inverses;
    Pipeline outbound;
  };
  std::unordered_map<std::string, Lists> lists;
  std::vector<std::string> types;
  for (const RuleSpec& spec : definition.rules) {
    RulePtr rule;
    RulePtr inverse;
    if (!compiler.Compile(spec, rule, inverse)) {
      continue;
    }
    if (spec.resource_type != "*" &&
        std::find(types.begin(), types.end(), spec.resource_type) == types.end()) {
      types.push_back(spec.resource_type);
    }
    Lists& l = lists[spec.resource_type];
    if (spec.outbound_only) {
      l.outbound.push_back(Step{rule, false});
      continue;
    }
    l.inbound.push_back(Step{rule, spec.reversible});
    if (inverse) {
      l.inverses.push_back(Step{inverse, true});
    }
  }
  if (HasErrorsSince(outcome, before)) {
    return nullptr;
  }
  const Lists& any = lists["*"];
  auto inbound_for = [&](const Lists* typed) {
    Pipeline p = any.inbound;
    if (typed != nullptr) {
      p.insert(p.end(), typed->inbound.begin(), typed->inbound.end());
    }
    return p;
  };
  auto outbound_for = [&](const Lists* typed) {
    Pipeline p;
    if (typed != nullptr) {
      p.insert(p.end(), typed->inverses.rbegin(), typed->inverses.rend());
    }
    p.insert(p.end(), any.inverses.rbegin(), any.inverses.rend());
    p.insert(p.end(), any.outbound.begin(), any.outbound.end());
    if (typed != nullptr) {
      p.insert(p.end(), typed->outbound.begin(), typed->outbound.end());
    }
    return p;
  };
  for (const std::string& type : types) {
    const Lists* typed = &lists[type];
    mapping->inbound_.emplace(type, inbound_for(typed));
    mapping->outbound_.emplace(type, outbound_for(typed));
  }
  mapping->inbound_any_ = inbound_for(nullptr);
  mapping->outbound_any_ = outbound_for(nullptr);
  return mapping;
}

std::shared_ptr<const PartnerMapping> PartnerMapping::Load(
    std::string_view definition_json, std::shared_ptr<const ConceptMapSet> concept_maps,
    Outcome& outcome) {
  std::optional<Definition> definition = ParseDefinition(definition_json, outcome);
  if (!definition) {
    return nullptr;
  }
  return Compile(*definition, std::move(concept_maps), outcome);
}

const PartnerMapping::Pipeline& PartnerMapping::PipelineFor(Direction direction,
                                                            std::string_view resource_type) const {
  const Pipelines& pipelines = direction == Direction::kInbound ? inbound_ : outbound_;
  const auto it = pipelines.find(resource_type);
  if (it != pipelines.end()) {
    return it->second;
  }
  return direction == Direction::kInbound ? inbound_any_ : outbound_any_;
}

bool PartnerMapping::Apply(Direction direction, Value& resource, Outcome& outcome,
                           RuleSet rules) const {
  const Pipeline& pipeline = PipelineFor(direction, resource.StringAt("resourceType"));
  bool ok = true;
  for (const Step& step : pipeline) {
    if (rules == RuleSet::kReversibleOnly && !step.reversible) {
      continue;
    }
    // Every rule runs, so one call reports all the problems of a resource.
    ok &= step.rule->Apply(resource, outcome);
  }
  return ok;
}

std::size_t PartnerMapping::RuleCount(Direction direction, std::string_view resource_type) const {
  return PipelineFor(direction, resource_type).size();
}

bool SameResource(const Value& a, const Value& b, std::string& where, const std::string& path) {
  if (a.kind() != b.kind()) {
    where = path;
    return false;
  }
  switch (a.kind()) {
    case fhir::json::Kind::kObject: {
      if (a.members().size() != b.members().size()) {
        for (const Member& m : a.members()) {
          if (b.Find(m.key) == nullptr) {
            where = path.empty() ? m.key : path + "." + m.key;
            return false;
          }
        }
        for (const Member& m : b.members()) {
          if (a.Find(m.key) == nullptr) {
            where = path.empty() ? m.key : path + "." + m.key;
            return false;
          }
        }
      }
      for (const Member& m : a.members()) {
        const Value* other = b.Find(m.key);
        const std::string child = path.empty() ? m.key : path + "." + m.key;
        if (other == nullptr) {
          where = child;
          return false;
        }
        if (!SameResource(m.value, *other, where, child)) {
          return false;
        }
      }
      return true;
    }
    case fhir::json::Kind::kArray:
      if (a.items().size() != b.items().size()) {
        where = path;
        return false;
      }
      for (std::size_t i = 0; i < a.items().size(); ++i) {
        if (!SameResource(a.items()[i], b.items()[i], where,
                          path + "[" + std::to_string(i) + "]")) {
          return false;
        }
      }
      return true;
    case fhir::json::Kind::kBool:
      if (a.as_bool() != b.as_bool()) {
        where = path;
        return false;
      }
      return true;
    default:
      if (a.text() != b.text()) {
        where = path;
        return false;
      }
      return true;
  }
}

Outcome CheckRoundTrip(const PartnerMapping& mapping, std::span<const Value> fixtures) {
  Outcome result;
  for (std::size_t i = 0; i < fixtures.size(); ++i) {
    const Value& original = fixtures[i];
    std::string name(original.StringAt("resourceType"));
    if (!original.StringAt("id").empty()) {
      name += "/" + std::string(original.StringAt("id"));
    }
    name = mapping.partner() + " fixture " + std::to_string(i) + " (" + name + ")";
    Value copy = original;
    Outcome steps;
    mapping.Apply(Direction::kInbound, copy, steps, RuleSet::kReversibleOnly);
    mapping.Apply(Direction::kOutbound, copy, steps, RuleSet::kReversibleOnly);
    for (const fhir::Issue& issue : steps.issues()) {
      result.Add(issue.severity, issue.type, issue.expression, name + ": " + issue.diagnostics);
    }
    std::string where;
    if (!SameResource(original, copy, where, std::string(original.StringAt("resourceType")))) {
      result.Error(IssueType::kInvariant, where,
                   name + ": outbound(inbound(x)) differs from x at " + where);
    }
  }
  return result;
}

}  // namespace carebridge::mappings
