#include "gateway/consent/consent.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include "fhir/search/search.h"

namespace carebridge::consent {

using fhir::json::Value;

namespace {

constexpr std::int64_t kOpenLow = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kOpenHigh = std::numeric_limits<std::int64_t>::max();
// Real consents nest two or three levels; anything far deeper is not a consent we understand.
constexpr int kMaxDepth = 16;

enum class Meaning { kInstance, kRelated, kDependents, kAuthoredBy };

struct Actor {
  bool custodian = false;  // role CST: names who holds the data
  std::string reference;   // relative "Type/id"; empty when the actor names a role only
  std::vector<Coding> roles;
};

struct DataRef {
  Meaning meaning = Meaning::kInstance;
  std::string reference;  // relative
  // For kRelated: what the named resource refers to (relative), when the caller supplied it.
  std::vector<std::string> refers_to;
};

struct Node {
  Effect type = Effect::kPermit;
  std::string path;
  bool in_period = true;  // provision.period holds `now`
  std::vector<Actor> actors;
  bool has_recipient_actors = false;
  bool has_custodian_actors = false;
  std::vector<Action> actions;
  bool unknown_action = false;
  std::vector<Coding> labels;
  std::vector<Coding> purposes;
  std::vector<std::string> classes;  // resource types
  bool unknown_class = false;
  std::vector<Coding> codes;
  std::optional<DateSpan> data_period;
  std::vector<DataRef> data;
  std::vector<std::uint32_t> children;
  // What this provision and its ancestors say, for the Part 2 test of a permit decided here.
  std::vector<std::string> path_actor_refs;
  std::vector<Coding> path_role_classes;  // roles of actors without reference
  bool path_has_purpose = false;
};

std::optional<Action> ParseAction(std::string_view code) {
  if (code == "access") {
    return Action::kAccess;
  }
  if (code == "disclose") {
    return Action::kDisclose;
  }
  if (code == "collect") {
    return Action::kCollect;
  }
  if (code == "use") {
    return Action::kUse;
  }
  if (code == "correct") {
    return Action::kCorrect;
  }
  return std::nullopt;
}

bool IsReadAction(Action a) { return a == Action::kAccess || a == Action::kDisclose; }

bool ActionMatches(Action provision, Action request) {
  return provision == request || (IsReadAction(provision) && IsReadAction(request));
}

// Codings of a CodeableConcept (or a bare Coding).
void CollectCodings(const Value& v, std::vector<Coding>& out) {
  auto add = [&out](const Value& coding) {
    if (coding.is_object() && !coding.StringAt("code").empty()) {
      out.push_back({std::string(coding.StringAt("system")), std::string(coding.StringAt("code"))});
    }
  };
  if (const Value* codings = v.Find("coding"); codings != nullptr && codings->is_array()) {
    for (const Value& c : codings->items()) {
      add(c);
    }
    return;
  }
  add(v);
}

bool SameCoding(const Coding& a, std::string_view system, std::string_view code) {
  return a.code == code && (a.system.empty() || system.empty() || a.system == system);
}

bool Contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

bool HasRole(const Recipient& r, const Coding& role) {
  for (const Coding& mine : r.roles) {
    if (mine.code == role.code && mine.system == role.system) {
      return true;
    }
  }
  return false;
}

bool NamesRecipient(std::string_view reference, const Recipient& r) {
  return (!r.organization.empty() && reference == r.organization) ||
         Contains(r.individuals, reference);
}

std::optional<std::int64_t> Low(const Value* v) {
  if (v == nullptr || !v->is_string()) {
    return std::nullopt;
  }
  auto range = fhir::DateRange(v->text());
  if (!range) {
    return std::nullopt;
  }
  return range->first;
}

// A Period as [low, high): the start's low and the end's high, so both ends are inclusive at
// their precision. nullopt when malformed.
std::optional<DateSpan> PeriodSpan(const Value& period) {
  if (!period.is_object()) {
    return std::nullopt;
  }
  DateSpan span{kOpenLow, kOpenHigh};
  if (const Value* start = period.Find("start"); start != nullptr) {
    auto range = start->is_string() ? fhir::DateRange(start->text()) : std::nullopt;
    if (!range) {
      return std::nullopt;
    }
    span.low = range->first;
  }
  if (const Value* end = period.Find("end"); end != nullptr) {
    auto range = end->is_string() ? fhir::DateRange(end->text()) : std::nullopt;
    if (!range) {
      return std::nullopt;
    }
    span.high = range->second;
  }
  if (span.low >= span.high) {
    return std::nullopt;
  }
  return span;
}

bool Within(std::int64_t t, const DateSpan& span) { return span.low <= t && t < span.high; }

// Builds the compiled provision tree of one consent. Errors make the consent unusable: a
// consent we misread could release what the patient withheld.
class Builder {
 public:
  Builder(std::string_view consent_ref, std::int64_t now_ms,
          const std::vector<std::pair<std::string, std::vector<std::string>>>& referenced,
          fhir::Outcome& issues)
      : consent_ref_(consent_ref), now_ms_(now_ms), referenced_(referenced), issues_(issues) {}

