#include <gtest/gtest.h>

#include "fake_kube_fixture.h"
#include "support/fake_kube_api.h"

namespace opsy::testing {
namespace {

class FakeKubeCrd : public FakeKubeTest {
 protected:
  void SetUp() override {
    FakeKubeTest::SetUp();
    installCrd();
  }
  std::string pbPath(const std::string& name = "") {
    return name.empty() ? kPbPath : std::string(kPbPath) + "/" + name;
  }
};

// An applied CRD is Established (and its names accepted), and its group appears in discovery.
TEST_F(FakeKubeCrd, CrdIsEstablishedAndDiscoverable) {
  Reply crd =
      get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
          "packerbuilders.ami.refresh.ops");
  ASSERT_EQ(crd.status, 200);
  bool established = false;
  for (const auto& c : crd.json["status"]["conditions"].GetArray()) {
    established = established || (std::string(c["type"].GetString()) == "Established" &&
                                  std::string(c["status"].GetString()) == "True");
  }
  EXPECT_TRUE(established);
  EXPECT_EQ(crd.str("/status/storedVersions/0"), "v1alpha1");

  Reply group = get("/apis/ami.refresh.ops");
  EXPECT_EQ(group.str("/preferredVersion/version"), "v1alpha1");
  Reply resources = get("/apis/ami.refresh.ops/v1alpha1");
  EXPECT_EQ(resources.str("/resources/0/name"), "packerbuilders");
  EXPECT_EQ(resources.str("/resources/0/kind"), "PackerBuilder");
  EXPECT_EQ(resources.str("/resources/0/shortNames/0"), "pb");
  EXPECT_EQ(resources.str("/resources/1/name"), "packerbuilders/status");
}

// Defaults from the schema are applied; unknown fields are pruned except under
// x-kubernetes-preserve-unknown-fields; generation starts at 1.
TEST_F(FakeKubeCrd, CreateDefaultsAndPrunes) {
  Reply r = post(pbPath(), packerBuilder("a", R"(,"bogus":1,"extra":{"anything":{"x":1}})"));
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.num("/spec/maxFailedJobs"), 3);
  EXPECT_EQ(r.str("/spec/builder/branch"), "main");
  EXPECT_FALSE(r.has("/spec/bogus"));
  EXPECT_TRUE(r.has("/spec/extra/anything/x"));
  EXPECT_EQ(r.num("/metadata/generation"), 1);
  EXPECT_EQ(r.str("/apiVersion"), "ami.refresh.ops/v1alpha1");
  // Unknown fields produce a warning by default, and a 400 under fieldValidation=Strict.
  auto warning = r.headers.find("Warning");
  ASSERT_NE(warning, r.headers.end());
  EXPECT_EQ(warning->second, R"(299 - "unknown field \"spec.bogus\"")");
  Reply strict = post(pbPath() + "?fieldValidation=Strict", packerBuilder("b", R"(,"bogus":1)"));
  EXPECT_EQ(strict.status, 400);
  EXPECT_EQ(strict.str("/message"), "strict decoding error: unknown field \"spec.bogus\"");
}

// An enum violation is a 422 Invalid Status shaped exactly like the real server's.
TEST_F(FakeKubeCrd, EnumViolationIsInvalidWithFieldPath) {
  Reply r = post(pbPath(), packerBuilder("x", "").replace(packerBuilder("x", "").find("\"}}") + 1,
                                                          0, R"(,"commands":[{"onError":"ask"}])"));
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.str("/reason"), "Invalid");
  EXPECT_EQ(r.str("/message"),
            "PackerBuilder.ami.refresh.ops \"x\" is invalid: spec.builder.commands[0].onError: "
            "Unsupported value: \"ask\": supported values: \"cleanup\", \"abort\", "
            "\"run-cleanup-provisioner\"");
  EXPECT_EQ(r.str("/details/name"), "x");
  EXPECT_EQ(r.str("/details/group"), "ami.refresh.ops");
  EXPECT_EQ(r.str("/details/kind"), "PackerBuilder");
  EXPECT_EQ(r.str("/details/causes/0/reason"), "FieldValueNotSupported");
  EXPECT_EQ(r.str("/details/causes/0/field"), "spec.builder.commands[0].onError");
  EXPECT_EQ(r.str("/details/causes/0/message"),
            "Unsupported value: \"ask\": supported values: \"cleanup\", \"abort\", "
            "\"run-cleanup-provisioner\"");
}

