#include "opsy/runtime/shutdown.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

namespace opsy::runtime {
namespace {

// The latch is one-way and keeps the first reason.
TEST(Shutdown, FirstReasonWins) {
  Shutdown s;
  EXPECT_FALSE(s.requested());
  EXPECT_FALSE(s.waitFor(std::chrono::milliseconds(1)));
  s.request("signal Terminated");
  s.request("later");
  EXPECT_TRUE(s.requested());
  EXPECT_EQ(s.reason(), "signal Terminated");
  EXPECT_TRUE(s.waitFor(std::chrono::milliseconds(1)));
}

// Waiters on other threads wake when shutdown is requested.
TEST(Shutdown, WakesWaiters) {
  Shutdown s;
  std::thread waiter([&] { s.wait(); });
  s.request("test");
  waiter.join();
  SUCCEED();
}

// SIGTERM sent to the process becomes a shutdown request instead of killing it.
TEST(SignalHandler, SigtermRequestsShutdown) {
  Shutdown s;
  SignalHandler handler(s);
  ASSERT_EQ(kill(getpid(), SIGTERM), 0);
  ASSERT_TRUE(s.waitFor(std::chrono::seconds(5)));
  EXPECT_EQ(s.reason(), "signal Terminated");
}

}  // namespace
}  // namespace opsy::runtime
