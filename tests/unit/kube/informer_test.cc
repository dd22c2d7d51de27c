#include "opsy/kube/informer.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>

#include "opsy/core/fake_clock.h"
#include "support/kube_scripted_transport.h"

namespace opsy::kube {
namespace {

using std::chrono::milliseconds;

// Real time the informer's threads get to catch up: generous, so only a hang fails a test.
constexpr milliseconds kEventually = std::chrono::seconds(60);

const std::string kPods = "/api/v1/namespaces/ci/pods";

std::string pod(const std::string& name, const std::string& rv) {
  return R"({"metadata":{"name":")" + name + R"(","namespace":"ci","resourceVersion":")" + rv +
         R"("}})";
}

std::string podList(const std::string& rv, const std::vector<std::string>& items,
                    const std::string& next = "") {
  std::string out = R"({"kind":"PodList","metadata":{"resourceVersion":")" + rv + "\"";
  if (!next.empty()) {
    out += R"(,"continue":")" + next + "\"";
  }
  out += R"(},"items":[)";
  for (size_t i = 0; i < items.size(); ++i) {
    out += (i ? "," : "") + items[i];
  }
  return out + "]}";
}

std::string event(const std::string& type, const std::string& object) {
  return R"({"type":")" + type + R"(","object":)" + object + "}\n";
}

std::string bookmark(const std::string& rv) {
  return event("BOOKMARK", R"({"kind":"Pod","metadata":{"resourceVersion":")" + rv + R"("}})");
}

std::string expired() {
  return event("ERROR",
               R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired",)"
               R"("code":410,"message":"too old resource version"})");
}

// Records handler calls as "add:a@1", "update:a@1->2", "delete:a@2".
class Recorder {
 public:
  ResourceEventHandlers handlers() {
    ResourceEventHandlers h;
    h.on_add = [this](const Object& o) { note("add:" + id(o)); };
    h.on_update = [this](const Object& a, const Object& b) {
      note("update:" + id(a) + "->" + b.metadata.resource_version);
    };
    h.on_delete = [this](const Object& o) { note("delete:" + id(o)); };
    return h;
  }
  bool waitFor(size_t n, milliseconds timeout = kEventually) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return calls_.size() >= n; });
  }
  std::vector<std::string> calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  static std::string id(const Object& o) {
    return o.metadata.name + "@" + o.metadata.resource_version;
  }
  void note(std::string s) {
    std::lock_guard lock(mu_);
    calls_.push_back(std::move(s));
    cv_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> calls_;
};

class InformerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RestConfig cfg;
    cfg.server = "https://k8s.test";
    ClientOptions copts;
    copts.retry.max_attempts = 1;
    client_ = makeClient(cfg, transport_, clock_, copts);
  }
  void TearDown() override {
    clock_.autoAdvance(true);
    if (informer_) {
      informer_->stop();
    }
  }

  Informer& make(Duration resync = Duration(0)) {
    InformerOptions options;
    options.resource = resources::pods();
    options.ns = "ci";
    options.page_size = 2;
    options.resync_period = resync;
    options.label_selector = "app=packer";
    options.random = [] { return 0.0; };
    informer_ = std::make_unique<Informer>(client_, options, clock_);
    informer_->addHandlers(recorder_.handlers());
    return *informer_;
  }

  std::vector<std::string> watchVersions() {
    std::vector<std::string> out;
    for (const auto& r : transport_->streamRequests()) {
      out.push_back(r.query.count("resourceVersion") ? r.query.at("resourceVersion") : "");
    }
    return out;
  }

  size_t listRequests() {
    size_t n = 0;
    for (const auto& r : transport_->requests()) {
      n += r.streamed ? 0 : 1;
    }
    return n;
  }

  bool waitForWatches(size_t n) {
    return transport_->waitUntil(
        [n](const ScriptedTransport& t) {
          return t.streamRequests().size() >= n && t.openStreams() > 0;
        },
        kEventually);
  }

  std::vector<std::string> keys() {
    std::vector<std::string> out;
    for (const auto& o : informer_->store().list()) {
      out.push_back(o->metadata.name + "@" + o->metadata.resource_version);
    }
    return out;
  }

  std::shared_ptr<ScriptedTransport> transport_ = std::make_shared<ScriptedTransport>();
  FakeClock clock_;
  ClientPtr client_;
  Recorder recorder_;
  std::unique_ptr<Informer> informer_;
};

