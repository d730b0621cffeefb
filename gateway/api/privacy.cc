// The privacy officer's operations: Consent/$evaluate ("why would this be allowed or denied"),
// Patient/{id}/$disclosures (accounting of disclosures) and AuditEvent/$export (NDJSON).

#include <algorithm>

#include "fhir/resource/resource.h"
#include "fhir/search/search.h"
#include "gateway/api/fhir_api_impl.h"
#include "gateway/api/formats.h"
#include "gateway/api/responses.h"

namespace carebridge::api {

namespace json = fhir::json;
using fhir::IssueType;

namespace {

// Both operations are for the people who answer for releases of information.
bool MayEvaluate(auth::PartnerKind kind) {
  return kind == auth::PartnerKind::kPrivacyOfficer || kind == auth::PartnerKind::kCoordinator;
}
bool MayAccount(auth::PartnerKind kind) {
  return kind == auth::PartnerKind::kPrivacyOfficer || kind == auth::PartnerKind::kAdmin;
}

HttpResponse NotForRole(const Exchange& ex, std::string_view operation) {
  return ErrorResponse(403, IssueType::kForbidden,
                       "Partner " + ex.partner->id + " (" +
                           std::string(auth::ToString(ex.partner->kind)) + ") may not use " +
                           std::string(operation));
}

// The value of parameter `name` as text: valueCode, valueString, valueUri, valueId,
// valueReference.reference or valueCoding.code.
std::string ParameterText(const json::Value& parameters, std::string_view name) {
  const json::Value* list = parameters.Find("parameter");
  if (list == nullptr || !list->is_array()) {
    return {};
  }
  for (const auto& parameter : list->items()) {
    if (parameter.StringAt("name") != name) {
      continue;
    }
    for (std::string_view key : {"valueCode", "valueString", "valueUri", "valueId"}) {
      if (std::string_view text = parameter.StringAt(key); !text.empty()) {
        return std::string(text);
      }
    }
    if (const json::Value* reference = parameter.Find("valueReference")) {
      return std::string(reference->StringAt("reference"));
    }
    if (const json::Value* coding = parameter.Find("valueCoding")) {
      return std::string(coding->StringAt("code"));
    }
  }
  return {};
}

// A date-range search over the audit log: `date` criteria from `start` / `end` (FHIR dates or
// instants), plus `extra`, sorted oldest first.
std::optional<fhir::SearchQuery> AuditRange(const QueryParams& params, QueryParams extra,
                                            const fhir::SearchLimits& limits,
                                            fhir::Outcome& outcome) {
  for (const auto& [name, value] : params) {
    if (name == "start") {
      extra.emplace_back("date", "ge" + value);
    } else if (name == "end") {
      extra.emplace_back("date", "le" + value);
    } else if (name != "_format" && name != "_pretty") {
      outcome.Error(IssueType::kNotSupported, name,
                    "Unsupported parameter '" + name + "'; supported: start, end");
      return std::nullopt;
    }
  }
  extra.emplace_back("_sort", "date");
  extra.emplace_back("_count", std::to_string(limits.max_count));
  return fhir::ParseSearchQuery("AuditEvent", extra, limits, outcome);
}

}  // namespace

net::awaitable<HttpResponse> FhirApi::Impl::EvaluateConsent(ExchangePtr ex) {
  if (!MayEvaluate(ex->partner->kind)) {
    co_return NotForRole(*ex, "Consent/$evaluate");
  }
  std::string message;
  auto parameters = json::Parse(ex->request.body, config.fhir.json, message);
  if (!parameters) {
    co_return ErrorResponse(parameters.error(), "The body is not valid JSON: " + message);
  }
  if (!parameters->is_object() || parameters->StringAt("resourceType") != "Parameters") {
    co_return ErrorResponse(400, IssueType::kInvalid, "$evaluate takes a Parameters resource");
  }
  std::string recipient_text = ParameterText(*parameters, "recipient");
  std::string purpose = ParameterText(*parameters, "purpose");
  std::string resource_text = ParameterText(*parameters, "resource");
  std::string_view recipient_id = recipient_text;
  if (recipient_id.substr(0, 13) == "Organization/") {
    recipient_id.remove_prefix(13);
  }
  const auth::Partner* recipient = partners.FindById(recipient_id);
  if (recipient == nullptr) {
    co_return ErrorResponse(400, IssueType::kValue,
                            "recipient must name a partner (Organization/<partner id>); '" +
                                recipient_text.substr(0, 80) + "' is none",
                            "Parameters.parameter[recipient]");
  }
  if (purpose.empty()) {
    co_return ErrorResponse(400, IssueType::kRequired,
                            "purpose is required: a v3 PurposeOfUse code such as TREAT",
                            "Parameters.parameter[purpose]");
  }
  std::string_view reference = consent::RelativeReference(resource_text);
  std::size_t slash = reference.find('/');
  std::string type(reference.substr(0, slash == std::string_view::npos ? 0 : slash));
  std::string id(slash == std::string_view::npos ? "" : reference.substr(slash + 1));
  if (fhir::FindSupportedType(type) == nullptr || !fhir::IsValidId(id)) {
    co_return ErrorResponse(400, IssueType::kValue,
                            "resource must be a reference such as Observation/123",
                            "Parameters.parameter[resource]");
  }
  auto found = co_await OnPool([this, &type, &id] { return store.Read(type, id); });
  if (!found) {
    co_return ErrorResponse(found.error(), type + "/" + id + " is not known");
  }
  // The decision the recipient would get, made by the same code as its own request would be.
  auto probe = std::make_shared<Exchange>();
  probe->partner = recipient;
  probe->purpose = purpose;
  probe->base = ex->base;
  probe->request.method = "GET";
  probe->target.segments = {"fhir", type, id};
  std::vector<const store::ResourceVersion*> one;
  one.push_back(&*found);
  ReleaseDecision decision = co_await Release(probe, std::move(one));
  ex->patient_id = probe->patient_id;

  json::Value list = json::Value::Array();
  const bool released = decision.released.front();
  list.PushBack(fhir::ParameterPart("decision", "valueCode",
                                    json::Value::String(released ? "permit" : "deny")));
  std::string explanation;
  if (decision.records.front().empty()) {
    explanation = released ? "permit: not decided by consent (the recipient contributed this "
                             "version, or the data belongs to no patient or is policy data)"
                           : "deny: the stored resource could not be read";
  }
  for (const auto& record : decision.records.front()) {
    explanation += explanation.empty() ? "" : "; ";
    explanation += record.explanation;
    if (record.consent) {
      std::string consent_ref = "Consent/" + record.consent->id;
      if (record.consent->version) {
        consent_ref += "/_history/" + std::to_string(*record.consent->version);
      }
      list.PushBack(fhir::ParameterReference("consent", std::move(consent_ref)));
    }
    if (record.part2) {
      list.PushBack(fhir::ParameterPart("part2", "valueBoolean", json::Value::Bool(true)));
    }
    if (record.break_glass) {
      list.PushBack(fhir::ParameterPart("breakGlass", "valueBoolean", json::Value::Bool(true)));
    }
  }
  list.PushBack(
      fhir::ParameterPart("explanation", "valueString", json::Value::String(explanation)));
  list.PushBack(fhir::ParameterPart("redisclosureNotice", "valueBoolean",
                                    json::Value::Bool(decision.notice.front())));
  co_return JsonResponse(200, fhir::MakeParameters(std::move(list)));
}

net::awaitable<HttpResponse> FhirApi::Impl::Disclosures(ExchangePtr ex, std::string patient_id) {
  if (!MayAccount(ex->partner->kind)) {
    co_return NotForRole(*ex, "Patient/$disclosures");
  }
  ex->patient_id = patient_id;
  fhir::Outcome outcome;
  auto query = AuditRange(ex->target.query,
                          {{"patient", "Patient/" + patient_id},
                           {"type", std::string(audit::kDicomSystem) + "|110106"}},
                          config.fhir.search, outcome);
  if (!query) {
    co_return OutcomeResponse(400, outcome);
  }
  auto page = co_await OnPool([this, &query] { return store.Search(*query); });
  if (!page) {
    co_return ErrorResponse(page.error(), "The audit log could not be searched");
  }
  // A collection Bundle of the PrivacyDisclosure events: each names the recipient, the data, the
  // time, the purpose and the consent that authorised it.
  std::string body = R"({"resourceType":"Bundle","id":")" + NewUuid() +
                     R"(","meta":{"lastUpdated":")" + NowInstant() +
                     R"("},"type":"searchset","total":)" + std::to_string(page->entries.size());
  if (page->total > static_cast<std::int64_t>(page->entries.size())) {
    body.resize(body.rfind(",\"total\""));  // truncated: no honest total
  }
  if (!page->entries.empty()) {
    body += R"(,"entry":[)";
    bool first = true;
    for (const auto& entry : page->entries) {
      body += first ? "" : ",";
      first = false;
      body += R"({"fullUrl":)";
      AppendJsonString(body, ex->base + "/AuditEvent/" + entry.id);
      body += R"(,"resource":)";
      body += entry.json;
      body += R"(,"search":{"mode":"match"}})";
    }
    body += "]";
  }
  body += "}";
  HttpResponse response;
  response.headers.emplace_back("content-type", std::string(kFhirJsonType));
  response.body = std::move(body);
  co_return response;
}

net::awaitable<HttpResponse> FhirApi::Impl::ExportAudit(ExchangePtr ex) {
  if (!MayAccount(ex->partner->kind)) {
    co_return NotForRole(*ex, "AuditEvent/$export");
  }
  fhir::Outcome outcome;
  auto query = AuditRange(ex->target.query, {}, config.fhir.search, outcome);
  if (!query) {
    co_return OutcomeResponse(400, outcome);
  }
  // One AuditEvent per line, oldest first, read page by page.
  std::string body;
  for (;;) {
    auto page = co_await OnPool([this, &query] { return store.Search(*query); });
    if (!page) {
      co_return ErrorResponse(page.error(), "The audit log could not be read");
    }
    for (const auto& entry : page->entries) {
      body += entry.json;
      body += '\n';
    }
    query->offset += static_cast<int>(page->entries.size());
    if (page->entries.empty() || query->offset >= page->total) {
      break;
    }
  }
  HttpResponse response;
  response.headers.emplace_back("content-type", "application/fhir+ndjson");
  response.body = std::move(body);
  co_return response;
}

}  // namespace carebridge::api
