#include "opsy/http/retry.h"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "opsy/core/fake_clock.h"

namespace opsy::http {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

RetryPolicy pinned(double r) {
  RetryPolicy p;
  p.random = [r] { return r; };
  return p;
}

Error throttled() {
  return Error{ErrorCode::Throttled, "slow down"};
}

// Standard mode: three attempts in all, and the delays are rand * min(2^(i-1) s, 20 s).
TEST(Retry, StandardModeGivesUpAfterThreeAttempts) {
  FakeClock clock;
  RetryQuota quota;
  RetryPolicy policy = pinned(1.0);
  int calls = 0;
  auto r = withRetries<int>(policy, quota, clock, [&](int) -> Result<int> {
    ++calls;
    return fail(throttled());
  });
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(clock.totalSlept(), seconds(1) + seconds(2));
  EXPECT_NE(r.error().message.find("after 3 attempts"), std::string::npos);
  EXPECT_EQ(r.error().code, ErrorCode::Throttled);
}

// Backoff never exceeds the 20 s cap however many attempts a caller allows.
TEST(Retry, BackoffIsCappedAtTwentySeconds) {
  FakeClock clock;
  RetryQuota quota;
  RetryPolicy policy = pinned(1.0);
  policy.max_attempts = 10;
  Retrier retrier(policy, quota, clock);
  EXPECT_EQ(retrier.onFailure(throttled(), 1), seconds(1));
  EXPECT_EQ(retrier.onFailure(throttled(), 5), seconds(16));
  EXPECT_EQ(retrier.onFailure(throttled(), 6), seconds(20));
  EXPECT_EQ(retrier.onFailure(throttled(), 9), seconds(20));
}

// Full jitter scales the whole delay, so a random draw of 0.25 sleeps a quarter of it.
TEST(Retry, FullJitterScalesDelay) {
  FakeClock clock;
  RetryQuota quota;
  RetryPolicy policy = pinned(0.25);
  Retrier retrier(policy, quota, clock);
  EXPECT_EQ(retrier.onFailure(throttled(), 2), milliseconds(500));
}

// A permanent error is returned at once, without a sleep or a quota charge.
TEST(Retry, PermanentErrorIsNotRetried) {
  FakeClock clock;
  RetryQuota quota;
  int calls = 0;
  auto r = withRetries<int>(pinned(1.0), quota, clock, [&](int) -> Result<int> {
    ++calls;
    return fail(ErrorCode::InvalidArgument, "bad filter");
  });
  EXPECT_FALSE(r.has_value());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(clock.totalSlept(), Duration(0));
  EXPECT_EQ(quota.available(), 500);
}

// A retried call that succeeds returns its cost to the quota.
TEST(Retry, SuccessAfterRetryRefundsQuota) {
  FakeClock clock;
  RetryQuota quota;
  auto r = withRetries<int>(pinned(0.5), quota, clock, [&](int attempt) -> Result<int> {
    if (attempt < 2) {
      return fail(ErrorCode::Unavailable, "503");
    }
    return 42;
  });
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(quota.available(), 500);
}

// An outage drains the quota (5 per retry, 10 after a timeout) and then retries stop.
TEST(Retry, EmptyQuotaStopsRetrying) {
  FakeClock clock;
  RetryQuota quota(12);
  RetryPolicy policy = pinned(0.0);
  Retrier retrier(policy, quota, clock);
  EXPECT_TRUE(retrier.onFailure(Error{ErrorCode::DeadlineExceeded, "t"}, 1).has_value());
  EXPECT_EQ(quota.available(), 2);
  EXPECT_FALSE(retrier.onFailure(throttled(), 1).has_value());
}

// A first-try success adds one token, never past capacity.
TEST(Retry, FirstTrySuccessRefillsSlowly) {
  RetryQuota quota(500);
  int cost = 0;
  ASSERT_TRUE(quota.acquire(RetryClass::Throttle, &cost));
  quota.onFirstTrySuccess();
  EXPECT_EQ(quota.available(), 496);
  for (int i = 0; i < 10; ++i) {
    quota.onFirstTrySuccess();
  }
  EXPECT_EQ(quota.available(), 500);
}

// A server's Retry-After raises the delay to what it asked, within the cap.
TEST(Retry, HonoursRetryAfter) {
  FakeClock clock;
  RetryQuota quota;
  RetryPolicy policy = pinned(0.1);
  Retrier retrier(policy, quota, clock);
  Error e = throttled();
  e.retry_after = seconds(7);
  EXPECT_EQ(retrier.onFailure(e, 1), seconds(7));
  e.retry_after = seconds(600);
  EXPECT_EQ(retrier.onFailure(e, 1), seconds(20));
}

// A caller-supplied classifier decides what is retryable (e.g. an AWS error code list).
TEST(Retry, CustomClassifier) {
  FakeClock clock;
  RetryQuota quota;
  RetryPolicy policy = pinned(0.0);
  policy.classify = [](const Error& e) {
    return e.provider_code == "IDPCommunicationError" ? RetryClass::Transient
                                                      : RetryClass::Permanent;
  };
  Retrier retrier(policy, quota, clock);
  EXPECT_TRUE(retrier
                  .onFailure(Error(ErrorCode::InvalidArgument, "x")
                                 .withHttpStatus(400)
                                 .withProviderCode("IDPCommunicationError"),
                             1)
                  .has_value());
  EXPECT_FALSE(retrier.onFailure(throttled(), 1).has_value());
}

}  // namespace
}  // namespace opsy::http

namespace opsy::http {
namespace {

// Retry-After's delay-seconds form is read (fractions round up to a millisecond); the HTTP-date
// form, negative, absurd or malformed values are ignored rather than guessed at.
TEST(ParseRetryAfterSeconds, ReadsDelaySecondsAndIgnoresTheRest) {
  using std::chrono::milliseconds;
  struct Case {
    const char* value;
    std::optional<milliseconds> want;
  };
  for (const Case& c : std::vector<Case>{
           {"7", milliseconds(7000)},
           {" 2 ", milliseconds(2000)},
           {"0", milliseconds(0)},
           {"1.5", milliseconds(1500)},
           {"0.0004", milliseconds(1)},
           {"86400", milliseconds(86400000)},
           {"86401", std::nullopt},
           {"-1", std::nullopt},
           {"", std::nullopt},
           {"7s", std::nullopt},
           {"nan", std::nullopt},
           {"Wed, 21 Oct 2026 07:28:00 GMT", std::nullopt},
       }) {
    EXPECT_EQ(parseRetryAfterSeconds(c.value), c.want) << '"' << c.value << '"';
  }
}

}  // namespace
}  // namespace opsy::http
