// The Kubernetes client and informer against the fake API server over real HTTP, fed more than
// they should hold or less than they should wait for: a 200 MiB watch event line, a 200 MiB list
// body, a watch that goes silent. Each is a clear error, the connection is dropped, and an
// informer recovers on its own (relisting past an oversized event, resuming after silence) and
// converges.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "opsy/http/curl_transport.h"
#include "opsy/kube/client.h"
#include "opsy/kube/informer.h"
#include "support/child_process.h"
#include "support/fake_kube.h"
#include "support/loopback_server.h"

namespace opsy::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr size_t kFlood = size_t{200} << 20;
// Real time allowed for what should take moments: only a hang fails a test.
constexpr milliseconds kEventually = seconds(30);

const Resource& configMaps() {
  static const Resource r{"", "v1", "configmaps", "ConfigMap", true};
  return r;
}

std::string configMap(const std::string& name) {
  return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name +
         R"(","namespace":"ci"},"data":{"v":"1"}})";
}

class BoundedInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::clearProxyEnvironment();
    fake_ = std::make_unique<testing::FakeKube>(
        testing::FakeKubeOptions{.bookmark_interval = milliseconds(200)});
    ASSERT_TRUE(fake_->start().has_value());
    ASSERT_TRUE(
        fake_->createObject(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ci"}})"));
    auto transport = http::makeCurlTransport({});
    ASSERT_TRUE(transport.has_value()) << transport.error().toString();
    transport_ = *transport;
  }

  // A client of the fake; the token may go to its http://127.0.0.1 only with the allowance.
  ClientPtr client(Duration watch_idle_timeout = std::chrono::minutes(2)) {
    RestConfig cfg;
    cfg.server = fake_->url();
    cfg.credentials = staticTokenSource(fake_->token());
    ClientOptions options;
    options.retry.max_attempts = 3;
    options.allow_http_credentials_on_loopback = true;
    options.watch_idle_timeout = watch_idle_timeout;
    return makeClient(cfg, transport_, realClock(), options);
  }

  std::unique_ptr<Informer> startInformer(ClientPtr c) {
    auto informer = std::make_unique<Informer>(std::move(c),
                                               InformerOptions{.resource = configMaps(),
                                                               .ns = "ci",
                                                               .backoff_base = milliseconds(5),
                                                               .backoff_max = milliseconds(50)},
                                               realClock());
    informer->start();
    return informer;
  }

  bool cacheHas(const Informer& informer, const std::vector<std::string>& names) {
    return testing::eventually(
        [&] {
          for (const std::string& name : names) {
            if (informer.store().get("ci", name) == nullptr) {
              return false;
            }
          }
          return true;
        },
        kEventually);
  }

  // Waits for the n-th oversized answer to end and returns how much of it was sent.
  size_t oversizedSent(size_t n) {
    EXPECT_TRUE(
        testing::eventually([&] { return fake_->oversizedBodiesSent().size() >= n; }, kEventually))
        << "the fake is still sending: the client did not hang up";
    auto sent = fake_->oversizedBodiesSent();
    return sent.size() >= n ? sent[n - 1] : kFlood;
  }

  std::unique_ptr<testing::FakeKube> fake_;
  http::TransportPtr transport_;
};

// A watch event line of 200 MiB ends the watch at the default 16 MiB limit with
// ResourceExhausted ("watch event exceeds 16777216 bytes"); the connection is dropped, so the
// server gets nowhere near sending all of it, and nothing is delivered.
TEST_F(BoundedInputTest, WatchEventOverTheLimitEndsTheWatchAndDropsTheConnection) {
  fake_->addFault(testing::KubeFault{
      .verb = "watch", .resource = "configmaps", .oversized_body_bytes = kFlood});
  int events = 0;
  http::CancelToken cancel;
  Status watched = client()->watch(
      configMaps(), "ci", WatchOptions{},
      [&](WatchEvent&) {
        ++events;
        return true;
      },
      cancel);
  ASSERT_FALSE(watched.has_value());
  EXPECT_EQ(watched.error().code, ErrorCode::ResourceExhausted) << watched.error().toString();
  EXPECT_THAT(watched.error().message,
              HasSubstr("watch configmaps ci: watch event exceeds 16777216 bytes"));
  EXPECT_EQ(events, 0);
  EXPECT_LT(oversizedSent(1), kFlood / 4);
  EXPECT_EQ(fake_->openWatchCount("configmaps"), 0);
}

// A 200 MiB list body fails at the transport's default 64 MiB limit with ResourceExhausted naming
// the URL, the status and the limit, after one request: a retry would only get the same answer.
TEST_F(BoundedInputTest, ListBodyOverTheLimitFailsOnceWithoutRetry) {
  fake_->addFault(testing::KubeFault{
      .verb = "list", .resource = "configmaps", .count = -1, .oversized_body_bytes = kFlood});
  auto listed = client()->list(configMaps(), "ci", ListOptions{});
  ASSERT_FALSE(listed.has_value());
  EXPECT_EQ(listed.error().code, ErrorCode::ResourceExhausted) << listed.error().toString();
  EXPECT_THAT(listed.error().message, HasSubstr("GET " + fake_->url() +
                                                "/api/v1/namespaces/ci/configmaps: response body "
                                                "exceeds 67108864 bytes (status 200)"));
  EXPECT_EQ(fake_->requestCount("list", "configmaps"), 1);
  EXPECT_LT(oversizedSent(1), kFlood / 2);
}

