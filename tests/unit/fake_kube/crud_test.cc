#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "fake_kube_fixture.h"
#include "opsy/core/fake_clock.h"
#include "opsy/core/time_format.h"

namespace opsy::testing {
namespace {

using FakeKubeCrud = FakeKubeTest;

constexpr const char* kConfigMaps = "/api/v1/namespaces/default/configmaps";

std::string configMap(const std::string& name, const std::string& labels = "{}") {
  return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name + R"(","labels":)" +
         labels + R"(},"data":{"k":"v"}})";
}

// Discovery documents list resources with verbs, kinds, short names and scope, like the real
// server, so clients (and kubectl) can map kinds to paths.
TEST_F(FakeKubeCrud, DiscoveryDescribesBuiltInResources) {
  Reply api = get("/api");
  EXPECT_EQ(api.status, 200);
  EXPECT_EQ(api.str("/kind"), "APIVersions");
  EXPECT_EQ(api.str("/versions/0"), "v1");

  Reply core = get("/api/v1");
  ASSERT_EQ(core.status, 200);
  EXPECT_EQ(core.str("/kind"), "APIResourceList");
  bool found_pods = false;
  bool found_log = false;
  for (const auto& r : core.json["resources"].GetArray()) {
    const std::string name = r["name"].GetString();
    if (name == "pods") {
      found_pods = true;
      EXPECT_TRUE(r["namespaced"].GetBool());
      EXPECT_STREQ(r["kind"].GetString(), "Pod");
      EXPECT_STREQ(r["shortNames"][0].GetString(), "po");
      EXPECT_EQ(r["verbs"].Size(), 8u);
    }
    found_log = found_log || name == "pods/log";
    if (name == "namespaces") {
      EXPECT_FALSE(r["namespaced"].GetBool());
    }
  }
  EXPECT_TRUE(found_pods);
  EXPECT_TRUE(found_log);

  Reply groups = get("/apis");
  ASSERT_EQ(groups.status, 200);
  EXPECT_EQ(groups.str("/kind"), "APIGroupList");
  std::vector<std::string> names;
  for (const auto& g : groups.json["groups"].GetArray()) {
    names.push_back(g["name"].GetString());
  }
  EXPECT_NE(std::find(names.begin(), names.end(), "batch"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "coordination.k8s.io"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "events.k8s.io"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "apiextensions.k8s.io"), names.end());

  Reply batch = get("/apis/batch");
  EXPECT_EQ(batch.str("/preferredVersion/groupVersion"), "batch/v1");
  Reply jobs = get("/apis/batch/v1");
  EXPECT_EQ(jobs.str("/groupVersion"), "batch/v1");
  EXPECT_EQ(jobs.str("/resources/0/name"), "jobs");
  EXPECT_EQ(jobs.str("/resources/1/name"), "jobs/status");

  Reply version = get("/version");
  EXPECT_EQ(version.str("/major"), "1");
  EXPECT_FALSE(version.str("/gitVersion").empty());
}

// Requests without the bearer token are refused with a 401 Status, as the real server does.
TEST_F(FakeKubeCrud, MissingTokenIsUnauthorized) {
  httplib::Client anonymous(kube_.url());
  Reply r = toReply(anonymous.Get("/api/v1/namespaces"));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.str("/kind"), "Status");
  EXPECT_EQ(r.str("/reason"), "Unauthorized");
  EXPECT_EQ(r.num("/code"), 401);
}

