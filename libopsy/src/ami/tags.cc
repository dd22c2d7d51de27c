#include "opsy/ami/tags.h"

#include "opsy/core/time_format.h"

namespace opsy::ami {

aws::Tags lineageTags(const Lineage& lineage) {
  return {{std::string(kTagBroughtBy), std::string(kBroughtByValue)},
          {std::string(kTagClusterName), lineage.cluster_name},
          {std::string(kTagCreatedBy), lineage.created_by},
          {std::string(kTagPackerRepo), lineage.packer_repo},
          {std::string(kTagPackerRepoBranch), lineage.packer_repo_branch}};
}

std::vector<aws::Filter> lineageFilters(const Lineage& lineage) {
  std::vector<aws::Filter> filters;
  for (const auto& [k, v] : lineageTags(lineage)) {
    filters.push_back(aws::Filter{"tag:" + k, {v}});
  }
  return filters;
}

aws::Tags fullTags(const Lineage& lineage, const BuildRecord& build, TimePoint created) {
  aws::Tags tags = lineageTags(lineage);
  tags[std::string(kTagBaseAmi)] = build.base_ami;
  tags[std::string(kTagBuildId)] = build.build_id;
  tags[std::string(kTagJobId)] = build.job_id;
  tags[std::string(kTagCreateTimestamp)] = formatRfc3339(created);
  tags[std::string(kTagStatus)] = std::string(kStatusActive);
  return tags;
}

std::optional<std::string> tag(const aws::Image& image, std::string_view key) {
  auto it = image.tags.find(std::string(key));
  if (it == image.tags.end()) {
    return std::nullopt;
  }
  return it->second;
}

bool isManaged(const aws::Image& image) {
  return tag(image, kTagBroughtBy) == kBroughtByValue;
}

}  // namespace opsy::ami
