#include "opsy/runtime/notifiers.h"

#include "opsy/http/curl_transport.h"

namespace opsy::runtime {

Result<std::unique_ptr<notify::Notifiers>> makeNotifiers(Manager& manager,
                                                         std::string slack_api_url) {
  // Receivers answer in milliseconds; a short limit keeps a dead one from holding its queue (and
  // a stopping controller) for the default minute per attempt.
  http::CurlTransportOptions options;
  options.total_timeout = std::chrono::seconds(15);
  options.user_agent = "opsy-ami-operator";
  OPSY_ASSIGN_OR_RETURN(http::TransportPtr transport, http::makeCurlTransport(options));
  Metrics& metrics = manager.metrics();
  AwsClients& aws = manager.aws();
  return std::make_unique<notify::Notifiers>(notify::NotifiersOptions{
      .secrets = &manager.client(),
      .transport = std::move(transport),
      .clock = &manager.clock(),
      .slack_api_url = std::move(slack_api_url),
      .sns = [&aws](std::string_view region) { return aws.sns(region); },
      .ses = [&aws](std::string_view region) { return aws.ses(region); },
      .async = {.observer =
                    [&metrics](std::string_view destination, notify::Delivery d) {
                      metrics.notification(destination, notify::toString(d));
                    }},
      .destinations = {.allowed_hosts = manager.options().notification_allowed_hosts}});
}

}  // namespace opsy::runtime
