#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <set>

#include "unit/fake_aws/fake_aws_test_util.h"

namespace opsy::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

std::string amiId(int n) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "ami-%017x", n);
  return buf;
}

class Ec2Test : public FakeAwsTest {
 protected:
  void SetUp() override {
    FakeAwsTest::SetUp();
    aws_->addImage({.id = amiId(1),
                    .name = "amazon-eks-node-al2023-x86_64-standard-1.30-v20260101",
                    .owner_id = "602401143452",
                    .creation_date = "2026-01-01T00:00:00.000Z",
                    .is_public = true});
    aws_->addImage({.id = amiId(2),
                    .name = "amazon-eks-node-al2023-x86_64-standard-1.31-v20260101",
                    .owner_id = "602401143452",
                    .is_public = true});
    aws_->addImage({.id = amiId(3),
                    .name = "opsy-managed-1",
                    .tags = {{"status", "active"}, {"cluster-name", "prod"}},
                    .snapshot_ids = {"snap-0000000000000003a"}});
    aws_->addImage({.id = amiId(4),
                    .name = "opsy-managed-2",
                    .state = "pending",
                    .tags = {{"status", "deprecated"}}});
    aws_->addImage({.id = amiId(5),
                    .name = "other-public-deprecated",
                    .owner_id = "999999999999",
                    .deprecation_time = "2026-02-01T00:00:00.000Z",
                    .is_public = true});
  }

  std::vector<std::string> imageIds(const std::string& params) {
    auto res = ec2("Action=DescribeImages&" + params);
    EXPECT_EQ(res->status, 200) << res->body;
    return xmlTexts(res->body, "//imagesSet/item/imageId");
  }
};

// Filter semantics: wildcards, values OR'd within a filter, filters AND'd, owners, tags.
TEST_F(Ec2Test, DescribeImagesFilterSemantics) {
  struct Case {
    std::string params;
    std::vector<std::string> expected;
  };
  std::vector<Case> cases = {
      {"Filter.1.Name=name&Filter.1.Value.1=amazon-eks-node-al2023-x86_64-standard-1.30*",
       {amiId(1)}},
      {"Filter.1.Name=name&Filter.1.Value.1=amazon-eks-node-al2023-x86_64-standard-1.3?-*",
       {amiId(1), amiId(2)}},
      {"Filter.1.Name=name&Filter.1.Value.1=opsy-managed-1&Filter.1.Value.2=opsy-managed-2",
       {amiId(3), amiId(4)}},
      {"Filter.1.Name=owner-id&Filter.1.Value.1=602401143452&Filter.2.Name=name&Filter.2.Value.1="
       "*1.31*",
       {amiId(2)}},
      {"Filter.1.Name=tag:status&Filter.1.Value.1=active", {amiId(3)}},
      {"Filter.1.Name=tag-key&Filter.1.Value.1=status", {amiId(3), amiId(4)}},
      {"Filter.1.Name=state&Filter.1.Value.1=available&Filter.2.Name=tag-key&Filter.2.Value.1="
       "status",
       {amiId(3)}},
      {"Filter.1.Name=image-id&Filter.1.Value.1=" + amiId(2), {amiId(2)}},
      {"Owner.1=self", {amiId(3), amiId(4)}},
      {"Owner.1=602401143452&Owner.2=self", {amiId(1), amiId(2), amiId(3), amiId(4)}},
      // Deprecated images of other owners are hidden unless asked for...
      {"Owner.1=999999999999", {}},
      {"Owner.1=999999999999&IncludeDeprecated=true", {amiId(5)}},
      // ...or requested by id.
      {"ImageId.1=" + amiId(5), {amiId(5)}},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(imageIds(c.params), c.expected) << c.params;
  }
}

