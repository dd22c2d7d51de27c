// File: config.h
//
// Where a resource's notifications go: the `spec.notifier` block that PackerBuilder and
// AMIRefresher share. Any mix of Slack, SNS, SES, Discord and a generic JSON webhook may be set;
// each destination gets its own queue, so one failing never delays another. Credentials stay in
// Secrets in the resource's namespace and are read at send time (keys below).
//
//   OPSY_ASSIGN_OR_RETURN(notify::NotifierConfig n, notify::parseNotifierConfig(*obj.getJson(
//                                                       "/spec/notifier")));
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/core/result.h"

namespace opsy::notify {

// The Secret keys each destination reads.
inline constexpr std::string_view kSlackTokenKey = "token";
inline constexpr std::string_view kDiscordWebhookUrlKey = "webhookURL";
inline constexpr std::string_view kWebhookSigningKey = "signingKey";

struct SlackDestination {
  std::vector<std::string> channel_ids;
  std::string secret;  // key "token": the bot token

  bool operator==(const SlackDestination&) const = default;
};

struct SnsDestination {
  std::string topic_arn;  // the region and partition come from the ARN
  std::string region;     // parsed from topic_arn

  bool operator==(const SnsDestination&) const = default;
};

struct SesDestination {
  std::string from;
  std::vector<std::string> to;
  std::string region;  // empty: the resource's spec.region
  std::string configuration_set;

  bool operator==(const SesDestination&) const = default;
};

struct DiscordDestination {
  std::string secret;  // key "webhookURL": the webhook URL, which embeds its token

  bool operator==(const DiscordDestination&) const = default;
};

struct WebhookDestination {
  std::string url;
  std::string secret;  // optional; key "signingKey": the HMAC-SHA256 key

  bool operator==(const WebhookDestination&) const = default;
};

struct NotifierConfig {
  std::optional<SlackDestination> slack;
  std::optional<SnsDestination> sns;
  std::optional<SesDestination> ses;
  std::optional<DiscordDestination> discord;
  std::optional<WebhookDestination> webhook;

  bool configured() const { return slack || sns || ses || discord || webhook; }
  bool operator==(const NotifierConfig&) const = default;
};

// Reads the JSON text of a notifier block. Unknown members are ignored (the API server prunes
// them); every error names its field under `path`, e.g. "spec.notifier.sns.topicArn: ...".
[[nodiscard]] Result<NotifierConfig> parseNotifierConfig(std::string_view json,
                                                         std::string_view path = "spec.notifier");

}  // namespace opsy::notify
