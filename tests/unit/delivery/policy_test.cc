// The worker's pure decisions: what an answer means, how long to wait, Retry-After.

#include <gtest/gtest.h>

#include <ctime>

#include "gateway/delivery/worker.h"

namespace carebridge::delivery {
namespace {

using std::chrono::milliseconds;

struct ClassifyCase {
  long status;
  int curl_code;
  Verdict want;
};

class ClassifyTest : public ::testing::TestWithParam<ClassifyCase> {};

TEST_P(ClassifyTest, StatusToVerdict) {
  HttpReply r;
  r.status = GetParam().status;
  r.curl_code = GetParam().curl_code;
  EXPECT_EQ(Classify(r), GetParam().want) << GetParam().status;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ClassifyTest,
    ::testing::Values(
        ClassifyCase{200, 0, Verdict::kDelivered}, ClassifyCase{201, 0, Verdict::kDelivered},
        ClassifyCase{204, 0, Verdict::kDelivered}, ClassifyCase{408, 0, Verdict::kRetry},
        ClassifyCase{429, 0, Verdict::kRetry}, ClassifyCase{500, 0, Verdict::kRetry},
        ClassifyCase{502, 0, Verdict::kRetry}, ClassifyCase{503, 0, Verdict::kRetry},
        ClassifyCase{504, 0, Verdict::kRetry},
        ClassifyCase{0, 7, Verdict::kRetry},     // connection refused
        ClassifyCase{0, 28, Verdict::kRetry},    // timeout
        ClassifyCase{200, 28, Verdict::kRetry},  // cut off mid-body
        ClassifyCase{400, 0, Verdict::kPermanent}, ClassifyCase{401, 0, Verdict::kPermanent},
        ClassifyCase{403, 0, Verdict::kPermanent}, ClassifyCase{404, 0, Verdict::kPermanent},
        ClassifyCase{409, 0, Verdict::kPermanent}, ClassifyCase{412, 0, Verdict::kPermanent},
        ClassifyCase{422, 0, Verdict::kPermanent}, ClassifyCase{301, 0, Verdict::kPermanent}));

TEST(BackoffTest, ExponentialCappedWithJitterAndRetryAfter) {
  DeliveryOptions o;
  o.initial_backoff = milliseconds(100);
  o.max_backoff = milliseconds(1000);
  o.jitter = 0.5;
  o.max_retry_after = milliseconds(60'000);
  // unit 0.5 is the middle of the jitter range: the bare exponential.
  EXPECT_EQ(Backoff(o, 1, 0.5, std::nullopt), milliseconds(100));
  EXPECT_EQ(Backoff(o, 2, 0.5, std::nullopt), milliseconds(200));
  EXPECT_EQ(Backoff(o, 4, 0.5, std::nullopt), milliseconds(800));
  EXPECT_EQ(Backoff(o, 5, 0.5, std::nullopt), milliseconds(1000));   // capped
  EXPECT_EQ(Backoff(o, 40, 0.5, std::nullopt), milliseconds(1000));  // no overflow
  EXPECT_EQ(Backoff(o, 1, 0.0, std::nullopt), milliseconds(50));     // jitter range ends
  EXPECT_EQ(Backoff(o, 1, 1.0, std::nullopt), milliseconds(150));
  EXPECT_EQ(Backoff(o, 1, 0.5, milliseconds(5000)), milliseconds(5000));  // the agency asks more
  EXPECT_EQ(Backoff(o, 4, 0.5, milliseconds(10)), milliseconds(800));     // ... or less
  EXPECT_EQ(Backoff(o, 1, 0.5, milliseconds(3'600'000)), milliseconds(60'000));  // capped
}

// An agency that keeps failing (no answer, 5xx) for a day dead-letters nothing with the default
// settings: the retry budget's backoffs add up to more than 24 hours even when the jitter draws
// the shortest delay every time. A permanent refusal still dead-letters at once (ClassifyTest).
TEST(BackoffTest, DefaultBudgetOutlastsADayLongOutage) {
  const DeliveryOptions o;
  std::chrono::milliseconds waited{0};
  // The attempt after `retries` attempts waits Backoff(retries); the last one (retries ==
  // max_attempts) dead-letters instead of waiting.
  for (int retries = 1; retries < o.max_attempts; ++retries) {
    waited += Backoff(o, retries, 0.0, std::nullopt);
  }
  EXPECT_GE(waited, std::chrono::hours(24));
  // ... and each wait stays short enough that a recovered agency is not left idle for long.
  EXPECT_LE(Backoff(o, o.max_attempts, 1.0, std::nullopt), std::chrono::minutes(6));
}

TEST(RetryAfterTest, SecondsOrHttpDate) {
  const std::int64_t now = 784111777000;  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(ParseRetryAfter("120", now), milliseconds(120'000));
  EXPECT_EQ(ParseRetryAfter(" 0 ", now), milliseconds(0));
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:50:37 GMT", now), milliseconds(60'000));
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:00:00 GMT", now), milliseconds(0));  // past
  EXPECT_FALSE(ParseRetryAfter("soon", now));
  EXPECT_FALSE(ParseRetryAfter("12x", now));
  EXPECT_FALSE(ParseRetryAfter("", now));
}

TEST(ProbeUrlTest, IsTheCapabilityStatementOfTheDeliverysBase) {
  EXPECT_EQ(ProbeUrl("https://a.example/fhir/Task"), "https://a.example/fhir/metadata");
  EXPECT_EQ(ProbeUrl("https://a.example/fhir/Task?identifier=https%3A%2F%2Fx%7C1"),
            "https://a.example/fhir/metadata");
  EXPECT_EQ(ProbeUrl("https://a.example:8443/Task#x"), "https://a.example:8443/metadata");
  EXPECT_EQ(ProbeUrl("https://a.example"), "https://a.example/metadata");
}

}  // namespace
}  // namespace carebridge::delivery
