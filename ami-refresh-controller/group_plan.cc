#include "ami-refresh-controller/group_plan.h"

#include <fmt/format.h>

#include <algorithm>

#include "opsy/core/duration.h"
#include "opsy/kube/conditions.h"

namespace opsy::ami_refresh {
namespace {

bool managed(const GroupObservation& g) {
  return g.kind == GroupKind::Managed;
}

// Whether the spec sets a rollout limit the node group's updateConfig does not have yet.
bool updateConfigDiffers(const RefreshConfig& rc, const GroupObservation& g) {
  if (rc.max_unavailable) {
    return g.max_unavailable != rc.max_unavailable || g.max_unavailable_percentage.has_value();
  }
  if (rc.max_unavailable_percentage) {
    return g.max_unavailable_percentage != rc.max_unavailable_percentage ||
           g.max_unavailable.has_value();
  }
  return false;
}

// Why a group can never be rolled as it is; nullopt when it can.
std::optional<std::string> unrollable(const GroupObservation& g, const GroupPlan& p) {
  const std::string ami_type = g.ami_type.empty() ? "unknown" : g.ami_type;
  if (!g.launch_template) {
    if (managed(g)) {
      return fmt::format(
          "node group has no launch template (amiType {}); EKS chooses its AMI, so it cannot be "
          "moved to a custom image",
          ami_type);
    }
    return std::string("Auto Scaling group has no launch template");
  }
  if (g.mixed_instances_policy) {
    return std::string("Auto Scaling group uses a mixed instances policy, which is not rolled");
  }
  if (!g.launch_template_version) {
    return fmt::format("launch template {} version {} could not be read: {}",
                       p.entry.launch_template.id, g.launch_template->version,
                       g.launch_template_error.empty() ? "not found" : g.launch_template_error);
  }
  if (managed(g) && p.entry.current_image.empty()) {
    // EKS rejects an ImageId in the template of a group whose AMI it chooses (amiType != CUSTOM).
    return fmt::format(
        "launch template {} version {} sets no image (amiType {}); EKS chooses its AMI, so it "
        "cannot be moved to a custom image",
        p.entry.launch_template.id, p.current_version, ami_type);
  }
  return std::nullopt;
}

// What AWS calls the update: EKS "update", Auto Scaling "instance refresh".
std::string updateNoun(const GroupObservation& g, const GroupUpdate& u) {
  if (!managed(g)) {
    return "instance refresh";
  }
  return u.kind == UpdateKind::Config ? "updateConfig change" : "update";
}

std::string endedMessage(const GroupObservation& g, const GroupUpdate& u) {
  if (!managed(g)) {
    return fmt::format("instance refresh {} ended {}{}", u.id, u.status_text,
                       u.detail.empty() ? "" : ": " + u.detail);
  }
  return fmt::format("{} {} {}: {}", updateNoun(g, u), u.id,
                     u.state == UpdateState::Cancelled ? "was cancelled" : "failed", u.detail);
}

std::string waitingMessage(const GroupObservation& g) {
  if (managed(g)) {
    return "waiting for the update running on the node group to finish";
  }
  return fmt::format("waiting for instance refresh {} to finish", g.running_update_id);
}

bool ended(const GroupUpdate& u) {
  return u.state == UpdateState::Failed || u.state == UpdateState::Cancelled;
}

class Planner {
 public:
  Planner(const GroupObservation& g, const PlanContext& ctx) : g_(g), ctx_(ctx) {}

  GroupPlan run();

 private:
  const RefreshConfig& refresh() const { return ctx_.spec.refresh; }
  void phase(Phase ph, std::string message) { setPhase(p_, ph, std::move(message), ctx_.now); }

  bool sameTarget() const { return p_.old != nullptr && p_.old->target_image == ctx_.target; }

  // Updating for longer than updateTimeout counts as failed.
  bool timedOut() const {
    return p_.entry.last_transition_time &&
           ctx_.now - *p_.entry.last_transition_time > refresh().update_timeout;
  }

  void failTimedOut() {
    phase(Phase::Failed,
          fmt::format("update {}still running after {} (updateTimeout); counted as failed",
                      p_.entry.update_id.empty() ? "" : p_.entry.update_id + " ",
                      formatDuration(refresh().update_timeout)));
  }