// A rotated token replaces the old one; a tokenFile kubeconfig gets the new token written.
TEST_F(FakeKubeCrud, TokenRotation) {
  char tmpl[] = "/tmp/fake-kube-token-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  ASSERT_TRUE(kube_.writeKubeconfig(dir + "/kubeconfig", dir + "/token").has_value());
  std::ifstream kubeconfig(dir + "/kubeconfig");
  std::string text((std::istreambuf_iterator<char>(kubeconfig)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("tokenFile: " + dir + "/token"), std::string::npos) << text;

  kube_.setToken("rotated-token");
  EXPECT_EQ(get("/api/v1/namespaces").status, 401);
  client_->set_bearer_token_auth("rotated-token");
  EXPECT_EQ(get("/api/v1/namespaces").status, 200);
  std::ifstream token_file(dir + "/token");
  std::string token((std::istreambuf_iterator<char>(token_file)), std::istreambuf_iterator<char>());
  EXPECT_EQ(token, "rotated-token");
  std::filesystem::remove_all(dir);
}

// Create fills in uid, resourceVersion, creationTimestamp; a second create of the same name is
// a 409 AlreadyExists Status naming the resource.
TEST_F(FakeKubeCrud, CreateAssignsMetadataAndRefusesDuplicates) {
  Reply created = post(kConfigMaps, configMap("a"));
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_FALSE(created.str("/metadata/uid").empty());
  EXPECT_FALSE(created.str("/metadata/resourceVersion").empty());
  EXPECT_FALSE(created.str("/metadata/creationTimestamp").empty());
  EXPECT_EQ(created.str("/metadata/namespace"), "default");
  EXPECT_FALSE(created.has("/metadata/generation"));

  Reply again = post(kConfigMaps, configMap("a"));
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.str("/kind"), "Status");
  EXPECT_EQ(again.str("/status"), "Failure");
  EXPECT_EQ(again.str("/reason"), "AlreadyExists");
  EXPECT_EQ(again.str("/message"), "configmaps \"a\" already exists");
  EXPECT_EQ(again.str("/details/name"), "a");
  EXPECT_EQ(again.str("/details/kind"), "configmaps");
  EXPECT_EQ(again.num("/code"), 409);
}

// generateName gets a random five-character suffix.
TEST_F(FakeKubeCrud, GenerateNameAddsSuffix) {
  Reply created = post(kConfigMaps, R"({"metadata":{"generateName":"gen-"},"data":{}})");
  ASSERT_EQ(created.status, 201);
  EXPECT_EQ(created.str("/metadata/name").rfind("gen-", 0), 0u);
  EXPECT_EQ(created.str("/metadata/name").size(), 9u);
}

// A missing object is a 404 NotFound Status with the group-qualified resource in the message.
TEST_F(FakeKubeCrud, MissingObjectIsNotFoundStatus) {
  Reply r = get("/apis/batch/v1/namespaces/default/jobs/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.str("/reason"), "NotFound");
  EXPECT_EQ(r.str("/message"), "jobs.batch \"nope\" not found");
  EXPECT_EQ(r.str("/details/group"), "batch");
  EXPECT_EQ(r.str("/details/kind"), "jobs");

  Reply unknown = get("/apis/nothing.example/v1/things");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.str("/reason"), "NotFound");
}

// Creating in a namespace that does not exist is refused with namespaces "x" not found.
TEST_F(FakeKubeCrud, CreateInMissingNamespaceIsNotFound) {
  Reply r = post("/api/v1/namespaces/ghost/configmaps", configMap("a"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.str("/message"), "namespaces \"ghost\" not found");
}

// An update carrying a stale resourceVersion is a 409 Conflict with the real server's message;
// the current one succeeds and moves the resourceVersion forward.
TEST_F(FakeKubeCrud, StaleResourceVersionUpdateConflicts) {
  Reply created = post(kConfigMaps, configMap("a"));
  const std::string rv = created.str("/metadata/resourceVersion");
  std::string body = configMap("a");
  body.insert(body.find("\"name\""), "\"resourceVersion\":\"" + rv + "\",");
  body.replace(body.find("\"v\""), 3, "\"w\"");
  Reply updated = put(std::string(kConfigMaps) + "/a", body);
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_GT(std::stoull(updated.str("/metadata/resourceVersion")), std::stoull(rv));
  EXPECT_EQ(updated.str("/data/k"), "w");

  Reply stale = put(std::string(kConfigMaps) + "/a", body);
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(stale.str("/reason"), "Conflict");
  EXPECT_EQ(stale.str("/message"),
            "Operation cannot be fulfilled on configmaps \"a\": the object has been modified; "
            "please apply your changes to the latest version and try again");
}

// resourceVersion is one counter across all resources, and a no-op update does not move it.
TEST_F(FakeKubeCrud, ResourceVersionIsGlobalAndNoOpWritesKeepIt) {
  Reply a = post(kConfigMaps, configMap("a"));
  Reply s = post("/api/v1/namespaces/default/secrets", R"({"metadata":{"name":"s"}})");
  EXPECT_GT(std::stoull(s.str("/metadata/resourceVersion")),
            std::stoull(a.str("/metadata/resourceVersion")));
  Reply same = patch(std::string(kConfigMaps) + "/a", R"({"data":{"k":"v"}})");
  EXPECT_EQ(same.status, 200);
  EXPECT_EQ(same.str("/metadata/resourceVersion"), a.str("/metadata/resourceVersion"));
  EXPECT_EQ(kube_.currentResourceVersion(), s.str("/metadata/resourceVersion"));
}

// A Secret's stringData is write-only, as on a real server: it is folded into data (base64),
// overriding a data entry of the same key, on create and on update, and never returned.
TEST_F(FakeKubeCrud, SecretStringDataFoldsIntoData) {
  Reply created = post("/api/v1/namespaces/default/secrets",
                       R"({"metadata":{"name":"slack"},"data":{"token":"b2xk","keep":"eA=="},)"
                       R"("stringData":{"token":"xoxb-1"}})");
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.str("/data/token"), "eG94Yi0x");
  EXPECT_EQ(created.str("/data/keep"), "eA==");
  EXPECT_EQ(created.str("/type"), "Opaque");
  EXPECT_EQ(created.body.find("stringData"), std::string::npos) << created.body;
  Reply updated = put("/api/v1/namespaces/default/secrets/slack",
                      R"({"metadata":{"name":"slack"},"stringData":{"token":"xoxb-2"}})");
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(updated.str("/data/token"), "eG94Yi0y");
  EXPECT_EQ(get("/api/v1/namespaces/default/secrets/slack").body.find("stringData"),
            std::string::npos);
}

