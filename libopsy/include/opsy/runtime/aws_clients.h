// File: aws_clients.h
//
// AWS service clients for reconcilers, one per (service, region), all sharing one credentials
// provider (the standard chain, cached) and one HTTPS transport. Every client reports each
// attempt to the process metrics (opsy_aws_requests_total). A reconciler asks for the region its
// object names; an empty region means --aws-region, else AWS_REGION / AWS_DEFAULT_REGION.
//
//   OPSY_ASSIGN_OR_RETURN(aws::Ec2ApiPtr ec2, manager.aws().ec2(spec.region));
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "opsy/aws/autoscaling.h"
#include "opsy/aws/client_options.h"
#include "opsy/aws/ec2.h"
#include "opsy/aws/eks.h"
#include "opsy/aws/ses.h"
#include "opsy/aws/sns.h"
#include "opsy/aws/sts.h"
#include "opsy/runtime/metrics.h"

namespace opsy::runtime {

struct AwsClientsOptions {
  // Used when a caller passes an empty region; empty falls back to the environment.
  std::string default_region;
  // Shared by every client; null builds a libcurl transport on first use.
  http::TransportPtr transport;
  // Null builds aws::makeDefaultCredentialsChain on first use.
  aws::CredentialsProviderPtr credentials;
  ClockPtr clock = realClockPtr();
  aws::EnvLookup env = aws::processEnv();
  // Client-side pacing per client (aws::ClientOptions); 0 disables it.
  double max_requests_per_second = 0;
  double burst = 0;
};

class AwsClients {
 public:
  // `metrics` may be null (no observation); it must outlive this object.
  AwsClients(AwsClientsOptions options, Metrics* metrics);

  // Each returns the cached client for the region, creating it on first use. Thread-safe.
  [[nodiscard]] Result<aws::Ec2ApiPtr> ec2(std::string_view region = "");
  [[nodiscard]] Result<aws::EksApiPtr> eks(std::string_view region = "");
  [[nodiscard]] Result<aws::AutoScalingApiPtr> autoScaling(std::string_view region = "");
  [[nodiscard]] Result<aws::StsApiPtr> sts(std::string_view region = "");
  [[nodiscard]] Result<aws::SnsApiPtr> sns(std::string_view region = "");
  [[nodiscard]] Result<aws::SesApiPtr> ses(std::string_view region = "");

  // The options every client is built from (shared transport, credentials, observer), for a
  // service this class does not cover.
  [[nodiscard]] Result<aws::ClientOptions> clientOptions(std::string_view region);

 private:
  template <class Ptr, class Make>
  Result<Ptr> cached(std::string_view service, std::string_view region, Make make);

  AwsClientsOptions options_;
  Metrics* metrics_;
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<void>> clients_;
};

// The `code` label of opsy_aws_requests_total for one attempt: the AWS error code when there is
// one, else the HTTP status, else "network".
std::string awsCodeLabel(const aws::CallObservation& call);

}  // namespace opsy::runtime
