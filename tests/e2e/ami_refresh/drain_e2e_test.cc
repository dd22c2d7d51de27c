// The cooperative drain of self-managed groups with the real ami-refresh-controller binary: the
// refresher puts its termination lifecycle hook on the Auto Scaling group, fake-aws holds each
// instance the refresh replaces in Terminating:Wait, and the refresher cordons its Node and evicts
// its pods through fake-kube's Eviction API (PodDisruptionBudgets honoured) before it completes
// the lifecycle action. The harness plays the kubelets (a Node per instance), the workload (pods
// on the group's Nodes, a web Deployment's replacement pods) and checks, the moment an instance
// is let go, that its Node had been cordoned and emptied.
#include <signal.h>

#include "e2e/ami_refresh/ami_refresh_fixture.h"

namespace opsy::ami_refresh {
namespace {

class DrainE2e : public AmiRefreshE2e {
 protected:
  void TearDown() override {
    stop_scheduler_ = true;
    if (scheduler_.joinable()) {
      scheduler_.join();
    }
    AmiRefreshE2e::TearDown();
  }

  // Nodes for every instance, and a check of each released instance's Node before the harness
  // removes it: cordoned, and no pod left on it but DaemonSet ones.
  void mirrorAndCheckNodes() {
    aws_.onInstancesChanged([this] {
      checkReleased();
      syncNodes();
    });
    syncNodes();
  }

  void checkReleased() {
    std::lock_guard lock(check_mu_);
    for (const opsy::testing::FakeInstance& i : aws_.instances()) {
      if (i.asg != kSelfManagedAsg || (i.state != "shutting-down" && i.state != "terminated") ||
          released_.count(i.private_dns_name) != 0) {
        continue;
      }
      auto node = kube_.getObject("v1", "Node", "", i.private_dns_name);
      if (!node) {
        continue;
      }
      released_.insert(i.private_dns_name);
      auto doc = opsy::testing::parseJson(*node);
      const bool cordoned = doc && doc->HasMember("spec") &&
                            (*doc)["spec"].HasMember("unschedulable") &&
                            (*doc)["spec"]["unschedulable"].GetBool();
      if (!cordoned) {
        violations_.push_back(i.private_dns_name + " released while schedulable");
      }
      for (const std::string& name : podsOn(i.private_dns_name, /*daemon_sets=*/false)) {
        violations_.push_back(i.private_dns_name + " released with pod " + name);
      }
    }
  }

  // The running instances of the self-managed group.
  std::vector<opsy::testing::FakeInstance> groupInstances() const {
    std::vector<opsy::testing::FakeInstance> out;
    for (const opsy::testing::FakeInstance& i : aws_.instances()) {
      if (i.asg == kSelfManagedAsg && i.state == "running") {
        out.push_back(i);
      }
    }
    return out;
  }

  void addPod(const std::string& name, const std::string& node, bool daemon_set) {
    const std::string owner =
        daemon_set
            ? R"({"apiVersion":"apps/v1","kind":"DaemonSet","name":"logs","uid":"ds-1","controller":true})"
            : R"({"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-5d8f","uid":"rs-1","controller":true})";
    const std::string now = formatRfc3339(realClock().now());
    auto created = kube_.createObject(fmt::format(
        R"({{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{}","namespace":"default",)"
        R"("labels":{{"app":"{}"}},"ownerReferences":[{}]}},"spec":{{"nodeName":"{}",)"
        R"("containers":[{{"name":"c","image":"nginx"}}]}},"status":{{"phase":"Running",)"
        R"("conditions":[{{"type":"Ready","status":"True","lastTransitionTime":"{}"}}]}}}})",
        name, daemon_set ? "logs" : "web", owner, node, now));
    ASSERT_TRUE(created.has_value()) << created.error().toString();
  }

