// HTTP routing of the fake Kubernetes API server: authentication, fault injection, request
// accounting, discovery, and the CRUD handlers.
#include <fmt/format.h>

#include <algorithm>
#include <sstream>

#include "support/fake_kube_impl.h"
#include "support/fake_kube_protobuf.h"
#include "support/fake_kube_selector.h"
#include "support/fake_kube_validation.h"

namespace opsy::testing {

namespace {

struct Route {
  enum class Kind { Discovery, Resource, Unknown } kind = Kind::Unknown;
  std::string discovery_body;
  std::string group;
  std::string version;
  std::string resource;
  std::string ns;
  std::string name;
  std::string subresource;
};

std::vector<std::string> splitPath(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream in(path);
  std::string part;
  while (std::getline(in, part, '/')) {
    if (!part.empty()) {
      parts.push_back(part);
    }
  }
  return parts;
}

std::string mediaType(const std::string& content_type) {
  std::string media = content_type.substr(0, content_type.find(';'));
  media.erase(std::remove(media.begin(), media.end(), ' '), media.end());
  return media;
}

// A boolean query parameter as the API server converts it (Convert_Slice_string_To_bool): absent,
// "0" or "false" in any case is false; anything else, empty, "True" or "yes" included, is true.
bool truthy(const httplib::Request& req, const char* key) {
  if (!req.has_param(key)) {
    return false;
  }
  std::string v = req.get_param_value(key);
  std::transform(v.begin(), v.end(), v.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return v != "0" && v != "false";
}

// The Table rows' embedded object: Metadata unless the client asks for Object or None.
std::string includeObject(const httplib::Request& req) {
  const std::string v = req.get_param_value("includeObject");
  return v.empty() ? "Metadata" : v;
}

std::string hex(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    out += fmt::format("{:02x}", c);
  }
  return out;
}

std::string unhex(std::string_view s) {
  std::string out;
  for (size_t i = 0; i + 1 < s.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

void sendError(httplib::Response& res, const ApiError& e) {
  res.status = e.code;
  if (e.code == 429 && e.retry_after_seconds > 0) {
    res.set_header("Retry-After", std::to_string(e.retry_after_seconds));
  }
  res.set_content(statusBody(e), "application/json");
}

void sendObject(httplib::Response& res, int status, const JsonValue& object) {
  res.status = status;
  res.set_content(toJson(object), "application/json");
}

std::string verbFor(const std::string& method, const Route& route, bool watch) {
  if (method == "GET") {
    if (route.name.empty()) {
      return watch ? "watch" : "list";
    }
    return watch ? "watch" : "get";
  }
  if (method == "POST")
    return "create";
  if (method == "PUT")
    return "update";
  if (method == "PATCH")
    return "patch";
  if (method == "DELETE")
    return route.name.empty() ? "deletecollection" : "delete";
  return "";
}

}  // namespace

void FakeKube::Impl::installRoutes() {
  server_->new_task_queue = [] { return new httplib::ThreadPool(64); };
  server_->set_keep_alive_timeout(1);
  server_->set_read_timeout(5, 0);
  auto handler = [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); };
  server_->Get(".*", handler);
  server_->Post(".*", handler);
  server_->Put(".*", handler);
  server_->Patch(".*", handler);
  server_->Delete(".*", handler);
}

void FakeKube::Impl::handle(const httplib::Request& req, httplib::Response& res) {
  const std::vector<std::string> parts = splitPath(req.path);
  Route route;
  {
    std::lock_guard lock(mu_);
    if (parts.empty() || parts[0] == "healthz" || parts[0] == "livez" || parts[0] == "readyz") {
      route.kind = Route::Kind::Discovery;
      route.discovery_body = "ok";
    } else if (parts[0] == "version" && parts.size() == 1) {
      route.kind = Route::Kind::Discovery;
      route.discovery_body = versionBody();
    } else if (parts[0] == "openapi" && parts.size() == 2 && parts[1] == "v3") {
      route.kind = Route::Kind::Discovery;
      route.discovery_body = openApiRootBody(types_);
    } else if (parts[0] == "openapi" && parts.size() >= 4 && parts[1] == "v3") {
      std::vector<ResourceTypePtr> list;
      const bool core = parts[2] == "api";
      for (const auto& t : types_) {
        if ((core && t->group.empty() && parts.size() == 4 && t->version == parts[3]) ||
            (!core && parts.size() == 5 && t->group == parts[3] && t->version == parts[4])) {
          list.push_back(t);
        }
      }
      if (!list.empty()) {
        route.kind = Route::Kind::Discovery;
        route.discovery_body = openApiGroupVersionBody(list);
      }
    } else if (parts[0] == "api" && parts.size() == 1) {
      route.kind = Route::Kind::Discovery;
      route.discovery_body = apiVersionsBody("127.0.0.1:" + std::to_string(port_));
    } else if (parts[0] == "api" && parts.size() == 2 && parts[1] == "v1") {
      std::vector<ResourceTypePtr> core;
      for (const auto& t : types_) {
        if (t->group.empty()) {
          core.push_back(t);
        }
      }
      route.kind = Route::Kind::Discovery;
      route.discovery_body = resourceListBody("v1", core);
    } else if (parts[0] == "apis" && parts.size() == 1) {
      route.kind = Route::Kind::Discovery;
      route.discovery_body = groupListBody(groupsLocked());
    } else if (parts[0] == "apis" && parts.size() == 2) {
      auto groups = groupsLocked();
      auto it = groups.find(parts[1]);
      if (it != groups.end()) {
        route.kind = Route::Kind::Discovery;
        route.discovery_body = groupBody(it->first, it->second);
      }
    } else if (parts[0] == "apis" && parts.size() == 3) {
      std::vector<ResourceTypePtr> list;
      for (const auto& t : types_) {
        if (t->group == parts[1] && t->version == parts[2]) {
          list.push_back(t);
        }
      }
      if (!list.empty()) {
        route.kind = Route::Kind::Discovery;
        route.discovery_body = resourceListBody(parts[1] + "/" + parts[2], list);
      }
    } else if ((parts[0] == "api" && parts.size() >= 3 && parts[1] == "v1") ||
               (parts[0] == "apis" && parts.size() >= 4)) {
      size_t i = 1;
      if (parts[0] == "apis") {
        route.group = parts[i++];
      }
      route.version = parts[i++];
      std::vector<std::string> rest(parts.begin() + static_cast<long>(i), parts.end());
      if (rest.size() >= 3 && rest[0] == "namespaces" &&
          !(rest.size() == 3 && (rest[2] == "status" || rest[2] == "finalize"))) {
        route.ns = rest[1];
        rest.erase(rest.begin(), rest.begin() + 2);
      }
      if (!rest.empty() && rest.size() <= 3) {
        route.kind = Route::Kind::Resource;
        route.resource = rest[0];
        route.name = rest.size() >= 2 ? rest[1] : "";
        route.subresource = rest.size() == 3 ? rest[2] : "";
      }
    }
  }

  const bool watch = truthy(req, "watch");
  if (watch || route.subresource == "log") {
    // cpp-httplib gzips chunked responses without flushing per chunk, which would hold stream
    // events back until the stream ends; streams go out uncompressed.
    const_cast<httplib::Request&>(req).headers.erase("Accept-Encoding");
  }
  KubeRequest record;
  record.method = req.method;
  record.verb = route.kind == Route::Kind::Resource ? verbFor(req.method, route, watch) : "get";
  record.path = req.path;
  for (const auto& [k, v] : req.params) {
    record.query += (record.query.empty() ? "" : "&") + k + "=" + v;
  }
  record.group = route.group;
  record.resource = route.resource;
  record.subresource = route.subresource;
  record.namespace_name = route.ns;
  record.name = route.name;
  record.content_type = req.get_header_value("Content-Type");
  record.body = req.body;

  auto finish = [&](const httplib::Response& r) {
    record.status = r.status;
    std::lock_guard lock(faults_mu_);
    log_.push_back(record);
  };

  const bool public_path = !parts.empty() && (parts[0] == "healthz" || parts[0] == "livez" ||
                                              parts[0] == "readyz" || parts[0] == "version");
  if (!public_path) {
    const std::string header = req.get_header_value("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    std::optional<FakeUser> user;
    if (header.rfind(kBearer, 0) == 0) {
      user = userForToken(header.substr(kBearer.size()));
    }
    if (!user) {
      ApiError e = simpleError(401, "Unauthorized", "Unauthorized");
      sendError(res, e);
      finish(res);
      return;
    }
    // Anyone authenticated may read discovery (the system:discovery role); everything else a
    // user other than the controller does is checked against the RBAC objects stored here.
    std::string forbidden;
    if (user->username != options_.token_user && route.kind != Route::Kind::Discovery) {
      AccessRequest access;
      access.verb = route.kind == Route::Kind::Resource ? record.verb : "get";
      access.resource_request = route.kind == Route::Kind::Resource;
      access.group = route.group;
      access.resource = route.resource;
      access.subresource = route.subresource;
      access.ns = route.ns;
      access.name = route.name;
      access.path = req.path;
      bool allowed = false;
      {
        std::lock_guard lock(mu_);
        allowed = allowedByLocked(*user, access).has_value();
      }
      if (!allowed && access.resource_request) {
        const std::string qualified =
            route.group.empty() ? route.resource : route.resource + "." + route.group;
        forbidden = fmt::format(
            "{}{} is forbidden: User \"{}\" cannot {} resource \"{}{}\" in API group \"{}\" {}",
            qualified, route.name.empty() ? "" : " \"" + route.name + "\"", user->username,
            access.verb, route.resource, route.subresource.empty() ? "" : "/" + route.subresource,
            route.group,
            route.ns.empty() ? std::string("at the cluster scope")
                             : "in the namespace \"" + route.ns + "\"");
      } else if (!allowed) {
        forbidden =
            fmt::format("forbidden: User \"{}\" cannot get path \"{}\"", user->username, req.path);
      }
    }
    if (!forbidden.empty()) {
      ApiError e = simpleError(403, "Forbidden", forbidden);
      e.name = route.name;
      e.group = route.group;
      e.kind = route.resource;
      sendError(res, e);
      finish(res);
      return;
    }
  }

  // Fault injection: the first matching rule with a budget left applies.
  std::optional<Duration> drop_after;
  bool silent_watch = false;
  std::optional<size_t> oversized;
  {
    Duration latency{0};
    int status = 0;
    int retry_after = 0;
    std::string fault_message;
    {
      std::lock_guard lock(faults_mu_);
      const std::string resource_with_sub =
          route.subresource.empty() ? route.resource : route.resource + "/" + route.subresource;
      for (auto& f : faults_) {
        const bool resource_match = f.resource.empty() || f.resource == resource_with_sub ||
                                    (f.resource == route.resource && route.subresource.empty());
        if (!resource_match || (!f.verb.empty() && f.verb != record.verb) || f.count == 0) {
          continue;
        }
        if (f.rate > 0) {
          std::uniform_real_distribution<double> dist(0, 1);
          if (dist(fault_rng_) >= f.rate) {
            continue;
          }
        }
        latency = std::max(latency, f.latency);
        if (f.drop_watch_after.has_value() || f.silent_watch) {
          if (record.verb == "watch" && !drop_after.has_value() && !silent_watch) {
            drop_after = f.drop_watch_after;
            silent_watch = f.silent_watch;
            if (f.count > 0) {
              --f.count;
            }
          }
        } else if (f.oversized_body_bytes.has_value()) {
          if (!oversized.has_value() && status == 0) {
            oversized = f.oversized_body_bytes;
            if (f.count > 0) {
              --f.count;
            }
          }
        } else if (f.http_status != 0 && status == 0 && !oversized.has_value()) {
          status = f.http_status;
          retry_after = f.retry_after_seconds;
          fault_message = f.message;
          if (f.count > 0) {
            --f.count;
          }
        } else if (f.http_status == 0 && f.count > 0) {
          --f.count;
        }
      }
    }
    if (latency.count() > 0) {
      std::this_thread::sleep_for(latency);
    }
    if (status != 0) {
      ApiError e;
      switch (status) {
        case 409: {
          ResourceType t;
          t.group = route.group;
          t.plural = route.resource;
          e = conflictError(t, route.name);
          break;
        }
        case 429:
          e = simpleError(429, "TooManyRequests", "Too many requests, please try again later.");
          e.has_details = true;
          e.retry_after_seconds = retry_after;
          break;
        case 500:
          e = simpleError(500, "InternalError", "Internal error occurred: injected failure");
          break;
        case 503:
          e = simpleError(503, "ServiceUnavailable",
                          "the server is currently unable to handle "
                          "the request");
          break;
        case 504:
          e = simpleError(504, "Timeout", "the server was unable to respond in time");
          break;
        case 403:
          e = simpleError(403, "Forbidden",
                          route.resource + " is forbidden: injected refusal of " + record.verb);
          break;
        case 422:
          e = simpleError(422, "Invalid", route.resource + " is invalid: injected refusal");
          break;
        default: e = simpleError(status, "InternalError", "injected failure"); break;
      }
      if (!fault_message.empty()) {
        e.message = fault_message;
      }
      sendError(res, e);
      finish(res);
      return;
    }
  }
  if (oversized.has_value()) {
    // Uncompressed, so the client sees every byte of the size asked for.
    const_cast<httplib::Request&>(req).headers.erase("Accept-Encoding");
    res.status = 200;
    finish(res);
    serveOversized(res, *oversized, watch);
    return;
  }

  if (route.kind == Route::Kind::Discovery) {
    res.status = 200;
    res.set_content(route.discovery_body,
                    route.discovery_body == "ok" ? "text/plain" : "application/json");
    finish(res);
    return;
  }
  if (route.kind != Route::Kind::Resource) {
    ApiError e = simpleError(404, "NotFound", "the server could not find the requested resource");
    sendError(res, e);
    finish(res);
    return;
  }

  std::unique_lock lock(mu_);
  ResourceTypePtr type = findTypeLocked(route.group, route.version, route.resource);
  if (type == nullptr || (!type->namespaced && !route.ns.empty())) {
    lock.unlock();
    sendError(res,
              simpleError(404, "NotFound", "the server could not find the requested resource"));
    finish(res);
    return;
  }
  if (!route.subresource.empty() && std::find(type->subresources.begin(), type->subresources.end(),
                                              route.subresource) == type->subresources.end()) {
    lock.unlock();
    sendError(res,
              simpleError(404, "NotFound", "the server could not find the requested resource"));
    finish(res);
    return;
  }
  if (route.subresource == "log") {
    lock.unlock();
    finish(res);  // recorded before streaming
    serveLog(route.ns, route.name, req, res);
    return;
  }
  if (route.subresource == "eviction") {
    if (req.method != "POST") {
      sendError(res, simpleError(405, "MethodNotAllowed",
                                 "the server does not allow this method on the requested "
                                 "resource"));
    } else if (auto result = evictLocked(route.ns, route.name, req.body); !result) {
      sendError(res, result.error());
    } else {
      sendObject(res, 201, **result);
    }
    lock.unlock();
    finish(res);
    return;
  }

  WriteOptions options;
  options.dry_run = req.get_param_value("dryRun") == "All";
  options.field_manager = req.get_param_value("fieldManager");
  options.field_validation = req.get_param_value("fieldValidation");
  std::vector<std::string> warnings;
  options.warnings = &warnings;
  auto send = [&](const ApiResult<JsonPtr>& result, int ok_status) {
    if (!result) {
      sendError(res, result.error());
    } else {
      JsonPtr answer = withApiVersion(*result, *type);
      // What a client made the server store (or review): the fake's own writes never come
      // through here, and custom resources are checked against their CRD schema already.
      if (capture_ != nullptr && !options.dry_run && !type->custom &&
          (req.method == "POST" || req.method == "PUT" || req.method == "PATCH")) {
        capture_->record(record.verb, req.path, *answer);
      }
      sendObject(res, ok_status, *answer);
    }
    for (const auto& w : warnings) {
      std::string quoted;
      for (char c : w) {
        if (c == '"' || c == '\\') {
          quoted.push_back('\\');
        }
        quoted.push_back(c);
      }
      res.set_header("Warning", "299 - \"" + quoted + "\"");
    }
  };
  auto parseBody = [&]() -> ApiResult<Json> {
    if (mediaType(req.get_header_value("Content-Type")) == "application/vnd.kubernetes.protobuf") {
      auto decoded = protobufToJson(req.body);
      if (!decoded) {
        return apiFail(simpleError(415, "UnsupportedMediaType",
                                   "the body of the request was in an unknown format - accepted "
                                   "media types include: application/json, application/yaml (" +
                                       decoded.error().message + ")"));
      }
      return std::move(*decoded);
    }
    auto doc = parseJson(req.body);
    if (!doc) {
      return apiFail(badRequestError(doc.error().message));
    }
    return std::move(*doc);
  };

  const std::string& method = req.method;
  if ((method == "POST" || method == "PUT" || method == "PATCH") &&
      req.body.size() > kMaxRequestBodyBytes) {
    lock.unlock();
    sendError(res, requestTooLargeError());
    finish(res);
    return;
  }
  const std::string body_type = mediaType(req.get_header_value("Content-Type"));
  if ((method == "POST" || method == "PUT") && !req.body.empty() &&
      body_type != "application/json" && body_type != "application/yaml" && !body_type.empty() &&
      body_type != "application/vnd.kubernetes.protobuf") {
    lock.unlock();
    sendError(res, simpleError(415, "UnsupportedMediaType",
                               "the body of the request was in an unknown format - accepted media "
                               "types include: application/json, application/yaml"));
    finish(res);
    return;
  }
  if (type->review && (method != "POST" || !route.name.empty())) {
    lock.unlock();
    sendError(res, simpleError(405, "MethodNotAllowed",
                               "the server does not allow this method on the requested resource"));
    finish(res);
    return;
  }
  if (method == "GET" && watch) {
    lock.unlock();
    finish(res);
    serveWatch(*type, route.ns, req, res, drop_after, silent_watch);
    return;
  }
  // kubectl asks for server-side Tables (events.k8s.io Events are served as plain objects).
  const bool table = !type->isEventsV1() && wantsTable(req.get_header_value("Accept"));
  if (method == "GET" && !route.name.empty()) {
    JsonPtr obj = getLocked(*type, route.ns, route.name);
    if (obj != nullptr && table) {
      sendObject(res, 200,
                 *tableFor(*type, {withApiVersion(obj, *type)}, true,
                           stringAt(*obj, {"metadata", "resourceVersion"}), clock_->now(),
                           includeObject(req)));
    } else {
      send(obj == nullptr ? ApiResult<JsonPtr>(apiFail(notFoundError(*type, route.name)))
                          : ApiResult<JsonPtr>(obj),
           200);
    }
  } else if (method == "GET") {
    auto list = listLocked(*type, route.ns, req);
    if (!list) {
      sendError(res, list.error());
    } else if (table) {
      std::vector<JsonPtr> items;
      for (const auto& item : (**list)["items"].GetArray()) {
        items.push_back(cloneJson(item));
      }
      const JsonValue& list_meta = (**list)["metadata"];
      auto rendered = tableFor(*type, items, true, stringAt(list_meta, {"resourceVersion"}),
                               clock_->now(), includeObject(req));
      auto& table_meta = (*rendered)["metadata"];
      for (const char* field : {"continue", "remainingItemCount"}) {
        if (const JsonValue* v = member(list_meta, field); v != nullptr) {
          JsonValue copy;
          copy.CopyFrom(*v, rendered->GetAllocator());
          table_meta.AddMember(rapidjson::StringRef(field), copy, rendered->GetAllocator());
        }
      }
      sendObject(res, 200, *rendered);
    } else {
      sendObject(res, 200, **list);
    }
  } else if (method == "POST" && route.name.empty()) {
    auto body = parseBody();
    if (!body) {
      sendError(res, body.error());
    } else if (type->review) {
      send(reviewLocked(*type, *body), 201);
    } else {
      send(createLocked(*type, route.ns, std::move(*body), options), 201);
    }

  } else if (method == "PUT" && !route.name.empty()) {
    auto body = parseBody();
    if (!body) {
      sendError(res, body.error());
    } else {
      send(updateLocked(*type, route.ns, route.name, route.subresource, std::move(*body), options,
                        true),
           200);
    }
  } else if (method == "PATCH" && !route.name.empty()) {
    const bool existed = getLocked(*type, route.ns, route.name) != nullptr;
    auto result = patchLocked(*type, route.ns, route.name, route.subresource,
                              mediaType(req.get_header_value("Content-Type")), req.body, options,
                              truthy(req, "force"));
    send(result, existed ? 200 : 201);
  } else if (method == "DELETE" && !route.name.empty()) {
    DeleteOptions d;
    d.dry_run = options.dry_run;
    d.propagation = req.get_param_value("propagationPolicy");
    if (!req.body.empty()) {
      if (auto body = parseJson(req.body); body) {
        if (d.propagation.empty()) {
          d.propagation = stringAt(*body, {"propagationPolicy"});
        }
        if (const JsonValue* orphan = member(*body, "orphanDependents");
            d.propagation.empty() && orphan != nullptr && orphan->IsBool()) {
          d.propagation = orphan->GetBool() ? "Orphan" : "Background";
        }
        d.precondition_uid = stringAt(*body, {"preconditions", "uid"});
        d.precondition_rv = stringAt(*body, {"preconditions", "resourceVersion"});
        if (stringAt(*body, {"dryRun"}) == "All") {
          d.dry_run = true;
        }
      }
    }
    bool deleted_now = false;
    auto result = deleteLocked(*type, route.ns, route.name, d, &deleted_now);
    if (!result) {
      sendError(res, result.error());
    } else if (type->return_deleted_object || !deleted_now) {
      sendObject(res, 200, *withApiVersion(*result, *type));
    } else {
      Json status;
      status.SetObject();
      auto& a = status.GetAllocator();
      status.AddMember("kind", "Status", a);
      status.AddMember("apiVersion", "v1", a);
      status.AddMember("metadata", JsonValue(rapidjson::kObjectType), a);
      status.AddMember("status", "Success", a);
      JsonValue details(rapidjson::kObjectType);
      details.AddMember("name", str(route.name, a), a);
      if (!type->group.empty()) {
        details.AddMember("group", str(type->group, a), a);
      }
      details.AddMember("kind", str(type->plural, a), a);
      details.AddMember("uid", str(stringAt(**result, {"metadata", "uid"}), a), a);
      status.AddMember("details", details, a);
      sendObject(res, 200, status);
    }
  } else if (method == "DELETE") {
    auto list = deleteCollectionLocked(*type, route.ns, req);
    if (!list) {
      sendError(res, list.error());
    } else {
      sendObject(res, 200, **list);
    }
  } else {
    sendError(res, simpleError(405, "MethodNotAllowed",
                               "the server does not allow this method on the requested resource"));
  }
  lock.unlock();
  finish(res);
}

ApiResult<std::shared_ptr<Json>> FakeKube::Impl::listLocked(const ResourceType& type,
                                                            const std::string& ns,
                                                            const httplib::Request& req) {
  auto labels = Selector::parse(req.get_param_value("labelSelector"), false);
  auto fields = Selector::parse(req.get_param_value("fieldSelector"), true,
                                Selector::fieldLabels(type.group, type.plural));
  if (!labels || !fields) {
    return apiFail(badRequestError(!labels ? labels.error().message : fields.error().message));
  }
  size_t limit = 0;
  if (req.has_param("limit")) {
    limit = static_cast<size_t>(std::max(0L, std::atol(req.get_param_value("limit").c_str())));
  }
  // resourceVersionMatch, checked as the real ListOptions validation checks it. The fake serves
  // only the current state: Exact is answered for the current resourceVersion and refused as
  // expired for an older one (a real server reads older snapshots until etcd compacts them).
  if (const std::string match = req.get_param_value("resourceVersionMatch"); !match.empty()) {
    const std::string rv = req.get_param_value("resourceVersion");
    static const ResourceType list_options = [] {
      ResourceType t;
      t.group = "meta.k8s.io";
      t.kind = "ListOptions";
      return t;
    }();
    auto invalid = [&](const char* reason, const std::string& message) {
      return apiFail(invalidError(list_options, "", {{reason, message, "resourceVersionMatch"}}));
    };
    if (match != "Exact" && match != "NotOlderThan") {
      return invalid(
          "FieldValueNotSupported",
          "Unsupported value: \"" + match + "\": supported values: \"Exact\", \"NotOlderThan\"");
    }
    if (rv.empty()) {
      return invalid("FieldValueForbidden",
                     "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is "
                     "provided");
    }
    if (!req.get_param_value("continue").empty()) {
      return invalid("FieldValueForbidden",
                     "Forbidden: resourceVersionMatch is forbidden when continue is provided");
    }
    if (match == "Exact" && rv == "0") {
      return invalid("FieldValueForbidden",
                     "Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion "
                     "\"0\"");
    }
    const uint64_t wanted = std::strtoull(rv.c_str(), nullptr, 10);
    if (wanted > rv_) {
      ApiError e =
          simpleError(504, "Timeout",
                      "Too large resource version: " + rv + ", current: " + std::to_string(rv_));
      e.has_details = true;
      e.causes = {{"ResourceVersionTooLarge", "Too large resource version", ""}};
      e.retry_after_seconds = 1;
      return apiFail(e);
    }
    if (match == "Exact" && wanted != rv_) {
      return apiFail(expiredError("The resourceVersion for the provided list is too old."));
    }
  }
  // Continue tokens are opaque to clients: hex of "<list resourceVersion>|<last key>".
  std::string start_after;
  uint64_t list_rv = rv_;
  if (req.has_param("continue") && !req.get_param_value("continue").empty()) {
    const std::string token = unhex(req.get_param_value("continue"));
    const size_t bar = token.find('|');
    if (bar == std::string::npos) {
      return apiFail(badRequestError("continue key is not valid: invalid continue token"));
    }
    const uint64_t token_rv = std::strtoull(token.substr(0, bar).c_str(), nullptr, 10);
    if (token_rv < history_floor_) {
      return apiFail(
          expiredError("The provided continue parameter is too old to display a consistent list "
                       "result. You can start a new list without the continue parameter."));
    }
    start_after = token.substr(bar + 1);
    list_rv = token_rv;
  }
  auto list = std::make_shared<Json>();
  list->SetObject();
  auto& a = list->GetAllocator();
  list->AddMember("kind", str(type.kind + "List", a), a);
  list->AddMember("apiVersion", str(type.apiVersion(), a), a);
  JsonValue meta(rapidjson::kObjectType);
  meta.AddMember("resourceVersion", str(std::to_string(list_rv), a), a);
  JsonValue items(rapidjson::kArrayType);
  auto store = objects_.find(type.storageKey());
  std::string last_key;
  size_t remaining = 0;
  if (store != objects_.end()) {
    for (auto it = start_after.empty() ? store->second.begin()
                                       : store->second.upper_bound(start_after);
         it != store->second.end(); ++it) {
      const JsonValue& obj = *it->second;
      if ((!ns.empty() && stringAt(obj, {"metadata", "namespace"}) != ns) ||
          !labels->matches(obj) || !fields->matches(obj)) {
        continue;
      }
      if (limit > 0 && items.Size() >= limit) {
        ++remaining;
        continue;
      }
      JsonValue copy;
      copy.CopyFrom(*withApiVersion(it->second, type), a);
      if (!type.custom) {
        // Built-in list items carry no kind/apiVersion on the wire.
        removeMember(copy, "kind");
        removeMember(copy, "apiVersion");
      }
      items.PushBack(copy, a);
      last_key = it->first;
    }
  }
  if (remaining > 0) {
    meta.AddMember("continue", str(hex(std::to_string(list_rv) + "|" + last_key), a), a);
    meta.AddMember("remainingItemCount", static_cast<int64_t>(remaining), a);
  }
  list->AddMember("metadata", meta, a);
  list->AddMember("items", items, a);
  return list;
}

ApiResult<std::shared_ptr<Json>> FakeKube::Impl::deleteCollectionLocked(
    const ResourceType& type, const std::string& ns, const httplib::Request& req) {
  auto labels = Selector::parse(req.get_param_value("labelSelector"), false);
  auto fields = Selector::parse(req.get_param_value("fieldSelector"), true,
                                Selector::fieldLabels(type.group, type.plural));
  if (!labels || !fields) {
    return apiFail(badRequestError(!labels ? labels.error().message : fields.error().message));
  }
  std::vector<std::string> names;
  auto store = objects_.find(type.storageKey());
  if (store != objects_.end()) {
    for (const auto& [key, obj] : store->second) {
      if ((ns.empty() || stringAt(*obj, {"metadata", "namespace"}) == ns) &&
          labels->matches(*obj) && fields->matches(*obj)) {
        names.push_back(stringAt(*obj, {"metadata", "name"}));
      }
    }
  }
  auto list = std::make_shared<Json>();
  list->SetObject();
  auto& a = list->GetAllocator();
  list->AddMember("kind", str(type.kind + "List", a), a);
  list->AddMember("apiVersion", str(type.apiVersion(), a), a);
  JsonValue items(rapidjson::kArrayType);
  // Like one DELETE per object.
  for (const auto& name : names) {
    bool deleted = false;
    DeleteOptions options;
    options.propagation = req.get_param_value("propagationPolicy");
    if (auto result = deleteLocked(type, ns, name, options, &deleted); result) {
      JsonValue copy;
      copy.CopyFrom(*withApiVersion(*result, type), a);
      items.PushBack(copy, a);
    }
  }
  JsonValue meta(rapidjson::kObjectType);
  meta.AddMember("resourceVersion", str(std::to_string(rv_), a), a);
  list->AddMember("metadata", meta, a);
  list->AddMember("items", items, a);
  return list;
}

}  // namespace opsy::testing
