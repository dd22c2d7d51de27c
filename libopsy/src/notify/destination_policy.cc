#include "opsy/notify/destination_policy.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fmt/format.h>
#include <fnmatch.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>

namespace opsy::notify {
namespace {

constexpr std::string_view kFlag = "--notification-allowed-hosts";

struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// An address as 16 bytes (IPv4 as ::ffff:a.b.c.d) so one CIDR check serves both families.
using Bytes = std::array<std::uint8_t, 16>;

Bytes mapped(const in_addr& a) {
  Bytes b{};
  b[10] = 0xff;
  b[11] = 0xff;
  std::memcpy(&b[12], &a, 4);
  return b;
}

std::optional<Bytes> fromSockaddr(const sockaddr& sa) {
  if (sa.sa_family == AF_INET) {
    return mapped(reinterpret_cast<const sockaddr_in&>(sa).sin_addr);
  }
  if (sa.sa_family == AF_INET6) {
    Bytes b{};
    std::memcpy(b.data(), &reinterpret_cast<const sockaddr_in6&>(sa).sin6_addr, 16);
    return b;
  }
  return std::nullopt;
}

// An IP literal in any form the resolver accepts: inet_aton takes the numeric IPv4 spellings
// ("2852039166", "0xa9.0xfe.0xa9.0xfe") that would otherwise slip past a dotted-quad check.
std::optional<Bytes> parseIp(std::string_view text) {
  std::string s(text);
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') {
    s = s.substr(1, s.size() - 2);
  }
  if (auto zone = s.find('%'); zone != std::string::npos) {
    s.resize(zone);
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    Bytes b{};
    std::memcpy(b.data(), &v6, 16);
    return b;
  }
  in_addr v4{};
  if (!s.empty() && inet_aton(s.c_str(), &v4) != 0) {
    return mapped(v4);
  }
  return std::nullopt;
}

struct Cidr {
  Bytes net{};
  int bits = 0;  // of the 128
};

bool inCidr(const Bytes& a, const Cidr& c) {
  int bits = c.bits;
  for (std::size_t i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    const std::uint8_t mask = bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
    if ((a[i] & mask) != (c.net[i] & mask)) {
      return false;
    }
  }
  return true;
}

std::optional<Cidr> parseCidr(std::string_view text) {
  std::string_view ip = text.substr(0, text.find('/'));
  auto addr = parseIp(ip);
  if (!addr) {
    return std::nullopt;
  }
  const bool v4 = ip.find(':') == std::string_view::npos;
  int bits = v4 ? 32 : 128;
  if (ip.size() < text.size()) {
    std::string_view len = text.substr(ip.size() + 1);
    if (len.empty() || len.size() > 3 ||
        !std::all_of(len.begin(), len.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    bits = std::stoi(std::string(len));
    if (bits > (v4 ? 32 : 128)) {
      return std::nullopt;
    }
  }
  return Cidr{*addr, v4 ? bits + 96 : bits};
}

Cidr v4net(std::uint8_t a, std::uint8_t b, std::uint8_t c, int bits) {
  Bytes n{};
  n[10] = n[11] = 0xff;
  n[12] = a;
  n[13] = b;
  n[14] = c;
  return {n, 96 + bits};
}

Cidr v6net(std::initializer_list<std::uint8_t> prefix, int bits) {
  Bytes n{};
  std::copy(prefix.begin(), prefix.end(), n.begin());
  return {n, bits};
}

bool nonPublicV4(const Bytes& a) {
  static const Cidr kRanges[] = {
      v4net(0, 0, 0, 8),     v4net(10, 0, 0, 8),      v4net(100, 64, 0, 10),
      v4net(127, 0, 0, 8),   v4net(169, 254, 0, 16),  v4net(172, 16, 0, 12),
      v4net(192, 0, 0, 24),  v4net(192, 0, 2, 24),    v4net(192, 168, 0, 16),
      v4net(198, 18, 0, 15), v4net(198, 51, 100, 24), v4net(203, 0, 113, 24),
      v4net(224, 0, 0, 4),   v4net(240, 0, 0, 4)};
  return std::any_of(std::begin(kRanges), std::end(kRanges),
                     [&](const Cidr& c) { return inCidr(a, c); });
}

bool isPublic(const Bytes& a) {
  static const Cidr kMapped = v6net({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96);
  if (inCidr(a, kMapped)) {
    return !nonPublicV4(a);
  }
  // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address that is what gets reached.
  static const Cidr kNat64 = v6net({0, 0x64, 0xff, 0x9b}, 96);
  if (inCidr(a, kNat64)) {
    Bytes v4 = a;
    std::fill(v4.begin(), v4.begin() + 10, 0);
    v4[10] = v4[11] = 0xff;
    return !nonPublicV4(v4);
  }
  static const Cidr k6to4 = v6net({0x20, 0x02}, 16);
  if (inCidr(a, k6to4)) {
    Bytes v4{};
    v4[10] = v4[11] = 0xff;
    std::copy(a.begin() + 2, a.begin() + 6, v4.begin() + 12);
    return !nonPublicV4(v4);
  }
  static const Cidr kRanges[] = {
      v6net({}, 96),                        // ::, ::1 and the old IPv4-compatible form
      v6net({0x01, 0x00}, 64),              // discard
      v6net({0x20, 0x01, 0x0d, 0xb8}, 32),  // documentation
      v6net({0xfc}, 7),                     // unique local, including fd00:ec2::254
      v6net({0xfe, 0x80}, 10),              // link-local
      v6net({0xff}, 8),                     // multicast
  };
  return !std::any_of(std::begin(kRanges), std::end(kRanges),
                      [&](const Cidr& c) { return inCidr(a, c); });
}

// Names that reach this host or the cluster whatever DNS says.
bool localName(const std::string& host) {
  if (host.find('.') == std::string::npos) {
    return true;  // resolved through the pod's search path: a cluster Service
  }
  for (std::string_view suffix : {".localhost", ".local", ".internal", ".svc", ".cluster.local"}) {
    if (endsWith(host, suffix)) {
      return true;
    }
  }
  return false;
}

bool nameAllowed(const DestinationPolicy& policy, const std::string& host) {
  return std::any_of(
      policy.allowed_hosts.begin(), policy.allowed_hosts.end(), [&](const std::string& entry) {
        return !parseCidr(entry) && fnmatch(lower(entry).c_str(), host.c_str(), 0) == 0;
      });
}

bool addressAllowed(const DestinationPolicy& policy, const Bytes& a) {
  return std::any_of(policy.allowed_hosts.begin(), policy.allowed_hosts.end(),
                     [&](const std::string& entry) {
                       auto cidr = parseCidr(entry);
                       return cidr && inCidr(a, *cidr);
                     });
}

std::string normalHost(std::string_view host) {
  std::string h = lower(host);
  while (!h.empty() && h.back() == '.') {
    h.pop_back();
  }
  return h;
}

std::string notAllowed(std::string_view host, std::string_view what) {
  return fmt::format(
      "notification destination {} is {}, which notifications may not reach unless the "
      "cluster admin lists it in the controller's {}",
      host, what, kFlag);
}

}  // namespace

std::optional<std::string> refusedUrl(const DestinationPolicy& policy, std::string_view url) {
  std::unique_ptr<CURLU, UrlDeleter> u(curl_url());
  const std::string text(url);
  if (!u || curl_url_set(u.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) {
    return std::string("notification URL is not a valid absolute URL");
  }
  char* part = nullptr;
  curl_url_get(u.get(), CURLUPART_SCHEME, &part, 0);
  const std::string scheme = part != nullptr ? lower(part) : "";
  curl_free(part);
  part = nullptr;
  curl_url_get(u.get(), CURLUPART_HOST, &part, 0);
  const std::string host = normalHost(part != nullptr ? part : "");
  curl_free(part);
  if (host.empty()) {
    return std::string("notification URL has no host");
  }
  auto ip = parseIp(host);
  const bool allowed = nameAllowed(policy, host) || (ip && addressAllowed(policy, *ip));
  if (scheme != "https" && !(scheme == "http" && allowed)) {
    return fmt::format(
        "notification URL to {} must use https:// (http:// only for hosts the cluster admin "
        "lists in the controller's {})",
        host, kFlag);
  }
  if (allowed) {
    return std::nullopt;
  }
  if (ip) {
    return isPublic(*ip) ? std::nullopt : std::optional(notAllowed(host, "not a public address"));
  }
  if (localName(host)) {
    return notAllowed(host, "a local or in-cluster name");
  }
  return std::nullopt;
}

std::optional<std::string> refusedAddress(const DestinationPolicy& policy, std::string_view host,
                                          const sockaddr& address) {
  auto a = fromSockaddr(address);
  if (!a) {
    return fmt::format("notification destination {}: unsupported address family", host);
  }
  if (isPublic(*a) || nameAllowed(policy, normalHost(host)) || addressAllowed(policy, *a)) {
    return std::nullopt;
  }
  return notAllowed(host, "resolved to an address that is not public");
}

HostResolver systemResolver() {
  return [](const std::string& host) -> Result<std::vector<std::string>> {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
    if (rc != 0) {
      return fail(
          ErrorCode::Unavailable,
          fmt::format("notification destination {} does not resolve: {}", host, gai_strerror(rc)));
    }
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owned(found, freeaddrinfo);
    std::vector<std::string> out;
    for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* raw = a->ai_family == AF_INET
                            ? static_cast<const void*>(
                                  &reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr)
                            : static_cast<const void*>(
                                  &reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr);
      if ((a->ai_family == AF_INET || a->ai_family == AF_INET6) &&
          inet_ntop(a->ai_family, raw, text, sizeof(text)) != nullptr &&
          std::find(out.begin(), out.end(), text) == out.end()) {
        out.emplace_back(text);
      }
    }
    return out;
  };
}

Result<std::optional<std::string>> connectAddress(const DestinationPolicy& policy,
                                                  std::string_view url,
                                                  const HostResolver& resolve) {
  std::unique_ptr<CURLU, UrlDeleter> u(curl_url());
  const std::string text(url);
  if (!u || curl_url_set(u.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) {
    return fail(ErrorCode::InvalidArgument, "notification URL is not a valid absolute URL");
  }
  char* part = nullptr;
  curl_url_get(u.get(), CURLUPART_HOST, &part, 0);
  const std::string host = normalHost(part != nullptr ? part : "");
  curl_free(part);
  if (host.empty() || parseIp(host) || nameAllowed(policy, host)) {
    return std::optional<std::string>();
  }
  OPSY_ASSIGN_OR_RETURN(std::vector<std::string> addresses, resolve(host));
  if (addresses.empty()) {
    return fail(ErrorCode::Unavailable,
                fmt::format("notification destination {} resolves to no address", host));
  }
  for (const std::string& address : addresses) {
    sockaddr_storage storage{};
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
    } else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
    } else {
      return fail(
          ErrorCode::Internal,
          fmt::format("notification destination {}: resolver returned \"{}\"", host, address));
    }
    if (auto why = refusedAddress(policy, host, reinterpret_cast<const sockaddr&>(storage))) {
      return fail(ErrorCode::PermissionDenied, fmt::format("{} ({})", *why, address));
    }
  }
  return std::optional<std::string>(addresses.front());
}

bool isPublicAddress(const sockaddr& address) {
  auto a = fromSockaddr(address);
  return a && isPublic(*a);
}

std::optional<std::string> invalidDestinationPolicy(const DestinationPolicy& policy) {
  for (const std::string& entry : policy.allowed_hosts) {
    if (entry.empty()) {
      return fmt::format("{}: empty entry", kFlag);
    }
    if (entry.find('/') != std::string::npos && !parseCidr(entry)) {
      return fmt::format("{}: \"{}\" is not a CIDR (e.g. 10.20.0.0/16)", kFlag, entry);
    }
  }
  return std::nullopt;
}

}  // namespace opsy::notify
