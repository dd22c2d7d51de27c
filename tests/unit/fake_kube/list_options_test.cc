// List options read as the real API server reads them: resourceVersionMatch with its rules and
// refusals in the real ListOptions shape.
#include "fake_kube_fixture.h"

namespace opsy::testing {
namespace {

constexpr const char* kConfigMaps = "/api/v1/namespaces/default/configmaps";

using FakeKubeListOptions = FakeKubeTest;

// NotOlderThan and Exact at the current resourceVersion list the current state; a version from
// the future is a 504 with ResourceVersionTooLarge; an older Exact is expired (the fake keeps no
// snapshots); misuse is 422 Invalid ListOptions naming the rule.
TEST_F(FakeKubeListOptions, ResourceVersionMatchFollowsTheRealRules) {
  ASSERT_EQ(post(kConfigMaps, R"({"metadata":{"name":"a"}})").status, 201);
  const std::string rv = get(kConfigMaps).str("/metadata/resourceVersion");
  Reply newer =
      get(std::string(kConfigMaps) + "?resourceVersion=1&resourceVersionMatch=NotOlderThan");
  EXPECT_EQ(newer.status, 200);
  EXPECT_EQ(newer.size("/items"), 1u);
  EXPECT_EQ(get(std::string(kConfigMaps) + "?resourceVersion=" + rv + "&resourceVersionMatch=Exact")
                .status,
            200);

  Reply future =
      get(std::string(kConfigMaps) + "?resourceVersion=999999&resourceVersionMatch=NotOlderThan");
  EXPECT_EQ(future.status, 504);
  EXPECT_EQ(future.str("/details/causes/0/reason"), "ResourceVersionTooLarge");

  ASSERT_EQ(post(kConfigMaps, R"({"metadata":{"name":"b"}})").status, 201);
  EXPECT_EQ(get(std::string(kConfigMaps) + "?resourceVersion=" + rv + "&resourceVersionMatch=Exact")
                .status,
            410);

  Reply no_rv = get(std::string(kConfigMaps) + "?resourceVersionMatch=NotOlderThan");
  ASSERT_EQ(no_rv.status, 422);
  EXPECT_EQ(no_rv.str("/message"),
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: "
            "resourceVersionMatch is forbidden unless resourceVersion is provided");
  EXPECT_EQ(get(std::string(kConfigMaps) + "?resourceVersion=0&resourceVersionMatch=Exact").status,
            422);
  EXPECT_EQ(get(std::string(kConfigMaps) + "?resourceVersion=1&resourceVersionMatch=Newest").status,
            422);
}

// A custom resource is stored in etcd like any object: over 1.5 MiB it is refused.
TEST_F(FakeKubeListOptions, CustomResourceOverEtcdsLimitIsRefused) {
  installCrd();
  const std::string blob(2 * 1024 * 1024, 'x');
  Reply big = post(kPbPath, packerBuilder("big", R"(,"extra":{"blob":")" + blob + "\"}"));
  ASSERT_EQ(big.status, 500) << big.body.substr(0, 300);
  EXPECT_EQ(big.str("/message"), "etcdserver: request is too large");
  EXPECT_EQ(get(std::string(kPbPath) + "/big").status, 404);
}

}  // namespace
}  // namespace opsy::testing
