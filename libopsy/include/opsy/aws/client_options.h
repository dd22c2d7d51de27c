// File: client_options.h
//
// What every AWS service client is built from: the transport, the credentials, the region (or
// AWS_REGION), the clock, the environment for endpoint overrides, the retry policy (standard
// mode with the AWS classifier) and an optional client-side rate limit. One client per service
// and region; clients are thread-safe and share one retry quota and one token bucket per client.
//
//   aws::ClientOptions o;
//   o.transport = transport; o.credentials = creds; o.region = "eu-west-1";
//   o.max_requests_per_second = 20; o.burst = 40;
//   OPSY_ASSIGN_OR_RETURN(aws::Ec2ApiPtr ec2, aws::makeEc2Client(o));
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "opsy/aws/credentials.h"
#include "opsy/aws/endpoints.h"
#include "opsy/aws/environment.h"
#include "opsy/aws/errors.h"
#include "opsy/core/clock.h"
#include "opsy/http/retry.h"
#include "opsy/http/transport.h"

namespace opsy::aws {

// One attempt of one AWS call, reported to ClientOptions::observer (metrics, tracing).
struct CallObservation {
  std::string_view service;    // signing name: "ec2", "eks", …
  std::string_view operation;  // "DescribeImages"
  int attempt = 1;
  int http_status = 0;          // 0 when no response was read
  std::string_view error_code;  // AWS error code, or the canonical code for transport errors
  Duration elapsed{0};          // steady-clock time of this attempt
};

struct ClientOptions {
  // Empty: AWS_REGION, else AWS_DEFAULT_REGION.
  std::string region;
  http::TransportPtr transport;
  // Required except for unsigned calls (STS AssumeRoleWithWebIdentity).
  CredentialsProviderPtr credentials;
  ClockPtr clock = realClockPtr();
  EnvLookup env = processEnv();
  EndpointOptions endpoint;
  // Overrides endpoint resolution entirely (global STS, tests); scheme://host[:port].
  std::string endpoint_url;
  http::RetryPolicy retry = awsRetryPolicy();
  // Client-side token bucket; 0 disables it.
  double max_requests_per_second = 0;
  double burst = 0;
  // Called after every attempt; must be cheap and thread-safe. Keeps aws free of metrics code.
  std::function<void(const CallObservation&)> observer;
  // Per-request timeout handed to the transport.
  Duration timeout = std::chrono::seconds(30);
};

}  // namespace opsy::aws
