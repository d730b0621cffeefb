// Bundle batch and transaction (POST to the base). A transaction is one atomic store batch: its
// entries are checked first, urn:uuid references between them are rewritten to the ids the
// gateway assigns, and any failure leaves nothing behind.

#include <unordered_map>
#include <unordered_set>

#include "fhir/bundle/bundle.h"
#include "fhir/resource/resource.h"
#include "fhir/search/search.h"
#include "gateway/api/fhir_api_impl.h"
#include "gateway/api/formats.h"
#include "gateway/api/release.h"
#include "gateway/api/responses.h"

namespace carebridge::api {

using fhir::IssueType;
namespace json = fhir::json;

namespace {

// What one entry ends as: a status plus either stored data or an outcome.
struct EntryResult {
  int status = 0;
  std::string full_url;
  std::string location;  // "Patient/1/_history/2"
  std::string etag;
  std::string last_modified;
  std::string resource_json;  // returned with Prefer: return=representation, and for GET
  std::optional<fhir::Outcome> outcome;
};

struct EntryPlan {
  std::string type;
  std::string id;
  std::optional<fhir::SearchQuery> if_none_exist;
  std::optional<std::int64_t> if_match;
  bool resolved_existing = false;  // a conditional create matched before the commit
};

fhir::Outcome EntryOutcome(std::size_t index, IssueType type, std::string diagnostics,
                           std::string_view element = "request.url") {
  std::string expression = "Bundle.entry[" + std::to_string(index) + "]";
  if (!element.empty()) {
    expression += ".";
    expression += element;
  }
  return fhir::MakeOutcome(type, std::move(diagnostics), std::move(expression));
}

// Re-roots the expressions of a resource's validation outcome at its Bundle entry.
fhir::Outcome RerootOutcome(const fhir::Outcome& outcome, std::size_t index,
                            std::string_view type) {
  fhir::Outcome rerooted;
  std::string root = "Bundle.entry[" + std::to_string(index) + "].resource";
  for (const auto& issue : outcome.issues()) {
    std::string expression = issue.expression;
    if (expression.starts_with(type)) {
      expression = root + expression.substr(type.size());
    } else if (!expression.empty()) {
      expression = root + "." + expression;
    }
    rerooted.Add(issue.severity, issue.type, std::move(expression), issue.diagnostics);
  }
  return rerooted;
}

bool PreferRepresentation(const HttpRequest& request) {
  const std::string* prefer = request.Header("prefer");
  return prefer != nullptr && prefer->find("return=representation") != std::string::npos;
}

void AppendEntry(std::string& out, const EntryResult& result, bool with_resource) {
  out += "{";
  if (!result.full_url.empty()) {
    out += R"("fullUrl":)";
    AppendJsonString(out, result.full_url);
    out += ",";
  }
  if (with_resource && !result.resource_json.empty()) {
    out += R"("resource":)";
    out += result.resource_json;
    out += ",";
  }
  out += R"("response":{"status":)";
  AppendJsonString(out, StatusLine(result.status));
  if (!result.location.empty()) {
    out += R"(,"location":)";
    AppendJsonString(out, result.location);
  }
  if (!result.etag.empty()) {
    out += R"(,"etag":)";
    AppendJsonString(out, result.etag);
  }
  if (!result.last_modified.empty()) {
    out += R"(,"lastModified":)";
    AppendJsonString(out, result.last_modified);
  }
  if (result.outcome) {
    out += R"(,"outcome":)";
    json::Write(result.outcome->ToResource(), out);
  }
  out += "}}";
}

}  // namespace

net::awaitable<HttpResponse> FhirApi::Impl::ProcessBundle(ExchangePtr ex) {
  std::string message;
  auto parsed = json::Parse(ex->request.body, config.fhir.json, message);
  if (!parsed) {
    co_return ErrorResponse(parsed.error(), "The body is not valid JSON: " + message);
  }
  if (!parsed->is_object() || parsed->StringAt("resourceType") != "Bundle") {
    co_return ErrorResponse(400, IssueType::kInvalid,
                            "POST to the base takes a Bundle of type batch or transaction",
                            "resourceType");
  }
  fhir::Outcome outcome;
  auto bundle = fhir::ParseRequestBundle(std::move(*parsed), config.fhir.bundle, outcome);
  if (!bundle) {
    co_return OutcomeResponse(400, outcome);
  }
  const bool transaction = bundle->type == "transaction";
  ex->audit_interaction =
      transaction ? audit::Interaction::kTransaction : audit::Interaction::kBatch;
  const std::size_t n = bundle->entries.size();
  std::vector<EntryResult> results(n);
  std::vector<EntryPlan> plans(n);
  std::unordered_map<std::string, std::string> replacements;
  std::unordered_set<std::string> targets;

  auto fail = [&](std::size_t i, int status, fhir::Outcome entry_outcome) {
    results[i].status = status;
    results[i].outcome = std::move(entry_outcome);
  };

  // Identities first, so every entry can refer to every other.
  for (std::size_t i = 0; i < n; ++i) {
    auto& entry = bundle->entries[i];
    const std::string& method = entry.request.method;
    if (method == "GET") {
      continue;
    }
    std::string_view url = entry.request.url;
    std::string_view type = url.substr(0, url.find('/'));
    const fhir::ResourceTypeInfo* info = fhir::FindSupportedType(type);
    if (info == nullptr) {
      fail(i, 404,
           EntryOutcome(i, IssueType::kNotSupported,
                        "Resource type '" + std::string(type) + "' is not supported"));
      continue;
    }
    if (!info->writable) {
      fail(i, 405,
           EntryOutcome(i, IssueType::kNotSupported,
                        std::string(type) + " is read-only: the gateway writes it"));
      continue;
    }
    Interaction interaction = method == "POST"  ? Interaction::kCreate
                              : method == "PUT" ? Interaction::kUpdate
                                                : Interaction::kDelete;
    // Bundles carry no confined writes: an agency updates its Tasks one by one.
    if (Authorize(ex->partner->kind, interaction, type) != Reach::kAll ||
        (ex->scopes && !ScopesAllow(*ex->scopes, interaction, type))) {
      fail(i, 403,
           EntryOutcome(
               i, IssueType::kForbidden,
               "Partner " + ex->partner->id + " may not " + method + " " + std::string(type)));
      continue;
    }
    EntryPlan& plan = plans[i];
    plan.type = std::string(type);
    if (method == "POST") {
      plan.id = NewUuid();
    } else {
      plan.id = std::string(url.substr(type.size() + 1));
      if (!fhir::IsValidId(plan.id)) {
        fail(i, 400,
             EntryOutcome(i, IssueType::kValue, "Invalid id in '" + std::string(url) + "'"));
        continue;
      }
    }
    if (!entry.request.if_match.empty()) {
      plan.if_match = ParseETagVersion(entry.request.if_match);
      if (!plan.if_match) {
        fail(i, 400,
             EntryOutcome(i, IssueType::kInvalid, "ifMatch must be an ETag like W/\"3\"",
                          "request.ifMatch"));
        continue;
      }
    }
    if (transaction && !targets.insert(plan.type + "/" + plan.id).second) {
      fail(i, 409,
           EntryOutcome(i, IssueType::kDuplicate,
                        plan.type + "/" + plan.id +
                            " appears twice in the transaction; a resource may be "
                            "touched by one entry only"));
      continue;
    }
    if (method == "POST" && !entry.request.if_none_exist.empty()) {
      std::string_view criteria = entry.request.if_none_exist;
      if (auto question = criteria.find('?'); question != std::string_view::npos) {
        criteria.remove_prefix(question + 1);
      }
      auto params = ParseQuery(criteria);
      fhir::Outcome query_outcome;
      if (params && !params->empty()) {
        plan.if_none_exist =
            fhir::ParseSearchQuery(plan.type, *params, config.fhir.search, query_outcome);
      }
      if (!plan.if_none_exist) {
        fail(i, 400,
             EntryOutcome(i, IssueType::kInvalid,
                          "ifNoneExist must hold search criteria for " + plan.type,
                          "request.ifNoneExist"));
        continue;
      }
      if (transaction) {
        // Resolve before rewriting, so that references to this entry point at the match.
        fhir::SearchQuery probe = *plan.if_none_exist;
        probe.count = 2;
        probe.offset = 0;
        auto found = co_await OnPool([this, &probe] { return store.Search(probe); });
        if (!found) {
          fail(i, 500, EntryOutcome(i, IssueType::kException, "ifNoneExist could not be run"));
          continue;
        }
        if (found->total > 1) {
          fail(i, 412,
               EntryOutcome(i, IssueType::kConflict,
                            "ifNoneExist matched more than one " + plan.type,
                            "request.ifNoneExist"));
          continue;
        }
        if (found->total == 1) {
          const auto& match = found->entries.front();
          plan.id = match.id;
          plan.resolved_existing = true;
          results[i].status = 200;
          results[i].location =
              plan.type + "/" + match.id + "/_history/" + std::to_string(match.version);
          results[i].etag = "W/\"" + std::to_string(match.version) + "\"";
          results[i].last_modified = match.last_updated;
          results[i].resource_json = MapOutbound(*ex, match.json);
        }
      }
    }
    if (!entry.full_url.empty()) {
      replacements[entry.full_url] = plan.type + "/" + plan.id;
    }
    results[i].full_url = ex->base + "/" + plan.type + "/" + plan.id;
  }

  // Rewrite, validate and map (the partner's dialect to the canonical form) the resources.
  const Dialect dialect = DialectOf(*ex->partner);
  for (std::size_t i = 0; i < n; ++i) {
    auto& entry = bundle->entries[i];
    if (results[i].status != 0 || !entry.resource) {
      continue;
    }
    if (transaction) {
      fhir::RewriteReferences(*entry.resource, replacements);
    }
    fhir::Outcome validation;
    if (!fhir::ValidateResource(*entry.resource, plans[i].type, validation)) {
      fail(i, 422, RerootOutcome(validation, i, plans[i].type));
      continue;
    }
    if (dialect.mapping != nullptr) {
      fhir::Outcome mapping;
      if (!dialect.mapping->Apply(mappings::Direction::kInbound, *entry.resource, mapping)) {
        fail(i, 422, RerootOutcome(mapping, i, plans[i].type));
        continue;
      }
    }
    PrepareInbound(*ex, *entry.resource);
  }

  // Replacing or deleting what the partner may not see answers as if it did not exist, as the
  // single interactions do; the version checked is the only one the entry may replace.
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& method = bundle->entries[i].request.method;
    if (results[i].status != 0 || (method != "PUT" && method != "DELETE")) {
      continue;
    }
    const EntryPlan& plan = plans[i];
    auto current = co_await OnPool([this, &plan] { return store.Read(plan.type, plan.id); });
    if (!current) {
      continue;
    }
    std::vector<const store::ResourceVersion*> one;
    one.push_back(&*current);
    ReleaseDecision release = co_await Release(ex, std::move(one));
    if (!release.released.front()) {
      RecordRelease(*ex, release, kOnlyResource);
      fail(i, 404,
           EntryOutcome(i, IssueType::kNotFound, plan.type + "/" + plan.id + " is not known"));
      continue;
    }
    if (!plans[i].if_match) {
      plans[i].if_match = current->version;
    }
  }

