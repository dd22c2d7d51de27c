// File: reconciler.h
//
// One reconcile of an AMIRefresher, level-triggered, in the packer-builder's shape: read the
// refresher (from the informer cache), observe AWS (the target images through the shared
// ami::ImageLookupCache; then, only when a target is eligible, every node group of the cluster
// and, when enabled, its self-managed Auto Scaling groups, through the shared
// aws::ClusterDescribeCache, each normalised into one GroupObservation; while a canary is
// checked, its Nodes and their instances' images), decide(), and have the
// Executor act: AWS calls first, decide() again with their outcomes, then the one status write.
// The clock is read once per reconcile. Nothing is remembered between calls but those shared
// answers; all progress is in the status and in AWS.
//
//   Reconciler r({.reader = manager.reader(), .status = client, .events = manager.events(), ...});
//   manager.addController({.name = "ami-refresh", .resource = amiRefreshers(),
//                          .reconcile = controller::workFn(r)});
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "ami-refresh-controller/api.h"
#include "ami-refresh-controller/decide.h"
#include "ami-refresh-controller/execute.h"
#include "ami-refresh-controller/peers.h"
#include "opsy/ami/image_cache.h"
#include "opsy/aws/describe_cache.h"
#include "opsy/controller/reconciler.h"
#include "opsy/core/clock.h"
#include "opsy/kube/client.h"
#include "opsy/kube/events.h"
#include "opsy/notify/notifiers.h"

namespace opsy::ami_refresh {

// Clients for spec.region; the caller caches one set per region.
using AwsClientsFactory = std::function<Result<AwsClients>(const std::string& region)>;

struct ReconcilerDeps {
  // Refreshers and the PackerBuilders they follow (a synced cache, or a live client).
  kube::ObjectReader& reader;
  kube::StatusWriter& status;
  kube::EventRecorder& events;
  AwsClientsFactory aws;
  Clock& clock;
  notify::NotifierFactory* notifiers = nullptr;  // null: notifications are dropped
  // Optional, shared with every refresher; without it every reconcile asks EC2.
  std::shared_ptr<ami::ImageLookupCache> image_cache;
  // How old a shared answer may be (never older than a refresher's controllerTimer either).
  Duration image_cache_max_age = std::chrono::minutes(1);
  // Optional, shared with every refresher: node groups, Auto Scaling groups, instance refreshes
  // and launch template versions of a cluster, at most a controllerTimer old and invalidated
  // after every AWS write to the cluster; without it every reconcile asks AWS.
  std::shared_ptr<aws::ClusterDescribeCache> describe_cache;
  // Which refreshers drive which cluster, for conflicts; the reconciler makes its own when unset.
  std::shared_ptr<PeerRegistry> peers;
  RolloutMetricsPtr metrics;
  // spec.karpenter support (--karpenter): EC2NodeClasses and NodeClaims are read (live) and
  // node classes patched through `writer`. Off: a refresher with spec.karpenter is Stalled.
  bool karpenter = false;
  kube::ObjectWriter* writer = nullptr;
  std::string field_manager = std::string(kFieldManager);
  controller::FailureCounterPtr failures;  // optional: opsy_reconcile_errors_total
};

class Reconciler : public controller::Reconciler {
 public:
  explicit Reconciler(ReconcilerDeps deps);

  // One reconcile; the requeue delay decided, nullopt, or an error to retry with backoff.
  [[nodiscard]] Result<std::optional<Duration>> reconcile(const kube::ObjectKey& key) override;

  // Everything decide() needs for `r` at `now`, read from AWS (no writes) into `o`; an error
  // stops the reading and is what decide() reports.
  [[nodiscard]] Status observe(const AmiRefresher& r, AwsClients& clients, TimePoint now,
                               Observed& o);

 private:
  // Drops the per-object metric series of a refresher that is gone.
  void forgetMetrics(const kube::ObjectKey& key);
  [[nodiscard]] Result<std::vector<aws::Image>> describeImages(const Spec& spec, aws::ImageApi& ec2,
                                                               const aws::DescribeImagesInput& in);
  [[nodiscard]] Result<TargetObservation> observeTarget(const Spec& spec, aws::ImageApi& ec2);
  // spec.builderRef's PackerBuilder from the reader (the informer cache in the controller).
  [[nodiscard]] Result<BuilderObservation> observeBuilder(const BuilderRef& ref);
  [[nodiscard]] Status observeGroups(const AmiRefresher& r, AwsClients& clients, Observed& o);
  // The Nodes of the canary groups, with the image each one's instance runs (only while the
  // canary is checked: canaryNeedsNodes()).
  [[nodiscard]] Status observeCanaryNodes(const AmiRefresher& r, const std::string& target,
                                          AwsClients& clients, Observed& o);
  // The instances of `group` waiting in Terminating:Wait that are ours to drain, into g.draining.
  void observeWaiting(const aws::AutoScalingGroup& group, const NodegroupStatus* entry,
                      const DrainConfig& drain, AwsClients& clients, GroupObservation& g);
  // The Node and pods of each instance waiting in Terminating:Wait for its drain; what cannot be
  // read is that drain's error, not the reconcile's.
  void observeDrains(Observed& o);
  // The EC2NodeClasses spec.karpenter names or selects, each with its NodeClaims, as groups of
  // kind NodeClass.
  [[nodiscard]] Status observeNodeClasses(const AmiRefresher& r, Observed& o);
  // Drops the shared answers of r's cluster.
  void invalidateCluster(const AmiRefresher& r);

  ReconcilerDeps deps_;
  Executor executor_;
};

}  // namespace opsy::ami_refresh
