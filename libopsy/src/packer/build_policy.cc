#include "opsy/packer/build_policy.h"

#include <fnmatch.h>

#include <algorithm>

namespace opsy::packer {
namespace {

constexpr std::string_view kDockerHub = "docker.io";

bool hasGlob(std::string_view s) {
  return s.find_first_of("*?[") != std::string_view::npos;
}

// Splits "registry/path" the way container runtimes do: the first component is a registry when
// it has a dot or a port, or is "localhost"; otherwise the image lives on Docker Hub, where
// single-component names are under "library/".
std::string expandRegistry(std::string_view ref) {
  std::string_view first = ref.substr(0, ref.find('/'));
  const bool has_registry =
      first.size() < ref.size() &&
      (first.find_first_of(".:") != std::string_view::npos || first == "localhost");
  std::string registry;
  std::string path;
  if (has_registry) {
    registry = std::string(first);
    path = std::string(ref.substr(first.size() + 1));
  } else {
    registry = std::string(kDockerHub);
    path = std::string(ref);
  }
  if (registry == "index.docker.io" || registry == "registry-1.docker.io") {
    registry = std::string(kDockerHub);
  }
  if (registry == kDockerHub && path.find('/') == std::string::npos) {
    path = "library/" + path;
  }
  return registry + "/" + path;
}

bool globMatch(const std::string& pattern, const std::string& value) {
  return fnmatch(pattern.c_str(), value.c_str(), 0) == 0;
}

}  // namespace

std::string canonicalImage(std::string_view reference) {
  std::string out = expandRegistry(reference);
  const std::size_t last_slash = out.rfind('/');
  const bool tagged = out.find(':', last_slash) != std::string::npos;
  const bool digested = out.find('@') != std::string::npos;
  if (!tagged && !digested) {
    out += ":latest";
  }
  return out;
}

std::string canonicalImagePattern(std::string_view pattern) {
  std::string_view first = pattern.substr(0, pattern.find('/'));
  if (hasGlob(first)) {
    return std::string(pattern);
  }
  return expandRegistry(pattern);
}

bool imageAllowed(const std::vector<std::string>& patterns, std::string_view image) {
  if (image.empty() || image.find('\0') != std::string_view::npos) {
    return false;
  }
  const std::string canonical = canonicalImage(image);
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) {
    return globMatch(canonicalImagePattern(p), canonical);
  });
}

bool serviceAccountListed(const std::vector<std::string>& patterns, std::string_view ns,
                          std::string_view name) {
  if (name.find('\0') != std::string_view::npos || ns.find('\0') != std::string_view::npos) {
    return false;
  }
  const std::string subject =
      std::string(ns) + "/" + std::string(name.empty() ? std::string_view("default") : name);
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return globMatch(p, subject); });
}

std::optional<std::string> invalidPolicy(const BuildPolicy& policy) {
  auto empty = [](const std::vector<std::string>& v) {
    return std::any_of(v.begin(), v.end(), [](const std::string& s) { return s.empty(); });
  };
  if (empty(policy.packer_images)) {
    return "--allowed-packer-images: empty pattern";
  }
  if (empty(policy.git_sync_images)) {
    return "--allowed-git-sync-images: empty pattern";
  }
  for (const std::string& p : policy.service_accounts) {
    if (p.find('/') == std::string::npos || p.front() == '/' || p.back() == '/') {
      return "--allowed-build-service-accounts: \"" + p +
             "\" is not a namespace/name pattern (e.g. \"ci/packer\" or \"*/packer-build\")";
    }
  }
  return std::nullopt;
}

}  // namespace opsy::packer
