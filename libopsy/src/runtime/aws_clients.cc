#include "opsy/runtime/aws_clients.h"

#include "opsy/http/curl_transport.h"

namespace opsy::runtime {

std::string awsCodeLabel(const aws::CallObservation& call) {
  if (call.http_status == 0) {
    return "network";
  }
  if (!call.error_code.empty()) {
    return std::string(call.error_code);
  }
  return std::to_string(call.http_status);
}

AwsClients::AwsClients(AwsClientsOptions options, Metrics* metrics)
    : options_(std::move(options)), metrics_(metrics) {}

Result<aws::ClientOptions> AwsClients::clientOptions(std::string_view region) {
  std::lock_guard lock(mu_);
  if (!options_.transport) {
    OPSY_ASSIGN_OR_RETURN(options_.transport, http::makeCurlTransport({}));
  }
  if (!options_.credentials) {
    options_.credentials =
        aws::makeDefaultCredentialsChain(options_.env, options_.transport, options_.clock);
  }
  aws::ClientOptions o;
  o.region = region.empty() ? options_.default_region : std::string(region);
  o.transport = options_.transport;
  o.credentials = options_.credentials;
  o.clock = options_.clock;
  o.env = options_.env;
  o.max_requests_per_second = options_.max_requests_per_second;
  o.burst = options_.burst;
  if (metrics_ != nullptr) {
    o.observer = [metrics = metrics_](const aws::CallObservation& call) {
      metrics->awsCall(call.service, call.operation, awsCodeLabel(call), call.elapsed);
    };
  }
  return o;
}

template <class Ptr, class Make>
Result<Ptr> AwsClients::cached(std::string_view service, std::string_view region, Make make) {
  const std::string resolved = region.empty() ? options_.default_region : std::string(region);
  const auto key = std::make_pair(std::string(service), resolved);
  {
    std::lock_guard lock(mu_);
    if (auto it = clients_.find(key); it != clients_.end()) {
      return std::static_pointer_cast<typename Ptr::element_type>(it->second);
    }
  }
  OPSY_ASSIGN_OR_RETURN(aws::ClientOptions o, clientOptions(resolved));
  OPSY_ASSIGN_OR_RETURN(Ptr client, make(o));
  std::lock_guard lock(mu_);
  // Two callers may race to build the first client; the first one stored wins.
  auto stored = clients_.emplace(key, client).first;
  return std::static_pointer_cast<typename Ptr::element_type>(stored->second);
}

Result<aws::Ec2ApiPtr> AwsClients::ec2(std::string_view region) {
  return cached<aws::Ec2ApiPtr>("ec2", region, aws::makeEc2Client);
}
Result<aws::EksApiPtr> AwsClients::eks(std::string_view region) {
  return cached<aws::EksApiPtr>("eks", region, aws::makeEksClient);
}
Result<aws::AutoScalingApiPtr> AwsClients::autoScaling(std::string_view region) {
  return cached<aws::AutoScalingApiPtr>("autoscaling", region, aws::makeAutoScalingClient);
}
Result<aws::StsApiPtr> AwsClients::sts(std::string_view region) {
  return cached<aws::StsApiPtr>("sts", region, aws::makeStsClient);
}
Result<aws::SnsApiPtr> AwsClients::sns(std::string_view region) {
  return cached<aws::SnsApiPtr>("sns", region, aws::makeSnsClient);
}
Result<aws::SesApiPtr> AwsClients::ses(std::string_view region) {
  return cached<aws::SesApiPtr>("ses", region, aws::makeSesClient);
}

}  // namespace opsy::runtime
