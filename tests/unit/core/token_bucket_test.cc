#include "opsy/core/token_bucket.h"

#include <gtest/gtest.h>

#include <limits>
#include <thread>
#include <vector>

#include "opsy/core/fake_clock.h"

namespace opsy {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A fresh bucket allows a burst of calls at once and then refuses until time refills it.
TEST(TokenBucket, FullBurstThenEmpty) {
  FakeClock clock;
  TokenBucket bucket(clock, 10, 3);
  EXPECT_TRUE(bucket.tryTake());
  EXPECT_TRUE(bucket.tryTake());
  EXPECT_TRUE(bucket.tryTake());
  EXPECT_FALSE(bucket.tryTake());
  clock.advance(milliseconds(99));
  EXPECT_FALSE(bucket.tryTake());
  clock.advance(milliseconds(1));
  EXPECT_TRUE(bucket.tryTake());
  EXPECT_FALSE(bucket.tryTake());
}

// Refill never exceeds the burst, however long the bucket sat idle.
TEST(TokenBucket, RefillCapsAtBurst) {
  FakeClock clock;
  TokenBucket bucket(clock, 100, 5);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(bucket.tryTake());
  }
  clock.advance(std::chrono::hours(1));
  EXPECT_DOUBLE_EQ(bucket.available(), 5.0);
  int taken = 0;
  while (bucket.tryTake()) {
    ++taken;
  }
  EXPECT_EQ(taken, 5);
}

// reserve() spends into debt and returns queued waits of 1/rate each past the empty point.
TEST(TokenBucket, ReserveReturnsQueuedWaits) {
  FakeClock clock;
  TokenBucket bucket(clock, 4, 1);
  EXPECT_EQ(bucket.reserve(), milliseconds(0));
  EXPECT_EQ(bucket.reserve(), milliseconds(250));
  EXPECT_EQ(bucket.reserve(), milliseconds(500));
  EXPECT_LT(bucket.available(), 0.0);
  // tryTake() does not go into debt: nothing is available until the reservations are paid.
  EXPECT_FALSE(bucket.tryTake());
  clock.advance(milliseconds(500));
  EXPECT_FALSE(bucket.tryTake());
  clock.advance(milliseconds(250));
  EXPECT_TRUE(bucket.tryTake());
}

// Fractional waits round up to the next millisecond, so a caller never wakes before its token.
TEST(TokenBucket, ReserveRoundsUp) {
  FakeClock clock;
  TokenBucket bucket(clock, 3, 1);
  ASSERT_EQ(bucket.reserve(), milliseconds(0));
  EXPECT_EQ(bucket.reserve(), milliseconds(334));
}

// take() sleeps on the injected clock for exactly the reserved wait.
TEST(TokenBucket, TakeSleepsOnClock) {
  FakeClock clock;
  TokenBucket bucket(clock, 2, 2);
  bucket.take();
  bucket.take();
  EXPECT_EQ(clock.totalSlept(), milliseconds(0));
  bucket.take();
  EXPECT_EQ(clock.totalSlept(), milliseconds(500));
  bucket.take();
  EXPECT_EQ(clock.totalSlept(), milliseconds(1000));
}

// An infinite rate never limits.
TEST(TokenBucket, InfiniteRateNeverLimits) {
  FakeClock clock;
  TokenBucket bucket(clock, std::numeric_limits<double>::infinity(), 1);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(bucket.tryTake());
  }
  EXPECT_EQ(bucket.reserve(), milliseconds(0));
}

// Concurrent callers never take more tokens than the burst plus what time refilled.
TEST(TokenBucket, ConcurrentTakersShareTheBurst) {
  FakeClock clock;
  TokenBucket bucket(clock, 1, 100);
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        if (bucket.tryTake()) {
          ++granted;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(granted.load(), 100);
}

}  // namespace
}  // namespace opsy
