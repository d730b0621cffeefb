// The search parameters carebridge supports, per resource type: names, types and element paths as
// the FHIR R4 spec defines them (http://hl7.org/fhir/R4/searchparameter-registry.html), narrowed
// to the paths we index.

#include <algorithm>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "fhir/search/search.h"

namespace carebridge::fhir {
namespace {

using Paths = std::vector<std::string_view>;

SearchParamDef Token(std::string_view name, Paths paths) {
  return {name, ParamType::kToken, std::move(paths), {}};
}
SearchParamDef Ref(std::string_view name, Paths paths, std::string_view target = {}) {
  return {name, ParamType::kReference, std::move(paths), target};
}
SearchParamDef Date(std::string_view name, Paths paths) {
  return {name, ParamType::kDate, std::move(paths), {}};
}
SearchParamDef String(std::string_view name, Paths paths) {
  return {name, ParamType::kString, std::move(paths), {}};
}
SearchParamDef Uri(std::string_view name, Paths paths) {
  return {name, ParamType::kUri, std::move(paths), {}};
}

// The two parameters every type has. The store answers them from its own columns, so their paths
// only document where the values live.
void AddCommon(std::vector<SearchParamDef>& params, bool has_identifier) {
  params.insert(params.begin(), {Token("_id", {"id"}), Date("_lastUpdated", {"meta.lastUpdated"})});
  if (has_identifier) {
    params.insert(params.begin() + 2, Token("identifier", {"identifier"}));
  }
}

struct TypeParams {
  std::string_view type;
  std::vector<SearchParamDef> params;
};

std::vector<TypeParams> BuildRegistry() {
  std::vector<TypeParams> registry;
  auto add = [&registry](std::string_view type, bool has_identifier,
                         std::vector<SearchParamDef> params) {
    AddCommon(params, has_identifier);
    registry.push_back({type, std::move(params)});
  };

  add("Patient", true,
      {
          String("name", {"name"}),
          String("family", {"name.family"}),
          String("given", {"name.given"}),
          Date("birthdate", {"birthDate"}),
          Token("gender", {"gender"}),
      });
  add("CarePlan", true,
      {
          Ref("patient", {"subject"}, "Patient"),
          Ref("subject", {"subject"}),
          Token("status", {"status"}),
          Token("intent", {"intent"}),
          Token("category", {"category"}),
          Date("date", {"period"}),
          Ref("goal", {"goal"}),
      });
  add("ServiceRequest", true,
      {
          Ref("patient", {"subject"}, "Patient"),
          Ref("subject", {"subject"}),
          Token("status", {"status"}),
          Token("intent", {"intent"}),
          Token("category", {"category"}),
          Token("code", {"code"}),
          Date("authored", {"authoredOn"}),
          Ref("requester", {"requester"}),
          Ref("performer", {"performer"}),
          Ref("based-on", {"basedOn"}),
          Date("occurrence", {"occurrence"}),
      });
  add("Consent", true,
      {
          Ref("patient", {"patient"}, "Patient"),
          Token("status", {"status"}),
          Token("category", {"category"}),
          Token("scope", {"scope"}),
          Date("date", {"dateTime"}),
          Date("period", {"provision.period"}),
          Token("action", {"provision.action"}),
          Ref("actor", {"provision.actor.reference"}),
          Token("purpose", {"provision.purpose"}),
          Token("security-label", {"provision.securityLabel"}),
          Ref("consentor", {"performer"}),
          Ref("organization", {"organization"}),
      });
  add("Questionnaire", true,
      {
          Uri("url", {"url"}),
          String("name", {"name"}),
          String("title", {"title"}),
          Token("status", {"status"}),
          Token("code", {"item.code"}),
          Token("version", {"version"}),
      });
  add("ConceptMap", true,
      {
          Uri("url", {"url"}),
          String("name", {"name"}),
          String("title", {"title"}),
          Token("status", {"status"}),
          Token("version", {"version"}),
          Uri("source-system", {"group.source"}),
          Uri("target-system", {"group.target"}),
      });
  add("QuestionnaireResponse", true,
      {
          Ref("patient", {"subject"}, "Patient"),
          Ref("subject", {"subject"}),
          Token("status", {"status"}),
          // A canonical in R4, but the spec types the parameter as a reference.
          Ref("questionnaire", {"questionnaire"}),
          Date("authored", {"authored"}),
          Ref("author", {"author"}),
          Ref("source", {"source"}),
          Ref("based-on", {"basedOn"}),
      });
  add("Task", true,
      {
          Ref("patient", {"for"}, "Patient"),
          Ref("subject", {"for"}),
          Token("status", {"status"}),
          Token("intent", {"intent"}),
          Token("code", {"code"}),
          Ref("focus", {"focus"}),
          Ref("owner", {"owner"}),
          Ref("requester", {"requester"}),
          Date("authored-on", {"authoredOn"}),
          Date("modified", {"lastModified"}),
          Token("business-status", {"businessStatus"}),
          Ref("based-on", {"basedOn"}),
          Ref("part-of", {"partOf"}),
          Date("period", {"executionPeriod"}),
          Token("priority", {"priority"}),
      });
  add("Observation", true,
      {
          Ref("patient", {"subject"}, "Patient"),
          Ref("subject", {"subject"}),
          Token("status", {"status"}),
          Token("category", {"category"}),
          Token("code", {"code"}),
          Date("date", {"effective"}),
          Ref("derived-from", {"derivedFrom"}),
          Ref("performer", {"performer"}),
          Token("value-concept", {"valueCodeableConcept"}),
      });
  add("Condition", true,
      {
          Ref("patient", {"subject"}, "Patient"),
          Ref("subject", {"subject"}),
          Token("category", {"category"}),
          Token("code", {"code"}),
          Token("clinical-status", {"clinicalStatus"}),
          Token("verification-status", {"verificationStatus"}),
          Date("onset-date", {"onset"}),
          Date("recorded-date", {"recordedDate"}),
      });
  add("Goal", true,
      {
          Ref("patient", {"subject"}, "Patient"),
          Ref("subject", {"subject"}),
          Token("lifecycle-status", {"lifecycleStatus"}),
          Token("achievement-status", {"achievementStatus"}),
          Token("category", {"category"}),
          Date("start-date", {"start"}),
          Date("target-date", {"target.due"}),
      });
  add("Organization", true,
      {
          String("name", {"name", "alias"}),
          Token("type", {"type"}),
          Ref("endpoint", {"endpoint"}),
          Ref("partof", {"partOf"}),
      });
  add("HealthcareService", true,
      {
          String("name", {"name"}),
          Ref("organization", {"providedBy"}),
          Token("service-category", {"category"}),
          Token("service-type", {"type"}),
          Token("specialty", {"specialty"}),
          Ref("location", {"location"}),
          Ref("endpoint", {"endpoint"}),
      });
  add("Endpoint", true,
      {
          String("name", {"name"}),
          Token("status", {"status"}),
          Ref("organization", {"managingOrganization"}),
          Token("connection-type", {"connectionType"}),
          Token("payload-type", {"payloadType"}),
      });
  add("Flag", true,
      {
          Ref("patient", {"subject"}, "Patient"),
          Ref("subject", {"subject"}),
          Token("status", {"status"}),
          Token("code", {"code"}),
          Ref("author", {"author"}),
          Date("date", {"period"}),
      });
  add("Communication", true,
      {
          Ref("patient", {"subject"}, "Patient"),
          Ref("subject", {"subject"}),
          Token("status", {"status"}),
          Token("category", {"category"}),
          Ref("based-on", {"basedOn"}),
          Ref("part-of", {"partOf"}),
          Ref("recipient", {"recipient"}),
          Ref("sender", {"sender"}),
          Date("sent", {"sent"}),
      });
  // R4 AuditEvent has no identifier element.
  add("AuditEvent", false,
      {
          Date("date", {"recorded"}),
          Token("type", {"type"}),
          Token("subtype", {"subtype"}),
          Token("action", {"action"}),
          Token("outcome", {"outcome"}),
          Ref("agent", {"agent.who"}),
          Ref("entity", {"entity.what"}),
          Token("entity-type", {"entity.type"}),
          // The spec's expression covers both: a patient can be the agent (reading their own
          // record) as well as the entity.
          Ref("patient", {"agent.who", "entity.what"}, "Patient"),
          Ref("source", {"source.observer"}),
          Token("purpose", {"purposeOfEvent", "agent.purposeOfUse"}),
      });
  return registry;
}

const std::vector<TypeParams>& Registry() {
  static const std::vector<TypeParams> registry = BuildRegistry();
  return registry;
}

}  // namespace

std::span<const SearchParamDef> ParamsFor(std::string_view type) {
  for (const TypeParams& entry : Registry()) {
    if (entry.type == type) {
      return entry.params;
    }
  }
  return {};
}

const SearchParamDef* FindParam(std::string_view type, std::string_view name) {
  std::span<const SearchParamDef> params = ParamsFor(type);
  auto it = std::find_if(params.begin(), params.end(),
                         [name](const SearchParamDef& def) { return def.name == name; });
  return it == params.end() ? nullptr : &*it;
}

}  // namespace carebridge::fhir