struct SelectorCase {
  const char* selector;
  std::vector<std::string> expected;
};

// Label selectors support =, ==, !=, in, notin, exists and !exists.
TEST_F(FakeKubeCrud, ListFiltersByLabelSelector) {
  post(kConfigMaps, configMap("a", R"({"app":"web","tier":"front"})"));
  post(kConfigMaps, configMap("b", R"({"app":"web","tier":"back"})"));
  post(kConfigMaps, configMap("c", R"({"app":"db"})"));
  const std::vector<SelectorCase> cases = {
      {"app=web", {"a", "b"}},
      {"app==db", {"c"}},
      {"app!=web", {"c"}},
      {"tier in (front,middle)", {"a"}},
      {"tier notin (front)", {"b", "c"}},
      {"tier", {"a", "b"}},
      {"!tier", {"c"}},
      {"app=web,tier=back", {"b"}},
      {"app=none", {}},
  };
  for (const auto& c : cases) {
    Reply list = get(std::string(kConfigMaps) +
                     "?labelSelector=" + httplib::detail::encode_query_param(c.selector));
    ASSERT_EQ(list.status, 200) << c.selector;
    std::vector<std::string> names;
    for (const auto& item : list.json["items"].GetArray()) {
      names.push_back(item["metadata"]["name"].GetString());
    }
    EXPECT_EQ(names, c.expected) << c.selector;
  }
}

// Field selectors on metadata.name and metadata.namespace; other fields are a 400.
TEST_F(FakeKubeCrud, ListFiltersByFieldSelector) {
  post("/api/v1/namespaces", R"({"metadata":{"name":"other"}})");
  post(kConfigMaps, configMap("a"));
  post("/api/v1/namespaces/other/configmaps", configMap("a"));
  post(kConfigMaps, configMap("b"));
  Reply by_name = get("/api/v1/configmaps?fieldSelector=metadata.name%3Da");
  EXPECT_EQ(by_name.size("/items"), 2u);
  Reply by_ns = get("/api/v1/configmaps?fieldSelector=metadata.namespace%3Dother");
  EXPECT_EQ(by_ns.size("/items"), 1u);
  Reply not_a = get(std::string(kConfigMaps) + "?fieldSelector=metadata.name!%3Da");
  ASSERT_EQ(not_a.size("/items"), 1u);
  EXPECT_EQ(not_a.str("/items/0/metadata/name"), "b");
  Reply bad = get(std::string(kConfigMaps) + "?fieldSelector=spec.foo%3Dx");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.str("/reason"), "BadRequest");
}

