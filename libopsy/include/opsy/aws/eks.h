// File: eks.h
//
// The EKS calls the refresh controller makes: list and describe managed node groups, start a
// node-group version update onto a new launch template version (after an updateConfig change
// when the rollout limits differ), and follow those updates. Also
// mints the bearer token kubectl's "aws eks get-token" would (a presigned STS GetCallerIdentity
// URL carrying the cluster name), for talking to the cluster's API server.
//
//   OPSY_ASSIGN_OR_RETURN(aws::EksApiPtr eks, aws::makeEksClient(options));
//   OPSY_ASSIGN_OR_RETURN(aws::Nodegroup ng, eks->describeNodegroup("prod", "workers"));
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/aws/client_options.h"
#include "opsy/aws/types.h"
#include "opsy/core/result.h"

namespace opsy::aws {

// Nodegroup.status (the EKS model's NodegroupStatus).
enum class NodegroupStatus {
  Unknown,
  Creating,
  Active,
  Updating,
  Deleting,
  CreateFailed,
  DeleteFailed,
  Degraded,
};

// Update.status (UpdateStatus).
enum class UpdateStatus { Unknown, InProgress, Failed, Cancelled, Successful };

// Update.type (UpdateType). A node-group update is a VersionUpdate or a ConfigUpdate; the rest
// are cluster updates, listed so that Unknown means a type newer than this build.
enum class UpdateType {
  Unknown,
  VersionUpdate,
  EndpointAccessUpdate,
  LoggingUpdate,
  ConfigUpdate,
  AssociateIdentityProviderConfig,
  DisassociateIdentityProviderConfig,
  AssociateEncryptionConfig,
  AddonUpdate,
  VpcConfigUpdate,
  AccessConfigUpdate,
  UpgradePolicyUpdate,
  ZonalShiftConfigUpdate,
  AutoModeUpdate,
  RemoteNetworkConfigUpdate,
  DeletionProtectionUpdate,
  ControlPlaneScalingConfigUpdate,
  VendedLogsUpdate,
};

// The AWS spelling ("CREATE_FAILED", "InProgress", "ConfigUpdate"); "Unknown" for Unknown.
std::string_view toString(NodegroupStatus status);
std::string_view toString(UpdateStatus status);
std::string_view toString(UpdateType type);
// The enumerator spelled `text`, Unknown for any other text.
NodegroupStatus parseNodegroupStatus(std::string_view text);
UpdateStatus parseUpdateStatus(std::string_view text);
UpdateType parseUpdateType(std::string_view text);

struct NodegroupHealthIssue {
  std::string code;  // Ec2LaunchTemplateVersionMismatch, AutoScalingGroupInstanceRefreshActive…
  std::string message;
  std::vector<std::string> resource_ids;
};

struct Nodegroup {
  std::string name;
  std::string cluster_name;
  std::string arn;
  Parsed<NodegroupStatus> status;
  std::string version;
  std::string release_version;
  std::string ami_type;  // AL2023_x86_64_STANDARD, CUSTOM, …
  std::string capacity_type;
  std::optional<LaunchTemplateSpec> launch_template;
  std::vector<std::string> autoscaling_groups;
  std::vector<NodegroupHealthIssue> health_issues;
  int min_size = 0;
  int max_size = 0;
  int desired_size = 0;
  std::optional<int> max_unavailable;
  std::optional<int> max_unavailable_percentage;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> tags;
  std::optional<TimePoint> created_at;
  std::optional<TimePoint> modified_at;
};

struct UpdateNodegroupVersionInput {
  std::string cluster_name;
  std::string nodegroup_name;
  // Must name the template the node group was created with; set its new version.
  std::optional<LaunchTemplateSpec> launch_template;
  // Leave both empty with a custom AMI.
  std::string version;
  std::string release_version;
  bool force = false;
  // Idempotency; generated when empty.
  std::string client_request_token;
};

// UpdateNodegroupConfig restricted to updateConfig: set exactly one of the two.
struct UpdateNodegroupConfigInput {
  std::string cluster_name;
  std::string nodegroup_name;
  std::optional<int> max_unavailable;
  std::optional<int> max_unavailable_percentage;
  // Idempotency; generated when empty.
  std::string client_request_token;
};

struct UpdateError {
  std::string code;  // PodEvictionFailure, NodeCreationFailure, …
  std::string message;
  std::vector<std::string> resource_ids;
};

struct Update {
  std::string id;
  Parsed<UpdateStatus> status;
  Parsed<UpdateType> type;
  std::vector<std::pair<std::string, std::string>> params;
  std::optional<TimePoint> created_at;
  std::vector<UpdateError> errors;
};

class EksApi {
 public:
  virtual ~EksApi() = default;

  /** ListNodegroups, all pages: node-group names. */
  [[nodiscard]] virtual Result<std::vector<std::string>> listNodegroups(
      const std::string& cluster_name) = 0;
  /** DescribeNodegroup. */
  [[nodiscard]] virtual Result<Nodegroup> describeNodegroup(const std::string& cluster_name,
                                                            const std::string& nodegroup_name) = 0;
  /** UpdateNodegroupVersion; Conflict (ResourceInUseException) while another update runs. */
  [[nodiscard]] virtual Result<Update> updateNodegroupVersion(
      const UpdateNodegroupVersionInput& input) = 0;
  /** UpdateNodegroupConfig of updateConfig only (a ConfigUpdate); Conflict while another update
   *  runs. */
  [[nodiscard]] virtual Result<Update> updateNodegroupConfig(
      const UpdateNodegroupConfigInput& input) = 0;
  /** DescribeUpdate of a node-group update. */
  [[nodiscard]] virtual Result<Update> describeUpdate(const std::string& cluster_name,
                                                      const std::string& update_id,
                                                      const std::string& nodegroup_name) = 0;
};

using EksApiPtr = std::shared_ptr<EksApi>;

[[nodiscard]] Result<EksApiPtr> makeEksClient(const ClientOptions& options);

// "k8s-aws-v1." + base64url(presigned https://sts.<region>.amazonaws.com/?Action=
// GetCallerIdentity&Version=2011-06-15 signed with x-k8s-aws-id: <cluster>), valid 60 s on the
// wire (the API server accepts it for about 15 minutes). `sts_endpoint` overrides the host.
[[nodiscard]] Result<std::string> eksBearerToken(const Credentials& credentials,
                                                 std::string_view region,
                                                 std::string_view cluster_name, TimePoint now,
                                                 std::string_view sts_endpoint = "");

}  // namespace opsy::aws