  // Referrals (referrals.cc): Task and ServiceRequest entries are routed, held to the Task state
  // machine and queued for delivery exactly as the single interactions are.
  std::vector<ReferralPlan> referrals(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto& entry = bundle->entries[i];
    const std::string& method = entry.request.method;
    if (results[i].status != 0 || plans[i].resolved_existing || !entry.resource ||
        (method != "POST" && method != "PUT") ||
        (plans[i].type != "Task" && plans[i].type != "ServiceRequest")) {
      continue;
    }
    const std::string self = plans[i].type + "/" + plans[i].id;
    std::optional<json::Value> focus;  // a ServiceRequest written by this Bundle
    bool has_task = false;             // a Task of this Bundle is the ServiceRequest's referral
    for (std::size_t k = 0; k < n; ++k) {
      const auto& other = bundle->entries[k];
      if (k == i || results[k].status != 0 || !other.resource) {
        continue;
      }
      const json::Value* ref =
          plans[i].type == "Task" ? entry.resource->Find("focus") : other.resource->Find("focus");
      const std::string_view target = ref && ref->is_object() ? ref->StringAt("reference") : "";
      if (plans[i].type == "Task" && plans[k].type == "ServiceRequest" &&
          target == plans[k].type + "/" + plans[k].id) {
        focus = *other.resource;
      } else if (plans[i].type == "ServiceRequest" && plans[k].type == "Task" && target == self) {
        has_task = true;
      }
    }
    if (has_task) {
      continue;  // the partner posts the referral's Task itself: the gateway does not add one
    }
    std::optional<std::string> id;
    if (method == "PUT") {
      id = plans[i].id;
    }
    ReferralPlan& referral = referrals[i];
    referral =
        co_await PlanReferral(ex, plans[i].type, id, std::move(*entry.resource), std::move(focus));
    entry.resource = std::move(referral.resource);
    if (referral.refusal) {
      fail(i, referral.refusal->status, RerootOutcome(referral.refusal_outcome, i, plans[i].type));
    }
  }

