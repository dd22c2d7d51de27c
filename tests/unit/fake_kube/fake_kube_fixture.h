// File: fake_kube_fixture.h
//
// Shared fixture for the fake Kubernetes API server's tests: a started FakeKube, a cpp-httplib
// client with the bearer token, JSON helpers, and a background watch reader.
//
//   TEST_F(FakeKubeTest, X) { auto r = get("/api/v1/namespaces/default"); EXPECT_EQ(r.status, 200);
//   }
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/fake_kube.h"

namespace opsy::testing {

struct Reply {
  int status = 0;
  std::string body;
  rapidjson::Document json;
  httplib::Headers headers;

  // The string at a JSON pointer ("/metadata/name"), or "" when absent.
  std::string str(const char* pointer) const {
    const rapidjson::Value* v = rapidjson::Pointer(pointer).Get(json);
    return v != nullptr && v->IsString() ? v->GetString() : "";
  }
  int64_t num(const char* pointer) const {
    const rapidjson::Value* v = rapidjson::Pointer(pointer).Get(json);
    return v != nullptr && v->IsInt64() ? v->GetInt64() : -1;
  }
  bool has(const char* pointer) const { return rapidjson::Pointer(pointer).Get(json) != nullptr; }
  size_t size(const char* pointer) const {
    const rapidjson::Value* v = rapidjson::Pointer(pointer).Get(json);
    return v != nullptr && v->IsArray() ? v->Size() : 0;
  }
};

inline const char* kPackerBuilderCrd = R"({
  "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
  "metadata": {"name": "packerbuilders.ami.refresh.ops"},
  "spec": {"group": "ami.refresh.ops", "scope": "Namespaced",
    "names": {"plural": "packerbuilders", "singular": "packerbuilder", "kind": "PackerBuilder",
              "listKind": "PackerBuilderList", "shortNames": ["pb"]},
    "versions": [{"name": "v1alpha1", "served": true, "storage": true,
      "subresources": {"status": {}},
      "schema": {"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "required": ["region", "builder"], "properties": {
          "region": {"type": "string", "pattern": "^[a-z]{2}-[a-z]+-[0-9]$"},
          "clusterName": {"type": "string", "minLength": 1, "maxLength": 10},
          "maxFailedJobs": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
          "builder": {"type": "object", "required": ["repoURL"], "properties": {
            "repoURL": {"type": "string"},
            "branch": {"type": "string", "default": "main"},
            "commands": {"type": "array", "minItems": 1, "maxItems": 2, "items": {
              "type": "object", "properties": {
                "subCommand": {"type": "string", "enum": ["init", "validate", "build"]},
                "onError": {"type": "string",
                            "enum": ["cleanup", "abort", "run-cleanup-provisioner"]},
                "debug": {"type": "boolean"},
                "variables": {"type": "object",
                              "additionalProperties": {"type": "string"}}}}}}},
          "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
        "status": {"type": "object", "properties": {
          "state": {"type": "string"}, "observedGeneration": {"type": "integer"}}}}}}}]}})";

inline std::string packerBuilder(const std::string& name, const std::string& spec_extra = "") {
  return R"({"apiVersion":"ami.refresh.ops/v1alpha1","kind":"PackerBuilder","metadata":{"name":")" +
         name +
         R"("},"spec":{"region":"us-east-1","builder":{"repoURL":"https://example.com/p.git"})" +
         spec_extra + "}}";
}

class FakeKubeTest : public ::testing::Test {
 protected:
  explicit FakeKubeTest(FakeKubeOptions options = defaultOptions()) : kube_(std::move(options)) {}

  static FakeKubeOptions defaultOptions() {
    FakeKubeOptions options;
    options.bookmark_interval = std::chrono::milliseconds(200);
    options.job_runner = std::make_shared<ManualJobRunner>();
    return options;
  }

