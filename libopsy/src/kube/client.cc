#include "opsy/kube/client.h"

#include <fmt/format.h>

#include <utility>

#include "kube/status_error.h"
#include "kube/watch_decoder.h"
#include "opsy/core/log.h"
#include "opsy/json/json.h"

namespace opsy::kube {
namespace {

constexpr size_t kMaxErrorBody = size_t{64} * 1024;

std::string urlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

class Query {
 public:
  Query& add(std::string_view key, std::string_view value) {
    if (!value.empty()) {
      text_.push_back(text_.empty() ? '?' : '&');
      text_.append(key).push_back('=');
      text_.append(urlEncode(value));
    }
    return *this;
  }
  const std::string& str() const { return text_; }

 private:
  std::string text_;
};

http::Request makeRequest(std::string method, std::string url, std::string content_type = "",
                          std::string body = "", std::string accept = "application/json") {
  http::Request req;
  req.method = std::move(method);
  req.url = std::move(url);
  req.headers.emplace_back("Accept", std::move(accept));
  if (!content_type.empty()) {
    req.headers.emplace_back("Content-Type", std::move(content_type));
  }
  req.body = std::move(body);
  return req;
}

std::string_view contentType(PatchType type) {
  switch (type) {
    case PatchType::Merge: return "application/merge-patch+json";
    case PatchType::Json: return "application/json-patch+json";
    case PatchType::Apply: return "application/apply-patch+yaml";
  }
  return "application/merge-patch+json";
}

std::string_view propagationName(Propagation p) {
  switch (p) {
    case Propagation::Background: return "Background";
    case Propagation::Foreground: return "Foreground";
    case Propagation::Orphan: return "Orphan";
    case Propagation::Unset: break;
  }
  return "";
}

// What a request is, for the observer: a Kubernetes verb and "plural[/subresource]".
struct CallLabel {
  std::string_view verb;
  std::string resource;
};

CallLabel label(std::string_view verb, const Resource& r, std::string_view subresource = "") {
  return {verb, subresource.empty() ? r.plural : r.plural + "/" + std::string(subresource)};
}

Result<Object> parseObject(const http::Response& resp, const Resource& resource,
                           std::string_view what) {
  auto obj = Object::parse(resp.body);
  if (!obj) {
    return fail(std::move(obj).error().context(what));
  }
  if (obj->api_version.empty()) {
    obj->api_version = resource.apiVersion();
  }
  if (obj->kind.empty()) {
    obj->kind = resource.kind;
  }
  return obj;
}

class ClientImpl : public Client {
 public:
  ClientImpl(RestConfig config, http::TransportPtr transport, Clock& clock, ClientOptions options)
      : config_(std::move(config)),
        transport_(std::move(transport)),
        clock_(clock),
        options_(std::move(options)) {
    while (!config_.server.empty() && config_.server.back() == '/') {
      config_.server.pop_back();
    }
    plaintext_ = checkPlaintextCredentials(config_, options_.allow_http_credentials_on_loopback);
    writes_policy_ = options_.retry;
    // A 429 is answered before the request is acted on, so it is safe to repeat any write;
    // other failures of a write may hide a success, so those go back to the caller.
    writes_policy_.classify = [](const Error& e) {
      return e.code == ErrorCode::Throttled ? http::RetryClass::Throttle
                                            : http::RetryClass::Permanent;
    };
  }

  Result<Object> get(const Resource& resource, std::string_view ns,
                     std::string_view name) override {
    std::string what = describe("get", resource, ns, name);
    http::Request req = makeRequest("GET", url(resourcePath(resource, ns, name)));
    OPSY_ASSIGN_OR_RETURN(http::Response resp, call(req, what, label("get", resource), true));
    return parseObject(resp, resource, what);
  }

  Result<ListPage> listPage(const Resource& resource, std::string_view ns,
                            const ListOptions& options, std::string_view continue_token) override {
    std::string what = describe("list", resource, ns, "");
    Query q;
    q.add("labelSelector", options.label_selector)
        .add("fieldSelector", options.field_selector)
        .add("limit", options.page_size > 0 ? std::to_string(options.page_size) : "")
        .add("continue", continue_token);
    http::Request req = makeRequest("GET", url(resourcePath(resource, ns) + q.str()));
    OPSY_ASSIGN_OR_RETURN(http::Response resp, call(req, what, label("list", resource), true));
    auto doc = json::parseObject(resp.body, what);
    if (!doc) {
      return fail(std::move(doc).error());
    }
    ListPage page;
    if (const json::Value* meta = json::member(*doc, "metadata"); meta != nullptr) {
      page.resource_version = json::stringOr(*meta, "resourceVersion");
      page.continue_token = json::stringOr(*meta, "continue");
    }
    const json::Value* items = json::member(*doc, "items");
    if (items == nullptr || !items->IsArray()) {
      return page;
    }
    for (const auto& item : items->GetArray()) {
      auto obj = Object::parse(json::writeJson(item));
      if (!obj) {
        // One undecodable item must not hide the rest of the collection.
        log::get("kube.client")
            .warn("skipping undecodable list item",
                  log::kv("resource", resource.plural, "error", obj.error().message));
        continue;
      }
      // Items of a list carry no apiVersion/kind on the wire.
      if (obj->api_version.empty()) {
        obj->api_version = resource.apiVersion();
      }
      if (obj->kind.empty()) {
        obj->kind = resource.kind;
      }
      page.items.push_back(std::move(*obj));
    }
    return page;
  }

