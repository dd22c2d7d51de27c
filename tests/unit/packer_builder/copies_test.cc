// Images in several regions (issue 17): a build whose artifact names `region:ami` pairs has one
// image per region; every copy is tagged in its own region, listed in status.copies, and the
// lineage's other active images are deprecated region by region.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "opsy/core/time_format.h"
#include "packer-builder-controller/decide.h"

namespace opsy::packer_builder {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

const TimePoint kNow = *parseRfc3339("2026-11-21T06:00:00Z");

constexpr const char* kSpec = R"({
  "clusterName":"opsy","region":"us-west-2",
  "timeOuts":{"expiresIn":"48h","controllerTimer":"5m"},
  "builder":{"repoURL":"https://example.com/r.git","image":"hashicorp/packer:1.11"}})";

constexpr const char* kSpecWithRetention = R"({
  "clusterName":"opsy","region":"us-west-2",
  "timeOuts":{"expiresIn":"48h","controllerTimer":"5m"},
  "retention":{"keepLast":1},
  "builder":{"repoURL":"https://example.com/r.git","image":"hashicorp/packer:1.11"}})";

kube::Object builder(const PackerBuilderStatus& status, const char* spec = kSpec) {
  auto obj = kube::Object::parse(fmt::format(
      R"({{"apiVersion":"ami.refresh.ops/v1alpha1","kind":"PackerBuilder","metadata":{{"name":"pb",)"
      R"("namespace":"ci","uid":"uid-1","generation":1,"finalizers":["ami.refresh.ops/packer-builder"]}},)"
      R"("spec":{},"status":{}}})",
      spec, statusToJson(status)));
  EXPECT_TRUE(obj.has_value());
  return obj ? *obj : kube::Object();
}

kube::Job succeeded(const std::string& completion = "2026-11-21T05:50:00Z") {
  auto j = kube::Job::fromJson(fmt::format(
      R"({{"apiVersion":"batch/v1","kind":"Job","metadata":{{"name":"pb-j1","namespace":"ci",)"
      R"("creationTimestamp":"2026-11-21T05:00:00Z","labels":{{"ami.refresh.ops/builder-uid":"uid-1",)"
      R"("ami.refresh.ops/job-id":"j1"}}}},"status":{{"succeeded":1,"completionTime":"{}",)"
      R"("conditions":[{{"type":"Complete","status":"True"}}]}}}})",
      completion));
  EXPECT_TRUE(j.has_value());
  return *j;
}

PackerBuilderStatus running() {
  PackerBuilderStatus s;
  s.build_id = "uid-1";
  s.observed_generation = 1;
  s.job_name = "pb-j1";
  s.job_id = "j1";
  s.job_status = "running";
  s.last_run_status = "running";
  s.last_run = kNow - 30min;
  s.state = "Building";
  return s;
}

aws::Image available(const std::string& id, std::vector<std::string> snapshots = {}) {
  return aws::Image{
      .id = id, .state = aws::ImageState::Available, .snapshot_ids = std::move(snapshots)};
}

aws::Image managed(const std::string& id, const std::string& status, TimePoint created) {
  aws::Image i{.id = id, .state = aws::ImageState::Available, .creation_date = created};
  i.tags = ami::lineageTags({.cluster_name = "opsy",
                             .created_by = "pb",
                             .packer_repo = "https://example.com/r.git",
                             .packer_repo_branch = "main"});
  i.tags["status"] = status;
  i.tags["create-timestamp"] = formatRfc3339(created);
  return i;
}

// Packer's artifact: the image in us-west-2 and its copies, as parseBuildOutput reads them.
packer::BuildOutput twoRegions() {
  return {.artifacts = {{"amazon-ebs.x", "eu-west-1", "ami-eu"},
                        {"amazon-ebs.x", "us-west-2", "ami-us"}}};
}