  bool ok() const { return ok_; }

  // Adds `provision` (with its children) under `parent` (npos for the base provision).
  void Add(const Value& provision, std::vector<Node>& nodes, std::size_t parent, std::string path,
           Effect inherited, int depth) {
    if (!provision.is_object()) {
      return Fail(path, "is not an object");
    }
    if (depth > kMaxDepth) {
      return Fail(path, "nests provisions deeper than we evaluate");
    }
    if (provision.Find("modifierExtension") != nullptr) {
      return Fail(path,
                  "has a modifierExtension, which changes its meaning in a way we cannot "
                  "know");
    }
    Node node;
    node.path = path;
    node.type = inherited;
    if (const Value* type = provision.Find("type"); type != nullptr) {
      if (type->is_string() && type->text() == "permit") {
        node.type = Effect::kPermit;
      } else if (type->is_string() && type->text() == "deny") {
        node.type = Effect::kDeny;
      } else {
        return Fail(path + ".type", "is neither permit nor deny");
      }
    }
    if (const Value* period = provision.Find("period"); period != nullptr) {
      auto span = PeriodSpan(*period);
      if (!span) {
        return Fail(path + ".period", "is not a valid Period");
      }
      node.in_period = Within(now_ms_, *span);
    }
    if (const Value* period = provision.Find("dataPeriod"); period != nullptr) {
      node.data_period = PeriodSpan(*period);
      if (!node.data_period) {
        return Fail(path + ".dataPeriod", "is not a valid Period");
      }
    }
    ForEach(provision, path, "actor", [&](const Value& actor, const std::string& at) {
      if (!actor.is_object()) {
        return Fail(at, "is not an object");
      }
      Actor a;
      if (const Value* role = actor.Find("role"); role != nullptr && role->is_object()) {
        CollectCodings(*role, a.roles);
      }
      for (const Coding& role : a.roles) {
        if (role.code == "CST" &&
            (role.system.empty() || role.system == kParticipationTypeSystem)) {
          a.custodian = true;
        }
      }
      if (const Value* ref = actor.Find("reference"); ref != nullptr && ref->is_object()) {
        a.reference = std::string(RelativeReference(ref->StringAt("reference")));
      }
      if (a.reference.empty() && a.roles.empty()) {
        return Fail(at, "names neither a reference nor a role");
      }
      (a.custodian ? node.has_custodian_actors : node.has_recipient_actors) = true;
      node.actors.push_back(std::move(a));
    });
    ForEach(provision, path, "action", [&](const Value& cc, const std::string& at) {
      std::vector<Coding> codings;
      CollectCodings(cc, codings);
      for (const Coding& c : codings) {
        auto action = (c.system.empty() || c.system == kConsentActionSystem) ? ParseAction(c.code)
                                                                             : std::nullopt;
        if (action) {
          node.actions.push_back(*action);
        } else {
          Unknown(at, "action '" + c.system + "|" + c.code + "'");
          node.unknown_action = true;
        }
      }
      if (codings.empty()) {
        Unknown(at, "action without a code");
        node.unknown_action = true;
      }
    });
    ForEach(provision, path, "securityLabel",
            [&](const Value& coding, const std::string&) { CollectCodings(coding, node.labels); });
    ForEach(provision, path, "purpose", [&](const Value& coding, const std::string&) {
      CollectCodings(coding, node.purposes);
    });
    ForEach(provision, path, "class", [&](const Value& coding, const std::string& at) {
      std::vector<Coding> codings;
      CollectCodings(coding, codings);
      for (Coding& c : codings) {
        if (c.system.empty() || c.system == kResourceTypesSystem) {
          node.classes.push_back(std::move(c.code));
        } else {
          node.unknown_class = true;
          Unknown(at, "class system '" + c.system + "'");
        }
      }
    });
    ForEach(provision, path, "code",
            [&](const Value& cc, const std::string&) { CollectCodings(cc, node.codes); });
    ForEach(provision, path, "data", [&](const Value& data, const std::string& at) {
      if (!data.is_object()) {
        return Fail(at, "is not an object");
      }
      DataRef ref;
      std::string_view meaning = data.StringAt("meaning");
      if (meaning == "instance") {
        ref.meaning = Meaning::kInstance;
      } else if (meaning == "related") {
        ref.meaning = Meaning::kRelated;
      } else if (meaning == "dependents") {
        ref.meaning = Meaning::kDependents;
      } else if (meaning == "authoredby") {
        ref.meaning = Meaning::kAuthoredBy;
      } else {
        return Fail(at + ".meaning", "is not a consent-data-meaning code");
      }
      const Value* reference = data.Find("reference");
      if (reference == nullptr || !reference->is_object() ||
          reference->StringAt("reference").empty()) {
        return Fail(at + ".reference", "is missing");
      }
      ref.reference = std::string(RelativeReference(reference->StringAt("reference")));
      if (ref.meaning == Meaning::kRelated) {
        for (const auto& [name, refs] : referenced_) {
          if (name == ref.reference) {
            ref.refers_to = refs;
          }
        }
      }
      node.data.push_back(std::move(ref));
    });
    if (!ok_) {
      return;
    }

    // The Part 2 view of the path: the parent's, plus what this provision says.
    if (parent != kNoParent) {
      node.path_actor_refs = nodes[parent].path_actor_refs;
      node.path_role_classes = nodes[parent].path_role_classes;
      node.path_has_purpose = nodes[parent].path_has_purpose;
    }
    for (const Actor& a : node.actors) {
      if (a.custodian) {
        continue;
      }
      if (!a.reference.empty()) {
        node.path_actor_refs.push_back(a.reference);
      } else {
        node.path_role_classes.insert(node.path_role_classes.end(), a.roles.begin(), a.roles.end());
      }
    }
    node.path_has_purpose = node.path_has_purpose || !node.purposes.empty();

    const auto index = static_cast<std::uint32_t>(nodes.size());
    const Effect type = node.type;
    nodes.push_back(std::move(node));
    if (parent != kNoParent) {
      nodes[parent].children.push_back(index);
    }
    if (const Value* children = provision.Find("provision"); children != nullptr) {
      if (!children->is_array()) {
        return Fail(path + ".provision", "is not an array");
      }
      const Effect exception = type == Effect::kPermit ? Effect::kDeny : Effect::kPermit;
      for (std::size_t i = 0; i < children->items().size() && ok_; ++i) {
        Add(children->items()[i], nodes, index, path + ".provision[" + std::to_string(i) + "]",
            exception, depth + 1);
      }
    }
  }

