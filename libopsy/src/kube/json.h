// File: json.h
//
// RapidJSON helpers shared by the Kubernetes codecs (internal: never include from a public
// header). Readers are lenient about missing fields and strict about wrong types; writers replace
// a member in place so the order and the unknown members of a document survive.
//
//   OPSY_ASSIGN_OR_RETURN(rapidjson::Document doc, parseJson(body, "job"));
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/core/result.h"
#include "opsy/kube/object.h"

namespace opsy::kube {

using JsonAlloc = rapidjson::Document::AllocatorType;

// Parses text that must be a JSON object; `what` names it in the error.
[[nodiscard]] Result<rapidjson::Document> parseJsonObject(std::string_view text,
                                                          std::string_view what);
std::string writeJson(const rapidjson::Value& value);

const rapidjson::Value* member(const rapidjson::Value& obj, std::string_view key);
rapidjson::Value* member(rapidjson::Value& obj, std::string_view key);
// Returns the member, creating it as an empty object if missing (or if not an object).
rapidjson::Value& objectMember(rapidjson::Value& obj, std::string_view key, JsonAlloc& alloc);

std::string stringOr(const rapidjson::Value& obj, std::string_view key,
                     const std::string& fallback = "");
std::optional<std::string> optString(const rapidjson::Value& obj, std::string_view key);
std::optional<std::int64_t> optInt(const rapidjson::Value& obj, std::string_view key);
std::optional<bool> optBool(const rapidjson::Value& obj, std::string_view key);
// A timestamp member; nullopt when missing, null or unparseable.
std::optional<TimePoint> optTime(const rapidjson::Value& obj, std::string_view key);
std::map<std::string, std::string> stringMap(const rapidjson::Value& obj, std::string_view key);

rapidjson::Value jsonString(std::string_view s, JsonAlloc& alloc);
void setMember(rapidjson::Value& obj, std::string_view key, rapidjson::Value value,
               JsonAlloc& alloc);
void setString(rapidjson::Value& obj, std::string_view key, std::string_view value,
               JsonAlloc& alloc);
// Sets the member when `value` is set, removes it otherwise.
void setOptString(rapidjson::Value& obj, std::string_view key, const std::string& value,
                  JsonAlloc& alloc);
void setOptInt(rapidjson::Value& obj, std::string_view key, std::optional<std::int64_t> value,
               JsonAlloc& alloc);
void setOptBool(rapidjson::Value& obj, std::string_view key, std::optional<bool> value,
                JsonAlloc& alloc);
void setOptTime(rapidjson::Value& obj, std::string_view key, std::optional<TimePoint> value,
                bool micro, JsonAlloc& alloc);
void setStringMap(rapidjson::Value& obj, std::string_view key,
                  const std::map<std::string, std::string>& value, JsonAlloc& alloc);
void removeMember(rapidjson::Value& obj, std::string_view key);

// ObjectMeta and ObjectReference codecs. decodeMeta fails on a wrongly typed field and names it.
[[nodiscard]] Result<ObjectMeta> decodeMeta(const rapidjson::Value& object);
void encodeMeta(const ObjectMeta& meta, rapidjson::Value& object, JsonAlloc& alloc);
ObjectReference decodeObjectReference(const rapidjson::Value& ref);
rapidjson::Value encodeObjectReference(const ObjectReference& ref, JsonAlloc& alloc);

}  // namespace opsy::kube
