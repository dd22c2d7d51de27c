// Karpenter EC2NodeClasses as AMIRefresher targets: spec.karpenter parsing, the EC2NodeClass and
// NodeClaim readers, the node-class rules of planGroup() and what decide() does with them.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ami-refresh-controller/api.h"
#include "ami-refresh-controller/decide.h"
#include "ami-refresh-controller/group_plan.h"
#include "ami-refresh-controller/karpenter.h"
#include "opsy/ami/tags.h"
#include "opsy/core/time_format.h"
#include "opsy/kube/conditions.h"

namespace opsy::ami_refresh {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using ::testing::HasSubstr;

const TimePoint kNow = parseRfc3339("2026-11-21T12:00:00Z").value();
constexpr std::string_view kTarget = "ami-0aaaaaaaaaaaaaaa1";
constexpr std::string_view kOld = "ami-0bbbbbbbbbbbbbbb2";
constexpr std::string_view kAlias = R"([{"alias":"al2023@latest"}])";

std::string pin(std::string_view image) {
  return fmt::format(R"([{{"id":"{}"}}])", image);
}

kube::Object object(const std::string& json) {
  auto o = kube::Object::parse(json);
  EXPECT_TRUE(o.has_value()) << json;
  return o ? *o : kube::Object{};
}

Result<Spec> specWith(const std::string& karpenter) {
  return parseSpec(object(
      R"({"apiVersion":"ami.refresh.ops/v1alpha1","kind":"AMIRefresher","metadata":{"name":"r",)"
      R"("namespace":"ops"},"spec":{"region":"us-west-2","clusterName":"prod",)"
      R"("ami":"ami-0123456789abcdef0","karpenter":)" +
      karpenter + "}}"));
}

// spec.karpenter names node classes or selects them, never both, and an invalid selector names
// its field.
TEST(KarpenterSpec, NamesOrSelectorExactlyOne) {
  auto names = specWith(R"({"nodeClasses":{"names":["default","gpu"]}})");
  ASSERT_TRUE(names.has_value()) << names.error().message;
  EXPECT_EQ(names->karpenter->names, (std::vector<std::string>{"default", "gpu"}));
  EXPECT_EQ(names->karpenter->selector, "");

  auto sel = specWith(R"({"nodeClasses":{"selector":{"matchLabels":{"team":"a"},)"
                      R"("matchExpressions":[{"key":"tier","operator":"In","values":["x","y"]},)"
                      R"({"key":"legacy","operator":"DoesNotExist"}]}}})");
  ASSERT_TRUE(sel.has_value()) << sel.error().message;
  EXPECT_EQ(sel->karpenter->selector, "team=a,tier in (x,y),!legacy");

  struct Case {
    std::string karpenter;
    std::string error;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"nodeClasses":{"names":["a"],"selector":{"matchLabels":{"a":"b"}}}})",
            "spec.karpenter.nodeClasses: set exactly one of names and selector"},
           {R"({"nodeClasses":{}})",
            "spec.karpenter.nodeClasses: set exactly one of names and selector"},
           {R"({})", "spec.karpenter.nodeClasses: required"},
           {R"({"nodeClasses":{"selector":{}}})", "spec.karpenter.nodeClasses.selector: must set"},
           {R"({"nodeClasses":{"selector":{"matchExpressions":[{"key":"a","operator":"Near"}]}}})",
            "operator"},
       }) {
    auto s = specWith(c.karpenter);
    ASSERT_FALSE(s.has_value()) << c.karpenter;
    EXPECT_THAT(s.error().message, HasSubstr(c.error)) << c.karpenter;
  }
}

