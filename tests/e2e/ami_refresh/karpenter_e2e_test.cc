// Karpenter EC2NodeClasses as a rollout target, with the real ami-refresh-controller binary. The
// test world installs minimal EC2NodeClass and NodeClaim CRDs (tests/data/karpenter) and plays
// Karpenter one step at a time: a changed amiSelectorTerms is resolved (status.amis, Ready), the
// NodeClaims on another image are marked Drifted, then replaced one by one by NodeClaims of the
// resolved image. The harness steps only once the refresher's status shows the world as it is,
// so every intermediate count is seen in status without any timing assumption.
#include "e2e/ami_refresh/ami_refresh_fixture.h"

namespace opsy::ami_refresh {
namespace {

constexpr std::string_view kAliasTerms = R"([{"alias":"al2023@v20261101"}])";

class KarpenterE2e : public AmiRefreshE2e {
 protected:
  void installKarpenter() {
    for (const char* file : {"ec2nodeclass-crd.yaml", "nodeclaim-crd.yaml"}) {
      auto crd = opsy::testing::parseJsonOrYaml(
          readFile(std::string(OPSY_TEST_DATA_DIR) + "/karpenter/" + file));
      ASSERT_TRUE(crd.has_value()) << crd.error().toString();
      auto created = kube_.createObject(opsy::testing::toJson(*crd));
      ASSERT_TRUE(created.has_value()) << created.error().toString();
    }
  }

  // An EC2NodeClass selecting `terms`, resolved to the old image and Ready, with `claims`
  // NodeClaims on the old image (Ready).
  void addNodeClass(const std::string& name, int claims, std::string_view terms = kAliasTerms,
                    const std::string& labels = "{}") {
    auto created = kube_.createObject(fmt::format(
        R"({{"apiVersion":"karpenter.k8s.aws/v1","kind":"EC2NodeClass","metadata":{{"name":"{}",)"
        R"("labels":{}}},"spec":{{"role":"KarpenterNodeRole","amiSelectorTerms":{}}},)"
        R"("status":{{"amis":[{{"id":"{}","name":"old"}}],"conditions":[{}]}}}})",
        name, labels, terms, kOldImage, readyCondition(true)));
    ASSERT_TRUE(created.has_value()) << created.error().toString();
    for (int i = 0; i < claims; ++i) {
      ASSERT_NO_FATAL_FAILURE(addClaim(name, std::string(kOldImage), true));
    }
  }

  static std::string readyCondition(bool ready, std::string_view type = "Ready") {
    return fmt::format(R"({{"type":"{}","status":"{}","reason":"{}","lastTransitionTime":"{}"}})",
                       type, ready ? "True" : "False", ready ? type : std::string_view("NotReady"),
                       formatRfc3339(realClock().now()));
  }

  void addClaim(const std::string& node_class, const std::string& image, bool ready) {
    const std::string name = fmt::format("{}-{}", node_class, next_claim_++);
    auto created = kube_.createObject(fmt::format(
        R"({{"apiVersion":"karpenter.sh/v1","kind":"NodeClaim","metadata":{{"name":"{}"}},)"
        R"("spec":{{"nodeClassRef":{{"group":"karpenter.k8s.aws","kind":"EC2NodeClass",)"
        R"("name":"{}"}}}},"status":{{"imageID":"{}","nodeName":"ip-{}",)"
        R"("conditions":[{}]}}}})",
        name, node_class, image, name, readyCondition(ready)));
    ASSERT_TRUE(created.has_value()) << created.error().toString();
  }

  std::optional<rapidjson::Document> nodeClass(const std::string& name) const {
    auto json = kube_.getObject("karpenter.k8s.aws/v1", "EC2NodeClass", "", name);
    if (!json) {
      return std::nullopt;
    }
    auto doc = opsy::testing::parseJson(*json);
    return doc ? std::optional<rapidjson::Document>(std::move(*doc)) : std::nullopt;
  }