// A watch that is accepted and then says nothing, not even a bookmark, ends with
// DeadlineExceeded after the client's idle timeout, one request, the connection dropped.
TEST_F(BoundedInputTest, SilentWatchEndsAfterTheIdleTimeout) {
  fake_->addFault(
      testing::KubeFault{.verb = "watch", .resource = "configmaps", .silent_watch = true});
  http::CancelToken cancel;
  Status watched =
      client(seconds(1))
          ->watch(
              configMaps(), "ci", WatchOptions{.resource_version = fake_->currentResourceVersion()},
              [](WatchEvent&) { return true; }, cancel);
  ASSERT_FALSE(watched.has_value());
  EXPECT_EQ(watched.error().code, ErrorCode::DeadlineExceeded) << watched.error().toString();
  EXPECT_THAT(watched.error().message, HasSubstr("nothing received for 1000 ms"));
  EXPECT_EQ(fake_->requestCount("watch", "configmaps"), 1);
}

// Bookmarks are asked for and keep a quiet watch alive: with bookmarks every 200 ms and a 1 s idle
// timeout, ten bookmarks in a row arrive on one watch, each moving the resourceVersion along
// without being an object event.
TEST_F(BoundedInputTest, BookmarksKeepAQuietWatchAlive) {
  int bookmarks = 0;
  int others = 0;
  std::string last_rv;
  http::CancelToken cancel;
  Status watched =
      client(seconds(1))
          ->watch(
              configMaps(), "ci", WatchOptions{.resource_version = fake_->currentResourceVersion()},
              [&](WatchEvent& e) {
                if (e.type == WatchEventType::Bookmark) {
                  ++bookmarks;
                  last_rv = e.object.metadata.resource_version;
                } else {
                  ++others;
                }
                return bookmarks < 10;
              },
              cancel);
  ASSERT_TRUE(watched.has_value()) << watched.error().toString();
  EXPECT_EQ(bookmarks, 10);
  EXPECT_EQ(others, 0);
  EXPECT_EQ(last_rv, fake_->currentResourceVersion());
  EXPECT_EQ(fake_->requestCount("watch", "configmaps"), 1);
  EXPECT_THAT(fake_->requestLog().back().query, HasSubstr("allowWatchBookmarks=true"));
}

// An informer whose watch goes silent replaces it after the idle timeout and resumes from its
// resourceVersion: what was created during the silence reaches the cache, through a new watch
// and without a relist.
TEST_F(BoundedInputTest, InformerReplacesASilentWatch) {
  auto informer = startInformer(client(seconds(1)));
  ASSERT_TRUE(informer->waitForSync(kEventually));
  ASSERT_TRUE(testing::eventually([&] { return fake_->openWatchCount("configmaps") == 1; }));
  const int lists = fake_->requestCount("list", "configmaps");
  const int watches = fake_->requestCount("watch", "configmaps");
  fake_->addFault(
      testing::KubeFault{.verb = "watch", .resource = "configmaps", .silent_watch = true});
  fake_->dropWatches("configmaps");
  ASSERT_TRUE(testing::eventually(
      [&] { return fake_->requestCount("watch", "configmaps") == watches + 1; }, kEventually));
  ASSERT_TRUE(fake_->createObject(configMap("during-silence")));

  ASSERT_TRUE(cacheHas(*informer, {"during-silence"}));
  EXPECT_GE(fake_->requestCount("watch", "configmaps"), watches + 2);
  EXPECT_EQ(fake_->requestCount("list", "configmaps"), lists);
  informer->stop();
}

// An informer whose watch is sent a 200 MiB event relists after the error (resuming from the
// same resourceVersion would meet the same event again), with memory bounded by the limit, and
// converges.
TEST_F(BoundedInputTest, InformerRelistsAfterAnOversizedWatchEvent) {
  auto informer = startInformer(client());
  ASSERT_TRUE(informer->waitForSync(kEventually));
  ASSERT_TRUE(testing::eventually([&] { return fake_->openWatchCount("configmaps") == 1; }));
  const int lists = fake_->requestCount("list", "configmaps");
  fake_->addFault(testing::KubeFault{
      .verb = "watch", .resource = "configmaps", .oversized_body_bytes = kFlood});
  fake_->dropWatches("configmaps");
  EXPECT_LT(oversizedSent(1), kFlood / 4);
  ASSERT_TRUE(fake_->createObject(configMap("after-flood")));
  ASSERT_TRUE(cacheHas(*informer, {"after-flood"}));
  EXPECT_EQ(fake_->requestCount("list", "configmaps"), lists + 1);
  informer->stop();
}

// An informer whose relist is answered with a 200 MiB body lists again (backing off, not in a
// loop) and syncs.
TEST_F(BoundedInputTest, InformerListsAgainAfterAnOversizedList) {
  ASSERT_TRUE(fake_->createObject(configMap("before")));
  fake_->addFault(
      testing::KubeFault{.verb = "list", .resource = "configmaps", .oversized_body_bytes = kFlood});
  auto informer = startInformer(client());
  ASSERT_TRUE(informer->waitForSync(kEventually));
  ASSERT_TRUE(cacheHas(*informer, {"before"}));
  EXPECT_EQ(fake_->requestCount("list", "configmaps"), 2);
  EXPECT_LT(oversizedSent(1), kFlood / 2);
  informer->stop();
}

}  // namespace
}  // namespace opsy::kube
