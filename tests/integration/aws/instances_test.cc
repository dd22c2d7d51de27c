// The EC2 client's describeInstances against the fake (real HTTP and SigV4): by id in chunks, by
// filter in pages, the errors EC2 answers, and the instances a finished node group update leaves.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "integration/aws/fake_aws_clients.h"
#include "opsy/aws/ec2.h"
#include "opsy/aws/eks.h"

namespace opsy::aws {
namespace {

using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr const char* kLt = "lt-0123456789abcdef0";
constexpr const char* kOldImage = "ami-0000000000000000a";
constexpr const char* kNewImage = "ami-0000000000000000b";

std::vector<std::string> idsOf(const std::vector<Instance>& instances) {
  std::vector<std::string> out;
  for (const auto& i : instances) {
    out.push_back(i.id);
  }
  return out;
}

class InstancesTest : public FakeAwsClientsTest {
 protected:
  void SetUp() override {
    FakeAwsClientsTest::SetUp();
    fake_.addLaunchTemplate(
        {.id = kLt,
         .name = "nodes",
         .versions = {{.data = {.image_id = kOldImage}}, {.data = {.image_id = kNewImage}}}});
  }
  void addWorkers(int desired) {
    fake_.addNodegroup({.cluster = "prod",
                        .name = "workers",
                        .launch_template = testing::FakeLaunchTemplateRef{kLt, "", "1"},
                        .scaling = {.min_size = 1, .max_size = 500, .desired_size = desired}});
  }
  Ec2ApiPtr ec2() { return makeEc2Client(options()).value(); }
};

// More ids than one request takes are asked for 200 at a time, without MaxResults (which the fake,
// like EC2, would refuse), and come back as one list.
TEST_F(InstancesTest, ManyIdsAreAskedForInChunks) {
  addWorkers(250);
  std::vector<std::string> ids;
  for (const auto& i : fake_.instances()) {
    ids.push_back(i.id);
  }
  fake_.clearCalls();
  auto instances = ec2()->describeInstances({.instance_ids = ids});
  ASSERT_TRUE(instances) << instances.error().toString();
  EXPECT_EQ(idsOf(*instances), ids);
  EXPECT_EQ(fake_.callCount("ec2", "DescribeInstances"), 2);
}

// A filter query is paged by MaxResults and followed through every nextToken.
TEST_F(InstancesTest, FilterQueryFollowsEveryPage) {
  addWorkers(12);
  fake_.addAutoScalingGroup({.name = "self-managed"});
  fake_.clearCalls();
  auto instances = ec2()->describeInstances(
      {.filters = {{"tag:eks:nodegroup-name", {"workers"}}, {"instance-state-name", {"running"}}},
       .page_size = 5});
  ASSERT_TRUE(instances) << instances.error().toString();
  EXPECT_THAT(*instances, SizeIs(12));
  EXPECT_THAT(*instances, Each(Field(&Instance::image_id, kOldImage)));
  EXPECT_EQ(fake_.callCount("ec2", "DescribeInstances"), 3);
}

// After a successful version update the group's running instances run the target image; the
// ones they replaced are listed as terminated.
TEST_F(InstancesTest, FinishedUpdateShowsNewImageThroughClient) {
  addWorkers(2);
  auto eks = makeEksClient(options()).value();
  auto update = eks->updateNodegroupVersion(
      {.cluster_name = "prod",
       .nodegroup_name = "workers",
       .launch_template = LaunchTemplateSpec{.id = kLt, .version = "2"}});
  ASSERT_TRUE(update) << update.error().toString();
  ASSERT_TRUE(fake_.completeEksUpdate(update->id));
  auto running = ec2()->describeInstances(
      {.filters = {{"tag:eks:nodegroup-name", {"workers"}}, {"instance-state-name", {"running"}}}});
  ASSERT_TRUE(running) << running.error().toString();
  ASSERT_THAT(*running, SizeIs(2));
  for (const Instance& i : *running) {
    EXPECT_EQ(i.image_id, kNewImage);
    EXPECT_EQ(i.state, InstanceState::Running);
    EXPECT_EQ(i.tags.at("eks:cluster-name"), "prod");
    EXPECT_FALSE(i.private_dns_name.empty());
    EXPECT_FALSE(i.availability_zone.empty());
    EXPECT_TRUE(i.launch_time.has_value());
  }
  auto all = ec2()->describeInstances({});
  ASSERT_TRUE(all);
  ASSERT_THAT(*all, SizeIs(4));
  EXPECT_EQ((*all)[0].state, InstanceState::Terminated);
  EXPECT_EQ((*all)[0].image_id, kOldImage);
  EXPECT_TRUE((*all)[0].private_dns_name.empty());
}

// Unknown ids are NotFound naming them; a malformed id is InvalidArgument; neither is retried.
TEST_F(InstancesTest, UnknownAndMalformedIds) {
  addWorkers(1);
  auto client = makeEc2Client(options("us-east-1", 3)).value();
  auto missing =
      client->describeInstances({.instance_ids = {fake_.instances().front().id,
                                                  "i-0000000000000dead", "i-0000000000000beef"}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::NotFound);
  EXPECT_EQ(missing.error().provider_code, "InvalidInstanceID.NotFound");
  EXPECT_THAT(
      missing.error().message,
      HasSubstr("The instance IDs 'i-0000000000000dead, i-0000000000000beef' do not exist"));
  auto malformed = client->describeInstances({.instance_ids = {"ip-10-0-1-4"}});
  ASSERT_FALSE(malformed);
  EXPECT_EQ(malformed.error().code, ErrorCode::InvalidArgument);
  EXPECT_EQ(malformed.error().provider_code, "InvalidInstanceID.Malformed");
  EXPECT_EQ(attempts_, 2);
}

// A denied DescribeInstances is PermissionDenied naming the action, after one attempt.
TEST_F(InstancesTest, DeniedDescribeInstancesIsPermissionDenied) {
  ASSERT_TRUE(fake_.denyOperation("ec2:DescribeInstances"));
  auto denied = makeEc2Client(options("us-east-1", 3)).value()->describeInstances({});
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, ErrorCode::PermissionDenied);
  EXPECT_EQ(denied.error().action, "ec2:DescribeInstances");
  EXPECT_EQ(denied.error().provider_code, "UnauthorizedOperation");
  EXPECT_THAT(denied.error().message, HasSubstr("is not authorized to perform: "
                                                "ec2:DescribeInstances because no identity-based"));
  EXPECT_EQ(attempts_, 1);
}

}  // namespace
}  // namespace opsy::aws
