#include "opsy/aws/autoscaling.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "aws_test_util.h"

namespace opsy::aws {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr const char* kAsgUrl = "https://autoscaling.eu-west-1.amazonaws.com/";

std::string groupsPage(const std::string& members, const std::string& next) {
  return R"(<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <DescribeAutoScalingGroupsResult><AutoScalingGroups>)" +
         members + "</AutoScalingGroups>" +
         (next.empty() ? "" : "<NextToken>" + next + "</NextToken>") +
         "</DescribeAutoScalingGroupsResult><ResponseMetadata><RequestId>r</RequestId>"
         "</ResponseMetadata></DescribeAutoScalingGroupsResponse>";
}

std::string groupMember(const std::string& name) {
  return R"(<member>
  <AutoScalingGroupName>)" +
         name + R"(</AutoScalingGroupName>
  <AutoScalingGroupARN>arn:aws:autoscaling:eu-west-1:1:autoScalingGroup:x:autoScalingGroupName/)" +
         name + R"(</AutoScalingGroupARN>
  <LaunchTemplate><LaunchTemplateId>lt-0abc</LaunchTemplateId><LaunchTemplateName>self-managed</LaunchTemplateName><Version>3</Version></LaunchTemplate>
  <MinSize>1</MinSize><MaxSize>5</MaxSize><DesiredCapacity>2</DesiredCapacity>
  <Instances><member><InstanceId>i-1</InstanceId><LifecycleState>InService</LifecycleState>
    <HealthStatus>Healthy</HealthStatus><LaunchTemplate><LaunchTemplateId>lt-0abc</LaunchTemplateId><Version>2</Version></LaunchTemplate></member></Instances>
  <Tags><member><ResourceId>)" +
         name +
         R"(</ResourceId><Key>eks:cluster-name</Key><Value>prod</Value><PropagateAtLaunch>true</PropagateAtLaunch></member></Tags>
</member>)";
}

class AutoScalingTest : public testing::Test {
 protected:
  AutoScalingApiPtr client() {
    auto c = makeAutoScalingClient(h_.options());
    EXPECT_TRUE(c.has_value());
    return *c;
  }
  ClientHarness h_;
};

// Tag filters use the awsQuery .member.N form and pages follow NextToken.
TEST_F(AutoScalingTest, DescribeGroupsEncodesFiltersAndPaginates) {
  h_.transport->expect("POST", kAsgUrl).reply(200, groupsPage(groupMember("asg-a"), "p2"));
  h_.transport->expect("POST", kAsgUrl).reply(200, groupsPage(groupMember("asg-b"), ""));
  DescribeAutoScalingGroupsInput in;
  in.filters = {{"tag:eks:cluster-name", {"prod"}}, {"tag-key", {"k8s.io/cluster/prod"}}};
  auto groups = client()->describeAutoScalingGroups(in);
  ASSERT_TRUE(groups.has_value()) << groups.error().toString();
  ASSERT_EQ(groups->size(), 2u);
  auto requests = h_.transport->requests();
  EXPECT_THAT(
      formPairs(requests[0].body),
      ElementsAre(Pair("Action", "DescribeAutoScalingGroups"), Pair("Version", "2011-01-01"),
                  Pair("Filters.member.1.Name", "tag:eks:cluster-name"),
                  Pair("Filters.member.1.Values.member.1", "prod"),
                  Pair("Filters.member.2.Name", "tag-key"),
                  Pair("Filters.member.2.Values.member.1", "k8s.io/cluster/prod"),
                  Pair("MaxRecords", "100")));
  EXPECT_EQ(formMap(requests[1].body)["NextToken"], "p2");
  EXPECT_THAT(std::string(http::findHeader(requests[0].headers, "Authorization").value_or("")),
              HasSubstr("/eu-west-1/autoscaling/aws4_request"));
  const AutoScalingGroup& g = (*groups)[0];
  EXPECT_EQ(g.name, "asg-a");
  ASSERT_TRUE(g.launch_template.has_value());
  EXPECT_EQ(g.launch_template->id, "lt-0abc");
  EXPECT_EQ(g.launch_template->version, "3");
  EXPECT_EQ(g.desired_capacity, 2);
  ASSERT_EQ(g.instances.size(), 1u);
  EXPECT_EQ(g.instances[0].launch_template->version, "2");
  EXPECT_THAT(g.tags, ElementsAre(Pair("eks:cluster-name", "prod")));
}

