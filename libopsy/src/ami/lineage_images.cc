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
  enum class Need { None, Lineage, Full };
  // What serves `key` now (into `out`), or which read is needed; called with entry->mu held.
  auto lookup = [&](std::vector<aws::Image>& out) {
    const auto now = clock_.steadyNow();
    auto written = entry->last_write.find(key);
    const std::uint64_t last = written == entry->last_write.end() ? 0 : written->second;
    auto own = entry->refreshed.find(key);
    if (own != entry->refreshed.end() && own->second.since >= last &&
        now - own->second.fetched_at < max_age &&
        (!entry->index || own->second.since >= entry->index_since ||
         now - entry->fetched_at >= max_age)) {
      out = own->second.images;
      return Need::None;
    }
    if (!entry->index || now - entry->fetched_at >= max_age) {
      return Need::Full;
    }
    if (entry->index_since < last) {
      return Need::Lineage;  // our write came after the shared answer was asked for
    }
    auto it = entry->index->find(key);
    out = it == entry->index->end() ? std::vector<aws::Image>() : it->second;
    return Need::None;
  };
  std::vector<aws::Image> out;
  {
    std::lock_guard<std::mutex> lock(entry->mu);
    if (lookup(out) == Need::None) {
      return out;
    }
  }
  std::lock_guard<std::mutex> fetching(entry->fetch_mu);
  Need need;
  std::uint64_t since;
  {
    std::lock_guard<std::mutex> lock(entry->mu);
    need = lookup(out);  // another caller may have fetched while this one waited
    since = entry->writes;
  }
  if (need == Need::None) {
    return out;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++fetches_;
  }
  if (need == Need::Lineage) {
    OPSY_ASSIGN_OR_RETURN(
        std::vector<aws::Image> images,
        ec2.describeImages({.owners = {"self"}, .filters = lineageFilters(lineage)}));
    // The same exact-match rule as the shared answer (tag filters also match EC2 wildcards).
    Index own = indexByLineage(std::move(images));
    std::vector<aws::Image> mine = std::move(own[key]);
    std::lock_guard<std::mutex> lock(entry->mu);
    entry->refreshed[key] = Refreshed{mine, since, clock_.steadyNow()};
    return mine;
  }
  OPSY_ASSIGN_OR_RETURN(std::vector<aws::Image> images, ec2.describeImages(managedImagesQuery()));
  auto index = std::make_shared<const Index>(indexByLineage(std::move(images)));
  std::lock_guard<std::mutex> lock(entry->mu);
  entry->index = index;
  entry->fetched_at = clock_.steadyNow();
  entry->index_since = since;
  // Lineages read on their own before this answer was asked for are superseded by it.
  std::erase_if(entry->refreshed, [&](const auto& r) { return r.second.since <= since; });
  std::erase_if(entry->last_write, [&](const auto& w) { return w.second <= since; });
  auto it = index->find(key);
  return it == index->end() ? std::vector<aws::Image>() : it->second;
}

void LineageImageCache::invalidate(const std::string& region, const Lineage& lineage) {
  std::shared_ptr<Entry> entry = entryFor(region);
  std::lock_guard<std::mutex> lock(entry->mu);
  entry->last_write[lineageKey(lineage)] = ++entry->writes;
}

std::size_t LineageImageCache::fetchesForTest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fetches_;
}

}  // namespace opsy::ami
