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

#include <string>

#include "opsy/aws/credentials.h"
#include "opsy/aws/endpoints.h"
#include "opsy/aws/environment.h"
#include "opsy/aws/errors.h"
#include "opsy/core/clock.h"
#include "opsy/http/retry.h"
#include "opsy/http/transport.h"

namespace opsy::aws {

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
  // Per-request timeout handed to the transport.
  Duration timeout = std::chrono::seconds(30);
};

}  // namespace opsy::aws
