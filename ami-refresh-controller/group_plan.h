// File: group_plan.h
//
// The one node-group state machine of the AMIRefresher, for managed and self-managed groups
// alike: from a group's observation and its previous status entry, planGroup() works out its new
// entry (phase, message, bookkeeping) and what it needs next: a start, a restart of a start that
// was interrupted, or a rollback. Scheduling (which of the startable groups go now) is decide()'s.
// Pure, like decide().
//
//   GroupPlan p = planGroup(observation, {.spec = spec, .old = status, .target = id, .now = now});
//   if (p.startable) ...
#pragma once

#include <optional>
#include <string>

#include "ami-refresh-controller/api.h"
#include "ami-refresh-controller/decide.h"
#include "opsy/controller/failure.h"

namespace opsy::ami_refresh {

// What every group's plan is made against.
struct PlanContext {
  const Spec& spec;
  // The status as read: entries carry what earlier reconciles started.
  const RefresherStatus& old;
  // The target image id.
  std::string target;
  // The spec changed since the status was written (a failed group gets another try).
  bool spec_changed = false;
  TimePoint now;
};

// One group's new status entry and what it needs.
struct GroupPlan {
  NodegroupStatus entry;
  const NodegroupStatus* old = nullptr;  // its entry as read, if any
  bool startable = false;                // needs an update and nothing blocks it
  bool restart = false;   // Updating in status, but no update is known to run: issue again
  bool rollback = false;  // failed, and should go back to its previous version
  bool excluded = false;  // matched spec.exclude: reported, never touched
  // Pending behind something of the group's own (an update we did not start, its EKS status):
  // worth a look again soon.
  bool waits_on_group = false;
  bool config_differs = false;  // managed: updateConfig must change before the version update
  // Where it runs now (for the actions).
  std::string lt_id;
  std::string lt_name;
  std::string current_version;
  std::optional<Duration> rolled_in;  // set on the transition to Succeeded
  // Set when the group could not be read (phase Unknown, or Updating kept): why.
  std::optional<controller::Failure> unreadable;
};

GroupPlan planGroup(const GroupObservation& g, const PlanContext& ctx);

// Sets the entry's phase and message; its lastTransitionTime moves when the phase (or the
// target) differs from the entry as read.
void setPhase(GroupPlan& p, Phase phase, std::string message, TimePoint now);

// "node group", "Auto Scaling group" or "EC2NodeClass".
std::string_view groupNoun(GroupKind kind);

// NodeClaims against `target`: total, on it, on another (known) image, Drifted.
NodeClaimCounts nodeClaimCounts(const std::vector<NodeObservation>& claims,
                                const std::string& target);

}  // namespace opsy::ami_refresh
