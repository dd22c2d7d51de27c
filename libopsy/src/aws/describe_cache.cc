#include "opsy/aws/describe_cache.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <optional>

namespace opsy::aws {
namespace {

// One counter per (region, cluster): invalidate() bumps it, and an answer fetched under an older
// value is stale whatever its age.
class Generations {
 public:
  uint64_t of(const std::string& scope) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = generations_.find(scope);
    return it == generations_.end() ? 0 : it->second;
  }
  void bump(const std::string& scope) {
    std::lock_guard<std::mutex> lock(mu_);
    ++generations_[scope];
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> generations_;  // one per cluster ever invalidated
};

// The answers to one kind of question, in the shape of ami::ImageLookupCache, bounded by LRU.
template <typename T>
class Answers {
 public:
  using Fetch = std::function<Result<T>()>;
  using Keep = std::function<bool(const T&)>;

  Answers(Clock& clock, Generations& generations, std::atomic<std::size_t>& fetches,
          std::size_t max_entries)
      : clock_(clock),
        generations_(generations),
        fetches_(fetches),
        max_entries_(std::max<std::size_t>(max_entries, 1)) {}

  // The answer to `key` in `scope`: the cached one when it is younger than max_age and no
  // invalidate() of the scope came after its fetch began (without max_age: any cached one), else
  // what `fetch` returns, run once for concurrent callers. An answer `keep` refuses is returned
  // but not cached.
  Result<T> get(const std::string& scope, const std::string& key, std::optional<Duration> max_age,
                const Fetch& fetch, const Keep& keep = nullptr) {
    std::shared_ptr<Entry> entry = slot(scope + "\x1e" + key);
    auto fresh = [&]() -> std::optional<T> {
      std::lock_guard<std::mutex> lock(entry->mu);
      if (!entry->has_value) {
        return std::nullopt;
      }
      if (max_age && (entry->generation != generations_.of(scope) ||
                      clock_.steadyNow() - entry->fetched_at >= *max_age)) {
        return std::nullopt;
      }
      return entry->value;
    };
    if (auto value = fresh()) {
      return *value;
    }
    std::lock_guard<std::mutex> fetching(entry->fetch_mu);
    // Another caller may have fetched while this one waited.
    if (auto value = fresh()) {
      return *value;
    }
    // Read before the call: a write invalidated while it runs leaves this answer stale.
    const uint64_t generation = generations_.of(scope);
    const auto started = clock_.steadyNow();
    ++fetches_;
    OPSY_ASSIGN_OR_RETURN(T value, fetch());
    if (keep && !keep(value)) {
      return value;
    }
    std::lock_guard<std::mutex> lock(entry->mu);
    entry->value = value;
    entry->has_value = true;
    entry->fetched_at = started;
    entry->generation = generation;
    return value;
  }

 private:
  struct Entry {
    std::mutex fetch_mu;  // held while fetching, so one caller fetches and the rest wait
    std::mutex mu;
    bool has_value = false;
    T value{};
    std::chrono::steady_clock::time_point fetched_at;
    uint64_t generation = 0;
  };
  using Order = std::list<std::string>;  // most recently used first

  std::shared_ptr<Entry> slot(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      order_.splice(order_.begin(), order_, it->second.second);
      return it->second.first;
    }
    order_.push_front(key);
    auto entry = std::make_shared<Entry>();
    entries_.emplace(key, std::make_pair(entry, order_.begin()));
    if (entries_.size() > max_entries_) {
      // A caller still holding the evicted entry finishes with it; nobody finds it again.
      entries_.erase(order_.back());
      order_.pop_back();
    }
    return entry;
  }

  Clock& clock_;
  Generations& generations_;
  std::atomic<std::size_t>& fetches_;
  const std::size_t max_entries_;
  std::mutex mu_;
  Order order_;
  std::map<std::string, std::pair<std::shared_ptr<Entry>, Order::iterator>> entries_;
};

std::string scopeOf(const std::string& region, const std::string& cluster) {
  return region + "\x1f" + cluster;
}

std::string sortedJoin(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  return fmt::format("{}", fmt::join(values, "\x1f"));
}

std::string filtersKey(const std::vector<Filter>& filters) {
  std::vector<std::string> parts;
  for (const Filter& f : filters) {
    parts.push_back(fmt::format("{}={}", f.name, sortedJoin(f.values)));
  }
  return sortedJoin(std::move(parts));
}

}  // namespace

