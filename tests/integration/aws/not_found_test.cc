// Every client turns its service's "not found" (fake AWS, real HTTP and SigV4) into NotFound with
// the service's words kept; Auto Scaling's empty list stays an empty list.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "integration/aws/fake_aws_clients.h"
#include "opsy/aws/autoscaling.h"
#include "opsy/aws/ec2.h"
#include "opsy/aws/eks.h"
#include "opsy/aws/sns.h"

namespace opsy::aws {
namespace {

using ::testing::HasSubstr;

class NotFoundTest : public FakeAwsClientsTest {
 protected:
  void SetUp() override {
    FakeAwsClientsTest::SetUp();
    fake_.addNodegroup({.cluster = "prod", .name = "ng-a"});
    fake_.addAutoScalingGroup({.name = "asg-a"});
  }
  static void expectNotFound(const Error& e, const std::string& code, int status,
                             const std::string& words) {
    EXPECT_EQ(e.code, ErrorCode::NotFound) << e.toString();
    EXPECT_EQ(e.provider_code, code);
    EXPECT_EQ(e.http_status, status);
    EXPECT_THAT(e.message, HasSubstr(words));
  }
};

// EKS: 404 ResourceNotFoundException for an unknown cluster or node group.
TEST_F(NotFoundTest, EksResourceNotFoundIsNotFound) {
  auto eks = makeEksClient(options("us-west-2")).value();
  auto listed = eks->listNodegroups("nope");
  ASSERT_FALSE(listed);
  expectNotFound(listed.error(), "ResourceNotFoundException", 404,
                 "No cluster found for name: nope.");
  auto ng = eks->describeNodegroup("prod", "ng-zzz");
  ASSERT_FALSE(ng);
  expectNotFound(ng.error(), "ResourceNotFoundException", 404,
                 "No node group found for name: ng-zzz.");
  ng = eks->describeNodegroup("nope", "ng-a");
  ASSERT_FALSE(ng);
  expectNotFound(ng.error(), "ResourceNotFoundException", 404, "No cluster found for name: nope.");
}

// EC2: an unknown launch template is InvalidLaunchTemplateId.NotFound by id and
// InvalidLaunchTemplateName.NotFoundException by name, both 400 and both NotFound.
TEST_F(NotFoundTest, Ec2UnknownLaunchTemplateIsNotFound) {
  auto ec2 = makeEc2Client(options()).value();
  auto by_id = ec2->describeLaunchTemplateVersions(
      {.launch_template_id = "lt-0000000000000dead", .versions = {"$Default"}});
  ASSERT_FALSE(by_id);
  expectNotFound(by_id.error(), "InvalidLaunchTemplateId.NotFound", 400,
                 "The specified launch template, with template ID lt-0000000000000dead, does not "
                 "exist.");
  auto by_name = ec2->describeLaunchTemplateVersions(
      {.launch_template_name = "gone", .versions = {"$Latest"}});
  ASSERT_FALSE(by_name);
  expectNotFound(by_name.error(), "InvalidLaunchTemplateName.NotFoundException", 400,
                 "The specified launch template, with template name gone, does not exist.");
}

// Auto Scaling: describing a group that does not exist lists nothing; the calls on one group
// answer ValidationError "AutoScalingGroup name not found", which is NotFound too.
TEST_F(NotFoundTest, AutoScalingMissingGroupIsEmptyListOrNotFound) {
  auto asg = makeAutoScalingClient(options()).value();
  auto groups = asg->describeAutoScalingGroups({.names = {"gone"}});
  ASSERT_TRUE(groups) << groups.error().toString();
  EXPECT_TRUE(groups->empty());
  auto started = asg->startInstanceRefresh({.auto_scaling_group_name = "gone"});
  ASSERT_FALSE(started);
  expectNotFound(started.error(), "ValidationError", 400, "AutoScalingGroup name not found - ");
  auto refreshes = asg->describeInstanceRefreshes("gone");
  ASSERT_FALSE(refreshes);
  expectNotFound(refreshes.error(), "ValidationError", 400, "AutoScalingGroup name not found - ");
}

// SNS: publishing to a topic that does not exist is 404 NotFound.
TEST_F(NotFoundTest, SnsUnknownTopicIsNotFound) {
  auto sns = makeSnsClient(options("eu-west-1")).value();
  auto published =
      sns->publish({.topic_arn = "arn:aws:sns:eu-west-1:123456789012:gone", .message = "hi"});
  ASSERT_FALSE(published);
  expectNotFound(published.error(), "NotFound", 404, "Topic does not exist");
}

}  // namespace
}  // namespace opsy::aws
