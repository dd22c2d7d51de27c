// Auto Scaling lifecycle hooks in the fake, through libopsy's client where it has the call:
// hooks are put and described as Auto Scaling does, and an instance refresh on a group with a
// termination hook takes its instances through Terminating:Wait one at a time, until
// CompleteLifecycleAction or the hook's timeout.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "opsy/aws/autoscaling.h"
#include "opsy/aws/credentials.h"
#include "opsy/http/curl_transport.h"
#include "support/loopback_server.h"
#include "unit/fake_aws/fake_aws_test_util.h"

namespace opsy::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::testing::StartsWith;

constexpr const char* kLt = "lt-0123456789abcdef0";
constexpr const char* kOldImage = "ami-0000000000000000a";
constexpr const char* kNewImage = "ami-0000000000000000b";
constexpr const char* kGroup = "self-managed";
constexpr const char* kHook = "opsy-drain";
constexpr const char* kTerminating = "autoscaling:EC2_INSTANCE_TERMINATING";

class LifecycleTest : public FakeAwsTest {
 protected:
  void SetUp() override {
    clearProxyEnvironment();
    FakeAwsTest::SetUp();
    aws_->addLaunchTemplate(
        {.id = kLt,
         .name = "nodes",
         .versions = {{.data = {.image_id = kOldImage}}, {.data = {.image_id = kNewImage}}}});
    aws_->addAutoScalingGroup({.name = kGroup,
                               .launch_template = FakeLaunchTemplateRef{kLt, "", "1"},
                               .desired_capacity = 2,
                               .availability_zones = {"us-east-1a", "us-east-1b"}});
    aws::ClientOptions o;
    o.region = "us-east-1";
    o.transport = http::makeCurlTransport({}).value();
    o.credentials =
        aws::makeStaticProvider({std::string(kFakeAccessKey), std::string(kFakeSecretKey), "", {}});
    o.endpoint_url = aws_->endpoint();
    o.clock = clock_;  // the fake checks signatures against this clock
    o.retry.max_attempts = 1;
    client_asg_ = aws::makeAutoScalingClient(o).value();
  }

  void TearDown() override {
    // The client's transport keeps its connection open; closed first, the server stops at once
    // instead of waiting out its read timeout.
    client_asg_.reset();
    FakeAwsTest::TearDown();
  }

  void putHook(int heartbeat_seconds, const std::string& default_result) {
    aws::LifecycleHook h;
    h.name = kHook;
    h.auto_scaling_group_name = kGroup;
    h.transition = kTerminating;
    h.heartbeat_timeout_seconds = heartbeat_seconds;
    h.default_result = default_result;
    auto st = client_asg_->putLifecycleHook(h);
    ASSERT_TRUE(st.has_value()) << st.error().toString();
  }

  std::string startRefresh() {
    auto id = client_asg_->startInstanceRefresh(
        {.auto_scaling_group_name = kGroup,
         .desired_launch_template = aws::LaunchTemplateSpec{kLt, "", "2"}});
    EXPECT_TRUE(id.has_value()) << id.error().toString();
    return id.value_or("");
  }

  aws::InstanceRefresh refresh() {
    auto r = client_asg_->describeInstanceRefreshes(kGroup);
    EXPECT_TRUE(r.has_value()) << r.error().toString();
    return r && !r->empty() ? r->front() : aws::InstanceRefresh{};
  }

  // The group's instances as DescribeAutoScalingGroups lists them.
  std::vector<aws::AsgInstance> members() {
    auto g = client_asg_->describeAutoScalingGroups({.names = {kGroup}});
    EXPECT_TRUE(g.has_value()) << g.error().toString();
    return g && !g->empty() ? g->front().instances : std::vector<aws::AsgInstance>{};
  }
  std::vector<std::string> idsIn(const std::string& lifecycle_state) {
    std::vector<std::string> out;
    for (const auto& i : members()) {
      if (i.lifecycle_state == lifecycle_state) {
        out.push_back(i.id);
      }
    }
    return out;
  }

  std::string ec2State(const std::string& id) {
    for (const auto& i : aws_->instances()) {
      if (i.id == id) {
        return i.state;
      }
    }
    return "";
  }
  std::vector<std::string> groupIds(const std::string& ec2_state) {
    std::vector<std::string> out;
    for (const auto& i : aws_->instances()) {
      if (i.asg == kGroup && i.state == ec2_state) {
        out.push_back(i.id);
      }
    }
    return out;
  }