// A mixed-instances group reports the template from its policy.
TEST_F(AutoScalingTest, MixedInstancesPolicyTemplate) {
  h_.transport->reply(200, groupsPage("<member><AutoScalingGroupName>m</AutoScalingGroupName>"
                                      "<MixedInstancesPolicy><LaunchTemplate>"
                                      "<LaunchTemplateSpecification><LaunchTemplateId>lt-mix"
                                      "</LaunchTemplateId><Version>$Latest</Version>"
                                      "</LaunchTemplateSpecification></LaunchTemplate>"
                                      "</MixedInstancesPolicy></member>",
                                      ""));
  DescribeAutoScalingGroupsInput in;
  in.names = {"m"};
  auto groups = client()->describeAutoScalingGroups(in);
  ASSERT_TRUE(groups.has_value());
  EXPECT_TRUE((*groups)[0].mixed_instances_policy);
  EXPECT_EQ((*groups)[0].launch_template->id, "lt-mix");
  EXPECT_EQ(formMap(h_.transport->lastRequest().body)["AutoScalingGroupNames.member.1"], "m");
}

// StartInstanceRefresh sends the desired template and every preference that was set.
TEST_F(AutoScalingTest, StartInstanceRefreshEncodes) {
  h_.transport->reply(200,
                      "<StartInstanceRefreshResponse><StartInstanceRefreshResult>"
                      "<InstanceRefreshId>ir-1</InstanceRefreshId></StartInstanceRefreshResult>"
                      "</StartInstanceRefreshResponse>");
  StartInstanceRefreshInput in;
  in.auto_scaling_group_name = "asg-a";
  in.desired_launch_template = LaunchTemplateSpec{"lt-0abc", "", "7"};
  in.preferences.min_healthy_percentage = 90;
  in.preferences.instance_warmup_seconds = 300;
  in.preferences.skip_matching = true;
  in.preferences.auto_rollback = false;
  in.preferences.checkpoint_percentages = {50, 100};
  auto id = client()->startInstanceRefresh(in);
  ASSERT_TRUE(id.has_value()) << id.error().toString();
  EXPECT_EQ(*id, "ir-1");
  EXPECT_THAT(formPairs(h_.transport->lastRequest().body),
              ElementsAre(Pair("Action", "StartInstanceRefresh"), Pair("Version", "2011-01-01"),
                          Pair("AutoScalingGroupName", "asg-a"), Pair("Strategy", "Rolling"),
                          Pair("DesiredConfiguration.LaunchTemplate.LaunchTemplateId", "lt-0abc"),
                          Pair("DesiredConfiguration.LaunchTemplate.Version", "7"),
                          Pair("Preferences.MinHealthyPercentage", "90"),
                          Pair("Preferences.InstanceWarmup", "300"),
                          Pair("Preferences.SkipMatching", "true"),
                          Pair("Preferences.AutoRollback", "false"),
                          Pair("Preferences.CheckpointPercentages.member.1", "50"),
                          Pair("Preferences.CheckpointPercentages.member.2", "100")));
}

// An active refresh makes a new one a Conflict (InstanceRefreshInProgress), not retried.
TEST_F(AutoScalingTest, RefreshInProgressIsConflict) {
  h_.transport->reply(400,
                      "<ErrorResponse><Error><Type>Sender</Type>"
                      "<Code>InstanceRefreshInProgress</Code><Message>An Instance Refresh is "
                      "already in progress</Message></Error><RequestId>asg-r</RequestId>"
                      "</ErrorResponse>");
  StartInstanceRefreshInput in;
  in.auto_scaling_group_name = "asg-a";
  auto id = client()->startInstanceRefresh(in);
  ASSERT_FALSE(id.has_value());
  EXPECT_EQ(id.error().code, ErrorCode::Conflict);
  EXPECT_EQ(id.error().request_id, "asg-r");
  EXPECT_EQ(h_.transport->requests().size(), 1u);
}

// awsQuery Throttling arrives as HTTP 400 and is still retried as a throttle.
TEST_F(AutoScalingTest, ThrottlingIsRetried) {
  h_.transport->reply(400,
                      "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                      "<Message>Rate exceeded</Message></Error><RequestId>t</RequestId>"
                      "</ErrorResponse>");
  h_.transport->reply(200,
                      "<DescribeInstanceRefreshesResponse><DescribeInstanceRefreshesResult>"
                      "<InstanceRefreshes/></DescribeInstanceRefreshesResult>"
                      "</DescribeInstanceRefreshesResponse>");
  EXPECT_TRUE(client()->describeInstanceRefreshes("asg-a").has_value());
  EXPECT_EQ(h_.transport->requests().size(), 2u);
}