  static constexpr std::size_t kNoParent = static_cast<std::size_t>(-1);

 private:
  // Calls f(entry, its path) for each entry of the list `name` of `provision` at `path`.
  template <typename F>
  void ForEach(const Value& provision, const std::string& path, std::string_view name, F&& f) {
    const Value* list = provision.Find(name);
    if (list == nullptr || !ok_) {
      return;
    }
    const std::string at = path + "." + std::string(name);
    if (!list->is_array()) {
      return Fail(at, "is not an array");
    }
    for (std::size_t i = 0; i < list->items().size() && ok_; ++i) {
      f(list->items()[i], at + "[" + std::to_string(i) + "]");
    }
  }

  // Something we do not understand but can read safely: it matches in deny provisions only,
  // so a misreading can withhold data but never release it.
  void Unknown(const std::string& path, const std::string& what) {
    issues_.Add(fhir::Severity::kWarning, fhir::IssueType::kNotSupported, "Consent." + path,
                std::string(consent_ref_) + ": " + what +
                    " is not understood; it matches in deny provisions only");
  }

  void Fail(const std::string& path, std::string_view what) {
    if (!ok_) {
      return;
    }
    ok_ = false;
    issues_.Add(fhir::Severity::kWarning, fhir::IssueType::kInvalid, "Consent." + path,
                std::string(consent_ref_) + ": Consent." + path + " " + std::string(what) +
                    "; the consent is ignored");
  }

