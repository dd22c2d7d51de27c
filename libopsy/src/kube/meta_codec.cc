#include "kube/meta_codec.h"

#include <fmt/format.h>

namespace opsy::kube {

Result<ObjectMeta> decodeMeta(const json::Value& object) {
  ObjectMeta meta;
  const json::Value* m = json::member(object, "metadata");
  if (m == nullptr || m->IsNull()) {
    return meta;
  }
  if (!m->IsObject()) {
    return fail(ErrorCode::InvalidArgument, "metadata: expected an object");
  }
  for (const char* key : {"labels", "annotations"}) {
    const json::Value* v = json::member(*m, key);
    if (v != nullptr && !v->IsNull() && !v->IsObject()) {
      return fail(ErrorCode::InvalidArgument,
                  fmt::format("metadata.{}: expected an object of strings", key));
    }
  }
  meta.name = json::stringOr(*m, "name");
  meta.generate_name = json::stringOr(*m, "generateName");
  meta.ns = json::stringOr(*m, "namespace");
  meta.uid = json::stringOr(*m, "uid");
  meta.resource_version = json::stringOr(*m, "resourceVersion");
  meta.generation = json::optInt64(*m, "generation").value_or(0);
  meta.labels = json::stringMap(*m, "labels");
  meta.annotations = json::stringMap(*m, "annotations");
  meta.creation_timestamp = json::optTime(*m, "creationTimestamp");
  meta.deletion_timestamp = json::optTime(*m, "deletionTimestamp");
  if (const json::Value* refs = json::member(*m, "ownerReferences");
      refs != nullptr && refs->IsArray()) {
    for (const auto& r : refs->GetArray()) {
      OwnerReference ref;
      ref.api_version = json::stringOr(r, "apiVersion");
      ref.kind = json::stringOr(r, "kind");
      ref.name = json::stringOr(r, "name");
      ref.uid = json::stringOr(r, "uid");
      ref.controller = json::optBool(r, "controller").value_or(false);
      ref.block_owner_deletion = json::optBool(r, "blockOwnerDeletion").value_or(false);
      meta.owner_references.push_back(std::move(ref));
    }
  }
  meta.finalizers = json::strings(*m, "finalizers");
  return meta;
}

void encodeMeta(const ObjectMeta& meta, json::Value& object, json::Alloc& alloc) {
  json::Value& m = json::objectMember(object, "metadata", alloc);
  json::setOptString(m, "name", meta.name, alloc);
  json::setOptString(m, "generateName", meta.generate_name, alloc);
  json::setOptString(m, "namespace", meta.ns, alloc);
  json::setOptString(m, "uid", meta.uid, alloc);
  json::setOptString(m, "resourceVersion", meta.resource_version, alloc);
  json::setStringMap(m, "labels", meta.labels, alloc);
  json::setStringMap(m, "annotations", meta.annotations, alloc);
  if (meta.owner_references.empty()) {
    json::removeMember(m, "ownerReferences");
  } else {
    json::Value refs(rapidjson::kArrayType);
    for (const auto& r : meta.owner_references) {
      json::Value ref(rapidjson::kObjectType);
      json::setString(ref, "apiVersion", r.api_version, alloc);
      json::setString(ref, "kind", r.kind, alloc);
      json::setString(ref, "name", r.name, alloc);
      json::setString(ref, "uid", r.uid, alloc);
      if (r.controller) {
        json::setMember(ref, "controller", json::Value(true), alloc);
      }
      if (r.block_owner_deletion) {
        json::setMember(ref, "blockOwnerDeletion", json::Value(true), alloc);
      }
      refs.PushBack(std::move(ref), alloc);
    }
    json::setMember(m, "ownerReferences", std::move(refs), alloc);
  }
  if (meta.finalizers.empty()) {
    json::removeMember(m, "finalizers");
  } else {
    json::setMember(m, "finalizers", json::jsonStrings(meta.finalizers, alloc), alloc);
  }
}

ObjectReference decodeObjectReference(const json::Value& ref) {
  ObjectReference out;
  out.api_version = json::stringOr(ref, "apiVersion");
  out.kind = json::stringOr(ref, "kind");
  out.ns = json::stringOr(ref, "namespace");
  out.name = json::stringOr(ref, "name");
  out.uid = json::stringOr(ref, "uid");
  out.resource_version = json::stringOr(ref, "resourceVersion");
  out.field_path = json::stringOr(ref, "fieldPath");
  return out;
}

json::Value encodeObjectReference(const ObjectReference& ref, json::Alloc& alloc) {
  json::Value out(rapidjson::kObjectType);
  json::setOptString(out, "apiVersion", ref.api_version, alloc);
  json::setOptString(out, "kind", ref.kind, alloc);
  json::setOptString(out, "namespace", ref.ns, alloc);
  json::setOptString(out, "name", ref.name, alloc);
  json::setOptString(out, "uid", ref.uid, alloc);
  json::setOptString(out, "resourceVersion", ref.resource_version, alloc);
  json::setOptString(out, "fieldPath", ref.field_path, alloc);
  return out;
}

}  // namespace opsy::kube
