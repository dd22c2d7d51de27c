// A client whose region the (fake) AWS does not serve gets no answer at all, as when a region's
// endpoint does not resolve: Unavailable, retried, never a verdict on the resource.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "integration/aws/fake_aws_clients.h"
#include "opsy/aws/ec2.h"
#include "opsy/aws/eks.h"

namespace opsy::aws {
namespace {

TEST_F(FakeAwsClientsTest, UnknownRegionIsUnavailableAndRetried) {
  fake_.addNodegroup({.cluster = "prod", .name = "ng-a"});
  auto eks = makeEksClient(options("ap-east-1", 3)).value();
  auto ng = eks->describeNodegroup("prod", "ng-a");
  ASSERT_FALSE(ng);
  EXPECT_EQ(ng.error().code, ErrorCode::Unavailable) << ng.error().toString();
  EXPECT_EQ(ng.error().http_status, 0);
  EXPECT_TRUE(ng.error().provider_code.empty());
  EXPECT_EQ(ng.error().action, "eks:DescribeNodegroup");
  EXPECT_EQ(attempts_, 3);
  for (const testing::FakeCall& c : fake_.calls()) {
    EXPECT_EQ(c.error_code, "unknown-region");
  }

  // The same client set-up in a served region reaches the node group.
  auto served = makeEksClient(options("us-west-2")).value();
  EXPECT_TRUE(served->describeNodegroup("prod", "ng-a"));
}

}  // namespace
}  // namespace opsy::aws
