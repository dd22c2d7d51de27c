// File: api.h
//
// The PackerBuilder resource (ami.refresh.ops/v1alpha1) as C++ values. parseSpec() reads and
// validates the spec of a kube::Object, applying defaults; every error names the field path
// (`spec.timeOuts.expiresIn: ...`) so it can go straight into a Stalled condition. The status is
// read leniently (a controller must be able to repair a status it cannot fully read) and written
// back as a JSON merge patch that also clears fields that became empty.
//
//   OPSY_ASSIGN_OR_RETURN(PackerBuilderSpec spec, parseSpec(obj));
//   PackerBuilderStatus status = parseStatus(obj);
//   status_writer.patchStatus(packerBuilderResource(), ns, name, PatchType::Merge,
//                             statusMergePatch(status), {});
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/aws/types.h"
#include "opsy/core/clock.h"
#include "opsy/core/result.h"
#include "opsy/kube/conditions.h"
#include "opsy/kube/object.h"
#include "opsy/kube/resource.h"
#include "opsy/notify/config.h"
#include "opsy/packer/command.h"

namespace opsy::packer_builder {

inline constexpr std::string_view kGroup = "ami.refresh.ops";
inline constexpr std::string_view kVersion = "v1alpha1";
inline constexpr std::string_view kKind = "PackerBuilder";
inline constexpr std::string_view kFinalizer = "ami.refresh.ops/packer-builder";

inline constexpr std::string_view kDefaultGitSyncImage = "registry.k8s.io/git-sync/git-sync:v4.2.3";
inline constexpr std::string_view kDefaultGitSyncName = "git-sync";
inline constexpr std::string_view kDefaultBranch = "main";
inline constexpr int kDefaultMaxFailedJobs = 3;
inline constexpr Duration kDefaultExpiresIn = std::chrono::hours(24 * 30);
inline constexpr Duration kDefaultControllerTimer = std::chrono::minutes(5);
inline constexpr Duration kDefaultBuildTimeout = std::chrono::hours(2);

// packerbuilders.ami.refresh.ops, namespaced.
const kube::Resource& packerBuilderResource();

struct TimeOuts {
  Duration expires_in = kDefaultExpiresIn;
  // Set when expiresIn looks like a minutes/months mix-up (ami::expiresInWarning).
  std::string expires_in_warning;
  Duration controller_timer = kDefaultControllerTimer;
  Duration build_timeout = kDefaultBuildTimeout;
};

// spec.notifier: the destinations shared with AMIRefresher (Slack, SNS, SES, Discord, webhook).
using NotifierSpec = notify::NotifierConfig;

struct GitSyncSpec {
  std::string image = std::string(kDefaultGitSyncImage);
  std::string name = std::string(kDefaultGitSyncName);
  std::string secret;  // keys "username" and "token"
};

struct BuilderSpec {
  std::string repo_url;
  std::string branch = std::string(kDefaultBranch);
  std::string image;
  std::string dir;
  std::string secret;
  std::string job_service_account_name;
  // builder.resources as JSON text (a core/v1 ResourceRequirements); empty for the defaults.
  std::string resources_json;
  std::vector<packer::CommandSpec> commands;
  // Fields of the original operator that are accepted and ignored, each with what to use instead
  // ("spec.builder.debug is ignored: ..."); decide() turns them into one Warning Event.
  std::vector<std::string> deprecations;
};

// spec.retention: which deprecated images of this builder are deleted (docs/lifecycle.md).
struct RetentionSpec {
  // Keep the newest N deprecated images (the active image is not counted); unset: no count rule.
  std::optional<int> keep_last;
  // Delete a deprecated image deprecated longer than this; unset: no age rule.
  std::optional<Duration> delete_after;
  bool delete_snapshots = true;
  // mode: Plan lists what Apply would delete (status.retention.wouldDelete) and deletes nothing.
  bool plan = false;
};

struct PackerBuilderSpec {
  std::vector<aws::Filter> ami_filters;
  std::string cluster_name;
  std::string region;  // empty: the controller's region
  int max_failed_jobs = kDefaultMaxFailedJobs;
  TimeOuts time_outs;
  NotifierSpec notifier;
  GitSyncSpec git_sync;
  BuilderSpec builder;
  std::optional<RetentionSpec> retention;  // absent: images are never deleted
};

// status.state values.
inline constexpr std::string_view kStatePending = "Pending";
inline constexpr std::string_view kStateBuilding = "Building";
inline constexpr std::string_view kStateReady = "Ready";
inline constexpr std::string_view kStateFailed = "Failed";
inline constexpr std::string_view kStateStalled = "Stalled";

// status.jobStatus / status.lastRunStatus values (the seeds').
inline constexpr std::string_view kRunRunning = "running";
inline constexpr std::string_view kRunCompleted = "completed";
inline constexpr std::string_view kRunFailed = "failed";

// status.retention: what the last retention pass found.
struct RetentionStatus {
  struct Kept {
    std::string image_id;
    std::string reason;
    bool operator==(const Kept&) const = default;
  };
  struct Deleted {
    std::string image_id;
    std::vector<std::string> snapshots;
    std::optional<TimePoint> at;
    bool operator==(const Deleted&) const = default;
  };
  struct KeptSnapshot {
    std::string snapshot_id;
    std::string reason;
    bool operator==(const KeptSnapshot&) const = default;
  };
  // Images the rules would delete that are still in use, with why.
  std::vector<Kept> kept;
  // What the last pass that deleted anything deleted (at most kMaxRetentionDeleted).
  std::vector<Deleted> deleted;
  // Plan mode: what Apply would delete now.
  std::vector<std::string> would_delete;
  // Snapshots of deregistered images that another registered image still uses.
  std::vector<KeptSnapshot> kept_snapshots;
  std::string message;

