// ami-refresh-controller: rolls EKS managed node groups (and, when enabled, self-managed Auto
// Scaling groups) onto the newest eligible AMI an AMIRefresher selects.
#include <cstdio>
#include <memory>

#include "ami-refresh-controller/api.h"
#include "ami-refresh-controller/reconciler.h"
#include "ami-refresh-controller/wiring.h"
#include "opsy/ami/builder_ref.h"
#include "opsy/ami/image_cache.h"
#include "opsy/aws/describe_cache.h"
#include "opsy/controller/reconciler.h"
#include "opsy/core/flags.h"
#include "opsy/runtime/failure_metrics.h"
#include "opsy/runtime/manager.h"
#include "opsy/runtime/notifiers.h"

namespace opsy::ami_refresh {
namespace {

int run(int argc, char** argv) {
  runtime::ManagerOptions options{.name = "ami-refresh", .version = OPSY_VERSION};
  FlagSet flags("ami-refresh-controller", OPSY_VERSION,
                "Rolls EKS node groups onto the AMI each AMIRefresher selects.");
  runtime::addManagerFlags(flags, options);
  std::string slack_api_url = "https://slack.com/api";
  flags.addString("slack-api-url", &slack_api_url,
                  "Base URL of the Slack Web API used for rollout notifications.",
                  "OPSY_SLACK_API_URL");
  bool per_object_metrics = false;
  flags.addBool("per-object-metrics", &per_object_metrics,
                "Also export opsy_rollout_object_groups, one series per AMIRefresher and phase "
                "(7 per refresher; off by default for large installs).",
                "OPSY_PER_OBJECT_METRICS");
  bool karpenter = false;
  flags.addBool("karpenter", &karpenter,
                "Serve spec.karpenter: read EC2NodeClasses and NodeClaims and patch the "
                "EC2NodeClasses' amiSelectorTerms (needs the chart's karpenter.enabled RBAC).",
                "OPSY_KARPENTER");
  auto outcome = flags.parse(argc, argv);
  if (!outcome) {
    std::fprintf(stderr, "ami-refresh-controller: %s\n", outcome.error().message.c_str());
    return 2;
  }
  if (*outcome != FlagSet::Outcome::Run) {
    return 0;
  }

  auto manager = runtime::Manager::create(options);
  if (!manager) {
    std::fprintf(stderr, "ami-refresh-controller: %s\n", manager.error().toString().c_str());
    return 1;
  }
  runtime::Manager& m = **manager;
  auto notifiers = runtime::makeNotifiers(m, slack_api_url);
  if (!notifiers) {
    std::fprintf(stderr, "ami-refresh-controller: %s\n", notifiers.error().toString().c_str());
    return 1;
  }
  Reconciler reconciler({.reader = m.reader(),
                         .status = m.statusWriter(),
                         .events = m.events(),
                         .aws = managerAwsClients(m.aws()),
                         .clock = m.clock(),
                         .notifiers = notifiers->get(),
                         .image_cache = std::make_shared<ami::ImageLookupCache>(m.clock()),
                         .describe_cache = std::make_shared<aws::ClusterDescribeCache>(m.clock()),
                         .metrics = rolloutMetrics(m.metrics(), per_object_metrics),
                         .karpenter = karpenter,
                         .writer = &m.writer(),
                         .failures = runtime::failureCounter(m.metrics())});
  // PackerBuilders are watched for spec.builderRef: a new build enqueues its followers at once.
  const kube::Store& refreshers = m.cache(amiRefreshers());
  auto added = m.addController({.name = "ami-refresh",
                                .resource = amiRefreshers(),
                                .owns = {watchedBuilders(refreshers)},
                                .reconcile = controller::workFn(reconciler),
                                .indexes = {ami::builderRefIndex()}});
  if (!added) {
    std::fprintf(stderr, "ami-refresh-controller: %s\n", added.error().toString().c_str());
    return 1;
  }
  return m.run();
}

}  // namespace
}  // namespace opsy::ami_refresh

int main(int argc, char** argv) {
  return opsy::ami_refresh::run(argc, argv);
}
