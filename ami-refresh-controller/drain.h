// File: drain.h
//
// The cooperative drain of self-managed groups, as pure functions like decide(): an instance our
// instance refresh replaces waits in Terminating:Wait on our lifecycle hook; planDrain() cordons
// its Node, evicts its pods (the Eviction API honours PodDisruptionBudgets), keeps the instance
// waiting with heartbeats, and completes the lifecycle action once the Node is empty, or when
// drain.timeout passes (then the rollout halts, or goes on, as the spec says). foldDrain() reads
// what those calls did back into the group's status.drains.
//
//   DrainPlan p = planDrain(observation, entry.drains, {.config = spec.self_managed.drain, ...});
//   decision.aws.insert(decision.aws.end(), p.actions.begin(), p.actions.end());
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ami-refresh-controller/api.h"
#include "ami-refresh-controller/decide.h"

namespace opsy::ami_refresh {

// How often a group with a node being drained is looked at (evictions a budget refused are
// asked again from then on, less often as the drain ages).
inline constexpr Duration kDrainPollInterval = std::chrono::seconds(5);

// How a group's message starts when a timed-out drain halted the rollout.
inline constexpr std::string_view kDrainHaltPrefix = "drain of ";

// status.nodegroups[].drains holds at most this many (the CRD's maxItems); more waiting
// instances are taken up as earlier ones are released.
inline constexpr std::size_t kMaxDrains = 100;

// The annotation a cordoned Node gets: which refresher cordoned it and why.
inline constexpr std::string_view kDrainAnnotation = "ami.refresh.ops/drain";

struct DrainContext {
  const DrainConfig& config;
  std::string group;
  // The instance refresh of ours that replaces the instances, for messages.
  std::string refresh_id;
  // "namespace/name" of the refresher, for the Node's annotation.
  std::string refresher;
  // A timed-out drain may halt the rollout only while the group's own update runs (not during a
  // rollback, which has nothing left to halt).
  bool may_halt = true;
  TimePoint now;
};

struct DrainPlan {
  std::vector<AwsAction> actions;
  // The group's new status.drains, one per waiting instance.
  std::vector<DrainStatus> drains;
  // Set when a drain timed out and halts the rollout: why the group failed.
  std::optional<std::string> halt;
  std::vector<RecordEvent> events;
};

DrainPlan planDrain(const GroupObservation& g, const std::vector<DrainStatus>& old,
                    const DrainContext& ctx);

// Folds the outcome of one drain step of `action` into `drains` and returns the Events it
// causes. `now` is when the calls were made.
std::vector<RecordEvent> foldDrain(const AwsAction& action, const ActionOutcome& outcome,
                                   std::vector<DrainStatus>& drains, TimePoint now);

// `message` without the drain summary an earlier reconcile put after it.
std::string withoutDrainSummary(std::string_view message);

// One line for a group's message about its drains ("draining node ip-… (instance i-…): 2 pods
// left"), empty when none.
std::string drainSummary(const std::vector<DrainStatus>& drains);

// The PodDisruptionBudget an eviction refusal names ("The disruption budget web needs 1 healthy
// pods and has 1 currently" -> "web"), or "" when the message names none.
std::string budgetNamed(std::string_view refusal);

}  // namespace opsy::ami_refresh
