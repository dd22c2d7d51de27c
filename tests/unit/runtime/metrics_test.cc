#include "opsy/runtime/metrics.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

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
  m.reconcileDone(ReconcileResult::Error, std::chrono::milliseconds(30));
  m.reconcileDone(ReconcileResult::Terminal, std::chrono::milliseconds(30));
  std::string text = m.exposition();
  EXPECT_TRUE(has(text, R"(opsy_reconcile_errors_total{controller="c"} 2)")) << text;
  EXPECT_TRUE(has(text, R"(opsy_reconcile_duration_seconds_count{controller="c"} 2)")) << text;
  EXPECT_TRUE(has(text, R"(opsy_reconcile_duration_seconds_bucket{controller="c",le="0.05"} 2)"))
      << text;
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
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool not installed (scripts/bootstrap installs it)";
  }
  Metrics m("packer-builder");
  m.reconcileDone(ReconcileResult::Success, std::chrono::milliseconds(3));
  m.awsCall("ec2", "DescribeImages", "200", std::chrono::milliseconds(40));
  m.kubeCall("GET", "jobs", "200", std::chrono::milliseconds(2));
  m.queueLatency("packer-builder", std::chrono::milliseconds(1));
  m.queueWorkDuration("packer-builder", std::chrono::milliseconds(1));
  m.queueAdd("packer-builder");
  std::string path = ::testing::TempDir() + "/metrics.txt";
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::string text = m.exposition();
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }
  std::string cmd = "promtool check metrics < " + path + " 2>&1";
  std::FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof(buf), p)) {
    out.append(buf, n);
  }
  int rc = pclose(p);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "") << out;
}

}  // namespace
}  // namespace opsy::runtime