// The initial list follows pages, fills the store, reports synced, and the watch starts from the
// list's resourceVersion with bookmarks and the same selector.
TEST_F(InformerTest, InitialListWithPagingThenWatch) {
  transport_->reply("GET", kPods,
                    ScriptedReply::ok(podList("100", {pod("a", "1"), pod("b", "2")}, "t1")));
  transport_->reply("GET", kPods, ScriptedReply::ok(podList("100", {pod("c", "3")})));
  Informer& inf = make();
  EXPECT_FALSE(inf.store().hasSynced());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(kEventually));
  ASSERT_TRUE(waitForWatches(1));
  EXPECT_EQ(keys(), (std::vector<std::string>{"a@1", "b@2", "c@3"}));
  ASSERT_NE(inf.store().get("ci", "b"), nullptr);
  EXPECT_EQ(inf.store().get("ci", "zz"), nullptr);
  ASSERT_TRUE(recorder_.waitFor(3));
  EXPECT_EQ(recorder_.calls(), (std::vector<std::string>{"add:a@1", "add:b@2", "add:c@3"}));
  auto lists = transport_->requests();
  ASSERT_GE(lists.size(), 2u);
  EXPECT_EQ(lists[1].query.at("continue"), "t1");
  EXPECT_EQ(lists[0].query.at("labelSelector"), "app=packer");
  auto watch = transport_->streamRequests().at(0);
  EXPECT_EQ(watch.query.at("resourceVersion"), "100");
  EXPECT_EQ(watch.query.at("allowWatchBookmarks"), "true");
  EXPECT_EQ(watch.query.at("labelSelector"), "app=packer");
}

// Watch events update the store and reach the handlers in order.
TEST_F(InformerTest, WatchEventsAreApplied) {
  transport_->reply("GET", kPods, ScriptedReply::ok(podList("10", {pod("a", "1")})));
  Informer& inf = make();
  inf.start();
  ASSERT_TRUE(waitForWatches(1));
  transport_->push(event("ADDED", pod("b", "11")) + event("MODIFIED", pod("a", "12")));
  transport_->push(event("DELETED", pod("b", "13")));
  ASSERT_TRUE(recorder_.waitFor(4));
  EXPECT_EQ(recorder_.calls(),
            (std::vector<std::string>{"add:a@1", "add:b@11", "update:a@1->12", "delete:b@13"}));
  EXPECT_EQ(keys(), (std::vector<std::string>{"a@12"}));
}

// Cached objects keep no managedFields (no reconcile reads them; on a real server they are often
// as large as the rest of the object), whether they came from the list or from the watch; the
// rest of the object is kept as it was.
TEST_F(InformerTest, CachedObjectsAreStrippedOfManagedFields) {
  auto managed = [](const std::string& name, const std::string& rv) {
    return R"({"metadata":{"name":")" + name + R"(","namespace":"ci","resourceVersion":")" + rv +
           R"(","managedFields":[{"manager":"kubectl","operation":"Apply","fieldsV1":{"f:spec":{}}}]},)"
           R"("spec":{"nodeName":"n1"}})";
  };
  transport_->reply("GET", kPods, ScriptedReply::ok(podList("10", {managed("a", "1")})));
  Informer& inf = make();
  inf.start();
  ASSERT_TRUE(waitForWatches(1));
  transport_->push(event("ADDED", managed("b", "11")));
  ASSERT_TRUE(recorder_.waitFor(2));
  for (const char* name : {"a", "b"}) {
    auto obj = inf.store().get("ci", name);
    ASSERT_NE(obj, nullptr) << name;
    EXPECT_EQ(obj->raw().find("managedFields"), std::string::npos) << obj->raw();
    EXPECT_NE(obj->raw().find(R"("nodeName":"n1")"), std::string::npos) << obj->raw();
  }
}

