#include "opsy/packer/job.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <map>
#include <string>

namespace opsy::packer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

JobInputs inputs() {
  PlanInputs plan_inputs{.commands = {CommandSpec{.sub_command = "build", .debug = true}},
                         .base_ami = "ami-base",
                         .region = "us-west-2"};
  auto plan = planCommands(plan_inputs);
  EXPECT_TRUE(plan.has_value());
  JobInputs in;
  in.ns = "ci";
  in.name = "pb-0a1b2c3d";
  in.labels = {{"ami.refresh.ops/builder-uid", "u-1"}};
  in.annotations = {{"ami.refresh.ops/base-ami", "ami-base"}};
  in.owner = kube::OwnerReference{.api_version = "ami.refresh.ops/v1alpha1",
                                  .kind = "PackerBuilder",
                                  .name = "pb",
                                  .uid = "u-1",
                                  .controller = true,
                                  .block_owner_deletion = true};
  in.git_sync = {.image = "registry.k8s.io/git-sync/git-sync:v4.2.3",
                 .container_name = "git-sync",
                 .repo = "https://example.com/r.git",
                 .ref = "main",
                 .secret = "git-creds"};
  in.image = "hashicorp/packer:1.11";
  in.project_dir = "packer/al2023";
  in.plan = *plan;
  in.region = "us-west-2";
  in.credentials_secret = "aws-creds";
  in.credentials_secret_keys = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"};
  in.active_deadline = std::chrono::minutes(90);
  return in;
}

// The produced manifest, decoded back from its JSON.
rapidjson::Document decode(const kube::Job& job) {
  rapidjson::Document doc;
  std::string json = job.toJson();
  doc.Parse(json.c_str(), json.size());
  EXPECT_FALSE(doc.HasParseError());
  return doc;
}

const rapidjson::Value* findByName(const rapidjson::Value& list, std::string_view name) {
  for (const auto& item : list.GetArray()) {
    if (item.HasMember("name") && name == item["name"].GetString()) {
      return &item;
    }
  }
  return nullptr;
}

std::map<std::string, std::string> plainEnv(const rapidjson::Value& container) {
  std::map<std::string, std::string> out;
  for (const auto& e : container["env"].GetArray()) {
    if (e.HasMember("value")) {
      out[e["name"].GetString()] = e["value"].GetString();
    }
  }
  return out;
}

std::vector<std::string> strings(const rapidjson::Value& array) {
  std::vector<std::string> out;
  for (const auto& v : array.GetArray()) {
    out.emplace_back(v.GetString());
  }
  return out;
}

// A build Job never retries on its own, has a deadline, a TTL, labels and its owner.
TEST(PackerJob, JobSpecBoundsTheBuild) {
  auto job = buildJob(inputs());
  ASSERT_TRUE(job.has_value()) << job.error().message;
  auto doc = decode(*job);
  EXPECT_STREQ(doc["metadata"]["name"].GetString(), "pb-0a1b2c3d");
  EXPECT_STREQ(doc["metadata"]["namespace"].GetString(), "ci");
  EXPECT_STREQ(doc["metadata"]["labels"]["ami.refresh.ops/builder-uid"].GetString(), "u-1");
  EXPECT_STREQ(doc["metadata"]["annotations"]["ami.refresh.ops/base-ami"].GetString(), "ami-base");
  const auto& owner = doc["metadata"]["ownerReferences"][0];
  EXPECT_STREQ(owner["kind"].GetString(), "PackerBuilder");
  EXPECT_TRUE(owner["controller"].GetBool());
  const auto& spec = doc["spec"];
  EXPECT_EQ(spec["backoffLimit"].GetInt(), 0);
  EXPECT_EQ(spec["activeDeadlineSeconds"].GetInt(), 5400);
  EXPECT_EQ(spec["ttlSecondsAfterFinished"].GetInt(), 86400);
  EXPECT_STREQ(spec["template"]["metadata"]["labels"]["ami.refresh.ops/builder-uid"].GetString(),
               "u-1");
  EXPECT_STREQ(spec["template"]["spec"]["restartPolicy"].GetString(), "Never");
  // Packer needs no Kubernetes API token (IRSA brings its own projected token).
  EXPECT_FALSE(spec["template"]["spec"]["automountServiceAccountToken"].GetBool());
}

