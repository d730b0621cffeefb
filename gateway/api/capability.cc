#include "gateway/api/capability.h"

#include "fhir/json/json.h"
#include "fhir/resource/resource.h"
#include "fhir/search/search.h"
#include "gateway/api/formats.h"

namespace carebridge::api {

namespace json = fhir::json;

namespace {

json::Value Str(std::string_view text) { return json::Value::String(std::string(text)); }

json::Value Code(std::string_view key, std::string_view code) {
  json::Value object = json::Value::Object();
  object.Set(std::string(key), Str(code));
  return object;
}

std::string_view ParamTypeCode(fhir::ParamType type) {
  switch (type) {
    case fhir::ParamType::kToken:
      return "token";
    case fhir::ParamType::kReference:
      return "reference";
    case fhir::ParamType::kDate:
      return "date";
    case fhir::ParamType::kString:
      return "string";
    case fhir::ParamType::kUri:
      return "uri";
    case fhir::ParamType::kNumber:
      return "number";
  }
  return "string";
}

constexpr std::string_view kTranslateDefinition =
    "http://hl7.org/fhir/OperationDefinition/ConceptMap-translate";
constexpr std::string_view kExtractDefinition =
    "http://hl7.org/fhir/uv/sdc/OperationDefinition/QuestionnaireResponse-extract";
constexpr std::string_view kMapPreviewDefinition =
    "https://carebridge.example.org/fhir/OperationDefinition/map-preview";
constexpr std::string_view kReferralMetricsDefinition =
    "https://carebridge.example.org/fhir/OperationDefinition/referral-metrics";
constexpr std::string_view kDeadLettersDefinition =
    "https://carebridge.example.org/fhir/OperationDefinition/dead-letters";
constexpr std::string_view kRedriveDefinition =
    "https://carebridge.example.org/fhir/OperationDefinition/redrive";
constexpr std::string_view kReloadMappingsDefinition =
    "https://carebridge.example.org/fhir/OperationDefinition/reload-mappings";

// CapabilityStatement.rest[.resource].operation: name and definition of each.
json::Value Operations(std::initializer_list<std::pair<std::string_view, std::string_view>> ops) {
  json::Value list = json::Value::Array();
  for (const auto& [name, definition] : ops) {
    json::Value op = Code("name", name);
    op.Set("definition", Str(definition));
    list.PushBack(std::move(op));
  }
  return list;
}

}  // namespace

std::string BuildCapabilityStatement() {
  json::Value cs = json::Value::Object();
  cs.Set("resourceType", Str("CapabilityStatement"));
  cs.Set("status", Str("active"));
  cs.Set("date", Str(NowInstant().substr(0, 10)));
  cs.Set("publisher", Str("carebridge"));
  cs.Set("kind", Str("instance"));
  json::Value software = json::Value::Object();
  software.Set("name", Str("carebridge"));
  software.Set("version", Str("0.1.0"));
  cs.Set("software", std::move(software));
  json::Value implementation = json::Value::Object();
  implementation.Set("description",
                     Str("carebridge FHIR R4 gateway for behavioral-health care coordination"));
  cs.Set("implementation", std::move(implementation));
  cs.Set("fhirVersion", Str("4.0.1"));
  json::Value formats = json::Value::Array();
  formats.PushBack(Str("application/fhir+json"));
  formats.PushBack(Str("json"));
  cs.Set("format", std::move(formats));

  json::Value rest = json::Value::Object();
  rest.Set("mode", Str("server"));
  json::Value security = json::Value::Object();
  security.Set("description", Str("TLS 1.2 or later is required on every connection."));
  rest.Set("security", std::move(security));

  json::Value resources = json::Value::Array();
  for (const auto& type : fhir::SupportedTypes()) {
    json::Value resource = json::Value::Object();
    resource.Set("type", Str(type.name));
    json::Value interactions = json::Value::Array();
    std::vector<std::string_view> codes = {"read", "vread", "search-type", "history-instance",
                                           "history-type"};
    if (type.writable) {
      codes.insert(codes.end(), {"create", "update", "delete"});
    }
    for (auto code : codes) {
      interactions.PushBack(Code("code", code));
    }
    resource.Set("interaction", std::move(interactions));
    resource.Set("versioning", Str("versioned-update"));
    resource.Set("readHistory", json::Value::Bool(true));
    resource.Set("updateCreate", json::Value::Bool(type.writable));
    resource.Set("conditionalCreate", json::Value::Bool(type.writable));
    resource.Set("conditionalRead", Str("not-supported"));
    resource.Set("conditionalUpdate", json::Value::Bool(false));
    resource.Set("conditionalDelete", Str("not-supported"));
    json::Value params = json::Value::Array();
    for (const auto& param : fhir::ParamsFor(type.name)) {
      json::Value entry = json::Value::Object();
      entry.Set("name", Str(param.name));
      entry.Set("type", Str(ParamTypeCode(param.type)));
      params.PushBack(std::move(entry));
    }
    resource.Set("searchParam", std::move(params));
    // The gateway's own operations (privacy.cc, referral_ops.cc), defined by carebridge.
    struct Operation {
      std::string_view type;
      std::string_view name;
    };
    constexpr Operation kOperations[] = {{"Consent", "evaluate"},
                                         {"Patient", "disclosures"},
                                         {"AuditEvent", "export"},
                                         {"Task", "timeline"}};
    json::Value operations = json::Value::Array();
    for (const Operation& operation : kOperations) {
      if (operation.type != type.name) {
        continue;
      }
      json::Value entry = json::Value::Object();
      entry.Set("name", Str(operation.name));
      entry.Set("definition", Str("https://carebridge.example.org/fhir/OperationDefinition/" +
                                  std::string(operation.type) + "-" + std::string(operation.name)));
      operations.PushBack(std::move(entry));
    }
    if (!operations.items().empty()) {
      resource.Set("operation", std::move(operations));
    }
    // The mapping module's type-level operations (operations.cc).
    if (type.name == "ConceptMap") {
      resource.Set("operation", Operations({{"translate", kTranslateDefinition}}));
    } else if (type.name == "QuestionnaireResponse") {
      resource.Set("operation", Operations({{"extract", kExtractDefinition}}));
    }
    resources.PushBack(std::move(resource));
  }
  // A referral's timeline as Provenance (referral_ops.cc): searched by target=Task/{id} only, not
  // stored, not readable by id.
  {
    json::Value provenance = json::Value::Object();
    provenance.Set("type", Str("Provenance"));
    json::Value interactions = json::Value::Array();
    interactions.PushBack(Code("code", "search-type"));
    provenance.Set("interaction", std::move(interactions));
    json::Value target = json::Value::Object();
    target.Set("name", Str("target"));
    target.Set("type", Str("reference"));
    target.Set("documentation",
               Str("Required: Task/{id} of a referral. Answers its timeline ($timeline) as one "
                   "Provenance per status change, delivery attempt and contact; agent.who is "
                   "who did it."));
    json::Value params = json::Value::Array();
    params.PushBack(std::move(target));
    provenance.Set("searchParam", std::move(params));
    resources.PushBack(std::move(provenance));
  }
  rest.Set("resource", std::move(resources));
  json::Value system_interactions = json::Value::Array();
  for (auto code : {"transaction", "batch"}) {
    system_interactions.PushBack(Code("code", code));
  }
  rest.Set("interaction", std::move(system_interactions));
  // dead-letters (GET) and redrive (POST ?delivery={id}): the admin partner's (outbox_ops.cc);
  // reload-mappings (POST): reloads the mapping data, as SIGHUP does (partner_mapping.cc).
  // tests/unit/api/capability_test.cc checks that every operation the API routes is here.
  rest.Set("operation", Operations({{"map-preview", kMapPreviewDefinition},
                                    {"referral-metrics", kReferralMetricsDefinition},
                                    {"dead-letters", kDeadLettersDefinition},
                                    {"redrive", kRedriveDefinition},
                                    {"reload-mappings", kReloadMappingsDefinition}}));
  json::Value rests = json::Value::Array();
  rests.PushBack(std::move(rest));
  cs.Set("rest", std::move(rests));
  return json::Write(cs);
}

}  // namespace carebridge::api
