#include "ami-refresh-controller/execute.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>

#include "opsy/ami/selection.h"
#include "opsy/ami/tags.h"
#include "opsy/core/log.h"

namespace opsy::ami_refresh {
namespace {

constexpr std::string_view kComponent = "controller.ami-refresh";

std::shared_ptr<spdlog::logger> logger() {
  return log::get(kComponent);
}

aws::LaunchTemplateSpec templateRef(const std::string& id, const std::string& name,
                                    const std::string& version) {
  // EKS and Auto Scaling take the template by id or by name, not both.
  aws::LaunchTemplateSpec spec;
  if (!id.empty()) {
    spec.id = id;
  } else {
    spec.name = name;
  }
  spec.version = version;
  return spec;
}

// Executes one decision; holds the status being amended.
class Execution {
 public:
  Execution(const Decision& d, const ExecuteContext& ctx)
      : d_(d), ctx_(ctx), object_(ctx.refresher.metadata.ns + "/" + ctx.refresher.metadata.name) {}

  Status run() {
    for (const Action& a : d_.actions) {
      std::visit([this](const auto& action) { apply(action); }, a);
      if (std::holds_alternative<PatchStatus>(a) && first_error_) {
        // The intent (previous version, Updating) is not on record: no AWS write may follow.
        return fail(*first_error_);
      }
    }
    if (amended_ && status_) {
      writeStatus();
    }
    if (ctx_.metrics != nullptr) {
      const RefresherStatus& s = status_ ? *status_ : ctx_.refresher.status;
      std::map<Phase, int> counts;
      for (Phase p : {Phase::UpToDate, Phase::Pending, Phase::Updating, Phase::Succeeded,
                      Phase::Failed, Phase::Skipped, Phase::Excluded}) {
        counts[p] = 0;
      }
      for (const NodegroupStatus& ng : s.nodegroups) {
        ++counts[ng.phase];
      }
      ctx_.metrics->groupsByPhase(object_, counts);
    }
    if (first_error_) {
      return fail(*first_error_);
    }
    return ok();
  }

 private:
  void remember(Error e) {
    if (!first_error_) {
      first_error_ = std::move(e);
    }
  }

  void writeStatus() {
    auto r = ctx_.status.patchStatus(amiRefreshers(), ctx_.refresher.metadata.ns,
                                     ctx_.refresher.metadata.name, kube::PatchType::Merge,
                                     statusPatch(*status_), {.field_manager = ctx_.field_manager});
    if (!r) {
      logger()->warn("status write failed {}",
                     log::kv("object", object_, "error", r.error().toString()));
      remember(std::move(r).error().context("write status"));
      return;
    }
    amended_ = false;
  }

  NodegroupStatus* entry(const std::string& group) {
    if (!status_) {
      return nullptr;
    }
    for (NodegroupStatus& ng : status_->nodegroups) {
      if (ng.name == group) {
        return &ng;
      }
    }
    return nullptr;
  }

  // A refusal no retry can fix: the group fails (which halts the rollout) and says why.
  void failGroup(const std::string& group, const std::string& message) {
    failed_.insert(group);
    if (NodegroupStatus* e = entry(group)) {
      e->phase = Phase::Failed;
      e->message = message;
      // The next decide() sees a halted rollout it already reported; it sets the conditions.
      status_->state = std::string(kStateStalled);
      amended_ = true;
    }
    ctx_.events.record(ctx_.refresher.reference(), kube::EventType::Warning, "UpdateFailed",
                       "Rollout", fmt::format("{}: {}", group, message));
    if (ctx_.notifier != nullptr) {
      ctx_.notifier->notify(notify::Notification{
          .title = "Node group update failed",
          .kind = "AMIRefresher",
          .object = object_,
          .state = std::string(kStateStalled),
          .severity = notify::Severity::Error,
          .fields = {{"Node group", group},
                     {"Target AMI", status_ ? status_->target_ami : std::string()}},
          .message = message});
    }
    if (ctx_.metrics != nullptr && !rollout_failed_counted_) {
      rollout_failed_counted_ = true;
      ctx_.metrics->rolloutFailed();
    }
  }

