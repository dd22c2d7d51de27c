#include "ami-refresh-controller/decide.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ami-refresh-controller/canary.h"
#include "ami-refresh-controller/observation.h"
#include "opsy/ami/tags.h"
#include "opsy/core/time_format.h"
#include "opsy/kube/conditions.h"

namespace opsy::ami_refresh {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using ::testing::HasSubstr;

constexpr std::string_view kReady = kube::kConditionReady;
constexpr std::string_view kProgressing = kube::kConditionProgressing;
constexpr std::string_view kStalled = kube::kConditionStalled;

// What AWS says of a managed group: the node group, the launch template version it runs, and the
// update its status entry names.
struct ManagedGroupObservation {
  aws::Nodegroup nodegroup;
  std::optional<aws::LaunchTemplateVersion> launch_template_version;
  std::string launch_template_error;
  std::optional<aws::Update> update;
};

// What AWS says of a self-managed group: the Auto Scaling group, its launch template version and
// its instance refreshes (newest first).
struct SelfManagedGroupObservation {
  aws::AutoScalingGroup group;
  std::optional<aws::LaunchTemplateVersion> launch_template_version;
  std::string launch_template_error;
  std::vector<aws::InstanceRefresh> refreshes;
};

const TimePoint kNow = parseRfc3339("2026-11-21T12:00:00Z").value();
constexpr std::string_view kTarget = "ami-0aaaaaaaaaaaaaaa1";
constexpr std::string_view kOld = "ami-0bbbbbbbbbbbbbbb2";

aws::Image managedImage(std::string_view id, std::string_view created,
                        std::string_view status = "active", std::string_view base = "ami-base") {
  aws::Image i;
  i.id = std::string(id);
  i.state = aws::ImageState::Available;
  i.creation_date = parseRfc3339(created).value();
  i.tags = ami::fullTags({"prod", "builder", "https://git/x", "main"},
                         {std::string(base), "b1", "j1"}, parseRfc3339(created).value());
  i.tags["status"] = std::string(status);
  return i;
}

aws::Image baseImage(std::string_view id) {
  aws::Image i;
  i.id = std::string(id);
  i.state = aws::ImageState::Available;
  i.owner_id = "602401143452";
  i.creation_date = parseRfc3339("2026-11-01T00:00:00Z").value();
  return i;
}

Spec filterSpec() {
  Spec s;
  s.region = "us-west-2";
  s.cluster_name = "prod";
  s.ami_filters = {{"name", {"amazon-eks-node-al2023-*"}}};
  s.expires_in = hours(24 * 30);
  return s;
}

TargetObservation eligibleTarget() {
  return TargetObservation{.matched = {baseImage("ami-base")},
                           .derived = {managedImage(kTarget, "2026-11-20T00:00:00Z")}};
}

ManagedGroupObservation group(std::string name, std::string_view image, int64_t version = 3,
                              aws::NodegroupStatus status = aws::NodegroupStatus::Active) {
  ManagedGroupObservation g;
  g.nodegroup.name = name;
  g.nodegroup.cluster_name = "prod";
  g.nodegroup.status = status;
  g.nodegroup.ami_type = "CUSTOM";
  g.nodegroup.launch_template = aws::LaunchTemplateSpec{
      .id = "lt-" + name, .name = name + "-lt", .version = std::to_string(version)};
  g.launch_template_version = aws::LaunchTemplateVersion{.launch_template_id = "lt-" + name,
                                                         .version_number = version,
                                                         .image_id = std::string(image)};
  return g;
}

SelfManagedGroupObservation asg(std::string name, std::string_view image, int64_t version = 7) {
  SelfManagedGroupObservation g;
  g.group.name = name;
  g.group.launch_template =
      aws::LaunchTemplateSpec{.id = "lt-" + name, .version = std::to_string(version)};
  g.launch_template_version = aws::LaunchTemplateVersion{.launch_template_id = "lt-" + name,
                                                         .version_number = version,
                                                         .image_id = std::string(image)};
  return g;
}

struct World {
  Spec spec = filterSpec();
  RefresherStatus status;
  int64_t generation = 1;
  std::optional<TargetObservation> target = eligibleTarget();
  std::vector<ManagedGroupObservation> managed;
  std::vector<SelfManagedGroupObservation> self_managed;
  std::vector<Peer> peers;
  // The Nodes read for a group (canary checks).
  std::map<std::string, std::vector<NodeObservation>> nodes;
  // Self-managed groups' instances waiting in Terminating:Wait.
  std::map<std::string, std::vector<DrainObservation>> draining;
  TimePoint created = kNow - hours(24);

  Observed observed() const {
    Observed o;
    o.peers = peers;
    o.refresher.metadata.name = "roll";
    o.refresher.metadata.ns = "ops";
    o.refresher.metadata.creation_timestamp = created;
    o.refresher.metadata.uid = "uid-1";
    o.refresher.metadata.generation = generation;
    o.refresher.spec = spec;
    o.refresher.status = status;
    o.target = target;
    // As the reconciler observes them: normalised into one shape.
    for (const ManagedGroupObservation& m : managed) {
      GroupObservation g = observedNodegroup(m.nodegroup);
      g.launch_template_version = m.launch_template_version;
      g.launch_template_error = m.launch_template_error;
      if (m.update) {
        g.recorded_update = observedUpdate(*m.update);
      }
      o.groups.push_back(std::move(g));
    }
    for (const SelfManagedGroupObservation& a : self_managed) {
      const NodegroupStatus* e = status.entry(a.group.name, GroupKind::SelfManaged);
      GroupObservation g =
          observedAutoScalingGroup(a.group, a.refreshes, e != nullptr ? e->update_id : "");
      g.launch_template_version = a.launch_template_version;
      g.launch_template_error = a.launch_template_error;
      o.groups.push_back(std::move(g));
    }
    for (GroupObservation& g : o.groups) {
      if (auto it = nodes.find(g.name); it != nodes.end()) {
        g.nodes = it->second;
      }
      if (auto it = draining.find(g.name); it != draining.end()) {
        g.draining = it->second;
      }
    }
    return o;
  }
  Decision decide(TimePoint now = kNow, const Outcomes* outcomes = nullptr) const {
    return ami_refresh::decide(observed(), now, outcomes);
  }
};

template <class T, class Variant>
struct IsAlternative;
template <class T, class... Ts>
struct IsAlternative<T, std::variant<Ts...>> : std::disjunction<std::is_same<T, Ts>...> {};

// Every action of type T in `d`, AWS calls included.
template <class T>
std::vector<T> all(const Decision& d) {
  std::vector<T> out;
  auto collect = [&out](const auto& list) {
    for (const auto& a : list) {
      if constexpr (IsAlternative<T, std::decay_t<decltype(a)>>::value) {
        if (const T* t = std::get_if<T>(&a)) {
          out.push_back(*t);
        }
      }
    }
  };
  collect(d.actions);
  collect(d.aws);
  return out;
}

std::optional<RefresherStatus> patched(const Decision& d) {
  auto p = all<PatchStatus>(d);
  if (p.empty()) {
    return std::nullopt;
  }
  return p.front().after;
}

// Every AWS call of `d` succeeded: launch template version 4, update ids "u-<group>".
Outcomes succeeded(const Decision& d) {
  Outcomes out;
  for (const AwsAction& a : d.aws) {
    ActionOutcome o;
    if (std::holds_alternative<CreateLaunchTemplateVersion>(a)) {
      o.value = "4";
    } else {
      o.value = "u-" + groupOf(a);
      o.version = "4";
      if (const auto* u = std::get_if<UpdateNodegroup>(&a); u != nullptr && !u->version.empty()) {
        o.version = u->version;
      }
      if (const auto* r = std::get_if<RollbackNodegroup>(&a)) {
        o.version = r->update.version;
      }
      if (const auto* r = std::get_if<StartInstanceRefresh>(&a);
          r != nullptr && !r->version.empty()) {
        o.version = r->version;
      }
    }
    out.push_back(o);
  }
  return out;
}

const NodegroupStatus& entry(const RefresherStatus& s, std::string_view name) {
  for (const NodegroupStatus& ng : s.nodegroups) {
    if (ng.name == name) {
      return ng;
    }
  }
  static NodegroupStatus none;
  ADD_FAILURE() << "no status entry for " << name;
  return none;
}

const kube::Condition& cond(const RefresherStatus& s, std::string_view type) {
  const kube::Condition* c = kube::findCondition(s.conditions, type);
  static kube::Condition none;
  if (c == nullptr) {
    ADD_FAILURE() << "no condition " << type;
    return none;
  }
  return *c;
}

size_t awsActions(const Decision& d) {
  return all<CreateLaunchTemplateVersion>(d).size() + all<UpdateNodegroup>(d).size() +
         all<UpdateNodegroupConfig>(d).size() + all<RollbackNodegroup>(d).size() +
         all<StartInstanceRefresh>(d).size();
}

bool hasEvent(const Decision& d, std::string_view reason, kube::EventType type) {
  for (const RecordEvent& e : all<RecordEvent>(d)) {
    if (e.reason == reason && e.type == type) {
      return true;
    }
  }
  return false;
}

bool hasMetric(const Decision& d, MetricKind kind) {
  for (const RecordMetric& m : all<RecordMetric>(d)) {
    if (m.kind == kind) {
      return true;
    }
  }
  return false;
}

// Runs decide, then feeds the status it wrote back in, as the next reconcile would see it.
void advance(World& w, const Decision& d) {
  if (auto s = patched(d)) {
    w.status = *s;
    w.status.observed_generation = w.generation;
  }
}

// A group starts in two looks: the first records intent (no AWS call), the next makes the calls.
// Returns the second look's decision (its AWS calls, its provisional status).
Decision secondLook(World& w, TimePoint now = kNow) {
  Decision intent = w.decide(now);
  EXPECT_TRUE(intent.aws.empty()) << "a first look makes no AWS call";
  advance(w, intent);
  return w.decide(now);
}

// The final decision of a look whose AWS calls all succeeded.
Decision afterCalls(const World& w, const Decision& d, TimePoint now = kNow) {
  Outcomes out = succeeded(d);
  return w.decide(now, &out);
}

// A world mid-rollout: `name` is updating to the target with `update_id`.
NodegroupStatus updatingEntry(std::string name, std::string update_id,
                              TimePoint since = kNow - minutes(10)) {
  return NodegroupStatus{.name = std::move(name),
                         .kind = GroupKind::Managed,
                         .launch_template = {"lt-x", "4"},
                         .previous_launch_template_version = "3",
                         .current_image = std::string(kOld),
                         .target_image = std::string(kTarget),
                         .phase = Phase::Updating,
                         .update_id = std::move(update_id),
                         .last_transition_time = since};
}

// --- minImageAge ---

// An image younger than spec.minImageAge is not a target: with no older active image nothing
// rolls, Ready says when it becomes one, and the refresher looks again exactly then rather than a
// controllerTimer later.
TEST(DecideMinImageAge, TooYoungImageIsNotRolledUntilOldEnough) {
  World w;
  w.spec.min_image_age = hours(72);
  w.spec.controller_timer = hours(1);
  w.target = TargetObservation{.matched = {baseImage("ami-base")},
                               .derived = {managedImage(kTarget, "2026-11-21T11:00:00Z")}};
  w.managed = {group("ng-a", kOld)};
  Decision d = w.decide();
  EXPECT_EQ(awsActions(d), 0u);
  auto s = patched(d);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->state, kStatePending);
  EXPECT_EQ(cond(*s, kReady).reason, "NoEligibleImage");
  EXPECT_THAT(cond(*s, kReady).message, HasSubstr("less than minImageAge 3d"));
  EXPECT_THAT(cond(*s, kReady).message, HasSubstr("becomes a target at 2026-11-24T11:00:00Z"));
  EXPECT_EQ(d.requeue_after, std::optional<Duration>(hours(1)));

