// File: image_cache.h
//
// Base-image lookups shared by every PackerBuilder. N builders with the same (region, filters)
// cost one DescribeImages per period: an answer is reused while it is younger than the caller's
// max age (each builder passes its controllerTimer, so no builder sees an answer older than its
// own period), and concurrent callers of the same key wait for one fetch instead of each sending
// their own. Failures are not cached.
//
//   auto images = cache.get(region, filters, spec.time_outs.controller_timer,
//                           [&] { return ec2.describeImages({.filters = filters}); });
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "opsy/aws/ec2.h"
#include "opsy/core/clock.h"
#include "opsy/core/result.h"

namespace opsy::packer_builder {

class ImageLookupCache {
 public:
  using Fetch = std::function<Result<std::vector<aws::Image>>()>;

  explicit ImageLookupCache(Clock& clock) : clock_(clock) {}

  // The images for (region, filters): the cached answer when it is younger than max_age, else
  // the result of `fetch` (run once for concurrent callers of the same key).
  [[nodiscard]] Result<std::vector<aws::Image>> get(const std::string& region,
                                                    const std::vector<aws::Filter>& filters,
                                                    Duration max_age, const Fetch& fetch);

  // The cache key: the region and the filters with names and values sorted, so the same
  // filters written in another order share an entry.
  static std::string key(const std::string& region, const std::vector<aws::Filter>& filters);

  // Drops entries older than max_age (call now and then; entries are small).
  void prune(Duration max_age);

  std::size_t fetchesForTest() const;

 private:
  struct Entry {
    std::mutex fetch_mu;  // held while fetching, so one caller fetches and the rest wait
    std::mutex mu;
    bool has_value = false;
    std::vector<aws::Image> images;
    std::chrono::steady_clock::time_point fetched_at;
  };

  Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Entry>> entries_;
  std::size_t fetches_ = 0;
};

}  // namespace opsy::packer_builder
