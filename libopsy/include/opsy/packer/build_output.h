// File: build_output.h
//
// Reads what a Packer build printed: the images it produced (the `artifact,<n>,id,<region>:<ami>`
// records of -machine-readable output, or the "AMIs were created:" block of the human output),
// the temporary key pairs and security groups it created (so a failed build's leftovers can be
// deleted), and its last error. The log survives a controller restart, so the result is found
// again after one.
//
//   packer::BuildOutput out = packer::parseBuildOutput(pod_log);
//   if (auto ami = out.imageIn("us-west-2")) { ... }
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace opsy::packer {

struct Artifact {
  std::string builder;  // e.g. amazon-ebs.al2023
  std::string region;
  std::string image_id;
};

struct BuildOutput {
  std::vector<Artifact> artifacts;
  std::vector<std::string> temporary_key_pairs;        // key pair names
  std::vector<std::string> temporary_security_groups;  // group names (packer_<uuid>)
  std::vector<std::string> temporary_security_group_ids;
  std::optional<std::string> last_error;

  // The image built in `region`, when exactly one was; the first otherwise.
  std::optional<std::string> imageIn(std::string_view region) const;
};

BuildOutput parseBuildOutput(std::string_view log);

}  // namespace opsy::packer
