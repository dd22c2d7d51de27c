#include "opsy/kube/work_queue.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "opsy/core/fake_clock.h"

namespace opsy::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

WorkQueueOptions deterministic() {
  WorkQueueOptions o;
  o.timer_thread = false;
  o.requeue_jitter = 0;
  return o;
}

// The real clock, counting how often a thread waited on it.
class CountingRealClock : public Clock {
 public:
  TimePoint now() const override { return realClock().now(); }
  std::chrono::steady_clock::time_point steadyNow() const override {
    return realClock().steadyNow();
  }
  void sleepFor(Duration d) override { realClock().sleepFor(d); }
  void waitFor(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, Duration d,
               Duration slice) override {
    ++waits;
    realClock().waitFor(cv, lock, d, slice);
  }
  std::atomic<int> waits = 0;
};

class RecordingMetrics : public WorkQueueMetrics {
 public:
  void setDepth(std::int64_t d) override {
    std::lock_guard lock(mu);
    depth = d;
  }
  void onAdd() override {
    std::lock_guard lock(mu);
    ++adds;
  }
  void observeQueueLatency(double s) override {
    std::lock_guard lock(mu);
    latencies.push_back(s);
  }
  void observeWorkDuration(double s) override {
    std::lock_guard lock(mu);
    durations.push_back(s);
  }
  void onRetry() override {
    std::lock_guard lock(mu);
    ++retries;
  }
  void setUnfinishedWork(double total, double longest) override {
    std::lock_guard lock(mu);
    unfinished = total;
    longest_running = longest;
  }

  std::mutex mu;
  std::int64_t depth = -1;
  int adds = 0;
  int retries = 0;
  std::vector<double> latencies;
  std::vector<double> durations;
  double unfinished = -1;
  double longest_running = -1;
};

// A key added while it is already queued is handed out once.
TEST(WorkQueue, DeduplicatesQueuedKeys) {
  FakeClock clock;
  WorkQueue q(clock, deterministic());
  q.add("ns/a");
  q.add("ns/b");
  q.add("ns/a");
  EXPECT_EQ(q.len(), 2u);
  EXPECT_EQ(q.get(), "ns/a");
  EXPECT_EQ(q.get(), "ns/b");
  EXPECT_EQ(q.len(), 0u);
}

// A key re-added while a worker holds it is not handed to a second worker; it comes back once
// the first worker calls done().
TEST(WorkQueue, KeyBeingProcessedIsRequeuedAfterDone) {
  FakeClock clock;
  WorkQueue q(clock, deterministic());
  q.add("ns/a");
  ASSERT_EQ(q.get(), "ns/a");
  q.add("ns/a");
  q.add("ns/a");
  EXPECT_EQ(q.len(), 0u);
  q.done("ns/a");
  EXPECT_EQ(q.len(), 1u);
  EXPECT_EQ(q.get(), "ns/a");
  q.done("ns/a");
  EXPECT_EQ(q.len(), 0u);
}

// addAfter() holds a key until its delay has passed on the injected clock.
TEST(WorkQueue, AddAfterWaitsForTheDelay) {
  FakeClock clock;
  WorkQueue q(clock, deterministic());
  q.addAfter("ns/a", seconds(30));
  q.processDueForTest();
  EXPECT_EQ(q.len(), 0u);
  EXPECT_EQ(q.numWaiting(), 1u);
  clock.advance(seconds(29));
  q.processDueForTest();
  EXPECT_EQ(q.len(), 0u);
  clock.advance(seconds(1));
  EXPECT_EQ(q.get(), "ns/a");
  EXPECT_EQ(q.numWaiting(), 0u);
}

// When a key is scheduled twice, the earlier deadline wins, whichever came first.
TEST(WorkQueue, AddAfterEarlierDeadlineWins) {
  FakeClock clock;
  WorkQueue q(clock, deterministic());
  q.addAfter("ns/a", seconds(60));
  q.addAfter("ns/a", seconds(10));
  q.addAfter("ns/a", seconds(30));
  EXPECT_EQ(q.numWaiting(), 1u);
  clock.advance(seconds(10));
  q.processDueForTest();
  EXPECT_EQ(q.len(), 1u);
  EXPECT_EQ(q.numWaiting(), 0u);
}

