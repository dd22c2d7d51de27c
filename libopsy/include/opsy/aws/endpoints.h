// File: endpoints.h
//
// Where each AWS service lives: the region (caller, else AWS_REGION, else AWS_DEFAULT_REGION),
// the standard or FIPS host in the region's partition (amazonaws.com, amazonaws.com.cn), and the
// AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE> overrides that point the controllers at a fake
// AWS (the service-specific variable wins; AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true disables both).
//
//   OPSY_ASSIGN_OR_RETURN(aws::Endpoint ep, aws::resolveEndpoint(aws::Service::Ec2, region, env));
#pragma once

#include <string>
#include <string_view>

#include "opsy/aws/environment.h"
#include "opsy/core/result.h"

namespace opsy::aws {

enum class Service { Ec2, Eks, AutoScaling, Sts, Sns, Ses };

// The SigV4 signing name ("ec2", "eks", "autoscaling", "sts", "sns", "ses").
std::string_view signingName(Service service);

struct EndpointOptions {
  bool fips = false;
};

struct Endpoint {
  std::string url;  // scheme://host[:port], no trailing slash
  std::string region;
  std::string signing_name;
  bool overridden = false;  // came from AWS_ENDPOINT_URL*
};

// The caller's region when non-empty, else AWS_REGION, else AWS_DEFAULT_REGION.
[[nodiscard]] Result<std::string> resolveRegion(std::string_view region, const EnvLookup& env);

// The endpoint for `service` in `region` (already resolved with resolveRegion).
[[nodiscard]] Result<Endpoint> resolveEndpoint(Service service, std::string_view region,
                                               const EnvLookup& env,
                                               const EndpointOptions& options = {});

}  // namespace opsy::aws
