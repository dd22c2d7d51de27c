// File: canary.h
//
// The canary rules of an AMIRefresher (spec.rollout.canary), pure like decide(): which node
// groups are the canary, whether their Nodes are Ready on the target image, and whether the
// reconciler needs to read those Nodes at all (only between the canary's updates ending and
// the soak passing, so an idle refresher reads no Node).
//
//   std::vector<std::string> canary = canaryGroups(*spec.rollout.canary, spec, observed.groups);
//   if (auto problem = canaryNodesProblem(groups, target)) ... // "node ip-10-0-1-5 is not Ready"
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ami-refresh-controller/api.h"
#include "ami-refresh-controller/decide.h"

namespace opsy::ami_refresh {

// The canary groups among `groups`: those matching `canary.nodegroups`, or the first
// `canary.count` (by kind, then name) of the groups that can be rolled; never an excluded group.
std::vector<std::string> canaryGroups(const CanaryConfig& canary, const Spec& spec,
                                      const std::vector<GroupObservation>& groups);

// Why the Nodes of `groups` are not all Ready on `target` (naming the first node or group at
// fault), or nullopt when every group has at least one Node and all are Ready on it.
std::optional<std::string> canaryNodesProblem(const std::vector<const GroupObservation*>& groups,
                                              const std::string& target);

// Whether a reconcile of a refresher with `status` rolling to `target` must read the canary's
// Nodes: a canary is configured and its status for this target is Verifying or Soaking, or
// Rolling with every canary group already running the target.
bool canaryNeedsNodes(const Spec& spec, const RefresherStatus& status, const std::string& target,
                      const std::vector<GroupObservation>& groups);

}  // namespace opsy::ami_refresh
