#include "opsy/aws/ec2.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "aws_test_util.h"

namespace opsy::aws {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr const char* kEc2Url = "https://ec2.eu-west-1.amazonaws.com/";

std::string imagesPage(const std::string& items, const std::string& next_token) {
  return R"(<?xml version="1.0" encoding="UTF-8"?>
<DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>
  <imagesSet>)" +
         items + "</imagesSet>" +
         (next_token.empty() ? "" : "<nextToken>" + next_token + "</nextToken>") +
         "</DescribeImagesResponse>";
}

std::string imageItem(const std::string& id) {
  return R"(<item>
      <imageId>)" +
         id + R"(</imageId>
      <imageState>available</imageState>
      <imageOwnerId>123456789012</imageOwnerId>
      <creationDate>2026-11-01T10:00:00.000Z</creationDate>
      <architecture>x86_64</architecture>
      <name>opsy-)" +
         id + R"(</name>
      <blockDeviceMapping>
        <item><deviceName>/dev/xvda</deviceName><ebs><snapshotId>snap-)" +
         id + R"(</snapshotId><volumeSize>20</volumeSize></ebs></item>
        <item><deviceName>/dev/sdb</deviceName><virtualName>ephemeral0</virtualName></item>
      </blockDeviceMapping>
      <tagSet>
        <item><key>status</key><value>active</value></item>
        <item><key>cluster-name</key><value>prod</value></item>
      </tagSet>
      <deprecationTime>2027-01-01T00:00:00.000Z</deprecationTime>
    </item>)";
}

std::string ec2Error(const std::string& code, const std::string& message) {
  return "<?xml version=\"1.0\"?><Response><Errors><Error><Code>" + code + "</Code><Message>" +
         message + "</Message></Error></Errors><RequestID>req-" + code + "</RequestID></Response>";
}

class Ec2Test : public testing::Test {
 protected:
  Ec2ApiPtr client(std::map<std::string, std::string> env = {}) {
    auto c = makeEc2Client(h_.options(std::move(env)));
    EXPECT_TRUE(c.has_value());
    return *c;
  }
  ClientHarness h_;
};

// DescribeImages sends a signed form POST with flat EC2 lists (Owner.N, Filter.N.Value.M).
TEST_F(Ec2Test, DescribeImagesEncodesFlatListsAndSigns) {
  h_.transport->expect("POST", kEc2Url).reply(200, imagesPage("", ""));
  DescribeImagesInput in;
  in.owners = {"self", "602401143452"};
  in.filters = {{"name", {"amazon-eks-node-al2023-x86_64-standard-1.30*"}},
                {"tag:status", {"active", "pending"}}};
  in.include_deprecated = true;
  ASSERT_TRUE(client()->describeImages(in).has_value());
  http::Request sent = h_.transport->lastRequest();
  EXPECT_THAT(formPairs(sent.body),
              ElementsAre(Pair("Action", "DescribeImages"), Pair("Version", "2016-11-15"),
                          Pair("Owner.1", "self"), Pair("Owner.2", "602401143452"),
                          Pair("Filter.1.Name", "name"),
                          Pair("Filter.1.Value.1", "amazon-eks-node-al2023-x86_64-standard-1.30*"),
                          Pair("Filter.2.Name", "tag:status"), Pair("Filter.2.Value.1", "active"),
                          Pair("Filter.2.Value.2", "pending"), Pair("IncludeDeprecated", "true"),
                          Pair("MaxResults", "1000")));
  EXPECT_EQ(http::findHeader(sent.headers, "Content-Type"),
            "application/x-www-form-urlencoded; charset=utf-8");
  auto auth = http::findHeader(sent.headers, "Authorization");
  ASSERT_TRUE(auth.has_value());
  EXPECT_THAT(std::string(*auth),
              HasSubstr("Credential=AKIATESTCLIENT/20261121/eu-west-1/ec2/aws4_request"));
  EXPECT_EQ(http::findHeader(sent.headers, "x-amz-date"), "20261121T053500Z");
}

// Image ids and MaxResults cannot be combined, so a lookup by id sends no page size.
TEST_F(Ec2Test, DescribeImagesByIdOmitsMaxResults) {
  h_.transport->reply(200, imagesPage(imageItem("ami-1"), ""));
  DescribeImagesInput in;
  in.image_ids = {"ami-1"};
  ASSERT_TRUE(client()->describeImages(in).has_value());
  auto form = formMap(h_.transport->lastRequest().body);
  EXPECT_EQ(form["ImageId.1"], "ami-1");
  EXPECT_FALSE(form.contains("MaxResults"));
}

