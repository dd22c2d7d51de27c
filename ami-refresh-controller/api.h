// File: api.h
//
// The AMIRefresher resource (ami.refresh.ops/v1alpha1) as C++ values: the spec read from a
// kube::Object with every default applied and every error naming its field path, and the status
// read back and encoded as the body of a status merge patch. Parsing never throws and never
// guesses: a bad duration or a missing field is an error for the Stalled condition, not a zero.
//
//   AmiRefresher r = AmiRefresher::fromObject(obj);
//   if (!r.spec) conditions.set(Stalled=True, "InvalidSpec", r.spec_error);
#pragma once

#include <array>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/aws/types.h"
#include "opsy/core/clock.h"
#include "opsy/core/maintenance_window.h"
#include "opsy/core/result.h"
#include "opsy/kube/conditions.h"
#include "opsy/kube/object.h"
#include "opsy/kube/resource.h"
#include "opsy/notify/config.h"

namespace opsy::ami_refresh {

// amirefreshers.ami.refresh.ops/v1alpha1.
const kube::Resource& amiRefreshers();

// packerbuilders.ami.refresh.ops/v1alpha1, read (never written) for spec.builderRef.
const kube::Resource& packerBuilders();

// Karpenter's ec2nodeclasses.karpenter.k8s.aws/v1 (cluster-scoped), read and patched for
// spec.karpenter, and nodeclaims.karpenter.sh/v1 (cluster-scoped), only read.
const kube::Resource& ec2NodeClasses();
const kube::Resource& nodeClaims();

inline constexpr Duration kDefaultExpiresIn = std::chrono::hours(24 * 30);
inline constexpr Duration kDefaultControllerTimer = std::chrono::minutes(5);
inline constexpr Duration kDefaultUpdateTimeout = std::chrono::hours(2);
inline constexpr Duration kDefaultInstanceWarmup = std::chrono::minutes(5);

struct RefreshConfig {
  bool force = false;
  // At most one is set; node groups' own update config applies when neither is.
  std::optional<int> max_unavailable;
  std::optional<int> max_unavailable_percentage;
  int max_concurrent_nodegroups = 1;
  bool wait_for_completion = true;
  Duration update_timeout = kDefaultUpdateTimeout;
  bool rollback_on_failure = false;

  bool operator==(const RefreshConfig&) const = default;
};

inline constexpr Duration kDefaultDrainTimeout = std::chrono::minutes(30);
inline constexpr Duration kDefaultHookHeartbeatTimeout = std::chrono::minutes(5);
inline constexpr std::string_view kDefaultLifecycleHookName = "opsy-ami-refresh-drain";

// What happens to a node whose drain is still blocked at drain.timeout.
enum class DrainTimeoutAction { Halt, Continue };
std::string_view toString(DrainTimeoutAction action);

// spec.selfManaged.drain: instances an instance refresh of ours replaces are held in
// Terminating:Wait by a termination lifecycle hook of ours while their Nodes are cordoned and
// their pods evicted (within PodDisruptionBudgets); then the lifecycle action is completed.
struct DrainConfig {
  bool enabled = true;
  // How long one node's drain may take; then on_timeout.
  Duration timeout = kDefaultDrainTimeout;
  DrainTimeoutAction on_timeout = DrainTimeoutAction::Halt;
  // The lifecycle hook the refresher puts on each group it refreshes (only that one is ever
  // changed), its heartbeat timeout and the result Auto Scaling applies when it passes.
  std::string hook_name = std::string(kDefaultLifecycleHookName);
  Duration heartbeat_timeout = kDefaultHookHeartbeatTimeout;
  std::string default_result = "CONTINUE";

  bool operator==(const DrainConfig&) const = default;
};

struct SelfManagedConfig {
  bool enabled = false;
  int min_healthy_percentage = 90;
  Duration instance_warmup = kDefaultInstanceWarmup;
  DrainConfig drain;

  bool operator==(const SelfManagedConfig&) const = default;
};

// Apply carries a rollout out; Plan works out every step and writes it to status, with no AWS
// write at all.
enum class Mode { Apply, Plan };
std::string_view toString(Mode mode);

inline constexpr Duration kDefaultCanaryReadyTimeout = std::chrono::minutes(30);

// Node groups that roll first; the others wait until the canary's nodes have been Ready on the
// target image for the soak time.
struct CanaryConfig {
  std::vector<std::string> nodegroups;  // exact names and '*' globs
  int count = 0;                        // or: the first `count` groups (by kind, then name)
  // How long after the canary's updates end its nodes may take to be Ready on the target.
  Duration ready_timeout = kDefaultCanaryReadyTimeout;

