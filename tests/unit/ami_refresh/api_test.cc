#include "ami-refresh-controller/api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "opsy/ami/builder_ref.h"
#include "opsy/core/time_format.h"

namespace opsy::ami_refresh {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using ::testing::HasSubstr;

kube::Object objectWithSpec(std::string_view spec_json) {
  std::string json =
      std::string(R"({"apiVersion":"ami.refresh.ops/v1alpha1","kind":"AMIRefresher",)") +
      R"("metadata":{"name":"r","namespace":"ops","uid":"u1","generation":3},"spec":)" +
      std::string(spec_json) + "}";
  return kube::Object::parse(json).value();
}

// The seed sample's spec (top-level expiresIn, filters, exclude) parses with every default.
TEST(AmiRefresherSpec, SeedSampleParsesWithDefaults) {
  auto spec = parseSpec(objectWithSpec(R"({"region":"us-west-2",
      "amiFilters":[{"name":"name","values":["amazon-eks-node-al2023-x86_64-standard-1.30*"]},
                    {"name":"owner-id","values":["602401143452"]}],
      "clusterName":"ibeify-gitops","expiresIn":"5m","exclude":["ingress-dev"]})"));
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->region, "us-west-2");
  EXPECT_EQ(spec->cluster_name, "ibeify-gitops");
  EXPECT_FALSE(spec->ami.has_value());
  ASSERT_EQ(spec->ami_filters.size(), 2u);
  EXPECT_EQ(spec->ami_filters[1].name, "owner-id");
  EXPECT_EQ(spec->expires_in, minutes(5));
  EXPECT_EQ(spec->controller_timer, kDefaultControllerTimer);
  EXPECT_EQ(spec->exclude, std::vector<std::string>{"ingress-dev"});
  EXPECT_EQ(spec->refresh, RefreshConfig{});
  EXPECT_EQ(spec->refresh.max_concurrent_nodegroups, 1);
  EXPECT_TRUE(spec->refresh.wait_for_completion);
  EXPECT_EQ(spec->refresh.update_timeout, hours(2));
  EXPECT_FALSE(spec->self_managed.enabled);
  EXPECT_FALSE(spec->paused);
}

// spec.expiresIn wins over timeOuts.expiresIn; timeOuts.controllerTimer is honoured.
TEST(AmiRefresherSpec, TopLevelExpiresInWinsOverTimeOuts) {
  auto spec = parseSpec(objectWithSpec(R"({"region":"us-west-2","clusterName":"c",
      "ami":"ami-0123456789abcdef0","expiresIn":"7d",
      "timeOuts":{"expiresIn":"1h","controllerTimer":"90s"}})"));
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->expires_in, hours(24 * 7));
  EXPECT_EQ(spec->controller_timer, std::chrono::seconds(90));

  auto only_timeouts = parseSpec(objectWithSpec(R"({"region":"us-west-2","clusterName":"c",
      "ami":"ami-0123456789abcdef0","timeOuts":{"expiresIn":"1w"}})"));
  ASSERT_TRUE(only_timeouts);
  EXPECT_EQ(only_timeouts->expires_in, hours(24 * 7));
}

// Maintenance windows and mode are read; a window's time zone defaults to UTC.
TEST(AmiRefresherSpec, MaintenanceWindowsAndModeAreRead) {
  auto spec = parseSpec(objectWithSpec(R"({"region":"eu-west-1","clusterName":"c",
      "ami":"ami-0123456789abcdef0","mode":"Plan","maintenanceWindows":[
        {"schedule":"0 22 * * SAT","duration":"6h","timeZone":"Europe/Berlin"},
        {"schedule":"@daily","duration":"30m"}]})"));
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->mode, Mode::Plan);
  ASSERT_EQ(spec->maintenance_windows.size(), 2u);
  EXPECT_EQ(spec->maintenance_windows[0].timeZone(), "Europe/Berlin");
  EXPECT_EQ(spec->maintenance_windows[0].duration(), std::chrono::hours(6));
  EXPECT_EQ(spec->maintenance_windows[1].timeZone(), "UTC");
}

