#include "packer-builder-controller/decide.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

#include "opsy/ami/eligibility.h"
#include "opsy/ami/selection.h"
#include "opsy/core/duration.h"
#include "opsy/core/time_format.h"
#include "opsy/kube/conditions.h"

namespace opsy::packer_builder {
namespace {

constexpr Duration kJobAppearPoll = std::chrono::seconds(15);
constexpr Duration kMinRequeue = std::chrono::seconds(1);

struct PendingNote {
  std::string title;
  notify::Severity severity = notify::Severity::Info;
  std::string message;
};

// One decision in the making: the status as it will be written and the effects around that write.
struct Ctx {
  const Observed& o;
  TimePoint now;
  std::int64_t generation = 0;
  PackerBuilderStatus before;
  PackerBuilderStatus status;
  const PackerBuilderSpec* spec = nullptr;
  std::vector<Action> pre;   // before the status write: finalizer, AWS effects
  std::vector<Action> post;  // after it: Job creation and deletion
  std::vector<RecordEvent> events;
  std::vector<PendingNote> notes;
  std::optional<Duration> requeue_after;
  std::optional<Error> retry;
  std::optional<controller::Failure> failure;
  std::optional<std::vector<std::string>> read_retention;
  std::map<std::string, std::vector<std::string>> read_retention_in;
  // Writes c.status.conditions; set once the status is.
  std::optional<kube::ConditionWriter> conditions;
};

std::string joinList(const std::vector<std::string>& items) {
  return fmt::format("{}", fmt::join(items, ","));
}

std::vector<std::string> splitList(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string::npos) {
      end = text.size();
    }
    if (end > start) {
      out.push_back(text.substr(start, end - start));
    }
    start = end + 1;
  }
  return out;
}

void addUnique(std::vector<std::string>& list, const std::string& item) {
  if (!item.empty() && std::find(list.begin(), list.end(), item) == list.end()) {
    list.push_back(item);
  }
}

void event(Ctx& c, kube::EventType type, std::string reason, std::string action, std::string note) {
  c.events.push_back(RecordEvent{.type = type,
                                 .reason = std::move(reason),
                                 .action = std::move(action),
                                 .note = std::move(note)});
}

void note(Ctx& c, std::string title, notify::Severity severity, std::string message) {
  c.notes.push_back({std::move(title), severity, std::move(message)});
}

Duration clampRequeue(Duration d) {
  return std::max(d, kMinRequeue);
}

const kube::Job* findJob(const std::vector<kube::Job>& jobs, const std::string& name) {
  if (name.empty()) {
    return nullptr;
  }
  for (const kube::Job& j : jobs) {
    if (j.metadata.name == name) {
      return &j;
    }
  }
  return nullptr;
}

const kube::Job* newestActive(const std::vector<kube::Job>& jobs) {
  const kube::Job* best = nullptr;
  for (const kube::Job& j : jobs) {
    if (j.finished() || j.metadata.deletion_timestamp) {
      continue;
    }
    if (best == nullptr || j.metadata.creation_timestamp > best->metadata.creation_timestamp ||
        (j.metadata.creation_timestamp == best->metadata.creation_timestamp &&
         j.metadata.name > best->metadata.name)) {
      best = &j;
    }
  }
  return best;
}

bool hasFinalizer(const kube::ObjectMeta& meta) {
  return std::find(meta.finalizers.begin(), meta.finalizers.end(), kFinalizer) !=
         meta.finalizers.end();
}

std::optional<std::string> baseFor(const PackerBuilderSpec& spec, const std::string& base) {
  if (spec.ami_filters.empty()) {
    return std::nullopt;
  }
  return base;
}

// Stops the builder until its spec changes: invalid input or too many failed builds.
void stall(Ctx& c, const std::string& reason, const std::string& message) {
  bool transition =
      !kube::isConditionTrue(c.before.conditions, kube::kConditionStalled) ||
      kube::findCondition(c.before.conditions, kube::kConditionStalled)->reason != reason;
  c.status.state = std::string(kStateStalled);
  c.conditions->set(kube::kConditionStalled, kube::kConditionTrue, reason, message);
  c.conditions->set(kube::kConditionReady, kube::kConditionFalse, reason, message);
  c.conditions->set(kube::kConditionProgressing, kube::kConditionFalse, reason, message);
  if (transition) {
    event(c, kube::EventType::Warning, "Stalled", "Reconcile", message);
    note(c, "Builder stalled", notify::Severity::Error, message);
  }
  c.requeue_after.reset();
}

// The admin's build policy (opsy/packer/build_policy.h), checked before anything else runs: a
// spec it refuses stalls and no Job is made. Images are checked on every look, so the builder
// says so at once; a ServiceAccount the flags do not list is looked up only before a build.
bool policyDenied(Ctx& c) {
  const packer::BuildPolicy* policy = c.o.policy;
  if (policy == nullptr) {
    return false;
  }
  const PackerBuilderSpec& spec = *c.spec;
  const std::string& ns = c.o.builder.metadata.ns;
  std::string message;
  bool fixed_by_label = false;
  if (!packer::imageAllowed(policy->packer_images, spec.builder.image)) {
    message = fmt::format(
        "spec.builder.image {} is not allowed by the cluster's build policy: the controller's "
        "--allowed-packer-images is {}",
        spec.builder.image, joinList(policy->packer_images));
  } else if (!packer::imageAllowed(policy->git_sync_images, spec.git_sync.image)) {
    message = fmt::format(
        "spec.gitSync.image {} is not allowed by the cluster's build policy: the controller's "
        "--allowed-git-sync-images is {}",
        spec.git_sync.image, joinList(policy->git_sync_images));
  } else if (!packer::serviceAccountListed(policy->service_accounts, ns,
                                           spec.builder.job_service_account_name) &&
             c.o.service_account && !c.o.service_account->labelled) {
    const std::string& name = spec.builder.job_service_account_name;
    const std::string account = fmt::format("{}/{}", ns, name.empty() ? "default" : name);
    const std::string field = name.empty() ? "spec.builder.jobServiceAccountName (empty: default)"
                                           : "spec.builder.jobServiceAccountName";
    message = fmt::format(
        "{}: ServiceAccount {} may not run builds under the cluster's build policy: it is not in "
        "the controller's --allowed-build-service-accounts ({}) and {}",
        field, account, joinList(policy->service_accounts),
        c.o.service_account->exists
            ? fmt::format("has no label {}=true", packer::kLabelBuildServiceAccount)
            : std::string("does not exist"));
    fixed_by_label = true;
  }
  if (message.empty()) {
    return false;
  }
  stall(c, std::string(controller::kReasonPolicyDenied), message);
  if (fixed_by_label) {
    // Labelling the ServiceAccount is not an edit of this builder: look again.
    c.requeue_after = clampRequeue(spec.time_outs.controller_timer);
  }
  return true;
}

