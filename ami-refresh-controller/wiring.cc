#include "ami-refresh-controller/wiring.h"

#include <array>
#include <mutex>
#include <optional>

#include "opsy/ami/builder_ref.h"

namespace opsy::ami_refresh {
namespace {

// Rolling a node group takes minutes to hours.
std::vector<double> rolloutBuckets() {
  return {30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400};
}

// The refresher's own families on the process registry (docs/metrics.md); series appear on
// first use.
class PrometheusRolloutMetrics : public RolloutMetrics {
 public:
  PrometheusRolloutMetrics(runtime::Metrics& metrics, bool per_object)
      : per_object_(per_object),
        self_{{"controller", metrics.controller()}},
        started_(metrics.counter("opsy_rollouts_started_total",
                                 "Rollouts onto a new target image that started their first "
                                 "group.")),
        finished_(metrics.counter("opsy_rollouts_finished_total",
                                  "Rollouts after which every managed group runs the target "
                                  "image.")),
        failed_(
            metrics.counter("opsy_rollouts_failed_total", "Rollouts halted by a failed group.")),
        group_duration_(metrics.histogram("opsy_rollout_group_duration_seconds",
                                          "Time from a group's update start to its success.",
                                          rolloutBuckets())),
        groups_(metrics.gauge("opsy_rollout_groups",
                              "Node groups of all refreshers by phase, as of each one's last "
                              "reconcile.")),
        claims_(metrics.gauge("opsy_karpenter_nodeclaims",
                              "NodeClaims of the EC2NodeClasses of all refreshers by state "
                              "(total, onTarget, old, drifted), as of each one's last "
                              "reconcile.")) {
    if (per_object_) {
      object_claims_ = metrics.gauge("opsy_karpenter_object_nodeclaims",
                                     "NodeClaims of each refresher's EC2NodeClasses by state, as "
                                     "of its last reconcile (--per-object-metrics).");
      object_groups_ = metrics.gauge("opsy_rollout_object_groups",
                                     "Node groups of each refresher by phase, as of its last "
                                     "reconcile (--per-object-metrics).");
    }
    for (Phase p : kAllPhases) {
      groups_.set(phaseLabels(p), 0);
    }
    for (std::string_view state : kClaimStates) {
      claims_.set(stateLabels(state), 0);
    }
  }

  void rolloutStarted() override { started_.increment(self_); }
  void rolloutFinished() override { finished_.increment(self_); }
  void rolloutFailed() override { failed_.increment(self_); }
  void groupRolled(Duration elapsed) override {
    group_duration_.observe(self_, std::chrono::duration<double>(elapsed).count());
  }
  void groupsByPhase(const std::string& object, const std::map<Phase, int>& counts) override {
    std::lock_guard lock(mu_);
    std::map<Phase, int>& last = by_object_[object];
    for (Phase p : kAllPhases) {
      auto it = counts.find(p);
      const int now = it == counts.end() ? 0 : it->second;
      totals_[p] += now - last[p];
      last[p] = now;
      groups_.set(phaseLabels(p), totals_[p]);
      if (per_object_) {
        object_groups_->set(objectLabels(object, p), now);
      }
    }
  }
  void nodeClaims(const std::string& object, const NodeClaimCounts& counts) override {
    std::lock_guard lock(mu_);
    NodeClaimCounts& last = claims_by_object_[object];
    claim_totals_ = add(claim_totals_, counts, last);
    last = counts;
    setClaims();
    if (per_object_) {
      for (std::string_view state : kClaimStates) {
        runtime::Metrics::Labels labels = stateLabels(state);
        labels["object"] = object;
        object_claims_->set(labels, stateOf(counts, state));
      }
    }
  }
  void forget(const std::string& object) override {
    std::lock_guard lock(mu_);
    if (auto c = claims_by_object_.find(object); c != claims_by_object_.end()) {
      claim_totals_ = add(claim_totals_, NodeClaimCounts{}, c->second);
      claims_by_object_.erase(c);
      setClaims();
      if (per_object_) {
        for (std::string_view state : kClaimStates) {
          runtime::Metrics::Labels labels = stateLabels(state);
          labels["object"] = object;
          object_claims_->remove(labels);
        }
      }
    }
    auto found = by_object_.find(object);
    if (found == by_object_.end()) {
      return;
    }
    for (Phase p : kAllPhases) {
      totals_[p] -= found->second[p];
      groups_.set(phaseLabels(p), totals_[p]);
      if (per_object_) {
        object_groups_->remove(objectLabels(object, p));
      }
    }
    by_object_.erase(found);
  }

