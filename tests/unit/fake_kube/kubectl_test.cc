// The real kubectl against the fake: if kubectl works, the fake speaks the API honestly enough
// for discovery, OpenAPI, client-side and server-side apply, get, watch, delete and errors.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <tuple>

#include "fake_kube_fixture.h"

extern char** environ;

namespace opsy::testing {
namespace {

struct Output {
  int exit_code = -1;
  std::string text;
};

bool kubectlOnPath() {
  return std::system("command -v kubectl > /dev/null 2>&1") == 0;
}

// A kubectl process started in the background (for -w), stopped by its pid.
class BackgroundProcess {
 public:
  explicit BackgroundProcess(const std::vector<std::string>& argv) {
    int fds[2];
    if (pipe(fds) != 0) {
      return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::vector<char*> args;
    for (const auto& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    if (posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    fd_ = fds[0];
    fcntl(fd_, F_SETFL, O_NONBLOCK);
  }
  ~BackgroundProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  // Reads output until `needle` appears or the timeout passes; returns everything read.
  std::string waitFor(const std::string& needle, int timeout_ms = 10000) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (output_.find(needle) == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      std::array<char, 4096> buffer{};
      const ssize_t n = read(fd_, buffer.data(), buffer.size());
      if (n > 0) {
        output_.append(buffer.data(), static_cast<size_t>(n));
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    return output_;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string output_;
};

class FakeKubeKubectl : public FakeKubeTest {
 protected:
  FakeKubeKubectl() : FakeKubeTest(tlsOptions()) {}
  static FakeKubeOptions tlsOptions() {
    FakeKubeOptions options = defaultOptions();
    options.tls = true;  // kubectl sends bearer tokens only over TLS
    return options;
  }

  void SetUp() override {
    if (!kubectlOnPath()) {
      GTEST_SKIP() << "kubectl is not on PATH";
    }
    ASSERT_TRUE(kube_.start().has_value());
    char tmpl[] = "/tmp/fake-kube-kubectl-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    kubeconfig_ = dir_ + "/kubeconfig";
    ASSERT_TRUE(kube_.writeKubeconfig(kubeconfig_).has_value());
  }
  void TearDown() override {
    if (!dir_.empty()) {
      std::filesystem::remove_all(dir_);
    }
  }

  std::vector<std::string> kubectlArgv(const std::string& args) const {
    std::vector<std::string> argv = {"kubectl", "--kubeconfig", kubeconfig_, "--cache-dir",
                                     dir_ + "/cache"};
    std::string current;
    for (char c : args) {
      if (c == ' ') {
        if (!current.empty()) {
          argv.push_back(current);
        }
        current.clear();
      } else {
        current.push_back(c);
      }
    }
    if (!current.empty()) {
      argv.push_back(current);
    }
    return argv;
  }

  Output kubectl(const std::string& args) const {
    std::string command =
        "kubectl --kubeconfig " + kubeconfig_ + " --cache-dir " + dir_ + "/cache " + args + " 2>&1";
    Output out;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) {
      return out;
    }
    std::array<char, 4096> buffer{};
    size_t n;
    while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
      out.text.append(buffer.data(), n);
    }
    const int status = pclose(pipe);
    out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return out;
  }

  static std::string data(const std::string& file) {
    return std::string(OPSY_TEST_DATA_DIR) + "/fake_kube/" + file;
  }

  std::string dir_;
  std::string kubeconfig_;
};

// kubectl applies a CRD and a custom resource, reads it back with defaults, sees a later change
// through get -w, deletes it, and reports a schema violation naming the field.
TEST_F(FakeKubeKubectl, ApplyGetWatchDeleteAndValidation) {
  Output crd = kubectl("apply -f " + data("packerbuilder-crd.yaml"));
  ASSERT_EQ(crd.exit_code, 0) << crd.text;
  EXPECT_NE(crd.text.find("customresourcedefinition.apiextensions.k8s.io/"
                          "packerbuilders.ami.refresh.ops created"),
            std::string::npos)
      << crd.text;

  Output cr = kubectl("apply -f " + data("packerbuilder-valid.yaml"));
  ASSERT_EQ(cr.exit_code, 0) << cr.text;
  EXPECT_NE(cr.text.find("packerbuilder.ami.refresh.ops/base-al2023 created"), std::string::npos)
      << cr.text;

  Output yaml = kubectl("get packerbuilder base-al2023 -o yaml");
  ASSERT_EQ(yaml.exit_code, 0) << yaml.text;
  EXPECT_NE(yaml.text.find("kind: PackerBuilder"), std::string::npos) << yaml.text;
  EXPECT_NE(yaml.text.find("region: us-east-1"), std::string::npos) << yaml.text;
  EXPECT_NE(yaml.text.find("maxFailedJobs: 3"), std::string::npos) << yaml.text;  // defaulted
  EXPECT_NE(yaml.text.find("generation: 1"), std::string::npos) << yaml.text;

  // Server-side Table output with the CRD's printer columns.
  Output table = kubectl("get pb");
  EXPECT_EQ(table.exit_code, 0) << table.text;
  EXPECT_NE(table.text.find("REGION"), std::string::npos) << table.text;
  EXPECT_NE(table.text.find("MAX-FAILED"), std::string::npos) << table.text;
  EXPECT_NE(table.text.find("base-al2023"), std::string::npos) << table.text;
  EXPECT_NE(table.text.find("us-east-1"), std::string::npos) << table.text;

  {
    BackgroundProcess watch(kubectlArgv("get pb -w --output-watch-events"));
    const std::string initial = watch.waitFor("base-al2023");
    ASSERT_NE(initial.find("ADDED"), std::string::npos) << initial;
    Output patched =
        kubectl(R"(patch pb base-al2023 --type merge -p '{"spec":{"clusterName":"changed"}}')");
    ASSERT_EQ(patched.exit_code, 0) << patched.text;
    const std::string seen = watch.waitFor("MODIFIED");
    EXPECT_NE(seen.find("MODIFIED"), std::string::npos) << seen;
  }

  // Re-applying the changed file is a merge patch computed by kubectl.
  Output reapplied = kubectl("apply -f " + data("packerbuilder-valid.yaml"));
  EXPECT_EQ(reapplied.exit_code, 0) << reapplied.text;
  EXPECT_NE(reapplied.text.find("configured"), std::string::npos) << reapplied.text;

  Output server_side = kubectl("apply --server-side -f " + data("packerbuilder-valid.yaml"));
  EXPECT_EQ(server_side.exit_code, 0) << server_side.text;
  EXPECT_NE(server_side.text.find("serverside-applied"), std::string::npos) << server_side.text;

  Output invalid = kubectl("apply -f " + data("packerbuilder-invalid.yaml"));
  EXPECT_NE(invalid.exit_code, 0);
  EXPECT_NE(invalid.text.find("spec.builder.commands[0].onError"), std::string::npos)
      << invalid.text;
  EXPECT_NE(invalid.text.find("Unsupported value: \"ask\""), std::string::npos) << invalid.text;

  Output deleted = kubectl("delete pb base-al2023");
  ASSERT_EQ(deleted.exit_code, 0) << deleted.text;
  EXPECT_NE(deleted.text.find("packerbuilder.ami.refresh.ops \"base-al2023\" deleted"),
            std::string::npos)
      << deleted.text;
  Output gone = kubectl("get pb base-al2023");
  EXPECT_NE(gone.exit_code, 0);
  EXPECT_NE(gone.text.find("(NotFound)"), std::string::npos) << gone.text;
}

// kubectl apply of an AMIRefresher with both spec.ami and spec.amiFilters, or with neither, fails
// with the CRD's CEL rule message, shaped as a real API server's 422; the sample passes.
TEST_F(FakeKubeKubectl, ApplyReportsTheCrdCelRuleMessage) {
  Output crd = kubectl("apply -f " + std::string(OPSY_TEST_DATA_DIR) +
                       "/../../crds/ami.refresh.ops_amirefreshers.yaml");
  ASSERT_EQ(crd.exit_code, 0) << crd.text;
  for (const char* name : {"both", "neither"}) {
    Output out = kubectl("apply -f " + data(std::string("amirefresher-") + name + ".yaml"));
    EXPECT_NE(out.exit_code, 0) << out.text;
    EXPECT_NE(out.text.find(std::string("The AMIRefresher \"") + name +
                            "\" is invalid: spec: Invalid value: \"object\": set exactly one of "
                            "spec.ami, spec.amiFilters or spec.builderRef"),
              std::string::npos)
        << out.text;
  }
  Output gone = kubectl("get amirefreshers");
  EXPECT_EQ(gone.exit_code, 0) << gone.text;
  EXPECT_NE(gone.text.find("No resources found"), std::string::npos) << gone.text;
  Output sample =
      kubectl("apply -f " + std::string(OPSY_TEST_DATA_DIR) + "/samples/amirefresher.yaml");
  EXPECT_EQ(sample.exit_code, 0) << sample.text;
  EXPECT_NE(sample.text.find("amirefresher.ami.refresh.ops/node-group-ami-refresh created"),
            std::string::npos)
      << sample.text;
}

// kubectl explain reads the custom resource's schema from OpenAPI v3.
TEST_F(FakeKubeKubectl, ExplainShowsCustomResourceSchema) {
  ASSERT_EQ(kubectl("apply -f " + data("packerbuilder-crd.yaml")).exit_code, 0);
  Output explain = kubectl("explain packerbuilders.spec.builder");
  ASSERT_EQ(explain.exit_code, 0) << explain.text;
  EXPECT_NE(explain.text.find("repoURL"), std::string::npos) << explain.text;
  EXPECT_NE(explain.text.find("-required-"), std::string::npos) << explain.text;
}

// kubectl works with built-ins too: typed create commands (protobuf bodies) for namespaces,
// configmaps and secrets; apply for a Job run by the runner, waiting on its condition, its
// columns, and its pod log.
TEST_F(FakeKubeKubectl, BuiltInResourcesAndLogs) {
  kube_.setJobRunner(completingJobRunner(std::chrono::milliseconds(50)));
  Output ns = kubectl("create namespace created-ns");
  ASSERT_EQ(ns.exit_code, 0) << ns.text;
  Output secret = kubectl("create secret generic git -n created-ns --from-literal=token=abc");
  ASSERT_EQ(secret.exit_code, 0) << secret.text;
  Output token = kubectl("get secret git -n created-ns -o jsonpath={.data.token}");
  EXPECT_EQ(token.text, "YWJj");  // base64("abc")
  Output type = kubectl("get secret git -n created-ns -o jsonpath={.type}");
  EXPECT_EQ(type.text, "Opaque");
  {
    std::ofstream manifest(dir_ + "/builtins.yaml");
    manifest << "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: builds\n---\n"
             << "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"
             << "  namespace: builds\ndata:\n  a: b\n---\n"
             << "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: hello\n"
             << "  namespace: builds\nspec:\n  template:\n    spec:\n"
             << "      restartPolicy: Never\n      containers:\n"
             << "      - name: main\n        image: busybox\n";
  }
  Output applied = kubectl("apply -f " + dir_ + "/builtins.yaml");
  ASSERT_EQ(applied.exit_code, 0) << applied.text;
  Output all = kubectl("get configmaps -A");
  EXPECT_NE(all.text.find("settings"), std::string::npos) << all.text;
  Output waited = kubectl("wait --for=condition=complete job/hello -n builds --timeout=10s");
  EXPECT_EQ(waited.exit_code, 0) << waited.text;
  Output jobs = kubectl("get jobs -n builds");
  EXPECT_NE(jobs.text.find("COMPLETIONS"), std::string::npos) << jobs.text;
  EXPECT_NE(jobs.text.find("Complete"), std::string::npos) << jobs.text;
  EXPECT_NE(jobs.text.find("1/1"), std::string::npos) << jobs.text;
  Output logs = kubectl("logs job/hello -n builds");
  EXPECT_EQ(logs.exit_code, 0) << logs.text;
  EXPECT_NE(logs.text.find("job hello started"), std::string::npos) << logs.text;
}

// The commands docs/troubleshooting.md tells a user to start with run as written (NAME and
// NAMESPACE filled in) against a PackerBuilder with conditions and an Event, and print them.
TEST_F(FakeKubeKubectl, TroubleshootingCommandsWorkAsDocumented) {
  const std::filesystem::path root =
      std::filesystem::path(OPSY_TEST_DATA_DIR).parent_path().parent_path();
  Output crds = kubectl("apply -f " + (root / "crds").string());
  ASSERT_EQ(crds.exit_code, 0) << crds.text;
  ASSERT_EQ(kubectl("create namespace ci").exit_code, 0);
  {
    std::ofstream manifest(dir_ + "/builder.yaml");
    manifest << "apiVersion: ami.refresh.ops/v1alpha1\nkind: PackerBuilder\n"
             << "metadata: {name: pb, namespace: ci}\n"
             << "spec:\n  region: us-west-2\n  clusterName: prod\n"
             << "  builder: {repoURL: 'https://example.com/p.git', image: 'hashicorp/packer:1'}\n";
  }
  Output applied = kubectl("apply -f " + dir_ + "/builder.yaml");
  ASSERT_EQ(applied.exit_code, 0) << applied.text;
  Output status = kubectl(
      "patch pb pb -n ci --subresource=status --type=merge -p "
      "'{\"status\":{\"state\":\"Stalled\",\"conditions\":[{\"type\":\"Ready\",\"status\":"
      "\"False\",\"reason\":\"AWSAccessDenied\",\"message\":\"ec2:DescribeImages denied\","
      "\"lastTransitionTime\":\"2026-12-01T00:00:00Z\"}]}}'");
  ASSERT_EQ(status.exit_code, 0) << status.text;
  {
    std::ofstream event(dir_ + "/event.yaml");
    event << "apiVersion: events.k8s.io/v1\nkind: Event\n"
          << "metadata: {name: pb.1, namespace: ci}\n"
          << "eventTime: '2026-12-01T00:00:00.000000Z'\n"
          << "reportingController: ami.refresh.ops/packer-builder\n"
          << "reportingInstance: packer-builder-0\naction: Reconcile\nreason: AWSAccessDenied\n"
          << "type: Warning\nnote: 'ec2:DescribeImages denied (UnauthorizedOperation)'\n"
          << "regarding: {apiVersion: ami.refresh.ops/v1alpha1, kind: PackerBuilder, "
          << "name: pb, namespace: ci}\n";
  }
  Output recorded = kubectl("apply -f " + dir_ + "/event.yaml");
  ASSERT_EQ(recorded.exit_code, 0) << recorded.text;

  std::ifstream doc(root / "docs/troubleshooting.md");
  std::string line;
  bool in_block = false;
  bool seen_start = false;
  int ran = 0;
  while (std::getline(doc, line)) {
    if (!seen_start) {
      seen_start = line.find("Start with:") != std::string::npos;
      continue;
    }
    if (line.rfind("```", 0) == 0) {
      if (in_block) {
        break;
      }
      in_block = true;
      continue;
    }
    if (!in_block || line.rfind("kubectl ", 0) != 0) {
      continue;
    }
    std::string command = line.substr(std::string("kubectl ").size());
    if (auto hash = command.find("  #"); hash != std::string::npos) {
      command.resize(hash);
    }
    for (auto [from, to] :
         {std::pair<std::string, std::string>{"NAMESPACE", "ci"}, {"NAME", "pb"}}) {
      for (size_t at = command.find(from); at != std::string::npos; at = command.find(from)) {
        command.replace(at, from.size(), to);
      }
    }
    Output out = kubectl(command);
    EXPECT_EQ(out.exit_code, 0) << "kubectl " << command << "\n" << out.text;
    // Each shows the builder: its name, or the failure its status and Event carry.
    EXPECT_TRUE(out.text.find("AWSAccessDenied") != std::string::npos ||
                out.text.find("pb ") != std::string::npos)
        << "kubectl " << command << "\n"
        << out.text;
    ++ran;
  }
  EXPECT_GE(ran, 4) << "the troubleshooting start block was not found";
}

// The everyday commands of an operator's user, against the fake: wait for a condition, diff a
// changed manifest (server-side dry run), events sorted and selected by field, events for one
// object, describe with its events.
TEST_F(FakeKubeKubectl, WaitDiffEventsAndDescribeWork) {
  const std::filesystem::path root =
      std::filesystem::path(OPSY_TEST_DATA_DIR).parent_path().parent_path();
  ASSERT_EQ(kubectl("apply -f " + (root / "crds").string()).exit_code, 0);
  ASSERT_EQ(kubectl("create namespace ci").exit_code, 0);
  auto manifest = [&](const std::string& branch) {
    std::ofstream out(dir_ + "/builder.yaml");
    out << "apiVersion: ami.refresh.ops/v1alpha1\nkind: PackerBuilder\n"
        << "metadata: {name: pb, namespace: ci}\n"
        << "spec:\n  region: us-west-2\n  clusterName: prod\n"
        << "  builder: {repoURL: 'https://example.com/p.git', branch: " << branch
        << ", image: 'hashicorp/packer:1'}\n";
  };
  manifest("main");
  Output applied = kubectl("apply -f " + dir_ + "/builder.yaml");
  ASSERT_EQ(applied.exit_code, 0) << applied.text;

  Output patched = kubectl(
      "patch packerbuilder pb -n ci --subresource=status --type=merge -p "
      "'{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":"
      "\"Built\",\"message\":\"ami-0built is active\",\"lastTransitionTime\":"
      "\"2026-12-01T00:00:00Z\"}]}}'");
  ASSERT_EQ(patched.exit_code, 0) << patched.text;
  Output waited = kubectl("wait --for=condition=Ready packerbuilder/pb -n ci --timeout=20s");
  EXPECT_EQ(waited.exit_code, 0) << waited.text;
  EXPECT_NE(waited.text.find("condition met"), std::string::npos) << waited.text;

  manifest("release");
  Output diff = kubectl("diff -f " + dir_ + "/builder.yaml");
  EXPECT_EQ(diff.exit_code, 1) << "1 means differences found\n" << diff.text;
  EXPECT_NE(diff.text.find("+    branch: release"), std::string::npos) << diff.text;
  EXPECT_NE(diff.text.find("-    branch: main"), std::string::npos) << diff.text;
  Output unchanged = kubectl("get packerbuilder pb -n ci -o jsonpath={.spec.builder.branch}");
  EXPECT_EQ(unchanged.text, "main") << "diff changed the object";

  // describe selects the events by the object's uid too, as on a real server.
  const std::string uid = kubectl("get packerbuilder pb -n ci -o jsonpath={.metadata.uid}").text;
  for (const auto& [name, reason, when] :
       {std::tuple{"pb.2", "BuildSucceeded", "2026-12-01T02:00:00Z"},
        std::tuple{"pb.1", "BuildStarted", "2026-12-01T01:00:00Z"},
        std::tuple{"other.1", "BuildStarted", "2026-12-01T03:00:00Z"}}) {
    std::ofstream event(dir_ + "/event.yaml");
    event << "apiVersion: v1\nkind: Event\n"
          << "metadata: {name: " << name << ", namespace: ci}\n"
          << "involvedObject: {apiVersion: ami.refresh.ops/v1alpha1, kind: PackerBuilder, name: "
          << std::string(name).substr(0, std::string(name).find('.')) << ", namespace: ci, uid: '"
          << (std::string(name).rfind("pb", 0) == 0 ? uid : "other-uid") << "'}\n"
          << "reason: " << reason << "\ntype: Normal\nmessage: " << reason << "\n"
          << "firstTimestamp: '" << when << "'\nlastTimestamp: '" << when << "'\ncount: 1\n"
          << "source: {component: ami.refresh.ops/packer-builder}\n";
    event.close();
    ASSERT_EQ(kubectl("apply -f " + dir_ + "/event.yaml").exit_code, 0);
  }
  Output sorted =
      kubectl("get events -n ci --sort-by=.lastTimestamp --field-selector involvedObject.name=pb");
  ASSERT_EQ(sorted.exit_code, 0) << sorted.text;
  const size_t started = sorted.text.find("BuildStarted");
  const size_t succeeded = sorted.text.find("BuildSucceeded");
  EXPECT_TRUE(started != std::string::npos && succeeded != std::string::npos && started < succeeded)
      << sorted.text;
  EXPECT_EQ(sorted.text.find("other"), std::string::npos) << sorted.text;
  Output none = kubectl("get events -n ci --field-selector involvedObject.name=nobody");
  EXPECT_NE(none.text.find("No resources found"), std::string::npos) << none.text;
  Output typed = kubectl("get events -n ci --field-selector type=Warning");
  EXPECT_NE(typed.text.find("No resources found"), std::string::npos) << typed.text;

  Output for_one = kubectl("events -n ci --for packerbuilder/pb");
  EXPECT_EQ(for_one.exit_code, 0) << for_one.text;
  EXPECT_NE(for_one.text.find("BuildSucceeded"), std::string::npos) << for_one.text;
  EXPECT_EQ(for_one.text.find("other"), std::string::npos) << for_one.text;

  Output described = kubectl("describe packerbuilder pb -n ci");
  EXPECT_EQ(described.exit_code, 0) << described.text;
  EXPECT_NE(described.text.find("BuildSucceeded"), std::string::npos) << described.text;
}

}  // namespace
}  // namespace opsy::testing
