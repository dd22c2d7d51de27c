// Canary and soak with the real ami-refresh-controller binary, gated on real Node health: the
// harness plays the kubelets (every instance fake-aws runs for a node group registers a Node in
// fake-kube, Ready or not as the test says), and fake-aws replaces a group's instances with ones
// of the new image when its update succeeds.
#include <signal.h>

#include "e2e/ami_refresh/ami_refresh_fixture.h"

namespace opsy::ami_refresh {
namespace {

constexpr std::string_view kCanaryLt = "lt-0a1b2c3d4e5f6000f";

class CanaryE2e : public AmiRefreshE2e {
 protected:
  // A second group that needs the image, "canary-a" (one node), next to the sample's
  // workers-update, and Nodes for every instance.
  void addCanaryGroup() {
    aws_.addLaunchTemplate({.id = std::string(kCanaryLt),
                            .name = "canary-a",
                            .default_version = 1,
                            .versions = {{.version_number = 1,
                                          .create_time = "2026-11-01T00:00:00.000Z",
                                          .data = {.image_id = std::string(kOldImage),
                                                   .instance_type = "m6i.large"}}}});
    opsy::testing::FakeNodegroup g{.cluster = std::string(kCluster), .name = "canary-a"};
    g.launch_template =
        opsy::testing::FakeLaunchTemplateRef{.id = std::string(kCanaryLt), .version = "1"};
    g.scaling.desired_size = 1;
    aws_.addNodegroup(std::move(g));
    mirrorNodes();
  }

  std::optional<CanaryStatus> canary() const {
    auto r = refresher();
    return r ? r->status.canary : std::nullopt;
  }

  // The images the instances of `group` that run now were launched from.
  std::vector<std::string> runningImages(std::string_view group) const {
    std::vector<std::string> images;
    for (const auto& i : aws_.instances()) {
      if (i.nodegroup == group && i.state == "running") {
        images.push_back(i.image_id);
      }
    }
    return images;
  }
};

// The canary group rolls first; its new Node registers Ready on the target; the other group
// waits through the soak (no update for it until the soak has passed), then rolls.
TEST_F(CanaryE2e, CanaryRollsFirstTheOthersWaitThroughTheSoakThenRoll) {
  aws_.setEksAutoCompleteAfter(1);
  ASSERT_NO_FATAL_FAILURE(addCanaryGroup());
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(
      applySampleWith(R"({"rollout":{"canary":{"nodegroups":["canary-*"]},"soak":"4s"},)"
                      R"("timeOuts":{"controllerTimer":"1s"}})"));

  ASSERT_TRUE(eventually([&] {
    auto c = canary();
    return c && c->phase == kCanarySoaking;
  })) << "the canary never soaked";
  const auto soak_seen = std::chrono::steady_clock::now();
  ASSERT_EQ(aws_.eksUpdates().size(), 1U);
  EXPECT_EQ(aws_.eksUpdates()[0].nodegroup, "canary-a");
  EXPECT_EQ(runningImages("canary-a"), std::vector<std::string>{std::string(kTargetImage)});
  EXPECT_EQ(versionCount(aws_, kUpdateLt), 1U) << "workers-update started before the soak";
  EXPECT_EQ(phaseOf("workers-update"), std::optional<Phase>(Phase::Pending));
  EXPECT_NE(group(*refresher(), "workers-update")->message.find("waiting for the canary: soaking"),
            std::string::npos)
      << group(*refresher(), "workers-update")->message;

  ASSERT_TRUE(eventually([&] { return ready(); }, std::chrono::seconds(30)))
      << "the rest never rolled after the soak";
  EXPECT_GE(std::chrono::steady_clock::now() - soak_seen, std::chrono::seconds(2));
  ASSERT_EQ(aws_.eksUpdates().size(), 2U);
  EXPECT_EQ(aws_.eksUpdates()[1].nodegroup, "workers-update");
  EXPECT_EQ(canary()->phase, kCanaryPassed);
  EXPECT_EQ(settledEventCount("CanaryPassed", 1), 1);
}

// The canary's new Node never becomes Ready: after readyTimeout the rollout halts (Stalled, one
// CanaryFailed Warning Event, the Node named in status), the canary is rolled back to the version
// it ran, and the other group is never touched.
TEST_F(CanaryE2e, CanaryNodesNeverReadyHaltTheRolloutAndRollTheCanaryBack) {
  aws_.setEksAutoCompleteAfter(1);
  ASSERT_NO_FATAL_FAILURE(addCanaryGroup());
  setNotReady("canary-a");
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(applySampleWith(
      R"({"rollout":{"canary":{"nodegroups":["canary-a"],"readyTimeout":"3s"},"soak":"1m"},)"
      R"("refreshConfig":{"rollbackOnFailure":true},"timeOuts":{"controllerTimer":"1s"}})"));

  ASSERT_TRUE(eventually([&] {
    auto c = canary();
    return c && c->phase == kCanaryFailed;
  })) << "the canary never failed";
  auto c = canary();
  EXPECT_NE(c->message.find("is not Ready"), std::string::npos) << c->message;
  auto stalled = condition("Stalled");
  ASSERT_TRUE(stalled.has_value());
  EXPECT_EQ(stalled->status, kube::kConditionTrue);
  EXPECT_EQ(phaseOf("canary-a"), std::optional<Phase>(Phase::Failed));

  ASSERT_TRUE(eventually([&] { return aws_.eksUpdates().size() == 2; }))
      << "the canary was not rolled back";
  EXPECT_EQ(aws_.eksUpdates()[1].nodegroup, "canary-a");
  // EKS finishes the rollback on its own (the fake completes updates as they are described, and
  // nothing follows a failed group's rollback): its instances go back to the old image.
  aws_.completeEksUpdate(aws_.eksUpdates()[1].id);
  ASSERT_TRUE(eventually([&] {
    return runningImages("canary-a") == std::vector<std::string>{std::string(kOldImage)};
  })) << "the canary's instances are not back on the old image";
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(aws_.eksUpdates().size(), 2U);
  EXPECT_EQ(versionCount(aws_, kUpdateLt), 1U) << "the other group was touched";
  EXPECT_EQ(phaseOf("workers-update"), std::optional<Phase>(Phase::Pending));
  EXPECT_EQ(settledEventCount("CanaryFailed", 1), 1);
}

// A self-managed canary: its Nodes are found by the Auto Scaling group's instances (providerID),
// not by a label; once its instance refresh has replaced them and they are Ready on the target,
// the soak passes and the managed group rolls.
TEST_F(CanaryE2e, SelfManagedCanaryIsCheckedThroughItsInstances) {
  aws_.setEksAutoCompleteAfter(1);
  aws_.setInstanceRefreshAutoCompleteAfter(1);
  mirrorNodes();
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(applySampleWith(
      std::string(R"({"rollout":{"canary":{"nodegroups":[")") + std::string(kSelfManagedAsg) +
      R"("]},"soak":"2s"},"selfManaged":{"enabled":true},"timeOuts":{"controllerTimer":"1s"}})"));

  ASSERT_TRUE(eventually([&] {
    auto c = canary();
    return c && c->phase == kCanarySoaking;
  })) << "the self-managed canary never soaked";
  ASSERT_EQ(aws_.instanceRefreshes().size(), 1U);
  EXPECT_TRUE(aws_.eksUpdates().empty()) << "a managed group started before the soak";
  ASSERT_TRUE(eventually([&] { return ready(); }, std::chrono::seconds(30)));
  ASSERT_EQ(aws_.eksUpdates().size(), 1U);
  EXPECT_EQ(aws_.eksUpdates()[0].nodegroup, "workers-update");
  EXPECT_EQ(canary()->nodegroups, std::vector<std::string>{std::string(kSelfManagedAsg)});
}

