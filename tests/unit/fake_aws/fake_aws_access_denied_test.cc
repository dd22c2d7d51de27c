// IAM denials from the fake: each service's code, status, document shape and wording.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <regex>

#include "unit/fake_aws/fake_aws_test_util.h"

namespace opsy::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr const char* kUser = "arn:aws:iam::123456789012:user/fake-user";
constexpr const char* kTopic = "arn:aws:sns:us-east-1:123456789012:opsy-events";

class AccessDeniedTest : public FakeAwsTest {
 protected:
  void SetUp() override {
    FakeAwsTest::SetUp();
    aws_->addImage({.id = "ami-0123456789abcdef0", .name = "base"});
    aws_->addAutoScalingGroup({.name = "asg-a"});
    aws_->addNodegroup({.cluster = "prod", .name = "ng-a"});
    aws_->addSnsTopic(kTopic);
    aws_->addSesIdentity("example.com");
  }
  void deny(const std::string& action) { ASSERT_TRUE(aws_->denyOperation(action)) << action; }

  httplib::Result sns(const std::string& params) {
    return query("sns", "Version=2010-03-31&" + params);
  }
  httplib::Result sesSend(const std::string& from) {
    return send(
        {"POST",
         "/v2/email/outbound-emails",
         R"({"FromEmailAddress":")" + from +
             R"(","Destination":{"ToAddresses":["ops@example.com"]},)"
             R"("Content":{"Simple":{"Subject":{"Data":"s"},"Body":{"Text":{"Data":"b"}}}}})",
         "application/json",
         {}},
        SignSpec{.service = "ses"});
  }
};

// A denied EC2 read is 403 UnauthorizedOperation in EC2's <Response><Errors><Error> document,
// naming the signer and the action in plain words: read calls have no resource and no encoded
// message.
TEST_F(AccessDeniedTest, Ec2ReadDenialNamesCallerAndActionWithoutEncodedMessage) {
  deny("ec2:DescribeImages");
  auto res = ec2("Action=DescribeImages&Owner.1=self");
  ASSERT_EQ(res->status, 403);
  auto doc = parseXml(res->body);
  auto err = doc.child("Response").child("Errors").child("Error");
  EXPECT_STREQ(err.child_value("Code"), "UnauthorizedOperation");
  EXPECT_EQ(std::string(err.child_value("Message")),
            std::string("You are not authorized to perform this operation. User: ") + kUser +
                " is not authorized to perform: ec2:DescribeImages because no identity-based "
                "policy allows the ec2:DescribeImages action");
  EXPECT_EQ(doc.child("Response").child_value("RequestID"),
            res->get_header_value("x-amzn-RequestId"));
  // Other operations are not affected.
  EXPECT_EQ(ec2("Action=DescribeKeyPairs")->status, 200);
}

// A denied EC2 change names the resource's ARN and ends with an opaque encoded authorization
// message, different on every call.
TEST_F(AccessDeniedTest, Ec2ChangeDenialNamesResourceAndAddsEncodedMessage) {
  deny("ec2:CreateTags");
  auto denied = [&] {
    auto res =
        ec2("Action=CreateTags&ResourceId.1=ami-0123456789abcdef0&Tag.1.Key=a&Tag.1.Value=b");
    EXPECT_EQ(res->status, 403);
    EXPECT_EQ(xmlText(res->body, "Code"), "UnauthorizedOperation");
    return xmlText(res->body, "Message");
  };
  const std::string message = denied();
  const std::string head =
      std::string("You are not authorized to perform this operation. User: ") + kUser +
      " is not authorized to perform: ec2:CreateTags on resource: "
      "arn:aws:ec2:us-east-1::image/ami-0123456789abcdef0 because no identity-based policy "
      "allows the ec2:CreateTags action. Encoded authorization failure message: ";
  ASSERT_THAT(message, StartsWith(head));
  EXPECT_TRUE(std::regex_match(message.substr(head.size()), std::regex("[A-Za-z0-9_-]{200,}")))
      << message;
  EXPECT_NE(denied(), message);
  EXPECT_TRUE(aws_->image("ami-0123456789abcdef0")->tags.empty());
}

// EC2 checks permission before DryRun: a denied dry run is UnauthorizedOperation, never
// DryRunOperation.
TEST_F(AccessDeniedTest, DeniedEc2DryRunIsUnauthorizedOperation) {
  deny("ec2:DeregisterImage");
  auto res = ec2("Action=DeregisterImage&ImageId=ami-0123456789abcdef0&DryRun=true");
  EXPECT_EQ(res->status, 403);
  EXPECT_EQ(xmlText(res->body, "Code"), "UnauthorizedOperation");
}

