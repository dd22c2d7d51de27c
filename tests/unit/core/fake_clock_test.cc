#include "opsy/core/fake_clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace opsy {
namespace {

using std::chrono::seconds;

// In auto-advance mode a sleep moves time forward at once and is recorded.
TEST(FakeClock, AutoAdvanceSleepMovesTime) {
  FakeClock clock;
  TimePoint t0 = clock.now();
  auto s0 = clock.steadyNow();
  clock.sleepFor(seconds(5));
  EXPECT_EQ(clock.now() - t0, seconds(5));
  EXPECT_EQ(clock.steadyNow() - s0, seconds(5));
  EXPECT_EQ(clock.totalSlept(), seconds(5));
}

// With auto-advance off, a sleeping thread wakes only once another thread advances time enough.
TEST(FakeClock, ManualModeBlocksUntilAdvanced) {
  FakeClock clock;
  clock.autoAdvance(false);
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    clock.sleepFor(seconds(10));
    woke = true;
  });
  ASSERT_TRUE(clock.waitForSleepers(1));
  clock.advance(seconds(9));
  // Still asleep on a wake-up time ahead of the clock.
  ASSERT_TRUE(clock.waitForSleepers(1));
  EXPECT_FALSE(woke.load());
  clock.advance(seconds(1));
  sleeper.join();
  EXPECT_TRUE(woke.load());
}

// advanceAndSettle() returns only after every thread the step woke has run and slept again.
TEST(FakeClock, AdvanceAndSettleWaitsUntilWokenThreadsSleepAgain) {
  FakeClock clock;
  clock.autoAdvance(false);
  std::atomic<bool> stop{false};
  std::atomic<int> fast_rounds{0};
  std::atomic<int> slow_rounds{0};
  auto loop = [&](Duration period, std::atomic<int>& rounds) {
    while (!stop) {
      clock.sleepFor(period);
      ++rounds;
    }
  };
  std::thread fast([&] { loop(std::chrono::milliseconds(100), fast_rounds); });
  std::thread slow([&] { loop(std::chrono::milliseconds(300), slow_rounds); });
  ASSERT_TRUE(clock.waitForSleepers(2));
  for (int step = 1; step <= 30; ++step) {
    ASSERT_TRUE(clock.advanceAndSettle(std::chrono::milliseconds(100), 2));
    ASSERT_EQ(fast_rounds.load(), step);
    ASSERT_EQ(slow_rounds.load(), step / 3);
  }
  stop = true;
  clock.autoAdvance(true);
  fast.join();
  slow.join();
}

// A thread that never sleeps again is reported, not waited for forever.
TEST(FakeClock, WaitForSleepersTimesOut) {
  FakeClock clock;
  clock.autoAdvance(false);
  EXPECT_FALSE(clock.waitForSleepers(1, std::chrono::milliseconds(1)));
  EXPECT_TRUE(clock.waitForSleepers(0, std::chrono::milliseconds(1)));
}

// Setting wall time (a clock jump) does not move monotonic time.
TEST(FakeClock, WallJumpLeavesMonotonicAlone) {
  FakeClock clock;
  auto s0 = clock.steadyNow();
  clock.setNow(clock.now() - std::chrono::hours(1));
  EXPECT_EQ(clock.steadyNow(), s0);
}

// The real clock is monotonic and close to the system clock.
TEST(RealClock, NowIsCurrent) {
  auto diff = realClock().now() - std::chrono::time_point_cast<std::chrono::microseconds>(
                                      std::chrono::system_clock::now());
  EXPECT_LT(std::chrono::abs(diff), seconds(1));
}

}  // namespace
}  // namespace opsy
