// File: destination_policy.h
//
// Where a CR author may make the controller send notifications. The webhook and Discord URLs
// come from resources (or their Secrets), so without a policy anyone who may create a
// PackerBuilder could make the controller POST to the instance metadata service or to services
// inside the cluster. By default a destination must be https:// and its host must not be a
// loopback, link-local (169.254.0.0/16, fd00:ec2::254), private, shared or otherwise non-public
// address, nor a local name; the cluster admin's allow list (--notification-allowed-hosts) admits
// named hosts or CIDRs anyway, over http:// too. refusedAddress() judges an address a name
// resolved to, for a transport that checks where it connects.
//
//   notify::DestinationPolicy policy{.allowed_hosts = {"hooks.corp.example", "10.20.0.0/16"}};
//   if (auto why = notify::refusedUrl(policy, url)) { ... show *why on the resource ... }
#pragma once

#include <sys/socket.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// True when `address` is public: not loopback, link-local, private (RFC 1918, fc00::/7), shared
// (100.64.0.0/10), unspecified, multicast, reserved or documentation space; IPv4-mapped and NAT64
// IPv6 addresses are judged by their IPv4 address.
bool isPublicAddress(const sockaddr& address);

// Invalid allow-list entries (an unparsable CIDR, an empty entry), naming the flag.
std::optional<std::string> invalidDestinationPolicy(const DestinationPolicy& policy);

}  // namespace opsy::notify
