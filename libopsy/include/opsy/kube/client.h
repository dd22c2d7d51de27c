// File: client.h
//
// The Kubernetes REST client, split by role the way controller-runtime splits it: ObjectReader
// (get, list), ObjectWriter (create, update, patch, delete), StatusWriter (the status
// subresource) and PodLogReader (a container's log), so a reconciler and its mocks depend only on
// what it uses. Client adds paging and watch for informers. Every call goes through one request
// path: it adds the bearer token (or an exec plugin's client certificate), counts the attempt, and
// maps a failure to opsy::Error from the server's Status body (reason in provider_code, Audit-Id
// as request id). Reads retry 429/5xx; writes retry only 429, which the server answers before
// doing anything. Input is bounded: a watch event line has a size limit and a silent watch is
// abandoned (ClientOptions); response bodies are bounded by the transport. Credentials never go
// to an http:// server unless it is a loopback address and the caller allowed it.
//
//   ClientPtr kube = makeClient(cfg, transport, realClock());
//   OPSY_ASSIGN_OR_RETURN(Job job, getTyped<Job>(*kube, "ci", "build-1"));
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/core/result.h"
#include "opsy/http/retry.h"
#include "opsy/http/transport.h"
#include "opsy/kube/config.h"
#include "opsy/kube/object.h"
#include "opsy/kube/resource.h"

namespace opsy::kube {

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  // Page size (`limit`); list() follows `continue` until the collection is complete.
  int page_size = 500;
};

struct ListPage {
  std::vector<Object> items;
  std::string resource_version;
  // Empty on the last page.
  std::string continue_token;
};

struct WriteOptions {
  std::string field_manager;
  bool dry_run = false;
  // create(): POST to this subresource of the object obj.metadata names instead of to the
  // collection ("eviction": a policy/v1 Eviction of the pod).
  std::string subresource;
};

enum class PatchType {
  Merge,  // application/merge-patch+json (RFC 7386)
  Json,   // application/json-patch+json (RFC 6902)
  Apply,  // application/apply-patch+yaml: server-side apply, JSON body, field manager required
};

struct PatchOptions {
  std::string field_manager;
  // Server-side apply: take ownership of fields another manager owns.
  bool force = false;
  bool dry_run = false;
};

enum class Propagation { Unset, Background, Foreground, Orphan };

struct DeleteOptions {
  Propagation propagation = Propagation::Unset;
  // Preconditions: delete only when the object still has this uid / resourceVersion.
  std::string uid;
  std::string resource_version;
  std::optional<std::int64_t> grace_period_seconds;
};

struct WatchOptions {
  std::string label_selector;
  std::string field_selector;
  // Where to start; empty means "now" (the server then sends synthetic ADDED events).
  std::string resource_version;
  // Server-side timeout of one watch request (`timeoutSeconds`).
  Duration timeout = std::chrono::minutes(5);
  bool allow_bookmarks = true;
};

enum class WatchEventType { Added, Modified, Deleted, Bookmark, Error };

struct WatchEvent {
  WatchEventType type = WatchEventType::Added;
  // The object; for Bookmark only metadata.resourceVersion is meaningful.
  Object object;
  // For Error events: the Status mapped to an Error (code 410 -> Gone).
  Error error;
};

// What part of a container's log to read (the query of GET .../pods/{pod}/log).
struct PodLogOptions {
  // Required when the pod has more than one container.
  std::string container;
  // `tailLines`: only the last N lines. Applied before limit_bytes.
  std::optional<std::int64_t> tail_lines;
  // `limitBytes`: stop after the FIRST N bytes (of the tail, with tail_lines), so it caps the size
  // of the answer but cuts off the end of a longer log.
  std::optional<std::int64_t> limit_bytes;
};

// Called for each decoded event; return false to end the watch.
using WatchCallback = std::function<bool(WatchEvent& event)>;