// A backslash makes '*' and '?' literal in filter values.
TEST_F(Ec2Test, DescribeImagesFilterEscapes) {
  aws_->addImage({.id = amiId(6), .name = "star*name"});
  aws_->addImage({.id = amiId(7), .name = "starXname"});
  EXPECT_EQ(imageIds("Filter.1.Name=name&Filter.1.Value.1=star*name"),
            (std::vector<std::string>{amiId(6), amiId(7)}));
  EXPECT_EQ(imageIds("Filter.1.Name=name&Filter.1.Value.1=star%5C*name"),
            (std::vector<std::string>{amiId(6)}));
}

// A DescribeImages response has the EC2 shape: namespace, lower-case requestId, imagesSet/item.
TEST_F(Ec2Test, DescribeImagesResponseShape) {
  auto res = ec2("Action=DescribeImages&ImageId.1=" + amiId(3));
  ASSERT_EQ(res->status, 200);
  auto doc = parseXml(res->body);
  auto root = doc.child("DescribeImagesResponse");
  EXPECT_STREQ(root.attribute("xmlns").value(), "http://ec2.amazonaws.com/doc/2016-11-15/");
  EXPECT_FALSE(std::string(root.child_value("requestId")).empty());
  auto item = root.child("imagesSet").child("item");
  EXPECT_STREQ(item.child_value("imageOwnerId"), "123456789012");
  EXPECT_STREQ(item.child_value("imageState"), "available");
  EXPECT_STREQ(
      item.child("blockDeviceMapping").child("item").child("ebs").child_value("snapshotId"),
      "snap-0000000000000003a");
  std::map<std::string, std::string> tags;
  for (auto t : item.child("tagSet").children("item")) {
    tags[t.child_value("key")] = t.child_value("value");
  }
  EXPECT_EQ(tags,
            (std::map<std::string, std::string>{{"cluster-name", "prod"}, {"status", "active"}}));
}

// Unknown ids are InvalidAMIID.NotFound, badly formed ones InvalidAMIID.Malformed, in EC2's
// <Response><Errors> shape with RequestID.
TEST_F(Ec2Test, DescribeImagesIdErrors) {
  auto res = ec2("Action=DescribeImages&ImageId.1=" + amiId(99));
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidAMIID.NotFound");
  EXPECT_FALSE(xmlText(res->body, "RequestID").empty());
  EXPECT_TRUE(parseXml(res->body).child("Response").child("Errors").child("Error"));
  res = ec2("Action=DescribeImages&ImageId.1=ami-xyz");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidAMIID.Malformed");
}

// MaxResults outside 5..1000, unknown filters and bad tokens are rejected.
TEST_F(Ec2Test, DescribeImagesParameterValidation) {
  for (std::string p :
       {"MaxResults=4", "MaxResults=1001", "Filter.1.Name=bogus&Filter.1.Value.1=x"}) {
    auto res = ec2("Action=DescribeImages&" + p);
    EXPECT_EQ(res->status, 400) << p;
    EXPECT_EQ(xmlText(res->body, "Code"), "InvalidParameterValue") << p;
  }
  auto res = ec2("Action=DescribeImages&MaxResults=5&NextToken=garbage");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidParameterValue");
  res = ec2("Action=DescribeImages&MaxResults=5&ImageId.1=" + amiId(1));
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidParameterCombination");
}

// 2,000 images page through with opaque tokens: every image exactly once, tokens bound to the
// query that produced them.
TEST_F(Ec2Test, DescribeImagesPaginatesTwoThousandImages) {
  for (int i = 100; i < 2100; ++i) {
    aws_->addImage({.id = amiId(i), .name = "bulk-" + std::to_string(i), .tags = {{"bulk", "y"}}});
  }
  std::set<std::string> seen;
  std::string token;
  int pages = 0;
  std::string first_token;
  do {
    std::string params =
        "Action=DescribeImages&MaxResults=300&Filter.1.Name=tag-key&"
        "Filter.1.Value.1=bulk";
    if (!token.empty())
      params += "&NextToken=" + uriEncode(token, false);
    auto res = ec2(params);
    ASSERT_EQ(res->status, 200) << res->body;
    for (const auto& id : xmlTexts(res->body, "//imagesSet/item/imageId")) {
      EXPECT_TRUE(seen.insert(id).second) << id;
    }
    token = xmlText(res->body, "nextToken");
    if (first_token.empty())
      first_token = token;
    ++pages;
  } while (!token.empty());
  EXPECT_EQ(seen.size(), 2000u);
  EXPECT_EQ(pages, 7);
  // The token of one query is not valid for another.
  auto res = ec2("Action=DescribeImages&MaxResults=300&NextToken=" + uriEncode(first_token, false));
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidParameterValue");
  EXPECT_EQ(aws_->callCount("ec2", "DescribeImages"), 8);
}

