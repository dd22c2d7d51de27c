// File: execute.h
//
// The AMIRefresher's effects: Reconciler gathers what decide() needs through the AWS interfaces
// (the target images, node groups with their launch template versions and update states, the
// cluster's self-managed Auto Scaling groups and their instance refreshes), runs decide(), and
// carries the actions out. Every AWS write is idempotent (client tokens, conflict = wait), and all
// progress is written to status, so a reconcile can be cut at any point and simply run again.
//
//   Reconciler r(reader, status_writer, events, awsClientsFor, clock, {.notifiers = slackFor});
//   kube::WorkOutcome outcome = r.reconcile("ops/roll-prod");
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "ami-refresh-controller/api.h"
#include "ami-refresh-controller/decide.h"
#include "opsy/ami/image_cache.h"
#include "opsy/aws/autoscaling.h"
#include "opsy/aws/ec2.h"
#include "opsy/aws/eks.h"
#include "opsy/core/clock.h"
#include "opsy/kube/client.h"
#include "opsy/kube/events.h"
#include "opsy/kube/work_queue.h"
#include "opsy/notify/notifier.h"

namespace opsy::ami_refresh {

// Knows how to count rollouts; the runtime binds it to Prometheus.
class RolloutMetrics {
 public:
  virtual ~RolloutMetrics() = default;
  /** A rollout onto a new target started its first group. */
  virtual void rolloutStarted() = 0;
  /** Every managed group runs the target after at least one update. */
  virtual void rolloutFinished() = 0;
  /** A group failed and halted the rollout. */
  virtual void rolloutFailed() = 0;
  /** One group went from update start to success in `elapsed`. */
  virtual void groupRolled(Duration elapsed) = 0;
  /** The node groups of `object` ("ns/name") by phase after a reconcile (a gauge per phase). */
  virtual void groupsByPhase(const std::string& object, const std::map<Phase, int>& counts) = 0;
};

using RolloutMetricsPtr = std::shared_ptr<RolloutMetrics>;

// The AWS clients of one region.
struct AwsClients {
  aws::Ec2ApiPtr ec2;
  aws::EksApiPtr eks;
  aws::AutoScalingApiPtr autoscaling;
};

// Clients for spec.region; the caller caches one set per region.
using AwsClientsFactory = std::function<Result<AwsClients>(const std::string& region)>;
// Where a refresher's notifications go (built from spec.notifier); null for nowhere.
using NotifierFactory = std::function<notify::NotifierPtr(const AmiRefresher&)>;

struct ExecuteContext {
  const AmiRefresher& refresher;
  AwsClients& aws;
  kube::StatusWriter& status;
  kube::EventRecorder& events;
  notify::Notifier* notifier = nullptr;  // optional
  RolloutMetrics* metrics = nullptr;     // optional
  std::string field_manager = "ami-refresh-controller";
};

// Carries out `d` in order. A status patch is written when met (so intent is recorded before the
// AWS calls it describes); results of the AWS calls (update ids, new launch template versions,
// conflicts, refusals) are folded into that status and written once more at the end. Returns the
// first retryable failure, after everything else has been done.
[[nodiscard]] Status execute(const Decision& d, const ExecuteContext& ctx);

using ImageLookupCachePtr = std::shared_ptr<ami::ImageLookupCache>;

struct ReconcilerOptions {
  NotifierFactory notifiers;
  // Optional, shared with every refresher; without it every reconcile asks EC2.
  ImageLookupCachePtr image_cache;
  // How old a shared answer may be (never older than a refresher's controllerTimer either).
  Duration image_cache_max_age = std::chrono::minutes(1);
  RolloutMetricsPtr metrics;
  std::string field_manager = "ami-refresh-controller";
};

class Reconciler {
 public:
  Reconciler(kube::ObjectReader& reader, kube::StatusWriter& status, kube::EventRecorder& events,
             AwsClientsFactory aws, Clock& clock, ReconcilerOptions options = {});

  // Reconciles the refresher "namespace/name" and says what the work queue should do next.
  kube::WorkOutcome reconcile(const std::string& key);
  // The same, returning when to look again (nullopt: only when the object changes).
  [[nodiscard]] Result<std::optional<Duration>> reconcile(std::string_view ns,
                                                          std::string_view name);
  // Everything decide() needs for `r`, read from AWS (no writes).
  [[nodiscard]] Result<Observed> observe(const AmiRefresher& r, AwsClients& clients);

 private:
  Result<std::vector<aws::Image>> describeImages(const std::string& region, aws::ImageApi& ec2,
                                                 const aws::DescribeImagesInput& in,
                                                 Duration controller_timer);

  kube::ObjectReader& reader_;
  kube::StatusWriter& status_;
  kube::EventRecorder& events_;
  AwsClientsFactory aws_;
  Clock& clock_;
  ReconcilerOptions options_;
};

}  // namespace opsy::ami_refresh
