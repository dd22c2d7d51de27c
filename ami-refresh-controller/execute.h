// File: execute.h
//
// The AMIRefresher's effects, with no decisions of their own. perform() makes the AWS calls of a
// decision in order and reports one outcome per call (the version made, the update started, or
// the error as AWS gave it); decide() turns those outcomes into status. apply() carries out the
// final decision: its one status write (a merge patch with the resourceVersion the reconcile
// read, so a decision made from a stale cache is refused), then Events, notifications and
// metrics. Every AWS write is idempotent (client tokens), so a reconcile can be cut at any point
// and simply run again.
//
//   Executor executor({.status = client, .events = recorder, .notifiers = &notifiers});
//   Outcomes out = executor.perform(decision.aws, clients);
//   OPSY_RETURN_IF_ERROR(executor.apply(refresher, final_decision));
#pragma once

#include <map>
#include <memory>
#include <string>

#include "ami-refresh-controller/api.h"
#include "ami-refresh-controller/decide.h"
#include "opsy/aws/autoscaling.h"
#include "opsy/aws/ec2.h"
#include "opsy/aws/eks.h"
#include "opsy/kube/client.h"
#include "opsy/kube/events.h"
#include "opsy/notify/notifiers.h"

namespace opsy::ami_refresh {

inline constexpr std::string_view kFieldManager = "ami-refresh-controller";

// Knows how to count rollouts; the binary binds it to Prometheus (wiring.h).
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
  /** The NodeClaims of `object`'s node classes after a reconcile (a gauge per state). */
  virtual void nodeClaims(const std::string& object, const NodeClaimCounts& counts) {
    (void)object;
    (void)counts;
  }
  /** `object` is gone (deleted, or being deleted): its groups no longer count. */
  virtual void forget(const std::string& object) = 0;
};

using RolloutMetricsPtr = std::shared_ptr<RolloutMetrics>;

// The AWS clients of one region.
struct AwsClients {
  aws::Ec2ApiPtr ec2;
  aws::EksApiPtr eks;
  aws::AutoScalingApiPtr autoscaling;
};

struct ExecutorDeps {
  kube::StatusWriter& status;
  kube::EventRecorder& events;
  notify::NotifierFactory* notifiers = nullptr;  // null: notifications are dropped
  RolloutMetrics* metrics = nullptr;             // optional
  // Patches EC2NodeClasses (PinNodeClass); null: such a patch fails as Unavailable.
  kube::ObjectWriter* writer = nullptr;
  std::string field_manager = std::string(kFieldManager);
};

class Executor {
 public:
  explicit Executor(ExecutorDeps deps) : deps_(std::move(deps)) {}

  // Makes each call in order, one outcome each. A call for a group whose earlier call failed is
  // not made (attempted = false), nor is an update whose launch template version was not made.
  Outcomes perform(const std::vector<AwsAction>& actions, AwsClients& aws);

  // The status write of `d` (if any), then its Events, notifications and metrics, and the phase
  // gauge. A failed status write stops there: the rest is decided again next time.
  [[nodiscard]] Status apply(const AmiRefresher& refresher, const Decision& d);

 private:
  ExecutorDeps deps_;
};

}  // namespace opsy::ami_refresh