  if (transaction) {
    for (std::size_t i = 0; i < n; ++i) {
      if (results[i].outcome) {
        co_return OutcomeResponse(results[i].status, *results[i].outcome);
      }
    }
  }

  // One store batch for every write entry, in the order the spec gives.
  store::WriteBatch batch;
  batch.atomic = transaction;
  std::vector<std::size_t> op_entry;  // the entry of each op
  std::vector<bool> entry_op;         // whether the op writes its entry (not a referral's extra)
  // A batch's entries stand alone, but a referral's Task and outbox rows must commit with it: in
  // a batch such an entry commits in its own atomic store batch.
  std::vector<std::pair<std::size_t, store::WriteBatch>> alone;
  for (std::size_t i : fhir::TransactionOrder(*bundle)) {
    auto& entry = bundle->entries[i];
    EntryPlan& plan = plans[i];
    if (entry.request.method == "GET" || results[i].status != 0 || plan.resolved_existing) {
      continue;
    }
    store::WriteOp op;
    if (entry.request.method == "DELETE") {
      op.kind = store::WriteOp::Kind::kDelete;
      op.type = plan.type;
      op.id = plan.id;
    } else {
      op = ResourceWriteOp(entry.request.method == "POST" ? store::WriteOp::Kind::kCreate
                                                          : store::WriteOp::Kind::kUpdate,
                           plan.type, plan.id, std::move(*entry.resource));
      op.if_none_exist = plan.if_none_exist;
    }
    op.if_match = plan.if_match;
    store::WriteBatch entry_batch;
    entry_batch.ops.push_back(std::move(op));
    AppendReferralOps(referrals[i], entry_batch);
    if (!transaction && entry_batch.ops.size() > 1) {
      alone.emplace_back(i, std::move(entry_batch));
      continue;
    }
    for (std::size_t k = 0; k < entry_batch.ops.size(); ++k) {
      batch.ops.push_back(std::move(entry_batch.ops[k]));
      op_entry.push_back(i);
      entry_op.push_back(k == 0);
    }
  }
  // Records what `done` wrote as entry i's result.
  auto written_entry = [&](std::size_t i, const store::WriteOutcome& done) {
    EntryResult& result = results[i];
    switch (done.kind) {
      case store::WriteOutcome::Kind::kCreated:
        result.status = 201;
        break;
      case store::WriteOutcome::Kind::kUpdated:
      case store::WriteOutcome::Kind::kExisting:
        result.status = 200;
        break;
      case store::WriteOutcome::Kind::kDeleted:
      case store::WriteOutcome::Kind::kAlreadyDeleted:
        result.status = 204;
        break;
    }
    if (done.kind == store::WriteOutcome::Kind::kAlreadyDeleted) {
      return;
    }
    result.full_url = ex->base + "/" + plans[i].type + "/" + done.stamp.id;
    result.location =
        plans[i].type + "/" + done.stamp.id + "/_history/" + std::to_string(done.stamp.version);
    result.etag = "W/\"" + std::to_string(done.stamp.version) + "\"";
    result.last_modified = done.stamp.last_updated;
    result.resource_json = MapOutbound(*ex, done.json);
  };
  for (auto& single : alone) {
    const std::size_t i = single.first;
    store::WriteResult written = co_await Commit(std::move(single.second));
    if (written.failed_op) {
      const std::error_code error = written.ops[*written.failed_op].error();
      ErrorMapping mapping = MapError(error);
      fail(i, mapping.status, EntryOutcome(i, mapping.type, error.message()));
      continue;
    }
    written_entry(i, *written.ops.front());
    ReferralCommitted(referrals[i]);
  }
  if (!batch.ops.empty()) {
    // The Bundle's REST event commits with its writes (for a batch, on its own).
    const bool rest_in_batch = [&] {
      auto rest = RestAuditOp(*ex, 200, {}, {}, {});
      if (rest) {
        batch.ops.push_back(std::move(*rest));
      }
      return rest.has_value();
    }();
    store::WriteResult written = co_await Commit(std::move(batch));
    if (rest_in_batch) {
      ex->rest_event_committed = !written.failed_op && written.ops.back().has_value();
      written.ops.pop_back();
      if (written.failed_op && *written.failed_op >= written.ops.size()) {
        co_return ErrorResponse(500, IssueType::kException,
                                "The audit record of this Bundle could not be written, so it was "
                                "not applied; try again");
      }
    }
    if (transaction && written.failed_op) {
      std::size_t i = op_entry[*written.failed_op];
      std::error_code error = written.ops[*written.failed_op].error();
      ErrorMapping mapping = MapError(error);
      co_return OutcomeResponse(
          mapping.status,
          EntryOutcome(i, mapping.type,
                       "The transaction was not applied: entry " + std::to_string(i) + " (" +
                           bundle->entries[i].request.method + " " +
                           bundle->entries[i].request.url + ") failed: " + error.message()));
    }
    for (std::size_t k = 0; k < written.ops.size(); ++k) {
      std::size_t i = op_entry[k];
      auto& op_result = written.ops[k];
      if (!entry_op[k]) {
        continue;  // a referral's Task or outbox row: in a transaction, it commits with its entry
      }
      if (!op_result) {
        ErrorMapping mapping = MapError(op_result.error());
        fail(i, mapping.status, EntryOutcome(i, mapping.type, op_result.error().message()));
        continue;
      }
      written_entry(i, *op_result);
      ReferralCommitted(referrals[i]);
    }
  }

