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
