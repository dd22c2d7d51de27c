#include <gtest/gtest.h>

#include "fake_kube_fixture.h"
#include "support/child_process.h"

namespace opsy::testing {
namespace {

using FakeKubeWatch = FakeKubeTest;

constexpr const char* kConfigMaps = "/api/v1/namespaces/default/configmaps";

std::string configMap(const std::string& name, const std::string& value = "v",
                      const std::string& labels = "{}") {
  return R"({"metadata":{"name":")" + name + R"(","labels":)" + labels + R"(},"data":{"k":")" +
         value + "\"}}";
}

std::vector<std::string> types(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  for (const auto& l : lines) {
    out.push_back(eventType(l));
  }
  return out;
}

// A watch from a list's resourceVersion sees ADDED, MODIFIED and DELETED in order, each with
// the object's new resourceVersion.
TEST_F(FakeKubeWatch, StreamsChangesAfterListResourceVersion) {
  post(kConfigMaps, configMap("old"));
  const std::string rv = get(kConfigMaps).str("/metadata/resourceVersion");
  StreamReader watch(kube_.url(), kube_.token(),
                     std::string(kConfigMaps) + "?watch=1&resourceVersion=" + rv);
  Reply created = post(kConfigMaps, configMap("a"));
  patch(std::string(kConfigMaps) + "/a", R"({"data":{"k":"w"}})");
  del(std::string(kConfigMaps) + "/a");
  auto lines = watch.waitForLines(3);
  ASSERT_EQ(types(lines), (std::vector<std::string>{"ADDED", "MODIFIED", "DELETED"}));
  auto added = parseLine(lines[0]);
  EXPECT_STREQ(added["object"]["metadata"]["name"].GetString(), "a");
  EXPECT_EQ(std::string(added["object"]["metadata"]["resourceVersion"].GetString()),
            created.str("/metadata/resourceVersion"));
  auto modified = parseLine(lines[1]);
  EXPECT_STREQ(modified["object"]["data"]["k"].GetString(), "w");
}

// Without a resourceVersion a watch starts with synthetic ADDED events for what exists.
TEST_F(FakeKubeWatch, WatchWithoutResourceVersionStartsWithCurrentState) {
  post(kConfigMaps, configMap("a"));
  post(kConfigMaps, configMap("b"));
  StreamReader watch(kube_.url(), kube_.token(), std::string(kConfigMaps) + "?watch=true");
  auto lines = watch.waitForLines(2);
  EXPECT_EQ(types(lines), (std::vector<std::string>{"ADDED", "ADDED"}));
}

// Query booleans read as the API server reads them: python3-kubernetes sends watch=True and gets
// a watch; "0" and "false" in any case are a plain list, anything else, "yes" too, a watch.
TEST_F(FakeKubeWatch, WatchParameterIsReadLikeTheApiServersBooleans) {
  post(kConfigMaps, configMap("a"));
  for (const char* value : {"True", "TRUE", "yes", ""}) {
    StreamReader watch(kube_.url(), kube_.token(), std::string(kConfigMaps) + "?watch=" + value);
    EXPECT_EQ(types(watch.waitForLines(1)), (std::vector<std::string>{"ADDED"})) << value;
  }
  for (const char* value : {"False", "FALSE", "0"}) {
    Reply list = get(std::string(kConfigMaps) + "?watch=" + value);
    EXPECT_EQ(list.status, 200) << value;
    EXPECT_EQ(list.str("/kind"), "ConfigMapList") << value;
    EXPECT_EQ(list.size("/items"), 1u) << value;
  }
}

// Resuming from an older resourceVersion replays the events after it.
TEST_F(FakeKubeWatch, ResumesFromResourceVersion) {
  Reply a = post(kConfigMaps, configMap("a"));
  post(kConfigMaps, configMap("b"));
  patch(std::string(kConfigMaps) + "/a", R"({"data":{"k":"w"}})");
  StreamReader watch(
      kube_.url(), kube_.token(),
      std::string(kConfigMaps) + "?watch=1&resourceVersion=" + a.str("/metadata/resourceVersion"));
  auto lines = watch.waitForLines(2);
  ASSERT_EQ(types(lines), (std::vector<std::string>{"ADDED", "MODIFIED"}));
  EXPECT_STREQ(parseLine(lines[0])["object"]["metadata"]["name"].GetString(), "b");
}

// With allowWatchBookmarks=true, BOOKMARK events carry only kind, apiVersion and the current
// resourceVersion.
TEST_F(FakeKubeWatch, SendsBookmarksWhenAllowed) {
  post(kConfigMaps, configMap("a"));
  StreamReader watch(kube_.url(), kube_.token(),
                     std::string(kConfigMaps) +
                         "?watch=1&allowWatchBookmarks=true&"
                         "resourceVersion=" +
                         kube_.currentResourceVersion());
  auto lines = watch.waitForLines(1);
  ASSERT_EQ(types(lines), std::vector<std::string>{"BOOKMARK"});
  auto bookmark = parseLine(lines[0]);
  EXPECT_STREQ(bookmark["object"]["kind"].GetString(), "ConfigMap");
  EXPECT_STREQ(bookmark["object"]["apiVersion"].GetString(), "v1");
  EXPECT_EQ(std::string(bookmark["object"]["metadata"]["resourceVersion"].GetString()),
            kube_.currentResourceVersion());
  EXPECT_FALSE(bookmark["object"].HasMember("data"));
}

// No bookmarks unless asked for.
TEST_F(FakeKubeWatch, NoBookmarksUnlessAllowed) {
  StreamReader watch(
      kube_.url(), kube_.token(),
      std::string(kConfigMaps) + "?watch=1&resourceVersion=" + kube_.currentResourceVersion());
  EXPECT_TRUE(watch.waitForLines(1, 600).empty());
}

// sendInitialEvents=true streams the current state and ends it with a bookmark annotated
// k8s.io/initial-events-end, then continues as a normal watch.
TEST_F(FakeKubeWatch, StreamingListEndsWithAnnotatedBookmark) {
  post(kConfigMaps, configMap("a"));
  StreamReader watch(kube_.url(), kube_.token(),
                     std::string(kConfigMaps) +
                         "?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&"
                         "resourceVersionMatch=NotOlderThan");
  auto lines = watch.waitForLines(2);
  ASSERT_EQ(types(lines), (std::vector<std::string>{"ADDED", "BOOKMARK"}));
  auto bookmark = parseLine(lines[1]);
  EXPECT_STREQ(
      bookmark["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"].GetString(),
      "true");
  post(kConfigMaps, configMap("b"));
  EXPECT_EQ(eventType(watch.waitForLines(3).back()), "ADDED");
}

// A resourceVersion older than the retained history gets an ERROR event with a 410 Expired
// Status, and the stream ends.
TEST_F(FakeKubeWatch, TooOldResourceVersionIsExpired) {
  Reply a = post(kConfigMaps, configMap("a"));
  post(kConfigMaps, configMap("b"));
  kube_.compactHistory();
  StreamReader watch(
      kube_.url(), kube_.token(),
      std::string(kConfigMaps) + "?watch=1&resourceVersion=" + a.str("/metadata/resourceVersion"));
  auto lines = watch.waitForLines(1);
  ASSERT_EQ(types(lines), std::vector<std::string>{"ERROR"});
  auto error = parseLine(lines[0]);
  EXPECT_STREQ(error["object"]["kind"].GetString(), "Status");
  EXPECT_EQ(error["object"]["code"].GetInt(), 410);
  EXPECT_STREQ(error["object"]["reason"].GetString(), "Expired");
  EXPECT_EQ(
      std::string(error["object"]["message"].GetString()).rfind("too old resource version: ", 0),
      0u);
  EXPECT_TRUE(watch.waitForEnd());
}

// The retained history is bounded: once more events than the window happened, old
// resourceVersions expire.
TEST_F(FakeKubeWatch, HistoryWindowIsBounded) {
  FakeKubeOptions options = defaultOptions();
  options.history_limit = 3;
  FakeKube small(options);
  ASSERT_TRUE(small.start().has_value());
  const std::string start = small.currentResourceVersion();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(small
                    .createObject(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c)" +
                                  std::to_string(i) + R"(","namespace":"default"}})")
                    .has_value());
  }
  StreamReader watch(small.url(), small.token(),
                     std::string(kConfigMaps) + "?watch=1&resourceVersion=" + start);
  EXPECT_EQ(types(watch.waitForLines(1)), std::vector<std::string>{"ERROR"});
}