// A zero or negative delay adds at once.
TEST(WorkQueue, AddAfterZeroAddsImmediately) {
  FakeClock clock;
  WorkQueue q(clock, deterministic());
  q.addAfter("ns/a", milliseconds(0));
  EXPECT_EQ(q.len(), 1u);
}

// Per-key backoff doubles from 5 ms and is capped at 1000 s; forget() resets it.
TEST(WorkQueue, PerKeyExponentialBackoff) {
  FakeClock clock;
  WorkQueueOptions o = deterministic();
  o.qps = std::numeric_limits<double>::infinity();
  WorkQueue q(clock, o);
  EXPECT_EQ(q.when("ns/a"), milliseconds(5));
  EXPECT_EQ(q.when("ns/a"), milliseconds(10));
  EXPECT_EQ(q.when("ns/a"), milliseconds(20));
  EXPECT_EQ(q.when("ns/b"), milliseconds(5));
  EXPECT_EQ(q.numRequeues("ns/a"), 3);
  for (int i = 0; i < 100; ++i) {
    (void)q.when("ns/a");
  }
  EXPECT_EQ(q.when("ns/a"), seconds(1000));
  q.forget("ns/a");
  EXPECT_EQ(q.numRequeues("ns/a"), 0);
  EXPECT_EQ(q.when("ns/a"), milliseconds(5));
}

// The overall token bucket slows retries of many keys even when each key's backoff is small.
TEST(WorkQueue, OverallBucketCapsRetryRate) {
  FakeClock clock;
  WorkQueueOptions o = deterministic();
  o.qps = 10;
  o.burst = 2;
  WorkQueue q(clock, o);
  EXPECT_EQ(q.when("ns/a"), milliseconds(5));
  EXPECT_EQ(q.when("ns/b"), milliseconds(5));
  EXPECT_EQ(q.when("ns/c"), milliseconds(100));
  EXPECT_EQ(q.when("ns/d"), milliseconds(200));
}

// addRateLimited() schedules the key after its backoff and counts a retry.
TEST(WorkQueue, AddRateLimitedSchedulesAfterBackoff) {
  FakeClock clock;
  auto metrics = std::make_shared<RecordingMetrics>();
  WorkQueueOptions o = deterministic();
  o.metrics = metrics;
  WorkQueue q(clock, o);
  q.addRateLimited("ns/a");
  q.addRateLimited("ns/a");  // 10 ms, later than the waiting 5 ms: the 5 ms deadline stays
  EXPECT_EQ(q.numRequeues("ns/a"), 2);
  EXPECT_EQ(metrics->retries, 2);
  clock.advance(milliseconds(4));
  q.processDueForTest();
  EXPECT_EQ(q.len(), 0u);
  clock.advance(milliseconds(1));
  q.processDueForTest();
  EXPECT_EQ(q.len(), 1u);
}

// After shutDown() get() returns nothing, even with keys still queued, and adds are ignored.
TEST(WorkQueue, ShutDownStopsHandingOutKeys) {
  FakeClock clock;
  WorkQueue q(clock, deterministic());
  q.add("ns/a");
  q.shutDown();
  EXPECT_TRUE(q.shuttingDown());
  EXPECT_EQ(q.get(), std::nullopt);
  q.add("ns/b");
  q.addAfter("ns/c", seconds(1));
  EXPECT_EQ(q.numWaiting(), 0u);
}

// A get() blocked on an empty queue returns nothing once the queue shuts down.
TEST(WorkQueue, ShutDownWakesBlockedGet) {
  FakeClock clock;
  WorkQueue q(clock, deterministic());
  auto got = std::async(std::launch::async, [&] { return q.get(); });
  std::this_thread::sleep_for(milliseconds(20));
  q.shutDown();
  EXPECT_EQ(got.get(), std::nullopt);
}

