// The cache-backed reader over a scripted API server: watched kinds are answered from the
// informer store without a request, everything else goes to the live client, and the answers
// (objects and NotFound) are the ones the server gives.
#include "opsy/kube/cache_reader.h"

#include <gtest/gtest.h>

#include "opsy/core/fake_clock.h"
#include "support/kube_scripted_transport.h"

namespace opsy::kube {
namespace {

using std::chrono::milliseconds;

constexpr const char* kBuilderUid = "ami.refresh.ops/builder-uid";
const std::string kJobs = "/apis/batch/v1/namespaces/ci/jobs";

std::string job(const std::string& name, const std::string& uid, const std::string& builder,
                const std::string& rv = "5") {
  return R"({"metadata":{"name":")" + name + R"(","namespace":"ci","uid":")" + uid +
         R"(","resourceVersion":")" + rv + R"(","labels":{")" + kBuilderUid + R"(":")" + builder +
         R"(","app.kubernetes.io/managed-by":"opsy"}},"spec":{"parallelism":1}})";
}

std::string jobList(const std::vector<std::string>& items) {
  std::string out =
      R"({"kind":"JobList","apiVersion":"batch/v1","metadata":{"resourceVersion":"9"},"items":[)";
  for (size_t i = 0; i < items.size(); ++i) {
    out += (i ? "," : "") + items[i];
  }
  return out + "]}";
}

std::string notFoundStatus(const std::string& qualified, const std::string& name) {
  return R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":")" +
         qualified + R"( \")" + name + R"(\" not found","reason":"NotFound","details":{"name":")" +
         name + R"("},"code":404})";
}

std::vector<std::string> names(const ObjectList& list) {
  std::vector<std::string> out;
  for (const auto& obj : list.items) {
    out.push_back(obj.metadata.name);
  }
  return out;
}

using Names = std::vector<std::string>;

class CacheReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RestConfig cfg;
    cfg.server = "https://k8s.test";
    ClientOptions copts;
    copts.retry.max_attempts = 1;
    client_ = makeClient(cfg, transport_, clock_, copts);
    cache_ = std::make_unique<InformerCache>(
        client_, InformerCacheOptions{.namespaces = {"ci"}, .created_ttl = std::chrono::minutes(1)},
        clock_);
    reader_ = std::make_unique<CacheReader>(*cache_, *client_);
    writer_ = std::make_unique<CacheAwareWriter>(*client_, *cache_);
  }
  void TearDown() override { cache_->stop(); }

  // Lists three Jobs (a, b for builder u1; c for u2) and waits for the cache to hold them.
  void startWithJobs(const std::string& label_selector = "") {
    transport_->reply("GET", kJobs,
                      ScriptedReply::ok(jobList(
                          {job("a", "ua", "u1"), job("b", "ub", "u1"), job("c", "uc", "u2")})));
    cache_->informerFor(resources::jobs(), label_selector);
    cache_->start();
    ASSERT_TRUE(cache_->waitForSync(milliseconds(10000)));
  }

  // Requests other than the informer's watch (which opens on its own thread at any moment).
  std::vector<RecordedRequest> sent() const {
    std::vector<RecordedRequest> out;
    for (auto& r : transport_->requests()) {
      if (!r.streamed) {
        out.push_back(std::move(r));
      }
    }
    return out;
  }
  size_t requests() const { return sent().size(); }

  FakeClock clock_;
  std::shared_ptr<ScriptedTransport> transport_ = std::make_shared<ScriptedTransport>();
  ClientPtr client_;
  std::unique_ptr<InformerCache> cache_;
  std::unique_ptr<CacheReader> reader_;
  std::unique_ptr<CacheAwareWriter> writer_;
};

