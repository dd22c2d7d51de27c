#include "ami-refresh-controller/decide.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <tuple>

#include "opsy/ami/eligibility.h"
#include "opsy/ami/selection.h"
#include "opsy/aws/sigv4.h"
#include "opsy/core/duration.h"

namespace opsy::ami_refresh {
namespace {

constexpr std::string_view kKind = "AMIRefresher";

bool isActiveRefresh(aws::InstanceRefreshStatus status) {
  return status == aws::InstanceRefreshStatus::Pending ||
         status == aws::InstanceRefreshStatus::InProgress ||
         status == aws::InstanceRefreshStatus::Cancelling ||
         status == aws::InstanceRefreshStatus::RollbackInProgress ||
         status == aws::InstanceRefreshStatus::Baking;
}

bool isFailedRefresh(aws::InstanceRefreshStatus status) {
  return status == aws::InstanceRefreshStatus::Failed ||
         status == aws::InstanceRefreshStatus::Cancelled ||
         status == aws::InstanceRefreshStatus::RollbackSuccessful ||
         status == aws::InstanceRefreshStatus::RollbackFailed;
}

}  // namespace

ami::Target selectRefresherTarget(const Spec& spec, const TargetObservation& t, TimePoint now) {
  if (!spec.ami) {
    return ami::selectTarget(t.matched, t.derived, spec.expires_in, now);
  }
  ami::Target target;
  auto it = std::find_if(t.matched.begin(), t.matched.end(),
                         [&](const aws::Image& i) { return i.id == *spec.ami; });
  if (it == t.matched.end()) {
    target.explanation = fmt::format("{} was not found in {}", *spec.ami, spec.region);
    return target;
  }
  target.verdict = ami::evaluate(*it, spec.expires_in, now);
  if (target.verdict.eligible) {
    target.image = *it;
    target.explanation = fmt::format("{} is eligible", it->id);
  } else {
    target.explanation = target.verdict.reason;
  }
  return target;
}

namespace {

std::string updateErrors(const aws::Update& u) {
  if (u.errors.empty()) {
    return "no error detail from EKS";
  }
  std::string out;
  for (const aws::UpdateError& e : u.errors) {
    if (!out.empty()) {
      out += "; ";
    }
    out += e.code.empty() ? e.message : fmt::format("{}: {}", e.code, e.message);
    if (!e.resource_ids.empty()) {
      out += fmt::format(" ({})", fmt::join(e.resource_ids, ", "));
    }
  }
  return out;
}

std::optional<std::string> excludedBy(const Spec& spec, const std::string& name) {
  for (const std::string& pattern : spec.exclude) {
    if (globMatch(pattern, name)) {
      return pattern;
    }
  }
  return std::nullopt;
}

// Whether the spec sets a rollout limit the node group's updateConfig does not have yet.
bool updateConfigDiffers(const RefreshConfig& rc, const aws::Nodegroup& ng) {
  if (rc.max_unavailable) {
    return ng.max_unavailable != rc.max_unavailable || ng.max_unavailable_percentage.has_value();
  }
  if (rc.max_unavailable_percentage) {
    return ng.max_unavailable_percentage != rc.max_unavailable_percentage ||
           ng.max_unavailable.has_value();
  }
  return false;
}

// One group's new status entry and what it needs.
struct GroupPlan {
  NodegroupStatus entry;
  const NodegroupStatus* old = nullptr;
  bool startable = false;  // needs an update and nothing blocks it
  bool restart = false;    // Updating in status, but no update is known to run: issue again
  bool rollback = false;   // failed, and should go back to its previous version
  bool excluded = false;   // matched spec.exclude: reported, never touched
  // Where it runs now (for the actions).
  std::string lt_id;
  std::string lt_name;
  std::string current_version;
  bool config_differs = false;        // managed: updateConfig must change before the version update
  std::optional<Duration> rolled_in;  // set on the transition to Succeeded
};

class Decider {
 public:
  Decider(const Observed& o, TimePoint now) : o_(o), r_(o.refresher), now_(now) {}

  Decision run();

 private:
  const NodegroupStatus* findOld(const std::string& name, GroupKind kind) const {
    for (const NodegroupStatus& ng : r_.status.nodegroups) {
      if (ng.name == name && ng.kind == kind) {
        return &ng;
      }
    }
    return nullptr;
  }

  void setPhase(GroupPlan& p, Phase phase, std::string message) const {
    bool moved =
        p.old == nullptr || p.old->phase != phase || p.old->target_image != p.entry.target_image;
    if (moved) {
      p.entry.last_transition_time = now_;
    }
    p.entry.phase = phase;
    p.entry.message = std::move(message);
  }