// Pages are followed through nextToken and every field of an image is parsed.
TEST_F(Ec2Test, DescribeImagesPaginatesAndParses) {
  h_.transport->reply(200, imagesPage(imageItem("ami-1") + imageItem("ami-2"), "page-2"));
  h_.transport->reply(200, imagesPage(imageItem("ami-3"), "page-3"));
  h_.transport->reply(200, imagesPage("", ""));
  auto images = client()->describeImages({});
  ASSERT_TRUE(images.has_value()) << images.error().toString();
  ASSERT_EQ(images->size(), 3u);
  auto requests = h_.transport->requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_FALSE(formMap(requests[0].body).contains("NextToken"));
  EXPECT_EQ(formMap(requests[1].body)["NextToken"], "page-2");
  EXPECT_EQ(formMap(requests[2].body)["NextToken"], "page-3");
  const Image& img = (*images)[0];
  EXPECT_EQ(img.id, "ami-1");
  EXPECT_EQ(img.name, "opsy-ami-1");
  EXPECT_EQ(img.owner_id, "123456789012");
  EXPECT_EQ(img.state, ImageState::Available);
  EXPECT_EQ(img.state.text, "available");
  EXPECT_EQ(img.architecture, "x86_64");
  EXPECT_EQ(img.creation_date, at("2026-11-01T10:00:00Z"));
  EXPECT_EQ(img.deprecation_time, at("2027-01-01T00:00:00Z"));
  EXPECT_THAT(img.tags, ElementsAre(Pair("cluster-name", "prod"), Pair("status", "active")));
  EXPECT_THAT(img.snapshot_ids, ElementsAre("snap-ami-1"));
}

// EC2's RequestLimitExceeded (HTTP 503) is retried with backoff and the call then succeeds.
TEST_F(Ec2Test, ThrottlingThenSuccessRetries) {
  h_.transport->reply(503, ec2Error("RequestLimitExceeded", "Request limit exceeded."));
  h_.transport->reply(200, imagesPage(imageItem("ami-1"), ""));
  auto images = client()->describeImages({});
  ASSERT_TRUE(images.has_value());
  EXPECT_EQ(images->size(), 1u);
  EXPECT_EQ(h_.transport->requests().size(), 2u);
  EXPECT_EQ(h_.clock->totalSlept(), std::chrono::seconds(1));
  // Each attempt is signed afresh.
  auto requests = h_.transport->requests();
  EXPECT_EQ(http::findHeader(requests[1].headers, "x-amz-date"), "20261121T053501Z");
}

// When throttling outlasts the retry policy the caller gets a typed Throttled error.
TEST_F(Ec2Test, ThrottlingExhaustionIsTyped) {
  for (int i = 0; i < 3; ++i) {
    h_.transport->reply(503, ec2Error("RequestLimitExceeded", "Request limit exceeded."));
  }
  auto images = client()->describeImages({});
  ASSERT_FALSE(images.has_value());
  EXPECT_EQ(images.error().code, ErrorCode::Throttled);
  EXPECT_EQ(images.error().provider_code, "RequestLimitExceeded");
  EXPECT_EQ(images.error().http_status, 503);
  EXPECT_EQ(images.error().request_id, "req-RequestLimitExceeded");
  EXPECT_THAT(images.error().message, HasSubstr("after 3 attempts"));
  EXPECT_EQ(h_.transport->requests().size(), 3u);
}

// A client error is final: no retry, and the EC2 code and request id are kept.
TEST_F(Ec2Test, NotFoundIsNotRetried) {
  h_.transport->reply(400, ec2Error("InvalidGroup.NotFound", "The security group does not exist"));
  auto st = client()->deleteSecurityGroup("sg-gone");
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::NotFound);
  EXPECT_EQ(st.error().provider_code, "InvalidGroup.NotFound");
  EXPECT_EQ(st.error().request_id, "req-InvalidGroup.NotFound");
  EXPECT_EQ(h_.transport->requests().size(), 1u);
}

// A dropped connection is transient and retried like a 5xx.
TEST_F(Ec2Test, TransportFailureIsRetried) {
  h_.transport->next().failWith(Error{ErrorCode::Unavailable, "connection reset"});
  h_.transport->reply(
      200, "<DeleteSecurityGroupResponse><return>true</return></DeleteSecurityGroupResponse>");
  EXPECT_TRUE(client()->deleteSecurityGroup("sg-1").has_value());
  EXPECT_EQ(h_.transport->requests().size(), 2u);
}