// A label-selected list of a watched kind is answered from the cache: no request reaches the
// server, and the selection is the server's.
TEST_F(CacheReaderTest, LabelSelectedListIsServedWithoutRequest) {
  startWithJobs();
  const size_t before = requests();

  auto u1 =
      reader_->list(resources::jobs(), "ci", {.label_selector = std::string(kBuilderUid) + "=u1"});
  auto not_u1 =
      reader_->list(resources::jobs(), "ci", {.label_selector = std::string(kBuilderUid) + "!=u1"});
  auto all = reader_->list(resources::jobs(), "ci", {});

  ASSERT_TRUE(u1.has_value()) << u1.error().toString();
  EXPECT_EQ(names(*u1), (Names{"a", "b"}));
  EXPECT_EQ(names(*not_u1), (Names{"c"}));
  EXPECT_EQ(names(*all), (Names{"a", "b", "c"}));
  EXPECT_EQ(requests(), before);
}

// With a label index registered the same selection comes from the index.
TEST_F(CacheReaderTest, IndexedLabelListMatchesScan) {
  cache_->informerFor(resources::jobs()).addIndex(labelIndex(kBuilderUid));
  startWithJobs();
  const size_t before = requests();

  auto u1 = reader_->list(resources::jobs(), "ci",
                          {.label_selector = std::string(kBuilderUid) + "=u1,app.kubernetes.io/"
                                                                        "managed-by=opsy"});
  auto none = reader_->list(resources::jobs(), "ci",
                            {.label_selector = std::string(kBuilderUid) + "=u1,missing"});

  ASSERT_TRUE(u1.has_value()) << u1.error().toString();
  EXPECT_EQ(names(*u1), (Names{"a", "b"}));
  EXPECT_EQ(names(*none), (Names{}));
  EXPECT_EQ(requests(), before);
}

// A get of a cached object returns it, typed fields intact, without a request.
TEST_F(CacheReaderTest, GetHitIsServedFromCache) {
  startWithJobs();
  const size_t before = requests();

  auto got = reader_->get(resources::jobs(), "ci", "b");

  ASSERT_TRUE(got.has_value()) << got.error().toString();
  EXPECT_EQ(got->metadata.uid, "ub");
  EXPECT_EQ(got->api_version, "batch/v1");
  EXPECT_EQ(got->kind, "Job");
  EXPECT_EQ(got->getInt("/spec/parallelism"), 1);
  EXPECT_EQ(requests(), before);
}

// A cached miss is the same NotFound the live client returns for the server's 404.
TEST_F(CacheReaderTest, GetMissIsNotFoundLikeTheServer) {
  startWithJobs();
  transport_->reply("GET", kJobs + "/zzz",
                    ScriptedReply::withStatus(404, notFoundStatus("jobs.batch", "zzz")));
  auto live = client_->get(resources::jobs(), "ci", "zzz");
  const size_t before = requests();

  auto cached = reader_->get(resources::jobs(), "ci", "zzz");

  ASSERT_FALSE(live.has_value());
  ASSERT_FALSE(cached.has_value());
  EXPECT_EQ(cached.error().code, ErrorCode::NotFound);
  EXPECT_EQ(cached.error().code, live.error().code);
  EXPECT_EQ(cached.error().http_status, live.error().http_status);
  EXPECT_EQ(cached.error().provider_code, live.error().provider_code);
  EXPECT_EQ(cached.error().message, live.error().message);
  EXPECT_EQ(requests(), before);
}

