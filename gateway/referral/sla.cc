#include "gateway/referral/sla.h"

#include <algorithm>
#include <cstdio>
#include <tuple>

namespace carebridge::referral {
namespace {

constexpr std::int64_t kDayMs = 24LL * 60 * 60 * 1000;

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) {
    --q;
  }
  return q;
}

// Howard Hinnant's civil_from_days: days since 1970-01-01 -> "YYYY-MM-DD".
std::string DateOf(std::int64_t days) {
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const std::int64_t doe = days - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = yoe + era * 400;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) {
    ++y;
  }
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lld", static_cast<long long>(y),
                static_cast<long long>(m), static_cast<long long>(d));
  return buf;
}

bool IsBusinessDay(std::int64_t day, const SlaPolicy& policy) {
  const std::int64_t weekday = ((day + 4) % 7 + 7) % 7;  // 1970-01-01 was a Thursday; 0 = Sunday
  if (weekday == 0 || weekday == 6) {
    return false;
  }
  return policy.holidays.empty() || !policy.holidays.contains(DateOf(day));
}

}  // namespace

std::string_view ToCode(SlaKind kind) {
  switch (kind) {
    case SlaKind::kAcknowledge:
      return "ack";
    case SlaKind::kFirstContact:
      return "first-contact";
    case SlaKind::kPostDischargeLinkage:
      return "linkage";
    case SlaKind::kContactFrequency:
      return "contacts";
  }
  return "";
}

std::string Breach::key() const {
  if (kind == SlaKind::kContactFrequency) {
    return "contacts-week-" + std::to_string(week);
  }
  return std::string(ToCode(kind));
}

std::int64_t AddBusinessDays(std::int64_t start_ms, int n, const SlaPolicy& policy) {
  const std::int64_t offset = static_cast<std::int64_t>(policy.utc_offset_minutes) * 60 * 1000;
  const std::int64_t local = start_ms + offset;
  std::int64_t day = FloorDiv(local, kDayMs);
  std::int64_t time_of_day = local - day * kDayMs;
  if (!IsBusinessDay(day, policy)) {
    // Sent outside business days: the clock starts when the next business day does.
    while (!IsBusinessDay(day, policy)) {
      ++day;
    }
    time_of_day = 0;
  }
  for (int i = 0; i < n; ++i) {
    ++day;
    while (!IsBusinessDay(day, policy)) {
      ++day;
    }
  }
  return day * kDayMs + time_of_day - offset;
}

std::vector<Breach> EvaluateSla(const SlaPolicy& policy, const ReferralFacts& facts,
                                std::int64_t now_ms) {
  std::vector<Breach> out;
  // A step is breached when it was done after its deadline, or is still not done once the
  // deadline has passed, unless the referral closed on or before the deadline.
  auto check = [&](SlaKind kind, std::int64_t due, const std::optional<std::int64_t>& done) {
    const bool breached =
        done ? *done > due : now_ms > due && !(facts.closed_ms && *facts.closed_ms <= due);
    if (breached) {
      Breach b;
      b.kind = kind;
      b.due_ms = due;
      out.push_back(b);
    }
  };
  check(SlaKind::kAcknowledge,
        AddBusinessDays(facts.requested_ms, policy.ack_business_days, policy),
        facts.acknowledged_ms);
  check(SlaKind::kFirstContact, facts.requested_ms + policy.first_contact_days * kDayMs,
        facts.first_contact_ms);
  if (facts.post_discharge) {
    check(SlaKind::kPostDischargeLinkage,
          facts.discharge_ms.value_or(facts.requested_ms) + policy.linkage_days * kDayMs,
          facts.linked_ms);
  }
  if (facts.accepted_ms && policy.contacts_per_week > 0) {
    const int weeks = policy.intensive_days / 7;
    for (int w = 1; w <= weeks; ++w) {
      const std::int64_t start = *facts.accepted_ms + (w - 1) * 7 * kDayMs;
      const std::int64_t end = start + 7 * kDayMs;
      if (now_ms < end || (facts.closed_ms && *facts.closed_ms < end)) {
        break;  // the week is not over, or care ended during it: not judged
      }
      const auto contacts = std::count_if(facts.contacts_ms.begin(), facts.contacts_ms.end(),
                                          [&](std::int64_t t) { return t >= start && t < end; });
      if (contacts < policy.contacts_per_week) {
        Breach b;
        b.kind = SlaKind::kContactFrequency;
        b.week = w;
        b.due_ms = end;
        b.contacts = static_cast<int>(contacts);
        out.push_back(b);
      }
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const Breach& a, const Breach& b) {
    return std::tie(a.due_ms, a.kind, a.week) < std::tie(b.due_ms, b.kind, b.week);
  });
  return out;
}

std::vector<Breach> SlaMonitor::Poll(const std::string& referral, const ReferralFacts& facts) {
  std::vector<Breach> all = EvaluateSla(policy_, facts, clock_.NowMs());
  std::vector<Breach> fresh;
  std::lock_guard lock(mu_);
  auto& fired = fired_[referral];
  for (Breach& b : all) {
    if (fired.insert(b.key()).second) {
      fresh.push_back(std::move(b));
    }
  }
  return fresh;
}

void SlaMonitor::MarkFired(const std::string& referral, const std::string& key) {
  std::lock_guard lock(mu_);
  fired_[referral].insert(key);
}

void SlaMonitor::Forget(const std::string& referral) {
  std::lock_guard lock(mu_);
  fired_.erase(referral);
}

}  // namespace carebridge::referral
