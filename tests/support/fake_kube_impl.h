// File: fake_kube_impl.h
//
// FakeKube's private state and the functions that share it (internal), split by concern across
// fake_kube.cc (lifecycle, test API, faults, accounting), fake_kube_store.cc (writes, admission,
// garbage collection, CRDs), fake_kube_http.cc (routing and handlers), fake_kube_watch.cc (watch
// and log streams) and fake_kube_jobs.cc (the Job controller and runners).
//
//   std::lock_guard lock(impl.mu_);  auto obj = impl.createLocked(type, ns, std::move(doc), {});
#pragma once

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "support/fake_kube.h"
#include "support/fake_kube_api.h"
#include "support/fake_kube_capture.h"
#include "support/fake_kube_json.h"
#include "support/fake_kube_tls.h"

namespace opsy::testing {

template <class T>
using ApiResult = tl::expected<T, ApiError>;

inline tl::unexpected<ApiError> apiFail(ApiError e) {
  return tl::unexpected<ApiError>(std::move(e));
}

struct WriteOptions {
  bool dry_run = false;
  std::string field_manager;
  std::string field_validation;  // Strict, Warn, Ignore ("" = Warn)
  bool internal = false;         // written by the fake itself: no status reset, no validation
  std::vector<std::string>* warnings = nullptr;
};

struct DeleteOptions {
  std::string propagation;  // Background, Foreground, Orphan ("" = the resource's default)
  std::string precondition_uid;
  std::string precondition_rv;
  bool dry_run = false;
};

struct WatchEvent {
  uint64_t rv = 0;
  std::string storage_key;
  std::string type;  // ADDED, MODIFIED, DELETED
  JsonPtr object;
  JsonPtr previous;  // state before the change (MODIFIED, DELETED)
};

struct OpenWatch {
  std::string resource;  // plural
  std::atomic<bool> dropped{false};
};

struct PodLog {
  std::string text;
  bool finished = false;
};

class JobControlImpl;

// What an authorisation decision is about: a resource request or a non-resource URL.
struct AccessRequest {
  bool resource_request = false;
  std::string verb;
  std::string group, resource, subresource, ns, name;  // resource requests
  std::string path;                                    // non-resource requests
};

// "system:authenticated", plus the ServiceAccount groups for "system:serviceaccount:ns:name".
std::vector<std::string> implicitGroups(const std::string& username);

class FakeKube::Impl {
 public:
  explicit Impl(FakeKubeOptions options);

  // --- lifecycle and plumbing (fake_kube.cc)
  Clock& clock() const { return *clock_; }
  std::string nowRfc3339() const;
  std::string newUid();
  std::string randomSuffix();
  void schedule(Duration delay, std::function<void()> fn);
  void timerLoop();

  // --- types
  ResourceTypePtr findTypeLocked(std::string_view group, std::string_view version,
                                 std::string_view plural) const;
  ResourceTypePtr findTypeByKindLocked(std::string_view api_version, std::string_view kind) const;
  std::map<std::string, std::vector<std::string>> groupsLocked() const;

  // --- store (fake_kube_store.cc); callers hold mu_
  static std::string objectKey(std::string_view ns, std::string_view name);
  JsonPtr getLocked(const ResourceType& type, std::string_view ns, std::string_view name) const;
  ApiResult<JsonPtr> createLocked(const ResourceType& type, const std::string& ns, Json object,
                                  const WriteOptions& options);
  ApiResult<JsonPtr> updateLocked(const ResourceType& type, const std::string& ns,
                                  const std::string& name, const std::string& subresource,
                                  Json object, const WriteOptions& options, bool check_rv);
  ApiResult<JsonPtr> patchLocked(const ResourceType& type, const std::string& ns,
                                 const std::string& name, const std::string& subresource,
                                 const std::string& content_type, const std::string& body,
                                 const WriteOptions& options, bool force);
  // Returns the response object: the deleted object, or the object marked for deletion.
  ApiResult<JsonPtr> deleteLocked(const ResourceType& type, const std::string& ns,
                                  const std::string& name, const DeleteOptions& options,
                                  bool* deleted_now);
  void commitLocked(const ResourceType& type, const std::string& key, JsonPtr object,
                    const std::string& event_type, JsonPtr previous);
  void collectGarbageLocked(const std::string& owner_uid, const std::string& propagation);
  void registerCrdLocked(const JsonValue& crd);
  void unregisterCrdLocked(const JsonValue& crd);
  JsonPtr withApiVersion(const JsonPtr& object, const ResourceType& type) const;

