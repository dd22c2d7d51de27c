// Whole Managers: one against a loopback server speaking just enough of the Kubernetes API for
// one resource (list, watch, status update) through a kubeconfig and libcurl, and leader-election
// gating over the in-memory Lease.
#include "opsy/runtime/manager.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "support/child_process.h"
#include "support/in_memory_lease_store.h"
#include "support/kube_scripted_transport.h"
#include "support/loopback_server.h"

namespace opsy::runtime {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const kube::Resource kWidgets{"example.com", "v1", "widgets", "Widget", true};

class ProxyFreeEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { testing::clearProxyEnvironment(); }
};
[[maybe_unused]] const auto* const kProxyFree =
    ::testing::AddGlobalTestEnvironment(new ProxyFreeEnvironment);

// Waits (real time) for a condition; the bound is generous so only a hang fails a test.
constexpr std::chrono::milliseconds kHangBound = 60s;

// Just enough API server for widgets in namespace "ns": list, a watch that stays open and sends
// what the test pushes, and PUT of the status subresource.
class MiniApiServer {
 public:
  MiniApiServer() {
    auto server = std::make_unique<httplib::Server>();
    server->Get("/apis/example.com/v1/widgets", [this](const httplib::Request& req,
                                                       httplib::Response& res) {
      remember(req);
      if (req.has_param("watch")) {
        watch(res);
        return;
      }
      res.set_content(R"({"kind":"WidgetList","apiVersion":"example.com/v1",)"
                      R"("metadata":{"resourceVersion":"10"},"items":[{"metadata":)"
                      R"({"name":"w1","namespace":"ns","uid":"u1","resourceVersion":"10"},)"
                      R"("spec":{"size":1}}]})",
                      "application/json");
    });
    server->Put(R"(/apis/example.com/v1/namespaces/ns/widgets/([a-z0-9]+)/status)",
                [this](const httplib::Request& req, httplib::Response& res) {
                  remember(req);
                  {
                    std::lock_guard lock(mu_);
                    status_bodies_.push_back(req.body);
                  }
                  cv_.notify_all();
                  res.set_content(req.body, "application/json");
                });
    server->Post(R"(/apis/events.k8s.io/v1/namespaces/ns/events)",
                 [this](const httplib::Request& req, httplib::Response& res) {
                   remember(req);
                   {
                     std::lock_guard lock(mu_);
                     event_bodies_.push_back(req.body);
                   }
                   res.status = 201;
                   res.set_content(req.body, "application/json");
                 });
    running_ = std::make_unique<testing::LoopbackServer>(std::move(server));
  }
  ~MiniApiServer() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    running_->stop();
  }

  std::string url() const { return running_->url(); }
  void push(const std::string& event) {
    {
      std::lock_guard lock(mu_);
      pending_.push_back(event + "\n");
    }
    cv_.notify_all();
  }
  std::vector<std::string> statusBodies() const {
    std::lock_guard lock(mu_);
    return status_bodies_;
  }
  std::vector<std::string> eventBodies() const {
    std::lock_guard lock(mu_);
    return event_bodies_;
  }
  std::vector<std::string> authorizations() const {
    std::lock_guard lock(mu_);
    return authorizations_;
  }

 private:
  void remember(const httplib::Request& req) {
    std::lock_guard lock(mu_);
    authorizations_.push_back(req.get_header_value("Authorization"));
  }
  void watch(httplib::Response& res) {
    res.set_chunked_content_provider("application/json", [this](size_t, httplib::DataSink& sink) {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, 50ms, [&] { return stopping_ || !pending_.empty(); });
      if (stopping_) {
        sink.done();
        return true;
      }
      while (!pending_.empty()) {
        std::string event = std::move(pending_.front());
        pending_.pop_front();
        if (!sink.write(event.data(), event.size())) {
          return false;
        }
      }
      return sink.is_writable();
    });
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::deque<std::string> pending_;
  std::vector<std::string> status_bodies_;
  std::vector<std::string> event_bodies_;
  std::vector<std::string> authorizations_;
  std::unique_ptr<testing::LoopbackServer> running_;
};

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::path(::testing::TempDir()) / "opsy-manager-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  fs::path path() const { return path_; }

 private:
  fs::path path_;
};

