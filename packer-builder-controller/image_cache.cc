#include "packer-builder-controller/image_cache.h"

#include <fmt/format.h>

#include <algorithm>

namespace opsy::packer_builder {

std::string ImageLookupCache::key(const std::string& region,
                                  const std::vector<aws::Filter>& filters) {
  std::vector<std::string> parts;
  for (const aws::Filter& f : filters) {
    std::vector<std::string> values = f.values;
    std::sort(values.begin(), values.end());
    parts.push_back(fmt::format("{}={}", f.name, fmt::join(values, "\x1f")));
  }
  std::sort(parts.begin(), parts.end());
  return fmt::format("{}\x1e{}", region, fmt::join(parts, "\x1e"));
}

Result<std::vector<aws::Image>> ImageLookupCache::get(const std::string& region,
                                                      const std::vector<aws::Filter>& filters,
                                                      Duration max_age, const Fetch& fetch) {
  std::shared_ptr<Entry> entry;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = entries_[key(region, filters)];
    if (!slot) {
      slot = std::make_shared<Entry>();
    }
    entry = slot;
  }
  auto fresh = [&]() {
    std::lock_guard<std::mutex> lock(entry->mu);
    if (entry->has_value && clock_.steadyNow() - entry->fetched_at < max_age) {
      return std::optional<std::vector<aws::Image>>(entry->images);
    }
    return std::optional<std::vector<aws::Image>>();
  };
  if (auto images = fresh()) {
    return *images;
  }
  std::lock_guard<std::mutex> fetching(entry->fetch_mu);
  // Another caller may have fetched while this one waited.
  if (auto images = fresh()) {
    return *images;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++fetches_;
  }
  OPSY_ASSIGN_OR_RETURN(std::vector<aws::Image> images, fetch());
  std::lock_guard<std::mutex> lock(entry->mu);
  entry->images = images;
  entry->has_value = true;
  entry->fetched_at = clock_.steadyNow();
  return images;
}

void ImageLookupCache::prune(Duration max_age) {
  std::lock_guard<std::mutex> lock(mu_);
  auto now = clock_.steadyNow();
  for (auto it = entries_.begin(); it != entries_.end();) {
    std::lock_guard<std::mutex> entry_lock(it->second->mu);
    if (it->second->has_value && now - it->second->fetched_at >= max_age) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

std::size_t ImageLookupCache::fetchesForTest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fetches_;
}

}  // namespace opsy::packer_builder
