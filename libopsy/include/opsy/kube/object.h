// File: object.h
//
// Kubernetes objects without a JSON library in sight. Every object keeps the full JSON text it was
// read from and a modeled copy of its metadata; encoding writes the modeled fields back into that
// text, so fields this code does not know about survive a get -> modify -> update round trip.
// Object is the generic form (custom resources), with JSON-pointer getters and setters.
//
//   OPSY_ASSIGN_OR_RETURN(Object obj, Object::parse(body));
//   auto region = obj.getString("/spec/region");
//   obj.metadata.labels["owner"] = "opsy";
//   std::string wire = obj.toJson();
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/core/result.h"
#include "opsy/kube/resource.h"

namespace opsy::kube {

struct OwnerReference {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string uid;
  bool controller = false;
  bool block_owner_deletion = false;

  bool operator==(const OwnerReference&) const = default;
};

// A pointer to another object (Event.regarding, and what owner references are built from).
struct ObjectReference {
  std::string api_version;
  std::string kind;
  std::string ns;
  std::string name;
  std::string uid;
  std::string resource_version;
  std::string field_path;

  bool operator==(const ObjectReference&) const = default;
};

struct ObjectMeta {
  std::string name;
  std::string generate_name;
  std::string ns;
  // Server-set; written back only when non-empty (a create must not carry a stale uid).
  std::string uid;
  // Opaque; compare for equality only. Carried by update for optimistic concurrency.
  std::string resource_version;
  std::int64_t generation = 0;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<OwnerReference> owner_references;
  std::vector<std::string> finalizers;
  // Read-only: never written back.
  std::optional<TimePoint> creation_timestamp;
  std::optional<TimePoint> deletion_timestamp;
};

// "namespace/name", or "name" for cluster-scoped objects: the key of caches and work queues.
std::string objectKey(std::string_view ns, std::string_view name);

// The parts of such a key: what a reconciler is asked to look at (controller-runtime's Request).
struct ObjectKey {
  std::string ns;  // empty for cluster-scoped objects
  std::string name;

  // "ns/name" -> {ns, name}; "name" -> {"", name}.
  static ObjectKey parse(std::string_view key);
  std::string str() const { return objectKey(ns, name); }

  bool operator==(const ObjectKey&) const = default;
};

class Object {
 public:
  Object() = default;
  // A new, empty object of the given type, for create.
  Object(const Resource& resource, std::string ns, std::string name);

  // Parses a JSON object; fails with InvalidArgument when the text is not a JSON object or its
  // metadata has the wrong shape.
  [[nodiscard]] static Result<Object> parse(std::string_view json);

  std::string api_version;
  std::string kind;
  ObjectMeta metadata;

  std::string key() const { return objectKey(metadata.ns, metadata.name); }

  // The JSON text as read or last set, without the modeled fields overlaid.
  const std::string& raw() const { return raw_; }
  // The raw JSON with apiVersion, kind and metadata written back.
  std::string toJson() const;

  // JSON-pointer reads ("/spec/region", "/status/conditions/0/type"); nullopt when the value is
  // missing or of another type.
  std::optional<std::string> getString(std::string_view pointer) const;
  std::optional<std::int64_t> getInt(std::string_view pointer) const;
  std::optional<bool> getBool(std::string_view pointer) const;
  // Any value as JSON text ("{...}", "[...]", "3", "\"x\"").
  std::optional<std::string> getJson(std::string_view pointer) const;

  // JSON-pointer writes into the raw text, creating intermediate objects. Writes under /metadata
  // are overridden by the modeled metadata; change `metadata` instead.
  [[nodiscard]] Status setString(std::string_view pointer, std::string_view value);
  [[nodiscard]] Status setInt(std::string_view pointer, std::int64_t value);
  [[nodiscard]] Status setBool(std::string_view pointer, bool value);
  [[nodiscard]] Status setJson(std::string_view pointer, std::string_view json);
  // Removes the value if present.
  [[nodiscard]] Status remove(std::string_view pointer);

 private:
  std::string raw_ = "{}";
};

// An owner reference pointing at `owner` (which must have been read from the server, for its
// uid). Controller references make the owner the object's managing controller.
OwnerReference ownerReferenceTo(const Object& owner, bool controller = true);

struct ObjectList {
  std::vector<Object> items;
  // The collection's resourceVersion: where a watch that follows the list starts.
  std::string resource_version;
};

}  // namespace opsy::kube
