// File: slack.h
//
// Posts notifications to Slack with chat.postMessage: one message per channel, Block Kit layout
// (header, the resource, its state and fields such as base and built AMI, then the message), the
// plain text as fallback. Slack answers HTTP 200 even on failure, so the `ok` field decides;
// HTTP 429 comes back as Throttled with Slack's Retry-After. The bot token is fetched per send,
// so a rotated Secret takes effect without a restart, and is never logged.
//
//   auto sender = notify::makeSlackSender({.transport = t, .channels = {"C0123"},
//                                          .token = [&] { return readSecret("slack-token"); }});
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "opsy/http/transport.h"
#include "opsy/notify/notifier.h"

namespace opsy::notify {

struct SlackOptions {
  http::TransportPtr transport;
  std::vector<std::string> channels;
  // Returns the bot token (xoxb-…), or an error when the Secret cannot be read.
  std::function<Result<std::string>()> token;
  std::string api_url = "https://slack.com/api";
};

[[nodiscard]] Result<SenderPtr> makeSlackSender(SlackOptions options);

// The chat.postMessage JSON body for one channel (exposed for tests and previews).
std::string slackMessageJson(const Notification& n, const std::string& channel);

}  // namespace opsy::notify
