// The EC2 client against the fake AWS over real HTTP and SigV4: throttling storms that the standard
// retry mode rides out, and ones that exhaust it with a typed error.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <set>

#include "opsy/aws/ec2.h"
#include "opsy/core/fake_clock.h"
#include "opsy/http/curl_transport.h"
#include "support/fake_aws.h"
#include "support/loopback_server.h"

namespace opsy::aws {
namespace {

class Ec2ThrottlingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::clearProxyEnvironment();
    ASSERT_TRUE(fake_.start().has_value());
    for (int i = 0; i < 2000; ++i) {
      testing::FakeImage image;
      image.id = fmt::format("ami-{:017x}", 0x1000 + i);
      image.name = fmt::format("amazon-eks-node-al2023-x86_64-standard-1.30-v{:05}", i);
      image.owner_id = "602401143452";  // Amazon EKS images: public, another account
      image.is_public = true;
      image.creation_date = "2026-01-01T00:00:00.000Z";
      fake_.addImage(image);
    }
  }

  Ec2ApiPtr client(int max_attempts) {
    auto transport = http::makeCurlTransport({});
    EXPECT_TRUE(transport.has_value());
    ClientOptions o;
    o.region = "us-east-1";
    o.transport = *transport;
    o.credentials = makeStaticProvider(
        {std::string(testing::kFakeAccessKey), std::string(testing::kFakeSecretKey), "", {}});
    o.endpoint_url = fake_.endpoint();
    o.clock = clock_;  // backoff sleeps advance fake time: the test does not wait
    o.retry.max_attempts = max_attempts;
    o.observer = [this](const CallObservation& c) {
      ++attempts_;
      if (!c.error_code.empty()) {
        ++throttled_;
      }
    };
    return makeEc2Client(o).value();
  }

  DescribeImagesInput allImages(int page_size) {
    return DescribeImagesInput{.owners = {"602401143452"},
                               .filters = {{"name", {"amazon-eks-node-al2023-*"}}},
                               .page_size = page_size};
  }

  testing::FakeAws fake_;
  // Starts at real time: the fake checks request signatures against its own (real) clock.
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(realClock().now());
  int attempts_ = 0;
  int throttled_ = 0;
};

// With 30% of EC2 calls throttled (RequestLimitExceeded, HTTP 503), listing 2,000 images across
// 20 pages still returns every image exactly once.
TEST_F(Ec2ThrottlingTest, ThirtyPercentThrottledStillListsEveryImage) {
  fake_.addFault({.service = "ec2",
                  .operation = "DescribeImages",
                  .kind = testing::FaultKind::Throttle,
                  .rate = 0.3});
  auto images = client(/*max_attempts=*/5)->describeImages(allImages(100));
  ASSERT_TRUE(images.has_value()) << images.error().toString();
  EXPECT_EQ(images->size(), 2000u);
  std::set<std::string> ids;
  for (const Image& image : *images) {
    ids.insert(image.id);
  }
  EXPECT_EQ(ids.size(), 2000u);
  EXPECT_GT(throttled_, 0) << "the storm never hit";
  EXPECT_EQ(attempts_ - throttled_, 20) << "one successful call per page";
  EXPECT_GT(clock_->totalSlept(), Duration(0)) << "retries back off";
}

// A storm that outlasts the policy ends in a typed Throttled error carrying EC2's code.
TEST_F(Ec2ThrottlingTest, ExhaustedRetriesGiveTypedError) {
  fake_.addFault({.service = "ec2",
                  .operation = "DescribeImages",
                  .kind = testing::FaultKind::Throttle,
                  .rate = 1.0});
  auto images = client(/*max_attempts=*/3)->describeImages(allImages(1000));
  ASSERT_FALSE(images.has_value());
  EXPECT_EQ(images.error().code, ErrorCode::Throttled);
  EXPECT_EQ(images.error().provider_code, "RequestLimitExceeded");
  EXPECT_EQ(images.error().http_status, 503);
  EXPECT_FALSE(images.error().request_id.empty());
  EXPECT_EQ(attempts_, 3);
}

// Dropped connections and 5xx are retried the same way.
TEST_F(Ec2ThrottlingTest, DropsAndServerErrorsAreRetried) {
  fake_.addFault({.service = "ec2",
                  .operation = "DescribeImages",
                  .kind = testing::FaultKind::Drop,
                  .count = 1});
  fake_.addFault({.service = "ec2",
                  .operation = "DescribeImages",
                  .kind = testing::FaultKind::ServerError,
                  .count = 1});
  auto images = client(/*max_attempts=*/3)->describeImages(allImages(1000));
  ASSERT_TRUE(images.has_value()) << images.error().toString();
  EXPECT_EQ(images->size(), 2000u);
}

}  // namespace
}  // namespace opsy::aws
