#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mocks/aws_mocks.h"

namespace opsy::aws {
namespace {

using ::testing::Return;
using ::testing::StrictMock;

// The mocks implement every interface method, so a consumer can script any call.
TEST(AwsMocks, ImplementInterfaces) {
  StrictMock<MockEc2Api> ec2;
  EXPECT_CALL(ec2, deregisterImage("ami-1")).WillOnce(Return(Status{}));
  Ec2Api& api = ec2;
  EXPECT_TRUE(api.deregisterImage("ami-1").has_value());
  StrictMock<MockEksApi> eks;
  StrictMock<MockAutoScalingApi> asg;
  StrictMock<MockStsApi> sts;
  StrictMock<MockSnsApi> sns;
  StrictMock<MockSesApi> ses;
  StrictMock<MockCredentialsProvider> creds;
  EXPECT_CALL(creds, name()).WillOnce(Return("mock"));
  EXPECT_EQ(static_cast<CredentialsProvider&>(creds).name(), "mock");
}

}  // namespace
}  // namespace opsy::aws
