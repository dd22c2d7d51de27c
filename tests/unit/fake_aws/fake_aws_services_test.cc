#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "unit/fake_aws/fake_aws_test_util.h"

namespace opsy::testing {
namespace {

using ::testing::ElementsAre;

rapidjson::Document parseJson(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.c_str());
  EXPECT_FALSE(doc.HasParseError()) << body;
  return doc;
}

constexpr const char* kLt = "lt-0123456789abcdef0";

class EksTest : public FakeAwsTest {
 protected:
  void SetUp() override {
    FakeAwsTest::SetUp();
    aws_->addLaunchTemplate({.id = kLt,
                             .name = "nodes",
                             .versions = {{.data = {.image_id = "ami-00000000000000001"}},
                                          {.data = {.image_id = "ami-00000000000000002"}}}});
    aws_->addCluster({.name = "prod"});
    aws_->addNodegroup({.cluster = "prod",
                        .name = "ng-a",
                        .launch_template = FakeLaunchTemplateRef{kLt, "nodes", "1"},
                        .asg_names = {"eks-ng-a-asg"}});
    aws_->addNodegroup({.cluster = "prod", .name = "ng-b", .ami_type = "AL2023_x86_64_STANDARD"});
    aws_->addNodegroup({.cluster = "prod",
                        .name = "ng-c",
                        .launch_template = FakeLaunchTemplateRef{kLt, "nodes", "1"}});
  }
  std::string update(const std::string& ng, const std::string& json) {
    auto res = eksPost("/clusters/prod/node-groups/" + ng + "/update-version", json);
    EXPECT_EQ(res->status, 200) << res->body;
    return parseJson(res->body)["update"]["id"].GetString();
  }
};

// ListNodegroups pages with maxResults/nextToken; unknown clusters are 404
// ResourceNotFoundException with the X-Amzn-ErrorType header.
TEST_F(EksTest, ListNodegroupsPaginatesAndReportsMissingCluster) {
  auto res = eksGet("/clusters/prod/node-groups?maxResults=2");
  ASSERT_EQ(res->status, 200) << res->body;
  auto doc = parseJson(res->body);
  ASSERT_EQ(doc["nodegroups"].Size(), 2u);
  std::string token = doc["nextToken"].GetString();
  res = eksGet("/clusters/prod/node-groups?maxResults=2&nextToken=" + uriEncode(token, false));
  doc = parseJson(res->body);
  ASSERT_EQ(doc["nodegroups"].Size(), 1u);
  EXPECT_STREQ(doc["nodegroups"][0].GetString(), "ng-c");
  EXPECT_FALSE(doc.HasMember("nextToken"));
  res = eksGet("/clusters/nope/node-groups");
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(res->get_header_value("X-Amzn-ErrorType").substr(0, 25), "ResourceNotFoundException");
  EXPECT_STREQ(parseJson(res->body)["message"].GetString(), "No cluster found for name: nope.");
  res = eksGet("/clusters/prod/node-groups?maxResults=101");
  EXPECT_EQ(res->status, 400);
}

// DescribeNodegroup returns the launch template, scaling config and ASG names.
TEST_F(EksTest, DescribeNodegroup) {
  auto res = eksGet("/clusters/prod/node-groups/ng-a");
  ASSERT_EQ(res->status, 200);
  auto doc = parseJson(res->body);
  const auto& ng = doc["nodegroup"];
  EXPECT_STREQ(ng["status"].GetString(), "ACTIVE");
  EXPECT_STREQ(ng["launchTemplate"]["id"].GetString(), kLt);
  EXPECT_STREQ(ng["launchTemplate"]["version"].GetString(), "1");
  EXPECT_STREQ(ng["resources"]["autoScalingGroups"][0]["name"].GetString(), "eks-ng-a-asg");
  EXPECT_EQ(ng["scalingConfig"]["desiredSize"].GetInt(), 2);
  EXPECT_EQ(eksGet("/clusters/prod/node-groups/zzz")->status, 404);
  ASSERT_TRUE(aws_->setNodegroupHealth(
      "prod", "ng-a", "DEGRADED",
      {{"Ec2LaunchTemplateVersionMismatch", "version mismatch", {"eks-ng-a-asg"}}}));
  doc = parseJson(eksGet("/clusters/prod/node-groups/ng-a")->body);
  EXPECT_STREQ(doc["nodegroup"]["status"].GetString(), "DEGRADED");
  EXPECT_STREQ(doc["nodegroup"]["health"]["issues"][0]["code"].GetString(),
               "Ec2LaunchTemplateVersionMismatch");
}

// An update is idempotent per clientRequestToken, a second update while one runs is 409
// ResourceInUseException, and DescribeUpdate needs the nodegroupName.
TEST_F(EksTest, UpdateNodegroupVersionLifecycle) {
  std::string body = R"({"launchTemplate":{"id":"lt-0123456789abcdef0","version":"2"},)"
                     R"("clientRequestToken":"t-1"})";
  std::string id = update("ng-a", body);
  EXPECT_EQ(update("ng-a", body), id);
  EXPECT_EQ(aws_->nodegroup("prod", "ng-a")->status, "UPDATING");
  auto res = eksPost("/clusters/prod/node-groups/ng-a/update-version",
                     R"({"launchTemplate":{"id":"lt-0123456789abcdef0","version":"2"}})");
  EXPECT_EQ(res->status, 409);
  EXPECT_EQ(res->get_header_value("X-Amzn-ErrorType").substr(0, 22), "ResourceInUseException");
  EXPECT_EQ(eksGet("/clusters/prod/updates/" + id)->status, 404);
  res = eksGet("/clusters/prod/updates/" + id + "?nodegroupName=ng-a");
  ASSERT_EQ(res->status, 200);
  auto doc = parseJson(res->body);
  EXPECT_STREQ(doc["update"]["status"].GetString(), "InProgress");
  EXPECT_STREQ(doc["update"]["params"][1]["type"].GetString(), "LaunchTemplateVersion");
  EXPECT_STREQ(doc["update"]["params"][1]["value"].GetString(), "2");
  ASSERT_TRUE(aws_->completeEksUpdate(id));
  doc = parseJson(eksGet("/clusters/prod/updates/" + id + "?nodegroupName=ng-a")->body);
  EXPECT_STREQ(doc["update"]["status"].GetString(), "Successful");
  EXPECT_EQ(aws_->nodegroup("prod", "ng-a")->launch_template->version, "2");
  EXPECT_EQ(aws_->nodegroup("prod", "ng-a")->status, "ACTIVE");
}

// A config update is a ConfigUpdate that blocks other updates while it runs and, once
// successful, is what DescribeNodegroup reports as updateConfig.
TEST_F(EksTest, UpdateNodegroupConfigLifecycle) {
  auto doc = parseJson(eksGet("/clusters/prod/node-groups/ng-a")->body);
  EXPECT_EQ(doc["nodegroup"]["updateConfig"]["maxUnavailable"].GetInt(), 1);
  std::string body =
      R"({"updateConfig":{"maxUnavailablePercentage":25},"clientRequestToken":"c-1"})";
  auto res = eksPost("/clusters/prod/node-groups/ng-a/update-config", body);
  ASSERT_EQ(res->status, 200) << res->body;
  doc = parseJson(res->body);
  std::string id = doc["update"]["id"].GetString();
  EXPECT_STREQ(doc["update"]["type"].GetString(), "ConfigUpdate");
  EXPECT_STREQ(doc["update"]["status"].GetString(), "InProgress");
  EXPECT_EQ(
      parseJson(
          eksPost("/clusters/prod/node-groups/ng-a/update-config", body)->body)["update"]["id"]
          .GetString(),
      id);
  res = eksPost("/clusters/prod/node-groups/ng-a/update-version",
                R"({"launchTemplate":{"id":"lt-0123456789abcdef0","version":"2"}})");
  EXPECT_EQ(res->status, 409);
  EXPECT_EQ(eksPost("/clusters/prod/node-groups/ng-a/update-config",
                    R"({"updateConfig":{"maxUnavailable":1,"maxUnavailablePercentage":5}})")
                ->status,
            400);
  ASSERT_TRUE(aws_->completeEksUpdate(id));
  doc = parseJson(eksGet("/clusters/prod/updates/" + id + "?nodegroupName=ng-a")->body);
  EXPECT_STREQ(doc["update"]["status"].GetString(), "Successful");
  doc = parseJson(eksGet("/clusters/prod/node-groups/ng-a")->body);
  EXPECT_STREQ(doc["nodegroup"]["status"].GetString(), "ACTIVE");
  EXPECT_FALSE(doc["nodegroup"]["updateConfig"].HasMember("maxUnavailable"));
  EXPECT_EQ(doc["nodegroup"]["updateConfig"]["maxUnavailablePercentage"].GetInt(), 25);
  EXPECT_EQ(aws_->nodegroup("prod", "ng-a")->launch_template->version, "1");
}

// Launch-template rules: the same template must be named, the version must exist, and node
// groups created without a template cannot be given one.
TEST_F(EksTest, UpdateNodegroupVersionValidatesLaunchTemplate) {
  auto res = eksPost("/clusters/prod/node-groups/ng-a/update-version",
                     R"({"launchTemplate":{"id":"lt-0000000000000000f","version":"2"}})");
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(res->get_header_value("X-Amzn-ErrorType").substr(0, 25), "InvalidParameterException");
  res = eksPost("/clusters/prod/node-groups/ng-a/update-version",
                R"({"launchTemplate":{"name":"nodes","version":"9"}})");
  EXPECT_EQ(res->status, 400);
  res = eksPost("/clusters/prod/node-groups/ng-b/update-version",
                R"({"launchTemplate":{"name":"nodes","version":"2"}})");
  EXPECT_EQ(res->status, 400);
  res = eksPost("/clusters/prod/node-groups/ng-a/update-version",
                R"({"launchTemplate":{"name":"nodes","version":"2"},"releaseVersion":"1.30.0"})");
  EXPECT_EQ(res->status, 400);
}

// In automatic mode an update succeeds on the N-th DescribeUpdate; failUpdate reports errors.
TEST_F(EksTest, AutomaticAndFailedUpdates) {
  aws_->setEksAutoCompleteAfter(2);
  std::string id = update("ng-a", R"({"launchTemplate":{"name":"nodes","version":"2"}})");
  std::string url = "/clusters/prod/updates/" + id + "?nodegroupName=ng-a";
  EXPECT_STREQ(parseJson(eksGet(url)->body)["update"]["status"].GetString(), "InProgress");
  EXPECT_STREQ(parseJson(eksGet(url)->body)["update"]["status"].GetString(), "Successful");
  aws_->setEksAutoCompleteAfter(0);
  std::string id2 = update("ng-c", R"({"launchTemplate":{"name":"nodes","version":"2"}})");
  ASSERT_TRUE(aws_->failEksUpdate(id2, "PodEvictionFailure", "too many pods"));
  auto doc = parseJson(eksGet("/clusters/prod/updates/" + id2 + "?nodegroupName=ng-c")->body);
  EXPECT_STREQ(doc["update"]["status"].GetString(), "Failed");
  EXPECT_STREQ(doc["update"]["errors"][0]["errorCode"].GetString(), "PodEvictionFailure");
  EXPECT_EQ(aws_->nodegroup("prod", "ng-c")->launch_template->version, "1");
}

class AsgTest : public FakeAwsTest {
 protected:
  void SetUp() override {
    FakeAwsTest::SetUp();
    aws_->addLaunchTemplate({.id = kLt, .name = "nodes", .versions = {{}, {}}});
    for (int i = 0; i < 3; ++i) {
      aws_->addAutoScalingGroup({.name = "asg-" + std::to_string(i),
                                 .launch_template = FakeLaunchTemplateRef{kLt, "", "1"},
                                 .tags = {{"kubernetes.io/cluster/prod", "owned", true},
                                          {"team", i == 0 ? "a" : "b", false}}});
    }
  }
};

// DescribeAutoScalingGroups: names, tag filters and MaxRecords/NextToken pages in awsQuery XML.
TEST_F(AsgTest, DescribeAutoScalingGroups) {
  auto res =
      asg("Action=DescribeAutoScalingGroups&Filters.member.1.Name=tag:team&"
          "Filters.member.1.Values.member.1=b&MaxRecords=1");
  ASSERT_EQ(res->status, 200) << res->body;
  auto doc = parseXml(res->body);
  auto result =
      doc.child("DescribeAutoScalingGroupsResponse").child("DescribeAutoScalingGroupsResult");
  EXPECT_STREQ(
      result.child("AutoScalingGroups").child("member").child_value("AutoScalingGroupName"),
      "asg-1");
  std::string token = result.child_value("NextToken");
  ASSERT_FALSE(token.empty());
  res =
      asg("Action=DescribeAutoScalingGroups&Filters.member.1.Name=tag:team&"
          "Filters.member.1.Values.member.1=b&MaxRecords=1&NextToken=" +
          uriEncode(token, false));
  EXPECT_THAT(xmlTexts(res->body, "//AutoScalingGroups/member/AutoScalingGroupName"),
              ElementsAre("asg-2"));
  res =
      asg("Action=DescribeAutoScalingGroups&AutoScalingGroupNames.member.1=asg-0&"
          "Filters.member.1.Name=tag-key&Filters.member.1.Values.member.1=team");
  EXPECT_THAT(xmlTexts(res->body, "//AutoScalingGroups/member/AutoScalingGroupName"),
              ElementsAre("asg-0"));
  EXPECT_FALSE(xmlText(res->body, "RequestId").empty());
  res = asg("Action=DescribeAutoScalingGroups&NextToken=bogus");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidNextToken");
}

// StartInstanceRefresh records preferences and refuses a second refresh while one is active;
// DescribeInstanceRefreshes reports simulated progress and completion updates the group.
TEST_F(AsgTest, InstanceRefreshLifecycle) {
  std::string start =
      "Action=StartInstanceRefresh&AutoScalingGroupName=asg-0&"
      "Preferences.MinHealthyPercentage=90&Preferences.SkipMatching=true&"
      "DesiredConfiguration.LaunchTemplate.LaunchTemplateId=lt-0123456789abcdef0&"
      "DesiredConfiguration.LaunchTemplate.Version=2";
  auto res = asg(start);
  ASSERT_EQ(res->status, 200) << res->body;
  std::string id = xmlText(res->body, "InstanceRefreshId");
  ASSERT_FALSE(id.empty());
  res = asg(start);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(xmlText(res->body, "Code"), "InstanceRefreshInProgress");
  EXPECT_EQ(xmlText(res->body, "Type"), "Sender");
  auto refreshes = aws_->instanceRefreshes();
  ASSERT_EQ(refreshes.size(), 1u);
  res =
      asg("Action=StartInstanceRefresh&AutoScalingGroupName=asg-2&"
          "DesiredConfiguration.LaunchTemplate.LaunchTemplateId=lt-0123456789abcdef0&"
          "DesiredConfiguration.LaunchTemplate.Version=9");
  EXPECT_EQ(xmlText(res->body, "Code"), "ValidationError");
  EXPECT_EQ(refreshes[0].preferences.at("MinHealthyPercentage"), "90");
  EXPECT_EQ(refreshes[0].preferences.at("SkipMatching"), "true");
  aws_->setInstanceRefreshAutoCompleteAfter(2);
  std::string describe = "Action=DescribeInstanceRefreshes&AutoScalingGroupName=asg-0";
  EXPECT_EQ(xmlText(asg(describe)->body, "Status"), "InProgress");
  EXPECT_EQ(xmlText(asg(describe)->body, "Status"), "Successful");
  EXPECT_EQ(aws_->autoScalingGroup("asg-0")->launch_template->version, "2");
  res = asg(start);
  EXPECT_EQ(res->status, 200);
  ASSERT_TRUE(aws_->failInstanceRefresh(xmlText(res->body, "InstanceRefreshId"), "boom"));
  EXPECT_THAT(xmlTexts(asg(describe)->body, "//InstanceRefreshes/member/Status"),
              ElementsAre("Failed", "Successful"));
}

// UpdateAutoScalingGroup changes the template and sizes and answers with only
// ResponseMetadata; CancelInstanceRefresh needs an active refresh.
TEST_F(AsgTest, UpdateGroupAndCancelRefresh) {
  auto res =
      asg("Action=UpdateAutoScalingGroup&AutoScalingGroupName=asg-1&"
          "LaunchTemplate.LaunchTemplateId=lt-0123456789abcdef0&LaunchTemplate.Version=2&"
          "DesiredCapacity=3");
  ASSERT_EQ(res->status, 200) << res->body;
  auto doc = parseXml(res->body);
  EXPECT_TRUE(doc.child("UpdateAutoScalingGroupResponse").child("ResponseMetadata"));
  EXPECT_EQ(aws_->autoScalingGroup("asg-1")->launch_template->version, "2");
  EXPECT_EQ(aws_->autoScalingGroup("asg-1")->desired_capacity, 3);
  EXPECT_EQ(aws_->autoScalingGroupUpdates(), std::vector<std::string>{"asg-1"});
  res = asg("Action=UpdateAutoScalingGroup&AutoScalingGroupName=asg-1&MinSize=9");
  EXPECT_EQ(xmlText(res->body, "Code"), "ValidationError");
  res = asg("Action=CancelInstanceRefresh&AutoScalingGroupName=asg-1");
  EXPECT_EQ(xmlText(res->body, "Code"), "ActiveInstanceRefreshNotFound");
  res = asg("Action=StartInstanceRefresh&AutoScalingGroupName=asg-1");
  std::string id = xmlText(res->body, "InstanceRefreshId");
  res = asg("Action=CancelInstanceRefresh&AutoScalingGroupName=asg-1");
  EXPECT_EQ(xmlText(res->body, "InstanceRefreshId"), id);
  EXPECT_EQ(
      xmlText(asg("Action=DescribeInstanceRefreshes&AutoScalingGroupName=asg-1")->body, "Status"),
      "Cancelled");
}

// AssumeRoleWithWebIdentity is unsigned, checks the token, and issues credentials that then sign
// GetCallerIdentity (with their session token) until they expire.
TEST_F(FakeAwsTest, StsWebIdentityIssuesWorkingCredentials) {
  std::string body =
      "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn:aws:iam::"
      "123456789012:role/opsy&RoleSessionName=opsy-1&WebIdentityToken=";
  SentRequest r{"POST", "/", body + "wrong", "application/x-www-form-urlencoded", {}};
  auto res = send(r, {});
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidIdentityToken");
  r.body = body + "fake-web-identity-token";
  res = send(r, {});
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(xmlText(res->body, "Expiration"), "2026-03-01T13:00:00Z");
  SignSpec spec{.access_key = xmlText(res->body, "AccessKeyId"),
                .secret_key = xmlText(res->body, "SecretAccessKey"),
                .session_token = xmlText(res->body, "SessionToken")};
  res = query("sts", "Action=GetCallerIdentity&Version=2011-06-15", spec);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(xmlText(res->body, "Arn"), "arn:aws:sts::123456789012:assumed-role/opsy/opsy-1");
  SignSpec no_token = spec;
  no_token.session_token.clear();
  EXPECT_EQ(
      xmlText(query("sts", "Action=GetCallerIdentity&Version=2011-06-15", no_token)->body, "Code"),
      "InvalidClientTokenId");
  // After the expiration the same credentials are refused as expired, in each service's format.
  clock_->advance(std::chrono::seconds(3601));
  EXPECT_EQ(
      xmlText(query("sts", "Action=GetCallerIdentity&Version=2011-06-15", spec)->body, "Code"),
      "ExpiredToken");
  EXPECT_EQ(xmlText(query("ec2", "Action=DescribeKeyPairs&Version=2016-11-15", spec)->body, "Code"),
            "RequestExpired");
}

// A presigned GetCallerIdentity URL (the EKS token form) verifies with query-string auth.
TEST_F(FakeAwsTest, StsPresignedGetCallerIdentity) {
  std::string amz_date = formatAmzDate(clock_->now());
  std::string scope = amz_date.substr(0, 8) + "/us-east-1/sts/aws4_request";
  std::string query =
      "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256"
      "&X-Amz-Credential=" +
      uriEncode(std::string(kFakeAccessKey) + "/" + scope, false) + "&X-Amz-Date=" + amz_date +
      "&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id";
  std::vector<std::pair<std::string, std::string>> hs = {{"host", host()},
                                                         {"x-k8s-aws-id", "prod"}};
  std::string creq = canonicalRequest("GET", "/", canonicalQuery(query),
                                      canonicalHeaders(hs, {"host", "x-k8s-aws-id"}),
                                      "host;x-k8s-aws-id", sha256Hex(""));
  std::string sig = sigV4Signature(kFakeSecretKey, amz_date.substr(0, 8), "us-east-1", "sts",
                                   stringToSign(amz_date, scope, creq));
  httplib::Headers headers = {{"Host", host()}, {"x-k8s-aws-id", "prod"}};
  auto res = client_->Get(("/?" + query + "&X-Amz-Signature=" + sig).c_str(), headers);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(xmlText(res->body, "Account"), "123456789012");
  clock_->advance(std::chrono::seconds(61));
  res = client_->Get(("/?" + query + "&X-Amz-Signature=" + sig).c_str(), headers);
  EXPECT_EQ(res->status, 403);
  EXPECT_EQ(xmlText(res->body, "Code"), "SignatureDoesNotMatch");
}

// SNS Publish records the message and rejects unknown topics with 404 NotFound.
TEST_F(FakeAwsTest, SnsPublish) {
  aws_->addSnsTopic("arn:aws:sns:us-east-1:123456789012:opsy");
  auto res = query("sns",
                   "Action=Publish&Version=2010-03-31&TopicArn=arn%3Aaws%3Asns%3Aus-east-1"
                   "%3A123456789012%3Aopsy&Subject=hi&Message=built+ami-1");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_FALSE(xmlText(res->body, "MessageId").empty());
  ASSERT_EQ(aws_->snsMessages().size(), 1u);
  EXPECT_EQ(aws_->snsMessages()[0].message, "built ami-1");
  res = query("sns",
              "Action=Publish&Version=2010-03-31&TopicArn=arn:aws:sns:us-east-1:1:x&"
              "Message=m");
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(xmlText(res->body, "Code"), "NotFound");
}

// SES v2 SendEmail accepts verified senders and rejects others with MessageRejected.
TEST_F(FakeAwsTest, SesSendEmail) {
  aws_->addSesIdentity("example.com");
  std::string body = R"({"FromEmailAddress":"Opsy <opsy@example.com>","Destination":)"
                     R"({"ToAddresses":["a@b.c"]},"Content":{"Simple":{"Subject":{"Data":"s"},)"
                     R"("Body":{"Text":{"Data":"t"}}}}})";
  auto res = send({"POST", "/v2/email/outbound-emails", body, "application/json", {}},
                  SignSpec{.service = "ses"});
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_TRUE(parseJson(res->body).HasMember("MessageId"));
  ASSERT_EQ(aws_->sesEmails().size(), 1u);
  EXPECT_EQ(aws_->sesEmails()[0].to, std::vector<std::string>{"a@b.c"});
  std::string other = body;
  other.replace(other.find("example.com"), 11, "evil.org");
  res = send({"POST", "/v2/email/outbound-emails", other, "application/json", {}},
             SignSpec{.service = "ses"});
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(res->get_header_value("X-Amzn-ErrorType").substr(0, 15), "MessageRejected");
}

// Slack: bearer token and channel checks answer HTTP 200 with ok:false, like Slack does.
TEST_F(FakeAwsTest, SlackPostMessage) {
  aws_->addSlackChannel("C0123456789", "alerts");
  auto post = [&](const std::string& token, const std::string& json) {
    httplib::Headers h = {{"Host", host()}};
    if (!token.empty())
      h.emplace("Authorization", "Bearer " + token);
    return client_->Post("/api/chat.postMessage", h, json, "application/json; charset=utf-8");
  };
  auto res = post("xoxb-fake-token", R"({"channel":"#alerts","text":"hello"})");
  ASSERT_EQ(res->status, 200);
  auto doc = parseJson(res->body);
  EXPECT_TRUE(doc["ok"].GetBool());
  EXPECT_STREQ(doc["channel"].GetString(), "C0123456789");
  EXPECT_EQ(aws_->slackPosts().at(0).text, "hello");
  EXPECT_EQ(post("xoxb-wrong", R"({"channel":"C0123456789","text":"x"})")->body,
            R"({"ok":false,"error":"invalid_auth"})");
  EXPECT_EQ(post("", R"({"channel":"C0123456789","text":"x"})")->body,
            R"({"ok":false,"error":"not_authed"})");
  EXPECT_EQ(post("xoxb-fake-token", R"({"channel":"C999","text":"x"})")->body,
            R"({"ok":false,"error":"channel_not_found"})");
  EXPECT_EQ(post("xoxb-fake-token", R"({"channel":"C0123456789"})")->body,
            R"({"ok":false,"error":"no_text"})");
  aws_->addFault(
      {.service = "slack", .kind = FaultKind::Throttle, .count = 1, .retry_after_seconds = 3});
  res = post("xoxb-fake-token", R"({"channel":"C0123456789","text":"x"})");
  EXPECT_EQ(res->status, 429);
  EXPECT_EQ(res->get_header_value("Retry-After"), "3");
  // auth.test checks the token the same way.
  EXPECT_EQ(post("xoxb-wrong", "")->body, R"({"ok":false,"error":"invalid_auth"})");
  httplib::Headers h = {{"Host", host()}, {"Authorization", "Bearer xoxb-fake-token"}};
  auto auth = client_->Post("/api/auth.test", h, "", "application/x-www-form-urlencoded");
  EXPECT_TRUE(parseJson(auth->body)["ok"].GetBool());
}

}  // namespace
}  // namespace opsy::testing
