// Leader election through the real Lease adapter over HTTP against the fake API server: the
// Lease's resourceVersion and 409 semantics are the server's, not an in-memory stand-in's.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

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

struct Candidate {
  std::unique_ptr<ClientLeaseStore> store;
  std::unique_ptr<LeaderElector> elector;
  std::thread thread;
  std::atomic<int> started{0};
  std::atomic<int> stopped{0};
};

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
  }

  std::unique_ptr<Candidate> start(const std::string& id) {
    RestConfig cfg;
    cfg.server = fake_.url();
    cfg.credentials = staticTokenSource(fake_.token());
    auto c = std::make_unique<Candidate>();
    c->store = std::make_unique<ClientLeaseStore>(makeClient(cfg, transport_, realClock()), "opsy",
                                                  "packer-builder.ami.refresh.ops");
    Candidate* raw = c.get();
    c->elector =
        LeaderElector::create(LeaderElectionConfig{.identity = id,
                                                   .lease_duration = seconds(2),
                                                   .renew_deadline = milliseconds(1500),
                                                   .retry_period = milliseconds(200)},
                              *c->store, realClock(),
                              LeaderCallbacks{.on_started_leading = [raw] { ++raw->started; },
                                              .on_stopped_leading = [raw] { ++raw->stopped; }})
            .value();
    c->thread = std::thread([raw] { raw->elector->run(); });
    return c;
  }

  static void stop(Candidate& c) {
    c.elector->stop();
    c.thread.join();
  }

  testing::FakeKube fake_;
  http::TransportPtr transport_;
};

bool eventually(const std::function<bool()>& condition, Duration within = seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) {
      return true;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  return condition();
}

// Two replicas: exactly one leads, the Lease names it, and a graceful stop hands over at once
// (the released Lease lets the standby take over well before the lease duration).
TEST_F(LeaderElectionFakeTest, OneLeaderAndFastHandoverOnGracefulStop) {
  auto a = start("replica-a");
  ASSERT_TRUE(eventually([&] { return a->elector->isLeader(); }));
  auto b = start("replica-b");
  std::this_thread::sleep_for(milliseconds(600));
  EXPECT_FALSE(b->elector->isLeader());
  EXPECT_EQ(b->elector->observedLeader(), "replica-a");
  auto lease =
      fake_.getObject("coordination.k8s.io/v1", "Lease", "opsy", "packer-builder.ami.refresh.ops");
  ASSERT_TRUE(lease.has_value());
  EXPECT_NE(lease->find(R"("holderIdentity":"replica-a")"), std::string::npos) << *lease;

  auto stopped_at = std::chrono::steady_clock::now();
  stop(*a);
  EXPECT_EQ(a->stopped.load(), 1);
  ASSERT_TRUE(eventually([&] { return b->elector->isLeader(); }, seconds(5)));
  // Faster than waiting out the 2 s lease: the leader released it.
  EXPECT_LT(std::chrono::steady_clock::now() - stopped_at, milliseconds(1900));
  EXPECT_FALSE(a->elector->isLeader());
  stop(*b);
}

// A leader that cannot reach the API server steps down by its renew deadline, before the
// standby's lease expiry lets it take over: never two leaders.
TEST_F(LeaderElectionFakeTest, PartitionedLeaderStepsDownBeforeTakeover) {
  auto a = start("replica-a");
  ASSERT_TRUE(eventually([&] { return a->elector->isLeader(); }));
  auto b = start("replica-b");
  ASSERT_TRUE(eventually([&] { return b->elector->observedLeader() == "replica-a"; }));
  // Every write of replica-a's renewals fails from now on; reads still work for everyone.
  fake_.addFault(
      testing::KubeFault{.verb = "update", .resource = "leases", .http_status = 503, .count = -1});
  std::atomic<bool> overlap{false};
  std::atomic<bool> done{false};
  std::thread watch([&] {
    while (!done) {
      if (a->elector->isLeader() && b->elector->isLeader()) {
        overlap = true;
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
  });
  ASSERT_TRUE(eventually([&] { return !a->elector->isLeader(); }, seconds(5)));
  // isLeader() turns false at the renew deadline itself; the callback follows on the watchdog.
  EXPECT_TRUE(eventually([&] { return a->stopped.load() == 1; }, seconds(2)));
  fake_.clearFaults();
  EXPECT_TRUE(eventually([&] { return b->elector->isLeader() || a->elector->isLeader(); }));
  done = true;
  watch.join();
  EXPECT_FALSE(overlap.load());
  stop(*a);
  stop(*b);
}

}  // namespace
}  // namespace opsy::kube