Observed finishedWithCopies(std::map<std::string, aws::Image> copy_images) {
  // Finished a minute ago: within the grace for images EC2 does not show yet.
  return Observed{.builder = builder(running()),
                  .jobs = {succeeded("2026-11-21T05:59:00Z")},
                  .managed = {managed("ami-us-old", "active", kNow - 40h)},
                  .managed_in = {{"eu-west-1", {managed("ami-eu-old", "active", kNow - 40h)}}},
                  .finished = FinishedBuild{.job_name = "pb-j1",
                                            .log_read = true,
                                            .output = twoRegions(),
                                            .image = available("ami-us", {"snap-us"}),
                                            .copy_images = std::move(copy_images)}};
}

template <class T>
std::vector<T> all(const Decision& d) {
  std::vector<T> out;
  for (const Action& a : d.actions) {
    if (const T* t = std::get_if<T>(&a)) {
      out.push_back(*t);
    }
  }
  return out;
}

PackerBuilderStatus written(const Decision& d) {
  auto patches = all<PatchStatus>(d);
  EXPECT_EQ(patches.size(), 1u);
  return patches.empty() ? PackerBuilderStatus{} : patches.front().after;
}

// The primary is the artifact in spec.region; every other region's artifact is a copy, sorted
// by region, one per region.
TEST(PackerBuilderCopies, CopiesAreTheArtifactsOfOtherRegions) {
  packer::BuildOutput out{.artifacts = {{"b", "us-west-2", "ami-us"},
                                        {"b", "eu-west-1", "ami-eu"},
                                        {"b", "ap-south-1", "ami-ap"},
                                        {"b", "eu-west-1", "ami-eu-again"}}};
  std::vector<ImageCopy> copies = buildCopies(out, "us-west-2");
  EXPECT_THAT(copies,
              ElementsAre(ImageCopy{"ap-south-1", "ami-ap"}, ImageCopy{"eu-west-1", "ami-eu"}));
  // A spec.region Packer did not build in: the first artifact is the image, the rest copies.
  EXPECT_THAT(buildCopies(out, "ca-central-1"),
              ElementsAre(ImageCopy{"ap-south-1", "ami-ap"}, ImageCopy{"eu-west-1", "ami-eu"}));
  EXPECT_TRUE(buildCopies({.artifacts = {{"b", "us-west-2", "ami-us"}}}, "us-west-2").empty());
  EXPECT_TRUE(buildCopies({}, "us-west-2").empty());
}

// Each copy gets the primary's full tag set in its own region, its snapshots the lineage tags;
// the lineage's other active images are deprecated in each region; status.copies lists them.
TEST(PackerBuilderCopies, SuccessTagsEveryCopyInItsRegionAndDeprecatesPerRegion) {
  Decision d = decide(finishedWithCopies({{"eu-west-1", available("ami-eu", {"snap-eu"})}}), kNow);
  std::vector<TagImage> tags = all<TagImage>(d);
  ASSERT_EQ(tags.size(), 2u);
  EXPECT_EQ(tags[0].image_id, "ami-us");
  EXPECT_EQ(tags[0].region, "");
  EXPECT_EQ(tags[1].image_id, "ami-eu");
  EXPECT_EQ(tags[1].region, "eu-west-1");
  EXPECT_EQ(tags[1].tags, tags[0].tags);
  EXPECT_EQ(tags[1].tags.at("status"), "active");
  EXPECT_EQ(tags[1].snapshot_ids, std::vector<std::string>{"snap-eu"});
  EXPECT_EQ(tags[1].snapshot_tags, tags[0].snapshot_tags);

  std::vector<DeprecateImages> deprecations = all<DeprecateImages>(d);
  ASSERT_EQ(deprecations.size(), 2u);
  EXPECT_EQ(deprecations[0].region, "");
  EXPECT_EQ(deprecations[0].image_ids, std::vector<std::string>{"ami-us-old"});
  EXPECT_EQ(deprecations[1].region, "eu-west-1");
  EXPECT_EQ(deprecations[1].image_ids, std::vector<std::string>{"ami-eu-old"});
  // Without spec.retention, EC2's own deprecation time is not set in any region.
  EXPECT_TRUE(all<SetDeprecationTime>(d).empty());

  PackerBuilderStatus s = written(d);
  EXPECT_EQ(s.last_run_built_image_id, "ami-us");
  EXPECT_THAT(s.copies, ElementsAre(ImageCopy{"eu-west-1", "ami-eu"}));
  EXPECT_THAT(s.last_run_message, HasSubstr("ami-eu in eu-west-1"));
  EXPECT_EQ(s.state, "Ready");
}