// The canary and soak are read, with readyTimeout's default.
TEST(AmiRefresherSpec, RolloutCanaryAndSoakAreRead) {
  auto spec = parseSpec(objectWithSpec(R"({"region":"eu-west-1","clusterName":"c",
      "ami":"ami-0123456789abcdef0","rollout":{"canary":{"nodegroups":["canary-*"]},"soak":"30m"}})"));
  ASSERT_TRUE(spec) << spec.error().message;
  ASSERT_TRUE(spec->rollout.canary);
  EXPECT_EQ(spec->rollout.canary->nodegroups, std::vector<std::string>{"canary-*"});
  EXPECT_EQ(spec->rollout.canary->ready_timeout, kDefaultCanaryReadyTimeout);
  EXPECT_EQ(spec->rollout.soak, std::chrono::minutes(30));
}

// minImageAge is read as a duration.
TEST(AmiRefresherSpec, MinImageAgeIsRead) {
  auto spec = parseSpec(objectWithSpec(R"({"region":"eu-west-1","clusterName":"c",
      "ami":"ami-0123456789abcdef0","minImageAge":"72h"})"));
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->min_image_age, std::chrono::hours(72));
}

// Every optional block is read, with its own defaults.
TEST(AmiRefresherSpec, RefreshSelfManagedAndNotifierAreRead) {
  auto spec = parseSpec(objectWithSpec(R"({"region":"eu-west-1","clusterName":"c",
      "ami":"ami-0123456789abcdef0","paused":true,
      "refreshConfig":{"force":true,"maxUnavailablePercentage":20,"maxConcurrentNodegroups":3,
                       "waitForCompletion":false,"updateTimeout":"45m","rollbackOnFailure":true},
      "selfManaged":{"enabled":true,"minHealthyPercentage":75,"instanceWarmup":"2m"},
      "notifier":{"slack":{"channelIDs":["C1","C2"],"secret":"slack"}}})"));
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->min_image_age, Duration::zero());
  EXPECT_TRUE(spec->paused);
  EXPECT_TRUE(spec->refresh.force);
  EXPECT_EQ(spec->refresh.max_unavailable_percentage, 20);
  EXPECT_EQ(spec->refresh.max_concurrent_nodegroups, 3);
  EXPECT_FALSE(spec->refresh.wait_for_completion);
  EXPECT_EQ(spec->refresh.update_timeout, minutes(45));
  EXPECT_TRUE(spec->refresh.rollback_on_failure);
  EXPECT_TRUE(spec->self_managed.enabled);
  EXPECT_EQ(spec->self_managed.min_healthy_percentage, 75);
  EXPECT_EQ(spec->self_managed.instance_warmup, minutes(2));
  // The drain is on by default for self-managed groups.
  EXPECT_TRUE(spec->self_managed.drain.enabled);
  EXPECT_EQ(spec->self_managed.drain.timeout, minutes(30));
  EXPECT_EQ(spec->self_managed.drain.on_timeout, DrainTimeoutAction::Halt);
  EXPECT_EQ(spec->self_managed.drain.hook_name, "opsy-ami-refresh-drain");
  EXPECT_EQ(spec->self_managed.drain.heartbeat_timeout, minutes(5));
  EXPECT_EQ(spec->self_managed.drain.default_result, "CONTINUE");
  ASSERT_TRUE(spec->notifier.slack.has_value());
  EXPECT_EQ(spec->notifier.slack->channel_ids.size(), 2u);
  EXPECT_EQ(spec->notifier.slack->secret, "slack");
}

TEST(AmiRefresherSpec, DrainSettingsAreRead) {
  auto spec = parseSpec(objectWithSpec(R"({"region":"r","clusterName":"c","ami":"ami-1",
      "selfManaged":{"enabled":true,"drain":{"timeout":"10m","onTimeout":"Continue",
        "lifecycleHook":{"name":"team/drain","heartbeatTimeout":"90s","defaultResult":"ABANDON"}}}})"));
  ASSERT_TRUE(spec) << spec.error().message;
  const DrainConfig& d = spec->self_managed.drain;
  EXPECT_TRUE(d.enabled);
  EXPECT_EQ(d.timeout, minutes(10));
  EXPECT_EQ(d.on_timeout, DrainTimeoutAction::Continue);
  EXPECT_EQ(d.hook_name, "team/drain");
  EXPECT_EQ(d.heartbeat_timeout, std::chrono::seconds(90));
  EXPECT_EQ(d.default_result, "ABANDON");
  auto off = parseSpec(objectWithSpec(R"({"region":"r","clusterName":"c","ami":"ami-1",
      "selfManaged":{"enabled":true,"drain":{"enabled":false}}})"));
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_FALSE(off->self_managed.drain.enabled);
}

