// File: autoscaling.h
//
// The Auto Scaling calls the refresh controller makes for self-managed node groups: find the
// cluster's groups (by tag filters), start an instance refresh onto a launch template version,
// follow and cancel refreshes, and take part in termination lifecycle hooks (put the hook, keep
// a waiting instance's action alive, complete it). Lists are paginated for the caller.
//
//   OPSY_ASSIGN_OR_RETURN(aws::AutoScalingApiPtr asg, aws::makeAutoScalingClient(options));
//   OPSY_ASSIGN_OR_RETURN(auto groups, asg->describeAutoScalingGroups({.filters = filters}));
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/aws/client_options.h"
#include "opsy/aws/types.h"
#include "opsy/core/result.h"

namespace opsy::aws {

// InstanceRefresh.status (the Auto Scaling model's InstanceRefreshStatus).
enum class InstanceRefreshStatus {
  Unknown,
  Pending,
  InProgress,
  Successful,
  Failed,
  Cancelling,
  Cancelled,
  RollbackInProgress,
  RollbackFailed,
  RollbackSuccessful,
  Baking,
};

// The AWS spelling ("RollbackInProgress"); "Unknown" for Unknown.
std::string_view toString(InstanceRefreshStatus status);
// The enumerator spelled `text`, Unknown for any other text.
InstanceRefreshStatus parseInstanceRefreshStatus(std::string_view text);

struct AsgInstance {
  std::string id;
  std::string lifecycle_state;  // InService, Pending, Terminating, …
  std::string health_status;
  std::optional<LaunchTemplateSpec> launch_template;
};

struct AutoScalingGroup {
  std::string name;
  std::string arn;
  // LaunchTemplate, or MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification.
  std::optional<LaunchTemplateSpec> launch_template;
  bool mixed_instances_policy = false;
  int min_size = 0;
  int max_size = 0;
  int desired_capacity = 0;
  std::vector<AsgInstance> instances;
  Tags tags;
  std::string status;  // set while the group is being deleted
};

struct DescribeAutoScalingGroupsInput {
  std::vector<std::string> names;
  // "tag:<key>", "tag-key", "tag-value" with values.
  std::vector<Filter> filters;
  int page_size = 100;
};

struct InstanceRefreshPreferences {
  std::optional<int> min_healthy_percentage;  // 0-100, service default 90
  std::optional<int> max_healthy_percentage;  // 100-200
  std::optional<int> instance_warmup_seconds;
  std::optional<bool> skip_matching;
  std::optional<bool> auto_rollback;
  std::vector<int> checkpoint_percentages;
  std::optional<int> checkpoint_delay_seconds;
  std::string scale_in_protected_instances;  // Refresh | Ignore | Wait
  std::string standby_instances;             // Terminate | Ignore | Wait
};

struct StartInstanceRefreshInput {
  std::string auto_scaling_group_name;
  std::string strategy = "Rolling";
  std::optional<LaunchTemplateSpec> desired_launch_template;
  InstanceRefreshPreferences preferences;
};

struct InstanceRefresh {
  std::string id;
  std::string auto_scaling_group_name;
  Parsed<InstanceRefreshStatus> status;
  std::string status_reason;
  std::optional<TimePoint> start_time;
  std::optional<TimePoint> end_time;
  int percentage_complete = 0;
  int instances_to_update = 0;
};

// One lifecycle hook of an Auto Scaling group (DescribeLifecycleHooks).
struct LifecycleHook {
  std::string name;  // LifecycleHookName
  std::string auto_scaling_group_name;
  std::string transition;  // "autoscaling:EC2_INSTANCE_TERMINATING" / "..._LAUNCHING"
  int heartbeat_timeout_seconds = 3600;
  int global_timeout_seconds = 0;       // as reported
  std::string default_result;           // "CONTINUE" | "ABANDON"
  std::string notification_target_arn;  // as reported; we never set it
  std::string role_arn;
  std::string notification_metadata;
};

// What identifies one lifecycle action: the group, the hook and the instance.
struct LifecycleActionTarget {
  std::string auto_scaling_group_name;
  std::string hook_name;
  std::string instance_id;
};

class AutoScalingApi {
 public:
  virtual ~AutoScalingApi() = default;

  /** DescribeAutoScalingGroups, all pages. */
  [[nodiscard]] virtual Result<std::vector<AutoScalingGroup>> describeAutoScalingGroups(
      const DescribeAutoScalingGroupsInput& input) = 0;
  /** StartInstanceRefresh; returns the refresh id. Conflict (InstanceRefreshInProgress) while
   *  another refresh is active. */
  [[nodiscard]] virtual Result<std::string> startInstanceRefresh(
      const StartInstanceRefreshInput& input) = 0;
  /** DescribeInstanceRefreshes of one group (optionally only `ids`), all pages, newest first. */
  [[nodiscard]] virtual Result<std::vector<InstanceRefresh>> describeInstanceRefreshes(
      const std::string& auto_scaling_group_name, const std::vector<std::string>& ids = {}) = 0;
  /** DescribeLifecycleHooks of one group (optionally only `names`). NotFound when the group does
   *  not exist. */
  [[nodiscard]] virtual Result<std::vector<LifecycleHook>> describeLifecycleHooks(
      const std::string& auto_scaling_group_name, const std::vector<std::string>& names = {}) = 0;
  /** PutLifecycleHook: creates the hook or replaces the one of that name. Sends
   *  LifecycleTransition, HeartbeatTimeout, DefaultResult (and nothing else that is empty). */
  [[nodiscard]] virtual Status putLifecycleHook(const LifecycleHook& hook) = 0;
  /** CompleteLifecycleAction with LifecycleActionResult `result` ("CONTINUE" | "ABANDON").
   *  NotFound when Auto Scaling has no active lifecycle action for that instance (already
   *  completed or timed out). */
  [[nodiscard]] virtual Status completeLifecycleAction(const LifecycleActionTarget& target,
                                                       std::string_view result) = 0;
  /** RecordLifecycleActionHeartbeat. NotFound as for completeLifecycleAction. */
  [[nodiscard]] virtual Status recordLifecycleActionHeartbeat(
      const LifecycleActionTarget& target) = 0;
  /** CancelInstanceRefresh; returns the cancelled refresh's id. NotFound when no refresh is
   *  active (ActiveInstanceRefreshNotFound). */
  [[nodiscard]] virtual Result<std::string> cancelInstanceRefresh(
      const std::string& auto_scaling_group_name) = 0;
};

using AutoScalingApiPtr = std::shared_ptr<AutoScalingApi>;

[[nodiscard]] Result<AutoScalingApiPtr> makeAutoScalingClient(const ClientOptions& options);

}  // namespace opsy::aws