  std::string_view consent_ref_;
  std::int64_t now_ms_;
  const std::vector<std::pair<std::string, std::vector<std::string>>>& referenced_;
  fhir::Outcome& issues_;
  bool ok_ = true;
};

}  // namespace

struct ConsentSet::Compiled {
  std::string id;
  std::string version;
  std::int64_t date_ms = kOpenLow;     // Consent.dateTime
  std::int64_t updated_ms = kOpenLow;  // meta.lastUpdated
  std::vector<Node> nodes;             // nodes[0] is the base provision
};

ConsentSet::ConsentSet(ConsentSet&&) noexcept = default;
ConsentSet& ConsentSet::operator=(ConsentSet&&) noexcept = default;
ConsentSet::~ConsentSet() = default;

std::size_t ConsentSet::size() const { return consents_.size(); }

ConsentSet ConsentSet::Compile(std::string_view patient_id, std::span<const Value> consents,
                               const Policy& policy, std::int64_t now_ms,
                               std::span<const Value> referenced) {
  ConsentSet set;
  set.policy_ = &policy;
  set.patient_id_ = std::string(patient_id);

  std::vector<std::pair<std::string, std::vector<std::string>>> related;
  for (const Value& resource : referenced) {
    const DataItem item = DataItem::FromResource(resource);
    if (item.type.empty() || item.id.empty()) {
      continue;
    }
    std::vector<std::string> refs;
    for (std::string_view r : item.references) {
      refs.emplace_back(RelativeReference(r));
    }
    related.emplace_back(std::string(item.type) + "/" + std::string(item.id), std::move(refs));
  }

  const std::string patient_ref = "Patient/" + std::string(patient_id);
  for (const Value& consent : consents) {
    const std::string ref = "Consent/" + std::string(consent.StringAt("id"));
    if (consent.StringAt("resourceType") != "Consent") {
      ++set.skipped_.malformed;
      set.issues_.Add(fhir::Severity::kWarning, fhir::IssueType::kInvalid, "resourceType",
                      ref + " is not a Consent; ignored");
      continue;
    }
    const Value* patient = consent.Find("patient");
    if (patient == nullptr || !patient->is_object() ||
        RelativeReference(patient->StringAt("reference")) != patient_ref) {
      ++set.skipped_.other_patient;
      continue;
    }
    bool privacy = false;
    if (const Value* scope = consent.Find("scope"); scope != nullptr && scope->is_object()) {
      std::vector<Coding> codings;
      CollectCodings(*scope, codings);
      for (const Coding& c : codings) {
        privacy = privacy || (c.system == kConsentScopeSystem && c.code == "patient-privacy");
      }
    }
    if (!privacy) {
      ++set.skipped_.other_scope;
      continue;
    }
    std::string_view status = consent.StringAt("status");
    if (status != "active") {
      if (status == "inactive") {
        ++set.skipped_.inactive;
      } else if (status == "entered-in-error") {
        ++set.skipped_.entered_in_error;
      } else {
        ++set.skipped_.not_active;
      }
      continue;
    }

    if (consent.Find("modifierExtension") != nullptr) {
      ++set.skipped_.malformed;
      set.issues_.Add(fhir::Severity::kWarning, fhir::IssueType::kNotSupported,
                      "Consent.modifierExtension",
                      ref + " has a modifierExtension we cannot interpret; ignored");
      continue;
    }

    Compiled compiled;
    compiled.id = std::string(consent.StringAt("id"));
    const Value* meta = consent.Find("meta");
    if (meta != nullptr && meta->is_object()) {
      compiled.version = std::string(meta->StringAt("versionId"));
      compiled.updated_ms = Low(meta->Find("lastUpdated")).value_or(kOpenLow);
    }
    compiled.date_ms = Low(consent.Find("dateTime")).value_or(kOpenLow);

    // An absent base type follows the consent's policy rule: OPTOUT withholds, else it grants.
    Effect base = Effect::kPermit;
    if (const Value* rule = consent.Find("policyRule"); rule != nullptr && rule->is_object()) {
      std::vector<Coding> codings;
      CollectCodings(*rule, codings);
      for (const Coding& c : codings) {
        if (c.code == "OPTOUT" && (c.system.empty() || c.system == kActCodeSystem)) {
          base = Effect::kDeny;
        }
      }
    }
    Builder builder(ref, now_ms, related, set.issues_);
    const Value empty = Value::Object();  // no provision: the policy rule alone speaks
    const Value* provision = consent.Find("provision");
    builder.Add(provision != nullptr ? *provision : empty, compiled.nodes, Builder::kNoParent,
                "provision", base, 0);
    if (!builder.ok()) {
      ++set.skipped_.malformed;
      continue;
    }
    // The base provision's period is the consent's own validity.
    if (const Value* period = provision != nullptr ? provision->Find("period") : nullptr) {
      const DateSpan span = *PeriodSpan(*period);  // the builder checked it
      if (now_ms >= span.high) {
        ++set.skipped_.expired;
        continue;
      }
      if (now_ms < span.low) {
        ++set.skipped_.not_yet_valid;
        continue;
      }
    }
    set.consents_.push_back(std::move(compiled));
  }

  if (policy.combining == Combining::kMostRecentWins) {
    std::stable_sort(
        set.consents_.begin(), set.consents_.end(), [](const Compiled& a, const Compiled& b) {
          return std::pair(a.date_ms, a.updated_ms) > std::pair(b.date_ms, b.updated_ms);
        });
  }
  return set;
}

namespace {

struct Request {
  const Recipient& recipient;
  std::string_view purpose;
  Action action;
  const DataItem& item;
  const Policy& policy;
};

bool ActorMatches(const Node& n, const Request& q) {
  bool recipient = !n.has_recipient_actors;
  bool custodian = !n.has_custodian_actors;
  for (const Actor& a : n.actors) {
    if (a.custodian) {
      custodian =
          custodian ||
          (!a.reference.empty() &&
           ((!q.item.custodian.empty() && a.reference == RelativeReference(q.item.custodian)) ||
            Contains(q.policy.custodians, a.reference)));
    } else if (!a.reference.empty()) {
      recipient = recipient || NamesRecipient(a.reference, q.recipient);
    } else {
      for (const Coding& role : a.roles) {
        recipient = recipient || HasRole(q.recipient, role);
      }
    }
  }
  return recipient && custodian;
}

bool DataMatches(const DataRef& d, const DataItem& item) {
  switch (d.meaning) {
    case Meaning::kInstance:
      return item.Is(d.reference);
    case Meaning::kRelated:
      if (item.Is(d.reference)) {
        return true;
      }
      for (const std::string& r : d.refers_to) {
        if (item.Is(r)) {
          return true;
        }
      }
      return false;
    case Meaning::kDependents:
      if (item.Is(d.reference)) {
        return true;
      }
      for (std::string_view r : item.references) {
        if (RelativeReference(r) == d.reference) {
          return true;
        }
      }
      return false;
    case Meaning::kAuthoredBy:
      for (std::string_view r : item.authors) {
        if (RelativeReference(r) == d.reference) {
          return true;
        }
      }
      return false;
  }
  return false;
}

bool Matches(const Node& n, const Request& q) {
  if (!n.in_period) {
    return false;
  }
  if (!n.actors.empty() && !ActorMatches(n, q)) {
    return false;
  }
  if (!n.actions.empty() || n.unknown_action) {
    bool any = n.unknown_action && n.type == Effect::kDeny;
    for (Action a : n.actions) {
      any = any || ActionMatches(a, q.action);
    }
    if (!any) {
      return false;
    }
  }
  if (!n.labels.empty()) {
    bool any = false;
    for (const Coding& label : n.labels) {
      for (const CodeRef& mine : q.item.security) {
        any = any || SameCoding(label, mine.system, mine.code);
      }
    }
    if (!any) {
      return false;
    }
  }
  if (!n.purposes.empty()) {
    bool any = false;
    for (const Coding& p : n.purposes) {
      any = any || SameCoding(p, kActReasonSystem, q.purpose);
    }
    if (!any) {
      return false;
    }
  }
  if (!n.classes.empty() || n.unknown_class) {
    bool any = n.unknown_class && n.type == Effect::kDeny;
    any = any || Contains(n.classes, q.item.type);
    if (!any) {
      return false;
    }
  }
  if (!n.codes.empty()) {
    bool any = false;
    for (const Coding& c : n.codes) {
      for (const CodeRef& mine : q.item.codes) {
        any = any || SameCoding(c, mine.system, mine.code);
      }
    }
    if (!any) {
      return false;
    }
  }
  if (n.data_period && (!q.item.date.has_value() || !Within(q.item.date->low, *n.data_period))) {
    return false;
  }
  if (!n.data.empty()) {
    bool any = false;
    for (const DataRef& d : n.data) {
      any = any || DataMatches(d, q.item);
    }
    if (!any) {
      return false;
    }
  }
  return true;
}

// The provision that decides within one consent's tree under `index`, or nullptr when that
// provision does not apply. Recursion is bounded by kMaxDepth.
const Node* Decide(const std::vector<Node>& nodes, std::uint32_t index, const Request& q) {
  const Node& n = nodes[index];
  if (!Matches(n, q)) {
    return nullptr;
  }
  const Node* best = nullptr;
  for (std::uint32_t child : n.children) {
    const Node* d = Decide(nodes, child, q);
    if (d == nullptr) {
      continue;
    }
    if (d->type == Effect::kDeny) {
      return d;  // deny wins among siblings; the first in document order is named
    }
    if (best == nullptr) {
      best = d;
    }
  }
  return best != nullptr ? best : &n;
}

bool Part2Explicit(const Node& n, const Request& q) {
  if (!n.path_has_purpose) {
    return false;
  }
  for (const std::string& ref : n.path_actor_refs) {
    if (NamesRecipient(ref, q.recipient)) {
      return true;
    }
  }
  if (!Contains(q.policy.part2_class_purposes, q.purpose)) {
    return false;
  }
  for (const Coding& role : n.path_role_classes) {
    if (!HasRole(q.recipient, role)) {
      continue;
    }
    for (const Coding& allowed : q.policy.part2_recipient_classes) {
      if (allowed.system == role.system && allowed.code == role.code) {
        return true;
      }
    }
  }
  return false;
}

bool IsPart2(const DataItem& item, const SensitivityRules& rules) {
  for (const CodeRef& label : item.security) {
    if (rules.IsPart2Label(label.system, label.code)) {
      return true;
    }
  }
  for (const CodeRef& code : item.codes) {
    if (rules.IsSudCode(code.system, code.code)) {
      return true;
    }
  }
  return false;
}

}  // namespace

Decision ConsentSet::Evaluate(const Recipient& recipient, std::string_view purpose, Action action,
                              const DataItem& item) const {
  const Policy& policy = *policy_;
  const Request q{recipient, purpose, action, item, policy};
  Decision d;
  d.combining = policy.combining;
  d.default_policy = policy.default_policy;
  d.part2 = IsPart2(item, policy.sensitivity);

  if (item.patient_id.has_value() && *item.patient_id != patient_id_) {
    d.effect = Effect::kDeny;
    d.reason = Reason::kWrongPatient;
    return d;  // never overridden: these consents say nothing about another patient's data
  }

  auto ref_of = [](const Compiled& c, const Node& n) {
    return ProvisionRef{c.id, c.version, n.path};
  };
  // Decide over consents_[begin, end) with deny-wins.
  ProvisionRef deny, permit, explicit_permit;
  auto combine = [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      const Compiled& c = consents_[i];
      const Node* n = Decide(c.nodes, 0, q);
      if (n == nullptr) {
        continue;
      }
      if (n->type == Effect::kDeny) {
        deny = ref_of(c, *n);
        return;
      }
      if (permit.empty()) {
        permit = ref_of(c, *n);
      }
      if (d.part2 && explicit_permit.empty() && Part2Explicit(*n, q)) {
        explicit_permit = ref_of(c, *n);
      }
    }
  };
  if (policy.combining == Combining::kDenyWins) {
    combine(0, consents_.size());
  } else {
    // Newest first; the first group of equally recent consents with a say decides.
    for (std::size_t begin = 0; begin < consents_.size() && deny.empty() && permit.empty();) {
      std::size_t end = begin + 1;
      while (end < consents_.size() && consents_[end].date_ms == consents_[begin].date_ms &&
             consents_[end].updated_ms == consents_[begin].updated_ms) {
        ++end;
      }
      combine(begin, end);
      begin = end;
    }
  }