// CreateTags and DeleteTags change the image's tags; unknown resources fail atomically.
TEST_F(Ec2Test, CreateAndDeleteTags) {
  auto res = ec2("Action=CreateTags&ResourceId.1=" + amiId(3) +
                 "&Tag.1.Key=status&Tag.1.Value=deprecated&Tag.2.Key=empty&Tag.2.Value=");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(xmlText(res->body, "return"), "true");
  EXPECT_EQ(aws_->image(amiId(3))->tags.at("status"), "deprecated");
  EXPECT_EQ(aws_->image(amiId(3))->tags.at("empty"), "");
  res = ec2("Action=CreateTags&ResourceId.1=" + amiId(3) + "&ResourceId.2=" + amiId(77) +
            "&Tag.1.Key=x&Tag.1.Value=y");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidAMIID.NotFound");
  EXPECT_FALSE(aws_->image(amiId(3))->tags.count("x"));
  res = ec2("Action=DeleteTags&ResourceId.1=" + amiId(3) + "&Tag.1.Key=status&Tag.1.Value=other");
  EXPECT_EQ(aws_->image(amiId(3))->tags.at("status"), "deprecated");  // value did not match
  res = ec2("Action=DeleteTags&ResourceId.1=" + amiId(3) + "&Tag.1.Key=status");
  EXPECT_FALSE(aws_->image(amiId(3))->tags.count("status"));
}

// RegisterImage creates an available ami- + 17 hex image dated by the injected clock; the
// snapshot of a registered image cannot be deleted until the image is deregistered.
TEST_F(Ec2Test, RegisterDeregisterAndSnapshotLifecycle) {
  aws_->addSnapshot("snap-0123456789abcdef0");
  auto res =
      ec2("Action=RegisterImage&Name=built-1&BlockDeviceMapping.1.DeviceName=/dev/xvda&"
          "BlockDeviceMapping.1.Ebs.SnapshotId=snap-0123456789abcdef0");
  ASSERT_EQ(res->status, 200) << res->body;
  std::string id = xmlText(res->body, "imageId");
  EXPECT_TRUE(std::regex_match(id, std::regex("^ami-[0-9a-f]{17}$"))) << id;
  EXPECT_EQ(aws_->image(id)->creation_date, "2026-03-01T12:00:00.000Z");
  EXPECT_EQ(aws_->image(id)->state, "available");
  res = ec2("Action=RegisterImage&Name=built-1");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidAMIName.Duplicate");
  res = ec2("Action=DeleteSnapshot&SnapshotId=snap-0123456789abcdef0");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidSnapshot.InUse");
  res = ec2("Action=DeregisterImage&ImageId=" + id);
  EXPECT_EQ(res->status, 200);
  res = ec2("Action=DeleteSnapshot&SnapshotId=snap-0123456789abcdef0");
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_TRUE(aws_->snapshots().empty() ||
              aws_->snapshots() == std::vector<std::string>{"snap-0000000000000003a"});
}

