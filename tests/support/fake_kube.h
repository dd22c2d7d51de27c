// File: fake_kube.h
//
// An in-process Kubernetes API server for tests and the local demo: real HTTP on 127.0.0.1,
// discovery, CRUD with resourceVersion conflicts, status subresources, watch with bookmarks and
// 410, selectors, merge/JSON/strategic/apply patches, CRDs with schema validation, garbage
// collection, finalizers, Jobs driven by a pluggable JobRunner, and fault injection. The real
// kubectl works against it. Every place it approximates the real server is listed in
// tests/support/fake_kube.md.
//
//   FakeKube kube;  kube.start();  kube.writeKubeconfig(dir / "kubeconfig");
//   kube.failNext("update", "packerbuilders", 409);  ...  EXPECT_EQ(kube.writeCount(), 1);
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/core/result.h"

namespace opsy::testing {

class FakeKube;

// What a JobRunner uses to drive one Job: the fake creates the Job's Pod before calling the
// runner, then the runner moves the Pod and Job along. All methods are thread-safe and may be
// called from any thread, also after the Job was deleted (they then do nothing), but not after
// the FakeKube is destroyed.
class JobControl {
 public:
  virtual ~JobControl() = default;
  virtual std::string namespaceName() const = 0;
  virtual std::string jobName() const = 0;
  virtual std::string podName() const = 0;
  // The Job as created (JSON).
  virtual std::string jobJson() const = 0;
  /** Marks the Pod Running and the Job active (status.active = 1, ready = 1). */
  virtual void start() = 0;
  /** Appends text to the Pod's log (served by pods/{name}/log, also to followers). */
  virtual void appendLog(std::string_view text) = 0;
  /** Pod Succeeded (exit 0), Job condition Complete=True, succeeded = 1, completionTime set. */
  virtual void succeed(std::string termination_message = "") = 0;
  /** Pod Failed with exit_code; Job condition Failed=True with the given reason. */
  virtual void fail(std::string reason = "BackoffLimitExceeded",
                    std::string message = "Job has reached the specified backoff limit",
                    std::string termination_message = "", int exit_code = 1) = 0;
  /** Runs fn on the fake's timer thread after delay (for runners that act later). */
  virtual void after(Duration delay, std::function<void()> fn) = 0;
};
using JobControlPtr = std::shared_ptr<JobControl>;

// Plays the kubelet and the Job controller for Jobs created in the fake.
class JobRunner {
 public:
  virtual ~JobRunner() = default;
  /** Called (on the fake's timer thread) once per created Job, after its Pod exists. */
  virtual void onJobCreated(const JobControlPtr& job) = 0;
};
using JobRunnerPtr = std::shared_ptr<JobRunner>;

// Starts every Job's Pod at once and completes it after `delay`, logging one line.
JobRunnerPtr completingJobRunner(Duration delay = std::chrono::milliseconds(200));

// Keeps every Job it is given, untouched, so a test can act on it when it chooses.
class ManualJobRunner : public JobRunner {
 public:
  void onJobCreated(const JobControlPtr& job) override;
  // Waits up to `timeout` for the n-th (0-based) Job; nullptr if it does not arrive.
  JobControlPtr waitForJob(size_t index, Duration timeout = std::chrono::seconds(5));
  size_t jobCount() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<JobControlPtr> jobs_;
};

// One served request, as the request log records it.
struct KubeRequest {
  std::string method;       // GET, POST, ...
  std::string verb;         // get, list, watch, create, update, patch, delete, deletecollection
  std::string path;         // without the query
  std::string query;        // raw query string
  std::string group;        // "" for core
  std::string resource;     // plural, "pods"; "" for discovery
  std::string subresource;  // "status", "log", ...
  std::string namespace_name;
  std::string name;
  std::string content_type;
  std::string body;
  int status = 0;
};

// Injected failure for requests matching verb and resource ("" matches any; resource may be
// "pods/log" or "packerbuilders/status" to hit a subresource only).
struct KubeFault {
  std::string verb;
  std::string resource;
  int http_status = 0;          // 409, 429 (sends Retry-After), 500, 503, ...
  int count = 1;                // the next N matching requests; -1 = every one
  double rate = 0;              // when > 0: each matching request fails with this chance
  int retry_after_seconds = 1;  // for 429
  Duration latency{0};          // added before answering (with or without http_status)
  // For watches: the stream starts normally and is closed abruptly (no final chunk) after this.
  std::optional<Duration> drop_watch_after;
  // For watches: the stream is accepted (200 and headers) and then sends nothing at all, not
  // even bookmarks, and stays open until its timeoutSeconds, dropWatches() or stop(): a
  // connection that died without a FIN or RST somewhere between the client and the server.
  bool silent_watch = false;
  // The answer is a 200 whose body is this many bytes and never completes a JSON document: for a
  // watch, one event line that never ends; for any other request, one JSON object that never
  // closes. It is generated as it is sent (chunked, as fast as the client reads), so the fake
  // holds none of it; oversizedBodiesSent() says how much went out before the client hung up.
  std::optional<size_t> oversized_body_bytes;
  // The Status message to send instead of the default one, e.g. what an admission webhook says:
  // `admission webhook "x" denied the request: ...` with 403.
  std::string message;
};

// Someone other than the controller with a token the fake knows: TokenReview authenticates it,
// and its own API requests are authorised by the RBAC objects stored in the fake.
struct FakeUser {
  std::string token;
  std::string username;  // "system:serviceaccount:monitoring:prometheus" or "jane"
  std::string uid;
  // Beside these, a user gets "system:authenticated", and a ServiceAccount
  // "system:serviceaccounts" and "system:serviceaccounts:<namespace>", as the real server adds.
  std::vector<std::string> groups;
};

struct FakeKubeOptions {
  std::string token = "fake-kube-test-token";
  // Who `token` is, as TokenReview reports it. Its own requests are never checked against RBAC:
  // the fake plays a cluster where the controller's role grants what it asks for.
  std::string token_user = "system:serviceaccount:opsy-system:opsy-controller";
  // Watch events kept for resuming; older resourceVersions get 410 Expired.
  size_t history_limit = 10000;
  Duration bookmark_interval = std::chrono::seconds(1);
  uint64_t fault_seed = 1;
  ClockPtr clock;           // timestamps; defaults to the real clock
  JobRunnerPtr job_runner;  // defaults to completingJobRunner()
  int port = 0;             // 0 = any free port
  // Serve HTTPS with a fresh self-signed certificate (kubectl sends tokens only over TLS).
  bool tls = false;
};

class FakeKube {
 public:
  FakeKube();
  explicit FakeKube(FakeKubeOptions options);
  ~FakeKube();
  FakeKube(const FakeKube&) = delete;
  FakeKube& operator=(const FakeKube&) = delete;

