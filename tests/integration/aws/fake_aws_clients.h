// File: fake_aws_clients.h
//
// The project's AWS clients pointed at a running FakeAws over real HTTP and SigV4: the fixture
// the failure-path tests share. Each client signs for `region` (default us-east-1) and makes one
// attempt unless told otherwise; `attempts` counts the attempts every client made.
//
//   auto ec2 = makeEc2Client(options()).value();  auto r = ec2->describeImages({});
#pragma once

// Tests build fixtures with designated initializers and rely on member defaults for the rest.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "opsy/aws/client_options.h"
#include "opsy/aws/credentials.h"
#include "opsy/core/fake_clock.h"
#include "opsy/http/curl_transport.h"
#include "support/fake_aws.h"
#include "support/loopback_server.h"

namespace opsy::aws {

class FakeAwsClientsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::clearProxyEnvironment();
    ASSERT_TRUE(fake_.start().has_value());
  }

  ClientOptions options(const std::string& region = "us-east-1", int max_attempts = 1) {
    auto transport = http::makeCurlTransport({});
    EXPECT_TRUE(transport.has_value());
    ClientOptions o;
    o.region = region;
    o.transport = *transport;
    o.credentials = makeStaticProvider(
        {std::string(testing::kFakeAccessKey), std::string(testing::kFakeSecretKey), "", {}});
    o.endpoint_url = fake_.endpoint();
    o.clock = clock_;  // backoff sleeps advance fake time: the tests do not wait
    o.retry.max_attempts = max_attempts;
    o.observer = [this](const CallObservation&) { ++attempts_; };
    return o;
  }

  testing::FakeAws fake_;
  // Starts at real time: the fake checks request signatures against its own (real) clock.
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(realClock().now());
  int attempts_ = 0;
};

}  // namespace opsy::aws