ManagerDeps quietDeps() {
  ManagerDeps deps;
  deps.handle_signals = false;
  deps.setup_logging = false;
  deps.env = [](const std::string&) { return std::nullopt; };
  return deps;
}

// A Manager built from a kubeconfig lists and watches the resource, reconciles each object
// (writing status through the client), re-reconciles on a watch event, records events, serves
// /readyz and /metrics, counts Kubernetes calls, and returns 0 after a requested stop.
TEST(ManagerLoopback, ReconcilesFromWatchAndStopsCleanly) {
  MiniApiServer api;
  TempDir dir;
  const fs::path kubeconfig = dir.path() / "config";
  std::ofstream(kubeconfig) << "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
                               "    server: "
                            << api.url()
                            << "\nusers:\n- name: u\n  user:\n    token: loopback-token\n"
                               "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                               "current-context: x\n";
  ManagerOptions options;
  options.name = "widget";
  options.kubeconfig = kubeconfig.string();
  options.insecure_allow_http_credentials_on_loopback = true;  // the token goes to 127.0.0.1
  options.metrics_bind_address = "127.0.0.1:0";
  options.health_probe_bind_address = "127.0.0.1:0";
  auto created = Manager::create(options, quietDeps());
  ASSERT_TRUE(created) << created.error().toString();
  Manager& manager = **created;

  const kube::Store& widgets = manager.cache(kWidgets);
  std::atomic<int> reconciles{0};
  auto reconcile = [&](const std::string& key) -> kube::WorkOutcome {
    auto slash = key.find('/');
    kube::ObjectPtr cached = widgets.get(key.substr(0, slash), key.substr(slash + 1));
    if (!cached) {
      return kube::WorkOutcome::success();
    }
    kube::Object obj = *cached;
    if (auto s = obj.setInt("/status/reconciled", ++reconciles); !s) {
      return kube::WorkOutcome::failed(s.error());
    }
    auto stored = manager.client().updateStatus(kWidgets, obj, {});
    if (!stored) {
      return kube::WorkOutcome::failed(stored.error());
    }
    manager.events().record({.api_version = "example.com/v1",
                             .kind = "Widget",
                             .ns = obj.metadata.ns,
                             .name = obj.metadata.name,
                             .uid = obj.metadata.uid},
                            kube::EventType::Normal, "Reconciled", "Reconcile", "done");
    return kube::WorkOutcome::success();
  };
  ASSERT_TRUE(manager.addController(
      {.name = "widget", .resource = kWidgets, .reconcile = reconcile, .resync = Duration{0}}));

  std::promise<int> exit_code;
  std::thread runner([&] { exit_code.set_value(manager.run()); });

  ASSERT_TRUE(
      opsy::testing::eventually([&] { return api.statusBodies().size() >= 1; }, kHangBound));
  api.push(R"({"type":"MODIFIED","object":{"apiVersion":"example.com/v1","kind":"Widget",)"
           R"("metadata":{"name":"w1","namespace":"ns","uid":"u1","resourceVersion":"11"},)"
           R"("spec":{"size":2}}})");
  ASSERT_TRUE(
      opsy::testing::eventually([&] { return api.statusBodies().size() >= 2; }, kHangBound));
  auto second = kube::Object::parse(api.statusBodies().at(1));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->getInt("/spec/size").value_or(0), 2);
  EXPECT_EQ(second->getInt("/status/reconciled").value_or(0), 2);
  ASSERT_TRUE(opsy::testing::eventually([&] { return !api.eventBodies().empty(); }, kHangBound));
  auto event = kube::Object::parse(api.eventBodies().front());
  ASSERT_TRUE(event);
  EXPECT_EQ(event->getString("/reason").value_or(""), "Reconciled");
  EXPECT_EQ(event->getString("/reportingController").value_or(""),
            "ami.refresh.ops/widget-controller");
  for (const auto& auth : api.authorizations()) {
    EXPECT_EQ(auth, "Bearer loopback-token");
  }

  ASSERT_TRUE(
      opsy::testing::eventually([&] { return manager.readiness().has_value(); }, kHangBound));
  httplib::Client probes("127.0.0.1", manager.probePort());
  auto ready = probes.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  httplib::Client scrape("127.0.0.1", manager.metricsPort());
  // The server has the second status before the client has counted its reply and the reconcile
  // its result: scrape until the work is counted.
  const std::string lists =
      R"(opsy_kube_requests_total{code="200",resource="widgets",verb="list"} 1)";
  const std::string updates =
      R"(opsy_kube_requests_total{code="200",resource="widgets/status",verb="update"} 2)";
  const std::string successes = R"(opsy_reconcile_total{controller="widget",result="success"} 2)";
  std::string metrics;
  EXPECT_TRUE(opsy::testing::eventually(
      [&] {
        auto scraped = scrape.Get("/metrics");
        metrics = scraped ? scraped->body : "";
        return metrics.find(updates) != std::string::npos &&
               metrics.find(successes) != std::string::npos;
      },
      kHangBound));
  EXPECT_NE(metrics.find(lists), std::string::npos) << metrics;
  EXPECT_NE(metrics.find(updates), std::string::npos) << metrics;
  EXPECT_NE(metrics.find(successes), std::string::npos) << metrics;

  manager.requestShutdown("test");
  auto done = exit_code.get_future();
  ASSERT_EQ(done.wait_for(60s), std::future_status::ready);
  EXPECT_EQ(done.get(), 0);
  runner.join();
}