// timeoutSeconds ends the stream cleanly (final chunk) when it runs out.
TEST_F(FakeKubeWatch, TimeoutSecondsEndsStream) {
  StreamReader watch(kube_.url(), kube_.token(),
                     std::string(kConfigMaps) + "?watch=1&timeoutSeconds=1&resourceVersion=" +
                         kube_.currentResourceVersion());
  ASSERT_TRUE(watch.waitForEnd(3000));
  EXPECT_TRUE(watch.cleanEnd());
}

// A label-selected watch sees an object leaving the selection as DELETED and entering as ADDED.
TEST_F(FakeKubeWatch, LabelSelectedWatchTracksMembership) {
  post(kConfigMaps, configMap("a", "v", R"({"app":"web"})"));
  StreamReader watch(kube_.url(), kube_.token(),
                     std::string(kConfigMaps) + "?watch=1&labelSelector=app%3Dweb&" +
                         "resourceVersion=" + kube_.currentResourceVersion());
  patch(std::string(kConfigMaps) + "/a", R"({"metadata":{"labels":{"app":"db"}}})");
  post(kConfigMaps, configMap("b", "v", R"({"app":"db"})"));
  patch(std::string(kConfigMaps) + "/a", R"({"metadata":{"labels":{"app":"web"}}})");
  auto lines = watch.waitForLines(2);
  EXPECT_EQ(types(lines), (std::vector<std::string>{"DELETED", "ADDED"}));
}