// A node class entry keeps its previous terms and NodeClaim counts through a status round trip.
TEST(KarpenterSpec, StatusRoundTripsNodeClassFields) {
  RefresherStatus s;
  s.nodegroups.push_back(NodegroupStatus{
      .name = "default",
      .kind = GroupKind::NodeClass,
      .previous_ami_selector_terms = std::string(kAlias),
      .node_claims = NodeClaimCounts{.total = 3, .on_target = 1, .old = 2, .drifted = 2},
      .target_image = std::string(kTarget),
      .phase = Phase::Updating});
  kube::Object obj = object(R"({"apiVersion":"ami.refresh.ops/v1alpha1","kind":"AMIRefresher",)"
                            R"("metadata":{"name":"r","namespace":"ops"}})");
  std::string patch = statusPatch(s);
  ASSERT_TRUE(obj.setJson("/status", patch.substr(10, patch.size() - 11)).has_value()) << patch;
  RefresherStatus back = parseStatus(obj);
  ASSERT_EQ(back.nodegroups.size(), 1U);
  EXPECT_EQ(back.nodegroups[0], s.nodegroups[0]);
}

// The readers: a pin is exactly one id-only term; status.amis and Ready are read; a NodeClaim
// belongs to the class its nodeClassRef names, with its image, Ready and Drifted.
TEST(KarpenterObjects, NodeClassAndNodeClaimAreRead) {
  NodeClassObservation nc = observedNodeClass(object(fmt::format(
      R"({{"apiVersion":"karpenter.k8s.aws/v1","kind":"EC2NodeClass","metadata":{{"name":"a"}},)"
      R"("spec":{{"amiSelectorTerms":[{{"id":"{}"}}]}},"status":{{"amis":[{{"id":"{}"}}],)"
      R"("conditions":[{{"type":"Ready","status":"False","reason":"AMINotFound","message":"m"}}]}}}})",
      kTarget, kTarget)));
  EXPECT_TRUE(nc.found);
  EXPECT_EQ(nc.pinned_image, kTarget);
  EXPECT_EQ(nc.ami_selector_terms, pin(kTarget));
  EXPECT_EQ(nc.resolved_images, std::vector<std::string>{std::string(kTarget)});
  EXPECT_EQ(nc.ready, "False");
  EXPECT_EQ(nc.ready_reason, "AMINotFound");

  NodeClassObservation two = observedNodeClass(object(
      R"({"apiVersion":"karpenter.k8s.aws/v1","kind":"EC2NodeClass","metadata":{"name":"a"},)"
      R"("spec":{"amiSelectorTerms":[{"id":"ami-1","name":"x"}]}})"));
  EXPECT_EQ(two.pinned_image, "") << "a term with more than an id is not a pin";

  kube::Object claim = object(fmt::format(
      R"({{"apiVersion":"karpenter.sh/v1","kind":"NodeClaim","metadata":{{"name":"c1"}},)"
      R"("spec":{{"nodeClassRef":{{"group":"karpenter.k8s.aws","kind":"EC2NodeClass","name":"a"}}}},)"
      R"("status":{{"imageID":"{}","conditions":[{{"type":"Ready","status":"True"}},)"
      R"({{"type":"Drifted","status":"True"}}]}}}})",
      kOld));
  EXPECT_EQ(nodeClassOf(claim), "a");
  NodeObservation n = observedNodeClaim(claim);
  EXPECT_EQ(n.name, "c1");
  EXPECT_TRUE(n.ready);
  EXPECT_TRUE(n.drifted);
  EXPECT_EQ(n.image_id, kOld);
}

// One node class in the shape the reconciler builds.
struct NodeClassWorld {
  std::string terms = std::string(kAlias);
  std::vector<std::string> resolved = {std::string(kOld)};
  std::string ready = "True";
  std::string ready_reason;
  // (image, ready, drifted) per NodeClaim.
  std::vector<std::tuple<std::string, bool, bool>> claims;
  bool found = true;

