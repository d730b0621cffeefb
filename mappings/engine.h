#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fhir/json/value.h"
#include "fhir/outcome.h"
#include "mappings/concept_map.h"
#include "mappings/definition.h"

namespace carebridge::mappings {

// The canonical identifier system of a patient's medical record number inside carebridge. Partner
// MRN systems are rewritten to it inbound and back to the partner's outbound.
inline constexpr std::string_view kCanonicalMrnSystem =
    "https://carebridge.example.org/fhir/sid/mrn";

enum class Direction { kInbound, kOutbound };  // partner -> canonical, canonical -> partner

// Which rules Apply runs: all of them, or only the reversible ones and their derived inverses (the
// round-trip check's view of a definition).
enum class RuleSet { kAll, kReversibleOnly };

namespace internal {
class Rule;
}

// A partner's compiled mapping: FHIRPath expressions parsed, ConceptMaps resolved, the outbound
// rule list derived. Immutable after Compile, so one instance serves every request on every thread;
// the gateway swaps the shared_ptr to reload.
//
// Inbound for a resource of type T runs the "*" rules then T's rules, in file order. Outbound runs
// the inverses of the reversible inbound rules (T's, then "*", each list backwards), then the
// explicit outbound rules ("*" then T).
class PartnerMapping {
 public:
  // Compiles a checked definition against `concept_maps` (kept alive by the mapping). Every bad
  // FHIRPath, unknown ConceptMap or unusable target path is added to `outcome` with the rule's
  // place; returns null if there is any, and the caller keeps its previous mapping.
  static std::shared_ptr<const PartnerMapping> Compile(
      const Definition& definition, std::shared_ptr<const ConceptMapSet> concept_maps,
      fhir::Outcome& outcome);

  // ParseDefinition + Compile: the definition file's text to a mapping.
  static std::shared_ptr<const PartnerMapping> Load(
      std::string_view definition_json, std::shared_ptr<const ConceptMapSet> concept_maps,
      fhir::Outcome& outcome);

  // Maps `resource` in place. Problems in the data go to `outcome` (codes that do not translate,
  // with the element's FHIRPath). Returns false when the resource must be refused because an error
  // was added; the resource may then be partly mapped and should be discarded.
  // REQUIRES: `resource` is a JSON object (a FHIR resource).
  bool Apply(Direction direction, fhir::json::Value& resource, fhir::Outcome& outcome,
             RuleSet rules = RuleSet::kAll) const;

  const std::string& partner() const { return partner_; }
  const std::string& version() const { return version_; }
  // How many rules run for `resource_type` in `direction` (for diagnostics and tests).
  std::size_t RuleCount(Direction direction, std::string_view resource_type) const;

  ~PartnerMapping();
  PartnerMapping(const PartnerMapping&) = delete;
  PartnerMapping& operator=(const PartnerMapping&) = delete;

 private:
  PartnerMapping();

  struct Step {
    std::shared_ptr<const internal::Rule> rule;
    bool reversible = false;  // part of the round-trip view
  };
  using Pipeline = std::vector<Step>;
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Pipelines = std::unordered_map<std::string, Pipeline, StringHash, std::equal_to<>>;
  const Pipeline& PipelineFor(Direction direction, std::string_view resource_type) const;

  std::string partner_;
  std::string version_;
  std::shared_ptr<const ConceptMapSet> concept_maps_;
  Pipelines inbound_;  // per resource type named in the definition
  Pipelines outbound_;
  Pipeline inbound_any_;  // for other types: the "*" rules only
  Pipeline outbound_any_;
};

// The round-trip check of `carebridge mappings check`: for each fixture (a resource in the
// partner's dialect), outbound(inbound(x)) with only the reversible rules must equal x. JSON
// member order is not significant (FHIR JSON does not fix it); array order and values are. Each
// failure is an error naming the fixture (its resourceType/id or index) and the first element
// that differs; mapping errors on the way are reported too. An empty outcome means it holds.
fhir::Outcome CheckRoundTrip(const PartnerMapping& mapping,
                             std::span<const fhir::json::Value> fixtures);

// FHIR JSON equality as the round trip sees it: objects compare as unordered member sets, arrays
// in order, numbers by their text. When they differ, `where` gets the FHIRPath of the first
// difference below `path`.
bool SameResource(const fhir::json::Value& a, const fhir::json::Value& b, std::string& where,
                  const std::string& path = "");

}  // namespace carebridge::mappings
