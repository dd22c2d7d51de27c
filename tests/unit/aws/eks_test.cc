#include "opsy/aws/eks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <rapidjson/document.h>

#include "aws_test_util.h"

namespace opsy::aws {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::StartsWith;

constexpr const char* kEks = "https://eks.eu-west-1.amazonaws.com";

constexpr const char* kNodegroupJson = R"({"nodegroup":{
  "nodegroupName":"workers","nodegroupArn":"arn:aws:eks:eu-west-1:1:nodegroup/prod/workers/x",
  "clusterName":"prod","version":"1.30","releaseVersion":"1.30.4-20261101",
  "createdAt":1763700000.5,"modifiedAt":1763710000,"status":"UPDATING","capacityType":"ON_DEMAND",
  "scalingConfig":{"minSize":1,"maxSize":6,"desiredSize":3},"amiType":"CUSTOM",
  "labels":{"role":"worker"},"tags":{"team":"platform"},
  "resources":{"autoScalingGroups":[{"name":"eks-workers-abc"}],"remoteAccessSecurityGroup":null},
  "health":{"issues":[{"code":"Ec2LaunchTemplateVersionMismatch","message":"mismatch",
                       "resourceIds":["eks-workers-abc"]}]},
  "updateConfig":{"maxUnavailablePercentage":25},
  "launchTemplate":{"name":"workers-lt","version":"4","id":"lt-0abc"}}})";

constexpr const char* kUpdateJson = R"({"update":{"id":"upd-1","status":"Failed",
  "type":"VersionUpdate","params":[{"type":"LaunchTemplateVersion","value":"5"},
  {"type":"LaunchTemplateName","value":"workers-lt"}],"createdAt":1763720000,
  "errors":[{"errorCode":"PodEvictionFailure","errorMessage":"pdb","resourceIds":["i-1"]}]}})";

class EksTest : public testing::Test {
 protected:
  EksApiPtr client() {
    auto c = makeEksClient(h_.options());
    EXPECT_TRUE(c.has_value());
    return *c;
  }
  ClientHarness h_;
};

// ListNodegroups follows nextToken (lower-case) in both directions until it is absent.
TEST_F(EksTest, ListNodegroupsPaginates) {
  h_.transport->expect("GET", std::string(kEks) + "/clusters/prod/node-groups?maxResults=100")
      .reply(200, R"({"nodegroups":["a","b"],"nextToken":"tok/2=="})");
  h_.transport
      ->expect("GET", std::string(kEks) +
                          "/clusters/prod/node-groups?maxResults=100&nextToken=tok%2F2%3D%3D")
      .reply(200, R"({"nodegroups":["c"],"nextToken":null})");
  auto names = client()->listNodegroups("prod");
  ASSERT_TRUE(names.has_value()) << names.error().toString();
  EXPECT_THAT(*names, ElementsAre("a", "b", "c"));
  auto auth = h_.transport->requests()[0].headers;
  EXPECT_THAT(std::string(http::findHeader(auth, "Authorization").value_or("")),
              HasSubstr("/eu-west-1/eks/aws4_request"));
}

// DescribeNodegroup parses the fields the refresh controller decides on.
TEST_F(EksTest, DescribeNodegroupParses) {
  h_.transport->expect("GET", std::string(kEks) + "/clusters/prod/node-groups/workers")
      .reply(200, kNodegroupJson);
  auto ng = client()->describeNodegroup("prod", "workers");
  ASSERT_TRUE(ng.has_value()) << ng.error().toString();
  EXPECT_EQ(ng->name, "workers");
  EXPECT_EQ(ng->status, NodegroupStatus::Updating);
  EXPECT_EQ(ng->status.text, "UPDATING");
  EXPECT_EQ(ng->ami_type, "CUSTOM");
  ASSERT_TRUE(ng->launch_template.has_value());
  EXPECT_EQ(ng->launch_template->id, "lt-0abc");
  EXPECT_EQ(ng->launch_template->version, "4");
  EXPECT_THAT(ng->autoscaling_groups, ElementsAre("eks-workers-abc"));
  ASSERT_EQ(ng->health_issues.size(), 1u);
  EXPECT_EQ(ng->health_issues[0].code, "Ec2LaunchTemplateVersionMismatch");
  EXPECT_EQ(ng->desired_size, 3);
  EXPECT_EQ(ng->max_unavailable_percentage, 25);
  EXPECT_FALSE(ng->max_unavailable.has_value());
  EXPECT_EQ(ng->created_at, TimePoint(std::chrono::microseconds(1763700000500000LL)));
  EXPECT_THAT(ng->labels, ElementsAre(Pair("role", "worker")));
}

