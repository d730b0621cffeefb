// The AuditEvent search index as terms (audit_terms.h): the keyed hash, and that every way a
// criterion can name a token or a reference finds the events it should and no others.

#include "gateway/store/sqlite/audit_terms.h"

#include <gtest/gtest.h>

#include <future>
#include <set>
#include <string>
#include <vector>

#include "gateway/store/sqlite/sqlite_store.h"
#include "tests/support/temp_store.h"

namespace carebridge::store {
namespace {

using fhir::IndexEntry;
using fhir::ParamType;
using sqlite_internal::TermKey;

// The reference vector of the SipHash paper (Aumasson and Bernstein, appendix A): key 00..0f,
// message 00..0e.
TEST(AuditTermsTest, SipHashMatchesTheReferenceVector) {
  std::string message;
  for (int i = 0; i < 15; ++i) {
    message.push_back(static_cast<char>(i));
  }
  EXPECT_EQ(sqlite_internal::SipHash24(0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL, message),
            0xa129ca6149be45e5ULL);
}

TEST(AuditTermsTest, TermsDependOnTheKeyAndOnEveryPart) {
  TermKey a;
  ASSERT_TRUE(a.Load(std::string(32, 'a')));
  TermKey b;
  ASSERT_TRUE(b.Load(std::string(32, 'b')));
  EXPECT_FALSE(a.Load("short"));
  const std::string t = sqlite_internal::ExactTerm(a, "agent", "Organization", "o1");
  EXPECT_EQ(t.size(), 33u);
  EXPECT_EQ(t, sqlite_internal::ExactTerm(a, "agent", "Organization", "o1"));
  EXPECT_NE(t, sqlite_internal::ExactTerm(b, "agent", "Organization", "o1"));
  EXPECT_NE(t, sqlite_internal::ExactTerm(a, "agent", "Organization", "o2"));
  EXPECT_NE(t, sqlite_internal::ExactTerm(a, "entity", "Organization", "o1"));
  // Moving a character between parts changes the term: the parts are length-prefixed.
  EXPECT_NE(sqlite_internal::ExactTerm(a, "p", "ab", "c"),
            sqlite_internal::ExactTerm(a, "p", "a", "bc"));
  EXPECT_NE(sqlite_internal::AnySystemTerm(a, "p", "v"), sqlite_internal::SystemTerm(a, "p", "v"));
}

// A document names each row by its exact and any-system terms, a token's system by its own term,
// and each parameter once; remembered terms are the terms themselves.
TEST(AuditTermsTest, DocumentTermsOfAnEvent) {
  TermKey key;
  ASSERT_TRUE(key.Load(std::string(32, 'k')));
  const std::vector<IndexEntry> index = {{"agent", ParamType::kReference, "Organization", "o1"},
                                         {"agent", ParamType::kReference, "Device", "carebridge"},
                                         {"outcome", ParamType::kToken, "", "0"},
                                         {"type", ParamType::kToken, "http://dicom", "110106"},
                                         {"date", ParamType::kDate, "", "2026-11-22", 1, 2}};
  sqlite_internal::DocumentTermsMaker maker(key);
  const std::string first = maker.Make(index);
  EXPECT_EQ(maker.Make(index), first);
  const std::string expected[] = {sqlite_internal::ExactTerm(key, "agent", "Organization", "o1"),
                                  sqlite_internal::AnySystemTerm(key, "agent", "o1"),
                                  sqlite_internal::PresentTerm(key, "agent"),
                                  sqlite_internal::ExactTerm(key, "agent", "Device", "carebridge"),
                                  sqlite_internal::AnySystemTerm(key, "agent", "carebridge"),
                                  sqlite_internal::ExactTerm(key, "outcome", "", "0"),
                                  sqlite_internal::AnySystemTerm(key, "outcome", "0"),
                                  sqlite_internal::PresentTerm(key, "outcome"),
                                  sqlite_internal::ExactTerm(key, "type", "http://dicom", "110106"),
                                  sqlite_internal::AnySystemTerm(key, "type", "110106"),
                                  sqlite_internal::SystemTerm(key, "type", "http://dicom"),
                                  sqlite_internal::PresentTerm(key, "type")};
  std::string joined;
  for (const std::string& t : expected) {
    joined += joined.empty() ? "" : " ";
    joined += t;
  }
  EXPECT_EQ(first, joined);
}

class AuditTermsSearchTest : public ::testing::Test {
 protected:
  void Audit(const std::string& id, std::vector<IndexEntry> index) {
    WriteOp op;
    op.kind = WriteOp::Kind::kAudit;
    op.type = "AuditEvent";
    op.id = id;
    op.index = std::move(index);
    op.render = [](const VersionStamp& s) {
      return R"({"resourceType":"AuditEvent","id":")" + s.id + R"("})";
    };
    WriteBatch batch;
    batch.ops.push_back(std::move(op));
    ASSERT_TRUE(WriteAndWait(*store_, std::move(batch)).ops.at(0).has_value());
  }