// Watches are namespaced: events of other namespaces are not delivered.
TEST_F(FakeKubeWatch, NamespacedWatchFiltersNamespaces) {
  post("/api/v1/namespaces", R"({"metadata":{"name":"other"}})");
  StreamReader watch(
      kube_.url(), kube_.token(),
      std::string(kConfigMaps) + "?watch=1&resourceVersion=" + kube_.currentResourceVersion());
  post("/api/v1/namespaces/other/configmaps", configMap("x"));
  post(kConfigMaps, configMap("y"));
  auto lines = watch.waitForLines(1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_STREQ(parseLine(lines[0])["object"]["metadata"]["name"].GetString(), "y");
}

// dropWatches closes open streams abruptly (no final chunk).
TEST_F(FakeKubeWatch, DropClosesOpenWatches) {
  StreamReader watch(
      kube_.url(), kube_.token(),
      std::string(kConfigMaps) + "?watch=1&resourceVersion=" + kube_.currentResourceVersion());
  for (int i = 0; i < 100 && kube_.openWatchCount("configmaps") == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(kube_.openWatchCount("configmaps"), 1);
  kube_.dropWatches("configmaps");
  ASSERT_TRUE(watch.waitForEnd());
  EXPECT_FALSE(watch.cleanEnd());
}

// A drop_watch_after fault lets the next watch start, then cuts it; later watches are unaffected.
TEST_F(FakeKubeWatch, DropWatchAfterFaultCutsTheNextWatch) {
  KubeFault fault;
  fault.verb = "watch";
  fault.resource = "configmaps";
  fault.drop_watch_after = std::chrono::milliseconds(300);
  kube_.addFault(fault);
  StreamReader first(
      kube_.url(), kube_.token(),
      std::string(kConfigMaps) + "?watch=1&resourceVersion=" + kube_.currentResourceVersion());
  post(kConfigMaps, configMap("a"));
  EXPECT_EQ(types(first.waitForLines(1)), std::vector<std::string>{"ADDED"});
  ASSERT_TRUE(first.waitForEnd());
  EXPECT_FALSE(first.cleanEnd());
  StreamReader second(kube_.url(), kube_.token(),
                      std::string(kConfigMaps) + "?watch=1&timeoutSeconds=1&resourceVersion=" +
                          kube_.currentResourceVersion());
  ASSERT_TRUE(second.waitForEnd(3000));
  EXPECT_TRUE(second.cleanEnd());
}

// A silent_watch fault accepts the next watch (200) and then sends nothing, not even the
// bookmarks it asked for, while the connection stays open; a watch after it is normal again.
TEST_F(FakeKubeWatch, SilentWatchFaultAcceptsThenSendsNothing) {
  KubeFault fault;
  fault.verb = "watch";
  fault.resource = "configmaps";
  fault.silent_watch = true;
  kube_.addFault(fault);
  const std::string path =
      std::string(kConfigMaps) +
      "?watch=1&allowWatchBookmarks=true&resourceVersion=" + kube_.currentResourceVersion();
  StreamReader silent(kube_.url(), kube_.token(), path);
  ASSERT_TRUE(eventually([&] { return kube_.openWatchCount("configmaps") == 1; }));
  post(kConfigMaps, configMap("a"));
  StreamReader normal(kube_.url(), kube_.token(), path);
  // The normal watch gets the event and a bookmark (every 200 ms here); by then the silent one
  // would have had both too.
  auto lines = normal.waitForLines(2);
  ASSERT_EQ(types(lines), (std::vector<std::string>{"ADDED", "BOOKMARK"}));
  EXPECT_TRUE(silent.waitForLines(1, 400).empty());
  EXPECT_EQ(silent.partial(), "");
  EXPECT_FALSE(silent.waitForEnd(0));
  EXPECT_EQ(kube_.openWatchCount("configmaps"), 2);
}

// An oversized_body_bytes fault answers 200 with exactly that many bytes of a watch event line
// that never ends (no line break) or of a JSON object that never closes, and reports what it
// sent.
TEST_F(FakeKubeWatch, OversizedAnswersHaveTheSizeAskedForAndNeverEnd) {
  constexpr size_t kSize = size_t{1} << 20;
  for (const char* verb : {"watch", "list"}) {
    KubeFault fault;
    fault.verb = verb;
    fault.resource = "configmaps";
    fault.oversized_body_bytes = kSize;
    kube_.addFault(fault);
  }
  httplib::Result watch = client_->Get((std::string(kConfigMaps) + "?watch=1").c_str());
  httplib::Result list = client_->Get(kConfigMaps);
  for (const httplib::Result* r : {&watch, &list}) {
    ASSERT_TRUE(*r);
    EXPECT_EQ((*r)->status, 200);
    EXPECT_EQ((*r)->body.size(), kSize);
    EXPECT_EQ((*r)->body.find('\n'), std::string::npos);
    rapidjson::Document doc;
    EXPECT_TRUE(doc.Parse((*r)->body.c_str()).HasParseError());
  }
  EXPECT_EQ(watch->body.rfind(R"({"type":"ADDED","object":{)", 0), 0u);
  EXPECT_EQ(list->body.rfind(R"({"kind":"ConfigMapList")", 0), 0u);
  EXPECT_TRUE(eventually([&] { return kube_.oversizedBodiesSent().size() == 2; }));
  EXPECT_EQ(kube_.oversizedBodiesSent(), (std::vector<size_t>{kSize, kSize}));
  // The faults were used up: the next list is the real one.
  EXPECT_EQ(get(kConfigMaps).status, 200);
}

// A stalled watch stays open and delivers nothing; unstalled, it catches up.
TEST_F(FakeKubeWatch, StallHoldsEventsBack) {
  StreamReader watch(
      kube_.url(), kube_.token(),
      std::string(kConfigMaps) + "?watch=1&resourceVersion=" + kube_.currentResourceVersion());
  kube_.stallWatches("configmaps");
  post(kConfigMaps, configMap("a"));
  EXPECT_TRUE(watch.waitForLines(1, 400).empty());
  kube_.stallWatches("configmaps", false);
  EXPECT_EQ(types(watch.waitForLines(1)), std::vector<std::string>{"ADDED"});
}

// expireNextWatch makes exactly the next watch fail with 410.
TEST_F(FakeKubeWatch, ExpireNextWatchForces410Once) {
  kube_.expireNextWatch("configmaps");
  {
    StreamReader first(
        kube_.url(), kube_.token(),
        std::string(kConfigMaps) + "?watch=1&resourceVersion=" + kube_.currentResourceVersion());
    EXPECT_EQ(types(first.waitForLines(1)), std::vector<std::string>{"ERROR"});
  }
  StreamReader second(
      kube_.url(), kube_.token(),
      std::string(kConfigMaps) + "?watch=1&resourceVersion=" + kube_.currentResourceVersion());
  post(kConfigMaps, configMap("a"));
  EXPECT_EQ(types(second.waitForLines(1)), std::vector<std::string>{"ADDED"});
}

// Custom resources are watched like built-ins, with their served apiVersion.
TEST_F(FakeKubeWatch, WatchesCustomResources) {
  installCrd();
  StreamReader watch(
      kube_.url(), kube_.token(),
      std::string(kPbPath) + "?watch=1&resourceVersion=" + kube_.currentResourceVersion());
  post(kPbPath, packerBuilder("a"));
  auto lines = watch.waitForLines(1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_STREQ(parseLine(lines[0])["object"]["apiVersion"].GetString(), "ami.refresh.ops/v1alpha1");
}

}  // namespace
}  // namespace opsy::testing
