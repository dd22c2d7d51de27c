#include <strings.h>

#include "opsy/http/transport.h"

namespace opsy::http {

std::optional<std::string_view> findHeader(const Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), name.size()) == 0) {
      return std::string_view(v);
    }
  }
  return std::nullopt;
}

}  // namespace opsy::http