  // Updating for longer than updateTimeout counts as failed.
  bool timedOut(const GroupPlan& p) const {
    return p.entry.last_transition_time &&
           now_ - *p.entry.last_transition_time > spec().refresh.update_timeout;
  }

  void failTimedOut(GroupPlan& p) const {
    setPhase(p, Phase::Failed,
             fmt::format("update {}still running after {} (updateTimeout); counted as failed",
                         p.entry.update_id.empty() ? "" : p.entry.update_id + " ",
                         formatDuration(spec().refresh.update_timeout)));
  }

  // Carries the entry of the same target over, or starts a fresh one.
  GroupPlan begin(const std::string& name, GroupKind kind) const {
    GroupPlan p;
    p.old = findOld(name, kind);
    p.entry.name = name;
    p.entry.kind = kind;
    if (p.old != nullptr) {
      p.entry.last_transition_time = p.old->last_transition_time;
      if (p.old->target_image == target_) {
        p.entry.previous_launch_template_version = p.old->previous_launch_template_version;
        p.entry.update_id = p.old->update_id;
        p.entry.phase = p.old->phase;
        p.entry.message = p.old->message;
      }
    }
    return p;
  }

  bool sameTarget(const GroupPlan& p) const {
    return p.old != nullptr && p.old->target_image == target_;
  }

  // A failed group stays failed for this target until the spec changes.
  // A group already on the target: Succeeded when this rollout put it there (its message kept),
  // else UpToDate with the bookkeeping of any earlier update cleared.
  void settleOnTarget(GroupPlan& p, std::string_view noun) const {
    bool kept = sameTarget(p) && p.old->phase == Phase::Succeeded && !spec_changed_;
    setPhase(p, kept ? Phase::Succeeded : Phase::UpToDate,
             kept ? p.entry.message : fmt::format("{} runs {}", noun, target_));
    if (!kept) {
      p.entry.update_id.clear();
      p.entry.previous_launch_template_version.clear();
    }
  }

  bool stickyFailure(const GroupPlan& p) const {
    return sameTarget(p) && p.old->phase == Phase::Failed && !spec_changed_;
  }

  // begin() plus what both kinds of group share: the launch template and its image, and the
  // exclusion check (an excluded group comes back in phase Excluded, with no target).
  GroupPlan beginGroup(const std::string& name, GroupKind kind,
                       const std::optional<aws::LaunchTemplateSpec>& lt,
                       const std::optional<aws::LaunchTemplateVersion>& version) const {
    GroupPlan p = begin(name, kind);
    if (lt) {
      p.lt_id = lt->id;
      p.lt_name = lt->name;
      p.current_version = lt->version;
      p.entry.launch_template = {lt->id.empty() ? lt->name : lt->id, lt->version};
    }
    if (version) {
      p.entry.current_image = version->image_id;
      p.current_version = std::to_string(version->version_number);
      p.entry.launch_template.version = p.current_version;
    }
    if (auto pattern = excludedBy(spec(), name)) {
      p.entry.target_image.clear();
      p.entry.update_id.clear();
      p.entry.previous_launch_template_version.clear();
      setPhase(p, Phase::Excluded,
               fmt::format("excluded by spec.exclude pattern \"{}\"", *pattern));
      p.excluded = true;
      return p;
    }
    p.entry.target_image = target_;
    return p;
  }

  GroupPlan planManaged(const ManagedGroupObservation& g) const;
  GroupPlan planSelfManaged(const SelfManagedGroupObservation& g) const;
  void schedule();
  void conditionsAndState();
  void emit();

  const Spec& spec() const { return *r_.spec; }