  // A PodDisruptionBudget "web" over the web pods.
  void addBudget(int min_available) {
    auto created = kube_.createObject(fmt::format(
        R"({{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{{"name":"web",)"
        R"("namespace":"default"}},"spec":{{"minAvailable":{},"selector":{{"matchLabels":)"
        R"({{"app":"web"}}}}}}}})",
        min_available));
    ASSERT_TRUE(created.has_value()) << created.error().toString();
  }

  // Names of the pods on `node` (with the DaemonSet's ones, or without them).
  std::vector<std::string> podsOn(const std::string& node, bool daemon_sets) const {
    std::vector<std::string> names;
    for (const std::string& text : kube_.listObjects("v1", "Pod", "default")) {
      auto doc = opsy::testing::parseJson(text);
      if (!doc || (*doc)["spec"]["nodeName"].GetString() != node) {
        continue;
      }
      const std::string app = (*doc)["metadata"]["labels"]["app"].GetString();
      if (app == "logs" && !daemon_sets) {
        continue;
      }
      names.emplace_back((*doc)["metadata"]["name"].GetString());
    }
    return names;
  }

  std::vector<std::string> cordonedNodes() const {
    std::vector<std::string> names;
    for (const std::string& text : kube_.listObjects("v1", "Node", "")) {
      auto doc = opsy::testing::parseJson(text);
      if (doc && doc->HasMember("spec") && (*doc)["spec"].HasMember("unschedulable") &&
          (*doc)["spec"]["unschedulable"].GetBool()) {
        names.emplace_back((*doc)["metadata"]["name"].GetString());
      }
    }
    return names;
  }

  // Plays the web Deployment: while fewer than `replicas` web pods run, one more starts (Ready) on
  // a Node that is not cordoned and was launched by the refresh.
  void runWebDeployment(int replicas) {
    scheduler_ = std::thread([this, replicas] {
      int next = 100;
      while (!stop_scheduler_) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        int running = 0;
        for (const std::string& text : kube_.listObjects("v1", "Pod", "default")) {
          auto doc = opsy::testing::parseJson(text);
          if (doc && std::string((*doc)["metadata"]["labels"]["app"].GetString()) == "web" &&
              !(*doc)["metadata"].HasMember("deletionTimestamp")) {
            ++running;
          }
        }
        if (running >= replicas) {
          continue;
        }
        auto cordoned = cordonedNodes();
        for (const opsy::testing::FakeInstance& i : groupInstances()) {
          if (std::find(original_.begin(), original_.end(), i.private_dns_name) ==
                  original_.end() &&
              std::find(cordoned.begin(), cordoned.end(), i.private_dns_name) == cordoned.end() &&
              kube_.getObject("v1", "Node", "", i.private_dns_name).has_value()) {
            addPod("web-" + std::to_string(next++), i.private_dns_name, false);
            break;
          }
        }
      }
    });
  }

  // The group's Nodes now, each with a web pod (unless `web` says which get one) and a DaemonSet
  // pod.
  void addWorkload(std::optional<size_t> only_web_on = std::nullopt) {
    auto instances = groupInstances();
    ASSERT_EQ(instances.size(), 2U);
    for (size_t n = 0; n < instances.size(); ++n) {
      const std::string& node = instances[n].private_dns_name;
      original_.push_back(node);
      if (!only_web_on || *only_web_on == n) {
        addPod("web-" + std::to_string(n), node, false);
      }
      addPod("logs-" + std::to_string(n), node, true);
    }
  }

  void applyDrainSpec(const std::string& drain_json) {
    aws_.setEksAutoCompleteAfter(1);
    ASSERT_NO_FATAL_FAILURE(
        applySampleWith(std::string(R"({"selfManaged":{"enabled":true,"drain":)") + drain_json +
                        R"(},"timeOuts":{"controllerTimer":"1s"}})"));
  }

  const NodegroupStatus* selfManaged() {
    latest_ = refresher();
    return latest_ ? group(*latest_, kSelfManagedAsg) : nullptr;
  }

  int lifecycleCalls(std::string_view operation) const {
    int n = 0;
    for (const opsy::testing::FakeCall& c : aws_.calls()) {
      if (c.operation == operation && c.status == 200) {
        ++n;
      }
    }
    return n;
  }

