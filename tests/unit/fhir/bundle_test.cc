#include "fhir/bundle/bundle.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fhir/json/json.h"
#include "fhir/json/value.h"
#include "fhir/outcome.h"

namespace carebridge::fhir {
namespace {

json::Value Parse(std::string_view text) {
  std::string message;
  auto result = json::Parse(text, json::Limits{}, message);
  EXPECT_TRUE(result.has_value()) << message << " in " << text;
  return result.has_value() ? std::move(*result) : json::Value();
}

// A transaction around the given entries (JSON array members, without brackets).
std::string Transaction(std::string_view entries, std::string_view type = "transaction") {
  return R"({"resourceType": "Bundle", "type": ")" + std::string(type) + R"(", "entry": [)" +
         std::string(entries) + "]}";
}

std::optional<RequestBundle> ParseText(std::string_view text, Outcome& outcome,
                                       BundleLimits limits = {}) {
  return ParseRequestBundle(Parse(text), limits, outcome);
}

// Parses a bundle expected to be refused with one issue, and returns it.
Issue BundleError(std::string_view text, BundleLimits limits = {}) {
  Outcome outcome;
  EXPECT_FALSE(ParseText(text, outcome, limits).has_value()) << text;
  EXPECT_EQ(outcome.issues().size(), 1u) << text;
  return outcome.issues().empty() ? Issue{} : outcome.issues().front();
}

constexpr std::string_view kPostPatient = R"({
  "fullUrl": "urn:uuid:11111111-1111-1111-1111-111111111111",
  "resource": {"resourceType": "Patient", "name": [{"family": "Lee"}]},
  "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=urn:x|1"}})";

TEST(BundleParse, GoodTransaction) {
  Outcome outcome;
  auto bundle = ParseText(Transaction(std::string(kPostPatient) + R"(,
        {"fullUrl": "urn:uuid:22222222-2222-2222-2222-222222222222",
         "resource": {"resourceType": "ServiceRequest", "id": "sr1", "status": "active",
                      "subject": {"reference": "urn:uuid:11111111-1111-1111-1111-111111111111"}},
         "request": {"method": "PUT", "url": "ServiceRequest/sr1", "ifMatch": "W/\"2\""}},
        {"request": {"method": "DELETE", "url": "Task/t9"}},
        {"request": {"method": "GET", "url": "Patient?identifier=urn:x|1"}},
        {"request": {"method": "GET", "url": "Patient/p1/_history"}})"),
                          outcome);
  ASSERT_TRUE(bundle.has_value()) << outcome.issues().front().diagnostics;
  EXPECT_TRUE(outcome.empty());
  EXPECT_EQ(bundle->type, "transaction");
  ASSERT_EQ(bundle->entries.size(), 5u);
  const BundleEntry& post = bundle->entries[0];
  EXPECT_EQ(post.full_url, "urn:uuid:11111111-1111-1111-1111-111111111111");
  EXPECT_EQ(post.request.method, "POST");
  EXPECT_EQ(post.request.url, "Patient");
  EXPECT_EQ(post.request.if_none_exist, "identifier=urn:x|1");
  ASSERT_TRUE(post.resource.has_value());
  EXPECT_EQ(post.resource->StringAt("resourceType"), "Patient");
  EXPECT_EQ(bundle->entries[1].request.if_match, "W/\"2\"");
  EXPECT_EQ(bundle->entries[1].resource->StringAt("id"), "sr1");
  EXPECT_FALSE(bundle->entries[2].resource.has_value());
  EXPECT_EQ(bundle->entries[3].request.url, "Patient?identifier=urn:x|1");
}

TEST(BundleParse, BatchAndEmpty) {
  Outcome outcome;
  auto bundle = ParseText(Transaction(kPostPatient, "batch"), outcome);
  ASSERT_TRUE(bundle.has_value());
  EXPECT_EQ(bundle->type, "batch");
  bundle = ParseText(R"({"resourceType": "Bundle", "type": "batch"})", outcome);
  ASSERT_TRUE(bundle.has_value());
  EXPECT_TRUE(bundle->entries.empty());
  bundle = ParseText(Transaction(""), outcome);
  ASSERT_TRUE(bundle.has_value());
  EXPECT_TRUE(bundle->entries.empty());
}

