#include "opsy/aws/endpoints.h"

#include <gtest/gtest.h>

namespace opsy::aws {
namespace {

// The caller's region wins over AWS_REGION, which wins over AWS_DEFAULT_REGION.
TEST(ResolveRegion, CallerThenAwsRegionThenDefault) {
  auto env = mapEnv({{"AWS_REGION", "eu-west-1"}, {"AWS_DEFAULT_REGION", "us-west-2"}});
  EXPECT_EQ(resolveRegion("ap-south-1", env).value(), "ap-south-1");
  EXPECT_EQ(resolveRegion("", env).value(), "eu-west-1");
  EXPECT_EQ(resolveRegion("", mapEnv({{"AWS_DEFAULT_REGION", "us-west-2"}})).value(), "us-west-2");
}

// No region anywhere, or a malformed one, is an error rather than a guess.
TEST(ResolveRegion, MissingOrMalformedIsInvalid) {
  EXPECT_EQ(resolveRegion("", mapEnv({})).error().code, ErrorCode::InvalidArgument);
  EXPECT_EQ(resolveRegion("eu-west-1/evil", mapEnv({})).error().code, ErrorCode::InvalidArgument);
}

struct HostCase {
  Service service;
  const char* region;
  bool fips;
  const char* url;
};

class StandardHosts : public testing::TestWithParam<HostCase> {};

// Each service has its standard, FIPS and China-partition host.
TEST_P(StandardHosts, Resolve) {
  const HostCase& c = GetParam();
  EndpointOptions options;
  options.fips = c.fips;
  auto ep = resolveEndpoint(c.service, c.region, mapEnv({}), options);
  ASSERT_TRUE(ep.has_value()) << ep.error().toString();
  EXPECT_EQ(ep->url, c.url);
  EXPECT_FALSE(ep->overridden);
}

INSTANTIATE_TEST_SUITE_P(
    Services, StandardHosts,
    testing::Values(
        HostCase{Service::Ec2, "eu-west-1", false, "https://ec2.eu-west-1.amazonaws.com"},
        HostCase{Service::Eks, "us-east-2", false, "https://eks.us-east-2.amazonaws.com"},
        HostCase{Service::AutoScaling, "eu-west-1", false,
                 "https://autoscaling.eu-west-1.amazonaws.com"},
        HostCase{Service::Sts, "eu-west-1", false, "https://sts.eu-west-1.amazonaws.com"},
        HostCase{Service::Sns, "eu-west-1", false, "https://sns.eu-west-1.amazonaws.com"},
        HostCase{Service::Ses, "eu-west-1", false, "https://email.eu-west-1.amazonaws.com"},
        HostCase{Service::Ec2, "us-east-1", true, "https://ec2-fips.us-east-1.amazonaws.com"},
        HostCase{Service::Eks, "us-gov-west-1", true,
                 "https://eks-fips.us-gov-west-1.amazonaws.com"},
        HostCase{Service::Ec2, "cn-north-1", false, "https://ec2.cn-north-1.amazonaws.com.cn"},
        HostCase{Service::AutoScaling, "cn-northwest-1", false,
                 "https://autoscaling.cn-northwest-1.amazonaws.com.cn"}));

// Signing names differ from hosts for SES v2 ("email" host, "ses" signature).
TEST(Endpoints, SigningNames) {
  EXPECT_EQ(signingName(Service::Ses), "ses");
  EXPECT_EQ(signingName(Service::AutoScaling), "autoscaling");
  EXPECT_EQ(resolveEndpoint(Service::Ses, "eu-west-1", mapEnv({}))->signing_name, "ses");
}

// AWS_ENDPOINT_URL points every service at one place; the service variable wins over it.
TEST(Endpoints, ServiceSpecificOverrideWins) {
  auto env = mapEnv({{"AWS_ENDPOINT_URL", "http://127.0.0.1:4566/"},
                     {"AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:5000"},
                     {"AWS_ENDPOINT_URL_AUTO_SCALING", "http://127.0.0.1:5001"},
                     {"AWS_ENDPOINT_URL_SES", "http://127.0.0.1:5002"}});
  EXPECT_EQ(resolveEndpoint(Service::Ec2, "eu-west-1", env)->url, "http://127.0.0.1:5000");
  EXPECT_EQ(resolveEndpoint(Service::AutoScaling, "eu-west-1", env)->url, "http://127.0.0.1:5001");
  EXPECT_EQ(resolveEndpoint(Service::Ses, "eu-west-1", env)->url, "http://127.0.0.1:5002");
  auto eks = resolveEndpoint(Service::Eks, "eu-west-1", env);
  EXPECT_EQ(eks->url, "http://127.0.0.1:4566");
  EXPECT_TRUE(eks->overridden);
  EXPECT_EQ(eks->region, "eu-west-1");
}

// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS switches the overrides off.
TEST(Endpoints, OverridesCanBeIgnored) {
  auto env = mapEnv({{"AWS_ENDPOINT_URL", "http://127.0.0.1:4566"},
                     {"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"}});
  EXPECT_EQ(resolveEndpoint(Service::Sts, "eu-west-1", env)->url,
            "https://sts.eu-west-1.amazonaws.com");
}

// There is no FIPS endpoint in the China partition.
TEST(Endpoints, NoFipsInChina) {
  EndpointOptions fips;
  fips.fips = true;
  EXPECT_FALSE(resolveEndpoint(Service::Ec2, "cn-north-1", mapEnv({}), fips).has_value());
}

}  // namespace
}  // namespace opsy::aws
