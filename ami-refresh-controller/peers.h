// File: peers.h
//
// Which AMIRefreshers drive which cluster, so that two never roll the same node group: a registry
// kept by the reconciles themselves (each records its refresher's region, cluster and exclusions,
// a deleted or invalid one is dropped) and seeded once from the informer cache, so that after a
// restart a refresher created later cannot act before the earlier one was seen. Only refreshers
// of the same region and cluster are compared, so the cost is per cluster, not per refresher.
//
//   registry.record(refresher);
//   observed.peers = registry.overlapping(refresher, observed.groups);
//   // decide(): Stalled, reason Conflict, when an earlier peer selects one of our groups
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ami-refresh-controller/api.h"
#include "ami-refresh-controller/decide.h"
#include "opsy/kube/client.h"

namespace opsy::ami_refresh {

class PeerRegistry {
 public:
  // Records every refresher `reader` holds, on the first call only; later calls do nothing. A
  // failed list is logged and not retried: the reconciles fill the registry as they run.
  void seedOnce(kube::ObjectReader& reader);
  // Records `r` (its region, cluster and exclusions), or drops it when its spec is invalid or it
  // is being deleted.
  void record(const kube::ObjectMeta& metadata, const std::optional<Spec>& spec);
  void remove(const kube::ObjectKey& key);
  // The refreshers created before `r` on its region and cluster that select one of `groups` too,
  // in namespace/name order; at most `limit` (decide() names the first).
  std::vector<Peer> overlapping(const AmiRefresher& r, const std::vector<GroupObservation>& groups,
                                size_t limit = 1) const;

 private:
  struct Claim {
    std::string region;
    std::string cluster;
    Peer peer;
  };
  using ClusterKey = std::pair<std::string, std::string>;  // region, cluster

  void recordLocked(const kube::ObjectMeta& metadata, const std::optional<Spec>& spec);
  void removeLocked(const std::string& key);

  mutable std::mutex mu_;
  bool seeded_ = false;
  std::map<std::string, Claim> by_key_;                                   // "ns/name"
  std::map<ClusterKey, std::map<std::string, const Claim*>> by_cluster_;  // cluster -> key -> claim
};

}  // namespace opsy::ami_refresh
