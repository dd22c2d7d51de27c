#include "opsy/kube/leader_election.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "mocks/kube/controller_mocks.h"
#include "opsy/core/fake_clock.h"
#include "opsy/core/log.h"
#include "support/in_memory_lease_store.h"

namespace opsy::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyTime = std::chrono::steady_clock::time_point;

// A simulated group of processes competing for one lease, driven step by step on one thread.
// Each process has its own store (own faults), ticks when its retry timer is due, and is frozen
// while stalled; its watchdog (checkDeadline) runs on every step even while frozen, as the
// watchdog thread of run() does. After every step at most one live process may believe it leads.
class Cluster {
 public:
  struct Node {
    std::string name;
    int generation = 0;
    std::unique_ptr<InMemoryLeaseStore> store;
    LeaderElectorPtr elector;
    bool alive = false;
    bool believes = false;
    SteadyTime next_tick{};
    SteadyTime frozen_until{};
    SteadyTime restart_at{};
    SteadyTime partitioned_until{};
    int started = 0;
  };

  Cluster(
      FakeClock& clock, int nodes, std::function<double()> random = [] { return 0.0; })
      : clock_(clock), lease_(std::make_shared<InMemoryLease>()), random_(std::move(random)) {
    for (int i = 0; i < nodes; ++i) {
      nodes_.emplace_back();
      nodes_.back().name = std::string(1, static_cast<char>('a' + i));
    }
  }

  void start(int i) {
    Node& n = nodes_[static_cast<std::size_t>(i)];
    ++n.generation;
    n.store = std::make_unique<InMemoryLeaseStore>(lease_, clock_);
    LeaderElectionConfig config;
    config.identity = identity(i);
    config.random = random_;
    LeaderCallbacks callbacks;
    callbacks.on_started_leading = [this, i] { onStarted(i); };
    callbacks.on_stopped_leading = [this, i] { onStopped(i); };
    auto elector = LeaderElector::create(config, *n.store, clock_, callbacks);
    ASSERT_TRUE(elector.has_value()) << elector.error().toString();
    n.elector = std::move(*elector);
    n.alive = true;
    n.believes = false;
    n.next_tick = clock_.steadyNow();
    n.frozen_until = {};
  }

  std::string identity(int i) const {
    const Node& n = nodes_[static_cast<std::size_t>(i)];
    return n.name + "-" + std::to_string(n.generation);
  }

  // The process dies: no release, no callbacks, no further ticks.
  void crash(int i) {
    Node& n = nodes_[static_cast<std::size_t>(i)];
    n.alive = false;
    n.believes = false;
    n.elector.reset();
    events_.push_back(identity(i) + " crashed");
  }

  // The process shuts down gracefully and releases the lease.
  void stopGracefully(int i) {
    Node& n = nodes_[static_cast<std::size_t>(i)];
    (void)n.elector->release();  // a failed release leaves the lease to expire; both are graceful
    EXPECT_FALSE(n.believes);
    n.alive = false;
    n.elector.reset();
    events_.push_back(identity(i) + " exited");
  }

  void freeze(int i, Duration d) {
    nodes_[static_cast<std::size_t>(i)].frozen_until = clock_.steadyNow() + d;
  }