// A status newer than this build parses as Unknown and keeps the service's text for messages.
TEST_F(EksTest, UnknownStatusKeepsServiceText) {
  std::string body = kNodegroupJson;
  body.replace(body.find("\"UPDATING\""), 10, "\"SCALING\"");
  h_.transport->expect("GET", std::string(kEks) + "/clusters/prod/node-groups/workers")
      .reply(200, body);
  auto ng = client()->describeNodegroup("prod", "workers");
  ASSERT_TRUE(ng.has_value()) << ng.error().toString();
  EXPECT_EQ(ng->status, NodegroupStatus::Unknown);
  EXPECT_EQ(ng->status.text, "SCALING");
}

// Every spelling in the EKS model parses to its enumerator and prints back the same; other text,
// including another case, is Unknown.
TEST(EksEnums, ModelSpellingsRoundTrip) {
  for (std::string_view s : {"CREATING", "ACTIVE", "UPDATING", "DELETING", "CREATE_FAILED",
                             "DELETE_FAILED", "DEGRADED"}) {
    EXPECT_NE(parseNodegroupStatus(s), NodegroupStatus::Unknown) << s;
    EXPECT_EQ(toString(parseNodegroupStatus(s)), s);
  }
  for (std::string_view s : {"InProgress", "Failed", "Cancelled", "Successful"}) {
    EXPECT_NE(parseUpdateStatus(s), UpdateStatus::Unknown) << s;
    EXPECT_EQ(toString(parseUpdateStatus(s)), s);
  }
  for (std::string_view s : {"VersionUpdate", "ConfigUpdate", "EndpointAccessUpdate"}) {
    EXPECT_NE(parseUpdateType(s), UpdateType::Unknown) << s;
    EXPECT_EQ(toString(parseUpdateType(s)), s);
  }
  EXPECT_EQ(parseNodegroupStatus("active"), NodegroupStatus::Unknown);
  EXPECT_EQ(parseUpdateStatus(""), UpdateStatus::Unknown);
  EXPECT_EQ(toString(NodegroupStatus::Unknown), "Unknown");
  // Built from an enumerator, as fixtures do, the text is the AWS spelling.
  Update u{.status = UpdateStatus::Successful, .type = UpdateType::ConfigUpdate};
  EXPECT_EQ(u.status.text, "Successful");
  EXPECT_EQ(u.type.text, "ConfigUpdate");
}

// The version update posts the launch template id and version, force and the client token.
TEST_F(EksTest, UpdateNodegroupVersionEncodes) {
  h_.transport
      ->expect("POST", std::string(kEks) + "/clusters/prod/node-groups/workers/update-version")
      .reply(200, R"({"update":{"id":"upd-1","status":"InProgress","type":"VersionUpdate"}})");
  UpdateNodegroupVersionInput in;
  in.cluster_name = "prod";
  in.nodegroup_name = "workers";
  in.launch_template = LaunchTemplateSpec{"lt-0abc", "", "5"};
  in.force = true;
  in.client_request_token = "opsy-prod-workers-5";
  auto u = client()->updateNodegroupVersion(in);
  ASSERT_TRUE(u.has_value()) << u.error().toString();
  EXPECT_EQ(u->id, "upd-1");
  EXPECT_EQ(u->status, UpdateStatus::InProgress);
  EXPECT_EQ(u->type, UpdateType::VersionUpdate);
  http::Request sent = h_.transport->lastRequest();
  EXPECT_EQ(sent.body, R"({"launchTemplate":{"id":"lt-0abc","version":"5"},"force":true,)"
                       R"("clientRequestToken":"opsy-prod-workers-5"})");
  EXPECT_EQ(http::findHeader(sent.headers, "Content-Type"), "application/json");
}

