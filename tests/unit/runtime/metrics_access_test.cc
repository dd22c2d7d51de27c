// Who may read protected /metrics: decided by the API server (TokenReview, then a
// SubjectAccessReview for get on /metrics), here the fake one over real HTTP, with the answers
// cached for as long as controller-runtime caches them and no longer.
#include "opsy/runtime/metrics_access.h"

#include <gtest/gtest.h>

#include "opsy/core/fake_clock.h"
#include "opsy/http/curl_transport.h"
#include "support/fake_kube.h"
#include "support/loopback_server.h"

namespace opsy::runtime {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

constexpr const char* kPrometheus = "system:serviceaccount:monitoring:prometheus";

class MetricsAccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::clearProxyEnvironment();
    ASSERT_TRUE(kube_.start().has_value());
    kube_.addUser({.token = "prom-token", .username = kPrometheus});
    kube_.addUser({.token = "jane-token", .username = "jane", .groups = {"sre"}});
    auto transport = http::makeCurlTransport({});
    ASSERT_TRUE(transport.has_value());
    kube::RestConfig cfg;
    cfg.server = kube_.url();
    cfg.credentials = kube::staticTokenSource(kube_.token());
    kube::ClientOptions copts;
    copts.allow_http_credentials_on_loopback = true;
    client_ = kube::makeClient(cfg, *transport, clock_, copts);
  }

  void grantMetricsReader(const std::string& subject) {
    ASSERT_TRUE(kube_.createObject(
        R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole",
            "metadata":{"name":"metrics-reader"},
            "rules":[{"nonResourceURLs":["/metrics"],"verbs":["get"]}]})"));
    ASSERT_TRUE(kube_.createObject(
        R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding",
            "metadata":{"name":"metrics-reader"},
            "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole",
                       "name":"metrics-reader"},"subjects":[)" +
        subject + "]}"));
  }

  int tokenReviews() const { return kube_.requestCount("create", "tokenreviews"); }
  int accessReviews() const { return kube_.requestCount("create", "subjectaccessreviews"); }

  testing::FakeKube kube_;
  FakeClock clock_;
  kube::ClientPtr client_;
};

// No bearer token is a 401 decided locally: the API server is not asked.
TEST_F(MetricsAccessTest, MissingTokenIs401WithoutAskingTheApiServer) {
  MetricsAccess access(*client_, clock_);
  for (const char* header : {"", "Basic dXNlcjpwYXNz", "Bearer ", "Bearer    "}) {
    EXPECT_EQ(access.review(header).http_status, 401) << header;
  }
  EXPECT_EQ(tokenReviews(), 0);
}

// A token the API server does not know is 401; a known user RBAC does not allow is 403, naming
// the user and the path; a user bound to a metrics-reader ClusterRole (directly or through a
// group) is allowed. The scheme is case-insensitive.
TEST_F(MetricsAccessTest, DecisionFollowsTokenReviewThenRbac) {
  grantMetricsReader(R"({"kind":"ServiceAccount","name":"prometheus","namespace":"monitoring"})");
  MetricsAccess access(*client_, clock_);
  EXPECT_EQ(access.review("Bearer not-a-token").http_status, 401);
  MetricsAccess::Decision jane = access.review("Bearer jane-token");
  EXPECT_EQ(jane.http_status, 403);
  EXPECT_EQ(jane.message, "Forbidden: user \"jane\" may not get path \"/metrics\"\n");
  EXPECT_EQ(access.review("Bearer prom-token").http_status, 200);
  EXPECT_EQ(access.review("bearer prom-token").http_status, 200);

  // The review carried the user's groups: a binding to the group admits jane too (once her deny
  // has expired from the cache).
  ASSERT_TRUE(kube_.createObject(
      R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding",
          "metadata":{"name":"sre-metrics"},
          "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole",
                     "name":"metrics-reader"},"subjects":[{"kind":"Group","name":"sre"}]})"));
  EXPECT_EQ(access.review("Bearer jane-token").http_status, 403);  // cached deny
  clock_.advance(seconds(31));
  EXPECT_EQ(access.review("Bearer jane-token").http_status, 200);
}

// Scraping every few seconds costs a TokenReview a minute and a SubjectAccessReview every five;
// a revoked grant stops working when the allow expires.
TEST_F(MetricsAccessTest, AnswersAreCachedForTheirTimeToLive) {
  grantMetricsReader(R"({"kind":"User","name":"system:serviceaccount:monitoring:prometheus"})");
  MetricsAccess access(*client_, clock_);
  for (int i = 0; i < 12; ++i) {  // a minute of 5 s scrapes
    EXPECT_EQ(access.review("Bearer prom-token").http_status, 200);
    clock_.advance(seconds(5));
  }
  EXPECT_EQ(tokenReviews(), 1);
  EXPECT_EQ(accessReviews(), 1);
  clock_.advance(seconds(1));
  EXPECT_EQ(access.review("Bearer prom-token").http_status, 200);
  EXPECT_EQ(tokenReviews(), 2);   // authentication expired after a minute
  EXPECT_EQ(accessReviews(), 1);  // the allow holds for five

  ASSERT_TRUE(kube_.deleteObject("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "",
                                 "metrics-reader"));
  clock_.advance(minutes(5));
  EXPECT_EQ(access.review("Bearer prom-token").http_status, 403);
  EXPECT_EQ(accessReviews(), 2);
}

// When the API server cannot answer (here: the controller may not create TokenReviews), the scrape
// gets 503, not a guess, and nothing is cached: the next scrape after the fix succeeds.
TEST_F(MetricsAccessTest, ReviewFailureIs503AndIsNotCached) {
  grantMetricsReader(R"({"kind":"Group","name":"system:serviceaccounts:monitoring"})");
  MetricsAccess access(*client_, clock_);
  kube_.addFault({.verb = "create", .resource = "tokenreviews", .http_status = 403, .count = 1});
  MetricsAccess::Decision d = access.review("Bearer prom-token");
  EXPECT_EQ(d.http_status, 503);
  EXPECT_EQ(d.message.find("prom-token"), std::string::npos);
  kube_.addFault(
      {.verb = "create", .resource = "subjectaccessreviews", .http_status = 500, .count = -1});
  EXPECT_EQ(access.review("Bearer prom-token").http_status, 503);
  kube_.clearFaults();
  EXPECT_EQ(access.review("Bearer prom-token").http_status, 200);
}

// Random tokens cannot grow the cache past its bound: with room for 4, the oldest of 10 answers
// has been evicted and its token is reviewed again, the newest is still cached.
TEST_F(MetricsAccessTest, CacheIsBounded) {
  MetricsAccessOptions options;
  options.max_entries = 4;
  MetricsAccess access(*client_, clock_, options);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(access.review("Bearer random-" + std::to_string(i)).http_status, 401);
    clock_.advance(seconds(1));  // the oldest answer is the one evicted
  }
  EXPECT_EQ(tokenReviews(), 10);
  EXPECT_EQ(access.review("Bearer random-0").http_status, 401);
  EXPECT_EQ(tokenReviews(), 11);
  EXPECT_EQ(access.review("Bearer random-9").http_status, 401);
  EXPECT_EQ(tokenReviews(), 11);
}

}  // namespace
}  // namespace opsy::runtime
