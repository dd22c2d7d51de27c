#include "ami-refresh-controller/decide.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <tuple>

#include "ami-refresh-controller/canary.h"
#include "ami-refresh-controller/drain.h"
#include "ami-refresh-controller/group_plan.h"
#include "opsy/ami/eligibility.h"
#include "opsy/aws/sigv4.h"
#include "opsy/core/duration.h"
#include "opsy/core/time_format.h"
#include "opsy/kube/conditions.h"
#include "opsy/kube/selector.h"

namespace opsy::ami_refresh {

namespace {

// spec.builderRef: the builder's active image, confirmed in EC2 and eligible as spec.ami is.
ami::Target selectBuilderImage(const Spec& spec, const TargetObservation& t, TimePoint now) {
  ami::Target target;
  const std::string builder = "PackerBuilder " + spec.builder_ref->key();
  if (!t.builder || !t.builder->found) {
    target.explanation = builder + " not found";
    return target;
  }
  if (t.builder->image_id.empty()) {
    target.explanation = builder + " has no built image yet";
    return target;
  }
  const std::string& id = t.builder->imageFor(spec.region);
  auto it = std::find_if(t.matched.begin(), t.matched.end(),
                         [&](const aws::Image& i) { return i.id == id; });
  if (it == t.matched.end()) {
    target.explanation = fmt::format("{} of {} was not found in {}", id, builder, spec.region);
    if (!t.builder->region.empty() && t.builder->region != spec.region) {
      std::vector<std::string> copies;
      for (const BuilderObservation::Copy& c : t.builder->copies) {
        copies.push_back(c.region);
      }
      target.explanation += copies.empty()
                                ? fmt::format(" (the builder builds in {})", t.builder->region)
                                : fmt::format(" (the builder builds in {} and copies to {})",
                                              t.builder->region, fmt::join(copies, ", "));
    }
    return target;
  }
  // evaluate() also refuses an image not tagged status=active, so a deprecated build is never
  // rolled even while the builder still names it.
  target.verdict = ami::evaluate(*it, spec.expires_in, now, spec.min_image_age);
  target.changes_at = target.verdict.eligible_at;
  if (target.verdict.eligible) {
    target.image = *it;
    target.explanation = fmt::format("{} (the active image of {}) is eligible", id, builder);
  } else {
    target.explanation = fmt::format("{}: {}", builder, target.verdict.reason);
  }
  return target;
}

}  // namespace

const std::string& BuilderObservation::imageFor(std::string_view where) const {
  for (const Copy& c : copies) {
    if (c.region == where && where != region) {
      return c.image_id;
    }
  }
  return image_id;
}

ami::Target selectRefresherTarget(const Spec& spec, const TargetObservation& t, TimePoint now) {
  if (spec.builder_ref) {
    return selectBuilderImage(spec, t, now);
  }
  if (!spec.ami) {
    return ami::selectTarget(t.matched, t.derived, spec.expires_in, now, spec.min_image_age);
  }
  ami::Target target;
  auto it = std::find_if(t.matched.begin(), t.matched.end(),
                         [&](const aws::Image& i) { return i.id == *spec.ami; });
  if (it == t.matched.end()) {
    target.explanation = fmt::format("{} was not found in {}", *spec.ami, spec.region);
    return target;
  }
  target.verdict = ami::evaluate(*it, spec.expires_in, now, spec.min_image_age);
  target.changes_at = target.verdict.eligible_at;
  if (target.verdict.eligible) {
    target.image = *it;
    target.explanation = fmt::format("{} is eligible", it->id);
  } else {
    target.explanation = target.verdict.reason;
  }
  return target;
}

bool wantsGroups(const Spec& spec, const TargetObservation& target, TimePoint now) {
  return selectRefresherTarget(spec, target, now).image.has_value();
}

const std::string& groupOf(const AwsAction& action) {
  return std::visit(
      controller::Overloaded{
          [](const RollbackNodegroup& a) -> const std::string& { return a.update.group; },
          [](const auto& a) -> const std::string& { return a.group; },
      },
      action);
}

bool isDrainStep(const AwsAction& action) {
  if (const auto* hook = std::get_if<EnsureLifecycleHook>(&action)) {
    return hook->during_drain;
  }
  return std::holds_alternative<CordonNode>(action) || std::holds_alternative<EvictPod>(action) ||
         std::holds_alternative<RecordLifecycleHeartbeat>(action) ||
         std::holds_alternative<CompleteLifecycleAction>(action) ||
         std::holds_alternative<CancelInstanceRefresh>(action);
}

std::string clientToken(std::string_view uid, std::string_view group, std::string_view image,
                        std::string_view purpose) {
  std::string digest = aws::sha256Hex(fmt::format("{}/{}/{}/{}", uid, group, image, purpose));
  return "opsy-" + digest.substr(0, 48);
}

bool peerComesFirst(const Peer& peer, const kube::ObjectMeta& metadata) {
  const TimePoint never = TimePoint::max();
  return std::make_tuple(peer.created.value_or(never), std::string_view(peer.ns),
                         std::string_view(peer.name)) <
         std::make_tuple(metadata.creation_timestamp.value_or(never), std::string_view(metadata.ns),
                         std::string_view(metadata.name));
}

std::optional<std::string> sharedGroup(const Peer& peer, const Spec& spec,
                                       const std::vector<GroupObservation>& groups) {
  for (const GroupObservation& g : groups) {
    if (g.kind == GroupKind::NodeClass) {
      if (!spec.karpenter || !peer.karpenter || !g.node_class || !g.node_class->found) {
        continue;
      }
      const KarpenterConfig& k = *peer.karpenter;
      bool peer_selects = false;
      if (!k.names.empty()) {
        peer_selects = std::find(k.names.begin(), k.names.end(), g.name) != k.names.end();
      } else if (auto selector = kube::LabelSelector::parse(k.selector)) {
        peer_selects = selector->matches(g.node_class->labels);
      }
      if (peer_selects) {
        return g.name;
      }
      continue;
    }
    if (g.kind == GroupKind::SelfManaged && (!peer.self_managed || !spec.self_managed.enabled)) {
      continue;
    }
    // A group whose image EKS chooses (no launch template) is never touched by either.
    if (!g.launch_template) {
      continue;
    }
    if (excludedBy(spec, g.name)) {
      continue;
    }
    bool peer_excludes = std::any_of(peer.exclude.begin(), peer.exclude.end(),
                                     [&](const std::string& e) { return globMatch(e, g.name); });
    if (!peer_excludes) {
      return g.name;
    }
  }
  return std::nullopt;
}

namespace {

constexpr std::string_view kKind = "AMIRefresher";
constexpr std::string_view kReady = kube::kConditionReady;
constexpr std::string_view kProgressing = kube::kConditionProgressing;
constexpr std::string_view kStalled = kube::kConditionStalled;

// Why spec.karpenter cannot be served (docs/troubleshooting.md).
constexpr std::string_view kReasonKarpenterDisabled = "KarpenterDisabled";
constexpr std::string_view kReasonKarpenterNotInstalled = "KarpenterNotInstalled";

// The amiSelectorTerms that pin a node class to `image`.
std::string pinTerms(const std::string& image) {
  return fmt::format(R"([{{"id":"{}"}}])", image);
}

int seconds(Duration d) {
  return static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

// A service's error as the status quotes it: masked like a log line, and a few lines at most.
std::string errorText(const Error& e) {
  std::string text = e.provider_code.empty() ? e.message : e.provider_code + ": " + e.message;
  return controller::quoteServiceError(text);
}

class Decider {
 public:
  Decider(const Observed& o, TimePoint now, const Outcomes* outcomes)
      : o_(o), r_(o.refresher), now_(now), outcomes_(outcomes) {}

  Decision run();

 private:
  const Spec& spec() const { return *r_.spec; }
  const std::string object() const { return r_.metadata.ns + "/" + r_.metadata.name; }

  void event(kube::EventType type, std::string reason, std::string action, std::string note) {
    tail_.push_back(RecordEvent{.type = type,
                                .reason = std::move(reason),
                                .action = std::move(action),
                                .note = std::move(note)});
  }
  void notify(std::string title, notify::Severity severity,
              std::vector<std::pair<std::string, std::string>> fields, std::string message) {
    tail_.push_back(Notify{.destination = spec().notifier,
                           .region = spec().region,
                           .notification = {.title = std::move(title),
                                            .kind = std::string(kKind),
                                            .object = object(),
                                            .state = status_.state,
                                            .severity = severity,
                                            .fields = std::move(fields),
                                            .message = std::move(message)}});
  }

  Decision invalidSpec();
  Decision failed(controller::Failure f, std::optional<Error> retry);
  Decision noTarget(const ami::Target& target);
  // A group this refresher would manage that an earlier refresher manages too: the later one
  // touches nothing.
  std::optional<controller::Failure> conflict() const;
  // `d`, or sooner when a too-young image becomes old enough (spec.minImageAge) before then.
  Duration untilTargetChange(Duration d) const;
  GroupPlan* plan(const std::string& group);
  void findHalt();
  void schedule();
  // Plan mode: every group's next step written down, no AWS call.
  void planOnly(const std::vector<GroupPlan*>& queue, int slots);
  std::string nextAction(const GroupPlan& g) const;
  void start(GroupPlan& g);
  void act(GroupPlan& g);
  void rollback(GroupPlan& g);
  // Self-managed groups we refreshed with instances in Terminating:Wait: their drains.
  void drain();
  void foldDrainStep(GroupPlan& g, size_t i, const ActionOutcome& out);
  // The group's message with its drains' summary after it.
  void showDrains(GroupPlan& g);
  // Set when a node drains or a refresh runs against our hook: look again this soon.
  std::optional<Duration> drain_poll_;
  void fold();
  void onError(GroupPlan& g, const Error& e, std::string_view what);
  void conditionsAndState();
  void emit();
  Decision finish(bool acted);

  const Observed& o_;
  const AmiRefresher& r_;
  TimePoint now_;
  const Outcomes* outcomes_;
  Decision d_;
  RefresherStatus status_;
  std::optional<kube::ConditionWriter> conditions_;
  std::string target_;
  bool spec_changed_ = false;
  std::vector<GroupPlan> plans_;
  std::vector<Action> tail_;
  std::vector<std::string> started_;  // groups whose start was recorded this time
  bool poll_ = false;
  const GroupPlan* halted_by_ = nullptr;
  std::optional<TimePoint> target_changes_at_;
  // The canary groups of this target, and why the other groups wait for them ("" when they
  // need not).
  std::vector<std::string> canary_;
  std::string canary_block_;
  bool canary_failed_ = false;
  void canaryGate();
  bool isCanary(const std::string& group) const {
    return std::find(canary_.begin(), canary_.end(), group) != canary_.end();
  }
  // Set when the spec has maintenance windows.
  std::optional<WindowState> windows_;
  bool waits_for_window_ = false;  // some start or rollback waits for a window to open
  // Outside every maintenance window: why a start or rollback waits ("" when it need not).
  std::string windowBlock() const;
  // `d`, or sooner when a maintenance window opens before then and something waits for it.
  Duration untilWindow(Duration d) const;
};

std::string Decider::windowBlock() const {
  if (!windows_ || windows_->open) {
    return "";
  }
  return windows_->next_opens_at
             ? fmt::format("outside the maintenance windows; the next opens at {}",
                           formatRfc3339(*windows_->next_opens_at))
             : "outside the maintenance windows, and none opens again";
}

Duration Decider::untilWindow(Duration d) const {
  if (!waits_for_window_ || !windows_ || !windows_->next_opens_at) {
    return d;
  }
  Duration until = std::chrono::ceil<std::chrono::seconds>(*windows_->next_opens_at - now_);
  return std::clamp(until, Duration(std::chrono::seconds(1)), d);
}

Duration Decider::untilTargetChange(Duration d) const {
  if (!target_changes_at_) {
    return d;
  }
  Duration until = std::chrono::ceil<std::chrono::seconds>(*target_changes_at_ - now_);
  return std::clamp(until, Duration(std::chrono::seconds(1)), d);
}

GroupPlan* Decider::plan(const std::string& group) {
  for (GroupPlan& p : plans_) {
    if (p.entry.name == group) {
      return &p;
    }
  }
  return nullptr;
}

void Decider::findHalt() {
  halted_by_ = nullptr;
  for (const GroupPlan& p : plans_) {
    if (p.entry.phase == Phase::Failed && p.entry.target_image == target_) {
      halted_by_ = &p;
      return;
    }
  }
}

// A group's start is recorded first (Updating, the version it runs now), with no AWS call: the
// next reconcile finds it Updating with no update and makes the calls (act()), so whatever AWS
// did before a crash is always matched by intent on record.
void Decider::start(GroupPlan& g) {
  g.entry.update_id.clear();
  started_.push_back(g.entry.name);
  if (g.entry.kind == GroupKind::NodeClass) {
    g.entry.previous_ami_selector_terms = g.current_version;
    setPhase(g, Phase::Updating,
             fmt::format("pinning amiSelectorTerms to {} (from {})", target_, g.current_version),
             now_);
    g.entry.last_transition_time = now_;
    return;
  }
  g.entry.previous_launch_template_version = g.current_version;
  setPhase(
      g, Phase::Updating,
      fmt::format("updating to {} from launch template version {}", target_, g.current_version),
      now_);
  g.entry.last_transition_time = now_;
}

void Decider::act(GroupPlan& g) {
  if (g.entry.kind == GroupKind::NodeClass) {
    if (g.entry.previous_ami_selector_terms.empty()) {
      g.entry.previous_ami_selector_terms = g.current_version;
    }
    setPhase(g, Phase::Updating,
             fmt::format("pinning amiSelectorTerms to {} (from {})", target_,
                         g.entry.previous_ami_selector_terms),
             now_);
    d_.aws.push_back(PinNodeClass{.group = g.entry.name, .terms = pinTerms(target_)});
    return;
  }
  if (g.entry.previous_launch_template_version.empty()) {
    g.entry.previous_launch_template_version = g.current_version;
  }
  g.entry.update_id.clear();
  setPhase(
      g, Phase::Updating,
      fmt::format("updating to {} from launch template version {}", target_, g.current_version),
      now_);
  const std::string& uid = r_.metadata.uid;
  // The generation is part of the token: after a spec change a failed group is tried again, and
  // must not get the failed update back from EKS's idempotency cache.
  const std::string token_key = fmt::format("{}@{}", target_, r_.metadata.generation);
  const RefreshConfig& rc = spec().refresh;
  if (g.entry.kind == GroupKind::Managed && g.config_differs) {
    // EKS runs one update per node group at a time, so the limit goes in first, on its own.
    std::string wanted =
        rc.max_unavailable
            ? fmt::format("maxUnavailable={}", *rc.max_unavailable)
            : fmt::format("maxUnavailablePercentage={}", rc.max_unavailable_percentage.value_or(0));
    g.entry.message = fmt::format("setting updateConfig {} before updating to {}", wanted, target_);
    d_.aws.push_back(UpdateNodegroupConfig{
        .cluster_name = spec().cluster_name,
        .group = g.entry.name,
        .max_unavailable = rc.max_unavailable,
        .max_unavailable_percentage = rc.max_unavailable_percentage,
        .client_request_token = clientToken(uid, g.entry.name, token_key, "config-" + wanted)});
    return;
  }
  if (g.entry.kind == GroupKind::SelfManaged && spec().self_managed.drain.enabled) {
    // The hook goes in first: an instance the refresh replaces must wait for its drain.
    const DrainConfig& drain = spec().self_managed.drain;
    d_.aws.push_back(
        EnsureLifecycleHook{.group = g.entry.name,
                            .hook_name = drain.hook_name,
                            .heartbeat_timeout_seconds = seconds(drain.heartbeat_timeout),
                            .default_result = drain.default_result});
  }
  d_.aws.push_back(CreateLaunchTemplateVersion{
      .group = g.entry.name,
      .kind = g.entry.kind,
      .launch_template_id = g.lt_id,
      .launch_template_name = g.lt_name,
      .source_version = g.current_version,
      .image_id = target_,
      .client_token = clientToken(uid, g.entry.name, token_key, "launch-template-version")});
  if (g.entry.kind == GroupKind::Managed) {
    d_.aws.push_back(UpdateNodegroup{
        .cluster_name = spec().cluster_name,
        .group = g.entry.name,
        .launch_template_id = g.lt_id,
        .launch_template_name = g.lt_name,
        .force = rc.force,
        .client_request_token = clientToken(uid, g.entry.name, token_key, "update")});
  } else {
    d_.aws.push_back(StartInstanceRefresh{
        .group = g.entry.name,
        .launch_template_id = g.lt_id,
        .launch_template_name = g.lt_name,
        .min_healthy_percentage = spec().self_managed.min_healthy_percentage,
        .instance_warmup_seconds = seconds(spec().self_managed.instance_warmup)});
  }
}

void Decider::rollback(GroupPlan& g) {
  if (g.entry.kind == GroupKind::NodeClass) {
    d_.aws.push_back(PinNodeClass{
        .group = g.entry.name, .terms = g.entry.previous_ami_selector_terms, .rollback = true});
    poll_ = true;
    return;
  }
  const std::string& previous = g.entry.previous_launch_template_version;
  const std::string token_key = fmt::format("{}@{}", target_, r_.metadata.generation);
  if (g.entry.kind == GroupKind::Managed) {
    d_.aws.push_back(RollbackNodegroup{UpdateNodegroup{
        .cluster_name = spec().cluster_name,
        .group = g.entry.name,
        .launch_template_id = g.lt_id,
        .launch_template_name = g.lt_name,
        .version = previous,
        .force = spec().refresh.force,
        .client_request_token =
            clientToken(r_.metadata.uid, g.entry.name, token_key, "rollback-" + previous)}});
  } else {
    d_.aws.push_back(StartInstanceRefresh{
        .group = g.entry.name,
        .launch_template_id = g.lt_id,
        .launch_template_name = g.lt_name,
        .version = previous,
        .min_healthy_percentage = spec().self_managed.min_healthy_percentage,
        .instance_warmup_seconds = seconds(spec().self_managed.instance_warmup),
        .rollback = true});
  }
  poll_ = true;
}

// The canary of this target: its groups roll first (as any group, within the limits); once
// their updates have ended, their Nodes must be Ready on the target within readyTimeout and stay
// so for the soak; only then do the other groups start. A canary that fails is a failed group:
// the rollout halts and, with rollbackOnFailure, the canary is rolled back.
void Decider::canaryGate() {
  if (!spec().rollout.canary) {
    status_.canary.reset();
    return;
  }
  const CanaryConfig& cfg = *spec().rollout.canary;
  const bool same = r_.status.canary && r_.status.canary->target_image == target_;
  CanaryStatus c =
      same ? *r_.status.canary
           : CanaryStatus{.target_image = target_, .phase = std::string(kCanaryRolling)};
  const std::string old_phase = same ? r_.status.canary->phase : "";
  if (c.phase == kCanaryFailed && spec_changed_) {
    // A spec change gives a failed group another try (planGroup): the canary starts over too.
    c = CanaryStatus{.target_image = target_, .phase = std::string(kCanaryRolling)};
  }
  if (c.phase == kCanaryRolling) {
    c.nodegroups = canaryGroups(cfg, spec(), o_.groups);
  }
  canary_ = c.nodegroups;
  std::vector<GroupPlan*> plans;
  std::vector<const GroupObservation*> observed;
  for (const std::string& name : canary_) {
    if (GroupPlan* p = plan(name)) {
      plans.push_back(p);
    }
    for (const GroupObservation& g : o_.groups) {
      if (g.name == name) {
        observed.push_back(&g);
      }
    }
  }
  auto fail = [&](std::string message) {
    c.phase = std::string(kCanaryFailed);
    c.message = std::move(message);
    for (GroupPlan* p : plans) {
      if (p->entry.phase == Phase::UpToDate || p->entry.phase == Phase::Succeeded) {
        setPhase(*p, Phase::Failed, "canary: " + c.message, now_);
      }
    }
    poll_ = true;  // the next look rolls the canary back when asked to
  };
  if (canary_.empty()) {
    c.phase = std::string(kCanaryFailed);
    c.message = "spec.rollout.canary matches no node group that can be rolled";
  }
  if (c.phase == kCanaryRolling) {
    const bool rolled = !plans.empty() && std::all_of(plans.begin(), plans.end(), [](auto* p) {
      return p->entry.phase == Phase::UpToDate || p->entry.phase == Phase::Succeeded;
    });
    if (rolled) {
      c.phase = std::string(kCanaryVerifying);
      c.verify_started_at = now_;
    } else {
      c.message = fmt::format("rolling the canary ({}) first", fmt::join(canary_, ", "));
    }
  }
  if (c.phase == kCanaryVerifying) {
    std::optional<std::string> problem = canaryNodesProblem(observed, target_);
    if (!problem) {
      c.phase = std::string(kCanarySoaking);
      c.soak_started_at = now_;
    } else if (now_ - c.verify_started_at.value_or(now_) >= cfg.ready_timeout) {
      fail(fmt::format("nodes not Ready on {} within readyTimeout {}: {}", target_,
                       formatDuration(cfg.ready_timeout), *problem));
    } else {
      c.message = "waiting for the canary's nodes: " + *problem;
      poll_ = true;
    }
  }
  if (c.phase == kCanarySoaking) {
    std::optional<std::string> problem = canaryNodesProblem(observed, target_);
    const TimePoint soak_end = c.soak_started_at.value_or(now_) + spec().rollout.soak;
    if (problem) {
      fail("failed during the soak: " + *problem);
    } else if (now_ >= soak_end) {
      c.phase = std::string(kCanaryPassed);
      c.message = fmt::format("every node of {} Ready on {} for {}", fmt::join(canary_, ", "),
                              target_, formatDuration(spec().rollout.soak));
    } else {
      c.message = fmt::format("soaking until {}: every node Ready on the target",
                              formatRfc3339(std::chrono::ceil<std::chrono::seconds>(soak_end)));
      poll_ = true;
    }
  }
  if (c.phase == kCanaryFailed) {
    canary_failed_ = true;
    canary_block_ = "the canary failed: " + c.message;
  } else if (c.phase != kCanaryPassed) {
    canary_block_ = "waiting for the canary: " + c.message;
  }
  if (c.phase != old_phase) {
    if (c.phase == kCanarySoaking) {
      event(kube::EventType::Normal, "CanarySoaking", "Canary",
            fmt::format("nodes of {} Ready on {}; soaking for {}", fmt::join(canary_, ", "),
                        target_, formatDuration(spec().rollout.soak)));
    } else if (c.phase == kCanaryPassed) {
      event(kube::EventType::Normal, "CanaryPassed", "Canary", c.message);
    } else if (c.phase == kCanaryFailed) {
      event(kube::EventType::Warning, "CanaryFailed", "Canary", c.message);
    }
  }
  status_.canary = std::move(c);
}

// What Apply would call for `g`, in order.
std::string Decider::nextAction(const GroupPlan& g) const {
  if (g.entry.kind == GroupKind::NodeClass) {
    return fmt::format("patch EC2NodeClass {} spec.amiSelectorTerms to {} (from {})", g.entry.name,
                       pinTerms(target_), g.current_version);
  }
  std::string create =
      fmt::format("CreateLaunchTemplateVersion ({} version {} with {})",
                  g.lt_id.empty() ? g.lt_name : g.lt_id, g.current_version, target_);
  if (g.entry.kind == GroupKind::SelfManaged) {
    return spec().self_managed.drain.enabled
               ? fmt::format(
                     "PutLifecycleHook {} (unless present), then {}, then "
                     "StartInstanceRefresh, draining each replaced node",
                     spec().self_managed.drain.hook_name, create)
               : create + ", then StartInstanceRefresh";
  }
  if (g.config_differs) {
    return "UpdateNodegroupConfig (refreshConfig's maxUnavailable), then " + create +
           ", then UpdateNodegroupVersion";
  }
  return create + ", then UpdateNodegroupVersion";
}

void Decider::planOnly(const std::vector<GroupPlan*>& queue, int slots) {
  const int limit = spec().refresh.max_concurrent_nodegroups;
  for (GroupPlan& p : plans_) {
    switch (p.entry.phase) {
      case Phase::UpToDate:
      case Phase::Succeeded: p.entry.next_step = "none: runs the target"; break;
      case Phase::Excluded: p.entry.next_step = "none: excluded"; break;
      case Phase::Skipped: p.entry.next_step = "none: skipped"; break;
      case Phase::Unknown: p.entry.next_step = "none until the group can be read"; break;
      case Phase::Updating:
        p.entry.next_step = fmt::format("wait for update {} to finish", p.entry.update_id);
        break;
      case Phase::Failed:
        p.entry.next_step = "none until the spec or the target image changes";
        break;
      case Phase::Pending:
        p.entry.next_step = p.waits_on_group ? "wait for the group: " + p.entry.message : "";
        break;
    }
    if (p.rollback) {
      p.entry.next_step =
          p.entry.kind == GroupKind::NodeClass
              ? fmt::format("re-pin amiSelectorTerms to {}", p.entry.previous_ami_selector_terms)
              : fmt::format("roll back to launch template version {}",
                            p.entry.previous_launch_template_version);
    }
  }
  for (GroupPlan* p : queue) {
    std::string action = nextAction(*p);
    std::string step;
    if (halted_by_ != nullptr) {
      step = fmt::format("none: rollout halted ({} failed)", halted_by_->entry.name);
    } else if (spec().paused) {
      step = "none while spec.paused";
    } else if (!canary_block_.empty() && !isCanary(p->entry.name)) {
      step = fmt::format("{}, then {}", canary_block_, action);
    } else if (windows_ && !windows_->open) {
      step = windows_->next_opens_at
                 ? fmt::format("wait for the maintenance window opening at {}, then {}",
                               formatRfc3339(*windows_->next_opens_at), action)
                 : "none: no maintenance window opens again";
      waits_for_window_ = true;
    } else if (slots <= 0) {
      step =
          fmt::format("wait for a free slot (maxConcurrentNodegroups={}), then {}", limit, action);
    } else {
      --slots;
      step = action;
    }
    p->entry.update_id.clear();
    p->entry.next_step = step;
    setPhase(*p, Phase::Pending,
             p->entry.kind == GroupKind::NodeClass
                 ? fmt::format("plan: would pin amiSelectorTerms to {} (now {})", target_,
                               p->current_version.empty() ? "unset" : p->current_version)
                 : fmt::format(
                       "plan: would update from {} to {}",
                       p->entry.current_image.empty() ? "an unknown image" : p->entry.current_image,
                       target_),
             now_);
  }
}

void Decider::schedule() {
  findHalt();
  for (GroupPlan& p : plans_) {
    p.entry.next_step.clear();
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
  if (spec().mode == Mode::Plan) {
    planOnly(queue, slots);
    return;
  }
  const std::string window_block = windowBlock();
  for (GroupPlan* p : queue) {
    std::string blocked;
    if (halted_by_ != nullptr) {
      blocked = fmt::format("rollout halted: {} failed", halted_by_->entry.name);
    } else if (spec().paused) {
      blocked = "rollout paused (spec.paused)";
    } else if (!canary_block_.empty() && !isCanary(p->entry.name)) {
      blocked = canary_block_;
    } else if (!window_block.empty()) {
      blocked = window_block;
      waits_for_window_ = true;
    } else if (slots <= 0) {
      blocked = fmt::format("waiting for a free slot ({} of maxConcurrentNodegroups={} updating)",
                            limit - slots, limit);
    }
    if (!blocked.empty()) {
      if (p->restart) {
        p->entry.update_id.clear();
      }
      setPhase(*p, Phase::Pending, blocked, now_);
      continue;
    }
    --slots;
    if (p->restart) {
      act(*p);
    } else {
      start(*p);
    }
    poll_ = true;
  }
  for (GroupPlan& p : plans_) {
    if (!p.rollback) {
      continue;
    }
    if (!window_block.empty()) {
      // A rollback changes the group too: it waits for a window like an update.
      p.entry.message += "; the rollback waits: " + window_block;
      waits_for_window_ = true;
      continue;
    }
    rollback(p);
  }
}

// How often a self-managed group whose refresh runs against our hook is looked at: at least
// twice within half a heartbeat timeout, so an instance that starts waiting is seen in time.
Duration hookedRefreshPoll(const DrainConfig& config) {
  return std::min<Duration>(kPollInterval, config.heartbeat_timeout / 4);
}

void Decider::drain() {
  const DrainConfig& config = spec().self_managed.drain;
  if (!spec().self_managed.enabled || !config.enabled) {
    return;
  }
  for (GroupPlan& p : plans_) {
    if (p.entry.kind != GroupKind::SelfManaged || p.excluded) {
      continue;
    }
    const GroupObservation* g = nullptr;
    for (const GroupObservation& o : o_.groups) {
      if (o.kind == GroupKind::SelfManaged && o.name == p.entry.name) {
        g = &o;
      }
    }
    if (g == nullptr) {
      continue;
    }
    const bool ours = !p.entry.update_id.empty() || !p.entry.rollback_update_id.empty();
    if (g->update_running && ours) {
      // A refresh runs against our hook: its next waiting instance must be seen in time.
      drain_poll_ = std::min(drain_poll_.value_or(Duration::max()), hookedRefreshPoll(config));
    }
    // A rollout halted by a drain whose refresh is still running (the cancel failed): cancel
    // again until it is cancelled, or the refresh goes on taking instances.
    if (p.entry.phase == Phase::Failed && p.entry.message.starts_with(kDrainHaltPrefix) &&
        g->update_running && g->running_update_id == p.entry.update_id &&
        !p.entry.update_id.empty()) {
      d_.aws.push_back(CancelInstanceRefresh{.group = p.entry.name});
    }
    if (g->draining.empty()) {
      p.entry.drains.clear();
      p.entry.message = withoutDrainSummary(p.entry.message);
      continue;
    }
    const bool rolling_back = !p.entry.rollback_update_id.empty();
    DrainPlan plan =
        planDrain(*g, p.old != nullptr ? p.old->drains : std::vector<DrainStatus>{},
                  {.config = config,
                   .group = p.entry.name,
                   .refresh_id = rolling_back ? p.entry.rollback_update_id : p.entry.update_id,
                   .refresher = object(),
                   .may_halt = p.entry.phase == Phase::Updating && !rolling_back,
                   .now = now_});
    p.entry.drains = std::move(plan.drains);
    for (AwsAction& a : plan.actions) {
      d_.aws.push_back(std::move(a));
    }
    for (RecordEvent& e : plan.events) {
      tail_.push_back(std::move(e));
    }
    if (plan.halt) {
      setPhase(p, Phase::Failed, *plan.halt, now_);
    }
    showDrains(p);
    drain_poll_ = std::min(drain_poll_.value_or(Duration::max()), Duration(kDrainPollInterval));
  }
}

// The group's message, without an earlier drain summary, then the drains as they are now: the
// message is rewritten from itself on every reconcile, so the summary must never pile up.
void Decider::showDrains(GroupPlan& g) {
  const std::string base = withoutDrainSummary(g.entry.message);
  const std::string summary = drainSummary(g.entry.drains);
  g.entry.message = base.empty() || summary.empty() ? base + summary : base + "; " + summary;
}

void Decider::foldDrainStep(GroupPlan& g, size_t i, const ActionOutcome& out) {
  if (const auto* cancel = std::get_if<CancelInstanceRefresh>(&d_.aws[i]);
      cancel != nullptr && out.error && out.error->code != ErrorCode::NotFound &&
      isRetryable(*out.error) && !d_.retry) {
    d_.retry = Error(*out.error).context("cancel instance refresh of " + cancel->group);
  }
  for (RecordEvent& e : foldDrain(d_.aws[i], out, g.entry.drains, now_)) {
    tail_.push_back(std::move(e));
  }
  if (!g.entry.drains.empty()) {
    showDrains(g);
  }
}

// Routes an AWS failure: conflict -> the group waits; retryable -> the reconcile is retried with
// backoff (the group stays Updating, so the next look issues the call again); anything else -> the
// group fails, which halts the rollout.
void Decider::onError(GroupPlan& g, const Error& e, std::string_view what) {
  if (e.code == ErrorCode::Conflict) {
    g.entry.message = fmt::format("another update is running on the group ({}); waiting",
                                  e.provider_code.empty() ? e.message : e.provider_code);
    return;
  }
  if (isRetryable(e)) {
    if (!d_.retry) {
      d_.retry = Error(e).context(std::string(what));
    }
    return;
  }
  setPhase(g, Phase::Failed, fmt::format("{}: {}", what, errorText(e)), now_);
}

// Folds what the AWS calls did into the plans: update ids, versions, refusals.
void Decider::fold() {
  for (size_t i = 0; i < d_.aws.size() && i < outcomes_->size(); ++i) {
    const ActionOutcome& out = (*outcomes_)[i];
    GroupPlan* g = plan(groupOf(d_.aws[i]));
    if (g == nullptr || !out.attempted) {
      continue;
    }
    const std::string who = fmt::format("{} {}", toString(g->entry.kind), g->entry.name);
    std::visit(
        controller::Overloaded{
            [&](const CreateLaunchTemplateVersion&) {
              if (out.error) {
                onError(*g, *out.error, "create launch template version");
              }
            },
            [&](const UpdateNodegroupConfig& a) {
              if (out.error) {
                onError(*g, *out.error, "update node group config");
                return;
              }
              g->entry.update_id = out.value;
              g->entry.message = fmt::format(
                  "updateConfig change {} started; the version update follows", out.value);
              std::string wanted = a.max_unavailable
                                       ? fmt::format("maxUnavailable={}", *a.max_unavailable)
                                       : fmt::format("maxUnavailablePercentage={}",
                                                     a.max_unavailable_percentage.value_or(0));
              event(kube::EventType::Normal, "UpdateConfigStarted", "UpdateNodegroupConfig",
                    fmt::format("{}: setting updateConfig {} before rolling to {}", who, wanted,
                                target_));
            },
            [&](const UpdateNodegroup&) {
              if (out.error) {
                onError(*g, *out.error, "update node group version");
                return;
              }
              g->entry.update_id = out.value;
              g->entry.launch_template.version = out.version;
              g->entry.message = fmt::format("update {} to launch template version {} started",
                                             out.value, out.version);
              event(kube::EventType::Normal, "UpdateStarted", "UpdateNodegroupVersion",
                    fmt::format("{}: rolling to {} (launch template {} from version {})", who,
                                target_, g->entry.launch_template.id, g->current_version));
            },
            [&](const StartInstanceRefresh& a) {
              if (a.rollback) {
                if (out.error) {
                  if (out.error->code != ErrorCode::Conflict && isRetryable(*out.error) &&
                      !d_.retry) {
                    d_.retry = Error(*out.error).context("roll back auto scaling group");
                  }
                  return;
                }
                g->entry.rollback_update_id = out.value;
                g->entry.message +=
                    fmt::format("; rollback refresh {} to launch template version {} started",
                                out.value, out.version);
                event(
                    kube::EventType::Warning, "RollbackStarted", "Rollback",
                    fmt::format("{}: rolling back to launch template version {}", who, a.version));
                return;
              }
              if (out.error) {
                onError(*g, *out.error, "start instance refresh");
                return;
              }
              g->entry.update_id = out.value;
              g->entry.launch_template.version = out.version;
              g->entry.message =
                  fmt::format("instance refresh {} to launch template version {} started",
                              out.value, out.version);
              event(kube::EventType::Normal, "UpdateStarted", "StartInstanceRefresh",
                    fmt::format("{}: rolling to {} (launch template {} from version {})", who,
                                target_, g->entry.launch_template.id, g->current_version));
            },
            [&](const PinNodeClass& a) {
              if (a.rollback) {
                if (out.error) {
                  if (out.error->code != ErrorCode::Conflict && isRetryable(*out.error)) {
                    if (!d_.retry) {
                      d_.retry = Error(*out.error).context("re-pin EC2NodeClass");
                    }
                    return;
                  }
                  event(kube::EventType::Warning, "RollbackFailed", "Rollback",
                        fmt::format("{}: {}", who, out.error->message));
                  return;
                }
                g->entry.rollback_update_id = "re-pinned";
                g->entry.message += fmt::format("; re-pinned amiSelectorTerms to {}", a.terms);
                event(kube::EventType::Warning, "RollbackStarted", "Rollback",
                      fmt::format("{}: re-pinned amiSelectorTerms to {}", who, a.terms));
                return;
              }
              if (out.error) {
                onError(*g, *out.error, "patch EC2NodeClass");
                return;
              }
              g->entry.message =
                  fmt::format("pinned amiSelectorTerms to {}; waiting for Karpenter", a.terms);
              event(kube::EventType::Normal, "UpdateStarted", "PinNodeClass",
                    fmt::format("{}: pinned amiSelectorTerms to {} (was {})", who, a.terms,
                                g->entry.previous_ami_selector_terms));
            },
            [&](const EnsureLifecycleHook& a) {
              if (a.during_drain) {
                foldDrainStep(*g, i, out);
              } else if (out.error) {
                onError(*g, *out.error, "put lifecycle hook");
              }
            },
            [&](const CordonNode&) { foldDrainStep(*g, i, out); },
            [&](const EvictPod&) { foldDrainStep(*g, i, out); },
            [&](const RecordLifecycleHeartbeat&) { foldDrainStep(*g, i, out); },
            [&](const CompleteLifecycleAction&) { foldDrainStep(*g, i, out); },
            [&](const CancelInstanceRefresh&) { foldDrainStep(*g, i, out); },
            [&](const RollbackNodegroup& a) {
              if (out.error) {
                if (out.error->code == ErrorCode::Conflict) {
                  return;  // still busy; the next look tries again
                }
                if (isRetryable(*out.error)) {
                  if (!d_.retry) {
                    d_.retry = Error(*out.error).context("roll back node group");
                  }
                  return;
                }
                event(kube::EventType::Warning, "RollbackFailed", "Rollback",
                      fmt::format("{}: {}", a.update.group, out.error->message));
                return;
              }
              g->entry.rollback_update_id = out.value;
              g->entry.message += fmt::format("; rollback {} to launch template version {} started",
                                              out.value, a.update.version);
              event(kube::EventType::Warning, "RollbackStarted", "Rollback",
                    fmt::format("{}: rolling back to launch template version {}", who,
                                a.update.version));
            },
        },
        d_.aws[i]);
  }
  d_.aws.clear();
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
    if (ph == Phase::Pending && p.waits_on_group) {
      poll_ = true;  // blocked by an update we do not own; look again soon
    }
  }
  if (updating > 0) {
    poll_ = true;
  }
  status_.updated = fmt::format("{}/{}", on_target, managed);
  kube::ConditionWriter& set = *conditions_;
  std::string summary = fmt::format("{} of {} node groups run {}", on_target, managed, target_);
  if (halted_by_ != nullptr) {
    status_.state = std::string(kStateStalled);
    status_.last_run_status = "failed";
    std::string msg = fmt::format(
        "node group {} failed on {}: {}; no new group starts until the spec or the "
        "target image changes",
        halted_by_->entry.name, target_, halted_by_->entry.message);
    set.set(kStalled, kube::kConditionTrue, "NodegroupFailed", msg);
    set.set(kReady, kube::kConditionFalse, "NodegroupFailed", summary);
    set.set(kProgressing, kube::kConditionFalse, "RolloutHalted", msg);
  } else if (on_target == managed) {
    status_.state = std::string(kStateReady);
    status_.last_run_status = "completed";
    set.set(kReady, kube::kConditionTrue, "RolloutComplete", summary);
    set.set(kProgressing, kube::kConditionFalse, "RolloutComplete", summary);
    set.set(kStalled, kube::kConditionFalse, "RolloutComplete", summary);
  } else if (spec().mode == Mode::Plan) {
    status_.state = std::string(kStatePlanned);
    status_.last_run_status = "planned";
    std::vector<std::string> would;
    for (const GroupPlan& p : plans_) {
      if (p.entry.phase == Phase::Pending && !p.entry.next_step.empty() &&
          p.entry.next_step.rfind("none", 0) != 0 && !p.waits_on_group) {
        would.push_back(p.entry.name);
      }
    }
    std::string msg = fmt::format(
        "plan: {} of {} node groups would update to {}{}{}; spec.mode is Plan, so nothing is "
        "changed until it is Apply",
        would.size(), managed, target_, would.empty() ? "" : ": ", fmt::join(would, ", "));
    set.set(kReady, kube::kConditionFalse, "PlanMode", summary);
    set.set(kProgressing, updating > 0 ? kube::kConditionTrue : kube::kConditionFalse, "PlanMode",
            msg);
    set.set(kStalled, kube::kConditionFalse, "PlanMode", msg);
  } else if (spec().paused) {
    status_.state = std::string(kStatePaused);
    status_.last_run_status = "paused";
    set.set(kReady, kube::kConditionFalse, "Paused", summary);
    set.set(kProgressing, updating > 0 ? kube::kConditionTrue : kube::kConditionFalse, "Paused",
            updating > 0
                ? fmt::format("paused: finishing {} update(s) in flight, starting no new ones",
                              updating)
                : "paused: no group is updating and none will start");
    set.set(kStalled, kube::kConditionFalse, "Paused", summary);
  } else if (canary_failed_) {
    status_.state = std::string(kStateStalled);
    status_.last_run_status = "failed";
    set.set(kStalled, kube::kConditionTrue, "CanaryFailed", canary_block_);
    set.set(kReady, kube::kConditionFalse, "CanaryFailed", summary);
    set.set(kProgressing, kube::kConditionFalse, "CanaryFailed", canary_block_);
  } else if (updating == 0 && waits_for_window_) {
    status_.state = std::string(kStateWaiting);
    status_.last_run_status = "waiting";
    std::string msg = fmt::format("{}; no group starts: {}", summary, windowBlock());
    set.set(kReady, kube::kConditionFalse, "OutsideMaintenanceWindow", summary);
    set.set(kProgressing, kube::kConditionFalse, "OutsideMaintenanceWindow", msg);
    set.set(kStalled, kube::kConditionFalse, "OutsideMaintenanceWindow", msg);
  } else {
    status_.state = std::string(kStateRolling);
    status_.last_run_status = "rolling";
    std::vector<std::string> names;
    for (const GroupPlan& p : plans_) {
      if (p.entry.phase == Phase::Updating) {
        names.push_back(p.entry.name);
      }
    }
    const GroupPlan* unreadable = nullptr;
    for (const GroupPlan& p : plans_) {
      if (p.unreadable && unreadable == nullptr) {
        unreadable = &p;
      }
    }
    if (unreadable != nullptr) {
      // Ready says why a group is not on target when it is one that cannot be read.
      set.set(kReady, kube::kConditionFalse, unreadable->unreadable->reason,
              fmt::format("{}; {} {} {}", summary, groupNoun(unreadable->entry.kind),
                          unreadable->entry.name, unreadable->entry.message));
    } else {
      set.set(kReady, kube::kConditionFalse, "Rolling", summary);
    }
    if (names.empty() && !canary_block_.empty()) {
      set.set(kProgressing, kube::kConditionTrue, "Canary",
              fmt::format("{}; {}", summary, canary_block_));
    } else {
      set.set(kProgressing, kube::kConditionTrue, "Rolling",
              names.empty() ? summary
                            : fmt::format("{}; updating: {}", summary, fmt::join(names, ", ")));
    }
    set.set(kStalled, kube::kConditionFalse, "Rolling", summary);
  }
}

void Decider::emit() {
  const RefresherStatus& old = r_.status;
  // Per-group transitions.
  for (const GroupPlan& p : plans_) {
    if (spec().mode == Mode::Plan && p.entry.phase == Phase::Pending &&
        p.entry.next_step.rfind("none", 0) != 0 && !p.entry.next_step.empty() &&
        (p.old == nullptr || p.old->next_step != p.entry.next_step ||
         p.old->target_image != p.entry.target_image)) {
      event(kube::EventType::Normal, "WouldUpdate", "Plan",
            fmt::format("{} {}: would update to {}: {}", toString(p.entry.kind), p.entry.name,
                        target_, p.entry.next_step));
    }
    bool changed = p.old == nullptr || p.old->phase != p.entry.phase ||
                   p.old->target_image != p.entry.target_image;
    if (!changed) {
      continue;
    }
    const std::string who = fmt::format("{} {}", toString(p.entry.kind), p.entry.name);
    if (p.entry.phase == Phase::Failed) {
      event(kube::EventType::Warning, "UpdateFailed", "Rollout",
            fmt::format("{}: {}", who, p.entry.message));
      notify("Node group update failed", notify::Severity::Error,
             {{"Node group", p.entry.name}, {"Target AMI", target_}}, p.entry.message);
    } else if (p.entry.phase == Phase::Succeeded) {
      event(kube::EventType::Normal, "UpdateSucceeded", "Rollout",
            fmt::format("{}: {}", who, p.entry.message));
    } else if (p.entry.phase == Phase::Skipped) {
      event(kube::EventType::Normal, "NodegroupSkipped", "Rollout",
            fmt::format("{}: {}", who, p.entry.message));
    } else if (p.entry.phase == Phase::Unknown && p.unreadable) {
      event(kube::EventType::Warning, p.unreadable->reason, "Observe",
            fmt::format("{}: {}", who, p.entry.message));
    }
    if (p.rolled_in) {
      tail_.push_back(RecordMetric{.kind = MetricKind::GroupRolled, .elapsed = *p.rolled_in});
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
  if (!started_.empty() && !rollout_known) {
    tail_.push_back(RecordMetric{.kind = MetricKind::RolloutStarted});
    notify("Rollout started", notify::Severity::Info,
           {{"Target AMI", target_}, {"Cluster", spec().cluster_name}},
           fmt::format("Rolling {} node groups of {} onto {}; first: {}",
                       status_.updated.substr(status_.updated.find('/') + 1), spec().cluster_name,
                       target_, fmt::join(started_, ", ")));
  }
  bool was_halted = old.state == kStateStalled && old.target_ami == target_;
  if (halted_by_ != nullptr && !was_halted) {
    tail_.push_back(RecordMetric{.kind = MetricKind::RolloutFailed});
  }
  bool any_succeeded = std::any_of(plans_.begin(), plans_.end(), [](const GroupPlan& p) {
    return p.entry.phase == Phase::Succeeded;
  });
  if (status_.state == kStateReady && old.state != kStateReady && any_succeeded) {
    tail_.push_back(RecordMetric{.kind = MetricKind::RolloutFinished});
    event(kube::EventType::Normal, "RolloutComplete", "Rollout",
          fmt::format("{} node groups run {}", status_.updated, target_));
    notify("Rollout finished", notify::Severity::Success,
           {{"Target AMI", target_}, {"Node groups", status_.updated}},
           fmt::format("Every node group of {} runs {}", spec().cluster_name, target_));
  }
}

// The status write (when the status differs, or AWS was acted on: lastRun moves only with a real
// change) comes first, then everything else.
Decision Decider::finish(bool acted) {
  if (r_.spec && !spec().expires_in_warning.empty()) {
    conditions_->annotate(kReady, spec().expires_in_warning);
    if (r_.status.observed_generation != r_.metadata.generation) {
      event(kube::EventType::Warning, "ExpiresInMinutes", "Validate", spec().expires_in_warning);
    }
  }
  if (r_.spec && o_.notification_refused) {
    conditions_->annotate(kReady, *o_.notification_refused);
    if (r_.status.observed_generation != r_.metadata.generation) {
      event(kube::EventType::Warning, "NotificationRefused", "Notify", *o_.notification_refused);
    }
  }
  status_.last_run = r_.status.last_run;
  if (acted || !(status_ == r_.status)) {
    status_.last_run = std::chrono::floor<std::chrono::seconds>(now_);
    d_.actions.push_back(PatchStatus{r_.status, status_});
  }
  d_.actions.insert(d_.actions.end(), tail_.begin(), tail_.end());
  for (Phase p : kAllPhases) {
    d_.phases[p] = 0;
  }
  d_.node_claims = {};
  for (const NodegroupStatus& ng : status_.nodegroups) {
    ++d_.phases[ng.phase];
    if (ng.node_claims) {
      d_.node_claims.total += ng.node_claims->total;
      d_.node_claims.on_target += ng.node_claims->on_target;
      d_.node_claims.old += ng.node_claims->old;
      d_.node_claims.drifted += ng.node_claims->drifted;
    }
  }
  return d_;
}

Decision Decider::invalidSpec() {
  status_.state = std::string(kStateStalled);
  status_.last_run_status = "invalid";
  bool was = kube::isConditionTrue(r_.status.conditions, kStalled);
  const kube::Condition* c = kube::findCondition(r_.status.conditions, kStalled);
  conditions_->set(kStalled, kube::kConditionTrue, "InvalidSpec", r_.spec_error);
  conditions_->set(kReady, kube::kConditionFalse, "InvalidSpec", r_.spec_error);
  conditions_->set(kProgressing, kube::kConditionFalse, "InvalidSpec", r_.spec_error);
  if (!was || c == nullptr || c->message != r_.spec_error) {
    event(kube::EventType::Warning, "InvalidSpec", "Validate", r_.spec_error);
  }
  finish(false);
  d_.requeue_after.reset();  // the next spec change brings the object back
  return d_;
}

// Something the rollout needs could not be read (docs/troubleshooting.md lists the reasons). No
// group is touched. A persistent failure is looked at again each controllerTimer, so it clears by
// itself once fixed; a transient one retries with backoff.
Decision Decider::failed(controller::Failure f, std::optional<Error> retry) {
  if (controller::showFailure(f, r_.status.conditions, *conditions_)) {
    event(kube::EventType::Warning, f.reason, "Observe", f.message);
  }
  finish(false);
  if (f.transient) {
    d_.retry = std::move(retry);
  } else {
    d_.requeue_after = spec().controller_timer;
  }
  d_.failure = std::move(f);
  return d_;
}

std::optional<controller::Failure> Decider::conflict() const {
  for (const Peer& peer : o_.peers) {
    if (!peerComesFirst(peer, r_.metadata)) {
      continue;
    }
    std::optional<std::string> group = sharedGroup(peer, spec(), o_.groups);
    if (!group) {
      continue;
    }
    GroupKind kind = GroupKind::Managed;
    for (const GroupObservation& g : o_.groups) {
      if (g.name == *group) {
        kind = g.kind;
        break;
      }
    }
    const bool node_class = kind == GroupKind::NodeClass;
    return controller::Failure{
        .reason = std::string(controller::kReasonConflict),
        .message = fmt::format(
            "{} {} of cluster {} in {} is also selected by AMIRefresher {}/{}, which was "
            "created first; this refresher changes nothing until no group is selected by both "
            "({})",
            node_class ? "EC2NodeClass" : "node group", *group, spec().cluster_name, spec().region,
            peer.ns, peer.name,
            node_class ? "select it in spec.karpenter of only one of them"
                       : "exclude it in one of them"),
        .transient = false};
  }
  return std::nullopt;
}

Decision Decider::noTarget(const ami::Target& target) {
  status_.state = std::string(kStatePending);
  status_.last_run_status = "waiting";
  status_.target_ami.clear();
  status_.target_expires_at.reset();
  const kube::Condition* c = kube::findCondition(r_.status.conditions, kReady);
  bool changed = c == nullptr || c->reason != "NoEligibleImage" || c->message != target.explanation;
  conditions_->set(kReady, kube::kConditionFalse, "NoEligibleImage", target.explanation);
  conditions_->set(kProgressing, kube::kConditionFalse, "NoEligibleImage",
                   "no eligible image to roll out");
  conditions_->set(kStalled, kube::kConditionFalse, "NoEligibleImage",
                   "waiting for an eligible image");
  if (changed) {
    event(kube::EventType::Warning, "NoEligibleImage", "SelectImage", target.explanation);
  }
  finish(false);
  d_.requeue_after = untilTargetChange(spec().controller_timer);
  return d_;
}

Decision Decider::run() {
  status_ = r_.status;
  const int64_t gen = r_.metadata.generation;
  status_.observed_generation = gen;
  conditions_.emplace(status_.conditions, gen, now_);
  if (!r_.spec) {
    return invalidSpec();
  }
  spec_changed_ = r_.status.observed_generation != gen;
  if (!spec().maintenance_windows.empty()) {
    windows_ = windowState(spec().maintenance_windows, now_);
    status_.next_window = windows_->next_opens_at;
  } else {
    status_.next_window.reset();
  }
  if (o_.failure) {
    return failed(
        controller::describeFailure(*o_.failure, {.iam_doc = "docs/iam.md#ami-refresh-controller"}),
        o_.failure);
  }
  if (o_.cluster_missing) {
    return failed(
        {.reason = std::string(controller::kReasonClusterNotFound),
         .message = fmt::format("EKS has no cluster \"{}\" in region {}; check spec.clusterName "
                                "and spec.region",
                                spec().cluster_name, spec().region),
         .transient = false},
        std::nullopt);
  }
  if (o_.karpenter_disabled) {
    status_.state = std::string(kStateStalled);
    status_.last_run_status = "invalid";
    return failed({.reason = std::string(kReasonKarpenterDisabled),
                   .message = "spec.karpenter is set but the controller runs without Karpenter "
                              "support: start it with --karpenter (chart value "
                              "karpenter.enabled=true), or remove spec.karpenter",
                   .transient = false},
                  std::nullopt);
  }
  if (o_.karpenter_missing) {
    status_.state = std::string(kStateStalled);
    status_.last_run_status = "failed";
    return failed({.reason = std::string(kReasonKarpenterNotInstalled),
                   .message = *o_.karpenter_missing,
                   .transient = false},
                  std::nullopt);
  }
  ami::Target target = o_.target ? selectRefresherTarget(spec(), *o_.target, now_)
                                 : ami::Target{.explanation = "not looked up"};
  target_changes_at_ = target.changes_at;
  if (!target.image) {
    return noTarget(target);
  }
  target_ = target.image->id;
  status_.target_ami = target_;
  status_.target_expires_at = target.verdict.expires_at;
  if (r_.status.target_ami != target_) {
    event(kube::EventType::Normal, "TargetSelected", "SelectImage", target.explanation);
  }
  PlanContext ctx{.spec = spec(),
                  .old = r_.status,
                  .target = target_,
                  .spec_changed = spec_changed_,
                  .now = now_};
  for (const GroupObservation& g : o_.groups) {
    if (g.kind == GroupKind::SelfManaged && !spec().self_managed.enabled) {
      continue;
    }
    plans_.push_back(planGroup(g, ctx));
  }
  std::sort(plans_.begin(), plans_.end(), [](const GroupPlan& a, const GroupPlan& b) {
    return std::tie(a.entry.kind, a.entry.name) < std::tie(b.entry.kind, b.entry.name);
  });
  for (const GroupPlan& p : plans_) {
    if (p.unreadable && !d_.failure) {
      d_.failure = p.unreadable;  // counted and logged once per reconcile
    }
  }
  for (const GroupObservation& g : o_.groups) {
    if (g.observe_error && isRetryable(*g.observe_error) && !d_.retry) {
      // The other groups go on now; this reconcile is retried with backoff for this one.
      d_.retry = *g.observe_error;
    }
  }
  if (std::optional<controller::Failure> f = conflict()) {
    status_.state = std::string(kStateStalled);
    status_.last_run_status = "conflict";
    return failed(std::move(*f), std::nullopt);
  }
  canaryGate();
  // Drains first: a drain that halts the rollout must stop this reconcile's starts too.
  drain();
  schedule();
  const bool acted = !d_.aws.empty();
  if (outcomes_ != nullptr) {
    fold();
    findHalt();
  }
  conditionsAndState();
  status_.nodegroups.clear();
  for (const GroupPlan& p : plans_) {
    status_.nodegroups.push_back(p.entry);
  }
  emit();
  finish(acted);
  Duration next =
      poll_ ? std::min(kPollInterval, spec().controller_timer) : spec().controller_timer;
  if (drain_poll_) {
    next = std::min(next, *drain_poll_);
  }
  d_.requeue_after = untilWindow(untilTargetChange(next));
  return d_;
}

}  // namespace

Decision decide(const Observed& observed, TimePoint now, const Outcomes* outcomes) {
  return Decider(observed, now, outcomes).run();
}

}  // namespace opsy::ami_refresh
