// File: decide.h
//
// The AMIRefresher's rules as pure functions: given what the reconciler observed (the resource,
// the images its target lookup returned, every node group in one normalised shape), decide()
// returns the status to write, the AWS calls to make, the Events, notifications and metrics, and
// when to look again. No I/O, no clock, no logging, so every rule is a table-driven test.
//
// A reconcile that makes AWS calls decides twice: the first decision lists the calls; the
// executor makes them and reports one outcome per call; decide() with those outcomes then folds
// them in (update ids, refusals, retries) and yields the final decision, with no calls, whose one
// status write records everything. A group is started in two reconciles: the first records
// intent (Updating, the version it ran before) and makes no call, the next makes the calls, so a
// controller killed at any instant finds on record what it may have started.
//
//   Decision d = decide(observed, now);
//   if (!d.aws.empty()) d = decide(observed, now, executor.perform(d.aws, clients));
//   OPSY_RETURN_IF_ERROR(executor.apply(refresher, d));
#pragma once

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "ami-refresh-controller/api.h"
#include "opsy/ami/selection.h"
#include "opsy/aws/ec2.h"
#include "opsy/aws/types.h"
#include "opsy/controller/actions.h"
#include "opsy/controller/failure.h"
#include "opsy/core/result.h"

namespace opsy::ami_refresh {

// How often in-flight updates are looked at again.
inline constexpr Duration kPollInterval = std::chrono::seconds(30);

// --- what the reconciler observed ---

// What a DescribeImages for the target returned: by id (spec.ami: `matched` holds that image, if
// it exists), or by filters (`matched` = images of the filters, `derived` = managed images tagged
// base-ami=<one of the bases among them>).
// spec.builderRef: the PackerBuilder as the informer cache holds it.
struct BuilderObservation {
  bool found = false;
  // status.lastRunBuiltImageID: its active image; empty until a build completes or it adopts one.
  std::string image_id;
  // spec.region of the builder (where it builds).
  std::string region;
  // status.copies: the active image's copies in other regions.
  struct Copy {
    std::string region;
    std::string image_id;
  };
  std::vector<Copy> copies;

