// File: tags.h
//
// The tag schema of images the operator manages (DESIGN.md §3). Five *lineage* tags say who owns
// an image (and are how a builder finds, adopts and deprecates its images); the rest record how
// and when it was built and whether it is the one to use.
//
//   aws::Tags tags = ami::fullTags(lineage, {.base_ami = base, .build_id = id, ...}, clock.now());
//   ec2.describeImages({.owners = {"self"}, .filters = ami::lineageFilters(lineage)});
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/aws/ec2.h"
#include "opsy/core/clock.h"

namespace opsy::ami {

inline constexpr std::string_view kTagBroughtBy = "brought-to-you-by";
inline constexpr std::string_view kBroughtByValue = "opsy-the-ami-operator";
inline constexpr std::string_view kTagClusterName = "cluster-name";
inline constexpr std::string_view kTagCreatedBy = "created-by";
inline constexpr std::string_view kTagPackerRepo = "packer-repo";
inline constexpr std::string_view kTagPackerRepoBranch = "packer-repo-branch";
inline constexpr std::string_view kTagBaseAmi = "base-ami";
inline constexpr std::string_view kTagBuildId = "build-id";
inline constexpr std::string_view kTagJobId = "job-id";
inline constexpr std::string_view kTagCreateTimestamp = "create-timestamp";
inline constexpr std::string_view kTagStatus = "status";
inline constexpr std::string_view kStatusActive = "active";
inline constexpr std::string_view kStatusDeprecated = "deprecated";
// Set (to the image's id) on the snapshots of an image retention is about to deregister, so a
// snapshot whose deletion was interrupted is found and deleted once its image is gone.
inline constexpr std::string_view kTagDeleteAfterDeregister = "delete-after-deregister";

// Who an image belongs to: a builder (created-by) of a cluster, built from a repo and branch.
struct Lineage {
  std::string cluster_name;
  std::string created_by;
  std::string packer_repo;
  std::string packer_repo_branch;
};

struct BuildRecord {
  std::string base_ami;  // empty for self-contained projects
  std::string build_id;
  std::string job_id;
};

// The five lineage tags.
aws::Tags lineageTags(const Lineage& lineage);
// DescribeImages filters matching exactly the images of `lineage` (tag:<k>=<v> each).
std::vector<aws::Filter> lineageFilters(const Lineage& lineage);
// Every tag of a freshly built image: lineage, build record, create-timestamp, status=active.
aws::Tags fullTags(const Lineage& lineage, const BuildRecord& build, TimePoint created);

// True when the image carries the operator's brought-to-you-by tag.
bool isManaged(const aws::Image& image);
std::optional<std::string> tag(const aws::Image& image, std::string_view key);

}  // namespace opsy::ami