  bool empty() const {
    return kept.empty() && deleted.empty() && would_delete.empty() && kept_snapshots.empty() &&
           message.empty();
  }
  bool operator==(const RetentionStatus&) const = default;
};

inline constexpr std::size_t kMaxRetentionDeleted = 20;

// status.copies: an image of the last build in a region other than spec.region (Packer's
// ami_regions), as the build's artifact named it.
struct ImageCopy {
  std::string region;
  std::string image_id;
  bool operator==(const ImageCopy&) const = default;
};

// status.copies lists at most this many regions (the schema's maxItems).
inline constexpr std::size_t kMaxImageCopies = 32;

struct PackerBuilderStatus {
  std::string state;
  std::int64_t observed_generation = 0;
  std::string build_id;
  std::string command;
  std::vector<kube::Condition> conditions;
  std::int64_t failed_job_count = 0;
  std::string job_id;
  std::string job_name;
  std::string job_status;
  std::optional<TimePoint> last_run;
  std::string last_run_base_image_id;
  std::string last_run_built_image_id;
  // The copies of last_run_built_image_id in other regions, sorted by region.
  std::vector<ImageCopy> copies;
  std::string last_run_message;
  std::string last_run_status;
  // Comma-separated ids or names of what a failed build left behind, until cleaned up.
  std::string last_run_security_group_id;
  std::string last_run_key_pair;
  std::optional<TimePoint> expires_at;
  RetentionStatus retention;
  // The AMIRefreshers whose spec.builderRef names this builder ("namespace/name", sorted, at most
  // kMaxFollowersShown), and how many there are in all.
  std::vector<std::string> followers;
  std::int64_t follower_count = 0;

  bool operator==(const PackerBuilderStatus&) const = default;
};

// status.followers lists at most this many refreshers; status.followerCount counts them all.
inline constexpr std::size_t kMaxFollowersShown = 50;

// amirefreshers.ami.refresh.ops/v1alpha1, read (never written) to list a builder's followers.
const kube::Resource& amiRefresherResource();

// Reads and validates .spec; defaults applied. Errors are InvalidArgument naming the field.
[[nodiscard]] Result<PackerBuilderSpec> parseSpec(const kube::Object& obj);

// Reads .status; fields that are missing or of the wrong type are left empty.
PackerBuilderStatus parseStatus(const kube::Object& obj);

// The status as a JSON object (empty fields omitted).
std::string statusToJson(const PackerBuilderStatus& status);

// {"status": {...}} as an RFC 7386 merge patch from `before` to `after`: every field of `after`,
// and null for each field `before` had that `after` no longer has.
std::string statusMergePatch(const PackerBuilderStatus& before, const PackerBuilderStatus& after);

}  // namespace opsy::packer_builder
