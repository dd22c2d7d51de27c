// The cache-backed reader against the fake API server over real HTTP: for every get and
// label-selected list, what the cache answers is what the server answers (objects, selections
// and NotFound), and none of those reads reaches the server.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "opsy/http/curl_transport.h"
#include "opsy/kube/cache_reader.h"
#include "support/fake_kube.h"
#include "support/loopback_server.h"

namespace opsy::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const Resource& configMaps() {
  static const Resource r{"", "v1", "configmaps", "ConfigMap", true};
  return r;
}

std::string configMap(const std::string& name, const std::string& labels) {
  return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name +
         R"(","namespace":"ci","labels":{)" + labels + R"(}},"data":{"v":")" + name + R"("}})";
}

// Same JSON document, whatever the member order.
bool sameJson(const std::string& a, const std::string& b) {
  rapidjson::Document da;
  rapidjson::Document db;
  da.Parse(a.c_str());
  db.Parse(b.c_str());
  return !da.HasParseError() && !db.HasParseError() && da == db;
}

void expectSameObject(const Object& cached, const Object& live) {
  EXPECT_EQ(cached.api_version, live.api_version);
  EXPECT_EQ(cached.kind, live.kind);
  EXPECT_EQ(cached.key(), live.key());
  EXPECT_EQ(cached.metadata.uid, live.metadata.uid);
  EXPECT_EQ(cached.metadata.resource_version, live.metadata.resource_version);
  EXPECT_EQ(cached.metadata.labels, live.metadata.labels);
  EXPECT_EQ(cached.metadata.creation_timestamp, live.metadata.creation_timestamp);
  EXPECT_TRUE(sameJson(cached.toJson(), live.toJson()))
      << "cached: " << cached.toJson() << "\nlive:   " << live.toJson();
}

class CacheReaderFakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::clearProxyEnvironment();
    ASSERT_TRUE(fake_.start().has_value());
    ASSERT_TRUE(
        fake_.createObject(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ci"}})"));
    ASSERT_TRUE(fake_.createObject(configMap("a", R"("team":"x","tier":"web")")));
    ASSERT_TRUE(fake_.createObject(configMap("b", R"("team":"y")")));
    ASSERT_TRUE(fake_.createObject(configMap("c", "")));
    auto transport = http::makeCurlTransport({});
    ASSERT_TRUE(transport.has_value()) << transport.error().toString();
    RestConfig cfg;
    cfg.server = fake_.url();
    cfg.credentials = staticTokenSource(fake_.token());
    ClientOptions copts;
    // The fake serves plain HTTP on 127.0.0.1: the token may go there only with this allowance.
    copts.allow_http_credentials_on_loopback = true;
    client_ = makeClient(cfg, *transport, realClock(), copts);
    cache_ = std::make_unique<InformerCache>(client_, InformerCacheOptions{.namespaces = {"ci"}},
                                             realClock());
    cache_->informerFor(configMaps()).addIndex(labelIndex("team"));
    cache_->start();
    ASSERT_TRUE(cache_->waitForSync(milliseconds(30000)));
    reader_ = std::make_unique<CacheReader>(*cache_, *client_);
  }
  void TearDown() override {
    if (cache_) {
      cache_->stop();
    }
  }

  int reads() const {
    return fake_.requestCount("get", "configmaps") + fake_.requestCount("list", "configmaps");
  }

  testing::FakeKube fake_;
  ClientPtr client_;
  std::unique_ptr<InformerCache> cache_;
  std::unique_ptr<CacheReader> reader_;
};

// A cached get returns the object the server returns, and asks the server nothing.
TEST_F(CacheReaderFakeTest, CachedGetEqualsLiveGet) {
  for (const char* name : {"a", "b", "c"}) {
    auto live = client_->get(configMaps(), "ci", name);
    ASSERT_TRUE(live.has_value()) << live.error().toString();
    const int before = reads();
    auto cached = reader_->get(configMaps(), "ci", name);
    EXPECT_EQ(reads(), before) << name;
    ASSERT_TRUE(cached.has_value()) << cached.error().toString();
    expectSameObject(*cached, *live);
  }
}

// Every selector operator selects from the cache exactly what the server selects.
TEST_F(CacheReaderFakeTest, CachedListEqualsLiveListForEverySelector) {
  for (const char* selector : {"", "team=x", "team==y", "team!=x", "team in (x,y)",
                               "team notin (x)", "team", "!team", "team=x,tier=web", "team=z"}) {
    auto live = client_->list(configMaps(), "ci", {.label_selector = selector});
    ASSERT_TRUE(live.has_value()) << selector << ": " << live.error().toString();
    const int before = reads();
    auto cached = reader_->list(configMaps(), "ci", {.label_selector = selector});
    EXPECT_EQ(reads(), before) << selector;
    ASSERT_TRUE(cached.has_value()) << selector << ": " << cached.error().toString();
    ASSERT_EQ(cached->items.size(), live->items.size()) << selector;
    for (size_t i = 0; i < live->items.size(); ++i) {
      expectSameObject(cached->items[i], live->items[i]);
    }
  }
}

// A miss is the server's NotFound: same code, HTTP status, reason and message.
TEST_F(CacheReaderFakeTest, CachedMissEqualsLiveNotFound) {
  const int start = reads();
  auto live = client_->get(configMaps(), "ci", "missing");
  const int before = reads();
  EXPECT_EQ(before, start + 1) << "the request counter must see a live read";
  auto cached = reader_->get(configMaps(), "ci", "missing");

  EXPECT_EQ(reads(), before);
  ASSERT_FALSE(live.has_value());
  ASSERT_FALSE(cached.has_value());
  EXPECT_EQ(cached.error().code, live.error().code);
  EXPECT_EQ(cached.error().http_status, live.error().http_status);
  EXPECT_EQ(cached.error().provider_code, live.error().provider_code);
  EXPECT_EQ(cached.error().message, live.error().message);
}

}  // namespace
}  // namespace opsy::kube
