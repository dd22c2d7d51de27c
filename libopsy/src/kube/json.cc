#include "kube/json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <fmt/format.h>

#include "opsy/core/time_format.h"

namespace opsy::kube {
namespace {

rapidjson::Value keyRef(std::string_view key) {
  return rapidjson::Value(rapidjson::StringRef(key.data(), key.size()));
}

}  // namespace

Result<rapidjson::Document> parseJsonObject(std::string_view text, std::string_view what) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError()) {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("{}: invalid JSON at offset {}: {}", what, doc.GetErrorOffset(),
                            rapidjson::GetParseError_En(doc.GetParseError())));
  }
  if (!doc.IsObject()) {
    return fail(ErrorCode::InvalidArgument, fmt::format("{}: expected a JSON object", what));
  }
  return doc;
}

std::string writeJson(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

const rapidjson::Value* member(const rapidjson::Value& obj, std::string_view key) {
  if (!obj.IsObject()) {
    return nullptr;
  }
  auto it = obj.FindMember(keyRef(key));
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

rapidjson::Value* member(rapidjson::Value& obj, std::string_view key) {
  return const_cast<rapidjson::Value*>(member(static_cast<const rapidjson::Value&>(obj), key));
}

rapidjson::Value& objectMember(rapidjson::Value& obj, std::string_view key, JsonAlloc& alloc) {
  rapidjson::Value* found = member(obj, key);
  if (found != nullptr) {
    if (!found->IsObject()) {
      found->SetObject();
    }
    return *found;
  }
  obj.AddMember(jsonString(key, alloc), rapidjson::Value(rapidjson::kObjectType), alloc);
  return *member(obj, key);
}

std::string stringOr(const rapidjson::Value& obj, std::string_view key,
                     const std::string& fallback) {
  auto v = optString(obj, key);
  return v.has_value() ? *v : fallback;
}

std::optional<std::string> optString(const rapidjson::Value& obj, std::string_view key) {
  const rapidjson::Value* v = member(obj, key);
  if (v == nullptr || !v->IsString()) {
    return std::nullopt;
  }
  return std::string(v->GetString(), v->GetStringLength());
}

std::optional<std::int64_t> optInt(const rapidjson::Value& obj, std::string_view key) {
  const rapidjson::Value* v = member(obj, key);
  if (v == nullptr || !v->IsInt64()) {
    return std::nullopt;
  }
  return v->GetInt64();
}

std::optional<bool> optBool(const rapidjson::Value& obj, std::string_view key) {
  const rapidjson::Value* v = member(obj, key);
  if (v == nullptr || !v->IsBool()) {
    return std::nullopt;
  }
  return v->GetBool();
}

std::optional<TimePoint> optTime(const rapidjson::Value& obj, std::string_view key) {
  auto text = optString(obj, key);
  if (!text.has_value() || text->empty()) {
    return std::nullopt;
  }
  auto t = parseRfc3339(*text);
  if (!t) {
    return std::nullopt;
  }
  return *t;
}

std::map<std::string, std::string> stringMap(const rapidjson::Value& obj, std::string_view key) {
  std::map<std::string, std::string> out;
  const rapidjson::Value* v = member(obj, key);
  if (v == nullptr || !v->IsObject()) {
    return out;
  }
  for (const auto& m : v->GetObject()) {
    if (m.value.IsString()) {
      out.emplace(std::string(m.name.GetString(), m.name.GetStringLength()),
                  std::string(m.value.GetString(), m.value.GetStringLength()));
    }
  }
  return out;
}

rapidjson::Value jsonString(std::string_view s, JsonAlloc& alloc) {
  return rapidjson::Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), alloc);
}

void setMember(rapidjson::Value& obj, std::string_view key, rapidjson::Value value,
               JsonAlloc& alloc) {
  rapidjson::Value* found = member(obj, key);
  if (found != nullptr) {
    *found = std::move(value);
    return;
  }
  obj.AddMember(jsonString(key, alloc), std::move(value), alloc);
}

void setString(rapidjson::Value& obj, std::string_view key, std::string_view value,
               JsonAlloc& alloc) {
  setMember(obj, key, jsonString(value, alloc), alloc);
}

void setOptString(rapidjson::Value& obj, std::string_view key, const std::string& value,
                  JsonAlloc& alloc) {
  if (value.empty()) {
    removeMember(obj, key);
  } else {
    setString(obj, key, value, alloc);
  }
}

void setOptInt(rapidjson::Value& obj, std::string_view key, std::optional<std::int64_t> value,
               JsonAlloc& alloc) {
  if (value.has_value()) {
    setMember(obj, key, rapidjson::Value(static_cast<int64_t>(*value)), alloc);
  } else {
    removeMember(obj, key);
  }
}

void setOptBool(rapidjson::Value& obj, std::string_view key, std::optional<bool> value,
                JsonAlloc& alloc) {
  if (value.has_value()) {
    setMember(obj, key, rapidjson::Value(*value), alloc);
  } else {
    removeMember(obj, key);
  }
}

void setOptTime(rapidjson::Value& obj, std::string_view key, std::optional<TimePoint> value,
                bool micro, JsonAlloc& alloc) {
  if (value.has_value()) {
    setString(obj, key, micro ? formatMicroTime(*value) : formatRfc3339(*value), alloc);
  } else {
    removeMember(obj, key);
  }
}

