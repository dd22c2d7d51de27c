// File: job.h
//
// The Kubernetes Job that runs one Packer build. git-sync checks the project out into a shared
// emptyDir, then every step of a packer::Plan runs as its own container without a shell: init and
// validate as init containers, build as the main container (its log is what parseBuildOutput
// reads). Plugins installed by init live in the workspace (PACKER_PLUGIN_PATH), so later steps see
// them. The pod runs as a non-root user with no privileges; AWS credentials come from the Job's
// ServiceAccount (IRSA) or from every key of a Secret.
//
//   OPSY_ASSIGN_OR_RETURN(kube::Job job, packer::buildJob(inputs));
//   OPSY_RETURN_IF_ERROR(kube::createTyped(writer, job));
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/core/result.h"
#include "opsy/kube/object.h"
#include "opsy/kube/objects.h"
#include "opsy/packer/command.h"

namespace opsy::packer {

inline constexpr std::string_view kBuildContainer = "packer-build";
inline constexpr std::string_view kWorkspace = "/workspace";
// The checkout is linked at <workspace>/<kCheckoutLink>.
inline constexpr std::string_view kCheckoutLink = "project";
// A non-root uid/gid that git-sync's image uses and that Packer runs fine as.
inline constexpr std::int64_t kRunAsUser = 65533;

struct GitSyncOptions {
  std::string image;
  std::string container_name;
  std::string repo;
  std::string ref;
  // Secret with keys "username" and "token"; empty for a public repository.
  std::string secret;
};

struct JobInputs {
  std::string ns;
  std::string name;
  std::map<std::string, std::string> labels;  // on the Job and its pod
  std::map<std::string, std::string> annotations;
  std::optional<kube::OwnerReference> owner;
  GitSyncOptions git_sync;
  std::string image;        // the image with the packer binary
  std::string project_dir;  // folder of the project inside the repository
  Plan plan;
  std::string region;  // AWS_REGION for the SDK; empty to leave it unset
  // Exactly one of these usually: a ServiceAccount (IRSA) or a Secret whose keys become env.
  std::string service_account;
  std::string credentials_secret;
  std::vector<std::string> credentials_secret_keys;
  // A core/v1 ResourceRequirements as JSON for the Packer containers; empty for the defaults.
  std::string resources_json;
  Duration active_deadline = std::chrono::hours(2);
  Duration ttl_after_finished = std::chrono::hours(24);
};

// A Job name (DNS-1123 label, <= 63 chars) from the builder's name and a build's job id: the
// name is lower-cased, anything but [a-z0-9-] becomes '-', and it is shortened to keep the id.
std::string jobName(std::string_view builder_name, std::string_view job_id);

// The Job manifest. Fails when inputs are unusable (no build step, bad resources JSON, a name
// that is not a DNS-1123 label).
[[nodiscard]] Result<kube::Job> buildJob(const JobInputs& inputs);

}  // namespace opsy::packer
