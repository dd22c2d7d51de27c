// File: build_policy.h
//
// What a cluster admin lets a PackerBuilder's build Job run: which Packer and git-sync images, and
// under which ServiceAccounts. The policy comes from controller flags, never from the CR, so
// whoever may create a PackerBuilder cannot run an arbitrary image or borrow a privileged
// ServiceAccount (an IRSA role) of its namespace through the controller.
//
// Image patterns are globs (fnmatch: `*`, `?`, `[...]`; `*` also matches `/`) matched against the
// canonical reference: Docker Hub short names are expanded on both sides ("hashicorp/packer:1.11"
// is "docker.io/hashicorp/packer:1.11", "alpine" is "docker.io/library/alpine:latest"), so one
// pattern covers both spellings. ServiceAccount patterns are "namespace/name" globs.
//
//   packer::BuildPolicy policy;  // the secure defaults
//   if (auto denied = packer::deniedImage(policy.packer_images, image)) { ... }
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace opsy::packer {

// A ServiceAccount carrying this label with value "true" may run build Jobs of its namespace,
// whatever the allow list says; labelling is the admin's per-namespace opt-in.
inline constexpr std::string_view kLabelBuildServiceAccount = "ami.refresh.ops/packer-build";

struct BuildPolicy {
  // The official images, by tag or digest.
  std::vector<std::string> packer_images = {"hashicorp/packer[:@]*"};
  std::vector<std::string> git_sync_images = {"registry.k8s.io/git-sync/git-sync[:@]*"};
  // "namespace/name" globs. A builder naming no ServiceAccount runs as its namespace's "default",
  // which holds no role unless someone gave it one.
  std::vector<std::string> service_accounts = {"*/default"};
};

// The canonical form of an image reference (registry/path, then :tag or @digest; ":latest"
// when neither is given). A pattern is expanded the same way but never gains a tag, and only when
// its registry part holds no glob character.
std::string canonicalImage(std::string_view reference);
std::string canonicalImagePattern(std::string_view pattern);

// True when `image` matches one of `patterns`.
bool imageAllowed(const std::vector<std::string>& patterns, std::string_view image);

// True when ns/name matches one of `patterns`; an empty name is "default".
bool serviceAccountListed(const std::vector<std::string>& patterns, std::string_view ns,
                          std::string_view name);

// Invalid patterns (empty, or a ServiceAccount pattern without "namespace/"), naming the flag.
std::optional<std::string> invalidPolicy(const BuildPolicy& policy);

}  // namespace opsy::packer