// Without a caller token, one is generated so that a retried request stays idempotent.
TEST_F(EksTest, UpdateNodegroupVersionGeneratesToken) {
  h_.transport->reply(200, R"({"update":{"id":"u"}})");
  UpdateNodegroupVersionInput in;
  in.cluster_name = "prod";
  in.nodegroup_name = "workers";
  in.launch_template = LaunchTemplateSpec{"", "workers-lt", "5"};
  ASSERT_TRUE(client()->updateNodegroupVersion(in).has_value());
  rapidjson::Document doc;
  doc.Parse(h_.transport->lastRequest().body.c_str());
  EXPECT_EQ(std::string(doc["launchTemplate"]["name"].GetString()), "workers-lt");
  EXPECT_EQ(std::string(doc["clientRequestToken"].GetString()).size(), 36u);
  EXPECT_FALSE(doc.HasMember("version"));
}

// The config update posts only updateConfig with the one limit that is set, and the client token.
TEST_F(EksTest, UpdateNodegroupConfigEncodes) {
  h_.transport
      ->expect("POST", std::string(kEks) + "/clusters/prod/node-groups/workers/update-config")
      .reply(200, R"({"update":{"id":"upd-2","status":"InProgress","type":"ConfigUpdate",)"
                  R"("params":[{"type":"MaxUnavailable","value":"2"}]}})");
  UpdateNodegroupConfigInput in;
  in.cluster_name = "prod";
  in.nodegroup_name = "workers";
  in.max_unavailable = 2;
  in.client_request_token = "opsy-cfg-1";
  auto u = client()->updateNodegroupConfig(in);
  ASSERT_TRUE(u.has_value()) << u.error().toString();
  EXPECT_EQ(u->id, "upd-2");
  EXPECT_EQ(u->type, UpdateType::ConfigUpdate);
  EXPECT_EQ(h_.transport->lastRequest().body,
            R"({"updateConfig":{"maxUnavailable":2},"clientRequestToken":"opsy-cfg-1"})");

  h_.transport->reply(200, R"({"update":{"id":"upd-3"}})");
  in.max_unavailable.reset();
  in.max_unavailable_percentage = 33;
  ASSERT_TRUE(client()->updateNodegroupConfig(in).has_value());
  EXPECT_EQ(
      h_.transport->lastRequest().body,
      R"({"updateConfig":{"maxUnavailablePercentage":33},"clientRequestToken":"opsy-cfg-1"})");
}

// A config update with neither or both limits is refused before anything is sent.
TEST_F(EksTest, UpdateNodegroupConfigNeedsExactlyOneLimit) {
  UpdateNodegroupConfigInput in;
  in.cluster_name = "prod";
  in.nodegroup_name = "workers";
  EXPECT_EQ(client()->updateNodegroupConfig(in).error().code, ErrorCode::InvalidArgument);
  in.max_unavailable = 1;
  in.max_unavailable_percentage = 10;
  EXPECT_EQ(client()->updateNodegroupConfig(in).error().code, ErrorCode::InvalidArgument);
  EXPECT_TRUE(h_.transport->requests().empty());
}

// An update already running is ResourceInUseException (409): a Conflict, not retried.
TEST_F(EksTest, UpdateInProgressIsConflict) {
  h_.transport->reply(409, R"({"message":"Nodegroup is already updating"})",
                      {{"X-Amzn-ErrorType", "ResourceInUseException:http://internal.amazon.com/"},
                       {"x-amzn-RequestId", "eks-req-7"}});
  UpdateNodegroupVersionInput in;
  in.cluster_name = "prod";
  in.nodegroup_name = "workers";
  auto u = client()->updateNodegroupVersion(in);
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error().code, ErrorCode::Conflict);
  EXPECT_EQ(u.error().provider_code, "ResourceInUseException");
  EXPECT_EQ(u.error().request_id, "eks-req-7");
  EXPECT_EQ(u.error().http_status, 409);
  EXPECT_EQ(h_.transport->requests().size(), 1u);
}

