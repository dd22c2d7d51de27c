// The informer against the fake API server over real HTTP, with the faults a real cluster throws
// at a controller: dropped watches, expired resourceVersions (410), throttling and 5xx. Whatever
// happens, the cache must converge to exactly what the server holds.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <random>
#include <thread>

#include "opsy/http/curl_transport.h"
#include "opsy/kube/client.h"
#include "opsy/kube/informer.h"
#include "support/fake_kube.h"
#include "support/loopback_server.h"

namespace opsy::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Real time the informer gets to catch up: generous, so only a hang fails a test.
constexpr milliseconds kEventually = seconds(60);

// Polls `condition` until it holds or kEventually has passed.
bool eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + kEventually;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

const Resource& configMaps() {
  static const Resource r{"", "v1", "configmaps", "ConfigMap", true};
  return r;
}

std::string configMap(const std::string& name, int value) {
  return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name +
         R"(","namespace":"ci"},"data":{"v":")" + std::to_string(value) + R"("}})";
}

// name -> resourceVersion, the identity of a cache or a server listing.
std::map<std::string, std::string> serverState(testing::FakeKube& fake) {
  std::map<std::string, std::string> out;
  for (const std::string& json : fake.listObjects("v1", "ConfigMap", "ci")) {
    auto obj = Object::parse(json).value();
    out[obj.metadata.name] = obj.metadata.resource_version;
  }
  return out;
}

std::map<std::string, std::string> cacheState(const Store& store) {
  std::map<std::string, std::string> out;
  for (const ObjectPtr& obj : store.list()) {
    out[obj->metadata.name] = obj->metadata.resource_version;
  }
  return out;
}

class InformerFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::clearProxyEnvironment();
    fake_ = std::make_unique<testing::FakeKube>(testing::FakeKubeOptions{
        .history_limit = 50, .bookmark_interval = milliseconds(200), .fault_seed = 7});
    ASSERT_TRUE(fake_->start().has_value());
    auto ns =
        fake_->createObject(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ci"}})");
    ASSERT_TRUE(ns.has_value()) << ns.error().toString();
    http::CurlTransportOptions topts;
    topts.total_timeout = seconds(10);
    auto transport = http::makeCurlTransport(topts);
    ASSERT_TRUE(transport.has_value()) << transport.error().toString();
    RestConfig cfg;
    cfg.server = fake_->url();
    cfg.credentials = staticTokenSource(fake_->token());
    ClientOptions copts;
    copts.retry.max_attempts = 1;  // the informer's own backoff is what is under test
    // The fake serves plain HTTP on 127.0.0.1: the token may go there only with this allowance.
    copts.allow_http_credentials_on_loopback = true;
    client_ = makeClient(cfg, *transport, realClock(), copts);
  }

  std::unique_ptr<Informer> startInformer(Duration watch_timeout = seconds(30)) {
    auto informer = std::make_unique<Informer>(client_,
                                               InformerOptions{.resource = configMaps(),
                                                               .ns = "ci",
                                                               .page_size = 7,
                                                               .watch_timeout = watch_timeout,
                                                               .backoff_base = milliseconds(5),
                                                               .backoff_max = milliseconds(50)},
                                               realClock());
    informer->start();
    return informer;
  }

  // Waits until the cache equals the server.
  bool converges(const Informer& informer) {
    return eventually([&] { return cacheState(informer.store()) == serverState(*fake_); });
  }

  std::unique_ptr<testing::FakeKube> fake_;
  ClientPtr client_;
};