 private:
  runtime::Metrics::Labels phaseLabels(Phase p) const {
    runtime::Metrics::Labels labels = self_;
    labels["phase"] = std::string(toString(p));
    return labels;
  }
  static constexpr std::array<std::string_view, 4> kClaimStates = {"total", "onTarget", "old",
                                                                   "drifted"};
  static int stateOf(const NodeClaimCounts& c, std::string_view state) {
    return state == "total"      ? c.total
           : state == "onTarget" ? c.on_target
           : state == "old"      ? c.old
                                 : c.drifted;
  }
  // `totals` with `last` taken out and `now` put in.
  static NodeClaimCounts add(NodeClaimCounts totals, const NodeClaimCounts& now,
                             const NodeClaimCounts& last) {
    totals.total += now.total - last.total;
    totals.on_target += now.on_target - last.on_target;
    totals.old += now.old - last.old;
    totals.drifted += now.drifted - last.drifted;
    return totals;
  }
  void setClaims() {
    for (std::string_view state : kClaimStates) {
      claims_.set(stateLabels(state), stateOf(claim_totals_, state));
    }
  }
  runtime::Metrics::Labels stateLabels(std::string_view state) const {
    runtime::Metrics::Labels labels = self_;
    labels["state"] = std::string(state);
    return labels;
  }
  runtime::Metrics::Labels objectLabels(const std::string& object, Phase p) const {
    runtime::Metrics::Labels labels = phaseLabels(p);
    labels["object"] = object;
    return labels;
  }

  const bool per_object_;
  runtime::Metrics::Labels self_;
  runtime::Metrics::Counter started_;
  runtime::Metrics::Counter finished_;
  runtime::Metrics::Counter failed_;
  runtime::Metrics::Histogram group_duration_;
  runtime::Metrics::Gauge groups_;
  std::optional<runtime::Metrics::Gauge> object_groups_;
  runtime::Metrics::Gauge claims_;
  std::optional<runtime::Metrics::Gauge> object_claims_;
  std::map<std::string, NodeClaimCounts> claims_by_object_;
  NodeClaimCounts claim_totals_;
  std::mutex mu_;
  std::map<std::string, std::map<Phase, int>> by_object_;  // each refresher's last counts
  std::map<Phase, int> totals_;
};

}  // namespace

RolloutMetricsPtr rolloutMetrics(runtime::Metrics& metrics, bool per_object) {
  return std::make_shared<PrometheusRolloutMetrics>(metrics, per_object);
}

AwsClientsFactory managerAwsClients(runtime::AwsClients& clients) {
  return [&clients](const std::string& region) -> Result<AwsClients> {
    AwsClients out;
    OPSY_ASSIGN_OR_RETURN(out.ec2, clients.ec2(region));
    OPSY_ASSIGN_OR_RETURN(out.eks, clients.eks(region));
    OPSY_ASSIGN_OR_RETURN(out.autoscaling, clients.autoScaling(region));
    return out;
  };
}

std::vector<std::string> followersOf(const kube::Store& refreshers, const kube::Object& builder) {
  std::vector<std::string> keys;
  auto found = refreshers.byIndex(ami::kBuilderRefIndex,
                                  kube::objectKey(builder.metadata.ns, builder.metadata.name));
  if (!found) {
    return keys;
  }
  for (const kube::ObjectPtr& r : *found) {
    keys.push_back(kube::objectKey(r->metadata.ns, r->metadata.name));
  }
  return keys;
}

runtime::OwnedResource watchedBuilders(const kube::Store& refreshers) {
  return runtime::OwnedResource{.resource = packerBuilders(),
                                .map_to_keys = [&refreshers](const kube::Object& builder) {
                                  return followersOf(refreshers, builder);
                                }};
}

}  // namespace opsy::ami_refresh