  GroupObservation observation() const {
    GroupObservation g{.name = "default", .kind = GroupKind::NodeClass};
    NodeClassObservation nc;
    nc.found = found;
    nc.ami_selector_terms = terms;
    if (terms.find(R"("id")") != std::string::npos) {
      nc.pinned_image = terms.substr(8, terms.size() - 8 - 3);
    }
    nc.resolved_images = resolved;
    nc.ready = ready;
    nc.ready_reason = ready_reason;
    int i = 0;
    for (const auto& [image, ready_claim, drifted] : claims) {
      nc.claims.push_back(NodeObservation{.name = fmt::format("c{}", i++),
                                          .ready = ready_claim,
                                          .image_id = image,
                                          .drifted = drifted});
    }
    g.nodes = nc.claims;
    g.node_class = std::move(nc);
    return g;
  }
};

Spec nodeClassSpec() {
  Spec s;
  s.region = "us-west-2";
  s.cluster_name = "prod";
  s.ami = "ami-0123456789abcdef0";
  s.karpenter = KarpenterConfig{.names = {"default"}};
  return s;
}

NodegroupStatus entry(Phase phase, std::string previous = std::string(kAlias),
                      TimePoint since = kNow - minutes(5)) {
  return NodegroupStatus{.name = "default",
                         .kind = GroupKind::NodeClass,
                         .previous_ami_selector_terms = std::move(previous),
                         .target_image = std::string(kTarget),
                         .phase = phase,
                         .last_transition_time = since};
}

