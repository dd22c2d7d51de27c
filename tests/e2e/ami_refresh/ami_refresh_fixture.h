// File: ami_refresh_fixture.h
//
// The ami-refresh e2e world shared by the suites of this folder: FakeKube with the project's
// CRDs, FakeAws with one cluster (four managed node groups, one self-managed Auto
// Scaling group, a base image and the managed image built from it), the real controller binary
// started against both, and helpers that read the refresher back.
#pragma once
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <unistd.h>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include "ami-refresh-controller/api.h"
#include "opsy/ami/tags.h"
#include "opsy/core/clock.h"
#include "opsy/core/time_format.h"
#include "opsy/kube/conditions.h"
#include "opsy/kube/object.h"
#include "support/child_process.h"
#include "support/fake_aws.h"
#include "support/fake_kube.h"
#include "support/fake_kube_json.h"
#include "support/loopback_server.h"
#include "support/promtool.h"

extern char** environ;

namespace opsy::ami_refresh {

using opsy::testing::ChildProcess;
using opsy::testing::eventually;
using opsy::testing::FakeAws;
using opsy::testing::FakeKube;
using opsy::testing::freeLoopbackPort;
using opsy::testing::readFile;

constexpr std::string_view kApiVersion = "ami.refresh.ops/v1alpha1";
constexpr std::string_view kKind = "AMIRefresher";
constexpr std::string_view kName = "node-group-ami-refresh";
constexpr std::string_view kNamespace = "default";
constexpr std::string_view kCluster = "ibeify-gitops";

constexpr std::string_view kBaseImage = "ami-0a1b2c3d4e5f60001";
constexpr std::string_view kTargetImage = "ami-0a1b2c3d4e5f60002";
constexpr std::string_view kOldImage = "ami-0a1b2c3d4e5f60009";

constexpr std::string_view kExcludedLt = "lt-0a1b2c3d4e5f6000a";
constexpr std::string_view kCurrentLt = "lt-0a1b2c3d4e5f6000b";
constexpr std::string_view kUpdateLt = "lt-0a1b2c3d4e5f6000c";
constexpr std::string_view kSelfManagedLt = "lt-0a1b2c3d4e5f6000d";

constexpr std::string_view kSelfManagedAsg = "ibeify-gitops-self-managed";

inline std::string lastVersionImage(const FakeAws& aws, std::string_view lt) {
  auto t = aws.launchTemplate(std::string(lt));
  return t && !t->versions.empty() ? t->versions.back().data.image_id : "";
}

inline size_t versionCount(const FakeAws& aws, std::string_view lt) {
  auto t = aws.launchTemplate(std::string(lt));
  return t ? t->versions.size() : 0;
}

class AmiRefreshE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    opsy::testing::clearProxyEnvironment();
    char tmpl[] = "/tmp/ami-refresh-e2e-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;

    ASSERT_TRUE(kube_.start().has_value());
    ASSERT_TRUE(kube_.writeKubeconfig(dir_ + "/kubeconfig").has_value());
    // Both CRDs, as the chart installs them: the controller also watches PackerBuilders (for
    // spec.builderRef).
    for (const char* file :
         {"ami.refresh.ops_amirefreshers.yaml", "ami.refresh.ops_packerbuilders.yaml"}) {
      auto crd = opsy::testing::parseJsonOrYaml(
          readFile(std::string(OPSY_TEST_DATA_DIR) + "/../../crds/" + file));
      ASSERT_TRUE(crd.has_value()) << crd.error().toString();
      ASSERT_TRUE(kube_.createObject(opsy::testing::toJson(*crd)).has_value());
    }
    auto ns = kube_.createObject(R"({"apiVersion":"v1","kind":"Namespace",)"
                                 R"("metadata":{"name":"default"}})");
    (void)ns;  // the fake may already have it

