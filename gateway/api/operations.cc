// FHIR operations of the mapping module: ConceptMap/$translate, $map-preview and
// QuestionnaireResponse/{id}/$extract. Partner mapping of the ordinary interactions is not here.

#include <algorithm>
#include <array>
#include <mutex>

#include "fhir/json/json.h"
#include "fhir/resource/resource.h"
#include "gateway/api/fhir_api_impl.h"
#include "gateway/api/formats.h"
#include "gateway/api/release.h"
#include "gateway/api/responses.h"
#include "mappings/extract.h"
#include "mappings/questionnaire.h"

namespace carebridge::api {

namespace json = fhir::json;
using fhir::IssueType;

namespace {

constexpr std::array<std::size_t, 1> kFirstOnly = {0};

HttpResponse PostOnly(std::string_view what) {
  HttpResponse response =
      ErrorResponse(405, IssueType::kNotSupported, std::string(what) + " is invoked with POST");
  response.headers.emplace_back("allow", "POST");
  return response;
}

std::string QueryValue(const QueryParams& query, std::string_view name) {
  for (const auto& [key, value] : query) {
    if (key == name) {
      return value;
    }
  }
  return {};
}

}  // namespace

void FhirApi::SetMappingCatalog(std::shared_ptr<const mappings::Catalog> catalog) {
  std::lock_guard lock(impl_->mapping_catalog_mutex);
  impl_->mapping_catalog = std::move(catalog);
}

mappings::CatalogPtr FhirApi::Impl::MappingCatalog() const {
  std::lock_guard lock(mapping_catalog_mutex);
  return mapping_catalog;
}

bool FhirApi::Impl::IsMappingOperation(const std::vector<std::string>& segments) {
  const std::size_t n = segments.size();
  return (n == 2 && segments[1] == "$map-preview") ||
         (n == 3 && segments[1] == "ConceptMap" && segments[2] == "$translate") ||
         (n == 4 && segments[1] == "QuestionnaireResponse" && segments[3] == "$extract");
}

net::awaitable<HttpResponse> FhirApi::Impl::RouteMappingOperation(ExchangePtr ex) {
  const auto& segments = ex->target.segments;
  if (ex->request.method != "POST") {
    co_return PostOnly(segments.back());
  }
  if (MappingCatalog() == nullptr) {
    co_return ErrorResponse(503, IssueType::kProcessing,
                            "The mapping data is not loaded on this gateway");
  }
  if (segments.size() == 4) {
    co_return co_await ExtractOperation(ex, segments[2]);
  }
  // Translating codes and previewing a mapping read only the mapping data and disclose nothing
  // stored: every role reads something (agencies their referrals, the directory for all), so any
  // authenticated partner may use them, within a bearer token's scopes for reading ConceptMap.
  if (ex->scopes && !ScopesAllow(*ex->scopes, Interaction::kRead, "ConceptMap")) {
    co_return ErrorResponse(403, IssueType::kForbidden,
                            "The access token's scopes do not cover reading ConceptMap");
  }
  if (segments.size() == 3) {
    co_return TranslateOperation(*ex);
  }
  co_return MapPreviewOperation(*ex);
}

HttpResponse FhirApi::Impl::TranslateOperation(const Exchange& ex) const {
  mappings::CatalogPtr catalog = MappingCatalog();
  std::string message;
  auto body = json::Parse(ex.request.body, config.fhir.json, message);
  if (!body) {
    return ErrorResponse(body.error(), "The body is not valid JSON: " + message);
  }
  if (!body->is_object() || body->StringAt("resourceType") != "Parameters") {
    return ErrorResponse(400, IssueType::kInvalid,
                         "$translate takes a Parameters resource (url, system, code, coding, "
                         "codeableConcept, target, targetsystem, reverse)",
                         "resourceType");
  }
  fhir::Outcome outcome;
  auto request = mappings::ParseTranslateParameters(*body, outcome);
  if (!request) {
    return OutcomeResponse(400, outcome);
  }
  if (!request->url.empty() && catalog->concept_maps()->Find(request->url) == nullptr) {
    return ErrorResponse(404, IssueType::kNotFound,
                         "ConceptMap " + request->url + " is not known to this server",
                         "Parameters.parameter.where(name='url')");
  }
  return JsonResponse(200, mappings::ToParameters(catalog->concept_maps()->Translate(*request)));
}

HttpResponse FhirApi::Impl::MapPreviewOperation(const Exchange& ex) const {
  mappings::CatalogPtr catalog = MappingCatalog();
  const std::string partner = QueryValue(ex.target.query, "partner");
  const std::string direction = QueryValue(ex.target.query, "direction");
  if (partner.empty()) {
    return ErrorResponse(400, IssueType::kRequired,
                         "$map-preview needs ?partner=<partner id>&direction=inbound|outbound",
                         "partner");
  }
  if (direction != "inbound" && direction != "outbound") {
    return ErrorResponse(400, IssueType::kValue,
                         "direction must be inbound (partner to canonical) or outbound "
                         "(canonical to partner)",
                         "direction");
  }
  const mappings::PartnerMapping* mapping = catalog->Partner(partner);
  if (mapping == nullptr) {
    return ErrorResponse(
        404, IssueType::kNotFound,
        "There is no mapping definition for partner '" + partner.substr(0, 64) + "'", "partner");
  }
  std::string message;
  auto body = json::Parse(ex.request.body, config.fhir.json, message);
  if (!body) {
    return ErrorResponse(body.error(), "The body is not valid JSON: " + message);
  }
  const std::string type(body->is_object() ? body->StringAt("resourceType") : "");
  if (!fhir::IsR4ResourceType(type)) {
    return ErrorResponse(400, IssueType::kInvalid,
                         "$map-preview takes a FHIR R4 resource as its body", "resourceType");
  }
  if (fhir::FindSupportedType(type) != nullptr) {
    ParsedBody parsed = ParseResource(ex.request.body, type);
    if (parsed.error) {
      return std::move(*parsed.error);
    }
  }
  json::Value mapped = *body;
  fhir::Outcome outcome;
  const bool ok = mapping->Apply(
      direction == "inbound" ? mappings::Direction::kInbound : mappings::Direction::kOutbound,
      mapped, outcome);
  if (!ok) {
    return OutcomeResponse(422, outcome);
  }
  json::Value list = json::Value::Array();
  list.PushBack(fhir::ParameterPart("return", "resource", std::move(mapped)));
  list.PushBack(fhir::ParameterPart("outcome", "resource", outcome.ToResource()));
  return JsonResponse(200, fhir::MakeParameters(std::move(list)));
}

net::awaitable<HttpResponse> FhirApi::Impl::ExtractOperation(ExchangePtr ex, std::string id) {
  // Extraction writes clinical findings and draft plans: EHRs and care coordinators only.
  if (ex->partner->kind != auth::PartnerKind::kEhr &&
      ex->partner->kind != auth::PartnerKind::kCoordinator) {
    co_return ErrorResponse(403, IssueType::kForbidden,
                            "Partner " + ex->partner->id + " (" +
                                std::string(auth::ToString(ex->partner->kind)) +
                                ") may not run $extract: it is for EHRs and care coordinators");
  }
  if (auto refused = Permit(*ex, Interaction::kRead, "QuestionnaireResponse")) {
    co_return std::move(*refused);
  }
  if (!fhir::IsValidId(id)) {
    co_return ErrorResponse(400, IssueType::kValue,
                            "Invalid resource id '" + id.substr(0, 80) + "'");
  }
  mappings::CatalogPtr catalog = MappingCatalog();
  auto stored = co_await OnPool([this, &id] { return store.Read("QuestionnaireResponse", id); });
  if (!stored) {
    co_return ErrorResponse(
        stored.error(),
        "QuestionnaireResponse/" + id +
            (stored.error() == store::errc::kGone ? " has been deleted" : " is not known"));
  }
  {
    // The response is read under the patient's consent, as a read of it would be.
    std::vector<const store::ResourceVersion*> one = {&*stored};
    ReleaseDecision release = co_await Release(ex, std::move(one));
    RecordRelease(*ex, release, kFirstOnly);
    if (!release.released.front()) {
      co_return ErrorResponse(404, IssueType::kNotFound,
                              "QuestionnaireResponse/" + id + " is not known");
    }
  }
  std::string message;
  auto response = json::Parse(stored->json, config.fhir.json, message);
  if (!response) {
    co_return ErrorResponse(500, IssueType::kException,
                            "The stored QuestionnaireResponse does not parse: " + message);
  }
  const std::string canonical(response->StringAt("questionnaire"));
  mappings::QuestionnairePtr questionnaire = catalog->FindQuestionnaire(canonical);
  if (questionnaire == nullptr) {
    co_return ErrorResponse(422, IssueType::kNotSupported,
                            canonical.empty()
                                ? "The response names no Questionnaire, so it cannot be extracted"
                                : "Questionnaire " + canonical +
                                      " is not one this server extracts (PRAPARE, CANS; see "
                                      "GET /fhir/Questionnaire)",
                            "QuestionnaireResponse.questionnaire");
  }
  fhir::Outcome outcome;
  if (!mappings::ValidateResponse(*questionnaire, *response, outcome)) {
    co_return OutcomeResponse(422, outcome);
  }
  auto produced = mappings::Extract(*questionnaire, *response, outcome);
  if (!produced) {
    co_return OutcomeResponse(422, outcome);
  }
  // What is extracted carries the response's security labels (a Part 2 response gives Part 2
  // findings) and is the requesting partner's contribution, as if it had written it.
  const json::Value* response_meta = response->Find("meta");
  const json::Value* labels = response_meta != nullptr ? response_meta->Find("security") : nullptr;
  for (json::Value& resource : *produced) {
    PrepareInbound(*ex, resource);
    if (labels != nullptr && labels->is_array() && !labels->items().empty()) {
      json::Value* meta = resource.Find("meta");
      json::Value* security = meta->Find("security");
      if (security == nullptr) {
        meta->Set("security", *labels);
      } else {
        for (const json::Value& label : labels->items()) {
          if (std::find(security->items().begin(), security->items().end(), label) ==
              security->items().end()) {
            security->PushBack(label);
          }
        }
      }
    }
  }
  if (ex->scopes) {
    for (const json::Value& resource : *produced) {
      if (!ScopesAllow(*ex->scopes, Interaction::kCreate, resource.StringAt("resourceType"))) {
        co_return ErrorResponse(403, IssueType::kForbidden,
                                "The access token's scopes do not cover creating " +
                                    std::string(resource.StringAt("resourceType")));
      }
    }
  }

  // Idempotent: what exists already (or was deleted since) is left as it is, so a coordinator's
  // edits to a draft are never overwritten; only what is missing is created, in one atomic batch.
  // A create of an id that exists fails the batch (kVersionConflict): a concurrent $extract of
  // the same response won, so look again once and answer with what it wrote.
  std::vector<Result<store::ResourceVersion>> existing;
  std::vector<std::size_t> written_index;
  store::WriteResult result;
  for (int attempt = 0;; ++attempt) {
    existing = co_await OnPool([this, &produced] {
      std::vector<Result<store::ResourceVersion>> found;
      for (const json::Value& resource : *produced) {
        found.push_back(store.Read(resource.StringAt("resourceType"), resource.StringAt("id")));
      }
      return found;
    });
    store::WriteBatch batch;
    batch.atomic = true;
    written_index.assign(produced->size(), SIZE_MAX);
    for (std::size_t i = 0; i < produced->size(); ++i) {
      const Result<store::ResourceVersion>& found = existing[i];
      if (found || found.error() == store::errc::kGone) {
        continue;
      }
      if (found.error() != store::errc::kNotFound) {
        co_return ErrorResponse(found.error(), "Could not read what an earlier $extract wrote");
      }
      json::Value resource = (*produced)[i];
      std::string type(resource.StringAt("resourceType"));
      std::string resource_id(resource.StringAt("id"));
      written_index[i] = batch.ops.size();
      batch.ops.push_back(ResourceWriteOp(store::WriteOp::Kind::kCreate, std::move(type),
                                          std::move(resource_id), std::move(resource)));
    }
    if (batch.ops.empty()) {
      break;
    }
    // The request's audit event commits with the data it wrote.
    if (auto rest = RestAuditOp(*ex, 200, {}, {}, {})) {
      batch.ops.push_back(std::move(*rest));
    }
    result = co_await Commit(std::move(batch));
    ex->rest_event_committed = !result.failed_op;
    std::optional<std::error_code> failed;
    for (auto& op : result.ops) {
      if (!op && !failed) {
        failed = op.error();
      }
    }
    if (!failed) {
      break;
    }
    if (*failed != store::errc::kVersionConflict || attempt > 0) {
      co_return ErrorResponse(*failed, "Could not store the extracted resources");
    }
  }

  // What existed already is answered under consent, like a read.
  std::vector<const store::ResourceVersion*> earlier;
  std::vector<std::size_t> earlier_index;
  for (std::size_t i = 0; i < produced->size(); ++i) {
    if (written_index[i] == SIZE_MAX && existing[i]) {
      earlier.push_back(&*existing[i]);
      earlier_index.push_back(i);
    }
  }
  std::vector<bool> withheld(produced->size(), false);
  if (!earlier.empty()) {
    ReleaseDecision release = co_await Release(ex, earlier);
    std::vector<std::size_t> covered;
    for (std::size_t k = 0; k < earlier.size(); ++k) {
      if (release.released[k]) {
        covered.push_back(k);
      } else {
        withheld[earlier_index[k]] = true;
      }
    }
    RecordRelease(*ex, release, covered);
  }

  json::Value entries = json::Value::Array();
  for (std::size_t i = 0; i < produced->size(); ++i) {
    const json::Value& resource = (*produced)[i];
    const std::string type(resource.StringAt("resourceType"));
    const std::string resource_id(resource.StringAt("id"));
    json::Value entry = json::Value::Object();
    entry.Set("fullUrl", json::Value::String(ex->base + "/" + type + "/" + resource_id));
    json::Value status = json::Value::Object();
    std::string body;
    store::VersionStamp stamp;
    if (written_index[i] != SIZE_MAX) {
      store::WriteOutcome& written = *result.ops[written_index[i]];
      stamp = written.stamp;
      body = std::move(written.json);
      status.Set("status", json::Value::String("201 Created"));
    } else if (existing[i]) {
      stamp = {existing[i]->id, existing[i]->version, existing[i]->last_updated};
      body = existing[i]->json;
      status.Set("status", json::Value::String("200 OK"));
    } else {
      status.Set("status", json::Value::String("410 Gone"));
    }
    if (withheld[i]) {
      body.clear();  // exists, but not released to this partner: no content
    }
    if (!body.empty()) {
      std::string parse_message;
      if (auto parsed = json::Parse(body, config.fhir.json, parse_message)) {
        entry.Set("resource", std::move(*parsed));
      }
      const std::string version = std::to_string(stamp.version);
      status.Set("location",
                 json::Value::String(type + "/" + resource_id + "/_history/" + version));
      status.Set("etag", json::Value::String("W/\"" + version + "\""));
      status.Set("lastModified", json::Value::String(stamp.last_updated));
    }
    entry.Set("response", std::move(status));
    entries.PushBack(std::move(entry));
  }
  json::Value bundle = json::Value::Object();
  bundle.Set("resourceType", json::Value::String("Bundle"));
  bundle.Set("id", json::Value::String(NewUuid()));
  bundle.Set("type", json::Value::String("transaction-response"));
  bundle.Set("entry", std::move(entries));
  co_return JsonResponse(200, bundle);
}

}  // namespace carebridge::api
