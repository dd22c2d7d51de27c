// The drain of self-managed groups: what planDrain() asks for each instance waiting in
// Terminating:Wait, and what foldDrain() makes of the answers.
#include "ami-refresh-controller/drain.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "ami-refresh-controller/nodes.h"
#include "opsy/core/time_format.h"

namespace opsy::ami_refresh {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;

const TimePoint kNow = parseRfc3339("2026-11-21T12:00:00Z").value();

template <class T>
std::vector<T> actionsOf(const std::vector<AwsAction>& actions) {
  std::vector<T> out;
  for (const AwsAction& a : actions) {
    if (const T* t = std::get_if<T>(&a)) {
      out.push_back(*t);
    }
  }
  return out;
}

PodObservation pod(std::string name) {
  return PodObservation{.ns = "shop", .name = std::move(name)};
}

class DrainPlanTest : public ::testing::Test {
 protected:
  DrainContext ctx(TimePoint now = kNow) const {
    return DrainContext{.config = config_,
                        .group = "workers-a",
                        .refresh_id = "r-1",
                        .refresher = "ops/roll",
                        .may_halt = true,
                        .now = now};
  }
  GroupObservation waiting(DrainObservation w) const {
    GroupObservation g{.name = "workers-a", .kind = GroupKind::SelfManaged};
    g.draining.push_back(std::move(w));
    return g;
  }

  DrainConfig config_{.timeout = minutes(10), .heartbeat_timeout = minutes(5)};
};

// First sight of a waiting instance: its Node is cordoned, every pod that is neither a
// DaemonSet's, a mirror nor finished is evicted, and a heartbeat resets the hook's clock.
TEST_F(DrainPlanTest, NewWaitCordonsEvictsMovablePodsAndSendsAHeartbeat) {
  DrainObservation w{.instance_id = "i-1", .node = "ip-10-0-0-1"};
  w.pods = {pod("web-1"), pod("logs-x"), pod("static-x"), pod("job-done"), pod("web-2")};
  w.pods[1].daemon_set = true;
  w.pods[2].mirror = true;
  w.pods[3].finished = true;
  w.pods[4].deleting = true;
  DrainPlan p = planDrain(waiting(w), {}, ctx());

  auto cordons = actionsOf<CordonNode>(p.actions);
  ASSERT_EQ(cordons.size(), 1u);
  EXPECT_EQ(cordons[0].node, "ip-10-0-0-1");
  EXPECT_THAT(cordons[0].reason, HasSubstr("ops/roll"));
  auto evictions = actionsOf<EvictPod>(p.actions);
  ASSERT_EQ(evictions.size(), 1u);  // web-2 is already going
  EXPECT_EQ(evictions[0].pod, "web-1");
  EXPECT_EQ(actionsOf<RecordLifecycleHeartbeat>(p.actions).size(), 1u);
  EXPECT_TRUE(actionsOf<CompleteLifecycleAction>(p.actions).empty());
  ASSERT_EQ(p.drains.size(), 1u);
  EXPECT_EQ(p.drains[0].pods_left, 2);
  EXPECT_EQ(p.drains[0].started_at, kNow);
  ASSERT_EQ(p.events.size(), 1u);
  EXPECT_EQ(p.events[0].reason, "DrainStarted");
}

// A node that only runs DaemonSet pods is empty: the lifecycle action is completed with CONTINUE.
TEST_F(DrainPlanTest, NodeWithOnlyDaemonSetPodsIsReleased) {
  DrainObservation w{.instance_id = "i-1", .node = "ip-10-0-0-1", .cordoned = true};
  w.pods = {pod("logs-x")};
  w.pods[0].daemon_set = true;
  DrainPlan p = planDrain(waiting(w), {}, ctx());
  auto done = actionsOf<CompleteLifecycleAction>(p.actions);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].result, "CONTINUE");
  EXPECT_FALSE(done[0].timed_out);
  EXPECT_EQ(done[0].hook_name, std::string(kDefaultLifecycleHookName));
  EXPECT_TRUE(actionsOf<CordonNode>(p.actions).empty());  // already cordoned
  EXPECT_TRUE(actionsOf<EvictPod>(p.actions).empty());
}

// An instance no Node names (it never joined) has nothing to drain.
TEST_F(DrainPlanTest, InstanceWithoutANodeIsReleased) {
  DrainPlan p = planDrain(waiting({.instance_id = "i-1"}), {}, ctx());
  EXPECT_EQ(actionsOf<CompleteLifecycleAction>(p.actions).size(), 1u);
  EXPECT_THAT(p.drains[0].message, HasSubstr("no Node"));
}

