#include "opsy/packer/build_policy.h"

#include <gtest/gtest.h>

namespace opsy::packer {
namespace {

TEST(BuildPolicyImages, ShortDockerHubNamesAreExpandedLikeContainerRuntimes) {
  EXPECT_EQ(canonicalImage("hashicorp/packer:1.11"), "docker.io/hashicorp/packer:1.11");
  EXPECT_EQ(canonicalImage("alpine"), "docker.io/library/alpine:latest");
  EXPECT_EQ(canonicalImage("index.docker.io/hashicorp/packer"),
            "docker.io/hashicorp/packer:latest");
  EXPECT_EQ(canonicalImage("localhost:5000/packer"), "localhost:5000/packer:latest");
  EXPECT_EQ(canonicalImage("registry.example.com:443/team/packer@sha256:ab"),
            "registry.example.com:443/team/packer@sha256:ab");
}

TEST(BuildPolicyImages, DefaultAllowsOnlyTheOfficialImagesInEitherSpelling) {
  BuildPolicy policy;
  for (const char* ok :
       {"hashicorp/packer", "hashicorp/packer:1.11", "docker.io/hashicorp/packer:latest",
        "hashicorp/packer@sha256:0123", "index.docker.io/hashicorp/packer:1.9"}) {
    EXPECT_TRUE(imageAllowed(policy.packer_images, ok)) << ok;
  }
  for (const char* bad :
       {"evil.io/hashicorp/packer:1.11", "hashicorp/packer-evil:1", "hashicorp/packerx:1",
        "attacker/packer:1.11", "", "docker.io/library/packer:1"}) {
    EXPECT_FALSE(imageAllowed(policy.packer_images, bad)) << bad;
  }
  EXPECT_TRUE(imageAllowed(policy.git_sync_images, "registry.k8s.io/git-sync/git-sync:v4.2.3"));
  EXPECT_FALSE(imageAllowed(policy.git_sync_images, "registry.k8s.io/git-sync/other:v4"));
}

TEST(BuildPolicyImages, PatternsWithAGlobInTheRegistryAreTakenAsWritten) {
  EXPECT_TRUE(imageAllowed({"*"}, "anything/at:all"));
  EXPECT_TRUE(imageAllowed({"*.dkr.ecr.*.amazonaws.com/packer:*"},
                           "123456789012.dkr.ecr.us-west-2.amazonaws.com/packer:1.11"));
  EXPECT_FALSE(imageAllowed({"*.dkr.ecr.*.amazonaws.com/packer:*"}, "hashicorp/packer:1.11"));
}

TEST(BuildPolicyServiceAccounts, MatchNamespaceSlashNameAndEmptyIsDefault) {
  std::vector<std::string> patterns = {"*/default", "ci/packer-*"};
  EXPECT_TRUE(serviceAccountListed(patterns, "team-a", ""));
  EXPECT_TRUE(serviceAccountListed(patterns, "team-a", "default"));
  EXPECT_TRUE(serviceAccountListed(patterns, "ci", "packer-build"));
  EXPECT_FALSE(serviceAccountListed(patterns, "team-a", "packer-build"));
  EXPECT_FALSE(serviceAccountListed(patterns, "ci", "admin"));
  EXPECT_FALSE(serviceAccountListed({}, "ci", ""));
}

TEST(BuildPolicyValidation, NamesTheFlagOfABadPattern) {
  EXPECT_EQ(invalidPolicy(BuildPolicy{}), std::nullopt);
  auto bad = invalidPolicy(BuildPolicy{.service_accounts = {"packer"}});
  ASSERT_TRUE(bad.has_value());
  EXPECT_NE(bad->find("--allowed-build-service-accounts"), std::string::npos);
  EXPECT_TRUE(invalidPolicy(BuildPolicy{.packer_images = {""}}).has_value());
}

}  // namespace
}  // namespace opsy::packer
