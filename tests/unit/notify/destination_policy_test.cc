#include "opsy/notify/destination_policy.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <map>

namespace opsy::notify {
namespace {

using ::testing::HasSubstr;

sockaddr_storage address(const char* text) {
  sockaddr_storage out{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
  if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
  } else if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
  } else {
    ADD_FAILURE() << text;
  }
  return out;
}

bool isPublic(const char* text) {
  sockaddr_storage a = address(text);
  return isPublicAddress(reinterpret_cast<const sockaddr&>(a));
}

TEST(DestinationPolicyAddresses, MetadataLoopbackPrivateAndSpecialRangesAreNotPublic) {
  for (const char* internal : {"169.254.169.254",
                               "169.254.170.2",
                               "fd00:ec2::254",
                               "127.0.0.1",
                               "::1",
                               "0.0.0.0",
                               "::",
                               "10.0.0.1",
                               "172.16.5.4",
                               "172.31.255.255",
                               "192.168.1.1",
                               "100.64.0.1",
                               "fe80::1",
                               "fc00::1",
                               "224.0.0.1",
                               "255.255.255.255",
                               "::ffff:169.254.169.254",
                               "64:ff9b::a9fe:a9fe",
                               "2002:a9fe:a9fe::1",
                               "198.18.0.1"}) {
    EXPECT_FALSE(isPublic(internal)) << internal;
  }
  for (const char* external :
       {"52.94.76.1", "8.8.8.8", "172.32.0.1", "2600:1f18::1", "::ffff:52.94.76.1"}) {
    EXPECT_TRUE(isPublic(external)) << external;
  }
}

TEST(DestinationPolicyUrls, InstanceMetadataIsRefusedInEverySpelling) {
  DestinationPolicy policy;
  for (const char* url : {"https://169.254.169.254/latest/meta-data/", "https://2852039166/latest",
                          "https://0xa9.0xfe.0xa9.0xfe/", "https://169.254.43518/",
                          "https://[fd00:ec2::254]/", "https://[::ffff:169.254.169.254]/"}) {
    auto why = refusedUrl(policy, url);
    ASSERT_TRUE(why.has_value()) << url;
    EXPECT_THAT(*why, HasSubstr("--notification-allowed-hosts")) << url;
  }
}

TEST(DestinationPolicyUrls, HttpsToPublicNamesIsAllowedHttpAndLocalNamesAreNot) {
  DestinationPolicy policy;
  EXPECT_EQ(refusedUrl(policy, "https://hooks.slack.com/services/T/B/x"), std::nullopt);
  EXPECT_EQ(refusedUrl(policy, "https://discord.com/api/webhooks/1/t"), std::nullopt);
  EXPECT_THAT(refusedUrl(policy, "http://hooks.example.com/x").value_or(""),
              HasSubstr("must use https://"));
  for (const char* local :
       {"https://localhost/", "https://LOCALHOST./", "https://kubernetes/",
        "https://kubernetes.default.svc/", "https://api.default.svc.cluster.local/",
        "https://metadata.google.internal/", "https://printer.local/"}) {
    EXPECT_THAT(refusedUrl(policy, local).value_or(""), HasSubstr("local or in-cluster")) << local;
  }
  EXPECT_THAT(refusedUrl(policy, "not a url").value_or(""), HasSubstr("not a valid"));
  EXPECT_TRUE(refusedUrl(policy, "file:///etc/passwd").has_value());
  EXPECT_THAT(refusedUrl(policy, "ftp://files.example.com/x").value_or(""), HasSubstr("https://"));
}

TEST(DestinationPolicyUrls, TheAdminsAllowListAdmitsNamesGlobsAndCidrsOverHttpToo) {
  DestinationPolicy policy{
      .allowed_hosts = {"hooks.corp.internal", "*.svc.cluster.local", "10.20.0.0/16", "127.0.0.1"}};
  EXPECT_EQ(refusedUrl(policy, "http://hooks.corp.internal/x"), std::nullopt);
  EXPECT_EQ(refusedUrl(policy, "https://recv.ops.svc.cluster.local/x"), std::nullopt);
  EXPECT_EQ(refusedUrl(policy, "http://10.20.3.4:8080/x"), std::nullopt);
  EXPECT_EQ(refusedUrl(policy, "http://127.0.0.1:5000/hook"), std::nullopt);
  EXPECT_TRUE(refusedUrl(policy, "http://10.21.0.1/").has_value());
  EXPECT_TRUE(refusedUrl(policy, "https://169.254.169.254/").has_value());

  sockaddr_storage a = address("10.20.9.9");
  EXPECT_EQ(refusedAddress(policy, "relay.example.com", reinterpret_cast<const sockaddr&>(a)),
            std::nullopt);
  sockaddr_storage imds = address("169.254.169.254");
  EXPECT_THAT(refusedAddress(policy, "rebind.example.com", reinterpret_cast<const sockaddr&>(imds))
                  .value_or(""),
              HasSubstr("resolved to an address that is not public"));
  EXPECT_EQ(refusedAddress(policy, "hooks.corp.internal", reinterpret_cast<const sockaddr&>(imds)),
            std::nullopt);
}

// A name is judged by every address it resolves to and pinned to the first; IP literals and
// names the admin listed are not resolved at all; a name that does not resolve is Unavailable.
TEST(DestinationPolicyConnect, EveryResolvedAddressIsJudgedAndTheFirstIsPinned) {
  std::map<std::string, std::vector<std::string>> dns = {
      {"hooks.example.com", {"93.184.216.34", "2606:2800:220:1::1"}},
      {"rebind.example.com", {"93.184.216.34", "169.254.169.254"}},
      {"v6meta.example.com", {"fd00:ec2::254"}},
      {"nowhere.example.com", {}},
  };
  std::vector<std::string> asked;
  HostResolver resolve = [&](const std::string& host) -> Result<std::vector<std::string>> {
    asked.push_back(host);
    if (host == "broken.example.com") {
      return fail(ErrorCode::Unavailable,
                  "notification destination broken.example.com does "
                  "not resolve: Name or service not known");
    }
    return dns[host];
  };
  DestinationPolicy policy{.allowed_hosts = {"*.corp.example", "10.20.0.0/16"}};
  EXPECT_EQ(connectAddress(policy, "https://hooks.example.com/x", resolve).value(),
            std::optional<std::string>("93.184.216.34"));

  auto rebind = connectAddress(policy, "https://rebind.example.com/x", resolve);
  ASSERT_FALSE(rebind.has_value());
  EXPECT_EQ(rebind.error().code, ErrorCode::PermissionDenied);
  EXPECT_THAT(rebind.error().message, HasSubstr("rebind.example.com"));
  EXPECT_THAT(rebind.error().message, HasSubstr("169.254.169.254"));
  EXPECT_THAT(rebind.error().message, HasSubstr("--notification-allowed-hosts"));
  EXPECT_EQ(connectAddress(policy, "https://v6meta.example.com/", resolve).error().code,
            ErrorCode::PermissionDenied);
  EXPECT_EQ(connectAddress(policy, "https://nowhere.example.com/", resolve).error().code,
            ErrorCode::Unavailable);
  EXPECT_EQ(connectAddress(policy, "https://broken.example.com/", resolve).error().code,
            ErrorCode::Unavailable);

  asked.clear();
  EXPECT_EQ(connectAddress(policy, "https://hooks.corp.example/x", resolve).value(), std::nullopt);
  EXPECT_EQ(connectAddress(policy, "https://93.184.216.34/x", resolve).value(), std::nullopt);
  EXPECT_TRUE(asked.empty()) << "resolved a name it had no reason to";

  // A CIDR on the allow list admits what a name resolves into.
  dns["internal.example.com"] = {"10.20.3.4"};
  EXPECT_EQ(connectAddress(policy, "https://internal.example.com/", resolve).value(),
            std::optional<std::string>("10.20.3.4"));
}

// The real resolver answers for localhost with a loopback address, which the policy refuses.
TEST(DestinationPolicyConnect, SystemResolverFeedsTheSameJudgement) {
  auto addresses = systemResolver()("localhost");
  ASSERT_TRUE(addresses.has_value()) << addresses.error().message;
  ASSERT_FALSE(addresses->empty());
  auto pinned = connectAddress({}, "https://localhost.:8443/", systemResolver());
  ASSERT_FALSE(pinned.has_value());
  EXPECT_EQ(pinned.error().code, ErrorCode::PermissionDenied);
}

TEST(DestinationPolicyValidation, ABadCidrNamesTheFlag) {
  EXPECT_EQ(invalidDestinationPolicy({.allowed_hosts = {"10.0.0.0/8", "*.corp"}}), std::nullopt);
  EXPECT_THAT(invalidDestinationPolicy({.allowed_hosts = {"10.0.0.0/33"}}).value_or(""),
              HasSubstr("--notification-allowed-hosts"));
  EXPECT_TRUE(invalidDestinationPolicy({.allowed_hosts = {""}}).has_value());
}

}  // namespace
}  // namespace opsy::notify