// Heartbeats go out every half heartbeat timeout, not on every look.
TEST_F(DrainPlanTest, HeartbeatsEveryHalfHeartbeatTimeout) {
  DrainObservation w{.instance_id = "i-1", .node = "n1", .cordoned = true, .pods = {pod("web-1")}};
  std::vector<DrainStatus> old = {
      {.instance_id = "i-1", .node = "n1", .started_at = kNow, .last_heartbeat = kNow}};
  EXPECT_TRUE(actionsOf<RecordLifecycleHeartbeat>(
                  planDrain(waiting(w), old, ctx(kNow + seconds(149))).actions)
                  .empty());
  EXPECT_EQ(actionsOf<RecordLifecycleHeartbeat>(
                planDrain(waiting(w), old, ctx(kNow + seconds(150))).actions)
                .size(),
            1u);
}

// Evictions are asked again with backoff: 5s apart at first, a tenth of the drain's age later,
// never more than a minute apart.
TEST_F(DrainPlanTest, RefusedEvictionsAreAskedAgainWithBackoff) {
  DrainObservation w{.instance_id = "i-1", .node = "n1", .cordoned = true, .pods = {pod("web-1")}};
  auto evictions = [&](TimePoint started, TimePoint last, TimePoint now) {
    std::vector<DrainStatus> old = {{.instance_id = "i-1",
                                     .node = "n1",
                                     .started_at = started,
                                     .last_heartbeat = now,
                                     .last_eviction = last}};
    return actionsOf<EvictPod>(planDrain(waiting(w), old, ctx(now)).actions).size();
  };
  EXPECT_EQ(evictions(kNow, kNow, kNow + seconds(4)), 0u);
  EXPECT_EQ(evictions(kNow, kNow, kNow + seconds(5)), 1u);
  EXPECT_EQ(evictions(kNow, kNow + seconds(95), kNow + seconds(100)), 0u);  // 10s apart at 100s
  EXPECT_EQ(evictions(kNow, kNow + seconds(90), kNow + seconds(100)), 1u);
  config_.timeout = minutes(60);
  EXPECT_EQ(evictions(kNow, kNow + minutes(29), kNow + minutes(30)), 1u);  // capped at a minute
}

// A budget that refuses the eviction is named, with the pod, in status.drains.
TEST_F(DrainPlanTest, RefusedEvictionNamesTheBudgetAndThePod) {
  DrainObservation w{.instance_id = "i-1", .node = "n1", .cordoned = true, .pods = {pod("web-1")}};
  DrainPlan p = planDrain(waiting(w), {}, ctx());
  Error refusal(ErrorCode::FailedPrecondition,
                "create eviction pods shop/web-1: Cannot evict pod as it would violate the pod's "
                "disruption budget. [The disruption budget web needs 1 healthy pods and has 1 "
                "currently]");
  refusal.provider_code = "TooManyRequests";
  for (const AwsAction& a : p.actions) {
    if (std::holds_alternative<EvictPod>(a)) {
      foldDrain(a, {.error = refusal}, p.drains, kNow);
    }
  }
  EXPECT_EQ(p.drains[0].blocked_by_pdb, "shop/web");
  EXPECT_EQ(p.drains[0].blocked_pod, "shop/web-1");
  EXPECT_THAT(drainSummary(p.drains),
              HasSubstr("PodDisruptionBudget shop/web blocks pod shop/web-1"));

  // Once the pod is gone the block is forgotten.
  DrainObservation later{.instance_id = "i-1", .node = "n1", .cordoned = true};
  DrainPlan next = planDrain(waiting(later), p.drains, ctx(kNow + seconds(5)));
  EXPECT_TRUE(next.drains[0].blocked_pod.empty());
  EXPECT_EQ(actionsOf<CompleteLifecycleAction>(next.actions).size(), 1u);
  EXPECT_TRUE(next.events.empty());  // not a new drain
}