  void waitFor(const std::string& group, const std::string& message) {
    if (NodegroupStatus* e = entry(group)) {
      e->message = message;
      amended_ = true;
    }
  }

  // Routes an AWS failure: retryable -> remembered for a backoff retry; conflict -> wait;
  // anything else -> the group fails.
  void onError(const std::string& group, const Error& e, std::string_view what) {
    logger()->warn("aws call failed {}",
                   log::kv("object", object_, "group", group, "call", what, "error", e.toString()));
    if (e.code == ErrorCode::Conflict) {
      waitFor(group, fmt::format("another update is running on the group ({}); waiting",
                                 e.provider_code.empty() ? e.message : e.provider_code));
      return;
    }
    if (isRetryable(e)) {
      skipped_.insert(group);
      Error copy = e;
      remember(std::move(copy).context(what));
      return;
    }
    failGroup(group, fmt::format(
                         "{}: {}", what,
                         e.provider_code.empty() ? e.message : e.provider_code + ": " + e.message));
  }

  bool blocked(const std::string& group) const {
    return failed_.count(group) != 0 || skipped_.count(group) != 0;
  }

  void apply(const PatchStatus& p) {
    status_ = p.status;
    writeStatus();
  }

  void apply(const CreateLaunchTemplateVersion& a) {
    auto r = ctx_.aws.ec2->createLaunchTemplateVersion(
        {.launch_template_id = a.launch_template_id,
         .launch_template_name = a.launch_template_id.empty() ? a.launch_template_name : "",
         .source_version = a.source_version,
         .version_description = fmt::format("opsy: {} for {}", a.image_id, a.group),
         .client_token = a.client_token,
         .image_id = a.image_id});
    if (!r) {
      onError(a.group, r.error(), "create launch template version");
      return;
    }
    created_[a.group] = std::to_string(r->version_number);
    logger()->info("launch template version created {}",
                   log::kv("object", object_, "group", a.group, "version", r->version_number,
                           "image", a.image_id));
  }

  std::optional<std::string> versionFor(const std::string& group, const std::string& explicit_v) {
    if (!explicit_v.empty()) {
      return explicit_v;
    }
    auto it = created_.find(group);
    if (it == created_.end()) {
      return std::nullopt;
    }
    return it->second;
  }

  Result<aws::Update> update(const UpdateNodegroup& a, const std::string& version) {
    return ctx_.aws.eks->updateNodegroupVersion(
        {.cluster_name = a.cluster_name,
         .nodegroup_name = a.group,
         .launch_template = templateRef(a.launch_template_id, a.launch_template_name, version),
         .force = a.force,
         .client_request_token = a.client_request_token});
  }

  void apply(const UpdateNodegroup& a) {
    if (blocked(a.group)) {
      return;
    }
    std::optional<std::string> version = versionFor(a.group, a.version);
    if (!version) {
      return;  // the launch template version was not made; the status says why
    }
    auto r = update(a, *version);
    if (!r) {
      onError(a.group, r.error(), "update node group version");
      return;
    }
    if (NodegroupStatus* e = entry(a.group)) {
      e->update_id = r->id;
      e->launch_template.version = *version;
      e->message = fmt::format("update {} to launch template version {} started", r->id, *version);
      amended_ = true;
    }
    logger()->info("node group update started {}",
                   log::kv("object", object_, "group", a.group, "update_id", r->id));
  }

  void apply(const UpdateNodegroupConfig& a) {
    if (blocked(a.group)) {
      return;
    }
    auto r = ctx_.aws.eks->updateNodegroupConfig(
        {.cluster_name = a.cluster_name,
         .nodegroup_name = a.group,
         .max_unavailable = a.max_unavailable,
         .max_unavailable_percentage = a.max_unavailable_percentage,
         .client_request_token = a.client_request_token});
    if (!r) {
      onError(a.group, r.error(), "update node group config");
      return;
    }
    if (NodegroupStatus* e = entry(a.group)) {
      e->update_id = r->id;
      e->message = fmt::format("updateConfig change {} started; the version update follows", r->id);
      amended_ = true;
    }
    logger()->info("node group config update started {}",
                   log::kv("object", object_, "group", a.group, "update_id", r->id));
  }