struct InvalidCase {
  std::string name;
  std::string spec;
  std::string field;  // the error must name this path
};

class AmiRefresherInvalidSpec : public ::testing::TestWithParam<InvalidCase> {};

// An invalid spec is an error that names the offending field, never a silent default.
TEST_P(AmiRefresherInvalidSpec, ErrorNamesTheField) {
  auto spec = parseSpec(objectWithSpec(GetParam().spec));
  ASSERT_FALSE(spec);
  EXPECT_THAT(spec.error().message, HasSubstr(GetParam().field));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, AmiRefresherInvalidSpec,
    ::testing::Values(
        InvalidCase{"MissingRegion", R"({"clusterName":"c","ami":"ami-1"})", "spec.region"},
        InvalidCase{"MissingCluster", R"({"region":"us-west-2","ami":"ami-1"})",
                    "spec.clusterName"},
        InvalidCase{"NeitherAmiNorFilters", R"({"region":"r","clusterName":"c"})", "spec.ami"},
        InvalidCase{"BothAmiAndFilters",
                    R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "amiFilters":[{"name":"name","values":["x"]}]})",
                    "spec.ami"},
        InvalidCase{"BuilderRefAndAmi",
                    R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "builderRef":{"name":"b"}})",
                    "spec.builderRef: set exactly one of spec.ami, spec.amiFilters or "
                    "spec.builderRef"},
        InvalidCase{"BuilderRefAndFilters",
                    R"({"region":"r","clusterName":"c","builderRef":{"name":"b"},
                        "amiFilters":[{"name":"name","values":["x"]}]})",
                    "spec.builderRef: set exactly one"},
        InvalidCase{"BuilderRefWithoutName",
                    R"({"region":"r","clusterName":"c","builderRef":{"namespace":"ci"}})",
                    "spec.builderRef.name"},
        InvalidCase{
            "FilterWithoutValues",
            R"({"region":"r","clusterName":"c","amiFilters":[{"name":"name","values":[]}]})",
            "spec.amiFilters[0].values"},
        InvalidCase{"BadExpiresIn", R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "expiresIn":"5x"})",
                    "spec.expiresIn"},
        InvalidCase{"DrainOnTimeoutUnknown", R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "selfManaged":{"drain":{"onTimeout":"Wait"}}})",
                    "spec.selfManaged.drain.onTimeout"},
        InvalidCase{"DrainTimeoutTooLong", R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "selfManaged":{"drain":{"timeout":"49h"}}})",
                    "spec.selfManaged.drain.timeout"},
        InvalidCase{"HeartbeatBelowAutoScalingsMinimum",
                    R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "selfManaged":{"drain":{"lifecycleHook":{"heartbeatTimeout":"10s"}}}})",
                    "spec.selfManaged.drain.lifecycleHook.heartbeatTimeout"},
        InvalidCase{"DrainLongerThanAutoScalingHolds",
                    R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "selfManaged":{"drain":{"timeout":"1h",
                          "lifecycleHook":{"heartbeatTimeout":"30s"}}}})",
                    "spec.selfManaged.drain.timeout"},
        InvalidCase{"HookNameWithSpace", R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "selfManaged":{"drain":{"lifecycleHook":{"name":"my hook"}}}})",
                    "spec.selfManaged.drain.lifecycleHook.name"},
        InvalidCase{"HookDefaultResultUnknown",
                    R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "selfManaged":{"drain":{"lifecycleHook":{"defaultResult":"continue"}}}})",
                    "spec.selfManaged.drain.lifecycleHook.defaultResult"},
        InvalidCase{"ZeroTimer", R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "timeOuts":{"controllerTimer":"0s"}})",
                    "spec.timeOuts.controllerTimer"},
        InvalidCase{"BadUpdateTimeout", R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "refreshConfig":{"updateTimeout":"soon"}})",
                    "spec.refreshConfig.updateTimeout"},
        InvalidCase{"BothMaxUnavailable", R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "refreshConfig":{"maxUnavailable":1,"maxUnavailablePercentage":5}})",
                    "spec.refreshConfig.maxUnavailable"},
        InvalidCase{"ConcurrencyZero", R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "refreshConfig":{"maxConcurrentNodegroups":0}})",
                    "spec.refreshConfig.maxConcurrentNodegroups"},
        InvalidCase{"ForceNotBool", R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "refreshConfig":{"force":"yes"}})",
                    "spec.refreshConfig.force"},
        InvalidCase{"ExcludeNotStrings", R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "exclude":[3]})",
                    "spec.exclude[0]"},
        InvalidCase{"WarmupBad", R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "selfManaged":{"enabled":true,"instanceWarmup":"-5m"}})",
                    "spec.selfManaged.instanceWarmup"},
        InvalidCase{"AmiNotAnImageId", R"({"region":"r","clusterName":"c","ami":"i-123"})",
                    "spec.ami"},
        InvalidCase{"WindowBadSchedule", R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "maintenanceWindows":[{"schedule":"0 24 * * *","duration":"1h"}]})",
                    "spec.maintenanceWindows[0].schedule"},
        InvalidCase{"WindowBadZone", R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "maintenanceWindows":[{"schedule":"0 2 * * *","duration":"1h"},
                          {"schedule":"0 2 * * *","duration":"1h","timeZone":"Mars/Base"}]})",
                    "spec.maintenanceWindows[1].timeZone"},
        InvalidCase{"WindowTooLong", R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "maintenanceWindows":[{"schedule":"0 2 * * *","duration":"8d"}]})",
                    "spec.maintenanceWindows[0].duration"},
        InvalidCase{"WindowWithoutDuration", R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "maintenanceWindows":[{"schedule":"0 2 * * *"}]})",
                    "spec.maintenanceWindows[0].duration"},
        InvalidCase{"CanaryBothNamesAndCount", R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "rollout":{"canary":{"nodegroups":["a"],"count":1}}})",
                    "spec.rollout.canary"},
        InvalidCase{"CanaryNeither", R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "rollout":{"canary":{}}})",
                    "spec.rollout.canary"},
        InvalidCase{"SoakWithoutCanary", R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "rollout":{"soak":"30m"}})",
                    "spec.rollout.soak"},
        InvalidCase{"CanaryBadTimeout", R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "rollout":{"canary":{"count":1,"readyTimeout":"soon"}}})",
                    "spec.rollout.canary.readyTimeout"},
        InvalidCase{"ModeUnknown", R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "mode":"DryRun"})",
                    "spec.mode"},
        InvalidCase{"MinImageAgeBad", R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "minImageAge":"3 days"})",
                    "spec.minImageAge"},
        InvalidCase{"MinImageAgeNotShorterThanExpiry",
                    R"({"region":"r","clusterName":"c","ami":"ami-1",
                        "expiresIn":"7d","minImageAge":"1w"})",
                    "spec.minImageAge"}),
    [](const auto& param_info) { return param_info.param.name; });

