// File: decide.h
//
// The PackerBuilder controller's whole policy as one pure function: given what was observed (the
// builder, its Jobs, the newest base image, its managed images, the output of a finished build),
// decide() returns the actions that move the world toward the spec and when to look again. It does
// no I/O, reads no clock and logs nothing, so every rule is a table-driven test. All memory of
// progress lives in the builder's status, its Jobs and AWS tags; decide() reads only those, so a
// controller killed at any instant resumes where it stopped.
//
//   Decision d = decide(observed, clock.now());
//   OPSY_RETURN_IF_ERROR(executor.execute(observed, d));
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "opsy/ami/tags.h"
#include "opsy/aws/ec2.h"
#include "opsy/controller/actions.h"
#include "opsy/controller/failure.h"
#include "opsy/core/clock.h"
#include "opsy/kube/events.h"
#include "opsy/kube/object.h"
#include "opsy/kube/objects.h"
#include "opsy/notify/notifier.h"
#include "opsy/packer/build_output.h"
#include "opsy/packer/build_policy.h"
#include "opsy/packer/job.h"
#include "packer-builder-controller/api.h"

namespace opsy::packer_builder {

// Labels and annotations on build Jobs.
inline constexpr std::string_view kLabelBuilderUid = "ami.refresh.ops/builder-uid";
inline constexpr std::string_view kLabelJobId = "ami.refresh.ops/job-id";
inline constexpr std::string_view kLabelManagedBy = "app.kubernetes.io/managed-by";
inline constexpr std::string_view kManagedByValue = "opsy-packer-builder";
inline constexpr std::string_view kAnnotationBaseAmi = "ami.refresh.ops/base-ami";

// How long a Job recorded in status may be missing from the observed Jobs before it counts as
// gone: covers a crash between the status write and the create, and a lagging cache.
inline constexpr Duration kJobAppearGrace = std::chrono::minutes(2);
// How long an image named by a finished build may be missing from EC2 (eventual consistency).
inline constexpr Duration kImageAppearGrace = std::chrono::minutes(5);
inline constexpr Duration kImagePendingPoll = std::chrono::seconds(30);

// What the reconciler learned about a finished build Job.
struct FinishedBuild {
  std::string job_name;
  // False when the build container's log could not be found (pod gone).
  bool log_read = false;
  packer::BuildOutput output;
  // The produced image as EC2 describes it; nullopt when EC2 does not know the id (yet).
  std::optional<aws::Image> image;
  // Its copies in other regions (buildCopies()) as EC2 in each region describes them, by region;
  // a copy EC2 there does not know (yet) is absent.
  std::map<std::string, aws::Image> copy_images;
};

// The copies a build's artifact names besides its image in `spec_region` (BuildOutput::imageIn):
// one per other region, sorted by region, at most kMaxImageCopies.
std::vector<ImageCopy> buildCopies(const packer::BuildOutput& output,
                                   const std::string& spec_region);

// What a retention pass needs to know from EC2 and Auto Scaling, read only once a decision asks
// for it (Decision::read_retention).
struct RetentionObservation {
  // Image id -> why it must stay: an instance that runs it, or a launch template version an Auto
  // Scaling group (a node group's, too) uses. Only for the images the decision asked about.
  std::map<std::string, std::string> in_use;
  // This builder's snapshots marked kTagDeleteAfterDeregister (an image's deletion began).
  std::vector<aws::Snapshot> marked_snapshots;
  // Marked snapshot id -> a registered image that still uses it.
  std::map<std::string, std::string> snapshot_users;
};

struct Observed {
  kube::Object builder;
  // The keys of the AMIRefreshers that follow this builder (spec.builderRef), sorted; nullopt
  // when not read (status.followers is then left as it is).
  std::optional<std::vector<std::string>> followers;
  // Jobs labelled with this builder's uid.
  std::vector<kube::Job> jobs;
  // The newest available image of spec.amiFilters (nullopt: none matched, or no filters).
  std::optional<aws::Image> newest_base;
  // Every image carrying this builder's lineage tags.
  std::vector<aws::Image> managed;
  // The same in each region that holds a copy (status.copies, and a finished build's copies).
  std::map<std::string, std::vector<aws::Image>> managed_in;
  // Set when the Job recorded in status has finished and its result is not recorded yet.
  std::optional<FinishedBuild> finished;
  // What could not be read (AWS denied, the API server unavailable, ...); the fields after the
  // failed read are empty.
  std::optional<Error> failure;
  // The data keys of the Secrets a build Job would use (spec.builder.secret,
  // spec.gitSync.secret), nullopt for a Secret that does not exist. Read only once a decision
  // wants to create a Job (unset before): decide() then checks them before it creates one.
  std::optional<std::map<std::string, std::optional<std::vector<std::string>>>> secrets;
  // The API server refused to create the Job this decision asked for (its own message).
  std::optional<Error> job_rejected;
  // The cluster admin's build policy (the controller's flags); null: none.
  const packer::BuildPolicy* policy = nullptr;
  // The ServiceAccount a build Job would run as, when the policy does not list it: read, like
  // `secrets`, only once a decision wants to create a Job (unset before).
  struct ServiceAccount {
    bool exists = false;
    bool labelled = false;  // packer::kLabelBuildServiceAccount=true
  };
  std::optional<ServiceAccount> service_account;
  // Why a notification destination of the spec may not be reached (the cluster's destination
  // policy refuses a webhook URL); shown on Ready, the other destinations still deliver.
  std::optional<std::string> notification_refused;
  // Set once a decision asked for it (Decision::read_retention).
  std::optional<RetentionObservation> retention;
  // The same for the regions holding copies, by region (Decision::read_retention_in).
  std::map<std::string, RetentionObservation> retention_in;
  // Reading what retention needs, or one of its actions, failed: shown on the builder, and no
  // retention action is decided this time. Building goes on.
  std::optional<Error> retention_failure;
};

// The Secrets a build Job of `spec` mounts, with the spec field that names each.
std::vector<std::pair<std::string, std::string>> jobSecrets(const PackerBuilderSpec& spec);

// Creates the build Job; the executor adds the keys of inputs.credentials_secret.
struct CreateJob {
  packer::JobInputs inputs;
};
// Deletes a running build Job (background propagation, so its pod goes too).
struct DeleteJob {
  std::string name;
};
// Tags a built image with the full tag set and its snapshots with the lineage tags.
// `region` is where the image is, for this and the other image actions: "" is spec.region.
struct TagImage {
  std::string image_id;
  aws::Tags tags;
  std::vector<std::string> snapshot_ids;
  aws::Tags snapshot_tags;
  std::string region;
};
// Sets status=deprecated on images of this builder that are no longer the active one.
struct DeprecateImages {
  std::vector<std::string> image_ids;
  std::string region;
};
// Deletes what a failed build left behind; NotFound counts as done.
struct CleanupTemporaries {
  std::vector<std::string> security_groups;  // ids (sg-...) or names
  std::vector<std::string> key_pairs;        // names
};
// Sets EC2's own deprecation time on images this builder just deprecated (spec.retention only).
struct SetDeprecationTime {
  std::vector<std::string> image_ids;
  TimePoint at;  // a whole minute in the future: EC2 refuses the past and keeps minutes
  std::string region;
};
// Retention: marks the snapshots (snapshot_marker), deregisters the image, then deletes the
// snapshots. A snapshot another image still uses is left, marked, for a later pass.
struct DeleteImage {
  std::string image_id;
  std::vector<std::string> snapshot_ids;  // empty: the snapshots are kept
  aws::Tags snapshot_marker;
  std::string region;
};
// Retention: deletes marked snapshots whose image is gone (a deletion that was interrupted).
struct DeleteSnapshots {
  std::vector<std::string> snapshot_ids;
  std::string region;
};
using PatchStatus = controller::PatchStatus<PackerBuilderStatus>;
using controller::Notify;
using controller::RecordEvent;
struct AddFinalizer {};
struct RemoveFinalizer {};

using Action = std::variant<AddFinalizer, PatchStatus, CreateJob, DeleteJob, TagImage,
                            DeprecateImages, SetDeprecationTime, DeleteImage, DeleteSnapshots,
                            CleanupTemporaries, RecordEvent, Notify, RemoveFinalizer>;

// True for the actions of spec.retention: their failure is shown, and building goes on.
bool isRetentionAction(const Action& action);

// The region an EC2 action is for ("" = spec.region); nullopt for actions that are not EC2's.
std::optional<std::string> ec2RegionOf(const Action& action);

struct Decision {
  // Executed in order; the first failure stops the rest (they are decided again next time).
  std::vector<Action> actions;
  // Look again after this long; nullopt waits for the next change (stalled builders).
  std::optional<Duration> requeue_after;
  // A transient failure: after the actions, the reconcile fails with it and retries with backoff.
  std::optional<Error> retry;
  // The failure this reconcile reported on the builder, counted by reason.
  std::optional<controller::Failure> failure;
  // Set when a retention pass is due and Observed::retention is not read yet: the images whose
  // use must be checked (possibly none: marked snapshots are looked for anyway). Read it, decide
  // again.
  std::optional<std::vector<std::string>> read_retention;
  // The same for copy regions (spec.region's is read_retention), by region; empty: none asked.
  std::map<std::string, std::vector<std::string>> read_retention_in;
};

// Retention keeps at most this many deletions a pass; the rest wait for the next one.
inline constexpr std::size_t kMaxDeletionsPerPass = 20;

// When `image` counts as deprecated: its EC2 DeprecationTime, else its creation date.
std::optional<TimePoint> deprecatedSince(const aws::Image& image);

// The deprecated images of `managed` (status=deprecated, never `active_id`) that `retention`'s
// rules delete at `now`, newest first: those beyond keepLast and those deprecated longer than
// deleteAfter. Whether something still uses them is checked apart.
std::vector<const aws::Image*> retentionCandidates(const RetentionSpec& retention,
                                                   const std::vector<aws::Image>& managed,
                                                   const std::string& active_id, TimePoint now);

Decision decide(const Observed& observed, TimePoint now);

// The lineage (who owns an image) of a builder: cluster, name, repository and branch.
ami::Lineage lineageOf(const kube::Object& builder, const PackerBuilderSpec& spec);

// The deterministic id of the next build Job: a short hash of the builder's uid, base image,
// generation, failure count and last run, so a retried create after a crash uses the same name.
std::string nextJobId(const kube::Object& builder, const PackerBuilderStatus& status,
                      const std::string& base_ami);

}  // namespace opsy::packer_builder