// Images and snapshots are regional: one seeded or registered in a region is seen, tagged,
// deregistered and deleted only by calls signed for that region; one seeded without a region is
// seen everywhere. AMI names are unique per region, so a copy may share its image's name.
TEST_F(Ec2Test, ImagesAndSnapshotsAreRegional) {
  aws_->addImage({.id = amiId(7),
                  .name = "copy-eu",
                  .tags = {{"status", "active"}},
                  .snapshot_ids = {"snap-0000000000000007e"},
                  .region = "eu-west-1"});
  EXPECT_EQ(aws_->snapshot("snap-0000000000000007e")->region, "eu-west-1");
  auto in = [&](const std::string& region, const std::string& params) {
    return query("ec2", "Version=2016-11-15&" + params, SignSpec{.region = region});
  };
  auto ids = [&](const std::string& region) {
    auto res = in(region, "Action=DescribeImages&Owner.1=self");
    EXPECT_EQ(res->status, 200) << res->body;
    return xmlTexts(res->body, "//imagesSet/item/imageId");
  };
  // The regionless seeds (3, 4) are everywhere; 7 only in eu-west-1.
  EXPECT_THAT(ids("eu-west-1"), ElementsAre(amiId(3), amiId(4), amiId(7)));
  EXPECT_THAT(ids("us-east-1"), ElementsAre(amiId(3), amiId(4)));
  auto res = in("us-east-1", "Action=DescribeImages&ImageId.1=" + amiId(7));
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidAMIID.NotFound");
  res = in("us-west-2",
           "Action=CreateTags&ResourceId.1=" + amiId(7) + "&Tag.1.Key=status&Tag.1.Value=x");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidAMIID.NotFound");
  res = in("us-west-2",
           "Action=CreateTags&ResourceId.1=snap-0000000000000007e&Tag.1.Key=k&Tag.1.Value=v");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidSnapshot.NotFound");
  res = in("us-west-2", "Action=DescribeSnapshots&Owner.1=self");
  EXPECT_THAT(xmlTexts(res->body, "//snapshotSet/item/snapshotId"),
              ElementsAre("snap-0000000000000003a"));
  res = in("eu-west-1", "Action=CreateTags&ResourceId.1=" + amiId(7) +
                            "&ResourceId.2=snap-0000000000000007e&Tag.1.Key=status&Tag.1.Value=x");
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(aws_->image(amiId(7))->tags.at("status"), "x");
  EXPECT_EQ(aws_->snapshot("snap-0000000000000007e")->tags.at("status"), "x");
  res = in("us-east-1", "Action=DeregisterImage&ImageId=" + amiId(7));
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidAMIID.NotFound");

  // RegisterImage puts the image in the call's region; the same name may be used in another.
  aws_->addSnapshot(FakeSnapshot{.id = "snap-0000000000000008a", .region = "us-west-2"});
  res = in("us-west-2",
           "Action=RegisterImage&Name=built-1&BlockDeviceMapping.1.DeviceName=/dev/xvda&"
           "BlockDeviceMapping.1.Ebs.SnapshotId=snap-0000000000000008a");
  ASSERT_EQ(res->status, 200) << res->body;
  const std::string us = xmlText(res->body, "imageId");
  EXPECT_EQ(aws_->image(us)->region, "us-west-2");
  res = in("eu-west-1", "Action=RegisterImage&Name=built-1");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(aws_->image(xmlText(res->body, "imageId"))->region, "eu-west-1");
  res = in("us-west-2", "Action=RegisterImage&Name=built-1");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidAMIName.Duplicate");
  // A snapshot of another region cannot back an image here.
  res = in("eu-west-1",
           "Action=RegisterImage&Name=built-2&BlockDeviceMapping.1.DeviceName=/dev/xvda&"
           "BlockDeviceMapping.1.Ebs.SnapshotId=snap-0000000000000008a");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidSnapshot.NotFound");
  res = in("eu-west-1", "Action=DeleteSnapshot&SnapshotId=snap-0000000000000008a");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidSnapshot.NotFound");
}

