// File: ec2.h
//
// The EC2 calls the controllers make, in roles named for what a consumer does: ImageApi (find and
// tag AMIs), LaunchTemplateApi (read and add launch template versions), BuildCleanupApi (delete
// what an interrupted Packer build left), InstanceApi (see which image a node group's instances
// run), ImageLifecycleApi (deprecate, deregister and delete old AMIs and their snapshots). Ec2Api
// is one region's client, all five roles. Lists are paginated for the caller; every
// call is signed, rate limited and retried per ClientOptions.
//
//   OPSY_ASSIGN_OR_RETURN(aws::Ec2ApiPtr ec2, aws::makeEc2Client(options));
//   OPSY_ASSIGN_OR_RETURN(auto images, ec2->describeImages({.owners = {"self"}, .filters = f}));
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/aws/client_options.h"
#include "opsy/aws/types.h"
#include "opsy/core/clock.h"
#include "opsy/core/result.h"

namespace opsy::aws {

// Image.state (the EC2 model's ImageState).
enum class ImageState {
  Unknown,
  Pending,
  Available,
  Invalid,
  Deregistered,
  Transient,
  Failed,
  Error,
  Disabled,
};

// The AWS spelling ("available"); "Unknown" for Unknown.
std::string_view toString(ImageState state);
// The enumerator spelled `text`, Unknown for any other text.
ImageState parseImageState(std::string_view text);

struct Image {
  std::string id;
  std::string name;
  std::string description;
  std::string owner_id;
  Parsed<ImageState> state;
  std::string architecture;
  std::optional<TimePoint> creation_date;
  std::optional<TimePoint> deprecation_time;
  Tags tags;
  std::vector<std::string> snapshot_ids;  // EBS snapshots of the block device mappings
};

struct DescribeImagesInput {
  std::vector<std::string> owners;  // "self", "amazon", account ids
  std::vector<std::string> image_ids;
  std::vector<std::string> executable_by;
  std::vector<Filter> filters;
  bool include_deprecated = false;
  bool include_disabled = false;
  int page_size = 1000;  // MaxResults (5-1000); not sent with image_ids
};

// Instance.state.name (the EC2 model's InstanceStateName).
enum class InstanceState {
  Unknown,
  Pending,
  Running,
  ShuttingDown,
  Terminated,
  Stopping,
  Stopped,
};

// The AWS spelling ("shutting-down"); "Unknown" for Unknown.
std::string_view toString(InstanceState state);
// The enumerator spelled `text`, Unknown for any other text.
InstanceState parseInstanceState(std::string_view text);

// One instance of DescribeInstances' reservations (the client flattens them).
struct Instance {
  std::string id;
  std::string image_id;
  Parsed<InstanceState> state;
  std::string instance_type;
  std::string availability_zone;
  std::string private_dns_name;  // empty once the instance is terminated
  std::optional<TimePoint> launch_time;
  Tags tags;
};

struct DescribeInstancesInput {
  // EC2 refuses MaxResults with ids, so ids are sent 200 to a request, each request with all the
  // filters and no page size.
  std::vector<std::string> instance_ids;
  std::vector<Filter> filters;  // "instance-state-name", "tag:eks:nodegroup-name", "image-id", ...
  int page_size = 1000;         // MaxResults (5-1000); not sent with instance_ids
};

struct LaunchTemplateVersion {
  std::string launch_template_id;
  std::string launch_template_name;
  int64_t version_number = 0;
  bool default_version = false;
  std::string version_description;
  std::string image_id;
  std::optional<TimePoint> create_time;
};

struct DescribeLaunchTemplateVersionsInput {
  std::string launch_template_id;  // id or name
  std::string launch_template_name;
  std::vector<std::string> versions;  // "$Latest", "$Default", "3"
  std::vector<Filter> filters;
  int page_size = 200;
};

struct CreateLaunchTemplateVersionInput {
  std::string launch_template_id;  // id or name
  std::string launch_template_name;
  std::string source_version;  // inherit everything from this version, then override
  std::string version_description;
  std::string client_token;  // idempotency, <= 128 ASCII
  std::string image_id;
};

// Snapshot.state (the EC2 model's SnapshotState).
enum class SnapshotState {
  Unknown,
  Pending,
  Completed,
  Error,
  Recoverable,
  Recovering,
};

// The AWS spelling ("completed"); "Unknown" for Unknown.
std::string_view toString(SnapshotState state);
// The enumerator spelled `text`, Unknown for any other text.
SnapshotState parseSnapshotState(std::string_view text);

struct Snapshot {
  std::string id;
  std::string owner_id;
  std::string volume_id;
  Parsed<SnapshotState> state;
  std::string description;
  int volume_size_gib = 0;
  std::optional<TimePoint> start_time;
  Tags tags;
};

struct DescribeSnapshotsInput {
  std::vector<std::string> owner_ids;  // "self", "amazon", account ids
  std::vector<std::string> snapshot_ids;
  std::vector<Filter> filters;  // "tag:<key>", "tag-key", "status", "volume-id", ...
  int page_size = 1000;         // MaxResults (5-1000); not sent with snapshot_ids
};

struct SecurityGroup {
  std::string id;
  std::string name;
  std::string description;
  std::string vpc_id;
  std::string owner_id;
  Tags tags;
};

struct DescribeSecurityGroupsInput {
  std::vector<std::string> group_ids;
  std::vector<std::string> group_names;
  std::vector<Filter> filters;
  int page_size = 1000;  // MaxResults (5-1000); not sent with ids or names
};

// Knows how to find AMIs and tag them (and their snapshots).
class ImageApi {
 public:
  virtual ~ImageApi() = default;

