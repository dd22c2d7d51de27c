#include "opsy/core/fake_clock.h"

#include <gtest/gtest.h>

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
  while (clock.sleepers() == 0) {
    std::this_thread::yield();
  }
  clock.advance(seconds(9));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(woke.load());
  clock.advance(seconds(1));
  sleeper.join();
  EXPECT_TRUE(woke.load());
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