// Knows how to read objects.
class ObjectReader {
 public:
  virtual ~ObjectReader() = default;
  /**
   * Reads one object.
   * @return NotFound when it does not exist.
   */
  [[nodiscard]] virtual Result<Object> get(const Resource& resource, std::string_view ns,
                                           std::string_view name) = 0;
  /**
   * Lists a collection, following `continue` tokens until it is complete.
   * @param ns namespace, or empty for every namespace / cluster-scoped resources.
   * @return every item and the collection's resourceVersion; Gone when a continue token expired.
   */
  [[nodiscard]] virtual Result<ObjectList> list(const Resource& resource, std::string_view ns,
                                                const ListOptions& options) = 0;
};

// Knows how to create, update, patch and delete objects.
class ObjectWriter {
 public:
  virtual ~ObjectWriter() = default;
  /**
   * Creates the object in obj.metadata.ns.
   * @return the stored object; AlreadyExists when the name is taken.
   */
  [[nodiscard]] virtual Result<Object> create(const Resource& resource, const Object& obj,
                                              const WriteOptions& options) = 0;
  /**
   * Replaces the object (PUT), carrying metadata.resourceVersion for optimistic concurrency.
   * @return the stored object; Conflict when the resourceVersion is stale.
   */
  [[nodiscard]] virtual Result<Object> update(const Resource& resource, const Object& obj,
                                              const WriteOptions& options) = 0;
  /**
   * Patches the object. For PatchType::Apply the body is the full intended object (JSON) and
   * options.field_manager is required.
   */
  [[nodiscard]] virtual Result<Object> patch(const Resource& resource, std::string_view ns,
                                             std::string_view name, PatchType type,
                                             std::string_view body,
                                             const PatchOptions& options) = 0;
  /**
   * Deletes the object.
   * @return NotFound when already gone; Conflict when a precondition does not hold.
   */
  [[nodiscard]] virtual Status remove(const Resource& resource, std::string_view ns,
                                      std::string_view name, const DeleteOptions& options) = 0;
};

// Knows how to write the status subresource.
class StatusWriter {
 public:
  virtual ~StatusWriter() = default;
  /** Replaces .status (PUT .../status) with resourceVersion checking. */
  [[nodiscard]] virtual Result<Object> updateStatus(const Resource& resource, const Object& obj,
                                                    const WriteOptions& options) = 0;
  /** Patches .../status. */
  [[nodiscard]] virtual Result<Object> patchStatus(const Resource& resource, std::string_view ns,
                                                   std::string_view name, PatchType type,
                                                   std::string_view body,
                                                   const PatchOptions& options) = 0;
};

// Knows how to read a pod container's log.
class PodLogReader {
 public:
  virtual ~PodLogReader() = default;
  /**
   * Reads the log of one container of pod ns/pod as text (a read: retried on 429/5xx).
   * @return NotFound when the pod does not exist; InvalidArgument when the server refuses, e.g.
   *         the container has not started yet or is not in the pod.
   */
  [[nodiscard]] virtual Result<std::string> podLog(std::string_view ns, std::string_view pod,
                                                   const PodLogOptions& options) = 0;
};

// Everything, plus the primitives informers are built from.
class Client : public ObjectReader, public ObjectWriter, public StatusWriter, public PodLogReader {
 public:
  /**
   * Reads one page of a collection.
   * @param continue_token empty for the first page.
   */
  [[nodiscard]] virtual Result<ListPage> listPage(const Resource& resource, std::string_view ns,
                                                  const ListOptions& options,
                                                  std::string_view continue_token) = 0;
  /**
   * Watches a collection until the server ends the stream, the callback returns false, or
   * `cancel` fires. Malformed events are logged and skipped.
   * @return ok when the stream ended or the callback stopped it; Cancelled when cancelled;
   *         Gone when the server answered 410 (resourceVersion too old); ResourceExhausted when
   *         an event line exceeded ClientOptions::max_watch_event_bytes and DeadlineExceeded
   *         when nothing arrived for ClientOptions::watch_idle_timeout (the connection is
   *         dropped in both cases).
   */
  [[nodiscard]] virtual Status watch(const Resource& resource, std::string_view ns,
                                     const WatchOptions& options, const WatchCallback& callback,
                                     const http::CancelToken& cancel) = 0;
};