  void SetUp() override {
    ASSERT_TRUE(kube_.start().has_value());
    client_ = std::make_unique<httplib::Client>(kube_.url());
    client_->set_bearer_token_auth(kube_.token().c_str());
    client_->set_read_timeout(5, 0);
  }

  static Reply toReply(const httplib::Result& r) {
    Reply reply;
    if (!r) {
      return reply;
    }
    reply.status = r->status;
    reply.body = r->body;
    reply.headers = r->headers;
    reply.json.Parse(r->body.c_str());
    return reply;
  }

  Reply get(const std::string& path) { return toReply(client_->Get(path.c_str())); }
  Reply post(const std::string& path, const std::string& body) {
    return toReply(client_->Post(path.c_str(), body, "application/json"));
  }
  Reply put(const std::string& path, const std::string& body) {
    return toReply(client_->Put(path.c_str(), body, "application/json"));
  }
  Reply patch(const std::string& path, const std::string& body,
              const std::string& content_type = "application/merge-patch+json") {
    return toReply(client_->Patch(path.c_str(), body, content_type.c_str()));
  }
  Reply del(const std::string& path, const std::string& body = "") {
    if (body.empty()) {
      return toReply(client_->Delete(path.c_str()));
    }
    return toReply(client_->Delete(path.c_str(), body, "application/json"));
  }

  void installCrd() {
    Reply r = post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", kPackerBuilderCrd);
    ASSERT_EQ(r.status, 201) << r.body;
  }

  static constexpr const char* kPbPath =
      "/apis/ami.refresh.ops/v1alpha1/namespaces/default/packerbuilders";

  FakeKube kube_;
  std::unique_ptr<httplib::Client> client_;
};

// Reads a watch (or log) stream on a background thread, line by line.
class StreamReader {
 public:
  StreamReader(const std::string& url, const std::string& token, const std::string& path)
      : client_(url) {
    client_.set_bearer_token_auth(token.c_str());
    client_.set_read_timeout(10, 0);
    thread_ = std::thread([this, path] {
      auto result = client_.Get(path.c_str(), [this](const char* data, size_t length) {
        std::lock_guard lock(mu_);
        buffer_.append(data, length);
        size_t nl;
        while ((nl = buffer_.find('\n')) != std::string::npos) {
          lines_.push_back(buffer_.substr(0, nl));
          buffer_.erase(0, nl + 1);
        }
        cv_.notify_all();
        return !closing_;
      });
      std::lock_guard lock(mu_);
      ended_ = true;
      status_ = result ? result->status : 0;
      clean_end_ = static_cast<bool>(result);
      cv_.notify_all();
    });
  }
  ~StreamReader() { close(); }

  // Waits until at least n lines arrived (or the stream ended); returns the lines so far.
  std::vector<std::string> waitForLines(size_t n, int timeout_ms = 3000) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                 [&] { return lines_.size() >= n || ended_; });
    return lines_;
  }
  // Waits for the stream to end; true when it did within the timeout.
  bool waitForEnd(int timeout_ms = 3000) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return ended_; });
  }
  bool cleanEnd() {
    std::lock_guard lock(mu_);
    return clean_end_;
  }
  std::string partial() {
    std::lock_guard lock(mu_);
    return buffer_;
  }
  void close() {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
    }
    client_.stop();
    if (thread_.joinable()) {
      thread_.join();
    }
  }

 private:
  httplib::Client client_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string buffer_;
  std::vector<std::string> lines_;
  bool ended_ = false;
  bool closing_ = false;
  bool clean_end_ = false;
  int status_ = 0;
};

inline rapidjson::Document parseLine(const std::string& line) {
  rapidjson::Document d;
  d.Parse(line.c_str());
  return d;
}

inline std::string eventType(const std::string& line) {
  auto d = parseLine(line);
  return d.IsObject() && d.HasMember("type") ? d["type"].GetString() : "";
}

}  // namespace opsy::testing
