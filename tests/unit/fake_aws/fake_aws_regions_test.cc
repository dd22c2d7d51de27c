// Regions: the fake serves a set of regions; a request for any other region gets what an SDK gets
// from an endpoint that does not exist, no answer at all.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/fake_aws/fake_aws_test_util.h"

namespace opsy::testing {
namespace {

using ::testing::HasSubstr;

constexpr const char* kCallerIdentity = "Action=GetCallerIdentity&Version=2011-06-15";
constexpr const char* kWebIdentity =
    "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012"
    "%3Arole%2Fr&RoleSessionName=opsy&WebIdentityToken=fake-web-identity-token";

// The regions the tests use are served by default, each answered in its own name.
TEST_F(FakeAwsTest, DefaultRegionsAreTheOnesTestsUse) {
  for (const char* region : {"us-east-1", "us-west-2", "eu-west-1"}) {
    auto res = query("sts", kCallerIdentity, {.region = region});
    ASSERT_TRUE(res) << region;
    EXPECT_EQ(res->status, 200) << region;
  }
  aws_->addCluster({.name = "prod"});
  auto res = send({"GET", "/clusters/prod", "", "", {}},
                  SignSpec{.region = "us-west-2", .service = "eks"});
  ASSERT_EQ(res->status, 200);
  EXPECT_THAT(res->body, HasSubstr("\"arn:aws:eks:us-west-2:123456789012:cluster/prod\""));
}

// A request signed for a region the fake does not serve is never answered, whatever else is wrong
// with it: the connection closes with no status line, and the call log says why.
TEST_F(FakeAwsTest, UnknownRegionGetsNoAnswer) {
  EXPECT_FALSE(query("ec2", "Action=DescribeImages&Version=2016-11-15", {.region = "ap-east-1"}));
  EXPECT_FALSE(query("sts", kCallerIdentity,
                     {.access_key = "AKIDUNKNOWN", .region = "xx-nowhere-1", .service = "sts"}));
  aws_->addCluster({.name = "prod"});
  EXPECT_FALSE(send({"GET", "/clusters/prod", "", "", {}},
                    SignSpec{.region = "eu-central-1", .service = "eks"}));
  auto calls = aws_->calls();
  ASSERT_EQ(calls.size(), 3u);
  for (const FakeCall& c : calls) {
    EXPECT_EQ(c.status, 0);
    EXPECT_EQ(c.error_code, "unknown-region");
  }
  EXPECT_EQ(calls[0].region, "ap-east-1");
  EXPECT_EQ(calls[2].service, "eks");
  EXPECT_EQ(calls[2].operation, "DescribeCluster");
  // Faults never get a say either: the request did not reach a service.
  ASSERT_TRUE(aws_->denyOperation("ec2:DescribeImages"));
  EXPECT_FALSE(query("ec2", "Action=DescribeImages&Version=2016-11-15", {.region = "ap-east-1"}));
}

// An unsigned request carries no scope; sent to a regional host name (through a proxy), the host
// says which region it is for.
TEST_F(FakeAwsTest, UnsignedRequestForAnotherRegionsHostGetsNoAnswer) {
  auto post = [&](const std::string& host) {
    return client_->Post("/", httplib::Headers{{"Host", host}}, kWebIdentity,
                         "application/x-www-form-urlencoded");
  };
  EXPECT_FALSE(post("sts.ap-east-1.amazonaws.com"));
  auto res = post("sts.us-west-2.amazonaws.com");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  // No regional host name, no scope: nothing says the region is wrong.
  res = post(host());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

// FakeAwsOptions::regions replaces the default set; a pinned region is always served.
TEST(FakeAwsRegions, RegionsOptionReplacesTheDefault) {
  auto clock = std::make_shared<FakeClock>(parseRfc3339("2026-03-01T12:00:00Z").value());
  FakeAws aws({.clock = clock, .regions = {"eu-central-1"}});
  ASSERT_TRUE(aws.start());
  httplib::Client client("127.0.0.1", aws.port());
  client.set_read_timeout(5, 0);
  std::string host = "127.0.0.1:" + std::to_string(aws.port());
  auto call = [&](const std::string& region) {
    SentRequest r{"POST", "/", kCallerIdentity, "application/x-www-form-urlencoded", {}};
    signInto(r, host, {.region = region, .service = "sts"}, clock->now());
    return client.Post("/", r.headers, r.body, r.content_type.c_str());
  };
  ASSERT_TRUE(call("eu-central-1"));
  EXPECT_EQ(call("eu-central-1")->status, 200);
  EXPECT_FALSE(call("us-east-1"));
  aws.stop();

  FakeAws pinned({.clock = clock, .regions = {"us-east-1"}, .region = "eu-north-1"});
  ASSERT_TRUE(pinned.start());
  httplib::Client pinned_client("127.0.0.1", pinned.port());
  host = "127.0.0.1:" + std::to_string(pinned.port());
  SentRequest r{"POST", "/", kCallerIdentity, "application/x-www-form-urlencoded", {}};
  signInto(r, host, {.region = "eu-north-1", .service = "sts"}, clock->now());
  auto res = pinned_client.Post("/", r.headers, r.body, r.content_type.c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  pinned.stop();
}

}  // namespace
}  // namespace opsy::testing