// A Manager whose cluster is a scripted transport serving one widget, with leader election over
// an in-memory Lease.
class ManagerLeaderTest : public ::testing::Test {
 protected:
  ManagerLeaderTest() {
    transport_->reply("GET", "/apis/example.com/v1/widgets",
                      kube::ScriptedReply::ok(
                          R"({"metadata":{"resourceVersion":"5"},"items":[{"metadata":)"
                          R"({"name":"w1","namespace":"ns","uid":"u1","resourceVersion":"5"}}]})"));
  }

  ManagerPtr makeManager() {
    ManagerOptions options;
    options.name = "widget";
    options.metrics_bind_address = "0";
    options.health_probe_bind_address = "0";
    options.leader_elect = true;
    options.leader_election_namespace = "ops";
    // A renew deadline far above any scheduling delay: only the test's partition ends the lead.
    options.lease_duration = 10s;
    options.renew_deadline = 5s;
    options.retry_period = 100ms;
    ManagerDeps deps = quietDeps();
    kube::RestConfig cfg;
    cfg.server = "https://k8s.test";
    deps.rest_config = cfg;
    deps.kube_transport = transport_;
    deps.identity = "me";
    deps.lease_store = [this](const kube::ClientPtr&, const std::string& ns,
                              const std::string& name) {
      EXPECT_EQ(ns, "ops");
      EXPECT_EQ(name, "widget.ami.refresh.ops");
      auto store = std::make_unique<kube::InMemoryLeaseStore>(lease_, realClock());
      store_ = store.get();
      return store;
    };
    auto created = Manager::create(options, deps);
    EXPECT_TRUE(created) << created.error().toString();
    ManagerPtr m = std::move(*created);
    auto reconcile = [this](const std::string&) {
      ++reconciles_;
      return kube::WorkOutcome::success();
    };
    EXPECT_TRUE(m->addController(
        {.name = "widget", .resource = kWidgets, .reconcile = reconcile, .resync = Duration{0}}));
    return m;
  }

