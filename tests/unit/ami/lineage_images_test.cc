#include "opsy/ami/lineage_images.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "opsy/core/fake_clock.h"
#include "opsy/core/time_format.h"

namespace opsy::ami {
namespace {

using namespace std::chrono_literals;

const TimePoint kNow = parseRfc3339("2026-11-21T12:00:00Z").value();

Lineage lineage(const std::string& builder) {
  return {.cluster_name = "prod",
          .created_by = builder,
          .packer_repo = "https://git.example.com/packer.git",
          .packer_repo_branch = "main"};
}

aws::Image imageOf(const std::string& id, const Lineage& l) {
  aws::Image image{.id = id, .state = aws::ImageState::Available};
  image.tags = lineageTags(l);
  image.tags["status"] = "active";
  return image;
}

// Counts DescribeImages and answers with a fixed list of images, as EC2 would for the query.
class CountingImages : public aws::ImageApi {
 public:
  Result<std::vector<aws::Image>> describeImages(const aws::DescribeImagesInput& in) override {
    ++calls;
    last = in;
    if (failing) {
      return fail(ErrorCode::Unavailable, "503 Service Unavailable");
    }
    if (on_call) {
      on_call();
    }
    return images;
  }
  Status createTags(const std::vector<std::string>&, const aws::Tags&) override { return ok(); }

