// The Manager's cache-backed reader: reconciles read the kinds the Manager watches from its
// informers (with the indexes the controller registered), not from the API server.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include "opsy/runtime/manager.h"
#include "support/child_process.h"
#include "support/kube_scripted_transport.h"

namespace opsy::runtime {
namespace {

using namespace std::chrono_literals;

const kube::Resource kWidgets{"example.com", "v1", "widgets", "Widget", true};
constexpr const char* kBuilderUid = "example.com/widget-uid";

// Waits (real time) for a condition; the bound is generous so only a hang fails a test.
constexpr std::chrono::milliseconds kHangBound = 10s;

std::string ownedJob(const std::string& name, const std::string& widget_uid) {
  return R"({"metadata":{"name":")" + name + R"(","namespace":"ns","uid":"j-)" + name +
         R"(","resourceVersion":"7","labels":{")" + kBuilderUid + R"(":")" + widget_uid +
         R"("},"ownerReferences":[{"apiVersion":"example.com/v1","kind":"Widget","name":"w1",)"
         R"("uid":")" +
         widget_uid + R"(","controller":true}]}})";
}

// A reconcile that gets its object and lists its Jobs by label through reader() is answered from
// the informers: the only requests are the informers' own lists and watches.
TEST(ManagerCache, ReconcileReadsComeFromTheCache) {
  auto transport = std::make_shared<kube::ScriptedTransport>();
  transport->reply("GET", "/apis/example.com/v1/widgets",
                   kube::ScriptedReply::ok(
                       R"({"metadata":{"resourceVersion":"5"},"items":[{"metadata":)"
                       R"({"name":"w1","namespace":"ns","uid":"u1","resourceVersion":"5"}}]})"));
  transport->reply(
      "GET", "/apis/batch/v1/jobs",
      kube::ScriptedReply::ok(R"({"metadata":{"resourceVersion":"7"},"items":[)" +
                              ownedJob("j1", "u1") + "," + ownedJob("j2", "u9") + "]}"));
  ManagerOptions options;
  options.name = "widget";
  options.metrics_bind_address = "0";
  options.health_probe_bind_address = "0";
  ManagerDeps deps;
  deps.handle_signals = false;
  deps.setup_logging = false;
  deps.env = [](const std::string&) { return std::nullopt; };
  kube::RestConfig cfg;
  cfg.server = "https://k8s.test";
  deps.rest_config = cfg;
  deps.kube_transport = transport;
  auto created = Manager::create(options, deps);
  ASSERT_TRUE(created) << created.error().toString();
  Manager& manager = **created;

  std::mutex mu;
  std::vector<std::string> seen;
  auto reconcile = [&](const std::string& key) {
    auto slash = key.find('/');
    auto widget = manager.reader().get(kWidgets, key.substr(0, slash), key.substr(slash + 1));
    if (!widget) {
      return kube::WorkOutcome::failed(widget.error());
    }
    auto jobs = manager.reader().list(
        kube::resources::jobs(), widget->metadata.ns,
        {.label_selector = std::string(kBuilderUid) + "=" + widget->metadata.uid});
    if (!jobs) {
      return kube::WorkOutcome::failed(jobs.error());
    }
    std::lock_guard lock(mu);
    for (const auto& job : jobs->items) {
      seen.push_back(job.metadata.name);
    }
    return kube::WorkOutcome::success();
  };
  ASSERT_TRUE(manager.addController(
      {.name = "widget",
       .resource = kWidgets,
       .owns = {{.resource = kube::resources::jobs(), .indexes = {kube::labelIndex(kBuilderUid)}}},
       .reconcile = reconcile,
       .resync = Duration{0}}));

  std::promise<int> exit_code;
  std::thread runner([&] { exit_code.set_value(manager.run()); });
  ASSERT_TRUE(opsy::testing::eventually(
      [&] {
        std::lock_guard lock(mu);
        return !seen.empty();
      },
      kHangBound));

  {
    std::lock_guard lock(mu);
    EXPECT_EQ(seen.front(), "j1");
  }
  auto indexed =
      manager.cache(kube::resources::jobs()).byIndex(kube::labelIndexName(kBuilderUid), "u9");
  ASSERT_TRUE(indexed.has_value()) << indexed.error().toString();
  ASSERT_EQ(indexed->size(), 1U);
  EXPECT_EQ(indexed->front()->metadata.name, "j2");
  for (const auto& request : transport->requests()) {
    const bool informer_call =
        request.path == "/apis/example.com/v1/widgets" || request.path == "/apis/batch/v1/jobs";
    EXPECT_TRUE(informer_call) << "unexpected request to " << request.path;
    EXPECT_EQ(request.query.count("labelSelector"), 0U) << request.path;
  }

  manager.requestShutdown("test");
  auto done = exit_code.get_future();
  ASSERT_EQ(done.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(done.get(), 0);
  runner.join();
}

}  // namespace
}  // namespace opsy::runtime
