#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "opsy/core/fake_clock.h"
#include "opsy/notify/notifier.h"

namespace opsy::notify {
namespace {

// A destination that is down: every send fails as retryable and remembers the ids it saw.
class DownSender : public Sender {
 public:
  std::string name() const override { return "down"; }
  Status send(const Notification& n) override {
    std::lock_guard lock(mu_);
    ids_.push_back(n.id);
    return fail(ErrorCode::Unavailable, "connection refused");
  }
  std::vector<std::string> ids() const {
    std::lock_guard lock(mu_);
    return ids_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> ids_;
};

// Every attempt of one notification carries the same id and time; different notifications get
// different ids.
TEST(AsyncNotifier, RetriesKeepTheDeliveryIdAndTime) {
  FakeClock clock;  // auto-advance: backoff sleeps move fake time only
  auto sender = std::make_unique<DownSender>();
  DownSender* down = sender.get();
  AsyncNotifier notifier(std::move(sender), clock);
  notifier.notify({.title = "a"});
  notifier.flush();
  notifier.notify({.title = "b"});
  notifier.flush();

  std::vector<std::string> ids = down->ids();
  ASSERT_EQ(ids.size(), 6U);  // three attempts each
  EXPECT_EQ(ids[0], ids[1]);
  EXPECT_EQ(ids[1], ids[2]);
  EXPECT_EQ(ids[3], ids[5]);
  EXPECT_NE(ids[0], ids[3]);
  EXPECT_EQ(ids[0].size(), 32U);
  EXPECT_EQ(notifier.failed(), 2U);
}

// A caller's own id is kept (a resend of the same event deduplicates at the receiver).
TEST(AsyncNotifier, KeepsACallersId) {
  FakeClock clock;
  auto sender = std::make_unique<DownSender>();
  DownSender* down = sender.get();
  AsyncNotifier notifier(std::move(sender), clock, {.retry = {.max_attempts = 1}});
  notifier.notify({.title = "a", .id = "build-42"});
  notifier.flush();
  EXPECT_THAT(down->ids(), ::testing::ElementsAre("build-42"));
}

// Stopping with a dead destination does not wait out every queued notification: after the drain
// timeout the rest are dropped and counted, so shutdown stays within the pod's grace period.
TEST(AsyncNotifier, ShutdownDropsWhatTheDrainTimeoutCannotDeliver) {
  FakeClock clock;  // each failed attempt's backoff advances the fake clock past the deadline
  std::mutex mu;
  std::multiset<std::string> outcomes;
  {
    AsyncNotifier notifier(std::make_unique<DownSender>(), clock,
                           {.observer =
                                [&](std::string_view, Delivery d) {
                                  std::lock_guard lock(mu);
                                  outcomes.insert(std::string(toString(d)));
                                },
                            .drain_timeout = std::chrono::milliseconds(1)});
    for (int i = 0; i < 20; ++i) {
      notifier.notify({.title = "build failed"});
    }
  }  // the destructor returns although the destination never answers
  std::lock_guard lock(mu);
  EXPECT_EQ(outcomes.size(), 20U);
  EXPECT_GE(outcomes.count("dropped"), 18U);
  EXPECT_EQ(outcomes.count("sent"), 0U);
}

// A full queue drops new notifications and reports them, without blocking the caller.
TEST(AsyncNotifier, FullQueueDropsAndReports) {
  FakeClock clock;
  clock.autoAdvance(false);  // the first send's backoff blocks, so the queue fills up
  std::atomic<int> dropped{0};
  {
    AsyncNotifier notifier(std::make_unique<DownSender>(), clock,
                           {.max_queue = 2,
                            .observer =
                                [&](std::string_view, Delivery d) {
                                  if (d == Delivery::Dropped) {
                                    ++dropped;
                                  }
                                },
                            .drain_timeout = std::chrono::milliseconds(0)});
    for (int i = 0; i < 10; ++i) {
      notifier.notify({.title = "x"});
    }
    EXPECT_GE(dropped.load(), 7);
    EXPECT_EQ(notifier.dropped(), static_cast<uint64_t>(dropped.load()));
    clock.autoAdvance(true);  // let the blocked backoff finish so the destructor can return
    clock.advance(std::chrono::minutes(1));
  }
}

}  // namespace
}  // namespace opsy::notify