// Auto Scaling denies with 403 AccessDenied in the awsQuery ErrorResponse (Type Sender); its
// Describe calls name no resource, its group calls name the group's ARN.
TEST_F(AccessDeniedTest, AutoScalingDenialIsAccessDeniedInErrorResponse) {
  deny("autoscaling:DescribeAutoScalingGroups");
  deny("autoscaling:StartInstanceRefresh");
  auto res = asg("Action=DescribeAutoScalingGroups");
  ASSERT_EQ(res->status, 403);
  auto doc = parseXml(res->body);
  auto root = doc.child("ErrorResponse");
  EXPECT_STREQ(root.attribute("xmlns").value(), "http://autoscaling.amazonaws.com/doc/2011-01-01/");
  EXPECT_STREQ(root.child("Error").child_value("Type"), "Sender");
  EXPECT_STREQ(root.child("Error").child_value("Code"), "AccessDenied");
  EXPECT_EQ(std::string(root.child("Error").child_value("Message")),
            std::string("User: ") + kUser +
                " is not authorized to perform: autoscaling:DescribeAutoScalingGroups because no "
                "identity-based policy allows the autoscaling:DescribeAutoScalingGroups action");
  EXPECT_EQ(root.child_value("RequestId"), res->get_header_value("x-amzn-RequestId"));

  res = asg("Action=StartInstanceRefresh&AutoScalingGroupName=asg-a");
  EXPECT_EQ(res->status, 403);
  EXPECT_THAT(xmlText(res->body, "Message"),
              HasSubstr("autoscaling:StartInstanceRefresh on resource: "
                        "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:"
                        "00000000-0000-0000-0000-000000000000:autoScalingGroupName/asg-a because"));
  EXPECT_TRUE(aws_->instanceRefreshes().empty());
}

// SNS's denial is its own code, 403 AuthorizationError, with the action spelled "SNS:Publish"
// and the topic as the resource.
TEST_F(AccessDeniedTest, SnsDenialIsAuthorizationErrorOnTheTopic) {
  deny("sns:Publish");
  auto res = sns(std::string("Action=Publish&Message=hi&TopicArn=") + uriEncode(kTopic, false));
  ASSERT_EQ(res->status, 403);
  auto doc = parseXml(res->body);
  auto err = doc.child("ErrorResponse").child("Error");
  EXPECT_STREQ(doc.child("ErrorResponse").attribute("xmlns").value(),
               "http://sns.amazonaws.com/doc/2010-03-31/");
  EXPECT_STREQ(err.child_value("Code"), "AuthorizationError");
  EXPECT_STREQ(err.child_value("Type"), "Sender");
  EXPECT_EQ(std::string(err.child_value("Message")),
            std::string("User: ") + kUser +
                " is not authorized to perform: SNS:Publish on "
                "resource: " +
                kTopic + " because no identity-based policy allows the SNS:Publish action");
  EXPECT_TRUE(aws_->snsMessages().empty());
}

// EKS denies with 403 AccessDeniedException: the code in X-Amzn-ErrorType, the body a JSON object
// with only "message", naming the node group's ARN.
TEST_F(AccessDeniedTest, EksDenialIsAccessDeniedExceptionWithHeaderAndJsonBody) {
  deny("eks:DescribeNodegroup");
  auto res = eksGet("/clusters/prod/node-groups/ng-a");
  ASSERT_EQ(res->status, 403);
  EXPECT_THAT(res->get_header_value("X-Amzn-ErrorType"), StartsWith("AccessDeniedException:"));
  EXPECT_THAT(res->get_header_value("Content-Type"), StartsWith("application/json"));
  rapidjson::Document body;
  body.Parse(res->body.c_str());
  ASSERT_TRUE(body.IsObject()) << res->body;
  EXPECT_EQ(body.MemberCount(), 1u);
  EXPECT_EQ(std::string(body["message"].GetString()),
            std::string("User: ") + kUser +
                " is not authorized to perform: eks:DescribeNodegroup on resource: "
                "arn:aws:eks:us-east-1:123456789012:nodegroup/prod/ng-a/"
                "00000000-0000-0000-0000-000000000000 because no identity-based policy allows the "
                "eks:DescribeNodegroup action");
  // Listing the cluster's node groups is another action, on the cluster.
  deny("eks:ListNodegroups");
  res = eksGet("/clusters/prod/node-groups");
  EXPECT_EQ(res->status, 403);
  EXPECT_THAT(res->body, HasSubstr("eks:ListNodegroups on resource: "
                                   "arn:aws:eks:us-east-1:123456789012:cluster/prod because"));
}