  // 71 hours later it is one hour short: the look after that comes in one hour, not later.
  EXPECT_EQ(w.decide(kNow + hours(70) + minutes(30)).requeue_after,
            std::optional<Duration>(minutes(30)));

  // Old enough: the group starts (its intent recorded first).
  Decision later = w.decide(kNow + hours(71));
  auto after = patched(later);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->target_ami, kTarget);
  EXPECT_EQ(entry(*after, "ng-a").phase, Phase::Updating);
}

// With an older active image that is old enough, that one is the target and the newer one waits;
// the message names both, and the next look comes when the newer one is old enough.
TEST(DecideMinImageAge, OlderImageOldEnoughIsTheTargetMeanwhile) {
  World w;
  w.spec.min_image_age = hours(72);
  w.spec.controller_timer = hours(100);
  w.target = TargetObservation{.matched = {baseImage("ami-base")},
                               .derived = {managedImage(kTarget, "2026-11-21T06:00:00Z"),
                                           managedImage(kOld, "2026-11-10T00:00:00Z")}};
  w.managed = {group("ng-a", kOld)};
  Decision d = w.decide();
  auto s = patched(d);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->target_ami, kOld);
  EXPECT_EQ(entry(*s, "ng-a").phase, Phase::UpToDate);
  EXPECT_EQ(d.requeue_after, std::optional<Duration>(hours(66)));
  bool named = false;
  for (const RecordEvent& e : all<RecordEvent>(d)) {
    if (e.reason == "TargetSelected") {
      EXPECT_THAT(e.note, HasSubstr(kTarget));
      EXPECT_THAT(e.note, HasSubstr("less than minImageAge"));
      named = true;
    }
  }
  EXPECT_TRUE(named);
}

// spec.ami is held to minImageAge too.
TEST(DecideMinImageAge, AppliesToAnImageNamedById) {
  World w;
  w.spec.ami_filters.clear();
  w.spec.ami = std::string(kTarget);
  w.spec.min_image_age = hours(2);
  w.spec.controller_timer = hours(2);
  w.target = TargetObservation{.matched = {managedImage(kTarget, "2026-11-21T11:00:00Z")}};
  w.managed = {group("ng-a", kOld)};
  Decision d = w.decide();
  EXPECT_EQ(awsActions(d), 0u);
  EXPECT_EQ(d.requeue_after, std::optional<Duration>(hours(1)));
  auto s = patched(d);
  ASSERT_TRUE(s);
  EXPECT_THAT(cond(*s, kReady).message, HasSubstr("less than minImageAge 2h"));
}

// --- maintenance windows ---

MaintenanceWindow window(std::string schedule, std::string duration, std::string tz = "") {
  return MaintenanceWindow::parse({.schedule = std::move(schedule),
                                   .duration = std::move(duration),
                                   .time_zone = std::move(tz)})
      .value();
}

// Outside every window nothing starts: the group waits (saying until when), state Waiting,
// status.nextWindow names the opening and the refresher looks again exactly then.
TEST(DecideMaintenanceWindow, NothingStartsOutsideAWindow) {
  World w;
  w.spec.controller_timer = hours(24);
  // kNow is Saturday 2026-11-21 12:00Z; the window opens at 22:00 Berlin (21:00Z) for 6h.
  w.spec.maintenance_windows = {window("0 22 * * SAT", "6h", "Europe/Berlin")};
  w.managed = {group("a", kOld)};
  Decision d = w.decide();
  EXPECT_EQ(awsActions(d), 0u);
  auto s = patched(d);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->state, kStateWaiting);
  EXPECT_EQ(s->next_window, parseRfc3339("2026-11-21T21:00:00Z").value());
  EXPECT_EQ(entry(*s, "a").phase, Phase::Pending);
  EXPECT_THAT(entry(*s, "a").message,
              HasSubstr("outside the maintenance windows; the next opens at 2026-11-21T21:00:00Z"));
  EXPECT_EQ(cond(*s, kProgressing).reason, "OutsideMaintenanceWindow");
  EXPECT_EQ(d.requeue_after, std::optional<Duration>(hours(9)));
}

// Inside a window the rollout starts as usual.
TEST(DecideMaintenanceWindow, StartsInsideAWindow) {
  World w;
  w.spec.maintenance_windows = {window("0 22 * * SAT", "6h", "Europe/Berlin")};
  w.managed = {group("a", kOld)};
  Decision calls = secondLook(w, parseRfc3339("2026-11-21T23:30:00Z").value());
  EXPECT_EQ(all<UpdateNodegroup>(calls).size(), 1u);
  auto s = patched(calls);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->next_window, parseRfc3339("2026-11-28T21:00:00Z").value());
}

// An update already running when its window closes goes on to the end; only new starts wait.
TEST(DecideMaintenanceWindow, RunningUpdateContinuesPastTheWindowsEnd) {
  World w;
  w.spec.refresh.max_concurrent_nodegroups = 1;
  w.spec.maintenance_windows = {window("0 22 * * SAT", "6h", "Europe/Berlin")};
  aws::Update running{.id = "u-a", .status = aws::UpdateStatus::InProgress};
  w.managed = {group("a", kOld, 3, aws::NodegroupStatus::Updating), group("b", kOld)};
  w.managed[0].update = running;
  w.status.observed_generation = 1;
  w.status.target_ami = std::string(kTarget);
  // Started ten minutes before the window (21:00Z-03:00Z) closed; it is now 04:30Z.
  const TimePoint after_window = parseRfc3339("2026-11-22T04:30:00Z").value();
  w.status.nodegroups = {updatingEntry("a", "u-a", after_window - minutes(100))};
  Decision d = w.decide(after_window);
  EXPECT_EQ(awsActions(d), 0u);
  auto s = patched(d);
  ASSERT_TRUE(s);
  EXPECT_EQ(entry(*s, "a").phase, Phase::Updating);
  EXPECT_EQ(s->state, kStateRolling);
  EXPECT_THAT(entry(*s, "b").message, HasSubstr("outside the maintenance windows"));

  // The update finishes while the window is closed: the group succeeds; b still waits.
  w.managed[0] = group("a", kTarget, 4);
  w.managed[0].update = aws::Update{.id = "u-a", .status = aws::UpdateStatus::Successful};
  advance(w, d);
  Decision done = w.decide(after_window + minutes(10));
  auto s2 = patched(done);
  ASSERT_TRUE(s2);
  EXPECT_EQ(entry(*s2, "a").phase, Phase::Succeeded);
  EXPECT_EQ(entry(*s2, "b").phase, Phase::Pending);
  EXPECT_EQ(s2->state, kStateWaiting);
  EXPECT_EQ(awsActions(done), 0u);
}

// Plan mode says which window a group waits for.
TEST(DecideMaintenanceWindow, PlanNamesTheWindowAGroupWaitsFor) {
  World w;
  w.spec.mode = Mode::Plan;
  w.spec.maintenance_windows = {window("0 22 * * SAT", "6h", "Europe/Berlin")};
  w.managed = {group("a", kOld)};
  auto s = patched(w.decide());
  ASSERT_TRUE(s);
  EXPECT_THAT(entry(*s, "a").next_step,
              HasSubstr("wait for the maintenance window opening at 2026-11-21T21:00:00Z, then "
                        "CreateLaunchTemplateVersion"));
}

// --- canary ---

NodegroupStatus succeededEntry(std::string name, TimePoint at) {
  return NodegroupStatus{.name = std::move(name),
                         .kind = GroupKind::Managed,
                         .launch_template = {"lt-x", "4"},
                         .previous_launch_template_version = "3",
                         .current_image = std::string(kTarget),
                         .target_image = std::string(kTarget),
                         .phase = Phase::Succeeded,
                         .update_id = "u-1",
                         .message = "update u-1 succeeded",
                         .last_transition_time = at};
}

NodeObservation node(std::string name, bool ready, std::string_view image = kTarget) {
  return NodeObservation{.name = std::move(name),
                         .ready = ready,
                         .not_ready_reason = ready ? "" : "Ready=False KubeletNotReady",
                         .instance_id = "i-0123456789abcdef0",
                         .image_id = std::string(image)};
}

World canaryWorld() {
  World w;
  w.spec.rollout.canary = CanaryConfig{.nodegroups = {"canary-*"}};
  w.spec.rollout.soak = minutes(30);
  w.managed = {group("canary-a", kOld), group("web", kOld), group("workers", kOld)};
  return w;
}

// The canary group rolls first; the others wait for it, through its nodes' check and the soak,
// then roll within the usual limits.
TEST(DecideCanary, CanaryRollsFirstOthersWaitThroughTheSoakThenRoll) {
  World w = canaryWorld();
  Decision first = w.decide();
  auto s = patched(first);
  ASSERT_TRUE(s);
  EXPECT_EQ(entry(*s, "canary-a").phase, Phase::Updating);
  EXPECT_EQ(entry(*s, "web").phase, Phase::Pending);
  EXPECT_THAT(entry(*s, "web").message, HasSubstr("waiting for the canary: rolling the canary"));
  ASSERT_TRUE(s->canary);
  EXPECT_EQ(s->canary->phase, kCanaryRolling);
  EXPECT_EQ(s->canary->nodegroups, std::vector<std::string>{"canary-a"});

  // Its update succeeded and its one node is Ready on the target: the soak starts.
  advance(w, first);
  w.status.nodegroups = {succeededEntry("canary-a", kNow), entry(*s, "web"), entry(*s, "workers")};
  w.managed[0] = group("canary-a", kTarget, 4);
  w.nodes["canary-a"] = {node("ip-10-0-1-5", true)};
  Decision soaking = w.decide(kNow + minutes(1));
  EXPECT_EQ(awsActions(soaking), 0u);
  s = patched(soaking);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->canary->phase, kCanarySoaking);
  EXPECT_EQ(s->canary->soak_started_at, kNow + minutes(1));
  EXPECT_THAT(entry(*s, "web").message, HasSubstr("soaking until 2026-11-21T12:31:00Z"));
  EXPECT_TRUE(hasEvent(soaking, "CanarySoaking", kube::EventType::Normal));
  EXPECT_EQ(soaking.requeue_after, std::optional<Duration>(kPollInterval));

  advance(w, soaking);
  EXPECT_EQ(awsActions(w.decide(kNow + minutes(30))), 0u);
  auto mid = patched(w.decide(kNow + minutes(30)));
  EXPECT_TRUE(!mid || mid->canary->phase == kCanarySoaking);

  // Soaked: the canary passed, and the next group starts.
  Decision passed = w.decide(kNow + minutes(32));
  s = patched(passed);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->canary->phase, kCanaryPassed);
  EXPECT_TRUE(hasEvent(passed, "CanaryPassed", kube::EventType::Normal));
  EXPECT_EQ(entry(*s, "web").phase, Phase::Updating);
  EXPECT_EQ(entry(*s, "workers").phase, Phase::Pending);  // maxConcurrentNodegroups=1
}