// At drain.timeout with pods left: Halt (the default) cancels the refresh, releases the instance
// and fails the group, naming what blocked it.
TEST_F(DrainPlanTest, TimeoutHaltsByDefault) {
  DrainObservation w{.instance_id = "i-1", .node = "n1", .cordoned = true, .pods = {pod("web-1")}};
  std::vector<DrainStatus> old = {{.instance_id = "i-1",
                                   .node = "n1",
                                   .started_at = kNow,
                                   .last_heartbeat = kNow,
                                   .pods_left = 1,
                                   .blocked_by_pdb = "shop/web",
                                   .blocked_pod = "shop/web-1"}};
  DrainPlan before = planDrain(waiting(w), old, ctx(kNow + minutes(10) - seconds(1)));
  EXPECT_FALSE(before.halt);
  EXPECT_TRUE(actionsOf<CompleteLifecycleAction>(before.actions).empty());

  DrainPlan p = planDrain(waiting(w), old, ctx(kNow + minutes(10)));
  ASSERT_TRUE(p.halt);
  EXPECT_THAT(*p.halt, HasSubstr("PodDisruptionBudget shop/web blocks pod shop/web-1"));
  ASSERT_EQ(actionsOf<CancelInstanceRefresh>(p.actions).size(), 1u);
  auto done = actionsOf<CompleteLifecycleAction>(p.actions);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0].timed_out);
  EXPECT_EQ(done[0].result, "ABANDON");
  EXPECT_TRUE(actionsOf<EvictPod>(p.actions).empty());

  std::vector<RecordEvent> events = foldDrain(p.actions.back(), {}, p.drains, kNow);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, kube::EventType::Warning);
  EXPECT_EQ(events[0].reason, "DrainTimedOut");
  EXPECT_THAT(events[0].note, HasSubstr("rollout halts"));
}

// onTimeout: Continue releases the instance and lets the refresh go on.
TEST_F(DrainPlanTest, TimeoutContinuesWhenChosen) {
  config_.on_timeout = DrainTimeoutAction::Continue;
  DrainObservation w{.instance_id = "i-1", .node = "n1", .cordoned = true, .pods = {pod("web-1")}};
  std::vector<DrainStatus> old = {{.instance_id = "i-1", .node = "n1", .started_at = kNow}};
  DrainPlan p = planDrain(waiting(w), old, ctx(kNow + minutes(11)));
  EXPECT_FALSE(p.halt);
  EXPECT_TRUE(actionsOf<CancelInstanceRefresh>(p.actions).empty());
  auto done = actionsOf<CompleteLifecycleAction>(p.actions);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].result, "CONTINUE");
  EXPECT_TRUE(done[0].timed_out);
  std::vector<RecordEvent> events = foldDrain(p.actions.back(), {}, p.drains, kNow);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_THAT(events[0].note, HasSubstr("released anyway"));
}

// A lifecycle action Auto Scaling no longer has (completed before a restart, or held by another
// hook) is not reported as a drained node; a heartbeat for it is simply not recorded.
TEST_F(DrainPlanTest, ActionNoLongerPendingIsNotReportedAsDrained) {
  std::vector<DrainStatus> drains = {{.instance_id = "i-1", .node = "n1", .started_at = kNow}};
  Error gone(ErrorCode::NotFound, "No active Lifecycle Action found with instance ID i-1");
  auto events = foldDrain(CompleteLifecycleAction{.group = "workers-a", .instance_id = "i-1"},
                          {.error = gone}, drains, kNow);
  EXPECT_TRUE(events.empty());
  EXPECT_THAT(drains[0].message, HasSubstr("no lifecycle action of ours"));
  foldDrain(RecordLifecycleHeartbeat{.group = "workers-a", .instance_id = "i-1"}, {.error = gone},
            drains, kNow);
  EXPECT_FALSE(drains[0].last_heartbeat);
}