// SES v2 denies with 403 AccessDeniedException, naming the verified identity it checked.
TEST_F(AccessDeniedTest, SesDenialNamesTheSendingIdentity) {
  deny("ses:SendEmail");
  auto res = sesSend("Opsy <opsy@example.com>");
  ASSERT_EQ(res->status, 403);
  EXPECT_THAT(res->get_header_value("X-Amzn-ErrorType"), StartsWith("AccessDeniedException"));
  EXPECT_THAT(res->body, HasSubstr("ses:SendEmail on resource: "
                                   "arn:aws:ses:us-east-1:123456789012:identity/example.com"));
  EXPECT_TRUE(aws_->sesEmails().empty());
}

// A role whose trust policy refuses the web identity: 403 AccessDenied, and STS says no more.
TEST_F(AccessDeniedTest, WebIdentityDenialIsAccessDenied) {
  deny("sts:AssumeRoleWithWebIdentity");
  auto res =
      send({"POST",
            "/",
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%"
            "3A123456789012%3Arole%2Fr&RoleSessionName=opsy&WebIdentityToken=fake-web-identity-"
            "token",
            "application/x-www-form-urlencoded",
            {}},
           SignSpec{});
  ASSERT_EQ(res->status, 403);
  EXPECT_EQ(xmlText(res->body, "Code"), "AccessDenied");
  EXPECT_EQ(xmlText(res->body, "Message"),
            "Not authorized to perform sts:AssumeRoleWithWebIdentity");
  EXPECT_EQ(xmlText(res->body, "Type"), "Sender");
}

// GetCallerIdentity needs no permission: it cannot be denied by name, and a rule that denies all
// of STS leaves it answering.
TEST_F(AccessDeniedTest, GetCallerIdentityCannotBeDenied) {
  EXPECT_FALSE(aws_->denyOperation("sts:GetCallerIdentity"));
  aws_->addFault({.service = "sts", .kind = FaultKind::AccessDenied});
  auto res = query("sts", "Action=GetCallerIdentity&Version=2011-06-15");
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(xmlText(res->body, "Arn"), kUser);
}

// denyOperation takes an IAM action, its prefix and name case-insensitive as in IAM, and refuses
// what the fake does not serve (a typo would otherwise never fire).
TEST_F(AccessDeniedTest, DenyOperationTakesIamActionsAndRefusesUnknownOnes) {
  EXPECT_FALSE(aws_->denyOperation("ec2:DescribeImage"));
  EXPECT_FALSE(aws_->denyOperation("s3:GetObject"));
  EXPECT_FALSE(aws_->denyOperation("DescribeImages"));
  EXPECT_TRUE(aws_->denyOperation("SNS:Publish"));
  EXPECT_TRUE(aws_->denyOperation("EC2:describeimages", 1));
  EXPECT_EQ(ec2("Action=DescribeImages&Owner.1=self")->status, 403);
  // count = 1: the rule retires after one denial, as a policy fixed by the operator would.
  EXPECT_EQ(ec2("Action=DescribeImages&Owner.1=self")->status, 200);
}

// The denial names whoever signed: temporary credentials are their assumed-role session.
TEST_F(AccessDeniedTest, DenialNamesTheSigningPrincipal) {
  aws_->addSessionCredentials("ASIAEXAMPLESESSION01", "session-secret", "session-token");
  deny("ec2:DescribeImages");
  auto res = query("ec2", "Action=DescribeImages&Version=2016-11-15",
                   SignSpec{.access_key = "ASIAEXAMPLESESSION01",
                            .secret_key = "session-secret",
                            .session_token = "session-token"});
  ASSERT_EQ(res->status, 403);
  EXPECT_THAT(xmlText(res->body, "Message"),
              HasSubstr("User: arn:aws:sts::123456789012:assumed-role/opsy-controller/opsy is not "
                        "authorized to perform: ec2:DescribeImages"));
  EXPECT_THAT(xmlText(res->body, "Message"), Not(HasSubstr("fake-user")));
}

// A seed (and so the binary's --fault) denies with {deny: action}.
TEST_F(AccessDeniedTest, SeedDeniesByIamAction) {
  ASSERT_TRUE(aws_->loadSeed(R"(faults: [{deny: "eks:DescribeNodegroup", count: 1}])"));
  EXPECT_FALSE(aws_->loadSeed(R"(faults: [{deny: "eks:DescribeNodeGroups"}])"));
  EXPECT_EQ(eksGet("/clusters/prod/node-groups/ng-a")->status, 403);
  EXPECT_EQ(eksGet("/clusters/prod/node-groups/ng-a")->status, 200);
  auto calls = aws_->calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].error_code, "AccessDeniedException");
  EXPECT_EQ(calls[0].region, "us-east-1");
}

}  // namespace
}  // namespace opsy::testing