  // The builder's image for a refresher in `region`: its copy there, else its active image.
  const std::string& imageFor(std::string_view region) const;
};

// With spec.builderRef, `builder` is what was read of it and `matched` holds its image when EC2
// has it in spec.region.
struct TargetObservation {
  std::vector<aws::Image> matched;
  std::vector<aws::Image> derived;
  std::optional<BuilderObservation> builder;
};

// Where an update stands, whatever started it: an EKS update or an Auto Scaling instance refresh.
enum class UpdateState { InProgress, Succeeded, Failed, Cancelled };
// What an update changes: the launch template version, or (EKS only) the group's updateConfig.
enum class UpdateKind { Version, Config };

struct GroupUpdate {
  std::string id;
  UpdateKind kind = UpdateKind::Version;
  UpdateState state = UpdateState::InProgress;
  // AWS's own word for the state ("RollbackSuccessful"), for messages only.
  std::string status_text;
  // Why it failed: EKS update errors, or the refresh's status reason.
  std::string detail;
  // Instance refreshes report progress.
  std::optional<int> percent_complete;
};

// A Kubernetes Node of a node group, with the image its EC2 instance runs.
struct NodeObservation {
  std::string name;
  bool ready = false;
  std::string not_ready_reason;  // the Ready condition's reason and message when not Ready
  std::string instance_id;       // from spec.providerID
  std::string image_id;          // from DescribeInstances; empty when the instance is unknown
  // NodeClaims only: Karpenter marked it Drifted (it will be replaced).
  bool drifted = false;
};

// A Karpenter EC2NodeClass as read, with the NodeClaims that name it in spec.nodeClassRef.
struct NodeClassObservation {
  bool found = false;
  // spec.amiSelectorTerms as compact JSON ("" when unset).
  std::string ami_selector_terms;
  // The id when the terms are exactly [{"id": <id>}] (a pin), else "".
  std::string pinned_image;
  // status.amis[].id: the images Karpenter resolved the terms to.
  std::vector<std::string> resolved_images;
  // The Ready condition: "True", "False" or "" (none yet), with its reason and message.
  std::string ready;
  std::string ready_reason;
  std::string ready_message;
  // Its NodeClaims (name, Ready, status.imageID, Drifted).
  std::vector<NodeObservation> claims;
  // Its labels (another refresher's spec.karpenter selector may select it).
  std::map<std::string, std::string> labels;
};

// A pod on a Node being drained, as the drain sorts it.
struct PodObservation {
  std::string ns;
  std::string name;
  bool daemon_set = false;  // owned by a DaemonSet: it would come straight back; left alone
  bool mirror = false;      // the kubelet's mirror of a static pod: cannot be evicted
  bool finished = false;    // Succeeded or Failed: holds nothing
  bool deleting = false;    // has a deletionTimestamp: already going
};

// An instance of a self-managed group, refreshed by us, that waits in Terminating:Wait on our
// lifecycle hook, with its Node (the one whose spec.providerID names it) and that Node's pods.
struct DrainObservation {
  std::string instance_id;
  std::optional<std::string> node;
  bool cordoned = false;
  std::vector<PodObservation> pods;
  // Its Node or pods could not be read (the drain waits; its timeout still runs).
  std::optional<Error> error;
};

// One node group, managed (EKS) or self-managed (Auto Scaling), in the shape decide() reads.
struct GroupObservation {
  std::string name;
  GroupKind kind = GroupKind::Managed;
  // The launch template the group runs, and that version as EC2 describes it.
  std::optional<aws::LaunchTemplateSpec> launch_template;
  std::optional<aws::LaunchTemplateVersion> launch_template_version;
  // Why the launch template version could not be read (deleted template, version gone).
  std::string launch_template_error;
  // Managed: EKS's amiType (a group whose AMI EKS chooses cannot take a custom image).
  std::string ami_type;
  // Self-managed: a mixed instances policy, which is not rolled.
  bool mixed_instances_policy = false;
  // The group cannot take an update now (EKS status other than ACTIVE/DEGRADED/UPDATING);
  // `status_text` says what it is.
  bool unavailable = false;
  std::string status_text;
  // Some update runs on the group (EKS UPDATING, or an active instance refresh), ours or not;
  // `running_update_id` names it when AWS does (instance refreshes).
  bool update_running = false;
  std::string running_update_id;
  // The update the group's status entry names (its updateID), as AWS describes it now.
  std::optional<GroupUpdate> recorded_update;
  // Managed: the group's updateConfig.
  std::optional<int> max_unavailable;
  std::optional<int> max_unavailable_percentage;
  // What could not be read about this group (its describe, its launch template version, its
  // update or refreshes); the fields after it may be missing. The other groups are unaffected.
  std::optional<Error> observe_error;
  // Self-managed: the Auto Scaling group's instances (for finding its Nodes).
  std::vector<std::string> instance_ids;
  // Canary groups whose nodes are being checked (canaryNeedsNodes()): their Nodes. Node classes:
  // always their NodeClaims.
  std::optional<std::vector<NodeObservation>> nodes;
  // Node classes (kind NodeClass): the EC2NodeClass and its NodeClaims.
  std::optional<NodeClassObservation> node_class;
  // Self-managed groups with spec.selfManaged.drain that we refreshed: instances waiting in
  // Terminating:Wait.
  std::vector<DrainObservation> draining;
};

// Another AMIRefresher of the same region and cluster (ami-refresh-controller/peers.h).
struct Peer {
  std::string ns;
  std::string name;
  std::optional<TimePoint> created;
  std::vector<std::string> exclude;
  bool self_managed = false;                 // it rolls self-managed groups too
  std::optional<KarpenterConfig> karpenter;  // the node classes it pins
};

// Of two refreshers whose selections overlap, the one created first keeps the groups; ties go
// by namespace/name. True when `peer` comes before a refresher with `metadata`.
bool peerComesFirst(const Peer& peer, const kube::ObjectMeta& metadata);

// The group of `groups` that both `peer` and a refresher with `spec` would manage (excluded by
// neither, with a launch template; self-managed ones only when both roll those; node classes
// that both name or select), if any.
std::optional<std::string> sharedGroup(const Peer& peer, const Spec& spec,
                                       const std::vector<GroupObservation>& groups);

struct Observed {
  AmiRefresher refresher;
  // The other valid refreshers of spec.region and spec.clusterName.
  std::vector<Peer> peers;
  // Unset when the spec is invalid (nothing was looked up).
  std::optional<TargetObservation> target;
  // Filled only when wantsGroups(); otherwise no node group is looked at.
  std::vector<GroupObservation> groups;
  // EKS has no cluster spec.clusterName in spec.region (ListNodegroups answered not found).
  bool cluster_missing = false;
  // spec.karpenter is set but the controller runs without --karpenter (nothing was read).
  bool karpenter_disabled = false;
  // spec.karpenter is set but the API server has no EC2NodeClass resource: the message says so.
  std::optional<std::string> karpenter_missing;
  // What could not be read (AWS denied, throttled, ...); what comes after it is not looked up.
  std::optional<Error> failure;
  // Why a notification destination of the spec may not be reached (the cluster's destination
  // policy refuses a webhook URL); shown on Ready, the other destinations still deliver.
  std::optional<std::string> notification_refused;
};

// --- AWS actions (made by the executor, one outcome each) ---

// A new launch template version for `group`, copied from `source_version` with `image_id`.
// `client_token` makes a retry return the same version instead of a second one.
struct CreateLaunchTemplateVersion {
  std::string group;
  GroupKind kind = GroupKind::Managed;
  std::string launch_template_id;
  std::string launch_template_name;
  std::string source_version;
  std::string image_id;
  std::string client_token;
};

// UpdateNodegroupVersion onto the version the CreateLaunchTemplateVersion for the same group
// just made (the executor passes it along), or onto `version` when that is set (rollback).
struct UpdateNodegroup {
  std::string cluster_name;
  std::string group;
  std::string launch_template_id;
  std::string launch_template_name;
  std::string version;  // empty: the version created in this execution
  bool force = false;
  std::string client_request_token;
};

// UpdateNodegroupConfig of the group's updateConfig to the spec's refreshConfig limit (exactly
// one is set), issued instead of the version update while the two differ; the version update
// follows once this ConfigUpdate is Successful.
struct UpdateNodegroupConfig {
  std::string cluster_name;
  std::string group;
  std::optional<int> max_unavailable;
  std::optional<int> max_unavailable_percentage;
  std::string client_request_token;
};

// Puts a failed managed group back on the launch template version it ran before the rollout.
struct RollbackNodegroup {
  UpdateNodegroup update;
};

// StartInstanceRefresh of a self-managed group onto the version created in this execution (or
// `version` when set), skipping instances that already match.
struct StartInstanceRefresh {
  std::string group;
  std::string launch_template_id;
  std::string launch_template_name;
  std::string version;  // empty: the version created in this execution
  int min_healthy_percentage = 90;
  int instance_warmup_seconds = 300;
  bool rollback = false;  // true when this puts a failed group back on its previous version
};

// Not AWS, but made and folded the same way: a JSON merge patch of the EC2NodeClass `group`
// setting spec.amiSelectorTerms to `terms` (JSON): [{"id": target}], or on rollback the terms it
// had before the first pin. Idempotent.
struct PinNodeClass {
  std::string group;
  std::string terms;
  bool rollback = false;
};

// PutLifecycleHook of our termination hook on `group`, made before its instance refresh starts,
// unless the hook is already there as configured.
struct EnsureLifecycleHook {
  std::string group;
  std::string hook_name;
  int heartbeat_timeout_seconds = 300;
  std::string default_result = "CONTINUE";
  // Made again when a drain begins (the spec may have changed since the refresh started): its
  // failure is then the drain's to show, not the group's.
  bool during_drain = false;
};

// The drain of one instance's Node (not AWS either, except the lifecycle calls). None of these
// stops the calls after it: each is worth making whatever became of the others.
// Marks the Node unschedulable, with an annotation saying why.
struct CordonNode {
  std::string group;
  std::string instance_id;
  std::string node;
  std::string reason;
};
// Creates a policy/v1 Eviction of the pod (which its PodDisruptionBudgets may refuse).
struct EvictPod {
  std::string group;
  std::string instance_id;
  std::string ns;
  std::string pod;
};
// RecordLifecycleActionHeartbeat: keeps the instance waiting another heartbeat timeout.
struct RecordLifecycleHeartbeat {
  std::string group;
  std::string hook_name;
  std::string instance_id;
};
// CompleteLifecycleAction: the instance may go. `timed_out`: drain.timeout passed with pods left.
struct CompleteLifecycleAction {
  std::string group;
  std::string hook_name;
  std::string instance_id;
  std::string result = "CONTINUE";
  bool timed_out = false;
  std::string node;
  std::string why;  // for the Event: what was left when the drain timed out
};
// CancelInstanceRefresh: a drain timed out and halts the rollout; no other instance is taken.
struct CancelInstanceRefresh {
  std::string group;
};

using AwsAction = std::variant<CreateLaunchTemplateVersion, UpdateNodegroup, UpdateNodegroupConfig,
                               RollbackNodegroup, StartInstanceRefresh, PinNodeClass,
                               EnsureLifecycleHook, CordonNode, EvictPod, RecordLifecycleHeartbeat,
                               CompleteLifecycleAction, CancelInstanceRefresh>;

// Drain steps are made whatever became of the group's other calls, and do not stop them.
bool isDrainStep(const AwsAction& action);

// The group an AWS action is about.
const std::string& groupOf(const AwsAction& action);

// What became of one AWS action.
struct ActionOutcome {
  // False: not made, because an earlier action for the same group failed.
  bool attempted = true;
  // The call's refusal or failure, when it failed.
  std::optional<Error> error;
  // On success: the launch template version number made, or the update / refresh id started.
  std::string value;
  // The launch template version the call used (update and refresh calls).
  std::string version;
};
// One per Decision::aws entry, in the same order.
using Outcomes = std::vector<ActionOutcome>;

// --- the rest of a decision ---

using PatchStatus = controller::PatchStatus<RefresherStatus>;
using controller::Notify;
using controller::RecordEvent;

enum class MetricKind { RolloutStarted, RolloutFinished, RolloutFailed, GroupRolled };

struct RecordMetric {
  MetricKind kind = MetricKind::RolloutStarted;
  Duration elapsed{0};  // GroupRolled: from the update's start to its success
};

using Action = std::variant<PatchStatus, RecordEvent, Notify, RecordMetric>;

struct Decision {
  // AWS calls to make, in order. When non-empty, the rest of this decision is provisional: make
  // the calls, then decide again with their outcomes.
  std::vector<AwsAction> aws;
  // In order: the status write first, then Events, notifications and metrics.
  std::vector<Action> actions;
  // The node groups by phase as the status now says (a gauge per phase).
  std::map<Phase, int> phases;
  // The NodeClaims of every node class of the refresher, summed (a gauge per state).
  NodeClaimCounts node_claims;
  // A retryable failure among the outcomes: the reconcile reports it (after its status write)
  // so the work queue retries with backoff.
  std::optional<Error> retry;
  // nullopt: wait for the spec to change (invalid spec).
  std::optional<Duration> requeue_after;
  // The failure this reconcile reported on the refresher, counted by reason.
  std::optional<controller::Failure> failure;
};

// Client tokens: a pure function of the refresher, the group and the image, so every retry of
// the same step carries the same token.
std::string clientToken(std::string_view uid, std::string_view group, std::string_view image,
                        std::string_view purpose);

// The target: by id (ami::evaluate), by filters (ami::selectTarget) or a builder's active image
// (ami::evaluate, and never a deprecated one), with its explanation.
ami::Target selectRefresherTarget(const Spec& spec, const TargetObservation& observed,
                                  TimePoint now);

// Whether the node groups are worth looking at: only when there is an eligible target.
bool wantsGroups(const Spec& spec, const TargetObservation& target, TimePoint now);

// The decision for `observed` at `now`; with `outcomes` (of the first decision's AWS actions),
// the final one.
Decision decide(const Observed& observed, TimePoint now, const Outcomes* outcomes = nullptr);

}  // namespace opsy::ami_refresh