// Refreshes are filtered by id with InstanceRefreshIds.member.N, paged, and parsed.
TEST_F(AutoScalingTest, DescribeInstanceRefreshesPaginatesAndParses) {
  auto page = [](const std::string& id, const std::string& next) {
    return "<DescribeInstanceRefreshesResponse><DescribeInstanceRefreshesResult>"
           "<InstanceRefreshes><member><InstanceRefreshId>" +
           id +
           "</InstanceRefreshId><AutoScalingGroupName>asg-a</AutoScalingGroupName>"
           "<Status>InProgress</Status><StatusReason>Waiting for instances to warm up"
           "</StatusReason><StartTime>2026-11-21T05:00:00Z</StartTime>"
           "<PercentageComplete>40</PercentageComplete><InstancesToUpdate>3"
           "</InstancesToUpdate></member></InstanceRefreshes>" +
           (next.empty() ? "" : "<NextToken>" + next + "</NextToken>") +
           "</DescribeInstanceRefreshesResult></DescribeInstanceRefreshesResponse>";
  };
  h_.transport->reply(200, page("ir-1", "n2"));
  h_.transport->reply(200, page("ir-2", ""));
  auto refreshes = client()->describeInstanceRefreshes("asg-a", {"ir-1", "ir-2"});
  ASSERT_TRUE(refreshes.has_value()) << refreshes.error().toString();
  ASSERT_EQ(refreshes->size(), 2u);
  EXPECT_EQ((*refreshes)[0].status, InstanceRefreshStatus::InProgress);
  EXPECT_EQ((*refreshes)[0].status.text, "InProgress");
  EXPECT_EQ((*refreshes)[0].percentage_complete, 40);
  EXPECT_EQ((*refreshes)[0].instances_to_update, 3);
  EXPECT_EQ((*refreshes)[0].start_time, at("2026-11-21T05:00:00Z"));
  EXPECT_FALSE((*refreshes)[0].end_time.has_value());
  auto first = formMap(h_.transport->requests()[0].body);
  EXPECT_EQ(first["InstanceRefreshIds.member.1"], "ir-1");
  EXPECT_EQ(first["InstanceRefreshIds.member.2"], "ir-2");
  EXPECT_EQ(formMap(h_.transport->requests()[1].body)["NextToken"], "n2");
}

// PutLifecycleHook names the group and hook and sends the transition, heartbeat timeout and
// default result; empty fields (the notification target we never set) are not sent at all.
TEST_F(AutoScalingTest, PutLifecycleHookSendsOnlyWhatIsSet) {
  h_.transport->reply(200,
                      "<PutLifecycleHookResponse><PutLifecycleHookResult/>"
                      "<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>"
                      "</PutLifecycleHookResponse>");
  LifecycleHook hook;
  hook.name = "opsy-drain";
  hook.auto_scaling_group_name = "asg-a";
  hook.transition = "autoscaling:EC2_INSTANCE_TERMINATING";
  hook.heartbeat_timeout_seconds = 600;
  hook.default_result = "CONTINUE";
  auto st = client()->putLifecycleHook(hook);
  ASSERT_TRUE(st.has_value()) << st.error().toString();
  EXPECT_THAT(
      formPairs(h_.transport->lastRequest().body),
      ElementsAre(Pair("Action", "PutLifecycleHook"), Pair("Version", "2011-01-01"),
                  Pair("AutoScalingGroupName", "asg-a"), Pair("LifecycleHookName", "opsy-drain"),
                  Pair("LifecycleTransition", "autoscaling:EC2_INSTANCE_TERMINATING"),
                  Pair("HeartbeatTimeout", "600"), Pair("DefaultResult", "CONTINUE")));
}