// A bookmark moves the resume point even though no object changed.
TEST_F(InformerTest, BookmarkAdvancesResumePoint) {
  transport_->reply("GET", kPods, ScriptedReply::ok(podList("10", {})));
  transport_->streamReply(kPods, ScriptedReply::chunked({bookmark("50")}));
  Informer& inf = make();
  inf.start();
  ASSERT_TRUE(waitForWatches(2));
  EXPECT_EQ(watchVersions(), (std::vector<std::string>{"10", "50"}));
  EXPECT_EQ(listRequests(), 1u) << "no relist";
  EXPECT_TRUE(recorder_.calls().empty());
}

// A watch that ends (server timeout or dropped connection) resumes from the last
// resourceVersion seen, without relisting.
TEST_F(InformerTest, DroppedWatchResumesFromLastVersion) {
  transport_->reply("GET", kPods, ScriptedReply::ok(podList("10", {pod("a", "1")})));
  transport_->streamReply(kPods, ScriptedReply::chunked({event("MODIFIED", pod("a", "12"))}));
  ScriptedReply refused = ScriptedReply::failure(Error(ErrorCode::Unavailable, "reset"));
  transport_->streamReply(kPods, refused);
  Informer& inf = make();
  inf.start();
  ASSERT_TRUE(waitForWatches(3));
  EXPECT_EQ(watchVersions(), (std::vector<std::string>{"10", "12", "12"}));
  EXPECT_EQ(listRequests(), 1u) << "no relist";
  // The refused watch backed off: 800 ms scaled by the pinned jitter factor 0.5.
  EXPECT_EQ(clock_.totalSlept(), milliseconds(400));
}

// An ERROR 410 event relists; the cache then equals the new list exactly, and objects deleted
// while disconnected are reported through onDelete.
TEST_F(InformerTest, ExpiredEventRelistsAndSwapsCache) {
  transport_->reply("GET", kPods, ScriptedReply::ok(podList("10", {pod("a", "1"), pod("b", "2")})));
  transport_->streamReply(kPods, ScriptedReply::chunked({expired()}));
  transport_->reply("GET", kPods,
                    ScriptedReply::ok(podList("90", {pod("b", "80"), pod("c", "85")})));
  Informer& inf = make();
  inf.start();
  ASSERT_TRUE(waitForWatches(2));
  EXPECT_EQ(watchVersions(), (std::vector<std::string>{"10", "90"}));
  EXPECT_EQ(keys(), (std::vector<std::string>{"b@80", "c@85"}));
  ASSERT_TRUE(recorder_.waitFor(5));
  EXPECT_EQ(recorder_.calls(), (std::vector<std::string>{"add:a@1", "add:b@2", "update:b@2->80",
                                                         "add:c@85", "delete:a@1"}));
}

// A watch event over the client's size limit ends the watch and relists after a backoff: resuming
// from the same resourceVersion would meet the same event again.
TEST_F(InformerTest, OversizedWatchEventRelists) {
  RestConfig cfg;
  cfg.server = "https://k8s.test";
  ClientOptions copts;
  copts.retry.max_attempts = 1;
  copts.max_watch_event_bytes = 256;
  client_ = makeClient(cfg, transport_, clock_, copts);
  transport_->reply("GET", kPods, ScriptedReply::ok(podList("10", {pod("a", "1")})));
  const std::string huge = R"({"type":"ADDED","object":{"metadata":{"name":")" +
                           std::string(1000, 'x') + R"("}}})" + "\n";
  transport_->streamReply(kPods, ScriptedReply::chunked({huge.substr(0, 200), huge.substr(200)}));
  transport_->reply("GET", kPods, ScriptedReply::ok(podList("90", {pod("a", "1")})));
  Informer& inf = make();
  inf.start();
  ASSERT_TRUE(waitForWatches(2));
  EXPECT_EQ(watchVersions(), (std::vector<std::string>{"10", "90"}));
  EXPECT_EQ(listRequests(), 2u);
  EXPECT_EQ(keys(), (std::vector<std::string>{"a@1"}));
  EXPECT_EQ(clock_.totalSlept(), milliseconds(400));
}