// spec.builderRef names a PackerBuilder; its namespace defaults to the refresher's own.
TEST(AmiRefresherSpec, BuilderRefDefaultsToTheRefreshersNamespace) {
  auto spec = parseSpec(objectWithSpec(
      R"({"region":"us-west-2","clusterName":"c","builderRef":{"name":"base-al2023"}})"));
  ASSERT_TRUE(spec) << spec.error().message;
  ASSERT_TRUE(spec->builder_ref);
  EXPECT_EQ(spec->builder_ref->key(), "ops/base-al2023");
  EXPECT_FALSE(spec->ami);
  EXPECT_TRUE(spec->ami_filters.empty());
  auto other = parseSpec(objectWithSpec(
      R"({"region":"us-west-2","clusterName":"c","builderRef":{"name":"b","namespace":"ci"}})"));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->builder_ref->key(), "ci/b");
}

// The cache index files a refresher under the builder it follows, and nothing else under any.
TEST(AmiRefresherSpec, BuilderRefIndexFilesTheBuildersKey) {
  kube::Index index = ami::builderRefIndex();
  EXPECT_EQ(index.fn(objectWithSpec(R"({"builderRef":{"name":"b"}})")),
            std::vector<std::string>{"ops/b"});
  EXPECT_EQ(index.fn(objectWithSpec(R"({"builderRef":{"name":"b","namespace":"ci"}})")),
            std::vector<std::string>{"ci/b"});
  EXPECT_TRUE(index.fn(objectWithSpec(R"({"ami":"ami-1"})")).empty());
}