// planGroup() for a node class, case by case.
TEST(KarpenterPlan, NodeClassRules) {
  struct Case {
    std::string name;
    NodeClassWorld world;
    std::optional<NodegroupStatus> old;
    bool rollback_on_failure = false;
    Phase phase;
    bool startable = false;
    bool restart = false;
    bool rollback = false;
    std::string message;
    std::optional<NodeClaimCounts> counts;
  };
  const std::string pinned = pin(kTarget);
  std::vector<Case> cases = {
      {.name = "not pinned and no entry: startable",
       .world = {.claims = {{std::string(kOld), true, false}}},
       .phase = Phase::Pending,
       .startable = true,
       .counts = NodeClaimCounts{.total = 1, .old = 1}},
      {.name = "intent on record, not pinned yet: the patch is (re)issued",
       .world = {},
       .old = entry(Phase::Updating),
       .phase = Phase::Updating,
       .restart = true},
      {.name = "pinned, not resolved yet: waits for Karpenter",
       .world = {.terms = pinned, .claims = {{std::string(kOld), true, false}}},
       .old = entry(Phase::Updating),
       .phase = Phase::Updating,
       .message = "waiting for Karpenter"},
      {.name = "resolved, one NodeClaim drifted and still old: Updating with counts",
       .world = {.terms = pinned,
                 .resolved = {std::string(kTarget)},
                 .claims = {{std::string(kOld), true, true}, {std::string(kTarget), true, false}}},
       .old = entry(Phase::Updating),
       .phase = Phase::Updating,
       .message = "1 of 2 NodeClaims on",
       .counts = NodeClaimCounts{.total = 2, .on_target = 1, .old = 1, .drifted = 1}},
      {.name = "resolved and every NodeClaim on the target: Succeeded",
       .world = {.terms = pinned,
                 .resolved = {std::string(kTarget)},
                 .claims = {{std::string(kTarget), true, false}}},
       .old = entry(Phase::Updating),
       .phase = Phase::Succeeded},
      {.name = "Ready False with a reason after the pin: Failed naming it",
       .world = {.terms = pinned, .ready = "False", .ready_reason = "AMINotFound"},
       .old = entry(Phase::Updating),
       .phase = Phase::Failed,
       .message = "AMINotFound"},
      {.name = "NodeClaims not replaced within updateTimeout: Failed",
       .world = {.terms = pinned,
                 .resolved = {std::string(kTarget)},
                 .claims = {{std::string(kOld), true, true}}},
       .old = entry(Phase::Updating, std::string(kAlias), kNow - hours(3)),
       .phase = Phase::Failed,
       .message = "updateTimeout"},
      {.name = "failed with rollbackOnFailure: re-pin the previous terms",
       .world = {.terms = pinned, .resolved = {std::string(kTarget)}},
       .old = entry(Phase::Failed),
       .rollback_on_failure = true,
       .phase = Phase::Failed,
       .rollback = true},
      {.name = "failed and already back on the previous terms: no second rollback",
       .world = {},
       .old = entry(Phase::Failed),
       .rollback_on_failure = true,
       .phase = Phase::Failed},
      {.name = "failed without rollbackOnFailure: stays",
       .world = {.terms = pinned},
       .old = entry(Phase::Failed),
       .phase = Phase::Failed},
      {.name = "already pinned and resolved with no entry: UpToDate",
       .world = {.terms = pinned,
                 .resolved = {std::string(kTarget)},
                 .claims = {{std::string(kTarget), true, false}}},
       .phase = Phase::UpToDate},
      {.name = "a named node class that does not exist: Unknown naming it",
       .world = {.found = false},
       .phase = Phase::Unknown,
       .message = "EC2NodeClass default does not exist"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Spec spec = nodeClassSpec();
    spec.refresh.rollback_on_failure = c.rollback_on_failure;
    RefresherStatus old;
    if (c.old) {
      old.nodegroups.push_back(*c.old);
    }
    GroupPlan p =
        planGroup(c.world.observation(),
                  {.spec = spec, .old = old, .target = std::string(kTarget), .now = kNow});
    EXPECT_EQ(p.entry.phase, c.phase) << toString(p.entry.phase) << ": " << p.entry.message;
    EXPECT_EQ(p.startable, c.startable);
    EXPECT_EQ(p.restart, c.restart);
    EXPECT_EQ(p.rollback, c.rollback);
    EXPECT_THAT(p.entry.message, HasSubstr(c.message));
    if (c.counts) {
      EXPECT_EQ(p.entry.node_claims, c.counts);
    }
    // The image shown is the pin, or what the old terms resolved to.
    if (c.world.found) {
      EXPECT_EQ(p.entry.current_image, c.world.terms == std::string(kAlias)
                                           ? c.world.resolved.front()
                                           : std::string(kTarget));
    }
  }
}

Observed observedWith(const NodeClassWorld& w, RefresherStatus status,
                      Spec spec = nodeClassSpec()) {
  Observed o;
  o.refresher.metadata.name = "roll";
  o.refresher.metadata.ns = "ops";
  o.refresher.metadata.uid = "uid-1";
  o.refresher.metadata.generation = 1;
  o.refresher.spec = spec;
  status.observed_generation = 1;
  o.refresher.status = std::move(status);
  aws::Image image;
  image.id = "ami-0123456789abcdef0";
  image.state = aws::ImageState::Available;
  image.creation_date = kNow - hours(24);
  image.tags = ami::fullTags({"prod", "builder", "https://git/x", "main"}, {"ami-base", "b1", "j1"},
                             kNow - hours(24));
  image.tags["status"] = "active";
  o.target = TargetObservation{.matched = {image}};
  o.groups.push_back(w.observation());
  return o;
}

// The start of a node class is recorded first (Updating, its terms kept for rollback) with no
// patch; the next reconcile patches the pin; in Plan mode nothing is patched and the next step
// names the pin.
TEST(KarpenterDecide, StartRecordsIntentThenPins) {
  const std::string target = "ami-0123456789abcdef0";
  Decision first = decide(observedWith({}, {}), kNow);
  EXPECT_TRUE(first.aws.empty());
  auto* patch = std::get_if<PatchStatus>(&first.actions.front());
  ASSERT_NE(patch, nullptr);
  const NodegroupStatus* e = patch->after.entry("default", GroupKind::NodeClass);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->phase, Phase::Updating);
  EXPECT_EQ(e->previous_ami_selector_terms, kAlias);

  Decision second = decide(observedWith({}, patch->after), kNow + minutes(1));
  ASSERT_EQ(second.aws.size(), 1U);
  auto* pinning = std::get_if<PinNodeClass>(&second.aws[0]);
  ASSERT_NE(pinning, nullptr);
  EXPECT_EQ(pinning->group, "default");
  EXPECT_EQ(pinning->terms, pin(target));
  EXPECT_FALSE(pinning->rollback);

  Spec plan = nodeClassSpec();
  plan.mode = Mode::Plan;
  Decision planned = decide(observedWith({}, {}, plan), kNow);
  EXPECT_TRUE(planned.aws.empty());
  auto* plan_patch = std::get_if<PatchStatus>(&planned.actions.front());
  ASSERT_NE(plan_patch, nullptr);
  const NodegroupStatus* pe = plan_patch->after.entry("default", GroupKind::NodeClass);
  ASSERT_NE(pe, nullptr);
  EXPECT_EQ(pe->phase, Phase::Pending);
  EXPECT_THAT(pe->next_step, HasSubstr(pin(target)));
}

