// File: destination_policy.h
//
// Where a CR author may make the controller send notifications. The webhook and Discord URLs
// come from resources (or their Secrets), so without a policy anyone who may create a
// PackerBuilder could make the controller POST to the instance metadata service or to services
// inside the cluster. By default a destination must be https:// and its host must not be a
// loopback, link-local (169.254.0.0/16, fd00:ec2::254), private, shared or otherwise non-public
// address, nor a local name; the cluster admin's allow list (--notification-allowed-hosts) admits
// named hosts or CIDRs anyway, over http:// too. connectAddress() resolves a public-looking name,
// judges every address it resolves to and names the one to connect to, so a name that points at
// the metadata service (or is re-pointed there between check and connect) is refused too.
//
//   notify::DestinationPolicy policy{.allowed_hosts = {"hooks.corp.example", "10.20.0.0/16"}};
//   if (auto why = notify::refusedUrl(policy, url)) { ... show *why on the resource ... }
#pragma once

#include <sys/socket.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/core/result.h"

namespace opsy::notify {

struct DestinationPolicy {
  // Host names ("hooks.corp.example"), name globs ("*.corp.example") or CIDRs ("10.20.0.0/16",
  // "fd00::/8") admitted whatever their address, over http:// as well as https://.
  std::vector<std::string> allowed_hosts;
};

// Why notifications may not go to `url`, naming the rule and the flag that would admit it;
// nullopt when they may. Looks at the scheme, and at the host when it is an IP literal or a name
// that is local by definition (localhost, *.localhost, *.local, *.internal, *.svc,
// *.cluster.local). What a public-looking name resolves to is refusedAddress()'s to judge.
std::optional<std::string> refusedUrl(const DestinationPolicy& policy, std::string_view url);

// Why a connection to `address`, resolved for `host`, may not be made; nullopt when it may.
std::optional<std::string> refusedAddress(const DestinationPolicy& policy, std::string_view host,
                                          const sockaddr& address);

// Numeric addresses ("203.0.113.7", "2001:db8::1") a host name resolves to.
using HostResolver = std::function<Result<std::vector<std::string>>(const std::string& host)>;
// getaddrinfo(), TCP addresses of both families.
HostResolver systemResolver();

// Where a notification to `url` (already admitted by refusedUrl()) must connect: its host name
// resolved, every address judged by refusedAddress(), and the first returned, so the connection
// goes where the check looked (http::Request::connect_address). One address that is not public
// refuses the name. nullopt when there is nothing to pin: the host is an IP literal, or the admin
// admitted it by name. Fails with PermissionDenied naming the host and the address when refused,
// with Unavailable when the name does not resolve.
[[nodiscard]] Result<std::optional<std::string>> connectAddress(const DestinationPolicy& policy,
                                                                std::string_view url,
                                                                const HostResolver& resolve);

// True when `address` is public: not loopback, link-local, private (RFC 1918, fc00::/7), shared
// (100.64.0.0/10), unspecified, multicast, reserved or documentation space; IPv4-mapped and NAT64
// IPv6 addresses are judged by their IPv4 address.
bool isPublicAddress(const sockaddr& address);

// Invalid allow-list entries (an unparsable CIDR, an empty entry), naming the flag.
std::optional<std::string> invalidDestinationPolicy(const DestinationPolicy& policy);

}  // namespace opsy::notify