  std::string termsOf(const std::string& name) const {
    auto doc = nodeClass(name);
    if (!doc || !doc->HasMember("spec") || !(*doc)["spec"].HasMember("amiSelectorTerms")) {
      return "";
    }
    return opsy::testing::toJson((*doc)["spec"]["amiSelectorTerms"]);
  }

  struct Claim {
    std::string name;
    std::string image;
    bool drifted = false;
  };

  std::vector<Claim> claimsOf(const std::string& node_class) const {
    std::vector<Claim> out;
    for (const std::string& text : kube_.listObjects("karpenter.sh/v1", "NodeClaim", "")) {
      auto doc = opsy::testing::parseJson(text);
      if (!doc || (*doc)["spec"]["nodeClassRef"]["name"].GetString() != node_class) {
        continue;
      }
      Claim c{.name = (*doc)["metadata"]["name"].GetString(),
              .image = (*doc)["status"]["imageID"].GetString()};
      for (const auto& cond : (*doc)["status"]["conditions"].GetArray()) {
        if (std::string_view(cond["type"].GetString()) == "Drifted" &&
            std::string_view(cond["status"].GetString()) == "True") {
          c.drifted = true;
        }
      }
      out.push_back(std::move(c));
    }
    return out;
  }

  // What the world's NodeClaims of `node_class` count against the target.
  NodeClaimCounts worldCounts(const std::string& node_class) const {
    NodeClaimCounts n;
    for (const Claim& c : claimsOf(node_class)) {
      ++n.total;
      n.on_target += c.image == kTargetImage ? 1 : 0;
      n.old += c.image != kTargetImage ? 1 : 0;
      n.drifted += c.drifted ? 1 : 0;
    }
    return n;
  }

  // One step of Karpenter for `name`; false when there was nothing to do.
  bool stepKarpenter(const std::string& name) {
    auto doc = nodeClass(name);
    if (!doc) {
      return false;
    }
    auto& alloc = doc->GetAllocator();
    const rapidjson::Value& terms = (*doc)["spec"]["amiSelectorTerms"];
    // A pin resolves to its id; any other term to the old image.
    std::string image(kOldImage);
    if (terms.Size() == 1 && terms[0u].HasMember("id")) {
      image = terms[0u]["id"].GetString();
    }
    auto& status = (*doc)["status"];
    if (std::string_view(status["amis"][0u]["id"].GetString()) != image) {
      auto amis =
          opsy::testing::parseJson(fmt::format(R"([{{"id":"{}","name":"resolved"}}])", image));
      auto conditions = opsy::testing::parseJson("[" + readyCondition(true) + "]");
      status["amis"].CopyFrom(*amis, alloc);
      status["conditions"].CopyFrom(*conditions, alloc);
      EXPECT_TRUE(kube_.updateObject(opsy::testing::toJson(*doc)).has_value());
      return true;
    }
    std::vector<Claim> claims = claimsOf(name);
    for (const Claim& c : claims) {
      if (c.image != image && !c.drifted) {
        auto claim =
            opsy::testing::parseJson(*kube_.getObject("karpenter.sh/v1", "NodeClaim", "", c.name));
        auto drifted = opsy::testing::parseJson(readyCondition(true, "Drifted"));
        (*claim)["status"]["conditions"].PushBack(rapidjson::Value(*drifted, claim->GetAllocator()),
                                                  claim->GetAllocator());
        EXPECT_TRUE(kube_.updateObject(opsy::testing::toJson(*claim)).has_value());
        return true;
      }
    }
    for (const Claim& c : claims) {
      if (c.drifted) {
        EXPECT_TRUE(kube_.deleteObject("karpenter.sh/v1", "NodeClaim", "", c.name).has_value());
        addClaim(name, image, never_ready_.count(name) == 0);
        return true;
      }
    }
    return false;
  }