struct Violation {
  const char* spec;  // the whole spec object
  const char* reason;
  const char* field;
  const char* message;
};

// Each schema keyword is enforced with the real server's cause reason, field and message.
TEST_F(FakeKubeCrd, SchemaKeywordsAreEnforced) {
  const std::vector<Violation> cases = {
      {R"({"builder":{"repoURL":"r"}})", "FieldValueRequired", "spec.region", "Required value"},
      {R"({"region":"nowhere","builder":{"repoURL":"r"}})", "FieldValueInvalid", "spec.region",
       "Invalid value: \"nowhere\": spec.region in body should match "
       "'^[a-z]{2}-[a-z]+-[0-9]$'"},
      {R"({"region":"us-east-1","builder":{"repoURL":"r"},"maxFailedJobs":0})", "FieldValueInvalid",
       "spec.maxFailedJobs",
       "Invalid value: 0: spec.maxFailedJobs in body should be greater than or equal to 1"},
      {R"({"region":"us-east-1","builder":{"repoURL":"r"},"maxFailedJobs":11})",
       "FieldValueInvalid", "spec.maxFailedJobs",
       "Invalid value: 11: spec.maxFailedJobs in body should be less than or equal to 10"},
      {R"({"region":"us-east-1","builder":{"repoURL":"r"},"maxFailedJobs":"3"})",
       "FieldValueTypeInvalid", "spec.maxFailedJobs",
       "Invalid value: \"string\": spec.maxFailedJobs in body must be of type integer: "
       "\"string\""},
      {R"({"region":"us-east-1","builder":{"repoURL":"r"},"clusterName":""})", "FieldValueInvalid",
       "spec.clusterName",
       "Invalid value: \"\": spec.clusterName in body should be at least 1 chars long"},
      {R"({"region":"us-east-1","builder":{"repoURL":"r"},"clusterName":"abcdefghijk"})",
       "FieldValueTooLong", "spec.clusterName", "Too long: may not be more than 10 bytes"},
      {R"({"region":"us-east-1","builder":{"repoURL":"r","commands":[]}})", "FieldValueInvalid",
       "spec.builder.commands",
       "Invalid value: 0: spec.builder.commands in body should have at least 1 items"},
      {R"({"region":"us-east-1","builder":{"repoURL":"r","commands":[{},{},{}]}})",
       "FieldValueTooMany", "spec.builder.commands", "Too many: 3: must have at most 2 items"},
      {R"({"region":"us-east-1","builder":{"repoURL":"r","commands":[{"debug":"yes"}]}})",
       "FieldValueTypeInvalid", "spec.builder.commands[0].debug",
       "Invalid value: \"string\": spec.builder.commands[0].debug in body must be of type "
       "boolean: \"string\""},
      {R"({"region":"us-east-1","builder":{"repoURL":"r","commands":[{"variables":{"a":1}}]}})",
       "FieldValueTypeInvalid", "spec.builder.commands[0].variables[a]",
       "Invalid value: \"integer\": spec.builder.commands[0].variables[a] in body must be of "
       "type string: \"integer\""},
  };
  for (const auto& c : cases) {
    const std::string body =
        R"({"apiVersion":"ami.refresh.ops/v1alpha1","kind":"PackerBuilder","metadata":{"name":"v"},"spec":)" +
        std::string(c.spec) + "}";
    Reply r = post(pbPath(), body);
    ASSERT_EQ(r.status, 422) << c.spec << " -> " << r.body;
    EXPECT_EQ(r.str("/details/causes/0/reason"), c.reason) << c.spec;
    EXPECT_EQ(r.str("/details/causes/0/field"), c.field) << c.spec;
    EXPECT_EQ(r.str("/details/causes/0/message"), c.message) << c.spec;
    EXPECT_EQ(r.str("/message"), std::string("PackerBuilder.ami.refresh.ops \"v\" is invalid: ") +
                                     c.field + ": " + c.message)
        << c.spec;
  }
}