  [[nodiscard]] Status start();
  void stop();
  // "http://127.0.0.1:<port>" (https with tls)
  std::string url() const;
  // PEM of the serving certificate (also the CA to trust); empty without tls.
  std::string caCertificatePem() const;
  int port() const;
  std::string token() const;
  // Rotates the accepted bearer token (the old one is refused from now on), as a projected
  // ServiceAccount token rotation would; rewrites the token file if the kubeconfig uses one.
  void setToken(std::string token);
  // Another user (see FakeUser); the same token again replaces it.
  void addUser(FakeUser user);
  void removeUser(const std::string& token);
  // Writes a kubeconfig (context "fake", namespace "default", token auth, the CA with tls).
  // With `token_file`, the user entry has `tokenFile: <token_file>` and the token is written there.
  [[nodiscard]] Status writeKubeconfig(const std::string& path,
                                       const std::string& token_file = "") const;

  // Direct access to the store (no auth, faults or counters; watchers do see the changes).
  // Objects are JSON text; the resource is found from apiVersion and kind.
  [[nodiscard]] Result<std::string> createObject(std::string_view json);
  // Replaces the stored object unconditionally (no resourceVersion check), status included.
  [[nodiscard]] Result<std::string> updateObject(std::string_view json);
  [[nodiscard]] Result<std::string> getObject(std::string_view api_version, std::string_view kind,
                                              std::string_view namespace_name,
                                              std::string_view name) const;
  [[nodiscard]] Status deleteObject(std::string_view api_version, std::string_view kind,
                                    std::string_view namespace_name, std::string_view name);
  std::vector<std::string> listObjects(std::string_view api_version, std::string_view kind,
                                       std::string_view namespace_name = "") const;
  std::string currentResourceVersion() const;
  // Drops the watch history: every resourceVersion issued so far becomes too old (410).
  void compactHistory();

  // Request accounting (only requests that reached the API, discovery included).
  int requestCount(std::string_view verb, std::string_view resource = "") const;
  // create + update + patch + delete + deletecollection, optionally for one resource.
  int writeCount(std::string_view resource = "") const;
  std::vector<KubeRequest> requestLog() const;
  void resetRequestLog();
  // The log so far, emptied in the same step (no request falls between reading and clearing):
  // long runs count requests window by window instead of keeping every body.
  std::vector<KubeRequest> takeRequestLog();

  // Fault injection.
  void addFault(KubeFault fault);
  void failNext(std::string verb, std::string resource, int http_status, int count = 1);
  void addLatency(std::string verb, std::string resource, Duration latency);
  void clearFaults();
  // Closes every open watch on `resource` ("" = all) without a final chunk.
  void dropWatches(std::string_view resource = "");
  // Open and new watches on `resource` stop delivering anything (bookmarks too) until unstalled.
  void stallWatches(std::string_view resource, bool stalled = true);
  // The next watch on `resource` gets an ERROR event with a 410 Expired Status and ends.
  void expireNextWatch(std::string_view resource);
  int openWatchCount(std::string_view resource = "") const;
  // For every finished oversized_body_bytes answer, in order: the bytes written before the
  // client closed the connection (or the whole size, when it read everything).
  std::vector<size_t> oversizedBodiesSent() const;

  void setJobRunner(JobRunnerPtr runner);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace opsy::testing
