#include "aws/url.h"

namespace opsy::aws {

std::string UrlParts::hostHeader() const {
  if (port.empty() || (scheme == "https" && port == "443") || (scheme == "http" && port == "80")) {
    return host;
  }
  return host + ":" + port;
}

bool splitUrl(std::string_view url, UrlParts* out) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0) {
    return false;
  }
  out->scheme = std::string(url.substr(0, scheme_end));
  std::string_view rest = url.substr(scheme_end + 3);
  size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  rest = authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority = authority.substr(at + 1);
  }
  size_t port_sep = authority.rfind(':');
  if (port_sep != std::string_view::npos &&
      authority.find(']', port_sep) == std::string_view::npos) {
    out->host = std::string(authority.substr(0, port_sep));
    out->port = std::string(authority.substr(port_sep + 1));
  } else {
    out->host = std::string(authority);
    out->port.clear();
  }
  if (out->host.empty()) {
    return false;
  }
  if (size_t hash = rest.find('#'); hash != std::string_view::npos) {
    rest = rest.substr(0, hash);
  }
  size_t q = rest.find('?');
  out->path = std::string(rest.substr(0, q));
  out->query = q == std::string_view::npos ? std::string() : std::string(rest.substr(q + 1));
  if (out->path.empty()) {
    out->path = "/";
  }
  return true;
}

}  // namespace opsy::aws