using ClientPtr = std::shared_ptr<Client>;

// One HTTP attempt of the client, reported to ClientOptions::observer (metrics, tracing).
struct RequestObservation {
  std::string_view verb;      // get, list, watch, create, update, patch, delete
  std::string_view resource;  // plural, with the subresource: "jobs/status", "pods/log"
  int http_status = 0;        // 0 when no response was read
  // The canonical error code when no response was read ("Unavailable"), else empty.
  std::string_view error_code;
  Duration elapsed{0};  // steady-clock time of this attempt; a watch counts until it ends
};

struct ClientOptions {
  http::RetryPolicy retry;
  std::string user_agent = "opsy";
  // Total timeout of one non-streaming request.
  Duration request_timeout = std::chrono::seconds(30);
  // Called after every attempt, from the calling thread; must be cheap and thread-safe. Keeps
  // kube free of metrics code (the runtime binds it to opsy_kube_requests_total).
  std::function<void(const RequestObservation&)> observer;
  // A watch that receives nothing, not even a bookmark, for this long is dropped and watch()
  // returns DeadlineExceeded, so the informer resumes from its last resourceVersion. API servers
  // send watches that allow bookmarks one about every minute. Zero: never.
  Duration watch_idle_timeout = std::chrono::minutes(2);
  // The longest watch event line kept. A longer one ends the watch with ResourceExhausted
  // ("watch event exceeds N bytes") and drops the connection; nothing more of it is buffered.
  size_t max_watch_event_bytes = size_t{16} << 20;
  // Sends credentials to an http:// server when its host is a loopback address (a development
  // API server); other http:// servers with credentials are refused whatever this says
  // (checkPlaintextCredentials in config.h).
  bool allow_http_credentials_on_loopback = false;
};

// A client for `config.server` over `transport`. TLS settings in `config` are the transport's
// business (kube::makeTransport); this client is the one place that adds the bearer token (or
// the exec plugin's client certificate) of config.credentials, read for every attempt so rotated
// tokens and exec plugins keep working. When checkPlaintextCredentials(config,
// options.allow_http_credentials_on_loopback) refuses the config, every request fails with that
// error and nothing is sent; callers check it at startup to fail early.
ClientPtr makeClient(RestConfig config, http::TransportPtr transport, Clock& clock,
                     ClientOptions options = {});

// Typed conveniences for the structs in objects.h (anything with resource(), fromObject() and
// toObject()).
template <class T>
[[nodiscard]] Result<T> getTyped(ObjectReader& reader, std::string_view ns, std::string_view name) {
  OPSY_ASSIGN_OR_RETURN(Object obj, reader.get(T::resource(), ns, name));
  return T::fromObject(obj);
}

template <class T>
[[nodiscard]] Result<std::vector<T>> listTyped(ObjectReader& reader, std::string_view ns,
                                               const ListOptions& options) {
  OPSY_ASSIGN_OR_RETURN(ObjectList list, reader.list(T::resource(), ns, options));
  std::vector<T> out;
  out.reserve(list.items.size());
  for (const Object& obj : list.items) {
    OPSY_ASSIGN_OR_RETURN(T typed, T::fromObject(obj));
    out.push_back(std::move(typed));
  }
  return out;
}

template <class T>
[[nodiscard]] Result<T> createTyped(ObjectWriter& writer, const T& obj,
                                    const WriteOptions& options = {}) {
  OPSY_ASSIGN_OR_RETURN(Object stored, writer.create(T::resource(), obj.toObject(), options));
  return T::fromObject(stored);
}

template <class T>
[[nodiscard]] Result<T> updateTyped(ObjectWriter& writer, const T& obj,
                                    const WriteOptions& options = {}) {
  OPSY_ASSIGN_OR_RETURN(Object stored, writer.update(T::resource(), obj.toObject(), options));
  return T::fromObject(stored);
}

// Server-side apply of a whole object.
[[nodiscard]] Result<Object> apply(ObjectWriter& writer, const Resource& resource,
                                   const Object& obj, std::string field_manager,
                                   bool force = false);

}  // namespace opsy::kube
