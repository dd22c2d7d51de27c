#include "opsy/packer/job.h"

#include <fmt/format.h>
#include <algorithm>

#include "opsy/json/json.h"

namespace opsy::packer {
namespace {

using json::Alloc;
using json::Value;

constexpr std::size_t kMaxName = 63;
constexpr std::string_view kVolume = "workspace";

Value envVar(std::string_view name, std::string_view value, Alloc& a) {
  Value v(rapidjson::kObjectType);
  v.AddMember("name", json::jsonString(name, a), a);
  v.AddMember("value", json::jsonString(value, a), a);
  return v;
}

Value secretEnvVar(std::string_view name, std::string_view secret, std::string_view key, Alloc& a) {
  Value ref(rapidjson::kObjectType);
  ref.AddMember("name", json::jsonString(secret, a), a);
  ref.AddMember("key", json::jsonString(key, a), a);
  Value from(rapidjson::kObjectType);
  from.AddMember("secretKeyRef", ref, a);
  Value v(rapidjson::kObjectType);
  v.AddMember("name", json::jsonString(name, a), a);
  v.AddMember("valueFrom", from, a);
  return v;
}

Value workspaceMount(Alloc& a) {
  Value mounts(rapidjson::kArrayType);
  Value m(rapidjson::kObjectType);
  m.AddMember("name", json::jsonString(kVolume, a), a);
  m.AddMember("mountPath", json::jsonString(kWorkspace, a), a);
  mounts.PushBack(m, a);
  return mounts;
}

Value containerSecurityContext(Alloc& a) {
  Value sc(rapidjson::kObjectType);
  sc.AddMember("allowPrivilegeEscalation", false, a);
  sc.AddMember("runAsNonRoot", true, a);
  Value caps(rapidjson::kObjectType);
  Value drop(rapidjson::kArrayType);
  drop.PushBack(json::jsonString("ALL", a), a);
  caps.AddMember("drop", drop, a);
  sc.AddMember("capabilities", caps, a);
  return sc;
}

// Small requests for git-sync; Packer mostly waits on AWS, but plugins and provisioner uploads
// want some memory.
Value defaultResources(std::string_view cpu, std::string_view memory, std::string_view limit,
                       Alloc& a) {
  Value requests(rapidjson::kObjectType);
  requests.AddMember("cpu", json::jsonString(cpu, a), a);
  requests.AddMember("memory", json::jsonString(memory, a), a);
  Value limits(rapidjson::kObjectType);
  limits.AddMember("memory", json::jsonString(limit, a), a);
  Value r(rapidjson::kObjectType);
  r.AddMember("requests", requests, a);
  r.AddMember("limits", limits, a);
  return r;
}

Value gitSyncContainer(const JobInputs& in, Alloc& a) {
  const GitSyncOptions& g = in.git_sync;
  Value env(rapidjson::kArrayType);
  env.PushBack(envVar("GITSYNC_REPO", g.repo, a), a);
  env.PushBack(envVar("GITSYNC_REF", g.ref, a), a);
  env.PushBack(envVar("GITSYNC_ROOT", kWorkspace, a), a);
  env.PushBack(envVar("GITSYNC_LINK", kCheckoutLink, a), a);
  env.PushBack(envVar("GITSYNC_ONE_TIME", "true", a), a);
  env.PushBack(envVar("GITSYNC_DEPTH", "1", a), a);
  if (!g.secret.empty()) {
    env.PushBack(secretEnvVar("GITSYNC_USERNAME", g.secret, "username", a), a);
    env.PushBack(secretEnvVar("GITSYNC_PASSWORD", g.secret, "token", a), a);
  }
  Value c(rapidjson::kObjectType);
  c.AddMember("name", json::jsonString(g.container_name.empty() ? "git-sync" : g.container_name, a),
              a);
  c.AddMember("image", json::jsonString(g.image, a), a);
  c.AddMember("env", env, a);
  c.AddMember("volumeMounts", workspaceMount(a), a);
  c.AddMember("resources", defaultResources("50m", "64Mi", "256Mi", a), a);
  c.AddMember("securityContext", containerSecurityContext(a), a);
  return c;
}

Value packerContainer(const JobInputs& in, const Step& step, const Value& resources, Alloc& a) {
  std::string workdir = fmt::format("{}/{}", kWorkspace, kCheckoutLink);
  if (!in.project_dir.empty()) {
    workdir += "/" + in.project_dir;
  }
  Value env(rapidjson::kArrayType);
  // Packer keeps its config, plugins and cache under HOME; the image's HOME is not writable by a
  // non-root user, and init's plugins must be visible to validate and build.
  env.PushBack(envVar("HOME", kWorkspace, a), a);
  env.PushBack(envVar("PACKER_PLUGIN_PATH", fmt::format("{}/.packer.d/plugins", kWorkspace), a), a);
  env.PushBack(envVar("CHECKPOINT_DISABLE", "1", a), a);
  if (!in.region.empty()) {
    env.PushBack(envVar("AWS_REGION", in.region, a), a);
  }
  if (step.debug) {
    env.PushBack(envVar("PACKER_LOG", "1", a), a);
  }
  for (const std::string& key : in.credentials_secret_keys) {
    env.PushBack(secretEnvVar(key, in.credentials_secret, key, a), a);
  }
  Value command = json::jsonStrings(step.argv, a);
  Value c(rapidjson::kObjectType);
  std::string name =
      step.sub_command == "build" ? std::string(kBuildContainer) : "packer-" + step.sub_command;
  c.AddMember("name", json::jsonString(name, a), a);
  c.AddMember("image", json::jsonString(in.image, a), a);
  c.AddMember("command", command, a);
  c.AddMember("workingDir", json::jsonString(workdir, a), a);
  c.AddMember("env", env, a);
  c.AddMember("volumeMounts", workspaceMount(a), a);
  c.AddMember("resources", Value(resources, a), a);
  c.AddMember("securityContext", containerSecurityContext(a), a);
  return c;
}

bool isDnsLabel(std::string_view s) {
  if (s.empty() || s.size() > kMaxName || s.front() == '-' || s.back() == '-') {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

}  // namespace

std::string jobName(std::string_view builder_name, std::string_view job_id) {
  auto clean = [](std::string_view in) {
    std::string out;
    for (char c : in) {
      if (c >= 'A' && c <= 'Z') {
        out.push_back(static_cast<char>(c - 'A' + 'a'));
      } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
        out.push_back(c);
      } else {
        out.push_back('-');
      }
    }
    return out;
  };
  std::string id = clean(job_id).substr(0, kMaxName / 2);
  std::string base = clean(builder_name);
  std::size_t room = kMaxName - id.size() - 1;
  if (base.size() > room) {
    base.resize(room);
  }
  while (!base.empty() && base.back() == '-') {
    base.pop_back();
  }
  while (!base.empty() && base.front() == '-') {
    base.erase(base.begin());
  }
  std::string name = base.empty() ? "packer-" + id : base + "-" + id;
  while (!name.empty() && name.back() == '-') {
    name.pop_back();
  }
  return name;
}

Result<kube::Job> buildJob(const JobInputs& in) {
  if (!isDnsLabel(in.name)) {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("job name \"{}\" is not a DNS-1123 label", in.name));
  }
  const Step* build = nullptr;
  for (const Step& s : in.plan.steps) {
    if (s.sub_command == "build") {
      build = &s;
    }
  }
  if (build == nullptr) {
    return fail(ErrorCode::InvalidArgument, "the plan has no build step");
  }
  if (in.image.empty() || in.git_sync.image.empty() || in.git_sync.repo.empty()) {
    return fail(ErrorCode::InvalidArgument, "packer image, git-sync image and repo are required");
  }
  json::Document doc;
  doc.SetObject();
  Alloc& a = doc.GetAllocator();