  // One instant of simulated time: watchdogs, then every due and unfrozen process ticks, then
  // watchdogs again; the invariant is checked after it.
  void step(Duration dt) {
    clock_.advance(dt);
    const SteadyTime now = clock_.steadyNow();
    watchdogs();
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      Node& n = nodes_[i];
      if (n.alive && now >= n.frozen_until && now >= n.next_tick) {
        n.next_tick = now + n.elector->tick();
      }
      watchdogs();
    }
    checkInvariant();
  }

  void runFor(Duration total, Duration dt = milliseconds(100)) {
    for (Duration t{0}; t < total; t += dt) {
      step(dt);
    }
  }

  int leaders() const {
    int count = 0;
    for (const Node& n : nodes_) {
      count += (n.alive && n.believes) ? 1 : 0;
    }
    return count;
  }

  // Index of the single believing leader, or -1.
  int leader() const {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].alive && nodes_[i].believes) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }

  Node& node(int i) { return nodes_[static_cast<std::size_t>(i)]; }
  std::vector<Node>& nodes() { return nodes_; }
  InMemoryLease& lease() { return *lease_; }
  const std::vector<std::string>& events() const { return events_; }
  const std::vector<std::string>& violations() const { return violations_; }
  std::optional<SteadyTime> lastStart(int i) const { return last_start_.at(i); }
  std::optional<SteadyTime> lastStop(int i) const { return last_stop_.at(i); }
  int acquisitions() const { return acquisitions_; }

 private:
  void watchdogs() {
    for (Node& n : nodes_) {
      if (n.alive) {
        n.elector->checkDeadline();
      }
    }
  }

  void onStarted(int i) {
    Node& n = node(i);
    n.believes = true;
    ++n.started;
    ++acquisitions_;
    last_start_[i] = clock_.steadyNow();
    events_.push_back(identity(i) + " started");
    checkInvariant();  // at the very instant leadership begins
  }

  void onStopped(int i) {
    node(i).believes = false;
    last_stop_[i] = clock_.steadyNow();
    events_.push_back(identity(i) + " stopped");
  }

  void checkInvariant() {
    int believers = 0;
    std::string who;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      const Node& n = nodes_[i];
      if (n.alive && (n.believes || n.elector->isLeader())) {
        ++believers;
        who += " " + identity(static_cast<int>(i));
      }
    }
    if (believers > 1) {
      violations_.push_back("two leaders at once:" + who);
    }
  }

  FakeClock& clock_;
  std::shared_ptr<InMemoryLease> lease_;
  std::function<double()> random_;
  std::vector<Node> nodes_;
  std::vector<std::string> events_;
  std::vector<std::string> violations_;
  std::map<int, std::optional<SteadyTime>> last_start_{{0, {}}, {1, {}}, {2, {}}};
  std::map<int, std::optional<SteadyTime>> last_stop_{{0, {}}, {1, {}}, {2, {}}};
  int acquisitions_ = 0;
};

struct ConfigCase {
  std::string name;
  Duration lease;
  Duration renew;
  Duration retry;
  bool valid;
};

// The timing rules of client-go: lease > renew deadline > 1.2 x retry; a whole-second lease.
TEST(LeaderElectionConfig, ValidatesTimings) {
  const std::vector<ConfigCase> cases = {
      {"defaults", seconds(15), seconds(10), seconds(2), true},
      {"lease equal to deadline", seconds(10), seconds(10), seconds(2), false},
      {"lease below deadline", seconds(5), seconds(10), seconds(2), false},
      {"deadline equal to 1.2 x retry", seconds(15), milliseconds(2400), seconds(2), false},
      {"deadline just above 1.2 x retry", seconds(15), milliseconds(2401), seconds(2), true},
      {"fractional lease", milliseconds(15500), seconds(10), seconds(2), false},
      {"zero retry", seconds(15), seconds(10), seconds(0), false},
  };
  for (const auto& c : cases) {
    LeaderElectionConfig config;
    config.identity = "a";
    config.lease_duration = c.lease;
    config.renew_deadline = c.renew;
    config.retry_period = c.retry;
    EXPECT_EQ(validate(config).has_value(), c.valid) << c.name;
  }
  LeaderElectionConfig anonymous;
  EXPECT_FALSE(validate(anonymous).has_value());
}

// The first candidate creates the lease and leads; the other observes it and follows, and keeps
// following while the leader renews.
TEST(LeaderElection, TwoCandidatesOneLeader) {
  FakeClock clock;
  Cluster c(clock, 2);
  std::vector<std::string> seen;
  c.start(0);
  c.start(1);
  c.runFor(seconds(60));
  EXPECT_EQ(c.leader(), 0);
  EXPECT_EQ(c.node(0).started, 1);
  EXPECT_EQ(c.node(1).started, 0);
  EXPECT_EQ(c.node(1).elector->observedLeader(), "a-1");
  ASSERT_TRUE(c.lease().peek().has_value());
  EXPECT_EQ(c.lease().peek()->holder_identity, "a-1");
  EXPECT_EQ(c.lease().peek()->lease_duration_seconds, 15);
  EXPECT_EQ(c.lease().peek()->lease_transitions, 0);
  EXPECT_THAT(c.violations(), testing::IsEmpty());
}