// DescribeLifecycleHooks filters by LifecycleHookNames.member.N and reads every field of a hook.
TEST_F(AutoScalingTest, DescribeLifecycleHooksEncodesNamesAndParses) {
  h_.transport->reply(
      200,
      R"(<DescribeLifecycleHooksResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <DescribeLifecycleHooksResult><LifecycleHooks><member>
    <LifecycleHookName>opsy-drain</LifecycleHookName>
    <AutoScalingGroupName>asg-a</AutoScalingGroupName>
    <LifecycleTransition>autoscaling:EC2_INSTANCE_TERMINATING</LifecycleTransition>
    <NotificationTargetARN>arn:aws:sqs:eu-west-1:1:q</NotificationTargetARN>
    <RoleARN>arn:aws:iam::1:role/hook</RoleARN>
    <NotificationMetadata>meta</NotificationMetadata>
    <HeartbeatTimeout>600</HeartbeatTimeout><GlobalTimeout>60000</GlobalTimeout>
    <DefaultResult>ABANDON</DefaultResult>
  </member><member><LifecycleHookName>other</LifecycleHookName>
    <LifecycleTransition>autoscaling:EC2_INSTANCE_LAUNCHING</LifecycleTransition>
  </member></LifecycleHooks></DescribeLifecycleHooksResult>
  <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>
</DescribeLifecycleHooksResponse>)");
  auto hooks = client()->describeLifecycleHooks("asg-a", {"opsy-drain", "other"});
  ASSERT_TRUE(hooks.has_value()) << hooks.error().toString();
  EXPECT_THAT(formPairs(h_.transport->lastRequest().body),
              ElementsAre(Pair("Action", "DescribeLifecycleHooks"), Pair("Version", "2011-01-01"),
                          Pair("AutoScalingGroupName", "asg-a"),
                          Pair("LifecycleHookNames.member.1", "opsy-drain"),
                          Pair("LifecycleHookNames.member.2", "other")));
  ASSERT_EQ(hooks->size(), 2u);
  const LifecycleHook& h = (*hooks)[0];
  EXPECT_EQ(h.name, "opsy-drain");
  EXPECT_EQ(h.auto_scaling_group_name, "asg-a");
  EXPECT_EQ(h.transition, "autoscaling:EC2_INSTANCE_TERMINATING");
  EXPECT_EQ(h.notification_target_arn, "arn:aws:sqs:eu-west-1:1:q");
  EXPECT_EQ(h.role_arn, "arn:aws:iam::1:role/hook");
  EXPECT_EQ(h.notification_metadata, "meta");
  EXPECT_EQ(h.heartbeat_timeout_seconds, 600);
  EXPECT_EQ(h.global_timeout_seconds, 60000);
  EXPECT_EQ(h.default_result, "ABANDON");
  EXPECT_EQ((*hooks)[1].transition, "autoscaling:EC2_INSTANCE_LAUNCHING");
}

// With no names, every hook of the group is asked for: only the group is sent.
TEST_F(AutoScalingTest, DescribeLifecycleHooksWithoutNamesSendsOnlyTheGroup) {
  h_.transport->reply(200,
                      "<DescribeLifecycleHooksResponse><DescribeLifecycleHooksResult>"
                      "<LifecycleHooks/></DescribeLifecycleHooksResult>"
                      "</DescribeLifecycleHooksResponse>");
  auto hooks = client()->describeLifecycleHooks("asg-a");
  ASSERT_TRUE(hooks.has_value()) << hooks.error().toString();
  EXPECT_TRUE(hooks->empty());
  EXPECT_THAT(formPairs(h_.transport->lastRequest().body),
              ElementsAre(Pair("Action", "DescribeLifecycleHooks"), Pair("Version", "2011-01-01"),
                          Pair("AutoScalingGroupName", "asg-a")));
}

// Completing and heartbeating name the group, the hook and the instance; completing adds the
// result.
TEST_F(AutoScalingTest, LifecycleActionCallsNameGroupHookAndInstance) {
  const std::string empty_answer =
      "<CompleteLifecycleActionResponse><CompleteLifecycleActionResult/>"
      "</CompleteLifecycleActionResponse>";
  h_.transport->reply(200, empty_answer);
  h_.transport->reply(200, empty_answer);
  LifecycleActionTarget target{"asg-a", "opsy-drain", "i-0123456789abcdef0"};
  auto done = client()->completeLifecycleAction(target, "CONTINUE");
  ASSERT_TRUE(done.has_value()) << done.error().toString();
  auto beat = client()->recordLifecycleActionHeartbeat(target);
  ASSERT_TRUE(beat.has_value()) << beat.error().toString();
  auto requests = h_.transport->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_THAT(
      formPairs(requests[0].body),
      ElementsAre(Pair("Action", "CompleteLifecycleAction"), Pair("Version", "2011-01-01"),
                  Pair("AutoScalingGroupName", "asg-a"), Pair("LifecycleHookName", "opsy-drain"),
                  Pair("InstanceId", "i-0123456789abcdef0"),
                  Pair("LifecycleActionResult", "CONTINUE")));
  EXPECT_THAT(
      formPairs(requests[1].body),
      ElementsAre(Pair("Action", "RecordLifecycleActionHeartbeat"), Pair("Version", "2011-01-01"),
                  Pair("AutoScalingGroupName", "asg-a"), Pair("LifecycleHookName", "opsy-drain"),
                  Pair("InstanceId", "i-0123456789abcdef0")));
}

