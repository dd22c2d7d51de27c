// Leader election through the real Lease adapter over HTTP against the fake API server: the
// Lease's resourceVersion and 409 semantics are the server's, not an in-memory stand-in's.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>

#include "opsy/core/fake_clock.h"
#include "opsy/http/curl_transport.h"
#include "opsy/kube/client.h"
#include "opsy/kube/leader_election.h"
#include "opsy/kube/lease_store.h"
#include "support/fake_kube.h"
#include "support/loopback_server.h"

namespace opsy::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Fake time moves in steps this long; no elector thread sleeps longer than one step at a time.
constexpr Duration kStep = milliseconds(100);

struct Candidate {
  FakeClock* clock = nullptr;
  std::unique_ptr<ClientLeaseStore> store;
  std::unique_ptr<LeaderElector> elector;
  std::thread thread;
  std::atomic<int> started{0};
  std::atomic<int> stopped{0};

  ~Candidate() {
    if (thread.joinable()) {  // a failed assertion left it running
      elector->stop();
      clock->autoAdvance(true);
      thread.join();
    }
  }
};

// The electors run on a fake clock the test advances step by step, each step only once every
// elector thread is idle again, so the Lease's timing is exact however slow the HTTP round trips
// to the fake API server are.
class LeaderElectionFakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::clearProxyEnvironment();
    ASSERT_TRUE(fake_.start().has_value());
    ASSERT_TRUE(
        fake_.createObject(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"opsy"}})")
            .has_value());
    http::CurlTransportOptions topts;
    topts.total_timeout = seconds(5);
    transport_ = http::makeCurlTransport(topts).value();
    clock_.autoAdvance(false);
  }

  std::unique_ptr<Candidate> start(const std::string& id) {
    RestConfig cfg;
    cfg.server = fake_.url();
    cfg.credentials = staticTokenSource(fake_.token());
    auto c = std::make_unique<Candidate>();
    c->clock = &clock_;
    ClientOptions copts;
    // The fake serves plain HTTP on 127.0.0.1: the token may go there only with this allowance.
    copts.allow_http_credentials_on_loopback = true;
    c->store = std::make_unique<ClientLeaseStore>(makeClient(cfg, transport_, realClock(), copts),
                                                  "opsy", "packer-builder.ami.refresh.ops");
    Candidate* raw = c.get();
    c->elector =
        LeaderElector::create(LeaderElectionConfig{.identity = id,
                                                   .lease_duration = seconds(2),
                                                   .renew_deadline = milliseconds(1500),
                                                   .retry_period = milliseconds(200)},
                              *c->store, clock_,
                              LeaderCallbacks{.on_started_leading = [raw] { ++raw->started; },
                                              .on_stopped_leading = [raw] { ++raw->stopped; }})
            .value();
    c->thread = std::thread([raw] { raw->elector->run(); });
    running_ += 1;
    return c;
  }

  // Stops a candidate after exactly one more step: its threads wake, see the stop and exit (a
  // graceful stop releases the Lease on the way).
  void stop(Candidate& c) {
    ASSERT_TRUE(clock_.waitForSleepers(sleepers()));
    c.elector->stop();
    clock_.advance(kStep);
    c.thread.join();
    running_ -= 1;
  }

  // Advances fake time step by step until `condition` holds (checked whenever every elector
  // thread is asleep) or `limit` of fake time has passed.
  bool runUntil(const std::function<bool()>& condition, Duration limit) {
    for (Duration t{0};; t += kStep) {
      if (!clock_.waitForSleepers(sleepers())) {
        ADD_FAILURE() << "elector threads did not go back to sleep";
        return false;
      }
      if (condition()) {
        return true;
      }
      if (t >= limit) {
        return false;
      }
      clock_.advance(kStep);
    }
  }

  void runFor(Duration d) {
    runUntil([] { return false; }, d);
  }

  // run() sleeps on the clock in two threads: its tick loop and its watchdog.
  int sleepers() const { return 2 * running_; }

  testing::FakeKube fake_;
  http::TransportPtr transport_;
  FakeClock clock_;
  int running_ = 0;
};

// Two replicas: exactly one leads, the Lease names it, and a graceful stop hands over at once
// (the released Lease lets the standby take over well before the lease duration).
TEST_F(LeaderElectionFakeTest, OneLeaderAndFastHandoverOnGracefulStop) {
  auto a = start("replica-a");
  ASSERT_TRUE(runUntil([&] { return a->elector->isLeader(); }, seconds(10)));
  auto b = start("replica-b");
  runFor(milliseconds(600));
  EXPECT_FALSE(b->elector->isLeader());
  EXPECT_EQ(b->elector->observedLeader(), "replica-a");
  auto lease =
      fake_.getObject("coordination.k8s.io/v1", "Lease", "opsy", "packer-builder.ami.refresh.ops");
  ASSERT_TRUE(lease.has_value());
  EXPECT_NE(lease->find(R"("holderIdentity":"replica-a")"), std::string::npos) << *lease;

  const auto stopped_at = clock_.steadyNow();
  stop(*a);
  EXPECT_EQ(a->stopped.load(), 1);
  ASSERT_TRUE(runUntil([&] { return b->elector->isLeader(); }, seconds(10)));
  // Faster than waiting out the 2 s lease (on the electors' clock): the leader released it.
  EXPECT_LT(clock_.steadyNow() - stopped_at, seconds(2));
  EXPECT_FALSE(a->elector->isLeader());
  stop(*b);
}

// A leader that cannot reach the API server steps down by its renew deadline, before the
// standby's lease expiry lets it take over: never two leaders.
TEST_F(LeaderElectionFakeTest, PartitionedLeaderStepsDownBeforeTakeover) {
  auto a = start("replica-a");
  ASSERT_TRUE(runUntil([&] { return a->elector->isLeader(); }, seconds(10)));
  auto b = start("replica-b");
  ASSERT_TRUE(runUntil([&] { return b->elector->observedLeader() == "replica-a"; }, seconds(10)));
  // Every write of replica-a's renewals fails from now on; reads still work for everyone.
  fake_.addFault(
      testing::KubeFault{.verb = "update", .resource = "leases", .http_status = 503, .count = -1});
  bool overlap = false;
  auto never_two = [&](const std::function<bool()>& condition) {
    return [&, condition] {
      overlap = overlap || (a->elector->isLeader() && b->elector->isLeader());
      return condition();
    };
  };
  ASSERT_TRUE(runUntil(never_two([&] { return !a->elector->isLeader(); }), seconds(10)));
  // isLeader() turns false at the renew deadline itself; the callback follows on the watchdog.
  EXPECT_TRUE(runUntil(never_two([&] { return a->stopped.load() == 1; }), seconds(2)));
  fake_.clearFaults();
  EXPECT_TRUE(runUntil(never_two([&] { return b->elector->isLeader() || a->elector->isLeader(); }),
                       seconds(10)));
  EXPECT_FALSE(overlap);
  stop(*a);
  stop(*b);
}

}  // namespace
}  // namespace opsy::kube
