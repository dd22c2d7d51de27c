// File: fake_kube_json.h
//
// JSON plumbing for the fake Kubernetes API server (internal): rapidjson helpers, RFC 7386 merge
// patch, RFC 6902 JSON patch, an approximation of strategic merge patch, and YAML-to-JSON for
// server-side apply bodies.
//
//   Json doc = parseJson(text).value();  mergePatch(doc, patch, doc.GetAllocator());
#pragma once

#include <rapidjson/document.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "opsy/core/result.h"

namespace opsy::testing {

using Json = rapidjson::Document;
using JsonValue = rapidjson::Value;
using JsonAlloc = rapidjson::Document::AllocatorType;
using JsonPtr = std::shared_ptr<const Json>;

[[nodiscard]] Result<Json> parseJson(std::string_view text);
// Parses JSON, or YAML when the text is not JSON (apply-patch+yaml bodies).
[[nodiscard]] Result<Json> parseJsonOrYaml(std::string_view text);
std::string toJson(const JsonValue& value);
std::shared_ptr<Json> cloneJson(const JsonValue& value);
JsonValue str(std::string_view text, JsonAlloc& alloc);

const JsonValue* member(const JsonValue& object, std::string_view key);
JsonValue* member(JsonValue& object, std::string_view key);
// The string at a dotted path of object members ("metadata", "name"), or "" when absent.
std::string stringAt(const JsonValue& value, std::initializer_list<std::string_view> path);
// The object member `key`, created (or replaced when not an object) if needed.
JsonValue& objectMember(JsonValue& object, std::string_view key, JsonAlloc& alloc);
void setMember(JsonValue& object, std::string_view key, JsonValue value, JsonAlloc& alloc);
void setString(JsonValue& object, std::string_view key, std::string_view value, JsonAlloc& alloc);
void removeMember(JsonValue& object, std::string_view key);

// RFC 7386: null deletes, objects merge recursively, everything else replaces.
void mergePatch(JsonValue& target, const JsonValue& patch, JsonAlloc& alloc);
// RFC 6902 (add, remove, replace, move, copy, test).
[[nodiscard]] Status jsonPatch(Json& doc, const JsonValue& operations);
// Merge patch plus list merging by the merge keys of the built-in types (containers, env,
// volumes, ports, conditions, ...), `$patch: delete|replace`, and `$setElementOrder`/
// `$retainKeys`/`$deleteFromPrimitiveList` directives dropped. An approximation.
void strategicMergePatch(JsonValue& target, const JsonValue& patch, JsonAlloc& alloc);
// Server-side apply approximation: objects merge, lists and scalars from `applied` replace.
void applyMerge(JsonValue& target, const JsonValue& applied, JsonAlloc& alloc);

}  // namespace opsy::testing