  // The results of the lifecycle actions completed, in order (timeouts are not ours).
  std::vector<std::string> completions() const {
    std::vector<std::string> results;
    for (const opsy::testing::FakeLifecycleAction& a : aws_.lifecycleActionLog()) {
      if (a.operation == "CompleteLifecycleAction") {
        results.push_back(a.result);
      } else if (a.operation == "Timeout") {
        results.push_back("timeout");
      }
    }
    return results;
  }

  std::mutex check_mu_;
  std::set<std::string> released_;
  std::vector<std::string> violations_;
  std::vector<std::string> original_;  // the Nodes before the refresh
  std::thread scheduler_;
  std::atomic<bool> stop_scheduler_{false};
  std::optional<AmiRefresher> latest_;
};

// Every instance the refresh replaces waits in Terminating:Wait until its Node is cordoned and
// emptied by evictions; the DaemonSet's pods stay; the hook goes on before the refresh starts.
TEST_F(DrainE2e, EveryReplacedNodeIsCordonedAndEmptiedBeforeItsInstanceGoes) {
  ASSERT_NO_FATAL_FAILURE(mirrorAndCheckNodes());
  ASSERT_NO_FATAL_FAILURE(addWorkload());
  ASSERT_NO_FATAL_FAILURE(addBudget(1));
  runWebDeployment(2);
  kube_.resetRequestLog();
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(applyDrainSpec(R"({"timeout":"60s"})"));

  ASSERT_TRUE(eventually([&] { return ready(); }, std::chrono::seconds(60)))
      << "the rollout never finished; self-managed: "
      << (selfManaged() != nullptr ? selfManaged()->message : "no entry");
  {
    std::lock_guard lock(check_mu_);
    EXPECT_TRUE(violations_.empty()) << fmt::format("{}", fmt::join(violations_, "; "));
    EXPECT_EQ(released_.size(), 2U);
  }
  EXPECT_EQ(lifecycleCalls("CompleteLifecycleAction"), 2);
  EXPECT_EQ(completions(), (std::vector<std::string>{"CONTINUE", "CONTINUE"}));
  EXPECT_EQ(selfManaged()->phase, Phase::Succeeded);
  EXPECT_TRUE(selfManaged()->drains.empty());

  // The hook was put once, before the refresh started.
  std::vector<std::string> ops;
  for (const opsy::testing::FakeCall& c : aws_.calls()) {
    if (c.operation == "PutLifecycleHook" || c.operation == "StartInstanceRefresh") {
      ops.push_back(c.operation);
    }
  }
  EXPECT_EQ(ops, (std::vector<std::string>{"PutLifecycleHook", "StartInstanceRefresh"}));

  // In the API server's log: each old Node cordoned before any eviction of its pods; both web
  // pods evicted; no DaemonSet pod ever evicted.
  std::vector<std::string> order;
  for (const opsy::testing::KubeRequest& r : kube_.requestLog()) {
    if (r.resource == "nodes" && r.verb == "patch") {
      order.push_back("cordon " + r.name);
    } else if (r.resource == "pods" && r.subresource == "eviction" && r.status == 201) {
      order.push_back("evict " + r.name);
    }
  }
  for (size_t n = 0; n < original_.size(); ++n) {
    auto cordon = std::find(order.begin(), order.end(), "cordon " + original_[n]);
    auto evict = std::find(order.begin(), order.end(), "evict web-" + std::to_string(n));
    ASSERT_NE(cordon, order.end()) << fmt::format("{}", fmt::join(order, ", "));
    ASSERT_NE(evict, order.end()) << fmt::format("{}", fmt::join(order, ", "));
    EXPECT_LT(cordon - order.begin(), evict - order.begin());
  }
  for (const std::string& step : order) {
    EXPECT_EQ(step.find("evict logs-"), std::string::npos) << step;
  }
  EXPECT_EQ(podsOn(original_[0], true), std::vector<std::string>{"logs-0"});
  EXPECT_EQ(settledEventCount("NodeDrained", 2), 2);
}