// A failed node class with rollbackOnFailure is re-pinned to the terms it had, once.
TEST(KarpenterDecide, FailedNodeClassIsRepinned) {
  const std::string target = "ami-0123456789abcdef0";
  Spec spec = nodeClassSpec();
  spec.refresh.rollback_on_failure = true;
  NodegroupStatus failed = entry(Phase::Failed);
  failed.target_image = target;
  RefresherStatus status;
  status.target_ami = target;
  status.nodegroups.push_back(failed);
  Decision d = decide(observedWith({.terms = pin(target)}, status, spec), kNow);
  ASSERT_EQ(d.aws.size(), 1U);
  auto* repin = std::get_if<PinNodeClass>(&d.aws[0]);
  ASSERT_NE(repin, nullptr);
  EXPECT_TRUE(repin->rollback);
  EXPECT_EQ(repin->terms, kAlias);

  Outcomes outcomes = {ActionOutcome{.value = std::string(kAlias)}};
  Decision folded = decide(observedWith({.terms = pin(target)}, status, spec), kNow, &outcomes);
  auto* patch = std::get_if<PatchStatus>(&folded.actions.front());
  ASSERT_NE(patch, nullptr);
  const NodegroupStatus* e = patch->after.entry("default", GroupKind::NodeClass);
  EXPECT_FALSE(e->rollback_update_id.empty());
  Decision again = decide(observedWith({.terms = pin(target)}, patch->after, spec), kNow);
  EXPECT_TRUE(again.aws.empty()) << "re-pinned twice";
}

// Without --karpenter, or without Karpenter's resources, a refresher with spec.karpenter is
// Stalled with a reason saying which.
TEST(KarpenterDecide, DisabledOrMissingKarpenterIsStalled) {
  Observed disabled = observedWith({}, {});
  disabled.karpenter_disabled = true;
  Decision d = decide(disabled, kNow);
  auto* patch = std::get_if<PatchStatus>(&d.actions.front());
  ASSERT_NE(patch, nullptr);
  const kube::Condition* c = kube::findCondition(patch->after.conditions, kube::kConditionStalled);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, kube::kConditionTrue);
  EXPECT_EQ(c->reason, "KarpenterDisabled");
  EXPECT_THAT(c->message, HasSubstr("--karpenter"));

  Observed missing = observedWith({}, {});
  missing.karpenter_missing = "no ec2nodeclasses";
  Decision m = decide(missing, kNow);
  auto* mp = std::get_if<PatchStatus>(&m.actions.front());
  ASSERT_NE(mp, nullptr);
  c = kube::findCondition(mp->after.conditions, kube::kConditionStalled);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->reason, "KarpenterNotInstalled");
  EXPECT_TRUE(m.aws.empty());
}