  bool operator==(const CanaryConfig&) const = default;
};

struct RolloutConfig {
  std::optional<CanaryConfig> canary;
  // How long the canary's nodes must stay Ready on the target before the rest start.
  Duration soak = Duration::zero();

  bool operator==(const RolloutConfig&) const = default;
};

// spec.builderRef: the PackerBuilder whose active image (status.lastRunBuiltImageID) is the
// target.
struct BuilderRef {
  std::string name;
  std::string ns;  // the refresher's own namespace when the spec leaves it out

  // "namespace/name", the key the builder's informer and ami::kBuilderRefIndex use.
  std::string key() const { return kube::objectKey(ns, name); }
  bool operator==(const BuilderRef&) const = default;
};

// spec.karpenter.nodeClasses: the EC2NodeClasses to pin to the target, by name or by label
// selector (exactly one).
struct KarpenterConfig {
  std::vector<std::string> names;
  // The selector as label selector text ("team=a,tier in (x,y)"); empty when names are given.
  std::string selector;

  bool operator==(const KarpenterConfig&) const = default;
};

struct Spec {
  std::string region;
  std::string cluster_name;
  // Exactly one of these is set.
  std::optional<std::string> ami;
  std::vector<aws::Filter> ami_filters;
  std::optional<BuilderRef> builder_ref;
  Duration expires_in = kDefaultExpiresIn;
  // An image becomes a target only once it is this old (since its create-timestamp): a production
  // refresher rolls what another environment has run for that long. Zero: no minimum.
  Duration min_image_age = Duration::zero();
  // Set when expiresIn looks like a minutes/months mix-up (ami::expiresInWarning).
  std::string expires_in_warning;
  Duration controller_timer = kDefaultControllerTimer;
  std::vector<std::string> exclude;  // exact names and '*' globs
  bool paused = false;
  // When set, a group update (or rollback) starts only while one of them is open; one already
  // running is never interrupted when its window closes. Empty: any time.
  std::vector<MaintenanceWindow> maintenance_windows;
  Mode mode = Mode::Apply;
  RefreshConfig refresh;
  RolloutConfig rollout;
  SelfManagedConfig self_managed;
  // Karpenter EC2NodeClasses rolled next to the node groups (spec.exclude does not apply to
  // them: they are named or selected here).
  std::optional<KarpenterConfig> karpenter;
  notify::NotifierConfig notifier;  // shared with PackerBuilder
};

// NodeClass: a Karpenter EC2NodeClass, "updated" by pinning its amiSelectorTerms to the target
// and followed through Karpenter's NodeClaims.
enum class GroupKind { Managed, SelfManaged, NodeClass };
std::string_view toString(GroupKind kind);

// Unknown: the group could not be read this time (a denied or failed describe); it is neither
// rolled nor counted as failed, and the message says what failed.
enum class Phase { UpToDate, Pending, Updating, Succeeded, Failed, Skipped, Excluded, Unknown };
inline constexpr std::array<Phase, 8> kAllPhases = {
    Phase::UpToDate, Phase::Pending, Phase::Updating, Phase::Succeeded,
    Phase::Failed,   Phase::Skipped, Phase::Excluded, Phase::Unknown};
std::string_view toString(Phase phase);
std::optional<Phase> parsePhase(std::string_view text);

struct LaunchTemplateRef {
  std::string id;
  std::string version;

  bool operator==(const LaunchTemplateRef&) const = default;
};

// The NodeClaims of a node class against the target image: how many exist, run the target, run
// another image, and are marked Drifted by Karpenter.
struct NodeClaimCounts {
  int total = 0;
  int on_target = 0;
  int old = 0;
  int drifted = 0;

  bool operator==(const NodeClaimCounts&) const = default;
};

// One node being drained: its instance waits in Terminating:Wait on our lifecycle hook.
struct DrainStatus {
  std::string instance_id;
  std::string node;  // "" while no Node has that instance in spec.providerID
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> last_heartbeat;
  // When its pods were last asked to leave (evictions a budget refuses are asked again later).
  std::optional<TimePoint> last_eviction;
  int pods_left = 0;
  // The PodDisruptionBudget that refused the last eviction, and the pod (both "namespace/name").
  std::string blocked_by_pdb;
  std::string blocked_pod;
  std::string message;