// A budget that allows no disruption blocks the drain: status names it and the pod, the instance
// waits until drain.timeout, then (by default) the refresh is cancelled and the rollout halts,
// with one Warning Event.
TEST_F(DrainE2e, BlockingBudgetHoldsTheInstanceUntilTheTimeoutThenHalts) {
  ASSERT_NO_FATAL_FAILURE(mirrorAndCheckNodes());
  // One web pod on each Node and a budget that needs both: no eviction is ever allowed.
  ASSERT_NO_FATAL_FAILURE(addWorkload());
  ASSERT_NO_FATAL_FAILURE(addBudget(2));
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(applyDrainSpec(R"({"timeout":"4s"})"));

  ASSERT_TRUE(eventually([&] {
    const NodegroupStatus* g = selfManaged();
    return g != nullptr && !g->drains.empty() && !g->drains[0].blocked_pod.empty();
  })) << "the blocked eviction never showed in status";
  const DrainStatus blocked = selfManaged()->drains[0];
  EXPECT_EQ(blocked.blocked_by_pdb, "default/web");
  EXPECT_TRUE(blocked.blocked_pod == "default/web-0" || blocked.blocked_pod == "default/web-1")
      << blocked.blocked_pod;
  EXPECT_EQ(blocked.pods_left, 1);
  EXPECT_EQ(lifecycleCalls("CompleteLifecycleAction"), 0) << "released before drain.timeout";

  ASSERT_TRUE(eventually([&] {
    const NodegroupStatus* g = selfManaged();
    return g != nullptr && g->phase == Phase::Failed;
  })) << "the drain never timed out";
  const TimePoint failed_at = *selfManaged()->last_transition_time;
  EXPECT_GE(failed_at - *blocked.started_at, std::chrono::seconds(4));
  EXPECT_NE(selfManaged()->message.find("PodDisruptionBudget default/web blocks pod"),
            std::string::npos)
      << selfManaged()->message;
  auto stalled = condition("Stalled");
  ASSERT_TRUE(stalled.has_value());
  EXPECT_EQ(stalled->status, "True");
  ASSERT_TRUE(eventually([&] { return lifecycleCalls("CompleteLifecycleAction") == 1; }));
  ASSERT_EQ(aws_.instanceRefreshes().size(), 1U);
  EXPECT_EQ(aws_.instanceRefreshes()[0].status, "Cancelled");
  EXPECT_EQ(completions(), std::vector<std::string>{"ABANDON"});
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(settledEventCount("DrainTimedOut", 1), 1);
  EXPECT_EQ(lifecycleCalls("CompleteLifecycleAction"), 1);
  EXPECT_EQ(aws_.instanceRefreshes().size(), 1U) << "a halted rollout started another refresh";
}

// With onTimeout: Continue the instance is released at the timeout and the refresh goes on.
TEST_F(DrainE2e, BlockingBudgetIsPassedAtTheTimeoutWhenChosen) {
  ASSERT_NO_FATAL_FAILURE(mirrorAndCheckNodes());
  // Only one Node has a web pod, and the budget needs it: that drain times out, the other one
  // drains at once.
  ASSERT_NO_FATAL_FAILURE(addWorkload(0));
  ASSERT_NO_FATAL_FAILURE(addBudget(1));
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(applyDrainSpec(R"({"timeout":"3s","onTimeout":"Continue"})"));

  ASSERT_TRUE(eventually([&] { return ready(); }, std::chrono::seconds(60)))
      << "the rollout did not go on past the timed-out drain; self-managed: "
      << (selfManaged() != nullptr ? selfManaged()->message : "no entry");
  EXPECT_EQ(selfManaged()->phase, Phase::Succeeded);
  EXPECT_EQ(lifecycleCalls("CompleteLifecycleAction"), 2);
  EXPECT_EQ(settledEventCount("DrainTimedOut", 1), 1);
  EXPECT_EQ(settledEventCount("NodeDrained", 1), 1);
  ASSERT_EQ(aws_.instanceRefreshes().size(), 1U);
  EXPECT_EQ(aws_.instanceRefreshes()[0].status, "Successful");
  EXPECT_EQ(completions(), (std::vector<std::string>{"CONTINUE", "CONTINUE"}));
}