// Canary nodes that never become Ready on the target within readyTimeout fail the canary: the
// rollout halts (Stalled, one Warning Event), the others are never touched, and with
// rollbackOnFailure the canary is rolled back on the next look.
TEST(DecideCanary, NodesNeverReadyHaltTheRolloutAndRollTheCanaryBack) {
  World w = canaryWorld();
  w.spec.refresh.rollback_on_failure = true;
  w.spec.rollout.canary->ready_timeout = minutes(20);
  w.status.observed_generation = 1;
  w.status.target_ami = std::string(kTarget);
  w.status.nodegroups = {succeededEntry("canary-a", kNow)};
  w.managed[0] = group("canary-a", kTarget, 4);
  w.nodes["canary-a"] = {node("ip-10-0-1-5", false)};
  Decision verifying = w.decide();
  auto s = patched(verifying);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->canary->phase, kCanaryVerifying);
  EXPECT_THAT(s->canary->message, HasSubstr("node ip-10-0-1-5 of canary-a is not Ready"));
  EXPECT_EQ(awsActions(verifying), 0u);

  advance(w, verifying);
  Decision failed = w.decide(kNow + minutes(21));
  EXPECT_EQ(awsActions(failed), 0u);
  s = patched(failed);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->canary->phase, kCanaryFailed);
  EXPECT_EQ(entry(*s, "canary-a").phase, Phase::Failed);
  EXPECT_THAT(entry(*s, "canary-a").message, HasSubstr("canary: nodes not Ready on"));
  EXPECT_EQ(entry(*s, "web").phase, Phase::Pending);
  EXPECT_EQ(cond(*s, kStalled).status, kube::kConditionTrue);
  EXPECT_TRUE(hasEvent(failed, "CanaryFailed", kube::EventType::Warning));

  advance(w, failed);
  Decision rollback = w.decide(kNow + minutes(22));
  auto rollbacks = all<RollbackNodegroup>(rollback);
  ASSERT_EQ(rollbacks.size(), 1u);
  EXPECT_EQ(rollbacks[0].update.group, "canary-a");
  EXPECT_EQ(rollbacks[0].update.version, "3");
  EXPECT_EQ(all<UpdateNodegroup>(rollback).size(), 0u) << "no other group is touched";
  EXPECT_EQ(all<CreateLaunchTemplateVersion>(rollback).size(), 0u);
  EXPECT_FALSE(hasEvent(rollback, "CanaryFailed", kube::EventType::Warning));
}

// A node that turns NotReady (or is replaced by one on another image) during the soak fails the
// canary at once.
TEST(DecideCanary, NodeFlappingDuringTheSoakFailsTheCanary) {
  World w = canaryWorld();
  w.status.observed_generation = 1;
  w.status.target_ami = std::string(kTarget);
  w.status.nodegroups = {succeededEntry("canary-a", kNow)};
  w.status.canary = CanaryStatus{.target_image = std::string(kTarget),
                                 .nodegroups = {"canary-a"},
                                 .phase = std::string(kCanarySoaking),
                                 .verify_started_at = kNow,
                                 .soak_started_at = kNow};
  w.managed[0] = group("canary-a", kTarget, 4);
  w.nodes["canary-a"] = {node("ip-10-0-1-5", true), node("ip-10-0-1-6", false)};
  auto s = patched(w.decide(kNow + minutes(10)));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->canary->phase, kCanaryFailed);
  EXPECT_THAT(s->canary->message, HasSubstr("failed during the soak: node ip-10-0-1-6"));

  w.nodes["canary-a"] = {node("ip-10-0-1-5", true, kOld)};
  s = patched(w.decide(kNow + minutes(10)));
  ASSERT_TRUE(s);
  EXPECT_THAT(s->canary->message, HasSubstr("runs " + std::string(kOld)));
}

// After a failed canary (rolled back), a spec change tries the canary again from the start.
TEST(DecideCanary, ASpecChangeGivesAFailedCanaryAnotherTry) {
  World w = canaryWorld();
  w.status.observed_generation = 1;
  w.status.target_ami = std::string(kTarget);
  NodegroupStatus failed = succeededEntry("canary-a", kNow - hours(1));
  failed.phase = Phase::Failed;
  failed.rollback_update_id = "u-rb";
  w.status.nodegroups = {failed};
  w.status.canary = CanaryStatus{.target_image = std::string(kTarget),
                                 .nodegroups = {"canary-a"},
                                 .phase = std::string(kCanaryFailed),
                                 .message = "nodes not Ready"};
  EXPECT_EQ(entry(*patched(w.decide()), "web").phase, Phase::Pending);

  w.generation = 2;
  auto s = patched(w.decide());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->canary->phase, kCanaryRolling);
  EXPECT_EQ(entry(*s, "canary-a").phase, Phase::Updating);
  EXPECT_EQ(entry(*s, "web").phase, Phase::Pending);
}

// canary.count takes the first groups by name; a canary matching no group stalls the rollout
// instead of rolling everything.
TEST(DecideCanary, CountPicksTheFirstGroupsAndAnUnmatchedCanaryStalls) {
  World w = canaryWorld();
  w.spec.rollout.canary = CanaryConfig{.count = 2};
  w.spec.refresh.max_concurrent_nodegroups = 3;
  auto s = patched(w.decide());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->canary->nodegroups, (std::vector<std::string>{"canary-a", "web"}));
  EXPECT_EQ(entry(*s, "workers").phase, Phase::Pending);

  World none = canaryWorld();
  none.spec.rollout.canary = CanaryConfig{.nodegroups = {"nope-*"}};
  Decision d = none.decide();
  EXPECT_EQ(awsActions(d), 0u);
  s = patched(d);
  ASSERT_TRUE(s);
  EXPECT_EQ(cond(*s, kStalled).reason, "CanaryFailed");
  EXPECT_THAT(cond(*s, kStalled).message, HasSubstr("matches no node group"));
  EXPECT_EQ(entry(*s, "web").phase, Phase::Pending);
}

// Nodes are read only while the canary is checked: not before its groups run the target, not
// once it passed, and never without a canary.
TEST(DecideCanary, NodesAreReadOnlyWhileTheCanaryIsChecked) {
  World w = canaryWorld();
  Observed o = w.observed();
  const std::string target(kTarget);
  EXPECT_FALSE(canaryNeedsNodes(w.spec, w.status, target, o.groups));
  w.managed[0] = group("canary-a", kTarget, 4);
  o = w.observed();
  EXPECT_TRUE(canaryNeedsNodes(w.spec, w.status, target, o.groups));
  w.status.canary = CanaryStatus{.target_image = target, .phase = std::string(kCanaryPassed)};
  EXPECT_FALSE(canaryNeedsNodes(w.spec, w.status, target, o.groups));
  w.status.canary->phase = std::string(kCanarySoaking);
  EXPECT_TRUE(canaryNeedsNodes(w.spec, w.status, target, o.groups));
  w.spec.rollout.canary.reset();
  EXPECT_FALSE(canaryNeedsNodes(w.spec, w.status, target, o.groups));
}

// --- plan mode ---

// Plan mode writes every group's next step to status and a WouldUpdate Event per group, and makes
// no AWS call, look after look; once written, an unchanged plan is not written again.
TEST(DecidePlanMode, WritesThePlanAndMakesNoAwsCall) {
  World w;
  w.spec.mode = Mode::Plan;
  w.spec.exclude = {"skip-*"};
  w.managed = {group("a", kOld), group("b", kOld), group("c", kTarget), group("skip-me", kOld)};
  w.self_managed = {asg("workers", kOld)};
  w.spec.self_managed.enabled = true;
  Decision d = w.decide();
  EXPECT_EQ(awsActions(d), 0u);
  auto s = patched(d);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->state, kStatePlanned);
  EXPECT_EQ(entry(*s, "a").phase, Phase::Pending);
  EXPECT_THAT(entry(*s, "a").message, HasSubstr("plan: would update from " + std::string(kOld)));
  EXPECT_THAT(
      entry(*s, "a").next_step,
      HasSubstr("CreateLaunchTemplateVersion (lt-a version 3 with " + std::string(kTarget)));
  EXPECT_THAT(entry(*s, "a").next_step, HasSubstr("then UpdateNodegroupVersion"));
  EXPECT_THAT(entry(*s, "b").next_step, HasSubstr("wait for a free slot"));
  EXPECT_EQ(entry(*s, "c").next_step, "none: runs the target");
  EXPECT_EQ(entry(*s, "skip-me").next_step, "none: excluded");
  EXPECT_THAT(entry(*s, "workers").next_step, HasSubstr("then StartInstanceRefresh"));
  EXPECT_EQ(cond(*s, kReady).reason, "PlanMode");
  EXPECT_THAT(cond(*s, kProgressing).message,
              HasSubstr("plan: 3 of 4 node groups would update to " + std::string(kTarget)));
  int would = 0;
  for (const RecordEvent& e : all<RecordEvent>(d)) {
    would += e.reason == "WouldUpdate" ? 1 : 0;
  }
  EXPECT_EQ(would, 3);
  EXPECT_FALSE(hasMetric(d, MetricKind::RolloutStarted));

  advance(w, d);
  Decision again = w.decide(kNow + minutes(5));
  EXPECT_EQ(awsActions(again), 0u);
  EXPECT_FALSE(patched(again)) << "an unchanged plan is not written again";
  EXPECT_TRUE(all<RecordEvent>(again).empty());
}

// Switching to Apply carries the plan out: the first group's start is recorded, the next look
// makes the calls, and no next step is left in status.
TEST(DecidePlanMode, SwitchingToApplyCarriesThePlanOut) {
  World w;
  w.spec.mode = Mode::Plan;
  w.managed = {group("a", kOld), group("b", kOld)};
  advance(w, w.decide());
  w.spec.mode = Mode::Apply;
  w.generation = 2;
  Decision calls = secondLook(w);
  EXPECT_EQ(all<CreateLaunchTemplateVersion>(calls).size(), 1u);
  EXPECT_EQ(all<UpdateNodegroup>(calls).size(), 1u);
  Decision done = afterCalls(w, calls);
  auto s = patched(done);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->state, kStateRolling);
  EXPECT_EQ(entry(*s, "a").phase, Phase::Updating);
  EXPECT_EQ(entry(*s, "a").next_step, "");
  EXPECT_EQ(entry(*s, "b").next_step, "");
}

// A failed group is not rolled back in Plan mode; the plan says it would be.
TEST(DecidePlanMode, NeverRollsBack) {
  World w;
  w.spec.mode = Mode::Plan;
  w.spec.refresh.rollback_on_failure = true;
  w.managed = {group("a", kTarget, 4)};
  w.status.observed_generation = 1;
  w.status.target_ami = std::string(kTarget);
  w.status.nodegroups = {NodegroupStatus{.name = "a",
                                         .kind = GroupKind::Managed,
                                         .launch_template = {"lt-a", "4"},
                                         .previous_launch_template_version = "3",
                                         .current_image = std::string(kTarget),
                                         .target_image = std::string(kTarget),
                                         .phase = Phase::Failed,
                                         .update_id = "u-a",
                                         .message = "update u-a failed"}};
  Decision d = w.decide();
  EXPECT_EQ(awsActions(d), 0u);
  auto s = patched(d);
  ASSERT_TRUE(s);
  EXPECT_EQ(entry(*s, "a").next_step, "roll back to launch template version 3");
}

// --- conflicts ---

// A refresher created after another that selects one of the same node groups is Stalled with
// reason Conflict naming the other and the group, and makes no AWS call.
TEST(DecideConflict, LaterRefresherSelectingTheSameGroupStallsAndTouchesNothing) {
  World w;
  w.managed = {group("a", kOld), group("ingress-dev", kOld)};
  w.spec.exclude = {"a"};
  w.peers = {Peer{.ns = "ops", .name = "first", .created = kNow - hours(48), .exclude = {}}};
  Decision d = w.decide();
  EXPECT_EQ(awsActions(d), 0u);
  auto s = patched(d);
  ASSERT_TRUE(s);
  EXPECT_EQ(cond(*s, kStalled).status, kube::kConditionTrue);
  EXPECT_EQ(cond(*s, kStalled).reason, "Conflict");
  EXPECT_EQ(s->state, kStateStalled);
  EXPECT_THAT(cond(*s, kStalled).message, HasSubstr("node group ingress-dev"));
  EXPECT_THAT(cond(*s, kStalled).message, HasSubstr("AMIRefresher ops/first"));
  EXPECT_TRUE(hasEvent(d, "Conflict", kube::EventType::Warning));
  ASSERT_TRUE(d.failure);
  EXPECT_EQ(d.requeue_after, std::optional<Duration>(w.spec.controller_timer));

  // Advanced a look later: still nothing, and no second Event.
  advance(w, d);
  Decision again = w.decide();
  EXPECT_EQ(awsActions(again), 0u);
  EXPECT_FALSE(hasEvent(again, "Conflict", kube::EventType::Warning));
}