struct EncodingCase {
  const char* name;
  std::function<Status(Ec2Api&)> call;
  std::vector<std::pair<std::string, std::string>> expected;
};

class Ec2Encoding : public testing::TestWithParam<EncodingCase> {};

// Each mutating call sends exactly the documented wire parameters.
TEST_P(Ec2Encoding, SendsWireParameters) {
  ClientHarness h;
  h.transport->reply(200, "<Response><return>true</return></Response>");
  auto ec2 = makeEc2Client(h.options());
  ASSERT_TRUE(ec2.has_value());
  ASSERT_TRUE(GetParam().call(**ec2).has_value());
  EXPECT_EQ(formPairs(h.transport->lastRequest().body), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Calls, Ec2Encoding,
    testing::Values(
        EncodingCase{
            "CreateTags",
            [](Ec2Api& e) {
              return e.createTags({"ami-1", "snap-1"}, {{"status", "active"}, {"empty", ""}});
            },
            {{"Action", "CreateTags"},
             {"Version", "2016-11-15"},
             {"ResourceId.1", "ami-1"},
             {"ResourceId.2", "snap-1"},
             {"Tag.1.Key", "empty"},
             {"Tag.1.Value", ""},
             {"Tag.2.Key", "status"},
             {"Tag.2.Value", "active"}}},
        EncodingCase{
            "DeleteSecurityGroup",
            [](Ec2Api& e) { return e.deleteSecurityGroup("sg-1"); },
            {{"Action", "DeleteSecurityGroup"}, {"Version", "2016-11-15"}, {"GroupId", "sg-1"}}},
        EncodingCase{
            "DeleteKeyPairById",
            [](Ec2Api& e) { return e.deleteKeyPair("key-0abc"); },
            {{"Action", "DeleteKeyPair"}, {"Version", "2016-11-15"}, {"KeyPairId", "key-0abc"}}},
        EncodingCase{
            "DeleteKeyPairByName",
            [](Ec2Api& e) { return e.deleteKeyPair("packer_6543"); },
            {{"Action", "DeleteKeyPair"}, {"Version", "2016-11-15"}, {"KeyName", "packer_6543"}}},
        EncodingCase{"EnableImageDeprecation",
                     [](Ec2Api& e) {
                       return e.enableImageDeprecation("ami-0abc",
                                                       *parseRfc3339("2026-12-02T15:24:00Z"));
                     },
                     {{"Action", "EnableImageDeprecation"},
                      {"Version", "2016-11-15"},
                      {"ImageId", "ami-0abc"},
                      {"DeprecateAt", "2026-12-02T15:24:00Z"}}},
        EncodingCase{
            "DeregisterImage",
            [](Ec2Api& e) { return e.deregisterImage("ami-0abc"); },
            {{"Action", "DeregisterImage"}, {"Version", "2016-11-15"}, {"ImageId", "ami-0abc"}}},
        EncodingCase{"DeleteSnapshot",
                     [](Ec2Api& e) { return e.deleteSnapshot("snap-0abc"); },
                     {{"Action", "DeleteSnapshot"},
                      {"Version", "2016-11-15"},
                      {"SnapshotId", "snap-0abc"}}}),
    [](const testing::TestParamInfo<EncodingCase>& param) {
      return std::string(param.param.name);
    });

constexpr const char* kVersionItem = R"(<item>
  <createTime>2026-11-20T08:00:00.000Z</createTime>
  <defaultVersion>%DEFAULT%</defaultVersion>
  <launchTemplateData><imageId>ami-%N%</imageId></launchTemplateData>
  <launchTemplateId>lt-0abc</launchTemplateId>
  <launchTemplateName>nodes</launchTemplateName>
  <versionDescription>v%N%</versionDescription>
  <versionNumber>%N%</versionNumber>
</item>)";

std::string versionItem(int n, bool is_default) {
  std::string s = kVersionItem;
  for (size_t p; (p = s.find("%N%")) != std::string::npos;) {
    s.replace(p, 3, std::to_string(n));
  }
  s.replace(s.find("%DEFAULT%"), 9, is_default ? "true" : "false");
  return s;
}

// The same fields under <launchTemplateVersion>, as CreateLaunchTemplateVersion returns them.
std::string launchTemplateVersion(int n) {
  std::string item = versionItem(n, false);
  return "<launchTemplateVersion>" + item.substr(6, item.size() - 6 - 7) +
         "</launchTemplateVersion>";
}

