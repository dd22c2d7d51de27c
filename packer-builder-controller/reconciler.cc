#include "packer-builder-controller/reconciler.h"

#include <fmt/format.h>

#include <algorithm>

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
  aws::Ec2ApiPtr ec2;
  bool needs_ec2 =
      std::any_of(decision.actions.begin(), decision.actions.end(), [](const Action& a) {
        return std::holds_alternative<TagImage>(a) || std::holds_alternative<DeprecateImages>(a) ||
               std::holds_alternative<CleanupTemporaries>(a);
      });
  // Parsed only when EC2 is written: an idle reconcile should not pay for it.
  std::optional<PackerBuilderSpec> spec;
  if (needs_ec2) {
    if (auto parsed = parseSpec(*builder)) {
      spec = std::move(*parsed);
    }
    OPSY_ASSIGN_OR_RETURN(ec2, deps_.ec2(spec ? spec->region : ""));
  }
  Executor::Execution done = executor_.run(*builder, decision, ec2.get());
  if (spec) {
    // Our tag writes (even a partial run's) change this builder's images: its next lookup reads
    // them again.
    deps_.lineage.invalidate(spec->region, lineageOf(*builder, *spec));
  }
  if (!done.status && done.failed != nullptr && std::holds_alternative<CreateJob>(*done.failed) &&
      refused(done.status.error())) {
    // The API server refused the Job: decide again knowing it, so the builder says so (and the
    // status never names a Job that does not exist).
    observed.builder.metadata = done.meta;
    observed.job_rejected = done.status.error();
    decision = decide(observed, now);
    done = executor_.run(observed.builder, decision, ec2.get());
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
  if (status.job_status == kRunRunning) {
    for (const kube::Job& job : o.jobs) {
      if (job.metadata.name == status.job_name && job.finished()) {
        OPSY_ASSIGN_OR_RETURN(FinishedBuild fb, readFinishedBuild(job, *spec, *ec2));
        o.finished = std::move(fb);
      }
    }
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
  if (auto id = fb.output.imageIn(spec.region)) {
    auto images = ec2.describeImages({.image_ids = {*id}});
    if (images) {
      for (const aws::Image& image : *images) {
        if (image.id == *id) {
          fb.image = image;
        }
      }
    } else if (!isImageNotFound(images.error())) {
      return tl::unexpected(images.error());
    }
  }
  return fb;
}

}  // namespace opsy::packer_builder
