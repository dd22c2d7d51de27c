#include "ami-refresh-controller/wiring.h"

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
  explicit PrometheusRolloutMetrics(runtime::Metrics& metrics)
      : self_{{"controller", metrics.controller()}},
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
                              "Node groups of each refresher by phase, as of its last "
                              "reconcile.")) {}

  void rolloutStarted() override { started_.increment(self_); }
  void rolloutFinished() override { finished_.increment(self_); }
  void rolloutFailed() override { failed_.increment(self_); }
  void groupRolled(Duration elapsed) override {
    group_duration_.observe(self_, std::chrono::duration<double>(elapsed).count());
  }
  void groupsByPhase(const std::string& object, const std::map<Phase, int>& counts) override {
    for (Phase p : kAllPhases) {
      auto it = counts.find(p);
      groups_.set({{"object", object}, {"phase", std::string(toString(p))}},
                  it == counts.end() ? 0 : it->second);
    }
  }

 private:
  runtime::Metrics::Labels self_;
  runtime::Metrics::Counter started_;
  runtime::Metrics::Counter finished_;
  runtime::Metrics::Counter failed_;
  runtime::Metrics::Histogram group_duration_;
  runtime::Metrics::Gauge groups_;
};

}  // namespace

RolloutMetricsPtr rolloutMetrics(runtime::Metrics& metrics) {
  return std::make_shared<PrometheusRolloutMetrics>(metrics);
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

}  // namespace opsy::ami_refresh