// git-sync checks the project out once, shallow, with credentials from the secret's keys.
TEST(PackerJob, GitSyncInitContainerChecksOutOnce) {
  auto job = buildJob(inputs());
  ASSERT_TRUE(job.has_value());
  auto doc = decode(*job);
  const auto& init = doc["spec"]["template"]["spec"]["initContainers"];
  ASSERT_GE(init.Size(), 1u);
  const auto& git = init[0];
  EXPECT_STREQ(git["name"].GetString(), "git-sync");
  EXPECT_STREQ(git["image"].GetString(), "registry.k8s.io/git-sync/git-sync:v4.2.3");
  auto env = plainEnv(git);
  EXPECT_EQ(env["GITSYNC_REPO"], "https://example.com/r.git");
  EXPECT_EQ(env["GITSYNC_REF"], "main");
  EXPECT_EQ(env["GITSYNC_ROOT"], "/workspace");
  EXPECT_EQ(env["GITSYNC_LINK"], "project");
  EXPECT_EQ(env["GITSYNC_ONE_TIME"], "true");
  EXPECT_EQ(env["GITSYNC_DEPTH"], "1");
  const auto* user = findByName(git["env"], "GITSYNC_USERNAME");
  ASSERT_NE(user, nullptr);
  EXPECT_STREQ((*user)["valueFrom"]["secretKeyRef"]["name"].GetString(), "git-creds");
  EXPECT_STREQ((*user)["valueFrom"]["secretKeyRef"]["key"].GetString(), "username");
  const auto* token = findByName(git["env"], "GITSYNC_PASSWORD");
  ASSERT_NE(token, nullptr);
  EXPECT_STREQ((*token)["valueFrom"]["secretKeyRef"]["key"].GetString(), "token");
}

// Each Packer step runs as its own argv without a shell: init and validate as init containers
// after git-sync, build as the main container, all in the project folder of the checkout.
TEST(PackerJob, StepsRunWithoutShellInOrder) {
  JobInputs in = inputs();
  auto job = buildJob(in);
  ASSERT_TRUE(job.has_value());
  auto doc = decode(*job);
  const auto& pod = doc["spec"]["template"]["spec"];
  const auto& init = pod["initContainers"];
  ASSERT_EQ(init.Size(), 3u);
  EXPECT_STREQ(init[1]["name"].GetString(), "packer-init");
  EXPECT_STREQ(init[2]["name"].GetString(), "packer-validate");
  EXPECT_EQ(strings(init[1]["command"]), in.plan.steps[0].argv);
  EXPECT_EQ(strings(init[2]["command"]), in.plan.steps[1].argv);
  ASSERT_EQ(pod["containers"].Size(), 1u);
  const auto& build = pod["containers"][0];
  EXPECT_STREQ(build["name"].GetString(), "packer-build");
  EXPECT_EQ(strings(build["command"]), in.plan.steps[2].argv);
  EXPECT_FALSE(build.HasMember("args"));
  EXPECT_STREQ(build["workingDir"].GetString(), "/workspace/project/packer/al2023");
  EXPECT_STREQ(build["image"].GetString(), "hashicorp/packer:1.11");
}

// Plugins installed by init are found by later steps; debug turns on PACKER_LOG.
TEST(PackerJob, PluginPathSharedAndDebugSetsPackerLog) {
  auto job = buildJob(inputs());
  ASSERT_TRUE(job.has_value());
  auto doc = decode(*job);
  const auto& pod = doc["spec"]["template"]["spec"];
  auto init_env = plainEnv(pod["initContainers"][1]);
  auto build_env = plainEnv(pod["containers"][0]);
  EXPECT_EQ(init_env["PACKER_PLUGIN_PATH"], "/workspace/.packer.d/plugins");
  EXPECT_EQ(build_env["PACKER_PLUGIN_PATH"], "/workspace/.packer.d/plugins");
  EXPECT_EQ(build_env["PACKER_LOG"], "1");
  EXPECT_EQ(init_env.count("PACKER_LOG"), 0u);
  EXPECT_EQ(build_env["AWS_REGION"], "us-west-2");
}