  aws::LifecycleActionTarget target(const std::string& instance) {
    return {kGroup, kHook, instance};
  }

  aws::AutoScalingApiPtr client_asg_;
};

// A hook put through the client is described with every field, and GlobalTimeout is 100 times
// the heartbeat timeout, capped at 48 hours; DefaultResult defaults to ABANDON.
TEST_F(LifecycleTest, PutHookIsDescribedWithGlobalTimeout) {
  putHook(600, "CONTINUE");
  auto hooks = client_asg_->describeLifecycleHooks(kGroup);
  ASSERT_TRUE(hooks.has_value()) << hooks.error().toString();
  ASSERT_THAT(*hooks, SizeIs(1));
  const aws::LifecycleHook& h = hooks->front();
  EXPECT_EQ(h.name, kHook);
  EXPECT_EQ(h.auto_scaling_group_name, kGroup);
  EXPECT_EQ(h.transition, kTerminating);
  EXPECT_EQ(h.heartbeat_timeout_seconds, 600);
  EXPECT_EQ(h.global_timeout_seconds, 60000);
  EXPECT_EQ(h.default_result, "CONTINUE");
  EXPECT_EQ(h.notification_target_arn, "");

  ASSERT_EQ(asg("Action=PutLifecycleHook&AutoScalingGroupName=self-managed&LifecycleHookName="
                "other&LifecycleTransition=autoscaling:EC2_INSTANCE_LAUNCHING")
                ->status,
            200);
  hooks = client_asg_->describeLifecycleHooks(kGroup, {"other"});
  ASSERT_TRUE(hooks.has_value()) << hooks.error().toString();
  ASSERT_THAT(*hooks, SizeIs(1));
  EXPECT_EQ(hooks->front().heartbeat_timeout_seconds, 3600);
  EXPECT_EQ(hooks->front().global_timeout_seconds, 172800);
  EXPECT_EQ(hooks->front().default_result, "ABANDON");
  EXPECT_THAT(aws_->lifecycleHooks(kGroup), SizeIs(2));
}

// Putting a hook again replaces only what the call names: the transition may be left out.
TEST_F(LifecycleTest, PutHookAgainUpdatesOnlyWhatItNames) {
  putHook(600, "CONTINUE");
  ASSERT_EQ(asg("Action=PutLifecycleHook&AutoScalingGroupName=self-managed&LifecycleHookName="
                "opsy-drain&HeartbeatTimeout=900")
                ->status,
            200);
  auto hooks = aws_->lifecycleHooks(kGroup);
  ASSERT_THAT(hooks, SizeIs(1));
  EXPECT_EQ(hooks[0].transition, kTerminating);
  EXPECT_EQ(hooks[0].heartbeat_timeout_seconds, 900);
  EXPECT_EQ(hooks[0].default_result, "CONTINUE");
}

// PutLifecycleHook refuses what Auto Scaling refuses, each with a 400 ValidationError, and the
// 51st hook of a group with LimitExceeded.
TEST_F(LifecycleTest, PutHookValidatesItsParameters) {
  const std::string base = "Action=PutLifecycleHook&AutoScalingGroupName=self-managed&";
  const std::string term = "&LifecycleTransition=" + std::string(kTerminating);
  struct Case {
    std::string params;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"LifecycleHookName=h", "LifecycleTransition is required"},
           {"LifecycleHookName=h&LifecycleTransition=autoscaling:EC2_INSTANCE_STOPPING",
            "Invalid Lifecycle Transition"},
           {"LifecycleHookName=h" + term + "&HeartbeatTimeout=29", "between 30 and 7200"},
           {"LifecycleHookName=h" + term + "&HeartbeatTimeout=7201", "between 30 and 7200"},
           {"LifecycleHookName=h" + term + "&DefaultResult=RETRY", "CONTINUE or ABANDON"},
           {"LifecycleHookName=bad%20name" + term, "regular expression pattern"},
           {"HeartbeatTimeout=60" + term, "Value null at 'lifecycleHookName'"},
       }) {
    auto res = asg(base + c.params);
    EXPECT_EQ(res->status, 400) << c.params;
    EXPECT_EQ(xmlText(res->body, "Code"), "ValidationError") << c.params;
    EXPECT_THAT(xmlText(res->body, "Message"), HasSubstr(c.message)) << c.params;
  }
  auto res = asg("Action=PutLifecycleHook&AutoScalingGroupName=gone&LifecycleHookName=h" + term);
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(xmlText(res->body, "Message"), StartsWith("AutoScalingGroup name not found - "));
  EXPECT_TRUE(aws_->lifecycleHooks(kGroup).empty());

  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(asg(base + "LifecycleHookName=h" + std::to_string(i) + term)->status, 200);
  }
  res = asg(base + "LifecycleHookName=h50" + term);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(xmlText(res->body, "Code"), "LimitExceeded");
  // Replacing one of the 50 is not a 51st.
  EXPECT_EQ(asg(base + "LifecycleHookName=h7" + term)->status, 200);
}

