// File: http_reply.h (private)
//
// What the HTTP notification senders (Discord, webhook) share: the Retry-After seconds form,
// keeping a destination URL, which can hold a token, out of error messages, and text cut to a
// receiver's length limit without breaking UTF-8.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "opsy/core/error.h"

namespace opsy::notify {

// True for an absolute http:// or https:// URL with a host.
bool isHttpUrl(std::string_view url);

// Registers the token-like parts of `url` (path segments of 16 characters or more, as Discord's
// token) with the log scrubber, since the transport's own debug lines name the URL's path.
void registerUrlSecrets(std::string_view url);

// A transport error for a request to `url`, with every trace of the URL (and its path, where
// tokens live) removed from the message, which then reads "<what>: <reason>".
Error withoutUrl(Error e, std::string_view url, std::string_view what);

// `text` as valid UTF-8 (invalid bytes become U+FFFD) of at most `max_units` UTF-16 code units,
// the strictest way a receiver may count characters; when cut, it ends with "…".
struct FittedText {
  std::string text;
  size_t units = 0;  // UTF-16 code units in `text`
};
FittedText fitText(std::string_view text, size_t max_units);

}  // namespace opsy::notify