// DescribeUpdate passes the node group as a query parameter and parses params and errors.
TEST_F(EksTest, DescribeUpdateParses) {
  h_.transport
      ->expect("GET", std::string(kEks) + "/clusters/prod/updates/upd-1?nodegroupName=workers")
      .reply(200, kUpdateJson);
  auto u = client()->describeUpdate("prod", "upd-1", "workers");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->status, UpdateStatus::Failed);
  EXPECT_THAT(u->params, ElementsAre(Pair("LaunchTemplateVersion", "5"),
                                     Pair("LaunchTemplateName", "workers-lt")));
  ASSERT_EQ(u->errors.size(), 1u);
  EXPECT_EQ(u->errors[0].code, "PodEvictionFailure");
  EXPECT_THAT(u->errors[0].resource_ids, ElementsAre("i-1"));
}

// EKS throttling (429 TooManyRequestsException) is retried and then succeeds.
TEST_F(EksTest, ThrottlingThenSuccess) {
  h_.transport->reply(429, R"({"message":"Rate exceeded"})",
                      {{"X-Amzn-ErrorType", "TooManyRequestsException"}});
  h_.transport->reply(200, kNodegroupJson);
  EXPECT_TRUE(client()->describeNodegroup("prod", "workers").has_value());
  EXPECT_EQ(h_.transport->requests().size(), 2u);
}

// Persistent 503s exhaust the retry policy and surface as Unavailable.
TEST_F(EksTest, ServerErrorsExhaustRetries) {
  for (int i = 0; i < 3; ++i) {
    h_.transport->reply(503, R"({"message":"unavailable"})",
                        {{"X-Amzn-ErrorType", "ServiceUnavailableException"}});
  }
  auto ng = client()->describeNodegroup("prod", "workers");
  ASSERT_FALSE(ng.has_value());
  EXPECT_EQ(ng.error().code, ErrorCode::Unavailable);
  EXPECT_THAT(ng.error().message, HasSubstr("after 3 attempts"));
}

// A missing node group is NotFound.
TEST_F(EksTest, MissingNodegroupIsNotFound) {
  h_.transport->reply(404, R"({"message":"No node group found"})",
                      {{"X-Amzn-ErrorType", "ResourceNotFoundException"}});
  EXPECT_EQ(client()->describeNodegroup("prod", "nope").error().code, ErrorCode::NotFound);
}

// The EKS token is k8s-aws-v1. + unpadded base64url of a presigned GetCallerIdentity URL that
// signs the x-k8s-aws-id header.
TEST(EksToken, IsPresignedGetCallerIdentity) {
  Credentials c;
  c.access_key_id = "AKIATOKEN";
  c.secret_access_key = "token-secret-key";
  auto token = eksBearerToken(c, "eu-west-1", "prod", at("2026-11-21T05:35:00Z"));
  ASSERT_TRUE(token.has_value());
  ASSERT_THAT(*token, StartsWith("k8s-aws-v1."));
  std::string b64 = token->substr(11);
  EXPECT_EQ(b64.find_first_of("+/="), std::string::npos);
  for (char& ch : b64) {
    ch = ch == '-' ? '+' : (ch == '_' ? '/' : ch);
  }
  while (b64.size() % 4 != 0) {
    b64.push_back('=');
  }
  std::string url(b64.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(url.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  ASSERT_GT(n, 0);
  url.resize(url.find('\0') == std::string::npos ? static_cast<size_t>(n) : url.find('\0'));
  EXPECT_THAT(url, StartsWith("https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&"));
  EXPECT_THAT(url, HasSubstr("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"));
  EXPECT_THAT(url, HasSubstr("X-Amz-Expires=60"));
  EXPECT_THAT(url, HasSubstr("X-Amz-Signature="));
}

}  // namespace
}  // namespace opsy::aws