// A denied call is named in status.drains[].message with the permission AWS or the API server
// gave; the step is asked again on the next look (no heartbeat is recorded, no NodeDrained Event),
// and the message is rebuilt on each look, so repeated denials do not pile up in it.
TEST_F(DrainPlanTest, DeniedCallsAreNamedInStatusAndAskedAgainWithoutPilingUp) {
  DrainObservation w{.instance_id = "i-1", .node = "n1", .pods = {pod("web-1")}};
  Error denied(ErrorCode::PermissionDenied,
               "User: arn:aws:sts::1:assumed-role/opsy is not authorized to perform: "
               "autoscaling:RecordLifecycleActionHeartbeat");
  denied.provider_code = "AccessDenied";
  Error forbidden(ErrorCode::PermissionDenied,
                  "pods \"web-1\" is forbidden: cannot create "
                  "resource \"pods/eviction\"");
  std::vector<DrainStatus> drains;
  for (TimePoint now : {kNow, kNow + seconds(5), kNow + seconds(10)}) {
    DrainPlan p = planDrain(waiting(w), drains, ctx(now));
    ASSERT_EQ(actionsOf<RecordLifecycleHeartbeat>(p.actions).size(), 1u) << "at +" << (now - kNow);
    ASSERT_EQ(actionsOf<EvictPod>(p.actions).size(), 1u) << "at +" << (now - kNow);
    for (const AwsAction& a : p.actions) {
      if (std::holds_alternative<EvictPod>(a)) {
        EXPECT_TRUE(foldDrain(a, {.error = forbidden}, p.drains, now).empty());
      } else if (std::holds_alternative<RecordLifecycleHeartbeat>(a)) {
        EXPECT_TRUE(foldDrain(a, {.error = denied}, p.drains, now).empty());
      }
    }
    drains = p.drains;
    w.cordoned = true;
  }
  ASSERT_EQ(drains.size(), 1u);
  EXPECT_FALSE(drains[0].last_heartbeat);
  EXPECT_THAT(drains[0].message, HasSubstr("evicting pod shop/web-1 failed"));
  EXPECT_THAT(
      drains[0].message,
      HasSubstr("heartbeat failed: AccessDenied: User: arn:aws:sts::1:assumed-role/opsy "
                "is not authorized to perform: autoscaling:RecordLifecycleActionHeartbeat"));
  const std::string once = drains[0].message;
  EXPECT_EQ(once.find("heartbeat failed"), once.rfind("heartbeat failed")) << once;

  // A denied completion: no NodeDrained Event, the message says so, the next look asks again.
  DrainObservation empty{.instance_id = "i-1", .node = "n1", .cordoned = true};
  DrainPlan p = planDrain(waiting(empty), drains, ctx(kNow + seconds(15)));
  auto done = actionsOf<CompleteLifecycleAction>(p.actions);
  ASSERT_EQ(done.size(), 1u);
  Error refused(ErrorCode::PermissionDenied,
                "not authorized to perform: autoscaling:CompleteLifecycleAction");
  refused.provider_code = "AccessDenied";
  EXPECT_TRUE(foldDrain(done[0], {.error = refused}, p.drains, kNow + seconds(15)).empty());
  EXPECT_THAT(p.drains[0].message,
              HasSubstr("completing the lifecycle action failed: AccessDenied: not authorized to "
                        "perform: autoscaling:CompleteLifecycleAction"));
  EXPECT_EQ(actionsOf<CompleteLifecycleAction>(
                planDrain(waiting(empty), p.drains, ctx(kNow + seconds(20))).actions)
                .size(),
            1u);
}

// A new drain puts the hook again as the spec says now (it may have changed since the refresh
// began), once per look, as a drain step whose failure is the drain's to show.
TEST_F(DrainPlanTest, NewDrainEnsuresTheHookAsTheSpecSaysNow) {
  config_.heartbeat_timeout = minutes(10);
  GroupObservation g{.name = "workers-a", .kind = GroupKind::SelfManaged};
  g.draining = {{.instance_id = "i-1"}, {.instance_id = "i-2"}};
  DrainPlan p = planDrain(g, {}, ctx());
  auto hooks = actionsOf<EnsureLifecycleHook>(p.actions);
  ASSERT_EQ(hooks.size(), 1u);
  EXPECT_TRUE(hooks[0].during_drain);
  EXPECT_EQ(hooks[0].heartbeat_timeout_seconds, 600);
  EXPECT_TRUE(isDrainStep(p.actions.front()));
  std::vector<DrainStatus> old = {{.instance_id = "i-1", .started_at = kNow}};
  g.draining = {{.instance_id = "i-1", .node = "n1", .pods = {pod("web")}}};
  EXPECT_TRUE(actionsOf<EnsureLifecycleHook>(planDrain(g, old, ctx()).actions).empty());
}

// Without the RBAC to read Nodes or pods no drain can succeed: it gives up at once (halting by
// default) and says how to fix it, instead of holding the instance until drain.timeout.
TEST_F(DrainPlanTest, ForbiddenReadGivesUpAtOnceNamingTheFix) {
  DrainObservation w{.instance_id = "i-1"};
  w.error = Error(ErrorCode::PermissionDenied, "list nodes: forbidden");
  DrainPlan p = planDrain(waiting(w), {}, ctx());
  ASSERT_TRUE(p.halt);
  EXPECT_THAT(*p.halt, HasSubstr("amiRefresher.selfManaged.enabled=true"));
  EXPECT_THAT(*p.halt, ::testing::StartsWith(std::string(kDrainHaltPrefix)));
  EXPECT_EQ(actionsOf<CancelInstanceRefresh>(p.actions).size(), 1u);
  EXPECT_EQ(actionsOf<CompleteLifecycleAction>(p.actions).size(), 1u);
}

