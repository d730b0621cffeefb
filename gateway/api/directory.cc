#include "gateway/api/directory.h"

#include <future>

#include "fhir/json/json.h"
#include "fhir/resource/resource.h"
#include "gateway/api/fhir_api_impl.h"
#include "gateway/api/release.h"

namespace carebridge::api {

namespace json = fhir::json;

namespace {

json::Value Str(std::string_view text) { return json::Value::String(std::string(text)); }

json::Value Coding(std::string_view system, std::string_view code) {
  json::Value coding = json::Value::Object();
  coding.Set("system", Str(system));
  coding.Set("code", Str(code));
  return coding;
}

// The HL7 organization-type code closest to each kind of partner.
std::string_view OrganizationType(auth::PartnerKind kind) {
  switch (kind) {
    case auth::PartnerKind::kEhr:
      return "prov";
    case auth::PartnerKind::kAgency:
      return "cg";
    default:
      return "other";
  }
}

std::string EndpointId(const auth::Partner& partner) { return partner.id + "-fhir"; }

json::Value OrganizationFor(const auth::Partner& partner) {
  json::Value org = json::Value::Object();
  org.Set("resourceType", Str("Organization"));
  org.Set("id", Str(partner.id));
  json::Value identifier = json::Value::Object();
  identifier.Set("system", Str("https://carebridge.dev/fhir/sid/partner"));
  identifier.Set("value", Str(partner.id));
  json::Value identifiers = json::Value::Array();
  identifiers.PushBack(std::move(identifier));
  org.Set("identifier", std::move(identifiers));
  org.Set("active", json::Value::Bool(partner.enabled));
  json::Value codings = json::Value::Array();
  codings.PushBack(Coding("http://terminology.hl7.org/CodeSystem/organization-type",
                          OrganizationType(partner.kind)));
  codings.PushBack(Coding(kPartnerKindSystem, auth::ToString(partner.kind)));
  json::Value type = json::Value::Object();
  type.Set("coding", std::move(codings));
  json::Value types = json::Value::Array();
  types.PushBack(std::move(type));
  org.Set("type", std::move(types));
  org.Set("name", Str(partner.display_name.empty() ? partner.id : partner.display_name));
  if (!partner.fhir_endpoint.empty()) {
    json::Value endpoints = json::Value::Array();
    endpoints.PushBack(fhir::MakeReference("Endpoint/" + EndpointId(partner)));
    org.Set("endpoint", std::move(endpoints));
  }
  return org;
}

json::Value EndpointFor(const auth::Partner& partner) {
  json::Value endpoint = json::Value::Object();
  endpoint.Set("resourceType", Str("Endpoint"));
  endpoint.Set("id", Str(EndpointId(partner)));
  endpoint.Set("status", Str(partner.enabled ? "active" : "off"));
  endpoint.Set(
      "connectionType",
      Coding("http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "hl7-fhir-rest"));
  endpoint.Set("name", Str((partner.display_name.empty() ? partner.id : partner.display_name) +
                           " FHIR endpoint"));
  endpoint.Set("managingOrganization", fhir::MakeReference(partner.OrganizationReference()));
  json::Value payload = json::Value::Object();
  payload.Set("text", Str("FHIR R4 referrals (ServiceRequest, Task)"));
  json::Value payloads = json::Value::Array();
  payloads.PushBack(std::move(payload));
  endpoint.Set("payloadType", std::move(payloads));
  endpoint.Set("address", Str(partner.fhir_endpoint));
  return endpoint;
}

}  // namespace

bool StoredUnchanged(store::Store& store, const json::Value& desired) {
  auto current = store.Read(desired.StringAt("resourceType"), desired.StringAt("id"));
  if (!current) {
    return false;
  }
  std::string message;
  auto parsed = json::Parse(current->json, json::Limits{}, message);
  if (!parsed) {
    return false;
  }
  parsed->Remove("meta");
  json::Value bare = desired;
  bare.Remove("meta");
  return *parsed == bare;
}

Result<void> PublishPartnerDirectory(store::Store& store, const auth::PartnerRegistry& partners) {
  store::WriteBatch batch;
  auto add = [&](json::Value resource) {
    if (StoredUnchanged(store, resource)) {
      return;
    }
    std::string type(resource.StringAt("resourceType"));
    std::string id(resource.StringAt("id"));
    batch.ops.push_back(ResourceWriteOp(store::WriteOp::Kind::kUpdate, std::move(type),
                                        std::move(id), std::move(resource)));
  };
  for (const auto& partner : partners.partners()) {
    add(OrganizationFor(partner));
    if (!partner.fhir_endpoint.empty()) {
      add(EndpointFor(partner));
    }
  }
  if (batch.ops.empty()) {
    return {};
  }
  store::WriteResult result = store::WriteAndWait(store, std::move(batch));
  for (auto& op : result.ops) {
    if (!op) {
      return op.error();
    }
  }
  return {};
}

}  // namespace carebridge::api
