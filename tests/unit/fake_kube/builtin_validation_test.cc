// The fake API server refuses built-in objects a real one refuses, with the real status code,
// message and causes: the Jobs the PackerBuilder could write with a bad spec, names and labels,
// Secret keys, and request and object sizes.
#include "fake_kube_fixture.h"

namespace opsy::testing {
namespace {

constexpr const char* kJobs = "/apis/batch/v1/namespaces/default/jobs";
constexpr const char* kSecrets = "/api/v1/namespaces/default/secrets";
constexpr const char* kConfigMaps = "/api/v1/namespaces/default/configmaps";

// A build Job shaped like the controller's: git-sync as an init container, then packer.
std::string buildJob(const std::string& git_sync_name, const std::string& cpu = "\"500m\"",
                     const std::string& name = "build-1") {
  return R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":")" + name +
         R"("},"spec":{"template":{"spec":{"restartPolicy":"Never",
            "volumes":[{"name":"src","emptyDir":{}}],
            "initContainers":[{"name":")" +
         git_sync_name + R"(","image":"registry.k8s.io/git-sync/git-sync:v4.2.4",
              "volumeMounts":[{"name":"src","mountPath":"/src"}]}],
            "containers":[{"name":"packer-build","image":"hashicorp/packer:1.11",
              "resources":{"requests":{"cpu":)" +
         cpu + R"(,"memory":"512Mi"}},
              "volumeMounts":[{"name":"src","mountPath":"/src"}]}]}}}})";
}

using FakeKubeBuiltinValidation = FakeKubeTest;

// gitSync.name: packer-build gives two containers one name: 422 with the real Duplicate cause.
TEST_F(FakeKubeBuiltinValidation, DuplicateContainerNameAcrossInitContainersIsRefused) {
  ASSERT_EQ(post(kJobs, buildJob("git-sync")).status, 201);
  Reply r = post(kJobs, buildJob("packer-build", "\"500m\"", "build-2"));
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.str("/reason"), "Invalid");
  EXPECT_EQ(r.str("/message"),
            "Job.batch \"build-2\" is invalid: spec.template.spec.containers[0].name: Duplicate "
            "value: \"packer-build\"");
  EXPECT_EQ(r.str("/details/causes/0/reason"), "FieldValueDuplicate");
  EXPECT_EQ(r.str("/details/causes/0/field"), "spec.template.spec.containers[0].name");
  EXPECT_EQ(kube_.listObjects("batch/v1", "Job", "default").size(), 1u);
}

// A resource quantity that is not one fails decoding: 400, with the regular expression.
TEST_F(FakeKubeBuiltinValidation, QuantityThatIsNotOneIsABadRequest) {
  Reply r = post(kJobs, buildJob("git-sync", "\"lots\""));
  ASSERT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.str("/reason"), "BadRequest");
  EXPECT_EQ(r.str("/message"),
            "Job in version \"v1\" cannot be handled as a Job: quantities must match the regular "
            "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
  int n = 0;
  for (const char* ok : {"\"2\"", "\"0.5\"", "\"100m\"", "\"1e3\"", "2", "\"+1Ki\""}) {
    EXPECT_EQ(post(kJobs, buildJob("git-sync", ok, "ok-" + std::to_string(n++))).status, 201) << ok;
  }
  EXPECT_EQ(post(kJobs, buildJob("git-sync", "\"1Kb\"", "bad-suffix")).status, 400);
}

// Pod template rules: containers required, names are DNS labels, images required, ports in range,
// pull policies from the enum, mounts name a volume; every problem is a cause.
TEST_F(FakeKubeBuiltinValidation, PodTemplateRulesNameEachField) {
  Reply r = post(kJobs, R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"bad"},
      "spec":{"template":{"spec":{"restartPolicy":"Never","containers":[
        {"name":"Packer","image":"","imagePullPolicy":"Sometimes",
         "ports":[{"containerPort":70000}],
         "volumeMounts":[{"name":"missing","mountPath":"/x"}]}]}}}})");
  ASSERT_EQ(r.status, 422) << r.body;
  std::vector<std::string> fields;
  for (const auto& c : r.json["details"]["causes"].GetArray()) {
    fields.emplace_back(c["field"].GetString());
  }
  EXPECT_EQ(fields, (std::vector<std::string>{
                        "spec.template.spec.containers[0].name",
                        "spec.template.spec.containers[0].image",
                        "spec.template.spec.containers[0].imagePullPolicy",
                        "spec.template.spec.containers[0].ports[0].containerPort",
                        "spec.template.spec.containers[0].volumeMounts[0].name",
                    }));
  EXPECT_NE(r.body.find("Invalid value: 70000: must be between 1 and 65535, inclusive"),
            std::string::npos);
  EXPECT_NE(
      r.body.find(
          R"(Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\")"),
      std::string::npos);
  Reply empty = post(kJobs, R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"e"},
      "spec":{"template":{"spec":{"restartPolicy":"Never","containers":[]}}}})");
  ASSERT_EQ(empty.status, 422);
  EXPECT_EQ(empty.str("/details/causes/0/field"), "spec.template.spec.containers");
}

