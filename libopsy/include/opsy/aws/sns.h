// File: sns.h
//
// Amazon SNS Publish, for the SNS notifier.
//
//   OPSY_ASSIGN_OR_RETURN(aws::SnsApiPtr sns, aws::makeSnsClient(options));
//   OPSY_ASSIGN_OR_RETURN(std::string id, sns->publish({.topic_arn = arn, .message = text}));
#pragma once

#include <map>
#include <memory>
#include <string>

#include "opsy/aws/client_options.h"
#include "opsy/core/result.h"

namespace opsy::aws {

struct PublishInput {
  std::string topic_arn;
  std::string message;
  std::string subject;  // e-mail subscriptions only; <= 100 printable ASCII characters
  // String message attributes (subscription filter policies match on them).
  std::map<std::string, std::string> attributes;
};

class SnsApi {
 public:
  virtual ~SnsApi() = default;

  /** Publish; returns the message id. */
  [[nodiscard]] virtual Result<std::string> publish(const PublishInput& input) = 0;
};

using SnsApiPtr = std::shared_ptr<SnsApi>;

[[nodiscard]] Result<SnsApiPtr> makeSnsClient(const ClientOptions& options);

}  // namespace opsy::aws
