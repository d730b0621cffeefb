#include "gateway/api/fhir_api.h"

#include <algorithm>
#include <charconv>

#include "fhir/resource/resource.h"
#include "fhir/search/search.h"
#include "gateway/api/capability.h"
#include "gateway/api/catalog.h"
#include "gateway/api/fhir_api_impl.h"
#include "gateway/api/formats.h"
#include "gateway/api/release.h"
#include "gateway/api/responses.h"
#include "gateway/log/log.h"

namespace carebridge::api {

using auth::Partner;
using fhir::IssueType;
using log::Log;
using log::LogLevel;
namespace json = fhir::json;

namespace {

constexpr std::string_view kPlainJsonType = "application/json; charset=utf-8";

std::string_view MediaType(std::string_view header) {
  std::string_view media = header.substr(0, header.find(';'));
  while (!media.empty() && media.back() == ' ') {
    media.remove_suffix(1);
  }
  while (!media.empty() && media.front() == ' ') {
    media.remove_prefix(1);
  }
  return media;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

bool IsJsonMediaType(std::string_view media) {
  return EqualsIgnoreCase(media, "application/fhir+json") ||
         EqualsIgnoreCase(media, "application/json") || EqualsIgnoreCase(media, "json");
}

// The JSON media type to answer with, or nullopt when the client accepts none (406).
// _format wins over Accept, as the FHIR spec says.
std::optional<std::string> NegotiateResponseType(const HttpRequest& request,
                                                 const QueryParams& query) {
  for (const auto& [name, value] : query) {
    if (name == "_format") {
      if (EqualsIgnoreCase(value, "application/json")) {
        return std::string(kPlainJsonType);
      }
      if (IsJsonMediaType(value)) {
        return std::string(kFhirJsonType);
      }
      return std::nullopt;
    }
  }
  const std::string* accept = request.Header("accept");
  if (accept == nullptr || accept->empty()) {
    return std::string(kFhirJsonType);
  }
  bool plain_json = false;
  std::string_view rest = *accept;
  while (!rest.empty()) {
    std::size_t comma = rest.find(',');
    std::string_view media = MediaType(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (EqualsIgnoreCase(media, "application/fhir+json") || media == "*/*" ||
        EqualsIgnoreCase(media, "application/*")) {
      return std::string(kFhirJsonType);
    }
    if (EqualsIgnoreCase(media, "application/json")) {
      plain_json = true;
    }
  }
  if (plain_json) {
    return std::string(kPlainJsonType);
  }
  return std::nullopt;
}

// A request body must be JSON; XML and anything else are refused unread.
std::optional<HttpResponse> CheckBodyType(const HttpRequest& request) {
  const std::string* content_type = request.Header("content-type");
  if (content_type == nullptr) {
    return ErrorResponse(415, IssueType::kNotSupported,
                         "Content-Type is missing: send application/fhir+json");
  }
  std::string_view media = MediaType(*content_type);
  if (!EqualsIgnoreCase(media, "application/fhir+json") &&
      !EqualsIgnoreCase(media, "application/json")) {
    return ErrorResponse(415, IssueType::kNotSupported,
                         "Content-Type '" + std::string(media) +
                             "' is not supported: this server accepts application/fhir+json only");
  }
  std::string_view params = *content_type;
  std::size_t charset = params.find("charset=");
  if (charset != std::string_view::npos) {
    std::string_view value = MediaType(params.substr(charset + 8));
    if (!EqualsIgnoreCase(value, "utf-8") && !EqualsIgnoreCase(value, "\"utf-8\"")) {
      return ErrorResponse(415, IssueType::kNotSupported,
                           "charset '" + std::string(value) + "' is not supported: use UTF-8");
    }
  }
  return std::nullopt;
}

HttpResponse MethodNotAllowed(std::string_view allow, std::string_view what) {
  HttpResponse response = ErrorResponse(
      405, IssueType::kNotSupported,
      std::string(what) + " does not support this method; allowed: " + std::string(allow));
  response.headers.emplace_back("allow", std::string(allow));
  return response;
}

HttpResponse UnknownType(std::string_view type) {
  std::string message;
  if (fhir::IsR4ResourceType(type)) {
    message = "Resource type '" + std::string(type) + "' is not supported by this server";
  } else {
    message = "Unknown resource type '" + std::string(type) + "'";
  }
  message += "; see /fhir/metadata for the supported types";
  return ErrorResponse(404, IssueType::kNotSupported, std::move(message));
}

HttpResponse InvalidId(std::string_view id) {
  return ErrorResponse(400, IssueType::kValue,
                       "Invalid resource id '" + std::string(id.substr(0, 80)) +
                           "': ids are 1-64 characters of A-Z, a-z, 0-9, '-' and '.'");
}

std::string BaseUrl(const config::Config& config, const HttpRequest& request) {
  if (!config.fhir.base_url.empty()) {
    std::string base = config.fhir.base_url;
    while (!base.empty() && base.back() == '/') {
      base.pop_back();
    }
    return base;
  }
  const std::string* host = request.Header("host");
  std::string scheme = config.server.tls ? "https://" : "http://";
  return scheme + (host != nullptr && !host->empty() ? *host : std::string("localhost")) + "/fhir";
}

bool PreferMinimal(const HttpRequest& request) {
  const std::string* prefer = request.Header("prefer");
  return prefer != nullptr && prefer->find("return=minimal") != std::string::npos;
}

std::int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

HttpResponse Unauthorized(const HttpRequest& request, std::string message) {
  Log(LogLevel::kWarn, "authentication refused",
      {{"remote", request.remote_address}, {"reason", message}});
  HttpResponse response = ErrorResponse(401, IssueType::kLogin, std::move(message));
  response.headers.emplace_back("www-authenticate", R"(Bearer realm="carebridge")");
  return response;
}

HttpResponse ProbeResponse(bool ok, std::string_view what) {
  HttpResponse response;
  response.status = ok ? 200 : 503;
  response.headers.emplace_back("content-type", "application/json");
  response.body = std::string(R"({"status":")") + (ok ? "ok" : "unavailable") + R"(","check":")" +
                  std::string(what) + "\"}";
  return response;
}

}  // namespace

FhirApi::FhirApi(const config::Config& config, store::Store& store, net::thread_pool& blocking,
                 const auth::PartnerRegistry& partners, auth::TokenService& tokens)
    : impl_(std::make_unique<Impl>(config, store, blocking, partners, tokens)) {}

FhirApi::~FhirApi() = default;

FhirApi::Impl::Impl(const config::Config& cfg, store::Store& st, net::thread_pool& pool,
                    const auth::PartnerRegistry& registry, auth::TokenService& token_service)
    : config(cfg),
      store(st),
      blocking(pool),
      partners(registry),
      tokens(token_service),
      consent_policy(ConsentPolicyFrom(cfg.consent)),
      capability_statement(BuildCapabilityStatement()) {}

net::awaitable<HttpResponse> FhirApi::Handle(HttpRequest request) {
  auto target = ParseTarget(request.target);
  if (!target) {
    co_return ErrorResponse(400, IssueType::kInvalid,
                            "The request target is not a valid path or has a malformed "
                            "percent-escape");
  }
  const auto& segments = target->segments;
  if (segments.size() == 1 && (segments[0] == "healthz" || segments[0] == "readyz")) {
    if (request.method != "GET" && request.method != "HEAD") {
      co_return MethodNotAllowed("GET", "/" + segments[0]);
    }
    bool ready = segments[0] == "healthz" || ready_.load(std::memory_order_relaxed);
    co_return ProbeResponse(ready, segments[0]);
  }
  if (segments.size() == 2 && segments[0] == ".well-known" &&
      segments[1] == "smart-configuration") {
    if (request.method != "GET") {
      co_return MethodNotAllowed("GET", "/.well-known/smart-configuration");
    }
    HttpResponse response;
    response.headers.emplace_back("content-type", "application/json");
    std::string base = BaseUrl(impl_->config, request);
    response.body = impl_->tokens.SmartConfiguration(base.substr(0, base.size() - 5));
    co_return response;
  }
  if (segments.size() == 2 && segments[0] == "auth" && segments[1] == "token") {
    co_return impl_->IssueToken(request);
  }
  if (segments.empty() || segments[0] != "fhir") {
    co_return ErrorResponse(404, IssueType::kNotFound, "No such endpoint; the FHIR base is /fhir");
  }
  auto ex = std::make_shared<Exchange>();
  ex->base = BaseUrl(impl_->config, request);
  ex->request = std::move(request);
  ex->target = std::move(*target);
  if (auto refused = impl_->Admit(*ex)) {
    co_return std::move(*refused);
  }
  auto response_type = NegotiateResponseType(ex->request, ex->target.query);
  if (!response_type) {
    co_return ErrorResponse(406, IssueType::kNotSupported,
                            "This server answers in JSON only (application/fhir+json); "
                            "ask for it with Accept or _format=json");
  }
  ex->response_type = std::move(*response_type);
  HttpResponse response = co_await impl_->Route(ex);
  response = co_await impl_->FinishAudit(ex, std::move(response));
  for (auto& [name, value] : response.headers) {
    if (name == "content-type" && value == kFhirJsonType) {
      value = ex->response_type;
    }
  }
  co_return response;
}

HttpResponse FhirApi::Impl::IssueToken(const HttpRequest& request) {
  if (request.method != "POST") {
    return MethodNotAllowed("POST", "/auth/token");
  }
  const std::string* content_type = request.Header("content-type");
  if (content_type == nullptr ||
      !EqualsIgnoreCase(MediaType(*content_type), "application/x-www-form-urlencoded")) {
    return ErrorResponse(415, IssueType::kNotSupported,
                         "The token endpoint takes application/x-www-form-urlencoded");
  }
  auto form = ParseQuery(request.body);
  if (!form) {
    return ErrorResponse(400, IssueType::kInvalid, "Malformed form body");
  }
  auto issued = tokens.Issue(*form, UnixSeconds());
  if (issued.status != 200) {
    Log(LogLevel::kWarn, "token request refused",
        {{"remote", request.remote_address}, {"status", std::to_string(issued.status)}});
  }
  HttpResponse response;
  response.status = issued.status;
  response.headers.emplace_back("content-type", "application/json");
  response.headers.emplace_back("cache-control", "no-store");
  response.body = std::move(issued.body);
  return response;
}

std::optional<HttpResponse> FhirApi::Impl::Admit(Exchange& ex) {
  const HttpRequest& request = ex.request;
  std::string claimed_purpose;
  if (const std::string* authorization = request.Header("authorization")) {
    std::string_view value = *authorization;
    if (value.size() < 7 || !EqualsIgnoreCase(value.substr(0, 7), "bearer ")) {
      return Unauthorized(request, "Only Bearer tokens are accepted in Authorization");
    }
    auto claims = tokens.Verify(value.substr(7), UnixSeconds());
    if (!claims) {
      return Unauthorized(request, "The access token is not valid: " + claims.error().message());
    }
    ex.partner = partners.FindById(claims->partner_id);
    claimed_purpose = claims->purpose;
    ex.scopes = std::move(claims->scopes);
  } else if (request.peer_certificate) {
    const PeerCertificate& cert = *request.peer_certificate;
    ex.partner = partners.FindByCertificate(cert.sha256_fingerprint, cert.subject, cert.common_name,
                                            cert.uri_sans);
    if (ex.partner == nullptr) {
      return Unauthorized(request, "The client certificate (" + cert.subject +
                                       ") is not registered to any partner");
    }
  } else {
    return Unauthorized(request,
                        "Present a partner client certificate, or a Bearer token from /auth/token");
  }
  if (ex.partner == nullptr || !ex.partner->enabled) {
    return Unauthorized(request, "The partner is not enabled on this gateway");
  }
  const Partner& partner = *ex.partner;
  if (const std::string* header = request.Header("x-purpose-of-use")) {
    std::string_view code = *header;
    if (auto bar = code.rfind('|'); bar != std::string_view::npos) {
      code.remove_prefix(bar + 1);  // "system|code" is accepted too
    }
    ex.purpose = std::string(code);
  } else if (!claimed_purpose.empty()) {
    ex.purpose = claimed_purpose;
  } else {
    ex.purpose = partner.default_purpose;
  }
  if (ex.purpose.empty() || !partner.MayClaim(ex.purpose)) {
    Log(LogLevel::kWarn, "purpose of use refused",
        {{"partner", partner.id}, {"purpose", ex.purpose}});
    return ErrorResponse(403, IssueType::kForbidden,
                         "Partner " + partner.id + " may not claim purpose of use '" +
                             ex.purpose.substr(0, 40) + "'",
                         "X-Purpose-Of-Use");
  }
  if (auto wait = rate_limiter.Acquire(partner, std::chrono::steady_clock::now())) {
    HttpResponse response =
        ErrorResponse(429, IssueType::kThrottled,
                      "Partner " + partner.id + " is over its request rate; retry after " +
                          std::to_string(*wait) + " s");
    response.headers.emplace_back("retry-after", std::to_string(*wait));
    return response;
  }
  return std::nullopt;
}

net::awaitable<HttpResponse> FhirApi::Impl::Route(ExchangePtr ex) {
  const std::string& method = ex->request.method;
  const auto& segments = ex->target.segments;
  const std::size_t n = segments.size();
  bool has_body = method == "POST" || method == "PUT";
  bool is_search_post = method == "POST" && n == 3 && segments[2] == "_search";
  bool is_bodyless_operation =
      n == 2 && (segments[1] == "$reload-mappings" || segments[1] == "$redrive");
  if (has_body && !is_search_post && !is_bodyless_operation) {
    if (auto refused = CheckBodyType(ex->request)) {
      co_return std::move(*refused);
    }
  }

  // [base]
  if (n == 1) {
    if (method == "POST") {
      if (auto refused = Permit(*ex, Interaction::kBundle, "")) {
        co_return std::move(*refused);
      }
      co_return co_await ProcessBundle(ex);
    }
    co_return MethodNotAllowed("POST", "The base URL");
  }
  const std::string& first = segments[1];
  if (n == 2 && first == "$reload-mappings") {
    if (method != "POST") {
      co_return MethodNotAllowed("POST", "$reload-mappings");
    }
    co_return co_await ReloadMappings(ex);
  }
  if (n == 2 && first == "metadata") {
    if (method != "GET") {
      co_return MethodNotAllowed("GET", "metadata");
    }
    // Every authenticated partner may read what the server can do.
    HttpResponse response;
    response.headers.emplace_back("content-type", std::string(kFhirJsonType));
    response.body = capability_statement;
    co_return response;
  }
  if (n == 2 && first == "_history") {
    if (method != "GET") {
      co_return MethodNotAllowed("GET", "_history");
    }
    if (auto refused = Permit(*ex, Interaction::kSystemHistory, "")) {
      co_return std::move(*refused);
    }
    co_return co_await History(ex, "", "");
  }
  if (n == 2 && first == "$referral-metrics") {
    if (method != "GET") {
      co_return MethodNotAllowed("GET", "$referral-metrics");
    }
    co_return co_await ReferralMetrics(ex);
  }
  // Dead-letter administration (outbox_ops.cc).
  if (n == 2 && first == "$dead-letters") {
    if (method != "GET") {
      co_return MethodNotAllowed("GET", "$dead-letters");
    }
    co_return co_await DeadLetters(ex);
  }
  if (n == 2 && first == "$redrive") {
    if (method != "POST") {
      co_return MethodNotAllowed("POST", "$redrive");
    }
    co_return co_await Redrive(ex);
  }
  // A referral's timeline as Provenance (referral_ops.cc): searchable by target=Task/{id} only.
  if (n == 2 && first == "Provenance") {
    if (method != "GET") {
      co_return MethodNotAllowed("GET", "Provenance");
    }
    std::string target;
    for (const auto& [name, value] : ex->target.query) {
      if (name == "target" && target.empty()) {
        target = value;
      } else if (name != "_format") {
        co_return ErrorResponse(400, IssueType::kNotSupported,
                                "Provenance is searchable by target=Task/{id} only (a referral's "
                                "timeline); not by '" +
                                    name.substr(0, 40) + "'",
                                name.substr(0, 40));
      }
    }
    const std::string task_id = target.starts_with("Task/") ? target.substr(5) : std::string();
    if (!fhir::IsValidId(task_id)) {
      co_return ErrorResponse(400, IssueType::kRequired,
                              "Provenance is searchable by target=Task/{id} (a referral's "
                              "timeline)",
                              "target");
    }
    if (auto refused = Permit(*ex, Interaction::kRead, "Task")) {
      co_return std::move(*refused);
    }
    co_return co_await ReferralTimeline(ex, task_id, true);
  }
  // Mapping and questionnaire operations (operations.cc).
  if (IsMappingOperation(segments)) {
    co_return co_await RouteMappingOperation(ex);
  }
  const fhir::ResourceTypeInfo* type_info = fhir::FindSupportedType(first);
  if (type_info == nullptr) {
    co_return UnknownType(first);
  }
  std::string type(type_info->name);
  if (!type_info->writable && method != "GET") {
    co_return MethodNotAllowed("GET", type + " is read-only: the gateway writes it itself; it");
  }

  // [base]/[type]
  if (n == 2) {
    if (method == "GET") {
      if (auto refused = Permit(*ex, Interaction::kSearch, type)) {
        co_return std::move(*refused);
      }
      co_return co_await Search(ex, type, ex->target.query);
    }
    if (method == "POST") {
      if (auto refused = Permit(*ex, Interaction::kCreate, type)) {
        co_return std::move(*refused);
      }
      co_return co_await Create(ex, type);
    }
    co_return MethodNotAllowed("GET, POST", type);
  }
  const std::string& second = segments[2];
  if (n == 3 && second == "_search") {
    if (method != "POST") {
      co_return MethodNotAllowed("POST", type + "/_search");
    }
    const std::string* content_type = ex->request.Header("content-type");
    if (content_type == nullptr ||
        !EqualsIgnoreCase(MediaType(*content_type), "application/x-www-form-urlencoded")) {
      co_return ErrorResponse(415, IssueType::kNotSupported,
                              "POST _search takes application/x-www-form-urlencoded parameters");
    }
    auto form = ParseQuery(ex->request.body);
    if (!form) {
      co_return ErrorResponse(400, IssueType::kInvalid, "Malformed form body in POST _search");
    }
    QueryParams params = ex->target.query;
    params.insert(params.end(), form->begin(), form->end());
    if (auto refused = Permit(*ex, Interaction::kSearch, type)) {
      co_return std::move(*refused);
    }
    co_return co_await Search(ex, type, std::move(params));
  }
  if (n == 3 && second == "_history") {
    if (method != "GET") {
      co_return MethodNotAllowed("GET", type + "/_history");
    }
    if (auto refused = Permit(*ex, Interaction::kSearch, type)) {
      co_return std::move(*refused);
    }
    if (!ex->addressed_to.empty()) {
      co_return ErrorResponse(403, IssueType::kForbidden,
                              "Type history is not available to agencies; search instead");
    }
    co_return co_await History(ex, type, "");
  }
  if (n == 3 && second == "$evaluate" && type == "Consent") {
    if (method != "POST") {
      co_return MethodNotAllowed("POST", "Consent/$evaluate");
    }
    co_return co_await EvaluateConsent(ex);
  }
  if (n == 3 && second == "$export" && type == "AuditEvent") {
    if (method != "GET") {
      co_return MethodNotAllowed("GET", "AuditEvent/$export");
    }
    co_return co_await ExportAudit(ex);
  }
  // [base]/[type]/[id]...
  if (!fhir::IsValidId(second)) {
    co_return InvalidId(second);
  }
  if (n == 3) {
    if (method == "GET") {
      if (auto refused = Permit(*ex, Interaction::kRead, type)) {
        co_return std::move(*refused);
      }
      co_return co_await Read(ex, type, second);
    }
    if (method == "PUT") {
      if (auto refused = Permit(*ex, Interaction::kUpdate, type)) {
        co_return std::move(*refused);
      }
      co_return co_await Update(ex, type, second);
    }
    if (method == "DELETE") {
      if (auto refused = Permit(*ex, Interaction::kDelete, type)) {
        co_return std::move(*refused);
      }
      co_return co_await Delete(ex, type, second);
    }
    co_return MethodNotAllowed("GET, PUT, DELETE", type + "/" + second);
  }
  if (n == 4 && segments[3] == "$disclosures" && type == "Patient") {
    if (method != "GET") {
      co_return MethodNotAllowed("GET", "Patient/" + second + "/$disclosures");
    }
    co_return co_await Disclosures(ex, second);
  }
  if (n == 4 && segments[3] == "$timeline" && type == "Task") {
    if (auto refused = method != "GET" ? MethodNotAllowed("GET", "Task/{id}/$timeline")
                                       : Permit(*ex, Interaction::kRead, type)) {
      co_return std::move(*refused);
    }
    co_return co_await ReferralTimeline(ex, second);
  }
  if (segments[3] == "_history" && (n == 4 || n == 5)) {
    if (method != "GET") {
      co_return MethodNotAllowed("GET", type + "/" + second + "/_history");
    }
    if (auto refused = Permit(*ex, Interaction::kRead, type)) {
      co_return std::move(*refused);
    }
    if (n == 4) {
      co_return co_await History(ex, type, second);
    }
    co_return co_await VRead(ex, type, second, segments[4]);
  }
  co_return ErrorResponse(404, IssueType::kNotFound,
                          "No such endpoint below /fhir/" + type + "/" + second);
}

std::optional<HttpResponse> FhirApi::Impl::Permit(Exchange& ex, Interaction interaction,
                                                  std::string_view type) const {
  Reach reach = Authorize(ex.partner->kind, interaction, type);
  if (reach == Reach::kNone) {
    std::string what = type.empty() ? std::string("this interaction") : std::string(type);
    return ErrorResponse(403, IssueType::kForbidden,
                         "Partner " + ex.partner->id + " (" +
                             std::string(auth::ToString(ex.partner->kind)) +
                             ") may not use this interaction on " + what);
  }
  if (ex.scopes && !ScopesAllow(*ex.scopes, interaction, type)) {
    return ErrorResponse(403, IssueType::kForbidden,
                         "The access token's scopes do not cover this interaction on " +
                             (type.empty() ? std::string("the server") : std::string(type)));
  }
  if (reach == Reach::kAddressed) {
    ex.addressed_to = ex.partner->OrganizationReference();
  }
  return std::nullopt;
}

bool IsAddressedTo(std::string_view type, const json::Value& resource,
                   std::string_view organization) {
  if (type == "Task") {
    const json::Value* owner = resource.Find("owner");
    return owner != nullptr && owner->StringAt("reference") == organization;
  }
  if (type == "ServiceRequest") {
    const json::Value* performers = resource.Find("performer");
    if (performers == nullptr || !performers->is_array()) {
      return false;
    }
    for (const auto& performer : performers->items()) {
      if (performer.StringAt("reference") == organization) {
        return true;
      }
    }
  }
  return false;
}

bool FhirApi::Impl::StoredIsAddressedTo(const Exchange& ex, std::string_view type,
                                        std::string_view stored_json) const {
  if (ex.addressed_to.empty()) {
    return true;
  }
  std::string message;
  auto resource = json::Parse(stored_json, config.fhir.json, message);
  return resource && IsAddressedTo(type, *resource, ex.addressed_to);
}

ParsedBody FhirApi::Impl::ParseResource(std::string_view body, std::string_view type) const {
  ParsedBody parsed;
  std::string message;
  auto value = json::Parse(body, config.fhir.json, message);
  if (!value) {
    parsed.error = ErrorResponse(value.error(), "The body is not valid JSON: " + message);
    return parsed;
  }
  if (!value->is_object()) {
    parsed.error = ErrorResponse(400, IssueType::kStructure, "The body must be a JSON object");
    return parsed;
  }
  std::string_view declared = value->StringAt("resourceType");
  if (declared.empty()) {
    parsed.error =
        ErrorResponse(400, IssueType::kRequired,
                      "The body has no resourceType: it is not a FHIR resource", "resourceType");
    return parsed;
  }
  if (declared != type) {
    parsed.error = ErrorResponse(400, IssueType::kInvalid,
                                 "The body is a " + std::string(declared.substr(0, 64)) +
                                     " but the URL names " + std::string(type),
                                 "resourceType");
    return parsed;
  }
  fhir::Outcome outcome;
  if (!fhir::ValidateResource(*value, type, outcome)) {
    parsed.error = OutcomeResponse(422, outcome);
    return parsed;
  }
  parsed.resource = std::move(*value);
  return parsed;
}

HttpResponse FhirApi::Impl::ResourceResponse(
    const ExchangePtr& ex, int status, std::string type, const store::VersionStamp& stamp,
    std::string json, bool with_location, std::optional<fhir::UnstampedJson> dialect_reply) const {
  HttpResponse response;
  response.status = status;
  std::string version = std::to_string(stamp.version);
  response.headers.emplace_back("etag", "W/\"" + version + "\"");
  std::string modified = HttpDateFromInstant(stamp.last_updated);
  if (!modified.empty()) {
    response.headers.emplace_back("last-modified", std::move(modified));
  }
  if (with_location) {
    response.headers.emplace_back("location",
                                  ex->base + "/" + type + "/" + stamp.id + "/_history/" + version);
  }
  if (with_location && PreferMinimal(ex->request)) {
    return response;
  }
  response.headers.emplace_back("content-type", std::string(kFhirJsonType));
  response.body = dialect_reply ? fhir::Stamped(*dialect_reply, version, stamp.last_updated)
                                : MapOutbound(*ex, std::move(json));
  return response;
}

HttpResponse FhirApi::Impl::ResourceResponse(const ExchangePtr& ex, int status,
                                             const store::ResourceVersion& v,
                                             bool with_location) const {
  return ResourceResponse(ex, status, v.type, {v.id, v.version, v.last_updated}, v.json,
                          with_location);
}

net::awaitable<store::WriteResult> FhirApi::Impl::Commit(store::WriteBatch batch) {
  return net::async_initiate<const net::use_awaitable_t<>, void(store::WriteResult)>(
      [this](auto handler, store::WriteBatch work) {
        // std::function needs a copyable callable; the handler is move-only.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        store.Write(std::move(work), [shared](store::WriteResult result) {
          auto executor = net::get_associated_executor(*shared);
          net::post(executor, [shared, result = std::move(result)]() mutable {
            std::move (*shared)(std::move(result));
          });
        });
      },
      net::use_awaitable, std::move(batch));
}

net::awaitable<HttpResponse> FhirApi::Impl::Read(ExchangePtr ex, std::string type, std::string id) {
  Visible visible = co_await FetchVisible(ex, type, id, std::nullopt);
  if (!visible.version) {
    co_return ErrorResponse(visible.version.error(), visible.version.error() == store::errc::kGone
                                                         ? type + "/" + id + " has been deleted"
                                                         : type + "/" + id + " is not known");
  }
  HttpResponse response = ResourceResponse(ex, 200, *visible.version, false);
  if (visible.notice) {
    AddRedisclosureNotice(response);
  }
  co_return response;
}

net::awaitable<HttpResponse> FhirApi::Impl::VRead(ExchangePtr ex, std::string type, std::string id,
                                                  std::string version_text) {
  std::int64_t version = 0;
  auto [end, ec] =
      std::from_chars(version_text.data(), version_text.data() + version_text.size(), version);
  if (ec != std::errc() || end != version_text.data() + version_text.size() || version < 1) {
    co_return ErrorResponse(
        404, IssueType::kNotFound,
        "'" + version_text.substr(0, 40) + "' is not a version of " + type + "/" + id);
  }
  Visible visible = co_await FetchVisible(ex, type, id, version);
  if (!visible.version) {
    co_return ErrorResponse(
        visible.version.error(),
        type + "/" + id + "/_history/" + version_text +
            (visible.version.error() == store::errc::kGone ? " is a deletion" : " is not known"));
  }
  HttpResponse response = ResourceResponse(ex, 200, *visible.version, false);
  if (visible.notice) {
    AddRedisclosureNotice(response);
  }
  co_return response;
}

net::awaitable<HttpResponse> FhirApi::Impl::Create(ExchangePtr ex, std::string type) {
  ParsedBody parsed = ParseResource(ex->request.body, type);
  if (parsed.error) {
    co_return std::move(*parsed.error);
  }
  if (auto refused = MapInbound(*ex, *parsed.resource)) {
    co_return std::move(*refused);
  }
  PrepareInbound(*ex, *parsed.resource);
  ex->patient_id = fhir::PatientIdOf(type, *parsed.resource);
  // Referrals (referrals.cc): routing, the referral Task state machine, the outbox row.
  ReferralPlan referral =
      co_await PlanReferral(ex, type, std::nullopt, std::move(*parsed.resource));
  if (referral.refusal) {
    co_return std::move(*referral.refusal);
  }
  const std::string id = NewUuid();
  if (type == "ConceptMap") {
    if (auto refused = co_await CheckConceptMapChange(id, referral.resource)) {
      co_return std::move(*refused);
    }
  }
  std::optional<fhir::UnstampedJson> reply = DialectReply(*ex, referral.resource, id);
  store::WriteOp op =
      ResourceWriteOp(store::WriteOp::Kind::kCreate, type, id, std::move(referral.resource));
  if (const std::string* if_none_exist = ex->request.Header("if-none-exist")) {
    std::string_view criteria = *if_none_exist;
    if (auto question = criteria.find('?'); question != std::string_view::npos) {
      criteria.remove_prefix(question + 1);  // "Patient?identifier=x" is common in the wild
    }
    auto params = ParseQuery(criteria);
    fhir::Outcome outcome;
    std::optional<fhir::SearchQuery> query;
    if (params && !params->empty()) {
      query = fhir::ParseSearchQuery(type, *params, config.fhir.search, outcome);
    }
    if (!query) {
      outcome.Error(IssueType::kInvalid, "If-None-Exist",
                    "If-None-Exist must hold search criteria for " + type +
                        ", e.g. "
                        "identifier=http://example.org|123");
      co_return OutcomeResponse(400, outcome);
    }
    op.if_none_exist = std::move(query);
  }
  const bool conditional = op.if_none_exist.has_value();
  store::WriteBatch batch;
  batch.ops.push_back(std::move(op));
  AppendReferralOps(referral, batch);
  // The REST event commits with the data. A conditional create may find an existing resource
  // instead, so its event waits for the outcome (FinishAudit).
  if (!conditional) {
    if (auto rest =
            RestAuditOp(*ex, 201, ex->base + "/" + type + "/" + id + "/_history/1", {}, {})) {
      batch.ops.push_back(std::move(*rest));
    }
  }
  store::WriteResult result = co_await Commit(std::move(batch));
  auto& written = result.ops.front();
  ex->rest_event_committed = !conditional && !result.failed_op;
  if (!written) {
    co_return ErrorResponse(written.error(), written.error() == store::errc::kMultipleMatches
                                                 ? "If-None-Exist matched more than one " + type
                                                 : "Could not create the " + type);
  }
  ReferralCommitted(referral);
  if (type == "ConceptMap") {
    co_await RebuildMappingCatalog();
  }
  bool existing = written->kind == store::WriteOutcome::Kind::kExisting;
  // A conditional create that found a resource answers with that one, mapped from the store.
  co_return ResourceResponse(ex, existing ? 200 : 201, type, written->stamp,
                             std::move(written->json), true,
                             existing ? std::nullopt : std::move(reply));
}

net::awaitable<HttpResponse> FhirApi::Impl::Update(ExchangePtr ex, std::string type,
                                                   std::string id) {
  ParsedBody parsed = ParseResource(ex->request.body, type);
  if (parsed.error) {
    co_return std::move(*parsed.error);
  }
  std::string_view body_id = parsed.resource->StringAt("id");
  if (body_id != id) {
    co_return ErrorResponse(400, IssueType::kInvalid,
                            body_id.empty() ? "The resource has no id; an update must carry the "
                                              "id of the URL (" +
                                                  id + ")"
                                            : "The resource id '" + std::string(body_id) +
                                                  "' differs from the URL id '" + id + "'",
                            type + ".id");
  }
  // A partner replaces only a version it may see: one withheld from it (consent), or not
  // addressed to it (agencies), answers as absent. The version checked is the only one the write
  // may replace.
  std::optional<std::int64_t> checked_version;
  Visible current = co_await FetchVisible(ex, type, id, std::nullopt, false);
  if (current.withheld || (!current.version && !ex->addressed_to.empty())) {
    co_return ErrorResponse(404, IssueType::kNotFound, type + "/" + id + " is not known");
  }
  if (current.version) {
    checked_version = current.version->version;
  }
  if (!ex->addressed_to.empty() && !IsAddressedTo(type, *parsed.resource, ex->addressed_to)) {
    co_return ErrorResponse(403, IssueType::kForbidden,
                            "An agency may not address a " + type + " to anyone else");
  }
  if (auto refused = MapInbound(*ex, *parsed.resource)) {
    co_return std::move(*refused);
  }
  PrepareInbound(*ex, *parsed.resource);
  ex->patient_id = fhir::PatientIdOf(type, *parsed.resource);
  // Referrals (referrals.cc): the referral Task state machine, the outbox row.
  ReferralPlan referral = co_await PlanReferral(ex, type, id, std::move(*parsed.resource));
  if (referral.refusal) {
    co_return std::move(*referral.refusal);
  }
  if (type == "ConceptMap") {
    if (auto refused = co_await CheckConceptMapChange(id, referral.resource)) {
      co_return std::move(*refused);
    }
  }
  std::optional<fhir::UnstampedJson> reply = DialectReply(*ex, referral.resource, id);
  store::WriteOp op =
      ResourceWriteOp(store::WriteOp::Kind::kUpdate, type, id, std::move(referral.resource));
  if (const std::string* if_match = ex->request.Header("if-match")) {
    op.if_match = ParseETagVersion(*if_match);
    if (!op.if_match) {
      co_return ErrorResponse(400, IssueType::kInvalid, "If-Match must be an ETag such as W/\"3\"",
                              "If-Match");
    }
  }
  const std::optional<std::int64_t> client_if_match = op.if_match;
  if (checked_version && !op.if_match) {
    op.if_match = checked_version;
  }
  store::WriteBatch batch;
  batch.ops.push_back(std::move(op));
  AppendReferralOps(referral, batch);
  if (auto rest = RestAuditOp(*ex, 200, {}, {}, {})) {
    batch.ops.push_back(std::move(*rest));
  }
  store::WriteResult result = co_await Commit(std::move(batch));
  ex->rest_event_committed = !result.failed_op;
  auto& written = result.ops.front();
  if (!written) {
    std::string message = "Could not update " + type + "/" + id;
    if (written.error() == store::errc::kVersionConflict) {
      message = client_if_match
                    ? "If-Match W/\"" + std::to_string(*client_if_match) +
                          "\" is not the current version of " + type + "/" + id +
                          ": read it again and re-apply your change"
                    : type + "/" + id +
                          " changed while this update was being checked: read it again and "
                          "re-apply your change";
    }
    co_return ErrorResponse(written.error(), std::move(message));
  }
  ReferralCommitted(referral);
  if (type == "ConceptMap") {
    co_await RebuildMappingCatalog();
  }
  bool created = written->kind == store::WriteOutcome::Kind::kCreated;
  co_return ResourceResponse(ex, created ? 201 : 200, type, written->stamp,
                             std::move(written->json), created, std::move(reply));
}

net::awaitable<HttpResponse> FhirApi::Impl::Delete(ExchangePtr ex, std::string type,
                                                   std::string id) {
  if (type == "ConceptMap") {
    if (auto refused = co_await CheckConceptMapChange(id, std::nullopt)) {
      co_return std::move(*refused);
    }
  }
  // Deleting what the partner may not see answers as deleting what does not exist.
  Visible current = co_await FetchVisible(ex, type, id, std::nullopt, false);
  if (current.withheld) {
    co_return ErrorResponse(404, IssueType::kNotFound, type + "/" + id + " is not known");
  }
  std::optional<std::int64_t> checked_version;
  if (current.version) {
    checked_version = current.version->version;
  }
  store::WriteOp op;
  op.kind = store::WriteOp::Kind::kDelete;
  op.type = type;
  op.id = id;
  if (const std::string* if_match = ex->request.Header("if-match")) {
    op.if_match = ParseETagVersion(*if_match);
    if (!op.if_match) {
      co_return ErrorResponse(400, IssueType::kInvalid, "If-Match must be an ETag such as W/\"3\"",
                              "If-Match");
    }
  }
  if (checked_version && !op.if_match) {
    op.if_match = checked_version;
  }
  store::WriteBatch batch;
  batch.ops.push_back(std::move(op));
  if (auto rest = RestAuditOp(*ex, 204, {}, {}, {})) {
    batch.ops.push_back(std::move(*rest));
  }
  store::WriteResult result = co_await Commit(std::move(batch));
  ex->rest_event_committed = !result.failed_op;
  auto& written = result.ops.front();
  if (!written) {
    co_return ErrorResponse(written.error(), written.error() == store::errc::kNotFound
                                                 ? type + "/" + id + " is not known"
                                                 : "Could not delete " + type + "/" + id);
  }
  if (type == "ConceptMap") {
    co_await RebuildMappingCatalog();
  }
  HttpResponse response;
  response.status = 204;
  if (written->kind == store::WriteOutcome::Kind::kDeleted) {
    response.headers.emplace_back("etag", "W/\"" + std::to_string(written->stamp.version) + "\"");
  }
  co_return response;
}

}  // namespace carebridge::api
