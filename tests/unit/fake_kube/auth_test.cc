// The fake API server's TokenReview, SubjectAccessReview and RBAC: answers and refusals shaped as
// the real server's, so the controller's protected /metrics is tested against what a cluster says.
#include "fake_kube_fixture.h"

namespace opsy::testing {
namespace {

constexpr const char* kTokenReviews = "/apis/authentication.k8s.io/v1/tokenreviews";
constexpr const char* kAccessReviews = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
constexpr const char* kPrometheus = "system:serviceaccount:monitoring:prometheus";

std::string tokenReview(const std::string& token) {
  return R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":")" +
         token + R"("}})";
}

std::string metricsAccessReview(const std::string& user, const std::string& groups = "[]",
                                const std::string& path = "/metrics") {
  return R"({"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":")" +
         user + R"(","groups":)" + groups + R"(,"nonResourceAttributes":{"path":")" + path +
         R"(","verb":"get"}}})";
}

class FakeKubeAuthTest : public FakeKubeTest {
 protected:
  void SetUp() override {
    FakeKubeTest::SetUp();
    kube_.addUser({.token = "prom-token", .username = kPrometheus});
    kube_.addUser({.token = "jane-token", .username = "jane", .groups = {"sre"}});
  }
  void grantMetricsReader(const std::string& subject) {
    Reply role = post("/apis/rbac.authorization.k8s.io/v1/clusterroles",
                      R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole",
                          "metadata":{"name":"metrics-reader"},
                          "rules":[{"nonResourceURLs":["/metrics"],"verbs":["get"]}]})");
    ASSERT_EQ(role.status, 201) << role.body;
    Reply binding = post("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                         R"({"apiVersion":"rbac.authorization.k8s.io/v1",
                             "kind":"ClusterRoleBinding","metadata":{"name":"prometheus-metrics"},
                             "roleRef":{"apiGroup":"rbac.authorization.k8s.io",
                                        "kind":"ClusterRole","name":"metrics-reader"},
                             "subjects":[)" +
                             subject + "]}");
    ASSERT_EQ(binding.status, 201) << binding.body;
  }
};

// A known token reviews as its user with the groups the real server adds; the answer is 201 and
// nothing is stored.
TEST_F(FakeKubeAuthTest, TokenReviewNamesTheUserWithImplicitGroups) {
  Reply r = post(kTokenReviews, tokenReview("prom-token"));
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_TRUE(r.json["status"]["authenticated"].GetBool());
  EXPECT_EQ(r.str("/status/user/username"), kPrometheus);
  std::vector<std::string> groups;
  for (const auto& g : r.json["status"]["user"]["groups"].GetArray()) {
    groups.emplace_back(g.GetString());
  }
  EXPECT_EQ(groups,
            (std::vector<std::string>{"system:serviceaccounts", "system:serviceaccounts:monitoring",
                                      "system:authenticated"}));
  EXPECT_EQ(get(kTokenReviews).status, 405);
}

// An unknown token is not authenticated (no error status: the review itself succeeded); an empty
// one is a bad request.
TEST_F(FakeKubeAuthTest, UnknownTokenIsNotAuthenticatedAndEmptyTokenIsRefused) {
  Reply r = post(kTokenReviews, tokenReview("nobody"));
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_FALSE(r.has("/status/authenticated"));
  EXPECT_EQ(r.str("/status/error"), "[invalid bearer token, token lookup failed]");
  Reply empty = post(kTokenReviews, tokenReview(""));
  EXPECT_EQ(empty.status, 400);
  EXPECT_EQ(empty.str("/message"), "token is required for TokenReview in authentication");
}

// get on /metrics is allowed exactly when a ClusterRoleBinding gives the user (as ServiceAccount,
// User or Group) a ClusterRole with that non-resource URL; the reason names the binding.
TEST_F(FakeKubeAuthTest, SubjectAccessReviewFollowsClusterRoleBindings) {
  Reply before = post(kAccessReviews, metricsAccessReview(kPrometheus));
  ASSERT_EQ(before.status, 201) << before.body;
  EXPECT_FALSE(before.json["status"]["allowed"].GetBool());

  grantMetricsReader(R"({"kind":"ServiceAccount","name":"prometheus","namespace":"monitoring"},
                        {"kind":"Group","name":"sre"})");
  Reply after = post(kAccessReviews, metricsAccessReview(kPrometheus));
  EXPECT_TRUE(after.json["status"]["allowed"].GetBool()) << after.body;
  EXPECT_EQ(after.str("/status/reason"),
            "RBAC: allowed by ClusterRoleBinding \"prometheus-metrics\" of ClusterRole "
            "\"metrics-reader\" to ServiceAccount \"monitoring/prometheus\"");
  EXPECT_TRUE(post(kAccessReviews, metricsAccessReview("jane", R"(["sre"])"))
                  .json["status"]["allowed"]
                  .GetBool());
  EXPECT_FALSE(
      post(kAccessReviews, metricsAccessReview("jane", "[]")).json["status"]["allowed"].GetBool());
  EXPECT_FALSE(post(kAccessReviews, metricsAccessReview(kPrometheus, "[]", "/debug/pprof"))
                   .json["status"]["allowed"]
                   .GetBool());
}

// A review without a subject or without attributes is Invalid, with the real server's causes.
TEST_F(FakeKubeAuthTest, SubjectAccessReviewWithoutSubjectOrAttributesIsInvalid) {
  Reply r = post(kAccessReviews,
                 R"({"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview",
                     "spec":{}})");
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.str("/message"),
            "SubjectAccessReview.authorization.k8s.io \"\" is invalid: [spec.resourceAttributes: "
            "Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes "
            "must be specified, spec.user: Invalid value: \"\": at least one of user or group "
            "must be specified]");
  EXPECT_EQ(r.size("/details/causes"), 2u);
}