void notStalled(Ctx& c, std::string_view reason) {
  c.conditions->set(kube::kConditionStalled, kube::kConditionFalse, std::string(reason), "");
}

// Something the builder needs could not be read (docs/troubleshooting.md lists the reasons). A
// persistent failure is looked at again each controllerTimer, so it clears by itself once fixed;
// a transient one retries with backoff.
void reportFailure(Ctx& c, const Error& error) {
  controller::Failure f =
      controller::describeFailure(error, {.iam_doc = "docs/iam.md#packer-builder-controller"});
  if (controller::showFailure(f, c.before.conditions, *c.conditions)) {
    event(c, kube::EventType::Warning, f.reason, "Reconcile", f.message);
  }
  if (f.transient) {
    c.retry = error;
  } else {
    c.requeue_after = clampRequeue(c.spec->time_outs.controller_timer);
  }
  c.failure = std::move(f);
}

void building(Ctx& c, const std::string& job_name) {
  c.status.state = std::string(kStateBuilding);
  c.status.job_status = std::string(kRunRunning);
  c.status.last_run_status = std::string(kRunRunning);
  std::string msg = c.status.last_run_base_image_id.empty()
                        ? fmt::format("Job {} is building an image", job_name)
                        : fmt::format("Job {} is building an image from base {}", job_name,
                                      c.status.last_run_base_image_id);
  c.conditions->set(kube::kConditionReady, kube::kConditionFalse, "Building", msg);
  c.conditions->set(kube::kConditionProgressing, kube::kConditionTrue, "BuildRunning", msg);
  notStalled(c, "BuildRunning");
  c.requeue_after = c.spec->time_outs.controller_timer;
}

packer::JobInputs jobInputs(const Ctx& c, const packer::Plan& plan, const std::string& name,
                            const std::string& job_id, const std::string& base) {
  const PackerBuilderSpec& spec = *c.spec;
  const kube::ObjectMeta& meta = c.o.builder.metadata;
  packer::JobInputs in;
  in.ns = meta.ns;
  in.name = name;
  in.labels = {{std::string(kLabelBuilderUid), meta.uid},
               {std::string(kLabelJobId), job_id},
               {std::string(kLabelManagedBy), std::string(kManagedByValue)}};
  if (!base.empty()) {
    in.annotations[std::string(kAnnotationBaseAmi)] = base;
  }
  in.owner = kube::ownerReferenceTo(c.o.builder, true);
  in.git_sync = {.image = spec.git_sync.image,
                 .container_name = spec.git_sync.name,
                 .repo = spec.builder.repo_url,
                 .ref = spec.builder.branch,
                 .secret = spec.git_sync.secret};
  in.image = spec.builder.image;
  in.project_dir = spec.builder.dir;
  in.plan = plan;
  in.region = spec.region;
  in.service_account = spec.builder.job_service_account_name;
  in.credentials_secret = spec.builder.secret;
  in.resources_json = spec.builder.resources_json;
  in.active_deadline = spec.time_outs.build_timeout;
  return in;
}

// Creates (or re-creates, idempotently by name) the Job recorded in status.
// Why the Secrets the Job needs are not usable, or "" when they are (or not read yet).
std::string secretProblem(const Ctx& c) {
  if (!c.o.secrets) {
    return "";
  }
  const std::string& ns = c.o.builder.metadata.ns;
  for (const auto& [name, field] : jobSecrets(*c.spec)) {
    auto it = c.o.secrets->find(name);
    if (it == c.o.secrets->end() || !it->second) {
      return fmt::format("Secret {}/{} named by {} does not exist; create it, or change {}", ns,
                         name, field, field);
    }
    if (field == "spec.gitSync.secret") {
      for (const char* key : {"username", "token"}) {
        if (std::find(it->second->begin(), it->second->end(), key) == it->second->end()) {
          return fmt::format(
              "Secret {}/{} named by {} has no key \"{}\" (git-sync reads "
              "\"username\" and \"token\")",
              ns, name, field, key);
        }
      }
    }
  }
  return "";
}

// A failure that stops this build before it starts (a missing Secret, a refused Job): shown on
// the builder, looked at again after controllerTimer. Counted as a failed build only when it is
// not the spec's fault, since fixing the spec starts afresh anyway.
void buildBlocked(Ctx& c, controller::Failure f, bool counts_as_failure) {
  // No Job was made: the run startBuild() began is not recorded.
  c.status.job_id = c.before.job_id;
  c.status.job_name = c.before.job_name;
  c.status.last_run_base_image_id = c.before.last_run_base_image_id;
  c.status.last_run = c.before.last_run;
  if (c.status.job_status == kRunRunning) {
    c.status.job_status = std::string(kRunFailed);  // the recorded Job could not be made again
  }
  if (counts_as_failure) {
    ++c.status.failed_job_count;
    c.status.last_run_status = std::string(kRunFailed);
    c.status.last_run_message = f.message;
    // The attempt's time: the next one waits controllerTimer from it (startBuild()).
    c.status.last_run = std::chrono::floor<std::chrono::seconds>(c.now);
  }
  if (controller::showFailure(f, c.before.conditions, *c.conditions)) {
    event(c, kube::EventType::Warning, f.reason, "Build", f.message);
  }
  c.requeue_after = clampRequeue(c.spec->time_outs.controller_timer);
  c.failure = std::move(f);
}

bool createRecordedJob(Ctx& c) {
  auto plan = packer::planCommands({.commands = c.spec->builder.commands,
                                    .base_ami = baseFor(*c.spec, c.status.last_run_base_image_id),
                                    .region = c.spec->region});
  if (!plan) {
    stall(c, "InvalidSpec", plan.error().message);
    return false;
  }
  if (std::string problem = secretProblem(c); !problem.empty()) {
    buildBlocked(c, {std::string(controller::kReasonSecretMissing), problem, false}, false);
    return false;
  }
  if (c.o.job_rejected) {
    const Error& e = *c.o.job_rejected;
    // 400/422: the Job built from this spec is invalid; anything else (RBAC, an admission
    // webhook, a quota) is about the cluster and counts towards maxFailedJobs.
    const bool spec_problem = e.code == ErrorCode::InvalidArgument;
    buildBlocked(c,
                 {std::string(controller::kReasonJobRejected),
                  fmt::format("the API server refused Job {}: {}", c.status.job_name,
                              controller::quoteServiceError(e.message)),
                  false},
                 !spec_problem);
    return false;
  }
  c.status.command = plan->display;
  packer::JobInputs inputs =
      jobInputs(c, *plan, c.status.job_name, c.status.job_id, c.status.last_run_base_image_id);
  if (c.o.secrets && !inputs.credentials_secret.empty()) {
    inputs.credentials_secret_keys = *c.o.secrets->at(inputs.credentials_secret);
  }
  // The Job is created before the status names it, so the status never claims a build the API
  // server refused; a crash in between is safe: the next look adopts the labelled Job.
  c.pre.push_back(CreateJob{std::move(inputs)});
  return true;
}

