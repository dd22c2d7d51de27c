#include <gtest/gtest.h>

#include "fake_kube_fixture.h"

namespace opsy::testing {
namespace {

using FakeKubeFaults = FakeKubeTest;

constexpr const char* kConfigMaps = "/api/v1/namespaces/default/configmaps";

// failNext answers the next N matching requests with the given status and a Status body, then
// lets requests through; other verbs and resources are not affected.
TEST_F(FakeKubeFaults, FailNextFailsExactlyNRequests) {
  kube_.failNext("create", "configmaps", 503, 2);
  EXPECT_EQ(get(kConfigMaps).status, 200);
  EXPECT_EQ(post("/api/v1/namespaces/default/secrets", R"({"metadata":{"name":"s"}})").status, 201);
  Reply first = post(kConfigMaps, R"({"metadata":{"name":"a"}})");
  EXPECT_EQ(first.status, 503);
  EXPECT_EQ(first.str("/reason"), "ServiceUnavailable");
  EXPECT_EQ(post(kConfigMaps, R"({"metadata":{"name":"a"}})").status, 503);
  EXPECT_EQ(post(kConfigMaps, R"({"metadata":{"name":"a"}})").status, 201);
}

struct InjectedStatus {
  int status;
  const char* reason;
};

// Each injectable status comes with the reason the real server uses.
TEST_F(FakeKubeFaults, InjectedStatusesCarryRealReasons) {
  const std::vector<InjectedStatus> cases = {{409, "Conflict"},
                                             {429, "TooManyRequests"},
                                             {500, "InternalError"},
                                             {503, "ServiceUnavailable"}};
  for (const auto& c : cases) {
    kube_.failNext("get", "configmaps", c.status);
    Reply r = get(std::string(kConfigMaps) + "/x");
    EXPECT_EQ(r.status, c.status);
    EXPECT_EQ(r.str("/kind"), "Status");
    EXPECT_EQ(r.str("/reason"), c.reason);
    EXPECT_EQ(r.num("/code"), c.status);
  }
}

// 429 answers carry Retry-After and details.retryAfterSeconds.
TEST_F(FakeKubeFaults, TooManyRequestsSendsRetryAfter) {
  KubeFault fault;
  fault.verb = "list";
  fault.resource = "configmaps";
  fault.http_status = 429;
  fault.retry_after_seconds = 7;
  kube_.addFault(fault);
  Reply r = get(kConfigMaps);
  EXPECT_EQ(r.status, 429);
  auto header = r.headers.find("Retry-After");
  ASSERT_NE(header, r.headers.end());
  EXPECT_EQ(header->second, "7");
  EXPECT_EQ(r.num("/details/retryAfterSeconds"), 7);
}

// A rate-based fault fails about that share of requests, the same ones for the same seed.
TEST_F(FakeKubeFaults, RateFaultIsSeededAndProportional) {
  auto run = [](uint64_t seed) {
    FakeKubeOptions options = defaultOptions();
    options.fault_seed = seed;
    FakeKube kube(options);
    EXPECT_TRUE(kube.start().has_value());
    httplib::Client client(kube.url());
    client.set_bearer_token_auth(kube.token().c_str());
    KubeFault fault;
    fault.verb = "get";
    fault.http_status = 500;
    fault.count = -1;
    fault.rate = 0.3;
    kube.addFault(fault);
    std::vector<int> statuses;
    for (int i = 0; i < 100; ++i) {
      auto r = client.Get("/api/v1/namespaces/default");
      statuses.push_back(r ? r->status : 0);
    }
    return statuses;
  };
  auto first = run(42);
  const auto failures = std::count(first.begin(), first.end(), 500);
  EXPECT_GT(failures, 15);
  EXPECT_LT(failures, 45);
  EXPECT_EQ(run(42), first);
}

// Added latency delays the answer; clearFaults removes it.
TEST_F(FakeKubeFaults, LatencyDelaysAnswers) {
  kube_.addLatency("get", "configmaps", std::chrono::milliseconds(300));
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(get(std::string(kConfigMaps) + "/x").status, 404);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
  kube_.clearFaults();
  start = std::chrono::steady_clock::now();
  get(std::string(kConfigMaps) + "/x");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
}

// A fault on a subresource ("packerbuilders/status") leaves the main resource alone.
TEST_F(FakeKubeFaults, SubresourceFaultsAreSeparate) {
  installCrd();
  post(kPbPath, packerBuilder("a"));
  kube_.failNext("patch", "packerbuilders/status", 409);
  EXPECT_EQ(patch(std::string(kPbPath) + "/a", R"({"metadata":{"labels":{"a":"b"}}})").status, 200);
  EXPECT_EQ(patch(std::string(kPbPath) + "/a/status", R"({"status":{"state":"x"}})").status, 409);
  EXPECT_EQ(patch(std::string(kPbPath) + "/a/status", R"({"status":{"state":"x"}})").status, 200);
}

// Failed requests are still counted and logged with their status.
TEST_F(FakeKubeFaults, FailedRequestsAreLogged) {
  kube_.resetRequestLog();
  kube_.failNext("update", "", 500);
  put(std::string(kConfigMaps) + "/a", R"({"metadata":{"name":"a"}})");
  auto log = kube_.requestLog();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].verb, "update");
  EXPECT_EQ(log[0].status, 500);
  EXPECT_EQ(kube_.writeCount("configmaps"), 1);
}

}  // namespace
}  // namespace opsy::testing