  bool operator==(const DrainStatus&) const = default;
};

// One entry of status.nodegroups: where a group stands with respect to the target image.
struct NodegroupStatus {
  std::string name;
  GroupKind kind = GroupKind::Managed;
  LaunchTemplateRef launch_template;
  std::string previous_launch_template_version;
  // Node classes: spec.amiSelectorTerms (compact JSON) before the first pin, for rollback.
  std::string previous_ami_selector_terms;
  // Node classes: their NodeClaims as last read.
  std::optional<NodeClaimCounts> node_claims;
  std::string current_image;
  std::string target_image;
  Phase phase = Phase::Pending;
  // EKS update id, or Auto Scaling instance refresh id.
  std::string update_id;
  // The update (or instance refresh) that puts a failed group back on its previous version.
  std::string rollback_update_id;
  std::string message;
  // Plan mode: what Apply would do next for the group ("UpdateNodegroupVersion", "wait for a
  // free slot", ...); empty in Apply mode.
  std::string next_step;
  std::optional<TimePoint> last_transition_time;
  // Self-managed groups with spec.selfManaged.drain: the nodes being drained now.
  std::vector<DrainStatus> drains;

  bool operator==(const NodegroupStatus&) const = default;
};

// Values of status.state.
inline constexpr std::string_view kStatePending = "Pending";
inline constexpr std::string_view kStateRolling = "Rolling";
inline constexpr std::string_view kStateReady = "Ready";
inline constexpr std::string_view kStatePaused = "Paused";
inline constexpr std::string_view kStateStalled = "Stalled";
inline constexpr std::string_view kStatePlanned = "Planned";
// Groups need the image and wait for a maintenance window; nothing is updating.
inline constexpr std::string_view kStateWaiting = "Waiting";

// Values of status.canary.phase.
inline constexpr std::string_view kCanaryRolling = "Rolling";
inline constexpr std::string_view kCanaryVerifying = "Verifying";
inline constexpr std::string_view kCanarySoaking = "Soaking";
inline constexpr std::string_view kCanaryPassed = "Passed";
inline constexpr std::string_view kCanaryFailed = "Failed";

// status.canary: how the canary of the current target stands.
struct CanaryStatus {
  std::string target_image;
  std::vector<std::string> nodegroups;
  std::string phase;
  // When the canary's updates had all ended (its nodes are checked from then on).
  std::optional<TimePoint> verify_started_at;
  // When every canary node was first seen Ready on the target.
  std::optional<TimePoint> soak_started_at;
  std::string message;

  bool operator==(const CanaryStatus&) const = default;
};

struct RefresherStatus {
  std::string state;
  std::int64_t observed_generation = 0;
  std::string target_ami;
  std::optional<TimePoint> target_expires_at;
  // With maintenance windows: when the next one opens.
  std::optional<TimePoint> next_window;
  std::string updated;  // "3/4"
  std::optional<TimePoint> last_run;
  std::string last_run_status;
  std::vector<NodegroupStatus> nodegroups;
  std::optional<CanaryStatus> canary;
  std::vector<kube::Condition> conditions;

  // The entry of group `name` of `kind`, or null.
  const NodegroupStatus* entry(std::string_view name, GroupKind kind) const;

  bool operator==(const RefresherStatus&) const = default;
};

// The spec, or why it is invalid ("spec.refreshConfig.updateTimeout: unknown unit \"x\"").
[[nodiscard]] Result<Spec> parseSpec(const kube::Object& obj);
// The status; malformed entries are dropped rather than failing, so a damaged status heals on the
// next write instead of wedging the object.
RefresherStatus parseStatus(const kube::Object& obj);
// {"status":{...}}: a merge patch that replaces every field this controller owns (absent optional
// fields are sent as null, so stale values are cleared).
std::string statusPatch(const RefresherStatus& status);

// An AMIRefresher as the controller sees it.
struct AmiRefresher {
  kube::ObjectMeta metadata;
  std::optional<Spec> spec;  // nullopt when invalid; then spec_error says why
  std::string spec_error;
  RefresherStatus status;

  static AmiRefresher fromObject(const kube::Object& obj);
  kube::ObjectReference reference() const;
};

// True when `name` matches `pattern`, where '*' matches any run of characters (also none).
bool globMatch(std::string_view pattern, std::string_view name);

// The spec.exclude pattern that matches group `name`, if any.
std::optional<std::string> excludedBy(const Spec& spec, std::string_view name);

}  // namespace opsy::ami_refresh