// Describing the hooks of a group that does not exist is NotFound through the client.
TEST_F(LifecycleTest, DescribeHooksOfMissingGroupIsNotFound) {
  auto hooks = client_asg_->describeLifecycleHooks("gone");
  ASSERT_FALSE(hooks.has_value());
  EXPECT_EQ(hooks.error().code, ErrorCode::NotFound);
}

// The heart of it: with a termination hook, a refresh of 2 instances launches one replacement
// and holds one old instance in Terminating:Wait (still EC2 running) until it is completed, then
// does the same with the next, then succeeds.
TEST_F(LifecycleTest, RefreshOnHookedGroupWaitsForEachInstanceInTurn) {
  putHook(600, "ABANDON");
  const auto old_ids = groupIds("running");
  ASSERT_THAT(old_ids, SizeIs(2));
  startRefresh();

  aws::InstanceRefresh r = refresh();
  EXPECT_EQ(r.status, aws::InstanceRefreshStatus::InProgress);
  EXPECT_EQ(r.percentage_complete, 0);
  EXPECT_EQ(r.instances_to_update, 2);
  EXPECT_THAT(idsIn("Terminating:Wait"), ElementsAre(old_ids[0]));
  EXPECT_EQ(ec2State(old_ids[0]), "running");
  EXPECT_THAT(groupIds("running"), SizeIs(3));  // the replacement runs beside it
  // More ticks change nothing while the instance waits.
  aws_->tickInstanceRefreshes();
  refresh();
  EXPECT_THAT(idsIn("Terminating:Wait"), ElementsAre(old_ids[0]));
  EXPECT_THAT(groupIds("running"), SizeIs(3));

  ASSERT_TRUE(client_asg_->completeLifecycleAction(target(old_ids[0]), "CONTINUE"));
  EXPECT_EQ(ec2State(old_ids[0]), "shutting-down");
  r = refresh();  // this tick finishes its termination and takes the next instance
  EXPECT_EQ(ec2State(old_ids[0]), "terminated");
  EXPECT_EQ(r.status, aws::InstanceRefreshStatus::InProgress);
  EXPECT_EQ(r.percentage_complete, 50);
  EXPECT_EQ(r.instances_to_update, 1);
  EXPECT_THAT(idsIn("Terminating:Wait"), ElementsAre(old_ids[1]));

  ASSERT_TRUE(client_asg_->completeLifecycleAction(target(old_ids[1]), "ABANDON"));
  r = refresh();
  EXPECT_EQ(r.status, aws::InstanceRefreshStatus::Successful);
  EXPECT_EQ(r.percentage_complete, 100);
  EXPECT_EQ(r.instances_to_update, 0);
  EXPECT_EQ(ec2State(old_ids[1]), "terminated");
  auto running = groupIds("running");
  ASSERT_THAT(running, SizeIs(2));
  for (const auto& i : aws_->instances()) {
    if (i.state == "running") {
      EXPECT_EQ(i.image_id, kNewImage);
    }
  }
  EXPECT_EQ(aws_->autoScalingGroup(kGroup)->launch_template->version, "2");
  EXPECT_THAT(idsIn("InService"), SizeIs(2));

  auto log = aws_->lifecycleActionLog();
  ASSERT_THAT(log, SizeIs(2));
  EXPECT_EQ(log[0].operation, "CompleteLifecycleAction");
  EXPECT_EQ(log[0].instance_id, old_ids[0]);
  EXPECT_EQ(log[0].result, "CONTINUE");
  EXPECT_EQ(log[1].instance_id, old_ids[1]);
  EXPECT_EQ(log[1].result, "ABANDON");
  EXPECT_EQ(aws_->callCount("autoscaling", "CompleteLifecycleAction"), 2);
}