TEST(BundleParse, BundleLevelErrors) {
  Issue issue = BundleError(R"({"resourceType": "Patient", "type": "batch"})");
  EXPECT_EQ(issue.expression, "Bundle.resourceType");
  EXPECT_EQ(BundleError("[]").expression, "Bundle.resourceType");
  for (std::string_view type : {"collection", "document", "searchset", "batch-response", ""}) {
    issue = BundleError(Transaction(kPostPatient, type));
    EXPECT_EQ(issue.expression, "Bundle.type") << type;
    EXPECT_EQ(issue.diagnostics, "Bundle.type must be batch or transaction for POST to the base");
  }
  EXPECT_EQ(BundleError(R"({"resourceType": "Bundle", "type": "batch", "entry": {}})").expression,
            "Bundle.entry");
}

TEST(BundleParse, TooManyEntries) {
  std::string entries;
  for (int i = 0; i < 3; ++i) {
    entries +=
        std::string(i > 0 ? "," : "") + R"({"request": {"method": "GET", "url": "Patient"}})";
  }
  BundleLimits limits;
  limits.max_entries = 3;
  Outcome outcome;
  EXPECT_TRUE(ParseText(Transaction(entries), outcome, limits).has_value());
  limits.max_entries = 2;
  Issue issue = BundleError(Transaction(entries), limits);
  EXPECT_EQ(issue.type, IssueType::kTooCostly);
  EXPECT_EQ(issue.expression, "Bundle.entry");
}

TEST(BundleParse, Methods) {
  Issue issue = BundleError(Transaction(R"({"request": {"method": "PATCH", "url": "Patient/1"}})"));
  EXPECT_EQ(issue.type, IssueType::kNotSupported);
  EXPECT_EQ(issue.expression, "Bundle.entry[0].request.method");
  issue = BundleError(Transaction(R"({"request": {"method": "HEAD", "url": "Patient/1"}})"));
  EXPECT_EQ(issue.type, IssueType::kNotSupported);
  issue = BundleError(Transaction(R"({"request": {"method": "FETCH", "url": "Patient/1"}})"));
  EXPECT_EQ(issue.type, IssueType::kValue);
  issue = BundleError(Transaction(R"({"request": {"method": "get", "url": "Patient/1"}})"));
  EXPECT_EQ(issue.type, IssueType::kValue);
  issue = BundleError(Transaction(R"({"request": {"url": "Patient/1"}})"));
  EXPECT_EQ(issue.type, IssueType::kRequired);
  EXPECT_EQ(issue.expression, "Bundle.entry[0].request.method");
  issue = BundleError(Transaction(R"({"request": {"method": 1, "url": "Patient/1"}})"));
  EXPECT_EQ(issue.expression, "Bundle.entry[0].request.method");
  issue = BundleError(Transaction(R"({"resource": {"resourceType": "Patient"}})"));
  EXPECT_EQ(issue.type, IssueType::kRequired);
  EXPECT_EQ(issue.expression, "Bundle.entry[0].request");
  issue = BundleError(Transaction(R"({"request": {"method": "GET"}})"));
  EXPECT_EQ(issue.expression, "Bundle.entry[0].request.url");
  issue = BundleError(Transaction(R"("not an entry")"));
  EXPECT_EQ(issue.expression, "Bundle.entry[0]");
}

TEST(BundleParse, PostRules) {
  // POST needs a resource.
  Issue issue = BundleError(Transaction(R"({"request": {"method": "POST", "url": "Patient"}})"));
  EXPECT_EQ(issue.type, IssueType::kRequired);
  EXPECT_EQ(issue.expression, "Bundle.entry[0].resource");
  // The url is the type alone.
  for (std::string_view url : {"Patient/1", "Patient?name=x", "Patient/"}) {
    issue = BundleError(Transaction(R"({"resource": {"resourceType": "Patient"},
      "request": {"method": "POST", "url": ")" +
                                    std::string(url) + R"("}})"));
    EXPECT_EQ(issue.expression, "Bundle.entry[0].request.url") << url;
  }
  issue = BundleError(Transaction(R"({"resource": {"resourceType": "Patient"},
      "request": {"method": "POST", "url": "Patinet"}})"));
  EXPECT_EQ(issue.type, IssueType::kValue);
  // The resource's type agrees with the url.
  issue = BundleError(Transaction(std::string(kPostPatient) + R"(,
      {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}},
      {"resource": {"resourceType": "Observation", "status": "final"},
       "request": {"method": "POST", "url": "Patient"}})"));
  EXPECT_EQ(issue.type, IssueType::kValue);
  EXPECT_EQ(issue.expression, "Bundle.entry[2].request.url");
  EXPECT_EQ(issue.diagnostics,
            "Bundle.entry[2]: request.url says Patient but the resource is a Observation");
  issue = BundleError(Transaction(R"({"resource": {"name": "no type"},
      "request": {"method": "POST", "url": "Patient"}})"));
  EXPECT_EQ(issue.expression, "Bundle.entry[0].request.url");
  issue = BundleError(Transaction(R"({"resource": "Patient",
      "request": {"method": "POST", "url": "Patient"}})"));
  EXPECT_EQ(issue.expression, "Bundle.entry[0].resource");
}

