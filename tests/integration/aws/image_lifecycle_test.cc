// The EC2 client's image lifecycle calls against the fake (real HTTP and SigV4): deprecation time,
// marking, listing and deleting snapshots, deregistering, and the refusals EC2 answers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "integration/aws/fake_aws_clients.h"
#include "opsy/aws/ec2.h"
#include "opsy/core/time_format.h"

namespace opsy::aws {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr const char* kImage = "ami-0000000000000000c";
constexpr const char* kSnapshot = "snap-0000000000000000c";

class ImageLifecycleTest : public FakeAwsClientsTest {
 protected:
  void SetUp() override {
    FakeAwsClientsTest::SetUp();
    fake_.addImage({.id = kImage,
                    .name = "opsy-old",
                    .tags = {{"status", "deprecated"}},
                    .snapshot_ids = {kSnapshot}});
  }
  Ec2ApiPtr ec2() { return makeEc2Client(options()).value(); }
};

// A deprecation time in the future is kept to the minute; one in the past is InvalidArgument.
TEST_F(ImageLifecycleTest, DeprecationTimeMustBeInTheFuture) {
  TimePoint at =
      std::chrono::ceil<std::chrono::minutes>(realClock().now()) + std::chrono::minutes(1);
  ASSERT_TRUE(ec2()->enableImageDeprecation(kImage, at).has_value());
  auto images = ec2()->describeImages({.owners = {"self"}});
  ASSERT_TRUE(images.has_value());
  ASSERT_EQ(images->size(), 1u);
  EXPECT_EQ(images->front().deprecation_time, at);
  auto past = ec2()->enableImageDeprecation(kImage, realClock().now() - std::chrono::hours(1));
  ASSERT_FALSE(past.has_value());
  EXPECT_EQ(past.error().code, ErrorCode::InvalidArgument);
  EXPECT_EQ(past.error().provider_code, "InvalidParameterValue");
}

// A snapshot is marked, found by its marker, refused while its image is registered (Conflict),
// and deleted once the image is deregistered; deleting it again is NotFound.
TEST_F(ImageLifecycleTest, SnapshotOutlivesDeregistrationUntilDeleted) {
  ASSERT_TRUE(ec2()
                  ->createTags({kSnapshot}, {{"delete-after-deregister", std::string(kImage)}})
                  .has_value());
  auto marked = ec2()->describeSnapshots(
      {.owner_ids = {"self"}, .filters = {{"tag-key", {"delete-after-deregister"}}}});
  ASSERT_TRUE(marked.has_value()) << marked.error().toString();
  ASSERT_EQ(marked->size(), 1u);
  EXPECT_EQ(marked->front().id, kSnapshot);
  EXPECT_EQ(marked->front().state, SnapshotState::Completed);
  EXPECT_EQ(marked->front().tags.at("delete-after-deregister"), kImage);

  auto in_use = ec2()->deleteSnapshot(kSnapshot);
  ASSERT_FALSE(in_use.has_value());
  EXPECT_EQ(in_use.error().code, ErrorCode::Conflict);
  EXPECT_THAT(in_use.error().message, HasSubstr(kImage));

  ASSERT_TRUE(ec2()->deregisterImage(kImage).has_value());
  EXPECT_FALSE(fake_.image(kImage).has_value());
  EXPECT_TRUE(fake_.snapshot(kSnapshot).has_value());  // deregistering keeps snapshots
  auto again = ec2()->deregisterImage(kImage);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::NotFound);

  ASSERT_TRUE(ec2()->deleteSnapshot(kSnapshot).has_value());
  EXPECT_FALSE(fake_.snapshot(kSnapshot).has_value());
  auto gone = ec2()->deleteSnapshot(kSnapshot);
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().code, ErrorCode::NotFound);
}

// A denied DeregisterImage is PermissionDenied naming ec2:DeregisterImage; the image stays.
TEST_F(ImageLifecycleTest, DeniedDeregisterIsPermissionDenied) {
  ASSERT_TRUE(fake_.denyOperation("ec2:DeregisterImage").has_value());
  auto denied = ec2()->deregisterImage(kImage);
  ASSERT_FALSE(denied.has_value());
  EXPECT_EQ(denied.error().code, ErrorCode::PermissionDenied);
  EXPECT_EQ(denied.error().action, "ec2:DeregisterImage");
  EXPECT_TRUE(fake_.image(kImage).has_value());
}

}  // namespace
}  // namespace opsy::aws