// A heartbeat moves the deadline to now + HeartbeatTimeout; once that passes with no call, the
// hook's DefaultResult ends the wait on the next tick, and completing it then is NotFound.
TEST_F(LifecycleTest, HeartbeatExtendsTheDeadlineThenDefaultResultApplies) {
  putHook(60, "CONTINUE");
  const auto old_ids = groupIds("running");
  startRefresh();
  refresh();
  ASSERT_THAT(idsIn("Terminating:Wait"), ElementsAre(old_ids[0]));

  clock_->advance(std::chrono::seconds(50));
  ASSERT_TRUE(client_asg_->recordLifecycleActionHeartbeat(target(old_ids[0])));
  clock_->advance(std::chrono::seconds(50));  // 100 s after it began, 50 s after the heartbeat
  refresh();
  EXPECT_THAT(idsIn("Terminating:Wait"), ElementsAre(old_ids[0]));

  clock_->advance(std::chrono::seconds(11));
  aws_->tickInstanceRefreshes();
  EXPECT_EQ(ec2State(old_ids[0]), "shutting-down");
  auto log = aws_->lifecycleActionLog();
  ASSERT_THAT(log, SizeIs(2));
  EXPECT_EQ(log[0].operation, "RecordLifecycleActionHeartbeat");
  EXPECT_EQ(log[0].result, "");
  EXPECT_EQ(log[1].operation, "Timeout");
  EXPECT_EQ(log[1].result, "CONTINUE");
  EXPECT_EQ(log[1].time, parseRfc3339("2026-03-01T12:01:51Z").value());

  auto late = client_asg_->completeLifecycleAction(target(old_ids[0]), "CONTINUE");
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.error().code, ErrorCode::NotFound);
  // The refresh moved on to the next instance.
  refresh();
  EXPECT_THAT(idsIn("Terminating:Wait"), ElementsAre(old_ids[1]));
}

// Heartbeats never keep an instance past the global timeout (100 x HeartbeatTimeout).
TEST_F(LifecycleTest, HeartbeatsStopAtTheGlobalTimeout) {
  putHook(30, "ABANDON");
  const auto old_ids = groupIds("running");
  startRefresh();
  refresh();
  const TimePoint began = clock_->now();
  ASSERT_THAT(aws_->lifecycleWaits(), SizeIs(1));
  int heartbeats = 0;
  for (int i = 0; i < 200; ++i) {
    clock_->advance(std::chrono::seconds(25));
    if (!client_asg_->recordLifecycleActionHeartbeat(target(old_ids[0]))) {
      break;
    }
    ++heartbeats;
    ASSERT_THAT(aws_->lifecycleWaits(), SizeIs(1));
    EXPECT_LE(aws_->lifecycleWaits()[0].deadline, began + std::chrono::seconds(3000));
  }
  EXPECT_EQ(heartbeats, 119);  // 119 x 25 s = 2975 s; at 3000 s the wait is over
  EXPECT_EQ(ec2State(old_ids[0]), "shutting-down");
  EXPECT_EQ(aws_->lifecycleActionLog().back().operation, "Timeout");
  EXPECT_EQ(aws_->lifecycleActionLog().back().result, "ABANDON");
}

// Completing or heartbeating an instance that waits on nothing is Auto Scaling's ValidationError
// "No active Lifecycle Action found with instance ID …", NotFound through the client.
TEST_F(LifecycleTest, ActionOnInstanceNotWaitingIsNotFound) {
  putHook(600, "ABANDON");
  const auto ids = groupIds("running");
  auto res =
      asg("Action=CompleteLifecycleAction&AutoScalingGroupName=self-managed&"
          "LifecycleHookName=opsy-drain&LifecycleActionResult=CONTINUE&InstanceId=" +
          ids[0]);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(xmlText(res->body, "Code"), "ValidationError");
  EXPECT_EQ(xmlText(res->body, "Message"),
            "No active Lifecycle Action found with instance ID " + ids[0]);
  auto done = client_asg_->completeLifecycleAction(target(ids[0]), "CONTINUE");
  ASSERT_FALSE(done.has_value());
  EXPECT_EQ(done.error().code, ErrorCode::NotFound);
  auto beat = client_asg_->recordLifecycleActionHeartbeat(target("i-00000000000000000"));
  ASSERT_FALSE(beat.has_value());
  EXPECT_EQ(beat.error().code, ErrorCode::NotFound);
  EXPECT_EQ(ec2State(ids[0]), "running");
  EXPECT_TRUE(aws_->lifecycleActionLog().empty());
}

