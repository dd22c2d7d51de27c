#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mocks/aws_mocks.h"

namespace opsy::aws {
namespace {

using ::testing::Return;
using ::testing::StrictMock;

// The mocks implement every interface method, so a consumer can script any call through the
// role it depends on.
TEST(AwsMocks, ImplementInterfaces) {
  StrictMock<MockEc2Api> ec2;
  EXPECT_CALL(ec2, deleteKeyPair("packer_1")).WillOnce(Return(Status{}));
  BuildCleanupApi& cleanup = ec2;
  EXPECT_TRUE(cleanup.deleteKeyPair("packer_1").has_value());
  EXPECT_CALL(ec2, describeInstances(testing::_)).WillOnce(Return(std::vector<Instance>{}));
  InstanceApi& instances = ec2;
  EXPECT_TRUE(instances.describeInstances({}).has_value());
  StrictMock<MockImageApi> images;
  EXPECT_CALL(images, createTags(std::vector<std::string>{"ami-1"}, Tags{{"status", "active"}}))
      .WillOnce(Return(Status{}));
  EXPECT_TRUE(
      static_cast<ImageApi&>(images).createTags({"ami-1"}, {{"status", "active"}}).has_value());
  StrictMock<MockEksApi> eks;
  StrictMock<MockAutoScalingApi> asg;
  StrictMock<MockSnsApi> sns;
  StrictMock<MockSesApi> ses;
}

}  // namespace
}  // namespace opsy::aws