// limit/continue pages through a list; built-in list items carry no kind/apiVersion; a
// continue token older than the retained history is 410 Expired.
TEST_F(FakeKubeCrud, ListPagesWithLimitAndContinue) {
  for (const char* name : {"a", "b", "c", "d", "e"}) {
    post(kConfigMaps, configMap(name));
  }
  Reply first = get(std::string(kConfigMaps) + "?limit=2");
  ASSERT_EQ(first.size("/items"), 2u);
  EXPECT_EQ(first.str("/kind"), "ConfigMapList");
  EXPECT_FALSE(first.has("/items/0/kind"));
  EXPECT_EQ(first.num("/metadata/remainingItemCount"), 3);
  std::vector<std::string> names;
  Reply page = std::move(first);
  while (true) {
    for (const auto& item : page.json["items"].GetArray()) {
      names.push_back(item["metadata"]["name"].GetString());
    }
    const std::string token = page.str("/metadata/continue");
    if (token.empty()) {
      break;
    }
    page = get(std::string(kConfigMaps) + "?limit=2&continue=" + token);
    ASSERT_EQ(page.status, 200);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c", "d", "e"}));

  Reply again = get(std::string(kConfigMaps) + "?limit=2");
  post(kConfigMaps, configMap("f"));
  kube_.compactHistory();
  Reply expired =
      get(std::string(kConfigMaps) + "?limit=2&continue=" + again.str("/metadata/continue"));
  EXPECT_EQ(expired.status, 410);
  EXPECT_EQ(expired.str("/reason"), "Expired");
}

// Merge patch (RFC 7386): null removes, objects merge; a resourceVersion in the patch is a
// precondition.
TEST_F(FakeKubeCrud, MergePatchMergesAndChecksResourceVersion) {
  post(kConfigMaps, R"({"metadata":{"name":"a"},"data":{"x":"1","y":"2"}})");
  Reply patched = patch(std::string(kConfigMaps) + "/a", R"({"data":{"x":null,"z":"3"}})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_FALSE(patched.has("/data/x"));
  EXPECT_EQ(patched.str("/data/y"), "2");
  EXPECT_EQ(patched.str("/data/z"), "3");
  Reply stale = patch(std::string(kConfigMaps) + "/a",
                      R"({"metadata":{"resourceVersion":"1"},"data":{"y":"9"}})");
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(stale.str("/reason"), "Conflict");
  Reply missing = patch(std::string(kConfigMaps) + "/zzz", "{}");
  EXPECT_EQ(missing.status, 404);
}

// JSON patch (RFC 6902) operations apply in order; a failing test op is a 422.
TEST_F(FakeKubeCrud, JsonPatchAppliesOperations) {
  post(kConfigMaps, R"({"metadata":{"name":"a","labels":{"l":"1"}},"data":{"x":"1"}})");
  Reply patched = patch(std::string(kConfigMaps) + "/a",
                        R"([{"op":"test","path":"/data/x","value":"1"},
                            {"op":"replace","path":"/data/x","value":"2"},
                            {"op":"add","path":"/data/y","value":"3"},
                            {"op":"remove","path":"/metadata/labels/l"}])",
                        "application/json-patch+json");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(patched.str("/data/x"), "2");
  EXPECT_EQ(patched.str("/data/y"), "3");
  EXPECT_FALSE(patched.has("/metadata/labels/l"));
  Reply failed =
      patch(std::string(kConfigMaps) + "/a", R"([{"op":"test","path":"/data/x","value":"nope"}])",
            "application/json-patch+json");
  EXPECT_EQ(failed.status, 422);
}

// Strategic merge patch merges built-in lists by key (containers by name) and drops directives.
TEST_F(FakeKubeCrud, StrategicMergePatchMergesContainersByName) {
  post("/api/v1/namespaces/default/pods",
       R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a:1"},
           {"name":"b","image":"b:1"}]}})");
  Reply patched = patch("/api/v1/namespaces/default/pods/p",
                        R"({"$setElementOrder/containers":[{"name":"a"},{"name":"b"}],
                            "spec":{"containers":[{"name":"b","image":"b:2"}]}})",
                        "application/strategic-merge-patch+json");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(patched.size("/spec/containers"), 2u);
  EXPECT_EQ(patched.str("/spec/containers/0/image"), "a:1");
  EXPECT_EQ(patched.str("/spec/containers/1/image"), "b:2");
  EXPECT_FALSE(patched.has("/$setElementOrder~1containers"));
}