  std::set<std::string> Find(const std::string& param, ParamType type,
                             std::vector<fhir::SearchValue> any_of, std::string modifier = "") {
    fhir::SearchQuery q;
    q.type = "AuditEvent";
    q.count = 100;
    fhir::SearchCriterion c;
    c.param = param;
    c.type = type;
    c.modifier = std::move(modifier);
    c.any_of = std::move(any_of);
    q.all_of = {c};
    auto page = store_->Search(q);
    EXPECT_TRUE(page.has_value());
    std::set<std::string> ids;
    if (page) {
      for (const auto& e : page->entries) {
        ids.insert(e.id);
      }
    }
    return ids;
  }

  static fhir::SearchValue V(std::string value, std::optional<std::string> system = {}) {
    fhir::SearchValue v;
    v.value = std::move(value);
    v.system = std::move(system);
    return v;
  }

  testing::TempStore store_{"terms"};
};

TEST_F(AuditTermsSearchTest, TokensAndReferencesMatchAsTheirRowsWould) {
  const std::string kSys = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
  Audit("e1", {{"agent", ParamType::kReference, "Organization", "o1"},
               {"entity-type", ParamType::kToken, kSys, "1"},
               {"outcome", ParamType::kToken, "", "0"}});
  Audit("e2", {{"agent", ParamType::kReference, "Device", "o1"},
               {"entity-type", ParamType::kToken, kSys, "2"},
               {"outcome", ParamType::kToken, "", "8"}});
  Audit("e3", {{"agent", ParamType::kReference, "", "https://other.example/fhir/Organization/o1"},
               {"entity-type", ParamType::kToken, "http://other", "1"}});

  using S = std::set<std::string>;
  // Tokens: code (any system), |code (no system), system| (any code), system|code.
  EXPECT_EQ(Find("entity-type", ParamType::kToken, {V("1")}), (S{"e1", "e3"}));
  EXPECT_EQ(Find("entity-type", ParamType::kToken, {V("1", kSys)}), (S{"e1"}));
  EXPECT_EQ(Find("entity-type", ParamType::kToken, {V("", kSys)}), (S{"e1", "e2"}));
  EXPECT_EQ(Find("outcome", ParamType::kToken, {V("0", "")}), (S{"e1"}));
  EXPECT_EQ(Find("outcome", ParamType::kToken, {V("0", kSys)}), S{});
  // Alternatives are OR'ed; :not is the complement, events without the element included.
  EXPECT_EQ(Find("outcome", ParamType::kToken, {V("0"), V("8")}), (S{"e1", "e2"}));
  EXPECT_EQ(Find("outcome", ParamType::kToken, {V("8")}, "not"), (S{"e1", "e3"}));
  // :missing.
  EXPECT_EQ(Find("outcome", ParamType::kToken, {V("true")}, "missing"), (S{"e3"}));
  EXPECT_EQ(Find("outcome", ParamType::kToken, {V("false")}, "missing"), (S{"e1", "e2"}));
  // References: Type/id, a bare id (any type), a type modifier, an absolute URL.
  EXPECT_EQ(Find("agent", ParamType::kReference, {V("o1", "Organization")}), (S{"e1"}));
  EXPECT_EQ(Find("agent", ParamType::kReference, {V("o1")}), (S{"e1", "e2"}));
  EXPECT_EQ(Find("agent", ParamType::kReference, {V("o1")}, "Device"), (S{"e2"}));
  EXPECT_EQ(Find("agent", ParamType::kReference, {V("https://other.example/fhir/Organization/o1")}),
            (S{"e3"}));
  // A value no event has, and a parameter no event has.
  EXPECT_EQ(Find("agent", ParamType::kReference, {V("o2", "Organization")}), S{});
  EXPECT_EQ(Find("purpose", ParamType::kToken, {V("TREAT")}), S{});
}

}  // namespace
}  // namespace carebridge::store