// Every candidate reports the holder it observes through on_new_leader.
TEST(LeaderElection, ReportsNewLeader) {
  FakeClock clock;
  auto lease = std::make_shared<InMemoryLease>();
  InMemoryLeaseStore store_a(lease, clock);
  InMemoryLeaseStore store_b(lease, clock);
  std::vector<std::string> seen_by_b;
  LeaderElectionConfig config;
  config.identity = "a";
  auto a = LeaderElector::create(config, store_a, clock, {}).value();
  config.identity = "b";
  LeaderCallbacks callbacks;
  callbacks.on_new_leader = [&](const std::string& id) { seen_by_b.push_back(id); };
  auto b = LeaderElector::create(config, store_b, clock, callbacks).value();
  (void)a->tick();
  (void)b->tick();
  (void)b->tick();
  EXPECT_THAT(seen_by_b, testing::ElementsAre("a"));
}

// With three candidates exactly one leads and the followers never take over a renewed lease.
TEST(LeaderElection, ThreeCandidatesOneLeader) {
  FakeClock clock;
  std::mt19937_64 rng(7);
  Cluster c(clock, 3, [&] { return std::uniform_real_distribution<double>(0, 1)(rng); });
  c.start(0);
  c.start(1);
  c.start(2);
  c.runFor(seconds(120));
  EXPECT_EQ(c.leaders(), 1);
  EXPECT_EQ(c.acquisitions(), 1);
  EXPECT_EQ(c.lease().peek()->lease_transitions, 0);
  EXPECT_THAT(c.violations(), testing::IsEmpty());
}

// Renewals keep acquireTime and leaseTransitions and move renewTime.
TEST(LeaderElection, RenewalKeepsAcquireTime) {
  FakeClock clock;
  Cluster c(clock, 1);
  c.start(0);
  c.step(milliseconds(100));
  const LeaseRecord first = *c.lease().peek();
  c.runFor(seconds(10));
  const LeaseRecord later = *c.lease().peek();
  EXPECT_EQ(later.acquire_time, first.acquire_time);
  EXPECT_GT(*later.renew_time, *first.renew_time);
  EXPECT_EQ(later.lease_transitions, 0);
  EXPECT_NE(later.resource_version, first.resource_version);
}

// A leader stopped gracefully steps down, then writes an empty holder with a 1 s lease, so a
// standby takes over at its next attempt instead of waiting out the lease.
TEST(LeaderElection, GracefulStopHandsOverFast) {
  FakeClock clock;
  Cluster c(clock, 2);
  c.start(0);
  c.start(1);
  c.runFor(seconds(20));
  ASSERT_EQ(c.leader(), 0);
  c.stopGracefully(0);
  const LeaseRecord released = *c.lease().peek();
  EXPECT_EQ(released.holder_identity, "");
  EXPECT_EQ(released.lease_duration_seconds, 1);
  const SteadyTime stopped_at = clock.steadyNow();
  c.runFor(seconds(5));
  ASSERT_EQ(c.leader(), 1);
  EXPECT_LE(*c.lastStart(1) - stopped_at, seconds(3));
  EXPECT_EQ(c.lease().peek()->holder_identity, "b-1");
  EXPECT_EQ(c.lease().peek()->lease_transitions, 1);
  EXPECT_THAT(c.events(),
              testing::ElementsAre("a-1 started", "a-1 stopped", "a-1 exited", "b-1 started"));
  EXPECT_THAT(c.violations(), testing::IsEmpty());
}

// A crashed leader's lease is taken over only once it has gone unrenewed for the lease duration
// as measured by the standby.
TEST(LeaderElection, CrashedLeaderHandsOverAfterLeaseDuration) {
  FakeClock clock;
  Cluster c(clock, 2);
  c.start(0);
  c.start(1);
  c.runFor(seconds(20));
  ASSERT_EQ(c.leader(), 0);
  c.crash(0);
  const SteadyTime crashed_at = clock.steadyNow();
  c.runFor(seconds(12));
  EXPECT_EQ(c.leader(), -1);
  c.runFor(seconds(10));
  ASSERT_EQ(c.leader(), 1);
  // The last renewal was at most one retry period before the crash, and the standby saw it at
  // most one retry period after it was written.
  EXPECT_GE(*c.lastStart(1) - crashed_at, seconds(15) - seconds(2));
  EXPECT_LE(*c.lastStart(1) - crashed_at, seconds(15) + seconds(2));
  EXPECT_EQ(c.lease().peek()->lease_transitions, 1);
  EXPECT_THAT(c.violations(), testing::IsEmpty());
}