// Deprecates the lineage's other active images of `managed`, the images of one region: "" is
// spec.region, another is a copy's region.
void deprecateOthers(Ctx& c, const std::string& keep_id, const std::vector<aws::Image>& managed,
                     const std::string& region = "") {
  DeprecateImages action{.region = region};
  for (const aws::Image& image : managed) {
    if (image.id != keep_id && ami::tag(image, ami::kTagStatus) == ami::kStatusActive) {
      action.image_ids.push_back(image.id);
    }
  }
  if (action.image_ids.empty()) {
    return;
  }
  for (const std::string& id : action.image_ids) {
    event(c, kube::EventType::Normal, "ImageDeprecated", "Deprecate",
          region.empty() ? fmt::format("{} deprecated: {} is the active image", id, keep_id)
                         : fmt::format("{} deprecated in {}: {} is the active image there", id,
                                       region, keep_id));
  }
  // With retention, EC2 learns too (its own DeprecationTime, which deleteAfter counts from). It
  // refuses a time in the past and keeps whole minutes: the next minute but one.
  std::optional<SetDeprecationTime> deprecation;
  if (c.spec->retention && !c.o.retention_failure) {
    deprecation = SetDeprecationTime{
        .image_ids = action.image_ids,
        .at = std::chrono::ceil<std::chrono::minutes>(c.now) + std::chrono::minutes(1),
        .region = region};
  }
  c.pre.push_back(std::move(action));
  if (deprecation) {
    c.pre.push_back(std::move(*deprecation));
  }
}

std::string retentionRules(const RetentionSpec& r) {
  std::vector<std::string> rules;
  if (r.keep_last) {
    rules.push_back(fmt::format("keepLast {}", *r.keep_last));
  }
  if (r.delete_after) {
    rules.push_back(fmt::format("deleteAfter {}", formatDuration(*r.delete_after)));
  }
  return fmt::format("{}", fmt::join(rules, ", "));
}

const RetentionStatus::Kept* findKept(const RetentionStatus& r, const std::string& image_id) {
  for (const RetentionStatus::Kept& k : r.kept) {
    if (k.image_id == image_id) {
      return &k;
    }
  }
  return nullptr;
}

// Snapshots of deregistered images that a pass deletes now: marked ones whose image is gone and
// that no registered image uses. Returns the deletions by image; the others are kept in `next`.
std::map<std::string, std::vector<std::string>> sweepSnapshots(
    const std::vector<aws::Image>& managed, const RetentionObservation& seen,
    RetentionStatus& next) {
  std::map<std::string, std::vector<std::string>> by_image;
  for (const aws::Snapshot& snap : seen.marked_snapshots) {
    auto marker = snap.tags.find(std::string(ami::kTagDeleteAfterDeregister));
    const std::string image_id = marker != snap.tags.end() ? marker->second : "";
    const bool registered = std::any_of(managed.begin(), managed.end(), [&](const aws::Image& i) {
      return !image_id.empty() && i.id == image_id && i.state != aws::ImageState::Deregistered;
    });
    if (registered) {
      continue;  // its image's deletion deletes it
    }
    if (auto user = seen.snapshot_users.find(snap.id); user != seen.snapshot_users.end()) {
      next.kept_snapshots.push_back(
          {snap.id, fmt::format("image {} still uses it; it is deleted once that image is "
                                "deregistered",
                                user->second)});
      continue;
    }
    by_image[image_id].push_back(snap.id);
  }
  return by_image;
}

// The images of one region a retention pass looks at: spec.region's ("") or a copy region's.
struct RegionPass {
  std::string region;
  const std::vector<aws::Image>* managed = nullptr;
  std::string active_id;  // the region's active image (the image, or its copy there)
  std::vector<const aws::Image*> doomed;
  const RetentionObservation* seen = nullptr;
};

// What the passes of every region add up to.
struct PassTotals {
  std::size_t deprecated = 0;
  std::size_t images_deleted = 0;
  bool more = false;
  std::vector<RetentionStatus::Deleted> deleted_now;
};

std::string inRegion(const std::string& region) {
  return region.empty() ? std::string() : fmt::format(" in {}", region);
}

// One region's pass: deletes (or, in Plan mode, lists) the selected images nothing uses there and
// sweeps the snapshots an interrupted deletion left in that region.
void retainIn(Ctx& c, const RetentionSpec& r, const RegionPass& pass, RetentionStatus& next,
              PassTotals& totals) {
  const RetentionObservation& seen = *pass.seen;
  const TimePoint at = std::chrono::floor<std::chrono::seconds>(c.now);
  // Oldest first, so a pass that hits the cap deletes the oldest.
  for (auto it = pass.doomed.rbegin(); it != pass.doomed.rend(); ++it) {
    const aws::Image& image = **it;
    if (auto use = seen.in_use.find(image.id); use != seen.in_use.end()) {
      next.kept.push_back({image.id, use->second});
      const RetentionStatus::Kept* before = findKept(c.before.retention, image.id);
      if (before == nullptr || before->reason != use->second) {
        event(c, kube::EventType::Normal, "ImageKept", "Retain",
              fmt::format("{}{} kept: {}", image.id, inRegion(pass.region), use->second));
      }
      continue;
    }
    if (r.plan) {
      next.would_delete.push_back(image.id);
      continue;
    }
    if (totals.images_deleted >= kMaxDeletionsPerPass) {
      totals.more = true;
      continue;
    }
    ++totals.images_deleted;
    DeleteImage action{.image_id = image.id, .region = pass.region};
    if (r.delete_snapshots && !image.snapshot_ids.empty()) {
      action.snapshot_ids = image.snapshot_ids;
      action.snapshot_marker = ami::lineageTags(lineageOf(c.o.builder, *c.spec));
      action.snapshot_marker[std::string(ami::kTagDeleteAfterDeregister)] = image.id;
    }
    // keepLast can delete an image deprecated moments ago, whose EC2 deprecation time (set a
    // minute or two ahead, EC2 refuses the past) has not come yet.
    std::optional<TimePoint> since = deprecatedSince(image);
    std::string when = !since ? "deprecated at an unknown time"
                       : *since <= c.now
                           ? "deprecated since " + formatRfc3339(*since)
                           : "deprecated, EC2 deprecation time " + formatRfc3339(*since);
    event(c, kube::EventType::Normal, "ImageDeleted", "Retain",
          fmt::format("{} deregistered{} ({}; {}){}", image.id, inRegion(pass.region), when,
                      retentionRules(r),
                      action.snapshot_ids.empty()
                          ? std::string()
                          : fmt::format(", snapshots {} deleted", joinList(action.snapshot_ids))));
    totals.deleted_now.push_back({image.id, action.snapshot_ids, at});
    c.pre.push_back(std::move(action));
  }
  if (!r.plan) {
    DeleteSnapshots sweep{.region = pass.region};
    for (auto& [image_id, snapshots] : sweepSnapshots(*pass.managed, seen, next)) {
      event(c, kube::EventType::Normal, "ImageDeleted", "Retain",
            fmt::format("snapshots {} of deregistered image {}{} deleted", joinList(snapshots),
                        image_id.empty() ? "(unknown)" : image_id, inRegion(pass.region)));
      sweep.snapshot_ids.insert(sweep.snapshot_ids.end(), snapshots.begin(), snapshots.end());
      totals.deleted_now.push_back({image_id, std::move(snapshots), at});
    }
    if (!sweep.snapshot_ids.empty()) {
      c.pre.push_back(std::move(sweep));
    }
  }
  totals.deprecated +=
      std::count_if(pass.managed->begin(), pass.managed->end(), [&](const aws::Image& i) {
        return i.id != pass.active_id && ami::tag(i, ami::kTagStatus) == ami::kStatusDeprecated;
      });
}