  // Steps Karpenter for `name` only once the refresher's status shows the NodeClaims as they
  // are, recording each count the status showed.
  void stepWhenSeen(const std::string& name) {
    auto r = refresher();
    const NodegroupStatus* entry = r ? group(*r, name) : nullptr;
    if (entry != nullptr && entry->node_claims) {
      const NodeClaimCounts& shown = *entry->node_claims;
      if (seen_.empty() || !(seen_.back() == shown)) {
        seen_.push_back(shown);
      }
    }
    if (entry == nullptr || !entry->node_claims || !(*entry->node_claims == worldCounts(name))) {
      return;
    }
    stepKarpenter(name);
  }

  void startWithKarpenter() {
    extra_args_.push_back("--karpenter");
    startController();
  }

  int nodeClassPatches() const { return kube_.requestCount("patch", "ec2nodeclasses"); }

  int next_claim_ = 0;
  std::set<std::string> never_ready_;
  std::vector<NodeClaimCounts> seen_;
};

// The node class is pinned to the target; the NodeClaims Karpenter drifts are replaced one by
// one while status follows each count; the refresher ends Ready with the node class Succeeded,
// and /metrics shows the NodeClaims on the target.
TEST_F(KarpenterE2e, PinsTheNodeClassAndFollowsItsNodeClaimsToTheTarget) {
  ASSERT_NO_FATAL_FAILURE(installKarpenter());
  ASSERT_NO_FATAL_FAILURE(addNodeClass("default", 2));
  ASSERT_NO_FATAL_FAILURE(startWithKarpenter());
  ASSERT_NO_FATAL_FAILURE(
      applySampleWith(R"({"exclude":["*"],"karpenter":{"nodeClasses":{"names":["default"]}},)"
                      R"("timeOuts":{"controllerTimer":"1s"}})"));

  ASSERT_TRUE(eventually(
      [&] {
        stepWhenSeen("default");
        return ready();
      },
      std::chrono::seconds(60)))
      << "never Ready; status counts seen: " << seen_.size();
  EXPECT_EQ(termsOf("default"), fmt::format(R"([{{"id":"{}"}}])", kTargetImage));
  EXPECT_EQ(nodeClassPatches(), 1);
  auto r = refresher();
  const NodegroupStatus* entry = group(*r, "default");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->kind, GroupKind::NodeClass);
  EXPECT_EQ(entry->phase, Phase::Succeeded) << entry->message;
  EXPECT_EQ(entry->previous_ami_selector_terms, kAliasTerms);
  EXPECT_EQ(entry->node_claims, (NodeClaimCounts{.total = 2, .on_target = 2}));
  // Status followed the drift and each replacement.
  auto saw = [&](NodeClaimCounts c) {
    return std::find(seen_.begin(), seen_.end(), c) != seen_.end();
  };
  EXPECT_TRUE(saw({.total = 2, .on_target = 0, .old = 2, .drifted = 0}));
  EXPECT_TRUE(saw({.total = 2, .on_target = 0, .old = 2, .drifted = 2}));
  EXPECT_TRUE(saw({.total = 2, .on_target = 1, .old = 1, .drifted = 1}));
  // The node groups were excluded and never touched.
  EXPECT_TRUE(takeWriteCalls().empty());
  EXPECT_EQ(settledEventCount("UpdateStarted", 1), 1);