// Once the overlap is gone (the earlier one excludes the group), the later one rolls.
TEST(DecideConflict, NoConflictOnceEveryGroupIsExcludedByOneOfThem) {
  World w;
  w.managed = {group("a", kOld), group("b", kOld)};
  w.spec.exclude = {"a"};
  w.peers = {Peer{.ns = "ops", .name = "first", .created = kNow - hours(48), .exclude = {"b*"}}};
  Decision d = w.decide();
  auto s = patched(d);
  ASSERT_TRUE(s);
  EXPECT_EQ(entry(*s, "b").phase, Phase::Updating);
  EXPECT_NE(cond(*s, kStalled).status, kube::kConditionTrue);
}

// The refresher created first keeps its groups: a later one does not stall it; on equal creation
// times the namespace/name order decides, the same way for both.
TEST(DecideConflict, TheEarlierRefresherIsNotStalled) {
  World w;
  w.managed = {group("a", kOld)};
  w.peers = {Peer{.ns = "ops", .name = "second", .created = kNow - hours(1)}};
  EXPECT_EQ(entry(*patched(w.decide()), "a").phase, Phase::Updating);

  kube::ObjectMeta me{.name = "roll", .ns = "ops", .creation_timestamp = kNow};
  EXPECT_TRUE(peerComesFirst(Peer{.ns = "ops", .name = "alpha", .created = kNow}, me));
  EXPECT_FALSE(peerComesFirst(Peer{.ns = "ops", .name = "zulu", .created = kNow}, me));
}

// Self-managed groups are shared only when both refreshers roll self-managed groups.
TEST(DecideConflict, SelfManagedGroupsOverlapOnlyWhenBothRollThem) {
  World w;
  w.spec.self_managed.enabled = true;
  w.self_managed = {asg("workers", kOld)};
  w.peers = {Peer{.ns = "ops", .name = "first", .created = kNow - hours(48)}};
  EXPECT_FALSE(all<RecordEvent>(w.decide()).empty());
  EXPECT_FALSE(hasEvent(w.decide(), "Conflict", kube::EventType::Warning));
  w.peers[0].self_managed = true;
  EXPECT_TRUE(hasEvent(w.decide(), "Conflict", kube::EventType::Warning));
}

// --- refusals ---

struct RefusalCase {
  std::string name;
  std::optional<std::string> ami;  // spec.ami; else filters
  TargetObservation target;
  std::string explanation;  // part of the Ready message
};

class DecideRefusal : public ::testing::TestWithParam<RefusalCase> {};

// No eligible image means no rollout: no launch template version, no update, Ready=False with the
// selection's reason, and a look again after controllerTimer.
TEST_P(DecideRefusal, TouchesNoLaunchTemplate) {
  World w;
  if (GetParam().ami) {
    w.spec.ami = GetParam().ami;
    w.spec.ami_filters.clear();
  }
  w.target = GetParam().target;
  w.managed = {group("a", kOld), group("b", kOld)};
  Decision d = w.decide();
  EXPECT_EQ(awsActions(d), 0u);
  auto s = patched(d);
  ASSERT_TRUE(s);
  EXPECT_EQ(cond(*s, kReady).status, "False");
  EXPECT_EQ(cond(*s, kReady).reason, "NoEligibleImage");
  EXPECT_THAT(cond(*s, kReady).message, HasSubstr(GetParam().explanation));
  EXPECT_EQ(s->target_ami, "");
  EXPECT_EQ(d.requeue_after, w.spec.controller_timer);
  EXPECT_TRUE(hasEvent(d, "NoEligibleImage", kube::EventType::Warning));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, DecideRefusal,
    ::testing::Values(RefusalCase{"Expired",
                                  std::nullopt,
                                  {.matched = {baseImage("ami-base")},
                                   .derived = {managedImage(kTarget, "2026-09-01T00:00:00Z")}},
                                  "expired"},
                      RefusalCase{"Deprecated",
                                  std::nullopt,
                                  {.matched = {baseImage("ami-base")},
                                   .derived = {managedImage(kTarget, "2026-11-20T00:00:00Z",
                                                            "deprecated")}},
                                  "deprecated"},
                      RefusalCase{"EmptyFilterResult", std::nullopt, {}, "no image matched"},
                      RefusalCase{"BaseWithoutManagedImage",
                                  std::nullopt,
                                  {.matched = {baseImage("ami-base")}},
                                  "no managed image has been built from ami-base"},
                      RefusalCase{"AmiWithoutActiveStatus",
                                  std::string(kTarget),
                                  {.matched = {[] {
                                     aws::Image i = baseImage(kTarget);
                                     i.creation_date = kNow - hours(1);
                                     return i;
                                   }()}},
                                  std::string(kTarget)},
                      RefusalCase{"AmiNotFound", std::string(kTarget), {}, "was not found"},
                      RefusalCase{"AmiExpired",
                                  std::string(kTarget),
                                  {.matched = {managedImage(kTarget, "2026-01-01T00:00:00Z")}},
                                  "expired"}),
    [](const auto& param_info) { return param_info.param.name; });

// An invalid spec stalls with a message naming the field, touches nothing and is not retried.
TEST(Decide, InvalidSpecStallsWithoutRetry) {
  World w;
  w.managed = {group("a", kOld)};
  Observed o = w.observed();
  o.refresher.spec.reset();
  o.refresher.spec_error = "spec.refreshConfig.updateTimeout: unknown unit";
  Decision d = decide(o, kNow);
  EXPECT_EQ(awsActions(d), 0u);
  auto s = patched(d);
  ASSERT_TRUE(s);
  EXPECT_EQ(cond(*s, kStalled).status, "True");
  EXPECT_EQ(cond(*s, kStalled).reason, "InvalidSpec");
  EXPECT_THAT(cond(*s, kStalled).message, HasSubstr("spec.refreshConfig.updateTimeout"));
  EXPECT_FALSE(d.requeue_after.has_value());
  EXPECT_TRUE(hasEvent(d, "InvalidSpec", kube::EventType::Warning));
}

// A read that failed puts its reason on Ready and Stalled within the reconcile, with one Warning
// Event, touches no group, and is looked at again after controllerTimer.
TEST(Decide, FailedReadIsShownAndRetriedAtTheTimer) {
  World w;
  w.managed = {group("a", kOld)};
  Observed o = w.observed();
  Error denied(ErrorCode::PermissionDenied, "eks ListNodegroups: User is not authorized");
  denied.action = "eks:ListNodegroups";
  denied.provider_code = "AccessDeniedException";
  o.failure = denied;
  Decision d = decide(o, kNow);
  EXPECT_EQ(awsActions(d), 0u);
  auto s = patched(d);
  ASSERT_TRUE(s);
  EXPECT_EQ(cond(*s, kReady).status, "False");
  EXPECT_EQ(cond(*s, kReady).reason, "AWSAccessDenied");
  EXPECT_THAT(cond(*s, kReady).message, HasSubstr("eks:ListNodegroups"));
  EXPECT_THAT(cond(*s, kReady).message, HasSubstr("docs/iam.md#ami-refresh-controller"));
  EXPECT_EQ(cond(*s, kStalled).status, "True");
  EXPECT_TRUE(hasEvent(d, "AWSAccessDenied", kube::EventType::Warning));
  EXPECT_EQ(d.requeue_after, std::optional<Duration>(w.spec.controller_timer));
  EXPECT_FALSE(d.retry.has_value());
  ASSERT_TRUE(d.failure.has_value());
  EXPECT_EQ(d.failure->reason, "AWSAccessDenied");

  o.refresher.status = *s;
  Decision again = decide(o, kNow + w.spec.controller_timer);
  EXPECT_FALSE(hasEvent(again, "AWSAccessDenied", kube::EventType::Warning));
}

// ListNodegroups answering "no such cluster" names the cluster and the region.
TEST(Decide, UnknownClusterIsClusterNotFound) {
  World w;
  Observed o = w.observed();
  o.cluster_missing = true;
  Decision d = decide(o, kNow);
  auto s = patched(d);
  ASSERT_TRUE(s);
  EXPECT_EQ(cond(*s, kReady).reason, "ClusterNotFound");
  EXPECT_THAT(cond(*s, kReady).message, HasSubstr("\"" + w.spec.cluster_name + "\""));
  EXPECT_THAT(cond(*s, kReady).message, HasSubstr(w.spec.region));
  EXPECT_EQ(cond(*s, kStalled).status, "True");
  EXPECT_EQ(awsActions(d), 0u);
}

// A group that cannot be read is Unknown with the error, is not failed and halts nothing; the
// other groups start as they would. A denial is not retried with backoff; a throttle is.
TEST(Decide, UnreadableGroupIsUnknownAndTheOthersGoOn) {
  World w;
  w.managed = {group("a", kOld), group("b", kOld)};
  Observed o = w.observed();
  Error denied(ErrorCode::PermissionDenied, "ec2 DescribeLaunchTemplateVersions: not authorized");
  denied.action = "ec2:DescribeLaunchTemplateVersions";
  o.groups[1].observe_error = denied;
  Decision d = decide(o, kNow);
  auto s = patched(d);
  ASSERT_TRUE(s);
  EXPECT_EQ(entry(*s, "a").phase, Phase::Updating);
  EXPECT_EQ(entry(*s, "b").phase, Phase::Unknown);
  EXPECT_THAT(entry(*s, "b").message, HasSubstr("ec2:DescribeLaunchTemplateVersions"));
  EXPECT_NE(cond(*s, kStalled).status, "True");
  EXPECT_EQ(cond(*s, kReady).reason, "AWSAccessDenied");
  EXPECT_TRUE(hasEvent(d, "AWSAccessDenied", kube::EventType::Warning));
  EXPECT_FALSE(d.retry.has_value());

  Error throttled(ErrorCode::Throttled, "Rate exceeded");
  throttled.action = "ec2:DescribeLaunchTemplateVersions";
  o.groups[1].observe_error = throttled;
  EXPECT_TRUE(decide(o, kNow).retry.has_value());
}

// A throttled read is retried with backoff: the decision carries the error to the work queue.
TEST(Decide, ThrottledReadRetriesWithBackoff) {
  World w;
  Observed o = w.observed();
  Error throttled(ErrorCode::Throttled, "Rate exceeded");
  throttled.action = "autoscaling:DescribeAutoScalingGroups";
  o.failure = throttled;
  Decision d = decide(o, kNow);
  ASSERT_TRUE(d.retry.has_value());
  EXPECT_EQ(d.retry->code, ErrorCode::Throttled);
  auto s = patched(d);
  ASSERT_TRUE(s);
  EXPECT_EQ(cond(*s, kProgressing).reason, "AWSUnavailable");
}

// --- starting a rollout ---