// The action calls check what they are given before looking for the action.
TEST_F(LifecycleTest, ActionCallsValidateTheirParameters) {
  putHook(600, "ABANDON");
  const std::string id = groupIds("running")[0];
  const std::string base = "AutoScalingGroupName=self-managed&InstanceId=" + id + "&";
  struct Case {
    std::string params;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"Action=CompleteLifecycleAction&" + base + "LifecycleHookName=opsy-drain",
            "Value null at 'lifecycleActionResult'"},
           {"Action=CompleteLifecycleAction&" + base +
                "LifecycleHookName=opsy-drain&LifecycleActionResult=MAYBE",
            "Must be CONTINUE or ABANDON"},
           {"Action=CompleteLifecycleAction&" + base +
                "LifecycleHookName=nope&LifecycleActionResult=CONTINUE",
            "No Lifecycle Hook found with name nope for group self-managed"},
           {"Action=RecordLifecycleActionHeartbeat&" + base + "LifecycleHookName=nope",
            "No Lifecycle Hook found with name nope for group self-managed"},
           {"Action=RecordLifecycleActionHeartbeat&AutoScalingGroupName=self-managed&"
            "LifecycleHookName=opsy-drain",
            "Either InstanceId or LifecycleActionToken"},
           {"Action=RecordLifecycleActionHeartbeat&InstanceId=" + id +
                "&LifecycleHookName=opsy-drain",
            "Value null at 'autoScalingGroupName'"},
       }) {
    auto res = asg(c.params);
    EXPECT_EQ(res->status, 400) << c.params;
    EXPECT_EQ(xmlText(res->body, "Code"), "ValidationError") << c.params;
    EXPECT_THAT(xmlText(res->body, "Message"), HasSubstr(c.message)) << c.params;
  }
  auto res = asg("Action=CompleteLifecycleAction&AutoScalingGroupName=gone&InstanceId=" + id +
                 "&LifecycleHookName=opsy-drain&LifecycleActionResult=CONTINUE");
  EXPECT_THAT(xmlText(res->body, "Message"), StartsWith("AutoScalingGroup name not found - "));
}

// The LifecycleActionToken names the action as well as the instance id does.
TEST_F(LifecycleTest, ActionTokenCompletesTheWait) {
  putHook(600, "ABANDON");
  startRefresh();
  refresh();
  auto waits = aws_->lifecycleWaits();
  ASSERT_THAT(waits, SizeIs(1));
  EXPECT_THAT(waits[0].token, SizeIs(36));
  auto res =
      asg("Action=CompleteLifecycleAction&AutoScalingGroupName=self-managed&"
          "LifecycleHookName=opsy-drain&LifecycleActionResult=CONTINUE&"
          "LifecycleActionToken=" +
          waits[0].token);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(ec2State(waits[0].instance_id), "shutting-down");
  res =
      asg("Action=RecordLifecycleActionHeartbeat&AutoScalingGroupName=self-managed&"
          "LifecycleHookName=opsy-drain&LifecycleActionToken=" +
          waits[0].token);
  EXPECT_EQ(xmlText(res->body, "Message"),
            "No active Lifecycle Action found with token " + waits[0].token);
}

// A group without a termination hook (none, or only a launching one) keeps the old behaviour:
// no instance waits, and the refresh replaces every instance at once when it succeeds.
TEST_F(LifecycleTest, GroupWithoutTerminationHookReplacesAllAtOnce) {
  aws_->addLifecycleHook(
      {.asg = kGroup, .name = "on-launch", .transition = "autoscaling:EC2_INSTANCE_LAUNCHING"});
  aws_->setInstanceRefreshAutoCompleteAfter(2);
  const auto old_ids = groupIds("running");
  startRefresh();
  EXPECT_EQ(refresh().status, aws::InstanceRefreshStatus::InProgress);
  EXPECT_TRUE(idsIn("Terminating:Wait").empty());
  EXPECT_EQ(groupIds("running"), old_ids);
  EXPECT_EQ(refresh().status, aws::InstanceRefreshStatus::Successful);
  EXPECT_EQ(groupIds("terminated"), old_ids);
  EXPECT_THAT(groupIds("running"), SizeIs(2));
  EXPECT_TRUE(aws_->lifecycleWaits().empty());
}

