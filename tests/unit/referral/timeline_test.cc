#include "gateway/referral/timeline.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fhir/json/json.h"
#include "gateway/referral/task_state.h"

namespace carebridge::referral {
namespace {

using fhir::json::Value;
using K = TimelineEvent::Kind;

constexpr std::int64_t kHour = 3'600'000;
constexpr std::int64_t kDay = 24 * kHour;
constexpr std::int64_t kT0 = 1'793'610'000'000;  // 2026-11-02T09:00:00Z, a Monday

Value Json(const std::string& text) {
  std::string message;
  auto v = fhir::json::Parse(text, {}, message);
  EXPECT_TRUE(v.has_value()) << message;
  return v ? *v : Value::Object();
}

TaskVersion Version(std::int64_t at, std::string status, std::string business = {},
                    std::string owner = "Organization/harbor-housing", std::string author = {}) {
  std::string text = R"({"resourceType":"Task","status":")" + status +
                     R"(","authoredOn":"2026-11-02T09:00:00Z",
    "requester":{"reference":"PractitionerRole/coord-1"})";
  if (!owner.empty()) {
    text += R"(,"owner":{"reference":")" + owner + R"("})";
  }
  if (NeedsStatusReason(*ParseTaskStatus(status))) {
    text += R"(,"statusReason":{"text":"why"})";
  }
  if (!business.empty()) {
    text += R"(,"businessStatus":{"coding":[{"system":")" + std::string(kBusinessStatusSystem) +
            R"(","code":")" + business + R"("}]})";
  }
  return {at, Json(text + "}"), std::move(author)};
}

std::vector<TaskVersion> HappyPath() {
  return {
      Version(kT0, "requested", "", "", "riverside-ehr"),
      Version(kT0 + 1, "requested", "", "Organization/harbor-housing", "gateway"),
      Version(kT0 + 2, "requested", "delivered", "Organization/harbor-housing", "gateway"),
      Version(kT0 + kDay, "requested", "received-by-agency", "Organization/harbor-housing",
              "harbor-housing"),
      Version(kT0 + 2 * kDay, "accepted", "received-by-agency", "Organization/harbor-housing",
              "harbor-housing"),
      Version(kT0 + 4 * kDay, "in-progress", "first-contact", "Organization/harbor-housing",
              "harbor-housing"),
      Version(kT0 + 6 * kDay, "in-progress", "linked-to-care", "Organization/harbor-housing",
              "riverside-ehr"),
      Version(kT0 + 20 * kDay, "completed", "linked-to-care", "Organization/harbor-housing",
              "harbor-housing"),
  };
}

TEST(TimelineTest, EveryChangeWithWhoAndWhen) {
  Timeline t = BuildTimeline(HappyPath(), {{kT0 + 5 * kDay, "Communication/c1", "harbor-housing"}},
                             {{kT0 + 2, "delivered", 201, ""}});
  EXPECT_EQ(t.accountable, "PractitionerRole/coord-1");
  std::vector<std::string> got;
  for (const auto& e : t.events) {
    got.push_back(std::string(ToCode(e.kind)) + ":" + e.from + ">" + e.to + "@" + e.author);
  }
  EXPECT_EQ(got, (std::vector<std::string>{
                     "created:>requested@riverside-ehr",
                     "owner:>Organization/harbor-housing@gateway",
                     "business-status:>delivered@gateway",
                     "delivery:>delivered@gateway",
                     "business-status:delivered>received-by-agency@harbor-housing",
                     "status:requested>accepted@harbor-housing",
                     "status:accepted>in-progress@harbor-housing",
                     "business-status:received-by-agency>first-contact@harbor-housing",
                     "contact:>Communication/c1@harbor-housing",
                     "business-status:first-contact>linked-to-care@riverside-ehr",
                     "status:in-progress>completed@harbor-housing",
                 }));
  EXPECT_EQ(t.events[3].detail, "HTTP 201");
}

TEST(TimelineTest, StatusReasonIsTheDetail) {
  Timeline t = BuildTimeline({Version(kT0, "requested"), Version(kT0 + kDay, "rejected")}, {}, {});
  ASSERT_EQ(t.events.size(), 3u);  // created, owner, status
  EXPECT_EQ(t.events[2].detail, "why");
}