// Several violations are listed in brackets, one cause each.
TEST_F(FakeKubeCrd, SeveralViolationsAreBracketed) {
  Reply r = post(pbPath(),
                 R"({"apiVersion":"ami.refresh.ops/v1alpha1","kind":"PackerBuilder",
                     "metadata":{"name":"v"},"spec":{"maxFailedJobs":0}})");
  ASSERT_EQ(r.status, 422);
  EXPECT_EQ(r.size("/details/causes"), 3u);
  EXPECT_EQ(r.str("/message"),
            "PackerBuilder.ami.refresh.ops \"v\" is invalid: [spec.region: Required value, "
            "spec.builder: Required value, spec.maxFailedJobs: Invalid value: 0: "
            "spec.maxFailedJobs in body should be greater than or equal to 1]");
}

// With a status subresource, main-resource writes ignore .status and /status writes ignore
// everything else; generation moves only on spec changes.
TEST_F(FakeKubeCrd, StatusSubresourceSeparatesSpecAndStatus) {
  Reply created = post(pbPath(), packerBuilder("a"));
  ASSERT_EQ(created.status, 201);

  Reply status_write = patch(pbPath("a") + "/status",
                             R"({"spec":{"region":"eu-west-1"},"status":{"state":"Building"}})");
  ASSERT_EQ(status_write.status, 200) << status_write.body;
  EXPECT_EQ(status_write.str("/status/state"), "Building");
  EXPECT_EQ(status_write.str("/spec/region"), "us-east-1");
  EXPECT_EQ(status_write.num("/metadata/generation"), 1);

  Reply main_write =
      patch(pbPath("a"), R"({"spec":{"region":"eu-west-1"},"status":{"state":"Ignored"}})");
  ASSERT_EQ(main_write.status, 200);
  EXPECT_EQ(main_write.str("/status/state"), "Building");
  EXPECT_EQ(main_write.str("/spec/region"), "eu-west-1");
  EXPECT_EQ(main_write.num("/metadata/generation"), 2);

  Reply label_only = patch(pbPath("a"), R"({"metadata":{"labels":{"x":"y"}}})");
  EXPECT_EQ(label_only.num("/metadata/generation"), 2);

  // PUT to /status with a stale resourceVersion conflicts like any update.
  const std::string stale = created.body;
  Reply conflict = put(pbPath("a") + "/status", stale);
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(conflict.str("/message"),
            "Operation cannot be fulfilled on packerbuilders.ami.refresh.ops \"a\": the object "
            "has been modified; please apply your changes to the latest version and try again");

  // Status is validated against the schema too.
  Reply bad_status = patch(pbPath("a") + "/status", R"({"status":{"observedGeneration":"x"}})");
  EXPECT_EQ(bad_status.status, 422);
}

