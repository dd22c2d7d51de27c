#include "opsy/ami/image_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "opsy/core/fake_clock.h"
#include "opsy/core/time_format.h"

namespace opsy::ami {
namespace {

using namespace std::chrono_literals;

const TimePoint kNow = parseRfc3339("2026-11-21T12:00:00Z").value();

// Resources with the same region and filters (in any order) share one DescribeImages per period.
TEST(ImageLookupCache, SameFiltersShareOneLookupPerPeriod) {
  FakeClock clock(kNow);
  ImageLookupCache cache(clock);
  int calls = 0;
  auto fetch = [&]() -> Result<std::vector<aws::Image>> {
    ++calls;
    return std::vector<aws::Image>{aws::Image{.id = "ami-1"}};
  };
  std::vector<aws::Filter> a = {{"name", {"x*"}}, {"owner-id", {"1", "2"}}};
  std::vector<aws::Filter> b = {{"owner-id", {"2", "1"}}, {"name", {"x*"}}};
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(cache.get("us-west-2", {.filters = i % 2 ? a : b}, 5min, fetch).has_value());
  }
  EXPECT_EQ(calls, 1);
  ASSERT_TRUE(cache.get("us-east-1", {.filters = a}, 5min, fetch).has_value());
  EXPECT_EQ(calls, 2);
  clock.advance(5min);
  ASSERT_TRUE(cache.get("us-west-2", {.filters = a}, 5min, fetch).has_value());
  EXPECT_EQ(calls, 3);
  // A shorter period asks for a fresher answer.
  clock.advance(2min);
  ASSERT_TRUE(cache.get("us-west-2", {.filters = a}, 1min, fetch).has_value());
  EXPECT_EQ(calls, 4);
}

// A failed lookup is not cached: the next caller tries again.
TEST(ImageLookupCache, FailuresAreNotCached) {
  FakeClock clock(kNow);
  ImageLookupCache cache(clock);
  int calls = 0;
  auto failing = [&]() -> Result<std::vector<aws::Image>> {
    ++calls;
    return fail(ErrorCode::Unavailable, "503");
  };
  EXPECT_FALSE(cache.get("r", {}, 5min, failing).has_value());
  EXPECT_FALSE(cache.get("r", {}, 5min, failing).has_value());
  EXPECT_EQ(calls, 2);
}

// Concurrent callers of one key wait for a single fetch.
TEST(ImageLookupCache, ConcurrentCallersFetchOnce) {
  FakeClock clock(kNow);
  ImageLookupCache cache(clock);
  std::atomic<int> calls{0};
  auto fetch = [&]() -> Result<std::vector<aws::Image>> {
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return std::vector<aws::Image>{};
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] { EXPECT_TRUE(cache.get("r", {}, 5min, fetch).has_value()); });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(calls.load(), 1);
}

// Owners and ids are part of the question: the same filters for other owners is another lookup.
TEST(ImageLookupCache, OwnersAndIdsAreInTheKey) {
  aws::DescribeImagesInput mine{.owners = {"self"}, .filters = {{"name", {"x*"}}}};
  aws::DescribeImagesInput amazon{.owners = {"amazon"}, .filters = {{"name", {"x*"}}}};
  aws::DescribeImagesInput paged = mine;
  paged.page_size = 5;
  EXPECT_NE(ImageLookupCache::key("r", mine), ImageLookupCache::key("r", amazon));
  EXPECT_EQ(ImageLookupCache::key("r", mine), ImageLookupCache::key("r", paged));
}

}  // namespace
}  // namespace opsy::ami
