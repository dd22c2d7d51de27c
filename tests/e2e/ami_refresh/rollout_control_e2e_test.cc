// Rollout control with the real ami-refresh-controller binary: outside its maintenance windows a
// refresher starts nothing and says when the next window opens, inside one it rolls, and an
// update running when the window closes finishes; Plan mode writes the whole plan to status and
// makes no AWS write until it is switched to Apply; a refresher created after another
// that selects the same node group is Stalled with reason Conflict and writes nothing until the
// overlap is gone; an image younger than minImageAge is not rolled until it is old enough.
#include <signal.h>

#include "e2e/ami_refresh/ami_refresh_fixture.h"

namespace opsy::ami_refresh {
namespace {

std::string describe(const std::vector<opsy::testing::FakeCall>& calls) {
  std::string out;
  for (const auto& c : calls) {
    out += c.service + ":" + c.operation + " ";
  }
  return out;
}

// Plan mode: every group's next step in status, a WouldUpdate Event for the group that needs the
// image, zero AWS writes over several reconciles; Apply then carries it out.
TEST_F(AmiRefreshE2e, PlanModeWritesThePlanWithoutAnyAwsWriteThenApplyDoesIt) {
  aws_.setEksAutoCompleteAfter(1);
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(applySampleWith(R"({"mode":"Plan"})"));

  ASSERT_TRUE(eventually([&] {
    auto r = refresher();
    return r && r->status.state == kStatePlanned;
  })) << "never Planned";
  // More reconciles (an annotation brings the object back each time): still no write.
  for (int i = 0; i < 3; ++i) {
    ASSERT_NO_FATAL_FAILURE(touch("plan-" + std::to_string(i)));
  }
  ASSERT_TRUE(eventually([&] { return eventCount("WouldUpdate") >= 1; }));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(describe(takeWriteCalls()), "") << "Plan mode wrote to AWS";
  EXPECT_EQ(versionCount(aws_, kUpdateLt), 1U);
  EXPECT_TRUE(aws_.eksUpdates().empty());

  auto r = refresher();
  ASSERT_TRUE(r.has_value());
  const NodegroupStatus* update = group(*r, "workers-update");
  ASSERT_NE(update, nullptr);
  EXPECT_EQ(update->phase, Phase::Pending);
  EXPECT_EQ(update->current_image, kOldImage);
  EXPECT_EQ(update->target_image, kTargetImage);
  EXPECT_NE(update->next_step.find("CreateLaunchTemplateVersion (" + std::string(kUpdateLt) +
                                   " version 1 with " + std::string(kTargetImage) +
                                   "), then UpdateNodegroupVersion"),
            std::string::npos)
      << update->next_step;
  EXPECT_EQ(group(*r, "workers-current")->next_step, "none: runs the target");
  EXPECT_EQ(group(*r, "ingress-dev")->next_step, "none: excluded");
  EXPECT_EQ(eventCount("WouldUpdate"), 1);
  auto progressing = condition("Progressing");
  ASSERT_TRUE(progressing.has_value());
  EXPECT_NE(progressing->message.find("plan: 1 of 2 node groups would update"), std::string::npos)
      << progressing->message;

  ASSERT_NO_FATAL_FAILURE(patchSpec(R"({"mode":"Apply"})"));
  ASSERT_TRUE(eventually([&] { return ready(); })) << "Apply never finished the plan";
  ASSERT_EQ(aws_.eksUpdates().size(), 1U);
  EXPECT_EQ(aws_.eksUpdates()[0].nodegroup, "workers-update");
  EXPECT_EQ(lastVersionImage(aws_, kUpdateLt), kTargetImage);
  EXPECT_EQ(group(*refresher(), "workers-update")->next_step, "");
}

// Two refreshers on one cluster: the sample excludes ingress-dev, a second one created later
// selects every group (the overlap found in testing, where a test refresher rolled ingress-dev).
// The second is Stalled with reason Conflict naming the first and makes no AWS write (ingress-dev
// is not rolled); once it excludes what the first manages, it rolls ingress-dev alone.
TEST_F(AmiRefreshE2e, OverlappingRefresherIsStalledConflictAndWritesNothing) {
  aws_.setEksAutoCompleteAfter(1);
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(applySample());
  ASSERT_TRUE(eventually([&] { return ready(); }));
  ASSERT_EQ(aws_.eksUpdates().size(), 1U);
  takeWriteCalls();

  ASSERT_NO_FATAL_FAILURE(applySampleWith(R"({"exclude":[]})", "second"));
  ASSERT_TRUE(eventually([&] {
    auto r = refresherNamed("second");
    const kube::Condition* c = r ? kube::findCondition(r->status.conditions, "Stalled") : nullptr;
    return c != nullptr && c->status == kube::kConditionTrue && c->reason == "Conflict";
  })) << "the second refresher was never Stalled with reason Conflict";
  auto second = refresherNamed("second");
  const kube::Condition* stalled = kube::findCondition(second->status.conditions, "Stalled");
  EXPECT_NE(stalled->message.find("AMIRefresher default/node-group-ami-refresh"), std::string::npos)
      << stalled->message;
  // The first group both select (one whose image EKS picks is no overlap: neither touches it).
  EXPECT_NE(stalled->message.find("node group workers-current"), std::string::npos)
      << stalled->message;
  EXPECT_EQ(second->status.state, kStateStalled);
  // The Event follows the status write.
  EXPECT_TRUE(eventually([&] { return eventCount("Conflict", "second") >= 1; }));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(eventCount("Conflict", "second"), 1);
  EXPECT_EQ(describe(takeWriteCalls()), "") << "a conflicting refresher wrote to AWS";
  EXPECT_EQ(versionCount(aws_, kExcludedLt), 1U);
  EXPECT_TRUE(ready()) << "the first refresher is not affected";

  ASSERT_NO_FATAL_FAILURE(patchSpec(R"({"exclude":["workers-*","system-*"]})", "second"));
  ASSERT_TRUE(eventually([&] {
    auto r = refresherNamed("second");
    const kube::Condition* c = r ? kube::findCondition(r->status.conditions, "Ready") : nullptr;
    return c != nullptr && c->status == kube::kConditionTrue;
  })) << "the second refresher never rolled its own group";
  ASSERT_EQ(aws_.eksUpdates().size(), 2U);
  EXPECT_EQ(aws_.eksUpdates()[1].nodegroup, "ingress-dev");
  EXPECT_EQ(lastVersionImage(aws_, kExcludedLt), kTargetImage);
}

// An image younger than minImageAge is not a target: nothing is written and Ready says when it
// becomes one; the refresher looks again then (no spec change, no touch) and rolls it.
TEST_F(AmiRefreshE2e, ImageYoungerThanMinImageAgeIsRolledOnlyOnceOldEnough) {
  aws_.setEksAutoCompleteAfter(1);
  ASSERT_NO_FATAL_FAILURE(startController());
  const auto applied = std::chrono::steady_clock::now();
  ASSERT_NO_FATAL_FAILURE(applySampleWith(R"({"minImageAge":"8s"})"));
  ASSERT_TRUE(eventually([&] {
    auto c = condition("Ready");
    return c && c->reason == "NoEligibleImage" &&
           c->message.find("less than minImageAge 8s") != std::string::npos;
  })) << "the young image was not reported";
  EXPECT_NE(condition("Ready")->message.find("becomes a target at"), std::string::npos);
  EXPECT_EQ(describe(takeWriteCalls()), "");
  EXPECT_TRUE(aws_.eksUpdates().empty());

  ASSERT_TRUE(eventually([&] { return ready(); }, std::chrono::seconds(30)))
      << "never rolled once old enough";
  EXPECT_GE(std::chrono::steady_clock::now() - applied, std::chrono::seconds(5));
  ASSERT_EQ(aws_.eksUpdates().size(), 1U);
  EXPECT_EQ(aws_.eksUpdates()[0].nodegroup, "workers-update");
}

// A window that opens `hours_ahead` hours from now (on the hour, UTC) for one hour, and when.
std::pair<std::string, TimePoint> windowLater(int hours_ahead) {
  const auto now = std::chrono::floor<std::chrono::hours>(realClock().now());
  const TimePoint opens = now + std::chrono::hours(hours_ahead);
  const std::string stamp = formatRfc3339(opens);  // 2026-12-02T23:00:00Z
  const std::string schedule = fmt::format("0 {} * * *", std::stoi(stamp.substr(11, 2)));
  return {
      fmt::format(R"({{"maintenanceWindows":[{{"schedule":"{}","duration":"1h"}}]}})", schedule),
      opens};
}

// Outside the window nothing starts (state Waiting, nextWindow right, zero AWS writes); inside
// it the first group starts; when the window closes with that update running, the update is
// not interrupted and finishes, and the second group waits for the next window.
TEST_F(AmiRefreshE2e, MaintenanceWindowGatesStartsButNotRunningUpdates) {
  aws_.addLaunchTemplate(
      {.id = "lt-0a1b2c3d4e5f6000e",
       .name = "workers-extra",
       .default_version = 1,
       .versions = {{.version_number = 1,
                     .create_time = "2026-11-01T00:00:00.000Z",
                     .data = {.image_id = std::string(kOldImage), .instance_type = "m6i.large"}}}});
  aws_.addNodegroup({.cluster = std::string(kCluster),
                     .name = "workers-extra",
                     .launch_template = opsy::testing::FakeLaunchTemplateRef{
                         .id = "lt-0a1b2c3d4e5f6000e", .version = "1"}});
  ASSERT_NO_FATAL_FAILURE(startController());
  auto [closed, opens] = windowLater(12);
  ASSERT_NO_FATAL_FAILURE(applySampleWith(closed));
  ASSERT_TRUE(eventually([&] {
    auto r = refresher();
    return r && r->status.state == kStateWaiting;
  })) << "never Waiting for the window";
  auto r = refresher();
  EXPECT_EQ(r->status.next_window, std::optional<TimePoint>(opens));
  EXPECT_NE(group(*r, "workers-update")->message.find("outside the maintenance windows"),
            std::string::npos);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(describe(takeWriteCalls()), "");

  // A window open now (every minute, for an hour): the first group (by name) starts.
  ASSERT_NO_FATAL_FAILURE(
      patchSpec(R"({"maintenanceWindows":[{"schedule":"* * * * *","duration":"1h"}]})"));
  ASSERT_TRUE(eventually([&] { return aws_.eksUpdates().size() == 1; }))
      << "nothing started inside the window";
  const auto first = aws_.eksUpdates()[0];
  EXPECT_EQ(first.nodegroup, "workers-extra");

  // The window closes while that update runs: it goes on and finishes; the other group waits.
  ASSERT_NO_FATAL_FAILURE(patchSpec(closed));
  ASSERT_TRUE(eventually([&] {
    auto now = refresher();
    const NodegroupStatus* g = now ? group(*now, "workers-update") : nullptr;
    return g != nullptr && g->message.find("outside the maintenance windows") != std::string::npos;
  }));
  EXPECT_EQ(phaseOf("workers-extra"), std::optional<Phase>(Phase::Updating));
  ASSERT_TRUE(aws_.completeEksUpdate(first.id));
  ASSERT_NO_FATAL_FAILURE(touch("after-window"));
  ASSERT_TRUE(eventually([&] { return phaseOf("workers-extra") == Phase::Succeeded; }))
      << "the running update was not followed to its end";
  ASSERT_TRUE(eventually([&] {
    auto now = refresher();
    return now && now->status.state == kStateWaiting;
  }));
  EXPECT_EQ(aws_.eksUpdates().size(), 1U) << "a group started outside the window";
  EXPECT_EQ(versionCount(aws_, kUpdateLt), 1U);
  EXPECT_EQ(phaseOf("workers-update"), std::optional<Phase>(Phase::Pending));
}

}  // namespace
}  // namespace opsy::ami_refresh
