#include "ami-refresh-controller/canary.h"

#include <fmt/format.h>

#include <algorithm>
#include <tuple>

namespace opsy::ami_refresh {
namespace {

bool rollable(const GroupObservation& g, const Spec& spec) {
  if (g.kind == GroupKind::NodeClass) {
    return g.node_class && g.node_class->found;
  }
  if (g.kind == GroupKind::SelfManaged && !spec.self_managed.enabled) {
    return false;
  }
  return !excludedBy(spec, g.name) && g.launch_template.has_value() && !g.mixed_instances_policy;
}

// The image a group's launch template version sets, "" when unknown.
std::string runningImage(const GroupObservation& g) {
  if (g.kind == GroupKind::NodeClass) {
    return g.node_class ? g.node_class->pinned_image : "";
  }
  return g.launch_template_version ? g.launch_template_version->image_id : "";
}

}  // namespace

std::vector<std::string> canaryGroups(const CanaryConfig& canary, const Spec& spec,
                                      const std::vector<GroupObservation>& groups) {
  std::vector<const GroupObservation*> candidates;
  for (const GroupObservation& g : groups) {
    if (rollable(g, spec)) {
      candidates.push_back(&g);
    }
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const GroupObservation* a, const GroupObservation* b) {
              return std::tie(a->kind, a->name) < std::tie(b->kind, b->name);
            });
  std::vector<std::string> out;
  for (const GroupObservation* g : candidates) {
    if (canary.count > 0) {
      if (static_cast<int>(out.size()) < canary.count) {
        out.push_back(g->name);
      }
      continue;
    }
    if (std::any_of(canary.nodegroups.begin(), canary.nodegroups.end(),
                    [&](const std::string& p) { return globMatch(p, g->name); })) {
      out.push_back(g->name);
    }
  }
  return out;
}

std::optional<std::string> canaryNodesProblem(const std::vector<const GroupObservation*>& groups,
                                              const std::string& target) {
  for (const GroupObservation* g : groups) {
    if (!g->nodes) {
      return fmt::format("the nodes of {} were not read", g->name);
    }
    if (g->nodes->empty()) {
      return g->kind == GroupKind::NodeClass
                 ? fmt::format("EC2NodeClass {} has no NodeClaim", g->name)
                 : fmt::format("{} has no node registered in the cluster", g->name);
    }
    for (const NodeObservation& n : *g->nodes) {
      if (!n.ready) {
        return fmt::format("{} {} of {} is not Ready{}",
                           g->kind == GroupKind::NodeClass ? "NodeClaim" : "node", n.name, g->name,
                           n.not_ready_reason.empty() ? "" : " (" + n.not_ready_reason + ")");
      }
      if (n.image_id != target) {
        return fmt::format("node {} of {} runs {}, not {}", n.name, g->name,
                           n.image_id.empty() ? "an unknown image" : n.image_id, target);
      }
    }
  }
  return std::nullopt;
}

bool canaryNeedsNodes(const Spec& spec, const RefresherStatus& status, const std::string& target,
                      const std::vector<GroupObservation>& groups) {
  if (!spec.rollout.canary || target.empty()) {
    return false;
  }
  const std::optional<CanaryStatus>& c = status.canary;
  if (c && c->target_image == target) {
    if (c->phase == kCanaryVerifying || c->phase == kCanarySoaking) {
      return true;
    }
    if (c->phase == kCanaryPassed || c->phase == kCanaryFailed) {
      return false;
    }
  }
  std::vector<std::string> names = canaryGroups(*spec.rollout.canary, spec, groups);
  if (names.empty()) {
    return false;
  }
  return std::all_of(names.begin(), names.end(), [&](const std::string& name) {
    return std::any_of(groups.begin(), groups.end(), [&](const GroupObservation& g) {
      return g.name == name && runningImage(g) == target && !g.update_running;
    });
  });
}

}  // namespace opsy::ami_refresh
