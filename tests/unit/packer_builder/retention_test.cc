// Retention (spec.retention) in decide(): which deprecated images a steady builder deletes, which
// it keeps and why, and what Plan mode lists instead.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "opsy/core/time_format.h"
#include "packer-builder-controller/decide.h"
#include "unit/packer_builder/decision_actions.h"

namespace opsy::packer_builder {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using namespace std::chrono_literals;

const TimePoint kNow = *parseRfc3339("2026-11-21T06:00:00Z");

// A steady builder: its last build made ami-active from ami-base, which is still the newest base.
kube::Object builder(const std::string& retention, const PackerBuilderStatus* status = nullptr) {
  PackerBuilderStatus s;
  if (status != nullptr) {
    s = *status;
  }
  s.build_id = "uid-1";
  s.observed_generation = 1;
  s.job_name = "pb-j1";
  s.job_id = "j1";
  s.job_status = "completed";
  s.last_run_status = "completed";
  s.last_run_base_image_id = "ami-base";
  s.last_run_built_image_id = "ami-active";
  const std::string spec = fmt::format(
      R"({{"amiFilters":[{{"name":"name","values":["al2023-*"]}}],"clusterName":"opsy",)"
      R"("region":"us-west-2","timeOuts":{{"expiresIn":"48h","controllerTimer":"5m"}},)"
      R"("builder":{{"repoURL":"https://example.com/r.git","image":"hashicorp/packer:1.11"}}{}}})",
      retention.empty() ? "" : ",\"retention\":" + retention);
  auto obj = kube::Object::parse(
      fmt::format(R"({{"apiVersion":"ami.refresh.ops/v1alpha1","kind":"PackerBuilder","metadata":)"
                  R"({{"name":"pb","namespace":"ci","uid":"uid-1","generation":1,)"
                  R"("finalizers":["ami.refresh.ops/packer-builder"]}},"spec":{},"status":{}}})",
                  spec, statusToJson(s)));
  EXPECT_TRUE(obj.has_value()) << (obj ? "" : obj.error().message);
  return obj ? *obj : kube::Object();
}

aws::Image image(const std::string& id, TimePoint created, const std::string& status) {
  aws::Image i{.id = id, .state = aws::ImageState::Available, .creation_date = created};
  i.tags = ami::lineageTags({.cluster_name = "opsy",
                             .created_by = "pb",
                             .packer_repo = "https://example.com/r.git",
                             .packer_repo_branch = "main"});
  i.tags["base-ami"] = "ami-base";
  i.tags["status"] = status;
  i.tags["create-timestamp"] = formatRfc3339(created);
  i.snapshot_ids = {"snap-" + id.substr(4)};
  return i;
}

// The active image and four deprecated ones, 10, 20, 30 and 40 hours old.
Observed observed(const std::string& retention, const PackerBuilderStatus* status = nullptr) {
  Observed o;
  o.builder = builder(retention, status);
  o.newest_base = aws::Image{
      .id = "ami-base", .state = aws::ImageState::Available, .creation_date = kNow - 72h};
  o.managed = {image("ami-active", kNow - 1h, "active"), image("ami-d10", kNow - 10h, "deprecated"),
               image("ami-d20", kNow - 20h, "deprecated"),
               image("ami-d30", kNow - 30h, "deprecated"),
               image("ami-d40", kNow - 40h, "deprecated")};
  return o;
}

std::vector<std::string> deletedImages(const Decision& d) {
  std::vector<std::string> out;
  for (const DeleteImage& del : actionsOf<DeleteImage>(d)) {
    out.push_back(del.image_id);
  }
  return out;
}

std::vector<std::string> eventReasons(const Decision& d) {
  std::vector<std::string> out;
  for (const RecordEvent& e : actionsOf<RecordEvent>(d)) {
    out.push_back(e.reason);
  }
  return out;
}

PackerBuilderStatus written(const Decision& d) {
  auto patches = actionsOf<PatchStatus>(d);
  EXPECT_EQ(patches.size(), 1u) << "no status write";
  return patches.empty() ? PackerBuilderStatus{} : patches.front().after;
}

// A retention pass first asks for what it needs (the images its rules select), then acts on it.
Decision decideWithUse(Observed& o, RetentionObservation seen = {}) {
  Decision first = decide(o, kNow);
  EXPECT_TRUE(first.read_retention.has_value());
  EXPECT_THAT(deletedImages(first), IsEmpty()) << "deleted before checking use";
  o.retention = std::move(seen);
  return decide(o, kNow);
}

// keepLast 3 keeps the active image and the two newest deprecated ones and deletes the older
// ones, oldest first,
// each with its snapshots marked for deletion before the image is deregistered.
TEST(PackerBuilderRetention, KeepsNewestNDeprecatedImages) {
  Observed o = observed(R"({"keepLast":3})");
  Decision first = decide(o, kNow);
  ASSERT_TRUE(first.read_retention.has_value());
  EXPECT_THAT(*first.read_retention, ElementsAre("ami-d30", "ami-d40"));

  o.retention = RetentionObservation{};
  Decision d = decide(o, kNow);
  EXPECT_THAT(deletedImages(d), ElementsAre("ami-d40", "ami-d30"));
  const DeleteImage del = actionsOf<DeleteImage>(d).front();
  EXPECT_THAT(del.snapshot_ids, ElementsAre("snap-d40"));
  EXPECT_EQ(del.snapshot_marker.at("delete-after-deregister"), "ami-d40");
  EXPECT_EQ(del.snapshot_marker.at("created-by"), "pb");
  PackerBuilderStatus s = written(d);
  ASSERT_EQ(s.retention.deleted.size(), 2u);
  EXPECT_EQ(s.retention.deleted[0].image_id, "ami-d40");
  EXPECT_THAT(s.retention.deleted[0].snapshots, ElementsAre("snap-d40"));
  EXPECT_EQ(s.retention.deleted[0].at, kNow);
  EXPECT_THAT(s.retention.message, HasSubstr("keepLast 3"));
  EXPECT_THAT(eventReasons(d), ElementsAre("ImageDeleted", "ImageDeleted"));
}

// The active image is never a candidate, even with keepLast 1 (only it) and a deleteAfter it
// exceeds.
TEST(PackerBuilderRetention, NeverDeletesTheActiveImage) {
  Observed o = observed(R"({"keepLast":1,"deleteAfter":"30m"})");
  Decision d = decideWithUse(o);
  EXPECT_THAT(deletedImages(d), ElementsAre("ami-d40", "ami-d30", "ami-d20", "ami-d10"));
}

// An image a launch template version of an Auto Scaling group uses is kept, with the reason in
// status and one ImageKept Event; the next pass with the same reason adds no Event.
TEST(PackerBuilderRetention, KeepsAnImageALaunchTemplateVersionUses) {
  const std::string reason =
      "launch template lt-0abc version 3 of Auto Scaling group eks-ng-a uses it";
  Observed o = observed(R"({"keepLast":3})");
  Decision d = decideWithUse(o, {.in_use = {{"ami-d40", reason}}});
  EXPECT_THAT(deletedImages(d), ElementsAre("ami-d30"));
  PackerBuilderStatus s = written(d);
  ASSERT_EQ(s.retention.kept.size(), 1u);
  EXPECT_EQ(s.retention.kept[0].image_id, "ami-d40");
  EXPECT_EQ(s.retention.kept[0].reason, reason);
  EXPECT_THAT(eventReasons(d), ElementsAre("ImageKept", "ImageDeleted"));

  Observed again = observed(R"({"keepLast":3})", &s);
  again.managed.erase(again.managed.begin() + 3);  // ami-d30 is gone
  Decision next = decideWithUse(again, {.in_use = {{"ami-d40", reason}}});
  EXPECT_THAT(deletedImages(next), IsEmpty());
  EXPECT_THAT(eventReasons(next), IsEmpty());
}

// Plan mode deletes nothing: it lists what Apply would delete, and still keeps in-use images.
TEST(PackerBuilderRetention, PlanModeListsWithoutDeleting) {
  Observed o = observed(R"({"keepLast":2,"mode":"Plan"})");
  Decision d = decideWithUse(o, {.in_use = {{"ami-d20", "instance i-0123 still runs it"}}});
  EXPECT_THAT(deletedImages(d), IsEmpty());
  EXPECT_THAT(actionsOf<DeleteSnapshots>(d), IsEmpty());
  PackerBuilderStatus s = written(d);
  EXPECT_THAT(s.retention.would_delete, ElementsAre("ami-d40", "ami-d30"));
  ASSERT_EQ(s.retention.kept.size(), 1u);
  EXPECT_EQ(s.retention.kept[0].reason, "instance i-0123 still runs it");
  EXPECT_THAT(s.retention.message, HasSubstr("Plan"));
}

// deleteAfter counts from EC2's DeprecationTime when the image has one, else from its creation.
TEST(PackerBuilderRetention, DeleteAfterCountsFromDeprecationTime) {
  Observed o = observed(R"({"deleteAfter":"24h"})");
  o.managed[4].deprecation_time = kNow - 2h;   // ami-d40: created 40h ago, deprecated 2h ago
  o.managed[3].deprecation_time = kNow - 25h;  // ami-d30: deprecated 25h ago
  // ami-d20 (created 20h ago) and ami-d10 have no deprecation time: too young either way.
  Decision d = decideWithUse(o);
  EXPECT_THAT(deletedImages(d), ElementsAre("ami-d30"));
}

// keepLast deletes an image deprecated moments ago; its EC2 deprecation time, set ahead because
// EC2 refuses the past, is not told as the time it was deprecated since.
TEST(PackerBuilderRetention, EventDoesNotClaimAFutureDeprecationTimeHasPassed) {
  Observed o = observed(R"({"keepLast":4})");
  o.managed[4].deprecation_time = kNow + 2min;
  Decision d = decideWithUse(o);
  ASSERT_THAT(deletedImages(d), ElementsAre("ami-d40"));
  const RecordEvent e = actionsOf<RecordEvent>(d).front();
  EXPECT_THAT(e.note, HasSubstr("EC2 deprecation time 2026-11-21T06:02:00Z"));
  EXPECT_THAT(e.note, ::testing::Not(HasSubstr("deprecated since")));
}

// keepLast and deleteAfter together: an image goes when either rule selects it.
TEST(PackerBuilderRetention, EitherRuleSelects) {
  Observed o = observed(R"({"keepLast":4,"deleteAfter":"15h"})");
  Decision d = decideWithUse(o);
  EXPECT_THAT(deletedImages(d), ElementsAre("ami-d40", "ami-d30", "ami-d20"));
}

// deleteSnapshots false deregisters the image and leaves its snapshots alone.
TEST(PackerBuilderRetention, KeepsSnapshotsWhenAsked) {
  Observed o = observed(R"({"keepLast":4,"deleteSnapshots":false})");
  Decision d = decideWithUse(o);
  ASSERT_THAT(deletedImages(d), ElementsAre("ami-d40"));
  EXPECT_THAT(actionsOf<DeleteImage>(d).front().snapshot_ids, IsEmpty());
}

// Snapshots marked by an interrupted deletion are deleted once their image is gone; one another
// image still uses is kept and says why.
TEST(PackerBuilderRetention, DeletesMarkedSnapshotsOfGoneImages) {
  Observed o = observed(R"({"keepLast":5})");
  RetentionObservation seen;
  seen.marked_snapshots = {
      aws::Snapshot{.id = "snap-gone", .tags = {{"delete-after-deregister", "ami-gone"}}},
      aws::Snapshot{.id = "snap-shared", .tags = {{"delete-after-deregister", "ami-old"}}},
      aws::Snapshot{.id = "snap-d40", .tags = {{"delete-after-deregister", "ami-d40"}}}};
  seen.snapshot_users = {{"snap-shared", "ami-copy"}};
  Decision d = decideWithUse(o, seen);
  auto sweeps = actionsOf<DeleteSnapshots>(d);
  ASSERT_EQ(sweeps.size(), 1u);
  EXPECT_THAT(sweeps[0].snapshot_ids, ElementsAre("snap-gone"));  // ami-d40 is still registered
  PackerBuilderStatus s = written(d);
  ASSERT_EQ(s.retention.kept_snapshots.size(), 1u);
  EXPECT_EQ(s.retention.kept_snapshots[0].snapshot_id, "snap-shared");
  EXPECT_THAT(s.retention.kept_snapshots[0].reason, HasSubstr("ami-copy"));
}

// A denied call shows as Ready=False AWSAccessDenied naming the action; nothing is deleted, and
// the rest of the decision (the status, the requeue) stands.
TEST(PackerBuilderRetention, DeniedCallIsShownWithoutDeleting) {
  Observed o = observed(R"({"keepLast":2})");
  Error denied(ErrorCode::PermissionDenied, "not authorized");
  denied.action = "ec2:DeregisterImage";
  denied.provider_code = "UnauthorizedOperation";
  o.retention_failure = denied;
  Decision d = decide(o, kNow);
  EXPECT_FALSE(d.read_retention.has_value());
  EXPECT_THAT(deletedImages(d), IsEmpty());
  PackerBuilderStatus s = written(d);
  const kube::Condition* ready = kube::findCondition(s.conditions, kube::kConditionReady);
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ(ready->status, kube::kConditionFalse);
  EXPECT_EQ(ready->reason, "AWSAccessDenied");
  EXPECT_THAT(ready->message, HasSubstr("ec2:DeregisterImage"));
  EXPECT_TRUE(d.requeue_after.has_value());
  EXPECT_FALSE(d.retry.has_value());
}

// With retention, an image the builder deprecates also gets EC2's own deprecation time: the next
// minute but one (EC2 refuses the past and keeps whole minutes). Without retention it does not.
TEST(PackerBuilderRetention, DeprecationSetsEc2DeprecationTime) {
  Observed o = observed(R"({"keepLast":6})");
  o.managed.push_back(image("ami-older-active", kNow - 5h, "active"));
  Decision d = decide(o, kNow + 10s);
  auto set = actionsOf<SetDeprecationTime>(d);
  ASSERT_EQ(set.size(), 1u);
  EXPECT_THAT(set[0].image_ids, ElementsAre("ami-older-active"));
  EXPECT_EQ(set[0].at, *parseRfc3339("2026-11-21T06:02:00Z"));

  Observed off = observed("");
  off.managed.push_back(image("ami-older-active", kNow - 5h, "active"));
  Decision plain = decide(off, kNow);
  EXPECT_THAT(actionsOf<SetDeprecationTime>(plain), IsEmpty());
  EXPECT_FALSE(plain.read_retention.has_value());
}

// A pass that finds nothing to delete and nothing changed writes no status.
TEST(PackerBuilderRetention, QuietWhenNothingChanges) {
  Observed o = observed(R"({"keepLast":5})");
  Decision d = decideWithUse(o);
  PackerBuilderStatus s = written(d);
  Observed again = observed(R"({"keepLast":5})", &s);
  Decision next = decideWithUse(again);
  EXPECT_THAT(actionsOf<PatchStatus>(next), IsEmpty());
}

}  // namespace
}  // namespace opsy::packer_builder