// 50 dropped watches and ten forced 410s while objects are created, updated and deleted: the
// cache ends identical to the server, deletions included.
TEST_F(InformerFaultsTest, CacheConvergesAfterDropsAndExpiries) {
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(fake_->createObject(configMap("cm-" + std::to_string(i), 0)).has_value());
  }
  auto informer = startInformer();
  ASSERT_TRUE(informer->waitForSync(kEventually));
  ASSERT_TRUE(converges(*informer));

  std::mt19937 rng(42);
  int next_name = 20;
  int drops = 0;
  int expiries = 0;
  for (int round = 0; round < 60; ++round) {
    // A burst of changes: creates, updates and deletes.
    for (int k = 0; k < 3; ++k) {
      auto names = serverState(*fake_);
      int op = static_cast<int>(rng() % 3);
      if (op == 0 || names.empty()) {
        ASSERT_TRUE(
            fake_->createObject(configMap("cm-" + std::to_string(next_name++), round)).has_value());
      } else {
        auto it = names.begin();
        std::advance(it, static_cast<long>(rng() % names.size()));
        if (op == 1) {
          ASSERT_TRUE(fake_->updateObject(configMap(it->first, round)).has_value());
        } else {
          ASSERT_TRUE(fake_->deleteObject("v1", "ConfigMap", "ci", it->first).has_value());
        }
      }
    }
    // Only a watch that is open can be dropped: wait for the informer to reconnect.
    ASSERT_TRUE(eventually([&] { return fake_->openWatchCount("configmaps") > 0; }))
        << "informer did not re-watch";
    if (round % 6 == 5 && expiries < 10) {
      // Forget history and cut the watch: the resume point is now too old, so the next watch
      // gets 410 Expired and the informer must relist (while changes keep coming).
      fake_->compactHistory();
      fake_->expireNextWatch("configmaps");
      fake_->dropWatches("configmaps");
      ++expiries;
    } else if (drops < 50) {
      fake_->dropWatches("configmaps");
      ++drops;
    }
    std::this_thread::sleep_for(milliseconds(static_cast<int>(rng() % 15)));
  }
  EXPECT_EQ(drops, 50);
  EXPECT_EQ(expiries, 10);
  // The informer really relisted after the expiries: every expiry forced a fresh list (one
  // without a continue token) after the initial one. The last round's relist may still be under
  // way (the cache can already match the server without it), so wait for it.
  auto fresh_lists = [&] {
    int n = 0;
    for (const testing::KubeRequest& r : fake_->requestLog()) {
      if (r.verb == "list" && r.resource == "configmaps" &&
          r.query.find("continue=") == std::string::npos) {
        ++n;
      }
    }
    return n;
  };
  EXPECT_TRUE(eventually([&] { return fresh_lists() >= 1 + 10; }))
      << fresh_lists() << " fresh lists";
  ASSERT_TRUE(converges(*informer)) << "cache " << cacheState(informer->store()).size()
                                    << " objects, server " << serverState(*fake_).size();
  informer->stop();
}

// Throttling and server errors on list and watch only delay convergence.
TEST_F(InformerFaultsTest, ConvergesThroughThrottlingAndServerErrors) {
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(fake_->createObject(configMap("cm-" + std::to_string(i), 0)).has_value());
  }
  fake_->addFault(testing::KubeFault{.verb = "list",
                                     .resource = "configmaps",
                                     .http_status = 429,
                                     .count = 3,
                                     .retry_after_seconds = 0});
  fake_->addFault(testing::KubeFault{
      .verb = "watch", .resource = "configmaps", .http_status = 503, .count = 3});
  auto informer = startInformer();
  ASSERT_TRUE(informer->waitForSync(kEventually));
  ASSERT_TRUE(fake_->deleteObject("v1", "ConfigMap", "ci", "cm-3").has_value());
  ASSERT_TRUE(fake_->createObject(configMap("late", 1)).has_value());
  EXPECT_TRUE(converges(*informer));
  informer->stop();
}

// A stalled watch (open, but silent: no events, no bookmarks) delays the cache but does not wedge
// it: the watch times out, the informer resumes, and once the server speaks again it converges.
TEST_F(InformerFaultsTest, ConvergesAfterStalledWatches) {
  auto informer = startInformer(seconds(1));
  ASSERT_TRUE(informer->waitForSync(kEventually));
  fake_->stallWatches("configmaps");
  const int watches = fake_->requestCount("watch", "configmaps");
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(fake_->createObject(configMap("during-stall-" + std::to_string(i), i)).has_value());
  }
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_TRUE(cacheState(informer->store()).empty()) << "nothing can arrive while stalled";
  // A watch opened while stalled times out and is renewed: two more watch requests.
  ASSERT_TRUE(eventually(
      [&, before = watches] { return fake_->requestCount("watch", "configmaps") >= before + 2; }));
  fake_->stallWatches("configmaps", false);
  EXPECT_TRUE(converges(*informer));
  EXPECT_GE(fake_->requestCount("watch", "configmaps"), 2);
  informer->stop();
}

}  // namespace
}  // namespace opsy::kube
