#include "packer-builder-controller/decide.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "opsy/core/time_format.h"
#include "unit/packer_builder/decision_actions.h"

namespace opsy::packer_builder {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

const TimePoint kNow = *parseRfc3339("2026-11-21T06:00:00Z");

constexpr const char* kSpecWithFilters = R"({
  "amiFilters":[{"name":"name","values":["amazon-eks-node-al2023-*"]}],
  "clusterName":"opsy","region":"us-west-2",
  "timeOuts":{"expiresIn":"48h","controllerTimer":"5m"},
  "notifier":{"slack":{"channelIDs":["C1"],"secret":"slack"}},
  "builder":{"repoURL":"https://example.com/r.git","branch":"main","image":"hashicorp/packer:1.11",
             "dir":"al2023","secret":"aws-creds",
             "commands":[{"subCommand":"build","debug":true,"onError":"cleanup"}]}})";

constexpr const char* kSpecNoFilters = R"({
  "clusterName":"opsy","region":"us-west-2","maxFailedJobs":2,
  "timeOuts":{"expiresIn":"48h","controllerTimer":"5m"},
  "builder":{"repoURL":"https://example.com/r.git","image":"hashicorp/packer:1.11"}})";

struct BuilderOpts {
  const char* spec = kSpecWithFilters;
  std::string status = "{}";
  int generation = 1;
  bool finalizer = true;
  bool deleting = false;
};

kube::Object builder(const BuilderOpts& o) {
  std::string meta = fmt::format(
      R"({{"name":"pb","namespace":"ci","uid":"uid-1","generation":{}{}{}}})", o.generation,
      o.finalizer ? R"(,"finalizers":["ami.refresh.ops/packer-builder"])" : "",
      o.deleting ? R"(,"deletionTimestamp":"2026-11-21T05:59:00Z")" : "");
  auto obj = kube::Object::parse(fmt::format(
      R"({{"apiVersion":"ami.refresh.ops/v1alpha1","kind":"PackerBuilder","metadata":{},"spec":{},"status":{}}})",
      meta, o.spec, o.status));
  EXPECT_TRUE(obj.has_value()) << (obj ? "" : obj.error().message);
  return obj ? *obj : kube::Object();
}

enum class JobState { Active, Succeeded, Failed };

kube::Job job(const std::string& name, JobState state,
              std::string completion = "2026-11-21T05:50:00Z",
              std::string failed_message = "BackoffLimitExceeded") {
  std::string status;
  switch (state) {
    case JobState::Active: status = R"({"active":1})"; break;
    case JobState::Succeeded:
      status = fmt::format(
          R"({{"succeeded":1,"completionTime":"{}","conditions":[{{"type":"Complete","status":"True"}}]}})",
          completion);
      break;
    case JobState::Failed:
      status = fmt::format(
          R"({{"failed":1,"conditions":[{{"type":"Failed","status":"True","message":"{}"}}]}})",
          failed_message);
      break;
  }
  auto j = kube::Job::fromJson(fmt::format(
      R"({{"apiVersion":"batch/v1","kind":"Job","metadata":{{"name":"{}","namespace":"ci",)"
      R"("creationTimestamp":"2026-11-21T05:00:00Z","labels":{{"ami.refresh.ops/builder-uid":"uid-1",)"
      R"("ami.refresh.ops/job-id":"j1"}},"annotations":{{"ami.refresh.ops/base-ami":"ami-base2"}}}},)"
      R"("status":{}}})",
      name, status));
  EXPECT_TRUE(j.has_value());
  return *j;
}

aws::Image baseImage(const std::string& id) {
  return aws::Image{.id = id, .state = aws::ImageState::Available, .creation_date = kNow - 240h};
}

aws::Image managedImage(const std::string& id, const std::string& base, TimePoint created,
                        const std::string& status = "active") {
  aws::Image i{.id = id, .state = aws::ImageState::Available, .creation_date = created};
  i.tags = ami::lineageTags({.cluster_name = "opsy",
                             .created_by = "pb",
                             .packer_repo = "https://example.com/r.git",
                             .packer_repo_branch = "main"});
  i.tags["base-ami"] = base;
  i.tags["status"] = status;
  i.tags["create-timestamp"] = formatRfc3339(created);
  return i;
}

template <class T>
std::optional<T> one(const Decision& d) {
  auto v = actionsOf<T>(d);
  EXPECT_LE(v.size(), 1u);
  if (v.empty()) {
    return std::nullopt;
  }
  return v.front();
}