  Result<ObjectList> list(const Resource& resource, std::string_view ns,
                          const ListOptions& options) override {
    ObjectList out;
    std::string token;
    do {
      OPSY_ASSIGN_OR_RETURN(ListPage page, listPage(resource, ns, options, token));
      for (auto& item : page.items) {
        out.items.push_back(std::move(item));
      }
      out.resource_version = page.resource_version;
      token = page.continue_token;
    } while (!token.empty());
    return out;
  }

  Result<Object> create(const Resource& resource, const Object& obj,
                        const WriteOptions& options) override {
    const std::string verb =
        options.subresource.empty() ? "create" : "create " + options.subresource;
    std::string what = describe(verb, resource, obj.metadata.ns, obj.metadata.name);
    if (!options.subresource.empty() && obj.metadata.name.empty()) {
      return fail(ErrorCode::InvalidArgument, what + ": metadata.name is empty");
    }
    Query q;
    q.add("fieldManager", options.field_manager).add("dryRun", options.dry_run ? "All" : "");
    const std::string path =
        options.subresource.empty()
            ? resourcePath(resource, obj.metadata.ns)
            : resourcePath(resource, obj.metadata.ns, obj.metadata.name, options.subresource);
    http::Request req = makeRequest("POST", url(path + q.str()), "application/json", obj.toJson());
    OPSY_ASSIGN_OR_RETURN(http::Response resp,
                          call(req, what, label("create", resource, options.subresource), false));
    return parseObject(resp, resource, what);
  }

  Result<Object> update(const Resource& resource, const Object& obj,
                        const WriteOptions& options) override {
    return put(resource, obj, options, "", "update");
  }

  Result<Object> updateStatus(const Resource& resource, const Object& obj,
                              const WriteOptions& options) override {
    return put(resource, obj, options, "status", "update status");
  }

  Result<Object> patch(const Resource& resource, std::string_view ns, std::string_view name,
                       PatchType type, std::string_view body,
                       const PatchOptions& options) override {
    return doPatch(resource, ns, name, "", type, body, options);
  }

  Result<Object> patchStatus(const Resource& resource, std::string_view ns, std::string_view name,
                             PatchType type, std::string_view body,
                             const PatchOptions& options) override {
    return doPatch(resource, ns, name, "status", type, body, options);
  }

  Status remove(const Resource& resource, std::string_view ns, std::string_view name,
                const DeleteOptions& options) override {
    std::string what = describe("delete", resource, ns, name);
    json::Document body(rapidjson::kObjectType);
    auto& alloc = body.GetAllocator();
    json::setString(body, "apiVersion", "v1", alloc);
    json::setString(body, "kind", "DeleteOptions", alloc);
    std::string_view propagation = propagationName(options.propagation);
    if (!propagation.empty()) {
      json::setString(body, "propagationPolicy", propagation, alloc);
    }
    json::setOptInt(body, "gracePeriodSeconds", options.grace_period_seconds, alloc);
    if (!options.uid.empty() || !options.resource_version.empty()) {
      json::Value pre(rapidjson::kObjectType);
      json::setOptString(pre, "uid", options.uid, alloc);
      json::setOptString(pre, "resourceVersion", options.resource_version, alloc);
      json::setMember(body, "preconditions", std::move(pre), alloc);
    }
    http::Request req = makeRequest("DELETE", url(resourcePath(resource, ns, name)),
                                    "application/json", json::writeJson(body));
    OPSY_ASSIGN_OR_RETURN(http::Response resp, call(req, what, label("delete", resource), false));
    (void)resp;
    return ok();
  }

  Result<std::string> podLog(std::string_view ns, std::string_view pod,
                             const PodLogOptions& options) override {
    const Resource& pods = resources::pods();
    std::string what = describe("get", pods, ns, pod) + " log";
    if (!options.container.empty()) {
      what += " container " + options.container;
    }
    auto number = [](const std::optional<std::int64_t>& n) {
      return n.has_value() ? std::to_string(*n) : std::string();
    };
    Query q;
    q.add("container", options.container)
        .add("tailLines", number(options.tail_lines))
        .add("limitBytes", number(options.limit_bytes));
    http::Request req =
        makeRequest("GET", url(resourcePath(pods, ns, pod, "log") + q.str()), "", "", "text/plain");
    OPSY_ASSIGN_OR_RETURN(http::Response resp, call(req, what, label("get", pods, "log"), true));
    return std::move(resp.body);
  }