  const Observed& o_;
  const AmiRefresher& r_;
  TimePoint now_;
  Decision d_;
  RefresherStatus status_;
  std::string target_;
  bool spec_changed_ = false;
  std::vector<GroupPlan> plans_;
  std::vector<Action> aws_actions_;
  std::vector<Action> tail_actions_;
  std::vector<std::string> started_;  // groups started this time (not restarts)
  bool poll_ = false;
  const GroupPlan* halted_by_ = nullptr;
};

GroupPlan Decider::planManaged(const ManagedGroupObservation& g) const {
  const aws::Nodegroup& ng = g.nodegroup;
  GroupPlan p =
      beginGroup(ng.name, GroupKind::Managed, ng.launch_template, g.launch_template_version);
  if (p.excluded) {
    return p;
  }
  if (!ng.launch_template) {
    setPhase(p, Phase::Skipped,
             fmt::format("node group has no launch template (amiType {}); EKS chooses its AMI, so "
                         "it cannot be moved to a custom image",
                         ng.ami_type.empty() ? "unknown" : ng.ami_type));
    return p;
  }
  if (!g.launch_template_version) {
    setPhase(p, Phase::Skipped,
             fmt::format("launch template {} version {} could not be read: {}",
                         p.entry.launch_template.id, ng.launch_template->version,
                         g.launch_template_error.empty() ? "not found" : g.launch_template_error));
    return p;
  }
  if (p.entry.current_image.empty()) {
    // EKS rejects an ImageId in the template of a group whose AMI it chooses (amiType != CUSTOM).
    setPhase(p, Phase::Skipped,
             fmt::format("launch template {} version {} sets no image (amiType {}); EKS chooses "
                         "its AMI, so it cannot be moved to a custom image",
                         p.entry.launch_template.id, p.current_version,
                         ng.ami_type.empty() ? "unknown" : ng.ami_type));
    return p;
  }
  const bool on_target = p.entry.current_image == target_;
  const bool eks_updating = ng.status == aws::NodegroupStatus::Updating;
  p.config_differs = updateConfigDiffers(spec().refresh, ng);
  if (stickyFailure(p)) {
    p.entry.phase = Phase::Failed;
    const std::string& previous = p.entry.previous_launch_template_version;
    if (spec().refresh.rollback_on_failure && !previous.empty() && !eks_updating &&
        p.current_version != previous) {
      p.rollback = true;
    }
    return p;
  }
  if (sameTarget(p) && p.old->phase == Phase::Updating) {
    if (!p.entry.update_id.empty() && g.update && g.update->id == p.entry.update_id) {
      const aws::Update& u = *g.update;
      if (u.type == aws::UpdateType::ConfigUpdate) {
        if (u.status == aws::UpdateStatus::Failed || u.status == aws::UpdateStatus::Cancelled) {
          setPhase(p, Phase::Failed,
                   fmt::format("updateConfig change {} {}: {}", u.id,
                               u.status == aws::UpdateStatus::Failed ? "failed" : "was cancelled",
                               updateErrors(u)));
        } else if (u.status == aws::UpdateStatus::Successful) {
          p.restart = true;  // the limit is in place: now the version update
        } else if (timedOut(p)) {
          failTimedOut(p);
        }
        return p;
      }
      if (u.status == aws::UpdateStatus::Failed || u.status == aws::UpdateStatus::Cancelled) {
        setPhase(p, Phase::Failed,
                 fmt::format("update {} {}: {}", u.id,
                             u.status == aws::UpdateStatus::Failed ? "failed" : "was cancelled",
                             updateErrors(u)));
        return p;
      }
      if (u.status == aws::UpdateStatus::Successful || !spec().refresh.wait_for_completion) {
        if (u.status == aws::UpdateStatus::Successful && p.entry.last_transition_time) {
          p.rolled_in = std::chrono::duration_cast<Duration>(now_ - *p.entry.last_transition_time);
        }
        setPhase(
            p, Phase::Succeeded,
            u.status == aws::UpdateStatus::Successful
                ? fmt::format("update {} succeeded", u.id)
                : fmt::format("update {} started; not followed (waitForCompletion=false)", u.id));
        return p;
      }
      if (timedOut(p)) {
        failTimedOut(p);
      }
      return p;  // still Updating
    }
    // No update is known for this group: the start was interrupted, or another update ran.
    if (eks_updating) {
      if (timedOut(p)) {
        failTimedOut(p);
      } else {
        p.entry.message = "waiting for the update running on the node group to finish";
      }
      return p;
    }
    if (on_target) {
      setPhase(p, Phase::Succeeded, fmt::format("node group runs {}", target_));
      return p;
    }
    p.restart = true;
    return p;
  }
  if (on_target) {
    settleOnTarget(p, "node group");
    return p;
  }
  p.entry.update_id.clear();
  p.entry.previous_launch_template_version.clear();
  if (eks_updating) {
    setPhase(p, Phase::Pending, "waiting for the update running on the node group to finish");
  } else if (ng.status != aws::NodegroupStatus::Active &&
             ng.status != aws::NodegroupStatus::Degraded) {
    setPhase(p, Phase::Pending, fmt::format("waiting: node group is {}", ng.status.text));
  } else {
    setPhase(p, Phase::Pending, "");
    p.startable = true;
  }
  return p;
}

GroupPlan Decider::planSelfManaged(const SelfManagedGroupObservation& g) const {
  const aws::AutoScalingGroup& asg = g.group;
  GroupPlan p =
      beginGroup(asg.name, GroupKind::SelfManaged, asg.launch_template, g.launch_template_version);
  if (p.excluded) {
    return p;
  }
  if (!asg.launch_template) {
    setPhase(p, Phase::Skipped, "Auto Scaling group has no launch template");
    return p;
  }
  if (asg.mixed_instances_policy) {
    setPhase(p, Phase::Skipped,
             "Auto Scaling group uses a mixed instances policy, which is not rolled");
    return p;
  }
  if (!g.launch_template_version) {
    setPhase(p, Phase::Skipped,
             fmt::format("launch template {} version {} could not be read: {}",
                         p.entry.launch_template.id, asg.launch_template->version,
                         g.launch_template_error.empty() ? "not found" : g.launch_template_error));
    return p;
  }
  const bool on_target = p.entry.current_image == target_;
  const aws::InstanceRefresh* active = nullptr;
  for (const aws::InstanceRefresh& r : g.refreshes) {
    if (isActiveRefresh(r.status)) {
      active = &r;
      break;
    }
  }
  if (stickyFailure(p)) {
    p.entry.phase = Phase::Failed;
    const std::string& previous = p.entry.previous_launch_template_version;
    if (spec().refresh.rollback_on_failure && !previous.empty() && active == nullptr &&
        p.current_version != previous) {
      p.rollback = true;
    }
    return p;
  }
  if (sameTarget(p) && p.old->phase == Phase::Updating) {
    const aws::InstanceRefresh* ours = nullptr;
    for (const aws::InstanceRefresh& r : g.refreshes) {
      if (!p.entry.update_id.empty() && r.id == p.entry.update_id) {
        ours = &r;
      }
    }
    if (ours != nullptr) {
      if (isFailedRefresh(ours->status)) {
        setPhase(p, Phase::Failed,
                 fmt::format("instance refresh {} ended {}{}", ours->id, ours->status.text,
                             ours->status_reason.empty() ? "" : ": " + ours->status_reason));
        return p;
      }
      if (ours->status == aws::InstanceRefreshStatus::Successful ||
          !spec().refresh.wait_for_completion) {
        if (ours->status == aws::InstanceRefreshStatus::Successful &&
            p.entry.last_transition_time) {
          p.rolled_in = std::chrono::duration_cast<Duration>(now_ - *p.entry.last_transition_time);
        }
        setPhase(p, Phase::Succeeded,
                 ours->status == aws::InstanceRefreshStatus::Successful
                     ? fmt::format("instance refresh {} succeeded", ours->id)
                     : fmt::format("instance refresh {} started; not followed "
                                   "(waitForCompletion=false)",
                                   ours->id));
        return p;
      }
      if (timedOut(p)) {
        failTimedOut(p);
      } else {
        p.entry.message =
            fmt::format("instance refresh {} {}% complete", ours->id, ours->percentage_complete);
      }
      return p;
    }
    if (active != nullptr) {
      if (timedOut(p)) {
        failTimedOut(p);
      } else {
        p.entry.message = fmt::format("waiting for instance refresh {} to finish", active->id);
      }
      return p;
    }
    if (on_target) {
      setPhase(p, Phase::Succeeded, fmt::format("Auto Scaling group runs {}", target_));
      return p;
    }
    p.restart = true;
    return p;
  }
  if (on_target) {
    settleOnTarget(p, "Auto Scaling group");
    return p;
  }
  p.entry.update_id.clear();
  p.entry.previous_launch_template_version.clear();
  if (active != nullptr) {
    setPhase(p, Phase::Pending,
             fmt::format("waiting for instance refresh {} to finish", active->id));
  } else {
    setPhase(p, Phase::Pending, "");
    p.startable = true;
  }
  return p;
}

void Decider::schedule() {
  for (const GroupPlan& p : plans_) {
    if (p.entry.phase == Phase::Failed && p.entry.target_image == target_) {
      halted_by_ = &p;
      break;
    }
  }
  int in_flight = 0;
  for (const GroupPlan& p : plans_) {
    if (p.entry.phase == Phase::Updating && !p.restart) {
      ++in_flight;
    }
  }
  const int limit = spec().refresh.max_concurrent_nodegroups;
  int slots = limit - in_flight;
  // Interrupted starts first: they were already counted as updating.
  std::vector<GroupPlan*> queue;
  for (GroupPlan& p : plans_) {
    if (p.restart) {
      queue.push_back(&p);
    }
  }
  for (GroupPlan& p : plans_) {
    if (p.startable) {
      queue.push_back(&p);
    }
  }
  const std::string uid = r_.metadata.uid;
  // The generation is part of the token: after a spec change a failed group is tried again, and
  // must not get the failed update back from EKS's idempotency cache.
  const std::string token_key = fmt::format("{}@{}", target_, r_.metadata.generation);
  for (GroupPlan* p : queue) {
    std::string blocked;
    if (halted_by_ != nullptr) {
      blocked = fmt::format("rollout halted: {} failed", halted_by_->entry.name);
    } else if (spec().paused) {
      blocked = "rollout paused (spec.paused)";
    } else if (slots <= 0) {
      blocked = fmt::format("waiting for a free slot ({} of maxConcurrentNodegroups={} updating)",
                            limit - slots, limit);
    }
    if (!blocked.empty()) {
      if (p->restart) {
        p->entry.update_id.clear();
      }
      setPhase(*p, Phase::Pending, blocked);
      continue;
    }
    --slots;
    GroupPlan& g = *p;
    if (!g.restart || g.entry.previous_launch_template_version.empty()) {
      g.entry.previous_launch_template_version = g.current_version;
    }
    g.entry.update_id.clear();
    if (!g.restart) {
      started_.push_back(g.entry.name);
    }
    setPhase(
        g, Phase::Updating,
        fmt::format("updating to {} from launch template version {}", target_, g.current_version));
    if (!g.restart) {
      g.entry.last_transition_time = now_;
    }
    bool managed = g.entry.kind == GroupKind::Managed;
    if (managed && g.config_differs) {
      // EKS runs one update per node group at a time, so the limit goes in first, on its own.
      const RefreshConfig& rc = spec().refresh;
      std::string wanted = rc.max_unavailable
                               ? fmt::format("maxUnavailable={}", *rc.max_unavailable)
                               : fmt::format("maxUnavailablePercentage={}",
                                             rc.max_unavailable_percentage.value_or(0));
      g.entry.message =
          fmt::format("setting updateConfig {} before updating to {}", wanted, target_);
      aws_actions_.push_back(UpdateNodegroupConfig{
          .cluster_name = spec().cluster_name,
          .group = g.entry.name,
          .max_unavailable = rc.max_unavailable,
          .max_unavailable_percentage = rc.max_unavailable_percentage,
          .client_request_token = clientToken(uid, g.entry.name, token_key, "config-" + wanted)});
      tail_actions_.push_back(
          RecordEvent{.type = kube::EventType::Normal,
                      .reason = "UpdateConfigStarted",
                      .action = "UpdateNodegroupConfig",
                      .note = fmt::format("{} {}: setting updateConfig {} before rolling to {}",
                                          toString(g.entry.kind), g.entry.name, wanted, target_)});
      poll_ = true;
      continue;
    }
    aws_actions_.push_back(CreateLaunchTemplateVersion{
        .group = g.entry.name,
        .kind = g.entry.kind,
        .launch_template_id = g.lt_id,
        .launch_template_name = g.lt_name,
        .source_version = g.current_version,
        .image_id = target_,
        .client_token = clientToken(uid, g.entry.name, token_key, "launch-template-version")});
    if (managed) {
      aws_actions_.push_back(UpdateNodegroup{
          .cluster_name = spec().cluster_name,
          .group = g.entry.name,
          .launch_template_id = g.lt_id,
          .launch_template_name = g.lt_name,
          .force = spec().refresh.force,
          .client_request_token = clientToken(uid, g.entry.name, token_key, "update")});
    } else {
      aws_actions_.push_back(StartInstanceRefresh{
          .group = g.entry.name,
          .launch_template_id = g.lt_id,
          .launch_template_name = g.lt_name,
          .min_healthy_percentage = spec().self_managed.min_healthy_percentage,
          .instance_warmup_seconds = static_cast<int>(
              std::chrono::duration_cast<std::chrono::seconds>(spec().self_managed.instance_warmup)
                  .count())});
    }
    tail_actions_.push_back(
        RecordEvent{.type = kube::EventType::Normal,
                    .reason = "UpdateStarted",
                    .action = managed ? "UpdateNodegroupVersion" : "StartInstanceRefresh",
                    .note = fmt::format("{} {}: rolling to {} (launch template {} from version {})",
                                        toString(g.entry.kind), g.entry.name, target_,
                                        g.entry.launch_template.id, g.current_version)});
    poll_ = true;
  }
  // Rollbacks of failed groups.
  for (GroupPlan& g : plans_) {
    if (!g.rollback) {
      continue;
    }
    const std::string& previous = g.entry.previous_launch_template_version;
    if (g.entry.kind == GroupKind::Managed) {
      aws_actions_.push_back(RollbackNodegroup{
          UpdateNodegroup{.cluster_name = spec().cluster_name,
                          .group = g.entry.name,
                          .launch_template_id = g.lt_id,
                          .launch_template_name = g.lt_name,
                          .version = previous,
                          .force = spec().refresh.force,
                          .client_request_token =
                              clientToken(uid, g.entry.name, token_key, "rollback-" + previous)}});
    } else {
      aws_actions_.push_back(StartInstanceRefresh{
          .group = g.entry.name,
          .launch_template_id = g.lt_id,
          .launch_template_name = g.lt_name,
          .version = previous,
          .min_healthy_percentage = spec().self_managed.min_healthy_percentage,
          .instance_warmup_seconds = static_cast<int>(
              std::chrono::duration_cast<std::chrono::seconds>(spec().self_managed.instance_warmup)
                  .count()),
          .rollback = true});
    }
    tail_actions_.push_back(
        RecordEvent{.type = kube::EventType::Warning,
                    .reason = "RollbackStarted",
                    .action = "Rollback",
                    .note = fmt::format("{} {}: rolling back to launch template version {}",
                                        toString(g.entry.kind), g.entry.name, previous)});
    poll_ = true;
  }
}

void Decider::conditionsAndState() {
  int on_target = 0;
  int managed = 0;
  int updating = 0;
  for (const GroupPlan& p : plans_) {
    Phase ph = p.entry.phase;
    if (ph == Phase::Excluded || ph == Phase::Skipped) {
      continue;
    }
    ++managed;
    if (ph == Phase::UpToDate || ph == Phase::Succeeded) {
      ++on_target;
    }
    if (ph == Phase::Updating) {
      ++updating;
    }
    if (ph == Phase::Pending && !p.startable && p.entry.message.rfind("waiting", 0) == 0) {
      poll_ = true;  // blocked by an update we do not own; look again soon
    }
  }
  if (updating > 0) {
    poll_ = true;
  }
  status_.updated = fmt::format("{}/{}", on_target, managed);
  const int64_t gen = r_.metadata.generation;
  auto set = [&](std::string_view type, std::string_view st, std::string reason,
                 std::string message) {
    kube::setCondition(status_.conditions,
                       {.type = std::string(type),
                        .status = std::string(st),
                        .reason = std::move(reason),
                        .message = std::move(message)},
                       gen, now_);
  };
  std::string summary = fmt::format("{} of {} node groups run {}", on_target, managed, target_);
  if (halted_by_ != nullptr) {
    status_.state = std::string(kStateStalled);
    status_.last_run_status = "failed";
    std::string msg = fmt::format(
        "node group {} failed on {}: {}; no new group starts until the spec or the "
        "target image changes",
        halted_by_->entry.name, target_, halted_by_->entry.message);
    set(kStalled, kube::kConditionTrue, "NodegroupFailed", msg);
    set(kReady, kube::kConditionFalse, "NodegroupFailed", summary);
    set(kProgressing, kube::kConditionFalse, "RolloutHalted", msg);
  } else if (on_target == managed) {
    status_.state = std::string(kStateReady);
    status_.last_run_status = "completed";
    set(kReady, kube::kConditionTrue, "RolloutComplete", summary);
    set(kProgressing, kube::kConditionFalse, "RolloutComplete", summary);
    set(kStalled, kube::kConditionFalse, "RolloutComplete", summary);
  } else if (spec().paused) {
    status_.state = std::string(kStatePaused);
    status_.last_run_status = "paused";
    set(kReady, kube::kConditionFalse, "Paused", summary);
    set(kProgressing, updating > 0 ? kube::kConditionTrue : kube::kConditionFalse, "Paused",
        updating > 0 ? fmt::format("paused: finishing {} update(s) in flight, starting no new ones",
                                   updating)
                     : "paused: no group is updating and none will start");
    set(kStalled, kube::kConditionFalse, "Paused", summary);
  } else {
    status_.state = std::string(kStateRolling);
    status_.last_run_status = "rolling";
    std::vector<std::string> names;
    for (const GroupPlan& p : plans_) {
      if (p.entry.phase == Phase::Updating) {
        names.push_back(p.entry.name);
      }
    }
    set(kReady, kube::kConditionFalse, "Rolling", summary);
    set(kProgressing, kube::kConditionTrue, "Rolling",
        names.empty() ? summary : fmt::format("{}; updating: {}", summary, fmt::join(names, ", ")));
    set(kStalled, kube::kConditionFalse, "Rolling", summary);
  }
}

void Decider::emit() {
  const RefresherStatus& old = r_.status;
  // Per-group transitions.
  for (const GroupPlan& p : plans_) {
    bool changed = p.old == nullptr || p.old->phase != p.entry.phase ||
                   p.old->target_image != p.entry.target_image;
    if (!changed) {
      continue;
    }
    const std::string who = fmt::format("{} {}", toString(p.entry.kind), p.entry.name);
    if (p.entry.phase == Phase::Failed) {
      tail_actions_.push_back(RecordEvent{.type = kube::EventType::Warning,
                                          .reason = "UpdateFailed",
                                          .action = "Rollout",
                                          .note = fmt::format("{}: {}", who, p.entry.message)});
      tail_actions_.push_back(Notify{
          notify::Notification{.title = "Node group update failed",
                               .kind = std::string(kKind),
                               .object = r_.metadata.ns + "/" + r_.metadata.name,
                               .state = status_.state,
                               .severity = notify::Severity::Error,
                               .fields = {{"Node group", p.entry.name}, {"Target AMI", target_}},
                               .message = p.entry.message}});
    } else if (p.entry.phase == Phase::Succeeded) {
      tail_actions_.push_back(RecordEvent{.type = kube::EventType::Normal,
                                          .reason = "UpdateSucceeded",
                                          .action = "Rollout",
                                          .note = fmt::format("{}: {}", who, p.entry.message)});
    } else if (p.entry.phase == Phase::Skipped) {
      tail_actions_.push_back(RecordEvent{.type = kube::EventType::Normal,
                                          .reason = "NodegroupSkipped",
                                          .action = "Rollout",
                                          .note = fmt::format("{}: {}", who, p.entry.message)});
    }
    if (p.rolled_in) {
      tail_actions_.push_back(
          RecordMetric{.kind = MetricKind::GroupRolled, .elapsed = *p.rolled_in});
    }
  }
  // Rollout-level transitions.
  bool rollout_known = false;
  for (const NodegroupStatus& ng : old.nodegroups) {
    if (ng.target_image == target_ && (ng.phase == Phase::Updating ||
                                       ng.phase == Phase::Succeeded || ng.phase == Phase::Failed)) {
      rollout_known = true;
    }
  }
  const std::string object = r_.metadata.ns + "/" + r_.metadata.name;
  if (!started_.empty() && !rollout_known) {
    tail_actions_.push_back(RecordMetric{.kind = MetricKind::RolloutStarted});
    tail_actions_.push_back(Notify{notify::Notification{
        .title = "Rollout started",
        .kind = std::string(kKind),
        .object = object,
        .state = status_.state,
        .severity = notify::Severity::Info,
        .fields = {{"Target AMI", target_}, {"Cluster", spec().cluster_name}},
        .message = fmt::format("Rolling {} node groups of {} onto {}; first: {}",
                               status_.updated.substr(status_.updated.find('/') + 1),
                               spec().cluster_name, target_, fmt::join(started_, ", "))}});
  }
  bool was_halted = old.state == kStateStalled && old.target_ami == target_;
  if (halted_by_ != nullptr && !was_halted) {
    tail_actions_.push_back(RecordMetric{.kind = MetricKind::RolloutFailed});
  }
  bool any_succeeded = std::any_of(plans_.begin(), plans_.end(), [](const GroupPlan& p) {
    return p.entry.phase == Phase::Succeeded;
  });
  if (status_.state == kStateReady && old.state != kStateReady && any_succeeded) {
    tail_actions_.push_back(RecordMetric{.kind = MetricKind::RolloutFinished});
    tail_actions_.push_back(
        RecordEvent{.type = kube::EventType::Normal,
                    .reason = "RolloutComplete",
                    .action = "Rollout",
                    .note = fmt::format("{} node groups run {}", status_.updated, target_)});
    tail_actions_.push_back(Notify{notify::Notification{
        .title = "Rollout finished",
        .kind = std::string(kKind),
        .object = object,
        .state = status_.state,
        .severity = notify::Severity::Success,
        .fields = {{"Target AMI", target_}, {"Node groups", status_.updated}},
        .message = fmt::format("Every node group of {} runs {}", spec().cluster_name, target_)}});
  }
}

// Writes the status when it differs; lastRun moves only with a real change.
void finishStatus(const RefresherStatus& old, RefresherStatus& next, bool acted, TimePoint now,
                  Decision& d) {
  next.last_run = old.last_run;
  if (acted || !(next == old)) {
    next.last_run = std::chrono::floor<std::chrono::seconds>(now);
    d.actions.insert(d.actions.begin(), PatchStatus{next});
  }
}

void setCondition(RefresherStatus& s, std::string_view type, std::string_view st,
                  std::string reason, std::string message, int64_t gen, TimePoint now) {
  kube::setCondition(s.conditions,
                     {.type = std::string(type),
                      .status = std::string(st),
                      .reason = std::move(reason),
                      .message = std::move(message)},
                     gen, now);
}

Decision Decider::run() {
  status_ = r_.status;
  const int64_t gen = r_.metadata.generation;
  status_.observed_generation = gen;
  if (!r_.spec) {
    status_.state = std::string(kStateStalled);
    status_.last_run_status = "invalid";
    bool was = kube::isConditionTrue(r_.status.conditions, kStalled);
    const kube::Condition* c = kube::findCondition(r_.status.conditions, kStalled);
    setCondition(status_, kStalled, kube::kConditionTrue, "InvalidSpec", r_.spec_error, gen, now_);
    setCondition(status_, kReady, kube::kConditionFalse, "InvalidSpec", r_.spec_error, gen, now_);
    setCondition(status_, kProgressing, kube::kConditionFalse, "InvalidSpec", r_.spec_error, gen,
                 now_);
    if (!was || c == nullptr || c->message != r_.spec_error) {
      d_.actions.push_back(RecordEvent{.type = kube::EventType::Warning,
                                       .reason = "InvalidSpec",
                                       .action = "Validate",
                                       .note = r_.spec_error});
    }
    finishStatus(r_.status, status_, false, now_, d_);
    d_.requeue_after.reset();  // the next spec change brings the object back
    return d_;
  }
  spec_changed_ = r_.status.observed_generation != gen;
  ami::Target target = o_.target ? selectRefresherTarget(spec(), *o_.target, now_)
                                 : ami::Target{.explanation = "not looked up"};
  if (!target.image) {
    status_.state = std::string(kStatePending);
    status_.last_run_status = "waiting";
    status_.target_ami.clear();
    status_.target_expires_at.reset();
    const kube::Condition* c = kube::findCondition(r_.status.conditions, kReady);
    bool changed =
        c == nullptr || c->reason != "NoEligibleImage" || c->message != target.explanation;
    setCondition(status_, kReady, kube::kConditionFalse, "NoEligibleImage", target.explanation, gen,
                 now_);
    setCondition(status_, kProgressing, kube::kConditionFalse, "NoEligibleImage",
                 "no eligible image to roll out", gen, now_);
    setCondition(status_, kStalled, kube::kConditionFalse, "NoEligibleImage",
                 "waiting for an eligible image", gen, now_);
    if (changed) {
      d_.actions.push_back(RecordEvent{.type = kube::EventType::Warning,
                                       .reason = "NoEligibleImage",
                                       .action = "SelectImage",
                                       .note = target.explanation});
    }
    finishStatus(r_.status, status_, false, now_, d_);
    d_.requeue_after = spec().controller_timer;
    return d_;
  }
  target_ = target.image->id;
  status_.target_ami = target_;
  status_.target_expires_at = target.verdict.expires_at;
  if (r_.status.target_ami != target_) {
    tail_actions_.push_back(RecordEvent{.type = kube::EventType::Normal,
                                        .reason = "TargetSelected",
                                        .action = "SelectImage",
                                        .note = target.explanation});
  }
  for (const ManagedGroupObservation& g : o_.managed) {
    plans_.push_back(planManaged(g));
  }
  if (spec().self_managed.enabled) {
    for (const SelfManagedGroupObservation& g : o_.self_managed) {
      plans_.push_back(planSelfManaged(g));
    }
  }
  std::sort(plans_.begin(), plans_.end(), [](const GroupPlan& a, const GroupPlan& b) {
    return std::tie(a.entry.kind, a.entry.name) < std::tie(b.entry.kind, b.entry.name);
  });
  schedule();
  conditionsAndState();
  status_.nodegroups.clear();
  for (const GroupPlan& p : plans_) {
    status_.nodegroups.push_back(p.entry);
  }
  emit();
  d_.actions.insert(d_.actions.end(), aws_actions_.begin(), aws_actions_.end());
  d_.actions.insert(d_.actions.end(), tail_actions_.begin(), tail_actions_.end());
  finishStatus(r_.status, status_, !aws_actions_.empty(), now_, d_);
  d_.requeue_after =
      poll_ ? std::min(kPollInterval, spec().controller_timer) : spec().controller_timer;
  return d_;
}

}  // namespace

std::string clientToken(std::string_view uid, std::string_view group, std::string_view image,
                        std::string_view purpose) {
  std::string digest = aws::sha256Hex(fmt::format("{}/{}/{}/{}", uid, group, image, purpose));
  return "opsy-" + digest.substr(0, 48);
}

Decision decide(const Observed& observed, TimePoint now) {
  Decider decider(observed, now);
  return decider.run();
}

}  // namespace opsy::ami_refresh
