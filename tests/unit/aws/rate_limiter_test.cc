#include "opsy/aws/rate_limiter.h"

#include <gtest/gtest.h>

#include "opsy/core/fake_clock.h"

namespace opsy::aws {
namespace {

using std::chrono::milliseconds;

// A full bucket serves a burst without waiting; the next call waits one refill interval.
TEST(RateLimiter, BurstThenPaced) {
  FakeClock clock;
  RateLimiter limiter(10.0, 3.0, clock);
  for (int i = 0; i < 3; ++i) {
    limiter.acquire();
  }
  EXPECT_EQ(clock.totalSlept(), milliseconds(0));
  limiter.acquire();
  EXPECT_EQ(clock.totalSlept(), milliseconds(100));
}

// Sustained use settles at the configured rate: 20 calls at 10/s after the burst take 2 s.
TEST(RateLimiter, SustainedRateIsRespected) {
  FakeClock clock;
  RateLimiter limiter(10.0, 1.0, clock);
  limiter.acquire();
  for (int i = 0; i < 20; ++i) {
    limiter.acquire();
  }
  EXPECT_EQ(clock.totalSlept(), milliseconds(2000));
}

// Idle time refills the bucket, up to the burst size.
TEST(RateLimiter, RefillsWhileIdle) {
  FakeClock clock;
  RateLimiter limiter(1.0, 2.0, clock);
  EXPECT_TRUE(limiter.tryAcquire());
  EXPECT_TRUE(limiter.tryAcquire());
  EXPECT_FALSE(limiter.tryAcquire());
  clock.advance(std::chrono::seconds(10));
  EXPECT_TRUE(limiter.tryAcquire());
  EXPECT_TRUE(limiter.tryAcquire());
  EXPECT_FALSE(limiter.tryAcquire());
}

// A zero rate means no client-side limit.
TEST(RateLimiter, ZeroRateDisables) {
  FakeClock clock;
  RateLimiter limiter(0.0, 0.0, clock);
  for (int i = 0; i < 100; ++i) {
    limiter.acquire();
  }
  EXPECT_EQ(clock.totalSlept(), milliseconds(0));
}

}  // namespace
}  // namespace opsy::aws
