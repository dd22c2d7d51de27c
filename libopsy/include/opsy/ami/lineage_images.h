// File: lineage_images.h
//
// The managed images of every builder in a region from one DescribeImages per period. Asking EC2
// once per builder for its own lineage costs N calls per period for N builders; instead one call
// (owner self, tag brought-to-you-by=opsy-the-ami-operator) fetches every managed image of the
// region, which is indexed by lineage so each builder's answer is a hash lookup, not a scan.
// As with ImageLookupCache, an answer is reused while younger than the caller's max age (its
// controllerTimer), concurrent callers wait for one fetch, and failures are not kept. A builder
// that changed the tags of its images calls invalidate(region, lineage): that lineage alone is
// read again (one small DescribeImages with its tag filters) on its next lookup, even when a
// fetch that began before the change is still on the wire; the other builders keep the shared
// answer, so a stream of finishing builds does not make every builder wait on full re-reads.
//
//   auto mine = lineage.imagesOf(region, ec2, ami::Lineage{...}, controller_timer);
//   ... tag or deprecate images ...
//   lineage.invalidate(region, ami::Lineage{...});
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "opsy/ami/tags.h"
#include "opsy/aws/ec2.h"
#include "opsy/core/clock.h"
#include "opsy/core/result.h"

namespace opsy::ami {

class LineageImageCache {
 public:
  explicit LineageImageCache(Clock& clock) : clock_(clock) {}

  // The images of `lineage` in `region` (those carrying all five lineage tags with its values),
  // from an answer younger than max_age, else from a new DescribeImages through `ec2`.
  [[nodiscard]] Result<std::vector<aws::Image>> imagesOf(const std::string& region,
                                                         aws::ImageApi& ec2, const Lineage& lineage,
                                                         Duration max_age);

  // Our own tag writes on images of `lineage` in `region` make its answer stale.
  void invalidate(const std::string& region, const Lineage& lineage);

  // The DescribeImages request sent for a region (every managed image the account owns).
  static aws::DescribeImagesInput managedImagesQuery();

  std::size_t fetchesForTest() const;

 private:
  using Index = std::unordered_map<std::string, std::vector<aws::Image>>;

  // A lineage read on its own after our write, and the write sequence number it reflects.
  struct Refreshed {
    std::vector<aws::Image> images;
    std::uint64_t since = 0;
    std::chrono::steady_clock::time_point fetched_at;
  };

  struct Entry {
    std::mutex fetch_mu;  // held while fetching, so one caller fetches and the rest wait
    std::mutex mu;
    std::shared_ptr<const Index> index;  // null until the first full fetch succeeds
    std::chrono::steady_clock::time_point fetched_at;
    std::uint64_t index_since = 0;  // the write sequence number when the full fetch began
    std::uint64_t writes = 0;       // bumped by every invalidate() of the region
    std::unordered_map<std::string, std::uint64_t> last_write;  // lineage -> its last write
    std::unordered_map<std::string, Refreshed> refreshed;
  };

  std::shared_ptr<Entry> entryFor(const std::string& region);
  static std::string lineageKey(const Lineage& lineage);
  static Index indexByLineage(std::vector<aws::Image> images);

  Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Entry>> entries_;
  std::size_t fetches_ = 0;
};

}  // namespace opsy::ami