  void apply(const RollbackNodegroup& a) {
    auto r = update(a.update, a.update.version);
    if (!r) {
      if (r.error().code == ErrorCode::Conflict) {
        return;  // still busy; the next look tries again
      }
      if (isRetryable(r.error())) {
        remember(Error(r.error()).context("roll back node group"));
        return;
      }
      ctx_.events.record(ctx_.refresher.reference(), kube::EventType::Warning, "RollbackFailed",
                         "Rollback", fmt::format("{}: {}", a.update.group, r.error().message));
      return;
    }
    if (NodegroupStatus* e = entry(a.update.group)) {
      if (e->message.find("rollback") == std::string::npos) {
        e->message += fmt::format("; rollback {} to launch template version {} started", r->id,
                                  a.update.version);
        amended_ = true;
      }
    }
  }

  void apply(const StartInstanceRefresh& a) {
    if (blocked(a.group)) {
      return;
    }
    std::optional<std::string> version = versionFor(a.group, a.version);
    if (!version) {
      return;
    }
    aws::StartInstanceRefreshInput in{.auto_scaling_group_name = a.group,
                                      .desired_launch_template = templateRef(
                                          a.launch_template_id, a.launch_template_name, *version)};
    in.preferences.min_healthy_percentage = a.min_healthy_percentage;
    in.preferences.instance_warmup_seconds = a.instance_warmup_seconds;
    in.preferences.skip_matching = true;
    auto r = ctx_.aws.autoscaling->startInstanceRefresh(in);
    if (!r) {
      if (a.rollback) {
        if (r.error().code != ErrorCode::Conflict && isRetryable(r.error())) {
          remember(Error(r.error()).context("roll back auto scaling group"));
        }
        return;
      }
      onError(a.group, r.error(), "start instance refresh");
      return;
    }
    if (NodegroupStatus* e = entry(a.group)) {
      if (a.rollback) {
        e->message += fmt::format("; rollback refresh {} to launch template version {} started", *r,
                                  *version);
      } else {
        e->update_id = *r;
        e->launch_template.version = *version;
        e->message =
            fmt::format("instance refresh {} to launch template version {} started", *r, *version);
      }
      amended_ = true;
    }
  }

  void apply(const RecordEvent& e) {
    ctx_.events.record(ctx_.refresher.reference(), e.type, e.reason, e.action, e.note);
  }

  void apply(const Notify& n) {
    if (ctx_.notifier != nullptr) {
      ctx_.notifier->notify(n.notification);
    }
  }

  void apply(const RecordMetric& m) {
    if (ctx_.metrics == nullptr) {
      return;
    }
    switch (m.kind) {
      case MetricKind::RolloutStarted: ctx_.metrics->rolloutStarted(); break;
      case MetricKind::RolloutFinished: ctx_.metrics->rolloutFinished(); break;
      case MetricKind::RolloutFailed: ctx_.metrics->rolloutFailed(); break;
      case MetricKind::GroupRolled: ctx_.metrics->groupRolled(m.elapsed); break;
    }
  }