// With maxConcurrentNodegroups=1 only the first group starts: its intent (Updating, the version
// it runs now) is recorded first with no AWS call; the next look makes a launch template version
// from its current one with the target image, then a node-group update with force and
// idempotency tokens.
TEST(Decide, StartsOneGroupAtATime) {
  World w;
  w.spec.refresh.force = true;
  w.managed = {group("b", kOld), group("a", kOld)};
  Decision intent = w.decide();
  EXPECT_EQ(awsActions(intent), 0u);
  auto s = patched(intent);
  ASSERT_TRUE(s);
  EXPECT_EQ(entry(*s, "a").phase, Phase::Updating);
  EXPECT_EQ(entry(*s, "a").previous_launch_template_version, "3");
  EXPECT_EQ(entry(*s, "a").target_image, kTarget);
  EXPECT_EQ(entry(*s, "b").phase, Phase::Pending);
  EXPECT_THAT(entry(*s, "b").message, HasSubstr("maxConcurrentNodegroups=1"));
  EXPECT_EQ(s->target_ami, kTarget);
  EXPECT_TRUE(s->target_expires_at.has_value());
  EXPECT_EQ(s->updated, "0/2");
  EXPECT_EQ(s->state, kStateRolling);
  EXPECT_EQ(cond(*s, kProgressing).status, "True");
  EXPECT_EQ(intent.requeue_after, kPollInterval);
  EXPECT_TRUE(hasMetric(intent, MetricKind::RolloutStarted));
  ASSERT_EQ(all<Notify>(intent).size(), 1u);
  EXPECT_EQ(all<Notify>(intent)[0].notification.title, "Rollout started");

  advance(w, intent);
  Decision d = w.decide();
  auto creates = all<CreateLaunchTemplateVersion>(d);
  auto updates = all<UpdateNodegroup>(d);
  ASSERT_EQ(creates.size(), 1u);
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(creates[0].group, "a");
  EXPECT_EQ(creates[0].launch_template_id, "lt-a");
  EXPECT_EQ(creates[0].source_version, "3");
  EXPECT_EQ(creates[0].image_id, kTarget);
  EXPECT_FALSE(creates[0].client_token.empty());
  EXPECT_LE(creates[0].client_token.size(), 128u);
  EXPECT_EQ(updates[0].group, "a");
  EXPECT_EQ(updates[0].cluster_name, "prod");
  EXPECT_EQ(updates[0].launch_template_id, "lt-a");
  EXPECT_EQ(updates[0].version, "");  // the one just created
  EXPECT_TRUE(updates[0].force);
  EXPECT_NE(updates[0].client_request_token, creates[0].client_token);

  // Their outcomes land in the one status write of that look, with the UpdateStarted event; the
  // rollout is not announced twice.
  Decision done = afterCalls(w, d);
  EXPECT_TRUE(done.aws.empty());
  ASSERT_TRUE(std::holds_alternative<PatchStatus>(done.actions.front()));
  EXPECT_EQ(all<PatchStatus>(done).size(), 1u);
  EXPECT_EQ(entry(*patched(done), "a").update_id, "u-a");
  EXPECT_EQ(entry(*patched(done), "a").launch_template.version, "4");
  EXPECT_EQ(entry(*patched(done), "a").previous_launch_template_version, "3");
  EXPECT_EQ(done.requeue_after, kPollInterval);
  EXPECT_TRUE(hasEvent(done, "UpdateStarted", kube::EventType::Normal));
  EXPECT_FALSE(hasMetric(done, MetricKind::RolloutStarted));
  EXPECT_TRUE(all<Notify>(done).empty());
}

// maxConcurrentNodegroups bounds how many groups update at once, counting those in flight.
TEST(Decide, ConcurrencyLimitCountsGroupsInFlight) {
  World w;
  w.spec.refresh.max_concurrent_nodegroups = 2;
  w.managed = {group("a", kOld, 4, aws::NodegroupStatus::Updating), group("b", kOld),
               group("c", kOld)};
  w.managed[0].update = aws::Update{.id = "u-a", .status = aws::UpdateStatus::InProgress};
  w.status.observed_generation = 1;
  w.status.target_ami = std::string(kTarget);
  w.status.nodegroups = {updatingEntry("a", "u-a")};
  Decision intent = w.decide();
  auto s = patched(intent);
  EXPECT_EQ(entry(*s, "a").phase, Phase::Updating);
  EXPECT_EQ(entry(*s, "b").phase, Phase::Updating);
  EXPECT_EQ(entry(*s, "c").phase, Phase::Pending);
  // A second rollout-started notification is not sent for the same target.
  EXPECT_FALSE(hasMetric(intent, MetricKind::RolloutStarted));
  advance(w, intent);
  Decision d = w.decide();
  auto updates = all<UpdateNodegroup>(d);
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].group, "b");
}

// Groups already on the target are UpToDate; when all are, Ready=True and nothing is called.
TEST(Decide, AllGroupsOnTargetIsReadyAndQuiet) {
  World w;
  w.managed = {group("a", kTarget), group("b", kTarget)};
  Decision d = w.decide();
  EXPECT_EQ(awsActions(d), 0u);
  auto s = patched(d);
  ASSERT_TRUE(s);
  EXPECT_EQ(entry(*s, "a").phase, Phase::UpToDate);
  EXPECT_EQ(s->updated, "2/2");
  EXPECT_EQ(s->state, kStateReady);
  EXPECT_EQ(cond(*s, kReady).status, "True");
  EXPECT_EQ(d.requeue_after, w.spec.controller_timer);

  // The next reconcile finds the same world and writes nothing.
  advance(w, d);
  Decision again = w.decide(kNow + minutes(5));
  EXPECT_TRUE(again.actions.empty() || !patched(again).has_value());
  EXPECT_EQ(awsActions(again), 0u);
  EXPECT_TRUE(all<RecordEvent>(again).empty());
}

// Exclusions match exact names and '*' globs; excluded groups are listed but never touched.
TEST(Decide, ExcludedGroupsAreNeverUpdated) {
  World w;
  w.spec.exclude = {"ingress-*", "system"};
  w.spec.refresh.max_concurrent_nodegroups = 5;
  w.managed = {group("ingress-dev", kOld), group("system", kOld), group("workers", kOld),
               group("systems", kOld)};
  Decision d = secondLook(w);
  std::set<std::string> updated;
  for (const UpdateNodegroup& u : all<UpdateNodegroup>(d)) {
    updated.insert(u.group);
  }
  EXPECT_EQ(updated, (std::set<std::string>{"workers", "systems"}));
  auto s = patched(d);
  EXPECT_EQ(entry(*s, "ingress-dev").phase, Phase::Excluded);
  EXPECT_THAT(entry(*s, "ingress-dev").message, HasSubstr("ingress-*"));
  EXPECT_EQ(entry(*s, "system").phase, Phase::Excluded);
  EXPECT_EQ(s->updated, "0/2");
}

// A group without a launch template is skipped with the reason, and does not block the others.
TEST(Decide, GroupWithoutLaunchTemplateIsSkipped) {
  World w;
  w.managed = {group("a", kOld), group("b", kOld)};
  w.managed[0].nodegroup.launch_template.reset();
  w.managed[0].launch_template_version.reset();
  w.managed[0].nodegroup.ami_type = "AL2023_x86_64_STANDARD";
  Decision first = w.decide();
  auto s = patched(first);
  EXPECT_EQ(entry(*s, "a").phase, Phase::Skipped);
  EXPECT_THAT(entry(*s, "a").message, HasSubstr("no launch template"));
  EXPECT_EQ(entry(*s, "b").phase, Phase::Updating);
  EXPECT_EQ(s->updated, "0/1");
  EXPECT_TRUE(hasEvent(first, "NodegroupSkipped", kube::EventType::Normal));
  advance(w, first);
  Decision d = w.decide();
  ASSERT_EQ(all<UpdateNodegroup>(d).size(), 1u);
  EXPECT_EQ(all<UpdateNodegroup>(d)[0].group, "b");
}

// A group whose launch template sets no image (EKS picks the AMI) is skipped, not failed.
TEST(Decide, GroupWhoseTemplateSetsNoImageIsSkipped) {
  World w;
  w.managed = {group("a", "")};
  w.managed[0].nodegroup.ami_type = "AL2023_x86_64_STANDARD";
  Decision d = w.decide();
  EXPECT_EQ(awsActions(d), 0u);
  EXPECT_EQ(entry(*patched(d), "a").phase, Phase::Skipped);
  EXPECT_THAT(entry(*patched(d), "a").message, HasSubstr("AL2023_x86_64_STANDARD"));
}

// --- following updates ---

// While an update runs, nothing new is issued for it and the controller polls.
TEST(Decide, RunningUpdateIsFollowedNotRepeated) {
  World w;
  w.managed = {group("a", kOld, 3, aws::NodegroupStatus::Updating), group("b", kOld)};
  w.managed[0].update = aws::Update{.id = "u-a", .status = aws::UpdateStatus::InProgress};
  w.status.observed_generation = 1;
  w.status.target_ami = std::string(kTarget);
  w.status.nodegroups = {updatingEntry("a", "u-a")};
  Decision d = w.decide();
  EXPECT_EQ(awsActions(d), 0u);
  EXPECT_EQ(d.requeue_after, kPollInterval);
}

// A successful update moves the group to Succeeded, records the roll time, and frees the slot.
TEST(Decide, SuccessfulUpdateStartsTheNextGroup) {
  World w;
  w.managed = {group("a", kTarget, 4), group("b", kOld)};
  w.managed[0].update = aws::Update{.id = "u-a", .status = aws::UpdateStatus::Successful};
  w.status.observed_generation = 1;
  w.status.target_ami = std::string(kTarget);
  w.status.state = std::string(kStateRolling);
  w.status.nodegroups = {updatingEntry("a", "u-a", kNow - minutes(20))};
  Decision d = w.decide();
  auto s = patched(d);
  EXPECT_EQ(entry(*s, "a").phase, Phase::Succeeded);
  EXPECT_EQ(entry(*s, "b").phase, Phase::Updating);  // its start is recorded
  advance(w, d);
  Decision next = w.decide();
  ASSERT_EQ(all<UpdateNodegroup>(next).size(), 1u);
  EXPECT_EQ(all<UpdateNodegroup>(next)[0].group, "b");
  bool timed = false;
  for (const RecordMetric& m : all<RecordMetric>(d)) {
    if (m.kind == MetricKind::GroupRolled) {
      timed = true;
      EXPECT_EQ(m.elapsed, minutes(20));
    }
  }
  EXPECT_TRUE(timed);
  EXPECT_TRUE(hasEvent(d, "UpdateSucceeded", kube::EventType::Normal));
}

// The last success finishes the rollout: Ready=True, a RolloutComplete event, a notification.
TEST(Decide, LastSuccessFinishesTheRollout) {
  World w;
  w.managed = {group("a", kTarget, 4)};
  w.managed[0].update = aws::Update{.id = "u-a", .status = aws::UpdateStatus::Successful};
  w.status.observed_generation = 1;
  w.status.target_ami = std::string(kTarget);
  w.status.state = std::string(kStateRolling);
  w.status.nodegroups = {updatingEntry("a", "u-a")};
  Decision d = w.decide();
  auto s = patched(d);
  EXPECT_EQ(s->state, kStateReady);
  EXPECT_TRUE(hasMetric(d, MetricKind::RolloutFinished));
  ASSERT_EQ(all<Notify>(d).size(), 1u);
  EXPECT_EQ(all<Notify>(d)[0].notification.title, "Rollout finished");
}