// A leader stalled longer than the renew deadline steps down on its own (its watchdog needs no
// I/O) before the standby can acquire; when the stall ends it finds the new leader and follows.
TEST(LeaderElection, StalledLeaderStepsDownBeforeTakeover) {
  FakeClock clock;
  Cluster c(clock, 2);
  c.start(0);
  c.start(1);
  c.runFor(seconds(20));
  ASSERT_EQ(c.leader(), 0);
  c.freeze(0, seconds(40));
  c.runFor(seconds(45));
  ASSERT_TRUE(c.lastStop(0).has_value());
  ASSERT_TRUE(c.lastStart(1).has_value());
  EXPECT_LT(*c.lastStop(0), *c.lastStart(1));
  // Stepped down within the renew deadline of the last renewal, which was < 2 s before the stall.
  EXPECT_GE(*c.lastStart(1) - *c.lastStop(0), seconds(15) - seconds(10) - seconds(2));
  EXPECT_EQ(c.leader(), 1);
  EXPECT_EQ(c.node(0).elector->observedLeader(), "b-1");
  EXPECT_THAT(c.violations(), testing::IsEmpty());
}

// A leader cut off from the API server keeps failing to renew, steps down at the renew deadline,
// and follows the new leader once the partition heals.
TEST(LeaderElection, PartitionedLeaderStepsDown) {
  FakeClock clock;
  Cluster c(clock, 2);
  c.start(0);
  c.start(1);
  c.runFor(seconds(20));
  ASSERT_EQ(c.leader(), 0);
  c.node(0).store->setPartitioned(true);
  c.runFor(seconds(11));
  EXPECT_EQ(c.leaders(), 0);
  c.runFor(seconds(10));
  EXPECT_EQ(c.leader(), 1);
  c.node(0).store->setPartitioned(false);
  c.runFor(seconds(10));
  EXPECT_EQ(c.leader(), 1);
  EXPECT_THAT(c.violations(), testing::IsEmpty());
}

// Expiry is measured on the candidate's own clock from when it observed the record, never from
// renewTime: a record stamped an hour in the past (or future) still gets the full lease duration.
TEST(LeaderElection, ExpiryIgnoresRenewTime) {
  for (const auto skew : {-std::chrono::hours(1), std::chrono::hours(1)}) {
    FakeClock clock;
    Cluster c(clock, 1);
    LeaseRecord ghost;
    ghost.holder_identity = "ghost";
    ghost.lease_duration_seconds = 15;
    ghost.acquire_time = clock.now() + skew;
    ghost.renew_time = clock.now() + skew;
    c.lease().put(ghost);
    c.start(0);
    c.runFor(seconds(14));
    EXPECT_EQ(c.leader(), -1);
    c.runFor(seconds(3));
    EXPECT_EQ(c.leader(), 0);
    EXPECT_EQ(c.lease().peek()->lease_transitions, 1);
  }
}

// Any change to the record restarts the observation window, even with the same holder.
TEST(LeaderElection, RecordChangeRestartsExpiry) {
  FakeClock clock;
  Cluster c(clock, 1);
  LeaseRecord ghost;
  ghost.holder_identity = "ghost";
  ghost.lease_duration_seconds = 15;
  c.lease().put(ghost);
  c.start(0);
  c.runFor(seconds(10));
  ghost.renew_time = clock.now();
  c.lease().put(ghost);  // the holder renewed
  c.runFor(seconds(10));
  EXPECT_EQ(c.leader(), -1);
  c.runFor(seconds(8));
  EXPECT_EQ(c.leader(), 0);
}

