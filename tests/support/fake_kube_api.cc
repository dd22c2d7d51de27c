#include "support/fake_kube_api.h"

#include <algorithm>
#include <tuple>

namespace opsy::testing {

namespace {

const std::vector<std::string> kAllVerbs = {"create", "delete", "deletecollection", "get",
                                            "list",   "patch",  "update",           "watch"};

ResourceType make(std::string group, std::string version, std::string plural, std::string kind,
                  bool namespaced, std::vector<std::string> short_names = {},
                  std::vector<std::string> subresources = {}) {
  ResourceType t;
  t.group = std::move(group);
  t.version = std::move(version);
  t.plural = std::move(plural);
  t.kind = std::move(kind);
  t.singular = t.kind;
  std::transform(t.singular.begin(), t.singular.end(), t.singular.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  t.namespaced = namespaced;
  t.short_names = std::move(short_names);
  t.subresources = std::move(subresources);
  return t;
}

void addStrings(JsonValue& object, const char* key, const std::vector<std::string>& values,
                JsonAlloc& alloc) {
  JsonValue array(rapidjson::kArrayType);
  for (const auto& v : values) {
    array.PushBack(str(v, alloc), alloc);
  }
  object.AddMember(rapidjson::StringRef(key), array, alloc);
}

ApiError makeError(int code, std::string reason, std::string message, std::string name = "",
                   std::string group = "", std::string kind = "") {
  ApiError e;
  e.code = code;
  e.reason = std::move(reason);
  e.message = std::move(message);
  e.name = std::move(name);
  e.group = std::move(group);
  e.kind = std::move(kind);
  return e;
}

}  // namespace

bool ResourceType::hasStatus() const {
  return std::find(subresources.begin(), subresources.end(), "status") != subresources.end();
}

std::vector<ResourceType> builtinResourceTypes() {
  std::vector<ResourceType> types;
  types.push_back(make("", "v1", "namespaces", "Namespace", false, {"ns"}, {"status"}));
  types.push_back(make("", "v1", "nodes", "Node", false, {"no"}, {"status"}));
  auto pods = make("", "v1", "pods", "Pod", true, {"po"}, {"status", "log", "eviction"});
  pods.categories = {"all"};
  pods.return_deleted_object = true;
  types.push_back(pods);
  types.push_back(make("", "v1", "secrets", "Secret", true));
  types.push_back(make("", "v1", "configmaps", "ConfigMap", true, {"cm"}));
  types.push_back(make("", "v1", "events", "Event", true, {"ev"}));
  auto service_accounts = make("", "v1", "serviceaccounts", "ServiceAccount", true, {"sa"});
  service_accounts.return_deleted_object = true;
  types.push_back(service_accounts);
  auto jobs = make("batch", "v1", "jobs", "Job", true, {}, {"status"});
  jobs.categories = {"all"};
  jobs.has_generation = true;
  types.push_back(jobs);
  types.push_back(make("coordination.k8s.io", "v1", "leases", "Lease", true));
  auto pdbs = make("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, {"pdb"},
                   {"status"});
  pdbs.has_generation = true;
  types.push_back(pdbs);
  auto events = make("events.k8s.io", "v1", "events", "Event", true, {"ev"});
  events.storage_override = "/events";
  types.push_back(events);
  for (auto [group, plural, kind] :
       {std::tuple{"authentication.k8s.io", "tokenreviews", "TokenReview"},
        {"authorization.k8s.io", "subjectaccessreviews", "SubjectAccessReview"}}) {
    auto review = make(group, "v1", plural, kind, false);
    review.verbs = {"create"};
    review.review = true;
    types.push_back(review);
  }
  types.push_back(make("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false));
  types.push_back(
      make("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false));
  types.push_back(make("rbac.authorization.k8s.io", "v1", "roles", "Role", true));
  types.push_back(make("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true));
  auto crds = make("apiextensions.k8s.io", "v1", "customresourcedefinitions",
                   "CustomResourceDefinition", false, {"crd", "crds"}, {"status"});
  crds.has_generation = true;
  types.push_back(crds);
  return types;
}

namespace {

// events.k8s.io/v1 field -> core v1 field; fields with the same name in both are not listed.
const std::vector<std::pair<const char*, const char*>> kEventFieldMap = {
    {"regarding", "involvedObject"},
    {"note", "message"},
    {"deprecatedSource", "source"},
    {"deprecatedFirstTimestamp", "firstTimestamp"},
    {"deprecatedLastTimestamp", "lastTimestamp"},
    {"deprecatedCount", "count"},
    {"reportingController", "reportingComponent"},
};

void renameMembers(JsonValue& object, bool to_core, JsonAlloc& alloc) {
  for (const auto& [v1, core] : kEventFieldMap) {
    const char* from = to_core ? v1 : core;
    const char* to = to_core ? core : v1;
    JsonValue* value = member(object, from);
    if (value == nullptr) {
      continue;
    }
    JsonValue moved;
    moved.CopyFrom(*value, alloc);
    removeMember(object, from);
    setMember(object, to, std::move(moved), alloc);
  }
}

}  // namespace

void eventsV1ToCore(Json& event) {
  renameMembers(event, true, event.GetAllocator());
  setString(event, "apiVersion", "v1", event.GetAllocator());
}

std::shared_ptr<Json> coreToEventsV1(const JsonValue& event) {
  auto out = cloneJson(event);
  renameMembers(*out, false, out->GetAllocator());
  setString(*out, "apiVersion", "events.k8s.io/v1", out->GetAllocator());
  return out;
}

JsonPtr statusObject(const ApiError& error) {
  auto doc = std::make_shared<Json>();
  doc->SetObject();
  auto& a = doc->GetAllocator();
  doc->AddMember("kind", "Status", a);
  doc->AddMember("apiVersion", "v1", a);
  doc->AddMember("metadata", JsonValue(rapidjson::kObjectType), a);
  doc->AddMember("status", "Failure", a);
  doc->AddMember("message", str(error.message, a), a);
  if (!error.reason.empty()) {  // an error that is not a Status (etcd's) has no reason
    doc->AddMember("reason", str(error.reason, a), a);
  }
  if (error.has_details) {
    JsonValue details(rapidjson::kObjectType);
    if (!error.name.empty()) {
      details.AddMember("name", str(error.name, a), a);
    }
    if (!error.group.empty()) {
      details.AddMember("group", str(error.group, a), a);
    }
    if (!error.kind.empty()) {
      details.AddMember("kind", str(error.kind, a), a);
    }
    if (!error.causes.empty()) {
      JsonValue causes(rapidjson::kArrayType);
      for (const auto& c : error.causes) {
        JsonValue cause(rapidjson::kObjectType);
        cause.AddMember("reason", str(c.reason, a), a);
        cause.AddMember("message", str(c.message, a), a);
        cause.AddMember("field", str(c.field, a), a);
        causes.PushBack(cause, a);
      }
      details.AddMember("causes", causes, a);
    }
    if (error.retry_after_seconds > 0) {
      details.AddMember("retryAfterSeconds", error.retry_after_seconds, a);
    }
    if (details.MemberCount() > 0) {
      doc->AddMember("details", details, a);
    }
  }
  doc->AddMember("code", error.code, a);
  return doc;
}

std::string statusBody(const ApiError& error) {
  return toJson(*statusObject(error));
}

ApiError notFoundError(const ResourceType& type, const std::string& name) {
  return makeError(404, "NotFound", type.qualifiedResource() + " \"" + name + "\" not found", name,
                   type.group, type.plural);
}

ApiError alreadyExistsError(const ResourceType& type, const std::string& name) {
  return makeError(409, "AlreadyExists",
                   type.qualifiedResource() + " \"" + name + "\" already exists", name, type.group,
                   type.plural);
}

ApiError conflictError(const ResourceType& type, const std::string& name, const std::string& why) {
  return makeError(
      409, "Conflict",
      "Operation cannot be fulfilled on " + type.qualifiedResource() + " \"" + name + "\": " + why,
      name, type.group, type.plural);
}

ApiError invalidError(const ResourceType& type, const std::string& name,
                      std::vector<StatusCause> causes) {
  std::string message = type.qualifiedKind() + " \"" + name + "\" is invalid: ";
  if (causes.size() == 1) {
    message += causes[0].field + ": " + causes[0].message;
  } else {
    message += "[";
    for (size_t i = 0; i < causes.size(); ++i) {
      message += (i > 0 ? ", " : "") + causes[i].field + ": " + causes[i].message;
    }
    message += "]";
  }
  ApiError e = makeError(422, "Invalid", message, name, type.group, type.kind);
  e.causes = std::move(causes);
  return e;
}

ApiError badRequestError(const std::string& message) {
  ApiError e = makeError(400, "BadRequest", message);
  e.has_details = false;
  return e;
}

ApiError expiredError(const std::string& message) {
  ApiError e = makeError(410, "Expired", message);
  e.has_details = false;
  return e;
}

ApiError simpleError(int code, const std::string& reason, const std::string& message) {
  ApiError e = makeError(code, reason, message);
  e.has_details = false;
  return e;
}

std::string apiVersionsBody(const std::string& server_address) {
  return R"({"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":")" +
         server_address + R"("}]})";
}

std::string resourceListBody(const std::string& group_version,
                             const std::vector<ResourceTypePtr>& types) {
  Json doc;
  doc.SetObject();
  auto& a = doc.GetAllocator();
  doc.AddMember("kind", "APIResourceList", a);
  doc.AddMember("apiVersion", "v1", a);
  doc.AddMember("groupVersion", str(group_version, a), a);
  JsonValue resources(rapidjson::kArrayType);
  for (const auto& t : types) {
    JsonValue r(rapidjson::kObjectType);
    r.AddMember("name", str(t->plural, a), a);
    r.AddMember("singularName", str(t->singular, a), a);
    r.AddMember("namespaced", t->namespaced, a);
    r.AddMember("kind", str(t->kind, a), a);
    addStrings(r, "verbs", t->verbs.empty() ? kAllVerbs : t->verbs, a);
    if (!t->short_names.empty()) {
      addStrings(r, "shortNames", t->short_names, a);
    }
    if (!t->categories.empty()) {
      addStrings(r, "categories", t->categories, a);
    }
    r.AddMember("storageVersionHash", "fake", a);
    resources.PushBack(r, a);
    for (const auto& sub : t->subresources) {
      JsonValue s(rapidjson::kObjectType);
      s.AddMember("name", str(t->plural + "/" + sub, a), a);
      s.AddMember("singularName", "", a);
      s.AddMember("namespaced", t->namespaced, a);
      if (sub == "eviction") {
        // Discovery names the kind a subresource takes, from its own group.
        s.AddMember("group", "policy", a);
        s.AddMember("version", "v1", a);
        s.AddMember("kind", "Eviction", a);
        addStrings(s, "verbs", {"create"}, a);
        resources.PushBack(s, a);
        continue;
      }
      s.AddMember("kind", str(sub == "log" ? "Pod" : t->kind, a), a);
      addStrings(s, "verbs",
                 sub == "log" ? std::vector<std::string>{"get"}
                              : std::vector<std::string>{"get", "patch", "update"},
                 a);
      resources.PushBack(s, a);
    }
  }
  doc.AddMember("resources", resources, a);
  return toJson(doc);
}

std::string groupBody(const std::string& group, const std::vector<std::string>& versions) {
  Json doc;
  doc.SetObject();
  auto& a = doc.GetAllocator();
  doc.AddMember("kind", "APIGroup", a);
  doc.AddMember("apiVersion", "v1", a);
  doc.AddMember("name", str(group, a), a);
  JsonValue list(rapidjson::kArrayType);
  for (const auto& v : versions) {
    JsonValue gv(rapidjson::kObjectType);
    gv.AddMember("groupVersion", str(group + "/" + v, a), a);
    gv.AddMember("version", str(v, a), a);
    list.PushBack(gv, a);
  }
  JsonValue preferred;
  preferred.CopyFrom(list[0], a);
  doc.AddMember("versions", list, a);
  doc.AddMember("preferredVersion", preferred, a);
  return toJson(doc);
}

std::string groupListBody(const std::map<std::string, std::vector<std::string>>& groups) {
  std::string out = R"({"kind":"APIGroupList","apiVersion":"v1","groups":[)";
  bool first = true;
  for (const auto& [group, versions] : groups) {
    std::string body = groupBody(group, versions);
    // An APIGroupList entry is an APIGroup without kind/apiVersion.
    Json doc;
    doc.Parse(body.c_str());
    doc.RemoveMember("kind");
    doc.RemoveMember("apiVersion");
    out += (first ? "" : ",") + toJson(doc);
    first = false;
  }
  out += "]}";
  return out;
}

std::string versionBody() {
  return R"({"major":"1","minor":"32","gitVersion":"v1.32.0-fake","gitCommit":"0000000000000000000000000000000000000000","gitTreeState":"clean","buildDate":"2026-01-01T00:00:00Z","goVersion":"go1.23.0","compiler":"gc","platform":"linux/amd64"})";
}

}  // namespace opsy::testing