struct ClusterDescribeCache::State {
  State(Clock& clock, std::size_t max_entries)
      : lists(clock, generations, fetches, max_entries),
        nodegroups(clock, generations, fetches, max_entries),
        auto_scaling_groups(clock, generations, fetches, max_entries),
        refreshes(clock, generations, fetches, max_entries),
        template_versions(clock, generations, fetches, max_entries),
        immutable_versions(clock, generations, fetches, max_entries) {}

  Generations generations;
  std::atomic<std::size_t> fetches{0};
  Answers<std::vector<std::string>> lists;
  Answers<Nodegroup> nodegroups;
  Answers<std::vector<AutoScalingGroup>> auto_scaling_groups;
  Answers<std::vector<InstanceRefresh>> refreshes;
  Answers<std::vector<LaunchTemplateVersion>> template_versions;
  Answers<std::vector<LaunchTemplateVersion>> immutable_versions;
};

ClusterDescribeCache::ClusterDescribeCache(Clock& clock, Options options)
    : state_(std::make_unique<State>(clock, options.max_entries)) {}

ClusterDescribeCache::~ClusterDescribeCache() = default;

Result<std::vector<std::string>> ClusterDescribeCache::listNodegroups(const std::string& region,
                                                                      const std::string& cluster,
                                                                      EksApi& eks,
                                                                      Duration max_age) {
  return state_->lists.get(scopeOf(region, cluster), "", max_age,
                           [&] { return eks.listNodegroups(cluster); });
}

Result<Nodegroup> ClusterDescribeCache::describeNodegroup(const std::string& region,
                                                          const std::string& cluster, EksApi& eks,
                                                          const std::string& nodegroup,
                                                          Duration max_age) {
  return state_->nodegroups.get(scopeOf(region, cluster), nodegroup, max_age,
                                [&] { return eks.describeNodegroup(cluster, nodegroup); });
}

Result<std::vector<AutoScalingGroup>> ClusterDescribeCache::describeAutoScalingGroups(
    const std::string& region, const std::string& cluster, AutoScalingApi& autoscaling,
    const DescribeAutoScalingGroupsInput& input, Duration max_age) {
  std::string key = sortedJoin(input.names) + "\x1e" + filtersKey(input.filters);
  return state_->auto_scaling_groups.get(scopeOf(region, cluster), key, max_age, [&] {
    return autoscaling.describeAutoScalingGroups(input);
  });
}

Result<std::vector<InstanceRefresh>> ClusterDescribeCache::describeInstanceRefreshes(
    const std::string& region, const std::string& cluster, AutoScalingApi& autoscaling,
    const std::string& group, Duration max_age) {
  return state_->refreshes.get(scopeOf(region, cluster), group, max_age,
                               [&] { return autoscaling.describeInstanceRefreshes(group); });
}

Result<std::vector<LaunchTemplateVersion>> ClusterDescribeCache::describeLaunchTemplateVersions(
    const std::string& region, const std::string& cluster, LaunchTemplateApi& ec2,
    const DescribeLaunchTemplateVersionsInput& input, Duration max_age) {
  auto fetch = [&] { return ec2.describeLaunchTemplateVersions(input); };
  const std::string versions = sortedJoin(input.versions);
  if (isImmutable(input)) {
    // A version missing from the answer may only not be visible yet (EC2 is eventually
    // consistent right after CreateLaunchTemplateVersion): only a complete answer is kept.
    auto complete = [&](const std::vector<LaunchTemplateVersion>& found) {
      return found.size() == input.versions.size();
    };
    return state_->immutable_versions.get(region, input.launch_template_id + "\x1e" + versions,
                                          std::nullopt, fetch, complete);
  }
  std::string key = fmt::format("{}\x1e{}\x1e{}\x1e{}", input.launch_template_id,
                                input.launch_template_name, versions, filtersKey(input.filters));
  return state_->template_versions.get(scopeOf(region, cluster), key, max_age, fetch);
}

void ClusterDescribeCache::invalidate(const std::string& region, const std::string& cluster) {
  state_->generations.bump(scopeOf(region, cluster));
}

bool ClusterDescribeCache::isImmutable(const DescribeLaunchTemplateVersionsInput& input) {
  if (input.launch_template_id.empty() || !input.filters.empty() || input.versions.empty()) {
    return false;
  }
  return std::all_of(input.versions.begin(), input.versions.end(), [](const std::string& v) {
    return !v.empty() &&
           std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
  });
}

std::size_t ClusterDescribeCache::fetchesForTest() const {
  return state_->fetches.load();
}

}  // namespace opsy::aws