  // Reads run after the writes, so a transaction's GET entries see its own changes.
  for (std::size_t i = 0; i < n; ++i) {
    auto& entry = bundle->entries[i];
    if (entry.request.method != "GET") {
      continue;
    }
    auto sub = std::make_shared<Exchange>();
    sub->request.method = "GET";
    sub->request.target = "/fhir/" + entry.request.url;
    sub->request.headers = ex->request.headers;
    sub->base = ex->base;
    sub->response_type = ex->response_type;
    sub->partner = ex->partner;
    sub->purpose = ex->purpose;
    sub->scopes = ex->scopes;
    sub->trail = ex->trail;
    sub->bundle_entry = true;
    auto target = ParseTarget(sub->request.target);
    if (!target) {
      fail(i, 400, EntryOutcome(i, IssueType::kInvalid, "Malformed request.url"));
      continue;
    }
    sub->target = std::move(*target);
    HttpResponse response = co_await Route(sub);
    results[i].status = response.status;
    if (response.status >= 400) {
      std::string parse_message;
      // The body is our own OperationOutcome; keep its diagnostics for the entry.
      auto body = json::Parse(response.body, config.fhir.json, parse_message);
      fhir::Outcome entry_outcome = EntryOutcome(
          i, IssueType::kProcessing, "request failed with " + StatusLine(response.status));
      if (body) {
        if (const json::Value* issues = body->Find("issue"); issues && !issues->items().empty()) {
          entry_outcome =
              EntryOutcome(i, IssueType::kProcessing,
                           std::string(issues->items().front().StringAt("diagnostics")));
        }
      }
      results[i].outcome = std::move(entry_outcome);
    } else {
      results[i].resource_json = std::move(response.body);
    }
  }

  const bool representation = PreferRepresentation(ex->request);
  std::string body;
  body += R"({"resourceType":"Bundle","id":")";
  body += NewUuid();
  body += R"(","type":")";
  body += transaction ? "transaction-response" : "batch-response";
  body += R"(","entry":[)";
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) {
      body += ",";
    }
    bool is_get = bundle->entries[i].request.method == "GET";
    AppendEntry(body, results[i], representation || is_get);
  }
  body += "]}";
  HttpResponse response;
  response.headers.emplace_back("content-type", std::string(kFhirJsonType));
  response.body = std::move(body);
  co_return response;
}

}  // namespace carebridge::api