  std::atomic<int> calls = 0;
  aws::DescribeImagesInput last;
  std::vector<aws::Image> images;
  bool failing = false;
  std::function<void()> on_call;
};

std::vector<std::string> ids(const Result<std::vector<aws::Image>>& images) {
  std::vector<std::string> out;
  for (const aws::Image& image : images.value()) {
    out.push_back(image.id);
  }
  return out;
}

// N builders in a region cost one DescribeImages per period, and each gets only its own images.
TEST(LineageImageCache, AllBuildersOfARegionShareOneLookupPerPeriod) {
  FakeClock clock(kNow);
  LineageImageCache cache(clock);
  CountingImages ec2;
  for (int i = 0; i < 100; ++i) {
    ec2.images.push_back(imageOf("ami-" + std::to_string(i), lineage("b" + std::to_string(i))));
  }
  for (int i = 0; i < 100; ++i) {
    auto mine = cache.imagesOf("us-west-2", ec2, lineage("b" + std::to_string(i)), 5min);
    ASSERT_EQ(ids(mine), std::vector<std::string>{"ami-" + std::to_string(i)});
  }
  EXPECT_EQ(ec2.calls, 1);
  EXPECT_EQ(ec2.last.owners, std::vector<std::string>{"self"});
  ASSERT_EQ(ec2.last.filters.size(), 1u);
  EXPECT_EQ(ec2.last.filters[0].name, "tag:brought-to-you-by");
  EXPECT_EQ(ec2.last.filters[0].values, std::vector<std::string>{"opsy-the-ami-operator"});

  ASSERT_TRUE(cache.imagesOf("us-east-1", ec2, lineage("b1"), 5min).has_value());
  EXPECT_EQ(ec2.calls, 2);  // another region, another question
  clock.advance(5min);
  ASSERT_TRUE(cache.imagesOf("us-west-2", ec2, lineage("b1"), 5min).has_value());
  EXPECT_EQ(ec2.calls, 3);  // an answer as old as the period is not reused
  clock.advance(2min);
  ASSERT_TRUE(cache.imagesOf("us-west-2", ec2, lineage("b1"), 1min).has_value());
  EXPECT_EQ(ec2.calls, 4);  // a builder with a shorter period wants a fresher answer
}

// Only an exact match of all lineage tags is a builder's image: another branch, another cluster,
// a missing tag or a wildcard-looking value belong to someone else.
TEST(LineageImageCache, ImagesMatchOnEveryLineageTagExactly) {
  FakeClock clock(kNow);
  LineageImageCache cache(clock);
  CountingImages ec2;
  Lineage mine = lineage("web");
  Lineage other_branch = mine;
  other_branch.packer_repo_branch = "dev";
  Lineage other_cluster = mine;
  other_cluster.cluster_name = "staging";
  Lineage wildcard = mine;
  wildcard.created_by = "w*";
  aws::Image untagged = imageOf("ami-untagged", mine);
  untagged.tags.erase("packer-repo");
  aws::Image foreign = imageOf("ami-foreign", mine);
  foreign.tags["brought-to-you-by"] = "someone-else";
  ec2.images = {imageOf("ami-1", mine),
                imageOf("ami-2", other_branch),
                imageOf("ami-3", other_cluster),
                imageOf("ami-4", wildcard),
                untagged,
                foreign,
                imageOf("ami-5", mine)};
  EXPECT_EQ(ids(cache.imagesOf("r", ec2, mine, 5min)),
            (std::vector<std::string>{"ami-1", "ami-5"}));
  EXPECT_EQ(ids(cache.imagesOf("r", ec2, wildcard, 5min)), std::vector<std::string>{"ami-4"});
  EXPECT_TRUE(cache.imagesOf("r", ec2, lineage("nobody"), 5min)->empty());
}

// After our own tag writes on a lineage, that lineage is read again on its own (with its tag
// filters) within the period; the other builders keep the shared answer.
TEST(LineageImageCache, InvalidateRereadsOnlyTheWrittenLineage) {
  FakeClock clock(kNow);
  LineageImageCache cache(clock);
  CountingImages ec2;
  ec2.images = {imageOf("ami-1", lineage("web")), imageOf("ami-9", lineage("db"))};
  ASSERT_TRUE(cache.imagesOf("r", ec2, lineage("web"), 5min).has_value());
  ec2.images.push_back(imageOf("ami-2", lineage("web")));
  cache.invalidate("other-region", lineage("web"));
  cache.invalidate("r", lineage("api"));
  EXPECT_EQ(ids(cache.imagesOf("r", ec2, lineage("web"), 5min)), std::vector<std::string>{"ami-1"});
  EXPECT_EQ(ec2.calls, 1);
  cache.invalidate("r", lineage("web"));
  EXPECT_EQ(ids(cache.imagesOf("r", ec2, lineage("web"), 5min)),
            (std::vector<std::string>{"ami-1", "ami-2"}));
  EXPECT_EQ(ec2.calls, 2);
  std::vector<std::string> filters;
  for (const aws::Filter& f : ec2.last.filters) {
    filters.push_back(f.name);
  }
  EXPECT_THAT(filters, ::testing::Contains("tag:created-by"));
  // Served from its own read until the period ends; "db" still from the shared answer.
  EXPECT_EQ(ids(cache.imagesOf("r", ec2, lineage("web"), 5min)),
            (std::vector<std::string>{"ami-1", "ami-2"}));
  EXPECT_EQ(ids(cache.imagesOf("r", ec2, lineage("db"), 5min)), std::vector<std::string>{"ami-9"});
  EXPECT_EQ(ec2.calls, 2);
  clock.advance(5min);
  EXPECT_EQ(ids(cache.imagesOf("r", ec2, lineage("web"), 5min)),
            (std::vector<std::string>{"ami-1", "ami-2"}));
  EXPECT_EQ(ec2.calls, 3);  // one shared read again
  EXPECT_EQ(ec2.last.filters.size(), 1u);
}

// A fetch already on the wire when we write may predate the write: its answer serves that caller
// but not the next one of the written lineage.
TEST(LineageImageCache, InvalidateDuringAFetchLeavesItsAnswerStale) {
  FakeClock clock(kNow);
  LineageImageCache cache(clock);
  CountingImages ec2;
  ec2.images = {imageOf("ami-1", lineage("web"))};
  bool written = false;
  ec2.on_call = [&] {
    if (!written) {
      written = true;
      cache.invalidate("r", lineage("web"));
    }
  };
  ASSERT_TRUE(cache.imagesOf("r", ec2, lineage("web"), 5min).has_value());
  ASSERT_TRUE(cache.imagesOf("r", ec2, lineage("web"), 5min).has_value());
  EXPECT_EQ(ec2.calls, 2);
  ASSERT_TRUE(cache.imagesOf("r", ec2, lineage("web"), 5min).has_value());
  EXPECT_EQ(ec2.calls, 2);
}

// A failed lookup is not kept: the next caller tries again, and sees the error itself.
TEST(LineageImageCache, FailuresAreNotCached) {
  FakeClock clock(kNow);
  LineageImageCache cache(clock);
  CountingImages ec2;
  ec2.failing = true;
  EXPECT_FALSE(cache.imagesOf("r", ec2, lineage("web"), 5min).has_value());
  EXPECT_FALSE(cache.imagesOf("r", ec2, lineage("web"), 5min).has_value());
  EXPECT_EQ(ec2.calls, 2);
  ec2.failing = false;
  EXPECT_TRUE(cache.imagesOf("r", ec2, lineage("web"), 5min).has_value());
  EXPECT_EQ(ec2.calls, 3);
}

// Builders reconciled at once on several workers wait for one DescribeImages.
TEST(LineageImageCache, ConcurrentCallersFetchOnce) {
  FakeClock clock(kNow);
  LineageImageCache cache(clock);
  CountingImages ec2;
  ec2.images = {imageOf("ami-1", lineage("web"))};
  ec2.on_call = [] { std::this_thread::sleep_for(20ms); };
  std::vector<std::thread> threads;
  std::atomic<int> found = 0;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto images = cache.imagesOf("r", ec2, lineage("web"), 5min);
      if (images && images->size() == 1) {
        ++found;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(found, 8);
  EXPECT_EQ(ec2.calls, 1);
}

}  // namespace
}  // namespace opsy::ami