// A cancelled refresh takes no further instance, and the one already waiting stays in
// Terminating:Wait until it is completed.
TEST_F(LifecycleTest, CancelledRefreshLeavesTheWaitingInstanceWaiting) {
  putHook(600, "ABANDON");
  const auto old_ids = groupIds("running");
  const std::string id = startRefresh();
  refresh();
  ASSERT_THAT(idsIn("Terminating:Wait"), ElementsAre(old_ids[0]));
  auto cancelled = client_asg_->cancelInstanceRefresh(kGroup);
  ASSERT_TRUE(cancelled.has_value()) << cancelled.error().toString();
  EXPECT_EQ(*cancelled, id);
  EXPECT_EQ(refresh().status, aws::InstanceRefreshStatus::Cancelled);
  EXPECT_THAT(idsIn("Terminating:Wait"), ElementsAre(old_ids[0]));

  ASSERT_TRUE(client_asg_->completeLifecycleAction(target(old_ids[0]), "ABANDON"));
  aws_->tickInstanceRefreshes();
  aws_->tickInstanceRefreshes();
  EXPECT_EQ(ec2State(old_ids[0]), "terminated");
  EXPECT_EQ(ec2State(old_ids[1]), "running");
  EXPECT_TRUE(idsIn("Terminating:Wait").empty());
  EXPECT_EQ(refresh().status, aws::InstanceRefreshStatus::Cancelled);

  auto again = client_asg_->cancelInstanceRefresh(kGroup);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::NotFound);
}

// DescribeAutoScalingInstances reports each instance's group, zone, template and lifecycle state
// (Terminating:Wait too), HealthStatus in capitals, filtered by id and paged by MaxRecords.
TEST_F(LifecycleTest, DescribeAutoScalingInstancesReportsTheWait) {
  putHook(600, "ABANDON");
  const auto old_ids = groupIds("running");
  startRefresh();
  auto res = asg("Action=DescribeAutoScalingInstances&InstanceIds.member.1=" + old_ids[0] +
                 "&InstanceIds.member.2=i-0ffffffffffffffff");
  ASSERT_EQ(res->status, 200) << res->body;
  // The describe was the tick that took the first instance.
  EXPECT_EQ(xmlTexts(res->body, "//AutoScalingInstances/member/InstanceId"),
            std::vector<std::string>{old_ids[0]});
  EXPECT_EQ(xmlText(res->body, "LifecycleState"), "Terminating:Wait");
  EXPECT_EQ(xmlText(res->body, "HealthStatus"), "HEALTHY");
  EXPECT_EQ(xmlText(res->body, "AutoScalingGroupName"), kGroup);
  EXPECT_EQ(xmlText(res->body, "AvailabilityZone"), "us-east-1a");
  EXPECT_EQ(xmlText(res->body, "LaunchTemplateId"), kLt);
  EXPECT_EQ(xmlText(res->body, "Version"), "1");
  EXPECT_EQ(xmlText(res->body, "ProtectedFromScaleIn"), "false");

  res = asg("Action=DescribeAutoScalingInstances&MaxRecords=2");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_THAT(xmlTexts(res->body, "//AutoScalingInstances/member/InstanceId"), SizeIs(2));
  std::string next = xmlText(res->body, "NextToken");
  ASSERT_FALSE(next.empty());
  res = asg("Action=DescribeAutoScalingInstances&MaxRecords=2&NextToken=" + next);
  ASSERT_EQ(res->status, 200) << res->body;
  // The replacement, in the zone of the instance it replaces.
  EXPECT_THAT(xmlTexts(res->body, "//AutoScalingInstances/member/LifecycleState"),
              ElementsAre("InService"));
  EXPECT_EQ(xmlText(res->body, "AvailabilityZone"), "us-east-1a");
  EXPECT_EQ(xmlText(res->body, "Version"), "2");
  EXPECT_EQ(xmlText(res->body, "NextToken"), "");

  res = asg("Action=DescribeAutoScalingInstances&MaxRecords=51");
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(xmlText(res->body, "Code"), "ValidationError");
}

