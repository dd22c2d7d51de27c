#include "opsy/kube/object.h"

#include <rapidjson/pointer.h>

#include <fmt/format.h>

#include "kube/meta_codec.h"

namespace opsy::kube {
namespace {

Result<rapidjson::Pointer> makePointer(std::string_view pointer) {
  rapidjson::Pointer p(pointer.data(), pointer.size());
  if (!p.IsValid()) {
    return fail(ErrorCode::InvalidArgument, fmt::format("invalid JSON pointer '{}'", pointer));
  }
  return p;
}

const json::Value* lookup(const json::Document& doc, std::string_view pointer) {
  rapidjson::Pointer p(pointer.data(), pointer.size());
  if (!p.IsValid()) {
    return nullptr;
  }
  return p.Get(doc);
}

}  // namespace

std::string objectKey(std::string_view ns, std::string_view name) {
  if (ns.empty()) {
    return std::string(name);
  }
  std::string key(ns);
  key.push_back('/');
  key.append(name);
  return key;
}

ObjectKey ObjectKey::parse(std::string_view key) {
  std::size_t slash = key.find('/');
  if (slash == std::string_view::npos) {
    return {"", std::string(key)};
  }
  return {std::string(key.substr(0, slash)), std::string(key.substr(slash + 1))};
}

OwnerReference ownerReferenceTo(const Object& owner, bool controller) {
  OwnerReference ref;
  ref.api_version = owner.api_version;
  ref.kind = owner.kind;
  ref.name = owner.metadata.name;
  ref.uid = owner.metadata.uid;
  ref.controller = controller;
  ref.block_owner_deletion = controller;
  return ref;
}

Object::Object(const Resource& resource, std::string ns, std::string name)
    : api_version(resource.apiVersion()), kind(resource.kind) {
  metadata.ns = resource.namespaced ? std::move(ns) : std::string();
  metadata.name = std::move(name);
}

Result<Object> Object::parse(std::string_view json) {
  OPSY_ASSIGN_OR_RETURN(json::Document doc, json::parseObject(json, "object"));
  Object obj;
  obj.api_version = json::stringOr(doc, "apiVersion");
  obj.kind = json::stringOr(doc, "kind");
  auto meta = decodeMeta(doc);
  if (!meta) {
    return fail(std::move(meta).error().context("object"));
  }
  obj.metadata = std::move(*meta);
  obj.raw_ = std::string(json);
  return obj;
}

std::string Object::toJson() const {
  json::Document doc;
  doc.Parse(raw_.data(), raw_.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    doc.SetObject();
  }
  auto& alloc = doc.GetAllocator();
  json::setOptString(doc, "apiVersion", api_version, alloc);
  json::setOptString(doc, "kind", kind, alloc);
  encodeMeta(metadata, doc, alloc);
  return json::writeJson(doc);
}

std::optional<std::string> Object::getString(std::string_view pointer) const {
  json::Document doc;
  doc.Parse(raw_.data(), raw_.size());
  const json::Value* v = lookup(doc, pointer);
  if (v == nullptr || !v->IsString()) {
    return std::nullopt;
  }
  return std::string(v->GetString(), v->GetStringLength());
}

std::optional<std::int64_t> Object::getInt(std::string_view pointer) const {
  json::Document doc;
  doc.Parse(raw_.data(), raw_.size());
  const json::Value* v = lookup(doc, pointer);
  if (v == nullptr || !v->IsInt64()) {
    return std::nullopt;
  }
  return v->GetInt64();
}

std::optional<bool> Object::getBool(std::string_view pointer) const {
  json::Document doc;
  doc.Parse(raw_.data(), raw_.size());
  const json::Value* v = lookup(doc, pointer);
  if (v == nullptr || !v->IsBool()) {
    return std::nullopt;
  }
  return v->GetBool();
}

std::optional<std::string> Object::getJson(std::string_view pointer) const {
  json::Document doc;
  doc.Parse(raw_.data(), raw_.size());
  const json::Value* v = lookup(doc, pointer);
  if (v == nullptr) {
    return std::nullopt;
  }
  return json::writeJson(*v);
}

namespace {

template <class Fn>
Status editRaw(std::string& raw, std::string_view pointer, Fn&& edit) {
  OPSY_ASSIGN_OR_RETURN(rapidjson::Pointer p, makePointer(pointer));
  json::Document doc;
  doc.Parse(raw.data(), raw.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    doc.SetObject();
  }
  OPSY_RETURN_IF_ERROR(edit(p, doc));
  raw = json::writeJson(doc);
  return ok();
}

}  // namespace

Status Object::setString(std::string_view pointer, std::string_view value) {
  return editRaw(raw_, pointer, [&](const rapidjson::Pointer& p, json::Document& doc) {
    p.Set(doc, json::jsonString(value, doc.GetAllocator()));
    return ok();
  });
}

Status Object::setInt(std::string_view pointer, std::int64_t value) {
  return editRaw(raw_, pointer, [&](const rapidjson::Pointer& p, json::Document& doc) {
    p.Set(doc, json::Value(static_cast<int64_t>(value)));
    return ok();
  });
}

Status Object::setBool(std::string_view pointer, bool value) {
  return editRaw(raw_, pointer, [&](const rapidjson::Pointer& p, json::Document& doc) {
    p.Set(doc, json::Value(value));
    return ok();
  });
}

Status Object::setJson(std::string_view pointer, std::string_view json) {
  return editRaw(raw_, pointer, [&](const rapidjson::Pointer& p, json::Document& doc) {
    json::Document value(&doc.GetAllocator());
    value.Parse(json.data(), json.size());
    if (value.HasParseError()) {
      return Status(fail(ErrorCode::InvalidArgument,
                         fmt::format("value for '{}' is not valid JSON", pointer)));
    }
    json::Value copy(value, doc.GetAllocator());
    p.Set(doc, copy);
    return ok();
  });
}

Status Object::remove(std::string_view pointer) {
  return editRaw(raw_, pointer, [&](const rapidjson::Pointer& p, json::Document& doc) {
    p.Erase(doc);
    return ok();
  });
}

}  // namespace opsy::kube