// Launch template versions are paged and parsed, including the image id of each version.
TEST_F(Ec2Test, DescribeLaunchTemplateVersionsPaginates) {
  h_.transport->reply(200, "<DescribeLaunchTemplateVersionsResponse><launchTemplateVersionSet>" +
                               versionItem(1, true) +
                               "</launchTemplateVersionSet><nextToken>t2</nextToken>"
                               "</DescribeLaunchTemplateVersionsResponse>");
  h_.transport->reply(200,
                      "<DescribeLaunchTemplateVersionsResponse><launchTemplateVersionSet>" +
                          versionItem(2, false) +
                          "</launchTemplateVersionSet></DescribeLaunchTemplateVersionsResponse>");
  DescribeLaunchTemplateVersionsInput in;
  in.launch_template_id = "lt-0abc";
  auto versions = client()->describeLaunchTemplateVersions(in);
  ASSERT_TRUE(versions.has_value()) << versions.error().toString();
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].version_number, 1);
  EXPECT_TRUE((*versions)[0].default_version);
  EXPECT_EQ((*versions)[1].image_id, "ami-2");
  EXPECT_EQ((*versions)[1].create_time, at("2026-11-20T08:00:00Z"));
  auto requests = h_.transport->requests();
  EXPECT_EQ(formMap(requests[0].body)["LaunchTemplateId"], "lt-0abc");
  EXPECT_EQ(formMap(requests[0].body)["MaxResults"], "200");
  EXPECT_EQ(formMap(requests[1].body)["NextToken"], "t2");
}

// Asking for specific versions uses LaunchTemplateVersion.N; id or name is required.
TEST_F(Ec2Test, DescribeLaunchTemplateVersionsByVersion) {
  h_.transport->reply(200, "<R><launchTemplateVersionSet>" + versionItem(3, false) +
                               "</launchTemplateVersionSet></R>");
  DescribeLaunchTemplateVersionsInput in;
  in.launch_template_name = "nodes";
  in.versions = {"$Latest", "$Default"};
  ASSERT_TRUE(client()->describeLaunchTemplateVersions(in).has_value());
  auto form = formMap(h_.transport->lastRequest().body);
  EXPECT_EQ(form["LaunchTemplateName"], "nodes");
  EXPECT_EQ(form["LaunchTemplateVersion.1"], "$Latest");
  EXPECT_EQ(form["LaunchTemplateVersion.2"], "$Default");
  EXPECT_FALSE(client()->describeLaunchTemplateVersions({}).has_value());
}

// A new version inherits from SourceVersion, overrides the image, and carries a client token.
TEST_F(Ec2Test, CreateLaunchTemplateVersionEncodesAndParses) {
  h_.transport->reply(200, "<CreateLaunchTemplateVersionResponse>" + launchTemplateVersion(7) +
                               "</CreateLaunchTemplateVersionResponse>");
  CreateLaunchTemplateVersionInput in;
  in.launch_template_id = "lt-0abc";
  in.source_version = "6";
  in.version_description = "opsy ami-7";
  in.client_token = "opsy-prod-nodes-ami-7";
  in.image_id = "ami-7";
  auto v = client()->createLaunchTemplateVersion(in);
  ASSERT_TRUE(v.has_value()) << v.error().toString();
  EXPECT_EQ(v->version_number, 7);
  EXPECT_EQ(v->image_id, "ami-7");
  EXPECT_THAT(formPairs(h_.transport->lastRequest().body),
              ElementsAre(Pair("Action", "CreateLaunchTemplateVersion"),
                          Pair("Version", "2016-11-15"), Pair("LaunchTemplateId", "lt-0abc"),
                          Pair("SourceVersion", "6"), Pair("VersionDescription", "opsy ami-7"),
                          Pair("ClientToken", "opsy-prod-nodes-ami-7"),
                          Pair("LaunchTemplateData.ImageId", "ami-7")));
}