TEST(BundleParse, PutRules) {
  Outcome outcome;
  EXPECT_TRUE(ParseText(Transaction(R"({"resource": {"resourceType": "Task", "id": "t1"},
      "request": {"method": "PUT", "url": "Task/t1"}})"),
                        outcome)
                  .has_value());
  Issue issue = BundleError(Transaction(R"({"resource": {"resourceType": "Task"},
      "request": {"method": "PUT", "url": "Task/t1"}})"));
  EXPECT_EQ(issue.type, IssueType::kRequired);
  EXPECT_EQ(issue.expression, "Bundle.entry[0].resource.id");
  issue = BundleError(Transaction(R"({"resource": {"resourceType": "Task", "id": "t2"},
      "request": {"method": "PUT", "url": "Task/t1"}})"));
  EXPECT_EQ(issue.type, IssueType::kValue);
  EXPECT_EQ(issue.expression, "Bundle.entry[0].resource.id");
  issue = BundleError(Transaction(R"({"resource": {"resourceType": "Task", "id": "t1"},
      "request": {"method": "PUT", "url": "Task?identifier=x"}})"));
  EXPECT_EQ(issue.type, IssueType::kNotSupported);
  issue = BundleError(Transaction(R"({"resource": {"resourceType": "Task", "id": "t1"},
      "request": {"method": "PUT", "url": "Task"}})"));
  EXPECT_EQ(issue.expression, "Bundle.entry[0].request.url");
  issue = BundleError(Transaction(R"({"resource": {"resourceType": "Goal", "id": "t1"},
      "request": {"method": "PUT", "url": "Task/t1"}})"));
  EXPECT_EQ(issue.diagnostics, "Bundle.entry[0]: request.url says Task but the resource is a Goal");
  issue = BundleError(Transaction(R"({"request": {"method": "PUT", "url": "Task/t1"}})"));
  EXPECT_EQ(issue.expression, "Bundle.entry[0].resource");
}

TEST(BundleParse, DeleteAndGetRules) {
  Issue issue = BundleError(Transaction(R"({"request": {"method": "DELETE", "url": "Task"}})"));
  EXPECT_EQ(issue.expression, "Bundle.entry[0].request.url");
  issue = BundleError(Transaction(R"({"request": {"method": "DELETE", "url": "Task?status=x"}})"));
  EXPECT_EQ(issue.type, IssueType::kNotSupported);
  issue = BundleError(Transaction(R"({"request": {"method": "DELETE", "url": "Nope/1"}})"));
  EXPECT_EQ(issue.type, IssueType::kValue);
  Outcome outcome;
  EXPECT_TRUE(
      ParseText(Transaction(R"({"request": {"method": "GET", "url": "metadata"}})"), outcome)
          .has_value());
}

TEST(BundleParse, AbsoluteUrlsAreRefused) {
  Issue issue = BundleError(Transaction(R"({"request": {"method": "GET",
      "url": "https://elsewhere.example/fhir/Patient/1"}})"));
  EXPECT_EQ(issue.expression, "Bundle.entry[0].request.url");
  issue = BundleError(Transaction(R"({"resource": {"resourceType": "Patient"},
      "request": {"method": "POST", "url": "urn:uuid:11111111-1111-1111-1111-111111111111"}})"));
  EXPECT_EQ(issue.expression, "Bundle.entry[0].request.url");
}

TEST(BundleParse, DuplicateFullUrls) {
  Issue issue =
      BundleError(Transaction(std::string(kPostPatient) + "," + std::string(kPostPatient)));
  EXPECT_EQ(issue.type, IssueType::kDuplicate);
  EXPECT_EQ(issue.expression, "Bundle.entry[1].fullUrl");
  EXPECT_NE(issue.diagnostics.find("Bundle.entry[0]"), std::string::npos);
}

