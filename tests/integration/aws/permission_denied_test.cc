// Every client turns its service's IAM denial (fake AWS, real HTTP and SigV4) into
// PermissionDenied naming the IAM action, with the service's words kept, and never retries it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "integration/aws/fake_aws_clients.h"
#include "opsy/aws/autoscaling.h"
#include "opsy/aws/ec2.h"
#include "opsy/aws/eks.h"
#include "opsy/aws/ses.h"
#include "opsy/aws/sns.h"
#include "opsy/aws/sts.h"

namespace opsy::aws {
namespace {

using ::testing::HasSubstr;

constexpr const char* kUser = "User: arn:aws:iam::123456789012:user/fake-user";

class PermissionDeniedTest : public FakeAwsClientsTest {
 protected:
  // The error must be PermissionDenied for `action`, from a 403 with `code`, with `words` (the
  // service's message) in it, after a single attempt even though three were allowed.
  void expectDenied(const Error& e, const std::string& action, const std::string& code,
                    const std::string& words) {
    EXPECT_EQ(e.code, ErrorCode::PermissionDenied) << e.toString();
    EXPECT_EQ(e.action, action);
    EXPECT_EQ(e.provider_code, code);
    EXPECT_EQ(e.http_status, 403);
    EXPECT_FALSE(e.request_id.empty());
    EXPECT_THAT(e.message, HasSubstr(words));
    EXPECT_EQ(attempts_, 1) << "a denial is not retried";
    attempts_ = 0;
  }
};

// EC2: 403 UnauthorizedOperation; a denied change keeps its encoded authorization message.
TEST_F(PermissionDeniedTest, Ec2UnauthorizedOperationIsPermissionDenied) {
  ASSERT_TRUE(fake_.denyOperation("ec2:DescribeImages"));
  ASSERT_TRUE(fake_.denyOperation("ec2:CreateTags"));
  auto ec2 = makeEc2Client(options("us-east-1", 3)).value();
  auto images = ec2->describeImages({.owners = {"self"}});
  ASSERT_FALSE(images);
  expectDenied(images.error(), "ec2:DescribeImages", "UnauthorizedOperation",
               std::string("You are not authorized to perform this operation. ") + kUser +
                   " is not authorized to perform: ec2:DescribeImages because no identity-based "
                   "policy allows the ec2:DescribeImages action");
  auto tagged = ec2->createTags({"ami-0123456789abcdef0"}, {{"k", "v"}});
  ASSERT_FALSE(tagged);
  expectDenied(tagged.error(), "ec2:CreateTags", "UnauthorizedOperation",
               "ec2:CreateTags on resource: arn:aws:ec2:us-east-1::image/ami-0123456789abcdef0 "
               "because no identity-based policy allows the ec2:CreateTags action. Encoded "
               "authorization failure message: ");
}

// EKS: 403 AccessDeniedException from the X-Amzn-ErrorType header, message from the JSON body.
TEST_F(PermissionDeniedTest, EksAccessDeniedExceptionIsPermissionDenied) {
  fake_.addNodegroup({.cluster = "prod", .name = "ng-a"});
  ASSERT_TRUE(fake_.denyOperation("eks:DescribeNodegroup"));
  ASSERT_TRUE(fake_.denyOperation("eks:ListNodegroups"));
  auto eks = makeEksClient(options("us-west-2", 3)).value();
  auto ng = eks->describeNodegroup("prod", "ng-a");
  ASSERT_FALSE(ng);
  expectDenied(ng.error(), "eks:DescribeNodegroup", "AccessDeniedException",
               std::string(kUser) +
                   " is not authorized to perform: eks:DescribeNodegroup on resource: "
                   "arn:aws:eks:us-west-2:123456789012:nodegroup/prod/ng-a/");
  auto listed = eks->listNodegroups("prod");
  ASSERT_FALSE(listed);
  expectDenied(listed.error(), "eks:ListNodegroups", "AccessDeniedException",
               "eks:ListNodegroups on resource: arn:aws:eks:us-west-2:123456789012:cluster/prod");
}

// Auto Scaling: 403 AccessDenied in the awsQuery ErrorResponse.
TEST_F(PermissionDeniedTest, AutoScalingAccessDeniedIsPermissionDenied) {
  fake_.addAutoScalingGroup({.name = "asg-a"});
  ASSERT_TRUE(fake_.denyOperation("autoscaling:DescribeAutoScalingGroups"));
  ASSERT_TRUE(fake_.denyOperation("autoscaling:StartInstanceRefresh"));
  auto asg = makeAutoScalingClient(options("us-east-1", 3)).value();
  auto groups = asg->describeAutoScalingGroups({});
  ASSERT_FALSE(groups);
  expectDenied(groups.error(), "autoscaling:DescribeAutoScalingGroups", "AccessDenied",
               std::string(kUser) +
                   " is not authorized to perform: autoscaling:DescribeAutoScalingGroups because "
                   "no identity-based policy allows the autoscaling:DescribeAutoScalingGroups "
                   "action");
  auto started = asg->startInstanceRefresh({.auto_scaling_group_name = "asg-a"});
  ASSERT_FALSE(started);
  expectDenied(started.error(), "autoscaling:StartInstanceRefresh", "AccessDenied",
               "autoscaling:StartInstanceRefresh on resource: arn:aws:autoscaling:us-east-1:");
}

// SNS: 403 AuthorizationError, SNS's own code for the same thing.
TEST_F(PermissionDeniedTest, SnsAuthorizationErrorIsPermissionDenied) {
  const std::string topic = "arn:aws:sns:eu-west-1:123456789012:opsy-events";
  fake_.addSnsTopic(topic);
  ASSERT_TRUE(fake_.denyOperation("sns:Publish"));
  auto sns = makeSnsClient(options("eu-west-1", 3)).value();
  auto published = sns->publish({.topic_arn = topic, .message = "hello"});
  ASSERT_FALSE(published);
  expectDenied(published.error(), "sns:Publish", "AuthorizationError",
               std::string(kUser) + " is not authorized to perform: SNS:Publish on resource: " +
                   topic + " because no identity-based policy allows the SNS:Publish action");
  EXPECT_TRUE(fake_.snsMessages().empty());
}

// SES v2: 403 AccessDeniedException naming the sending identity.
TEST_F(PermissionDeniedTest, SesAccessDeniedExceptionIsPermissionDenied) {
  fake_.addSesIdentity("example.com");
  ASSERT_TRUE(fake_.denyOperation("ses:SendEmail"));
  auto ses = makeSesClient(options("eu-west-1", 3)).value();
  auto sent = ses->sendEmail(
      {.from = "opsy@example.com", .to = {"ops@example.com"}, .subject = "s", .text_body = "b"});
  ASSERT_FALSE(sent);
  expectDenied(sent.error(), "ses:SendEmail", "AccessDeniedException",
               "ses:SendEmail on resource: arn:aws:ses:eu-west-1:123456789012:identity/"
               "example.com");
  EXPECT_TRUE(fake_.sesEmails().empty());
}

// STS: a role that will not trust the web identity is 403 AccessDenied, PermissionDenied too.
TEST_F(PermissionDeniedTest, StsWebIdentityAccessDeniedIsPermissionDenied) {
  ASSERT_TRUE(fake_.denyOperation("sts:AssumeRoleWithWebIdentity"));
  auto sts = makeStsClient(options("us-east-1", 3)).value();
  auto role =
      sts->assumeRoleWithWebIdentity({.role_arn = "arn:aws:iam::123456789012:role/opsy-controller",
                                      .role_session_name = "opsy",
                                      .web_identity_token = "fake-web-identity-token"});
  ASSERT_FALSE(role);
  expectDenied(role.error(), "sts:AssumeRoleWithWebIdentity", "AccessDenied",
               "Not authorized to perform sts:AssumeRoleWithWebIdentity");
}

}  // namespace
}  // namespace opsy::aws