  if (!deny.empty()) {
    d.effect = Effect::kDeny;
    d.reason = Reason::kConsentDeny;
    d.decided_by = deny;
  } else if (!permit.empty()) {
    if (d.part2 && explicit_permit.empty()) {
      d.effect = Effect::kDeny;
      d.reason = Reason::kPart2RequiresExplicitConsent;
      d.decided_by = permit;  // the permit that was not specific enough
    } else {
      d.effect = Effect::kPermit;
      d.reason = Reason::kConsentPermit;
      d.decided_by = d.part2 ? explicit_permit : permit;
    }
  } else if (policy.default_policy == DefaultPolicy::kOptOut &&
             Contains(policy.opt_out_purposes, purpose)) {
    d.effect = d.part2 ? Effect::kDeny : Effect::kPermit;
    d.reason = d.part2 ? Reason::kPart2RequiresExplicitConsent : Reason::kDefaultOptOut;
  } else {
    d.effect = Effect::kDeny;
    d.reason = Reason::kNoConsentDefault;
    if (consents_.empty() && skipped_.inactive > 0) {
      d.reason = Reason::kConsentInactive;
    } else if (consents_.empty() && skipped_.expired + skipped_.not_yet_valid > 0) {
      d.reason = Reason::kConsentExpired;
    }
  }

