// File: ses.h
//
// Sends notifications as e-mail through Amazon SES v2 (SendEmail, signed with the controller's
// own AWS credentials): a subject line, a plain-text part and an HTML part with the same
// content. The sender address (or its domain) must be a verified SES identity in that region.
//
//   auto sender = notify::makeSesSender({.client = [&] { return aws.ses("eu-west-1"); },
//                                        .from = "opsy@example.com", .to = {"ops@example.com"}});
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "opsy/aws/ses.h"
#include "opsy/notify/notifier.h"

namespace opsy::notify {

struct SesSenderOptions {
  // The client for the sending region, asked per send (see SnsSenderOptions::client).
  std::function<Result<aws::SesApiPtr>()> client;
  std::string from;
  std::vector<std::string> to;
  std::string configuration_set;  // optional
};

[[nodiscard]] Result<SenderPtr> makeSesSender(SesSenderOptions options);

// The SendEmail request for one notification (exposed for tests and previews).
aws::SendEmailInput sesEmail(const Notification& n, const SesSenderOptions& options);

}  // namespace opsy::notify