// Server-side apply creates, requires fieldManager, reports a conflict when another manager
// owns a field with a different value, and takes ownership with force=true.
TEST_F(FakeKubeCrud, ServerSideApplyTracksFieldOwnership) {
  const std::string path = std::string(kConfigMaps) + "/a";
  Reply no_manager = patch(path, configMap("a"), "application/apply-patch+yaml");
  EXPECT_EQ(no_manager.status, 400);

  Reply created =
      patch(path + "?fieldManager=alice", configMap("a"), "application/apply-patch+yaml");
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.str("/data/k"), "v");

  const std::string bob = R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},
                              "data":{"k":"bob"}})";
  Reply conflict = patch(path + "?fieldManager=bob", bob, "application/apply-patch+yaml");
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(conflict.str("/reason"), "Conflict");
  EXPECT_EQ(conflict.str("/details/causes/0/field"), ".data.k");
  EXPECT_NE(conflict.str("/message").find("conflict with \"alice\""), std::string::npos);

  Reply forced = patch(path + "?fieldManager=bob&force=true", bob, "application/apply-patch+yaml");
  EXPECT_EQ(forced.status, 200);
  EXPECT_EQ(forced.str("/data/k"), "bob");

  // YAML bodies are accepted too; alice no longer owns data.k, so applying without it keeps it.
  Reply yaml = patch(path + "?fieldManager=alice",
                     "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  other: x\n",
                     "application/apply-patch+yaml");
  ASSERT_EQ(yaml.status, 200) << yaml.body;
  EXPECT_EQ(yaml.str("/data/k"), "bob");
  EXPECT_EQ(yaml.str("/data/other"), "x");
}

// Deleting most built-ins answers with a Success Status; deleting a Pod answers with the Pod.
TEST_F(FakeKubeCrud, DeleteAnswersLikeTheRealServer) {
  post(kConfigMaps, configMap("a"));
  Reply deleted = del(std::string(kConfigMaps) + "/a");
  EXPECT_EQ(deleted.status, 200);
  EXPECT_EQ(deleted.str("/kind"), "Status");
  EXPECT_EQ(deleted.str("/status"), "Success");
  EXPECT_EQ(deleted.str("/details/name"), "a");
  EXPECT_EQ(get(std::string(kConfigMaps) + "/a").status, 404);
  EXPECT_EQ(del(std::string(kConfigMaps) + "/a").status, 404);

  ASSERT_EQ(post("/api/v1/namespaces/default/pods",
                 R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i"}]}})")
                .status,
            201);
  Reply pod = del("/api/v1/namespaces/default/pods/p");
  EXPECT_EQ(pod.status, 200);
  EXPECT_EQ(pod.str("/kind"), "Pod");
}