TEST(TimelineTest, AsProvenanceOnePerEventWithWhoDidIt) {
  Timeline t = BuildTimeline(HappyPath(), {{kT0 + 5 * kDay, "Communication/c1", "harbor-housing"}},
                             {{kT0 + 2, "delivered", 201, ""}});
  const std::vector<Value> provenance = ToProvenance(t, "t1");
  ASSERT_EQ(provenance.size(), t.events.size());
  const Value& first = provenance.front();
  EXPECT_EQ(first.StringAt("resourceType"), "Provenance");
  EXPECT_EQ(first.StringAt("id"), "t1-1");
  EXPECT_EQ(first.Find("target")->items().at(0).StringAt("reference"), "Task/t1");
  EXPECT_EQ(first.StringAt("recorded"), "2026-11-02T09:00:00.000Z");
  EXPECT_EQ(first.StringAt("occurredDateTime"), first.StringAt("recorded"));
  const Value& activity = *first.Find("activity");
  EXPECT_EQ(activity.Find("coding")->items().at(0).StringAt("system"), kTimelineEventSystem);
  EXPECT_EQ(activity.Find("coding")->items().at(0).StringAt("code"), "created");
  EXPECT_EQ(activity.StringAt("text"), "created: requested");
  auto who = [](const Value& p) {
    return std::string(p.Find("agent")->items().at(0).Find("who")->StringAt("reference"));
  };
  EXPECT_EQ(who(first), "Organization/riverside-ehr");
  EXPECT_EQ(who(provenance[3]), "Device/carebridge");  // the delivery: the gateway's step
  EXPECT_EQ(provenance[3].Find("activity")->StringAt("text"), "delivery: delivered (HTTP 201)");
  EXPECT_EQ(provenance[5].Find("activity")->StringAt("text"), "status: requested -> accepted");
  EXPECT_EQ(who(provenance[5]), "Organization/harbor-housing");
  // A contact targets the Task and the contact's resource.
  const Value& contact = provenance[8];
  ASSERT_EQ(contact.Find("target")->items().size(), 2u);
  EXPECT_EQ(contact.Find("target")->items()[1].StringAt("reference"), "Communication/c1");
  // An id too long for FHIR is left out rather than made invalid.
  EXPECT_EQ(ToProvenance(t, std::string(64, 'a')).front().Find("id"), nullptr);
}

TEST(FactsTest, FromTheHappyPath) {
  ReferralFacts f = FactsFrom(HappyPath(), {{kT0 + 5 * kDay, "Communication/c1", ""}}, nullptr);
  EXPECT_EQ(f.requested_ms, kT0);
  EXPECT_EQ(f.acknowledged_ms, kT0 + kDay);
  EXPECT_EQ(f.accepted_ms, kT0 + 2 * kDay);
  EXPECT_EQ(f.first_contact_ms, kT0 + 4 * kDay);
  EXPECT_EQ(f.linked_ms, kT0 + 6 * kDay);
  EXPECT_EQ(f.closed_ms, kT0 + 20 * kDay);
  EXPECT_FALSE(f.post_discharge);
  // Completed on day 20, before week 3 ended: weeks 1 and 2 are judged, and they fall short.
  std::vector<std::string> keys;
  for (const Breach& b : EvaluateSla(SlaPolicy{}, f, kT0 + 60 * kDay)) {
    keys.push_back(b.key());
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"contacts-week-1", "contacts-week-2"}));
}

TEST(FactsTest, AContactBeforeTheStepCountsAsFirstContact) {
  ReferralFacts f = FactsFrom({Version(kT0, "requested"), Version(kT0 + kDay, "accepted")},
                              {{kT0 + 3 * kHour, "Encounter/e1", ""}}, nullptr);
  EXPECT_EQ(f.first_contact_ms, kT0 + 3 * kHour);
  EXPECT_EQ(f.contacts_ms, std::vector<std::int64_t>{kT0 + 3 * kHour});
}

TEST(FactsTest, PostDischargeFlagAndDischargeDate) {
  Value sr =
      Json(R"({"resourceType":"ServiceRequest","authoredOn":"2026-11-02",
    "category":[{"coding":[{"system":")" +
           std::string(kReferralFlagSystem) + R"(","code":"post-discharge"}]}],
    "extension":[{"url":")" +
           std::string(kDischargeExtension) + R"(","valueDateTime":"2026-11-01T15:00:00Z"}]})");
  ReferralFacts f = FactsFrom({Version(kT0, "requested")}, {}, &sr);
  EXPECT_TRUE(f.post_discharge);
  EXPECT_EQ(f.discharge_ms, kT0 - 18 * kHour);
  sr.Remove("extension");
  f = FactsFrom({Version(kT0, "requested")}, {}, &sr);
  EXPECT_EQ(f.discharge_ms, kT0 - 9 * kHour);  // authoredOn, the day's start
}

}  // namespace
}  // namespace carebridge::referral
