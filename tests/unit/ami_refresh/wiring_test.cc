#include "ami-refresh-controller/wiring.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "opsy/ami/builder_ref.h"

namespace opsy::ami_refresh {
namespace {

bool has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

// Rollout events land in the process registry under the controller's label.
TEST(RolloutMetricsWiring, CountsRolloutsAndGroupDurations) {
  runtime::Metrics metrics("ami-refresh");
  RolloutMetricsPtr m = rolloutMetrics(metrics);
  m->rolloutStarted();
  m->rolloutStarted();
  m->rolloutFinished();
  m->rolloutFailed();
  m->groupRolled(std::chrono::seconds(90));
  std::string text = metrics.exposition();
  EXPECT_TRUE(has(text, R"(opsy_rollouts_started_total{controller="ami-refresh"} 2)")) << text;
  EXPECT_TRUE(has(text, R"(opsy_rollouts_finished_total{controller="ami-refresh"} 1)")) << text;
  EXPECT_TRUE(has(text, R"(opsy_rollouts_failed_total{controller="ami-refresh"} 1)")) << text;
  EXPECT_TRUE(has(
      text, R"(opsy_rollout_group_duration_seconds_bucket{controller="ami-refresh",le="60"} 0)"))
      << text;
  EXPECT_TRUE(has(
      text, R"(opsy_rollout_group_duration_seconds_bucket{controller="ami-refresh",le="120"} 1)"))
      << text;
}

// A phase the groups have left drops to zero instead of keeping its last count.
TEST(RolloutMetricsWiring, PhasesNotReportedAreZeroed) {
  runtime::Metrics metrics("ami-refresh");
  RolloutMetricsPtr m = rolloutMetrics(metrics, /*per_object=*/true);
  m->groupsByPhase("ops/roll", {{Phase::Updating, 2}, {Phase::UpToDate, 1}});
  m->groupsByPhase("ops/roll", {{Phase::Succeeded, 3}});
  std::string text = metrics.exposition();
  for (
      const char* series :
      {R"(opsy_rollout_object_groups{controller="ami-refresh",object="ops/roll",phase="Updating"} 0)",
       R"(opsy_rollout_object_groups{controller="ami-refresh",object="ops/roll",phase="UpToDate"} 0)",
       R"(opsy_rollout_object_groups{controller="ami-refresh",object="ops/roll",phase="Succeeded"} 3)",
       R"(opsy_rollout_groups{controller="ami-refresh",phase="Updating"} 0)",
       R"(opsy_rollout_groups{controller="ami-refresh",phase="Succeeded"} 3)"}) {
    EXPECT_TRUE(has(text, series)) << series << "\n" << text;
  }
}

// The NodeClaims gauge sums every refresher's node classes, follows each one's last count and
// drops a deleted refresher's share.
TEST(RolloutMetricsWiring, NodeClaimsAreSummedAndForgotten) {
  runtime::Metrics metrics("ami-refresh");
  RolloutMetricsPtr m = rolloutMetrics(metrics, /*per_object=*/true);
  m->nodeClaims("ops/a", {.total = 3, .on_target = 1, .old = 2, .drifted = 2});
  m->nodeClaims("ops/b", {.total = 2, .on_target = 2});
  m->nodeClaims("ops/a", {.total = 3, .on_target = 2, .old = 1, .drifted = 1});
  std::string text = metrics.exposition();
  for (
      const char* series :
      {R"(opsy_karpenter_nodeclaims{controller="ami-refresh",state="total"} 5)",
       R"(opsy_karpenter_nodeclaims{controller="ami-refresh",state="onTarget"} 4)",
       R"(opsy_karpenter_nodeclaims{controller="ami-refresh",state="old"} 1)",
       R"(opsy_karpenter_nodeclaims{controller="ami-refresh",state="drifted"} 1)",
       R"(opsy_karpenter_object_nodeclaims{controller="ami-refresh",object="ops/a",state="old"} 1)"}) {
    EXPECT_TRUE(has(text, series)) << series << "\n" << text;
  }
  m->forget("ops/a");
  text = metrics.exposition();
  EXPECT_TRUE(has(text, R"(opsy_karpenter_nodeclaims{controller="ami-refresh",state="total"} 2)"))
      << text;
  EXPECT_FALSE(has(text, R"(object="ops/a",state)")) << text;
}

// By default the page carries only the sum over refreshers: its size does not grow with them.
TEST(RolloutMetricsWiring, DefaultSeriesDoNotGrowWithRefreshers) {
  runtime::Metrics metrics("ami-refresh");
  RolloutMetricsPtr m = rolloutMetrics(metrics);
  m->groupsByPhase("ops/a", {{Phase::Updating, 1}, {Phase::UpToDate, 2}});
  const std::size_t one = metrics.exposition().size();
  for (int i = 0; i < 1000; ++i) {
    m->groupsByPhase("ops/r" + std::to_string(i), {{Phase::Updating, 1}});
  }
  std::string text = metrics.exposition();
  EXPECT_LT(text.size(), one + 16) << text;  // the same series, larger numbers
  EXPECT_TRUE(has(text, R"(opsy_rollout_groups{controller="ami-refresh",phase="Updating"} 1001)"))
      << text;
  EXPECT_EQ(text.find("ops/a"), std::string::npos);
}

// A deleted refresher's groups leave the sum, and its per-object series leave the page.
TEST(RolloutMetricsWiring, ForgottenRefresherLeavesSumAndPage) {
  runtime::Metrics metrics("ami-refresh");
  RolloutMetricsPtr m = rolloutMetrics(metrics, /*per_object=*/true);
  m->groupsByPhase("ops/a", {{Phase::Failed, 1}});
  m->groupsByPhase("ops/b", {{Phase::Failed, 2}});
  m->forget("ops/a");
  m->forget("ops/never-seen");
  std::string text = metrics.exposition();
  EXPECT_TRUE(has(text, R"(opsy_rollout_groups{controller="ami-refresh",phase="Failed"} 2)"))
      << text;
  EXPECT_EQ(text.find("ops/a"), std::string::npos) << text;
  EXPECT_NE(text.find("ops/b"), std::string::npos) << text;
}

kube::ObjectPtr object(std::string_view kind, std::string_view ns, std::string_view name,
                       std::string_view spec) {
  std::string json = std::string(R"({"apiVersion":"ami.refresh.ops/v1alpha1","kind":")") +
                     std::string(kind) + R"(","metadata":{"name":")" + std::string(name) +
                     R"(","namespace":")" + std::string(ns) + R"("},"spec":)" + std::string(spec) +
                     "}";
  return std::make_shared<const kube::Object>(kube::Object::parse(json).value());
}

// A PackerBuilder's event maps to exactly the refreshers that follow it, looked up in the
// builderRef index (other builders' followers and refreshers by filters are not enqueued).
TEST(BuilderWatchWiring, ABuildersEventEnqueuesItsFollowersOnly) {
  kube::IndexedStore refreshers;
  refreshers.addIndex(ami::builderRefIndex());
  (void)refreshers.upsert(object("AMIRefresher", "ops", "a", R"({"builderRef":{"name":"base"}})"));
  (void)refreshers.upsert(
      object("AMIRefresher", "prod", "b", R"({"builderRef":{"name":"base","namespace":"ops"}})"));
  (void)refreshers.upsert(object("AMIRefresher", "ops", "c", R"({"builderRef":{"name":"gpu"}})"));
  (void)refreshers.upsert(object("AMIRefresher", "ops", "d", R"({"ami":"ami-1"})"));
  runtime::OwnedResource watched = watchedBuilders(refreshers);
  EXPECT_EQ(watched.resource.plural, "packerbuilders");
  ASSERT_TRUE(watched.map_to_keys);
  EXPECT_EQ(watched.map_to_keys(*object("PackerBuilder", "ops", "base", "{}")),
            (std::vector<std::string>{"ops/a", "prod/b"}));
  EXPECT_TRUE(watched.map_to_keys(*object("PackerBuilder", "prod", "base", "{}")).empty());
}

}  // namespace
}  // namespace opsy::ami_refresh