// Asked for a Table (as kubectl does), custom resources come back as meta.k8s.io/v1 Tables with
// the Name column, the CRD's printer columns, and PartialObjectMetadata rows.
TEST_F(FakeKubeCrd, TableOutputUsesPrinterColumns) {
  const std::string crd = R"({"apiVersion":"apiextensions.k8s.io/v1",
    "kind":"CustomResourceDefinition","metadata":{"name":"widgets.example.com"},
    "spec":{"group":"example.com","scope":"Namespaced",
      "names":{"plural":"widgets","singular":"widget","kind":"Widget"},
      "versions":[{"name":"v1","served":true,"storage":true,
        "additionalPrinterColumns":[
          {"name":"Size","type":"integer","jsonPath":".spec.size"},
          {"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}],
        "schema":{"openAPIV3Schema":{"type":"object",
          "x-kubernetes-preserve-unknown-fields":true}}}]}})";
  ASSERT_EQ(post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd).status, 201);
  ASSERT_EQ(post("/apis/example.com/v1/namespaces/default/widgets",
                 R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},
                     "spec":{"size":3},"status":{"conditions":[{"type":"Other","status":"False"},
                     {"type":"Ready","status":"True"}]}})")
                .status,
            201);
  httplib::Headers accept = {
      {"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}};
  Reply r = toReply(client_->Get("/apis/example.com/v1/namespaces/default/widgets", accept));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.str("/kind"), "Table");
  EXPECT_EQ(r.str("/apiVersion"), "meta.k8s.io/v1");
  EXPECT_EQ(r.str("/columnDefinitions/0/name"), "Name");
  EXPECT_EQ(r.str("/columnDefinitions/1/name"), "Size");
  EXPECT_EQ(r.str("/columnDefinitions/2/name"), "Ready");
  EXPECT_EQ(r.str("/rows/0/cells/0"), "w");
  EXPECT_EQ(r.num("/rows/0/cells/1"), 3);
  EXPECT_EQ(r.str("/rows/0/cells/2"), "True");
  EXPECT_EQ(r.str("/rows/0/object/kind"), "PartialObjectMetadata");
  EXPECT_EQ(r.str("/rows/0/object/metadata/name"), "w");
  // Without the Table media type the list is an ordinary list.
  EXPECT_EQ(get("/apis/example.com/v1/namespaces/default/widgets").str("/kind"), "WidgetList");
}

struct AgeCase {
  int64_t seconds;
  const char* text;
};

// Ages print the way kubectl shows them.
TEST(FakeKubeTable, HumanDurationMatchesKubernetes) {
  const std::vector<AgeCase> cases = {
      {0, "0s"},           {119, "119s"},           {125, "2m5s"},      {600, "10m"},
      {3 * 3600, "3h"},    {3 * 3600 + 60, "3h1m"}, {47 * 3600, "47h"}, {50 * 3600, "2d2h"},
      {30 * 86400, "30d"}, {800 * 86400, "2y70d"}};
  for (const auto& c : cases) {
    EXPECT_EQ(humanDuration(std::chrono::seconds(c.seconds)), c.text) << c.seconds;
  }
}

// Every served version of a CRD reads and writes the same objects, each returned with the
// apiVersion it was asked for; x-kubernetes-int-or-string accepts both and nullable allows null.
TEST_F(FakeKubeCrd, ServedVersionsShareObjects) {
  const std::string crd = R"({"apiVersion":"apiextensions.k8s.io/v1",
    "kind":"CustomResourceDefinition","metadata":{"name":"gadgets.example.com"},
    "spec":{"group":"example.com","scope":"Cluster",
      "names":{"plural":"gadgets","singular":"gadget","kind":"Gadget"},
      "versions":[
        {"name":"v1beta1","served":true,"storage":false,"schema":{"openAPIV3Schema":{
          "type":"object","properties":{"spec":{"type":"object","properties":{
            "port":{"x-kubernetes-int-or-string":true},
            "note":{"type":"string","nullable":true}}}}}}},
        {"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{
          "type":"object","properties":{"spec":{"type":"object","properties":{
            "port":{"x-kubernetes-int-or-string":true},
            "note":{"type":"string","nullable":true}}}}}}}]}})";
  ASSERT_EQ(post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd).status, 201);
  Reply created = post("/apis/example.com/v1beta1/gadgets",
                       R"({"apiVersion":"example.com/v1beta1","kind":"Gadget",
                           "metadata":{"name":"g"},"spec":{"port":"http","note":null}})");
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_TRUE(created.has("/spec/note"));
  Reply as_v1 = get("/apis/example.com/v1/gadgets/g");
  ASSERT_EQ(as_v1.status, 200);
  EXPECT_EQ(as_v1.str("/apiVersion"), "example.com/v1");
  EXPECT_EQ(as_v1.str("/spec/port"), "http");
  EXPECT_FALSE(as_v1.has("/metadata/namespace"));
  Reply numeric = patch("/apis/example.com/v1/gadgets/g", R"({"spec":{"port":8080}})");
  EXPECT_EQ(numeric.status, 200);
  Reply invalid = patch("/apis/example.com/v1/gadgets/g", R"({"spec":{"port":true}})");
  EXPECT_EQ(invalid.status, 422);
  EXPECT_EQ(invalid.str("/details/causes/0/field"), "spec.port");
  // Cluster-scoped resources have no namespaced path.
  EXPECT_EQ(get("/apis/example.com/v1/namespaces/default/gadgets/g").status, 404);
}