template <class T>
int indexOf(const Decision& d) {
  for (size_t i = 0; i < d.actions.size(); ++i) {
    if (std::holds_alternative<T>(d.actions[i])) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

bool hasEvent(const Decision& d, std::string_view reason, kube::EventType type) {
  for (const RecordEvent& e : actionsOf<RecordEvent>(d)) {
    if (e.reason == reason && e.type == type) {
      return true;
    }
  }
  return false;
}

bool hasNotification(const Decision& d, std::string_view title) {
  for (const Notify& n : actionsOf<Notify>(d)) {
    if (n.notification.title == title) {
      return true;
    }
  }
  return false;
}

const kube::Condition* cond(const PackerBuilderStatus& s, std::string_view type) {
  return kube::findCondition(s.conditions, type);
}

PackerBuilderStatus written(const Decision& d) {
  auto p = one<PatchStatus>(d);
  EXPECT_TRUE(p.has_value()) << "no status write";
  return p ? p->after : PackerBuilderStatus{};
}

// Applies the decision's status write to the builder, as the API server would.
void applyStatus(Observed& o, const Decision& d) {
  if (auto p = one<PatchStatus>(d)) {
    ASSERT_TRUE(o.builder.setJson("/status", statusToJson(p->after)).has_value());
  }
}

std::string statusJson(std::function<void(PackerBuilderStatus&)> edit) {
  PackerBuilderStatus s;
  s.build_id = "uid-1";
  edit(s);
  return statusToJson(s);
}

struct Case {
  const char* name;
  std::function<Observed()> given;
  std::function<void(const Decision&)> expect;
};

class PackerBuilderDecide : public ::testing::TestWithParam<Case> {};

TEST_P(PackerBuilderDecide, Rule) {
  Observed o = GetParam().given();
  Decision d = decide(o, kNow);
  GetParam().expect(d);
}

const std::string kRunningStatus = statusJson([](PackerBuilderStatus& s) {
  s.job_name = "pb-j1";
  s.job_id = "j1";
  s.job_status = "running";
  s.last_run_status = "running";
  s.last_run = kNow - 30min;
  s.last_run_base_image_id = "ami-base2";
  s.failed_job_count = 1;
  s.state = "Building";
});

std::vector<Case> cases() {
  return {
      // A builder without our finalizer gets it before anything else happens.
      {"AddsFinalizerFirst",
       [] {
         return Observed{.builder = builder({.finalizer = false}),
                         .newest_base = baseImage("ami-base2")};
       },
       [](const Decision& d) {
         ASSERT_FALSE(d.actions.empty());
         EXPECT_TRUE(std::holds_alternative<AddFinalizer>(d.actions.front()));
       }},
      // No managed image at all: write status first, then create the Job for the newest base.
      {"NoActiveImageStartsBuildFromNewestBase",
       [] { return Observed{.builder = builder({}), .newest_base = baseImage("ami-base2")}; },
       [](const Decision& d) {
         auto create = one<CreateJob>(d);
         ASSERT_TRUE(create.has_value());
         // The Job first: the status names only a Job the API server accepted.
         EXPECT_GT(indexOf<PatchStatus>(d), indexOf<CreateJob>(d));
         PackerBuilderStatus s = written(d);
         EXPECT_EQ(s.job_status, "running");
         EXPECT_EQ(s.last_run_status, "running");
         EXPECT_EQ(s.last_run_base_image_id, "ami-base2");
         EXPECT_EQ(s.job_name, create->inputs.name);
         EXPECT_EQ(s.job_name, "pb-" + s.job_id);
         EXPECT_EQ(s.last_run, kNow);
         EXPECT_EQ(s.build_id, "uid-1");
         EXPECT_EQ(s.observed_generation, 1);
         EXPECT_EQ(s.state, "Building");
         EXPECT_THAT(s.command, HasSubstr("ami_id=ami-base2"));
         EXPECT_EQ(s.command, create->inputs.plan.display);
         EXPECT_EQ(cond(s, "Progressing")->status, "True");
         EXPECT_EQ(cond(s, "Ready")->status, "False");
         EXPECT_EQ(create->inputs.labels.at("ami.refresh.ops/builder-uid"), "uid-1");
         EXPECT_EQ(create->inputs.annotations.at("ami.refresh.ops/base-ami"), "ami-base2");
         ASSERT_TRUE(create->inputs.owner.has_value());
         EXPECT_EQ(create->inputs.owner->uid, "uid-1");
         EXPECT_EQ(create->inputs.active_deadline, 2h);
         EXPECT_EQ(create->inputs.credentials_secret, "aws-creds");
         EXPECT_EQ(create->inputs.git_sync.image, "registry.k8s.io/git-sync/git-sync:v4.2.3");
         EXPECT_TRUE(hasEvent(d, "BuildStarted", kube::EventType::Normal));
         EXPECT_TRUE(hasNotification(d, "Build started"));
         EXPECT_EQ(d.requeue_after, std::optional<Duration>(5min));
       }},
      // An active, unexpired image built from the newest base: nothing to build.
      {"EligibleImageFromNewestBaseNeedsNoBuild",
       [] {
         return Observed{.builder = builder({.status = statusJson([](auto& s) {
                                               s.last_run_built_image_id = "ami-built1";
                                             })}),
                         .newest_base = baseImage("ami-base2"),
                         .managed = {managedImage("ami-built1", "ami-base2", kNow - 1h)}};
       },
       [](const Decision& d) {
         EXPECT_FALSE(one<CreateJob>(d).has_value());
         PackerBuilderStatus s = written(d);
         EXPECT_EQ(s.state, "Ready");
         EXPECT_EQ(cond(s, "Ready")->status, "True");
         EXPECT_EQ(cond(s, "Stalled")->status, "False");
         EXPECT_EQ(s.expires_at, std::optional<TimePoint>(kNow + 47h));
         EXPECT_EQ(d.requeue_after, std::optional<Duration>(5min));
       }},
      // The newest base differs from the active image's base-ami: build a new one.
      {"NewBaseImageTriggersBuild",
       [] {
         return Observed{.builder = builder({.status = statusJson([](auto& s) {
                                               s.last_run_built_image_id = "ami-built1";
                                             })}),
                         .newest_base = baseImage("ami-base3"),
                         .managed = {managedImage("ami-built1", "ami-base2", kNow - 1h)}};
       },
       [](const Decision& d) {
         auto create = one<CreateJob>(d);
         ASSERT_TRUE(create.has_value());
         EXPECT_EQ(written(d).last_run_base_image_id, "ami-base3");
         EXPECT_THAT(written(d).last_run_message, HasSubstr("ami-base3"));
       }},
      // Without filters, expiry alone decides: an expired image is rebuilt.
      {"NoFiltersExpiredImageTriggersBuild",
       [] {
         return Observed{
             .builder = builder({.spec = kSpecNoFilters, .status = statusJson([](auto& s) {
                                                           s.last_run_built_image_id = "ami-built1";
                                                         })}),
             .managed = {managedImage("ami-built1", "", kNow - 49h)}};
       },
       [](const Decision& d) {
         auto create = one<CreateJob>(d);
         ASSERT_TRUE(create.has_value());
         EXPECT_THAT(create->inputs.plan.display, ::testing::Not(HasSubstr("ami_id")));
         EXPECT_EQ(written(d).last_run_base_image_id, "");
       }},
      // Without filters an unexpired active image is kept.
      {"NoFiltersUnexpiredImageNeedsNoBuild",
       [] {
         return Observed{
             .builder = builder({.spec = kSpecNoFilters, .status = statusJson([](auto& s) {
                                                           s.last_run_built_image_id = "ami-built1";
                                                         })}),
             .managed = {managedImage("ami-built1", "", kNow - 47h)}};
       },
       [](const Decision& d) {
         EXPECT_FALSE(one<CreateJob>(d).has_value());
         EXPECT_EQ(d.requeue_after, std::optional<Duration>(5min));
       }},
      // Close to expiry, the next look is at the expiry time, not a full timer later.
      {"RequeueAtExpiryWhenSooner",
       [] {
         return Observed{.builder = builder({.spec = kSpecNoFilters}),
                         .managed = {managedImage("ami-built1", "", kNow - 48h + 1min)}};
       },
       [](const Decision& d) { EXPECT_EQ(d.requeue_after, std::optional<Duration>(1min)); }},
      // An empty status adopts the lineage's eligible image: no build, no re-tagging.
      {"EmptyStatusAdoptsEligibleImage",
       [] {
         return Observed{.builder = builder({}),
                         .newest_base = baseImage("ami-base2"),
                         .managed = {managedImage("ami-old", "ami-base2", kNow - 2h)}};
       },
       [](const Decision& d) {
         EXPECT_FALSE(one<CreateJob>(d).has_value());
         EXPECT_FALSE(one<TagImage>(d).has_value());
         PackerBuilderStatus s = written(d);
         EXPECT_EQ(s.last_run_built_image_id, "ami-old");
         EXPECT_EQ(s.last_run_base_image_id, "ami-base2");
         EXPECT_EQ(s.state, "Ready");
         EXPECT_TRUE(hasEvent(d, "ImageAdopted", kube::EventType::Normal));
         EXPECT_TRUE(hasNotification(d, "Image adopted"));
       }},
      // Filters that match nothing: wait, and say so, instead of building blind.
      {"NoBaseImageFoundWaits", [] { return Observed{.builder = builder({})}; },
       [](const Decision& d) {
         EXPECT_FALSE(one<CreateJob>(d).has_value());
         PackerBuilderStatus s = written(d);
         EXPECT_EQ(cond(s, "Ready")->reason, "BaseImageNotFound");
         EXPECT_EQ(s.state, "Pending");
         EXPECT_EQ(d.requeue_after, std::optional<Duration>(5min));
       }},
      // A recorded Job still running: wait for it; nothing new starts.
      {"RunningJobIsNotDuplicated",
       [] {
         Observed o{.builder = builder({.status = kRunningStatus}),
                    .jobs = {job("pb-j1", JobState::Active)},
                    .newest_base = baseImage("ami-base3")};
         applyStatus(o, decide(o, kNow - 1min));
         return o;
       },
       [](const Decision& d) {
         EXPECT_FALSE(one<CreateJob>(d).has_value());
         EXPECT_FALSE(one<PatchStatus>(d).has_value()) << "status already says Building";
         EXPECT_EQ(d.requeue_after, std::optional<Duration>(5min));
       }},
      // A running Job of this builder that status does not know (crash after create) is
      // followed, not duplicated.
      {"UnrecordedRunningJobIsFollowed",
       [] {
         return Observed{.builder = builder({}),
                         .jobs = {job("pb-j1", JobState::Active)},
                         .newest_base = baseImage("ami-base2")};
       },
       [](const Decision& d) {
         EXPECT_FALSE(one<CreateJob>(d).has_value());
         PackerBuilderStatus s = written(d);
         EXPECT_EQ(s.job_name, "pb-j1");
         EXPECT_EQ(s.job_id, "j1");
         EXPECT_EQ(s.job_status, "running");
         EXPECT_EQ(s.last_run_base_image_id, "ami-base2");
       }},
      // Status names a Job that is not there yet (crash between status write and create, or a
      // lagging cache): create it again under the same name.
      {"RecordedJobMissingWithinGraceIsCreatedAgain",
       [] {
         BuilderOpts b;
         b.status = statusJson([](auto& s) {
           s.job_name = "pb-j1";
           s.job_id = "j1";
           s.job_status = "running";
           s.last_run = kNow - 30s;
           s.last_run_base_image_id = "ami-base2";
         });
         return Observed{.builder = builder(b), .newest_base = baseImage("ami-base3")};
       },
       [](const Decision& d) {
         auto create = one<CreateJob>(d);
         ASSERT_TRUE(create.has_value());
         EXPECT_EQ(create->inputs.name, "pb-j1");
         EXPECT_EQ(create->inputs.annotations.at("ami.refresh.ops/base-ami"), "ami-base2");
       }},
      // A recorded Job gone for longer than the grace period counts as a failed build.
      {"RecordedJobVanishedCountsAsFailure",
       [] { return Observed{.builder = builder({.status = kRunningStatus})}; },
       [](const Decision& d) {
         EXPECT_FALSE(one<CreateJob>(d).has_value());
         PackerBuilderStatus s = written(d);
         EXPECT_EQ(s.failed_job_count, 2);
         EXPECT_EQ(s.job_status, "failed");
         EXPECT_THAT(s.last_run_message, HasSubstr("disappeared"));
       }},
      // A finished build: tag the image (create-timestamp = Job completion), tag its snapshots,
      // deprecate the previous active image, record success.
      {"SucceededBuildTagsImageAndDeprecatesPrevious",
       [] {
         aws::Image built{
             .id = "ami-new", .state = aws::ImageState::Available, .snapshot_ids = {"snap-1"}};
         return Observed{.builder = builder({.status = kRunningStatus}),
                         .jobs = {job("pb-j1", JobState::Succeeded)},
                         .newest_base = baseImage("ami-base2"),
                         .managed = {managedImage("ami-old", "ami-base1", kNow - 40h)},
                         .finished = FinishedBuild{
                             .job_name = "pb-j1",
                             .log_read = true,
                             .output = {.artifacts = {{"amazon-ebs.x", "us-west-2", "ami-new"}}},
                             .image = built}};
       },
       [](const Decision& d) {
         auto tag = one<TagImage>(d);
         ASSERT_TRUE(tag.has_value());
         EXPECT_EQ(tag->image_id, "ami-new");
         EXPECT_EQ(tag->tags.at("status"), "active");
         EXPECT_EQ(tag->tags.at("base-ami"), "ami-base2");
         EXPECT_EQ(tag->tags.at("build-id"), "uid-1");
         EXPECT_EQ(tag->tags.at("job-id"), "j1");
         EXPECT_EQ(tag->tags.at("created-by"), "pb");
         EXPECT_EQ(tag->tags.at("create-timestamp"), "2026-11-21T05:50:00Z");
         EXPECT_EQ(tag->snapshot_ids, std::vector<std::string>{"snap-1"});
         EXPECT_EQ(tag->snapshot_tags.count("status"), 0u);
         EXPECT_EQ(tag->snapshot_tags.at("brought-to-you-by"), "opsy-the-ami-operator");
         auto dep = one<DeprecateImages>(d);
         ASSERT_TRUE(dep.has_value());
         EXPECT_EQ(dep->image_ids, std::vector<std::string>{"ami-old"});
         EXPECT_LT(indexOf<TagImage>(d), indexOf<PatchStatus>(d));
         PackerBuilderStatus s = written(d);
         EXPECT_EQ(s.job_status, "completed");
         EXPECT_EQ(s.last_run_status, "completed");
         EXPECT_EQ(s.last_run_built_image_id, "ami-new");
         EXPECT_EQ(s.failed_job_count, 0);
         EXPECT_EQ(s.state, "Ready");
         EXPECT_EQ(cond(s, "Ready")->status, "True");
         EXPECT_EQ(s.expires_at, *parseRfc3339("2026-11-21T05:50:00Z") + 48h);
         EXPECT_TRUE(hasEvent(d, "BuildSucceeded", kube::EventType::Normal));
         EXPECT_TRUE(hasEvent(d, "ImageDeprecated", kube::EventType::Normal));
         EXPECT_TRUE(hasNotification(d, "Build succeeded"));
       }},
      // The built image is still pending in EC2: poll, do not tag or record yet.
      {"PendingImageIsAwaited",
       [] {
         return Observed{
             .builder = builder({.status = kRunningStatus}),
             .jobs = {job("pb-j1", JobState::Succeeded)},
             .finished = FinishedBuild{
                 .job_name = "pb-j1",
                 .log_read = true,
                 .output = {.artifacts = {{"amazon-ebs.x", "us-west-2", "ami-new"}}},
                 .image = aws::Image{.id = "ami-new", .state = aws::ImageState::Pending}}};
       },
       [](const Decision& d) {
         EXPECT_FALSE(one<TagImage>(d).has_value());
         EXPECT_EQ(written(d).job_status, "running");
         EXPECT_EQ(d.requeue_after, std::optional<Duration>(kImagePendingPoll));
       }},
      // A successful Job whose output names no AMI is a failed build.
      {"SucceededJobWithoutImageIsFailure",
       [] {
         return Observed{.builder = builder({.status = kRunningStatus}),
                         .jobs = {job("pb-j1", JobState::Succeeded)},
                         .finished = FinishedBuild{.job_name = "pb-j1", .log_read = true}};
       },
       [](const Decision& d) {
         EXPECT_FALSE(one<TagImage>(d).has_value());
         EXPECT_EQ(written(d).job_status, "failed");
         EXPECT_THAT(written(d).last_run_message, HasSubstr("names no AMI"));
       }},
      // A failed build counts, keeps what Packer left behind for clean-up, and warns.
      {"FailedBuildCountsAndKeepsTemporaries",
       [] {
         return Observed{
             .builder = builder({.status = statusJson([](auto& s) {
                                   s.job_name = "pb-j1";
                                   s.job_status = "running";
                                   s.last_run = kNow - 30min;
                                 })}),
             .jobs = {job("pb-j1", JobState::Failed)},
             .finished = FinishedBuild{.job_name = "pb-j1",
                                       .log_read = true,
                                       .output = {.temporary_key_pairs = {"packer_abc"},
                                                  .temporary_security_groups = {"packer_sg"},
                                                  .last_error = "Build 'x' errored: timeout"}}};
       },
       [](const Decision& d) {
         EXPECT_FALSE(one<CreateJob>(d).has_value());
         PackerBuilderStatus s = written(d);
         EXPECT_EQ(s.failed_job_count, 1);
         EXPECT_EQ(s.job_status, "failed");
         EXPECT_EQ(s.last_run_status, "failed");
         EXPECT_EQ(s.state, "Failed");
         EXPECT_THAT(s.last_run_message, HasSubstr("timeout"));
         EXPECT_EQ(s.last_run_key_pair, "packer_abc");
         EXPECT_EQ(s.last_run_security_group_id, "packer_sg");
         EXPECT_TRUE(hasEvent(d, "BuildFailed", kube::EventType::Warning));
         EXPECT_TRUE(hasNotification(d, "Build failed"));
         EXPECT_EQ(d.requeue_after, std::optional<Duration>(1s));
       }},
      // Recorded temporaries are deleted before anything else, then cleared from status.
      {"TemporariesAreCleanedUp",
       [] {
         return Observed{.builder = builder({.status = statusJson([](auto& s) {
                                               s.job_name = "pb-j1";
                                               s.job_status = "failed";
                                               s.failed_job_count = 1;
                                               s.last_run_key_pair = "packer_abc";
                                               s.last_run_security_group_id = "sg-1,packer_sg";
                                             })}),
                         .jobs = {job("pb-j1", JobState::Failed)},
                         .newest_base = baseImage("ami-base2")};
       },
       [](const Decision& d) {
         auto cleanup = one<CleanupTemporaries>(d);
         ASSERT_TRUE(cleanup.has_value());
         EXPECT_EQ(cleanup->key_pairs, std::vector<std::string>{"packer_abc"});
         EXPECT_EQ(cleanup->security_groups, (std::vector<std::string>{"sg-1", "packer_sg"}));
         EXPECT_LT(indexOf<CleanupTemporaries>(d), indexOf<PatchStatus>(d));
         PackerBuilderStatus s = written(d);
         EXPECT_EQ(s.last_run_key_pair, "");
         EXPECT_EQ(s.last_run_security_group_id, "");
         EXPECT_TRUE(one<CreateJob>(d).has_value()) << "a retry follows the clean-up";
       }},
      // The failure that reaches spec.maxFailedJobs stalls the builder, naming the last error.
      {"MaxFailedJobsStalls",
       [] {
         return Observed{.builder = builder({.spec = kSpecNoFilters, .status = kRunningStatus}),
                         .jobs = {job("pb-j1", JobState::Failed, "", "DeadlineExceeded")}};
       },
       [](const Decision& d) {
         PackerBuilderStatus s = written(d);
         EXPECT_EQ(s.failed_job_count, 2);
         EXPECT_EQ(s.state, "Stalled");
         EXPECT_EQ(cond(s, "Stalled")->status, "True");
         EXPECT_EQ(cond(s, "Stalled")->reason, "TooManyFailures");
         EXPECT_THAT(cond(s, "Stalled")->message, HasSubstr("DeadlineExceeded"));
         EXPECT_TRUE(hasEvent(d, "Stalled", kube::EventType::Warning));
         EXPECT_FALSE(d.requeue_after.has_value());
       }},
      // A stalled builder stays stalled, silently, while its spec is unchanged.
      {"StalledStaysUntilSpecChanges",
       [] {
         Observed o{.builder = builder({.spec = kSpecNoFilters, .status = kRunningStatus}),
                    .jobs = {job("pb-j1", JobState::Failed)}};
         applyStatus(o, decide(o, kNow - 1min));
         return o;
       },
       [](const Decision& d) {
         EXPECT_FALSE(one<CreateJob>(d).has_value());
         EXPECT_FALSE(one<PatchStatus>(d).has_value());
         EXPECT_TRUE(actionsOf<RecordEvent>(d).empty());
         EXPECT_FALSE(d.requeue_after.has_value());
       }},
      // A spec change (generation moves) resets the failure count and builds again.
      {"SpecChangeResetsFailedJobCount",
       [] {
         Observed o{.builder = builder({.spec = kSpecNoFilters, .status = kRunningStatus}),
                    .jobs = {job("pb-j1", JobState::Failed)}};
         applyStatus(o, decide(o, kNow - 1min));
         o.builder.metadata.generation = 2;
         return o;
       },
       [](const Decision& d) {
         ASSERT_TRUE(one<CreateJob>(d).has_value());
         PackerBuilderStatus s = written(d);
         EXPECT_EQ(s.failed_job_count, 0);
         EXPECT_EQ(cond(s, "Stalled")->status, "False");
         EXPECT_EQ(s.observed_generation, 2);
       }},
      // A bad duration stalls with the field named, and waits for a spec change.
      {"InvalidDurationStallsNamingField",
       [] {
         return Observed{.builder = builder({.spec = R"({"timeOuts":{"expiresIn":"2 days"},
                                 "builder":{"repoURL":"r","image":"i"}})"})};
       },
       [](const Decision& d) {
         EXPECT_FALSE(one<CreateJob>(d).has_value());
         PackerBuilderStatus s = written(d);
         EXPECT_EQ(cond(s, "Stalled")->reason, "InvalidSpec");
         EXPECT_THAT(cond(s, "Stalled")->message, HasSubstr("spec.timeOuts.expiresIn"));
         EXPECT_TRUE(hasEvent(d, "Stalled", kube::EventType::Warning));
         EXPECT_FALSE(d.requeue_after.has_value());
       }},
      // A bad command stalls with the field named instead of failing Jobs.
      {"InvalidCommandStallsNamingField",
       [] {
         return Observed{.builder = builder({.spec = R"({"builder":{"repoURL":"r","image":"i",
                                 "commands":[{"subCommand":"build","args":["-debug"]}]}})"})};
       },
       [](const Decision& d) {
         EXPECT_FALSE(one<CreateJob>(d).has_value());
         EXPECT_THAT(cond(written(d), "Stalled")->message,
                     HasSubstr("spec.builder.commands[0].args[0]"));
       }},
      // Deleting the builder stops its running build and releases the finalizer; images stay.
      {"DeletionStopsRunningJobAndReleasesFinalizer",
       [] {
         return Observed{.builder = builder({.status = kRunningStatus, .deleting = true}),
                         .jobs = {job("pb-j1", JobState::Active), job("pb-j0", JobState::Failed)},
                         .managed = {managedImage("ami-old", "ami-base1", kNow - 1h)}};
       },
       [](const Decision& d) {
         ASSERT_EQ(d.actions.size(), 2u);
         auto del = one<DeleteJob>(d);
         ASSERT_TRUE(del.has_value());
         EXPECT_EQ(del->name, "pb-j1");
         EXPECT_TRUE(std::holds_alternative<RemoveFinalizer>(d.actions.back()));
       }},
      // Without a notifier in the spec, no notifications are produced.
      {"NoNotifierNoNotifications",
       [] { return Observed{.builder = builder({.spec = kSpecNoFilters})}; },
       [](const Decision& d) {
         EXPECT_TRUE(one<CreateJob>(d).has_value());
         EXPECT_TRUE(actionsOf<Notify>(d).empty());
       }},
      // Right after success, EC2 may not list the new image's tags yet: wait, do not rebuild.
      {"JustBuiltImageNotYetListedDoesNotRebuild",
       [] {
         return Observed{.builder = builder({.status = statusJson([](auto& s) {
                                               s.observed_generation = 1;
                                               s.job_name = "pb-j1";
                                               s.job_status = "completed";
                                               s.last_run_built_image_id = "ami-new";
                                             })}),
                         .jobs = {job("pb-j1", JobState::Succeeded, "2026-11-21T05:59:00Z")},
                         .newest_base = baseImage("ami-base2")};
       },
       [](const Decision& d) {
         EXPECT_FALSE(one<CreateJob>(d).has_value());
         EXPECT_TRUE(d.requeue_after.has_value());
       }},
      // After a spec edit (a new branch is a new lineage) the just-built image is not waited for:
      // the edit is acted on in the reconcile it triggers.
      {"SpecEditRightAfterABuildActsAtOnce",
       [] {
         return Observed{.builder = builder({.status = statusJson([](auto& s) {
                                               s.observed_generation = 1;
                                               s.job_name = "pb-j1";
                                               s.job_status = "completed";
                                               s.last_run_built_image_id = "ami-new";
                                             }),
                                             .generation = 2}),
                         .jobs = {job("pb-j1", JobState::Succeeded, "2026-11-21T05:59:00Z")},
                         .newest_base = baseImage("ami-base2")};
       },
       [](const Decision& d) {
         EXPECT_TRUE(one<CreateJob>(d).has_value());
         EXPECT_EQ(written(d).observed_generation, 2);
       }},
  };
}

INSTANTIATE_TEST_SUITE_P(Rules, PackerBuilderDecide, ::testing::ValuesIn(cases()),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

// A reconcile that changes nothing writes nothing: deciding again on the written status is quiet.
// A Job the cluster refused is tried again controllerTimer after the refusal, not on the watch
// event of the status write that recorded it.
TEST(PackerBuilderDecideRejectedJob, RetriesOnlyAfterControllerTimer) {
  auto status = [](Duration ago) {
    return fmt::format(
        R"({{"buildID":"uid-1","observedGeneration":1,"lastRunStatus":"failed",)"
        R"("failedJobCount":1,"lastRun":"{}","conditions":[{{"type":"Ready","status":"False",)"
        R"("reason":"JobRejected","message":"the API server refused Job pb-x",)"
        R"("lastTransitionTime":"{}","observedGeneration":1}}]}})",
        formatRfc3339(kNow - ago), formatRfc3339(kNow - ago));
  };
  Observed soon{.builder = builder({.status = status(10s)}), .newest_base = baseImage("ami-base2")};
  Decision d = decide(soon, kNow);
  EXPECT_FALSE(one<CreateJob>(d).has_value());
  ASSERT_TRUE(d.requeue_after.has_value());
  EXPECT_EQ(*d.requeue_after, 5min - 10s);

  Observed later{.builder = builder({.status = status(5min)}),
                 .newest_base = baseImage("ami-base2")};
  EXPECT_TRUE(one<CreateJob>(decide(later, kNow)).has_value());
}

TEST(PackerBuilderDecideQuiet, NothingChangedWritesNothing) {
  Observed o{.builder = builder({}),
             .newest_base = baseImage("ami-base2"),
             .managed = {managedImage("ami-built1", "ami-base2", kNow - 1h)}};
  Decision first = decide(o, kNow);
  applyStatus(o, first);
  Decision second = decide(o, kNow + 1min);
  EXPECT_TRUE(second.actions.empty());
  EXPECT_TRUE(second.requeue_after.has_value());
}

// The refreshers that follow the builder are listed in status, sorted and capped with a count;
// an unchanged list writes nothing more.
TEST(PackerBuilderDecideFollowers, FollowersAreListedCappedAndWrittenOnlyWhenChanged) {
  Observed o{.builder = builder({}),
             .newest_base = baseImage("ami-base2"),
             .managed = {managedImage("ami-built1", "ami-base2", kNow - 1h)}};
  applyStatus(o, decide(o, kNow));
  std::vector<std::string> many;
  for (int i = 0; i < 60; ++i) {
    many.push_back(fmt::format("ops/r{:02}", i));
  }
  o.followers = many;
  Decision listed = decide(o, kNow + 1min);
  auto p = one<PatchStatus>(listed);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->after.follower_count, 60);
  ASSERT_EQ(p->after.followers.size(), kMaxFollowersShown);
  EXPECT_EQ(p->after.followers.front(), "ops/r00");
  EXPECT_EQ(p->after.followers.back(), "ops/r49");
  applyStatus(o, listed);
  EXPECT_FALSE(one<PatchStatus>(decide(o, kNow + 2min)).has_value()) << "unchanged: no write";
  o.followers = std::vector<std::string>{};
  auto none = one<PatchStatus>(decide(o, kNow + 3min));
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->after.followers.empty());
  EXPECT_EQ(none->after.follower_count, 0);
  EXPECT_NE(statusMergePatch(none->before, none->after).find(R"("followers":null)"),
            std::string::npos);
}

// The same observations give the same Job name (so a retried create is idempotent), and the name
// changes once a build has been recorded.
TEST(PackerBuilderDecideQuiet, JobNameIsDeterministic) {
  Observed o{.builder = builder({}), .newest_base = baseImage("ami-base2")};
  auto a = one<CreateJob>(decide(o, kNow));
  auto b = one<CreateJob>(decide(o, kNow + 10s));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->inputs.name, b->inputs.name);
  EXPECT_LE(a->inputs.name.size(), 63u);
  PackerBuilderStatus failed;
  failed.failed_job_count = 1;
  EXPECT_NE(nextJobId(o.builder, failed, "ami-base2"),
            nextJobId(o.builder, PackerBuilderStatus{}, "ami-base2"));
}

// A builder whose status records a running Job and which is then restarted from scratch (only
// status and the Job survive) reaches the same decision: the Job is followed, not recreated.
TEST(PackerBuilderDecideQuiet, RestartMidBuildResumes) {
  Observed o{.builder = builder({}), .newest_base = baseImage("ami-base2")};
  Decision start = decide(o, kNow);
  auto create = one<CreateJob>(start);
  ASSERT_TRUE(create.has_value());
  applyStatus(o, start);
  kube::Job running = job(create->inputs.name, JobState::Active);
  o.jobs = {running};
  Decision later = decide(o, kNow + 20min);
  EXPECT_FALSE(one<CreateJob>(later).has_value());
  EXPECT_FALSE(one<PatchStatus>(later).has_value());
}

Error deniedDescribeImages() {
  Error e(ErrorCode::PermissionDenied, "ec2 DescribeImages: You are not authorized");
  e.action = "ec2:DescribeImages";
  e.provider_code = "UnauthorizedOperation";
  return e;
}

// An expiresIn that reads like months written as minutes gets one Warning Event (on the spec
// change) and a note on Ready; the value is still used as written.
TEST(PackerBuilderDecideQuiet, MinutesExpiryIsCalledOut) {
  const std::string spec = std::string(kSpecWithFilters);
  std::string edited = spec;
  edited.replace(edited.find(R"("expiresIn":"48h")"), 17, R"("expiresIn":"6m")");
  Observed o{.builder = builder({.spec = edited.c_str()}), .newest_base = baseImage("ami-base2")};
  Decision d = decide(o, kNow);
  EXPECT_TRUE(hasEvent(d, "ExpiresInMinutes", kube::EventType::Warning));
  EXPECT_THAT(cond(written(d), "Ready")->message, HasSubstr("m means minutes"));
  applyStatus(o, d);
  EXPECT_FALSE(hasEvent(decide(o, kNow + 1s), "ExpiresInMinutes", kube::EventType::Warning));
}

// Fields of the original operator (builder.debug, builder.imageType) are accepted, ignored, and
// named in one Warning Event each when the spec changes, never again while it does not.
TEST(PackerBuilderDecideQuiet, OriginalOperatorFieldsAreAcceptedWithADeprecationEvent) {
  std::string spec = kSpecWithFilters;
  spec.replace(spec.find(R"("dir":"al2023",)"), 15,
               R"("dir":"al2023","debug":true,"imageType":"ami",)");
  Observed o{.builder = builder({.spec = spec.c_str()}), .newest_base = baseImage("ami-base2")};
  Decision d = decide(o, kNow);
  EXPECT_TRUE(one<CreateJob>(d).has_value()) << "the spec is usable";
  const auto events = actionsOf<RecordEvent>(d);
  EXPECT_EQ(std::count_if(events.begin(), events.end(),
                          [](const RecordEvent& e) { return e.reason == "DeprecatedField"; }),
            2);
  applyStatus(o, d);
  EXPECT_FALSE(hasEvent(decide(o, kNow + 1s), "DeprecatedField", kube::EventType::Warning));
}

// A read that failed is shown on the builder at once (Ready=False with the failure's reason,
// Stalled), with one Warning Event; it is looked at again after controllerTimer, and no Job is
// started or followed on the strength of a partial observation.
TEST(PackerBuilderDecideFailures, DeniedLookupIsShownOnceAndRetriedAtTheTimer) {
  Observed o{.builder = builder({}), .failure = deniedDescribeImages()};
  Decision d = decide(o, kNow);
  PackerBuilderStatus s = written(d);
  const kube::Condition* ready = cond(s, "Ready");
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ(ready->status, "False");
  EXPECT_EQ(ready->reason, "AWSAccessDenied");
  EXPECT_NE(ready->message.find("ec2:DescribeImages"), std::string::npos);
  EXPECT_EQ(cond(s, "Stalled")->status, "True");
  EXPECT_TRUE(hasEvent(d, "AWSAccessDenied", kube::EventType::Warning));
  EXPECT_FALSE(one<CreateJob>(d).has_value());
  EXPECT_FALSE(d.retry.has_value());
  EXPECT_EQ(d.requeue_after, std::optional<Duration>(5min));
  ASSERT_TRUE(d.failure.has_value());
  EXPECT_EQ(d.failure->reason, "AWSAccessDenied");

  applyStatus(o, d);
  Decision again = decide(o, kNow + 5min);
  EXPECT_FALSE(one<PatchStatus>(again).has_value()) << "nothing new to write";
  EXPECT_FALSE(hasEvent(again, "AWSAccessDenied", kube::EventType::Warning));
}

// A throttled read retries with backoff (the decision carries the error) and shows as
// Progressing; Ready turns False only if it happens again.
TEST(PackerBuilderDecideFailures, ThrottledLookupRetriesWithBackoff) {
  Error throttled(ErrorCode::Throttled, "Request limit exceeded.");
  throttled.action = "ec2:DescribeImages";
  Observed o{.builder = builder({}), .failure = throttled};
  Decision d = decide(o, kNow);
  ASSERT_TRUE(d.retry.has_value());
  EXPECT_EQ(d.retry->code, ErrorCode::Throttled);
  PackerBuilderStatus s = written(d);
  EXPECT_EQ(cond(s, "Progressing")->reason, "AWSUnavailable");
  EXPECT_EQ(cond(s, "Ready"), nullptr);
  EXPECT_FALSE(hasEvent(d, "AWSUnavailable", kube::EventType::Warning));

  applyStatus(o, d);
  Decision again = decide(o, kNow + 1s);
  EXPECT_EQ(cond(written(again), "Ready")->reason, "AWSUnavailable");
  EXPECT_TRUE(hasEvent(again, "AWSUnavailable", kube::EventType::Warning));
}

// The admin's build policy: an image it does not allow stalls the builder with PolicyDenied,
// naming the field and the rule, and no Job is made.
TEST(PackerBuilderDecidePolicy, DisallowedPackerImageStallsWithoutAJob) {
  packer::BuildPolicy policy{.packer_images = {"registry.example.com/packer:*"}};
  Observed o{.builder = builder({}), .newest_base = baseImage("ami-base2"), .policy = &policy};
  Decision d = decide(o, kNow);
  EXPECT_FALSE(one<CreateJob>(d).has_value());
  PackerBuilderStatus s = written(d);
  EXPECT_EQ(s.state, "Stalled");
  const kube::Condition* stalled = cond(s, "Stalled");
  ASSERT_NE(stalled, nullptr);
  EXPECT_EQ(stalled->status, "True");
  EXPECT_EQ(stalled->reason, "PolicyDenied");
  EXPECT_THAT(stalled->message, HasSubstr("spec.builder.image hashicorp/packer:1.11"));
  EXPECT_THAT(stalled->message,
              HasSubstr("--allowed-packer-images is registry.example.com/packer:*"));
  EXPECT_TRUE(hasEvent(d, "Stalled", kube::EventType::Warning));
  EXPECT_EQ(d.requeue_after, std::nullopt) << "an image rule is fixed by an edit or a restart";

  applyStatus(o, d);
  EXPECT_FALSE(one<PatchStatus>(decide(o, kNow + 1min)).has_value()) << "said once";
}

TEST(PackerBuilderDecidePolicy, DisallowedGitSyncImageStalls) {
  packer::BuildPolicy policy{.git_sync_images = {"registry.example.com/git-sync:*"}};
  Observed o{.builder = builder({}), .newest_base = baseImage("ami-base2"), .policy = &policy};
  Decision d = decide(o, kNow);
  EXPECT_FALSE(one<CreateJob>(d).has_value());
  const PackerBuilderStatus s = written(d);
  EXPECT_THAT(cond(s, "Stalled")->message,
              HasSubstr("spec.gitSync.image registry.k8s.io/git-sync/git-sync:v4.2.3"));
}

// A ServiceAccount the flags do not list is checked once it is read (before a build): without
// the admin's label it stalls, looked at again each controllerTimer since a label is not an edit.
TEST(PackerBuilderDecidePolicy, UnlistedUnlabelledServiceAccountStallsUntilLabelled) {
  packer::BuildPolicy policy{.service_accounts = {"ci/packer"}};
  Observed o{.builder = builder({}), .newest_base = baseImage("ami-base2"), .policy = &policy};
  // Not read yet: the decision wants a Job (the reconciler then reads the ServiceAccount).
  EXPECT_TRUE(one<CreateJob>(decide(o, kNow)).has_value());

  o.service_account = Observed::ServiceAccount{.exists = true, .labelled = false};
  Decision d = decide(o, kNow);
  EXPECT_FALSE(one<CreateJob>(d).has_value());
  const PackerBuilderStatus s = written(d);
  const kube::Condition* stalled = cond(s, "Stalled");
  ASSERT_NE(stalled, nullptr);
  EXPECT_EQ(stalled->reason, "PolicyDenied");
  EXPECT_THAT(stalled->message, HasSubstr("spec.builder.jobServiceAccountName (empty: default)"));
  EXPECT_THAT(stalled->message, HasSubstr("ServiceAccount ci/default"));
  EXPECT_THAT(stalled->message, HasSubstr("ami.refresh.ops/packer-build=true"));
  EXPECT_EQ(d.requeue_after, std::optional<Duration>(5min));

  o.service_account = Observed::ServiceAccount{.exists = true, .labelled = true};
  EXPECT_TRUE(one<CreateJob>(decide(o, kNow)).has_value());
}

TEST(PackerBuilderDecidePolicy, ListedServiceAccountBuildsWithoutALookup) {
  packer::BuildPolicy policy{.service_accounts = {"*/default"}};
  Observed o{.builder = builder({}), .newest_base = baseImage("ami-base2"), .policy = &policy};
  o.service_account = Observed::ServiceAccount{.exists = false};  // ignored: the list decides
  EXPECT_TRUE(one<CreateJob>(decide(o, kNow)).has_value());
}

}  // namespace
}  // namespace opsy::packer_builder
