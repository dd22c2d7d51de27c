// File: discord.h
//
// Posts notifications to a Discord channel through an incoming webhook ("Execute Webhook"): one
// message with a short plain-text line and an embed coloured by severity (title, the message,
// the state and fields, the time). Mentions are switched off, so "@everyone" in a message never
// pings anyone, and every text is cut to Discord's limits so a long build log cannot get the
// message rejected. HTTP 429 comes back as Throttled with Discord's Retry-After. The webhook URL
// embeds its token: it is read per send (a rotated Secret applies) and never logged or put in an
// error message.
//
//   auto sender = notify::makeDiscordSender({.transport = t,
//                                            .webhook_url = [&] { return readSecret("url"); }});
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "opsy/http/transport.h"
#include "opsy/notify/notifier.h"

namespace opsy::notify {

struct DiscordOptions {
  http::TransportPtr transport;
  // Returns the webhook URL (https://discord.com/api/webhooks/<id>/<token>), or an error when the
  // Secret cannot be read.
  std::function<Result<std::string>()> webhook_url;
  // Display name override; empty keeps the name set on the webhook. At most 80 characters, and
  // Discord refuses names containing "discord" or "clyde".
  std::string username;
  // Why the URL read from the Secret may not be posted to; unset admits any URL.
  std::function<std::optional<std::string>(std::string_view url)> refused;
  // Where to connect for `url` (notify::connectAddress()): an address to pin the connection to,
  // nullopt to let the transport resolve the name; an error refuses the send. Unset: resolve.
  std::function<Result<std::optional<std::string>>(std::string_view url)> connect_address;
};

// name() == "discord".
[[nodiscard]] Result<SenderPtr> makeDiscordSender(DiscordOptions options);

// The Execute Webhook JSON body, without the username (exposed for tests and previews).
std::string discordMessageJson(const Notification& n);

}  // namespace opsy::notify