// Custom resources reject strategic merge patch (415), as the real server does.
TEST_F(FakeKubeCrd, StrategicMergePatchIsUnsupportedForCustomResources) {
  post(pbPath(), packerBuilder("a"));
  Reply r = patch(pbPath("a"), R"({"spec":{}})", "application/strategic-merge-patch+json");
  EXPECT_EQ(r.status, 415);
  EXPECT_EQ(r.str("/reason"), "UnsupportedMediaType");
}

// Custom resource lists keep kind/apiVersion on items and are typed <Kind>List.
TEST_F(FakeKubeCrd, ListsCustomResources) {
  post(pbPath(), packerBuilder("a"));
  post(pbPath(), packerBuilder("b"));
  Reply list = get(pbPath());
  EXPECT_EQ(list.str("/kind"), "PackerBuilderList");
  EXPECT_EQ(list.size("/items"), 2u);
  EXPECT_EQ(list.str("/items/0/kind"), "PackerBuilder");
}

// Deleting the CRD removes its custom resources and stops serving the resource.
TEST_F(FakeKubeCrd, DeletingCrdRemovesResources) {
  post(pbPath(), packerBuilder("a"));
  Reply d =
      del("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
          "packerbuilders.ami.refresh.ops");
  EXPECT_EQ(d.status, 200);
  EXPECT_EQ(get(pbPath("a")).status, 404);
  EXPECT_EQ(get("/apis/ami.refresh.ops/v1alpha1").status, 404);
  EXPECT_TRUE(kube_.listObjects("ami.refresh.ops/v1alpha1", "PackerBuilder").empty());
}

// OpenAPI v3 lists every group-version and declares fieldValidation on PATCH (kubectl checks).
TEST_F(FakeKubeCrd, OpenApiV3DescribesCustomResources) {
  Reply root = get("/openapi/v3");
  ASSERT_EQ(root.status, 200);
  EXPECT_EQ(root.str("/paths/apis~1ami.refresh.ops~1v1alpha1/serverRelativeURL"),
            "/openapi/v3/apis/ami.refresh.ops/v1alpha1");
  Reply gv = get("/openapi/v3/apis/ami.refresh.ops/v1alpha1");
  ASSERT_EQ(gv.status, 200);
  EXPECT_EQ(gv.str("/paths/~1apis~1ami.refresh.ops~1v1alpha1~1namespaces~1{namespace}~1"
                   "packerbuilders~1{name}/patch/parameters/2/name"),
            "fieldValidation");
  EXPECT_EQ(gv.str("/components/schemas/ops.refresh.ami.v1alpha1.PackerBuilder/properties/spec/"
                   "properties/region/pattern"),
            "^[a-z]{2}-[a-z]+-[0-9]$");
}

}  // namespace
}  // namespace opsy::testing