// A LeaseStore that runs a hook just before an update goes out, to interleave candidates.
class HookedStore : public LeaseStore {
 public:
  explicit HookedStore(LeaseStore& inner) : inner_(inner) {}
  Result<LeaseRecord> get() override { return inner_.get(); }
  Result<LeaseRecord> create(const LeaseRecord& r) override { return inner_.create(r); }
  Result<LeaseRecord> update(const LeaseRecord& r) override {
    if (before_update) {
      auto hook = std::move(before_update);
      before_update = nullptr;
      hook();
    }
    last_update = inner_.update(r);
    return last_update;
  }
  std::string describe() const override { return inner_.describe(); }

  std::function<void()> before_update;
  Result<LeaseRecord> last_update = fail(ErrorCode::Internal, "no update yet");

 private:
  LeaseStore& inner_;
};

// Two candidates that both see an expired lease race; the update carrying the stale
// resourceVersion gets a Conflict and that candidate does not lead.
TEST(LeaderElection, ConflictMeansLostRace) {
  FakeClock clock;
  auto lease = std::make_shared<InMemoryLease>();
  LeaseRecord ghost;
  ghost.holder_identity = "ghost";
  ghost.lease_duration_seconds = 15;
  lease->put(ghost);
  InMemoryLeaseStore raw_a(lease, clock);
  InMemoryLeaseStore raw_b(lease, clock);
  HookedStore store_b(raw_b);
  LeaderElectionConfig config;
  config.identity = "a";
  auto a = LeaderElector::create(config, raw_a, clock, {}).value();
  config.identity = "b";
  auto b = LeaderElector::create(config, store_b, clock, {}).value();
  (void)a->tick();
  (void)b->tick();
  clock.advance(seconds(16));
  store_b.before_update = [&] { (void)a->tick(); };
  (void)b->tick();
  EXPECT_TRUE(a->isLeader());
  EXPECT_FALSE(b->isLeader());
  ASSERT_FALSE(store_b.last_update.has_value());
  EXPECT_EQ(store_b.last_update.error().code, ErrorCode::Conflict);
  EXPECT_EQ(lease->peek()->holder_identity, "a");
  EXPECT_EQ(lease->peek()->lease_transitions, 1);
}

// A renewal that succeeds on the server but returns after the renew deadline does not extend
// leadership: the leader has already stopped acting.
TEST(LeaderElection, LateRenewalDoesNotExtendLeadership) {
  FakeClock clock;  // auto-advance: the stalled call moves time forward
  auto lease = std::make_shared<InMemoryLease>();
  InMemoryLeaseStore store(lease, clock);
  int stopped = 0;
  LeaderElectionConfig config;
  config.identity = "a";
  LeaderCallbacks callbacks;
  callbacks.on_stopped_leading = [&] { ++stopped; };
  auto a = LeaderElector::create(config, store, clock, callbacks).value();
  (void)a->tick();
  ASSERT_TRUE(a->isLeader());
  store.setStall(seconds(6));  // get + update = 12 s > 10 s renew deadline
  (void)a->tick();
  EXPECT_FALSE(a->isLeader());
  EXPECT_EQ(stopped, 1);
}

// Errors from the store during renewal are retried; one failure does not cost leadership.
TEST(LeaderElection, TransientRenewErrorsAreRetried) {
  FakeClock clock;
  Cluster c(clock, 2);
  c.start(0);
  c.start(1);
  c.runFor(seconds(10));
  ASSERT_EQ(c.leader(), 0);
  c.node(0).store->failNext(Error(ErrorCode::Unavailable, "timeout"));
  c.node(0).store->failNext(Error(ErrorCode::Unavailable, "timeout"), /*apply_anyway=*/true);
  c.node(0).store->failNext(Error(ErrorCode::Conflict, "stale"));
  c.runFor(seconds(30));
  EXPECT_EQ(c.leader(), 0);
  EXPECT_EQ(c.node(0).started, 1);
  EXPECT_THAT(c.violations(), testing::IsEmpty());
}

