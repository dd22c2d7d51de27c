#include "opsy/aws/describe_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "mocks/aws_mocks.h"
#include "opsy/core/fake_clock.h"
#include "opsy/core/time_format.h"

namespace opsy::aws {
namespace {

using namespace std::chrono_literals;
using ::testing::_;
using ::testing::Field;
using ::testing::Invoke;
using ::testing::Return;
using ::testing::StrictMock;

const TimePoint kNow = parseRfc3339("2026-11-21T12:00:00Z").value();

Nodegroup nodegroup(const std::string& name) {
  Nodegroup ng;
  ng.name = name;
  ng.cluster_name = "prod";
  return ng;
}

DescribeLaunchTemplateVersionsInput versionsOf(const std::string& id, const std::string& version) {
  return {.launch_template_id = id, .versions = {version}};
}

std::vector<LaunchTemplateVersion> ltv(const std::string& id, int64_t number) {
  return {LaunchTemplateVersion{.launch_template_id = id, .version_number = number}};
}

class ClusterDescribeCacheTest : public ::testing::Test {
 protected:
  FakeClock clock_{kNow};
  ClusterDescribeCache cache_{clock_};
  StrictMock<MockEksApi> eks_;
  StrictMock<MockAutoScalingApi> autoscaling_;
  StrictMock<MockEc2Api> ec2_;
};

// Callers of the same (region, cluster) share one ListNodegroups and one DescribeNodegroup per
// group within their period; another cluster or region is another question.
TEST_F(ClusterDescribeCacheTest, SameClusterSharesOneCallPerPeriod) {
  EXPECT_CALL(eks_, listNodegroups("prod"))
      .Times(2)
      .WillRepeatedly(Return(std::vector<std::string>{"a", "b"}));
  EXPECT_CALL(eks_, listNodegroups("staging")).WillOnce(Return(std::vector<std::string>{}));
  EXPECT_CALL(eks_, describeNodegroup("prod", "a")).WillOnce(Return(nodegroup("a")));
  EXPECT_CALL(eks_, describeNodegroup("prod", "b")).WillOnce(Return(nodegroup("b")));
  for (int caller = 0; caller < 10; ++caller) {
    ASSERT_EQ(cache_.listNodegroups("us-west-2", "prod", eks_, 5min).value().size(), 2u);
    EXPECT_EQ(cache_.describeNodegroup("us-west-2", "prod", eks_, "a", 5min).value().name, "a");
    EXPECT_EQ(cache_.describeNodegroup("us-west-2", "prod", eks_, "b", 5min).value().name, "b");
  }
  ASSERT_TRUE(cache_.listNodegroups("us-west-2", "staging", eks_, 5min).has_value());
  ASSERT_TRUE(cache_.listNodegroups("eu-west-1", "prod", eks_, 5min).has_value());
  EXPECT_EQ(cache_.fetchesForTest(), 5u);
}

// An answer is reused only while younger than the caller's own max age: a caller with a shorter
// controllerTimer asks again where a longer one is still served, and zero always asks (and
// refreshes the entry for the others).
TEST_F(ClusterDescribeCacheTest, AnswerOlderThanMaxAgeIsNotReused) {
  EXPECT_CALL(eks_, describeNodegroup("prod", "a")).Times(4).WillRepeatedly(Return(nodegroup("a")));
  ASSERT_TRUE(cache_.describeNodegroup("r", "prod", eks_, "a", 5min).has_value());  // call 1
  clock_.advance(2min);
  ASSERT_TRUE(cache_.describeNodegroup("r", "prod", eks_, "a", 5min).has_value());  // cached
  ASSERT_TRUE(cache_.describeNodegroup("r", "prod", eks_, "a", 1min).has_value());  // call 2
  ASSERT_TRUE(cache_.describeNodegroup("r", "prod", eks_, "a", 0min).has_value());  // call 3
  clock_.advance(4min + 59s);
  ASSERT_TRUE(cache_.describeNodegroup("r", "prod", eks_, "a", 5min).has_value());  // cached
  clock_.advance(1s);
  ASSERT_TRUE(cache_.describeNodegroup("r", "prod", eks_, "a", 5min).has_value());  // call 4
}

// After invalidate(region, cluster) every period answer of that cluster is asked again, and
// other clusters keep theirs.
TEST_F(ClusterDescribeCacheTest, InvalidateMakesTheNextReadFresh) {
  EXPECT_CALL(eks_, listNodegroups("prod"))
      .Times(2)
      .WillRepeatedly(Return(std::vector<std::string>{"a"}));
  EXPECT_CALL(eks_, listNodegroups("staging")).WillOnce(Return(std::vector<std::string>{}));
  EXPECT_CALL(eks_, describeNodegroup("prod", "a")).Times(2).WillRepeatedly(Return(nodegroup("a")));
  EXPECT_CALL(autoscaling_, describeAutoScalingGroups(_))
      .Times(2)
      .WillRepeatedly(Return(std::vector<AutoScalingGroup>{}));
  EXPECT_CALL(autoscaling_, describeInstanceRefreshes("asg-1", _))
      .Times(2)
      .WillRepeatedly(Return(std::vector<InstanceRefresh>{}));
  EXPECT_CALL(ec2_,
              describeLaunchTemplateVersions(Field(&DescribeLaunchTemplateVersionsInput::versions,
                                                   std::vector<std::string>{"$Latest"})))
      .Times(2)
      .WillRepeatedly(Return(ltv("lt-1", 3)));
  DescribeAutoScalingGroupsInput owned{.filters = {{"tag:kubernetes.io/cluster/prod", {"owned"}}}};
  auto readAll = [&] {
    ASSERT_TRUE(cache_.listNodegroups("r", "prod", eks_, 5min).has_value());
    ASSERT_TRUE(cache_.listNodegroups("r", "staging", eks_, 5min).has_value());
    ASSERT_TRUE(cache_.describeNodegroup("r", "prod", eks_, "a", 5min).has_value());
    ASSERT_TRUE(cache_.describeAutoScalingGroups("r", "prod", autoscaling_, owned, 5min));
    ASSERT_TRUE(cache_.describeInstanceRefreshes("r", "prod", autoscaling_, "asg-1", 5min));
    ASSERT_TRUE(cache_.describeLaunchTemplateVersions("r", "prod", ec2_,
                                                      versionsOf("lt-1", "$Latest"), 5min));
  };
  readAll();
  readAll();  // all cached
  cache_.invalidate("r", "prod");
  readAll();  // prod asked again, staging still cached
  readAll();
}

// A write that lands while a read of its cluster is in flight leaves that read's answer stale:
// it was asked before the write.
TEST_F(ClusterDescribeCacheTest, ReadInFlightDuringInvalidateIsNotReused) {
  EXPECT_CALL(eks_, listNodegroups("prod"))
      .WillOnce(Invoke([&](const std::string&) -> Result<std::vector<std::string>> {
        cache_.invalidate("r", "prod");  // our UpdateNodegroupVersion finished meanwhile
        return std::vector<std::string>{"a"};
      }))
      .WillOnce(Return(std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(cache_.listNodegroups("r", "prod", eks_, 5min).value().size(), 1u);
  EXPECT_EQ(cache_.listNodegroups("r", "prod", eks_, 5min).value().size(), 2u);
  EXPECT_EQ(cache_.listNodegroups("r", "prod", eks_, 5min).value().size(), 2u);  // cached
}

// A version asked by template id and number never changes: it is served from the cache however
// old, and an invalidation of the cluster does not drop it.
TEST_F(ClusterDescribeCacheTest, ExplicitLaunchTemplateVersionIsKeptWithoutExpiry) {
  EXPECT_CALL(ec2_, describeLaunchTemplateVersions(_)).WillOnce(Return(ltv("lt-1", 3)));
  for (int i = 0; i < 3; ++i) {
    auto got =
        cache_.describeLaunchTemplateVersions("r", "prod", ec2_, versionsOf("lt-1", "3"), 5min);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->front().version_number, 3);
    clock_.advance(24h);
    cache_.invalidate("r", "prod");
  }
  // Another cluster running the same template shares it too.
  ASSERT_TRUE(
      cache_.describeLaunchTemplateVersions("r", "staging", ec2_, versionsOf("lt-1", "3"), 5min));
}

// $Default and $Latest move, and a template name can be reused by a new template: those are
// period answers, asked again once older than max age, never kept as immutable.
TEST_F(ClusterDescribeCacheTest, DefaultLatestAndNamedVersionsAreNeverImmutable) {
  EXPECT_FALSE(ClusterDescribeCache::isImmutable(versionsOf("lt-1", "$Default")));
  EXPECT_FALSE(ClusterDescribeCache::isImmutable(versionsOf("lt-1", "$Latest")));
  EXPECT_FALSE(ClusterDescribeCache::isImmutable({.launch_template_name = "w", .versions = {"3"}}));
  EXPECT_FALSE(ClusterDescribeCache::isImmutable({.launch_template_id = "lt-1"}));
  EXPECT_FALSE(ClusterDescribeCache::isImmutable(
      {.launch_template_id = "lt-1", .versions = {"3"}, .filters = {{"image-id", {"ami-1"}}}}));
  EXPECT_TRUE(
      ClusterDescribeCache::isImmutable({.launch_template_id = "lt-1", .versions = {"3", "12"}}));

  EXPECT_CALL(ec2_, describeLaunchTemplateVersions(_))
      .Times(6)
      .WillRepeatedly(Return(ltv("lt-1", 3)));
  DescribeLaunchTemplateVersionsInput named{.launch_template_name = "workers", .versions = {"3"}};
  for (const auto& in : {versionsOf("lt-1", "$Default"), versionsOf("lt-1", "$Latest"), named}) {
    ASSERT_TRUE(cache_.describeLaunchTemplateVersions("r", "prod", ec2_, in, 5min));  // asked
    ASSERT_TRUE(cache_.describeLaunchTemplateVersions("r", "prod", ec2_, in, 5min));  // cached
  }
  clock_.advance(5min);
  for (const auto& in : {versionsOf("lt-1", "$Default"), versionsOf("lt-1", "$Latest"), named}) {
    ASSERT_TRUE(cache_.describeLaunchTemplateVersions("r", "prod", ec2_, in, 5min));  // asked
  }
}

// An explicit version missing from the answer may only not be visible yet: it is not kept.
TEST_F(ClusterDescribeCacheTest, IncompleteExplicitVersionAnswerIsNotKept) {
  EXPECT_CALL(ec2_, describeLaunchTemplateVersions(_))
      .WillOnce(Return(std::vector<LaunchTemplateVersion>{}))
      .WillOnce(Return(ltv("lt-1", 4)));
  EXPECT_TRUE(
      cache_.describeLaunchTemplateVersions("r", "prod", ec2_, versionsOf("lt-1", "4"), 5min)
          ->empty());
  EXPECT_EQ(cache_.describeLaunchTemplateVersions("r", "prod", ec2_, versionsOf("lt-1", "4"), 5min)
                ->size(),
            1u);
  EXPECT_EQ(cache_.describeLaunchTemplateVersions("r", "prod", ec2_, versionsOf("lt-1", "4"), 5min)
                ->size(),
            1u);  // kept now
}

// Throttling, denials and not-found answers are not cached: the next caller asks again.
TEST_F(ClusterDescribeCacheTest, FailuresAreNotCached) {
  EXPECT_CALL(eks_, describeNodegroup("prod", "a"))
      .WillOnce(Return(fail(ErrorCode::Throttled, "slow down")))
      .WillOnce(Return(fail(ErrorCode::PermissionDenied, "not authorized")))
      .WillOnce(Return(fail(ErrorCode::NotFound, "no such node group")))
      .WillOnce(Return(nodegroup("a")));
  EXPECT_CALL(ec2_, describeLaunchTemplateVersions(_))
      .WillOnce(Return(fail(ErrorCode::NotFound, "no such version")))
      .WillOnce(Return(ltv("lt-1", 3)));
  EXPECT_EQ(cache_.describeNodegroup("r", "prod", eks_, "a", 5min).error().code,
            ErrorCode::Throttled);
  EXPECT_EQ(cache_.describeNodegroup("r", "prod", eks_, "a", 5min).error().code,
            ErrorCode::PermissionDenied);
  EXPECT_EQ(cache_.describeNodegroup("r", "prod", eks_, "a", 5min).error().code,
            ErrorCode::NotFound);
  EXPECT_TRUE(cache_.describeNodegroup("r", "prod", eks_, "a", 5min).has_value());
  EXPECT_TRUE(cache_.describeNodegroup("r", "prod", eks_, "a", 5min).has_value());  // cached
  EXPECT_FALSE(
      cache_.describeLaunchTemplateVersions("r", "prod", ec2_, versionsOf("lt-1", "3"), 5min));
  EXPECT_TRUE(
      cache_.describeLaunchTemplateVersions("r", "prod", ec2_, versionsOf("lt-1", "3"), 5min));
}

// Concurrent callers of one key wait for a single call.
TEST_F(ClusterDescribeCacheTest, ConcurrentCallersOfOneKeyMakeOneCall) {
  std::atomic<int> calls{0};
  EXPECT_CALL(eks_, describeNodegroup("prod", "a"))
      .WillRepeatedly(Invoke([&](const std::string&, const std::string&) -> Result<Nodegroup> {
        ++calls;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return nodegroup("a");
      }));
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back(
        [&] { EXPECT_TRUE(cache_.describeNodegroup("r", "prod", eks_, "a", 5min).has_value()); });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(calls.load(), 1);
}

// The kept versions are bounded: past max_entries the least recently used is asked again.
TEST(ClusterDescribeCacheBound, LeastRecentlyUsedVersionIsEvicted) {
  FakeClock clock(kNow);
  ClusterDescribeCache cache(clock, {.max_entries = 2});
  StrictMock<MockEc2Api> ec2;
  EXPECT_CALL(ec2, describeLaunchTemplateVersions(_))
      .Times(4)
      .WillRepeatedly(Invoke([](const DescribeLaunchTemplateVersionsInput& in) {
        return Result<std::vector<LaunchTemplateVersion>>(
            ltv(in.launch_template_id, std::stoll(in.versions.front())));
      }));
  auto read = [&](const std::string& version) {
    ASSERT_TRUE(
        cache.describeLaunchTemplateVersions("r", "prod", ec2, versionsOf("lt-1", version), 5min));
  };
  read("1");  // call 1
  read("2");  // call 2
  read("1");  // cached, now the most recently used
  read("3");  // call 3, evicts 2
  read("1");  // cached
  read("2");  // call 4
}

}  // namespace
}  // namespace opsy::aws