TEST(BundleParse, ReportsEveryBadEntry) {
  Outcome outcome;
  EXPECT_FALSE(ParseText(Transaction(R"({"request": {"method": "PATCH", "url": "Patient/1"}},
      {"request": {"method": "GET", "url": "Patient"}},
      {"request": {"method": "DELETE", "url": "Patient"}})"),
                         outcome)
                   .has_value());
  ASSERT_EQ(outcome.issues().size(), 2u);
  EXPECT_EQ(outcome.issues()[0].expression, "Bundle.entry[0].request.method");
  EXPECT_EQ(outcome.issues()[1].expression, "Bundle.entry[2].request.url");
}

TEST(BundleOrder, TransactionOrder) {
  RequestBundle bundle;
  for (std::string_view method : {"GET", "PUT", "POST", "DELETE", "GET", "POST", "DELETE", "PUT"}) {
    BundleEntry entry;
    entry.request.method = std::string(method);
    bundle.entries.push_back(std::move(entry));
  }
  EXPECT_EQ(TransactionOrder(bundle), (std::vector<std::size_t>{3, 6, 2, 5, 1, 7, 0, 4}));
  EXPECT_TRUE(TransactionOrder(RequestBundle{}).empty());
}

TEST(BundleRewrite, ReferencesEverywhere) {
  json::Value resource = Parse(R"({
    "resourceType": "ServiceRequest",
    "text": {"status": "generated",
             "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">For urn:uuid:aaaa</div>"},
    "contained": [{"resourceType": "Task", "id": "t",
                   "for": {"reference": "urn:uuid:aaaa"},
                   "note": [{"text": "urn:uuid:aaaa"}]}],
    "subject": {"reference": "urn:uuid:aaaa", "display": "urn:uuid:aaaa is the patient"},
    "basedOn": [{"reference": "urn:uuid:bbbb"}, {"reference": "CarePlan/keep"},
                {"reference": "urn:uuid:unknown"}],
    "supportingInfo": [{"extension": [{"url": "http://x", "valueReference": {"reference": "urn:uuid:bbbb"}}]}],
    "instantiatesCanonical": ["urn:uuid:cccc", "http://keep.example/x"],
    "code": {"coding": [{"code": "Patient/local"}]},
    "requester": {"reference": "Patient/local"}})");
  std::unordered_map<std::string, std::string> replacements{
      {"urn:uuid:aaaa", "Patient/p1"},
      {"urn:uuid:bbbb", "CarePlan/cp1"},
      {"urn:uuid:cccc", "Questionnaire/q1"},
      {"Patient/local", "Patient/p2"},
  };
  EXPECT_EQ(RewriteReferences(resource, replacements), 7u);
  EXPECT_EQ(resource.Find("subject")->StringAt("reference"), "Patient/p1");
  EXPECT_EQ(resource.Find("contained")->items()[0].Find("for")->StringAt("reference"),
            "Patient/p1");
  // A string that exactly equals a urn:uuid key is a uri/canonical value and is rewritten.
  EXPECT_EQ(resource.Find("contained")->items()[0].Find("note")->items()[0].StringAt("text"),
            "Patient/p1");
  // Text that only mentions the urn is left alone.
  EXPECT_EQ(resource.Find("subject")->StringAt("display"), "urn:uuid:aaaa is the patient");
  EXPECT_NE(resource.Find("text")->StringAt("div").find("urn:uuid:aaaa"), std::string::npos);
  const auto& based_on = resource.Find("basedOn")->items();
  EXPECT_EQ(based_on[0].StringAt("reference"), "CarePlan/cp1");
  EXPECT_EQ(based_on[1].StringAt("reference"), "CarePlan/keep");
  EXPECT_EQ(based_on[2].StringAt("reference"), "urn:uuid:unknown");
  EXPECT_EQ(resource.Find("supportingInfo")
                ->items()[0]
                .Find("extension")
                ->items()[0]
                .Find("valueReference")
                ->StringAt("reference"),
            "CarePlan/cp1");
  EXPECT_EQ(resource.Find("instantiatesCanonical")->items()[0].text(), "Questionnaire/q1");
  EXPECT_EQ(resource.Find("instantiatesCanonical")->items()[1].text(), "http://keep.example/x");
  // Only "reference" members are rewritten for keys that are not urn:uuid.
  EXPECT_EQ(resource.Find("requester")->StringAt("reference"), "Patient/p2");
  EXPECT_EQ(resource.Find("code")->Find("coding")->items()[0].StringAt("code"), "Patient/local");

  // Nothing left to replace the second time.
  EXPECT_EQ(RewriteReferences(resource, replacements), 0u);
  EXPECT_EQ(RewriteReferences(resource, {}), 0u);
}

}  // namespace
}  // namespace carebridge::fhir