// Snapshots are objects: CreateTags tags them, DescribeSnapshots lists the caller's (owner self)
// and public ones with tag filters, a missing one is InvalidSnapshot.NotFound, another account's
// may be read but not deleted, and one a registered image uses is InvalidSnapshot.InUse.
TEST_F(Ec2Test, SnapshotsAreTaggedListedAndGuarded) {
  aws_->addSnapshot("snap-0123456789abcdef0");
  aws_->addSnapshot(
      FakeSnapshot{.id = "snap-0999999999999999f", .owner_id = "602401143452", .is_public = true});
  auto res =
      ec2("Action=CreateTags&ResourceId.1=snap-0123456789abcdef0&Tag.1.Key=marker&"
          "Tag.1.Value=" +
          amiId(9));
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(aws_->snapshot("snap-0123456789abcdef0")->tags.at("marker"), amiId(9));

  auto ids = [&](const std::string& params) {
    auto r = ec2("Action=DescribeSnapshots&" + params);
    EXPECT_EQ(r->status, 200) << r->body;
    return xmlTexts(r->body, "//snapshotSet/item/snapshotId");
  };
  EXPECT_THAT(ids("Owner.1=self"),
              UnorderedElementsAre("snap-0000000000000003a", "snap-0123456789abcdef0"));
  EXPECT_THAT(ids("Owner.1=self&Filter.1.Name=tag-key&Filter.1.Value.1=marker"),
              ElementsAre("snap-0123456789abcdef0"));
  EXPECT_THAT(ids("Filter.1.Name=tag:marker&Filter.1.Value.1=" + amiId(9)),
              ElementsAre("snap-0123456789abcdef0"));
  EXPECT_THAT(ids("Owner.1=602401143452"), ElementsAre("snap-0999999999999999f"));
  EXPECT_THAT(ids("SnapshotId.1=snap-0123456789abcdef0"), ElementsAre("snap-0123456789abcdef0"));
  res = ec2("Action=DescribeSnapshots&Owner.1=self&MaxResults=5");
  EXPECT_EQ(xmlTexts(res->body, "//snapshotSet/item/status"),
            (std::vector<std::string>{"completed", "completed"}));
  EXPECT_EQ(xmlTexts(res->body, "//snapshotSet/item/ownerId"),
            (std::vector<std::string>{"123456789012", "123456789012"}));
  res = ec2("Action=DescribeSnapshots&SnapshotId.1=snap-0000000000000000b");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidSnapshot.NotFound");
  res = ec2("Action=DescribeSnapshots&Filter.1.Name=no-such-filter&Filter.1.Value.1=x");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidParameterValue");

  res = ec2("Action=DeleteSnapshot&SnapshotId=snap-0000000000000000b");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidSnapshot.NotFound");
  res = ec2("Action=DeleteSnapshot&SnapshotId=snap-0999999999999999f");
  EXPECT_EQ(res->status, 403);
  EXPECT_EQ(xmlText(res->body, "Code"), "UnauthorizedOperation");
  res = ec2("Action=DeleteSnapshot&SnapshotId=snap-0000000000000003a");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidSnapshot.InUse");
  EXPECT_EQ(xmlText(res->body, "Message"),
            "The snapshot snap-0000000000000003a is currently in use by " + amiId(3));
  res = ec2("Action=DeleteSnapshot&SnapshotId=snap-0123456789abcdef0");
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_FALSE(aws_->snapshot("snap-0123456789abcdef0").has_value());
}

// EnableImageDeprecation sets a future deprecation time; afterwards other accounts' views hide it
// while the owner still sees it.
TEST_F(Ec2Test, EnableImageDeprecation) {
  auto res = ec2("Action=EnableImageDeprecation&ImageId=" + amiId(3) +
                 "&DeprecateAt=2026-03-01T12:30:45Z");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(aws_->image(amiId(3))->deprecation_time, "2026-03-01T12:30:00.000Z");
  res = ec2("Action=EnableImageDeprecation&ImageId=" + amiId(3) +
            "&DeprecateAt=2020-01-01T00:00:00Z");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidParameterValue");
}

class LaunchTemplateTest : public FakeAwsTest {
 protected:
  static constexpr const char* kLt = "lt-0123456789abcdef0";
  void SetUp() override {
    FakeAwsTest::SetUp();
    aws_->addImage({.id = amiId(1), .name = "a"});
    aws_->addLaunchTemplate(
        {.id = kLt,
         .name = "nodes",
         .default_version = 1,
         .versions = {{.data = {.image_id = amiId(1), .instance_type = "m5.large"}},
                      {.data = {.image_id = amiId(1), .instance_type = "m5.xlarge"}}}});
  }
};