// One retention pass (spec.retention, docs/lifecycle.md), in a steady builder whose active image
// is `active`: deprecated images the rules select are deleted unless something still uses them
// (Plan: listed). Each region is a pass of its own: spec.region, and each region holding a copy
// of the active image (status.copies), where keepLast counts that region's images and "in use"
// is checked there. What EC2 and Auto Scaling say about them is read only when a pass is due.
void retain(Ctx& c, const aws::Image& active) {
  if (!c.spec->retention) {
    c.status.retention = {};
    return;
  }
  if (c.o.retention_failure) {
    return;  // finish() shows it; status.retention stays as the last pass left it
  }
  const RetentionSpec& r = *c.spec->retention;
  std::vector<RegionPass> passes;
  passes.push_back({.region = "",
                    .managed = &c.o.managed,
                    .active_id = active.id,
                    .doomed = retentionCandidates(r, c.o.managed, active.id, c.now),
                    .seen = c.o.retention ? &*c.o.retention : nullptr});
  if (active.id == c.status.last_run_built_image_id) {
    for (const ImageCopy& copy : c.status.copies) {
      auto managed = c.o.managed_in.find(copy.region);
      if (managed == c.o.managed_in.end()) {
        continue;
      }
      auto seen = c.o.retention_in.find(copy.region);
      passes.push_back({.region = copy.region,
                        .managed = &managed->second,
                        .active_id = copy.image_id,
                        .doomed = retentionCandidates(r, managed->second, copy.image_id, c.now),
                        .seen = seen == c.o.retention_in.end() ? nullptr : &seen->second});
    }
  }
  bool unread = false;
  for (const RegionPass& pass : passes) {
    if (pass.seen != nullptr) {
      continue;
    }
    std::vector<std::string> ids;
    for (const aws::Image* image : pass.doomed) {
      ids.push_back(image->id);
    }
    if (pass.region.empty()) {
      c.read_retention = std::move(ids);
    } else {
      c.read_retention_in[pass.region] = std::move(ids);
    }
    unread = true;
  }
  if (unread) {
    return;
  }
  RetentionStatus next;
  next.deleted = c.before.retention.deleted;
  PassTotals totals;
  for (const RegionPass& pass : passes) {
    retainIn(c, r, pass, next, totals);
  }
  if (!totals.deleted_now.empty()) {
    if (totals.deleted_now.size() > kMaxRetentionDeleted) {
      totals.deleted_now.resize(kMaxRetentionDeleted);
    }
    next.deleted = std::move(totals.deleted_now);
  }
  const std::string regions =
      passes.size() > 1 ? fmt::format(" in {} regions", passes.size()) : std::string();
  if (r.plan) {
    next.message = fmt::format(
        "Plan: {} of {} deprecated images{} would be deleted ({}); {} kept because in use",
        next.would_delete.size(), totals.deprecated, regions, retentionRules(r), next.kept.size());
  } else {
    next.message = fmt::format(
        "{} deprecated images{} ({}): {} deleted by this pass, {} kept because in use",
        totals.deprecated, regions, retentionRules(r), totals.images_deleted, next.kept.size());
  }
  // Bounded like the schema says; the message keeps the counts.
  if (next.kept.size() > 50) {
    next.kept.resize(50);
  }
  if (next.kept_snapshots.size() > 50) {
    next.kept_snapshots.resize(50);
  }
  if (next.would_delete.size() > 200) {
    next.would_delete.resize(200);
  }
  c.status.retention = std::move(next);
  if (totals.more) {
    c.requeue_after = kJobAppearPoll;  // the rest in the next pass, soon
  }
}

void recordFailure(Ctx& c, const std::string& message, const FinishedBuild* fb) {
  const PackerBuilderSpec& spec = *c.spec;
  c.status.failed_job_count += 1;
  c.status.job_status = std::string(kRunFailed);
  c.status.last_run_status = std::string(kRunFailed);
  c.status.last_run_message = message;
  c.status.state = std::string(kStateFailed);
  if (fb != nullptr) {
    // Keep what the build left behind in status until it is deleted, so a crash cannot lose it.
    std::vector<std::string> groups = splitList(c.status.last_run_security_group_id);
    for (const std::string& id : fb->output.temporary_security_group_ids) {
      addUnique(groups, id);
    }
    if (fb->output.temporary_security_group_ids.empty()) {
      for (const std::string& name : fb->output.temporary_security_groups) {
        addUnique(groups, name);
      }
    }
    std::vector<std::string> keys = splitList(c.status.last_run_key_pair);
    for (const std::string& name : fb->output.temporary_key_pairs) {
      addUnique(keys, name);
    }
    c.status.last_run_security_group_id = joinList(groups);
    c.status.last_run_key_pair = joinList(keys);
  }
  event(c, kube::EventType::Warning, "BuildFailed", "Build", message);
  note(c, "Build failed", notify::Severity::Error, message);
  if (c.status.failed_job_count >= spec.max_failed_jobs) {
    stall(c, "TooManyFailures",
          fmt::format("{} build Jobs failed in a row (spec.maxFailedJobs is {}); last error: {}. "
                      "Change the spec to try again.",
                      c.status.failed_job_count, spec.max_failed_jobs, message));
    return;
  }
  c.conditions->set(kube::kConditionReady, kube::kConditionFalse, "BuildFailed", message);
  c.conditions->set(kube::kConditionProgressing, kube::kConditionFalse, "BuildFailed", message);
  notStalled(c, "BuildFailed");
  // Look again at once: clean up, then retry.
  c.requeue_after = kMinRequeue;
}

