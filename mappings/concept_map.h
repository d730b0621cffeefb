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

// FHIR R4 ConceptMapEquivalence (http://hl7.org/fhir/R4/valueset-concept-map-equivalence.html).
// The relationship is read from the source concept to the target: `wider` means the target is
// wider in meaning than the source.
enum class Equivalence {
  kRelatedTo,
  kEquivalent,
  kEqual,
  kWider,
  kSubsumes,
  kNarrower,
  kSpecializes,
  kInexact,
  kUnmatched,
  kDisjoint,
};
std::string_view ToCode(Equivalence e);
std::optional<Equivalence> EquivalenceFromCode(std::string_view code);
// The equivalence read the other way: wider <-> narrower, subsumes <-> specializes.
Equivalence Reverse(Equivalence e);
// Whether a match with this equivalence is a mapping at all (unmatched and disjoint are not).
bool IsMapping(Equivalence e);

// ConceptMap.group.unmapped.mode: what happens to a source code that has no element in a group.
enum class UnmappedMode { kNone, kProvided, kFixed, kOtherMap };

// One translation result. The views point into the ConceptMapSet that produced the match (or, for
// the `provided` unmapped mode, into the code the caller passed in), so a Match is valid while both
// live.
struct Match {
  Equivalence equivalence = Equivalence::kUnmatched;
  std::string_view system;
  std::string_view version;  // the group's target (or, reversed, source) version, may be empty
  std::string_view code;     // empty for `unmatched`
  std::string_view display;
  std::string_view source;  // url of the ConceptMap that made the match
  std::string_view comment;
  // Made by group.unmapped (provided/fixed) rather than by an element of the group.
  bool from_unmapped = false;
};

struct TranslateResult {
  std::vector<Match> matches;
  std::string message;  // why there is no mapping, when there is none
  // $translate's `result`: true when some match is a mapping (IsMapping).
  bool result() const;
};

// A compiled ConceptMap: lookups by (system, code) in either direction in O(1).
class ConceptMap {
 public:
  struct Target {
    std::string code;
    std::string display;
    Equivalence equivalence = Equivalence::kEquivalent;
    std::string comment;
  };
  struct Group {
    std::string source;
    std::string source_version;
    std::string target;
    std::string target_version;
    // source code -> its element's display and targets, in document order.
    struct Element {
      std::string display;
      std::vector<Target> targets;
    };
    struct StringHash {
      using is_transparent = void;
      std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    using Index = std::unordered_map<std::string, Element, StringHash, std::equal_to<>>;
    Index forward;
    // target code -> source codes mapped to it (Target::code holds the source code and
    // equivalence the forward one), built from `forward`.
    Index reverse;
    UnmappedMode unmapped = UnmappedMode::kNone;
    std::string unmapped_code;  // fixed
    std::string unmapped_display;
    std::string unmapped_url;  // other-map
  };

  // Validates and compiles a ConceptMap resource. On failure returns null and adds the problems to
  // `outcome` with FHIRPath expressions ("ConceptMap.group[0].element[3].code").
  static std::shared_ptr<const ConceptMap> Compile(const fhir::json::Value& resource,
                                                   fhir::Outcome& outcome);

  const std::string& url() const { return url_; }
  const std::string& version() const { return version_; }
  const std::string& name() const { return name_; }
  // sourceUri / sourceCanonical and targetUri / targetCanonical: the value sets it maps between.
  const std::string& source_scope() const { return source_scope_; }
  const std::string& target_scope() const { return target_scope_; }
  const std::vector<Group>& groups() const { return groups_; }
  const fhir::json::Value& resource() const { return resource_; }

 private:
  std::string url_;
  std::string version_;
  std::string name_;
  std::string source_scope_;
  std::string target_scope_;
  std::vector<Group> groups_;
  fhir::json::Value resource_;
};

// What $translate asks (http://hl7.org/fhir/R4/conceptmap-operation-translate.html).
struct TranslateRequest {
  std::string url;  // the ConceptMap; empty: choose by source/target/system
  std::string system;
  std::string version;  // of the code system; informational
  std::string code;
  std::string source;         // value set of the code
  std::string target;         // value set to translate into
  std::string target_system;  // only groups whose target is this system
  bool reverse = false;       // translate from target to source
};

// An immutable set of compiled ConceptMaps by canonical url, shared by the partner mappings that
// use it. Build one with Builder; replace it as a whole to reload.
class ConceptMapSet {
 public:
  class Builder {
   public:
    // Compiles and adds one ConceptMap (resource or JSON text). A map whose url is already present
    // is refused. Returns false, with the problems in `outcome`, when it does not validate.
    bool Add(const fhir::json::Value& resource, fhir::Outcome& outcome);
    bool AddJson(std::string_view text, fhir::Outcome& outcome);
    // Checks that every `other-map` target is in the set and that no chain loops. Returns null,
    // with the problems in `outcome`, when one does not.
    std::shared_ptr<const ConceptMapSet> Build(fhir::Outcome& outcome) &&;

   private:
    std::vector<std::shared_ptr<const ConceptMap>> maps_;
  };

  const ConceptMap* Find(std::string_view url) const;
  const std::vector<std::shared_ptr<const ConceptMap>>& maps() const { return maps_; }

  // Translates (system, code) through `map`: forward from group.source to group.target, or with
  // `reverse` from group.target back to group.source. When a group has no element for the code
  // its `unmapped` rule applies (forward only, except `provided`); `other-map` chains to the
  // named map. `target_system`, when set, limits the groups used.
  TranslateResult Translate(const ConceptMap& map, std::string_view system, std::string_view code,
                            bool reverse = false, std::string_view target_system = {}) const;

  // $translate over the set: through request.url, or else every map whose scopes match
  // request.source / request.target and that has a group for request.system.
  TranslateResult Translate(const TranslateRequest& request) const;

 private:
  void TranslateInto(const ConceptMap& map, std::string_view system, std::string_view code,
                     bool reverse, std::string_view target_system, int depth,
                     TranslateResult& out) const;

  std::vector<std::shared_ptr<const ConceptMap>> maps_;
  std::unordered_map<std::string, const ConceptMap*, ConceptMap::Group::StringHash, std::equal_to<>>
      by_url_;
};

// Reads $translate's input Parameters resource (url, system, code, version, coding, source,
// target, targetsystem, reverse). Problems go to `outcome` naming the parameter; nullopt then.
std::optional<TranslateRequest> ParseTranslateParameters(const fhir::json::Value& parameters,
                                                         fhir::Outcome& outcome);

// $translate's output Parameters resource: result, message (when there is no mapping) and one
// `match` per result with equivalence, concept and source.
fhir::json::Value ToParameters(const TranslateResult& result);

}  // namespace carebridge::mappings