// A build that no longer copies to a region the last one did: the lineage's active image there
// is deprecated (the region was read because status.copies still named it).
TEST(PackerBuilderCopies, RegionNoLongerCopiedToHasItsActiveImageDeprecated) {
  PackerBuilderStatus s = running();
  s.copies = {{"ap-south-1", "ami-ap-old"}};
  Observed o = finishedWithCopies({{"eu-west-1", available("ami-eu")}});
  o.builder = builder(s);
  o.managed_in["ap-south-1"] = {managed("ami-ap-old", "active", kNow - 40h)};
  Decision d = decide(o, kNow);
  std::vector<DeprecateImages> deprecations = all<DeprecateImages>(d);
  ASSERT_EQ(deprecations.size(), 3u);
  EXPECT_EQ(deprecations[2].region, "ap-south-1");
  EXPECT_EQ(deprecations[2].image_ids, std::vector<std::string>{"ami-ap-old"});
  EXPECT_THAT(written(d).copies, ElementsAre(ImageCopy{"eu-west-1", "ami-eu"}));
}

// A copy EC2 in its region does not show yet is waited for; nothing is tagged anywhere.
TEST(PackerBuilderCopies, CopyNotVisibleYetIsAwaited) {
  Decision d = decide(finishedWithCopies({}), kNow);
  EXPECT_TRUE(all<TagImage>(d).empty());
  PackerBuilderStatus s = written(d);
  EXPECT_EQ(s.job_status, "running");
  EXPECT_THAT(s.last_run_message, HasSubstr("eu-west-1"));
  EXPECT_EQ(d.requeue_after, std::optional<Duration>(kImagePendingPoll));
}

// A pending copy is waited for too.
TEST(PackerBuilderCopies, PendingCopyIsAwaited) {
  aws::Image pending = available("ami-eu");
  pending.state = aws::ImageState::Pending;
  Decision d = decide(finishedWithCopies({{"eu-west-1", pending}}), kNow);
  EXPECT_TRUE(all<TagImage>(d).empty());
  EXPECT_EQ(written(d).job_status, "running");
}

// A copy still missing after the grace fails the build, naming the region.
TEST(PackerBuilderCopies, CopyMissingAfterTheGraceFailsTheBuild) {
  Observed o = finishedWithCopies({});
  o.jobs = {succeeded("2026-11-21T05:00:00Z")};
  Decision d = decide(o, kNow);
  EXPECT_TRUE(all<TagImage>(d).empty());
  PackerBuilderStatus s = written(d);
  EXPECT_EQ(s.job_status, "failed");
  EXPECT_THAT(s.last_run_message, HasSubstr("ami-eu but EC2 in eu-west-1 does not know it"));
}

// Steady: a copy region whose other active image was not deprecated (a crash, a failed call)
// has it deprecated on the next look, keeping the copy status.copies names.
TEST(PackerBuilderCopies, SteadyBuilderDeprecatesStrayActiveImagesInCopyRegions) {
  PackerBuilderStatus s;
  s.build_id = "uid-1";
  s.observed_generation = 1;
  s.job_name = "pb-j1";
  s.job_status = "completed";
  s.last_run_built_image_id = "ami-us";
  s.copies = {{"eu-west-1", "ami-eu"}};
  Observed o{.builder = builder(s),
             .managed = {managed("ami-us", "active", kNow - 1h)},
             .managed_in = {{"eu-west-1",
                             {managed("ami-eu", "active", kNow - 1h),
                              managed("ami-eu-old", "active", kNow - 40h)}}}};
  Decision d = decide(o, kNow);
  std::vector<DeprecateImages> deprecations = all<DeprecateImages>(d);
  ASSERT_EQ(deprecations.size(), 1u);
  EXPECT_EQ(deprecations[0].region, "eu-west-1");
  EXPECT_EQ(deprecations[0].image_ids, std::vector<std::string>{"ami-eu-old"});
  EXPECT_EQ(ec2RegionOf(Action{deprecations[0]}), std::optional<std::string>("eu-west-1"));
}