// Deprecates, in each region that holds one of `copies`, the lineage's other active images there.
void deprecateOthersInCopyRegions(Ctx& c, const std::vector<ImageCopy>& copies) {
  for (const ImageCopy& copy : copies) {
    auto managed = c.o.managed_in.find(copy.region);
    if (managed != c.o.managed_in.end()) {
      deprecateOthers(c, copy.image_id, managed->second, copy.region);
    }
  }
}

void recordSuccess(Ctx& c, const kube::Job& job, const aws::Image& image, const FinishedBuild& fb) {
  const PackerBuilderSpec& spec = *c.spec;
  TimePoint created = std::chrono::floor<std::chrono::seconds>(job.completion_time.value_or(c.now));
  ami::Lineage lineage = lineageOf(c.o.builder, spec);
  TagImage tag;
  tag.image_id = image.id;
  tag.tags = ami::fullTags(lineage,
                           {.base_ami = c.status.last_run_base_image_id,
                            .build_id = c.status.build_id,
                            .job_id = c.status.job_id},
                           created);
  tag.snapshot_ids = image.snapshot_ids;
  tag.snapshot_tags = ami::lineageTags(lineage);
  // Every copy carries the same tags in its own region, so a lookup there finds it as this
  // builder's active image.
  const std::vector<ImageCopy> copies = buildCopies(fb.output, spec.region);
  std::vector<TagImage> copy_tags;
  for (const ImageCopy& copy : copies) {
    const aws::Image& copy_image = fb.copy_images.at(copy.region);
    copy_tags.push_back(TagImage{.image_id = copy.image_id,
                                 .tags = tag.tags,
                                 .snapshot_ids = copy_image.snapshot_ids,
                                 .snapshot_tags = tag.snapshot_tags,
                                 .region = copy.region});
  }
  c.pre.push_back(std::move(tag));
  for (TagImage& t : copy_tags) {
    c.pre.push_back(std::move(t));
  }
  deprecateOthers(c, image.id, c.o.managed);
  deprecateOthersInCopyRegions(c, copies);
  // A region the last build copied to and this one does not: no image there is the active
  // build's any more.
  for (const ImageCopy& dropped : c.before.copies) {
    const bool kept = std::any_of(copies.begin(), copies.end(), [&](const ImageCopy& copy) {
      return copy.region == dropped.region;
    });
    auto managed = c.o.managed_in.find(dropped.region);
    if (!kept && dropped.region != spec.region && managed != c.o.managed_in.end()) {
      deprecateOthers(c, "", managed->second, dropped.region);
    }
  }

  TimePoint expires = created + spec.time_outs.expires_in;
  std::string msg =
      c.status.last_run_base_image_id.empty()
          ? fmt::format("Built {}", image.id)
          : fmt::format("Built {} from base {}", image.id, c.status.last_run_base_image_id);
  if (!copies.empty()) {
    std::vector<std::string> where;
    for (const ImageCopy& copy : copies) {
      where.push_back(fmt::format("{} in {}", copy.image_id, copy.region));
    }
    msg += fmt::format(", copied as {}", fmt::join(where, ", "));
  }
  c.status.job_status = std::string(kRunCompleted);
  c.status.last_run_status = std::string(kRunCompleted);
  c.status.last_run_built_image_id = image.id;
  c.status.copies = copies;
  c.status.last_run_message = msg;
  c.status.failed_job_count = 0;
  c.status.expires_at = expires;
  c.status.state = std::string(kStateReady);
  c.conditions->set(kube::kConditionReady, kube::kConditionTrue, "ImageActive",
                    fmt::format("{} is active until {}", image.id, formatRfc3339(expires)));
  c.conditions->set(kube::kConditionProgressing, kube::kConditionFalse, "BuildSucceeded", msg);
  notStalled(c, "BuildSucceeded");
  event(c, kube::EventType::Normal, "BuildSucceeded", "Build", msg);
  note(c, "Build succeeded", notify::Severity::Success, msg);
  c.requeue_after = clampRequeue(std::min(spec.time_outs.controller_timer,
                                          std::chrono::duration_cast<Duration>(expires - c.now)));
}

void waitForImage(Ctx& c, const std::string& image_id, std::string_view why) {
  std::string msg = fmt::format("Waiting for {} to become available ({})", image_id, why);
  c.status.state = std::string(kStateBuilding);
  c.status.last_run_message = msg;
  c.conditions->set(kube::kConditionReady, kube::kConditionFalse, "Building", msg);
  c.conditions->set(kube::kConditionProgressing, kube::kConditionTrue, "WaitingForImage", msg);
  notStalled(c, "WaitingForImage");
  c.requeue_after = kImagePendingPoll;
}

void handleFinished(Ctx& c, const kube::Job& job) {
  const std::string& name = job.metadata.name;
  const FinishedBuild* fb =
      c.o.finished && c.o.finished->job_name == name ? &*c.o.finished : nullptr;
  if (job.failedTerminally()) {
    std::string why;
    if (fb != nullptr && fb->output.last_error) {
      why = *fb->output.last_error;
    } else if (const kube::JobCondition* cond = job.condition("Failed");
               cond != nullptr && !cond->message.empty()) {
      why = cond->message;
    } else {
      why = "the Job failed";
    }
    recordFailure(c, fmt::format("Job {} failed: {}", name, why), fb);
    return;
  }
  if (fb == nullptr || !fb->log_read) {
    recordFailure(c, fmt::format("Job {} succeeded but its build log could not be read", name), fb);
    return;
  }
  std::optional<std::string> id = fb->output.imageIn(c.spec->region);
  if (!id) {
    recordFailure(c, fmt::format("Job {} succeeded but its build output names no AMI", name), fb);
    return;
  }
  if (!fb->image) {
    TimePoint done = job.completion_time.value_or(c.now);
    if (c.now - done < kImageAppearGrace) {
      waitForImage(c, *id, "not visible in EC2 yet");
      return;
    }
    recordFailure(c, fmt::format("Job {} reported {} but EC2 does not know it", name, *id), fb);
    return;
  }
  if (fb->image->state == aws::ImageState::Pending) {
    waitForImage(c, *id, "pending");
    return;
  }
  if (fb->image->state != aws::ImageState::Available) {
    recordFailure(c, fmt::format("Job {} built {} but it is {}", name, *id, fb->image->state.text),
                  fb);
    return;
  }
  // Copies are treated like the image: Packer names them once they exist, so one EC2 does not
  // show yet is waited for, and one it never shows (or that failed) fails the build, naming the
  // region; a build whose copies are not all usable is not made active anywhere.
  for (const ImageCopy& copy : buildCopies(fb->output, c.spec->region)) {
    auto seen = fb->copy_images.find(copy.region);
    const std::string what = fmt::format("{} (copy in {})", copy.image_id, copy.region);
    if (seen == fb->copy_images.end()) {
      TimePoint done = job.completion_time.value_or(c.now);
      if (c.now - done < kImageAppearGrace) {
        waitForImage(c, what, fmt::format("not visible in EC2 in {} yet", copy.region));
        return;
      }
      recordFailure(c,
                    fmt::format("Job {} reported {} but EC2 in {} does not know it", name,
                                copy.image_id, copy.region),
                    fb);
      return;
    }
    if (seen->second.state == aws::ImageState::Pending) {
      waitForImage(c, what, "pending");
      return;
    }
    if (seen->second.state != aws::ImageState::Available) {
      recordFailure(c,
                    fmt::format("Job {} built {} but its copy {} in {} is {}", name, *id,
                                copy.image_id, copy.region, seen->second.state.text),
                    fb);
      return;
    }
  }
  recordSuccess(c, job, *fb->image, *fb);
}