// A delete precondition on a stale resourceVersion is a 409 Conflict.
TEST_F(FakeKubeCrud, DeletePreconditionIsChecked) {
  post(kConfigMaps, configMap("a"));
  Reply r = del(std::string(kConfigMaps) + "/a", R"({"preconditions":{"resourceVersion":"1"}})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.str("/reason"), "Conflict");
}

// With finalizers, delete only sets deletionTimestamp; removing the last finalizer deletes.
TEST_F(FakeKubeCrud, FinalizersHoldDeletionUntilRemoved) {
  post(kConfigMaps, R"({"metadata":{"name":"a","finalizers":["example.com/hold"]}})");
  Reply marked = del(std::string(kConfigMaps) + "/a");
  EXPECT_EQ(marked.status, 200);
  Reply held = get(std::string(kConfigMaps) + "/a");
  ASSERT_EQ(held.status, 200);
  EXPECT_FALSE(held.str("/metadata/deletionTimestamp").empty());

  Reply added = patch(std::string(kConfigMaps) + "/a",
                      R"({"metadata":{"finalizers":["example.com/hold","example.com/new"]}})");
  EXPECT_EQ(added.status, 422);

  Reply released = patch(std::string(kConfigMaps) + "/a", R"({"metadata":{"finalizers":null}})");
  EXPECT_EQ(released.status, 200);
  EXPECT_EQ(get(std::string(kConfigMaps) + "/a").status, 404);
}

// Background deletion garbage-collects dependents; Orphan keeps them and drops the reference;
// a dependent with another live owner survives.
TEST_F(FakeKubeCrud, OwnerDeletionCollectsDependents) {
  Reply owner = post(kConfigMaps, configMap("owner"));
  Reply other = post(kConfigMaps, configMap("other"));
  auto ref = [](const Reply& r, const char* name) {
    return std::string(R"({"apiVersion":"v1","kind":"ConfigMap","name":")") + name +
           R"(","uid":")" + r.str("/metadata/uid") + "\"}";
  };
  post(kConfigMaps,
       R"({"metadata":{"name":"child","ownerReferences":[)" + ref(owner, "owner") + "]}}");
  post(kConfigMaps, R"({"metadata":{"name":"shared","ownerReferences":[)" + ref(owner, "owner") +
                        "," + ref(other, "other") + "]}}");
  del(std::string(kConfigMaps) + "/owner?propagationPolicy=Background");
  EXPECT_EQ(get(std::string(kConfigMaps) + "/child").status, 404);
  Reply shared = get(std::string(kConfigMaps) + "/shared");
  ASSERT_EQ(shared.status, 200);
  EXPECT_EQ(shared.size("/metadata/ownerReferences"), 1u);

  post(kConfigMaps,
       R"({"metadata":{"name":"orphan","ownerReferences":[)" + ref(other, "other") + "]}}");
  del(std::string(kConfigMaps) + "/other", R"({"propagationPolicy":"Orphan"})");
  Reply orphan = get(std::string(kConfigMaps) + "/orphan");
  ASSERT_EQ(orphan.status, 200);
  EXPECT_FALSE(orphan.has("/metadata/ownerReferences"));
}

// Namespaces get the kubernetes finalizer and Active phase; deleting one removes its objects.
TEST_F(FakeKubeCrud, NamespaceDeletionRemovesContents) {
  Reply ns = post("/api/v1/namespaces", R"({"metadata":{"name":"tmp"}})");
  EXPECT_EQ(ns.str("/status/phase"), "Active");
  EXPECT_EQ(ns.str("/spec/finalizers/0"), "kubernetes");
  post("/api/v1/namespaces/tmp/configmaps", configMap("a"));
  del("/api/v1/namespaces/tmp");
  EXPECT_EQ(get("/api/v1/namespaces/tmp/configmaps/a").status, 404);
  EXPECT_EQ(get("/api/v1/namespaces/tmp").status, 404);
}

// Leases, both event APIs and service accounts are served.
TEST_F(FakeKubeCrud, ServesLeasesEventsAndServiceAccounts) {
  EXPECT_EQ(post("/apis/coordination.k8s.io/v1/namespaces/default/leases",
                 R"({"metadata":{"name":"l"},"spec":{"holderIdentity":"a"}})")
                .status,
            201);
  EXPECT_EQ(post("/apis/events.k8s.io/v1/namespaces/default/events",
                 R"({"metadata":{"name":"e1"},"eventTime":"2026-11-21T05:35:00.000000Z",
                     "reportingController":"opsy.dev/packer-builder","reportingInstance":"pod-1",
                     "action":"Build","reason":"R","note":"n","type":"Normal"})")
                .status,
            201);
  EXPECT_EQ(post("/api/v1/namespaces/default/events",
                 R"({"metadata":{"name":"e2"},"reason":"R","message":"m"})")
                .status,
            201);
  EXPECT_EQ(
      post("/api/v1/namespaces/default/serviceaccounts", R"({"metadata":{"name":"sa"}})").status,
      201);
  EXPECT_EQ(
      get("/apis/coordination.k8s.io/v1/namespaces/default/leases/l").str("/spec/holderIdentity"),
      "a");
}

// The request log and counters see every request with its verb, resource and status.
TEST_F(FakeKubeCrud, CountsRequestsPerVerbAndResource) {
  kube_.resetRequestLog();
  post(kConfigMaps, configMap("a"));
  patch(std::string(kConfigMaps) + "/a", R"({"data":{"k":"2"}})");
  get(std::string(kConfigMaps) + "/a");
  get(kConfigMaps);
  del(std::string(kConfigMaps) + "/a");
  EXPECT_EQ(kube_.requestCount("create", "configmaps"), 1);
  EXPECT_EQ(kube_.requestCount("patch", "configmaps"), 1);
  EXPECT_EQ(kube_.requestCount("get", "configmaps"), 1);
  EXPECT_EQ(kube_.requestCount("list", "configmaps"), 1);
  EXPECT_EQ(kube_.writeCount("configmaps"), 3);
  EXPECT_EQ(kube_.writeCount("secrets"), 0);
  auto log = kube_.requestLog();
  ASSERT_EQ(log.size(), 5u);
  EXPECT_EQ(log[0].method, "POST");
  EXPECT_EQ(log[0].status, 201);
  EXPECT_EQ(log[0].namespace_name, "default");
  EXPECT_EQ(log[1].name, "a");
  EXPECT_EQ(log[1].content_type, "application/merge-patch+json");
}

