// File: url.h (private)
//
// Just enough URL splitting for signing and endpoint handling: scheme://authority/path?query.
#pragma once

#include <string>
#include <string_view>

namespace opsy::aws {

struct UrlParts {
  std::string scheme;
  std::string host;   // without port; IPv6 literals keep their brackets
  std::string port;   // empty when not given
  std::string path;   // raw, "/" when empty
  std::string query;  // raw, without '?'

  // host[:port] with the port left out when it is the scheme's default.
  std::string hostHeader() const;
};

// False when `url` has no scheme or host.
bool splitUrl(std::string_view url, UrlParts* out);

}  // namespace opsy::aws