  // Carries the entry of the same target over, or starts a fresh one; fills in the launch
  // template and its image.
  void begin();
  void planUnreadable(const Error& e);
  void planFailed();
  void planUpdating();
  void planRecordedUpdate(const GroupUpdate& u);
  void planIdle();
  // Kind NodeClass: the whole plan (pin, wait for Karpenter, follow the NodeClaims).
  void planNodeClass();

  const GroupObservation& g_;
  const PlanContext& ctx_;
  GroupPlan p_;
};

void Planner::begin() {
  p_.old = ctx_.old.entry(g_.name, g_.kind);
  p_.entry.name = g_.name;
  p_.entry.kind = g_.kind;
  if (p_.old != nullptr) {
    p_.entry.last_transition_time = p_.old->last_transition_time;
    if (p_.old->target_image == ctx_.target) {
      p_.entry.previous_launch_template_version = p_.old->previous_launch_template_version;
      p_.entry.update_id = p_.old->update_id;
      p_.entry.rollback_update_id = p_.old->rollback_update_id;
      p_.entry.previous_ami_selector_terms = p_.old->previous_ami_selector_terms;
      p_.entry.phase = p_.old->phase;
      p_.entry.message = p_.old->message;
    }
  }
  if (g_.launch_template) {
    const aws::LaunchTemplateSpec& lt = *g_.launch_template;
    p_.lt_id = lt.id;
    p_.lt_name = lt.name;
    p_.current_version = lt.version;
    p_.entry.launch_template = {lt.id.empty() ? lt.name : lt.id, lt.version};
  }
  if (g_.launch_template_version) {
    p_.entry.current_image = g_.launch_template_version->image_id;
    p_.current_version = std::to_string(g_.launch_template_version->version_number);
    p_.entry.launch_template.version = p_.current_version;
  }
}

GroupPlan Planner::run() {
  begin();
  if (g_.kind == GroupKind::NodeClass) {
    planNodeClass();
    return p_;
  }
  if (auto pattern = excludedBy(ctx_.spec, g_.name)) {
    p_.entry.target_image.clear();
    p_.entry.update_id.clear();
    p_.entry.rollback_update_id.clear();
    p_.entry.previous_launch_template_version.clear();
    phase(Phase::Excluded, fmt::format("excluded by spec.exclude pattern \"{}\"", *pattern));
    p_.excluded = true;
    return p_;
  }
  p_.entry.target_image = ctx_.target;
  if (g_.observe_error) {
    planUnreadable(*g_.observe_error);
    return p_;
  }
  if (auto why = unrollable(g_, p_)) {
    phase(Phase::Skipped, *why);
    return p_;
  }
  if (managed(g_)) {
    p_.config_differs = updateConfigDiffers(refresh(), g_);
  }
  // A failed group stays failed for this target until the spec changes.
  if (sameTarget() && p_.old->phase == Phase::Failed && !ctx_.spec_changed) {
    planFailed();
  } else if (sameTarget() && p_.old->phase == Phase::Updating) {
    planUpdating();
  } else {
    planIdle();
  }
  return p_;
}

// A group that could not be read is not touched and not failed: Unknown, saying what failed. An
// update of ours in flight stays Updating (it keeps its concurrency slot) until it can be read.
void Planner::planUnreadable(const Error& e) {
  p_.unreadable = controller::describeFailure(e, {.iam_doc = "docs/iam.md#ami-refresh-controller"});
  const std::string message = fmt::format("could not be read: {}", p_.unreadable->message);
  if (sameTarget() && p_.old->phase == Phase::Updating) {
    p_.entry.message = message;
    return;
  }
  phase(Phase::Unknown, message);
}

void Planner::planFailed() {
  p_.entry.phase = Phase::Failed;
  const std::string& previous = p_.entry.previous_launch_template_version;
  p_.rollback = refresh().rollback_on_failure && !previous.empty() && !g_.update_running &&
                p_.current_version != previous && p_.entry.rollback_update_id.empty();
}

void Planner::planUpdating() {
  if (g_.recorded_update && !p_.entry.update_id.empty() &&
      g_.recorded_update->id == p_.entry.update_id) {
    planRecordedUpdate(*g_.recorded_update);
    return;
  }
  // No update is known for this group: the start was interrupted, or another update ran.
  if (g_.update_running) {
    if (timedOut()) {
      failTimedOut();
    } else {
      p_.entry.message = waitingMessage(g_);
    }
    return;
  }
  if (p_.entry.current_image == ctx_.target) {
    phase(Phase::Succeeded, fmt::format("{} runs {}", groupNoun(g_.kind), ctx_.target));
    return;
  }
  p_.restart = true;
}

void Planner::planRecordedUpdate(const GroupUpdate& u) {
  if (ended(u)) {
    phase(Phase::Failed, endedMessage(g_, u));
    return;
  }
  if (u.kind == UpdateKind::Config) {
    if (u.state == UpdateState::Succeeded) {
      p_.restart = true;  // the limit is in place: now the version update
    } else if (timedOut()) {
      failTimedOut();
    }
    return;
  }
  if (u.state == UpdateState::Succeeded || !refresh().wait_for_completion) {
    if (u.state == UpdateState::Succeeded && p_.entry.last_transition_time) {
      p_.rolled_in =
          std::chrono::duration_cast<Duration>(ctx_.now - *p_.entry.last_transition_time);
    }
    phase(Phase::Succeeded,
          u.state == UpdateState::Succeeded
              ? fmt::format("{} {} succeeded", updateNoun(g_, u), u.id)
              : fmt::format("{} {} started; not followed (waitForCompletion=false)",
                            updateNoun(g_, u), u.id));
    return;
  }
  if (timedOut()) {
    failTimedOut();
  } else if (u.percent_complete) {
    p_.entry.message = fmt::format("instance refresh {} {}% complete", u.id, *u.percent_complete);
  }
}

void Planner::planIdle() {
  if (p_.entry.current_image == ctx_.target) {
    // Succeeded when this rollout put it there (its message kept), else UpToDate with the
    // bookkeeping of any earlier update cleared.
    bool kept = sameTarget() && p_.old->phase == Phase::Succeeded && !ctx_.spec_changed;
    phase(kept ? Phase::Succeeded : Phase::UpToDate,
          kept ? p_.entry.message : fmt::format("{} runs {}", groupNoun(g_.kind), ctx_.target));
    if (!kept) {
      p_.entry.update_id.clear();
      p_.entry.rollback_update_id.clear();
      p_.entry.previous_launch_template_version.clear();
    }
    return;
  }
  p_.entry.update_id.clear();
  p_.entry.rollback_update_id.clear();
  p_.entry.previous_launch_template_version.clear();
  if (g_.update_running) {
    phase(Phase::Pending, waitingMessage(g_));
    p_.waits_on_group = true;
  } else if (g_.unavailable) {
    phase(Phase::Pending, fmt::format("waiting: node group is {}", g_.status_text));
    p_.waits_on_group = true;
  } else {
    phase(Phase::Pending, "");
    p_.startable = true;
  }
}

NodeClaimCounts countClaims(const std::vector<NodeObservation>& claims, const std::string& target) {
  NodeClaimCounts c;
  for (const NodeObservation& n : claims) {
    ++c.total;
    if (n.image_id == target) {
      ++c.on_target;
    } else if (!n.image_id.empty()) {
      ++c.old;
    }
    if (n.drifted) {
      ++c.drifted;
    }
  }
  return c;
}

// A node class is "updated" by pinning spec.amiSelectorTerms to [{"id": target}]; Karpenter
// then resolves the pin (status.amis, Ready) and drifts and replaces its NodeClaims. Updating
// ends when the pin is resolved and no NodeClaim runs another image.
void Planner::planNodeClass() {
  p_.entry.target_image = ctx_.target;
  if (g_.observe_error) {
    planUnreadable(*g_.observe_error);
    return;
  }
  if (!g_.node_class || !g_.node_class->found) {
    p_.entry.node_claims.reset();
    phase(Phase::Unknown, fmt::format("EC2NodeClass {} does not exist", g_.name));
    return;
  }
  const NodeClassObservation& nc = *g_.node_class;
  const NodeClaimCounts claims = countClaims(nc.claims, ctx_.target);
  p_.entry.node_claims = claims;
  p_.current_version = nc.ami_selector_terms;
  // The pinned image, or the one image other terms resolved to.
  p_.entry.current_image = !nc.pinned_image.empty()         ? nc.pinned_image
                           : nc.resolved_images.size() == 1 ? nc.resolved_images.front()
                                                            : "";
  const bool pinned = nc.pinned_image == ctx_.target;
  const bool resolved = pinned && nc.ready == kube::kConditionTrue &&
                        std::find(nc.resolved_images.begin(), nc.resolved_images.end(),
                                  ctx_.target) != nc.resolved_images.end();
  const bool done = resolved && claims.old == 0;
  const std::string progress =
      fmt::format("{} of {} NodeClaims on {}, {} on an older image, {} drifted", claims.on_target,
                  claims.total, ctx_.target, claims.old, claims.drifted);
  if (sameTarget() && p_.old->phase == Phase::Failed && !ctx_.spec_changed) {
    p_.entry.phase = Phase::Failed;
    const std::string& previous = p_.entry.previous_ami_selector_terms;
    p_.rollback = refresh().rollback_on_failure && !previous.empty() &&
                  nc.ami_selector_terms != previous && p_.entry.rollback_update_id.empty();
    return;
  }
  if (sameTarget() && p_.old->phase == Phase::Updating) {
    if (!pinned) {
      p_.restart = true;  // intent on record, the patch not (yet) made
      return;
    }
    if (nc.ready == kube::kConditionFalse && !nc.ready_reason.empty()) {
      phase(Phase::Failed, fmt::format("EC2NodeClass {} is not Ready after the pin to {}: {}{}",
                                       g_.name, ctx_.target, nc.ready_reason,
                                       nc.ready_message.empty() ? "" : ": " + nc.ready_message));
      return;
    }
    if (done) {
      if (p_.entry.last_transition_time) {
        p_.rolled_in =
            std::chrono::duration_cast<Duration>(ctx_.now - *p_.entry.last_transition_time);
      }
      phase(Phase::Succeeded, fmt::format("EC2NodeClass pinned to {}; {}", ctx_.target, progress));
      return;
    }
    if (timedOut()) {
      phase(Phase::Failed,
            fmt::format("NodeClaims not replaced after {} (updateTimeout): {}; counted as failed",
                        formatDuration(refresh().update_timeout), progress));
      return;
    }
    p_.entry.message =
        resolved ? fmt::format("pinned to {}; {}", ctx_.target, progress)
                 : fmt::format("pinned to {}; waiting for Karpenter to resolve it", ctx_.target);
    return;
  }
  p_.entry.update_id.clear();
  p_.entry.rollback_update_id.clear();
  if (done) {
    bool kept = sameTarget() && p_.old->phase == Phase::Succeeded && !ctx_.spec_changed;
    phase(kept ? Phase::Succeeded : Phase::UpToDate,
          kept ? fmt::format("EC2NodeClass pinned to {}; {}", ctx_.target, progress)
               : fmt::format("EC2NodeClass runs {}; {}", ctx_.target, progress));
    if (!kept) {
      p_.entry.previous_ami_selector_terms.clear();
    }
    return;
  }
  p_.entry.previous_ami_selector_terms.clear();
  phase(Phase::Pending, "");
  p_.startable = true;
}

}  // namespace

std::string_view groupNoun(GroupKind kind) {
  switch (kind) {
    case GroupKind::Managed: return "node group";
    case GroupKind::SelfManaged: return "Auto Scaling group";
    case GroupKind::NodeClass: return "EC2NodeClass";
  }
  return "node group";
}

NodeClaimCounts nodeClaimCounts(const std::vector<NodeObservation>& claims,
                                const std::string& target) {
  return countClaims(claims, target);
}

void setPhase(GroupPlan& p, Phase phase, std::string message, TimePoint now) {
  bool moved =
      p.old == nullptr || p.old->phase != phase || p.old->target_image != p.entry.target_image;
  if (moved) {
    p.entry.last_transition_time = now;
  }
  p.entry.phase = phase;
  p.entry.message = std::move(message);
}

GroupPlan planGroup(const GroupObservation& g, const PlanContext& ctx) {
  return Planner(g, ctx).run();
}

}  // namespace opsy::ami_refresh