// Checking the canary needs ec2:DescribeInstances: denied, the refresher says so on Ready
// (AWSAccessDenied naming the action, one Warning Event), the canary is not passed on a guess and
// no other group starts; allowed again, the canary goes on to pass.
TEST_F(CanaryE2e, DeniedInstanceLookupIsShownAndHoldsTheRestBack) {
  aws_.setEksAutoCompleteAfter(1);
  ASSERT_NO_FATAL_FAILURE(addCanaryGroup());
  ASSERT_TRUE(aws_.denyOperation("ec2:DescribeInstances").has_value());
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(
      applySampleWith(R"({"rollout":{"canary":{"nodegroups":["canary-*"]},"soak":"1s"},)"
                      R"("timeOuts":{"controllerTimer":"1s"}})"));

  ASSERT_TRUE(eventually([&] {
    auto c = condition("Ready");
    return c && c->reason == "AWSAccessDenied";
  })) << "the denied DescribeInstances was not shown";
  EXPECT_NE(condition("Ready")->message.find("ec2:DescribeInstances"), std::string::npos)
      << condition("Ready")->message;
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(settledEventCount("AWSAccessDenied", 1), 1);
  ASSERT_EQ(aws_.eksUpdates().size(), 1U) << "only the canary may have started";
  EXPECT_EQ(aws_.eksUpdates()[0].nodegroup, "canary-a");
  EXPECT_EQ(versionCount(aws_, kUpdateLt), 1U);

  aws_.clearFaults();
  ASSERT_TRUE(eventually([&] { return ready(); }, std::chrono::seconds(30)))
      << "never recovered once DescribeInstances was allowed";
  EXPECT_EQ(canary()->phase, kCanaryPassed);
}

}  // namespace
}  // namespace opsy::ami_refresh