// 100 seeded runs of random crashes, graceful exits, stalls, partitions, errors and conflicts:
// never two leaders at the same instant, and once the faults stop exactly one leader emerges.
TEST(LeaderElection, RandomizedFailoverKeepsOneLeader) {
  // Faults make the elector log on every step; keep the test output readable.
  log::get("kube.leaderelection").setLevel(spdlog::level::off);
  int handovers = 0;
  for (std::uint64_t seed = 1; seed <= 100; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    auto uniform = [&] { return std::uniform_real_distribution<double>(0, 1)(rng); };
    auto between = [&](int lo_ms, int hi_ms) {
      return milliseconds(std::uniform_int_distribution<int>(lo_ms, hi_ms)(rng));
    };
    FakeClock clock;
    const int n = 2 + static_cast<int>(seed % 2);
    Cluster c(clock, n, uniform);
    for (int i = 0; i < n; ++i) {
      c.start(i);
    }
    for (int step = 0; step < 1500; ++step) {  // 150 s of faults
      const SteadyTime now = clock.steadyNow();
      for (int i = 0; i < n; ++i) {
        auto& node = c.node(i);
        if (!node.alive) {
          if (now >= node.restart_at) {
            c.start(i);
          }
          continue;
        }
        if (now >= node.partitioned_until) {
          node.store->setPartitioned(false);
        }
        const double r = uniform();
        if (r < 0.002) {
          c.crash(i);
          node.restart_at = now + between(0, 30000);
        } else if (r < 0.004) {
          c.stopGracefully(i);
          node.restart_at = now + between(0, 10000);
        } else if (r < 0.008) {
          c.freeze(i, between(100, 25000));
        } else if (r < 0.011) {
          node.store->setPartitioned(true);
          node.partitioned_until = now + between(1000, 20000);
        } else if (r < 0.06 && node.store->pendingFaults() == 0) {
          static const ErrorCode kCodes[] = {ErrorCode::Unavailable, ErrorCode::DeadlineExceeded,
                                             ErrorCode::Conflict, ErrorCode::Internal};
          node.store->failNext(Error(kCodes[rng() % 4], "injected"), uniform() < 0.5);
        }
      }
      c.step(between(10, 200));
      ASSERT_THAT(c.violations(), testing::IsEmpty());
    }
    // Heal: everyone alive, unfrozen and connected.
    for (int i = 0; i < n; ++i) {
      if (!c.node(i).alive) {
        c.start(i);
      }
      c.node(i).store->setPartitioned(false);
      c.node(i).store->clearFaults();
      c.node(i).frozen_until = {};
    }
    c.runFor(seconds(40));
    handovers += c.acquisitions() - 1;
    EXPECT_EQ(c.leaders(), 1) << testing::PrintToString(c.events())
                              << " holder=" << c.lease().peek()->holder_identity;
    EXPECT_THAT(c.violations(), testing::IsEmpty());
  }
  // The faults must actually move leadership around, or the invariant was never exercised.
  EXPECT_GT(handovers, 300) << handovers;
}

// run() is a thin loop over tick(): it acquires, renews, and on stop() releases the lease after
// on_stopped_leading has run.
TEST(LeaderElection, RunAcquiresAndReleasesOnStop) {
  FakeClock clock;
  clock.autoAdvance(false);
  auto lease = std::make_shared<InMemoryLease>();
  InMemoryLeaseStore store(lease, clock);
  std::atomic<int> started{0};
  std::atomic<int> stopped{0};
  std::atomic<bool> lease_held_at_stop{false};
  LeaderElectionConfig config;
  config.identity = "a";
  LeaderCallbacks callbacks;
  callbacks.on_started_leading = [&] { ++started; };
  callbacks.on_stopped_leading = [&] {
    ++stopped;
    lease_held_at_stop = lease->peek()->holder_identity == "a";
  };
  auto a = LeaderElector::create(config, store, clock, callbacks).value();
  std::thread runner([&] { a->run(); });
  // run() sleeps on the clock in two threads: the tick loop and the watchdog.
  ASSERT_TRUE(clock.waitForSleepers(2));
  ASSERT_EQ(started.load(), 1);
  const int writes_after_acquire = lease->writes();
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(clock.advanceAndSettle(milliseconds(100), 2));
  }
  EXPECT_TRUE(a->isLeader());
  // 5 s at a 2 s retry period: two renewals.
  EXPECT_EQ(lease->writes() - writes_after_acquire, 2);
  a->stop();
  clock.autoAdvance(true);
  runner.join();
  EXPECT_EQ(stopped.load(), 1);
  EXPECT_TRUE(lease_held_at_stop.load());
  EXPECT_EQ(lease->peek()->holder_identity, "");
  EXPECT_EQ(lease->peek()->lease_duration_seconds, 1);
}

