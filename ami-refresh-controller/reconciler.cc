#include "ami-refresh-controller/reconciler.h"

#include <algorithm>

#include "ami-refresh-controller/canary.h"
#include "ami-refresh-controller/karpenter.h"
#include "ami-refresh-controller/nodes.h"
#include "ami-refresh-controller/observation.h"
#include "opsy/ami/selection.h"
#include "opsy/ami/tags.h"
#include "opsy/core/log.h"

namespace opsy::ami_refresh {
namespace {

bool isNotFound(const Error& e) {
  return e.code == ErrorCode::NotFound;
}

// A launch template version that cannot be read because it is gone or malformed is the group's
// problem (it is skipped, saying why); anything else fails the reconcile for a retry.
bool isGroupProblem(const Error& e) {
  return e.code == ErrorCode::NotFound || e.code == ErrorCode::InvalidArgument;
}

// The reads of one refresher's cluster: through the shared cache when there is one, each answer
// at most a controllerTimer old (the refresher's own period, so a new or changed group is seen
// within it as without the cache), and fresh where `fresh` is asked for.
class ClusterReads {
 public:
  ClusterReads(aws::ClusterDescribeCache* cache, AwsClients& clients, const Spec& spec)
      : cache_(cache), clients_(clients), spec_(spec) {}

  Result<std::vector<std::string>> listNodegroups() {
    if (cache_ == nullptr) {
      return clients_.eks->listNodegroups(spec_.cluster_name);
    }
    return cache_->listNodegroups(spec_.region, spec_.cluster_name, *clients_.eks, maxAge(false));
  }
  Result<aws::Nodegroup> describeNodegroup(const std::string& name, bool fresh) {
    if (cache_ == nullptr) {
      return clients_.eks->describeNodegroup(spec_.cluster_name, name);
    }
    return cache_->describeNodegroup(spec_.region, spec_.cluster_name, *clients_.eks, name,
                                     maxAge(fresh));
  }
  Result<std::vector<aws::AutoScalingGroup>> describeAutoScalingGroups(
      const aws::DescribeAutoScalingGroupsInput& in, bool fresh) {
    if (cache_ == nullptr) {
      return clients_.autoscaling->describeAutoScalingGroups(in);
    }
    return cache_->describeAutoScalingGroups(spec_.region, spec_.cluster_name,
                                             *clients_.autoscaling, in, maxAge(fresh));
  }
  Result<std::vector<aws::InstanceRefresh>> describeInstanceRefreshes(const std::string& group,
                                                                      bool fresh) {
    if (cache_ == nullptr) {
      return clients_.autoscaling->describeInstanceRefreshes(group);
    }
    return cache_->describeInstanceRefreshes(spec_.region, spec_.cluster_name,
                                             *clients_.autoscaling, group, maxAge(fresh));
  }
  Result<std::vector<aws::LaunchTemplateVersion>> describeLaunchTemplateVersions(
      const aws::DescribeLaunchTemplateVersionsInput& in, bool fresh) {
    if (cache_ == nullptr) {
      return clients_.ec2->describeLaunchTemplateVersions(in);
    }
    return cache_->describeLaunchTemplateVersions(spec_.region, spec_.cluster_name, *clients_.ec2,
                                                  in, maxAge(fresh));
  }

 private:
  Duration maxAge(bool fresh) const { return fresh ? Duration::zero() : spec_.controller_timer; }

