#include "ami-refresh-controller/wiring.h"

namespace opsy::ami_refresh {
namespace {

class PrometheusRolloutMetrics : public RolloutMetrics {
 public:
  explicit PrometheusRolloutMetrics(runtime::Metrics& metrics) : metrics_(metrics) {}

  void rolloutStarted() override { metrics_.rolloutStarted(); }
  void rolloutFinished() override { metrics_.rolloutFinished(); }
  void rolloutFailed() override { metrics_.rolloutFailed(); }
  void groupRolled(Duration elapsed) override { metrics_.groupRolled(elapsed); }
  void groupsByPhase(const std::string& object, const std::map<Phase, int>& counts) override {
    for (Phase p : {Phase::UpToDate, Phase::Pending, Phase::Updating, Phase::Succeeded,
                    Phase::Failed, Phase::Skipped, Phase::Excluded}) {
      auto it = counts.find(p);
      metrics_.groupsInPhase(object, toString(p), it == counts.end() ? 0 : it->second);
    }
  }

 private:
  runtime::Metrics& metrics_;
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

NotifierFactory processNotifiers(notify::Notifiers& notifiers) {
  return [&notifiers](const AmiRefresher& r) -> notify::NotifierPtr {
    if (!r.spec) {
      return nullptr;
    }
    return notifiers.notifierFor(r.metadata.ns, r.spec->notifier, r.spec->region);
  };
}

}  // namespace opsy::ami_refresh