// DescribeLaunchTemplateVersions resolves $Latest/$Default/numbers by id or name; unknown
// versions and templates are EC2's real errors.
TEST_F(LaunchTemplateTest, DescribeVersions) {
  auto res = ec2(std::string("Action=DescribeLaunchTemplateVersions&LaunchTemplateId=") + kLt +
                 "&LaunchTemplateVersion.1=$Latest&LaunchTemplateVersion.2=$Default");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_THAT(xmlTexts(res->body, "//launchTemplateVersionSet/item/versionNumber"),
              ElementsAre("2", "1"));
  EXPECT_THAT(xmlTexts(res->body, "//launchTemplateVersionSet/item/defaultVersion"),
              ElementsAre("false", "true"));
  res = ec2("Action=DescribeLaunchTemplateVersions&LaunchTemplateName=nodes&MaxResults=1");
  EXPECT_THAT(xmlTexts(res->body, "//launchTemplateVersionSet/item/versionNumber"),
              ElementsAre("2"));
  std::string token = xmlText(res->body, "nextToken");
  ASSERT_FALSE(token.empty());
  res =
      ec2("Action=DescribeLaunchTemplateVersions&LaunchTemplateName=nodes&MaxResults=1&NextToken=" +
          uriEncode(token, false));
  EXPECT_THAT(xmlTexts(res->body, "//launchTemplateVersionSet/item/versionNumber"),
              ElementsAre("1"));
  EXPECT_EQ(xmlText(res->body, "nextToken"), "");
  res = ec2(std::string("Action=DescribeLaunchTemplateVersions&LaunchTemplateId=") + kLt +
            "&LaunchTemplateVersion.1=9");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidLaunchTemplateId.VersionNotFound");
  res = ec2("Action=DescribeLaunchTemplateVersions&LaunchTemplateId=lt-00000000000000000");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidLaunchTemplateId.NotFound");
  res = ec2("Action=DescribeLaunchTemplateVersions&LaunchTemplateName=nope");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidLaunchTemplateName.NotFoundException");
}

// CreateLaunchTemplateVersion inherits from SourceVersion and overrides ImageId; the same
// ClientToken with the same parameters returns the same version, with other parameters fails.
TEST_F(LaunchTemplateTest, CreateVersionInheritsAndIsIdempotent) {
  aws_->addImage({.id = amiId(2), .name = "b"});
  std::string params = std::string("Action=CreateLaunchTemplateVersion&LaunchTemplateId=") + kLt +
                       "&SourceVersion=2&LaunchTemplateData.ImageId=" + amiId(2) +
                       "&ClientToken=tok-1";
  auto res = ec2(params);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(xmlText(res->body, "versionNumber"), "3");
  EXPECT_EQ(xmlText(res->body, "instanceType"), "m5.xlarge");
  EXPECT_EQ(xmlText(res->body, "imageId"), amiId(2));
  res = ec2(params);
  EXPECT_EQ(xmlText(res->body, "versionNumber"), "3");
  EXPECT_EQ(aws_->launchTemplate(kLt)->versions.size(), 3u);
  res = ec2(std::string("Action=CreateLaunchTemplateVersion&LaunchTemplateId=") + kLt +
            "&SourceVersion=1&LaunchTemplateData.ImageId=" + amiId(2) + "&ClientToken=tok-1");
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(xmlText(res->body, "Code"), "IdempotentParameterMismatch");
  // A missing AMI is accepted with a warning, as EC2 does.
  res = ec2(std::string("Action=CreateLaunchTemplateVersion&LaunchTemplateId=") + kLt +
            "&LaunchTemplateData.ImageId=" + amiId(55));
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(xmlText(res->body, "code"), "InvalidAMIID.NotFound");
}

