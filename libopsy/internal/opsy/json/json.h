// File: json.h (internal)
//
// The one set of RapidJSON accessors and writers used by libopsy and both controllers. It lives
// outside libopsy/include (target opsy::internal), so no public header can expose a RapidJSON type.
// Two ways to read, and callers pick one on purpose:
//   - the free readers (stringOr, optInt, optTime, ...) are lenient: a missing, null or wrongly
//     typed member reads as absent. For API responses and our own status, where a field we cannot
//     read is a field we do not use.
//   - Fields is strict, for user input (a CRD spec): null counts as missing, a wrong type is an
//     InvalidArgument error naming the path ("spec.builder.image: must be a string, not a list").
// The DOM setters replace a member in place, so member order and unknown members survive.
//
//   OPSY_ASSIGN_OR_RETURN(json::Document doc, json::parseObject(body, "job"));
//   std::string name = json::stringOr(doc, "name");
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/core/result.h"

namespace opsy::json {

using Value = rapidjson::Value;
using Document = rapidjson::Document;
using Alloc = rapidjson::Document::AllocatorType;
// The SAX writer every encoder uses: `rapidjson::StringBuffer buf; json::Writer w(buf);`.
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// ---- Parsing -------------------------------------------------------------------------------

// Parses any JSON value; InvalidArgument naming `what`, the offset and the reason otherwise.
[[nodiscard]] Result<Document> parse(std::string_view text, std::string_view what);
// Parses text that must be a JSON object; `what` names it in the error (InvalidArgument).
[[nodiscard]] Result<Document> parseObject(std::string_view text, std::string_view what);

// ---- Lenient readers: missing, null and wrongly typed members read as absent -----------------

// The member `key` of `obj`; nullptr when `obj` is not an object or has no such member. A member
// that is JSON null is returned (it IsNull()).
const Value* member(const Value& obj, std::string_view key);
Value* member(Value& obj, std::string_view key);

std::string stringOr(const Value& obj, std::string_view key, std::string_view fallback = "");
std::optional<std::string> optString(const Value& obj, std::string_view key);
// An integer that fits in 32 bits; a larger one reads as absent (AWS's int fields).
std::optional<int> optInt(const Value& obj, std::string_view key);
std::optional<std::int64_t> optInt64(const Value& obj, std::string_view key);
// Any number, integer or not, as a double.
std::optional<double> optNumber(const Value& obj, std::string_view key);
std::optional<bool> optBool(const Value& obj, std::string_view key);
// An RFC 3339 string (Kubernetes, our status); empty or unparseable reads as absent.
std::optional<TimePoint> optTime(const Value& obj, std::string_view key);
// A number of seconds since the epoch (AWS REST-JSON timestamps).
std::optional<TimePoint> optEpochSeconds(const Value& obj, std::string_view key);
// The string entries of an array member; other entries are skipped.
std::vector<std::string> strings(const Value& obj, std::string_view key);
// The string values of an object member; other values are skipped, and of two equal keys the
// first wins (as member() finds it).
std::map<std::string, std::string> stringMap(const Value& obj, std::string_view key);

// ---- Strict reader: user input, every error names the field path -----------------------------

// InvalidArgument "<path>: <message>", the form of every Fields error; for callers' own checks.
tl::unexpected<Error> fieldError(std::string_view path, std::string_view message);
// A value's JSON type for error messages: "a string", "an integer", "null", ...
std::string_view typeName(const Value& value);

// A view of one JSON object of user input with the path its errors name. It refers to the value;
// the document must outlive it. A JSON null member counts as missing.
class Fields {
 public:
  Fields(const Value& obj, std::string path) : obj_(&obj), path_(std::move(path)) {}

  const Value& value() const { return *obj_; }
  const std::string& path() const { return path_; }
  std::string path(std::string_view key) const;
  // The member, or nullptr when missing or null.
  const Value* get(std::string_view key) const;