  if (d.effect == Effect::kDeny && purpose == "ETREAT" && recipient.may_break_glass &&
      IsReadAction(action)) {
    d.overridden_reason = d.reason;
    d.overridden = d.decided_by;
    d.decided_by = {};
    d.effect = Effect::kPermit;
    d.reason = Reason::kBreakGlass;
    d.break_glass = true;
    d.obligations.flag_break_glass = true;
  }
  d.obligations.attach_redisclosure_notice = d.part2 && d.effect == Effect::kPermit;
  return d;
}

void ConsentSet::EvaluateAll(const Recipient& recipient, std::string_view purpose, Action action,
                             std::span<const DataItem> items, std::vector<Decision>& out) const {
  out.clear();
  out.reserve(items.size());
  for (const DataItem& item : items) {
    out.push_back(Evaluate(recipient, purpose, action, item));
  }
}

std::string_view ToCode(Action action) {
  switch (action) {
    case Action::kAccess:
      return "access";
    case Action::kDisclose:
      return "disclose";
    case Action::kCollect:
      return "collect";
    case Action::kUse:
      return "use";
    case Action::kCorrect:
      return "correct";
  }
  return "";
}

std::string_view ToCode(Effect effect) { return effect == Effect::kPermit ? "permit" : "deny"; }