// A Job's pod template cannot change after creation.
TEST_F(FakeKubeBuiltinValidation, JobTemplateIsImmutable) {
  ASSERT_EQ(post(kJobs, buildJob("git-sync")).status, 201);
  Reply r = patch(std::string(kJobs) + "/build-1",
                  R"({"spec":{"template":{"spec":{"containers":[{"name":"packer-build",
                      "image":"hashicorp/packer:1.12"}]}}}})",
                  "application/strategic-merge-patch+json");
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.str("/details/causes/0/field"), "spec.template");
  EXPECT_NE(r.str("/message").find("field is immutable"), std::string::npos);
  // Labels on the Job itself may change.
  EXPECT_EQ(patch(std::string(kJobs) + "/build-1", R"({"metadata":{"labels":{"a":"b"}}})").status,
            200);
}

// Object names and labels follow the real syntax rules, with the real messages.
TEST_F(FakeKubeBuiltinValidation, NamesAndLabelsFollowTheRealSyntax) {
  Reply name = post(kConfigMaps, R"({"metadata":{"name":"Bad_Name"}})");
  ASSERT_EQ(name.status, 422);
  EXPECT_EQ(name.str("/message"),
            "ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a "
            "lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
            "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
            "regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
  Reply label = post(kConfigMaps, R"({"metadata":{"name":"ok","labels":{"team":"a b"}}})");
  ASSERT_EQ(label.status, 422);
  EXPECT_EQ(label.str("/details/causes/0/field"), "metadata.labels");
  const std::string long_value(64, 'a');
  EXPECT_EQ(post(kConfigMaps, R"({"metadata":{"name":"ok","labels":{"t":")" + long_value + "\"}}}")
                .status,
            422);
  EXPECT_EQ(
      post(kConfigMaps,
           R"({"metadata":{"name":"ok","labels":{"ami.refresh.ops/packer-build":"true","e":""}}})")
          .status,
      201);
}

// Secret and ConfigMap keys are config keys.
TEST_F(FakeKubeBuiltinValidation, SecretKeysMustBeConfigKeys) {
  Reply r = post(kSecrets, R"({"metadata":{"name":"s"},"data":{"bad/key":"eA=="}})");
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.str("/details/causes/0/field"), "data[bad/key]");
  EXPECT_EQ(
      post(kSecrets, R"({"metadata":{"name":"s"},"data":{"AWS_ACCESS_KEY_ID":"eA=="}})").status,
      201);
}

// A body over 3 MiB is refused before decoding (413); an object over etcd's 1.5 MiB is not stored
// (500 from etcd), also through an update; nothing reaches watchers.
TEST_F(FakeKubeBuiltinValidation, RequestAndObjectSizesAreBounded) {
  const std::string big(3 * 1024 * 1024, 'x');
  Reply huge = post(kConfigMaps, R"({"metadata":{"name":"huge"},"data":{"k":")" + big + "\"}}");
  ASSERT_EQ(huge.status, 413);
  EXPECT_EQ(huge.str("/reason"), "RequestEntityTooLarge");
  EXPECT_EQ(huge.str("/message"), "Request entity too large: limit is 3145728");

  const std::string two_mb(2 * 1024 * 1024, 'x');
  Reply large =
      post(kConfigMaps, R"({"metadata":{"name":"large"},"data":{"k":")" + two_mb + "\"}}");
  ASSERT_EQ(large.status, 500) << large.body.substr(0, 200);
  EXPECT_EQ(large.str("/message"), "etcdserver: request is too large");
  EXPECT_EQ(get(std::string(kConfigMaps) + "/large").status, 404);

  ASSERT_EQ(post(kConfigMaps, R"({"metadata":{"name":"grows"},"data":{"k":"v"}})").status, 201);
  Reply grown = patch(std::string(kConfigMaps) + "/grows", R"({"data":{"k":")" + two_mb + "\"}}");
  EXPECT_EQ(grown.status, 500);
  EXPECT_EQ(get(std::string(kConfigMaps) + "/grows").str("/data/k"), "v");
}

}  // namespace
}  // namespace opsy::testing