// Security groups are paged and parsed with their tags.
TEST_F(Ec2Test, DescribeSecurityGroupsPaginates) {
  auto group = [](const std::string& id) {
    return "<item><ownerId>123456789012</ownerId><groupId>" + id + "</groupId><groupName>packer_" +
           id +
           "</groupName><groupDescription>Temporary group</groupDescription>"
           "<vpcId>vpc-1</vpcId><tagSet><item><key>created-by</key><value>packer</value></item>"
           "</tagSet></item>";
  };
  h_.transport->reply(200, "<R><securityGroupInfo>" + group("sg-1") +
                               "</securityGroupInfo><nextToken>n</nextToken></R>");
  h_.transport->reply(200, "<R><securityGroupInfo>" + group("sg-2") + "</securityGroupInfo></R>");
  DescribeSecurityGroupsInput in;
  in.filters = {{"group-name", {"packer_*"}}};
  auto groups = client()->describeSecurityGroups(in);
  ASSERT_TRUE(groups.has_value());
  ASSERT_EQ(groups->size(), 2u);
  EXPECT_EQ((*groups)[1].id, "sg-2");
  EXPECT_EQ((*groups)[0].name, "packer_sg-1");
  EXPECT_EQ((*groups)[0].vpc_id, "vpc-1");
  EXPECT_EQ((*groups)[0].tags.at("created-by"), "packer");
  auto first = formMap(h_.transport->requests()[0].body);
  EXPECT_EQ(first["Filter.1.Name"], "group-name");
  EXPECT_EQ(first["Filter.1.Value.1"], "packer_*");
}

// Snapshots are paged with owner and tag filters, and every field of one is parsed.
TEST_F(Ec2Test, DescribeSnapshotsPaginatesAndParses) {
  auto snapshot = [](const std::string& id) {
    return "<item><snapshotId>" + id +
           "</snapshotId><volumeId>vol-1</volumeId><status>completed</status>"
           "<startTime>2026-11-01T10:00:00.000Z</startTime><progress>100%</progress>"
           "<ownerId>123456789012</ownerId><volumeSize>20</volumeSize>"
           "<description>Created by CreateImage</description><encrypted>false</encrypted>"
           "<tagSet><item><key>delete-after-deregister</key><value>ami-1</value></item></tagSet>"
           "</item>";
  };
  h_.transport->reply(200,
                      "<DescribeSnapshotsResponse><snapshotSet>" + snapshot("snap-1") +
                          "</snapshotSet><nextToken>n</nextToken></DescribeSnapshotsResponse>");
  h_.transport->reply(200, "<DescribeSnapshotsResponse><snapshotSet>" + snapshot("snap-2") +
                               "</snapshotSet></DescribeSnapshotsResponse>");
  auto snapshots = client()->describeSnapshots(
      {.owner_ids = {"self"}, .filters = {{"tag-key", {"delete-after-deregister"}}}});
  ASSERT_TRUE(snapshots.has_value()) << snapshots.error().toString();
  ASSERT_EQ(snapshots->size(), 2u);
  const Snapshot& s = (*snapshots)[0];
  EXPECT_EQ(s.id, "snap-1");
  EXPECT_EQ(s.owner_id, "123456789012");
  EXPECT_EQ(s.volume_id, "vol-1");
  EXPECT_EQ(s.state, SnapshotState::Completed);
  EXPECT_EQ(s.volume_size_gib, 20);
  EXPECT_EQ(s.description, "Created by CreateImage");
  EXPECT_EQ(s.start_time, at("2026-11-01T10:00:00Z"));
  EXPECT_THAT(s.tags, ElementsAre(Pair("delete-after-deregister", "ami-1")));
  auto requests = h_.transport->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_THAT(
      formPairs(requests[0].body),
      ElementsAre(Pair("Action", "DescribeSnapshots"), Pair("Version", "2016-11-15"),
                  Pair("Owner.1", "self"), Pair("Filter.1.Name", "tag-key"),
                  Pair("Filter.1.Value.1", "delete-after-deregister"), Pair("MaxResults", "1000")));
  EXPECT_EQ(formMap(requests[1].body)["NextToken"], "n");
}

// A snapshot a registered image still uses is a Conflict (InvalidSnapshot.InUse), not retried; a
// missing one is NotFound.
TEST_F(Ec2Test, DeleteSnapshotInUseIsConflictAndMissingIsNotFound) {
  h_.transport->reply(
      400, ec2Error("InvalidSnapshot.InUse", "The snapshot snap-1 is currently in use by ami-1"));
  h_.transport->reply(
      400, ec2Error("InvalidSnapshot.NotFound", "The snapshot 'snap-2' does not exist."));
  auto in_use = client()->deleteSnapshot("snap-1");
  ASSERT_FALSE(in_use.has_value());
  EXPECT_EQ(in_use.error().code, ErrorCode::Conflict);
  EXPECT_EQ(in_use.error().provider_code, "InvalidSnapshot.InUse");
  auto missing = client()->deleteSnapshot("snap-2");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::NotFound);
  EXPECT_EQ(h_.transport->requests().size(), 2u);
}