  [[nodiscard]] Result<std::optional<std::string>> optString(std::string_view key) const;
  // A string member; empty when missing.
  [[nodiscard]] Result<std::string> string(std::string_view key) const;
  // A string member that must be there and not be empty ("is required").
  [[nodiscard]] Result<std::string> requiredString(std::string_view key) const;
  [[nodiscard]] Result<std::optional<bool>> optBool(std::string_view key) const;
  [[nodiscard]] Result<bool> boolOr(std::string_view key, bool fallback) const;
  // An integer in [min, max].
  [[nodiscard]] Result<std::optional<int>> optInt(std::string_view key, int min, int max) const;
  // A Go-style duration string ("30m"); a present empty string is an error, as "" is no duration.
  [[nodiscard]] Result<std::optional<Duration>> optDuration(std::string_view key) const;
  // Like optDuration, but an empty string counts as unset and leaves `fallback`.
  [[nodiscard]] Result<Duration> durationOr(std::string_view key, Duration fallback) const;
  // A list of strings; empty when missing.
  [[nodiscard]] Result<std::vector<std::string>> strings(std::string_view key) const;
  // An object of strings; empty when missing; of two equal keys the first wins.
  [[nodiscard]] Result<std::map<std::string, std::string>> stringMap(std::string_view key) const;
  [[nodiscard]] Result<std::optional<Fields>> object(std::string_view key) const;
  // A list of objects, each with the path "<key>[i]"; empty when missing.
  [[nodiscard]] Result<std::vector<Fields>> objects(std::string_view key) const;

 private:
  tl::unexpected<Error> wrongType(std::string_view key, std::string_view expected,
                                  const Value& found) const;

  const Value* obj_;
  std::string path_;
};

// ---- DOM writers ---------------------------------------------------------------------------

// A string value holding a copy of `s`.
Value jsonString(std::string_view s, Alloc& alloc);
// An array of strings; an object of strings (empty ones included).
Value jsonStrings(const std::vector<std::string>& values, Alloc& alloc);
Value jsonStringMap(const std::map<std::string, std::string>& values, Alloc& alloc);
std::string writeJson(const Value& value);

// Returns the member, creating it as an empty object if missing (or if not an object).
Value& objectMember(Value& obj, std::string_view key, Alloc& alloc);
// Replaces the member in place, or appends it.
void setMember(Value& obj, std::string_view key, Value value, Alloc& alloc);
void setString(Value& obj, std::string_view key, std::string_view value, Alloc& alloc);
void setInt(Value& obj, std::string_view key, std::int64_t value, Alloc& alloc);
// The setOpt* family sets the member when `value` is set (a string: not empty, a map: not empty)
// and removes it otherwise.
void setOptString(Value& obj, std::string_view key, std::string_view value, Alloc& alloc);
void setOptInt(Value& obj, std::string_view key, std::optional<std::int64_t> value, Alloc& alloc);
void setOptBool(Value& obj, std::string_view key, std::optional<bool> value, Alloc& alloc);
// RFC 3339 seconds ("2026-01-02T03:04:05Z"), or Kubernetes MicroTime (six fraction digits).
void setOptTime(Value& obj, std::string_view key, std::optional<TimePoint> value, Alloc& alloc);
void setOptMicroTime(Value& obj, std::string_view key, std::optional<TimePoint> value,
                     Alloc& alloc);
void setStringMap(Value& obj, std::string_view key, const std::map<std::string, std::string>& value,
                  Alloc& alloc);
// Removes the member; the others keep their order.
void removeMember(Value& obj, std::string_view key);

// ---- SAX writers (json::Writer) ------------------------------------------------------------

void writeKey(Writer& w, std::string_view key);
void writeString(Writer& w, std::string_view value);
void writeString(Writer& w, std::string_view key, std::string_view value);
// An empty string is written as null, so a JSON merge patch clears the field.
void writeStringOrNull(Writer& w, std::string_view key, std::string_view value);
// RFC 3339 seconds; no time is written as null (merge patch: clear).
void writeTimeOrNull(Writer& w, std::string_view key, std::optional<TimePoint> value);

}  // namespace opsy::json
