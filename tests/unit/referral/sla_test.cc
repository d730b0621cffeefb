#include "gateway/referral/sla.h"

#include <gtest/gtest.h>

#include <ctime>
#include <string>
#include <vector>

namespace carebridge::referral {
namespace {

constexpr std::int64_t kHour = 60LL * 60 * 1000;
constexpr std::int64_t kDay = 24 * kHour;

std::int64_t Utc(int y, int mo, int d, int h = 0, int mi = 0) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

// 2026-11-06 is a Friday.
const std::int64_t kFriday3pm = Utc(2026, 11, 6, 15);

struct BusinessDayCase {
  std::string name;
  std::int64_t start;
  int days;
  std::int64_t want;
  int offset_minutes = 0;
  std::set<std::string> holidays = {};
};

class BusinessDayTest : public ::testing::TestWithParam<BusinessDayCase> {};

TEST_P(BusinessDayTest, SkipsWeekendsAndHolidays) {
  const auto& c = GetParam();
  SlaPolicy p;
  p.utc_offset_minutes = c.offset_minutes;
  p.holidays = c.holidays;
  EXPECT_EQ(AddBusinessDays(c.start, c.days, p), c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Table, BusinessDayTest,
    ::testing::Values(
        BusinessDayCase{"MondayPlusTwo", Utc(2026, 11, 2, 9), 2, Utc(2026, 11, 4, 9)},
        BusinessDayCase{"FridayPlusTwoIsTuesday", kFriday3pm, 2, Utc(2026, 11, 10, 15)},
        BusinessDayCase{"SaturdayStartsMondayMidnight", Utc(2026, 11, 7, 10), 2,
                        Utc(2026, 11, 11, 0)},
        BusinessDayCase{"SundayLateStartsMondayMidnight", Utc(2026, 11, 8, 23, 59), 1,
                        Utc(2026, 11, 10, 0)},
        BusinessDayCase{
            "HolidaySkipped", Utc(2026, 11, 25, 12), 2, Utc(2026, 11, 30, 12), 0, {"2026-11-26"}},
        // 23:00 Friday UTC is 15:00 Friday in UTC-8: still Friday locally.
        BusinessDayCase{"LocalTimeDecidesTheDay", Utc(2026, 11, 6, 23), 2, Utc(2026, 11, 10, 23),
                        -8 * 60},
        // 23:00 Friday UTC is 08:00 Saturday in UTC+9: the clock starts Monday 00:00 local.
        BusinessDayCase{"LocalWeekend", Utc(2026, 11, 6, 23), 1, Utc(2026, 11, 9, 15), 9 * 60}),
    [](const auto& p) { return p.param.name; });

// ---- each SLA: breached or not, table-driven -------------------------------------------------

struct SlaCase {
  std::string name;
  ReferralFacts facts;
  std::int64_t now;
  std::vector<std::string> want;  // breach keys, in deadline order
};

class SlaTest : public ::testing::TestWithParam<SlaCase> {};

TEST_P(SlaTest, Breaches) {
  const auto& c = GetParam();
  std::vector<std::string> got;
  for (const Breach& b : EvaluateSla(SlaPolicy{}, c.facts, c.now)) {
    got.push_back(b.key());
  }
  EXPECT_EQ(got, c.want);
}

const std::int64_t kMonday = Utc(2026, 11, 2, 9);  // requested Monday 09:00

ReferralFacts Requested() {
  ReferralFacts f;
  f.requested_ms = kMonday;
  return f;
}
ReferralFacts Acked(std::int64_t at) {
  ReferralFacts f = Requested();
  f.acknowledged_ms = at;
  return f;
}
ReferralFacts Contacted(std::int64_t ack, std::int64_t contact) {
  ReferralFacts f = Acked(ack);
  f.accepted_ms = ack;
  f.first_contact_ms = contact;
  return f;
}
ReferralFacts Closed(ReferralFacts f, std::int64_t at) {
  f.closed_ms = at;
  return f;
}
ReferralFacts PostDischarge(ReferralFacts f, std::int64_t discharge,
                            std::optional<std::int64_t> linked) {
  f.post_discharge = true;
  f.discharge_ms = discharge;
  f.linked_ms = linked;
  return f;
}
// Accepted at kMonday, first contact at once, with `per_week[i]` contacts in week i+1.
ReferralFacts Contacts(std::vector<int> per_week) {
  ReferralFacts f = Contacted(kMonday, kMonday + kHour);
  for (std::size_t w = 0; w < per_week.size(); ++w) {
    for (int i = 0; i < per_week[w]; ++i) {
      f.contacts_ms.push_back(kMonday + static_cast<std::int64_t>(w) * 7 * kDay + i * kDay);
    }
  }
  return f;
}

INSTANTIATE_TEST_SUITE_P(
    Table, SlaTest,
    ::testing::Values(
        SlaCase{"NothingDueYet", Requested(), kMonday + kDay, {}},
        SlaCase{"AckDueAtTwoBusinessDays", Requested(), kMonday + 2 * kDay, {}},
        SlaCase{"AckMissed", Requested(), kMonday + 2 * kDay + 1, {"ack"}},
        SlaCase{"AckOnTime", Acked(kMonday + 2 * kDay), kMonday + 3 * kDay, {}},
        SlaCase{"AckLateStillABreach", Acked(kMonday + 3 * kDay), kMonday + 3 * kDay, {"ack"}},
        SlaCase{"ClosedBeforeDueNoBreach",
                Closed(Requested(), kMonday + kHour),
                kMonday + 30 * kDay,
                {}},
        // Closed on day 3: the ack was already late; first contact was not due yet.
        SlaCase{"ClosedAfterDueStillBreached",
                Closed(Requested(), kMonday + 3 * kDay),
                kMonday + 30 * kDay,
                {"ack"}},
        SlaCase{"FirstContactMissed",
                Acked(kMonday + kHour),
                kMonday + 7 * kDay + 1,
                {"first-contact"}},
        SlaCase{"FirstContactOnDay7",
                Contacted(kMonday + kHour, kMonday + 7 * kDay),
                kMonday + 7 * kDay + 1,
                {}},
        SlaCase{"LinkageOnlyWhenPostDischarge",
                Contacted(kMonday + kHour, kMonday + kDay),
                kMonday + 7 * kDay + 1,
                {}},
        SlaCase{"LinkageCountsFromDischarge",
                PostDischarge(Contacted(kMonday + kHour, kMonday + kDay), kMonday - 2 * kDay,
                              std::nullopt),
                kMonday + 5 * kDay + 1,
                {"linkage"}},
        SlaCase{"LinkedInTime",
                PostDischarge(Contacted(kMonday + kHour, kMonday + kDay), kMonday - 2 * kDay,
                              kMonday + 4 * kDay),
                kMonday + 6 * kDay,
                {}},
        SlaCase{"ThreeContactsEveryWeek", Contacts({3, 3, 4, 3}), kMonday + 40 * kDay, {}},
        SlaCase{"WeekTwoShort", Contacts({3, 2, 3, 3}), kMonday + 40 * kDay, {"contacts-week-2"}},
        SlaCase{"WeekNotOverNotJudged", Contacts({3, 0}), kMonday + 10 * kDay, {}},
        SlaCase{"ClosedMidWeekStopsCounting",
                Closed(Contacts({3, 1}), kMonday + 9 * kDay),
                kMonday + 40 * kDay,
                {}}),
    [](const auto& p) { return p.param.name; });

// ---- exactly once, as a clock moves ----------------------------------------------------------

TEST(SlaMonitorTest, EachBreachFiresExactlyOnce) {
  SlaPolicy policy;
  ManualClock clock(kMonday);
  SlaMonitor monitor(policy, clock);
  ReferralFacts facts = Requested();
  facts.post_discharge = true;
  facts.discharge_ms = kMonday;
  std::vector<std::string> fired;
  // Evaluate every hour for 40 days; the agency acks late on day 4 and accepts, then makes two
  // contacts a week.
  for (std::int64_t t = kMonday; t <= kMonday + 40 * kDay; t += kHour) {
    clock.Set(t);
    if (t == kMonday + 4 * kDay) {
      facts.acknowledged_ms = t;
      facts.accepted_ms = t;
    }
    if (facts.accepted_ms && (t - *facts.accepted_ms) % (7 * kDay) == kDay / 2 * 2) {
      facts.contacts_ms.push_back(t);
    }
    if (facts.accepted_ms && (t - *facts.accepted_ms) % (7 * kDay) == 3 * kDay) {
      facts.contacts_ms.push_back(t);
      if (!facts.first_contact_ms) {
        facts.first_contact_ms = t;
      }
    }
    for (const Breach& b : monitor.Poll("Task/t1", facts)) {
      fired.push_back(b.key());
    }
    // Polling again at the same instant reports nothing new.
    EXPECT_TRUE(monitor.Poll("Task/t1", facts).empty());
  }
  EXPECT_EQ(fired, (std::vector<std::string>{"ack", "linkage", "contacts-week-1", "contacts-week-2",
                                             "contacts-week-3", "contacts-week-4"}));
}

TEST(SlaMonitorTest, RestoredFiredKeysAreNotReportedAgain) {
  SlaPolicy policy;
  ManualClock clock(kMonday + 10 * kDay);
  SlaMonitor monitor(policy, clock);
  monitor.MarkFired("Task/t1", "ack");
  auto fresh = monitor.Poll("Task/t1", Requested());
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_EQ(fresh[0].key(), "first-contact");
  EXPECT_EQ(fresh[0].due_ms, kMonday + 7 * kDay);
  // Another referral has its own keys.
  EXPECT_EQ(monitor.Poll("Task/t2", Requested()).size(), 2u);
}

}  // namespace
}  // namespace carebridge::referral