// Without autoscaling:PutLifecycleHook no refresh starts undrained: the group fails naming the
// action, and neither a launch template version nor an instance refresh is made.
TEST_F(DrainE2e, DeniedPutLifecycleHookFailsTheGroupBeforeAnyRefresh) {
  ASSERT_NO_FATAL_FAILURE(mirrorAndCheckNodes());
  ASSERT_TRUE(aws_.denyOperation("autoscaling:PutLifecycleHook").has_value());
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(applyDrainSpec(R"({"timeout":"60s"})"));

  ASSERT_TRUE(eventually([&] {
    const NodegroupStatus* g = selfManaged();
    return g != nullptr && g->phase == Phase::Failed;
  })) << "the denied hook never showed";
  EXPECT_NE(selfManaged()->message.find("autoscaling:PutLifecycleHook"), std::string::npos)
      << selfManaged()->message;
  EXPECT_TRUE(aws_.instanceRefreshes().empty()) << "a refresh started without the hook";
  EXPECT_EQ(versionCount(aws_, kSelfManagedLt), 1U) << "a launch template version was made";
  EXPECT_TRUE(aws_.lifecycleHooks(std::string(kSelfManagedAsg)).empty());
}

// SIGKILL mid-drain: the restarted controller picks the drain up from what Kubernetes and Auto
// Scaling show (and its status), and finishes it; a cordoned Node is always named in status.
TEST_F(DrainE2e, KilledMidDrainResumesAndCompletes) {
  ASSERT_NO_FATAL_FAILURE(mirrorAndCheckNodes());
  ASSERT_NO_FATAL_FAILURE(addWorkload());
  ASSERT_NO_FATAL_FAILURE(addBudget(2));
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(applyDrainSpec(R"({"timeout":"120s"})"));

  ASSERT_TRUE(eventually([&] {
    const NodegroupStatus* g = selfManaged();
    // The Event too: events are best effort and one still queued is lost with the process, which
    // would hide whether the resumed drain is announced again.
    return g != nullptr && !g->drains.empty() && !g->drains[0].blocked_pod.empty() &&
           !cordonedNodes().empty() && eventCount("DrainStarted") == 1;
  })) << "the drain never got blocked";
  controller_->signal(SIGKILL);
  EXPECT_EQ(controller_->wait(std::chrono::seconds(5)), std::optional<int>(-SIGKILL));
  const DrainStatus before = selfManaged()->drains[0];
  for (const std::string& node : cordonedNodes()) {
    EXPECT_EQ(node, before.node) << "a Node is cordoned that status does not name";
  }

  // While the controller is down the budget is relaxed and the web Deployment can move.
  ASSERT_TRUE(kube_.deleteObject("policy/v1", "PodDisruptionBudget", "default", "web").has_value());
  runWebDeployment(2);
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_TRUE(eventually([&] { return ready(); }, std::chrono::seconds(60)))
      << "the drain was not resumed; self-managed: "
      << (selfManaged() != nullptr ? selfManaged()->message : "no entry");
  {
    std::lock_guard lock(check_mu_);
    EXPECT_TRUE(violations_.empty()) << fmt::format("{}", fmt::join(violations_, "; "));
    EXPECT_EQ(released_.size(), 2U);
  }
  EXPECT_TRUE(cordonedNodes().empty()) << fmt::format("{}", fmt::join(cordonedNodes(), ", "));
  EXPECT_EQ(lifecycleCalls("CompleteLifecycleAction"), 2);
  EXPECT_EQ(settledEventCount("DrainStarted", 2), 2) << "the resumed drain was started again";
}

}  // namespace
}  // namespace opsy::ami_refresh
