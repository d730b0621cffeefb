#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/json/value.h"
#include "fhir/outcome.h"
#include "mappings/concept_map.h"

namespace carebridge::mappings {

// A partner's mapping definition as written in mappings/partners/<partner-id>.json (the schema is
// documented in mappings/README.md), read and checked for shape but not yet compiled: FHIRPath
// expressions are still text and ConceptMaps are still urls. engine.h compiles it.

enum class RuleKind {
  kIdentifierSystem,  // local identifier system <-> canonical, also in references by identifier
  kTranslateCode,     // codings at a FHIRPath through a ConceptMap
  kSetDefault,        // set an element when it is absent
  kCopy,              // copy an element's value to another element
  kMove,              // copy, then remove the source
  kRemove,            // remove what a FHIRPath selects
  kAddProfile,        // add a meta.profile
  kRemoveProfile,     // remove a meta.profile
  kAddTag,            // add a meta.tag coding
  kRemoveTag,         // remove a meta.tag coding (by system and code)
  kAddExtension,      // add an extension (unless one with its url is there)
  kStripExtensions,   // remove extensions by url, or all but a kept list
};
std::string_view ToCode(RuleKind kind);  // "identifier-system", "translate-code", ...
std::optional<RuleKind> RuleKindFromCode(std::string_view code);
// Whether a rule of this kind has an exact inverse and so may be declared reversible.
bool CanReverse(RuleKind kind);

// What to do with a coding from the map's source system that has no acceptable translation.
enum class Unmatched {
  kKeep,      // leave the coding as it is (a warning is recorded)
  kReject,    // refuse the resource with an OperationOutcome naming the element
  kUnmapped,  // apply the group's `unmapped` rule (provided / fixed / other-map); reject if none
};

struct RuleSpec {
  RuleKind kind = RuleKind::kRemove;
  std::string resource_type;   // "*" for every type
  bool outbound_only = false;  // declared under "outbound": never inverted, applied after the rest
  bool reversible = false;
  std::string where;  // the rule's place in the file, for messages: "inbound.ServiceRequest[2]"

  std::string path;         // translate-code, set-default, remove, add-extension, strip-extensions
  std::string from;         // copy, move
  std::string to;           // copy, move
  fhir::json::Value value;  // set-default: the value; add-extension: the extension; add/remove-tag:
                            // the Coding
  std::string local_system;                         // identifier-system
  std::string canonical_system;                     // identifier-system
  std::string profile;                              // add-profile, remove-profile
  std::vector<std::string> urls;                    // strip-extensions: remove these
  std::vector<std::string> keep_urls;               // strip-extensions: remove all but these
  std::string concept_map;                          // translate-code: canonical url
  Unmatched unmatched = Unmatched::kKeep;           // translate-code, inbound
  Unmatched outbound_unmatched = Unmatched::kKeep;  // translate-code, derived outbound
  std::vector<Equivalence> accept;  // translate-code: equivalences taken as a translation
};

struct Definition {
  std::string partner;
  std::string version;
  std::string description;
  std::vector<RuleSpec> rules;  // inbound first ("*" then per type, in file order), then outbound
};

// Parses and checks a definition's JSON text: known keys, known rule kinds, required fields per
// kind, `reversible` only where CanReverse. Every problem is added to `outcome` with the rule's
// place as expression; nullopt when there is any.
std::optional<Definition> ParseDefinition(std::string_view text, fhir::Outcome& outcome);

}  // namespace carebridge::mappings