  std::string text;
  EXPECT_TRUE(eventually([&] {
    text = scrapeMetrics();
    return opsy::testing::sampleSum(text, "opsy_karpenter_nodeclaims", R"(state="onTarget")") == 2;
  })) << text;
  EXPECT_EQ(opsy::testing::sampleSum(text, "opsy_karpenter_nodeclaims", R"(state="old")"), 0);
}

// Node groups and a node class roll in one refresher, one at a time
// (maxConcurrentNodegroups=1): the node group through EKS, the node class through its pin.
TEST_F(KarpenterE2e, NodeGroupsAndNodeClassesRollTogether) {
  aws_.setEksAutoCompleteAfter(1);
  ASSERT_NO_FATAL_FAILURE(installKarpenter());
  ASSERT_NO_FATAL_FAILURE(addNodeClass("default", 1));
  ASSERT_NO_FATAL_FAILURE(startWithKarpenter());
  ASSERT_NO_FATAL_FAILURE(applySampleWith(
      R"({"karpenter":{"nodeClasses":{"names":["default"]}},"timeOuts":{"controllerTimer":"1s"}})"));

  ASSERT_TRUE(eventually(
      [&] {
        stepWhenSeen("default");
        return ready();
      },
      std::chrono::seconds(60)))
      << "never Ready";
  EXPECT_EQ(lastVersionImage(aws_, kUpdateLt), kTargetImage);
  ASSERT_EQ(aws_.eksUpdates().size(), 1U);
  EXPECT_EQ(aws_.eksUpdates()[0].nodegroup, "workers-update");
  EXPECT_EQ(termsOf("default"), fmt::format(R"([{{"id":"{}"}}])", kTargetImage));
  EXPECT_EQ(phaseOf("workers-update"), std::optional<Phase>(Phase::Succeeded));
  EXPECT_EQ(phaseOf("default"), std::optional<Phase>(Phase::Succeeded));
  EXPECT_EQ(refresher()->status.updated, "3/3");
}

// A canary node class whose new NodeClaims never become Ready fails after readyTimeout: the
// rollout halts (Stalled, a CanaryFailed Warning), the canary is re-pinned to the terms it had,
// and the other node class and the node groups are never touched.
TEST_F(KarpenterE2e, FailedCanaryNodeClassIsRepinnedAndHaltsTheRollout) {
  ASSERT_NO_FATAL_FAILURE(installKarpenter());
  ASSERT_NO_FATAL_FAILURE(addNodeClass("canary", 1));
  const std::string other_terms = fmt::format(R"([{{"id":"{}"}}])", kOldImage);
  ASSERT_NO_FATAL_FAILURE(addNodeClass("workers", 1, other_terms));
  never_ready_.insert("canary");
  ASSERT_NO_FATAL_FAILURE(startWithKarpenter());
  ASSERT_NO_FATAL_FAILURE(applySampleWith(
      R"({"karpenter":{"nodeClasses":{"names":["canary","workers"]}},)"
      R"("rollout":{"canary":{"nodegroups":["canary"],"readyTimeout":"2s"},"soak":"1m"},)"
      R"("refreshConfig":{"rollbackOnFailure":true},"timeOuts":{"controllerTimer":"1s"}})"));

  ASSERT_TRUE(eventually(
      [&] {
        stepWhenSeen("canary");
        auto r = refresher();
        return r && r->status.canary && r->status.canary->phase == kCanaryFailed;
      },
      std::chrono::seconds(60)))
      << "the canary never failed";
  EXPECT_NE(refresher()->status.canary->message.find("is not Ready"), std::string::npos)
      << refresher()->status.canary->message;
  ASSERT_TRUE(eventually([&] { return termsOf("canary") == kAliasTerms; }))
      << "the canary was not re-pinned: " << termsOf("canary");
  EXPECT_EQ(phaseOf("canary"), std::optional<Phase>(Phase::Failed));
  auto stalled = condition("Stalled");
  ASSERT_TRUE(stalled.has_value());
  EXPECT_EQ(stalled->status, kube::kConditionTrue);
  EXPECT_NE(stalled->message.find("canary"), std::string::npos) << stalled->message;
  // Karpenter takes the canary back to the old image.
  ASSERT_TRUE(eventually([&] {
    stepKarpenter("canary");
    auto claims = claimsOf("canary");
    return claims.size() == 1 && claims[0].image == kOldImage;
  }));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(termsOf("workers"), other_terms) << "the other node class was touched";
  EXPECT_EQ(nodeClassPatches(), 2) << "one pin and one re-pin of the canary";
  EXPECT_EQ(phaseOf("workers"), std::optional<Phase>(Phase::Pending));
  EXPECT_EQ(versionCount(aws_, kUpdateLt), 1U) << "a node group was touched";
  EXPECT_TRUE(aws_.eksUpdates().empty());
  EXPECT_EQ(settledEventCount("CanaryFailed", 1), 1);
  EXPECT_EQ(settledEventCount("RollbackStarted", 1), 1);
}

// Plan mode writes down the pin and makes no patch; the node classes are chosen by a selector.
TEST_F(KarpenterE2e, PlanModeSaysWhatWouldBePinnedAndPatchesNothing) {
  ASSERT_NO_FATAL_FAILURE(installKarpenter());
  ASSERT_NO_FATAL_FAILURE(addNodeClass("selected", 1, kAliasTerms, R"({"team":"a"})"));
  ASSERT_NO_FATAL_FAILURE(addNodeClass("other", 1, kAliasTerms, R"({"team":"b"})"));
  ASSERT_NO_FATAL_FAILURE(startWithKarpenter());
  ASSERT_NO_FATAL_FAILURE(
      applySampleWith(R"({"mode":"Plan","exclude":["*"],)"
                      R"("karpenter":{"nodeClasses":{"selector":{"matchLabels":{"team":"a"}}}},)"
                      R"("timeOuts":{"controllerTimer":"1s"}})"));

  ASSERT_TRUE(eventually([&] {
    auto r = refresher();
    return r && r->status.state == kStatePlanned;
  })) << "never Planned";
  auto r = refresher();
  const NodegroupStatus* entry = group(*r, "selected");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->phase, Phase::Pending);
  EXPECT_NE(entry->next_step.find(fmt::format(R"([{{"id":"{}"}}])", kTargetImage)),
            std::string::npos)
      << entry->next_step;
  EXPECT_EQ(group(*r, "other"), nullptr) << "a node class outside the selector is listed";
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(nodeClassPatches(), 0);
  EXPECT_EQ(termsOf("selected"), kAliasTerms);
}