// A failed update halts the rollout: Stalled=True naming EKS's error code, a Warning event and a
// notification, and no other group starts.
TEST(Decide, FailedUpdateHaltsEverything) {
  World w;
  w.spec.refresh.max_concurrent_nodegroups = 3;
  w.managed = {group("a", kOld, 4), group("b", kOld), group("c", kOld)};
  w.managed[0].update =
      aws::Update{.id = "u-a",
                  .status = aws::UpdateStatus::Failed,
                  .errors = {{.code = "PodEvictionFailure",
                              .message = "Reached max retries while trying to evict pods",
                              .resource_ids = {"ip-10-0-0-1"}}}};
  w.status.observed_generation = 1;
  w.status.target_ami = std::string(kTarget);
  w.status.nodegroups = {updatingEntry("a", "u-a")};
  Decision d = w.decide();
  EXPECT_EQ(awsActions(d), 0u);
  auto s = patched(d);
  EXPECT_EQ(entry(*s, "a").phase, Phase::Failed);
  EXPECT_THAT(entry(*s, "a").message, HasSubstr("PodEvictionFailure"));
  EXPECT_EQ(entry(*s, "b").phase, Phase::Pending);
  EXPECT_THAT(entry(*s, "b").message, HasSubstr("halted"));
  EXPECT_EQ(s->state, kStateStalled);
  EXPECT_EQ(cond(*s, kStalled).status, "True");
  EXPECT_THAT(cond(*s, kStalled).message, HasSubstr("PodEvictionFailure"));
  EXPECT_TRUE(hasEvent(d, "UpdateFailed", kube::EventType::Warning));
  EXPECT_TRUE(hasMetric(d, MetricKind::RolloutFailed));
  ASSERT_EQ(all<Notify>(d).size(), 1u);
  EXPECT_EQ(all<Notify>(d)[0].notification.severity, notify::Severity::Error);

  // Later reconciles stay halted and quiet.
  advance(w, d);
  w.managed[0].update.reset();
  Decision later = w.decide(kNow + hours(1));
  EXPECT_EQ(awsActions(later), 0u);
  EXPECT_FALSE(hasEvent(later, "UpdateFailed", kube::EventType::Warning));
  EXPECT_FALSE(patched(later).has_value());
}

NodegroupStatus failedEntry(std::string name, std::string target = std::string(kTarget)) {
  NodegroupStatus e = updatingEntry(std::move(name), "u-1");
  e.phase = Phase::Failed;
  e.target_image = std::move(target);
  e.message = "update u-1 failed: PodEvictionFailure";
  return e;
}

// A spec change (new generation) lifts the halt: the failed group is tried again with a new
// token, so EKS does not hand back the failed update.
TEST(Decide, SpecChangeLiftsTheHalt) {
  World w;
  w.managed = {group("a", kOld), group("b", kOld)};
  w.status.observed_generation = 1;
  w.status.target_ami = std::string(kTarget);
  w.status.state = std::string(kStateStalled);
  w.status.nodegroups = {failedEntry("a")};
  Decision halted = w.decide();
  EXPECT_EQ(awsActions(halted), 0u);

  w.generation = 2;
  Decision d = secondLook(w);
  ASSERT_EQ(all<UpdateNodegroup>(d).size(), 1u);
  EXPECT_EQ(all<UpdateNodegroup>(d)[0].group, "a");
  World first;
  first.managed = {group("a", kOld)};
  EXPECT_NE(all<UpdateNodegroup>(d)[0].client_request_token,
            all<UpdateNodegroup>(secondLook(first))[0].client_request_token);
}

// A new target image lifts the halt: a failure on the old target does not block the new one.
TEST(Decide, NewTargetLiftsTheHalt) {
  World w;
  w.managed = {group("a", kOld)};
  w.status.observed_generation = 1;
  w.status.target_ami = "ami-0ccccccccccccccc3";
  w.status.state = std::string(kStateStalled);
  w.status.nodegroups = {failedEntry("a", "ami-0ccccccccccccccc3")};
  Decision d = w.decide();
  EXPECT_EQ(entry(*patched(d), "a").phase, Phase::Updating);
  EXPECT_TRUE(hasEvent(d, "TargetSelected", kube::EventType::Normal));
  advance(w, d);
  ASSERT_EQ(all<UpdateNodegroup>(w.decide()).size(), 1u);
}

// An update still running after updateTimeout counts as failed and halts the rollout.
TEST(Decide, TimedOutUpdateFails) {
  World w;
  w.spec.refresh.update_timeout = hours(2);
  w.managed = {group("a", kOld, 4, aws::NodegroupStatus::Updating), group("b", kOld)};
  w.managed[0].update = aws::Update{.id = "u-a", .status = aws::UpdateStatus::InProgress};
  w.status.observed_generation = 1;
  w.status.target_ami = std::string(kTarget);
  w.status.nodegroups = {updatingEntry("a", "u-a", kNow - hours(3))};
  Decision d = w.decide();
  auto s = patched(d);
  EXPECT_EQ(entry(*s, "a").phase, Phase::Failed);
  EXPECT_THAT(entry(*s, "a").message, HasSubstr("updateTimeout"));
  EXPECT_EQ(awsActions(d), 0u);
  EXPECT_EQ(cond(*s, kStalled).status, "True");
}

// With rollbackOnFailure a failed group goes back to its recorded previous version once no update
// runs on it, and only then.
TEST(Decide, RollbackPutsTheFailedGroupBack) {
  World w;
  w.spec.refresh.rollback_on_failure = true;
  w.managed = {group("a", kTarget, 4, aws::NodegroupStatus::Updating)};
  w.status.observed_generation = 1;
  w.status.target_ami = std::string(kTarget);
  w.status.state = std::string(kStateStalled);
  w.status.nodegroups = {failedEntry("a")};
  EXPECT_EQ(awsActions(w.decide()), 0u);  // EKS still busy with the group

  w.managed[0].nodegroup.status = aws::NodegroupStatus::Active;
  Decision d = w.decide();
  auto rollbacks = all<RollbackNodegroup>(d);
  ASSERT_EQ(rollbacks.size(), 1u);
  EXPECT_EQ(rollbacks[0].update.group, "a");
  EXPECT_EQ(rollbacks[0].update.version, "3");
  EXPECT_EQ(rollbacks[0].update.launch_template_id, "lt-a");
  Decision done = afterCalls(w, d);
  EXPECT_TRUE(hasEvent(done, "RollbackStarted", kube::EventType::Warning));
  EXPECT_EQ(entry(*patched(done), "a").rollback_update_id, "u-a");
  EXPECT_THAT(entry(*patched(done), "a").message, HasSubstr("rollback u-a"));

  // A rollback on record is not started again, even before EKS shows the group busy.
  advance(w, done);
  EXPECT_EQ(awsActions(w.decide()), 0u);

  // Once the group is back on version 3, nothing more is done.
  w.managed = {group("a", kOld, 3)};
  EXPECT_EQ(awsActions(w.decide()), 0u);
}

// Without rollbackOnFailure a failed group is left where it is.
TEST(Decide, NoRollbackUnlessAsked) {
  World w;
  w.managed = {group("a", kTarget, 4)};
  w.status.observed_generation = 1;
  w.status.target_ami = std::string(kTarget);
  w.status.nodegroups = {failedEntry("a")};
  EXPECT_EQ(awsActions(w.decide()), 0u);
}

// paused: updates in flight are followed to their end, no new group starts.
TEST(Decide, PausedFinishesInFlightStartsNothing) {
  World w;
  w.spec.paused = true;
  w.spec.refresh.max_concurrent_nodegroups = 3;
  w.managed = {group("a", kOld, 4, aws::NodegroupStatus::Updating), group("b", kOld)};
  w.managed[0].update = aws::Update{.id = "u-a", .status = aws::UpdateStatus::InProgress};
  w.status.observed_generation = 1;
  w.status.target_ami = std::string(kTarget);
  w.status.nodegroups = {updatingEntry("a", "u-a")};
  Decision d = w.decide();
  EXPECT_EQ(awsActions(d), 0u);
  auto s = patched(d);
  EXPECT_EQ(s->state, kStatePaused);
  EXPECT_EQ(cond(*s, kProgressing).status, "True");
  EXPECT_THAT(entry(*s, "b").message, HasSubstr("paused"));
  EXPECT_EQ(d.requeue_after, kPollInterval);

  w.managed[0] = group("a", kTarget, 4);
  w.managed[0].update = aws::Update{.id = "u-a", .status = aws::UpdateStatus::Successful};
  advance(w, d);
  Decision after = w.decide();
  EXPECT_EQ(awsActions(after), 0u);
  EXPECT_EQ(entry(*patched(after), "a").phase, Phase::Succeeded);
  EXPECT_EQ(cond(*patched(after), kProgressing).status, "False");
}

// waitForCompletion=false: an accepted update counts as done at the next look, freeing its slot.
TEST(Decide, NotWaitingMovesOnOnceAccepted) {
  World w;
  w.spec.refresh.wait_for_completion = false;
  w.managed = {group("a", kOld, 4, aws::NodegroupStatus::Updating), group("b", kOld)};
  w.managed[0].update = aws::Update{.id = "u-a", .status = aws::UpdateStatus::InProgress};
  w.status.observed_generation = 1;
  w.status.target_ami = std::string(kTarget);
  w.status.nodegroups = {updatingEntry("a", "u-a")};
  Decision d = w.decide();
  EXPECT_EQ(entry(*patched(d), "a").phase, Phase::Succeeded);
  EXPECT_EQ(entry(*patched(d), "b").phase, Phase::Updating);
  advance(w, d);
  ASSERT_EQ(all<UpdateNodegroup>(w.decide()).size(), 1u);
  EXPECT_EQ(all<UpdateNodegroup>(w.decide())[0].group, "b");
}

// --- restarts ---

struct RestartCase {
  std::string name;
  std::optional<NodegroupStatus> recorded;  // what status said when the controller died
  aws::NodegroupStatus eks_status;          // the node group per EKS
  std::string_view image;                   // the image its launch template runs
  bool reissue;                             // an update is (re)issued
};

class DecideRestart : public ::testing::TestWithParam<RestartCase> {};