// Records a build Job this builder owns that status does not know about (a crash between create
// and status write, or a status lost some other way).
void adoptJob(Ctx& c, const kube::Job& job) {
  c.status.job_name = job.metadata.name;
  auto id = job.metadata.labels.find(std::string(kLabelJobId));
  c.status.job_id = id != job.metadata.labels.end() ? id->second : "";
  auto base = job.metadata.annotations.find(std::string(kAnnotationBaseAmi));
  c.status.last_run_base_image_id = base != job.metadata.annotations.end() ? base->second : "";
  c.status.last_run = job.metadata.creation_timestamp.value_or(c.now);
  c.status.last_run_message = fmt::format("Following running build Job {}", job.metadata.name);
  building(c, job.metadata.name);
}

// True when a Job is running or the result of one was handled: nothing else happens this time.
bool handleJobs(Ctx& c) {
  const kube::Job* recorded = findJob(c.o.jobs, c.status.job_name);
  if (c.status.job_status == kRunRunning) {
    if (recorded != nullptr && !recorded->finished()) {
      building(c, recorded->metadata.name);
      return true;
    }
    if (recorded != nullptr) {
      handleFinished(c, *recorded);
      return true;
    }
    if (const kube::Job* other = newestActive(c.o.jobs)) {
      adoptJob(c, *other);
      return true;
    }
    if (c.status.last_run && c.now - *c.status.last_run < kJobAppearGrace) {
      // Status was written but the Job is not there (yet): create it; the name makes it safe.
      if (createRecordedJob(c)) {
        building(c, c.status.job_name);
        c.requeue_after = kJobAppearPoll;
      }
      return true;
    }
    recordFailure(c, fmt::format("Job {} disappeared before it finished", c.status.job_name),
                  nullptr);
    return true;
  }
  if (const kube::Job* other = newestActive(c.o.jobs)) {
    adoptJob(c, *other);
    return true;
  }
  return false;
}

void cleanupTemporaries(Ctx& c) {
  CleanupTemporaries action{.security_groups = splitList(c.status.last_run_security_group_id),
                            .key_pairs = splitList(c.status.last_run_key_pair)};
  if (action.security_groups.empty() && action.key_pairs.empty()) {
    return;
  }
  c.pre.push_back(std::move(action));
  c.status.last_run_security_group_id.clear();
  c.status.last_run_key_pair.clear();
}

// True while the builder stays stopped after too many failed builds.
bool stalledOnFailures(Ctx& c) {
  if (c.status.failed_job_count < c.spec->max_failed_jobs) {
    return false;
  }
  const kube::Condition* stalled =
      kube::findCondition(c.before.conditions, kube::kConditionStalled);
  if (stalled != nullptr && stalled->status == kube::kConditionTrue &&
      stalled->observed_generation < c.generation) {
    c.status.failed_job_count = 0;
    event(c, kube::EventType::Normal, "Retrying", "Reconcile",
          "The spec changed; failed build count reset");
    return false;
  }
  stall(c, "TooManyFailures",
        fmt::format("{} build Jobs failed in a row (spec.maxFailedJobs is {}); last error: {}. "
                    "Change the spec to try again.",
                    c.status.failed_job_count, c.spec->max_failed_jobs, c.status.last_run_message));
  return true;
}

void steady(Ctx& c, const aws::Image& image, const ami::Verdict& verdict,
            const std::string& progressing_reason, const std::string& progressing_message) {
  c.status.state = std::string(kStateReady);
  c.status.expires_at = verdict.expires_at;
  deprecateOthers(c, image.id, c.o.managed);
  if (image.id == c.status.last_run_built_image_id) {
    // Level-based, like the primary region: a deprecation a crash or a failed call missed is
    // made on the next look.
    deprecateOthersInCopyRegions(c, c.status.copies);
  }
  std::string until = verdict.expires_at ? formatRfc3339(*verdict.expires_at) : "unknown";
  c.conditions->set(kube::kConditionReady, kube::kConditionTrue, "ImageActive",
                    fmt::format("{} is active until {}", image.id, until));
  c.conditions->set(kube::kConditionProgressing, kube::kConditionFalse, progressing_reason,
                    progressing_message);
  notStalled(c, "ImageActive");
  Duration timer = c.spec->time_outs.controller_timer;
  if (verdict.expires_at) {
    timer = std::min(timer, std::chrono::duration_cast<Duration>(*verdict.expires_at - c.now));
  }
  c.requeue_after = clampRequeue(timer);
  retain(c, image);
}