void setStringMap(rapidjson::Value& obj, std::string_view key,
                  const std::map<std::string, std::string>& value, JsonAlloc& alloc) {
  if (value.empty()) {
    removeMember(obj, key);
    return;
  }
  rapidjson::Value map(rapidjson::kObjectType);
  for (const auto& [k, v] : value) {
    map.AddMember(jsonString(k, alloc), jsonString(v, alloc), alloc);
  }
  setMember(obj, key, std::move(map), alloc);
}

void removeMember(rapidjson::Value& obj, std::string_view key) {
  if (obj.IsObject()) {
    obj.RemoveMember(keyRef(key));
  }
}

Result<ObjectMeta> decodeMeta(const rapidjson::Value& object) {
  ObjectMeta meta;
  const rapidjson::Value* m = member(object, "metadata");
  if (m == nullptr || m->IsNull()) {
    return meta;
  }
  if (!m->IsObject()) {
    return fail(ErrorCode::InvalidArgument, "metadata: expected an object");
  }
  for (const char* key : {"labels", "annotations"}) {
    const rapidjson::Value* v = member(*m, key);
    if (v != nullptr && !v->IsNull() && !v->IsObject()) {
      return fail(ErrorCode::InvalidArgument,
                  fmt::format("metadata.{}: expected an object of strings", key));
    }
  }
  meta.name = stringOr(*m, "name");
  meta.generate_name = stringOr(*m, "generateName");
  meta.ns = stringOr(*m, "namespace");
  meta.uid = stringOr(*m, "uid");
  meta.resource_version = stringOr(*m, "resourceVersion");
  meta.generation = optInt(*m, "generation").value_or(0);
  meta.labels = stringMap(*m, "labels");
  meta.annotations = stringMap(*m, "annotations");
  meta.creation_timestamp = optTime(*m, "creationTimestamp");
  meta.deletion_timestamp = optTime(*m, "deletionTimestamp");
  if (const rapidjson::Value* refs = member(*m, "ownerReferences");
      refs != nullptr && refs->IsArray()) {
    for (const auto& r : refs->GetArray()) {
      OwnerReference ref;
      ref.api_version = stringOr(r, "apiVersion");
      ref.kind = stringOr(r, "kind");
      ref.name = stringOr(r, "name");
      ref.uid = stringOr(r, "uid");
      ref.controller = optBool(r, "controller").value_or(false);
      ref.block_owner_deletion = optBool(r, "blockOwnerDeletion").value_or(false);
      meta.owner_references.push_back(std::move(ref));
    }
  }
  if (const rapidjson::Value* fin = member(*m, "finalizers"); fin != nullptr && fin->IsArray()) {
    for (const auto& f : fin->GetArray()) {
      if (f.IsString()) {
        meta.finalizers.emplace_back(f.GetString(), f.GetStringLength());
      }
    }
  }
  return meta;
}

void encodeMeta(const ObjectMeta& meta, rapidjson::Value& object, JsonAlloc& alloc) {
  rapidjson::Value& m = objectMember(object, "metadata", alloc);
  setOptString(m, "name", meta.name, alloc);
  setOptString(m, "generateName", meta.generate_name, alloc);
  setOptString(m, "namespace", meta.ns, alloc);
  setOptString(m, "uid", meta.uid, alloc);
  setOptString(m, "resourceVersion", meta.resource_version, alloc);
  setStringMap(m, "labels", meta.labels, alloc);
  setStringMap(m, "annotations", meta.annotations, alloc);
  if (meta.owner_references.empty()) {
    removeMember(m, "ownerReferences");
  } else {
    rapidjson::Value refs(rapidjson::kArrayType);
    for (const auto& r : meta.owner_references) {
      rapidjson::Value ref(rapidjson::kObjectType);
      setString(ref, "apiVersion", r.api_version, alloc);
      setString(ref, "kind", r.kind, alloc);
      setString(ref, "name", r.name, alloc);
      setString(ref, "uid", r.uid, alloc);
      if (r.controller) {
        setMember(ref, "controller", rapidjson::Value(true), alloc);
      }
      if (r.block_owner_deletion) {
        setMember(ref, "blockOwnerDeletion", rapidjson::Value(true), alloc);
      }
      refs.PushBack(std::move(ref), alloc);
    }
    setMember(m, "ownerReferences", std::move(refs), alloc);
  }
  if (meta.finalizers.empty()) {
    removeMember(m, "finalizers");
  } else {
    rapidjson::Value fin(rapidjson::kArrayType);
    for (const auto& f : meta.finalizers) {
      fin.PushBack(jsonString(f, alloc), alloc);
    }
    setMember(m, "finalizers", std::move(fin), alloc);
  }
}

ObjectReference decodeObjectReference(const rapidjson::Value& ref) {
  ObjectReference out;
  out.api_version = stringOr(ref, "apiVersion");
  out.kind = stringOr(ref, "kind");
  out.ns = stringOr(ref, "namespace");
  out.name = stringOr(ref, "name");
  out.uid = stringOr(ref, "uid");
  out.resource_version = stringOr(ref, "resourceVersion");
  out.field_path = stringOr(ref, "fieldPath");
  return out;
}

rapidjson::Value encodeObjectReference(const ObjectReference& ref, JsonAlloc& alloc) {
  rapidjson::Value out(rapidjson::kObjectType);
  setOptString(out, "apiVersion", ref.api_version, alloc);
  setOptString(out, "kind", ref.kind, alloc);
  setOptString(out, "namespace", ref.ns, alloc);
  setOptString(out, "name", ref.name, alloc);
  setOptString(out, "uid", ref.uid, alloc);
  setOptString(out, "resourceVersion", ref.resource_version, alloc);
  setOptString(out, "fieldPath", ref.field_path, alloc);
  return out;
}

}  // namespace opsy::kube
