// File: ec2.h
//
// The EC2 calls the controllers make, behind a narrow interface (tests use a gmock or the
// scripted transport): AMI lookup, tagging, deprecation and clean-up; launch template versions;
// security groups and key pairs left behind by Packer; image registration. Lists are paginated
// for the caller; every call is signed, rate limited and retried per ClientOptions.
//
//   OPSY_ASSIGN_OR_RETURN(aws::Ec2ApiPtr ec2, aws::makeEc2Client(options));
//   OPSY_ASSIGN_OR_RETURN(auto images, ec2->describeImages({.owners = {"self"}, .filters = f}));
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "opsy/aws/client_options.h"
#include "opsy/aws/types.h"
#include "opsy/core/clock.h"
#include "opsy/core/result.h"

namespace opsy::aws {

struct Image {
  std::string id;
  std::string name;
  std::string description;
  std::string owner_id;
  std::string state;  // pending | available | invalid | deregistered | transient | failed | error
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

struct LaunchTemplate {
  std::string id;
  std::string name;
  int64_t default_version_number = 0;
  int64_t latest_version_number = 0;
};

struct ModifyLaunchTemplateInput {
  std::string launch_template_id;  // id or name
  std::string launch_template_name;
  std::string default_version;  // sent as SetDefaultVersion
  std::string client_token;
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

struct KeyPair {
  std::string id;
  std::string name;
  std::string fingerprint;
  std::string type;
  std::optional<TimePoint> create_time;
  Tags tags;
};

struct DescribeKeyPairsInput {
  std::vector<std::string> key_names;
  std::vector<std::string> key_pair_ids;
  std::vector<Filter> filters;
};

struct BlockDeviceMapping {
  std::string device_name;
  std::string snapshot_id;
  int volume_size_gib = 0;  // 0: the snapshot's size
  std::string volume_type;  // "gp3"
  bool delete_on_termination = true;
};

struct RegisterImageInput {
  std::string name;
  std::string description;
  std::string architecture;      // x86_64 | arm64
  std::string root_device_name;  // "/dev/xvda"
  std::string virtualization_type = "hvm";
  std::string boot_mode;  // "" | uefi | legacy-bios | uefi-preferred
  bool ena_support = true;
  std::vector<BlockDeviceMapping> block_device_mappings;
  Tags tags;  // applied to the image at creation
};

class Ec2Api {
 public:
  virtual ~Ec2Api() = default;

  /** DescribeImages, all pages. */
  [[nodiscard]] virtual Result<std::vector<Image>> describeImages(
      const DescribeImagesInput& input) = 0;
  /** CreateTags on every resource; an empty value is a valid tag value. */
  [[nodiscard]] virtual Status createTags(const std::vector<std::string>& resource_ids,
                                          const Tags& tags) = 0;
  /** DeleteTags by key (any value). */
  [[nodiscard]] virtual Status deleteTags(const std::vector<std::string>& resource_ids,
                                          const std::vector<std::string>& keys) = 0;
  /** DeregisterImage; its snapshots stay until deleteSnapshot. */
  [[nodiscard]] virtual Status deregisterImage(const std::string& image_id) = 0;
  /** DeleteSnapshot. */
  [[nodiscard]] virtual Status deleteSnapshot(const std::string& snapshot_id) = 0;
  /** EnableImageDeprecation at `deprecate_at` (EC2 rounds to the minute). */
  [[nodiscard]] virtual Status enableImageDeprecation(const std::string& image_id,
                                                      TimePoint deprecate_at) = 0;
  /** DescribeLaunchTemplateVersions, all pages. */
  [[nodiscard]] virtual Result<std::vector<LaunchTemplateVersion>> describeLaunchTemplateVersions(
      const DescribeLaunchTemplateVersionsInput& input) = 0;
  /** CreateLaunchTemplateVersion; returns the new version. */
  [[nodiscard]] virtual Result<LaunchTemplateVersion> createLaunchTemplateVersion(
      const CreateLaunchTemplateVersionInput& input) = 0;
  /** ModifyLaunchTemplate (SetDefaultVersion). */
  [[nodiscard]] virtual Result<LaunchTemplate> modifyLaunchTemplate(
      const ModifyLaunchTemplateInput& input) = 0;
  /** DescribeSecurityGroups, all pages. */
  [[nodiscard]] virtual Result<std::vector<SecurityGroup>> describeSecurityGroups(
      const DescribeSecurityGroupsInput& input) = 0;
  /** DeleteSecurityGroup by id (Conflict while still in use: DependencyViolation). */
  [[nodiscard]] virtual Status deleteSecurityGroup(const std::string& group_id) = 0;
  /** DescribeKeyPairs (the API has no paging). */
  [[nodiscard]] virtual Result<std::vector<KeyPair>> describeKeyPairs(
      const DescribeKeyPairsInput& input) = 0;
  /** DeleteKeyPair by id when it starts with "key-", else by name. */
  [[nodiscard]] virtual Status deleteKeyPair(const std::string& key_name_or_id) = 0;
  /** RegisterImage from snapshots; returns the new image id. */
  [[nodiscard]] virtual Result<std::string> registerImage(const RegisterImageInput& input) = 0;
};

using Ec2ApiPtr = std::shared_ptr<Ec2Api>;

[[nodiscard]] Result<Ec2ApiPtr> makeEc2Client(const ClientOptions& options);

}  // namespace opsy::aws
