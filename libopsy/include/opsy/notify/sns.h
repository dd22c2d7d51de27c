// File: sns.h
//
// Publishes notifications to an Amazon SNS topic (Publish, signed with the controller's own AWS
// credentials), for e-mail, SMS, chat and Lambda subscribers. The subject suits e-mail
// subscriptions; message attributes (kind, object, severity, state) let subscription filter
// policies pick, e.g., only failures.
//
//   auto sender = notify::makeSnsSender({.client = [&] { return aws.sns(region); },
//                                        .topic_arn = "arn:aws:sns:eu-west-1:123456789012:ops"});
#pragma once

#include <functional>
#include <string>

#include "opsy/aws/sns.h"
#include "opsy/notify/notifier.h"

namespace opsy::notify {

struct SnsSenderOptions {
  // The client for the topic's region, asked per send so that a client that cannot be built yet
  // (no credentials) fails that delivery rather than the controller.
  std::function<Result<aws::SnsApiPtr>()> client;
  std::string topic_arn;
};

[[nodiscard]] Result<SenderPtr> makeSnsSender(SnsSenderOptions options);

// The Publish request for one notification (exposed for tests and previews).
aws::PublishInput snsPublishInput(const Notification& n, const std::string& topic_arn);

}  // namespace opsy::notify