// A blocked get() receives a key added from another thread.
TEST(WorkQueue, AddWakesBlockedGet) {
  FakeClock clock;
  WorkQueue q(clock, deterministic());
  auto got = std::async(std::launch::async, [&] { return q.get(); });
  std::this_thread::sleep_for(milliseconds(20));
  q.add("ns/a");
  EXPECT_EQ(got.get(), "ns/a");
}

// shutDownWithDrain() returns only after every key handed out has been marked done.
TEST(WorkQueue, ShutDownWithDrainWaitsForInFlightKeys) {
  FakeClock clock;
  WorkQueue q(clock, deterministic());
  q.add("ns/a");
  ASSERT_EQ(q.get(), "ns/a");
  std::atomic<bool> drained{false};
  std::thread drainer([&] {
    q.shutDownWithDrain();
    drained = true;
  });
  std::this_thread::sleep_for(milliseconds(30));
  EXPECT_FALSE(drained.load());
  EXPECT_EQ(q.get(), std::nullopt);
  q.done("ns/a");
  drainer.join();
  EXPECT_TRUE(drained.load());
}

// The timer thread moves a due key to the queue and wakes a worker blocked in get().
TEST(WorkQueue, TimerThreadWakesBlockedGetWhenDelayPasses) {
  FakeClock clock;
  clock.autoAdvance(false);
  {
    WorkQueue q(clock, WorkQueueOptions{});
    q.addAfter("ns/a", seconds(5));
    auto got = std::async(std::launch::async, [&] { return q.get(); });
    EXPECT_EQ(got.wait_for(milliseconds(30)), std::future_status::timeout);
    clock.advance(seconds(5));
    EXPECT_EQ(got.get(), "ns/a");
    // Let the timer thread, asleep on the fake clock, return so the queue can be destroyed.
    q.shutDown();
    clock.autoAdvance(true);
  }
}

// Metrics see adds (not de-duplicated ones), depth, queue latency, work duration and the
// running time of unfinished work.
TEST(WorkQueue, ReportsMetrics) {
  FakeClock clock;
  auto metrics = std::make_shared<RecordingMetrics>();
  WorkQueueOptions o = deterministic();
  o.metrics = metrics;
  WorkQueue q(clock, o);
  q.add("ns/a");
  q.add("ns/a");
  q.add("ns/b");
  EXPECT_EQ(metrics->adds, 2);
  EXPECT_EQ(metrics->depth, 2);
  clock.advance(seconds(3));
  ASSERT_EQ(q.get(), "ns/a");
  EXPECT_EQ(metrics->depth, 1);
  ASSERT_THAT(metrics->latencies, testing::ElementsAre(3.0));
  clock.advance(seconds(2));
  ASSERT_EQ(q.get(), "ns/b");
  clock.advance(seconds(4));
  q.updateUnfinishedWorkMetrics();
  EXPECT_DOUBLE_EQ(metrics->unfinished, 6.0 + 4.0);
  EXPECT_DOUBLE_EQ(metrics->longest_running, 6.0);
  q.done("ns/a");
  EXPECT_THAT(metrics->durations, testing::ElementsAre(6.0));
}

// Outcomes map like controller-runtime: error -> rate-limited retry; success and terminal
// errors forget the backoff without a retry; requeue_after forgets and schedules the key.
TEST(WorkQueue, OutcomeMapping) {
  FakeClock clock;
  WorkQueue q(clock, deterministic());

  applyOutcome(q, "ns/err", WorkOutcome::failed(Error(ErrorCode::Unavailable, "down")));
  EXPECT_EQ(q.numRequeues("ns/err"), 1);
  EXPECT_EQ(q.numWaiting(), 1u);

  applyOutcome(q, "ns/err", WorkOutcome::success());
  EXPECT_EQ(q.numRequeues("ns/err"), 0);

  (void)q.when("ns/term");
  applyOutcome(q, "ns/term", WorkOutcome::terminal(Error(ErrorCode::InvalidArgument, "bad")));
  EXPECT_EQ(q.numRequeues("ns/term"), 0);
  EXPECT_EQ(q.numWaiting(), 1u);

  (void)q.when("ns/later");
  applyOutcome(q, "ns/later", WorkOutcome::requeueAfter(seconds(30)));
  EXPECT_EQ(q.numRequeues("ns/later"), 0);
  EXPECT_EQ(q.numWaiting(), 2u);
  clock.advance(seconds(30));
  q.processDueForTest();
  EXPECT_EQ(q.len(), 2u);  // ns/err (5 ms) and ns/later (30 s)
}