// Without --karpenter a refresher with spec.karpenter is Stalled, saying how to enable it, and
// nothing is read or written for it.
TEST_F(KarpenterE2e, WithoutTheFlagARefresherWithKarpenterIsStalled) {
  ASSERT_NO_FATAL_FAILURE(installKarpenter());
  ASSERT_NO_FATAL_FAILURE(addNodeClass("default", 1));
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(
      applySampleWith(R"({"karpenter":{"nodeClasses":{"names":["default"]}}})"));

  ASSERT_TRUE(eventually([&] {
    auto c = condition("Stalled");
    return c && c->status == kube::kConditionTrue && c->reason == "KarpenterDisabled";
  })) << "never Stalled with KarpenterDisabled";
  EXPECT_NE(condition("Stalled")->message.find("--karpenter"), std::string::npos);
  EXPECT_EQ(kube_.requestCount("list", "ec2nodeclasses"), 0);
  EXPECT_EQ(nodeClassPatches(), 0);
  EXPECT_TRUE(takeWriteCalls().empty());
}

// With --karpenter but no Karpenter CRDs, the refresher says Karpenter is not installed; the
// controller keeps running.
TEST_F(KarpenterE2e, MissingKarpenterResourceIsACondition) {
  ASSERT_NO_FATAL_FAILURE(startWithKarpenter());
  ASSERT_NO_FATAL_FAILURE(
      applySampleWith(R"({"karpenter":{"nodeClasses":{"names":["default"]}}})"));

  ASSERT_TRUE(eventually([&] {
    auto c = condition("Stalled");
    return c && c->status == kube::kConditionTrue && c->reason == "KarpenterNotInstalled";
  })) << "never reported KarpenterNotInstalled";
  EXPECT_TRUE(controller_->running());
  EXPECT_TRUE(takeWriteCalls().empty());
}

}  // namespace
}  // namespace opsy::ami_refresh