// Every key of the credentials Secret becomes an env var of the Packer containers.
TEST(PackerJob, CredentialsSecretKeysBecomeEnv) {
  auto job = buildJob(inputs());
  ASSERT_TRUE(job.has_value());
  auto doc = decode(*job);
  const auto& build = doc["spec"]["template"]["spec"]["containers"][0];
  for (const char* key : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}) {
    const auto* e = findByName(build["env"], key);
    ASSERT_NE(e, nullptr) << key;
    EXPECT_STREQ((*e)["valueFrom"]["secretKeyRef"]["name"].GetString(), "aws-creds");
    EXPECT_STREQ((*e)["valueFrom"]["secretKeyRef"]["key"].GetString(), key);
  }
  EXPECT_FALSE(doc["spec"]["template"]["spec"].HasMember("serviceAccountName"));
}

// With IRSA the Job runs under the named ServiceAccount.
TEST(PackerJob, ServiceAccountForIrsa) {
  JobInputs in = inputs();
  in.credentials_secret.clear();
  in.credentials_secret_keys.clear();
  in.service_account = "eks-ami-builder";
  auto job = buildJob(in);
  ASSERT_TRUE(job.has_value());
  auto doc = decode(*job);
  EXPECT_STREQ(doc["spec"]["template"]["spec"]["serviceAccountName"].GetString(),
               "eks-ami-builder");
}

// The pod runs as non-root with no privilege escalation and default requests.
TEST(PackerJob, NonRootSecurityContextAndResources) {
  auto job = buildJob(inputs());
  ASSERT_TRUE(job.has_value());
  auto doc = decode(*job);
  const auto& pod = doc["spec"]["template"]["spec"];
  EXPECT_TRUE(pod["securityContext"]["runAsNonRoot"].GetBool());
  EXPECT_NE(pod["securityContext"]["runAsUser"].GetInt(), 0);
  const auto& build = pod["containers"][0];
  EXPECT_FALSE(build["securityContext"]["allowPrivilegeEscalation"].GetBool());
  EXPECT_TRUE(build["resources"]["requests"].HasMember("cpu"));
  EXPECT_TRUE(build["resources"]["requests"].HasMember("memory"));
}

// builder.resources replaces the default requirements of the Packer containers.
TEST(PackerJob, ResourcesFromSpec) {
  JobInputs in = inputs();
  in.resources_json = R"({"requests":{"cpu":"2","memory":"4Gi"}})";
  auto job = buildJob(in);
  ASSERT_TRUE(job.has_value());
  auto doc = decode(*job);
  const auto& build = doc["spec"]["template"]["spec"]["containers"][0];
  EXPECT_STREQ(build["resources"]["requests"]["cpu"].GetString(), "2");
  EXPECT_FALSE(build["resources"].HasMember("limits"));
}

// Unusable inputs are refused instead of producing a Job the API server would reject.
TEST(PackerJob, RefusesBadInputs) {
  JobInputs bad_name = inputs();
  bad_name.name = "Not_A_Label";
  EXPECT_FALSE(buildJob(bad_name).has_value());
  JobInputs bad_resources = inputs();
  bad_resources.resources_json = "[1]";
  EXPECT_FALSE(buildJob(bad_resources).has_value());
  JobInputs no_build = inputs();
  no_build.plan.steps.pop_back();
  EXPECT_FALSE(buildJob(no_build).has_value());
}

// Job names are DNS-1123 labels of at most 63 characters that keep the whole job id.
TEST(PackerJob, JobNameIsDnsLabel) {
  EXPECT_EQ(jobName("packer-builder-remote", "3cb1b"), "packer-builder-remote-3cb1b");
  EXPECT_EQ(jobName("My.Builder", "ab12"), "my-builder-ab12");
  std::string long_name(80, 'a');
  std::string name = jobName(long_name + "-x", "0123abcd");
  EXPECT_LE(name.size(), 63u);
  EXPECT_THAT(name, ::testing::EndsWith("-0123abcd"));
  std::string dashy = jobName(std::string(54, 'b') + "-----", "0123abcd");
  EXPECT_EQ(dashy.find("--"), std::string::npos);
}

}  // namespace
}  // namespace opsy::packer