// DescribeLaunchTemplates finds templates by id, name or tag and reports version numbers.
TEST_F(LaunchTemplateTest, DescribeLaunchTemplates) {
  auto res = ec2("Action=DescribeLaunchTemplates&LaunchTemplateName.1=nodes");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(xmlText(res->body, "launchTemplateId"), kLt);
  EXPECT_EQ(xmlText(res->body, "latestVersionNumber"), "2");
  EXPECT_EQ(xmlText(res->body, "defaultVersionNumber"), "1");
  res = ec2("Action=DescribeLaunchTemplates&LaunchTemplateName.1=missing");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidLaunchTemplateName.NotFoundException");
}

// ModifyLaunchTemplate's SetDefaultVersion moves the default and is recorded.
TEST_F(LaunchTemplateTest, ModifySetsDefaultVersion) {
  auto res = ec2(std::string("Action=ModifyLaunchTemplate&LaunchTemplateId=") + kLt +
                 "&SetDefaultVersion=2");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(xmlText(res->body, "defaultVersionNumber"), "2");
  EXPECT_EQ(xmlText(res->body, "latestVersionNumber"), "2");
  EXPECT_EQ(aws_->launchTemplate("nodes")->default_version, 2);
  ASSERT_EQ(aws_->defaultVersionChanges().size(), 1u);
  res = ec2(std::string("Action=ModifyLaunchTemplate&LaunchTemplateId=") + kLt +
            "&SetDefaultVersion=7");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidLaunchTemplateId.VersionNotFound");
}

// Security groups and key pairs: describe with filters, real not-found codes, DependencyViolation,
// and DeleteKeyPair succeeding for a key that does not exist.
TEST_F(FakeAwsTest, SecurityGroupsAndKeyPairs) {
  aws_->addSecurityGroup(
      {.id = "sg-0123456789abcdef0", .name = "packer-1", .tags = {{"opsy", "y"}}});
  aws_->addSecurityGroup({.id = "sg-0123456789abcdef1", .name = "busy", .in_use = true});
  aws_->addKeyPair({.id = "key-0123456789abcdef0", .name = "packer-key"});
  auto res = ec2("Action=DescribeSecurityGroups&Filter.1.Name=tag:opsy&Filter.1.Value.1=y");
  EXPECT_THAT(xmlTexts(res->body, "//securityGroupInfo/item/groupId"),
              ElementsAre("sg-0123456789abcdef0"));
  res = ec2("Action=DescribeSecurityGroups&GroupId.1=sg-0000000000000000f");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidGroup.NotFound");
  res = ec2("Action=DescribeSecurityGroups&MaxResults=4");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidParameterValue");
  res = ec2("Action=DeleteSecurityGroup&GroupId=sg-0123456789abcdef1");
  EXPECT_EQ(xmlText(res->body, "Code"), "DependencyViolation");
  res = ec2("Action=DeleteSecurityGroup&GroupId=sg-0123456789abcdef0");
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(aws_->securityGroups().size(), 1u);
  res = ec2("Action=DescribeKeyPairs&KeyName.1=nope");
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidKeyPair.NotFound");
  res = ec2("Action=DescribeKeyPairs&Filter.1.Name=key-name&Filter.1.Value.1=packer-*");
  EXPECT_THAT(xmlTexts(res->body, "//keySet/item/keyName"), ElementsAre("packer-key"));
  res = ec2("Action=DeleteKeyPair&KeyName=packer-key");
  EXPECT_EQ(xmlText(res->body, "keyPairId"), "key-0123456789abcdef0");
  res = ec2("Action=DeleteKeyPair&KeyName=packer-key");
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(xmlText(res->body, "return"), "true");
  EXPECT_TRUE(aws_->keyPairs().empty());
}

// An unknown Action is InvalidAction.
TEST_F(FakeAwsTest, UnknownEc2ActionIsInvalidAction) {
  auto res = ec2("Action=RunEverything");
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(xmlText(res->body, "Code"), "InvalidAction");
}

}  // namespace
}  // namespace opsy::testing