// Kinds nobody watches (pods of a Job), namespaces outside the watch, field selectors and
// selectors the cache cannot parse all go to the server.
TEST_F(CacheReaderTest, UnwatchedReadsGoToLiveClient) {
  startWithJobs();
  transport_->reply("GET", "/api/v1/namespaces/ci/pods",
                    ScriptedReply::ok(R"({"kind":"PodList","metadata":{},"items":[)"
                                      R"({"metadata":{"name":"p","namespace":"ci"}}]})"));
  transport_->reply("GET", "/apis/batch/v1/namespaces/qa/jobs/a",
                    ScriptedReply::ok(job("a", "qa-a", "u9")));
  transport_->reply("GET", kJobs, ScriptedReply::ok(jobList({})));
  transport_->reply("GET", kJobs, ScriptedReply::ok(jobList({})));
  const size_t before = requests();

  auto pods = reader_->list(resources::pods(), "ci", {.label_selector = "job-name=build-1"});
  auto other_ns = reader_->get(resources::jobs(), "qa", "a");
  auto by_field = reader_->list(resources::jobs(), "ci", {.field_selector = "metadata.name=a"});
  auto unparsable = reader_->list(resources::jobs(), "ci", {.label_selector = "a in (b"});

  ASSERT_TRUE(pods.has_value()) << pods.error().toString();
  EXPECT_EQ(names(*pods), (Names{"p"}));
  ASSERT_TRUE(other_ns.has_value()) << other_ns.error().toString();
  EXPECT_EQ(other_ns->metadata.uid, "qa-a");
  auto live = sent();
  ASSERT_EQ(live.size(), before + 4);
  EXPECT_EQ(live[before].path, "/api/v1/namespaces/ci/pods");
  EXPECT_EQ(live[before].query["labelSelector"], "job-name=build-1");
  EXPECT_EQ(live[before + 1].path, "/apis/batch/v1/namespaces/qa/jobs/a");
  EXPECT_EQ(live[before + 2].query["fieldSelector"], "metadata.name=a");
  EXPECT_EQ(live[before + 3].query["labelSelector"], "a in (b");
}

// Before the cache has synced, reads go to the server rather than answer from an empty cache.
TEST_F(CacheReaderTest, UnsyncedCacheReadsGoToLiveClient) {
  cache_->informerFor(resources::jobs());  // registered, never started
  transport_->reply("GET", kJobs + "/a", ScriptedReply::ok(job("a", "ua", "u1")));

  auto got = reader_->get(resources::jobs(), "ci", "a");

  ASSERT_TRUE(got.has_value()) << got.error().toString();
  EXPECT_EQ(requests(), 1U);
}

// A filtered informer is the process's view of its kind: lists it holds are answered from it,
// whatever their own selector.
TEST_F(CacheReaderTest, FilteredInformerServesItsKind) {
  startWithJobs("app.kubernetes.io/managed-by=opsy");
  const size_t before = requests();

  auto u2 =
      reader_->list(resources::jobs(), "ci", {.label_selector = std::string(kBuilderUid) + "=u2"});

  ASSERT_TRUE(u2.has_value()) << u2.error().toString();
  EXPECT_EQ(names(*u2), (Names{"c"}));
  EXPECT_EQ(requests(), before);
}

// A Job this process created is listed and found before the watch delivers it, and the
// informer's own copy takes over once it arrives.
TEST_F(CacheReaderTest, CreatedObjectIsVisibleBeforeTheWatchDeliversIt) {
  startWithJobs();
  transport_->reply("POST", kJobs, ScriptedReply::withStatus(201, job("new", "un", "u1", "10")));
  Object want(resources::jobs(), "ci", "new");
  auto created = writer_->create(resources::jobs(), want, {});
  ASSERT_TRUE(created.has_value()) << created.error().toString();
  const size_t before = requests();

  auto listed =
      reader_->list(resources::jobs(), "ci", {.label_selector = std::string(kBuilderUid) + "=u1"});
  auto got = reader_->get(resources::jobs(), "ci", "new");

  ASSERT_TRUE(listed.has_value()) << listed.error().toString();
  EXPECT_EQ(names(*listed), (Names{"a", "b", "new"}));
  ASSERT_TRUE(got.has_value()) << got.error().toString();
  EXPECT_EQ(got->metadata.resource_version, "10");
  EXPECT_EQ(requests(), before);

  // The watch catches up with a newer version: that is what reads return from now on.
  transport_->push(R"({"type":"ADDED","object":)" + job("new", "un", "u1", "11") + "}\n");
  const MultiNamespaceInformer& jobs = cache_->informerFor(resources::jobs());
  for (int i = 0; i < 1000 && jobs.get("ci", "new") == nullptr; ++i) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  auto after = reader_->get(resources::jobs(), "ci", "new");
  ASSERT_TRUE(after.has_value()) << after.error().toString();
  EXPECT_EQ(after->metadata.resource_version, "11");
  EXPECT_EQ(cache_->created(jobs, "ci/new"), nullptr);
}

