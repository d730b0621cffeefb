#pragma once

// SLA timers of the care-coordination practice standards, per referral. Pure: facts and the time
// in, breaches out.
//
//  - acknowledge: the agency acknowledges (received-by-agency, accepted or rejected) within
//    `ack_business_days` business days of the referral being requested. Business days skip
//    Saturday and Sunday (and `holidays`) in local time (`utc_offset_minutes`); a referral sent on
//    a weekend starts counting at the next business day's midnight.
//  - first contact: the agency's first contact with the person within `first_contact_days` days.
//  - post-discharge linkage: for a referral flagged post-discharge (after an acute or crisis
//    stay), linked-to-care within `linkage_days` days of the discharge.
//  - contact frequency: at least `contacts_per_week` contacts in each full week of the first
//    `intensive_days` days of care coordination (counted from acceptance). A trailing partial
//    week (days 29-30 with the defaults) is not judged: three contacts in two days is not the
//    standard's ask.
//
// A step done late is a breach as well as one not done by its deadline, so an evaluation that
// runs late still reports it. A referral closed (rejected, cancelled, completed, failed,
// entered-in-error) before a deadline has no breach for it. Each breach has a stable key
// ("ack", "first-contact", "linkage", "contacts-week-2"): SlaMonitor reports each key once per
// referral, whatever the number of evaluations.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/referral/clock.h"

namespace carebridge::referral {

struct SlaPolicy {
  int ack_business_days = 2;
  int first_contact_days = 7;
  int linkage_days = 7;
  int contacts_per_week = 3;
  int intensive_days = 30;
  int utc_offset_minutes = 0;      // local time of the program, for business days
  std::set<std::string> holidays;  // local dates "YYYY-MM-DD" that are not business days
};

// What happened to one referral so far; times in epoch ms UTC.
struct ReferralFacts {
  std::int64_t requested_ms = 0;                // sent to the agency (Task requested)
  std::optional<std::int64_t> acknowledged_ms;  // received-by-agency, accepted or rejected
  std::optional<std::int64_t> accepted_ms;      // care coordination starts
  std::optional<std::int64_t> first_contact_ms;
  bool post_discharge = false;
  std::optional<std::int64_t> discharge_ms;  // post-discharge: when; else requested_ms counts
  std::optional<std::int64_t> linked_ms;     // linked-to-care
  std::vector<std::int64_t> contacts_ms;     // every contact (Communication, Encounter)
  std::optional<std::int64_t> closed_ms;     // reached a terminal status
};

enum class SlaKind { kAcknowledge, kFirstContact, kPostDischargeLinkage, kContactFrequency };
std::string_view ToCode(SlaKind kind);  // "ack", "first-contact", "linkage", "contacts"

struct Breach {
  SlaKind kind = SlaKind::kAcknowledge;
  int week = 0;             // kContactFrequency: 1-based week of care coordination
  std::int64_t due_ms = 0;  // the deadline that passed
  int contacts = 0;         // kContactFrequency: contacts made that week
  std::string key() const;  // stable per referral: "ack", "contacts-week-2"...
  friend bool operator==(const Breach&, const Breach&) = default;
};

// `n` business days after `start_ms` (see the header comment).
std::int64_t AddBusinessDays(std::int64_t start_ms, int n, const SlaPolicy& policy);

// Every breach that has happened by `now_ms`, in deadline order.
std::vector<Breach> EvaluateSla(const SlaPolicy& policy, const ReferralFacts& facts,
                                std::int64_t now_ms);

// Fires each breach once. Fired keys live in memory; the caller persists what Poll returns and
// restores it with MarkFired after a restart. Thread-safe.
class SlaMonitor {
 public:
  // REQUIRES: `policy` and `clock` outlive the monitor.
  SlaMonitor(const SlaPolicy& policy, const Clock& clock) : policy_(policy), clock_(clock) {}

  // The breaches of `referral` not reported before, as of the clock's now.
  std::vector<Breach> Poll(const std::string& referral, const ReferralFacts& facts);
  void MarkFired(const std::string& referral, const std::string& key);
  // The referral is closed and its breaches settled: forget it.
  void Forget(const std::string& referral);

 private:
  const SlaPolicy& policy_;
  const Clock& clock_;
  std::mutex mu_;
  std::map<std::string, std::set<std::string>, std::less<>> fired_;  // GUARDED_BY(mu_)
};

}  // namespace carebridge::referral
