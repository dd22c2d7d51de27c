// With OPSY_FAKE_KUBE_CAPTURE_DIR set, the fake appends every built-in object a client wrote
// over HTTP to a file there, as stored, for tests/conformance to check; and nothing else.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "fake_kube_fixture.h"

namespace opsy::testing {
namespace {

// Sets the variable before the fixture's FakeKube is made (base classes are built in order).
struct CaptureDirectory {
  CaptureDirectory() {
    char tmpl[] = "/tmp/fake-kube-capture-XXXXXX";
    if (mkdtemp(tmpl) != nullptr) {
      dir = tmpl;
    }
    ::setenv("OPSY_FAKE_KUBE_CAPTURE_DIR", dir.c_str(), 1);
  }
  ~CaptureDirectory() {
    ::unsetenv("OPSY_FAKE_KUBE_CAPTURE_DIR");
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  std::string dir;
};

class FakeKubeCapture : public CaptureDirectory, public FakeKubeTest {
 protected:
  // The capture files, each line parsed.
  std::vector<rapidjson::Document> lines(std::vector<std::string>* files = nullptr) {
    std::vector<rapidjson::Document> out;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (files != nullptr) {
        files->push_back(entry.path().filename().string());
      }
      std::ifstream in(entry.path());
      for (std::string line; std::getline(in, line);) {
        out.push_back(parseLine(line));
      }
    }
    return out;
  }

  static std::string field(const rapidjson::Value& line, const char* pointer) {
    const rapidjson::Value* v = rapidjson::Pointer(pointer).Get(line);
    return v != nullptr && v->IsString() ? v->GetString() : "";
  }
};

constexpr const char* kConfigMaps = "/api/v1/namespaces/default/configmaps";
constexpr const char* kJobs = "/apis/batch/v1/namespaces/default/jobs";

TEST_F(FakeKubeCapture, RecordsClientWritesAsStoredWithVerbAndPath) {
  ASSERT_EQ(post(kConfigMaps, R"({"metadata":{"name":"a"},"data":{"k":"v"}})").status, 201);
  Reply updated = put(std::string(kConfigMaps) + "/a",
                      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},
                          "data":{"k":"w"}})");
  ASSERT_EQ(updated.status, 200);
  ASSERT_EQ(patch(std::string(kConfigMaps) + "/a", R"({"data":{"k":"x"}})").status, 200);

  std::vector<std::string> files;
  auto got = lines(&files);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0], "fake-kube-" + std::to_string(::getpid()) + "-1.jsonl");
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(field(got[0], "/verb"), "create");
  EXPECT_EQ(field(got[0], "/path"), kConfigMaps);
  // As stored: with the kind the client left out and the server's metadata.
  EXPECT_EQ(field(got[0], "/object/apiVersion"), "v1");
  EXPECT_EQ(field(got[0], "/object/kind"), "ConfigMap");
  EXPECT_FALSE(field(got[0], "/object/metadata/uid").empty());
  EXPECT_EQ(field(got[1], "/verb"), "update");
  EXPECT_EQ(field(got[1], "/object/metadata/resourceVersion"),
            updated.str("/metadata/resourceVersion"));
  EXPECT_EQ(field(got[2], "/verb"), "patch");
  EXPECT_EQ(field(got[2], "/path"), std::string(kConfigMaps) + "/a");
  EXPECT_EQ(field(got[2], "/object/data/k"), "x");
}

// The fake's own writes (a Job's Pod and status), direct store calls, dry runs, refused writes,
// deletes and custom resources are not what a client made a real server store.
TEST_F(FakeKubeCapture, LeavesOutEverythingButSuccessfulClientWritesOfBuiltIns) {
  const std::string job = R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j"},
      "spec":{"template":{"spec":{"restartPolicy":"Never",
        "containers":[{"name":"c","image":"busybox"}]}}}})";
  ASSERT_EQ(post(std::string(kJobs) + "?dryRun=All", job).status, 201);
  ASSERT_EQ(post(kJobs, job).status, 201);
  ASSERT_EQ(kube_.listObjects("v1", "Pod", "default").size(), 1u);  // the fake made the Pod
  ASSERT_EQ(post(kConfigMaps, R"({"metadata":{"name":"Not_A_Name"}})").status, 422);
  ASSERT_TRUE(kube_
                  .createObject(R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"direct","namespace":"default"}})")
                  .has_value());
  installCrd();
  ASSERT_EQ(post(kPbPath, packerBuilder("pb")).status, 201);
  ASSERT_EQ(patch(std::string(kJobs) + "/j/status", R"({"status":{"active":1}})").status, 200);
  ASSERT_EQ(del(std::string(kJobs) + "/j").status, 200);

  std::vector<std::string> written;
  for (const auto& line : lines()) {
    written.push_back(field(line, "/verb") + " " + field(line, "/object/kind") + " " +
                      field(line, "/path"));
  }
  EXPECT_EQ(written, (std::vector<std::string>{
                         "create Job /apis/batch/v1/namespaces/default/jobs",
                         "create CustomResourceDefinition "
                         "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                         "patch Job /apis/batch/v1/namespaces/default/jobs/j/status",
                     }));
}

// Objects over 1 MiB are named on a line of their own instead of being copied.
TEST_F(FakeKubeCapture, NamesObjectsTooLargeToCopy) {
  const std::string big(1048500, 'x');
  ASSERT_EQ(
      post(kConfigMaps, R"({"metadata":{"name":"big"},"data":{"k":")" + big + R"("}})").status,
      201);
  auto got = lines();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].HasMember("object"));
  EXPECT_EQ(field(got[0], "/skipped"), "object over 1 MiB");
  EXPECT_EQ(field(got[0], "/kind"), "ConfigMap");
  EXPECT_EQ(field(got[0], "/name"), "big");
  ASSERT_TRUE(got[0]["bytes"].IsUint64());
  EXPECT_GT(got[0]["bytes"].GetUint64(), 1048576u);
}

}  // namespace
}  // namespace opsy::testing