// A controller killed at any instant resumes from status and EKS: it never issues a second update
// for a group that has one running or already runs the target; an interrupted start is re-issued
// with the very same tokens, so EKS and EC2 return what the first attempt made.
TEST_P(DecideRestart, NeverUpdatesTwice) {
  World w;
  w.managed = {group("a", GetParam().image, 4, GetParam().eks_status)};
  w.status.observed_generation = 1;
  w.status.target_ami = std::string(kTarget);
  if (GetParam().recorded) {
    w.status.nodegroups = {*GetParam().recorded};
  }
  Decision d = w.decide();
  auto updates = all<UpdateNodegroup>(d);
  EXPECT_EQ(updates.size(), GetParam().reissue ? 1u : 0u);
  if (GetParam().reissue && !updates.empty()) {
    World fresh;
    fresh.managed = {group("a", kOld, 4)};
    Decision first = secondLook(fresh);
    EXPECT_EQ(updates[0].client_request_token, all<UpdateNodegroup>(first)[0].client_request_token);
    EXPECT_EQ(all<CreateLaunchTemplateVersion>(d)[0].client_token,
              all<CreateLaunchTemplateVersion>(first)[0].client_token);
    EXPECT_EQ(entry(*patched(d), "a").previous_launch_template_version, "3");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, DecideRestart,
    ::testing::Values(RestartCase{"UpdateIdRecordedEksUpdating", updatingEntry("a", "u-a"),
                                  aws::NodegroupStatus::Updating, kOld, false},
                      RestartCase{"NoUpdateIdEksUpdating", updatingEntry("a", ""),
                                  aws::NodegroupStatus::Updating, kOld, false},
                      RestartCase{"NoUpdateIdAlreadyOnTarget", updatingEntry("a", ""),
                                  aws::NodegroupStatus::Active, kTarget, false},
                      RestartCase{"StatusNeverWrittenEksUpdating", std::nullopt,
                                  aws::NodegroupStatus::Updating, kOld, false},
                      RestartCase{"NoUpdateIdNothingRan", updatingEntry("a", ""),
                                  aws::NodegroupStatus::Active, kOld, true}),
    [](const auto& param_info) { return param_info.param.name; });

// --- refreshConfig rollout limits ---

struct ConfigCase {
  std::string name;
  std::optional<int> spec_count;
  std::optional<int> spec_percentage;
  std::optional<int> group_count;
  std::optional<int> group_percentage;
  bool config_first;
};

class DecideUpdateConfig : public testing::TestWithParam<ConfigCase> {};

// A managed group whose updateConfig differs from spec.refreshConfig gets an UpdateNodegroupConfig
// (carrying only the spec's limit) instead of the version update; an equal one, or a spec without
// limits, goes straight to the version update.
TEST_P(DecideUpdateConfig, ConfigUpdateOnlyWhenTheLimitDiffers) {
  const ConfigCase& c = GetParam();
  World w;
  w.spec.refresh.max_unavailable = c.spec_count;
  w.spec.refresh.max_unavailable_percentage = c.spec_percentage;
  w.managed = {group("a", kOld)};
  w.managed[0].nodegroup.max_unavailable = c.group_count;
  w.managed[0].nodegroup.max_unavailable_percentage = c.group_percentage;
  Decision d = secondLook(w);
  auto configs = all<UpdateNodegroupConfig>(d);
  if (c.config_first) {
    ASSERT_EQ(configs.size(), 1u);
    EXPECT_EQ(configs[0].cluster_name, "prod");
    EXPECT_EQ(configs[0].group, "a");
    EXPECT_EQ(configs[0].max_unavailable, c.spec_count);
    EXPECT_EQ(configs[0].max_unavailable_percentage, c.spec_percentage);
    EXPECT_FALSE(configs[0].client_request_token.empty());
    EXPECT_TRUE(all<CreateLaunchTemplateVersion>(d).empty());
    EXPECT_TRUE(all<UpdateNodegroup>(d).empty());
    EXPECT_TRUE(hasEvent(afterCalls(w, d), "UpdateConfigStarted", kube::EventType::Normal));
  } else {
    EXPECT_TRUE(configs.empty());
    EXPECT_EQ(all<CreateLaunchTemplateVersion>(d).size(), 1u);
    EXPECT_EQ(all<UpdateNodegroup>(d).size(), 1u);
  }
  ASSERT_TRUE(std::holds_alternative<PatchStatus>(d.actions.front()));
  EXPECT_EQ(entry(*patched(d), "a").phase, Phase::Updating);
  EXPECT_EQ(entry(*patched(d), "a").previous_launch_template_version, "3");
}

INSTANTIATE_TEST_SUITE_P(
    Cases, DecideUpdateConfig,
    testing::Values(ConfigCase{"NoLimitsGroupHasCount", {}, {}, 1, {}, false},
                    ConfigCase{"NoLimitsGroupHasPercentage", {}, {}, {}, 50, false},
                    ConfigCase{"CountEqual", 2, {}, 2, {}, false},
                    ConfigCase{"PercentageEqual", {}, 25, {}, 25, false},
                    ConfigCase{"CountDiffers", 3, {}, 1, {}, true},
                    ConfigCase{"CountWhereGroupHasPercentage", 2, {}, {}, 2, true},
                    ConfigCase{"PercentageDiffers", {}, 33, {}, 10, true},
                    ConfigCase{"PercentageWhereGroupHasCount", {}, 40, 1, {}, true},
                    ConfigCase{"GroupReportsNothing", 1, {}, {}, {}, true}),
    [](const testing::TestParamInfo<ConfigCase>& i) { return i.param.name; });

// The config update is followed like a version update: while it runs nothing else is issued,
// once it succeeds (and EKS reports the new limit) the version update starts with the same
// tokens a group without the change would get, and the same token is reissued if its start was
// interrupted. A failed config update fails the group.
TEST(Decide, ConfigUpdateIsFollowedThenTheVersionUpdateStarts) {
  World w;
  w.spec.refresh.max_unavailable_percentage = 20;
  w.managed = {group("a", kOld)};
  Decision d = secondLook(w);
  ASSERT_EQ(all<UpdateNodegroupConfig>(d).size(), 1u);
  const std::string token = all<UpdateNodegroupConfig>(d)[0].client_request_token;
  advance(w, d);

  // Interrupted before the update id reached status: the same request again.
  Decision again = w.decide();
  ASSERT_EQ(all<UpdateNodegroupConfig>(again).size(), 1u);
  EXPECT_EQ(all<UpdateNodegroupConfig>(again)[0].client_request_token, token);
  EXPECT_TRUE(all<UpdateNodegroup>(again).empty());

  // The executor recorded the update id; EKS is applying it.
  w.status.nodegroups[0].update_id = "cfg-1";
  w.managed[0].nodegroup.status = aws::NodegroupStatus::Updating;
  w.managed[0].update = aws::Update{.id = "cfg-1",
                                    .status = aws::UpdateStatus::InProgress,
                                    .type = aws::UpdateType::ConfigUpdate};
  Decision running = w.decide();
  EXPECT_EQ(awsActions(running), 0u);
  EXPECT_EQ(running.requeue_after, kPollInterval);
  if (auto written = patched(running)) {
    EXPECT_EQ(entry(*written, "a").phase, Phase::Updating);
  }
  advance(w, running);

  // Done: the group now reports the limit, so the version update goes out.
  w.managed[0].nodegroup.status = aws::NodegroupStatus::Active;
  w.managed[0].nodegroup.max_unavailable = std::nullopt;
  w.managed[0].nodegroup.max_unavailable_percentage = 20;
  w.managed[0].update->status = aws::UpdateStatus::Successful;
  Decision next = w.decide();
  EXPECT_TRUE(all<UpdateNodegroupConfig>(next).empty());
  ASSERT_EQ(all<CreateLaunchTemplateVersion>(next).size(), 1u);
  ASSERT_EQ(all<UpdateNodegroup>(next).size(), 1u);
  EXPECT_EQ(all<CreateLaunchTemplateVersion>(next)[0].source_version, "3");
  EXPECT_FALSE(hasMetric(next, MetricKind::GroupRolled));
  EXPECT_EQ(entry(*patched(next), "a").phase, Phase::Updating);
  EXPECT_EQ(entry(*patched(next), "a").previous_launch_template_version, "3");

  World plain;
  plain.managed = {group("a", kOld)};
  Decision direct = secondLook(plain);
  EXPECT_EQ(all<UpdateNodegroup>(next)[0].client_request_token,
            all<UpdateNodegroup>(direct)[0].client_request_token);
  EXPECT_NE(all<UpdateNodegroup>(next)[0].client_request_token, token);

  // A failed config update fails the group and halts the rollout.
  w.managed[0].nodegroup.max_unavailable_percentage = std::nullopt;
  w.managed[0].nodegroup.max_unavailable = 1;
  w.managed[0].update->status = aws::UpdateStatus::Failed;
  Decision failed = w.decide();
  EXPECT_EQ(awsActions(failed), 0u);
  EXPECT_EQ(entry(*patched(failed), "a").phase, Phase::Failed);
  EXPECT_THAT(entry(*patched(failed), "a").message, HasSubstr("updateConfig"));
}

// --- self-managed groups ---

// Self-managed groups get a launch template version and an instance refresh with the configured
// preferences; their state is followed through DescribeInstanceRefreshes.
TEST(Decide, SelfManagedGroupGetsInstanceRefresh) {
  World w;
  w.spec.self_managed = {
      .enabled = true, .min_healthy_percentage = 80, .instance_warmup = minutes(3)};
  w.self_managed = {asg("asg-a", kOld)};
  Decision d = secondLook(w);
  auto creates = all<CreateLaunchTemplateVersion>(d);
  auto refreshes = all<StartInstanceRefresh>(d);
  ASSERT_EQ(creates.size(), 1u);
  ASSERT_EQ(refreshes.size(), 1u);
  EXPECT_EQ(creates[0].kind, GroupKind::SelfManaged);
  EXPECT_EQ(creates[0].source_version, "7");
  EXPECT_EQ(refreshes[0].group, "asg-a");
  EXPECT_EQ(refreshes[0].min_healthy_percentage, 80);
  EXPECT_EQ(refreshes[0].instance_warmup_seconds, 180);
  EXPECT_FALSE(refreshes[0].rollback);
  EXPECT_EQ(entry(*patched(d), "asg-a").kind, GroupKind::SelfManaged);

  // Following it: in progress, then a failure halts the rollout.
  advance(w, d);
  w.status.nodegroups[0].update_id = "r-1";
  w.self_managed[0].refreshes = {
      {.id = "r-1", .status = aws::InstanceRefreshStatus::InProgress, .percentage_complete = 40}};
  EXPECT_EQ(awsActions(w.decide()), 0u);
  w.self_managed[0].refreshes = {{.id = "r-1",
                                  .status = aws::InstanceRefreshStatus::Failed,
                                  .status_reason = "instances failed health checks"}};
  Decision failed = w.decide();
  EXPECT_EQ(entry(*patched(failed), "asg-a").phase, Phase::Failed);
  EXPECT_THAT(entry(*patched(failed), "asg-a").message, HasSubstr("health checks"));
}

// A drain that outlives drain.timeout halts the rollout by default: the refresh is cancelled, the
// instance released, the group fails naming the budget, one Warning Event says so, and no other
// group starts, even with a free slot.
TEST(Decide, SelfManagedDrainTimeoutHaltsTheRollout) {
  World w;
  w.spec.self_managed.enabled = true;
  // A free slot: the halt must still keep asg-b from starting in the same reconcile.
  w.spec.refresh.max_concurrent_nodegroups = 2;
  w.spec.self_managed.drain.timeout = minutes(10);
  w.self_managed = {asg("asg-a", kOld), asg("asg-b", kOld)};
  w.self_managed[0].refreshes = {{.id = "r-1", .status = aws::InstanceRefreshStatus::InProgress}};
  w.status.target_ami = std::string(kTarget);
  w.status.nodegroups = {{.name = "asg-a",
                          .kind = GroupKind::SelfManaged,
                          .previous_launch_template_version = "7",
                          .target_image = std::string(kTarget),
                          .phase = Phase::Updating,
                          .update_id = "r-1",
                          .last_transition_time = kNow - minutes(20),
                          .drains = {{.instance_id = "i-1",
                                      .node = "n1",
                                      .started_at = kNow - minutes(10),
                                      .last_heartbeat = kNow - minutes(1),
                                      .pods_left = 1,
                                      .blocked_by_pdb = "shop/web",
                                      .blocked_pod = "shop/web-1"}}}};
  w.draining["asg-a"] = {{.instance_id = "i-1",
                          .node = "n1",
                          .cordoned = true,
                          .pods = {{.ns = "shop", .name = "web-1"}}}};
  Decision first = w.decide();
  ASSERT_EQ(all<CancelInstanceRefresh>(first).size(), 1u);
  ASSERT_EQ(all<CompleteLifecycleAction>(first).size(), 1u);
  EXPECT_EQ(all<CompleteLifecycleAction>(first)[0].result, "ABANDON");
  EXPECT_TRUE(all<StartInstanceRefresh>(first).empty()) << "asg-b started while halting";

  Outcomes done(first.aws.size());
  Decision d = w.decide(kNow, &done);
  const RefresherStatus written = *patched(d);
  const NodegroupStatus& a = entry(written, "asg-a");
  EXPECT_EQ(a.phase, Phase::Failed);
  EXPECT_THAT(a.message, HasSubstr("PodDisruptionBudget shop/web blocks pod shop/web-1"));
  EXPECT_EQ(entry(*patched(d), "asg-b").phase, Phase::Pending);
  auto events = all<RecordEvent>(d);
  EXPECT_EQ(std::count_if(events.begin(), events.end(),
                          [](const RecordEvent& e) { return e.reason == "DrainTimedOut"; }),
            1);
  const kube::Condition* stalled = kube::findCondition(written.conditions, kStalled);
  ASSERT_NE(stalled, nullptr);
  EXPECT_EQ(stalled->status, "True");
}

// Self-managed asg-a failed on the target (no spec change since) with `message`, while its
// refresh r-1 still runs.
World failedWhileRefreshRuns(std::string message) {
  World w;
  w.spec.self_managed.enabled = true;
  w.self_managed = {asg("asg-a", kOld)};
  w.self_managed[0].refreshes = {{.id = "r-1", .status = aws::InstanceRefreshStatus::InProgress}};
  w.status.observed_generation = w.generation;  // no spec change: a failed group stays failed
  w.status.target_ami = std::string(kTarget);
  w.status.nodegroups = {{.name = "asg-a",
                          .kind = GroupKind::SelfManaged,
                          .previous_launch_template_version = "7",
                          .target_image = std::string(kTarget),
                          .phase = Phase::Failed,
                          .update_id = "r-1",
                          .message = std::move(message),
                          .last_transition_time = kNow}};
  return w;
}

// A group that failed but still has a node draining (its rollback, or a second instance) keeps
// its message: the drain summary is replaced on each look, never piled up.
TEST(Decide, DrainSummaryDoesNotPileUpInTheMessage) {
  World w = failedWhileRefreshRuns("drain of node n0 timed out; draining node n1: 1 pod left");
  w.status.nodegroups[0].drains = {{.instance_id = "i-1", .node = "n1", .started_at = kNow}};
  w.draining["asg-a"] = {
      {.instance_id = "i-1", .node = "n1", .cordoned = true, .pods = {{.ns = "a", .name = "p"}}}};
  for (int look = 0; look < 3; ++look) {
    Decision first = w.decide(kNow + std::chrono::seconds(look));
    Outcomes done(first.aws.size());
    Decision d = w.decide(kNow + std::chrono::seconds(look), &done);
    if (const std::optional<RefresherStatus> next = patched(d)) {
      w.status = *next;  // no write when nothing changed
    }
  }
  const std::string message = entry(w.status, "asg-a").message;
  EXPECT_EQ(message.find("draining"), message.rfind("draining")) << message;
  EXPECT_THAT(message, ::testing::StartsWith("drain of node n0 timed out; draining node n1"));
}

// A rollout a drain halted whose refresh is still running (the cancel failed) cancels again.
TEST(Decide, HaltedDrainCancelsTheRefreshAgainUntilItStops) {
  World w = failedWhileRefreshRuns(
      "drain of node n0 timed out with 1 pod left; instance refresh r-1 cancelled and the "
      "rollout halted");
  EXPECT_EQ(all<CancelInstanceRefresh>(w.decide()).size(), 1u);
  w.self_managed[0].refreshes = {{.id = "r-1", .status = aws::InstanceRefreshStatus::Cancelled}};
  EXPECT_TRUE(all<CancelInstanceRefresh>(w.decide()).empty());
}

// While a node drains the group is looked at again within seconds, not every poll interval.
TEST(Decide, SelfManagedDrainIsLookedAtSoon) {
  World w;
  w.spec.self_managed.enabled = true;
  w.self_managed = {asg("asg-a", kOld)};
  w.self_managed[0].refreshes = {{.id = "r-1", .status = aws::InstanceRefreshStatus::InProgress}};
  w.status.target_ami = std::string(kTarget);
  w.status.nodegroups = {{.name = "asg-a",
                          .kind = GroupKind::SelfManaged,
                          .target_image = std::string(kTarget),
                          .phase = Phase::Updating,
                          .update_id = "r-1",
                          .last_transition_time = kNow}};
  w.draining["asg-a"] = {{.instance_id = "i-1", .node = "n1", .pods = {{.ns = "a", .name = "p"}}}};
  Decision first = w.decide();
  EXPECT_EQ(all<CordonNode>(first).size(), 1u);
  EXPECT_EQ(all<EvictPod>(first).size(), 1u);
  Outcomes done(first.aws.size());
  Decision d = w.decide(kNow, &done);
  EXPECT_EQ(d.requeue_after, std::chrono::seconds(5));
  ASSERT_EQ(entry(*patched(d), "asg-a").drains.size(), 1u);
  EXPECT_EQ(entry(*patched(d), "asg-a").drains[0].last_heartbeat, kNow);
  EXPECT_THAT(entry(*patched(d), "asg-a").message, HasSubstr("draining node n1"));
}

// A refresh someone else started is waited for, not fought; disabled self-managed support ignores
// Auto Scaling groups entirely; mixed instances policies are skipped.
TEST(Decide, SelfManagedWaitsAndSkips) {
  World w;
  w.spec.self_managed.enabled = true;
  w.spec.refresh.max_concurrent_nodegroups = 5;
  w.self_managed = {asg("asg-a", kOld), asg("asg-b", kOld)};
  w.self_managed[0].refreshes = {{.id = "r-x", .status = aws::InstanceRefreshStatus::InProgress}};
  w.self_managed[1].group.mixed_instances_policy = true;
  Decision d = w.decide();
  EXPECT_EQ(awsActions(d), 0u);
  EXPECT_EQ(entry(*patched(d), "asg-a").phase, Phase::Pending);
  EXPECT_THAT(entry(*patched(d), "asg-a").message, HasSubstr("r-x"));
  EXPECT_EQ(entry(*patched(d), "asg-b").phase, Phase::Skipped);

  w.spec.self_managed.enabled = false;
  Decision off = w.decide();
  EXPECT_TRUE(patched(off)->nodegroups.empty());
}

// --- spec.builderRef ---

World builderWorld(std::optional<BuilderObservation> builder) {
  World w;
  w.spec.ami_filters.clear();
  w.spec.region = "us-west-2";
  w.spec.builder_ref = BuilderRef{.name = "base-al2023", .ns = "ci"};
  w.target = TargetObservation{.builder = std::move(builder)};
  w.managed = {group("ng-a", kOld)};
  return w;
}

// The builder's active image, confirmed in EC2 and eligible, is the target: the group is rolled.
TEST(DecideBuilderRef, FollowsTheBuildersActiveImage) {
  World w = builderWorld(
      BuilderObservation{.found = true, .image_id = std::string(kTarget), .region = "us-west-2"});
  w.target->matched = {managedImage(kTarget, "2026-11-20T00:00:00Z")};
  auto s = patched(w.decide());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->target_ami, kTarget);
  EXPECT_THAT(all<RecordEvent>(w.decide()),
              ::testing::Contains(
                  ::testing::Field(&RecordEvent::note, HasSubstr("PackerBuilder ci/base-al2023"))));
}