void startBuild(Ctx& c, const std::string& base, const std::string& why) {
  // A Job the cluster refused (a webhook, RBAC, a quota) is tried again controllerTimer after the
  // refusal, not on the watch event of the status write that recorded it: otherwise every
  // attempt maxFailedJobs allows is spent within a second.
  const kube::Condition* ready = kube::findCondition(c.before.conditions, kube::kConditionReady);
  if (ready != nullptr && ready->status == kube::kConditionFalse &&
      ready->reason == controller::kReasonJobRejected && c.before.last_run_status == kRunFailed &&
      c.before.last_run && c.now - *c.before.last_run < c.spec->time_outs.controller_timer) {
    const auto since = std::chrono::duration_cast<Duration>(c.now - *c.before.last_run);
    c.requeue_after = clampRequeue(c.spec->time_outs.controller_timer - since);
    return;
  }
  std::string job_id = nextJobId(c.o.builder, c.status, base);
  c.status.job_id = job_id;
  c.status.job_name = packer::jobName(c.o.builder.metadata.name, job_id);
  c.status.last_run_base_image_id = base;
  c.status.last_run = std::chrono::floor<std::chrono::seconds>(c.now);
  if (!createRecordedJob(c)) {
    return;
  }
  std::string msg = fmt::format("Build started: {}", why);
  c.status.last_run_message = msg;
  building(c, c.status.job_name);
  event(c, kube::EventType::Normal, "BuildStarted", "Build",
        fmt::format("Job {} started: {}", c.status.job_name, why));
  note(c, "Build started", notify::Severity::Info, msg);
}

void flightChecks(Ctx& c) {
  const PackerBuilderSpec& spec = *c.spec;
  Duration expires_in = spec.time_outs.expires_in;
  ami::Target any = ami::selectActive(c.o.managed, expires_in, c.now);

  // Adoption: a builder with an empty status takes over its lineage's eligible image as it is.
  if (c.before.last_run_built_image_id.empty() && c.before.job_name.empty() && any.image) {
    c.status.last_run_built_image_id = any.image->id;
    c.status.last_run_base_image_id = ami::tag(*any.image, ami::kTagBaseAmi).value_or("");
    c.status.last_run_status = std::string(kRunCompleted);
    c.status.last_run_message = fmt::format("Adopted existing image {}", any.image->id);
    event(c, kube::EventType::Normal, "ImageAdopted", "Adopt", c.status.last_run_message);
    note(c, "Image adopted", notify::Severity::Info, c.status.last_run_message);
  }

  // A just-built image whose tags EC2 does not show yet must not trigger another build. Only for
  // the spec it was built for: after an edit (a new branch is a new lineage) the image is not
  // expected among this lineage's images, and the edit is acted on now.
  const bool spec_unchanged = c.before.observed_generation == c.generation;
  if (spec_unchanged && c.status.job_status == kRunCompleted &&
      !c.status.last_run_built_image_id.empty()) {
    bool seen = std::any_of(c.o.managed.begin(), c.o.managed.end(), [&](const aws::Image& i) {
      return i.id == c.status.last_run_built_image_id;
    });
    const kube::Job* job = findJob(c.o.jobs, c.status.job_name);
    if (!seen && job != nullptr && job->completion_time &&
        c.now - *job->completion_time < kImageAppearGrace) {
      c.requeue_after = kJobAppearPoll;
      return;
    }
  }

  std::optional<std::string> required_base;
  if (!spec.ami_filters.empty()) {
    if (!c.o.newest_base) {
      std::string msg = "No available image matches spec.amiFilters";
      c.status.last_run_message = msg;
      if (any.image) {
        steady(c, *any.image, any.verdict, "BaseImageNotFound", msg);
        return;
      }
      c.status.state = std::string(kStatePending);
      c.conditions->set(kube::kConditionReady, kube::kConditionFalse, "BaseImageNotFound", msg);
      c.conditions->set(kube::kConditionProgressing, kube::kConditionFalse, "BaseImageNotFound",
                        msg);
      notStalled(c, "BaseImageNotFound");
      c.requeue_after = spec.time_outs.controller_timer;
      return;
    }
    required_base = c.o.newest_base->id;
  }
  ami::Target target = ami::selectActive(c.o.managed, expires_in, c.now, required_base);
  if (target.image) {
    steady(c, *target.image, target.verdict, "UpToDate", target.explanation);
    return;
  }
  std::string why;
  if (required_base && any.image) {
    why = fmt::format("the newest base image is {}; {} was built from {}", *required_base,
                      any.image->id, ami::tag(*any.image, ami::kTagBaseAmi).value_or("another"));
  } else {
    why = target.explanation;
  }
  startBuild(c, required_base.value_or(""), why);
}

Decision finish(Ctx& c) {
  if (c.spec != nullptr && c.before.observed_generation != c.generation) {
    for (const std::string& deprecation : c.spec->builder.deprecations) {
      event(c, kube::EventType::Warning, "DeprecatedField", "Validate", deprecation);
    }
  }
  if (c.spec != nullptr && c.o.notification_refused) {
    c.conditions->annotate(kube::kConditionReady, *c.o.notification_refused);
    if (c.before.observed_generation != c.generation) {
      event(c, kube::EventType::Warning, "NotificationRefused", "Notify",
            *c.o.notification_refused);
    }
  }
  if (c.spec != nullptr && !c.spec->time_outs.expires_in_warning.empty()) {
    const std::string& warning = c.spec->time_outs.expires_in_warning;
    c.conditions->annotate(kube::kConditionReady, warning);
    if (c.before.observed_generation != c.generation) {
      event(c, kube::EventType::Warning, "ExpiresInMinutes", "Validate", warning);
    }
  }
  if (c.spec != nullptr && c.spec->retention && c.o.retention_failure && !c.failure) {
    // Retention could not look or act; the builder still builds (docs/lifecycle.md).
    reportFailure(c, *c.o.retention_failure);
  }
  if (c.o.followers) {
    // Written with the rest of the status, so a change of followers alone is one small patch and
    // an unchanged list none.
    const std::vector<std::string>& all = *c.o.followers;
    c.status.follower_count = static_cast<std::int64_t>(all.size());
    c.status.followers.assign(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                             all.size(), kMaxFollowersShown)));
  }
  Decision d;
  d.actions = std::move(c.pre);
  if (c.status != c.before) {
    d.actions.push_back(PatchStatus{c.before, c.status});
  }
  for (Action& a : c.post) {
    d.actions.push_back(std::move(a));
  }
  for (RecordEvent& e : c.events) {
    d.actions.push_back(std::move(e));
  }
  if (c.spec != nullptr && c.spec->notifier.configured()) {
    for (PendingNote& n : c.notes) {
      notify::Notification out{.title = std::move(n.title),
                               .kind = std::string(kKind),
                               .object = c.o.builder.key(),
                               .state = c.status.state,
                               .severity = n.severity,
                               .fields = {{"Base AMI", c.status.last_run_base_image_id},
                                          {"Built AMI", c.status.last_run_built_image_id},
                                          {"Job", c.status.job_name}},
                               .message = std::move(n.message)};
      d.actions.push_back(Notify{c.spec->notifier, c.spec->region, std::move(out)});
    }
  }
  d.requeue_after = c.requeue_after;
  d.retry = std::move(c.retry);
  d.failure = std::move(c.failure);
  d.read_retention = std::move(c.read_retention);
  d.read_retention_in = std::move(c.read_retention_in);
  return d;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> jobSecrets(const PackerBuilderSpec& spec) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!spec.builder.secret.empty()) {
    out.emplace_back(spec.builder.secret, "spec.builder.secret");
  }
  if (!spec.git_sync.secret.empty()) {
    out.emplace_back(spec.git_sync.secret, "spec.gitSync.secret");
  }
  return out;
}

