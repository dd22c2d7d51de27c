// The scale benchmark's driver (bench/scale) at N=100, on this build's controller binaries: in the
// steady world an idle controllerTimer costs no Kubernetes reads or writes and at most two
// DescribeImages per region. Only counts are asserted, never times (the ASan build is slow);
// `scripts/bench` measures the times on the release build.
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "scale/scale.h"

namespace opsy::bench {
namespace {

constexpr int kN = 100;

ScaleResult runSteady(ScaleController controller) {
  const std::string name = toString(controller);
  ScaleOptions o{
      .controller = controller,
      .world = ScaleWorld::Steady,
      .n = kN,
      // Short enough to keep the smoke quick, long enough that the ASan controller gets through
      // its N reconciles well within one period.
      .period = std::chrono::seconds(4),
      .binary = std::string(OPSY_BINARY_DIR) + "/" + name + "-controller/" + name + "-controller",
      .source_dir = std::string(OPSY_TEST_DATA_DIR) + "/../..",
      .groups = 3,
      .latency_samples = 0,
      .restart = true,
      .idle_timeout = std::chrono::seconds(120),
      .quiet = std::chrono::milliseconds(1500),
  };
  for (const char* keep : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"}) {
    if (const char* v = std::getenv(keep)) {
      o.extra_env.push_back(std::string(keep) + "=" + v);
    }
  }
  ScaleResult r = runScale(o);
  std::cout << formatTable({r});
  return r;
}

// A restarted packer-builder-controller with 100 built, active builders reads and writes nothing
// on the API server per idle period (its reads come from the informer cache) and looks images up
// at most twice per region per period (the shared base-image lookup and one shared lineage
// lookup), however many builders share the region.
TEST(ScaleSmoke, SteadyBuildersIdlePeriodCostsNoKubeCallsAndTwoImageLookupsPerRegion) {
  ScaleResult r = runSteady(ScaleController::PackerBuilder);
  ASSERT_EQ(r.error, "");
  ASSERT_TRUE(r.restarted);
  EXPECT_GE(r.reconciles, 1) << "no periodic reconcile in the idle window";
  EXPECT_EQ(r.kube_reads, 0);
  EXPECT_EQ(r.kube_writes, 0);
  EXPECT_LE(r.describe_images_max_per_region, 2);
  EXPECT_TRUE(r.not_ready.empty())
      << "builders idle but not Ready, e.g. " << r.not_ready.begin()->first;
}

// The same for ami-refresh-controller with 100 refreshers, three to a cluster (one per node
// group), whose groups all run the target image.
TEST(ScaleSmoke, SteadyRefreshersIdlePeriodCostsNoKubeCallsAndTwoImageLookupsPerRegion) {
  ScaleResult r = runSteady(ScaleController::AmiRefresh);
  ASSERT_EQ(r.error, "");
  ASSERT_TRUE(r.restarted);
  EXPECT_GE(r.reconciles, 1) << "no periodic reconcile in the idle window";
  EXPECT_EQ(r.kube_reads, 0);
  EXPECT_EQ(r.kube_writes, 0);
  EXPECT_LE(r.describe_images_max_per_region, 2);
  // The refreshers of one cluster share its reads: one ListNodegroups and G DescribeNodegroup per
  // cluster and period, and the two image lookups of the region.
  EXPECT_LE(r.aws_calls, static_cast<long>(r.clusters) * (r.groups + 1) + 2);
  EXPECT_TRUE(r.not_ready.empty())
      << "refreshers idle but not Ready, e.g. " << r.not_ready.begin()->first;
}

}  // namespace
}  // namespace opsy::bench