// Deleting a hook first completes its outstanding actions (CONTINUE for a terminating instance).
TEST_F(LifecycleTest, DeleteHookContinuesItsWaitingInstances) {
  putHook(600, "ABANDON");
  const auto old_ids = groupIds("running");
  startRefresh();
  refresh();
  auto res =
      asg("Action=DeleteLifecycleHook&AutoScalingGroupName=self-managed&LifecycleHookName="
          "opsy-drain");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(ec2State(old_ids[0]), "shutting-down");
  EXPECT_TRUE(aws_->lifecycleHooks(kGroup).empty());
  EXPECT_EQ(aws_->lifecycleActionLog().back().result, "CONTINUE");
  res =
      asg("Action=DeleteLifecycleHook&AutoScalingGroupName=self-managed&LifecycleHookName="
          "opsy-drain");
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(xmlText(res->body, "Message"), HasSubstr("No Lifecycle Hook found"));
}

// Each new operation can be denied like the others: 403 AccessDenied, PermissionDenied through
// the client, and the call is still logged.
TEST_F(LifecycleTest, DeniedLifecycleOperationsAnswerAccessDenied) {
  for (const char* action :
       {"autoscaling:PutLifecycleHook", "autoscaling:DescribeLifecycleHooks",
        "autoscaling:DeleteLifecycleHook", "autoscaling:CompleteLifecycleAction",
        "autoscaling:RecordLifecycleActionHeartbeat", "autoscaling:DescribeAutoScalingInstances",
        "autoscaling:CancelInstanceRefresh"}) {
    ASSERT_TRUE(aws_->denyOperation(action)) << action;
  }
  aws::LifecycleHook h;
  h.name = kHook;
  h.auto_scaling_group_name = kGroup;
  h.transition = kTerminating;
  auto put = client_asg_->putLifecycleHook(h);
  ASSERT_FALSE(put.has_value());
  EXPECT_EQ(put.error().code, ErrorCode::PermissionDenied);
  EXPECT_EQ(put.error().provider_code, "AccessDenied");
  EXPECT_THAT(put.error().message,
              HasSubstr("autoscaling:PutLifecycleHook on resource: arn:aws:autoscaling:"));
  EXPECT_EQ(client_asg_->describeLifecycleHooks(kGroup).error().code, ErrorCode::PermissionDenied);
  EXPECT_EQ(client_asg_->completeLifecycleAction(target("i-1"), "CONTINUE").error().code,
            ErrorCode::PermissionDenied);
  EXPECT_EQ(client_asg_->recordLifecycleActionHeartbeat(target("i-1")).error().code,
            ErrorCode::PermissionDenied);
  EXPECT_EQ(client_asg_->cancelInstanceRefresh(kGroup).error().code, ErrorCode::PermissionDenied);
  for (const char* op : {"DeleteLifecycleHook", "DescribeAutoScalingInstances"}) {
    auto res = asg(std::string("Action=") + op +
                   "&AutoScalingGroupName=self-managed&LifecycleHookName=opsy-drain");
    EXPECT_EQ(res->status, 403) << op;
    EXPECT_EQ(xmlText(res->body, "Code"), "AccessDenied") << op;
  }
  EXPECT_EQ(aws_->callCount("autoscaling", "PutLifecycleHook"), 1);
  EXPECT_TRUE(aws_->lifecycleHooks(kGroup).empty());
}

// The state dump lists hooks, waiting instances and each group instance's lifecycle state.
TEST_F(LifecycleTest, StateJsonListsHooksAndWaits) {
  putHook(600, "ABANDON");
  startRefresh();
  refresh();
  std::string state = aws_->stateJson();
  EXPECT_THAT(state, HasSubstr("\"lifecycleHooks\":[{\"autoScalingGroup\":\"self-managed\","
                               "\"name\":\"opsy-drain\""));
  EXPECT_THAT(state, HasSubstr("\"lifecycleWaits\":[{\"autoScalingGroup\":\"self-managed\""));
  EXPECT_THAT(state, HasSubstr("\"lifecycleState\":\"Terminating:Wait\""));
}

}  // namespace
}  // namespace opsy::testing
