#include "opsy/aws/endpoints.h"

#include <array>

namespace opsy::aws {
namespace {

struct ServiceInfo {
  std::string_view signing_name;
  std::string_view host_prefix;
  // AWS_ENDPOINT_URL_<suffix> variables, most specific first.
  std::array<std::string_view, 2> env_suffixes;  // empty entries are unused
};

ServiceInfo info(Service s) {
  switch (s) {
    case Service::Ec2: return {"ec2", "ec2", {"EC2", ""}};
    case Service::Eks: return {"eks", "eks", {"EKS", ""}};
    case Service::AutoScaling: return {"autoscaling", "autoscaling", {"AUTO_SCALING", ""}};
    case Service::Sts: return {"sts", "sts", {"STS", ""}};
    case Service::Sns: return {"sns", "sns", {"SNS", ""}};
    // SES v2 shares the "email" host and "ses" signing name with SES v1; SDKs name its
    // variable after the service id SESv2, the shorter _SES is accepted too.
    case Service::Ses: return {"ses", "email", {"SESV2", "SES"}};
  }
  return {"", "", {}};
}

bool validRegion(std::string_view region) {
  if (region.empty() || region.size() > 64) {
    return false;
  }
  for (char c : region) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return false;
    }
  }
  return true;
}

std::string stripTrailingSlash(std::string url) {
  while (!url.empty() && url.back() == '/') {
    url.pop_back();
  }
  return url;
}

}  // namespace

std::string_view signingName(Service service) {
  return info(service).signing_name;
}

Result<std::string> resolveRegion(std::string_view region, const EnvLookup& env) {
  std::string chosen(region);
  if (chosen.empty()) {
    chosen = nonEmpty(env, "AWS_REGION").value_or(nonEmpty(env, "AWS_DEFAULT_REGION").value_or(""));
  }
  if (chosen.empty()) {
    return fail(ErrorCode::InvalidArgument,
                "no AWS region: set it in the spec, AWS_REGION or AWS_DEFAULT_REGION");
  }
  if (!validRegion(chosen)) {
    return fail(ErrorCode::InvalidArgument, "invalid AWS region \"" + chosen + "\"");
  }
  return chosen;
}

Result<Endpoint> resolveEndpoint(Service service, std::string_view region, const EnvLookup& env,
                                 const EndpointOptions& options) {
  ServiceInfo si = info(service);
  if (!validRegion(region)) {
    return fail(ErrorCode::InvalidArgument, "invalid AWS region \"" + std::string(region) + "\"");
  }
  Endpoint ep;
  ep.region = std::string(region);
  ep.signing_name = std::string(si.signing_name);
  if (!envFlag(env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) {
    for (std::string_view suffix : si.env_suffixes) {
      if (suffix.empty()) {
        continue;
      }
      if (auto url = nonEmpty(env, "AWS_ENDPOINT_URL_" + std::string(suffix))) {
        ep.url = stripTrailingSlash(*url);
        ep.overridden = true;
        return ep;
      }
    }
    if (auto url = nonEmpty(env, "AWS_ENDPOINT_URL")) {
      ep.url = stripTrailingSlash(*url);
      ep.overridden = true;
      return ep;
    }
  }
  bool china = region.rfind("cn-", 0) == 0;
  if (options.fips && china) {
    return fail(ErrorCode::InvalidArgument, "FIPS endpoints do not exist in the China partition");
  }
  std::string host(si.host_prefix);
  if (options.fips) {
    host += "-fips";
  }
  host += "." + std::string(region) + (china ? ".amazonaws.com.cn" : ".amazonaws.com");
  ep.url = "https://" + host;
  return ep;
}

}  // namespace opsy::aws