// More waiting instances than status can hold: those already being drained are kept, the rest
// are taken up by instance id.
TEST_F(DrainPlanTest, AtMostAHundredDrainsKeepingThoseBegun) {
  GroupObservation g{.name = "workers-a", .kind = GroupKind::SelfManaged};
  for (int i = 0; i < 150; ++i) {
    g.draining.push_back({.instance_id = fmt::format("i-{:03}", i)});
  }
  std::vector<DrainStatus> old = {{.instance_id = "i-149", .started_at = kNow}};
  DrainPlan p = planDrain(g, old, ctx());
  ASSERT_EQ(p.drains.size(), kMaxDrains);
  EXPECT_EQ(p.drains.front().instance_id, "i-149");
  EXPECT_EQ(p.drains.back().instance_id, "i-098");
}

TEST(DrainSummary, AnEarlierSummaryIsStrippedFromTheMessage) {
  EXPECT_EQ(withoutDrainSummary("instance refresh r-1 40% complete; draining node n1: 1 pod left"),
            "instance refresh r-1 40% complete");
  EXPECT_EQ(withoutDrainSummary("draining node n1: 1 pod left; draining node n2: x"), "");
  EXPECT_EQ(withoutDrainSummary("update started"), "update started");
}

// A Node or pod list that fails keeps the instance waiting (with heartbeats) and says why.
TEST_F(DrainPlanTest, UnreadablePodsKeepTheInstanceWaiting) {
  DrainObservation w{.instance_id = "i-1", .node = "n1"};
  w.error = Error(ErrorCode::Unavailable, "list pods: connection reset");
  DrainPlan p = planDrain(waiting(w), {}, ctx());
  EXPECT_TRUE(actionsOf<CompleteLifecycleAction>(p.actions).empty());
  EXPECT_EQ(actionsOf<RecordLifecycleHeartbeat>(p.actions).size(), 1u);
  EXPECT_THAT(p.drains[0].message, HasSubstr("connection reset"));
}

// Pods are sorted from what the API server says of them: the controller owner's kind, the
// kubelet's mirror annotation, the phase and a deletionTimestamp.
TEST(DrainObservedPod, SortsDaemonSetMirrorFinishedAndDeletingPods) {
  auto parse = [](const std::string& json) {
    return observedPod(kube::Object::parse(json).value());
  };
  PodObservation ds = parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"logs-x",
      "namespace":"kube-system","ownerReferences":[{"apiVersion":"apps/v1","kind":"DaemonSet",
      "name":"logs","uid":"1","controller":true}]}})");
  EXPECT_TRUE(ds.daemon_set);
  EXPECT_EQ(ds.ns, "kube-system");
  PodObservation not_controller = parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p",
      "namespace":"a","ownerReferences":[{"apiVersion":"apps/v1","kind":"DaemonSet",
      "name":"logs","uid":"1"}]}})");
  EXPECT_FALSE(not_controller.daemon_set);
  EXPECT_TRUE(parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"kube-proxy-n1",
      "namespace":"kube-system","annotations":{"kubernetes.io/config.mirror":"abc"}}})")
                  .mirror);
  EXPECT_TRUE(parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"j","namespace":"a"},
      "status":{"phase":"Succeeded"}})")
                  .finished);
  PodObservation going = parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"w",
      "namespace":"a","deletionTimestamp":"2026-11-21T12:00:00Z"},"status":{"phase":"Running"}})");
  EXPECT_TRUE(going.deleting);
  EXPECT_FALSE(going.finished);
}

TEST(DrainBudgetNamed, ReadsTheBudgetFromTheRefusal) {
  EXPECT_EQ(budgetNamed("x [The disruption budget web-pdb needs 1 healthy pods and has 1 "
                        "currently]"),
            "web-pdb");
  EXPECT_EQ(budgetNamed("The disruption budget db is still being processed by the server."), "db");
  EXPECT_EQ(budgetNamed("Cannot evict pod"), "");
}

}  // namespace
}  // namespace opsy::ami_refresh