// The status written as a merge patch reads back to the same value.
TEST(AmiRefresherStatus, PatchRoundTrips) {
  RefresherStatus s;
  s.state = std::string(kStateRolling);
  s.observed_generation = 3;
  s.target_ami = "ami-0abc";
  s.target_expires_at = parseRfc3339("2026-12-01T00:00:00Z").value();
  s.updated = "1/2";
  s.last_run = parseRfc3339("2026-11-21T12:00:00Z").value();
  s.last_run_status = "rolling";
  s.nodegroups.push_back(NodegroupStatus{.name = "a",
                                         .kind = GroupKind::Managed,
                                         .launch_template = {"lt-1", "4"},
                                         .previous_launch_template_version = "3",
                                         .current_image = "ami-old",
                                         .target_image = "ami-0abc",
                                         .phase = Phase::Updating,
                                         .update_id = "u-1",
                                         .message = "updating",
                                         .last_transition_time = s.last_run});
  s.nodegroups.push_back(NodegroupStatus{.name = "b",
                                         .kind = GroupKind::SelfManaged,
                                         .phase = Phase::Skipped,
                                         .message = "no launch template"});
  s.nodegroups.push_back(NodegroupStatus{
      .name = "c",
      .kind = GroupKind::SelfManaged,
      .phase = Phase::Updating,
      .update_id = "ir-1",
      .drains = {{.instance_id = "i-1",
                  .node = "ip-10-0-0-1",
                  .started_at = s.last_run,
                  .last_heartbeat = s.last_run,
                  .pods_left = 2,
                  .blocked_by_pdb = "shop/web",
                  .blocked_pod = "shop/web-1",
                  .message = "PodDisruptionBudget shop/web blocks pod shop/web-1"}}});
  kube::setCondition(s.conditions, {.type = "Ready", .status = "False", .reason = "Rolling"}, 3,
                     *s.last_run);

  std::string patch = statusPatch(s);
  std::string json = R"({"apiVersion":"ami.refresh.ops/v1alpha1","kind":"AMIRefresher",)"
                     R"("metadata":{"name":"r"},)" +
                     patch.substr(1);
  kube::Object obj = kube::Object::parse(json).value();
  EXPECT_EQ(parseStatus(obj), s);
}

// Cleared optional fields go out as null so the merge patch removes their old values.
TEST(AmiRefresherStatus, EmptyFieldsAreSentAsNull) {
  RefresherStatus s;
  std::string patch = statusPatch(s);
  EXPECT_THAT(patch, HasSubstr(R"("targetAMI":null)"));
  EXPECT_THAT(patch, HasSubstr(R"("targetExpiresAt":null)"));
  EXPECT_THAT(patch, HasSubstr(R"("nodegroups":[])"));
  EXPECT_THAT(patch, HasSubstr(R"("conditions":[])"));
}

// A damaged status never blocks a reconcile: bad entries are dropped.
TEST(AmiRefresherStatus, MalformedEntriesAreDropped) {
  kube::Object obj = kube::Object::parse(
                         R"({"metadata":{"name":"r"},"status":{"nodegroups":[{"phase":"Updating"},)"
                         R"({"name":"a","phase":"Bogus"}],"observedGeneration":"x"}})")
                         .value();
  RefresherStatus s = parseStatus(obj);
  ASSERT_EQ(s.nodegroups.size(), 1u);
  EXPECT_EQ(s.nodegroups[0].name, "a");
  EXPECT_EQ(s.nodegroups[0].phase, Phase::Pending);
  EXPECT_EQ(s.observed_generation, 0);
}

struct GlobCase {
  std::string pattern;
  std::string name;
  bool match;
};

// Exclusion patterns: exact names, and '*' for any run of characters.
TEST(ExcludeGlob, MatchesExactNamesAndStars) {
  const GlobCase cases[] = {
      {"ingress-dev", "ingress-dev", true},
      {"ingress-dev", "ingress-dev2", false},
      {"ingress-*", "ingress-dev", true},
      {"ingress-*", "ingress-", true},
      {"*-gpu", "ml-gpu", true},
      {"*-gpu", "ml-gpu-2", false},
      {"a*b*c", "axxbyyc", true},
      {"a*b*c", "axxbyy", false},
      {"*", "anything", true},
      {"system", "System", false},
  };
  for (const GlobCase& c : cases) {
    EXPECT_EQ(globMatch(c.pattern, c.name), c.match) << c.pattern << " vs " << c.name;
  }
}

}  // namespace
}  // namespace opsy::ami_refresh