  std::shared_ptr<kube::ScriptedTransport> transport_ = std::make_shared<kube::ScriptedTransport>();
  std::shared_ptr<kube::InMemoryLease> lease_ = std::make_shared<kube::InMemoryLease>();
  kube::InMemoryLeaseStore* store_ = nullptr;
  std::atomic<int> reconciles_{0};
};

// A standby is ready but reconciles nothing; it starts work only once it holds the lease, and
// when it loses the lease it stops and run() returns 1 so the pod restarts.
TEST_F(ManagerLeaderTest, WorkersRunOnlyWhileLeading) {
  // Another replica holds the lease, for longer than the test runs, until the test releases it.
  lease_->put({.holder_identity = "other",
               .lease_duration_seconds = 3600,
               .renew_time = realClock().now()});
  ManagerPtr manager = makeManager();
  std::promise<int> exit_code;
  std::thread runner([&] { exit_code.set_value(manager->run()); });

  ASSERT_TRUE(
      opsy::testing::eventually([&] { return manager->readiness().has_value(); }, kHangBound));
  // Ready (caches synced, leader known) and several election rounds as a standby.
  const int calls_when_ready = store_->calls();
  ASSERT_TRUE(opsy::testing::eventually([&] { return store_->calls() >= calls_when_ready + 5; },
                                        kHangBound));
  EXPECT_FALSE(manager->leading());
  EXPECT_EQ(reconciles_.load(), 0) << "a standby must not reconcile";

  // The other replica steps down and releases the lease, as on a graceful stop.
  lease_->put(
      {.holder_identity = "", .lease_duration_seconds = 1, .renew_time = realClock().now()});
  ASSERT_TRUE(opsy::testing::eventually([&] { return reconciles_.load() > 0; }, kHangBound));
  EXPECT_TRUE(manager->leading());
  EXPECT_EQ(lease_->peek()->holder_identity, "me");

  store_->setPartitioned(true);
  auto done = exit_code.get_future();
  ASSERT_EQ(done.wait_for(60s), std::future_status::ready);
  EXPECT_EQ(done.get(), 1);
  runner.join();
}

// A requested stop while leading finishes the work and releases the lease for the next replica.
TEST_F(ManagerLeaderTest, GracefulStopReleasesLease) {
  ManagerPtr manager = makeManager();
  std::promise<int> exit_code;
  std::thread runner([&] { exit_code.set_value(manager->run()); });
  ASSERT_TRUE(opsy::testing::eventually([&] { return reconciles_.load() > 0; }, kHangBound));
  manager->requestShutdown("test");
  auto done = exit_code.get_future();
  ASSERT_EQ(done.wait_for(60s), std::future_status::ready);
  EXPECT_EQ(done.get(), 0);
  runner.join();
  ASSERT_TRUE(lease_->peek().has_value());
  EXPECT_EQ(lease_->peek()->holder_identity, "");
}

// Caches that never sync are fatal after the sync timeout: no reconcile runs on a partial view,
// and run() returns 1.
TEST(ManagerStartup, UnsyncedCachesEndTheRun) {
  auto transport = std::make_shared<kube::ScriptedTransport>();  // every list answers 404
  ManagerOptions options;
  options.name = "widget";
  options.metrics_bind_address = "0";
  options.health_probe_bind_address = "0";
  options.cache_sync_timeout = 300ms;
  ManagerDeps deps = quietDeps();
  kube::RestConfig cfg;
  cfg.server = "https://k8s.test";
  deps.rest_config = cfg;
  deps.kube_transport = transport;
  auto created = Manager::create(options, deps);
  ASSERT_TRUE(created) << created.error().toString();
  std::atomic<int> reconciles{0};
  ASSERT_TRUE((*created)->addController(
      {.name = "widget", .resource = kWidgets, .reconcile = [&](const std::string&) {
         ++reconciles;
         return kube::WorkOutcome::success();
       }}));
  EXPECT_FALSE((*created)->readiness());
  EXPECT_EQ((*created)->run(), 1);
  EXPECT_EQ(reconciles.load(), 0);
}

}  // namespace
}  // namespace opsy::runtime
