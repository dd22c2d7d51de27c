#include "ami-refresh-controller/wiring.h"

#include <gtest/gtest.h>

#include <string>

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
  RolloutMetricsPtr m = rolloutMetrics(metrics);
  m->groupsByPhase("ops/roll", {{Phase::Updating, 2}, {Phase::UpToDate, 1}});
  m->groupsByPhase("ops/roll", {{Phase::Succeeded, 3}});
  std::string text = metrics.exposition();
  EXPECT_TRUE(has(text, R"(opsy_rollout_groups{object="ops/roll",phase="Updating"} 0)")) << text;
  EXPECT_TRUE(has(text, R"(opsy_rollout_groups{object="ops/roll",phase="UpToDate"} 0)")) << text;
  EXPECT_TRUE(has(text, R"(opsy_rollout_groups{object="ops/roll",phase="Succeeded"} 3)")) << text;
}

}  // namespace
}  // namespace opsy::ami_refresh
