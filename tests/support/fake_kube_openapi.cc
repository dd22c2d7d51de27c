// OpenAPI v3 documents of the fake Kubernetes API server: just enough for kubectl to see that
// every resource supports server-side field validation and for `kubectl explain`.
#include <set>

#include "support/fake_kube_api.h"

namespace opsy::testing {

namespace {

std::string schemaName(const ResourceType& t) {
  // io.k8s.api.batch.v1.Job style: reversed group, version, kind.
  std::string group = t.group.empty() ? "core" : t.group;
  std::string reversed;
  size_t end = group.size();
  while (true) {
    size_t dot = group.rfind('.', end - 1);
    std::string part = group.substr(dot == std::string::npos ? 0 : dot + 1,
                                    end - (dot == std::string::npos ? 0 : dot + 1));
    reversed += (reversed.empty() ? "" : ".") + part;
    if (dot == std::string::npos || dot == 0) {
      break;
    }
    end = dot;
  }
  return reversed + "." + t.version + "." + t.kind;
}

JsonValue gvk(const ResourceType& t, JsonAlloc& a) {
  JsonValue v(rapidjson::kObjectType);
  v.AddMember("group", str(t.group, a), a);
  v.AddMember("version", str(t.version, a), a);
  v.AddMember("kind", str(t.kind, a), a);
  return v;
}

JsonValue operation(const ResourceType& t, const char* action, JsonAlloc& a) {
  JsonValue op(rapidjson::kObjectType);
  op.AddMember("operationId", str(std::string(action) + t.kind, a), a);
  op.AddMember("x-kubernetes-action", str(action, a), a);
  op.AddMember("x-kubernetes-group-version-kind", gvk(t, a), a);
  JsonValue params(rapidjson::kArrayType);
  for (const char* name : {"dryRun", "fieldManager", "fieldValidation"}) {
    JsonValue p(rapidjson::kObjectType);
    p.AddMember("name", str(name, a), a);
    p.AddMember("in", "query", a);
    JsonValue schema(rapidjson::kObjectType);
    schema.AddMember("type", "string", a);
    p.AddMember("schema", schema, a);
    params.PushBack(p, a);
  }
  op.AddMember("parameters", params, a);
  JsonValue responses(rapidjson::kObjectType);
  JsonValue ok_response(rapidjson::kObjectType);
  ok_response.AddMember("description", "OK", a);
  responses.AddMember("200", ok_response, a);
  op.AddMember("responses", responses, a);
  return op;
}

}  // namespace

std::string openApiRootBody(const std::vector<ResourceTypePtr>& types) {
  std::set<std::string> gvs;
  for (const auto& t : types) {
    gvs.insert(t->group.empty() ? "api/" + t->version : "apis/" + t->apiVersion());
  }
  Json doc;
  doc.SetObject();
  auto& a = doc.GetAllocator();
  JsonValue paths(rapidjson::kObjectType);
  for (const auto& gv : gvs) {
    JsonValue entry(rapidjson::kObjectType);
    entry.AddMember("serverRelativeURL", str("/openapi/v3/" + gv, a), a);
    paths.AddMember(str(gv, a), entry, a);
  }
  doc.AddMember("paths", paths, a);
  return toJson(doc);
}

std::string openApiGroupVersionBody(const std::vector<ResourceTypePtr>& types) {
  Json doc;
  doc.SetObject();
  auto& a = doc.GetAllocator();
  doc.AddMember("openapi", "3.0.0", a);
  JsonValue info(rapidjson::kObjectType);
  info.AddMember("title", "Kubernetes", a);
  info.AddMember("version", "v1.32.0", a);
  doc.AddMember("info", info, a);
  JsonValue paths(rapidjson::kObjectType);
  JsonValue schemas(rapidjson::kObjectType);
  for (const auto& t : types) {
    const std::string base = (t->group.empty() ? "/api/" : "/apis/") + t->apiVersion() +
                             (t->namespaced ? "/namespaces/{namespace}/" : "/") + t->plural;
    JsonValue collection(rapidjson::kObjectType);
    collection.AddMember("get", operation(*t, "list", a), a);
    collection.AddMember("post", operation(*t, "post", a), a);
    paths.AddMember(str(base, a), collection, a);
    JsonValue item(rapidjson::kObjectType);
    item.AddMember("get", operation(*t, "get", a), a);
    item.AddMember("put", operation(*t, "put", a), a);
    item.AddMember("patch", operation(*t, "patch", a), a);
    item.AddMember("delete", operation(*t, "delete", a), a);
    paths.AddMember(str(base + "/{name}", a), item, a);

    JsonValue schema(rapidjson::kObjectType);
    if (t->schema != nullptr) {
      schema.CopyFrom(*t->schema, a);
    } else {
      schema.AddMember("type", "object", a);
      JsonValue properties(rapidjson::kObjectType);
      for (const char* field : {"apiVersion", "kind"}) {
        JsonValue p(rapidjson::kObjectType);
        p.AddMember("type", "string", a);
        properties.AddMember(str(field, a), p, a);
      }
      for (const char* field : {"metadata", "spec", "status"}) {
        JsonValue p(rapidjson::kObjectType);
        p.AddMember("type", "object", a);
        p.AddMember("x-kubernetes-preserve-unknown-fields", true, a);
        properties.AddMember(str(field, a), p, a);
      }
      schema.AddMember("properties", properties, a);
    }
    if (member(schema, "description") == nullptr) {
      schema.AddMember("description", str(t->kind + " (served by the fake API server)", a), a);
    }
    JsonValue gvks(rapidjson::kArrayType);
    gvks.PushBack(gvk(*t, a), a);
    setMember(schema, "x-kubernetes-group-version-kind", std::move(gvks), a);
    schemas.AddMember(str(schemaName(*t), a), schema, a);
  }
  doc.AddMember("paths", paths, a);
  JsonValue components(rapidjson::kObjectType);
  components.AddMember("schemas", schemas, a);
  doc.AddMember("components", components, a);
  return toJson(doc);
}

}  // namespace opsy::testing