  Value resources;
  if (in.resources_json.empty()) {
    resources = defaultResources("500m", "1Gi", "4Gi", a);
  } else {
    Result<json::Document> r = json::parseObject(in.resources_json, "resources");
    if (!r) {
      return fail(ErrorCode::InvalidArgument, "resources must be a JSON object");
    }
    resources.CopyFrom(*r, a);
  }

  Value init(rapidjson::kArrayType);
  init.PushBack(gitSyncContainer(in, a), a);
  Value containers(rapidjson::kArrayType);
  for (const Step& s : in.plan.steps) {
    if (&s == build) {
      containers.PushBack(packerContainer(in, s, resources, a), a);
    } else {
      init.PushBack(packerContainer(in, s, resources, a), a);
    }
  }

  Value volume(rapidjson::kObjectType);
  volume.AddMember("name", json::jsonString(kVolume, a), a);
  volume.AddMember("emptyDir", Value(rapidjson::kObjectType), a);
  Value volumes(rapidjson::kArrayType);
  volumes.PushBack(volume, a);

  Value pod_sc(rapidjson::kObjectType);
  pod_sc.AddMember("runAsNonRoot", true, a);
  pod_sc.AddMember("runAsUser", static_cast<int64_t>(kRunAsUser), a);
  pod_sc.AddMember("runAsGroup", static_cast<int64_t>(kRunAsUser), a);
  pod_sc.AddMember("fsGroup", static_cast<int64_t>(kRunAsUser), a);
  Value seccomp(rapidjson::kObjectType);
  seccomp.AddMember("type", "RuntimeDefault", a);
  pod_sc.AddMember("seccompProfile", seccomp, a);

  Value pod_spec(rapidjson::kObjectType);
  pod_spec.AddMember("restartPolicy", "Never", a);
  // Packer needs no Kubernetes API: no token in the pod. IRSA and EKS Pod Identity inject their
  // own projected token, which this does not affect.
  pod_spec.AddMember("automountServiceAccountToken", false, a);
  if (!in.service_account.empty()) {
    pod_spec.AddMember("serviceAccountName", json::jsonString(in.service_account, a), a);
  }
  pod_spec.AddMember("securityContext", pod_sc, a);
  pod_spec.AddMember("initContainers", init, a);
  pod_spec.AddMember("containers", containers, a);
  pod_spec.AddMember("volumes", volumes, a);

  Value pod_meta(rapidjson::kObjectType);
  pod_meta.AddMember("labels", json::jsonStringMap(in.labels, a), a);
  doc.AddMember("metadata", pod_meta, a);
  doc.AddMember("spec", pod_spec, a);

  kube::Job job;
  job.metadata.ns = in.ns;
  job.metadata.name = in.name;
  job.metadata.labels = in.labels;
  job.metadata.annotations = in.annotations;
  if (in.owner) {
    job.metadata.owner_references.push_back(*in.owner);
  }
  job.backoff_limit = 0;
  job.completions = 1;
  job.parallelism = 1;
  job.active_deadline_seconds = std::max<std::int64_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(in.active_deadline).count());
  job.ttl_seconds_after_finished = static_cast<std::int32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(in.ttl_after_finished).count());
  job.pod_template_json = json::writeJson(doc);
  return job;
}

}  // namespace opsy::packer