// Every watch asks the transport to drop it after the client's idle timeout, and one that went
// silent (DeadlineExceeded) resumes from the last resourceVersion without a relist.
TEST_F(InformerTest, SilentWatchResumesFromLastVersion) {
  RestConfig cfg;
  cfg.server = "https://k8s.test";
  ClientOptions copts;
  copts.retry.max_attempts = 1;
  copts.watch_idle_timeout = std::chrono::seconds(45);
  client_ = makeClient(cfg, transport_, clock_, copts);
  transport_->reply("GET", kPods, ScriptedReply::ok(podList("10", {})));
  transport_->streamReply(kPods, ScriptedReply::chunked({bookmark("30")}));
  transport_->streamReply(kPods, ScriptedReply::failure(Error(ErrorCode::DeadlineExceeded,
                                                              "nothing received for 45000 ms")));
  Informer& inf = make();
  inf.start();
  ASSERT_TRUE(waitForWatches(3));
  EXPECT_EQ(watchVersions(), (std::vector<std::string>{"10", "30", "30"}));
  EXPECT_EQ(listRequests(), 1u) << "no relist";
  for (const auto& r : transport_->streamRequests()) {
    EXPECT_EQ(r.request.idle_timeout, std::optional<Duration>(std::chrono::seconds(45)));
  }
}

// HTTP 410 on the watch request itself relists too.
TEST_F(InformerTest, HttpGoneRelists) {
  transport_->reply("GET", kPods, ScriptedReply::ok(podList("10", {pod("a", "1")})));
  transport_->streamReply(
      kPods, ScriptedReply::withStatus(
                 410, R"({"kind":"Status","reason":"Gone","code":410,"message":"gone"})"));
  transport_->reply("GET", kPods, ScriptedReply::ok(podList("20", {})));
  Informer& inf = make();
  inf.start();
  ASSERT_TRUE(waitForWatches(2));
  EXPECT_EQ(watchVersions(), (std::vector<std::string>{"10", "20"}));
  EXPECT_TRUE(keys().empty());
  ASSERT_TRUE(recorder_.waitFor(2));
  EXPECT_EQ(recorder_.calls().back(), "delete:a@1");
}

// A malformed event is skipped and the stream goes on.
TEST_F(InformerTest, MalformedEventIsSkipped) {
  transport_->reply("GET", kPods, ScriptedReply::ok(podList("10", {})));
  Informer& inf = make();
  inf.start();
  ASSERT_TRUE(waitForWatches(1));
  transport_->push("{\"type\":\"ADDED\",\"object\":{\"metadata\":\n");
  transport_->push(event("ADDED", pod("ok", "11")));
  ASSERT_TRUE(recorder_.waitFor(1));
  EXPECT_EQ(recorder_.calls(), (std::vector<std::string>{"add:ok@11"}));
  EXPECT_EQ(transport_->streamRequests().size(), 1u) << "same stream";
}

// A failed list backs off with growing, jittered delays and then succeeds.
TEST_F(InformerTest, ListFailuresBackOff) {
  for (int i = 0; i < 3; ++i) {
    transport_->reply("GET", kPods,
                      ScriptedReply::withStatus(500, R"({"kind":"Status","code":500,)"
                                                     R"("reason":"InternalError","message":"x"})"));
  }
  transport_->reply("GET", kPods, ScriptedReply::ok(podList("10", {pod("a", "1")})));
  Informer& inf = make();
  inf.start();
  ASSERT_TRUE(inf.waitForSync(kEventually));
  // 800 ms, 1.6 s, 3.2 s, each halved by the pinned jitter.
  EXPECT_EQ(clock_.totalSlept(), milliseconds(400 + 800 + 1600));
}