    seedAws();
    ASSERT_TRUE(aws_.start().has_value());
    metrics_port_ = freeLoopbackPort();
    probe_port_ = freeLoopbackPort();
  }

  void TearDown() override {
    aws_.onInstancesChanged({});  // the node mirror's state goes before the fake does
    controller_.reset();
    if (!dir_.empty()) {
      if (HasFailure() || std::getenv("OPSY_E2E_SHOW_LOG") != nullptr) {
        std::cerr << "controller log:\n" << readFile(dir_ + "/controller.log") << "\n";
      }
      std::filesystem::remove_all(dir_);
    }
  }

  // A public EKS base image released on `release` (YYYYMMDD), and the sample builder's image
  // built from it now by build `build`, with the full tag set a build leaves.
  void addBuiltImage(std::string_view base, std::string_view release, std::string_view image,
                     std::string_view build) {
    TimePoint now = realClock().now();
    aws_.addImage({.id = std::string(base),
                   .name = fmt::format("amazon-eks-node-al2023-x86_64-standard-1.30-v{}", release),
                   .owner_id = "602401143452",
                   .owner_alias = "amazon",
                   .creation_date = fmt::format("{}-{}-{}T00:00:00.000Z", release.substr(0, 4),
                                                release.substr(4, 2), release.substr(6, 2)),
                   .is_public = true});
    ami::Lineage lineage{.cluster_name = std::string(kCluster),
                         .created_by = "eks-nodes",
                         .packer_repo = "https://github.com/example/packer.git",
                         .packer_repo_branch = "main"};
    aws::Tags tags = ami::fullTags(lineage,
                                   {.base_ami = std::string(base),
                                    .build_id = fmt::format("b-{}", build),
                                    .job_id = fmt::format("j-{}", build)},
                                   now);
    aws_.addImage({.id = std::string(image),
                   .name = fmt::format("ibeify-gitops-al2023-1.30-b-{}", build),
                   .creation_date = formatRfc3339Millis(now),
                   .tags = opsy::testing::TagMap(tags.begin(), tags.end())});
  }

  void seedAws() {
    aws_.addCluster({.name = std::string(kCluster)});
    addBuiltImage(kBaseImage, "20261101", kTargetImage, "1");

    auto lt = [&](std::string_view id, std::string name, std::string_view image) {
      aws_.addLaunchTemplate(
          {.id = std::string(id),
           .name = std::move(name),
           .default_version = 1,
           .versions = {{.version_number = 1,
                         .create_time = "2026-11-01T00:00:00.000Z",
                         .data = {.image_id = std::string(image), .instance_type = "m6i.large"}}}});
    };
    lt(kExcludedLt, "ingress-dev", kOldImage);
    lt(kCurrentLt, "workers-current", kTargetImage);
    lt(kUpdateLt, "workers-update", kOldImage);
    lt(kSelfManagedLt, "self-managed", kOldImage);

    auto ng = [&](std::string name, std::optional<std::string_view> lt_id) {
      opsy::testing::FakeNodegroup g{.cluster = std::string(kCluster), .name = std::move(name)};
      if (lt_id) {
        g.launch_template =
            opsy::testing::FakeLaunchTemplateRef{.id = std::string(*lt_id), .version = "1"};
      } else {
        g.ami_type = "AL2023_x86_64_STANDARD";
      }
      aws_.addNodegroup(std::move(g));
    };
    ng("ingress-dev", kExcludedLt);
    ng("system-default", std::nullopt);
    ng("workers-current", kCurrentLt);
    ng("workers-update", kUpdateLt);

    aws_.addAutoScalingGroup(
        {.name = std::string(kSelfManagedAsg),
         .launch_template = opsy::testing::FakeLaunchTemplateRef{.id = std::string(kSelfManagedLt),
                                                                 .version = "1"},
         .availability_zones = {"us-west-2a"},
         .tags = {{.key = "kubernetes.io/cluster/" + std::string(kCluster), .value = "owned"}}});
  }

  void startController() {
    std::vector<std::string> args = {
        std::string(OPSY_BINARY_DIR) + "/ami-refresh-controller/ami-refresh-controller",
        "--kubeconfig=" + dir_ + "/kubeconfig",
        // The fake API server speaks plain HTTP on 127.0.0.1 and wants the kubeconfig's token.
        "--insecure-allow-http-credentials-on-loopback",
        "--metrics-bind-address=127.0.0.1:" + std::to_string(metrics_port_),
        "--health-probe-bind-address=127.0.0.1:" + std::to_string(probe_port_), "--log-level=debug",
        // Test receivers listen on plain http on loopback, which the destination policy refuses
        // unless the admin lists it.
        "--notification-allowed-hosts=127.0.0.1"};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    std::vector<std::string> env = {
        "AWS_ENDPOINT_URL=" + aws_.endpoint(),
        "AWS_ACCESS_KEY_ID=" + std::string(opsy::testing::kFakeAccessKey),
        "AWS_SECRET_ACCESS_KEY=" + std::string(opsy::testing::kFakeSecretKey),
        "AWS_REGION=us-west-2",
        "AWS_EC2_METADATA_DISABLED=true",
        "HOME=" + dir_,
    };
    // Sanitizer settings and the library path pass through; nothing else does.
    for (char** e = environ; *e != nullptr; ++e) {
      std::string_view v = *e;
      if (v.starts_with("ASAN_OPTIONS=") || v.starts_with("UBSAN_OPTIONS=") ||
          v.starts_with("LSAN_OPTIONS=") || v.starts_with("PATH=") ||
          v.starts_with("LD_LIBRARY_PATH=")) {
        env.emplace_back(v);
      }
    }
    controller_ =
        std::make_unique<ChildProcess>(std::move(args), std::move(env), dir_ + "/controller.log");
    ASSERT_TRUE(controller_->start());
  }

  // The seed sample, with `notifier_json` as its spec.notifier when given, and the given
  // spec.timeOuts.controllerTimer and spec.clusterName when not empty.
  void applySample(const std::string& notifier_json = "", const std::string& controller_timer = "",
                   const std::string& cluster_name = "") {
    auto sample = opsy::testing::parseJsonOrYaml(
        readFile(std::string(OPSY_TEST_DATA_DIR) + "/samples/amirefresher.yaml"));
    ASSERT_TRUE(sample.has_value()) << sample.error().toString();
    // As `kubectl apply -n default` would: the sample names no namespace.
    auto& doc = *sample;
    doc["metadata"].AddMember("namespace", rapidjson::Value("default"), doc.GetAllocator());
    if (!notifier_json.empty()) {
      auto notifier = opsy::testing::parseJson(notifier_json);
      ASSERT_TRUE(notifier.has_value());
      rapidjson::Value copy(*notifier, doc.GetAllocator());
      doc["spec"].RemoveMember("notifier");
      doc["spec"].AddMember("notifier", copy, doc.GetAllocator());
    }
    if (!controller_timer.empty()) {
      rapidjson::Value timeouts(rapidjson::kObjectType);
      timeouts.AddMember("controllerTimer",
                         rapidjson::Value(controller_timer.c_str(), doc.GetAllocator()),
                         doc.GetAllocator());
      doc["spec"].RemoveMember("timeOuts");
      doc["spec"].AddMember("timeOuts", timeouts, doc.GetAllocator());
    }
    if (!cluster_name.empty()) {
      doc["spec"]["clusterName"].SetString(cluster_name.c_str(), doc.GetAllocator());
    }
    auto created = kube_.createObject(opsy::testing::toJson(doc));
    ASSERT_TRUE(created.has_value()) << created.error().toString();
  }

  // The sample named `name`, with each member of `spec_json` (an object) set in its spec.
  void applySampleWith(const std::string& spec_json, const std::string& name = std::string(kName)) {
    auto sample = opsy::testing::parseJsonOrYaml(
        readFile(std::string(OPSY_TEST_DATA_DIR) + "/samples/amirefresher.yaml"));
    ASSERT_TRUE(sample.has_value()) << sample.error().toString();
    auto& doc = *sample;
    auto& alloc = doc.GetAllocator();
    doc["metadata"].AddMember("namespace", rapidjson::Value("default"), alloc);
    doc["metadata"]["name"].SetString(name.c_str(), alloc);
    ASSERT_NO_FATAL_FAILURE(mergeInto(doc["spec"], spec_json, alloc));
    auto created = kube_.createObject(opsy::testing::toJson(doc));
    ASSERT_TRUE(created.has_value()) << created.error().toString();
  }

  // What `kubectl patch amirefresher NAME --type merge -p '{"spec":SPEC_JSON}'` does (one level).
  void patchSpec(const std::string& spec_json, const std::string& name = std::string(kName)) {
    auto json = kube_.getObject(kApiVersion, kKind, kNamespace, name);
    ASSERT_TRUE(json.has_value());
    auto doc = opsy::testing::parseJson(*json);
    ASSERT_TRUE(doc.has_value());
    ASSERT_NO_FATAL_FAILURE(mergeInto((*doc)["spec"], spec_json, doc->GetAllocator()));
    ASSERT_TRUE(kube_.updateObject(opsy::testing::toJson(*doc)).has_value());
  }

  static void mergeInto(rapidjson::Value& spec, const std::string& json,
                        rapidjson::Document::AllocatorType& alloc) {
    auto extra = opsy::testing::parseJson(json);
    ASSERT_TRUE(extra.has_value() && extra->IsObject()) << json;
    for (auto& m : extra->GetObject()) {
      spec.RemoveMember(m.name.GetString());
      spec.AddMember(rapidjson::Value(m.name, alloc), rapidjson::Value(m.value, alloc), alloc);
    }
  }

  // Plays the kubelets: every running instance of a node group or Auto Scaling group in the fake
  // AWS gets a Node in the fake API server (named by its private DNS name, with the EKS node group
  // label and an aws:/// providerID), Ready unless its group is in notReady(); a terminated one's
  // Node goes away. Kept in step from then on.
  void mirrorNodes() {
    aws_.onInstancesChanged([this] { syncNodes(); });
    syncNodes();
  }
  // Nodes of `group` launched from now on register NotReady (their kubelet never gets healthy).
  void setNotReady(const std::string& group) {
    std::lock_guard lock(nodes_mu_);
    not_ready_.insert(group);
  }

  void syncNodes() {
    std::lock_guard lock(nodes_mu_);
    for (const opsy::testing::FakeInstance& i : aws_.instances()) {
      const std::string group = !i.nodegroup.empty() ? i.nodegroup : i.asg;
      if (group.empty() || i.private_dns_name.empty()) {
        continue;
      }
      const bool exists = kube_.getObject("v1", "Node", "", i.private_dns_name).has_value();
      if (i.state == "terminated" || i.state == "shutting-down") {
        if (exists) {
          (void)kube_.deleteObject("v1", "Node", "", i.private_dns_name);
        }
        continue;
      }
      if (exists || i.state != "running") {
        continue;
      }
      const bool ready = not_ready_.count(group) == 0;
      std::string labels = fmt::format(R"("kubernetes.io/hostname":"{}")", i.private_dns_name);
      if (!i.nodegroup.empty()) {
        labels += fmt::format(R"(,"eks.amazonaws.com/nodegroup":"{}")", i.nodegroup);
      }
      const std::string now = formatRfc3339(realClock().now());
      std::string node = fmt::format(
          R"({{"apiVersion":"v1","kind":"Node","metadata":{{"name":"{}","labels":{{{}}}}},)"
          R"("spec":{{"providerID":"aws:///{}/{}"}},"status":{{"conditions":[{{"type":"Ready",)"
          R"("status":"{}","reason":"{}","message":"{}","lastHeartbeatTime":"{}",)"
          R"("lastTransitionTime":"{}"}}]}}}})",
          i.private_dns_name, labels, i.availability_zone, i.id, ready ? "True" : "False",
          ready ? "KubeletReady" : "KubeletNotReady",
          ready ? "kubelet is posting ready status" : "container runtime network not ready", now,
          now);
      auto created = kube_.createObject(node);
      EXPECT_TRUE(created.has_value()) << created.error().toString();
    }
  }

  std::vector<std::string> nodeNames() const {
    std::vector<std::string> names;
    for (const std::string& text : kube_.listObjects("v1", "Node", "")) {
      auto doc = opsy::testing::parseJson(text);
      if (doc && doc->HasMember("metadata")) {
        names.emplace_back((*doc)["metadata"]["name"].GetString());
      }
    }
    return names;
  }

  // The AWS calls since the last take that change something (not Describe/List/Get).
  std::vector<opsy::testing::FakeCall> takeWriteCalls() {
    std::vector<opsy::testing::FakeCall> writes;
    for (auto& call : aws_.takeCalls()) {
      const std::string& op = call.operation;
      if (!(op.starts_with("Describe") || op.starts_with("List") || op.starts_with("Get"))) {
        writes.push_back(std::move(call));
      }
    }
    return writes;
  }

  std::optional<AmiRefresher> refresherNamed(std::string_view name) const {
    auto json = kube_.getObject(kApiVersion, kKind, kNamespace, name);
    if (!json) {
      return std::nullopt;
    }
    auto obj = kube::Object::parse(*json);
    return obj ? std::optional<AmiRefresher>(AmiRefresher::fromObject(*obj)) : std::nullopt;
  }

  // The refresher's condition of `type`, when it has one.
  std::optional<kube::Condition> condition(std::string_view type) const {
    auto r = refresher();
    const kube::Condition* c = r ? kube::findCondition(r->status.conditions, type) : nullptr;
    return c ? std::optional<kube::Condition>(*c) : std::nullopt;
  }

  // How many times an Event with `reason` was recorded about the refresher (a series counts as
  // its count).
  int eventCount(std::string_view reason, std::string_view name = kName) const {
    int n = 0;
    for (const std::string& text : kube_.listObjects("events.k8s.io/v1", "Event", kNamespace)) {
      auto doc = opsy::testing::parseJson(text);
      if (!doc || !doc->HasMember("reason") || (*doc)["reason"].GetString() != reason ||
          !doc->HasMember("regarding") || !(*doc)["regarding"].HasMember("name") ||
          (*doc)["regarding"]["name"].GetString() != name) {
        continue;
      }
      const bool series = doc->HasMember("series") && (*doc)["series"].HasMember("count");
      n += series ? (*doc)["series"]["count"].GetInt() : 1;
    }
    return n;
  }

  // Events are written by a background thread after the status that tells of them, so a count
  // read right after a status check may still miss the newest; this waits for `want` (a few
  // seconds at most) and then returns the count, so a surplus still shows.
  int settledEventCount(std::string_view reason, int want, std::string_view name = kName) const {
    (void)eventually([&] { return eventCount(reason, name) >= want; }, std::chrono::seconds(5));
    return eventCount(reason, name);
  }

  std::optional<AmiRefresher> refresher() const {
    auto json = kube_.getObject(kApiVersion, kKind, kNamespace, kName);
    if (!json) {
      return std::nullopt;
    }
    auto obj = kube::Object::parse(*json);
    if (!obj) {
      return std::nullopt;
    }
    return AmiRefresher::fromObject(*obj);
  }

  const NodegroupStatus* group(const AmiRefresher& r, std::string_view name) const {
    for (const NodegroupStatus& g : r.status.nodegroups) {
      if (g.name == name) {
        return &g;
      }
    }
    return nullptr;
  }

  bool ready() const {
    auto r = refresher();
    if (!r) {
      return false;
    }
    const kube::Condition* c = kube::findCondition(r->status.conditions, "Ready");
    return c != nullptr && c->status == kube::kConditionTrue;
  }

  std::optional<Phase> phaseOf(std::string_view name) const {
    auto r = refresher();
    if (!r) {
      return std::nullopt;
    }
    const NodegroupStatus* g = group(*r, name);
    return g ? std::optional<Phase>(g->phase) : std::nullopt;
  }

  // Sets an annotation, which brings the object back to the controller without a spec change.
  void touch(const std::string& value) {
    auto json = kube_.getObject(kApiVersion, kKind, kNamespace, kName);
    ASSERT_TRUE(json.has_value());
    auto doc = opsy::testing::parseJson(*json);
    ASSERT_TRUE(doc.has_value());
    auto& meta = (*doc)["metadata"];
    if (!meta.HasMember("annotations")) {
      meta.AddMember("annotations", rapidjson::Value(rapidjson::kObjectType), doc->GetAllocator());
    }
    meta["annotations"].RemoveMember("e2e/touch");
    meta["annotations"].AddMember("e2e/touch", rapidjson::Value(value.c_str(), doc->GetAllocator()),
                                  doc->GetAllocator());
    ASSERT_TRUE(kube_.updateObject(opsy::testing::toJson(*doc)).has_value());
  }

  // What `kubectl patch --type merge -p '{"spec":{"selfManaged":{"enabled":true}}}'` does.
  void enableSelfManaged() {
    auto json = kube_.getObject(kApiVersion, kKind, kNamespace, kName);
    ASSERT_TRUE(json.has_value());
    auto doc = opsy::testing::parseJson(*json);
    ASSERT_TRUE(doc.has_value());
    auto& alloc = doc->GetAllocator();
    rapidjson::Value self_managed(rapidjson::kObjectType);
    self_managed.AddMember("enabled", true, alloc);
    auto& spec = (*doc)["spec"];
    spec.RemoveMember("selfManaged");
    spec.AddMember("selfManaged", self_managed, alloc);
    ASSERT_TRUE(kube_.updateObject(opsy::testing::toJson(*doc)).has_value());
  }

  std::string scrapeMetrics() const {
    httplib::Client client("127.0.0.1", metrics_port_);
    auto res = client.Get("/metrics");
    return res && res->status == 200 ? res->body : "";
  }

  FakeKube kube_;
  FakeAws aws_;
  std::string dir_;
  int metrics_port_ = 0;
  int probe_port_ = 0;
  std::unique_ptr<ChildProcess> controller_;
  // More controller flags (before startController()).
  std::vector<std::string> extra_args_;
  std::mutex nodes_mu_;
  std::set<std::string> not_ready_;
};

}  // namespace opsy::ami_refresh