std::string_view ToCode(DefaultPolicy policy) {
  return policy == DefaultPolicy::kOptIn ? "opt-in" : "opt-out";
}

std::string_view ToCode(Combining combining) {
  return combining == Combining::kDenyWins ? "deny-wins" : "most-recent-wins";
}

std::string_view ToCode(Reason reason) {
  switch (reason) {
    case Reason::kNoConsentDefault:
      return "no-consent-default";
    case Reason::kConsentInactive:
      return "consent-inactive";
    case Reason::kConsentExpired:
      return "consent-expired";
    case Reason::kDefaultOptOut:
      return "default-opt-out";
    case Reason::kConsentPermit:
      return "consent-permit";
    case Reason::kConsentDeny:
      return "consent-deny";
    case Reason::kPart2RequiresExplicitConsent:
      return "part2-requires-explicit-consent";
    case Reason::kBreakGlass:
      return "break-glass";
    case Reason::kWrongPatient:
      return "wrong-patient";
  }
  return "";
}

namespace {

void AppendRef(const ProvisionRef& ref, std::string& out) {
  out += "Consent/";
  out += ref.consent_id;
  if (!ref.version_id.empty()) {
    out += '|';
    out += ref.version_id;
  }
  out += ' ';
  out += ref.path;
}

}  // namespace

