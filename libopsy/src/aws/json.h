// File: json.h (private)
//
// Small rapidjson accessors for the REST-JSON clients: missing or mistyped members read as empty.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/core/result.h"

namespace opsy::aws {

using JsonValue = rapidjson::Value;

inline const JsonValue* member(const JsonValue& v, const char* name) {
  if (!v.IsObject()) {
    return nullptr;
  }
  auto it = v.FindMember(name);
  return it == v.MemberEnd() ? nullptr : &it->value;
}

inline std::string jsonString(const JsonValue& v, const char* name) {
  const JsonValue* m = member(v, name);
  return m != nullptr && m->IsString() ? std::string(m->GetString(), m->GetStringLength()) : "";
}

inline std::optional<int> jsonInt(const JsonValue& v, const char* name) {
  const JsonValue* m = member(v, name);
  return m != nullptr && m->IsInt() ? std::optional<int>(m->GetInt()) : std::nullopt;
}

inline bool jsonBool(const JsonValue& v, const char* name) {
  const JsonValue* m = member(v, name);
  return m != nullptr && m->IsBool() && m->GetBool();
}

// Epoch seconds (EKS) as a time.
std::optional<TimePoint> jsonEpoch(const JsonValue& v, const char* name);

inline std::vector<std::string> jsonStrings(const JsonValue& v, const char* name) {
  std::vector<std::string> out;
  const JsonValue* m = member(v, name);
  if (m != nullptr && m->IsArray()) {
    for (const auto& e : m->GetArray()) {
      if (e.IsString()) {
        out.emplace_back(e.GetString(), e.GetStringLength());
      }
    }
  }
  return out;
}

inline std::map<std::string, std::string> jsonStringMap(const JsonValue& v, const char* name) {
  std::map<std::string, std::string> out;
  const JsonValue* m = member(v, name);
  if (m != nullptr && m->IsObject()) {
    for (const auto& e : m->GetObject()) {
      if (e.value.IsString()) {
        out[e.name.GetString()] = e.value.GetString();
      }
    }
  }
  return out;
}

inline Status parseJson(rapidjson::Document& doc, const std::string& body,
                        std::string_view operation) {
  doc.Parse(body.c_str(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return fail(ErrorCode::Internal, std::string(operation) + ": malformed JSON response");
  }
  return ok();
}

}  // namespace opsy::aws