// Read-your-writes: after a status write, reads return what was written until the informer has
// that version; an older event arriving meanwhile (the previous write's) does not bring the stale
// state back. This is what keeps a reconcile from repeating the AWS calls of the previous one.
TEST_F(CacheReaderTest, StatusWriteIsReadBackUntilTheWatchCatchesUp) {
  startWithJobs();  // job "a" at resourceVersion 5
  const MultiNamespaceInformer& jobs = cache_->informerFor(resources::jobs());
  auto waitForRv = [&](const std::string& rv) {
    for (int i = 0; i < 1000; ++i) {
      ObjectPtr now = jobs.get("ci", "a");
      if (now != nullptr && now->metadata.resource_version == rv) {
        return true;
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
    return false;
  };
  transport_->reply("PATCH", kJobs + "/a/status", ScriptedReply::ok(job("a", "ua", "u1", "20")));
  auto written =
      writer_->patchStatus(resources::jobs(), "ci", "a", PatchType::Merge, R"({"status":{}})", {});
  ASSERT_TRUE(written.has_value()) << written.error().toString();
  EXPECT_EQ(reader_->get(resources::jobs(), "ci", "a")->metadata.resource_version, "20");

  // The watch delivers an older write (rv 12) first: reads still return ours.
  transport_->push(R"({"type":"MODIFIED","object":)" + job("a", "ua", "u1", "12") + "}\n");
  ASSERT_TRUE(waitForRv("12"));
  EXPECT_EQ(reader_->get(resources::jobs(), "ci", "a")->metadata.resource_version, "20");

  // Then a newer one: the informer is trusted again.
  transport_->push(R"({"type":"MODIFIED","object":)" + job("a", "ua", "u1", "21") + "}\n");
  ASSERT_TRUE(waitForRv("21"));
  EXPECT_EQ(reader_->get(resources::jobs(), "ci", "a")->metadata.resource_version, "21");
  EXPECT_EQ(cache_->created(jobs, "ci/a"), nullptr);
}

// A remembered creation the informer never reports (deleted meanwhile, lost to a relist) stops
// showing after created_ttl; one deleted through the writer stops at once.
TEST_F(CacheReaderTest, RememberedCreationExpiresOrIsForgottenOnDelete) {
  startWithJobs();
  transport_->reply("POST", kJobs, ScriptedReply::withStatus(201, job("x", "ux", "u1")));
  transport_->reply("POST", kJobs, ScriptedReply::withStatus(201, job("y", "uy", "u1")));
  transport_->reply("DELETE", kJobs + "/y", ScriptedReply::ok(R"({"kind":"Status"})"));
  ASSERT_TRUE(writer_->create(resources::jobs(), Object(resources::jobs(), "ci", "x"), {}));
  ASSERT_TRUE(writer_->create(resources::jobs(), Object(resources::jobs(), "ci", "y"), {}));
  ASSERT_TRUE(writer_->remove(resources::jobs(), "ci", "y", {}));

  EXPECT_TRUE(reader_->get(resources::jobs(), "ci", "x").has_value());
  EXPECT_EQ(reader_->get(resources::jobs(), "ci", "y").error().code, ErrorCode::NotFound);
  clock_.advance(std::chrono::minutes(2));
  EXPECT_EQ(reader_->get(resources::jobs(), "ci", "x").error().code, ErrorCode::NotFound);
}

// Dry-run creations and creations of kinds nobody watches are not remembered.
TEST_F(CacheReaderTest, DryRunCreateIsNotRemembered) {
  startWithJobs();
  transport_->reply("POST", kJobs, ScriptedReply::withStatus(201, job("dry", "ud", "u1")));
  ASSERT_TRUE(writer_->create(resources::jobs(), Object(resources::jobs(), "ci", "dry"),
                              {.dry_run = true}));

  EXPECT_EQ(reader_->get(resources::jobs(), "ci", "dry").error().code, ErrorCode::NotFound);
}

}  // namespace
}  // namespace opsy::kube
