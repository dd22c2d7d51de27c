// The Manager's decisions on their own: reconcile outcomes -> queue and metrics, /readyz, owner
// mapping, and the shared AWS clients.
#include <gtest/gtest.h>

#include <stdexcept>

#include "opsy/core/fake_clock.h"
#include "opsy/runtime/aws_clients.h"
#include "opsy/runtime/manager.h"
#include "runtime/manager_internal.h"
#include "support/function_transport.h"

namespace opsy::runtime {
namespace {

bool has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

struct QueueState {
  std::size_t ready = 0;
  std::size_t waiting = 0;
  int requeues = 0;
};

// Runs one reconcile of "ns/a" the way a worker does and reports where the key ended up.
QueueState runOnce(kube::WorkQueue& queue, const kube::WorkFn& fn) {
  queue.add("ns/a");
  auto key = queue.get();
  kube::applyOutcome(queue, *key, fn(*key));
  queue.done(*key);
  return {queue.len(), queue.numWaiting(), queue.numRequeues("ns/a")};
}

// Each outcome moves the key like controller-runtime does and is counted under its result; an
// escaped exception is an ordinary error, retried with backoff.
TEST(ManagerOutcome, OutcomesDriveQueueAndMetrics) {
  struct Case {
    std::string name;
    std::function<kube::WorkOutcome()> reconcile;
    QueueState want;
    std::string result;
  } cases[] = {
      {"success", [] { return kube::WorkOutcome::success(); }, {0, 0, 0}, "success"},
      {"error",
       [] { return kube::WorkOutcome::failed(Error(ErrorCode::Unavailable, "x")); },
       {0, 1, 1},
       "error"},
      {"terminal",
       [] { return kube::WorkOutcome::terminal(Error(ErrorCode::InvalidArgument, "x")); },
       {0, 0, 0},
       "terminal"},
      {"requeue",
       [] { return kube::WorkOutcome::requeueAfter(std::chrono::seconds(30)); },
       {0, 1, 0},
       "requeue_after"},
      {"throw",
       []() -> kube::WorkOutcome { throw std::runtime_error("boom"); },
       {0, 1, 1},
       "error"},
  };
  for (const auto& c : cases) {
    FakeClock clock;
    Metrics metrics("widget");
    kube::WorkQueue queue(clock, {.name = "widget", .timer_thread = false});
    auto fn = instrumentReconcile(
        "widget", [&](const std::string&) { return c.reconcile(); }, metrics, clock);
    QueueState got = runOnce(queue, fn);
    EXPECT_EQ(got.ready, c.want.ready) << c.name;
    EXPECT_EQ(got.waiting, c.want.waiting) << c.name;
    EXPECT_EQ(got.requeues, c.want.requeues) << c.name;
    EXPECT_TRUE(has(metrics.exposition(),
                    R"(opsy_reconcile_total{controller="widget",result=")" + c.result + R"("} 1)"))
        << c.name;
  }
}

// A requeue_after outcome brings the key back once the delay has passed, not before.
TEST(ManagerOutcome, RequeueAfterWaitsForTheDelay) {
  FakeClock clock;
  Metrics metrics("widget");
  // Without jitter: this checks the delay itself (work_queue_test checks the ±10 % spread).
  kube::WorkQueue queue(clock, {.name = "widget", .timer_thread = false, .requeue_jitter = 0});
  auto fn = instrumentReconcile(
      "widget",
      [](const std::string&) { return kube::WorkOutcome::requeueAfter(std::chrono::minutes(1)); },
      metrics, clock);
  runOnce(queue, fn);
  clock.advance(std::chrono::seconds(59));
  queue.processDueForTest();
  EXPECT_EQ(queue.len(), 0u);
  clock.advance(std::chrono::seconds(1));
  queue.processDueForTest();
  EXPECT_EQ(queue.len(), 1u);
}

// Work queue observations land in the process metrics under the queue's name.
TEST(ManagerOutcome, QueueMetricsAreBound) {
  FakeClock clock;
  Metrics metrics("widget");
  kube::WorkQueue queue(
      clock, {.name = "widget", .metrics = queueMetrics(metrics, "widget"), .timer_thread = false});
  queue.add("ns/a");
  queue.add("ns/b");
  EXPECT_TRUE(has(metrics.exposition(), R"(opsy_workqueue_adds_total{name="widget"} 2)"));
  EXPECT_TRUE(has(metrics.exposition(), R"(opsy_workqueue_depth{name="widget"} 2)"));
}

// Ready needs every cache synced and, with leader election, a settled election: leading or a
// standby that has seen the leader.
TEST(ManagerReadiness, CachesAndElection) {
  EXPECT_TRUE(cachesReady({}));
  auto unsynced = cachesReady({"jobs.batch", "widgets.example.com"});
  ASSERT_FALSE(unsynced);
  EXPECT_TRUE(has(unsynced.error().message, "widgets.example.com"));

  EXPECT_TRUE(electionSettled(false, false, ""));
  EXPECT_FALSE(electionSettled(true, false, ""));
  EXPECT_TRUE(electionSettled(true, true, "me"));
  EXPECT_TRUE(electionSettled(true, false, "other"));
}

// Owned objects map to their controller owner of the right kind and group, in their namespace.
TEST(ManagerOwners, ControllerOwnerReference) {
  kube::Resource widgets{"example.com", "v1", "widgets", "Widget", true};
  OwnerMapper map = controllerOwnerOf(widgets);
  kube::Object job(kube::resources::jobs(), "ns", "j");
  EXPECT_EQ(map(job), std::nullopt);
  job.metadata.owner_references.push_back(
      {.api_version = "example.com/v1", .kind = "Widget", .name = "w", .controller = false});
  EXPECT_EQ(map(job), std::nullopt) << "not the controller reference";
  job.metadata.owner_references.push_back(
      {.api_version = "other.io/v1", .kind = "Widget", .name = "x", .controller = true});
  EXPECT_EQ(map(job), std::nullopt) << "another group's Widget";
  job.metadata.owner_references.push_back(
      {.api_version = "example.com/v2", .kind = "Widget", .name = "w", .controller = true});
  EXPECT_EQ(map(job), "ns/w");
}

// A watched resource with map_to_keys enqueues every key it maps to; an update enqueues the old
// object's keys too, so a key the object stopped referring to sees the change.
TEST(ManagerOwners, WatchedResourceEnqueuesEveryMappedKey) {
  FakeClock clock;
  Metrics metrics("widget");
  kube::Resource widgets{"example.com", "v1", "widgets", "Widget", true};
  Controller c({.name = "widget",
                .resource = widgets,
                .reconcile = [](const std::string&) { return kube::WorkOutcome::success(); }},
               metrics, clock);
  OwnedResource watched{.resource = kube::resources::jobs(),
                        .map_to_keys = [](const kube::Object& o) {
                          std::vector<std::string> keys;
                          for (const auto& [k, v] : o.metadata.labels) {
                            keys.push_back("ns/" + v);
                          }
                          return keys;
                        }};
  kube::ResourceEventHandlers h = c.ownedHandlers(watched);
  kube::Object before(kube::resources::jobs(), "ns", "j");
  before.metadata.labels = {{"a", "w1"}, {"b", "w2"}};
  h.on_add(before);
  EXPECT_EQ(c.queue().len(), 2u);
  kube::Object after(kube::resources::jobs(), "ns", "j");
  after.metadata.labels = {{"a", "w3"}};
  h.on_update(before, after);
  EXPECT_EQ(c.queue().len(), 3u) << "w1 and w2 (already queued) and w3";
  kube::Object none(kube::resources::jobs(), "ns", "k");
  h.on_delete(none);
  EXPECT_EQ(c.queue().len(), 3u);
}

// The metrics code label prefers the AWS error code, then the HTTP status, else "network".
TEST(ManagerAws, CodeLabel) {
  EXPECT_EQ(awsCodeLabel({.http_status = 200}), "200");
  EXPECT_EQ(awsCodeLabel({.http_status = 400, .error_code = "RequestLimitExceeded"}),
            "RequestLimitExceeded");
  EXPECT_EQ(awsCodeLabel({.http_status = 0, .error_code = "Unavailable"}), "network");
}

// One client per (service, region), the default region for an empty one, and every attempt
// counted in opsy_aws_requests_total.
TEST(ManagerAws, ClientsAreCachedAndObserved) {
  auto transport = std::make_shared<testing::FunctionTransport>([](const http::Request&) {
    return http::Response{
        200,
        {},
        "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::1:user/x</Arn>"
        "<UserId>U</UserId><Account>1</Account></GetCallerIdentityResult>"
        "</GetCallerIdentityResponse>"};
  });
  auto clock = std::make_shared<FakeClock>();
  Metrics metrics("widget");
  AwsClientsOptions o;
  o.default_region = "eu-west-1";
  o.transport = transport;
  o.credentials = aws::makeStaticProvider(
      {.access_key_id = "AKIDEXAMPLE", .secret_access_key = "secretsecretsecret"});
  o.clock = clock;
  o.env = aws::mapEnv({});
  AwsClients clients(o, &metrics);
  auto a = clients.ec2("eu-west-1");
  auto b = clients.ec2("");
  auto c = clients.ec2("us-east-1");
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->get(), b->get());
  EXPECT_NE(a->get(), c->get());

  auto sts = clients.sts("us-east-1");
  ASSERT_TRUE(sts);
  (void)(*sts)->getCallerIdentity();  // only the request counter is under test
  EXPECT_TRUE(
      has(metrics.exposition(),
          R"(opsy_aws_requests_total{code="200",operation="GetCallerIdentity",service="sts"} 1)"))
      << metrics.exposition();
}

}  // namespace
}  // namespace opsy::runtime
