// File: describe_cache.h
//
// EKS, Auto Scaling and launch-template reads shared by every resource that looks at the same
// cluster, in the way ami::ImageLookupCache shares DescribeImages. N refreshers on one cluster
// with G node groups cost one ListNodegroups and G DescribeNodegroup per period instead of N
// times that.
//
// - Period answers (ListNodegroups, DescribeNodegroup, DescribeAutoScalingGroups,
//   DescribeInstanceRefreshes, and launch template versions asked as $Default, $Latest or by
//   template name) are keyed under (region, cluster) and reused while younger than the caller's
//   max age (its controllerTimer, so nobody sees an answer older than its own period; a max age
//   of zero always asks AWS and refreshes the entry for the others).
// - A launch template version asked by template id and version number never changes, so it is
//   kept until the least recently used entry makes room.
// - invalidate(region, cluster) after any write to the cluster: every period answer of that
//   cluster, fetches in flight included, is stale from then on.
// - Failures (throttling, denials, not found) are never cached, and concurrent callers of one
//   key wait for a single fetch.
//
// The cache does not know who asks: it is for one process whose calls all carry the same
// credentials, so an answer one caller was allowed to read is one every caller may read.
//
//   aws::ClusterDescribeCache cache(clock);
//   auto names = cache.listNodegroups(region, cluster, *eks, controller_timer);
//   ... UpdateNodegroupVersion ...
//   cache.invalidate(region, cluster);
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "opsy/aws/autoscaling.h"
#include "opsy/aws/ec2.h"
#include "opsy/aws/eks.h"
#include "opsy/core/clock.h"
#include "opsy/core/result.h"

namespace opsy::aws {

class ClusterDescribeCache {
 public:
  struct Options {
    // Entries per kind of answer; the least recently used goes first. Sized for a fleet: below
    // the number of groups the refreshers read every period, each answer is evicted before it is
    // asked for again and every read goes to AWS (4,096 cost 10,000 one-group refreshers 1.8
    // DescribeNodegroup per group and period). The bound only stops unbounded growth.
    std::size_t max_entries = 65536;
  };

  explicit ClusterDescribeCache(Clock& clock, Options options);
  explicit ClusterDescribeCache(Clock& clock) : ClusterDescribeCache(clock, Options{}) {}
  ~ClusterDescribeCache();
  ClusterDescribeCache(const ClusterDescribeCache&) = delete;
  ClusterDescribeCache& operator=(const ClusterDescribeCache&) = delete;

  [[nodiscard]] Result<std::vector<std::string>> listNodegroups(const std::string& region,
                                                                const std::string& cluster,
                                                                EksApi& eks, Duration max_age);
  [[nodiscard]] Result<Nodegroup> describeNodegroup(const std::string& region,
                                                    const std::string& cluster, EksApi& eks,
                                                    const std::string& nodegroup, Duration max_age);
  // `input` is part of the key (its names and filters, in any order), `cluster` is the scope
  // that invalidate() clears.
  [[nodiscard]] Result<std::vector<AutoScalingGroup>> describeAutoScalingGroups(
      const std::string& region, const std::string& cluster, AutoScalingApi& autoscaling,
      const DescribeAutoScalingGroupsInput& input, Duration max_age);
  [[nodiscard]] Result<std::vector<InstanceRefresh>> describeInstanceRefreshes(
      const std::string& region, const std::string& cluster, AutoScalingApi& autoscaling,
      const std::string& group, Duration max_age);
  // Immutable questions (isImmutable) are answered from the cache whatever max_age; the others
  // are period answers of `cluster`.
  [[nodiscard]] Result<std::vector<LaunchTemplateVersion>> describeLaunchTemplateVersions(
      const std::string& region, const std::string& cluster, LaunchTemplateApi& ec2,
      const DescribeLaunchTemplateVersionsInput& input, Duration max_age);

  // Every period answer of (region, cluster) is stale from now on.
  void invalidate(const std::string& region, const std::string& cluster);

  // True when `input` names a template by id and only numbered versions, without filters: the
  // answer can never change. Not by name: a deleted template's name can be given to a new one.
  static bool isImmutable(const DescribeLaunchTemplateVersionsInput& input);

  // AWS calls made through the cache (successful or not).
  std::size_t fetchesForTest() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace opsy::aws