// EC2 refuses a deprecation time in the past as InvalidParameterValue: InvalidArgument, no retry.
TEST_F(Ec2Test, EnableImageDeprecationInThePastIsInvalidArgument) {
  h_.transport->reply(
      400, ec2Error("InvalidParameterValue", "The deprecation time must be in the future."));
  auto st = client()->enableImageDeprecation("ami-1", *parseRfc3339("2020-01-01T00:00:00Z"));
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::InvalidArgument);
  EXPECT_EQ(h_.transport->requests().size(), 1u);
}

// A group still attached somewhere is a Conflict (DependencyViolation), not retried.
TEST_F(Ec2Test, DeleteSecurityGroupInUseIsConflict) {
  h_.transport->reply(400, ec2Error("DependencyViolation", "resource has a dependent object"));
  auto st = client()->deleteSecurityGroup("sg-1");
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::Conflict);
  EXPECT_EQ(h_.transport->requests().size(), 1u);
}

// AWS_ENDPOINT_URL_EC2 sends calls to the override while still signing for the region.
TEST_F(Ec2Test, EndpointOverrideIsUsed) {
  h_.transport->expect("POST", "http://127.0.0.1:4566/").reply(200, imagesPage("", ""));
  ASSERT_TRUE(client({{"AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:4566"}})->describeImages({}));
  http::Request sent = h_.transport->lastRequest();
  auto auth = http::findHeader(sent.headers, "Authorization");
  EXPECT_THAT(std::string(auth.value_or("")), HasSubstr("/eu-west-1/ec2/aws4_request"));
  EXPECT_EQ(http::findHeader(sent.headers, "host"), "127.0.0.1:4566");
}

// The client-side token bucket paces a burst of calls on the injected clock.
TEST_F(Ec2Test, RateLimiterPacesCalls) {
  ClientOptions o = h_.options();
  o.max_requests_per_second = 2;
  o.burst = 1;
  auto ec2 = makeEc2Client(o);
  ASSERT_TRUE(ec2.has_value());
  for (int i = 0; i < 5; ++i) {
    h_.transport->reply(200, "<R><return>true</return></R>");
    ASSERT_TRUE((*ec2)->deleteKeyPair("packer_" + std::to_string(i)).has_value());
  }
  EXPECT_EQ(h_.clock->totalSlept(), std::chrono::milliseconds(2000));
}

// Every spelling in the EC2 model's ImageState parses to its enumerator and prints back the same.
TEST(Ec2Enums, ImageStateSpellingsRoundTrip) {
  for (std::string_view s : {"pending", "available", "invalid", "deregistered", "transient",
                             "failed", "error", "disabled"}) {
    EXPECT_NE(parseImageState(s), ImageState::Unknown) << s;
    EXPECT_EQ(toString(parseImageState(s)), s);
  }
  EXPECT_EQ(parseImageState("Available"), ImageState::Unknown);
}

// Without a region anywhere the client cannot be built.
TEST(Ec2Client, NeedsRegion) {
  ClientHarness h;
  ClientOptions o = h.options();
  o.region.clear();
  EXPECT_FALSE(makeEc2Client(o).has_value());
  o.env = mapEnv({{"AWS_REGION", "us-west-2"}});
  EXPECT_TRUE(makeEc2Client(o).has_value());
}

}  // namespace
}  // namespace opsy::aws

namespace opsy::aws {
namespace {

// Every attempt is reported to the observer with its status and AWS code (metrics hook).
TEST(Ec2Observer, ReportsEachAttempt) {
  ClientHarness h;
  h.transport->reply(503, ec2Error("RequestLimitExceeded", "slow down"));
  h.transport->reply(200, "<R><return>true</return></R>");
  std::vector<std::tuple<std::string, std::string, int, int, std::string>> seen;
  ClientOptions o = h.options();
  o.observer = [&seen](const CallObservation& c) {
    seen.emplace_back(std::string(c.service), std::string(c.operation), c.attempt, c.http_status,
                      std::string(c.error_code));
  };
  auto ec2 = makeEc2Client(o);
  ASSERT_TRUE((*ec2)->deleteSecurityGroup("sg-1").has_value());
  EXPECT_THAT(seen, ElementsAre(std::make_tuple("ec2", "DeleteSecurityGroup", 1, 503,
                                                "RequestLimitExceeded"),
                                std::make_tuple("ec2", "DeleteSecurityGroup", 2, 200, "")));
}

}  // namespace
}  // namespace opsy::aws
