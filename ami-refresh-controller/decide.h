// File: decide.h
//
// The AMIRefresher's rules as one pure function: given what the executor observed (the resource,
// the images its target lookup returned, every node group with the image its launch template
// runs and the state of any update we started), decide() returns the actions to take and when to
// look again. No I/O, no clock, no logging, so every rule is a table-driven test. All memory of
// progress is the status it returns and the state of AWS it was given.
//
//   Decision d = decide(observed, clock.now());
//   OPSY_RETURN_IF_ERROR(executor.execute(d));
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "ami-refresh-controller/api.h"
#include "opsy/ami/selection.h"
#include "opsy/aws/autoscaling.h"
#include "opsy/aws/ec2.h"
#include "opsy/aws/eks.h"
#include "opsy/kube/events.h"
#include "opsy/notify/notifier.h"

namespace opsy::ami_refresh {

// How often in-flight updates are looked at again.
inline constexpr Duration kPollInterval = std::chrono::seconds(30);

// Condition types and reasons this controller writes.
inline constexpr std::string_view kReady = "Ready";
inline constexpr std::string_view kProgressing = "Progressing";
inline constexpr std::string_view kStalled = "Stalled";

// What a DescribeImages for the target returned: by id (spec.ami: `matched` holds that image, if
// it exists), or by filters (`matched` = images of the filters, `derived` = managed images tagged
// base-ami=<one of the bases among them>).
struct TargetObservation {
  std::vector<aws::Image> matched;
  std::vector<aws::Image> derived;
};

// A managed node group as EKS describes it, plus the launch template version it runs and the
// update named by its status entry (if that entry has an update id).
struct ManagedGroupObservation {
  aws::Nodegroup nodegroup;
  std::optional<aws::LaunchTemplateVersion> launch_template_version;
  // Why the launch template version could not be read (deleted template, version gone).
  std::string launch_template_error;
  std::optional<aws::Update> update;
};

// A self-managed Auto Scaling group of the cluster, the launch template version it runs, and its
// instance refreshes (newest first).
struct SelfManagedGroupObservation {
  aws::AutoScalingGroup group;
  std::optional<aws::LaunchTemplateVersion> launch_template_version;
  std::string launch_template_error;
  std::vector<aws::InstanceRefresh> refreshes;
};

struct Observed {
  AmiRefresher refresher;
  // Unset when the spec is invalid (nothing was looked up).
  std::optional<TargetObservation> target;
  // Filled only when a target is eligible; otherwise no node group is looked at.
  std::vector<ManagedGroupObservation> managed;
  std::vector<SelfManagedGroupObservation> self_managed;
};

// --- actions ---

// Writes the whole status (a merge patch of .status). The executor may amend the entries of
// groups it started (update id, new launch template version) before writing.
struct PatchStatus {
  RefresherStatus status;
};

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

struct RecordEvent {
  kube::EventType type = kube::EventType::Normal;
  std::string reason;
  std::string action;
  std::string note;
};

struct Notify {
  notify::Notification notification;
};

enum class MetricKind { RolloutStarted, RolloutFinished, RolloutFailed, GroupRolled };

struct RecordMetric {
  MetricKind kind = MetricKind::RolloutStarted;
  Duration elapsed{0};  // GroupRolled: from the update's start to its success
};

using Action =
    std::variant<PatchStatus, CreateLaunchTemplateVersion, UpdateNodegroup, UpdateNodegroupConfig,
                 RollbackNodegroup, StartInstanceRefresh, RecordEvent, Notify, RecordMetric>;

struct Decision {
  // In execution order: the status patch that records intent (previous version, Updating) comes
  // before the AWS calls it describes; events, notifications and metrics come last.
  std::vector<Action> actions;
  // nullopt: wait for the spec to change (invalid spec).
  std::optional<Duration> requeue_after;
};

// Client tokens: a pure function of the refresher, the group and the image, so every retry of
// the same step carries the same token.
std::string clientToken(std::string_view uid, std::string_view group, std::string_view image,
                        std::string_view purpose);

// The target: by id (ami::evaluate) or by filters (ami::selectTarget), with its explanation.
ami::Target selectRefresherTarget(const Spec& spec, const TargetObservation& observed,
                                  TimePoint now);

Decision decide(const Observed& observed, TimePoint now);

}  // namespace opsy::ami_refresh