  aws::ClusterDescribeCache* cache_;
  AwsClients& clients_;
  const Spec& spec_;
};

// A group this refresher is updating, or whose nodes it drains, is read fresh on every reconcile:
// its polls must see what its update did as soon as without the cache (and the fresh answer serves
// the other refreshers). Every other group is at most a controllerTimer old.
bool readFresh(const NodegroupStatus* entry) {
  return entry != nullptr && (entry->phase == Phase::Updating || !entry->drains.empty());
}

// Reads the launch template version a group runs into `g` (or why it could not be read).
Status readLaunchTemplateVersion(ClusterReads& aws, bool fresh, GroupObservation& g) {
  const aws::LaunchTemplateSpec& lt = *g.launch_template;
  aws::DescribeLaunchTemplateVersionsInput in;
  if (!lt.id.empty()) {
    in.launch_template_id = lt.id;
  } else {
    in.launch_template_name = lt.name;
  }
  in.versions = {lt.version.empty() ? "$Default" : lt.version};
  auto r = aws.describeLaunchTemplateVersions(in, fresh);
  if (!r) {
    if (isGroupProblem(r.error())) {
      g.launch_template_error = controller::quoteServiceError(r.error().message);
      return ok();
    }
    return fail(std::move(r).error().context("describe launch template versions"));
  }
  if (r->empty()) {
    g.launch_template_error = "no such version";
    return ok();
  }
  g.launch_template_version = r->front();
  return ok();
}

// The Auto Scaling lifecycle state of an instance held by a termination lifecycle hook.
constexpr std::string_view kTerminatingWait = "Terminating:Wait";

bool updatingAny(const RefresherStatus& status) {
  return std::any_of(status.nodegroups.begin(), status.nodegroups.end(),
                     [](const NodegroupStatus& g) { return readFresh(&g); });
}

}  // namespace

Reconciler::Reconciler(ReconcilerDeps deps)
    : deps_(std::move(deps)),
      executor_({.status = deps_.status,
                 .events = deps_.events,
                 .notifiers = deps_.notifiers,
                 .metrics = deps_.metrics.get(),
                 .writer = deps_.writer,
                 .field_manager = deps_.field_manager}) {
  if (!deps_.peers) {
    deps_.peers = std::make_shared<PeerRegistry>();
  }
}

Result<std::vector<aws::Image>> Reconciler::describeImages(const Spec& spec, aws::ImageApi& ec2,
                                                           const aws::DescribeImagesInput& in) {
  if (deps_.image_cache) {
    // A shared answer is never older than this refresher's own period, so a new image is seen
    // within one controllerTimer.
    return deps_.image_cache->describeImages(
        spec.region, ec2, in, std::min(deps_.image_cache_max_age, spec.controller_timer));
  }
  return ec2.describeImages(in);
}

Result<TargetObservation> Reconciler::observeTarget(const Spec& spec, aws::ImageApi& ec2) {
  TargetObservation target;
  if (spec.builder_ref) {
    OPSY_ASSIGN_OR_RETURN(target.builder, observeBuilder(*spec.builder_ref));
    if (target.builder->image_id.empty()) {
      return target;
    }
    // Its copy in this refresher's region (status.copies), else its active image.
    auto images = describeImages(spec, ec2, {.image_ids = {target.builder->imageFor(spec.region)}});
    if (images) {
      target.matched = std::move(*images);
    } else if (!isNotFound(images.error())) {
      return fail(std::move(images).error().context("describe the builder's image"));
    }
    return target;
  }
  if (spec.ami) {
    auto images = describeImages(spec, ec2, {.image_ids = {*spec.ami}});
    if (images) {
      target.matched = std::move(*images);
    } else if (!isNotFound(images.error())) {
      return fail(std::move(images).error().context("describe target image"));
    }
    return target;
  }
  OPSY_ASSIGN_OR_RETURN(target.matched, describeImages(spec, ec2, {.filters = spec.ami_filters}));
  std::vector<std::string> bases = ami::baseIds(target.matched);
  if (!bases.empty()) {
    std::vector<aws::Filter> filters = {{"tag:" + std::string(ami::kTagBaseAmi), bases}};
    OPSY_ASSIGN_OR_RETURN(target.derived,
                          describeImages(spec, ec2, {.owners = {"self"}, .filters = filters}));
  }
  return target;
}

// status.copies holds at most this many (the PackerBuilder schema's maxItems).
constexpr std::size_t kMaxBuilderCopies = 32;

Result<BuilderObservation> Reconciler::observeBuilder(const BuilderRef& ref) {
  BuilderObservation b;
  // Served from the PackerBuilder informer the controller watches: no API request.
  auto obj = deps_.reader.get(packerBuilders(), ref.ns, ref.name);
  if (!obj) {
    if (isNotFound(obj.error())) {
      return b;
    }
    return fail(std::move(obj).error().context("get packerbuilder " + ref.key()));
  }
  b.found = true;
  b.image_id = obj->getString("/status/lastRunBuiltImageID").value_or("");
  b.region = obj->getString("/spec/region").value_or("");
  for (std::size_t i = 0; i < kMaxBuilderCopies; ++i) {
    const std::string at = fmt::format("/status/copies/{}", i);
    std::optional<std::string> region = obj->getString(at + "/region");
    std::optional<std::string> image = obj->getString(at + "/imageID");
    if (!region || !image) {
      break;
    }
    b.copies.push_back({std::move(*region), std::move(*image)});
  }
  return b;
}

Status Reconciler::observeGroups(const AmiRefresher& r, AwsClients& clients, Observed& o) {
  const Spec& spec = *r.spec;
  ClusterReads aws(deps_.describe_cache.get(), clients, spec);
  auto listed = aws.listNodegroups();
  if (!listed && listed.error().code == ErrorCode::NotFound) {
    o.cluster_missing = true;
    return ok();
  }
  OPSY_ASSIGN_OR_RETURN(std::vector<std::string> names, std::move(listed));
  // A group that cannot be read is marked (observe_error) and the others are read on: one
  // denied or failing describe must not stop the whole rollout.
  for (const std::string& name : names) {
    const NodegroupStatus* entry = r.status.entry(name, GroupKind::Managed);
    const bool fresh = readFresh(entry);
    auto ng = aws.describeNodegroup(name, fresh);
    if (!ng) {
      if (isNotFound(ng.error())) {
        continue;  // deleted between list and describe
      }
      o.groups.push_back(GroupObservation{
          .name = name, .kind = GroupKind::Managed, .observe_error = std::move(ng).error()});
      continue;
    }
    GroupObservation g = observedNodegroup(std::move(*ng));
    // Excluded groups are reported, never read further.
    const bool excluded = excludedBy(spec, name).has_value();
    if (g.launch_template && !excluded) {
      if (Status read = readLaunchTemplateVersion(aws, fresh, g); !read) {
        g.observe_error = std::move(read).error();
      }
    }
    if (!g.observe_error && entry != nullptr && entry->phase == Phase::Updating &&
        !entry->update_id.empty()) {
      auto u = clients.eks->describeUpdate(spec.cluster_name, entry->update_id, name);
      if (u) {
        g.recorded_update = observedUpdate(*u);
      } else if (!isNotFound(u.error())) {
        g.observe_error = std::move(u).error();
      }
    }
    o.groups.push_back(std::move(g));
  }

  if (!spec.self_managed.enabled) {
    return ok();
  }
  aws::DescribeAutoScalingGroupsInput in;
  in.filters = {{"tag:kubernetes.io/cluster/" + spec.cluster_name, {"owned"}}};
  // One list covers every group: it is read fresh while any self-managed group is updating.
  const bool any_fresh = std::any_of(
      r.status.nodegroups.begin(), r.status.nodegroups.end(),
      [](const NodegroupStatus& e) { return e.kind == GroupKind::SelfManaged && readFresh(&e); });
  OPSY_ASSIGN_OR_RETURN(std::vector<aws::AutoScalingGroup> groups,
                        aws.describeAutoScalingGroups(in, any_fresh));
  for (const aws::AutoScalingGroup& group : groups) {
    // Groups behind an EKS managed node group are rolled through EKS, never directly.
    if (group.tags.count("eks:nodegroup-name") != 0) {
      continue;
    }
    const bool excluded = excludedBy(spec, group.name).has_value();
    const NodegroupStatus* entry = r.status.entry(group.name, GroupKind::SelfManaged);
    const bool fresh = readFresh(entry);
    std::vector<aws::InstanceRefresh> refreshes;
    std::optional<Error> error;
    if (!excluded) {
      auto listed_refreshes = aws.describeInstanceRefreshes(group.name, fresh);
      if (listed_refreshes) {
        refreshes = std::move(*listed_refreshes);
      } else {
        error = std::move(listed_refreshes).error();
      }
    }
    GroupObservation g =
        observedAutoScalingGroup(group, refreshes, entry != nullptr ? entry->update_id : "");
    g.observe_error = std::move(error);
    for (const aws::AsgInstance& instance : group.instances) {
      g.instance_ids.push_back(instance.id);
    }
    if (spec.self_managed.drain.enabled && !excluded && !g.observe_error) {
      observeWaiting(group, entry, spec.self_managed.drain, clients, g);
    }
    if (!g.observe_error && g.launch_template && !g.mixed_instances_policy && !excluded) {
      if (Status read = readLaunchTemplateVersion(aws, fresh, g); !read) {
        g.observe_error = std::move(read).error();
      }
    }
    o.groups.push_back(std::move(g));
  }
  return ok();
}

void Reconciler::invalidateCluster(const AmiRefresher& r) {
  if (deps_.describe_cache && r.spec) {
    deps_.describe_cache->invalidate(r.spec->region, r.spec->cluster_name);
  }
}

Status Reconciler::observe(const AmiRefresher& r, AwsClients& clients, TimePoint now, Observed& o) {
  if (!r.spec) {
    return ok();
  }
  if (r.spec->karpenter && !deps_.karpenter) {
    o.karpenter_disabled = true;
    return ok();
  }
  OPSY_ASSIGN_OR_RETURN(o.target, observeTarget(*r.spec, *clients.ec2));
  // No eligible image: nothing else is looked at, let alone touched.
  ami::Target target = selectRefresherTarget(*r.spec, *o.target, now);
  if (!target.image) {
    return ok();
  }
  OPSY_RETURN_IF_ERROR(observeGroups(r, clients, o));
  if (r.spec->karpenter) {
    OPSY_RETURN_IF_ERROR(observeNodeClasses(r, o));
    if (o.karpenter_missing) {
      return ok();
    }
  }
  observeDrains(o);
  if (canaryNeedsNodes(*r.spec, r.status, target.image->id, o.groups)) {
    OPSY_RETURN_IF_ERROR(observeCanaryNodes(r, target.image->id, clients, o));
  }
  return ok();
}

Status Reconciler::observeCanaryNodes(const AmiRefresher& r, const std::string& target,
                                      AwsClients& clients, Observed& o) {
  const Spec& spec = *r.spec;
  std::vector<std::string> names = r.status.canary && r.status.canary->target_image == target &&
                                           !r.status.canary->nodegroups.empty()
                                       ? r.status.canary->nodegroups
                                       : canaryGroups(*spec.rollout.canary, spec, o.groups);
  std::optional<kube::ObjectList> all_nodes;  // listed once, for self-managed groups
  std::vector<std::string> instance_ids;
  for (GroupObservation& g : o.groups) {
    if (g.kind == GroupKind::NodeClass ||
        std::find(names.begin(), names.end(), g.name) == names.end()) {
      continue;  // a node class's NodeClaims are always read with it
    }
    std::vector<NodeObservation> nodes;
    if (g.kind == GroupKind::Managed) {
      auto listed =
          deps_.reader.list(kube::resources::nodes(), "",
                            {.label_selector = std::string(kNodegroupLabel) + "=" + g.name});
      if (!listed) {
        return fail(std::move(listed).error().context("list nodes of " + g.name));
      }
      for (const kube::Object& node : listed->items) {
        nodes.push_back(observedNode(node));
      }
    } else {
      if (!all_nodes) {
        auto listed = deps_.reader.list(kube::resources::nodes(), "", {});
        if (!listed) {
          return fail(std::move(listed).error().context("list nodes"));
        }
        all_nodes = std::move(*listed);
      }
      for (const kube::Object& node : all_nodes->items) {
        NodeObservation n = observedNode(node);
        if (std::find(g.instance_ids.begin(), g.instance_ids.end(), n.instance_id) !=
            g.instance_ids.end()) {
          nodes.push_back(std::move(n));
        }
      }
    }
    for (const NodeObservation& n : nodes) {
      if (!n.instance_id.empty()) {
        instance_ids.push_back(n.instance_id);
      }
    }
    g.nodes = std::move(nodes);
  }
  if (instance_ids.empty()) {
    return ok();
  }
  auto instances = clients.ec2->describeInstances({.instance_ids = instance_ids});
  if (!instances) {
    if (isNotFound(instances.error())) {
      return ok();  // an instance EC2 no longer knows: its node shows an unknown image
    }
    return fail(std::move(instances).error().context("describe canary instances"));
  }
  for (GroupObservation& g : o.groups) {
    if (!g.nodes) {
      continue;
    }
    for (NodeObservation& n : *g.nodes) {
      for (const aws::Instance& i : *instances) {
        if (i.id == n.instance_id) {
          n.image_id = i.image_id;
        }
      }
    }
  }
  return ok();
}

void Reconciler::observeWaiting(const aws::AutoScalingGroup& group, const NodegroupStatus* entry,
                                const DrainConfig& drain, AwsClients& clients,
                                GroupObservation& g) {
  std::vector<std::string> waiting;
  for (const aws::AsgInstance& instance : group.instances) {
    if (instance.lifecycle_state == kTerminatingWait) {
      waiting.push_back(instance.id);
    }
  }
  if (waiting.empty()) {
    return;
  }
  // Ours to drain while our update or rollback is recorded, or a drain has begun. Otherwise (a
  // newer target made us forget the refresh, or someone else's refresh runs) only when the group
  // has our hook: a refresher drains only where its own hook holds the instances.
  bool ours = entry != nullptr && (!entry->update_id.empty() ||
                                   !entry->rollback_update_id.empty() || !entry->drains.empty());
  if (!ours) {
    auto hooks = clients.autoscaling->describeLifecycleHooks(group.name, {drain.hook_name});
    if (!hooks) {
      if (!isNotFound(hooks.error())) {
        g.observe_error = std::move(hooks).error().context("describe lifecycle hooks");
      }
      return;
    }
    ours = std::any_of(hooks->begin(), hooks->end(),
                       [&](const aws::LifecycleHook& h) { return h.name == drain.hook_name; });
  }
  if (!ours) {
    return;
  }
  for (std::string& id : waiting) {
    g.draining.push_back(DrainObservation{.instance_id = std::move(id)});
  }
}

void Reconciler::observeDrains(Observed& o) {
  std::optional<Result<kube::ObjectList>> nodes;  // listed once, only when something drains
  for (GroupObservation& g : o.groups) {
    for (DrainObservation& w : g.draining) {
      if (!nodes) {
        nodes = deps_.reader.list(kube::resources::nodes(), "", {});
      }
      if (!*nodes) {
        w.error = Error((*nodes).error()).context("list nodes");
        continue;
      }
      for (const kube::Object& node : (*nodes)->items) {
        if (instanceIdFromProviderId(node.getString("/spec/providerID").value_or("")) ==
            w.instance_id) {
          w.node = node.metadata.name;
          w.cordoned = isCordoned(node);
        }
      }
      if (!w.node) {
        continue;
      }
      // Pods are not watched: only the pods of a node being drained are ever listed.
      auto pods = deps_.reader.list(kube::resources::pods(), "",
                                    {.field_selector = "spec.nodeName=" + *w.node});
      if (!pods) {
        w.error = std::move(pods).error().context("list pods on node " + *w.node);
        continue;
      }
      for (const kube::Object& pod : pods->items) {
        w.pods.push_back(observedPod(pod));
      }
    }
  }
}

Status Reconciler::observeNodeClasses(const AmiRefresher& r, Observed& o) {
  const KarpenterConfig& k = *r.spec->karpenter;
  // Not watched: these lists go to the API server, and only for refreshers with spec.karpenter
  // that have an eligible target (every kPollInterval while one rolls, else controllerTimer).
  auto classes = deps_.reader.list(ec2NodeClasses(), "", {.label_selector = k.selector});
  if (!classes) {
    if (isNotFound(classes.error())) {
      o.karpenter_missing =
          "the API server has no ec2nodeclasses.karpenter.k8s.aws/v1 resource: is Karpenter (v1) "
          "installed in this cluster?";
      return ok();
    }
    return fail(std::move(classes).error().context("list ec2nodeclasses"));
  }
  auto claims = deps_.reader.list(nodeClaims(), "", {});
  if (!claims) {
    if (isNotFound(claims.error())) {
      o.karpenter_missing =
          "the API server has no nodeclaims.karpenter.sh/v1 resource: is Karpenter (v1) "
          "installed in this cluster?";
      return ok();
    }
    return fail(std::move(claims).error().context("list nodeclaims"));
  }
  std::vector<std::string> wanted = k.names;
  if (wanted.empty()) {
    for (const kube::Object& c : classes->items) {
      wanted.push_back(c.metadata.name);
    }
  }
  for (const std::string& name : wanted) {
    GroupObservation g{.name = name, .kind = GroupKind::NodeClass};
    NodeClassObservation nc;
    for (const kube::Object& c : classes->items) {
      if (c.metadata.name == name) {
        nc = observedNodeClass(c);
      }
    }
    if (nc.found) {
      for (const kube::Object& claim : claims->items) {
        if (nodeClassOf(claim) == name) {
          nc.claims.push_back(observedNodeClaim(claim));
        }
      }
    }
    g.nodes = nc.claims;
    g.node_class = std::move(nc);
    o.groups.push_back(std::move(g));
  }
  return ok();
}

void Reconciler::forgetMetrics(const kube::ObjectKey& key) {
  if (deps_.metrics) {
    deps_.metrics->forget(key.str());
  }
}

Result<std::optional<Duration>> Reconciler::reconcile(const kube::ObjectKey& key) {
  auto obj = deps_.reader.get(amiRefreshers(), key.ns, key.name);
  if (!obj) {
    if (isNotFound(obj.error())) {
      forgetMetrics(key);
      deps_.peers->remove(key);
      return std::optional<Duration>();  // deleted: nothing to clean up in AWS
    }
    return fail(std::move(obj).error().context("get amirefresher"));
  }
  if (obj->metadata.deletion_timestamp) {
    forgetMetrics(key);
    deps_.peers->remove(key);
    return std::optional<Duration>();
  }
  const TimePoint now = deps_.clock.now();
  AmiRefresher r = AmiRefresher::fromObject(*obj);
  deps_.peers->seedOnce(deps_.reader);
  deps_.peers->record(r.metadata, r.spec);
  AwsClients clients;
  if (r.spec) {
    OPSY_ASSIGN_OR_RETURN(clients, deps_.aws(r.spec->region));
  }
  Observed observed;
  observed.refresher = r;
  if (r.spec && deps_.notifiers != nullptr) {
    observed.notification_refused = deps_.notifiers->refusal(r.spec->notifier);
  }
  if (Status read = observe(r, clients, now, observed); !read) {
    observed.failure = std::move(read).error();  // decide() reports it on the refresher
  }
  observed.peers = deps_.peers->overlapping(r, observed.groups);
  Decision d = decide(observed, now);
  if (!d.aws.empty()) {
    Outcomes outcomes = executor_.perform(d.aws, clients);
    // Whatever came of the calls (a timed-out one may still have happened), the cluster's shared
    // answers are stale: the next reconcile of any refresher on it reads AWS again.
    invalidateCluster(r);
    d = decide(observed, now, &outcomes);
  } else if (updatingAny(r.status)) {
    // One of our updates runs on the cluster and may have finished while this reconcile read it
    // (its group was read fresh, but before the update's own answer): what was read is not kept,
    // so the reconcile after the one that sees the update end reads the settled groups.
    invalidateCluster(r);
  }
  OPSY_RETURN_IF_ERROR(executor_.apply(r, d));
  if (d.failure && !d.retry) {
    controller::recordShownFailure(deps_.failures.get(), "controller.ami-refresh", key, *d.failure,
                                   observed.failure ? &*observed.failure : nullptr);
  }
  if (d.retry) {
    return fail(*d.retry);
  }
  return d.requeue_after;
}

}  // namespace opsy::ami_refresh