std::string Decision::Explain() const {
  std::string out;
  out += ToCode(effect);
  out += " (";
  out += ToCode(reason);
  out += "): ";
  switch (reason) {
    case Reason::kConsentPermit:
    case Reason::kConsentDeny:
      AppendRef(decided_by, out);
      out += " decided";
      break;
    case Reason::kPart2RequiresExplicitConsent:
      out += "42 CFR Part 2 data needs a consent naming the recipient and the purpose";
      if (!decided_by.empty()) {
        out += "; ";
        AppendRef(decided_by, out);
        out += " permits without naming both";
      }
      break;
    case Reason::kBreakGlass:
      out += "emergency treatment override (ETREAT) of a deny (";
      out += ToCode(overridden_reason);
      if (!overridden.empty()) {
        out += ", ";
        AppendRef(overridden, out);
      }
      out += ")";
      break;
    case Reason::kDefaultOptOut:
      out += "no consent applies; opt-out permits this purpose";
      break;
    case Reason::kNoConsentDefault:
      out += "no consent applies";
      break;
    case Reason::kConsentInactive:
      out += "no consent applies; the patient's consents are inactive (revoked)";
      break;
    case Reason::kConsentExpired:
      out += "no consent applies; the patient's consents are out of their period";
      break;
    case Reason::kWrongPatient:
      out += "the data belongs to another patient";
      break;
  }
  if (part2) {
    out += "; 42 CFR Part 2 data";
  }
  if (obligations.attach_redisclosure_notice) {
    out += "; attach the 42 CFR 2.32 re-disclosure notice";
  }
  if (obligations.flag_break_glass) {
    out += "; flagged as break-the-glass";
  }
  out += "; combining ";
  out += ToCode(combining);
  out += "; default ";
  out += ToCode(default_policy);
  return out;
}

}  // namespace carebridge::consent