// Requeues are spread by ±10%: keys reconciled together do not all come back together, and none
// comes back outside the band.
TEST(WorkQueue, RequeueAfterIsJitteredWithinTenPercent) {
  FakeClock clock;
  WorkQueueOptions o = deterministic();
  o.requeue_jitter = 0.1;
  o.jitter_seed = 42;
  WorkQueue q(clock, o);
  std::set<Duration::rep> delays;
  for (int i = 0; i < 1000; ++i) {
    Duration d = q.jittered(seconds(10));
    ASSERT_GE(d, milliseconds(9000));
    ASSERT_LE(d, milliseconds(11000));
    delays.insert(d.count());
  }
  EXPECT_GT(delays.size(), 500u);
  EXPECT_LT(*delays.begin(), 9200);
  EXPECT_GT(*delays.rbegin(), 10800);
  applyOutcome(q, "ns/a", WorkOutcome::requeueAfter(seconds(10)));
  clock.advance(milliseconds(8999));
  q.processDueForTest();
  EXPECT_EQ(q.len(), 0u);
  clock.advance(milliseconds(2001));
  q.processDueForTest();
  EXPECT_EQ(q.len(), 1u);
}

// An idle queue's timer thread sleeps until its next deadline instead of waking every few
// milliseconds, and a new, earlier deadline wakes it.
TEST(WorkQueue, IdleTimerSleepsUntilTheNextDeadline) {
  CountingRealClock clock;
  WorkQueueOptions o;
  o.timer_resolution = milliseconds(1);  // the old loop would wake 1000 times a second
  WorkQueue q(clock, o);
  q.addAfter("ns/later", seconds(3600));
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_LE(clock.waits.load(), 4);  // start, the metrics refresh, the new deadline

  const int before = clock.waits.load();
  q.addAfter("ns/soon", milliseconds(20));
  auto key = std::async(std::launch::async, [&] { return q.get(); });
  ASSERT_EQ(key.wait_for(seconds(10)), std::future_status::ready);  // not after 60 s or 1 h
  EXPECT_EQ(key.get(), std::optional<std::string>("ns/soon"));
  EXPECT_LE(clock.waits.load() - before, 4);
  q.done("ns/soon");
}

// Workers process every key, never one key on two workers at once, and retry failures until
// they succeed.
TEST(WorkQueue, WorkersNeverProcessAKeyConcurrently) {
  WorkQueueOptions o;
  o.base_delay = milliseconds(1);
  o.timer_resolution = milliseconds(1);
  WorkQueue q(realClock(), o);
  std::mutex mu;
  std::set<std::string> in_flight;
  std::map<std::string, int> calls;
  bool overlap = false;
  std::atomic<int> succeeded{0};
  auto workers = runWorkers(q, 4, [&](const std::string& key) {
    {
      std::lock_guard lock(mu);
      overlap |= !in_flight.insert(key).second;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    int n = 0;
    {
      std::lock_guard lock(mu);
      in_flight.erase(key);
      n = ++calls[key];
    }
    if (n < 3) {
      return WorkOutcome::failed(Error(ErrorCode::Unavailable, "not yet"));
    }
    ++succeeded;
    return WorkOutcome::success();
  });
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 20; ++i) {
      q.add("ns/obj-" + std::to_string(i));
    }
  }
  for (int i = 0; i < 2000 && succeeded.load() < 20; ++i) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  q.shutDownWithDrain();
  workers.join();
  EXPECT_FALSE(overlap);
  EXPECT_EQ(succeeded.load(), 20);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(q.numRequeues("ns/obj-" + std::to_string(i)), 0);
  }
}

}  // namespace
}  // namespace opsy::kube