// The direct test API writes through the same store (and watch history) as HTTP.
TEST_F(FakeKubeCrud, DirectApiSharesTheStore) {
  auto created = kube_.createObject(
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d","namespace":"default"}})");
  ASSERT_TRUE(created.has_value());
  EXPECT_EQ(get(std::string(kConfigMaps) + "/d").status, 200);
  EXPECT_TRUE(kube_.getObject("v1", "ConfigMap", "default", "d").has_value());
  EXPECT_EQ(kube_.listObjects("v1", "ConfigMap", "default").size(), 1u);
  EXPECT_TRUE(kube_.deleteObject("v1", "ConfigMap", "default", "d").has_value());
  EXPECT_EQ(kube_.getObject("v1", "ConfigMap", "default", "d").error().code, ErrorCode::NotFound);
  EXPECT_EQ(kube_.writeCount(), 0);
}

// Optimistic concurrency holds under contention: concurrent read-modify-write loops that retry
// on 409 lose no increment.
TEST_F(FakeKubeCrud, ConcurrentUpdatesLoseNothing) {
  post(kConfigMaps, R"({"metadata":{"name":"counter"},"data":{"n":"0"}})");
  constexpr int kThreads = 4;
  constexpr int kIncrements = 10;
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      httplib::Client client(kube_.url());
      client.set_bearer_token_auth(kube_.token().c_str());
      for (int i = 0; i < kIncrements;) {
        Reply current = toReply(client.Get((std::string(kConfigMaps) + "/counter").c_str()));
        const int n = std::stoi(current.str("/data/n"));
        const std::string body = R"({"metadata":{"name":"counter","resourceVersion":")" +
                                 current.str("/metadata/resourceVersion") + R"("},"data":{"n":")" +
                                 std::to_string(n + 1) + "\"}}";
        auto r =
            client.Put((std::string(kConfigMaps) + "/counter").c_str(), body, "application/json");
        if (r && r->status == 200) {
          ++i;
        } else if (r && r->status == 409) {
          ++conflicts;
        } else {
          ADD_FAILURE() << "unexpected answer";
          return;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(get(std::string(kConfigMaps) + "/counter").str("/data/n"),
            std::to_string(kThreads * kIncrements));
  EXPECT_EQ(kube_.requestCount("update", "configmaps"), kThreads * kIncrements + conflicts);
}

// Timestamps come from the injected clock.
TEST(FakeKubeClock, TimestampsComeFromInjectedClock) {
  auto clock = std::make_shared<FakeClock>(parseRfc3339("2026-03-01T10:00:00Z").value());
  FakeKubeOptions options;
  options.clock = clock;
  FakeKube kube(options);
  ASSERT_TRUE(kube.start().has_value());
  auto created = kube.createObject(
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"default"}})");
  ASSERT_TRUE(created.has_value());
  EXPECT_NE(created->find(R"("creationTimestamp":"2026-03-01T10:00:00Z")"), std::string::npos)
      << *created;
}

// events.k8s.io/v1 Events are validated strictly (eventTime, reportingController,
// reportingInstance, action, reason, type), as the real API does for that version.
TEST_F(FakeKubeCrud, EventsApiValidatesRequiredFields) {
  Reply r = post("/apis/events.k8s.io/v1/namespaces/default/events",
                 R"({"metadata":{"name":"e"},"reason":"R","type":"Info"})");
  ASSERT_EQ(r.status, 422);
  std::vector<std::string> fields;
  for (const auto& c : r.json["details"]["causes"].GetArray()) {
    fields.push_back(c["field"].GetString());
  }
  EXPECT_EQ(fields, (std::vector<std::string>{"eventTime", "type", "reportingController",
                                              "reportingInstance", "action"}));
  EXPECT_EQ(r.str("/details/kind"), "Event");
  EXPECT_EQ(r.str("/message").rfind("Event.events.k8s.io \"e\" is invalid: [eventTime: ", 0), 0u);
}

