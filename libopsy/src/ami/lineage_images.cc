#include "opsy/ami/lineage_images.h"

namespace opsy::ami {

aws::DescribeImagesInput LineageImageCache::managedImagesQuery() {
  return {.owners = {"self"},
          .filters = {{"tag:" + std::string(kTagBroughtBy), {std::string(kBroughtByValue)}}}};
}

std::string LineageImageCache::lineageKey(const Lineage& lineage) {
  // \x1f cannot appear in a tag value EC2 accepts as the same string in another field.
  std::string key;
  for (const std::string* part : {&lineage.cluster_name, &lineage.created_by, &lineage.packer_repo,
                                  &lineage.packer_repo_branch}) {
    key += *part;
    key += '\x1f';
  }
  return key;
}

LineageImageCache::Index LineageImageCache::indexByLineage(std::vector<aws::Image> images) {
  Index index;
  for (aws::Image& image : images) {
    // Exact values, as the tag filters of a per-lineage DescribeImages would match them (but
    // without EC2's `*`/`?` wildcards, which a lineage value must not act as).
    Lineage lineage;
    bool complete = true;
    for (auto [key, field] : {std::pair{kTagClusterName, &lineage.cluster_name},
                              std::pair{kTagCreatedBy, &lineage.created_by},
                              std::pair{kTagPackerRepo, &lineage.packer_repo},
                              std::pair{kTagPackerRepoBranch, &lineage.packer_repo_branch}}) {
      auto value = tag(image, key);
      if (!value) {
        complete = false;
        break;
      }
      *field = std::move(*value);
    }
    if (complete && tag(image, kTagBroughtBy) == kBroughtByValue) {
      index[lineageKey(lineage)].push_back(std::move(image));
    }
  }
  return index;
}

std::shared_ptr<LineageImageCache::Entry> LineageImageCache::entryFor(const std::string& region) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = entries_[region];
  if (!slot) {
    slot = std::make_shared<Entry>();
  }
  return slot;
}

Result<std::vector<aws::Image>> LineageImageCache::imagesOf(const std::string& region,
                                                            aws::ImageApi& ec2,
                                                            const Lineage& lineage,
                                                            Duration max_age) {
  std::shared_ptr<Entry> entry = entryFor(region);
  const std::string key = lineageKey(lineage);
  auto answer = [&key](const Index& index) {
    auto it = index.find(key);
    return it == index.end() ? std::vector<aws::Image>() : it->second;
  };
  auto fresh = [&]() -> std::shared_ptr<const Index> {
    std::lock_guard<std::mutex> lock(entry->mu);
    if (entry->index && entry->fetched_generation == entry->generation &&
        clock_.steadyNow() - entry->fetched_at < max_age) {
      return entry->index;
    }
    return nullptr;
  };
  if (auto index = fresh()) {
    return answer(*index);
  }
  std::lock_guard<std::mutex> fetching(entry->fetch_mu);
  if (auto index = fresh()) {  // another caller fetched while this one waited
    return answer(*index);
  }
  std::uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(entry->mu);
    generation = entry->generation;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++fetches_;
  }
  OPSY_ASSIGN_OR_RETURN(std::vector<aws::Image> images, ec2.describeImages(managedImagesQuery()));
  auto index = std::make_shared<const Index>(indexByLineage(std::move(images)));
  std::lock_guard<std::mutex> lock(entry->mu);
  entry->index = index;
  entry->fetched_at = clock_.steadyNow();
  // An invalidate() during the fetch leaves the answer stale: it may predate that write.
  entry->fetched_generation = generation;
  return answer(*index);
}

void LineageImageCache::invalidate(const std::string& region) {
  std::shared_ptr<Entry> entry = entryFor(region);
  std::lock_guard<std::mutex> lock(entry->mu);
  ++entry->generation;
}

std::size_t LineageImageCache::fetchesForTest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fetches_;
}

}  // namespace opsy::ami
