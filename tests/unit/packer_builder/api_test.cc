#include "packer-builder-controller/api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "opsy/core/time_format.h"

namespace opsy::packer_builder {
namespace {

using ::testing::HasSubstr;

kube::Object objectWithSpec(const std::string& spec_json) {
  auto obj = kube::Object::parse(
      R"({"apiVersion":"ami.refresh.ops/v1alpha1","kind":"PackerBuilder",)"
      R"("metadata":{"name":"pb","namespace":"ci","uid":"u-1","generation":2},"spec":)" +
      spec_json + "}");
  EXPECT_TRUE(obj.has_value());
  return *obj;
}

constexpr const char* kMinimal =
    R"({"builder":{"repoURL":"https://example.com/r.git","image":"hashicorp/packer:1.11"}})";

// The seed's sample spec parses with every field it shows.
TEST(PackerBuilderApi, SeedSampleSpecParses) {
  auto spec = parseSpec(objectWithSpec(R"({
    "amiFilters":[{"name":"name","values":["amazon-eks-node-al2023-x86_64-standard-1.30*"]},
                  {"name":"owner-id","values":["602401143452"]}],
    "clusterName":"opsy-gitops","timeOuts":{"expiresIn":"48h","controllerTimer":"5m"},
    "notifier":{"slack":{"channelIDs":["C1"],"secret":"slack-token"}},
    "gitSync":{"image":"registry.k8s.io/git-sync/git-sync:v4.2.3","name":"git-sync","secret":"git-sync"},
    "region":"us-west-2",
    "builder":{"repoURL":"https://github.com/ibeify/eks-node-group-ami-refresh","branch":"main",
      "image":"hashicorp/packer:latest","dir":"packer/generic-fips","secret":"aws-creds",
      "commands":[{"subCommand":"build","args":["-force"],"color":false,"debug":true,"onError":"cleanup"}]}})"));
  ASSERT_TRUE(spec.has_value()) << spec.error().message;
  ASSERT_EQ(spec->ami_filters.size(), 2u);
  EXPECT_EQ(spec->ami_filters[1].name, "owner-id");
  EXPECT_EQ(spec->time_outs.expires_in, std::chrono::hours(48));
  EXPECT_EQ(spec->time_outs.controller_timer, std::chrono::minutes(5));
  EXPECT_EQ(spec->time_outs.build_timeout, kDefaultBuildTimeout);
  ASSERT_TRUE(spec->notifier.slack.has_value());
  EXPECT_EQ(spec->notifier.slack->channel_ids, std::vector<std::string>{"C1"});
  EXPECT_EQ(spec->git_sync.secret, "git-sync");
  EXPECT_EQ(spec->builder.dir, "packer/generic-fips");
  ASSERT_EQ(spec->builder.commands.size(), 1u);
  EXPECT_EQ(spec->builder.commands[0].on_error, "cleanup");
  EXPECT_EQ(spec->builder.commands[0].color, std::optional<bool>(false));
  EXPECT_TRUE(spec->builder.commands[0].debug);
}

// Omitted optional fields take the documented defaults.
TEST(PackerBuilderApi, DefaultsApplied) {
  auto spec = parseSpec(objectWithSpec(kMinimal));
  ASSERT_TRUE(spec.has_value()) << spec.error().message;
  EXPECT_EQ(spec->max_failed_jobs, 3);
  EXPECT_EQ(spec->time_outs.expires_in, std::chrono::hours(24 * 30));
  EXPECT_EQ(spec->time_outs.controller_timer, std::chrono::minutes(5));
  EXPECT_EQ(spec->time_outs.build_timeout, std::chrono::hours(2));
  EXPECT_EQ(spec->git_sync.image, "registry.k8s.io/git-sync/git-sync:v4.2.3");
  EXPECT_EQ(spec->git_sync.name, "git-sync");
  EXPECT_EQ(spec->builder.branch, "main");
  EXPECT_FALSE(spec->notifier.configured());
}

struct BadSpecCase {
  const char* name;
  const char* spec;
  const char* field;
};

class PackerBuilderApiBadSpec : public ::testing::TestWithParam<BadSpecCase> {};

// Every invalid spec is refused with a message naming the field path.
TEST_P(PackerBuilderApiBadSpec, ErrorNamesTheField) {
  auto spec = parseSpec(objectWithSpec(GetParam().spec));
  ASSERT_FALSE(spec.has_value());
  EXPECT_EQ(spec.error().code, ErrorCode::InvalidArgument);
  EXPECT_THAT(spec.error().message, HasSubstr(GetParam().field));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PackerBuilderApiBadSpec,
    ::testing::Values(
        BadSpecCase{"BadDuration",
                    R"({"timeOuts":{"expiresIn":"48x"},"builder":{"repoURL":"r","image":"i"}})",
                    "spec.timeOuts.expiresIn"},
        BadSpecCase{
            "ZeroDuration",
            R"({"timeOuts":{"controllerTimer":"0s"},"builder":{"repoURL":"r","image":"i"}})",
            "spec.timeOuts.controllerTimer"},
        BadSpecCase{"BadBuildTimeout",
                    R"({"timeOuts":{"buildTimeout":"-1h"},"builder":{"repoURL":"r","image":"i"}})",
                    "spec.timeOuts.buildTimeout"},
        BadSpecCase{"MissingBuilder", R"({})", "spec.builder"},
        BadSpecCase{"MissingRepo", R"({"builder":{"image":"i"}})", "spec.builder.repoURL"},
        BadSpecCase{"FilterWithoutValues",
                    R"({"amiFilters":[{"name":"x"}],"builder":{"repoURL":"r","image":"i"}})",
                    "spec.amiFilters[0].values"},
        BadSpecCase{
            "CommandWrongType",
            R"({"builder":{"repoURL":"r","image":"i","commands":[{"subCommand":"build","debug":"yes"}]}})",
            "spec.builder.commands[0].debug"},
        BadSpecCase{"DirEscapes", R"({"builder":{"repoURL":"r","image":"i","dir":"../x"}})",
                    "spec.builder.dir"},
        BadSpecCase{"MaxFailedJobsZero",
                    R"({"maxFailedJobs":0,"builder":{"repoURL":"r","image":"i"}})",
                    "spec.maxFailedJobs"},
        BadSpecCase{
            "RetentionWithoutARule",
            R"({"retention":{"deleteSnapshots":true},"builder":{"repoURL":"r","image":"i"}})",
            "spec.retention"},
        BadSpecCase{"RetentionNegativeKeepLast",
                    R"({"retention":{"keepLast":0},"builder":{"repoURL":"r","image":"i"}})",
                    "spec.retention.keepLast"},
        BadSpecCase{"RetentionZeroDeleteAfter",
                    R"({"retention":{"deleteAfter":"0s"},"builder":{"repoURL":"r","image":"i"}})",
                    "spec.retention.deleteAfter"},
        BadSpecCase{
            "RetentionUnknownMode",
            R"({"retention":{"keepLast":1,"mode":"Dry"},"builder":{"repoURL":"r","image":"i"}})",
            "spec.retention.mode"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

// A status written by statusToJson reads back equal, including conditions and times.
TEST(PackerBuilderApi, StatusRoundTrips) {
  PackerBuilderStatus s;
  s.state = "Ready";
  s.observed_generation = 4;
  s.build_id = "b-1";
  s.command = "packer init .";
  TimePoint t0 = *parseRfc3339("2026-11-21T06:00:00Z");
  kube::setCondition(s.conditions,
                     {.type = "Ready", .status = "True", .reason = "ImageActive", .message = "m"},
                     4, t0);
  s.failed_job_count = 2;
  s.job_id = "abc";
  s.job_name = "pb-abc";
  s.job_status = "completed";
  s.last_run = t0;
  s.last_run_base_image_id = "ami-base";
  s.last_run_built_image_id = "ami-built";
  s.last_run_message = "done";
  s.last_run_status = "completed";
  s.last_run_key_pair = "packer_1";
  s.expires_at = t0 + std::chrono::hours(1);
  kube::Object obj = objectWithSpec(kMinimal);
  ASSERT_TRUE(obj.setJson("/status", statusToJson(s)).has_value());
  EXPECT_EQ(parseStatus(obj), s);
}

// spec.retention is off when absent; given, its rules parse, deleteSnapshots defaults to true and
// mode to Apply.
TEST(PackerBuilderApi, RetentionParsesWithDefaults) {
  auto off = parseSpec(objectWithSpec(kMinimal));
  ASSERT_TRUE(off.has_value());
  EXPECT_FALSE(off->retention.has_value());
  auto on = parseSpec(objectWithSpec(
      R"({"retention":{"keepLast":2,"deleteAfter":"30d"},"builder":{"repoURL":"r","image":"i"}})"));
  ASSERT_TRUE(on.has_value()) << on.error().message;
  ASSERT_TRUE(on->retention.has_value());
  EXPECT_EQ(on->retention->keep_last, 2);
  EXPECT_EQ(on->retention->delete_after, std::chrono::hours(24 * 30));
  EXPECT_TRUE(on->retention->delete_snapshots);
  EXPECT_FALSE(on->retention->plan);
  auto plan = parseSpec(
      objectWithSpec(R"({"retention":{"keepLast":1,"deleteSnapshots":false,"mode":"Plan"},)"
                     R"("builder":{"repoURL":"r","image":"i"}})"));
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  EXPECT_EQ(plan->retention->keep_last, 1);
  EXPECT_FALSE(plan->retention->delete_after.has_value());
  EXPECT_FALSE(plan->retention->delete_snapshots);
  EXPECT_TRUE(plan->retention->plan);
}

// status.retention reads back equal; an empty one is not written at all.
TEST(PackerBuilderApi, RetentionStatusRoundTrips) {
  PackerBuilderStatus s;
  s.retention.kept = {{"ami-1", "instance i-1 still runs it"}};
  s.retention.deleted = {{"ami-2", {"snap-2"}, *parseRfc3339("2026-11-21T06:00:00Z")}};
  s.retention.would_delete = {"ami-3"};
  s.retention.kept_snapshots = {{"snap-4", "image ami-5 still uses it"}};
  s.retention.message = "m";
  kube::Object obj = objectWithSpec(kMinimal);
  ASSERT_TRUE(obj.setJson("/status", statusToJson(s)).has_value());
  EXPECT_EQ(parseStatus(obj), s);
  EXPECT_THAT(statusToJson(PackerBuilderStatus{}), ::testing::Not(HasSubstr("retention")));
}

// The merge patch nulls fields that were set before and are now empty, so they are removed.
TEST(PackerBuilderApi, MergePatchClearsRemovedFields) {
  PackerBuilderStatus before;
  before.last_run_key_pair = "packer_1";
  before.job_status = "failed";
  PackerBuilderStatus after;
  after.job_status = "failed";
  std::string patch = statusMergePatch(before, after);
  EXPECT_THAT(patch, HasSubstr(R"("lastRunKeyPair":null)"));
  EXPECT_THAT(patch, HasSubstr(R"("jobStatus":"failed")"));
}

// Inside status.retention too: a list the new status no longer has (wouldDelete once the builder
// leaves Plan mode) is nulled, since a merge patch would otherwise keep it.
TEST(PackerBuilderApi, MergePatchClearsRemovedRetentionFields) {
  PackerBuilderStatus before;
  before.retention.would_delete = {"ami-1"};
  before.retention.message = "Plan";
  PackerBuilderStatus after;
  after.retention.message = "Apply";
  std::string patch = statusMergePatch(before, after);
  EXPECT_THAT(patch, HasSubstr(R"("retention":{"message":"Apply","wouldDelete":null})"));
  EXPECT_THAT(statusMergePatch(before, PackerBuilderStatus{}), HasSubstr(R"("retention":null)"));
}

}  // namespace
}  // namespace opsy::packer_builder