// A builder that has not built yet is a wait (Ready=False, not Stalled), looked at again after
// controllerTimer; nothing is rolled.
TEST(DecideBuilderRef, WaitsWhileTheBuilderHasNoImage) {
  World w = builderWorld(BuilderObservation{.found = true, .region = "us-west-2"});
  Decision d = w.decide();
  EXPECT_EQ(awsActions(d), 0u);
  EXPECT_EQ(d.requeue_after, std::optional<Duration>(w.spec.controller_timer));
  auto s = patched(d);
  ASSERT_TRUE(s);
  EXPECT_EQ(cond(*s, kReady).status, kube::kConditionFalse);
  EXPECT_EQ(cond(*s, kReady).reason, "NoEligibleImage");
  EXPECT_EQ(cond(*s, kReady).message, "PackerBuilder ci/base-al2023 has no built image yet");
  EXPECT_EQ(cond(*s, kStalled).status, kube::kConditionFalse);
}

// A deprecated image is never rolled, even while the builder still names it.
TEST(DecideBuilderRef, RefusesADeprecatedImage) {
  World w = builderWorld(
      BuilderObservation{.found = true, .image_id = std::string(kTarget), .region = "us-west-2"});
  w.target->matched = {managedImage(kTarget, "2026-11-20T00:00:00Z", "deprecated")};
  Decision d = w.decide();
  EXPECT_EQ(awsActions(d), 0u);
  auto s = patched(d);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->target_ami.empty());
  EXPECT_EQ(cond(*s, kReady).reason, "NoEligibleImage");
  EXPECT_THAT(cond(*s, kReady).message, HasSubstr("status=deprecated"));
}

// A builder that does not exist is shown on Ready, and is a wait rather than Stalled: creating
// it is enough.
TEST(DecideBuilderRef, UnknownBuilderIsShownNotStalled) {
  World w = builderWorld(BuilderObservation{});
  Decision d = w.decide();
  EXPECT_EQ(awsActions(d), 0u);
  EXPECT_EQ(d.requeue_after, std::optional<Duration>(w.spec.controller_timer));
  auto s = patched(d);
  ASSERT_TRUE(s);
  EXPECT_EQ(cond(*s, kReady).message, "PackerBuilder ci/base-al2023 not found");
  EXPECT_EQ(cond(*s, kStalled).status, kube::kConditionFalse);
}

// An image EC2 does not have in the refresher's region names the region, and the builder's own
// when it builds elsewhere.
TEST(DecideBuilderRef, ImageMissingInTheRegionNamesTheBuildersRegion) {
  World w = builderWorld(
      BuilderObservation{.found = true, .image_id = std::string(kTarget), .region = "eu-west-1"});
  auto s = patched(w.decide());
  ASSERT_TRUE(s);
  EXPECT_EQ(cond(*s, kReady).message,
            std::string(kTarget) +
                " of PackerBuilder ci/base-al2023 was not found in us-west-2 (the builder builds "
                "in eu-west-1)");
}

// A refresher in a region the builder copies its image to (status.copies) follows that copy,
// not the builder's own image (issue 17).
TEST(DecideBuilderRef, FollowsTheCopyInTheRefreshersRegion) {
  const std::string copy = "ami-0c0c0c0c0c0c0c0c1";
  World w = builderWorld(BuilderObservation{.found = true,
                                            .image_id = "ami-0eeeeeeeeeeeeeee1",
                                            .region = "eu-west-1",
                                            .copies = {{"us-west-2", copy}}});
  ASSERT_EQ(w.target->builder->imageFor("us-west-2"), copy);
  ASSERT_EQ(w.target->builder->imageFor("eu-west-1"), "ami-0eeeeeeeeeeeeeee1");
  w.target->matched = {managedImage(copy, "2026-11-20T00:00:00Z")};
  auto s = patched(w.decide());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->target_ami, copy);
}

// A builder with copies, none in this refresher's region: the message names where it has images.
TEST(DecideBuilderRef, NoCopyInTheRegionNamesTheBuildersRegions) {
  World w = builderWorld(BuilderObservation{.found = true,
                                            .image_id = std::string(kTarget),
                                            .region = "eu-west-1",
                                            .copies = {{"ap-south-1", "ami-0c0c0c0c0c0c0c0c1"},
                                                       {"eu-central-1", "ami-0c0c0c0c0c0c0c0c2"}}});
  auto s = patched(w.decide());
  ASSERT_TRUE(s);
  EXPECT_EQ(cond(*s, kReady).message,
            std::string(kTarget) +
                " of PackerBuilder ci/base-al2023 was not found in us-west-2 (the builder builds "
                "in eu-west-1 and copies to ap-south-1, eu-central-1)");
}

}  // namespace
}  // namespace opsy::ami_refresh
