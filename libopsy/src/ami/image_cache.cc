#include "opsy/ami/image_cache.h"

#include <fmt/format.h>

#include <algorithm>

namespace opsy::ami {

namespace {

std::string sortedJoin(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  return fmt::format("{}", fmt::join(values, "\x1f"));
}

}  // namespace

std::string ImageLookupCache::key(const std::string& region,
                                  const aws::DescribeImagesInput& input) {
  std::vector<std::string> filters;
  for (const aws::Filter& f : input.filters) {
    filters.push_back(fmt::format("{}={}", f.name, sortedJoin(f.values)));
  }
  std::sort(filters.begin(), filters.end());
  // Fields are separated by \x1e (record separator), list items by \x1f (unit separator).
  return fmt::format(
      "{}\x1e"
      "o={}\x1e"
      "i={}\x1e"
      "x={}\x1e"
      "d={}{}\x1e"
      "{}",
      region, sortedJoin(input.owners), sortedJoin(input.image_ids),
      sortedJoin(input.executable_by), input.include_deprecated, input.include_disabled,
      fmt::join(filters, "\x1e"));
}

Result<std::vector<aws::Image>> ImageLookupCache::describeImages(
    const std::string& region, aws::ImageApi& images, const aws::DescribeImagesInput& input,
    Duration max_age) {
  return get(region, input, max_age, [&] { return images.describeImages(input); });
}

Result<std::vector<aws::Image>> ImageLookupCache::get(const std::string& region,
                                                      const aws::DescribeImagesInput& input,
                                                      Duration max_age, const Fetch& fetch) {
  std::shared_ptr<Entry> entry;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = entries_[key(region, input)];
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

}  // namespace opsy::ami