// Node classes wait for a maintenance window and for a free slot as node groups do: outside the
// window nothing starts; inside it, with maxConcurrentNodegroups=1 and another node class
// Updating, the second waits.
TEST(KarpenterDecide, WindowsAndConcurrencyApply) {
  Spec spec = nodeClassSpec();
  spec.karpenter->names = {"default", "gpu"};
  // kNow is Saturday 2026-11-21 12:00Z; the window opens at 21:00Z.
  spec.maintenance_windows = {
      MaintenanceWindow::parse({.schedule = "0 21 * * SAT", .duration = "2h", .time_zone = "UTC"})
          .value()};
  Observed o = observedWith({}, {}, spec);
  GroupObservation gpu = o.groups[0];
  gpu.name = "gpu";
  o.groups.push_back(gpu);
  Decision outside = decide(o, kNow);
  EXPECT_TRUE(outside.aws.empty());
  auto* patch = std::get_if<PatchStatus>(&outside.actions.front());
  ASSERT_NE(patch, nullptr);
  EXPECT_EQ(patch->after.state, kStateWaiting);
  EXPECT_EQ(patch->after.entry("default", GroupKind::NodeClass)->phase, Phase::Pending);
  EXPECT_THAT(patch->after.entry("gpu", GroupKind::NodeClass)->message,
              HasSubstr("maintenance window"));

  Decision inside = decide(o, kNow + hours(9) + minutes(30));
  patch = std::get_if<PatchStatus>(&inside.actions.front());
  ASSERT_NE(patch, nullptr);
  EXPECT_EQ(patch->after.entry("default", GroupKind::NodeClass)->phase, Phase::Updating);
  const NodegroupStatus* second = patch->after.entry("gpu", GroupKind::NodeClass);
  EXPECT_EQ(second->phase, Phase::Pending);
  EXPECT_THAT(second->message, HasSubstr("maxConcurrentNodegroups=1"));
}

// Two refreshers conflict over a node class both name or select, never over one only one of them
// selects; the later one is Stalled naming the node class.
TEST(KarpenterConflict, SharedNodeClassIsAConflict) {
  NodeClassWorld w;
  GroupObservation g = w.observation();
  g.node_class->labels = {{"team", "a"}};
  const Spec mine = nodeClassSpec();
  Peer by_name{.ns = "ops", .name = "first", .karpenter = KarpenterConfig{.names = {"default"}}};
  Peer by_selector{
      .ns = "ops", .name = "first", .karpenter = KarpenterConfig{.selector = "team=a"}};
  Peer elsewhere{.ns = "ops", .name = "first", .karpenter = KarpenterConfig{.selector = "team=b"}};
  Peer no_karpenter{.ns = "ops", .name = "first"};
  EXPECT_EQ(sharedGroup(by_name, mine, {g}), std::optional<std::string>("default"));
  EXPECT_EQ(sharedGroup(by_selector, mine, {g}), std::optional<std::string>("default"));
  EXPECT_EQ(sharedGroup(elsewhere, mine, {g}), std::nullopt);
  EXPECT_EQ(sharedGroup(no_karpenter, mine, {g}), std::nullopt);

  Observed o = observedWith(w, {});
  o.groups[0].node_class->labels = {{"team", "a"}};
  o.refresher.metadata.creation_timestamp = kNow;
  by_selector.created = kNow - hours(1);
  o.peers = {by_selector};
  Decision d = decide(o, kNow);
  EXPECT_TRUE(d.aws.empty());
  auto* patch = std::get_if<PatchStatus>(&d.actions.front());
  ASSERT_NE(patch, nullptr);
  const kube::Condition* c = kube::findCondition(patch->after.conditions, kube::kConditionStalled);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->reason, "Conflict");
  EXPECT_THAT(c->message, HasSubstr("EC2NodeClass default"));
}

}  // namespace
}  // namespace opsy::ami_refresh