// Another user's own API requests go through RBAC: forbidden with the real message until a
// RoleBinding grants them, then allowed in that namespace only.
TEST_F(FakeKubeAuthTest, OtherUsersRequestsAreAuthorisedByStoredRbac) {
  httplib::Client jane(kube_.url());
  jane.set_bearer_token_auth("jane-token");
  auto denied = jane.Get("/api/v1/namespaces/default/configmaps");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 403);
  rapidjson::Document body;
  body.Parse(denied->body.c_str());
  EXPECT_STREQ(body["message"].GetString(),
               "configmaps is forbidden: User \"jane\" cannot list resource \"configmaps\" in API "
               "group \"\" in the namespace \"default\"");
  EXPECT_EQ(jane.Get("/api/v1")->status, 200);  // discovery is open to anyone authenticated

  ASSERT_EQ(post("/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles",
                 R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role",
                     "metadata":{"name":"cm-reader","namespace":"default"},
                     "rules":[{"apiGroups":[""],"resources":["configmaps"],
                               "verbs":["get","list"]}]})")
                .status,
            201);
  ASSERT_EQ(post("/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
                 R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding",
                     "metadata":{"name":"jane-cm","namespace":"default"},
                     "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role",
                                "name":"cm-reader"},
                     "subjects":[{"kind":"User","name":"jane"}]})")
                .status,
            201);
  EXPECT_EQ(jane.Get("/api/v1/namespaces/default/configmaps")->status, 200);
  EXPECT_EQ(jane.Get("/api/v1/namespaces/kube-system/configmaps")->status, 403);
  EXPECT_EQ(jane.Get("/api/v1/namespaces/default/secrets")->status, 403);

  kube_.removeUser("jane-token");
  EXPECT_EQ(jane.Get("/api/v1/namespaces/default/configmaps")->status, 401);
}

}  // namespace
}  // namespace opsy::testing
