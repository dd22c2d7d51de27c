// File: scrub.h (internal)
//
// The pattern half of log::scrub(): masks credential shapes (authorization headers, key=value
// secrets, bearer tokens, SigV4 signatures, Slack and EKS tokens, JWTs, URL passwords, PEM private
// keys) in one linear pass, keeping the rest of the text and its quoting intact.
//
//   std::string clean = detail::scrubPatterns("Authorization: AWS4-HMAC-SHA256 ...");
#pragma once

#include <string>
#include <string_view>

namespace opsy::log::detail {

[[nodiscard]] std::string scrubPatterns(std::string_view text);

}  // namespace opsy::log::detail
