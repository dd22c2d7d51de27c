// File: aws_mocks.h
//
// gmock classes for the AWS interfaces that controller and notifier tests depend on, for tests
// that should not care about wire formats (use the scripted transport for those). Prefer
// StrictMock<…>.
//
//   testing::StrictMock<aws::MockEc2Api> ec2;
//   EXPECT_CALL(ec2, describeImages(testing::_)).WillOnce(testing::Return(images));
#pragma once

#include <gmock/gmock.h>

#include "opsy/aws/autoscaling.h"
#include "opsy/aws/ec2.h"
#include "opsy/aws/eks.h"
#include "opsy/aws/ses.h"
#include "opsy/aws/sns.h"

namespace opsy::aws {

// For code that takes the ImageApi role alone (the image lookup cache).
class MockImageApi : public ImageApi {
 public:
  MOCK_METHOD(Result<std::vector<Image>>, describeImages, (const DescribeImagesInput&), (override));
  MOCK_METHOD(Status, createTags, (const std::vector<std::string>&, const Tags&), (override));
};

// One region's whole client, for the reconcilers (they get an Ec2Api per region and hand each
// piece of code its role). It declares every role's calls itself instead of inheriting the role
// mocks: gmock keys StrictMock on the mock object's address, which a second base does not share,
// so calls through an inherited role mock would not fail as uninteresting.
class MockEc2Api : public Ec2Api {
 public:
  MOCK_METHOD(Result<std::vector<Image>>, describeImages, (const DescribeImagesInput&), (override));
  MOCK_METHOD(Status, createTags, (const std::vector<std::string>&, const Tags&), (override));
  MOCK_METHOD(Result<std::vector<LaunchTemplateVersion>>, describeLaunchTemplateVersions,
              (const DescribeLaunchTemplateVersionsInput&), (override));
  MOCK_METHOD(Result<LaunchTemplateVersion>, createLaunchTemplateVersion,
              (const CreateLaunchTemplateVersionInput&), (override));
  MOCK_METHOD(Result<std::vector<SecurityGroup>>, describeSecurityGroups,
              (const DescribeSecurityGroupsInput&), (override));
  MOCK_METHOD(Status, deleteSecurityGroup, (const std::string&), (override));
  MOCK_METHOD(Status, deleteKeyPair, (const std::string&), (override));
  MOCK_METHOD(Result<std::vector<Instance>>, describeInstances, (const DescribeInstancesInput&),
              (override));
  MOCK_METHOD(Status, enableImageDeprecation, (const std::string&, TimePoint), (override));
  MOCK_METHOD(Status, deregisterImage, (const std::string&), (override));
  MOCK_METHOD(Result<std::vector<Snapshot>>, describeSnapshots, (const DescribeSnapshotsInput&),
              (override));
  MOCK_METHOD(Status, deleteSnapshot, (const std::string&), (override));
};

class MockEksApi : public EksApi {
 public:
  MOCK_METHOD(Result<std::vector<std::string>>, listNodegroups, (const std::string&), (override));
  MOCK_METHOD(Result<Nodegroup>, describeNodegroup, (const std::string&, const std::string&),
              (override));
  MOCK_METHOD(Result<Update>, updateNodegroupVersion, (const UpdateNodegroupVersionInput&),
              (override));
  MOCK_METHOD(Result<Update>, updateNodegroupConfig, (const UpdateNodegroupConfigInput&),
              (override));
  MOCK_METHOD(Result<Update>, describeUpdate,
              (const std::string&, const std::string&, const std::string&), (override));
};

class MockAutoScalingApi : public AutoScalingApi {
 public:
  MOCK_METHOD(Result<std::vector<AutoScalingGroup>>, describeAutoScalingGroups,
              (const DescribeAutoScalingGroupsInput&), (override));
  MOCK_METHOD(Result<std::string>, startInstanceRefresh, (const StartInstanceRefreshInput&),
              (override));
  MOCK_METHOD(Result<std::vector<InstanceRefresh>>, describeInstanceRefreshes,
              (const std::string&, const std::vector<std::string>&), (override));
  MOCK_METHOD(Result<std::vector<LifecycleHook>>, describeLifecycleHooks,
              (const std::string&, const std::vector<std::string>&), (override));
  MOCK_METHOD(Status, putLifecycleHook, (const LifecycleHook&), (override));
  MOCK_METHOD(Status, completeLifecycleAction, (const LifecycleActionTarget&, std::string_view),
              (override));
  MOCK_METHOD(Status, recordLifecycleActionHeartbeat, (const LifecycleActionTarget&), (override));
  MOCK_METHOD(Result<std::string>, cancelInstanceRefresh, (const std::string&), (override));
};

class MockSnsApi : public SnsApi {
 public:
  MOCK_METHOD(Result<std::string>, publish, (const PublishInput&), (override));
};

class MockSesApi : public SesApi {
 public:
  MOCK_METHOD(Result<std::string>, sendEmail, (const SendEmailInput&), (override));
};

}  // namespace opsy::aws
