#include "gateway/api/access.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace carebridge::api {
namespace {

using auth::PartnerKind;

constexpr Interaction kAllInteractions[] = {Interaction::kRead, Interaction::kSearch,
                                            Interaction::kCreate, Interaction::kUpdate,
                                            Interaction::kDelete};
constexpr const char* kClinicalTypes[] = {
    "Patient", "CarePlan",    "ServiceRequest", "Consent", "Questionnaire", "QuestionnaireResponse",
    "Task",    "Observation", "Condition",      "Goal"};
constexpr const char* kDirectoryTypes[] = {"Organization", "Endpoint", "HealthcareService"};

bool IsRead(Interaction i) { return i == Interaction::kRead || i == Interaction::kSearch; }

// The whole matrix, role by role, against the README's table.
TEST(AccessTest, EhrUsesEveryInteractionOnClinicalTypesOnly) {
  for (const char* type : kClinicalTypes) {
    for (Interaction i : kAllInteractions) {
      EXPECT_EQ(Authorize(PartnerKind::kEhr, i, type), Reach::kAll) << type;
    }
  }
  for (const char* type : kDirectoryTypes) {
    for (Interaction i : kAllInteractions) {
      EXPECT_EQ(Authorize(PartnerKind::kEhr, i, type), IsRead(i) ? Reach::kAll : Reach::kNone);
    }
  }
  for (Interaction i : kAllInteractions) {
    EXPECT_EQ(Authorize(PartnerKind::kEhr, i, "AuditEvent"), Reach::kNone);
  }
  EXPECT_EQ(Authorize(PartnerKind::kEhr, Interaction::kBundle, ""), Reach::kAll);
}

TEST(AccessTest, AgencyReachesOnlyWhatIsAddressedToIt) {
  for (const char* type : kClinicalTypes) {
    std::string t = type;
    for (Interaction i : kAllInteractions) {
      Reach expected = Reach::kNone;
      if ((t == "Task" || t == "ServiceRequest") && IsRead(i)) {
        expected = Reach::kAddressed;
      }
      if (t == "Task" && i == Interaction::kUpdate) {
        expected = Reach::kAddressed;
      }
      EXPECT_EQ(Authorize(PartnerKind::kAgency, i, type), expected) << type;
    }
  }
  EXPECT_EQ(Authorize(PartnerKind::kAgency, Interaction::kRead, "Organization"), Reach::kAll);
  EXPECT_EQ(Authorize(PartnerKind::kAgency, Interaction::kRead, "AuditEvent"), Reach::kNone);
  EXPECT_EQ(Authorize(PartnerKind::kAgency, Interaction::kBundle, ""), Reach::kNone);
  // Contacts on its own referrals: create only (the API checks the Task links).
  for (Interaction i : kAllInteractions) {
    EXPECT_EQ(Authorize(PartnerKind::kAgency, i, "Communication"),
              i == Interaction::kCreate ? Reach::kAddressed : Reach::kNone);
  }
  EXPECT_EQ(AddressedParam("Task"), "owner");
  EXPECT_EQ(AddressedParam("ServiceRequest"), "performer");
  EXPECT_EQ(AddressedParam("Patient"), "");
}

TEST(AccessTest, PrivacyOfficerReadsAuditConsentAndPatientOnly) {
  for (const char* type : kClinicalTypes) {
    std::string t = type;
    for (Interaction i : kAllInteractions) {
      bool allowed = IsRead(i) && (t == "Consent" || t == "Patient");
      EXPECT_EQ(Authorize(PartnerKind::kPrivacyOfficer, i, type),
                allowed ? Reach::kAll : Reach::kNone)
          << type;
    }
  }
  EXPECT_EQ(Authorize(PartnerKind::kPrivacyOfficer, Interaction::kSearch, "AuditEvent"),
            Reach::kAll);
  EXPECT_EQ(Authorize(PartnerKind::kPrivacyOfficer, Interaction::kBundle, ""), Reach::kNone);
}

TEST(AccessTest, CoordinatorFollowsReferralsAndPlans) {
  const std::vector<std::string> writable = {"Task", "ServiceRequest", "CarePlan",
                                             "Goal", "Consent",        "Patient"};
  for (const char* type : kClinicalTypes) {
    bool writes = std::find(writable.begin(), writable.end(), type) != writable.end();
    for (Interaction i : kAllInteractions) {
      Reach expected = Reach::kNone;
      if (IsRead(i) || (writes && i != Interaction::kDelete)) {
        expected = Reach::kAll;
      }
      EXPECT_EQ(Authorize(PartnerKind::kCoordinator, i, type), expected) << type;
    }
  }
  EXPECT_EQ(Authorize(PartnerKind::kCoordinator, Interaction::kRead, "AuditEvent"), Reach::kNone);
  EXPECT_EQ(Authorize(PartnerKind::kCoordinator, Interaction::kBundle, ""), Reach::kAll);
}

TEST(AccessTest, AdminKeepsTheDirectoryAndReadsTheAuditLog) {
  for (const char* type : kClinicalTypes) {
    for (Interaction i : kAllInteractions) {
      EXPECT_EQ(Authorize(PartnerKind::kAdmin, i, type), Reach::kNone) << type;
    }
  }
  for (const char* type : kDirectoryTypes) {
    for (Interaction i : kAllInteractions) {
      EXPECT_EQ(Authorize(PartnerKind::kAdmin, i, type), Reach::kAll) << type;
    }
  }
  EXPECT_EQ(Authorize(PartnerKind::kAdmin, Interaction::kRead, "AuditEvent"), Reach::kAll);
}

TEST(AccessTest, EveryRoleReadsCapabilitiesAndNoRoleReadsSystemHistory) {
  for (PartnerKind kind : {PartnerKind::kEhr, PartnerKind::kAgency, PartnerKind::kPrivacyOfficer,
                           PartnerKind::kCoordinator, PartnerKind::kAdmin}) {
    EXPECT_EQ(Authorize(kind, Interaction::kCapabilities, ""), Reach::kAll);
    EXPECT_EQ(Authorize(kind, Interaction::kSystemHistory, ""), Reach::kNone);
  }
}

TEST(AccessTest, ScopesBoundTheRole) {
  std::vector<std::string> read_all = {"system/*.read"};
  EXPECT_TRUE(ScopesAllow(read_all, Interaction::kRead, "Patient"));
  EXPECT_TRUE(ScopesAllow(read_all, Interaction::kSearch, "Task"));
  EXPECT_FALSE(ScopesAllow(read_all, Interaction::kCreate, "Patient"));
  EXPECT_TRUE(ScopesAllow(read_all, Interaction::kCapabilities, ""));

  std::vector<std::string> task_v2 = {"system/Task.rs", "system/Patient.cruds"};
  EXPECT_TRUE(ScopesAllow(task_v2, Interaction::kRead, "Task"));
  EXPECT_FALSE(ScopesAllow(task_v2, Interaction::kUpdate, "Task"));
  EXPECT_TRUE(ScopesAllow(task_v2, Interaction::kDelete, "Patient"));
  EXPECT_FALSE(ScopesAllow(task_v2, Interaction::kRead, "Observation"));
  EXPECT_TRUE(ScopesAllow(task_v2, Interaction::kBundle, ""));

  std::vector<std::string> write_task = {"system/Task.write"};
  EXPECT_TRUE(ScopesAllow(write_task, Interaction::kUpdate, "Task"));
  EXPECT_FALSE(ScopesAllow(write_task, Interaction::kRead, "Task"));
  EXPECT_TRUE(ScopesAllow({"system/*.*"}, Interaction::kDelete, "Goal"));
  EXPECT_FALSE(ScopesAllow({"patient/*.read", "user/*.*"}, Interaction::kRead, "Patient"));
  EXPECT_FALSE(ScopesAllow({}, Interaction::kRead, "Patient"));
}

TEST(AccessTest, RateLimiterIsATokenBucketPerPartner) {
  auth::Partner slow;
  slow.id = "slow";
  slow.requests_per_second = 2;
  slow.burst = 3;
  auth::Partner other = slow;
  other.id = "other";
  RateLimiter limiter;
  auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(limiter.Acquire(slow, t0)) << i;
  }
  auto wait = limiter.Acquire(slow, t0);
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, 1);
  EXPECT_FALSE(limiter.Acquire(other, t0));  // one partner's flood does not drain another
  EXPECT_FALSE(limiter.Acquire(slow, t0 + std::chrono::milliseconds(600)));
  EXPECT_TRUE(limiter.Acquire(slow, t0 + std::chrono::milliseconds(600)));
}

}  // namespace
}  // namespace carebridge::api