  Status watch(const Resource& resource, std::string_view ns, const WatchOptions& options,
               const WatchCallback& callback, const http::CancelToken& cancel) override {
    std::string what = describe("watch", resource, ns, "");
    auto timeout_seconds = std::chrono::duration_cast<std::chrono::seconds>(options.timeout);
    Query q;
    q.add("watch", "1")
        .add("allowWatchBookmarks", options.allow_bookmarks ? "true" : "")
        .add("resourceVersion", options.resource_version)
        .add("timeoutSeconds",
             timeout_seconds.count() > 0 ? std::to_string(timeout_seconds.count()) : "")
        .add("labelSelector", options.label_selector)
        .add("fieldSelector", options.field_selector);
    http::Request req = makeRequest("GET", url(resourcePath(resource, ns) + q.str()));
    // The server ends the stream after timeoutSeconds; the client-side limit only catches a
    // connection that died silently. Bookmarks keep a healthy watch from ever being idle.
    req.timeout = options.timeout + std::chrono::seconds(60);
    if (options_.watch_idle_timeout > Duration::zero()) {
      req.idle_timeout = options_.watch_idle_timeout;
    }
    OPSY_RETURN_IF_ERROR(authenticate(req, what));

    int status = 0;
    http::Response error_response;
    WatchDecoder decoder(options_.max_watch_event_bytes);
    bool stopped = false;
    auto deliver = [&](std::vector<Result<WatchEvent>> events) {
      for (auto& event : events) {
        if (stopped) {
          return;
        }
        if (!event) {
          log::get("kube.client")
              .warn("skipping undecodable watch event",
                    log::kv("resource", resource.plural, "error", event.error().message));
          continue;
        }
        if (!callback(*event)) {
          stopped = true;
        }
      }
    };
    http::StreamHandler handler;
    handler.on_headers = [&](const http::Response& head) {
      status = head.status;
      error_response.status = head.status;
      error_response.headers = head.headers;
    };
    handler.on_data = [&](std::string_view chunk) {
      if (status >= 400) {
        if (error_response.body.size() < kMaxErrorBody) {
          error_response.body.append(chunk.substr(0, kMaxErrorBody - error_response.body.size()));
        }
        return true;
      }
      deliver(decoder.feed(chunk));
      // An oversized line ends the stream here: returning false makes the transport abort the
      // transfer and close the connection.
      return !stopped && !decoder.failure();
    };
    const auto started = clock_.steadyNow();
    auto result = transport_->stream(req, handler, cancel);
    if (!result) {
      // A watch cancelled after the server answered still had that answer.
      observe(label("watch", resource), status, status == 0 ? toString(result.error().code) : "",
              started);
      return fail(std::move(result).error().context(what));
    }
    if (status == 0) {
      status = result->status;
      error_response.status = result->status;
      error_response.headers = result->headers;
    }
    observe(label("watch", resource), status, "", started);
    if (status >= 400) {
      if (status == 401 && config_.credentials) {
        config_.credentials->invalidate();
      }
      return fail(errorFromResponse(error_response, what));
    }
    if (const std::optional<Error>& failure = decoder.failure()) {
      return fail(Error(*failure).context(what));
    }
    if (!stopped) {
      deliver(decoder.finish());
    }
    return ok();
  }

 private:
  std::string url(const std::string& path_and_query) const {
    return config_.server + path_and_query;
  }

  // The one place a request gets its credential: the transport adds none. Read per attempt, so
  // a credential dropped after a 401 is fetched afresh.
  Status authenticate(http::Request& req, std::string_view what) {
    req.headers.emplace_back("User-Agent", options_.user_agent);
    if (!plaintext_) {
      return fail(Error(plaintext_.error()).context(what));
    }
    if (!config_.credentials) {
      return ok();
    }
    auto cred = config_.credentials->credential();
    if (!cred) {
      return fail(std::move(cred).error().context(what));
    }
    if (!cred->client_certificate_pem.empty() && !cred->client_key_pem.empty()) {
      // An exec plugin's certificate rotates with its credential, so it goes with each request
      // rather than into the transport's fixed TLS identity.
      req.client_certificate =
          http::ClientCertificate{cred->client_certificate_pem, cred->client_key_pem};
    }
    if (cred->token.find_first_of("\r\n") != std::string::npos) {
      return fail(ErrorCode::Unauthenticated,
                  std::string(what) + ": bearer token has a line break");
    }
    if (!cred->token.empty()) {
      log::registerSecret(cred->token);  // from a file or a plugin: rotates, so per use
      req.headers.emplace_back("Authorization", "Bearer " + cred->token);
    }
    return ok();
  }

