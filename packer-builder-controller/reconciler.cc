#include "packer-builder-controller/reconciler.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "opsy/ami/builder_ref.h"
#include "opsy/ami/selection.h"
#include "opsy/ami/tags.h"
#include "opsy/core/duration.h"
#include "opsy/core/log.h"
#include "opsy/kube/objects.h"
#include "opsy/kube/resource.h"
#include "opsy/packer/build_output.h"
#include "packer-builder-controller/build_log.h"

namespace opsy::packer_builder {
namespace {

bool isImageNotFound(const Error& e) {
  return e.code == ErrorCode::NotFound || e.provider_code.rfind("InvalidAMIID", 0) == 0;
}

// The base-image filters as sent: the spec's, plus state=available unless the spec filters on
// state itself (fewer images on the wire; newestAvailable() checks the state anyway).
std::vector<aws::Filter> baseFilters(const std::vector<aws::Filter>& spec_filters) {
  std::vector<aws::Filter> filters = spec_filters;
  bool has_state = std::any_of(filters.begin(), filters.end(),
                               [](const aws::Filter& f) { return f.name == "state"; });
  if (!has_state) {
    filters.push_back({"state", {"available"}});
  }
  return filters;
}

// EC2 takes at most 200 filter values a call; the state filter uses four.
constexpr std::size_t kImageIdsPerFilter = 190;

std::vector<std::vector<std::string>> chunks(const std::vector<std::string>& items) {
  std::vector<std::vector<std::string>> out;
  for (std::size_t i = 0; i < items.size(); i += kImageIdsPerFilter) {
    auto begin = items.begin() + static_cast<std::ptrdiff_t>(i);
    auto end =
        items.begin() + static_cast<std::ptrdiff_t>(std::min(items.size(), i + kImageIdsPerFilter));
    out.emplace_back(begin, end);
  }
  return out;
}

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// Instances (not terminated) that run any of `image_ids`: the lowest instance id per image.
Status findInstances(aws::InstanceApi& ec2, const std::vector<std::string>& image_ids,
                     std::map<std::string, std::string>& in_use) {
  std::map<std::string, std::string> first;
  for (const std::vector<std::string>& chunk : chunks(image_ids)) {
    OPSY_ASSIGN_OR_RETURN(
        std::vector<aws::Instance> instances,
        ec2.describeInstances(
            {.filters = {{"image-id", chunk},
                         {"instance-state-name", {"pending", "running", "stopping", "stopped"}}}}));
    for (const aws::Instance& i : instances) {
      auto [it, added] = first.emplace(i.image_id, i.id);
      if (!added && i.id < it->second) {
        it->second = i.id;
      }
    }
  }
  for (const auto& [image, instance] : first) {
    if (contains(image_ids, image)) {
      in_use.emplace(image, fmt::format("instance {} still runs it", instance));
    }
  }
  return ok();
}

// The versions of one launch template that `versions` name ($Latest, $Default or numbers). A
// version EC2 no longer has is skipped; a template it no longer has gives none.
Result<std::vector<aws::LaunchTemplateVersion>> templateVersions(
    aws::LaunchTemplateApi& ec2, const aws::LaunchTemplateSpec& lt,
    const std::set<std::string>& versions) {
  aws::DescribeLaunchTemplateVersionsInput in{.launch_template_id = lt.id,
                                              .launch_template_name = lt.id.empty() ? lt.name : "",
                                              .versions = {versions.begin(), versions.end()}};
  auto all = ec2.describeLaunchTemplateVersions(in);
  if (all || all.error().code != ErrorCode::NotFound) {
    return all;
  }
  // EC2 fails the whole call for one missing version: ask for each alone.
  std::vector<aws::LaunchTemplateVersion> out;
  for (const std::string& v : versions) {
    in.versions = {v};
    auto one = ec2.describeLaunchTemplateVersions(in);
    if (!one) {
      if (one.error().code == ErrorCode::NotFound) {
        continue;
      }
      return tl::unexpected(one.error());
    }
    out.insert(out.end(), one->begin(), one->end());
  }
  return out;
}

// Launch template versions that the region's Auto Scaling groups (EKS managed node groups run on
// them too) use and that name any of `image_ids`: one scan of every group, one
// DescribeLaunchTemplateVersions per template.
Status findLaunchTemplateUses(aws::AutoScalingApi& asg, aws::LaunchTemplateApi& ec2,
                              const std::vector<std::string>& image_ids,
                              std::map<std::string, std::string>& in_use) {
  OPSY_ASSIGN_OR_RETURN(std::vector<aws::AutoScalingGroup> groups,
                        asg.describeAutoScalingGroups({}));
  std::sort(groups.begin(), groups.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  auto key = [](const aws::LaunchTemplateSpec& lt) {
    return lt.id.empty() ? "name/" + lt.name : lt.id;
  };
  auto version = [](const aws::LaunchTemplateSpec& lt) {
    return lt.version.empty() ? std::string("$Default") : lt.version;
  };
  std::map<std::string, std::pair<aws::LaunchTemplateSpec, std::set<std::string>>> wanted;
  for (const aws::AutoScalingGroup& g : groups) {
    if (g.launch_template) {
      auto& entry = wanted[key(*g.launch_template)];
      entry.first = *g.launch_template;
      entry.second.insert(version(*g.launch_template));
    }
  }
  std::map<std::string, std::vector<aws::LaunchTemplateVersion>> found;
  for (const auto& [k, entry] : wanted) {
    OPSY_ASSIGN_OR_RETURN(found[k], templateVersions(ec2, entry.first, entry.second));
  }
  for (const aws::AutoScalingGroup& g : groups) {
    if (!g.launch_template) {
      continue;
    }
    const std::vector<aws::LaunchTemplateVersion>& list = found[key(*g.launch_template)];
    const std::string v = version(*g.launch_template);
    const aws::LaunchTemplateVersion* used = nullptr;
    for (const aws::LaunchTemplateVersion& candidate : list) {
      const bool match = v == "$Latest"
                             ? used == nullptr || candidate.version_number > used->version_number
                         : v == "$Default" ? candidate.default_version
                                           : std::to_string(candidate.version_number) == v;
      if (match) {
        used = &candidate;
      }
    }
    if (used != nullptr && contains(image_ids, used->image_id)) {
      in_use.emplace(used->image_id,
                     fmt::format("launch template {} version {} of Auto Scaling group {} uses it",
                                 used->launch_template_id.empty() ? g.launch_template->name
                                                                  : used->launch_template_id,
                                 used->version_number, g.name));
    }
  }
  return ok();
}

bool wantsJob(const Decision& d) {
  return std::any_of(d.actions.begin(), d.actions.end(),
                     [](const Action& a) { return std::holds_alternative<CreateJob>(a); });
}

// A refusal no retry of the same request can fix: validation (400/422), RBAC or an admission
// webhook (403), a missing namespace or quota (404, FailedPrecondition).
bool refused(const Error& e) {
  return e.code == ErrorCode::InvalidArgument || e.code == ErrorCode::PermissionDenied ||
         e.code == ErrorCode::NotFound || e.code == ErrorCode::FailedPrecondition;
}

}  // namespace

Reconciler::Reconciler(ReconcilerDeps deps)
    : deps_(std::move(deps)),
      executor_({.writer = deps_.writer,
                 .status = deps_.status,
                 .events = deps_.events,
                 .notifiers = deps_.notifiers}) {}

Result<std::optional<Duration>> Reconciler::reconcile(const kube::ObjectKey& key) {
  auto builder = deps_.reader.get(packerBuilderResource(), key.ns, key.name);
  if (!builder) {
    if (builder.error().code == ErrorCode::NotFound) {
      return std::optional<Duration>();
    }
    return tl::unexpected(builder.error());
  }
  Observed observed;
  observed.builder = *builder;
  observed.policy = deps_.policy;
  if (deps_.refreshers != nullptr) {
    // An index lookup in the cache: no API request, and only the matches are visited.
    if (auto following = deps_.refreshers->byIndex(ami::kBuilderRefIndex, key.str())) {
      observed.followers.emplace();
      for (const kube::ObjectPtr& r : *following) {
        observed.followers->push_back(kube::objectKey(r->metadata.ns, r->metadata.name));
      }
    }
  }
  if (auto spec = parseSpec(observed.builder); spec && deps_.notifiers != nullptr) {
    observed.notification_refused = deps_.notifiers->refusal(spec->notifier);
  }
  if (Status read = observe(observed); !read) {
    observed.failure = std::move(read).error();  // decide() reports it on the builder
  }
  const TimePoint now = deps_.clock.now();
  Decision decision = decide(observed, now);
  if (wantsJob(decision)) {
    // Only a decision to build reads the Secrets and ServiceAccount the Job needs (they are not
    // watched, and an idle builder should cost no API call); decide() checks them before it
    // creates anything.
    readBuildInputs(observed);
    decision = decide(observed, now);
  }
  if (((decision.read_retention && !observed.retention) || !decision.read_retention_in.empty()) &&
      !observed.retention_failure) {
    // A retention pass is due: what it needs is read only now, so an idle builder without old
    // images to delete costs one DescribeSnapshots per region and nothing else.
    if (decision.read_retention && !observed.retention) {
      readRetention(observed, "", *decision.read_retention);
    }
    for (const auto& [region, ids] : decision.read_retention_in) {
      if (!observed.retention_failure && !observed.retention_in.count(region)) {
        readRetention(observed, region, ids);
      }
    }
    decision = decide(observed, now);
  }
  aws::Ec2ApiPtr ec2;
  bool needs_ec2 = std::any_of(decision.actions.begin(), decision.actions.end(),
                               [](const Action& a) { return ec2RegionOf(a).has_value(); });
  // The regions of copies this decision writes to, with their clients.
  std::set<std::string> copy_regions;
  for (const Action& a : decision.actions) {
    if (std::optional<std::string> region = ec2RegionOf(a); region && !region->empty()) {
      copy_regions.insert(*region);
    }
  }
  // Parsed only when EC2 is written: an idle reconcile should not pay for it.
  std::optional<PackerBuilderSpec> spec;
  std::vector<aws::Ec2ApiPtr> regional_clients;
  Ec2ByRegion regional;
  if (needs_ec2) {
    if (auto parsed = parseSpec(*builder)) {
      spec = std::move(*parsed);
    }
    OPSY_ASSIGN_OR_RETURN(ec2, deps_.ec2(spec ? spec->region : ""));
    for (const std::string& region : copy_regions) {
      OPSY_ASSIGN_OR_RETURN(aws::Ec2ApiPtr client, deps_.ec2(region));
      regional[region] = client.get();
      regional_clients.push_back(std::move(client));
    }
  }
  auto invalidate = [&] {
    if (spec) {
      // Our tag writes (even a partial run's) change this builder's images: its next lookup
      // in each region written reads them again.
      const ami::Lineage lineage = lineageOf(*builder, *spec);
      deps_.lineage.invalidate(spec->region, lineage);
      for (const std::string& region : copy_regions) {
        deps_.lineage.invalidate(region, lineage);
      }
    }
  };
  Executor::Execution done = executor_.run(*builder, decision, ec2.get(), regional);
  invalidate();
  if (!done.status && done.failed != nullptr && std::holds_alternative<CreateJob>(*done.failed) &&
      refused(done.status.error())) {
    // The API server refused the Job: decide again knowing it, so the builder says so (and the
    // status never names a Job that does not exist).
    observed.builder.metadata = done.meta;
    observed.job_rejected = done.status.error();
    decision = decide(observed, now);
    done = executor_.run(observed.builder, decision, ec2.get(), regional);
  }
  if (!done.status && done.failed != nullptr && isRetentionAction(*done.failed) &&
      !observed.retention_failure) {
    // Retention could not act (a denied ec2:DeregisterImage, say): decide again knowing it, so
    // the builder shows it and everything else (status, building) goes on.
    observed.builder.metadata = done.meta;
    observed.retention_failure = done.status.error();
    decision = decide(observed, now);
    done = executor_.run(observed.builder, decision, ec2.get(), regional);
    invalidate();
  }
  OPSY_RETURN_IF_ERROR(done.status);
  if (decision.failure && !decision.retry) {
    controller::recordShownFailure(deps_.failures.get(), "controller.packer-builder", key,
                                   *decision.failure,
                                   observed.failure ? &*observed.failure : nullptr);
  }
  if (decision.retry) {
    return tl::unexpected(*decision.retry);
  }
  return decision.requeue_after;
}

void Reconciler::readBuildInputs(Observed& o) {
  auto spec = parseSpec(o.builder);
  if (!spec) {
    return;
  }
  const std::string& account = spec->builder.job_service_account_name;
  if (deps_.policy != nullptr && deps_.accounts != nullptr &&
      !packer::serviceAccountListed(deps_.policy->service_accounts, o.builder.metadata.ns,
                                    account)) {
    const std::string name = account.empty() ? "default" : account;
    auto sa = deps_.accounts->get(kube::resources::serviceAccounts(), o.builder.metadata.ns, name);
    if (sa) {
      auto label = sa->metadata.labels.find(std::string(packer::kLabelBuildServiceAccount));
      o.service_account = {
          .exists = true,
          .labelled = label != sa->metadata.labels.end() && label->second == "true"};
    } else if (sa.error().code == ErrorCode::NotFound) {
      o.service_account = Observed::ServiceAccount{};
    } else {
      o.failure = std::move(sa).error().context(
          fmt::format("read ServiceAccount {} (spec.builder.jobServiceAccountName)", name));
      return;
    }
  }
  o.secrets.emplace();
  for (const auto& [name, field] : jobSecrets(*spec)) {
    auto keys = deps_.secrets.keys(o.builder.metadata.ns, name);
    if (keys) {
      (*o.secrets)[name] = std::move(*keys);
    } else if (keys.error().code == ErrorCode::NotFound) {
      (*o.secrets)[name] = std::nullopt;
    } else {
      o.failure = std::move(keys).error().context(fmt::format("read Secret {} ({})", name, field));
      return;
    }
  }
}

void Reconciler::readRetention(Observed& o, const std::string& copy_region,
                               const std::vector<std::string>& image_ids) {
  auto spec = parseSpec(o.builder);
  if (!spec) {
    return;
  }
  const std::string& region = copy_region.empty() ? spec->region : copy_region;
  const std::vector<aws::Image>& managed =
      copy_region.empty() ? o.managed : o.managed_in[copy_region];
  Result<RetentionObservation> read = observeRetention(*spec, region, o, managed, image_ids);
  if (!read) {
    o.retention_failure = std::move(read).error();
  } else if (copy_region.empty()) {
    o.retention = std::move(*read);
  } else {
    o.retention_in[copy_region] = std::move(*read);
  }
}

Result<RetentionObservation> Reconciler::observeRetention(
    const PackerBuilderSpec& spec, const std::string& region, const Observed& o,
    const std::vector<aws::Image>& managed, const std::vector<std::string>& image_ids) {
  RetentionObservation out;
  OPSY_ASSIGN_OR_RETURN(aws::Ec2ApiPtr ec2, deps_.ec2(region));
  if (!image_ids.empty()) {
    OPSY_RETURN_IF_ERROR(findInstances(*ec2, image_ids, out.in_use));
    if (!deps_.autoscaling) {
      return fail(ErrorCode::FailedPrecondition,
                  "no Auto Scaling client: cannot check which launch templates use old images");
    }
    OPSY_ASSIGN_OR_RETURN(aws::AutoScalingApiPtr asg, deps_.autoscaling(region));
    OPSY_RETURN_IF_ERROR(findLaunchTemplateUses(*asg, *ec2, image_ids, out.in_use));
  }
  // Snapshots whose image's deletion began (docs/lifecycle.md, crash safety).
  std::vector<aws::Filter> filters = ami::lineageFilters(lineageOf(o.builder, spec));
  filters.push_back({"tag-key", {std::string(ami::kTagDeleteAfterDeregister)}});
  OPSY_ASSIGN_OR_RETURN(out.marked_snapshots,
                        ec2->describeSnapshots({.owner_ids = {"self"}, .filters = filters}));
  std::vector<std::string> orphans;
  for (const aws::Snapshot& snap : out.marked_snapshots) {
    auto marker = snap.tags.find(std::string(ami::kTagDeleteAfterDeregister));
    const bool registered =
        marker != snap.tags.end() &&
        std::any_of(managed.begin(), managed.end(), [&](const aws::Image& i) {
          return i.id == marker->second && i.state != aws::ImageState::Deregistered;
        });
    if (!registered) {
      orphans.push_back(snap.id);
    }
  }
  for (const std::vector<std::string>& chunk : chunks(orphans)) {
    OPSY_ASSIGN_OR_RETURN(
        std::vector<aws::Image> users,
        ec2->describeImages(
            {.owners = {"self"}, .filters = {{"block-device-mapping.snapshot-id", chunk}}}));
    for (const aws::Image& user : users) {
      if (user.state == aws::ImageState::Deregistered) {
        continue;
      }
      for (const std::string& snap : user.snapshot_ids) {
        if (contains(chunk, snap)) {
          out.snapshot_users.emplace(snap, user.id);
        }
      }
    }
  }
  return out;
}

Status Reconciler::observe(Observed& o) {
  const kube::Object& builder = o.builder;
  if (!builder.metadata.uid.empty()) {
    kube::ListOptions jobs_selector{
        .label_selector = fmt::format("{}={}", kLabelBuilderUid, builder.metadata.uid)};
    OPSY_ASSIGN_OR_RETURN(
        o.jobs, kube::listTyped<kube::Job>(deps_.reader, builder.metadata.ns, jobs_selector));
  }
  if (builder.metadata.deletion_timestamp) {
    return ok();
  }
  auto spec = parseSpec(builder);
  if (!spec) {
    return ok();  // decide() stalls on it; nothing else is worth reading
  }
  OPSY_ASSIGN_OR_RETURN(aws::Ec2ApiPtr ec2, deps_.ec2(spec->region));
  if (!spec->ami_filters.empty()) {
    std::vector<aws::Filter> filters = baseFilters(spec->ami_filters);
    OPSY_ASSIGN_OR_RETURN(std::vector<aws::Image> bases,
                          deps_.images.describeImages(spec->region, *ec2, {.filters = filters},
                                                      spec->time_outs.controller_timer));
    o.newest_base = ami::newestAvailable(bases);
  }
  // One lookup of every managed image per region and period, shared by all builders.
  OPSY_ASSIGN_OR_RETURN(o.managed,
                        deps_.lineage.imagesOf(spec->region, *ec2, lineageOf(builder, *spec),
                                               spec->time_outs.controller_timer));
  PackerBuilderStatus status = parseStatus(builder);
  // Regions holding copies: the last build's, and a finished build's. Their images are read
  // only there, one shared lookup per region and period as above.
  std::set<std::string> copy_regions;
  for (const ImageCopy& copy : status.copies) {
    copy_regions.insert(copy.region);
  }
  if (status.job_status == kRunRunning) {
    for (const kube::Job& job : o.jobs) {
      if (job.metadata.name == status.job_name && job.finished()) {
        OPSY_ASSIGN_OR_RETURN(FinishedBuild fb, readFinishedBuild(job, *spec, *ec2));
        for (const ImageCopy& copy : buildCopies(fb.output, spec->region)) {
          copy_regions.insert(copy.region);
        }
        o.finished = std::move(fb);
      }
    }
  }
  copy_regions.erase(spec->region);
  for (const std::string& region : copy_regions) {
    OPSY_ASSIGN_OR_RETURN(aws::Ec2ApiPtr copy_ec2, deps_.ec2(region));
    auto images = deps_.lineage.imagesOf(region, *copy_ec2, lineageOf(builder, *spec),
                                         spec->time_outs.controller_timer);
    if (!images) {
      return fail(std::move(images).error().context(
          fmt::format("read the builder's images in copy region {}", region)));
    }
    o.managed_in[region] = std::move(*images);
  }
  return ok();
}

Result<FinishedBuild> Reconciler::readFinishedBuild(const kube::Job& job,
                                                    const PackerBuilderSpec& spec,
                                                    aws::ImageApi& ec2) {
  FinishedBuild fb;
  fb.job_name = job.metadata.name;
  OPSY_ASSIGN_OR_RETURN(
      std::vector<kube::Pod> pods,
      kube::listTyped<kube::Pod>(deps_.reader, job.metadata.ns,
                                 {.label_selector = "job-name=" + job.metadata.name}));
  // The newest pod ran the build (backoffLimit 0 makes it the only one, barring evictions).
  std::sort(pods.begin(), pods.end(), [](const kube::Pod& a, const kube::Pod& b) {
    return a.metadata.creation_timestamp > b.metadata.creation_timestamp;
  });
  if (!pods.empty()) {
    auto text = readBuildLog(deps_.logs, job.metadata.ns, pods.front().metadata.name);
    if (text) {
      fb.log_read = true;
      fb.output = packer::parseBuildOutput(*text);
    } else if (text.error().code != ErrorCode::NotFound &&
               text.error().code != ErrorCode::InvalidArgument) {
      // The container may not have started (InvalidArgument: "waiting to start"); other errors
      // are worth a retry.
      return tl::unexpected(text.error());
    }
  }
  if (!job.succeededTerminally() || !fb.log_read) {
    return fb;
  }
  auto describe = [](aws::ImageApi& api,
                     const std::string& id) -> Result<std::optional<aws::Image>> {
    auto images = api.describeImages({.image_ids = {id}});
    if (!images) {
      if (isImageNotFound(images.error())) {
        return std::optional<aws::Image>();
      }
      return tl::unexpected(images.error());
    }
    for (const aws::Image& image : *images) {
      if (image.id == id) {
        return std::optional<aws::Image>(image);
      }
    }
    return std::optional<aws::Image>();
  };
  if (auto id = fb.output.imageIn(spec.region)) {
    OPSY_ASSIGN_OR_RETURN(fb.image, describe(ec2, *id));
  }
  if (!fb.image) {
    return fb;  // decide() waits for the image first
  }
  // Each copy in its own region: its snapshots are that region's.
  for (const ImageCopy& copy : buildCopies(fb.output, spec.region)) {
    OPSY_ASSIGN_OR_RETURN(aws::Ec2ApiPtr copy_ec2, deps_.ec2(copy.region));
    auto seen = describe(*copy_ec2, copy.image_id);
    if (!seen) {
      return fail(std::move(seen).error().context(
          fmt::format("describe copy {} in {}", copy.image_id, copy.region)));
    }
    if (*seen) {
      fb.copy_images.emplace(copy.region, std::move(**seen));
    }
  }
  return fb;
}

}  // namespace opsy::packer_builder