  const Decision& d_;
  const ExecuteContext& ctx_;
  std::string object_;
  std::optional<RefresherStatus> status_;
  bool amended_ = false;
  std::map<std::string, std::string> created_;
  std::set<std::string> failed_;
  std::set<std::string> skipped_;
  std::optional<Error> first_error_;
  bool rollout_failed_counted_ = false;
};

bool isNotFound(const Error& e) {
  return e.code == ErrorCode::NotFound;
}

// A launch template version that cannot be read because it is gone or malformed is the group's
// problem (it is skipped, saying why); anything else fails the reconcile for a retry.
bool isGroupProblem(const Error& e) {
  return e.code == ErrorCode::NotFound || e.code == ErrorCode::InvalidArgument;
}

Result<std::optional<aws::LaunchTemplateVersion>> currentVersion(aws::LaunchTemplateApi& ec2,
                                                                 const aws::LaunchTemplateSpec& lt,
                                                                 std::string& error) {
  aws::DescribeLaunchTemplateVersionsInput in;
  if (!lt.id.empty()) {
    in.launch_template_id = lt.id;
  } else {
    in.launch_template_name = lt.name;
  }
  in.versions = {lt.version.empty() ? "$Default" : lt.version};
  auto r = ec2.describeLaunchTemplateVersions(in);
  if (!r) {
    if (isGroupProblem(r.error())) {
      error = r.error().message;
      return std::optional<aws::LaunchTemplateVersion>();
    }
    return fail(std::move(r).error().context("describe launch template versions"));
  }
  if (r->empty()) {
    error = "no such version";
    return std::optional<aws::LaunchTemplateVersion>();
  }
  return std::optional<aws::LaunchTemplateVersion>(r->front());
}

const NodegroupStatus* statusEntry(const AmiRefresher& r, const std::string& name, GroupKind kind) {
  for (const NodegroupStatus& ng : r.status.nodegroups) {
    if (ng.name == name && ng.kind == kind) {
      return &ng;
    }
  }
  return nullptr;
}

bool excluded(const Spec& spec, const std::string& name) {
  for (const std::string& p : spec.exclude) {
    if (globMatch(p, name)) {
      return true;
    }
  }
  return false;
}

}  // namespace

Result<std::vector<aws::Image>> Reconciler::describeImages(const std::string& region,
                                                           aws::ImageApi& ec2,
                                                           const aws::DescribeImagesInput& in,
                                                           Duration controller_timer) {
  if (options_.image_cache) {
    // A shared answer is never older than this refresher's own period, so a new image is seen
    // within one controllerTimer.
    return options_.image_cache->describeImages(
        region, ec2, in, std::min(options_.image_cache_max_age, controller_timer));
  }
  return ec2.describeImages(in);
}

Status execute(const Decision& d, const ExecuteContext& ctx) {
  Execution e(d, ctx);
  return e.run();
}

Reconciler::Reconciler(kube::ObjectReader& reader, kube::StatusWriter& status,
                       kube::EventRecorder& events, AwsClientsFactory aws, Clock& clock,
                       ReconcilerOptions options)
    : reader_(reader),
      status_(status),
      events_(events),
      aws_(std::move(aws)),
      clock_(clock),
      options_(std::move(options)) {}

Result<Observed> Reconciler::observe(const AmiRefresher& r, AwsClients& clients) {
  Observed o;
  o.refresher = r;
  if (!r.spec) {
    return o;
  }
  const Spec& spec = *r.spec;
  TargetObservation target;
  if (spec.ami) {
    auto images = describeImages(spec.region, *clients.ec2, {.image_ids = {*spec.ami}},
                                 spec.controller_timer);
    if (images) {
      target.matched = std::move(*images);
    } else if (!isNotFound(images.error())) {
      return fail(std::move(images).error().context("describe target image"));
    }
  } else {
    OPSY_ASSIGN_OR_RETURN(target.matched,
                          describeImages(spec.region, *clients.ec2, {.filters = spec.ami_filters},
                                         spec.controller_timer));
    std::vector<std::string> bases = ami::baseIds(target.matched);
    if (!bases.empty()) {
      std::vector<aws::Filter> filters = {{"tag:" + std::string(ami::kTagBaseAmi), bases}};
      OPSY_ASSIGN_OR_RETURN(target.derived, describeImages(spec.region, *clients.ec2,
                                                           {.owners = {"self"}, .filters = filters},
                                                           spec.controller_timer));
    }
  }
  o.target = target;
  // No eligible image: nothing else is looked at, let alone touched.
  if (!selectRefresherTarget(spec, target, clock_.now()).image) {
    return o;
  }

  OPSY_ASSIGN_OR_RETURN(std::vector<std::string> names,
                        clients.eks->listNodegroups(spec.cluster_name));
  for (const std::string& name : names) {
    auto ng = clients.eks->describeNodegroup(spec.cluster_name, name);
    if (!ng) {
      if (isNotFound(ng.error())) {
        continue;  // deleted between list and describe
      }
      return fail(std::move(ng).error().context("describe node group " + name));
    }
    ManagedGroupObservation g;
    g.nodegroup = std::move(*ng);
    if (g.nodegroup.launch_template && !excluded(spec, name)) {
      OPSY_ASSIGN_OR_RETURN(
          g.launch_template_version,
          currentVersion(*clients.ec2, *g.nodegroup.launch_template, g.launch_template_error));
    }
    const NodegroupStatus* entry = statusEntry(r, name, GroupKind::Managed);
    if (entry != nullptr && entry->phase == Phase::Updating && !entry->update_id.empty()) {
      auto u = clients.eks->describeUpdate(spec.cluster_name, entry->update_id, name);
      if (u) {
        g.update = std::move(*u);
      } else if (!isNotFound(u.error())) {
        return fail(std::move(u).error().context("describe update " + entry->update_id));
      }
    }
    o.managed.push_back(std::move(g));
  }

  if (spec.self_managed.enabled) {
    aws::DescribeAutoScalingGroupsInput in;
    in.filters = {{"tag:kubernetes.io/cluster/" + spec.cluster_name, {"owned"}}};
    OPSY_ASSIGN_OR_RETURN(std::vector<aws::AutoScalingGroup> groups,
                          clients.autoscaling->describeAutoScalingGroups(in));
    for (aws::AutoScalingGroup& group : groups) {
      // Groups behind an EKS managed node group are rolled through EKS, never directly.
      if (group.tags.count("eks:nodegroup-name") != 0) {
        continue;
      }
      SelfManagedGroupObservation g;
      if (group.launch_template && !group.mixed_instances_policy && !excluded(spec, group.name)) {
        OPSY_ASSIGN_OR_RETURN(
            g.launch_template_version,
            currentVersion(*clients.ec2, *group.launch_template, g.launch_template_error));
      }
      if (!excluded(spec, group.name)) {
        OPSY_ASSIGN_OR_RETURN(g.refreshes,
                              clients.autoscaling->describeInstanceRefreshes(group.name));
      }
      g.group = std::move(group);
      o.self_managed.push_back(std::move(g));
    }
  }
  return o;
}

Result<std::optional<Duration>> Reconciler::reconcile(std::string_view ns, std::string_view name) {
  auto obj = reader_.get(amiRefreshers(), ns, name);
  if (!obj) {
    if (isNotFound(obj.error())) {
      return std::optional<Duration>();  // deleted: nothing to clean up in AWS
    }
    return fail(std::move(obj).error().context("get amirefresher"));
  }
  if (obj->metadata.deletion_timestamp) {
    return std::optional<Duration>();
  }
  AmiRefresher r = AmiRefresher::fromObject(*obj);
  AwsClients clients;
  if (r.spec) {
    OPSY_ASSIGN_OR_RETURN(clients, aws_(r.spec->region));
  }
  OPSY_ASSIGN_OR_RETURN(Observed observed, observe(r, clients));
  Decision d = decide(observed, clock_.now());
  notify::NotifierPtr notifier;
  if (options_.notifiers && r.spec) {
    notifier = options_.notifiers(r);
  }
  ExecuteContext ctx{.refresher = r,
                     .aws = clients,
                     .status = status_,
                     .events = events_,
                     .notifier = notifier.get(),
                     .metrics = options_.metrics.get(),
                     .field_manager = options_.field_manager};
  OPSY_RETURN_IF_ERROR(execute(d, ctx));
  logger()->debug("reconcile done {}", log::kv("object", r.metadata.ns + "/" + r.metadata.name,
                                               "actions", d.actions.size()));
  return d.requeue_after;
}

kube::WorkOutcome Reconciler::reconcile(const std::string& key) {
  std::string_view k = key;
  size_t slash = k.find('/');
  std::string_view ns = slash == std::string_view::npos ? std::string_view() : k.substr(0, slash);
  std::string_view name = slash == std::string_view::npos ? k : k.substr(slash + 1);
  auto r = reconcile(ns, name);
  if (!r) {
    logger()->warn("reconcile failed {}", log::kv("object", key, "error", r.error().toString()));
    return kube::WorkOutcome::failed(std::move(r).error());
  }
  if (!*r) {
    return kube::WorkOutcome::success();
  }
  return kube::WorkOutcome::requeueAfter(**r);
}

}  // namespace opsy::ami_refresh