  // --- authentication and authorisation (fake_kube_auth.cc)
  std::optional<FakeUser> userForToken(const std::string& token) const;
  // The reason RBAC allows it ("RBAC: allowed by ClusterRoleBinding ..."), or nullopt. Holds mu_.
  std::optional<std::string> allowedByLocked(const FakeUser& user,
                                             const AccessRequest& request) const;
  // Answers a TokenReview or SubjectAccessReview. Holds mu_.
  ApiResult<JsonPtr> reviewLocked(const ResourceType& type, const Json& body);

  // --- evictions (fake_kube_eviction.cc): POST pods/<name>/eviction, within the budgets
  ApiResult<JsonPtr> evictLocked(const std::string& ns, const std::string& name,
                                 const std::string& body);

  // --- jobs (fake_kube_jobs.cc); startJob is called with mu_ held
  void startJobLocked(const JsonPtr& job);

  // --- HTTP (fake_kube_http.cc, fake_kube_watch.cc)
  void installRoutes();
  void handle(const httplib::Request& req, httplib::Response& res);
  ApiResult<std::shared_ptr<Json>> listLocked(const ResourceType& type, const std::string& ns,
                                              const httplib::Request& req);
  ApiResult<std::shared_ptr<Json>> deleteCollectionLocked(const ResourceType& type,
                                                          const std::string& ns,
                                                          const httplib::Request& req);
  void serveWatch(const ResourceType& type, const std::string& ns, const httplib::Request& req,
                  httplib::Response& res, std::optional<Duration> drop_after, bool silent);
  // KubeFault::oversized_body_bytes: `bytes` of a watch event line or a JSON object, never ended.
  void serveOversized(httplib::Response& res, size_t bytes, bool watch);
  void serveLog(const std::string& ns, const std::string& name, const httplib::Request& req,
                httplib::Response& res);

  FakeKubeOptions options_;
  ClockPtr clock_;
  std::unique_ptr<httplib::Server> server_;
  std::optional<ServingCertificate> certificate_;
  std::thread server_thread_;
  std::thread timer_thread_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};

  mutable std::mutex mu_;
  std::condition_variable changed_;
  uint64_t rv_ = 100;
  uint64_t uid_counter_ = 0;
  std::mt19937_64 rng_;
  std::vector<ResourceTypePtr> types_;
  std::map<std::string, std::map<std::string, JsonPtr>> objects_;      // storageKey -> ns/name
  std::map<std::string, std::pair<std::string, std::string>> by_uid_;  // uid -> storageKey, key
  std::deque<WatchEvent> history_;
  uint64_t history_floor_ = 0;  // events at or below this resourceVersion are forgotten
  std::set<std::shared_ptr<OpenWatch>> watches_;
  std::set<std::string> stalled_;
  std::set<std::string> expire_next_;
  std::map<std::string, PodLog> pod_logs_;  // ns/name
  // Server-side apply ownership: object uid -> manager -> applied leaf paths.
  std::map<std::string, std::map<std::string, std::set<std::string>>> applied_fields_;
  std::map<std::string, std::shared_ptr<JobControlImpl>> job_controls_;  // ns/name

  // Faults and accounting (own lock: taken without mu_).
  mutable std::mutex token_mu_;
  std::string token_;                      // guarded by token_mu_
  mutable std::string token_file_;         // guarded by token_mu_; written by writeKubeconfig
  std::map<std::string, FakeUser> users_;  // by token; guarded by token_mu_

  mutable std::mutex faults_mu_;
  std::vector<KubeFault> faults_;
  std::mt19937_64 fault_rng_;
  std::vector<KubeRequest> log_;
  std::vector<size_t> oversized_sent_;

  std::mutex timer_mu_;
  std::condition_variable timer_cv_;
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> timers_;

  std::mutex runner_mu_;
  JobRunnerPtr runner_;

  // Client writes of built-in objects, for tests/conformance; nullptr unless enabled.
  const std::unique_ptr<WriteCapture> capture_;
};

}  // namespace opsy::testing