// Both Event APIs show the same stored objects: events.k8s.io/v1 fields map onto core v1 ones.
TEST_F(FakeKubeCrud, EventApisShareObjects) {
  Reply created = post("/apis/events.k8s.io/v1/namespaces/default/events",
                       R"({"metadata":{"name":"e"},"eventTime":"2026-11-21T05:35:00.000000Z",
                           "reportingController":"opsy.dev/packer-builder",
                           "reportingInstance":"pod-1","action":"Build","reason":"Started",
                           "note":"build started","type":"Normal",
                           "regarding":{"kind":"PackerBuilder","name":"pb","namespace":"default"}})");
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.str("/apiVersion"), "events.k8s.io/v1");
  EXPECT_EQ(created.str("/note"), "build started");
  Reply core = get("/api/v1/namespaces/default/events/e");
  ASSERT_EQ(core.status, 200);
  EXPECT_EQ(core.str("/apiVersion"), "v1");
  EXPECT_EQ(core.str("/message"), "build started");
  EXPECT_EQ(core.str("/involvedObject/name"), "pb");
  EXPECT_EQ(core.str("/reportingComponent"), "opsy.dev/packer-builder");
  Reply patched =
      patch("/apis/events.k8s.io/v1/namespaces/default/events/e",
            R"({"series":{"count":2,"lastObservedTime":"2026-11-21T05:36:00.000000Z"}})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(patched.str("/note"), "build started");
  EXPECT_EQ(get("/api/v1/namespaces/default/events").size("/items"), 1u);
  EXPECT_EQ(get("/apis/events.k8s.io/v1/namespaces/default/events").str("/items/0/regarding/name"),
            "pb");
}

// Events are selectable by involvedObject fields (kubectl describe lists them that way), and the
// events.k8s.io names select the same objects.
TEST_F(FakeKubeCrud, EventFieldSelectors) {
  post("/api/v1/namespaces/default/events",
       R"({"metadata":{"name":"e1"},"reason":"Built","type":"Normal",
           "involvedObject":{"kind":"PackerBuilder","name":"pb","namespace":"default"}})");
  post("/api/v1/namespaces/default/events",
       R"({"metadata":{"name":"e2"},"reason":"Failed","type":"Warning",
           "involvedObject":{"kind":"PackerBuilder","name":"other","namespace":"default"}})");
  Reply by_object = get("/api/v1/namespaces/default/events?fieldSelector=" +
                        httplib::detail::encode_query_param(
                            "involvedObject.name=pb,involvedObject.kind=PackerBuilder"));
  ASSERT_EQ(by_object.status, 200) << by_object.body;
  ASSERT_EQ(by_object.size("/items"), 1u);
  EXPECT_EQ(by_object.str("/items/0/metadata/name"), "e1");
  Reply warnings = get("/apis/events.k8s.io/v1/namespaces/default/events?fieldSelector=" +
                       httplib::detail::encode_query_param("type=Warning,regarding.name=other"));
  ASSERT_EQ(warnings.size("/items"), 1u);
  EXPECT_EQ(warnings.str("/items/0/metadata/name"), "e2");
  Reply bad = get("/api/v1/namespaces/default/events?fieldSelector=spec.x%3Dy");
  EXPECT_EQ(bad.status, 400);
}

// A Lease with a non-positive leaseDurationSeconds is refused.
TEST_F(FakeKubeCrud, LeaseDurationMustBePositive) {
  Reply r = post("/apis/coordination.k8s.io/v1/namespaces/default/leases",
                 R"({"metadata":{"name":"l"},"spec":{"leaseDurationSeconds":0}})");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.str("/details/causes/0/field"), "spec.leaseDurationSeconds");
}

// deletecollection deletes every object matching the selector and nothing else.
TEST_F(FakeKubeCrud, DeleteCollectionHonoursSelector) {
  post(kConfigMaps, configMap("a", R"({"app":"web"})"));
  post(kConfigMaps, configMap("b", R"({"app":"web"})"));
  post(kConfigMaps, configMap("c", R"({"app":"db"})"));
  Reply r = del(std::string(kConfigMaps) + "?labelSelector=app%3Dweb");
  EXPECT_EQ(r.status, 200);
  Reply left = get(kConfigMaps);
  ASSERT_EQ(left.size("/items"), 1u);
  EXPECT_EQ(left.str("/items/0/metadata/name"), "c");
  EXPECT_EQ(kube_.requestCount("deletecollection", "configmaps"), 1);
}

// dryRun=All answers as if the write happened but stores nothing.
TEST_F(FakeKubeCrud, DryRunStoresNothing) {
  Reply r = post(std::string(kConfigMaps) + "?dryRun=All", configMap("a"));
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(get(std::string(kConfigMaps) + "/a").status, 404);
}

}  // namespace
}  // namespace opsy::testing
