// File: webhook.h
//
// Posts each notification as JSON to any HTTP(S) endpoint, optionally signed with HMAC-SHA256 so
// the receiver can check it came from us. Any 2xx is a delivery; 429 comes back as Throttled
// with the Retry-After seconds, 408 and 5xx as Unavailable (AsyncNotifier retries those, with
// the same delivery id), any other status as a permanent error.
//
// The request (a stable contract for receivers):
//
//   POST <url>
//   Content-Type: application/json
//   User-Agent: opsy-ami-operator
//   X-Opsy-Delivery: 3f2a…        the notification's id, the same on every retry (deduplicate
//                                 on it); left out when the notification has no id
//   X-Opsy-Timestamp: 1767225600  Unix seconds of "time"
//   X-Opsy-Signature-256: sha256=<hex>   only when a signing key is configured
//
//   {"id": "3f2a…", "time": "2026-01-01T00:00:00Z", "title": "Build succeeded",
//    "kind": "PackerBuilder", "object": "ci/base-al2023", "state": "Ready",
//    "severity": "success",                       (info | success | warning | error)
//    "message": "Image ami-0built is ready.",
//    "fields": {"Base AMI": "ami-0base", "Built AMI": "ami-0built"}}
//
// Every key is always present and every value is a string, "fields" an object in the sender's
// order (a repeated name keeps its first value). The signature is lower-case hex
// HMAC-SHA256(key, X-Opsy-Timestamp + "." + raw body); a receiver recomputes it over the bytes it
// received, compares in constant time, and rejects timestamps too far from its own clock so a
// captured request cannot be replayed later.
//
//   auto sender = notify::makeWebhookSender({.transport = t, .url = "https://hooks.example/opsy",
//                                            .signing_key = [&] { return readSecret("key"); }});
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "opsy/core/clock.h"
#include "opsy/http/transport.h"
#include "opsy/notify/notifier.h"

namespace opsy::notify {

struct WebhookOptions {
  http::TransportPtr transport;
  // An http:// or https:// URL with a host. Kept out of logs and error messages all the same,
  // since such URLs often carry a token.
  std::string url;
  // Returns the HMAC-SHA256 key; unset sends no signature header. Read per send, so a rotated
  // Secret applies; never logged.
  std::function<Result<std::string>()> signing_key;
  // Extra headers (not secrets); they may not replace the ones above or Host/Content-Length.
  std::map<std::string, std::string> headers;
  // Dates a notification that has no time (AsyncNotifier always sets one); realClock() when null.
  Clock* clock = nullptr;
  // Why `url` may not be posted to (notify/destination_policy.h); unset admits any URL.
  std::function<std::optional<std::string>(std::string_view url)> refused;
  // Where to connect for `url` (notify::connectAddress()): an address to pin the connection to,
  // nullopt to let the transport resolve the name; an error refuses the send. Unset: resolve.
  std::function<Result<std::optional<std::string>>(std::string_view url)> connect_address;
};

// name() == "webhook". InvalidArgument names the option ("url", "headers") that is wrong.
[[nodiscard]] Result<SenderPtr> makeWebhookSender(WebhookOptions options);

// The JSON body above; "time" is empty when `n.time` is unset.
std::string webhookPayloadJson(const Notification& n);

// "sha256=" + lower-case hex HMAC-SHA256(key, timestamp + "." + body).
std::string webhookSignature(std::string_view key, std::string_view timestamp,
                             std::string_view body);

}  // namespace opsy::notify
