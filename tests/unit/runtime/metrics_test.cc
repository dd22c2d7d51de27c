#include "opsy/runtime/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/promtool.h"

namespace opsy::runtime {
namespace {

bool has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

// Every reconcile result series exists at zero before the first reconcile, so alerts on rates work.
TEST(Metrics, KnownLabelSetsStartAtZero) {
  Metrics m("packer-builder");
  std::string text = m.exposition();
  for (const char* result : {"success", "error", "requeue_after", "terminal"}) {
    EXPECT_TRUE(
        has(text, std::string(R"(opsy_reconcile_total{controller="packer-builder",result=")") +
                      result + R"("} 0)"))
        << result << "\n"
        << text;
  }
  EXPECT_TRUE(has(text, R"(opsy_leader{controller="packer-builder"} 0)"));
}

// Errors count in both the result series and the error total; durations land in the histogram.
TEST(Metrics, ReconcileErrorsAreCountedTwice) {
  Metrics m("c");
  m.reconcileDone(ReconcileResult::Error, std::chrono::milliseconds(30), "AWSUnavailable");
  m.reconcileDone(ReconcileResult::Terminal, std::chrono::milliseconds(30), "AWSUnavailable");
  m.reconcileFailed("AWSAccessDenied");
  std::string text = m.exposition();
  EXPECT_TRUE(has(text, R"(opsy_reconcile_errors_total{controller="c",reason="AWSUnavailable"} 2)"))
      << text;
  EXPECT_TRUE(
      has(text, R"(opsy_reconcile_errors_total{controller="c",reason="AWSAccessDenied"} 1)"))
      << text;
  EXPECT_TRUE(has(text, R"(opsy_reconcile_duration_seconds_count{controller="c"} 2)")) << text;
  EXPECT_TRUE(has(text, R"(opsy_reconcile_duration_seconds_bucket{controller="c",le="0.05"} 2)"))
      << text;
}

// A successful reconcile never counts as an error, whatever reason it is given.
TEST(Metrics, SuccessIsNoError) {
  Metrics m("c");
  m.reconcileDone(ReconcileResult::Success, std::chrono::milliseconds(3), "AWSUnavailable");
  m.reconcileDone(ReconcileResult::RequeueAfter, std::chrono::milliseconds(3), "AWSUnavailable");
  EXPECT_FALSE(has(m.exposition(), "opsy_reconcile_errors_total{")) << m.exposition();
}

// AWS, Kubernetes and queue observations appear with their labels.
TEST(Metrics, CallAndQueueSeries) {
  Metrics m("c");
  m.awsCall("ec2", "DescribeImages", "200", std::chrono::milliseconds(40));
  m.awsCall("ec2", "DescribeImages", "RequestLimitExceeded", std::chrono::milliseconds(40));
  m.kubeCall("PATCH", "packerbuilders/status", "200", std::chrono::milliseconds(5));
  m.queueDepth("packer-builder", 3);
  m.queueRetry("packer-builder");
  m.leader(true);
  std::string text = m.exposition();
  EXPECT_TRUE(has(
      text,
      R"(opsy_aws_requests_total{code="RequestLimitExceeded",operation="DescribeImages",service="ec2"} 1)"))
      << text;
  EXPECT_TRUE(has(
      text,
      R"(opsy_kube_requests_total{code="200",resource="packerbuilders/status",verb="PATCH"} 1)"));
  EXPECT_TRUE(has(text, R"(opsy_workqueue_depth{name="packer-builder"} 3)"));
  EXPECT_TRUE(has(text, R"(opsy_workqueue_retries_total{name="packer-builder"} 1)"));
  EXPECT_TRUE(has(text, R"(opsy_leader{controller="c"} 1)"));
}

}  // namespace
}  // namespace opsy::runtime

namespace opsy::runtime {
namespace {

// The exposition passes Prometheus's own linter (names, help text, units, counter suffixes).
TEST(Metrics, PassesPromtoolCheck) {
  if (!opsy::testing::promtoolAvailable()) {
    GTEST_SKIP() << "promtool not installed (scripts/bootstrap installs it)";
  }
  Metrics m("packer-builder");
  m.reconcileDone(ReconcileResult::Success, std::chrono::milliseconds(3));
  m.awsCall("ec2", "DescribeImages", "200", std::chrono::milliseconds(40));
  m.kubeCall("GET", "jobs", "200", std::chrono::milliseconds(2));
  m.queueLatency("packer-builder", std::chrono::milliseconds(1));
  m.queueWorkDuration("packer-builder", std::chrono::milliseconds(1));
  m.queueAdd("packer-builder");
  opsy::testing::PromtoolResult r = opsy::testing::promtoolCheckMetrics(m.exposition());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "") << r.output;
}

}  // namespace
}  // namespace opsy::runtime

namespace opsy::testing {
namespace {

// The promtool check fails on a lint problem (a counter without the _total suffix), so the checks
// above and in the end-to-end tests can fail.
TEST(PromtoolCheck, ReportsACounterWithoutTotalSuffix) {
  if (!promtoolAvailable()) {
    GTEST_SKIP() << "promtool not installed (scripts/bootstrap installs it)";
  }
  PromtoolResult r = promtoolCheckMetrics(
      "# HELP opsy_things Things.\n# TYPE opsy_things counter\nopsy_things{a=\"b\"} 1\n");
  ASSERT_EQ(r.problems().size(), 1U) << r.output;
  EXPECT_NE(r.problems()[0].find("_total"), std::string::npos) << r.output;
}

// Samples are summed per exact metric name and label filter; a missing family reads -1.
TEST(PromtoolCheck, SampleSumMatchesExactNamesAndLabels) {
  const std::string text =
      "# HELP x_total X.\n# TYPE x_total counter\n"
      "x_total{controller=\"a\",result=\"ok\"} 2\n"
      "x_total{controller=\"a\",result=\"error\"} 3\n"
      "x_total{controller=\"b\",result=\"ok\"} 5\n"
      "x_total_extra 7\n"
      "y 1.5 1700000000000\n";
  struct Case {
    std::string_view name;
    std::string_view labels;
    double want;
  };
  for (const Case& c : std::vector<Case>{{"x_total", "", 10},
                                         {"x_total", R"(controller="a")", 5},
                                         {"x_total", R"(result="ok")", 7},
                                         {"x_total_extra", "", 7},
                                         {"y", "", 1.5},
                                         {"x", "", -1},
                                         {"x_total", R"(controller="c")", -1}}) {
    EXPECT_EQ(sampleSum(text, c.name, c.labels), c.want) << c.name << "{" << c.labels << "}";
  }
}

}  // namespace
}  // namespace opsy::testing