// An instance with no pending action (completed already, timed out) is a 400 ValidationError in
// Auto Scaling; it is about that instance, so both calls report NotFound, and neither retries.
TEST_F(AutoScalingTest, NoActiveLifecycleActionIsNotFound) {
  const std::string answer =
      "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code>"
      "<Message>No active Lifecycle Action found with instance ID i-0123456789abcdef0</Message>"
      "</Error><RequestId>v</RequestId></ErrorResponse>";
  h_.transport->reply(400, answer);
  h_.transport->reply(400, answer);
  LifecycleActionTarget target{"asg-a", "opsy-drain", "i-0123456789abcdef0"};
  auto done = client()->completeLifecycleAction(target, "ABANDON");
  ASSERT_FALSE(done.has_value());
  EXPECT_EQ(done.error().code, ErrorCode::NotFound);
  EXPECT_EQ(done.error().provider_code, "ValidationError");
  auto beat = client()->recordLifecycleActionHeartbeat(target);
  ASSERT_FALSE(beat.has_value());
  EXPECT_EQ(beat.error().code, ErrorCode::NotFound);
  EXPECT_EQ(h_.transport->requests().size(), 2u);
}

// Any other ValidationError of these calls (a bad result value, say) stays InvalidArgument.
TEST_F(AutoScalingTest, OtherLifecycleValidationErrorsStayInvalidArgument) {
  h_.transport->reply(400,
                      "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code>"
                      "<Message>1 validation error detected: Value 'MAYBE' at "
                      "'lifecycleActionResult' failed to satisfy constraint</Message></Error>"
                      "<RequestId>v</RequestId></ErrorResponse>");
  auto done = client()->completeLifecycleAction({"asg-a", "opsy-drain", "i-1"}, "MAYBE");
  ASSERT_FALSE(done.has_value());
  EXPECT_EQ(done.error().code, ErrorCode::InvalidArgument);
}

// CancelInstanceRefresh names the group and returns the cancelled refresh's id.
TEST_F(AutoScalingTest, CancelInstanceRefreshReturnsTheCancelledId) {
  h_.transport->reply(200,
                      "<CancelInstanceRefreshResponse><CancelInstanceRefreshResult>"
                      "<InstanceRefreshId>ir-9</InstanceRefreshId></CancelInstanceRefreshResult>"
                      "</CancelInstanceRefreshResponse>");
  auto id = client()->cancelInstanceRefresh("asg-a");
  ASSERT_TRUE(id.has_value()) << id.error().toString();
  EXPECT_EQ(*id, "ir-9");
  EXPECT_THAT(formPairs(h_.transport->lastRequest().body),
              ElementsAre(Pair("Action", "CancelInstanceRefresh"), Pair("Version", "2011-01-01"),
                          Pair("AutoScalingGroupName", "asg-a")));
}

// Cancelling when no refresh is active is ActiveInstanceRefreshNotFound: NotFound.
TEST_F(AutoScalingTest, CancelWithNoActiveRefreshIsNotFound) {
  h_.transport->reply(400,
                      "<ErrorResponse><Error><Type>Sender</Type>"
                      "<Code>ActiveInstanceRefreshNotFound</Code><Message>No in progress or "
                      "pending Instance Refresh found for Auto Scaling group asg-a</Message>"
                      "</Error><RequestId>c</RequestId></ErrorResponse>");
  auto id = client()->cancelInstanceRefresh("asg-a");
  ASSERT_FALSE(id.has_value());
  EXPECT_EQ(id.error().code, ErrorCode::NotFound);
  EXPECT_EQ(id.error().provider_code, "ActiveInstanceRefreshNotFound");
}

// Every spelling in the Auto Scaling model parses to its enumerator and prints back the same.
TEST(AutoScalingEnums, ModelSpellingsRoundTrip) {
  for (std::string_view s :
       {"Pending", "InProgress", "Successful", "Failed", "Cancelling", "Cancelled",
        "RollbackInProgress", "RollbackFailed", "RollbackSuccessful", "Baking"}) {
    EXPECT_NE(parseInstanceRefreshStatus(s), InstanceRefreshStatus::Unknown) << s;
    EXPECT_EQ(toString(parseInstanceRefreshStatus(s)), s);
  }
  EXPECT_EQ(parseInstanceRefreshStatus("Rolling"), InstanceRefreshStatus::Unknown);
}

}  // namespace
}  // namespace opsy::aws