  void observe(const CallLabel& call_label, int http_status, std::string_view error_code,
               std::chrono::steady_clock::time_point started) {
    if (!options_.observer) {
      return;
    }
    RequestObservation o;
    o.verb = call_label.verb;
    o.resource = call_label.resource;
    o.http_status = http_status;
    o.error_code = error_code;
    o.elapsed = std::chrono::duration_cast<Duration>(clock_.steadyNow() - started);
    options_.observer(o);
  }

  Result<http::Response> roundTrip(const http::Request& base, std::string_view what,
                                   const CallLabel& call_label) {
    for (int attempt = 0;; ++attempt) {
      http::Request req = base;
      if (!req.timeout.has_value()) {
        req.timeout = options_.request_timeout;
      }
      OPSY_RETURN_IF_ERROR(authenticate(req, what));
      const auto started = clock_.steadyNow();
      auto resp = transport_->send(req);
      if (!resp) {
        observe(call_label, 0, toString(resp.error().code), started);
        return fail(std::move(resp).error().context(what));
      }
      observe(call_label, resp->status, "", started);
      // A rotated token or an expired exec credential: fetch a fresh one and try once more.
      if (resp->status == 401 && config_.credentials && attempt == 0) {
        config_.credentials->invalidate();
        continue;
      }
      if (resp->status >= 400) {
        return fail(errorFromResponse(*resp, what));
      }
      return resp;
    }
  }

  Result<http::Response> call(const http::Request& req, const std::string& what,
                              const CallLabel& call_label, bool read) {
    return http::withRetries<http::Response>(read ? options_.retry : writes_policy_, quota_, clock_,
                                             [&](int) { return roundTrip(req, what, call_label); });
  }

  Result<Object> put(const Resource& resource, const Object& obj, const WriteOptions& options,
                     std::string_view subresource, std::string_view verb) {
    std::string what = describe(verb, resource, obj.metadata.ns, obj.metadata.name);
    if (obj.metadata.name.empty()) {
      return fail(ErrorCode::InvalidArgument, what + ": metadata.name is empty");
    }
    Query q;
    q.add("fieldManager", options.field_manager).add("dryRun", options.dry_run ? "All" : "");
    http::Request req = makeRequest(
        "PUT",
        url(resourcePath(resource, obj.metadata.ns, obj.metadata.name, subresource) + q.str()),
        "application/json", obj.toJson());
    OPSY_ASSIGN_OR_RETURN(http::Response resp,
                          call(req, what, label("update", resource, subresource), false));
    return parseObject(resp, resource, what);
  }

  Result<Object> doPatch(const Resource& resource, std::string_view ns, std::string_view name,
                         std::string_view subresource, PatchType type, std::string_view body,
                         const PatchOptions& options) {
    std::string what = describe(subresource.empty() ? "patch" : "patch status", resource, ns, name);
    if (type == PatchType::Apply && options.field_manager.empty()) {
      return fail(ErrorCode::InvalidArgument, what + ": server-side apply needs a field manager");
    }
    Query q;
    q.add("fieldManager", options.field_manager)
        .add("force", type == PatchType::Apply && options.force ? "true" : "")
        .add("dryRun", options.dry_run ? "All" : "");
    http::Request req =
        makeRequest("PATCH", url(resourcePath(resource, ns, name, subresource) + q.str()),
                    std::string(contentType(type)), std::string(body));
    OPSY_ASSIGN_OR_RETURN(http::Response resp,
                          call(req, what, label("patch", resource, subresource), false));
    return parseObject(resp, resource, what);
  }

  RestConfig config_;
  http::TransportPtr transport_;
  Clock& clock_;
  ClientOptions options_;
  // Whether config_ may send its credentials to its server (checkPlaintextCredentials).
  Status plaintext_;
  http::RetryPolicy writes_policy_;
  http::RetryQuota quota_;
};

}  // namespace

ClientPtr makeClient(RestConfig config, http::TransportPtr transport, Clock& clock,
                     ClientOptions options) {
  return std::make_shared<ClientImpl>(std::move(config), std::move(transport), clock,
                                      std::move(options));
}

Result<Object> apply(ObjectWriter& writer, const Resource& resource, const Object& obj,
                     std::string field_manager, bool force) {
  PatchOptions options;
  options.field_manager = std::move(field_manager);
  options.force = force;
  // An apply body must not carry managedFields; a copy read from the server has them.
  Object body = obj;
  OPSY_RETURN_IF_ERROR(body.remove("/metadata/managedFields"));
  return writer.patch(resource, obj.metadata.ns, obj.metadata.name, PatchType::Apply, body.toJson(),
                      options);
}

}  // namespace opsy::kube