// A throttled watch waits at least as long as the server's Retry-After before trying again.
TEST_F(InformerTest, ThrottledWatchHonoursRetryAfter) {
  transport_->reply("GET", kPods, ScriptedReply::ok(podList("10", {})));
  transport_->streamReply(
      kPods, ScriptedReply::withStatus(429,
                                       R"({"kind":"Status","reason":"TooManyRequests","code":429,)"
                                       R"("message":"slow down"})",
                                       {{"Retry-After", "7"}}));
  Informer& inf = make();
  inf.start();
  ASSERT_TRUE(waitForWatches(2));
  EXPECT_EQ(watchVersions(), (std::vector<std::string>{"10", "10"}));
  EXPECT_EQ(clock_.totalSlept(), std::chrono::seconds(7));
}

// Resync re-delivers every cached object as an update once per period.
TEST_F(InformerTest, ResyncRedeliversEveryObject) {
  clock_.autoAdvance(false);
  transport_->reply("GET", kPods, ScriptedReply::ok(podList("10", {pod("a", "1"), pod("b", "2")})));
  Informer& inf = make(std::chrono::seconds(30));
  inf.start();
  ASSERT_TRUE(recorder_.waitFor(2));
  ASSERT_TRUE(waitForWatches(1));
  // The watcher waits on its open watch; the resync thread is the one sleeper on the clock.
  ASSERT_TRUE(clock_.waitForSleepers(1));
  for (int i = 0; i < 299; ++i) {
    ASSERT_TRUE(clock_.advanceAndSettle(milliseconds(100), 1));
  }
  EXPECT_EQ(recorder_.calls().size(), 2u) << "no resync before the period";
  ASSERT_TRUE(clock_.advanceAndSettle(milliseconds(100), 1));
  ASSERT_EQ(recorder_.calls().size(), 4u);
  auto calls = recorder_.calls();
  EXPECT_EQ(std::vector<std::string>(calls.begin() + 2, calls.end()),
            (std::vector<std::string>{"update:a@1->1", "update:b@2->2"}));
}

// A watch that ends at once without events backs off rather than spinning on the server.
TEST_F(InformerTest, EmptyWatchEndingAtOnceBacksOff) {
  transport_->reply("GET", kPods, ScriptedReply::ok(podList("10", {})));
  transport_->streamReply(kPods, ScriptedReply::ok(""));
  transport_->streamReply(kPods, ScriptedReply::ok(""));
  Informer& inf = make();
  inf.start();
  ASSERT_TRUE(waitForWatches(3));
  EXPECT_EQ(watchVersions(), (std::vector<std::string>{"10", "10", "10"}));
  EXPECT_EQ(clock_.totalSlept(), milliseconds(400 + 800));
}

// Handlers added after the first sync are told about every object already cached.
TEST_F(InformerTest, LateHandlersSeeCachedObjects) {
  transport_->reply("GET", kPods, ScriptedReply::ok(podList("10", {pod("a", "1")})));
  Informer& inf = make();
  inf.start();
  ASSERT_TRUE(inf.waitForSync(kEventually));
  Recorder late;
  inf.addHandlers(late.handlers());
  inf.stop();
  EXPECT_EQ(late.calls(), (std::vector<std::string>{"add:a@1"}));
}

// stop() cancels a watch the server holds open instead of waiting for it to end.
TEST_F(InformerTest, StopCancelsHeldOpenWatch) {
  transport_->reply("GET", kPods, ScriptedReply::ok(podList("10", {})));
  Informer& inf = make();
  inf.start();
  ASSERT_TRUE(waitForWatches(1));
  // The scripted watch never ends by itself: stop() returns only if it cancels it.
  auto stopped = std::async(std::launch::async, [&] { inf.stop(); });
  ASSERT_EQ(stopped.wait_for(kEventually), std::future_status::ready);
  EXPECT_EQ(transport_->openStreams(), 0);
  EXPECT_EQ(transport_->streamRequests().size(), 1u) << "no new watch after stop";
}

}  // namespace
}  // namespace opsy::kube