// Retention runs per region: in spec.region and in each copy region, over that region's images
// (keepLast counts them there), with the in-use check made there; what each pass needs is asked
// for by region.
TEST(PackerBuilderCopies, RetentionRunsInEachCopyRegion) {
  PackerBuilderStatus s;
  s.build_id = "uid-1";
  s.observed_generation = 1;
  s.job_name = "pb-j1";
  s.job_status = "completed";
  s.last_run_built_image_id = "ami-us";
  s.copies = {{"eu-west-1", "ami-eu"}};
  Observed o{.builder = builder(s, kSpecWithRetention),
             .managed = {managed("ami-us", "active", kNow - 1h),
                         managed("ami-us-d", "deprecated", kNow - 20h)},
             .managed_in = {{"eu-west-1",
                             {managed("ami-eu", "active", kNow - 1h),
                              managed("ami-eu-d1", "deprecated", kNow - 20h),
                              managed("ami-eu-d2", "deprecated", kNow - 30h)}}}};
  Decision ask = decide(o, kNow);
  ASSERT_TRUE(ask.read_retention.has_value());
  EXPECT_THAT(*ask.read_retention, ElementsAre("ami-us-d"));
  ASSERT_EQ(ask.read_retention_in.count("eu-west-1"), 1u);
  EXPECT_THAT(ask.read_retention_in.at("eu-west-1"), ElementsAre("ami-eu-d1", "ami-eu-d2"));
  EXPECT_TRUE(all<DeleteImage>(ask).empty());

  o.retention = RetentionObservation{};
  o.retention_in["eu-west-1"] =
      RetentionObservation{.in_use = {{"ami-eu-d1", "instance i-1 still runs it"}}};
  Decision d = decide(o, kNow);
  EXPECT_FALSE(d.read_retention.has_value());
  EXPECT_TRUE(d.read_retention_in.empty());
  std::vector<DeleteImage> deletions = all<DeleteImage>(d);
  ASSERT_EQ(deletions.size(), 2u);
  EXPECT_EQ(deletions[0].image_id, "ami-us-d");
  EXPECT_EQ(deletions[0].region, "");
  EXPECT_EQ(deletions[1].image_id, "ami-eu-d2");
  EXPECT_EQ(deletions[1].region, "eu-west-1");
  EXPECT_EQ(ec2RegionOf(Action{deletions[1]}), std::optional<std::string>("eu-west-1"));
  PackerBuilderStatus after = written(d);
  ASSERT_EQ(after.retention.kept.size(), 1u);
  EXPECT_EQ(after.retention.kept[0].image_id, "ami-eu-d1");
  EXPECT_THAT(after.retention.message, HasSubstr("3 deprecated images in 2 regions"));
}

// status.copies survives the round trip through the object, and an empty list is not written.
TEST(PackerBuilderCopies, StatusCopiesRoundTrip) {
  PackerBuilderStatus s;
  s.copies = {{"ap-south-1", "ami-ap"}, {"eu-west-1", "ami-eu"}};
  auto obj = kube::Object::parse(fmt::format(R"({{"status":{}}})", statusToJson(s)));
  ASSERT_TRUE(obj.has_value());
  EXPECT_EQ(parseStatus(*obj).copies, s.copies);
  EXPECT_THAT(statusToJson(PackerBuilderStatus{}), ::testing::Not(HasSubstr("copies")));
  // Dropping the copies (a build without any) removes the field.
  EXPECT_THAT(statusMergePatch(s, PackerBuilderStatus{}), HasSubstr(R"("copies":null)"));
}

}  // namespace
}  // namespace opsy::packer_builder