std::vector<ImageCopy> buildCopies(const packer::BuildOutput& output,
                                   const std::string& spec_region) {
  std::vector<ImageCopy> out;
  std::optional<std::string> primary = output.imageIn(spec_region);
  if (!primary) {
    return out;
  }
  std::string primary_region;
  for (const packer::Artifact& a : output.artifacts) {
    if (a.image_id == *primary) {
      primary_region = a.region;
      break;
    }
  }
  for (const packer::Artifact& a : output.artifacts) {
    const bool seen = std::any_of(out.begin(), out.end(),
                                  [&](const ImageCopy& c) { return c.region == a.region; });
    if (a.region != primary_region && a.image_id != *primary && !seen) {
      out.push_back({a.region, a.image_id});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const ImageCopy& a, const ImageCopy& b) { return a.region < b.region; });
  if (out.size() > kMaxImageCopies) {
    out.resize(kMaxImageCopies);
  }
  return out;
}

std::optional<std::string> ec2RegionOf(const Action& action) {
  return std::visit(
      controller::Overloaded{
          [](const TagImage& a) -> std::optional<std::string> { return a.region; },
          [](const DeprecateImages& a) -> std::optional<std::string> { return a.region; },
          [](const SetDeprecationTime& a) -> std::optional<std::string> { return a.region; },
          [](const DeleteImage& a) -> std::optional<std::string> { return a.region; },
          [](const DeleteSnapshots& a) -> std::optional<std::string> { return a.region; },
          [](const CleanupTemporaries&) -> std::optional<std::string> { return std::string(); },
          [](const auto&) -> std::optional<std::string> { return std::nullopt; },
      },
      action);
}

bool isRetentionAction(const Action& action) {
  return std::holds_alternative<SetDeprecationTime>(action) ||
         std::holds_alternative<DeleteImage>(action) ||
         std::holds_alternative<DeleteSnapshots>(action);
}

std::optional<TimePoint> deprecatedSince(const aws::Image& image) {
  return image.deprecation_time ? image.deprecation_time : image.creation_date;
}

std::vector<const aws::Image*> retentionCandidates(const RetentionSpec& retention,
                                                   const std::vector<aws::Image>& managed,
                                                   const std::string& active_id, TimePoint now) {
  std::vector<const aws::Image*> deprecated;
  for (const aws::Image& image : managed) {
    if (image.id != active_id && ami::tag(image, ami::kTagStatus) == ami::kStatusDeprecated &&
        image.state != aws::ImageState::Deregistered) {
      deprecated.push_back(&image);
    }
  }
  // Newest first; an image without a creation date counts as the oldest.
  std::sort(deprecated.begin(), deprecated.end(), [](const aws::Image* a, const aws::Image* b) {
    if (a->creation_date != b->creation_date) {
      return a->creation_date > b->creation_date;
    }
    return a->id > b->id;
  });
  std::vector<const aws::Image*> out;
  for (std::size_t i = 0; i < deprecated.size(); ++i) {
    const aws::Image& image = *deprecated[i];
    // keepLast counts the active image, which is never among `deprecated`.
    const bool beyond_count =
        retention.keep_last && i + 1 >= static_cast<std::size_t>(*retention.keep_last);
    std::optional<TimePoint> since = deprecatedSince(image);
    const bool too_old = retention.delete_after && since && now - *since >= *retention.delete_after;
    if (beyond_count || too_old) {
      out.push_back(&image);
    }
  }
  return out;
}

ami::Lineage lineageOf(const kube::Object& builder, const PackerBuilderSpec& spec) {
  return {.cluster_name = spec.cluster_name,
          .created_by = builder.metadata.name,
          .packer_repo = spec.builder.repo_url,
          .packer_repo_branch = spec.builder.branch};
}

std::string nextJobId(const kube::Object& builder, const PackerBuilderStatus& status,
                      const std::string& base_ami) {
  std::string input =
      fmt::format("{}|{}|{}|{}|{}", builder.metadata.uid, base_ami, builder.metadata.generation,
                  status.failed_job_count, status.last_run ? formatRfc3339(*status.last_run) : "");
  // FNV-1a: stable across builds and platforms, unlike std::hash.
  std::uint64_t h = 14695981039346656037ULL;
  for (unsigned char ch : input) {
    h ^= ch;
    h *= 1099511628211ULL;
  }
  return fmt::format("{:016x}", h).substr(0, 8);
}

Decision decide(const Observed& observed, TimePoint now) {
  Ctx c{.o = observed, .now = now};
  const kube::ObjectMeta& meta = observed.builder.metadata;
  c.generation = meta.generation;
  c.before = parseStatus(observed.builder);
  c.status = c.before;
  c.conditions.emplace(c.status.conditions, c.generation, now);

  if (meta.deletion_timestamp) {
    Decision d;
    if (!hasFinalizer(meta)) {
      return d;
    }
    for (const kube::Job& job : observed.jobs) {
      if (!job.finished() && !job.metadata.deletion_timestamp) {
        d.actions.push_back(DeleteJob{job.metadata.name});
      }
    }
    d.actions.push_back(RemoveFinalizer{});
    return d;
  }
  if (!hasFinalizer(meta)) {
    c.pre.push_back(AddFinalizer{});
  }
  c.status.observed_generation = meta.generation;
  if (c.status.build_id.empty()) {
    c.status.build_id = meta.uid;
  }

  auto spec = parseSpec(observed.builder);
  if (!spec) {
    stall(c, "InvalidSpec", spec.error().message);
    return finish(c);
  }
  c.spec = &*spec;
  // Commands are checked before anything runs, so a bad one stalls instead of failing Jobs.
  auto plan = packer::planCommands({.commands = spec->builder.commands,
                                    .base_ami = baseFor(*spec, "ami-00000000"),
                                    .region = spec->region});
  if (!plan) {
    stall(c, "InvalidSpec", plan.error().message);
    return finish(c);
  }
  if (policyDenied(c)) {
    return finish(c);
  }
  if (observed.failure) {
    reportFailure(c, *observed.failure);
    return finish(c);
  }
  if (handleJobs(c)) {
    return finish(c);
  }
  cleanupTemporaries(c);
  if (stalledOnFailures(c)) {
    return finish(c);
  }
  flightChecks(c);
  return finish(c);
}

}  // namespace opsy::packer_builder
