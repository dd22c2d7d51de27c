// File: image_cache.h
//
// DescribeImages answers shared by every resource that asks the same question. N builders or
// refreshers with the same (region, owners, ids, filters) cost one DescribeImages per period: an
// answer is reused while it is younger than the caller's max age (each resource passes its
// controllerTimer, so none sees an answer older than its own period), and concurrent callers of
// the same key wait for one fetch instead of each sending their own. Failures are not cached.
//
//   auto images = cache.describeImages(region, ec2, {.filters = filters}, controller_timer);
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

namespace opsy::ami {

class ImageLookupCache {
 public:
  using Fetch = std::function<Result<std::vector<aws::Image>>()>;

  explicit ImageLookupCache(Clock& clock) : clock_(clock) {}

  // The images for (region, input): the cached answer when it is younger than max_age, else the
  // result of `fetch` (run once for concurrent callers of the same key).
  [[nodiscard]] Result<std::vector<aws::Image>> get(const std::string& region,
                                                    const aws::DescribeImagesInput& input,
                                                    Duration max_age, const Fetch& fetch);
  // get() with `images.describeImages(input)` as the fetch.
  [[nodiscard]] Result<std::vector<aws::Image>> describeImages(
      const std::string& region, aws::ImageApi& images, const aws::DescribeImagesInput& input,
      Duration max_age);

  // The cache key: the region, owners, ids, executable-by, include flags and filters, each list
  // sorted, so the same question written in another order shares an entry. Page size is not
  // part of the question.
  static std::string key(const std::string& region, const aws::DescribeImagesInput& input);

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

}  // namespace opsy::ami