// Two electors on their own run() threads: when the leader's API calls stall longer than the
// renew deadline, its watchdog steps it down while its tick is still stuck in the request, before
// the standby can take over.
TEST(LeaderElection, RunStepsDownDuringStalledRequest) {
  FakeClock clock;
  clock.autoAdvance(false);
  log::get("kube.leaderelection").setLevel(spdlog::level::off);
  auto lease = std::make_shared<InMemoryLease>();
  InMemoryLeaseStore store_a(lease, clock);
  InMemoryLeaseStore store_b(lease, clock);
  std::mutex mu;
  std::vector<std::pair<std::string, SteadyTime>> timeline;
  auto note = [&](std::string what) {
    std::lock_guard lock(mu);
    timeline.emplace_back(std::move(what), clock.steadyNow());
  };
  auto callbacks = [&](const std::string& id) {
    LeaderCallbacks c;
    c.on_started_leading = [&, id] { note(id + " started"); };
    c.on_stopped_leading = [&, id] { note(id + " stopped"); };
    return c;
  };
  LeaderElectionConfig config;
  config.identity = "a";
  config.random = [] { return 0.5; };
  auto a = LeaderElector::create(config, store_a, clock, callbacks("a")).value();
  config.identity = "b";
  auto b = LeaderElector::create(config, store_b, clock, callbacks("b")).value();

  // Advances fake time in small steps; each step waits until every run() thread (two per
  // elector) has reacted and is asleep again, so no step races a thread still at work.
  auto advance = [&](Duration total, int sleepers) {
    if (!clock.waitForSleepers(sleepers)) {
      return false;
    }
    for (Duration t{0}; t < total; t += milliseconds(100)) {
      if (!clock.advanceAndSettle(milliseconds(100), sleepers)) {
        return false;
      }
    }
    return true;
  };

  std::thread run_a([&] { a->run(); });
  ASSERT_TRUE(advance(seconds(1), 2));
  ASSERT_TRUE(a->isLeader());
  std::thread run_b([&] { b->run(); });
  ASSERT_TRUE(advance(seconds(10), 4));
  ASSERT_TRUE(a->isLeader());
  ASSERT_FALSE(b->isLeader());

  // From now on a's tick sleeps 60 s in its first store call: it still counts as a sleeper.
  store_a.setStall(seconds(60));
  ASSERT_TRUE(advance(seconds(30), 4));
  EXPECT_FALSE(a->isLeader());
  EXPECT_TRUE(b->isLeader());

  a->stop();
  b->stop();
  clock.autoAdvance(true);
  run_a.join();
  run_b.join();

  std::lock_guard lock(mu);
  ASSERT_GE(timeline.size(), 3u);
  EXPECT_EQ(timeline[0].first, "a started");
  EXPECT_EQ(timeline[1].first, "a stopped");
  EXPECT_EQ(timeline[2].first, "b started");
  // a stepped down within the renew deadline of its last renewal (at most one retry period
  // before the stall), and b took over no earlier than a lease duration after that renewal.
  EXPECT_GE(timeline[2].second - timeline[1].second, seconds(15) - seconds(10) - seconds(2));
}

// A read error other than NotFound never leads to a create: the elector waits and retries.
TEST(LeaderElection, ReadErrorDoesNotCreate) {
  FakeClock clock;
  testing::StrictMock<MockLeaseStore> store;
  EXPECT_CALL(store, get()).WillOnce(testing::Return(fail(ErrorCode::Unavailable, "down")));
  EXPECT_CALL(store, describe()).WillRepeatedly(testing::Return("test/lease"));
  LeaderElectionConfig config;
  config.identity = "a";
  config.random = [] { return 1.0; };
  auto a = LeaderElector::create(config, store, clock, {}).value();
  // A candidate's retry is jittered: 2 s * (1 + 1.2 * 1.0).
  EXPECT_EQ(a->tick(), milliseconds(4400));
  EXPECT_FALSE(a->isLeader());
}

}  // namespace
}  // namespace opsy::kube
