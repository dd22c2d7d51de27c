// "Not found" as each service says it: EKS 404s naming the cluster and node group, EC2's own
// launch template codes, and Auto Scaling's empty list or ValidationError.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "unit/fake_aws/fake_aws_test_util.h"

namespace opsy::testing {
namespace {

using ::testing::StartsWith;

class NotFoundTest : public FakeAwsTest {
 protected:
  void SetUp() override {
    FakeAwsTest::SetUp();
    aws_->addNodegroup({.cluster = "prod", .name = "ng-a"});
    aws_->addLaunchTemplate({.id = "lt-0123456789abcdef0",
                             .name = "nodes",
                             .versions = {{.data = {.image_id = "ami-0123456789abcdef0"}}}});
    aws_->addAutoScalingGroup({.name = "asg-a"});
  }

  struct EksError {
    int status = 0;
    std::string type;  // X-Amzn-ErrorType up to ':'
    rapidjson::Document body;
  };
  EksError eksError(const std::string& path) {
    auto res = eksGet(path);
    EksError e;
    e.status = res->status;
    std::string type = res->get_header_value("X-Amzn-ErrorType");
    e.type = type.substr(0, type.find(':'));
    e.body.Parse(res->body.c_str());
    EXPECT_TRUE(e.body.IsObject()) << res->body;
    return e;
  }
  static std::string member(const rapidjson::Document& d, const char* key) {
    return d.IsObject() && d.HasMember(key) && d[key].IsString() ? d[key].GetString() : "<none>";
  }
};

// DescribeCluster, ListNodegroups and DescribeNodegroup of a cluster EKS does not have: 404
// ResourceNotFoundException, "No cluster found for name: X." with clusterName in the body.
TEST_F(NotFoundTest, EksUnknownClusterIsResourceNotFoundNamingTheCluster) {
  for (const std::string path :
       {"/clusters/nope", "/clusters/nope/node-groups", "/clusters/nope/node-groups/ng-a"}) {
    EksError e = eksError(path);
    EXPECT_EQ(e.status, 404) << path;
    EXPECT_EQ(e.type, "ResourceNotFoundException") << path;
    EXPECT_EQ(member(e.body, "message"), "No cluster found for name: nope.") << path;
    EXPECT_EQ(member(e.body, "clusterName"), "nope") << path;
  }
}

// A node group the cluster does not have: 404 ResourceNotFoundException "No node group found for
// name: X." with clusterName and nodegroupName.
TEST_F(NotFoundTest, EksUnknownNodegroupIsResourceNotFoundNamingBoth) {
  EksError e = eksError("/clusters/prod/node-groups/ng-zzz");
  EXPECT_EQ(e.status, 404);
  EXPECT_EQ(e.type, "ResourceNotFoundException");
  EXPECT_EQ(member(e.body, "message"), "No node group found for name: ng-zzz.");
  EXPECT_EQ(member(e.body, "clusterName"), "prod");
  EXPECT_EQ(member(e.body, "nodegroupName"), "ng-zzz");
}

// EC2 has two codes for a missing launch template: one for ids, another (with "Exception") for
// names; malformed ids are their own error.
TEST_F(NotFoundTest, Ec2UnknownLaunchTemplateUsesTheIdOrNameCode) {
  struct Case {
    std::string params;
    std::string code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"Action=DescribeLaunchTemplates&LaunchTemplateId.1=lt-0000000000000dead",
       "InvalidLaunchTemplateId.NotFound",
       "The specified launch template, with template ID lt-0000000000000dead, does not exist."},
      {"Action=DescribeLaunchTemplates&LaunchTemplateName.1=gone",
       "InvalidLaunchTemplateName.NotFoundException",
       "At least one of the launch templates specified in the request does not exist."},
      {"Action=DescribeLaunchTemplateVersions&LaunchTemplateId=lt-0000000000000dead",
       "InvalidLaunchTemplateId.NotFound",
       "The specified launch template, with template ID lt-0000000000000dead, does not exist."},
      {"Action=DescribeLaunchTemplateVersions&LaunchTemplateName=gone",
       "InvalidLaunchTemplateName.NotFoundException",
       "The specified launch template, with template name gone, does not exist."},
      {"Action=DescribeLaunchTemplates&LaunchTemplateId.1=lt-nothex",
       "InvalidLaunchTemplateId.Malformed",
       "The specified launch template ID lt-nothex is malformed."},
  };
  for (const Case& c : cases) {
    auto res = ec2(c.params);
    EXPECT_EQ(res->status, 400) << c.params;
    EXPECT_EQ(xmlText(res->body, "Code"), c.code) << c.params;
    EXPECT_EQ(xmlText(res->body, "Message"), c.message) << c.params;
  }
}

// DescribeAutoScalingGroups of a group that does not exist is not an error: 200, no members.
TEST_F(NotFoundTest, AutoScalingUnknownGroupIsAnEmptyList) {
  auto res = asg("Action=DescribeAutoScalingGroups&AutoScalingGroupNames.member.1=gone");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_TRUE(xmlTexts(res->body, "//AutoScalingGroups/member").empty());
}

// The calls on one group name a missing group in a 400 ValidationError (Auto Scaling has no
// not-found code), DescribeInstanceRefreshes included.
TEST_F(NotFoundTest, AutoScalingGroupCallsNameAMissingGroupInValidationError) {
  for (const std::string action : {"StartInstanceRefresh", "DescribeInstanceRefreshes",
                                   "UpdateAutoScalingGroup", "CancelInstanceRefresh"}) {
    auto res = asg("Action=" + action + "&AutoScalingGroupName=gone");
    EXPECT_EQ(res->status, 400) << action;
    EXPECT_EQ(xmlText(res->body, "Code"), "ValidationError") << action;
    EXPECT_THAT(xmlText(res->body, "Message"), StartsWith("AutoScalingGroup name not found - "))
        << action;
  }
  EXPECT_TRUE(aws_->instanceRefreshes().empty());
}

}  // namespace
}  // namespace opsy::testing
