// An informer's indexes follow the watch: a label change moves an object, a deletion removes it,
// and a relist after 410 Gone leaves exactly what the new list holds.
#include <gtest/gtest.h>

#include <thread>

#include "opsy/core/fake_clock.h"
#include "opsy/kube/informer.h"
#include "support/kube_scripted_transport.h"

namespace opsy::kube {
namespace {

using std::chrono::milliseconds;

constexpr const char* kBuilderUid = "ami.refresh.ops/builder-uid";
const std::string kJobs = "/apis/batch/v1/namespaces/ci/jobs";

std::string job(const std::string& name, const std::string& builder, const std::string& rv) {
  return R"({"metadata":{"name":")" + name + R"(","namespace":"ci","resourceVersion":")" + rv +
         R"(","labels":{")" + kBuilderUid + R"(":")" + builder + R"("}}})";
}

std::string jobList(const std::string& rv, const std::vector<std::string>& items) {
  std::string out = R"({"kind":"JobList","metadata":{"resourceVersion":")" + rv + R"("},"items":[)";
  for (size_t i = 0; i < items.size(); ++i) {
    out += (i ? "," : "") + items[i];
  }
  return out + "]}";
}

std::string event(const std::string& type, const std::string& object) {
  return R"({"type":")" + type + R"(","object":)" + object + "}\n";
}

std::vector<std::string> indexed(const Store& store, const std::string& builder) {
  auto found = store.byIndex(labelIndexName(kBuilderUid), builder);
  EXPECT_TRUE(found.has_value());
  std::vector<std::string> out;
  for (const auto& obj : found.value_or(std::vector<ObjectPtr>{})) {
    out.push_back(obj->metadata.name);
  }
  return out;
}

template <class Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 2000; ++i) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  return pred();
}

using Names = std::vector<std::string>;

// Watch events and a relist keep the label index equal to what the server holds.
TEST(InformerIndex, IndexFollowsUpdatesDeletesAndRelist) {
  FakeClock clock;
  auto transport = std::make_shared<ScriptedTransport>();
  transport->reply("GET", kJobs,
                   ScriptedReply::ok(jobList(
                       "10", {job("a", "u1", "10"), job("b", "u1", "10"), job("c", "u2", "10")})));
  // First watch: a moves to u2 and b is deleted.
  transport->streamReply(kJobs, ScriptedReply::chunked({event("MODIFIED", job("a", "u2", "11")),
                                                        event("DELETED", job("b", "u1", "12"))},
                                                       true));
  // The relist: c is gone and d arrived while the informer was not watching.
  transport->reply("GET", kJobs,
                   ScriptedReply::ok(jobList("20", {job("a", "u2", "11"), job("d", "u1", "19")})));
  RestConfig cfg;
  cfg.server = "https://k8s.test";
  ClientOptions copts;
  copts.retry.max_attempts = 1;
  Informer informer(makeClient(cfg, transport, clock, copts),
                    {.resource = resources::jobs(), .ns = "ci", .random = [] { return 0.0; }},
                    clock);
  informer.addIndex(labelIndex(kBuilderUid));
  informer.start();

  const Store& store = informer.store();
  ASSERT_TRUE(eventually([&] { return store.hasSynced() && store.get("ci", "b") == nullptr; }));
  EXPECT_EQ(indexed(store, "u1"), (Names{}));
  EXPECT_EQ(indexed(store, "u2"), (Names{"a", "c"}));

  // The next watch finds its resourceVersion expired and relists.
  transport->streamReply(
      kJobs, ScriptedReply::chunked(
                 {event("ERROR", R"({"kind":"Status","apiVersion":"v1","status":"Failure",)"
                                 R"("reason":"Expired","code":410,"message":"too old"})")}));
  transport->closeStreams();
  ASSERT_TRUE(eventually([&] { return store.get("ci", "d") != nullptr; }));
  EXPECT_EQ(indexed(store, "u1"), (Names{"d"}));
  EXPECT_EQ(indexed(store, "u2"), (Names{"a"}));
  informer.stop();
}

}  // namespace
}  // namespace opsy::kube
