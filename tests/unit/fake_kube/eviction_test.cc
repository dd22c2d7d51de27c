// The Eviction subresource of Pods: the budget arithmetic a drain meets on a real cluster.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "unit/fake_kube/fake_kube_fixture.h"

namespace opsy::testing {
namespace {

class FakeKubeEviction : public FakeKubeTest {
 protected:
  void pod(const std::string& name, bool ready, const std::string& app = "web") {
    Reply r = post("/api/v1/namespaces/default/pods",
                   fmt::format(R"({{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{}",)"
                               R"("labels":{{"app":"{}"}}}},"spec":{{"nodeName":"n1",)"
                               R"("containers":[{{"name":"c","image":"nginx"}}]}}}})",
                               name, app));
    ASSERT_EQ(r.status, 201) << r.body;
    r = patch(fmt::format("/api/v1/namespaces/default/pods/{}/status", name),
              fmt::format(R"({{"status":{{"phase":"Running","conditions":[{{"type":"Ready",)"
                          R"("status":"{}"}}]}}}})",
                          ready ? "True" : "False"));
    ASSERT_EQ(r.status, 200) << r.body;
  }
  void budget(const std::string& name, const std::string& rule) {
    Reply r = post("/apis/policy/v1/namespaces/default/poddisruptionbudgets",
                   fmt::format(R"({{"apiVersion":"policy/v1","kind":"PodDisruptionBudget",)"
                               R"("metadata":{{"name":"{}"}},"spec":{{{},)"
                               R"("selector":{{"matchLabels":{{"app":"web"}}}}}}}})",
                               name, rule));
    ASSERT_EQ(r.status, 201) << r.body;
  }
  Reply evict(const std::string& name) {
    return post(fmt::format("/api/v1/namespaces/default/pods/{}/eviction", name),
                fmt::format(R"({{"apiVersion":"policy/v1","kind":"Eviction",)"
                            R"("metadata":{{"name":"{}","namespace":"default"}}}})",
                            name));
  }
  bool exists(const std::string& name) {
    return get("/api/v1/namespaces/default/pods/" + name).status == 200;
  }
};

TEST_F(FakeKubeEviction, WithoutABudgetThePodIsDeleted) {
  ASSERT_NO_FATAL_FAILURE(pod("a", true));
  Reply r = evict("a");
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.str("/kind"), "Status");
  EXPECT_EQ(r.str("/status"), "Success");
  EXPECT_FALSE(exists("a"));
}

TEST_F(FakeKubeEviction, MinAvailableRefusesTheEvictionThatWouldBreakIt) {
  ASSERT_NO_FATAL_FAILURE(pod("a", true));
  ASSERT_NO_FATAL_FAILURE(pod("b", true));
  ASSERT_NO_FATAL_FAILURE(budget("web", R"("minAvailable":1)"));
  EXPECT_EQ(evict("a").status, 201);
  Reply refused = evict("b");
  EXPECT_EQ(refused.status, 429) << refused.body;
  EXPECT_EQ(refused.str("/reason"), "TooManyRequests");
  EXPECT_EQ(refused.str("/message"),
            "Cannot evict pod as it would violate the pod's disruption budget.");
  EXPECT_EQ(refused.str("/details/causes/0/reason"), "DisruptionBudget");
  EXPECT_EQ(refused.str("/details/causes/0/message"),
            "The disruption budget web needs 1 healthy pods and has 1 currently");
  EXPECT_TRUE(exists("b"));
  Reply pdb = get("/apis/policy/v1/namespaces/default/poddisruptionbudgets/web");
  EXPECT_EQ(pdb.num("/status/disruptionsAllowed"), 0);
  EXPECT_EQ(pdb.num("/status/currentHealthy"), 1);
}

TEST_F(FakeKubeEviction, MaxUnavailableZeroAllowsNoDisruption) {
  ASSERT_NO_FATAL_FAILURE(pod("a", true));
  ASSERT_NO_FATAL_FAILURE(budget("web", R"("maxUnavailable":0)"));
  EXPECT_EQ(evict("a").status, 429);
  EXPECT_TRUE(exists("a"));
}

TEST_F(FakeKubeEviction, PercentagesRoundUpTheHealthyPodsNeeded) {
  for (const char* name : {"a", "b", "c"}) {
    ASSERT_NO_FATAL_FAILURE(pod(name, true));
  }
  // 50% of 3 is 2 healthy pods needed: one may go, not two.
  ASSERT_NO_FATAL_FAILURE(budget("web", R"("minAvailable":"50%")"));
  EXPECT_EQ(evict("a").status, 201);
  EXPECT_EQ(evict("b").status, 429);
}

TEST_F(FakeKubeEviction, AnUnreadyPodGoesWhileTheBudgetIsMet) {
  ASSERT_NO_FATAL_FAILURE(pod("a", true));
  ASSERT_NO_FATAL_FAILURE(pod("sick", false));
  ASSERT_NO_FATAL_FAILURE(budget("web", R"("minAvailable":1)"));
  EXPECT_EQ(evict("sick").status, 201);
  EXPECT_EQ(evict("a").status, 429);
}

TEST_F(FakeKubeEviction, PodsOtherBudgetsDoNotSelectAreFree) {
  ASSERT_NO_FATAL_FAILURE(pod("a", true));
  ASSERT_NO_FATAL_FAILURE(pod("db", true, "db"));
  ASSERT_NO_FATAL_FAILURE(budget("web", R"("maxUnavailable":0)"));
  EXPECT_EQ(evict("db").status, 201);
}

TEST_F(FakeKubeEviction, TwoBudgetsForOnePodAreAnError) {
  ASSERT_NO_FATAL_FAILURE(pod("a", true));
  ASSERT_NO_FATAL_FAILURE(budget("one", R"("maxUnavailable":1)"));
  ASSERT_NO_FATAL_FAILURE(budget("two", R"("maxUnavailable":1)"));
  Reply r = evict("a");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.str("/message").find("more than one PodDisruptionBudget"), std::string::npos);
}

TEST_F(FakeKubeEviction, MissingPodIsNotFoundAndGetIsNotAllowed) {
  EXPECT_EQ(evict("nope").status, 404);
  EXPECT_EQ(get("/api/v1/namespaces/default/pods/nope/eviction").status, 405);
}

TEST_F(FakeKubeEviction, DiscoveryListsTheSubresourceAsPolicyEviction) {
  Reply core = get("/api/v1");
  bool found = false;
  for (const auto& r : core.json["resources"].GetArray()) {
    if (std::string(r["name"].GetString()) == "pods/eviction") {
      found = true;
      EXPECT_STREQ(r["group"].GetString(), "policy");
      EXPECT_STREQ(r["kind"].GetString(), "Eviction");
      EXPECT_STREQ(r["verbs"][0].GetString(), "create");
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace opsy::testing