  /** DescribeImages, all pages. */
  [[nodiscard]] virtual Result<std::vector<Image>> describeImages(
      const DescribeImagesInput& input) = 0;
  /** CreateTags on every resource; an empty value is a valid tag value. */
  [[nodiscard]] virtual Status createTags(const std::vector<std::string>& resource_ids,
                                          const Tags& tags) = 0;
};

// Knows how to read a launch template's versions and add one that points at a new image.
class LaunchTemplateApi {
 public:
  virtual ~LaunchTemplateApi() = default;

  /** DescribeLaunchTemplateVersions, all pages. */
  [[nodiscard]] virtual Result<std::vector<LaunchTemplateVersion>> describeLaunchTemplateVersions(
      const DescribeLaunchTemplateVersionsInput& input) = 0;
  /** CreateLaunchTemplateVersion; returns the new version. */
  [[nodiscard]] virtual Result<LaunchTemplateVersion> createLaunchTemplateVersion(
      const CreateLaunchTemplateVersionInput& input) = 0;
};

// Knows how to find and delete the temporary security groups and key pairs a Packer build
// leaves behind when it is interrupted.
class BuildCleanupApi {
 public:
  virtual ~BuildCleanupApi() = default;

  /** DescribeSecurityGroups, all pages. */
  [[nodiscard]] virtual Result<std::vector<SecurityGroup>> describeSecurityGroups(
      const DescribeSecurityGroupsInput& input) = 0;
  /** DeleteSecurityGroup by id (Conflict while still in use: DependencyViolation). */
  [[nodiscard]] virtual Status deleteSecurityGroup(const std::string& group_id) = 0;
  /** DeleteKeyPair by id when it starts with "key-", else by name. */
  [[nodiscard]] virtual Status deleteKeyPair(const std::string& key_name_or_id) = 0;
};

// Knows how to find instances (by id, or by filters such as a node group's tags) and read which
// image each one runs and in what state, so a rollout can check its canary's nodes.
class InstanceApi {
 public:
  virtual ~InstanceApi() = default;

  /**
   * DescribeInstances, all pages, every reservation's instances in one list. Terminated
   * instances stay listed for about an hour, as EC2 keeps them.
   * @return NotFound (InvalidInstanceID.NotFound) when any requested id does not exist: EC2 fails
   *         the whole call, naming the ids; InvalidArgument (InvalidInstanceID.Malformed) for an id
   *         that is not "i-" and 8 or 17 hex digits.
   */
  [[nodiscard]] virtual Result<std::vector<Instance>> describeInstances(
      const DescribeInstancesInput& input) = 0;
};

// Knows how to retire AMIs: set EC2's own deprecation time, deregister an image and delete the
// EBS snapshots it leaves behind (deregistering never deletes them).
class ImageLifecycleApi {
 public:
  virtual ~ImageLifecycleApi() = default;

  /**
   * EnableImageDeprecation. EC2 keeps whole minutes (it rounds the seconds) and refuses a time
   * that is not in the future (InvalidParameterValue, here InvalidArgument).
   */
  [[nodiscard]] virtual Status enableImageDeprecation(const std::string& image_id,
                                                      TimePoint deprecate_at) = 0;
  /** DeregisterImage. NotFound (InvalidAMIID.NotFound) when EC2 has no such image. */
  [[nodiscard]] virtual Status deregisterImage(const std::string& image_id) = 0;
  /** DescribeSnapshots, all pages. */
  [[nodiscard]] virtual Result<std::vector<Snapshot>> describeSnapshots(
      const DescribeSnapshotsInput& input) = 0;
  /**
   * DeleteSnapshot. Conflict (InvalidSnapshot.InUse) while a registered image still uses the
   * snapshot; NotFound (InvalidSnapshot.NotFound) when it does not exist.
   */
  [[nodiscard]] virtual Status deleteSnapshot(const std::string& snapshot_id) = 0;
};

// One region's EC2 client: every role above. The packer-builder controller uses images, build
// cleanup and image lifecycle (plus instances and launch templates to see whether an old image is
// still in use), the refresh controller images, launch templates and instances, so each takes
// one client per region and hands each piece of code the role it needs.
class Ec2Api : public ImageApi,
               public LaunchTemplateApi,
               public BuildCleanupApi,
               public InstanceApi,
               public ImageLifecycleApi {};

using Ec2ApiPtr = std::shared_ptr<Ec2Api>;

[[nodiscard]] Result<Ec2ApiPtr> makeEc2Client(const ClientOptions& options);

}  // namespace opsy::aws
