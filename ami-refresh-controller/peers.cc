#include "ami-refresh-controller/peers.h"

#include <algorithm>

#include "opsy/core/log.h"

namespace opsy::ami_refresh {

void PeerRegistry::seedOnce(kube::ObjectReader& reader) {
  {
    std::lock_guard lock(mu_);
    if (seeded_) {
      return;
    }
    seeded_ = true;
  }
  auto listed = reader.list(amiRefreshers(), "", {});
  if (!listed) {
    log::get("controller.ami-refresh")
        .warn("cannot list amirefreshers to check for overlapping ones",
              log::kv("error", listed.error().toString()));
    return;
  }
  std::lock_guard lock(mu_);
  for (const kube::Object& obj : listed->items) {
    // A refresher reconciled meanwhile was recorded from a newer copy: keep that.
    if (by_key_.count(kube::objectKey(obj.metadata.ns, obj.metadata.name)) != 0) {
      continue;
    }
    auto spec = parseSpec(obj);
    recordLocked(obj.metadata, spec ? std::optional<Spec>(std::move(*spec)) : std::nullopt);
  }
}

void PeerRegistry::record(const kube::ObjectMeta& metadata, const std::optional<Spec>& spec) {
  std::lock_guard lock(mu_);
  recordLocked(metadata, spec);
}

void PeerRegistry::remove(const kube::ObjectKey& key) {
  std::lock_guard lock(mu_);
  removeLocked(key.str());
}

void PeerRegistry::removeLocked(const std::string& key) {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) {
    return;
  }
  auto cluster = by_cluster_.find({it->second.region, it->second.cluster});
  if (cluster != by_cluster_.end()) {
    cluster->second.erase(key);
    if (cluster->second.empty()) {
      by_cluster_.erase(cluster);
    }
  }
  by_key_.erase(it);
}

void PeerRegistry::recordLocked(const kube::ObjectMeta& metadata, const std::optional<Spec>& spec) {
  const std::string key = kube::objectKey(metadata.ns, metadata.name);
  removeLocked(key);
  if (!spec || metadata.deletion_timestamp) {
    return;
  }
  Claim& claim = by_key_[key];
  claim.region = spec->region;
  claim.cluster = spec->cluster_name;
  claim.peer = Peer{.ns = metadata.ns,
                    .name = metadata.name,
                    .created = metadata.creation_timestamp,
                    .exclude = spec->exclude,
                    .self_managed = spec->self_managed.enabled,
                    .karpenter = spec->karpenter};
  by_cluster_[{claim.region, claim.cluster}][key] = &claim;
}

std::vector<Peer> PeerRegistry::overlapping(const AmiRefresher& r,
                                            const std::vector<GroupObservation>& groups,
                                            size_t limit) const {
  std::vector<Peer> out;
  if (!r.spec || limit == 0) {
    return out;
  }
  std::lock_guard lock(mu_);
  auto cluster = by_cluster_.find({r.spec->region, r.spec->cluster_name});
  if (cluster == by_cluster_.end()) {
    return out;
  }
  // In key order, stopping at the first overlap: the answer stays the same from one reconcile to
  // the next (no status churn), and a cluster with many refreshers costs one pass at most.
  const std::string self = kube::objectKey(r.metadata.ns, r.metadata.name);
  for (const auto& [key, claim] : cluster->second) {
    if (key == self || !peerComesFirst(claim->peer, r.metadata)) {
      continue;
    }
    if (sharedGroup(claim->peer, *r.spec, groups)) {
      out.push_back(claim->peer);
      if (out.size() >= limit) {
        break;
      }
    }
  }
  return out;
}

}  // namespace opsy::ami_refresh
